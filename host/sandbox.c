/*
 * sandbox: capped Lua states that evaluate province rule sets, a fresh
 * environment per call.
 * Uses: Lua 5.4, wire.
 */
#include "sandbox.h"

#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#define SBX_HOOK_STEP 1000      /* instructions between hook runs */
#define SBX_GC_AFTER (8u << 20) /* collect after a call above this */
#define EV_RESULT_MAX_SBX (64u << 10) /* a case's result, as a call's */

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
  char chunks[SBX_MAX_FILES][130]; /* "@13.lua": the chunks' sources */
  int cur;                         /* the set being called (lib.err) */
  int strict_entries;              /* refuse entries the contract lacks */
  struct coverage *cov;            /* lines hit, while a test runs */
  snapshot snaps[SBX_MAX_FILES]; /* per set, as names */
  snapshot scratch;
  struct walker *walker; /* owned; made on first use */
};

static const char CODE_KEY = 'c';  /* registry: name -> wrapped chunk */
static const char BUILT_KEY = 'b'; /* registry: name -> {set, base copy} */
static const char TEXT_KEY = 't';  /* registry: name -> source text */
static const char ENTRY_KEY = 'n'; /* registry: entry name -> true */
static const char PART_KEY = 'p';  /* registry: "ctx" -> its part spec */
static const char CUR_KEY = 's';   /* registry: the set of this call */

/* Lines of the file a test covers that ran. */
typedef struct coverage {
  const char *source; /* "@13.lua"; borrowed from the sbx */
  unsigned char hit[SBX_MAX_LINES];
} coverage;

/* The contract (scripts/rules_contract.lua), compiled in. */
static const char CONTRACT_SRC[] =
#include "rules_contract.inc"
    ;

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

const char *const *sbx_env_names(void) {
  static const char *names[32];
  int i, n = 0;
  if (!names[0]) {
    for (i = 0; ENV_BASE[i]; i++)
      names[n++] = ENV_BASE[i];
    for (i = 0; ENV_LIBS[i]; i++)
      names[n++] = ENV_LIBS[i];
    names[n++] = "lib";
    names[n] = NULL;
  }
  return names;
}

/* __index of the allowed names: a name a rule reads that is not there
 * raises (as Redis's locked _G does), at the rule's line. */
static int env_miss(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  return luaL_error(L,
                    "attempt to read undefined global '%s' "
                    "(未定义的全局变量 '%s')",
                    k ? k : "?", k ? k : "?");
}

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

/* ---- lib: the helpers of the contract -------------------------------- */
/* Stateless C functions, shared read-only by every set (a proxy like the
 * libraries'). What they need of a call (the set, for lib.param) is in
 * the registry under CUR_KEY for its duration. */

/* Pushes {file, line}: where the rule that calls lib.err is, the first
 * frame of the province's own file up the stack, else the first of any
 * set's file (the default's line). */
static void push_origin(lua_State *L) {
  sbx *s = *(sbx **)lua_getextraspace(L);
  lua_Debug ar;
  int level, line = 0, file = -1, i;
  for (level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
    for (i = 0; i < s->nfiles; i++)
      if (strcmp(ar.source, s->chunks[i]) == 0) break;
    if (i == s->nfiles) continue;
    if (i == s->cur && i != 0) {
      file = i, line = ar.currentline;
      break;
    }
    if (file < 0) file = i, line = ar.currentline;
  }
  lua_createtable(L, 0, 2);
  lua_pushstring(L, file >= 0 ? s->names[file] : "default");
  lua_setfield(L, -2, "file");
  lua_pushinteger(L, line);
  lua_setfield(L, -2, "line");
}

/* lib.err(list, field, code, message): appends a finding with its rule. */
static int l_lib_err(lua_State *L) {
  lua_Integer n;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 4);
  n = luaL_len(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "field");
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "code");
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "message");
  push_origin(L);
  lua_setfield(L, -2, "rule");
  lua_seti(L, 1, n + 1);
  return 0;
}

/* lib.blank(v): nil, or a string of blanks only */
static int l_lib_blank(lua_State *L) {
  size_t n, i;
  const char *v;
  int blank = 1;
  if (lua_type(L, 1) == LUA_TSTRING) {
    v = lua_tolstring(L, 1, &n);
    for (i = 0; i < n && blank; i++)
      blank = strchr(" \t\r\n\f\v", v[i]) != NULL;
  } else {
    blank = lua_isnoneornil(L, 1);
  }
  lua_pushboolean(L, blank);
  return 1;
}

/* lib.path("majors", i, "trainees") -> "majors[i-1].trainees": a path in
 * the submitted JSON, whose lists count from 0. */
static int l_lib_path(lua_State *L) {
  int n = lua_gettop(L), i;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (i = 1; i <= n; i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {
      lua_Integer k = luaL_checkinteger(L, i);
      lua_pushfstring(L, "[%d]", (int)(k - 1));
      luaL_addvalue(&b);
    } else {
      const char *part = luaL_checkstring(L, i);
      if (i > 1) luaL_addchar(&b, '.');
      luaL_addstring(&b, part);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

/* The plan's year of a ctx (ctx.plan.year, or the alias ctx.year). */
static lua_Integer ctx_year(lua_State *L, int ctx) {
  lua_Integer y = 0;
  int ok = 0;
  luaL_checktype(L, ctx, LUA_TTABLE);
  if (lua_getfield(L, ctx, "plan") == LUA_TTABLE) {
    lua_getfield(L, -1, "year");
    y = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (!ok) {
    lua_getfield(L, ctx, "year");
    y = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
  }
  if (!ok) luaL_error(L, "lib.param: ctx has no plan year (ctx 中没有计划年度)");
  return y;
}

/* lib.param(ctx, name): the value of params[name] in force in the plan's
 * year, the one of the greatest year not after it. No such year, or no
 * such parameter, is an error: never a guess. */
static int l_lib_param(lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  lua_Integer year = ctx_year(L, 1), best = 0;
  int found = 0;
  lua_settop(L, 2);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &CUR_KEY); /* 3: the set */
  if (!lua_istable(L, 3) || lua_getfield(L, 3, "params") != LUA_TTABLE ||
      lua_getfield(L, 4, name) != LUA_TTABLE) /* 4 params, 5 by year */
    return luaL_error(L, "lib.param: no parameter '%s' (参数 '%s' 不存在)", name,
                      name);
  lua_pushnil(L);
  while (lua_next(L, 5)) { /* k v */
    int isint = 0;
    lua_Integer k = lua_tointegerx(L, -2, &isint);
    if (isint && k <= year && (!found || k > best)) {
      best = k;
      found = 1;
    }
    lua_pop(L, 1);
  }
  if (!found)
    return luaL_error(L,
                      "lib.param: '%s' has no value in force in %d "
                      "(参数 '%s' 在 %d 年没有生效的值)",
                      name, (int)year, name, (int)year);
  lua_geti(L, 5, best);
  return 1;
}

/* Beijing time (UTC+8) of ctx.now. */
static void beijing(lua_State *L, struct tm *tm) {
  time_t t;
  int ok = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "now");
  t = (time_t)lua_tointegerx(L, -1, &ok);
  if (!ok) luaL_error(L, "lib: ctx.now is not a time (ctx.now 不是时间)");
  t += 8 * 3600;
  gmtime_r(&t, tm);
}

static int l_lib_today(lua_State *L) {
  struct tm tm;
  char day[16];
  beijing(L, &tm);
  strftime(day, sizeof day, "%Y-%m-%d", &tm);
  lua_pushstring(L, day);
  return 1;
}

static int l_lib_year(lua_State *L) {
  struct tm tm;
  beijing(L, &tm);
  lua_pushinteger(L, tm.tm_year + 1900);
  return 1;
}

static const luaL_Reg lib_funcs[] = {
    {"err", l_lib_err},     {"blank", l_lib_blank}, {"path", l_lib_path},
    {"param", l_lib_param}, {"today", l_lib_today}, {"year", l_lib_year},
    {NULL, NULL},
};

static void push_lib(lua_State *L) {
  luaL_newlib(L, lib_funcs);
}

/* ---- ctx: read-only proxies that raise on an unknown field ----------- */
/* An argument marked "@contract" becomes, table by table, an empty proxy
 * whose metatable's __index is the data; the data's own metatable (one
 * per part, shared) answers a miss: nil for a field the part lists (and
 * for an index of a list), an error naming the field otherwise. A field
 * the part does not list is left out of the data, so that it raises even
 * when the caller sent it. Reading a present field costs one extra table
 * step in the VM. */

/* The data of a proxy (its metatable's __index) onto the stack. */
static void proxy_data(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) luaL_error(L, "not a ctx");
  lua_getfield(L, -1, "__index");
  lua_remove(L, -2);
}

static int ctx_newindex(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  return luaL_error(L, "ctx is read-only: cannot set '%s' (ctx 只读)",
                    k ? k : "?");
}

static int ctx_len(lua_State *L) {
  proxy_data(L, 1);
  lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
  return 1;
}

static int ctx_next(lua_State *L) {
  lua_settop(L, 2);
  proxy_data(L, 1); /* p k data */
  lua_replace(L, 1);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

static int ctx_pairs(lua_State *L) {
  lua_pushcfunction(L, ctx_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* The data's __index: upvalues known (name -> true), label, is_list. */
static int ctx_miss(lua_State *L) {
  const char *k;
  if (lua_type(L, 2) == LUA_TNUMBER && lua_toboolean(L, lua_upvalueindex(3)))
    return 0;
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 0;
  }
  k = lua_tostring(L, 2);
  return luaL_error(L, "%s has no field '%s' (%s 没有字段 '%s')",
                    lua_tostring(L, lua_upvalueindex(2)), k ? k : "?",
                    lua_tostring(L, lua_upvalueindex(2)), k ? k : "?");
}

/* Replaces the table on top by its proxy, spec (absolute index, or 0 for
 * a table no part describes: misses are nil) describing it. A spec is
 * {mt = data metatable, kids = {field -> spec}, items = {field -> spec},
 * list = spec of a list of items}. */
static void ctx_wrap(lua_State *L, int spec) {
  int t = lua_gettop(L);
  if (!lua_istable(L, t)) return;
  luaL_checkstack(L, 12, "ctx too deep");
  lua_pushnil(L);
  while (lua_next(L, t)) { /* k v */
    int kid = 0, items = 0;
    if (spec && lua_type(L, -2) == LUA_TSTRING) { /* a field it lacks: out */
      int known;
      lua_getfield(L, spec, "known");
      lua_pushvalue(L, -3);
      known = lua_rawget(L, -2) != LUA_TNIL;
      lua_pop(L, 2);
      if (!known) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, t);
        continue;
      }
    }
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (spec && lua_type(L, -2) == LUA_TSTRING) {
      lua_getfield(L, spec, "kids"); /* k v kids */
      lua_pushvalue(L, -3);
      lua_rawget(L, -2); /* k v kids kidspec|nil */
      lua_remove(L, -2);
      if (lua_istable(L, -1)) {
        kid = lua_gettop(L);
      } else {
        lua_pop(L, 1);
        lua_getfield(L, spec, "items");
        lua_pushvalue(L, -3);
        lua_rawget(L, -2); /* k v items itemspec|nil */
        lua_remove(L, -2);
        if (lua_istable(L, -1))
          items = lua_gettop(L);
        else
          lua_pop(L, 1);
      }
    }
    /* k v [spec] */
    lua_pushvalue(L, kid || items ? -2 : -1); /* ... v */
    if (items) {
      int list = lua_gettop(L);
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, list);
      for (i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        ctx_wrap(L, items);
        lua_rawseti(L, list, i);
      }
      lua_getfield(L, items, "list"); /* ... v listspec */
      lua_insert(L, -2);
      ctx_wrap(L, lua_gettop(L) - 1);
      lua_remove(L, -2);
    } else {
      ctx_wrap(L, kid);
    }
    /* k v [spec] proxy */
    lua_pushvalue(L, kid || items ? -4 : -3);
    lua_insert(L, -2);
    lua_rawset(L, t); /* k v [spec] */
    lua_settop(L, t + 1);
  }
  if (spec) {
    lua_getfield(L, spec, "mt");
    lua_setmetatable(L, t);
  }
  lua_createtable(L, 0, 0);  /* t proxy */
  lua_createtable(L, 0, 5);  /* t proxy mt */
  lua_pushvalue(L, t);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ctx_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, ctx_len);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, ctx_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_replace(L, t);
  lua_settop(L, t);
}

/* Makes a part spec's data metatable: known from the part's fields. */
static void spec_mt(lua_State *L, int known, const char *label, int is_list) {
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, known);
  lua_pushstring(L, label);
  lua_pushboolean(L, is_list);
  lua_pushcclosure(L, ctx_miss, 3);
  lua_setfield(L, -2, "__index");
}

/* Protected: runs the contract's text and keeps what the sandbox needs
 * of it in the registry: the entry names and the ctx's part specs. */
static int load_contract(lua_State *L) {
  int c, parts, specs, labels;
  if (luaL_loadbufferx(L, CONTRACT_SRC, sizeof CONTRACT_SRC - 1,
                       "=rules_contract", "t") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  c = lua_gettop(L);
  lua_newtable(L); /* c entries */
  lua_getfield(L, c, "entries");
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* c entries list k e */
    lua_getfield(L, -1, "name");
    lua_pushboolean(L, 1);
    lua_rawset(L, -6);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ENTRY_KEY);
  lua_getfield(L, c, "ctx");
  parts = lua_gettop(L);
  lua_getfield(L, c, "labels");
  labels = lua_gettop(L);
  lua_newtable(L); /* specs: part -> spec */
  specs = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, parts)) { /* k fields */
    lua_newtable(L);           /* k fields spec */
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -2);
    lua_rawset(L, specs);
    lua_pop(L, 2);
  }
  lua_pushnil(L);
  while (lua_next(L, parts)) { /* k fields */
    int fields = lua_gettop(L), spec, known;
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, fields);
    const char *label;
    lua_pushvalue(L, -2);
    lua_rawget(L, specs);
    spec = lua_gettop(L);
    lua_newtable(L);
    known = lua_gettop(L);
    lua_newtable(L);
    lua_setfield(L, spec, "kids");
    lua_newtable(L);
    lua_setfield(L, spec, "items");
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, fields, i); /* f */
      lua_getfield(L, -1, "name");
      lua_pushboolean(L, 1);
      lua_rawset(L, known);
      if (lua_getfield(L, -1, "part") == LUA_TSTRING) {
        lua_getfield(L, spec, "kids");
        lua_getfield(L, -3, "name");
        lua_pushvalue(L, -3);
        lua_rawget(L, specs);
        lua_rawset(L, -3);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
      if (lua_getfield(L, -1, "items") == LUA_TSTRING) {
        const char *item = lua_tostring(L, -1);
        lua_getfield(L, spec, "items");
        lua_getfield(L, -3, "name");
        lua_getfield(L, specs, item); /* ... items name itemspec */
        if (lua_istable(L, -1) &&
            (lua_getfield(L, -1, "list") != LUA_TNIL || (lua_pop(L, 1), 0))) {
          lua_pop(L, 1); /* made already */
        } else if (lua_istable(L, -1)) {
          lua_newtable(L); /* the list's own spec: indexes only */
          lua_newtable(L);
          lua_pushvalue(L, -1);
          lua_setfield(L, -3, "known");
          lua_getfield(L, labels, item);
          spec_mt(L, lua_gettop(L) - 1,
                  lua_isstring(L, -1) ? lua_tostring(L, -1) : item, 1);
          lua_setfield(L, -4, "mt");
          lua_pop(L, 2);
          lua_setfield(L, -2, "list");
        }
        lua_rawset(L, -3);
        lua_pop(L, 1);
      }
      lua_pop(L, 2);
    }
    lua_pushvalue(L, fields - 1); /* the part's name */
    lua_rawget(L, labels);
    label = lua_isstring(L, -1) ? lua_tostring(L, -1) : "ctx";
    spec_mt(L, known, label, 0);
    lua_setfield(L, spec, "mt");
    lua_pushvalue(L, known);
    lua_setfield(L, spec, "known");
    lua_settop(L, fields - 1); /* k */
  }
  lua_getfield(L, specs, "ctx");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &PART_KEY);
  return 0;
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
  push_lib(L);
  make_readonly(L, "lib");
  lua_setfield(L, -2, "lib");
  lua_createtable(L, 0, 1); /* mt allowed amt */
  lua_pushcfunction(L, env_miss);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
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
    return SBX_ERR_SYNTAX;
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

/* The line of name in text: where it is first assigned ("name =", not
 * "=="), else where it first appears as a word; 0 if nowhere. */
static int line_of(const char *text, size_t len, const char *name) {
  size_t n = strlen(name), i;
  int pass;
  for (pass = 0; pass < 2; pass++) {
    int line = 1;
    for (i = 0; i + n <= len; i++) {
      if (text[i] == '\n') line++;
      if (memcmp(text + i, name, n) == 0 &&
          (i == 0 || !(isalnum((unsigned char)text[i - 1]) || text[i - 1] == '_')) &&
          !(isalnum((unsigned char)text[i + n]) || text[i + n] == '_')) {
        size_t j = i + n;
        while (j < len && (text[j] == ' ' || text[j] == '\t'))
          j++;
        if (pass == 1 || (j < len && text[j] == '=' && text[j + 1] != '='))
          return line;
      }
    }
  }
  return 0;
}

/* Raises if the table on top (the result of set name) has an entry the
 * contract does not know; extra (absolute index, or 0) lists more names
 * that are allowed (the default set's own, for a province). The error
 * names the entry and its line: a function's first line, else the line
 * of its name in the source. */
static void check_entries(lua_State *L, const char *name, int extra) {
  int t = lua_gettop(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ENTRY_KEY); /* t known */
  lua_pushnil(L);
  while (lua_next(L, t)) { /* t known k v */
    int line = 0;
    const char *k;
    if (lua_type(L, -2) == LUA_TSTRING) {
      lua_pushvalue(L, -2);
      if (lua_rawget(L, t + 1) != LUA_TNIL ||
          (extra && (lua_pop(L, 1), lua_pushvalue(L, -2),
                     lua_rawget(L, extra) != LUA_TNIL))) {
        lua_pop(L, 2);
        continue;
      }
      lua_pop(L, 1);
    }
    k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
    if (lua_isfunction(L, -1)) {
      lua_Debug ar;
      lua_pushvalue(L, -1);
      if (lua_getinfo(L, ">S", &ar)) line = ar.linedefined;
    } else {
      size_t len = 0;
      const char *text;
      lua_rawgetp(L, LUA_REGISTRYINDEX, &TEXT_KEY);
      lua_getfield(L, -1, name);
      text = lua_tolstring(L, -1, &len);
      if (text && lua_type(L, -4) == LUA_TSTRING) line = line_of(text, len, k);
    }
    {
      sbx *s = *(sbx **)lua_getextraspace(L);
      luaL_error(L, "%s:%d: unknown entry '%s' (规则集没有 '%s' 这一条目)",
                 s->chunks[set_index(s, name)] + 1, line, k, k);
    }
  }
  lua_pop(L, 1);
}

/* Pushes the province's set, built afresh, as {set, base copy}. One run
 * of default.lua is the set M; the province's file gets a read-only copy
 * of M's entries as base, and what it returns is merged over M. The
 * default functions close over M, so base.check_profile (the default's)
 * sees the province's profile_required. The copy is kept beside the set
 * so that a call changing what only base reaches is seen. */
static void build_set(lua_State *L, sbx *s, const char *province) {
  int m, copy;
  lua_createtable(L, 2, 0); /* root */
  run_file(L, "default", 0); /* root M */
  m = lua_gettop(L);
  if (s->strict_entries) check_entries(L, "default", 0);
  lua_pushvalue(L, m);
  lua_rawseti(L, m - 1, 1);
  if (!has_file(s, province)) {
    lua_pop(L, 1);
    return;
  }
  lua_createtable(L, 0, 16); /* root M copy */
  copy = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, m)) { /* root M copy k v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, copy);
  }
  lua_pushvalue(L, copy);
  lua_rawseti(L, m - 1, 2);
  lua_pushvalue(L, copy);
  make_readonly(L, "base"); /* root M copy base */
  run_file(L, province, 1); /* root M copy over */
  if (s->strict_entries) check_entries(L, province, copy);
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* root M copy over k v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, m);
  }
  lua_settop(L, m - 1); /* root */
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
  lua_getfield(L, 1, a->province); /* built root|nil */
  lua_remove(L, 1);
  if (!snap->valid || !lua_istable(L, 1)) {
    lua_settop(L, 0);
    build_set(L, a->s, a->province); /* root */
    /* keep it for the next call, as it is now */
    snap->valid = snap_take(a->s, snap);
    if (snap->valid) {
      lua_rawgetp(L, LUA_REGISTRYINDEX, &BUILT_KEY);
      lua_pushvalue(L, 1);
      lua_setfield(L, -2, a->province);
      lua_pop(L, 1);
    }
  }
  lua_rawgeti(L, 1, 1); /* root set */
  lua_replace(L, 1);
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
  lua_pushvalue(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CUR_KEY);
  lua_getfield(L, 1, a->entry); /* set fn */
  if (!lua_isfunction(L, -1)) return 1;
  if (!a->arg) {
    lua_call(L, 0, 1);
    return 1;
  }
  if (wire_get_value(a->arg, L) != WIRE_OK)
    return luaL_error(L, "rules: malformed argument");
  if (lua_istable(L, -1)) {
    int marked = lua_getfield(L, -1, "@contract") != LUA_TNIL;
    lua_pop(L, 1);
    if (marked) {
      lua_pushnil(L);
      lua_setfield(L, -2, "@contract");
      lua_rawgetp(L, LUA_REGISTRYINDEX, &PART_KEY); /* set fn arg spec */
      lua_insert(L, -2);
      ctx_wrap(L, lua_gettop(L) - 1);
      lua_remove(L, -2);
    }
  }
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
  s->cur = set_index(s, a->province);
  lua_sethook(L, sbx_hook, LUA_MASKCOUNT | (s->cov ? LUA_MASKLINE : 0),
              SBX_HOOK_STEP);
  rc = lua_pcall(L, 1, 1, 1);
  lua_sethook(L, NULL, 0, 0);
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CUR_KEY);
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
  s->strict_entries = probe == SBX_PROBE_STRICT;
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
  lua_pushcfunction(L, load_contract);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    snprintf(err, errlen, "rules: the contract does not load: %s",
             lua_tostring(L, -1));
    rc = SBX_ERR_SHAPE;
    goto fail;
  }
  make_env_metatable(L);
  lua_newtable(L); /* texts, for the lines of unknown entries */
  for (i = 0; i < n; i++) {
    lua_pushlstring(L, files[i].text, files[i].len);
    lua_setfield(L, -2, files[i].name);
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &TEXT_KEY);
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
    snprintf(s->chunks[i], sizeof s->chunks[i], "@%.120s", files[i].chunkname);
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
           : strstr(err, "unknown entry '")             ? SBX_ERR_ENTRY
           : strstr(err, "attempt to read undefined global") ? SBX_ERR_NAME
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

/* ---- test runs -------------------------------------------------------- */

/* Protected: compiles and runs the cases' text (arg 1, a string) in a
 * rule's environment; leaves its result, which must be a table. */
static int eval_cases(lua_State *L) {
  size_t len;
  const char *text = lua_tolstring(L, 1, &len);
  if (luaL_loadbufferx(L, text, len, "@cases.lua", "t") != LUA_OK)
    return lua_error(L);
  push_env(L);
  lua_setupvalue(L, -2, 1);
  lua_call(L, 0, 1);
  if (!lua_istable(L, -1))
    return luaL_error(L, "cases.lua: must return a list of cases, returned %s",
                      luaL_typename(L, -1));
  /* a case file that ships its own rule files: {rules = ..., cases = ...} */
  if (lua_getfield(L, -1, "cases") == LUA_TTABLE) return 1;
  lua_pop(L, 1);
  return 1;
}

/* The string field k of table t, or dflt. */
static const char *str_field(lua_State *L, int t, const char *k,
                             const char *dflt, char *buf, size_t buflen) {
  if (lua_getfield(L, t, k) == LUA_TSTRING)
    snprintf(buf, buflen, "%s", lua_tostring(L, -1));
  else
    snprintf(buf, buflen, "%s", dflt);
  lua_pop(L, 1);
  return buf;
}

int sbx_test(sbx *s, const char *province, const char *cases_text,
             size_t cases_len, wire_buf *out, char *err, size_t errlen) {
  lua_State *L = s->L;
  wire_buf arg, res;
  coverage *cov = NULL;
  int rc = SBX_ERR_CALL, cases_ref = LUA_NOREF, reply_ref = LUA_NOREF;
  int i, n, w;
  wire_init(&arg, 1u << 20);
  wire_init(&res, 1u << 20);
  lua_settop(L, 0);
  /* the cases: untrusted, so under a call's budget and memory cap */
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, eval_cases);
  lua_pushlstring(L, cases_text, cases_len);
  s->steps = 0;
  s->budget = SBX_BUDGET;
  s->clock0 = clock();
  s->mem_limit = s->mem_used + SBX_MEM_LIMIT;
  lua_sethook(L, sbx_hook, LUA_MASKCOUNT, SBX_HOOK_STEP);
  w = lua_pcall(L, 1, 1, 1);
  lua_sethook(L, NULL, 0, 0);
  s->mem_limit = (size_t)-1;
  if (w != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    char *nl;
    snprintf(err, errlen, "%s",
             w == LUA_ERRMEM ? "cases exceeded their memory limit"
                             : (m ? m : "the cases failed"));
    if ((nl = strchr(err, '\n'))) *nl = '\0';
    goto done;
  }
  cases_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  if (!(cov = calloc(1, sizeof *cov))) {
    snprintf(err, errlen, "rules: out of memory");
    goto done;
  }
  cov->source = s->chunks[set_index(s, has_file(s, province) ? province
                                                             : "default")];
  for (i = 0; i < s->nfiles; i++) /* built again: the top level counts */
    s->snaps[i].valid = 0;
  lua_createtable(L, 0, 3); /* reply */
  lua_newtable(L);
  lua_setfield(L, -2, "cases");
  lua_newtable(L);
  lua_setfield(L, -2, "results");
  reply_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cases_ref);
  n = (int)lua_rawlen(L, -1);
  lua_pop(L, 1);
  if (n > SBX_MAX_CASES) n = SBX_MAX_CASES;
  for (i = 1; i <= n; i++) {
    char prov[16], fn[64], msg[4096];
    int hasarg, c;
    wire_reader r;
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, reply_ref); /* 1 reply */
    lua_rawgeti(L, LUA_REGISTRYINDEX, cases_ref); /* 2 cases */
    lua_rawgeti(L, 2, i);                         /* 3 case */
    if (!lua_istable(L, 3)) lua_newtable(L), lua_replace(L, 3);
    str_field(L, 3, "province", "default", prov, sizeof prov);
    str_field(L, 3, "fn", "check_declaration", fn, sizeof fn);
    lua_createtable(L, 0, 4); /* 4 the case as the host sees it */
    for (c = 0; c < 4; c++) {
      static const char *const keep[] = {"name", "province", "fn", "expect"};
      lua_getfield(L, 3, keep[c]);
      lua_setfield(L, 4, keep[c]);
    }
    lua_getfield(L, 1, "cases");
    lua_pushvalue(L, 4);
    lua_rawseti(L, -2, i);
    lua_pop(L, 2);
    wire_reset(&arg, 1u << 20, 200000);
    hasarg = lua_getfield(L, 3, "input") == LUA_TTABLE;
    if (hasarg) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "@contract");
    }
    if (hasarg && wire_put_value(&arg, L, -1) != WIRE_OK) {
      snprintf(msg, sizeof msg, "the case's input is too large or too deep");
      lua_settop(L, 0);
      w = SBX_ERR_CALL;
    } else {
      lua_settop(L, 0);
      r.p = arg.data;
      r.end = arg.data + arg.len;
      wire_reset(&res, EV_RESULT_MAX_SBX, 100000);
      res.strict = 1;
      s->cov = cov;
      w = sbx_call(s, prov, fn, hasarg ? &r : NULL, &res, msg, sizeof msg);
      s->cov = NULL;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, reply_ref);
    lua_getfield(L, -1, "results"); /* reply results */
    lua_createtable(L, 0, 1);
    if (w == SBX_OK) {
      r.p = res.data;
      r.end = res.data + res.len;
      if (wire_get_value(&r, L) != WIRE_OK) lua_pushnil(L);
      lua_setfield(L, -2, "value");
    } else {
      lua_pushstring(L, msg);
      lua_setfield(L, -2, "error");
    }
    lua_rawseti(L, -2, i);
    lua_settop(L, 0);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, reply_ref);
  lua_newtable(L); /* reply hit */
  for (i = 1, n = 0; i < SBX_MAX_LINES; i++)
    if (cov->hit[i]) {
      lua_pushinteger(L, i);
      lua_rawseti(L, -2, ++n);
    }
  lua_setfield(L, -2, "hit");
  out->items = 1000000;
  if (wire_put_value(out, L, -1) != WIRE_OK) {
    snprintf(err, errlen, "the test's answer is too large");
    rc = SBX_ERR_RESULT;
    goto done;
  }
  rc = SBX_OK;
done:
  lua_settop(L, 0);
  luaL_unref(L, LUA_REGISTRYINDEX, cases_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, reply_ref);
  s->cov = NULL;
  free(cov);
  wire_free(&arg);
  wire_free(&res);
  return rc;
}
