/*
 * dbq: the write queue. Provides one writer connection per database file
 * per process, shared by every Lua state of the process, and the order in
 * which transactions use it: threads wait their turn in a FIFO of ours
 * (never in SQLite's sleeping busy handler), and consecutive transactions
 * share one durable COMMIT (group commit).
 *
 * A transaction is a member of the open batch: dbq_enter waits for the
 * writer and opens the member's SAVEPOINT inside the batch transaction
 * (BEGIN IMMEDIATE when none is open); the caller runs its statements on
 * dbq_conn(); dbq_leave releases the savepoint (or rolls it back alone),
 * then either commits the batch (nobody waiting, or the batch is full) and
 * tells every member, or hands the writer to the next in line and waits
 * for the COMMIT that holds its member. DBQ_OK from dbq_leave means that
 * COMMIT succeeded: nothing is acknowledged that is not on disk. A batch
 * whose COMMIT fails, or that SQLite rolled back whole, fails every member.
 * Cross-process locks (the command line writing the same file) still wait
 * in SQLite's busy timeout, on the writer connection only.
 * Uses: db (db_conn_open, db_conn_control), sqlite3, pthreads.
 */
#ifndef HOST_DBQ_H
#define HOST_DBQ_H

#include <pthread.h>
#include <stddef.h>

#include "db.h"

enum {
  DBQ_OK = 0,
  DBQ_ERR_OPEN = -1,   /* the writer connection could not be opened */
  DBQ_ERR_BUSY = -2,   /* no turn within the wait limit, or this thread
                          already holds the writer through another state */
  DBQ_ERR_BEGIN = -3,  /* BEGIN or SAVEPOINT failed: nothing ran */
  DBQ_ERR_MEMBER = -4, /* this member's work was refused and rolled back
                          alone (a deferred foreign key it left unresolved) */
  DBQ_ERR_BATCH = -5,  /* the batch failed (COMMIT failed, or SQLite rolled
                          the transaction back): none of it is stored */
};

typedef struct dbq_writer dbq_writer;

/* One transaction of one thread, on that thread's stack between
 * dbq_enter and dbq_leave. Fields are dbq's. */
typedef struct dbq_member {
  pthread_cond_t cond; /* signalled when granted the writer or told done */
  pthread_t thread;
  int granted;             /* the writer was handed to this member */
  int done, rc;            /* its batch's outcome, once done */
  char msg[256];           /* the batch's error, when rc != DBQ_OK */
  struct dbq_member *next; /* in the queue, then in the batch */
} dbq_member;

typedef struct dbq_stats {
  long queued;    /* threads waiting for the writer now */
  long batches;   /* COMMITs run */
  long members;   /* transactions acknowledged */
  long failed;    /* batches that failed */
  long max_batch; /* the most members one COMMIT held */
} dbq_stats;

/* The writer of the file at path (which must exist), opened on first use
 * and shared; each call takes a reference. HOST_DB_BATCH (members per
 * batch, 1: no grouping) and HOST_DB_BATCH_MS (how long a finished member
 * may wait for later ones before its batch commits) are read when the
 * writer is opened. Returns DBQ_OK and *out, or DBQ_ERR_OPEN with err. */
int dbq_attach(const char *path, dbq_writer **out, char *err, size_t errlen);

/* Drops a reference; the last one closes the writer connection (and,
 * with HOST_DB_STATS set, prints its counters on stderr). The writer must
 * not be held. */
void dbq_detach(dbq_writer *w);

/* Waits for the writer (FIFO, at most 5 s) and opens m's savepoint. On
 * DBQ_OK the caller holds the writer and must call dbq_leave once; on an
 * error (DBQ_ERR_BUSY, DBQ_ERR_BEGIN, message in err) it does not. */
int dbq_enter(dbq_writer *w, dbq_member *m, char *err, size_t errlen);

/* The writer connection: valid for the holder, between enter and leave.
 * Borrowed. */
db_conn *dbq_conn(dbq_writer *w);

/* Ends m: ok releases its savepoint, !ok rolls it back. Returns once m is
 * settled: DBQ_OK (ok, and the COMMIT holding m succeeded, or !ok and
 * only m was rolled back), DBQ_ERR_MEMBER or DBQ_ERR_BATCH with err. */
int dbq_leave(dbq_writer *w, dbq_member *m, int ok, char *err,
              size_t errlen);

/* Counters since the writer was opened. */
void dbq_get_stats(dbq_writer *w, dbq_stats *out);

#endif
