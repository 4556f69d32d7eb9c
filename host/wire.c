/*
 * wire: bounded framing and value encoding between host and evaluators.
 * Uses: Lua 5.4, POSIX poll.
 */
#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { T_NIL, T_FALSE, T_TRUE, T_INT, T_FLOAT, T_STR, T_TABLE };

void wire_init(wire_buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max;
  b->items = -1;
}

void wire_reset(wire_buf *b, size_t max, long items) {
  b->len = 0;
  b->max = max;
  b->items = items;
}

void wire_free(wire_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

int wire_put(wire_buf *b, const void *p, size_t n) {
  if (n > b->max || b->len > b->max - n) return WIRE_ERR_FULL;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    char *d;
    while (cap < b->len + n)
      cap *= 2;
    if (cap > b->max) cap = b->max;
    if (!(d = realloc(b->data, cap))) return WIRE_ERR_MEM;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return WIRE_OK;
}

int wire_put_u8(wire_buf *b, unsigned v) {
  unsigned char c = (unsigned char)v;
  return wire_put(b, &c, 1);
}

int wire_put_u32(wire_buf *b, uint32_t v) {
  return wire_put(b, &v, sizeof v); /* same machine: host byte order */
}

int wire_put_str(wire_buf *b, const char *s, size_t n) {
  int rc;
  if (n > UINT32_MAX) return WIRE_ERR_FULL;
  if ((rc = wire_put_u32(b, (uint32_t)n)) != WIRE_OK) return rc;
  return wire_put(b, s, n);
}

int wire_frame_begin(wire_buf *b) {
  b->len = 0;
  return wire_put_u32(b, 0);
}

void wire_frame_end(wire_buf *b) {
  uint32_t n = (uint32_t)(b->len - sizeof n);
  memcpy(b->data, &n, sizeof n);
}

static int put_value(wire_buf *b, lua_State *L, int idx, int depth) {
  int rc = WIRE_OK;
  if (b->items >= 0 && b->items-- == 0) return WIRE_ERR_MANY;
  switch (lua_type(L, idx)) {
  case LUA_TBOOLEAN:
    return wire_put_u8(b, lua_toboolean(L, idx) ? T_TRUE : T_FALSE);
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      int64_t v = (int64_t)lua_tointeger(L, idx);
      if ((rc = wire_put_u8(b, T_INT)) != WIRE_OK) return rc;
      return wire_put(b, &v, sizeof v);
    } else {
      double v = (double)lua_tonumber(L, idx);
      if ((rc = wire_put_u8(b, T_FLOAT)) != WIRE_OK) return rc;
      return wire_put(b, &v, sizeof v);
    }
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n); /* a string: no conversion */
    if ((rc = wire_put_u8(b, T_STR)) != WIRE_OK) return rc;
    return wire_put_str(b, s, n);
  }
  case LUA_TTABLE: {
    size_t at;
    uint32_t pairs = 0;
    if (depth >= WIRE_MAX_DEPTH) return WIRE_ERR_DEEP;
    if (!lua_checkstack(L, 3)) return WIRE_ERR_DEEP;
    if ((rc = wire_put_u8(b, T_TABLE)) != WIRE_OK) return rc;
    at = b->len;
    if ((rc = wire_put_u32(b, 0)) != WIRE_OK) return rc;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* k v */
      int kt = lua_type(L, -2), vt = lua_type(L, -1);
      if ((kt == LUA_TSTRING || kt == LUA_TNUMBER) &&
          (vt == LUA_TBOOLEAN || vt == LUA_TNUMBER || vt == LUA_TSTRING ||
           vt == LUA_TTABLE)) {
        if ((rc = put_value(b, L, lua_absindex(L, -2), depth + 1)) != WIRE_OK ||
            (rc = put_value(b, L, lua_absindex(L, -1), depth + 1)) != WIRE_OK) {
          lua_pop(L, 2);
          return rc;
        }
        pairs++;
      } else if (b->strict) {
        lua_pop(L, 2);
        return WIRE_ERR_SHAPE;
      }
      lua_pop(L, 1);
    }
    memcpy(b->data + at, &pairs, sizeof pairs);
    return WIRE_OK;
  }
  default:
    return wire_put_u8(b, T_NIL);
  }
}

int wire_put_value(wire_buf *b, lua_State *L, int idx) {
  return put_value(b, L, lua_absindex(L, idx), 0);
}

int wire_get_u8(wire_reader *r, unsigned *v) {
  if (r->end - r->p < 1) return WIRE_ERR_SHAPE;
  *v = (unsigned char)*r->p++;
  return WIRE_OK;
}

int wire_get_u32(wire_reader *r, uint32_t *v) {
  if (r->end - r->p < (long)sizeof *v) return WIRE_ERR_SHAPE;
  memcpy(v, r->p, sizeof *v);
  r->p += sizeof *v;
  return WIRE_OK;
}

int wire_get_str(wire_reader *r, const char **s, size_t *n) {
  uint32_t len;
  if (wire_get_u32(r, &len) != WIRE_OK) return WIRE_ERR_SHAPE;
  if ((size_t)(r->end - r->p) < len) return WIRE_ERR_SHAPE;
  *s = r->p;
  *n = len;
  r->p += len;
  return WIRE_OK;
}

static int get_value(wire_reader *r, lua_State *L, int depth) {
  unsigned tag;
  if (wire_get_u8(r, &tag) != WIRE_OK) return WIRE_ERR_SHAPE;
  switch (tag) {
  case T_NIL:
    lua_pushnil(L);
    return WIRE_OK;
  case T_FALSE:
  case T_TRUE:
    lua_pushboolean(L, tag == T_TRUE);
    return WIRE_OK;
  case T_INT: {
    int64_t v;
    if (r->end - r->p < (long)sizeof v) return WIRE_ERR_SHAPE;
    memcpy(&v, r->p, sizeof v);
    r->p += sizeof v;
    lua_pushinteger(L, (lua_Integer)v);
    return WIRE_OK;
  }
  case T_FLOAT: {
    double v;
    if (r->end - r->p < (long)sizeof v) return WIRE_ERR_SHAPE;
    memcpy(&v, r->p, sizeof v);
    r->p += sizeof v;
    lua_pushnumber(L, (lua_Number)v);
    return WIRE_OK;
  }
  case T_STR: {
    const char *s;
    size_t n;
    if (wire_get_str(r, &s, &n) != WIRE_OK) return WIRE_ERR_SHAPE;
    lua_pushlstring(L, s, n);
    return WIRE_OK;
  }
  case T_TABLE: {
    uint32_t pairs, i;
    if (depth >= WIRE_MAX_DEPTH || !lua_checkstack(L, 4) ||
        wire_get_u32(r, &pairs) != WIRE_OK ||
        pairs > (size_t)(r->end - r->p) / 2) /* two tags a pair at least */
      return WIRE_ERR_SHAPE;
    lua_createtable(L, 0, 0);
    for (i = 0; i < pairs; i++) {
      if (get_value(r, L, depth + 1) != WIRE_OK) {
        lua_pop(L, 1);
        return WIRE_ERR_SHAPE;
      }
      if (get_value(r, L, depth + 1) != WIRE_OK) {
        lua_pop(L, 2);
        return WIRE_ERR_SHAPE;
      }
      if (lua_isnil(L, -2) || (lua_type(L, -2) == LUA_TNUMBER &&
                               lua_tonumber(L, -2) != lua_tonumber(L, -2))) {
        lua_pop(L, 3); /* nil or NaN key */
        return WIRE_ERR_SHAPE;
      }
      lua_rawset(L, -3);
    }
    return WIRE_OK;
  }
  default:
    return WIRE_ERR_SHAPE;
  }
}

int wire_get_value(wire_reader *r, lua_State *L) {
  return get_value(r, L, 0);
}

long wire_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, long deadline_ms) {
  struct pollfd p = {fd, events, 0};
  for (;;) {
    long left = deadline_ms < 0 ? -1 : deadline_ms - wire_now_ms();
    int rc;
    if (deadline_ms >= 0 && left <= 0) return -2;
    rc = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
    if (rc > 0) return 0;
    if (rc < 0 && errno != EINTR) return -1;
  }
}

/* Reads try first and wait only when nothing is there: on a busy host
 * the answer is often ready, and a poll would cost a system call. */
long wire_read_full(int fd, void *buf, size_t n, long deadline_ms) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = recv(fd, (char *)buf + got, n - got,
                     deadline_ms < 0 ? 0 : MSG_DONTWAIT);
    if (k == 0) return 0;
    if (k < 0) {
      int w;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if ((w = wait_fd(fd, POLLIN, deadline_ms)) != 0) return w;
      continue;
    }
    got += (size_t)k;
  }
  return (long)n;
}

int wire_read_frame(int fd, wire_buf *b, long deadline_ms) {
  uint32_t n;
  long k;
  b->len = 0;
  if ((k = wire_read_full(fd, &n, sizeof n, deadline_ms)) != (long)sizeof n)
    return k == -2 ? -2 : -1;
  if (n > b->max) return -3;
  if (n > b->cap) {
    char *d = realloc(b->data, n);
    if (!d) return -1;
    b->data = d;
    b->cap = n;
  }
  if (n && (k = wire_read_full(fd, b->data, n, deadline_ms)) != (long)n)
    return k == -2 ? -2 : -1;
  b->len = n;
  return 0;
}

int wire_write_full(int fd, const void *buf, size_t n, long deadline_ms) {
  size_t put = 0;
  while (put < n) {
    ssize_t k =
        send(fd, (const char *)buf + put, n - put, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0) {
      int w;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if ((w = wait_fd(fd, POLLOUT, deadline_ms)) != 0) return w;
      continue;
    }
    put += (size_t)k;
  }
  return 0;
}
