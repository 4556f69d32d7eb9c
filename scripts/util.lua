-- util: small helpers shared by handlers, seeding and the CLI: Beijing
-- time, ISO 8601 parsing, CSV, paging and checks of input values.
local util = {}

local BEIJING = 8 * 3600

-- util.iso(ts) -> "2022-03-01T09:00:00+08:00" (nil for nil)
function util.iso(ts)
  if ts == nil then return nil end
  return os.date("!%Y-%m-%dT%H:%M:%S", ts + BEIJING) .. "+08:00"
end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function days_in_month(y, m)
  local dim = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  if m == 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then
    return 29
  end
  return dim[m]
end

-- util.parse_time(s) -> Unix seconds | nil. Accepts ISO 8601 with an
-- offset or Z, and "YYYY-MM-DD[ HH:MM[:SS]]" taken as Beijing time.
function util.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) then return nil end
  local h, mi, sec, zone = 0, 0, 0, ""
  if rest ~= "" then
    local hh, mm, tail = rest:match("^[T ](%d%d):(%d%d)(.*)$")
    if not hh then return nil end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, tail2 = tail:match("^:(%d%d)(.*)$")
    if ss then sec, tail = tonumber(ss), tail2 end
    tail = tail:gsub("^%.%d+", "")
    zone = tail
  end
  if h > 23 or mi > 59 or sec > 59 then return nil end
  local offset
  if zone == "" then
    offset = BEIJING
  elseif zone == "Z" then
    offset = 0
  else
    local sign, oh, om = zone:match("^([%+%-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
end

-- util.beijing_year(ts) -> the calendar year in Beijing
function util.beijing_year(ts)
  return tonumber(os.date("!%Y", ts + BEIJING))
end

-- util.csv(text) -> rows (arrays of strings), RFC 4180 quoting.
function util.csv(text)
  local rows, row, field = {}, {}, {}
  local i, n, quoted = 1, #text, false
  text = text:gsub("^\239\187\191", "")   -- a BOM
  n = #text
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' then
        if text:sub(i + 1, i + 1) == '"' then
          field[#field + 1] = '"'
          i = i + 1
        else
          quoted = false
        end
      else
        field[#field + 1] = c
      end
    elseif c == '"' then
      quoted = true
    elseif c == "," then
      row[#row + 1] = table.concat(field)
      field = {}
    elseif c == "\n" or c == "\r" then
      if c == "\r" and text:sub(i + 1, i + 1) == "\n" then i = i + 1 end
      row[#row + 1] = table.concat(field)
      field = {}
      rows[#rows + 1] = row
      row = {}
    else
      field[#field + 1] = c
    end
    i = i + 1
  end
  if #field > 0 or #row > 0 then
    row[#row + 1] = table.concat(field)
    rows[#rows + 1] = row
  end
  return rows
end

-- util.csv_records(text) -> array of tables keyed by the header row
function util.csv_records(text)
  local rows = util.csv(text)
  local header = table.remove(rows, 1) or {}
  local out = {}
  for _, r in ipairs(rows) do
    if not (#r == 1 and r[1] == "") then
      local rec = {}
      for k, name in ipairs(header) do rec[name] = r[k] end
      out[#out + 1] = rec
    end
  end
  return out, header
end

function util.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

function util.trim(s)
  if type(s) ~= "string" then return s end
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

function util.is_mobile(s)
  return type(s) == "string" and s:match("^1[3-9]%d%d%d%d%d%d%d%d%d$") ~= nil
end

function util.is_email(s)
  return type(s) == "string" and #s <= 254
    and s:match("^[%w%._%%%+%-]+@[%w%.%-]+%.%a%a+$") ~= nil
end

-- A whole, non-negative count: integers only (3.5, -1 and "abc" are not).
function util.is_count(v)
  return math.type(v) == "integer" and v >= 0 and v <= 1000000
end

local DIGITS = { "一", "二", "三", "四", "五", "六", "七", "八", "九" }

-- util.batch_name(2) -> "第二次": a batch as the manual and the pages
-- name it (第一次 … 第十二次 …).
function util.batch_name(n)
  n = math.tointeger(n)
  if not n or n < 1 then return "" end
  local s
  if n < 10 then s = DIGITS[n]
  elseif n < 100 then
    s = (n >= 20 and DIGITS[n // 10] or "") .. "十" .. (n % 10 > 0 and DIGITS[n % 10] or "")
  else s = tostring(n) end
  return "第" .. s .. "次"
end

-- The review levels, one wording everywhere (pages, Excel, SMS).
util.LEVEL_NAMES = { city = "市级", province = "省级" }

function util.shallow_copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

return util
