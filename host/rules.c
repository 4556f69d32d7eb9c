/*
 * rules: the province rule sets in force, reloads, and the `rules` module.
 *
 * The sources of the set in force are an immutable, reference-counted
 * rules_src, keyed by a hash of its names and texts. Rules never run in
 * this process: a call is a request to an evaluator process (evaluator.h)
 * that holds the set by key, loaded on its first use there; a reload
 * first loads the new set in an evaluator (which compiles and probes it
 * under the deadline) and only then makes it the set in force.
 * Uses: wire, evaluator, Lua 5.4, pthreads, POSIX dirent/stat.
 */
#include "rules.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "evaluator.h"
#include "evaluator_pool.h"
#include "sandbox.h"
#include "wire.h"

#define RULES_MAX_FILES SBX_MAX_FILES
#define RULES_MAX_SOURCE (1u << 20) /* bytes of one rule file */
#define RULES_ARG_MAX (1u << 20)    /* bytes of an encoded argument */

/* The sources of one rule set. Immutable once published. */
typedef struct rules_src {
  int refs; /* guarded by g_lock */
  int nfiles;
  struct {
    char *name;      /* "default" or "13"; owned */
    char *chunkname; /* "13.lua" or, for `rules check`, the path; owned */
    char *text;      /* owned */
    size_t len;
    long version_id; /* the stored version (0: a file of a directory) */
  } files[RULES_MAX_FILES];
  /* Provinces whose source did not load when the set was installed:
   * their calls fail (closed), never fall back to the defaults. */
  int nbroken;
  struct {
    char name[16];
    char err[512];
  } broken[RULES_MAX_FILES];
  char version[17]; /* FNV-1a 64 of names and texts: the set's key */
  long generation;
  time_t loaded_at;
} rules_src;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_reload_lock =
    PTHREAD_MUTEX_INITIALIZER; /* one at a time */
static rules_src *g_src;       /* in force; guarded by g_lock */
static char g_dir[1024]; /* rules_init's directory, if any */
static char g_last_error[1024]; /* guarded by g_lock */
static char g_last_file[16];    /* the set g_last_error is about */
static atomic_long g_generation;
static atomic_long g_failures;

/* ---- sources -------------------------------------------------------- */

static void src_release(rules_src *s) {
  int i, last;
  if (!s) return;
  pthread_mutex_lock(&g_lock);
  last = --s->refs == 0;
  pthread_mutex_unlock(&g_lock);
  if (!last) return;
  for (i = 0; i < s->nfiles; i++) {
    free(s->files[i].name);
    free(s->files[i].chunkname);
    free(s->files[i].text);
  }
  free(s);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      (size_t)n <= RULES_MAX_SOURCE && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)n + 1))) {
    if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
      buf[n] = '\0';
      *len = (size_t)n;
    } else {
      free(buf);
      buf = NULL;
    }
  }
  fclose(f);
  return buf;
}

/* Is name "default.lua" or "<two digits>.lua"? Writes the stem to stem. */
static int rule_file_name(const char *name, char *stem, size_t stemlen) {
  size_t len = strlen(name);
  if (len < 5 || strcmp(name + len - 4, ".lua") != 0) return 0;
  if (strcmp(name, "default.lua") == 0 ||
      (len == 6 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' &&
       name[1] <= '9')) {
    snprintf(stem, stemlen, "%.*s", (int)(len - 4), name);
    return 1;
  }
  return 0;
}

/* Adds the file at path as set stem, named chunkname in messages. */
static int src_add(rules_src *s, const char *stem, const char *path,
                   const char *chunkname, char *err, size_t errlen) {
  size_t len = 0;
  char *text;
  if (s->nfiles == RULES_MAX_FILES) {
    snprintf(err, errlen, "%s: too many rule files", chunkname);
    return RULES_ERR_IO;
  }
  if (!(text = slurp(path, &len))) {
    snprintf(err, errlen, "%s: cannot read (or larger than %u bytes)",
             chunkname, RULES_MAX_SOURCE);
    return RULES_ERR_IO;
  }
  s->files[s->nfiles].name = strdup(stem);
  s->files[s->nfiles].chunkname = strdup(chunkname);
  s->files[s->nfiles].text = text;
  s->files[s->nfiles].len = len;
  s->nfiles++;
  return RULES_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void src_version(rules_src *s) {
  uint64_t h = 1469598103934665603ull;
  int i;
  size_t k;
  for (i = 0; i < s->nfiles; i++) {
    for (k = 0; s->files[i].name[k]; k++)
      h = (h ^ (unsigned char)s->files[i].name[k]) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (k = 0; k < s->files[i].len; k++)
      h = (h ^ (unsigned char)s->files[i].text[k]) * 1099511628211ull;
  }
  snprintf(s->version, sizeof s->version, "%016llx", (unsigned long long)h);
}

/* Reads every rule file of dir, default first. Caller releases. */
static int src_read_dir(const char *dir, rules_src **out, char *err,
                        size_t errlen) {
  DIR *d = NULL;
  struct dirent *e;
  char *names[RULES_MAX_FILES];
  int n = 0, i, rc = RULES_ERR_IO;
  rules_src *s = calloc(1, sizeof *s);
  char stem[16], path[2048];

  *out = NULL;
  if (!s) goto done;
  s->refs = 1;
  if (!(d = opendir(dir))) {
    snprintf(err, errlen, "cannot open the rules directory");
    goto done;
  }
  while ((e = readdir(d)) && n < RULES_MAX_FILES - 1)
    if (rule_file_name(e->d_name, stem, sizeof stem) &&
        strcmp(stem, "default") != 0)
      names[n++] = strdup(e->d_name);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  snprintf(path, sizeof path, "%s/default.lua", dir);
  if ((rc = src_add(s, "default", path, "default.lua", err, errlen)) !=
      RULES_OK)
    goto done;
  for (i = 0; i < n; i++) {
    rule_file_name(names[i], stem, sizeof stem);
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if ((rc = src_add(s, stem, path, names[i], err, errlen)) != RULES_OK)
      goto done;
  }
  src_version(s);
  *out = s;
  s = NULL;
  rc = RULES_OK;
done:
  for (i = 0; i < n; i++)
    free(names[i]);
  if (d) closedir(d);
  src_release(s);
  return rc;
}

/* ---- requests to evaluators ------------------------------------------ */

static int put_load(wire_buf *b, const rules_src *s, int probe) {
  int i, rc = wire_frame_begin(b);
  if (rc == WIRE_OK) rc = wire_put_u8(b, 'L');
  if (rc == WIRE_OK) rc = wire_put_str(b, s->version, strlen(s->version));
  if (rc == WIRE_OK) rc = wire_put_u8(b, probe ? 1 : 0);
  if (rc == WIRE_OK) rc = wire_put_u32(b, (uint32_t)s->nfiles);
  for (i = 0; i < s->nfiles && rc == WIRE_OK; i++) {
    rc = wire_put_str(b, s->files[i].name, strlen(s->files[i].name));
    if (rc == WIRE_OK)
      rc =
          wire_put_str(b, s->files[i].chunkname, strlen(s->files[i].chunkname));
    if (rc == WIRE_OK) rc = wire_put_str(b, s->files[i].text, s->files[i].len);
  }
  if (rc == WIRE_OK) wire_frame_end(b);
  return rc;
}

/* Loads s in an evaluator (compiling and probing every set there) under
 * the deadline. Returns RULES_OK or an error with the message. */
static int try_set(rules_src *s, char *err, size_t errlen) {
  wire_buf req, reply;
  ev_req r = {"@load", &req, &reply, 0, NULL, NULL, NULL};
  int rc;
  wire_init(&req, EV_REQUEST_MAX);
  wire_init(&reply, EV_REPLY_MAX);
  r.deadline_ms = ev_deadline_ms();
  if (put_load(&req, s, 1) != WIRE_OK) {
    snprintf(err, errlen, "rules: the set is too large");
    rc = RULES_ERR_LOAD;
    goto done;
  }
  rc = ev_request(&r, err, errlen);
  if (rc != EV_OK) {
    if (rc == EV_ERR_TIMEOUT)
      snprintf(err + strlen(err), errlen - strlen(err),
               " while loading the rule files");
    rc = RULES_ERR_LOAD;
  } else if (reply.len > 0 && reply.data[0] == 'E') {
    rc = ev_reply_error(&reply, err, errlen) == SBX_ERR_SHAPE
             ? RULES_ERR_SHAPE
             : RULES_ERR_LOAD;
  } else if (reply.len < 1 || reply.data[0] != 'O') {
    snprintf(err, errlen, "rule evaluator answered out of turn");
    rc = RULES_ERR_LOAD;
  } else {
    rc = RULES_OK;
  }
done:
  wire_free(&req);
  wire_free(&reply);
  return rc;
}

/* ---- installing ------------------------------------------------------ */

/* The set an error message is about: the stem of its "NN.lua:" prefix. */
static void error_file(const char *err, char *stem, size_t stemlen) {
  const char *dot = strstr(err, ".lua");
  stem[0] = '\0';
  if (dot && dot - err < (long)stemlen && dot - err > 0)
    snprintf(stem, stemlen, "%.*s", (int)(dot - err), err);
}

/* Is err about the evaluator pool rather than the sources? */
static int pool_error(const char *err) {
  return strstr(err, "no evaluator came free") ||
         strstr(err, "cannot start an evaluator") || strstr(err, "socketpair");
}

/* Moves the province file name out of s into its broken list, with err.
 * Returns 0 when it cannot (the defaults, or no such file). */
static int src_break(rules_src *s, const char *name, const char *err) {
  int i;
  if (strcmp(name, "default") == 0) return 0;
  for (i = 0; i < s->nfiles && strcmp(s->files[i].name, name) != 0; i++)
    ;
  if (i == s->nfiles || s->nbroken == RULES_MAX_FILES) return 0;
  snprintf(s->broken[s->nbroken].name, sizeof s->broken[0].name, "%s", name);
  snprintf(s->broken[s->nbroken].err, sizeof s->broken[0].err, "%s", err);
  s->nbroken++;
  free(s->files[i].name);
  free(s->files[i].chunkname);
  free(s->files[i].text);
  memmove(&s->files[i], &s->files[i + 1],
          (size_t)(s->nfiles - i - 1) * sizeof s->files[0]);
  s->nfiles--;
  src_version(s);
  return 1;
}

/* Loads s in an evaluator; a province whose source fails is moved to the
 * broken list (its calls fail closed) and the rest loaded again. Returns
 * RULES_OK, or an error (the defaults failed, or the pool did). */
static int probe_set(rules_src *s, char *err, size_t errlen) {
  char file[16];
  int rc, tries;
  for (tries = 0; tries <= RULES_MAX_FILES; tries++) {
    if ((rc = try_set(s, err, errlen)) == RULES_OK) return RULES_OK;
    error_file(err, file, sizeof file);
    if (!file[0] || pool_error(err) || !src_break(s, file, err)) return rc;
  }
  return rc;
}

/* Makes s (probed) the set in force. generation > 0 is the stored rules'
 * generation; 0 takes the next one. Takes over the caller's reference. */
static void swap_in(rules_src *s, long generation) {
  rules_src *old;
  s->loaded_at = time(NULL);
  pthread_mutex_lock(&g_lock);
  s->generation =
      generation > 0 ? generation : atomic_load(&g_generation) + 1;
  old = g_src;
  g_src = s;
  if (s->nbroken)
    snprintf(g_last_error, sizeof g_last_error, "%s", s->broken[0].err);
  else
    g_last_error[0] = '\0';
  snprintf(g_last_file, sizeof g_last_file, "%s",
           s->nbroken ? s->broken[0].name : "");
  atomic_store(&g_generation, s->generation);
  pthread_mutex_unlock(&g_lock);
  src_release(old);
}

/* Installs the files of dir (the command line and the REPL without a
 * database; the server installs stored versions through rules.install). */
static int install_dir(char *err, size_t errlen) {
  rules_src *s = NULL;
  int rc;
  pthread_mutex_lock(&g_reload_lock);
  if ((rc = src_read_dir(g_dir, &s, err, errlen)) == RULES_OK &&
      (rc = probe_set(s, err, errlen)) == RULES_OK) {
    swap_in(s, 0);
    s = NULL;
  }
  pthread_mutex_unlock(&g_reload_lock);
  src_release(s);
  return rc;
}

int rules_init(const char *dir, char *err, size_t errlen) {
  snprintf(g_dir, sizeof g_dir, "%s", dir);
  atomic_store(&g_generation, 0);
  return install_dir(err, errlen) == RULES_OK ? RULES_OK : RULES_ERR_LOAD;
}

long rules_generation(void) {
  return atomic_load(&g_generation);
}
long rules_failures(void) {
  return atomic_load(&g_failures);
}
long rules_evaluator_kills(void) {
  return ev_kills();
}

void rules_shutdown(void) {
  rules_src *s;
  pthread_mutex_lock(&g_lock);
  s = g_src;
  g_src = NULL;
  pthread_mutex_unlock(&g_lock);
  src_release(s);
  ev_shutdown();
}

int rules_check_files(int n, char **files, const char *fallback_dir, char *err,
                      size_t errlen) {
  int i, rc = RULES_OK;
  for (i = 0; i < n && rc == RULES_OK; i++) {
    rules_src *s = calloc(1, sizeof *s);
    char dir[1024], stem[16], defpath[2048];
    const char *slash = strrchr(files[i], '/');
    const char *base = slash ? slash + 1 : files[i];
    if (!s) return RULES_ERR_IO;
    s->refs = 1;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - files[i]) : 1,
             slash ? files[i] : ".");
    if (strcmp(base, "default.lua") == 0) {
      rc = src_add(s, "default", files[i], files[i], err, errlen);
    } else {
      FILE *f;
      snprintf(defpath, sizeof defpath, "%s/default.lua", dir);
      if (!(f = fopen(defpath, "rb")))
        snprintf(defpath, sizeof defpath, "%s/default.lua", fallback_dir);
      else
        fclose(f);
      if (!rule_file_name(base, stem, sizeof stem))
        snprintf(stem, sizeof stem, "check");
      rc = src_add(s, "default", defpath, defpath, err, errlen);
      if (rc == RULES_OK)
        rc = src_add(s, stem, files[i], files[i], err, errlen);
    }
    if (rc == RULES_OK) {
      src_version(s);
      rc = try_set(s, err, errlen);
    }
    src_release(s);
  }
  return rc;
}

/* ---- the `rules` module --------------------------------------------- */

/* A state's buffers for requests and replies, freed with the state. */
typedef struct call_bufs {
  wire_buf req, reply, load;
  rules_src *pinned; /* the set this state's calls use, referenced; NULL:
                        the set in force at each call */
} call_bufs;

static const char *const BUFS_MT = "host.rules.bufs";

static int l_bufs_gc(lua_State *L) {
  call_bufs *b = luaL_checkudata(L, 1, BUFS_MT);
  wire_free(&b->req);
  wire_free(&b->reply);
  wire_free(&b->load);
  src_release(b->pinned);
  b->pinned = NULL;
  return 0;
}

static call_bufs *state_bufs(lua_State *L) {
  static const char BUFS_KEY = 'b';
  call_bufs *b;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &BUFS_KEY);
  b = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (b) return b;
  b = lua_newuserdatauv(L, sizeof *b, 0);
  wire_init(&b->req, RULES_ARG_MAX);
  wire_init(&b->reply, EV_REPLY_MAX);
  wire_init(&b->load, EV_REQUEST_MAX);
  b->pinned = NULL;
  luaL_setmetatable(L, BUFS_MT);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &BUFS_KEY);
  return b;
}

/* The set in force, referenced (caller releases), or NULL. */
static rules_src *src_in_force(void) {
  rules_src *s;
  pthread_mutex_lock(&g_lock);
  s = g_src;
  if (s) s->refs++;
  pthread_mutex_unlock(&g_lock);
  return s;
}

/* The set a call of this state uses, referenced (caller releases). */
static rules_src *src_for_call(call_bufs *b) {
  if (b->pinned) {
    pthread_mutex_lock(&g_lock);
    b->pinned->refs++;
    pthread_mutex_unlock(&g_lock);
    return b->pinned;
  }
  return src_in_force();
}

/* The error a broken province's calls fail with, or NULL. */
static const char *broken_error(const rules_src *s, const char *prov) {
  int i;
  for (i = 0; i < s->nbroken; i++)
    if (strcmp(s->broken[i].name, prov) == 0) return s->broken[i].err;
  return NULL;
}

/* ev_req's load: the 'L' frame of the set ud, compiled only (no file's
 * top level runs: a call's evaluator only compiles). */
static int load_frame(void *ud, wire_buf *frame) {
  wire_reset(frame, EV_REQUEST_MAX, -1);
  return put_load(frame, ud, 0) == WIRE_OK ? 0 : -1;
}

/* Sends the call in b->req, loading s there first if the evaluator lacks
 * it. Pure C: nothing here raises. Returns EV_OK with the reply in
 * b->reply, or an EV_ error with a message. */
static int call_evaluator(call_bufs *b, rules_src *s, const char *tenant,
                          char *err, size_t errlen) {
  ev_req r = {tenant, &b->req, &b->reply, ev_deadline_ms(), load_frame, s,
              &b->load};
  return ev_request(&r, err, errlen);
}

/* ---- the verdict memo ------------------------------------------------ */
/* A rule's answer depends on its set and its argument alone: the
 * evaluator keeps nothing from one call to the next, and the argument
 * carries the time (ctx.now, in seconds). So a worker may answer the same
 * request (the same bytes: set version, province, entry, argument) from a
 * short memo of its own instead of asking an evaluator again: the hot
 * path (GET /api/plans asks every plan's deadline) then mostly stays in
 * this process. Only answers are kept, never failures; HOST_RULE_MEMO_MS
 * (serve only, 1000 by default, 0 for none) bounds their age. */

#define MEMO_ENTRIES 512 /* per worker state; then it starts afresh */

static long g_memo_ms; /* 0: no memo (the CLI, the REPL, unit tests) */
static const char MEMO_KEY = 'm'; /* registry: request bytes -> {t, reply} */

void rules_set_memo(long ms) {
  g_memo_ms = ms > 0 ? ms : 0;
}

/* Pushes the memo table of L (made on first use). */
static void memo_table(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &MEMO_KEY) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 64);
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "#n"); /* no request frame is this short */
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &MEMO_KEY);
}

/* Pushes the memo's answer to b->req and returns 1, or returns 0. */
static int memo_get(lua_State *L, call_bufs *b) {
  wire_reader r;
  size_t n;
  const char *reply;
  if (!g_memo_ms) return 0;
  memo_table(L);                               /* memo */
  lua_pushlstring(L, b->req.data, b->req.len); /* memo key */
  if (lua_rawget(L, -2) != LUA_TTABLE) {       /* memo entry */
    lua_pop(L, 2);
    return 0;
  }
  lua_rawgeti(L, -1, 1); /* memo entry t */
  if (wire_now_ms() - lua_tointeger(L, -1) > g_memo_ms) {
    lua_pop(L, 3);
    return 0;
  }
  lua_rawgeti(L, -2, 2); /* memo entry t reply */
  reply = lua_tolstring(L, -1, &n);
  r.p = reply;
  r.end = reply + n;
  if (wire_get_value(&r, L) != WIRE_OK) { /* ... value */
    lua_pop(L, 4);
    return 0;
  }
  lua_replace(L, -5); /* value entry t reply */
  lua_pop(L, 3);      /* value */
  return 1;
}

/* Keeps the answer in b->reply for the request in b->req. */
static void memo_put(lua_State *L, call_bufs *b) {
  lua_Integer n;
  if (!g_memo_ms) return;
  memo_table(L); /* value memo */
  lua_getfield(L, -1, "#n");
  n = lua_tointeger(L, -1) + 1;
  lua_pop(L, 1);
  if (n > MEMO_ENTRIES) { /* start afresh */
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &MEMO_KEY);
    memo_table(L);
    n = 1;
  }
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "#n");
  lua_pushlstring(L, b->req.data, b->req.len); /* value memo key */
  lua_createtable(L, 2, 0);
  lua_pushinteger(L, wire_now_ms());
  lua_rawseti(L, -2, 1);
  lua_pushlstring(L, b->reply.data + 1, b->reply.len - 1);
  lua_rawseti(L, -2, 2);
  lua_rawset(L, -3); /* value memo */
  lua_pop(L, 1);     /* value */
}

/* rules.call(province, name, arg) -> result | nil, message
 * Runs set[name](arg) of the province (or the default set) in an
 * evaluator, in a fresh environment, under the deadline. A non-function
 * entry is returned as a value. */
static int l_rules_call(lua_State *L) {
  const char *prov = luaL_optstring(L, 1, "default");
  const char *name = luaL_checkstring(L, 2);
  int hasarg = !lua_isnoneornil(L, 3), rc = WIRE_OK;
  call_bufs *b = state_bufs(L);
  rules_src *s;
  char err[4096];
  wire_reader r;

  if (strlen(prov) >= 16 || strlen(name) >= 64)
    return luaL_error(L, "rules: bad province or entry name");
  if (!(s = src_for_call(b)))
    return luaL_error(L, "rules: no rule set is loaded");
  if (broken_error(s, prov)) {
    snprintf(err, sizeof err, "%s", broken_error(s, prov));
    src_release(s);
    atomic_fetch_add(&g_failures, 1);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  wire_reset(&b->req, RULES_ARG_MAX, 200000);
  rc = wire_frame_begin(&b->req);
  if (rc == WIRE_OK) rc = wire_put_u8(&b->req, 'C');
  if (rc == WIRE_OK) rc = wire_put_str(&b->req, s->version, strlen(s->version));
  if (rc == WIRE_OK) rc = wire_put_str(&b->req, prov, strlen(prov));
  if (rc == WIRE_OK) rc = wire_put_str(&b->req, name, strlen(name));
  if (rc == WIRE_OK) rc = wire_put_u8(&b->req, hasarg ? 1 : 0);
  if (rc == WIRE_OK && hasarg) rc = wire_put_value(&b->req, L, 3);
  if (rc != WIRE_OK) {
    src_release(s);
    return luaL_error(L, "rules: argument too large or too deep");
  }
  wire_frame_end(&b->req);
  if (memo_get(L, b)) {
    src_release(s);
    return 1;
  }
  rc = call_evaluator(b, s, prov, err, sizeof err);
  src_release(s);
  if (rc == EV_OK && b->reply.len >= 1 && b->reply.data[0] == 'O') {
    r.p = b->reply.data + 1;
    r.end = b->reply.data + b->reply.len;
    if (wire_get_value(&r, L) == WIRE_OK) {
      memo_put(L, b);
      return 1;
    }
    snprintf(err, sizeof err, "rule result malformed");
  } else if (rc == EV_OK && b->reply.len >= 1 && b->reply.data[0] == 'E') {
    ev_reply_error(&b->reply, err, sizeof err);
  } else if (rc == EV_OK) {
    snprintf(err, sizeof err, "rule evaluator answered out of turn");
  }
  atomic_fetch_add(&g_failures, 1);
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}

/* ---- sets from Lua ---------------------------------------------------- */

static const char *const SET_MT = "host.rules.set";

/* Reads {{name, text, version_id [, chunkname]}...} at idx (the defaults
 * first) into a new set. Raises on a malformed table. */
static rules_src *src_from_lua(lua_State *L, int idx) {
  rules_src *s;
  lua_Integer i, n;
  luaL_checktype(L, idx, LUA_TTABLE);
  n = luaL_len(L, idx);
  if (n < 1 || n > RULES_MAX_FILES)
    luaL_error(L, "rules: a set has 1 to %d files", RULES_MAX_FILES);
  if (!(s = calloc(1, sizeof *s))) luaL_error(L, "rules: out of memory");
  s->refs = 1;
  for (i = 1; i <= n; i++) {
    const char *name, *text, *chunk;
    size_t len;
    char stem[16], file[24];
    lua_geti(L, idx, i);
    if (!lua_istable(L, -1)) goto bad;
    lua_getfield(L, -1, "name");
    lua_getfield(L, -2, "text");
    lua_getfield(L, -3, "version_id");
    lua_getfield(L, -4, "chunkname");
    name = lua_tostring(L, -4);
    text = lua_tolstring(L, -3, &len);
    chunk = lua_tostring(L, -1);
    snprintf(file, sizeof file, "%s.lua", name ? name : "");
    if (!name || !text || len > RULES_MAX_SOURCE || strlen(name) >= 16 ||
        !rule_file_name(file, stem, sizeof stem) ||
        (i == 1) != (strcmp(name, "default") == 0))
      goto bad;
    s->files[s->nfiles].name = strdup(name);
    s->files[s->nfiles].chunkname = strdup(chunk ? chunk : file);
    s->files[s->nfiles].text = malloc(len + 1);
    if (s->files[s->nfiles].text) {
      memcpy(s->files[s->nfiles].text, text, len);
      s->files[s->nfiles].text[len] = '\0';
    }
    s->files[s->nfiles].len = len;
    s->files[s->nfiles].version_id = (long)lua_tointeger(L, -2);
    s->nfiles++;
    lua_pop(L, 5);
    if (!s->files[s->nfiles - 1].name || !s->files[s->nfiles - 1].chunkname ||
        !s->files[s->nfiles - 1].text) {
      src_release(s);
      luaL_error(L, "rules: out of memory");
    }
  }
  src_version(s);
  return s;
bad:
  src_release(s);
  luaL_error(L, "rules: file %d must be {name = \"default\" first, then "
                "two-digit province codes, text = source}", (int)i);
  return NULL;
}

/* Pushes s as a set handle (taking over the caller's reference). */
static void push_set(lua_State *L, rules_src *s) {
  rules_src **u = lua_newuserdatauv(L, sizeof *u, 0);
  *u = s;
  luaL_setmetatable(L, SET_MT);
}

static int l_set_gc(lua_State *L) {
  rules_src **u = luaL_checkudata(L, 1, SET_MT);
  src_release(*u);
  *u = NULL;
  return 0;
}

/* Pushes the broken provinces of s: {{province, error}...}. */
static void push_broken(lua_State *L, const rules_src *s) {
  int i;
  lua_createtable(L, s->nbroken, 0);
  for (i = 0; i < s->nbroken; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, s->broken[i].name);
    lua_setfield(L, -2, "province");
    lua_pushstring(L, s->broken[i].err);
    lua_setfield(L, -2, "error");
    lua_rawseti(L, -2, i + 1);
  }
}

/* rules.load(files) -> set, broken | nil, message
 * Loads and probes a set in an evaluator, without putting it in force:
 * a candidate to call with rules.using. broken lists the provinces whose
 * source did not load (their calls fail). */
static int l_rules_load(lua_State *L) {
  rules_src *s = src_from_lua(L, 1);
  char err[1024];
  if (probe_set(s, err, sizeof err) != RULES_OK) {
    src_release(s);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  push_set(L, s);
  push_broken(L, s);
  return 2;
}

/* rules.install(files [, generation]) -> true, broken | nil, message
 * Loads and probes the set, then makes it the set in force: calls after
 * this return use it; a state pinned to the old set keeps it until it
 * unpins (a request never sees two sets). Installs are serialised. */
static int l_rules_install(lua_State *L) {
  rules_src *s = src_from_lua(L, 1);
  long generation = (long)luaL_optinteger(L, 2, 0);
  char err[1024];
  int rc;
  pthread_mutex_lock(&g_reload_lock);
  rc = probe_set(s, err, sizeof err);
  if (rc == RULES_OK) {
    pthread_mutex_lock(&g_lock);
    s->refs++; /* for push_broken below */
    pthread_mutex_unlock(&g_lock);
    swap_in(s, generation);
  }
  pthread_mutex_unlock(&g_reload_lock);
  if (rc != RULES_OK) {
    src_release(s);
    pthread_mutex_lock(&g_lock);
    snprintf(g_last_error, sizeof g_last_error, "%s", err);
    error_file(err, g_last_file, sizeof g_last_file);
    pthread_mutex_unlock(&g_lock);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  push_broken(L, s);
  src_release(s);
  return 2;
}

/* rules.pin([set]) makes this state's calls use the set in force now (or
 * set, a rules.load handle) until rules.unpin(): a request decides under
 * one set from start to end. */
static int l_rules_pin(lua_State *L) {
  call_bufs *b = state_bufs(L);
  rules_src *s = NULL;
  if (!lua_isnoneornil(L, 1)) {
    rules_src **u = luaL_checkudata(L, 1, SET_MT);
    if (!(s = *u)) return luaL_error(L, "rules: the set was released");
    pthread_mutex_lock(&g_lock);
    s->refs++;
    pthread_mutex_unlock(&g_lock);
  } else {
    s = src_in_force();
  }
  src_release(b->pinned);
  b->pinned = s;
  return 0;
}

static int l_rules_unpin(lua_State *L) {
  call_bufs *b = state_bufs(L);
  src_release(b->pinned);
  b->pinned = NULL;
  return 0;
}

/* rules.using(set, fn, ...) -> what fn returns
 * Calls fn with this state's rule calls on set (a rules.load handle),
 * then puts back what was pinned before, also when fn raises. */
static int l_rules_using(lua_State *L) {
  rules_src **u = luaL_checkudata(L, 1, SET_MT);
  call_bufs *b = state_bufs(L);
  rules_src *before = b->pinned;
  int rc, n;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!*u) return luaL_error(L, "rules: the set was released");
  pthread_mutex_lock(&g_lock);
  (*u)->refs++;
  pthread_mutex_unlock(&g_lock);
  b->pinned = *u;
  lua_remove(L, 1);
  rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  src_release(b->pinned);
  b->pinned = before;
  if (rc != LUA_OK) return lua_error(L);
  n = lua_gettop(L);
  return n;
}

/* rules.versions([set]) -> {name = version_id} of set, or of the set this
 * state's calls use now. */
static int l_rules_versions(lua_State *L) {
  rules_src **u = lua_isnoneornil(L, 1) ? NULL : luaL_checkudata(L, 1, SET_MT);
  call_bufs *b = state_bufs(L);
  rules_src *s = u ? *u : src_for_call(b);
  int i;
  if (!s) return luaL_error(L, "rules: no rule set is loaded");
  if (u) {
    pthread_mutex_lock(&g_lock);
    s->refs++;
    pthread_mutex_unlock(&g_lock);
  }
  lua_createtable(L, 0, s->nfiles);
  for (i = 0; i < s->nfiles; i++) {
    lua_pushinteger(L, s->files[i].version_id);
    lua_setfield(L, -2, s->files[i].name);
  }
  src_release(s);
  return 1;
}

/* rules.version() -> the hex version of the set this state's calls use */
static int l_rules_version(lua_State *L) {
  rules_src *s = src_for_call(state_bufs(L));
  if (s)
    lua_pushstring(L, s->version);
  else
    lua_pushnil(L);
  src_release(s);
  return 1;
}

/* rules.status() -> {version, generation, loaded_at, last_error,
 *   last_error_province, files = {{province, path, version_id}...},
 *   broken = {{province, error}...}, failures, evaluators, deadline_ms,
 *   evaluator_kills}. path is the file's name in the rules directory,
 *   never a server path. */
static int l_rules_status(lua_State *L) {
  rules_src *s = src_in_force();
  char error[1024], file[16];
  long generation;
  int i;
  pthread_mutex_lock(&g_lock);
  snprintf(error, sizeof error, "%s", g_last_error);
  snprintf(file, sizeof file, "%s", g_last_file);
  generation = atomic_load(&g_generation);
  pthread_mutex_unlock(&g_lock);
  /* s is referenced: reading it needs no lock; building may raise, so
   * the reference is held by a handle on the stack meanwhile */
  if (s) push_set(L, s);
  lua_newtable(L);
  if (s) {
    lua_pushstring(L, s->version);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, s->loaded_at);
    lua_setfield(L, -2, "loaded_at");
    lua_createtable(L, s->nfiles, 0);
    for (i = 0; i < s->nfiles; i++) {
      lua_createtable(L, 0, 3);
      lua_pushstring(L, s->files[i].name);
      lua_setfield(L, -2, "province");
      lua_pushstring(L, s->files[i].chunkname);
      lua_setfield(L, -2, "path");
      lua_pushinteger(L, s->files[i].version_id);
      lua_setfield(L, -2, "version_id");
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "files");
    push_broken(L, s);
    lua_setfield(L, -2, "broken");
  }
  if (error[0]) {
    lua_pushstring(L, error);
    lua_setfield(L, -2, "last_error");
    lua_pushstring(L, file);
    lua_setfield(L, -2, "last_error_province");
  }
  lua_pushinteger(L, generation);
  lua_setfield(L, -2, "generation");
  lua_pushinteger(L, atomic_load(&g_failures));
  lua_setfield(L, -2, "failures");
  lua_pushinteger(L, ev_pool_size());
  lua_setfield(L, -2, "evaluators");
  lua_pushinteger(L, ev_deadline_ms());
  lua_setfield(L, -2, "deadline_ms");
  lua_pushinteger(L, ev_kills());
  lua_setfield(L, -2, "evaluator_kills");
  return 1;
}

/* rules.reload() -> true | false, message: reads rules_init's directory
 * again (the command line and the REPL; the server's rules are stored
 * versions, see scripts/rules_store.lua). */
static int l_rules_reload(lua_State *L) {
  char err[1024];
  if (!g_dir[0]) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, "rules: this process installs stored versions");
    return 2;
  }
  if (install_dir(err, sizeof err) != RULES_OK) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg rules_funcs[] = {
    {"call", l_rules_call},         {"load", l_rules_load},
    {"install", l_rules_install},   {"pin", l_rules_pin},
    {"unpin", l_rules_unpin},       {"using", l_rules_using},
    {"versions", l_rules_versions}, {"version", l_rules_version},
    {"status", l_rules_status},     {"reload", l_rules_reload},
    {NULL, NULL},
};

int luaopen_host_rules(lua_State *L) {
  if (luaL_newmetatable(L, BUFS_MT)) {
    lua_pushcfunction(L, l_bufs_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, SET_MT)) {
    lua_pushcfunction(L, l_set_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  luaL_newlib(L, rules_funcs);
  return 1;
}
