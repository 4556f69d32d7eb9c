/*
 * util: the helpers the host's files share; see util.h.
 * Uses: Lua 5.4 (lauxlib), stdio.
 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

int util_msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg =
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

char *util_read_file(const char *path, size_t max, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL; /* returned: the caller's */
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
      (max && (size_t)n > max) || fseek(f, 0, SEEK_SET) != 0 ||
      !(buf = malloc((size_t)n + 1)))
    goto done;
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
    goto done;
  }
  buf[n] = '\0';
  if (len) *len = (size_t)n;
done:
  fclose(f);
  return buf;
}

int util_cmp_strp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

uint64_t util_fnv1a64(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = p;
  size_t i;
  for (i = 0; i < n; i++)
    h = (h ^ c[i]) * 1099511628211ull;
  return h;
}

uint32_t util_fnv1a32(const void *p, size_t n) {
  const unsigned char *c = p;
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++)
    h = (h ^ c[i]) * 16777619u;
  return h;
}

uint32_t util_text_key32(const void *p, size_t n) {
  const unsigned char *c = p;
  uint32_t h = util_fnv1a32(&n, sizeof n);
  size_t i;
  if (n <= 2 * UTIL_TEXT_KEY_ENDS) {
    for (i = 0; i < n; i++)
      h = (h ^ c[i]) * 16777619u;
    return h;
  }
  for (i = 0; i < UTIL_TEXT_KEY_ENDS; i++)
    h = (h ^ c[i]) * 16777619u;
  for (i = n - UTIL_TEXT_KEY_ENDS; i < n; i++)
    h = (h ^ c[i]) * 16777619u;
  return h;
}
