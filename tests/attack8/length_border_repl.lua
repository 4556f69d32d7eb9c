J = require "json"
C = {submit=false, mode="not_by_major", plan={}, school={}, declaration={majors={}}, others_in_plan=0}
print(J.encode((rules.call("11", "check_profile", {bit=false}))))
print(J.encode((rules.call("11", "check_profile", {bit=true}))))
print(J.encode((rules.call("11", "check_profile", {}))))
print(J.encode((rules.call("11", "check_profile", {}))))
