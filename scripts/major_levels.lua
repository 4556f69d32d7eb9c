-- major_levels: which major levels (中职, 高职专科, 职业本科) a school may
-- declare, from the province's rule entry major_levels(ctx) (the default
-- in rules/default.lua), and the check of a declaration's majors against
-- them. A 中职 major declared by a 高职 school would make its students
-- eligible for exams they do not sit (R15).
local db = require "db"
local P = require "province_rules"

local M = {}

local KNOWN = { ["中职"] = true, ["高职专科"] = true, ["职业本科"] = true }

-- M.of(school) -> list of levels, the school's own first (may be empty).
-- school: {type, province_code, city_code}.
function M.of(school)
  local list = P.call(school.province_code, "major_levels", P.ctx({
    school = { id = school.id, code = school.code, type = school.type,
               province = school.province_code, city = school.city_code },
  }))
  local out, seen = {}, {}
  for _, level in ipairs(type(list) == "table" and list or {}) do
    if KNOWN[level] and not seen[level] then
      out[#out + 1], seen[level] = level, true
    end
  end
  return out
end

-- M.check(majors, school, f): adds a `major_level` error to the field list
-- f for each row whose major is of a level the school may not declare.
function M.check(majors, school, f)
  if #majors == 0 then return end
  local allowed = {}
  local levels = M.of(school)
  for _, level in ipairs(levels) do allowed[level] = true end
  local names = #levels > 0 and table.concat(levels, "、") or "无"
  for i, m in ipairs(majors) do
    local row = db.one("SELECT level FROM majors WHERE code = ?", m.major)
    if row and not allowed[row.level] then
      f.add("majors[" .. (i - 1) .. "].major", "major_level",
            "本校（" .. school.type .. "）只能申报以下层次的专业：" .. names ..
            "；该专业属于" .. row.level)
    end
  end
end

return M
