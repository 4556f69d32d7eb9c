/* The db binding: rows and types, statements never left mid-step when Lua
 * raises, transactions that roll back on error, and migrations. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "lua_helpers.h"
#include "unit.h"

static lua_State *open_state(void) {
  static char path[256];
  char err[512];
  snprintf(path, sizeof path, "/tmp/host-db-XXXXXX");
  if (mkstemp(path) < 0) abort();
  snprintf(vm_paths.db, sizeof vm_paths.db, "%s", path);
  return vm_new(1, err, sizeof err);
}

UNIT_TEST(db_rows_and_types) {
  lua_State *L = open_state();
  CHECK(L != NULL);
  lua_run(L,
          "local db = require 'db' db.exec('CREATE TABLE t(i INTEGER, r REAL, "
          "s TEXT, n)')"
          " db.exec('INSERT INTO t VALUES (?, ?, ?, ?)', 7, 1.5, '七', nil)");
  CHECK(
      strcmp(lua_run(L, "local r = require('db').one('SELECT * FROM t') "
                        "return math.type(r.i) .. r.r .. r.s .. tostring(r.n)"),
             "integer1.5七nil") == 0);
  CHECK(strcmp(lua_run(L, "return require('json').encode(require('db').query("
                          "'SELECT * FROM t WHERE i > 100'))"),
               "[]") == 0);
  CHECK(
      strcmp(lua_run(L, "local n, id = require('db').exec("
                        "'INSERT INTO t(i) VALUES (8)') return n .. ':' .. id"),
             "1:2") == 0);
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELECT ?', 1, 2)"),
                "takes 1 parameters, got 2");
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELEC nonsense')"),
                "syntax error");
  /* 2026-11-28: a second statement in one call was silently dropped */
  CHECK_STR_HAS(lua_run(L, "return require('db').exec('INSERT INTO t(i) "
                           "VALUES (1); INSERT INTO t(i) VALUES (2)')"),
                "one statement per call");
  CHECK(strcmp(lua_run(L, "return require('db').one('SELECT count(*) AS n "
                          "FROM t').n"),
               "2") == 0);
  lua_close(L);
}

UNIT_TEST(db_no_statement_leaks_when_lua_raises) {
  lua_State *L = open_state();
  const char *r;
  lua_run(L, "local db = require 'db' db.exec('CREATE TABLE t(x)') "
             "for i = 1, 10 do db.exec('INSERT INTO t VALUES (?)', i) end");
  r = lua_run(L,
              "return require('db').query('SELECT x FROM t WHERE x > ?', {})");
  CHECK_STR_HAS(r, "unsupported type table");
  CHECK(strcmp(lua_run(L, "return require('db').active_statements()"), "0") ==
        0);
  /* an error raised by the caller in the middle of a transaction */
  r = lua_run(
      L, "local db = require 'db' return select(2, pcall(db.transaction, "
         "function() db.exec('INSERT INTO t VALUES (99)') error('boom') end))");
  CHECK_STR_HAS(r, "boom");
  CHECK(strcmp(
            lua_run(
                L, "return require('db').one('SELECT count(*) AS n FROM t').n"),
            "10") == 0);
  CHECK(strcmp(lua_run(L, "return tostring(require('db').in_transaction())"),
               "false") == 0);
  CHECK(strcmp(lua_run(L, "return require('db').active_statements()"), "0") ==
        0);
  /* commits */
  lua_run(L, "local db = require 'db' db.transaction(function() "
             "db.exec('INSERT INTO t VALUES (11)') end)");
  CHECK(
      strcmp(
          lua_run(L, "return require('db').one('SELECT max(x) AS m FROM t').m"),
          "11") == 0);
  lua_close(L);
}

UNIT_TEST(db_statement_cache_survives_many_statements) {
  lua_State *L = open_state();
  CHECK(strcmp(
            lua_run(L,
                    "local db, s = require 'db', 0 for i = 1, 400 do "
                    "s = s + db.one('SELECT ' .. i .. ' AS v').v end return s"),
            "80200") == 0);
  lua_close(L);
}

UNIT_TEST(db_migrate_applies_each_once) {
  char dir[] = "/tmp/host-mig-XXXXXX", path[300], err[512];
  sqlite3 *db = NULL;
  int applied = -1;
  FILE *f;
  if (!mkdtemp(dir)) abort();
  snprintf(path, sizeof path, "%s/001_a.sql", dir);
  f = fopen(path, "w");
  fputs("CREATE TABLE a(x);", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/db", dir);
  CHECK(db_open(path, &db, err, sizeof err) == DB_OK);
  CHECK(db_migrate(db, dir, &applied, err, sizeof err) == DB_OK);
  CHECK(applied == 1);
  CHECK(db_migrate(db, dir, &applied, err, sizeof err) == DB_OK);
  CHECK(applied == 0);
  snprintf(path, sizeof path, "%s/002_b.sql", dir);
  f = fopen(path, "w");
  fputs("CREATE TABLE b(x); CREATE TABLE a(y);", f); /* fails: a exists */
  fclose(f);
  CHECK(db_migrate(db, dir, &applied, err, sizeof err) == DB_ERR_SQL);
  CHECK_STR_HAS(err, "002_b.sql");
  {
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name='b'",
                       -1, &st, NULL);
    sqlite3_step(st);
    CHECK(sqlite3_column_int(st, 0) == 0); /* rolled back whole */
    sqlite3_finalize(st);
  }
  sqlite3_close_v2(db);
}

UNIT_TEST(db_named_parameters) {
  lua_State *L = open_state();
  lua_run(L, "local db = require 'db' "
             "db.exec('CREATE TABLE d(id INTEGER PRIMARY KEY, plan, status)') "
             "for i = 1, 6 do db.exec('INSERT INTO d(plan, status) VALUES "
             "(:plan, :status)', {plan = i % 2, status = i <= 3 and 'draft' "
             "or 'submitted'}) end");
  /* the optional filter, both ways; :status appears twice, bound once */
  CHECK(strcmp(lua_run(L, "return #require('db').query('SELECT id FROM d "
                          "WHERE plan = :plan AND (:status IS NULL OR "
                          "status = :status)', {plan = 1})"),
               "3") == 0);
  CHECK(strcmp(lua_run(L, "return #require('db').query('SELECT id FROM d "
                          "WHERE plan = :plan AND (:status IS NULL OR "
                          "status = :status)', {plan = 1, status = 'draft'})"),
               "2") == 0);
  /* a missing key is NULL */
  CHECK(strcmp(lua_run(L, "return tostring(require('db').one('SELECT :x IS "
                          "NULL AS n', {}).n)"),
               "1") == 0);
  /* false and numbers as today */
  CHECK(strcmp(lua_run(L, "local r = require('db').one('SELECT :b AS b, :f "
                          "AS f', {b = false, f = 1.5}) return r.b .. ':' .. "
                          "r.f"),
               "0:1.5") == 0);
  /* a key that names no parameter is refused, by name */
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELECT id FROM d "
                           "WHERE plan = :plan', {plan = 1, stauts = 'x'})"),
                "no parameter :stauts");
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELECT :a', {a = 1, "
                           "[1] = 2})"),
                "string keys");
  /* a table value is refused, naming its parameter */
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELECT :plan', "
                           "{plan = {}})"),
                "parameter :plan has unsupported type table");
  /* positional values for a named statement are refused */
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELECT :a', 1)"),
                "pass one table");
  /* mixing ? and :name is refused, either way of calling */
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELECT ?, :a', {a = "
                           "1})"),
                "mixes ? and :name");
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELECT ?, :a', 1, 2)"),
                "mixes ? and :name");
  /* positional calls work as before; a table there is still refused */
  CHECK(strcmp(lua_run(L, "return require('db').one('SELECT count(*) AS n "
                          "FROM d WHERE plan = ? AND status = ?', 0, "
                          "'submitted').n"),
               "2") == 0);
  CHECK_STR_HAS(lua_run(L, "return require('db').one('SELECT ?', {a = 1})"),
                "parameter 1 has unsupported type table");
  /* named exec returns changes and rowid; no statement left mid-step */
  CHECK(strcmp(lua_run(L, "local n = require('db').exec('UPDATE d SET "
                          "status = :s WHERE plan = :p', {s = 'x', p = 0}) "
                          "return n"),
               "3") == 0);
  CHECK(strcmp(lua_run(L, "return require('db').active_statements()"), "0") ==
        0);
  lua_close(L);
}

/* During an HTTP request a state's reads share one snapshot (one WAL read
 * lock per request); its first write ends it, so it reads what it wrote;
 * outside a request every read sees the latest commit. */
UNIT_TEST(db_request_reads_share_one_snapshot) {
  lua_State *a = open_state(), *b;
  char err[512];
  const char *count = "return require('db').one('SELECT count(*) AS n FROM t').n";
  b = vm_new(1, err, sizeof err); /* the same file */
  CHECK(a != NULL && b != NULL);
  lua_run(a, "require('db').exec('CREATE TABLE t(x)') "
             "require('db').exec('INSERT INTO t VALUES (1)')");
  db_request_begin(a);
  CHECK(strcmp(lua_run(a, count), "1") == 0);
  lua_run(b, "require('db').exec('INSERT INTO t VALUES (2)')");
  CHECK(strcmp(lua_run(b, count), "2") == 0);
  CHECK(strcmp(lua_run(a, count), "1") == 0); /* the request's snapshot */
  lua_run(a, "require('db').exec('INSERT INTO t VALUES (3)')");
  CHECK(strcmp(lua_run(a, count), "3") == 0); /* its own write, and b's */
  lua_run(b, "require('db').exec('INSERT INTO t VALUES (4)')");
  CHECK(strcmp(lua_run(a, count), "3") == 0); /* a new snapshot, held */
  CHECK(db_request_end(a) == 0);              /* nothing left open */
  CHECK(strcmp(lua_run(a, count), "4") == 0);
  lua_run(b, "require('db').exec('INSERT INTO t VALUES (5)')");
  CHECK(strcmp(lua_run(a, count), "5") == 0); /* outside: the latest */
  lua_close(b);
  lua_close(a);
}
