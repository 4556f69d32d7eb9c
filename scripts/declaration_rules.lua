-- declaration_rules: what the province's rules decide about a declaration
-- (its window, its mode, its findings, its review chain), decided before
-- any write: no rule runs inside a write transaction. The write then
-- re-checks only what is cheap (declarations.lua, still_valid).
-- A rule that fails raises the error value rule_failed (province_rules);
-- everything else is returned: a verdict, or nil and an error value.
-- Uses: db, province_rules, shadow, errors, log.
local db = require "db"
local errors = require "errors"
local log = require "log"
local P = require "province_rules"

local R = {}

-- The plan as every rule entry sees it (ctx.plan).
function R.plan_part(plan)
  return { id = plan.id, year = plan.year, batch = plan.batch, title = plan.title, mode = plan.mode,
           starts_at = plan.starts_at, ends_at = plan.ends_at }
end

-- The school as every rule entry sees it (ctx.school).
function R.school_part(school)
  return { id = school.id, code = school.code, type = school.type, province = school.province_code,
           city = school.city_code }
end

-- R.deadline(province, plan, action, d, now) -> {open, code, message}: the
-- deadline verdict of the province's rules; action "create" | "edit" |
-- "submit", d the stored declaration {id, status} or nil.
function R.deadline(province, plan, action, d, now)
  local v = P.call(province, "deadline", P.ctx({
    now = now, action = action,
    plan = R.plan_part(plan),
    declaration = d and { id = d.id, status = d.status } or nil,
  }))
  if type(v) ~= "table" then v = { open = false, code = "closed", message = "不在申报时间内" } end
  -- fail closed: only the boolean true opens (0, "false", "no" are truthy in Lua)
  v.open = v.open == true
  return v
end

-- R.window(province, plan, action, d, now) -> true | nil, err
-- (not_started, or outside_window with the rule's words).
function R.window(province, plan, action, d, now)
  local v = R.deadline(province, plan, action, d, now)
  if v.open then return true end
  return nil, errors.new(v.code == "not_started" and "not_started" or "outside_window",
                         v.message or "不在申报时间内，无法申报")
end

-- R.mode_of(province, plan) -> "by_major" | "not_by_major"
function R.mode_of(province, plan)
  local m = P.call(province, "declaration_mode", P.ctx({
    plan = R.plan_part(plan), id = plan.id, mode = plan.mode, year = plan.year }))
  if m ~= "by_major" and m ~= "not_by_major" then m = plan.mode end
  return m
end

-- The school's other declarations in the plan that count (not rejected).
function R.others_in_plan(school_id, plan_id, except_id)
  return db.one([[SELECT count(*) AS n FROM declarations
                  WHERE school_id = :school AND plan_id = :plan AND id <> :except
                    AND status <> 'rejected']],
                { school = school_id, plan = plan_id, except = except_id or 0 }).n
end

-- The school's declarations of a year (not rejected, but for except_id),
-- and its approved ones of the year before.
function R.year_counts(school_id, year, except_id)
  local row = db.one([[SELECT
      (SELECT count(*) FROM declarations d JOIN plans p ON p.id = d.plan_id
        WHERE d.school_id = :school AND p.year = :year AND d.id <> :except
          AND d.status <> 'rejected') AS this_year,
      (SELECT count(*) FROM declarations d JOIN plans p ON p.id = d.plan_id
        WHERE d.school_id = :school AND p.year = :year - 1 AND d.status = 'approved') AS last_year]],
    { school = school_id, year = year, except = except_id or 0 })
  return row.this_year, row.last_year
end

-- The certificate as check_declaration sees it (ctx.certificate), with
-- its majors {code, name, level}; nil when none is chosen (a draft).
local function certificate_part(id)
  if id == nil then return nil end
  local c = db.one([[SELECT c.id, c.code, c.name, c.level, o.name AS organization FROM certificates c
                     JOIN organizations o ON o.id = c.organization_id WHERE c.id = ?]], id)
  if not c then return nil end
  c.majors = {}
  for _, m in ipairs(db.query([[SELECT m.code, m.name, m.level FROM certificate_majors cm
                                 JOIN majors m ON m.code = cm.major_code
                                 WHERE cm.certificate_id = ? ORDER BY m.code]], id)) do
    c.majors[#c.majors + 1] = { code = m.code, name = m.name, level = m.level }
  end
  return c
end

-- R.review_chain(school, plan, d) -> {"city", "province"} | {"province"} ...
-- Raises rule_failed for a chain that is not one (fail closed: an unknown
-- level, "provinve", is the rule's failure, never a shorter review).
function R.review_chain(school, plan, d)
  local arg = P.ctx({
    school = R.school_part(school),
    plan = R.plan_part(plan),
    declaration = { id = d.id, certificate_id = d.certificate_id, trainees_total = d.trainees_total },
  })
  local chain = require("shadow").check(school.province_code, "review_chain", arg, { plan_id = plan.id },
    function() return P.call(school.province_code, "review_chain", arg) end)
  local out, seen = {}, {}
  local ok = type(chain) == "table" and #chain >= 1 and #chain <= 2
  for k, level in pairs(ok and chain or {}) do
    if math.type(k) ~= "integer" or (level ~= "city" and level ~= "province") or seen[level] then
      ok = false
    else
      seen[level] = true
    end
  end
  if not ok then
    log.error("rule " .. school.province_code .. ".review_chain answered an unknown chain")
    errors.raise("rule_failed", "省级申报规则执行出错，请联系管理员")
  end
  for _, level in ipairs(chain) do out[#out + 1] = level end
  -- a school with no city, or listed in another province's city (河北工业大学
  -- in 天津), has no city reviewer of its own province: skip that level
  if out[1] == "city" and (not school.city_code
      or school.city_code:sub(1, 2) ~= school.province_code) then
    table.remove(out, 1)
  end
  return out
end

-- R.check(school, plan, mode, d, submit, except_id, now) -> verdict | nil, err
-- The province's verdict on the form d (declaration_form.read), with the
-- counts and the plan window it was decided on, so that the write
-- re-checks them cheaply under the lock: {others, this_year, last_year,
-- year, plan_id, plan = {status, starts_at, ends_at}, except_id, warnings,
-- chain}.
-- Submitting: findings are a validation_failed error (the fields are the
-- findings) and a rule failure raises rule_failed; the chain is decided.
-- Saving a draft (保存): the findings are the verdict's warnings, and a
-- rule failure is a warning too, so typed work is never lost to a rule.
function R.check(school, plan, mode, d, submit, except_id, now)
  local others = R.others_in_plan(school.id, plan.id, except_id)
  local this_year, last_year = R.year_counts(school.id, plan.year, except_id)
  local cert = certificate_part(d.certificate_id)
  local names = {}
  for _, m in ipairs(cert and cert.majors or {}) do names[m.code] = m end
  local majors = {}
  for i, m in ipairs(d.majors) do
    local known = names[m.major] or {}
    majors[i] = { major = m.major, name = known.name, level = known.level, students = m.students,
                  teachers = m.teachers, trainees = m.trainees }
  end
  local input = P.ctx({
    submit = submit, mode = mode, now = now,
    plan = R.plan_part(plan),
    school = R.school_part(school),
    certificate = cert,
    declaration = {
      id = except_id, certificate_id = d.certificate_id, majors = majors,
      trainees_total = d.trainees_total, faculty_chars = d.faculty_chars, venue_chars = d.venue_chars,
    },
    others_in_plan = others,
    declarations_this_year = this_year,
    approved_last_year = last_year,
  })
  local verdict = { others = others, this_year = this_year, last_year = last_year, year = plan.year,
                    plan_id = plan.id, except_id = except_id,
                    plan = { status = plan.status, starts_at = plan.starts_at, ends_at = plan.ends_at } }
  local shadow = require "shadow"
  local seen = { declaration_id = except_id, plan_id = plan.id } -- for a running shadow
  if submit then
    local list = shadow.check(school.province_code, "check_declaration", input, seen,
      function() return P.errors(school.province_code, "check_declaration", input) end)
    if #list > 0 then
      return nil, errors.new("validation_failed", "申报内容不符合要求，请检查标出的项目", list)
    end
    verdict.warnings = {}
    verdict.chain = R.review_chain(school, plan, d)
  else
    -- a draft's warnings are what submitting would find (api.md), so the
    -- rules see it as a submission; the draft is saved all the same
    input.submit = true
    local list, err = P.try_errors(school.province_code, "check_declaration", input)
    shadow.observe(school.province_code, "check_declaration", input,
                   shadow.outcome("check_declaration", list, err), seen)
    if not list then
      log.error("rule " .. school.province_code .. ".check_declaration failed on a draft: " .. P.one_line(err))
      list = { { field = "", code = "rule_failed",
                 message = "省级申报规则执行出错，草稿已保存；提交前请联系管理员" } }
    end
    verdict.warnings = list
  end
  return verdict
end

return R
