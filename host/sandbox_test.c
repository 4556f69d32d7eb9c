/*
 * sandbox_test: a test run of untrusted cases over a loaded set, with
 * the line coverage of the province's file (sbx_test, see sandbox.h).
 * The cases' own text runs in a rule's environment, budget and memory
 * cap; each case is then called as sbx_call does.
 * Uses: Lua 5.4, wire, sandbox_env, sandbox_limits, util.
 */
#include "sandbox.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "sandbox_env.h"
#include "sandbox_int.h"
#include "sandbox_limits.h"
#include "util.h"

#define EV_RESULT_MAX_SBX (64u << 10) /* a case's result, as a call's */

/* Protected: compiles and runs the cases' text (arg 1, a string) in a
 * rule's environment; leaves its result, which must be a table. */
static int eval_cases(lua_State *L) {
  size_t len;
  const char *text = lua_tolstring(L, 1, &len);
  if (luaL_loadbufferx(L, text, len, "@cases.lua", "t") != LUA_OK)
    return lua_error(L);
  sbx_push_env(L);
  lua_setupvalue(L, -2, 1);
  lua_call(L, 0, 1);
  if (!lua_istable(L, -1))
    return luaL_error(L, "cases.lua: must return a list of cases, returned %s",
                      luaL_typename(L, -1));
  /* a case file that ships its own rule files: {rules = ..., cases = ...} */
  if (lua_getfield(L, -1, "cases") == LUA_TTABLE) return 1;
  lua_pop(L, 1);
  return 1;
}

/* The string field k of table t, or dflt. */
static const char *str_field(lua_State *L, int t, const char *k,
                             const char *dflt, char *buf, size_t buflen) {
  if (lua_getfield(L, t, k) == LUA_TSTRING)
    snprintf(buf, buflen, "%s", lua_tostring(L, -1));
  else
    snprintf(buf, buflen, "%s", dflt);
  lua_pop(L, 1);
  return buf;
}

int sbx_test(sbx *s, const char *province, const char *cases_text,
             size_t cases_len, wire_buf *out, char *err, size_t errlen) {
  lua_State *L = s->L;
  wire_buf arg, res;
  coverage *cov = NULL;
  int rc = SBX_ERR_CALL, cases_ref = LUA_NOREF, reply_ref = LUA_NOREF;
  int i, n, w;
  assert(s->cov == NULL); /* set by this function only, per case */
  wire_init(&arg, 1u << 20);
  wire_init(&res, 1u << 20);
  lua_settop(L, 0);
  /* the cases: untrusted, so under a call's budget and memory cap */
  lua_pushcfunction(L, util_msghandler);
  lua_pushcfunction(L, eval_cases);
  lua_pushlstring(L, cases_text, cases_len);
  sbx_arm(s);
  w = lua_pcall(L, 1, 1, 1);
  sbx_disarm(s);
  if (w != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    char *nl;
    snprintf(err, errlen, "%s",
             w == LUA_ERRMEM ? "cases exceeded their memory limit"
                             : (m ? m : "the cases failed"));
    if ((nl = strchr(err, '\n'))) *nl = '\0';
    goto done;
  }
  cases_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  if (!(cov = calloc(1, sizeof *cov))) {
    snprintf(err, errlen, "rules: out of memory");
    goto done;
  }
  cov->source = s->chunks[sbx_set_index(
      s, sbx_has_file(s, province) ? province : "default")];
  for (i = 0; i < s->nfiles; i++) /* built again: the top level counts */
    s->snaps[i].valid = 0;
  lua_createtable(L, 0, 3); /* reply */
  lua_newtable(L);
  lua_setfield(L, -2, "cases");
  lua_newtable(L);
  lua_setfield(L, -2, "results");
  reply_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cases_ref);
  n = (int)lua_rawlen(L, -1);
  lua_pop(L, 1);
  if (n > SBX_MAX_CASES) n = SBX_MAX_CASES;
  for (i = 1; i <= n; i++) {
    char prov[16], fn[64], msg[4096];
    int hasarg, c;
    wire_reader r;
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, reply_ref); /* 1 reply */
    lua_rawgeti(L, LUA_REGISTRYINDEX, cases_ref); /* 2 cases */
    lua_rawgeti(L, 2, i);                         /* 3 case */
    if (!lua_istable(L, 3)) lua_newtable(L), lua_replace(L, 3);
    str_field(L, 3, "province", "default", prov, sizeof prov);
    str_field(L, 3, "fn", "check_declaration", fn, sizeof fn);
    lua_createtable(L, 0, 4); /* 4 the case as the host sees it */
    for (c = 0; c < 4; c++) {
      static const char *const keep[] = {"name", "province", "fn", "expect"};
      lua_getfield(L, 3, keep[c]);
      lua_setfield(L, 4, keep[c]);
    }
    lua_getfield(L, 1, "cases");
    lua_pushvalue(L, 4);
    lua_rawseti(L, -2, i);
    lua_pop(L, 2);
    wire_reset(&arg, 1u << 20, 200000);
    hasarg = lua_getfield(L, 3, "input") == LUA_TTABLE;
    if (hasarg) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "@contract");
    }
    if (hasarg && wire_put_value(&arg, L, -1) != WIRE_OK) {
      snprintf(msg, sizeof msg, "the case's input is too large or too deep");
      lua_settop(L, 0);
      w = SBX_ERR_CALL;
    } else {
      lua_settop(L, 0);
      r.p = arg.data;
      r.end = arg.data + arg.len;
      wire_reset(&res, EV_RESULT_MAX_SBX, 100000);
      res.strict = 1;
      s->cov = cov;
      w = sbx_call(s, prov, fn, hasarg ? &r : NULL, &res, msg, sizeof msg);
      s->cov = NULL;
      assert(lua_gettop(L) == 0); /* sbx_call leaves the stack empty */
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, reply_ref);
    lua_getfield(L, -1, "results"); /* reply results */
    lua_createtable(L, 0, 1);
    if (w == SBX_OK) {
      r.p = res.data;
      r.end = res.data + res.len;
      if (wire_get_value(&r, L) != WIRE_OK) lua_pushnil(L);
      lua_setfield(L, -2, "value");
    } else {
      lua_pushstring(L, msg);
      lua_setfield(L, -2, "error");
    }
    lua_rawseti(L, -2, i);
    assert(lua_gettop(L) == 2); /* reply results */
    lua_settop(L, 0);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, reply_ref);
  lua_newtable(L); /* reply hit */
  for (i = 1, n = 0; i < SBX_MAX_LINES; i++)
    if (cov->hit[i]) {
      lua_pushinteger(L, i);
      lua_rawseti(L, -2, ++n);
    }
  lua_setfield(L, -2, "hit");
  out->items = 1000000;
  if (wire_put_value(out, L, -1) != WIRE_OK) {
    snprintf(err, errlen, "the test's answer is too large");
    rc = SBX_ERR_RESULT;
    goto done;
  }
  rc = SBX_OK;
done:
  lua_settop(L, 0);
  luaL_unref(L, LUA_REGISTRYINDEX, cases_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, reply_ref);
  s->cov = NULL;
  free(cov);
  wire_free(&arg);
  wire_free(&res);
  return rc;
}
