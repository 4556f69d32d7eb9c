-- accounts: password rules and account helpers shared by the API and the
-- CLI (user add, resets).
local db = require "db"
local auth = require "auth"
local errors = require "errors"

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

return accounts
