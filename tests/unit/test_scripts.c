/* Runs the Lua unit tests (tests/unit/NAME_test.lua) on a trusted state:
 * each file returns a table of test functions; a raise is a failure.
 * Each state can also `require "unit_db"` (below): the services' tests open
 * a real database with it (tests/unit/svc_fixture.lua). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lua_helpers.h"
#include "unit.h"

/* unit_db.open(path) -> the `db` module on the database at path, with the
 * migrations of schema/ applied first (as `host migrate` does). The
 * connection belongs to the state; a later open replaces it. Raises when
 * the file cannot be opened or a migration fails. */
static int l_unit_db_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char dir[1200], err[1024];
  sqlite3 *db = NULL;
  int rc;
  if (db_open(path, &db, err, sizeof err) != DB_OK)
    return luaL_error(L, "unit_db.open: %s", err);
  snprintf(dir, sizeof dir, "%s/schema", vm_paths.root);
  rc = db_migrate(db, dir, NULL, err, sizeof err);
  sqlite3_close_v2(db);
  if (rc != DB_OK) return luaL_error(L, "unit_db.open: %s", err);
  return db_push_module(L, path); /* db */
}

static int luaopen_unit_db(lua_State *L) {
  static const luaL_Reg funcs[] = {{"open", l_unit_db_open}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}

UNIT_TEST(lua_unit_tests) {
  char err[512], path[1200];
  DIR *d = opendir("tests/unit");
  struct dirent *e;
  int files = 0;
  CHECK(d != NULL);
  if (!d) return;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    lua_State *L;
    if (n < 10 || strcmp(e->d_name + n - 9, "_test.lua") != 0) continue;
    files++;
    L = vm_new(0, err, sizeof err);
    if (!L) {
      printf("  %s: %s\n", e->d_name, err);
      *unit_failed_ = 1;
      continue;
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_unit_db);
    lua_setfield(L, -2, "unit_db");
    lua_pop(L, 1); /* preload */
    snprintf(path, sizeof path, "tests/unit/%s", e->d_name);
    lua_pushcfunction(L, vm_msghandler);
    if (luaL_loadfile(L, path) != LUA_OK || lua_pcall(L, 0, 1, 1) != LUA_OK ||
        !lua_istable(L, -1)) {
      printf("  %s: %s\n", path, lua_tostring(L, -1));
      *unit_failed_ = 1;
      lua_close(L);
      continue;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      const char *name = lua_tostring(L, -2);
      lua_pushcfunction(L, vm_msghandler);
      lua_insert(L, -2);
      if (lua_pcall(L, 0, 0, -2) != LUA_OK) {
        printf("  %s %s: %s\n", path, name, lua_tostring(L, -1));
        *unit_failed_ = 1;
        lua_pop(L, 1);
      }
      lua_pop(L, 1); /* msgh */
    }
    lua_close(L);
  }
  closedir(d);
  CHECK(files > 0);
}
