-- plans: declaration plans (申报计划) as a service: list, create, edit,
-- publish (after the province's check_plan), extend (延期), close (提前结束)
-- and delete, in the caller's scope (scripts/scope.lua). Takes plain
-- tables (who: {account, now, remote}; a form) and returns a result, or
-- nil and an error value (scripts/errors.lua); never knows HTTP.
-- No rule runs inside a write transaction: publish decides first, then
-- writes only if the plan is still the one decided on.
-- Uses: db, scope, errors, audit, decl (plan_state), province_rules, shadow.
local db = require "db"
local util = require "util"
local audit = require "audit"
local errors = require "errors"
local scope = require "scope"
local sql = require "sql"
local decl = require "decl"
local P = require "province_rules"

local plans = {}

local SELECT = [[SELECT p.*, pr.name AS province_name,
  (SELECT count(*) FROM declarations d WHERE d.plan_id = p.id) AS declarations,
  (SELECT count(*) FROM declarations d WHERE d.plan_id = p.id AND d.status <> 'draft') AS submitted
  FROM plans p JOIN provinces pr ON pr.code = p.province_code]]

local NOT_FOUND = "申报计划不存在"
local TIME_FORMAT = "时间格式应为 2022-03-01T09:00:00+08:00"

-- A plan row as the API shows it, with its state at now.
function plans.present(p, now)
  p.state = decl.plan_state(p, now)
  p.starts_at, p.ends_at = util.iso(p.starts_at), util.iso(p.ends_at)
  p.published_at = util.iso(p.published_at)
  p.created_at, p.updated_at = util.iso(p.created_at), util.iso(p.updated_at)
  p.province = p.province_code
  p.notes = p.notes or ""
  return p
end

local function one(id, now)
  return plans.present(db.one(SELECT .. " WHERE p.id = ?", id), now)
end

-- plans.list(who, q) -> the plans in scope, newest first; q: {province
-- (ops only; others see their own), year}.
function plans.list(who, q)
  local cond, params = scope.plan_where(who, "p", {
    province = scope.is_ops(who) and sql.opt(q.province) or nil, year = q.year })
  local rows = db.query(SELECT .. " WHERE " .. cond .. [[
    AND (:province IS NULL OR p.province_code = :province) AND (:year IS NULL OR p.year = :year)
    ORDER BY p.year DESC, p.batch DESC, p.id DESC]], params)
  for _, p in ipairs(rows) do plans.present(p, who.now) end
  return rows
end

-- plans.visible(who, id) -> the stored plan, or nil and not_found.
function plans.visible(who, id)
  local p = db.one("SELECT * FROM plans WHERE id = ?", id)
  if not scope.plan_visible(who, p) then return nil, errors.new("not_found", NOT_FOUND) end
  return p
end

-- plans.check(b, cur) -> the clean plan, or nil and an error value: the
-- plan form b (every field for a new plan, cur nil; the fields b has for
-- an edit of cur).
function plans.check(b, cur)
  local f = errors.fields()
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
    else
      local field, code, message = errors.text(b.title, "title", "计划名称", 100, { controls = true })
      if field then f.add(field, code, message) else p.title = util.trim(b.title) end
    end
  end
  if b.mode ~= nil or not cur then
    if b.mode ~= "by_major" and b.mode ~= "not_by_major" then
      f.add("mode", "invalid", "申报方式应为按专业申报或不按专业申报")
    else p.mode = b.mode end
  end
  for _, k in ipairs({ "starts_at", "ends_at" }) do
    if b[k] ~= nil or not cur then
      local t = util.parse_time(b[k])
      if not t then f.add(k, "invalid", TIME_FORMAT) else p[k] = t end
    end
  end
  if b.notes ~= nil then
    if type(b.notes) ~= "string" then
      f.add("notes", "type", "应为文本")
    else
      local field, code, message = errors.text(b.notes, "notes", "说明", 2000, { controls = true })
      if field then f.add(field, code, message) else p.notes = b.notes end
    end
  end
  if p.starts_at and p.ends_at and p.ends_at <= p.starts_at then
    f.add("ends_at", "before_start", "截止时间应晚于开始时间")
  end
  local err = f.err()
  if err then return nil, err end
  return p
end

local transaction = errors.protect(function(fn) return db.transaction(fn) end)

-- plans.create(who, b) -> the new draft plan, or nil and an error value.
-- A province admin's plan is its province's; ops name b.province.
function plans.create(who, b)
  local province = scope.province(who)
  if not province then
    province = b.province
    if type(province) ~= "string" or not db.one("SELECT 1 AS x FROM provinces WHERE code = ?", province) then
      return nil, errors.field("province", "required", "请选择省份")
    end
  end
  local p, err = plans.check(b, nil)
  if not p then return nil, err end
  local id = db.transaction(function()
    local _, new_id = db.exec([[INSERT INTO plans(province_code, year, batch, title, mode, starts_at, ends_at,
                                  notes, status, created_by, created_at, updated_at)
                                VALUES (:province, :year, :batch, :title, :mode, :starts_at, :ends_at,
                                        :notes, 'draft', :by, :now, :now) RETURNING id]],
      { province = province, year = p.year, batch = p.batch, title = p.title, mode = p.mode,
        starts_at = p.starts_at, ends_at = p.ends_at, notes = p.notes, by = who.account.id, now = who.now })
    audit.log(who, "plan.create", "plan", new_id, { after = "draft", province = province })
    return new_id
  end)
  return one(id, who.now)
end

-- Runs fn(cur) on the caller's plan inside one write transaction, so that
-- an edit racing a publish (or an extend racing an edit) sees the other's
-- result instead of overwriting it; fn raises an error value to refuse.
-- Returns the plan as it then is, or nil and the error.
local function change(who, id, fn)
  local ok, err = transaction(function()
    fn(errors.assert(plans.visible(who, id)))
    return true
  end)
  if not ok then return nil, err end
  return one(id, who.now)
end

-- plans.update(who, id, b) -> the plan as edited by form b. A published
-- plan keeps its year, batch, mode and window (延期 and 提前结束 move the
-- window).
function plans.update(who, id, b)
  return change(who, id, function(cur)
    if cur.status == "published" then
      for _, k in ipairs({ "year", "batch", "mode", "starts_at", "ends_at" }) do
        if b[k] ~= nil then
          errors.raise("published", "已发布的计划只能修改名称和说明；调整截止时间请使用延期或提前结束")
        end
      end
    end
    local p = errors.assert(plans.check(b, cur))
    db.exec([[UPDATE plans SET year = :year, batch = :batch, title = :title, mode = :mode,
                starts_at = :starts_at, ends_at = :ends_at, notes = :notes, updated_at = :now
              WHERE id = :id]],
      { year = p.year, batch = p.batch, title = p.title, mode = p.mode, starts_at = p.starts_at,
        ends_at = p.ends_at, notes = p.notes, now = who.now, id = cur.id })
    audit.log(who, "plan.update", "plan", cur.id, { before = cur.status, after = cur.status,
      province = cur.province_code })
  end)
end

local FIELDS = { "year", "batch", "title", "mode", "starts_at", "ends_at" }

-- plans.publish(who, id) -> the published plan. The province's rules
-- (check_plan) decide before the write transaction; the write then checks
-- that the plan is still the one they decided on (409 conflict).
function plans.publish(who, id)
  local cur, err = plans.visible(who, id)
  if not cur then return nil, err end
  if cur.status == "published" then return nil, errors.new("published", "计划已发布") end
  local arg = P.ctx({
    plan = { id = cur.id, year = cur.year, batch = cur.batch, title = cur.title, mode = cur.mode,
             starts_at = cur.starts_at, ends_at = cur.ends_at },
    -- the plan's fields at the top too: check_plan(plan) of the files
    -- written before the contract reads plan.mode there
    id = cur.id, year = cur.year, batch = cur.batch, title = cur.title, mode = cur.mode,
    starts_at = cur.starts_at, ends_at = cur.ends_at, now = who.now })
  local problems = require("shadow").check(cur.province_code, "check_plan", arg, { plan_id = cur.id },
    function() return P.errors(cur.province_code, "check_plan", arg) end)
  if #problems > 0 then
    return nil, errors.new("validation_failed", "计划不符合本省申报规则", problems)
  end
  return change(who, id, function(now)
    if now.status == "published" then errors.raise("published", "计划已发布") end
    for _, k in ipairs(FIELDS) do
      if now[k] ~= cur[k] then errors.raise("conflict", "计划刚被修改，请刷新后重新发布") end
    end
    db.exec("UPDATE plans SET status = 'published', published_at = :now, updated_at = :now WHERE id = :id",
            { now = who.now, id = now.id })
    audit.log(who, "plan.publish", "plan", now.id, { before = "draft", after = "published",
      province = now.province_code, detail = { rules_version = P.version() } })
  end)
end

-- plans.extend(who, id, b) -> the plan with its window ending at
-- b.ends_at (延期), which must be later than the current end.
function plans.extend(who, id, b)
  local t = util.parse_time(b.ends_at)
  if not t then return nil, errors.field("ends_at", "invalid", TIME_FORMAT, "请填写新的截止时间") end
  return change(who, id, function(cur)
    if t <= cur.ends_at then
      error(errors.field("ends_at", "not_later", "延期后的截止时间应晚于原截止时间"), 0)
    end
    db.exec("UPDATE plans SET ends_at = :ends_at, updated_at = :now WHERE id = :id",
            { ends_at = t, now = who.now, id = cur.id })
    audit.log(who, "plan.extend", "plan", cur.id, { before = cur.status, after = cur.status,
      province = cur.province_code, detail = { from = util.iso(cur.ends_at), to = util.iso(t) } })
  end)
end

-- plans.close(who, id) -> the plan with its window ended now (提前结束).
function plans.close(who, id)
  return change(who, id, function(cur)
    if cur.ends_at <= who.now then errors.raise("closed", "计划已结束") end
    db.exec("UPDATE plans SET ends_at = :now, starts_at = :starts_at, updated_at = :now WHERE id = :id",
            { now = who.now, starts_at = math.min(cur.starts_at, who.now - 1), id = cur.id })
    audit.log(who, "plan.close", "plan", cur.id, { before = cur.status, after = cur.status,
      province = cur.province_code, detail = { from = util.iso(cur.ends_at), to = util.iso(who.now) } })
  end)
end

-- plans.delete(who, id) -> true, or nil and an error value: a plan no
-- school has declared in.
function plans.delete(who, id)
  return transaction(function()
    local cur = errors.assert(plans.visible(who, id))
    if db.one("SELECT 1 AS x FROM declarations WHERE plan_id = ?", cur.id) then
      errors.raise("has_declarations", "已有院校申报的计划不能删除")
    end
    db.exec("DELETE FROM plans WHERE id = ?", cur.id)
    audit.log(who, "plan.delete", "plan", cur.id, { before = cur.status, province = cur.province_code })
    return true
  end)
end

return plans
