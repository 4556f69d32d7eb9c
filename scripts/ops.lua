-- ops: what the platform operator (国开在线运维) keeps, as a service: the
-- catalogues of training evaluation organisations, certificates and
-- majors, the SMS outbox as the pages show it, accounts (the list, an
-- education department's admin, a bound phone, a password reset, an
-- unlock), and the eligibility question of exam registration (R15).
-- Takes plain tables (who: {account, token, now, remote}; a form; a query)
-- and returns a result, or nil and an error value (scripts/errors.lua).
-- Uses: db, errors, sql, audit, sms, accounts, people, words, scope.
local db = require "db"
local json = require "json"
local util = require "util"
local errors = require "errors"
local scope = require "scope"
local sql = require "sql"
local audit = require "audit"
local sms = require "sms"
local accounts = require "accounts"
local people = require "people"
local words = require "words"

local ops = {}

local LEVELS = { ["初级"] = true, ["中级"] = true, ["高级"] = true }
local MAJOR_LEVELS = { ["中职"] = true, ["高职专科"] = true, ["职业本科"] = true }

local transaction = errors.protect(function(fn) return db.transaction(fn) end)

-- A text field of b, trimmed: required when asked (nil, a blank or a
-- non-text is then "请填写…"), at most max characters, no control
-- characters. Adds its error to f (errors.fields); returns the value.
local function text_field(f, b, k, label, max, required)
  local v = b[k]
  if v == nil then
    if required then f.add(k, "required", "请填写" .. label) end
    return nil
  end
  v = type(v) == "string" and util.trim(v) or ""
  if v == "" then
    f.add(k, "required", "请填写" .. label)
    return nil
  end
  local field, code, message = errors.text(v, k, label, max)
  if field then f.add(field, code, message) end
  return v
end

local function mask(phone)
  return phone and (phone:sub(1, 3) .. "****" .. phone:sub(8)) or nil
end

-- ---- 培训评价组织 --------------------------------------------------------

-- ops.organizations() -> every organisation {id, name, certificates}
function ops.organizations()
  return db.query([[SELECT o.id, o.name, (SELECT count(*) FROM certificates c
                    WHERE c.organization_id = o.id) AS certificates FROM organizations o ORDER BY o.id]])
end

-- ops.save_organization(who, id, b) -> {id, name}, or nil and an error
-- value (validation_failed, not_found, duplicate). id nil: a new one.
function ops.save_organization(who, id, b)
  local f = errors.fields()
  local name = text_field(f, b, "name", "组织名称", 100, true)
  local err = f.err()
  if err then return nil, err end
  local editing = id ~= nil
  if id and not db.one("SELECT 1 AS x FROM organizations WHERE id = ?", id) then
    return nil, errors.new("not_found", "培训评价组织不存在")
  end
  id, err = transaction(function()
    if db.one("SELECT 1 AS x FROM organizations WHERE name = :name AND id <> :id", { name = name, id = id or 0 }) then
      errors.raise("duplicate", "培训评价组织已存在")
    end
    if id then
      db.exec("UPDATE organizations SET name = :name WHERE id = :id", { name = name, id = id })
    else
      id = select(2, db.exec("INSERT INTO organizations(name, created_at) VALUES (:name, :now) RETURNING id",
                             { name = name, now = who.now }))
    end
    audit.log(who, editing and "organization.update" or "organization.create", "organization", id,
              { detail = { name = name } })
    return id
  end)
  if not id then return nil, err end
  return db.one("SELECT id, name FROM organizations WHERE id = ?", id)
end

-- ---- 证书 -----------------------------------------------------------------

-- ops.save_certificate(who, id, b) -> the certificate as the catalogue
-- shows it (api_public.certificates) and true, or {id} and false when the
-- catalogue does not show it; or nil and an error value
-- (validation_failed, not_found, duplicate). id nil: a new one.
function ops.save_certificate(who, id, b)
  local f = errors.fields()
  local cur = id and db.one("SELECT * FROM certificates WHERE id = ?", id)
  if id and not cur then return nil, errors.new("not_found", "证书不存在") end
  cur = cur or {}
  local code = text_field(f, b, "code", "证书代码", 32, not id) or cur.code
  local name = text_field(f, b, "name", "证书名称", 100, not id) or cur.name
  local level = b.level == nil and cur.level or b.level
  if not LEVELS[level or ""] then f.add("level", "invalid", "证书等级应为初级、中级或高级") end
  local org = b.organization_id == nil and cur.organization_id or b.organization_id
  if math.type(org) ~= "integer" or not db.one("SELECT 1 AS x FROM organizations WHERE id = ?", org) then
    f.add("organization_id", "invalid", "培训评价组织不存在")
  end
  local active = cur.active or 1
  if b.active ~= nil then
    if type(b.active) ~= "boolean" then f.add("active", "type", "应为布尔值") else active = b.active and 1 or 0 end
  end
  local majors = b.majors
  if majors ~= nil then
    if type(majors) ~= "table" or (next(majors) ~= nil and not json.is_array(majors)) then
      f.add("majors", "type", "对应专业应为专业代码列表")
      majors = nil
    else
      for i, code_i in ipairs(majors) do
        if type(code_i) ~= "string" or not db.one("SELECT 1 AS x FROM majors WHERE code = ?", code_i) then
          f.add("majors[" .. (i - 1) .. "]", "not_found", "专业代码不存在")
        end
      end
    end
  end
  local err = f.err()
  if err then return nil, err end
  local editing = id ~= nil
  id, err = transaction(function()
    local cert = { code = code, name = name, level = level, org = org, active = active, id = id }
    if db.one([[SELECT 1 AS x FROM certificates WHERE (code = :code OR (name = :name AND level = :level))
                AND id <> :id]], { code = code, name = name, level = level, id = id or 0 }) then
      errors.raise("duplicate", "证书代码或同名同级证书已存在")
    end
    if id then
      db.exec([[UPDATE certificates SET code = :code, name = :name, level = :level, organization_id = :org,
                active = :active WHERE id = :id]], cert)
    else
      id = select(2, db.exec([[INSERT INTO certificates(code, name, level, organization_id, active)
                               VALUES (:code, :name, :level, :org, :active) RETURNING id]], cert))
    end
    if majors then
      db.exec("DELETE FROM certificate_majors WHERE certificate_id = ?", id)
      for _, m in ipairs(majors) do
        db.exec("INSERT INTO certificate_majors(certificate_id, major_code) VALUES (:id, :major) ON CONFLICT DO NOTHING",
                { id = id, major = m })
      end
    end
    audit.log(who, editing and "certificate.update" or "certificate.create", "certificate", id,
              { detail = { code = code, name = name, level = level } })
    return id
  end)
  if not id then return nil, err end
  for _, c in ipairs(require("api_public").certificates(code, true)) do
    if c.id == id then return c, true end
  end
  return { id = id }, false
end

-- ---- 专业 -----------------------------------------------------------------

-- ops.majors(q, pg) -> {total, page, size, items}: q: {q (a name or code),
-- level}; the exact name first, then names that begin with the term
-- (建筑工程技术 before 古建筑工程技术).
function ops.majors(q, pg)
  local where = [[ WHERE (:term IS NULL OR instr(name, :term) > 0 OR code = :term)
                    AND (:level IS NULL OR level = :level)]]
  return sql.page(pg, {
    count = "SELECT count(*) AS n FROM majors" .. where,
    items = "SELECT code, name, level, category_name, class_name, active FROM majors" .. where
      .. " ORDER BY (name = :term) DESC, instr(name, :term), level, code",
  }, { term = sql.opt(q.q), level = sql.opt(q.level) }, function(m) m.active = m.active == 1 end)
end

-- ops.save_major(who, code, b) -> the major, or nil and an error value
-- (validation_failed, not_found, duplicate). code nil: a new one, b.code.
function ops.save_major(who, code, b)
  local editing = code ~= nil
  local f = errors.fields()
  code = code or b.code
  local cur = editing and db.one("SELECT * FROM majors WHERE code = ?", code)
  if editing and not cur then return nil, errors.new("not_found", "专业不存在") end
  cur = cur or {}
  if not editing and (type(code) ~= "string" or not code:match("^%d%d%d%d%d%dK?$")) then
    f.add("code", "invalid", "专业代码应为 6 位数字（可带 K）")
  end
  local name = text_field(f, b, "name", "专业名称", 60, not editing) or cur.name
  local level = b.level == nil and cur.level or b.level
  if not MAJOR_LEVELS[level or ""] then f.add("level", "invalid", "层次应为中职、高职专科或职业本科") end
  local active = cur.active or 1
  if b.active ~= nil then
    if type(b.active) ~= "boolean" then f.add("active", "type", "应为布尔值") else active = b.active and 1 or 0 end
  end
  local category = text_field(f, b, "category_name", "专业大类", 60, false) or cur.category_name
  local class = text_field(f, b, "class_name", "专业类", 60, false) or cur.class_name
  local err = f.err()
  if err then return nil, err end
  local major = { code = code, name = name, level = level, active = active, category = category,
                  class = class }
  local ok
  ok, err = transaction(function()
    if editing then
      db.exec([[UPDATE majors SET name = :name, level = :level, active = :active, category_name = :category,
                class_name = :class WHERE code = :code]], major)
    else
      if db.one("SELECT 1 AS x FROM majors WHERE code = ?", code) then
        errors.raise("duplicate", "专业代码已存在")
      end
      db.exec([[INSERT INTO majors(code, name, level, category_name, class_name, active)
                VALUES (:code, :name, :level, :category, :class, :active)]], major)
    end
    audit.log(who, editing and "major.update" or "major.create", "major", nil,
              { detail = { code = code, name = name, level = level } })
    return true
  end)
  if not ok then return nil, err end
  local m = db.one("SELECT code, name, level, category_name, class_name, active FROM majors WHERE code = ?", code)
  m.active = m.active == 1
  return m
end

-- ---- 短信与账号 -----------------------------------------------------------

-- ops.sms(q, pg) -> {total, page, size, items}: the outbox, newest first,
-- q: {phone}. Passwords and codes stay in the outbox for `host sms list`
-- on the server; here they are masked.
function ops.sms(q, pg)
  local where = " WHERE :phone IS NULL OR phone = :phone"
  return sql.page(pg, {
    count = "SELECT count(*) AS n FROM sms_outbox" .. where,
    items = "SELECT id, phone, template, params, text, driver, status, attempts, last_error, created_at,"
      .. " sent_at FROM sms_outbox"
      .. where .. " ORDER BY id DESC",
  }, { phone = sql.opt(q.phone) }, function(r)
    r.created_at = util.iso(r.created_at)
    r.sent_at = util.iso(r.sent_at)
    local params = json.decode(r.params or "") or {}
    for _, secret in ipairs({ "password", "code" }) do
      if params[secret] then params[secret] = "******" end
    end
    r.template_name = words.SMS_TEMPLATE[r.template] or r.template
    local ok, text = pcall(sms.render, r.template, params)
    r.text = ok and text or r.text
    r.params = nil
  end)
end

-- ops.accounts(q, pg, now) -> {total, page, size, items}: every account,
-- q: {q (login name, school name or phone), role}; each by name and unit,
-- whether it is locked now, its phone masked.
function ops.accounts(q, pg, now)
  local from = [[ FROM accounts a LEFT JOIN schools s ON s.id = a.school_id
    WHERE (:term IS NULL OR instr(a.username, :term) > 0 OR instr(coalesce(s.name, ''), :term) > 0
           OR a.phone = :term) AND (:role IS NULL OR a.role = :role)]]
  return sql.page(pg, {
    count = "SELECT count(*) AS n" .. from,
    items = [[SELECT a.id, a.username, a.role, a.province_code AS province, a.city_code AS city,
                     a.school_id, s.name AS school, a.phone, a.active, a.locked_until,
                     a.failed_logins, a.must_change_password, a.last_login_at]] .. from .. " ORDER BY a.id",
  }, { term = sql.opt(q.q), role = sql.opt(q.role) }, function(r)
    local who = people.of(r.id)
    r.name, r.unit = who and who.name or r.username, who and who.unit or ""
    r.role_name = words.ROLE[r.role] or r.role
    r.locked = (r.locked_until or 0) > now
    r.locked_until = util.iso(r.locked_until)
    r.last_login_at = util.iso(r.last_login_at)
    r.active = r.active == 1
    r.must_change_password = r.must_change_password == 1
    if r.phone then r.phone = mask(r.phone) end
  end)
end

-- ops.create_account(who, b) -> the new account as the page shows it, or
-- nil and an error value (validation_failed, duplicate). b: {role =
-- "city"|"province", username, name, phone, province, city}: an education
-- department's admin; the initial password goes to the phone by SMS and
-- must be changed at first login.
function ops.create_account(who, b)
  local f = errors.fields()
  local holds = scope.DEPARTMENTS[b.role] and scope.holds(b.role)
  if not holds then
    f.add("role", "invalid", "角色应为地市级或省级教育行政部门")
  end
  local username = b.username
  if type(username) ~= "string" or not username:match("^[%w_%.%-]+$") or #username < 3 or #username > 32 then
    f.add("username", "invalid", "账号应为 3–32 位字母、数字、下划线、点或连字符")
  elseif username:match("^%d+$") then
    -- a school's account is its 10-digit code: an admin must not take one
    f.add("username", "digits", "管理员账号不能全为数字（全数字为院校账号）")
  end
  local name = text_field(f, b, "name", "姓名", 30, true)
  if not util.is_mobile(b.phone) then f.add("phone", "invalid", "请填写正确的手机号码") end
  local province = type(b.province) == "string"
    and db.one("SELECT code, name FROM provinces WHERE code = ?", b.province)
  if not province then f.add("province", "invalid", "请选择省份") end
  local city
  if holds and holds.city then
    city = type(b.city) == "string" and db.one("SELECT code, province_code FROM cities WHERE code = ?", b.city)
    if not city then
      f.add("city", "invalid", "请选择城市")
    elseif province and city.province_code ~= province.code then
      f.add("city", "not_in_province", "城市不属于该省份")
    end
  end
  local err = f.err()
  if err then return nil, err end
  local password = accounts.random_password()
  local hash = require("auth").hash_password(password)   -- slow: outside the write lock
  local id
  id, err = transaction(function()
    if db.one("SELECT 1 AS x FROM accounts WHERE username = ?", username) then
      errors.raise("duplicate", "账号已存在")
    end
    local _, new_id = db.exec([[INSERT INTO accounts(username, password_hash, role, province_code, city_code,
                                  phone, must_change_password, created_at, display_name)
                                VALUES (:username, :hash, :role, :province, :city, :phone, 1, :now, :name) RETURNING id]],
      { username = username, hash = hash, role = b.role, province = province.code,
        city = city and city.code or nil, phone = b.phone, now = who.now, name = name })
    sms.send(who, b.phone, "admin_account", {
      unit = people.unit(b.role, province.code, city and city.code), username = username, password = password })
    audit.log(who, "account.create", "account", new_id, { after = "active", province = province.code,
      city = city and city.code or nil, detail = { username = username, name = name, role = b.role,
                                                   phone = mask(b.phone) } })
    return new_id
  end)
  if not id then return nil, err end
  local p = people.of(id)
  return { id = id, username = username, role = b.role, name = name, unit = p.unit,
           province = province.code, city = city and city.code or json.null, phone = mask(b.phone),
           message = "账号已创建，初始密码已通过短信发送至 " .. mask(b.phone) }
end

-- ops.account(id) -> the account {id, username, phone, role,
-- province_code, city_code}, or nil and not_found.
function ops.account(id)
  local a = db.one("SELECT id, username, phone, role, province_code, city_code FROM accounts WHERE id = ?", id)
  if not a then return nil, errors.new("not_found", "账号不存在") end
  return a
end

-- ops.change_phone(who, a, b) -> {ok, id, phone, message}, or nil and an
-- error value (validation_failed, unchanged, forbidden for an ops
-- account, rate_limited). a: the account (ops.account); b: {phone}. A
-- school asks when its contact leaves; both numbers are told, and what the
-- old phone could still do (a reset code, sessions) ends with it.
function ops.change_phone(who, a, b)
  local err
  if not util.is_mobile(b.phone) then
    return nil, errors.field("phone", "invalid", "请填写正确的手机号码")
  end
  if b.phone == a.phone then return nil, errors.new("unchanged", "新手机号码与原号码相同") end
  -- 2026-12-01: an ops account's phone is not changed from the pages
  -- (with a reset it would hand the account over)
  if scope.is_ops({ account = a }) then return nil, errors.new("forbidden", "不能更换运维账号的绑定手机") end
  local ratelimit = require "ratelimit"
  for _, phone in ipairs({ a.phone, b.phone }) do
    if phone and not db.transaction(ratelimit.allow, "sms:phone:" .. phone,
        ratelimit.limit("sms_per_phone_hour"), 3600, who.now) then
      return nil, errors.new("rate_limited", "短信发送过于频繁，请稍后再试")
    end
  end
  local ok
  ok, err = transaction(function()
    db.exec("UPDATE accounts SET phone = :phone WHERE id = :id", { phone = b.phone, id = a.id })
    db.exec("UPDATE password_resets SET used_at = :now WHERE account_id = :id AND used_at IS NULL",
            { now = who.now, id = a.id })
    db.exec("DELETE FROM sessions WHERE account_id = ?", a.id)
    local p = { username = a.username, new_phone = mask(b.phone), old_phone = mask(a.phone) or "无" }
    if a.phone then sms.send(who, a.phone, "phone_changed", p) end
    sms.send(who, b.phone, "phone_changed", p)
    audit.log(who, "account.phone", "account", a.id, { province = a.province_code, city = a.city_code,
      detail = { username = a.username, from = mask(a.phone), to = mask(b.phone) } })
    return true
  end)
  if not ok then return nil, err end
  return { ok = true, id = a.id, phone = mask(b.phone), message = "绑定手机已更换，短信已发送至新旧两个号码" }
end

-- ops.reset_password(who, id) -> {ok, message}, or nil and an error value
-- (not_found, no_phone): a new password by SMS, to be changed at login;
-- the account's sessions and locks end.
function ops.reset_password(who, id)
  local a, err = ops.account(id)
  if not a then return nil, err end
  if not a.phone then return nil, errors.new("no_phone", "该账号没有登记手机号码，无法通过短信发送新密码") end
  local password = accounts.random_password()
  local hash = require("auth").hash_password(password)
  local ok
  ok, err = transaction(function()
    db.exec([[UPDATE accounts SET password_hash = :hash, must_change_password = 1, failed_logins = 0,
              locked_until = NULL WHERE id = :id]], { hash = hash, id = a.id })
    db.exec("DELETE FROM sessions WHERE account_id = ?", a.id)
    accounts.clear_failures(a.username)
    sms.send(who, a.phone, "password_reset", { username = a.username, password = password })
    audit.log(who, "account.reset_password", "account", a.id, { detail = { username = a.username } })
    return true
  end)
  if not ok then return nil, err end
  return { ok = true, message = "新密码已通过短信发送至 " .. mask(a.phone) }
end

-- ops.unlock(who, id) -> {ok}, or nil and not_found: every lock of the
-- account ends.
function ops.unlock(who, id)
  local a, err = ops.account(id)
  if not a then return nil, err end
  db.transaction(function()
    db.exec("UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE id = ?", a.id)
    accounts.clear_failures(a.username)
    audit.log(who, "account.unlock", "account", a.id, { detail = { username = a.username } })
  end)
  return { ok = true }
end

-- ---- 考务报考：资格查询 (R15) ----------------------------------------------

-- ops.eligibility(q) -> {eligible, reason, declaration_id, school,
-- certificate, year, major}, or nil and validation_failed. q: {school (its
-- code), certificate (an id), year, major (a code)}, as the query gives
-- them. Eligible when an approved declaration of that school, certificate
-- and year declared the major, or declared none and the major corresponds
-- to the certificate; two batches of a year may each have one, and any of
-- them may allow.
function ops.eligibility(q)
  local f = errors.fields()
  if not (q.school or ""):match("^%d%d%d%d%d%d%d%d%d%d$") then f.add("school", "invalid", "学校标识码应为 10 位数字") end
  local cert = math.tointeger(tonumber(q.certificate or ""))
  if not cert then f.add("certificate", "invalid", "证书编号无效") end
  local year = math.tointeger(tonumber(q.year or ""))
  if not year then f.add("year", "invalid", "年度无效") end
  if not (q.major or ""):match("^%d%d%d%d%d%dK?$") then f.add("major", "invalid", "专业代码应为 6 位数字（可带 K）") end
  local err = f.err()
  if err then return nil, err end
  local function answer(ok, reason, id)
    return { eligible = ok, reason = reason, declaration_id = id or json.null,
             school = q.school, certificate = cert, year = year, major = q.major }
  end
  -- one statement (exam registration's hot path): the school, whether the
  -- certificate exists and the major corresponds to it, and every approved
  -- declaration of that school, certificate and year (two batches of a
  -- year may each have one: eligible when any of them allows); one row
  -- with d.id NULL when there is none. 15 us against the four
  -- statements' 35 (the plan's year checked by its id, so that SQLite
  -- walks declarations_eligibility)
  local ds = db.query([[SELECT s.id AS school_id,
                          EXISTS (SELECT 1 FROM certificates c WHERE c.id = :cert) AS cert_exists,
                          EXISTS (SELECT 1 FROM certificate_majors cm
                                  WHERE cm.certificate_id = :cert AND cm.major_code = :major) AS corresponds,
                          d.id,
                          (SELECT count(*) FROM declaration_majors dm WHERE dm.declaration_id = d.id) AS declared,
                          EXISTS (SELECT 1 FROM declaration_majors dm
                                  WHERE dm.declaration_id = d.id AND dm.major_code = :major) AS has_major
                        FROM (SELECT 1 AS one) q
                        LEFT JOIN schools s ON s.code = :school
                        LEFT JOIN declarations d
                          ON d.school_id = s.id AND d.certificate_id = :cert AND d.status = 'approved'
                             AND EXISTS (SELECT 1 FROM plans p WHERE p.id = d.plan_id AND p.year = :year)
                        ORDER BY d.id]], { major = q.major, school = q.school, cert = cert, year = year })
  local first = ds[1]
  if first.school_id == nil then return answer(false, "学校不在院校总库中") end
  if first.cert_exists ~= 1 then return answer(false, "证书不存在") end
  if first.id == nil then return answer(false, "该校当年没有审核通过的该证书试点申报") end
  local corresponds = first.corresponds == 1
  for _, d in ipairs(ds) do
    if d.has_major == 1 then
      return answer(true, "该专业在审核通过的申报专业之列", d.id)
    end
    if d.declared == 0 and corresponds then
      return answer(true, "申报未限定专业，该专业属于证书对应专业", d.id)
    end
  end
  if first.declared > 0 then
    return answer(false, "该专业不在审核通过的申报专业之列", first.id)
  end
  return answer(false, "申报未限定专业，但该专业不属于证书对应专业", first.id)
end

return ops
