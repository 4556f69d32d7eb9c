-- sms: text messages to phones. Every message is rendered from a template
-- and written to the outbox (sms_outbox), which ops and `host sms list`
-- read. The outbox is the default driver; a real gateway is another driver
-- module named by HOST_SMS_DRIVER (scripts/sms_driver_<name>.lua with a
-- send(row) function), called after the row is stored.
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

function sms.render(template, params)
  local t = templates[template]
  if not t then error("sms: unknown template " .. tostring(template)) end
  return SIGN .. t:gsub("{([%w_]+)}", function(k) return tostring(params[k] or "") end)
end

-- sms.send(ctx, phone, template, params) -> outbox id. Call inside the
-- transaction of the change it reports, so both commit or neither.
function sms.send(ctx, phone, template, params)
  local text = sms.render(template, params)
  local driver = os.getenv("HOST_SMS_DRIVER") or "outbox"
  local _, id = db.exec([[INSERT INTO sms_outbox(phone, template, params, text, driver, status, created_at)
                          VALUES (:phone, :template, :params, :text, :driver, :status, :now) RETURNING id]],
    { phone = phone, template = template, params = json.encode(params), text = text, driver = driver,
      status = driver == "outbox" and "stored" or "queued", now = ctx.now })
  if driver ~= "outbox" then
    local ok, mod = pcall(require, "sms_driver_" .. driver)
    if ok and mod.send then
      local sent, err = pcall(mod.send, { id = id, phone = phone, text = text })
      db.exec("UPDATE sms_outbox SET status = :status WHERE id = :id", { status = sent and "sent" or "failed", id = id })
      if not sent then require("log").warn("sms driver failed: " .. tostring(err)) end
    end
  end
  return id
end

return sms
