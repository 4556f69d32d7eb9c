#!/usr/bin/env bash
# Instruction counts (callgrind), repeatable where seconds are not: one
# rule evaluation inside an evaluator (tests/bench/rule_eval.c, the
# sandbox in process), one rule call as the host makes it (the memo
# defeated: IPC to an evaluator, not counted there), and one eligibility
# answer (app.handle in the host's own Lua state, its token write
# included). Each is (count with N - count with 1) / (N - 1), so the start
# cancels out. Called by run.sh with HOST_BIN, HOST_DB, BENCH_ELIG and
# BENCH_TOKEN; BENCH_CALLS (200) is N.
set -euo pipefail
cd "$(dirname "$0")/../.."
host=${HOST_BIN:-bin/host}
n=${BENCH_CALLS:-200}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
make -s bin/bench-rule
ir() { # command... -> instructions of the process itself
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$@" >/dev/null 2>"$dir/log" ||
    { cat "$dir/log" >&2; return 1; }
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$dir/log"
}
per() { # ir_with_n ir_with_1 -> per call
  echo $(( ($1 - $2) / (n - 1) ))
}
cat >"$dir/rule.lua" <<'LUA'
for i = 1, tonumber(os.getenv("BENCH_N")) do
  assert(rules.call("44", "check_declaration", { ["@contract"] = true, submit = true,
    mode = "not_by_major", declaration = { mode = "not_by_major", certificate_id = 1,
    majors = {}, trainees_total = 30, faculty_chars = 120, venue_chars = 80 },
    others_in_plan = 2, plan = { mode = "not_by_major" }, school = {}, now = 1800000000 + i }))
end
LUA
cat >"$dir/elig.lua" <<'LUA'
local app = require "app"
for _ = 1, tonumber(os.getenv("BENCH_N")) do
  local status = app.handle({ method = "GET", path = "/api/eligibility",
    query = os.getenv("BENCH_ELIG"), remote = "127.0.0.1", body = "",
    headers = { authorization = "Bearer " .. os.getenv("BENCH_TOKEN") } })
  assert(status == 200, status)
end
LUA
repl() { echo "dofile('$1')" | BENCH_N=$2 ir "$host" repl --db "$HOST_DB"; }
a=$(ir bin/bench-rule rules 44 "$n"); b=$(ir bin/bench-rule rules 44 1)
printf '%-48s %12s instructions\n' "rule evaluation (in the evaluator)" "$(per "$a" "$b")"
a=$(repl "$dir/rule.lua" "$n"); b=$(repl "$dir/rule.lua" 1)
printf '%-48s %12s instructions\n' "rule call (host side, memo defeated)" "$(per "$a" "$b")"
a=$(repl "$dir/elig.lua" "$n"); b=$(repl "$dir/elig.lua" 1)
printf '%-48s %12s instructions\n' "eligibility answer (app.handle, in the host)" "$(per "$a" "$b")"
