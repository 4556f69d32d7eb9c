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
  } files[RULES_MAX_FILES];
  char version[17]; /* FNV-1a 64 of names and texts: the set's key */
  long generation;
  time_t loaded_at;
} rules_src;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_reload_lock =
    PTHREAD_MUTEX_INITIALIZER; /* one at a time */
static rules_src *g_src;       /* in force; guarded by g_lock */
static char g_dir[1024];
static char g_last_error[1024]; /* guarded by g_lock */
static char g_last_file[16];    /* the set g_last_error is about */
/* The last set that failed to load, and how: asked again for the same
 * files, a reload answers that at once instead of trying them again (a
 * file that runs into the deadline would otherwise cost every reload a
 * second under the reload lock, and requests queued there hold the
 * server's threads). Guarded by g_reload_lock. */
static char g_failed_version[17];
static int g_failed_rc;
static char g_failed_err[1024];
static char g_signature[64]; /* poll signature; main thread */
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

/* Reads an 'E' reply's code and message into err; returns the code. */
static int reply_error(const wire_buf *reply, char *err, size_t errlen) {
  wire_reader r = {reply->data + 1, reply->data + reply->len};
  unsigned code = 0;
  const char *msg = "rule failed";
  size_t n = strlen(msg);
  if (wire_get_u8(&r, &code) != WIRE_OK ||
      wire_get_str(&r, &msg, &n) != WIRE_OK)
    msg = "rule failed", n = strlen(msg);
  snprintf(err, errlen, "%.*s", (int)n, msg);
  return -(int)code;
}

static void exchange_error(int rc, char *err, size_t errlen) {
  if (rc == EV_ERR_TIMEOUT)
    snprintf(err, errlen, "rule exceeded its deadline (%ld ms)",
             ev_deadline_ms());
  else
    snprintf(err, errlen, "rule evaluator ended during the call");
}

/* Loads s in an evaluator (compiling and probing every set there) under
 * the deadline. Returns RULES_OK or an error with the message. */
static int try_set(rules_src *s, char *err, size_t errlen) {
  wire_buf req, reply;
  ev_slot *slot;
  int rc;
  long deadline = wire_now_ms() + ev_deadline_ms();
  wire_init(&req, EV_REQUEST_MAX);
  wire_init(&reply, EV_REPLY_MAX);
  if (put_load(&req, s, 1) != WIRE_OK) {
    snprintf(err, errlen, "rules: the set is too large");
    rc = RULES_ERR_LOAD;
    goto done;
  }
  if (!(slot = ev_acquire("@load", deadline + ev_deadline_ms(), &rc, err,
                          errlen))) {
    rc = RULES_ERR_LOAD;
    goto done;
  }
  rc = ev_exchange(slot, &req, &reply, deadline);
  ev_release(slot);
  if (rc != EV_OK) {
    exchange_error(rc, err, errlen);
    if (rc == EV_ERR_TIMEOUT)
      snprintf(err + strlen(err), errlen - strlen(err),
               " while loading the rule files");
    rc = RULES_ERR_LOAD;
  } else if (reply.len < 1 || reply.data[0] != 'O') {
    rc = reply.len > 0 && reply.data[0] == 'E' &&
                 reply_error(&reply, err, errlen) == SBX_ERR_SHAPE
             ? RULES_ERR_SHAPE
             : RULES_ERR_LOAD;
  } else {
    rc = RULES_OK;
  }
done:
  wire_free(&req);
  wire_free(&reply);
  return rc;
}

/* ---- loading and reloading ------------------------------------------ */

/* The set an error message is about: the stem of its "NN.lua:" prefix. */
static void error_file(const char *err, char *stem, size_t stemlen) {
  const char *dot = strstr(err, ".lua");
  stem[0] = '\0';
  if (dot && dot - err < (long)stemlen && dot - err > 0)
    snprintf(stem, stemlen, "%.*s", (int)(dot - err), err);
}

/* Puts the text of file name in force back into s (or, for a file the
 * set in force lacks, drops it from s). Returns 1 if s changed. */
static int src_fallback(rules_src *s, const char *name) {
  int i, k;
  char *text = NULL;
  size_t len = 0;
  for (i = 0; i < s->nfiles && strcmp(s->files[i].name, name) != 0; i++)
    ;
  if (i == s->nfiles) return 0;
  pthread_mutex_lock(&g_lock);
  for (k = 0; g_src && k < g_src->nfiles; k++)
    if (strcmp(g_src->files[k].name, name) == 0) {
      len = g_src->files[k].len;
      if ((text = malloc(len + 1))) {
        memcpy(text, g_src->files[k].text, len);
        text[len] = '\0';
      }
      break;
    }
  pthread_mutex_unlock(&g_lock);
  if (text) {
    free(s->files[i].text);
    s->files[i].text = text;
    s->files[i].len = len;
  } else if (strcmp(name, "default") == 0) {
    return 0; /* no set without the defaults */
  } else {
    free(s->files[i].name);
    free(s->files[i].chunkname);
    free(s->files[i].text);
    memmove(&s->files[i], &s->files[i + 1],
            (size_t)(s->nfiles - i - 1) * sizeof s->files[0]);
    s->nfiles--;
  }
  src_version(s);
  return 1;
}

/* Loads s; when a province's file is at fault, that province keeps the
 * file in force (one province's broken file must not hold back the
 * others' changes) and the first such error goes to partial. Returns
 * RULES_OK, or an error when no province's change is left to apply. */
static int try_set_fallback(rules_src *s, char *err, size_t errlen,
                            char *partial, size_t partlen) {
  int rc, tries, same;
  char file[16];
  for (tries = 0; tries < RULES_MAX_FILES; tries++) {
    if ((rc = try_set(s, err, errlen)) == RULES_OK) return RULES_OK;
    error_file(err, file, sizeof file);
    if (!file[0] || strstr(err, "no evaluator came free")) return rc;
    if (!partial[0]) snprintf(partial, partlen, "%s", err);
    if (!src_fallback(s, file)) break;
    pthread_mutex_lock(&g_lock);
    same = g_src && strcmp(g_src->version, s->version) == 0;
    pthread_mutex_unlock(&g_lock);
    if (same) break; /* nothing but the refused files changed */
  }
  snprintf(err, errlen, "%s", partial[0] ? partial : err);
  return rc;
}

/* Reloads are serialised: two at once could publish different sets under
 * one generation number, and a worker would never notice the second. */
static int reload_locked(char *err, size_t errlen) {
  rules_src *s = NULL, *old;
  char partial[1024] = "", read_version[sizeof s->version];
  int rc;
  if ((rc = src_read_dir(g_dir, &s, err, errlen)) != RULES_OK) goto fail;
  pthread_mutex_lock(&g_lock);
  rc = g_src && strcmp(g_src->version, s->version) == 0;
  pthread_mutex_unlock(&g_lock);
  if (rc) {
    src_release(s);
    pthread_mutex_lock(&g_lock);
    g_last_error[0] = '\0';
    g_last_file[0] = '\0';
    pthread_mutex_unlock(&g_lock);
    return RULES_UNCHANGED;
  }
  if (strcmp(g_failed_version, s->version) == 0) {
    src_release(s);
    snprintf(err, errlen, "%s", g_failed_err);
    return g_failed_rc;
  }
  snprintf(read_version, sizeof read_version, "%s", s->version);
  if ((rc = try_set_fallback(s, err, errlen, partial, sizeof partial)) !=
      RULES_OK) {
    /* the files' fault, not a busy or failing pool's */
    if (!strstr(err, "no evaluator came free") &&
        !strstr(err, "cannot start an evaluator") &&
        !strstr(err, "socketpair")) {
      /* the sources as read, not as the fallback left them */
      snprintf(g_failed_version, sizeof g_failed_version, "%s", read_version);
      snprintf(g_failed_err, sizeof g_failed_err, "%s", err);
      g_failed_rc = rc;
    }
    src_release(s);
    goto fail;
  }
  s->loaded_at = time(NULL);
  pthread_mutex_lock(&g_lock);
  s->generation = atomic_load(&g_generation) + 1;
  old = g_src;
  g_src = s;
  /* a province whose file was refused keeps its last good one: say so */
  snprintf(g_last_error, sizeof g_last_error, "%s", partial);
  error_file(partial, g_last_file, sizeof g_last_file);
  atomic_store(&g_generation, s->generation);
  pthread_mutex_unlock(&g_lock);
  src_release(old);
  if (partial[0]) snprintf(err, errlen, "%s", partial);
  return partial[0] ? RULES_PARTIAL : RULES_OK;
fail:
  pthread_mutex_lock(&g_lock);
  snprintf(g_last_error, sizeof g_last_error, "%s", err);
  error_file(err, g_last_file, sizeof g_last_file);
  pthread_mutex_unlock(&g_lock);
  return rc;
}

int rules_reload(char *err, size_t errlen) {
  int rc;
  pthread_mutex_lock(&g_reload_lock);
  rc = reload_locked(err, errlen);
  pthread_mutex_unlock(&g_reload_lock);
  return rc;
}

/* A string that changes when any rule file's name, size or mtime does. */
static void dir_signature(char *out, size_t outlen) {
  DIR *d = opendir(g_dir);
  struct dirent *e;
  struct stat st;
  uint64_t h = 1469598103934665603ull;
  char stem[16], path[2048];
  if (!d) {
    snprintf(out, outlen, "missing");
    return;
  }
  while ((e = readdir(d))) {
    const char *p;
    if (!rule_file_name(e->d_name, stem, sizeof stem)) continue;
    snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
    if (stat(path, &st) != 0) continue;
    for (p = e->d_name; *p; p++)
      h = (h ^ (unsigned char)*p) * 1099511628211ull;
    /* order-independent: add per-file mixes */
    h += (uint64_t)st.st_size * 31u + (uint64_t)st.st_mtim.tv_sec * 1000003u +
         (uint64_t)st.st_mtim.tv_nsec;
  }
  closedir(d);
  snprintf(out, outlen, "%016llx", (unsigned long long)h);
}

int rules_init(const char *dir, char *err, size_t errlen) {
  snprintf(g_dir, sizeof g_dir, "%s", dir);
  dir_signature(g_signature, sizeof g_signature);
  atomic_store(&g_generation, 0);
  return rules_reload(err, errlen) == RULES_OK ? RULES_OK : RULES_ERR_LOAD;
}

int rules_poll(void) {
  char sig[64], err[1024];
  int rc;
  dir_signature(sig, sizeof sig);
  if (strcmp(sig, g_signature) == 0) return RULES_UNCHANGED;
  snprintf(g_signature, sizeof g_signature, "%s", sig);
  rc = rules_reload(err, sizeof err);
  if (rc == RULES_OK || rc == RULES_PARTIAL)
    fprintf(stderr, "rules: reloaded after a file change, generation %ld%s%s\n",
            rules_generation(), rc == RULES_PARTIAL ? "; refused: " : "",
            rc == RULES_PARTIAL ? err : "");
  else if (rc != RULES_UNCHANGED)
    fprintf(stderr, "rules: reload refused, keeping the set in force: %s\n",
            err);
  return rc;
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
} call_bufs;

static const char *const BUFS_MT = "host.rules.bufs";

static int l_bufs_gc(lua_State *L) {
  call_bufs *b = luaL_checkudata(L, 1, BUFS_MT);
  wire_free(&b->req);
  wire_free(&b->reply);
  wire_free(&b->load);
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

/* Sends the call in b->req, loading s there first if the evaluator lacks
 * it. Pure C: nothing here raises. Returns EV_OK with the reply in
 * b->reply, or an EV_ error with a message. */
static int call_evaluator(call_bufs *b, rules_src *s, const char *tenant,
                          char *err, size_t errlen) {
  long start = wire_now_ms(), deadline = start + ev_deadline_ms();
  int rc;
  ev_slot *slot =
      ev_acquire(tenant, start + 2 * ev_deadline_ms(), &rc, err, errlen);
  if (!slot) return rc;
  deadline = wire_now_ms() + ev_deadline_ms();
  rc = ev_exchange(slot, &b->req, &b->reply, deadline);
  if (rc == EV_OK && b->reply.len == 1 && b->reply.data[0] == 'M') {
    wire_reset(&b->load, EV_REQUEST_MAX, -1);
    if (put_load(&b->load, s, 0) != WIRE_OK) {
      ev_release(slot);
      snprintf(err, errlen, "rules: the set is too large");
      return EV_ERR_DIED;
    }
    /* compiling only (no file's top level runs), on its own deadline:
     * the set's load is not the caller's time */
    rc = ev_exchange(slot, &b->load, &b->reply,
                     wire_now_ms() + ev_deadline_ms());
    deadline = wire_now_ms() + ev_deadline_ms();
    if (rc == EV_OK && (b->reply.len < 1 || b->reply.data[0] != 'O')) {
      ev_release(slot);
      if (b->reply.len > 0 && b->reply.data[0] == 'E')
        reply_error(&b->reply, err, errlen);
      else
        snprintf(err, errlen, "rules: the set did not load");
      return EV_ERR_DIED;
    }
    if (rc == EV_OK) rc = ev_exchange(slot, &b->req, &b->reply, deadline);
  }
  ev_release(slot);
  if (rc != EV_OK) exchange_error(rc, err, errlen);
  return rc;
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
  if (!(s = src_in_force()))
    return luaL_error(L, "rules: no rule set is loaded");
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
    reply_error(&b->reply, err, sizeof err);
  } else if (rc == EV_OK) {
    snprintf(err, sizeof err, "rule evaluator answered out of turn");
  }
  atomic_fetch_add(&g_failures, 1);
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}

/* rules.version() -> the hex version of the set in force */
static int l_rules_version(lua_State *L) {
  char version[17] = "";
  pthread_mutex_lock(&g_lock);
  if (g_src) snprintf(version, sizeof version, "%s", g_src->version);
  pthread_mutex_unlock(&g_lock);
  if (version[0])
    lua_pushstring(L, version);
  else
    lua_pushnil(L);
  return 1;
}

/* rules.status() -> {version, generation, loaded_at, last_error,
 *   last_error_province, files = {{province, path}...}, failures,
 *   evaluators, deadline_ms, evaluator_kills}. path is the file's name in
 *   the rules directory, never a server path. */
static int l_rules_status(lua_State *L) {
  char version[17] = "", error[1024], file[16], paths[RULES_MAX_FILES][128],
       names[RULES_MAX_FILES][16];
  long generation;
  time_t loaded_at = 0;
  int i, n = 0;
  /* Copy under the lock; build Lua values (which may raise) after it. */
  pthread_mutex_lock(&g_lock);
  if (g_src) {
    snprintf(version, sizeof version, "%s", g_src->version);
    loaded_at = g_src->loaded_at;
    for (n = 0; n < g_src->nfiles; n++) {
      snprintf(names[n], sizeof names[n], "%s", g_src->files[n].name);
      snprintf(paths[n], sizeof paths[n], "%s", g_src->files[n].chunkname);
    }
  }
  snprintf(error, sizeof error, "%s", g_last_error);
  snprintf(file, sizeof file, "%s", g_last_file);
  generation = atomic_load(&g_generation);
  pthread_mutex_unlock(&g_lock);
  lua_newtable(L);
  if (version[0]) {
    lua_pushstring(L, version);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, loaded_at);
    lua_setfield(L, -2, "loaded_at");
  }
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, names[i]);
    lua_setfield(L, -2, "province");
    lua_pushstring(L, paths[i]);
    lua_setfield(L, -2, "path");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "files");
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

/* rules.reload() -> true, "reloaded"|"unchanged" [, message, province
 * whose file was refused and keeps its rules in force] | false, message,
 * province the message is about ("" when none) */
static int l_rules_reload(lua_State *L) {
  char err[1024], file[16];
  int rc = rules_reload(err, sizeof err);
  if (rc == RULES_OK || rc == RULES_UNCHANGED) {
    lua_pushboolean(L, 1);
    lua_pushstring(L, rc == RULES_OK ? "reloaded" : "unchanged");
    return 2;
  }
  if (rc == RULES_PARTIAL) {
    error_file(err, file, sizeof file);
    lua_pushboolean(L, 1);
    lua_pushstring(L, "reloaded");
    lua_pushstring(L, err);
    lua_pushstring(L, file);
    return 4;
  }
  error_file(err, file, sizeof file);
  lua_pushboolean(L, 0);
  lua_pushstring(L, err);
  lua_pushstring(L, file);
  return 3;
}

static const luaL_Reg rules_funcs[] = {
    {"call", l_rules_call},
    {"version", l_rules_version},
    {"status", l_rules_status},
    {"reload", l_rules_reload},
    {NULL, NULL},
};

int luaopen_host_rules(lua_State *L) {
  if (luaL_newmetatable(L, BUFS_MT)) {
    lua_pushcfunction(L, l_bufs_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, rules_funcs);
  return 1;
}
