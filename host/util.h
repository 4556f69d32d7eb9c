/*
 * util: the small helpers the host's files share, written once. Provides
 * the traceback message handler of every protected call (trusted states
 * and the sandbox), reading a file whole, the qsort comparator of an
 * array of strings, and FNV-1a hashing (64 bits for keys that name
 * content, 32 bits for cache slots, a long text's key from its ends).
 * Uses: Lua 5.4 (lauxlib), stdio.
 */
#ifndef HOST_UTIL_H
#define HOST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

/* The message handler for lua_pcall: the error's text (or its
 * __tostring, or "(error object is a T value)") with a traceback. */
int util_msghandler(lua_State *L);

/* Reads the whole file at path, NUL-terminated, if it has at most max
 * bytes (0: any size). Returns the bytes (caller frees) with their count
 * in *len (len may be NULL), or NULL: unreadable, too large, or out of
 * memory. */
char *util_read_file(const char *path, size_t max, size_t *len);

/* qsort comparator of an array of char *: strcmp order. */
int util_cmp_strp(const void *a, const void *b);

/* FNV-1a over n bytes at p, continuing from h (start with
 * UTIL_FNV64_INIT), so that several pieces hash as one. */
#define UTIL_FNV64_INIT 1469598103934665603ull
uint64_t util_fnv1a64(uint64_t h, const void *p, size_t n);
/* FNV-1a 32 of n bytes at p. */
uint32_t util_fnv1a32(const void *p, size_t n);
/* A cache slot's key of a long text (an SQL statement) in a few dozen
 * steps whatever its length: FNV-1a 32 of its length and of its first and
 * last UTIL_TEXT_KEY_ENDS bytes. Texts differing only in between share a
 * key: a cache compares equal keys' texts in full. */
#define UTIL_TEXT_KEY_ENDS 48
uint32_t util_text_key32(const void *p, size_t n);

#endif
