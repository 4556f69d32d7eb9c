-- The declarations service (scripts/declarations.lua) on a real database,
-- without a server: plain tables in, a result or an error value out, and
-- the rows it leaves. 河北 (13): by major, reviewed by the city, then the
-- province; a major's trainees may not exceed its students.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local json = require "json"
local D = require "declarations"

local T = {}

-- A school of 河北 with a complete profile, a certificate and an open plan.
local function world(o)
  o = o or {}
  fx.fresh()
  local school, account = fx.school(o.school)
  local cert, majors = fx.certificate()
  local plan = fx.plan(o.plan)
  return { school = school, actor = fx.actor(account), cert = cert, majors = majors, plan = plan }
end

-- A whole form for w (every field submitting needs).
local function form(w, extra)
  local f = { plan_id = w.plan.id, certificate_id = w.cert, faculty = "<p>专任教师 12 人</p>",
              venue = "<p>实训室 3 间</p>",
              majors = { { major = w.majors[1], students = 40, teachers = 3, trainees = 30 } } }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

local function row(id)
  return fx.one([[SELECT id, status, review_level, review_chain, trainees_total, rules_version_id,
                         submitted_at FROM declarations WHERE id = ?]], id)
end

local function actions(id)
  local out = {}
  for _, a in ipairs(fx.query("SELECT action FROM audit_log WHERE entity_id = ? ORDER BY id", id)) do
    out[#out + 1] = a.action
  end
  return table.concat(out, ",")
end

function T.create_a_draft()
  local w = world()
  -- a draft may lack what submitting needs: the findings come back as warnings
  local r = assert(D.create(w.actor, w.school, form(w, { venue = "" }), fx.NOW))
  assert(r.status == "draft", r.status)
  assert(#r.warnings == 1 and r.warnings[1].field == "venue" and r.warnings[1].code == "required")
  local d = row(r.id)
  assert(d.status == "draft" and d.review_level == nil and d.submitted_at == nil)
  assert(d.trainees_total == 30, "by major, the total is the majors' sum")
  local m = fx.one("SELECT major_code, students, teachers, trainees FROM declaration_majors WHERE declaration_id = ?", r.id)
  assert(m.major_code == w.majors[1] and m.students == 40 and m.trainees == 30)
  assert(actions(r.id) == "declaration.create")
  local a = fx.one("SELECT username, role, after_status, province_code, city_code, remote FROM audit_log WHERE entity_id = ?", r.id)
  assert(a.username == w.actor.username and a.role == "school" and a.after_status == "draft"
         and a.province_code == "13" and a.city_code == "1301" and a.remote == "unit")
end

function T.submit_a_draft()
  local w = world()
  local r = assert(D.create(w.actor, w.school, form(w), fx.NOW))
  local s = assert(D.submit(w.actor, w.school, r.id, fx.NOW + 5))
  assert(s.id == r.id and s.status == "pending")
  local d = row(r.id)
  assert(d.status == "pending" and d.review_level == "city" and d.submitted_at == fx.NOW + 5)
  local chain = json.decode(d.review_chain)
  assert(chain[1] == "city" and chain[2] == "province" and #chain == 2)
  -- the decision record: the version of 13 in force
  local v = fx.one("SELECT id FROM rule_versions WHERE province = '13' AND status = 'published'")
  assert(d.rules_version_id == v.id)
  local rv = fx.one("SELECT level, decision, account_id, rules_version_id FROM reviews WHERE declaration_id = ?", r.id)
  assert(rv.level == "school" and rv.decision == "submit" and rv.account_id == w.actor.id
         and rv.rules_version_id == v.id)
  assert(actions(r.id) == "declaration.create,declaration.submit")
  -- submitted once: a second submit is the wrong status
  local again, err = D.submit(w.actor, w.school, r.id, fx.NOW + 6)
  fx.err("wrong_status", again, err)
  assert(err.message == "当前状态不能提交")
end

function T.create_and_submit_at_once()
  local w = world()
  local r = assert(D.create(w.actor, w.school, form(w, { submit = true }), fx.NOW))
  assert(r.status == "pending" and #r.warnings == 0)
  assert(row(r.id).status == "pending")
  assert(fx.count("reviews", "declaration_id = :id", { id = r.id }) == 1)
end

function T.outside_the_window()
  local w = world({ plan = { starts = -30 * 86400, ends = -86400 } })
  local r, err = D.create(w.actor, w.school, form(w), fx.NOW)
  fx.err("outside_window", r, err)
  assert(err.message == "已超过申报时间，无法申报", err.message)
  local upcoming = fx.plan({ starts = 86400, ends = 30 * 86400 })
  r, err = D.create(w.actor, w.school, form(w, { plan_id = upcoming.id }), fx.NOW)
  fx.err("not_started", r, err)
  assert(err.message == "申报尚未开始")
  assert(fx.count("declarations") == 0 and fx.count("audit_log") == 0)
end

function T.one_declaration_per_certificate_in_a_plan()
  local w = world()
  assert(D.create(w.actor, w.school, form(w), fx.NOW))
  local r, err = D.create(w.actor, w.school, form(w), fx.NOW)
  fx.err("duplicate", r, err)
  assert(err.message == "本计划中已申报过该证书")
  assert(fx.count("declarations") == 1 and fx.count("declaration_majors") == 1)
  assert(fx.count("audit_log", "action = 'declaration.create'") == 1, "the refused write rolled back")
end

function T.wrong_status()
  local w = world()
  local r = assert(D.create(w.actor, w.school, form(w, { submit = true }), fx.NOW))
  local u, err = D.update(w.actor, w.school, r.id, form(w), fx.NOW)
  fx.err("wrong_status", u, err)
  assert(err.message == "当前状态不能修改")
  local d, derr = D.delete(w.actor, w.school, r.id, fx.NOW)
  fx.err("wrong_status", d, derr)
  assert(derr.message == "只能删除草稿")
  assert(row(r.id).status == "pending")
end

function T.a_rule_finding_refuses_a_submission_and_warns_a_draft()
  local w = world()
  local over = { { major = w.majors[1], students = 10, teachers = 2, trainees = 11 } }
  local r, err = D.create(w.actor, w.school, form(w, { majors = over, submit = true }), fx.NOW)
  fx.err("validation_failed", r, err)
  assert(err.message == "申报内容不符合要求，请检查标出的项目")
  assert(#err.fields == 1 and err.fields[1].field == "majors[0].trainees"
         and err.fields[1].code == "exceeds_students", json.encode(err.fields))
  assert(err.fields[1].rule.file == "13", "a finding names the rule file it came from")
  assert(fx.count("declarations") == 0)
  -- saved as a draft (保存), the same finding is a warning beside it
  local draft = assert(D.create(w.actor, w.school, form(w, { majors = over }), fx.NOW))
  assert(draft.status == "draft" and draft.warnings[1].code == "exceeds_students")
  -- and submitting the stored draft meets it again
  local s, serr = D.submit(w.actor, w.school, draft.id, fx.NOW)
  fx.err("validation_failed", s, serr)
  assert(row(draft.id).status == "draft")
end

function T.a_failing_rule_is_rule_failed_and_stores_nothing()
  local w = world()
  local V = require "rules_versions"
  local rules = require "rules"
  -- 13's review chain names a level that does not exist: fail closed
  local set = assert(rules.load(V.candidate("13",
    "local base = ...\nreturn { review_chain = function() return { 'provinve' } end }\n", 0)))
  rules.pin(set)
  local ok, r, err = pcall(D.create, w.actor, w.school, form(w, { submit = true }), fx.NOW)
  rules.unpin()
  assert(ok, "a rule's failure is returned, not raised")
  fx.err("rule_failed", r, err)
  assert(err.message == "省级申报规则执行出错，请联系管理员")
  assert(fx.count("declarations") == 0 and fx.count("reviews") == 0)
end

function T.delete_only_drafts()
  local w = world()
  local draft = assert(D.create(w.actor, w.school, form(w), fx.NOW))
  local r = assert(D.delete(w.actor, w.school, draft.id, fx.NOW))
  assert(r.id == draft.id)
  assert(fx.count("declarations") == 0 and fx.count("declaration_majors") == 0)
  assert(actions(draft.id) == "declaration.create,declaration.delete")
  local gone, err = D.delete(w.actor, w.school, draft.id, fx.NOW)
  fx.err("not_found", gone, err)
end

function T.edit_a_draft_and_submit_with_it()
  local w = world()
  local draft = assert(D.create(w.actor, w.school, form(w), fx.NOW))
  local two = { { major = w.majors[1], students = 40, teachers = 3, trainees = 20 },
                { major = w.majors[2], students = 30, teachers = 2, trainees = 15 } }
  local r = assert(D.update(w.actor, w.school, draft.id, form(w, { majors = two, submit = true }), fx.NOW))
  assert(r.status == "pending" and row(draft.id).trainees_total == 35)
  assert(fx.count("declaration_majors", "declaration_id = :id", { id = draft.id }) == 2)
  -- the plan of a declaration stays
  local cert2, majors2 = fx.certificate()
  local d2 = assert(D.create(w.actor, w.school, form(w, { certificate_id = cert2,
    majors = { { major = majors2[1], students = 5, teachers = 1, trainees = 5 } } }), fx.NOW))
  local u, err = D.update(w.actor, w.school, d2.id, form(w, { plan_id = fx.plan().id }), fx.NOW)
  fx.err("validation_failed", u, err)
  assert(err.fields[1].field == "plan_id" and err.fields[1].code == "immutable")
  -- and a certificate declared already in the plan is refused on edit too
  u, err = D.update(w.actor, w.school, d2.id, form(w), fx.NOW)
  fx.err("duplicate", u, err)
  assert(fx.one("SELECT certificate_id FROM declarations WHERE id = ?", d2.id).certificate_id == cert2)
end

function T.only_the_schools_own_and_its_provinces_plans()
  local w = world()
  local mine = assert(D.create(w.actor, w.school, form(w), fx.NOW))
  local other, other_account = fx.school()
  local r, err = D.submit(fx.actor(other_account), other, mine.id, fx.NOW)
  fx.err("not_found", r, err)
  assert(err.message == "申报不存在")
  local guangdong = fx.plan({ province = "44" })
  r, err = D.create(w.actor, w.school, form(w, { plan_id = guangdong.id }), fx.NOW)
  fx.err("not_found", r, err)
  assert(err.message == "申报计划不存在")
end

function T.the_forms_checks_come_back_as_fields()
  local w = world()
  local r, err = D.create(w.actor, w.school, { certificate_id = w.cert }, fx.NOW)
  fx.err("validation_failed", r, err)
  assert(err.fields[1].field == "plan_id" and err.fields[1].code == "required")
  r, err = D.create(w.actor, w.school, form(w, { submit = "yes" }), fx.NOW)
  fx.err("validation_failed", r, err)
  assert(err.fields[1].field == "submit" and err.fields[1].code == "type")
  r, err = D.create(w.actor, w.school, form(w, { majors = { { major = w.majors[1], students = -1 } } }), fx.NOW)
  fx.err("validation_failed", r, err)
  assert(err.fields[1].field == "majors[0].students" and err.fields[1].code == "not_count")
  r, err = D.create(w.actor, w.school, form(w, { majors = { { major = "999999", students = 1 } } }), fx.NOW)
  fx.err("validation_failed", r, err)
  assert(err.fields[1].code == "not_for_certificate")
  assert(fx.count("declarations") == 0)
end

function T.the_school_and_its_profile()
  fx.fresh()
  local inactive = fx.school({ active = 0 })
  local s, err = D.school(inactive.id)
  fx.err("school_inactive", s, err)
  fx.err("not_found", D.school(9999))
  local bare, account = fx.school({ profile = false })
  assert(D.school(bare.id).id == bare.id)
  local cert, majors = fx.certificate()
  local plan = fx.plan()
  local r, perr = D.create(fx.actor(account), bare, { plan_id = plan.id, certificate_id = cert,
    majors = { { major = majors[1] } } }, fx.NOW)
  fx.err("profile_incomplete", r, perr)
  assert(perr.message == "请先完善院校基础信息")
end

-- Runs fn with declaration_rules.check wrapped: after the first decision,
-- between(verdict) writes what a concurrent request would (committed
-- before the write transaction re-checks). Returns how often it decided.
local function racing(between, fn)
  local verdicts = require "declaration_rules"
  local check, calls = verdicts.check, 0
  verdicts.check = function(...)
    calls = calls + 1
    local v, e = check(...)
    if calls == 1 and v then between(v) end
    return v, e
  end
  local ok, r1, r2 = pcall(fn)
  verdicts.check = check
  assert(ok, r1)
  return calls, r1, r2
end

-- 2026-12-02: the write re-checked the count in the plan, not the year's
-- count that a per-year limit decided on: a declaration in another plan of
-- the same year, written between the decision and the write, went unseen.
function T.a_write_in_another_plan_of_the_year_makes_the_verdict_stale()
  local w = world()
  local other = fx.plan({ year = w.plan.year })
  local next_year = fx.plan({ year = w.plan.year + 1 })
  local db = require "db"
  local function declare_in(plan)
    return function()
      db.exec([[INSERT INTO declarations(school_id, plan_id, certificate_id, status, mode, trainees_total,
                                         created_at, updated_at)
                VALUES (:school, :plan, :cert, 'draft', 'by_major', 0, :now, :now)]],
              { school = w.school.id, plan = plan.id, cert = w.cert, now = fx.NOW })
    end
  end
  -- another plan of the year: decided again, on the new count
  local calls, r, e = racing(declare_in(other), function()
    return D.create(w.actor, w.school, form(w, { submit = true }), fx.NOW)
  end)
  assert(r and r.status == "pending", "stored once decided again: " .. tostring(e))
  assert(calls == 2, "decided again after a write in the year: " .. calls)
  -- a plan of the next year changes nothing the rules saw this year
  local cert2, majors2 = fx.certificate()
  calls, r, e = racing(declare_in(next_year), function()
    return D.create(w.actor, w.school, form(w, { certificate_id = cert2, submit = true,
      majors = { { major = majors2[1], students = 40, teachers = 3, trainees = 30 } } }), fx.NOW)
  end)
  assert(r and calls == 1, "one decision: " .. calls .. " " .. tostring(e))
end

-- A 提前结束 between the decision and the write: decided again, on the
-- plan as it now is, and refused.
function T.a_plan_closed_between_the_decision_and_the_write_refuses()
  local w = world()
  local db = require "db"
  local calls, r, e = racing(function()
    db.exec("UPDATE plans SET ends_at = :now, starts_at = :start WHERE id = :id",
            { now = fx.NOW - 1, start = fx.NOW - 86400, id = w.plan.id })
  end, function()
    return D.create(w.actor, w.school, form(w), fx.NOW)
  end)
  fx.err("outside_window", r, e)
  assert(calls == 1, "the window refused before a second decision: " .. calls)
  assert(fx.count("declarations", "plan_id = :p", { p = w.plan.id }) == 0, "nothing stored")
end

-- A school deactivated in the master list between the decision and the
-- write: decided again, and refused.
function T.a_school_deactivated_between_the_decision_and_the_write_refuses()
  local w = world()
  local db = require "db"
  local calls, r, e = racing(function()
    db.exec("UPDATE schools SET active = 0 WHERE id = :id", { id = w.school.id })
  end, function()
    return D.create(w.actor, w.school, form(w, { submit = true }), fx.NOW)
  end)
  fx.err("school_inactive", r, e)
  assert(calls == 1, "refused before a second decision: " .. calls)
  assert(fx.count("declarations", "school_id = :s", { s = w.school.id }) == 0, "nothing stored")
end

return T
