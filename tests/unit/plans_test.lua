-- plans: declaration plans as a service, on a real database with the
-- rule baseline in force (河北 13 allows by_major plans only).
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local plans = require "plans"
local util = require "util"

local T = {}

local who = fx.who

local function form(o)
  local b = { year = 2030, batch = 1, title = "2030 年第一批", mode = "by_major",
              starts_at = util.iso(fx.NOW - 3600), ends_at = util.iso(fx.NOW + 86400), notes = "说明" }
  for k, v in pairs(o or {}) do b[k] = v end
  return b
end

function T.create_is_the_callers_province()
  fx.fresh()
  local p = assert(plans.create(who("province", "13"), form({ province = "44" })))
  assert(p.province == "13" and p.status == "draft" and p.state == "open" and p.declarations == 0)
  local e = fx.err("validation_failed", plans.create(who("ops"), form()))
  assert(e.fields[1].field == "province" and e.message == "请选择省份")
  assert(plans.create(who("ops"), form({ province = "44" })).province == "44")
  e = fx.err("validation_failed", plans.create(who("province", "13"),
    form({ title = " ", ends_at = util.iso(fx.NOW - 7200), year = 1999, notes = string.rep("字", 2001) })))
  local codes = {}
  for _, f in ipairs(e.fields) do codes[f.field] = f.code end
  assert(codes.title == "required" and codes.year == "invalid" and codes.ends_at == "before_start")
  assert(codes.notes == "too_long")
  assert(fx.count("plans") == 2 and fx.count("audit_log", "action = 'plan.create'") == 2)
end

function T.a_published_plan_keeps_its_window()
  fx.fresh()
  local prov = who("province", "13")
  local p = fx.plan({ province = "13" })
  fx.err("published", plans.update(prov, p.id, { year = 2031 }))
  local out = assert(plans.update(prov, p.id, { title = "新名称" }))
  assert(out.title == "新名称" and out.year == p.year)
  fx.err("not_found", plans.update(who("province", "44"), p.id, { title = "x" }))
end

function T.publish_asks_the_province_rules()
  fx.fresh()
  local prov = who("province", "13")
  local p = fx.plan({ province = "13", status = "draft", mode = "not_by_major" })
  local e = fx.err("validation_failed", plans.publish(prov, p.id))
  assert(e.message == "计划不符合本省申报规则" and #e.fields > 0)
  assert(fx.one("SELECT status FROM plans WHERE id = ?", p.id).status == "draft")
  assert(plans.update(prov, p.id, { mode = "by_major" }))
  local out = assert(plans.publish(prov, p.id))
  assert(out.status == "published" and out.published_at)
  fx.err("published", plans.publish(prov, p.id))
  assert(fx.count("audit_log", "action = 'plan.publish'") == 1)
end

function T.a_city_admin_sees_published_plans_of_its_province()
  fx.fresh()
  local draft = fx.plan({ province = "13", status = "draft" })
  local open = fx.plan({ province = "13" })
  fx.plan({ province = "44" })
  local city = who("city", "13", "1301")
  fx.err("not_found", plans.visible(city, draft.id))
  assert(plans.visible(city, open.id))
  local list = plans.list(city, {})
  assert(#list == 1 and list[1].id == open.id)
  assert(#plans.list(who("province", "13"), { province = "44" }) == 2, "a province admin's own, whatever it asks")
  assert(#plans.list(who("ops"), { province = "44" }) == 1 and #plans.list(who("ops"), { province = "" }) == 3)
  assert(#plans.list(who("ops"), { year = 1999 }) == 0)
end

function T.extend_close_and_delete()
  fx.fresh()
  local prov = who("province", "13")
  local p = fx.plan({ province = "13" })
  local e = fx.err("validation_failed", plans.extend(prov, p.id, { ends_at = "soon" }))
  assert(e.message == "请填写新的截止时间" and e.fields[1].code == "invalid")
  e = fx.err("validation_failed", plans.extend(prov, p.id, { ends_at = util.iso(p.ends_at - 60) }))
  assert(e.fields[1].code == "not_later")
  local later = assert(plans.extend(prov, p.id, { ends_at = util.iso(p.ends_at + 86400) }))
  assert(later.ends_at == util.iso(p.ends_at + 86400))
  local closed = assert(plans.close(prov, p.id))
  assert(closed.state == "closed")
  fx.err("closed", plans.close(prov, p.id))
  local cert = fx.certificate()
  local school = fx.school()
  fx.one([[INSERT INTO declarations(school_id, plan_id, certificate_id, status, mode, created_at, updated_at)
           VALUES (?, ?, ?, 'draft', 'by_major', 1, 1) RETURNING id]], school.id, p.id, cert)
  fx.err("has_declarations", plans.delete(prov, p.id))
  local empty = fx.plan({ province = "13", status = "draft" })
  assert(plans.delete(prov, empty.id) == true and fx.count("plans") == 1)
end

return T
