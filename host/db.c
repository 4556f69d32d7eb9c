/*
 * db: SQLite connection, migrations and the `db` Lua binding.
 * A statement fetched from the cache is always reset before it goes back,
 * also when Lua raises while binding or building rows: binding and row
 * building run inside a protected call, the reset outside it.
 * Parameters: a statement uses either ? (values passed positionally) or
 * :name (one table passed, bound by name: t.name, absent is NULL, a key
 * that is not a parameter is an error); a mix of both is refused.
 * Uses: sqlite3, Lua 5.4, POSIX dirent.
 */
#include "db.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define DB_CACHE_SLOTS 128
#define DB_BUSY_MS 5000

/* One connection of one Lua state, with its prepared-statement cache. */
typedef struct db_conn {
  sqlite3 *db; /* owned */
  struct {
    uint32_t hash;      /* FNV-1a of the SQL text */
    sqlite3_stmt *stmt; /* owned, reset when idle */
  } cache[DB_CACHE_SLOTS];
  unsigned next_victim; /* round-robin eviction */
} db_conn;

static const char *const DB_CONN_MT = "host.db.conn";
static const char DB_CONN_KEY = 'd';  /* registry key: the db_conn */
static const char DB_ARRAY_KEY = 'a'; /* registry key: array metatable */

int db_open(const char *path, sqlite3 **out, char *err, size_t errlen) {
  sqlite3 *db = NULL;
  char *msg = NULL;
  int rc = DB_ERR_OPEN;
  static const char *const pragmas =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;" /* acknowledged means on disk */
      "PRAGMA foreign_keys=ON;"
      "PRAGMA temp_store=MEMORY;";

  *out = NULL;
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

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads a whole file; caller frees. NULL on error. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0)
    goto done;
  buf = malloc((size_t)n + 1);
  if (!buf) goto done;
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
    goto done;
  }
  buf[n] = '\0';
done:
  fclose(f);
  return buf;
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
  qsort(names, n, sizeof *names, cmp_names);
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
    if (!(sql = read_file(path))) {
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

/* ---- Lua binding ---------------------------------------------------- */

static uint32_t fnv1a(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static db_conn *get_conn(lua_State *L) {
  db_conn *c;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_CONN_KEY);
  c = luaL_checkudata(L, -1, DB_CONN_MT);
  lua_pop(L, 1);
  if (!c->db) luaL_error(L, "db: connection is closed");
  return c;
}

/* Finds or prepares the statement for sql. Borrowed: stays in the cache. */
static sqlite3_stmt *get_stmt(lua_State *L, db_conn *c, const char *sql,
                              size_t len) {
  uint32_t h = fnv1a(sql, len);
  unsigned i, slot;
  sqlite3_stmt *st = NULL;
  const char *tail = NULL;
  for (i = 0; i < DB_CACHE_SLOTS; i++) {
    if (c->cache[i].stmt && c->cache[i].hash == h &&
        strcmp(sqlite3_sql(c->cache[i].stmt), sql) == 0)
      return c->cache[i].stmt;
  }
  if (sqlite3_prepare_v3(c->db, sql, (int)len + 1, SQLITE_PREPARE_PERSISTENT,
                         &st, &tail) != SQLITE_OK) {
    lua_pushfstring(L, "db: %s (in: %s)", sqlite3_errmsg(c->db), sql);
    sqlite3_finalize(st);
    lua_error(L);
  }
  if (!st) luaL_error(L, "db: empty statement");
  while (tail && *tail &&
         (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' ||
          *tail == ';'))
    tail++;
  if (tail && *tail) {
    /* one statement per call; several would run only the first */
    sqlite3_finalize(st);
    luaL_error(L, "db: one statement per call (use db.script for several)");
  }
  for (slot = 0; slot < DB_CACHE_SLOTS && c->cache[slot].stmt; slot++)
    ;
  if (slot == DB_CACHE_SLOTS) {
    slot = c->next_victim++ % DB_CACHE_SLOTS;
    sqlite3_finalize(c->cache[slot].stmt);
  }
  c->cache[slot].hash = h;
  c->cache[slot].stmt = st;
  return st;
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

/* Shared body of query/one/exec: fetches the statement, runs it protected,
 * resets it whatever happened, then returns or re-raises. */
static int run(lua_State *L, const char *mode) {
  db_conn *c = get_conn(L);
  size_t len;
  const char *sql = luaL_checklstring(L, 1, &len);
  int nargs = lua_gettop(L) - 1, base, rc, nres;
  sqlite3_stmt *st = get_stmt(L, c, sql, len);

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

/* db.script(sql): runs several statements without parameters (seeding). */
static int l_db_script(lua_State *L) {
  db_conn *c = get_conn(L);
  const char *sql = luaL_checkstring(L, 1);
  char *msg = NULL;
  if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    lua_pushfstring(L, "db: %s", msg ? msg : sqlite3_errmsg(c->db));
    sqlite3_free(msg);
    return lua_error(L);
  }
  return 0;
}

/* db.transaction(fn, ...) -> fn's results. BEGIN IMMEDIATE, then COMMIT,
 * or ROLLBACK and re-raise fn's error. Nested calls join the outer one. */
static int l_db_transaction(lua_State *L) {
  db_conn *c = get_conn(L);
  int n = lua_gettop(L), rc;
  char *msg = NULL;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (!sqlite3_get_autocommit(c->db)) {
    lua_call(L, n - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
    lua_pushfstring(L, "db: begin: %s", msg ? msg : sqlite3_errmsg(c->db));
    sqlite3_free(msg);
    return lua_error(L);
  }
  rc = lua_pcall(L, n - 1, LUA_MULTRET, 0);
  if (rc != LUA_OK) {
    if (!sqlite3_get_autocommit(c->db))
      sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return lua_error(L);
  }
  if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    lua_pushfstring(L, "db: commit: %s", msg ? msg : sqlite3_errmsg(c->db));
    sqlite3_free(msg);
    return lua_error(L);
  }
  return lua_gettop(L);
}

/* db.in_transaction() -> boolean */
static int l_db_in_transaction(lua_State *L) {
  lua_pushboolean(L, !sqlite3_get_autocommit(get_conn(L)->db));
  return 1;
}

/* db.active_statements() -> statements of this connection left mid-step
 * (should be 0 between calls: a diagnostic for tests and requests) */
static int l_db_active_statements(lua_State *L) {
  db_conn *c = get_conn(L);
  sqlite3_stmt *st = NULL;
  int n = 0;
  while ((st = sqlite3_next_stmt(c->db, st)))
    if (sqlite3_stmt_busy(st)) n++;
  lua_pushinteger(L, n);
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

static int l_conn_gc(lua_State *L) {
  db_conn *c = luaL_checkudata(L, 1, DB_CONN_MT);
  unsigned i;
  for (i = 0; i < DB_CACHE_SLOTS; i++) {
    sqlite3_finalize(c->cache[i].stmt);
    c->cache[i].stmt = NULL;
  }
  if (c->db) sqlite3_close_v2(c->db);
  c->db = NULL;
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
    {NULL, NULL},
};

int db_push_module(lua_State *L, const char *path) {
  char err[512];
  sqlite3 *db = NULL;
  db_conn *c;

  c = lua_newuserdatauv(L, sizeof *c, 0); /* conn */
  memset(c, 0, sizeof *c);
  if (luaL_newmetatable(L, DB_CONN_MT)) {
    lua_pushcfunction(L, l_conn_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  if (db_open(path, &db, err, sizeof err) != DB_OK) {
    lua_pushstring(L, err);
    return lua_error(L);
  }
  c->db = db;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &DB_CONN_KEY); /* (empty) */

  lua_newtable(L); /* the array metatable */
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__jsontype");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &DB_ARRAY_KEY);

  luaL_newlib(L, db_funcs); /* db */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_ARRAY_KEY);
  lua_setfield(L, -2, "array_mt");
  return 1;
}

int db_rollback_open(lua_State *L) {
  db_conn *c;
  int open = 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DB_CONN_KEY);
  c = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (c && c->db && !sqlite3_get_autocommit(c->db)) {
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    open = 1;
  }
  return open;
}
