/*
 * text: rich-text sanitizing with gumbo, and UTF-8 helpers.
 * The parse tree is held by a userdata whose __gc frees it, so a Lua error
 * while building the output (out of memory) cannot leak it.
 * Uses: gumbo, Lua 5.4.
 */
#include "text.h"

#include <string.h>
#include <strings.h>

#include <gumbo.h>
#include <lauxlib.h>

static const char *const TEXT_TREE_MT = "host.text.tree";

#define TEXT_MAX_BYTES (256 * 1024) /* of rich text to sanitize */
#define TEXT_MAX_TAGS 4000          /* '<' characters in it */

typedef struct {
  GumboOutput *out; /* owned; NULL once freed */
} tree_box;

/* Elements kept (with their allowed attributes); the rest are unwrapped,
 * except those in DROP, which go with everything inside them. */
static const char *const KEEP[] = {
    "p",   "br",  "strong", "b",    "em", "i",          "u",     "s",     "del",
    "sub", "sup", "ul",     "ol",   "li", "blockquote", "h1",    "h2",    "h3",
    "h4",  "h5",  "h6",     "span", "a",  "table",      "thead", "tbody", "tr",
    "th",  "td",  "code",   "pre",  "hr", "div",        NULL};
static const char *const DROP[] = {
    "script",   "style", "iframe", "object", "embed", "template", "noscript",
    "title",    "svg",   "math",   "form",   "input", "button",   "select",
    "textarea", "link",  "meta",   "base",   "frame", "frameset", "applet",
    "audio",    "video", "canvas", "img",    "head",  NULL};

static int in_list(const char *const *list, const char *name) {
  for (; *list; list++)
    if (strcmp(*list, name) == 0) return 1;
  return 0;
}

/* Counts code points of a valid UTF-8 string; -1 if not valid UTF-8. */
/* Counts code points of a valid UTF-8 string; -1 if not valid UTF-8
 * (truncated, overlong, surrogate or beyond U+10FFFF sequences). */
static long utf8_count(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0, k, extra;
  long n = 0;
  unsigned long cp, min;
  while (i < len) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      n++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return -1;
    }
    if (len - i <= extra) return -1;
    for (k = 1; k <= extra; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    i += extra + 1;
    n++;
  }
  return n;
}

static void put_escaped(luaL_Buffer *b, const char *s, int attr) {
  for (; *s; s++) {
    switch (*s) {
    case '&':
      luaL_addstring(b, "&amp;");
      break;
    case '<':
      luaL_addstring(b, "&lt;");
      break;
    case '>':
      luaL_addstring(b, "&gt;");
      break;
    case '"':
      if (attr) {
        luaL_addstring(b, "&quot;");
        break;
      }
      /* fall through */
    default:
      luaL_addchar(b, *s);
    }
  }
}

/* Is href a link we let through: http(s) or mailto, no control chars. */
static int safe_href(const char *v) {
  const char *p;
  for (p = v; *p; p++)
    if ((unsigned char)*p < 0x20) return 0;
  while (*v == ' ')
    v++;
  return strncasecmp(v, "http://", 7) == 0 ||
         strncasecmp(v, "https://", 8) == 0 ||
         strncasecmp(v, "mailto:", 7) == 0;
}

/* Only `text-align: left|center|right|justify` survives in style. */
static const char *safe_align(const char *style) {
  static const char *const aligns[] = {"left", "center", "right", "justify",
                                       NULL};
  const char *p = strstr(style, "text-align");
  int i;
  if (!p) return NULL;
  p += 10;
  while (*p == ' ' || *p == ':')
    p++;
  for (i = 0; aligns[i]; i++)
    if (strncmp(p, aligns[i], strlen(aligns[i])) == 0) return aligns[i];
  return NULL;
}

static int safe_span(const char *v) {
  for (; *v; v++)
    if (*v < '0' || *v > '9') return 0;
  return 1;
}

/* Writes node's allowed form into b; adds its visible code points to *vis. */
static void emit(luaL_Buffer *b, const GumboNode *node, long *vis, int depth) {
  unsigned i;
  if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_WHITESPACE ||
      node->type == GUMBO_NODE_CDATA) {
    const char *t = node->v.text.text;
    long n = utf8_count(t, strlen(t));
    *vis += n > 0 ? n : 0;
    put_escaped(b, t, 0);
    return;
  }
  if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_DOCUMENT &&
      node->type != GUMBO_NODE_TEMPLATE)
    return;               /* comments */
  if (depth > 64) return; /* absurd nesting: drop the rest */
  const GumboVector *kids = node->type == GUMBO_NODE_DOCUMENT
                                ? &node->v.document.children
                                : &node->v.element.children;
  const char *tag = NULL;
  if (node->type == GUMBO_NODE_ELEMENT) {
    tag = gumbo_normalized_tagname(node->v.element.tag);
    if (node->v.element.tag == GUMBO_TAG_UNKNOWN || !tag || !*tag) tag = NULL;
    if (tag && in_list(DROP, tag)) return;
    if (tag && (!in_list(KEEP, tag))) tag = NULL; /* unwrap: html, body.. */
  }
  if (tag) {
    const GumboVector *attrs = &node->v.element.attributes;
    luaL_addchar(b, '<');
    luaL_addstring(b, tag);
    for (i = 0; i < attrs->length; i++) {
      const GumboAttribute *a = attrs->data[i];
      const char *align;
      if (strcmp(tag, "a") == 0 && strcmp(a->name, "href") == 0 &&
          safe_href(a->value)) {
        luaL_addstring(b, " href=\"");
        put_escaped(b, a->value, 1);
        luaL_addstring(b, "\" rel=\"noopener noreferrer\"");
      } else if ((strcmp(tag, "td") == 0 || strcmp(tag, "th") == 0) &&
                 (strcmp(a->name, "colspan") == 0 ||
                  strcmp(a->name, "rowspan") == 0) &&
                 safe_span(a->value) && strlen(a->value) < 4) {
        luaL_addchar(b, ' ');
        luaL_addstring(b, a->name);
        luaL_addstring(b, "=\"");
        luaL_addstring(b, a->value);
        luaL_addchar(b, '"');
      } else if (strcmp(a->name, "style") == 0 &&
                 (align = safe_align(a->value))) {
        luaL_addstring(b, " style=\"text-align: ");
        luaL_addstring(b, align);
        luaL_addstring(b, ";\"");
      }
    }
    luaL_addchar(b, '>');
    if (node->v.element.tag == GUMBO_TAG_BR ||
        node->v.element.tag == GUMBO_TAG_HR)
      return;
  }
  for (i = 0; i < kids->length; i++)
    emit(b, kids->data[i], vis, depth + 1);
  if (tag) {
    luaL_addstring(b, "</");
    luaL_addstring(b, tag);
    luaL_addchar(b, '>');
  }
}

static int l_tree_gc(lua_State *L) {
  tree_box *box = luaL_checkudata(L, 1, TEXT_TREE_MT);
  if (box->out) gumbo_destroy_output(&kGumboDefaultOptions, box->out);
  box->out = NULL;
  return 0;
}

/* text.sanitize(html) -> clean_html, visible_code_points
 * Raises if html is not valid UTF-8. */
static int l_text_sanitize(lua_State *L) {
  size_t len;
  const char *html = luaL_checklstring(L, 1, &len);
  tree_box *box;
  luaL_Buffer b;
  long vis = 0;

  if (utf8_count(html, len) < 0) return luaL_error(L, "text: invalid UTF-8");
  /* Parsing time and memory grow with the square of the nesting depth:
   * bound the markup before gumbo sees it. */
  if (len > TEXT_MAX_BYTES) return luaL_error(L, "text: too long");
  {
    size_t i, tags = 0;
    for (i = 0; i < len; i++)
      tags += html[i] == '<';
    if (tags > TEXT_MAX_TAGS) return luaL_error(L, "text: too much markup");
  }
  box = lua_newuserdatauv(L, sizeof *box, 0);
  box->out = NULL;
  if (luaL_newmetatable(L, TEXT_TREE_MT)) {
    lua_pushcfunction(L, l_tree_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  {
    GumboOptions opts = kGumboDefaultOptions;
    opts.max_errors = 0; /* each error copies the stack */
    box->out = gumbo_parse_with_options(&opts, html, len);
  }
  if (!box->out) return luaL_error(L, "text: cannot parse");
  luaL_buffinit(L, &b);
  emit(&b, box->out->root, &vis, 0);
  luaL_pushresult(&b); /* box clean */
  gumbo_destroy_output(&kGumboDefaultOptions, box->out);
  box->out = NULL;
  lua_pushinteger(L, vis);
  return 2;
}

/* text.ulen(s) -> number of code points, or nil if s is not valid UTF-8 */
static int l_text_ulen(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  long n = utf8_count(s, len);
  if (n < 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, n);
  return 1;
}

static const luaL_Reg text_funcs[] = {
    {"sanitize", l_text_sanitize},
    {"ulen", l_text_ulen},
    {NULL, NULL},
};

int luaopen_host_text(lua_State *L) {
  luaL_newlib(L, text_funcs);
  return 1;
}
