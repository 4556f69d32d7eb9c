J = require "json"
C = {submit=false, mode="not_by_major", plan={}, school={}, declaration={majors={}}, others_in_plan=9}
print("44 before", J.encode((rules.call("44", "check_declaration", C))))
for i=1,3 do print("11", J.encode((rules.call("11", "check_profile", {})))) end
print("44 after", J.encode((rules.call("44", "check_declaration", C))))
