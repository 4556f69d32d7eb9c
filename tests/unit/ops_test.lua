-- ops: the operator's catalogues, accounts and the eligibility question,
-- as a service on a real database, no server.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local ops = require "ops"
local json = require "json"

local T = {}

local function who() return fx.who("ops") end

local PAGE = { page = 1, size = 10, offset = 0 }

function T.organizations_are_unique_by_name()
  fx.fresh()
  local o = who()
  local org = assert(ops.save_organization(o, nil, { name = " 评价组织甲 " }))
  assert(org.name == "评价组织甲")
  fx.err("duplicate", ops.save_organization(o, nil, { name = "评价组织甲" }))
  local e = fx.err("validation_failed", ops.save_organization(o, nil, { name = " " }))
  assert(e.fields[1].field == "name" and e.fields[1].code == "required")
  fx.err("not_found", ops.save_organization(o, org.id + 100, { name = "乙" }))
  assert(ops.save_organization(o, org.id, { name = "乙" }).name == "乙")
  local list = ops.organizations()
  assert(#list == 1 and list[1].certificates == 0)
  assert(fx.count("audit_log", "action LIKE 'organization.%'") == 2)
end

function T.certificates_keep_their_majors_and_refuse_duplicates()
  fx.fresh()
  local o = who()
  local org = ops.save_organization(o, nil, { name = "组织" })
  assert(ops.save_major(o, nil, { code = "440301", name = "建筑工程技术", level = "高职专科" }))
  local e = fx.err("validation_failed", ops.save_certificate(o, nil,
    { code = "X1", name = "证书", level = "特级", organization_id = org.id, majors = json.array({ "999999" }) }))
  local by = {}
  for _, f in ipairs(e.fields) do by[f.field] = f.code end
  assert(by.level == "invalid" and by["majors[0]"] == "not_found")
  local c, listed = ops.save_certificate(o, nil,
    { code = "X1", name = "证书", level = "初级", organization_id = org.id, majors = json.array({ "440301" }) })
  assert(c and listed and c.code == "X1")
  assert(fx.count("certificate_majors", "certificate_id = :id", { id = c.id }) == 1)
  fx.err("duplicate", ops.save_certificate(o, nil, { code = "X2", name = "证书", level = "初级",
                                                     organization_id = org.id }))
  c = assert(ops.save_certificate(o, c.id, { active = false, majors = {} }))
  assert(fx.count("certificate_majors", "certificate_id = :id", { id = c.id }) == 0)
  assert(fx.one("SELECT active FROM certificates WHERE id = :id", { id = c.id }).active == 0)
  fx.err("not_found", ops.save_certificate(o, c.id + 100, {}))
end

function T.majors_search_and_edit()
  fx.fresh()
  local o = who()
  assert(ops.save_major(o, nil, { code = "440301", name = "建筑工程技术", level = "高职专科" }))
  assert(ops.save_major(o, nil, { code = "440302", name = "古建筑工程技术", level = "高职专科" }))
  fx.err("duplicate", ops.save_major(o, nil, { code = "440301", name = "x", level = "中职" }))
  fx.err("validation_failed", ops.save_major(o, nil, { code = "44", name = "x", level = "中职" }))
  fx.err("not_found", ops.save_major(o, "999999", { name = "x" }))
  local page = ops.majors({ q = "建筑工程技术" }, PAGE)
  assert(page.total == 2 and page.items[1].code == "440301" and page.items[1].active == true)
  local m = assert(ops.save_major(o, "440302", { active = false }))
  assert(m.active == false and m.name == "古建筑工程技术")
  assert(ops.majors({ level = "中职" }, PAGE).total == 0)
end

function T.an_admin_account_gets_its_password_by_sms()
  fx.fresh()
  local o = who()
  local e = fx.err("validation_failed", ops.create_account(o,
    { role = "school", username = "1234567890", name = "", phone = "1", province = "99" }))
  local by = {}
  for _, f in ipairs(e.fields) do by[f.field] = f.code end
  assert(by.role == "invalid" and by.username == "digits" and by.name == "required" and by.phone == "invalid")
  assert(by.province == "invalid")
  fx.err("validation_failed", ops.create_account(o,
    { role = "city", username = "city_x", name = "王", phone = "13900000001", province = "13", city = "4401" }))
  local a = assert(ops.create_account(o,
    { role = "city", username = "city_x", name = "王市审", phone = "13900000001", province = "13", city = "1301" }))
  assert(a.phone == "139****0001" and a.city == "1301" and a.unit ~= "")
  assert(fx.count("sms_outbox", "template = 'admin_account' AND phone = '13900000001'") == 1)
  fx.err("duplicate", ops.create_account(o,
    { role = "province", username = "city_x", name = "李", phone = "13900000002", province = "13" }))
  local page = ops.accounts({ q = "city_x" }, PAGE, fx.NOW)
  assert(page.total == 1 and page.items[1].must_change_password == true and page.items[1].phone == "139****0001")
end

function T.phone_reset_and_unlock()
  fx.fresh()
  local o = who()
  local _, account = fx.school()
  fx.err("not_found", ops.account(account.id + 100))
  local a = assert(ops.account(account.id))
  fx.err("validation_failed", ops.change_phone(o, a, { phone = "12" }))
  fx.err("no_phone", ops.reset_password(o, a.id))
  local r = assert(ops.change_phone(o, a, { phone = "13900000003" }))
  assert(r.ok and r.phone == "139****0003")
  a = assert(ops.account(account.id))
  fx.err("unchanged", ops.change_phone(o, a, { phone = "13900000003" }))
  fx.err("forbidden", ops.change_phone(o, assert(ops.account(o.account.id)), { phone = "13900000004" }))
  fx.one("UPDATE accounts SET failed_logins = 5, locked_until = :t WHERE id = :id RETURNING id",
         { t = fx.NOW + 600, id = a.id })
  assert(ops.unlock(o, a.id).ok)
  assert(fx.one("SELECT locked_until FROM accounts WHERE id = :id", { id = a.id }).locked_until == nil)
  r = assert(ops.reset_password(o, a.id))
  assert(r.message == "新密码已通过短信发送至 139****0003")
  assert(fx.one("SELECT must_change_password FROM accounts WHERE id = :id", { id = a.id }).must_change_password == 1)
  assert(fx.count("sms_outbox", "template = 'password_reset'") == 1)
  fx.err("not_found", ops.unlock(o, a.id + 100))
end

function T.eligibility_follows_the_approved_declarations()
  fx.fresh()
  local school = fx.school()
  local cert, majors = fx.certificate()
  local plan = fx.plan({ province = "13", year = 2030 })
  local q = { school = school.code, certificate = tostring(cert), year = "2030", major = majors[1] }
  fx.err("validation_failed", ops.eligibility({ school = "1", certificate = "x", year = "y", major = "z" }))
  local r = assert(ops.eligibility(q))
  assert(r.eligible == false and r.reason == "该校当年没有审核通过的该证书试点申报")
  fx.declaration(school, plan, cert, "approved", { mode = "not_by_major" })
  r = assert(ops.eligibility(q))
  assert(r.eligible == true and r.reason == "申报未限定专业，该专业属于证书对应专业")
  q.major = "999999"
  r = assert(ops.eligibility(q))
  assert(r.eligible == false and r.reason == "申报未限定专业，但该专业不属于证书对应专业")
  q.school = "9999999999"
  assert(ops.eligibility(q).reason == "学校不在院校总库中")
  q.school = school.code
  q.certificate = tostring(cert + 1000)
  assert(ops.eligibility(q).reason == "证书不存在")
end

-- By major: only the declared majors, whichever of the year's approved
-- declarations declared them; each reason names why.
function T.eligibility_by_major_names_the_declaration_that_allows()
  fx.fresh()
  local school = fx.school()
  local cert, majors = fx.certificate()
  assert(#majors >= 2, "the fixture's certificate has two majors")
  local plan = fx.plan({ province = "13", year = 2031 })
  local plan2 = fx.plan({ province = "13", year = 2031 })
  local first = fx.declaration(school, plan, cert, "approved", { mode = "by_major" })
  fx.one("INSERT INTO declaration_majors(declaration_id, position, major_code) VALUES (:d, 1, :m) RETURNING 1 AS x",
         { d = first, m = majors[1] })
  local q = { school = school.code, certificate = tostring(cert), year = "2031", major = majors[2] }
  local r = assert(ops.eligibility(q))
  assert(r.eligible == false and r.reason == "该专业不在审核通过的申报专业之列" and r.declaration_id == first)
  local second = fx.declaration(school, plan2, cert, "approved", { mode = "by_major" })
  fx.one("INSERT INTO declaration_majors(declaration_id, position, major_code) VALUES (:d, 1, :m) RETURNING 1 AS x",
         { d = second, m = majors[2] })
  r = assert(ops.eligibility(q))
  assert(r.eligible == true and r.reason == "该专业在审核通过的申报专业之列" and r.declaration_id == second)
  q.year = "2030"
  assert(ops.eligibility(q).reason == "该校当年没有审核通过的该证书试点申报", "another year")
end

return T
