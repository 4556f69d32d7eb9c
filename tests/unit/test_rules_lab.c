/* The rule contract in C: the executable lines read from a compiled chunk
 * (against luac5.4's own listing when it is installed), strict globals
 * and the read-only ctx proxies of the sandbox, lib's helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "rules_lab.h"
#include "sandbox.h"
#include "unit.h"
#include "wire.h"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  if (!f) return NULL;
  buf = malloc(1 << 20);
  *len = fread(buf, 1, (1 << 20) - 1, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

/* The lines luac5.4 -l -l lists, but for each function's last instruction
 * and a vararg function's first (as lab_lines leaves them out). Returns 0
 * when luac5.4 is not there. */
static int luac_lines(const char *path, unsigned char *lines, int nlines) {
  char cmd[600], row[4096];
  FILE *p;
  int vararg = 0, pending = 0, pending_line = 0, first = 0, any = 0;
  if (system("command -v luac5.4 >/dev/null 2>&1") != 0) return 0;
  snprintf(cmd, sizeof cmd, "luac5.4 -l -l -p '%s'", path);
  if (!(p = popen(cmd, "r"))) return 0;
  memset(lines, 0, (size_t)nlines);
  while (fgets(row, sizeof row, p)) {
    int pc, line;
    if (strncmp(row, "main <", 6) == 0 || strncmp(row, "function <", 10) == 0) {
      pending = 0; /* the previous function's last instruction: dropped */
      first = 1;
    } else if (strstr(row, " param") && row[0] >= '0' && row[0] <= '9') {
      vararg = strchr(row, '+') != NULL && strchr(row, '+') < strstr(row, " param");
    } else if (sscanf(row, "\t%d\t[%d]", &pc, &line) == 2) {
      if (pending && pending_line > 0 && pending_line < nlines)
        lines[pending_line] = 1;
      pending = !(first && vararg);
      pending_line = line;
      first = 0;
      any = 1;
      if (!pending) pending_line = 0;
    } else if (strncmp(row, "constants", 9) == 0) {
      pending = 0; /* the last instruction of the function is behind us */
    }
  }
  pclose(p);
  return any;
}

UNIT_TEST(lab_lines_match_luac_listing) {
  static const char *const files[] = {"rules/default.lua", "rules/13.lua",
                                      "rules/32.lua", "rules/44.lua",
                                      "tests/rules/default.lua", NULL};
  static unsigned char mine[SBX_MAX_LINES], theirs[SBX_MAX_LINES];
  int i, k;
  for (i = 0; files[i]; i++) {
    size_t len;
    char err[256], *text = slurp(files[i], &len);
    CHECK(text != NULL);
    if (!text) continue;
    CHECK(lab_lines(text, len, mine, SBX_MAX_LINES, err, sizeof err) ==
          LAB_OK);
    if (luac_lines(files[i], theirs, SBX_MAX_LINES)) {
      for (k = 0; k < SBX_MAX_LINES; k++)
        if (mine[k] != theirs[k]) {
          printf("  %s: line %d: lab %d, luac %d\n", files[i], k, mine[k],
                 theirs[k]);
          CHECK(mine[k] == theirs[k]);
          break;
        }
    }
    free(text);
  }
}

UNIT_TEST(lab_lines_cover_nested_functions_never_run) {
  static unsigned char lines[64];
  static const char src[] = "local R = {}\n"     /* 1 */
                            "function R.f(x)\n"   /* 2 */
                            "  local function g()\n" /* 3 */
                            "    return x * 2\n"  /* 4 */
                            "  end\n"             /* 5 */
                            "  -- a comment\n"    /* 6 */
                            "  return g()\n"      /* 7 */
                            "end\n"               /* 8 */
                            "\n"                  /* 9 */
                            "return R\n";         /* 10 */
  char err[256];
  CHECK(lab_lines(src, sizeof src - 1, lines, 64, err, sizeof err) == LAB_OK);
  /* a closure is made on its `end` line; g's body counts, never run */
  CHECK(lines[1] && lines[2] && lines[4] && lines[5] && lines[7] && lines[8] &&
        lines[10]);
  CHECK(!lines[3] && !lines[6] && !lines[9]);
  CHECK(lab_lines("return = 1", 10, lines, 64, err, sizeof err) ==
        LAB_ERR_SYNTAX);
}

/* A one-file set whose default answers what the test asks. */
static const char *const CONTRACT_LUA =
    "local R = {}\n"
    "local function none() return {} end\n"
    "R.check_plan, R.check_profile, R.check_declaration = none, none, none\n"
    "function R.review_chain() return {'province'} end\n"
    "function R.deadline() return {open = true} end\n"
    "R.params = { max = { [2022] = 50, [2024] = 80 } }\n"
    "local probes = {\n"
    "  global = function(ctx) return nope end,\n"             /* 8 */
    "  typo = function(ctx) return ctx.declaration.trainee_total end,\n"
    "  absent = function(ctx) return tostring(ctx.declaration.id) end,\n"
    "  majors = function(ctx)\n"
    "    local n, k = 0, 0\n"
    "    for _, m in ipairs(ctx.declaration.majors) do n = n + m.trainees end\n"
    "    for _ in pairs(ctx.declaration.majors) do k = k + 1 end\n"
    "    return n .. '/' .. k .. '/' .. #ctx.declaration.majors end,\n"
    "  write = function(ctx) ctx.declaration.majors[1].trainees = 0 end,\n"
    "  major_typo = function(ctx) return ctx.declaration.majors[1].trainee "
    "end,\n"
    "  param = function(ctx) return lib.param(ctx, 'max') end,\n"
    "  path = function(ctx) return lib.path('majors', 2, 'trainees') end,\n"
    "  findings = function(ctx) local e = {} lib.err(e, 'f', 'c', 'm') "
    "return e[1].rule.file .. ':' .. e[1].rule.line end,\n" /* 20 */
    "}\n"
    "R.probe = function(ctx) return probes[ctx.mode](ctx) end\n"
    "return R\n";

/* Calls probe with the ctx the Lua table constructor ctx_src builds (marked
 * as a contract ctx), into out; returns the sandbox's code. */
static int call_probe(sbx *s, const char *ctx_src, char *out, size_t outlen) {
  lua_State *L = luaL_newstate();
  wire_buf arg, res;
  wire_reader r;
  char err[4096];
  int rc;
  wire_init(&arg, 1 << 20);
  wire_init(&res, 1 << 20);
  if (luaL_dostring(L, ctx_src) != LUA_OK) {
    snprintf(out, outlen, "bad test ctx: %s", lua_tostring(L, -1));
    rc = -100;
    goto done;
  }
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "@contract");
  wire_put_value(&arg, L, -1);
  r.p = arg.data;
  r.end = arg.data + arg.len;
  rc = sbx_call(s, "default", "probe", &r, &res, err, sizeof err);
  if (rc != SBX_OK) {
    snprintf(out, outlen, "%s", err);
  } else {
    r.p = res.data;
    r.end = res.data + res.len;
    lua_settop(L, 0);
    wire_get_value(&r, L);
    snprintf(out, outlen, "%s",
             lua_isstring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
  }
done:
  wire_free(&arg);
  wire_free(&res);
  lua_close(L);
  return rc;
}

#define DECL "declaration = { majors = { { major = 'a', trainees = 3 }, " \
             "{ major = 'b', trainees = 4 } } }"

UNIT_TEST(sandbox_contract_strict_globals_and_ctx) {
  sbx_file f = {"default", "default.lua", CONTRACT_LUA, strlen(CONTRACT_LUA)};
  sbx *s = NULL;
  char err[1024], out[4096];
  CHECK(sbx_load(&f, 1, 1, &s, err, sizeof err) == SBX_OK);
  if (!s) {
    printf("  %s\n", err);
    return;
  }
  CHECK(call_probe(s, "return { mode = 'global' }", out, sizeof out) ==
        SBX_ERR_CALL);
  CHECK_STR_HAS(out, "default.lua:8: attempt to read undefined global 'nope'");
  CHECK(call_probe(s, "return { mode = 'typo', " DECL " }", out,
                   sizeof out) == SBX_ERR_CALL);
  CHECK_STR_HAS(out, "default.lua:9: ctx.declaration has no field "
                     "'trainee_total'");
  CHECK(call_probe(s, "return { mode = 'absent', " DECL " }", out,
                   sizeof out) == SBX_OK);
  CHECK(strcmp(out, "nil") == 0); /* known, absent: nil */
  CHECK(call_probe(s, "return { mode = 'majors', " DECL " }", out,
                   sizeof out) == SBX_OK);
  CHECK(strcmp(out, "7/2/2") == 0); /* ipairs, pairs and # on a proxy */
  CHECK(call_probe(s, "return { mode = 'write', " DECL " }", out,
                   sizeof out) == SBX_ERR_CALL);
  CHECK_STR_HAS(out, "ctx is read-only");
  CHECK(call_probe(s, "return { mode = 'major_typo', " DECL " }", out,
                   sizeof out) == SBX_ERR_CALL);
  CHECK_STR_HAS(out, "has no field 'trainee'");
  CHECK(call_probe(s, "return { mode = 'typo', sneaky = 1, " DECL " }", out,
                   sizeof out) == SBX_ERR_CALL); /* unknown top field sent */
  CHECK(call_probe(s, "return { mode = 'param', plan = { year = 2023 } }",
                   out, sizeof out) == SBX_OK);
  CHECK(strcmp(out, "50") == 0);
  CHECK(call_probe(s, "return { mode = 'param', plan = { year = 2024 } }",
                   out, sizeof out) == SBX_OK);
  CHECK(strcmp(out, "80") == 0);
  CHECK(call_probe(s, "return { mode = 'param', plan = { year = 2021 } }",
                   out, sizeof out) == SBX_ERR_CALL);
  CHECK_STR_HAS(out, "no value in force in 2021");
  CHECK(call_probe(s, "return { mode = 'path' }", out, sizeof out) == SBX_OK);
  CHECK(strcmp(out, "majors[1].trainees") == 0);
  CHECK(call_probe(s, "return { mode = 'findings' }", out, sizeof out) ==
        SBX_OK);
  CHECK(strcmp(out, "default:20") == 0);
  sbx_free(s);
}

UNIT_TEST(sandbox_candidates_refuse_unknown_entries_with_lines) {
  static const char *const P13 = "local base = ...\n"
                                 "local R = {}\n"
                                 "R.max_trainee = 5\n"
                                 "return R\n";
  sbx_file f[2] = {{"default", "default.lua", NULL, 0},
                   {"13", "13.lua", P13, 0}};
  sbx *s = NULL;
  char err[1024], *shipped = slurp("rules/default.lua", &f[0].len);
  f[0].text = shipped;
  f[1].len = strlen(P13);
  CHECK(shipped != NULL);
  if (!shipped) return;
  CHECK(sbx_load(f, 2, 1, &s, err, sizeof err) == SBX_OK); /* in force */
  sbx_free(s);
  s = NULL;
  CHECK(sbx_load(f, 2, SBX_PROBE_STRICT, &s, err, sizeof err) ==
        SBX_ERR_ENTRY);
  CHECK_STR_HAS(err, "13.lua:3: unknown entry 'max_trainee'");
  sbx_free(s);
  s = NULL;
  /* the shipped default holds to the contract; a candidate default
   * returning more is refused */
  CHECK(sbx_load(f, 1, SBX_PROBE_STRICT, &s, err, sizeof err) == SBX_OK);
  sbx_free(s);
  s = NULL;
  f[0].text = CONTRACT_LUA;
  f[0].len = strlen(CONTRACT_LUA);
  CHECK(sbx_load(f, 1, SBX_PROBE_STRICT, &s, err, sizeof err) ==
        SBX_ERR_ENTRY);
  CHECK_STR_HAS(err, "default.lua:22: unknown entry 'probe'");
  sbx_free(s);
  free(shipped);
}
