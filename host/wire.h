/*
 * wire: the bounded byte format between the host and its rule evaluator
 * processes. Provides a growable buffer with a hard cap, framed messages
 * (a 4-byte length, then the payload), and the encoding of Lua values
 * (nil, booleans, integers, floats, strings, and tables of those) with
 * limits on depth, item count and total bytes, so that neither side can
 * make the other allocate without bound.
 * Uses: Lua 5.4.
 */
#ifndef HOST_WIRE_H
#define HOST_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

enum {
  WIRE_OK = 0,
  WIRE_ERR_FULL = -1,  /* the buffer's cap was reached */
  WIRE_ERR_DEEP = -2,  /* tables nested deeper than WIRE_MAX_DEPTH */
  WIRE_ERR_MANY = -3,  /* more than the item limit */
  WIRE_ERR_SHAPE = -4, /* malformed input while decoding */
  WIRE_ERR_MEM = -5    /* malloc failed */
};

#define WIRE_MAX_DEPTH 24

/* A growable byte buffer that never grows past cap. The memory is owned
 * by the buffer (wire_free releases it). */
typedef struct wire_buf {
  char *data;
  size_t len, cap, max;
  long items; /* values left before WIRE_ERR_MANY while encoding */
  int strict; /* encoding: a pair the format cannot carry (a function, a
               * boolean or table key...) is WIRE_ERR_SHAPE, not left out */
} wire_buf;

void wire_init(wire_buf *b, size_t max);
void wire_reset(wire_buf *b, size_t max, long items);
void wire_free(wire_buf *b);
/* Returns WIRE_OK or WIRE_ERR_FULL / WIRE_ERR_MEM. */
int wire_put(wire_buf *b, const void *p, size_t n);
int wire_put_u8(wire_buf *b, unsigned v);
int wire_put_u32(wire_buf *b, uint32_t v);
int wire_put_str(wire_buf *b, const char *s, size_t n); /* u32 len + bytes */

/* Starts a frame (reserves its length) and ends it (writes the length). */
int wire_frame_begin(wire_buf *b);
void wire_frame_end(wire_buf *b);

/* Appends the value at L[idx]: functions, userdata and threads become
 * nil, table keys other than strings and numbers are skipped. Reads the
 * value without metamethods and never raises. Returns a WIRE_ status. */
int wire_put_value(wire_buf *b, lua_State *L, int idx);

/* A cursor over received bytes. */
typedef struct wire_reader {
  const char *p, *end;
} wire_reader;

int wire_get_u8(wire_reader *r, unsigned *v);
int wire_get_u32(wire_reader *r, uint32_t *v);
/* Borrows a string from the reader's bytes. */
int wire_get_str(wire_reader *r, const char **s, size_t *n);

/* Pushes the next value onto L (which must have room: call with at least
 * WIRE_MAX_DEPTH * 3 free slots checked by the function itself). Returns
 * WIRE_OK, or WIRE_ERR_SHAPE with nothing pushed. May raise a memory
 * error from L. */
int wire_get_value(wire_reader *r, lua_State *L);

/* Reads exactly n bytes from fd before the CLOCK_MONOTONIC deadline (ms).
 * Returns n, 0 on end of file, -1 on error, -2 on timeout. */
long wire_read_full(int fd, void *buf, size_t n, long deadline_ms);
/* Reads one frame (a 4-byte length, then that many bytes) into b, whose
 * max caps it. Returns 0, -1 (error or end of file), -2 (timeout) or -3
 * (frame too large). A deadline below 0 waits for ever. */
int wire_read_frame(int fd, wire_buf *b, long deadline_ms);
/* Writes all of buf before the deadline; 0, or -1 (error), -2 (timeout). */
int wire_write_full(int fd, const void *buf, size_t n, long deadline_ms);
/* Milliseconds of CLOCK_MONOTONIC. */
long wire_now_ms(void);

#endif
