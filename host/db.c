/*
 * db: SQLite connections with the platform's pragmas, the binding's
 * connections (an authorizer, a statement cache) and migrations. The Lua
 * binding itself is db_lua.c, its PostgreSQL driver db_pg*.c.
 * Uses: sqlite3, util, POSIX dirent.
 */
#include "db.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DB_CACHE_SLOTS 128
#define DB_BUSY_MS 5000

/* A connection with its prepared-statement cache: a worker's own (reads
 * outside transactions) or a writer's (dbq). */
struct db_conn {
  sqlite3 *db; /* owned */
  int control; /* transaction control allowed now (db_conn_control) */
  struct {
    uint32_t hash;      /* util_text_key32 of the SQL text */
    sqlite3_stmt *stmt; /* owned, reset when idle */
  } cache[DB_CACHE_SLOTS];
  unsigned next_victim; /* round-robin eviction */
};

/* SQLite's memory, all connections of the process together: past the
 * soft limit (HOST_DB_HEAP_MB, 64) the page caches recycle their own
 * pages instead of growing, so that 128 workers' connections, each
 * allowed 2 MB of cache, do not add up to 256 MB. */
static void heap_limit(void) {
  const char *v = getenv("HOST_DB_HEAP_MB");
  long mb = v && *v ? atol(v) : 64;
  if (mb > 0) sqlite3_soft_heap_limit64((sqlite3_int64)mb << 20);
}

int db_open(const char *path, sqlite3 **out, char *err, size_t errlen) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  sqlite3 *db = NULL;
  char *msg = NULL;
  int rc = DB_ERR_OPEN;
  static const char *const pragmas =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;" /* acknowledged means on disk */
      "PRAGMA foreign_keys=ON;"
      "PRAGMA temp_store=MEMORY;";

  *out = NULL;
  pthread_once(&once, heap_limit);
  if (sqlite3_open_v2(path, &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot open database %s: %s", path,
             db ? sqlite3_errmsg(db) : "out of memory");
    goto done;
  }
  sqlite3_busy_timeout(db, DB_BUSY_MS);
  if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(err, errlen, "cannot configure database %s: %s", path,
             msg ? msg : "?");
    goto done;
  }
  *out = db;
  db = NULL;
  rc = DB_OK;
done:
  sqlite3_free(msg);
  if (db) sqlite3_close_v2(db);
  return rc;
}

/* Scripts never run BEGIN, COMMIT, ROLLBACK or savepoints themselves:
 * that is db.transaction's (and dbq's), and one of them on the shared
 * writer would commit or undo other requests' work. Checked when a
 * statement is prepared. */
static int authorize(void *ud, int action, const char *a, const char *b,
                     const char *c3, const char *d) {
  const db_conn *c = ud;
  (void)a, (void)b, (void)c3, (void)d;
  if ((action == SQLITE_TRANSACTION || action == SQLITE_SAVEPOINT) &&
      !c->control)
    return SQLITE_DENY;
  return SQLITE_OK;
}

int db_conn_open(const char *path, db_conn **out, char *err, size_t errlen) {
  db_conn *c = calloc(1, sizeof *c);
  *out = NULL;
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return DB_ERR_OPEN;
  }
  if (db_open(path, &c->db, err, errlen) != DB_OK) {
    free(c);
    return DB_ERR_OPEN;
  }
  sqlite3_set_authorizer(c->db, authorize, c);
  *out = c;
  return DB_OK;
}

void db_conn_close(db_conn *c) {
  unsigned i;
  if (!c) return;
  for (i = 0; i < DB_CACHE_SLOTS; i++)
    sqlite3_finalize(c->cache[i].stmt);
  sqlite3_close_v2(c->db);
  free(c);
}

sqlite3 *db_conn_handle(db_conn *c) {
  return c->db;
}

/* The statements stay in the cache, prepared once: a group commit runs
 * four of them per transaction. The authorizer lets them through while
 * control is set, also when SQLite re-prepares one inside step. */
int db_conn_control(db_conn *c, const char *sql, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc;
  c->control = 1;
  rc = db_conn_stmt(c, sql, strlen(sql), &st);
  if (rc == DB_OK && sqlite3_step(st) != SQLITE_DONE) rc = DB_ERR_SQL;
  if (rc != DB_OK && err)
    snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(c->db));
  if (st) sqlite3_reset(st);
  c->control = 0;
  return rc;
}

int db_migrate(sqlite3 *db, const char *dir, int *applied, char *err,
               size_t errlen) {
  DIR *d = NULL;
  struct dirent *e;
  char **names = NULL; /* owned, each owned */
  size_t n = 0, cap = 0, i;
  char *sql = NULL; /* owned, one file at a time */
  char *msg = NULL;
  sqlite3_stmt *seen = NULL, *record = NULL;
  int rc = DB_ERR_SQL, count = 0;

  if (applied) *applied = 0;
  if (sqlite3_exec(db,
                   "CREATE TABLE IF NOT EXISTS schema_migrations("
                   "version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
                   NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(err, errlen, "migrations table: %s", msg);
    goto done;
  }
  if (!(d = opendir(dir))) {
    snprintf(err, errlen, "cannot open schema directory %s", dir);
    rc = DB_ERR_IO;
    goto done;
  }
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0 ||
        e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    if (n == cap) {
      char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
      if (!grown) goto oom;
      names = grown;
    }
    if (!(names[n] = strdup(e->d_name))) goto oom;
    n++;
  }
  qsort(names, n, sizeof *names, util_cmp_strp);
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM schema_migrations WHERE version=?",
                         -1, &seen, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "INSERT INTO schema_migrations(version, applied_at) "
                         "VALUES (?, strftime('%s','now'))",
                         -1, &record, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "migrations: %s", sqlite3_errmsg(db));
    goto done;
  }
  for (i = 0; i < n; i++) {
    char path[4096];
    int step;
    /* Check and apply under one write lock: two processes migrating at
     * once (serve and seed) apply each file once. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
      snprintf(err, errlen, "migrations: %s", msg ? msg : sqlite3_errmsg(db));
      goto done;
    }
    sqlite3_bind_text(seen, 1, names[i], -1, SQLITE_STATIC);
    step = sqlite3_step(seen);
    sqlite3_reset(seen);
    if (step == SQLITE_ROW) {
      sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
      continue;
    }
    if (step != SQLITE_DONE) {
      snprintf(err, errlen, "migrations: %s", sqlite3_errmsg(db));
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      goto done;
    }
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    free(sql);
    if (!(sql = util_read_file(path, 0, NULL))) {
      snprintf(err, errlen, "cannot read %s", path);
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      rc = DB_ERR_IO;
      goto done;
    }
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
      snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(db));
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      goto done;
    }
    sqlite3_bind_text(record, 1, names[i], -1, SQLITE_STATIC);
    step = sqlite3_step(record);
    sqlite3_reset(record);
    if (step != SQLITE_DONE ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
      snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(db));
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      goto done;
    }
    count++;
  }
  if (applied) *applied = count;
  rc = DB_OK;
  goto done;
oom:
  snprintf(err, errlen, "out of memory");
done:
  sqlite3_finalize(seen);
  sqlite3_finalize(record);
  sqlite3_free(msg);
  free(sql);
  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);
  if (d) closedir(d);
  return rc;
}

int db_migrate_at(const char *path, const char *dir, int *applied, char *err,
                  size_t errlen) {
  sqlite3 *db = NULL;
  int rc;
  if (db_is_pg(path)) return db_pg_migrate(path, dir, applied, err, errlen);
  if (db_open(path, &db, err, errlen) != DB_OK) return DB_ERR_OPEN;
  rc = db_migrate(db, dir, applied, err, errlen);
  sqlite3_close_v2(db);
  return rc;
}

/* ---- statement cache ------------------------------------------------ */

int db_conn_stmt(db_conn *c, const char *sql, size_t len, sqlite3_stmt **out) {
  uint32_t h = util_text_key32(sql, len);
  unsigned i, slot;
  sqlite3_stmt *st = NULL;
  const char *tail = NULL;
  *out = NULL;
  for (i = 0; i < DB_CACHE_SLOTS; i++) {
    if (c->cache[i].stmt && c->cache[i].hash == h &&
        strcmp(sqlite3_sql(c->cache[i].stmt), sql) == 0) {
      *out = c->cache[i].stmt;
      return DB_OK;
    }
  }
  if (sqlite3_prepare_v3(c->db, sql, (int)len + 1, SQLITE_PREPARE_PERSISTENT,
                         &st, &tail) != SQLITE_OK) {
    sqlite3_finalize(st);
    return sqlite3_errcode(c->db) == SQLITE_AUTH ? DB_ERR_DENIED : DB_ERR_SQL;
  }
  if (!st) return DB_ERR_EMPTY;
  while (tail && *tail &&
         (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' ||
          *tail == ';'))
    tail++;
  if (tail && *tail) {
    /* one statement per call; several would run only the first */
    sqlite3_finalize(st);
    return DB_ERR_MULTI;
  }
  for (slot = 0; slot < DB_CACHE_SLOTS && c->cache[slot].stmt; slot++)
    ;
  if (slot == DB_CACHE_SLOTS) {
    slot = c->next_victim++ % DB_CACHE_SLOTS;
    sqlite3_finalize(c->cache[slot].stmt);
  }
  c->cache[slot].hash = h;
  c->cache[slot].stmt = st;
  *out = st;
  return DB_OK;
}
