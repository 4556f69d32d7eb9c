/*
 * sandbox_guard: the C library functions of a sandbox state that a rule
 * could make loop or leak through. Provides guarding the real string and
 * table libraries in place (what strings' metatable reaches): string.rep,
 * find, match, gmatch, gsub and table.move refuse calls that would run
 * long inside C, where the count hook never fires; string.format refuses
 * "%p" and objects; string.dump is removed. And tostring for rules: a
 * table or function is its type name only, never its address.
 * Uses: Lua 5.4.
 */
#ifndef HOST_SANDBOX_GUARD_H
#define HOST_SANDBOX_GUARD_H

#include <lua.h>

/* Guards the global string and table libraries of L. Stack unchanged. */
void sbx_guard_libraries(lua_State *L);

/* The rules' tostring (a lua_CFunction). */
int sbx_tostring(lua_State *L);

#endif
