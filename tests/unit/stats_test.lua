-- stats and the audit log's list: what admins read, in their scope.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local stats = require "stats"
local audit = require "audit"

local T = {}

local who = fx.who

local declare = fx.declaration

function T.counts_in_scope()
  fx.fresh()
  local plan = fx.plan({ province = "13", year = 2030 })
  local c1, c2 = fx.certificate(), fx.certificate()
  local a, b = fx.school({ city = "1301" }), fx.school({ city = "1302" })
  declare(a, plan, c1, "approved")
  declare(a, plan, c2, "pending")
  declare(b, plan, c1, "approved")
  declare(b, plan, c2, "draft")
  local prov, city = who("province", "13"), who("city", "13", "1301")
  local s = stats.plan(prov, plan)
  assert(s.declared == 3 and s.drafts == 1 and s.pilot_schools == 2 and s.trainees_total == 30)
  assert(s.by_status.approved == 2 and #s.by_city == 2 and #s.by_certificate == 2)
  s = stats.plan(city, plan)
  assert(s.declared == 2 and s.pilot_schools == 1 and s.drafts == 0)
  local pilots = stats.pilot_schools(prov, 2030)
  assert(pilots.total == 2 and pilots.items[1].approved == 1)
  assert(stats.pilot_schools(city, 2030).total == 1 and stats.pilot_schools(prov, 2031).total == 0)
  assert(#stats.approved_certificates(a.id, 2030) == 1)
  local years = stats.years(who("ops")).items
  assert(#years == 1 and years[1].year == 2030 and years[1].declared == 3 and years[1].drafts == 1)
  assert(#stats.years(who("province", "44")).items == 0)
end

function T.the_audit_log_in_scope()
  fx.fresh()
  local ops = who("ops")
  audit.log(ops, "school.create", "school", 1, { province = "13", city = "1301" })
  audit.log(ops, "school.create", "school", 2, { province = "13", city = "1302" })
  audit.log(ops, "plan.create", "plan", 3, { province = "44" })
  local pg = { page = 1, size = 10, offset = 0 }
  assert(audit.list(ops, {}, pg).total == 3)
  assert(audit.list(who("province", "13"), {}, pg).total == 2)
  local r = audit.list(who("city", "13", "1301"), {}, pg)
  assert(r.total == 1 and r.items[1].action_name ~= nil and r.items[1].by ~= nil)
  assert(audit.list(ops, { entity = "plan" }, pg).total == 1 and audit.list(ops, { entity_id = 2 }, pg).total == 1)
  assert(audit.list(ops, { action = "school.create", entity = "" }, pg).total == 2)
  assert(#audit.list(ops, {}, { page = 2, size = 2, offset = 2 }).items == 1)
end

return T
