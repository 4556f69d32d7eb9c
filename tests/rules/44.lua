-- 广东 (example): province review; at most 5 certificates per school and
-- plan; the profile also needs contact_email.
local function decl(others, submit)
  return { submit = submit, mode = "not_by_major", others_in_plan = others,
           declaration = { certificate_id = 1, majors = {}, trainees_total = 10,
                           faculty_chars = 5, venue_chars = 5 } }
end

return {
  { name = "fifth certificate accepted", province = "44", input = decl(4, true),
    expect = { codes = {} } },
  { name = "sixth certificate refused", province = "44", input = decl(5, true),
    expect = { codes = { "too_many_certificates" }, fields = { "certificate_id" } } },
  { name = "sixth refused for a draft too", province = "44", input = decl(5, false),
    expect = { codes = { "too_many_certificates" } } },
  { name = "profile without email refused", province = "44", fn = "check_profile",
    input = { address = "广州", contact_name = "李老师", contact_phone = "13800138000" },
    expect = { fields = { "contact_email" } } },
  { name = "profile with email accepted", province = "44", fn = "check_profile",
    input = { address = "广州", contact_name = "李老师", contact_phone = "13800138000",
              contact_email = "li@example.cn" },
    expect = { codes = {} } },
  { name = "required profile fields listed", province = "44", fn = "profile_required",
    expect = { equals = { "address", "contact_name", "contact_phone", "contact_email" } } },
  { name = "review by the province", province = "44", fn = "review_chain", input = {},
    expect = { equals = { "province" } } },
}
