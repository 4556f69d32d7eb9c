-- declaration_form: the form of a declaration (证书试点申报) and the checks
-- that hold everywhere: types, ranges, lengths, the rich text, the
-- certificate and its majors, the levels a school may declare. What a
-- province decides is declaration_rules.lua's.
-- Returns a result, or nil and a validation_failed error value with every
-- field at fault. Uses: db, json, text, util, errors, major_levels.
local db = require "db"
local json = require "json"
local text = require "text"
local util = require "util"
local errors = require "errors"

local F = {}

-- A list: a JSON array, or a Lua sequence from a caller's plain table (a
-- JSON object never decodes to integer keys, so {"0": …} stays refused).
local function is_list(t)
  if json.is_array(t) then return true end
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

F.MAX_RICH_CHARS = 1000
F.MAX_MAJORS = 50

-- One rich text field (师资情况, 场地情况): the sanitized HTML and its
-- visible characters, or a field error added to f.
local function rich(v, k, f, d)
  if v == nil or v == "" then
    d[k], d[k .. "_chars"] = "", 0
  elseif type(v) ~= "string" then
    f.add(k, "type", "应为文本")
  elseif #v > 256 * 1024 then
    f.add(k, "too_long", "内容不能超过 " .. F.MAX_RICH_CHARS .. " 字")
  else
    local ok, clean, chars = pcall(text.sanitize, v)
    if not ok and tostring(clean):find("too", 1, true) then
      f.add(k, "too_long", "内容过长或格式过于复杂")
    elseif not ok then
      f.add(k, "invalid", "内容包含无效字符")
    else
      -- visible text only: whitespace between tags is not content
      local visible = clean:gsub("<[^>]*>", ""):gsub("&[%a#%d]+;", "x")
      if not visible:find("%S") then clean, chars = "", 0 end
      if chars > F.MAX_RICH_CHARS then
        f.add(k, "too_long", "内容不能超过 " .. F.MAX_RICH_CHARS .. " 字（当前 " .. chars .. " 字）")
      end
      d[k], d[k .. "_chars"] = clean, chars
    end
  end
end

-- F.read(body, mode) -> d | nil, err
-- The clean declaration of the form body: {certificate_id, majors =
-- {{major, students, teachers, trainees}}, trainees_total, faculty, venue,
-- faculty_chars, venue_chars}. By major, trainees_total is the majors' sum
-- (a sent value is ignored).
function F.read(body, mode)
  local f = errors.fields()
  local d = { majors = {} }
  if math.type(body.certificate_id) == "integer" then
    d.certificate_id = body.certificate_id
  elseif body.certificate_id == nil then
    f.add("certificate_id", "required", "请选择试点证书")
  else
    f.add("certificate_id", "type", "试点证书无效")
  end
  local majors = body.majors
  if majors == nil then majors = {} end
  if type(majors) ~= "table" or (next(majors) ~= nil and not is_list(majors)) then
    f.add("majors", "type", "拟申报专业格式不正确")
    majors = {}
  end
  if #majors > F.MAX_MAJORS then
    f.add("majors", "too_many", "拟申报专业不能超过 " .. F.MAX_MAJORS .. " 个")
  end
  local seen = {}
  for i, m in ipairs(majors) do
    local at = "majors[" .. (i - 1) .. "]"
    if type(m) ~= "table" then
      f.add(at, "type", "专业格式不正确")
    else
      if type(m.major) ~= "string" or m.major == "" then
        f.add(at .. ".major", "required", "请选择专业")
      elseif seen[m.major] then
        f.add(at .. ".major", "duplicate", "专业重复")
      end
      if type(m.major) == "string" then seen[m.major] = true end
      local row = { major = m.major }
      for _, k in ipairs({ "students", "teachers", "trainees" }) do
        local v = m[k]
        if v ~= nil and not util.is_count(v) then
          f.add(at .. "." .. k, "not_count", "应为不小于 0 的整数")
        else
          row[k] = v
        end
      end
      d.majors[#d.majors + 1] = row
    end
  end
  if mode == "by_major" then
    local sum = 0
    for _, m in ipairs(d.majors) do sum = sum + (m.trainees or 0) end
    d.trainees_total = sum
  elseif body.trainees_total ~= nil then
    if util.is_count(body.trainees_total) then
      d.trainees_total = body.trainees_total
    else
      f.add("trainees_total", "not_count", "申请培训总人数应为不小于 0 的整数")
    end
  end
  for _, k in ipairs({ "faculty", "venue" }) do rich(body[k], k, f, d) end
  local err = f.err()
  if err then return nil, err end
  return d
end

-- F.check_catalogue(d, school) -> certificate | nil, err
-- The certificate exists and is active, each major is one it corresponds
-- to, and each is of a level the school may declare (major_level; the
-- province's rule major_levels, which raises rule_failed when it fails).
function F.check_catalogue(d, school)
  local cert = db.one([[SELECT c.id, c.name, c.level, o.name AS organization FROM certificates c
                        JOIN organizations o ON o.id = c.organization_id
                        WHERE c.id = ? AND c.active = 1]], d.certificate_id)
  if not cert then
    return nil, errors.field("certificate_id", "not_found", "试点证书不存在")
  end
  local f = errors.fields()
  for i, m in ipairs(d.majors) do
    if not db.one([[SELECT 1 AS x FROM certificate_majors
                    WHERE certificate_id = :cert AND major_code = :major]],
                  { cert = d.certificate_id, major = m.major }) then
      f.add("majors[" .. (i - 1) .. "].major", "not_for_certificate", "该专业不属于此证书对应的专业")
    end
  end
  if school then require("major_levels").check(d.majors, school, f) end
  local err = f.err()
  if err then return nil, err end
  return cert
end

-- F.stored(cur) -> the stored declaration cur as a form (for submitting it
-- as it is, and for replaying a rule version over it).
function F.stored(cur)
  local majors = db.query([[SELECT major_code AS major, students, teachers, trainees
                            FROM declaration_majors WHERE declaration_id = ? ORDER BY position]], cur.id)
  local function chars(html)
    if not html or html == "" then return 0 end
    local _, n = text.sanitize(html)
    return n
  end
  return { certificate_id = cur.certificate_id, majors = majors, trainees_total = cur.trainees_total,
           faculty_chars = chars(cur.faculty), venue_chars = chars(cur.venue) }
end

return F
