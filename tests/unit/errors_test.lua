-- errors: the error values services return.
package.path = "scripts/?.lua;" .. package.path
local errors = require "errors"

local T = {}

function T.new_and_is()
  local e = errors.new("not_found", "申报不存在")
  assert(errors.is(e) and e.code == "not_found" and e.message == "申报不存在")
  assert(not errors.is({ code = "not_found", message = "x" }))
  assert(tostring(e) == "error not_found: 申报不存在")
end

function T.field_is_one_field_422()
  local e = errors.field("title", "required", "请填写名称")
  assert(e.code == "validation_failed" and e.message == "请填写名称")
  assert(#e.fields == 1 and e.fields[1].field == "title" and e.fields[1].code == "required")
end

function T.assert_raises_the_value()
  assert(errors.assert(5) == 5)
  local e = errors.new("conflict", "x")
  local ok, got = pcall(errors.assert, nil, e)
  assert(not ok and got == e)
end

function T.fields_collect()
  local f = errors.fields()
  assert(f.err() == nil)
  f.add("a", "required", "请填写 a")
  f.add("b", "too_long", "b 太长")
  local e = f.err("有误")
  assert(e.code == "validation_failed" and e.message == "有误" and #e.fields == 2)
end

function T.text_checks()
  assert(errors.text(nil, "t", "名称", 10) == nil)
  assert(select(2, errors.text("", "t", "名称", 10, { required = true })) == "required")
  assert(select(2, errors.text(5, "t", "名称", 10)) == "type")
  assert(select(2, errors.text("\xff", "t", "名称", 10)) == "invalid")
  assert(select(2, errors.text("a\nb", "t", "名称", 10)) == "invalid")
  assert(errors.text("a\nb", "t", "名称", 10, { multiline = true }) == nil)
  assert(errors.text("a\0b", "t", "名称", 10, { controls = true }) == nil)
  assert(select(2, errors.text("一二三四五六七八九十一", "t", "名称", 10)) == "too_long")
  assert(errors.text("一二三四五六七八九十", "t", "名称", 10) == nil)
end

function T.protect_returns_raised_values_only()
  local f = errors.protect(function(x)
    if x == 1 then errors.raise("conflict", "冲突") end
    if x == 2 then error("bug") end
    return "ok", 2
  end)
  local a, b = f(0)
  assert(a == "ok" and b == 2)
  local r, e = f(1)
  assert(r == nil and errors.is(e) and e.code == "conflict")
  local ok, msg = pcall(f, 2)
  assert(not ok and tostring(msg):find("bug"))
end

return T
