/*
 * vm: the trusted Lua state of one thread. Provides making a state with
 * the standard libraries, cjson and the host modules (db, auth, text,
 * rules, clock, log, host), scripts/ on package.path, and calling the
 * request handler of scripts/app.lua. C calls Lua only through lua_pcall
 * with a traceback handler here.
 * Uses: Lua 5.4, lua-cjson, db, auth, json, text, rules, util.
 */
#ifndef HOST_VM_H
#define HOST_VM_H

#include <stddef.h>
#include <lua.h>

#include "util.h"

/* Where things are; set once by main before any state is made. */
typedef struct host_paths {
  char root[900];   /* checkout: scripts/, schema/ */
  char db[1024];    /* SQLite file */
  char rules[1024]; /* rules directory */
  char web[1024];   /* static files */
} host_paths;

extern host_paths vm_paths;

/* A request as scripts/app.lua sees it. Borrowed strings. */
typedef struct vm_request {
  const char *method, *path, *query, *remote;
  const char *body;
  size_t body_len;
  /* multipart/form-data upload: body holds the field `file` and
   * upload_name its file name (NULL: not an upload; "" none sent) */
  const char *upload_name;
  int nheaders;
  const char *const *header_names; /* nheaders each */
  const char *const *header_values;
} vm_request;

/* Headers a handler may add to its answer (more are left out). */
#define VM_MAX_HEADERS 8

/* The handler's answer. Strings borrowed from the state's stack: valid
 * until vm_request_done(). */
typedef struct vm_response {
  int status;
  const char *body;
  size_t body_len;
  const char *content_type;
  const char *route; /* e.g. "GET /api/plans" */
  int reuse;         /* the same request may get this answer (http_reuse.h) */
  int nheaders;
  const char *header_names[VM_MAX_HEADERS], *header_values[VM_MAX_HEADERS];
} vm_response;

/* Makes a trusted state. with_db: open vm_paths.db as the `db` module.
 * Returns the state (caller closes), or NULL with a message in err. */
lua_State *vm_new(int with_db, char *err, size_t errlen);

/* Calls app.handle(req). Never raises; a script error becomes a 500 with
 * the traceback logged. Returns 0. */
int vm_handle(lua_State *L, const vm_request *req, vm_response *resp);

/* Releases what vm_handle left on the stack. */
void vm_request_done(lua_State *L);

/* Runs require(module)[func](args...) with argv-style string arguments in
 * a protected call. Returns the function's integer result (an exit code;
 * 0 when it returns nothing) or 1 with the traceback printed on stderr. */
int vm_run(lua_State *L, const char *module, const char *func, int argc,
           char **argv);

/* The traceback message handler, for other modules' protected calls:
 * util_msghandler, the one the sandbox uses too. */
#define vm_msghandler util_msghandler

#endif
