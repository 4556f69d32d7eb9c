/*
 * sandbox_env: allowed names, read-only libraries, fresh envs; see
 * sandbox_env.h.
 * Uses: Lua 5.4, sandbox_guard, sandbox_limits, sandbox_lib.
 */
#include "sandbox_env.h"

#include <assert.h>
#include <string.h>

#include <lauxlib.h>

#include "sandbox.h"
#include "sandbox_guard.h"
#include "sandbox_lib.h"
#include "sandbox_limits.h"

/* The names a rule file may use. Libraries are shared, read-only proxies
 * (a write raises), so that no run can change what the next one sees;
 * math.random and math.randomseed are left out: rules are deterministic,
 * and a seed would carry a value from one call to the next. */
static const char *const ENV_BASE[] = {
    "assert", "error",    "ipairs",   "next",     "pairs",
    "pcall",  "select",   "tonumber", "tostring", "type",
    "xpcall", "rawequal", "rawlen",   "_VERSION", NULL};
static const char *const ENV_LIBS[] = {"string", "table", "math",
                                       "utf8",   "os",    NULL};
static const char *const ENV_OS[] = {"time", "date", "clock", "difftime", NULL};

static const char ENV_MT_KEY = 'e'; /* registry: the metatable of envs */

const char *const *sbx_env_names(void) {
  static const char *names[32];
  int i, n = 0;
  if (!names[0]) {
    for (i = 0; ENV_BASE[i]; i++)
      names[n++] = ENV_BASE[i];
    for (i = 0; ENV_LIBS[i]; i++)
      names[n++] = ENV_LIBS[i];
    names[n++] = "lib";
    names[n] = NULL;
  }
  return names;
}

/* __index of the allowed names: a name a rule reads that is not there
 * raises (as Redis's locked _G does), at the rule's line. */
static int env_miss(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  return luaL_error(L,
                    "attempt to read undefined global '%s' "
                    "(未定义的全局变量 '%s')",
                    k ? k : "?", k ? k : "?");
}

static int readonly_newindex(lua_State *L) {
  return luaL_error(L, "rules cannot change the library '%s'",
                    lua_tostring(L, lua_upvalueindex(1)));
}

/* The iterator of a proxy: next over the copy (upvalue 1), whatever
 * state it is given, so that the copy itself never reaches a rule. */
static int readonly_next(lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_replace(L, 1);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

/* __pairs: the iterator above (upvalue 1), the proxy as state. Returning
 * the copy as state (as pairs' second value) would hand the rule the
 * shared, writable table behind every province's library. */
static int readonly_pairs(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

void sbx_readonly(lua_State *L, const char *name) {
  int t = lua_gettop(L);
  lua_createtable(L, 0, 32); /* t copy */
  lua_pushnil(L);
  while (lua_next(L, t)) { /* t copy k v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_createtable(L, 0, 0); /* t copy proxy */
  lua_createtable(L, 0, 4); /* t copy proxy mt */
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, name);
  lua_pushcclosure(L, readonly_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, readonly_next, 1);
  lua_pushcclosure(L, readonly_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2); /* t copy proxy */
  lua_replace(L, t);
  lua_settop(L, t); /* proxy */
  assert(lua_gettop(L) == t);
}

void sbx_env_init(lua_State *L) {
  int i, top = lua_gettop(L);
  lua_createtable(L, 0, 1);  /* mt */
  lua_createtable(L, 0, 24); /* mt allowed */
  lua_pushglobaltable(L);    /* mt allowed G */
  for (i = 0; ENV_BASE[i]; i++) {
    lua_getfield(L, -1, ENV_BASE[i]);
    lua_setfield(L, -3, ENV_BASE[i]);
  }
  lua_pushcfunction(L, sbx_tostring);
  lua_setfield(L, -3, "tostring");
  for (i = 0; ENV_LIBS[i]; i++) {
    if (strcmp(ENV_LIBS[i], "os") == 0) {
      int k;
      lua_createtable(L, 0, 4); /* ... os */
      lua_getfield(L, -2, "os");
      for (k = 0; ENV_OS[k]; k++) {
        lua_getfield(L, -1, ENV_OS[k]);
        lua_setfield(L, -3, ENV_OS[k]);
      }
      lua_pop(L, 1);
      lua_pushcfunction(L, sbx_clock);
      lua_setfield(L, -2, "clock");
    } else {
      lua_getfield(L, -1, ENV_LIBS[i]);
    }
    sbx_readonly(L, ENV_LIBS[i]);
    if (strcmp(ENV_LIBS[i], "math") == 0) { /* from the proxy's copy */
      lua_getmetatable(L, -1);
      lua_getfield(L, -1, "__index");
      lua_pushnil(L);
      lua_setfield(L, -2, "random");
      lua_pushnil(L);
      lua_setfield(L, -2, "randomseed");
      lua_pop(L, 2);
    }
    lua_setfield(L, -3, ENV_LIBS[i]);
  }
  lua_pop(L, 1); /* mt allowed */
  sbx_push_lib(L);
  sbx_readonly(L, "lib");
  lua_setfield(L, -2, "lib");
  lua_createtable(L, 0, 1); /* mt allowed amt */
  lua_pushcfunction(L, env_miss);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ENV_MT_KEY);
  assert(lua_gettop(L) == top);
}

void sbx_push_env(lua_State *L) {
  int top = lua_gettop(L);
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "_G");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ENV_MT_KEY);
  lua_setmetatable(L, -2);
  assert(lua_gettop(L) == top + 1);
}
