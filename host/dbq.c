/*
 * dbq: the write queue and group commit (see dbq.h for the protocol).
 * Who may touch what: w->mu guards the queue, held/owner, the counters
 * and every member's granted/done/rc/msg. The connection and the batch
 * (open, members, finished, first_done) belong to the holder of the
 * writer, who uses them without w->mu; the writer passes from holder to
 * holder under w->mu, which orders one holder's writes before the next's.
 * Uses: db, sqlite3, pthreads.
 */
#include "dbq.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DBQ_BATCH_MAX 64 /* members one COMMIT holds at most */
#define DBQ_BATCH_MS 10  /* a finished member waits this long at most for
                            later members before its batch commits */
#define DBQ_WAIT_MS 5000 /* longest wait for the writer (SQLite's former
                            busy timeout) */

struct dbq_writer {
  char path[PATH_MAX];     /* the file's real path: the registry key */
  int refs;                /* under g_lock */
  struct dbq_writer *next; /* g_writers, under g_lock */
  db_conn *conn;           /* owned; the holder's */
  int batch_max;           /* HOST_DB_BATCH */
  long batch_ms;           /* HOST_DB_BATCH_MS */

  pthread_mutex_t mu;
  int held;                /* someone holds the writer */
  pthread_t owner;         /* that thread, while held */
  dbq_member *head, *tail; /* waiting for the writer, first come first */
  dbq_stats stats;         /* queued is counted on demand */

  /* the holder's */
  int open;              /* the batch transaction is open */
  int members;           /* members that released their savepoint in it */
  long first_done;       /* ms when the first of them did */
  dbq_member *finished;  /* those members, waiting for the COMMIT */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dbq_writer *g_writers; /* under g_lock */

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long env_long(const char *name, long dflt, long min) {
  const char *v = getenv(name);
  long n;
  if (!v || !*v) return dflt;
  n = atol(v);
  return n < min ? min : n;
}

int dbq_attach(const char *path, dbq_writer **out, char *err, size_t errlen) {
  char real[PATH_MAX];
  dbq_writer *w = NULL;
  int rc = DBQ_ERR_OPEN;

  *out = NULL;
  if (!realpath(path, real)) {
    snprintf(err, errlen, "cannot resolve database path %s", path);
    return DBQ_ERR_OPEN;
  }
  pthread_mutex_lock(&g_lock);
  for (w = g_writers; w && strcmp(w->path, real) != 0; w = w->next)
    ;
  if (w) {
    w->refs++;
    *out = w;
    rc = DBQ_OK;
    goto done;
  }
  if (!(w = calloc(1, sizeof *w))) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  if (db_conn_open(real, &w->conn, err, errlen) != DB_OK) {
    free(w);
    goto done;
  }
  snprintf(w->path, sizeof w->path, "%s", real);
  w->batch_max = (int)env_long("HOST_DB_BATCH", DBQ_BATCH_MAX, 1);
  w->batch_ms = env_long("HOST_DB_BATCH_MS", DBQ_BATCH_MS, 0);
  pthread_mutex_init(&w->mu, NULL);
  w->refs = 1;
  w->next = g_writers;
  g_writers = w;
  *out = w;
  rc = DBQ_OK;
done:
  pthread_mutex_unlock(&g_lock);
  return rc;
}

void dbq_detach(dbq_writer *w) {
  dbq_writer **p;
  int last;
  pthread_mutex_lock(&g_lock);
  assert(w->refs > 0);
  last = --w->refs == 0;
  if (last) {
    for (p = &g_writers; *p != w; p = &(*p)->next)
      ;
    *p = w->next;
  }
  pthread_mutex_unlock(&g_lock);
  if (!last) return;
  assert(!w->held && !w->head && !w->open);
  if (getenv("HOST_DB_STATS") && w->stats.batches)
    fprintf(stderr,
            "db: %s: %ld transactions in %ld commits (at most %ld in one), "
            "%ld failed\n",
            w->path, w->stats.members, w->stats.batches, w->stats.max_batch,
            w->stats.failed);
  db_conn_close(w->conn);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

db_conn *dbq_conn(dbq_writer *w) {
  return w->conn;
}

void dbq_get_stats(dbq_writer *w, dbq_stats *out) {
  dbq_member *m;
  pthread_mutex_lock(&w->mu);
  *out = w->stats;
  out->queued = 0;
  for (m = w->head; m; m = m->next)
    out->queued++;
  pthread_mutex_unlock(&w->mu);
}

/* Gives the writer to the first in line, or frees it. w->mu held. */
static void hand_on(dbq_writer *w) {
  dbq_member *next = w->head;
  if (!next) {
    w->held = 0;
    return;
  }
  w->head = next->next;
  if (!w->head) w->tail = NULL;
  next->next = NULL;
  next->granted = 1;
  w->owner = next->thread;
  pthread_cond_signal(&next->cond);
}

/* Tells every finished member of the batch its outcome and closes the
 * batch. The holder's; takes w->mu. A member may return (and its frame
 * go) as soon as it sees done, so next is read first. */
static void publish(dbq_writer *w, int rc, const char *msg) {
  dbq_member *m, *next;
  pthread_mutex_lock(&w->mu);
  w->stats.batches++;
  if (rc == DBQ_OK) {
    w->stats.members += w->members;
    if (w->members > w->stats.max_batch) w->stats.max_batch = w->members;
  } else {
    w->stats.failed++;
  }
  for (m = w->finished; m; m = next) {
    next = m->next;
    m->rc = rc;
    snprintf(m->msg, sizeof m->msg, "%s", msg);
    m->done = 1;
    pthread_cond_signal(&m->cond);
  }
  pthread_mutex_unlock(&w->mu);
  w->finished = NULL;
  w->members = 0;
  w->open = 0;
}

/* Ends the batch transaction, if SQLite has not already. The holder's. */
static void rollback_batch(dbq_writer *w) {
  if (!sqlite3_get_autocommit(db_conn_handle(w->conn)))
    db_conn_control(w->conn, "ROLLBACK", NULL, 0);
}

/* COMMITs the open batch and tells its members. The holder's. */
static void commit_batch(dbq_writer *w) {
  char msg[256];
  assert(w->open);
  if (db_conn_control(w->conn, "COMMIT", msg, sizeof msg) != DB_OK) {
    rollback_batch(w);
    publish(w, DBQ_ERR_BATCH, msg);
    return;
  }
  publish(w, DBQ_OK, "");
}

/* The holder's last step: commits the batch if nobody waits for the
 * writer or the batch is full, else leaves it open for the next in line;
 * hands the writer on; then, if m is a finished member, waits for the
 * COMMIT that holds it (no timeout: its work is in that batch, and the
 * holders in front of it always finish). */
static void pass_on(dbq_writer *w, dbq_member *m) {
  int commit;
  pthread_mutex_lock(&w->mu);
  commit = w->open && (!w->head || w->members >= w->batch_max);
  pthread_mutex_unlock(&w->mu);
  if (commit) commit_batch(w);
  pthread_mutex_lock(&w->mu);
  hand_on(w);
  while (m && !m->done)
    pthread_cond_wait(&m->cond, &w->mu);
  pthread_mutex_unlock(&w->mu);
}

/* Waits for the writer. w->mu held on entry and exit. */
static int take_turn(dbq_writer *w, dbq_member *m, char *err, size_t errlen) {
  struct timespec until;
  if (!w->held) {
    assert(!w->head);
    w->held = 1;
    w->owner = m->thread;
    return DBQ_OK;
  }
  if (pthread_equal(w->owner, m->thread)) {
    snprintf(err, errlen,
             "this thread already holds the writer (a transaction of "
             "another Lua state of the same thread)");
    return DBQ_ERR_BUSY;
  }
  if (w->tail)
    w->tail->next = m;
  else
    w->head = m;
  w->tail = m;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += DBQ_WAIT_MS / 1000;
  until.tv_nsec += (long)(DBQ_WAIT_MS % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
  while (!m->granted)
    if (pthread_cond_timedwait(&m->cond, &w->mu, &until) == ETIMEDOUT &&
        !m->granted) {
      dbq_member **p, *prev = NULL;
      for (p = &w->head; *p != m; prev = *p, p = &(*p)->next)
        ;
      *p = m->next;
      if (w->tail == m) w->tail = prev;
      snprintf(err, errlen, "the database is busy (waited %d ms for the "
               "writer)", DBQ_WAIT_MS);
      return DBQ_ERR_BUSY;
    }
  return DBQ_OK;
}

int dbq_enter(dbq_writer *w, dbq_member *m, char *err, size_t errlen) {
  pthread_condattr_t ca;
  int rc;

  memset(m, 0, sizeof *m);
  m->thread = pthread_self();
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&m->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_lock(&w->mu);
  rc = take_turn(w, m, err, errlen);
  pthread_mutex_unlock(&w->mu);
  if (rc != DBQ_OK) goto done;

  /* The writer is ours. Members that finished long enough ago commit now
   * rather than wait for this one's work too. */
  if (w->open && w->members > 0 &&
      (w->members >= w->batch_max || now_ms() - w->first_done >= w->batch_ms))
    commit_batch(w);
  if (!w->open) {
    if (db_conn_control(w->conn, "BEGIN IMMEDIATE", err, errlen) != DB_OK) {
      rc = DBQ_ERR_BEGIN;
      pass_on(w, NULL);
      goto done;
    }
    w->open = 1;
  }
  if (db_conn_control(w->conn, "SAVEPOINT member", err, errlen) != DB_OK) {
    rc = DBQ_ERR_BEGIN;
    if (sqlite3_get_autocommit(db_conn_handle(w->conn)))
      publish(w, DBQ_ERR_BATCH, "the transaction was rolled back");
    pass_on(w, NULL);
  }
done:
  if (rc != DBQ_OK) pthread_cond_destroy(&m->cond);
  return rc;
}

/* Whether the transaction has foreign keys left unresolved (deferred). */
static int unresolved_fks(sqlite3 *db) {
  int cur = 0, hi = 0;
  sqlite3_db_status(db, SQLITE_DBSTATUS_DEFERRED_FKS, &cur, &hi, 0);
  return cur != 0;
}

int dbq_leave(dbq_writer *w, dbq_member *m, int ok, char *err,
              size_t errlen) {
  sqlite3 *db = db_conn_handle(w->conn);
  int rc = DBQ_OK;
  char why[256] = "the transaction was rolled back";

  assert(w->held && pthread_equal(w->owner, m->thread) && w->open);
  if (sqlite3_get_autocommit(db)) {
    rc = DBQ_ERR_BATCH; /* SQLite rolled back the batch: all of it */
  } else {
    if (ok && unresolved_fks(db)) {
      /* refused alone: committed on its own this would fail its COMMIT */
      ok = 0;
      rc = DBQ_ERR_MEMBER;
      snprintf(err, errlen, "FOREIGN KEY constraint failed");
    }
    if ((!ok && db_conn_control(w->conn, "ROLLBACK TO member", why,
                                sizeof why) != DB_OK) ||
        db_conn_control(w->conn, "RELEASE member", why, sizeof why) !=
            DB_OK)
      rc = DBQ_ERR_BATCH;
  }
  if (rc == DBQ_ERR_BATCH) {
    rollback_batch(w);
    publish(w, DBQ_ERR_BATCH, why);
    snprintf(err, errlen, "%s", why);
    pass_on(w, NULL);
  } else if (!ok) {
    pass_on(w, NULL);
  } else {
    m->next = w->finished;
    w->finished = m;
    if (w->members++ == 0) w->first_done = now_ms();
    pass_on(w, m);
    rc = m->rc; /* m->done: written under w->mu, read after it */
    if (rc != DBQ_OK) snprintf(err, errlen, "%s", m->msg);
  }
  pthread_cond_destroy(&m->cond);
  return rc;
}
