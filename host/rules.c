/*
 * rules: sandboxed province rule sets with hot reload.
 *
 * The sources of the set in force are an immutable, reference-counted
 * rules_src. Each thread that calls rules owns a rules_vm: its own
 * lua_State built from one rules_src, rebuilt when the generation moves
 * on. Values cross between the caller's state and the sandbox by deep
 * copy, so a rule never holds a reference into trusted code.
 * Uses: Lua 5.4, pthreads, POSIX dirent/stat.
 */
#include "rules.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#define RULES_MEM_LIMIT (32u << 20) /* bytes per sandbox state */
#define RULES_BUDGET 2000000L       /* VM instructions per call */
#define RULES_HOOK_STEP 1000        /* instructions between hook runs */
#define RULES_MAX_FILES 64
#define RULES_COPY_DEPTH 24
#define RULES_COPY_ITEMS 200000

/* The sources of one rule set. Immutable once published. */
typedef struct rules_src {
  int refs; /* guarded by g_lock */
  int nfiles;
  struct {
    char *name; /* "default" or "13"; owned */
    char *path; /* dir/name.lua; owned */
    char *text; /* owned */
    size_t len;
  } files[RULES_MAX_FILES];
  char version[17]; /* FNV-1a 64 of names and texts */
  long generation;
  time_t loaded_at;
} rules_src;

/* A sandbox state and the accounting its allocator and hook use. */
typedef struct rules_vm {
  lua_State *L;   /* owned */
  rules_src *src; /* counted reference */
  size_t mem_used, mem_limit;
  long steps, budget; /* instructions this call */
} rules_vm;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_reload_lock =
    PTHREAD_MUTEX_INITIALIZER; /* one at a time */
static rules_src *g_src;       /* in force; guarded by g_lock */
static char g_dir[1024];
static char g_last_error[1024]; /* guarded by g_lock */
static char g_signature[64];    /* poll signature; main thread */
static atomic_long g_generation;
static atomic_long g_failures;

static const char *const REQUIRED[] = {"check_plan",        "check_profile",
                                       "check_declaration", "review_chain",
                                       "deadline",          NULL};

/* ---- sources -------------------------------------------------------- */

static void src_release(rules_src *s) {
  int i, last;
  if (!s) return;
  pthread_mutex_lock(&g_lock);
  last = --s->refs == 0;
  pthread_mutex_unlock(&g_lock);
  if (!last) return;
  for (i = 0; i < s->nfiles; i++) {
    free(s->files[i].name);
    free(s->files[i].path);
    free(s->files[i].text);
  }
  free(s);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
    if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
      buf[n] = '\0';
      *len = (size_t)n;
    } else {
      free(buf);
      buf = NULL;
    }
  }
  fclose(f);
  return buf;
}

/* Is name "default.lua" or "<two digits>.lua"? Writes the stem to stem. */
static int rule_file_name(const char *name, char *stem, size_t stemlen) {
  size_t len = strlen(name);
  if (len < 5 || strcmp(name + len - 4, ".lua") != 0) return 0;
  if (strcmp(name, "default.lua") == 0 ||
      (len == 6 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' &&
       name[1] <= '9')) {
    snprintf(stem, stemlen, "%.*s", (int)(len - 4), name);
    return 1;
  }
  return 0;
}

static int src_add(rules_src *s, const char *stem, const char *path, char *err,
                   size_t errlen) {
  size_t len = 0;
  char *text;
  if (s->nfiles == RULES_MAX_FILES) {
    snprintf(err, errlen, "%s: too many rule files", path);
    return RULES_ERR_IO;
  }
  if (!(text = slurp(path, &len))) {
    snprintf(err, errlen, "%s: cannot read", path);
    return RULES_ERR_IO;
  }
  s->files[s->nfiles].name = strdup(stem);
  s->files[s->nfiles].path = strdup(path);
  s->files[s->nfiles].text = text;
  s->files[s->nfiles].len = len;
  s->nfiles++;
  return RULES_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void src_version(rules_src *s) {
  uint64_t h = 1469598103934665603ull;
  int i;
  size_t k;
  for (i = 0; i < s->nfiles; i++) {
    for (k = 0; s->files[i].name[k]; k++)
      h = (h ^ (unsigned char)s->files[i].name[k]) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (k = 0; k < s->files[i].len; k++)
      h = (h ^ (unsigned char)s->files[i].text[k]) * 1099511628211ull;
  }
  snprintf(s->version, sizeof s->version, "%016llx", (unsigned long long)h);
}

/* Reads every rule file of dir, default first. Caller releases. */
static int src_read_dir(const char *dir, rules_src **out, char *err,
                        size_t errlen) {
  DIR *d = NULL;
  struct dirent *e;
  char *names[RULES_MAX_FILES];
  int n = 0, i, rc = RULES_ERR_IO;
  rules_src *s = calloc(1, sizeof *s);
  char stem[16], path[2048];

  *out = NULL;
  if (!s) goto done;
  s->refs = 1;
  if (!(d = opendir(dir))) {
    snprintf(err, errlen, "%s: cannot open rules directory", dir);
    goto done;
  }
  while ((e = readdir(d)) && n < RULES_MAX_FILES)
    if (rule_file_name(e->d_name, stem, sizeof stem) &&
        strcmp(stem, "default") != 0)
      names[n++] = strdup(e->d_name);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  snprintf(path, sizeof path, "%s/default.lua", dir);
  if ((rc = src_add(s, "default", path, err, errlen)) != RULES_OK) goto done;
  for (i = 0; i < n; i++) {
    rule_file_name(names[i], stem, sizeof stem);
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if ((rc = src_add(s, stem, path, err, errlen)) != RULES_OK) goto done;
  }
  src_version(s);
  *out = s;
  s = NULL;
  rc = RULES_OK;
done:
  for (i = 0; i < n; i++)
    free(names[i]);
  if (d) closedir(d);
  src_release(s);
  return rc;
}

/* ---- the sandbox state ---------------------------------------------- */

/* Allocator with a cap: refusing makes Lua raise a memory error. */
static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  rules_vm *vm = ud;
  size_t old = ptr ? osize : 0;
  void *p;
  if (nsize == 0) {
    free(ptr);
    vm->mem_used -= old;
    return NULL;
  }
  if (nsize > old && vm->mem_used + (nsize - old) > vm->mem_limit) return NULL;
  p = realloc(ptr, nsize);
  if (p) vm->mem_used = vm->mem_used - old + nsize;
  return p;
}

/* Count hook: once the budget is spent it re-arms itself for every
 * instruction, so a pcall inside the rule cannot swallow the error. */
static void vm_hook(lua_State *L, lua_Debug *ar) {
  rules_vm *vm = *(rules_vm **)lua_getextraspace(L);
  (void)ar;
  vm->steps += RULES_HOOK_STEP;
  if (vm->steps > vm->budget) {
    lua_sethook(L, vm_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "rule exceeded its instruction budget (%d)", (int)vm->budget);
  }
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg)
    msg =
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Runs the function below nargs arguments with the budget armed, leaving
 * one result (or the error message) on the stack. Returns a LUA_ status. */
static int vm_pcall(rules_vm *vm, int nargs) {
  lua_State *L = vm->L;
  int base = lua_gettop(L) - nargs, rc;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  vm->steps = 0;
  vm->budget = RULES_BUDGET;
  vm->mem_limit = RULES_MEM_LIMIT;
  lua_sethook(L, vm_hook, LUA_MASKCOUNT, RULES_HOOK_STEP);
  rc = lua_pcall(L, nargs, 1, base);
  lua_sethook(L, NULL, 0, 0);
  vm->mem_limit = (size_t)-1; /* host-side copies never fail */
  lua_remove(L, base);
  if (rc == LUA_ERRMEM) {
    lua_pop(L, 1);
    lua_pushliteral(L, "rule exceeded its memory limit");
  }
  return rc;
}

/* Pushes a fresh _ENV for one rule file: copies of the allowed names. */
static void push_env(lua_State *L) {
  static const char *const base[] = {
      "assert", "error",    "ipairs",   "next",     "pairs",
      "pcall",  "select",   "tonumber", "tostring", "type",
      "xpcall", "rawequal", "rawlen",   "_VERSION", NULL};
  static const char *const libs[] = {"string", "table", "math", "utf8", NULL};
  static const char *const os_names[] = {"time", "date", "clock", "difftime",
                                         NULL};
  int i;
  lua_createtable(L, 0, 24); /* env */
  lua_pushglobaltable(L);    /* env G */
  for (i = 0; base[i]; i++) {
    lua_getfield(L, -1, base[i]);
    lua_setfield(L, -3, base[i]);
  }
  for (i = 0; libs[i]; i++) {
    lua_newtable(L);              /* env G copy */
    lua_getfield(L, -2, libs[i]); /* env G copy lib */
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* env G copy lib k v */
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -5);
    }
    lua_pop(L, 1);
    lua_setfield(L, -3, libs[i]);
  }
  lua_newtable(L); /* env G os */
  lua_getfield(L, -2, "os");
  for (i = 0; os_names[i]; i++) {
    lua_getfield(L, -1, os_names[i]);
    lua_setfield(L, -3, os_names[i]);
  }
  lua_pop(L, 1);
  lua_setfield(L, -3, "os");
  lua_pop(L, 1); /* env */
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "_G");
}

/* Loads file i as text into a fresh env and runs it with nargs arguments
 * taken from the stack top. Leaves the chunk's result. */
static int run_file(rules_vm *vm, const rules_src *s, int i, int nargs,
                    char *err, size_t errlen) {
  lua_State *L = vm->L;
  char chunkname[2100];
  int rc;
  snprintf(chunkname, sizeof chunkname, "@%s", s->files[i].path);
  if (luaL_loadbufferx(L, s->files[i].text, s->files[i].len, chunkname, "t") !=
      LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
    lua_pop(L, 1 + nargs);
    return RULES_ERR_LOAD;
  }
  push_env(L);
  lua_setupvalue(L, -2, 1); /* its _ENV */
  lua_insert(L, -1 - nargs);
  if ((rc = vm_pcall(vm, nargs)) != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return RULES_ERR_LOAD;
  }
  if (!lua_istable(L, -1)) {
    snprintf(err, errlen, "%s: must return a table of rules, returned %s",
             s->files[i].path, luaL_typename(L, -1));
    lua_pop(L, 1);
    return RULES_ERR_SHAPE;
  }
  return RULES_OK;
}

static const char SETS_KEY = 's'; /* registry: province -> set */

/* ---- guards for library functions that loop in C -------------------- */
/* The count hook runs between VM instructions only, so a C function that
 * loops long (pattern backtracking, string.rep of an empty string, a huge
 * table.move) would escape the budget. These wrappers refuse such calls
 * and otherwise call the original, kept as upvalue 1. */

#define RULES_MAX_REP (1 << 20)  /* bytes or repetitions */
#define RULES_MAX_MATCH_COST 1e7 /* ~ subject^quantifiers */
#define RULES_MAX_MOVE 1000000

static int call_original(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

static int guarded_rep(lua_State *L) {
  size_t l, lsep = 0;
  lua_Integer n;
  luaL_checklstring(L, 1, &l);
  n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  if (n > RULES_MAX_REP ||
      (n > 0 && (lua_Unsigned)n * (l + lsep) > RULES_MAX_REP))
    return luaL_error(L, "string.rep: result too large for a rule");
  return call_original(L);
}

/* find, match, gmatch, gsub: backtracking costs about subject length to
 * the power of the quantifiers in the pattern. Upvalue 2: is find. */
static int guarded_match(lua_State *L) {
  size_t ls, lp, i;
  double cost = 1;
  int quantifiers = 0;
  const char *p;
  luaL_checklstring(L, 1, &ls);
  p = luaL_checklstring(L, 2, &lp);
  if (lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4))
    return call_original(L); /* a plain find */
  for (i = 0; i < lp; i++) {
    if (p[i] == '%')
      i++;
    else if (p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?')
      quantifiers++;
  }
  for (i = 0; i < (size_t)quantifiers && cost <= RULES_MAX_MATCH_COST; i++)
    cost *= (double)ls + 1;
  if (lp > 256 || cost > RULES_MAX_MATCH_COST)
    return luaL_error(L, "pattern too complex for its subject in a rule");
  return call_original(L);
}

static int guarded_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
  if (e >= f && (lua_Unsigned)e - (lua_Unsigned)f >= RULES_MAX_MOVE)
    return luaL_error(L, "table.move: range too large for a rule");
  return call_original(L);
}

/* Replaces lib[name] (lib on top) by fn with the original as upvalue 1
 * and flag as upvalue 2. */
static void guard(lua_State *L, const char *name, lua_CFunction fn, int flag) {
  lua_getfield(L, -1, name);
  lua_pushboolean(L, flag);
  lua_pushcclosure(L, fn, 2);
  lua_setfield(L, -2, name);
}

static void guard_libraries(lua_State *L) {
  lua_getglobal(L, "string"); /* the real one: strings' __index */
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  guard(L, "rep", guarded_rep, 0);
  guard(L, "find", guarded_match, 1);
  guard(L, "match", guarded_match, 0);
  guard(L, "gmatch", guarded_match, 0);
  guard(L, "gsub", guarded_match, 0);
  lua_pop(L, 1);
  lua_getglobal(L, "table");
  guard(L, "move", guarded_move, 0);
  lua_pop(L, 1);
}

/* Builds a sandbox state holding every set of s. Returns RULES_OK and
 * fills vm (L, src reference), or an error naming the file and line. */
static int vm_build(rules_vm *vm, rules_src *s, char *err, size_t errlen) {
  lua_State *L;
  int i, rc = RULES_OK;
  vm->mem_used = 0;
  vm->mem_limit = (size_t)-1; /* capped inside vm_pcall only */
  if (!(L = lua_newstate(vm_alloc, vm))) {
    snprintf(err, errlen, "rules: cannot create a Lua state");
    return RULES_ERR_LOAD;
  }
  *(rules_vm **)lua_getextraspace(L) = vm;
  vm->L = L;
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
  lua_pop(L, 6);
  /* The string metatable reaches the real string table: guard it there. */
  guard_libraries(L);

  lua_newtable(L); /* sets */
  for (i = 0; i < s->nfiles && rc == RULES_OK; i++) {
    /* Each set starts from its own run of default.lua, so a province can
     * change its base without touching anyone else's. */
    if ((rc = run_file(vm, s, 0, 0, err, errlen)) != RULES_OK) break;
    if (i > 0) { /* sets merged */
      /* The province sees a pristine base of its own; its entries are then
       * merged into the first copy, whose functions see them by late
       * binding (default's check_profile reads the province's fields). */
      if ((rc = run_file(vm, s, 0, 0, err, errlen)) != RULES_OK) {
        lua_pop(L, 1);
        break;
      } /* sets merged base */
      if ((rc = run_file(vm, s, i, 1, err, errlen)) != RULES_OK) {
        lua_pop(L, 1);
        break;
      } /* sets base over */
      lua_pushnil(L);
      while (lua_next(L, -2)) { /* sets base over k v */
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -5);
      }
      lua_pop(L, 1); /* sets merged */
    }
    for (int k = 0; REQUIRED[k]; k++) {
      lua_getfield(L, -1, REQUIRED[k]);
      if (!lua_isfunction(L, -1)) {
        snprintf(err, errlen, "%s: the rule set has no function '%s'",
                 s->files[i].path, REQUIRED[k]);
        rc = RULES_ERR_SHAPE;
      }
      lua_pop(L, 1);
      if (rc != RULES_OK) break;
    }
    if (rc != RULES_OK) {
      lua_pop(L, 1);
      break;
    }
    lua_setfield(L, -2, s->files[i].name);
  }
  if (rc != RULES_OK) {
    lua_close(L);
    vm->L = NULL;
    return rc;
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &SETS_KEY);
  lua_gc(L, LUA_GCCOLLECT);
  vm->src = s;
  pthread_mutex_lock(&g_lock);
  s->refs++;
  pthread_mutex_unlock(&g_lock);
  return RULES_OK;
}

static void vm_clear(rules_vm *vm) {
  if (vm->L) lua_close(vm->L);
  vm->L = NULL;
  src_release(vm->src);
  vm->src = NULL;
}

/* ---- loading and reloading ------------------------------------------ */

static int try_set(rules_src *s, char *err, size_t errlen) {
  rules_vm probe;
  int rc;
  memset(&probe, 0, sizeof probe);
  rc = vm_build(&probe, s, err, errlen);
  vm_clear(&probe);
  return rc;
}

/* Reloads are serialised: two at once could publish different sets under
 * one generation number, and a worker would never notice the second. */
static int reload_locked(char *err, size_t errlen) {
  rules_src *s = NULL, *old;
  int rc;
  if ((rc = src_read_dir(g_dir, &s, err, errlen)) != RULES_OK) goto fail;
  pthread_mutex_lock(&g_lock);
  rc = g_src && strcmp(g_src->version, s->version) == 0;
  pthread_mutex_unlock(&g_lock);
  if (rc) {
    src_release(s);
    pthread_mutex_lock(&g_lock);
    g_last_error[0] = '\0';
    pthread_mutex_unlock(&g_lock);
    return RULES_UNCHANGED;
  }
  if ((rc = try_set(s, err, errlen)) != RULES_OK) {
    src_release(s);
    goto fail;
  }
  s->loaded_at = time(NULL);
  pthread_mutex_lock(&g_lock);
  s->generation = atomic_load(&g_generation) + 1;
  old = g_src;
  g_src = s;
  g_last_error[0] = '\0';
  atomic_store(&g_generation, s->generation);
  pthread_mutex_unlock(&g_lock);
  src_release(old);
  return RULES_OK;
fail:
  pthread_mutex_lock(&g_lock);
  snprintf(g_last_error, sizeof g_last_error, "%s", err);
  pthread_mutex_unlock(&g_lock);
  return rc;
}

int rules_reload(char *err, size_t errlen) {
  int rc;
  pthread_mutex_lock(&g_reload_lock);
  rc = reload_locked(err, errlen);
  pthread_mutex_unlock(&g_reload_lock);
  return rc;
}

/* A string that changes when any rule file's name, size or mtime does. */
static void dir_signature(char *out, size_t outlen) {
  DIR *d = opendir(g_dir);
  struct dirent *e;
  struct stat st;
  uint64_t h = 1469598103934665603ull;
  char stem[16], path[2048];
  if (!d) {
    snprintf(out, outlen, "missing");
    return;
  }
  while ((e = readdir(d))) {
    const char *p;
    if (!rule_file_name(e->d_name, stem, sizeof stem)) continue;
    snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
    if (stat(path, &st) != 0) continue;
    for (p = e->d_name; *p; p++)
      h = (h ^ (unsigned char)*p) * 1099511628211ull;
    /* order-independent: add per-file mixes */
    h += (uint64_t)st.st_size * 31u + (uint64_t)st.st_mtim.tv_sec * 1000003u +
         (uint64_t)st.st_mtim.tv_nsec;
  }
  closedir(d);
  snprintf(out, outlen, "%016llx", (unsigned long long)h);
}

int rules_init(const char *dir, char *err, size_t errlen) {
  snprintf(g_dir, sizeof g_dir, "%s", dir);
  dir_signature(g_signature, sizeof g_signature);
  atomic_store(&g_generation, 0);
  return rules_reload(err, errlen) == RULES_OK ? RULES_OK : RULES_ERR_LOAD;
}

int rules_poll(void) {
  char sig[64], err[1024];
  int rc;
  dir_signature(sig, sizeof sig);
  if (strcmp(sig, g_signature) == 0) return RULES_UNCHANGED;
  snprintf(g_signature, sizeof g_signature, "%s", sig);
  rc = rules_reload(err, sizeof err);
  if (rc == RULES_OK)
    fprintf(stderr, "rules: reloaded after a file change, generation %ld\n",
            rules_generation());
  else if (rc != RULES_UNCHANGED)
    fprintf(stderr, "rules: reload refused, keeping the set in force: %s\n",
            err);
  return rc;
}

long rules_generation(void) {
  return atomic_load(&g_generation);
}
long rules_failures(void) {
  return atomic_load(&g_failures);
}

void rules_shutdown(void) {
  rules_src *s;
  pthread_mutex_lock(&g_lock);
  s = g_src;
  g_src = NULL;
  pthread_mutex_unlock(&g_lock);
  src_release(s);
}

int rules_check_files(int n, char **files, const char *fallback_dir, char *err,
                      size_t errlen) {
  int i, rc = RULES_OK;
  for (i = 0; i < n && rc == RULES_OK; i++) {
    rules_src *s = calloc(1, sizeof *s);
    char dir[1024], stem[16], defpath[2048];
    const char *slash = strrchr(files[i], '/');
    const char *base = slash ? slash + 1 : files[i];
    if (!s) return RULES_ERR_IO;
    s->refs = 1;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - files[i]) : 1,
             slash ? files[i] : ".");
    if (strcmp(base, "default.lua") == 0) {
      rc = src_add(s, "default", files[i], err, errlen);
    } else {
      FILE *f;
      snprintf(defpath, sizeof defpath, "%s/default.lua", dir);
      if (!(f = fopen(defpath, "rb")))
        snprintf(defpath, sizeof defpath, "%s/default.lua", fallback_dir);
      else
        fclose(f);
      if (!rule_file_name(base, stem, sizeof stem))
        snprintf(stem, sizeof stem, "check");
      rc = src_add(s, "default", defpath, err, errlen);
      if (rc == RULES_OK) rc = src_add(s, stem, files[i], err, errlen);
    }
    if (rc == RULES_OK) rc = try_set(s, err, errlen);
    src_release(s);
  }
  return rc;
}

/* ---- crossing between states ---------------------------------------- */

/* Copies the value at from[idx] onto to's stack: nil, booleans, numbers,
 * strings and tables of those (functions and userdata become nil).
 * *budget counts items left; depth guards cycles. */
static void copy_value(lua_State *from, int idx, lua_State *to, int depth,
                       long *budget) {
  idx = lua_absindex(from, idx);
  if (--*budget < 0) {
    lua_pushnil(to);
    return;
  }
  switch (lua_type(from, idx)) {
  case LUA_TBOOLEAN:
    lua_pushboolean(to, lua_toboolean(from, idx));
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(from, idx))
      lua_pushinteger(to, lua_tointeger(from, idx));
    else
      lua_pushnumber(to, lua_tonumber(from, idx));
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(from, idx, &len);
    lua_pushlstring(to, s, len);
    break;
  }
  case LUA_TTABLE:
    if (depth >= RULES_COPY_DEPTH || !lua_checkstack(from, 4) ||
        !lua_checkstack(to, 4)) {
      *budget = -1; /* the caller reports it */
      lua_pushnil(to);
      break;
    }
    lua_newtable(to);
    lua_pushnil(from);
    while (lua_next(from, idx)) { /* from: k v */
      int kt = lua_type(from, -2);
      if (kt == LUA_TSTRING || kt == LUA_TNUMBER) {
        copy_value(from, -2, to, depth + 1, budget);
        copy_value(from, -1, to, depth + 1, budget);
        if (lua_isnil(to, -2))
          lua_pop(to, 2);
        else
          lua_rawset(to, -3);
      }
      lua_pop(from, 1);
    }
    break;
  default:
    lua_pushnil(to);
  }
}

/* ---- the `rules` module --------------------------------------------- */

static const char *const RULES_VM_MT = "host.rules.vm";

static int l_vm_gc(lua_State *L) {
  rules_vm *vm = luaL_checkudata(L, 1, RULES_VM_MT);
  vm_clear(vm);
  return 0;
}

/* This caller's sandbox, current with the generation in force. */
static rules_vm *caller_vm(lua_State *L) {
  static const char VM_KEY = 'v';
  rules_vm *vm;
  rules_src *s;
  char err[1024];
  lua_rawgetp(L, LUA_REGISTRYINDEX, &VM_KEY);
  vm = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!vm) {
    vm = lua_newuserdatauv(L, sizeof *vm, 0);
    memset(vm, 0, sizeof *vm);
    luaL_setmetatable(L, RULES_VM_MT);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &VM_KEY);
  }
  if (vm->src && vm->src->generation == atomic_load(&g_generation)) return vm;
  pthread_mutex_lock(&g_lock);
  s = g_src;
  if (s) s->refs++;
  pthread_mutex_unlock(&g_lock);
  if (!s) luaL_error(L, "rules: no rule set is loaded");
  vm_clear(vm);
  if (vm_build(vm, s, err, sizeof err) != RULES_OK) {
    src_release(s);
    luaL_error(L, "rules: %s", err);
  }
  src_release(s); /* vm_build took its own */
  return vm;
}

/* rules.call(province, name, arg) -> result | nil, message
 * Runs set[name](arg) of the province (or the default set) in this
 * caller's sandbox. A non-function entry is returned as a value. */
static int l_rules_call(lua_State *L) {
  const char *prov = luaL_optstring(L, 1, "default");
  const char *name = luaL_checkstring(L, 2);
  rules_vm *vm = caller_vm(L);
  lua_State *R = vm->L;
  long budget = RULES_COPY_ITEMS;
  int top = lua_gettop(R), rc;

  lua_rawgetp(R, LUA_REGISTRYINDEX, &SETS_KEY);
  if (lua_getfield(R, -1, prov) != LUA_TTABLE) {
    lua_pop(R, 1);
    lua_getfield(R, -1, "default");
  }
  lua_getfield(R, -1, name); /* sets set fn */
  if (!lua_isfunction(R, -1)) {
    copy_value(R, -1, L, 0, &budget);
    lua_settop(R, top);
    return 1;
  }
  copy_value(L, 3, R, 0, &budget);
  if (budget < 0) {
    lua_settop(R, top);
    return luaL_error(L, "rules: argument too large or too deep");
  }
  rc = vm_pcall(vm, 1);
  if (rc != LUA_OK) {
    atomic_fetch_add(&g_failures, 1);
    lua_pushnil(L);
    lua_pushfstring(L, "%s", lua_tostring(R, -1));
    lua_settop(R, top);
    return 2;
  }
  budget = RULES_COPY_ITEMS;
  copy_value(R, -1, L, 0, &budget);
  lua_settop(R, top);
  if (budget < 0) {
    atomic_fetch_add(&g_failures, 1);
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_pushliteral(L, "rule result too large or too deep");
    return 2;
  }
  /* A rule that keeps memory across calls (in its upvalues) would starve
   * every other province on this thread: start this thread afresh. */
  if (vm->mem_used > RULES_MEM_LIMIT / 2) {
    lua_gc(R, LUA_GCCOLLECT);
    if (vm->mem_used > RULES_MEM_LIMIT / 2) {
      fprintf(stderr,
              "rules: %s.%s keeps %zu bytes across calls; "
              "rebuilding this thread's rule state\n",
              prov, name, vm->mem_used);
      atomic_fetch_add(&g_failures, 1);
      vm_clear(vm);
    }
  }
  return 1;
}

/* rules.version() -> the hex version of the set in force */
static int l_rules_version(lua_State *L) {
  char version[17] = "";
  pthread_mutex_lock(&g_lock);
  if (g_src) snprintf(version, sizeof version, "%s", g_src->version);
  pthread_mutex_unlock(&g_lock);
  if (version[0])
    lua_pushstring(L, version);
  else
    lua_pushnil(L);
  return 1;
}

/* rules.status() -> {version, generation, loaded_at, last_error, dir,
 *                    files = {{province, path}...}, failures} */
static int l_rules_status(lua_State *L) {
  char version[17] = "", error[1024], paths[RULES_MAX_FILES][128],
       names[RULES_MAX_FILES][16];
  long generation;
  time_t loaded_at = 0;
  int i, n = 0;
  /* Copy under the lock; build Lua values (which may raise) after it. */
  pthread_mutex_lock(&g_lock);
  if (g_src) {
    snprintf(version, sizeof version, "%s", g_src->version);
    loaded_at = g_src->loaded_at;
    for (n = 0; n < g_src->nfiles; n++) {
      snprintf(names[n], sizeof names[n], "%s", g_src->files[n].name);
      snprintf(paths[n], sizeof paths[n], "%s", g_src->files[n].path);
    }
  }
  snprintf(error, sizeof error, "%s", g_last_error);
  generation = atomic_load(&g_generation);
  pthread_mutex_unlock(&g_lock);
  lua_newtable(L);
  if (version[0]) {
    lua_pushstring(L, version);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, loaded_at);
    lua_setfield(L, -2, "loaded_at");
  }
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, names[i]);
    lua_setfield(L, -2, "province");
    lua_pushstring(L, paths[i]);
    lua_setfield(L, -2, "path");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "files");
  if (error[0]) {
    lua_pushstring(L, error);
    lua_setfield(L, -2, "last_error");
  }
  lua_pushstring(L, g_dir);
  lua_setfield(L, -2, "dir");
  lua_pushinteger(L, generation);
  lua_setfield(L, -2, "generation");
  lua_pushinteger(L, atomic_load(&g_failures));
  lua_setfield(L, -2, "failures");
  return 1;
}

/* rules.reload() -> true, "reloaded"|"unchanged" | false, message */
static int l_rules_reload(lua_State *L) {
  char err[1024];
  int rc = rules_reload(err, sizeof err);
  if (rc == RULES_OK || rc == RULES_UNCHANGED) {
    lua_pushboolean(L, 1);
    lua_pushstring(L, rc == RULES_OK ? "reloaded" : "unchanged");
  } else {
    lua_pushboolean(L, 0);
    lua_pushstring(L, err);
  }
  return 2;
}

static const luaL_Reg rules_funcs[] = {
    {"call", l_rules_call},
    {"version", l_rules_version},
    {"status", l_rules_status},
    {"reload", l_rules_reload},
    {NULL, NULL},
};

int luaopen_host_rules(lua_State *L) {
  if (luaL_newmetatable(L, RULES_VM_MT)) {
    lua_pushcfunction(L, l_vm_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, rules_funcs);
  return 1;
}
