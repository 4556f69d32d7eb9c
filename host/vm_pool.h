/*
 * vm_pool: the trusted Lua states the HTTP workers share. A worker takes a
 * state for one request and gives it back after; states are made on
 * demand, up to a maximum, and a worker waits while every one is taken.
 * Taken states are used by one thread at a time, the pool's mutex
 * ordering each handoff, so a state's SQLite connection (opened NOMUTEX)
 * and its libpq connection are too. Fewer states than workers bound the
 * memory (a state holds its modules, its connection's schema and prepared
 * statements: about 1.5 MB) and the database connections, while a worker
 * per connection still reads and writes sockets without one: a worker
 * copies its answer out (up to 256 KiB: larger ones, exports and
 * attachments, are written with the state held, so copies stay bounded)
 * and gives the state back before writing it; /healthz and static files
 * need none.
 * Uses: vm, pthreads.
 */
#ifndef HOST_VM_POOL_H
#define HOST_VM_POOL_H

#include <stddef.h>
#include <lua.h>

/* Sets the most states there will be (1..VM_POOL_MAX). Before the
 * first take. */
#define VM_POOL_MAX 256
void vm_pool_init(int max);

/* A state for this thread's request: an idle one (the last given back
 * first: its caches are warm), a new one while fewer than the maximum
 * exist, or the next one given back within wait_ms. NULL with err "" when
 * none came back in time (the server is overloaded), or with a message in
 * err when a new state cannot be made. */
lua_State *vm_pool_take(long wait_ms, char *err, size_t errlen);

/* Gives L back (taken by this thread). */
void vm_pool_give(lua_State *L);

/* Closes every state (none may be taken: the workers have stopped). */
void vm_pool_close(void);

/* The states made, the most allowed, how many takes have waited for a
 * state given back, and how many of them gave up (503). */
void vm_pool_stats(int *made, int *max, unsigned long *waits,
                   unsigned long *timeouts);

#endif
