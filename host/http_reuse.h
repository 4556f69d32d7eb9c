/*
 * http_reuse: answers reused across requests, per trusted Lua state. A
 * route that says so (scripts/app.lua: opts.reuse, for a bearer token's GET
 * whose answer depends on the database alone, such as exam registration's
 * eligibility question) has its answer kept in the state that made it,
 * keyed by the request's path, query and Authorization header, with the
 * data version of that state's own connection when the request began
 * (db_request_version: it changes whenever anything committed, on this
 * instance or from another process; a version is a counter of one
 * connection, so an answer is only compared within its state). The same
 * request again on that state, in the same wall-clock second and under the
 * same data version, gets the kept answer without entering Lua; any commit
 * in between, or the next second, makes it run again (so a token's last
 * use, kept to the minute, is still written). SQLite only: on PostgreSQL
 * another instance's commit is not seen here, and nothing is reused.
 * Uses: util, Lua 5.4, time.
 */
#ifndef HOST_HTTP_REUSE_H
#define HOST_HTTP_REUSE_H

#include <stddef.h>
#include <lua.h>

/* At most this many answers per thread (a direct-mapped table), each with
 * a key and a body of at most these sizes (larger ones are not kept). */
#define HTTP_REUSE_SLOTS 32
#define HTTP_REUSE_MAX_KEY 1024
#define HTTP_REUSE_MAX_BODY 4096
#define HTTP_REUSE_MAX_NAME 128 /* a content type, a route */

/* A kept answer. Borrowed from the state's table: valid while the state
 * is this thread's (until the next http_reuse_put on it). */
typedef struct http_reused {
  int status;
  const char *body;
  size_t body_len;
  const char *content_type;
  const char *route;
} http_reused;

/* Writes the key of a request into key (size bytes): "len:path?query\n
 * authorization". Returns its length, or 0 when it does not fit. */
size_t http_reuse_key(char *key, size_t size, const char *path,
                      const char *query, const char *authorization);

/* L's kept answer for key made under version in the current second, or
 * NULL. L is taken by this thread. */
const http_reused *http_reuse_get(lua_State *L, const char *key,
                                  size_t keylen, long long version);

/* Keeps in L the answer for key under version (made in the current
 * second), replacing what its slot held. Not kept when too large or out of
 * memory. Freed with L. */
void http_reuse_put(lua_State *L, const char *key, size_t keylen,
                    long long version, const http_reused *answer);

/* Answers given from the kept ones since start, over all threads. */
unsigned long http_reuse_hits(void);

#endif
