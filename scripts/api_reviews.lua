-- api_reviews: 申报审核 over HTTP: the queue of submitted declarations in
-- the caller's scope and its Excel export, 待我审核, an admin's view of
-- one declaration, and decisions at the caller's level of its review
-- chain, one or a batch. Handlers parse, call scripts/reviews.lua, answer;
-- a declaration out of scope (or a draft) is 404.
local web = require "web"
local decl = require "decl"
local scope = require "scope"
local reviews = require "reviews"
local sql = require "sql"

local M = {}

-- The queue's filters of ?plan=&status=&level=&city=&certificate=
-- &school=&year=&province=&mine=1 (400 for a number that is none).
local function filters(q)
  local f = { status = q.status, level = q.level, city = q.city, school = q.school,
              province = q.province, mine = q.mine == "1" or q.mine == "true" }
  f.plan = web.int_param(q, "plan")
  f.certificate = web.int_param(q, "certificate")
  f.year = web.int_param(q, "year")
  return f
end

-- GET /api/admin/declarations?...&page=&size=[&after=]: a page of the
-- queue; after= (the answer's next) reads the rows after that one
-- instead of page's offset (400 for a cursor that is none).
local function list(ctx)
  local pg = web.page(ctx.query)
  local after = ctx.query.after
  if after ~= nil and after ~= "" then
    local at, id = sql.cursor(after)
    if not at then web.fail(400, "bad_request", "参数 after 无效") end
    pg.after = { at, id }
  end
  return 200, reviews.list(ctx, filters(ctx.query), pg)
end

-- GET /api/admin/declarations.xlsx?...: the filtered queue as a workbook.
local function export(ctx)
  return web.xlsx(ctx, "declarations", "证书试点申报", reviews.EXPORT_HEADER,
    reviews.export(ctx, filters(ctx.query)), reviews.EXPORT_WIDTHS)
end

-- GET /api/admin/todo: what waits for the caller (待我审核).
local function todo(ctx)
  return 200, reviews.todo(ctx)
end

local function view(ctx, params)
  local v, err = reviews.view(ctx, params.id)
  if not v then return err end
  return 200, v
end

-- POST /api/admin/declarations/{id}/review {decision, comment}
local function review(ctx, params)
  local d, err = reviews.read_decision(ctx.body())
  if not d then return err end
  local ok
  ok, err = reviews.decide(ctx, params.id, d.decision, d.comment)
  if not ok then return err end
  return 200, decl.view(params.id)
end

-- POST /api/admin/declarations/batch-review {ids, decision, comment}
local function batch(ctx)
  local r, err = reviews.batch(ctx, ctx.body())
  if not r then return err end
  return 200, r
end

function M.register(route)
  route("GET", "/api/admin/todo", todo, scope.ADMINS)
  route("GET", "/api/admin/declarations", list, scope.ADMINS)
  route("GET", "/api/admin/declarations.xlsx", export, scope.ADMINS)
  route("POST", "/api/admin/declarations/batch-review", batch, scope.ADMINS)
  route("GET", "/api/admin/declarations/{id}", view, scope.ADMINS)
  route("POST", "/api/admin/declarations/{id}/review", review, scope.ADMINS)
end

return M
