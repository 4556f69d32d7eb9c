/* Helpers for unit tests that drive Lua: run a chunk, read its result. */
#ifndef UNIT_LUA_HELPERS_H
#define UNIT_LUA_HELPERS_H

#include <lauxlib.h>
#include <lua.h>

#include "vm.h"

/* Runs code; returns its first result as a string (static buffer), or
 * "ERROR: <message>" when it raised. */
static inline const char *lua_run(lua_State *L, const char *code) {
  static char out[4096];
  lua_settop(L, 0);
  lua_pushcfunction(L, vm_msghandler);
  if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 1) != LUA_OK) {
    snprintf(out, sizeof out, "ERROR: %s", lua_tostring(L, -1));
  } else {
    const char *s = luaL_tolstring(L, -1, NULL);
    snprintf(out, sizeof out, "%s", s ? s : "(nil)");
  }
  lua_settop(L, 0);
  return out;
}

#endif
