local base = ...
local T = {}
T[1] = true; T[3] = true               -- as built, #T is 1
local R = {}
function R.check_profile(p)
  local seen = #T                       -- 1, or 3 once a previous call reshaped T
  if p.bit then T[2] = true; T[2] = nil end   -- same contents, same order: the snapshot is equal
  return { { field = "len", code = "c", message = "#T=" .. seen .. " clock=" .. os.clock() } }
end
return R
