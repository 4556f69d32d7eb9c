/*
 * vm: trusted Lua states and the calls from C into scripts/.
 * Uses: Lua 5.4, lua-cjson, db, auth, json, text, rules, rules_lab, xlsx,
 * util.
 */
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>

#include "auth.h"
#include "db.h"
#include "json.h"
#include "rules.h"
#include "rules_lab.h"
#include "text.h"
#include "xlsx.h"

host_paths vm_paths;

static const char HANDLER_KEY = 'h'; /* registry: app.handle */

/* clock.now() -> seconds since the epoch (integer); clock.now_ms() */
static int l_clock_now(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)time(NULL));
  return 1;
}

static int l_clock_now_ms(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  return 1;
}

static const luaL_Reg clock_funcs[] = {
    {"now", l_clock_now}, {"now_ms", l_clock_now_ms}, {NULL, NULL}};

/* log.info(msg), log.warn(msg), log.error(msg): one line on stderr */
static int log_line(lua_State *L, const char *level) {
  const char *msg = luaL_checkstring(L, 1);
  char stamp[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(stderr, "%s %s %s\n", stamp, level, msg);
  return 0;
}
static int l_log_info(lua_State *L) {
  return log_line(L, "info");
}
static int l_log_warn(lua_State *L) {
  return log_line(L, "warn");
}
static int l_log_error(lua_State *L) {
  return log_line(L, "error");
}

static const luaL_Reg log_funcs[] = {{"info", l_log_info},
                                     {"warn", l_log_warn},
                                     {"error", l_log_error},
                                     {NULL, NULL}};

static void preload(lua_State *L, const char *name) {
  /* module table on top */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

/* Protected part of vm_new. */
static int setup(lua_State *L) {
  int with_db = (int)lua_toboolean(L, 1);
  luaL_openlibs(L);
  luaL_requiref(L, "cjson", luaopen_cjson, 0);
  lua_pop(L, 1);
  luaopen_host_auth(L);
  preload(L, "auth");
  luaopen_host_text(L);
  preload(L, "text");
  luaopen_host_json(L);
  preload(L, "json_c");
  luaopen_host_rules(L);
  preload(L, "rules");
  luaopen_host_rules_lab(L), preload(L, "lab");
  luaopen_host_xlsx(L);
  preload(L, "xlsx");
  luaL_newlib(L, clock_funcs);
  preload(L, "clock");
  luaL_newlib(L, log_funcs);
  preload(L, "log");
  lua_createtable(L, 0, 4); /* host: paths */
  lua_pushstring(L, vm_paths.root);
  lua_setfield(L, -2, "root");
  lua_pushstring(L, vm_paths.db);
  lua_setfield(L, -2, "db_path");
  lua_pushstring(L, vm_paths.rules);
  lua_setfield(L, -2, "rules_dir");
  lua_pushstring(L, vm_paths.web);
  lua_setfield(L, -2, "web_dir");
  preload(L, "host");
  if (with_db) {
    db_push_module(L, vm_paths.db);
    preload(L, "db");
  }
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/scripts/?.lua", vm_paths.root);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  return 0;
}

lua_State *vm_new(int with_db, char *err, size_t errlen) {
  lua_State *L = luaL_newstate();
  if (!L) {
    snprintf(err, errlen, "cannot create a Lua state");
    return NULL;
  }
  lua_pushcfunction(L, vm_msghandler);
  lua_pushcfunction(L, setup);
  lua_pushboolean(L, with_db);
  if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  lua_settop(L, 0);
  /* generational: a request's garbage dies young, and the modules live as
   * long as the state; measured 146 -> 137 MiB at 64 connections over 1M
   * declarations (tests/bench/scale.sh), no slower */
  lua_gc(L, LUA_GCGEN, 0, 0);
  return L;
}

/* Loads app.handle into the registry on first use. */
static int load_handler(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "app");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "handle");
  luaL_checktype(L, -1, LUA_TFUNCTION);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &HANDLER_KEY);
  return 0;
}

static void fail_500(lua_State *L, vm_response *resp) {
  static const char body[] =
      "{\"error\":{\"code\":\"internal\",\"message\":\"服务器内部错误\"}}";
  fprintf(stderr, "script error: %s\n", lua_tostring(L, -1));
  resp->status = 500;
  resp->body = body;
  resp->body_len = sizeof body - 1;
  resp->content_type = "application/json; charset=utf-8";
  resp->route = "error";
  resp->reuse = 0;
  resp->nheaders = 0;
}

int vm_handle(lua_State *L, const vm_request *req, vm_response *resp) {
  int i, n, rc;
  lua_settop(L, 0);
  lua_pushcfunction(L, vm_msghandler); /* 1: msgh */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &HANDLER_KEY) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_pushcfunction(L, load_handler);
    if (lua_pcall(L, 0, 0, 1) != LUA_OK) {
      db_request_end(L); /* a read the host began (db_request_version) */
      fail_500(L, resp);
      return 0;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &HANDLER_KEY);
  }                         /* 2: handle */
  lua_createtable(L, 0, 8); /* 3: req */
  lua_pushstring(L, req->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, req->path);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, req->query ? req->query : "");
  lua_setfield(L, -2, "query");
  lua_pushstring(L, req->remote ? req->remote : "");
  lua_setfield(L, -2, "remote");
  lua_pushlstring(L, req->body ? req->body : "", req->body_len);
  lua_setfield(L, -2, "body");
  if (req->upload_name) {
    lua_pushstring(L, req->upload_name);
    lua_setfield(L, -2, "upload_name");
  }
  lua_createtable(L, 0, req->nheaders);
  for (i = 0; i < req->nheaders; i++) {
    luaL_Buffer b;
    const char *p;
    luaL_buffinit(L, &b);
    for (p = req->header_names[i]; *p; p++)
      luaL_addchar(&b, (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p));
    luaL_pushresult(&b);
    lua_pushstring(L, req->header_values[i]);
    lua_settable(L, -3);
  }
  lua_setfield(L, -2, "headers");
  db_request_begin(L);
  rc = lua_pcall(L, 1, 6, 1);
  if (db_request_end(L) && rc == LUA_OK)
    fprintf(stderr, "script left a transaction open: rolled back\n");
  if (rc != LUA_OK) {
    fail_500(L, resp);
    return 0;
  }
  /* 2: status 3: body 4: content type 5: route 6: headers 7: reuse */
  {
    /* no raising here: we are outside any protected call */
    int isnum = 0;
    lua_Integer st = lua_tointegerx(L, 2, &isnum);
    resp->status = !isnum                   ? (lua_isnil(L, 2) ? 200 : 500)
                   : (st < 100 || st > 599) ? 500
                                            : (int)st;
  }
  resp->body = lua_type(L, 3) == LUA_TSTRING
                   ? lua_tolstring(L, 3, &resp->body_len)
                   : NULL;
  if (!resp->body) {
    resp->body = "";
    resp->body_len = 0;
  }
  resp->content_type = lua_type(L, 4) == LUA_TSTRING
                           ? lua_tostring(L, 4)
                           : "application/json; charset=utf-8";
  resp->route = lua_type(L, 5) == LUA_TSTRING ? lua_tostring(L, 5) : "unknown";
  resp->reuse = lua_toboolean(L, 7);
  resp->nheaders = 0;
  if (lua_istable(L, 6)) {
    n = (int)lua_rawlen(L, 6);
    for (i = 1; i <= n && resp->nheaders < VM_MAX_HEADERS; i++) {
      if (lua_rawgeti(L, 6, i) == LUA_TTABLE) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        /* strings only: a number converted in place would be a copy
         * that dies with the pop below */
        if (lua_type(L, -1) == LUA_TSTRING && lua_type(L, -2) == LUA_TSTRING) {
          resp->header_names[resp->nheaders] = lua_tostring(L, -2);
          resp->header_values[resp->nheaders] = lua_tostring(L, -1);
          resp->nheaders++;
        }
        lua_pop(L, 2); /* strings stay alive in 6 */
      }
      lua_pop(L, 1);
    }
  }
  return 0;
}

void vm_request_done(lua_State *L) {
  lua_settop(L, 0);
}

/* Protected: require(module)[func](argv...) */
static int run_protected(lua_State *L) {
  const char *module = lua_tostring(L, 1), *func = lua_tostring(L, 2);
  int argc = (int)lua_tointeger(L, 3), i;
  char **argv = lua_touserdata(L, 4);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  lua_call(L, 1, 1);
  if (lua_getfield(L, -1, func) != LUA_TFUNCTION)
    return luaL_error(L, "%s.%s is not a function", module, func);
  lua_createtable(L, argc, 0);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_call(L, 1, 1);
  return 1;
}

int vm_run(lua_State *L, const char *module, const char *func, int argc,
           char **argv) {
  int rc;
  lua_settop(L, 0);
  lua_pushcfunction(L, vm_msghandler);
  lua_pushcfunction(L, run_protected);
  lua_pushstring(L, module);
  lua_pushstring(L, func);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  if (lua_pcall(L, 4, 1, 1) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_settop(L, 0);
    return 1;
  }
  rc = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_settop(L, 0);
  return rc;
}
