-- ratelimit: sliding-window counters in SQLite for logins and SMS.
-- Limits come from the environment so a deployment can tune them.
local db = require "db"

local ratelimit = {}

local defaults = {
  sms_per_phone_hour = 5,
  sms_per_client_hour = 30,
  login_per_client_5min = 30,
  login_failures_before_lock = 5,
  login_failures_account = 20,
  lock_seconds = 900,
}

function ratelimit.limit(name)
  local env = os.getenv("HOST_" .. name:upper())
  return math.tointeger(tonumber(env or "")) or defaults[name]
end

-- ratelimit.count(key, window, now) -> the events of key in the window.
function ratelimit.count(key, window, now)
  return db.one("SELECT count(*) AS n FROM rate_events WHERE key = ? AND at > ?",
                key, now - window).n
end

-- ratelimit.hit(key, now) -> the event's id: counts one event of key.
function ratelimit.hit(key, now)
  local _, id = db.exec("INSERT INTO rate_events(key, at) VALUES (?, ?) RETURNING rowid", key, now)
  if math.random(50) == 1 then
    db.exec("DELETE FROM rate_events WHERE at < ?", now - 86400)
  end
  return id
end

-- ratelimit.unhit(id): takes back the event id (of ratelimit.hit).
function ratelimit.unhit(id)
  db.exec("DELETE FROM rate_events WHERE rowid = ?", id)
end

-- ratelimit.allow(key, limit, window, now) -> boolean; counts the event
-- when allowed.
function ratelimit.allow(key, limit, window, now)
  if ratelimit.count(key, window, now) >= limit then return false end
  ratelimit.hit(key, now)
  return true
end

return ratelimit
