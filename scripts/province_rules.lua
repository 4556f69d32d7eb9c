-- province_rules: how scripts/ ask the province's rule set (rules/) a
-- question. Rules run in evaluator processes (host/evaluator.c) under a
-- deadline; here their answers are checked before anyone relies on them.
-- Fail closed: a rule that fails (an error, its budget, memory or
-- deadline spent) or answers in the wrong shape is a rule failure, never
-- "no findings". A failure raises the error value `rule_failed` (a 500 for
-- the request, scripts/errors.lua), logged with the rule's message; the
-- server goes on.
local rules = require "rules"
local errors = require "errors"
local log = require "log"

local P = {}

-- Bounds on what a check may answer (beyond them the answer is refused).
P.MAX_FINDINGS = 100
P.MAX_MESSAGE = 500   -- characters of a finding's message
P.MAX_FIELD = 200     -- bytes of a finding's field path
P.MAX_CODE = 64       -- bytes of a finding's code

-- A rule's message on one log line: a newline in it could forge others.
local function one_line(s)
  return (tostring(s):gsub("[%c]", " "))
end
P.one_line = one_line

local function fail(province, name, err)
  log.error("rule " .. province .. "." .. name .. " failed: " .. one_line(err))
  errors.raise("rule_failed", "省级申报规则执行出错，请联系管理员")
end

-- P.ctx(t) -> t marked as a contract ctx (scripts/rules_contract.lua): the
-- rule sees read-only proxies that raise on a field the contract does not
-- list. Every call site that builds a rule's argument passes it here.
function P.ctx(t)
  t["@contract"] = true
  return t
end

-- P.try(province, name, arg) -> result | nil, message (never raises for a
-- rule's failure)
function P.try(province, name, arg)
  local result, err = rules.call(province, name, arg)
  if result == nil and err then return nil, err end
  return result
end

function P.call(province, name, arg)
  local result, err = P.try(province, name, arg)
  if result == nil and err then fail(province, name, err) end
  return result
end

local function text_ok(v, max)
  return type(v) == "string" and #v <= max and utf8.len(v) ~= nil
end

-- Where a finding comes from: {version_id, file = "13"|"default", line = N},
-- as lib.err records it (nil when the rule built the finding itself).
local function origin(rule)
  if rule == nil then return nil end
  if type(rule) ~= "table" or type(rule.file) ~= "string" or #rule.file > 16
      or not rule.file:match("^[%w_]+$") or math.type(rule.line) ~= "integer" or rule.line < 0 then
    return nil, false
  end
  -- the stored version that file is in the set this request decides under
  -- (api.md: "rule": {"version_id", "line"}); 0 for an unsaved candidate
  return { version_id = rules.versions()[rule.file] or 0, file = rule.file, line = rule.line }
end

-- Checks that list is a list of findings {field, code, message[, rule]}
-- within the bounds; returns the clean list, or nil and what is wrong.
-- rule ({file, line}: where the finding was made) is for admins and rule
-- authors; what a school relies on is field, code and message.
function P.findings(list)
  if type(list) ~= "table" then
    return nil, "a check must return a list of findings, returned " .. type(list)
  end
  local n = #list
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      return nil, "a check must return a list (found key " .. tostring(k) .. ")"
    end
  end
  if n > P.MAX_FINDINGS then
    return nil, "a check returned " .. n .. " findings (at most " .. P.MAX_FINDINGS .. ")"
  end
  local out = {}
  for i, e in ipairs(list) do
    if type(e) ~= "table" then
      return nil, "finding " .. i .. " is a " .. type(e) .. ", not {field, code, message}"
    end
    local field, code, message = e.field or "", e.code or "rule", e.message or "不符合本省申报规则"
    if not text_ok(field, P.MAX_FIELD) or not text_ok(code, P.MAX_CODE)
        or not text_ok(message, 4 * P.MAX_MESSAGE) or utf8.len(message) > P.MAX_MESSAGE then
      return nil, "finding " .. i .. " has a field, code or message of the wrong type or too long"
    end
    local rule, good = origin(e.rule)
    if good == false then
      return nil, "finding " .. i .. " has a rule that is not {file, line}"
    end
    out[i] = { field = field, code = code, message = message, rule = rule }
  end
  return out
end

-- P.try_errors(province, name, arg) -> findings | nil, message
function P.try_errors(province, name, arg)
  local list, err = P.try(province, name, arg)
  if list == nil and err then return nil, err end
  return P.findings(list)
end

-- A list of {field, code, message} from a check; a failure is a 500.
function P.errors(province, name, arg)
  local list, err = P.try_errors(province, name, arg)
  if not list then fail(province, name, err) end
  return list
end

function P.version()
  return rules.version()
end

return P
