/*
 * xlsx: writes a workbook to a private temporary file with libxlsxwriter
 * and returns its bytes. The arguments are copied into C memory before any
 * file is made, so no Lua error can strike while the file or the
 * workbook is held.
 * Uses: libxlsxwriter, Lua 5.4.
 */
#include "xlsx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <xlsxwriter.h>

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
  FILE *f = NULL;
  char *bytes = NULL;
  long len = 0;
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
  if (workbook_close(wb) != LXW_NO_ERROR) {
    wb = NULL;
    snprintf(errbuf, sizeof errbuf, "cannot write the workbook");
    goto done;
  }
  wb = NULL;
  if (!(f = fopen(path, "rb")) || fseek(f, 0, SEEK_END) != 0 ||
      (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
      !(bytes = malloc((size_t)len + 1)) ||
      fread(bytes, 1, (size_t)len, f) != (size_t)len) {
    snprintf(errbuf, sizeof errbuf, "cannot read the workbook back");
    goto done;
  }
  ok = 1;
done:
  if (f) fclose(f);
  if (fd >= 0) unlink(path);
  free_cells(cells, (size_t)((nrows + 1) * ncols));
  if (!ok) {
    free(bytes);
    return luaL_error(L, "xlsx: %s", errbuf);
  }
  /* Only an out-of-memory raise in the copy below could leak bytes. */
  {
    luaL_Buffer b;
    char *dst = luaL_buffinitsize(L, &b, (size_t)len);
    memcpy(dst, bytes, (size_t)len);
    free(bytes);
    luaL_pushresultsize(&b, (size_t)len);
  }
  return 1;
}

static const luaL_Reg xlsx_funcs[] = {{"sheet", l_xlsx_sheet}, {NULL, NULL}};

int luaopen_host_xlsx(lua_State *L) {
  luaL_newlib(L, xlsx_funcs);
  return 1;
}
