/*
 * http_reuse: answers reused across requests, per trusted state (declared
 * in http_reuse.h). A state's table is a userdata in its registry, made at
 * the first answer kept and freed with the state; each slot owns one
 * allocation: the key, the body, the content type and the route, one
 * after another.
 * Uses: util, Lua 5.4, time.
 */
#include "http_reuse.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "util.h"

typedef struct slot {
  char *mem; /* owned: key, body, content type, route (NULL: empty) */
  uint32_t hash;
  size_t keylen;
  long long version;
  time_t second;
  http_reused answer; /* its strings point into mem */
} slot;

typedef struct table {
  slot slots[HTTP_REUSE_SLOTS];
} table;

static const char TABLE_KEY = 'r'; /* registry key: L's table */
static const char *const TABLE_MT = "host.http_reuse";
static atomic_ulong g_hits;

/* L's table, NULL when it has none yet. */
static table *table_of(lua_State *L) {
  table *t;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &TABLE_KEY);
  t = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return t;
}

static int table_gc(lua_State *L) {
  table *t = luaL_checkudata(L, 1, TABLE_MT);
  for (int i = 0; i < HTTP_REUSE_SLOTS; i++) {
    free(t->slots[i].mem);
    t->slots[i].mem = NULL;
  }
  return 0;
}

/* Protected: makes L's table (lua_newuserdatauv raises on no memory). */
static int table_new(lua_State *L) {
  table *t = lua_newuserdatauv(L, sizeof *t, 0);
  memset(t, 0, sizeof *t);
  if (luaL_newmetatable(L, TABLE_MT)) {
    lua_pushcfunction(L, table_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &TABLE_KEY);
  return 0;
}

size_t http_reuse_key(char *key, size_t size, const char *path,
                      const char *query, const char *authorization) {
  /* the path's length first: "/a?b" + "c" and "/a" + "b?c" differ */
  int n = snprintf(key, size, "%zu:%s?%s\n%s", strlen(path), path,
                   query ? query : "", authorization);
  return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

const http_reused *http_reuse_get(lua_State *L, const char *key,
                                  size_t keylen, long long version) {
  uint32_t h = util_fnv1a32(key, keylen);
  table *t = table_of(L);
  slot *s;
  if (!t) return NULL;
  s = &t->slots[h % HTTP_REUSE_SLOTS];
  if (!s->mem || s->hash != h || s->keylen != keylen ||
      s->version != version || s->second != time(NULL) ||
      memcmp(s->mem, key, keylen) != 0)
    return NULL;
  atomic_fetch_add_explicit(&g_hits, 1, memory_order_relaxed);
  return &s->answer;
}

void http_reuse_put(lua_State *L, const char *key, size_t keylen,
                    long long version, const http_reused *answer) {
  uint32_t h = util_fnv1a32(key, keylen);
  table *t = table_of(L);
  slot *s;
  size_t ctlen = strlen(answer->content_type), rlen = strlen(answer->route);
  char *mem, *p;
  if (keylen > HTTP_REUSE_MAX_KEY || answer->body_len > HTTP_REUSE_MAX_BODY ||
      ctlen > HTTP_REUSE_MAX_NAME || rlen > HTTP_REUSE_MAX_NAME)
    return;
  if (!t) {
    lua_pushcfunction(L, table_new);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
      lua_pop(L, 1); /* no memory: nothing kept */
      return;
    }
    if (!(t = table_of(L))) return;
  }
  s = &t->slots[h % HTTP_REUSE_SLOTS];
  if (!(mem = malloc(keylen + answer->body_len + ctlen + rlen + 2))) return;
  free(s->mem);
  p = mem;
  memcpy(p, key, keylen);
  p += keylen;
  s->answer.body = p;
  memcpy(p, answer->body, answer->body_len);
  p += answer->body_len;
  s->answer.content_type = p;
  memcpy(p, answer->content_type, ctlen + 1);
  p += ctlen + 1;
  s->answer.route = p;
  memcpy(p, answer->route, rlen + 1);
  s->answer.status = answer->status;
  s->answer.body_len = answer->body_len;
  s->mem = mem;
  s->hash = h;
  s->keylen = keylen;
  s->version = version;
  s->second = time(NULL);
}

unsigned long http_reuse_hits(void) {
  return atomic_load_explicit(&g_hits, memory_order_relaxed);
}
