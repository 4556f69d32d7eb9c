/*
 * vm_pool: the trusted Lua states the HTTP workers share (declared in
 * vm_pool.h). The idle states are a stack (the warmest on top); a new
 * state is made outside the lock, its place counted in made first so that
 * the maximum holds while it is being made.
 * Uses: vm, pthreads.
 */
#include "vm_pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "vm.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_given; /* on CLOCK_MONOTONIC: vm_pool_init */
static lua_State *g_idle[VM_POOL_MAX]; /* the idle states, owned */
static int g_nidle;        /* idle states in g_idle[0..g_nidle) */
static int g_made;         /* states made or being made, taken or idle */
static int g_max;
static unsigned long g_waits, g_timeouts;

void vm_pool_init(int max) {
  static int ready;
  assert(g_made == 0);
  if (!ready) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_given, &ca);
    pthread_condattr_destroy(&ca);
    ready = 1;
  }
  g_max = max < 1 ? 1 : max > VM_POOL_MAX ? VM_POOL_MAX : max;
}

lua_State *vm_pool_take(long wait_ms, char *err, size_t errlen) {
  struct timespec until;
  lua_State *L;
  int waited = 0;
  err[0] = '\0';
  pthread_mutex_lock(&g_lock);
  while (g_nidle == 0 && g_made >= g_max) {
    if (!waited) {
      g_waits++, waited = 1;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_sec += wait_ms / 1000;
      until.tv_nsec += (wait_ms % 1000) * 1000000L;
      if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    }
    if (pthread_cond_timedwait(&g_given, &g_lock, &until) == ETIMEDOUT &&
        g_nidle == 0 && g_made >= g_max) {
      g_timeouts++;
      pthread_mutex_unlock(&g_lock);
      return NULL; /* err "": every state stayed taken */
    }
  }
  if (g_nidle > 0) {
    L = g_idle[--g_nidle];
    pthread_mutex_unlock(&g_lock);
    return L;
  }
  g_made++; /* this thread's new state, made outside the lock */
  pthread_mutex_unlock(&g_lock);
  if ((L = vm_new(1, err, errlen)) != NULL) return L;
  if (!err[0]) snprintf(err, errlen, "cannot make a Lua state"); /* not "" */
  pthread_mutex_lock(&g_lock);
  g_made--; /* its place is free again: a waiter may try */
  pthread_cond_signal(&g_given);
  pthread_mutex_unlock(&g_lock);
  return NULL;
}

void vm_pool_give(lua_State *L) {
  pthread_mutex_lock(&g_lock);
  assert(g_nidle < g_made && g_nidle < g_max);
  g_idle[g_nidle++] = L;
  pthread_cond_signal(&g_given);
  pthread_mutex_unlock(&g_lock);
}

void vm_pool_close(void) {
  pthread_mutex_lock(&g_lock);
  assert(g_nidle == g_made); /* none taken */
  while (g_nidle > 0)
    lua_close(g_idle[--g_nidle]);
  g_made = 0;
  pthread_mutex_unlock(&g_lock);
}

void vm_pool_stats(int *made, int *max, unsigned long *waits,
                   unsigned long *timeouts) {
  pthread_mutex_lock(&g_lock);
  *made = g_made;
  *max = g_max;
  *waits = g_waits;
  *timeouts = g_timeouts;
  pthread_mutex_unlock(&g_lock);
}
