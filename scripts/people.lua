-- people: how a person is shown to others: the name with the unit
-- (王敏（石家庄市教育局）), never a bare login name. Units follow from
-- the account's scope: the narrowest part of it the account holds
-- (scope.holds).
local db = require "db"
local scope = require "scope"

local people = {}

-- people.unit(role, province_code, city_code, school_id) -> "石家庄市教育局"
function people.unit(role, province, city, school_id)
  local holds = scope.holds(role)
  if not holds then return "" end
  if holds.school then
    local s = school_id and db.one("SELECT name FROM schools WHERE id = ?", school_id)
    return s and s.name or "院校"
  end
  if holds.city then
    local c = city and db.one("SELECT name FROM cities WHERE code = ?", city)
    return (c and c.name or "") .. "教育局"
  end
  if holds.province then
    local p = province and db.one("SELECT name FROM provinces WHERE code = ?", province)
    return (p and p.name or "") .. "教育厅"
  end
  return "国开在线运维"  -- ops hold no part: the platform's own unit
end

-- people.of(account_id) -> {name, unit, label, role} or nil; label is
-- "王敏（石家庄市教育局）". An account without a person's name (a school's,
-- an admin's made without one) is shown by its unit: a login name is never
-- shown for a person.
function people.of(id)
  if id == nil then return nil end
  local a = db.one([[SELECT id, username, display_name, role, province_code, city_code, school_id
                     FROM accounts WHERE id = ?]], id)
  if not a then return nil end
  local unit = people.unit(a.role, a.province_code, a.city_code, a.school_id)
  local name = a.display_name
  if not name or name == "" or unit == "" then
    name = name ~= "" and name or nil
    local label = name or (unit ~= "" and unit) or "平台用户"
    return { name = label, unit = unit, label = label, role = a.role }
  end
  return { name = name, unit = unit, label = name .. "（" .. unit .. "）", role = a.role }
end

return people
