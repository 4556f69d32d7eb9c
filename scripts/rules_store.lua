-- rules_store: the entry points of province rules as versioned data that
-- host/main.c runs (boot, reload, tick, which also delivers the SMS
-- outbox; cli, baseline_cli), and the baseline and install the unit
-- tests' fixture calls. The services are in
-- their own files, by topic, and callers require them directly:
--   rules_versions.lua  the store: versions, candidates, check, push, cases, test
--   rules_publish.lua   publish and rollback
--   rules_replay.lua    replay a version over a plan's declarations
--   rules_sync.lua      this process's set (install), the baseline, the rules
--                       directory, and `host serve`'s boot, reload and tick
--   rules_cli.lua       `host rules versions|push|publish|export`, the baseline of migrate
-- They return a result or nil and an error value.
local S = {}

-- this process and the rules directory; host/main.c's entry points
for _, name in ipairs({ "install", "baseline", "sync_dir", "boot", "reload", "tick" }) do
  S[name] = function(...) return require("rules_sync")[name](...) end
end
for _, name in ipairs({ "cli", "baseline_cli" }) do
  S[name] = function(...) return require("rules_cli")[name](...) end
end

-- the decision record of a version id (scripts/reviews.lua reads it here)
function S.record(id) return require("rules_versions").record(id) end

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
