/* The C unit test runner: runs every registered test in order. */
#include <stdlib.h>

#include <string.h>

#include "auth.h"
#include "evaluator.h"
#include "unit.h"
#include "vm.h"

#define UNIT_MAX 256

static struct {
  const char *name;
  unit_fn fn;
} tests[UNIT_MAX];
static int ntests;

void unit_register(const char *name, unit_fn fn) {
  if (ntests < UNIT_MAX) {
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
  }
}

int main(int argc, char **argv) {
  int i, passed = 0, failed = 0;
  const char *root = getenv("HOST_ROOT");
  /* rule calls start this binary again as their evaluator */
  if (argc > 1 && strcmp(argv[1], EVALUATOR_ARG) == 0) evaluator_main();
  /* the sandbox's own limits are tested here (the deadline in the API
   * tests): a slow sanitizer build must not reach the deadline first */
  setenv("HOST_RULE_DEADLINE_MS", "30000", 0);
  snprintf(vm_paths.root, sizeof vm_paths.root, "%s", root ? root : ".");
  if (auth_init() != 0) return 1;
  for (i = 0; i < ntests; i++) {
    int f = 0;
    tests[i].fn(&f);
    printf("%s - %s\n", f ? "not ok" : "ok", tests[i].name);
    if (f)
      failed++;
    else
      passed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout); /* before LeakSanitizer reports */
  return failed ? 1 : 0;
}
