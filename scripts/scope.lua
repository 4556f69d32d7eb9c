-- scope: who may see and change what. A school holds its own; a city admin
-- the schools of its city in its own province; a province admin its
-- province; ops every province. Every admin query and write asks here
-- rather than deciding by role itself, as Redis keeps its ACL checks in
-- one file: a rule of access changes in this file only.
--
-- Provides the route policies (scope.ADMINS …), SQL conditions with their
-- named parameters for the rows a caller sees (scope.where,
-- scope.plan_where), and predicates on one row (scope.can_see,
-- scope.school_writable, scope.plan_visible, scope.declaration_visible …).
-- `who` is any table with `account` (a request's ctx, or a plain table in
-- a service's unit test); every function here needs one with an account.
-- Uses: db (a school's own province, for what a school reads).
local db = require "db"

local scope = {}

local function policy(...)
  local set = {}
  for _, role in ipairs({ ... }) do set[role] = true end
  return { roles = set }
end

-- Route policies (app.route's opts): who may call at all.
scope.ADMINS = policy("city", "province", "ops")
scope.PROVINCE_OPS = policy("province", "ops")
scope.OPS = policy("ops")
scope.SCHOOL = policy("school")
scope.ANYONE = policy("school", "city", "province", "ops")

-- The education departments, the admin accounts ops may open.
scope.DEPARTMENTS = { city = true, province = true }

-- What an account of each role is scoped to: the parts of its unit it
-- stores (accounts.province_code, city_code, school_id). Its unit is the
-- narrowest part it holds; ops hold none, so every province.
local HOLDS = {
  ops = {},
  province = { province = true },
  city = { province = true, city = true },
  school = { province = true, city = true, school = true },
}

-- scope.holds(role) -> {province?, city?, school?} or nil for no role.
function scope.holds(role)
  return HOLDS[role]
end

local function account(who)
  local a = who and who.account
  assert(a, "scope: no account")
  return a
end

function scope.is_ops(who)
  return who.account ~= nil and who.account.role == "ops"
end

function scope.is_school(who)
  return who.account ~= nil and who.account.role == "school"
end

-- The province whose rows the caller reads, or nil for ops (every one).
-- A school reads its school's province as the master list has it now
-- ("--", which matches no row, when the school is gone).
function scope.province(who)
  local a = account(who)
  if a.role == "ops" then return nil end
  if a.role == "school" then
    local s = db.one("SELECT province_code FROM schools WHERE id = ?", a.school_id)
    return s and s.province_code or "--"
  end
  return a.province_code
end

-- The city a city admin is scoped to, or nil for everyone else.
function scope.city(who)
  local a = account(who)
  return a.role == "city" and a.city_code or nil
end

-- ---- rows of a school: schools, declarations, the audit log -----------------

-- scope.where(who, alias, params) -> cond, params: the SQL condition that
-- keeps the rows of the schools the caller sees (schools aliased alias, or
-- any table with a school's province_code and city_code, such as the
-- audit log: alias nil for bare column names), and params with the
-- condition's values (:scope_province, :scope_city) added. Each role has
-- its own text, so each is its own cached statement using its index; ops
-- get a constant that SQLite drops. A city admin sees its city's schools
-- of its own province (a school listed in another province's city stays
-- with its province).
function scope.where(who, alias, params)
  local a = account(who)
  local col = alias and (alias .. ".") or ""
  params = params or {}
  if a.role == "ops" then return "1 = 1", params end
  if a.role == "province" then
    params.scope_province = a.province_code
    return col .. "province_code = :scope_province", params
  end
  if a.role == "city" then
    params.scope_province, params.scope_city = a.province_code, a.city_code
    return col .. "city_code = :scope_city AND " .. col .. "province_code = :scope_province", params
  end
  return "0 = 1", params
end

-- Whether the caller sees a row of a school in province and city (the
-- same rule as scope.where).
function scope.can_see(who, province, city)
  local a = account(who)
  if a.role == "ops" then return true end
  if a.role == "province" then return province == a.province_code end
  if a.role == "city" then return city == a.city_code and province == a.province_code end
  return false
end

-- Whether the caller may keep school s ({province_code, city_code}, as it
-- would be stored) in the master list: create, change or import it.
function scope.school_writable(who, s)
  return scope.can_see(who, s.province_code, s.city_code)
end

-- Whether the caller may set a school's province to province: a city
-- admin never moves a school out of its province (school_writable looks
-- at the city, so the move would otherwise pass). cur: the stored school
-- when editing.
function scope.may_set_province(who, province, cur)
  local a = account(who)
  if a.role ~= "city" then return true end
  return province == (cur and cur.province_code or a.province_code)
end

-- Fills what a new school s leaves out from the caller's unit: a province
-- (city) admin's schools are in its province (city) unless it says.
function scope.fill_unit(who, s)
  local a = account(who)
  local holds = HOLDS[a.role] or {}
  if holds.province then s.province_code = s.province_code or a.province_code end
  if holds.city then s.city_code = s.city_code or a.city_code end
end

-- Whether a school the caller keeps must name its city (a city admin's).
function scope.city_required(who)
  return (HOLDS[account(who).role] or {}).city == true
end

-- Whether a school's city may lie in another province than the school
-- (ops only: 河北工业大学 is a Hebei school in Tianjin).
scope.any_city = scope.is_ops

-- ---- rows of a province: plans, notices, rule sets ---------------------------

-- Whether the caller reads what belongs to province (nil: national):
-- ops everything, an admin or a school its own province's.
function scope.province_readable(who, province)
  local a = account(who)
  return a.role == "ops" or province == a.province_code
end

-- Whether the caller changes what belongs to province: ops anything, a
-- province admin its own province's; a city admin nothing.
function scope.province_writable(who, province)
  local a = account(who)
  return a.role == "ops" or (a.role == "province" and province == a.province_code)
end

-- scope.plan_where(who, alias, params) -> cond, params: the plans the
-- caller sees: its province's (ops: all), and for a city admin only the
-- published ones.
function scope.plan_where(who, alias, params)
  local a = account(who)
  local col = alias and (alias .. ".") or ""
  params = params or {}
  if a.role == "ops" then return "1 = 1", params end
  params.scope_province = a.province_code
  local cond = col .. "province_code = :scope_province"
  if a.role == "city" then cond = cond .. " AND " .. col .. "status = 'published'" end
  return cond, params
end

-- Whether the caller sees plan p (scope.plan_where for one row); an
-- unseen plan is answered as one that does not exist (404).
function scope.plan_visible(who, p)
  if not p or not scope.province_readable(who, p.province_code) then return false end
  return account(who).role ~= "city" or p.status == "published"
end

-- Whether the caller reads the rule set named set (a province's code, or
-- "default", the national set that everyone reads).
function scope.rules_readable(who, set)
  return set == "default" or scope.province_readable(who, set)
end

-- Whether the caller changes the rule set named set ("default": ops only).
scope.rules_writable = scope.province_writable

-- ---- declarations and review --------------------------------------------------

-- Whether the caller's school is the school of d ({school_id}).
function scope.school_owns(who, d)
  local a = account(who)
  return a.role == "school" and d ~= nil and d.school_id == a.school_id
end

-- Whether the caller sees declaration d ({school_id, status,
-- province_code, city_code}): its school always; the admins in scope once
-- it is submitted (a draft is the school's own).
function scope.declaration_visible(who, d)
  if not d then return false end
  if scope.is_school(who) then return scope.school_owns(who, d) end
  return d.status ~= "draft" and scope.can_see(who, d.province_code, d.city_code)
end

-- scope.review_level(who[, d]) -> the level of the review chain the
-- caller acts at: a city or province admin at its own; ops at any, so "*"
-- for its queue, and d's current level when it acts on declaration d.
function scope.review_level(who, d)
  local a = account(who)
  if a.role == "ops" then return d and d.review_level or "*" end
  return a.role
end

return scope
