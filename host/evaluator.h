/*
 * evaluator: province rules evaluated in separate processes. Provides the
 * evaluator process itself (evaluator_main: a loop over framed requests
 * on fd 3, holding nothing but that socket, with no_new_privs, resource
 * limits and a seccomp filter) and, on the host side, a pool of them: a
 * caller takes a free evaluator (at most half the pool per tenant, so one
 * province's slow rules leave the others theirs), exchanges one request
 * and reply under a wall-clock deadline, and gives it back. An evaluator
 * that misses its deadline, dies, or speaks out of turn is killed and
 * replaced; its caller gets an error. Whatever a rule does (a loop in a C
 * library call, an xpcall handler, a memory bomb), it holds no worker, no
 * lock and no other province's request past its deadline.
 * Uses: wire, sandbox, POSIX spawn/sockets, Linux prctl and seccomp.
 */
#ifndef HOST_EVALUATOR_H
#define HOST_EVALUATOR_H

#include "wire.h"

enum {
  EV_OK = 0,
  EV_ERR_BUSY = -1,    /* no evaluator came free in time */
  EV_ERR_TIMEOUT = -2, /* the evaluator missed its deadline: killed */
  EV_ERR_DIED = -3,    /* the evaluator ended or broke the protocol */
  EV_ERR_SPAWN = -4    /* no evaluator could be started */
};

/* argv[1] that makes the host binary an evaluator. */
#define EVALUATOR_ARG "--rules-evaluator"

/* The evaluator process: serves requests on fd 3 until it closes. Never
 * returns. */
void evaluator_main(void) __attribute__((noreturn));

/* Request and reply frames hold at most this many bytes. */
#define EV_REQUEST_MAX (8u << 20)
#define EV_RESULT_MAX (64u << 10) /* an encoded rule result */
#define EV_REPLY_MAX (EV_RESULT_MAX + 4096)
#define EV_TEST_REPLY_MAX (4u << 20) /* a test run's answer */

typedef struct ev_slot ev_slot;

/* Takes a free evaluator for tenant (a province code, or a name such as
 * "@reload"), waiting until wait_until (wire_now_ms clock). Returns the
 * slot, or NULL with EV_ERR_BUSY or EV_ERR_SPAWN in *rc and a message. */
ev_slot *ev_acquire(const char *tenant, long wait_until, int *rc, char *err,
                    size_t errlen);

/* Sends the frame req and reads one reply frame into reply (whose max
 * caps it), all before deadline. Returns EV_OK, or EV_ERR_TIMEOUT /
 * EV_ERR_DIED: the evaluator is then killed, and replaced when next
 * taken. */
int ev_exchange(ev_slot *s, const wire_buf *req, wire_buf *reply,
                long deadline);

/* Gives the slot back. */
void ev_release(ev_slot *s);

/* The pool: size and deadline (from HOST_RULE_EVALUATORS and
 * HOST_RULE_DEADLINE_MS), evaluators killed so far. */
int ev_pool_size(void);
long ev_deadline_ms(void);
long ev_kills(void);

/* Ends every evaluator (at exit). */
void ev_shutdown(void);

#endif
