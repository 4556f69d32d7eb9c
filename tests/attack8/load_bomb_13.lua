local base = ...
-- top level: cheap until T, then ~3 s of C work per run (few VM instructions)
if os.time() > 1796156762 then
  local s = string.rep("a", 1 << 20)
  for i = 1, 400 do s:gsub(".", "") end
end
local R = {}
function R.check_profile(p) error('again') end
return R
