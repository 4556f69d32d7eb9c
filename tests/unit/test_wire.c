/* The wire format between host and evaluators: values round-trip, every
 * limit holds (cap, depth, items), and no input, however malformed, makes
 * the decoder read out of bounds or push a partial value. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua_helpers.h"
#include "unit.h"
#include "wire.h"

static lua_State *fresh(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  return L;
}

/* Encodes the value of code, decodes it back, and returns the decoded
 * value's `return` rendering by `render` (a Lua function of the value). */
static int roundtrip(lua_State *L, const char *code, size_t max, long items,
                     int *rc) {
  wire_buf b;
  wire_reader r;
  int ok;
  wire_init(&b, max);
  wire_reset(&b, max, items);
  (void)luaL_dostring(L, code);
  *rc = wire_put_value(&b, L, -1);
  lua_pop(L, 1);
  if (*rc != WIRE_OK) {
    wire_free(&b);
    return 0;
  }
  r.p = b.data;
  r.end = b.data + b.len;
  ok = wire_get_value(&r, L) == WIRE_OK && r.p == r.end;
  wire_free(&b);
  return ok;
}

UNIT_TEST(wire_values_round_trip) {
  lua_State *L = fresh();
  int rc;
  CHECK(roundtrip(L,
                  "return {1, 2.5, 'x', true, false, n = -7, t = {a = {b = "
                  "{'deep'}}}, [3.5] = 'float key', f = print}",
                  1 << 20, -1, &rc));
  lua_setglobal(L, "v");
  CHECK(strcmp(lua_run(L, "return v[1] .. v[2] .. v[3] .. tostring(v[4]) .. "
                          "tostring(v[5]) .. v.n .. v.t.a.b[1] .. v[3.5] .. "
                          "tostring(v.f) .. math.type(v[1]) .. math.type(v.n)"),
               "12.5xtruefalse-7deepfloat keynilintegerinteger") == 0);
  lua_close(L);
}

UNIT_TEST(wire_limits_hold) {
  lua_State *L = fresh();
  int rc;
  /* bytes */
  CHECK(!roundtrip(L, "return string.rep('x', 5000)", 4096, -1, &rc));
  CHECK(rc == WIRE_ERR_FULL);
  /* depth */
  CHECK(!roundtrip(L,
                   "local t = {} local c = t for i = 1, 40 do c.x = {} c = "
                   "c.x end return t",
                   1 << 20, -1, &rc));
  CHECK(rc == WIRE_ERR_DEEP);
  /* a cycle is depth too, never a hang */
  CHECK(!roundtrip(L, "local t = {} t.self = t return t", 1 << 20, -1, &rc));
  CHECK(rc == WIRE_ERR_DEEP);
  /* items */
  CHECK(!roundtrip(L, "local t = {} for i = 1, 1000 do t[i] = i end return t",
                   1 << 20, 100, &rc));
  CHECK(rc == WIRE_ERR_MANY);
  /* one shared 1 MiB string 500 times is 500 MiB encoded: refused at the cap */
  CHECK(!roundtrip(L,
                   "local m = string.rep('x', 1 << 20) local t = {} for i = 1, "
                   "500 do t[i] = {message = m} end return t",
                   64 << 10, -1, &rc));
  CHECK(rc == WIRE_ERR_FULL);
  lua_close(L);
}

UNIT_TEST(wire_malformed_input_is_refused_whole) {
  lua_State *L = fresh();
  unsigned char buf[64];
  int i, k, top = lua_gettop(L);
  /* truncations of a valid encoding */
  {
    wire_buf b;
    wire_init(&b, 4096);
    (void)luaL_dostring(L, "return {a = {1, 2, 'three'}, b = 'four'}");
    CHECK(wire_put_value(&b, L, -1) == WIRE_OK);
    lua_pop(L, 1);
    for (k = 0; k < (int)b.len; k++) {
      wire_reader r = {b.data, b.data + k};
      CHECK(wire_get_value(&r, L) == WIRE_ERR_SHAPE);
      CHECK(lua_gettop(L) == top); /* nothing half-pushed */
    }
    wire_free(&b);
  }
  /* random bytes: refused or decoded, never out of bounds (ASan sees) */
  srand(20261201);
  for (i = 0; i < 20000; i++) {
    wire_reader r = {(const char *)buf, (const char *)buf + sizeof buf};
    for (k = 0; k < (int)sizeof buf; k++)
      buf[k] = (unsigned char)(rand() % 8 == 0 ? rand() : rand() % 8);
    if (wire_get_value(&r, L) == WIRE_OK) lua_pop(L, 1);
    CHECK(lua_gettop(L) == top);
  }
  /* a table claiming more pairs than bytes */
  {
    const char bad[] = {6, (char)0xff, (char)0xff, (char)0xff, 0x7f};
    wire_reader r = {bad, bad + sizeof bad};
    CHECK(wire_get_value(&r, L) == WIRE_ERR_SHAPE);
  }
  lua_close(L);
}
