-- json: JSON for scripts/, over Debian's lua-cjson 2.1.0, fixing its traps:
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

local encode_string = cjson.encode
local concat, format = table.concat, string.format

local function encode(v, out, depth)
  local t = type(v)
  if v == nil or v == cjson.null then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif t == "number" then
    if mtype(v) == "integer" then
      out[#out + 1] = format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif v == math.floor(v) and v > -1e15 and v < 1e15 then
      out[#out + 1] = format("%d", tointeger(v))
    else
      out[#out + 1] = format("%.14g", v)
    end
  elseif t == "string" then
    out[#out + 1] = encode_string(v)
  elseif t == "table" then
    if depth > 64 then error("json: nesting too deep") end
    local n = #v
    if json.is_array(v) or n > 0 then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        encode(x, out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    error("json: cannot encode a " .. t)
  end
end

-- json.encode(v) -> string. Raises on functions and userdata.
function json.encode(v)
  local out = {}
  encode(v, out, 0)
  return concat(out)
end

return json
