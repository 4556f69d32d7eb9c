-- api_ops: the platform operator (国开在线运维) over HTTP: catalogues of
-- training evaluation organisations, certificates and majors, the SMS
-- outbox, accounts (create an admin, change a phone, reset password,
-- unlock), and the eligibility question of exam registration (考务报考,
-- R15), asked with an API token. Handlers parse, call scripts/ops.lua,
-- answer.
local web = require "web"
local errors = require "errors"
local scope = require "scope"
local public = require "api_public"
local ops = require "ops"

local M = {}

local OPS = scope.OPS

-- The router passes an empty params table for POST: an edit names an id.
local function answer_saved(editing, v, err)
  return web.answer(v, err, editing and 200 or 201)
end

-- ---- 培训评价组织 --------------------------------------------------------

local function list_orgs()
  return 200, ops.organizations()
end

local function save_org(ctx, params)
  local b = ctx.body()
  local id = params and params.id
  return answer_saved(id ~= nil, ops.save_organization(ctx, id, b))
end

-- ---- 证书 -----------------------------------------------------------------

local function list_certs(ctx)
  return 200, public.certificates(ctx.query.q or "", true)
end

local function save_cert(ctx, params)
  local b = ctx.body()
  local id = params and params.id
  local c, listed = ops.save_certificate(ctx, id, b)
  if not c then return listed end
  -- a certificate the catalogue does not show is answered by its id
  return (listed and id == nil) and 201 or 200, c
end

-- ---- 专业 -----------------------------------------------------------------

local function list_majors(ctx)
  return 200, ops.majors(ctx.query, web.page(ctx.query))
end

local function save_major(ctx, params)
  local b = ctx.body()
  local code = params and params.code
  return answer_saved(code ~= nil, ops.save_major(ctx, code, b))
end

-- ---- 短信与账号 -----------------------------------------------------------

local function list_sms(ctx)
  return 200, ops.sms(ctx.query, web.page(ctx.query))
end

local function list_accounts(ctx)
  return 200, ops.accounts(ctx.query, web.page(ctx.query), ctx.now)
end

-- POST /api/ops/accounts {role = "city"|"province", username, name, phone,
-- province, city}
local function create_account(ctx)
  local a, err = ops.create_account(ctx, ctx.body())
  return web.answer(a, err, 201)
end

-- PUT /api/ops/accounts/{id}/phone {phone}
-- (an unknown account is 404 before its body is read)
local function change_phone(ctx, params)
  local a, err = ops.account(params.id)
  if not a then return err end
  return web.answer(ops.change_phone(ctx, a, ctx.body()))
end

-- POST /api/ops/accounts/{id}/reset-password: a new password by SMS.
local function reset_password(ctx, params)
  return web.answer(ops.reset_password(ctx, params.id))
end

local function unlock(ctx, params)
  return web.answer(ops.unlock(ctx, params.id))
end

-- ---- 考务报考：资格查询 (R15) ----------------------------------------------

-- GET /api/eligibility?school=<code>&certificate=<id>&year=&major=<code>
local function eligibility(ctx)
  if ctx.account and not scope.is_ops(ctx) then
    return errors.new("forbidden", "没有权限执行此操作")
  end
  return web.answer(ops.eligibility(ctx.query))
end

function M.register(route)
  route("GET", "/api/ops/organizations", list_orgs, OPS)
  route("POST", "/api/ops/organizations", save_org, OPS)
  route("PUT", "/api/ops/organizations/{id}", save_org, OPS)
  route("GET", "/api/ops/certificates", list_certs, OPS)
  route("POST", "/api/ops/certificates", save_cert, OPS)
  route("PUT", "/api/ops/certificates/{id}", save_cert, OPS)
  route("GET", "/api/ops/majors", list_majors, OPS)
  route("POST", "/api/ops/majors", function(ctx) return save_major(ctx, nil) end, OPS)
  route("PUT", "/api/ops/majors/{*code}", save_major, OPS)
  route("GET", "/api/ops/sms", list_sms, OPS)
  route("GET", "/api/ops/accounts", list_accounts, OPS)
  route("POST", "/api/ops/accounts", create_account, OPS)
  route("PUT", "/api/ops/accounts/{id}/phone", change_phone, OPS)
  route("POST", "/api/ops/accounts/{id}/reset-password", reset_password, OPS)
  route("POST", "/api/ops/accounts/{id}/unlock", unlock, OPS)
  -- exam registration asks the same question for every candidate of a
  -- school, certificate and major: the answer is reused until a commit
  route("GET", "/api/eligibility", eligibility, { token = true, reuse = true })
end

return M
