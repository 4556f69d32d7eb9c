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
# Then the same endpoints on PostgreSQL (tests/bench/pg.sh: a throwaway
# PostgreSQL 15 cluster, fsync and synchronous_commit on; the same data,
# copied from the SQLite file): a second server on it, each endpoint
# measured right after its SQLite figure, its line below it with the
# ratio to that figure. BENCH_PG=0 skips it (so does a machine without
# postgresql-15, saying so). Then instruction counts (callgrind) for one
# rule evaluation and one eligibility answer (in process: the same on
# either database). HOST_BIN=path measures another build (a "before").
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
source tests/bench/pg.sh
pg=${BENCH_PG:-1}
if [ "$pg" != 0 ] && ! pg_available; then
  echo "bench: no PostgreSQL 15 in $pg_bin (make deps installs postgresql-15): SQLite only" >&2
  pg=0
fi
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; pg_stop; rm -rf "$dir"' EXIT
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
# 5,000 distinct questions (approved and pending declarations, each of
# their certificate's majors), for eligibility with every answer computed
q "SELECT 'school=' || s.code || '&certificate=' || d.certificate_id || '&year=' || p.year
          || '&major=' || cm.major_code
   FROM declarations d JOIN schools s ON s.id = d.school_id JOIN plans p ON p.id = d.plan_id
   JOIN certificate_majors cm ON cm.certificate_id = d.certificate_id
   WHERE d.status IN ('approved', 'pending') ORDER BY d.id % 7, d.id, cm.major_code
   LIMIT 5000" >"$dir/questions"
if [ "$pg" != 0 ]; then
  # the same data on PostgreSQL: the demo seeded there (the same ids: the
  # seed inserts in one order), then the generated plans and declarations
  # copied row by row with their ids (the counts kept by the triggers as
  # on SQLite), checked equal, and analyzed (what autovacuum would do
  # within a minute, done before a figure rather than during one)
  pg_start
  pg_psql postgres -c "CREATE DATABASE bench"
  pg_db=$(pg_uri bench)
  bin/host seed --demo --db "$pg_db" >/dev/null
  generated="title LIKE '压测计划 %'"
  pg_copy "$dir/p.db" bench plans "$generated"
  pg_copy "$dir/p.db" bench declarations "plan_id IN (SELECT id FROM plans WHERE $generated)"
  for t in "declarations ORDER BY id" "declaration_counts ORDER BY 1, 2, 3, 4, 5" \
           "pilot_counts ORDER BY 1, 2, 3, 4"; do
    [ "$(q "SELECT * FROM $t" | md5sum)" = "$(pg_psql bench -c "SELECT * FROM $t" | md5sum)" ] ||
      { echo "bench: PostgreSQL's ${t%% *} differ from SQLite's" >&2; exit 1; }
  done
  pg_psql bench -c "VACUUM ANALYZE"
  # shellcheck disable=SC2034 # read as ${pg_}token by hdr
  pg_token=$(bin/host token add --name bench --db "$pg_db" | grep -o 'tok_[0-9a-f]*')
  pq() { pg_psql bench -c "$1"; }
  if [ "$(pq "SELECT 'school=' || s.code || '&certificate=' || d.certificate_id || '&year=' || p.year
                     || '&major=' || cm.major_code
              FROM declarations d JOIN schools s ON s.id = d.school_id JOIN plans p ON p.id = d.plan_id
              JOIN certificate_majors cm ON cm.certificate_id = d.certificate_id
              WHERE d.status = 'approved' ORDER BY d.id LIMIT 1")" != "$elig" ] ||
     [ "$(pq "SELECT min(id) FROM plans WHERE $generated")" != "$stats_plan" ]; then
    echo "bench: PostgreSQL's ids differ from SQLite's" >&2
    exit 1
  fi
fi

# a server left on one of our ports would be measured instead of ours
for port in 18996 18998 18999; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "bench: port $port is taken (a server left running?): stop it first" >&2
    exit 1
  fi
done
bin/bench-hello 127.0.0.1:18998 "$threads" & pids+=($!)
# wrk's 64 connections come from one address: no per-address cap here
HOST_CONNECTIONS_PER_CLIENT=0 HOST_DB_STATS=1 "$host" serve --port 18999 --threads "$threads" \
  --db "$dir/p.db" 2>"$dir/server.log" & pids+=($!)
server=$!
if [ "$pg" != 0 ]; then
  # the same server on PostgreSQL, at 18996 (one connection per worker)
  HOST_CONNECTIONS_PER_CLIENT=0 HOST_DB_STATS=1 "$host" serve --port 18996 --threads "$threads" \
    --db "$pg_db" 2>"$dir/server-pg.log" & pids+=($!)
  server_pg=$!
fi
ready() { # port
  for _ in $(seq 100); do curl -fs "localhost:$1/healthz" >/dev/null && return; sleep 0.1; done
  echo "bench: no server at $1" >&2
  exit 1
}
login() { # port username -> "cookie csrf"
  local out
  out=$(curl -s -D - -H 'content-type: application/json' \
    -d "{\"username\":\"$2\",\"password\":\"Demo12345\"}" "localhost:$1/api/login")
  echo "$(echo "$out" | sed -n 's/^[Ss]et-[Cc]ookie: \(sid=[0-9a-f]*\).*/\1/p')" \
       "$(echo "$out" | grep -o '"csrf_token":"[^"]*"' | cut -d'"' -f4)"
}
# set by prepare (the cookies also read by hdr, by name)
# shellcheck disable=SC2034
body='' school_cookie='' school_csrf='' prov_cookie='' draft=''
# shellcheck disable=SC2034
pg_school_cookie='' pg_school_csrf='' pg_prov_cookie='' pg_draft=''
prepare() { # port prefix: sets ${prefix}school_cookie, _csrf, prov_cookie, draft (and body)
  local sc scsrf pc d plan cert
  ready "$1"
  read -r sc scsrf <<<"$(login "$1" school441)"
  read -r pc _ <<<"$(login "$1" province44)"
  if [ -z "$body" ]; then # the first server's first plan (the same ids on both)
    plan=$(curl -s -H "Cookie: $sc" "localhost:$1/api/plans" |
      grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
    cert=$(q "SELECT id FROM certificates ORDER BY id LIMIT 1")
    body="{\"plan_id\":$plan,\"certificate_id\":$cert,\"submit\":false,\"trainees_total\":30,\"faculty\":\"<p>师资情况</p>\",\"venue\":\"<p>场地情况</p>\",\"majors\":[]}"
  fi
  d=$(curl -s -H "Cookie: $sc" -H "X-CSRF-Token: $scsrf" \
    -H 'content-type: application/json' -d "$body" "localhost:$1/api/declarations" |
    grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
  [ -n "$d" ] || { echo "bench: could not save a draft at $1" >&2; exit 1; }
  printf -v "${2}school_cookie" %s "$sc"
  printf -v "${2}school_csrf" %s "$scsrf"
  printf -v "${2}prov_cookie" %s "$pc"
  printf -v "${2}draft" %s "$d"
  # every worker makes its Lua state (on PostgreSQL, opens its connection
  # too) on its first request: not in a figure
  wrk -t2 -c"$threads" -d2s -H "Cookie: $sc" "http://127.0.0.1:$1/api/plans" >/dev/null
}
prepare 18999 ""
[ "$pg" = 0 ] || prepare 18996 pg_

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
pg_row() { # rate p99 sqlite_rate non2xx: below a line, its figure on PostgreSQL
  row "  on PostgreSQL" "$1" "$2" "$3" SQLite "${4:-}"
}
echo "== $host, wrk -t2 -c$conns ${secs}s, $threads workers, $ndecl declarations" >&2
printf '%-42s %9s %12s %8s\n' "" "req/s" "p99" "ratio"
echo "== anchor: bare civetweb hello" >&2
read -r hello hello_p99 _ <<<"$(measure http://127.0.0.1:18998/)"
row "civetweb hello (anchor)" "$hello" "$hello_p99" "$hello" "hello"
echo "== anchor: raw SQLite, one INSERT per COMMIT, synchronous=FULL, WAL" >&2
read -r raw raw_p99 <<<"$(bin/bench-sqlite "$dir/raw.db" "$secs")"
row "raw SQLite insert+commit (anchor)" "$raw" "$raw_p99" "$raw" "raw"
if [ "$pg" != 0 ]; then
  echo "== raw PostgreSQL, one INSERT per COMMIT, one client (pgbench)" >&2
  pg_raw bench "$secs" >"$dir/pg_raw"
  read -r r p <"$dir/pg_raw"
  pg_row "$r" "$p" "$raw"
fi

hdr() { # what prefix ("" SQLite's, pg_ PostgreSQL's) -> the request's header
  local v
  case $1 in
    token) v=${2}token; echo "Authorization: Bearer ${!v}" ;;
    school) v=${2}school_cookie; echo "Cookie: ${!v}" ;;
    province) v=${2}prov_cookie; echo "Cookie: ${!v}" ;;
    *) echo "X-Bench: 1" ;;
  esac
}
get() { # name path who(token|school|province|-) anchor anchor_name
  local r p n
  echo "== $1 (${WRK_C:-$conns} connections)" >&2
  read -r r p n <<<"$(measure "http://127.0.0.1:18999$2" -H "$(hdr "$3" "")")"
  row "$1" "$r" "$p" "$4" "$5" "$n"
  [ "$pg" != 0 ] || return 0
  local pr pp pn
  echo "== $1 on PostgreSQL (${WRK_C:-$conns} connections)" >&2
  read -r pr pp pn <<<"$(measure "http://127.0.0.1:18996$2" -H "$(hdr "$3" pg_)")"
  pg_row "$pr" "$pp" "$r" "$pn"
}
get "GET /healthz" /healthz - "$hello" hello
# one question asked again and again (exam registration asks the same for
# every candidate of a school, certificate and major): answered again while
# nothing commits (host/http_reuse.h); then distinct questions, each computed
get "GET /api/eligibility (token, one question)" "/api/eligibility?$elig" token "$hello" hello
echo "== GET /api/eligibility, 5,000 questions in turn" >&2
read -r r p n <<<"$(BENCH_QUESTIONS=$dir/questions BENCH_TOKEN=$token \
  measure http://127.0.0.1:18999 -s tests/bench/questions.lua)"
row "GET /api/eligibility (5,000 questions)" "$r" "$p" "$hello" hello "$n"
if [ "$pg" != 0 ]; then
  echo "== GET /api/eligibility, 5,000 questions in turn, on PostgreSQL" >&2
  read -r pr pp pn <<<"$(BENCH_QUESTIONS=$dir/questions BENCH_TOKEN=$pg_token \
    measure http://127.0.0.1:18996 -s tests/bench/questions.lua)"
  pg_row "$pr" "$pp" "$r" "$pn"
fi
get "GET /api/plans (school)" /api/plans school "$hello" hello
echo "== PUT /api/declarations/$draft (draft save)" >&2
read -r r p n <<<"$(BENCH_COOKIE=$school_cookie BENCH_CSRF=$school_csrf BENCH_BODY=$body \
  measure "http://127.0.0.1:18999/api/declarations/$draft" -s tests/bench/put.lua)"
row "PUT draft save (durable)" "$r" "$p" "$raw" raw "$n"
if [ "$pg" != 0 ]; then
  echo "== PUT /api/declarations/$pg_draft (draft save) on PostgreSQL" >&2
  read -r pr pp pn <<<"$(BENCH_COOKIE=$pg_school_cookie BENCH_CSRF=$pg_school_csrf BENCH_BODY=$body \
    measure "http://127.0.0.1:18996/api/declarations/$pg_draft" -s tests/bench/put.lua)"
  pg_row "$pr" "$pp" "$r" "$pn"
fi
export WRK_C=$list_conns
get "GET admin list p1, c=$list_conns ($ndecl)" "/api/admin/declarations?page=1&size=20" \
  province "$hello" hello
get "GET admin list p500, c=$list_conns" "/api/admin/declarations?page=500&size=20" \
  province "$hello" hello
get "GET admin list pending, c=$list_conns" "/api/admin/declarations?status=pending&page=1&size=20" \
  province "$hello" hello
get "GET plan statistics, c=$list_conns" "/api/admin/plans/$stats_plan/stats" province "$hello" hello
get "GET statistics by year, c=$list_conns" /api/admin/stats/years province "$hello" hello
unset WRK_C
echo "answers reused: $(curl -s localhost:18999/metrics | sed -n 's/^http_answers_reused_total //p')" \
  "(SQLite), $( [ "$pg" = 0 ] || curl -s localhost:18996/metrics |
  sed -n 's/^http_answers_reused_total //p') (PostgreSQL)"
kill "${pids[@]}" 2>/dev/null || true
wait "$server" 2>/dev/null || true
[ "$pg" = 0 ] || wait "$server_pg" 2>/dev/null || true
pids=()
sleep 0.2
# group commit at work (a build without the write queue prints nothing)
sed -n 's/^db: [^:]*: /writer: /p' "$dir/server.log"
if [ "$pg" != 0 ]; then
  # PostgreSQL's writes are SERIALIZABLE transactions, run again on a
  # serialization failure up to the driver's limit; past it, a 500
  n=$(grep -c 'could not serialize' "$dir/server-pg.log" || true)
  [ "$n" = 0 ] || echo "PostgreSQL: $n requests failed on serialization failures (40001), retries exhausted"
  pg_stop
fi

# ---- instruction counts (repeatable, unlike seconds) --------------------
need valgrind valgrind
HOST_BIN=$host HOST_DB=$dir/p.db BENCH_ELIG=$elig BENCH_TOKEN=$token tests/bench/callgrind.sh
