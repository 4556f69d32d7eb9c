-- api_account: registration (立即申报), login, logout, the caller's own
-- account, password change and reset by SMS code. Handlers parse, call
-- scripts/accounts.lua, answer.
local web = require "web"
local accounts = require "accounts"

local M = {}

-- POST /api/register {province, city, school_id, phone}
local function register(ctx)
  local r, err = accounts.register(ctx, ctx.body())
  return web.answer(r, err, 201)
end

-- POST /api/login {username, password}: the session's cookie
local function login(ctx)
  local r, cookie = accounts.login(ctx, ctx.body())
  if not r then return cookie end
  return 200, r, { headers = { { "Set-Cookie", cookie } } }
end

local function logout(ctx)
  local cookie = accounts.logout(ctx)
  return 200, { ok = true }, { headers = { { "Set-Cookie", cookie } } }
end

local function me(ctx)
  if ctx.token then
    return 200, { role = "token", name = ctx.token.name }
  end
  return 200, accounts.me(ctx.account, ctx.session.csrf_token)
end

-- POST /api/password {old, new}
local function change_password(ctx)
  local ok, err = accounts.change_password(ctx, ctx.body())
  return web.answer(ok and { ok = true }, err)
end

-- POST /api/password/forgot {username}: 202 whatever happens.
local function forgot(ctx)
  local ok, err = accounts.forgot(ctx, ctx.body())
  return web.answer(ok and { ok = true, message = "如账号存在，验证码已发送至注册手机" }, err, 202)
end

-- POST /api/password/reset {username, code, new}
local function reset(ctx)
  local ok, err = accounts.reset(ctx, ctx.body())
  return web.answer(ok and { ok = true }, err)
end

function M.register(route)
  local pre = { public = true, csrf_exempt = true }
  route("POST", "/api/register", register, pre)
  route("POST", "/api/login", login, pre)
  route("POST", "/api/password/forgot", forgot, pre)
  route("POST", "/api/password/reset", reset, pre)
  route("POST", "/api/logout", logout)
  route("GET", "/api/me", me, { token = true })
  route("POST", "/api/password", change_password)
end

return M
