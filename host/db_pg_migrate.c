/*
 * db_pg_migrate: the PostgreSQL driver's migrations (db_pg_migrate,
 * db.h): the numbered files of schema/ not yet applied, each in a
 * transaction of its own, schema/pg/'s file where a migration has a
 * PostgreSQL dialect; one migrator at a time (an advisory lock).
 * Uses: libpq, db, db_pg_int (the connection's settings, the errors'
 * wording), util (reading a file, sorting names).
 */
#include "db.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db_pg_int.h"
#include "util.h"

/* Runs sql (no parameters, several statements) on pg. Returns 1 if it
 * succeeded, else 0 with the message in err. */
static int pg_exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen) {
  PGresult *r = PQexec(pg, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
           PQresultStatus(r) == PGRES_TUPLES_OK ||
           PQresultStatus(r) == PGRES_EMPTY_QUERY;
  if (!ok) db_pg_error_text(r, pg, err, errlen);
  PQclear(r);
  return ok;
}

int db_pg_migrate(const char *uri, const char *dir, int *applied, char *err,
                  size_t errlen) {
  PGconn *pg = NULL;
  DIR *d = NULL;
  struct dirent *e;
  char **names = NULL; /* owned, each owned */
  size_t n = 0, cap = 0, i;
  char *sql = NULL; /* owned, one file at a time */
  PGresult *r = NULL;
  char msg[512];
  int rc = DB_ERR_SQL, count = 0;

  if (applied) *applied = 0;
  if (!(pg = db_pg_connect(uri, err, errlen))) return DB_ERR_OPEN;
  /* one migrator at a time (serve and seed may start together): a
   * session lock, released when the connection closes */
  if (!pg_exec_ok(pg, "SELECT pg_advisory_lock(1210001)", msg, sizeof msg) ||
      !pg_exec_ok(pg,
                  "CREATE TABLE IF NOT EXISTS schema_migrations("
                  "version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                  msg, sizeof msg)) {
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
  for (i = 0; i < n; i++) {
    char path[4096];
    const char *param[1];
    param[0] = names[i];
    PQclear(r);
    r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1",
                     1, NULL, param, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      db_pg_error_text(r, pg, msg, sizeof msg);
      snprintf(err, errlen, "migrations: %s", msg);
      goto done;
    }
    if (PQntuples(r) > 0) continue;
    /* the PostgreSQL dialect of a migration, where it needs one */
    snprintf(path, sizeof path, "%s/pg/%s", dir, names[i]);
    free(sql);
    if (access(path, F_OK) != 0)
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    {
      if (!(sql = util_read_file(path, 0, NULL))) {
        snprintf(err, errlen, "cannot read %s", path);
        rc = DB_ERR_IO;
        goto done;
      }
    }
    if (!pg_exec_ok(pg, "BEGIN", msg, sizeof msg) ||
        !pg_exec_ok(pg, sql, msg, sizeof msg)) {
      snprintf(err, errlen, "%s: %s", path, msg);
      pg_exec_ok(pg, "ROLLBACK", msg, sizeof msg);
      goto done;
    }
    PQclear(r);
    r = PQexecParams(pg,
                     "INSERT INTO schema_migrations(version, applied_at) "
                     "VALUES ($1, extract(epoch FROM now())::bigint)",
                     1, NULL, param, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK ||
        !pg_exec_ok(pg, "COMMIT", msg, sizeof msg)) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK)
        db_pg_error_text(r, pg, msg, sizeof msg);
      snprintf(err, errlen, "%s: %s", path, msg);
      pg_exec_ok(pg, "ROLLBACK", msg, sizeof msg);
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
  PQclear(r);
  free(sql);
  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);
  if (d) closedir(d);
  PQfinish(pg);
  return rc;
}
