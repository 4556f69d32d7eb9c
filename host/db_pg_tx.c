/*
 * db_pg_tx: the PostgreSQL driver's transactions (db_pg.c). db.transaction
 * takes the database's writer lock (a session advisory lock: the host's
 * writers on every instance take turns) and runs BEGIN ISOLATION LEVEL
 * SERIALIZABLE ... COMMIT on the state's own connection, again from the
 * start (at most PG_ATTEMPTS times) on a serialization failure or a
 * deadlock; nested, it is part of the open one.
 * Uses: libpq, Lua 5.4, db_pg_int.
 */
#include "db_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#define PG_ATTEMPTS 8 /* a transaction's runs at most, on 40001/40P01 */
/* The writer lock's advisory key (per database): "host" in ASCII. Taken
 * before BEGIN, so that the transaction's snapshot follows the previous
 * writer's commit: under SERIALIZABLE a lock taken inside the transaction
 * would come after its snapshot, and every wait would end in a
 * serialization failure. */
#define PG_WRITER_KEY "1752134516"

static int retryable(const char *state) {
  return strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
}

/* Runs a transaction-control statement on c (ours, never a script's).
 * Returns the result's status; err gets the message on failure. */
static int control(pg_conn *c, const char *sql, char *err, size_t errlen) {
  PGresult *r = PQexec(c->pg, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!c->aborted || !c->sqlstate[0])
      snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
    if (err) db_pg_error_text(r, c->pg, err, errlen);
  }
  PQclear(r);
  return ok;
}

/* A short random pause before running a transaction again, growing with
 * the attempt, so that two that conflicted do not meet again at once. */
static void backoff(int attempt) {
  struct timespec ts;
  long us = (long)(rand() % 1000 + 1) * (attempt < 6 ? 1L << attempt : 64);
  ts.tv_sec = 0;
  ts.tv_nsec = us * 1000 < 200000000 ? us * 1000 : 200000000;
  nanosleep(&ts, NULL);
}

/* Takes (waiting for it) or lets go of the writer lock on c. Returns 1,
 * or 0 with the message in err (taking only). */
int db_pg_writer_lock(pg_conn *c, int take, char *err, size_t errlen) {
  PGresult *r;
  int ok;
  if (!take && (!c->locked || PQstatus(c->pg) != CONNECTION_OK)) {
    c->locked = 0;
    return 1;
  }
  r = PQexec(c->pg, take ? "SELECT pg_advisory_lock(" PG_WRITER_KEY ")"
                         : "SELECT pg_advisory_unlock(" PG_WRITER_KEY ")");
  ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok && err) db_pg_error_text(r, c->pg, err, errlen);
  PQclear(r);
  c->locked = take && ok;
  return ok || !take;
}

/* Runs the function at 1 with the arguments above it as one transaction
 * on the state's connection, or, nested, as part of the open one. Runs it
 * again from the start on a serialization failure or deadlock, at most
 * PG_ATTEMPTS times. Returns fn's results once COMMIT succeeded; raises
 * fn's error (its work rolled back) or the COMMIT's. */
int db_pg_transact(lua_State *L) {
  pg_conn *c = db_pg_get_conn(L);
  int n = lua_gettop(L), attempt, rc, i;
  char err[512];

  if (c->depth > 0) {
    lua_call(L, n - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  for (attempt = 1;; attempt++) {
    lua_settop(L, n);
    db_pg_live(L, c);
    c->aborted = 0;
    c->sqlstate[0] = '\0';
    if ((!c->locked && !db_pg_writer_lock(c, 1, err, sizeof err)) ||
        !control(c, "BEGIN ISOLATION LEVEL SERIALIZABLE", err, sizeof err)) {
      db_pg_writer_lock(c, 0, NULL, 0);
      lua_pushfstring(L, "db: begin: %s", err);
      return lua_error(L);
    }
    luaL_checkstack(L, n, "db: too many arguments");
    for (i = 1; i <= n; i++)
      lua_pushvalue(L, i);
    c->depth = 1;
    rc = lua_pcall(L, n - 1, LUA_MULTRET, 0);
    c->depth = 0;
    if (rc == LUA_OK && !c->aborted) {
      if (control(c, "COMMIT", err, sizeof err) &&
          PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        db_pg_writer_lock(c, 0, NULL, 0);
        return lua_gettop(L) - n;
      }
      if (!c->sqlstate[0] || !retryable(c->sqlstate)) {
        if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
          control(c, "ROLLBACK", NULL, 0);
        db_pg_writer_lock(c, 0, NULL, 0);
        lua_pushfstring(L, "db: commit: %s", err);
        return lua_error(L);
      }
    } else if (PQstatus(c->pg) == CONNECTION_OK &&
               PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
      control(c, "ROLLBACK", NULL, 0);
    }
    if (!retryable(c->sqlstate) || attempt >= PG_ATTEMPTS) break;
    backoff(attempt); /* holding the lock: the other writer is not ours */
  }
  db_pg_writer_lock(c, 0, NULL, 0);
  c->aborted = 0;
  if (rc != LUA_OK) return lua_error(L); /* fn's own error */
  /* fn caught a failed statement's error and returned: the transaction
   * was rolled back all the same */
  return luaL_error(L, "db: the transaction was rolled back (SQLSTATE %s)",
                    c->sqlstate);
}
