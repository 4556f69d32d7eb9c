-- xlsx.read (issue 14, the school import): what xlsx.sheet writes reads
-- back cell for cell (shared strings, numbers, gaps, blank rows), and what
-- is not a workbook gives nil and a message, never a raise or a crash.
local xlsx = require "xlsx"

local T = {}

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: got %s, expected %s", what, tostring(a), tostring(b)), 2) end
end

function T.round_trip()
  local bytes = xlsx.sheet("院校", { "学校标识码", "学校名称", "所在城市" }, {
    { 4113010001, "石家庄职业技术学院", "石家庄市" },
    { "", "", "" },
    { "4113010002", "", 1301 },
    { "a&b<c>", "引号\"与'撇号", "多行\n文本" },
  })
  local rows, err = xlsx.read(bytes)
  eq(err, nil, "no error")
  eq(#rows, 5, "header, three data rows and the blank one")
  eq(table.concat(rows[1], "|"), "学校标识码|学校名称|所在城市", "header")
  eq(rows[2][1], "4113010001", "a 10-digit number reads as its digits")
  eq(rows[2][3], "石家庄市", "a shared string")
  eq(#rows[3], 0, "a blank row is an empty table")
  eq(rows[4][2], "", "a gap is an empty string")
  eq(rows[4][3], "1301", "a number after a gap")
  eq(rows[5][1], "a&b<c>", "XML entities decoded")
  eq(rows[5][2], "引号\"与'撇号", "quotes")
  eq(rows[5][3], "多行\n文本", "a line break inside a cell")
end

function T.not_a_workbook()
  for _, bad in ipairs({ "", "code,name\n1,2\n", "PK\3\4garbage", string.rep("PK", 1000) }) do
    local rows, err = xlsx.read(bad)
    eq(rows, nil, "no rows for " .. #bad .. " bytes")
    eq(type(err), "string", "a message")
  end
  local good = xlsx.sheet("s", { "a" }, { { "b" } })
  local rows = xlsx.read(good:sub(1, #good // 2))
  eq(rows, nil, "a truncated workbook")
end

return T
