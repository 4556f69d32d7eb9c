/*
 * sandbox: province rule sets evaluated in a capped Lua state. Provides
 * loading a set of rule sources (default.lua and province files) into a
 * state of its own, compiled once and probed; and calling one entry of a
 * province's set in a fresh environment: every call rebuilds the set from
 * the compiled chunks, so nothing one call leaves in an upvalue or a table
 * reaches the next. Each call has an instruction budget that pcall inside
 * the rule cannot swallow, a memory cap (a custom lua_Alloc), guarded C
 * library functions, and a result encoded with a byte cap.
 * The rule contract (scripts/rules_contract.lua, compiled in) is enforced
 * here: an undefined global read raises, a ctx is read-only and raises on
 * an unknown field, the helpers are the read-only `lib`, `base` is a
 * read-only view of the default set's entries late-bound to the merged
 * set, and a candidate returning an unknown entry is refused.
 * This runs inside an evaluator process (evaluator.h), which adds the
 * wall-clock deadline that holds whatever the rule does.
 * The files: sandbox.c (a loaded set: compile, build, probe, call),
 * sandbox_test.c (sbx_test), and the parts they use, each with its own
 * header: sandbox_limits (capped allocator, budget hook, arming a call),
 * sandbox_guard (the guarded C library, tostring), sandbox_env (allowed
 * names, read-only libraries, fresh envs), sandbox_lib (`lib`),
 * sandbox_contract (entry names, ctx proxies), sandbox_snap (snapshots of
 * a built set); sandbox_int.h is the state they share.
 * Uses: Lua 5.4, wire, util.
 */
#ifndef HOST_SANDBOX_H
#define HOST_SANDBOX_H

#include <stddef.h>

#include "wire.h"

enum {
  SBX_OK = 0,
  SBX_ERR_LOAD = -2,  /* a file failed to compile or run */
  SBX_ERR_SHAPE = -3, /* a set lacks a required function, or bad shape */
  SBX_ERR_CALL = -4,  /* the call raised, or spent its budget or memory */
  SBX_ERR_RESULT = -5, /* the result was too large or too deep */
  SBX_ERR_SYNTAX = -6, /* a file does not compile */
  SBX_ERR_ENTRY = -7,  /* a file returns an entry the contract lacks */
  SBX_ERR_NAME = -8    /* a file's top level reads an undefined global */
};

#define SBX_MEM_LIMIT (32u << 20) /* bytes a call may allocate */
#define SBX_BUDGET 2000000L       /* VM instructions per call */
#define SBX_MAX_FILES 64
#define SBX_MAX_CASES 1000 /* cases one test run evaluates */
#define SBX_MAX_LINES 65536 /* lines of a file coverage is kept for */

/* One file of a set: borrowed for the duration of sbx_load. */
typedef struct sbx_file {
  const char *name;      /* "default" or a province code such as "13" */
  const char *chunkname; /* shown in messages: "13.lua" */
  const char *text;
  size_t len;
} sbx_file;

typedef struct sbx sbx;

/* Loads n files (files[0] is the default set) into a new state; with
 * probe, also builds every province's set and checks that it has the
 * required functions (a reload does; an evaluator loading a set already
 * in force for a call only compiles, so that no province's top level
 * runs on another province's call and deadline). With probe
 * SBX_PROBE_STRICT (a candidate pushed by an author: the lab's requests,
 * or 'L' with probe 2), a province file returning an entry neither the
 * contract nor the default set has, or a default set returning one the
 * contract lacks, is refused too (SBX_ERR_ENTRY); the
 * files in force keep loading as before the contract. Returns SBX_OK
 * with *out (caller frees with sbx_free), or an error with
 * "chunkname:line: message" in err: SBX_ERR_SYNTAX, SBX_ERR_LOAD,
 * SBX_ERR_SHAPE, SBX_ERR_ENTRY, SBX_ERR_NAME (the top level read an
 * undefined global). */
#define SBX_PROBE_STRICT 2
int sbx_load(const sbx_file *files, int n, int probe, sbx **out, char *err,
             size_t errlen);
void sbx_free(sbx *s);

/* The names a rule's _ENV allows (NULL-terminated; static): the base
 * functions and libraries, and `lib`. What the host's lint allows. */
const char *const *sbx_env_names(void);

/* Calls entry of province's set (the default set for a province with no
 * file) with the value read from arg (may be NULL: no argument), in a
 * fresh environment. An argument table whose key "@contract" is set is a
 * contract ctx (scripts/rules_contract.lua): the rule sees read-only
 * proxies of it that raise on a field the contract does not list. A non-function entry is returned as its value. The
 * result is appended to out, which caps its size. Returns SBX_OK or an
 * error with the message in err. */
int sbx_call(sbx *s, const char *province, const char *entry, wire_reader *arg,
             wire_buf *out, char *err, size_t errlen);

/* Runs a test: evaluates cases_text (untrusted, in a rule's environment
 * and budget) to a list of cases {name, province, fn, input, expect}, calls
 * each case's entry like sbx_call (input marked as a contract ctx), and
 * appends to out one value: {cases = {{name, province, fn, expect}...},
 * results = {{value = v} | {error = message}...}, hit = {line...}} where
 * hit lists the lines of province's file that ran (a line hook). Returns
 * SBX_OK, or SBX_ERR_CALL (the cases did not evaluate) / SBX_ERR_RESULT
 * (the answer is too large) with the message in err. */
int sbx_test(sbx *s, const char *province, const char *cases_text,
             size_t cases_len, wire_buf *out, char *err, size_t errlen);

#endif
