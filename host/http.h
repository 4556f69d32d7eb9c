/*
 * http: the HTTP server. Provides serving the API (dispatched to
 * scripts/app.lua on the worker's own Lua state), /healthz and /metrics
 * answered in C, static files from the web directory, body caps, one
 * access-log line per request, errors in the JSON shape, refusing
 * ambiguous request lengths, and a clean stop. The files: http.c (the
 * server, routing, responses, the access log), http_body.c/h (bodies and
 * uploads), http_metrics.c/h (/metrics).
 * Uses: civetweb, peer, vm, rules, assets.
 */
#ifndef HOST_HTTP_H
#define HOST_HTTP_H

#include <stddef.h>

enum { HTTP_OK = 0, HTTP_ERR_START = -1 };

#define HTTP_MAX_BODY (1024 * 1024)    /* larger bodies get 413 */
#define HTTP_THREADS 128               /* default workers (--threads) */
#define HTTP_REQUEST_TIMEOUT_MS 5000   /* HOST_REQUEST_TIMEOUT_MS */
#define HTTP_BODY_TIMEOUT_MS 30000     /* HOST_BODY_TIMEOUT_MS */
#define HTTP_CONNECTIONS_PER_CLIENT 32 /* HOST_CONNECTIONS_PER_CLIENT */

/* Starts listening on port with nthreads workers, with the settings of
 * the environment (HOST_LISTEN_ALL, HOST_REQUEST_TIMEOUT_MS,
 * HOST_BODY_TIMEOUT_MS, HOST_CONNECTIONS_PER_CLIENT, HOST_TRUSTED_PROXY).
 * Returns HTTP_OK or HTTP_ERR_START with a message in err (cannot listen, a bad
 * setting). */
int http_start(int port, int nthreads, char *err, size_t errlen);

/* Stops accepting, lets in-flight requests finish, frees the workers. */
void http_stop(void);

#endif
