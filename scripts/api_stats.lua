-- api_stats: what the declarations add up to, over HTTP: a year's pilot
-- schools (试点院校) and their Excel export, a plan's statistics, and every
-- year side by side. Handlers parse, call scripts/stats.lua, answer.
local util = require "util"
local web = require "web"
local scope = require "scope"
local plans = require "plans"
local stats = require "stats"

local M = {}

local function year_of(ctx)
  return web.int_param(ctx.query, "year") or util.beijing_year(ctx.now)
end

-- GET /api/admin/pilot-schools?year=
local function pilot_schools(ctx)
  return 200, stats.pilot_schools(ctx, year_of(ctx))
end

-- GET /api/admin/pilot-schools.xlsx?year=: 试点院校 of the year in scope,
-- with their approved certificates.
local function export_pilot_schools(ctx)
  local data = stats.pilot_schools(ctx, year_of(ctx))
  local rows = {}
  for i, r in ipairs(data.items) do
    rows[i] = { i, data.year, r.code, r.name, r.province_name or "", r.city_name or "", r.approved,
                table.concat(stats.approved_certificates(r.id, data.year), "\n") }
  end
  return web.xlsx(ctx, "pilot-schools-" .. data.year, "试点院校",
    { "序号", "年度", "学校标识码", "学校名称", "省份", "所在城市", "审核通过申报数", "审核通过的试点证书" },
    rows, { 6, 8, 14, 30, 10, 12, 14, 60 })
end

-- GET /api/admin/plans/{id}/stats
local function plan_stats(ctx, params)
  local plan, err = plans.visible(ctx, params.id)
  if not plan then return err end
  return 200, stats.plan(ctx, plan)
end

-- GET /api/admin/stats/years
local function years(ctx)
  return 200, stats.years(ctx)
end

function M.register(route)
  route("GET", "/api/admin/plans/{id}/stats", plan_stats, scope.ADMINS)
  route("GET", "/api/admin/pilot-schools", pilot_schools, scope.ADMINS)
  route("GET", "/api/admin/pilot-schools.xlsx", export_pilot_schools, scope.ADMINS)
  route("GET", "/api/admin/stats/years", years, scope.ADMINS)
end

return M
