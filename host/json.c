/*
 * json: a JSON encoder in C for scripts/json.lua; see json.h.
 * The output buffer and the key arrays start on the C stack and move to
 * userdata on the Lua stack when they outgrow it, so an error (raised by
 * us or by Lua on a full memory) leaks nothing, and a small answer
 * allocates nothing but its string.
 * Uses: Lua 5.4.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#define MAX_DEPTH 64
#define BUF_SLOT 2 /* the buffer userdata's stack index */
#define SMALL_KEYS 16 /* an object of at most this many keys: no allocation */
#define SMALL_BUF 2048 /* an answer of at most this: no allocation */

typedef struct {
  lua_State *L;
  char *data;
  size_t len, cap;
} buf;

/* Grows b to hold n more bytes: a new userdata in BUF_SLOT, the old one
 * (or the first, on the C stack) left. */
static void reserve(buf *b, size_t n) {
  size_t cap;
  char *data;
  if (b->len + n <= b->cap) return;
  cap = b->cap;
  while (cap < b->len + n) cap *= 2;
  data = lua_newuserdatauv(b->L, cap, 0);
  if (b->len) memcpy(data, b->data, b->len);
  lua_replace(b->L, BUF_SLOT);
  b->data = data;
  b->cap = cap;
}

static void add(buf *b, const char *s, size_t n) {
  reserve(b, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

#define ADD_LITERAL(b, s) add((b), (s), sizeof(s) - 1)

/* cjson's char2escape: what a byte is written as, NULL when as itself. */
static const char *escape_of(unsigned char c) {
  static const char *const low[32] = {
      "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005",
      "\\u0006", "\\u0007", "\\b",     "\\t",     "\\n",     "\\u000b",
      "\\f",     "\\r",     "\\u000e", "\\u000f", "\\u0010", "\\u0011",
      "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
      "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d",
      "\\u001e", "\\u001f"};
  if (c < 32) return low[c];
  if (c == '"') return "\\\"";
  if (c == '\\') return "\\\\";
  if (c == '/') return "\\/";
  if (c == 127) return "\\u007f";
  return NULL;
}

/* Bytes that escape_of writes otherwise: a table, so that the scan of a
 * long text costs a load and a test per byte. */
static const unsigned char ESCAPED[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 1, ['\\'] = 1, [127] = 1};

static void add_string(buf *b, const char *s, size_t n) {
  size_t i, run = 0;
  reserve(b, n + 2);
  b->data[b->len++] = '"';
  for (i = 0; i < n; i++) {
    const char *e;
    if (!ESCAPED[(unsigned char)s[i]]) continue;
    e = escape_of((unsigned char)s[i]);
    add(b, s + run, i - run);
    add(b, e, strlen(e));
    run = i + 1;
  }
  add(b, s + run, n - run);
  ADD_LITERAL(b, "\"");
}

static void add_number(buf *b, lua_State *L, int idx) {
  char tmp[64];
  int n;
  if (lua_isinteger(L, idx)) {
    n = snprintf(tmp, sizeof tmp, "%lld", (long long)lua_tointeger(L, idx));
  } else {
    lua_Number v = lua_tonumber(L, idx);
    if (isnan(v) || isinf(v))
      n = snprintf(tmp, sizeof tmp, "null");
    else if (v == floor(v) && v > -1e15 && v < 1e15)
      n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    else
      n = snprintf(tmp, sizeof tmp, "%.14g", (double)v);
  }
  add(b, tmp, (size_t)n);
}

static int is_array_marked(lua_State *L, int idx) {
  int marked;
  if (!lua_getmetatable(L, idx)) return 0;
  lua_getfield(L, -1, "__jsontype");
  marked = lua_type(L, -1) == LUA_TSTRING &&
           strcmp(lua_tostring(L, -1), "array") == 0;
  lua_pop(L, 2);
  return marked;
}

typedef struct {
  const char *s; /* a string key's bytes (held by the table); else num */
  size_t len;
  int is_int;    /* number keys: looked up again as numbers */
  lua_Integer i;
  lua_Number f;
  char num[40];
} key;

/* The key as written. Not a pointer into the struct kept in it: qsort
 * moves the structs. */
static const char *key_text(const key *k) {
  return k->is_int < 0 ? k->s : k->num;
}

static int key_cmp(const void *pa, const void *pb) {
  const key *a = pa, *b = pb;
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(key_text(a), key_text(b), n);
  if (c) return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

static void encode(buf *b, int idx, int depth);

static void encode_object(buf *b, int idx, int depth) {
  lua_State *L = b->L;
  key small[SMALL_KEYS], *keys = small; /* a userdata when more */
  size_t n = 0, cap = SMALL_KEYS, i;
  int top = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    key *k;
    lua_pop(L, 1); /* the value: looked up again in key order */
    if (n == cap) { /* a bigger array on the stack below the key */
      key *more;
      luaL_checkstack(L, 2, "json: too many keys");
      more = lua_newuserdatauv(L, 2 * cap * sizeof *keys, 0);
      memcpy(more, keys, n * sizeof *keys);
      lua_insert(L, -2);
      keys = more;
      cap *= 2;
    }
    k = &keys[n];
    memset(k, 0, sizeof *k);
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
      k->s = lua_tolstring(L, -1, &k->len); /* held by the table */
      k->is_int = -1;
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1)) {
        k->is_int = 1;
        k->i = lua_tointeger(L, -1);
        k->len = (size_t)snprintf(k->num, sizeof k->num, "%lld", (long long)k->i);
      } else {
        k->is_int = 0;
        k->f = lua_tonumber(L, -1);
        lua_pushvalue(L, -1);
        snprintf(k->num, sizeof k->num, "%s", lua_tostring(L, -1)); /* as tostring */
        lua_pop(L, 1);
        k->len = strlen(k->num);
      }
      break;
    default:
      luaL_error(L, "json: cannot encode a key of type %s", luaL_typename(L, -1));
    }
    n++;
  }
  qsort(keys, n, sizeof *keys, key_cmp);
  ADD_LITERAL(b, "{");
  for (i = 0; i < n; i++) {
    if (i) ADD_LITERAL(b, ",");
    add_string(b, key_text(&keys[i]), keys[i].len);
    ADD_LITERAL(b, ":");
    if (keys[i].is_int < 0)
      lua_pushlstring(L, keys[i].s, keys[i].len);
    else if (keys[i].is_int)
      lua_pushinteger(L, keys[i].i);
    else
      lua_pushnumber(L, keys[i].f);
    lua_rawget(L, idx);
    encode(b, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  ADD_LITERAL(b, "}");
  lua_settop(L, top);
}

static void encode(buf *b, int idx, int depth) {
  lua_State *L = b->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    ADD_LITERAL(b, "null");
    break;
  case LUA_TLIGHTUSERDATA: /* cjson.null */
    if (lua_touserdata(L, idx) != NULL) luaL_error(L, "json: cannot encode a userdata");
    ADD_LITERAL(b, "null");
    break;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx))
      ADD_LITERAL(b, "true");
    else
      ADD_LITERAL(b, "false");
    break;
  case LUA_TNUMBER:
    add_number(b, L, idx);
    break;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    add_string(b, s, n);
    break;
  }
  case LUA_TTABLE: {
    lua_Unsigned n, i;
    if (depth > MAX_DEPTH) luaL_error(L, "json: nesting too deep");
    luaL_checkstack(L, 8, "json: nesting too deep");
    n = lua_rawlen(L, idx);
    if (n > 0 || is_array_marked(L, idx)) {
      ADD_LITERAL(b, "[");
      for (i = 1; i <= n; i++) {
        if (i > 1) ADD_LITERAL(b, ",");
        lua_rawgeti(L, idx, (lua_Integer)i);
        encode(b, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
      }
      ADD_LITERAL(b, "]");
    } else
      encode_object(b, idx, depth);
    break;
  }
  default:
    luaL_error(L, "json: cannot encode a %s", luaL_typename(L, idx));
  }
}

/* json_c.encode(v) -> string */
static int l_encode(lua_State *L) {
  char first[SMALL_BUF];
  buf b;
  lua_settop(L, 1);
  lua_pushnil(L); /* BUF_SLOT */
  b.L = L;
  b.data = first;
  b.len = 0;
  b.cap = sizeof first;
  encode(&b, 1, 0);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  return 1;
}

int luaopen_host_json(lua_State *L) {
  static const luaL_Reg funcs[] = {{"encode", l_encode}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
