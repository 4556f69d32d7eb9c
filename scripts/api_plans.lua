-- api_plans: 申报计划 over HTTP: the plans in the caller's scope; a
-- province admin (or ops, naming the province) creates, edits, publishes,
-- extends, closes and deletes them. Handlers parse, call
-- scripts/plans.lua, answer; a plan out of scope is 404.
local web = require "web"
local scope = require "scope"
local plans = require "plans"

local M = {}

local function list(ctx)
  local q = ctx.query
  return 200, plans.list(ctx, { province = q.province, year = web.int_param(q, "year") })
end

local answer = web.answer

local function create(ctx)
  local p, err = plans.create(ctx, ctx.body())
  return answer(p, err, 201)
end

local function update(ctx, params)
  local b = ctx.body()
  return answer(plans.update(ctx, params.id, b))
end

local function publish(ctx, params)
  return answer(plans.publish(ctx, params.id))
end

-- POST /api/admin/plans/{id}/extend {ends_at}: 延期
local function extend(ctx, params)
  local b = ctx.body()
  return answer(plans.extend(ctx, params.id, b))
end

-- POST /api/admin/plans/{id}/close: 提前结束, the window ends now.
local function close(ctx, params)
  return answer(plans.close(ctx, params.id))
end

local function delete(ctx, params)
  local ok, err = plans.delete(ctx, params.id)
  return answer(ok and { ok = true }, err)
end

function M.register(route)
  route("GET", "/api/admin/plans", list, scope.ADMINS)
  route("POST", "/api/admin/plans", create, scope.PROVINCE_OPS)
  route("PUT", "/api/admin/plans/{id}", update, scope.PROVINCE_OPS)
  route("DELETE", "/api/admin/plans/{id}", delete, scope.PROVINCE_OPS)
  route("POST", "/api/admin/plans/{id}/publish", publish, scope.PROVINCE_OPS)
  route("POST", "/api/admin/plans/{id}/extend", extend, scope.PROVINCE_OPS)
  route("POST", "/api/admin/plans/{id}/close", close, scope.PROVINCE_OPS)
end

return M
