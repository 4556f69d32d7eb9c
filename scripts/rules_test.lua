-- rules_test: `host rules test [DIR]`. Runs the table-driven rule cases of
-- DIR (default tests/rules/): each *.lua file there returns a list of
--   { name = "...", province = "13", fn = "check_declaration",
--     input = {...},
--     expect = { codes = {"exceeds_students"} }   -- exactly these codes
--            | { fields = {"majors[0].trainees"} } -- exactly these fields
--            | { equals = <value> }                -- deep-equal result
--            | { open = true|false } }            -- a deadline verdict
-- and prints one line per case, the line coverage of each province file
-- whose cases these are (tests/rules/13.lua covers rules/13.lua, through
-- rules_lab, in an evaluator) and "N passed, N failed". An input is passed
-- as a contract ctx (read-only, an unknown field an error).
local rules = require "rules"
local json = require "json"
local host = require "host"

local M = {}
local lab_file -- below

local function deep_eq(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function sorted(list, key)
  local out = {}
  for _, e in ipairs(list or {}) do out[#out + 1] = key and tostring(e[key]) or tostring(e) end
  table.sort(out)
  return table.concat(out, ",")
end

local function judge(case, result, err)
  local e = case.expect or {}
  if err then
    if e.error and err:find(e.error, 1, true) then return true end
    return false, "rule failed: " .. err
  end
  if e.error then return false, "expected an error containing " .. e.error end
  if e.codes then
    local got, want = sorted(result, "code"), sorted(e.codes)
    if got ~= want then return false, "codes {" .. got .. "}, expected {" .. want .. "}" end
  end
  if e.fields then
    local got, want = sorted(result, "field"), sorted(e.fields)
    if got ~= want then return false, "fields {" .. got .. "}, expected {" .. want .. "}" end
  end
  if e.equals ~= nil and not deep_eq(result, e.equals) then
    return false, "got " .. json.encode(result) .. ", expected " .. json.encode(e.equals)
  end
  if e.open ~= nil and (type(result) ~= "table" or (result.open == true) ~= e.open) then
    return false, "deadline verdict " .. json.encode(result)
  end
  for _, line in ipairs(e.messages_chinese and result or {}) do
    if not tostring(line.message):find("[\228-\233]") then
      return false, "message is not Chinese: " .. tostring(line.message)
    end
  end
  return true
end

M.judge = judge

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local t = f:read("a")
  f:close()
  return t
end

local function rules_dir()
  return host.rules_dir ~= "" and host.rules_dir or (host.root .. "/rules")
end

-- Runs a case file that carries its own rule files: each province of
-- cases.rules in turn, with the cases naming it. Returns passed, failed.
lab_file = function(file, cases)
  local lab = require("rules_lab")
  local text = read_file(file)
  local default = read_file(rules_dir() .. "/default.lua")
  local passed, failed = 0, 0
  local label = file:match("[^/]+$")
  local names = {}
  for name in pairs(cases.rules) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local files = { { name = "default", text = default }, { name = name, text = cases.rules[name] } }
    local r, problem = lab.test(files, name, text)
    if not r then
      print("not ok - " .. label .. ": " .. name .. ".lua: " .. tostring(problem.message))
      failed = failed + 1
    else
      for _, res in ipairs(r.results) do
        -- each province's run answers every case; count those naming it
        local case
        for _, c in ipairs(cases.cases) do if c.name == res.name then case = c end end
        if case and (case.province or "default") == name then
          if res.ok then
            passed = passed + 1
            print("ok - " .. label .. ": " .. res.name)
          else
            failed = failed + 1
            print("not ok - " .. label .. ": " .. res.name .. ": " .. res.message)
          end
        end
      end
      print(string.format("coverage %s (%s.lua): %d/%d lines", label, name, r.coverage.hit,
                          r.coverage.lines))
    end
  end
  return passed, failed
end

-- "coverage 13.lua: 12/14 lines (missed 20, 21)", or nil when the case
-- file is not named for a rule file of the rules directory.
local function coverage_line(case_file)
  local stem = case_file:match("([^/]+)%.lua$")
  local read = read_file
  local dir = rules_dir()
  local default, own = read(dir .. "/default.lua"), read(dir .. "/" .. stem .. ".lua")
  local cases = read(case_file)
  if not (stem and default and own and cases) then return nil end
  local files = { { name = "default", text = default } }
  if stem ~= "default" then files[2] = { name = stem, text = own } end
  local r, problem = require("rules_lab").test(files, stem, cases)
  if not r then return "coverage " .. stem .. ".lua: " .. tostring(problem.message) end
  local missed = {}
  for _, l in ipairs(r.coverage.missed) do missed[#missed + 1] = tostring(l) end
  return string.format("coverage %s.lua: %d/%d lines%s", stem, r.coverage.hit, r.coverage.lines,
                       #missed > 0 and (" (missed " .. table.concat(missed, ", ") .. ")") or "")
end

function M.main(args)
  local dir = args[1] or (host.root .. "/tests/rules")
  local p = io.popen('ls "' .. dir .. '"/*.lua 2>/dev/null')
  local files = {}
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  if #files == 0 then
    io.stderr:write("rules test: no case files in ", dir, "\n")
    print("0 passed, 1 failed")
    return 1
  end
  local passed, failed = 0, 0
  for _, file in ipairs(files) do
    -- case files are data: a small environment, text only
    local chunk, err = loadfile(file, "t", { pairs = pairs, ipairs = ipairs, string = string,
                                            table = table, math = math })
    local cases
    if chunk then
      local ok, v = pcall(chunk)
      if ok then cases = v else err = v end
    end
    if type(cases) ~= "table" then
      print("not ok - " .. file .. ": " .. tostring(err or "must return a list of cases"))
      failed = failed + 1
    elseif type(cases.rules) == "table" then
      -- a case file with rule files of its own ({rules = {["98"] = source},
      -- cases = {...}}): run through the lab over the directory's default,
      -- leaving the set in force alone
      local p_, f_ = lab_file(file, cases)
      passed, failed = passed + p_, failed + f_
    else
      for _, case in ipairs(cases) do
        if type(case.input) == "table" then case.input["@contract"] = true end
        local result, rerr = rules.call(case.province or "default", case.fn or "check_declaration",
                                        case.input)
        local ok, why = judge(case, result, rerr)
        local label = file:match("[^/]+$") .. ": " .. (case.name or "?")
        if ok then
          passed = passed + 1
          print("ok - " .. label)
        else
          failed = failed + 1
          print("not ok - " .. label .. ": " .. why)
        end
      end
    end
  end
  for _, file in ipairs(files) do
    local ok, line = pcall(coverage_line, file)
    if ok and line then print(line) end
  end
  print(string.format("%d passed, %d failed", passed, failed))
  return failed == 0 and 0 or 1
end

return M
