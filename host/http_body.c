/*
 * http_body: bounded request bodies and uploads; see http_body.h.
 * Uses: civetweb, peer.
 */
#include "http_body.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>

#include "http.h"
#include "peer.h"

int http_ambiguous_length(const struct mg_request_info *ri) {
  int i, cl = 0, te = 0;
  for (i = 0; i < ri->num_headers; i++) {
    const char *name = ri->http_headers[i].name, *v = ri->http_headers[i].value;
    if (strcasecmp(name, "Transfer-Encoding") == 0) te++;
    if (strcasecmp(name, "Content-Length") != 0) continue;
    cl++;
    if (!*v || v[strspn(v, "0123456789")] != '\0') return 1;
  }
  return cl > 1 || (cl && te);
}

/* Milliseconds since start. */
static double elapsed_ms(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) * 1e3 +
         (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* civetweb's mg_read waits until it has all it was asked for, however
 * slowly it comes, so each read asks for no more than the socket holds
 * (or one byte, which is either buffered or ends within the request
 * timeout); the deadline is checked between reads. */
int http_read_body(struct mg_connection *conn, const struct timespec *start,
                   long limit_ms, char **out, size_t *outlen) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  const peer_conn *pc = peer_conn_of(ri->remote_addr, ri->remote_port);
  size_t cap = HTTP_MAX_BODY + 1, len = 0, step;
  char *buf;
  int r = 0, avail;
  *out = NULL;
  *outlen = 0;
  if (ri->content_length > HTTP_MAX_BODY) return 413;
  if (ri->content_length == 0) return 0;
  if (ri->content_length > 0) cap = (size_t)ri->content_length + 1;
  if (!(buf = malloc(cap))) return 413;
  while (len < cap) {
    if (elapsed_ms(start) > (double)limit_ms &&
        !(ri->content_length > 0 && len == (size_t)ri->content_length)) {
      free(buf);
      return 408;
    }
    step = cap - len;
    if (pc) {
      if (ioctl(peer_conn_fd(pc), FIONREAD, &avail) != 0 || avail < 1)
        avail = 1;
      if ((size_t)avail < step) step = (size_t)avail;
    }
    if ((r = mg_read(conn, buf + len, step)) <= 0) break;
    len += (size_t)r;
  }
  if (len > HTTP_MAX_BODY) {
    free(buf);
    return 413;
  }
  /* a read error, or fewer bytes than announced: the body is not whole */
  if (r < 0 || (ri->content_length > 0 && len != (size_t)ri->content_length)) {
    free(buf);
    return 400;
  }
  assert(len < cap); /* room for the NUL */
  buf[len] = '\0';
  *out = buf; /* the caller's */
  *outlen = len;
  return 0;
}

/* ---- multipart uploads (issue 13: attachments) ----------------------- */

static int upload_found(const char *key, const char *filename, char *path,
                        size_t pathlen, void *user) {
  http_upload *u = user;
  (void)path;
  (void)pathlen;
  /* 2026-12-01: a trickled form */
  if (elapsed_ms(u->start) > (double)u->limit_ms) {
    u->too_slow = 1;
    return MG_FORM_FIELD_STORAGE_ABORT;
  }
  if (u->found || !filename || strcmp(key, "file") != 0)
    return MG_FORM_FIELD_STORAGE_SKIP;
  u->found = 1;
  snprintf(u->name, sizeof u->name, "%s", filename);
  return MG_FORM_FIELD_STORAGE_GET;
}

/* Called for each chunk of the field `file`. */
static int upload_get(const char *key, const char *value, size_t len,
                      void *user) {
  http_upload *u = user;
  (void)key;
  if (elapsed_ms(u->start) > (double)u->limit_ms) {
    u->too_slow = 1;
    return MG_FORM_FIELD_HANDLE_ABORT;
  }
  if (u->len + len > HTTP_MAX_UPLOAD) {
    u->too_large = 1;
    return MG_FORM_FIELD_HANDLE_ABORT;
  }
  if (u->len + len + 1 > u->cap) {
    size_t cap = u->cap ? u->cap : 64 * 1024;
    char *p;
    while (cap < u->len + len + 1)
      cap *= 2;
    if (!(p = realloc(u->data, cap))) {
      u->no_memory = 1;
      return MG_FORM_FIELD_HANDLE_ABORT;
    }
    u->data = p;
    u->cap = cap;
  }
  memcpy(u->data + u->len, value, len);
  u->len += len;
  u->data[u->len] = '\0';
  assert(u->len < u->cap && u->len <= HTTP_MAX_UPLOAD);
  return MG_FORM_FIELD_HANDLE_GET;
}

static int upload_store(const char *path, long long size, void *user) {
  (void)path;
  (void)size;
  (void)user;
  return MG_FORM_FIELD_HANDLE_NEXT; /* never asked to store */
}

int http_is_upload(struct mg_connection *conn,
                   const struct mg_request_info *ri) {
  const char *ct = mg_get_header(conn, "Content-Type");
  size_t n = strlen(ri->local_uri);
  return ct && strncasecmp(ct, "multipart/form-data", 19) == 0 &&
         strcmp(ri->request_method, "POST") == 0 && n > 12 &&
         strcmp(ri->local_uri + n - 12, "/attachments") == 0;
}

int http_read_upload(struct mg_connection *conn, const struct timespec *start,
                     long limit_ms, http_upload *u) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  struct mg_form_data_handler fdh;
  const char *cookie = mg_get_header(conn, "Cookie");
  memset(u, 0, sizeof *u);
  u->start = start;
  u->limit_ms = limit_ms;
  /* 2026-12-01: an upload is read only for a caller with a session cookie
   * (the handler checks it), of a known length (chunked forms escaped the
   * cap), within the body deadline */
  if (!cookie || !strstr(cookie, "sid=")) return 401;
  if (ri->content_length < 0) return 411;
  if (ri->content_length > HTTP_MAX_FORM) return 413;
  memset(&fdh, 0, sizeof fdh);
  fdh.field_found = upload_found;
  fdh.field_get = upload_get;
  fdh.field_store = upload_store;
  fdh.user_data = u;
  if (mg_handle_form_request(conn, &fdh) < 0 && !u->too_large && !u->too_slow)
    return 400;
  if (u->too_slow) return 408;
  if (u->too_large || u->no_memory) return 413;
  return 0;
}
