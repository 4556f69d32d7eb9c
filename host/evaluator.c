/*
 * evaluator: the rule evaluator process (the protocol is in evaluator.h).
 * An evaluator keeps the last few sets it loaded, by key.
 * Uses: wire, sandbox, Linux prctl and seccomp.
 */
#include "evaluator.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#if defined(__x86_64__)
#include <linux/audit.h>
#include <sys/syscall.h>
#endif

#include "sandbox.h"
#include "wire.h"

#define EV_SETS 4 /* sets one evaluator keeps */

typedef struct ev_set {
  char key[80];
  sbx *s; /* owned */
  unsigned long used;
} ev_set;

static ev_set g_sets[EV_SETS];
static unsigned long g_clock;

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define ALLOW(nr)                                                              \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                             \
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
/* What an evaluator needs: its socket, memory, clocks, and ending. Any
 * other system call fails with EPERM. */
static void seccomp_filter(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      ALLOW(__NR_read),
      ALLOW(__NR_write),
      ALLOW(__NR_sendto),
      ALLOW(__NR_recvfrom),
      ALLOW(__NR_poll),
      ALLOW(__NR_brk),
      ALLOW(__NR_mmap),
      ALLOW(__NR_munmap),
      ALLOW(__NR_mremap),
      ALLOW(__NR_madvise),
      ALLOW(__NR_mprotect),
      ALLOW(__NR_futex),
      ALLOW(__NR_clock_gettime),
      ALLOW(__NR_gettimeofday),
      ALLOW(__NR_time),
      ALLOW(__NR_fstat),
      ALLOW(__NR_newfstatat),
      ALLOW(__NR_rt_sigreturn),
      ALLOW(__NR_exit),
      ALLOW(__NR_exit_group),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
    fprintf(stderr, "rules evaluator: no seccomp filter: %s\n",
            strerror(errno));
}
#else
/* Under AddressSanitizer (which needs more of the kernel) or on another
 * architecture: no filter; the other limits hold. */
static void seccomp_filter(void) {}
#endif

static void harden(void) {
  struct rlimit nofile = {8, 8}, core = {0, 0};
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  setrlimit(RLIMIT_NOFILE, &nofile);
  setrlimit(RLIMIT_CORE, &core);
#if !defined(__SANITIZE_ADDRESS__)
  {
    struct rlimit as = {1u << 30, 1u << 30}; /* 1 GiB of address space */
    setrlimit(RLIMIT_AS, &as);
  }
#endif
  tzset(); /* os.date: read the zone now, before the filter */
  /* valgrind (make bench's instruction counts) cannot run under it */
  if (!getenv("HOST_RULE_NO_SECCOMP")) seccomp_filter();
}

static ev_set *find_set(const char *key, size_t n) {
  int i;
  for (i = 0; i < EV_SETS; i++)
    if (g_sets[i].s && strlen(g_sets[i].key) == n &&
        memcmp(g_sets[i].key, key, n) == 0) {
      g_sets[i].used = ++g_clock;
      return &g_sets[i];
    }
  return NULL;
}

static void reply_error(wire_buf *out, int code, const char *msg) {
  wire_frame_begin(out);
  wire_put_u8(out, 'E');
  wire_put_u8(out, (unsigned)-code);
  wire_put_str(out, msg, strlen(msg) > 4000 ? 4000 : strlen(msg));
  wire_frame_end(out);
}

/* The files of a request, read into files (their texts borrowed from the
 * request, their names copied into names and chunks). Returns n, or 0. */
static uint32_t read_files(wire_reader *r, sbx_file *files, char (*names)[16],
                           char (*chunks)[128]) {
  uint32_t n, i;
  if (wire_get_u32(r, &n) != WIRE_OK || n < 1 || n > SBX_MAX_FILES) return 0;
  for (i = 0; i < n; i++) {
    const char *p;
    size_t len;
    if (wire_get_str(r, &p, &len) != WIRE_OK || len >= sizeof names[i]) break;
    memcpy(names[i], p, len);
    names[i][len] = '\0';
    if (wire_get_str(r, &p, &len) != WIRE_OK || len >= sizeof chunks[i]) break;
    memcpy(chunks[i], p, len);
    chunks[i][len] = '\0';
    if (wire_get_str(r, &files[i].text, &files[i].len) != WIRE_OK) break;
    files[i].name = names[i];
    files[i].chunkname = chunks[i];
  }
  return i < n ? 0 : n;
}

static void do_load(wire_reader *r, wire_buf *out) {
  const char *key;
  size_t klen;
  uint32_t n;
  unsigned probe;
  sbx_file files[SBX_MAX_FILES];
  char names[SBX_MAX_FILES][16], chunks[SBX_MAX_FILES][128], err[4096];
  sbx *s = NULL;
  ev_set *slot;
  int k, rc;
  if (wire_get_str(r, &key, &klen) != WIRE_OK || klen >= sizeof slot->key ||
      wire_get_u8(r, &probe) != WIRE_OK ||
      !(n = read_files(r, files, names, chunks))) {
    reply_error(out, SBX_ERR_SHAPE, "rules: malformed load request");
    return;
  }
  if ((rc = sbx_load(files, (int)n, (int)probe, &s, err, sizeof err)) !=
      SBX_OK) {
    reply_error(out, rc, err);
    return;
  }
  slot = &g_sets[0];
  for (k = 0; k < EV_SETS; k++) /* the same key again, a free or the LRU */
    if (g_sets[k].s && strlen(g_sets[k].key) == klen &&
        memcmp(g_sets[k].key, key, klen) == 0) {
      slot = &g_sets[k];
      break;
    } else if (!g_sets[k].s || g_sets[k].used < slot->used) {
      slot = &g_sets[k];
    }
  sbx_free(slot->s);
  memcpy(slot->key, key, klen);
  slot->key[klen] = '\0';
  slot->s = s;
  slot->used = ++g_clock;
  wire_frame_begin(out);
  wire_put_u8(out, 'O');
  wire_frame_end(out);
}

static void do_call(wire_reader *r, wire_buf *out) {
  const char *key, *p;
  size_t klen, len;
  char province[16], entry[64], err[4096];
  unsigned hasarg;
  ev_set *set;
  int rc;
  if (wire_get_str(r, &key, &klen) != WIRE_OK ||
      wire_get_str(r, &p, &len) != WIRE_OK || len >= sizeof province) {
    reply_error(out, SBX_ERR_SHAPE, "rules: malformed call");
    return;
  }
  memcpy(province, p, len);
  province[len] = '\0';
  if (wire_get_str(r, &p, &len) != WIRE_OK || len >= sizeof entry ||
      wire_get_u8(r, &hasarg) != WIRE_OK) {
    reply_error(out, SBX_ERR_SHAPE, "rules: malformed call");
    return;
  }
  memcpy(entry, p, len);
  entry[len] = '\0';
  if (!(set = find_set(key, klen))) {
    wire_frame_begin(out);
    wire_put_u8(out, 'M');
    wire_frame_end(out);
    return;
  }
  wire_frame_begin(out);
  wire_put_u8(out, 'O');
  out->max = EV_RESULT_MAX + 5;
  out->items = 100000;
  out->strict = 1; /* a result the host would see otherwise is refused */
  rc = sbx_call(set->s, province, entry, hasarg ? r : NULL, out, err,
                sizeof err);
  out->max = EV_REPLY_MAX;
  out->items = -1;
  out->strict = 0;
  if (rc != SBX_OK) {
    reply_error(out, rc, err);
    return;
  }
  wire_frame_end(out);
}

/* 'K' n files: loads and probes a candidate set, keeping nothing. */
static void do_check(wire_reader *r, wire_buf *out) {
  sbx_file files[SBX_MAX_FILES];
  char names[SBX_MAX_FILES][16], chunks[SBX_MAX_FILES][128], err[4096];
  sbx *s = NULL;
  uint32_t n;
  int rc;
  if (!(n = read_files(r, files, names, chunks))) {
    reply_error(out, SBX_ERR_SHAPE, "rules: malformed check request");
    return;
  }
  if ((rc = sbx_load(files, (int)n, SBX_PROBE_STRICT, &s, err, sizeof err)) !=
      SBX_OK) {
    reply_error(out, rc, err);
    return;
  }
  sbx_free(s);
  wire_frame_begin(out);
  wire_put_u8(out, 'O');
  wire_frame_end(out);
}

/* 'T' province n files cases: loads and probes the set, then runs the
 * cases (sbx_test) and answers their results, keeping nothing. */
static void do_test(wire_reader *r, wire_buf *out) {
  sbx_file files[SBX_MAX_FILES];
  char names[SBX_MAX_FILES][16], chunks[SBX_MAX_FILES][128], err[4096],
      province[16];
  const char *p, *cases;
  size_t len, clen;
  sbx *s = NULL;
  uint32_t n;
  int rc;
  if (wire_get_str(r, &p, &len) != WIRE_OK || len >= sizeof province ||
      !(n = read_files(r, files, names, chunks)) ||
      wire_get_str(r, &cases, &clen) != WIRE_OK) {
    reply_error(out, SBX_ERR_SHAPE, "rules: malformed test request");
    return;
  }
  memcpy(province, p, len);
  province[len] = '\0';
  if ((rc = sbx_load(files, (int)n, SBX_PROBE_STRICT, &s, err, sizeof err)) !=
      SBX_OK) {
    reply_error(out, rc, err);
    return;
  }
  out->max = EV_TEST_REPLY_MAX;
  wire_frame_begin(out);
  wire_put_u8(out, 'O');
  rc = sbx_test(s, province, cases, clen, out, err, sizeof err);
  sbx_free(s);
  if (rc != SBX_OK) {
    out->max = EV_REPLY_MAX;
    reply_error(out, rc, err);
    return;
  }
  wire_frame_end(out);
}

/* Does out hold one whole frame (the answer to one request)? */
__attribute__((unused)) static int one_frame(const wire_buf *out) {
  uint32_t n;
  if (out->len < sizeof n) return 0;
  memcpy(&n, out->data, sizeof n);
  return n == out->len - sizeof n;
}

void evaluator_main(void) {
  wire_buf in, out;
  harden();
  wire_init(&in, EV_REQUEST_MAX);
  wire_init(&out, EV_REPLY_MAX);
  for (;;) {
    unsigned op;
    wire_reader r;
    if (wire_read_frame(EV_FD, &in, -1) != 0) break;
    r.p = in.data;
    r.end = in.data + in.len;
    if (wire_get_u8(&r, &op) != WIRE_OK) break;
    out.max = EV_REPLY_MAX;
    if (op == 'L')
      do_load(&r, &out);
    else if (op == 'C')
      do_call(&r, &out);
    else if (op == 'K')
      do_check(&r, &out);
    else if (op == 'T')
      do_test(&r, &out);
    else
      break;
    assert(one_frame(&out)); /* every request gets exactly one reply */
    if (wire_write_full(EV_FD, out.data, out.len, -1) != 0) break;
  }
  _exit(0); /* no atexit work: the host only closed its end */
}
