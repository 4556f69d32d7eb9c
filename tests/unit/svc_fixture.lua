-- svc_fixture: a real database for the services' unit tests, no server.
-- A test of tests/unit/*_test.lua (run by bin/unit on a trusted state,
-- tests/unit/test_scripts.c) calls fx.fresh() and gets a new temporary
-- SQLite file with the migrations of schema/ applied (through the C hook
-- `unit_db`: host/db.c's db_migrate and db_push_module), the rule baseline
-- stored (rules/*.lua as version 1, tests/rules/*.lua as cases) and that
-- set installed as the set in force; then inserts the few rows it needs
-- with the helpers below and calls the services with plain tables:
--
--   package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
--   local fx = require "svc_fixture"
--   local T = {}
--   function T.something()
--     fx.fresh()
--     local school, account = fx.school()
--     local plan = fx.plan({ province = "13" })
--     ... call the service, assert on what it returns and on fx.one(...)
--   end
--   return T
--
-- `require "db"` answers a proxy that always reaches the newest database,
-- so modules loaded by an earlier test use this test's one. The set in
-- force is the process's (rules.install): the Lua tests run after the
-- sandbox's C tests, and no test after them relies on it.
local fx = {}

local unit_db = require "unit_db"
local host = require "host"
local clock = require "clock"

fx.NOW = clock.now()

local current      -- the db module of the newest database
local files = {}   -- the temporary files made, removed when the state closes

package.loaded.db = setmetatable({}, { __index = function(_, k)
  assert(current, "svc_fixture: call fx.fresh() first")
  return current[k]
end })

-- removes the files when the test file's state is closed
fx._sentinel = setmetatable({}, { __gc = function()
  for _, f in ipairs(files) do
    os.remove(f)
    os.remove(f .. "-wal")
    os.remove(f .. "-shm")
  end
end })

local seq = 0
local function next_seq()
  seq = seq + 1
  return seq
end

-- fx.fresh([opts]) -> db: a new database; opts.rules = false leaves the rule
-- baseline out (the rules' own tests store what they need). The regions
-- 13 河北省 (cities 1301, 1302) and 44 广东省 (4401) are there.
function fx.fresh(opts)
  opts = opts or {}
  local path = os.tmpname()
  files[#files + 1] = path
  current = unit_db.open(path)
  collectgarbage() -- the previous database's connection closes
  host.root = host.root ~= "" and host.root or "."
  host.rules_dir = host.root .. "/rules"
  host.db_path = path
  local db = package.loaded.db
  db.transaction(function()
    for _, p in ipairs({ { "13", "河北省" }, { "44", "广东省" } }) do
      db.exec("INSERT INTO provinces(code, name) VALUES (:code, :name)", { code = p[1], name = p[2] })
    end
    for _, c in ipairs({ { "1301", "13", "石家庄市" }, { "1302", "13", "唐山市" }, { "4401", "44", "广州市" } }) do
      db.exec("INSERT INTO cities(code, province_code, name) VALUES (:code, :province, :name)",
              { code = c[1], province = c[2], name = c[3] })
    end
  end)
  if opts.rules ~= false then
    local store = require "rules_store"
    store.baseline()
    assert(store.install())
  end
  return db
end

-- fx.one(sql, params) / fx.query(sql, params): straight from the database.
function fx.one(sql, ...) return package.loaded.db.one(sql, ...) end
function fx.query(sql, ...) return package.loaded.db.query(sql, ...) end

-- fx.count(table, where, params) -> rows of table matching where.
function fx.count(tbl, where, params)
  assert(tbl:match("^[%w_]+$"), "fx.count: a table name")
  local sql = "SELECT count(*) AS n FROM " .. tbl .. (where and (" WHERE " .. where) or "")
  if params then return fx.one(sql, params).n end
  return fx.one(sql).n
end

-- fx.school(o) -> school, account. o: {province = "13", city = "1301",
-- type = "高职", active = 1, profile = true (a complete one)}. school is the
-- row as declarations.school reads it; account {id, username, role}.
function fx.school(o)
  o = o or {}
  local db = package.loaded.db
  local n = next_seq()
  local province = o.province or "13"
  local city = o.city == nil and (province == "13" and "1301" or "4401") or o.city or nil
  local code = string.format("%s%08d", province, n)
  local _, id = db.exec([[INSERT INTO schools(code, name, province_code, city_code, type, active,
                                               created_at, updated_at)
                          VALUES (:code, :name, :province, :city, :type, :active, :now, :now)]],
    { code = code, name = "测试学校" .. n, province = province, city = city or nil,
      type = o.type or "高职", active = o.active or 1, now = fx.NOW })
  if o.profile ~= false then
    db.exec([[INSERT INTO school_profiles(school_id, address, postcode, contact_name, contact_phone,
                                          contact_email, updated_at)
              VALUES (:id, '校本部', '050031', '张老师', '13900139000', 'a@example.edu.cn', :now)]],
            { id = id, now = fx.NOW })
  end
  local username = "school_t" .. n
  local _, aid = db.exec([[INSERT INTO accounts(username, password_hash, role, province_code, city_code,
                                                school_id, created_at)
                           VALUES (:username, 'x', 'school', :province, :city, :school, :now)]],
    { username = username, province = province, city = city or nil, school = id, now = fx.NOW })
  local school = db.one([[SELECT id, code, name, type, province_code, city_code, active
                          FROM schools WHERE id = :id]], { id = id })
  return school, { id = aid, username = username, role = "school", school_id = id }
end

-- fx.admin(role, province, city) -> account {id, username, role, ...}
function fx.admin(role, province, city)
  local db = package.loaded.db
  local username = role .. "_t" .. next_seq()
  local _, id = db.exec([[INSERT INTO accounts(username, password_hash, role, province_code, city_code,
                                               created_at)
                          VALUES (:username, 'x', :role, :province, :city, :now)]],
    { username = username, role = role, province = province, city = city, now = fx.NOW })
  return { id = id, username = username, role = role, province_code = province, city_code = city }
end

-- fx.certificate(o) -> certificate id, {major codes}. o: {majors = {{code,
-- level}}} (default two 高职专科 majors), level = "初级", active = 1.
function fx.certificate(o)
  o = o or {}
  local db = package.loaded.db
  local n = next_seq()
  local _, org = db.exec("INSERT INTO organizations(name, created_at) VALUES (:name, :now)",
                         { name = "评价组织" .. n, now = fx.NOW })
  local _, id = db.exec([[INSERT INTO certificates(code, name, level, organization_id, active)
                          VALUES (:code, :name, :level, :org, :active)]],
    { code = "C" .. n, name = "测试证书" .. n, level = o.level or "初级", org = org, active = o.active or 1 })
  local codes = {}
  for i, m in ipairs(o.majors or { { string.format("44%02d%02d", n % 100, 1), "高职专科" },
                                   { string.format("44%02d%02d", n % 100, 2), "高职专科" } }) do
    db.exec([[INSERT INTO majors(code, name, level) VALUES (:code, :name, :level)
              ON CONFLICT(code) DO NOTHING]], { code = m[1], name = "专业" .. m[1], level = m[2] })
    db.exec("INSERT INTO certificate_majors(certificate_id, major_code) VALUES (:cert, :major)",
            { cert = id, major = m[1] })
    codes[i] = m[1]
  end
  return id, codes
end

-- fx.plan(o) -> the plan row. o: {province = "13", mode = "by_major",
-- starts, ends (seconds from fx.NOW: -86400 and 30 days), year, status =
-- "published"}.
function fx.plan(o)
  o = o or {}
  local db = package.loaded.db
  local n = next_seq()
  local _, id = db.exec([[INSERT INTO plans(province_code, year, batch, title, mode, starts_at, ends_at,
                                            status, published_at, created_at, updated_at)
                          VALUES (:province, :year, :batch, :title, :mode, :starts, :ends, :status,
                                  :now, :now, :now)]],
    { province = o.province or "13", year = o.year or tonumber(os.date("!%Y", fx.NOW + 8 * 3600)),
      batch = o.batch or (n % 99) + 1, title = "测试计划" .. n, mode = o.mode or "by_major",
      starts = fx.NOW + (o.starts or -86400), ends = fx.NOW + (o.ends or 30 * 86400),
      status = o.status or "published", now = fx.NOW })
  return db.one([[SELECT id, province_code, year, batch, title, mode, starts_at, ends_at, status
                  FROM plans WHERE id = :id]], { id = id })
end

-- fx.who(role, province, city) -> who acts, as the admin services take it:
-- {account, now, remote} for a new admin account of role (fx.admin).
function fx.who(role, province, city)
  return { account = fx.admin(role, province, city), now = fx.NOW, remote = "unit" }
end

-- fx.declaration(school, plan, cert, status[, o]) -> the id of a new
-- declaration row: o.mode (by_major), o.trainees (10); submitted, created
-- and updated at 1.
function fx.declaration(school, plan, cert, status, o)
  o = o or {}
  return fx.one([[INSERT INTO declarations(school_id, plan_id, certificate_id, status, mode, trainees_total,
                    submitted_at, created_at, updated_at)
                  VALUES (:school, :plan, :cert, :status, :mode, :trainees, 1, 1, 1) RETURNING id]],
                { school = school.id, plan = plan.id, cert = cert, status = status,
                  mode = o.mode or "by_major", trainees = o.trainees or 10 }).id
end

-- fx.actor(account[, remote]) -> who acts, as the services take it.
function fx.actor(account, remote)
  return { id = account.id, username = account.username, role = account.role,
           remote = remote or "unit" }
end

-- fx.raises(fn, ...) -> the value fn raised (fails when it returned).
function fx.raises(fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected a raise")
  return e
end

-- fx.err(code, value, err): asserts a service answered (nil, err) with code.
function fx.err(code, v, e)
  assert(v == nil, "expected an error " .. code .. ", got a result")
  assert(require("errors").is(e), "expected an error value, got " .. tostring(e))
  assert(e.code == code, "expected " .. code .. ", got " .. tostring(e))
  return e
end

return fx
