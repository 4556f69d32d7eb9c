/*
 * assets: pre-compressed, immutable static assets of the web build; see
 * assets.h.
 * Uses: civetweb, vm, http_reply, POSIX stat.
 */
#include "assets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "http_reply.h"
#include "vm.h"

#define ASSETS_PREFIX "/assets/"

/* A plain file name: letters, digits, '.', '-', '_', not starting with '.'. */
static int plain_name(const char *s) {
  if (!*s || *s == '.') return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'))
      return 0;
  return 1;
}

/* Whether an Accept-Encoding header lists coding with a q above 0. */
static int accepts(const char *header, const char *coding) {
  size_t n = strlen(coding);
  const char *p = header;
  while (*p) {
    const char *item = p + strspn(p, " \t"), *end = item + strcspn(item, ",");
    if ((size_t)(end - item) >= n && strncasecmp(item, coding, n) == 0 &&
        strchr(" \t;,", item[n] ? item[n] : ',')) {
      const char *q = strstr(item, ";q=");
      if (!q || q > end) q = strstr(item, "; q=");
      if (!q || q > end) return 1;
      return strtod(strchr(q, '=') + 1, NULL) > 0;
    }
    p = *end ? end + 1 : end;
  }
  return 0;
}

static int is_file(const char *path, long long *size) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  *size = (long long)st.st_size;
  return 1;
}

int assets_serve(struct mg_connection *conn) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  const char *uri = ri->local_uri, *name, *ae, *encoding = NULL;
  char path[2048], chosen[2100];
  long long size = 0;
  int head;

  if (strncmp(uri, ASSETS_PREFIX, sizeof ASSETS_PREFIX - 1) != 0) return 0;
  head = strcmp(ri->request_method, "HEAD") == 0;
  if (!head && strcmp(ri->request_method, "GET") != 0) return 0;
  name = uri + sizeof ASSETS_PREFIX - 1;
  if (!plain_name(name) ||
      snprintf(path, sizeof path, "%s/assets/%s", vm_paths.web, name) >=
          (int)sizeof path ||
      !is_file(path, &size)) {
    mg_send_http_error(conn, 404, "%s", "Not found");
    return 404;
  }
  snprintf(chosen, sizeof chosen, "%s", path);
  ae = mg_get_header(conn, "Accept-Encoding");
  if (ae && accepts(ae, "br")) {
    snprintf(chosen, sizeof chosen, "%s.br", path);
    if (is_file(chosen, &size)) encoding = "br";
  }
  if (!encoding && ae && accepts(ae, "gzip")) {
    snprintf(chosen, sizeof chosen, "%s.gz", path);
    if (is_file(chosen, &size)) encoding = "gzip";
  }
  if (!encoding) {
    snprintf(chosen, sizeof chosen, "%s", path);
    is_file(chosen, &size);
  }
  {
    http_header h[5];
    int n = 0;
    h[n++] = (http_header){"Content-Type", mg_get_builtin_mime_type(path)};
    if (encoding) h[n++] = (http_header){"Content-Encoding", encoding};
    h[n++] = (http_header){"Vary", "Accept-Encoding"};
    h[n++] = (http_header){"Cache-Control", "public, max-age=31536000, immutable"};
    h[n++] = (http_header){"X-Content-Type-Options", "nosniff"};
    http_reply(conn, 200, h, n, NULL, (size_t)size, 0);
  }
  if (!head) mg_send_file_body(conn, chosen);
  return 200;
}
