/*
 * repl: `host repl`, a Lua prompt with the server's bindings and the
 * helpers of scripts/repl.lua, line editing and history from libedit;
 * reads piped input without prompts.
 * Uses: libedit, vm.
 */
#ifndef HOST_REPL_H
#define HOST_REPL_H

/* Runs the prompt until end of input. Returns an exit code (0, or 1 when
 * piped input raised an error). */
int repl_main(int with_db);

#endif
