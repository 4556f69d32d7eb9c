J = require "json"
for _, v in ipairs({3, 7, 1, 9, 5, 2}) do
  rules.call("11", "check_profile", {v = v})
  local r = rules.call("11", "check_profile", {})
  print("wrote", v, "next caller read", r and r[1].message)
end
