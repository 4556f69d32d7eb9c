-- stats: what the declarations add up to, in the caller's scope: a year's
-- pilot schools (试点院校: a school with an approved declaration that
-- year), a plan's counts, and every year side by side. A service: plain
-- tables in, results out.
-- Uses: db, scope, sql, util.
local db = require "db"
local json = require "json"
local util = require "util"
local scope = require "scope"
local sql = require "sql"

local stats = {}

-- stats.pilot_schools(who, year) -> {year, total, items}: the year's
-- pilot schools in scope, by code, each with its approved count.
function stats.pilot_schools(who, year)
  local cond, params = scope.where(who, "s", { year = year })
  local rows = db.query([[SELECT s.id, s.code, s.name, s.province_code AS province, s.city_code AS city,
                                 c.name AS city_name, pr.name AS province_name, count(*) AS approved
                          FROM declarations d JOIN plans p ON p.id = d.plan_id
                          JOIN schools s ON s.id = d.school_id LEFT JOIN cities c ON c.code = s.city_code
                          LEFT JOIN provinces pr ON pr.code = s.province_code
                          WHERE d.status = 'approved' AND p.year = :year AND ]] .. cond .. [[
                          GROUP BY s.id, c.name, pr.name ORDER BY s.code]], params)
  return { year = year, total = #rows, items = rows }
end

-- stats.approved_certificates(school_id, year) -> ["第一批 NAME（LEVEL）", …]
function stats.approved_certificates(school_id, year)
  local out = {}
  for _, c in ipairs(db.query([[SELECT c.name || '（' || c.level || '）' AS name, p.batch
                                FROM declarations d JOIN certificates c ON c.id = d.certificate_id
                                JOIN plans p ON p.id = d.plan_id
                                WHERE d.school_id = ? AND d.status = 'approved' AND p.year = ?
                                ORDER BY p.batch, c.name]], school_id, year)) do
    out[#out + 1] = util.batch_name(c.batch) .. " " .. c.name
  end
  return out
end

-- stats.plan(who, plan) -> a plan's counts in scope: by status (drafts
-- apart: 申报总数 counts submitted declarations only, as the city and
-- certificate charts do), by city and by certificate, trainees and pilot
-- schools. plan: a visible plan (plans.visible).
function stats.plan(who, plan)
  local cond, params = scope.where(who, "s", { plan = plan.id })
  local function from(join)
    return " FROM declarations d JOIN schools s ON s.id = d.school_id" .. (join or "")
      .. " WHERE d.plan_id = :plan AND " .. cond
  end
  local by_status = {}
  for _, st in ipairs({ "draft", "pending", "approved", "rejected", "returned" }) do by_status[st] = 0 end
  for _, r in ipairs(db.query("SELECT d.status, count(*) AS n" .. from() .. " GROUP BY d.status", params)) do
    by_status[r.status] = r.n
  end
  local by_city = db.query([[SELECT s.city_code AS city, ci.name, count(*) AS count,
                                    sum(coalesce(d.trainees_total, 0)) AS trainees]]
    .. from(" LEFT JOIN cities ci ON ci.code = s.city_code")
    .. " AND d.status <> 'draft' GROUP BY s.city_code, ci.name ORDER BY count DESC", params)
  local by_cert = db.query([[SELECT c.id AS certificate_id, c.name || '（' || c.level || '）' AS name,
                                    count(*) AS count, sum(coalesce(d.trainees_total, 0)) AS trainees]]
    .. from(" JOIN certificates c ON c.id = d.certificate_id")
    .. " AND d.status <> 'draft' GROUP BY c.id ORDER BY count DESC", params)
  local totals = db.one("SELECT sum(coalesce(d.trainees_total, 0)) AS trainees, "
    .. "count(DISTINCT CASE WHEN d.status = 'approved' THEN d.school_id END) AS pilots, "
    .. "sum(CASE WHEN d.status = 'approved' THEN coalesce(d.trainees_total, 0) ELSE 0 END) AS approved_trainees"
    .. from() .. " AND d.status <> 'draft'", params)
  local declared = 0
  for st, n in pairs(by_status) do if st ~= "draft" then declared = declared + n end end
  return { plan_id = plan.id, title = plan.title, year = plan.year, by_status = by_status,
           declared = declared, drafts = by_status.draft,
           by_city = by_city, by_certificate = by_cert, trainees_total = totals.trainees or 0,
           approved_trainees = totals.approved_trainees or 0, pilot_schools = totals.pilots or 0 }
end

-- stats.years(who) -> {items}: the declarations of every year in scope,
-- side by side (drafts apart), for the year-over-year chart.
function stats.years(who)
  local cond, params = scope.where(who, "s")
  local rows = sql.query([[SELECT p.year, count(DISTINCT p.id) AS plans,
      sum(CASE WHEN d.status <> 'draft' THEN 1 ELSE 0 END) AS declared,
      sum(CASE WHEN d.status = 'draft' THEN 1 ELSE 0 END) AS drafts,
      sum(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END) AS pending,
      sum(CASE WHEN d.status = 'approved' THEN 1 ELSE 0 END) AS approved,
      sum(CASE WHEN d.status = 'rejected' THEN 1 ELSE 0 END) AS rejected,
      sum(CASE WHEN d.status = 'returned' THEN 1 ELSE 0 END) AS returned,
      count(DISTINCT CASE WHEN d.status = 'approved' THEN d.school_id END) AS pilot_schools,
      sum(CASE WHEN d.status <> 'draft' THEN coalesce(d.trainees_total, 0) ELSE 0 END) AS trainees
    FROM declarations d JOIN plans p ON p.id = d.plan_id]]
    -- the schools only where the scope reads them (ops: every declaration)
    .. (cond:find("s.", 1, true) and " JOIN schools s ON s.id = d.school_id" or "")
    .. " WHERE " .. cond .. " GROUP BY p.year ORDER BY p.year", params)
  return { items = json.array(rows) }
end

return stats
