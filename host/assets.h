/*
 * assets: the hashed files of the web build (web/dist/assets/NAME-HASH.EXT),
 * served pre-compressed (brotli or gzip copies written by the build, when
 * the browser accepts them) with a year-long immutable cache, since a new
 * build gives them new names. Other static files stay with civetweb.
 * Uses: civetweb, vm (vm_paths.web), http_reply.
 */
#ifndef HOST_ASSETS_H
#define HOST_ASSETS_H

#include <civetweb.h>

/* Serves a GET or HEAD of /assets/NAME from the build directory. Returns
 * the status sent (200, or 404 for a name that is not a plain file name
 * or not there), or 0 when the request is not for /assets/ (the caller
 * lets civetweb serve it). */
int assets_serve(struct mg_connection *conn);

#endif
