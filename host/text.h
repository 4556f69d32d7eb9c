/*
 * text: text primitives for scripts/, as the Lua module `text`: the rich
 * text sanitizer for 师资情况/场地情况 (an HTML5 parser and an allowlist
 * of tags and attributes) and UTF-8 code point counting.
 * Uses: gumbo (HTML5 parser), Lua 5.4.
 */
#ifndef HOST_TEXT_H
#define HOST_TEXT_H

#include <lua.h>

/* Lua: pushes the `text` module table. */
int luaopen_host_text(lua_State *L);

#endif
