/*
 * db_pg_value: the PostgreSQL driver's values (db_pg.c), both ways. A
 * parameter goes as text, bytea as binary; a result comes back as SQLite
 * would give it: integers as Lua integers, booleans as 0/1, NULL as nil,
 * bytea as bytes.
 * Uses: libpq, Lua 5.4, db (the rows' array metatable), db_pg_int.
 */
#include "db_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "db.h"

/* ---- binding values -------------------------------------------------- */

static int int_type(Oid t) {
  return t == OID_INT8 || t == OID_INT4 || t == OID_INT2 || t == OID_OID;
}

/* The text of the Lua value at idx for parameter k of st, pushed onto
 * the stack (a string, or nil for NULL) with its format (1: binary).
 * Raises on an unsupported type. */
int db_pg_push_param(lua_State *L, const pg_stmt *st, int k, int idx,
                     int *binary) {
  Oid t = st->types ? st->types[k] : 0;
  *binary = 0;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE:
    lua_pushnil(L);
    break;
  case LUA_TBOOLEAN:
    if (t == OID_BOOL)
      lua_pushstring(L, lua_toboolean(L, idx) ? "t" : "f");
    else
      lua_pushstring(L, lua_toboolean(L, idx) ? "1" : "0");
    break;
  case LUA_TNUMBER: {
    char num[64];
    lua_Integer n;
    if (lua_isinteger(L, idx))
      snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(L, idx));
    else if (int_type(t) && lua_numbertointeger(lua_tonumber(L, idx), &n) &&
             (lua_Number)n == lua_tonumber(L, idx))
      snprintf(num, sizeof num, LUA_INTEGER_FMT, n);
    else
      snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, idx));
    lua_pushstring(L, num);
    break;
  }
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (t == OID_BYTEA)
      *binary = 1;
    else if (memchr(s, '\0', len))
      goto bad_text;
    lua_pushvalue(L, idx);
    break;
  }
  default:
    if (st->style == 'n')
      return luaL_error(L, "db: parameter :%s has unsupported type %s",
                        st->names[k], luaL_typename(L, idx));
    return luaL_error(L, "db: parameter %d has unsupported type %s", k + 1,
                      luaL_typename(L, idx));
  }
  return 1;
bad_text:
  if (st->style == 'n')
    return luaL_error(L, "db: parameter :%s: text with a NUL byte",
                      st->names[k]);
  return luaL_error(L, "db: parameter %d: text with a NUL byte", k + 1);
}

/* ---- results ------------------------------------------------------- */

/* Pushes the value of row i, column j of r as SQLite's driver would. */
static void push_value(lua_State *L, const PGresult *r, int i, int j) {
  const char *v = PQgetvalue(r, i, j);
  int len = PQgetlength(r, i, j);
  switch (PQftype(r, j)) {
  case OID_BOOL:
    lua_pushinteger(L, v[0] == 't');
    return;
  case OID_INT2:
  case OID_INT4:
  case OID_INT8:
  case OID_OID:
    lua_pushinteger(L, (lua_Integer)strtoll(v, NULL, 10));
    return;
  case OID_NUMERIC:
  case OID_FLOAT4:
  case OID_FLOAT8:
    /* sum() of integers is numeric: an integer when it is one */
    if (!lua_stringtonumber(L, v)) lua_pushlstring(L, v, (size_t)len);
    return;
  case OID_BYTEA:
    if (len >= 2 && v[0] == '\\' && v[1] == 'x') {
      luaL_Buffer b;
      int k;
      luaL_buffinit(L, &b);
      for (k = 2; k + 1 < len; k += 2) {
        int hi = v[k] <= '9' ? v[k] - '0' : (v[k] | 0x20) - 'a' + 10;
        int lo =
            v[k + 1] <= '9' ? v[k + 1] - '0' : (v[k + 1] | 0x20) - 'a' + 10;
        luaL_addchar(&b, (char)(hi << 4 | lo));
      }
      luaL_pushresult(&b);
      return;
    }
    /* not hex (bytea_output=escape): as given */
    /* FALLTHROUGH */
  default:
    lua_pushlstring(L, v, (size_t)len);
  }
}

/* Protected: builds what mode asks of the result at 1 (lightuserdata).
 * 'a' every row (an array), 'o' the first row or nil, 'x' changes and the
 * first row's first column (INSERT ... RETURNING id: SQLite's driver gives
 * last_insert_rowid, the same id), nil without rows. */
int db_pg_rows_protected(lua_State *L) {
  const PGresult *r = lua_touserdata(L, 1);
  int mode = (int)lua_tointeger(L, 2);
  int n = PQntuples(r), ncol = PQnfields(r), i, j;
  if (mode == 'x') {
    const char *changes = PQcmdTuples((PGresult *)r);
    lua_pushinteger(L, changes && *changes ? strtoll(changes, NULL, 10) : 0);
    if (ncol > 0 && n > 0 && !PQgetisnull(r, 0, 0))
      push_value(L, r, 0, 0);
    else
      lua_pushnil(L);
    return 2;
  }
  if (mode == 'o' && n == 0) {
    lua_pushnil(L);
    return 1;
  }
  if (mode == 'a') {
    lua_createtable(L, n, 0);
    db_push_array_mt(L);
    lua_setmetatable(L, -2); /* rows: a JSON array even if empty */
  }
  for (i = 0; i < (mode == 'o' ? 1 : n); i++) {
    lua_createtable(L, 0, ncol); /* rows? row */
    for (j = 0; j < ncol; j++) {
      if (PQgetisnull(r, i, j)) continue;
      push_value(L, r, i, j);
      lua_setfield(L, -2, PQfname(r, j));
    }
    if (mode == 'o') return 1;
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}
