-- audit: one row per state change: who, what, when, before/after status.
local db = require "db"
local json = require "json"

local audit = {}

-- audit.log(ctx, action, entity, id, {before=, after=, province=, city=, detail=})
function audit.log(ctx, action, entity, id, o)
  o = o or {}
  local a = ctx.account or {}
  db.exec([[INSERT INTO audit_log(at, account_id, username, role, action, entity,
              entity_id, province_code, city_code, before_status, after_status, detail, remote)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]],
    ctx.now, a.id, a.username or (ctx.token and ("token:" .. ctx.token.name)) or o.actor,
    a.role, action, entity, id, o.province, o.city, o.before, o.after,
    o.detail and json.encode(o.detail) or nil, ctx.remote)
end

return audit
