/*
 * db_pg_int: the PostgreSQL driver as its own files see it (db_pg*.c; no
 * other file includes it). Provides a Lua state's connection and its
 * statement cache (pg_conn, pg_stmt), and what one file of the driver
 * calls in another, by the file that defines it.
 * Uses: libpq, Lua 5.4.
 */
#ifndef HOST_DB_PG_INT_H
#define HOST_DB_PG_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <lua.h>

#define PG_CACHE_SLOTS 128

/* Type OIDs of pg_type.h (a server header), for the types we convert. */
enum {
  OID_BOOL = 16,
  OID_BYTEA = 17,
  OID_INT8 = 20,
  OID_INT2 = 21,
  OID_INT4 = 23,
  OID_OID = 26,
  OID_FLOAT4 = 700,
  OID_FLOAT8 = 701,
  OID_NUMERIC = 1700,
};

/* One statement text: its translation, and whether it is prepared on the
 * connection now (a reconnect forgets every prepared statement). */
typedef struct pg_stmt {
  uint32_t hash; /* util_text_key32 of sql */
  char *sql;     /* owned: the script's text, the key */
  char *text;    /* owned: the translation, $n parameters */
  char name[24]; /* the server-side prepared statement */
  int prepared;  /* prepared on the connection as name */
  int style;     /* 0 no parameters, 'p' ?, 'n' :name */
  int nparams;   /* $1..$nparams */
  char **names;  /* owned, each owned: names[k] is $k+1's :name ('n') */
  Oid *types;    /* owned: the server's type of each parameter */
  int write;     /* not a plain read: alone, it is a transaction */
} pg_stmt;

typedef struct pg_conn {
  PGconn *pg; /* owned; NULL until first use */
  char *uri;  /* owned */
  pg_stmt cache[PG_CACHE_SLOTS];
  unsigned next_victim; /* round-robin eviction */
  unsigned serial;      /* names prepared statements */
  struct {
    Oid oid, base; /* a domain's base type (schema/pg: blob over bytea) */
  } domains[16];
  int ndomains;
  int depth;        /* > 0: inside db.transaction (BEGIN sent) */
  int locked;       /* holds the writer lock (PG_WRITER_KEY) */
  int aborted;      /* a statement failed: the transaction is dead */
  char sqlstate[6]; /* the first failure's SQLSTATE in the transaction */
} pg_conn;

/* A byte of an identifier (SQL's, unquoted; UTF-8 included). */
static inline int ident_char(int ch) {
  return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch >= 0x80;
}

/* ---- db_pg.c: the connection, errors ---- */

/* The state's connection (borrowed). Raises if it is closed. */
pg_conn *db_pg_get_conn(lua_State *L);

/* Connects to uri with the platform's settings. Returns the connection
 * (caller PQfinish-es) or NULL with a message in err. */
PGconn *db_pg_connect(const char *uri, char *err, size_t errlen);

/* The message of a failed result r (may be NULL) on pg, into out. */
void db_pg_error_text(const PGresult *r, PGconn *pg, char *out, size_t outlen);

/* Records a failed statement (r may be NULL) of c's open transaction. */
void db_pg_note_failure(pg_conn *c, const PGresult *r);

/* The live connection of c (borrowed): opened on first use, reopened when
 * the server dropped it outside a transaction. Raises. */
PGconn *db_pg_live(lua_State *L, pg_conn *c);

/* ---- db_pg_sql.c: the translation ---- */

/* Translates sql (len bytes) into st; DB_OK or an error with why in err. */
int db_pg_translate(const char *sql, size_t len, pg_stmt *st, char *err,
                    size_t errlen);

/* Frees what st owns and clears it. */
void db_pg_stmt_free(pg_stmt *st);

/* ---- db_pg_stmt.c: the statement cache ---- */

/* The statement for sql on c, translated and prepared on first use.
 * Borrowed (the cache's). Raises. */
pg_stmt *db_pg_get_stmt(lua_State *L, pg_conn *c, const char *sql, size_t len);

/* ---- db_pg_value.c: values both ways ---- */

/* Pushes the text of the Lua value at idx for parameter k of st (a
 * string, or nil for NULL), *binary its format. Raises. */
int db_pg_push_param(lua_State *L, const pg_stmt *st, int k, int idx,
                     int *binary);

/* Protected (lua_CFunction): what mode ('a', 'o', 'x') asks of the result
 * at 1 (lightuserdata, borrowed), mode at 2. */
int db_pg_rows_protected(lua_State *L);

/* ---- db_pg_tx.c: transactions, the writer lock ---- */

/* Runs the function at 1 with the arguments above it as one transaction
 * on the state's connection (nested: part of the open one). Returns its
 * results once COMMIT succeeded; raises. */
int db_pg_transact(lua_State *L);

/* Takes (waiting for it) or lets go of the writer lock on c. Returns 1,
 * or 0 with the message in err (taking only). */
int db_pg_writer_lock(pg_conn *c, int take, char *err, size_t errlen);

#endif
