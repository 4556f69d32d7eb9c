-- json.lua over lua-cjson: integers stay integers, empty lists are [],
-- null is not truthy inside objects, and bad input never raises.
package.path = "scripts/?.lua;" .. package.path
local json = require "json"

local T = {}

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: got %s, expected %s", what, tostring(a), tostring(b)), 2) end
end

function T.integers_decode_as_integers()
  local v = json.decode('{"n": 10000, "f": 3.5, "neg": -1, "big": 9007199254740993}')
  eq(math.type(v.n), "integer", "n type")
  eq(v.n, 10000, "n")
  eq(math.type(v.f), "float", "f type")
  eq(v.neg, -1, "neg")
  eq(json.encode({ n = v.n }), '{"n":10000}', "re-encode")
end

function T.empty_lists_encode_as_arrays()
  eq(json.encode(json.array()), "[]", "marked empty")
  eq(json.encode({}), "{}", "unmarked empty is an object")
  eq(json.encode({ items = json.array() }), '{"items":[]}', "nested")
  local decoded = json.decode('{"a": [], "b": [1]}')
  eq(next(decoded.a), nil, "[] decodes to an empty table")
  eq(json.is_array(decoded.b), true, "a list is marked")
  eq(json.is_array(json.decode("{}")), false, "{} is not a list (regression: 400 for {} bodies)")
  eq(json.encode({ 1, 2, 3 }), "[1,2,3]", "sequence")
end

function T.null_is_not_truthy_in_objects()
  local v = json.decode('{"a": null, "b": 1}')
  eq(v.a, nil, "null field")
  local arr = json.decode('[1, null, 3]')
  eq(arr[2], json.null, "null in an array is kept as json.null")
  eq(json.encode({ a = json.null }), '{"a":null}', "encode null")
end

function T.bad_input_returns_nil_and_message()
  local v, err = json.decode("{bad")
  eq(v, nil, "value")
  assert(type(err) == "string" and #err > 0, "message")
  eq((json.decode("NaN")), nil, "NaN refused")
  eq((json.decode(string.rep("[", 200) .. string.rep("]", 200))), nil, "depth capped")
  eq((json.decode(nil)), nil, "nil")
end

function T.strings_and_floats()
  eq(json.encode("师资\"情况\"\n"), '"师资\\"情况\\"\\n"', "escaping")
  eq(json.encode(1.25), "1.25", "float")
  eq(json.encode(2.0), "2", "integral float")
  eq(json.encode(0 / 0), "null", "nan")
  eq(json.encode(true), "true", "boolean")
  local ok = pcall(json.encode, { f = print })
  eq(ok, false, "functions refused")
end

-- The Lua encoder host/json.c replaced, kept as the oracle: the C one must
-- write exactly what it wrote.
local cjson = require "cjson"
local function oracle(v)
  local out, mtype, tointeger, format = {}, math.type, math.tointeger, string.format
  local function enc(x, depth)
    local t = type(x)
    if x == nil or x == cjson.null then out[#out + 1] = "null"
    elseif t == "boolean" then out[#out + 1] = x and "true" or "false"
    elseif t == "number" then
      if mtype(x) == "integer" then out[#out + 1] = format("%d", x)
      elseif x ~= x or x == math.huge or x == -math.huge then out[#out + 1] = "null"
      elseif x == math.floor(x) and x > -1e15 and x < 1e15 then out[#out + 1] = format("%d", tointeger(x))
      else out[#out + 1] = format("%.14g", x) end
    elseif t == "string" then out[#out + 1] = cjson.encode(x)
    elseif t == "table" then
      if depth > 64 then error("json: nesting too deep") end
      local n = #x
      if json.is_array(x) or n > 0 then
        out[#out + 1] = "["
        for i = 1, n do
          if i > 1 then out[#out + 1] = "," end
          enc(x[i], depth + 1)
        end
        out[#out + 1] = "]"
      else
        out[#out + 1] = "{"
        local keys = {}
        for k in pairs(x) do keys[#keys + 1] = tostring(k) end
        table.sort(keys)
        for i, k in ipairs(keys) do
          if i > 1 then out[#out + 1] = "," end
          out[#out + 1] = cjson.encode(k)
          out[#out + 1] = ":"
          local y = x[k]
          if y == nil then y = x[tonumber(k)] end
          enc(y, depth + 1)
        end
        out[#out + 1] = "}"
      end
    else error("json: cannot encode a " .. t) end
  end
  enc(v, 0)
  return table.concat(out)
end

-- Random values from a fixed seed: strings with every byte that cjson
-- escapes and UTF-8, integers, floats of every kind, nesting, marked
-- empty arrays, sparse and mixed tables, number keys.
local function random_value(rnd, depth)
  local pick = rnd(depth > 4 and 6 or 10)
  if pick == 1 then return nil
  elseif pick == 2 then return rnd(2) == 1
  elseif pick == 3 then return rnd(-2^40, 2^40)
  elseif pick == 4 then
    local floats = { 0.5, -0.0, 1e15, 1e16, -1e15 + 1, 3.0, 1 / 3, 1e300, 0 / 0, math.huge, -math.huge, 2^53 + 0.0 }
    return floats[rnd(#floats)]
  elseif pick == 5 then
    local parts = {}
    for _ = 1, rnd(0, 12) do
      local c = rnd(6)
      parts[#parts + 1] = c == 1 and string.char(rnd(0, 31)) or c == 2 and "\\" or
        c == 3 and '"/' or c == 4 and "\127" or c == 5 and "师资" or string.char(rnd(32, 126))
    end
    return table.concat(parts)
  elseif pick == 6 then return json.null
  elseif pick == 7 then
    local t = json.array()
    for i = 1, rnd(0, 4) do t[i] = random_value(rnd, depth + 1) end
    if t[1] == nil then t = json.array() end
    return t
  elseif pick == 8 then
    local t = {}
    for _ = 1, rnd(0, 6) do
      local k = rnd(3) == 1 and rnd(1, 1000) or ("k" .. rnd(1, 50))
      t[k] = random_value(rnd, depth + 1)
    end
    return t
  elseif pick == 9 then
    local t = {}
    for i = 1, rnd(1, 5) do t[i] = rnd(100) end
    return t
  end
  return { [1.5] = "f", name = "学校", [2] = true }
end

function T.c_encoder_writes_what_the_lua_one_wrote()
  local state = 20261202
  local function rnd(a, b)                    -- a small LCG: the same values every run
    state = (state * 1103515245 + 12345) % 2147483648
    if not b then a, b = 1, a end
    return a + state % (b - a + 1)
  end
  for i = 1, 3000 do
    local v = random_value(rnd, 0)
    local got, want = json.encode(v), oracle(v)
    if got ~= want then error(("value %d: got %s, expected %s"):format(i, got, want)) end
  end
  -- and the edges named in host/json.h
  local deep = {}
  local cur = deep
  for _ = 1, 70 do cur.x = {}; cur = cur.x end
  eq(pcall(json.encode, deep), false, "nesting deeper than 64 refused")
  local ok, err = pcall(json.encode, { [true] = 1 })
  eq(ok, false, "a boolean key refused")
  assert(tostring(err):find("key of type boolean", 1, true), err)
  eq(pcall(json.encode, { io.stdout }), false, "userdata refused")
  eq(json.encode({ [1.5] = 1, [10] = 2, ["9"] = 3 }), '{"1.5":1,"10":2,"9":3}', "number keys sorted as text")
  eq(json.encode("\0\127/"), '"\\u0000\\u007f\\/"', "escapes as cjson")
  local big = {}
  for j = 1, 5000 do big[j] = { id = j, name = ("名称%d"):format(j) } end
  eq(json.encode(big), oracle(big), "a long list (the buffer grows)")
  local many = {}
  for j = 1, 300 do many["key" .. j] = j end
  eq(json.encode(many), oracle(many), "an object of many keys (the key array grows)")
end

return T
