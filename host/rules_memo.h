/*
 * rules_memo: a worker's short memo of rule answers. A rule's answer
 * depends on its set and its argument alone (the evaluator keeps nothing
 * from one call to the next, and the argument carries the time), so a
 * worker may answer the same request (the same bytes: set version,
 * province, entry, argument) from a memo of its own instead of asking an
 * evaluator again: the hot path (GET /api/plans asks every plan's
 * deadline) then mostly stays in the host process. Provides looking a
 * request up and keeping an answer, in the Lua state's registry; only
 * answers are kept, never failures. rules_set_memo (rules.h) bounds their
 * age (HOST_RULE_MEMO_MS for serve, 1000 by default; 0, the default of
 * the CLI, the REPL and unit tests: no memo).
 * Uses: wire, Lua 5.4.
 */
#ifndef HOST_RULES_MEMO_H
#define HOST_RULES_MEMO_H

#include <lua.h>

#include "wire.h"

/* Pushes the memo's answer to the request frame req and returns 1, or
 * returns 0 with nothing pushed. May raise a memory error. */
int rules_memo_get(lua_State *L, const wire_buf *req);

/* Keeps the value of the 'O' reply frame reply (its bytes after 'O') as
 * the answer to req. Stack unchanged. May raise a memory error. */
void rules_memo_put(lua_State *L, const wire_buf *req, const wire_buf *reply);

#endif
