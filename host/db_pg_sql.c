/*
 * db_pg_sql: the PostgreSQL driver's translation of a statement's text
 * (db_pg.c): :name and ? become $n (one $n per distinct name) outside
 * strings, quoted names, comments and dollar quotes; one statement per
 * text, no transaction control; whether it writes.
 * Uses: db (the error codes), db_pg_int, util (util_text_key32).
 */
#include "db_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "util.h"

static int name_start(char ch) {
  return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (unsigned char)ch >= 0x80;
}

/* Whether the word at p (n bytes) is kw, case-insensitively. */
static int word_is(const char *p, size_t n, const char *kw) {
  return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

void db_pg_stmt_free(pg_stmt *st) {
  int k;
  free(st->sql);
  free(st->text);
  if (st->names)
    for (k = 0; k < st->nparams; k++)
      free(st->names[k]);
  free(st->names);
  free(st->types);
  memset(st, 0, sizeof *st);
}

/* Translates sql (len bytes) into st (text, style, nparams, names, write):
 * :name and ? become $n outside strings, quoted names, comments and
 * dollar quotes (a :: cast stays). Returns DB_OK, DB_ERR_EMPTY,
 * DB_ERR_MULTI, DB_ERR_DENIED (transaction control) or DB_ERR_SQL with
 * why in err. On error st holds nothing. */
int db_pg_translate(const char *sql, size_t len, pg_stmt *st, char *err,
                    size_t errlen) {
  char *out = malloc(len * 4 + 16); /* "$12345" per 1-byte "?" at most */
  size_t i = 0, o = 0, words = 0;
  int rc = DB_ERR_SQL, nnames = 0, npos = 0, dml = 0, cap = 0, k;
  const char *first = NULL;
  size_t first_len = 0;

  memset(st, 0, sizeof *st);
  if (!out) goto oom;
  while (i < len) {
    char ch = sql[i];
    if (ch == '\'' || ch == '"') { /* string, quoted name: '' "" escape */
      size_t j = i + 1;
      int backslash = ch == '\'' && i > 0 &&
                      (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                      (i < 2 || !ident_char((unsigned char)sql[i - 2]));
      for (; j < len; j++) {
        if (backslash && sql[j] == '\\' && j + 1 < len) {
          j++;
          continue;
        }
        if (sql[j] == ch) {
          if (j + 1 < len && sql[j + 1] == ch) {
            j++;
            continue;
          }
          break;
        }
      }
      if (j >= len) {
        snprintf(err, errlen, "unterminated quote");
        goto fail;
      }
      memcpy(out + o, sql + i, j + 1 - i);
      o += j + 1 - i;
      i = j + 1;
      words++;
    } else if (ch == '-' && i + 1 < len && sql[i + 1] == '-') {
      while (i < len && sql[i] != '\n')
        out[o++] = sql[i++];
    } else if (ch == '/' && i + 1 < len && sql[i + 1] == '*') {
      const char *end = strstr(sql + i + 2, "*/");
      size_t j = end ? (size_t)(end - sql) + 2 : len;
      memcpy(out + o, sql + i, j - i);
      o += j - i;
      i = j;
    } else if (ch == '$' &&
               (i == 0 || !ident_char((unsigned char)sql[i - 1]))) {
      size_t j = i + 1;
      if (j < len && sql[j] >= '0' && sql[j] <= '9') {
        snprintf(err, errlen, "parameter $%c: write named parameters as :name",
                 sql[j]);
        goto fail;
      }
      while (j < len && ident_char((unsigned char)sql[j]))
        j++;
      if (j < len && sql[j] == '$') { /* $tag$ ... $tag$ */
        size_t taglen = j + 1 - i, t;
        const char *end = NULL;
        for (t = j + 1; t + taglen <= len; t++)
          if (memcmp(sql + t, sql + i, taglen) == 0) {
            end = sql + t;
            break;
          }
        t = end ? (size_t)(end - sql) + taglen : len;
        memcpy(out + o, sql + i, t - i);
        o += t - i;
        i = t;
        words++;
      } else {
        out[o++] = sql[i++];
      }
    } else if (ch == ':' && i + 1 < len && sql[i + 1] == ':') {
      out[o++] = ':', out[o++] = ':';
      i += 2;
    } else if (ch == ':' && i + 1 < len && name_start(sql[i + 1])) {
      size_t j = i + 1, n;
      while (j < len && ident_char((unsigned char)sql[j]))
        j++;
      n = j - i - 1;
      for (k = 0; k < nnames; k++)
        if (strlen(st->names[k]) == n &&
            memcmp(st->names[k], sql + i + 1, n) == 0)
          break;
      if (k == nnames) {
        if (nnames == cap) {
          char **grown = realloc(st->names, (size_t)(cap = cap ? cap * 2 : 8) *
                                                sizeof *grown);
          if (!grown) goto oom;
          st->names = grown;
        }
        if (!(st->names[k] = strndup(sql + i + 1, n))) goto oom;
        nnames++;
      }
      o += (size_t)sprintf(out + o, "$%d", k + 1);
      i = j;
      words++;
    } else if (ch == '?') {
      if (i + 1 < len && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
        snprintf(err, errlen,
                 "parameter ?%c: numbered ? parameters are not "
                 "supported",
                 sql[i + 1]);
        goto fail;
      }
      o += (size_t)sprintf(out + o, "$%d", ++npos);
      i++;
      words++;
    } else if (ch == ';') {
      size_t j = i + 1;
      while (j < len && (sql[j] == ' ' || sql[j] == '\n' || sql[j] == '\t' ||
                         sql[j] == '\r' || sql[j] == ';'))
        j++;
      if (j < len) {
        rc = DB_ERR_MULTI;
        goto fail;
      }
      i = len; /* a trailing ; is dropped */
    } else if (ident_char((unsigned char)ch) && !(ch >= '0' && ch <= '9')) {
      size_t j = i;
      while (j < len && ident_char((unsigned char)sql[j]))
        j++;
      if (!first) first = sql + i, first_len = j - i;
      if (word_is(sql + i, j - i, "INSERT") ||
          word_is(sql + i, j - i, "UPDATE") ||
          word_is(sql + i, j - i, "DELETE") || word_is(sql + i, j - i, "MERGE"))
        dml = 1;
      memcpy(out + o, sql + i, j - i);
      o += j - i;
      i = j;
      words++;
    } else {
      if (ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r') words++;
      out[o++] = sql[i++];
    }
  }
  out[o] = '\0';
  if (!words) {
    rc = DB_ERR_EMPTY;
    goto fail;
  }
  if (nnames && npos) {
    snprintf(err, errlen, "statement mixes ? and :name parameters");
    goto fail;
  }
  if (first && (word_is(first, first_len, "BEGIN") ||
                word_is(first, first_len, "START") ||
                word_is(first, first_len, "COMMIT") ||
                word_is(first, first_len, "END") ||
                word_is(first, first_len, "ROLLBACK") ||
                word_is(first, first_len, "ABORT") ||
                word_is(first, first_len, "SAVEPOINT") ||
                word_is(first, first_len, "RELEASE") ||
                word_is(first, first_len, "PREPARE"))) {
    rc = DB_ERR_DENIED;
    goto fail;
  }
  st->write = !first || !(word_is(first, first_len, "SELECT") ||
                          word_is(first, first_len, "VALUES") ||
                          word_is(first, first_len, "TABLE") ||
                          word_is(first, first_len, "SHOW") ||
                          word_is(first, first_len, "EXPLAIN") ||
                          (word_is(first, first_len, "WITH") && !dml));
  st->style = nnames ? 'n' : npos ? 'p' : 0;
  st->nparams = nnames ? nnames : npos;
  if (!nnames) { /* positional: no names kept */
    free(st->names);
    st->names = NULL;
  }
  if (!(st->sql = malloc(len + 1))) goto oom;
  memcpy(st->sql, sql, len);
  st->sql[len] = '\0';
  st->text = out;
  st->hash = util_text_key32(sql, len);
  return DB_OK;
oom:
  snprintf(err, errlen, "out of memory");
  rc = DB_ERR_SQL;
fail:
  free(out);
  for (k = 0; k < nnames; k++)
    free(st->names[k]);
  free(st->names);
  free(st->sql);
  memset(st, 0, sizeof *st);
  return rc;
}
