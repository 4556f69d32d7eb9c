-- json: JSON for scripts/: decoding over Debian's lua-cjson 2.1.0, fixing its traps:
-- decoded numbers come back as floats (10000.0), an empty table encodes as
-- {} and cjson.null is truthy. Here integral numbers decode as integers,
-- tables marked with json.array() (and db.query results) encode as [] even
-- when empty, and null decodes to nil inside objects. A decoded empty {}
-- or [] is an unmarked empty table: cjson cannot tell them apart.
local cjson = require "cjson"

local json = {}

cjson.decode_invalid_numbers(false)
cjson.decode_max_depth(64)

json.null = cjson.null
local array_mt = { __jsontype = "array" }
json.array_mt = array_mt

-- Marks t (or a new table) as a JSON array. Returns t.
function json.array(t)
  return setmetatable(t or {}, array_mt)
end

function json.is_array(t)
  local mt = getmetatable(t)
  return mt ~= nil and mt.__jsontype == "array"
end

local tointeger, mtype = math.tointeger, math.type

local function fix(v)
  local t = type(v)
  if t == "number" then
    if mtype(v) == "float" and v == v and v >= -9007199254740992
        and v <= 9007199254740992 then
      return tointeger(v) or v
    end
    return v
  elseif t == "table" then
    -- cjson decodes {} and [] alike: an empty table stays unmarked (it
    -- passes as an object, and as an empty list where one is expected)
    if #v > 0 then
      -- an array: keep positions; nulls stay json.null
      local n = #v
      local is_seq = true
      for k in pairs(v) do
        if mtype(k) ~= "integer" or k < 1 or k > n then is_seq = false break end
      end
      if is_seq then
        for i = 1, n do v[i] = fix(v[i]) end
        return setmetatable(v, array_mt)
      end
    end
    local out = {}
    for k, x in pairs(v) do
      if x ~= cjson.null then out[k] = fix(x) end
    end
    return out
  end
  return v
end

-- json.decode(s) -> value | nil, message. Never raises.
function json.decode(s)
  if type(s) ~= "string" then return nil, "not a string" end
  local ok, v = pcall(cjson.decode, s)
  if not ok then return nil, tostring(v) end
  return fix(v)
end

-- json.encode(v) -> string. Raises on functions, userdata and nesting
-- deeper than 64. The encoder is host/json.c (byte for byte what the Lua
-- one it replaced wrote, tests/unit/json_test.lua holds that one as the
-- oracle): marked arrays and non-empty sequences as [], other tables as
-- objects with sorted keys, strings escaped as cjson does.
json.encode = require("json_c").encode

return json
