/*
 * Manifest parsing (sans-IO): multi-document YAML into Kubernetes objects (jansson), with
 * positions.
 *
 * Key decision: the buffer is cut into documents at `---` and `...` lines BEFORE libyaml sees it,
 * and each piece gets a fresh libyaml parser. libyaml cannot resume after a syntax error, so
 * parsing the whole stream at once would lose every document after the first mistake; a document
 * marker at column 0 ends a document in every YAML context (inside a quoted scalar it is an error
 * either way), so cutting there changes no valid document. The alternative rejected: libyaml's
 * document API (yaml_parser_load), which builds a node graph where aliases are shared, not copied,
 * and gives no hook to bound their expansion before the graph is walked; the event API lets us
 * count every node as it is created, copies included, and stop at the limit.
 *
 * Within a document, events build jansson values on an explicit stack (no recursion, so depth is
 * bounded by a counter, not by the C stack). Problems come in two strengths:
 *  - hard: libyaml syntax errors and exceeded limits; the document is abandoned at once;
 *  - soft: duplicate keys, unknown anchors, bad typed scalars; the document is still built to its
 *    end (so the message can name the object's kind and namespace/name) and then dropped.
 * Scalars are typed the way kubectl's YAML reader (go-yaml v2 then JSON) types them; see
 * resolve_plain() and docs/sources.md.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>
#include <yaml.h>

#include "kube/manifest.h"

const kube_manifest_limits_t kube_manifest_default_limits = {
    .max_input = KUBE_MANIFEST_MAX_INPUT,
    .max_doc = KUBE_MANIFEST_MAX_DOC,
    .max_depth = KUBE_MANIFEST_MAX_DEPTH,
    .max_nodes = KUBE_MANIFEST_MAX_NODES,
    .max_alias_nodes = KUBE_MANIFEST_MAX_ALIAS_NODES,
    .max_errors = KUBE_MANIFEST_MAX_ERRORS,
};

/* Kubernetes object name limits (DNS subdomain for names, DNS label for namespaces). */
#define NAME_MAX_LEN      253
#define NAMESPACE_MAX_LEN 63
/* Soft errors reported per document; the rest of that document's are counted as dropped. */
#define SOFT_MAX 8
/* Nested `kind: List` documents flattened at most this deep. */
#define LIST_MAX_NESTING 4

#define TAG_PREFIX       "tag:yaml.org,2002:"

/* ---------------------------------------------------------------------------------------------
 * Parser state.
 * ------------------------------------------------------------------------------------------- */
typedef struct anchor {
    char *name;
    json_t *value;
    size_t nodes;  /* nodes in value, copies included */
    size_t height; /* 0 for a scalar, 1 + the children's maximum for a collection */
    UT_hash_handle hh;
} anchor_t;

typedef struct frame {
    json_t *node; /* the object or array being built (owned) */
    bool is_map;
    bool have_key;  /* map: a key waits for its value */
    bool key_merge; /* the waiting key is "<<" */
    char *key;      /* the waiting key (owned), key_len bytes, valid UTF-8 */
    size_t key_len;
    unsigned key_line, key_col;
    json_t *merges; /* map: merge sources in order (owned), or NULL */
    char *anchor;   /* anchor of this collection (owned), or NULL */
    size_t nodes_start;
    size_t height; /* maximum height of the children so far */
    unsigned line, col;
    bool items_seq; /* the sequence under the root mapping's "items" key */
} frame_t;

typedef struct pos {
    unsigned line, col;
} pos_t;

typedef struct soft {
    unsigned line, col;
    char *msg;
} soft_t;

typedef struct parser {
    kube_manifest_t *m;
    const char *file;
    const kube_manifest_limits_t *lim;
    size_t errors_at_start; /* m->nerrors when the call began (max_errors counts from there) */
    size_t alias_nodes;     /* nodes copied by aliases and merges in this buffer */
    bool oom;

    /* The current chunk. */
    const char *chunk;
    size_t chunk_len;
    unsigned line0; /* 0-based line of the chunk's first byte in the buffer */
    bool json_mode; /* the chunk starts with '{': numbers follow JSON (see json_number) */

    /* The current document. */
    bool in_doc;
    bool stop; /* a hard error: skip the rest of the chunk */
    frame_t *stack;
    size_t depth, stack_cap;
    anchor_t *anchors;
    size_t nodes;
    json_t *root;
    unsigned root_line, root_col;
    pos_t *item_pos;
    size_t nitem_pos, item_pos_cap;
    soft_t soft[SOFT_MAX];
    size_t nsoft, soft_dropped;
} parser_t;

/* ---------------------------------------------------------------------------------------------
 * Small helpers.
 * ------------------------------------------------------------------------------------------- */
static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

static char *str_printf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *str_printf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static char *str_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = str_printf(fmt, ap);
    va_end(ap);
    return s;
}

/* Returns true when s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "mapping";
    case JSON_ARRAY:
        return "sequence";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "value";
}

size_t kube_object_describe(const json_t *obj, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return 0;
    buf[0] = '\0';
    if (!json_is_object(obj))
        return 0;
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!kind || !*kind)
        return 0;
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    int n;
    if (name && *name && ns && *ns)
        n = snprintf(buf, cap, "%s %s/%s", kind, ns, name);
    else if (name && *name)
        n = snprintf(buf, cap, "%s %s", kind, name);
    else
        n = snprintf(buf, cap, "%s", kind);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* ---------------------------------------------------------------------------------------------
 * Errors.
 * ------------------------------------------------------------------------------------------- */
/* str_printf for the parser: out of memory marks the parse (p->oom) and returns NULL. */
static char *parser_printf(parser_t *p, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static char *parser_printf(parser_t *p, const char *fmt, va_list ap)
{
    char *s = str_printf(fmt, ap);
    if (!s)
        p->oom = true;
    return s;
}

/* Appends "FILE:LINE:COL: [Kind ns/name: ]msg" to m->errors (or counts it as dropped). line 0
 * means the whole buffer ("FILE: msg"). |obj| (may be NULL or partial) names the object. */
static void report(parser_t *p, unsigned line, unsigned col, const json_t *obj, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static void report(parser_t *p, unsigned line, unsigned col, const json_t *obj, const char *fmt,
                   ...)
{
    kube_manifest_t *m = p->m;
    if (p->oom)
        return;
    if (m->nerrors - p->errors_at_start >= p->lim->max_errors) {
        m->errors_dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *what = parser_printf(p, fmt, ap);
    va_end(ap);
    if (!what)
        return;
    char desc[512];
    const char *sep = kube_object_describe(obj, desc, sizeof desc) ? ": " : "";
    char *msg = line == 0 ? str_format("%s: %s%s%s", p->file, desc, sep, what)
                          : str_format("%s:%u:%u: %s%s%s", p->file, line, col, desc, sep, what);
    free(what);
    if (!msg || !grow((void **)&m->errors, &m->cap_errors, m->nerrors + 1, sizeof *m->errors)) {
        free(msg);
        p->oom = true;
        return;
    }
    m->errors[m->nerrors++] = (kube_manifest_error_t){line, line ? col : 0, msg};
}

/* Records a soft error of the current document (reported at its end, with the object's name). */
static void soft(parser_t *p, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void soft(parser_t *p, unsigned line, unsigned col, const char *fmt, ...)
{
    if (p->nsoft == SOFT_MAX) {
        p->soft_dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = parser_printf(p, fmt, ap);
    va_end(ap);
    if (!msg)
        return;
    p->soft[p->nsoft++] = (soft_t){line, col, msg};
}

static unsigned abs_line(const parser_t *p, yaml_mark_t mk)
{
    return p->line0 + (unsigned)mk.line + 1;
}

static unsigned abs_col(yaml_mark_t mk)
{
    return (unsigned)mk.column + 1;
}

/* The object being built (for naming it in a hard error): the root frame, or the finished root. */
static const json_t *partial_root(const parser_t *p)
{
    if (p->root)
        return p->root;
    return p->depth ? p->stack[0].node : NULL;
}

/* A hard error: reported now, and the rest of the chunk is skipped. */
static void hard(parser_t *p, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void hard(parser_t *p, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = parser_printf(p, fmt, ap);
    va_end(ap);
    if (!msg)
        return;
    report(p, line, col, partial_root(p), "%s", msg);
    free(msg);
    p->stop = true;
}

/* ---------------------------------------------------------------------------------------------
 * Document state.
 * ------------------------------------------------------------------------------------------- */
static void frame_dispose(frame_t *f)
{
    json_decref(f->node);
    json_decref(f->merges);
    free(f->key);
    free(f->anchor);
    memset(f, 0, sizeof *f);
}

static void doc_reset(parser_t *p)
{
    while (p->depth)
        frame_dispose(&p->stack[--p->depth]);
    anchor_t *a, *tmp;
    HASH_ITER(hh, p->anchors, a, tmp)
    {
        HASH_DEL(p->anchors, a);
        json_decref(a->value);
        free(a->name);
        free(a);
    }
    json_decref(p->root);
    p->root = NULL;
    p->nodes = 0;
    p->nitem_pos = 0;
    for (size_t i = 0; i < p->nsoft; i++)
        free(p->soft[i].msg);
    p->nsoft = 0;
    p->soft_dropped = 0;
    p->in_doc = false;
}

/* Counts |n| new nodes; false (with a hard error) past the document limit. */
static bool count_nodes(parser_t *p, size_t n, yaml_mark_t mk)
{
    if (n > p->lim->max_nodes || p->nodes > p->lim->max_nodes - n) {
        hard(p, abs_line(p, mk), abs_col(mk),
             "document has more than %zu nodes (aliases count "
             "each time they are used)",
             p->lim->max_nodes);
        return false;
    }
    p->nodes += n;
    return true;
}

static bool register_anchor(parser_t *p, const char *name, json_t *value, size_t nodes,
                            size_t height)
{
    anchor_t *a;
    HASH_FIND_STR(p->anchors, name, a);
    if (a) {
        /* YAML lets an anchor be redefined; later aliases see the latest. */
        json_decref(a->value);
        a->value = json_incref(value);
        a->nodes = nodes;
        a->height = height;
        return true;
    }
    a = calloc(1, sizeof *a);
    char *dup = a ? strdup(name) : NULL;
    if (!dup) {
        free(a);
        p->oom = true;
        return false;
    }
    a->name = dup;
    a->value = json_incref(value);
    a->nodes = nodes;
    a->height = height;
    HASH_ADD_KEYPTR(hh, p->anchors, a->name, strlen(a->name), a);
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Scalars.
 * ------------------------------------------------------------------------------------------- */
typedef enum rkind { R_STR, R_NULL, R_BOOL, R_INT, R_FLOAT, R_NONFINITE } rkind_t;

typedef struct resolved {
    rkind_t kind;
    bool b;
    long long i;
    double d;
} resolved_t;

static bool word_in(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(*words, s, n) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const nonfinite_words[] = {".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",
                                              ".INF",  "+.inf", "+.Inf", "+.INF", "-.inf",
                                              "-.Inf", "-.INF", NULL};

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/* Go's strconv.ParseInt(s, 0, 64) then ParseUint, on a string without '_': optional sign, then
 * 0x/0X hex, 0o/0O octal, 0b/0B binary, a leading 0 for octal, else decimal. Returns R_INT, R_FLOAT
 * (a value above INT64_MAX that fits uint64: JSON through jansson holds it as a double) or R_STR.
 */
static rkind_t parse_int(const char *s, size_t n, resolved_t *r)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    unsigned base = 10;
    if (n - i >= 2 && s[i] == '0') {
        char c = s[i + 1];
        if (c == 'x' || c == 'X')
            base = 16, i += 2;
        else if (c == 'o' || c == 'O')
            base = 8, i += 2;
        else if (c == 'b' || c == 'B')
            base = 2, i += 2;
        else
            base = 8, i += 1; /* "0755": the leading zero is the prefix */
    }
    if (i >= n)
        return R_STR; /* a sign or prefix without digits */
    uint64_t v = 0;
    for (; i < n; i++) {
        int d = digit_value(s[i]);
        if (d >= (int)base)
            return R_STR;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return R_STR; /* out of range: Go fails both parses */
        v = v * base + (uint64_t)d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return R_STR;
        r->i = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(long long)v;
        return r->kind = R_INT;
    }
    if (v <= (uint64_t)INT64_MAX) {
        r->i = (long long)v;
        return r->kind = R_INT;
    }
    r->d = (double)v;
    return r->kind = R_FLOAT;
}

/* go-yaml v2's float pattern ^[-+]?[0-9]*\.?[0-9]+([eE][-+][0-9]+)?$ (the exponent needs a sign),
 * or, for text starting with '.', what Go's ParseFloat accepts: .digits with an optional exponent.
 */
static bool float_syntax(const char *s, size_t n, bool dot_hint)
{
    size_t i = 0;
    if (dot_hint) {
        if (n < 2 || s[0] != '.')
            return false;
        i = 1;
        size_t d0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d0)
            return false;
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            i++;
            if (i < n && (s[i] == '+' || s[i] == '-'))
                i++;
            size_t e0 = i;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
            if (i == e0)
                return false;
        }
        return i == n;
    }
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t a = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t int_digits = i - a;
    bool dot = false;
    if (i < n && s[i] == '.') {
        dot = true;
        i++;
    }
    size_t b = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t frac_digits = i - b;
    /* [0-9]*\.?[0-9]+ : at least one digit after the optional dot (or digits only). */
    if (dot ? frac_digits == 0 : int_digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i >= n || (s[i] != '+' && s[i] != '-'))
            return false;
        i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return false;
    }
    return i == n;
}

static rkind_t parse_float(const char *s, size_t n, resolved_t *r)
{
    char buf[128];
    if (n >= sizeof buf)
        return R_STR; /* longer than any float worth typing: Go would parse it; we keep text */
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    char *end;
    double d = strtod(buf, &end);
    if (end != buf + n || isinf(d) || isnan(d))
        return R_STR; /* Go's ParseFloat fails on overflow: the text stays a string */
    r->d = d;
    return r->kind = R_FLOAT;
}

/* A JSON number (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?). kubectl decodes a stream that
 * starts with '{' as JSON, where 1.5e3 is a number although go-yaml v2 would keep it as text. */
static bool json_number(const char *s, size_t n, resolved_t *r)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return false;
    bool integral = true;
    if (i < n && s[i] == '.') {
        integral = false;
        size_t f = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        integral = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e)
            return false;
    }
    if (i != n)
        return false;
    memset(r, 0, sizeof *r);
    if (integral && parse_int(s, n, r) == R_INT)
        return true;
    return parse_float(s, n, r) == R_FLOAT;
}

/* Types a plain (unquoted, untagged) scalar as go-yaml v2 does. */
static rkind_t resolve_plain(const char *s, size_t n, resolved_t *r)
{
    memset(r, 0, sizeof *r);
    if (n == 0)
        return r->kind = R_NULL;
    char c = s[0];
    char hint = 0;
    if (c == '+' || c == '-' || (c >= '0' && c <= '9'))
        hint = 'D';
    else if (strchr("yYnNtTfFoO~", c))
        hint = 'M';
    else if (c == '.')
        hint = '.';
    if (!hint)
        return r->kind = R_STR;
    if (word_in(s, n, null_words))
        return r->kind = R_NULL;
    if (word_in(s, n, true_words)) {
        r->b = true;
        return r->kind = R_BOOL;
    }
    if (word_in(s, n, false_words))
        return r->kind = R_BOOL;
    if (word_in(s, n, nonfinite_words))
        return r->kind = R_NONFINITE;
    if (hint == 'M')
        return r->kind = R_STR;
    if (hint == '.') {
        if (float_syntax(s, n, true) && parse_float(s, n, r) == R_FLOAT)
            return R_FLOAT;
        return r->kind = R_STR;
    }
    /* Digits or a sign: go-yaml drops every '_' first. */
    char buf[128];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_')
            continue;
        if (k == sizeof buf - 1)
            return r->kind = R_STR;
        buf[k++] = s[i];
    }
    buf[k] = '\0';
    if (parse_int(buf, k, r) != R_STR)
        return r->kind;
    if (float_syntax(buf, k, false) && parse_float(buf, k, r) == R_FLOAT)
        return R_FLOAT;
    return r->kind = R_STR;
}

/* A float as JSON sees it after kubectl's conversion: integral values within int64 are integers. */
static json_t *float_value(double d)
{
    if (d == floor(d) && fabs(d) < 9.2e18)
        return json_integer((json_int_t)d);
    return json_real(d);
}

static json_t *resolved_value(const resolved_t *r)
{
    switch (r->kind) {
    case R_NULL:
        return json_null();
    case R_BOOL:
        return json_boolean(r->b);
    case R_INT:
        return json_integer(r->i);
    case R_FLOAT:
        return float_value(r->d);
    default:
        return NULL;
    }
}

/* The value of a scalar event, or NULL on OOM. A scalar that cannot be typed records a soft error
 * and yields null (the document will be dropped anyway). */
static json_t *scalar_value(parser_t *p, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    unsigned line = abs_line(p, ev->start_mark), col = abs_col(ev->start_mark);
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    resolved_t r;

    if (!utf8_valid((const unsigned char *)s, n)) {
        soft(p, line, col, "scalar is not valid UTF-8");
        return json_null();
    }
    const char *t = NULL; /* core tag name, "int" for tag:yaml.org,2002:int */
    if (tag && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
        t = tag + strlen(TAG_PREFIX);

    if (!tag && plain) {
        if (p->json_mode && json_number(s, n, &r))
            return resolved_value(&r);
        rkind_t k = resolve_plain(s, n, &r);
        if (k == R_NONFINITE) {
            soft(p, line, col, "%.*s cannot be represented in JSON (write it quoted for a string)",
                 (int)(n > 32 ? 32 : n), s);
            return json_null();
        }
        if (k != R_STR)
            return resolved_value(&r);
        return json_stringn_nocheck(s, n);
    }
    if (!t || strcmp(t, "str") == 0 || strcmp(t, "timestamp") == 0 || strcmp(t, "merge") == 0)
        return json_stringn_nocheck(s, n); /* quoted, block, "!", local or other tags: text */
    if (strcmp(t, "binary") == 0) {
        soft(p, line, col, "!!binary is not supported: write the base64 text as a plain string");
        return json_null();
    }
    rkind_t k = resolve_plain(s, n, &r);
    bool ok = (strcmp(t, "int") == 0 && k == R_INT) ||
              (strcmp(t, "float") == 0 && (k == R_INT || k == R_FLOAT)) ||
              (strcmp(t, "bool") == 0 && k == R_BOOL) || (strcmp(t, "null") == 0 && k == R_NULL);
    if (strcmp(t, "int") && strcmp(t, "float") && strcmp(t, "bool") && strcmp(t, "null"))
        return json_stringn_nocheck(s, n); /* other core tags (!!set, !!omap...) keep the text */
    if (!ok) {
        soft(p, line, col, "cannot read \"%.*s\" as !!%s", (int)(n > 32 ? 32 : n), s, t);
        return json_null();
    }
    if (k == R_INT && strcmp(t, "float") == 0)
        return float_value((double)r.i);
    return resolved_value(&r);
}

/* Renders a scalar value as a mapping key, as kubectl's YAML-to-JSON step does: strings as is,
 * integers in decimal, floats shortest, booleans as true/false. Null keys are errors.
 * Returns: a malloc'd key (*len bytes) or NULL (OOM sets p->oom; a refused key records a soft
 * error and returns NULL with p->oom false). */
static char *key_text(parser_t *p, const json_t *v, size_t *len, unsigned line, unsigned col)
{
    char buf[64];
    const char *s = buf;
    size_t n;
    switch (json_typeof(v)) {
    case JSON_STRING:
        s = json_string_value(v);
        n = json_string_length(v);
        break;
    case JSON_INTEGER:
        n = (size_t)snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        int prec = 1;
        for (; prec < 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        n = (size_t)snprintf(buf, sizeof buf, "%.*g", prec, d);
        break;
    }
    case JSON_TRUE:
        n = (size_t)snprintf(buf, sizeof buf, "true");
        break;
    case JSON_FALSE:
        n = (size_t)snprintf(buf, sizeof buf, "false");
        break;
    case JSON_NULL:
        soft(p, line, col, "a mapping key must not be null");
        return NULL;
    default:
        soft(p, line, col, "a mapping key must be a scalar, not a %s", type_name(v));
        return NULL;
    }
    char *k = malloc(n + 1);
    if (!k) {
        p->oom = true;
        return NULL;
    }
    memcpy(k, s, n);
    k[n] = '\0';
    *len = n;
    return k;
}

/* ---------------------------------------------------------------------------------------------
 * Building.
 * ------------------------------------------------------------------------------------------- */
/* Places a finished value |v| (taken) with |anchor| (borrowed, may be NULL) at the current spot:
 * document root, sequence element, or the value of the waiting key. */
static void place(parser_t *p, json_t *v, const char *anchor, size_t nodes, size_t height,
                  unsigned line, unsigned col)
{
    if (!v) {
        p->oom = true;
        return;
    }
    if (anchor && !register_anchor(p, anchor, v, nodes, height)) {
        json_decref(v);
        return;
    }
    if (p->depth == 0) {
        json_decref(p->root);
        p->root = v;
        p->root_line = line;
        p->root_col = col;
        return;
    }
    frame_t *f = &p->stack[p->depth - 1];
    if (f->height < height + 1)
        f->height = height + 1;
    if (!f->is_map) {
        if (f->items_seq) {
            if (!grow((void **)&p->item_pos, &p->item_pos_cap, p->nitem_pos + 1,
                      sizeof *p->item_pos)) {
                json_decref(v);
                p->oom = true;
                return;
            }
            p->item_pos[p->nitem_pos++] = (pos_t){line, col};
        }
        if (json_array_append_new(f->node, v))
            p->oom = true;
        return;
    }
    /* A mapping value (keys are consumed before place() is called). */
    f->have_key = false;
    if (f->key_merge) {
        f->key_merge = false;
        bool ok = json_is_object(v);
        if (json_is_array(v)) {
            ok = true;
            for (size_t i = 0; i < json_array_size(v); i++)
                ok = ok && json_is_object(json_array_get(v, i));
        }
        if (!ok) {
            soft(p, f->key_line, f->key_col,
                 "the merge key << needs a mapping or a sequence of mappings, not a %s",
                 type_name(v));
            json_decref(v);
            return;
        }
        if (!f->merges && !(f->merges = json_array())) {
            json_decref(v);
            p->oom = true;
            return;
        }
        if (json_array_append_new(f->merges, v))
            p->oom = true;
        return;
    }
    if (json_object_getn(f->node, f->key, f->key_len)) {
        soft(p, f->key_line, f->key_col, "duplicate mapping key \"%.*s\"",
             (int)(f->key_len > 64 ? 64 : f->key_len), f->key);
        json_decref(v);
    } else if (json_object_setn_new_nocheck(f->node, f->key, f->key_len, v)) {
        p->oom = true;
    }
    free(f->key);
    f->key = NULL;
}

/* Applies a mapping's merge sources: a key the mapping sets itself wins, then earlier sources win
 * over later ones (YAML's merge key semantics). */
static bool apply_merges(json_t *node, json_t *merges)
{
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *src = json_array_get(merges, i);
        size_t nsub = json_is_array(src) ? json_array_size(src) : 1;
        for (size_t j = 0; j < nsub; j++) {
            json_t *o = json_is_array(src) ? json_array_get(src, j) : src;
            for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
                const char *k = json_object_iter_key(it);
                size_t kn = json_object_iter_key_len(it);
                if (json_object_getn(node, k, kn))
                    continue;
                if (json_object_setn_nocheck(node, k, kn, json_object_iter_value(it)))
                    return false;
            }
        }
    }
    return true;
}

/* A scalar or alias in key position: takes |v| (may be NULL for OOM). */
static void take_key(parser_t *p, json_t *v, bool merge, unsigned line, unsigned col)
{
    frame_t *f = &p->stack[p->depth - 1];
    if (!v) {
        p->oom = true;
        return;
    }
    f->have_key = true;
    f->key_merge = merge;
    f->key_line = line;
    f->key_col = col;
    free(f->key);
    f->key = NULL;
    if (!merge) {
        f->key = key_text(p, v, &f->key_len, line, col);
        if (!f->key && !p->oom) {
            /* Refused key (already reported): keep a placeholder so the value has a home. */
            f->key = strdup("");
            f->key_len = 0;
            if (!f->key)
                p->oom = true;
        }
    }
    json_decref(v);
}

static bool expecting_key(const parser_t *p)
{
    return p->depth && p->stack[p->depth - 1].is_map && !p->stack[p->depth - 1].have_key;
}

static void on_scalar(parser_t *p, const yaml_event_t *ev)
{
    unsigned line = abs_line(p, ev->start_mark), col = abs_col(ev->start_mark);
    if (!count_nodes(p, 1, ev->start_mark))
        return;
    if (expecting_key(p)) {
        const char *tag = (const char *)ev->data.scalar.tag;
        bool merge = ev->data.scalar.length == 2 && memcmp(ev->data.scalar.value, "<<", 2) == 0 &&
                     ((!tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) ||
                      (tag && strcmp(tag, TAG_PREFIX "merge") == 0));
        json_t *v = merge ? json_null() : scalar_value(p, ev);
        if (v && ev->data.scalar.anchor &&
            !register_anchor(p, (const char *)ev->data.scalar.anchor, v, 1, 0)) {
            json_decref(v);
            return;
        }
        take_key(p, v, merge, line, col);
        return;
    }
    place(p, scalar_value(p, ev), (const char *)ev->data.scalar.anchor, 1, 0, line, col);
}

static void on_alias(parser_t *p, const yaml_event_t *ev)
{
    unsigned line = abs_line(p, ev->start_mark), col = abs_col(ev->start_mark);
    const char *name = (const char *)ev->data.alias.anchor;
    anchor_t *a;
    HASH_FIND_STR(p->anchors, name, a);
    if (!a) {
        soft(p, line, col, "unknown anchor *%.64s", name);
        if (!count_nodes(p, 1, ev->start_mark))
            return;
        if (expecting_key(p))
            take_key(p, json_string(""), false, line, col);
        else
            place(p, json_null(), NULL, 1, 0, line, col);
        return;
    }
    if (p->depth + a->height > p->lim->max_depth) {
        hard(p, line, col, "alias *%.64s nests deeper than %zu levels", name, p->lim->max_depth);
        return;
    }
    /* alias_nodes never passes the limit: it only grows after this check. */
    if (a->nodes > p->lim->max_alias_nodes - p->alias_nodes) {
        hard(p, line, col, "aliases copy more than %zu nodes (alias *%.64s has %zu)",
             p->lim->max_alias_nodes, name, a->nodes);
        return;
    }
    if (!count_nodes(p, a->nodes, ev->start_mark))
        return;
    p->alias_nodes += a->nodes;
    json_t *v = json_deep_copy(a->value);
    if (expecting_key(p)) {
        take_key(p, v, false, line, col);
        return;
    }
    place(p, v, NULL, a->nodes, a->height, line, col);
}

static void on_start(parser_t *p, const yaml_event_t *ev, bool is_map)
{
    unsigned line = abs_line(p, ev->start_mark), col = abs_col(ev->start_mark);
    if (expecting_key(p)) {
        hard(p, line, col, "a mapping key must be a scalar (complex keys are not supported)");
        return;
    }
    if (p->depth >= p->lim->max_depth) {
        hard(p, line, col, "nesting deeper than %zu levels", p->lim->max_depth);
        return;
    }
    size_t before = p->nodes;
    if (!count_nodes(p, 1, ev->start_mark))
        return;
    if (!grow((void **)&p->stack, &p->stack_cap, p->depth + 1, sizeof *p->stack)) {
        p->oom = true;
        return;
    }
    const char *anchor =
        (const char *)(is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
    frame_t f = {0};
    f.is_map = is_map;
    f.node = is_map ? json_object() : json_array();
    f.anchor = anchor ? strdup(anchor) : NULL;
    f.nodes_start = before;
    f.line = line;
    f.col = col;
    if (!is_map && p->depth == 1) {
        const frame_t *r = &p->stack[0];
        f.items_seq = r->is_map && r->have_key && !r->key_merge && r->key_len == 5 &&
                      memcmp(r->key, "items", 5) == 0;
    }
    if (!f.node || (anchor && !f.anchor)) {
        frame_dispose(&f);
        p->oom = true;
        return;
    }
    p->stack[p->depth++] = f;
}

static void on_end(parser_t *p)
{
    if (p->depth == 0)
        return; /* libyaml pairs start and end events; nothing to close */
    frame_t f = p->stack[--p->depth];
    if (f.merges && !apply_merges(f.node, f.merges))
        p->oom = true;
    json_t *node = f.node;
    f.node = NULL;
    place(p, node, f.anchor, p->nodes - f.nodes_start, f.height, f.line, f.col);
    frame_dispose(&f);
}

/* ---------------------------------------------------------------------------------------------
 * Objects.
 * ------------------------------------------------------------------------------------------- */
static bool push_item(parser_t *p, json_t *obj, unsigned line, unsigned col)
{
    kube_manifest_t *m = p->m;
    if (!grow((void **)&m->items, &m->cap_items, m->nitems + 1, sizeof *m->items)) {
        p->oom = true;
        return false;
    }
    m->items[m->nitems++] = (kube_manifest_item_t){json_incref(obj), line, col};
    return true;
}

/* Checks |obj| against what every object needs (M2), then appends it. */
static void add_object(parser_t *p, json_t *obj, unsigned line, unsigned col)
{
    if (!json_is_object(obj)) {
        report(p, line, col, NULL, "an object must be a mapping, not a %s", type_name(obj));
        return;
    }
    const json_t *av = json_object_get(obj, "apiVersion");
    const json_t *kd = json_object_get(obj, "kind");
    json_t *md = json_object_get(obj, "metadata");
    if (!kd) {
        report(p, line, col, obj, "kind is missing");
        return;
    }
    if (!json_is_string(kd) || json_string_length(kd) == 0 ||
        strlen(json_string_value(kd)) != json_string_length(kd) ||
        strchr(json_string_value(kd), '/')) {
        report(p, line, col, NULL, "kind must be a non-empty string without '/', not a %s",
               json_is_string(kd) ? "string like that" : type_name(kd));
        return;
    }
    if (!av) {
        report(p, line, col, obj, "apiVersion is missing");
        return;
    }
    if (!json_is_string(av) || json_string_length(av) == 0 ||
        strlen(json_string_value(av)) != json_string_length(av)) {
        report(p, line, col, obj, "apiVersion must be a non-empty string");
        return;
    }
    if (!md) {
        report(p, line, col, obj, "metadata is missing");
        return;
    }
    if (!json_is_object(md)) {
        report(p, line, col, obj, "metadata must be a mapping, not a %s", type_name(md));
        return;
    }
    json_t *nm = json_object_get(md, "name");
    json_t *ns = json_object_get(md, "namespace");
    if (json_is_null(ns) || (json_is_string(ns) && json_string_length(ns) == 0)) {
        /* namespace: null, ~ or "" means no namespace, as it does for kubectl. */
        json_object_del(md, "namespace");
        ns = NULL;
    }
    if (!nm || json_is_null(nm)) {
        if (json_object_get(md, "generateName"))
            report(p, line, col, obj,
                   "metadata.name is missing (metadata.generateName needs an "
                   "API server: a manifest must name its objects)");
        else
            report(p, line, col, obj, "metadata.name is missing");
        return;
    }
    if (!json_is_string(nm) || json_string_length(nm) == 0) {
        report(p, line, col, obj, "metadata.name must be a non-empty string, not %s",
               json_is_string(nm) ? "empty" : type_name(nm));
        return;
    }
    const char *name = json_string_value(nm);
    if (strlen(name) != json_string_length(nm) || strchr(name, '/')) {
        report(p, line, col, obj, "metadata.name must not contain '/' or NUL");
        return;
    }
    if (json_string_length(nm) > NAME_MAX_LEN) {
        report(p, line, col, obj, "metadata.name is longer than %d characters", NAME_MAX_LEN);
        return;
    }
    if (ns) {
        if (!json_is_string(ns)) {
            report(p, line, col, obj, "metadata.namespace must be a string, not a %s",
                   type_name(ns));
            return;
        }
        const char *nss = json_string_value(ns);
        if (strlen(nss) != json_string_length(ns) || strchr(nss, '/')) {
            report(p, line, col, obj, "metadata.namespace must not contain '/' or NUL");
            return;
        }
        if (json_string_length(ns) > NAMESPACE_MAX_LEN) {
            report(p, line, col, obj, "metadata.namespace is longer than %d characters",
                   NAMESPACE_MAX_LEN);
            return;
        }
    }
    push_item(p, obj, line, col);
}

static bool is_list(const json_t *obj)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    size_t n = kind ? strlen(kind) : 0;
    return n >= 4 && strcmp(kind + n - 4, "List") == 0 && json_object_get(obj, "items");
}

/* Adds a document's root: an object, or the items of a List. |pos| holds the items' positions
 * (top level only: nested Lists use their parent item's position). */
static void add_root(parser_t *p, json_t *root, unsigned line, unsigned col, const pos_t *pos,
                     size_t npos, int nesting)
{
    if (!json_is_object(root) || !is_list(root)) {
        add_object(p, root, line, col);
        return;
    }
    json_t *items = json_object_get(root, "items");
    if (json_is_null(items))
        return; /* "items: null" is an empty list, as kubectl reads it */
    if (!json_is_array(items)) {
        report(p, line, col, root, "items must be a sequence, not a %s", type_name(items));
        return;
    }
    if (nesting >= LIST_MAX_NESTING) {
        report(p, line, col, root, "Lists nested more than %d deep", LIST_MAX_NESTING);
        return;
    }
    for (size_t i = 0; i < json_array_size(items) && !p->oom; i++) {
        unsigned l = i < npos ? pos[i].line : line, c = i < npos ? pos[i].col : col;
        add_root(p, json_array_get(items, i), l, c, NULL, 0, nesting + 1);
    }
}

static void end_document(parser_t *p)
{
    if (p->oom)
        return;
    json_t *root = p->root;
    if (p->nsoft || p->soft_dropped) {
        for (size_t i = 0; i < p->nsoft; i++)
            report(p, p->soft[i].line, p->soft[i].col, root, "%s", p->soft[i].msg);
        if (p->soft_dropped)
            report(p, p->root_line, p->root_col, root, "%zu more problems in this document",
                   p->soft_dropped);
        p->m->documents += root && !json_is_null(root);
        return;
    }
    if (!root || json_is_null(root))
        return; /* an empty document */
    p->m->documents++;
    add_root(p, root, p->root_line, p->root_col, p->item_pos, p->nitem_pos, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Chunks.
 * ------------------------------------------------------------------------------------------- */
/* Length of the line break at s[k] as libyaml counts lines (CRLF, CR, LF, and in UTF-8 NEL, LS,
 * PS), or 0. */
static size_t break_len(const char *s, size_t n, size_t k)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[k] == '\r')
        return k + 1 < n && u[k + 1] == '\n' ? 2 : 1;
    if (u[k] == '\n')
        return 1;
    if (u[k] == 0xC2 && k + 1 < n && u[k + 1] == 0x85)
        return 2;
    if (u[k] == 0xE2 && k + 2 < n && u[k + 1] == 0x80 && (u[k + 2] == 0xA8 || u[k + 2] == 0xA9))
        return 3;
    return 0;
}

/* Number of line breaks in s[from..to) (a break straddling |to| counts). */
static unsigned count_breaks(const char *s, size_t n, size_t from, size_t to)
{
    unsigned l = 0;
    for (size_t k = from; k < to;) {
        size_t b = break_len(s, n, k);
        l += b != 0;
        k += b ? b : 1;
    }
    return l;
}

/* Line and column (1-based, column in bytes) of byte |off| of the chunk. */
static void chunk_pos(const parser_t *p, size_t off, unsigned *line, unsigned *col)
{
    if (off > p->chunk_len)
        off = p->chunk_len;
    size_t ls = 0;
    for (size_t k = 0; k < off;) {
        size_t b = break_len(p->chunk, p->chunk_len, k);
        k += b ? b : 1;
        if (b)
            ls = k;
    }
    *line = p->line0 + count_breaks(p->chunk, p->chunk_len, 0, ls) + 1;
    *col = (unsigned)(off - (ls < off ? ls : off)) + 1;
}

static void yaml_failure(parser_t *p, yaml_parser_t *yp)
{
    if (yp->error == YAML_MEMORY_ERROR) {
        p->oom = true;
        return;
    }
    const char *problem = yp->problem ? yp->problem : "invalid YAML";
    unsigned line, col;
    if (yp->error == YAML_READER_ERROR) {
        chunk_pos(p, yp->problem_offset, &line, &col);
        hard(p, line, col, "%s", problem);
        return;
    }
    line = abs_line(p, yp->problem_mark);
    col = abs_col(yp->problem_mark);
    if (yp->context)
        hard(p, line, col, "%s (%s at line %u)", problem, yp->context,
             abs_line(p, yp->context_mark));
    else
        hard(p, line, col, "%s", problem);
}

static void parse_chunk(parser_t *p)
{
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) {
        p->oom = true;
        return;
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)p->chunk, p->chunk_len);
    p->stop = false;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            yaml_failure(p, &yp);
            break;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            doc_reset(p);
            p->in_doc = true;
            break;
        case YAML_DOCUMENT_END_EVENT:
            end_document(p);
            doc_reset(p);
            break;
        case YAML_SCALAR_EVENT:
            on_scalar(p, &ev);
            break;
        case YAML_ALIAS_EVENT:
            on_alias(p, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            on_start(p, &ev, false);
            break;
        case YAML_MAPPING_START_EVENT:
            on_start(p, &ev, true);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            on_end(p);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (end || p->stop || p->oom)
            break;
    }
    doc_reset(p);
    yaml_parser_delete(&yp);
}

/* Does a line starting at s[i] open with the marker "---" or "..." followed by a blank or the end?
 */
static bool marker_at(const char *s, size_t n, size_t i, char c)
{
    if (n - i < 3 || s[i] != c || s[i + 1] != c || s[i + 2] != c)
        return false;
    if (n - i == 3)
        return true;
    char d = s[i + 3];
    return d == ' ' || d == '\t' || d == '\n' || d == '\r';
}

/* Byte index after the line starting at i (past its CR, LF or CRLF). */
static size_t line_end(const char *s, size_t n, size_t i)
{
    while (i < n && s[i] != '\n' && s[i] != '\r')
        i++;
    if (i < n && s[i] == '\r') {
        i++;
        if (i < n && s[i] == '\n')
            i++;
    } else if (i < n) {
        i++;
    }
    return i;
}

static void run_chunk(parser_t *p, const char *buf, size_t start, size_t end, unsigned line0)
{
    if (end <= start || p->oom)
        return;
    p->chunk = buf + start;
    p->chunk_len = end - start;
    p->line0 = line0;
    size_t i = 0;
    if (p->chunk_len >= 3 && memcmp(p->chunk, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < p->chunk_len && strchr(" \t\r\n", p->chunk[i]))
        i++;
    p->json_mode = i < p->chunk_len && p->chunk[i] == '{';
    if (p->chunk_len > p->lim->max_doc) {
        report(p, line0 + 1, 1, NULL, "document is larger than %zu bytes", p->lim->max_doc);
        return;
    }
    parse_chunk(p);
}

static void parse_buffer(parser_t *p, const char *s, size_t n)
{
    size_t start = 0, i = 0;
    unsigned line = 0, start_line = 0;
    bool content = false;
    while (i < n && !p->oom) {
        size_t next = line_end(s, n, i);
        unsigned nl = count_breaks(s, n, i, next);
        if (marker_at(s, n, i, '-')) {
            if (content) {
                run_chunk(p, s, start, i, start_line);
                start = i;
                start_line = line;
            }
            content = true;
        } else if (marker_at(s, n, i, '.')) {
            run_chunk(p, s, start, next, start_line);
            start = next;
            start_line = line + nl;
            content = false;
        } else if (!content) {
            size_t j = i;
            while (j < next && (s[j] == ' ' || s[j] == '\t'))
                j++;
            bool blank = j == next || s[j] == '\n' || s[j] == '\r' || s[j] == '#';
            bool directive = j == i && j < next && s[j] == '%';
            content = !blank && !directive;
        }
        line += nl;
        i = next;
    }
    run_chunk(p, s, start, n, start_line);
}

/* ---------------------------------------------------------------------------------------------
 * Public.
 * ------------------------------------------------------------------------------------------- */
void kube_manifest_init(kube_manifest_t *m)
{
    memset(m, 0, sizeof *m);
}

static void truncate_to(kube_manifest_t *m, size_t nitems, size_t nerrors, size_t dropped,
                        size_t documents)
{
    while (m->nitems > nitems)
        json_decref(m->items[--m->nitems].object);
    while (m->nerrors > nerrors)
        free(m->errors[--m->nerrors].message);
    m->errors_dropped = dropped;
    m->documents = documents;
}

void kube_manifest_dispose(kube_manifest_t *m)
{
    if (!m)
        return;
    truncate_to(m, 0, 0, 0, 0);
    free(m->items);
    free(m->errors);
    memset(m, 0, sizeof *m);
}

static bool name_ok(const json_t *v, bool required)
{
    if (!v)
        return !required;
    const char *s = json_string_value(v);
    return s && *s && strlen(s) == json_string_length(v) && !strchr(s, '/');
}

int kube_manifest_check(const kube_manifest_t *m)
{
    if (!m || m->nitems > m->cap_items || m->nerrors > m->cap_errors)
        return KUBE_EINVAL; /* M1 */
    for (size_t i = 0; i < m->nerrors; i++)
        if (!m->errors[i].message)
            return KUBE_EINVAL;
    for (size_t i = 0; i < m->nitems; i++) {
        const json_t *o = m->items[i].object;
        if (!json_is_object(o) || m->items[i].line == 0 || m->items[i].column == 0)
            return KUBE_EINVAL;
        const json_t *md = json_object_get(o, "metadata");
        const char *av = json_string_value(json_object_get(o, "apiVersion"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (!av || !*av || !kind || !*kind || !json_is_object(md) ||
            !name_ok(json_object_get(md, "name"), true) ||
            !name_ok(json_object_get(md, "namespace"), false))
            return KUBE_EINVAL; /* M2 (an empty namespace fails name_ok: the parser keeps none) */
        for (size_t j = 0; j < i; j++)
            if (m->items[j].object == o)
                return KUBE_EINVAL; /* M3 */
    }
    return KUBE_OK;
}

int kube_manifest_parse(kube_manifest_t *m, const char *file, const void *buf, size_t len,
                        const kube_manifest_limits_t *limits)
{
    if (!m || !file || (!buf && len))
        return KUBE_EINVAL;
    const kube_manifest_limits_t *lim = limits ? limits : &kube_manifest_default_limits;
    size_t n0 = m->nitems, e0 = m->nerrors, d0 = m->errors_dropped, docs0 = m->documents;
    parser_t p = {0};
    p.m = m;
    p.file = file;
    p.lim = lim;
    p.errors_at_start = e0;
    if (len > lim->max_input)
        report(&p, 0, 0, NULL, "%zu bytes is more than the limit of %zu", len, lim->max_input);
    else if (len)
        parse_buffer(&p, buf, len);
    doc_reset(&p);
    free(p.stack);
    free(p.item_pos);
    if (p.oom) {
        truncate_to(m, n0, e0, d0, docs0);
        return KUBE_ENOMEM;
    }
    return KUBE_OK;
}
