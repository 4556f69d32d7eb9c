-- cli: the commands of bin/host that are platform logic: seed, user add,
-- sms list, token add. Each takes the arguments after the command and
-- returns an exit code (0 ok, 1 failure, 2 bad usage).
local db = require "db"
local json = require "json"
local auth = require "auth"
local accounts = require "accounts"
local scope = require "scope"

local cli = {}

local function parse(args, flags, switches)
  local out = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name = a:match("^%-%-([%w%-]+)$")
    if name and switches and switches[name] then
      out[name] = true
    elseif name and flags[name] then
      if i == #args then return nil, "--" .. name .. " needs a value" end
      out[name] = args[i + 1]
      i = i + 1
    else
      return nil, "unexpected argument: " .. a
    end
    i = i + 1
  end
  return out
end

local function usage(msg)
  io.stderr:write("host: ", msg, "\n")
  return 2
end

function cli.seed(args)
  local o, err = parse(args, {}, { demo = true })
  if not o then return usage(err) end
  require("seed").run({ demo = o.demo })
  return 0
end

function cli.user_add(args)
  local o, err = parse(args, { role = 1, username = 1, password = 1, province = 1,
                               city = 1, school = 1, phone = 1, name = 1 })
  if not o then return usage(err) end
  -- what the account holds of a unit follows from its role (scope.holds)
  local holds = scope.holds(o.role)
  if not holds then return usage("--role must be school, city, province or ops") end
  if not o.username or not o.password then return usage("--username and --password are required") end
  local problem = accounts.password_problem(o.password)
  if problem then io.stderr:write("host: ", problem, "\n") return 1 end
  local school_id = o.school and math.tointeger(tonumber(o.school))
  local province, city = o.province, o.city
  if holds.school then
    if not school_id then return usage("--school ID is required for a school account") end
    local s = db.one("SELECT province_code, city_code FROM schools WHERE id = ?", school_id)
    if not s then io.stderr:write("host: no school with id ", o.school, "\n") return 1 end
    province, city = s.province_code, s.city_code
  elseif holds.city then
    local c = city and db.one("SELECT province_code FROM cities WHERE code = ?", city)
    if not c then return usage("--city CODE (an existing city) is required") end
    province = c.province_code
  elseif holds.province then
    if not (province and db.one("SELECT 1 AS x FROM provinces WHERE code = ?", province)) then
      return usage("--province CODE (an existing province) is required")
    end
  end
  local ok, e = pcall(db.exec, [[INSERT INTO accounts(username, password_hash, role, province_code,
      city_code, school_id, phone, created_at, display_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)]],
    o.username, auth.hash_password(o.password), o.role,
    holds.province and province or nil, holds.city and city or nil,
    holds.school and school_id or nil, o.phone, os.time(), o.name)
  if not ok then
    io.stderr:write("host: cannot add the account: ", tostring(e):gsub("^db: ", ""), "\n")
    return 1
  end
  print("account added: " .. o.username .. " (" .. o.role .. ")")
  return 0
end

-- host sms list [--phone N] [--status S]: the outbox, one JSON object a
-- line; with a gateway driver, status says where each message is
-- (pending, sending, sent, failed: attempts and last_error say why).
function cli.sms_list(args)
  local o, err = parse(args, { phone = 1, status = 1 })
  if not o then return usage(err) end
  local rows = db.query([[SELECT id, phone, template, params, text, driver, status, attempts, last_error,
                                 created_at, sent_at FROM sms_outbox
                          WHERE (:phone IS NULL OR phone = :phone) AND (:status IS NULL OR status = :status)
                          ORDER BY id]], { phone = o.phone, status = o.status })
  local util = require "util"
  for _, r in ipairs(rows) do
    r.params = json.decode(r.params) or {}
    r.created_at = util.iso(r.created_at)
    r.sent_at = r.sent_at and util.iso(r.sent_at) or nil
    io.write(json.encode(r), "\n")
  end
  return 0
end

function cli.token_add(args)
  local o, err = parse(args, { name = 1 })
  if not o then return usage(err) end
  if not o.name or o.name == "" then return usage("--name is required") end
  local token = "tok_" .. auth.random_hex(24)
  db.exec("INSERT INTO api_tokens(name, token_hash, created_at) VALUES (?, ?, ?)",
          o.name, auth.sha256(token), os.time())
  print(token)
  return 0
end

return cli
