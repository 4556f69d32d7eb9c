/*
 * http: civetweb server, routing and the access log; the bodies are read
 * by http_body.c, the metrics kept by http_metrics.c, answers reused by
 * http_reuse.c.
 * A worker thread takes a trusted Lua state from the pool (vm_pool.h) for
 * each /api/ request and gives it back once the answer is copied out of it
 * (a large one: once it is sent).
 * Uses: civetweb, peer, vm, vm_pool, db, assets, http_body, http_metrics,
 * http_reply, http_reuse, pthreads.
 */
#include "http.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <lua.h>

#include "assets.h"
#include "db.h"
#include "http_body.h"
#include "http_metrics.h"
#include "http_reply.h"
#include "http_reuse.h"
#include "peer.h"
#include "vm.h"
#include "vm_pool.h"

static struct mg_context *g_ctx;
static atomic_int g_inflight; /* requests between begin and end */
static atomic_int g_draining; /* stopping: new requests get 503 */
static long g_body_ms = HTTP_BODY_TIMEOUT_MS; /* a whole body arrives within */
/* answers up to this size are copied out of their state before written */
#define HTTP_OWN_MAX (256 * 1024)
/* how long a request waits for a trusted state before 503 */
static long g_state_wait_ms = HTTP_REQUEST_TIMEOUT_MS;

/* Per worker thread. */
static __thread struct timespec t_start;
static __thread char t_route[96];
static __thread char t_client[PEER_ADDR_LEN]; /* of the request */

/* ---- responses ------------------------------------------------------ */

static void send_body(struct mg_connection *conn, int status, const char *ctype,
                      const char *body, size_t len, int nh,
                      const char *const *names, const char *const *values,
                      int close) {
  http_header h[3 + VM_MAX_HEADERS];
  int i, n = 0;
  h[n++] = (http_header){"Content-Type", ctype};
  h[n++] = (http_header){"Cache-Control", "no-store"};
  h[n++] = (http_header){"X-Content-Type-Options", "nosniff"};
  for (i = 0; i < nh && i < VM_MAX_HEADERS; i++)
    h[n++] = (http_header){names[i], values[i]};
  http_reply(conn, status, h, n, body, len, close);
}

/* The JSON error of docs/api.md; close adds "Connection: close". */
static void send_error_ex(struct mg_connection *conn, int status,
                          const char *code, const char *message, int close) {
  char body[512];
  int n = snprintf(body, sizeof body,
                   "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                   message);
  send_body(conn, status, "application/json; charset=utf-8", body, (size_t)n,
            0, NULL, NULL, close);
}

static void send_error(struct mg_connection *conn, int status, const char *code,
                       const char *message) {
  send_error_ex(conn, status, code, message, 0);
}

/* ---- handlers ------------------------------------------------------- */

/* Copies r's strings (borrowed from a state's stack) into one allocation
 * and points r at it. Returns it (the caller frees it after r's last
 * use), or NULL with r unchanged when there is no memory. */
static char *own_response(vm_response *r) {
  size_t need = r->body_len + strlen(r->content_type) + strlen(r->route) + 2;
  char *mem, *p;
  int i;
  for (i = 0; i < r->nheaders; i++)
    need += strlen(r->header_names[i]) + strlen(r->header_values[i]) + 2;
  if (!(p = mem = malloc(need))) return NULL;
  memcpy(p, r->body, r->body_len);
  r->body = p;
  p += r->body_len;
#define OWN(field)                                                           \
  do {                                                                       \
    size_t n_ = strlen(field) + 1;                                           \
    memcpy(p, field, n_);                                                    \
    (field) = p;                                                             \
    p += n_;                                                                 \
  } while (0)
  OWN(r->content_type);
  OWN(r->route);
  for (i = 0; i < r->nheaders; i++) {
    OWN(r->header_names[i]);
    OWN(r->header_values[i]);
  }
#undef OWN
  assert((size_t)(p - mem) == need);
  return mem;
}

/* For a bearer token's GET without a body: its reuse key (http_reuse.h)
 * in key and the data version it is answered under in *version (the
 * request's read transaction begins here). Returns the key's length, or 0:
 * the answer is not looked up nor kept. */
static size_t reusable(lua_State *L, const struct mg_request_info *ri,
                       size_t body_len, int uploading, char *key, size_t size,
                       long long *version) {
  const char *auth = NULL;
  int i;
  if (body_len || uploading || strcmp(ri->request_method, "GET") != 0)
    return 0;
  for (i = 0; i < ri->num_headers; i++)
    if (strcasecmp(ri->http_headers[i].name, "Authorization") == 0) {
      if (auth) return 0; /* two: app.lua reads one of them */
      auth = ri->http_headers[i].value;
    }
  if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return 0;
  if (db_request_version(L, version) != 0) return 0;
  return http_reuse_key(key, size, ri->local_uri, ri->query_string, auth);
}

static int handle_api(struct mg_connection *conn,
                      const struct mg_request_info *ri) {
  char *body = NULL;
  size_t body_len = 0;
  vm_request req;
  vm_response resp;
  lua_State *L;
  char *owned;
  const char *names[64], *values[64];
  char err[1024], key[HTTP_REUSE_MAX_KEY + 1];
  long long version = 0;
  size_t reuse_len;
  int i, status, uploading;
  http_upload upload; /* its data is body */

  memset(&upload, 0, sizeof upload);
  uploading = http_is_upload(conn, ri);
  if (uploading) {
    status = http_read_upload(conn, &t_start, g_body_ms, &upload);
    body = upload.data;
    body_len = upload.len;
    if (status != 0) free(body);
  } else
    status = http_read_body(conn, &t_start, g_body_ms, &body, &body_len);
  if (status != 0) {
    snprintf(t_route, sizeof t_route, "%s", "body");
    send_error_ex(conn, status,
                  status == 413   ? "too_large"
                  : status == 408 ? "timeout"
                  : status == 401 ? "unauthenticated"
                  : status == 411 ? "length_required"
                                  : "bad_request",
                  status == 413   ? (uploading ? HTTP_UPLOAD_TOO_LARGE : "请求内容过大")
                  : status == 408 ? "请求内容未能及时收到"
                  : status == 401 ? "请先登录"
                  : status == 411 ? "上传须注明内容长度"
                                  : "请求无法读取",
                  status == 408 || status == 401 || status == 411);
    /* civetweb would otherwise read the rest of the body first, as slowly
     * as it comes */
    if (status == 408 || status == 401 || status == 411)
      mg_close_connection(conn);
    return status;
  }
  if (!(L = vm_pool_take(g_state_wait_ms, err, sizeof err))) {
    free(body);
    if (!err[0]) { /* every state stayed taken */
      snprintf(t_route, sizeof t_route, "%s", "busy");
      send_error(conn, 503, "unavailable", "服务繁忙，请稍后再试");
      return 503;
    }
    fprintf(stderr, "worker: %s\n", err);
    send_error(conn, 500, "internal", "服务器内部错误");
    return 500;
  }
  memset(&req, 0, sizeof req);
  req.method = ri->request_method;
  req.path = ri->local_uri;
  req.query = ri->query_string;
  req.remote = t_client;
  req.body = body;
  req.body_len = body_len;
  if (uploading) req.upload_name = upload.name;
  for (i = 0; i < ri->num_headers && i < 64; i++) {
    names[i] = ri->http_headers[i].name;
    values[i] = ri->http_headers[i].value;
  }
  req.nheaders = i;
  req.header_names = names;
  req.header_values = values;
  reuse_len = reusable(L, ri, body_len, uploading, key, sizeof key, &version);
  if (reuse_len) {
    const http_reused *a = http_reuse_get(L, key, reuse_len, version);
    if (a) {
      /* copied out: the state goes back before a slow client is written */
      char kept[HTTP_REUSE_MAX_BODY], ctype[HTTP_REUSE_MAX_NAME + 1];
      size_t len = a->body_len;
      status = a->status;
      memcpy(kept, a->body, len);
      snprintf(ctype, sizeof ctype, "%s", a->content_type);
      snprintf(t_route, sizeof t_route, "%s", a->route);
      db_request_end(L); /* the read transaction the version began */
      vm_pool_give(L);
      free(body);
      send_body(conn, status, ctype, kept, len, 0, NULL, NULL, 0);
      return status;
    }
  }
  vm_handle(L, &req, &resp);
  free(body);
  if (reuse_len && resp.reuse && resp.nheaders == 0)
    http_reuse_put(L, key, reuse_len, version,
                   &(http_reused){resp.status, resp.body, resp.body_len,
                                  resp.content_type, resp.route});
  snprintf(t_route, sizeof t_route, "%s", resp.route);
  status = resp.status;
  /* the answer copied out of the state, which goes back before a slow
   * client is written; a large one (an export, an attachment) is written
   * first, so that copies held by slow clients stay bounded by the states
   * too (and without memory for the copy) */
  owned = resp.body_len <= HTTP_OWN_MAX ? own_response(&resp) : NULL;
  if (owned) {
    vm_request_done(L);
    vm_pool_give(L);
    L = NULL;
  }
  send_body(conn, resp.status, resp.content_type, resp.body, resp.body_len,
            resp.nheaders, resp.header_names, resp.header_values, 0);
  free(owned);
  if (L) {
    vm_request_done(L);
    vm_pool_give(L);
  }
  return status;
}

static int on_request(struct mg_connection *conn, void *cbdata) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  const char *uri = ri->local_uri;
  int status;
  (void)cbdata;
  if (http_ambiguous_length(ri)) {
    /* answered without reading the body, and the connection closed: what
     * follows on it could be read as another request */
    snprintf(t_route, sizeof t_route, "framing");
    send_error_ex(conn, 400, "bad_request",
                  "请求长度不明确（Content-Length 重复或与 Transfer-Encoding "
                  "同时出现）",
                  1);
    mg_close_connection(conn);
    return 400;
  }
  if (atomic_load(&g_draining)) {
    snprintf(t_route, sizeof t_route, "draining");
    send_error(conn, 503, "unavailable", "服务正在停止，请稍后再试");
    return 503;
  }
  if (strcmp(uri, "/healthz") == 0) {
    snprintf(t_route, sizeof t_route, "/healthz");
    send_body(conn, 200, "application/json", "{\"ok\":true}", 11, 0, NULL,
              NULL, 0);
    return 200;
  }
  if (strcmp(uri, "/metrics") == 0) {
    snprintf(t_route, sizeof t_route, "/metrics");
    http_metrics_send(conn);
    return 200;
  }
  if (strncmp(uri, "/api/", 5) == 0 || strcmp(uri, "/api") == 0)
    return handle_api(conn, ri);
  snprintf(t_route, sizeof t_route, "static");
  if ((status = assets_serve(conn)) != 0) return status; /* hashed assets */
  return 0; /* civetweb serves the file */
}

static int on_begin(struct mg_connection *conn) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  const char *xff[16];
  int i, n = 0;
  atomic_fetch_add(&g_inflight, 1);
  clock_gettime(CLOCK_MONOTONIC, &t_start);
  t_route[0] = '\0';
  for (i = 0; i < ri->num_headers && n < 16; i++)
    if (strcasecmp(ri->http_headers[i].name, "X-Forwarded-For") == 0)
      xff[n++] = ri->http_headers[i].value;
  peer_client(ri->remote_addr, xff, n, t_client, sizeof t_client);
  return 0;
}

static void on_end(const struct mg_connection *conn, int status) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  struct timespec now;
  double secs;
  char stamp[32], line[1024];
  int n;
  time_t wall = time(NULL);
  struct tm tm;
  atomic_fetch_sub(&g_inflight, 1);
  clock_gettime(CLOCK_MONOTONIC, &now);
  secs = (double)(now.tv_sec - t_start.tv_sec) +
         (double)(now.tv_nsec - t_start.tv_nsec) / 1e9;
  http_metrics_add(t_route[0] ? t_route : "static", status, secs);
  gmtime_r(&wall, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  /* one write(2) per line, outside stdio's lock: the workers do not queue
   * behind each other's writes (a line is appended whole, as stdio's
   * unbuffered stderr would) */
  n = snprintf(line, sizeof line, "%s access %s %s %s %d %.1fms %s\n", stamp,
               t_client, ri->request_method, ri->local_uri, status,
               secs * 1000.0, t_route[0] ? t_route : "static");
  if (n >= (int)sizeof line) {
    n = (int)sizeof line;
    line[n - 1] = '\n'; /* a path that long is cut, the line still ends */
  }
  if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
    /* nowhere to say so */
  }
}

static void on_exit_thread(const struct mg_context *ctx, int type, void *user) {
  (void)ctx;
  (void)type;
  (void)user;
}

/* Releases the connection's count. civetweb may report a close twice
 * (after mg_close_connection in a handler): the second finds nothing. The
 * request info is there once a request was begun to be read, which is
 * how every served connection ends. */
static void on_connection_close(const struct mg_connection *conn) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  peer_conn *c = ri ? peer_conn_of(ri->remote_addr, ri->remote_port) : NULL;
  if (c) peer_conn_close(c);
}

/* Errors civetweb answers itself (a request it cannot parse, a header
 * timeout, a missing file) in the JSON shape too. */
static int on_http_error(struct mg_connection *conn, int status,
                         const char *errmsg) {
  const char *code = "bad_request", *message = "请求无法读取";
  (void)errmsg;
  if (status < 400) return 1; /* no body (204, 304): civetweb's own */
  if (status == 404) code = "not_found", message = "页面不存在";
  if (status == 405) code = "method_not_allowed", message = "不支持的请求方法";
  if (status == 408) code = "timeout", message = "请求超时";
  if (status == 413 || status == 431)
    code = "too_large", message = "请求内容过大";
  if (status >= 500) code = "internal", message = "服务器内部错误";
  send_error_ex(conn, status, code, message, status != 404);
  return 0;
}

static int on_log(const struct mg_connection *conn, const char *message) {
  (void)conn;
  fprintf(stderr, "civetweb: %s\n", message);
  return 1;
}

/* The integer value of the environment variable name, def when unset;
 * -1 when it is not an integer in [lo, hi]. */
static long env_long(const char *name, long def, long lo, long hi) {
  const char *v = getenv(name);
  char *end;
  long n;
  if (!v || !*v) return def;
  n = strtol(v, &end, 10);
  return *end || n < lo || n > hi ? -1 : n;
}

/* The trusted states there may be by default: 16 per core (a request
 * waits for its commit's fsync, a rule evaluator or PostgreSQL with its
 * state held, so some more than cores), at least 8, at most one per
 * worker. */
static long default_states(int nthreads) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN), n;
  n = 16 * (cores < 1 ? 1 : cores);
  if (n < 8) n = 8;
  return n > nthreads ? nthreads : n;
}

int http_start(int port, int nthreads, char *err, size_t errlen) {
  char portstr[16], threads[16], timeout[16];
  long cap, timeout_ms, body_ms, states;
  struct mg_callbacks cb;
  struct stat st;
  const char *opts[32];
  int n = 0;

  snprintf(portstr, sizeof portstr, "127.0.0.1:%d", port);
  if (getenv("HOST_LISTEN_ALL")) snprintf(portstr, sizeof portstr, "%d", port);
  snprintf(threads, sizeof threads, "%d", nthreads);
  timeout_ms =
      env_long("HOST_REQUEST_TIMEOUT_MS", HTTP_REQUEST_TIMEOUT_MS, 100, 600000);
  cap = env_long("HOST_CONNECTIONS_PER_CLIENT", HTTP_CONNECTIONS_PER_CLIENT, 0,
                 1000000);
  body_ms =
      env_long("HOST_BODY_TIMEOUT_MS", HTTP_BODY_TIMEOUT_MS, 100, 3600000);
  states = env_long("HOST_LUA_STATES", default_states(nthreads), 1,
                    VM_POOL_MAX);
  if (timeout_ms < 0 || cap < 0 || body_ms < 0 || states < 0) {
    snprintf(err, errlen, "%s",
             timeout_ms < 0
                 ? "HOST_REQUEST_TIMEOUT_MS: not a number in 100..600000"
             : cap < 0 ? "HOST_CONNECTIONS_PER_CLIENT: not a number >= 0"
             : body_ms < 0
                 ? "HOST_BODY_TIMEOUT_MS: not a number in 100..3600000"
                 : "HOST_LUA_STATES: not a number in 1..256");
    return HTTP_ERR_START;
  }
  vm_pool_init((int)states);
  g_body_ms = body_ms;
  g_state_wait_ms = timeout_ms;
  if (peer_configure((int)cap, getenv("HOST_TRUSTED_PROXY"), err, errlen) !=
      PEER_OK)
    return HTTP_ERR_START;
  snprintf(timeout, sizeof timeout, "%ld", timeout_ms);
  opts[n++] = "listening_ports";
  opts[n++] = portstr;
  opts[n++] = "num_threads";
  opts[n++] = threads;
  opts[n++] = "enable_keep_alive";
  opts[n++] = "yes";
  opts[n++] = "tcp_nodelay";
  opts[n++] = "1";
  opts[n++] = "keep_alive_timeout_ms";
  opts[n++] = "5000";
  /* the whole header must arrive within it (and each read or write of a
   * body): a slow client holds a worker that long at most */
  opts[n++] = "request_timeout_ms";
  opts[n++] = timeout;
  opts[n++] = "enable_directory_listing";
  opts[n++] = "no";
  opts[n++] = "max_request_size";
  opts[n++] = "65536";
  /* index.html and the like revalidate; hashed assets: assets.c */
  opts[n++] = "static_file_cache_control";
  opts[n++] = "no-cache";
  /* The pages load only their own assets; Element Plus and wangEditor
   * need inline styles. */
  opts[n++] = "additional_header";
  opts[n++] = "Content-Security-Policy: default-src 'self'; "
              "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
              "font-src 'self' data:; object-src 'none'; base-uri 'self'; "
              "frame-ancestors 'none'\r\n"
              "X-Frame-Options: DENY\r\n"
              "Referrer-Policy: same-origin";
  if (stat(vm_paths.web, &st) == 0 && S_ISDIR(st.st_mode)) {
    opts[n++] = "document_root";
    opts[n++] = vm_paths.web;
  }
  opts[n] = NULL;
  memset(&cb, 0, sizeof cb);
  cb.begin_request = on_begin;
  cb.end_request = on_end;
  cb.exit_thread = on_exit_thread;
  cb.log_message = on_log;
  cb.connection_close = on_connection_close;
  cb.http_error = on_http_error;
  mg_init_library(0);
  if (!(g_ctx = mg_start(&cb, NULL, opts))) {
    snprintf(err, errlen, "cannot listen on port %d", port);
    mg_exit_library();
    return HTTP_ERR_START;
  }
  mg_set_request_handler(g_ctx, "/", on_request, NULL);
  return HTTP_OK;
}

void http_stop(void) {
  struct timespec pause = {0, 10 * 1000 * 1000};
  int waited;
  if (!g_ctx) return;
  /* civetweb's mg_stop cuts off responses still being written, so first
   * let the requests in flight finish (new ones get 503), 30 s at most. */
  atomic_store(&g_draining, 1);
  for (waited = 0; atomic_load(&g_inflight) > 0 && waited < 3000; waited++)
    nanosleep(&pause, NULL);
  mg_stop(g_ctx);
  g_ctx = NULL;
  vm_pool_close(); /* every worker has stopped: no state is taken */
  mg_exit_library();
}
