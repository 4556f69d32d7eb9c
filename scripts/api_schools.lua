-- api_schools: 院校总库管理 over HTTP: the master list in the caller's
-- scope, create, update, the import (an .xlsx or CSV upload) and its
-- template, and the Excel export. Handlers parse, call scripts/schools.lua,
-- answer; out of scope is 404 (403 for a school placed outside it).
local db = require "db"
local json = require "json"
local util = require "util"
local web = require "web"
local errors = require "errors"
local scope = require "scope"
local schools = require "schools"

local M = {}

local function list(ctx)
  local pg = web.page(ctx.query)
  return 200, schools.list(ctx, ctx.query, pg)
end

local function create(ctx)
  local s, err = schools.create(ctx, ctx.body())
  return web.answer(s, err, 201)
end

-- The school is read, checked and written in one write transaction
-- (schools.update's joins it): schools.update writes every field of the
-- school as read, so two edits that each read it outside (committed data
-- only, under group commit) wrote the other's fields back as they were,
-- a lost update (2026-12-02: a rename racing a deactivation lost one).
local function update(ctx, params)
  local b = ctx.body()
  return db.transaction(function()
    local cur, err = schools.visible(ctx, params.id)
    if not cur then return err end
    return web.answer(schools.update(ctx, cur, b))
  end)
end

local function numbered(rows)
  local header = table.remove(rows, 1) or {}
  local out = {}
  for i, r in ipairs(rows) do out[#out + 1] = { n = i + 1, cells = r } end
  return header, out
end

-- The rows of an upload: a .xlsx body (by its type or its ZIP signature),
-- a text/csv body, or JSON {csv}. Returns the header and the data rows
-- ({n, cells}: the number it has in the file, its strings), or nil and
-- the 422.
local function upload_rows(ctx)
  local req = ctx.req
  local ctype = (req.headers or {})["content-type"] or ""
  local body = req.body or ""
  if ctype:find("spreadsheetml", 1, true) or body:sub(1, 4) == "PK\3\4" then
    local rows, err = require("xlsx").read(body)
    if not rows then
      return nil, errors.field("file", "unreadable", "无法读取该 Excel 文件（" .. err .. "）",
                               "无法读取该 Excel 文件，请使用 .xlsx 格式")
    end
    return numbered(rows)
  end
  local csv
  if ctype:find("text/csv", 1, true) or ctype:find("text/plain", 1, true) then
    csv = body
  else
    csv = ctx.body().csv
  end
  if type(csv) ~= "string" or csv == "" then
    return nil, errors.field("csv", "required", "请提供 CSV 内容")
  end
  if not require("text").ulen(csv) then
    return nil, errors.field("csv", "encoding", "CSV 文件应为 UTF-8 编码（Excel 另存为“CSV UTF-8”）",
                             "CSV 文件应为 UTF-8 编码")
  end
  return numbered(util.csv(csv))
end

-- POST /api/admin/schools/import: all rows or none; the answer reports
-- every row (422 import_refused lists the refused ones and why).
local function import(ctx)
  local header, records = upload_rows(ctx)
  if not header then return records end
  local r, err = schools.import(ctx, header, records)
  if not r then return err end
  if #r.refused > 0 then
    return 422, { error = { code = "import_refused",
                            message = "有 " .. #r.refused .. " 行未通过校验，未导入任何数据" },
                  imported = 0, refused = r.refused, rows = r.rows }
  end
  return 200, { imported = r.imported, refused = json.array(), rows = r.rows }
end

-- GET /api/admin/schools/import-template.xlsx: the import's columns with
-- an example row of the caller's scope.
local function template(ctx)
  return web.xlsx(ctx, "school-import-template", "院校导入模板", schools.TEMPLATE_HEADER,
    { schools.template_row(ctx) }, { 14, 30, 12, 10, 10, 16, 10 })
end

-- GET /api/admin/schools.xlsx?q=&city=&province=&active=: the list's
-- schools, all of them.
local function export(ctx)
  local rows = {}
  for _, r in ipairs(schools.export(ctx, ctx.query)) do
    rows[#rows + 1] = { r.code, r.name, r.province_name or "", r.city_name or "", r.type,
                        r.authority or "", r.ownership or "", r.active and "启用" or "停用",
                        r.registered and "已注册" or "未注册" }
  end
  return web.xlsx(ctx, "schools", "院校总库",
    { "学校标识码", "学校名称", "省份", "所在城市", "办学类型", "主管部门", "办学性质", "状态", "账号" },
    rows, { 14, 30, 10, 12, 10, 20, 10, 8, 8 })
end

function M.register(route)
  route("GET", "/api/admin/schools", list, scope.ADMINS)
  route("POST", "/api/admin/schools", create, scope.ADMINS)
  route("POST", "/api/admin/schools/import", import, scope.ADMINS)
  route("GET", "/api/admin/schools/import-template.xlsx", template, scope.ADMINS)
  route("PUT", "/api/admin/schools/{id}", update, scope.ADMINS)
  route("GET", "/api/admin/schools.xlsx", export, scope.ADMINS)
end

return M
