-- National defaults (rules/default.lua), through a province without a file
-- of its own (11, 北京) and through "default".
local function decl(t)
  t.majors = t.majors or {}
  return t
end
local full = { certificate_id = 1, faculty_chars = 10, venue_chars = 10 }
local function with(base, extra)
  local out = {}
  for k, v in pairs(base) do out[k] = v end
  for k, v in pairs(extra) do out[k] = v end
  return decl(out)
end
local plan = { starts_at = 1000, ends_at = 2000 }

return {
  { name = "by major: one complete major passes", province = "11",
    input = { submit = true, mode = "by_major", declaration = with(full, {
      majors = { { major = "440301", students = 10, teachers = 1, trainees = 5 } }, trainees_total = 5 }) },
    expect = { codes = {} } },
  { name = "by major: no major fails", province = "11",
    input = { submit = true, mode = "by_major", declaration = with(full, { trainees_total = 0 }) },
    expect = { codes = { "required" }, fields = { "majors" }, messages_chinese = true } },
  { name = "by major: a row without counts names each field", province = "default",
    input = { submit = true, mode = "by_major", declaration = with(full, {
      majors = { { major = "440301" } }, trainees_total = 0 }) },
    expect = { fields = { "majors[0].students", "majors[0].teachers", "majors[0].trainees", "trainees_total" } } },
  { name = "not by major: total required", province = "11",
    input = { submit = true, mode = "not_by_major", declaration = decl(with(full, {})) },
    expect = { codes = { "required" }, fields = { "trainees_total" } } },
  { name = "not by major: total at least 1", province = "11",
    input = { submit = true, mode = "not_by_major", declaration = with(full, { trainees_total = 0 }) },
    expect = { codes = { "min" } } },
  { name = "not by major: majors optional", province = "11",
    input = { submit = true, mode = "not_by_major", declaration = with(full, { trainees_total = 30 }) },
    expect = { codes = {} } },
  { name = "faculty and venue required on submit", province = "11",
    input = { submit = true, mode = "not_by_major", declaration = decl({ certificate_id = 1,
      trainees_total = 3, faculty_chars = 0, venue_chars = 0 }) },
    expect = { fields = { "faculty", "venue" } } },
  { name = "a draft may be incomplete", province = "11",
    input = { submit = false, mode = "by_major", declaration = decl({}) },
    expect = { codes = {} } },
  { name = "profile requires address, contact name and phone", province = "11", fn = "check_profile",
    input = { address = "", contact_name = "王老师" },
    expect = { fields = { "address", "contact_phone" } } },
  { name = "profile complete", province = "11", fn = "check_profile",
    input = { address = "北京市海淀区", contact_name = "王老师", contact_phone = "13800138000" },
    expect = { codes = {} } },
  { name = "review by the province only", province = "11", fn = "review_chain", input = {},
    expect = { equals = { "province" } } },
  { name = "window open", province = "11", fn = "deadline",
    input = { now = 1500, action = "create", plan = plan }, expect = { open = true } },
  { name = "window not started", province = "11", fn = "deadline",
    input = { now = 999, action = "create", plan = plan }, expect = { open = false } },
  { name = "window closed at its end", province = "11", fn = "deadline",
    input = { now = 2000, action = "create", plan = plan }, expect = { open = false } },
  { name = "no grace for returned ones", province = "11", fn = "deadline",
    input = { now = 2100, action = "submit", plan = plan, declaration = { status = "returned" } },
    expect = { open = false } },
  { name = "plans may use either mode", province = "11", fn = "check_plan",
    input = { mode = "not_by_major" }, expect = { codes = {} } },
  { name = "the plan's mode decides", province = "11", fn = "declaration_mode",
    input = { mode = "not_by_major" }, expect = { equals = "not_by_major" } },
  -- issue 13: majors fit the school
  { name = "major levels: 高职 schools declare 高职专科 majors", province = "11", fn = "major_levels",
    input = { school = { type = "高职" } }, expect = { equals = { "高职专科" } } },
  { name = "major levels: 本科 schools 职业本科 first, then 高职专科", province = "11", fn = "major_levels",
    input = { school = { type = "本科" } }, expect = { equals = { "职业本科", "高职专科" } } },
  { name = "major levels: 中职 and 技工 schools 中职", province = "default", fn = "major_levels",
    input = { school = { type = "技工" } }, expect = { equals = { "中职" } } },
}
