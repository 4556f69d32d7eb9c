/*
 * rules: the set in force: installs (a new set is loaded and probed in an
 * evaluator first, swapped in only when good), generations, the last
 * error, `host rules check`. The sources are rules_src.c, the `rules`
 * module rules_lua.c, its memo rules_memo.c.
 * Uses: rules_int, rules_src, sandbox, evaluator, evaluator_pool, wire,
 * pthreads.
 */
#include "rules.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evaluator.h"
#include "evaluator_pool.h"
#include "rules_int.h"
#include "rules_src.h"
#include "sandbox.h"
#include "wire.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_reload_lock =
    PTHREAD_MUTEX_INITIALIZER;  /* one at a time */
static rules_src *g_src;        /* in force, referenced; guarded by g_lock */
static char g_dir[1024];        /* rules_init's directory, if any */
static char g_last_error[1024]; /* guarded by g_lock */
static char g_last_file[16];    /* the set g_last_error is about */
static atomic_long g_generation;
/* The stored generation this process last installed, or refused for its
 * sources (0: none yet), and that outcome; guarded by g_reload_lock. Of
 * the workers that see a newer stored generation at once, one installs it
 * and the others find it done here. */
static atomic_long g_stored;
static int g_stored_rc;
static atomic_long g_failures;

/* ---- probing in an evaluator ----------------------------------------- */

/* Loads s in an evaluator (compiling and probing every set there) under
 * the deadline. Returns RULES_OK or an error with the message. */
static int try_set(rules_src *s, char *err, size_t errlen) {
  wire_buf req, reply;
  ev_req r = {.tenant = "@load", .req = &req, .reply = &reply};
  int rc;
  wire_init(&req, EV_REQUEST_MAX);
  wire_init(&reply, EV_REPLY_MAX);
  r.deadline_ms = ev_deadline_ms();
  if (rules_src_put_load(&req, s, 1) != WIRE_OK) {
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
    rc = ev_reply_error(&reply, err, errlen) == SBX_ERR_SHAPE ? RULES_ERR_SHAPE
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

int rules_probe(rules_src *s, char *err, size_t errlen) {
  char file[16];
  int rc, tries;
  for (tries = 0; tries <= RULES_MAX_FILES; tries++) {
    if ((rc = try_set(s, err, errlen)) == RULES_OK) return RULES_OK;
    error_file(err, file, sizeof file);
    if (!file[0] || pool_error(err) || !rules_src_break(s, file, err))
      return rc;
  }
  return rc;
}

/* ---- the set in force ------------------------------------------------- */

rules_src *rules_in_force(void) {
  rules_src *s;
  pthread_mutex_lock(&g_lock);
  s = g_src;
  if (s) rules_src_retain(s); /* g_src's reference keeps it alive here */
  pthread_mutex_unlock(&g_lock);
  return s;
}

/* Makes s (probed) the set in force. generation > 0 is the stored rules'
 * generation; 0 takes the next one. Takes over the caller's reference. */
static void swap_in(rules_src *s, long generation) {
  rules_src *old;
  assert(atomic_load(&s->refs) >= 1);
  s->loaded_at = time(NULL);
  pthread_mutex_lock(&g_lock);
  s->generation = generation > 0 ? generation : atomic_load(&g_generation) + 1;
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
  rules_src_release(old);
}

int rules_install(rules_src *s, long generation, char *err, size_t errlen) {
  int rc;
  pthread_mutex_lock(&g_reload_lock);
  if (generation > 0 && generation == atomic_load(&g_stored)) {
    rc = g_stored_rc; /* another caller did it meanwhile */
    if (rc != RULES_OK) {
      pthread_mutex_lock(&g_lock);
      snprintf(err, errlen, "%s", g_last_error);
      pthread_mutex_unlock(&g_lock);
    }
    pthread_mutex_unlock(&g_reload_lock);
    return rc;
  }
  rc = rules_probe(s, err, errlen);
  if (rc == RULES_OK) {
    rules_src_retain(s); /* g_src's; the caller keeps its own */
    swap_in(s, generation);
  }
  /* a busy evaluator pool is no verdict on the sources: tried again */
  if (generation > 0 && (rc == RULES_OK || !pool_error(err))) {
    g_stored_rc = rc;
    atomic_store(&g_stored, generation);
  }
  pthread_mutex_unlock(&g_reload_lock);
  if (rc != RULES_OK) {
    pthread_mutex_lock(&g_lock);
    snprintf(g_last_error, sizeof g_last_error, "%s", err);
    error_file(err, g_last_file, sizeof g_last_file);
    pthread_mutex_unlock(&g_lock);
  }
  return rc;
}

/* Installs the files of dir (the command line and the REPL without a
 * database; the server installs stored versions through rules.install). */
static int install_dir(char *err, size_t errlen) {
  rules_src *s = NULL; /* owned until swapped in */
  int rc;
  pthread_mutex_lock(&g_reload_lock);
  if ((rc = rules_src_read_dir(g_dir, &s, err, errlen)) == RULES_OK &&
      (rc = rules_probe(s, err, errlen)) == RULES_OK) {
    swap_in(s, 0);
    s = NULL;
  }
  pthread_mutex_unlock(&g_reload_lock);
  rules_src_release(s);
  return rc;
}

int rules_reload(char *err, size_t errlen) {
  if (!g_dir[0]) {
    snprintf(err, errlen, "rules: this process installs stored versions");
    return RULES_ERR_LOAD;
  }
  return install_dir(err, errlen);
}

long rules_last_error(char *err, size_t errlen, char *file, size_t filelen) {
  long generation;
  pthread_mutex_lock(&g_lock);
  snprintf(err, errlen, "%s", g_last_error);
  snprintf(file, filelen, "%s", g_last_file);
  generation = atomic_load(&g_generation);
  pthread_mutex_unlock(&g_lock);
  return generation;
}

void rules_count_failure(void) {
  atomic_fetch_add(&g_failures, 1);
}

/* ---- rules.h ----------------------------------------------------------- */

int rules_init(const char *dir, char *err, size_t errlen) {
  snprintf(g_dir, sizeof g_dir, "%s", dir);
  atomic_store(&g_generation, 0);
  return install_dir(err, errlen) == RULES_OK ? RULES_OK : RULES_ERR_LOAD;
}

long rules_generation(void) {
  return atomic_load(&g_generation);
}
long rules_stored_generation(void) {
  return atomic_load(&g_stored);
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
  rules_src_release(s);
  ev_shutdown();
}

int rules_check_files(int n, char **files, const char *fallback_dir, char *err,
                      size_t errlen) {
  int i, rc = RULES_OK;
  for (i = 0; i < n && rc == RULES_OK; i++) {
    rules_src *s = rules_src_new();
    char dir[1024], stem[16], defpath[2048];
    const char *slash = strrchr(files[i], '/');
    const char *base = slash ? slash + 1 : files[i];
    if (!s) return RULES_ERR_IO;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - files[i]) : 1,
             slash ? files[i] : ".");
    if (strcmp(base, "default.lua") == 0) {
      rc = rules_src_add_file(s, "default", files[i], files[i], err, errlen);
    } else {
      FILE *f;
      snprintf(defpath, sizeof defpath, "%s/default.lua", dir);
      if (!(f = fopen(defpath, "rb")))
        snprintf(defpath, sizeof defpath, "%s/default.lua", fallback_dir);
      else
        fclose(f);
      if (!rules_file_name(base, stem, sizeof stem))
        snprintf(stem, sizeof stem, "check");
      rc = rules_src_add_file(s, "default", defpath, defpath, err, errlen);
      if (rc == RULES_OK)
        rc = rules_src_add_file(s, stem, files[i], files[i], err, errlen);
    }
    if (rc == RULES_OK) {
      rules_src_seal(s);
      rc = try_set(s, err, errlen);
    }
    rules_src_release(s);
  }
  return rc;
}
