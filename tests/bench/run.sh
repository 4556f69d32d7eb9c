#!/usr/bin/env bash
# make bench: our endpoints against anchors measured in the same run (this
# machine is shared and noisy, so only ratios mean anything): a bare
# civetweb hello (tests/bench/hello.c) for reads, raw SQLite one INSERT per
# COMMIT with synchronous=FULL in WAL (tests/bench/sqlite_raw.c, on the
# same file system as the server's database) for durable writes. Each line:
# requests/s, p99, and the ratio to its anchor. wrk with 2 threads and 64
# connections, BENCH_SECONDS (8) per figure; the server and the hello with
# BENCH_THREADS (128, the serve default) workers; 30,000 declarations in
# one province (BENCH_DECLARATIONS) for the admin list and statistics,
# measured with BENCH_LIST_CONNECTIONS (4): at 64, requests of 50-200 ms
# on two cores queue past wrk's timeout and nothing is measured.
# Then instruction counts (callgrind) for one rule evaluation and one
# eligibility answer. HOST_BIN=path measures another build (a "before").
set -euo pipefail
cd "$(dirname "$0")/../.."
need() { command -v "$1" >/dev/null || { apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need sqlite3 sqlite3
need bc bc
secs=${BENCH_SECONDS:-8}
threads=${BENCH_THREADS:-128}
conns=${BENCH_CONNECTIONS:-64}
list_conns=${BENCH_LIST_CONNECTIONS:-4}
host=${HOST_BIN:-bin/host}
ndecl=${BENCH_DECLARATIONS:-30000}
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$dir"' EXIT
mkdir -p bin
cc -O2 -o bin/bench-hello tests/bench/hello.c -lcivetweb -lpthread
cc -O2 -o bin/bench-sqlite tests/bench/sqlite_raw.c -lsqlite3

# ---- data: the demo, then declarations by SQL, a token, a draft --------
# (prepared by this checkout's bin/host: a "before" build serves the same data)
bin/host seed --demo --db "$dir/p.db" >/dev/null
tests/bench/declarations.sh "$dir/p.db" "$ndecl"
token=$(bin/host token add --name bench --db "$dir/p.db" | grep -o 'tok_[0-9a-f]*')
q() { sqlite3 "$dir/p.db" "$1"; }
elig=$(q "SELECT 'school=' || s.code || '&certificate=' || d.certificate_id || '&year=' || p.year
                 || '&major=' || cm.major_code
          FROM declarations d JOIN schools s ON s.id = d.school_id JOIN plans p ON p.id = d.plan_id
          JOIN certificate_majors cm ON cm.certificate_id = d.certificate_id
          WHERE d.status = 'approved' ORDER BY d.id LIMIT 1")
stats_plan=$(q "SELECT min(id) FROM plans WHERE title LIKE '压测计划 %'")

bin/bench-hello 127.0.0.1:18998 "$threads" & pids+=($!)
# wrk's 64 connections come from one address: no per-address cap here
HOST_CONNECTIONS_PER_CLIENT=0 HOST_DB_STATS=1 "$host" serve --port 18999 --threads "$threads" \
  --db "$dir/p.db" 2>"$dir/server.log" & pids+=($!)
server=$!
for _ in $(seq 100); do curl -fs localhost:18999/healthz >/dev/null && break; sleep 0.1; done
login() { # username -> "cookie csrf"
  local out
  out=$(curl -s -D - -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"Demo12345\"}" localhost:18999/api/login)
  echo "$(echo "$out" | sed -n 's/^[Ss]et-[Cc]ookie: \(sid=[0-9a-f]*\).*/\1/p')" \
       "$(echo "$out" | grep -o '"csrf_token":"[^"]*"' | cut -d'"' -f4)"
}
read -r school_cookie school_csrf <<<"$(login school441)"
read -r prov_cookie _ <<<"$(login province44)"
plan=$(curl -s -H "Cookie: $school_cookie" localhost:18999/api/plans |
  grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
cert=$(q "SELECT id FROM certificates ORDER BY id LIMIT 1")
body="{\"plan_id\":$plan,\"certificate_id\":$cert,\"submit\":false,\"trainees_total\":30,\"faculty\":\"<p>师资情况</p>\",\"venue\":\"<p>场地情况</p>\",\"majors\":[]}"
draft=$(curl -s -H "Cookie: $school_cookie" -H "X-CSRF-Token: $school_csrf" \
  -H 'content-type: application/json' -d "$body" localhost:18999/api/declarations |
  grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
[ -n "$draft" ] || { echo "bench: could not save a draft" >&2; exit 1; }

# every worker makes its Lua state on its first request: not in a figure
wrk -t2 -c"$threads" -d2s -H "Cookie: $school_cookie" http://127.0.0.1:18999/api/plans >/dev/null

# ---- measuring ---------------------------------------------------------
ms() { # wrk's latency ("812.00us", "1.20ms", "2.01s") -> ms
  echo "$1" | awk '/us$/ {printf "%.2f", $0 / 1000; next} /ms$/ {printf "%.2f", $0 + 0; next}
                   /s$/ {printf "%.2f", $0 * 1000; next} {print "?"}'
}
measure() { # url [wrk args...] -> "rate p99_ms non2xx" (WRK_C connections)
  local url=$1 out
  shift
  out=$(wrk -t2 -c"${WRK_C:-$conns}" -d"${secs}s" --timeout 10s --latency "$@" "$url")
  echo "$out" | sed 's/^/    /' >&2
  echo "$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')" \
       "$(ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")" \
       "$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')"
}
row() { # name rate p99 anchor_rate anchor_name non2xx
  printf '%-42s %9.0f %9s ms %7.2fx %s%s\n' "$1" "$2" "$3" "$(echo "$2 / $4" | bc -l)" "$5" \
    "${6:+  ($6 non-2xx!)}"
}
echo "== $host, wrk -t2 -c$conns ${secs}s, $threads workers, $ndecl declarations" >&2
printf '%-42s %9s %12s %8s\n' "" "req/s" "p99" "ratio"
echo "== anchor: bare civetweb hello" >&2
read -r hello hello_p99 _ <<<"$(measure http://127.0.0.1:18998/)"
row "civetweb hello (anchor)" "$hello" "$hello_p99" "$hello" "hello"
echo "== anchor: raw SQLite, one INSERT per COMMIT, synchronous=FULL, WAL" >&2
read -r raw raw_p99 <<<"$(bin/bench-sqlite "$dir/raw.db" "$secs")"
row "raw SQLite insert+commit (anchor)" "$raw" "$raw_p99" "$raw" "raw"

get() { # name path cookie-or-auth-header anchor anchor_name
  local r p n
  echo "== $1 (${WRK_C:-$conns} connections)" >&2
  read -r r p n <<<"$(measure "http://127.0.0.1:18999$2" -H "$3")"
  row "$1" "$r" "$p" "$4" "$5" "$n"
}
get "GET /healthz" /healthz "X-Bench: 1" "$hello" hello
get "GET /api/eligibility (token)" "/api/eligibility?$elig" "Authorization: Bearer $token" "$hello" hello
get "GET /api/plans (school)" /api/plans "Cookie: $school_cookie" "$hello" hello
echo "== PUT /api/declarations/$draft (draft save)" >&2
read -r r p n <<<"$(BENCH_COOKIE=$school_cookie BENCH_CSRF=$school_csrf BENCH_BODY=$body \
  measure "http://127.0.0.1:18999/api/declarations/$draft" -s tests/bench/put.lua)"
row "PUT draft save (durable)" "$r" "$p" "$raw" raw "$n"
export WRK_C=$list_conns
get "GET admin list p1, c=$list_conns ($ndecl)" "/api/admin/declarations?page=1&size=20" \
  "Cookie: $prov_cookie" "$hello" hello
get "GET admin list p500, c=$list_conns" "/api/admin/declarations?page=500&size=20" \
  "Cookie: $prov_cookie" "$hello" hello
get "GET admin list pending, c=$list_conns" "/api/admin/declarations?status=pending&page=1&size=20" \
  "Cookie: $prov_cookie" "$hello" hello
get "GET plan statistics, c=$list_conns" "/api/admin/plans/$stats_plan/stats" "Cookie: $prov_cookie" "$hello" hello
get "GET statistics by year, c=$list_conns" /api/admin/stats/years "Cookie: $prov_cookie" "$hello" hello
unset WRK_C
kill "${pids[@]}" 2>/dev/null || true
wait "$server" 2>/dev/null || true
pids=()
sleep 0.2
# group commit at work (a build without the write queue prints nothing)
sed -n 's/^db: [^:]*: /writer: /p' "$dir/server.log"

# ---- instruction counts (repeatable, unlike seconds) --------------------
need valgrind valgrind
HOST_BIN=$host HOST_DB=$dir/p.db BENCH_ELIG=$elig BENCH_TOKEN=$token tests/bench/callgrind.sh
