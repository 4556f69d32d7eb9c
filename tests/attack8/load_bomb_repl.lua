J = require "json"
C = {submit=false, mode="not_by_major", plan={}, school={}, declaration={majors={}}, others_in_plan=0}
function T(tag) local t0=os.time() local ok, e = rules.call("44", "check_declaration", C) print(tag, ok and J.encode(ok) or ("FAIL: "..tostring(e))) end
T("44 before T")
os.execute("sleep 5")
T("44 after T")
for i=1,4 do print("13", rules.call("13", "check_profile", {})) end
for i=1,6 do T("44 #"..i) end
