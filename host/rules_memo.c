/*
 * rules_memo: a worker's memo of rule answers; see rules_memo.h.
 * Uses: wire, Lua 5.4.
 */
#include "rules_memo.h"

#include <assert.h>

#include <lauxlib.h>

#include "rules.h"

#define MEMO_ENTRIES 512 /* per worker state; then it starts afresh */

static long g_memo_ms; /* 0: no memo (the CLI, the REPL, unit tests) */
static const char MEMO_KEY = 'm'; /* registry: request bytes -> {t, reply} */

void rules_set_memo(long ms) {
  g_memo_ms = ms > 0 ? ms : 0;
}

/* Pushes the memo table of L (made on first use). */
static void memo_table(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &MEMO_KEY) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 64);
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "#n"); /* no request frame is this short */
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &MEMO_KEY);
}

int rules_memo_get(lua_State *L, const wire_buf *req) {
  wire_reader r;
  size_t n;
  const char *reply;
  int top = lua_gettop(L);
  if (!g_memo_ms) return 0;
  memo_table(L);                           /* memo */
  lua_pushlstring(L, req->data, req->len); /* memo key */
  if (lua_rawget(L, -2) != LUA_TTABLE) {   /* memo entry */
    lua_pop(L, 2);
    assert(lua_gettop(L) == top);
    return 0;
  }
  lua_rawgeti(L, -1, 1); /* memo entry t */
  if (wire_now_ms() - lua_tointeger(L, -1) > g_memo_ms) {
    lua_pop(L, 3);
    assert(lua_gettop(L) == top);
    return 0;
  }
  lua_rawgeti(L, -2, 2); /* memo entry t reply */
  reply = lua_tolstring(L, -1, &n);
  r.p = reply;
  r.end = reply + n;
  if (wire_get_value(&r, L) != WIRE_OK) { /* ... value */
    lua_pop(L, 4);
    assert(lua_gettop(L) == top);
    return 0;
  }
  lua_replace(L, -5); /* value entry t reply */
  lua_pop(L, 3);      /* value */
  assert(lua_gettop(L) == top + 1);
  return 1;
}

void rules_memo_put(lua_State *L, const wire_buf *req, const wire_buf *reply) {
  lua_Integer n;
  int top = lua_gettop(L);
  if (!g_memo_ms) return;
  assert(reply->len >= 1 && reply->data[0] == 'O'); /* answers only */
  memo_table(L);                                    /* value memo */
  lua_getfield(L, -1, "#n");
  n = lua_tointeger(L, -1) + 1;
  lua_pop(L, 1);
  if (n > MEMO_ENTRIES) { /* start afresh */
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &MEMO_KEY);
    memo_table(L);
    n = 1;
  }
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "#n");
  lua_pushlstring(L, req->data, req->len); /* value memo key */
  lua_createtable(L, 2, 0);
  lua_pushinteger(L, wire_now_ms());
  lua_rawseti(L, -2, 1);
  lua_pushlstring(L, reply->data + 1, reply->len - 1);
  lua_rawseti(L, -2, 2);
  lua_rawset(L, -3); /* value memo */
  lua_pop(L, 1);     /* value */
  assert(lua_gettop(L) == top);
}
