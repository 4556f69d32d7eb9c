-- rules_replay: what a version of a province's rules (or of the national
-- defaults) would decide for the submitted declarations of a plan, beside
-- the set in force. The version runs in a candidate set (rules.load,
-- rules.using) that is never in force; nothing is written, and no shadow
-- sees it. At most REPLAY_MAX declarations or REPLAY_MS, then `truncated`.
-- A service: a report or nil and an error value (not_found, rules_invalid).
-- Uses: db, json, clock, rules, errors, rules_versions, declaration_rules,
-- declaration_form, shadow.
local db = require "db"
local json = require "json"
local clock = require "clock"
local rules = require "rules"
local errors = require "errors"
local V = require "rules_versions"

local M = {}

M.REPLAY_MAX = 5000     -- declarations of one replay
M.REPLAY_MS = 20000     -- and its time; beyond either, `truncated`

local function sorted_codes(fields)
  local seen, out = {}, {}
  for _, f in ipairs(fields or {}) do
    if not seen[f.code] then seen[f.code] = true out[#out + 1] = f.code end
  end
  table.sort(out)
  return out
end

-- What the rules decide for a stored declaration if it were submitted now:
-- {codes = {...}, review_chain = {...}} (a rule failure is code rule_failed).
local check = errors.protect(require("declaration_rules").check)
local function outcome(school, plan, row, now)
  local v, err = check(school, plan, row.mode, require("declaration_form").stored(row), true, row.id, now)
  if v then return { codes = json.array(), review_chain = json.array(v.chain or {}) } end
  local codes = err.code == "validation_failed" and sorted_codes(err.fields) or { err.code }
  return { codes = json.array(codes), review_chain = json.array() }
end

local function same(a, b)
  return table.concat(a.codes, ",") == table.concat(b.codes, ",")
     and table.concat(a.review_chain, ",") == table.concat(b.review_chain, ",")
end

-- M.replay(province, v, plan_id[, caller_province]) -> {total, changed,
-- items, truncated} | nil, err. v: {id, source}. A province's version
-- replays its own plans; the defaults any plan of the caller's province
-- (every plan for ops: caller_province nil).
function M.replay(province, v, plan_id, caller_province)
  local plan = db.one([[SELECT id, province_code, year, batch, mode, starts_at, ends_at, title
                        FROM plans WHERE id = ?]], plan_id)
  if not plan or (province ~= "default" and plan.province_code ~= province)
      or (caller_province and plan.province_code ~= caller_province) then
    return nil, errors.new("not_found", "申报计划不存在")
  end
  -- the version over the defaults, and the plan's own province beside it
  local set, broken = rules.load(V.candidate(province, v.source, v.id, plan.province_code))
  if not set then return nil, errors.new("rules_invalid", "规则无法加载：" .. broken) end
  local rows = db.query([[SELECT d.id, d.status, d.mode, d.certificate_id, d.trainees_total, d.faculty,
                                 d.venue, d.school_id, s.name AS school, s.code, s.type,
                                 s.province_code, s.city_code
                          FROM declarations d JOIN schools s ON s.id = d.school_id
                          WHERE d.plan_id = :plan AND d.status <> 'draft' ORDER BY d.id LIMIT :limit]],
                        { plan = plan.id, limit = M.REPLAY_MAX + 1 })
  local out = { total = 0, changed = 0, items = json.array(), truncated = #rows > M.REPLAY_MAX }
  local shadow = require "shadow" -- a replay is no live traffic: nothing shadowed
  local t0 = clock.now_ms()
  local now = clock.now()
  for i, row in ipairs(rows) do
    if i > M.REPLAY_MAX or clock.now_ms() - t0 > M.REPLAY_MS then
      out.truncated = true
      break
    end
    local school = { id = row.school_id, code = row.code, type = row.type, name = row.school,
                     province_code = row.province_code, city_code = row.city_code }
    local before = shadow.quietly(outcome, school, plan, row, now)
    local after = shadow.quietly(rules.using, set, outcome, school, plan, row, now)
    out.total = out.total + 1
    if not same(before, after) then
      out.changed = out.changed + 1
      out.items[#out.items + 1] = { declaration_id = row.id, school = row.school, status = row.status,
                                    before = before, after = after }
    end
  end
  return out
end

return M
