-- 江苏 (example): by major, >= 2 teachers per major; a returned declaration
-- may be resubmitted up to 3 days after the window closes.
local DAY = 86400
local plan = { starts_at = 0, ends_at = 10 * DAY }
local function decl(teachers)
  return { submit = true, mode = "by_major", declaration = {
    certificate_id = 1, trainees_total = 5, faculty_chars = 5, venue_chars = 5,
    majors = { { major = "a", students = 20, teachers = teachers, trainees = 5 } } } }
end

return {
  { name = "one teacher refused", province = "32", input = decl(1),
    expect = { codes = { "too_few_teachers" }, fields = { "majors[0].teachers" } } },
  { name = "two teachers accepted", province = "32", input = decl(2), expect = { codes = {} } },
  { name = "not-by-major plans refused", province = "32", fn = "check_plan",
    input = { mode = "not_by_major" }, expect = { codes = { "mode_not_allowed" } } },
  { name = "returned: resubmit 2 days after close", province = "32", fn = "deadline",
    input = { now = 12 * DAY, action = "submit", plan = plan, declaration = { status = "returned" } },
    expect = { open = true } },
  { name = "returned: edit 2 days after close", province = "32", fn = "deadline",
    input = { now = 12 * DAY, action = "edit", plan = plan, declaration = { status = "returned" } },
    expect = { open = true } },
  { name = "returned: not 3 days after close", province = "32", fn = "deadline",
    input = { now = 13 * DAY, action = "submit", plan = plan, declaration = { status = "returned" } },
    expect = { open = false } },
  { name = "draft: no grace", province = "32", fn = "deadline",
    input = { now = 11 * DAY, action = "submit", plan = plan, declaration = { status = "draft" } },
    expect = { open = false } },
  { name = "new declarations: no grace", province = "32", fn = "deadline",
    input = { now = 11 * DAY, action = "create", plan = plan }, expect = { open = false } },
  { name = "review by the province", province = "32", fn = "review_chain", input = {},
    expect = { equals = { "province" } } },
}
