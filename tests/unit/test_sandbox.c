/* The rules sandbox: each denied name, runaway loops (also inside pcall),
 * memory bombs, shared-table tricks, and reloads that must not replace a
 * working set with a broken one, and candidate sets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua_helpers.h"
#include "rules.h"
#include "unit.h"

static char dir[256];

static const char *DEFAULT_LUA =
    "local R = {}\n"
    "local function none() return {} end\n"
    "R.check_plan, R.check_profile, R.check_declaration = none, none, none\n"

    "function R.review_chain() return {'province'} end\n"
    "function R.deadline() return {open = true} end\n"
    "local hoard = {}\n"
    "local probes = {\n"
    "  io = function() return io.open('/etc/passwd') end,\n"
    "  os_execute = function() return os.execute('true') end,\n"
    "  os_getenv = function() return os.getenv('HOME') end,\n"
    "  os_remove = function() return os.remove('/tmp/x') end,\n"
    "  load = function() return load('return 1')() end,\n"
    "  loadstring = function() return loadstring('return 1') end,\n"
    "  require = function() return require('os') end,\n"
    "  dofile = function() return dofile('/etc/passwd') end,\n"
    "  loadfile = function() return loadfile('/etc/passwd') end,\n"
    "  debug = function() return debug.getinfo(1) end,\n"
    "  string_dump = function() return string.dump(function() end) end,\n"
    "  string_dump_meta = function() return ('').dump(function() end) end,\n"
    "  collectgarbage = function() return collectgarbage('count') end,\n"
    "  setmetatable = function() return setmetatable({}, {}) end,\n"
    "  getmetatable = function() return getmetatable('').__index end,\n"
    "  rawset = function() return rawset(_G, 'x', 1) end,\n"
    "  rawget = function() return rawget(_G, 'x') end,\n"
    "  package = function() return package.loaded end,\n"
    "  coroutine = function() return coroutine.create(print) end,\n"
    "  print = function() return print('x') end,\n"
    "  upper = function() return ('abc'):upper() .. string.upper('d') end,\n"
    "  time = function() return type(os.time()) .. type(os.date('%Y')) end,\n"
    "  loop = function() while true do end end,\n"
    "  loop_pcall = function() while true do pcall(function() while true do "
    "end end) end end,\n"
    "  memory = function() local t = {} for i = 1, 1e9 do t[i] = "
    "string.rep('x', 4096) .. i end end,\n"
    "  memory_rep = function() return #string.rep('x', 1 << 30) end,\n"
    "  memory_pcall = function() while true do pcall(string.rep, 'x', 1 << 30)"
    " end end,\n"
    "  ok = function(a) return a.x + 1 end,\n"
    "  backtrack = function() return ('a'):rep(40):find(('a*'):rep(40) .. "
    "'b') end,\n"
    "  backtrack_fn = function() return string.match(('a'):rep(40), "
    "('a*'):rep(40) .. 'b') end,\n"
    "  rep_empty = function() return #string.rep('', 1e15) end,\n"
    "  move = function() return table.move({}, 1, 1e13, 1, {}) end,\n"
    "  small_match = function() return ('440301'):match('^%d%d%d%d%d%dK?$') "
    "end,\n"
    "  hoard = function() hoard[#hoard + 1] = string.rep('x', 1 << 20) .. "
    "string.rep('y', 1 << 20) return #hoard end,\n"
    "  deep = function() local t = {} local c = t for i = 1, 100 do c.x = {} "
    "c = c.x end return t end,\n"
    "}\n"
    "function R.probe(a) return probes[a.name](a) end\n"
    "return R\n";

/* Province 99 clobbers what it can reach of the libraries. */
static const char *P99_LUA = "local base = ...\n"
                             "return { clobber = function()\n"
                             "  pcall(function() base.review_chain = nil end)\n"
                             "  string.upper = function() return 'pwned' end\n"
                             "  return 'done' end }\n";

static void write_file(const char *name, const char *text) {
  char path[512];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "w");
  if (!f) abort();
  fputs(text, f);
  fclose(f);
}

static lua_State *setup(void) {
  char err[1024];
  static int done;
  if (!done) {
    snprintf(dir, sizeof dir, "/tmp/host-sandbox-XXXXXX");
    if (!mkdtemp(dir)) abort();
    write_file("default.lua", DEFAULT_LUA);
    write_file("99.lua", P99_LUA);
    if (rules_init(dir, err, sizeof err) != RULES_OK) {
      printf("rules_init: %s\n", err);
      abort();
    }
    done = 1;
  }
  return vm_new(0, err, sizeof err);
}

static const char *probe(lua_State *L, const char *name) {
  char code[256];
  snprintf(code, sizeof code,
           "local r, e = require('rules').call('default', 'probe', {name = "
           "'%s', x = 41}) if r == nil then return 'FAILED: ' .. "
           "tostring(e) end return tostring(r)",
           name);
  return lua_run(L, code);
}

UNIT_TEST(sandbox_denies_each_name) {
  static const char *const denied[] = {"io",
                                       "os_execute",
                                       "os_getenv",
                                       "os_remove",
                                       "load",
                                       "loadstring",
                                       "require",
                                       "dofile",
                                       "loadfile",
                                       "debug",
                                       "string_dump",
                                       "string_dump_meta",
                                       "collectgarbage",
                                       "setmetatable",
                                       "getmetatable",
                                       "rawset",
                                       "rawget",
                                       "package",
                                       "coroutine",
                                       "print",
                                       NULL};
  lua_State *L = setup();
  int i;
  for (i = 0; denied[i]; i++) {
    const char *r = probe(L, denied[i]);
    if (strncmp(r, "FAILED: ", 8) != 0)
      printf("  probe %s was allowed: %s\n", denied[i], r);
    CHECK(strncmp(r, "FAILED: ", 8) == 0);
    CHECK_STR_HAS(r, "attempt to"); /* index or call a nil value */
  }
  CHECK(strcmp(probe(L, "ok"), "42") == 0);
  CHECK(strcmp(probe(L, "time"), "numberstring") == 0);
  lua_close(L);
}

UNIT_TEST(sandbox_stops_endless_loops) {
  lua_State *L = setup();
  CHECK_STR_HAS(probe(L, "loop"), "instruction budget");
  CHECK_STR_HAS(probe(L, "loop_pcall"), "instruction budget");
  CHECK(strcmp(probe(L, "ok"), "42") == 0); /* and goes on */
  lua_close(L);
}

UNIT_TEST(sandbox_caps_memory) {
  lua_State *L = setup();
  const char *r = probe(L, "memory");
  CHECK(strncmp(r, "FAILED: ", 8) == 0);
  CHECK(strstr(r, "memory") || strstr(r, "budget"));
  CHECK_STR_HAS(probe(L, "memory_rep"), "too large"); /* refused up front */
  r = probe(L, "memory_pcall");
  CHECK(strncmp(r, "FAILED: ", 8) == 0);
  CHECK(strcmp(probe(L, "ok"), "42") == 0);
  lua_close(L);
}

/* 2026-11-28: C library loops escaped the instruction budget. */
UNIT_TEST(sandbox_guards_long_c_loops) {
  lua_State *L = setup();
  CHECK_STR_HAS(probe(L, "backtrack"), "pattern too complex");
  CHECK_STR_HAS(probe(L, "backtrack_fn"), "pattern too complex");
  CHECK_STR_HAS(probe(L, "rep_empty"), "too large");
  CHECK_STR_HAS(probe(L, "move"), "too large");
  CHECK(strcmp(probe(L, "small_match"), "440301") == 0);
  lua_close(L);
}

/* 2026-11-28: a rule keeping memory across calls starved other sets.
 * 2026-12-01: and a rule kept the previous caller's values in an upvalue:
 * every call now runs in a fresh environment, so nothing carries over. */
UNIT_TEST(sandbox_keeps_nothing_between_calls) {
  lua_State *L = setup();
  int i;
  for (i = 0; i < 20; i++)
    CHECK(strcmp(probe(L, "hoard"), "1") == 0); /* a fresh hoard each time */
  CHECK(strcmp(probe(L, "ok"), "42") == 0);
  CHECK_STR_HAS(probe(L, "deep"), "too large or too deep");
  lua_close(L);
}

UNIT_TEST(sandbox_isolates_shared_tables) {
  lua_State *L = setup();
  /* 2026-12-01: the libraries are read-only: a write is refused */
  CHECK_STR_HAS(lua_run(L, "return select(2, require('rules').call('99', "
                           "'clobber'))"),
                "cannot change the library 'string'");
  /* the real string table and other sets are untouched */
  CHECK(strcmp(probe(L, "upper"), "ABCD") == 0);
  CHECK(strcmp(lua_run(L, "return require('rules').call('99', 'probe', "
                          "{name = 'upper'})"),
               "ABCD") == 0);
  CHECK(strcmp(lua_run(L, "return require('rules').call('99', "
                          "'review_chain')[1]"),
               "province") == 0);
  /* values cross by copy: a rule cannot change the caller's table */
  CHECK(strcmp(lua_run(L, "local t = {x = 1} require('rules').call("
                          "'default', 'probe', {name = 'ok', x = 1}) "
                          "return t.x"),
               "1") == 0);
  lua_close(L);
}

UNIT_TEST(sandbox_unknown_province_runs_defaults) {
  lua_State *L = setup();
  CHECK(strcmp(lua_run(L, "return require('rules').call('42', 'probe', "
                          "{name = 'ok', x = 1})"),
               "2") == 0);
  lua_close(L);
}

/* A Lua expression installing default.lua of dir with one more province
 * file: {ok and "ok" or message, broken province or ""} as a string. */
static const char *install_with(lua_State *L, const char *verb,
                                const char *text) {
  char code[2048];
  snprintf(code, sizeof code,
           "local rules = require('rules') "
           "local f = io.open('%s/default.lua') local d = f:read('a') f:close() "
           "local set, broken = rules.%s({{name = 'default', text = d, "
           "version_id = 7}, {name = '98', text = [==[%s]==], version_id = 8}}) "
           "if not set then return 'refused: ' .. broken end "
           "return 'ok ' .. (broken[1] and broken[1].province .. ' ' .. "
           "broken[1].error or '')",
           dir, verb, text);
  return lua_run(L, code);
}

UNIT_TEST(install_breaks_only_the_failing_province) {
  long gen;
  lua_State *L = setup();
  gen = rules_generation();
  /* a province whose file fails is broken: its calls fail (closed),
   * never the defaults' answer; the others are installed */
  CHECK_STR_HAS(install_with(L, "install", "local base = ...\nreturn {\n  x = = 1\n}\n"),
                "ok 98 98.lua:3:");
  CHECK(rules_generation() == gen + 1);
  CHECK_STR_HAS(lua_run(L, "local r, e = require('rules').call('98', 'review_chain') "
                           "return tostring(r) .. ' ' .. tostring(e)"),
                "nil 98.lua:3:");
  CHECK(strcmp(probe(L, "ok"), "42") == 0);
  CHECK_STR_HAS(install_with(L, "install", "while true do end\n"),
                "instruction budget");
  /* a good file is a new generation, seen by the next call, with its
   * version id */
  CHECK_STR_HAS(install_with(L, "install",
                             "return { probe = function() return 'new' end }\n"),
                "ok ");
  CHECK(rules_generation() == gen + 3);
  CHECK(strcmp(lua_run(L, "return require('rules').call('98', 'probe', {})"),
               "new") == 0);
  CHECK(strcmp(lua_run(L, "return require('rules').versions()['98']"), "8") == 0);
  /* the defaults failing refuses the whole set: the old one stays */
  CHECK_STR_HAS(lua_run(L, "local ok, e = require('rules').install({{name = "
                           "'default', text = 'return 1 +'}}) return tostring(ok) "
                           ".. ' ' .. e"),
                "nil default.lua:");
  CHECK(rules_generation() == gen + 3);
  /* a malformed list is the caller's error */
  CHECK_STR_HAS(lua_run(L, "local ok, e = pcall(require('rules').install, "
                           "{{name = '98', text = ''}}) return e"),
                "default");
  /* back to the directory's files */
  CHECK(strcmp(lua_run(L, "return tostring(require('rules').reload())"), "true") == 0);
  lua_close(L);
}

UNIT_TEST(a_candidate_set_is_used_only_inside_using) {
  lua_State *L = setup();
  {
    char code[2048];
    snprintf(code, sizeof code,
             "local rules = require('rules') "
             "local f = io.open('%s/default.lua') local d = f:read('a') f:close() "
             "local set = assert(rules.load({{name = 'default', text = d}, "
             "{name = '98', text = \"return { probe = function() return 'cand' end }\", "
             "version_id = 9}})) "
             "local inside = rules.using(set, function(a) return rules.call('98', 'probe', {}) .. a end, '!') "
             "local outside = rules.call('98', 'probe', {name = 'ok', x = 1}) "
             "local ok, e = pcall(rules.using, set, function() error('boom') end) "
             "local after = rules.call('98', 'probe', {name = 'ok', x = 1}) "
             "return inside .. ' ' .. tostring(outside) .. ' ' .. tostring(ok) .. ' ' .. tostring(after) "
             ".. ' ' .. rules.versions(set)['98']",
             dir);
    CHECK(strcmp(lua_run(L, code), "cand! 2 false 2 9") == 0);
  }
  lua_close(L);
}

UNIT_TEST(rules_check_names_file_and_line) {
  char err[1024], path[512];
  char *files[1];
  lua_close(setup());
  write_file("97.lua",
             "local base = ...\n\nreturn {\n  check_plan = function(\n}\n");
  snprintf(path, sizeof path, "%s/97.lua", dir);
  files[0] = path;
  CHECK(rules_check_files(1, files, dir, err, sizeof err) == RULES_ERR_LOAD);
  CHECK_STR_HAS(err, "97.lua:5:");
  write_file("97.lua", "local base = ...\nreturn {}\n");
  CHECK(rules_check_files(1, files, dir, err, sizeof err) == RULES_OK);
  unlink(path);
}
