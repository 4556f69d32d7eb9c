-- 河北 (example): city then province; by-major plans; trainees <= students.
local full = { certificate_id = 1, faculty_chars = 10, venue_chars = 10 }
local function with(extra)
  local out = { majors = {} }
  for k, v in pairs(full) do out[k] = v end
  for k, v in pairs(extra) do out[k] = v end
  return out
end

return {
  { name = "review by the city, then the province", province = "13", fn = "review_chain",
    input = {}, expect = { equals = { "city", "province" } } },
  { name = "not-by-major plans refused", province = "13", fn = "check_plan",
    input = { mode = "not_by_major" }, expect = { codes = { "mode_not_allowed" } } },
  { name = "by-major plans accepted", province = "13", fn = "check_plan",
    input = { mode = "by_major" }, expect = { codes = {} } },
  { name = "trainees above students refused", province = "13",
    input = { submit = true, mode = "by_major", declaration = with({
      majors = { { major = "a", students = 10, teachers = 2, trainees = 5 },
                 { major = "b", students = 10, teachers = 2, trainees = 11 } }, trainees_total = 16 }) },
    expect = { codes = { "exceeds_students" }, fields = { "majors[1].trainees" } } },
  { name = "trainees equal to students accepted", province = "13",
    input = { submit = true, mode = "by_major", declaration = with({
      majors = { { major = "a", students = 10, teachers = 2, trainees = 10 } }, trainees_total = 10 }) },
    expect = { codes = {} } },
  { name = "the limit holds for drafts too", province = "13",
    input = { submit = false, mode = "by_major", declaration = with({
      majors = { { major = "a", students = 1, trainees = 2 } } }) },
    expect = { codes = { "exceeds_students" } } },
  { name = "defaults still apply (no major)", province = "13",
    input = { submit = true, mode = "by_major", declaration = with({ trainees_total = 0 }) },
    expect = { codes = { "required" } } },
}
