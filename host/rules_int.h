/*
 * rules_int: the set in force as the rules module's own files see it
 * (rules.c implements it for rules_lua.c; no other file includes it).
 * Provides the set in force, referenced; probing a set in an evaluator;
 * installing one; reading the rules directory again; the last install
 * error; counting rule call failures.
 * Uses: rules, rules_src.
 */
#ifndef HOST_RULES_INT_H
#define HOST_RULES_INT_H

#include <stddef.h>

#include "rules.h"
#include "rules_src.h"

/* The set in force with a reference for the caller (who releases it), or
 * NULL before the first install. */
rules_src *rules_in_force(void);

/* Loads s in an evaluator, compiling and probing every province's set
 * there under the deadline; a province whose source fails is moved to
 * s's broken list (its calls fail closed) and the rest loaded again.
 * Returns RULES_OK, or an error (the defaults failed, or the pool did)
 * with the message in err. */
int rules_probe(rules_src *s, char *err, size_t errlen);

/* Probes s and makes it the set in force (with a reference of its own):
 * calls after this return use it; a state pinned to the old set keeps it
 * until it unpins. generation > 0 is the stored rules' generation; 0
 * takes the next one. Installs are serialised. A set that does not load
 * is refused, its error kept as the last error. The caller keeps its
 * reference either way. Returns RULES_OK or an error with the message. */
int rules_install(rules_src *s, long generation, char *err, size_t errlen);

/* Installs the files of rules_init's directory again. Returns RULES_OK,
 * or an error with the message (also when this process installs stored
 * versions, and has no directory). */
int rules_reload(char *err, size_t errlen);

/* The last install error and the set it is about ("" if none); returns
 * the generation in force, read with them. */
long rules_last_error(char *err, size_t errlen, char *file, size_t filelen);

/* Counts a rule call that failed (rules_failures). */
void rules_count_failure(void);

#endif
