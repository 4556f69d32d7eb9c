/*
 * json: the JSON encoder of scripts/json.lua, as the Lua module `json_c`.
 * Debian's lua-cjson 2.1.0 decodes for us, but its encoder cannot mark an
 * empty table as an array nor sort an object's keys, so scripts/json.lua
 * encoded in Lua: half of a request's Lua time. This is that encoder in
 * C, byte for byte: a table whose metatable has __jsontype = "array", or
 * with a non-empty sequence, is an array (1..#t); any other table is an
 * object with its keys sorted (bytewise); strings escaped as cjson does
 * (control characters, '"', '\\', '/' and DEL); integers as integers, an
 * integral float within 1e15 as an integer, other finite floats as %.14g,
 * NaN and infinities as null; nil and cjson.null as null. Nested deeper
 * than 64, a function, userdata or a key neither string nor number is an
 * error.
 * Uses: Lua 5.4.
 */
#ifndef HOST_JSON_H
#define HOST_JSON_H

#include <lua.h>

/* Lua: pushes the `json_c` module table ({encode = f}). */
int luaopen_host_json(lua_State *L);

#endif
