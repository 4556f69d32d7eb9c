-- accounts: registration, login, password change and reset as services,
-- on a real database, no server.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local accounts = require "accounts"
local auth = require "auth"

local T = {}

local function who(remote)
  return { now = fx.NOW, remote = remote or "unit" }
end

-- a school in the master list without an account
local function school()
  local s = fx.school({ profile = false })
  fx.one("DELETE FROM accounts WHERE school_id = :id RETURNING id", { id = s.id })
  return s
end

function T.register_makes_the_schools_account_once()
  fx.fresh()
  local s = school()
  local e = fx.err("validation_failed", accounts.register(who(), { province = "1", phone = "2" }))
  assert(#e.fields == 4)
  fx.err("validation_failed", accounts.register(who(),
    { province = "13", city = "1302", school_id = s.id, phone = "13900000001" }))
  local r = assert(accounts.register(who(), { province = "13", city = "1301", school_id = s.id, phone = "13900000001" }))
  assert(r.username == s.code and r.phone == "139****0001")
  assert(fx.count("sms_outbox", "template = 'register'") == 1)
  assert(fx.count("audit_log", "action = 'account.register'") == 1)
  fx.err("already_registered", accounts.register(who(),
    { province = "13", city = "1301", school_id = s.id, phone = "13900000001" }))
  assert(fx.count("sms_outbox") == 1)
end

function T.login_counts_failures_and_opens_a_session()
  fx.fresh()
  local _, account = fx.school()
  fx.one("UPDATE accounts SET password_hash = :h WHERE id = :id RETURNING id",
         { h = auth.hash_password("Secret123"), id = account.id })
  fx.err("validation_failed", accounts.login(who(), { username = "", password = "" }))
  fx.err("bad_credentials", accounts.login(who(), { username = account.username, password = "wrong1234" }))
  fx.err("bad_credentials", accounts.login(who(), { username = "nobody", password = "wrong1234" }))
  assert(fx.one("SELECT failed_logins FROM accounts WHERE id = :id", { id = account.id }).failed_logins == 1)
  local r, cookie = accounts.login(who(), { username = account.username, password = "Secret123" })
  assert(r and r.role == "school" and r.username == account.username and type(r.csrf_token) == "string")
  assert(cookie:find("HttpOnly", 1, true))
  assert(fx.one("SELECT failed_logins FROM accounts WHERE id = :id", { id = account.id }).failed_logins == 0)
  assert(fx.count("login_addresses", "account_id = :id", { id = account.id }) == 1)
  assert(fx.count("sessions", "account_id = :id", { id = account.id }) == 1)
end

function T.change_and_reset_a_password()
  fx.fresh()
  local _, account = fx.school()
  accounts.set_password(account.id, "Secret123", false)
  fx.one("UPDATE accounts SET phone = '13900000009' WHERE id = :id RETURNING id", { id = account.id })
  local a = fx.one("SELECT * FROM accounts WHERE id = :id", { id = account.id })
  local me = { account = a, session = { id_hash = "none" }, now = fx.NOW, remote = "unit" }
  fx.err("validation_failed", accounts.change_password(me, { old = "nope", new = "Better123" }))
  local e = fx.err("validation_failed", accounts.change_password(me, { old = "Secret123", new = "Secret123" }))
  assert(e.fields[1].code == "same_password")
  assert(accounts.change_password(me, { old = "Secret123", new = "Better123" }))
  fx.err("validation_failed", accounts.forgot(who(), { username = "" }))
  assert(accounts.forgot(who(), { username = "nobody" }))
  assert(fx.count("sms_outbox") == 0)
  assert(accounts.forgot(who(), { username = account.username }))
  assert(fx.count("password_resets", "account_id = :id", { id = account.id }) == 1)
  e = fx.err("validation_failed", accounts.reset(who(), { username = account.username, code = "000000x",
                                                           new = "Newer1234" }))
  assert(e.fields[1].code == "invalid_code")
  assert(fx.one("SELECT attempts FROM password_resets WHERE account_id = :id", { id = account.id }).attempts == 1)
  fx.err("validation_failed", accounts.reset(who(), { username = account.username, code = "1", new = "short" }))
end

function T.me_names_the_unit()
  fx.fresh()
  local s, account = fx.school()
  local a = fx.one("SELECT * FROM accounts WHERE id = :id", { id = account.id })
  local me = accounts.me(a, "csrf")
  assert(me.csrf_token == "csrf" and me.school_code == s.code and me.city_name == "石家庄市")
  assert(me.province_name == "河北省" and me.role == "school")
end

return T
