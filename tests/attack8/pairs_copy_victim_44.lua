local base = ...
local R = {}
function R.check_declaration(ctx)
  local errors = {}
  if (ctx.others_in_plan or 0) + 1 > 5 then
    table.insert(errors, { field = "certificate_id", code = "too_many_certificates", message = "too many" })
  end
  return errors
end
return R
