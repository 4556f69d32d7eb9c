-- A fake SMS gateway for the API tests: a driver (scripts/sms.lua) named
-- by its path, HOST_SMS_DRIVER=<this file>. Each call appends a JSON line
-- {event = "call", id, phone, tag} to $SMS_FAKE_LOG; while the file
-- $SMS_FAKE_BLOCK exists a call hangs (logged "blocked", then "released"),
-- as a gateway that does not answer; $SMS_FAKE_FAILS ("phone=n,...")
-- makes the first n calls for that phone raise, and a line per sent
-- message {event = "sent", id} follows a call that succeeds. The calls
-- for a phone are counted in the log, as a real gateway would count them:
-- of several instances on one database, any may make the next attempt.
local json = require "json"

local D = {}

local function log(entry)
  local path = os.getenv("SMS_FAKE_LOG")
  if not path then return end
  local f = assert(io.open(path, "a"))
  entry.tag = os.getenv("SMS_FAKE_TAG")
  f:write(json.encode(entry), "\n")
  f:close()
end

local function exists(path)
  local f = path and io.open(path, "r")
  if f then f:close() return true end
  return false
end

local calls = {} -- phone -> calls seen by this process, without a log

-- The calls for phone so far (this one included: it is logged first).
local function count(phone)
  local path = os.getenv("SMS_FAKE_LOG")
  local f = path and io.open(path, "r")
  if not f then
    calls[phone] = (calls[phone] or 0) + 1
    return calls[phone]
  end
  local n = 0
  for line in f:lines() do
    local e = json.decode(line)
    if e.event == "call" and e.phone == phone then n = n + 1 end
  end
  f:close()
  return n
end

function D.send(msg)
  log({ event = "call", id = msg.id, phone = msg.phone })
  local block = os.getenv("SMS_FAKE_BLOCK")
  if exists(block) then
    log({ event = "blocked", id = msg.id })
    while exists(block) do os.execute("sleep 0.05") end
    log({ event = "released", id = msg.id })
  end
  local seen = count(msg.phone)
  for phone, n in (os.getenv("SMS_FAKE_FAILS") or ""):gmatch("(%d+)=(%d+)") do
    if phone == msg.phone and seen <= tonumber(n) then
      error("fake gateway: no answer for " .. phone .. " (call " .. seen .. ")")
    end
  end
  log({ event = "sent", id = msg.id })
  return true
end

return D
