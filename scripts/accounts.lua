-- accounts: password rules and account helpers shared by the API and the
-- CLI (user add, resets), and the account's own services: registration
-- (立即申报), login and logout, /api/me, password change and reset by SMS
-- code. The services take who ({account, session, now, remote}: a
-- request's ctx, or a plain table) and a form, and return a result or nil
-- and an error value (scripts/errors.lua).
-- Uses: db, auth, errors, util, sms, audit, session, ratelimit, people.
local db = require "db"
local auth = require "auth"
local errors = require "errors"
local util = require "util"
local sms = require "sms"
local audit = require "audit"
local session = require "session"
local ratelimit = require "ratelimit"

local accounts = {}

-- Letters and digits without look-alikes (0/O, 1/l/I).
local ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"

-- A random initial password: 10 characters with a letter and a digit.
function accounts.random_password()
  while true do
    local p = auth.random_string(10, ALPHABET)
    if p:match("%a") and p:match("%d") then return p end
  end
end

-- accounts.password_problem(pw) -> nil | Chinese message
function accounts.password_problem(pw)
  if type(pw) ~= "string" or pw == "" then return "请输入新密码" end
  if #pw < 8 then return "密码至少 8 位" end
  if #pw > 64 then return "密码不能超过 64 位" end
  if not pw:match("%a") or not pw:match("%d") then return "密码须同时包含字母和数字" end
  return nil
end

function accounts.set_password(id, pw, must_change)
  db.exec([[UPDATE accounts SET password_hash = :hash, must_change_password = :must_change,
            failed_logins = 0, locked_until = NULL WHERE id = :id]],
          { hash = auth.hash_password(pw), must_change = must_change and 1 or 0, id = id })
end

-- The key of a username's account-wide count of failed logins
-- (ratelimit's rate_events).
function accounts.fail_key(username)
  return "login:fail:" .. username
end

-- accounts.clear_failures(username): ends every lock of username, on every
-- address (ops' unlock, a password reset).
function accounts.clear_failures(username)
  db.exec("DELETE FROM rate_events WHERE key = ?", accounts.fail_key(username))
  db.exec([[DELETE FROM rate_events WHERE key >= 'login:addr:' AND key < 'login:addr;'
            AND substr(key, instr(key, '|') + 1) = ?]], username)
end

-- accounts.public(row) -> what /api/me shows of an account
function accounts.public(a)
  -- the person by name with the unit (issue 14), for the header of the pages
  local who = a.id and require("people").of(a.id)
  return {
    id = a.id, username = a.username, role = a.role,
    province = a.province_code, city = a.city_code, school_id = a.school_id,
    must_change_password = a.must_change_password == true or a.must_change_password == 1,
    name = who and who.name or a.username, unit = who and who.unit or nil,
  }
end

-- accounts.password_error(body, field) -> nil when body[field] is a
-- good new password, else the one-field 422 saying why not.
function accounts.password_error(body, field)
  local problem = accounts.password_problem(body[field])
  if problem then return errors.field(field, "weak_password", problem) end
  return nil
end

-- ---- registration ----------------------------------------------------------

-- Past a limit of SMS per phone or per client address: raises rate_limited
-- (inside the transaction, to roll it back).
local function sms_allowed(who, phone)
  local now = who.now
  if not ratelimit.allow("sms:phone:" .. phone, ratelimit.limit("sms_per_phone_hour"), 3600, now)
      or not ratelimit.allow("sms:client:" .. (who.remote or ""),
                             ratelimit.limit("sms_per_client_hour"), 3600, now) then
    errors.raise("rate_limited", "短信发送过于频繁，请稍后再试")
  end
end

local transaction = errors.protect(function(fn) return db.transaction(fn) end)

-- accounts.register(who, b) -> {username, phone (masked)}, or nil and an
-- error value (validation_failed, already_registered, rate_limited).
-- b: {province, city, school_id, phone}: the school's account, named by
-- its code, with an initial password sent to the phone by SMS.
function accounts.register(who, b)
  local f = errors.fields()
  if type(b.province) ~= "string" or not b.province:match("^%d%d$") then
    f.add("province", "required", "请选择省份")
  end
  if type(b.city) ~= "string" or not b.city:match("^%d%d%d%d$") then
    f.add("city", "required", "请选择城市")
  end
  if math.type(b.school_id) ~= "integer" then
    f.add("school_id", "required", "请选择院校")
  end
  if not util.is_mobile(b.phone) then
    f.add("phone", "invalid", "请输入正确的 11 位手机号码")
  end
  local err = f.err()
  if err then return nil, err end
  -- the school as the master list has it: read again inside the write,
  -- since a deactivation or a move may commit while the password hashes
  local function listed()
    local s = db.one([[SELECT id, code, name, province_code, city_code FROM schools
                       WHERE id = ? AND active = 1]], b.school_id)
    if s and s.province_code == b.province and s.city_code == b.city then return s end
    return nil, errors.field("school_id", "not_in_city", "所选院校不在该省市的院校总库中，请联系省级或地市级教育行政部门",
                             "所选院校不在该省市的院校总库中")
  end
  local school, serr = listed()
  if not school then return nil, serr end
  local password = accounts.random_password()
  local hash = auth.hash_password(password)   -- slow: outside the write lock
  local username
  local ok
  ok, err = transaction(function()
    school = errors.assert(listed())
    username = school.code
    if db.one("SELECT 1 AS x FROM accounts WHERE school_id = ?", school.id) then
      errors.raise("already_registered", "该院校已注册账号，请直接登录或找回密码")
    end
    if db.one("SELECT 1 AS x FROM accounts WHERE username = ?", username) then
      errors.raise("already_registered", "账号已存在")
    end
    sms_allowed(who, b.phone)
    local _, id = db.exec([[INSERT INTO accounts(username, password_hash, role, province_code,
                              city_code, school_id, phone, must_change_password, created_at)
                            VALUES (:username, :hash, 'school', :province, :city, :school, :phone, 1, :now) RETURNING id]],
      { username = username, hash = hash, province = school.province_code, city = school.city_code,
        school = school.id, phone = b.phone, now = who.now })
    sms.send(who, b.phone, "register", { username = username, password = password })
    audit.log(who, "account.register", "account", id,
              { after = "active", province = school.province_code, city = school.city_code,
                detail = { school_id = school.id, phone = b.phone }, actor = username })
    return true
  end)
  if not ok then return nil, err end
  return { username = username, phone = b.phone:sub(1, 3) .. "****" .. b.phone:sub(8) }
end

-- ---- login -------------------------------------------------------------------

local DUMMY_HASH

-- Failed logins are counted per (client address, username), locking that
-- pair only, so that a stranger's guesses do not lock the owner out of
-- the owner's own address; and per username for the attempts from
-- addresses the account has not logged in from lately, with a higher
-- threshold, so that guessing from many addresses is slowed too. Names
-- count alike whether the account exists or not, so that a lock says
-- nothing about it.
local KNOWN_SECONDS = 30 * 86400     -- an address stays known that long

-- The key of the count of (addr, username); addresses hold no "|", so a
-- key names one pair.
local function pair_key(username, addr)
  return "login:addr:" .. addr .. "|" .. username
end

-- Whether account a logged in from addr lately.
local function known_address(a, addr, now)
  return a ~= nil and db.one([[SELECT 1 AS x FROM login_addresses
                               WHERE account_id = :id AND addr = :addr AND last_at > :since]],
                             { id = a.id, addr = addr, since = now - KNOWN_SECONDS }) ~= nil
end

-- accounts.login(who, b) -> {role, csrf_token, username,
-- must_change_password} and the session's Set-Cookie value, or nil and an
-- error value (validation_failed, rate_limited, locked, bad_credentials).
-- b: {username, password}; who: {now, remote}.
function accounts.login(who, b)
  if type(b.username) ~= "string" or type(b.password) ~= "string"
      or b.username == "" or b.password == "" or #b.username > 64 then
    return nil, errors.field("username", "required", "请输入账号和密码")
  end
  if not db.transaction(ratelimit.allow, "login:client:" .. (who.remote or ""),
                        ratelimit.limit("login_per_client_5min"), 300, who.now) then
    return nil, errors.new("rate_limited", "登录尝试过于频繁，请稍后再试")
  end
  -- Each attempt counts as a failure up front, so parallel guesses cannot
  -- slip past the limit together; a success clears its address's count.
  local max, window = ratelimit.limit("login_failures_before_lock"), ratelimit.limit("lock_seconds")
  local account_max = ratelimit.limit("login_failures_account")
  local remote = who.remote or ""
  local a = db.one([[SELECT id, username, password_hash, role, active, province_code, city_code,
                            must_change_password FROM accounts WHERE username = ?]], b.username)
  local known = known_address(a, remote, who.now)
  local pair, wide = pair_key(b.username, remote), accounts.fail_key(b.username)
  -- true when a lock is in force for this address
  local function locked()
    return ratelimit.count(pair, window, who.now) >= max
        or (not known and ratelimit.count(wide, window, who.now) >= account_max)
  end
  local wide_hit                      -- the attempt's account-wide event
  if db.transaction(function()
    if locked() then return true end
    ratelimit.hit(pair, who.now)
    if not known then wide_hit = ratelimit.hit(wide, who.now) end
    return false
  end) then
    return nil, errors.new("locked", "密码错误次数过多，账号已暂时锁定，请稍后再试或找回密码")
  end
  DUMMY_HASH = DUMMY_HASH or auth.hash_password("not-a-password-1")
  local ok = auth.verify_password(a and a.password_hash or DUMMY_HASH, b.password)
  if not a or not ok or a.active ~= 1 then
    db.transaction(function()
      if a then
        -- ops sees the account locked while a lock is in force anywhere
        db.exec([[UPDATE accounts SET failed_logins = failed_logins + 1,
                  locked_until = CASE WHEN :locked THEN :lock_until ELSE locked_until END
                  WHERE id = :id]], { locked = locked(), lock_until = who.now + window, id = a.id })
      end
      audit.log(who, "account.login_failed", "account", a and a.id, {
        actor = b.username, province = a and a.province_code, city = a and a.city_code })
    end)
    return nil, errors.new("bad_credentials", "账号或密码错误")
  end
  local csrf, cookie = db.transaction(function()
    db.exec("DELETE FROM rate_events WHERE key = ?", pair)
    if wide_hit then ratelimit.unhit(wide_hit) end     -- it was no failure
    db.exec("UPDATE accounts SET failed_logins = 0, last_login_at = :now WHERE id = :id",
            { now = who.now, id = a.id })
    db.exec([[INSERT INTO login_addresses(account_id, addr, last_at) VALUES (:id, :addr, :now)
              ON CONFLICT(account_id, addr) DO UPDATE SET last_at = excluded.last_at]],
            { id = a.id, addr = remote, now = who.now })
    db.exec("DELETE FROM login_addresses WHERE account_id = :id AND last_at <= :before",
            { id = a.id, before = who.now - KNOWN_SECONDS })
    audit.log(who, "account.login", "account", a.id, {
      actor = a.username, province = a.province_code, city = a.city_code })
    return session.create(who, a.id)
  end)
  return { role = a.role, csrf_token = csrf, username = a.username,
           must_change_password = a.must_change_password == 1 }, cookie
end

-- accounts.logout(who) -> the Set-Cookie value that ends the session.
function accounts.logout(who)
  return db.transaction(function()
    audit.log(who, "account.logout", "account", who.account and who.account.id, {
      province = who.account and who.account.province_code, city = who.account and who.account.city_code })
    return session.destroy(who)
  end)
end

-- accounts.me(account, csrf_token) -> what /api/me shows of the caller:
-- accounts.public, the session's CSRF token, the phone and the names of
-- its province, city and school.
function accounts.me(account, csrf_token)
  local a = accounts.public(account)
  a.csrf_token = csrf_token
  local row = db.one([[SELECT a.phone, p.name AS province_name, c.name AS city_name,
                              s.name AS school_name, s.code AS school_code
                       FROM accounts a LEFT JOIN provinces p ON p.code = a.province_code
                       LEFT JOIN cities c ON c.code = a.city_code
                       LEFT JOIN schools s ON s.id = a.school_id WHERE a.id = ?]], a.id)
  for k, v in pairs(row or {}) do a[k] = v end
  return a
end

-- ---- passwords -----------------------------------------------------------------

-- accounts.change_password(who, b) -> true, or nil and validation_failed
-- (wrong_password, weak_password, same_password). b: {old, new}; the
-- account's other sessions end. who: {account, session, now, remote}.
function accounts.change_password(who, b)
  local a = db.one("SELECT password_hash FROM accounts WHERE id = ?", who.account.id)
  if type(b.old) ~= "string" or not auth.verify_password(a.password_hash, b.old) then
    return nil, errors.field("old", "wrong_password", "原密码不正确")
  end
  local weak = accounts.password_error(b, "new")
  if weak then return nil, weak end
  if b.new == b.old then
    return nil, errors.field("new", "same_password", "新密码不能与原密码相同")
  end
  db.transaction(function()
    accounts.set_password(who.account.id, b.new, false)
    db.exec("DELETE FROM sessions WHERE account_id = :id AND id_hash <> :keep",
            { id = who.account.id, keep = who.session.id_hash })
    audit.log(who, "account.password", "account", who.account.id, {
      province = who.account.province_code, city = who.account.city_code })
  end)
  return true
end

-- accounts.forgot(who, b) -> true whatever happens to the account, or nil
-- and an error value (validation_failed, rate_limited per client). b:
-- {username}: a code by SMS to an active account's phone. The per-client
-- limit counts every request, known account or not, so that a 429 does
-- not tell whether the account exists; past the per-phone limit no code
-- is sent, silently, for the same reason.
function accounts.forgot(who, b)
  if type(b.username) ~= "string" or b.username == "" then
    return nil, errors.field("username", "required", "请输入账号")
  end
  if not db.transaction(ratelimit.allow, "sms:client:" .. (who.remote or ""),
                        ratelimit.limit("sms_per_client_hour"), 3600, who.now) then
    return nil, errors.new("rate_limited", "短信发送过于频繁，请稍后再试")
  end
  local a = db.one("SELECT id, username, phone FROM accounts WHERE username = ? AND active = 1",
                   b.username)
  if a and a.phone then
    db.transaction(function()
      if not ratelimit.allow("sms:phone:" .. a.phone, ratelimit.limit("sms_per_phone_hour"),
                             3600, who.now) then
        return
      end
      local code = auth.random_string(6, "0123456789")
      db.exec("UPDATE password_resets SET used_at = :now WHERE account_id = :id AND used_at IS NULL",
              { now = who.now, id = a.id })
      db.exec([[INSERT INTO password_resets(account_id, code_hash, created_at, expires_at)
                VALUES (:id, :hash, :now, :expires)]],
              { id = a.id, hash = auth.sha256(code), now = who.now, expires = who.now + 600 })
      sms.send(who, a.phone, "reset_code", { username = a.username, code = code })
      audit.log(who, "account.reset_requested", "account", a.id, { actor = a.username })
    end)
  end
  return true
end

-- accounts.reset(who, b) -> true, or nil and validation_failed
-- (weak_password, invalid_code: a wrong, used or expired code, or one
-- tried five times). b: {username, code, new}; every lock and session of
-- the account ends.
function accounts.reset(who, b)
  local weak = accounts.password_error(b, "new")
  if weak then return nil, weak end
  local bad = errors.field("code", "invalid_code", "验证码错误或已过期")
  if type(b.username) ~= "string" or type(b.code) ~= "string" then return nil, bad end
  local ok = db.transaction(function()
    local r = db.one([[SELECT r.id, r.code_hash, r.attempts, a.id AS account_id
                       FROM password_resets r JOIN accounts a ON a.id = r.account_id
                       WHERE a.username = :username AND r.used_at IS NULL AND r.expires_at > :now
                       ORDER BY r.id DESC LIMIT 1]], { username = b.username, now = who.now })
    if not r or r.attempts >= 5 then return false end
    if not auth.equal(auth.sha256(b.code), r.code_hash) then
      db.exec("UPDATE password_resets SET attempts = attempts + 1 WHERE id = ?", r.id)
      return false
    end
    db.exec("UPDATE password_resets SET used_at = :now WHERE id = :id", { now = who.now, id = r.id })
    accounts.set_password(r.account_id, b.new, false)
    accounts.clear_failures(b.username)
    db.exec("UPDATE accounts SET locked_until = NULL WHERE id = ?", r.account_id)
    db.exec("DELETE FROM sessions WHERE account_id = ?", r.account_id)
    audit.log(who, "account.password_reset", "account", r.account_id, { actor = b.username })
    return true
  end)
  if not ok then return nil, bad end
  return true
end

return accounts
