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
-- pilot_counts: a row per school and plan).
function stats.pilot_schools(who, year)
  local cond, params = scope.where(who, "k", { year = year })
  local rows = db.query([[SELECT s.id, s.code, s.name, s.province_code AS province, s.city_code AS city,
                                 c.name AS city_name, pr.name AS province_name, sum(k.n) AS approved
                          FROM pilot_counts k JOIN plans p ON p.id = k.plan_id
                          JOIN schools s ON s.id = k.school_id LEFT JOIN cities c ON c.code = s.city_code
                          LEFT JOIN provinces pr ON pr.code = s.province_code
                          WHERE k.n > 0 AND p.year = :year AND ]] .. cond .. [[
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
-- schools. plan: a visible plan (plans.visible). The plan's rows of
-- declaration_counts (a row per city, status and level) and pilot_counts
-- (per school) add up all but the certificates, which are counted from
-- the plan's queue index.
function stats.plan(who, plan)
  local cond, params = scope.where(who, "k", { plan = plan.id })
  local counts = " FROM declaration_counts k WHERE k.plan_id = :plan AND " .. cond
  local by_status = {}
  for _, st in ipairs({ "draft", "pending", "approved", "rejected", "returned" }) do by_status[st] = 0 end
  local trainees, approved_trainees = 0, 0
  for _, r in ipairs(db.query("SELECT k.status, sum(k.n) AS n, sum(k.trainees) AS trainees" .. counts
                              .. " GROUP BY k.status", params)) do
    by_status[r.status] = r.n
    if r.status ~= "draft" then trainees = trainees + r.trainees end
    if r.status == "approved" then approved_trainees = r.trainees end
  end
  local by_city = db.query([[SELECT nullif(k.city_code, '') AS city, ci.name, sum(k.n) AS count,
                                    sum(k.trainees) AS trainees
                             FROM declaration_counts k LEFT JOIN cities ci ON ci.code = k.city_code
                             WHERE k.plan_id = :plan AND k.status <> 'draft' AND ]] .. cond .. [[
                             GROUP BY k.city_code, ci.name HAVING sum(k.n) > 0 ORDER BY count DESC, k.city_code]], params)
  local pilots = db.one("SELECT count(*) AS n FROM pilot_counts k WHERE k.plan_id = :plan AND k.n > 0 AND "
    .. cond, params).n
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
           by_city = by_city, by_certificate = by_cert, trainees_total = trainees,
           approved_trainees = approved_trainees, pilot_schools = pilots }
end

-- stats.years(who) -> {items}: the declarations of every year in scope,
-- side by side (drafts apart), for the year-over-year chart: the plans'
-- rows of declaration_counts, and of pilot_counts for the pilot schools.
function stats.years(who)
  local cond, params = scope.where(who, "k")
  -- each plan's sums first, in the key's order (no sort), then its year's
  local rows = sql.query([[SELECT p.year, count(*) AS plans, sum(x.declared) AS declared,
      sum(x.drafts) AS drafts, sum(x.pending) AS pending, sum(x.approved) AS approved,
      sum(x.rejected) AS rejected, sum(x.returned) AS returned, sum(x.trainees) AS trainees
    FROM (SELECT k.plan_id,
            sum(CASE WHEN k.status <> 'draft' THEN k.n ELSE 0 END) AS declared,
            sum(CASE WHEN k.status = 'draft' THEN k.n ELSE 0 END) AS drafts,
            sum(CASE WHEN k.status = 'pending' THEN k.n ELSE 0 END) AS pending,
            sum(CASE WHEN k.status = 'approved' THEN k.n ELSE 0 END) AS approved,
            sum(CASE WHEN k.status = 'rejected' THEN k.n ELSE 0 END) AS rejected,
            sum(CASE WHEN k.status = 'returned' THEN k.n ELSE 0 END) AS returned,
            sum(CASE WHEN k.status <> 'draft' THEN k.trainees ELSE 0 END) AS trainees
          FROM declaration_counts k WHERE k.plan_id <> 0 AND k.n > 0 AND ]] .. cond .. [[
          GROUP BY k.plan_id) x
    JOIN plans p ON p.id = x.plan_id GROUP BY p.year ORDER BY p.year]], params)
  local pilots = {}
  for _, r in ipairs(sql.query([[SELECT p.year, count(DISTINCT k.school_id) AS n
                                 FROM pilot_counts k JOIN plans p ON p.id = k.plan_id
                                 WHERE k.n > 0 AND ]] .. cond .. " GROUP BY p.year", params)) do
    pilots[r.year] = r.n
  end
  for _, r in ipairs(rows) do r.pilot_schools = pilots[r.year] or 0 end
  return { items = json.array(rows) }
end

return stats
