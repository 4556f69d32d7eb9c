-- api_school: what a school does (manual sections 2 and 3): its profile,
-- its province's plans, its declarations and its pilot status. Handlers
-- parse, call scripts/profile.lua, decl.lua (what it reads) or
-- declarations.lua (what it writes), answer.
local json = require "json"
local util = require "util"
local web = require "web"
local scope = require "scope"
local decl = require "decl"
local declarations = require "declarations"
local profile = require "profile"

local M = {}

local SCHOOL = scope.SCHOOL

local function get_profile(ctx)
  return web.answer(profile.get(ctx.account.school_id))
end

local function put_profile(ctx)
  local b = ctx.body()
  return web.answer(profile.save(ctx, ctx.account.school_id, b))
end

-- The caller's school: the row the declarations service takes, or the
-- error value (not_found, school_inactive) that answers the request.
local function own_school(ctx)
  return declarations.school(ctx.account.school_id)
end

-- Who acts, for the audit log the service writes.
local function actor(ctx)
  local a = ctx.account
  return { id = a.id, username = a.username, role = a.role, remote = ctx.remote }
end

local function plans(ctx)
  local school, err = own_school(ctx)
  if not school then return err end
  return 200, decl.school_plans(school, ctx.now)
end

local function list(ctx)
  local q = ctx.query
  local pg = web.page(q)
  local f = { year = web.int_param(q, "year"), status = q.status ~= "" and q.status or nil }
  return 200, decl.school_list(ctx.account.school_id, f, pg, ctx.now)
end

local function view(ctx, params)
  return web.answer(decl.school_view(ctx, params.id, ctx.now))
end

local function pilot_status(ctx)
  local year = web.int_param(ctx.query, "year") or util.beijing_year(ctx.now)
  return 200, decl.pilot_status(ctx.account.school_id, year)
end

-- The school's declarations: parse, call the service, answer (the
-- declaration as its view shows it, with a draft's warnings).

-- POST /api/declarations
local function create(ctx)
  local b = ctx.body()
  local school, err = own_school(ctx)
  if not school then return err end
  local r, cerr = declarations.create(actor(ctx), school, b, ctx.now)
  if not r then return cerr end
  local out = decl.view(r.id)
  out.warnings = json.array(r.warnings)
  return 201, out
end

-- PUT /api/declarations/{id}
local function update(ctx, params)
  local b = ctx.body()
  local school, err = own_school(ctx)
  if not school then return err end
  local r, uerr = declarations.update(actor(ctx), school, params.id, b, ctx.now)
  if not r then return uerr end
  local out = decl.view(r.id)
  out.warnings = json.array(r.warnings)
  return 200, out
end

-- POST /api/declarations/{id}/submit
local function submit(ctx, params)
  local school, err = own_school(ctx)
  if not school then return err end
  local r, serr = declarations.submit(actor(ctx), school, params.id, ctx.now)
  if not r then return serr end
  return 200, decl.view(r.id)
end

-- DELETE /api/declarations/{id}
local function delete(ctx, params)
  local school, err = own_school(ctx)
  if not school then return err end
  local r, derr = declarations.delete(actor(ctx), school, params.id, ctx.now)
  if not r then return derr end
  return 200, { ok = true }
end

function M.register(route)
  route("GET", "/api/school/profile", get_profile, SCHOOL)
  route("PUT", "/api/school/profile", put_profile, SCHOOL)
  route("GET", "/api/plans", plans, SCHOOL)
  route("GET", "/api/declarations", list, SCHOOL)
  route("POST", "/api/declarations", create, SCHOOL)
  route("GET", "/api/declarations/{id}", view, SCHOOL)
  route("PUT", "/api/declarations/{id}", update, SCHOOL)
  route("DELETE", "/api/declarations/{id}", delete, SCHOOL)
  route("POST", "/api/declarations/{id}/submit", submit, SCHOOL)
  route("GET", "/api/school/pilot-status", pilot_status, SCHOOL)
end

return M
