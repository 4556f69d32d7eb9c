/*
 * unit: a minimal C test harness. UNIT_TEST(name) defines and registers a
 * test; CHECK records a failure and goes on; the runner (main.c) ends
 * with "N passed, N failed".
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

typedef void (*unit_fn)(int *failed);
void unit_register(const char *name, unit_fn fn);

#define UNIT_TEST(name)                                                        \
  static void name(int *unit_failed_);                                         \
  __attribute__((constructor)) static void name##_register(void) {             \
    unit_register(#name, name);                                                \
  }                                                                            \
  static void name(int *unit_failed_)

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stdout, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,       \
              #cond);                                                          \
      *unit_failed_ = 1;                                                       \
    }                                                                          \
  } while (0)

#define CHECK_STR_HAS(hay, needle)                                             \
  do {                                                                         \
    const char *h_ = (hay);                                                    \
    if (!h_ || !strstr(h_, (needle))) {                                        \
      fprintf(stdout, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,   \
              __LINE__, h_ ? h_ : "(null)", (needle));                         \
      *unit_failed_ = 1;                                                       \
    }                                                                          \
  } while (0)

#endif
