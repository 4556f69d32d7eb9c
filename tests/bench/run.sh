#!/usr/bin/env bash
# Benchmarks with wrk against a seeded server on loopback: a public list,
# the health check, and an authenticated school page that runs the
# province rules. Bounded: 10 s per endpoint, 2 threads, 16 connections.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
bin/host seed --demo --db "$dir/p.db" >/dev/null
bin/host serve --port 18999 --db "$dir/p.db" 2>/dev/null & pid=$!
for _ in $(seq 50); do curl -fs localhost:18999/healthz >/dev/null && break; sleep 0.1; done
cookie=$(curl -s -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"username":"school441","password":"Demo12345"}' localhost:18999/api/login |
  sed -n 's/^[Ss]et-[Cc]ookie: \(sid=[0-9a-f]*\).*/\1/p')
for path in /healthz /api/regions/provinces /api/plans /api/school/profile; do
  echo "== GET $path"
  wrk -t2 -c16 -d10s -H "Cookie: $cookie" "http://127.0.0.1:18999$path" | grep -E "Requests/sec|Latency|Non-2xx"
done

# Instruction counts (repeatable, unlike seconds): the rule cases, which
# build a sandbox per set and run every example province's rules.
if command -v valgrind >/dev/null; then
  echo "== callgrind: bin/host rules test"
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" bin/host rules test 2>&1 >/dev/null |
    grep -E "Collected" || true
fi
