-- reviews: the admins' side of declarations (申报审核) as a service: the
-- queue and its export, 待我审核, an admin's view of one declaration, and
-- a decision (approve, reject, return) at the caller's level of the
-- declaration's review chain, one or a batch. Scoped by scripts/scope.lua;
-- takes plain tables (who: {account, now, remote}; filters; a form) and
-- returns a result, or nil and an error value; never knows HTTP.
-- Uses: db, json, util, sql, scope, errors, audit, sms, decl (the list's
-- columns, a declaration's view), people, words, rules_store (the decision
-- record).
local db = require "db"
local json = require "json"
local util = require "util"
local audit = require "audit"
local errors = require "errors"
local scope = require "scope"
local sql = require "sql"
local sms = require "sms"
local decl = require "decl"
local people = require "people"
local words = require "words"

local reviews = {}

-- ---- the queue ---------------------------------------------------------------------

-- The queue's filters, each written only when given (so that each set of
-- filters is its own statement and walks its index: schema/019), in a
-- fixed order (so that one set is always one text): the condition on the
-- declaration d, and on its counts k (declaration_counts) where those can
-- answer it (nil: the total counts the rows). `place`: the condition on
-- the school s instead, where a list by school names its schools.
local FILTERS = {
  { "plan", "d.plan_id = :plan", "k.plan_id = :plan" },
  { "status", "d.status = :status", "k.status = :status" },
  { "level", "d.review_level = :level", "k.review_level = :level" },
  { "city", "d.city_code = :city", "k.city_code = :city", place = "s.city_code = :city" },
  { "certificate", "d.certificate_id = :certificate" },
  { "school" }, -- below
  { "year", "d.plan_id IN (SELECT id FROM plans WHERE year = :year)",
    "k.plan_id IN (SELECT id FROM plans WHERE year = :year)" },
  { "province", "d.province_code = :province", "k.province_code = :province", place = "s.province_code = :province" },
}

-- reviews.query(who, f) -> where, params, counted: the submitted
-- declarations (aliased d) in the caller's scope that filters f select
-- ({plan, status, level, city, certificate, school, year, province
-- (strings, "" for none; plan, certificate and year integers), mine
-- (true: pending at the caller's level)}), as " WHERE …" and its named
-- parameters; counted: the same selection as a condition on
-- declaration_counts (aliased k), or nil when a filter is not one the
-- counts keep (certificate, school). The counts are every plan's at once
-- (plan_id 0) unless f names plans or per_plan says (a row per plan).
--
-- Every condition is on d's own columns (a declaration carries its
-- school's province and city: schema/019), so that SQLite walks one of
-- the queue's indexes in the list's order: the plan's, the
-- certificate's, the city's or the province's, whichever the
-- conditions name, with the other conditions read from the same entry.
-- A list by school (?school=, a name or a code: a few schools) instead
-- reads each named school's declarations (declarations_by_school) and
-- sorts them: its place (the scope, ?city=, ?province=) is then a
-- condition on the schools it names, so that no place index competes.
function reviews.query(who, f, per_plan)
  local by_school = f.school ~= nil and f.school ~= ""
  local params = {}
  local parts, counts, place = {}, {}, {}
  if by_school then
    place[1] = scope.where(who, "s", params)
  else
    parts[1] = scope.where(who, "d", params)
    counts[1] = scope.where(who, "k", {})
  end
  for _, filter in ipairs(FILTERS) do
    local key, text, count = filter[1], filter[2], filter[3]
    local v = f[key]
    if v ~= nil and v ~= "" then
      params[key] = v
      if by_school and filter.place then
        place[#place + 1] = filter.place
      elseif text then
        parts[#parts + 1] = text
      end
      if counts and count then counts[#counts + 1] = count else counts = nil end
    end
  end
  if by_school then
    parts[#parts + 1] = "d.school_id IN (SELECT s.id FROM schools s WHERE (instr(s.name, :school) > 0"
      .. " OR s.code = :school) AND " .. table.concat(place, " AND ") .. ")"
  end
  if f.mine then
    local level = scope.review_level(who)
    if level == "*" then
      parts[#parts + 1] = "d.status = 'pending'"
      if counts then counts[#counts + 1] = "k.status = 'pending'" end
    else
      parts[#parts + 1] = "d.status = 'pending' AND d.review_level = :mine"
      if counts then counts[#counts + 1] = "k.status = 'pending' AND k.review_level = :mine" end
      params.mine = level
    end
  end
  parts[#parts + 1] = "d.status <> 'draft'"
  if counts then
    counts[#counts + 1] = "k.status <> 'draft'"
    -- every plan's counts at once, unless the plans are named
    if not (params.plan or params.year) then
      counts[#counts + 1] = per_plan and "k.plan_id <> 0" or "k.plan_id = 0"
    end
  end
  return " WHERE " .. table.concat(parts, " AND "), params,
    counts and (" WHERE " .. table.concat(counts, " AND ")) or nil
end

local ORDER = " ORDER BY d.submitted_at DESC, d.id DESC"
local BACKWARD = " ORDER BY d.submitted_at, d.id"

-- reviews.list(who, f, pg) -> {total, page, size, items, next}, newest
-- submission first. pg: web.page's, and pg.after ({at, id}, sql.cursor's:
-- the submitted_at and id of the last row a client has) to read the rows
-- after it instead of an offset; next: the cursor of the page's last row
-- (null once a page is short). The page's ids come first from one of the
-- queue's indexes (an index walk, however deep the page: a page past the
-- middle walks from the end), then its rows with every column; the total
-- adds up declaration_counts, or counts the rows where a filter is not
-- one the counts keep (the certificate's or the schools' declarations,
-- from their index).
function reviews.list(who, f, pg)
  local where, params, counted = reviews.query(who, f)
  local page, after, keyset = pg, nil, ""
  if pg.after then
    page = { page = pg.page, size = pg.size, offset = 0 }
    after = { after_at = pg.after[1], after_id = pg.after[2] }
    keyset = " AND (d.submitted_at, d.id) < (:after_at, :after_id)"
  end
  local function ids(order)
    return "WITH page AS MATERIALIZED (SELECT d.id FROM declarations d" .. where .. keyset .. order
      .. " LIMIT :page_limit OFFSET :page_offset) "
      .. decl.LIST_SQL .. " WHERE d.id IN (SELECT id FROM page)" .. ORDER
  end
  -- (the total is the whole list's, also after a cursor)
  local r = sql.page(page, {
    count = counted and ("SELECT coalesce(sum(k.n), 0) AS n FROM declaration_counts k" .. counted)
      or ("SELECT count(*) AS n FROM declarations d" .. where),
    items = ids(ORDER),
    items_params = after,
    backward = not after and ids(BACKWARD) or nil,
  }, params)
  local last = r.items[#r.items]
  r.next = #r.items == pg.size and last.submitted_at and sql.cursor_of(last.submitted_at, last.id) or json.null
  for _, row in ipairs(r.items) do decl.present(row) end
  return r
end

local LEVEL_CN = { city = "市级", province = "省级", school = "院校" }

reviews.EXPORT_HEADER = { "申报编号", "申报年度", "申报批次", "计划名称", "地市", "学校标识码", "学校名称",
  "试点证书", "证书等级", "培训评价组织", "申报方式", "拟申报专业（在校生/专任教师/培训人数）",
  "申请培训总人数", "状态", "审核记录", "提交时间" }
reviews.EXPORT_WIDTHS = { 8, 8, 8, 24, 10, 12, 24, 30, 8, 30, 12, 50, 10, 14, 40, 16 }

local function minute(ts)
  return (util.iso(ts):sub(1, 16):gsub("T", " "))
end

-- reviews.export(who, f) -> the rows of the queue's spreadsheet
-- (EXPORT_HEADER), at most 20,000, by city and school.
function reviews.export(who, f)
  local where, params = reviews.query(who, f)
  local rows = {}
  local list = sql.query(decl.LIST_SQL .. where .. " ORDER BY s.city_code, s.code, d.id LIMIT 20000", params)
  for _, r in ipairs(list) do
    local majors = {}
    for _, m in ipairs(db.query([[SELECT dm.major_code, m.name, dm.students, dm.teachers, dm.trainees
                                  FROM declaration_majors dm JOIN majors m ON m.code = dm.major_code
                                  WHERE dm.declaration_id = ? ORDER BY dm.position]], r.id)) do
      majors[#majors + 1] = string.format("%s %s（%s/%s/%s）", m.major_code, m.name,
        tostring(m.students or "-"), tostring(m.teachers or "-"), tostring(m.trainees or "-"))
    end
    local steps = {}
    for _, v in ipairs(db.query([[SELECT level, decision, comment, created_at, account_id FROM reviews
                                  WHERE declaration_id = ? ORDER BY id]], r.id)) do
      local by = v.level ~= "school" and people.of(v.account_id)
      steps[#steps + 1] = string.format("%s %s%s%s%s", minute(v.created_at),
        LEVEL_CN[v.level] or v.level, words.DECISION[v.decision] or v.decision,
        by and ("（" .. by.label .. "）") or "", v.comment and ("：" .. v.comment) or "")
    end
    local status = words.STATUS[r.status] or r.status
    if r.status == "pending" and r.review_level then
      status = status .. "（" .. (LEVEL_CN[r.review_level] or "") .. "）"
    end
    rows[#rows + 1] = {
      r.id, r.year, util.batch_name(r.batch), r.plan_title, r.city_name or "", r.school_code, r.school,
      r.certificate, r.certificate_level, r.organization, r.mode == "by_major" and "按专业申报" or "不按专业申报",
      table.concat(majors, "；"), r.trainees_total or 0, status, table.concat(steps, "\n"),
      r.submitted_at and minute(r.submitted_at) or "",
    }
  end
  return rows
end

-- reviews.todo(who) -> what waits for the caller (待我审核): the count at
-- its level and scope, per plan, and the nearest deadlines of its plans.
-- The counts are declaration_counts' (a few rows per plan), each plan's
-- oldest waiting submission the first entry of its queue index that
-- waits at the caller's level.
function reviews.todo(who)
  local where, params, counted = reviews.query(who, { mine = true }, true)
  local by_plan = sql.query([[SELECT p.id AS plan_id, p.title, p.year, p.batch, p.starts_at, p.ends_at,
                                     sum(k.n) AS pending,
                                     (SELECT d.submitted_at FROM declarations d]] .. where .. [[
                                        AND d.plan_id = p.id ORDER BY d.submitted_at, d.id LIMIT 1)
                                       AS oldest_submitted_at
                              FROM declaration_counts k JOIN plans p ON p.id = k.plan_id]]
    .. counted .. [[
                              GROUP BY p.id HAVING sum(k.n) > 0 ORDER BY p.ends_at, p.id]], params)
  local total = 0
  for _, r in ipairs(by_plan) do
    total = total + r.pending
    r.state = decl.plan_state(r, who.now)
    r.batch_name = util.batch_name(r.batch)
    r.starts_at, r.ends_at = util.iso(r.starts_at), util.iso(r.ends_at)
    r.oldest_submitted_at = util.iso(r.oldest_submitted_at)
  end
  -- the published plans of the caller's province still to end, nearest first
  local cond, pparams = scope.plan_where(who, "p", { now = who.now })
  local deadlines = db.query([[SELECT p.id AS plan_id, p.title, p.year, p.batch, p.starts_at, p.ends_at,
                                      pr.name AS province_name
                               FROM plans p JOIN provinces pr ON pr.code = p.province_code
                               WHERE p.status = 'published' AND p.ends_at > :now AND ]] .. cond .. [[
                               ORDER BY p.ends_at, p.id LIMIT 5]], pparams)
  local pending_of = {}
  for _, r in ipairs(by_plan) do pending_of[r.plan_id] = r.pending end
  for _, r in ipairs(deadlines) do
    r.state = decl.plan_state(r, who.now)
    r.batch_name = util.batch_name(r.batch)
    r.days_left = (r.ends_at - who.now) // 86400
    r.pending = pending_of[r.plan_id] or 0
    r.starts_at, r.ends_at = util.iso(r.starts_at), util.iso(r.ends_at)
  end
  local level = scope.review_level(who)
  return { level = level == "*" and "all" or level,
           level_name = words.LEVEL[level] or "全部级别",
           pending_for_me = total, by_plan = json.array(by_plan), deadlines = json.array(deadlines) }
end

-- ---- one declaration ---------------------------------------------------------------

-- reviews.visible(who, id) -> the declaration (with its school's
-- province_code and city_code, which it carries, and school_name), or nil
-- and not_found when the caller does not see it.
function reviews.visible(who, id)
  local d = db.one([[SELECT d.*, s.name AS school_name
                     FROM declarations d JOIN schools s ON s.id = d.school_id WHERE d.id = ?]], id)
  if not scope.declaration_visible(who, d) then return nil, errors.new("not_found", "申报不存在") end
  return d
end

-- reviews.view(who, id) -> an admin's view of a declaration: the form
-- (decl.view) and what a reviewer needs beside it: the review chain, the
-- school's contact (from its profile), its earlier declarations and their
-- outcomes, each reviewer by name with their unit, and the rule version
-- each step was decided under.
function reviews.view(who, id)
  local d, err = reviews.visible(who, id)
  if not d then return nil, err end
  local v = decl.view(id)
  v.review_chain = json.decode(d.review_chain or "[]")
  local p = db.one([[SELECT contact_name, contact_phone, contact_email, address, postcode, website
                     FROM school_profiles WHERE school_id = ?]], d.school_id) or {}
  v.contact = { name = p.contact_name or "", phone = p.contact_phone or "", email = p.contact_email or "",
                address = p.address or "", postcode = p.postcode or "", website = p.website or "" }
  local earlier = db.query([[SELECT d.id, p.year, p.batch, p.title AS plan_title, c.name AS certificate,
                                    c.level AS certificate_level, d.status, d.review_level, d.submitted_at,
                                    d.decided_at, d.trainees_total,
                                    (SELECT r.comment FROM reviews r WHERE r.declaration_id = d.id
                                       AND r.decision <> 'submit' ORDER BY r.id DESC LIMIT 1) AS last_comment
                             FROM declarations d JOIN plans p ON p.id = d.plan_id
                             JOIN certificates c ON c.id = d.certificate_id
                             WHERE d.school_id = ? AND d.id <> ? AND d.status <> 'draft'
                             ORDER BY p.year DESC, p.batch DESC, d.id DESC LIMIT 50]], d.school_id, d.id)
  for _, e in ipairs(earlier) do
    e.batch_name = util.batch_name(e.batch)
    e.status_name = words.STATUS[e.status] or e.status
    e.submitted_at, e.decided_at = util.iso(e.submitted_at), util.iso(e.decided_at)
    e.review_level = e.review_level or json.null
  end
  v.earlier = json.array(earlier)
  local who_did, decided = {}, {}
  for _, r in ipairs(db.query("SELECT id, account_id, rules_version_id FROM reviews WHERE declaration_id = ?", d.id)) do
    who_did[r.id] = people.of(r.account_id)
    decided[r.id] = r.rules_version_id
  end
  -- the decision record: the province's rule version each step was decided under
  local store = require "rules_store"
  for _, r in ipairs(v.reviews or {}) do
    local p_ = who_did[r.id]
    r.reviewer = p_ and p_.label or json.null
    r.by = p_ and p_.label or json.null -- a person, never a login name
    r.rules = store.record(decided[r.id])
  end
  v.rules = store.record(d.rules_version_id)
  return v
end

-- ---- decisions ---------------------------------------------------------------------

-- reviews.read_decision(b) -> {decision, comment}, or nil and the 422:
-- b.decision approve, reject or return; a comment (required unless
-- approving) of at most 500 characters.
function reviews.read_decision(b)
  if b.decision ~= "approve" and b.decision ~= "reject" and b.decision ~= "return" then
    return nil, errors.field("decision", "invalid", "审核结果应为通过、不通过或退回修改", "请选择审核结果")
  end
  if b.comment ~= nil and type(b.comment) ~= "string" then
    return nil, errors.field("comment", "type", "审核意见应为文本")
  end
  local comment = util.trim(b.comment or "")
  if b.decision ~= "approve" and comment == "" then
    return nil, errors.field("comment", "required", "请填写审核意见", "不通过或退回修改时须填写审核意见")
  end
  local field, code, message = errors.text(comment, "comment", "审核意见", 500, { controls = true })
  if field then return nil, errors.field(field, code, message) end
  return { decision = b.decision, comment = comment ~= "" and comment or nil }
end

local RESULT = { approve = "审核通过", reject = "审核不通过", ["return"] = "退回修改" }

-- Tells the school what was decided: inside the decision's transaction,
-- so the message is stored with the decision or not at all; a gateway
-- sends it later, outside any transaction (sms.lua).
local function tell_school(who, d, id, level, next_level, decision, comment)
  local acc = db.one("SELECT phone FROM accounts WHERE school_id = ?", d.school_id)
  if not (acc and acc.phone) then return end
  local info = db.one([[SELECT c.name || '（' || c.level || '）' AS cert, p.title FROM declarations d
                        JOIN certificates c ON c.id = d.certificate_id JOIN plans p ON p.id = d.plan_id
                        WHERE d.id = ?]], id)
  local L = words.LEVEL
  local result = decision == "approve" and (next_level and ((L[level] or "")
    .. "审核通过，待" .. (L[next_level] or "") .. "审核") or "审核通过")
    or RESULT[decision]
  sms.send(who, acc.phone, "review", { certificate = info.cert, plan = info.title, result = result,
                                      comment = comment and comment ~= "" and ("意见：" .. comment) or "" })
end

-- reviews.decide(who, id, decision, comment) -> the declaration's new
-- status, or nil and an error value (not_found, wrong_status,
-- not_your_level). One transaction: the declaration, its review row, the
-- audit row and the school's SMS.
reviews.decide = errors.protect(function(who, id, decision, comment)
  return db.transaction(function()
    local d = errors.assert(reviews.visible(who, id))
    if d.status ~= "pending" then errors.raise("wrong_status", "该申报当前不在待审核状态") end
    local level = scope.review_level(who, d)
    if d.review_level ~= level then
      errors.raise("not_your_level", d.review_level == "city" and "该申报尚待市级审核" or "该申报已提交省级审核")
    end
    local chain = json.decode(d.review_chain or "") or { "province" }
    local next_level
    for i, l in ipairs(chain) do
      if l == level then next_level = chain[i + 1] end
    end
    local status, review_level
    if decision == "approve" then
      if next_level then status, review_level = "pending", next_level else status = "approved" end
    elseif decision == "reject" then
      status = "rejected"
    else
      status = "returned"
    end
    db.exec([[UPDATE declarations SET status = :status, review_level = :level, decided_at = :decided,
                updated_at = :now WHERE id = :id]],
            { status = status, level = review_level, decided = status ~= "pending" and who.now or nil,
              now = who.now, id = id })
    db.exec([[INSERT INTO reviews(declaration_id, level, decision, comment, account_id, rules_version,
                                  rules_version_id, created_at)
              VALUES (:id, :level, :decision, :comment, :account, :version, :version_id, :now)]],
            { id = id, level = level, decision = decision, comment = comment, account = who.account.id,
              version = d.rules_version, version_id = d.rules_version_id, now = who.now })
    audit.log(who, "declaration." .. decision, "declaration", id, {
      before = "pending", after = status, province = d.province_code, city = d.city_code,
      detail = { level = level, next_level = review_level, comment = comment } })
    tell_school(who, d, id, level, review_level, decision, comment)
    return status
  end)
end)

reviews.MAX_BATCH = 200

-- reviews.batch(who, b) -> {done = [{id, status}], failed = [{id, code,
-- message}]}, or nil and the 422: b {ids (1 to MAX_BATCH), decision,
-- comment}, each id decided on its own.
function reviews.batch(who, b)
  if type(b.ids) ~= "table" or #b.ids == 0 or #b.ids > reviews.MAX_BATCH then
    return nil, errors.field("ids", "required", "请选择要审核的申报",
                             "请选择要审核的申报（最多 " .. reviews.MAX_BATCH .. " 条）")
  end
  local d, err = reviews.read_decision(b)
  if not d then return nil, err end
  local done, failed = json.array(), json.array()
  for _, id in ipairs(b.ids) do
    if math.type(id) ~= "integer" then
      failed[#failed + 1] = { id = id, code = "invalid", message = "编号无效" }
    else
      local status, e = reviews.decide(who, id, d.decision, d.comment)
      if status then
        done[#done + 1] = { id = id, status = status }
      else
        failed[#failed + 1] = { id = id, code = e.code, message = e.message }
      end
    end
  end
  return { done = done, failed = failed }
end

return reviews
