-- svc_fixture: each test gets a database of its own, the schema applied
-- and the rule baseline in force.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"

local T = {}

function T.fresh_databases_are_apart()
  local db = fx.fresh()
  local school = fx.school()
  assert(school.province_code == "13" and school.city_code == "1301" and school.active == 1)
  assert(fx.count("schools") == 1)
  fx.fresh()
  assert(fx.count("schools") == 0, "a fresh database holds no rows of the last")
  -- a module that kept `db` from an earlier test reaches the new database
  assert(db.one("SELECT count(*) AS n FROM provinces").n == 2)
end

function T.baseline_rules_in_force()
  fx.fresh()
  local v = fx.one("SELECT id, status FROM rule_versions WHERE province = '13'")
  assert(v and v.status == "published")
  assert(fx.count("rule_cases", "province = :p", { p = "13" }) == 1)
  assert(require("rules").versions()["13"] == v.id, "the stored version is the one in force")
  local chain = require("rules").call("13", "review_chain", { ["@contract"] = true })
  assert(chain[1] == "city" and chain[2] == "province")
end

function T.rows_for_a_declaration()
  fx.fresh()
  local cert, majors = fx.certificate()
  local plan = fx.plan({ province = "13" })
  local _, account = fx.school({ type = "本科" })
  assert(#majors == 2 and fx.count("certificate_majors", "certificate_id = :c", { c = cert }) == 2)
  assert(plan.status == "published" and plan.starts_at < fx.NOW and plan.ends_at > fx.NOW)
  assert(account.role == "school" and fx.actor(account).username == account.username)
end

return T
