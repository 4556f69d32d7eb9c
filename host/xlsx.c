/*
 * xlsx: writes a workbook to a private temporary file with libxlsxwriter
 * and returns its bytes. The arguments are copied into C memory before any
 * file is made, so no Lua error can strike while the file or the
 * workbook is held.
 * Reads the first sheet of an uploaded workbook (school import) with
 * libzip (the container) and expat (its XML parts), into C memory first,
 * then into Lua tables.
 * Uses: libxlsxwriter, libzip, expat, Lua 5.4, util.
 */
#include "xlsx.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <expat.h>
#include <lauxlib.h>
#include <xlsxwriter.h>
#include <zip.h>

#include "util.h"

#define XLSX_MAX_CELLS 2000000

typedef struct {
  int is_num;
  double num;
  char *str; /* owned; NULL for blanks */
} cell;

static void free_cells(cell *cells, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    free(cells[i].str);
  free(cells);
}

/* xlsx.sheet(title, header, rows[, widths]) -> bytes of an .xlsx file
 * header: array of strings; rows: array of arrays of strings/numbers;
 * widths: optional array of column widths. Raises on bad arguments. */
/* workbook_close zips the parts with minizip, whose stack frames are
 * large: on a web worker's small stack (more so under AddressSanitizer,
 * 2026-12-01) it overflowed. It runs on a thread of its own with 8 MiB. */
static void *close_thread(void *wb) {
  return (void *)(intptr_t)workbook_close((lxw_workbook *)wb);
}

static int close_on_big_stack(lxw_workbook *wb) {
  pthread_attr_t attr;
  pthread_t t;
  void *rc = NULL;
  if (pthread_attr_init(&attr) != 0) return (int)workbook_close(wb);
  pthread_attr_setstacksize(&attr, 8u << 20);
  if (pthread_create(&t, &attr, close_thread, wb) != 0) {
    pthread_attr_destroy(&attr);
    return (int)workbook_close(wb);
  }
  pthread_attr_destroy(&attr);
  pthread_join(t, &rc);
  return (int)(intptr_t)rc;
}

static int l_xlsx_sheet(lua_State *L) {
  const char *title = luaL_checkstring(L, 1);
  lua_Integer ncols, nrows, r, c;
  cell *cells = NULL;
  double widths[64];
  char path[] = "/tmp/host-xlsx-XXXXXX";
  int fd = -1, ok = 0;
  lxw_workbook *wb = NULL;
  lxw_worksheet *ws;
  lxw_format *bold;
  char *bytes = NULL; /* owned: the workbook read back */
  size_t len = 0;
  char errbuf[128] = "";

  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  ncols = (lua_Integer)lua_rawlen(L, 2);
  nrows = (lua_Integer)lua_rawlen(L, 3);
  luaL_argcheck(L, ncols > 0 && ncols <= 64, 2, "1 to 64 columns");
  luaL_argcheck(L, (nrows + 1) * ncols <= XLSX_MAX_CELLS, 3, "too many cells");
  for (c = 0; c < ncols; c++) {
    widths[c] = 14;
    if (lua_istable(L, 4) && lua_rawgeti(L, 4, c + 1) == LUA_TNUMBER)
      widths[c] = lua_tonumber(L, -1);
    if (lua_istable(L, 4)) lua_pop(L, 1);
  }
  /* Copy everything first: Lua may raise here, nothing is held yet but
   * cells, which a raise would leak; so check types before allocating. */
  for (r = 0; r <= nrows; r++) {
    if (r > 0 && lua_rawgeti(L, 3, r) != LUA_TTABLE)
      return luaL_error(L, "xlsx: row %d is not a table", (int)r);
    for (c = 0; c < ncols; c++) {
      int t = r == 0 ? lua_rawgeti(L, 2, c + 1) : lua_rawgeti(L, -1, c + 1);
      if (t != LUA_TNIL && t != LUA_TNUMBER && t != LUA_TSTRING)
        return luaL_error(L, "xlsx: cell %d,%d is a %s", (int)r, (int)c + 1,
                          lua_typename(L, t));
      lua_pop(L, 1);
    }
    if (r > 0) lua_pop(L, 1);
  }
  cells = calloc((size_t)((nrows + 1) * ncols), sizeof *cells);
  if (!cells) return luaL_error(L, "xlsx: out of memory");
  for (r = 0; r <= nrows; r++) {
    if (r > 0) lua_rawgeti(L, 3, r);
    for (c = 0; c < ncols; c++) {
      cell *x = &cells[r * ncols + c];
      int t = r == 0 ? lua_rawgeti(L, 2, c + 1) : lua_rawgeti(L, -1, c + 1);
      if (t == LUA_TNUMBER) {
        x->is_num = 1;
        x->num = lua_tonumber(L, -1);
      } else if (t == LUA_TSTRING) {
        x->str = strdup(lua_tostring(L, -1));
      }
      lua_pop(L, 1);
    }
    if (r > 0) lua_pop(L, 1);
  }

  if ((fd = mkstemp(path)) < 0) {
    snprintf(errbuf, sizeof errbuf, "cannot make a temporary file");
    goto done;
  }
  close(fd);
  if (!(wb = workbook_new(path))) {
    snprintf(errbuf, sizeof errbuf, "cannot start the workbook");
    goto done;
  }
  ws = workbook_add_worksheet(wb, title);
  if (!ws) ws = workbook_add_worksheet(wb, NULL);
  bold = workbook_add_format(wb);
  format_set_bold(bold);
  for (c = 0; c < ncols; c++)
    worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, widths[c], NULL);
  for (r = 0; r <= nrows; r++)
    for (c = 0; c < ncols; c++) {
      cell *x = &cells[r * ncols + c];
      if (x->is_num)
        worksheet_write_number(ws, (lxw_row_t)r, (lxw_col_t)c, x->num, NULL);
      else if (x->str)
        worksheet_write_string(ws, (lxw_row_t)r, (lxw_col_t)c, x->str,
                               r == 0 ? bold : NULL);
    }
  worksheet_freeze_panes(ws, 1, 0);
  if (close_on_big_stack(wb) != LXW_NO_ERROR) {
    wb = NULL;
    snprintf(errbuf, sizeof errbuf, "cannot write the workbook");
    goto done;
  }
  wb = NULL;
  if (!(bytes = util_read_file(path, 0, &len))) {
    snprintf(errbuf, sizeof errbuf, "cannot read the workbook back");
    goto done;
  }
  ok = 1;
done:
  if (fd >= 0) unlink(path);
  free_cells(cells, (size_t)((nrows + 1) * ncols));
  if (!ok) {
    free(bytes);
    return luaL_error(L, "xlsx: %s", errbuf);
  }
  /* Only an out-of-memory raise in the copy below could leak bytes. */
  {
    luaL_Buffer b;
    char *dst = luaL_buffinitsize(L, &b, len);
    memcpy(dst, bytes, len);
    free(bytes);
    luaL_pushresultsize(&b, len);
  }
  return 1;
}

/* ---- reading ---------------------------------------------------------- */

#define XLSX_MAX_PART (64u << 20) /* uncompressed bytes of one XML part */
#define XLSX_MAX_READ_CELLS 500000
#define XLSX_MAX_TEXT (1u << 20) /* characters of one cell */
/* A sheet's shape and its text in all: a few hundred bytes of XML may
 * name row 3,000,000, column XFD, or one 1 MiB shared string in every
 * cell (2026-12-01). */
#define XLSX_MAX_ROW 100000
#define XLSX_MAX_COL 256
#define XLSX_MAX_TOTAL_TEXT (32u << 20)
#define XLSX_READ_CHUNK 16384

typedef struct {
  char *s; /* owned */
  size_t len, cap;
} strbuf;

typedef struct {
  long row, col; /* 1-based */
  char *str;     /* owned */
} rcell;

typedef struct {
  int kind; /* 0 workbook, 1 rels, 2 shared strings, 3 sheet */
  int failed;
  char err[128];
  /* workbook / rels */
  char sheet_rid[128];
  char target[512];
  /* shared strings */
  char **sst; /* owned, each owned */
  size_t nsst, capsst;
  int in_si, in_t, in_rph;
  strbuf text;
  /* sheet */
  rcell *cells; /* owned */
  size_t ncells, capcells;
  long row, cur_row, cur_col;
  size_t total_text; /* bytes of cell text so far */
  char ctype[16];
  int in_v, in_is;
} rstate;

static const char *local_name(const char *name) {
  const char *c = strrchr(name, ':');
  return c ? c + 1 : name;
}

static const char *attr(const char **atts, const char *want) {
  int i;
  for (i = 0; atts[i]; i += 2)
    if (strcmp(local_name(atts[i]), want) == 0) return atts[i + 1];
  return NULL;
}

static int sb_add(strbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    char *grown;
    while (cap < b->len + n + 1)
      cap *= 2;
    if (cap > XLSX_MAX_TEXT + 1 && b->len + n > XLSX_MAX_TEXT) return -1;
    if (!(grown = realloc(b->s, cap))) return -1;
    b->s = grown;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
  return 0;
}

static void fail(rstate *st, const char *msg) {
  if (!st->failed) snprintf(st->err, sizeof st->err, "%s", msg);
  st->failed = 1;
}

/* "BC12" -> column 55; 0 when there are no letters. */
static long column_of(const char *ref) {
  long col = 0;
  for (; *ref >= 'A' && *ref <= 'Z'; ref++) {
    col = col * 26 + (*ref - 'A' + 1);
    if (col > 16384) return 0;
  }
  return col;
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts) {
  rstate *st = ud;
  const char *n = local_name(name), *v;
  if (st->failed) return;
  if (st->kind == 0) {
    if (strcmp(n, "sheet") == 0 && !st->sheet_rid[0] && (v = attr(atts, "id")))
      snprintf(st->sheet_rid, sizeof st->sheet_rid, "%s", v);
  } else if (st->kind == 1) {
    const char *id = attr(atts, "Id"), *t = attr(atts, "Target");
    if (strcmp(n, "Relationship") == 0 && id && t &&
        strcmp(id, st->sheet_rid) == 0) {
      if (t[0] == '/')
        snprintf(st->target, sizeof st->target, "%s", t + 1);
      else
        snprintf(st->target, sizeof st->target, "xl/%s", t);
    }
  } else if (st->kind == 2) {
    if (strcmp(n, "si") == 0) {
      st->in_si = 1;
      st->text.len = 0;
    } else if (strcmp(n, "rPh") == 0) {
      st->in_rph = 1;
    } else if (strcmp(n, "t") == 0 && st->in_si && !st->in_rph) {
      st->in_t = 1;
    }
  } else {
    if (strcmp(n, "row") == 0) {
      v = attr(atts, "r");
      st->row = v ? atol(v) : st->row + 1;
      st->cur_col = 0;
      if (st->row > XLSX_MAX_ROW || st->row < 0) {
        fail(st, "the sheet has too many rows");
        return;
      }
    } else if (strcmp(n, "c") == 0) {
      v = attr(atts, "r");
      st->cur_row = st->row;
      st->cur_col = v ? column_of(v) : st->cur_col + 1;
      if (!v) st->cur_col = st->cur_col ? st->cur_col : 1;
      if (st->cur_col > XLSX_MAX_COL || st->cur_col < 0) {
        fail(st, "the sheet has too many columns");
        return;
      }
      v = attr(atts, "t");
      snprintf(st->ctype, sizeof st->ctype, "%s", v ? v : "n");
      st->text.len = 0;
      if (st->text.s) st->text.s[0] = '\0';
    } else if (strcmp(n, "v") == 0) {
      st->in_v = 1;
    } else if (strcmp(n, "is") == 0) {
      st->in_is = 1;
    } else if (strcmp(n, "rPh") == 0) {
      st->in_rph = 1;
    } else if (strcmp(n, "t") == 0 && st->in_is && !st->in_rph) {
      st->in_t = 1;
    }
  }
}

static void XMLCALL on_text(void *ud, const char *s, int len) {
  rstate *st = ud;
  if (st->failed) return;
  if (st->in_t || st->in_v)
    if (sb_add(&st->text, s, (size_t)len) != 0) fail(st, "a cell is too long");
}

static void add_cell(rstate *st) {
  const char *value = st->text.s ? st->text.s : "";
  char *copy;
  if (strcmp(st->ctype, "s") == 0) {
    char *end;
    long i = strtol(value, &end, 10);
    if (end == value || i < 0 || (size_t)i >= st->nsst) {
      fail(st, "a shared string index is out of range");
      return;
    }
    value = st->sst[i];
  }
  if (!value[0] || st->cur_row <= 0 || st->cur_col <= 0) return;
  st->total_text += strlen(value);
  if (st->total_text > XLSX_MAX_TOTAL_TEXT) {
    fail(st, "the sheet holds too much text");
    return;
  }
  if (st->ncells >= XLSX_MAX_READ_CELLS) {
    fail(st, "too many cells");
    return;
  }
  if (st->ncells == st->capcells) {
    size_t cap = st->capcells ? st->capcells * 2 : 256;
    rcell *grown = realloc(st->cells, cap * sizeof *grown);
    if (!grown) {
      fail(st, "out of memory");
      return;
    }
    st->cells = grown;
    st->capcells = cap;
  }
  if (!(copy = strdup(value))) {
    fail(st, "out of memory");
    return;
  }
  st->cells[st->ncells].row = st->cur_row;
  st->cells[st->ncells].col = st->cur_col;
  st->cells[st->ncells].str = copy;
  st->ncells++;
}

static void XMLCALL on_end(void *ud, const char *name) {
  rstate *st = ud;
  const char *n = local_name(name);
  if (st->failed) return;
  if (strcmp(n, "t") == 0) st->in_t = 0;
  if (strcmp(n, "rPh") == 0) st->in_rph = 0;
  if (st->kind == 2 && strcmp(n, "si") == 0) {
    char *copy = strdup(st->text.s ? st->text.s : "");
    st->in_si = 0;
    st->text.len = 0;
    if (st->text.s) st->text.s[0] = '\0';
    if (!copy) {
      fail(st, "out of memory");
      return;
    }
    if (st->nsst == st->capsst) {
      size_t cap = st->capsst ? st->capsst * 2 : 256;
      char **grown = realloc(st->sst, cap * sizeof *grown);
      if (!grown || st->nsst >= XLSX_MAX_READ_CELLS) {
        free(copy);
        if (grown) st->sst = grown;
        fail(st, grown ? "too many strings" : "out of memory");
        return;
      }
      st->sst = grown;
      st->capsst = cap;
    }
    st->sst[st->nsst++] = copy;
  } else if (st->kind == 3) {
    if (strcmp(n, "v") == 0) st->in_v = 0;
    if (strcmp(n, "is") == 0) st->in_is = 0;
    if (strcmp(n, "c") == 0) add_cell(st);
  }
}

/* Parses the part `name` of the archive as XML of st->kind. Returns 0, 1
 * when the part is absent, -1 on an error (in st->err). */
static int parse_part(zip_t *za, const char *name, rstate *st) {
  zip_file_t *zf = NULL;
  XML_Parser p = NULL;
  char *buf = NULL; /* owned: worker threads have small stacks */
  zip_int64_t got;
  size_t total = 0;
  int rc = -1;

  if (zip_name_locate(za, name, 0) < 0) return 1;
  if (!(zf = zip_fopen(za, name, 0))) {
    fail(st, "cannot open a part of the workbook");
    goto done;
  }
  if (!(buf = malloc(XLSX_READ_CHUNK)) || !(p = XML_ParserCreate("UTF-8"))) {
    fail(st, "out of memory");
    goto done;
  }
  XML_SetUserData(p, st);
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  while ((got = zip_fread(zf, buf, XLSX_READ_CHUNK)) > 0) {
    total += (size_t)got;
    if (total > XLSX_MAX_PART) {
      fail(st, "a part of the workbook is too large");
      goto done;
    }
    if (XML_Parse(p, buf, (int)got, 0) != XML_STATUS_OK) {
      fail(st, "the workbook's XML is malformed");
      goto done;
    }
    if (st->failed) goto done;
  }
  if (got < 0) {
    fail(st, "the workbook is damaged");
    goto done;
  }
  if (XML_Parse(p, buf, 0, 1) != XML_STATUS_OK) {
    fail(st, "the workbook's XML is malformed");
    goto done;
  }
  rc = st->failed ? -1 : 0;
done:
  if (p) XML_ParserFree(p);
  if (zf) zip_fclose(zf);
  free(buf);
  return rc;
}

static int cmp_cells(const void *a, const void *b) {
  const rcell *x = a, *y = b;
  if (x->row != y->row) return x->row < y->row ? -1 : 1;
  return x->col < y->col ? -1 : x->col > y->col;
}

/* xlsx.read(bytes) -> rows | nil, message
 * rows: the first sheet as an array (by row number, from 1) of arrays of
 * strings ("" for blank cells; blank rows are empty tables). A file that
 * is not a workbook gives nil and an English message. */
static int l_xlsx_read(lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  zip_error_t zerr;
  zip_source_t *src = NULL;
  zip_t *za = NULL;
  rstate st;
  size_t i;
  long maxrow = 0, r;
  int ok = 0;

  memset(&st, 0, sizeof st);
  zip_error_init(&zerr);
  if (!(src = zip_source_buffer_create(data, len, 0, &zerr)) ||
      !(za = zip_open_from_source(src, ZIP_RDONLY, &zerr))) {
    fail(&st, "not an .xlsx workbook");
    goto done;
  }
  src = NULL; /* the archive owns it now */
  st.kind = 0;
  if (parse_part(za, "xl/workbook.xml", &st) != 0) {
    fail(&st, "not an .xlsx workbook");
    goto done;
  }
  st.kind = 1;
  if (st.sheet_rid[0] && parse_part(za, "xl/_rels/workbook.xml.rels", &st) < 0)
    goto done;
  if (!st.target[0])
    snprintf(st.target, sizeof st.target, "%s", "xl/worksheets/sheet1.xml");
  st.kind = 2;
  if (parse_part(za, "xl/sharedStrings.xml", &st) < 0) goto done;
  st.kind = 3;
  st.text.len = 0;
  st.in_t = st.in_v = st.in_si = st.in_rph = 0;
  if (parse_part(za, st.target, &st) != 0) {
    fail(&st, "the workbook has no sheet");
    goto done;
  }
  if (st.ncells) qsort(st.cells, st.ncells, sizeof *st.cells, cmp_cells);
  ok = 1;
done:
  if (za) zip_discard(za);
  if (src) zip_source_free(src);
  zip_error_fini(&zerr);
  for (i = 0; i < st.nsst; i++)
    free(st.sst[i]);
  free(st.sst);
  free(st.text.s);
  if (!ok) {
    for (i = 0; i < st.ncells; i++)
      free(st.cells[i].str);
    free(st.cells);
    lua_pushnil(L);
    lua_pushstring(L, st.err[0] ? st.err : "cannot read the workbook");
    return 2;
  }
  /* Only an out-of-memory raise below could leak the cells. */
  if (st.ncells) maxrow = st.cells[st.ncells - 1].row;
  lua_createtable(L, (int)(maxrow < 100000 ? maxrow : 100000), 0); /* rows */
  for (r = 1; r <= maxrow; r++) {
    lua_newtable(L);
    lua_rawseti(L, -2, r);
  }
  for (i = 0; i < st.ncells; i++) {
    long c;
    lua_rawgeti(L, -1, st.cells[i].row); /* rows row */
    for (c = (long)lua_rawlen(L, -1) + 1; c < st.cells[i].col; c++) {
      lua_pushliteral(L, "");
      lua_rawseti(L, -2, c);
    }
    lua_pushstring(L, st.cells[i].str);
    lua_rawseti(L, -2, st.cells[i].col);
    lua_pop(L, 1); /* rows */
    free(st.cells[i].str);
  }
  free(st.cells);
  return 1;
}

static const luaL_Reg xlsx_funcs[] = {
    {"sheet", l_xlsx_sheet}, {"read", l_xlsx_read}, {NULL, NULL}};

int luaopen_host_xlsx(lua_State *L) {
  luaL_newlib(L, xlsx_funcs);
  return 1;
}
