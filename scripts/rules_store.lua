-- rules_store: province rules as versioned data. Versions per province
-- (and `default`, the national set) live in rule_versions; the set in
-- force is every province's published version over the published
-- default, installed in this process by rules.install under the stored
-- generation. The files of the rules directory are the shipped baseline
-- (version 1 of each province) and the developer's reload loop (a changed
-- file is pushed and published by SIGHUP, POST /api/admin/rules/reload or
-- `host serve --watch-rules`).
--
-- Services take plain values and return a result, or raise web.fail with
-- the contract's error (docs/api.md, "Province rules as versioned data").
local db = require "db"
local auth = require "auth"
local rules = require "rules"
local host = require "host"
local log = require "log"
local util = require "util"
local web = require "web"

local S = {}

S.EMPTY = "-- 本省暂无自定义规则，适用全国默认规则（default.lua）。\nreturn {}\n"
S.MAX_SOURCE = 256 * 1024 -- bytes of one version's source
S.MAX_NOTE = 200          -- characters of a note
S.MAX_LINES = 3000        -- lines of one version's source (the lint's time grows with them)

local function now() return require("clock").now() end

function S.sha256(text) return auth.sha256(text) end

-- Is code a set name: "default" or a two-digit province code?
function S.is_name(code)
  return code == "default" or (type(code) == "string" and code:match("^%d%d$") ~= nil)
end

local function file_of(code)
  return util.read_file(host.rules_dir .. "/" .. code .. ".lua")
end

-- Every set name a directory or the database may hold, default first.
local function all_names()
  local out = { "default" }
  for n = 10, 99 do out[#out + 1] = tostring(n) end
  return out
end

function S.in_force(province)
  return db.one([[SELECT id, province, status, source, sha256, note, author, created_at, published_at
                  FROM rule_versions WHERE province = ? AND status = 'published']], province)
end

function S.generation()
  local r = db.one("SELECT generation FROM rule_state WHERE id = 1")
  return r and r.generation or 0
end

local function bump()
  db.exec("UPDATE rule_state SET generation = generation + 1 WHERE id = 1")
end

-- The files of the set in force: {{name, text, version_id}...}, default first.
function S.files_in_force()
  local rows = db.query([[SELECT id, province, source FROM rule_versions WHERE status = 'published'
                          ORDER BY CASE province WHEN 'default' THEN 0 ELSE 1 END, province]])
  local files = {}
  for _, r in ipairs(rows) do
    files[#files + 1] = { name = r.province, text = r.source, version_id = r.id }
  end
  return files
end

-- The set in force with province's file replaced by text (version id),
-- or only the defaults and that province's file when alone is true.
function S.candidate(province, text, id, alone)
  local out, placed = {}, false
  for _, f in ipairs(S.files_in_force()) do
    if f.name == province then
      out[#out + 1] = { name = province, text = text, version_id = id }
      placed = true
    elseif not alone or f.name == "default" then
      out[#out + 1] = f
    end
  end
  if not placed then out[#out + 1] = { name = province, text = text, version_id = id } end
  if out[1].name ~= "default" then
    -- a new default with no stored one (only at the very first baseline)
    table.sort(out, function(a, b) return a.name == "default" and b.name ~= "default" end)
  end
  return out
end

-- ---- installing -------------------------------------------------------

-- Installs the stored set under its generation. Returns true, or nil and
-- the message (the set in force stays).
function S.install()
  for _ = 1, 3 do
    local gen = S.generation()
    local files = S.files_in_force()
    if S.generation() == gen then
      if #files == 0 then return nil, "no rule versions are stored" end
      local ok, broken = rules.install(files, gen)
      if not ok then
        log.error("rules: the stored set did not install: " .. tostring(broken))
        return nil, broken
      end
      for _, b in ipairs(broken) do
        log.error("rules: province " .. b.province .. "'s version in force did not load; "
                  .. "its rule calls fail: " .. require("province_rules").one_line(b.error))
      end
      return true
    end
  end
  return nil, "the stored rules kept changing"
end

-- ---- the baseline -------------------------------------------------------

local function insert_version(province, source, status, note, author, author_id, t)
  db.exec([[INSERT INTO rule_versions(province, status, source, sha256, note, author, author_id,
                                      created_at, published_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)]],
          province, status, source, S.sha256(source), note, author, author_id, t,
          status == "published" and t or nil)
  return db.one("SELECT last_insert_rowid() AS id").id
end

-- Gives every province with no version its file of the rules directory
-- as version 1 (published), and a province of the catalogue without a
-- file an empty override; stores tests/rules/<code>.lua as its cases.
-- Idempotent: run by migrate, seed and serve. The generation stays: what
-- it adds is what an instance already runs (an empty override is the
-- defaults alone).
function S.baseline()
  local provinces = {}
  for _, p in ipairs(db.query("SELECT code FROM provinces")) do provinces[p.code] = true end
  local have = {}
  for _, r in ipairs(db.query("SELECT DISTINCT province FROM rule_versions")) do have[r.province] = true end
  local added = 0
  db.transaction(function()
    local t = now()
    for _, code in ipairs(all_names()) do
      if not have[code] then
        local text = file_of(code)
        local source = text or ((provinces[code]) and S.EMPTY)
        if code == "default" and not source then
          error("rules: " .. host.rules_dir .. "/default.lua is missing", 0)
        end
        if source then
          local id = insert_version(code, source, "published",
            text and ("随平台发布的基线规则 rules/" .. code .. ".lua") or "本省暂无自定义规则",
            "平台基线", nil, t)
          if text then
            db.exec("INSERT OR REPLACE INTO rule_files(province, sha256, version_id) VALUES (?, ?, ?)",
                    code, S.sha256(text), id)
          end
          local cases = util.read_file(host.root .. "/tests/rules/" .. code .. ".lua")
          if cases and not db.one("SELECT 1 AS x FROM rule_cases WHERE province = ?", code) then
            db.exec("INSERT INTO rule_cases(province, source, updated_at) VALUES (?, ?, ?)", code, cases, t)
          end
          added = added + 1
        end
      end
    end
  end)
  return added
end

-- ---- checking a source -----------------------------------------------------

-- Problems of a source as the contract names them, from the sandbox's
-- message "13.lua:3: ..." (or "[string]:3:").
local function problem_of(message, chunk)
  local line = tonumber(message:match("^[^:]*:(%d+):"))
  local code = message:find("syntax error", 1, true) or message:find("near", 1, true)
               or message:find("expected", 1, true) or message:find("unfinished", 1, true)
  return { field = "source", code = code and "syntax" or "load", line = line or require("json").null,
           message = (message:gsub("^" .. chunk:gsub("%p", "%%%0") .. ":", "")) }
end

-- S.check(province, source) -> warnings, or raises 422 rules_invalid with
-- each problem {field = "source", code, message, line}.
function S.check(province, source)
  if type(source) ~= "string" or source == "" then
    web.fail(422, "validation_failed", "请填写规则源码", { { field = "source", code = "required", message = "请填写规则源码" } })
  end
  if #source > S.MAX_SOURCE then
    web.fail(422, "validation_failed", "规则源码过长", { { field = "source", code = "too_long",
      message = "规则源码不能超过 " .. (S.MAX_SOURCE // 1024) .. " KB" } })
  end
  local _, lines = source:gsub("\n", "")
  if lines >= S.MAX_LINES then
    web.fail(422, "validation_failed", "规则源码过长", { { field = "source", code = "too_long",
      message = "规则源码不能超过 " .. S.MAX_LINES .. " 行" } })
  end
  if not require("text").ulen(source) then
    web.fail(422, "validation_failed", "规则源码须为 UTF-8 文本", { { field = "source", code = "type", message = "规则源码须为 UTF-8 文本" } })
  end
  local lab = require "rules_lab"
  local files = S.candidate(province, source, 0, province ~= "default")
  local r = lab.check(files, province)
  if not r.ok then
    local fields = {}
    for _, p in ipairs(r.problems) do
      fields[#fields + 1] = { field = "source", code = p.code, message = p.message, line = p.line }
    end
    web.fail(422, "rules_invalid", "规则未通过校验：" .. (fields[1] and fields[1].message or ""), fields)
  end
  -- the whole set must still load with it (the defaults under every province)
  local set, broken = rules.load(S.candidate(province, source, 0, false))
  if not set then
    web.fail(422, "rules_invalid", "规则未通过校验：" .. broken, { problem_of(broken, province .. ".lua") })
  end
  for _, b in ipairs(broken) do
    if b.province == province or province == "default" then
      web.fail(422, "rules_invalid", "规则未通过校验：" .. b.error, { problem_of(b.error, b.province .. ".lua") })
    end
  end
  return r.warnings or {}
end

-- ---- versions -----------------------------------------------------------------

local COLUMNS = [[id, province, status, sha256, note, author, created_at, published_at]]

local function present(r, with_source)
  local out = { id = r.id, province = r.province, status = r.status, in_force = r.status == "published",
                sha256 = r.sha256, note = r.note, author = r.author,
                created_at = util.iso(r.created_at), published_at = util.iso(r.published_at) }
  if with_source then out.source = r.source end
  return out
end
S.present = present

function S.list(province, page, size)
  local total = db.one("SELECT count(*) AS n FROM rule_versions WHERE province = ?", province).n
  local rows = db.query("SELECT " .. COLUMNS .. " FROM rule_versions WHERE province = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                        province, size, (page - 1) * size)
  local items = {}
  for _, r in ipairs(rows) do items[#items + 1] = present(r) end
  return { total = total, page = page, size = size, items = items }
end

-- The stored version id of province, or 404.
function S.get(province, id)
  local r = db.one("SELECT " .. COLUMNS .. ", source FROM rule_versions WHERE province = ? AND id = ?", province, id)
  if not r then web.fail(404, "not_found", "规则版本不存在") end
  return r
end

-- S.push(province, source, note, author) -> version, warnings
-- author = {id, name}. Checked first (S.check); stored as a draft.
function S.push(province, source, note, author)
  if note ~= nil and type(note) ~= "string" then
    web.fail(422, "validation_failed", "备注无效", { { field = "note", code = "type", message = "备注须为文字" } })
  end
  note = util.trim(note or "")
  if (require("text").ulen(note) or 0) > S.MAX_NOTE then
    web.fail(422, "validation_failed", "备注过长", { { field = "note", code = "too_long", message = "备注不能超过 200 字" } })
  end
  local warnings = S.check(province, source)
  local id
  db.transaction(function()
    id = insert_version(province, source, "draft", note, author.name, author.id, now())
  end)
  return S.get(province, id), warnings
end

-- ---- cases, tests, publish, rollback -------------------------------------

function S.cases(province)
  local r = db.one("SELECT source, updated_at FROM rule_cases WHERE province = ?", province)
  return r and r.source or nil, r and r.updated_at
end

function S.put_cases(province, source, author_id)
  if type(source) ~= "string" or #source > S.MAX_SOURCE or not require("text").ulen(source) then
    web.fail(422, "validation_failed", "测试用例无效", { { field = "source", code = "type",
      message = "测试用例须为不超过 256 KB 的 Lua 源码" } })
  end
  local cur = S.in_force(province)
  if cur then S.test(province, cur, source) end -- 422 cases_invalid if they do not load or run
  db.transaction(function()
    db.exec([[INSERT INTO rule_cases(province, source, author_id, updated_at) VALUES (?, ?, ?, ?)
              ON CONFLICT(province) DO UPDATE SET source = excluded.source,
                author_id = excluded.author_id, updated_at = excluded.updated_at]],
            province, source, author_id, now())
  end)
end

-- Runs cases (or the province's stored ones) on version v.
function S.test(province, v, cases)
  cases = cases or S.cases(province) or "return {}"
  local lab = require "rules_lab"
  local r, problem = lab.test(S.candidate(province, v.source, v.id, province ~= "default"), province, cases)
  if not r then
    -- the cases (or the version) did not load or run: the caller's to fix
    local p = problem or {}
    web.fail(422, "cases_invalid", "测试用例无法运行：" .. tostring(p.message or ""), { { field = "cases",
      code = tostring(p.code or "load"), message = tostring(p.message or ""), line = p.line } })
  end
  return r
end

-- Puts version v of province in force (the one in force is retired).
-- Checked to load with the set in force first; the cases gate publish,
-- not rollback (a rollback returns to what was in force before).
local function put_in_force(province, v, gate)
  if gate then
    local result = S.test(province, v)
    if result.failed > 0 then
      -- each case's result, the failing ones as fields
      local fields = {}
      for _, c in ipairs(result.results) do
        fields[#fields + 1] = { field = "cases", code = c.ok and "case_passed" or "case_failed",
                                name = c.name, ok = c.ok, message = c.ok and c.name
                                  or (c.name .. "：" .. tostring(c.message)) }
      end
      web.fail(409, "cases_failed", "本省测试用例未通过（" .. result.failed .. " 个失败），未发布", fields)
    end
  end
  local set, broken = rules.load(S.candidate(province, v.source, v.id, false))
  if not set then web.fail(422, "rules_invalid", "规则无法加载：" .. broken) end
  for _, b in ipairs(broken) do
    if b.province == province or province == "default" then
      web.fail(422, "rules_invalid", "规则无法加载：" .. b.error)
    end
  end
  local before
  db.transaction(function()
    -- decided on v's status as read before the cases ran: still so?
    local still = db.one("SELECT status FROM rule_versions WHERE id = ?", v.id)
    if not still or still.status ~= v.status then
      web.fail(409, "conflict", "该版本的状态刚刚改变，请刷新后重试")
    end
    local cur = S.in_force(province)
    before = cur and cur.id
    if cur then db.exec("UPDATE rule_versions SET status = 'retired' WHERE id = ?", cur.id) end
    db.exec("UPDATE rule_versions SET status = 'published', published_at = ? WHERE id = ?", now(), v.id)
    bump()
  end)
  local ok, err = S.install()
  if not ok then log.error("rules: published version " .. v.id .. " not installed here: " .. tostring(err)) end
  return before
end

-- S.publish(province, id) -> version, the id it replaced
function S.publish(province, id)
  local v = S.get(province, id)
  if v.status ~= "draft" then
    web.fail(409, "conflict", v.status == "published" and "该版本已在生效中" or "已停用的版本请使用回滚")
  end
  local before = put_in_force(province, v, true)
  return S.get(province, id), before
end

-- S.rollback(province, to) -> version, the id it replaced
function S.rollback(province, to)
  local v = S.get(province, to)
  if v.status == "published" then web.fail(409, "conflict", "该版本已在生效中") end
  if v.status ~= "retired" then
    web.fail(409, "conflict", "只能回滚到曾经生效过的版本；草稿请使用发布")
  end
  local before = put_in_force(province, v, false)
  return S.get(province, to), before
end

-- The decision record of a version id: {id, sha256, province}, or null.
function S.record(id)
  local r = id and db.one("SELECT id, sha256, province FROM rule_versions WHERE id = ?", id)
  if not r then return require("json").null end
  return { id = r.id, sha256 = r.sha256, province = r.province }
end

-- ---- replay -------------------------------------------------------------------

S.REPLAY_MAX = 5000     -- declarations of one replay
S.REPLAY_MS = 20000     -- and its time; beyond either, `truncated`

local function sorted_codes(fields)
  local seen, out = {}, {}
  for _, f in ipairs(fields or {}) do
    if not seen[f.code] then seen[f.code] = true out[#out + 1] = f.code end
  end
  table.sort(out)
  return out
end

-- What the rules decide for a stored declaration if it were submitted now:
-- {codes = {...}, review_chain = {...}} (a rule failure is code rule_failed).
local function outcome(school, plan, row)
  local json = require "json"
  local check = require("errors").protect(require("declaration_rules").check)
  local v, err = check(school, plan, row.mode, require("declaration_form").stored(row), true, row.id,
                       require("clock").now())
  if v then return { codes = json.array(), review_chain = json.array(v.chain or {}) } end
  local codes = err.code == "validation_failed" and sorted_codes(err.fields) or { err.code }
  return { codes = json.array(codes), review_chain = json.array() }
end

local function same(a, b)
  return table.concat(a.codes, ",") == table.concat(b.codes, ",")
     and table.concat(a.review_chain, ",") == table.concat(b.review_chain, ",")
end

-- S.replay(province, v, plan_id) -> {total, changed, items, truncated}:
-- what version v would decide for every submitted declaration of the
-- plan, beside the set in force. Writes nothing.
function S.replay(province, v, plan_id, caller_province)
  local plan = db.one([[SELECT id, province_code, year, batch, mode, starts_at, ends_at, title
                        FROM plans WHERE id = ?]], plan_id)
  -- a province's version replays its own plans; the defaults any plan of
  -- the caller's province (every plan for ops: caller_province nil)
  if not plan or (province ~= "default" and plan.province_code ~= province)
      or (caller_province and plan.province_code ~= caller_province) then
    web.fail(404, "not_found", "申报计划不存在")
  end
  local files = { province == "default" and { name = "default", text = v.source, version_id = v.id }
                  or S.in_force("default") and { name = "default", text = S.in_force("default").source,
                                                 version_id = S.in_force("default").id } }
  local own = province == "default" and S.in_force(plan.province_code)
  if province ~= "default" then
    files[2] = { name = province, text = v.source, version_id = v.id }
  elseif own then
    files[2] = { name = own.province, text = own.source, version_id = own.id }
  end
  local set, broken = rules.load(files)
  if not set then web.fail(422, "rules_invalid", "规则无法加载：" .. broken) end
  local rows = db.query([[SELECT d.id, d.status, d.mode, d.certificate_id, d.trainees_total, d.faculty,
                                 d.venue, d.school_id, s.name AS school, s.code, s.type,
                                 s.province_code, s.city_code
                          FROM declarations d JOIN schools s ON s.id = d.school_id
                          WHERE d.plan_id = ? AND d.status <> 'draft' ORDER BY d.id LIMIT ?]],
                        plan.id, S.REPLAY_MAX + 1)
  local out = { total = 0, changed = 0, items = require("json").array(), truncated = #rows > S.REPLAY_MAX }
  local clock = require "clock"
  local t0 = clock.now_ms()
  for i, row in ipairs(rows) do
    if i > S.REPLAY_MAX or clock.now_ms() - t0 > S.REPLAY_MS then
      out.truncated = true
      break
    end
    local school = { id = row.school_id, code = row.code, type = row.type, name = row.school,
                     province_code = row.province_code, city_code = row.city_code }
    local shadow = require "shadow" -- a replay is no live traffic: nothing shadowed
    local before = shadow.quietly(outcome, school, plan, row)
    local after = shadow.quietly(rules.using, set, outcome, school, plan, row)
    out.total = out.total + 1
    if not same(before, after) then
      out.changed = out.changed + 1
      out.items[#out.items + 1] = { declaration_id = row.id, school = row.school, status = row.status,
                                    before = before, after = after }
    end
  end
  return out
end

-- ---- the rules directory --------------------------------------------------

-- Pushes and publishes every file of the rules directory whose text
-- changed since it last went in force. Returns {published = {code...},
-- refused = {{province, error}}}. A refused file is remembered by its
-- text and not tried again until it changes.
function S.sync_dir()
  local out = { published = {}, refused = {} }
  local known = {}
  for _, r in ipairs(db.query("SELECT province, sha256, error FROM rule_files")) do known[r.province] = r end
  local changed = false
  for _, code in ipairs(all_names()) do
    local text = file_of(code)
    local sha = text and S.sha256(text)
    local k = known[code]
    if not text and k and k.error then
      db.exec("DELETE FROM rule_files WHERE province = ?", code) -- a refused file removed
    elseif text and k and k.sha256 == sha then
      if k.error then out.refused[#out.refused + 1] = { province = code, error = k.error } end
    elseif text then
      local cur = S.in_force(code)
      local err
      if cur and cur.sha256 == sha then
        db.exec("INSERT OR REPLACE INTO rule_files(province, sha256, version_id) VALUES (?, ?, ?)", code, sha, cur.id)
      else
        local set, broken = rules.load(S.candidate(code, text, 0, false))
        if not set then err = broken end
        for _, b in ipairs(set and broken or {}) do
          if b.province == code then err = b.error end
        end
        if err then
          db.exec("INSERT OR REPLACE INTO rule_files(province, sha256, version_id, error) VALUES (?, ?, NULL, ?)",
                  code, sha, err)
          out.refused[#out.refused + 1] = { province = code, error = err }
          log.error("rules: rules/" .. code .. ".lua refused, the version in force stays: "
                    .. require("province_rules").one_line(err))
        else
          db.transaction(function()
            local t = now()
            local prev = S.in_force(code)
            if prev then db.exec("UPDATE rule_versions SET status = 'retired' WHERE id = ?", prev.id) end
            local id = insert_version(code, text, "published", "来自规则文件 rules/" .. code .. ".lua",
                                      "规则文件 rules/" .. code .. ".lua", nil, t)
            db.exec("INSERT OR REPLACE INTO rule_files(province, sha256, version_id) VALUES (?, ?, ?)", code, sha, id)
            bump()
          end)
          out.published[#out.published + 1] = code
          changed = true
        end
      end
    end
  end
  return out, changed
end

-- `host migrate`: the baseline of the rules directory.
function S.baseline_cli()
  local n = S.baseline()
  if n > 0 then print("rule versions: " .. n .. " baseline") end
  return 0
end

-- ---- the command line: host rules versions|push|publish|export ----------------

local function cli_args(args)
  local o, rest, i = {}, {}, 2
  while i <= #args do
    local name = args[i]:match("^%-%-([%w%-]+)$")
    if name then
      if i == #args then return nil, "--" .. name .. " needs a value" end
      o[name] = args[i + 1]
      i = i + 2
    else
      rest[#rest + 1] = args[i]
      i = i + 1
    end
  end
  return o, rest
end

local function cli_fail(e)
  if web.is_http_error(e) then
    io.stderr:write("host: ", e.message, "\n")
    for _, f in ipairs(e.fields or {}) do
      io.stderr:write("  ", f.line and ("line " .. tostring(f.line) .. ": ") or "",
                      tostring(f.code), ": ", tostring(f.message), "\n")
    end
    return 1
  end
  error(e, 0)
end

local function cli_audit(action, province, id, detail)
  require("audit").log({ now = now(), remote = "cli" }, action, "rules", id, {
    province = province ~= "default" and province or nil, actor = "host rules", detail = detail })
end

function S.cli(args)
  local verb = args[1]
  local o, rest = cli_args(args)
  if not o then io.stderr:write("host: ", rest, "\n") return 2 end
  local province = o.province
  if not S.is_name(province) then
    io.stderr:write("host: rules ", verb, ": --province must be default or a two-digit code\n")
    return 2
  end
  local ok, code = pcall(function()
    if verb == "versions" then
      for _, v in ipairs(S.list(province, 1, 1000).items) do
        print(string.format("%-6d %-9s %s %-20s %s  %s", v.id, v.status, v.in_force and "*" or " ",
                            v.created_at, v.author, v.note))
      end
      return 0
    elseif verb == "push" then
      local path = rest[1]
      if not path or rest[2] then io.stderr:write("host: rules push: one FILE\n") return 2 end
      local text, err = util.read_file(path)
      if not text then io.stderr:write("host: cannot read ", path, ": ", tostring(err), "\n") return 1 end
      local v, warnings = S.push(province, text, o.note, { name = "命令行 host rules" })
      for _, w in ipairs(warnings) do
        io.stderr:write(path, ":", tostring(w.line), ": warning: ", tostring(w.message), "\n")
      end
      cli_audit("rules.push", province, v.id, { set = province, version_id = v.id, sha256 = v.sha256 })
      print(v.id)
      return 0
    elseif verb == "publish" then
      local id = math.tointeger(tonumber(o.id))
      if not id then io.stderr:write("host: rules publish: --id N\n") return 2 end
      local v, before = S.publish(province, id)
      cli_audit("rules.publish", province, v.id, { set = province, version_id = v.id, replaced = before })
      print("published " .. v.id .. (before and (", replacing " .. before) or ""))
      return 0
    elseif verb == "export" then
      local v = S.in_force(province)
      if not v then io.stderr:write("host: no version of ", province, " is in force\n") return 1 end
      if not o.out then io.write(v.source) return 0 end
      local path = o.out .. "/" .. province .. ".lua"
      local f, err = io.open(path, "wb")
      if not f then io.stderr:write("host: cannot write ", path, ": ", tostring(err), "\n") return 1 end
      f:write(v.source)
      f:close()
      print(path .. " (version " .. v.id .. ", sha256 " .. v.sha256 .. ")")
      return 0
    end
    return 2
  end)
  if not ok then return cli_fail(code) end
  return code
end

-- ---- the main thread (host serve) -----------------------------------------

local function watching(args)
  return args and args[1] == "--watch-rules"
end

function S.boot(args)
  S.baseline()
  if watching(args) then S.sync_dir() end
  local ok = S.install()
  if ok then
    log.info("rules: generation " .. S.generation() .. " installed")
    return 0
  end
  return 1
end

-- SIGHUP: the changed files of the directory, then the stored set.
function S.reload()
  local out = S.sync_dir()
  local ok, err = S.install()
  if ok then
    log.info("rules: reloaded on SIGHUP, generation " .. S.generation()
             .. (#out.published > 0 and ("; published " .. table.concat(out.published, ", ")) or "")
             .. (#out.refused > 0 and ("; refused: " .. out.refused[1].error) or ""))
  else
    log.error("rules: reload refused, keeping the set in force: " .. tostring(err))
  end
  return 0
end

-- Every second: a publish by another process (or instance) is installed;
-- with --watch-rules, a changed file is pushed and published.
function S.tick(args)
  if watching(args) then
    local out, changed = S.sync_dir()
    if changed then
      log.info("rules: reloaded after a file change: " .. table.concat(out.published, ", "))
    end
  end
  if S.generation() ~= rules.status().generation then S.install() end
  require("shadow").process() -- live checks queued for a shadow version
  return 0
end

return S
