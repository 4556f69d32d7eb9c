-- on disk, not in force: a top level that runs into the reload's deadline
local s = string.rep("a", 1 << 20)
for i = 1, 1000 do s:gsub(".", "") end
