/*
 * evaluator_pool: the host's evaluator processes; see evaluator_pool.h.
 * A slot is free (busy 0) or taken by one caller (busy 1, its tenant
 * named); a slot has a process (pid > 0, fd >= 0) or none (pid 0, fd -1),
 * started when taken without one and killed on any failed exchange.
 * Uses: wire, evaluator, POSIX spawn/sockets, pthreads.
 */
#include "evaluator_pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evaluator.h"

#define EV_MAX_POOL 64

extern char **environ;

typedef struct ev_slot {
  pid_t pid; /* 0: no process */
  int fd;    /* -1: no process */
  int busy;  /* taken by a caller, of tenant */
  char tenant[16];
} ev_slot;

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
      "TZ=",   "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=",
      "LANG=", "HOST_RULE_NO_SECCOMP=", NULL};
  int sv[2], rc, i, ne = 0;
  char *argv[3], *envp[sizeof keep / sizeof keep[0] + 1];
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
  for (e = environ; e && *e && ne < (int)(sizeof keep / sizeof keep[0]); e++)
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
  assert(s->busy); /* only its caller kills it */
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
      continue;
    }
    /* a free slot's process is whole or none (its caller changes a busy
     * one's outside the lock) */
    assert((g_pool[i].pid == 0) == (g_pool[i].fd < 0));
    if (!s || (g_pool[i].pid && !s->pid)) s = &g_pool[i];
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
  assert(!s->busy);
  s->busy = 1;
  snprintf(s->tenant, sizeof s->tenant, "%s", tenant);
}

static void release(ev_slot *s);

/* Takes a free evaluator for tenant, waiting until wait_until
 * (wire_now_ms clock), and starts its process if it has none. Returns
 * the slot, or NULL with EV_ERR_BUSY or EV_ERR_SPAWN in *rc and a
 * message. */
static ev_slot *acquire(const char *tenant, long wait_until, int *rc, char *err,
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
    assert(!s || (s->busy && strcmp(s->tenant, tenant) == 0));
  }
  pthread_mutex_unlock(&g_pool_lock);
  if (!s) {
    *rc = EV_ERR_BUSY;
    snprintf(err, errlen, "rules: no evaluator came free in time");
    return NULL;
  }
  if (!s->pid && (*rc = spawn(s, err, errlen)) != EV_OK) {
    release(s);
    return NULL;
  }
  assert(s->busy && s->pid > 0 && s->fd >= 0);
  *rc = EV_OK;
  return s;
}

/* Gives the slot back: to the first waiter under its share, if any. */
static void release(ev_slot *s) {
  waiter **pp;
  pthread_mutex_lock(&g_pool_lock);
  assert(s->busy); /* given back once */
  s->busy = 0;
  s->tenant[0] = '\0';
  for (pp = &g_waiters; *pp; pp = &(*pp)->next) {
    waiter *w = *pp;
    int held;
    free_slot(w->tenant, &held);
    if (held < g_share) { /* hand it over */
      assert(!w->got);
      take(s, w->tenant);
      w->got = s;
      *pp = w->next;
      pthread_cond_signal(&w->cv);
      break;
    }
  }
  pthread_mutex_unlock(&g_pool_lock);
}

/* Sends the frame req and reads one reply frame into reply (whose max
 * caps it), all before deadline. Returns EV_OK, or EV_ERR_TIMEOUT /
 * EV_ERR_DIED: the evaluator is then killed, and replaced when next
 * taken. */
static int exchange(ev_slot *s, const wire_buf *req, wire_buf *reply,
                    long deadline) {
  int w;
  assert(s->busy && s->pid > 0 && s->fd >= 0);
  w = wire_write_full(s->fd, req->data, req->len, deadline);
  if (w == 0 && (w = wire_read_frame(s->fd, reply, deadline)) == 0)
    return EV_OK;
  w = w == -2 || wire_now_ms() >= deadline ? EV_ERR_TIMEOUT : EV_ERR_DIED;
  kill_slot(s);
  atomic_fetch_add(&g_kills, 1);
  return w;
}

int ev_reply_error(const wire_buf *reply, char *err, size_t errlen) {
  wire_reader r = {reply->data + 1, reply->data + reply->len};
  unsigned code = 0;
  const char *msg = "rule failed";
  size_t n = strlen(msg);
  assert(reply->len >= 1 && reply->data[0] == 'E');
  if (wire_get_u8(&r, &code) != WIRE_OK ||
      wire_get_str(&r, &msg, &n) != WIRE_OK)
    msg = "rule failed", n = strlen(msg);
  snprintf(err, errlen, "%.*s", (int)n, msg);
  return -(int)code;
}

int ev_request(const ev_req *r, char *err, size_t errlen) {
  int rc;
  ev_slot *s = acquire(r->tenant, wire_now_ms() + 2 * ev_deadline_ms(), &rc,
                       err, errlen);
  if (!s) return rc;
  rc = exchange(s, r->req, r->reply, wire_now_ms() + r->deadline_ms);
  if (rc == EV_OK && r->load && r->reply->len == 1 &&
      r->reply->data[0] == 'M') {
    if (r->load(r->ud, r->frame) != 0) {
      snprintf(err, errlen, "rules: the set is too large");
      rc = EV_ERR_LOAD;
      goto done;
    }
    /* compiling only (no file's top level runs), on its own deadline:
     * the set's load is not the caller's time */
    rc = exchange(s, r->frame, r->reply, wire_now_ms() + r->deadline_ms);
    if (rc == EV_OK && (r->reply->len < 1 || r->reply->data[0] != 'O')) {
      if (r->reply->len > 0 && r->reply->data[0] == 'E')
        ev_reply_error(r->reply, err, errlen);
      else
        snprintf(err, errlen, "rules: the set did not load");
      rc = EV_ERR_LOAD;
      goto done;
    }
    if (rc == EV_OK)
      rc = exchange(s, r->req, r->reply, wire_now_ms() + r->deadline_ms);
  }
  if (rc == EV_ERR_TIMEOUT)
    snprintf(err, errlen, "rule exceeded its deadline (%ld ms)",
             r->deadline_ms);
  else if (rc != EV_OK)
    snprintf(err, errlen, "rule evaluator ended during the call");
done:
  release(s);
  return rc;
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
