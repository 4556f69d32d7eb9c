-- profile and what a school reads of its own (decl.school_*): services on a
-- real database, no server.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local profile = require "profile"
local decl = require "decl"

local T = {}

local function who(account)
  return { account = account, now = fx.NOW, remote = "unit" }
end

function T.save_checks_formats_then_the_provinces_required_fields()
  fx.fresh()
  local school, account = fx.school({ profile = false })
  local e = fx.err("validation_failed", profile.save(who(account), school.id,
    { postcode = "12", contact_email = "x", intro = 5 }))
  local by = {}
  for _, f in ipairs(e.fields) do by[f.field] = f.code end
  assert(by.postcode == "invalid" and by.contact_email == "invalid" and by.intro == "type")
  assert(e.message == "提交的内容有误，请检查标出的项目", e.message)
  e = fx.err("validation_failed", profile.save(who(account), school.id, { address = "校本部" }))
  assert(e.message == "请填写必填项" and #e.fields > 0)
  assert(fx.count("school_profiles") == 0 and fx.count("audit_log") == 0)
  fx.err("not_found", profile.save(who(account), school.id + 1000, {}))
  fx.err("not_found", profile.get(school.id + 1000))
end

function T.save_writes_the_named_fields_and_keeps_the_others()
  fx.fresh()
  local school, account = fx.school()
  local p = assert(profile.save(who(account), school.id, { website = "https://x.edu.cn ", intro = "简介" }))
  assert(p.website == "https://x.edu.cn" and p.intro == "简介" and p.address == "校本部")
  assert(p.complete == true and p.province == "13" and p.city_name == "石家庄市")
  assert(fx.count("audit_log", "action = 'school.profile' AND entity_id = :id", { id = school.id }) == 1)
  local again = assert(profile.get(school.id))
  assert(again.website == "https://x.edu.cn" and again.contact_name == "张老师")
end

function T.a_school_reads_its_own_declarations_only()
  fx.fresh()
  local school, account = fx.school()
  local other, other_account = fx.school()
  local plan = fx.plan({ province = "13" })
  local cert = fx.certificate()
  local id = fx.declaration(school, plan, cert, "draft", { trainees = 0 })
  local list = decl.school_list(school.id, {}, { page = 1, size = 10, offset = 0 }, fx.NOW)
  assert(list.total == 1 and list.items[1].id == id and list.items[1].can_delete == true)
  assert(decl.school_list(other.id, {}, { page = 1, size = 10, offset = 0 }, fx.NOW).total == 0)
  assert(decl.school_list(school.id, { status = "approved" }, { page = 1, size = 10, offset = 0 }, fx.NOW).total == 0)
  local v = assert(decl.school_view(who(account), id, fx.NOW))
  assert(v.id == id and v.can_edit == true and v.can_delete == true)
  fx.err("not_found", decl.school_view(who(other_account), id, fx.NOW))
  fx.err("not_found", decl.school_view(who(account), id + 1000, fx.NOW))
  local plans = decl.school_plans(school, fx.NOW)
  assert(#plans == 1 and plans[1].state == "open" and plans[1].can_declare == true)
  local st = decl.pilot_status(school.id, plan.year)
  assert(st.pilot == false and st.approved == 0)
end

return T
