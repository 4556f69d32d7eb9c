#!/usr/bin/env bash
# Benchmarks with wrk against a seeded server on loopback, each figure a
# ratio to an anchor measured in the same run (this machine is shared and
# noisy): a bare civetweb hello (tests/bench/hello.c). Bounded: 8 s per
# endpoint, 2 threads, 64 connections.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p bin
cc -O2 -o bin/bench-hello tests/bench/hello.c -lcivetweb -lpthread
threads=${BENCH_THREADS:-16}
bin/bench-hello 127.0.0.1:18998 "$threads" & pids+=($!)
bin/host seed --demo --db "$dir/p.db" >/dev/null
# wrk's 64 connections come from one address: no per-address cap here
HOST_CONNECTIONS_PER_CLIENT=0 bin/host serve --port 18999 --threads "$threads" \
  --db "$dir/p.db" 2>/dev/null & pids+=($!)
for _ in $(seq 100); do curl -fs localhost:18999/healthz >/dev/null && break; sleep 0.1; done
cookie=$(curl -s -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"username":"school441","password":"Demo12345"}' localhost:18999/api/login |
  sed -n 's/^[Ss]et-[Cc]ookie: \(sid=[0-9a-f]*\).*/\1/p')

rate() { # url -> requests/s (and prints wrk's summary to stderr)
  local out
  out=$(wrk -t2 -c64 -d"${BENCH_SECONDS:-8}"s -H "Cookie: $cookie" "$1")
  echo "$out" | grep -E "Latency|Requests/sec|Non-2xx" >&2
  echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'
}
echo "== anchor: bare civetweb hello" >&2
hello=$(rate http://127.0.0.1:18998/)
printf '%-28s %10s req/s  1.00x\n' "civetweb hello" "$hello"
for path in /healthz /api/regions/provinces /api/plans /api/school/profile; do
  echo "== GET $path" >&2
  r=$(rate "http://127.0.0.1:18999$path")
  printf '%-28s %10s req/s  %.2fx\n' "GET $path" "$r" "$(echo "$r / $hello" | bc -l)"
done

# Instruction counts (repeatable, unlike seconds): the rule cases, which
# load every example province's set in an evaluator and run its cases.
if command -v valgrind >/dev/null; then
  echo "== callgrind: bin/host rules test (host process; evaluators apart)"
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" bin/host rules test 2>&1 >/dev/null |
    grep -E "Collected" || true
fi
