/* Runs the Lua unit tests (tests/unit/NAME_test.lua) on a trusted state:
 * each file returns a table of test functions; a raise is a failure. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "lua_helpers.h"
#include "unit.h"

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
