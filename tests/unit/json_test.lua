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

return T
