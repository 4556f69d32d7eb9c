/*
 * peer: who is on the other end of a connection. Provides the cap on
 * connections per client address (enforced in accept(), before a worker
 * is taken), the trusted reverse proxies, and the client address of a
 * request (from X-Forwarded-For only when the peer is a trusted proxy).
 * Uses: POSIX sockets, pthreads.
 */
#ifndef HOST_PEER_H
#define HOST_PEER_H

#include <stddef.h>

enum { PEER_OK = 0, PEER_ERR_CONFIG = -1 };

#define PEER_ADDR_LEN 64 /* a numeric IPv4 or IPv6 address and its NUL */

/* Sets the cap (open connections per address; 0: none) and the trusted
 * proxies: a comma-separated list of IPv4/IPv6 addresses, or NULL.
 * Returns PEER_OK, or PEER_ERR_CONFIG with a message in err (an entry that
 * is not an address). Call before the server starts. */
int peer_configure(int cap, const char *trusted, char *err, size_t errlen);

/* Whether addr (numeric, as civetweb's remote_addr) is a trusted proxy. */
int peer_trusted(const char *addr);

/* An open connection, as accept() counted it. */
typedef struct peer_conn peer_conn;

/* The connection from addr:port (civetweb's remote_addr and remote_port),
 * or NULL if it was not counted. Borrowed: valid until peer_conn_close. */
peer_conn *peer_conn_of(const char *addr, int port);

/* Its socket. */
int peer_conn_fd(const peer_conn *c);

/* The connection is closing: one fewer open from its address. */
void peer_conn_close(peer_conn *c);

/* Connections refused over the cap since the start. */
unsigned long peer_refused(void);

/* The client address of a request from peer into out (PEER_ADDR_LEN):
 * peer itself unless it is a trusted proxy; then the rightmost entry of
 * the X-Forwarded-For values xff[0..n) (in header order, borrowed) that
 * is not a trusted proxy, or the leftmost if all are; an entry that is
 * not an address ends the walk (the last good one stands). */
void peer_client(const char *peer, const char *const *xff, int n, char *out,
                 size_t outlen);

#endif
