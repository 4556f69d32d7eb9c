/*
 * sandbox_snap: snapshots of everything a built set reaches; see
 * sandbox_snap.h.
 * Uses: Lua 5.4.
 */
#include "sandbox_snap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MAX 65536 /* words; a larger set is rebuilt every call */
#define SNAP_SEEN 2048 /* objects walked */

/* The objects one walk has seen: an open-addressing set whose slots are
 * stamped with the walk's number, so that a new walk starts empty
 * without clearing. */
#define SEEN_SLOTS 4096 /* a power of two, twice SNAP_SEEN */
struct sbx_walker {
  sbx_snap *snap;
  const void *slot[SEEN_SLOTS];
  unsigned stamp[SEEN_SLOTS];
  unsigned walk;
  int nseen;
  int overflow;
};

static inline void snap_word(sbx_walker *w, uint64_t v) {
  sbx_snap *s = w->snap;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint64_t *p;
    if (w->overflow) return;
    if (cap > SNAP_MAX || !(p = realloc(s->w, cap * sizeof *p))) {
      w->overflow = 1;
      return;
    }
    s->w = p;
    s->cap = cap;
  }
  s->w[s->n++] = v;
}

/* Has p been walked? Records it if not. */
static int snap_seen(sbx_walker *w, const void *p) {
  uintptr_t h = ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;
  unsigned i = (unsigned)(h >> 40) & (SEEN_SLOTS - 1);
  for (;; i = (i + 1) & (SEEN_SLOTS - 1)) {
    if (w->stamp[i] != w->walk) break;
    if (w->slot[i] == p) return 1;
  }
  if (++w->nseen > SNAP_SEEN) {
    w->overflow = 1;
    return 1;
  }
  w->stamp[i] = w->walk;
  w->slot[i] = p;
  return 0;
}

/* Records the value at idx and, the first time, what it reaches. Leaves
 * the stack as it found it. */
static void snap_value(sbx_walker *w, lua_State *L, int idx, int depth) {
  int t = lua_type(L, idx);
  idx = lua_absindex(L, idx);
  snap_word(w, (uint64_t)t);
  switch (t) {
  case LUA_TNIL:
    return;
  case LUA_TBOOLEAN:
    snap_word(w, (uint64_t)lua_toboolean(L, idx));
    return;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      snap_word(w, (uint64_t)lua_tointeger(L, idx));
    } else {
      lua_Number n = lua_tonumber(L, idx);
      uint64_t bits;
      memcpy(&bits, &n, sizeof bits);
      snap_word(w, bits ^ 0x5a5a5a5a5a5a5a5aull);
    }
    return;
  case LUA_TSTRING:
    snap_word(w, (uint64_t)(uintptr_t)lua_topointer(L, idx));
    return;
  default:
    break;
  }
  snap_word(w, (uint64_t)(uintptr_t)lua_topointer(L, idx));
  if (snap_seen(w, lua_topointer(L, idx)) || w->overflow) return;
  if (depth > 64 || !lua_checkstack(L, 4)) {
    w->overflow = 1;
    return;
  }
  if (t == LUA_TTABLE) {
    /* the border # answers depends on the table's layout, not only on
     * its contents: a call that reshapes it (t[2] = 1; t[2] = nil) would
     * otherwise pass 1 or 3 on to the next caller unseen */
    snap_word(w, (uint64_t)lua_rawlen(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* k v */
      snap_value(w, L, -2, depth + 1);
      snap_value(w, L, -1, depth + 1);
      lua_pop(L, 1);
    }
    snap_word(w, 0xffu); /* end of table */
  } else if (t == LUA_TFUNCTION) {
    int n;
    for (n = 1; lua_getupvalue(L, idx, n); n++) {
      snap_value(w, L, -1, depth + 1);
      lua_pop(L, 1);
    }
    snap_word(w, 0xfeu); /* end of upvalues */
  }
}

int sbx_snap_take(sbx_walker **wp, lua_State *L, sbx_snap *snap) {
  sbx_walker *w = *wp;
  int top = lua_gettop(L);
  if (!w && !(w = *wp = calloc(1, sizeof *w))) return 0;
  w->snap = snap;
  w->nseen = 0;
  w->overflow = 0;
  if (++w->walk == 0) { /* stamps wrapped: clear them */
    memset(w->stamp, 0, sizeof w->stamp);
    w->walk = 1;
  }
  snap->n = 0;
  snap_value(w, L, -1, 0);
  assert(lua_gettop(L) == top);
  assert(snap->n <= snap->cap);
  return !w->overflow;
}

int sbx_snap_equal(const sbx_snap *a, const sbx_snap *b) {
  return a->n == b->n && memcmp(a->w, b->w, a->n * sizeof *a->w) == 0;
}
