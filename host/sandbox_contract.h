/*
 * sandbox_contract: the rule contract (scripts/rules_contract.lua,
 * compiled in) as the sandbox enforces it. Provides loading the contract
 * into a state (its entry names, and a spec of each ctx part), the set of
 * entry names a set may return, and wrapping a contract ctx in read-only
 * proxies that raise on a field the contract does not list (a typo is an
 * error at its line, not a silent nil).
 * Uses: Lua 5.4, build/rules_contract.inc.
 */
#ifndef HOST_SANDBOX_CONTRACT_H
#define HOST_SANDBOX_CONTRACT_H

#include <lua.h>

/* A lua_CFunction, to run protected once per state: runs the contract's
 * text and keeps the entry names and the ctx's part specs in the
 * registry. Raises if the contract does not load. */
int sbx_contract_load(lua_State *L);

/* Pushes the set of entry names the contract has (name -> true). */
void sbx_push_entries(lua_State *L);

/* Replaces the table on top (a ctx, its "@contract" mark removed) by its
 * read-only proxy, described by the contract's ctx spec. May raise (a
 * memory error, or a ctx nested too deep). */
void sbx_ctx_wrap(lua_State *L);

#endif
