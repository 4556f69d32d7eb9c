/*
 * sandbox: capped Lua states that evaluate province rule sets, a fresh
 * environment per call.
 * Uses: Lua 5.4, wire.
 */
#include "sandbox.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#define SBX_HOOK_STEP 1000      /* instructions between hook runs */
#define SBX_GC_AFTER (8u << 20) /* collect after a call above this */

/* What a built set looked like right after it was built: every value
 * reachable from it (tables, closures' upvalues, their envs), in walk
 * order, as (tag, bits) words. Equal after a call means the call left
 * nothing behind; anything else, and the set is built afresh. */
typedef struct snapshot {
  uint64_t *w; /* owned */
  size_t n, cap;
  int valid;
} snapshot;

struct sbx {
  lua_State *L; /* owned */
  size_t mem_used, mem_limit;
  long steps, budget; /* instructions this call */
  clock_t clock0;     /* the process's CPU clock when this call began */
  int nfiles;
  char names[SBX_MAX_FILES][16];
  snapshot snaps[SBX_MAX_FILES]; /* per set, as names */
  snapshot scratch;
  struct walker *walker; /* owned; made on first use */
};

static const char CODE_KEY = 'c';  /* registry: name -> wrapped chunk */
static const char BUILT_KEY = 'b'; /* registry: name -> built set */

#define SNAP_MAX 65536 /* words; a larger set is rebuilt every call */
#define SNAP_SEEN 2048 /* objects walked */

static const char *const REQUIRED[] = {"check_plan",        "check_profile",
                                       "check_declaration", "review_chain",
                                       "deadline",          NULL};

/* Allocator with a cap: refusing makes Lua raise a memory error. */
static void *sbx_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sbx *s = ud;
  size_t old = ptr ? osize : 0;
  void *p;
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
 * instruction, so a pcall inside the rule cannot swallow the error. */
static void sbx_hook(lua_State *L, lua_Debug *ar) {
  sbx *s = *(sbx **)lua_getextraspace(L);
  (void)ar;
  s->steps += SBX_HOOK_STEP;
  if (s->steps > s->budget) {
    lua_sethook(L, sbx_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "rule exceeded its instruction budget (%d)", (int)s->budget);
  }
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg)
    msg =
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* ---- guards for library functions that loop in C -------------------- */
/* The count hook runs between VM instructions only, so a C function that
 * loops long (pattern backtracking, string.rep of an empty string, a huge
 * table.move) would escape the budget. These wrappers refuse such calls
 * and otherwise call the original, kept as upvalue 1. What they miss, the
 * evaluator's wall-clock deadline ends. */

#define SBX_MAX_REP (1 << 20)  /* bytes or repetitions */
#define SBX_MAX_MATCH_COST 1e7 /* ~ subject^quantifiers */
#define SBX_MAX_MOVE 1000000

static int call_original(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

static int guarded_rep(lua_State *L) {
  size_t l, lsep = 0;
  lua_Integer n;
  luaL_checklstring(L, 1, &l);
  n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  if (n > SBX_MAX_REP || (n > 0 && (lua_Unsigned)n * (l + lsep) > SBX_MAX_REP))
    return luaL_error(L, "string.rep: result too large for a rule");
  return call_original(L);
}

/* find, match, gmatch, gsub: backtracking costs about subject length to
 * the power of the quantifiers in the pattern. Upvalue 2: is find. */
static int guarded_match(lua_State *L) {
  size_t ls, lp, i;
  double cost = 1;
  int quantifiers = 0;
  const char *p;
  luaL_checklstring(L, 1, &ls);
  p = luaL_checklstring(L, 2, &lp);
  if (lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4))
    return call_original(L); /* a plain find */
  for (i = 0; i < lp; i++) {
    if (p[i] == '%')
      i++;
    else if (p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?')
      quantifiers++;
  }
  for (i = 0; i < (size_t)quantifiers && cost <= SBX_MAX_MATCH_COST; i++)
    cost *= (double)ls + 1;
  if (lp > 256 || cost > SBX_MAX_MATCH_COST)
    return luaL_error(L, "pattern too complex for its subject in a rule");
  return call_original(L);
}

static int guarded_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
  if (e >= f && (lua_Unsigned)e - (lua_Unsigned)f >= SBX_MAX_MOVE)
    return luaL_error(L, "table.move: range too large for a rule");
  return call_original(L);
}

/* Addresses are state: "%p" and a table's or function's text
 * ("table: 0x...") tell whether a string was already interned by an
 * earlier call, or where the allocator stands after it. */
static int is_object(lua_State *L, int i) {
  int t = lua_type(L, i);
  return t == LUA_TTABLE || t == LUA_TFUNCTION || t == LUA_TTHREAD ||
         t == LUA_TUSERDATA || t == LUA_TLIGHTUSERDATA;
}

static int guarded_format(lua_State *L) {
  size_t lf, i;
  const char *f = luaL_checklstring(L, 1, &lf);
  int n = lua_gettop(L), k;
  for (i = 0; i + 1 < lf; i++)
    if (f[i] == '%') {
      size_t j = i + 1;
      if (f[j] == '%') {
        i = j;
        continue;
      }
      while (j < lf && strchr("-+ #0123456789.", f[j]))
        j++;
      if (j < lf && f[j] == 'p')
        return luaL_error(L, "string.format: '%%p' is not for rules");
      i = j;
    }
  for (k = 2; k <= n; k++)
    if (is_object(L, k))
      return luaL_error(L, "string.format: argument %d is a %s, not text",
                        k - 1, luaL_typename(L, k));
  return call_original(L);
}

/* tostring for rules: a table or function is its type name only. */
static int sbx_tostring(lua_State *L) {
  luaL_checkany(L, 1);
  if (is_object(L, 1)) {
    lua_pushstring(L, luaL_typename(L, 1));
    return 1;
  }
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* Replaces lib[name] (lib on top) by fn with the original as upvalue 1
 * and flag as upvalue 2. */
static void guard(lua_State *L, const char *name, lua_CFunction fn, int flag) {
  lua_getfield(L, -1, name);
  lua_pushboolean(L, flag);
  lua_pushcclosure(L, fn, 2);
  lua_setfield(L, -2, name);
}

static void guard_libraries(lua_State *L) {
  lua_getglobal(L, "string"); /* the real one: strings' __index */
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  guard(L, "rep", guarded_rep, 0);
  guard(L, "find", guarded_match, 1);
  guard(L, "match", guarded_match, 0);
  guard(L, "gmatch", guarded_match, 0);
  guard(L, "gsub", guarded_match, 0);
  guard(L, "format", guarded_format, 0);
  lua_pop(L, 1);
  lua_getglobal(L, "table");
  guard(L, "move", guarded_move, 0);
  lua_pop(L, 1);
}

/* The names a rule file may use. Libraries are shared, read-only proxies
 * (a write raises), so that no run can change what the next one sees;
 * math.random and math.randomseed are left out: rules are deterministic,
 * and a seed would carry a value from one call to the next. */
static const char *const ENV_BASE[] = {
    "assert", "error",    "ipairs",   "next",     "pairs",
    "pcall",  "select",   "tonumber", "tostring", "type",
    "xpcall", "rawequal", "rawlen",   "_VERSION", NULL};
static const char *const ENV_LIBS[] = {"string", "table", "math",
                                       "utf8",   "os",    NULL};
static const char *const ENV_OS[] = {"time", "date", "clock", "difftime", NULL};

static const char ENV_MT_KEY = 'e'; /* registry: the metatable of envs */

/* os.clock for rules: CPU seconds since this call began. The process's
 * own clock would carry a value from one call to the next (a call spins
 * until the clock's phase encodes it; the next reads the phase). */
static int sbx_clock(lua_State *L) {
  sbx *s = *(sbx **)lua_getextraspace(L);
  lua_pushnumber(L, (lua_Number)(clock() - s->clock0) / CLOCKS_PER_SEC);
  return 1;
}

static int readonly_newindex(lua_State *L) {
  return luaL_error(L, "rules cannot change the library '%s'",
                    lua_tostring(L, lua_upvalueindex(1)));
}

/* The iterator of a proxy: next over the copy (upvalue 1), whatever
 * state it is given, so that the copy itself never reaches a rule. */
static int readonly_next(lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_replace(L, 1);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

/* __pairs: the iterator above (upvalue 1), the proxy as state. Returning
 * the copy as state (as pairs' second value) would hand the rule the
 * shared, writable table behind every province's library. */
static int readonly_pairs(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* Replaces the table on top by a read-only proxy of a copy of it. */
static void make_readonly(lua_State *L, const char *name) {
  int t = lua_gettop(L);
  lua_createtable(L, 0, 32); /* t copy */
  lua_pushnil(L);
  while (lua_next(L, t)) { /* t copy k v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_createtable(L, 0, 0); /* t copy proxy */
  lua_createtable(L, 0, 4); /* t copy proxy mt */
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, name);
  lua_pushcclosure(L, readonly_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, readonly_next, 1);
  lua_pushcclosure(L, readonly_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2); /* t copy proxy */
  lua_replace(L, t);
  lua_settop(L, t); /* proxy */
}

/* Builds the metatable of run envs once per state (after guarding): its
 * __index is the table of allowed names. */
static void make_env_metatable(lua_State *L) {
  int i;
  lua_createtable(L, 0, 1);  /* mt */
  lua_createtable(L, 0, 24); /* mt allowed */
  lua_pushglobaltable(L);    /* mt allowed G */
  for (i = 0; ENV_BASE[i]; i++) {
    lua_getfield(L, -1, ENV_BASE[i]);
    lua_setfield(L, -3, ENV_BASE[i]);
  }
  lua_pushcfunction(L, sbx_tostring);
  lua_setfield(L, -3, "tostring");
  for (i = 0; ENV_LIBS[i]; i++) {
    if (strcmp(ENV_LIBS[i], "os") == 0) {
      int k;
      lua_createtable(L, 0, 4); /* ... os */
      lua_getfield(L, -2, "os");
      for (k = 0; ENV_OS[k]; k++) {
        lua_getfield(L, -1, ENV_OS[k]);
        lua_setfield(L, -3, ENV_OS[k]);
      }
      lua_pop(L, 1);
      lua_pushcfunction(L, sbx_clock);
      lua_setfield(L, -2, "clock");
    } else {
      lua_getfield(L, -1, ENV_LIBS[i]);
    }
    make_readonly(L, ENV_LIBS[i]);
    if (strcmp(ENV_LIBS[i], "math") == 0) { /* from the proxy's copy */
      lua_getmetatable(L, -1);
      lua_getfield(L, -1, "__index");
      lua_pushnil(L);
      lua_setfield(L, -2, "random");
      lua_pushnil(L);
      lua_setfield(L, -2, "randomseed");
      lua_pop(L, 2);
    }
    lua_setfield(L, -3, ENV_LIBS[i]);
  }
  lua_pop(L, 1); /* mt allowed */
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ENV_MT_KEY);
}

/* Pushes a fresh _ENV for one run of a rule file: an empty table over the
 * allowed names, so what a run assigns there dies with it. */
static void push_env(lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "_G");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ENV_MT_KEY);
  lua_setmetatable(L, -2);
}

/* ---- compiling ------------------------------------------------------- */

/* Compiles f as text, then again wrapped as
 *   local _ENV = ...; return function(...) <text> end
 * on the same first line, so that calling the wrapper with a fresh env
 * gives a fresh closure of the file (line numbers unchanged). The plain
 * compile gives the author the exact syntax error. Pushes the wrapper. */
static int compile(lua_State *L, const sbx_file *f, char *err, size_t errlen) {
  static const char head[] = "local _ENV = ...; return function(...) ";
  static const char tail[] = "\nend";
  char name[128];
  luaL_Buffer b;
  snprintf(name, sizeof name, "@%s", f->chunkname);
  if (luaL_loadbufferx(L, f->text, f->len, name, "t") != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return SBX_ERR_LOAD;
  }
  lua_pop(L, 1);
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, head, sizeof head - 1);
  luaL_addlstring(&b, f->text, f->len);
  luaL_addlstring(&b, tail, sizeof tail - 1);
  luaL_pushresult(&b);
  if (luaL_loadbufferx(L, lua_tostring(L, -1), luaL_len(L, -1), name, "t") !=
      LUA_OK) {
    snprintf(err, errlen, "%s: cannot be wrapped as a rule file", f->chunkname);
    lua_pop(L, 2);
    return SBX_ERR_LOAD;
  }
  lua_remove(L, -2); /* the text */
  return SBX_OK;
}

/* ---- snapshots ------------------------------------------------------- */

/* The objects one walk has seen: an open-addressing set whose slots are
 * stamped with the walk's number, so that a new walk starts empty
 * without clearing. */
#define SEEN_SLOTS 4096 /* a power of two, twice SNAP_SEEN */
typedef struct walker {
  snapshot *snap;
  const void *slot[SEEN_SLOTS];
  unsigned stamp[SEEN_SLOTS];
  unsigned walk;
  int nseen;
  int overflow;
} walker;

static inline void snap_word(walker *w, uint64_t v) {
  snapshot *s = w->snap;
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
static int snap_seen(walker *w, const void *p) {
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

/* Records the value at idx and, the first time, what it reaches. */
static void snap_value(walker *w, lua_State *L, int idx, int depth) {
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

/* Takes a snapshot of the value on top into snap. Returns 1 if it fit. */
static int snap_take(sbx *s, snapshot *snap) {
  walker *w = s->walker;
  if (!w && !(w = s->walker = calloc(1, sizeof *w))) return 0;
  w->snap = snap;
  w->nseen = 0;
  w->overflow = 0;
  if (++w->walk == 0) { /* stamps wrapped: clear them */
    memset(w->stamp, 0, sizeof w->stamp);
    w->walk = 1;
  }
  snap->n = 0;
  snap_value(w, s->L, -1, 0);
  return !w->overflow;
}

static int set_index(const sbx *s, const char *name) {
  int i;
  for (i = 0; i < s->nfiles; i++)
    if (strcmp(s->names[i], name) == 0) return i;
  return 0;
}

/* ---- building a set, inside a protected call -------------------------- */

/* Runs the named file in a fresh env with nargs arguments from the top;
 * leaves its result, which must be a table. Raises on error. */
static void run_file(lua_State *L, const char *name, int nargs) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &CODE_KEY);
  lua_getfield(L, -1, name); /* args... code wrapper */
  lua_remove(L, -2);
  push_env(L);
  lua_call(L, 1, 1); /* args... closure */
  lua_insert(L, -1 - nargs);
  lua_call(L, nargs, 1);
  if (!lua_istable(L, -1))
    luaL_error(L, "%s.lua: must return a table of rules, returned %s", name,
               luaL_typename(L, -1));
}

static int has_file(const sbx *s, const char *province) {
  int i;
  for (i = 1; i < s->nfiles; i++)
    if (strcmp(s->names[i], province) == 0) return 1;
  return 0;
}

/* Pushes the province's set, built afresh: a run of default.lua, with the
 * entries the province's file returns (given its own pristine run of
 * default.lua as base) merged over it, so that the default functions see
 * the province's values by late binding. */
static void build_set(lua_State *L, sbx *s, const char *province) {
  run_file(L, "default", 0); /* merged */
  if (!has_file(s, province)) return;
  run_file(L, "default", 0); /* merged base */
  run_file(L, province, 1);  /* merged over */
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* merged over k v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, -5);
  }
  lua_pop(L, 1); /* merged */
}

typedef struct call_args {
  sbx *s;
  const char *province, *entry;
  wire_reader *arg;
  int probe; /* only build and check the required functions */
} call_args;

/* The protected body of a call: build, look up, decode, call. Leaves one
 * result. */
static int do_call(lua_State *L) {
  call_args *a = lua_touserdata(L, 1);
  snapshot *snap = &a->s->snaps[set_index(a->s, a->province)];
  int k;
  lua_settop(L, 0);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &BUILT_KEY);
  lua_getfield(L, 1, a->province); /* built set|nil */
  lua_remove(L, 1);
  if (!snap->valid || !lua_istable(L, 1)) {
    lua_settop(L, 0);
    build_set(L, a->s, a->province); /* set */
    /* keep it for the next call, as it is now */
    snap->valid = snap_take(a->s, snap);
    if (snap->valid) {
      lua_rawgetp(L, LUA_REGISTRYINDEX, &BUILT_KEY);
      lua_pushvalue(L, 1);
      lua_setfield(L, -2, a->province);
      lua_pop(L, 1);
    }
  }
  if (a->probe) {
    for (k = 0; REQUIRED[k]; k++) {
      lua_getfield(L, 1, REQUIRED[k]);
      if (!lua_isfunction(L, -1))
        return luaL_error(L, "%s.lua: the rule set has no function '%s'",
                          a->province, REQUIRED[k]);
      lua_pop(L, 1);
    }
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_getfield(L, 1, a->entry); /* set fn */
  if (!lua_isfunction(L, -1)) return 1;
  if (!a->arg) {
    lua_call(L, 0, 1);
    return 1;
  }
  if (wire_get_value(a->arg, L) != WIRE_OK)
    return luaL_error(L, "rules: malformed argument");
  lua_call(L, 1, 1);
  return 1;
}

/* Runs do_call with the budget and memory cap armed; on success the
 * result is on top of the stack. */
static int protected_call(sbx *s, call_args *a, char *err, size_t errlen) {
  lua_State *L = s->L;
  int rc;
  lua_settop(L, 0);
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, do_call);
  lua_pushlightuserdata(L, a);
  s->steps = 0;
  s->budget = SBX_BUDGET;
  s->clock0 = clock();
  s->mem_limit = s->mem_used + SBX_MEM_LIMIT;
  lua_sethook(L, sbx_hook, LUA_MASKCOUNT, SBX_HOOK_STEP);
  rc = lua_pcall(L, 1, 1, 1);
  lua_sethook(L, NULL, 0, 0);
  if (rc == LUA_ERRMEM)
    snprintf(err, errlen, "rule exceeded its memory limit");
  else if (rc != LUA_OK)
    snprintf(err, errlen, "%s",
             lua_isstring(L, -1) ? lua_tostring(L, -1) : "rule failed");
  s->mem_limit = (size_t)-1;
  return rc == LUA_OK ? SBX_OK : SBX_ERR_CALL;
}

static void after_call(sbx *s) {
  lua_settop(s->L, 0);
  if (s->mem_used > SBX_GC_AFTER) lua_gc(s->L, LUA_GCCOLLECT);
}

/* Forgets the built set of province unless it is as it was built. */
static void check_built(sbx *s, const char *province) {
  snapshot *snap = &s->snaps[set_index(s, province)];
  lua_State *L = s->L;
  int same;
  if (!snap->valid) return;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &BUILT_KEY);
  lua_getfield(L, -1, province);
  same = lua_istable(L, -1) && snap_take(s, &s->scratch) &&
         s->scratch.n == snap->n &&
         memcmp(s->scratch.w, snap->w, snap->n * sizeof *snap->w) == 0;
  lua_pop(L, 1);
  if (!same) {
    snap->valid = 0;
    lua_pushnil(L);
    lua_setfield(L, -2, province);
  }
  lua_pop(L, 1);
}

int sbx_call(sbx *s, const char *province, const char *entry, wire_reader *arg,
             wire_buf *out, char *err, size_t errlen) {
  call_args a = {s, province, entry, arg, 0};
  int rc, w;
  if (!has_file(s, province)) a.province = "default";
  if ((rc = protected_call(s, &a, err, errlen)) != SBX_OK) {
    s->snaps[set_index(s, a.province)].valid = 0; /* rebuilt next time */
    after_call(s);
    return rc;
  }
  w = wire_put_value(out, s->L, -1);
  lua_settop(s->L, 0);
  check_built(s, a.province);
  after_call(s);
  if (w != WIRE_OK) {
    snprintf(err, errlen, "rule result too large or too deep");
    return SBX_ERR_RESULT;
  }
  return SBX_OK;
}

/* ---- loading --------------------------------------------------------- */

/* A load error names the file that failed first, whatever the message
 * says: a rule's own error("44.lua:7: ...") must not be taken as 44's. */
static void own_error(char *err, size_t errlen, const char *chunkname) {
  size_t n = strlen(chunkname);
  char tmp[4096];
  if (strncmp(err, chunkname, n) == 0 && err[n] == ':') return;
  snprintf(tmp, sizeof tmp, "%s: %s", chunkname, err);
  snprintf(err, errlen, "%s", tmp);
}

void sbx_free(sbx *s) {
  int i;
  if (!s) return;
  if (s->L) lua_close(s->L);
  for (i = 0; i < SBX_MAX_FILES; i++)
    free(s->snaps[i].w);
  free(s->scratch.w);
  free(s->walker);
  free(s);
}

int sbx_load(const sbx_file *files, int n, int probe, sbx **out, char *err,
             size_t errlen) {
  sbx *s = NULL;
  lua_State *L;
  int i, rc = SBX_ERR_LOAD;
  *out = NULL;
  if (n < 1 || n > SBX_MAX_FILES || strcmp(files[0].name, "default") != 0) {
    snprintf(err, errlen, "rules: a set needs default.lua first");
    return SBX_ERR_SHAPE;
  }
  if (!(s = calloc(1, sizeof *s))) goto nomem;
  s->mem_limit = (size_t)-1; /* capped inside calls only */
  if (!(L = lua_newstate(sbx_alloc, s))) goto nomem;
  s->L = L;
  *(sbx **)lua_getextraspace(L) = s;
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
  lua_pop(L, 6);
  /* The string metatable reaches the real string table: guard it there. */
  guard_libraries(L);
  make_env_metatable(L);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &BUILT_KEY);
  lua_newtable(L); /* code */
  for (i = 0; i < n; i++) {
    if (strlen(files[i].name) >= sizeof s->names[0]) {
      snprintf(err, errlen, "rules: bad set name");
      rc = SBX_ERR_SHAPE;
      goto fail;
    }
    if ((rc = compile(L, &files[i], err, errlen)) != SBX_OK) {
      own_error(err, errlen, files[i].chunkname);
      goto fail;
    }
    lua_setfield(L, -2, files[i].name);
    snprintf(s->names[i], sizeof s->names[i], "%s", files[i].name);
  }
  s->nfiles = n;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CODE_KEY);
  /* Probe each set once: it builds and has what the host calls. */
  for (i = 0; probe && i < n; i++) {
    call_args a = {s, s->names[i], NULL, NULL, 1};
    if (protected_call(s, &a, err, errlen) != SBX_OK) {
      /* a traceback is noise for a load error: keep its first line */
      char *nl = strchr(err, '\n');
      if (nl) *nl = '\0';
      own_error(err, errlen, files[i].chunkname);
      rc = strstr(err, "the rule set has no function") ||
                   strstr(err, "must return a table")
               ? SBX_ERR_SHAPE
               : SBX_ERR_LOAD;
      goto fail;
    }
    after_call(s);
  }
  lua_gc(L, LUA_GCCOLLECT);
  *out = s;
  return SBX_OK;
nomem:
  snprintf(err, errlen, "rules: out of memory");
fail:
  sbx_free(s);
  return rc;
}
