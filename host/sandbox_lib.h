/*
 * sandbox_lib: `lib`, the helpers of the rule contract. Provides the
 * table of stateless C functions a rule calls as lib.err, lib.blank,
 * lib.path, lib.param, lib.today and lib.year (shared read-only by every
 * set, as sandbox_env makes it), and the binding of the set a call runs
 * (what lib.param reads its params from), kept in the registry for the
 * call's duration only.
 * Uses: Lua 5.4, sandbox_int.
 */
#ifndef HOST_SANDBOX_LIB_H
#define HOST_SANDBOX_LIB_H

#include <lua.h>

/* Pushes a new table of the lib functions. */
void sbx_push_lib(lua_State *L);

/* Makes the set at idx the one lib.param reads until the next bind; idx
 * 0 unbinds (after every call). Stack unchanged. */
void sbx_lib_bind(lua_State *L, int idx);

#endif
