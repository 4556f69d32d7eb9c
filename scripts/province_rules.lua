-- province_rules: how scripts/ ask the province's rule set (rules/) a
-- question. A rule that fails (an error, its budget or memory spent) is a
-- 500 for the request, logged with the rule's message; the server goes on.
local rules = require "rules"
local web = require "web"
local log = require "log"

local P = {}

function P.call(province, name, arg)
  local result, err = rules.call(province, name, arg)
  if result == nil and err then
    log.error("rule " .. province .. "." .. name .. " failed: " .. err)
    web.fail(500, "rule_failed", "省级申报规则执行出错，请联系管理员")
  end
  return result
end

-- A list of {field, code, message} from a check, sanitized.
function P.errors(province, name, arg)
  local list = P.call(province, name, arg)
  local out = {}
  if type(list) ~= "table" then return out end
  for _, e in ipairs(list) do
    if type(e) == "table" then
      out[#out + 1] = { field = tostring(e.field or ""), code = tostring(e.code or "rule"),
                        message = tostring(e.message or "不符合本省申报规则") }
    end
  end
  return out
end

function P.version()
  return rules.version()
end

return P
