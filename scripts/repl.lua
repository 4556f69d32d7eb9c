-- repl: helpers that `host repl` installs as globals, for rule authors:
-- try a province's rules on a declaration (a Lua table or a JSON file) and
-- read the decision and its reasons.
local json = require "json"
local rules = require "rules"

local M = {}

local function show(...)
  local n = select("#", ...)
  for i = 1, n do
    local v = select(i, ...)
    if type(v) == "table" then
      local ok, s = pcall(json.encode, v)
      print(ok and s or tostring(v))
    else
      print(tostring(v))
    end
  end
end

local function load_input(x)
  if type(x) == "string" then
    local f, err = io.open(x, "rb")
    if not f then error("cannot open " .. x .. ": " .. tostring(err), 2) end
    local v, jerr = json.decode(f:read("a"))
    f:close()
    if v == nil then error("not JSON: " .. tostring(jerr), 2) end
    return v
  end
  return x or {}
end

-- check(province, declaration[, opts]) -> errors
-- declaration: {mode, certificate_id, majors = {{major, students, teachers,
-- trainees}}, trainees_total, faculty_chars, venue_chars, others_in_plan}
-- opts.submit (default true). Prints the decision and reasons.
local function check(province, d, opts)
  d = load_input(d)
  opts = opts or {}
  local submit = opts.submit ~= false
  local mode = d.mode or "by_major"
  if mode == "by_major" then
    local sum = 0
    for _, m in ipairs(d.majors or {}) do sum = sum + (m.trainees or 0) end
    d.trainees_total = sum
  end
  d.majors = d.majors or {}
  d.faculty_chars = d.faculty_chars or (d.faculty and #d.faculty > 0 and 1) or 0
  d.venue_chars = d.venue_chars or (d.venue and #d.venue > 0 and 1) or 0
  local status = rules.status()
  local name = rules.call(province, "name") or "?"
  print(string.format("省份 %s（%s），规则版本 %s，第 %d 代", province, name,
                      tostring(status.version), status.generation))
  print(string.format("申报方式 %s，%s", mode, submit and "保存并提交" or "保存（草稿）"))
  local errors, err = rules.call(province, "check_declaration", {
    ["@contract"] = true, -- a contract ctx: read-only, an unknown field an error
    submit = submit, mode = mode, declaration = d, others_in_plan = d.others_in_plan or 0,
    plan = d.plan or { mode = mode }, school = d.school or {}, certificate = d.certificate,
    now = os.time(),
  })
  if errors == nil then
    print("规则执行出错: " .. tostring(err))
    return nil, err
  end
  if #errors == 0 then
    print("结论: 通过")
  else
    print(string.format("结论: 不通过（%d 条原因）", #errors))
    for _, e in ipairs(errors) do
      print(string.format("  %-24s %-22s %s", tostring(e.field), tostring(e.code), tostring(e.message)))
    end
  end
  local chain = rules.call(province, "review_chain", { ["@contract"] = true, declaration = d,
                                                        plan = d.plan, school = d.school }) or {}
  print("审核流程: " .. table.concat(chain, " → "))
  return errors
end

-- deadline(province, plan, status, action, now) prints the verdict
local function deadline(province, plan, status, action, now)
  local v = rules.call(province, "deadline", {
    ["@contract"] = true,
    now = now or os.time(), action = action or "submit", plan = plan,
    declaration = status and { status = status } or nil })
  show(v)
  return v
end

-- versions(province): the stored versions (with a database)
local function versions(province)
  local store = require "rules_versions"
  for _, v in ipairs(store.list(province, 1, 100).items) do
    print(string.format("%-6d %-9s %s %s  %s  %s", v.id, v.status, v.in_force and "*" or " ",
                        v.created_at, v.author, v.note))
  end
end

-- A candidate version: a stored id or the path of a file.
local function candidate(province, id_or_file)
  if math.type(id_or_file) == "integer" then
    local v, err = require("rules_versions").get(province, id_or_file)
    if not v then error(err.message, 3) end
    return { id = v.id, source = v.source }
  end
  local f, err = io.open(id_or_file, "rb")
  if not f then error("cannot open " .. tostring(id_or_file) .. ": " .. tostring(err), 3) end
  local text = f:read("a")
  f:close()
  return { id = 0, source = text }
end

-- use(province, id_or_file): this prompt's rule calls use that version of
-- the province over the set in force; use() goes back to the set in force.
local function use(province, id_or_file)
  if province == nil then
    rules.unpin()
    print("规则：使用当前生效的规则")
    return
  end
  local v = candidate(province, id_or_file)
  local set, broken = rules.load(require("rules_versions").candidate(province, v.source, v.id))
  if not set then print("规则无法加载: " .. tostring(broken)) return nil, broken end
  for _, b in ipairs(broken) do
    if b.province == province then print("规则无法加载: " .. b.error) return nil, b.error end
  end
  rules.pin(set)
  print(string.format("规则：省份 %s 使用%s", province,
                      v.id > 0 and ("版本 " .. v.id) or ("文件 " .. tostring(id_or_file))))
  return true
end

-- replay(province, id_or_file, plan_id): what that version would decide
-- for the plan's submitted declarations, beside the set in force
local function replay(province, id_or_file, plan_id)
  local r, err = require("rules_replay").replay(province, candidate(province, id_or_file), plan_id)
  if not r then print(err.message) return nil, err end
  print(string.format("共 %d 条申报，%d 条结论不同%s", r.total, r.changed, r.truncated and "（未全部重算）" or ""))
  for _, it in ipairs(r.items) do
    print(string.format("  #%-6d %-20s %-9s %s → %s", it.declaration_id, it.school, it.status,
                        table.concat(it.before.codes, ",") .. " [" .. table.concat(it.before.review_chain, "→") .. "]",
                        table.concat(it.after.codes, ",") .. " [" .. table.concat(it.after.review_chain, "→") .. "]"))
  end
  return r
end

local function help()
  print([[
helpers:
  check(province, decl_or_json_path[, {submit=false}])  run check_declaration, print reasons
  deadline(province, {starts_at=, ends_at=}, status, action[, now])
  rules.call(province, name, arg)   call any rule function or read a value
  rules.status()  rules.reload()    the set in force; reload from disk (no database)
  versions("13")                    the province's stored versions
  use("13", id_or_file)  use()      try a version (stored id or a file) at this prompt
  replay("13", id_or_file, plan_id) what it would decide for a plan's submitted declarations
  show(v)                           print a value as JSON
  db.query(sql, ...)                the database (when --db exists)
example:
  check("13", {mode="by_major", certificate_id=1, faculty="x", venue="y",
               majors={{major="440301", students=10, teachers=2, trainees=12}}})]])
end

function M.init()
  _G.show = show
  _G.check = check
  _G.deadline = deadline
  _G.help = help
  _G.rules = rules
  _G.json = json
  local ok, db = pcall(require, "db")
  if ok then
    _G.db = db
    _G.versions, _G.use, _G.replay = versions, use, replay
    -- with a database, the prompt runs what the server runs: the stored set
    if db.one("SELECT count(*) AS n FROM rule_versions").n > 0 and require("rules_sync").install() then
      io.stderr:write("规则：数据库中当前生效的版本（第 ", require("rules_versions").generation(), " 代）\n")
    end
  end
end

return M
