/*
 * auth: cryptographic primitives for accounts and sessions, as the Lua
 * module `auth`: Argon2id password hashes (libsodium crypto_pwhash_str),
 * random tokens and codes from the CSPRNG, SHA-256 for storing tokens.
 * Uses: libsodium, Lua 5.4.
 */
#ifndef HOST_AUTH_H
#define HOST_AUTH_H

#include <lua.h>

/* Initialises libsodium. Returns 0, or -1 if the library is unusable. */
int auth_init(void);

/* Lua: pushes the `auth` module table. */
int luaopen_host_auth(lua_State *L);

#endif
