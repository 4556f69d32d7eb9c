-- 广东省 (example policy, not a claim about the real province):
-- review by the province; at most 5 certificates per school in one plan;
-- the profile also requires contact_email.
local base = ...

local R = {}
R.name = "广东省示例规则"

R.max_certificates_per_plan = 5

R.profile_required = { "address", "contact_name", "contact_phone", "contact_email" }

function R.check_declaration(ctx)
  local errors = base.check_declaration(ctx)
  if (ctx.others_in_plan or 0) + 1 > R.max_certificates_per_plan then
    base.err(errors, "certificate_id", "too_many_certificates",
             "同一申报计划内每所院校最多申报 " .. R.max_certificates_per_plan .. " 个证书")
  end
  return errors
end

return R
