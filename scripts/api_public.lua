-- api_public: reference data without login: regions, the schools of a
-- city (for registration), certificates and majors.
local db = require "db"
local json = require "json"
local errors = require "errors"
local scope = require "scope"

local M = {}

local function provinces()
  return 200, db.query("SELECT code, name FROM provinces ORDER BY code")
end

-- Cities of a province, plus any city outside it where one of its schools
-- sits (河北工业大学 is a Hebei school in Tianjin).
local function cities(ctx)
  local p = ctx.query.province
  if not p or not p:match("^%d%d$") then
    return errors.new("bad_request", "请选择省份")
  end
  if not db.one("SELECT 1 AS x FROM provinces WHERE code = ?", p) then
    return errors.new("not_found", "省份不存在")
  end
  return 200, db.query([[
    SELECT code, name FROM cities WHERE province_code = :province
    UNION
    SELECT c.code, c.name FROM schools s JOIN cities c ON c.code = s.city_code
    WHERE s.province_code = :province AND c.province_code <> :province
    ORDER BY code]], { province = p })
end

local function schools(ctx)
  local city = ctx.query.city
  if not city or not city:match("^%d%d%d%d$") then
    return errors.new("bad_request", "请选择城市")
  end
  local rows = db.query([[
    SELECT s.id, s.code, s.name, s.type,
           EXISTS (SELECT 1 FROM accounts a WHERE a.school_id = s.id) AS registered
    FROM schools s
    WHERE s.city_code = :city AND s.active = 1 AND (:q IS NULL OR instr(s.name, :q) > 0 OR s.code = :q)
      AND (:province IS NULL OR s.province_code = :province)
    ORDER BY s.code]], { city = city, q = ctx.query.q ~= "" and ctx.query.q or nil, province = ctx.query.province })
  for _, r in ipairs(rows) do r.registered = r.registered == 1 end
  return 200, rows
end

-- Shared by the public list and ops: certificates with their majors.
function M.certificates(q, with_inactive)
  local rows = db.query([[
    SELECT c.id, c.code, c.name, c.level, c.batch, c.active, o.name AS organization,
           o.id AS organization_id
    FROM certificates c JOIN organizations o ON o.id = c.organization_id
    WHERE (:q IS NULL OR instr(c.name, :q) > 0 OR c.code = :q) AND (:all OR c.active = 1)
    ORDER BY c.batch, c.code]], { q = q ~= "" and q or nil, all = with_inactive and 1 or 0 })
  for _, r in ipairs(rows) do
    local codes = json.array()
    for _, m in ipairs(db.query(
        "SELECT major_code FROM certificate_majors WHERE certificate_id = ? ORDER BY major_code", r.id)) do
      codes[#codes + 1] = m.major_code
    end
    r.majors = codes
    r.active = r.active == 1
  end
  return rows
end

local function certificates(ctx)
  return 200, M.certificates(ctx.query.q or "", false)
end

-- For a school caller: the majors of its own levels first (in the order
-- of its rule's major_levels), each marked `allowed`; others keep their
-- order after them.
function M.school_first(ctx, rows)
  if not scope.is_school(ctx) then return rows end
  local school = db.one("SELECT id, type, province_code, city_code FROM schools WHERE id = ?",
                        ctx.account.school_id)
  if not school then return rows end
  local rank = {}
  for i, level in ipairs(require("major_levels").of(school)) do rank[level] = i end
  for i, r in ipairs(rows) do
    r.allowed = rank[r.level] ~= nil
    r._key = (rank[r.level] or 100) * 100000 + i
  end
  table.sort(rows, function(x, y) return x._key < y._key end)
  for _, r in ipairs(rows) do r._key = nil end
  return rows
end

local function majors(ctx)
  local q = ctx.query.q ~= "" and ctx.query.q or nil
  local cert = ctx.query.certificate
  if cert and cert ~= "" then
    local id = math.tointeger(tonumber(cert))
    if not id then return errors.new("bad_request", "证书编号无效") end
    local rows = db.query([[
      SELECT m.code, m.name, m.level FROM certificate_majors cm
      JOIN majors m ON m.code = cm.major_code
      WHERE cm.certificate_id = :certificate AND m.active = 1
        AND (:q IS NULL OR instr(m.name, :q) > 0 OR m.code = :q)
      ORDER BY m.level, m.code]], { certificate = id, q = q })
    return 200, M.school_first(ctx, rows)
  end
  local level = ctx.query.level ~= "" and ctx.query.level or nil
  return 200, db.query([[
    SELECT code, name, level FROM majors
    WHERE active = 1 AND (:q IS NULL OR instr(name, :q) > 0 OR code = :q)
      AND (:level IS NULL OR level = :level)
    ORDER BY level, code LIMIT 2000]], { q = q, level = level })
end

function M.register(route)
  local pub = { public = true }
  route("GET", "/api/regions/provinces", provinces, pub)
  route("GET", "/api/regions/cities", cities, pub)
  route("GET", "/api/schools", schools, pub)
  route("GET", "/api/certificates", certificates, pub)
  route("GET", "/api/majors", majors, pub)
end

return M
