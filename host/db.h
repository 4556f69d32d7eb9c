/*
 * db: SQLite storage for the host. Provides opening a connection with the
 * platform's pragmas (WAL, foreign keys, busy timeout, durable commits),
 * numbered migrations from schema/, and the Lua binding `db` that scripts/
 * use (query, one, exec, transaction) with a per-connection statement cache.
 * Parameters are ? (values passed in order) or :name (one table passed:
 *   db.query("SELECT ... WHERE (:status IS NULL OR d.status = :status)",
 *            {status = s})
 * binds t.name to each :name, an absent key as NULL, and refuses a key that
 * names no parameter); one statement never mixes the two.
 * Uses: sqlite3, Lua 5.4.
 */
#ifndef HOST_DB_H
#define HOST_DB_H

#include <stddef.h>
#include <sqlite3.h>
#include <lua.h>

enum { DB_OK = 0, DB_ERR_OPEN = -1, DB_ERR_SQL = -2, DB_ERR_IO = -3 };

/* Opens (creating if needed) the database at path and applies the pragmas.
 * Returns DB_OK and sets *out (caller closes with sqlite3_close_v2), or
 * DB_ERR_OPEN with a message in err. */
int db_open(const char *path, sqlite3 **out, char *err, size_t errlen);

/* Applies every schema/NNN_*.sql file of dir not yet recorded in
 * schema_migrations, in order, each in its own transaction. *applied gets
 * the number applied (may be NULL). Returns DB_OK, DB_ERR_IO or DB_ERR_SQL. */
int db_migrate(sqlite3 *db, const char *dir, int *applied, char *err,
               size_t errlen);

/* Pushes the `db` module table bound to a new connection to path onto L's
 * stack. The connection and its cached statements belong to L and are
 * closed when L is closed. Raises a Lua error if the file cannot be opened. */
int db_push_module(lua_State *L, const char *path);

/* Rolls back a transaction a script left open (defence at the end of each
 * request). Returns 1 if one was open. */
int db_rollback_open(lua_State *L);

#endif
