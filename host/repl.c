/*
 * repl: a Lua read-eval-print loop on a trusted state, in the manner of
 * lua.c: an expression is tried as "return <line>" first; a statement
 * left incomplete (an error at <eof>) asks for more lines.
 * Uses: libedit (readline interface), vm.
 */
#include "repl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>
#include <lauxlib.h>
#include <lua.h>

#include "vm.h"

/* Next line, malloc'd (caller frees), or NULL at end of input. Piped
 * lines may be of any length. */
static char *next_line(int tty, const char *prompt) {
  char *buf = NULL;
  size_t cap = 0;
  ssize_t n;
  if (tty) return readline(prompt);
  if ((n = getline(&buf, &cap, stdin)) < 0) {
    free(buf);
    return NULL;
  }
  if (n && buf[n - 1] == '\n') buf[--n] = '\0';
  return buf;
}

static int incomplete(lua_State *L, int status) {
  size_t len;
  const char *msg;
  if (status != LUA_ERRSYNTAX) return 0;
  msg = lua_tolstring(L, -1, &len);
  return len >= 5 && strcmp(msg + len - 5, "<eof>") == 0;
}

/* Compiles code as an expression, else as statements. Leaves the chunk or
 * an error message. */
static int compile(lua_State *L, const char *code) {
  const char *ret = lua_pushfstring(L, "return %s;", code);
  int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
  lua_remove(L, -2);
  if (status == LUA_OK) return status;
  lua_pop(L, 1);
  return luaL_loadbuffer(L, code, strlen(code), "=stdin");
}

/* Prints the results with repl.show (scripts/repl.lua) or tostring. */
static void show(lua_State *L, int base) {
  int n = lua_gettop(L) - base;
  if (n <= 0) return;
  lua_getglobal(L, "show");
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 1);
    lua_getglobal(L, "print");
  }
  lua_insert(L, base + 1);
  lua_pushcfunction(L, vm_msghandler);
  lua_insert(L, base + 1);
  if (lua_pcall(L, n, 0, base + 1) != LUA_OK)
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
  lua_settop(L, base);
}

int repl_main(int with_db) {
  char err[1024];
  lua_State *L = vm_new(with_db, err, sizeof err);
  int tty = isatty(0), failed = 0;
  char *line = NULL;
  char hist[1200] = "";

  if (!L) {
    fprintf(stderr, "repl: %s\n", err);
    return 1;
  }
  /* Globals from repl.lua are installed by its own init(). */
  lua_pushcfunction(L, vm_msghandler);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "repl");
  if (lua_pcall(L, 1, 1, 1) == LUA_OK && lua_istable(L, -1)) {
    lua_getfield(L, -1, "init");
    if (lua_isfunction(L, -1) && lua_pcall(L, 0, 0, 1) != LUA_OK)
      fprintf(stderr, "repl: %s\n", lua_tostring(L, -1));
  }
  lua_settop(L, 0);

  if (tty) {
    const char *home = getenv("HOME");
    if (home) snprintf(hist, sizeof hist, "%s/.host_history", home);
    using_history();
    if (hist[0]) read_history(hist);
    printf("%s — 1+X pilot declaration host. help() lists the helpers.\n",
           LUA_RELEASE);
  }
  while ((line = next_line(tty, "> "))) {
    char *code = line; /* owned */
    int status, base;
    if (!*code) {
      free(code);
      continue;
    }
    status = compile(L, code);
    while (incomplete(L, status)) {
      char *more = next_line(tty, ">> ");
      char *joined;
      if (!more) break;
      lua_pop(L, 1);
      joined = malloc(strlen(code) + strlen(more) + 2);
      if (!joined) {
        free(more);
        break;
      }
      sprintf(joined, "%s\n%s", code, more);
      free(code);
      free(more);
      code = joined;
      status = compile(L, code);
    }
    if (tty) add_history(code);
    free(code);
    if (status != LUA_OK) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      lua_settop(L, 0);
      failed = 1;
      continue;
    }
    base = 0;
    lua_pushcfunction(L, vm_msghandler);
    lua_insert(L, 1);
    base = 1;
    if (lua_pcall(L, 0, LUA_MULTRET, 1) != LUA_OK) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      lua_settop(L, 0);
      failed = 1;
      continue;
    }
    show(L, base);
    lua_settop(L, 0);
    fflush(stdout);
  }
  if (tty && hist[0]) write_history(hist);
  lua_close(L);
  return tty ? 0 : failed;
}
