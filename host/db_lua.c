/*
 * db_lua: the `db` Lua binding (declared in db.h). A statement fetched from
 * the cache is always reset before it goes back, also when Lua raises
 * while binding or building rows: binding and row building run inside a
 * protected call, the reset outside it.
 * Parameters: a statement uses either ? (values passed positionally) or
 * :name (one table passed, bound by name: t.name, absent is NULL, a key
 * that is not a parameter is an error); a mix of both is refused.
 * Transactions and every write go through the process's writer (dbq.h);
 * reads outside a transaction stay on the state's own connection. During
 * an HTTP request (db_request_begin/end) those reads share one read
 * transaction, begun at the first: one snapshot, and one WAL read lock
 * (two fcntl calls) per request instead of per statement. It ends before
 * the request's first write, so the request reads what it wrote.
 * A PostgreSQL URI gets db_pg.c's functions instead (the driver seam is
 * the module table: SQLite's path has no branch for it).
 * Uses: db, dbq, db_pg, sqlite3, Lua 5.4.
 */
#include "db.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "dbq.h"

/* What a Lua state's `db` holds: its own connection, the process's writer
 * for the file, and how deep it is inside db.transaction. */
typedef struct db_state {
  db_conn *own;       /* owned */
  dbq_writer *writer; /* a reference (dbq_detach) */
  int depth;          /* > 0: statements go to the writer, which it holds */
  int request;        /* in an HTTP request: reads share one snapshot */
  int reading;        /* own holds the request's read transaction */
} db_state;

static const char *const DB_STATE_MT = "host.db.state";
static const char DB_STATE_KEY = 'd'; /* registry key: the db_state */
static const char DB_ARRAY_KEY = 'a'; /* registry key: array metatable */


/* Raises the error of db_conn_stmt's rc for sql. */
static int stmt_error(lua_State *L, db_conn *c, int rc, const char *sql) {
  switch (rc) {
  case DB_ERR_DENIED:
    return luaL_error(L, "db: transactions are db.transaction's (in: %s)",
                      sql);
  case DB_ERR_EMPTY:
    return luaL_error(L, "db: empty statement");
  case DB_ERR_MULTI:
    return luaL_error(L,
                      "db: one statement per call (use db.script for several)");
  default:
    lua_pushfstring(L, "db: %s (in: %s)", sqlite3_errmsg(db_conn_handle(c)),
                    sql);
    return lua_error(L);
  }
}

/* The statement for sql on c, from its cache. Borrowed. Raises. */
static sqlite3_stmt *get_stmt(lua_State *L, db_conn *c, const char *sql,
                              size_t len) {
  sqlite3_stmt *st;
  int rc = db_conn_stmt(c, sql, len, &st);
  if (rc != DB_OK) stmt_error(L, c, rc, sql);
  return st;
}

static db_state *get_state(lua_State *L) {
  db_state *s;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_STATE_KEY);
  s = luaL_checkudata(L, -1, DB_STATE_MT);
  lua_pop(L, 1);
  if (!s->own) luaL_error(L, "db: connection is closed");
  return s;
}

/* Begins the request's read transaction on own, unless one is open.
 * Returns whether one is open now. */
static int begin_read(db_state *s) {
  if (s->reading) return 1;
  if (!sqlite3_get_autocommit(db_conn_handle(s->own)) ||
      db_conn_control(s->own, "BEGIN", NULL, 0) != DB_OK)
    return 0;
  s->reading = 1;
  return 1;
}

/* Ends the request's read transaction on own, if one is open. */
static void end_read(db_state *s) {
  if (!s->reading) return;
  s->reading = 0;
  db_conn_control(s->own, "COMMIT", NULL, 0);
}

/* The connection statements go to now: the writer inside a transaction
 * (never once SQLite rolled the transaction back: the statement would
 * autocommit on its own), else the state's own. Borrowed. */
static db_conn *get_conn(lua_State *L, db_state *s) {
  db_conn *w;
  if (!s->depth) return s->own;
  w = dbq_conn(s->writer);
  if (sqlite3_get_autocommit(db_conn_handle(w)))
    luaL_error(L, "db: the transaction was rolled back; nothing more runs "
                  "in it");
  return w;
}

/* Binds the Lua value at idx to parameter i of st; name (without its ':',
 * NULL for ?) names it in an error. Raises on an unsupported type. */
static void bind_value(lua_State *L, sqlite3_stmt *st, int i, int idx,
                       const char *name) {
  int rc;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE:
    rc = sqlite3_bind_null(st, i);
    break;
  case LUA_TBOOLEAN:
    rc = sqlite3_bind_int(st, i, lua_toboolean(L, idx));
    break;
  case LUA_TNUMBER:
    rc = lua_isinteger(L, idx)
             ? sqlite3_bind_int64(st, i, lua_tointeger(L, idx))
             : sqlite3_bind_double(st, i, lua_tonumber(L, idx));
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    rc = sqlite3_bind_text(st, i, s, (int)len, SQLITE_TRANSIENT);
    break;
  }
  default:
    if (name)
      luaL_error(L, "db: parameter :%s has unsupported type %s", name,
                 luaL_typename(L, idx));
    luaL_error(L, "db: parameter %d has unsupported type %s", i,
               luaL_typename(L, idx));
    return;
  }
  if (rc != SQLITE_OK)
    luaL_error(L, "db: bind: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
}

/* How st names its parameters: 0 none, 'p' positional (?, ?NNN) only,
 * 'n' named (:name) only. Raises on a mix or on @name / $name. */
static int param_style(lua_State *L, sqlite3_stmt *st) {
  int i, n = sqlite3_bind_parameter_count(st), named = 0, positional = 0;
  for (i = 1; i <= n; i++) {
    const char *name = sqlite3_bind_parameter_name(st, i);
    if (!name || name[0] == '?')
      positional = 1;
    else if (name[0] == ':')
      named = 1;
    else
      luaL_error(L, "db: parameter %s: write named parameters as :name",
                 name);
  }
  if (named && positional)
    luaL_error(L, "db: statement mixes ? and :name parameters (in: %s)",
               sqlite3_sql(st));
  return named ? 'n' : positional ? 'p' : 0;
}

/* Binds the table at idx by name: each :name of st gets t[name] (absent
 * is NULL); a key of t that is no parameter of st is an error naming it,
 * so that a typo in Lua does not silently become NULL. */
static void bind_named(lua_State *L, sqlite3_stmt *st, int idx) {
  int i, n = sqlite3_bind_parameter_count(st);
  for (i = 1; i <= n; i++) {
    const char *name = sqlite3_bind_parameter_name(st, i) + 1; /* skip : */
    lua_getfield(L, idx, name); /* value */
    bind_value(L, st, i, -1, name);
    lua_pop(L, 1);
  }
  lua_pushnil(L); /* key */
  while (lua_next(L, idx)) { /* key value */
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "db: named parameters take string keys, got a %s key",
                 luaL_typename(L, -2));
    lua_pushfstring(L, ":%s", lua_tostring(L, -2)); /* key value :key */
    if (sqlite3_bind_parameter_index(st, lua_tostring(L, -1)) == 0)
      luaL_error(L, "db: no parameter :%s in statement (in: %s)",
                 lua_tostring(L, -3), sqlite3_sql(st));
    lua_pop(L, 2); /* key */
  }
}

/* Protected part of a statement run: binds arguments 3.. and steps.
 * Stack in: [1]=stmt lightuserdata, [2]=mode, [3..]=params: positional
 * values for ? parameters, or one table for :name parameters.
 * mode 'a' all rows, 'o' one row, 'x' exec (no rows). */
static int run_protected(lua_State *L) {
  sqlite3_stmt *st = lua_touserdata(L, 1);
  const char *mode = lua_tostring(L, 2);
  sqlite3 *db = sqlite3_db_handle(st);
  int nparams = lua_gettop(L) - 2, i, rc, row = 0, ncol;
  int style = param_style(L, st);

  if (style == 'n') {
    if (nparams != 1 || lua_type(L, 3) != LUA_TTABLE)
      return luaL_error(L,
                        "db: statement has named parameters: pass one "
                        "table of them (in: %s)",
                        sqlite3_sql(st));
    bind_named(L, st, 3);
  } else {
    if (nparams != sqlite3_bind_parameter_count(st))
      return luaL_error(L, "db: statement takes %d parameters, got %d",
                        sqlite3_bind_parameter_count(st), nparams);
    for (i = 1; i <= nparams; i++)
      bind_value(L, st, i, i + 2, NULL);
  }
  ncol = sqlite3_column_count(st);
  if (mode[0] == 'a') {
    lua_newtable(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_ARRAY_KEY);
    lua_setmetatable(L, -2); /* rows: a JSON array even if empty */
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (mode[0] == 'x') continue;
    lua_createtable(L, 0, ncol); /* rows? row */
    for (i = 0; i < ncol; i++) {
      switch (sqlite3_column_type(st, i)) {
      case SQLITE_INTEGER:
        lua_pushinteger(L, sqlite3_column_int64(st, i));
        break;
      case SQLITE_FLOAT:
        lua_pushnumber(L, sqlite3_column_double(st, i));
        break;
      case SQLITE_NULL:
        continue;
      default:
        lua_pushlstring(L, (const char *)sqlite3_column_text(st, i),
                        (size_t)sqlite3_column_bytes(st, i));
      }
      lua_setfield(L, -2, sqlite3_column_name(st, i));
    }
    if (mode[0] == 'o') return 1;
    lua_rawseti(L, -2, ++row); /* rows */
  }
  if (rc != SQLITE_DONE)
    return luaL_error(L, "db: %s (in: %s)", sqlite3_errmsg(db),
                      sqlite3_sql(st));
  if (mode[0] == 'o') {
    lua_pushnil(L);
    return 1;
  }
  if (mode[0] == 'x') {
    lua_pushinteger(L, sqlite3_changes(db));
    lua_pushinteger(L, sqlite3_last_insert_rowid(db));
    return 2;
  }
  return 1;
}

static int transact(lua_State *L);
static int l_db_query(lua_State *L);
static int l_db_one(lua_State *L);
static int l_db_exec(lua_State *L);

/* Shared body of query/one/exec: fetches the statement, runs it protected,
 * resets it whatever happened, then returns or re-raises. A statement that
 * writes, outside a transaction, runs as a transaction of its own, so that
 * every write takes its turn on the writer. */
static int run(lua_State *L, const char *mode) {
  db_state *s = get_state(L);
  db_conn *c = get_conn(L, s);
  size_t len;
  const char *sql = luaL_checklstring(L, 1, &len);
  int nargs = lua_gettop(L) - 1, base, rc, nres;
  sqlite3_stmt *st = get_stmt(L, c, sql, len);

  if (!s->depth && !sqlite3_stmt_readonly(st)) {
    lua_pushcfunction(L, mode[0] == 'a'   ? l_db_query
                         : mode[0] == 'o' ? l_db_one
                                          : l_db_exec);
    lua_insert(L, 1); /* fn sql params... */
    return transact(L);
  }
  if (!s->depth && s->request)
    begin_read(s); /* when it cannot, each statement reads on its own */
  base = lua_gettop(L);
  luaL_checkstack(L, nargs + 3, "db: too many parameters");
  lua_pushcfunction(L, run_protected);
  lua_pushlightuserdata(L, st);
  lua_pushstring(L, mode);
  for (int i = 2; i <= nargs + 1; i++)
    lua_pushvalue(L, i);
  rc = lua_pcall(L, nargs + 2, LUA_MULTRET, 0);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != LUA_OK) return lua_error(L);
  nres = lua_gettop(L) - base;
  return nres;
}

/* db.query(sql, ...) -> array of rows (tables keyed by column name). */
static int l_db_query(lua_State *L) {
  return run(L, "a");
}

/* db.one(sql, ...) -> the first row or nil. */
static int l_db_one(lua_State *L) {
  return run(L, "o");
}

/* db.exec(sql, ...) -> changes, last_insert_rowid. */
static int l_db_exec(lua_State *L) {
  return run(L, "x");
}

/* Protected part of db.script: runs the statements on the connection. */
static int script_protected(lua_State *L) {
  sqlite3 *db = db_conn_handle(get_conn(L, get_state(L)));
  const char *sql = luaL_checkstring(L, 1);
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    lua_pushfstring(L, "db: %s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return lua_error(L);
  }
  return 0;
}

/* db.script(sql): runs several statements without parameters (seeding),
 * in a transaction (the caller's, or one of its own). */
static int l_db_script(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_pushcfunction(L, script_protected);
  lua_insert(L, 1);
  return transact(L);
}

/* Runs the function at 1 with the arguments above it as one transaction:
 * a member of the writer's batch (dbq.h), or, nested, part of the
 * transaction already open. The writer is held only inside lua_pcall
 * here, so whatever fn raises, dbq_leave runs. Returns fn's results once
 * the COMMIT holding them succeeded; raises fn's error (its work rolled
 * back alone) or the batch's. */
static int transact(lua_State *L) {
  db_state *s = get_state(L);
  dbq_member m;
  char err[300];
  int n = lua_gettop(L), rc, qrc;

  if (s->depth > 0) {
    lua_call(L, n - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  end_read(s); /* what is read after the COMMIT includes this write */
  if (dbq_enter(s->writer, &m, err, sizeof err) != DBQ_OK) {
    lua_pushfstring(L, "db: begin: %s", err);
    return lua_error(L);
  }
  s->depth = 1;
  rc = lua_pcall(L, n - 1, LUA_MULTRET, 0);
  s->depth = 0;
  qrc = dbq_leave(s->writer, &m, rc == LUA_OK, err, sizeof err);
  if (rc != LUA_OK) return lua_error(L); /* fn's own error first */
  if (qrc != DBQ_OK) {
    lua_pushfstring(L, "db: commit: %s", err);
    return lua_error(L);
  }
  return lua_gettop(L);
}

/* db.transaction(fn, ...) -> fn's results, once committed durably; fn's
 * error re-raised after its work was rolled back. Nested calls join the
 * outer one. */
static int l_db_transaction(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  return transact(L);
}

/* db.in_transaction() -> boolean */
static int l_db_in_transaction(lua_State *L) {
  lua_pushboolean(L, get_state(L)->depth > 0);
  return 1;
}

/* db.active_statements() -> statements of the connection in use left
 * mid-step (should be 0 between calls: a diagnostic for tests) */
static int l_db_active_statements(lua_State *L) {
  sqlite3 *db = db_conn_handle(get_conn(L, get_state(L)));
  sqlite3_stmt *st = NULL;
  int n = 0;
  while ((st = sqlite3_next_stmt(db, st)))
    if (sqlite3_stmt_busy(st)) n++;
  lua_pushinteger(L, n);
  return 1;
}

/* db.writer_stats() -> {queued, batches, members, failed, max_batch}: the
 * process's writer for this file (group commit at work). */
static int l_db_writer_stats(lua_State *L) {
  dbq_stats st;
  dbq_get_stats(get_state(L)->writer, &st);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, st.queued);
  lua_setfield(L, -2, "queued");
  lua_pushinteger(L, st.batches);
  lua_setfield(L, -2, "batches");
  lua_pushinteger(L, st.members);
  lua_setfield(L, -2, "members");
  lua_pushinteger(L, st.failed);
  lua_setfield(L, -2, "failed");
  lua_pushinteger(L, st.max_batch);
  lua_setfield(L, -2, "max_batch");
  return 1;
}

/* db.array([t]) -> t marked as a JSON array (encodes as [] when empty). */
static int l_db_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_ARRAY_KEY);
  lua_setmetatable(L, 1);
  return 1;
}

static int l_state_gc(lua_State *L) {
  db_state *s = luaL_checkudata(L, 1, DB_STATE_MT);
  assert(s->depth == 0);
  db_conn_close(s->own);
  s->own = NULL;
  if (s->writer) dbq_detach(s->writer);
  s->writer = NULL;
  return 0;
}

static const luaL_Reg db_funcs[] = {
    {"query", l_db_query},
    {"one", l_db_one},
    {"exec", l_db_exec},
    {"script", l_db_script},
    {"transaction", l_db_transaction},
    {"in_transaction", l_db_in_transaction},
    {"array", l_db_array},
    {"active_statements", l_db_active_statements},
    {"writer_stats", l_db_writer_stats},
    {NULL, NULL},
};

void db_push_array_mt(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_ARRAY_KEY);
}

/* Registers the array metatable of L's rows. */
static void new_array_mt(lua_State *L) {
  lua_newtable(L); /* the array metatable */
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__jsontype");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &DB_ARRAY_KEY);
}

int db_push_module(lua_State *L, const char *path) {
  char err[512];
  db_state *s;

  if (db_is_pg(path)) {
    new_array_mt(L);
    db_pg_push_module(L, path); /* db */
    lua_pushcfunction(L, l_db_array);
    lua_setfield(L, -2, "array");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_ARRAY_KEY);
    lua_setfield(L, -2, "array_mt");
    lua_pushliteral(L, "postgresql");
    lua_setfield(L, -2, "driver");
    return 1;
  }

  s = lua_newuserdatauv(L, sizeof *s, 0); /* state */
  memset(s, 0, sizeof *s);
  if (luaL_newmetatable(L, DB_STATE_MT)) {
    lua_pushcfunction(L, l_state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  /* own first: it creates the file the writer is keyed by */
  if (db_conn_open(path, &s->own, err, sizeof err) != DB_OK ||
      dbq_attach(path, &s->writer, err, sizeof err) != DBQ_OK) {
    lua_pushstring(L, err);
    return lua_error(L);
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &DB_STATE_KEY); /* (empty) */
  new_array_mt(L);

  luaL_newlib(L, db_funcs); /* db */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_ARRAY_KEY);
  lua_setfield(L, -2, "array_mt");
  lua_pushliteral(L, "sqlite");
  lua_setfield(L, -2, "driver");
  return 1;
}

void db_request_begin(lua_State *L) {
  db_state *s;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_STATE_KEY);
  s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (s) s->request = 1;
}

int db_request_version(lua_State *L, long long *out) {
  db_state *s;
  sqlite3_stmt *st;
  int rc;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_STATE_KEY);
  s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!s || !s->own || s->depth) return -1; /* PostgreSQL, or closed */
  s->request = 1;
  if (!begin_read(s)) return -1; /* the snapshot: begun by the pragma's read */
  if (db_conn_stmt(s->own, "PRAGMA data_version", 19, &st) != DB_OK) return -1;
  rc = sqlite3_step(st);
  *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

int db_request_end(lua_State *L) {
  db_state *s;
  int open = 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_STATE_KEY);
  s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!s) return db_pg_rollback_open(L);
  /* db.transaction leaves the writer whatever fn does: never open here */
  assert(s->depth == 0);
  s->request = 0;
  end_read(s);
  /* scripts cannot BEGIN (the authorizer): defence only */
  if (s->own && !sqlite3_get_autocommit(db_conn_handle(s->own))) {
    db_conn_control(s->own, "ROLLBACK", NULL, 0);
    open = 1;
  }
  return open;
}
