/*
 * main: the `host` command line (docs/api.md). Parses the global options,
 * then runs a command: serve, migrate, seed, user add, sms list, token add,
 * repl, rules check|test|versions|push|publish|export. Commands whose work is
 * platform logic run in scripts/cli.lua on a trusted state. Uses: http, vm, db,
 * rules, evaluator, repl, auth. Exit codes: 0 ok, 1 failure (message on
 * stderr), 2 bad usage.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>

#include "auth.h"
#include "db.h"
#include "evaluator.h"
#include "http.h"
#include "repl.h"
#include "rules.h"
#include "vm.h"

static const char USAGE[] =
    "usage: host COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  serve [--port 8080] [--threads 128] [--watch-rules]\n"
    "                                       serve the API and the pages\n"
    "  migrate                              apply pending schema/ migrations\n"
    "  seed [--demo]                        load reference data (and demo "
    "data)\n"
    "  user add --role school|city|province|ops --username U --password P\n"
    "           [--province C] [--city C] [--school ID] [--phone N] [--name "
    "N]\n"
    "  sms list [--phone N] [--status S]    print the SMS outbox, JSON lines\n"
    "  token add --name NAME                make an API token, printed once\n"
    "  backup --out FILE                    a consistent copy of the SQLite "
    "database,\n"
    "                                       taken while serving\n"
    "  restore --from FILE [--force]        the database from such a copy "
    "(server\n"
    "                                       stopped; --force replaces a "
    "database)\n"
    "  repl                                 a Lua prompt with the host's "
    "bindings\n"
    "  rules check FILE...                  load rule files in the sandbox\n"
    "  rules test [DIR]                     run rule cases (default "
    "tests/rules)\n"
    "  rules versions --province P          the province's stored versions\n"
    "  rules push --province P FILE [--note N]  store a draft, print its id\n"
    "  rules publish --province P --id N    put a version in force\n"
    "  rules export --province P [--out DIR]  write the version in force\n"
    "\n"
    "options for every command:\n"
    "  --db PATH|URI  SQLite file (default data/platform.db) or\n"
    "                 postgresql://USER@/DB?host=DIR&port=N\n"
    "  --rules DIR    province rules (default rules/)\n"
    "  --web DIR      static pages (default web/dist/)\n"
    "  -h, --help     this text\n";

static int usage(const char *why) {
  if (why) fprintf(stderr, "host: %s\n\n", why);
  fputs(USAGE, stderr);
  return 2;
}

/* The checkout: the parent of the directory holding this binary, unless
 * HOST_ROOT says otherwise. */
static void find_root(char *out, size_t outlen) {
  char exe[PATH_MAX];
  ssize_t n;
  const char *env = getenv("HOST_ROOT");
  if (env && *env) {
    snprintf(out, outlen, "%s", env);
    return;
  }
  n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    snprintf(out, outlen, ".");
    return;
  }
  exe[n] = '\0';
  snprintf(out, outlen, "%s", dirname(dirname(exe)));
}

static int migrate(char *err, size_t errlen, int quiet) {
  char dir[1100], parent[1100], *slash;
  int applied = 0;
  snprintf(parent, sizeof parent, "%s", vm_paths.db);
  if (!db_is_pg(vm_paths.db) && (slash = strrchr(parent, '/'))) {
    *slash = '\0';
    if (*parent) mkdir(parent, 0755);
  }
  snprintf(dir, sizeof dir, "%s/schema", vm_paths.root);
  if (db_migrate_at(vm_paths.db, dir, &applied, err, errlen) != DB_OK) return 1;
  if (!quiet) printf("migrations applied: %d\n", applied);
  return 0;
}

/* Runs func of scripts/rules_store.lua in the main thread's state. */
static int store_run(lua_State *L, const char *func, int watch) {
  char flag[] = "--watch-rules", *argv[] = {flag, NULL};
  return vm_run(L, "rules_store", func, watch ? 1 : 0, argv);
}

/* glibc gives a many-threaded process up to 8 malloc arenas per core, each
 * keeping what its threads freed: 128 workers on 2 cores held ~30 MiB more
 * than with one arena per core, which is all the cores can use at once.
 * MALLOC_ARENA_MAX (or GLIBC_TUNABLES) set by the operator wins. */
static void malloc_arenas(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (getenv("MALLOC_ARENA_MAX") || getenv("GLIBC_TUNABLES")) return;
  mallopt(M_ARENA_MAX, cores < 2 ? 2 : (int)cores);
}

/* The --db as it may be printed: a PostgreSQL URI's password (user:PASS@
 * or password=PASS) as ***. */
static void db_shown(const char *db, char *out, size_t n) {
  const char *scheme = strstr(db, "://"), *at, *colon, *pw;
  size_t len;
  snprintf(out, n, "%s", db);
  if (!scheme) return;
  at = strchr(scheme + 3, '@');
  colon = strchr(scheme + 3, ':');
  if (at && colon && colon < at) {
    len = (size_t)(colon + 1 - db);
    snprintf(out + (len < n ? len : n - 1), n - (len < n ? len : n - 1),
             "***%s", at);
  }
  if ((pw = strstr(out, "password=")) != NULL) {
    char rest[1024];
    const char *amp = strchr(pw, '&');
    snprintf(rest, sizeof rest, "%s", amp ? amp : "");
    snprintf((char *)pw + 9, n - (size_t)(pw + 9 - out), "***%s", rest);
  }
}

static int serve(int port, int threads, int watch) {
  char err[1024];
  sigset_t set;
  int sig, running = 1;
  /* Four ticks a second: a publish on another instance (the stored
   * generation) is in force here well within the second api.md promises. */
  struct timespec tick = {0, 250000000L};
  lua_State *L;

  malloc_arenas();
  if (migrate(err, sizeof err, 1) != 0) {
    fprintf(stderr, "host: %s\n", err);
    return 1;
  }
  /* The main thread's own state installs the stored rules at start, on
   * SIGHUP and when another process publishes (rules_store.tick). */
  if (!(L = vm_new(1, err, sizeof err))) {
    fprintf(stderr, "host: %s\n", err);
    return 1;
  }
  if (store_run(L, "boot", watch) != 0) {
    fprintf(stderr, "host: rules: no rule set could be installed\n");
    lua_close(L);
    return 1;
  }
  {
    const char *memo = getenv("HOST_RULE_MEMO_MS");
    rules_set_memo(memo && *memo ? atol(memo) : 1000);
  }
  /* Workers inherit this mask; signals are taken here with sigtimedwait. */
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (http_start(port, threads, err, sizeof err) != HTTP_OK) {
    fprintf(stderr, "host: %s\n", err);
    lua_close(L);
    return 1;
  }
  {
    char shown[sizeof vm_paths.db];
    db_shown(vm_paths.db, shown, sizeof shown);
    fprintf(stderr, "host: serving http://localhost:%d/ (db %s, rules %s%s)\n",
            port, shown, vm_paths.rules, watch ? ", watched" : "");
  }
  while (running) {
    sig = sigtimedwait(&set, NULL, &tick);
    if (sig == SIGHUP)
      store_run(L, "reload", watch);
    else if (sig == SIGTERM || sig == SIGINT)
      running = 0;
    else if (sig < 0 && errno == EAGAIN)
      store_run(L, "tick", watch);
  }
  fprintf(stderr, "host: stopping, finishing requests in flight\n");
  /* A second SIGTERM or SIGINT ends the process at once, and so does the
   * alarm if a worker never comes back (a rule stuck in C, say). */
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  alarm(60);
  http_stop();
  lua_close(L);
  rules_shutdown();
  fprintf(stderr, "host: stopped\n");
  return 0;
}

/* Runs func of scripts/<module>.lua with the arguments after the command. */
static int run_script(const char *module, const char *func, int argc,
                      char **argv, int need_db) {
  char err[1024];
  lua_State *L;
  int rc;
  if (need_db && migrate(err, sizeof err, 1) != 0) {
    fprintf(stderr, "host: %s\n", err);
    return 1;
  }
  if (!(L = vm_new(need_db, err, sizeof err))) {
    fprintf(stderr, "host: %s\n", err);
    return 1;
  }
  rc = vm_run(L, module, func, argc, argv);
  lua_close(L);
  return rc;
}

static int rules_cmd(int argc, char **argv) {
  char err[2048];
  if (argc < 1)
    return usage("rules: check, test, versions, push, publish or export?");
  if (strcmp(argv[0], "check") == 0) {
    if (argc < 2) return usage("rules check: which files?");
    if (rules_check_files(argc - 1, argv + 1, vm_paths.rules, err,
                          sizeof err) != RULES_OK) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    printf("ok: %d file(s)\n", argc - 1);
    return 0;
  }
  if (strcmp(argv[0], "test") == 0) {
    if (rules_init(vm_paths.rules, err, sizeof err) != RULES_OK) {
      fprintf(stderr, "rules: %s\n", err);
      return 1;
    }
    return run_script("rules_test", "main", argc - 1, argv + 1, 0);
  }
  if (!strcmp(argv[0], "versions") || !strcmp(argv[0], "push") ||
      !strcmp(argv[0], "publish") || !strcmp(argv[0], "export"))
    return run_script("rules_store", "cli", argc, argv, 1);
  return usage("rules: check, test, versions, push, publish or export?");
}

/* host backup --out FILE, host restore --from FILE [--force]. */
static int backup_cmd(const char *cmd, int argc, char **argv) {
  const int restore = !strcmp(cmd, "restore");
  const char *file = NULL, *flag = restore ? "--from" : "--out";
  char err[1024] = "";
  int i, force = 0;
  long pages;

  for (i = 0; i < argc; i++) {
    if (!strcmp(argv[i], flag) && i + 1 < argc)
      file = argv[++i];
    else if (restore && !strcmp(argv[i], "--force"))
      force = 1;
    else
      return usage(restore ? "restore --from FILE [--force]"
                           : "backup --out FILE");
  }
  if (!file)
    return usage(restore ? "restore: --from FILE" : "backup: --out FILE");
  if (db_is_pg(vm_paths.db)) {
    fprintf(stderr,
            "host: %s is for SQLite; on PostgreSQL use pg_dump or "
            "pg_basebackup (README, \"Running at national scale\")\n",
            cmd);
    return 1;
  }
  pages = restore ? db_restore(file, vm_paths.db, force, err, sizeof err)
                  : db_backup(vm_paths.db, file, err, sizeof err);
  if (pages < 0) {
    fprintf(stderr, "host: %s\n", err);
    return 1;
  }
  printf("%s: %ld pages, %s %s\n", cmd, pages, restore ? "from" : "to", file);
  return 0;
}

int main(int argc, char **argv) {
  char *rest[256];
  int nrest = 0, i, port = 8080, threads = HTTP_THREADS, rc;
  struct stat st;
  const char *cmd;

  /* Rule calls start this binary again as their evaluator process. */
  if (argc > 1 && strcmp(argv[1], EVALUATOR_ARG) == 0) evaluator_main();
  find_root(vm_paths.root, sizeof vm_paths.root);
  snprintf(vm_paths.db, sizeof vm_paths.db, "%s/data/platform.db",
           vm_paths.root);
  snprintf(vm_paths.rules, sizeof vm_paths.rules, "%s/rules", vm_paths.root);
  snprintf(vm_paths.web, sizeof vm_paths.web, "%s/web/dist", vm_paths.root);

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(USAGE, stdout);
      return 0;
    }
    if (!strcmp(a, "--db") || !strcmp(a, "--rules") || !strcmp(a, "--web") ||
        !strcmp(a, "--port") || !strcmp(a, "--threads")) {
      if (i + 1 >= argc) return usage("an option lacks its value");
      const char *v = argv[++i];
      if (!strcmp(a, "--db"))
        snprintf(vm_paths.db, sizeof vm_paths.db, "%s", v);
      else if (!strcmp(a, "--rules"))
        snprintf(vm_paths.rules, sizeof vm_paths.rules, "%s", v);
      else if (!strcmp(a, "--web"))
        snprintf(vm_paths.web, sizeof vm_paths.web, "%s", v);
      else {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 65535) return usage("not a valid number");
        if (!strcmp(a, "--port"))
          port = (int)n;
        else
          threads = n > 256 ? 256 : (int)n;
      }
      continue;
    }
    if (nrest < 255) rest[nrest++] = argv[i];
  }
  rest[nrest] = NULL;
  if (nrest == 0) return usage(NULL);
  if (auth_init() != 0) {
    fprintf(stderr, "host: libsodium cannot be initialised\n");
    return 1;
  }
  cmd = rest[0];
  if (!strcmp(cmd, "serve")) {
    int watch = nrest == 2 && !strcmp(rest[1], "--watch-rules");
    if (nrest > 1 && !watch) return usage("serve: unexpected argument");
    return serve(port, threads, watch);
  }
  if (!strcmp(cmd, "migrate")) {
    char err[1024];
    if (nrest > 1) return usage("migrate: unexpected argument");
    if (migrate(err, sizeof err, 0) != 0) {
      fprintf(stderr, "host: %s\n", err);
      return 1;
    }
    /* every rule file of the directory is a province's version 1 */
    return run_script("rules_store", "baseline_cli", 0, NULL, 1);
  }
  if (!strcmp(cmd, "seed"))
    return run_script("cli", "seed", nrest - 1, rest + 1, 1);
  if (!strcmp(cmd, "user")) {
    if (nrest < 2 || strcmp(rest[1], "add")) return usage("user: add?");
    return run_script("cli", "user_add", nrest - 2, rest + 2, 1);
  }
  if (!strcmp(cmd, "sms")) {
    if (nrest < 2 || strcmp(rest[1], "list")) return usage("sms: list?");
    return run_script("cli", "sms_list", nrest - 2, rest + 2, 1);
  }
  if (!strcmp(cmd, "token")) {
    if (nrest < 2 || strcmp(rest[1], "add")) return usage("token: add?");
    return run_script("cli", "token_add", nrest - 2, rest + 2, 1);
  }
  if (!strcmp(cmd, "backup") || !strcmp(cmd, "restore"))
    return backup_cmd(cmd, nrest - 1, rest + 1);
  if (!strcmp(cmd, "repl")) {
    char err[1024];
    int with_db = db_is_pg(vm_paths.db) || stat(vm_paths.db, &st) == 0;
    if (rules_init(vm_paths.rules, err, sizeof err) != RULES_OK)
      fprintf(stderr, "repl: rules not loaded: %s\n", err);
    rc = repl_main(with_db);
    rules_shutdown();
    return rc;
  }
  if (!strcmp(cmd, "rules")) {
    rc = rules_cmd(nrest - 1, rest + 1);
    rules_shutdown();
    return rc;
  }
  return usage("unknown command");
}
