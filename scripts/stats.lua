-- stats: what the declarations add up to, in the caller's scope: a year's
-- pilot schools (试点院校: a school with an approved declaration that
-- year), a plan's counts, and every year side by side. A service: plain
-- tables in, results out. The counts are declaration_counts' (schema/019),
-- kept with the declarations, rather than a count of a province's rows.
-- Uses: db, scope, sql, util.
local db = require "db"
local json = require "json"
local util = require "util"
local scope = require "scope"
local sql = require "sql"

local stats = {}

-- stats.pilot_schools(who, year) -> {year, total, items}: the year's
-- pilot schools in scope, by code, each with its approved count (from
-- declaration_counts: a row per school and plan).
function stats.pilot_schools(who, year)
  local cond, params = scope.where(who, "k", { year = year })
  local rows = db.query([[SELECT s.id, s.code, s.name, s.province_code AS province, s.city_code AS city,
                                 c.name AS city_name, pr.name AS province_name, sum(k.n) AS approved
                          FROM declaration_counts k JOIN plans p ON p.id = k.plan_id
                          JOIN schools s ON s.id = k.school_id LEFT JOIN cities c ON c.code = s.city_code
                          LEFT JOIN provinces pr ON pr.code = s.province_code
                          WHERE k.status = 'approved' AND p.year = :year AND ]] .. cond .. [[
                          GROUP BY s.id HAVING sum(k.n) > 0 ORDER BY s.code]], params)
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
-- schools. plan: a visible plan (plans.visible). All but the certificates
-- add up the plan's rows of declaration_counts (a row per school, status
-- and level); the certificates are counted from the plan's queue index.
function stats.plan(who, plan)
  local cond, params = scope.where(who, "k", { plan = plan.id })
  local counts = " FROM declaration_counts k WHERE k.plan_id = :plan AND " .. cond
  local by_status = {}
  for _, st in ipairs({ "draft", "pending", "approved", "rejected", "returned" }) do by_status[st] = 0 end
  for _, r in ipairs(db.query("SELECT k.status, sum(k.n) AS n" .. counts .. " GROUP BY k.status", params)) do
    by_status[r.status] = r.n
  end
  local by_city = db.query([[SELECT nullif(k.city_code, '') AS city, ci.name, sum(k.n) AS count,
                                    sum(k.trainees) AS trainees
                             FROM declaration_counts k LEFT JOIN cities ci ON ci.code = k.city_code
                             WHERE k.plan_id = :plan AND k.status <> 'draft' AND ]] .. cond .. [[
                             GROUP BY k.city_code HAVING sum(k.n) > 0 ORDER BY count DESC, k.city_code]], params)
  local totals = db.one("SELECT sum(CASE WHEN k.status <> 'draft' THEN k.trainees ELSE 0 END) AS trainees, "
    .. "count(DISTINCT CASE WHEN k.status = 'approved' AND k.n > 0 THEN k.school_id END) AS pilots, "
    .. "sum(CASE WHEN k.status = 'approved' THEN k.trainees ELSE 0 END) AS approved_trainees"
    .. counts, params)
  local dcond, dparams = scope.where(who, "d", { plan = plan.id })
  local by_cert = db.query([[SELECT c.id AS certificate_id, c.name || '（' || c.level || '）' AS name,
                                    count(*) AS count, sum(coalesce(d.trainees_total, 0)) AS trainees
                             FROM declarations d JOIN certificates c ON c.id = d.certificate_id
                             WHERE d.plan_id = :plan AND d.status <> 'draft' AND ]] .. dcond .. [[
                             GROUP BY c.id ORDER BY count DESC, c.id]], dparams)
  local declared = 0
  for st, n in pairs(by_status) do if st ~= "draft" then declared = declared + n end end
  return { plan_id = plan.id, title = plan.title, year = plan.year, by_status = by_status,
           declared = declared, drafts = by_status.draft,
           by_city = by_city, by_certificate = by_cert, trainees_total = totals.trainees or 0,
           approved_trainees = totals.approved_trainees or 0, pilot_schools = totals.pilots or 0 }
end

-- stats.years(who) -> {items}: the declarations of every year in scope,
-- side by side (drafts apart), for the year-over-year chart: the plans'
-- rows of declaration_counts, a few per school and plan.
function stats.years(who)
  local cond, params = scope.where(who, "k")
  local rows = sql.query([[SELECT p.year, count(DISTINCT p.id) AS plans,
      sum(CASE WHEN k.status <> 'draft' THEN k.n ELSE 0 END) AS declared,
      sum(CASE WHEN k.status = 'draft' THEN k.n ELSE 0 END) AS drafts,
      sum(CASE WHEN k.status = 'pending' THEN k.n ELSE 0 END) AS pending,
      sum(CASE WHEN k.status = 'approved' THEN k.n ELSE 0 END) AS approved,
      sum(CASE WHEN k.status = 'rejected' THEN k.n ELSE 0 END) AS rejected,
      sum(CASE WHEN k.status = 'returned' THEN k.n ELSE 0 END) AS returned,
      count(DISTINCT CASE WHEN k.status = 'approved' THEN k.school_id END) AS pilot_schools,
      sum(CASE WHEN k.status <> 'draft' THEN k.trainees ELSE 0 END) AS trainees
    FROM declaration_counts k JOIN plans p ON p.id = k.plan_id
    WHERE k.n > 0 AND ]] .. cond .. " GROUP BY p.year ORDER BY p.year", params)
  return { items = json.array(rows) }
end

return stats
