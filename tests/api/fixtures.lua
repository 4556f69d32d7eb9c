-- fixtures: what the API tests need that no school endpoint offers yet:
-- plans with any window, a province's review decisions (return, approve),
-- and reading rows (audit log, reviews) straight from the database.
-- Loaded in `bin/host repl --db P` (see tests/api/ctx.mjs):
--   local F = dofile("tests/api/fixtures.lua"); F.call("plan", "<json>")
-- prints "@@" followed by the JSON of the result.
local db = require "db"
local json = require "json"
local clock = require "clock"

local F = {}

-- plan {province, mode, starts, ends (seconds relative to now), year,
-- batch, title, status} -> id
function F.plan(o)
  local now = clock.now()
  local _, id = db.exec([[INSERT INTO plans(province_code, year, batch, title, mode, starts_at,
                            ends_at, notes, status, published_at, created_at, updated_at)
                          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id]],
    o.province, o.year or tonumber(os.date("!%Y", now + 8 * 3600)), o.batch or 2,
    o.title or ("测试计划 " .. now), o.mode or "by_major", now + (o.starts or -86400),
    now + (o.ends or 30 * 86400), "测试", o.status or "published", now, now, now)
  return id
end

-- set_plan {id, starts, ends (relative to now)}
function F.set_plan(o)
  local now = clock.now()
  if o.starts then db.exec("UPDATE plans SET starts_at = ? WHERE id = ?", now + o.starts, o.id) end
  if o.ends then db.exec("UPDATE plans SET ends_at = ? WHERE id = ?", now + o.ends, o.id) end
  return true
end

-- decide {id, status, level, decision, comment}: what a reviewer would do.
function F.decide(o)
  local now = clock.now()
  db.transaction(function()
    db.exec([[UPDATE declarations SET status = ?, review_level = NULL, decided_at = ?
              WHERE id = ?]], o.status, now, o.id)
    db.exec([[INSERT INTO reviews(declaration_id, level, decision, comment, created_at)
              VALUES (?, ?, ?, ?, ?)]], o.id, o.level or "province", o.decision, o.comment, now)
  end)
  return true
end

-- query {sql, args} -> rows
function F.query(o)
  return db.query(o.sql, table.unpack(o.args or {}))
end

function F.rules_version()
  return require("rules").version()
end

-- xlsx_file {path, header, rows}: writes a workbook (libxlsxwriter, as
-- Excel would save one: shared strings, numbers as numbers) for an upload.
function F.xlsx_file(o)
  local f = assert(io.open(o.path, "wb"))
  f:write(require("xlsx").sheet(o.title or "Sheet1", o.header, o.rows))
  f:close()
  return true
end

function F.call(name, arg)
  local v = F[name](arg and json.decode(arg) or nil)
  print("@@" .. json.encode(v == nil and json.null or v))
end

return F
