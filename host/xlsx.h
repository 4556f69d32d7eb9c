/*
 * xlsx: Excel for scripts/, as the Lua module `xlsx`. Provides export (one
 * sheet from a header row and data rows, written by libxlsxwriter) and
 * reading the first sheet of an uploaded .xlsx (the school import).
 * Uses: libxlsxwriter, libzip, expat, Lua 5.4.
 */
#ifndef HOST_XLSX_H
#define HOST_XLSX_H

#include <lua.h>

/* Lua: pushes the `xlsx` module table. */
int luaopen_host_xlsx(lua_State *L);

#endif
