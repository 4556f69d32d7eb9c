/*
 * rules_src: the sources of one rule set. Provides an immutable,
 * reference-counted set of named rule texts (default.lua first, then
 * province files), read from a directory or files or given as texts, the
 * set's key (FNV-1a 64 of its names and texts: what an evaluator holds
 * the set by), moving a province that does not load to the set's broken
 * list (its calls fail closed), and the set's 'L' request frame
 * (evaluator.h). Nothing here runs a rule.
 * Uses: wire, util, rules (its error codes), sandbox (SBX_MAX_FILES),
 * C11 atomics, POSIX dirent.
 */
#ifndef HOST_RULES_SRC_H
#define HOST_RULES_SRC_H

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "rules.h"
#include "sandbox.h"
#include "wire.h"

#define RULES_MAX_FILES SBX_MAX_FILES
#define RULES_MAX_SOURCE (1u << 20) /* bytes of one rule file */

/* The sources of one rule set. Immutable once it is published (in force,
 * or handed to Lua): until then its maker alone changes it. */
typedef struct rules_src {
  atomic_int refs; /* references; the last release frees the set */
  int nfiles;
  struct {
    char *name;      /* "default" or "13"; owned */
    char *chunkname; /* "13.lua" or, for `rules check`, the path; owned */
    char *text;      /* owned */
    size_t len;
    long version_id; /* the stored version (0: a file of a directory) */
  } files[RULES_MAX_FILES];
  /* Provinces whose source did not load when the set was installed:
   * their calls fail (closed), never fall back to the defaults. */
  int nbroken;
  struct {
    char name[16];
    char err[512];
  } broken[RULES_MAX_FILES];
  char version[17]; /* FNV-1a 64 of names and texts: the set's key */
  long generation;  /* set when it is put in force */
  time_t loaded_at;
} rules_src;

/* A new, empty set with one reference (the caller's), or NULL. */
rules_src *rules_src_new(void);

/* Takes another reference to s, which must hold one already. */
void rules_src_retain(rules_src *s);

/* Gives a reference back; the last frees s. NULL does nothing. */
void rules_src_release(rules_src *s);

/* Adds a copy of text as set name (chunkname in messages). Returns
 * RULES_OK, or RULES_ERR_IO: too many files, or out of memory (s
 * unchanged). */
int rules_src_add_text(rules_src *s, const char *name, const char *chunkname,
                       const char *text, size_t len, long version_id);

/* Adds the file at path as set stem, named chunkname in messages.
 * Returns RULES_OK, or RULES_ERR_IO with the message in err. */
int rules_src_add_file(rules_src *s, const char *stem, const char *path,
                       const char *chunkname, char *err, size_t errlen);

/* Computes s's version (its key) from its names and texts: after the
 * last file is added, and again after rules_src_break. */
void rules_src_seal(rules_src *s);

/* Reads every rule file of dir, default.lua first, then the province
 * files in name order, as a sealed set. Returns RULES_OK with *out (the
 * caller's reference), or RULES_ERR_IO with the message in err. */
int rules_src_read_dir(const char *dir, rules_src **out, char *err,
                       size_t errlen);

/* Is name "default.lua" or "<two digits>.lua"? Writes the stem. */
int rules_file_name(const char *name, char *stem, size_t stemlen);

/* Moves the province file name out of s into its broken list, with err,
 * and seals s again. Returns 0 when it cannot (the defaults, no such
 * file), else 1. */
int rules_src_break(rules_src *s, const char *name, const char *err);

/* The error a broken province's calls fail with, or NULL. */
const char *rules_src_broken(const rules_src *s, const char *province);

/* Appends s's 'L' frame to b (a load request; probe 1: probe every set).
 * Returns a WIRE_ status. */
int rules_src_put_load(wire_buf *b, const rules_src *s, int probe);

#endif
