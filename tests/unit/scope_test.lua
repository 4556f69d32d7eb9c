-- scope: who sees and changes what, per role, without a server.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local scope = require "scope"

local T = {}

local OPS = { account = { id = 1, role = "ops" } }
local PROV = { account = { id = 2, role = "province", province_code = "13" } }
local CITY = { account = { id = 3, role = "city", province_code = "13", city_code = "1301" } }
local SCHOOL = { account = { id = 4, role = "school", province_code = "13", city_code = "1301", school_id = 7 } }

function T.where_is_one_text_per_role()
  local cond, p = scope.where(OPS, "s", { x = 1 })
  assert(cond == "1 = 1" and p.x == 1 and p.scope_province == nil)
  cond, p = scope.where(PROV, "s")
  assert(cond == "s.province_code = :scope_province" and p.scope_province == "13" and p.scope_city == nil)
  cond, p = scope.where(CITY, "s")
  assert(cond == "s.city_code = :scope_city AND s.province_code = :scope_province")
  assert(p.scope_province == "13" and p.scope_city == "1301")
  cond = scope.where(CITY, nil)
  assert(cond == "city_code = :scope_city AND province_code = :scope_province", "bare columns")
  assert(scope.where(SCHOOL, "s") == "0 = 1", "a school is no admin of the master list")
end

function T.where_runs_and_keeps_the_rows_can_see_keeps()
  fx.fresh()
  fx.school({ province = "13", city = "1301" })
  fx.school({ province = "13", city = "1302" })
  fx.school({ province = "44", city = "4401" })
  -- 河北工业大学: a 河北 school in a city of another province
  fx.school({ province = "13", city = "4401" })
  local function count(who)
    local cond, p = scope.where(who, "s")
    return require("sql").one("SELECT count(*) AS n FROM schools s WHERE " .. cond, p).n
  end
  assert(count(OPS) == 4 and count(PROV) == 3 and count(CITY) == 1)
  for _, s in ipairs(fx.query("SELECT province_code, city_code FROM schools")) do
    assert(scope.can_see(OPS, s.province_code, s.city_code))
    assert(scope.can_see(PROV, s.province_code, s.city_code) == (s.province_code == "13"))
    assert(scope.can_see(CITY, s.province_code, s.city_code) == (s.city_code == "1301"))
  end
  local city44 = { account = { id = 5, role = "city", province_code = "44", city_code = "4401" } }
  assert(count(city44) == 1, "a school listed in another province's city stays with its province")
end

function T.schools_a_city_admin_keeps()
  assert(not scope.may_set_province(CITY, "44", nil))
  assert(scope.may_set_province(CITY, "13", nil))
  assert(not scope.may_set_province(CITY, "13", { province_code = "44" }), "the school's own province")
  assert(scope.may_set_province(PROV, "44", nil), "the province admin is stopped by school_writable")
  local s = {}
  scope.fill_unit(CITY, s)
  assert(s.province_code == "13" and s.city_code == "1301")
  s = {}
  scope.fill_unit(PROV, s)
  assert(s.province_code == "13" and s.city_code == nil)
  s = {}
  scope.fill_unit(OPS, s)
  assert(next(s) == nil)
  assert(scope.city_required(CITY) and not scope.city_required(PROV))
  assert(scope.any_city(OPS) and not scope.any_city(PROV))
end

function T.plans_a_city_admin_sees_published_only()
  assert(scope.plan_visible(PROV, { province_code = "13", status = "draft" }))
  assert(not scope.plan_visible(CITY, { province_code = "13", status = "draft" }))
  assert(scope.plan_visible(CITY, { province_code = "13", status = "published" }))
  assert(not scope.plan_visible(PROV, { province_code = "44", status = "published" }))
  assert(scope.plan_visible(OPS, { province_code = "44", status = "draft" }))
  assert(not scope.plan_visible(OPS, nil))
  local cond = scope.plan_where(CITY, "p")
  assert(cond == "p.province_code = :scope_province AND p.status = 'published'")
end

function T.province_rows_and_rule_sets()
  assert(scope.rules_readable(CITY, "13") and scope.rules_readable(CITY, "default"))
  assert(not scope.rules_readable(CITY, "44"))
  assert(not scope.rules_writable(CITY, "13"), "a city admin reads its province's rules")
  assert(scope.rules_writable(PROV, "13") and not scope.rules_writable(PROV, "default"))
  assert(scope.rules_writable(OPS, "default") and scope.rules_writable(OPS, "44"))
  assert(not scope.province_readable(PROV, nil), "national notices are ops' to manage")
  assert(scope.province(OPS) == nil and scope.province(CITY) == "13" and scope.city(CITY) == "1301")
  assert(scope.city(PROV) == nil)
end

function T.a_school_reads_its_school_province()
  fx.fresh()
  local school, account = fx.school({ province = "44", city = "4401" })
  local who = { account = { id = account.id, role = "school", province_code = "13", school_id = school.id } }
  assert(scope.province(who) == "44", "the master list's province, not the account's")
  who.account.school_id = school.id + 100
  assert(scope.province(who) == "--", "a school that is gone reads nothing")
end

function T.declarations_and_review_levels()
  local d = { school_id = 7, status = "draft", province_code = "13", city_code = "1301" }
  assert(scope.declaration_visible(SCHOOL, d) and scope.school_owns(SCHOOL, d))
  assert(not scope.declaration_visible(OPS, d), "a draft is the school's own")
  d.status = "pending"
  assert(scope.declaration_visible(CITY, d) and scope.declaration_visible(PROV, d))
  assert(not scope.school_owns(CITY, d))
  d.city_code = "1302"
  assert(not scope.declaration_visible(CITY, d) and scope.declaration_visible(PROV, d))
  assert(not scope.declaration_visible(PROV, nil))
  assert(scope.review_level(OPS) == "*" and scope.review_level(OPS, { review_level = "city" }) == "city")
  assert(scope.review_level(CITY, { review_level = "province" }) == "city")
end

function T.roles_and_units()
  assert(scope.ADMINS.roles.city and scope.ADMINS.roles.ops and not scope.ADMINS.roles.school)
  assert(not scope.PROVINCE_OPS.roles.city and scope.OPS.roles.ops and scope.SCHOOL.roles.school)
  assert(next(scope.holds("ops")) == nil and scope.holds("city").city and not scope.holds("city").school)
  assert(scope.holds("token") == nil)
  assert(scope.DEPARTMENTS.city and not scope.DEPARTMENTS.ops)
  assert(scope.is_ops({}) == false and scope.is_school({}) == false, "no account: none of them")
end

return T
