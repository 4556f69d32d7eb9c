-- 江苏省 (example policy, not a claim about the real province):
-- by major with at least 2 full-time teachers per major; a returned
-- declaration may be resubmitted up to 3 days after the window closes.
local base = ...

local R = {}
R.name = "江苏省示例规则"

R.min_teachers_per_major = 2
R.grace_days_for_returned = 3

-- the default check_plan reads this list (the set is merged)
R.plan_modes = { "by_major" }

function R.check_declaration(ctx)
  local errors = base.check_declaration(ctx)
  if ctx.submit then
    for i, m in ipairs(ctx.declaration.majors) do
      if m.teachers and m.teachers < R.min_teachers_per_major then
        base.err(errors, "majors[" .. (i - 1) .. "].teachers", "too_few_teachers",
                 "每个专业的专任教师数不少于 " .. R.min_teachers_per_major .. " 人")
      end
    end
  end
  return errors
end

function R.deadline(ctx)
  local verdict = base.deadline(ctx)
  local d = ctx.declaration
  if not verdict.open and verdict.code == "closed" and d and d.status == "returned"
      and (ctx.action == "edit" or ctx.action == "submit")
      and ctx.now < ctx.plan.ends_at + R.grace_days_for_returned * 86400 then
    return { open = true, grace = true }
  end
  return verdict
end

return R
