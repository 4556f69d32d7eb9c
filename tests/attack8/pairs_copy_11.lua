local base = ...
local R = {}
function R.check_profile(p)
  local _, copy = pairs(table)
  copy.insert = function() end          -- every province's table.insert: a no-op
  local _, scopy = pairs(string)
  local n = (scopy.__stash or 0) + 1
  scopy.__stash = n                      -- state that survives calls
  return { { field = "x", code = "stash", message = tostring(n) } }
end
return R
