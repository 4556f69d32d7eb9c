-- audit: the audit log, one row per state change: who, what, when, the
-- status before and after; and the log as the admins read it, in their
-- scope (scripts/scope.lua) and in words.
-- Uses: db, json, scope, sql, people, words.
local db = require "db"
local json = require "json"
local util = require "util"
local scope = require "scope"
local sql = require "sql"
local people = require "people"
local words = require "words"

local audit = {}

-- audit.log(ctx, action, entity, id, {before=, after=, province=, city=, detail=})
-- ctx: {account, token, now, remote} (a request's, or a plain table).
function audit.log(ctx, action, entity, id, o)
  o = o or {}
  local a = ctx.account or {}
  db.exec([[INSERT INTO audit_log(at, account_id, username, role, action, entity,
              entity_id, province_code, city_code, before_status, after_status, detail, remote)
            VALUES (:at, :account, :username, :role, :action, :entity, :id, :province, :city,
                    :before, :after, :detail, :remote)]],
    { at = ctx.now, account = a.id,
      username = a.username or (ctx.token and ("token:" .. ctx.token.name)) or o.actor,
      role = a.role, action = action, entity = entity, id = id, province = o.province, city = o.city,
      before = o.before, after = o.after, detail = o.detail and json.encode(o.detail) or nil,
      remote = ctx.remote })
end

-- Shows a row in words: the action, entity and states named, and `by`,
-- the person who acted (by name and unit), or (before a session exists:
-- login, registration, password reset) the account acted on. seen caches
-- people by account id.
local function present(r, seen)
  r.at = util.iso(r.at)
  r.detail = r.detail and json.decode(r.detail) or nil
  r.action_name = words.ACTION[r.action] or r.action
  r.entity_name = words.ENTITY[r.entity] or r.entity
  r.before_name = words.state(r.entity, r.before_status)
  r.after_name = words.state(r.entity, r.after_status)
  if r.entity == "declaration" then words.review_step(r) end
  local acting = r.account_id
  if not acting and r.entity == "account" and r.entity_id then acting = r.entity_id end
  if acting then
    seen[acting] = seen[acting] or people.of(acting) or false
  end
  local p = acting and seen[acting]
  r.by = p and p.label or words.actor(r.username, r.entity)
  if not r.role and p then r.role = p.role end
  return r
end

-- audit.list(who, f, pg) -> {total, page, size, items}: the log in the
-- caller's scope, newest first; f: {entity, entity_id, action} ("" or
-- nil for any).
function audit.list(who, f, pg)
  local cond, params = scope.where(who, nil, {
    entity = sql.opt(f.entity), entity_id = f.entity_id, action = sql.opt(f.action) })
  local where = " WHERE " .. cond .. [[ AND (:entity IS NULL OR entity = :entity)
    AND (:entity_id IS NULL OR entity_id = :entity_id) AND (:action IS NULL OR action = :action)]]
  local seen = {}
  return sql.page(pg, { count = "SELECT count(*) AS n FROM audit_log" .. where,
                        items = "SELECT * FROM audit_log" .. where .. " ORDER BY id DESC" },
                  params, function(r) present(r, seen) end)
end

return audit
