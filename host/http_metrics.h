/*
 * http_metrics: the server's /metrics. Provides counting a finished
 * request (by route and status, and its latency in a histogram) and
 * answering /metrics in the Prometheus text format with those counts and
 * the rule set's (generation, failures, evaluator kills), the peers'
 * (connections refused) and the answers reused (http_reuse.h).
 * Uses: civetweb, rules, peer, http_reply, http_reuse, pthreads.
 */
#ifndef HOST_HTTP_METRICS_H
#define HOST_HTTP_METRICS_H

struct mg_connection;

/* Counts one request of route (at most HTTP_METRICS_ROUTES distinct
 * route and status pairs are kept) that took secs. Thread-safe. */
#define HTTP_METRICS_ROUTES 256
void http_metrics_add(const char *route, int status, double secs);

/* Answers /metrics on conn. */
void http_metrics_send(struct mg_connection *conn);

#endif
