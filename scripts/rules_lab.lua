-- rules_lab: checking and testing a candidate rule set (the workbench's
-- Lua API, over host/rules_lab.c). Nothing here runs a rule: sources and
-- cases go to an evaluator process (tenant "@lab") and come back as data;
-- the lint (luacheck) reads the text on this side.
--   lab.check(files, province) -> {ok, problems = {{code, message, line}},
--                                  warnings = {{line, message}}}
--   lab.test(files, province, cases_source) -> {passed, failed,
--     results = {{name, ok, message}}, coverage = {lines, hit, missed}}
--     | nil, {code, message, line}
-- files: {{name = "default", text = ...}, {name = "13", text = ...}},
-- default first; province "default" checks or tests the defaults alone.
local core = require "lab"
local json = require "json"

local M = {}

M.LUACHECK = "/usr/bin/luacheck"
M.LINT_SECONDS = 10
M.LINT_KB = 512 * 1024

-- The line of a message "13.lua:7: ..." (or nil).
local function line_of(message)
  return tonumber(tostring(message):match("^[^:\n]*%.lua:(%d+):"))
end

local function text_of(files, province)
  for _, f in ipairs(files) do
    if f.name == province then return f.text end
  end
  return nil
end

local function have_luacheck()
  local f = io.open(M.LUACHECK, "rb")
  if f then f:close() return true end
  return false
end

-- luacheck's codes that refuse a source: reading an undefined global
-- (W113) and setting or changing one (W111, W112, W121, W122).
local REFUSE = { W113 = true, W111 = true, W112 = true, W121 = true, W122 = true }

-- M.lint(text, name) -> problems, warnings (luacheck on this side, never
-- in the evaluator). The globals it allows are the sandbox's own.
function M.lint(text, name)
  local problems, warnings = json.array(), json.array()
  if not have_luacheck() then
    warnings[1] = { line = 0, message = "未安装 luacheck（Debian 软件包 lua-check），未做静态检查" }
    return problems, warnings
  end
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  local globals = core.globals()
  globals[#globals + 1] = "_G"
  -- the file (stdin) first: --read-globals takes every name after it
  -- bounded: luacheck's time grows fast with some sources (thousands of
  -- ifs ran for minutes at 700 MB), so it gets M.LINT_SECONDS and
  -- M.LINT_KB of memory, and a lint that did not finish refuses the source
  local cmd = "ulimit -v " .. M.LINT_KB .. "; exec timeout -k 1 " .. M.LINT_SECONDS .. " "
    .. M.LUACHECK .. " - --no-config --codes --ranges --formatter plain --std none"
    .. " --no-max-line-length --filename " .. (name:match("^[%w_]+$") or "rule") .. ".lua"
    .. " --read-globals " .. table.concat(globals, " ") .. " < " .. tmp .. " 2>&1"
  local ok, out, status, code = pcall(function()
    local p = io.popen(cmd)
    local o = p:read("a")
    return o, select(2, p:close())
  end)
  os.remove(tmp)
  if not ok then out, status, code = "", "exit", -1 end
  -- luacheck exits 0 (clean), 1 (warnings) or 2 (errors); anything else,
  -- or a signal, is a lint that did not finish
  if status ~= "exit" or (code ~= 0 and code ~= 1 and code ~= 2) then
    problems[#problems + 1] = { code = "load", line = 0,
      message = "静态检查未能在 " .. M.LINT_SECONDS .. " 秒内完成，请精简规则源码" }
    return problems, warnings
  end
  for row in out:gmatch("[^\n]+") do
    local line, code, message = row:match("^[^:]*:(%d+):[%d%-]+: %((%u%d+)%) (.*)$")
    if line then
      line = tonumber(line)
      if REFUSE[code] then
        local what = message:match("'([^']+)'") or "?"
        problems[#problems + 1] = { code = "undefined_name", line = line,
          message = (code == "W113" and "未定义的全局变量 '" or "不能设置全局变量 '") .. what
                    .. "'（" .. code .. " " .. message .. "）" }
      elseif code:sub(1, 1) == "W" then
        warnings[#warnings + 1] = { line = line, message = code .. " " .. message }
      end
    end
  end
  return problems, warnings
end

local function problem(code, message)
  return { code = code, message = message, line = line_of(message) or 0 }
end

function M.check(files, province)
  province = province or "default"
  local text = text_of(files, province)
  if not text then error("rules_lab.check: no file for " .. tostring(province), 2) end
  local problems, warnings = json.array(), json.array()
  local ok, code, message = core.load(files, province)
  if not ok then
    problems[#problems + 1] = problem(code == "shape" and "load" or code, message)
  end
  if not ok and code == "syntax" then
    return { ok = false, problems = problems, warnings = warnings }
  end
  local lp, lw = M.lint(text, province)
  local seen = {}
  for _, p in ipairs(problems) do seen[p.code .. ":" .. p.line] = true end
  for _, p in ipairs(lp) do
    if not seen[p.code .. ":" .. p.line] then problems[#problems + 1] = p end
  end
  for _, w in ipairs(lw) do warnings[#warnings + 1] = w end
  table.sort(problems, function(a, b) return a.line < b.line end)
  table.sort(warnings, function(a, b) return a.line < b.line end)
  return { ok = #problems == 0, problems = problems, warnings = warnings }
end

-- The executable lines of text, and those of them hit.
local function coverage(text, hit)
  local lines = core.lines(text) or {}
  local ran = {}
  for _, l in ipairs(hit or {}) do ran[l] = true end
  local n, missed = 0, json.array()
  for _, l in ipairs(lines) do
    if ran[l] then n = n + 1 else missed[#missed + 1] = l end
  end
  return { lines = #lines, hit = n, missed = missed }
end

function M.test(files, province, cases_source)
  province = province or "default"
  local text = text_of(files, province)
  if not text then error("rules_lab.test: no file for " .. tostring(province), 2) end
  local raw, code, message = core.run(files, province, cases_source)
  if not raw then
    return nil, problem(code == "shape" and "load" or code, message)
  end
  local judge = require("rules_test").judge
  local out = { passed = 0, failed = 0, results = json.array() }
  for i, case in ipairs(raw.cases or {}) do
    local r = (raw.results or {})[i] or {}
    local ok, why = judge(case, r.value, r.error)
    out.results[#out.results + 1] = { name = tostring(case.name or ("#" .. i)), ok = ok == true,
                                      message = ok and "" or tostring(why) }
    if ok then out.passed = out.passed + 1 else out.failed = out.failed + 1 end
  end
  out.coverage = coverage(text, raw.hit)
  return out
end

return M
