-- 河北省 (example policy, not a claim about the real province):
-- review by the city, then the province; plans must be by major; a major's
-- trainees may not exceed its students.
local base = ...

local R = {}
R.name = "河北省示例规则"

-- the default check_plan reads this list (the set is merged)
R.plan_modes = { "by_major" }

function R.check_declaration(ctx)
  local errors = base.check_declaration(ctx)
  for i, m in ipairs(ctx.declaration.majors) do
    if m.trainees and m.students and m.trainees > m.students then
      base.err(errors, "majors[" .. (i - 1) .. "].trainees", "exceeds_students",
               "申请培训人数不能超过本专业在校学生数")
    end
  end
  return errors
end

function R.review_chain(ctx)
  return { "city", "province" }
end

return R
