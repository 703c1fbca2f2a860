/*
 * CEL for authorization rules (proxy/cel.h): a lexer and recursive-descent parser that build a
 * flat node array once per snapshot, and a tree-walking evaluator with a bounded scratch area.
 *
 * Key decision: values produced while evaluating (list and map literals, concatenated or
 * lowercased strings, error messages) go into a fixed scratch area on the C stack, so a request
 * costs no heap allocation and an expression cannot grow memory without bound; running out of
 * scratch is an evaluation error. The alternative, refcounted heap values as the reference
 * implementations use, buys generality authorization rules do not need.
 *
 * && and || chains are flattened into one n-ary node while parsing: the evaluator then needs no
 * recursion for long chains, and the commutative error absorption is one loop.
 *
 * INVARIANTS (proxy_cel_t, checked by the fuzzer through evaluation)
 *  C1 every child index of node i is < i (children are built first), so evaluation terminates
 *  C2 every node's depth is <= PROXY_CEL_MAX_DEPTH, so evaluation recursion is bounded
 *  C3 every string a node holds points into |pool|, which is never reallocated
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "proxy/cel.h"

/* ------------------------------------------------------------------------------------------- */
/* Values */

enum {
    K_ERR,
    K_NULL,
    K_BOOL,
    K_INT,
    K_UINT,
    K_DBL,
    K_STR,
    K_LIST, /* |l| holds n values */
    K_MAP,  /* |l| holds n key/value pairs (2n values) */
    K_JSON, /* a jansson array or object */
    K_OBJ,  /* a variable of the request (OBJ_*) */
};

enum { OBJ_REQUEST, OBJ_HEADERS, OBJ_SOURCE, OBJ_BASIC, OBJ_APIKEY };

typedef struct val {
    uint8_t k;
    size_t n; /* string length, list length, map pairs */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        const char *s; /* K_STR (not NUL-terminated), K_ERR (NUL-terminated) */
        const struct val *l;
        const json_t *j;
        int obj;
    };
} val_t;

/* ------------------------------------------------------------------------------------------- */
/* Program */

enum {
    N_LIT,
    N_IDENT,
    N_SELECT, /* a.name */
    N_HAS,    /* has(a.name) */
    N_INDEX,  /* a[b] */
    N_CALL,   /* fn(args) or a.fn(args): a is the target (-1: none) */
    N_LIST,
    N_MAP, /* args: k0, v0, k1, v1, ... */
    N_NOT,
    N_NEG,
    N_BIN,
    N_AND, /* args: the operands */
    N_OR,
    N_COND,
    N_COMP, /* a.fn(name, b): exists, all, exists_one */
};

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN };

enum {
    FN_UNKNOWN,
    FN_SIZE,
    FN_STARTS,
    FN_ENDS,
    FN_CONTAINS,
    FN_MATCHES,
    FN_LOWER,
    FN_UPPER,
    FN_STRING,
    FN_INT,
    FN_UINT,
    FN_DOUBLE,
    FN_EXISTS,
    FN_ALL,
    FN_EXISTS_ONE,
};

typedef struct node {
    uint8_t kind, op;
    uint16_t depth;
    uint32_t col;
    int32_t a, b, c;
    uint32_t args, nargs; /* into argv */
    val_t lit;
    const char *name; /* NUL-terminated, in pool */
    pcre2_code *re;
} node_t;

struct proxy_cel {
    node_t *nodes;
    size_t nnodes, capnodes;
    int32_t *argv;
    size_t nargv, capargv;
    char *pool; /* strings and names; sized for the source, never reallocated (C3) */
    size_t npool, cappool;
    int32_t root;
    const char *unsupported;
    pcre2_match_context *mctx;
};

void proxy_cel_free(proxy_cel_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nnodes; i++)
        pcre2_code_free(e->nodes[i].re);
    pcre2_match_context_free(e->mctx);
    free(e->nodes);
    free(e->argv);
    free(e->pool);
    free(e);
}

const char *proxy_cel_unsupported(const proxy_cel_t *e)
{
    return e ? e->unsupported : NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* Lexer */

enum {
    T_EOF,
    T_INT,  /* magnitude in |u| (a leading '-' is an operator) */
    T_UINT, /* 12u */
    T_DBL,
    T_STR,
    T_IDENT,
    T_PUNCT, /* one of ()[]{}.,:?!-+*%/<>; two-char ones below */
    T_LE,
    T_GE,
    T_EQ,
    T_NE,
    T_AND,
    T_OR,
};

typedef struct tok {
    int t;
    char c; /* T_PUNCT */
    uint32_t col;
    uint64_t u;
    double d;
    const char *s; /* T_STR / T_IDENT, in pool */
    size_t n;
} tok_t;

typedef struct parser {
    proxy_cel_t *e;
    const char *src;
    size_t len, pos;
    tok_t tok;
    int depth;
    int failed; /* -1 syntax, -2 memory */
    char *err;
    size_t cap;
} parser_t;

static void fail(parser_t *p, uint32_t col, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = -1;
    int n = snprintf(p->err, p->cap, "col %u: ", (unsigned)col);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < p->cap)
        vsnprintf(p->err + n, p->cap - (size_t)n, fmt, ap);
    va_end(ap);
}

static void oom(parser_t *p)
{
    if (!p->failed)
        snprintf(p->err, p->cap, "out of memory");
    p->failed = -2;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string literal from |p->pos| (at the quote), decoded into the pool. */
static void lex_string(parser_t *p, bool raw, uint32_t col)
{
    const char *s = p->src;
    char q = s[p->pos];
    bool triple = p->pos + 2 < p->len && s[p->pos + 1] == q && s[p->pos + 2] == q;
    p->pos += triple ? 3 : 1;
    char *o = p->e->pool + p->e->npool, *start = o;
    for (;;) {
        if (p->pos >= p->len) {
            fail(p, col, "unterminated string");
            return;
        }
        char c = s[p->pos];
        if (triple ? (c == q && p->pos + 2 < p->len && s[p->pos + 1] == q && s[p->pos + 2] == q)
                   : c == q) {
            p->pos += triple ? 3 : 1;
            break;
        }
        if (!triple && (c == '\n' || c == '\r')) {
            fail(p, col, "newline in string");
            return;
        }
        if (c != '\\' || raw) {
            *o++ = c;
            p->pos++;
            continue;
        }
        uint32_t ecol = (uint32_t)p->pos + 1;
        if (++p->pos >= p->len) {
            fail(p, ecol, "unterminated string");
            return;
        }
        c = s[p->pos++];
        switch (c) {
        case 'a':
            *o++ = '\a';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'v':
            *o++ = '\v';
            break;
        case '\\':
        case '?':
        case '"':
        case '\'':
        case '`':
            *o++ = c;
            break;
        case 'x':
        case 'X':
        case 'u':
        case 'U': {
            int nd = (c == 'x' || c == 'X') ? 2 : c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int i = 0; i < nd; i++) {
                int h = p->pos < p->len ? hexval((unsigned char)s[p->pos]) : -1;
                if (h < 0) {
                    fail(p, ecol, "invalid \\%c escape", c);
                    return;
                }
                cp = cp * 16 + (uint32_t)h;
                p->pos++;
            }
            if (nd == 2)
                *o++ = (char)cp;
            else if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                fail(p, ecol, "invalid code point in \\%c escape", c);
                return;
            } else
                o += utf8_put(o, cp);
            break;
        }
        default:
            if (c >= '0' && c <= '3') {
                uint32_t v = (uint32_t)(c - '0');
                for (int i = 0; i < 2; i++) {
                    if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '7') {
                        fail(p, ecol, "invalid octal escape");
                        return;
                    }
                    v = v * 8 + (uint32_t)(s[p->pos++] - '0');
                }
                *o++ = (char)v;
                break;
            }
            fail(p, ecol, "invalid escape '\\%c'", c);
            return;
        }
    }
    p->tok.t = T_STR;
    p->tok.s = start;
    p->tok.n = (size_t)(o - start);
    *o++ = '\0';
    p->e->npool += (size_t)(o - start);
}

static void lex_number(parser_t *p, uint32_t col)
{
    const char *s = p->src;
    size_t st = p->pos;
    if (s[st] == '0' && st + 1 < p->len && (s[st + 1] == 'x' || s[st + 1] == 'X')) {
        size_t i = st + 2;
        uint64_t v = 0;
        bool over = false;
        while (i < p->len && hexval((unsigned char)s[i]) >= 0) {
            if (v > (UINT64_MAX >> 4))
                over = true;
            v = v * 16 + (uint64_t)hexval((unsigned char)s[i]);
            i++;
        }
        if (i == st + 2) {
            fail(p, col, "invalid hexadecimal literal");
            return;
        }
        if (over) {
            fail(p, col, "integer literal out of range");
            return;
        }
        p->pos = i;
        p->tok.u = v;
        p->tok.t = T_INT;
    } else {
        size_t i = st;
        bool dbl = false;
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
        if (i + 1 < p->len && s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
            dbl = true;
            i++;
            while (i < p->len && isdigit((unsigned char)s[i]))
                i++;
        }
        if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < p->len && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j < p->len && isdigit((unsigned char)s[j])) {
                dbl = true;
                i = j;
                while (i < p->len && isdigit((unsigned char)s[i]))
                    i++;
            }
        }
        char buf[64];
        if (i - st >= sizeof buf) {
            fail(p, col, "number literal too long");
            return;
        }
        memcpy(buf, s + st, i - st);
        buf[i - st] = '\0';
        p->pos = i;
        errno = 0;
        if (dbl) {
            p->tok.d = strtod(buf, NULL);
            p->tok.t = T_DBL;
        } else {
            p->tok.u = strtoull(buf, NULL, 10);
            if (errno == ERANGE) {
                fail(p, col, "integer literal out of range");
                return;
            }
            p->tok.t = T_INT;
        }
    }
    if (p->tok.t == T_INT && p->pos < p->len && (s[p->pos] == 'u' || s[p->pos] == 'U')) {
        p->pos++;
        p->tok.t = T_UINT;
    }
    if (p->pos < p->len && (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '_'))
        fail(p, (uint32_t)p->pos + 1, "unexpected '%c' after a number", s[p->pos]);
}

static void next(parser_t *p)
{
    const char *s = p->src;
    while (p->pos < p->len) {
        char c = s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
            p->pos++;
        else if (c == '/' && p->pos + 1 < p->len && s[p->pos + 1] == '/')
            while (p->pos < p->len && s[p->pos] != '\n')
                p->pos++;
        else
            break;
    }
    memset(&p->tok, 0, sizeof p->tok);
    p->tok.col = (uint32_t)p->pos + 1;
    if (p->failed || p->pos >= p->len) {
        p->tok.t = T_EOF;
        return;
    }
    uint32_t col = p->tok.col;
    char c = s[p->pos];
    /* string prefixes: r, R, b, B and their pairs */
    if (isalpha((unsigned char)c) || c == '_') {
        size_t i = p->pos;
        bool raw = false;
        size_t k = i;
        while (k < p->len && k < i + 2 && s[k] && strchr("rRbB", s[k])) {
            if (s[k] == 'r' || s[k] == 'R')
                raw = true;
            k++;
        }
        if (k > i && k < p->len && (s[k] == '"' || s[k] == '\'')) {
            p->pos = k;
            lex_string(p, raw, col);
            return;
        }
        while (i < p->len && (isalnum((unsigned char)s[i]) || s[i] == '_'))
            i++;
        char *o = p->e->pool + p->e->npool;
        memcpy(o, s + p->pos, i - p->pos);
        o[i - p->pos] = '\0';
        p->e->npool += i - p->pos + 1;
        p->tok.t = T_IDENT;
        p->tok.s = o;
        p->tok.n = i - p->pos;
        p->pos = i;
        return;
    }
    if (isdigit((unsigned char)c) ||
        (c == '.' && p->pos + 1 < p->len && isdigit((unsigned char)s[p->pos + 1]))) {
        if (c == '.') {
            fail(p, col, "a number cannot start with '.'");
            p->tok.t = T_EOF;
            return;
        }
        lex_number(p, col);
        return;
    }
    if (c == '"' || c == '\'') {
        lex_string(p, false, col);
        return;
    }
    char d = p->pos + 1 < p->len ? s[p->pos + 1] : '\0';
    static const struct {
        char a, b;
        int t;
    } two[] = {{'<', '=', T_LE}, {'>', '=', T_GE},  {'=', '=', T_EQ},
               {'!', '=', T_NE}, {'&', '&', T_AND}, {'|', '|', T_OR}};
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++)
        if (c == two[i].a && d == two[i].b) {
            p->tok.t = two[i].t;
            p->pos += 2;
            return;
        }
    if (strchr("()[]{}.,:?!-+*%/<>", c) && c) {
        p->tok.t = T_PUNCT;
        p->tok.c = c;
        p->pos++;
        return;
    }
    if (isprint((unsigned char)c))
        fail(p, col, "unexpected character '%c'", c);
    else
        fail(p, col, "unexpected byte 0x%02x", (unsigned char)c);
    p->tok.t = T_EOF;
}

static bool is_punct(const parser_t *p, char c)
{
    return p->tok.t == T_PUNCT && p->tok.c == c;
}

static void expect(parser_t *p, char c)
{
    if (is_punct(p, c))
        next(p);
    else
        fail(p, p->tok.col, "expected '%c'", c);
}

/* ------------------------------------------------------------------------------------------- */
/* Parser */

static int32_t node_new(parser_t *p, int kind, uint32_t col)
{
    proxy_cel_t *e = p->e;
    if (p->failed)
        return -1;
    if (e->nnodes == e->capnodes) {
        size_t nc = e->capnodes ? e->capnodes * 2 : 16;
        node_t *nn = realloc(e->nodes, nc * sizeof *nn);
        if (!nn) {
            oom(p);
            return -1;
        }
        e->nodes = nn;
        e->capnodes = nc;
    }
    node_t *n = &e->nodes[e->nnodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->col = col;
    n->a = n->b = n->c = -1;
    n->depth = 1;
    return (int32_t)e->nnodes++;
}

/* Records |child| under |parent|'s depth (C2). */
static void deepen(parser_t *p, int32_t parent, int32_t child)
{
    if (p->failed || parent < 0 || child < 0)
        return;
    node_t *n = &p->e->nodes[parent];
    unsigned d = p->e->nodes[child].depth + 1u;
    if (d > n->depth)
        n->depth = (uint16_t)(d > 0xFFFF ? 0xFFFF : d);
    if (n->depth > PROXY_CEL_MAX_DEPTH)
        fail(p, n->col, "expression nested deeper than %d", PROXY_CEL_MAX_DEPTH);
}

static int32_t node1(parser_t *p, int kind, uint32_t col, int32_t a)
{
    int32_t n = node_new(p, kind, col);
    if (n >= 0) {
        p->e->nodes[n].a = a;
        deepen(p, n, a);
    }
    return n;
}

static int32_t node2(parser_t *p, int kind, int op, uint32_t col, int32_t a, int32_t b)
{
    int32_t n = node1(p, kind, col, a);
    if (n >= 0) {
        p->e->nodes[n].op = (uint8_t)op;
        p->e->nodes[n].b = b;
        deepen(p, n, b);
    }
    return n;
}

/* Appends |list| (|n| node indexes) to argv as the arguments of node |to|. */
static void set_args(parser_t *p, int32_t to, const int32_t *list, size_t n)
{
    proxy_cel_t *e = p->e;
    if (p->failed || to < 0)
        return;
    if (e->nargv + n > e->capargv) {
        size_t nc = e->capargv ? e->capargv : 16;
        while (nc < e->nargv + n)
            nc *= 2;
        int32_t *na = realloc(e->argv, nc * sizeof *na);
        if (!na) {
            oom(p);
            return;
        }
        e->argv = na;
        e->capargv = nc;
    }
    e->nodes[to].args = (uint32_t)e->nargv;
    e->nodes[to].nargs = (uint32_t)n;
    if (n) /* an empty list has no array */
        memcpy(e->argv + e->nargv, list, n * sizeof *list);
    e->nargv += n;
    for (size_t i = 0; i < n; i++)
        deepen(p, to, list[i]);
}

/* A growing list of node indexes while parsing. */
typedef struct ilist {
    int32_t *v;
    size_t n, cap;
} ilist_t;

static void ilist_push(parser_t *p, ilist_t *l, int32_t x)
{
    if (p->failed)
        return;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        int32_t *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            oom(p);
            return;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = x;
}

static int32_t parse_expr(parser_t *p);

/* Comma-separated expressions up to |close| (a trailing comma is allowed in lists and maps). */
static void parse_list(parser_t *p, ilist_t *out, char close, bool pairs, bool trailing)
{
    if (is_punct(p, close)) {
        next(p);
        return;
    }
    for (;;) {
        ilist_push(p, out, parse_expr(p));
        if (pairs) {
            expect(p, ':');
            ilist_push(p, out, parse_expr(p));
        }
        if (p->failed)
            return;
        if (is_punct(p, ',')) {
            next(p);
            if (trailing && is_punct(p, close)) {
                next(p);
                return;
            }
            continue;
        }
        expect(p, close);
        return;
    }
}

static const struct {
    const char *name;
    int fn;
    int8_t global_args, method_args; /* -1: not callable that way */
} FUNCS[] = {
    {"size", FN_SIZE, 1, 0},         {"startsWith", FN_STARTS, -1, 1},
    {"endsWith", FN_ENDS, -1, 1},    {"contains", FN_CONTAINS, -1, 1},
    {"matches", FN_MATCHES, 2, 1},   {"lowerAscii", FN_LOWER, -1, 0},
    {"upperAscii", FN_UPPER, -1, 0}, {"string", FN_STRING, 1, -1},
    {"int", FN_INT, 1, -1},          {"uint", FN_UINT, 1, -1},
    {"double", FN_DOUBLE, 1, -1},    {"exists", FN_EXISTS, -1, 2},
    {"all", FN_ALL, -1, 2},          {"exists_one", FN_EXISTS_ONE, -1, 2},
};

/* A call of |name| at |col|: target |target| (-1 for a global call), arguments parsed here. */
static int32_t parse_call(parser_t *p, const char *name, uint32_t col, int32_t target)
{
    ilist_t args = {0};
    parse_list(p, &args, ')', false, false);
    int32_t n = -1;
    if (p->failed)
        goto out;
    if (target < 0 && !strcmp(name, "has")) {
        if (args.n != 1 || p->e->nodes[args.v[0]].kind != N_SELECT) {
            fail(p, col, "has() takes one field selection, as in has(a.b)");
            goto out;
        }
        p->e->nodes[args.v[0]].kind = N_HAS; /* the select becomes the presence test */
        n = args.v[0];
        goto out;
    }
    int fn = FN_UNKNOWN, want = -1;
    for (size_t i = 0; i < sizeof FUNCS / sizeof FUNCS[0]; i++)
        if (!strcmp(FUNCS[i].name, name)) {
            fn = FUNCS[i].fn;
            want = target < 0 ? FUNCS[i].global_args : FUNCS[i].method_args;
            if (want < 0) {
                fail(p, col, target < 0 ? "%s() is a method (x.%s(...))" : "%s() is not a method",
                     name, name);
                goto out;
            }
            if ((size_t)want != args.n) {
                fail(p, col, "%s() takes %d argument%s", name, want, want == 1 ? "" : "s");
                goto out;
            }
        }
    if (fn == FN_EXISTS || fn == FN_ALL || fn == FN_EXISTS_ONE) {
        node_t *v = &p->e->nodes[args.v[0]];
        if (v->kind != N_IDENT) {
            fail(p, v->col, "%s() needs a variable name first", name);
            goto out;
        }
        n = node2(p, N_COMP, fn, col, target, args.v[1]);
        if (n >= 0)
            p->e->nodes[n].name = p->e->nodes[args.v[0]].name;
        goto out;
    }
    n = node1(p, N_CALL, col, target);
    if (n < 0)
        goto out;
    p->e->nodes[n].op = (uint8_t)fn;
    p->e->nodes[n].name = name;
    set_args(p, n, args.v, args.n);
    if (fn == FN_UNKNOWN && !p->e->unsupported)
        p->e->unsupported = name;
    if (fn == FN_MATCHES) { /* the pattern is compiled once, here */
        node_t *re = &p->e->nodes[args.v[args.n - 1]];
        if (re->kind != N_LIT || re->lit.k != K_STR) {
            fail(p, re->col, "matches() needs a string literal pattern");
            goto out;
        }
        int code;
        PCRE2_SIZE off;
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)re->lit.s, re->lit.n, 0, &code, &off, NULL);
        if (!c) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(code, msg, sizeof msg);
            fail(p, re->col, "regex does not compile at offset %zu: %s", (size_t)off,
                 (const char *)msg);
            goto out;
        }
        p->e->nodes[n].re = c;
    }
out:
    free(args.v);
    return p->failed ? -1 : n;
}

static int32_t parse_primary(parser_t *p)
{
    tok_t t = p->tok;
    if (p->failed)
        return -1;
    if (t.t == T_INT || t.t == T_UINT || t.t == T_DBL || t.t == T_STR) {
        next(p);
        int32_t n = node_new(p, N_LIT, t.col);
        if (n < 0)
            return -1;
        val_t *v = &p->e->nodes[n].lit;
        if (t.t == T_INT) {
            if (t.u > (uint64_t)INT64_MAX) {
                fail(p, t.col, "integer literal out of range");
                return -1;
            }
            v->k = K_INT;
            v->i = (int64_t)t.u;
        } else if (t.t == T_UINT) {
            v->k = K_UINT;
            v->u = t.u;
        } else if (t.t == T_DBL) {
            v->k = K_DBL;
            v->d = t.d;
        } else {
            v->k = K_STR;
            v->s = t.s;
            v->n = t.n;
        }
        return n;
    }
    if (t.t == T_IDENT) {
        next(p);
        if (!strcmp(t.s, "true") || !strcmp(t.s, "false") || !strcmp(t.s, "null")) {
            int32_t n = node_new(p, N_LIT, t.col);
            if (n >= 0) {
                p->e->nodes[n].lit.k = t.s[0] == 'n' ? K_NULL : K_BOOL;
                p->e->nodes[n].lit.b = t.s[0] == 't';
            }
            return n;
        }
        if (!strcmp(t.s, "in")) {
            fail(p, t.col, "unexpected 'in'");
            return -1;
        }
        if (is_punct(p, '(')) {
            next(p);
            return parse_call(p, t.s, t.col, -1);
        }
        int32_t n = node_new(p, N_IDENT, t.col);
        if (n >= 0)
            p->e->nodes[n].name = t.s;
        return n;
    }
    if (t.t == T_PUNCT && (t.c == '(' || t.c == '[' || t.c == '{')) {
        next(p); /* nesting is counted by parse_expr */
        int32_t n = -1;
        if (t.c == '(') {
            n = parse_expr(p);
            expect(p, ')');
        } else {
            ilist_t l = {0};
            parse_list(p, &l, t.c == '[' ? ']' : '}', t.c == '{', true);
            n = node_new(p, t.c == '[' ? N_LIST : N_MAP, t.col);
            set_args(p, n, l.v, l.n);
            free(l.v);
        }
        return p->failed ? -1 : n;
    }
    if (t.t == T_EOF)
        fail(p, t.col, "unexpected end of expression");
    else if (t.t == T_PUNCT)
        fail(p, t.col, "unexpected '%c'", t.c);
    else
        fail(p, t.col, "unexpected operator");
    return -1;
}

static int32_t parse_member(parser_t *p)
{
    int32_t n = parse_primary(p);
    while (!p->failed) {
        uint32_t col = p->tok.col;
        if (is_punct(p, '.')) {
            next(p);
            if (p->tok.t != T_IDENT) {
                fail(p, p->tok.col, "expected a field name after '.'");
                return -1;
            }
            tok_t f = p->tok;
            next(p);
            if (is_punct(p, '(')) {
                next(p);
                n = parse_call(p, f.s, f.col, n);
            } else {
                n = node1(p, N_SELECT, f.col, n);
                if (n >= 0)
                    p->e->nodes[n].name = f.s;
            }
        } else if (is_punct(p, '[')) {
            next(p);
            int32_t i = parse_expr(p);
            expect(p, ']');
            n = node2(p, N_INDEX, 0, col, n, i);
        } else
            break;
    }
    return p->failed ? -1 : n;
}

static int32_t parse_unary(parser_t *p)
{
    uint32_t cols[PROXY_CEL_MAX_DEPTH + 1];
    char ops[PROXY_CEL_MAX_DEPTH + 1];
    int nops = 0;
    while (is_punct(p, '!') || is_punct(p, '-')) {
        if (nops > PROXY_CEL_MAX_DEPTH) {
            fail(p, p->tok.col, "expression nested deeper than %d", PROXY_CEL_MAX_DEPTH);
            return -1;
        }
        cols[nops] = p->tok.col;
        ops[nops++] = p->tok.c;
        next(p);
    }
    int32_t n;
    /* -9223372036854775808 is an int literal: fold the sign into it */
    if (nops && ops[nops - 1] == '-' && p->tok.t == T_INT) {
        tok_t t = p->tok;
        uint32_t col = cols[--nops];
        next(p);
        if (t.u > (uint64_t)INT64_MAX + 1u) {
            fail(p, col, "integer literal out of range");
            return -1;
        }
        n = node_new(p, N_LIT, col);
        if (n >= 0) {
            p->e->nodes[n].lit.k = K_INT;
            p->e->nodes[n].lit.i = t.u == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)t.u;
        }
        /* a member access binds tighter than the sign: -1.foo() is -(1.foo()) — rare enough
         * that the folded literal is simply followed by the member loop */
        while (!p->failed && (is_punct(p, '.') || is_punct(p, '['))) {
            fail(p, p->tok.col, "put the negative number in parentheses");
            return -1;
        }
    } else
        n = parse_member(p);
    while (nops > 0 && !p->failed) {
        nops--;
        n = node1(p, ops[nops] == '!' ? N_NOT : N_NEG, cols[nops], n);
    }
    return p->failed ? -1 : n;
}

static int32_t parse_mul(parser_t *p)
{
    int32_t n = parse_unary(p);
    while (!p->failed && (is_punct(p, '*') || is_punct(p, '/') || is_punct(p, '%'))) {
        char c = p->tok.c;
        uint32_t col = p->tok.col;
        next(p);
        int32_t r = parse_unary(p);
        n = node2(p, N_BIN, c == '*' ? OP_MUL : c == '/' ? OP_DIV : OP_MOD, col, n, r);
    }
    return n;
}

static int32_t parse_add(parser_t *p)
{
    int32_t n = parse_mul(p);
    while (!p->failed && (is_punct(p, '+') || is_punct(p, '-'))) {
        char c = p->tok.c;
        uint32_t col = p->tok.col;
        next(p);
        int32_t r = parse_mul(p);
        n = node2(p, N_BIN, c == '+' ? OP_ADD : OP_SUB, col, n, r);
    }
    return n;
}

static int relop(const parser_t *p)
{
    switch (p->tok.t) {
    case T_LE:
        return OP_LE;
    case T_GE:
        return OP_GE;
    case T_EQ:
        return OP_EQ;
    case T_NE:
        return OP_NE;
    case T_PUNCT:
        return p->tok.c == '<' ? OP_LT : p->tok.c == '>' ? OP_GT : -1;
    case T_IDENT:
        return !strcmp(p->tok.s, "in") ? OP_IN : -1;
    default:
        return -1;
    }
}

static int32_t parse_rel(parser_t *p)
{
    int32_t n = parse_add(p);
    int op;
    while (!p->failed && (op = relop(p)) >= 0) {
        uint32_t col = p->tok.col;
        next(p);
        int32_t r = parse_add(p);
        n = node2(p, N_BIN, op, col, n, r);
    }
    return n;
}

/* a && b && c (or ||) as one n-ary node. */
static int32_t parse_chain(parser_t *p, int tokt, int kind, int32_t (*sub)(parser_t *))
{
    uint32_t col = p->tok.col;
    int32_t n = sub(p);
    if (p->failed || p->tok.t != tokt)
        return n;
    ilist_t l = {0};
    ilist_push(p, &l, n);
    while (!p->failed && p->tok.t == tokt) {
        next(p);
        ilist_push(p, &l, sub(p));
    }
    n = node_new(p, kind, col);
    set_args(p, n, l.v, l.n);
    free(l.v);
    return p->failed ? -1 : n;
}

static int32_t parse_and(parser_t *p)
{
    return parse_chain(p, T_AND, N_AND, parse_rel);
}

static int32_t parse_or(parser_t *p)
{
    return parse_chain(p, T_OR, N_OR, parse_and);
}

static int32_t parse_expr(parser_t *p)
{
    if (++p->depth > PROXY_CEL_MAX_DEPTH) {
        fail(p, p->tok.col, "expression nested deeper than %d", PROXY_CEL_MAX_DEPTH);
        return -1;
    }
    int32_t n = parse_or(p);
    if (!p->failed && is_punct(p, '?')) {
        uint32_t col = p->tok.col;
        next(p);
        int32_t t = parse_or(p);
        expect(p, ':');
        int32_t f = parse_expr(p);
        int32_t c = node2(p, N_COND, 0, col, n, t);
        if (c >= 0) {
            p->e->nodes[c].c = f;
            deepen(p, c, f);
        }
        n = c;
    }
    p->depth--;
    return p->failed ? -1 : n;
}

int proxy_cel_compile(const char *src, size_t len, proxy_cel_t **out, char *err, size_t cap)
{
    char dummy[8];
    if (!err || !cap) {
        err = dummy;
        cap = sizeof dummy;
    }
    err[0] = '\0';
    *out = NULL;
    if (len > PROXY_CEL_MAX_LEN) {
        snprintf(err, cap, "col %d: expression longer than %d bytes", PROXY_CEL_MAX_LEN + 1,
                 PROXY_CEL_MAX_LEN);
        return -1;
    }
    proxy_cel_t *e = calloc(1, sizeof *e);
    if (!e)
        return -2;
    /* every token decodes to at most its own bytes plus a NUL: 2 * len bounds the pool (C3) */
    e->cappool = 2 * len + 16;
    e->pool = malloc(e->cappool);
    e->mctx = pcre2_match_context_create(NULL);
    if (!e->pool || !e->mctx) {
        proxy_cel_free(e);
        return -2;
    }
    /* backtracking-heavy patterns get an error instead of a long match */
    pcre2_set_match_limit(e->mctx, 100000);
    pcre2_set_depth_limit(e->mctx, 1000);
    parser_t p = {.e = e, .src = src, .len = len, .err = err, .cap = cap};
    next(&p);
    e->root = parse_expr(&p);
    if (!p.failed && p.tok.t != T_EOF) {
        if (p.tok.t == T_PUNCT)
            fail(&p, p.tok.col, "unexpected '%c'", p.tok.c);
        else
            fail(&p, p.tok.col, "unexpected token after the expression");
    }
    if (p.failed || e->root < 0) {
        int rc = p.failed == -2 ? -2 : -1;
        if (!p.failed)
            snprintf(err, cap, "col 1: empty expression");
        proxy_cel_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Evaluation */

#define SCRATCH_VALS 512
#define SCRATCH_TEXT 8192
#define MAX_BINDS    PROXY_CEL_MAX_DEPTH

typedef struct ectx {
    const proxy_cel_t *e;
    const proxy_cel_activation_t *a;
    val_t vals[SCRATCH_VALS];
    size_t nv;
    char text[SCRATCH_TEXT];
    size_t nt;
    struct {
        const char *name;
        val_t v;
    } bind[MAX_BINDS];
    int nbind;
    int eqdepth; /* val_eq recursion (nested JSON claims) */
} ectx_t;

static val_t v_err(ectx_t *x, const char *fmt, ...)
{
    val_t v = {.k = K_ERR, .s = "evaluation error (scratch space exhausted)"};
    size_t room = sizeof x->text - x->nt;
    if (room < 16)
        return v;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(x->text + x->nt, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return v;
    v.s = x->text + x->nt;
    x->nt += (size_t)n < room ? (size_t)n + 1 : room;
    return v;
}

static val_t v_bool(bool b)
{
    return (val_t){.k = K_BOOL, .b = b};
}

static val_t v_int(int64_t i)
{
    return (val_t){.k = K_INT, .i = i};
}

static val_t v_str(const char *s, size_t n)
{
    return (val_t){.k = K_STR, .s = s, .n = n};
}

static val_t v_obj(int obj)
{
    return (val_t){.k = K_OBJ, .obj = obj};
}

static char *text_reserve(ectx_t *x, size_t n)
{
    if (n > sizeof x->text - x->nt)
        return NULL;
    char *p = x->text + x->nt;
    x->nt += n;
    return p;
}

static val_t *vals_reserve(ectx_t *x, size_t n)
{
    if (n > SCRATCH_VALS - x->nv)
        return NULL;
    val_t *p = x->vals + x->nv;
    x->nv += n;
    return p;
}

static const char *kind_name(const val_t *v)
{
    static const char *const names[] = {"error",  "null", "bool", "int",  "uint", "double",
                                        "string", "list", "map",  "json", "map"};
    if (v->k == K_JSON)
        return json_is_array(v->j) ? "list" : "map";
    return names[v->k];
}

static val_t from_json(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        return v_str(json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return v_int((int64_t)json_integer_value(j));
    case JSON_REAL:
        return (val_t){.k = K_DBL, .d = json_real_value(j)};
    case JSON_TRUE:
        return v_bool(true);
    case JSON_FALSE:
        return v_bool(false);
    case JSON_NULL:
        return (val_t){.k = K_NULL};
    default:
        return (val_t){.k = K_JSON, .j = j};
    }
}

static bool is_list(const val_t *v)
{
    return v->k == K_LIST || (v->k == K_JSON && json_is_array(v->j));
}

static bool is_map(const val_t *v)
{
    return v->k == K_MAP || v->k == K_OBJ || (v->k == K_JSON && json_is_object(v->j));
}

static size_t list_len(const val_t *v)
{
    return v->k == K_LIST ? v->n : json_array_size(v->j);
}

static val_t list_at(const val_t *v, size_t i)
{
    return v->k == K_LIST ? v->l[i] : from_json(json_array_get(v->j, i));
}

/* request.headers["name"]: case-insensitive; several fields are joined with ", ". */
static int header_get(ectx_t *x, const char *name, size_t nl, val_t *out)
{
    const proxy_cel_activation_t *a = x->a;
    size_t first = SIZE_MAX, count = 0, total = 0;
    for (size_t i = 0; i < a->nheaders; i++)
        if (a->headers[i].name_len == nl && !strncasecmp(a->headers[i].name, name, nl)) {
            if (first == SIZE_MAX)
                first = i;
            count++;
            total += a->headers[i].value_len + 2;
        }
    if (!count)
        return 0;
    if (count == 1) {
        *out = v_str(a->headers[first].value, a->headers[first].value_len);
        return 1;
    }
    char *buf = text_reserve(x, total);
    if (!buf) {
        *out = v_err(x, "header '%.*s' too large to join", (int)nl, name);
        return 1;
    }
    size_t o = 0;
    for (size_t i = first; i < a->nheaders; i++)
        if (a->headers[i].name_len == nl && !strncasecmp(a->headers[i].name, name, nl)) {
            if (o) {
                buf[o++] = ',';
                buf[o++] = ' ';
            }
            memcpy(buf + o, a->headers[i].value, a->headers[i].value_len);
            o += a->headers[i].value_len;
        }
    *out = v_str(buf, o);
    return 1;
}

static bool key_is(const char *k, size_t kl, const char *lit)
{
    return strlen(lit) == kl && !memcmp(k, lit, kl);
}

/* A field of a request variable. Returns 1 found, 0 missing. */
static int obj_get(ectx_t *x, int obj, const char *k, size_t kl, val_t *out)
{
    const proxy_cel_activation_t *a = x->a;
    const char *s = NULL;
    switch (obj) {
    case OBJ_REQUEST:
        if (key_is(k, kl, "headers")) {
            *out = v_obj(OBJ_HEADERS);
            return 1;
        }
        if (key_is(k, kl, "method"))
            s = a->method;
        else if (key_is(k, kl, "path"))
            s = a->path;
        else if (key_is(k, kl, "host"))
            s = a->host;
        else if (key_is(k, kl, "scheme"))
            s = a->scheme;
        else if (key_is(k, kl, "uri") || key_is(k, kl, "pathAndQuery")) {
            if (!a->path)
                return 0;
            bool uri = k[0] == 'u';
            if (uri && (!a->scheme || !a->host))
                return 0;
            size_t n = (uri ? strlen(a->scheme) + 3 + strlen(a->host) : 0) + strlen(a->path) +
                       (a->query ? strlen(a->query) + 1 : 0) + 1;
            char *buf = text_reserve(x, n);
            if (!buf) {
                *out = v_err(x, "request.%.*s too long", (int)kl, k);
                return 1;
            }
            int w = snprintf(buf, n, "%s%s%s%s%s%s", uri ? a->scheme : "", uri ? "://" : "",
                             uri ? a->host : "", a->path, a->query ? "?" : "",
                             a->query ? a->query : "");
            *out = v_str(buf, w > 0 ? (size_t)w : 0);
            return 1;
        }
        break;
    case OBJ_HEADERS:
        return header_get(x, k, kl, out);
    case OBJ_SOURCE:
        if (key_is(k, kl, "address"))
            s = a->source_address;
        else if (key_is(k, kl, "port") && a->source_port >= 0) {
            *out = v_int(a->source_port);
            return 1;
        }
        break;
    case OBJ_BASIC:
        if (key_is(k, kl, "username"))
            s = a->basic_user;
        break;
    case OBJ_APIKEY:
        if (key_is(k, kl, "key"))
            s = a->api_key;
        break;
    default:
        break;
    }
    if (!s)
        return 0;
    *out = v_str(s, strlen(s));
    return 1;
}

static int val_eq(ectx_t *x, const val_t *a, const val_t *b);

/* m[key]: 1 found (|*out| set), 0 missing, -1 a key of the wrong type (|*out| the error). */
static int map_get(ectx_t *x, const val_t *m, const val_t *key, val_t *out)
{
    if (m->k == K_MAP) {
        for (size_t i = 0; i < m->n; i++) {
            int eq = val_eq(x, &m->l[2 * i], key);
            if (eq > 0) {
                *out = m->l[2 * i + 1];
                return 1;
            }
        }
        return 0;
    }
    if (key->k != K_STR) {
        *out = v_err(x, "no such key of type %s", kind_name(key));
        return -1;
    }
    if (m->k == K_OBJ)
        return obj_get(x, m->obj, key->s, key->n, out);
    /* a JSON object: keys are NUL-terminated, the CEL string may not be */
    char kb[256];
    if (key->n >= sizeof kb || memchr(key->s, '\0', key->n))
        return 0;
    memcpy(kb, key->s, key->n);
    kb[key->n] = '\0';
    json_t *v = json_object_get(m->j, kb);
    if (!v)
        return 0;
    *out = from_json(v);
    return 1;
}

static size_t map_len(ectx_t *x, const val_t *m)
{
    if (m->k == K_MAP)
        return m->n;
    if (m->k == K_JSON)
        return json_object_size(m->j);
    size_t n = 0; /* a request variable: its fields present */
    static const char *const req[] = {"method", "path",         "host",   "scheme",
                                      "uri",    "pathAndQuery", "headers"};
    static const char *const src[] = {"address", "port"};
    val_t tmp;
    if (m->obj == OBJ_HEADERS) {
        for (size_t i = 0; i < x->a->nheaders; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = x->a->headers[j].name_len == x->a->headers[i].name_len &&
                       !strncasecmp(x->a->headers[j].name, x->a->headers[i].name,
                                    x->a->headers[i].name_len);
            n += !seen;
        }
        return n;
    }
    const char *const *f = m->obj == OBJ_REQUEST ? req : src;
    size_t nf = m->obj == OBJ_REQUEST ? 7 : m->obj == OBJ_SOURCE ? 2 : 0;
    if (m->obj == OBJ_BASIC || m->obj == OBJ_APIKEY)
        return 1;
    size_t mark = x->nt;
    for (size_t i = 0; i < nf; i++)
        n += obj_get(x, m->obj, f[i], strlen(f[i]), &tmp) == 1;
    x->nt = mark;
    return n;
}

/* The i-th key of a map (K_MAP or JSON object; request variables cannot be iterated). */
static bool map_key_at(const val_t *m, size_t i, void **iter, val_t *out)
{
    if (m->k == K_MAP) {
        *out = m->l[2 * i];
        return true;
    }
    if (m->k != K_JSON)
        return false;
    *iter =
        i == 0 ? json_object_iter((json_t *)m->j) : json_object_iter_next((json_t *)m->j, *iter);
    if (!*iter)
        return false;
    const char *k = json_object_iter_key(*iter);
    *out = v_str(k, strlen(k));
    return true;
}

static int num_cmp(const val_t *a, const val_t *b, int *out)
{
    /* int, uint and double compare by value (CEL's heterogeneous numeric comparison) */
    if (a->k == K_DBL || b->k == K_DBL) {
        double x = a->k == K_DBL ? a->d : a->k == K_INT ? (double)a->i : (double)a->u;
        double y = b->k == K_DBL ? b->d : b->k == K_INT ? (double)b->i : (double)b->u;
        if (isnan(x) || isnan(y))
            return -1;
        *out = (x > y) - (x < y);
        return 0;
    }
    if (a->k == K_INT && b->k == K_INT)
        *out = (a->i > b->i) - (a->i < b->i);
    else if (a->k == K_UINT && b->k == K_UINT)
        *out = (a->u > b->u) - (a->u < b->u);
    else if (a->k == K_INT) /* int vs uint */
        *out = a->i < 0 ? -1 : ((uint64_t)a->i > b->u) - ((uint64_t)a->i < b->u);
    else
        *out = b->i < 0 ? 1 : (a->u > (uint64_t)b->i) - (a->u < (uint64_t)b->i);
    return 0;
}

static bool is_num(const val_t *v)
{
    return v->k == K_INT || v->k == K_UINT || v->k == K_DBL;
}

/* 1 equal, 0 not equal, -1 error (an error operand). */
static int val_eq(ectx_t *x, const val_t *a, const val_t *b)
{
    if (a->k == K_ERR || b->k == K_ERR)
        return -1;
    if (x->eqdepth > PROXY_CEL_MAX_DEPTH)
        return -1; /* values nested deeper than any expression can write */
    if (is_num(a) && is_num(b)) {
        int c;
        return num_cmp(a, b, &c) == 0 && c == 0;
    }
    if (is_list(a) && is_list(b)) {
        size_t n = list_len(a);
        if (n != list_len(b))
            return 0;
        for (size_t i = 0; i < n; i++) {
            val_t ea = list_at(a, i), eb = list_at(b, i);
            x->eqdepth++;
            int r = val_eq(x, &ea, &eb);
            x->eqdepth--;
            if (r != 1)
                return r;
        }
        return 1;
    }
    if (is_map(a) && is_map(b)) {
        if (a->k == K_OBJ || b->k == K_OBJ)
            return a->k == b->k && a->obj == b->obj;
        size_t n = map_len(x, a);
        if (n != map_len(x, b))
            return 0;
        void *it = NULL;
        for (size_t i = 0; i < n; i++) {
            val_t k, va, vb;
            if (!map_key_at(a, i, &it, &k) || map_get(x, a, &k, &va) != 1 ||
                map_get(x, b, &k, &vb) != 1)
                return 0;
            x->eqdepth++;
            int r = val_eq(x, &va, &vb);
            x->eqdepth--;
            if (r != 1)
                return r;
        }
        return 1;
    }
    if (a->k != b->k)
        return 0; /* different types are not equal */
    switch (a->k) {
    case K_NULL:
        return 1;
    case K_BOOL:
        return a->b == b->b;
    case K_STR:
        return a->n == b->n && !memcmp(a->s, b->s, a->n);
    default:
        return 0;
    }
}

static val_t eval(ectx_t *x, int32_t i);

static val_t no_overload(ectx_t *x, const char *op, const val_t *a, const val_t *b)
{
    if (b)
        return v_err(x, "no such overload: %s %s %s", kind_name(a), op, kind_name(b));
    return v_err(x, "no such overload: %s(%s)", op, kind_name(a));
}

static val_t eval_bin(ectx_t *x, const node_t *n)
{
    val_t a = eval(x, n->a);
    if (a.k == K_ERR)
        return a;
    val_t b = eval(x, n->b);
    if (b.k == K_ERR)
        return b;
    static const char *const opname[] = {
        "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "in"};
    switch (n->op) {
    case OP_EQ:
    case OP_NE: {
        int r = val_eq(x, &a, &b);
        if (r < 0)
            return v_err(x, "error comparing values");
        return v_bool(n->op == OP_EQ ? r == 1 : r == 0);
    }
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE: {
        int c;
        if (is_num(&a) && is_num(&b)) {
            if (num_cmp(&a, &b, &c) < 0)
                return v_bool(false); /* NaN compares false */
        } else if (a.k == K_STR && b.k == K_STR) {
            int m = memcmp(a.s, b.s, a.n < b.n ? a.n : b.n);
            c = m ? (m > 0) - (m < 0) : (a.n > b.n) - (a.n < b.n);
        } else if (a.k == K_BOOL && b.k == K_BOOL)
            c = (int)a.b - (int)b.b;
        else
            return no_overload(x, opname[n->op], &a, &b);
        return v_bool(n->op == OP_LT   ? c < 0
                      : n->op == OP_LE ? c <= 0
                      : n->op == OP_GT ? c > 0
                                       : c >= 0);
    }
    case OP_IN: {
        if (is_list(&b)) {
            bool err = false;
            for (size_t i = 0; i < list_len(&b); i++) {
                val_t e = list_at(&b, i);
                int r = val_eq(x, &a, &e);
                if (r == 1)
                    return v_bool(true);
                err |= r < 0;
            }
            return err ? v_err(x, "error comparing values") : v_bool(false);
        }
        if (is_map(&b)) {
            val_t out;
            int r = map_get(x, &b, &a, &out);
            if (r < 0)
                return v_bool(false); /* a key of another type is not in the map */
            return r == 1 && out.k == K_ERR ? out : v_bool(r == 1);
        }
        return no_overload(x, "in", &a, &b);
    }
    default:
        break;
    }
    if (n->op == OP_ADD && a.k == K_STR && b.k == K_STR) {
        char *buf = text_reserve(x, a.n + b.n);
        if (!buf)
            return v_err(x, "string too long");
        memcpy(buf, a.s, a.n);
        memcpy(buf + a.n, b.s, b.n);
        return v_str(buf, a.n + b.n);
    }
    if (n->op == OP_ADD && is_list(&a) && is_list(&b)) {
        size_t na = list_len(&a), nb = list_len(&b);
        val_t *l = vals_reserve(x, na + nb);
        if (!l)
            return v_err(x, "list too long");
        for (size_t i = 0; i < na; i++)
            l[i] = list_at(&a, i);
        for (size_t i = 0; i < nb; i++)
            l[na + i] = list_at(&b, i);
        return (val_t){.k = K_LIST, .l = l, .n = na + nb};
    }
    if (a.k != b.k || !is_num(&a)) /* arithmetic needs two numbers of one type */
        return no_overload(x, opname[n->op], &a, &b);
    if (a.k == K_DBL) {
        double r;
        switch (n->op) {
        case OP_ADD:
            r = a.d + b.d;
            break;
        case OP_SUB:
            r = a.d - b.d;
            break;
        case OP_MUL:
            r = a.d * b.d;
            break;
        case OP_DIV:
            r = a.d / b.d;
            break;
        default:
            return no_overload(x, opname[n->op], &a, &b);
        }
        return (val_t){.k = K_DBL, .d = r};
    }
    if (a.k == K_INT) {
        int64_t r = 0;
        bool over = false;
        switch (n->op) {
        case OP_ADD:
            over = __builtin_add_overflow(a.i, b.i, &r);
            break;
        case OP_SUB:
            over = __builtin_sub_overflow(a.i, b.i, &r);
            break;
        case OP_MUL:
            over = __builtin_mul_overflow(a.i, b.i, &r);
            break;
        case OP_DIV:
        case OP_MOD:
            if (b.i == 0)
                return v_err(x, n->op == OP_DIV ? "division by zero" : "modulus by zero");
            if (a.i == INT64_MIN && b.i == -1)
                over = true;
            else
                r = n->op == OP_DIV ? a.i / b.i : a.i % b.i;
            break;
        default:
            break;
        }
        return over ? v_err(x, "integer overflow") : v_int(r);
    }
    uint64_t r = 0;
    bool over = false;
    switch (n->op) {
    case OP_ADD:
        over = __builtin_add_overflow(a.u, b.u, &r);
        break;
    case OP_SUB:
        over = __builtin_sub_overflow(a.u, b.u, &r);
        break;
    case OP_MUL:
        over = __builtin_mul_overflow(a.u, b.u, &r);
        break;
    case OP_DIV:
    case OP_MOD:
        if (b.u == 0)
            return v_err(x, n->op == OP_DIV ? "division by zero" : "modulus by zero");
        r = n->op == OP_DIV ? a.u / b.u : a.u % b.u;
        break;
    default:
        break;
    }
    return over ? v_err(x, "unsigned integer overflow") : (val_t){.k = K_UINT, .u = r};
}

/* A string as a NUL-terminated copy in scratch, for strtoll/strtod. */
static const char *cstr(ectx_t *x, const val_t *s)
{
    char *b = text_reserve(x, s->n + 1);
    if (!b)
        return NULL;
    memcpy(b, s->s, s->n);
    b[s->n] = '\0';
    return strlen(b) == s->n ? b : NULL; /* an embedded NUL is not a number */
}

static val_t fmt_double(ectx_t *x, double d)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d)
        snprintf(tmp, sizeof tmp, "%.17g", d);
    size_t n = strlen(tmp);
    char *b = text_reserve(x, n);
    if (!b)
        return v_err(x, "string too long");
    memcpy(b, tmp, n);
    return v_str(b, n);
}

/* The argument list of |n| (NULL when it has none: argv itself may be NULL then). */
static const int32_t *node_argv(const proxy_cel_t *e, const node_t *n)
{
    return n->nargs ? e->argv + n->args : NULL;
}

static val_t eval_call(ectx_t *x, const node_t *n)
{
    const int32_t *argv = node_argv(x->e, n);
    if (n->op == FN_UNKNOWN) { /* its target first: the innermost unsupported call is named */
        val_t t = n->a >= 0 ? eval(x, n->a) : (val_t){.k = K_NULL};
        return t.k == K_ERR ? t : v_err(x, "function '%s' is not supported by this proxy", n->name);
    }
    /* the subject: the target of a method, or the first argument */
    val_t s = n->a >= 0 ? eval(x, n->a) : eval(x, argv[0]);
    if (s.k == K_ERR)
        return s;
    val_t arg = {.k = K_NULL};
    bool has_arg = n->a >= 0 ? n->nargs > 0 : n->nargs > 1;
    if (has_arg && n->op != FN_MATCHES) {
        arg = eval(x, argv[n->a >= 0 ? 0 : 1]);
        if (arg.k == K_ERR)
            return arg;
    }
    switch (n->op) {
    case FN_SIZE:
        if (s.k == K_STR) {
            size_t c = 0; /* code points */
            for (size_t i = 0; i < s.n; i++)
                c += ((unsigned char)s.s[i] & 0xC0) != 0x80;
            return v_int((int64_t)c);
        }
        if (is_list(&s))
            return v_int((int64_t)list_len(&s));
        if (is_map(&s))
            return v_int((int64_t)map_len(x, &s));
        return no_overload(x, "size", &s, NULL);
    case FN_STARTS:
    case FN_ENDS:
    case FN_CONTAINS: {
        const char *fn = n->op == FN_STARTS ? "startsWith"
                         : n->op == FN_ENDS ? "endsWith"
                                            : "contains";
        if (s.k != K_STR || arg.k != K_STR)
            return no_overload(x, fn, &s, &arg);
        if (arg.n > s.n)
            return v_bool(false);
        if (n->op == FN_STARTS)
            return v_bool(!memcmp(s.s, arg.s, arg.n));
        if (n->op == FN_ENDS)
            return v_bool(!memcmp(s.s + s.n - arg.n, arg.s, arg.n));
        for (size_t i = 0; i + arg.n <= s.n; i++)
            if (!memcmp(s.s + i, arg.s, arg.n))
                return v_bool(true);
        return v_bool(false);
    }
    case FN_MATCHES: {
        if (s.k != K_STR)
            return no_overload(x, "matches", &s, NULL);
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
        if (!md)
            return v_err(x, "out of memory");
        int rc = pcre2_match(n->re, (PCRE2_SPTR)(s.n ? s.s : ""), s.n, 0, 0, md, x->e->mctx);
        pcre2_match_data_free(md);
        if (rc >= 0)
            return v_bool(true);
        if (rc == PCRE2_ERROR_NOMATCH)
            return v_bool(false);
        return v_err(x, "regex match failed (error %d)", rc);
    }
    case FN_LOWER:
    case FN_UPPER: {
        if (s.k != K_STR)
            return no_overload(x, n->op == FN_LOWER ? "lowerAscii" : "upperAscii", &s, NULL);
        char *b = text_reserve(x, s.n);
        if (!b && s.n)
            return v_err(x, "string too long");
        for (size_t i = 0; i < s.n; i++) {
            unsigned char c = (unsigned char)s.s[i];
            b[i] = (char)(c < 0x80 ? (n->op == FN_LOWER ? tolower(c) : toupper(c)) : c);
        }
        return v_str(b ? b : "", s.n);
    }
    case FN_STRING: {
        char tmp[32];
        switch (s.k) {
        case K_STR:
            return s;
        case K_BOOL:
            return v_str(s.b ? "true" : "false", s.b ? 4 : 5);
        case K_INT:
            snprintf(tmp, sizeof tmp, "%lld", (long long)s.i);
            break;
        case K_UINT:
            snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)s.u);
            break;
        case K_DBL:
            return fmt_double(x, s.d);
        default:
            return no_overload(x, "string", &s, NULL);
        }
        size_t l = strlen(tmp);
        char *b = text_reserve(x, l);
        if (!b)
            return v_err(x, "string too long");
        memcpy(b, tmp, l);
        return v_str(b, l);
    }
    case FN_INT:
    case FN_UINT: {
        bool u = n->op == FN_UINT;
        const char *fn = u ? "uint" : "int";
        if (s.k == K_INT) {
            if (u && s.i < 0)
                return v_err(x, "uint(): %lld out of range", (long long)s.i);
            return u ? (val_t){.k = K_UINT, .u = (uint64_t)s.i} : s;
        }
        if (s.k == K_UINT) {
            if (!u && s.u > (uint64_t)INT64_MAX)
                return v_err(x, "int(): %llu out of range", (unsigned long long)s.u);
            return u ? s : v_int((int64_t)s.u);
        }
        if (s.k == K_DBL) {
            double d = trunc(s.d);
            if (isnan(d) || (u ? (d < 0 || d >= 18446744073709551616.0)
                               : (d < -9223372036854775808.0 || d >= 9223372036854775808.0)))
                return v_err(x, "%s(): %g out of range", fn, s.d);
            return u ? (val_t){.k = K_UINT, .u = (uint64_t)d} : v_int((int64_t)d);
        }
        if (s.k == K_STR) {
            const char *c = cstr(x, &s);
            char *end = NULL;
            errno = 0;
            if (c && *c && !isspace((unsigned char)*c) && !(u && *c == '-')) {
                if (u) {
                    unsigned long long v = strtoull(c, &end, 10);
                    if (!errno && !*end)
                        return (val_t){.k = K_UINT, .u = v};
                } else {
                    long long v = strtoll(c, &end, 10);
                    if (!errno && !*end)
                        return v_int(v);
                }
            }
            return v_err(x, "%s(): \"%.*s\" is not a number", fn, (int)(s.n > 64 ? 64 : s.n), s.s);
        }
        return no_overload(x, fn, &s, NULL);
    }
    case FN_DOUBLE: {
        if (s.k == K_DBL)
            return s;
        if (s.k == K_INT)
            return (val_t){.k = K_DBL, .d = (double)s.i};
        if (s.k == K_UINT)
            return (val_t){.k = K_DBL, .d = (double)s.u};
        if (s.k == K_STR) {
            const char *c = cstr(x, &s);
            char *end = NULL;
            if (c && *c && !isspace((unsigned char)*c)) {
                double d = strtod(c, &end);
                if (!*end)
                    return (val_t){.k = K_DBL, .d = d};
            }
            return v_err(x, "double(): \"%.*s\" is not a number", (int)(s.n > 64 ? 64 : s.n), s.s);
        }
        return no_overload(x, "double", &s, NULL);
    }
    default:
        return v_err(x, "function '%s' is not supported by this proxy", n->name);
    }
}

/* exists / all / exists_one over a list's elements or a map's keys. */
static val_t eval_comp(ectx_t *x, const node_t *n)
{
    val_t r = eval(x, n->a);
    if (r.k == K_ERR)
        return r;
    bool list = is_list(&r);
    if (!list && (!is_map(&r) || r.k == K_OBJ))
        return v_err(x, "cannot iterate over a %s",
                     r.k == K_OBJ ? "request variable" : kind_name(&r));
    if (x->nbind >= MAX_BINDS)
        return v_err(x, "too many nested comprehensions");
    size_t count = list ? list_len(&r) : map_len(x, &r), hits = 0;
    val_t first_err = {.k = K_NULL};
    void *it = NULL;
    int slot = x->nbind++;
    x->bind[slot].name = n->name;
    val_t out = {.k = K_NULL};
    bool decided = false;
    for (size_t i = 0; i < count && !decided; i++) {
        val_t el;
        if (list)
            el = list_at(&r, i);
        else if (!map_key_at(&r, i, &it, &el))
            break;
        x->bind[slot].v = el;
        size_t mv = x->nv, mt = x->nt;
        val_t p = eval(x, n->b);
        if (p.k != K_BOOL && p.k != K_ERR)
            p = v_err(x, "%s(): the predicate gave a %s, not a bool",
                      n->op == FN_ALL      ? "all"
                      : n->op == FN_EXISTS ? "exists"
                                           : "exists_one",
                      kind_name(&p));
        if (p.k == K_ERR) {
            if (first_err.k != K_ERR)
                first_err = p; /* keep its message: scratch not released */
            continue;
        }
        x->nv = mv;
        x->nt = mt;
        if (n->op == FN_EXISTS && p.b) {
            out = v_bool(true);
            decided = true;
        } else if (n->op == FN_ALL && !p.b) {
            out = v_bool(false);
            decided = true;
        } else if (n->op == FN_EXISTS_ONE && p.b)
            hits++;
    }
    x->nbind--;
    if (decided)
        return out;
    if (first_err.k == K_ERR)
        return first_err;
    if (n->op == FN_EXISTS_ONE)
        return v_bool(hits == 1);
    return v_bool(n->op == FN_ALL);
}

static val_t eval_ident(ectx_t *x, const node_t *n)
{
    for (int i = x->nbind - 1; i >= 0; i--)
        if (!strcmp(x->bind[i].name, n->name))
            return x->bind[i].v;
    const proxy_cel_activation_t *a = x->a;
    if (!strcmp(n->name, "request") && a->has_request)
        return v_obj(OBJ_REQUEST);
    if (!strcmp(n->name, "source") && a->source_address)
        return v_obj(OBJ_SOURCE);
    if (!strcmp(n->name, "jwt") && a->jwt)
        return from_json(a->jwt);
    if (!strcmp(n->name, "basicAuth") && a->basic_user)
        return v_obj(OBJ_BASIC);
    if (!strcmp(n->name, "apiKey") && a->api_key)
        return v_obj(OBJ_APIKEY);
    return v_err(x, "no such variable '%s'", n->name);
}

static val_t eval(ectx_t *x, int32_t i)
{
    const node_t *n = &x->e->nodes[i];
    switch (n->kind) {
    case N_LIT:
        return n->lit;
    case N_IDENT:
        return eval_ident(x, n);
    case N_SELECT:
    case N_HAS: {
        val_t a = eval(x, n->a);
        if (a.k == K_ERR)
            return a;
        if (!is_map(&a))
            return v_err(x, "a %s has no field '%s'", kind_name(&a), n->name);
        val_t key = v_str(n->name, strlen(n->name)), out;
        int r = map_get(x, &a, &key, &out);
        if (n->kind == N_HAS)
            return r < 0 ? out : v_bool(r == 1);
        if (r == 0)
            return v_err(x, "no such key '%s'", n->name);
        return out;
    }
    case N_INDEX: {
        val_t a = eval(x, n->a);
        if (a.k == K_ERR)
            return a;
        val_t b = eval(x, n->b);
        if (b.k == K_ERR)
            return b;
        if (is_list(&a)) {
            int64_t idx;
            if (b.k == K_INT)
                idx = b.i;
            else if (b.k == K_UINT && b.u <= (uint64_t)INT64_MAX)
                idx = (int64_t)b.u;
            else if (b.k == K_DBL && b.d == trunc(b.d) && fabs(b.d) < 9e18)
                idx = (int64_t)b.d;
            else
                return no_overload(x, "[]", &a, &b);
            if (idx < 0 || (uint64_t)idx >= list_len(&a))
                return v_err(x, "index %lld out of range", (long long)idx);
            return list_at(&a, (size_t)idx);
        }
        if (is_map(&a)) {
            val_t out;
            int r = map_get(x, &a, &b, &out);
            if (r == 0) {
                if (b.k == K_STR)
                    return v_err(x, "no such key '%.*s'", (int)(b.n > 64 ? 64 : b.n), b.s);
                return v_err(x, "no such key");
            }
            return out;
        }
        return no_overload(x, "[]", &a, &b);
    }
    case N_CALL:
        return eval_call(x, n);
    case N_COMP:
        return eval_comp(x, n);
    case N_LIST:
    case N_MAP: {
        const int32_t *argv = node_argv(x->e, n);
        val_t *l = vals_reserve(x, n->nargs);
        if (!l && n->nargs)
            return v_err(x, "list too long");
        for (uint32_t k = 0; k < n->nargs; k++) {
            l[k] = eval(x, argv[k]);
            if (l[k].k == K_ERR)
                return l[k];
            if (n->kind == N_MAP && !(k & 1) && l[k].k != K_STR && l[k].k != K_INT &&
                l[k].k != K_UINT && l[k].k != K_BOOL)
                return v_err(x, "a map key must be a string, int, uint or bool, not a %s",
                             kind_name(&l[k]));
        }
        if (n->kind == N_MAP)
            return (val_t){.k = K_MAP, .l = l, .n = n->nargs / 2};
        return (val_t){.k = K_LIST, .l = l, .n = n->nargs};
    }
    case N_NOT: {
        val_t a = eval(x, n->a);
        if (a.k == K_ERR)
            return a;
        return a.k == K_BOOL ? v_bool(!a.b) : no_overload(x, "!", &a, NULL);
    }
    case N_NEG: {
        val_t a = eval(x, n->a);
        if (a.k == K_ERR)
            return a;
        if (a.k == K_INT)
            return a.i == INT64_MIN ? v_err(x, "integer overflow") : v_int(-a.i);
        if (a.k == K_DBL)
            return (val_t){.k = K_DBL, .d = -a.d};
        return no_overload(x, "-", &a, NULL);
    }
    case N_BIN:
        return eval_bin(x, n);
    case N_AND:
    case N_OR: {
        /* commutative: a deciding operand (false for &&, true for ||) wins over errors */
        bool decide = n->kind == N_OR;
        const int32_t *argv = node_argv(x->e, n);
        val_t err = {.k = K_NULL};
        for (uint32_t k = 0; k < n->nargs; k++) {
            val_t a = eval(x, argv[k]);
            if (a.k == K_BOOL && a.b == decide)
                return a;
            if (a.k != K_BOOL && err.k != K_ERR)
                err = a.k == K_ERR ? a : no_overload(x, decide ? "||" : "&&", &a, NULL);
        }
        return err.k == K_ERR ? err : v_bool(!decide);
    }
    case N_COND: {
        val_t c = eval(x, n->a);
        if (c.k == K_ERR)
            return c;
        if (c.k != K_BOOL)
            return no_overload(x, "?:", &c, NULL);
        return eval(x, c.b ? n->b : n->c);
    }
    default:
        return v_err(x, "internal error: node kind %d", n->kind);
    }
}

proxy_cel_result_t proxy_cel_eval_bool(const proxy_cel_t *e, const proxy_cel_activation_t *a,
                                       char *why, size_t cap)
{
    ectx_t x;
    x.e = e;
    x.a = a;
    x.nv = x.nt = 0;
    x.nbind = 0;
    x.eqdepth = 0;
    val_t v = eval(&x, e->root);
    if (v.k == K_BOOL)
        return v.b ? PROXY_CEL_TRUE : PROXY_CEL_FALSE;
    if (why && cap && v.k == K_ERR)
        snprintf(why, cap, "%s", v.s);
    else if (why && cap)
        snprintf(why, cap, "the expression gives a %s, not a bool", kind_name(&v));
    return PROXY_CEL_ERROR;
}

/* Text output for tests and the fuzzer. */
typedef struct out {
    char *p;
    size_t n, cap;
} out_t;

static void put(out_t *o, const char *fmt, ...)
{
    if (o->n + 1 >= o->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if (w > 0)
        o->n += (size_t)w < o->cap - o->n ? (size_t)w : o->cap - o->n - 1;
}

static void put_val(ectx_t *x, out_t *o, const val_t *v, int depth)
{
    if (depth > PROXY_CEL_MAX_DEPTH) {
        put(o, "...");
        return;
    }
    switch (v->k) {
    case K_ERR:
        put(o, "error: %s", v->s);
        break;
    case K_NULL:
        put(o, "null");
        break;
    case K_BOOL:
        put(o, v->b ? "true" : "false");
        break;
    case K_INT:
        put(o, "%lld", (long long)v->i);
        break;
    case K_UINT:
        put(o, "%lluu", (unsigned long long)v->u);
        break;
    case K_DBL:
        put(o, "%g", v->d);
        break;
    case K_STR:
        put(o, "\"");
        for (size_t i = 0; i < v->n; i++) {
            unsigned char c = (unsigned char)v->s[i];
            if (c == '"' || c == '\\')
                put(o, "\\%c", c);
            else if (c < 0x20 || c == 0x7F)
                put(o, "\\x%02x", c);
            else
                put(o, "%c", c);
        }
        put(o, "\"");
        break;
    case K_OBJ:
        put(o, "<%s>",
            v->obj == OBJ_REQUEST   ? "request"
            : v->obj == OBJ_HEADERS ? "request.headers"
            : v->obj == OBJ_SOURCE  ? "source"
            : v->obj == OBJ_BASIC   ? "basicAuth"
                                    : "apiKey");
        break;
    default:
        if (is_list(v)) {
            put(o, "[");
            for (size_t i = 0; i < list_len(v); i++) {
                val_t e = list_at(v, i);
                if (i)
                    put(o, ", ");
                put_val(x, o, &e, depth + 1);
            }
            put(o, "]");
        } else {
            put(o, "{");
            void *it = NULL;
            size_t n = map_len(x, v);
            for (size_t i = 0; i < n; i++) {
                val_t k, e;
                if (!map_key_at(v, i, &it, &k) || map_get(x, v, &k, &e) != 1)
                    break;
                if (i)
                    put(o, ", ");
                put_val(x, o, &k, depth + 1);
                put(o, ": ");
                put_val(x, o, &e, depth + 1);
            }
            put(o, "}");
        }
    }
}

size_t proxy_cel_eval_text(const proxy_cel_t *e, const proxy_cel_activation_t *a, char *out,
                           size_t cap)
{
    if (!cap)
        return 0;
    ectx_t x;
    x.e = e;
    x.a = a;
    x.nv = x.nt = 0;
    x.nbind = 0;
    x.eqdepth = 0;
    val_t v = eval(&x, e->root);
    out_t o = {out, 0, cap};
    out[0] = '\0';
    put_val(&x, &o, &v, 0);
    return o.n;
}
