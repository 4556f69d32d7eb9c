-- The admins' queue as schema/019 keeps it: declarations carry their
-- school's province and city, declaration_counts agrees with the rows
-- after every kind of write, a school that moves takes its declarations
-- along, and the pages read by offset (forwards and from the end) and by
-- cursor are the same rows in the same order as the list's ORDER BY.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local reviews = require "reviews"
local schools = require "schools"
local stats = require "stats"
local sql = require "sql"

local T = {}

local function who(role, province, city)
  return { account = fx.admin(role, province, city), now = fx.NOW, remote = "unit" }
end

local function declare(school, plan, cert, status, o)
  o = o or {}
  local level = o.level or (status == "pending" and "city" or nil)
  return fx.one([[INSERT INTO declarations(school_id, plan_id, certificate_id, status, review_level,
                    review_chain, mode, trainees_total, submitted_at, created_at, updated_at)
                  VALUES (:s, :p, :c, :st, :level, '["city","province"]', 'by_major', :trainees, :at, 1, 1)
                  RETURNING id]],
    { s = school.id, p = plan.id, c = cert, st = status, level = level, trainees = o.trainees or 10,
      at = status ~= "draft" and (o.at or fx.NOW) or nil }).id
end

-- The counts as the rows say they should be, and as the table has them
-- (rows that went back to zero left out), in one text each.
local function counts_agree()
  local function text(rows, cols)
    local out = {}
    for _, r in ipairs(rows) do
      local v = {}
      for i, c in ipairs(cols) do v[i] = tostring(r[c]) end
      out[#out + 1] = table.concat(v, "|")
    end
    return table.concat(out, "\n")
  end
  local cols = { "plan_id", "province_code", "city_code", "status", "review_level", "n", "trainees" }
  local want = fx.query([[
    SELECT x.plan_id, s.province_code, coalesce(s.city_code, '') AS city_code, d.status,
           coalesce(d.review_level, '') AS review_level, count(*) AS n,
           sum(coalesce(d.trainees_total, 0)) AS trainees
    FROM declarations d JOIN schools s ON s.id = d.school_id
    JOIN (SELECT id, id AS plan_id FROM plans UNION ALL SELECT id, 0 FROM plans) x ON x.id = d.plan_id
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5]])
  local have = fx.query([[SELECT plan_id, province_code, city_code, status, review_level, n, trainees
                          FROM declaration_counts WHERE n <> 0 OR trainees <> 0 ORDER BY 1, 2, 3, 4, 5]])
  assert(text(have, cols) == text(want, cols),
    "declaration_counts:\n" .. text(have, cols) .. "\nthe rows:\n" .. text(want, cols))
  cols = { "plan_id", "province_code", "city_code", "school_id", "n" }
  want = fx.query([[
    SELECT d.plan_id, s.province_code, coalesce(s.city_code, '') AS city_code, d.school_id, count(*) AS n
    FROM declarations d JOIN schools s ON s.id = d.school_id WHERE d.status = 'approved'
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4]])
  have = fx.query([[SELECT plan_id, province_code, city_code, school_id, n FROM pilot_counts WHERE n <> 0
                    ORDER BY 1, 2, 3, 4]])
  assert(text(have, cols) == text(want, cols),
    "pilot_counts:\n" .. text(have, cols) .. "\nthe rows:\n" .. text(want, cols))
  local off = fx.one([[SELECT count(*) AS n FROM declarations d JOIN schools s ON s.id = d.school_id
                       WHERE d.province_code IS NOT s.province_code OR d.city_code IS NOT s.city_code]]).n
  assert(off == 0, off .. " declarations not where their school is")
end

function T.the_counts_follow_every_write()
  fx.fresh()
  local p1, p2 = fx.plan({ province = "13" }), fx.plan({ province = "13" })
  local c1, c2 = fx.certificate(), fx.certificate()
  local a, b = fx.school({ city = "1301" }), fx.school({ city = "1302" })
  local nocity = fx.school({ city = false })
  counts_agree()
  local d1 = declare(a, p1, c1, "pending")
  local d2 = declare(a, p1, c2, "draft", { trainees = 7 })
  local d3 = declare(b, p2, c1, "approved", { trainees = 3 })
  declare(nocity, p1, c1, "pending", { level = "province" })
  counts_agree()
  -- a decision, along the chain and to its end
  local city, prov = who("city", "13", "1301"), who("province", "13")
  assert(reviews.decide(city, d1, "approve") == "pending")
  counts_agree()
  assert(reviews.decide(prov, d1, "reject", "不符合") == "rejected")
  counts_agree()
  local d4 = declare(b, p1, c2, "pending", { level = "province" })
  assert(reviews.decide(prov, d4, "approve") == "approved")
  declare(a, p2, c2, "approved")
  counts_agree()
  -- the school's edit of a draft (trainees), its submission, its deletion
  fx.one("UPDATE declarations SET trainees_total = 70 WHERE id = ? RETURNING id", d2)
  fx.one([[UPDATE declarations SET status = 'pending', review_level = 'city', submitted_at = 5
           WHERE id = ? RETURNING id]], d2)
  counts_agree()
  fx.one("DELETE FROM declarations WHERE id = ? RETURNING id", d3)
  counts_agree()
  -- a school that moves city, then province (ops: a city of any province)
  local ops = who("ops")
  assert(schools.update(ops, schools.visible(ops, a.id), { city = "1302" }))
  counts_agree()
  assert(schools.update(ops, schools.visible(ops, a.id), { province = "44", city = "4401" }))
  counts_agree()
  local d = fx.one("SELECT province_code, city_code FROM declarations WHERE id = ?", d1)
  assert(d.province_code == "44" and d.city_code == "4401")
  -- a school without a city, given one
  assert(schools.update(ops, schools.visible(ops, nocity.id), { city = "1301" }))
  counts_agree()
end

function T.a_school_that_moves_takes_its_declarations_along()
  fx.fresh()
  local plan, cert = fx.plan({ province = "13", year = 2031 }), fx.certificate()
  local s = fx.school({ city = "1301" })
  local ids = { declare(s, plan, cert, "pending"), declare(s, plan, fx.certificate(), "approved") }
  local pg = { page = 1, size = 10, offset = 0 }
  local c1301, c1302 = who("city", "13", "1301"), who("city", "13", "1302")
  local p13, p44, c4401 = who("province", "13"), who("province", "44"), who("city", "44", "4401")
  local function sees(w, n, msg)
    local l = reviews.list(w, {}, pg)
    assert(l.total == n and #l.items == n, msg .. ": " .. l.total .. " listed, " .. #l.items .. " items")
  end
  sees(c1301, 2, "its city")
  sees(c1302, 0, "another city")
  assert(reviews.todo(c1301).pending_for_me == 1)
  local ops = who("ops")
  assert(schools.update(ops, schools.visible(ops, s.id), { city = "1302" }))
  sees(c1301, 0, "the city it left")
  sees(c1302, 2, "the city it moved to")
  assert(reviews.todo(c1301).pending_for_me == 0 and reviews.todo(c1302).pending_for_me == 1)
  assert(reviews.list(p13, { city = "1302" }, pg).total == 2 and reviews.list(p13, { city = "1301" }, pg).total == 0)
  assert(reviews.list(c1302, {}, pg).items[1].city == "1302")
  fx.err("not_found", reviews.visible(c1301, ids[1]))
  assert(reviews.visible(c1302, ids[1]))
  assert(stats.plan(c1302, plan).declared == 2 and stats.plan(c1301, plan).declared == 0)
  assert(stats.pilot_schools(c1302, 2031).total == 1 and stats.pilot_schools(c1301, 2031).total == 0)
  -- to another province: its declarations of 河北's plan are 广东's to see now
  assert(schools.update(ops, schools.visible(ops, s.id), { province = "44", city = "4401" }))
  sees(p13, 0, "the province it left")
  sees(c1302, 0, "the old city")
  sees(p44, 2, "the province it moved to")
  sees(c4401, 2, "the new city")
  assert(reviews.list(p44, { plan = plan.id, status = "pending" }, pg).total == 1)
  assert(reviews.todo(c4401).pending_for_me == 1)
  assert(stats.years(p44).items[1].declared == 2 and #stats.years(p13).items == 0)
end

-- The ids of the whole list, by pages of size: by offset, and by cursor.
local function by_offset(w, f, size)
  local out, total = {}, nil
  for page = 1, 100 do
    local r = reviews.list(w, f, { page = page, size = size, offset = (page - 1) * size })
    assert(total == nil or r.total == total, "the same total on every page")
    total = r.total
    for _, it in ipairs(r.items) do out[#out + 1] = it.id end
    if #r.items < size then break end
  end
  return out, total
end

local function by_cursor(w, f, size)
  local out, after, total = {}, nil, nil
  for _ = 1, 100 do
    local r = reviews.list(w, f, { page = 1, size = size, offset = 0, after = after })
    assert(total == nil or r.total == total, "a cursor's page has the list's total")
    total = r.total
    for _, it in ipairs(r.items) do out[#out + 1] = it.id end
    if r.next == require("json").null then break end
    after = { sql.cursor(r.next) }
  end
  return out, total
end

function T.pages_by_offset_from_either_end_and_by_cursor_agree()
  fx.fresh()
  local plans = { fx.plan({ province = "13" }), fx.plan({ province = "13" }) }
  local certs = { fx.certificate(), fx.certificate(), (fx.certificate()) }
  local sch = { fx.school({ city = "1301" }), fx.school({ city = "1302" }), (fx.school({ city = "1301" })) }
  local statuses = { "pending", "approved", "returned", "rejected", "draft", "pending" }
  local k = 0
  for _, p in ipairs(plans) do
    for _, c in ipairs(certs) do
      for _, s in ipairs(sch) do
        k = k + 1
        -- times in few values, so that many rows tie and the id decides
        local status = statuses[k % #statuses + 1]
        declare(s, p, c, status, { at = fx.NOW + (k * 7) % 5,
          level = status == "pending" and (k % 2 == 0 and "province" or "city") or nil })
      end
    end
  end
  local cases = {
    { who("ops"), {} }, { who("province", "13"), {} }, { who("city", "13", "1301"), {} },
    { who("province", "13"), { mine = true } }, { who("city", "13", "1301"), { mine = true } },
    { who("province", "13"), { status = "pending" } }, { who("province", "13"), { plan = plans[2].id } },
    { who("province", "13"), { certificate = certs[1] } }, { who("province", "13"), { school = sch[1].name } },
    { who("province", "13"), { city = "1302", status = "approved" } }, { who("province", "44"), {} },
  }
  for i, c in ipairs(cases) do
    local w, f = c[1], c[2]
    local where, params = reviews.query(w, f)
    local want = {}
    for _, r in ipairs(sql.query("SELECT d.id FROM declarations d" .. where
                                 .. " ORDER BY d.submitted_at DESC, d.id DESC", params)) do
      want[#want + 1] = r.id
    end
    local expect = table.concat(want, ",")
    for _, size in ipairs({ 1, 2, 3, 4, 7, 100 }) do
      local got, total = by_offset(w, f, size)
      assert(total == #want, "case " .. i .. ": total " .. total .. ", rows " .. #want)
      assert(table.concat(got, ",") == expect, "case " .. i .. " size " .. size .. " by offset: "
        .. table.concat(got, ",") .. " not " .. expect)
      got, total = by_cursor(w, f, size)
      assert(total == #want, "case " .. i .. ": total after a cursor")
      assert(table.concat(got, ",") == expect, "case " .. i .. " size " .. size .. " by cursor: "
        .. table.concat(got, ",") .. " not " .. expect)
    end
    local past = reviews.list(w, f, { page = 50, size = 10, offset = 490 })
    assert(#past.items == 0 and past.total == #want and past.next == require("json").null, "past the end")
  end
end

function T.a_cursor_is_two_integers()
  assert(select("#", sql.cursor("1700000000.42")) == 2)
  local at, id = sql.cursor("1700000000.42")
  assert(at == 1700000000 and id == 42 and sql.cursor_of(at, id) == "1700000000.42")
  for _, bad in ipairs({ "", "1", "1.", ".1", "1.2.3", "-1.2", "1.-2", "a.b", "1e3.2", " 1.2",
                         "99999999999999999999.1", {}, 12 }) do
    assert(sql.cursor(bad) == nil, "refused: " .. tostring(bad))
  end
end

return T
