/*
 * sandbox_limits: the capped allocator, the budget hook and the arming of
 * a call; see sandbox_limits.h.
 * Uses: Lua 5.4, sandbox_int.
 */
#include "sandbox_limits.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "sandbox_int.h"

#define SBX_HOOK_STEP 1000 /* instructions between hook runs */

void *sbx_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sbx *s = ud;
  size_t old = ptr ? osize : 0;
  void *p;
  assert(old <= s->mem_used); /* every block was counted when made */
  if (nsize == 0) {
    free(ptr);
    s->mem_used -= old;
    return NULL;
  }
  if (nsize > old && s->mem_used + (nsize - old) > s->mem_limit) return NULL;
  p = realloc(ptr, nsize);
  if (p) s->mem_used = s->mem_used - old + nsize;
  return p;
}

/* Count hook: once the budget is spent it re-arms itself for every
 * instruction, so a pcall inside the rule cannot swallow the error. The
 * line hook marks the covered file's lines while a test runs. */
static void sbx_hook(lua_State *L, lua_Debug *ar) {
  sbx *s = sbx_of(L);
  int mask = LUA_MASKCOUNT | (s->cov ? LUA_MASKLINE : 0);
  if (ar->event == LUA_HOOKLINE) {
    if (s->cov && ar->currentline > 0 && ar->currentline < SBX_MAX_LINES &&
        lua_getinfo(L, "S", ar) && strcmp(ar->source, s->cov->source) == 0)
      s->cov->hit[ar->currentline] = 1;
    return;
  }
  s->steps += SBX_HOOK_STEP;
  if (s->steps > s->budget) {
    lua_sethook(L, sbx_hook, mask, 1);
    luaL_error(L, "rule exceeded its instruction budget (%d)", (int)s->budget);
  }
}

void sbx_arm(sbx *s) {
  assert(s->mem_limit == SIZE_MAX); /* not armed already */
  assert(lua_gethook(s->L) == NULL);
  s->steps = 0;
  s->budget = SBX_BUDGET;
  s->clock0 = clock();
  s->mem_limit = s->mem_used + SBX_MEM_LIMIT;
  lua_sethook(s->L, sbx_hook, LUA_MASKCOUNT | (s->cov ? LUA_MASKLINE : 0),
              SBX_HOOK_STEP);
}

void sbx_disarm(sbx *s) {
  lua_sethook(s->L, NULL, 0, 0);
  s->mem_limit = SIZE_MAX;
}

int sbx_clock(lua_State *L) {
  sbx *s = sbx_of(L);
  lua_pushnumber(L, (lua_Number)(clock() - s->clock0) / CLOCKS_PER_SEC);
  return 1;
}
