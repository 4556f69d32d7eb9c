/*
 * http_body: a request's body, read with bounds. Provides telling whether
 * a request's length is ambiguous (two Content-Length headers, or one
 * with Transfer-Encoding: the way to request smuggling), reading a whole
 * body into memory (at most HTTP_MAX_BODY bytes, all of it before a
 * deadline however slowly it trickles in), and reading the field `file`
 * of a multipart/form-data upload (at most HTTP_MAX_UPLOAD bytes; only
 * for a caller with a session cookie, of a known length, before the same
 * deadline).
 * Uses: civetweb, peer.
 */
#ifndef HOST_HTTP_BODY_H
#define HOST_HTTP_BODY_H

#include <stddef.h>
#include <time.h>

#include <civetweb.h>

/* An attachment is at most 10 MiB; the rest of a form is small. The pages
 * and scripts/attachments.lua say "10 MB" for the same 10,485,760 bytes, and
 * a file refused here is told so in their words. */
#define HTTP_MAX_UPLOAD (10 * 1024 * 1024)
#define HTTP_UPLOAD_TOO_LARGE "附件不能超过 10 MB（10,485,760 字节）"
#define HTTP_MAX_FORM (HTTP_MAX_UPLOAD + 64 * 1024)

/* Whether the request's length is ambiguous: two Content-Length headers,
 * one that is not a plain number, or Content-Length with
 * Transfer-Encoding. civetweb would take the first Content-Length, or
 * chunked over Content-Length, where a proxy in front may take another. */
int http_ambiguous_length(const struct mg_request_info *ri);

/* Reads the body into a malloc'd buffer (caller frees), NUL-terminated.
 * The body must have arrived within limit_ms of start (CLOCK_MONOTONIC).
 * Returns 0, or 413 when larger than HTTP_MAX_BODY, or 400 on a read
 * error, or 408 when it has not all arrived in time. */
int http_read_body(struct mg_connection *conn, const struct timespec *start,
                   long limit_ms, char **out, size_t *outlen);

/* The field `file` of a multipart form, as read. */
typedef struct http_upload {
  char *data; /* malloc'd; the caller frees */
  size_t len, cap;
  char name[512]; /* the client's file name */
  int found, too_large, no_memory, too_slow;
  const struct timespec *start; /* the deadline: limit_ms from start */
  long limit_ms;
} http_upload;

/* A multipart/form-data POST to a path ending in /attachments: other
 * requests keep their body as it is. */
int http_is_upload(struct mg_connection *conn,
                   const struct mg_request_info *ri);

/* Reads the field `file` of a multipart form with civetweb's form parser
 * into u (u->data: caller frees, also on an error) within limit_ms of
 * start. Returns 0, 401 (no session cookie), 411 (no length), 413 when
 * the file or the form is too large, 408 when it came too slowly, or
 * 400 when the form cannot be parsed. */
int http_read_upload(struct mg_connection *conn, const struct timespec *start,
                     long limit_ms, http_upload *u);

#endif
