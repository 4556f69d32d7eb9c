/*
 * sandbox_limits: what holds one rule call inside the evaluator. Provides
 * the capped allocator of a sandbox state (refusing makes Lua raise a
 * memory error), arming a call (an instruction budget whose count hook
 * re-arms itself once spent, so that a pcall in the rule cannot swallow
 * it; the memory cap; the call's CPU clock; the line hook of a test
 * run's coverage) and disarming it, and os.clock counted from the call's
 * start. The evaluator's wall-clock deadline holds what these miss.
 * Uses: Lua 5.4, sandbox_int.
 */
#ifndef HOST_SANDBOX_LIMITS_H
#define HOST_SANDBOX_LIMITS_H

#include <stddef.h>
#include <lua.h>

#include "sandbox.h"

/* The lua_Alloc of a sandbox state; ud is its sbx. Counts s->mem_used
 * and refuses to grow past s->mem_limit. */
void *sbx_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Arms s for one call: SBX_BUDGET instructions, SBX_MEM_LIMIT bytes over
 * what the state holds now, the CPU clock from now, and the line hook
 * when s->cov is set. */
void sbx_arm(sbx *s);

/* Disarms what sbx_arm set: no hook, no memory cap. */
void sbx_disarm(sbx *s);

/* os.clock for rules: CPU seconds since the call was armed. The
 * process's own clock would carry a value from one call to the next (a
 * call spins until the clock's phase encodes it; the next reads it). */
int sbx_clock(lua_State *L);

#endif
