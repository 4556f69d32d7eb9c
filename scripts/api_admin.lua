-- api_admin: the education departments' side (and ops, for every
-- province): 院校总库管理, declaration plans, review along the province's
-- chain, pilot schools, statistics, the Excel export, the audit log and
-- the rule sets. Every query is scoped: a city admin sees its city, a
-- province admin its province, ops everything; out of scope is 404 (or
-- 403 for an action on a scope the caller names but does not hold).
local db = require "db"
local json = require "json"
local util = require "util"
local web = require "web"
local audit = require "audit"
local sms = require "sms"
local decl = require "decl"
local P = require "province_rules"
local people = require "people"
local words = require "words"

local M = {}

local ADMINS = { roles = { city = true, province = true, ops = true } }
local PROVINCE_OPS = { roles = { province = true, ops = true } }

local SCHOOL_TYPES = { ["本科"] = true, ["高职"] = true, ["中职"] = true, ["技工"] = true }

-- SQL condition and arguments restricting schools aliased `s` to the
-- caller's scope.
local function scope_sql(ctx)
  local a = ctx.account
  if a.role == "ops" then return "1 = 1", {} end
  if a.role == "province" then return "s.province_code = ?", { a.province_code } end
  -- a city admin: its city's schools of its own province (a school listed
  -- in another province's city stays with its province)
  return "s.city_code = ? AND s.province_code = ?", { a.city_code, a.province_code }
end

local function in_scope(ctx, province, city)
  local a = ctx.account
  if a.role == "ops" then return true end
  if a.role == "province" then return province == a.province_code end
  return city == a.city_code and province == a.province_code
end

-- Concatenates argument lists (which may hold nils: each carries n).
local function unpack_args(...)
  local out, n = {}, 0
  for _, list in ipairs({ ... }) do
    for i = 1, list.n or #list do
      n = n + 1
      out[n] = list[i]
    end
  end
  return table.unpack(out, 1, n)
end

local function packed(...) return table.pack(...) end

local XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

-- A workbook of one sheet as a download named base-<Beijing time>.xlsx.
local function xlsx_answer(ctx, base, title, header, rows, widths)
  local bytes = require("xlsx").sheet(title, header, rows, widths)
  local name = base .. "-" .. os.date("!%Y%m%d%H%M", ctx.now + 8 * 3600) .. ".xlsx"
  return 200, bytes, {
    raw = true, content_type = XLSX,
    headers = { { "Content-Disposition", 'attachment; filename="' .. name .. '"' } } }
end


-- ---- 院校总库管理 -----------------------------------------------------

local function present_school(s)
  s.active = s.active == 1
  s.province = s.province_code
  s.city = s.city_code
  s.registered = s.registered == 1
  s.created_at, s.updated_at = util.iso(s.created_at), util.iso(s.updated_at)
  return s
end

local SCHOOL_SQL = [[
  SELECT s.id, s.code, s.name, s.province_code, s.city_code, s.type, s.authority, s.ownership,
         s.active, s.created_at, s.updated_at, p.name AS province_name, c.name AS city_name,
         EXISTS (SELECT 1 FROM accounts a WHERE a.school_id = s.id) AS registered
  FROM schools s JOIN provinces p ON p.code = s.province_code
  LEFT JOIN cities c ON c.code = s.city_code
]]

-- The scoped, filtered school list (?q=&city=&province=&active=) shared
-- by the list and its Excel export: a WHERE clause and its arguments.
local function school_query(ctx, q)
  local cond, args = scope_sql(ctx)
  local where = " WHERE " .. cond .. [[ AND (? = '' OR instr(s.name, ?) > 0 OR s.code = ?)
    AND (? = '' OR s.city_code = ?) AND (? = '' OR s.province_code = ?)
    AND (? = '' OR s.active = CAST(? AS INTEGER))]]
  local term, city, prov = q.q or "", q.city or "", q.province or ""
  local active = q.active == "true" and "1" or q.active == "false" and "0" or ""
  return where, packed(unpack_args(args, packed(term, term, term, city, city, prov, prov, active, active)))
end

local SCHOOL_ORDER = " ORDER BY s.province_code, s.city_code, s.code"

local function list_schools(ctx)
  local q = ctx.query
  local page, size, offset = web.paging(q)
  local where, filt = school_query(ctx, q)
  local total = db.one("SELECT count(*) AS n FROM schools s" .. where, unpack_args(filt)).n
  local items = db.query(SCHOOL_SQL .. where .. SCHOOL_ORDER .. " LIMIT ? OFFSET ?",
                         unpack_args(filt, packed(size, offset)))
  for _, s in ipairs(items) do present_school(s) end
  return 200, { total = total, page = page, size = size, items = items }
end

-- Checks a school's fields (all of them for a new one); fills defaults
-- from the caller's scope. Returns the clean record.
local function read_school(ctx, b, cur)
  local f = web.fields()
  local a = ctx.account
  local s = cur and util.shallow_copy(cur) or {}
  for _, k in ipairs({ "code", "name", "type", "authority", "ownership" }) do
    if b[k] ~= nil then
      if type(b[k]) ~= "string" then
        f.add(k, "type", "应为文本")
      elseif b[k]:find("%c") or (require("text").ulen(b[k]) or 999) > 100 then
        f.add(k, "invalid", "不能超过 100 字，且不能包含控制字符")
      else
        s[k] = util.trim(b[k])
      end
    end
  end
  if b.province ~= nil then
    -- a city admin never changes a school's province (in_scope looks at
    -- the city only, so the move would otherwise pass)
    if a.role == "city" and b.province ~= (cur and cur.province_code or a.province_code) then
      web.fail(403, "forbidden", "只能管理本辖区的院校")
    end
    s.province_code = b.province
  end
  if b.city ~= nil then s.city_code = b.city end
  if not cur then
    if a.role ~= "ops" then s.province_code = s.province_code or a.province_code end
    if a.role == "city" then s.city_code = s.city_code or a.city_code end
  end
  if b.active ~= nil then
    if type(b.active) ~= "boolean" then f.add("active", "type", "应为布尔值") else s.active = b.active and 1 or 0 end
  end
  if type(s.code) ~= "string" or not s.code:match("^%d%d%d%d%d%d%d%d%d%d$") then
    f.add("code", "invalid", "学校标识码应为 10 位数字")
  end
  if type(s.name) ~= "string" or s.name == "" then
    f.add("name", "required", "请填写学校名称")
  elseif (require("text").ulen(s.name) or 999) > 100 then
    f.add("name", "too_long", "学校名称不能超过 100 字")
  end
  if not SCHOOL_TYPES[s.type or ""] then
    f.add("type", "invalid", "办学类型应为 本科、高职、中职 或 技工")
  end
  if type(s.province_code) ~= "string" or not db.one("SELECT 1 AS x FROM provinces WHERE code = ?", s.province_code) then
    f.add("province", "invalid", "省份不存在")
  end
  if s.city_code ~= nil then
    local c = type(s.city_code) == "string" and db.one("SELECT province_code FROM cities WHERE code = ?", s.city_code)
    if not c then
      f.add("city", "invalid", "城市不存在")
    elseif c.province_code ~= s.province_code and a.role ~= "ops"
        and not (cur and cur.city_code == s.city_code) then
      f.add("city", "not_in_province", "城市不属于该省份")
    end
  elseif a.role == "city" then
    f.add("city", "required", "请选择城市")
  end
  f.check()
  if not in_scope(ctx, s.province_code, s.city_code) then
    web.fail(403, "forbidden", "只能管理本辖区的院校")
  end
  return s
end

local function create_school(ctx)
  local s = read_school(ctx, ctx.body(), nil)
  local id = db.transaction(function()
    if db.one("SELECT 1 AS x FROM schools WHERE code = ?", s.code) then
      web.fail(409, "duplicate", "学校标识码已存在")
    end
    local _, new_id = db.exec([[INSERT INTO schools(code, name, province_code, city_code, type, authority,
                                  ownership, active, created_at, updated_at)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]],
      s.code, s.name, s.province_code, s.city_code, s.type, s.authority, s.ownership,
      s.active or 1, ctx.now, ctx.now)
    audit.log(ctx, "school.create", "school", new_id, {
      after = "active", province = s.province_code, city = s.city_code,
      detail = { code = s.code, name = s.name } })
    return new_id
  end)
  return 201, present_school(db.one(SCHOOL_SQL .. " WHERE s.id = ?", id))
end

local function scoped_school(ctx, id)
  local cur = db.one("SELECT * FROM schools WHERE id = ?", id)
  if not cur or not in_scope(ctx, cur.province_code, cur.city_code) then
    web.fail(404, "not_found", "院校不存在")
  end
  return cur
end

local function update_school(ctx, params)
  local cur = scoped_school(ctx, params.id)
  local s = read_school(ctx, ctx.body(), cur)
  db.transaction(function()
    if db.one("SELECT 1 AS x FROM schools WHERE code = ? AND id <> ?", s.code, cur.id) then
      web.fail(409, "duplicate", "学校标识码已存在")
    end
    db.exec([[UPDATE schools SET code = ?, name = ?, province_code = ?, city_code = ?, type = ?,
              authority = ?, ownership = ?, active = ?, updated_at = ? WHERE id = ?]],
      s.code, s.name, s.province_code, s.city_code, s.type, s.authority, s.ownership,
      s.active, ctx.now, cur.id)
    audit.log(ctx, "school.update", "school", cur.id, {
      before = cur.active == 1 and "active" or "inactive",
      after = s.active == 1 and "active" or "inactive",
      province = s.province_code, city = s.city_code,
      detail = { code = s.code, name = s.name, city = s.city_code } })
  end)
  return 200, present_school(db.one(SCHOOL_SQL .. " WHERE s.id = ?", cur.id))
end

-- The import's columns, by their English or Chinese header (the template
-- uses the Chinese ones).
local IMPORT_COLUMNS = {
  code = "code", ["学校标识码"] = "code", name = "name", ["学校名称"] = "name",
  city = "city", ["所在城市"] = "city", ["城市"] = "city", ["地市"] = "city",
  type = "type", ["办学类型"] = "type", province = "province", ["省份"] = "province",
  authority = "authority", ["主管部门"] = "authority", ownership = "ownership", ["办学性质"] = "ownership",
}
local TEMPLATE_HEADER = { "学校标识码", "学校名称", "所在城市", "办学类型", "省份", "主管部门", "办学性质" }

-- The rows of an upload: a .xlsx body (by its type or its ZIP signature),
-- a text/csv body, or JSON {csv}. Returns the header and the data rows
-- (arrays of strings), each with the number it has in the file.
local function import_rows(ctx)
  local req = ctx.req
  local ctype = (req.headers or {})["content-type"] or ""
  local body = req.body or ""
  if ctype:find("spreadsheetml", 1, true) or body:sub(1, 4) == "PK\3\4" then
    local rows, err = require("xlsx").read(body)
    if not rows then
      web.fail(422, "validation_failed", "无法读取该 Excel 文件，请使用 .xlsx 格式",
               { { field = "file", code = "unreadable", message = "无法读取该 Excel 文件（" .. err .. "）" } })
    end
    local header = table.remove(rows, 1) or {}
    local out = {}
    for i, r in ipairs(rows) do out[#out + 1] = { n = i + 1, cells = r } end
    return header, out
  end
  local csv
  if ctype:find("text/csv", 1, true) or ctype:find("text/plain", 1, true) then
    csv = body
  else
    local b = ctx.body()
    csv = b.csv
  end
  if type(csv) ~= "string" or csv == "" then
    web.fail(422, "validation_failed", "请提供 CSV 内容", { { field = "csv", code = "required", message = "请提供 CSV 内容" } })
  end
  if not require("text").ulen(csv) then
    web.fail(422, "validation_failed", "CSV 文件应为 UTF-8 编码",
             { { field = "csv", code = "encoding", message = "CSV 文件应为 UTF-8 编码（Excel 另存为“CSV UTF-8”）" } })
  end
  local rows = util.csv(csv)
  local header = table.remove(rows, 1) or {}
  local out = {}
  for i, r in ipairs(rows) do out[#out + 1] = { n = i + 1, cells = r } end
  return header, out
end

-- A province by code or name (河北省, 河北); a city of it by code or name
-- (石家庄市, 石家庄). Unknown values are returned as given, for
-- read_school to refuse.
local function province_code(v)
  if v == nil or v == "" then return nil end
  local p = db.one("SELECT code FROM provinces WHERE code = ?1 OR name = ?1 OR name = ?1 || '省' OR name = ?1 || '市'", v)
  return p and p.code or v
end

local function city_code(v, province)
  if v == nil or v == "" then return nil end
  if v:match("^%d+$") then return v end
  local c = db.one([[SELECT code FROM cities WHERE (?2 IS NULL OR province_code = ?2)
                       AND (name = ?1 OR name = ?1 || '市') ORDER BY code LIMIT 1]], v, province)
  return c and c.code or v
end

-- POST /api/admin/schools/import: an .xlsx file or CSV (columns code,
-- name, city, type and optionally province, authority, ownership, by
-- their English or Chinese names; city and province by code or name).
-- All rows or none; the answer reports every row.
local function import_schools(ctx)
  local header, records = import_rows(ctx)
  local col = {}
  for i, h in ipairs(header) do
    local k = IMPORT_COLUMNS[util.trim(h):gsub("^\239\187\191", "")]
    if k and not col[k] then col[k] = i end
  end
  for _, k in ipairs({ "code", "name", "type" }) do
    if not col[k] then
      local cn = { code = "学校标识码", name = "学校名称", type = "办学类型" }
      web.fail(422, "validation_failed", "文件缺少列 " .. cn[k] .. "（" .. k .. "）",
               { { field = "csv", code = "missing_column", message = "文件缺少列 " .. cn[k] .. "（" .. k .. "）" } })
    end
  end
  local list = {}
  for _, r in ipairs(records) do
    local blank = true
    for _, v in ipairs(r.cells) do if util.trim(v) ~= "" then blank = false end end
    if not blank then list[#list + 1] = r end
  end
  if #list > 5000 then web.fail(413, "too_large", "一次最多导入 5000 行") end
  local refused, clean, seen, report = {}, {}, {}, {}
  local function cell(r, k)
    local v = col[k] and r.cells[col[k]]
    v = util.trim(v or "")
    return v ~= "" and v or nil
  end
  for _, r in ipairs(list) do
    local row = r.n
    local prov = province_code(cell(r, "province"))
    local city = city_code(cell(r, "city"), prov or (ctx.account.role ~= "ops" and ctx.account.province_code or nil))
    if not prov and ctx.account.role == "ops" and city then
      local c = db.one("SELECT province_code FROM cities WHERE code = ?", city)
      prov = c and c.province_code
    end
    local ok, res = pcall(read_school, ctx, {
      code = cell(r, "code"), name = cell(r, "name"), type = cell(r, "type"),
      city = city, province = prov, authority = cell(r, "authority"), ownership = cell(r, "ownership") }, nil)
    local reason
    if not ok then
      if not web.is_http_error(res) then error(res, 0) end
      local reasons = {}
      for _, fe in ipairs(res.fields or {}) do reasons[#reasons + 1] = fe.message end
      reason = #reasons > 0 and table.concat(reasons, "；") or res.message
    elseif seen[res.code] then
      reason = "与第 " .. seen[res.code] .. " 行学校标识码重复"
    elseif db.one("SELECT 1 AS x FROM schools WHERE code = ?", res.code) then
      reason = "学校标识码已存在于院校总库"
    else
      seen[res.code] = row
      clean[#clean + 1] = res
    end
    if reason then refused[#refused + 1] = { row = row, code = cell(r, "code") or "", reason = reason } end
    report[#report + 1] = { row = row, code = cell(r, "code") or "", name = cell(r, "name") or "",
                            ok = reason == nil, result = reason and "未通过" or "可导入", reason = reason or "" }
  end
  if #list == 0 then
    web.fail(422, "validation_failed", "文件中没有院校数据",
             { { field = "csv", code = "empty", message = "文件中没有院校数据" } })
  end
  if #refused > 0 then
    return 422, { error = { code = "import_refused", message = "有 " .. #refused .. " 行未通过校验，未导入任何数据" },
                  imported = 0, refused = refused, rows = report }
  end
  db.transaction(function()
    for _, s_ in ipairs(clean) do
      if db.one("SELECT 1 AS x FROM schools WHERE code = ?", s_.code) then
        web.fail(409, "duplicate", "学校标识码 " .. s_.code .. " 已存在（同时有其他导入），未导入任何数据")
      end
      local _, id = db.exec([[INSERT INTO schools(code, name, province_code, city_code, type, authority,
                                ownership, active, created_at, updated_at)
                              VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)]],
        s_.code, s_.name, s_.province_code, s_.city_code, s_.type, s_.authority, s_.ownership, ctx.now, ctx.now)
      audit.log(ctx, "school.import", "school", id, { after = "active",
        province = s_.province_code, city = s_.city_code, detail = { code = s_.code, name = s_.name } })
    end
  end)
  for _, r in ipairs(report) do r.result = "已导入" end
  return 200, { imported = #clean, refused = json.array(), rows = report }
end

-- GET /api/admin/schools/import-template.xlsx: the import's columns with
-- an example row of the caller's scope.
local function import_template(ctx)
  local a = ctx.account
  local city = db.one([[SELECT c.name, p.name AS province FROM cities c JOIN provinces p ON p.code = c.province_code
                        WHERE (?1 IS NULL OR c.code = ?1) AND (?2 IS NULL OR c.province_code = ?2)
                        ORDER BY c.code LIMIT 1]], a.role == "city" and a.city_code or nil,
                     a.role ~= "ops" and a.province_code or nil) or { name = "石家庄市", province = "河北省" }
  return xlsx_answer(ctx, "school-import-template", "院校导入模板", TEMPLATE_HEADER, {
    { "4113010001", "示例职业技术学院", city.name, "高职", city.province, "省教育厅", "公办" },
  }, { 14, 30, 12, 10, 10, 16, 10 })
end

-- ---- 申报计划 -----------------------------------------------------------

local function present_plan(p, now)
  p.state = decl.plan_state(p, now)
  p.starts_at, p.ends_at = util.iso(p.starts_at), util.iso(p.ends_at)
  p.published_at = util.iso(p.published_at)
  p.created_at, p.updated_at = util.iso(p.created_at), util.iso(p.updated_at)
  p.province = p.province_code
  p.notes = p.notes or ""
  return p
end

local PLAN_SQL = [[SELECT p.*, pr.name AS province_name,
  (SELECT count(*) FROM declarations d WHERE d.plan_id = p.id) AS declarations
  FROM plans p JOIN provinces pr ON pr.code = p.province_code]]

local function scoped_plan(ctx, id)
  local p = db.one("SELECT * FROM plans WHERE id = ?", id)
  local a = ctx.account
  -- a city admin sees its province's published plans only
  if not p or (a.role ~= "ops" and p.province_code ~= a.province_code)
      or (a.role == "city" and p.status ~= "published") then
    web.fail(404, "not_found", "申报计划不存在")
  end
  return p
end

local function list_plans(ctx)
  local a = ctx.account
  local q = ctx.query
  local province = a.role == "ops" and (q.province or "") or a.province_code
  local rows = db.query(PLAN_SQL .. [[ WHERE (? = '' OR p.province_code = ?)
    AND (? IS NULL OR p.year = ?) AND (? = 0 OR p.status = 'published')
    ORDER BY p.year DESC, p.batch DESC, p.id DESC]],
    province, province, web.int_param(q, "year"), web.int_param(q, "year"),
    a.role == "city" and 1 or 0)
  for _, p in ipairs(rows) do present_plan(p, ctx.now) end
  return 200, rows
end

-- Reads the plan form; cur for an edit. Returns the clean plan.
local function read_plan(ctx, b, cur)
  local f = web.fields()
  local p = cur and util.shallow_copy(cur) or {}
  if b.year ~= nil or not cur then
    if math.type(b.year) ~= "integer" or b.year < 2019 or b.year > 2100 then
      f.add("year", "invalid", "申报年度无效")
    else p.year = b.year end
  end
  if b.batch ~= nil or not cur then
    if math.type(b.batch) ~= "integer" or b.batch < 1 or b.batch > 99 then
      f.add("batch", "invalid", "申报批次应为 1 到 99 的整数")
    else p.batch = b.batch end
  end
  if b.title ~= nil or not cur then
    if type(b.title) ~= "string" or util.trim(b.title) == "" then
      f.add("title", "required", "请填写计划名称")
    elseif (require("text").ulen(b.title) or 999) > 100 then
      f.add("title", "too_long", "计划名称不能超过 100 字")
    else p.title = util.trim(b.title) end
  end
  if b.mode ~= nil or not cur then
    if b.mode ~= "by_major" and b.mode ~= "not_by_major" then
      f.add("mode", "invalid", "申报方式应为按专业申报或不按专业申报")
    else p.mode = b.mode end
  end
  for _, k in ipairs({ "starts_at", "ends_at" }) do
    if b[k] ~= nil or not cur then
      local t = util.parse_time(b[k])
      if not t then f.add(k, "invalid", "时间格式应为 2022-03-01T09:00:00+08:00")
      else p[k] = t end
    end
  end
  if b.notes ~= nil then
    if type(b.notes) ~= "string" then f.add("notes", "type", "应为文本")
    elseif (require("text").ulen(b.notes) or 99999) > 2000 then f.add("notes", "too_long", "说明不能超过 2000 字")
    else p.notes = b.notes end
  end
  if p.starts_at and p.ends_at and p.ends_at <= p.starts_at then
    f.add("ends_at", "before_start", "截止时间应晚于开始时间")
  end
  f.check()
  return p
end

local function create_plan(ctx)
  local b = ctx.body()
  local a = ctx.account
  local province = a.province_code
  if a.role == "ops" then
    province = b.province
    if type(province) ~= "string" or not db.one("SELECT 1 AS x FROM provinces WHERE code = ?", province) then
      web.fail(422, "validation_failed", "请选择省份", { { field = "province", code = "required", message = "请选择省份" } })
    end
  end
  local p = read_plan(ctx, b, nil)
  local id = db.transaction(function()
    local _, new_id = db.exec([[INSERT INTO plans(province_code, year, batch, title, mode, starts_at, ends_at,
                                  notes, status, created_by, created_at, updated_at)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?)]],
      province, p.year, p.batch, p.title, p.mode, p.starts_at, p.ends_at, p.notes, a.id, ctx.now, ctx.now)
    audit.log(ctx, "plan.create", "plan", new_id, { after = "draft", province = province })
    return new_id
  end)
  return 201, present_plan(db.one(PLAN_SQL .. " WHERE p.id = ?", id), ctx.now)
end

-- Runs change(cur) on the caller's plan inside one write transaction, so
-- that an edit racing a publish (or an extend racing an edit) sees the
-- other's result instead of overwriting it; answers with the plan as it
-- then is.
local function change_plan(ctx, id, change)
  db.transaction(function() change(scoped_plan(ctx, id)) end)
  return 200, present_plan(db.one(PLAN_SQL .. " WHERE p.id = ?", id), ctx.now)
end

local function update_plan(ctx, params)
  local b = ctx.body()
  return change_plan(ctx, params.id, function(cur)
    if cur.status == "published" then
      for _, k in ipairs({ "year", "batch", "mode", "starts_at", "ends_at" }) do
        if b[k] ~= nil then
          web.fail(409, "published", "已发布的计划只能修改名称和说明；调整截止时间请使用延期或提前结束")
        end
      end
    end
    local p = read_plan(ctx, b, cur)
    db.exec([[UPDATE plans SET year = ?, batch = ?, title = ?, mode = ?, starts_at = ?, ends_at = ?,
              notes = ?, updated_at = ? WHERE id = ?]],
      p.year, p.batch, p.title, p.mode, p.starts_at, p.ends_at, p.notes, ctx.now, cur.id)
    audit.log(ctx, "plan.update", "plan", cur.id, { before = cur.status, after = cur.status,
      province = cur.province_code })
  end)
end

-- The province's rules decide before the write transaction (a rule never
-- holds the write lock); the write then checks that the plan is still the
-- one they decided on.
local function publish_plan(ctx, params)
  local cur = scoped_plan(ctx, params.id)
  if cur.status == "published" then web.fail(409, "published", "计划已发布") end
  local arg = P.ctx({
    plan = { id = cur.id, year = cur.year, batch = cur.batch, title = cur.title, mode = cur.mode,
             starts_at = cur.starts_at, ends_at = cur.ends_at },
    -- the plan's fields at the top too: check_plan(plan) of the files
    -- written before the contract reads plan.mode there
    id = cur.id, year = cur.year, batch = cur.batch, title = cur.title, mode = cur.mode,
    starts_at = cur.starts_at, ends_at = cur.ends_at, now = ctx.now })
  local problems = require("shadow").check(cur.province_code, "check_plan", arg, { plan_id = cur.id },
    function() return P.errors(cur.province_code, "check_plan", arg) end)
  if #problems > 0 then
    web.fail(422, "validation_failed", "计划不符合本省申报规则", problems)
  end
  return change_plan(ctx, params.id, function(now)
    if now.status == "published" then web.fail(409, "published", "计划已发布") end
    for _, k in ipairs({ "year", "batch", "title", "mode", "starts_at", "ends_at" }) do
      if now[k] ~= cur[k] then web.fail(409, "conflict", "计划刚被修改，请刷新后重新发布") end
    end
    db.exec("UPDATE plans SET status = 'published', published_at = ?, updated_at = ? WHERE id = ?",
            ctx.now, ctx.now, now.id)
    audit.log(ctx, "plan.publish", "plan", now.id, { before = "draft", after = "published",
      province = now.province_code, detail = { rules_version = P.version() } })
  end)
end

-- POST /api/admin/plans/{id}/extend {ends_at}: 延期
local function extend_plan(ctx, params)
  local b = ctx.body()
  local t = util.parse_time(b.ends_at)
  if not t then
    web.fail(422, "validation_failed", "请填写新的截止时间", { { field = "ends_at", code = "invalid", message = "时间格式应为 2022-03-01T09:00:00+08:00" } })
  end
  return change_plan(ctx, params.id, function(cur)
    if t <= cur.ends_at then
      web.fail(422, "validation_failed", "延期后的截止时间应晚于原截止时间", { { field = "ends_at", code = "not_later", message = "延期后的截止时间应晚于原截止时间" } })
    end
    db.exec("UPDATE plans SET ends_at = ?, updated_at = ? WHERE id = ?", t, ctx.now, cur.id)
    audit.log(ctx, "plan.extend", "plan", cur.id, { before = cur.status, after = cur.status,
      province = cur.province_code, detail = { from = util.iso(cur.ends_at), to = util.iso(t) } })
  end)
end

-- POST /api/admin/plans/{id}/close: 提前结束, the window ends now.
local function close_plan(ctx, params)
  return change_plan(ctx, params.id, function(cur)
    if cur.ends_at <= ctx.now then web.fail(409, "closed", "计划已结束") end
    db.exec("UPDATE plans SET ends_at = ?, starts_at = ?, updated_at = ? WHERE id = ?",
            ctx.now, math.min(cur.starts_at, ctx.now - 1), ctx.now, cur.id)
    audit.log(ctx, "plan.close", "plan", cur.id, { before = cur.status, after = cur.status,
      province = cur.province_code, detail = { from = util.iso(cur.ends_at), to = util.iso(ctx.now) } })
  end)
end

local function delete_plan(ctx, params)
  db.transaction(function()
    local cur = scoped_plan(ctx, params.id)
    if db.one("SELECT 1 AS x FROM declarations WHERE plan_id = ?", cur.id) then
      web.fail(409, "has_declarations", "已有院校申报的计划不能删除")
    end
    db.exec("DELETE FROM plans WHERE id = ?", cur.id)
    audit.log(ctx, "plan.delete", "plan", cur.id, { before = cur.status, province = cur.province_code })
  end)
  return 200, { ok = true }
end

-- ---- 申报审核 -----------------------------------------------------------

-- The level whose pending declarations wait for the caller: its role for
-- a city or province admin; "*" (every level) for ops, who may act at any.
local function my_level(ctx)
  return ctx.account.role == "ops" and "*" or ctx.account.role
end

-- The filtered, scoped declaration list shared by the queue and exports:
-- a WHERE clause with numbered parameters (?1..?8 filters, ?9 and ?10 the
-- scope, ?11 mine=1: pending at the caller's level) and its arguments
-- (filt.n of them).
local function declaration_query(ctx, q)
  local a = ctx.account
  local scope, value = "1 = 1", nil
  local value2
  if a.role == "province" then scope, value = "s.province_code = ?9", a.province_code
  elseif a.role == "city" then
    scope, value, value2 = "s.city_code = ?9 AND s.province_code = ?10", a.city_code, a.province_code
  end
  local where = " WHERE " .. scope .. [[
    AND (?1 IS NULL OR d.plan_id = ?1) AND (?2 = '' OR d.status = ?2)
    AND (?3 = '' OR d.review_level = ?3) AND (?4 = '' OR s.city_code = ?4)
    AND (?5 IS NULL OR d.certificate_id = ?5) AND (?6 = '' OR instr(s.name, ?6) > 0 OR s.code = ?6)
    AND (?7 IS NULL OR p.year = ?7) AND (?8 = '' OR s.province_code = ?8)
    AND (?11 IS NULL OR (d.status = 'pending' AND (?11 = '*' OR d.review_level = ?11)))
    AND d.status <> 'draft']]
  local mine = (q.mine == "1" or q.mine == "true") and my_level(ctx) or nil
  local filt = packed(web.int_param(q, "plan"), q.status or "", q.level or "", q.city or "",
                      web.int_param(q, "certificate"), q.school or "", web.int_param(q, "year"),
                      q.province or "", value, value2, mine)
  filt.n = 11
  return where, filt
end

local BASE_FROM = [[ FROM declarations d JOIN plans p ON p.id = d.plan_id
  JOIN schools s ON s.id = d.school_id JOIN certificates c ON c.id = d.certificate_id ]]

local function list_declarations(ctx)
  local q = ctx.query
  local page, size, offset = web.paging(q)
  local where, filt = declaration_query(ctx, q)
  local total = db.one("SELECT count(*) AS n" .. BASE_FROM .. where, table.unpack(filt, 1, filt.n)).n
  local n = filt.n
  local items = db.query(decl.LIST_SQL .. where .. " ORDER BY d.submitted_at DESC, d.id DESC LIMIT ?"
    .. (n + 1) .. " OFFSET ?" .. (n + 2), unpack_args(filt, packed(size, offset)))
  for _, r in ipairs(items) do decl.present(r) end
  return 200, { total = total, page = page, size = size, items = items }
end

-- GET /api/admin/todo: what waits for the caller (待我审核): the count at
-- its level and scope, per plan, and the nearest deadlines of its plans.
local function todo(ctx)
  local a = ctx.account
  local where, filt = declaration_query(ctx, { mine = "1" })
  local by_plan = db.query([[SELECT p.id AS plan_id, p.title, p.year, p.batch, p.starts_at, p.ends_at,
                                    count(*) AS pending, min(d.submitted_at) AS oldest_submitted_at]]
    .. BASE_FROM .. where .. " GROUP BY p.id ORDER BY p.ends_at, p.id", table.unpack(filt, 1, filt.n))
  local total = 0
  for _, r in ipairs(by_plan) do
    total = total + r.pending
    r.state = decl.plan_state(r, ctx.now)
    r.batch_name = util.batch_name(r.batch)
    r.starts_at, r.ends_at = util.iso(r.starts_at), util.iso(r.ends_at)
    r.oldest_submitted_at = util.iso(r.oldest_submitted_at)
  end
  -- the published plans of the caller's province still to end, nearest first
  local province = a.role ~= "ops" and a.province_code or nil
  local deadlines = db.query([[SELECT p.id AS plan_id, p.title, p.year, p.batch, p.starts_at, p.ends_at,
                                      pr.name AS province_name
                               FROM plans p JOIN provinces pr ON pr.code = p.province_code
                               WHERE p.status = 'published' AND p.ends_at > ?1
                                 AND (?2 IS NULL OR p.province_code = ?2)
                               ORDER BY p.ends_at, p.id LIMIT 5]], ctx.now, province)
  local pending_of = {}
  for _, r in ipairs(by_plan) do pending_of[r.plan_id] = r.pending end
  for _, r in ipairs(deadlines) do
    r.state = decl.plan_state(r, ctx.now)
    r.batch_name = util.batch_name(r.batch)
    r.days_left = (r.ends_at - ctx.now) // 86400
    r.pending = pending_of[r.plan_id] or 0
    r.starts_at, r.ends_at = util.iso(r.starts_at), util.iso(r.ends_at)
  end
  local level = my_level(ctx)
  return 200, { level = level == "*" and "all" or level,
                level_name = words.LEVEL[level] or "全部级别",
                pending_for_me = total, by_plan = json.array(by_plan), deadlines = json.array(deadlines) }
end

local function scoped_declaration(ctx, id)
  local d = db.one([[SELECT d.*, s.province_code, s.city_code, s.name AS school_name
                     FROM declarations d JOIN schools s ON s.id = d.school_id WHERE d.id = ?]], id)
  if not d or d.status == "draft" or not in_scope(ctx, d.province_code, d.city_code) then
    web.fail(404, "not_found", "申报不存在")
  end
  return d
end

-- An admin's view of a declaration adds what a reviewer needs beside the
-- form: the school's contact (from its profile), its earlier declarations
-- and their outcomes, and each reviewer by name with their unit.
local function view_declaration(ctx, params)
  local d = scoped_declaration(ctx, params.id)
  local v = decl.view(params.id)
  v.review_chain = json.decode(db.one("SELECT review_chain FROM declarations WHERE id = ?", params.id).review_chain or "[]")
  local p = db.one([[SELECT contact_name, contact_phone, contact_email, address, postcode, website
                     FROM school_profiles WHERE school_id = ?]], d.school_id) or {}
  v.contact = { name = p.contact_name or "", phone = p.contact_phone or "", email = p.contact_email or "",
                address = p.address or "", postcode = p.postcode or "", website = p.website or "" }
  local earlier = db.query([[SELECT d.id, p.year, p.batch, p.title AS plan_title, c.name AS certificate,
                                    c.level AS certificate_level, d.status, d.review_level, d.submitted_at,
                                    d.decided_at, d.trainees_total,
                                    (SELECT r.comment FROM reviews r WHERE r.declaration_id = d.id
                                       AND r.decision <> 'submit' ORDER BY r.id DESC LIMIT 1) AS last_comment
                             FROM declarations d JOIN plans p ON p.id = d.plan_id
                             JOIN certificates c ON c.id = d.certificate_id
                             WHERE d.school_id = ? AND d.id <> ? AND d.status <> 'draft'
                             ORDER BY p.year DESC, p.batch DESC, d.id DESC LIMIT 50]], d.school_id, d.id)
  for _, e in ipairs(earlier) do
    e.batch_name = util.batch_name(e.batch)
    e.status_name = words.STATUS[e.status] or e.status
    e.submitted_at, e.decided_at = util.iso(e.submitted_at), util.iso(e.decided_at)
    e.review_level = e.review_level or json.null
  end
  v.earlier = json.array(earlier)
  local who = {}
  local decided = {}
  for _, r in ipairs(db.query("SELECT id, account_id, rules_version_id FROM reviews WHERE declaration_id = ?", d.id)) do
    who[r.id] = people.of(r.account_id)
    decided[r.id] = r.rules_version_id
  end
  -- the decision record: the province's rule version each step was decided under
  local store = require "rules_store"
  for _, r in ipairs(v.reviews or {}) do
    local p_ = who[r.id]
    r.reviewer = p_ and p_.label or json.null
    r.rules = store.record(decided[r.id])
  end
  v.rules = store.record(d.rules_version_id)
  return 200, v
end

local RESULT = { approve = "审核通过", reject = "审核不通过", return_ = "退回修改" }

-- Applies one decision; raises on anything wrong. Returns the new status.
local function review_one(ctx, id, decision, comment)
  local a = ctx.account
  return db.transaction(function()
    local d = scoped_declaration(ctx, id)
    if d.status ~= "pending" then web.fail(409, "wrong_status", "该申报当前不在待审核状态") end
    local level = a.role == "ops" and d.review_level or a.role
    if d.review_level ~= level then
      web.fail(409, "not_your_level", d.review_level == "city" and "该申报尚待市级审核"
               or "该申报已提交省级审核")
    end
    local chain = json.decode(d.review_chain or "") or { "province" }
    local next_level
    for i, l in ipairs(chain) do
      if l == level then next_level = chain[i + 1] end
    end
    local status, review_level = d.status, nil
    if decision == "approve" then
      if next_level then status, review_level = "pending", next_level else status = "approved" end
    elseif decision == "reject" then
      status = "rejected"
    else
      status = "returned"
    end
    db.exec([[UPDATE declarations SET status = ?, review_level = ?, decided_at = ?, updated_at = ?
              WHERE id = ?]], status, review_level, status ~= "pending" and ctx.now or nil, ctx.now, id)
    db.exec([[INSERT INTO reviews(declaration_id, level, decision, comment, account_id, rules_version,
                                  rules_version_id, created_at)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?)]], id, level, decision, comment, a.id, d.rules_version,
            d.rules_version_id, ctx.now)
    audit.log(ctx, "declaration." .. decision, "declaration", id, {
      before = "pending", after = status, province = d.province_code, city = d.city_code,
      detail = { level = level, next_level = review_level, comment = comment } })
    local acc = db.one("SELECT phone FROM accounts WHERE school_id = ?", d.school_id)
    if acc and acc.phone then
      local info = db.one([[SELECT c.name || '（' || c.level || '）' AS cert, p.title FROM declarations d
                            JOIN certificates c ON c.id = d.certificate_id JOIN plans p ON p.id = d.plan_id
                            WHERE d.id = ?]], id)
      local L = words.LEVEL
      local result = decision == "approve" and (next_level and ((L[level] or "")
        .. "审核通过，待" .. (L[next_level] or "") .. "审核") or "审核通过")
        or RESULT[decision == "return" and "return_" or decision]
      sms.send(ctx, acc.phone, "review", { certificate = info.cert, plan = info.title, result = result,
                                          comment = comment and comment ~= "" and ("意见：" .. comment) or "" })
    end
    return status
  end)
end

local function read_decision(b)
  if b.decision ~= "approve" and b.decision ~= "reject" and b.decision ~= "return" then
    web.fail(422, "validation_failed", "请选择审核结果", { { field = "decision", code = "invalid", message = "审核结果应为通过、不通过或退回修改" } })
  end
  local comment = b.comment
  if comment ~= nil and type(comment) ~= "string" then
    web.fail(422, "validation_failed", "审核意见应为文本", { { field = "comment", code = "type", message = "审核意见应为文本" } })
  end
  comment = util.trim(comment or "")
  if b.decision ~= "approve" and comment == "" then
    web.fail(422, "validation_failed", "不通过或退回修改时须填写审核意见",
             { { field = "comment", code = "required", message = "请填写审核意见" } })
  end
  if (require("text").ulen(comment) or 9999) > 500 then
    web.fail(422, "validation_failed", "审核意见不能超过 500 字", { { field = "comment", code = "too_long", message = "审核意见不能超过 500 字" } })
  end
  return b.decision, comment ~= "" and comment or nil
end

local function review(ctx, params)
  local decision, comment = read_decision(ctx.body())
  review_one(ctx, params.id, decision, comment)
  local v = decl.view(params.id)
  return 200, v
end

-- POST /api/admin/declarations/batch-review {ids, decision = "approve", comment}
local function batch_review(ctx)
  local b = ctx.body()
  if type(b.ids) ~= "table" or #b.ids == 0 or #b.ids > 200 then
    web.fail(422, "validation_failed", "请选择要审核的申报（最多 200 条）", { { field = "ids", code = "required", message = "请选择要审核的申报" } })
  end
  local decision, comment = read_decision(b)
  local done, failed = json.array(), json.array()
  for _, id in ipairs(b.ids) do
    if math.type(id) ~= "integer" then
      failed[#failed + 1] = { id = id, code = "invalid", message = "编号无效" }
    else
      local ok, res = pcall(review_one, ctx, id, decision, comment)
      if ok then
        done[#done + 1] = { id = id, status = res }
      elseif web.is_http_error(res) then
        failed[#failed + 1] = { id = id, code = res.code, message = res.message }
      else
        error(res, 0)
      end
    end
  end
  return 200, { done = done, failed = failed }
end

local function pilot_schools(ctx)
  local year = web.int_param(ctx.query, "year") or util.beijing_year(ctx.now)
  local cond, args = scope_sql(ctx)
  local rows = db.query([[SELECT s.id, s.code, s.name, s.province_code AS province, s.city_code AS city,
                                 c.name AS city_name, count(*) AS approved
                          FROM declarations d JOIN plans p ON p.id = d.plan_id
                          JOIN schools s ON s.id = d.school_id LEFT JOIN cities c ON c.code = s.city_code
                          WHERE d.status = 'approved' AND p.year = ? AND ]] .. cond .. [[
                          GROUP BY s.id ORDER BY s.code]], year, unpack_args(args))
  return 200, { year = year, total = #rows, items = rows }
end

-- GET /api/admin/plans/{id}/stats
local function plan_stats(ctx, params)
  local plan = scoped_plan(ctx, params.id)
  local cond, args = scope_sql(ctx)
  local from = " FROM declarations d JOIN schools s ON s.id = d.school_id WHERE d.plan_id = ? AND " .. cond
  local by_status = {}
  for _, st in ipairs({ "draft", "pending", "approved", "rejected", "returned" }) do by_status[st] = 0 end
  for _, r in ipairs(db.query("SELECT d.status, count(*) AS n" .. from .. " GROUP BY d.status",
                              plan.id, unpack_args(args))) do
    by_status[r.status] = r.n
  end
  local by_city = db.query([[SELECT s.city_code AS city, ci.name, count(*) AS count,
                                    sum(coalesce(d.trainees_total, 0)) AS trainees]]
    .. from:gsub(" WHERE", " LEFT JOIN cities ci ON ci.code = s.city_code WHERE")
    .. " AND d.status <> 'draft' GROUP BY s.city_code ORDER BY count DESC", plan.id, unpack_args(args))
  local by_cert = db.query([[SELECT c.id AS certificate_id, c.name || '（' || c.level || '）' AS name,
                                    count(*) AS count, sum(coalesce(d.trainees_total, 0)) AS trainees]]
    .. from:gsub(" WHERE", " JOIN certificates c ON c.id = d.certificate_id WHERE")
    .. " AND d.status <> 'draft' GROUP BY c.id ORDER BY count DESC", plan.id, unpack_args(args))
  local totals = db.one("SELECT sum(coalesce(d.trainees_total, 0)) AS trainees, "
    .. "count(DISTINCT CASE WHEN d.status = 'approved' THEN d.school_id END) AS pilots, "
    .. "sum(CASE WHEN d.status = 'approved' THEN coalesce(d.trainees_total, 0) ELSE 0 END) AS approved_trainees"
    .. from .. " AND d.status <> 'draft'", plan.id, unpack_args(args))
  local declared = 0
  for st, n in pairs(by_status) do if st ~= "draft" then declared = declared + n end end
  -- 申报总数 counts submitted declarations only (as the city and
  -- certificate charts do); drafts are counted apart
  return 200, { plan_id = plan.id, title = plan.title, year = plan.year, by_status = by_status,
                declared = declared, drafts = by_status.draft,
                by_city = by_city, by_certificate = by_cert, trainees_total = totals.trainees or 0,
                approved_trainees = totals.approved_trainees or 0, pilot_schools = totals.pilots or 0 }
end

local STATUS_CN = words.STATUS
local LEVEL_CN = { city = "市级", province = "省级", school = "院校" }
local DECISION_CN = words.DECISION

-- GET /api/admin/declarations.xlsx?...: the filtered list as a workbook.
local function export_xlsx(ctx)
  local where, filt = declaration_query(ctx, ctx.query)
  local items = db.query(decl.LIST_SQL .. where .. " ORDER BY s.city_code, s.code, d.id LIMIT 20000",
                         table.unpack(filt, 1, filt.n))
  local header = { "申报编号", "申报年度", "申报批次", "计划名称", "地市", "学校标识码", "学校名称",
                   "试点证书", "证书等级", "培训评价组织", "申报方式", "拟申报专业（在校生/专任教师/培训人数）",
                   "申请培训总人数", "状态", "审核记录", "提交时间" }
  local rows = {}
  for _, r in ipairs(items) do
    local majors = {}
    for _, m in ipairs(db.query([[SELECT dm.major_code, m.name, dm.students, dm.teachers, dm.trainees
                                  FROM declaration_majors dm JOIN majors m ON m.code = dm.major_code
                                  WHERE dm.declaration_id = ? ORDER BY dm.position]], r.id)) do
      majors[#majors + 1] = string.format("%s %s（%s/%s/%s）", m.major_code, m.name,
        tostring(m.students or "-"), tostring(m.teachers or "-"), tostring(m.trainees or "-"))
    end
    local reviews = {}
    for _, v in ipairs(db.query([[SELECT level, decision, comment, created_at, account_id FROM reviews
                                  WHERE declaration_id = ? ORDER BY id]], r.id)) do
      local by = v.level ~= "school" and people.of(v.account_id)
      reviews[#reviews + 1] = string.format("%s %s%s%s%s", util.iso(v.created_at):sub(1, 16):gsub("T", " "),
        LEVEL_CN[v.level] or v.level, DECISION_CN[v.decision] or v.decision,
        by and ("（" .. by.label .. "）") or "", v.comment and ("：" .. v.comment) or "")
    end
    local status = STATUS_CN[r.status] or r.status
    if r.status == "pending" and r.review_level then status = status .. "（" .. (LEVEL_CN[r.review_level] or "") .. "）" end
    rows[#rows + 1] = {
      r.id, r.year, util.batch_name(r.batch), r.plan_title, r.city_name or "", r.school_code, r.school,
      r.certificate, r.certificate_level, r.organization, r.mode == "by_major" and "按专业申报" or "不按专业申报",
      table.concat(majors, "；"), r.trainees_total or 0, status, table.concat(reviews, "\n"),
      r.submitted_at and util.iso(r.submitted_at):sub(1, 16):gsub("T", " ") or "",
    }
  end
  return xlsx_answer(ctx, "declarations", "证书试点申报", header, rows,
    { 8, 8, 8, 24, 10, 12, 24, 30, 8, 30, 12, 50, 10, 14, 40, 16 })
end

-- GET /api/admin/pilot-schools.xlsx?year=: 试点院校 of the year in scope,
-- with their approved certificates.
local function export_pilot_schools(ctx)
  local _, data = pilot_schools(ctx)
  local rows = {}
  for i, r in ipairs(data.items) do
    local certs = {}
    for _, c in ipairs(db.query([[SELECT c.name || '（' || c.level || '）' AS name, p.batch
                                  FROM declarations d JOIN certificates c ON c.id = d.certificate_id
                                  JOIN plans p ON p.id = d.plan_id
                                  WHERE d.school_id = ? AND d.status = 'approved' AND p.year = ?
                                  ORDER BY p.batch, c.name]], r.id, data.year)) do
      certs[#certs + 1] = util.batch_name(c.batch) .. " " .. c.name
    end
    rows[i] = { i, data.year, r.code, r.name, r.city_name or "", r.approved, table.concat(certs, "\n") }
  end
  return xlsx_answer(ctx, "pilot-schools-" .. data.year, "试点院校",
    { "序号", "年度", "学校标识码", "学校名称", "所在城市", "审核通过申报数", "审核通过的试点证书" },
    rows, { 6, 8, 14, 30, 12, 14, 60 })
end

-- GET /api/admin/schools.xlsx?q=&city=&province=&active=: 院校总库 in
-- scope, with the list's filters.
local function export_schools(ctx)
  local where, filt = school_query(ctx, ctx.query)
  local rows = {}
  for _, r in ipairs(db.query(SCHOOL_SQL .. where .. SCHOOL_ORDER .. " LIMIT 50000", unpack_args(filt))) do
    present_school(r)
    rows[#rows + 1] = { r.code, r.name, r.province_name or "", r.city_name or "", r.type,
                        r.authority or "", r.ownership or "", r.active and "启用" or "停用",
                        r.registered and "已注册" or "未注册" }
  end
  return xlsx_answer(ctx, "schools", "院校总库",
    { "学校标识码", "学校名称", "省份", "所在城市", "办学类型", "主管部门", "办学性质", "状态", "账号" },
    rows, { 14, 30, 10, 12, 10, 20, 10, 8, 8 })
end

-- ---- 审计日志与规则 -------------------------------------------------------

local function audit_log(ctx)
  local q = ctx.query
  local page, size, offset = web.paging(q)
  local a = ctx.account
  local cond, scope = "1 = 1", packed()
  if a.role == "province" then cond, scope = "province_code = ?", packed(a.province_code)
  elseif a.role == "city" then
    cond, scope = "city_code = ? AND province_code = ?", packed(a.city_code, a.province_code)
  end
  local where = " WHERE " .. cond .. " AND (? = '' OR entity = ?) AND (? IS NULL OR entity_id = ?) AND (? = '' OR action = ?)"
  local entity, action = q.entity or "", q.action or ""
  local eid = web.int_param(q, "entity_id")
  local params = packed(unpack_args(scope, packed(entity, entity, eid, eid, action, action)))
  local total = db.one("SELECT count(*) AS n FROM audit_log" .. where, unpack_args(params)).n
  local items = db.query("SELECT * FROM audit_log" .. where .. " ORDER BY id DESC LIMIT ? OFFSET ?",
                         unpack_args(params, packed(size, offset)))
  local who = {}
  for _, r in ipairs(items) do
    r.at = util.iso(r.at)
    r.detail = r.detail and json.decode(r.detail) or nil
    r.action_name = words.ACTION[r.action] or r.action
    r.entity_name = words.ENTITY[r.entity] or r.entity
    r.before_name = words.state(r.entity, r.before_status)
    r.after_name = words.state(r.entity, r.after_status)
    if r.account_id then
      who[r.account_id] = who[r.account_id] or people.of(r.account_id) or false
    end
    local p_ = r.account_id and who[r.account_id]
    r.by = p_ and p_.label or r.username or ""
  end
  return 200, { total = total, page = page, size = size, items = items }
end

-- GET /api/admin/audit.xlsx?entity=&entity_id=&action=: the log in scope
-- (the newest 20,000 rows), in words.
local function export_audit(ctx)
  local q = util.shallow_copy(ctx.query)
  local rows, page = {}, 1
  repeat
    q.page, q.size = tostring(page), "100"
    local _, data = audit_log({ account = ctx.account, query = q })
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
  return xlsx_answer(ctx, "audit", "操作日志",
    { "操作时间", "操作人", "角色", "操作", "操作对象", "对象编号", "状态变化", "详情", "IP地址" },
    rows, { 18, 28, 16, 14, 12, 10, 20, 50, 14 })
end

-- GET /api/admin/stats/years: the declarations of every year in scope,
-- side by side (drafts apart), for the year-over-year chart.
local function year_stats(ctx)
  local cond, args = scope_sql(ctx)
  local rows = db.query([[SELECT p.year, count(DISTINCT p.id) AS plans,
      sum(CASE WHEN d.status <> 'draft' THEN 1 ELSE 0 END) AS declared,
      sum(CASE WHEN d.status = 'draft' THEN 1 ELSE 0 END) AS drafts,
      sum(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END) AS pending,
      sum(CASE WHEN d.status = 'approved' THEN 1 ELSE 0 END) AS approved,
      sum(CASE WHEN d.status = 'rejected' THEN 1 ELSE 0 END) AS rejected,
      sum(CASE WHEN d.status = 'returned' THEN 1 ELSE 0 END) AS returned,
      count(DISTINCT CASE WHEN d.status = 'approved' THEN d.school_id END) AS pilot_schools,
      sum(CASE WHEN d.status <> 'draft' THEN coalesce(d.trainees_total, 0) ELSE 0 END) AS trainees
    FROM declarations d JOIN plans p ON p.id = d.plan_id JOIN schools s ON s.id = d.school_id
    WHERE ]] .. cond .. " GROUP BY p.year ORDER BY p.year", unpack_args(args))
  return 200, { items = json.array(rows) }
end

function M.register(route)
  route("GET", "/api/admin/schools", list_schools, ADMINS)
  route("POST", "/api/admin/schools", create_school, ADMINS)
  route("POST", "/api/admin/schools/import", import_schools, ADMINS)
  route("GET", "/api/admin/schools/import-template.xlsx", import_template, ADMINS)
  route("PUT", "/api/admin/schools/{id}", update_school, ADMINS)
  route("GET", "/api/admin/plans", list_plans, ADMINS)
  route("POST", "/api/admin/plans", create_plan, PROVINCE_OPS)
  route("PUT", "/api/admin/plans/{id}", update_plan, PROVINCE_OPS)
  route("DELETE", "/api/admin/plans/{id}", delete_plan, PROVINCE_OPS)
  route("POST", "/api/admin/plans/{id}/publish", publish_plan, PROVINCE_OPS)
  route("POST", "/api/admin/plans/{id}/extend", extend_plan, PROVINCE_OPS)
  route("POST", "/api/admin/plans/{id}/close", close_plan, PROVINCE_OPS)
  route("GET", "/api/admin/plans/{id}/stats", plan_stats, ADMINS)
  route("GET", "/api/admin/todo", todo, ADMINS)
  route("GET", "/api/admin/declarations", list_declarations, ADMINS)
  route("GET", "/api/admin/declarations.xlsx", export_xlsx, ADMINS)
  route("POST", "/api/admin/declarations/batch-review", batch_review, ADMINS)
  route("GET", "/api/admin/declarations/{id}", view_declaration, ADMINS)
  route("POST", "/api/admin/declarations/{id}/review", review, ADMINS)
  route("GET", "/api/admin/pilot-schools", pilot_schools, ADMINS)
  route("GET", "/api/admin/audit", audit_log, ADMINS)
  route("GET", "/api/admin/audit.xlsx", export_audit, ADMINS)
  route("GET", "/api/admin/pilot-schools.xlsx", export_pilot_schools, ADMINS)
  route("GET", "/api/admin/schools.xlsx", export_schools, ADMINS)
  route("GET", "/api/admin/stats/years", year_stats, ADMINS)
end

return M
