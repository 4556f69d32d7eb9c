-- decl: declarations (证书试点申报): reading the form, the checks that
-- hold everywhere (types, ranges, lengths, the certificate's majors), the
-- province's rules (mode, deadlines, requireds, limits, review chain),
-- storing, submitting, and presenting them.
local db = require "db"
local json = require "json"
local text = require "text"
local util = require "util"
local web = require "web"
local audit = require "audit"
local P = require "province_rules"
local log = require "log"

local decl = {}

decl.MAX_RICH_CHARS = 1000
decl.MAX_MAJORS = 50

-- decl.plan_state(plan, now) -> "upcoming" | "open" | "closed"
function decl.plan_state(plan, now)
  if now < plan.starts_at then return "upcoming" end
  if now >= plan.ends_at then return "closed" end
  return "open"
end

-- The deadline verdict of the province's rules: {open, code, message}.
-- The plan as every rule entry sees it (ctx.plan).
local function plan_part(plan)
  return { id = plan.id, year = plan.year, batch = plan.batch, title = plan.title, mode = plan.mode,
           starts_at = plan.starts_at, ends_at = plan.ends_at }
end
decl.plan_part = plan_part

-- The school as every rule entry sees it (ctx.school).
local function school_part(school)
  return { id = school.id, code = school.code, type = school.type, province = school.province_code,
           city = school.city_code }
end
decl.school_part = school_part

function decl.deadline(province, plan, action, d, now)
  local v = P.call(province, "deadline", P.ctx({
    now = now, action = action,
    plan = plan_part(plan),
    declaration = d and { id = d.id, status = d.status } or nil,
  }))
  if type(v) ~= "table" then v = { open = false, code = "closed", message = "不在申报时间内" } end
  -- fail closed: only the boolean true opens (0, "false", "no" are truthy in Lua)
  v.open = v.open == true
  return v
end

local function need_open(province, plan, action, d, now)
  local v = decl.deadline(province, plan, action, d, now)
  if not v.open then
    web.fail(409, v.code == "not_started" and "not_started" or "outside_window",
             v.message or "不在申报时间内，无法申报")
  end
end

-- Reads and checks the form of body. Returns the clean declaration:
-- {certificate_id, majors = {{major, students, teachers, trainees}},
--  trainees_total, faculty, venue, faculty_chars, venue_chars}.
-- Raises 422 with every field at fault.
function decl.read_form(body, mode)
  local f = web.fields()
  local d = { majors = {} }
  if math.type(body.certificate_id) == "integer" then
    d.certificate_id = body.certificate_id
  elseif body.certificate_id == nil then
    f.add("certificate_id", "required", "请选择试点证书")
  else
    f.add("certificate_id", "type", "试点证书无效")
  end
  local majors = body.majors
  if majors == nil then majors = {} end
  if type(majors) ~= "table" or (next(majors) ~= nil and not json.is_array(majors)) then
    f.add("majors", "type", "拟申报专业格式不正确")
    majors = {}
  end
  if #majors > decl.MAX_MAJORS then
    f.add("majors", "too_many", "拟申报专业不能超过 " .. decl.MAX_MAJORS .. " 个")
  end
  local seen = {}
  for i, m in ipairs(majors) do
    local at = "majors[" .. (i - 1) .. "]"
    if type(m) ~= "table" then
      f.add(at, "type", "专业格式不正确")
    else
      if type(m.major) ~= "string" or m.major == "" then
        f.add(at .. ".major", "required", "请选择专业")
      elseif seen[m.major] then
        f.add(at .. ".major", "duplicate", "专业重复")
      end
      if type(m.major) == "string" then seen[m.major] = true end
      local row = { major = m.major }
      for _, k in ipairs({ "students", "teachers", "trainees" }) do
        local v = m[k]
        if v ~= nil and not util.is_count(v) then
          f.add(at .. "." .. k, "not_count", "应为不小于 0 的整数")
        else
          row[k] = v
        end
      end
      d.majors[#d.majors + 1] = row
    end
  end
  if mode == "by_major" then
    local sum = 0
    for _, m in ipairs(d.majors) do sum = sum + (m.trainees or 0) end
    d.trainees_total = sum                 -- a sent value is ignored
  elseif body.trainees_total ~= nil then
    if util.is_count(body.trainees_total) then
      d.trainees_total = body.trainees_total
    else
      f.add("trainees_total", "not_count", "申请培训总人数应为不小于 0 的整数")
    end
  end
  for _, k in ipairs({ "faculty", "venue" }) do
    local v = body[k]
    if v == nil or v == "" then
      d[k], d[k .. "_chars"] = "", 0
    elseif type(v) ~= "string" then
      f.add(k, "type", "应为文本")
    elseif #v > 256 * 1024 then
      f.add(k, "too_long", "内容不能超过 " .. decl.MAX_RICH_CHARS .. " 字")
    else
      local ok, clean, chars = pcall(text.sanitize, v)
      if not ok and tostring(clean):find("too", 1, true) then
        f.add(k, "too_long", "内容过长或格式过于复杂")
      elseif not ok then
        f.add(k, "invalid", "内容包含无效字符")
      else
        -- visible text only: whitespace between tags is not content
        local visible = clean:gsub("<[^>]*>", ""):gsub("&[%a#%d]+;", "x")
        if not visible:find("%S") then clean, chars = "", 0 end
        if chars > decl.MAX_RICH_CHARS then
          f.add(k, "too_long", "内容不能超过 " .. decl.MAX_RICH_CHARS .. " 字（当前 " .. chars .. " 字）")
        end
        d[k], d[k .. "_chars"] = clean, chars
      end
    end
  end
  f.check()
  return d
end

-- Checks the certificate, that each major is one it corresponds to, and
-- that each major is of a level the school may declare (422 major_level).
function decl.check_catalogue(d, school)
  local cert = db.one([[SELECT c.id, c.name, c.level, o.name AS organization FROM certificates c
                        JOIN organizations o ON o.id = c.organization_id
                        WHERE c.id = ? AND c.active = 1]], d.certificate_id)
  if not cert then
    web.fail(422, "validation_failed", "试点证书不存在",
             { { field = "certificate_id", code = "not_found", message = "试点证书不存在" } })
  end
  local f = web.fields()
  for i, m in ipairs(d.majors) do
    if not db.one("SELECT 1 AS x FROM certificate_majors WHERE certificate_id = ? AND major_code = ?",
                  d.certificate_id, m.major) then
      f.add("majors[" .. (i - 1) .. "].major", "not_for_certificate", "该专业不属于此证书对应的专业")
    end
  end
  if school then require("major_levels").check(d.majors, school, f) end
  f.check()
  return cert
end

local function others_in_plan(school_id, plan_id, except_id)
  return db.one([[SELECT count(*) AS n FROM declarations
                  WHERE school_id = ? AND plan_id = ? AND id <> ? AND status <> 'rejected']],
                school_id, plan_id, except_id or 0).n
end

-- The province's verdict on a declaration, decided before any write (no
-- rule runs inside a write transaction): the findings of check_declaration
-- and, when submitting, the review chain, with the count they were decided
-- on, so that the write can re-check it cheaply under the lock (see
-- decl.still_valid). Submitting: findings are a 422, and a rule failure a
-- 500. Saving a draft (保存): the findings come back as warnings beside the
-- saved draft, and a rule failure is a warning too, so typed work is never
-- lost to a province's rule.
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

-- The school's declarations of a year (not rejected, but for except_id),
-- and its approved ones of the year before.
local function year_counts(school_id, year, except_id)
  local row = db.one([[SELECT
      (SELECT count(*) FROM declarations d JOIN plans p ON p.id = d.plan_id
        WHERE d.school_id = ? AND p.year = ? AND d.id <> ? AND d.status <> 'rejected') AS this_year,
      (SELECT count(*) FROM declarations d JOIN plans p ON p.id = d.plan_id
        WHERE d.school_id = ? AND p.year = ? AND d.status = 'approved') AS last_year]],
    school_id, year, except_id or 0, school_id, year - 1)
  return row.this_year, row.last_year
end

function decl.check_rules(school, plan, mode, d, submit, except_id)
  local others = others_in_plan(school.id, plan.id, except_id)
  local this_year, last_year = year_counts(school.id, plan.year, except_id)
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
    submit = submit, mode = mode, now = require("clock").now(),
    plan = plan_part(plan),
    school = school_part(school),
    certificate = cert,
    declaration = {
      id = except_id, certificate_id = d.certificate_id, majors = majors,
      trainees_total = d.trainees_total, faculty_chars = d.faculty_chars, venue_chars = d.venue_chars,
    },
    others_in_plan = others,
    declarations_this_year = this_year,
    approved_last_year = last_year,
  })
  local verdict = { others = others, plan_id = plan.id, except_id = except_id }
  local seen = { declaration_id = except_id, plan_id = plan.id } -- for a running shadow
  if submit then
    local list = require("shadow").check(school.province_code, "check_declaration", input, seen,
      function() return P.errors(school.province_code, "check_declaration", input) end)
    if #list > 0 then
      web.fail(422, "validation_failed", "申报内容不符合要求，请检查标出的项目", list)
    end
    verdict.warnings = {}
    verdict.chain = decl.review_chain(school, plan, d)
  else
    local list, err = P.try_errors(school.province_code, "check_declaration", input)
    require("shadow").observe(school.province_code, "check_declaration", input,
                              require("shadow").outcome("check_declaration", list, err), seen)
    if not list then
      log.error("rule " .. school.province_code .. ".check_declaration failed on a draft: " .. P.one_line(err))
      list = { { field = "", code = "rule_failed",
                 message = "省级申报规则执行出错，草稿已保存；提交前请联系管理员" } }
    end
    verdict.warnings = list
  end
  return verdict
end

-- Marks a failed re-check, so that the caller decides again.
local STALE = setmetatable({}, { __tostring = function() return "declaration verdict stale" end })

-- Under the write lock: is what the verdict was decided on still so?
-- Raises STALE if not.
function decl.still_valid(school, verdict)
  if others_in_plan(school.id, verdict.plan_id, verdict.except_id) ~= verdict.others then
    error(STALE, 0)
  end
end

-- Decides with decide() and writes with write(verdict) in one write
-- transaction, deciding again (at most three times) when a concurrent
-- write changed what the decision rested on.
function decl.decide_and_write(decide, write)
  for _ = 1, 3 do
    local verdict = decide()
    local ok, result = pcall(db.transaction, write, verdict)
    if ok then return result, verdict end
    if result ~= STALE then error(result, 0) end
  end
  web.fail(409, "conflict", "申报数据正在被同时修改，请稍后重试")
end

function decl.mode_of(province, plan)
  local m = P.call(province, "declaration_mode", P.ctx({
    plan = plan_part(plan), id = plan.id, mode = plan.mode, year = plan.year }))
  if m ~= "by_major" and m ~= "not_by_major" then m = plan.mode end
  return m
end

function decl.review_chain(school, plan, d)
  local arg = P.ctx({
    school = school_part(school),
    plan = plan_part(plan),
    declaration = { id = d.id, certificate_id = d.certificate_id, trainees_total = d.trainees_total },
  })
  local chain = require("shadow").check(school.province_code, "review_chain", arg, { plan_id = plan.id },
    function() return P.call(school.province_code, "review_chain", arg) end)
  -- fail closed: a chain with an unknown level ("provinve") is the rule's
  -- failure, never a shorter review
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
    web.fail(500, "rule_failed", "省级申报规则执行出错，请联系管理员")
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

local function store_majors(id, majors)
  db.exec("DELETE FROM declaration_majors WHERE declaration_id = ?", id)
  for i, m in ipairs(majors) do
    db.exec([[INSERT INTO declaration_majors(declaration_id, position, major_code, students, teachers, trainees)
              VALUES (?, ?, ?, ?, ?, ?)]], id, i, m.major, m.students, m.teachers, m.trainees)
  end
end

-- Moves a stored declaration to pending at the first level of its chain
-- (decided before the write, in decl.check_rules).
local function submit_stored(ctx, school, id, chain, before)
  local version = P.version()
  -- the decision record: the province's version in force for this request
  local version_id = require("rules").versions()[school.province_code]
  db.exec([[UPDATE declarations SET status = 'pending', review_level = ?, review_chain = ?,
            rules_version = ?, rules_version_id = ?, submitted_at = ?, updated_at = ? WHERE id = ?]],
          chain[1], json.encode(chain), version, version_id, ctx.now, ctx.now, id)
  db.exec([[INSERT INTO reviews(declaration_id, level, decision, comment, account_id, rules_version,
                                rules_version_id, created_at)
            VALUES (?, 'school', 'submit', NULL, ?, ?, ?, ?)]], id, ctx.account.id, version, version_id, ctx.now)
  audit.log(ctx, "declaration.submit", "declaration", id, {
    before = before, after = "pending", province = school.province_code, city = school.city_code,
    detail = { review_level = chain[1], rules_version = version, rules_version_id = version_id } })
end

-- The school of the caller, with its profile. 404 if it vanished.
function decl.school_of(ctx)
  local s = db.one("SELECT id, code, name, type, province_code, city_code, active FROM schools WHERE id = ?",
                   ctx.account.school_id)
  if not s then web.fail(404, "not_found", "院校不存在") end
  if s.active ~= 1 then
    web.fail(403, "school_inactive", "院校已在院校总库中停用，请联系省级或地市级教育行政部门")
  end
  return s
end

local function load_plan(school, plan_id)
  local plan = db.one([[SELECT id, province_code, year, batch, title, mode, starts_at, ends_at, status
                        FROM plans WHERE id = ?]], plan_id)
  if not plan or plan.status ~= "published" or plan.province_code ~= school.province_code then
    web.fail(404, "not_found", "申报计划不存在")
  end
  return plan
end
decl.load_plan = load_plan

local function require_profile(school)
  local problems = require("profile").problems(require("profile").load(school.id))
  if #problems > 0 then
    web.fail(409, "profile_incomplete", "请先完善院校基础信息")
  end
end

local function duplicate_guard(school_id, plan_id, cert_id, except_id)
  if db.one([[SELECT 1 AS x FROM declarations WHERE school_id = ? AND plan_id = ?
              AND certificate_id = ? AND id <> ?]], school_id, plan_id, cert_id, except_id or 0) then
    web.fail(409, "duplicate", "本计划中已申报过该证书")
  end
end

-- POST /api/declarations
function decl.create(ctx)
  local b = ctx.body()
  local school = decl.school_of(ctx)
  require_profile(school)
  if math.type(b.plan_id) ~= "integer" then
    web.fail(422, "validation_failed", "请选择申报计划",
             { { field = "plan_id", code = "required", message = "请选择申报计划" } })
  end
  if b.submit ~= nil and type(b.submit) ~= "boolean" then
    web.fail(422, "validation_failed", "submit 应为布尔值",
             { { field = "submit", code = "type", message = "submit 应为布尔值" } })
  end
  local plan = load_plan(school, b.plan_id)
  need_open(school.province_code, plan, "create", nil, ctx.now)
  local mode = decl.mode_of(school.province_code, plan)
  local d = decl.read_form(b, mode)
  decl.check_catalogue(d, school)
  local submit = b.submit == true
  local id, verdict = decl.decide_and_write(function()
    return decl.check_rules(school, plan, mode, d, submit)
  end, function(v)
    decl.still_valid(school, v)
    duplicate_guard(school.id, plan.id, d.certificate_id)
    local _, new_id = db.exec([[INSERT INTO declarations(school_id, plan_id, certificate_id, status, mode,
                                  trainees_total, faculty, venue, created_by, created_at, updated_at)
                                VALUES (?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?)]],
      school.id, plan.id, d.certificate_id, mode, d.trainees_total, d.faculty, d.venue,
      ctx.account.id, ctx.now, ctx.now)
    store_majors(new_id, d.majors)
    audit.log(ctx, "declaration.create", "declaration", new_id, {
      after = "draft", province = school.province_code, city = school.city_code })
    if submit then submit_stored(ctx, school, new_id, v.chain, "draft") end
    require("shadow").bind(new_id) -- checks a shadow saw before the id existed
    return new_id
  end)
  local out = decl.view(id)
  out.warnings = json.array(verdict.warnings)
  return 201, out
end

-- The caller's own declaration (404 for anyone else's).
local function own(ctx, id)
  local d = db.one([[SELECT id, school_id, plan_id, certificate_id, status, mode, trainees_total,
                            faculty, venue FROM declarations WHERE id = ?]], id)
  if not d or d.school_id ~= ctx.account.school_id then
    web.fail(404, "not_found", "申报不存在")
  end
  return d
end

local EDITABLE = { draft = true, returned = true }

-- PUT /api/declarations/{id}
function decl.update(ctx, params)
  local b = ctx.body()
  local school = decl.school_of(ctx)
  local cur = own(ctx, params.id)
  if not EDITABLE[cur.status] then
    web.fail(409, "wrong_status", "当前状态不能修改")
  end
  if b.plan_id ~= nil and b.plan_id ~= cur.plan_id then
    web.fail(422, "validation_failed", "不能更改申报计划",
             { { field = "plan_id", code = "immutable", message = "不能更改申报计划" } })
  end
  if b.submit ~= nil and type(b.submit) ~= "boolean" then
    web.fail(422, "validation_failed", "submit 应为布尔值",
             { { field = "submit", code = "type", message = "submit 应为布尔值" } })
  end
  local plan = load_plan(school, cur.plan_id)
  local submit = b.submit == true
  need_open(school.province_code, plan, submit and "submit" or "edit", cur, ctx.now)
  if submit then require_profile(school) end
  local d = decl.read_form(b, cur.mode)
  decl.check_catalogue(d, school)
  local _, verdict = decl.decide_and_write(function()
    return decl.check_rules(school, plan, cur.mode, d, submit, cur.id)
  end, function(v)
    local now = db.one("SELECT status, updated_at FROM declarations WHERE id = ?", cur.id)
    if not now or now.status ~= cur.status then web.fail(409, "wrong_status", "申报状态已变化，请刷新") end
    decl.still_valid(school, v)
    duplicate_guard(school.id, plan.id, d.certificate_id, cur.id)
    db.exec([[UPDATE declarations SET certificate_id = ?, trainees_total = ?, faculty = ?, venue = ?,
              updated_at = ? WHERE id = ?]],
      d.certificate_id, d.trainees_total, d.faculty, d.venue, ctx.now, cur.id)
    store_majors(cur.id, d.majors)
    audit.log(ctx, "declaration.update", "declaration", cur.id, {
      before = cur.status, after = cur.status, province = school.province_code, city = school.city_code })
    if submit then submit_stored(ctx, school, cur.id, v.chain, cur.status) end
  end)
  local out = decl.view(cur.id)
  out.warnings = json.array(verdict.warnings)
  return 200, out
end

-- The stored declaration as a form, for submitting it as it is.
local function stored_form(cur)
  local majors = db.query([[SELECT major_code AS major, students, teachers, trainees
                            FROM declaration_majors WHERE declaration_id = ? ORDER BY position]], cur.id)
  local function chars(html)
    if not html or html == "" then return 0 end
    local _, n = text.sanitize(html)
    return n
  end
  return { certificate_id = cur.certificate_id, majors = majors, trainees_total = cur.trainees_total,
           faculty_chars = chars(cur.faculty), venue_chars = chars(cur.venue) }
end
decl.stored_form = stored_form -- also for replaying a version (rules_store)

-- POST /api/declarations/{id}/submit
function decl.submit(ctx, params)
  local school = decl.school_of(ctx)
  local cur = own(ctx, params.id)
  if not EDITABLE[cur.status] then
    web.fail(409, "wrong_status", "当前状态不能提交")
  end
  local plan = load_plan(school, cur.plan_id)
  need_open(school.province_code, plan, "submit", cur, ctx.now)
  require_profile(school)
  local stored
  decl.decide_and_write(function()
    -- the stored form as it is now; the write checks it did not change
    stored = db.one("SELECT updated_at FROM declarations WHERE id = ?", cur.id)
    local now = own(ctx, params.id)
    if not EDITABLE[now.status] then web.fail(409, "wrong_status", "当前状态不能提交") end
    local v = decl.check_rules(school, plan, now.mode, stored_form(now), true, now.id)
    v.status, v.updated_at = now.status, stored.updated_at
    return v
  end, function(v)
    local now = db.one("SELECT status, updated_at FROM declarations WHERE id = ?", cur.id)
    if not now or not EDITABLE[now.status] then web.fail(409, "wrong_status", "当前状态不能提交") end
    if now.status ~= v.status or now.updated_at ~= v.updated_at then error(STALE, 0) end
    decl.still_valid(school, v)
    submit_stored(ctx, school, cur.id, v.chain, now.status)
  end)
  return 200, decl.view(cur.id)
end

-- DELETE /api/declarations/{id}: drafts only, at any time (a draft is not
-- a declaration in effect).
function decl.delete(ctx, params)
  local school = decl.school_of(ctx)
  local cur = own(ctx, params.id)
  if cur.status ~= "draft" then
    web.fail(409, "wrong_status", "只能删除草稿")
  end
  db.transaction(function()
    local n = db.exec("DELETE FROM declarations WHERE id = ? AND status = 'draft'", cur.id)
    if n == 0 then web.fail(409, "wrong_status", "只能删除草稿") end
    db.exec("DELETE FROM reviews WHERE declaration_id = ?", cur.id)
    audit.log(ctx, "declaration.delete", "declaration", cur.id, {
      before = "draft", province = school.province_code, city = school.city_code })
  end)
  return 200, { ok = true }
end

local LIST_SQL = [[
  SELECT d.id, d.status, d.review_level, d.mode, d.trainees_total, d.submitted_at, d.updated_at,
         d.created_at, d.plan_id, p.year, p.batch, p.title AS plan_title, p.starts_at, p.ends_at,
         c.id AS certificate_id, c.name AS certificate, c.level AS certificate_level,
         c.code AS certificate_code, o.name AS organization,
         s.id AS school_id, s.name AS school, s.code AS school_code,
         s.province_code AS province, s.city_code AS city, ci.name AS city_name
  FROM declarations d
  JOIN plans p ON p.id = d.plan_id
  JOIN certificates c ON c.id = d.certificate_id
  JOIN organizations o ON o.id = c.organization_id
  JOIN schools s ON s.id = d.school_id
  LEFT JOIN cities ci ON ci.code = s.city_code
]]
decl.LIST_SQL = LIST_SQL

-- Presents a row of LIST_SQL for the API.
function decl.present(r)
  r.submitted_at = util.iso(r.submitted_at)
  r.updated_at = util.iso(r.updated_at)
  r.created_at = util.iso(r.created_at)
  r.starts_at = util.iso(r.starts_at)
  r.ends_at = util.iso(r.ends_at)
  r.review_level = r.review_level or json.null
  return r
end

-- The whole declaration with majors and review history.
function decl.view(id)
  local r = db.one(LIST_SQL .. " WHERE d.id = ?", id)
  if not r then return nil end
  local full = db.one("SELECT faculty, venue, rules_version FROM declarations WHERE id = ?", id)
  r.faculty, r.venue, r.rules_version = full.faculty or "", full.venue or "", full.rules_version
  r.majors = db.query([[SELECT dm.major_code AS major, m.name, m.level, dm.students, dm.teachers,
                               dm.trainees
                        FROM declaration_majors dm JOIN majors m ON m.code = dm.major_code
                        WHERE dm.declaration_id = ? ORDER BY dm.position]], id)
  local reviews = db.query([[SELECT r.id, r.level, r.decision, r.comment, r.created_at,
                                    a.username AS by
                             FROM reviews r LEFT JOIN accounts a ON a.id = r.account_id
                             WHERE r.declaration_id = ? ORDER BY r.id]], id)
  for _, v in ipairs(reviews) do v.created_at = util.iso(v.created_at) end
  r.reviews = reviews
  r.attachments = require("attachments").list(id)
  return decl.present(r)
end

-- What the school may do with its declaration now.
function decl.actions(r, now)
  local plan = db.one("SELECT id, starts_at, ends_at, year FROM plans WHERE id = ?", r.plan_id)
  local editable = EDITABLE[r.status] and decl.deadline(r.province, plan, "edit", r, now).open
  return editable and true or false, r.status == "draft"
end

return decl
