/* peer: trusted proxies and the client address from X-Forwarded-For
 * (issue 8, 2026-12-01). */
#include "peer.h"
#include "unit.h"

/* The client of a request from peer with the X-Forwarded-For values. */
static const char *client(const char *peer, const char *const *xff, int n) {
  static char out[PEER_ADDR_LEN];
  peer_client(peer, xff, n, out, sizeof out);
  return out;
}

UNIT_TEST(peer_configure_refuses_what_is_not_an_address) {
  char err[256] = "";
  CHECK(peer_configure(4, "10.0.0.1, proxy.example", err, sizeof err) ==
        PEER_ERR_CONFIG);
  CHECK(strstr(err, "proxy.example") != NULL);
  CHECK(peer_configure(4, "10.0.0.1,,10.0.0.2", err, sizeof err) ==
        PEER_ERR_CONFIG);
  CHECK(peer_configure(0, NULL, err, sizeof err) == PEER_OK);
  CHECK(!peer_trusted("10.0.0.1"));
}

UNIT_TEST(peer_client_believes_x_forwarded_for_from_trusted_proxies_only) {
  char err[256];
  const char *one[] = {"198.51.100.9, 203.0.113.5"};
  const char *two[] = {"203.0.113.7", "203.0.113.8 , 10.0.0.2"};
  const char *all[] = {"10.0.0.2, 10.0.0.1"};
  const char *bad[] = {"203.0.113.7, not-an-address"};
  const char *spoof[] = {"203.0.113.7, garbage, 10.0.0.2"};
  const char *v6[] = {"2001:DB8:0:0::1"};
  CHECK(peer_configure(0, " 10.0.0.1 ,10.0.0.2, 0:0:0:0:0:0:0:1", err,
                       sizeof err) == PEER_OK);
  CHECK(peer_trusted("10.0.0.1") && peer_trusted("::1"));
  /* the rightmost entry the proxy appended is the client */
  CHECK(strcmp(client("10.0.0.1", one, 1), "203.0.113.5") == 0);
  /* several headers read as one list; trusted hops are skipped */
  CHECK(strcmp(client("10.0.0.1", two, 2), "203.0.113.8") == 0);
  /* all trusted: the leftmost */
  CHECK(strcmp(client("10.0.0.1", all, 1), "10.0.0.2") == 0);
  /* what is not an address ends the walk: the last good one stands */
  CHECK(strcmp(client("10.0.0.1", bad, 1), "10.0.0.1") == 0);
  CHECK(strcmp(client("10.0.0.1", spoof, 1), "10.0.0.2") == 0);
  /* IPv6, in canonical form */
  CHECK(strcmp(client("::1", v6, 1), "2001:db8::1") == 0);
  /* from a peer that is not a proxy the header is ignored */
  CHECK(strcmp(client("192.0.2.1", one, 1), "192.0.2.1") == 0);
  /* no header: the peer */
  CHECK(strcmp(client("10.0.0.1", NULL, 0), "10.0.0.1") == 0);
  CHECK(peer_configure(0, NULL, err, sizeof err) == PEER_OK);
}

UNIT_TEST(peer_conn_of_an_uncounted_connection_is_null) {
  CHECK(peer_conn_of("192.0.2.99", 4000) == NULL);
  CHECK(peer_conn_of("", 0) == NULL);
  CHECK(peer_refused() == 0);
}
