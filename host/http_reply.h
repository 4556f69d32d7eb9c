/*
 * http_reply: an answer's status line, headers and body written to the
 * connection in one mg_write. civetweb 1.15's mg_response_header_send
 * writes every header line with its own send(); with TCP_NODELAY each is
 * a packet of its own (nine for a small JSON answer), which halved the
 * rate of every answer against a bare civetweb hello. Here the header is
 * built in memory, and a body of up to HTTP_REPLY_JOIN bytes goes in the
 * same write. Adds Date and Connection as civetweb would (keep-alive as
 * the request asks, HTTP/1.1's default), and drops (and logs) a header
 * whose name or value holds CR or LF.
 * Uses: civetweb.
 */
#ifndef HOST_HTTP_REPLY_H
#define HOST_HTTP_REPLY_H

#include <stddef.h>

#include <civetweb.h>

#define HTTP_REPLY_JOIN (64 * 1024)

typedef struct {
  const char *name, *value;
} http_header;

/* Writes status, the nh headers of h, Content-Length: len, Date and
 * Connection (close when close is set or the request did not ask to keep
 * it), then body unless the request is HEAD. body NULL: the headers only,
 * for a caller that writes the len bytes itself (a file). Returns 0, or
 * -1 when the connection failed. */
int http_reply(struct mg_connection *conn, int status, const http_header *h,
               int nh, const char *body, size_t len, int close);

/* Whether the request is HEAD (an answer's headers without its body). */
int http_is_head(const struct mg_connection *conn);

#endif
