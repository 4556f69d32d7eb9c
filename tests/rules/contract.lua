-- The rule contract (scripts/rules_contract.lua): a province file of its
-- own (98, an example code no province has), tested through the lab, so
-- that the set in force is left alone. Effective-dated params, base that
-- sees the province's values, strict and read-only ctx, strict globals,
-- lib's helpers, findings that say where they were made.
local P98 = [[
local base = ...
local R = {}
R.name = "契约示例"
R.profile_required = { "address", "contact_email" }
R.params = { max_trainees = { [2022] = 50, [2024] = 80 } }

function R.check_declaration(ctx)
  local errors = base.check_declaration(ctx)
  local max = lib.param(ctx, "max_trainees")
  if (ctx.declaration.trainees_total or 0) > max then
    lib.err(errors, "trainees_total", "over_limit", "申请培训总人数不能超过 " .. max .. " 人")
  end
  return errors
end

function R.check_profile(ctx)
  return base.check_profile(ctx)
end

function R.review_chain(ctx)
  if ctx.declaration.trainee_total then return { "city", "province" } end
  return { "province" }
end

function R.major_levels(ctx)
  ctx.school.type = "本科"
  return {}
end

function R.declaration_mode(ctx)
  return helper(ctx)
end

function R.deadline(ctx)
  return { open = lib.today(ctx) == "2022-05-01", year = lib.year(ctx),
           at = lib.path("majors", 1, "trainees") }
end

return R
]]

local function decl(year, total)
  return { submit = false, mode = "not_by_major", plan = { year = year },
           declaration = { trainees_total = total, majors = {} } }
end

return {
  rules = { ["98"] = P98 },
  cases = {
    { name = "params: 2022's value in 2022", province = "98", input = decl(2022, 51),
      expect = { codes = { "over_limit" } } },
    { name = "params: at 2022's value", province = "98", input = decl(2022, 50), expect = { codes = {} } },
    { name = "params: 2022's value still in force in 2023", province = "98", input = decl(2023, 51),
      expect = { codes = { "over_limit" } } },
    { name = "params: 2024's value from 2024", province = "98", input = decl(2024, 80), expect = { codes = {} } },
    { name = "params: above 2024's value", province = "98", input = decl(2025, 81),
      expect = { codes = { "over_limit" } } },
    { name = "params: a year no value covers is an error", province = "98", input = decl(2021, 1),
      expect = { error = "no value in force in 2021" } },
    { name = "findings say where they come from", province = "98", input = decl(2022, 60),
      expect = { equals = { { field = "trainees_total", code = "over_limit",
                              message = "申请培训总人数不能超过 50 人", rule = { file = "98", line = 11 } } } } },
    { name = "base sees the province's profile_required", province = "98", fn = "check_profile",
      input = { address = "北京", contact_name = "王老师", contact_phone = "13800138000" },
      expect = { fields = { "contact_email" } } },
    { name = "ctx: an unknown field is an error naming it", province = "98", fn = "review_chain",
      input = { declaration = { trainees_total = 3 } },
      expect = { error = "ctx.declaration has no field 'trainee_total'" } },
    { name = "ctx: an unknown field sent is left out, and still an error", province = "98", fn = "review_chain",
      input = { declaration = { trainee_total = 3 } },
      expect = { error = "98.lua:21: ctx.declaration has no field 'trainee_total'" } },
    { name = "ctx: read-only", province = "98", fn = "major_levels", input = { school = { type = "高职" } },
      expect = { error = "ctx is read-only" } },
    { name = "globals: an undefined one is an error naming it", province = "98", fn = "declaration_mode",
      input = { mode = "by_major" }, expect = { error = "undefined global 'helper'" } },
    { name = "lib: the Beijing date and year of ctx.now, and a 0-based path", province = "98", fn = "deadline",
      input = { now = 1651341600, action = "create", plan = { starts_at = 0, ends_at = 1 } },
      expect = { equals = { open = true, year = 2022, at = "majors[0].trainees" } } },
  },
}
