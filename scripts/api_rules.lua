-- api_rules: the rule sets from the platform (申报规则): the set in force
-- and the developer's reload, and province rules as versioned data:
-- versions, push, test with coverage, cases, replay, publish, rollback.
-- Who: a province admin for its own province; ops for every province and
-- `default`; a city admin reads its province's versions (and default's),
-- and runs neither tests nor replays; schools 403. Every change is in the audit log.
local db = require "db"
local json = require "json"
local util = require "util"
local web = require "web"
local errors = require "errors"
local scope = require "scope"
local audit = require "audit"
local rules = require "rules"
local people = require "people"
local P = require "province_rules"
local versions = require "rules_versions"
local publishing = require "rules_publish"
local replaying = require "rules_replay"
local sync = require "rules_sync"

local M = {}

local ADMINS = scope.ADMINS
local PROVINCE_OPS = scope.PROVINCE_OPS

-- The set name of the path, checked for the caller: or nil and not_found
-- for a name that is no set, forbidden for a set the caller may not read
-- (or, with write, change).
local function scoped(ctx, province, write)
  if province ~= "default" and not (versions.is_name(province)
      and db.one("SELECT 1 AS x FROM provinces WHERE code = ?", province)) then
    return nil, errors.new("not_found", "省份不存在")
  end
  if write then
    if scope.rules_writable(ctx, province) then return province end
    return nil, errors.new("forbidden", province == "default" and "全国默认规则仅由平台运维维护"
                                        or "只能维护本省的申报规则")
  end
  if scope.rules_readable(ctx, province) then return province end
  return nil, errors.new("forbidden", "只能查看本省的申报规则")
end

local function author(ctx)
  local p = people.of(ctx.account.id)
  return { id = ctx.account.id, name = p and p.label or ctx.account.username }
end

-- The version of the path in province, or nil and not_found.
local function version_of(province, params)
  local id = math.tointeger(tonumber(params.id))
  if not id then return nil, errors.new("not_found", "规则版本不存在") end
  return versions.get(province, id)
end

local function log_change(ctx, action, province, id, o)
  audit.log(ctx, action, "rules", id, { province = province ~= "default" and province or nil,
    before = o.before, after = o.after, detail = o.detail })
end

-- ---- the set in force, and the rules directory -------------------------------

-- A load error as the caller may see it: ops and the province whose file
-- it is (or anyone, for the national defaults) see the message; another
-- province sees that its own rules are unchanged, not the other's text.
local function scoped_error(ctx, message, province)
  if not message then return nil end
  if scope.rules_readable(ctx, province) then return message end
  return "另一省份的规则文件有误，当前生效的规则未变"
end

-- The first refusal or load failure the caller may know of.
local function last_error(ctx, st)
  for _, b in ipairs(st.broken or {}) do return scoped_error(ctx, b.error, b.province), b.province end
  local r = db.one("SELECT province, error FROM rule_files WHERE error IS NOT NULL ORDER BY province LIMIT 1")
  if r then return scoped_error(ctx, r.error, r.province), r.province end
  return nil
end

local function rules_status(ctx)
  local st = rules.status()
  local sets = json.array()
  for _, f in ipairs(st.files or {}) do
    if scope.rules_readable(ctx, f.province) then
      -- plan_modes: the modes a plan of the province may use, shown in the plan
      -- dialog before 发布 (issue 10); read-only, from the merged set in force
      local modes = P.try(f.province, "plan_modes")
      sets[#sets + 1] = { province = f.province, path = "rules/" .. f.path:match("[^/]+$"),
                          version_id = f.version_id, name = P.try(f.province, "name") or f.province,
                          plan_modes = json.array(type(modes) == "table" and modes or {}) }
    end
  end
  return 200, { version = st.version, generation = st.generation, loaded_at = util.iso(st.loaded_at),
                last_error = last_error(ctx, st) or json.null, failures = st.failures,
                evaluators = st.evaluators, deadline_ms = st.deadline_ms, sets = sets }
end

-- POST /api/admin/rules/reload: the files of the rules directory that
-- changed are pushed and published (the developer's loop); a refused file
-- leaves its province's version in force (200 while another file went in,
-- 422 when nothing else changed).
local function rules_reload(ctx)
  local out = sync.sync_dir()
  sync.install()
  rules.pin() -- the answer describes the set now in force
  local refused = out.refused[1]
  local shown = refused and scoped_error(ctx, refused.error, refused.province)
  local what = #out.published > 0 and "reloaded" or "unchanged"
  audit.log(ctx, "rules.reload", "rules", nil, { province = ctx.account.province_code,
    after = (refused and #out.published == 0) and "refused" or what,
    detail = { message = shown, published = out.published, version = rules.version() } })
  if refused and #out.published == 0 then
    return errors.new("rules_invalid", "规则文件有误，已保留当前生效的规则：" .. shown)
  end
  local _, st = rules_status(ctx)
  st.result = what
  return 200, st
end

-- ---- versions -----------------------------------------------------------------------

local function list_versions(ctx, params)
  local province, err = scoped(ctx, params.province)
  if not province then return err end
  local pg = web.page(ctx.query)
  local out = versions.list(province, pg.page, pg.size)
  out.items = json.array(out.items)
  return 200, out
end

local function get_version(ctx, params)
  local province, err = scoped(ctx, params.province)
  if not province then return err end
  local v, verr = version_of(province, params)
  if not v then return verr end
  return 200, versions.present(v, true)
end

local function push_version(ctx, params)
  local province, err = scoped(ctx, params.province, true)
  if not province then return err end
  local b = ctx.body()
  local v, warnings = versions.push(province, b.source, b.note, author(ctx))
  if not v then return warnings end
  log_change(ctx, "rules.push", province, v.id, { after = "draft",
    detail = { set = province, version_id = v.id, sha256 = v.sha256, note = v.note } })
  local out = versions.present(v, true)
  out.warnings = json.array(warnings)
  return 201, out
end

local function test_version(ctx, params)
  local province, err = scoped(ctx, params.province)
  if not province then return err end
  local v, verr = version_of(province, params)
  if not v then return verr end
  local b = ctx.req.body ~= "" and ctx.body() or {}
  if b.cases ~= nil and (type(b.cases) ~= "string" or #b.cases > versions.MAX_SOURCE) then
    return errors.field("cases", "type", "测试用例须为不超过 256 KB 的 Lua 源码", "测试用例无效")
  end
  local r, terr = versions.test(province, v, b.cases)
  if not r then return terr end
  r.results = json.array(r.results)
  r.coverage.missed = json.array(r.coverage.missed)
  return 200, r
end

local function get_cases(ctx, params)
  local province, err = scoped(ctx, params.province)
  if not province then return err end
  local source, at = versions.cases(province)
  return 200, { province = province, source = source or "", updated_at = util.iso(at) }
end

local function put_cases(ctx, params)
  local province, err = scoped(ctx, params.province, true)
  if not province then return err end
  local b = ctx.body()
  local ok, perr = versions.put_cases(province, b.source, ctx.account.id)
  if not ok then return perr end
  log_change(ctx, "rules.cases", province, nil, { detail = { set = province, sha256 = versions.sha256(b.source) } })
  return get_cases(ctx, params)
end

local function replay(ctx, params)
  local province, err = scoped(ctx, params.province)
  if not province then return err end
  local v, verr = version_of(province, params)
  if not v then return verr end
  local plan = ctx.body().plan
  if math.type(plan) ~= "integer" then
    return errors.field("plan", "required", "请选择申报计划")
  end
  local r, rerr = replaying.replay(province, v, plan, scope.province(ctx))
  if not r then return rerr end
  return 200, r
end

local function publish(ctx, params)
  local province, err = scoped(ctx, params.province, true)
  if not province then return err end
  local id = math.tointeger(tonumber(params.id))
  if not id then return errors.new("not_found", "规则版本不存在") end
  local v, before = publishing.publish(province, id)
  if not v then return before end
  log_change(ctx, "rules.publish", province, v.id, { before = "draft", after = "published",
    detail = { set = province, version_id = v.id, replaced = before, sha256 = v.sha256 } })
  return 200, versions.present(v)
end

local function rollback(ctx, params)
  local province, err = scoped(ctx, params.province, true)
  if not province then return err end
  local to = ctx.body().to
  if math.type(to) ~= "integer" then
    return errors.field("to", "required", "请选择要回滚到的版本")
  end
  local v, before = publishing.rollback(province, to)
  if not v then return before end
  log_change(ctx, "rules.rollback", province, v.id, { before = "retired", after = "published",
    detail = { set = province, version_id = v.id, replaced = before, sha256 = v.sha256 } })
  return 200, versions.present(v)
end

-- ---- shadow -------------------------------------------------------------

local shadow = require "shadow"

-- shadow.lua raises its refusals (conflict, rules_invalid), which app answers.
local function start_shadow(ctx, params)
  local province, err = scoped(ctx, params.province, true)
  if not province then return err end
  local v, verr = version_of(province, params)
  if not v then return verr end
  local before = shadow.start(province, v, ctx.account.id, ctx.now)
  log_change(ctx, "rules.shadow", province, v.id, { after = "shadow",
    detail = { set = province, version_id = v.id, replaced = before } })
  return 200, shadow.report(province)
end

local function stop_shadow(ctx, params)
  local province, err = scoped(ctx, params.province, true)
  if not province then return err end
  local cur = shadow.stop(province, ctx.now)
  log_change(ctx, "rules.shadow_stop", province, cur.version_id, { before = "shadow",
    detail = { set = province, version_id = cur.version_id, evaluated = cur.evaluated, diverged = cur.diverged } })
  return 200, shadow.report(province)
end

local function get_shadow(ctx, params)
  local province, err = scoped(ctx, params.province)
  if not province then return err end
  local r = shadow.report(province)
  if not r then return errors.new("not_found", "本省尚未进行影子运行") end
  return 200, r
end

function M.register(route)
  route("GET", "/api/admin/rules", rules_status, PROVINCE_OPS)
  route("POST", "/api/admin/rules/reload", rules_reload, PROVINCE_OPS)
  route("GET", "/api/admin/rules/{*province}/versions", list_versions, ADMINS)
  route("POST", "/api/admin/rules/{*province}/versions", push_version, PROVINCE_OPS)
  route("GET", "/api/admin/rules/{*province}/versions/{id}", get_version, ADMINS)
  -- running cases and replays is the rule author's (a city admin reads)
  route("POST", "/api/admin/rules/{*province}/versions/{id}/test", test_version, PROVINCE_OPS)
  route("POST", "/api/admin/rules/{*province}/versions/{id}/replay", replay, PROVINCE_OPS)
  route("POST", "/api/admin/rules/{*province}/versions/{id}/publish", publish, PROVINCE_OPS)
  route("POST", "/api/admin/rules/{*province}/rollback", rollback, PROVINCE_OPS)
  route("GET", "/api/admin/rules/{*province}/cases", get_cases, ADMINS)
  route("POST", "/api/admin/rules/{*province}/versions/{id}/shadow", start_shadow, PROVINCE_OPS)
  route("DELETE", "/api/admin/rules/{*province}/shadow", stop_shadow, PROVINCE_OPS)
  route("GET", "/api/admin/rules/{*province}/shadow", get_shadow, ADMINS)
  route("PUT", "/api/admin/rules/{*province}/cases", put_cases, PROVINCE_OPS)
end

return M
