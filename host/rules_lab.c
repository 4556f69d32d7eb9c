/*
 * rules_lab: candidate rule sets checked and tested in evaluators, and the
 * executable lines of a source read from its compiled chunk.
 * Requests ('K' check, 'T' test) are those of evaluator.c; a test run
 * gets ten times the call deadline (it runs every case).
 * Uses: evaluator, evaluator_pool, sandbox, wire, Lua 5.4.
 */
#include "rules_lab.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "evaluator.h"
#include "evaluator_pool.h"
#include "sandbox.h"
#include "wire.h"

#define LAB_TENANT "@lab"
#define LAB_TEST_DEADLINES 10 /* a test run's deadline, in call deadlines */
#define LAB_MAX_SOURCE (1u << 20)

/* ---- executable lines: the Lua 5.4.4 binary chunk (ldump.c) ---------- */

typedef struct dump_reader {
  const unsigned char *p, *end;
  int bad;
} dump_reader;

typedef struct dump_buf {
  unsigned char *data;
  size_t len, cap;
} dump_buf;

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
  dump_buf *b = ud;
  (void)L;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    unsigned char *d;
    while (cap < b->len + n)
      cap *= 2;
    if (!(d = realloc(b->data, cap))) return 1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static unsigned dr_byte(dump_reader *r) {
  if (r->p >= r->end) {
    r->bad = 1;
    return 0;
  }
  return *r->p++;
}

static void dr_skip(dump_reader *r, size_t n) {
  if ((size_t)(r->end - r->p) < n) {
    r->bad = 1;
    r->p = r->end;
  } else {
    r->p += n;
  }
}

/* dumpSize: 7 bits a byte, most significant first, the last byte's high
 * bit set. */
static size_t dr_size(dump_reader *r) {
  size_t x = 0;
  unsigned b;
  do {
    b = dr_byte(r);
    x = (x << 7) | (b & 0x7f);
  } while (!(b & 0x80) && !r->bad);
  return x;
}

static void dr_string(dump_reader *r) {
  size_t n = dr_size(r);
  if (n > 0) dr_skip(r, n - 1);
}

#define ABSLINEINFO (-0x80)

/* Reads one function (dumpFunction) and marks its instructions' lines,
 * then its nested functions'. */
static void dr_function(dump_reader *r, unsigned char *lines, int nlines,
                        int depth) {
  size_t ncode, n, i, nlineinfo, nabs;
  long linedefined;
  int is_vararg;
  const unsigned char *lineinfo;
  if (depth > 200) {
    r->bad = 1;
    return;
  }
  dr_string(r);                       /* source */
  linedefined = (long)dr_size(r);     /* linedefined */
  (void)dr_size(r);                   /* lastlinedefined */
  (void)dr_byte(r);                   /* numparams */
  is_vararg = (int)dr_byte(r);        /* is_vararg */
  (void)dr_byte(r);                   /* maxstacksize */
  ncode = dr_size(r);
  dr_skip(r, ncode * 4);              /* code */
  n = dr_size(r);                     /* constants */
  for (i = 0; i < n && !r->bad; i++) {
    unsigned tt = dr_byte(r);
    if (tt == 3 || tt == 19)          /* LUA_VNUMINT, LUA_VNUMFLT */
      dr_skip(r, 8);
    else if (tt == 4 || tt == 20)     /* LUA_VSHRSTR, LUA_VLNGSTR */
      dr_string(r);
    else if (tt != 0 && tt != 1 && tt != 17) /* nil, false, true */
      r->bad = 1;
  }
  n = dr_size(r);                     /* upvalues */
  dr_skip(r, n * 3);
  n = dr_size(r);                     /* protos */
  for (i = 0; i < n && !r->bad; i++)
    dr_function(r, lines, nlines, depth + 1);
  nlineinfo = dr_size(r);             /* lineinfo */
  lineinfo = r->p;
  dr_skip(r, nlineinfo);
  nabs = dr_size(r);                  /* abslineinfo: {pc, line} */
  {
    long line = linedefined;
    size_t pc, k = 0;
    /* the absolute lines, in pc order, read as we walk */
    const unsigned char *abs0 = r->p;
    dump_reader ar = {abs0, r->end, 0};
    long abs_pc = -1, abs_line = 0;
    if (nabs > 0) {
      abs_pc = (long)dr_size(&ar);
      abs_line = (long)dr_size(&ar);
    }
    for (pc = 0; pc < nlineinfo && pc < ncode && !r->bad; pc++) {
      signed char d = (signed char)lineinfo[pc];
      if (d == ABSLINEINFO || (long)pc == abs_pc) {
        line = abs_line;
        if (++k < nabs) {
          abs_pc = (long)dr_size(&ar);
          abs_line = (long)dr_size(&ar);
        } else {
          abs_pc = -1;
        }
      } else {
        line += d;
      }
      /* a vararg function's first instruction (VARARGPREP) is not a
       * line of its own (ldebug.c collectvalidlines) */
      if (is_vararg && pc == 0) continue;
      /* nor is the return every function ends with (lparser.c
       * close_func): after a `return`, its `end` can never run */
      if (pc + 1 == ncode) continue;
      if (line > 0 && line < nlines) lines[line] = 1;
    }
    for (; k < nabs && !r->bad; k++) { /* skip what is left */
      (void)dr_size(&ar);
      (void)dr_size(&ar);
    }
    if (ar.bad) r->bad = 1;
    r->p = ar.p;
  }
  n = dr_size(r);                     /* locvars */
  for (i = 0; i < n && !r->bad; i++) {
    dr_string(r);
    (void)dr_size(r);
    (void)dr_size(r);
  }
  n = dr_size(r);                     /* upvalue names */
  for (i = 0; i < n && !r->bad; i++)
    dr_string(r);
}

int lab_lines(const char *text, size_t len, unsigned char *lines, int nlines,
              char *err, size_t errlen) {
  static const char header[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
  lua_State *L = luaL_newstate();
  dump_buf b = {NULL, 0, 0};
  dump_reader r;
  int rc = LAB_ERR_MEM;
  memset(lines, 0, (size_t)nlines);
  if (!L) goto nomem;
  if (luaL_loadbufferx(L, text, len, "=source", "t") != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
    rc = LAB_ERR_SYNTAX;
    goto done;
  }
  if (lua_dump(L, dump_writer, &b, 0) != 0) goto nomem;
  rc = LAB_ERR_DUMP;
  /* header: signature, version, format, LUAC_DATA, three sizes, LUAC_INT,
   * LUAC_NUM; then the main closure's upvalue count */
  if (b.len < sizeof header - 1 + 3 + 16 + 1 ||
      memcmp(b.data, header, sizeof header - 1) != 0 || b.data[12] != 4 ||
      b.data[13] != 8 || b.data[14] != 8) {
    snprintf(err, errlen, "lab: not a Lua 5.4 chunk of the known format");
    goto done;
  }
  r.p = b.data + (sizeof header - 1) + 3 + 16 + 1;
  r.end = b.data + b.len;
  r.bad = 0;
  dr_function(&r, lines, nlines, 0);
  if (r.bad || r.p != r.end) {
    snprintf(err, errlen, "lab: the compiled chunk did not parse");
    goto done;
  }
  rc = LAB_OK;
  goto done;
nomem:
  snprintf(err, errlen, "lab: out of memory");
done:
  free(b.data);
  if (L) lua_close(L);
  return rc;
}

/* ---- requests to evaluators ------------------------------------------ */

/* A request's and reply's buffers, freed with the userdata. */
typedef struct lab_bufs {
  wire_buf req, reply;
} lab_bufs;

static const char *const LAB_BUFS_MT = "host.lab.bufs";

static int l_lab_bufs_gc(lua_State *L) {
  lab_bufs *b = luaL_checkudata(L, 1, LAB_BUFS_MT);
  wire_free(&b->req);
  wire_free(&b->reply);
  return 0;
}

static lab_bufs *new_bufs(lua_State *L) {
  lab_bufs *b = lua_newuserdatauv(L, sizeof *b, 0);
  wire_init(&b->req, EV_REQUEST_MAX);
  wire_init(&b->reply, EV_TEST_REPLY_MAX + 4096);
  luaL_setmetatable(L, LAB_BUFS_MT);
  return b;
}

/* Appends the files of the table at idx: n {name chunkname text}. Raises
 * on a malformed list. */
static int put_files(lua_State *L, int idx, wire_buf *b) {
  lua_Integer i, n;
  int rc;
  luaL_checktype(L, idx, LUA_TTABLE);
  n = luaL_len(L, idx);
  if (n < 1 || n > SBX_MAX_FILES)
    return luaL_error(L, "lab: a set has 1 to %d files", SBX_MAX_FILES);
  rc = wire_put_u32(b, (uint32_t)n);
  for (i = 1; i <= n && rc == WIRE_OK; i++) {
    size_t nl, tl;
    const char *name, *text;
    char chunk[64];
    lua_geti(L, idx, i);
    if (!lua_istable(L, -1)) return luaL_error(L, "lab: file %d is not a table", (int)i);
    lua_getfield(L, -1, "name");
    lua_getfield(L, -2, "text");
    name = lua_tolstring(L, -2, &nl);
    text = lua_tolstring(L, -1, &tl);
    if (!name || !text || nl == 0 || nl >= 16 || tl > LAB_MAX_SOURCE)
      return luaL_error(L, "lab: file %d needs a name and a text", (int)i);
    if (i == 1 && strcmp(name, "default") != 0)
      return luaL_error(L, "lab: the first file is the default set");
    snprintf(chunk, sizeof chunk, "%s.lua", name);
    rc = wire_put_str(b, name, nl);
    if (rc == WIRE_OK) rc = wire_put_str(b, chunk, strlen(chunk));
    if (rc == WIRE_OK) rc = wire_put_str(b, text, tl);
    lua_pop(L, 3);
  }
  return rc;
}

/* The code of an evaluator's error code. */
static const char *error_code(int code) {
  switch (code) {
  case SBX_ERR_SYNTAX:
    return "syntax";
  case SBX_ERR_ENTRY:
    return "unknown_entry";
  case SBX_ERR_NAME:
    return "undefined_name";
  case SBX_ERR_SHAPE:
    return "shape";
  default:
    return "load";
  }
}

/* Sends b->req to an evaluator of the lab tenant (ev_request). */
static int lab_exchange(lab_bufs *b, long deadline_ms, char *err,
                        size_t errlen) {
  ev_req r = {.tenant = LAB_TENANT,
              .req = &b->req,
              .reply = &b->reply,
              .deadline_ms = deadline_ms};
  return ev_request(&r, err, errlen);
}

/* Pushes nil|false, code, message for an 'E' reply or a failed exchange;
 * returns 3. */
static int push_failure(lua_State *L, lab_bufs *b, int rc, const char *err,
                        int falsy) {
  int top = lua_gettop(L);
  if (falsy)
    lua_pushboolean(L, 0);
  else
    lua_pushnil(L);
  if (rc == EV_OK && b->reply.len >= 1 && b->reply.data[0] == 'E') {
    char msg[4096];
    int code = ev_reply_error(&b->reply, msg, sizeof msg);
    lua_pushstring(L, error_code(code));
    lua_pushstring(L, msg);
  } else {
    lua_pushstring(L, "failed");
    lua_pushstring(L, rc == EV_OK ? "rule evaluator answered out of turn" : err);
  }
  assert(lua_gettop(L) == top + 3);
  return 3;
}

/* lab.load(files, province) -> true | false, code, message */
static int l_lab_load(lua_State *L) {
  lab_bufs *b = new_bufs(L);
  char err[1024] = "";
  int rc;
  wire_frame_begin(&b->req);
  wire_put_u8(&b->req, 'K');
  if (put_files(L, 1, &b->req) != WIRE_OK)
    return luaL_error(L, "lab: the set is too large");
  wire_frame_end(&b->req);
  rc = lab_exchange(b, ev_deadline_ms(), err, sizeof err);
  if (rc == EV_OK && b->reply.len == 1 && b->reply.data[0] == 'O') {
    lua_pushboolean(L, 1);
    return 1;
  }
  return push_failure(L, b, rc, err, 1);
}

/* lab.run(files, province, cases) -> {cases, results, hit} | nil, code,
 * message */
static int l_lab_run(lua_State *L) {
  const char *province = luaL_checkstring(L, 2);
  size_t clen;
  const char *cases = luaL_checklstring(L, 3, &clen);
  lab_bufs *b = new_bufs(L);
  char err[1024] = "";
  int rc = WIRE_OK;
  if (strlen(province) >= 16) return luaL_error(L, "lab: bad province");
  if (clen > LAB_MAX_SOURCE) return luaL_error(L, "lab: the cases are too large");
  wire_frame_begin(&b->req);
  wire_put_u8(&b->req, 'T');
  rc = wire_put_str(&b->req, province, strlen(province));
  if (rc == WIRE_OK) rc = put_files(L, 1, &b->req);
  if (rc == WIRE_OK) rc = wire_put_str(&b->req, cases, clen);
  if (rc != WIRE_OK) return luaL_error(L, "lab: the set is too large");
  wire_frame_end(&b->req);
  rc = lab_exchange(b, LAB_TEST_DEADLINES * ev_deadline_ms(), err, sizeof err);
  if (rc == EV_OK && b->reply.len >= 1 && b->reply.data[0] == 'O') {
    wire_reader r = {b->reply.data + 1, b->reply.data + b->reply.len};
    if (wire_get_value(&r, L) == WIRE_OK) return 1;
    lua_pushnil(L);
    lua_pushstring(L, "failed");
    lua_pushstring(L, "the test's answer is malformed");
    return 3;
  }
  return push_failure(L, b, rc, err, 0);
}

/* lab.lines(text) -> {line, ...} | nil, message */
static int l_lab_lines(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  unsigned char *lines = lua_newuserdatauv(L, SBX_MAX_LINES, 0);
  char err[512];
  int i, n = 0;
  if (lab_lines(text, len, lines, SBX_MAX_LINES, err, sizeof err) != LAB_OK) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_newtable(L);
  for (i = 1; i < SBX_MAX_LINES; i++)
    if (lines[i]) {
      lua_pushinteger(L, i);
      lua_rawseti(L, -2, ++n);
    }
  return 1;
}

/* lab.globals() -> the names a rule's environment allows */
static int l_lab_globals(lua_State *L) {
  const char *const *names = sbx_env_names();
  int i;
  lua_newtable(L);
  for (i = 0; names[i]; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static const luaL_Reg lab_funcs[] = {
    {"load", l_lab_load},   {"run", l_lab_run},         {"lines", l_lab_lines},
    {"globals", l_lab_globals}, {NULL, NULL},
};

int luaopen_host_rules_lab(lua_State *L) {
  if (luaL_newmetatable(L, LAB_BUFS_MT)) {
    lua_pushcfunction(L, l_lab_bufs_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, lab_funcs);
  return 1;
}
