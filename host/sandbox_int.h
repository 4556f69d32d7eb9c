/*
 * sandbox_int: the sandbox's private state, for its own files
 * (sandbox*.c) and no other. Provides the state of a loaded set (struct
 * sbx, and sbx_of to find it from its lua_State), the line coverage of a
 * test run, and the lookup of a set by name. Everything else a sandbox
 * file offers the others is in its own header.
 * Uses: Lua 5.4, sandbox, sandbox_snap.
 */
#ifndef HOST_SANDBOX_INT_H
#define HOST_SANDBOX_INT_H

#include <stddef.h>
#include <time.h>
#include <lua.h>

#include "sandbox.h"
#include "sandbox_snap.h"

/* Lines of the file a test covers that ran. */
typedef struct coverage {
  const char *source; /* "@13.lua"; borrowed from the sbx */
  unsigned char hit[SBX_MAX_LINES];
} coverage;

struct sbx {
  lua_State *L;               /* owned */
  size_t mem_used, mem_limit; /* limit: SIZE_MAX outside calls */
  long steps, budget;         /* instructions this call */
  clock_t clock0;             /* the process's CPU clock when this call began */
  int nfiles;
  char names[SBX_MAX_FILES][16];
  char chunks[SBX_MAX_FILES][130]; /* "@13.lua": the chunks' sources */
  int cur;                         /* the set being called (lib.err) */
  int strict_entries;              /* refuse entries the contract lacks */
  coverage *cov;                   /* lines hit, while a test runs */
  sbx_snap snaps[SBX_MAX_FILES];   /* per set, as names */
  sbx_snap scratch;
  sbx_walker *walker; /* owned; made on first use */
};

/* The sbx whose state L is (kept in L's extra space by sbx_load). */
static inline sbx *sbx_of(lua_State *L) {
  return *(sbx **)lua_getextraspace(L);
}

/* The index of set name in s (0, the default set, if none). */
int sbx_set_index(const sbx *s, const char *name);

/* Has s a file of its own for province (not the default set)? */
int sbx_has_file(const sbx *s, const char *province);

#endif
