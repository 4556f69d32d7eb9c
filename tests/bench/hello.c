/*
 * The benchmark's anchor: a bare civetweb server, configured as the host
 * (threads, keep-alive, tcp_nodelay), answering every request with a
 * small JSON body. Our endpoints are reported as ratios to its rate,
 * measured in the same run. Usage: hello PORT THREADS
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <civetweb.h>

static int hello(struct mg_connection *conn, void *data) {
  static const char body[] = "{\"ok\":true}";
  (void)data;
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n%s",
            (int)strlen(body), body);
  return 200;
}

int main(int argc, char **argv) {
  const char *opts[] = {"listening_ports", argc > 1 ? argv[1] : "18998",
                        "num_threads",     argc > 2 ? argv[2] : "16",
                        "enable_keep_alive", "yes",
                        "tcp_nodelay",     "1",
                        NULL};
  struct mg_callbacks cb;
  struct mg_context *ctx;
  sigset_t set;
  int sig;
  memset(&cb, 0, sizeof cb);
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  mg_init_library(0);
  if (!(ctx = mg_start(&cb, NULL, opts))) return 1;
  mg_set_request_handler(ctx, "/", hello, NULL);
  sigwait(&set, &sig);
  mg_stop(ctx);
  mg_exit_library();
  return 0;
}
