/*
 * rules_src: the sources of a rule set; see rules_src.h.
 * Uses: wire, util, rules, C11 atomics, POSIX dirent.
 */
#include "rules_src.h"

#include <assert.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

rules_src *rules_src_new(void) {
  rules_src *s = calloc(1, sizeof *s);
  if (s) atomic_init(&s->refs, 1);
  return s;
}

void rules_src_retain(rules_src *s) {
  int before = atomic_fetch_add(&s->refs, 1);
  assert(before > 0); /* only a holder of a reference makes another */
  (void)before;
}

static void free_file(rules_src *s, int i) {
  free(s->files[i].name);
  free(s->files[i].chunkname);
  free(s->files[i].text);
}

void rules_src_release(rules_src *s) {
  int i, before;
  if (!s) return;
  before = atomic_fetch_sub(&s->refs, 1);
  assert(before > 0); /* released once per reference */
  if (before != 1) return;
  for (i = 0; i < s->nfiles; i++)
    free_file(s, i);
  free(s);
}

int rules_src_add_text(rules_src *s, const char *name, const char *chunkname,
                       const char *text, size_t len, long version_id) {
  int i = s->nfiles;
  if (i == RULES_MAX_FILES) return RULES_ERR_IO;
  s->files[i].name = strdup(name);
  s->files[i].chunkname = strdup(chunkname);
  s->files[i].text = malloc(len + 1);
  if (!s->files[i].name || !s->files[i].chunkname || !s->files[i].text) {
    free_file(s, i);
    memset(&s->files[i], 0, sizeof s->files[i]);
    return RULES_ERR_IO;
  }
  memcpy(s->files[i].text, text, len);
  s->files[i].text[len] = '\0';
  s->files[i].len = len;
  s->files[i].version_id = version_id;
  s->nfiles++;
  return RULES_OK;
}

int rules_src_add_file(rules_src *s, const char *stem, const char *path,
                       const char *chunkname, char *err, size_t errlen) {
  size_t len = 0;
  char *text; /* owned until it is the set's */
  int i = s->nfiles;
  if (i == RULES_MAX_FILES) {
    snprintf(err, errlen, "%s: too many rule files", chunkname);
    return RULES_ERR_IO;
  }
  if (!(text = util_read_file(path, RULES_MAX_SOURCE, &len))) {
    snprintf(err, errlen, "%s: cannot read (or larger than %u bytes)",
             chunkname, RULES_MAX_SOURCE);
    return RULES_ERR_IO;
  }
  s->files[i].name = strdup(stem);
  s->files[i].chunkname = strdup(chunkname);
  s->files[i].text = text;
  s->files[i].len = len;
  s->nfiles++;
  return RULES_OK;
}

void rules_src_seal(rules_src *s) {
  uint64_t h = UTIL_FNV64_INIT;
  int i;
  for (i = 0; i < s->nfiles; i++) {
    h = util_fnv1a64(h, s->files[i].name, strlen(s->files[i].name));
    h = util_fnv1a64(h, "\xff", 1);
    h = util_fnv1a64(h, s->files[i].text, s->files[i].len);
  }
  snprintf(s->version, sizeof s->version, "%016llx", (unsigned long long)h);
}

int rules_file_name(const char *name, char *stem, size_t stemlen) {
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

int rules_src_read_dir(const char *dir, rules_src **out, char *err,
                       size_t errlen) {
  DIR *d = NULL;
  struct dirent *e;
  char *names[RULES_MAX_FILES]; /* each owned */
  int n = 0, i, rc = RULES_ERR_IO;
  rules_src *s = rules_src_new(); /* owned until *out */
  char stem[16], path[2048];

  *out = NULL;
  if (!s) goto done;
  if (!(d = opendir(dir))) {
    snprintf(err, errlen, "cannot open the rules directory");
    goto done;
  }
  while ((e = readdir(d)) && n < RULES_MAX_FILES - 1)
    if (rules_file_name(e->d_name, stem, sizeof stem) &&
        strcmp(stem, "default") != 0)
      names[n++] = strdup(e->d_name);
  qsort(names, (size_t)n, sizeof *names, util_cmp_strp);
  snprintf(path, sizeof path, "%s/default.lua", dir);
  if ((rc = rules_src_add_file(s, "default", path, "default.lua", err,
                               errlen)) != RULES_OK)
    goto done;
  for (i = 0; i < n; i++) {
    rules_file_name(names[i], stem, sizeof stem);
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if ((rc = rules_src_add_file(s, stem, path, names[i], err, errlen)) !=
        RULES_OK)
      goto done;
  }
  rules_src_seal(s);
  *out = s;
  s = NULL;
  rc = RULES_OK;
done:
  for (i = 0; i < n; i++)
    free(names[i]);
  if (d) closedir(d);
  rules_src_release(s);
  return rc;
}

int rules_src_break(rules_src *s, const char *name, const char *err) {
  int i;
  if (strcmp(name, "default") == 0) return 0;
  for (i = 0; i < s->nfiles && strcmp(s->files[i].name, name) != 0; i++)
    ;
  if (i == s->nfiles || s->nbroken == RULES_MAX_FILES) return 0;
  snprintf(s->broken[s->nbroken].name, sizeof s->broken[0].name, "%s", name);
  snprintf(s->broken[s->nbroken].err, sizeof s->broken[0].err, "%s", err);
  s->nbroken++;
  free_file(s, i);
  memmove(&s->files[i], &s->files[i + 1],
          (size_t)(s->nfiles - i - 1) * sizeof s->files[0]);
  s->nfiles--;
  rules_src_seal(s);
  return 1;
}

const char *rules_src_broken(const rules_src *s, const char *province) {
  int i;
  for (i = 0; i < s->nbroken; i++)
    if (strcmp(s->broken[i].name, province) == 0) return s->broken[i].err;
  return NULL;
}

int rules_src_put_load(wire_buf *b, const rules_src *s, int probe) {
  int i, rc = wire_frame_begin(b);
  if (rc == WIRE_OK) rc = wire_put_u8(b, 'L');
  if (rc == WIRE_OK) rc = wire_put_str(b, s->version, strlen(s->version));
  if (rc == WIRE_OK) rc = wire_put_u8(b, probe ? 1 : 0);
  if (rc == WIRE_OK) rc = wire_put_u32(b, (uint32_t)s->nfiles);
  for (i = 0; i < s->nfiles && rc == WIRE_OK; i++) {
    rc = wire_put_str(b, s->files[i].name, strlen(s->files[i].name));
    if (rc == WIRE_OK)
      rc =
          wire_put_str(b, s->files[i].chunkname, strlen(s->files[i].chunkname));
    if (rc == WIRE_OK) rc = wire_put_str(b, s->files[i].text, s->files[i].len);
  }
  if (rc == WIRE_OK) wire_frame_end(b);
  return rc;
}
