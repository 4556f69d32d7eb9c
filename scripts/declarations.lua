-- declarations: the school's declarations (证书试点申报) as a service:
-- create (保存 or 保存并提交), update, submit and delete. Each takes plain
-- tables (who acts, the school row, the form, now) and returns a result
-- or nil and an error value (scripts/errors.lua); it never knows HTTP.
-- The province decides first (declaration_rules.lua), then one write
-- transaction stores, re-checking what it decided on; a raise inside the
-- transaction (errors.raise) rolls it back and is returned at the boundary.
--
--   actor:  {id, username, role[, remote]}   who acts, for the audit log
--   school: {id, code, name, type, province_code, city_code, active}
--
-- Error codes: not_found, school_inactive, profile_incomplete,
-- validation_failed, not_started, outside_window, duplicate, wrong_status,
-- conflict, rule_failed. Uses: db, json, audit, errors, province_rules,
-- rules, shadow, profile, declaration_form, declaration_rules.
local db = require "db"
local json = require "json"
local audit = require "audit"
local errors = require "errors"
local P = require "province_rules"
local form = require "declaration_form"
local verdicts = require "declaration_rules"

local M = {}

M.EDITABLE = { draft = true, returned = true }

local function audit_ctx(actor, now)
  return { now = now, account = actor, remote = actor.remote }
end

-- M.school(id) -> school | nil, err (not_found; school_inactive when the
-- school was deactivated in the master list).
function M.school(id)
  local s = db.one("SELECT id, code, name, type, province_code, city_code, active FROM schools WHERE id = ?", id)
  if not s then return nil, errors.new("not_found", "院校不存在") end
  if s.active ~= 1 then
    return nil, errors.new("school_inactive", "院校已在院校总库中停用，请联系省级或地市级教育行政部门")
  end
  return s
end

-- M.plan_for(school, plan_id) -> plan | nil, err: a published plan of the
-- school's province (not_found otherwise).
function M.plan_for(school, plan_id)
  local plan = db.one([[SELECT id, province_code, year, batch, title, mode, starts_at, ends_at, status
                        FROM plans WHERE id = ?]], plan_id)
  if not plan or plan.status ~= "published" or plan.province_code ~= school.province_code then
    return nil, errors.new("not_found", "申报计划不存在")
  end
  return plan
end

local function profile_complete(school)
  local profile = require "profile"
  if #profile.problems(profile.load(school.id)) > 0 then
    return nil, errors.new("profile_incomplete", "请先完善院校基础信息")
  end
  return true
end

-- The school's own declaration (not_found for anyone else's).
local function own(school, id)
  local d = db.one([[SELECT id, school_id, plan_id, certificate_id, status, mode, trainees_total,
                            faculty, venue FROM declarations WHERE id = ?]], id)
  if not d or d.school_id ~= school.id then
    return nil, errors.new("not_found", "申报不存在")
  end
  return d
end

local function submit_flag(b)
  if b.submit ~= nil and type(b.submit) ~= "boolean" then
    return nil, errors.field("submit", "type", "submit 应为布尔值")
  end
  return b.submit == true
end

-- Marks a failed re-check under the lock, so that the caller decides again.
local STALE = setmetatable({}, { __tostring = function() return "declaration verdict stale" end })

-- Under the write lock: is what the verdict was decided on still so? The
-- counts the rules saw (in the plan, in the plan's year, approved the year
-- before: a per-plan or per-year limit decided on them), the plan's window
-- (a 提前结束 or a delete in the same batch) and the school's being active
-- in the master list.
local function still_valid(school, verdict)
  local s = db.one("SELECT active FROM schools WHERE id = ?", school.id)
  if not s or s.active ~= 1 then error(STALE, 0) end
  if verdicts.others_in_plan(school.id, verdict.plan_id, verdict.except_id) ~= verdict.others then
    error(STALE, 0)
  end
  local this_year, last_year = verdicts.year_counts(school.id, verdict.year, verdict.except_id)
  if this_year ~= verdict.this_year or last_year ~= verdict.last_year then error(STALE, 0) end
  local p = db.one("SELECT status, starts_at, ends_at FROM plans WHERE id = ?", verdict.plan_id)
  if not p or p.status ~= verdict.plan.status or p.starts_at ~= verdict.plan.starts_at
      or p.ends_at ~= verdict.plan.ends_at then
    error(STALE, 0)
  end
end

-- The school's published plan and its window as they are now, for action
-- ("create" | "edit" | "submit") on cur: plan | nil, err.
local function open_plan(school, plan_id, action, cur, now)
  local plan, err = M.plan_for(school, plan_id)
  if not plan then return nil, err end
  local open, werr = verdicts.window(school.province_code, plan, action, cur, now)
  if not open then return nil, werr end
  return plan
end

-- A decision again (a stale verdict): the school and the plan as they now are.
local function reopen(school, plan_id, action, cur, now)
  local s, err = M.school(school.id)
  if not s then return nil, err end
  return open_plan(school, plan_id, action, cur, now)
end

-- Decides with decide(attempt) -> verdict | nil, err and writes with
-- write(verdict) in one write transaction, deciding again (at most three
-- times) when a concurrent write changed what the decision rested on
-- (attempt > 1: decide reads again what it read before the first).
-- Returns verdict, what write returned | nil, err.
local function decide_and_write(decide, write)
  for attempt = 1, 3 do
    local verdict, err = decide(attempt)
    if not verdict then return nil, err end
    local ok, result = pcall(db.transaction, write, verdict)
    if ok then return verdict, result end
    if result ~= STALE then error(result, 0) end
    -- what made it stale may be a batch-mate's write not yet committed
    -- (host/dbq.c): decide() reads committed data only, so wait for that
    -- batch's COMMIT (an empty transaction joins it) before deciding again
    db.transaction(function() end)
  end
  return nil, errors.new("conflict", "申报数据正在被同时修改，请稍后重试")
end

local function duplicate_guard(school_id, plan_id, cert_id, except_id)
  if db.one([[SELECT 1 AS x FROM declarations WHERE school_id = :school AND plan_id = :plan
              AND certificate_id = :cert AND id <> :except]],
            { school = school_id, plan = plan_id, cert = cert_id, except = except_id or 0 }) then
    errors.raise("duplicate", "本计划中已申报过该证书")
  end
end

local function store_majors(id, majors)
  db.exec("DELETE FROM declaration_majors WHERE declaration_id = ?", id)
  for i, m in ipairs(majors) do
    db.exec([[INSERT INTO declaration_majors(declaration_id, position, major_code, students, teachers, trainees)
              VALUES (:id, :position, :major, :students, :teachers, :trainees)]],
            { id = id, position = i, major = m.major, students = m.students, teachers = m.teachers,
              trainees = m.trainees })
  end
end

-- Moves a stored declaration to pending at the first level of its chain
-- (decided before the write, in declaration_rules.check).
local function submit_stored(actor, now, school, id, chain, before)
  local version = P.version()
  -- the decision record: the province's version in force for this request
  local version_id = require("rules").versions()[school.province_code]
  db.exec([[UPDATE declarations SET status = 'pending', review_level = :level, review_chain = :chain,
              rules_version = :version, rules_version_id = :version_id, submitted_at = :now,
              updated_at = :now
            WHERE id = :id]],
          { id = id, level = chain[1], chain = json.encode(chain), version = version,
            version_id = version_id, now = now })
  db.exec([[INSERT INTO reviews(declaration_id, level, decision, comment, account_id, rules_version,
                                rules_version_id, created_at)
            VALUES (:id, 'school', 'submit', NULL, :account, :version, :version_id, :now)]],
          { id = id, account = actor.id, version = version, version_id = version_id, now = now })
  audit.log(audit_ctx(actor, now), "declaration.submit", "declaration", id, {
    before = before, after = "pending", province = school.province_code, city = school.city_code,
    detail = { review_level = chain[1], rules_version = version, rules_version_id = version_id } })
end

-- M.create(actor, school, b, now) -> {id, status, warnings} | nil, err
-- b: the form {plan_id, certificate_id, majors, trainees_total, faculty,
-- venue, submit}. A draft's warnings are what submitting would find.
function M.create(actor, school, b, now)
  local ok, err = profile_complete(school)
  if not ok then return nil, err end
  if math.type(b.plan_id) ~= "integer" then
    return nil, errors.field("plan_id", "required", "请选择申报计划")
  end
  local submit, serr = submit_flag(b)
  if submit == nil then return nil, serr end
  local plan, perr = open_plan(school, b.plan_id, "create", nil, now)
  if not plan then return nil, perr end
  local mode = verdicts.mode_of(school.province_code, plan) -- a published plan keeps its mode
  local d, ferr = form.read(b, mode)
  if not d then return nil, ferr end
  local cert, cerr = form.check_catalogue(d, school)
  if not cert then return nil, cerr end
  local verdict, id = decide_and_write(function(attempt)
    if attempt > 1 then
      local again, aerr = reopen(school, b.plan_id, "create", nil, now)
      if not again then return nil, aerr end
      plan = again
    end
    return verdicts.check(school, plan, mode, d, submit, nil, now)
  end, function(v)
    duplicate_guard(school.id, plan.id, d.certificate_id) -- whatever the verdict
    still_valid(school, v)
    local _, new_id = db.exec([[INSERT INTO declarations(school_id, plan_id, certificate_id, status, mode,
                                  trainees_total, faculty, venue, created_by, created_at, updated_at)
                                VALUES (:school, :plan, :cert, 'draft', :mode, :trainees, :faculty, :venue,
                                        :by, :now, :now) RETURNING id]],
      { school = school.id, plan = plan.id, cert = d.certificate_id, mode = mode,
        trainees = d.trainees_total, faculty = d.faculty, venue = d.venue, by = actor.id, now = now })
    store_majors(new_id, d.majors)
    audit.log(audit_ctx(actor, now), "declaration.create", "declaration", new_id, {
      after = "draft", province = school.province_code, city = school.city_code })
    if submit then submit_stored(actor, now, school, new_id, v.chain, "draft") end
    require("shadow").bind(new_id) -- checks a shadow saw before the id existed
    return new_id
  end)
  if not verdict then return nil, id end
  return { id = id, status = submit and "pending" or "draft", warnings = verdict.warnings }
end

-- M.update(actor, school, id, b, now) -> {id, status, warnings} | nil, err
-- Edits a draft or returned declaration (the plan stays); b.submit also
-- submits it.
function M.update(actor, school, id, b, now)
  local cur, err = own(school, id)
  if not cur then return nil, err end
  if not M.EDITABLE[cur.status] then
    return nil, errors.new("wrong_status", "当前状态不能修改")
  end
  if b.plan_id ~= nil and b.plan_id ~= cur.plan_id then
    return nil, errors.field("plan_id", "immutable", "不能更改申报计划")
  end
  local submit, serr = submit_flag(b)
  if submit == nil then return nil, serr end
  local action = submit and "submit" or "edit"
  local plan, perr = open_plan(school, cur.plan_id, action, cur, now)
  if not plan then return nil, perr end
  if submit then
    local ok, prerr = profile_complete(school)
    if not ok then return nil, prerr end
  end
  local d, ferr = form.read(b, cur.mode)
  if not d then return nil, ferr end
  local cert, cerr = form.check_catalogue(d, school)
  if not cert then return nil, cerr end
  local verdict, werr2 = decide_and_write(function(attempt)
    if attempt > 1 then
      local again, aerr = reopen(school, cur.plan_id, action, cur, now)
      if not again then return nil, aerr end
      plan = again
    end
    return verdicts.check(school, plan, cur.mode, d, submit, cur.id, now)
  end, function(v)
    local at = db.one("SELECT status FROM declarations WHERE id = ?", cur.id)
    if not at or at.status ~= cur.status then errors.raise("wrong_status", "申报状态已变化，请刷新") end
    duplicate_guard(school.id, plan.id, d.certificate_id, cur.id) -- whatever the verdict
    still_valid(school, v)
    db.exec([[UPDATE declarations SET certificate_id = :cert, trainees_total = :trainees,
                faculty = :faculty, venue = :venue, updated_at = :now
              WHERE id = :id]],
      { cert = d.certificate_id, trainees = d.trainees_total, faculty = d.faculty, venue = d.venue,
        now = now, id = cur.id })
    store_majors(cur.id, d.majors)
    audit.log(audit_ctx(actor, now), "declaration.update", "declaration", cur.id, {
      before = cur.status, after = cur.status, province = school.province_code, city = school.city_code })
    if submit then submit_stored(actor, now, school, cur.id, v.chain, cur.status) end
  end)
  if not verdict then return nil, werr2 end
  return { id = cur.id, status = submit and "pending" or cur.status, warnings = verdict.warnings }
end

-- M.submit(actor, school, id, now) -> {id, status = "pending"} | nil, err
-- Submits the stored declaration as it is.
function M.submit(actor, school, id, now)
  local cur, err = own(school, id)
  if not cur then return nil, err end
  if not M.EDITABLE[cur.status] then
    return nil, errors.new("wrong_status", "当前状态不能提交")
  end
  local plan, perr = open_plan(school, cur.plan_id, "submit", cur, now)
  if not plan then return nil, perr end
  local ok, prerr = profile_complete(school)
  if not ok then return nil, prerr end
  local verdict, serr = decide_and_write(function(attempt)
    -- the stored form as it is now; the write checks it did not change
    local stored = db.one("SELECT updated_at FROM declarations WHERE id = ?", cur.id)
    local at, aerr = own(school, id)
    if not at then return nil, aerr end
    if not M.EDITABLE[at.status] then return nil, errors.new("wrong_status", "当前状态不能提交") end
    if attempt > 1 then
      local again, werr = reopen(school, cur.plan_id, "submit", at, now)
      if not again then return nil, werr end
      plan = again
    end
    local v, verr = verdicts.check(school, plan, at.mode, form.stored(at), true, at.id, now)
    if not v then return nil, verr end
    v.status, v.updated_at = at.status, stored.updated_at
    return v
  end, function(v)
    local at = db.one("SELECT status, updated_at FROM declarations WHERE id = ?", cur.id)
    if not at or not M.EDITABLE[at.status] then errors.raise("wrong_status", "当前状态不能提交") end
    if at.status ~= v.status or at.updated_at ~= v.updated_at then error(STALE, 0) end
    still_valid(school, v)
    submit_stored(actor, now, school, cur.id, v.chain, at.status)
  end)
  if not verdict then return nil, serr end
  return { id = cur.id, status = "pending" }
end

-- M.delete(actor, school, id, now) -> {id} | nil, err: drafts only, at any
-- time (a draft is not a declaration in effect).
function M.delete(actor, school, id, now)
  local cur, err = own(school, id)
  if not cur then return nil, err end
  if cur.status ~= "draft" then
    return nil, errors.new("wrong_status", "只能删除草稿")
  end
  db.transaction(function()
    local n = db.exec("DELETE FROM declarations WHERE id = ? AND status = 'draft'", cur.id)
    if n == 0 then errors.raise("wrong_status", "只能删除草稿") end
    db.exec("DELETE FROM reviews WHERE declaration_id = ?", cur.id)
    audit.log(audit_ctx(actor, now), "declaration.delete", "declaration", cur.id, {
      before = "draft", province = school.province_code, city = school.city_code })
  end)
  return { id = cur.id }
end

-- Raised error values (inside the transactions, and a rule's failure
-- anywhere) come back as nil, err; any other raise is a bug and stays one.
for _, name in ipairs({ "create", "update", "submit", "delete" }) do
  M[name] = errors.protect(M[name])
end

return M
