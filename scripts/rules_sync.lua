-- rules_sync: the stored rules and this process. Installs the stored set
-- in force under its generation (rules.install); gives every province its
-- baseline version; the developer's loop over the rules directory (a
-- changed file is pushed and published: SIGHUP, POST
-- /api/admin/rules/reload, `host serve --watch-rules`); and the main
-- thread's entry points of `host serve` (boot, reload on SIGHUP, tick four
-- times a second), which host/main.c runs through rules_store.lua.
-- Uses: db, rules, host, log, util, rules_versions, shadow.
local db = require "db"
local rules = require "rules"
local host = require "host"
local log = require "log"
local util = require "util"
local V = require "rules_versions"

local M = {}

local function now() return require("clock").now() end

local function file_of(code)
  return util.read_file(host.rules_dir .. "/" .. code .. ".lua")
end

local function one_line(s) return require("province_rules").one_line(s) end

local function remember_file(code, sha, version_id, err)
  db.exec([[INSERT INTO rule_files(province, sha256, version_id, error)
            VALUES (:province, :sha256, :version_id, :error)
            ON CONFLICT (province) DO UPDATE SET sha256 = excluded.sha256,
              version_id = excluded.version_id, error = excluded.error]],
          { province = code, sha256 = sha, version_id = version_id, error = err })
end

-- M.install() -> true | nil, message: installs the stored set under its
-- generation (the set in force stays when it does not install).
function M.install()
  for _ = 1, 3 do
    local gen = V.generation()
    local files = V.files_in_force()
    if V.generation() == gen then
      if #files == 0 then return nil, "no rule versions are stored" end
      local ok, broken = rules.install(files, gen)
      if not ok then
        log.error("rules: the stored set did not install: " .. tostring(broken))
        return nil, broken
      end
      for _, b in ipairs(broken) do
        log.error("rules: province " .. b.province .. "'s version in force did not load; "
                  .. "its rule calls fail: " .. one_line(b.error))
      end
      return true
    end
  end
  return nil, "the stored rules kept changing"
end

-- M.catch_up(): installs the stored set when its generation is newer than
-- what this process last installed or refused (a publish by another
-- instance): run by the tick, and on PostgreSQL by each request before it
-- pins its set (M.request, from app.handle), so that an answer after a
-- publish on any instance decides under the new set. One query when
-- nothing changed; of the workers that find a new generation at once, one
-- probes it (rules.install).
function M.catch_up()
  if V.generation() ~= rules.stored() then M.install() end
end

-- M.request(): catch_up where other instances may publish (PostgreSQL).
-- On SQLite the instance is the only server of its file: its own publishes
-- install at once, and the CLI's (another process) within a tick.
local shared = db.driver == "postgresql"
function M.request()
  if shared then M.catch_up() end
end

-- M.baseline() -> the number of versions added. Gives every province with
-- no version its file of the rules directory as version 1 (published), and
-- a province of the catalogue without a file an empty override; stores
-- tests/rules/<code>.lua as its cases. Idempotent: run by migrate, seed and
-- serve. The generation stays: what it adds is what an instance already
-- runs (an empty override is the defaults alone).
function M.baseline()
  local provinces = {}
  for _, p in ipairs(db.query("SELECT code FROM provinces")) do provinces[p.code] = true end
  local have = {}
  for _, r in ipairs(db.query("SELECT DISTINCT province FROM rule_versions")) do have[r.province] = true end
  local added = 0
  db.transaction(function()
    local t = now()
    for _, code in ipairs(V.names()) do
      if not have[code] then
        local text = file_of(code)
        local source = text or ((provinces[code]) and V.EMPTY)
        if code == "default" and not source then
          error("rules: " .. host.rules_dir .. "/default.lua is missing", 0)
        end
        if source then
          local id = V.insert(code, source, "published",
            text and ("随平台发布的基线规则 rules/" .. code .. ".lua") or "本省暂无自定义规则",
            "平台基线", nil, t)
          if text then remember_file(code, V.sha256(text), id) end
          local cases = util.read_file(host.root .. "/tests/rules/" .. code .. ".lua")
          if cases and not db.one("SELECT 1 AS x FROM rule_cases WHERE province = ?", code) then
            db.exec("INSERT INTO rule_cases(province, source, updated_at) VALUES (:province, :source, :t)",
                    { province = code, source = cases, t = t })
          end
          added = added + 1
        end
      end
    end
  end)
  return added
end

-- Why the set with text as code's file does not load, or nil.
local function load_error(code, text)
  local set, broken = rules.load(V.candidate(code, text, 0))
  if not set then return broken end
  for _, b in ipairs(broken) do
    if b.province == code then return b.error end
  end
  return nil
end

-- M.sync_dir() -> {published = {code...}, refused = {{province, error}}}, changed
-- Pushes and publishes every file of the rules directory whose text
-- changed since it last went in force. A refused file is remembered by its
-- text and not tried again until it changes.
function M.sync_dir()
  local out = { published = {}, refused = {} }
  local known = {}
  for _, r in ipairs(db.query("SELECT province, sha256, error FROM rule_files")) do known[r.province] = r end
  local changed = false
  for _, code in ipairs(V.names()) do
    local text = file_of(code)
    local sha = text and V.sha256(text)
    local k = known[code]
    if not text and k and k.error then
      db.exec("DELETE FROM rule_files WHERE province = ?", code) -- a refused file removed
    elseif text and k and k.sha256 == sha then
      if k.error then out.refused[#out.refused + 1] = { province = code, error = k.error } end
    elseif text then
      local cur = V.in_force(code)
      if cur and cur.sha256 == sha then
        remember_file(code, sha, cur.id)
      else
        local err = load_error(code, text)
        if err then
          remember_file(code, sha, nil, err)
          out.refused[#out.refused + 1] = { province = code, error = err }
          log.error("rules: rules/" .. code .. ".lua refused, the version in force stays: " .. one_line(err))
        else
          db.transaction(function()
            local prev = V.in_force(code)
            if prev then db.exec("UPDATE rule_versions SET status = 'retired' WHERE id = ?", prev.id) end
            local id = V.insert(code, text, "published", "来自规则文件 rules/" .. code .. ".lua",
                                "规则文件 rules/" .. code .. ".lua", nil, now())
            remember_file(code, sha, id)
            V.bump()
          end)
          out.published[#out.published + 1] = code
          changed = true
        end
      end
    end
  end
  return out, changed
end

-- ---- the main thread (host serve) -----------------------------------------

local function watching(args)
  return args and args[1] == "--watch-rules"
end

function M.boot(args)
  M.baseline()
  if watching(args) then M.sync_dir() end
  local ok = M.install()
  if ok then
    log.info("rules: generation " .. V.generation() .. " installed")
    return 0
  end
  return 1
end

-- SIGHUP: the changed files of the directory, then the stored set.
function M.reload()
  local out = M.sync_dir()
  local ok, err = M.install()
  if ok then
    log.info("rules: reloaded on SIGHUP, generation " .. V.generation()
             .. (#out.published > 0 and ("; published " .. table.concat(out.published, ", ")) or "")
             .. (#out.refused > 0 and ("; refused: " .. out.refused[1].error) or ""))
  else
    log.error("rules: reload refused, keeping the set in force: " .. tostring(err))
  end
  return 0
end

-- Each tick (four a second): a publish by another process or instance is
-- installed (catch_up);
-- with --watch-rules, a changed file is pushed and published.
function M.tick(args)
  if watching(args) then
    local out, changed = M.sync_dir()
    if changed then
      log.info("rules: reloaded after a file change: " .. table.concat(out.published, ", "))
    end
  end
  M.catch_up()
  require("shadow").process() -- live checks queued for a shadow version
  return 0
end

return M
