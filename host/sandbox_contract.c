/*
 * sandbox_contract: the contract's entry names and ctx proxies; see
 * sandbox_contract.h.
 * Uses: Lua 5.4, build/rules_contract.inc.
 */
#include "sandbox_contract.h"

#include <assert.h>

#include <lauxlib.h>

static const char ENTRY_KEY = 'n'; /* registry: entry name -> true */
static const char PART_KEY = 'p';  /* registry: "ctx" -> its part spec */

/* The contract (scripts/rules_contract.lua), compiled in. */
static const char CONTRACT_SRC[] =
#include "rules_contract.inc"
    ;

/* ---- ctx: read-only proxies that raise on an unknown field ----------- */
/* An argument marked "@contract" becomes, table by table, an empty proxy
 * whose metatable's __index is the data; the data's own metatable (one
 * per part, shared) answers a miss: nil for a field the part lists (and
 * for an index of a list), an error naming the field otherwise. A field
 * the part does not list is left out of the data, so that it raises even
 * when the caller sent it. Reading a present field costs one extra table
 * step in the VM. */

/* The data of a proxy (its metatable's __index) onto the stack. */
static void proxy_data(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) luaL_error(L, "not a ctx");
  lua_getfield(L, -1, "__index");
  lua_remove(L, -2);
}

static int ctx_newindex(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  return luaL_error(L, "ctx is read-only: cannot set '%s' (ctx 只读)",
                    k ? k : "?");
}

static int ctx_len(lua_State *L) {
  proxy_data(L, 1);
  lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
  return 1;
}

static int ctx_next(lua_State *L) {
  lua_settop(L, 2);
  proxy_data(L, 1); /* p k data */
  lua_replace(L, 1);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

static int ctx_pairs(lua_State *L) {
  lua_pushcfunction(L, ctx_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* The data's __index: upvalues known (name -> true), label, is_list. */
static int ctx_miss(lua_State *L) {
  const char *k;
  if (lua_type(L, 2) == LUA_TNUMBER && lua_toboolean(L, lua_upvalueindex(3)))
    return 0;
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 0;
  }
  k = lua_tostring(L, 2);
  return luaL_error(L, "%s has no field '%s' (%s 没有字段 '%s')",
                    lua_tostring(L, lua_upvalueindex(2)), k ? k : "?",
                    lua_tostring(L, lua_upvalueindex(2)), k ? k : "?");
}

/* Replaces the table on top by its proxy, spec (absolute index, or 0 for
 * a table no part describes: misses are nil) describing it. A spec is
 * {mt = data metatable, kids = {field -> spec}, items = {field -> spec},
 * list = spec of a list of items}. */
static void wrap(lua_State *L, int spec) {
  int t = lua_gettop(L);
  if (!lua_istable(L, t)) return;
  luaL_checkstack(L, 12, "ctx too deep");
  lua_pushnil(L);
  while (lua_next(L, t)) { /* k v */
    int kid = 0, items = 0;
    if (spec && lua_type(L, -2) == LUA_TSTRING) { /* a field it lacks: out */
      int known;
      lua_getfield(L, spec, "known");
      lua_pushvalue(L, -3);
      known = lua_rawget(L, -2) != LUA_TNIL;
      lua_pop(L, 2);
      if (!known) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, t);
        continue;
      }
    }
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (spec && lua_type(L, -2) == LUA_TSTRING) {
      lua_getfield(L, spec, "kids"); /* k v kids */
      lua_pushvalue(L, -3);
      lua_rawget(L, -2); /* k v kids kidspec|nil */
      lua_remove(L, -2);
      if (lua_istable(L, -1)) {
        kid = lua_gettop(L);
      } else {
        lua_pop(L, 1);
        lua_getfield(L, spec, "items");
        lua_pushvalue(L, -3);
        lua_rawget(L, -2); /* k v items itemspec|nil */
        lua_remove(L, -2);
        if (lua_istable(L, -1))
          items = lua_gettop(L);
        else
          lua_pop(L, 1);
      }
    }
    /* k v [spec] */
    lua_pushvalue(L, kid || items ? -2 : -1); /* ... v */
    if (items) {
      int list = lua_gettop(L);
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, list);
      for (i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        wrap(L, items);
        lua_rawseti(L, list, i);
      }
      lua_getfield(L, items, "list"); /* ... v listspec */
      lua_insert(L, -2);
      wrap(L, lua_gettop(L) - 1);
      lua_remove(L, -2);
    } else {
      wrap(L, kid);
    }
    /* k v [spec] proxy */
    lua_pushvalue(L, kid || items ? -4 : -3);
    lua_insert(L, -2);
    lua_rawset(L, t); /* k v [spec] */
    lua_settop(L, t + 1);
  }
  if (spec) {
    lua_getfield(L, spec, "mt");
    lua_setmetatable(L, t);
  }
  lua_createtable(L, 0, 0); /* t proxy */
  lua_createtable(L, 0, 5); /* t proxy mt */
  lua_pushvalue(L, t);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ctx_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, ctx_len);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, ctx_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_replace(L, t);
  lua_settop(L, t);
  assert(lua_gettop(L) == t); /* the table replaced by its proxy */
}

void sbx_ctx_wrap(lua_State *L) {
  int top = lua_gettop(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &PART_KEY); /* arg spec */
  lua_insert(L, -2);                            /* spec arg */
  wrap(L, lua_gettop(L) - 1);
  lua_remove(L, -2); /* proxy */
  assert(lua_gettop(L) == top);
}

void sbx_push_entries(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ENTRY_KEY);
}

/* Makes a part spec's data metatable: known from the part's fields. */
static void spec_mt(lua_State *L, int known, const char *label, int is_list) {
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, known);
  lua_pushstring(L, label);
  lua_pushboolean(L, is_list);
  lua_pushcclosure(L, ctx_miss, 3);
  lua_setfield(L, -2, "__index");
}

/* Protected: runs the contract's text and keeps what the sandbox needs
 * of it in the registry: the entry names and the ctx's part specs. */
int sbx_contract_load(lua_State *L) {
  int c, parts, specs, labels;
  if (luaL_loadbufferx(L, CONTRACT_SRC, sizeof CONTRACT_SRC - 1,
                       "=rules_contract", "t") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  c = lua_gettop(L);
  lua_newtable(L); /* c entries */
  lua_getfield(L, c, "entries");
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* c entries list k e */
    lua_getfield(L, -1, "name");
    lua_pushboolean(L, 1);
    lua_rawset(L, -6);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ENTRY_KEY);
  lua_getfield(L, c, "ctx");
  parts = lua_gettop(L);
  lua_getfield(L, c, "labels");
  labels = lua_gettop(L);
  lua_newtable(L); /* specs: part -> spec */
  specs = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, parts)) { /* k fields */
    lua_newtable(L);           /* k fields spec */
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -2);
    lua_rawset(L, specs);
    lua_pop(L, 2);
  }
  lua_pushnil(L);
  while (lua_next(L, parts)) { /* k fields */
    int fields = lua_gettop(L), spec, known;
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, fields);
    const char *label;
    lua_pushvalue(L, -2);
    lua_rawget(L, specs);
    spec = lua_gettop(L);
    lua_newtable(L);
    known = lua_gettop(L);
    lua_newtable(L);
    lua_setfield(L, spec, "kids");
    lua_newtable(L);
    lua_setfield(L, spec, "items");
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, fields, i); /* f */
      lua_getfield(L, -1, "name");
      lua_pushboolean(L, 1);
      lua_rawset(L, known);
      if (lua_getfield(L, -1, "part") == LUA_TSTRING) {
        lua_getfield(L, spec, "kids");
        lua_getfield(L, -3, "name");
        lua_pushvalue(L, -3);
        lua_rawget(L, specs);
        lua_rawset(L, -3);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
      if (lua_getfield(L, -1, "items") == LUA_TSTRING) {
        const char *item = lua_tostring(L, -1);
        lua_getfield(L, spec, "items");
        lua_getfield(L, -3, "name");
        lua_getfield(L, specs, item); /* ... items name itemspec */
        if (lua_istable(L, -1) &&
            (lua_getfield(L, -1, "list") != LUA_TNIL || (lua_pop(L, 1), 0))) {
          lua_pop(L, 1); /* made already */
        } else if (lua_istable(L, -1)) {
          lua_newtable(L); /* the list's own spec: indexes only */
          lua_newtable(L);
          lua_pushvalue(L, -1);
          lua_setfield(L, -3, "known");
          lua_getfield(L, labels, item);
          spec_mt(L, lua_gettop(L) - 1,
                  lua_isstring(L, -1) ? lua_tostring(L, -1) : item, 1);
          lua_setfield(L, -4, "mt");
          lua_pop(L, 2);
          lua_setfield(L, -2, "list");
        }
        lua_rawset(L, -3);
        lua_pop(L, 1);
      }
      lua_pop(L, 2);
    }
    lua_pushvalue(L, fields - 1); /* the part's name */
    lua_rawget(L, labels);
    label = lua_isstring(L, -1) ? lua_tostring(L, -1) : "ctx";
    spec_mt(L, known, label, 0);
    lua_setfield(L, spec, "mt");
    lua_pushvalue(L, known);
    lua_setfield(L, spec, "known");
    lua_settop(L, fields - 1); /* k */
  }
  assert(lua_gettop(L) == specs);
  lua_getfield(L, specs, "ctx");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &PART_KEY);
  return 0;
}
