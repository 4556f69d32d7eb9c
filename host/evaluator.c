/*
 * evaluator: rule evaluator processes and the host's pool of them.
 *
 * Protocol, one frame each way (wire.h framing):
 *   'L' key probe n {name chunkname text}*n -> 'O' | 'E' code message
 *                                          (probe 2: SBX_PROBE_STRICT)
 *   'C' key province entry hasarg [arg] -> 'O' value | 'E' code message
 *                                          | 'M' (set not loaded: send 'L')
 *   'K' n {name chunkname text}*n -> 'O' | 'E' code message (a candidate
 *                                          set, probed, not kept)
 *   'T' province n {files} cases -> 'O' value | 'E' code message (a test
 *                                          run, sbx_test; not kept)
 * An evaluator keeps the last few sets it loaded, by key.
 * Uses: wire, sandbox, POSIX spawn/sockets, Linux prctl and seccomp.
 */
#include "evaluator.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#if defined(__x86_64__)
#include <linux/audit.h>
#include <sys/syscall.h>
#endif

#include "sandbox.h"

#define EV_FD 3
#define EV_SETS 4 /* sets one evaluator keeps */
#define EV_MAX_POOL 64

extern char **environ;

/* ---- the evaluator process ------------------------------------------ */

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
static uint32_t read_files(wire_reader *r, sbx_file *files,
                           char (*names)[16], char (*chunks)[128]) {
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
    if (wire_write_full(EV_FD, out.data, out.len, -1) != 0) break;
  }
  _exit(0); /* no atexit work: the host only closed its end */
}

/* ---- the pool, on the host ------------------------------------------- */

struct ev_slot {
  pid_t pid; /* 0: no process */
  int fd;
  int busy;
  char tenant[16];
};

/* A thread waiting for an evaluator: released slots are handed to the
 * first waiter whose tenant is under its share, so a release wakes one
 * thread, not every waiter. */
typedef struct waiter {
  struct waiter *next;
  pthread_cond_t cv;
  const char *tenant;
  ev_slot *got; /* set by the releasing thread */
} waiter;

static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;
static ev_slot g_pool[EV_MAX_POOL];
static waiter *g_waiters; /* FIFO; guarded by g_pool_lock */
static int g_npool;       /* set once */
static int g_share;       /* slots one tenant may hold; set once */
static long g_deadline;   /* ms; set once */
static char g_exe[4096];
static atomic_long g_kills;

static long env_long(const char *name, long dflt, long lo, long hi) {
  const char *v = getenv(name);
  char *end;
  long n;
  if (!v || !*v) return dflt;
  n = strtol(v, &end, 10);
  if (*end || n < lo || n > hi) return dflt;
  return n;
}

static void pool_init(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  ssize_t n;
  int i;
  g_npool = (int)env_long("HOST_RULE_EVALUATORS", cores > 2 ? 2 * cores : 4, 1,
                          EV_MAX_POOL);
  /* one tenant leaves at least a quarter of the pool to the others */
  g_share = g_npool - (g_npool + 3) / 4;
  if (g_share < 1) g_share = 1;
  g_deadline = env_long("HOST_RULE_DEADLINE_MS", 1000, 10, 600000);
  n = readlink("/proc/self/exe", g_exe, sizeof g_exe - 1);
  g_exe[n > 0 ? n : 0] = '\0';
  for (i = 0; i < EV_MAX_POOL; i++)
    g_pool[i].fd = -1;
}

int ev_pool_size(void) {
  pthread_once(&g_pool_once, pool_init);
  return g_npool;
}

long ev_deadline_ms(void) {
  pthread_once(&g_pool_once, pool_init);
  return g_deadline;
}

long ev_kills(void) {
  return atomic_load(&g_kills);
}

/* Starts the slot's process: the host binary again, as an evaluator,
 * with the socket as fd 3 and nothing else open but stdio. */
static int spawn(ev_slot *s, char *err, size_t errlen) {
  static const char *const keep[] = {
      "TZ=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=", "LANG=", NULL};
  int sv[2], rc, i, ne = 0;
  char *argv[3], *envp[8];
  char **e;
  posix_spawn_file_actions_t fa;
  pid_t pid;
  if (!g_exe[0]) {
    snprintf(err, errlen, "rules: cannot find the host binary");
    return EV_ERR_SPAWN;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    snprintf(err, errlen, "rules: socketpair: %s", strerror(errno));
    return EV_ERR_SPAWN;
  }
  for (e = environ; e && *e && ne < 7; e++)
    for (i = 0; keep[i]; i++)
      if (strncmp(*e, keep[i], strlen(keep[i])) == 0) envp[ne++] = *e;
  envp[ne] = NULL;
  argv[0] = g_exe;
  argv[1] = (char *)EVALUATOR_ARG;
  argv[2] = NULL;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], EV_FD);
  posix_spawn_file_actions_addclosefrom_np(&fa, EV_FD + 1);
  rc = posix_spawn(&pid, g_exe, &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    snprintf(err, errlen, "rules: cannot start an evaluator: %s", strerror(rc));
    return EV_ERR_SPAWN;
  }
  s->pid = pid;
  s->fd = sv[0];
  return EV_OK;
}

static void kill_slot(ev_slot *s) {
  if (!s->pid) return;
  kill(s->pid, SIGKILL);
  while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  close(s->fd);
  s->pid = 0;
  s->fd = -1;
}

/* Under g_pool_lock: slots tenant holds, and a free slot (a running one
 * first) or NULL. */
static ev_slot *free_slot(const char *tenant, int *held) {
  ev_slot *s = NULL;
  int i;
  *held = 0;
  for (i = 0; i < g_npool; i++) {
    if (g_pool[i].busy) {
      if (strcmp(g_pool[i].tenant, tenant) == 0) ++*held;
    } else if (!s || (g_pool[i].pid && !s->pid)) {
      s = &g_pool[i];
    }
  }
  return s;
}

/* Under g_pool_lock: may a queued waiter take a free slot now? */
static int waiter_eligible(void) {
  waiter *w;
  for (w = g_waiters; w; w = w->next) {
    int held;
    free_slot(w->tenant, &held);
    if (held < g_share) return 1;
  }
  return 0;
}

static void take(ev_slot *s, const char *tenant) {
  s->busy = 1;
  snprintf(s->tenant, sizeof s->tenant, "%s", tenant);
}

ev_slot *ev_acquire(const char *tenant, long wait_until, int *rc, char *err,
                    size_t errlen) {
  ev_slot *s;
  waiter w, **pp;
  int held;
  pthread_once(&g_pool_once, pool_init);
  pthread_mutex_lock(&g_pool_lock);
  s = free_slot(tenant, &held);
  if (s && held < g_share && !waiter_eligible()) {
    take(s, tenant);
  } else {
    struct timespec ts;
    long ms = wait_until - wire_now_ms();
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ms < 0) ms = 0;
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    memset(&w, 0, sizeof w);
    pthread_cond_init(&w.cv, NULL);
    w.tenant = tenant;
    for (pp = &g_waiters; *pp; pp = &(*pp)->next)
      ;
    *pp = &w;
    while (!w.got)
      if (pthread_cond_timedwait(&w.cv, &g_pool_lock, &ts) != 0 && !w.got)
        break;
    if (!w.got) /* timed out: leave the queue */
      for (pp = &g_waiters; *pp; pp = &(*pp)->next)
        if (*pp == &w) {
          *pp = w.next;
          break;
        }
    pthread_cond_destroy(&w.cv);
    s = w.got;
  }
  pthread_mutex_unlock(&g_pool_lock);
  if (!s) {
    *rc = EV_ERR_BUSY;
    snprintf(err, errlen, "rules: no evaluator came free in time");
    return NULL;
  }
  if (!s->pid && (*rc = spawn(s, err, errlen)) != EV_OK) {
    ev_release(s);
    return NULL;
  }
  *rc = EV_OK;
  return s;
}

void ev_release(ev_slot *s) {
  waiter **pp;
  pthread_mutex_lock(&g_pool_lock);
  s->busy = 0;
  s->tenant[0] = '\0';
  for (pp = &g_waiters; *pp; pp = &(*pp)->next) {
    waiter *w = *pp;
    int held;
    free_slot(w->tenant, &held);
    if (held < g_share) { /* hand it over */
      take(s, w->tenant);
      w->got = s;
      *pp = w->next;
      pthread_cond_signal(&w->cv);
      break;
    }
  }
  pthread_mutex_unlock(&g_pool_lock);
}

int ev_exchange(ev_slot *s, const wire_buf *req, wire_buf *reply,
                long deadline) {
  int w = wire_write_full(s->fd, req->data, req->len, deadline);
  if (w == 0 && (w = wire_read_frame(s->fd, reply, deadline)) == 0)
    return EV_OK;
  w = w == -2 || wire_now_ms() >= deadline ? EV_ERR_TIMEOUT : EV_ERR_DIED;
  kill_slot(s);
  atomic_fetch_add(&g_kills, 1);
  return w;
}

/* Idle evaluators end on end of file; give them a moment, then kill. */
void ev_shutdown(void) {
  struct timespec pause = {0, 2 * 1000 * 1000};
  int i, k;
  pthread_once(&g_pool_once, pool_init);
  pthread_mutex_lock(&g_pool_lock);
  for (i = 0; i < g_npool; i++) {
    ev_slot *s = &g_pool[i];
    if (s->busy || !s->pid) continue;
    close(s->fd);
    for (k = 0; k < 500 && waitpid(s->pid, NULL, WNOHANG) == 0; k++)
      nanosleep(&pause, NULL);
    if (k == 500) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
    s->fd = -1;
  }
  pthread_mutex_unlock(&g_pool_lock);
}
