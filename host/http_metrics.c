/*
 * http_metrics: request counts, latencies and the /metrics answer; see
 * http_metrics.h.
 * Uses: civetweb, sqlite3, rules, peer, http_reply, http_reuse, vm_pool,
 * util, pthreads.
 */
#include "http_metrics.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>
#include <sqlite3.h>

#include "db.h"
#include "http_reply.h"
#include "http_reuse.h"
#include "peer.h"
#include "rules.h"
#include "util.h"
#include "vm.h"
#include "vm_pool.h"

#define HTTP_ROUTES HTTP_METRICS_ROUTES

static const double BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1.0,  2.5,   5.0};
#define NBUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

static pthread_mutex_t m_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char route[96];
  int status;
  unsigned long count;
} m_req[HTTP_ROUTES];
static int m_nreq;
/* (route, status) -> 1 + its index in m_req, by open addressing: a
 * request's count is found without a walk over every route */
#define SLOTS (2 * HTTP_ROUTES)
static short m_slot[SLOTS];
static unsigned long m_bucket[NBUCKETS + 1], m_count;
static double m_sum;

void http_metrics_add(const char *route, int status, double secs) {
  int i = -1;
  size_t b, len = strlen(route);
  unsigned h =
      (util_fnv1a32(route, len) ^ (unsigned)status * 2654435761u) % SLOTS;
  pthread_mutex_lock(&m_lock);
  for (; m_slot[h]; h = (h + 1) % SLOTS) {
    int k = m_slot[h] - 1;
    if (m_req[k].status == status && strcmp(m_req[k].route, route) == 0) {
      i = k;
      break;
    }
  }
  if (i < 0 && m_nreq < HTTP_ROUTES) { /* m_slot[h] is free: SLOTS > routes */
    i = m_nreq++;
    snprintf(m_req[i].route, sizeof m_req[i].route, "%s", route);
    m_req[i].status = status;
    m_slot[h] = (short)(i + 1);
  }
  if (i >= 0) m_req[i].count++;
  for (b = 0; b < NBUCKETS && secs > BUCKETS[b]; b++)
    ;
  m_bucket[b]++;
  m_count++;
  m_sum += secs;
  pthread_mutex_unlock(&m_lock);
}

void http_metrics_send(struct mg_connection *conn) {
  char *buf;
  size_t cap = 64 * 1024 + HTTP_ROUTES * 160, len = 0;
  unsigned long cum = 0;
  size_t b;
  int i;
  if (!(buf = malloc(cap))) {
    mg_send_http_error(conn, 500, "out of memory");
    return;
  }
#define OUT(...) len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__)
  OUT("# HELP http_requests_total Requests by route and status.\n");
  OUT("# TYPE http_requests_total counter\n");
  pthread_mutex_lock(&m_lock);
  for (i = 0; i < m_nreq; i++)
    OUT("http_requests_total{route=\"%s\",status=\"%d\"} %lu\n", m_req[i].route,
        m_req[i].status, m_req[i].count);
  OUT("# HELP http_request_duration_seconds Request latency.\n");
  OUT("# TYPE http_request_duration_seconds histogram\n");
  for (b = 0; b < NBUCKETS; b++) {
    cum += m_bucket[b];
    OUT("http_request_duration_seconds_bucket{le=\"%g\"} %lu\n", BUCKETS[b],
        cum);
  }
  cum += m_bucket[NBUCKETS];
  OUT("http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
  OUT("http_request_duration_seconds_sum %.6f\n", m_sum);
  OUT("http_request_duration_seconds_count %lu\n", m_count);
  pthread_mutex_unlock(&m_lock);
  OUT("# HELP rules_generation Generation of the rule set in force.\n");
  OUT("# TYPE rules_generation gauge\nrules_generation %ld\n",
      rules_generation());
  OUT("# HELP rules_failures_total Rule calls that failed.\n");
  OUT("# TYPE rules_failures_total counter\nrules_failures_total %ld\n",
      rules_failures());
  OUT("# HELP http_connections_refused_total Connections over the "
      "per-address cap.\n");
  OUT("# TYPE http_connections_refused_total counter\n"
      "http_connections_refused_total %lu\n",
      peer_refused());
  {
    int made, max;
    unsigned long waits, timeouts;
    vm_pool_stats(&made, &max, &waits, &timeouts);
    OUT("# HELP host_lua_states Trusted Lua states made (each serves one "
        "request at a time).\n");
    OUT("# TYPE host_lua_states gauge\nhost_lua_states %d\n", made);
    OUT("# HELP host_lua_states_max The most there may be "
        "(HOST_LUA_STATES).\n");
    OUT("# TYPE host_lua_states_max gauge\nhost_lua_states_max %d\n", max);
    OUT("# HELP host_lua_state_waits_total Requests that waited for a state "
        "given back.\n");
    OUT("# TYPE host_lua_state_waits_total counter\n"
        "host_lua_state_waits_total %lu\n",
        waits);
    OUT("# HELP host_lua_state_timeouts_total Requests answered 503: no "
        "state came back within HOST_REQUEST_TIMEOUT_MS.\n");
    OUT("# TYPE host_lua_state_timeouts_total counter\n"
        "host_lua_state_timeouts_total %lu\n",
        timeouts);
  }
  OUT("# HELP http_answers_reused_total Answers given again without "
      "running the handler (the same request, the same data).\n");
  OUT("# TYPE http_answers_reused_total counter\n"
      "http_answers_reused_total %lu\n",
      http_reuse_hits());
  if (!db_is_pg(vm_paths.db)) { /* on PostgreSQL SQLite holds nothing */
    OUT("# HELP sqlite_memory_bytes SQLite's memory in use (page caches, "
        "schemas, prepared statements of every connection).\n");
    OUT("# TYPE sqlite_memory_bytes gauge\nsqlite_memory_bytes %lld\n",
        (long long)sqlite3_memory_used());
    OUT("# HELP sqlite_memory_peak_bytes The most SQLite has had in use.\n");
    OUT("# TYPE sqlite_memory_peak_bytes gauge\nsqlite_memory_peak_bytes "
        "%lld\n",
        (long long)sqlite3_memory_highwater(0));
  }
  OUT("# HELP rules_evaluator_kills_total Rule evaluators killed (deadline "
      "missed, or died).\n");
  OUT("# TYPE rules_evaluator_kills_total counter\n"
      "rules_evaluator_kills_total %ld\n",
      rules_evaluator_kills());
#undef OUT
  assert(len < cap); /* the buffer holds the whole answer */
  {
    const http_header h[] = {
        {"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    http_reply(conn, 200, h, 1, buf, len, 0);
  }
  free(buf);
}
