/*
 * evaluator_pool: the host's pool of rule evaluator processes
 * (evaluator.h). Provides ev_request, the whole of one request: take a
 * free evaluator (a tenant holds at most three quarters of the pool, so
 * one province's slow rules leave the others theirs), send the request
 * and read its reply under a wall-clock deadline (loading the set first
 * when the evaluator answers that it lacks it), and give the evaluator
 * back; reading an 'E' reply; the pool's size, deadline and kills. An
 * evaluator that misses its deadline, dies, or speaks out of turn is
 * killed and replaced; its caller gets an error. Whatever a rule does (a
 * loop in a C library call, an xpcall handler, a memory bomb), it holds
 * no worker, no lock and no other province's request past its deadline.
 * Uses: wire, evaluator, POSIX spawn/sockets, pthreads.
 */
#ifndef HOST_EVALUATOR_POOL_H
#define HOST_EVALUATOR_POOL_H

#include <stddef.h>

#include "wire.h"

enum {
  EV_OK = 0,
  EV_ERR_BUSY = -1,    /* no evaluator came free in time */
  EV_ERR_TIMEOUT = -2, /* the evaluator missed its deadline: killed */
  EV_ERR_DIED = -3,    /* the evaluator ended or broke the protocol */
  EV_ERR_SPAWN = -4,   /* no evaluator could be started */
  EV_ERR_LOAD = -5     /* the set the request needs did not load there */
};

/* One request. Everything is borrowed for the call. */
typedef struct ev_req {
  const char *tenant;  /* whose share: a province code, "@load", "@lab" */
  const wire_buf *req; /* the request frame */
  wire_buf *reply;     /* receives the reply frame; its max caps it */
  long deadline_ms;    /* each exchange's deadline, from its start */
  /* A 'C' request may be answered 'M': the evaluator does not hold the
   * set it names. With load set, load(ud, frame) then writes that set's
   * 'L' frame into frame (returning 0, or -1 when it is too large),
   * which is sent first, and req again. Without, 'M' is the reply. */
  int (*load)(void *ud, wire_buf *frame);
  void *ud;
  wire_buf *frame;
} ev_req;

/* Makes the request r: waits for a free evaluator up to two deadlines of
 * the pool. Returns EV_OK with the reply frame in r->reply (its first
 * byte 'O', 'E', or another the caller did not expect), or an error with
 * its message in err: EV_ERR_BUSY, EV_ERR_SPAWN, EV_ERR_TIMEOUT ("rule
 * exceeded its deadline (N ms)"), EV_ERR_DIED, EV_ERR_LOAD (the set did
 * not load: its 'E' message). Pure C: never raises. */
int ev_request(const ev_req *r, char *err, size_t errlen);

/* The code (an SBX_ERR_*, negative; 0 when malformed) of an 'E' reply,
 * with its message in err ("rule failed" when malformed). */
int ev_reply_error(const wire_buf *reply, char *err, size_t errlen);

/* The pool: size and deadline (from HOST_RULE_EVALUATORS and
 * HOST_RULE_DEADLINE_MS), evaluators killed so far. */
int ev_pool_size(void);
long ev_deadline_ms(void);
long ev_kills(void);

/* Ends every evaluator (at exit). */
void ev_shutdown(void);

#endif
