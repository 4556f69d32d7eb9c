/*
 * sandbox_env: the environment a rule file runs in. Provides the names a
 * rule's _ENV allows (the safe base functions, shared read-only copies of
 * string, table, math without random, utf8 and os with time, date, clock
 * and difftime only, and `lib`), the metatable of every env built from
 * them once per state (reading an undefined global raises, as Redis's
 * locked _G does), a fresh env per run of a file, and read-only proxies
 * of a table (a write raises; pairs never hands out the table behind).
 * Uses: Lua 5.4, sandbox_guard, sandbox_limits, sandbox_lib.
 */
#ifndef HOST_SANDBOX_ENV_H
#define HOST_SANDBOX_ENV_H

#include <lua.h>

/* Builds the metatable of run envs in L's registry, once per state, after
 * sbx_guard_libraries. Stack unchanged. */
void sbx_env_init(lua_State *L);

/* Pushes a fresh _ENV for one run of a rule file: an empty table over the
 * allowed names, so what a run assigns there dies with it. */
void sbx_push_env(lua_State *L);

/* Replaces the table on top by a read-only proxy of a copy of it; name
 * is what a write's error calls it. */
void sbx_readonly(lua_State *L, const char *name);

#endif
