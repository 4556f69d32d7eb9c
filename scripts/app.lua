-- app: the request entry point called by the C host for every /api/ path.
-- Routes a request to its handler, loads the caller's session (or API
-- token), enforces CSRF on state-changing requests, and turns results and
-- raised errors into JSON responses.
local json = require "json"
local web = require "web"
local session = require "session"
local clock = require "clock"
local log = require "log"
local rules = require "rules"
local errors = require "errors"

local app = {}

-- The one table of HTTP statuses for the error codes services return
-- (scripts/errors.lua). A code missing here answers 500 and is logged.
app.STATUS = {
  bad_request = 400, bad_json = 400,
  unauthenticated = 401, bad_credentials = 401,
  forbidden = 403, csrf = 403, school_inactive = 403, password_change_required = 403,
  not_found = 404,
  method_not_allowed = 405,
  already_registered = 409, cases_failed = 409, closed = 409, conflict = 409,
  duplicate = 409, has_declarations = 409, no_phone = 409, not_started = 409,
  not_your_level = 409, outside_window = 409, profile_incomplete = 409,
  published = 409, too_many = 409, unchanged = 409, wrong_status = 409,
  too_large = 413,
  validation_failed = 422, cases_invalid = 422, rules_invalid = 422, import_refused = 422,
  locked = 429, rate_limited = 429,
  internal = 500, rule_failed = 500,
}

-- The HTTP status of an error value.
function app.status_of(e)
  local status = app.STATUS[e.code]
  if not status then
    log.error("error code without a status in app.STATUS: " .. tostring(e.code))
    return 500
  end
  return status
end

-- Routes are kept in registration order, and indexed by the path's number
-- of segments and its first two (a parameter counts as "*"): a request
-- tries only the few routes of its bucket (and of the bucket with "*" in
-- second place), in registration order, instead of every pattern in turn.
local routes, buckets = {}, {}

local function segments(path)
  local n, first, second = 0, nil, nil
  for seg in path:gmatch("[^/]+") do
    n = n + 1
    if n == 2 then first = seg elseif n == 3 then second = seg end
  end
  return n, first or "", second or ""
end

local function bucket(key)
  local b = buckets[key]
  if not b then b = {}; buckets[key] = b end
  return b
end

-- app.route(method, pattern, handler, opts)
-- pattern: a path with {name} parts for integers ({id}) or {*name} for
-- any segment; opts.public: no login; opts.roles: allowed roles;
-- opts.csrf_exempt: pre-session requests; opts.token: bearer tokens too;
-- opts.reuse: a bearer token's answer depends on the database alone (not
-- on the time, nor on rules outside it), so the host may give it again to
-- the same request until anything commits (host/http_reuse.h).
function app.route(method, pattern, handler, opts)
  local names, strings = {}, {}
  local lua_pat = "^" .. pattern:gsub("[%-%.]", "%%%0"):gsub("{(%*?)([%w_]+)}",
    function(star, name)
      names[#names + 1] = name
      strings[name] = star == "*"
      return star == "*" and "([^/]+)" or "(%d+)"
    end) .. "$"
  assert(#names <= 4, "a route has at most four parameters: " .. pattern)
  local n, first, second = segments(pattern)
  assert(n >= 2 and not first:find("{", 1, true), "a route starts /api/<word>: " .. pattern)
  if second:find("{", 1, true) then second = "*" end
  local r = { method = method, pat = lua_pat, names = names, strings = strings,
    name = method .. " " .. pattern, fn = handler, opts = opts or {}, index = #routes + 1 }
  routes[#routes + 1] = r
  local b = bucket(n .. "/" .. first .. "/" .. second)
  b[#b + 1] = r
end

for _, mod in ipairs({ "api_public", "api_account", "api_school", "api_rules_contract",
                       "api_schools", "api_plans", "api_reviews", "api_stats", "api_audit",
                       "api_ops", "api_rules", "attachments", "notices" }) do
  require(mod).register(app.route)   -- a missing module is an error, never 404s
end

local EMPTY = {}
local tointeger, tonumber = math.tointeger, tonumber

-- The route of method and path, and its parameters; or nil and whether
-- some route has this path (405 rather than 404).
local function match(method, path)
  local n, first, second = segments(path)
  local prefix = n .. "/" .. first .. "/"
  local exact = second ~= "*" and buckets[prefix .. second] or EMPTY
  local any = buckets[prefix .. "*"] or EMPTY
  local i, j, path_found = 1, 1, false
  while true do
    -- the next candidate in registration order, of either bucket
    local r
    local a, b = exact[i], any[j]
    if a and (not b or a.index < b.index) then r, i = a, i + 1
    elseif b then r, j = b, j + 1
    else return nil, path_found end
    local c1, c2, c3, c4 = path:match(r.pat)
    if c1 ~= nil then
      path_found = true
      if r.method == method or (method == "HEAD" and r.method == "GET") then
        local params, caps = {}, { c1, c2, c3, c4 }
        for k, name in ipairs(r.names) do
          params[name] = r.strings[name] and caps[k] or tointeger(tonumber(caps[k]))
        end
        return r, params
      end
    end
  end
end

local JSON = "application/json; charset=utf-8"

local current_route                 -- of the request being handled, for errors

local function dispatch(req)
  local r, params = match(req.method, req.path)
  current_route = r and r.name or "unmatched"
  if not r then
    if params then
      return 405, nil, { error = { code = "method_not_allowed", message = "不支持的请求方法" } }
    end
    return 404, nil, { error = { code = "not_found", message = "接口不存在" } }
  end
  local ctx = {
    req = req, params = params, route = r.name, now = clock.now(),
    query = web.parse_query(req.query), remote = req.remote,
  }
  function ctx.body()
    if ctx._body == nil then
      if req.body == "" then web.fail(400, "bad_request", "请求内容为空") end
      if not require("text").ulen(req.body) then
        web.fail(400, "bad_json", "请求内容不是有效的 UTF-8 文本")
      end
      local v, err = json.decode(req.body)
      if v == nil then web.fail(400, "bad_json", "请求内容不是有效的 JSON: " .. tostring(err)) end
      if type(v) ~= "table" or json.is_array(v) then
        web.fail(400, "bad_json", "请求内容应为 JSON 对象")
      end
      ctx._body = v
    end
    return ctx._body
  end
  session.load(ctx, r.opts)
  if not r.opts.public then
    if not ctx.account and not ctx.token then
      web.fail(401, "unauthenticated", "请先登录")
    end
    if r.opts.roles and ctx.account and not r.opts.roles[ctx.account.role] then
      web.fail(403, "forbidden", "没有权限执行此操作")
    end
    if ctx.token and not r.opts.token then
      web.fail(403, "forbidden", "该令牌不能访问此接口")
    end
  end
  if req.method ~= "GET" and req.method ~= "HEAD" and not r.opts.csrf_exempt then
    session.check_csrf(ctx)
  end
  local status, value, opts = r.fn(ctx, params)
  -- a handler answers a service's error value by returning it
  if errors.is(status) then error(status, 0) end
  return status, r.name, value, opts, r.opts.reuse and ctx.token ~= nil
end

local function traceback(e)
  if web.is_http_error(e) or errors.is(e) then return e end
  return debug.traceback(tostring(e), 2)
end

-- Called by the host: returns status, body, content type, route, headers,
-- and whether the answer may be reused (opts.reuse, a token's request).
function app.handle(req)
  current_route = "unmatched"
  -- one request decides under one rule set, whatever is published meanwhile:
  -- the newest stored one (another instance may have published it)
  require("rules_sync").request()
  rules.pin()
  require("shadow").reset()
  local ok, status, route, value, opts, reuse = xpcall(dispatch, traceback, req)
  rules.unpin()
  if not ok then
    local e = status
    if web.is_http_error(e) then
      return e.status, web.error_body(e), JSON, current_route
    end
    if errors.is(e) then
      return app.status_of(e), web.error_body(e), JSON, current_route
    end
    log.error("handler failed: " .. tostring(e))
    return 500, web.error_body({ code = "internal", message = "服务器内部错误" }), JSON, "error"
  end
  if route == nil then
    -- 404/405 from dispatch: value holds the body table
    return status, json.encode(value), JSON, "unmatched"
  end
  opts = opts or {}
  local headers = opts.headers
  if opts.raw then
    return status, value, opts.content_type or "application/octet-stream", route, headers
  end
  if status == 204 then return 204, "", JSON, route, headers end
  return status, json.encode(value), JSON, route, headers, reuse
end

return app
