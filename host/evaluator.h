/*
 * evaluator: province rules evaluated in separate processes. Provides the
 * evaluator process itself (evaluator_main: a loop over framed requests
 * on fd 3, holding nothing but that socket, with no_new_privs, resource
 * limits and a seccomp filter) and the protocol the host's pool
 * (evaluator_pool.h) speaks with it, one frame each way (wire.h framing):
 *   'L' key probe n {name chunkname text}*n -> 'O' | 'E' code message
 *                                          (probe 2: SBX_PROBE_STRICT)
 *   'C' key province entry hasarg [arg] -> 'O' value | 'E' code message
 *                                          | 'M' (set not loaded: send 'L')
 *   'K' n {name chunkname text}*n -> 'O' | 'E' code message (a candidate
 *                                          set, probed, not kept)
 *   'T' province n {files} cases -> 'O' value | 'E' code message (a test
 *                                          run, sbx_test; not kept)
 * code is the sandbox's error (SBX_ERR_*, negated).
 * Uses: wire, sandbox, Linux prctl and seccomp.
 */
#ifndef HOST_EVALUATOR_H
#define HOST_EVALUATOR_H

/* argv[1] that makes the host binary an evaluator. */
#define EVALUATOR_ARG "--rules-evaluator"

/* The evaluator's end of its socket. */
#define EV_FD 3

/* The evaluator process: serves requests on fd 3 until it closes. Never
 * returns. */
void evaluator_main(void) __attribute__((noreturn));

/* Request and reply frames hold at most this many bytes. */
#define EV_REQUEST_MAX (8u << 20)
#define EV_RESULT_MAX (64u << 10) /* an encoded rule result */
#define EV_REPLY_MAX (EV_RESULT_MAX + 4096)
#define EV_TEST_REPLY_MAX (4u << 20) /* a test run's answer */

#endif
