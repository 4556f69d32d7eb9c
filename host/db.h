/*
 * db: SQLite storage for the host. Provides opening a connection with the
 * platform's pragmas (WAL, foreign keys, busy timeout, durable commits),
 * numbered migrations from schema/, and the Lua binding `db` that scripts/
 * use (query, one, exec, transaction) with a per-connection statement cache.
 * Each Lua state reads on a connection of its own; every write goes to the
 * process's writer for the file (dbq.h): db.transaction(fn) runs fn as one
 * member of a group commit and returns once its COMMIT is durable, and a
 * write outside a transaction is a transaction of its own. Scripts never
 * run BEGIN, COMMIT or savepoints themselves (refused when prepared).
 * Parameters are ? (values passed in order) or :name (one table passed:
 *   db.query("SELECT ... WHERE (:status IS NULL OR d.status = :status)",
 *            {status = s})
 * binds t.name to each :name, an absent key as NULL, and refuses a key that
 * names no parameter); one statement never mixes the two.
 * A path that is a PostgreSQL URI (postgresql://, postgres://) selects the
 * libpq driver (db_pg*.c) behind the same Lua interface: no writer queue,
 * each state's own connection, db.transaction a SERIALIZABLE transaction
 * run again on a serialization failure; db.driver says which.
 * Uses: sqlite3, libpq, Lua 5.4, dbq.
 */
#ifndef HOST_DB_H
#define HOST_DB_H

#include <stddef.h>
#include <sqlite3.h>
#include <lua.h>

enum {
  DB_OK = 0,
  DB_ERR_OPEN = -1,
  DB_ERR_SQL = -2,
  DB_ERR_IO = -3,
  DB_ERR_DENIED = -4, /* transaction control, refused by the authorizer */
  DB_ERR_EMPTY = -5,  /* no statement in the text */
  DB_ERR_MULTI = -6,  /* more than one statement in the text */
};

/* Opens (creating if needed) the database at path and applies the pragmas.
 * Returns DB_OK and sets *out (caller closes with sqlite3_close_v2), or
 * DB_ERR_OPEN with a message in err. */
int db_open(const char *path, sqlite3 **out, char *err, size_t errlen);

/* A connection of the binding (db_open's, plus an authorizer refusing
 * transaction control) with its statement cache. */
typedef struct db_conn db_conn;

/* Opens path as a binding connection. Returns DB_OK and *out (caller
 * closes with db_conn_close), or DB_ERR_OPEN with a message in err. */
int db_conn_open(const char *path, db_conn **out, char *err, size_t errlen);

/* Finalizes the cached statements and closes. NULL is a no-op. */
void db_conn_close(db_conn *c);

/* The SQLite handle. Borrowed. */
sqlite3 *db_conn_handle(db_conn *c);

/* Runs transaction control (BEGIN, SAVEPOINT, COMMIT...) that scripts may
 * not. Returns DB_OK, or DB_ERR_SQL with the message in err (may be NULL). */
int db_conn_control(db_conn *c, const char *sql, char *err, size_t errlen);

/* The prepared statement for sql (len bytes, NUL-terminated) from c's
 * cache, prepared and cached on first use. Borrowed: reset it after use.
 * Returns DB_OK, DB_ERR_SQL (sqlite3_errmsg has why), DB_ERR_DENIED,
 * DB_ERR_EMPTY or DB_ERR_MULTI. */
int db_conn_stmt(db_conn *c, const char *sql, size_t len, sqlite3_stmt **out);

/* Applies every schema/NNN_*.sql file of dir not yet recorded in
 * schema_migrations, in order, each in its own transaction. *applied gets
 * the number applied (may be NULL). Returns DB_OK, DB_ERR_IO or DB_ERR_SQL. */
int db_migrate(sqlite3 *db, const char *dir, int *applied, char *err,
               size_t errlen);

/* Applies the migrations of dir to the database at path, a SQLite file or
 * a PostgreSQL URI. Returns what db_migrate or db_pg_migrate returns, or
 * DB_ERR_OPEN. */
int db_migrate_at(const char *path, const char *dir, int *applied, char *err,
                  size_t errlen);

/* ---- the Lua binding (db_lua.c) ---- */

/* Pushes the `db` module table onto L's stack: a new connection to path
 * for reads, and a reference to the process's writer for path. Both are
 * L's and released when L is closed (the writer with its last state).
 * Raises a Lua error if the file cannot be opened. */
int db_push_module(lua_State *L, const char *path);

/* An HTTP request begins on L: until db_request_end, L's reads outside a
 * transaction share one read transaction (one snapshot), begun at the
 * first read and ended before the first write. */
void db_request_begin(lua_State *L);

/* The request on L begins its read transaction now (as its first read
 * would) and *out gets the data version under it: PRAGMA data_version of
 * L's own connection, which changes whenever another connection (the
 * process's writer, another process) committed since, and never on L's
 * own (it only reads). Equal versions: the same data. Returns 0, or -1
 * (PostgreSQL, inside a transaction, an error): no version to compare.
 * db_request_end ends what it began. */
int db_request_version(lua_State *L, long long *out);

/* The request on L ends: ends its read transaction, and rolls back a
 * transaction left open on L's own connection (defence: db.transaction
 * always leaves the writer, and scripts cannot BEGIN). Returns 1 if one
 * such was open. */
int db_request_end(lua_State *L);

/* Pushes the metatable that marks the binding's row arrays (JSON arrays
 * even when empty). */
void db_push_array_mt(lua_State *L);

/* ---- PostgreSQL (db_pg*.c) ---- */

/* Whether path is a PostgreSQL URI (postgresql://... or postgres://...). */
int db_is_pg(const char *path);

/* host backup: a consistent copy of the SQLite database at path in out,
 * taken while others write (one read transaction), checked and renamed into
 * place (db_backup.c). Returns the pages copied, or -1 with err. */
long db_backup(const char *path, const char *out, char *err, size_t errlen);

/* host restore: the checked copy from into the database at path, which
 * must be empty unless force. Returns the pages copied, or -1 with err. */
long db_restore(const char *from, const char *path, int force, char *err,
                size_t errlen);

/* Applies every NNN_*.sql of dir not yet in schema_migrations, each in its
 * own transaction, under an advisory lock (one migrator at a time); the
 * file of the same name in dir/pg/, where there is one, instead of the
 * shared one. Returns DB_OK, DB_ERR_OPEN, DB_ERR_IO or DB_ERR_SQL with the
 * message in err. */
int db_pg_migrate(const char *uri, const char *dir, int *applied, char *err,
                  size_t errlen);

/* Pushes the PostgreSQL driver's functions of the `db` table (query, one,
 * exec, script, transaction, in_transaction, active_statements,
 * writer_stats) with L's connection to uri, opened on first use and
 * closed with L. Raises on out of memory only. */
int db_pg_push_module(lua_State *L, const char *uri);

/* db_request_end for a PostgreSQL state: rolls back a transaction left
 * open (defence). Reads outside a transaction run alone there (READ
 * COMMITTED), with no request snapshot yet. Returns 1 if one was open. */
int db_pg_rollback_open(lua_State *L);

#endif
