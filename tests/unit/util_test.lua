-- util.lua: Beijing time, ISO parsing, CSV and value checks.
package.path = "scripts/?.lua;" .. package.path
local util = require "util"

local T = {}

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: got %s, expected %s", what, tostring(a), tostring(b)), 2) end
end

function T.iso_is_beijing_time()
  eq(util.iso(0), "1970-01-01T08:00:00+08:00", "epoch")
  eq(util.iso(1646096400), "2022-03-01T09:00:00+08:00", "a plan start")
end

function T.parse_time_forms()
  eq(util.parse_time("2022-03-01T09:00:00+08:00"), 1646096400, "offset")
  eq(util.parse_time("2022-03-01T01:00:00Z"), 1646096400, "Z")
  eq(util.parse_time("2022-03-01 09:00"), 1646096400, "naive is Beijing")
  eq(util.parse_time("2022-03-01"), 1646064000, "date")
  eq(util.parse_time("2022-02-30"), nil, "no such day")
  eq(util.parse_time("2024-02-29"), 1709136000, "leap day")
  eq(util.parse_time("yesterday"), nil, "words")
  eq(util.parse_time("2022-03-01T25:00"), nil, "hour")
end

function T.csv_quotes_and_lines()
  local rows = util.csv('a,b\n"x,1","he said ""hi"""\r\nlast,\n')
  eq(#rows, 3, "rows")
  eq(rows[2][1], "x,1", "quoted comma")
  eq(rows[2][2], 'he said "hi"', "doubled quotes")
  eq(rows[3][2], "", "empty last field")
  local recs = util.csv_records("\239\187\191code,name\n1,甲\n")
  eq(recs[1].code, "1", "BOM stripped")
  eq(recs[1].name, "甲", "utf-8")
end

function T.counts_and_phones()
  eq(util.is_count(3), true, "3")
  eq(util.is_count(0), true, "0")
  eq(util.is_count(3.5), false, "3.5")
  eq(util.is_count(-1), false, "-1")
  eq(util.is_count("abc"), false, "abc")
  eq(util.is_mobile("13800138000"), true, "mobile")
  eq(util.is_mobile("1380013800"), false, "10 digits")
  eq(util.is_mobile("23800138000"), false, "prefix")
end

-- Issue 14 (2026-12-01): the Excel said 第1批 where the pages say 第一次.
function T.batch_name_is_the_pages_wording()
  eq(util.batch_name(1), "第一次", "1")
  eq(util.batch_name(10), "第十次", "10")
  eq(util.batch_name(12), "第十二次", "12")
  eq(util.batch_name(20), "第二十次", "20")
  eq(util.batch_name(0), "", "0")
end

return T
