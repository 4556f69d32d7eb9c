-- rules_store: province rules as versioned data, under the name its
-- callers know. The rules services are in their own files, by topic:
--   rules_versions.lua  the store: versions, candidates, check, push, cases, test
--   rules_publish.lua   publish and rollback
--   rules_replay.lua    replay a version over a plan's declarations
--   rules_sync.lua      this process's set (install), the baseline, the rules
--                       directory, and `host serve`'s boot, reload and tick
--   rules_cli.lua       `host rules versions|push|publish|export`, the baseline of migrate
-- They return a result or nil and an error value. Here the entry points
-- host/main.c runs (boot, reload, tick, cli, baseline_cli) and, for the
-- handlers that expect a raise (api_rules.lua), the same functions raising
-- their error value instead, which app.lua answers with the same status
-- and body as a returned one.
local errors = require "errors"
local V = require "rules_versions"

local S = {}

-- fn's (nil, err) raised as err.
local function raising(fn)
  return function(...)
    local r = table.pack(fn(...))
    if r[1] == nil and errors.is(r[2]) then error(r[2], 0) end
    return table.unpack(r, 1, r.n)
  end
end

-- the store (rules_versions)
S.EMPTY, S.MAX_SOURCE, S.MAX_NOTE, S.MAX_LINES = V.EMPTY, V.MAX_SOURCE, V.MAX_NOTE, V.MAX_LINES
S.sha256 = V.sha256
S.is_name = V.is_name
S.in_force = V.in_force
S.generation = V.generation
S.files_in_force = V.files_in_force
S.candidate = V.candidate
S.present = V.present
S.list = V.list
S.cases = V.cases
S.record = V.record
S.get = raising(V.get)
S.check = raising(V.check)
S.push = raising(V.push)
S.test = raising(V.test)
S.put_cases = raising(V.put_cases)

-- publish, rollback, replay
S.publish = raising(function(...) return require("rules_publish").publish(...) end)
S.rollback = raising(function(...) return require("rules_publish").rollback(...) end)
S.replay = raising(function(...) return require("rules_replay").replay(...) end)

-- this process and the rules directory; host/main.c's entry points
for _, name in ipairs({ "install", "baseline", "sync_dir", "boot", "reload", "tick" }) do
  S[name] = function(...) return require("rules_sync")[name](...) end
end
for _, name in ipairs({ "cli", "baseline_cli" }) do
  S[name] = function(...) return require("rules_cli")[name](...) end
end

-- Every second (host/main.c's loop): the rules' tick, then the SMS
-- outbox's deliveries to a gateway (sms.deliver), outside any
-- transaction; a failure of one does not stop the other.
do
  local rules_tick = S.tick
  function S.tick(...)
    local ok, rc = pcall(rules_tick, ...)
    local sent, err = pcall(function() return require("sms").deliver() end)
    if not sent then require("log").error("sms: delivery: " .. tostring(err)) end
    if not ok then error(rc, 0) end
    return rc
  end
end

return S
