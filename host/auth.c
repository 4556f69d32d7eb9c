/*
 * auth: Argon2id password hashing, CSPRNG tokens and SHA-256 digests.
 * Hashing parameters are libsodium's INTERACTIVE limits: about 64 MiB and
 * a fraction of a second per hash, which is what a login can afford.
 * Uses: libsodium, Lua 5.4.
 */
#include "auth.h"

#include <string.h>

#include <lauxlib.h>
#include <sodium.h>

int auth_init(void) {
  return sodium_init() < 0 ? -1 : 0;
}

/* auth.hash_password(pw) -> "$argon2id$..." */
static int l_auth_hash_password(lua_State *L) {
  size_t len;
  const char *pw = luaL_checklstring(L, 1, &len);
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return luaL_error(L, "auth: out of memory while hashing");
  lua_pushstring(L, out);
  return 1;
}

/* auth.verify_password(hash, pw) -> boolean */
static int l_auth_verify_password(lua_State *L) {
  const char *hash = luaL_checkstring(L, 1);
  size_t len;
  const char *pw = luaL_checklstring(L, 2, &len);
  lua_pushboolean(L, crypto_pwhash_str_verify(hash, pw, len) == 0);
  return 1;
}

/* auth.random_hex(nbytes) -> 2*nbytes hex digits */
static int l_auth_random_hex(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  unsigned char buf[64];
  char hex[129];
  luaL_argcheck(L, n > 0 && n <= 64, 1, "between 1 and 64 bytes");
  randombytes_buf(buf, (size_t)n);
  sodium_bin2hex(hex, sizeof hex, buf, (size_t)n);
  lua_pushstring(L, hex);
  return 1;
}

/* auth.random_string(n, alphabet) -> n characters drawn uniformly from
 * alphabet (at most 256 characters, ASCII). */
static int l_auth_random_string(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1), i;
  size_t alen;
  const char *alpha = luaL_checklstring(L, 2, &alen);
  char out[257];
  luaL_argcheck(L, n > 0 && n <= 256, 1, "between 1 and 256 characters");
  luaL_argcheck(L, alen > 0 && alen <= 256, 2, "1 to 256 characters");
  for (i = 0; i < n; i++)
    out[i] = alpha[randombytes_uniform((uint32_t)alen)];
  lua_pushlstring(L, out, (size_t)n);
  return 1;
}

/* auth.sha256(s) -> 64 hex digits */
static int l_auth_sha256(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  unsigned char d[crypto_hash_sha256_BYTES];
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  crypto_hash_sha256(d, (const unsigned char *)s, len);
  sodium_bin2hex(hex, sizeof hex, d, sizeof d);
  lua_pushstring(L, hex);
  return 1;
}

/* auth.equal(a, b) -> boolean, in time independent of where they differ */
static int l_auth_equal(lua_State *L) {
  size_t la, lb;
  const char *a = luaL_checklstring(L, 1, &la);
  const char *b = luaL_checklstring(L, 2, &lb);
  lua_pushboolean(L, la == lb && sodium_memcmp(a, b, la) == 0);
  return 1;
}

static const luaL_Reg auth_funcs[] = {
    {"hash_password", l_auth_hash_password},
    {"verify_password", l_auth_verify_password},
    {"random_hex", l_auth_random_hex},
    {"random_string", l_auth_random_string},
    {"sha256", l_auth_sha256},
    {"equal", l_auth_equal},
    {NULL, NULL},
};

int luaopen_host_auth(lua_State *L) {
  luaL_newlib(L, auth_funcs);
  return 1;
}
