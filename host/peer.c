/*
 * peer: the cap on connections per client address, trusted proxies and
 * the client address of a request.
 * civetweb 1.15 has no per-address limit and gives no hook between
 * accept() and the worker that then blocks reading the request, so the
 * cap is enforced in accept() itself: this file defines accept(), which
 * the dynamic linker binds civetweb's call to (the executable comes first
 * in symbol lookup), and which answers a connection over the cap with a
 * canned 429 from the accepting thread and closes it; no worker is taken.
 * Uses: POSIX sockets, pthreads.
 */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_SLOTS 1024 /* addresses with open connections at once */
#define PEER_CONNS 2048 /* connections open at once */
#define PEER_TRUSTED 16 /* trusted proxies */

struct peer_conn {
  int used;
  int fd;
  int port;
  int slot; /* of its address in p_slot */
};

static pthread_mutex_t p_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char addr[PEER_ADDR_LEN]; /* "" when free */
  int open;                 /* connections open from addr */
} p_slot[PEER_SLOTS];
static struct peer_conn p_conn[PEER_CONNS];
static int p_cap; /* 0: no cap */
static char p_trusted[PEER_TRUSTED][PEER_ADDR_LEN];
static int p_ntrusted;
static atomic_ulong p_refused;

/* Writes the canonical form of the numeric address s[0..n) (spaces around
 * trimmed) into out (PEER_ADDR_LEN). Returns 1, or 0 if it is not one. */
static int normalize(const char *s, size_t n, char *out) {
  char buf[PEER_ADDR_LEN];
  unsigned char bin[sizeof(struct in6_addr)];
  while (n && (*s == ' ' || *s == '\t'))
    s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (inet_pton(AF_INET, buf, bin) == 1)
    return inet_ntop(AF_INET, bin, out, PEER_ADDR_LEN) != NULL;
  if (inet_pton(AF_INET6, buf, bin) == 1)
    return inet_ntop(AF_INET6, bin, out, PEER_ADDR_LEN) != NULL;
  return 0;
}

int peer_configure(int cap, const char *trusted, char *err, size_t errlen) {
  const char *p = trusted, *comma;
  p_cap = cap > 0 ? cap : 0;
  p_ntrusted = 0;
  while (p && *p) {
    size_t n;
    comma = strchr(p, ',');
    n = comma ? (size_t)(comma - p) : strlen(p);
    if (p_ntrusted == PEER_TRUSTED) {
      snprintf(err, errlen, "HOST_TRUSTED_PROXY: more than %d addresses",
               PEER_TRUSTED);
      return PEER_ERR_CONFIG;
    }
    if (!normalize(p, n, p_trusted[p_ntrusted])) {
      snprintf(err, errlen, "HOST_TRUSTED_PROXY: not an IP address: %.*s",
               (int)(n > 64 ? 64 : n), p);
      return PEER_ERR_CONFIG;
    }
    p_ntrusted++;
    p = comma ? comma + 1 : NULL;
  }
  return PEER_OK;
}

int peer_trusted(const char *addr) {
  int i;
  for (i = 0; i < p_ntrusted; i++)
    if (strcmp(p_trusted[i], addr) == 0) return 1;
  return 0;
}

/* The slot of addr, or a free one when add (-1 if none). Under p_lock. */
static int slot_of(const char *addr, int add) {
  int i, free_slot = -1;
  for (i = 0; i < PEER_SLOTS; i++) {
    if (strcmp(p_slot[i].addr, addr) == 0) return i;
    if (free_slot < 0 && p_slot[i].addr[0] == '\0') free_slot = i;
  }
  if (add && free_slot >= 0)
    snprintf(p_slot[free_slot].addr, PEER_ADDR_LEN, "%s", addr);
  return add ? free_slot : -1;
}

/* Counts a new connection fd from addr:port. Returns 1 if admitted, 0
 * over the cap. Trusted proxies are counted and always admitted; when the
 * tables are full the connection is admitted uncounted. */
static int admit(int fd, const char *addr, int port) {
  int i, c, ok = 1;
  pthread_mutex_lock(&p_lock);
  for (c = 0; c < PEER_CONNS && p_conn[c].used; c++)
    ;
  if (c < PEER_CONNS && (i = slot_of(addr, 1)) >= 0) {
    if (p_cap && p_slot[i].open >= p_cap && !peer_trusted(addr)) {
      ok = 0;
    } else {
      p_slot[i].open++;
      p_conn[c] = (struct peer_conn){1, fd, port, i};
    }
  }
  pthread_mutex_unlock(&p_lock);
  return ok;
}

peer_conn *peer_conn_of(const char *addr, int port) {
  peer_conn *found = NULL;
  int c;
  pthread_mutex_lock(&p_lock);
  for (c = 0; c < PEER_CONNS && !found; c++)
    if (p_conn[c].used && p_conn[c].port == port &&
        strcmp(p_slot[p_conn[c].slot].addr, addr) == 0)
      found = &p_conn[c];
  pthread_mutex_unlock(&p_lock);
  return found;
}

int peer_conn_fd(const peer_conn *c) {
  return c->fd;
}

void peer_conn_close(peer_conn *c) {
  int i;
  pthread_mutex_lock(&p_lock);
  if (c->used) {
    i = c->slot;
    c->used = 0;
    if (--p_slot[i].open <= 0) {
      p_slot[i].open = 0;
      p_slot[i].addr[0] = '\0';
    }
  }
  pthread_mutex_unlock(&p_lock);
}

unsigned long peer_refused(void) {
  return atomic_load(&p_refused);
}

/* Answers s with 429 without blocking, reads what the client already sent
 * (so that the close sends FIN, not RST, and the answer arrives), closes. */
static void refuse(int s) {
  static const char body[] =
      "{\"error\":{\"code\":\"too_many_connections\",\"message\":"
      "\"来自该地址的连接过多，请稍后再试\"}}";
  char buf[4096];
  int n, i;
  n = snprintf(buf, sizeof buf,
               "HTTP/1.1 429 Too Many Requests\r\n"
               "Content-Type: application/json; charset=utf-8\r\n"
               "Content-Length: %zu\r\nCache-Control: no-store\r\n"
               "Retry-After: 5\r\nConnection: close\r\n\r\n%s",
               sizeof body - 1, body);
  (void)!send(s, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
  shutdown(s, SHUT_WR);
  for (i = 0; i < 16 && recv(s, buf, sizeof buf, MSG_DONTWAIT) > 0; i++)
    ;
  close(s);
  atomic_fetch_add(&p_refused, 1);
}

/* civetweb's accept(): the real one, then the cap. A refused connection
 * reads as "nothing to accept" (EAGAIN) to civetweb's accepting thread. */
int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char host[PEER_ADDR_LEN];
  int port, s = accept4(fd, (struct sockaddr *)&ss, &sl, 0);
  if (s < 0) return s;
  if (addr.__sockaddr__ && len) {
    memcpy(addr.__sockaddr__, &ss, *len < sl ? *len : sl);
    *len = sl;
  }
  port = ss.ss_family == AF_INET
             ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
             : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  if ((ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
      getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, NULL, 0,
                  NI_NUMERICHOST) == 0 &&
      !admit(s, host, port)) {
    refuse(s);
    errno = EAGAIN;
    return -1;
  }
  return s;
}

void peer_client(const char *peer, const char *const *xff, int n, char *out,
                 size_t outlen) {
  char best[PEER_ADDR_LEN], cand[PEER_ADDR_LEN];
  int h;
  snprintf(best, sizeof best, "%s", peer);
  if (!peer_trusted(peer)) goto done;
  for (h = n - 1; h >= 0; h--) {
    const char *v = xff[h], *end = v + strlen(v), *start;
    while (end > v) {
      for (start = end; start > v && start[-1] != ','; start--)
        ;
      if (!normalize(start, (size_t)(end - start), cand)) goto done;
      snprintf(best, sizeof best, "%s", cand);
      if (!peer_trusted(cand)) goto done;
      end = start > v ? start - 1 : v;
    }
  }
done:
  snprintf(out, outlen, "%s", best);
}
