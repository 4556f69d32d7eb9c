/*
 * http: the HTTP server. Provides serving the API (dispatched to
 * scripts/app.lua on the worker's own Lua state), /healthz and /metrics
 * answered in C, static files from the web directory, body caps, one
 * access-log line per request, and a clean stop.
 * Uses: civetweb, vm, rules.
 */
#ifndef HOST_HTTP_H
#define HOST_HTTP_H

#include <stddef.h>

enum { HTTP_OK = 0, HTTP_ERR_START = -1 };

#define HTTP_MAX_BODY (1024 * 1024) /* larger bodies get 413 */

/* Starts listening on port with nthreads workers. Returns HTTP_OK or
 * HTTP_ERR_START with a message in err. */
int http_start(int port, int nthreads, char *err, size_t errlen);

/* Stops accepting, lets in-flight requests finish, frees the workers. */
void http_stop(void);

#endif
