/*
 * rules: the province rule sets. Provides the set in force (stored
 * versions installed from Lua, or the files of a directory for the
 * command line), candidate sets, installs by generation number (a new set
 * is loaded and probed in an evaluator process first, swapped in only
 * when good), and the Lua module `rules` that scripts/ call. Rules are
 * evaluated in evaluator processes (evaluator_pool.h) in the sandbox
 * (sandbox.h), never in the caller's process.
 * The files: rules.c (the set in force, installs, `rules check`; its
 * interface to the others is rules_int.h), rules_src.c/h (the sources of
 * a set), rules_lua.c (the `rules` module), rules_memo.c/h (a worker's
 * memo of answers, rules_set_memo); rules_lab.c/h beside them (the
 * workbench's checks and test runs, the `rules_lab` module).
 * Uses: rules_src, rules_memo, evaluator, evaluator_pool, wire, Lua 5.4,
 * pthreads.
 */
#ifndef HOST_RULES_H
#define HOST_RULES_H

#include <stddef.h>
#include <lua.h>

enum {
  RULES_OK = 0,
  RULES_ERR_IO = -1,   /* a file or directory unreadable */
  RULES_ERR_LOAD = -2, /* a file failed to compile or run */
  RULES_ERR_SHAPE = -3 /* a set lacks a required function */
};

/* Installs the rule files of dir as the set in force (the command line
 * and the REPL; `rules.reload()` reads dir again). The server installs
 * stored versions from Lua instead (rules.install). Returns RULES_OK or
 * an error with "file:line: message" in err. */
int rules_init(const char *dir, char *err, size_t errlen);

/* Generation in force (starts at 1), rule call failures so far, and
 * evaluator processes killed (deadline missed, died) so far. */
long rules_generation(void);
long rules_failures(void);
long rules_evaluator_kills(void);
/* The stored generation last installed here, or refused for its sources
 * (0: none): a newer one in the database is for this process to install. */
long rules_stored_generation(void);

/* Checks files as `host rules check` does: each in a fresh sandbox, a
 * province file on top of the default.lua beside it (or fallback_dir's).
 * Returns RULES_OK or the first error, "file:line: message" in err. */
int rules_check_files(int n, char **files, const char *fallback_dir, char *err,
                      size_t errlen);

/* Lets each worker answer a request it asked within the last ms
 * milliseconds from a memo of its own (0: never; the default). */
void rules_set_memo(long ms);

/* Frees what rules_init made and ends the evaluators (at exit). */
void rules_shutdown(void);

/* Lua: pushes the `rules` module (call, load, install, pin,
 * unpin, using, versions, version, status, reload). */
int luaopen_host_rules(lua_State *L);

#endif
