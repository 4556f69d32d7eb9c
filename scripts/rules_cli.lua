-- rules_cli: `host rules versions|push|publish|export` and the baseline of
-- `host migrate`, over the rules services (rules_versions, rules_publish,
-- rules_sync). Exit codes: 0 ok, 1 failure, 2 bad usage.
-- Uses: util, audit, clock, rules_versions, rules_publish, rules_sync.
local util = require "util"
local V = require "rules_versions"

local M = {}

-- `host migrate`: the baseline of the rules directory.
function M.baseline_cli()
  local n = require("rules_sync").baseline()
  if n > 0 then print("rule versions: " .. n .. " baseline") end
  return 0
end

local function cli_args(args)
  local o, rest, i = {}, {}, 2
  while i <= #args do
    local name = args[i]:match("^%-%-([%w%-]+)$")
    if name then
      if i == #args then return nil, "--" .. name .. " needs a value" end
      o[name] = args[i + 1]
      i = i + 2
    else
      rest[#rest + 1] = args[i]
      i = i + 1
    end
  end
  return o, rest
end

-- An error value on stderr, each field with its line. Returns 1.
local function fail(e)
  io.stderr:write("host: ", e.message, "\n")
  for _, f in ipairs(e.fields or {}) do
    io.stderr:write("  ", f.line and ("line " .. tostring(f.line) .. ": ") or "",
                    tostring(f.code), ": ", tostring(f.message), "\n")
  end
  return 1
end

local function cli_audit(action, province, id, detail)
  require("audit").log({ now = require("clock").now(), remote = "cli" }, action, "rules", id, {
    province = province ~= "default" and province or nil, actor = "host rules", detail = detail })
end

local verbs = {}

function verbs.versions(province)
  for _, v in ipairs(V.list(province, 1, 1000).items) do
    print(string.format("%-6d %-9s %s %-20s %s  %s", v.id, v.status, v.in_force and "*" or " ",
                        v.created_at, v.author, v.note))
  end
  return 0
end

function verbs.push(province, o, rest)
  local path = rest[1]
  if not path or rest[2] then io.stderr:write("host: rules push: one FILE\n") return 2 end
  local text, rerr = util.read_file(path)
  if not text then io.stderr:write("host: cannot read ", path, ": ", tostring(rerr), "\n") return 1 end
  local v, warnings = V.push(province, text, o.note, { name = "命令行 host rules" })
  if not v then return fail(warnings) end
  for _, w in ipairs(warnings) do
    io.stderr:write(path, ":", tostring(w.line), ": warning: ", tostring(w.message), "\n")
  end
  cli_audit("rules.push", province, v.id, { set = province, version_id = v.id, sha256 = v.sha256 })
  print(v.id)
  return 0
end

function verbs.publish(province, o)
  local id = math.tointeger(tonumber(o.id))
  if not id then io.stderr:write("host: rules publish: --id N\n") return 2 end
  local v, before = require("rules_publish").publish(province, id)
  if not v then return fail(before) end
  cli_audit("rules.publish", province, v.id, { set = province, version_id = v.id, replaced = before })
  print("published " .. v.id .. (before and (", replacing " .. before) or ""))
  return 0
end

function verbs.export(province, o)
  local v = V.in_force(province)
  if not v then io.stderr:write("host: no version of ", province, " is in force\n") return 1 end
  if not o.out then io.write(v.source) return 0 end
  local path = o.out .. "/" .. province .. ".lua"
  local f, err = io.open(path, "wb")
  if not f then io.stderr:write("host: cannot write ", path, ": ", tostring(err), "\n") return 1 end
  f:write(v.source)
  f:close()
  print(path .. " (version " .. v.id .. ", sha256 " .. v.sha256 .. ")")
  return 0
end

-- M.cli(args) -> exit code; args = {verb, options...}
function M.cli(args)
  local verb = args[1]
  local o, rest = cli_args(args)
  if not o then io.stderr:write("host: ", rest, "\n") return 2 end
  local province = o.province
  if not V.is_name(province) then
    io.stderr:write("host: rules ", verb, ": --province must be default or a two-digit code\n")
    return 2
  end
  if not verbs[verb] then return 2 end
  return verbs[verb](province, o, rest)
end

return M
