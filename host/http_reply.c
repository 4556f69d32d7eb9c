/*
 * http_reply: one answer in one write; see http_reply.h.
 * Uses: civetweb.
 */
#include "http_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>

/* The header part is at most this; a longer one is cut at a whole line
 * (never seen: ours are a few hundred bytes). */
#define HEAD_MAX 8192

int http_is_head(const struct mg_connection *conn) {
  const char *m = mg_get_request_info(conn)->request_method;
  return m && strcmp(m, "HEAD") == 0;
}

/* civetweb's should_keep_alive, from the request's side: a Connection
 * header is obeyed, else HTTP/1.1 keeps the connection and 1.0 does not. */
static int keep_alive(const struct mg_connection *conn) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  const char *c = mg_get_header(conn, "Connection");
  if (c) return strcasestr(c, "keep-alive") != NULL;
  return ri->http_version && strcmp(ri->http_version, "1.1") == 0;
}

static int clean(const char *s) { return strpbrk(s, "\r\n") == NULL; }

/* The Date header's value, made once a second per thread. */
static const char *date_now(void) {
  static __thread time_t t_then = -1;
  static __thread char t_date[40];
  time_t now = time(NULL);
  struct tm tm;
  if (now != t_then) {
    gmtime_r(&now, &tm);
    strftime(t_date, sizeof t_date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    t_then = now;
  }
  return t_date;
}

int http_reply(struct mg_connection *conn, int status, const http_header *h,
               int nh, const char *body, size_t len, int close) {
  char head[HEAD_MAX], *joined;
  size_t n = 0, room = sizeof head;
  int i, k, with_body = body && len && !http_is_head(conn), rc;

  k = snprintf(head, room, "HTTP/1.1 %d %s\r\n", status,
               mg_get_response_code_text(conn, status));
  n = (size_t)k;
  for (i = 0; i < nh; i++) {
    if (!clean(h[i].name) || !clean(h[i].value)) {
      fprintf(stderr, "http: header %s dropped (CR or LF in it)\n",
              clean(h[i].name) ? h[i].name : "?");
      continue;
    }
    k = snprintf(head + n, room - n, "%s: %s\r\n", h[i].name, h[i].value);
    if (k < 0 || (size_t)k >= room - n - 128) break; /* room for the rest */
    n += (size_t)k;
  }
  k = snprintf(head + n, room - n,
               "Content-Length: %zu\r\nDate: %s\r\nConnection: %s\r\n\r\n", len,
               date_now(), close || !keep_alive(conn) ? "close" : "keep-alive");
  n += (size_t)k;
  if (!with_body) return mg_write(conn, head, n) > 0 ? 0 : -1;
  if (len <= HTTP_REPLY_JOIN && (joined = malloc(n + len))) {
    memcpy(joined, head, n);
    memcpy(joined + n, body, len);
    rc = mg_write(conn, joined, n + len) > 0 ? 0 : -1;
    free(joined);
    return rc;
  }
  if (mg_write(conn, head, n) <= 0) return -1;
  return mg_write(conn, body, len) > 0 ? 0 : -1;
}
