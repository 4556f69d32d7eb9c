/*
 * sandbox: a loaded rule set and its calls: compiling the files, building
 * a province's set afresh (default.lua, then the province's file over a
 * read-only base), probing it, calling one entry under the call's limits,
 * and forgetting a built set a call changed, from the parts in the other
 * sandbox_*.c files (sandbox.h lists them).
 * Uses: Lua 5.4, wire, util, sandbox_contract, sandbox_env, sandbox_guard,
 * sandbox_limits, sandbox_lib, sandbox_snap.
 */
#include "sandbox.h"

#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "sandbox_contract.h"
#include "sandbox_env.h"
#include "sandbox_guard.h"
#include "sandbox_int.h"
#include "sandbox_lib.h"
#include "sandbox_limits.h"
#include "sandbox_snap.h"
#include "util.h"

#define SBX_GC_AFTER (8u << 20) /* collect after a call above this */

static const char CODE_KEY = 'c';  /* registry: name -> wrapped chunk */
static const char BUILT_KEY = 'b'; /* registry: name -> {set, base copy} */
static const char TEXT_KEY = 't';  /* registry: name -> source text */

static const char *const REQUIRED[] = {"check_plan",        "check_profile",
                                       "check_declaration", "review_chain",
                                       "deadline",          NULL};

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
  int top = lua_gettop(L);
  snprintf(name, sizeof name, "@%s", f->chunkname);
  if (luaL_loadbufferx(L, f->text, f->len, name, "t") != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    assert(lua_gettop(L) == top);
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
    assert(lua_gettop(L) == top);
    return SBX_ERR_LOAD;
  }
  lua_remove(L, -2); /* the text */
  assert(lua_gettop(L) == top + 1);
  return SBX_OK;
}

int sbx_set_index(const sbx *s, const char *name) {
  int i;
  for (i = 0; i < s->nfiles; i++)
    if (strcmp(s->names[i], name) == 0) return i;
  return 0;
}

/* ---- building a set, inside a protected call -------------------------- */

/* Runs the named file in a fresh env with nargs arguments from the top;
 * leaves its result, which must be a table. Raises on error. */
static void run_file(lua_State *L, const char *name, int nargs) {
  int top = lua_gettop(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &CODE_KEY);
  lua_getfield(L, -1, name); /* args... code wrapper */
  lua_remove(L, -2);
  sbx_push_env(L);
  lua_call(L, 1, 1); /* args... closure */
  lua_insert(L, -1 - nargs);
  lua_call(L, nargs, 1);
  if (!lua_istable(L, -1))
    luaL_error(L, "%s.lua: must return a table of rules, returned %s", name,
               luaL_typename(L, -1));
  assert(lua_gettop(L) == top - nargs + 1); /* the args became the result */
}

int sbx_has_file(const sbx *s, const char *province) {
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
          (i == 0 ||
           !(isalnum((unsigned char)text[i - 1]) || text[i - 1] == '_')) &&
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
  sbx_push_entries(L); /* t known */
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
      sbx *s = sbx_of(L);
      luaL_error(L, "%s:%d: unknown entry '%s' (规则集没有 '%s' 这一条目)",
                 s->chunks[sbx_set_index(s, name)] + 1, line, k, k);
    }
  }
  lua_pop(L, 1);
  assert(lua_gettop(L) == t);
}

/* Pushes the province's set, built afresh, as {set, base copy}. One run
 * of default.lua is the set M; the province's file gets a read-only copy
 * of M's entries as base, and what it returns is merged over M. The
 * default functions close over M, so base.check_profile (the default's)
 * sees the province's profile_required. The copy is kept beside the set
 * so that a call changing what only base reaches is seen. */
static void build_set(lua_State *L, sbx *s, const char *province) {
  int m, copy, top = lua_gettop(L);
  lua_createtable(L, 2, 0);  /* root */
  run_file(L, "default", 0); /* root M */
  m = lua_gettop(L);
  if (s->strict_entries) check_entries(L, "default", 0);
  lua_pushvalue(L, m);
  lua_rawseti(L, m - 1, 1);
  if (!sbx_has_file(s, province)) {
    lua_pop(L, 1);
    assert(lua_gettop(L) == top + 1);
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
  sbx_readonly(L, "base");  /* root M copy base */
  run_file(L, province, 1); /* root M copy over */
  if (s->strict_entries) check_entries(L, province, copy);
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* root M copy over k v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, m);
  }
  lua_settop(L, m - 1); /* root */
  assert(lua_gettop(L) == top + 1);
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
  sbx_snap *snap = &a->s->snaps[sbx_set_index(a->s, a->province)];
  int k;
  lua_settop(L, 0);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &BUILT_KEY);
  lua_getfield(L, 1, a->province); /* built root|nil */
  lua_remove(L, 1);
  if (!snap->valid || !lua_istable(L, 1)) {
    lua_settop(L, 0);
    build_set(L, a->s, a->province); /* root */
    /* keep it for the next call, as it is now */
    snap->valid = sbx_snap_take(&a->s->walker, L, snap);
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
  sbx_lib_bind(L, 1);
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
      sbx_ctx_wrap(L); /* set fn proxy */
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
  assert(sbx_of(L) == s);
  lua_settop(L, 0);
  lua_pushcfunction(L, util_msghandler);
  lua_pushcfunction(L, do_call);
  lua_pushlightuserdata(L, a);
  s->cur = sbx_set_index(s, a->province);
  sbx_arm(s);
  rc = lua_pcall(L, 1, 1, 1);
  sbx_disarm(s);
  assert(lua_gettop(L) == 2); /* the handler, then the result or error */
  sbx_lib_bind(L, 0);
  if (rc == LUA_ERRMEM)
    snprintf(err, errlen, "rule exceeded its memory limit");
  else if (rc != LUA_OK)
    snprintf(err, errlen, "%s",
             lua_isstring(L, -1) ? lua_tostring(L, -1) : "rule failed");
  return rc == LUA_OK ? SBX_OK : SBX_ERR_CALL;
}

/* A call's end: nothing on the stack, nothing armed, no set bound. */
static void after_call(sbx *s) {
  assert(s->mem_limit == SIZE_MAX && lua_gethook(s->L) == NULL);
  lua_settop(s->L, 0);
  if (s->mem_used > SBX_GC_AFTER) lua_gc(s->L, LUA_GCCOLLECT);
}

/* Forgets the built set of province unless it is as it was built. */
static void check_built(sbx *s, const char *province) {
  sbx_snap *snap = &s->snaps[sbx_set_index(s, province)];
  lua_State *L = s->L;
  int same, top = lua_gettop(L);
  if (!snap->valid) return;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &BUILT_KEY);
  lua_getfield(L, -1, province);
  same = lua_istable(L, -1) && sbx_snap_take(&s->walker, L, &s->scratch) &&
         sbx_snap_equal(&s->scratch, snap);
  lua_pop(L, 1);
  if (!same) {
    snap->valid = 0;
    lua_pushnil(L);
    lua_setfield(L, -2, province);
  }
  lua_pop(L, 1);
  assert(lua_gettop(L) == top);
}

int sbx_call(sbx *s, const char *province, const char *entry, wire_reader *arg,
             wire_buf *out, char *err, size_t errlen) {
  call_args a = {s, province, entry, arg, 0};
  int rc, w;
  if (!sbx_has_file(s, province)) a.province = "default";
  if ((rc = protected_call(s, &a, err, errlen)) != SBX_OK) {
    s->snaps[sbx_set_index(s, a.province)].valid = 0; /* rebuilt next time */
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
  s->mem_limit = SIZE_MAX; /* capped inside calls only */
  s->strict_entries = probe == SBX_PROBE_STRICT;
  if (!(L = lua_newstate(sbx_alloc, s))) goto nomem;
  s->L = L;
  *(sbx **)lua_getextraspace(L) = s; /* sbx_of(L) */
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
  lua_pop(L, 6);
  /* The string metatable reaches the real string table: guard it there. */
  sbx_guard_libraries(L);
  lua_pushcfunction(L, sbx_contract_load);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    snprintf(err, errlen, "rules: the contract does not load: %s",
             lua_tostring(L, -1));
    rc = SBX_ERR_SHAPE;
    goto fail;
  }
  sbx_env_init(L);
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
    lua_setfield(L, -2, files[i].name); /* code */
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
           : strstr(err, "unknown entry '")                  ? SBX_ERR_ENTRY
           : strstr(err, "attempt to read undefined global") ? SBX_ERR_NAME
                                                             : SBX_ERR_LOAD;
      goto fail;
    }
    after_call(s);
  }
  lua_gc(L, LUA_GCCOLLECT);
  assert(s->nfiles == n && lua_gettop(L) == 0);
  *out = s; /* the caller's, for sbx_free */
  return SBX_OK;
nomem:
  snprintf(err, errlen, "rules: out of memory");
fail:
  sbx_free(s);
  return rc;
}
