/*
 * http_reuse: answers reused across requests, per worker thread (declared
 * in http_reuse.h). Each slot owns one allocation: the key, the body, the
 * content type and the route, one after another.
 * Uses: util, time.
 */
#include "http_reuse.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

typedef struct slot {
  char *mem; /* owned: key, body, content type, route (NULL: empty) */
  uint32_t hash;
  size_t keylen;
  long long version;
  time_t second;
  http_reused answer; /* its strings point into mem */
} slot;

static __thread slot t_slots[HTTP_REUSE_SLOTS];
static atomic_ulong g_hits;

size_t http_reuse_key(char *key, size_t size, const char *path,
                      const char *query, const char *authorization) {
  int n = snprintf(key, size, "%s?%s\n%s", path, query ? query : "",
                   authorization);
  return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

const http_reused *http_reuse_get(const char *key, size_t keylen,
                                  long long version) {
  uint32_t h = util_fnv1a32(key, keylen);
  slot *s = &t_slots[h % HTTP_REUSE_SLOTS];
  if (!s->mem || s->hash != h || s->keylen != keylen ||
      s->version != version || s->second != time(NULL) ||
      memcmp(s->mem, key, keylen) != 0)
    return NULL;
  atomic_fetch_add_explicit(&g_hits, 1, memory_order_relaxed);
  return &s->answer;
}

void http_reuse_put(const char *key, size_t keylen, long long version,
                    const http_reused *answer) {
  uint32_t h = util_fnv1a32(key, keylen);
  slot *s = &t_slots[h % HTTP_REUSE_SLOTS];
  size_t ctlen = strlen(answer->content_type), rlen = strlen(answer->route);
  char *mem, *p;
  if (keylen > HTTP_REUSE_MAX_KEY || answer->body_len > HTTP_REUSE_MAX_BODY ||
      ctlen > 128 || rlen > 128)
    return;
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

void http_reuse_clear(void) {
  for (int i = 0; i < HTTP_REUSE_SLOTS; i++) {
    free(t_slots[i].mem);
    t_slots[i].mem = NULL;
  }
}

unsigned long http_reuse_hits(void) {
  return atomic_load_explicit(&g_hits, memory_order_relaxed);
}
