/*
 * db_backup: `host backup` and `host restore` of a SQLite database with
 * SQLite's online backup API. A backup is one read transaction on the
 * source: in WAL mode writers go on while it runs and the copy is the
 * database as of its first page, every write acknowledged before it began
 * included. The copy is written beside its destination, checked
 * (integrity_check, the platform's tables), made durable and renamed into
 * place, so a reader of FILE sees the old file or the whole new one.
 * Uses: sqlite3, db (db_open), POSIX (fsync, rename).
 */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies the main database of from into to in one step (one read
 * transaction on from). Returns the pages copied, or -1 with err. */
static long copy_all(sqlite3 *from, sqlite3 *to, char *err, size_t errlen) {
  sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
  long pages;
  int rc;

  if (!b) {
    snprintf(err, errlen, "backup: %s", sqlite3_errmsg(to));
    return -1;
  }
  /* -1: every page in this step, so the copy is one snapshot even while
   * other processes write (a stepwise copy restarts on their writes) */
  while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
         rc == SQLITE_LOCKED)
    sqlite3_sleep(20);
  pages = sqlite3_backup_pagecount(b);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc));
    return -1;
  }
  return pages;
}

/* A database this host made: intact, with its migrations table. */
static int check(sqlite3 *db, const char *name, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int ok = 0;

  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    ok = !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  if (!ok) {
    snprintf(err, errlen, "%s: not an intact SQLite database", name);
    return -1;
  }
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM schema_migrations", -1, &st,
                         NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) < 1) {
    sqlite3_finalize(st);
    snprintf(err, errlen, "%s: not a platform database (no migrations)", name);
    return -1;
  }
  sqlite3_finalize(st);
  return 0;
}

/* The directory holding path ("." for a bare name); returns path's last
 * component. */
static const char *dir_of(const char *path, char *dir, size_t dirlen) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, dirlen, ".");
    return path;
  }
  snprintf(dir, dirlen, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  return slash + 1;
}

/* fsync of a file, or of the directory holding path (after a rename). */
static int sync_path(const char *path, int dir) {
  char d[PATH_MAX];
  int fd, rc;

  if (dir) {
    dir_of(path, d, sizeof d);
    path = d;
  }
  if ((fd = open(path, O_RDONLY | (dir ? O_DIRECTORY : 0))) < 0) return -1;
  rc = fsync(fd);
  close(fd);
  return rc;
}

/* Opens path read-only (no WAL or shm of its own is made for a copy). */
static int open_ro(const char *path, sqlite3 **db, char *err, size_t errlen) {
  if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", path,
             *db ? sqlite3_errmsg(*db) : "out of memory");
    sqlite3_close_v2(*db);
    *db = NULL;
    return -1;
  }
  sqlite3_busy_timeout(*db, 5000);
  return 0;
}

/* The absolute path f names, its directory resolved (f itself need not
 * exist). Returns 0, or -1 if its directory does not resolve. */
static int resolve(const char *f, char *out, size_t outlen) {
  char dir[PATH_MAX], real[PATH_MAX];
  const char *base = dir_of(f, dir, sizeof dir);
  if (!realpath(dir, real)) return -1;
  if (snprintf(out, outlen, "%s/%s", strcmp(real, "/") ? real : "", base) >=
      (int)outlen)
    return -1;
  return 0;
}

/* Would writing f (or renaming over it) touch the database at path: the
 * file itself or one of SQLite's beside it (-wal, -shm, -journal), by name
 * or as a hard link? Replacing the live -wal loses every write still in
 * it. */
static int is_database_file(const char *path, const char *f) {
  static const char *const side[] = {"", "-wal", "-shm", "-journal"};
  char rp[PATH_MAX], rf[PATH_MAX], name[PATH_MAX + 16];
  struct stat a, b;
  size_t i;
  if (resolve(path, rp, sizeof rp) != 0 || resolve(f, rf, sizeof rf) != 0)
    return 0; /* the copy cannot be made there anyway */
  for (i = 0; i < sizeof side / sizeof side[0]; i++) {
    snprintf(name, sizeof name, "%s%s", rp, side[i]);
    if (!strcmp(name, rf)) return 1;
    if (stat(name, &a) == 0 && stat(f, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
      return 1;
  }
  return 0;
}

long db_backup(const char *path, const char *out, char *err, size_t errlen) {
  char tmp[PATH_MAX];
  sqlite3 *src = NULL, *dst = NULL;
  long pages = -1;
  struct stat st;

  if (stat(path, &st) != 0) {
    snprintf(err, errlen, "no database at %s", path);
    return -1;
  }
  if (snprintf(tmp, sizeof tmp, "%s.partial", out) >= (int)sizeof tmp) {
    snprintf(err, errlen, "backup: the path is too long");
    return -1;
  }
  if (is_database_file(path, out) || is_database_file(path, tmp)) {
    snprintf(err, errlen,
             "backup: %s is the database or one of its files: write the "
             "copy elsewhere",
             out);
    return -1;
  }
  unlink(tmp);
  if (db_open(path, &src, err, errlen) != DB_OK) goto done;
  if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot create %s: %s", tmp,
             dst ? sqlite3_errmsg(dst) : "out of memory");
    goto done;
  }
  if ((pages = copy_all(src, dst, err, errlen)) < 0) goto done;
  /* the copy is one self-contained file: no -wal beside it */
  if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) !=
          SQLITE_OK ||
      check(dst, out, err, errlen) != 0) {
    if (!*err) snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
    pages = -1;
    goto done;
  }
  sqlite3_close_v2(dst);
  dst = NULL;
  if (sync_path(tmp, 0) != 0 || rename(tmp, out) != 0 ||
      sync_path(out, 1) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", out, strerror(errno));
    pages = -1;
  }
done:
  if (dst) sqlite3_close_v2(dst);
  if (src) sqlite3_close_v2(src);
  if (pages < 0) unlink(tmp);
  return pages;
}

/* Has another process the database at path open? Each SQLite connection
 * to a database in WAL mode holds a read lock on the "DMS" byte of its
 * -shm file (offset 128) for as long as it is open: a server serving it,
 * a REPL. */
static int in_use(const char *path) {
  char shm[PATH_MAX + 8];
  struct flock fl;
  int fd, busy;
  snprintf(shm, sizeof shm, "%s-shm", path);
  if ((fd = open(shm, O_RDWR)) < 0) return 0;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 128;
  fl.l_len = 1;
  busy = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  close(fd);
  return busy;
}

long db_restore(const char *from, const char *path, int force, char *err,
                size_t errlen) {
  sqlite3 *src = NULL, *dst = NULL;
  sqlite3_stmt *st = NULL;
  long pages = -1;
  int tables = 0;

  if (in_use(path)) {
    snprintf(err, errlen,
             "%s is open in another process (a server serving it?): stop "
             "it, then restore",
             path);
    return -1;
  }
  if (open_ro(from, &src, err, errlen) != 0) return -1;
  if (check(src, from, err, errlen) != 0) goto done;
  if (db_open(path, &dst, err, errlen) != DB_OK) goto done;
  if (sqlite3_prepare_v2(dst, "SELECT count(*) FROM sqlite_schema", -1, &st,
                         NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    tables = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (tables > 0 && !force) {
    snprintf(err, errlen,
             "%s holds a database: stop the server, then restore with "
             "--force to replace it",
             path);
    goto done;
  }
  /* the backup API writes through the destination's own journal: a crash
   * half way leaves the old database, never a mix */
  pages = copy_all(src, dst, err, errlen);
  if (pages >= 0 && check(dst, path, err, errlen) != 0) pages = -1;
done:
  if (dst) sqlite3_close_v2(dst);
  sqlite3_close_v2(src);
  return pages;
}
