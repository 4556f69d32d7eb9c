-- profile: 完善院校基础信息, the school's own part of its record, and
-- whether it is complete by its province's rules; read and saved as a
-- service (profile.get, profile.save: a result, or nil and an error value).
-- Uses: db, province_rules, errors, audit.
local db = require "db"
local util = require "util"
local errors = require "errors"
local audit = require "audit"
local P = require "province_rules"

local profile = {}

profile.FIELDS = { "address", "postcode", "contact_name", "contact_phone",
                   "contact_email", "website", "intro" }
local MAX = { address = 200, postcode = 6, contact_name = 50, contact_phone = 20,
              contact_email = 254, website = 200, intro = 2000 }
profile.MAX = MAX

function profile.load(school_id)
  local s = db.one([[SELECT s.id, s.code, s.name, s.type, s.province_code, s.city_code,
                            p.name AS province_name, c.name AS city_name,
                            f.address, f.postcode, f.contact_name, f.contact_phone,
                            f.contact_email, f.website, f.intro, f.updated_at
                     FROM schools s JOIN provinces p ON p.code = s.province_code
                     LEFT JOIN cities c ON c.code = s.city_code
                     LEFT JOIN school_profiles f ON f.school_id = s.id
                     WHERE s.id = ?]], school_id)
  return s
end

-- The ctx of check_profile: ctx.profile and ctx.school, and the profile's
-- fields at the top as well (the files written before the contract read
-- profile[f] there).
function profile.rule_input(s)
  local ctx, p = {}, {}
  for _, f in ipairs(profile.FIELDS) do p[f], ctx[f] = s[f], s[f] end
  ctx.profile = p
  ctx.school = { id = s.id, code = s.code, type = s.type, province = s.province_code,
                 city = s.city_code }
  return P.ctx(ctx)
end

-- profile.problems(s) -> field errors by the province's rules
function profile.problems(s)
  return P.errors(s.province_code, "check_profile", profile.rule_input(s))
end

function profile.required(province)
  local r = P.call(province, "profile_required")
  local out = require("json").array()
  for _, f in ipairs(type(r) == "table" and r or {}) do out[#out + 1] = tostring(f) end
  return out
end

-- Format checks that hold everywhere (types, lengths, shapes).
function profile.check_formats(b, f)
  for _, k in ipairs(profile.FIELDS) do
    local v = b[k]
    if v ~= nil and type(v) ~= "string" then
      f.add(k, "type", "应为文本")
    elseif v ~= nil and (require("text").ulen(v) or math.huge) > MAX[k] then
      f.add(k, "too_long", "不能超过 " .. MAX[k] .. " 个字符")
    end
  end
  local function present(k) return type(b[k]) == "string" and util.trim(b[k]) ~= "" end
  if present("postcode") and not b.postcode:match("^%d%d%d%d%d%d$") then
    f.add("postcode", "invalid", "邮政编码应为 6 位数字")
  end
  if present("contact_phone") and not (util.is_mobile(b.contact_phone)
      or b.contact_phone:match("^0%d%d%d?%-?%d%d%d%d%d%d%d%d?$")) then
    f.add("contact_phone", "invalid", "请输入正确的手机号码或固定电话")
  end
  if present("contact_email") and not util.is_email(b.contact_email) then
    f.add("contact_email", "invalid", "请输入正确的电子邮箱")
  end
  if present("website") and not b.website:match("^https?://[%w%.%-]+") then
    f.add("website", "invalid", "网址应以 http:// 或 https:// 开头")
  end
end

-- profile.present(s) -> the profile of a row of profile.load, as the API
-- shows it: the school, every field ("" when unset), the province's
-- required fields and whether it is complete.
function profile.present(s)
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

local function missing() return errors.new("not_found", "院校不存在") end

-- profile.get(school_id) -> the presented profile, or nil and not_found.
function profile.get(school_id)
  local s = profile.load(school_id)
  if not s then return nil, missing() end
  return profile.present(s)
end

-- profile.save(who, school_id, b) -> the presented profile as changed by
-- form b (the fields it names; the others kept), or nil and an error
-- value: not_found, validation_failed for a format (per field) or for
-- what the province's rules require (请填写必填项). Audited (school.profile).
-- who: {account, now, remote}.
function profile.save(who, school_id, b)
  local s = profile.load(school_id)
  if not s then return nil, missing() end
  local f = errors.fields()
  profile.check_formats(b, f)
  local err = f.err()
  if err then return nil, err end
  local merged = util.shallow_copy(s)
  for _, k in ipairs(profile.FIELDS) do
    if b[k] ~= nil then merged[k] = util.trim(b[k]) end
  end
  local problems = profile.problems(merged)
  if #problems > 0 then
    return nil, errors.new("validation_failed", "请填写必填项", problems)
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
        now = who.now })
    audit.log(who, "school.profile", "school", s.id, {
      province = s.province_code, city = s.city_code })
  end)
  return profile.present(profile.load(s.id))
end

return profile
