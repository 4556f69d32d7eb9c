-- rules_versions: the store of province rules as versioned data. Versions
-- per province (and `default`, the national set) live in rule_versions,
-- each province's test cases in rule_cases; the set in force is every
-- province's published version over the published default. Here: reading
-- them, the candidate sets built from them, checking a source and storing
-- it as a draft (push), and running cases on a version.
-- A service: plain values in, a result or nil and an error value out
-- (scripts/errors.lua). Publishing is rules_publish.lua's, replay
-- rules_replay.lua's, the rules directory and this process's set
-- rules_sync.lua's. Uses: db, auth, rules, util, text, json, errors,
-- rules_lab.
local db = require "db"
local auth = require "auth"
local rules = require "rules"
local util = require "util"
local text = require "text"
local errors = require "errors"

local V = {}

V.EMPTY = "-- 本省暂无自定义规则，适用全国默认规则（default.lua）。\nreturn {}\n"
V.MAX_SOURCE = 256 * 1024 -- bytes of one version's source
V.MAX_NOTE = 200          -- characters of a note
V.MAX_LINES = 3000        -- lines of one version's source (the lint's time grows with them)

function V.sha256(s) return auth.sha256(s) end

-- Is code a set name: "default" or a two-digit province code?
function V.is_name(code)
  return code == "default" or (type(code) == "string" and code:match("^%d%d$") ~= nil)
end

-- Every set name a directory or the database may hold, default first.
function V.names()
  local out = { "default" }
  for n = 10, 99 do out[#out + 1] = tostring(n) end
  return out
end

function V.in_force(province)
  return db.one([[SELECT id, province, status, source, sha256, note, author, created_at, published_at
                  FROM rule_versions WHERE province = ? AND status = 'published']], province)
end

-- The stored generation: bumped by every change of the set in force.
function V.generation()
  local r = db.one("SELECT generation FROM rule_state WHERE id = 1")
  return r and r.generation or 0
end

function V.bump()
  db.exec("UPDATE rule_state SET generation = generation + 1 WHERE id = 1")
end

-- The files of the set in force: {{name, text, version_id}...}, default first.
function V.files_in_force()
  local rows = db.query([[SELECT id, province, source FROM rule_versions WHERE status = 'published'
                          ORDER BY CASE province WHEN 'default' THEN 0 ELSE 1 END, province]])
  local files = {}
  for _, r in ipairs(rows) do
    files[#files + 1] = { name = r.province, text = r.source, version_id = r.id }
  end
  return files
end

-- V.candidate(province, text, id[, only]) -> files: the set in force with
-- province's file replaced by text (version id). only narrows it to the
-- defaults and one set's file: a code, or true for province itself; nil or
-- false keeps every province.
function V.candidate(province, source, id, only)
  if only == true then only = province end
  local out, placed = {}, false
  for _, f in ipairs(V.files_in_force()) do
    if f.name == province then
      out[#out + 1] = { name = province, text = source, version_id = id }
      placed = true
    elseif not only or f.name == "default" or f.name == only then
      out[#out + 1] = f
    end
  end
  if not placed then out[#out + 1] = { name = province, text = source, version_id = id } end
  if out[1].name ~= "default" then
    -- a new default with no stored one (only at the very first baseline)
    table.sort(out, function(a, b) return a.name == "default" and b.name ~= "default" end)
  end
  return out
end

-- V.insert(province, source, status, note, author, author_id, t) -> id
function V.insert(province, source, status, note, author, author_id, t)
  local _, id = db.exec([[INSERT INTO rule_versions(province, status, source, sha256, note, author,
                                                    author_id, created_at, published_at)
                          VALUES (:province, :status, :source, :sha256, :note, :author, :author_id,
                                  :t, :published_at) RETURNING id]],
    { province = province, status = status, source = source, sha256 = V.sha256(source), note = note,
      author = author, author_id = author_id, t = t, published_at = status == "published" and t or nil })
  return id
end

-- ---- checking a source -----------------------------------------------------

-- A problem as the contract names it, from the sandbox's message
-- "13.lua:3: ..." (or "[string]:3:").
local function problem_of(message, chunk)
  local line = tonumber(message:match("^[^:]*:(%d+):"))
  local code = message:find("syntax error", 1, true) or message:find("near", 1, true)
               or message:find("expected", 1, true) or message:find("unfinished", 1, true)
  return { field = "source", code = code and "syntax" or "load", line = line or require("json").null,
           message = (message:gsub("^" .. chunk:gsub("%p", "%%%0") .. ":", "")) }
end

-- V.check(province, source) -> warnings | nil, err
-- validation_failed (required, too_long, type), or rules_invalid with each
-- problem {field = "source", code, message, line}. The lab loads and lints
-- the source over the defaults; a new default must also hold under every
-- province's file, so that push loads the whole set as well.
function V.check(province, source)
  if type(source) ~= "string" or source == "" then
    return nil, errors.field("source", "required", "请填写规则源码")
  end
  if #source > V.MAX_SOURCE then
    return nil, errors.field("source", "too_long", "规则源码不能超过 " .. (V.MAX_SOURCE // 1024) .. " KB",
                             "规则源码过长")
  end
  local _, lines = source:gsub("\n", "")
  if lines >= V.MAX_LINES then
    return nil, errors.field("source", "too_long", "规则源码不能超过 " .. V.MAX_LINES .. " 行", "规则源码过长")
  end
  if not text.ulen(source) then
    return nil, errors.field("source", "type", "规则源码须为 UTF-8 文本")
  end
  local r = require("rules_lab").check(V.candidate(province, source, 0, province ~= "default"), province)
  if not r.ok then
    local fields = {}
    for _, p in ipairs(r.problems) do
      fields[#fields + 1] = { field = "source", code = p.code, message = p.message, line = p.line }
    end
    return nil, errors.new("rules_invalid", "规则未通过校验：" .. (fields[1] and fields[1].message or ""), fields)
  end
  if province == "default" then
    local set, broken = rules.load(V.candidate(province, source, 0))
    if not set then
      return nil, errors.new("rules_invalid", "规则未通过校验：" .. broken, { problem_of(broken, "default.lua") })
    end
    local b = broken[1] -- a province's file that no longer loads over it
    if b then
      return nil, errors.new("rules_invalid", "规则未通过校验：" .. b.error, { problem_of(b.error, b.province .. ".lua") })
    end
  end
  return r.warnings or {}
end

-- ---- versions -----------------------------------------------------------------

local COLUMNS = [[id, province, status, sha256, note, author, created_at, published_at]]

-- A version for the API (with its source when with_source).
function V.present(r, with_source)
  local out = { id = r.id, province = r.province, status = r.status, in_force = r.status == "published",
                sha256 = r.sha256, note = r.note, author = r.author,
                created_at = util.iso(r.created_at), published_at = util.iso(r.published_at) }
  if with_source then out.source = r.source end
  return out
end

-- V.list(province, page, size) -> {total, page, size, items}, newest first.
function V.list(province, page, size)
  local total = db.one("SELECT count(*) AS n FROM rule_versions WHERE province = ?", province).n
  local rows = db.query("SELECT " .. COLUMNS .. [[ FROM rule_versions WHERE province = :province
                          ORDER BY id DESC LIMIT :size OFFSET :offset]],
                        { province = province, size = size, offset = (page - 1) * size })
  local items = {}
  for _, r in ipairs(rows) do items[#items + 1] = V.present(r) end
  return { total = total, page = page, size = size, items = items }
end

-- V.get(province, id) -> the stored version (with source) | nil, err (not_found).
function V.get(province, id)
  local r = db.one("SELECT " .. COLUMNS .. ", source FROM rule_versions WHERE province = :province AND id = :id",
                   { province = province, id = id })
  if not r then return nil, errors.new("not_found", "规则版本不存在") end
  return r
end

-- V.push(province, source, note, author) -> version, warnings | nil, err
-- author = {id, name}. Checked first (V.check); stored as a draft.
function V.push(province, source, note, author, now)
  if note ~= nil and type(note) ~= "string" then
    return nil, errors.field("note", "type", "备注须为文字", "备注无效")
  end
  note = util.trim(note or "")
  if (text.ulen(note) or 0) > V.MAX_NOTE then
    return nil, errors.field("note", "too_long", "备注不能超过 200 字", "备注过长")
  end
  local warnings, err = V.check(province, source)
  if not warnings then return nil, err end
  local id = db.transaction(function()
    return V.insert(province, source, "draft", note, author.name, author.id, now or require("clock").now())
  end)
  return V.get(province, id), warnings
end

-- The decision record of a version id: {id, sha256, province}, or null.
function V.record(id)
  local r = id and db.one("SELECT id, sha256, province FROM rule_versions WHERE id = ?", id)
  if not r then return require("json").null end
  return { id = r.id, sha256 = r.sha256, province = r.province }
end

-- ---- cases ---------------------------------------------------------------------

-- V.cases(province) -> source, updated_at (nil when it has none)
function V.cases(province)
  local r = db.one("SELECT source, updated_at FROM rule_cases WHERE province = ?", province)
  return r and r.source or nil, r and r.updated_at
end

-- V.test(province, v[, cases]) -> {passed, failed, results, coverage} | nil, err
-- Runs cases (or the province's stored ones) on version v over the
-- defaults; cases that do not load or run are cases_invalid.
function V.test(province, v, cases)
  cases = cases or V.cases(province) or "return {}"
  local r, problem = require("rules_lab").test(V.candidate(province, v.source, v.id, province ~= "default"),
                                               province, cases)
  if not r then
    local p = problem or {}
    return nil, errors.new("cases_invalid", "测试用例无法运行：" .. tostring(p.message or ""), { { field = "cases",
      code = tostring(p.code or "load"), message = tostring(p.message or ""), line = p.line } })
  end
  return r
end

-- V.put_cases(province, source, author_id[, now]) -> true | nil, err
-- Stores the province's cases once they load and run on its version in
-- force (validation_failed, cases_invalid).
function V.put_cases(province, source, author_id, now)
  if type(source) ~= "string" or #source > V.MAX_SOURCE or not text.ulen(source) then
    return nil, errors.field("source", "type", "测试用例须为不超过 256 KB 的 Lua 源码", "测试用例无效")
  end
  local cur = V.in_force(province)
  if cur then
    local ok, err = V.test(province, cur, source)
    if not ok then return nil, err end
  end
  db.transaction(function()
    db.exec([[INSERT INTO rule_cases(province, source, author_id, updated_at)
              VALUES (:province, :source, :author_id, :now)
              ON CONFLICT(province) DO UPDATE SET source = excluded.source,
                author_id = excluded.author_id, updated_at = excluded.updated_at]],
            { province = province, source = source, author_id = author_id, now = now or require("clock").now() })
  end)
  return true
end

return V
