/*
 * rules_lua: the `rules` module that scripts/ call (luaopen_host_rules,
 * rules.h): calls of a set's entries in an evaluator, with a worker's
 * memo; sets from Lua (candidates and installs); pinning a request to
 * one set; the status.
 * Uses: rules_int, rules_src, rules_memo, evaluator, evaluator_pool,
 * wire, Lua 5.4.
 */
#include "rules.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "evaluator.h"
#include "evaluator_pool.h"
#include "rules_int.h"
#include "rules_memo.h"
#include "rules_src.h"
#include "wire.h"

#define RULES_ARG_MAX (1u << 20) /* bytes of an encoded argument */

/* A state's buffers for requests and replies, freed with the state. */
typedef struct call_bufs {
  wire_buf req, reply, load;
  rules_src *pinned; /* the set this state's calls use, referenced; NULL:
                        the set in force at each call */
} call_bufs;

static const char *const BUFS_MT = "host.rules.bufs";

static int l_bufs_gc(lua_State *L) {
  call_bufs *b = luaL_checkudata(L, 1, BUFS_MT);
  wire_free(&b->req);
  wire_free(&b->reply);
  wire_free(&b->load);
  rules_src_release(b->pinned);
  b->pinned = NULL;
  return 0;
}

/* This state's buffers (made on first use: may raise a memory error).
 * Stack unchanged. */
static call_bufs *state_bufs(lua_State *L) {
  static const char BUFS_KEY = 'b';
  call_bufs *b;
  int top = lua_gettop(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &BUFS_KEY);
  b = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (b) return b;
  b = lua_newuserdatauv(L, sizeof *b, 0);
  wire_init(&b->req, RULES_ARG_MAX);
  wire_init(&b->reply, EV_REPLY_MAX);
  wire_init(&b->load, EV_REQUEST_MAX);
  b->pinned = NULL;
  luaL_setmetatable(L, BUFS_MT);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &BUFS_KEY);
  assert(lua_gettop(L) == top);
  return b;
}

/* The set a call of this state uses, referenced (caller releases). */
static rules_src *src_for_call(call_bufs *b) {
  if (b->pinned) {
    rules_src_retain(b->pinned);
    return b->pinned;
  }
  return rules_in_force();
}

/* ev_req's load: the 'L' frame of the set ud, compiled only (no file's
 * top level runs: a call's evaluator only compiles). */
static int load_frame(void *ud, wire_buf *frame) {
  wire_reset(frame, EV_REQUEST_MAX, -1);
  return rules_src_put_load(frame, ud, 0) == WIRE_OK ? 0 : -1;
}

/* Sends the call in b->req, loading s there first if the evaluator lacks
 * it. Pure C: nothing here raises. Returns EV_OK with the reply in
 * b->reply, or an EV_ error with a message. */
static int call_evaluator(call_bufs *b, rules_src *s, const char *tenant,
                          char *err, size_t errlen) {
  ev_req r = {.tenant = tenant,
              .req = &b->req,
              .reply = &b->reply,
              .deadline_ms = ev_deadline_ms(),
              .load = load_frame,
              .ud = s,
              .frame = &b->load};
  return ev_request(&r, err, errlen);
}

/* rules.call(province, name, arg) -> result | nil, message
 * Runs set[name](arg) of the province (or the default set) in an
 * evaluator, in a fresh environment, under the deadline. A non-function
 * entry is returned as a value. */
static int l_rules_call(lua_State *L) {
  const char *prov = luaL_optstring(L, 1, "default");
  const char *name = luaL_checkstring(L, 2);
  int hasarg = !lua_isnoneornil(L, 3), rc = WIRE_OK;
  call_bufs *b = state_bufs(L);
  rules_src *s; /* referenced: released before anything can raise */
  char err[4096];
  wire_reader r;
  int top = lua_gettop(L);

  if (strlen(prov) >= 16 || strlen(name) >= 64)
    return luaL_error(L, "rules: bad province or entry name");
  if (!(s = src_for_call(b)))
    return luaL_error(L, "rules: no rule set is loaded");
  if (rules_src_broken(s, prov)) {
    snprintf(err, sizeof err, "%s", rules_src_broken(s, prov));
    rules_src_release(s);
    rules_count_failure();
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  wire_reset(&b->req, RULES_ARG_MAX, 200000);
  rc = wire_frame_begin(&b->req);
  if (rc == WIRE_OK) rc = wire_put_u8(&b->req, 'C');
  if (rc == WIRE_OK) rc = wire_put_str(&b->req, s->version, strlen(s->version));
  if (rc == WIRE_OK) rc = wire_put_str(&b->req, prov, strlen(prov));
  if (rc == WIRE_OK) rc = wire_put_str(&b->req, name, strlen(name));
  if (rc == WIRE_OK) rc = wire_put_u8(&b->req, hasarg ? 1 : 0);
  if (rc == WIRE_OK && hasarg) rc = wire_put_value(&b->req, L, 3);
  if (rc != WIRE_OK) {
    rules_src_release(s);
    return luaL_error(L, "rules: argument too large or too deep");
  }
  wire_frame_end(&b->req);
  if (rules_memo_get(L, &b->req)) {
    rules_src_release(s);
    assert(lua_gettop(L) == top + 1);
    return 1;
  }
  rc = call_evaluator(b, s, prov, err, sizeof err);
  rules_src_release(s);
  if (rc == EV_OK && b->reply.len >= 1 && b->reply.data[0] == 'O') {
    r.p = b->reply.data + 1;
    r.end = b->reply.data + b->reply.len;
    if (wire_get_value(&r, L) == WIRE_OK) {
      rules_memo_put(L, &b->req, &b->reply);
      assert(lua_gettop(L) == top + 1);
      return 1;
    }
    snprintf(err, sizeof err, "rule result malformed");
  } else if (rc == EV_OK && b->reply.len >= 1 && b->reply.data[0] == 'E') {
    ev_reply_error(&b->reply, err, sizeof err);
  } else if (rc == EV_OK) {
    snprintf(err, sizeof err, "rule evaluator answered out of turn");
  }
  rules_count_failure();
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}

/* ---- sets from Lua ---------------------------------------------------- */

static const char *const SET_MT = "host.rules.set";

/* Reads {{name, text, version_id [, chunkname]}...} at idx (the defaults
 * first) into a new set. Raises on a malformed table. */
static rules_src *src_from_lua(lua_State *L, int idx) {
  rules_src *s;
  lua_Integer i, n;
  luaL_checktype(L, idx, LUA_TTABLE);
  n = luaL_len(L, idx);
  if (n < 1 || n > RULES_MAX_FILES)
    luaL_error(L, "rules: a set has 1 to %d files", RULES_MAX_FILES);
  if (!(s = rules_src_new())) luaL_error(L, "rules: out of memory");
  for (i = 1; i <= n; i++) {
    const char *name, *text, *chunk;
    size_t len;
    char stem[16], file[24];
    lua_geti(L, idx, i);
    if (!lua_istable(L, -1)) goto bad;
    lua_getfield(L, -1, "name");
    lua_getfield(L, -2, "text");
    lua_getfield(L, -3, "version_id");
    lua_getfield(L, -4, "chunkname");
    name = lua_tostring(L, -4);
    text = lua_tolstring(L, -3, &len);
    chunk = lua_tostring(L, -1);
    snprintf(file, sizeof file, "%s.lua", name ? name : "");
    if (!name || !text || len > RULES_MAX_SOURCE || strlen(name) >= 16 ||
        !rules_file_name(file, stem, sizeof stem) ||
        (i == 1) != (strcmp(name, "default") == 0))
      goto bad;
    if (rules_src_add_text(s, name, chunk ? chunk : file, text, len,
                           (long)lua_tointeger(L, -2)) != RULES_OK) {
      rules_src_release(s);
      luaL_error(L, "rules: out of memory");
    }
    lua_pop(L, 5);
  }
  rules_src_seal(s);
  assert(s->nfiles == n);
  return s;
bad:
  rules_src_release(s);
  luaL_error(L,
             "rules: file %d must be {name = \"default\" first, then "
             "two-digit province codes, text = source}",
             (int)i);
  return NULL;
}

/* Pushes s as a set handle (taking over the caller's reference). */
static void push_set(lua_State *L, rules_src *s) {
  rules_src **u = lua_newuserdatauv(L, sizeof *u, 0);
  *u = s;
  luaL_setmetatable(L, SET_MT);
}

static int l_set_gc(lua_State *L) {
  rules_src **u = luaL_checkudata(L, 1, SET_MT);
  rules_src_release(*u);
  *u = NULL;
  return 0;
}

/* Pushes the broken provinces of s: {{province, error}...}. */
static void push_broken(lua_State *L, const rules_src *s) {
  int i, top = lua_gettop(L);
  lua_createtable(L, s->nbroken, 0);
  for (i = 0; i < s->nbroken; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, s->broken[i].name);
    lua_setfield(L, -2, "province");
    lua_pushstring(L, s->broken[i].err);
    lua_setfield(L, -2, "error");
    lua_rawseti(L, -2, i + 1);
  }
  assert(lua_gettop(L) == top + 1);
}

/* rules.load(files) -> set, broken | nil, message
 * Loads and probes a set in an evaluator, without putting it in force:
 * a candidate to call with rules.using. broken lists the provinces whose
 * source did not load (their calls fail). */
static int l_rules_load(lua_State *L) {
  rules_src *s = src_from_lua(L, 1);
  char err[1024];
  if (rules_probe(s, err, sizeof err) != RULES_OK) {
    rules_src_release(s);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  push_set(L, s);
  push_broken(L, s);
  return 2;
}

/* rules.install(files [, generation]) -> true, broken | nil, message
 * Loads and probes the set, then makes it the set in force: calls after
 * this return use it; a state pinned to the old set keeps it until it
 * unpins (a request never sees two sets). Installs are serialised. */
static int l_rules_install(lua_State *L) {
  /* the generation first: a raise there would leak the set */
  long generation = (long)luaL_optinteger(L, 2, 0);
  rules_src *s = src_from_lua(L, 1); /* the caller's reference: ours */
  char err[1024];
  if (rules_install(s, generation, err, sizeof err) != RULES_OK) {
    rules_src_release(s);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  push_broken(L, s);
  rules_src_release(s);
  return 2;
}

/* rules.stored() -> the stored generation this process last installed or
 * refused (0: none): rules_sync installs a newer one it finds. */
static int l_rules_stored(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)rules_stored_generation());
  return 1;
}

/* rules.pin([set]) makes this state's calls use the set in force now (or
 * set, a rules.load handle) until rules.unpin(): a request decides under
 * one set from start to end. */
static int l_rules_pin(lua_State *L) {
  call_bufs *b = state_bufs(L);
  rules_src *s = NULL;
  if (!lua_isnoneornil(L, 1)) {
    rules_src **u = luaL_checkudata(L, 1, SET_MT);
    if (!(s = *u)) return luaL_error(L, "rules: the set was released");
    rules_src_retain(s);
  } else {
    s = rules_in_force();
  }
  rules_src_release(b->pinned);
  b->pinned = s; /* the reference taken above */
  return 0;
}

static int l_rules_unpin(lua_State *L) {
  call_bufs *b = state_bufs(L);
  rules_src_release(b->pinned);
  b->pinned = NULL;
  return 0;
}

/* rules.using(set, fn, ...) -> what fn returns
 * Calls fn with this state's rule calls on set (a rules.load handle),
 * then puts back what was pinned before, also when fn raises. */
static int l_rules_using(lua_State *L) {
  rules_src **u = luaL_checkudata(L, 1, SET_MT);
  call_bufs *b = state_bufs(L);
  rules_src *before = b->pinned;
  int rc, n;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!*u) return luaL_error(L, "rules: the set was released");
  rules_src_retain(*u);
  b->pinned = *u; /* the reference taken above */
  lua_remove(L, 1);
  rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  rules_src_release(b->pinned);
  b->pinned = before;
  if (rc != LUA_OK) return lua_error(L);
  n = lua_gettop(L);
  return n;
}

/* rules.versions([set]) -> {name = version_id} of set, or of the set this
 * state's calls use now. */
static int l_rules_versions(lua_State *L) {
  rules_src **u = lua_isnoneornil(L, 1) ? NULL : luaL_checkudata(L, 1, SET_MT);
  call_bufs *b = state_bufs(L);
  rules_src *s = u ? *u : src_for_call(b);
  int i;
  if (!s) return luaL_error(L, "rules: no rule set is loaded");
  if (u) rules_src_retain(s);
  lua_createtable(L, 0, s->nfiles);
  for (i = 0; i < s->nfiles; i++) {
    lua_pushinteger(L, s->files[i].version_id);
    lua_setfield(L, -2, s->files[i].name);
  }
  rules_src_release(s);
  return 1;
}

/* rules.version() -> the hex version of the set this state's calls use */
static int l_rules_version(lua_State *L) {
  rules_src *s = src_for_call(state_bufs(L));
  if (s)
    lua_pushstring(L, s->version);
  else
    lua_pushnil(L);
  rules_src_release(s);
  return 1;
}

/* rules.status() -> {version, generation, loaded_at, last_error,
 *   last_error_province, files = {{province, path, version_id}...},
 *   broken = {{province, error}...}, failures, evaluators, deadline_ms,
 *   evaluator_kills}. path is the file's name in the rules directory,
 *   never a server path. */
static int l_rules_status(lua_State *L) {
  rules_src *s = rules_in_force();
  char error[1024], file[16];
  long generation = rules_last_error(error, sizeof error, file, sizeof file);
  int i;
  /* s is referenced: reading it needs no lock; building may raise, so
   * the reference is held by a handle on the stack meanwhile */
  if (s) push_set(L, s);
  lua_newtable(L);
  if (s) {
    lua_pushstring(L, s->version);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, s->loaded_at);
    lua_setfield(L, -2, "loaded_at");
    lua_createtable(L, s->nfiles, 0);
    for (i = 0; i < s->nfiles; i++) {
      lua_createtable(L, 0, 3);
      lua_pushstring(L, s->files[i].name);
      lua_setfield(L, -2, "province");
      lua_pushstring(L, s->files[i].chunkname);
      lua_setfield(L, -2, "path");
      lua_pushinteger(L, s->files[i].version_id);
      lua_setfield(L, -2, "version_id");
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "files");
    push_broken(L, s);
    lua_setfield(L, -2, "broken");
  }
  if (error[0]) {
    lua_pushstring(L, error);
    lua_setfield(L, -2, "last_error");
    lua_pushstring(L, file);
    lua_setfield(L, -2, "last_error_province");
  }
  lua_pushinteger(L, generation);
  lua_setfield(L, -2, "generation");
  lua_pushinteger(L, rules_failures());
  lua_setfield(L, -2, "failures");
  lua_pushinteger(L, ev_pool_size());
  lua_setfield(L, -2, "evaluators");
  lua_pushinteger(L, ev_deadline_ms());
  lua_setfield(L, -2, "deadline_ms");
  lua_pushinteger(L, ev_kills());
  lua_setfield(L, -2, "evaluator_kills");
  return 1;
}

/* rules.reload() -> true | false, message: reads rules_init's directory
 * again (the command line and the REPL; the server's rules are stored
 * versions, see scripts/rules_store.lua). */
static int l_rules_reload(lua_State *L) {
  char err[1024];
  if (rules_reload(err, sizeof err) != RULES_OK) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg rules_funcs[] = {
    {"call", l_rules_call},
    {"load", l_rules_load},
    {"install", l_rules_install},
    {"stored", l_rules_stored},
    {"pin", l_rules_pin},
    {"unpin", l_rules_unpin},
    {"using", l_rules_using},
    {"versions", l_rules_versions},
    {"version", l_rules_version},
    {"status", l_rules_status},
    {"reload", l_rules_reload},
    {NULL, NULL},
};

int luaopen_host_rules(lua_State *L) {
  if (luaL_newmetatable(L, BUFS_MT)) {
    lua_pushcfunction(L, l_bufs_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, SET_MT)) {
    lua_pushcfunction(L, l_set_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  luaL_newlib(L, rules_funcs);
  return 1;
}
