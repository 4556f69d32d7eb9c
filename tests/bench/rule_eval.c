/*
 * Instruction counts for one rule evaluation, as an evaluator process does
 * it (sandbox.h: a fresh environment per call, the budget hook, the capped
 * allocator, the result encoded): loads rules/default.lua and
 * rules/PROVINCE.lua, then calls check_declaration N times with a contract
 * ctx of a 保存并提交 (not by major). Run under callgrind with N and with
 * 1; the difference over N-1 is one evaluation. (The evaluators themselves
 * run under a seccomp filter valgrind cannot run under.)
 * Usage: rule_eval RULES_DIR PROVINCE N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "sandbox.h"
#include "wire.h"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
      fread(buf, 1, (size_t)n, f) == (size_t)n) {
    buf[n] = '\0';
    *len = (size_t)n;
  } else {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static const char ctx_lua[] =
    "return {['@contract'] = true, submit = true, mode = 'not_by_major', "
    "declaration = {mode = 'not_by_major', certificate_id = 1, majors = {}, "
    "trainees_total = 30, faculty_chars = 120, venue_chars = 80}, "
    "others_in_plan = 2, plan = {mode = 'not_by_major'}, school = {}, "
    "now = 1800000000}";

int main(int argc, char **argv) {
  char path[2][1024], names[2][64], err[1024];
  sbx_file files[2];
  sbx *s = NULL;
  lua_State *L = luaL_newstate();
  wire_buf arg, out;
  long i, n = argc > 3 ? atol(argv[3]) : 1;
  int rc = 1;

  if (argc < 4) {
    fprintf(stderr, "usage: rule_eval RULES_DIR PROVINCE N\n");
    return 2;
  }
  memset(files, 0, sizeof files);
  snprintf(path[0], sizeof path[0], "%s/default.lua", argv[1]);
  snprintf(path[1], sizeof path[1], "%s/%s.lua", argv[1], argv[2]);
  snprintf(names[0], sizeof names[0], "default");
  snprintf(names[1], sizeof names[1], "%s", argv[2]);
  for (i = 0; i < 2; i++) {
    files[i].name = names[i];
    files[i].chunkname = path[i];
    if (!(files[i].text = slurp(path[i], &files[i].len))) {
      fprintf(stderr, "rule_eval: cannot read %s\n", path[i]);
      return 1;
    }
  }
  if (sbx_load(files, 2, 0, &s, err, sizeof err) != SBX_OK) {
    fprintf(stderr, "rule_eval: %s\n", err);
    return 1;
  }
  wire_init(&arg, 1 << 20);
  wire_init(&out, 1 << 20);
  if (luaL_dostring(L, ctx_lua) != LUA_OK ||
      wire_put_value(&arg, L, -1) != WIRE_OK)
    goto done;
  for (i = 0; i < n; i++) {
    wire_reader r = {arg.data, arg.data + arg.len};
    wire_reset(&out, 1 << 20, 100000);
    if (sbx_call(s, argv[2], "check_declaration", &r, &out, err, sizeof err) !=
        SBX_OK) {
      fprintf(stderr, "rule_eval: %s\n", err);
      goto done;
    }
  }
  printf("%ld evaluations, %zu bytes of result each\n", n, out.len);
  rc = 0;
done:
  wire_free(&arg);
  wire_free(&out);
  sbx_free(s);
  lua_close(L);
  free((char *)files[0].text);
  free((char *)files[1].text);
  return rc;
}
