-- errors: the error values that services return, and the helpers that
-- build them. A service takes plain tables and returns a result, or nil
-- and an error value { code, message, fields }; it never knows HTTP. One
-- table in app.lua (app.STATUS) maps each code to its HTTP status, and
-- app answers an error value a handler returns or a service raised.
--
--   local plan, err = plans.publish(who, id)
--   if not plan then return err end          -- in a handler
--
-- Inside db.transaction a service raises (errors.raise) so the transaction
-- rolls back; errors.protect turns such a raise back into (nil, err) at the
-- service's boundary. Anything else raised is a bug and stays a raise.
local text = require "text"

local errors = {}

local mt = { __tostring = function(e)
  return string.format("error %s: %s", e.code, e.message)
end }

-- errors.new(code, message[, fields]) -> an error value
function errors.new(code, message, fields)
  assert(type(code) == "string" and type(message) == "string", "errors.new(code, message)")
  return setmetatable({ code = code, message = message, fields = fields }, mt)
end

function errors.is(v)
  return getmetatable(v) == mt
end

-- Raises an error value (inside a transaction, to roll it back).
function errors.raise(code, message, fields)
  error(errors.new(code, message, fields), 0)
end

-- errors.assert(v, err) -> v, or raises err (an error value) when v is
-- nil or false: a service's (nil, err) raised inside a transaction.
function errors.assert(v, err)
  if not v then error(err, 0) end
  return v
end

-- errors.field(field, code, message[, summary]) -> a validation_failed value
-- with one field: the one-field 422 of docs/api.md.
function errors.field(field, code, message, summary)
  return errors.new("validation_failed", summary or message,
    { { field = field, code = code, message = message } })
end

-- A list of field errors being collected: add(field, code, message), then
-- err([summary]) -> nil when nothing was added, else a validation_failed value.
function errors.fields()
  local list = {}
  local f = { list = list }
  function f.add(field, code, message)
    list[#list + 1] = { field = field, code = code, message = message }
  end
  function f.err(summary)
    if #list == 0 then return nil end
    return errors.new("validation_failed", summary or "提交的内容有误，请检查标出的项目", list)
  end
  return f
end

-- errors.text(v, field, label, max[, opts]) -> nil when v is acceptable,
-- else the field error (field, code, message) as three values. Text is a
-- UTF-8 string of at most max characters without control characters
-- (opts.multiline allows line breaks and tabs; opts.controls allows every
-- character, for the fields that always took them); opts.required
-- refuses nil and "" (absent is otherwise fine).
function errors.text(v, field, label, max, opts)
  opts = opts or {}
  if v == nil or v == "" then
    if opts.required then return field, "required", "请填写" .. label end
    return nil
  end
  if type(v) ~= "string" then return field, "type", label .. "应为文本" end
  local n = text.ulen(v)
  if not n then return field, "invalid", label .. "应为有效的 UTF-8 文本" end
  local controls = opts.multiline and "[%z\1-\8\11\12\14-\31\127]" or "%c"
  if not opts.controls and v:find(controls) then return field, "invalid", label .. "不能包含控制字符" end
  if n > max then return field, "too_long", label .. "不能超过 " .. max .. " 字" end
  return nil
end

-- errors.protect(fn) -> a function that calls fn and returns (nil, err)
-- for an error value fn raised; other raises pass through unchanged.
function errors.protect(fn)
  return function(...)
    local r = table.pack(pcall(fn, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    if errors.is(r[2]) then return nil, r[2] end
    error(r[2], 0)
  end
end

return errors
