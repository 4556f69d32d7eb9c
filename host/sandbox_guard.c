/*
 * sandbox_guard: guards for library functions that loop in C, and no
 * addresses; see sandbox_guard.h.
 * The count hook runs between VM instructions only, so a C function that
 * loops long (pattern backtracking, string.rep of an empty string, a huge
 * table.move) would escape the budget. These wrappers refuse such calls
 * and otherwise call the original, kept as upvalue 1. What they miss, the
 * evaluator's wall-clock deadline ends.
 * Uses: Lua 5.4.
 */
#include "sandbox_guard.h"

#include <assert.h>
#include <string.h>

#include <lauxlib.h>

#define SBX_MAX_REP (1 << 20)  /* bytes or repetitions */
#define SBX_MAX_MATCH_COST 1e7 /* ~ subject^quantifiers */
#define SBX_MAX_MOVE 1000000

static int call_original(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

static int guarded_rep(lua_State *L) {
  size_t l, lsep = 0;
  lua_Integer n;
  luaL_checklstring(L, 1, &l);
  n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  if (n > SBX_MAX_REP || (n > 0 && (lua_Unsigned)n * (l + lsep) > SBX_MAX_REP))
    return luaL_error(L, "string.rep: result too large for a rule");
  return call_original(L);
}

/* find, match, gmatch, gsub: backtracking costs about subject length to
 * the power of the quantifiers in the pattern. Upvalue 2: is find. */
static int guarded_match(lua_State *L) {
  size_t ls, lp, i;
  double cost = 1;
  int quantifiers = 0;
  const char *p;
  luaL_checklstring(L, 1, &ls);
  p = luaL_checklstring(L, 2, &lp);
  if (lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4))
    return call_original(L); /* a plain find */
  for (i = 0; i < lp; i++) {
    if (p[i] == '%')
      i++;
    else if (p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?')
      quantifiers++;
  }
  for (i = 0; i < (size_t)quantifiers && cost <= SBX_MAX_MATCH_COST; i++)
    cost *= (double)ls + 1;
  if (lp > 256 || cost > SBX_MAX_MATCH_COST)
    return luaL_error(L, "pattern too complex for its subject in a rule");
  return call_original(L);
}

static int guarded_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
  if (e >= f && (lua_Unsigned)e - (lua_Unsigned)f >= SBX_MAX_MOVE)
    return luaL_error(L, "table.move: range too large for a rule");
  return call_original(L);
}

/* Addresses are state: "%p" and a table's or function's text
 * ("table: 0x...") tell whether a string was already interned by an
 * earlier call, or where the allocator stands after it. */
static int is_object(lua_State *L, int i) {
  int t = lua_type(L, i);
  return t == LUA_TTABLE || t == LUA_TFUNCTION || t == LUA_TTHREAD ||
         t == LUA_TUSERDATA || t == LUA_TLIGHTUSERDATA;
}

static int guarded_format(lua_State *L) {
  size_t lf, i;
  const char *f = luaL_checklstring(L, 1, &lf);
  int n = lua_gettop(L), k;
  for (i = 0; i + 1 < lf; i++)
    if (f[i] == '%') {
      size_t j = i + 1;
      if (f[j] == '%') {
        i = j;
        continue;
      }
      while (j < lf && strchr("-+ #0123456789.", f[j]))
        j++;
      if (j < lf && f[j] == 'p')
        return luaL_error(L, "string.format: '%%p' is not for rules");
      i = j;
    }
  for (k = 2; k <= n; k++)
    if (is_object(L, k))
      return luaL_error(L, "string.format: argument %d is a %s, not text",
                        k - 1, luaL_typename(L, k));
  return call_original(L);
}

int sbx_tostring(lua_State *L) {
  luaL_checkany(L, 1);
  if (is_object(L, 1)) {
    lua_pushstring(L, luaL_typename(L, 1));
    return 1;
  }
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* Replaces lib[name] (lib on top) by fn with the original as upvalue 1
 * and flag as upvalue 2. */
static void guard(lua_State *L, const char *name, lua_CFunction fn, int flag) {
  int top = lua_gettop(L);
  lua_getfield(L, -1, name);
  lua_pushboolean(L, flag);
  lua_pushcclosure(L, fn, 2);
  lua_setfield(L, -2, name);
  assert(lua_gettop(L) == top);
}

void sbx_guard_libraries(lua_State *L) {
  int top = lua_gettop(L);
  lua_getglobal(L, "string"); /* the real one: strings' __index */
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  guard(L, "rep", guarded_rep, 0);
  guard(L, "find", guarded_match, 1);
  guard(L, "match", guarded_match, 0);
  guard(L, "gmatch", guarded_match, 0);
  guard(L, "gsub", guarded_match, 0);
  guard(L, "format", guarded_format, 0);
  lua_pop(L, 1);
  lua_getglobal(L, "table");
  guard(L, "move", guarded_move, 0);
  lua_pop(L, 1);
  assert(lua_gettop(L) == top);
}
