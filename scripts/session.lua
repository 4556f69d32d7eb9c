-- session: who is calling. Session cookies (random ids stored as SHA-256,
-- HttpOnly, SameSite=Lax), the CSRF token of each session, bearer API
-- tokens for downstream systems, and the forced first password change.
local db = require "db"
local auth = require "auth"
local web = require "web"

local session = {}

local TTL = 8 * 3600
session.TTL = TTL

-- The cookie's attributes; Secure behind TLS (HOST_COOKIE_SECURE=1).
local function attributes()
  local secure = os.getenv("HOST_COOKIE_SECURE") == "1" and "; Secure" or ""
  return "; Path=/; HttpOnly; SameSite=Lax" .. secure
end

-- Endpoints an account that must change its password may still use.
local FIRST_LOGIN_ALLOWED = {
  ["GET /api/me"] = true, ["POST /api/logout"] = true,
  ["POST /api/password"] = true,
}

function session.load(ctx, opts)
  local headers = ctx.req.headers
  local authz = headers["authorization"]
  local token = authz and authz:match("^[Bb]earer%s+(%S+)$")
  if token then
    local row = db.one([[SELECT id, name, last_used_at FROM api_tokens
                         WHERE token_hash = ? AND revoked = 0]], auth.sha256(token))
    if not row then web.fail(401, "unauthenticated", "无效的访问令牌") end
    ctx.token = { id = row.id, name = row.name }
    -- the last use, to the minute: a read (eligibility) does not write
    -- (and wait for a COMMIT) on every call
    if opts.token and (row.last_used_at or 0) <= ctx.now - 60 then
      db.exec("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", ctx.now, row.id)
    end
    return
  end
  local sid = web.cookies(headers["cookie"]).sid
  if not sid or #sid ~= 64 then return end
  local row = db.one([[
    SELECT s.id_hash, s.csrf_token, s.expires_at, a.id, a.username, a.role,
           a.province_code, a.city_code, a.school_id, a.must_change_password
    FROM sessions s JOIN accounts a ON a.id = s.account_id
    WHERE s.id_hash = ? AND s.expires_at > ? AND a.active = 1]],
    auth.sha256(sid), ctx.now)
  if not row then return end
  ctx.session = { id_hash = row.id_hash, csrf_token = row.csrf_token }
  ctx.account = {
    id = row.id, username = row.username, role = row.role,
    province_code = row.province_code, city_code = row.city_code,
    school_id = row.school_id, must_change_password = row.must_change_password == 1,
  }
  if ctx.account.must_change_password and not opts.public
      and not FIRST_LOGIN_ALLOWED[ctx.route] then
    web.fail(403, "password_change_required", "首次登录请先修改初始密码")
  end
  -- sliding expiry, at most one write a minute per session
  if row.expires_at - ctx.now < TTL - 60 then
    db.exec("UPDATE sessions SET expires_at = ? WHERE id_hash = ?", ctx.now + TTL, row.id_hash)
  end
end

function session.check_csrf(ctx)
  if ctx.token then return end
  if not ctx.session then
    web.fail(403, "csrf", "缺少或无效的 CSRF 令牌")
  end
  local sent = ctx.req.headers["x-csrf-token"]
  if not sent or not auth.equal(sent, ctx.session.csrf_token) then
    web.fail(403, "csrf", "缺少或无效的 CSRF 令牌")
  end
end

-- session.create(ctx, account_id) -> csrf_token, Set-Cookie header value
function session.create(ctx, account_id)
  local sid = auth.random_hex(32)
  local csrf = auth.random_hex(24)
  db.exec("DELETE FROM sessions WHERE expires_at <= ?", ctx.now)
  db.exec([[INSERT INTO sessions(id_hash, account_id, csrf_token, created_at, expires_at)
            VALUES (?, ?, ?, ?, ?)]], auth.sha256(sid), account_id, csrf, ctx.now, ctx.now + TTL)
  return csrf, "sid=" .. sid .. attributes() .. "; Max-Age=" .. TTL
end

function session.destroy(ctx)
  if ctx.session then
    db.exec("DELETE FROM sessions WHERE id_hash = ?", ctx.session.id_hash)
  end
  return "sid=" .. attributes() .. "; Max-Age=0"
end

return session
