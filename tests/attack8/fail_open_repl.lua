J = require "json"
P = require "province_rules"
print("deadline", J.encode((rules.call("44", "deadline", {now=0, action="submit", plan={starts_at=0, ends_at=1}}))))
print("check", J.encode(P.try_errors("44", "check_declaration", {submit=true})))
