/*
 * rules_lab: checking and testing a candidate rule set, for the rule
 * workbench (scripts/rules_lab.lua). Provides loading candidate sources in
 * an evaluator process (evaluator.h, tenant "@lab") without keeping them,
 * a test run of untrusted cases there with line coverage, the executable
 * lines of a source (from its compiled chunk, every nested function), and
 * the names a rule's environment allows (for the host-side lint).
 * Uses: evaluator, sandbox, wire, Lua 5.4.
 */
#ifndef HOST_RULES_LAB_H
#define HOST_RULES_LAB_H

#include <stddef.h>
#include <lua.h>

enum {
  LAB_OK = 0,
  LAB_ERR_SYNTAX = -1, /* the text does not compile */
  LAB_ERR_DUMP = -2,   /* the compiled chunk is not in the known format */
  LAB_ERR_MEM = -3
};

/* The lines of text (a Lua 5.4 chunk) that hold code: the lines of every
 * instruction of every function, nested ones too, as luaG_getfuncline
 * reads them from the chunk's lineinfo/abslineinfo. Marks lines[k] = 1
 * for k < nlines. Returns LAB_OK or an error with a message in err. */
int lab_lines(const char *text, size_t len, unsigned char *lines, int nlines,
              char *err, size_t errlen);

/* Lua: pushes the `lab` module:
 *   lab.load(files, province) -> true | false, code, message
 *   lab.run(files, province, cases) -> {cases, results, hit}
 *                                      | nil, code, message
 *   lab.lines(text) -> {line, ...} (sorted) | nil, message
 *   lab.globals() -> {name, ...}
 * files: {{name = "default"|"13", text = "..."}, ...}, default first.
 * code: "syntax" | "load" | "unknown_entry" | "undefined_name" | "shape"
 * | "failed" (the evaluator: deadline, busy). */
int luaopen_host_rules_lab(lua_State *L);

#endif
