/*
 * db_pg: the `db` binding's PostgreSQL driver (declared in db.h), through
 * libpq. The same Lua interface as the SQLite driver (db_lua.c): query,
 * one, exec, script, transaction, in_transaction, active_statements,
 * writer_stats. Each Lua state has a connection of its own, opened on
 * first use (a worker that never touches the database holds none) and
 * reopened when the server dropped it between transactions.
 * Statements: the script's text is translated once per connection (:name
 * and ? to $n, one $n per distinct name) and prepared on the server under
 * a name of ours; both stay in a cache keyed by the text. Values go as
 * text, bytea as binary; results come back as SQLite would give them:
 * integers as Lua integers, booleans as 0/1, NULL as nil, bytea as bytes.
 * Transactions: db.transaction(fn) takes the database's writer lock (a
 * session advisory lock: the host's writers on every instance take turns,
 * as SQLite's one writer made them) and runs BEGIN ISOLATION LEVEL
 * SERIALIZABLE ... COMMIT on the state's own connection, again from the
 * start (at most PG_ATTEMPTS times) when PostgreSQL reports a
 * serialization failure or a deadlock (40001, 40P01: only a writer that
 * is not the host's, psql say, can cause one now); a write outside a
 * transaction is a transaction of its own, a read outside one runs alone
 * (READ COMMITTED) and waits for no lock. PostgreSQL groups commits
 * itself; synchronous_commit is on, so a COMMIT that returned is durable.
 * Errors read as the SQLite driver's: "db: UNIQUE constraint failed:
 * t.col (in: sql)", and so on.
 * This file: the connection, the errors' wording, running a statement,
 * the Lua functions. The translation is db_pg_sql.c, the statement cache
 * db_pg_stmt.c, values both ways db_pg_value.c, transactions and the
 * writer lock db_pg_tx.c, migrations db_pg_migrate.c; db_pg_int.h is
 * what they share.
 * Uses: libpq, Lua 5.4, db, db_pg_int.
 */
#include "db.h"

#include <assert.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <libpq-fe.h>

#include "db_pg_int.h"

static const char *const PG_STATE_MT = "host.db.pg";
static const char PG_STATE_KEY = 'p'; /* registry key: the pg_conn box */

int db_is_pg(const char *path) {
  return path && (strncmp(path, "postgresql://", 13) == 0 ||
                  strncmp(path, "postgres://", 11) == 0);
}

static void quiet(void *arg, const char *msg) {
  (void)arg, (void)msg; /* NOTICEs (IF NOT EXISTS ... skipping) */
}

/* Connects to uri with the platform's settings. Returns the connection
 * (caller PQfinish-es) or NULL with a message in err. */
PGconn *db_pg_connect(const char *uri, char *err, size_t errlen) {
  PGconn *pg = PQconnectdb(uri);
  PGresult *r = NULL;
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    snprintf(err, errlen, "cannot connect to the database: %s",
             pg ? PQerrorMessage(pg) : "out of memory");
    goto fail;
  }
  PQsetNoticeProcessor(pg, quiet, NULL);
  r = PQexec(pg, "SET synchronous_commit TO on; SET client_encoding TO "
                 "'UTF8'; SET default_transaction_isolation TO "
                 "'read committed'");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    snprintf(err, errlen, "cannot configure the database connection: %s",
             PQerrorMessage(pg));
    goto fail;
  }
  PQclear(r);
  return pg;
fail:
  PQclear(r);
  PQfinish(pg);
  return NULL;
}

/* ---- errors -------------------------------------------------------- */

/* The message of a failed result, worded as SQLite words it for the
 * constraint failures the scripts may meet. */
void db_pg_error_text(const PGresult *r, PGconn *pg, char *out, size_t outlen) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *primary =
      r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  const char *table = r ? PQresultErrorField(r, PG_DIAG_TABLE_NAME) : NULL;
  const char *column = r ? PQresultErrorField(r, PG_DIAG_COLUMN_NAME) : NULL;
  const char *cons = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
  const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
  size_t o;

  if (state && strcmp(state, "23505") == 0) {
    /* detail: Key (a, b)=(1, 2) already exists. -> t.a, t.b */
    const char *p =
        detail && strncmp(detail, "Key (", 5) == 0 ? detail + 5 : NULL;
    const char *end = p ? strstr(p, ")=(") : NULL;
    o = (size_t)snprintf(out, outlen, "UNIQUE constraint failed: ");
    if (!end) {
      snprintf(out + o, outlen - o, "%s", cons ? cons : "?");
      return;
    }
    while (p < end && o + 1 < outlen) {
      const char *comma = memchr(p, ',', (size_t)(end - p));
      const char *stop = comma ? comma : end;
      int n = snprintf(out + o, outlen - o, "%s%s.%.*s", o > 26 ? ", " : "",
                       table ? table : "?", (int)(stop - p), p);
      if (n < 0) break;
      o += (size_t)n < outlen - o ? (size_t)n : outlen - o - 1;
      p = comma ? comma + 1 : end;
      while (p < end && *p == ' ')
        p++;
    }
  } else if (state && strcmp(state, "23503") == 0) {
    snprintf(out, outlen, "FOREIGN KEY constraint failed");
  } else if (state && strcmp(state, "23502") == 0) {
    snprintf(out, outlen, "NOT NULL constraint failed: %s.%s",
             table ? table : "?", column ? column : "?");
  } else if (state && strcmp(state, "23514") == 0) {
    snprintf(out, outlen, "CHECK constraint failed: %s", cons ? cons : "?");
  } else if (primary) {
    snprintf(out, outlen, "%s", primary);
  } else {
    snprintf(out, outlen, "%s", pg ? PQerrorMessage(pg) : "out of memory");
    o = strlen(out);
    while (o > 0 && (out[o - 1] == '\n' || out[o - 1] == ' '))
      out[--o] = '\0';
  }
}

/* Records a failed statement of the open transaction: it is dead now, and
 * its first failure's SQLSTATE decides whether to run it again. */
void db_pg_note_failure(pg_conn *c, const PGresult *r) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (!c->depth) return;
  if (!c->aborted)
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
  c->aborted = 1;
}

/* ---- the connection ------------------------------------------------ */

pg_conn *db_pg_get_conn(lua_State *L) {
  pg_conn **box;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &PG_STATE_KEY);
  box = luaL_checkudata(L, -1, PG_STATE_MT);
  lua_pop(L, 1);
  if (!*box) luaL_error(L, "db: connection is closed");
  return *box;
}

/* Did the server end this idle connection (a restart, a failover, an
 * administrator)? It says so before it closes, and nothing else arrives
 * on an idle connection but notices: readable means look. */
static int dropped(PGconn *pg) {
  struct pollfd p;
  int i;
  p.fd = PQsocket(pg);
  p.events = POLLIN;
  if (p.fd < 0) return 1;
  /* the goodbye and the end of the stream may come in two reads */
  for (i = 0; i < 4; i++) {
    p.revents = 0;
    if (poll(&p, 1, 0) <= 0) break;
    if (!PQconsumeInput(pg)) return 1;
    (void)PQisBusy(pg); /* parses what came */
    if (PQstatus(pg) != CONNECTION_OK) return 1;
  }
  return PQstatus(pg) != CONNECTION_OK;
}

/* The live connection of c: opened on first use, reopened when the server
 * dropped it (only outside a transaction: inside one, the transaction is
 * lost and the statement fails). Outside a transaction a connection the
 * server ended while idle is found before it is used, so the first
 * request of each worker after a PostgreSQL restart does not fail. Raises. */
PGconn *db_pg_live(lua_State *L, pg_conn *c) {
  char err[512];
  unsigned i;
  if (c->pg && PQstatus(c->pg) == CONNECTION_OK &&
      (c->depth || !dropped(c->pg)))
    return c->pg;
  if (c->depth) luaL_error(L, "db: the connection to the database was lost");
  if (c->pg) PQfinish(c->pg);
  c->pg = NULL;
  c->locked = 0; /* a session lock goes with its connection */
  for (i = 0; i < PG_CACHE_SLOTS; i++)
    c->cache[i].prepared = 0;
  if (!(c->pg = db_pg_connect(c->uri, err, sizeof err))) {
    lua_pushfstring(L, "db: %s", err);
    lua_error(L);
  }
  return c->pg;
}

static int l_pg_query(lua_State *L);
static int l_pg_one(lua_State *L);
static int l_pg_exec(lua_State *L);

/* Shared body of query/one/exec: the statement, its parameters bound,
 * executed; rows built in a protected call so that the result is always
 * freed. A write outside a transaction is a transaction of its own. */
static int run(lua_State *L, int mode) {
  pg_conn *c = db_pg_get_conn(L);
  size_t len;
  const char *sql = luaL_checklstring(L, 1, &len);
  int nargs = lua_gettop(L) - 1, k, base, rc;
  pg_stmt *st;
  const char **values;
  int *lengths, *formats;
  PGresult *r;
  char err[512];

  if (c->depth && c->aborted)
    return luaL_error(L, "db: the transaction was rolled back; nothing more "
                         "runs in it");
  st = db_pg_get_stmt(L, c, sql, len);
  if (!c->depth && st->write) {
    lua_pushcfunction(L, mode == 'a'   ? l_pg_query
                         : mode == 'o' ? l_pg_one
                                       : l_pg_exec);
    lua_insert(L, 1); /* fn sql params... */
    return db_pg_transact(L);
  }
  if (st->style == 'n') {
    if (nargs != 1 || lua_type(L, 2) != LUA_TTABLE)
      return luaL_error(L,
                        "db: statement has named parameters: pass one "
                        "table of them (in: %s)",
                        sql);
    lua_pushnil(L);
    while (lua_next(L, 2)) { /* key value */
      if (lua_type(L, -2) != LUA_TSTRING)
        return luaL_error(L,
                          "db: named parameters take string keys, got a "
                          "%s key",
                          luaL_typename(L, -2));
      for (k = 0; k < st->nparams && strcmp(st->names[k], lua_tostring(L, -2));
           k++)
        ;
      if (k == st->nparams)
        return luaL_error(L, "db: no parameter :%s in statement (in: %s)",
                          lua_tostring(L, -2), sql);
      lua_pop(L, 1);
    }
  } else if (nargs != st->nparams) {
    return luaL_error(L, "db: statement takes %d parameters, got %d",
                      st->nparams, nargs);
  }
  luaL_checkstack(L, st->nparams + 8, "db: too many parameters");
  /* the arrays live in a userdata: nothing to free if Lua raises */
  values = lua_newuserdatauv(
      L, (size_t)(st->nparams + 1) * (sizeof *values + 2 * sizeof(int)), 0);
  lengths = (int *)(values + st->nparams + 1);
  formats = lengths + st->nparams + 1;
  base = lua_gettop(L);
  for (k = 0; k < st->nparams; k++) {
    int binary;
    if (st->style == 'n') {
      lua_getfield(L, 2, st->names[k]);
      db_pg_push_param(L, st, k, -1, &binary);
      lua_remove(L, -2);
    } else {
      db_pg_push_param(L, st, k, k + 2, &binary);
    }
  }
  for (k = 0; k < st->nparams; k++) {
    size_t vlen = 0;
    values[k] = lua_tolstring(L, base + 1 + k, &vlen); /* NULL for nil */
    lengths[k] = (int)vlen;
    formats[k] = 0;
    if (values[k] && st->types && st->types[k] == OID_BYTEA) formats[k] = 1;
  }
  /* the connection db_pg_get_stmt prepared st on (db_pg_live() here
   * could open another, where st is not prepared) */
  r = PQexecPrepared(c->pg, st->name, st->nparams, values, lengths, formats, 0);
  lua_settop(L, base - 1); /* drop the values: r holds its own copy */
  if (PQresultStatus(r) != PGRES_TUPLES_OK &&
      PQresultStatus(r) != PGRES_COMMAND_OK) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    db_pg_note_failure(c, r);
    /* a plan cached by the server went stale (a migration changed a
     * table): prepare again next time */
    if (state && strcmp(state, "0A000") == 0) st->prepared = 0;
    db_pg_error_text(r, c->pg, err, sizeof err);
    PQclear(r);
    lua_pushfstring(L, "db: %s (in: %s)", err, sql);
    return lua_error(L);
  }
  base = lua_gettop(L);
  lua_pushcfunction(L, db_pg_rows_protected);
  lua_pushlightuserdata(L, r);
  lua_pushinteger(L, mode);
  rc = lua_pcall(L, 2, LUA_MULTRET, 0);
  PQclear(r);
  if (rc != LUA_OK) return lua_error(L);
  return lua_gettop(L) - base;
}

static int l_pg_query(lua_State *L) {
  return run(L, 'a');
}

static int l_pg_one(lua_State *L) {
  return run(L, 'o');
}

static int l_pg_exec(lua_State *L) {
  return run(L, 'x');
}

/* Protected part of db.script: several statements without parameters. */
static int script_protected(lua_State *L) {
  pg_conn *c = db_pg_get_conn(L);
  const char *sql = luaL_checkstring(L, 1);
  PGresult *r;
  char err[512];
  if (c->aborted)
    return luaL_error(L, "db: the transaction was rolled back; nothing more "
                         "runs in it");
  {
    /* no transaction control in a script either: each statement's first
     * word is checked by translating the statements one by one */
    const char *p = sql;
    while (*p) {
      const char *semi = p;
      pg_stmt probe;
      int rc;
      char e2[256];
      /* up to the next ; outside quotes: db_pg_translate's own scan finds it */
      while (*semi && *semi != ';')
        semi++;
      rc = db_pg_translate(p, (size_t)(semi - p), &probe, e2, sizeof e2);
      if (rc == DB_ERR_DENIED)
        return luaL_error(L, "db: transactions are db.transaction's (in: %s)",
                          sql);
      if (rc == DB_OK) db_pg_stmt_free(&probe);
      p = *semi ? semi + 1 : semi;
    }
  }
  r = PQexec(db_pg_live(L, c), sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK &&
      PQresultStatus(r) != PGRES_TUPLES_OK &&
      PQresultStatus(r) != PGRES_EMPTY_QUERY) {
    db_pg_note_failure(c, r);
    db_pg_error_text(r, c->pg, err, sizeof err);
    PQclear(r);
    lua_pushfstring(L, "db: %s", err);
    return lua_error(L);
  }
  PQclear(r);
  return 0;
}

static int l_pg_script(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_pushcfunction(L, script_protected);
  lua_insert(L, 1);
  return db_pg_transact(L);
}

static int l_pg_transaction(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  return db_pg_transact(L);
}

static int l_pg_in_transaction(lua_State *L) {
  lua_pushboolean(L, db_pg_get_conn(L)->depth > 0);
  return 1;
}

/* Results are read whole: no statement is ever left mid-step. */
static int l_pg_active_statements(lua_State *L) {
  db_pg_get_conn(L);
  lua_pushinteger(L, 0);
  return 1;
}

/* No writer queue on PostgreSQL (the server orders and groups commits):
 * the counters of db_lua.c's writer_stats, all zero. */
static int l_pg_writer_stats(lua_State *L) {
  static const char *const keys[] = {"queued", "batches", "members", "failed",
                                     "max_batch"};
  size_t i;
  lua_createtable(L, 0, 5);
  for (i = 0; i < sizeof keys / sizeof *keys; i++) {
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, keys[i]);
  }
  return 1;
}

static int l_box_gc(lua_State *L) {
  pg_conn **box = luaL_checkudata(L, 1, PG_STATE_MT);
  pg_conn *c = *box;
  unsigned i;
  if (!c) return 0;
  assert(c->depth == 0);
  for (i = 0; i < PG_CACHE_SLOTS; i++)
    db_pg_stmt_free(&c->cache[i]);
  if (c->pg) PQfinish(c->pg);
  free(c->uri);
  free(c);
  *box = NULL;
  return 0;
}

static const luaL_Reg pg_funcs[] = {
    {"query", l_pg_query},
    {"one", l_pg_one},
    {"exec", l_pg_exec},
    {"script", l_pg_script},
    {"transaction", l_pg_transaction},
    {"in_transaction", l_pg_in_transaction},
    {"active_statements", l_pg_active_statements},
    {"writer_stats", l_pg_writer_stats},
    {NULL, NULL},
};

int db_pg_push_module(lua_State *L, const char *uri) {
  pg_conn **box = lua_newuserdatauv(L, sizeof *box, 0); /* box */
  *box = NULL;
  if (luaL_newmetatable(L, PG_STATE_MT)) {
    lua_pushcfunction(L, l_box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  if (!(*box = calloc(1, sizeof **box)) || !((*box)->uri = strdup(uri)))
    return luaL_error(L, "db: out of memory");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &PG_STATE_KEY); /* (empty) */
  luaL_newlib(L, pg_funcs);
  return 1;
}

int db_pg_rollback_open(lua_State *L) {
  pg_conn **box, *c;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &PG_STATE_KEY);
  box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!box || !(c = *box) || !c->pg) return 0;
  assert(c->depth == 0);
  if (PQstatus(c->pg) == CONNECTION_OK &&
      PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
    PQclear(PQexec(c->pg, "ROLLBACK"));
    db_pg_writer_lock(c, 0, NULL, 0);
    return 1;
  }
  db_pg_writer_lock(c, 0, NULL, 0); /* a raise between the lock and BEGIN */
  return 0;
}
