local base = ...
local s = string.rep("x", 1 << 20)
local parts = {}
for i = 1, 12 do parts[i] = s end
local BIG = table.concat(parts) .. "!"   -- ~28 MiB kept by the built set: one snapshot word
parts, s = nil, nil
local R = {}
function R.check_profile(p) return { { field = "", code = "n", message = tostring(#BIG) } } end
return R
