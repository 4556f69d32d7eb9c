-- schools: the master list as a service, on a real database, no server.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local schools = require "schools"

local T = {}

local who = fx.who

local PAGE = { page = 1, size = 10, offset = 0 }

function T.create_fills_the_callers_unit()
  fx.fresh()
  local s = assert(schools.create(who("city", "13", "1301"), { code = "1301000001", name = "  石家庄职院 ", type = "高职" }))
  assert(s.province == "13" and s.city == "1301" and s.name == "石家庄职院" and s.active == true)
  assert(s.registered == false and s.province_name == "河北省" and s.city_name == "石家庄市")
  s = assert(schools.create(who("province", "13"), { code = "1300000002", name = "省属学院", type = "本科" }))
  assert(s.province == "13" and s.city == nil)
  assert(fx.count("audit_log", "action = 'school.create'") == 2)
end

function T.create_refuses_what_is_out_of_scope_or_wrong()
  fx.fresh()
  local city = who("city", "13", "1301")
  fx.err("forbidden", schools.create(city, { code = "4401000001", name = "x", type = "高职", province = "44" }))
  fx.err("forbidden", schools.create(city, { code = "1302000001", name = "x", type = "高职", city = "1302" }))
  local e = fx.err("validation_failed", schools.create(who("province", "13"),
    { code = "12", name = string.rep("长", 101), type = "大学", authority = 5, city = "4401" }))
  local by = {}
  for _, f in ipairs(e.fields) do by[f.field] = by[f.field] or f end
  assert(by.code.code == "invalid" and by.type.code == "invalid" and by.city.code == "not_in_province")
  assert(by.name.message == "不能超过 100 字，且不能包含控制字符", by.name.message)
  local names = 0
  for _, f in ipairs(e.fields) do if f.field == "name" then names = names + 1 end end
  assert(names == 2, "too long, and so (a new school) none: as the pages have always shown")
  assert(by.authority.code == "type" and by.authority.message == "应为文本")
  assert(schools.create(who("ops"), { code = "1304000001", name = "河北工业大学", type = "本科",
                                     province = "13", city = "4401" }), "ops place a school anywhere")
  fx.err("duplicate", schools.create(who("ops"), { code = "1304000001", name = "y", type = "本科", province = "13" }))
  assert(fx.count("schools") == 1, "nothing refused was stored")
end

function T.update_in_scope_only()
  fx.fresh()
  local s = fx.school({ province = "13", city = "1301" })
  fx.err("not_found", schools.visible(who("city", "13", "1302"), s.id))
  fx.err("not_found", schools.visible(who("province", "44"), s.id))
  local city = who("city", "13", "1301")
  local cur = assert(schools.visible(city, s.id))
  local out = assert(schools.update(city, cur, { active = false, name = "改名" }))
  assert(out.active == false and out.name == "改名" and out.code == s.code)
  fx.err("forbidden", schools.update(city, cur, { city = "1302" })) -- out of its city
  local row = fx.one("SELECT before_status, after_status FROM audit_log WHERE action = 'school.update'")
  assert(row.before_status == "active" and row.after_status == "inactive")
end

function T.list_is_scoped_filtered_and_paged()
  fx.fresh()
  for _ = 1, 3 do fx.school({ province = "13", city = "1301" }) end
  fx.school({ province = "13", city = "1302", active = 0 })
  fx.school({ province = "44", city = "4401" })
  local r = schools.list(who("province", "13"), {}, PAGE)
  assert(r.total == 4 and #r.items == 4 and r.page == 1 and r.size == 10)
  assert(schools.list(who("city", "13", "1301"), {}, PAGE).total == 3)
  assert(schools.list(who("ops"), {}, PAGE).total == 5)
  assert(schools.list(who("ops"), { active = "false" }, PAGE).total == 1)
  assert(schools.list(who("ops"), { city = "1302", q = "" }, PAGE).total == 1)
  assert(schools.list(who("ops"), { province = "44" }, PAGE).total == 1)
  local code = r.items[2].code
  assert(schools.list(who("ops"), { q = code }, PAGE).items[1].code == code)
  local p2 = schools.list(who("province", "13"), {}, { page = 2, size = 3, offset = 3 })
  assert(p2.total == 4 and #p2.items == 1 and p2.page == 2)
  assert(#schools.export(who("province", "13"), { active = "true" }) == 3)
end

local function rows(list)
  local out = {}
  for i, cells in ipairs(list) do out[i] = { n = i + 1, cells = cells } end
  return out
end

function T.import_is_all_or_nothing()
  fx.fresh()
  local city = who("city", "13", "1301")
  local header = { "学校标识码", "学校名称", "所在城市", "办学类型" }
  local r = assert(schools.import(city, header, rows({
    { "示例：4113010001", "示例职业技术学院", "石家庄市", "高职" },
    { "1301000011", "甲校", "石家庄", "高职" },
    { "1301000011", "乙校", "1301", "高职" },
    { "1301000013", "丙校", "唐山市", "高职" },
  })))
  assert(r.imported == 0 and #r.refused == 2 and fx.count("schools") == 0)
  assert(r.refused[1].row == 4 and r.refused[1].reason == "与第 3 行学校标识码重复")
  assert(r.refused[2].reason == "只能管理本辖区的院校", r.refused[2].reason)
  assert(r.rows[1].skipped and r.rows[1].result == "已跳过" and r.rows[2].result == "可导入")
  r = assert(schools.import(city, header, rows({ { "1301000011", "甲校", "石家庄", "高职" } })))
  assert(r.imported == 1 and r.rows[1].result == "已导入" and fx.count("schools") == 1)
  fx.err("validation_failed", schools.import(city, { "学校名称" }, rows({ { "x" } })))
  local e = fx.err("validation_failed", schools.import(city, header,
    rows({ { "示例：4113010001", "示例职业技术学院", "石家庄市", "高职" } })))
  assert(e.fields[1].code == "only_sample")
  assert(fx.err("validation_failed", schools.import(city, header, rows({ { "", " " } }))).fields[1].code == "empty")
  local ops = who("ops")
  r = assert(schools.import(ops, { "code", "name", "city", "type" },
                            rows({ { "4401000001", "广州校", "4401", "中职" } })))
  local row = fx.one("SELECT province_code FROM schools WHERE code = '4401000001'")
  assert(r.imported == 1 and row.province_code == "44", "ops: the province follows from the city")
end

function T.template_row_is_in_the_callers_scope()
  fx.fresh()
  local row = schools.template_row(who("city", "13", "1302"))
  assert(row[3] == "唐山市" and row[5] == "河北省" and row[1]:find("^示例"))
  assert(schools.template_row(who("province", "44"))[3] == "广州市")
end

return T
