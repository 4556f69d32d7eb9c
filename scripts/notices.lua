-- notices: 通知公告 (issue 13). A province admin publishes for its
-- province's schools, ops for everyone (or for one province); schools see
-- their province's and the national ones on their first page, pinned
-- first, newest first. Bodies are rich text sanitized like 师资情况.
local db = require "db"
local json = require "json"
local text = require "text"
local util = require "util"
local web = require "web"
local errors = require "errors"
local scope = require "scope"
local sql = require "sql"
local audit = require "audit"

local M = {}

M.MAX_TITLE_CHARS = 100
M.MAX_BODY_CHARS = 20000

local COLUMNS = [[n.id, n.province_code AS province, p.name AS province_name, n.title, n.pinned,
                  n.created_at, n.updated_at, a.username AS author]]
local FROM = [[ FROM notices n LEFT JOIN provinces p ON p.code = n.province_code
               LEFT JOIN accounts a ON a.id = n.created_by ]]
local ORDER = " ORDER BY n.pinned DESC, n.created_at DESC, n.id DESC"

local function present(r, with_author)
  r.pinned = r.pinned == 1
  r.province = r.province or json.null
  r.province_name = r.province_name or "全国"
  r.created_at, r.updated_at = util.iso(r.created_at), util.iso(r.updated_at)
  if not with_author then r.author = nil end
  return r
end

-- A page of the notices that cond (with its named params) keeps.
local function page(ctx, cond, params, with_author)
  local pg = web.page(ctx.query)
  return sql.page(pg, {
    count = "SELECT count(*) AS n" .. FROM .. " WHERE " .. cond,
    items = "SELECT " .. COLUMNS .. ", n.body" .. FROM .. " WHERE " .. cond .. ORDER,
  }, params, function(r) present(r, with_author) end)
end

-- GET /api/notices: the caller's province's and the national notices
-- (ops: every one).
local function list(ctx)
  local p = scope.province(ctx)
  if p == nil then return 200, page(ctx, "1 = 1", nil, false) end
  return 200, page(ctx, "(n.province_code IS NULL OR n.province_code = :province)", { province = p }, false)
end

-- The notice of id that the admin sees, or nil and not_found.
local function scoped(ctx, id)
  local n = db.one("SELECT id, province_code, title, body, pinned FROM notices WHERE id = ?", id)
  if not n or not scope.province_readable(ctx, n.province_code) then
    return nil, errors.new("not_found", "通知公告不存在")
  end
  return n
end

-- GET /api/admin/notices: province and city admins their province's, ops
-- all (?province=13, or ?province=national).
local function admin_list(ctx)
  local own = scope.province(ctx)
  if own then return 200, page(ctx, "n.province_code = :province", { province = own }, true) end
  local p = ctx.query.province
  if p == "national" then return 200, page(ctx, "n.province_code IS NULL", nil, true) end
  if p and p ~= "" then return 200, page(ctx, "n.province_code = :province", { province = p }, true) end
  return 200, page(ctx, "1 = 1", nil, true)
end

-- Reads and checks {title, body, pinned, province (ops only)}; cur: the
-- stored notice when editing. Returns the clean notice, or nil and the
-- 422 with every field at fault.
local function read(ctx, b, cur)
  local f = errors.fields()
  local out = { pinned = cur and cur.pinned or 0, province = cur and cur.province_code or nil }
  local title = b.title
  if title == nil and cur then title = cur.title end
  if type(title) ~= "string" or util.trim(title) == "" then
    f.add("title", "required", "请填写标题")
  else
    local field, code, message = errors.text(title, "title", "标题", M.MAX_TITLE_CHARS, { controls = true })
    if field then f.add(field, code, message) else out.title = util.trim(title) end
  end
  local body = b.body
  if body == nil and cur then body = cur.body end
  if type(body) ~= "string" then
    f.add("body", "required", "请填写正文")
  elseif #body > 256 * 1024 then
    f.add("body", "too_long", "正文不能超过 " .. M.MAX_BODY_CHARS .. " 字")
  else
    local ok, clean, chars = pcall(text.sanitize, body)
    if not ok then
      f.add("body", "invalid", "正文包含无效字符或格式过于复杂")
    elseif not clean:gsub("<[^>]*>", ""):find("%S") then
      f.add("body", "required", "请填写正文")
    elseif chars > M.MAX_BODY_CHARS then
      f.add("body", "too_long", "正文不能超过 " .. M.MAX_BODY_CHARS .. " 字（当前 " .. chars .. " 字）")
    else
      out.body = clean
    end
  end
  if b.pinned ~= nil then
    if type(b.pinned) ~= "boolean" then
      f.add("pinned", "type", "置顶应为是或否")
    else
      out.pinned = b.pinned and 1 or 0
    end
  end
  local own = scope.province(ctx)
  if own then
    if b.province ~= nil and b.province ~= own then
      f.add("province", "forbidden", "只能发布本省的通知公告")
    end
    out.province = own
  elseif b.province ~= nil then
    if b.province == json.null or b.province == "" then
      out.province = nil
    elseif type(b.province) ~= "string" or not db.one("SELECT 1 AS x FROM provinces WHERE code = ?", b.province) then
      f.add("province", "not_found", "省份不存在")
    else
      out.province = b.province
    end
  end
  local err = f.err()
  if err then return nil, err end
  return out
end

local transaction = errors.protect(function(fn) return db.transaction(fn) end)

local function one(id)
  local r = db.one("SELECT " .. COLUMNS .. ", n.body" .. FROM .. " WHERE n.id = ?", id)
  return present(r, true)
end

-- POST /api/admin/notices
local function create(ctx)
  local n, err = read(ctx, ctx.body(), nil)
  if not n then return err end
  local id = db.transaction(function()
    local _, new_id = db.exec([[INSERT INTO notices(province_code, title, body, pinned, created_by,
                                  created_at, updated_at)
                                VALUES (:province, :title, :body, :pinned, :by, :now, :now) RETURNING id]],
      { province = n.province, title = n.title, body = n.body, pinned = n.pinned, by = ctx.account.id,
        now = ctx.now })
    audit.log(ctx, "notice.create", "notice", new_id, { province = n.province,
      detail = { title = n.title, pinned = n.pinned == 1 } })
    return new_id
  end)
  return 201, one(id)
end

-- PUT /api/admin/notices/{id}
local function update(ctx, params)
  local b = ctx.body()
  local ok, err = transaction(function()
    local cur = errors.assert(scoped(ctx, params.id))
    if not scope.province_writable(ctx, cur.province_code) then
      errors.raise("forbidden", "没有权限修改该通知公告")
    end
    local n = errors.assert(read(ctx, b, cur))
    db.exec([[UPDATE notices SET province_code = :province, title = :title, body = :body, pinned = :pinned,
              updated_at = :now WHERE id = :id]],
            { province = n.province, title = n.title, body = n.body, pinned = n.pinned, now = ctx.now,
              id = cur.id })
    audit.log(ctx, "notice.update", "notice", cur.id, { province = n.province,
      detail = { title = n.title, pinned = n.pinned == 1 } })
    return true
  end)
  if not ok then return err end
  return 200, one(params.id)
end

-- DELETE /api/admin/notices/{id}
local function remove(ctx, params)
  local ok, err = transaction(function()
    local cur = errors.assert(scoped(ctx, params.id))
    if not scope.province_writable(ctx, cur.province_code) then
      errors.raise("forbidden", "没有权限删除该通知公告")
    end
    db.exec("DELETE FROM notices WHERE id = ?", cur.id)
    audit.log(ctx, "notice.delete", "notice", cur.id, { province = cur.province_code,
      detail = { title = cur.title } })
    return true
  end)
  if not ok then return err end
  return 200, { ok = true }
end

function M.register(route)
  route("GET", "/api/notices", list, scope.ANYONE)
  route("GET", "/api/admin/notices", admin_list, scope.ADMINS)
  route("POST", "/api/admin/notices", create, scope.PROVINCE_OPS)
  route("PUT", "/api/admin/notices/{id}", update, scope.PROVINCE_OPS)
  route("DELETE", "/api/admin/notices/{id}", remove, scope.PROVINCE_OPS)
end

return M
