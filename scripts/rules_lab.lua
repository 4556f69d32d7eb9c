-- rules_lab (interim, replaced by the sandbox's lab of issue 9 part A):
-- checks a candidate source by loading it in an evaluator.
local rules = require "rules"
local lab = {}
function lab.check(files, province)
  local set, broken = rules.load(files)
  local err = not set and broken or nil
  for _, b in ipairs(set and broken or {}) do if b.province == province then err = b.error end end
  if not err then return { ok = true, problems = {}, warnings = {} } end
  local line = tonumber(err:match("^[^:]*:(%d+):"))
  local syntax = err:find("near", 1, true) or err:find("expected", 1, true) or err:find("unfinished", 1, true)
  return { ok = false, warnings = {}, problems = { { code = syntax and "syntax" or "load", line = line,
           message = err } } }
end
function lab.test()
  return { passed = 0, failed = 0, results = {}, coverage = { lines = 0, hit = 0, missed = {} } }
end
return lab
