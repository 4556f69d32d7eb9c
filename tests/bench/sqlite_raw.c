/*
 * The benchmark's anchor for durable writes: raw SQLite, one INSERT per
 * COMMIT, WAL with synchronous=FULL (the host's pragmas), one thread, on
 * the file system the server's database is on. Prints "RATE P99_MS": the
 * commits per second and the 99th percentile of one commit's latency.
 * Usage: sqlite_raw FILE SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  double secs = argc > 2 ? atof(argv[2]) : 5, start, t, *lat = NULL;
  size_t n = 0, cap = 0;
  int rc = 1;

  if (argc < 2 || sqlite3_open(argv[1], &db) != SQLITE_OK) goto done;
  if (sqlite3_exec(db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                   "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, "
                   "body TEXT, at INTEGER)",
                   NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO t(body, at) VALUES (?, ?)", -1, &st,
                         NULL) != SQLITE_OK)
    goto done;
  start = now();
  while ((t = now()) - start < secs) {
    sqlite3_bind_text(st, 1, "{\"draft\":true,\"trainees\":30}", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    if (sqlite3_step(st) != SQLITE_DONE) goto done;
    sqlite3_reset(st);
    if (n == cap) {
      double *grown = realloc(lat, (cap = cap ? cap * 2 : 4096) * sizeof *lat);
      if (!grown) goto done;
      lat = grown;
    }
    lat[n++] = now() - t;
  }
  if (!n) goto done;
  qsort(lat, n, sizeof *lat, cmp);
  printf("%.0f %.2f\n", (double)n / (now() - start), lat[n * 99 / 100] * 1e3);
  rc = 0;
done:
  if (rc && db) fprintf(stderr, "sqlite_raw: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(lat);
  return rc;
}
