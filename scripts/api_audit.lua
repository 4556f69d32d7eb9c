-- api_audit: the audit log (操作日志) over HTTP, in the caller's scope and
-- in words, and its Excel export. Handlers parse, call scripts/audit.lua,
-- answer.
local web = require "web"
local words = require "words"
local scope = require "scope"
local audit = require "audit"

local M = {}

-- ?entity=&entity_id=&action= (400 for an entity_id that is no number)
local function filters(q)
  return { entity = q.entity, entity_id = web.int_param(q, "entity_id"), action = q.action }
end

local function list(ctx)
  local pg = web.page(ctx.query)
  return 200, audit.list(ctx, filters(ctx.query), pg)
end

-- GET /api/admin/audit.xlsx?entity=&entity_id=&action=: the log in scope
-- (the newest 20,000 rows), in words.
local function export(ctx)
  local f = filters(ctx.query)
  local rows, page = {}, 1
  repeat
    local data = audit.list(ctx, f, { page = page, size = 100, offset = (page - 1) * 100 })
    for _, r in ipairs(data.items) do
      local change = ""
      if r.before_status or r.after_status then
        change = (r.before_status and (r.before_name .. " → ") or "") .. r.after_name
      end
      rows[#rows + 1] = { r.at:sub(1, 19):gsub("T", " "), r.by, words.ROLE[r.role] or (r.role or ""),
                          r.action_name, r.entity_name, r.entity_id or "", change,
                          words.detail(r.detail), r.remote or "" }
    end
    page = page + 1
  until #data.items < 100 or #rows >= 20000
  return web.xlsx(ctx, "audit", "操作日志",
    { "操作时间", "操作人", "角色", "操作", "操作对象", "对象编号", "状态变化", "详情", "IP地址" },
    rows, { 18, 28, 16, 14, 12, 10, 20, 50, 14 })
end

function M.register(route)
  route("GET", "/api/admin/audit", list, scope.ADMINS)
  route("GET", "/api/admin/audit.xlsx", export, scope.ADMINS)
end

return M
