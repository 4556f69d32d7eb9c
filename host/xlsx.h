/*
 * xlsx: Excel export for scripts/, as the Lua module `xlsx`: one sheet
 * from a header row and data rows, written by libxlsxwriter.
 * Uses: libxlsxwriter, Lua 5.4.
 */
#ifndef HOST_XLSX_H
#define HOST_XLSX_H

#include <lua.h>

/* Lua: pushes the `xlsx` module table. */
int luaopen_host_xlsx(lua_State *L);

#endif
