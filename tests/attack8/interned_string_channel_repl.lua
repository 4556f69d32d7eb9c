for r, v in ipairs({3, 7, 1, 9, 4, 0}) do
  rules.call("11", "check_profile", {v = v, r = r})
  local x = rules.call("11", "check_profile", {r = r})
  print("wrote", v, "next caller found", x and x[1].message)
end
