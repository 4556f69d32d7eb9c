-- sms: text messages to phones, in two phases. sms.send, inside the
-- transaction of the change it reports, renders the message and stores it
-- in the outbox (sms_outbox), which ops and `host sms list` read; nothing
-- else happens there, so no request holds the process's one writer
-- (host/dbq.c) during a network call. The outbox is the default driver
-- (status 'stored': the row is the message). A real gateway is another
-- driver named by HOST_SMS_DRIVER: scripts/sms_driver_<name>.lua, or a
-- path to a .lua file, returning a table with send(msg), msg {id, phone,
-- text}, which raises (or returns false, or nil and an error) on failure.
-- Its rows are stored 'pending' and delivered by sms.deliver, which the
-- main thread's tick runs every second (rules_store.tick), outside any
-- transaction: a due row is claimed (pending -> sending, an UPDATE ...
-- WHERE status = 'pending', so that of several instances on one database
-- one sends it), sent, and ended 'sent', or 'pending' again after a
-- backoff, or 'failed' after HOST_SMS_ATTEMPTS attempts (last_error says
-- why). A claim is a lease of LEASE seconds: a row left 'sending' by a
-- process that died is claimed again once it ends, so a driver must give
-- up on a call well within it. Uses: db, json, log.
local db = require "db"
local json = require "json"

local sms = {}

local SIGN = "【1+X证书信息管理服务平台】"

local templates = {
  register = "贵校院校证书试点申报账号已开通。账号：{username}，初始密码：{password}。请登录后修改初始密码，勿向他人泄露。",
  reset_code = "您正在找回账号 {username} 的密码，验证码：{code}，10分钟内有效。如非本人操作请忽略。",
  password_reset = "账号 {username} 的密码已由平台重置，新密码：{password}。请登录后及时修改。",
  review = "贵校申报的“{certificate}”（{plan}）审核结果：{result}。{comment}",
  admin_account = "您的{unit}管理员账号已开通。账号：{username}，初始密码：{password}。请登录后修改初始密码，勿向他人泄露。",
  phone_changed = "账号 {username} 的绑定手机已由平台更换为 {new_phone}（原号码 {old_phone}）。如非本单位申请，请联系平台运维。",
}
sms.templates = templates

sms.BATCH = 20       -- messages one tick sends at most
sms.TICK_SECONDS = 2 -- a tick starts no send after this long (the main loop waits for it)
sms.LEASE = 600      -- seconds a claim holds a row before another may take it

local function env_number(name, default)
  local v = tonumber(os.getenv(name) or "")
  if v and v >= 0 then return math.floor(v) end
  return default
end

-- The delivery settings: attempts before 'failed' (HOST_SMS_ATTEMPTS, 5)
-- and the first retry's delay (HOST_SMS_RETRY_SECONDS, 30), doubled each
-- attempt up to an hour.
function sms.settings()
  return { attempts = math.max(1, env_number("HOST_SMS_ATTEMPTS", 5)),
           retry = env_number("HOST_SMS_RETRY_SECONDS", 30) }
end

-- sms.backoff(attempts, retry) -> seconds until the next attempt after
-- `attempts` failed ones.
function sms.backoff(attempts, retry)
  return math.min(retry * (1 << math.min(attempts - 1, 20)), 3600)
end

function sms.render(template, params)
  local t = templates[template]
  if not t then error("sms: unknown template " .. tostring(template)) end
  return SIGN .. t:gsub("{([%w_]+)}", function(k) return tostring(params[k] or "") end)
end

-- The driver this process is configured with (HOST_SMS_DRIVER).
function sms.driver_name()
  local name = os.getenv("HOST_SMS_DRIVER")
  if not name or name == "" then return "outbox" end
  return name
end

local loaded = {} -- driver name -> module

-- sms.driver(name) -> the driver module, or nil and why not.
function sms.driver(name)
  if loaded[name] then return loaded[name] end
  local ok, mod
  if name:match("%.lua$") then
    local chunk, err = loadfile(name)
    if not chunk then return nil, err end
    ok, mod = pcall(chunk)
  else
    ok, mod = pcall(require, "sms_driver_" .. name)
  end
  if not ok then return nil, tostring(mod) end
  if type(mod) ~= "table" or type(mod.send) ~= "function" then
    return nil, "sms driver " .. name .. " has no send(msg)"
  end
  loaded[name] = mod
  return mod
end

-- sms.send(ctx, phone, template, params) -> outbox id. Call inside the
-- transaction of the change it reports, so both commit or neither; it
-- only stores the row (a gateway's is sent later by sms.deliver).
function sms.send(ctx, phone, template, params)
  local text = sms.render(template, params)
  local driver = sms.driver_name()
  local _, id = db.exec([[INSERT INTO sms_outbox(phone, template, params, text, driver, status, next_at,
                                                 created_at)
                          VALUES (:phone, :template, :params, :text, :driver, :status, :next_at, :now) RETURNING id]],
    { phone = phone, template = template, params = json.encode(params), text = text, driver = driver,
      status = driver == "outbox" and "stored" or "pending", next_at = driver ~= "outbox" and ctx.now or nil,
      now = ctx.now })
  return id
end

-- Calls the driver for one claimed row: true, or nil and the error.
local function call(driver, row)
  local ok, r, err = pcall(driver.send, { id = row.id, phone = row.phone, text = row.text })
  if not ok then return nil, tostring(r) end
  if r == false or (r == nil and err ~= nil) then return nil, tostring(err or "the driver refused") end
  return true
end

-- sms.deliver([o]) -> messages sent, failed for good, retried. Never inside
-- a transaction: each claim and each outcome is a write of its own, the
-- gateway is called between them. o (for tests): {now = clock, driver_name,
-- driver (a module), clock = function returning the time}.
function sms.deliver(o)
  o = o or {}
  local name = o.driver_name or sms.driver_name()
  if name == "outbox" then return 0, 0, 0 end
  local clock = o.clock or os.time
  local started = o.now or clock()
  -- a read first: most ticks find nothing and write nothing
  local due = db.query([[SELECT id FROM sms_outbox
                         WHERE status IN ('pending', 'sending') AND next_at <= :now AND driver = :driver
                         ORDER BY next_at, id LIMIT :n]],
                       { now = started, driver = name, n = sms.BATCH })
  if #due == 0 then return 0, 0, 0 end
  local driver, derr = o.driver, nil
  if not driver then driver, derr = sms.driver(name) end
  local set = sms.settings()
  local sent, failed, retried = 0, 0, 0
  for _, r in ipairs(due) do
    local now = o.now or clock()
    if now - started >= sms.TICK_SECONDS then break end
    -- the claim: pending and due, or sending with its lease over (its
    -- process died mid-send); only one claimant's UPDATE changes the row
    local n = db.exec([[UPDATE sms_outbox SET status = 'sending', attempts = attempts + 1, next_at = :lease
                        WHERE id = :id AND next_at <= :now
                          AND (status = 'pending' OR status = 'sending')]],
                      { id = r.id, now = now, lease = now + sms.LEASE })
    if n == 1 then
      local row = db.one("SELECT id, phone, text, attempts FROM sms_outbox WHERE id = ?", r.id)
      local ok, err
      if driver then ok, err = call(driver, row) else err = derr end
      now = o.now or clock()
      if ok then
        db.exec([[UPDATE sms_outbox SET status = 'sent', sent_at = :now, next_at = NULL, last_error = NULL
                  WHERE id = :id AND status = 'sending']], { id = row.id, now = now })
        sent = sent + 1
      else
        local final = row.attempts >= set.attempts
        db.exec([[UPDATE sms_outbox SET status = :status, next_at = :next_at, last_error = :err
                  WHERE id = :id AND status = 'sending']],
                { id = row.id, status = final and "failed" or "pending", err = tostring(err):sub(1, 500),
                  next_at = not final and now + sms.backoff(row.attempts, set.retry) or nil })
        require("log").warn("sms " .. row.id .. ": attempt " .. row.attempts .. " failed"
                            .. (final and " (the last)" or "") .. ": " .. tostring(err))
        if final then failed = failed + 1 else retried = retried + 1 end
      end
    end
  end
  return sent, failed, retried
end

return sms
