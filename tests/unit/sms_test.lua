-- sms: the two phases (scripts/sms.lua) on a real database, no server:
-- sms.send stores a row only, sms.deliver (the main thread's tick) claims
-- due rows, calls the driver outside any transaction, retries with a
-- backoff and ends a row failed after the last attempt. The time is
-- passed in (o.now), so no test waits.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local sms = require "sms"

local T = {}

-- A fake gateway that records its calls; fail(phone) says whether to raise.
local function gateway(fail)
  local g = { calls = {} }
  g.send = function(msg)
    g.calls[#g.calls + 1] = msg
    if fail and fail(msg.phone) then error("gateway down") end
    return true
  end
  return g
end

local function row(id)
  return fx.one("SELECT status, attempts, next_at, last_error, sent_at, driver FROM sms_outbox WHERE id = ?", id)
end

-- Runs fn with sms.driver_name answering name (HOST_SMS_DRIVER cannot be
-- set from Lua).
local function with_driver(name, fn)
  local saved = sms.driver_name
  sms.driver_name = function() return name end
  local ok, e = pcall(fn)
  sms.driver_name = saved
  assert(ok, e)
end

function T.the_outbox_driver_stores_and_never_delivers()
  fx.fresh({ rules = false })
  local id = sms.send({ now = fx.NOW }, "13800138000", "reset_code", { username = "u", code = "123456" })
  local r = row(id)
  assert(r.driver == "outbox" and r.status == "stored" and r.next_at == nil and r.attempts == 0)
  assert(select(1, sms.deliver({ now = fx.NOW + 10 })) == 0)
  assert(row(id).status == "stored")
end

function T.send_stores_pending_and_the_gateway_is_called_after_the_commit()
  fx.fresh({ rules = false })
  local g = gateway()
  local db = require "db"
  with_driver("fake", function()
    local id = db.transaction(function()
      return sms.send({ now = fx.NOW }, "13800138000", "review", { certificate = "C", plan = "P", result = "通过" })
    end)
    assert(#g.calls == 0, "nothing sent inside the transaction")
    local r = row(id)
    assert(r.driver == "fake" and r.status == "pending" and r.next_at == fx.NOW and r.attempts == 0)
    local sent = sms.deliver({ now = fx.NOW, driver_name = "fake", driver = g })
    assert(sent == 1 and #g.calls == 1 and g.calls[1].id == id and g.calls[1].phone == "13800138000")
    assert(g.calls[1].text:find("审核结果：通过", 1, true))
    r = row(id)
    assert(r.status == "sent" and r.attempts == 1 and r.sent_at == fx.NOW and r.next_at == nil)
    -- sent is sent: the next tick calls nothing
    assert(sms.deliver({ now = fx.NOW + 100, driver_name = "fake", driver = g }) == 0 and #g.calls == 1)
  end)
end

function T.a_failing_gateway_is_retried_with_backoff_then_failed()
  fx.fresh({ rules = false })
  local g = gateway(function() return true end)
  local set = sms.settings() -- HOST_SMS_ATTEMPTS, HOST_SMS_RETRY_SECONDS unset in bin/unit: 5, 30
  assert(set.attempts == 5 and set.retry == 30)
  assert(sms.backoff(1, 30) == 30 and sms.backoff(2, 30) == 60 and sms.backoff(3, 30) == 120)
  assert(sms.backoff(40, 30) == 3600, "at most an hour")
  local id
  with_driver("fake", function()
    id = sms.send({ now = fx.NOW }, "13800138001", "reset_code", { username = "u", code = "1" })
  end)
  local t = fx.NOW
  for attempt = 1, set.attempts do
    local _, failed, retried = sms.deliver({ now = t, driver_name = "fake", driver = g })
    assert(#g.calls == attempt, "attempt " .. attempt)
    local r = row(id)
    assert(r.attempts == attempt and r.last_error:find("gateway down", 1, true))
    if attempt < set.attempts then
      assert(retried == 1 and failed == 0 and r.status == "pending")
      assert(r.next_at == t + sms.backoff(attempt, set.retry), "next attempt after the backoff")
      -- not due before its time
      sms.deliver({ now = r.next_at - 1, driver_name = "fake", driver = g })
      assert(#g.calls == attempt, "no call before next_at")
      t = r.next_at
    else
      assert(failed == 1 and r.status == "failed" and r.next_at == nil, "failed after the last attempt")
    end
  end
  sms.deliver({ now = t + 86400, driver_name = "fake", driver = g })
  assert(#g.calls == set.attempts, "a failed message is not retried")
end

function T.a_claimed_row_is_not_sent_twice_until_its_lease_ends()
  fx.fresh({ rules = false })
  local g = gateway()
  local id
  with_driver("fake", function()
    id = sms.send({ now = fx.NOW }, "13800138002", "reset_code", { username = "u", code = "1" })
  end)
  -- another instance claimed it (the UPDATE deliver itself runs) and is sending
  local db = require "db"
  local n = db.exec([[UPDATE sms_outbox SET status = 'sending', attempts = attempts + 1, next_at = :lease
                      WHERE id = :id AND next_at <= :now AND (status = 'pending' OR status = 'sending')]],
                    { id = id, now = fx.NOW, lease = fx.NOW + sms.LEASE })
  assert(n == 1)
  assert(db.exec([[UPDATE sms_outbox SET status = 'sending' WHERE id = :id AND next_at <= :now
                   AND (status = 'pending' OR status = 'sending')]], { id = id, now = fx.NOW }) == 0,
         "a second claim changes nothing")
  sms.deliver({ now = fx.NOW + 1, driver_name = "fake", driver = g })
  assert(#g.calls == 0, "not sent while another holds it")
  -- that instance died: after the lease the row is claimed again
  sms.deliver({ now = fx.NOW + sms.LEASE, driver_name = "fake", driver = g })
  assert(#g.calls == 1 and row(id).status == "sent" and row(id).attempts == 2)
end

function T.rows_of_another_driver_and_an_unloadable_driver()
  fx.fresh({ rules = false })
  local g = gateway()
  local a, b
  with_driver("other", function()
    a = sms.send({ now = fx.NOW }, "13800138003", "reset_code", { username = "u", code = "1" })
  end)
  with_driver("missing_gateway", function()
    b = sms.send({ now = fx.NOW }, "13800138004", "reset_code", { username = "u", code = "1" })
  end)
  sms.deliver({ now = fx.NOW, driver_name = "fake", driver = g })
  assert(#g.calls == 0 and row(a).status == "pending", "another driver's rows are left to it")
  -- a driver that does not load is a failed attempt, retried, not a raise
  sms.deliver({ now = fx.NOW, driver_name = "missing_gateway" })
  local r = row(b)
  assert(r.status == "pending" and r.attempts == 1 and r.last_error:find("sms_driver_missing_gateway", 1, true),
         tostring(r.last_error))
end

return T
