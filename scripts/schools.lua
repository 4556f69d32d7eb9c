-- schools: 院校总库, the school master list, as a service: the list and
-- its export, create, update and the import, each in the caller's scope
-- (scripts/scope.lua). Takes plain tables (who: {account, now, remote};
-- a form; the rows of an upload) and returns a result, or nil and an
-- error value (scripts/errors.lua); never knows HTTP.
-- Uses: db, scope, errors, audit, sql.
local db = require "db"
local util = require "util"
local audit = require "audit"
local errors = require "errors"
local scope = require "scope"
local sql = require "sql"

local schools = {}

schools.TYPES = { ["本科"] = true, ["高职"] = true, ["中职"] = true, ["技工"] = true }

local SELECT = [[
  SELECT s.id, s.code, s.name, s.province_code, s.city_code, s.type, s.authority, s.ownership,
         s.active, s.created_at, s.updated_at, p.name AS province_name, c.name AS city_name,
         EXISTS (SELECT 1 FROM accounts a WHERE a.school_id = s.id) AS registered
  FROM schools s JOIN provinces p ON p.code = s.province_code
  LEFT JOIN cities c ON c.code = s.city_code
]]
local ORDER = " ORDER BY s.province_code, s.city_code, s.code"

local OUTSIDE = "只能管理本辖区的院校"

-- A row of SELECT as the API shows it.
function schools.present(s)
  s.active = s.active == 1
  s.province = s.province_code
  s.city = s.city_code
  s.registered = s.registered == 1
  s.created_at, s.updated_at = util.iso(s.created_at), util.iso(s.updated_at)
  return s
end

local function one(id)
  return schools.present(db.one(SELECT .. " WHERE s.id = ?", id))
end

-- The scoped, filtered list (q: {q, city, province, active}) shared by the
-- list and its export: a WHERE clause and its named parameters.
local function where(who, q)
  local cond, params = scope.where(who, "s", {
    term = sql.opt(q.q), city = sql.opt(q.city), province = sql.opt(q.province),
    active = q.active == "true" and 1 or q.active == "false" and 0 or nil })
  return " WHERE " .. cond .. [[ AND (:term IS NULL OR instr(s.name, :term) > 0 OR s.code = :term)
    AND (:city IS NULL OR s.city_code = :city) AND (:province IS NULL OR s.province_code = :province)
    AND (:active IS NULL OR s.active = :active)]], params
end

-- schools.list(who, q, pg) -> {total, page, size, items}
function schools.list(who, q, pg)
  local w, params = where(who, q)
  return sql.page(pg, { count = "SELECT count(*) AS n FROM schools s" .. w, items = SELECT .. w .. ORDER },
                  params, schools.present)
end

-- schools.export(who, q) -> the list's rows (at most 50,000), presented.
function schools.export(who, q)
  local w, params = where(who, q)
  local rows = db.query(SELECT .. w .. ORDER .. " LIMIT 50000", params)
  for _, r in ipairs(rows) do schools.present(r) end
  return rows
end

-- schools.visible(who, id) -> the stored school, or nil and not_found
-- when there is none in the caller's scope.
function schools.visible(who, id)
  local cur = db.one("SELECT * FROM schools WHERE id = ?", id)
  if not cur or not scope.can_see(who, cur.province_code, cur.city_code) then
    return nil, errors.new("not_found", "院校不存在")
  end
  return cur
end

-- schools.check(who, b, cur) -> the clean record, or nil and an error
-- value: a school's fields (all of them for a new one, cur nil for it),
-- what the caller's scope leaves out filled in from it.
function schools.check(who, b, cur)
  local f = errors.fields()
  local s = cur and util.shallow_copy(cur) or {}
  for _, k in ipairs({ "code", "name", "type", "authority", "ownership" }) do
    local _, code = errors.text(b[k], k, "", 100)
    if code == "type" then
      f.add(k, "type", "应为文本")
    elseif code then
      f.add(k, "invalid", "不能超过 100 字，且不能包含控制字符")
    elseif b[k] ~= nil then
      s[k] = util.trim(b[k])
    end
  end
  if b.province ~= nil then
    if not scope.may_set_province(who, b.province, cur) then return nil, errors.new("forbidden", OUTSIDE) end
    s.province_code = b.province
  end
  if b.city ~= nil then s.city_code = b.city end
  if not cur then scope.fill_unit(who, s) end
  if b.active ~= nil then
    if type(b.active) ~= "boolean" then f.add("active", "type", "应为布尔值") else s.active = b.active and 1 or 0 end
  end
  if type(s.code) ~= "string" or not s.code:match("^%d%d%d%d%d%d%d%d%d%d$") then
    f.add("code", "invalid", "学校标识码应为 10 位数字")
  end
  local field, code, message = errors.text(s.name, "name", "学校名称", 100, { required = true, controls = true })
  if field then f.add(field, code, message) end
  if not schools.TYPES[s.type or ""] then
    f.add("type", "invalid", "办学类型应为 本科、高职、中职 或 技工")
  end
  if type(s.province_code) ~= "string"
      or not db.one("SELECT 1 AS x FROM provinces WHERE code = ?", s.province_code) then
    f.add("province", "invalid", "省份不存在")
  end
  if s.city_code ~= nil then
    local c = type(s.city_code) == "string" and db.one("SELECT province_code FROM cities WHERE code = ?", s.city_code)
    if not c then
      f.add("city", "invalid", "城市不存在")
    elseif c.province_code ~= s.province_code and not scope.any_city(who)
        and not (cur and cur.city_code == s.city_code) then
      f.add("city", "not_in_province", "城市不属于该省份")
    end
  elseif scope.city_required(who) then
    f.add("city", "required", "请选择城市")
  end
  local err = f.err()
  if err then return nil, err end
  if not scope.school_writable(who, s) then return nil, errors.new("forbidden", OUTSIDE) end
  return s
end

local transaction = errors.protect(function(fn) return db.transaction(fn) end)

local function insert(who, s, action)
  local _, id = db.exec([[INSERT INTO schools(code, name, province_code, city_code, type, authority,
                            ownership, active, created_at, updated_at)
                          VALUES (:code, :name, :province, :city, :type, :authority, :ownership,
                                  :active, :now, :now) RETURNING id]],
    { code = s.code, name = s.name, province = s.province_code, city = s.city_code, type = s.type,
      authority = s.authority, ownership = s.ownership, active = s.active or 1, now = who.now })
  audit.log(who, action, "school", id, { after = "active", province = s.province_code,
    city = s.city_code, detail = { code = s.code, name = s.name } })
  return id
end

-- schools.create(who, b) -> the new school, or nil and an error value.
function schools.create(who, b)
  local s, err = schools.check(who, b, nil)
  if not s then return nil, err end
  local id
  id, err = transaction(function()
    if db.one("SELECT 1 AS x FROM schools WHERE code = ?", s.code) then
      errors.raise("duplicate", "学校标识码已存在")
    end
    return insert(who, s, "school.create")
  end)
  if not id then return nil, err end
  return one(id)
end

-- schools.update(who, cur, b) -> the school as changed by form b, or nil
-- and an error value. cur: the stored school (schools.visible).
function schools.update(who, cur, b)
  local s, err = schools.check(who, b, cur)
  if not s then return nil, err end
  local ok
  ok, err = transaction(function()
    if db.one("SELECT 1 AS x FROM schools WHERE code = :code AND id <> :id", { code = s.code, id = cur.id }) then
      errors.raise("duplicate", "学校标识码已存在")
    end
    db.exec([[UPDATE schools SET code = :code, name = :name, province_code = :province, city_code = :city,
              type = :type, authority = :authority, ownership = :ownership, active = :active,
              updated_at = :now WHERE id = :id]],
      { code = s.code, name = s.name, province = s.province_code, city = s.city_code, type = s.type,
        authority = s.authority, ownership = s.ownership, active = s.active, now = who.now, id = cur.id })
    audit.log(who, "school.update", "school", cur.id, {
      before = cur.active == 1 and "active" or "inactive",
      after = s.active == 1 and "active" or "inactive",
      province = s.province_code, city = s.city_code,
      detail = { code = s.code, name = s.name, city = s.city_code } })
    return true
  end)
  if not ok then return nil, err end
  return one(cur.id)
end

-- ---- the import ------------------------------------------------------------------

-- The import's columns, by their English or Chinese header (the template
-- uses the Chinese ones).
local COLUMNS = {
  code = "code", ["学校标识码"] = "code", name = "name", ["学校名称"] = "name",
  city = "city", ["所在城市"] = "city", ["城市"] = "city", ["地市"] = "city",
  type = "type", ["办学类型"] = "type", province = "province", ["省份"] = "province",
  authority = "authority", ["主管部门"] = "authority", ownership = "ownership", ["办学性质"] = "ownership",
}
schools.TEMPLATE_HEADER = { "学校标识码", "学校名称", "所在城市", "办学类型", "省份", "主管部门", "办学性质" }
schools.MAX_IMPORT = 5000

-- The template's example row is marked in its first two cells ("示例：
-- 4113010001", "示例职业技术学院（…）"): a row whose 学校标识码 or 学校名称
-- begins with 示例 is never imported (2026-12-02: a template filled in below
-- the example, the example left, imported 示例职业技术学院 as a school).
-- A real 学校标识码 is ten digits, so no school's row looks like one.
local SAMPLE_MARK = "示例"
local function is_sample(r, col)
  for _, k in ipairs({ "code", "name" }) do
    local v = col[k] and r.cells[col[k]]
    if v and util.trim(v):sub(1, #SAMPLE_MARK) == SAMPLE_MARK then return true end
  end
  return false
end

-- A province by code or name (河北省, 河北); a city of it by code or name
-- (石家庄市, 石家庄). Unknown values are returned as given, for
-- schools.check to refuse.
local function province_code(v)
  if v == nil then return nil end
  local p = db.one([[SELECT code FROM provinces WHERE code = :v OR name = :v OR name = :v || '省'
                       OR name = :v || '市']], { v = v })
  return p and p.code or v
end

local function city_code(v, province)
  if v == nil then return nil end
  if v:match("^%d+$") then return v end
  local c = db.one([[SELECT code FROM cities WHERE (:province IS NULL OR province_code = :province)
                       AND (name = :v OR name = :v || '市') ORDER BY code LIMIT 1]],
                   { v = v, province = province })
  return c and c.code or v
end

-- The column of each field in header (a list of cell texts), or nil and
-- the 422 naming the first required column missing.
local function columns(header)
  local col = {}
  for i, h in ipairs(header) do
    local k = COLUMNS[util.trim(h):gsub("^\239\187\191", "")]
    if k and not col[k] then col[k] = i end
  end
  local cn = { code = "学校标识码", name = "学校名称", type = "办学类型" }
  for _, k in ipairs({ "code", "name", "type" }) do
    if not col[k] then
      local m = "文件缺少列 " .. cn[k] .. "（" .. k .. "）"
      return nil, errors.field("csv", "missing_column", m)
    end
  end
  return col
end

-- One row checked as a new school: the clean record, or nil and why not.
local function check_row(who, r, cell)
  local prov = province_code(cell(r, "province"))
  local city = city_code(cell(r, "city"), prov or scope.province(who))
  if not prov and scope.is_ops(who) and city then
    local c = db.one("SELECT province_code FROM cities WHERE code = ?", city)
    prov = c and c.province_code
  end
  local s, err = schools.check(who, {
    code = cell(r, "code"), name = cell(r, "name"), type = cell(r, "type"),
    city = city, province = prov, authority = cell(r, "authority"), ownership = cell(r, "ownership") }, nil)
  if s then return s end
  local reasons = {}
  for _, fe in ipairs(err.fields or {}) do reasons[#reasons + 1] = fe.message end
  return nil, #reasons > 0 and table.concat(reasons, "；") or err.message
end

-- schools.import(who, header, records) -> {imported, refused, rows}, or
-- nil and an error value. header: the first row's cells; records: the
-- data rows {n (its number in the file), cells}. All rows or none:
-- refused lists each row refused and why (then nothing is imported);
-- rows reports every row, the template's example rows as skipped.
function schools.import(who, header, records)
  local col, err = columns(header)
  if not col then return nil, err end
  local list, samples = {}, {}
  for _, r in ipairs(records) do
    local blank = true
    for _, v in ipairs(r.cells) do if util.trim(v) ~= "" then blank = false end end
    if is_sample(r, col) then samples[#samples + 1] = r
    elseif not blank then list[#list + 1] = r end
  end
  if #list > schools.MAX_IMPORT then
    return nil, errors.new("too_large", "一次最多导入 " .. schools.MAX_IMPORT .. " 行")
  end
  local function cell(r, k)
    local v = util.trim(col[k] and r.cells[col[k]] or "")
    return v ~= "" and v or nil
  end
  local refused, clean, seen, report = {}, {}, {}, {}
  for _, r in ipairs(list) do
    local s, reason = check_row(who, r, cell)
    if s and seen[s.code] then
      reason = "与第 " .. seen[s.code] .. " 行学校标识码重复"
    elseif s and db.one("SELECT 1 AS x FROM schools WHERE code = ?", s.code) then
      reason = "学校标识码已存在于院校总库"
    elseif s then
      seen[s.code] = r.n
      clean[#clean + 1] = s
    end
    if reason then refused[#refused + 1] = { row = r.n, code = cell(r, "code") or "", reason = reason } end
    report[#report + 1] = { row = r.n, code = cell(r, "code") or "", name = cell(r, "name") or "",
                            ok = reason == nil, result = reason and "未通过" or "可导入", reason = reason or "" }
  end
  if #list == 0 and #samples > 0 then
    return nil, errors.field("csv", "only_sample",
      "文件中只有模板的示例行，请在示例行下方填写要导入的院校（示例行不会导入）")
  end
  if #list == 0 then return nil, errors.field("csv", "empty", "文件中没有院校数据") end
  -- the template's example rows, reported as skipped, in the file's order
  for _, r in ipairs(samples) do
    local c, n = col.code and r.cells[col.code], col.name and r.cells[col.name]
    report[#report + 1] = { row = r.n, code = util.trim(c or ""), name = util.trim(n or ""), ok = true,
                            skipped = true, result = "已跳过", reason = "模板示例行，不导入" }
  end
  table.sort(report, function(x, y) return x.row < y.row end)
  if #refused > 0 then return { imported = 0, refused = refused, rows = report } end
  local ok
  ok, err = transaction(function()
    for _, s in ipairs(clean) do
      if db.one("SELECT 1 AS x FROM schools WHERE code = ?", s.code) then
        errors.raise("duplicate", "学校标识码 " .. s.code .. " 已存在（同时有其他导入），未导入任何数据")
      end
      s.active = 1
      insert(who, s, "school.import")
    end
    return true
  end)
  if not ok then return nil, err end
  for _, r in ipairs(report) do if not r.skipped then r.result = "已导入" end end
  return { imported = #clean, refused = {}, rows = report }
end

-- schools.template_row(who) -> the import template's example row, in a
-- city of the caller's scope.
function schools.template_row(who)
  local city = db.one([[SELECT c.name, p.name AS province FROM cities c JOIN provinces p ON p.code = c.province_code
                        WHERE (:city IS NULL OR c.code = :city) AND (:province IS NULL OR c.province_code = :province)
                        ORDER BY c.code LIMIT 1]], { city = scope.city(who), province = scope.province(who) })
    or { name = "石家庄市", province = "河北省" }
  return { SAMPLE_MARK .. "：4113010001", SAMPLE_MARK .. "职业技术学院（本行为示例，导入时跳过，请在下方填写）",
           city.name, "高职", city.province, "省教育厅", "公办" }
end

return schools
