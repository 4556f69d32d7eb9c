/*
 * sandbox_snap: exact snapshots of what a built rule set reaches, so that
 * the sandbox can tell whether a call left anything behind. Provides
 * taking a snapshot of the value on top of a state (every table, closure
 * upvalue and environment reachable from it, in walk order, as (tag,
 * bits) words, a table's border included) and comparing two.
 * Uses: Lua 5.4.
 */
#ifndef HOST_SANDBOX_SNAP_H
#define HOST_SANDBOX_SNAP_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

/* A snapshot: its words are owned (free(snap->w) releases them). */
typedef struct sbx_snap {
  uint64_t *w; /* owned */
  size_t n, cap;
  int valid; /* the sandbox's: the snapshot is of the set it keeps */
} sbx_snap;

/* The walk's scratch (the objects seen), made on first use and reused;
 * the caller frees it with free(). */
typedef struct sbx_walker sbx_walker;

/* Takes a snapshot of the value on top of L into snap (the stack as it
 * was after). *w is the walker, made if NULL. Returns 1 if the snapshot
 * is whole, 0 if the value reaches too much (or no memory): a set that
 * cannot be snapshot is built afresh on every call. */
int sbx_snap_take(sbx_walker **w, lua_State *L, sbx_snap *snap);

/* Are a and b the same words? */
int sbx_snap_equal(const sbx_snap *a, const sbx_snap *b);

#endif
