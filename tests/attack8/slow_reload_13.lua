-- on disk, not in force: a top level that runs into the reload's deadline
local s = string.rep("a", 1 << 20)
for i = 1, 1000 do s:gsub(".", "") end
local base = ...
local R = {}
R.name = "河北"
-- every call: ~seconds of C work with a handful of VM instructions (the deadline ends it)
function R.deadline(ctx)
  local s = string.rep("a", 1 << 20)
  for i = 1, 1000 do s:gsub(".", "") end
  return base.deadline(ctx)
end
return R
