/* The write queue and group commit: threads, each with its own Lua state,
 * writing at once; a member's error rolled back alone while its
 * batch-mates commit; a batch SQLite rolled back, and a COMMIT that fails
 * on an I/O error, failing every member; nothing acknowledged missing.
 * Batches are made deterministic by a first member that waits, holding
 * the writer, until the others are queued behind it (db.writer_stats). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "lua_helpers.h"
#include "unit.h"

/* ---- a VFS that can fail the WAL's fsync, to fail a COMMIT --------- */

static atomic_int g_fail_sync;
static sqlite3_vfs *g_real_vfs;
static sqlite3_vfs g_shim_vfs;

typedef struct shim_file {
  sqlite3_file base;
  sqlite3_file *real; /* right after this struct */
  int is_wal;
} shim_file;

#define REAL(f) (((shim_file *)(f))->real)
static int s_close(sqlite3_file *f) {
  int rc = REAL(f)->pMethods->xClose(REAL(f));
  return rc;
}
static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
  return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 n) {
  return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int s_sync(sqlite3_file *f, int flags) {
  if (((shim_file *)f)->is_wal && atomic_load(&g_fail_sync))
    return SQLITE_IOERR_FSYNC;
  return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int s_size(sqlite3_file *f, sqlite3_int64 *n) {
  return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int s_lock(sqlite3_file *f, int l) {
  return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int s_unlock(sqlite3_file *f, int l) {
  return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int s_reserved(sqlite3_file *f, int *r) {
  return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r);
}
static int s_control(sqlite3_file *f, int op, void *a) {
  return REAL(f)->pMethods->xFileControl(REAL(f), op, a);
}
static int s_sector(sqlite3_file *f) {
  return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int s_device(sqlite3_file *f) {
  return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int s_shm_map(sqlite3_file *f, int i, int sz, int ext,
                     void volatile **p) {
  return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, ext, p);
}
static int s_shm_lock(sqlite3_file *f, int o, int n, int fl) {
  return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl);
}
static void s_shm_barrier(sqlite3_file *f) {
  REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int s_shm_unmap(sqlite3_file *f, int del) {
  return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int s_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p) {
  return REAL(f)->pMethods->xFetch(REAL(f), o, n, p);
}
static int s_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) {
  return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}
static const sqlite3_io_methods shim_io = {
    3,         s_close,    s_read,    s_write,     s_truncate,
    s_sync,    s_size,     s_lock,    s_unlock,    s_reserved,
    s_control, s_sector,   s_device,  s_shm_map,   s_shm_lock,
    s_shm_barrier, s_shm_unmap, s_fetch, s_unfetch};

static int s_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
                  int flags, int *out) {
  shim_file *sf = (shim_file *)f;
  int rc;
  (void)vfs;
  sf->real = (sqlite3_file *)(sf + 1);
  sf->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
  rc = g_real_vfs->xOpen(g_real_vfs, name, sf->real, flags, out);
  sf->base.pMethods = sf->real->pMethods ? &shim_io : NULL;
  return rc;
}

static void shim_install(void) {
  g_real_vfs = sqlite3_vfs_find(NULL);
  g_shim_vfs = *g_real_vfs;
  g_shim_vfs.zName = "failsync";
  g_shim_vfs.szOsFile = (int)sizeof(shim_file) + g_real_vfs->szOsFile;
  g_shim_vfs.xOpen = s_open;
  sqlite3_vfs_register(&g_shim_vfs, 1);
}

static void shim_remove(void) {
  sqlite3_vfs_unregister(&g_shim_vfs);
  sqlite3_vfs_register(g_real_vfs, 1);
}

/* ---- threads with a Lua state each ---------------------------------- */

static atomic_int g_holding; /* set by a first member holding the writer */

/* sleep_ms(n); holding(): marks g_holding; fail_sync(b) */
static int l_sleep_ms(lua_State *L) {
  struct timespec ts = {0, (long)luaL_checkinteger(L, 1) * 1000000};
  nanosleep(&ts, NULL);
  return 0;
}
static int l_holding(lua_State *L) {
  (void)L;
  atomic_store(&g_holding, 1);
  return 0;
}
static int l_fail_sync(lua_State *L) {
  atomic_store(&g_fail_sync, lua_toboolean(L, 1));
  return 0;
}

/* Lua for "wait until n are queued for the writer" */
#define WAIT_QUEUED(n)                                                         \
  "local db = require 'db' local t = os.time() "                               \
  "while db.writer_stats().queued < " #n " and os.time() - t < 20 do "         \
  "sleep_ms(1) end "

typedef struct job {
  const char *code;
  char out[600];
  pthread_t thread;
} job;

static void *job_main(void *arg) {
  job *j = arg;
  char err[512];
  lua_State *L = vm_new(1, err, sizeof err);
  if (!L) {
    snprintf(j->out, sizeof j->out, "ERROR: %s", err);
    return NULL;
  }
  lua_register(L, "sleep_ms", l_sleep_ms);
  lua_register(L, "holding", l_holding);
  lua_register(L, "fail_sync", l_fail_sync);
  lua_pushcfunction(L, vm_msghandler);
  if (luaL_loadstring(L, j->code) != LUA_OK || lua_pcall(L, 0, 1, 1) != LUA_OK)
    snprintf(j->out, sizeof j->out, "ERROR: %s", lua_tostring(L, -1));
  else
    snprintf(j->out, sizeof j->out, "%s", luaL_tolstring(L, -1, NULL));
  lua_close(L);
  return NULL;
}

static void job_start(job *j, const char *code) {
  j->code = code;
  j->out[0] = '\0';
  if (pthread_create(&j->thread, NULL, job_main, j) != 0) abort();
}

static void job_join(job *j) {
  pthread_join(j->thread, NULL);
}

static lua_State *open_db(void) {
  static char path[256];
  char err[512];
  snprintf(path, sizeof path, "/tmp/host-dbq-XXXXXX");
  if (mkstemp(path) < 0) abort();
  snprintf(vm_paths.db, sizeof vm_paths.db, "%s", path);
  return vm_new(1, err, sizeof err);
}

static void wait_until(atomic_int *flag) {
  int i;
  for (i = 0; i < 20000 && !atomic_load(flag); i++)
    usleep(1000);
}

static void wait_queued(lua_State *L, int n) {
  char code[128];
  snprintf(code, sizeof code, "return require('db').writer_stats().queued");
  for (int i = 0; i < 20000 && atoi(lua_run(L, code)) < n; i++)
    usleep(1000);
}

#define THREADS 6
#define EACH 40

UNIT_TEST(dbq_threads_write_at_once_and_every_row_is_there) {
  lua_State *L = open_db();
  job jobs[THREADS];
  char code[THREADS][600];
  int i, ok = 1;
  lua_run(L, "require('db').exec('CREATE TABLE t(thread, i, k)')");
  for (i = 0; i < THREADS; i++) {
    /* transactions of two rows that read inside, and lone writes */
    snprintf(code[i], sizeof code[i],
             "local db = require 'db' for i = 1, %d do "
             "db.transaction(function() "
             "  db.exec('INSERT INTO t VALUES (?, ?, 1)', %d, i) "
             "  assert(db.in_transaction()) "
             "  assert(db.one('SELECT count(*) AS n FROM t WHERE thread = ? "
             "AND i = ?', %d, i).n == 1) "
             "  db.exec('INSERT INTO t VALUES (?, ?, 2)', %d, i) end) "
             "if i %% 4 == 0 then db.exec('INSERT INTO t VALUES (?, ?, 3)', "
             "%d, i) end end return 'ok'",
             EACH, i, i, i, i);
    job_start(&jobs[i], code[i]);
  }
  for (i = 0; i < THREADS; i++) {
    job_join(&jobs[i]);
    if (strcmp(jobs[i].out, "ok") != 0) {
      ok = 0;
      printf("  thread %d: %s\n", i, jobs[i].out);
    }
  }
  CHECK(ok);
  CHECK(atoi(lua_run(L, "return require('db').one('SELECT count(*) AS n "
                        "FROM t').n")) == THREADS * (EACH * 2 + EACH / 4));
  /* one transaction per db.transaction and per lone write, all acknowledged
   * (the CREATE was the first) */
  CHECK(atoi(lua_run(L, "return require('db').writer_stats().members")) ==
        1 + THREADS * (EACH + EACH / 4));
  CHECK(atoi(lua_run(L, "return require('db').writer_stats().failed")) == 0);
  CHECK(strcmp(lua_run(L, "return require('db').active_statements()"), "0") ==
        0);
  printf("  # %s\n", lua_run(L, "local s = require('db').writer_stats() "
                                "return s.members .. ' transactions in ' .. "
                                "s.batches .. ' commits, at most ' .. "
                                "s.max_batch .. ' in one'"));
  lua_close(L);
}

/* Starts A (holds the writer, inserts, waits for n queued), then each of
 * codes in order, each queued before the next starts. */
static void run_batch(lua_State *L, job *a, const char *a_code, job *rest,
                      const char *const *codes, int n) {
  int i;
  atomic_store(&g_holding, 0);
  job_start(a, a_code);
  wait_until(&g_holding);
  for (i = 0; i < n; i++) {
    job_start(&rest[i], codes[i]);
    /* queued before the next starts; after the last, A goes on */
    if (i < n - 1) wait_queued(L, i + 1);
  }
  job_join(a);
  for (i = 0; i < n; i++)
    job_join(&rest[i]);
}

#define FIRST(n, then)                                                         \
  "local db = require 'db' return db.transaction(function() "                  \
  "db.exec(\"INSERT INTO t VALUES ('a')\") holding() " WAIT_QUEUED(n) then     \
  " return 'ok' end)"

UNIT_TEST(dbq_an_erring_member_rolls_back_alone) {
  lua_State *L;
  job a, rest[2];
  static const char *const codes[] = {
      "local db = require 'db' return select(2, pcall(db.transaction, "
      "function() db.exec(\"INSERT INTO t VALUES ('b')\") error('boom') "
      "end))",
      "local db = require 'db' return db.transaction(function() "
      "db.exec(\"INSERT INTO t VALUES ('c')\") return 'ok' end)"};
  setenv("HOST_DB_BATCH_MS", "60000", 1); /* no commit for age here */
  L = open_db();
  lua_run(L, "require('db').exec('CREATE TABLE t(x)')");
  run_batch(L, &a, FIRST(2, ""), rest, codes, 2);
  unsetenv("HOST_DB_BATCH_MS");
  CHECK(strcmp(a.out, "ok") == 0);
  CHECK_STR_HAS(rest[0].out, "boom");
  CHECK(strcmp(rest[1].out, "ok") == 0);
  CHECK(strcmp(lua_run(L, "local r = {} for _, row in ipairs(require('db')"
                          ".query('SELECT x FROM t ORDER BY x')) do r[#r + 1] "
                          "= row.x end return table.concat(r)"),
               "ac") == 0);
  /* a and c shared one COMMIT */
  CHECK(strcmp(lua_run(L, "return require('db').writer_stats().max_batch"),
               "2") == 0);
  lua_close(L);
}

UNIT_TEST(dbq_a_batch_sqlite_rolled_back_fails_every_member) {
  lua_State *L;
  job a, rest[2];
  static const char *const codes[] = {
      /* OR ROLLBACK: a conflict ends the whole transaction, batch-mates'
       * work too; the member goes on as if nothing happened */
      "local db = require 'db' return tostring(select(2, pcall(db.transaction,"
      " function() pcall(db.exec, 'INSERT OR ROLLBACK INTO u VALUES (1)') "
      "return db.exec(\"INSERT INTO t VALUES ('b')\") end)))",
      "local db = require 'db' return db.transaction(function() "
      "db.exec(\"INSERT INTO t VALUES ('c')\") return 'ok' end)"};
  setenv("HOST_DB_BATCH_MS", "60000", 1);
  L = open_db();
  lua_run(L, "local db = require 'db' db.exec('CREATE TABLE t(x)') "
             "db.exec('CREATE TABLE u(id INTEGER PRIMARY KEY)') "
             "db.exec('INSERT INTO u VALUES (1)')");
  run_batch(L, &a, FIRST(2, ""), rest, codes, 2);
  unsetenv("HOST_DB_BATCH_MS");
  CHECK_STR_HAS(a.out, "db: commit: the transaction was rolled back");
  CHECK_STR_HAS(rest[0].out, "the transaction was rolled back");
  CHECK(strcmp(rest[1].out, "ok") == 0); /* the next batch */
  CHECK(strcmp(lua_run(L, "local r = {} for _, row in ipairs(require('db')"
                          ".query('SELECT x FROM t ORDER BY x')) do r[#r + 1] "
                          "= row.x end return table.concat(r)"),
               "c") == 0);
  lua_close(L);
}

UNIT_TEST(dbq_a_failing_commit_fails_every_member) {
  lua_State *L;
  job a, rest[2];
  char path[1024];
  sqlite3 *check = NULL;
  sqlite3_stmt *st = NULL;
  static const char *const codes[] = {
      "local db = require 'db' return db.transaction(function() "
      "db.exec(\"INSERT INTO t VALUES ('b')\") return 'ok' end)",
      "local db = require 'db' return db.transaction(function() "
      "db.exec(\"INSERT INTO t VALUES ('c')\") return 'ok' end)"};
  shim_install();
  setenv("HOST_DB_BATCH_MS", "60000", 1);
  L = open_db();
  snprintf(path, sizeof path, "%s", vm_paths.db);
  lua_run(L, "require('db').exec('CREATE TABLE t(x)')");
  /* the fsync of the COMMIT that holds a, b and c fails */
  run_batch(L, &a, FIRST(2, "fail_sync(true)"), rest, codes, 2);
  unsetenv("HOST_DB_BATCH_MS");
  atomic_store(&g_fail_sync, 0);
  printf("  # %.*s\n", (int)strcspn(a.out, "\n"), a.out);
  CHECK_STR_HAS(a.out, "db: commit:");
  CHECK_STR_HAS(rest[0].out, "db: commit:");
  CHECK_STR_HAS(rest[1].out, "db: commit:");
  CHECK(strcmp(lua_run(L, "return require('db').writer_stats().failed"),
               "1") == 0);
  /* the writer goes on */
  CHECK(strcmp(lua_run(L, "local db = require 'db' db.transaction(function()"
                          " db.exec(\"INSERT INTO t VALUES ('d')\") end) "
                          "return db.one('SELECT group_concat(x) AS x FROM "
                          "t').x"),
               "d") == 0);
  lua_close(L);
  shim_remove();
  /* and a fresh connection finds only d */
  CHECK(sqlite3_open(path, &check) == SQLITE_OK);
  CHECK(sqlite3_prepare_v2(check, "SELECT group_concat(x) FROM t", -1, &st,
                           NULL) == SQLITE_OK);
  CHECK(sqlite3_step(st) == SQLITE_ROW);
  CHECK(strcmp((const char *)sqlite3_column_text(st, 0), "d") == 0);
  sqlite3_finalize(st);
  sqlite3_close(check);
}

UNIT_TEST(dbq_deferred_foreign_key_refused_alone) {
  lua_State *L = open_db();
  lua_run(L, "local db = require 'db' db.exec('CREATE TABLE p(id INTEGER "
             "PRIMARY KEY)') db.exec('CREATE TABLE c(p REFERENCES p(id) "
             "DEFERRABLE INITIALLY DEFERRED)')");
  CHECK_STR_HAS(lua_run(L, "local db = require 'db' return db.transaction("
                           "function() db.exec('INSERT INTO c VALUES (7)') "
                           "end)"),
                "FOREIGN KEY constraint failed");
  CHECK(strcmp(lua_run(L, "local db = require 'db' db.transaction(function() "
                          "db.exec('INSERT INTO c VALUES (8)') "
                          "db.exec('INSERT INTO p VALUES (8)') end) return "
                          "db.one('SELECT count(*) AS n FROM c').n"),
               "1") == 0);
  lua_close(L);
}

UNIT_TEST(dbq_scripts_cannot_control_transactions) {
  lua_State *L = open_db();
  CHECK_STR_HAS(lua_run(L, "return require('db').exec('BEGIN')"),
                "transactions are db.transaction's");
  CHECK_STR_HAS(lua_run(L, "local db = require 'db' return db.transaction("
                           "function() db.exec('COMMIT') end)"),
                "transactions are db.transaction's");
  CHECK_STR_HAS(lua_run(L, "return require('db').script('CREATE TABLE x(y); "
                           "SAVEPOINT s')"),
                "not authorized");
  CHECK(strcmp(lua_run(L, "local db = require 'db' db.script('CREATE TABLE "
                          "z(y); INSERT INTO z VALUES (1)') return db.one("
                          "'SELECT count(*) AS n FROM z').n"),
               "1") == 0);
  /* a nested transaction joins; its error, caught, leaves the outer open */
  CHECK(strcmp(lua_run(L, "local db = require 'db' return db.transaction("
                          "function() local ok = pcall(db.transaction, "
                          "function() error('x') end) return tostring(ok) "
                          ".. tostring(db.in_transaction()) end)"),
               "falsetrue") == 0);
  CHECK(strcmp(lua_run(L, "return tostring(require('db').in_transaction())"),
               "false") == 0);
  lua_close(L);
}
