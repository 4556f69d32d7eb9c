-- decl: declarations as the pages read them: the list query, a row
-- presented for the API, the whole declaration (majors, reviews,
-- attachments), what the school may do with one now, and a plan's state;
-- and what a school reads of its own: its province's plans, its
-- declarations (list and view) and its pilot status.
-- The read side only: the school's writes are the service in
-- declarations.lua, what the province decides declaration_rules.lua's,
-- the form's checks declaration_form.lua's.
local db = require "db"
local json = require "json"
local util = require "util"
local errors = require "errors"
local scope = require "scope"
local people = require "people"
local verdicts = require "declaration_rules"

local decl = {}

-- decl.plan_state(plan, now) -> "upcoming" | "open" | "closed"
function decl.plan_state(plan, now)
  if now < plan.starts_at then return "upcoming" end
  if now >= plan.ends_at then return "closed" end
  return "open"
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

-- The whole declaration with majors and review history, or nil.
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

-- decl.actions(r, now) -> can_edit, can_delete: what the school may do
-- with its declaration now. r: {status, plan_id, province}.
function decl.actions(r, now)
  local plan = db.one("SELECT id, starts_at, ends_at, year FROM plans WHERE id = ?", r.plan_id)
  local editable = require("declarations").EDITABLE[r.status]
                   and verdicts.deadline(r.province, plan, "edit", r, now).open
  return editable and true or false, r.status == "draft"
end

-- ---- what a school reads of its own -------------------------------------------

-- decl.school_plans(school, now) -> the published plans of the school's
-- province, newest first, each with its state and whether the school may
-- declare in it now. school: {province_code} (declarations.school).
function decl.school_plans(school, now)
  local rows = db.query([[SELECT id, year, batch, title, mode, starts_at, ends_at, notes
                          FROM plans WHERE province_code = :province AND status = 'published'
                          ORDER BY year DESC, batch DESC, id DESC]], { province = school.province_code })
  for _, p in ipairs(rows) do
    p.state = decl.plan_state(p, now)
    p.can_declare = verdicts.deadline(school.province_code, p, "create", nil, now).open == true
    p.starts_at, p.ends_at = util.iso(p.starts_at), util.iso(p.ends_at)
    p.notes = p.notes or ""
  end
  return rows
end

-- decl.school_list(school_id, f, pg, now) -> {total, page, size, items}:
-- the school's declarations, newest first, each with what the school may
-- do with it now and, returned or rejected, the reviewer's last comment.
-- f: {year, status} (nil for any); pg: {page, size, offset} (web.page).
function decl.school_list(school_id, f, pg, now)
  local where = [[ WHERE d.school_id = :school AND (:year IS NULL OR p.year = :year)
                   AND (:status IS NULL OR d.status = :status)]]
  local filter = { school = school_id, year = f.year, status = f.status }
  local total = db.one([[SELECT count(*) AS n FROM declarations d JOIN plans p ON p.id = d.plan_id]]
                       .. where, filter).n
  filter.size, filter.offset = pg.size, pg.offset
  local items = db.query(LIST_SQL .. where .. " ORDER BY d.id DESC LIMIT :size OFFSET :offset", filter)
  for _, r in ipairs(items) do
    r.can_edit, r.can_delete = decl.actions(r, now)
    -- why it came back (退回原因) or was refused, shown in the list itself
    local last = (r.status == "returned" or r.status == "rejected") and db.one([[
      SELECT comment FROM reviews WHERE declaration_id = :id AND decision IN ('return', 'reject')
      ORDER BY id DESC LIMIT 1]], { id = r.id })
    r.review_comment = last and last.comment or json.null
    decl.present(r)
  end
  return { total = total, page = pg.page, size = pg.size, items = items }
end

-- decl.school_view(who, id, now) -> the school's own declaration (decl.view)
-- with what it may do with it now, or nil and not_found for one that is
-- not the caller's school's. who: {account} of a school.
function decl.school_view(who, id, now)
  local r = decl.view(id)
  if not scope.school_owns(who, r) then
    return nil, errors.new("not_found", "申报不存在")
  end
  -- never a login name (2026-12-02: the school's own showed on its view and
  -- print): the school's own steps by its name, the reviewers' by their unit
  -- (石家庄市教育局), not by person
  local acct = {}
  for _, x in ipairs(db.query("SELECT id, account_id FROM reviews WHERE declaration_id = ?", r.id)) do
    acct[x.id] = x.account_id
  end
  for _, v in ipairs(r.reviews) do
    local p = people.of(acct[v.id])
    if v.level == "school" then v.by = p and p.label or r.school
    else v.by = p and p.unit ~= "" and p.unit or nil end
  end
  local raw = db.one("SELECT status, plan_id FROM declarations WHERE id = ?", id)
  r.can_edit, r.can_delete = decl.actions({ status = raw.status, plan_id = raw.plan_id,
                                            province = r.province }, now)
  return r
end

-- decl.pilot_status(school_id, year) -> {year, pilot, approved}: whether the
-- school is that year's pilot school (an approved declaration of the year).
function decl.pilot_status(school_id, year)
  local n = db.one([[SELECT count(*) AS n FROM declarations d JOIN plans p ON p.id = d.plan_id
                     WHERE d.school_id = :school AND p.year = :year AND d.status = 'approved']],
                   { school = school_id, year = year }).n
  return { year = year, pilot = n > 0, approved = n }
end

return decl
