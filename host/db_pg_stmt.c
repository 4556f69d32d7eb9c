/*
 * db_pg_stmt: the PostgreSQL driver's statement cache (db_pg.c): a
 * statement's text translated once per connection (db_pg_sql.c) and
 * prepared on the server under a name of ours, both kept in a cache keyed
 * by the text; the types of its parameters as the server describes them
 * (a domain's as its base type, one first met in "IS NULL" through a
 * probe).
 * Uses: libpq, Lua 5.4, db (the error codes), db_pg_int, util (util_text_key32).
 */
#include "db_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "db.h"
#include "util.h"

/* The base type of a parameter's type t: t itself, or the type a domain
 * is over (CAST(:data AS BLOB) is a blob, the domain over bytea), looked
 * up once per connection. */
static Oid base_type(pg_conn *c, Oid t) {
  char oid[16];
  const char *param[1] = {oid};
  PGresult *r;
  Oid base = t;
  int i;
  if (t < 10000) return t; /* the built-in types: no domains */
  for (i = 0; i < c->ndomains; i++)
    if (c->domains[i].oid == t) return c->domains[i].base;
  snprintf(oid, sizeof oid, "%u", t);
  r = PQexecParams(c->pg,
                   "SELECT typbasetype FROM pg_type WHERE oid = $1 "
                   "AND typtype = 'd'",
                   1, NULL, param, NULL, NULL, 0);
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    base = (Oid)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  if (c->ndomains < (int)(sizeof c->domains / sizeof *c->domains)) {
    c->domains[c->ndomains].oid = t;
    c->domains[c->ndomains++].base = base;
  }
  return base;
}

/* Whether text has $k (k 1-based) outside of what db_pg_translate copied. */
static int has_param(const char *text, int k) {
  const char *p = text;
  char tag[16];
  size_t n = (size_t)snprintf(tag, sizeof tag, "$%d", k);
  while ((p = strstr(p, tag))) {
    if (p[n] < '0' || p[n] > '9') return 1;
    p += n;
  }
  return 0;
}

/* The types of st's parameters where a parameter first appears as
 * "$k IS [NOT] NULL": the statement with each such test replaced by TRUE
 * is described (unnamed), and a parameter that then appears nowhere is
 * text (any type answers IS NULL). Returns the types (caller frees), or
 * NULL: no such test (*replaced 0, nothing sent), or the probe failed. */
static Oid *probe_types(PGconn *pg, const pg_stmt *st, int *replaced) {
  size_t len = strlen(st->text), i = 0, o = 0;
  char *probe = malloc(len + 1);
  Oid *types = calloc((size_t)st->nparams, sizeof *types);
  PGresult *r = NULL;
  int k, ok = 0;

  *replaced = 0;
  if (!probe || !types || !st->nparams) goto done;
  while (i < len) {
    /* db_pg_translate's output: $n here is always one of ours (strings and
     * quotes were copied whole, and ' and " never hold "$1 IS NULL"
     * that matters: a false match only loses a type hint) */
    if (st->text[i] == '$' && st->text[i + 1] >= '0' &&
        st->text[i + 1] <= '9') {
      size_t j = i + 1, m;
      while (st->text[j] >= '0' && st->text[j] <= '9')
        j++;
      m = j;
      while (st->text[m] == ' ' || st->text[m] == '\n' || st->text[m] == '\t')
        m++;
      if (strncasecmp(st->text + m, "IS", 2) == 0 &&
          (st->text[m + 2] == ' ' || st->text[m + 2] == '\n')) {
        size_t q = m + 2;
        while (st->text[q] == ' ' || st->text[q] == '\n' || st->text[q] == '\t')
          q++;
        if (strncasecmp(st->text + q, "NOT", 3) == 0 &&
            !ident_char((unsigned char)st->text[q + 3])) {
          q += 3;
          while (st->text[q] == ' ' || st->text[q] == '\n' ||
                 st->text[q] == '\t')
            q++;
        }
        if (strncasecmp(st->text + q, "NULL", 4) == 0 &&
            !ident_char((unsigned char)st->text[q + 4])) {
          memcpy(probe + o, "TRUE", 4);
          o += 4;
          *replaced = 1;
          i = q + 4;
          continue;
        }
      }
      memcpy(probe + o, st->text + i, j - i);
      o += j - i;
      i = j;
      continue;
    }
    probe[o++] = st->text[i++];
  }
  probe[o] = '\0';
  if (!*replaced) goto done;
  for (k = 0; k < st->nparams; k++)
    types[k] = has_param(probe, k + 1) ? 0 : 25; /* text */
  r = PQprepare(pg, "", probe, st->nparams, types);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) goto done;
  PQclear(r);
  r = PQdescribePrepared(pg, "");
  if (PQresultStatus(r) != PGRES_COMMAND_OK || PQnparams(r) != st->nparams)
    goto done;
  for (k = 0; k < st->nparams; k++)
    types[k] = PQparamtype(r, k);
  ok = 1;
done:
  PQclear(r);
  free(probe);
  if (!ok) {
    free(types);
    types = NULL;
  }
  return types;
}

/* The statement for sql on c, translated and prepared on first use.
 * Borrowed (the cache's). Raises. */
pg_stmt *db_pg_get_stmt(lua_State *L, pg_conn *c, const char *sql, size_t len) {
  uint32_t h = util_text_key32(sql, len);
  PGconn *pg = db_pg_live(L, c);
  pg_stmt *st = NULL;
  PGresult *r = NULL;
  char err[512];
  unsigned i, slot;
  int rc, k;

  for (i = 0; i < PG_CACHE_SLOTS; i++)
    if (c->cache[i].sql && c->cache[i].hash == h &&
        strcmp(c->cache[i].sql, sql) == 0) {
      st = &c->cache[i];
      break;
    }
  if (!st) {
    pg_stmt fresh;
    err[0] = '\0';
    rc = db_pg_translate(sql, len, &fresh, err, sizeof err);
    switch (rc) {
    case DB_OK:
      break;
    case DB_ERR_DENIED:
      luaL_error(L, "db: transactions are db.transaction's (in: %s)", sql);
      break;
    case DB_ERR_EMPTY:
      luaL_error(L, "db: empty statement");
      break;
    case DB_ERR_MULTI:
      luaL_error(L, "db: one statement per call (use db.script for several)");
      break;
    default:
      luaL_error(L, "db: %s (in: %s)", err, sql);
    }
    for (slot = 0; slot < PG_CACHE_SLOTS && c->cache[slot].sql; slot++)
      ;
    if (slot == PG_CACHE_SLOTS) {
      char dealloc[64];
      slot = c->next_victim++ % PG_CACHE_SLOTS;
      if (c->cache[slot].prepared) {
        snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", c->cache[slot].name);
        PQclear(PQexec(pg, dealloc));
      }
      db_pg_stmt_free(&c->cache[slot]);
    }
    c->cache[slot] = fresh;
    st = &c->cache[slot];
  }
  if (st->prepared) return st;
  snprintf(st->name, sizeof st->name, "h%u", ++c->serial);
  {
    /* (:status IS NULL OR d.status = :status): PostgreSQL types a
     * parameter where it first meets it, and IS NULL gives no type; such
     * a statement is prepared with the types a probe found */
    int replaced = 0;
    Oid *types = probe_types(pg, st, &replaced);
    r = PQprepare(pg, st->name, st->text, types ? st->nparams : 0, types);
    free(types);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) goto failed;
  }
  PQclear(r);
  r = PQdescribePrepared(pg, st->name);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) goto failed;
  free(st->types);
  st->types = NULL;
  if (PQnparams(r) > 0 &&
      !(st->types = calloc((size_t)PQnparams(r), sizeof(Oid)))) {
    PQclear(r);
    luaL_error(L, "db: out of memory");
  }
  for (k = 0; k < PQnparams(r) && k < st->nparams; k++)
    st->types[k] = PQparamtype(r, k);
  PQclear(r);
  for (k = 0; st->types && k < st->nparams; k++)
    st->types[k] = base_type(c, st->types[k]);
  st->prepared = 1;
  return st;
failed:
  db_pg_note_failure(c, r);
  db_pg_error_text(r, pg, err, sizeof err);
  PQclear(r);
  lua_pushfstring(L, "db: %s (in: %s)", err, sql);
  lua_error(L);
  return NULL;
}
