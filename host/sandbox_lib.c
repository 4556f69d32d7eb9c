/*
 * sandbox_lib: the contract's helpers for rules; see sandbox_lib.h.
 * What they need of a call (the set, for lib.param) is in the registry
 * under CUR_KEY for its duration.
 * Uses: Lua 5.4, sandbox_int.
 */
#include "sandbox_lib.h"

#include <assert.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "sandbox_int.h"

static const char CUR_KEY = 's'; /* registry: the set of this call */

void sbx_lib_bind(lua_State *L, int idx) {
  if (idx)
    lua_pushvalue(L, idx);
  else
    lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CUR_KEY);
}

/* Pushes {file, line}: where the rule that calls lib.err is, the first
 * frame of the province's own file up the stack, else the first of any
 * set's file (the default's line). */
static void push_origin(lua_State *L) {
  sbx *s = sbx_of(L);
  lua_Debug ar;
  int level, line = 0, file = -1, i, top = lua_gettop(L);
  for (level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
    for (i = 0; i < s->nfiles; i++)
      if (strcmp(ar.source, s->chunks[i]) == 0) break;
    if (i == s->nfiles) continue;
    if (i == s->cur && i != 0) {
      file = i, line = ar.currentline;
      break;
    }
    if (file < 0) file = i, line = ar.currentline;
  }
  lua_createtable(L, 0, 2);
  lua_pushstring(L, file >= 0 ? s->names[file] : "default");
  lua_setfield(L, -2, "file");
  lua_pushinteger(L, line);
  lua_setfield(L, -2, "line");
  assert(lua_gettop(L) == top + 1);
}

/* lib.err(list, field, code, message): appends a finding with its rule. */
static int l_lib_err(lua_State *L) {
  lua_Integer n;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 4);
  n = luaL_len(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "field");
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "code");
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "message");
  push_origin(L);
  lua_setfield(L, -2, "rule");
  lua_seti(L, 1, n + 1);
  assert(lua_gettop(L) == 4);
  return 0;
}

/* lib.blank(v): nil, or a string of blanks only */
static int l_lib_blank(lua_State *L) {
  size_t n, i;
  const char *v;
  int blank = 1;
  if (lua_type(L, 1) == LUA_TSTRING) {
    v = lua_tolstring(L, 1, &n);
    for (i = 0; i < n && blank; i++)
      blank = strchr(" \t\r\n\f\v", v[i]) != NULL;
  } else {
    blank = lua_isnoneornil(L, 1);
  }
  lua_pushboolean(L, blank);
  return 1;
}

/* lib.path("majors", i, "trainees") -> "majors[i-1].trainees": a path in
 * the submitted JSON, whose lists count from 0. */
static int l_lib_path(lua_State *L) {
  int n = lua_gettop(L), i;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (i = 1; i <= n; i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {
      lua_Integer k = luaL_checkinteger(L, i);
      lua_pushfstring(L, "[%d]", (int)(k - 1));
      luaL_addvalue(&b);
    } else {
      const char *part = luaL_checkstring(L, i);
      if (i > 1) luaL_addchar(&b, '.');
      luaL_addstring(&b, part);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

/* The plan's year of a ctx (ctx.plan.year, or the alias ctx.year). */
static lua_Integer ctx_year(lua_State *L, int ctx) {
  lua_Integer y = 0;
  int ok = 0, top = lua_gettop(L);
  luaL_checktype(L, ctx, LUA_TTABLE);
  if (lua_getfield(L, ctx, "plan") == LUA_TTABLE) {
    lua_getfield(L, -1, "year");
    y = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (!ok) {
    lua_getfield(L, ctx, "year");
    y = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
  }
  if (!ok)
    luaL_error(L, "lib.param: ctx has no plan year (ctx 中没有计划年度)");
  assert(lua_gettop(L) == top);
  return y;
}

/* lib.param(ctx, name): the value of params[name] in force in the plan's
 * year, the one of the greatest year not after it. No such year, or no
 * such parameter, is an error: never a guess. */
static int l_lib_param(lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  lua_Integer year = ctx_year(L, 1), best = 0;
  int found = 0;
  lua_settop(L, 2);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &CUR_KEY); /* 3: the set */
  if (!lua_istable(L, 3) || lua_getfield(L, 3, "params") != LUA_TTABLE ||
      lua_getfield(L, 4, name) != LUA_TTABLE) /* 4 params, 5 by year */
    return luaL_error(L, "lib.param: no parameter '%s' (参数 '%s' 不存在)",
                      name, name);
  lua_pushnil(L);
  while (lua_next(L, 5)) { /* k v */
    int isint = 0;
    lua_Integer k = lua_tointegerx(L, -2, &isint);
    if (isint && k <= year && (!found || k > best)) {
      best = k;
      found = 1;
    }
    lua_pop(L, 1);
  }
  assert(lua_gettop(L) == 5);
  if (!found)
    return luaL_error(L,
                      "lib.param: '%s' has no value in force in %d "
                      "(参数 '%s' 在 %d 年没有生效的值)",
                      name, (int)year, name, (int)year);
  lua_geti(L, 5, best);
  return 1;
}

/* Beijing time (UTC+8) of ctx.now. */
static void beijing(lua_State *L, struct tm *tm) {
  time_t t;
  int ok = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "now");
  t = (time_t)lua_tointegerx(L, -1, &ok);
  if (!ok) luaL_error(L, "lib: ctx.now is not a time (ctx.now 不是时间)");
  t += 8 * 3600;
  gmtime_r(&t, tm);
}

static int l_lib_today(lua_State *L) {
  struct tm tm;
  char day[16];
  beijing(L, &tm);
  strftime(day, sizeof day, "%Y-%m-%d", &tm);
  lua_pushstring(L, day);
  return 1;
}

static int l_lib_year(lua_State *L) {
  struct tm tm;
  beijing(L, &tm);
  lua_pushinteger(L, tm.tm_year + 1900);
  return 1;
}

static const luaL_Reg lib_funcs[] = {
    {"err", l_lib_err},     {"blank", l_lib_blank}, {"path", l_lib_path},
    {"param", l_lib_param}, {"today", l_lib_today}, {"year", l_lib_year},
    {NULL, NULL},
};

void sbx_push_lib(lua_State *L) {
  luaL_newlib(L, lib_funcs);
}
