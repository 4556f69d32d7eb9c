-- api_school: what a school does (manual sections 2 and 3): its profile,
-- its province's plans, its declarations and its pilot status.
local db = require "db"
local json = require "json"
local util = require "util"
local web = require "web"
local errors = require "errors"
local audit = require "audit"
local decl = require "decl"
local verdicts = require "declaration_rules"
local declarations = require "declarations"
local profile = require "profile"
local people = require "people"

local M = {}

local SCHOOL = { roles = { school = true } }

local function present_profile(s)
  local out = {
    id = s.id, code = s.code, name = s.name, type = s.type,
    province = s.province_code, province_name = s.province_name,
    city = s.city_code, city_name = s.city_name,
    required = profile.required(s.province_code),
    updated_at = util.iso(s.updated_at),
  }
  for _, f in ipairs(profile.FIELDS) do out[f] = s[f] or "" end
  out.complete = #profile.problems(s) == 0
  return out
end

local function get_profile(ctx)
  local s = profile.load(ctx.account.school_id)
  if not s then web.fail(404, "not_found", "院校不存在") end
  return 200, present_profile(s)
end

local function put_profile(ctx)
  local b = ctx.body()
  local s = profile.load(ctx.account.school_id)
  if not s then web.fail(404, "not_found", "院校不存在") end
  local f = errors.fields()
  profile.check_formats(b, f)
  local err = f.err()
  if err then return err end
  local merged = util.shallow_copy(s)
  for _, k in ipairs(profile.FIELDS) do
    if b[k] ~= nil then merged[k] = util.trim(b[k]) end
  end
  local problems = profile.problems(merged)
  if #problems > 0 then
    return errors.new("validation_failed", "请填写必填项", problems)
  end
  db.transaction(function()
    db.exec([[INSERT INTO school_profiles(school_id, address, postcode, contact_name, contact_phone,
                contact_email, website, intro, updated_at)
              VALUES (:school, :address, :postcode, :contact_name, :contact_phone, :contact_email,
                      :website, :intro, :now)
              ON CONFLICT(school_id) DO UPDATE SET address = excluded.address,
                postcode = excluded.postcode, contact_name = excluded.contact_name,
                contact_phone = excluded.contact_phone, contact_email = excluded.contact_email,
                website = excluded.website, intro = excluded.intro, updated_at = excluded.updated_at]],
      { school = s.id, address = merged.address, postcode = merged.postcode,
        contact_name = merged.contact_name, contact_phone = merged.contact_phone,
        contact_email = merged.contact_email, website = merged.website, intro = merged.intro,
        now = ctx.now })
    audit.log(ctx, "school.profile", "school", s.id, {
      province = s.province_code, city = s.city_code })
  end)
  return 200, present_profile(profile.load(s.id))
end

-- The caller's school: the row the declarations service takes, or the
-- error value (not_found, school_inactive) that answers the request.
local function own_school(ctx)
  return declarations.school(ctx.account.school_id)
end

-- Who acts, for the audit log the service writes.
local function actor(ctx)
  local a = ctx.account
  return { id = a.id, username = a.username, role = a.role, remote = ctx.remote }
end

local function plans(ctx)
  local school, err = own_school(ctx)
  if not school then return err end
  local rows = db.query([[SELECT id, year, batch, title, mode, starts_at, ends_at, notes
                          FROM plans WHERE province_code = ? AND status = 'published'
                          ORDER BY year DESC, batch DESC, id DESC]], school.province_code)
  for _, p in ipairs(rows) do
    p.state = decl.plan_state(p, ctx.now)
    p.can_declare = verdicts.deadline(school.province_code, p, "create", nil, ctx.now).open == true
    p.starts_at, p.ends_at = util.iso(p.starts_at), util.iso(p.ends_at)
    p.notes = p.notes or ""
  end
  return 200, rows
end

local function list(ctx)
  local q = ctx.query
  local pg = web.page(q)
  local year = web.int_param(q, "year")
  local status = q.status ~= "" and q.status or nil
  local where = [[ WHERE d.school_id = :school AND (:year IS NULL OR p.year = :year)
                   AND (:status IS NULL OR d.status = :status)]]
  local filter = { school = ctx.account.school_id, year = year, status = status }
  local total = db.one([[SELECT count(*) AS n FROM declarations d JOIN plans p ON p.id = d.plan_id]]
                       .. where, filter).n
  filter.size, filter.offset = pg.size, pg.offset
  local items = db.query(decl.LIST_SQL .. where .. " ORDER BY d.id DESC LIMIT :size OFFSET :offset", filter)
  for _, r in ipairs(items) do
    r.can_edit, r.can_delete = decl.actions(r, ctx.now)
    -- why it came back (退回原因) or was refused, shown in the list itself
    local last = (r.status == "returned" or r.status == "rejected") and db.one([[
      SELECT comment FROM reviews WHERE declaration_id = ? AND decision IN ('return', 'reject')
      ORDER BY id DESC LIMIT 1]], r.id)
    r.review_comment = last and last.comment or json.null
    decl.present(r)
  end
  return 200, { total = total, page = pg.page, size = pg.size, items = items }
end

local function view(ctx, params)
  local r = decl.view(params.id)
  if not r or r.school_id ~= ctx.account.school_id then
    web.fail(404, "not_found", "申报不存在")
  end
  -- never a login name (2026-12-02: the school's own showed on its view and
  -- print): the school's own steps by its name, the reviewers' by their unit
  -- (石家庄市教育局), not by person
  local acct = {}
  for _, x in ipairs(db.query("SELECT id, account_id FROM reviews WHERE declaration_id = ?", r.id)) do
    acct[x.id] = x.account_id
  end
  for _, v in ipairs(r.reviews) do
    local who = people.of(acct[v.id])
    if v.level == "school" then v.by = who and who.label or r.school
    else v.by = who and who.unit ~= "" and who.unit or nil end
  end
  local raw = db.one("SELECT status, plan_id FROM declarations WHERE id = ?", params.id)
  r.can_edit, r.can_delete = decl.actions({ status = raw.status, plan_id = raw.plan_id,
                                            province = r.province }, ctx.now)
  return 200, r
end

local function pilot_status(ctx)
  local year = web.int_param(ctx.query, "year") or util.beijing_year(ctx.now)
  local n = db.one([[SELECT count(*) AS n FROM declarations d JOIN plans p ON p.id = d.plan_id
                     WHERE d.school_id = :school AND p.year = :year AND d.status = 'approved']],
                   { school = ctx.account.school_id, year = year }).n
  return 200, { year = year, pilot = n > 0, approved = n }
end

-- The school's declarations: parse, call the service, answer (the
-- declaration as its view shows it, with a draft's warnings).

-- POST /api/declarations
local function create(ctx)
  local b = ctx.body()
  local school, err = own_school(ctx)
  if not school then return err end
  local r, cerr = declarations.create(actor(ctx), school, b, ctx.now)
  if not r then return cerr end
  local out = decl.view(r.id)
  out.warnings = json.array(r.warnings)
  return 201, out
end

-- PUT /api/declarations/{id}
local function update(ctx, params)
  local b = ctx.body()
  local school, err = own_school(ctx)
  if not school then return err end
  local r, uerr = declarations.update(actor(ctx), school, params.id, b, ctx.now)
  if not r then return uerr end
  local out = decl.view(r.id)
  out.warnings = json.array(r.warnings)
  return 200, out
end

-- POST /api/declarations/{id}/submit
local function submit(ctx, params)
  local school, err = own_school(ctx)
  if not school then return err end
  local r, serr = declarations.submit(actor(ctx), school, params.id, ctx.now)
  if not r then return serr end
  return 200, decl.view(r.id)
end

-- DELETE /api/declarations/{id}
local function delete(ctx, params)
  local school, err = own_school(ctx)
  if not school then return err end
  local r, derr = declarations.delete(actor(ctx), school, params.id, ctx.now)
  if not r then return derr end
  return 200, { ok = true }
end

function M.register(route)
  route("GET", "/api/school/profile", get_profile, SCHOOL)
  route("PUT", "/api/school/profile", put_profile, SCHOOL)
  route("GET", "/api/plans", plans, SCHOOL)
  route("GET", "/api/declarations", list, SCHOOL)
  route("POST", "/api/declarations", create, SCHOOL)
  route("GET", "/api/declarations/{id}", view, SCHOOL)
  route("PUT", "/api/declarations/{id}", update, SCHOOL)
  route("DELETE", "/api/declarations/{id}", delete, SCHOOL)
  route("POST", "/api/declarations/{id}/submit", submit, SCHOOL)
  route("GET", "/api/school/pilot-status", pilot_status, SCHOOL)
end

return M
