-- The rules services (rules_versions, rules_publish, rules_replay) on a
-- real database, without a server: push, cases, publish gated by the
-- cases, rollback, replay; what they return and the rows they leave.
-- 河北 (13) starts with its baseline: rules/13.lua in force, its cases
-- tests/rules/13.lua stored.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local json = require "json"
local rules = require "rules"
local V = require "rules_versions"
local Pub = require "rules_publish"
local Rep = require "rules_replay"

local T = {}

local AUTHOR = { id = nil, name = "单元测试" }

local function baseline_13()
  return fx.one("SELECT id, source, status FROM rule_versions WHERE province = '13' ORDER BY id LIMIT 1")
end

-- rules/13.lua with one change: what the given entry returns.
local function variant(entry, body)
  local src = baseline_13().source
  return (src:gsub("\nreturn R\n$", "\nfunction R." .. entry .. "(ctx)\n  " .. body .. "\nend\n\nreturn R\n"))
end

function T.push_refused_with_its_line()
  fx.fresh()
  local before = fx.count("rule_versions")
  local v, err = V.push("13", "local base = ...\nlocal R = {}\nfunction R.x(\nreturn R\n", "坏的", AUTHOR, fx.NOW)
  fx.err("rules_invalid", v, err)
  assert(err.message:find("^规则未通过校验："), err.message)
  local p = err.fields[1]
  assert(p.field == "source" and p.code == "syntax" and p.line == 4, json.encode(err.fields))
  assert(fx.count("rule_versions") == before, "nothing stored")
  -- what every source must be, before any rule runs
  fx.err("validation_failed", V.push("13", "", nil, AUTHOR))
  local long, lerr = V.push("13", string.rep("\n", V.MAX_LINES), nil, AUTHOR)
  fx.err("validation_failed", long, lerr)
  assert(lerr.fields[1].code == "too_long" and lerr.message == "规则源码过长")
  local note, nerr = V.push("13", baseline_13().source, 7, AUTHOR)
  fx.err("validation_failed", note, nerr)
  assert(nerr.fields[1].field == "note" and nerr.message == "备注无效")
end

function T.push_stores_a_draft()
  fx.fresh()
  local src = variant("name", "return 'x'")
  local v, warnings = assert(V.push("13", src, "  试一试  ", AUTHOR, fx.NOW))
  assert(type(warnings) == "table")
  assert(v.status == "draft" and v.province == "13" and v.source == src and v.note == "试一试")
  assert(v.sha256 == V.sha256(src) and v.author == "单元测试" and v.created_at == fx.NOW)
  local listed = V.list("13", 1, 10)
  assert(listed.total == 2 and listed.items[1].id == v.id and listed.items[1].in_force == false)
  assert(listed.items[2].in_force == true)
  fx.err("not_found", V.get("44", v.id))
end

function T.cases_are_checked_then_stored()
  fx.fresh()
  local cur = V.in_force("13")
  -- cases that do not run on the version in force are refused, the stored ones stay
  local stored = V.cases("13")
  local ok, err = V.put_cases("13", "return {", nil, fx.NOW)
  fx.err("cases_invalid", ok, err)
  assert(err.fields[1].field == "cases")
  assert(V.cases("13") == stored)
  local mine = [[return {
    { name = "city first", province = "13", fn = "review_chain", input = {},
      expect = { equals = { "city", "province" } } },
  }]]
  assert(V.put_cases("13", mine, nil, fx.NOW + 1) == true)
  local source, at = V.cases("13")
  assert(source == mine and at == fx.NOW + 1)
  local r = assert(V.test("13", cur))
  assert(r.passed == 1 and r.failed == 0 and r.results[1].name == "city first" and r.results[1].ok)
  assert(r.coverage.lines > 0)
end

function T.publish_is_gated_by_the_cases()
  fx.fresh()
  local base = baseline_13()
  local gen = V.generation()
  -- the province's stored cases expect city, then province
  local bad = assert(V.push("13", variant("review_chain", "return { 'province' }"), nil, AUTHOR))
  local v, err = Pub.publish("13", bad.id, fx.NOW)
  fx.err("cases_failed", v, err)
  assert(err.message:find("^本省测试用例未通过（1 个失败），未发布"), err.message)
  local failing = {}
  for _, f in ipairs(err.fields) do
    if f.code == "case_failed" then failing[#failing + 1] = f.name end
  end
  assert(#failing == 1 and failing[1] == "review by the city, then the province", json.encode(err.fields))
  assert(V.get("13", bad.id).status == "draft" and V.in_force("13").id == base.id)
  assert(V.generation() == gen, "nothing changed")
  -- a version its cases pass goes in force, here and in the store
  local good = assert(V.push("13", variant("name", "return '河北省新规则'"), nil, AUTHOR))
  local published, replaced = assert(Pub.publish("13", good.id, fx.NOW + 1))
  assert(published.status == "published" and published.published_at == fx.NOW + 1)
  assert(replaced == base.id and V.get("13", base.id).status == "retired")
  assert(V.generation() == gen + 1)
  assert(rules.versions()["13"] == good.id, "installed in this process")
  assert(rules.call("13", "name") == "河北省新规则")
  -- publishing it again, or a retired version
  fx.err("conflict", Pub.publish("13", good.id))
  local _, rerr = Pub.publish("13", base.id)
  assert(rerr.code == "conflict" and rerr.message == "已停用的版本请使用回滚")
  fx.err("not_found", Pub.publish("44", good.id))
end

function T.rollback_returns_to_a_retired_version()
  fx.fresh()
  local base = baseline_13()
  local good = assert(V.push("13", variant("name", "return '新'"), nil, AUTHOR))
  assert(Pub.publish("13", good.id, fx.NOW))
  local draft = assert(V.push("13", variant("name", "return '草稿'"), nil, AUTHOR))
  local r, err = Pub.rollback("13", draft.id)
  fx.err("conflict", r, err)
  assert(err.message == "只能回滚到曾经生效过的版本；草稿请使用发布")
  r, err = Pub.rollback("13", good.id)
  fx.err("conflict", r, err)
  assert(err.message == "该版本已在生效中")
  -- back to the baseline: no cases run (it was in force before)
  local gen = V.generation()
  local back, replaced = assert(Pub.rollback("13", base.id, fx.NOW + 2))
  assert(back.id == base.id and back.status == "published" and replaced == good.id)
  assert(V.get("13", good.id).status == "retired" and V.generation() == gen + 1)
  assert(rules.versions()["13"] == base.id)
  assert(rules.call("13", "name") == "河北省示例规则")
end

function T.replay_decides_beside_the_set_in_force_and_writes_nothing()
  fx.fresh()
  local school, account = fx.school()
  local cert, majors = fx.certificate()
  local plan = fx.plan()
  local d = assert(require("declarations").create(fx.actor(account), school, {
    plan_id = plan.id, certificate_id = cert, faculty = "<p>x</p>", venue = "<p>y</p>", submit = true,
    majors = { { major = majors[1], students = 10, teachers = 2, trainees = 10 } } }, fx.NOW))
  local strict = assert(V.push("13", variant("check_declaration",
    "return { { field = 'venue', code = 'too_small', message = '场地不足' } }"), nil, AUTHOR))
  local rows_before = fx.count("audit_log") + fx.count("declarations") + fx.count("rule_versions")
  local r = assert(Rep.replay("13", strict, plan.id, "13"))
  assert(r.total == 1 and r.changed == 1 and not r.truncated)
  local it = r.items[1]
  assert(it.declaration_id == d.id and it.status == "pending")
  assert(#it.before.codes == 0 and table.concat(it.before.review_chain, ",") == "city,province")
  assert(table.concat(it.after.codes, ",") == "too_small" and #it.after.review_chain == 0)
  assert(fx.count("audit_log") + fx.count("declarations") + fx.count("rule_versions") == rows_before)
  assert(rules.versions()["13"] ~= strict.id, "the candidate never went in force")
  -- the national defaults replay over the plan's own province
  local default = V.in_force("default")
  local same = assert(Rep.replay("default", default, plan.id, nil))
  assert(same.total == 1 and same.changed == 0)
  -- another province's plan, or the caller's province elsewhere
  fx.err("not_found", Rep.replay("44", strict, plan.id))
  fx.err("not_found", Rep.replay("default", default, plan.id, "44"))
end

function T.a_default_push_must_hold_under_every_province()
  fx.fresh()
  -- 广东's file reads a table of the defaults when it loads
  local src44 = fx.one("SELECT source FROM rule_versions WHERE province = '44'").source
  local reads = src44:gsub("local base = %.%.%.\n", "local base = ...\nlocal LEVELS = base.school_major_levels['高职']\n", 1)
  local v44 = assert(V.push("44", reads, nil, AUTHOR))
  assert(Pub.publish("44", v44.id))
  -- a default that loads alone, without that table: refused, naming 44's file
  local default = V.in_force("default").source
  local without = default:gsub("\nR%.school_major_levels = {.-\n}\n", "\n", 1)
  assert(without ~= default)
  local v, err = V.push("default", without, nil, AUTHOR)
  fx.err("rules_invalid", v, err)
  assert(err.message:find("44.lua", 1, true), err.message)
  assert(err.fields[1].line == 5, json.encode(err.fields))
  assert(fx.count("rule_versions", "province = 'default'") == 1, "nothing stored")
  -- a province's push is checked over the defaults alone: 13 is not held
  -- back by another province's file
  assert(V.push("13", baseline_13().source, nil, AUTHOR))
end

return T
