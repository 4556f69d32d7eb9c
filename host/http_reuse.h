/*
 * http_reuse: answers reused across requests, per worker thread. A route
 * that says so (scripts/app.lua: opts.reuse, for a bearer token's GET whose
 * answer depends on the database alone, such as exam registration's
 * eligibility question) has its answer kept, keyed by the request's path,
 * query and Authorization header, with the data version of the thread's
 * own connection when the request began (db_request_version: it changes
 * whenever anything committed, on this instance or from another process).
 * The same request again, in the same wall-clock second and under the same
 * data version, gets the kept answer without entering Lua; any commit in
 * between, or the next second, makes it run again (so a token's last use,
 * kept to the minute, is still written). Per thread, so no lock: civetweb
 * gives a keep-alive connection one thread. SQLite only: on PostgreSQL
 * another instance's commit is not seen here, and nothing is reused.
 * Uses: util, time.
 */
#ifndef HOST_HTTP_REUSE_H
#define HOST_HTTP_REUSE_H

#include <stddef.h>

/* At most this many answers per thread (a direct-mapped table), each with
 * a key and a body of at most these sizes (larger ones are not kept). */
#define HTTP_REUSE_SLOTS 32
#define HTTP_REUSE_MAX_KEY 1024
#define HTTP_REUSE_MAX_BODY 4096

/* A kept answer. Borrowed from the thread's table: valid until the
 * thread's next http_reuse_put or http_reuse_clear. */
typedef struct http_reused {
  int status;
  const char *body;
  size_t body_len;
  const char *content_type;
  const char *route;
} http_reused;

/* Writes the key of a request into key (size bytes): "path?query\n
 * authorization". Returns its length, or 0 when it does not fit. */
size_t http_reuse_key(char *key, size_t size, const char *path,
                      const char *query, const char *authorization);

/* The thread's kept answer for key made under version in the current
 * second, or NULL. */
const http_reused *http_reuse_get(const char *key, size_t keylen,
                                  long long version);

/* Keeps the answer for key under version (made in the current second),
 * replacing what its slot held. Not kept when too large or out of
 * memory. */
void http_reuse_put(const char *key, size_t keylen, long long version,
                    const http_reused *answer);

/* Frees the thread's kept answers (at thread exit). */
void http_reuse_clear(void);

/* Answers given from the kept ones since start, over all threads. */
unsigned long http_reuse_hits(void);

#endif
