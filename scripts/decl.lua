-- decl: declarations as the pages read them: the list query, a row
-- presented for the API, the whole declaration (majors, reviews,
-- attachments), what the school may do with one now, and a plan's state.
-- The read side only: the school's writes are the service in
-- declarations.lua, what the province decides declaration_rules.lua's,
-- the form's checks declaration_form.lua's.
local db = require "db"
local json = require "json"
local util = require "util"
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

return decl
