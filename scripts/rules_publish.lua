-- rules_publish: putting a stored version of a province's rules in force.
-- Publish (a draft) runs the province's stored cases first; rollback (to
-- a retired version, one that was in force before) does not. Both load the
-- whole set with the version in an evaluator, then retire the version in
-- force and bump the stored generation in one transaction, and install
-- the stored set in this process (other processes follow within a second).
-- A service: a result or nil and an error value (not_found, conflict,
-- cases_invalid, cases_failed, rules_invalid).
-- Uses: db, rules, log, errors, rules_versions, rules_sync.
local db = require "db"
local rules = require "rules"
local log = require "log"
local errors = require "errors"
local V = require "rules_versions"

local M = {}

-- The cases' results as the fields of a cases_failed error: every case,
-- the failing ones with why.
local function case_fields(result)
  local fields = {}
  for _, c in ipairs(result.results) do
    fields[#fields + 1] = { field = "cases", code = c.ok and "case_passed" or "case_failed",
                            name = c.name, ok = c.ok, message = c.ok and c.name
                              or (c.name .. "：" .. tostring(c.message)) }
  end
  return fields
end

-- Puts version v of province in force (the one in force is retired), once
-- the set loads with it; gate: the province's cases must pass first.
-- Returns the id it replaced (or false) | nil, err.
local function put_in_force(province, v, gate, now)
  if gate then
    local result, err = V.test(province, v)
    if not result then return nil, err end
    if result.failed > 0 then
      return nil, errors.new("cases_failed", "本省测试用例未通过（" .. result.failed .. " 个失败），未发布",
                             case_fields(result))
    end
  end
  local set, broken = rules.load(V.candidate(province, v.source, v.id))
  if not set then return nil, errors.new("rules_invalid", "规则无法加载：" .. broken) end
  for _, b in ipairs(broken) do
    if b.province == province or province == "default" then
      return nil, errors.new("rules_invalid", "规则无法加载：" .. b.error)
    end
  end
  local before = db.transaction(function()
    -- decided on v's status as read before the cases ran: still so?
    local still = db.one("SELECT status FROM rule_versions WHERE id = ?", v.id)
    if not still or still.status ~= v.status then
      errors.raise("conflict", "该版本的状态刚刚改变，请刷新后重试")
    end
    local cur = V.in_force(province)
    if cur then db.exec("UPDATE rule_versions SET status = 'retired' WHERE id = ?", cur.id) end
    db.exec("UPDATE rule_versions SET status = 'published', published_at = :now WHERE id = :id",
            { now = now, id = v.id })
    V.bump()
    return cur and cur.id or false
  end)
  local ok, err = require("rules_sync").install()
  if not ok then log.error("rules: published version " .. v.id .. " not installed here: " .. tostring(err)) end
  return before
end

-- The version after the change, and the id it replaced (nil for none).
local function changed(province, id, before)
  return V.get(province, id), before or nil
end

-- M.publish(province, id[, now]) -> version, the id it replaced | nil, err
function M.publish(province, id, now)
  local v, err = V.get(province, id)
  if not v then return nil, err end
  if v.status ~= "draft" then
    return nil, errors.new("conflict", v.status == "published" and "该版本已在生效中" or "已停用的版本请使用回滚")
  end
  local before, perr = put_in_force(province, v, true, now or require("clock").now())
  if before == nil then return nil, perr end
  return changed(province, id, before)
end

-- M.rollback(province, to[, now]) -> version, the id it replaced | nil, err
function M.rollback(province, to, now)
  local v, err = V.get(province, to)
  if not v then return nil, err end
  if v.status == "published" then return nil, errors.new("conflict", "该版本已在生效中") end
  if v.status ~= "retired" then
    return nil, errors.new("conflict", "只能回滚到曾经生效过的版本；草稿请使用发布")
  end
  local before, perr = put_in_force(province, v, false, now or require("clock").now())
  if before == nil then return nil, perr end
  return changed(province, to, before)
end

M.publish = errors.protect(M.publish)
M.rollback = errors.protect(M.rollback)

return M
