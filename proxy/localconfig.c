/*
 * agentgateway's local config file → proxy change set (proxy/localconfig.h).
 *
 * Two passes. First, libyaml's event stream becomes a jansson tree, and every mapping key and
 * sequence item is remembered with its line, so the second pass can name "FILE:LINE: field path"
 * for any error without carrying marks through the tree. Second, the tree is walked against the
 * subset we implement: every object's keys are checked (an unknown key is an error, a known
 * agentgateway key we do not implement is a different error), and the IR messages are built as
 * the translator builds them (ir/pb.h's allocator), so the proxy serves the file exactly as it
 * would serve the same objects from xDS.
 *
 * Key decision: strict. A config file that says more than we can do is refused whole, never
 * partly applied: a silently dropped policy (authorization, TLS) is worse than a clear error.
 *
 * Keys of the objects produced (no Gateway: the objects are unscoped):
 *   Bind     "<port>"                        Listener "<port>.<listener name>"
 *   Route    "<namespace>/<name>[.<ruleName>]" (+ "@<listener key>" when attached to several)
 *   Backend  "<name>"
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "ir/backend.h"
#include "ir/bind.h"
#include "ir/listener.h"
#include "ir/pb.h"
#include "ir/policy.h"
#include "ir/route.h"
#include "proxy/localconfig.h"

#define MAX_DEPTH 64
#define MAX_NODES 1000000
#define PATH_CAP  512

typedef Agentgateway__Dev__Resource__Route route_pb_t;
typedef Agentgateway__Dev__Resource__RouteMatch match_pb_t;
typedef Agentgateway__Dev__Resource__RouteBackend rb_pb_t;
typedef Agentgateway__Dev__Resource__BackendReference ref_pb_t;
typedef Agentgateway__Dev__Resource__HeaderModifier hm_pb_t;
typedef Agentgateway__Dev__Resource__TrafficPolicySpec tps_pb_t;
typedef Agentgateway__Dev__Resource__BackendPolicySpec bps_pb_t;
typedef Google__Protobuf__Duration dur_pb_t;

struct proxy_localconfig {
    const ir_obj_t **objs;
    proxy_change_t *changes;
    size_t n;
};

/* Where a mapping value or sequence item was written. */
typedef struct mark {
    const json_t *parent;
    char *key;    /* mapping key, or NULL for a sequence item */
    size_t index; /* sequence index */
    int line;
} mark_t;

typedef struct lc {
    const char *file;
    char *err;
    size_t cap;
    bool failed, oom;
    mark_t *marks;
    size_t nmarks, cmarks, nodes;
    const ir_obj_t **objs;
    size_t nobjs, cobjs;
    size_t route_seq;
} lc_t;

/* ---- errors ---------------------------------------------------------------------------------- */

static int line_of(const lc_t *c, const json_t *parent, const char *key, size_t index)
{
    for (size_t i = 0; i < c->nmarks; i++) {
        const mark_t *m = &c->marks[i];
        if (m->parent != parent)
            continue;
        if (key ? (m->key && strcmp(m->key, key) == 0) : (!m->key && m->index == index))
            return m->line;
    }
    return 0;
}

/* Records the first error: "FILE:LINE: PATH[.KEY]: what". |parent| and |key| (or |index| when
 * key is NULL and parent an array) say where; a NULL parent means the whole file. */
static void fail(lc_t *c, const json_t *parent, const char *key, size_t index, const char *path,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void fail(lc_t *c, const json_t *parent, const char *key, size_t index, const char *path,
                 const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    int line = parent ? line_of(c, parent, key, index) : 0;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char field[PATH_CAP + 64] = "";
    if (key)
        snprintf(field, sizeof field, "%s%s%s", path, path[0] ? "." : "", key);
    else if (parent && json_is_array(parent))
        snprintf(field, sizeof field, "%s[%zu]", path, index);
    else
        snprintf(field, sizeof field, "%s", path);
    char lbuf[24] = "";
    if (line > 0)
        snprintf(lbuf, sizeof lbuf, ":%d", line);
    snprintf(c->err, c->cap, "%s%s: %s%s%s", c->file, lbuf, field, field[0] ? ": " : "", what);
}

static void *need(lc_t *c, void *p)
{
    if (!p && !c->oom) {
        c->oom = true;
        c->failed = true;
        snprintf(c->err, c->cap, "%s: out of memory", c->file);
    }
    return p;
}

/* A field path into a PATH_CAP buffer (silently cut: it only labels errors). */
static void pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, PATH_CAP, fmt, ap);
    va_end(ap);
}

/* ---- YAML → JSON with marks ------------------------------------------------------------------ */

static void mark_add(lc_t *c, const json_t *parent, const char *key, size_t index, int line)
{
    if (c->nmarks == c->cmarks) {
        size_t nc = c->cmarks ? c->cmarks * 2 : 256;
        mark_t *nm = need(c, realloc(c->marks, nc * sizeof *nm));
        if (!nm)
            return;
        c->marks = nm;
        c->cmarks = nc;
    }
    char *k = key ? need(c, strdup(key)) : NULL;
    if (key && !k)
        return;
    c->marks[c->nmarks++] = (mark_t){parent, k, index, line};
}

static json_t *scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(v, len);
    if (len == 0 || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
        !strcmp(v, "NULL"))
        return json_null();
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        return json_true();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        return json_false();
    if (strlen(v) == len) { /* numbers: decimal integers, then plain decimals */
        char *end;
        errno = 0;
        long long i = strtoll(v, &end, 10);
        if (*end == '\0' && errno == 0 && (isdigit((unsigned char)v[0]) || v[0] == '-'))
            return json_integer(i);
        double d = strtod(v, &end);
        if (*end == '\0' && (isdigit((unsigned char)v[0]) || v[0] == '-' || v[0] == '.') &&
            !strpbrk(v, "xXnN"))
            return json_real(d);
    }
    return json_stringn(v, len);
}

static void yaml_error(lc_t *c, const yaml_parser_t *p)
{
    if (c->failed)
        return;
    c->failed = true;
    snprintf(c->err, c->cap, "%s:%zu: not valid YAML or JSON: %s%s%s", c->file,
             (p->problem_mark.line ? p->problem_mark.line : p->context_mark.line) + 1,
             p->problem ? p->problem : "syntax error", p->context ? " " : "",
             p->context ? p->context : "");
}

/* Builds the node that starts with |ev| (consumed). Returns: new reference, or NULL (c->failed). */
static json_t *load_node(lc_t *c, yaml_parser_t *p, yaml_event_t *ev, int depth)
{
    int line = (int)ev->start_mark.line + 1;
    if (++c->nodes > MAX_NODES) {
        fail(c, NULL, NULL, 0, "", "more than %d values (line %d)", MAX_NODES, line);
        return NULL;
    }
    if (depth > MAX_DEPTH) {
        fail(c, NULL, NULL, 0, "", "nested deeper than %d levels (line %d)", MAX_DEPTH, line);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        json_t *v = scalar(ev);
        if (!v) /* jansson refuses strings that are not UTF-8 (a "\uD800" escape, say) */
            fail(c, NULL, NULL, 0, "", "line %d: a value that is not valid UTF-8", line);
        return v;
    }
    case YAML_ALIAS_EVENT:
        fail(c, NULL, NULL, 0, "", "line %d: YAML aliases (*name) are not supported", line);
        return NULL;
    case YAML_SEQUENCE_START_EVENT: {
        json_t *arr = need(c, json_array());
        for (size_t i = 0; arr;) {
            yaml_event_t e;
            if (!yaml_parser_parse(p, &e)) {
                yaml_error(c, p);
                break;
            }
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                return arr;
            }
            mark_add(c, arr, NULL, i++, (int)e.start_mark.line + 1);
            json_t *v = load_node(c, p, &e, depth + 1);
            yaml_event_delete(&e);
            if (!v || need(c, json_array_append_new(arr, v) == 0 ? arr : NULL) == NULL)
                break;
        }
        json_decref(arr);
        return NULL;
    }
    case YAML_MAPPING_START_EVENT: {
        json_t *obj = need(c, json_object());
        while (obj) {
            yaml_event_t k;
            if (!yaml_parser_parse(p, &k)) {
                yaml_error(c, p);
                break;
            }
            if (k.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&k);
                return obj;
            }
            int kl = (int)k.start_mark.line + 1;
            if (k.type != YAML_SCALAR_EVENT ||
                memchr(k.data.scalar.value, 0, k.data.scalar.length)) {
                yaml_event_delete(&k);
                fail(c, NULL, NULL, 0, "", "line %d: mapping keys must be plain strings", kl);
                break;
            }
            char *key = need(c, strdup((const char *)k.data.scalar.value));
            yaml_event_delete(&k);
            if (!key)
                break;
            if (json_object_get(obj, key)) {
                fail(c, NULL, NULL, 0, "", "line %d: key '%s' appears twice", kl, key);
                free(key);
                break;
            }
            mark_add(c, obj, key, 0, kl);
            yaml_event_t v;
            json_t *val = NULL;
            if (!yaml_parser_parse(p, &v)) {
                yaml_error(c, p);
            } else {
                val = load_node(c, p, &v, depth + 1);
                yaml_event_delete(&v);
            }
            int rc = val ? json_object_set_new(obj, key, val) : -1;
            free(key);
            if (rc != 0) {
                if (val)
                    need(c, NULL);
                break;
            }
        }
        json_decref(obj);
        return NULL;
    }
    default:
        fail(c, NULL, NULL, 0, "", "line %d: unexpected YAML event", line);
        return NULL;
    }
}

static json_t *load(lc_t *c, const char *text, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        need(c, NULL);
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    json_t *root = NULL;
    int docs = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            yaml_error(c, &p);
            break;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            fail(c, NULL, NULL, 0, "", "line %zu: one YAML document expected, found a second",
                 ev.start_mark.line + 1);
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT ||
            t == YAML_MAPPING_START_EVENT || t == YAML_ALIAS_EVENT) {
            root = load_node(c, &p, &ev, 0);
            if (!root) {
                yaml_event_delete(&ev);
                break;
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (c->failed) {
        json_decref(root);
        return NULL;
    }
    if (!root || json_is_null(root)) {
        json_decref(root);
        return need(c, json_object()); /* an empty file is an empty config */
    }
    if (!json_is_object(root)) {
        fail(c, NULL, NULL, 0, "",
             "the top level must be a mapping (binds, gateways, routes, ...)");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- typed access --------------------------------------------------------------------------- */

static bool in_list(const char *k, const char *const *list)
{
    for (; list && *list; list++)
        if (!strcmp(k, *list))
            return true;
    return false;
}

/* Every key of |obj| must be in |allowed|; a key in |later| is agentgateway's but not ours. */
static bool keys_ok(lc_t *c, const json_t *obj, const char *path, const char *const *allowed,
                    const char *const *later)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (in_list(k, allowed))
            continue;
        if (in_list(k, later))
            fail(c, obj, k, 0, path, "not supported by krtgate (refused rather than ignored)");
        else
            fail(c, obj, k, 0, path, "unknown field");
        return false;
    }
    return true;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* The member |key| of |obj| if it has type |t| (absent or null: NULL without error). */
static json_t *member(lc_t *c, const json_t *obj, const char *key, const char *path, json_type t)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    bool ok = json_typeof(v) == t || (t == JSON_REAL && json_is_integer(v));
    if (!ok) {
        const char *want = t == JSON_OBJECT   ? "a mapping"
                           : t == JSON_ARRAY  ? "a list"
                           : t == JSON_STRING ? "a string"
                           : t == JSON_TRUE   ? "a boolean"
                                              : "a number";
        fail(c, obj, key, 0, path, "must be %s, not %s", want, type_name(v));
        return NULL;
    }
    return v;
}

static const char *str(lc_t *c, const json_t *obj, const char *key, const char *path)
{
    json_t *v = member(c, obj, key, path, JSON_STRING);
    if (v && memchr(json_string_value(v), 0, json_string_length(v))) {
        fail(c, obj, key, 0, path, "must not contain NUL bytes");
        return NULL;
    }
    return v ? json_string_value(v) : NULL;
}

static bool boolean(lc_t *c, const json_t *obj, const char *key, const char *path)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return false;
    if (!json_is_boolean(v)) {
        fail(c, obj, key, 0, path, "must be true or false, not %s", type_name(v));
        return false;
    }
    return json_is_true(v);
}

/* An integer in [lo, hi]; |dflt| when absent. */
static long long integer(lc_t *c, const json_t *obj, const char *key, const char *path,
                         long long lo, long long hi, long long dflt)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return dflt;
    if (!json_is_integer(v)) {
        fail(c, obj, key, 0, path, "must be an integer, not %s", type_name(v));
        return dflt;
    }
    long long i = json_integer_value(v);
    if (i < lo || i > hi) {
        fail(c, obj, key, 0, path, "%lld is out of range [%lld, %lld]", i, lo, hi);
        return dflt;
    }
    return i;
}

/* ---- protobuf building ---------------------------------------------------------------------- */

/* One constructor per message type: zeroed memory from ir/pb.h's allocator, then the generated
 * init (defaults, descriptor). NEW(c, T, init) calls the one for T. */
#define DEF_NEW(T, init)                        \
    static T *new_##init(lc_t *c)               \
    {                                           \
        T *x = need(c, ir_pb_alloc(sizeof(T))); \
        if (x)                                  \
            init(x);                            \
        return x;                               \
    }
#define NEW(c, T, init) new_##init(c)
DEF_NEW(Agentgateway__Dev__Resource__Backend, agentgateway__dev__resource__backend__init)
DEF_NEW(Agentgateway__Dev__Resource__BackendReference__Inline,
        agentgateway__dev__resource__backend_reference__inline__init)
DEF_NEW(Agentgateway__Dev__Resource__BackendReference__Service,
        agentgateway__dev__resource__backend_reference__service__init)
DEF_NEW(Agentgateway__Dev__Resource__Bind, agentgateway__dev__resource__bind__init)
DEF_NEW(Agentgateway__Dev__Resource__CORS, agentgateway__dev__resource__cors__init)
DEF_NEW(Agentgateway__Dev__Resource__DirectResponse,
        agentgateway__dev__resource__direct_response__init)
DEF_NEW(Agentgateway__Dev__Resource__Header, agentgateway__dev__resource__header__init)
DEF_NEW(Agentgateway__Dev__Resource__Listener, agentgateway__dev__resource__listener__init)
DEF_NEW(Agentgateway__Dev__Resource__ListenerName, agentgateway__dev__resource__listener_name__init)
DEF_NEW(Agentgateway__Dev__Resource__MethodMatch, agentgateway__dev__resource__method_match__init)
DEF_NEW(Agentgateway__Dev__Resource__PathMatch, agentgateway__dev__resource__path_match__init)
DEF_NEW(Agentgateway__Dev__Resource__RequestMirrors,
        agentgateway__dev__resource__request_mirrors__init)
DEF_NEW(Agentgateway__Dev__Resource__RequestMirrors__Mirror,
        agentgateway__dev__resource__request_mirrors__mirror__init)
DEF_NEW(Agentgateway__Dev__Resource__RequestRedirect,
        agentgateway__dev__resource__request_redirect__init)
DEF_NEW(Agentgateway__Dev__Resource__ResourceName, agentgateway__dev__resource__resource_name__init)
DEF_NEW(Agentgateway__Dev__Resource__Retry, agentgateway__dev__resource__retry__init)
DEF_NEW(Agentgateway__Dev__Resource__RouteName, agentgateway__dev__resource__route_name__init)
DEF_NEW(Agentgateway__Dev__Resource__StaticBackend,
        agentgateway__dev__resource__static_backend__init)
DEF_NEW(Agentgateway__Dev__Resource__Timeout, agentgateway__dev__resource__timeout__init)
DEF_NEW(bps_pb_t, agentgateway__dev__resource__backend_policy_spec__init)
DEF_NEW(dur_pb_t, google__protobuf__duration__init)
DEF_NEW(hm_pb_t, agentgateway__dev__resource__header_modifier__init)
DEF_NEW(match_pb_t, agentgateway__dev__resource__route_match__init)
DEF_NEW(rb_pb_t, agentgateway__dev__resource__route_backend__init)
DEF_NEW(ref_pb_t, agentgateway__dev__resource__backend_reference__init)
DEF_NEW(route_pb_t, agentgateway__dev__resource__route__init)
DEF_NEW(tps_pb_t, agentgateway__dev__resource__traffic_policy_spec__init)
DEF_NEW(Agentgateway__Dev__Resource__HeaderMatch, agentgateway__dev__resource__header_match__init)
DEF_NEW(Agentgateway__Dev__Resource__QueryMatch, agentgateway__dev__resource__query_match__init)
DEF_NEW(Agentgateway__Dev__Resource__UrlRewrite, agentgateway__dev__resource__url_rewrite__init)

static char *pstr(lc_t *c, const char *s)
{
    return need(c, ir_pb_strdup(s ? s : ""));
}

/* Appends |item| (not NULL) to a protobuf repeated field. On OOM frees nothing: the caller frees
 * |item| with its tree. Returns: false on OOM. */
static bool push(lc_t *c, void **arr, size_t *n, const void *item, size_t elem)
{
    char *na = need(c, ir_pb_alloc((*n + 1) * elem));
    if (!na)
        return false;
    if (*n)
        memcpy(na, *arr, *n * elem);
    memcpy(na + *n * elem, item, elem);
    krt_free(*arr);
    *arr = na;
    (*n)++;
    return true;
}
#define PUSH(c, arr, n, item) push((c), (void **)&(arr), &(n), &(item), sizeof(item))

static void pb_free(void *m)
{
    ir_pb_free((ProtobufCMessage *)m);
}

/* "10s", "1.5s", "250ms", "2m", "1h", "100us" or an integer number of seconds. */
static dur_pb_t *duration(lc_t *c, const json_t *obj, const char *key, const char *path)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    double secs = -1;
    if (json_is_integer(v)) {
        secs = (double)json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        static const struct {
            const char *unit;
            double mult;
        } units[] = {{"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}, {"s", 1}, {"m", 60}, {"h", 3600}};
        if (end != s && errno == 0 && isdigit((unsigned char)s[0]))
            for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
                if (!strcmp(end, units[i].unit))
                    secs = d * units[i].mult;
    }
    if (secs < 0 || secs > 315576000000.0) {
        fail(c, obj, key, 0, path, "must be a duration like \"10s\", \"250ms\" or \"1m\"");
        return NULL;
    }
    dur_pb_t *d = NEW(c, dur_pb_t, google__protobuf__duration__init);
    if (d) {
        d->seconds = (int64_t)secs;
        d->nanos = (int32_t)((secs - (double)d->seconds) * 1e9 + 0.5);
        if (d->nanos >= 1000000000) {
            d->seconds++;
            d->nanos -= 1000000000;
        }
    }
    return d;
}

/* "host:port" or "[v6]:port" into |host| (cap bytes) and |port|. */
static bool host_port(lc_t *c, const json_t *obj, const char *key, const char *path, char *host,
                      size_t cap, uint32_t *port)
{
    const char *s = str(c, obj, key, path);
    if (!s)
        return false;
    const char *colon = strrchr(s, ':');
    char *end;
    long p = colon ? strtol(colon + 1, &end, 10) : -1;
    size_t hl = colon ? (size_t)(colon - s) : 0;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (!colon || hl == 0 || hl >= cap || !colon[1] || *end || p <= 0 || p > 65535) {
        fail(c, obj, key, 0, path, "must be HOST:PORT, not \"%s\"",
             json_string_value(json_object_get(obj, key)));
        return false;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (uint32_t)p;
    return true;
}

/* {add, set, remove}: add/set as a mapping name → value or a list of {name, value}. */
static bool headers_into(lc_t *c, const json_t *obj, const char *key, const char *path,
                         Agentgateway__Dev__Resource__Header ***arr, size_t *n)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return true;
    char p[PATH_CAP];
    pathf(p, "%s.%s", path, key);
    if (json_is_object(v)) {
        const char *name;
        json_t *val;
        json_object_foreach(v, name, val)
        {
            const char *s = str(c, v, name, p);
            if (!s)
                return c->failed ? false : (fail(c, v, name, 0, p, "must be a string"), false);
            Agentgateway__Dev__Resource__Header *h = NEW(c, Agentgateway__Dev__Resource__Header,
                                                         agentgateway__dev__resource__header__init);
            if (!h || !(h->name = pstr(c, name)) || !(h->value = pstr(c, s)) ||
                !PUSH(c, *arr, *n, h)) {
                pb_free(h);
                return false;
            }
        }
        return true;
    }
    if (!json_is_array(v)) {
        fail(c, obj, key, 0, path,
             "must be a mapping of header names to values, or a list of "
             "{name, value}");
        return false;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char ep[PATH_CAP];
        pathf(ep, "%s[%zu]", p, i);
        static const char *const k[] = {"name", "value", NULL};
        if (!json_is_object(e)) {
            fail(c, v, NULL, i, p, "must be {name, value}");
            return false;
        }
        if (!keys_ok(c, e, ep, k, NULL))
            return false;
        const char *name = str(c, e, "name", ep), *val = str(c, e, "value", ep);
        if (!name || !val) {
            fail(c, v, NULL, i, p, "needs a name and a value");
            return false;
        }
        Agentgateway__Dev__Resource__Header *h =
            NEW(c, Agentgateway__Dev__Resource__Header, agentgateway__dev__resource__header__init);
        if (!h || !(h->name = pstr(c, name)) || !(h->value = pstr(c, val)) ||
            !PUSH(c, *arr, *n, h)) {
            pb_free(h);
            return false;
        }
    }
    return true;
}

static hm_pb_t *header_modifier(lc_t *c, const json_t *obj, const char *path)
{
    static const char *const k[] = {"add", "set", "remove", NULL};
    if (!keys_ok(c, obj, path, k, NULL))
        return NULL;
    hm_pb_t *m = NEW(c, hm_pb_t, agentgateway__dev__resource__header_modifier__init);
    if (!m || !headers_into(c, obj, "add", path, &m->add, &m->n_add) ||
        !headers_into(c, obj, "set", path, &m->set, &m->n_set)) {
        pb_free(m);
        return NULL;
    }
    json_t *rm = member(c, obj, "remove", path, JSON_ARRAY);
    size_t i;
    json_t *e;
    json_array_foreach(rm, i, e)
    {
        char *s = json_is_string(e) ? pstr(c, json_string_value(e)) : NULL;
        if (!json_is_string(e)) {
            char p[PATH_CAP];
            pathf(p, "%s.remove", path);
            fail(c, rm, NULL, i, p, "must be a header name");
        }
        if (!s || !PUSH(c, m->remove, m->n_remove, s)) {
            krt_free(s);
            pb_free(m);
            return NULL;
        }
    }
    if (c->failed) {
        pb_free(m);
        return NULL;
    }
    return m;
}

static bool strings_into(lc_t *c, const json_t *obj, const char *key, const char *path, char ***arr,
                         size_t *n)
{
    json_t *a = member(c, obj, key, path, JSON_ARRAY);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        if (!json_is_string(e)) {
            char p[PATH_CAP];
            pathf(p, "%s.%s", path, key);
            fail(c, a, NULL, i, p, "must be a string");
            return false;
        }
        char *s = pstr(c, json_string_value(e));
        if (!s || !PUSH(c, *arr, *n, s)) {
            krt_free(s);
            return false;
        }
    }
    return !c->failed;
}

/* A backend reference: {host: "h:p"} | {service: {name: "ns/host" | {namespace, hostname},
 * port}} | {backend: NAME}. |extra| are further keys the caller handles (weight, policies). */
static ref_pb_t *backend_ref(lc_t *c, const json_t *obj, const char *path, const char *const *extra)
{
    static const char *const later[] = {"mcp", "ai", "dynamic", "internal", "aws", NULL};
    const char *allowed[8] = {"host", "service", "backend"};
    size_t na = 3;
    for (; extra && *extra && na < 7; extra++)
        allowed[na++] = *extra;
    allowed[na] = NULL;
    if (!keys_ok(c, obj, path, allowed, later))
        return NULL;
    int kinds = !!json_object_get(obj, "host") + !!json_object_get(obj, "service") +
                !!json_object_get(obj, "backend");
    if (kinds != 1) {
        fail(c, NULL, NULL, 0, path, "needs exactly one of host, service, backend (line %d)",
             line_of(c, obj, NULL, 0));
        return NULL;
    }
    ref_pb_t *r = NEW(c, ref_pb_t, agentgateway__dev__resource__backend_reference__init);
    if (!r)
        return NULL;
    char host[256];
    uint32_t port;
    if (json_object_get(obj, "host")) {
        if (!host_port(c, obj, "host", path, host, sizeof host, &port))
            goto bad;
        r->inline_ = NEW(c, Agentgateway__Dev__Resource__BackendReference__Inline,
                         agentgateway__dev__resource__backend_reference__inline__init);
        if (!r->inline_)
            goto bad;
        r->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_INLINE;
        r->inline_->port = port;
        r->port = port;
        if (!(r->inline_->hostname = pstr(c, host)))
            goto bad;
    } else if (json_object_get(obj, "backend")) {
        const char *b = str(c, obj, "backend", path);
        if (!b)
            goto bad;
        r->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND;
        if (!(r->backend = pstr(c, b)))
            goto bad;
    } else {
        char sp[PATH_CAP];
        pathf(sp, "%s.service", path);
        json_t *s = member(c, obj, "service", path, JSON_OBJECT);
        static const char *const sk[] = {"name", "port", NULL};
        if (!s || !keys_ok(c, s, sp, sk, NULL))
            goto bad;
        json_t *name = json_object_get(s, "name");
        char ns[256] = "", hn[256] = "";
        if (json_is_string(name)) {
            const char *v = json_string_value(name), *slash = strchr(v, '/');
            if (!slash || slash == v || !slash[1] || (size_t)(slash - v) >= sizeof ns ||
                strlen(slash + 1) >= sizeof hn) {
                fail(c, s, "name", 0, sp, "must be NAMESPACE/HOSTNAME, not \"%s\"", v);
                goto bad;
            }
            snprintf(ns, sizeof ns, "%.*s", (int)(slash - v), v);
            snprintf(hn, sizeof hn, "%s", slash + 1);
        } else if (json_is_object(name)) {
            char np[PATH_CAP];
            pathf(np, "%s.name", sp);
            static const char *const nk[] = {"namespace", "hostname", NULL};
            if (!keys_ok(c, name, np, nk, NULL))
                goto bad;
            const char *a = str(c, name, "namespace", np), *h = str(c, name, "hostname", np);
            if (!a || !h || strlen(a) >= sizeof ns || strlen(h) >= sizeof hn) {
                fail(c, s, "name", 0, sp, "needs a namespace and a hostname");
                goto bad;
            }
            snprintf(ns, sizeof ns, "%s", a);
            snprintf(hn, sizeof hn, "%s", h);
        } else {
            fail(c, s, "name", 0, sp, "must be NAMESPACE/HOSTNAME or {namespace, hostname}");
            goto bad;
        }
        long long p = integer(c, s, "port", sp, 1, 65535, 0);
        if (c->failed)
            goto bad;
        if (!p) {
            fail(c, obj, "service", 0, path, "needs a port");
            goto bad;
        }
        r->service = NEW(c, Agentgateway__Dev__Resource__BackendReference__Service,
                         agentgateway__dev__resource__backend_reference__service__init);
        if (!r->service)
            goto bad;
        r->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_SERVICE;
        r->port = (uint32_t)p;
        if (!(r->service->namespace_ = pstr(c, ns)) || !(r->service->hostname = pstr(c, hn)))
            goto bad;
    }
    return r;
bad:
    pb_free(r);
    return NULL;
}

/* {scheme, authority: {full|host|port}, path: {full|prefix}, status} (redirect) or
 * {authority, path} (rewrite). */
static bool authority_path(lc_t *c, const json_t *obj, const char *path, char **host,
                           uint32_t *port, bool allow_port, int *path_kind, char **full,
                           char **prefix)
{
    char ap[PATH_CAP];
    json_t *a = member(c, obj, "authority", path, JSON_OBJECT);
    if (a) {
        pathf(ap, "%s.authority", path);
        static const char *const k1[] = {"full", "host", "port", NULL};
        static const char *const k2[] = {"full", "host", NULL};
        if (!keys_ok(c, a, ap, allow_port ? k1 : k2,
                     allow_port ? NULL : (const char *const[]){"port", NULL}))
            return false;
        if (json_object_size(a) != 1) {
            fail(c, obj, "authority", 0, path, "needs exactly one of full, host%s",
                 allow_port ? ", port" : "");
            return false;
        }
        if (json_object_get(a, "full")) {
            char h[256];
            uint32_t p;
            if (allow_port) {
                if (!host_port(c, a, "full", ap, h, sizeof h, &p))
                    return false;
                *port = p;
            } else {
                const char *s = str(c, a, "full", ap);
                if (!s || strlen(s) >= sizeof h)
                    return false;
                snprintf(h, sizeof h, "%s", s);
            }
            if (!(*host = pstr(c, h)))
                return false;
        } else if (json_object_get(a, "host")) {
            const char *s = str(c, a, "host", ap);
            if (!s || !(*host = pstr(c, s)))
                return false;
        } else {
            long long p = integer(c, a, "port", ap, 1, 65535, 0);
            if (c->failed)
                return false;
            *port = (uint32_t)p;
        }
    }
    json_t *pp = member(c, obj, "path", path, JSON_OBJECT);
    if (pp) {
        pathf(ap, "%s.path", path);
        static const char *const k[] = {"full", "prefix", NULL};
        if (!keys_ok(c, pp, ap, k, NULL))
            return false;
        if (json_object_size(pp) != 1) {
            fail(c, obj, "path", 0, path, "needs exactly one of full, prefix");
            return false;
        }
        const char *s = str(c, pp, json_object_get(pp, "full") ? "full" : "prefix", ap);
        if (!s)
            return false;
        if (json_object_get(pp, "full")) {
            *path_kind = 1;
            *full = pstr(c, s);
        } else {
            *path_kind = 2;
            *prefix = pstr(c, s);
        }
        if (!*full && !*prefix)
            return false;
    }
    return !c->failed;
}

static const char *const unsupported_policies[] = {"authorization",
                                                   "jwtAuth",
                                                   "oidc",
                                                   "basicAuth",
                                                   "apiKey",
                                                   "extAuthz",
                                                   "extProc",
                                                   "transformations",
                                                   "csrf",
                                                   "buffer",
                                                   "delay",
                                                   "localRateLimit",
                                                   "remoteRateLimit",
                                                   "backendTLS",
                                                   "backendAuth",
                                                   "backendTunnel",
                                                   "ai",
                                                   "a2a",
                                                   "mcpAuthorization",
                                                   "mcpAuthentication",
                                                   "mcpGuardrails",
                                                   NULL};

static bool add_tps(lc_t *c, route_pb_t *r, int kind, void *val)
{
    if (!val)
        return false;
    tps_pb_t *t = NEW(c, tps_pb_t, agentgateway__dev__resource__traffic_policy_spec__init);
    if (!t) {
        pb_free(val);
        return false;
    }
    t->kind_case = kind;
    t->timeout = val; /* every member of the union is a message pointer */
    if (!PUSH(c, r->traffic_policies, r->n_traffic_policies, t)) {
        pb_free(t);
        return false;
    }
    return true;
}

static bool route_policies(lc_t *c, route_pb_t *r, const json_t *pol, const char *path)
{
    static const char *const k[] = {"requestHeaderModifier",
                                    "responseHeaderModifier",
                                    "requestRedirect",
                                    "urlRewrite",
                                    "requestMirror",
                                    "directResponse",
                                    "cors",
                                    "timeout",
                                    "retry",
                                    NULL};
    if (!keys_ok(c, pol, path, k, unsupported_policies))
        return false;
    char p[PATH_CAP];
    json_t *v;
#define SUB(name) (pathf(p, "%s.%s", path, name), member(c, pol, name, path, JSON_OBJECT))
    if ((v = SUB("requestHeaderModifier")) &&
        !add_tps(c, r,
                 AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER,
                 header_modifier(c, v, p)))
        return false;
    if ((v = SUB("responseHeaderModifier")) &&
        !add_tps(c, r,
                 AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER,
                 header_modifier(c, v, p)))
        return false;
    if ((v = SUB("requestRedirect"))) {
        static const char *const rk[] = {"scheme", "authority", "path", "status", NULL};
        Agentgateway__Dev__Resource__RequestRedirect *x =
            NEW(c, Agentgateway__Dev__Resource__RequestRedirect,
                agentgateway__dev__resource__request_redirect__init);
        int kind = 0;
        char *full = NULL, *prefix = NULL, *host = NULL;
        const char *scheme = x && keys_ok(c, v, p, rk, NULL) ? str(c, v, "scheme", p) : NULL;
        bool ok = x && !c->failed &&
                  authority_path(c, v, p, &host, &x->port, true, &kind, &full, &prefix);
        long long st = ok ? integer(c, v, "status", p, 300, 399, 0) : 0;
        if (x && host)
            x->host = host;
        if (x && scheme && !(x->scheme = pstr(c, scheme)))
            ok = false;
        if (x) {
            x->status = (uint32_t)st;
            if (kind == 1) {
                x->path_case = AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__PATH_FULL;
                x->full = full;
            } else if (kind == 2) {
                x->path_case = AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__PATH_PREFIX;
                x->prefix = prefix;
            }
        } else {
            krt_free(host);
        }
        if (!ok || c->failed) {
            pb_free(x);
            return false;
        }
        if (!add_tps(c, r, AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_REDIRECT,
                     x))
            return false;
    }
    if ((v = SUB("urlRewrite"))) {
        static const char *const rk[] = {"authority", "path", NULL};
        Agentgateway__Dev__Resource__UrlRewrite *x =
            NEW(c, Agentgateway__Dev__Resource__UrlRewrite,
                agentgateway__dev__resource__url_rewrite__init);
        int kind = 0;
        char *full = NULL, *prefix = NULL, *host = NULL;
        uint32_t port = 0;
        bool ok = x && keys_ok(c, v, p, rk, NULL) &&
                  authority_path(c, v, p, &host, &port, false, &kind, &full, &prefix);
        if (x) {
            if (host)
                x->host = host;
            if (kind == 1) {
                x->path_case = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__PATH_FULL;
                x->full = full;
            } else if (kind == 2) {
                x->path_case = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__PATH_PREFIX;
                x->prefix = prefix;
            }
        }
        if (!ok) {
            pb_free(x);
            return false;
        }
        if (!add_tps(c, r, AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_URL_REWRITE, x))
            return false;
    }
    if ((v = SUB("requestMirror"))) {
        static const char *const mk[] = {"backend", "percentage", NULL};
        if (!keys_ok(c, v, p, mk, NULL))
            return false;
        char bp[PATH_CAP];
        pathf(bp, "%s.backend", p);
        json_t *b = member(c, v, "backend", p, JSON_OBJECT);
        if (!b) {
            if (!c->failed)
                fail(c, pol, "requestMirror", 0, path, "needs a backend");
            return false;
        }
        json_t *pct = member(c, v, "percentage", p, JSON_REAL);
        double pc = pct ? json_number_value(pct) : 100.0;
        if (pc < 0 || pc > 100) {
            fail(c, v, "percentage", 0, p, "must be within [0, 100]");
            return false;
        }
        Agentgateway__Dev__Resource__RequestMirrors *ms =
            NEW(c, Agentgateway__Dev__Resource__RequestMirrors,
                agentgateway__dev__resource__request_mirrors__init);
        Agentgateway__Dev__Resource__RequestMirrors__Mirror *m =
            NEW(c, Agentgateway__Dev__Resource__RequestMirrors__Mirror,
                agentgateway__dev__resource__request_mirrors__mirror__init);
        if (m) {
            m->percentage = pc;
            m->backend = backend_ref(c, b, bp, NULL);
        }
        if (!ms || !m || !m->backend || !PUSH(c, ms->mirrors, ms->n_mirrors, m)) {
            pb_free(m);
            pb_free(ms);
            return false;
        }
        if (!add_tps(c, r, AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_MIRROR,
                     ms))
            return false;
    }
    if ((v = SUB("directResponse"))) {
        static const char *const dk[] = {"status", "body", NULL};
        if (!keys_ok(c, v, p, dk, NULL))
            return false;
        long long st = integer(c, v, "status", p, 100, 599, 200);
        const char *body = str(c, v, "body", p);
        if (c->failed)
            return false;
        Agentgateway__Dev__Resource__DirectResponse *d =
            NEW(c, Agentgateway__Dev__Resource__DirectResponse,
                agentgateway__dev__resource__direct_response__init);
        if (!d)
            return false;
        d->status = (uint32_t)st;
        if (body && body[0]) {
            d->body.len = strlen(body);
            if (!(d->body.data = need(c, ir_pb_memdup(body, d->body.len)))) {
                d->body.len = 0;
                pb_free(d);
                return false;
            }
        }
        if (!add_tps(c, r, AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_DIRECT_RESPONSE,
                     d))
            return false;
    }
    if ((v = SUB("cors"))) {
        static const char *const ck[] = {"allowCredentials",
                                         "allowHeaders",
                                         "allowMethods",
                                         "allowOrigins",
                                         "exposeHeaders",
                                         "maxAge",
                                         NULL};
        if (!keys_ok(c, v, p, ck, NULL))
            return false;
        Agentgateway__Dev__Resource__CORS *x =
            NEW(c, Agentgateway__Dev__Resource__CORS, agentgateway__dev__resource__cors__init);
        if (!x)
            return false;
        x->allow_credentials = boolean(c, v, "allowCredentials", p);
        if (!strings_into(c, v, "allowHeaders", p, &x->allow_headers, &x->n_allow_headers) ||
            !strings_into(c, v, "allowMethods", p, &x->allow_methods, &x->n_allow_methods) ||
            !strings_into(c, v, "allowOrigins", p, &x->allow_origins, &x->n_allow_origins) ||
            !strings_into(c, v, "exposeHeaders", p, &x->expose_headers, &x->n_expose_headers)) {
            pb_free(x);
            return false;
        }
        x->max_age = duration(c, v, "maxAge", p);
        if (c->failed) {
            pb_free(x);
            return false;
        }
        if (!add_tps(c, r, AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_CORS, x))
            return false;
    }
    if ((v = SUB("timeout"))) {
        static const char *const tk[] = {"requestTimeout", "backendRequestTimeout", NULL};
        if (!keys_ok(c, v, p, tk, NULL))
            return false;
        Agentgateway__Dev__Resource__Timeout *x = NEW(c, Agentgateway__Dev__Resource__Timeout,
                                                      agentgateway__dev__resource__timeout__init);
        if (!x)
            return false;
        x->request = duration(c, v, "requestTimeout", p);
        x->backend_request = duration(c, v, "backendRequestTimeout", p);
        if (c->failed) {
            pb_free(x);
            return false;
        }
        if (!add_tps(c, r, AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_TIMEOUT, x))
            return false;
    }
    if ((v = SUB("retry"))) {
        static const char *const rk[] = {"attempts", "backoff", "codes", NULL};
        if (!keys_ok(c, v, p, rk, NULL))
            return false;
        Agentgateway__Dev__Resource__Retry *x =
            NEW(c, Agentgateway__Dev__Resource__Retry, agentgateway__dev__resource__retry__init);
        if (!x)
            return false;
        x->attempts = (int32_t)integer(c, v, "attempts", p, 0, 100, 1);
        x->backoff = duration(c, v, "backoff", p);
        char cp[PATH_CAP];
        pathf(cp, "%s.codes", p);
        json_t *codes = member(c, v, "codes", p, JSON_ARRAY);
        size_t i;
        json_t *e;
        json_array_foreach(codes, i, e)
        {
            if (!json_is_integer(e) || json_integer_value(e) < 100 || json_integer_value(e) > 599) {
                fail(c, codes, NULL, i, cp, "must be an HTTP status code");
                break;
            }
            int32_t code = (int32_t)json_integer_value(e);
            if (!push(c, (void **)&x->retry_status_codes, &x->n_retry_status_codes, &code,
                      sizeof code))
                break;
        }
        if (c->failed) {
            pb_free(x);
            return false;
        }
        if (!add_tps(c, r, AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_RETRY, x))
            return false;
    }
#undef SUB
    return !c->failed;
}

static bool route_backends(lc_t *c, route_pb_t *r, const json_t *arr, const char *path)
{
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b)
    {
        char bp[PATH_CAP];
        pathf(bp, "%s[%zu]", path, i);
        if (!json_is_object(b)) {
            fail(c, arr, NULL, i, path, "must be a mapping");
            return false;
        }
        static const char *const extra[] = {"weight", "policies", NULL};
        rb_pb_t *rb = NEW(c, rb_pb_t, agentgateway__dev__resource__route_backend__init);
        if (!rb)
            return false;
        rb->backend = backend_ref(c, b, bp, extra);
        rb->weight = (int32_t)integer(c, b, "weight", bp, 0, 1000000, 1);
        json_t *pol = member(c, b, "policies", bp, JSON_OBJECT);
        if (pol && !c->failed) {
            char pp[PATH_CAP];
            pathf(pp, "%s.policies", bp);
            static const char *const pk[] = {"requestHeaderModifier", "responseHeaderModifier",
                                             NULL};
            static const char *const later[] = {
                "backendTLS",        "backendAuth", "backendTunnel", "requestMirror",
                "requestRedirect",   "ai",          "a2a",           "mcpAuthorization",
                "mcpAuthentication", NULL};
            if (keys_ok(c, pol, pp, pk, later)) {
                for (int which = 0; which < 2 && !c->failed; which++) {
                    const char *name = which ? "responseHeaderModifier" : "requestHeaderModifier";
                    char hp[PATH_CAP];
                    pathf(hp, "%s.%s", pp, name);
                    json_t *hm = member(c, pol, name, pp, JSON_OBJECT);
                    if (!hm)
                        continue;
                    bps_pb_t *s =
                        NEW(c, bps_pb_t, agentgateway__dev__resource__backend_policy_spec__init);
                    hm_pb_t *m = s ? header_modifier(c, hm, hp) : NULL;
                    if (!s || !m) {
                        pb_free(s);
                        break;
                    }
                    s->kind_case =
                        which
                            ? AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER
                            : AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER;
                    s->request_header_modifier = m; /* same union slot for both */
                    if (!PUSH(c, rb->backend_policies, rb->n_backend_policies, s)) {
                        pb_free(s);
                        break;
                    }
                }
            }
        }
        if (c->failed || !rb->backend || !PUSH(c, r->backends, r->n_backends, rb)) {
            pb_free(rb);
            return false;
        }
    }
    return true;
}

/* One {name, value: {exact|regex}} header or query match. Returns false on error. */
static bool name_value(lc_t *c, const json_t *e, const char *path, char **name, int *kind,
                       char **exact, char **regex)
{
    static const char *const k[] = {"name", "value", NULL};
    if (!json_is_object(e)) {
        fail(c, NULL, NULL, 0, path, "must be {name, value: {exact|regex}}");
        return false;
    }
    if (!keys_ok(c, e, path, k, NULL))
        return false;
    const char *n = str(c, e, "name", path);
    json_t *v = member(c, e, "value", path, JSON_OBJECT);
    if (c->failed)
        return false;
    if (!n || !v) {
        fail(c, NULL, NULL, 0, path, "needs a name and a value (line %d)",
             line_of(c, e, "name", 0));
        return false;
    }
    char vp[PATH_CAP];
    pathf(vp, "%s.value", path);
    static const char *const vk[] = {"exact", "regex", NULL};
    if (!keys_ok(c, v, vp, vk, NULL))
        return false;
    if (json_object_size(v) != 1) {
        fail(c, e, "value", 0, path, "needs exactly one of exact, regex");
        return false;
    }
    bool is_exact = json_object_get(v, "exact") != NULL;
    const char *s = str(c, v, is_exact ? "exact" : "regex", vp);
    if (!s)
        return false;
    *kind = is_exact ? 2 : 3; /* HeaderMatch and QueryMatch share the numbering */
    if (!(*name = pstr(c, n)))
        return false;
    return (*(is_exact ? exact : regex) = pstr(c, s)) != NULL;
}

static match_pb_t *route_match(lc_t *c, const json_t *m, const char *path)
{
    static const char *const k[] = {"path", "headers", "method", "query", NULL};
    if (!keys_ok(c, m, path, k, NULL))
        return NULL;
    match_pb_t *x = NEW(c, match_pb_t, agentgateway__dev__resource__route_match__init);
    if (!x)
        return NULL;
    char p[PATH_CAP];
    json_t *pm = member(c, m, "path", path, JSON_OBJECT);
    if (pm) {
        pathf(p, "%s.path", path);
        static const char *const pk[] = {"exact", "pathPrefix", "regex", NULL};
        if (!keys_ok(c, pm, p, pk, NULL))
            goto bad;
        if (json_object_size(pm) != 1) {
            fail(c, m, "path", 0, path, "needs exactly one of exact, pathPrefix, regex");
            goto bad;
        }
        const char *which = json_object_get(pm, "exact")        ? "exact"
                            : json_object_get(pm, "pathPrefix") ? "pathPrefix"
                                                                : "regex";
        const char *s = str(c, pm, which, p);
        if (!s)
            goto bad;
        if (which[0] != 'r' && s[0] != '/') {
            fail(c, pm, which, 0, p, "must start with '/'");
            goto bad;
        }
        x->path = NEW(c, Agentgateway__Dev__Resource__PathMatch,
                      agentgateway__dev__resource__path_match__init);
        if (!x->path)
            goto bad;
        char *v = pstr(c, s);
        if (!v)
            goto bad;
        if (which[0] == 'e') {
            x->path->kind_case = AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_EXACT;
            x->path->exact = v;
        } else if (which[0] == 'p') {
            /* as the translator does: trim a trailing '/' except for "/" itself */
            size_t l = strlen(v);
            while (l > 1 && v[l - 1] == '/')
                v[--l] = '\0';
            x->path->kind_case = AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_PATH_PREFIX;
            x->path->path_prefix = v;
        } else {
            x->path->kind_case = AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_REGEX;
            x->path->regex = v;
        }
    }
    json_t *hs = member(c, m, "headers", path, JSON_ARRAY);
    size_t i;
    json_t *e;
    json_array_foreach(hs, i, e)
    {
        pathf(p, "%s.headers[%zu]", path, i);
        Agentgateway__Dev__Resource__HeaderMatch *h =
            NEW(c, Agentgateway__Dev__Resource__HeaderMatch,
                agentgateway__dev__resource__header_match__init);
        int kind = 0;
        char *ex = NULL, *re = NULL;
        bool ok = h && name_value(c, e, p, &h->name, &kind, &ex, &re);
        if (h) {
            h->value_case = kind;
            if (ex)
                h->exact = ex;
            else if (re)
                h->regex = re;
        }
        if (!ok || !PUSH(c, x->headers, x->n_headers, h)) {
            pb_free(h);
            goto bad;
        }
    }
    json_t *qs = member(c, m, "query", path, JSON_ARRAY);
    json_array_foreach(qs, i, e)
    {
        pathf(p, "%s.query[%zu]", path, i);
        Agentgateway__Dev__Resource__QueryMatch *q =
            NEW(c, Agentgateway__Dev__Resource__QueryMatch,
                agentgateway__dev__resource__query_match__init);
        int kind = 0;
        char *ex = NULL, *re = NULL;
        bool ok = q && name_value(c, e, p, &q->name, &kind, &ex, &re);
        if (q) {
            q->value_case = kind;
            if (ex)
                q->exact = ex;
            else if (re)
                q->regex = re;
        }
        if (!ok || !PUSH(c, x->query_params, x->n_query_params, q)) {
            pb_free(q);
            goto bad;
        }
    }
    const char *method = str(c, m, "method", path);
    if (method) {
        x->method = NEW(c, Agentgateway__Dev__Resource__MethodMatch,
                        agentgateway__dev__resource__method_match__init);
        if (!x->method || !(x->method->exact = pstr(c, method)))
            goto bad;
    }
    if (c->failed)
        goto bad;
    return x;
bad:
    pb_free(x);
    return NULL;
}

/* ---- objects -------------------------------------------------------------------------------- */

static bool emit(lc_t *c, const ir_obj_t *o, ir_err_t *ie, const char *what)
{
    if (!o) {
        if (ie->code == IR_ENOMEM)
            need(c, NULL);
        if (!c->failed) {
            c->failed = true;
            snprintf(c->err, c->cap, "%s: %s: %s", c->file, what, ie->msg);
        }
        return false;
    }
    if (c->nobjs == c->cobjs) {
        size_t nc = c->cobjs ? c->cobjs * 2 : 32;
        const ir_obj_t **no = need(c, realloc(c->objs, nc * sizeof *no));
        if (!no) {
            ir_obj_release(o);
            return false;
        }
        c->objs = no;
        c->cobjs = nc;
    }
    c->objs[c->nobjs++] = o;
    return true;
}

static bool key_taken(const lc_t *c, ir_kind_t kind, const char *name)
{
    for (size_t i = 0; i < c->nobjs; i++)
        if (ir_obj_kind(c->objs[i]) == kind && !strcmp(ir_obj_name(c->objs[i]), name))
            return true;
    return false;
}

/* Builds one Route per listener in |lkeys| from the route mapping |r|. */
static bool route(lc_t *c, const json_t *r, const char *path, const char *const *lkeys, size_t nl,
                  const char *const *extra)
{
    const char *allowed[12] = {"name",    "namespace", "ruleName", "hostnames",
                               "matches", "policies",  "backends"};
    size_t na = 7;
    for (; extra && *extra && na < 11; extra++)
        allowed[na++] = *extra;
    allowed[na] = NULL;
    static const char *const later[] = {"tcpRoutes", NULL};
    if (!keys_ok(c, r, path, allowed, later))
        return false;
    const char *name = str(c, r, "name", path), *ns = str(c, r, "namespace", path),
               *rule = str(c, r, "ruleName", path);
    if (c->failed)
        return false;
    c->route_seq++;
    char gen[32];
    if (!name || !name[0]) {
        snprintf(gen, sizeof gen, "route%zu", c->route_seq - 1);
        name = gen;
    }
    if (!ns || !ns[0])
        ns = "default";
    for (size_t li = 0; li < nl; li++) {
        route_pb_t *x = NEW(c, route_pb_t, agentgateway__dev__resource__route__init);
        if (!x)
            return false;
        char key[600];
        snprintf(key, sizeof key, "%s/%s%s%s%s%s", ns, name, rule ? "." : "", rule ? rule : "",
                 nl > 1 ? "@" : "", nl > 1 ? lkeys[li] : "");
        x->key = pstr(c, key);
        x->listener_key = pstr(c, lkeys[li]);
        x->name = NEW(c, Agentgateway__Dev__Resource__RouteName,
                      agentgateway__dev__resource__route_name__init);
        if (!x->key || !x->listener_key || !x->name || !(x->name->name = pstr(c, name)) ||
            !(x->name->namespace_ = pstr(c, ns)) || !(x->name->kind = pstr(c, "HTTPRoute")))
            goto bad;
        if (rule) {
            x->name->_rule_name_case =
                AGENTGATEWAY__DEV__RESOURCE__ROUTE_NAME___RULE_NAME_RULE_NAME;
            if (!(x->name->rule_name = pstr(c, rule)))
                goto bad;
        }
        if (!strings_into(c, r, "hostnames", path, &x->hostnames, &x->n_hostnames))
            goto bad;
        char p[PATH_CAP];
        json_t *ms = member(c, r, "matches", path, JSON_ARRAY);
        size_t i;
        json_t *m;
        json_array_foreach(ms, i, m)
        {
            pathf(p, "%s.matches[%zu]", path, i);
            if (!json_is_object(m)) {
                pathf(p, "%s.matches", path);
                fail(c, ms, NULL, i, p, "must be a mapping");
                goto bad;
            }
            match_pb_t *mx = route_match(c, m, p);
            if (!mx || !PUSH(c, x->matches, x->n_matches, mx)) {
                pb_free(mx);
                goto bad;
            }
        }
        if (!ms || !json_array_size(ms)) { /* agentgateway's default: prefix "/" */
            match_pb_t *mx = NEW(c, match_pb_t, agentgateway__dev__resource__route_match__init);
            if (!mx)
                goto bad;
            mx->path = NEW(c, Agentgateway__Dev__Resource__PathMatch,
                           agentgateway__dev__resource__path_match__init);
            if (mx->path) /* the case first: a set string under it is freed with the tree */
                mx->path->kind_case = AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_PATH_PREFIX;
            if (!mx->path || !(mx->path->path_prefix = pstr(c, "/")) ||
                !PUSH(c, x->matches, x->n_matches, mx)) {
                pb_free(mx);
                goto bad;
            }
        }
        json_t *pol = member(c, r, "policies", path, JSON_OBJECT);
        pathf(p, "%s.policies", path);
        if (pol && !route_policies(c, x, pol, p))
            goto bad;
        json_t *bs = member(c, r, "backends", path, JSON_ARRAY);
        pathf(p, "%s.backends", path);
        if (bs && !route_backends(c, x, bs, p))
            goto bad;
        if (c->failed)
            goto bad;
        char xname[700];
        snprintf(xname, sizeof xname, "route/%s", key);
        if (key_taken(c, IR_KIND_ROUTE, xname)) {
            fail(c, NULL, NULL, 0, path,
                 "a second route named %s (give routes distinct "
                 "name/namespace/ruleName; line %d)",
                 key, line_of(c, r, "name", 0));
            pb_free(x);
            return false;
        }
        ir_err_t ie = {0};
        const ir_route_t *o = ir_route_new(x, NULL, &ie);
        if (!emit(c, o ? ir_route_obj(o) : NULL, &ie, path))
            return false;
        continue;
    bad:
        pb_free(x);
        return false;
    }
    return true;
}

static bool bind(lc_t *c, uint32_t port, const json_t *where, const char *path)
{
    char key[16], xname[32];
    snprintf(key, sizeof key, "%u", port);
    snprintf(xname, sizeof xname, "bind/%s", key);
    if (key_taken(c, IR_KIND_BIND, xname)) {
        fail(c, where, "port", 0, path, "port %u is used twice", port);
        return false;
    }
    Agentgateway__Dev__Resource__Bind *b =
        NEW(c, Agentgateway__Dev__Resource__Bind, agentgateway__dev__resource__bind__init);
    if (!b || !(b->key = pstr(c, key))) {
        pb_free(b);
        return false;
    }
    b->port = port;
    ir_err_t ie = {0};
    const ir_bind_t *o = ir_bind_new(b, NULL, &ie);
    return emit(c, o ? ir_bind_obj(o) : NULL, &ie, path);
}

/* A listener mapping (binds[].listeners[] or gateways.X.listeners[]). Writes its key to |lkey|. */
static bool listener(lc_t *c, const json_t *l, const char *path, uint32_t port, size_t index,
                     const char *gw, char *lkey, size_t cap, const char *const *extra)
{
    const char *allowed[10] = {"name", "namespace", "hostname", "protocol"};
    size_t na = 4;
    for (; extra && *extra && na < 9; extra++)
        allowed[na++] = *extra;
    allowed[na] = NULL;
    static const char *const later[] = {"tls", "tcpRoutes", "policies", NULL};
    if (!keys_ok(c, l, path, allowed, later))
        return false;
    const char *name = str(c, l, "name", path), *ns = str(c, l, "namespace", path),
               *host = str(c, l, "hostname", path), *proto = str(c, l, "protocol", path);
    if (c->failed)
        return false;
    if (proto && strcmp(proto, "HTTP") != 0) {
        fail(c, l, "protocol", 0, path,
             "%s listeners are not supported by krtgate's local "
             "config yet (HTTP only)",
             proto);
        return false;
    }
    char gen[32];
    if (!name || !name[0]) {
        snprintf(gen, sizeof gen, "listener%zu", index);
        name = gen;
    }
    snprintf(lkey, cap, "%u.%s", port, name);
    char xname[600];
    snprintf(xname, sizeof xname, "listener/%s", lkey);
    if (key_taken(c, IR_KIND_LISTENER, xname)) {
        fail(c, l, "name", 0, path, "a second listener named %s on port %u", name, port);
        return false;
    }
    Agentgateway__Dev__Resource__Listener *x =
        NEW(c, Agentgateway__Dev__Resource__Listener, agentgateway__dev__resource__listener__init);
    char bk[16];
    snprintf(bk, sizeof bk, "%u", port);
    if (!x || !(x->key = pstr(c, lkey)) || !(x->bind_key = pstr(c, bk)) ||
        !(x->hostname = pstr(c, host)) ||
        !(x->name = NEW(c, Agentgateway__Dev__Resource__ListenerName,
                        agentgateway__dev__resource__listener_name__init)) ||
        !(x->name->listener_name = pstr(c, name)) ||
        !(x->name->gateway_name = pstr(c, gw ? gw : "local")) ||
        !(x->name->gateway_namespace = pstr(c, ns ? ns : "default"))) {
        pb_free(x);
        return false;
    }
    x->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTP;
    ir_err_t ie = {0};
    const ir_listener_t *o = ir_listener_new(x, NULL, &ie);
    return emit(c, o ? ir_listener_obj(o) : NULL, &ie, path);
}

static bool binds(lc_t *c, const json_t *arr)
{
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b)
    {
        char bp[PATH_CAP];
        pathf(bp, "binds[%zu]", i);
        if (!json_is_object(b)) {
            fail(c, arr, NULL, i, "binds", "must be a mapping");
            return false;
        }
        static const char *const k[] = {"port", "listeners", NULL};
        static const char *const later[] = {"tunnelProtocol", "mode", NULL};
        if (!keys_ok(c, b, bp, k, later))
            return false;
        long long port = integer(c, b, "port", bp, 1, 65535, 0);
        if (c->failed)
            return false;
        if (!port) {
            fail(c, arr, NULL, i, "binds", "needs a port");
            return false;
        }
        if (!bind(c, (uint32_t)port, b, bp))
            return false;
        json_t *ls = member(c, b, "listeners", bp, JSON_ARRAY);
        size_t j;
        json_t *l;
        json_array_foreach(ls, j, l)
        {
            char lp[PATH_CAP];
            pathf(lp, "%s.listeners[%zu]", bp, j);
            if (!json_is_object(l)) {
                pathf(lp, "%s.listeners", bp);
                fail(c, ls, NULL, j, lp, "must be a mapping");
                return false;
            }
            static const char *const lextra[] = {"routes", NULL};
            char lkey[300];
            if (!listener(c, l, lp, (uint32_t)port, j, NULL, lkey, sizeof lkey, lextra))
                return false;
            json_t *rs = member(c, l, "routes", lp, JSON_ARRAY);
            size_t r;
            json_t *ro;
            const char *lk[] = {lkey};
            json_array_foreach(rs, r, ro)
            {
                char rp[PATH_CAP];
                pathf(rp, "%s.routes[%zu]", lp, r);
                if (!json_is_object(ro)) {
                    pathf(rp, "%s.routes", lp);
                    fail(c, rs, NULL, r, rp, "must be a mapping");
                    return false;
                }
                if (!route(c, ro, rp, lk, 1, NULL))
                    return false;
            }
            if (c->failed)
                return false;
        }
        if (c->failed)
            return false;
    }
    return !c->failed;
}

/* gateways: name → {port, protocol, listeners[]}; each gateway's listener keys go to |gl|. */
typedef struct gw_listeners {
    const char *gw;
    char **keys;  /* "<port>.<listener>" */
    char **names; /* listener names */
    size_t n;
} gw_listeners_t;

static bool gateways(lc_t *c, const json_t *obj, gw_listeners_t **out, size_t *nout)
{
    size_t n = json_object_size(obj);
    gw_listeners_t *gl = need(c, calloc(n + 1, sizeof *gl));
    if (!gl)
        return false;
    *out = gl;
    *nout = 0;
    const char *name;
    json_t *g;
    json_object_foreach((json_t *)obj, name, g)
    {
        char gp[PATH_CAP];
        pathf(gp, "gateways.%s", name);
        gw_listeners_t *e = &gl[(*nout)++];
        e->gw = name;
        if (!json_is_object(g)) {
            fail(c, obj, name, 0, "gateways", "must be a mapping");
            return false;
        }
        static const char *const k[] = {"port", "protocol", "listeners", NULL};
        static const char *const later[] = {"tls", "policies", "tunnelProtocol", NULL};
        if (!keys_ok(c, g, gp, k, later))
            return false;
        long long port = integer(c, g, "port", gp, 1, 65535, 0);
        const char *proto = str(c, g, "protocol", gp);
        if (c->failed)
            return false;
        if (!port) {
            fail(c, obj, name, 0, "gateways", "needs a port");
            return false;
        }
        if (proto && strcmp(proto, "HTTP") != 0) {
            fail(c, g, "protocol", 0, gp,
                 "%s gateways are not supported by krtgate's local "
                 "config yet (HTTP only)",
                 proto);
            return false;
        }
        if (!bind(c, (uint32_t)port, g, gp))
            return false;
        json_t *ls = member(c, g, "listeners", gp, JSON_ARRAY);
        size_t cnt = ls && json_array_size(ls) ? json_array_size(ls) : 1;
        e->keys = need(c, calloc(cnt, sizeof(char *)));
        e->names = need(c, calloc(cnt, sizeof(char *)));
        if (!e->keys || !e->names)
            return false;
        json_t *implicit = NULL;
        if (!ls || !json_array_size(ls)) {
            /* no listeners: one for any hostname, named after the gateway */
            implicit = need(c, json_pack("{s:s}", "name", "default"));
            if (!implicit)
                return false;
        }
        for (size_t j = 0; j < cnt; j++) {
            json_t *l = implicit ? implicit : json_array_get(ls, j);
            char lp[PATH_CAP];
            pathf(lp, "%s.listeners[%zu]", gp, j);
            if (!json_is_object(l)) {
                pathf(lp, "%s.listeners", gp);
                fail(c, ls, NULL, j, lp, "must be a mapping");
                json_decref(implicit);
                return false;
            }
            char lkey[300];
            bool ok = listener(c, l, lp, (uint32_t)port, j, name, lkey, sizeof lkey, NULL);
            const char *ln = ok ? json_string_value(json_object_get(l, "name")) : NULL;
            char gen[32];
            if (ok && !ln) {
                snprintf(gen, sizeof gen, "listener%zu", j);
                ln = gen;
            }
            if (ok) {
                e->keys[e->n] = need(c, strdup(lkey));
                e->names[e->n] = need(c, strdup(ln));
                if (e->keys[e->n] && e->names[e->n])
                    e->n++;
                else
                    ok = false;
            }
            if (!ok) {
                json_decref(implicit);
                return false;
            }
        }
        json_decref(implicit);
    }
    return true;
}

static void gateways_free(gw_listeners_t *gl, size_t n)
{
    for (size_t i = 0; gl && i <= n; i++) {
        for (size_t j = 0; j < gl[i].n; j++) {
            free(gl[i].keys[j]);
            free(gl[i].names[j]);
        }
        free(gl[i].keys);
        free(gl[i].names);
    }
    free(gl);
}

/* Top-level routes: each names its gateways ("gw" = all its listeners, "gw/listener"). */
static bool routes(lc_t *c, const json_t *arr, const gw_listeners_t *gl, size_t ngw)
{
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
    {
        char rp[PATH_CAP];
        pathf(rp, "routes[%zu]", i);
        if (!json_is_object(r)) {
            fail(c, arr, NULL, i, "routes", "must be a mapping");
            return false;
        }
        json_t *gws = member(c, r, "gateways", rp, JSON_ARRAY);
        if (c->failed)
            return false;
        if (!gws || !json_array_size(gws)) {
            fail(c, arr, NULL, i, "routes", "needs gateways: [NAME or NAME/LISTENER, ...]");
            return false;
        }
        const char *lk[64];
        size_t nl = 0;
        size_t j;
        json_t *g;
        char gp[PATH_CAP];
        pathf(gp, "%s.gateways", rp);
        json_array_foreach(gws, j, g)
        {
            const char *s = json_string_value(g);
            if (!s) {
                fail(c, gws, NULL, j, gp, "must be a gateway name");
                return false;
            }
            const char *slash = strchr(s, '/');
            size_t gl_len = slash ? (size_t)(slash - s) : strlen(s);
            const gw_listeners_t *e = NULL;
            for (size_t k = 0; k < ngw && !e; k++)
                if (strlen(gl[k].gw) == gl_len && !strncmp(gl[k].gw, s, gl_len))
                    e = &gl[k];
            if (!e) {
                fail(c, gws, NULL, j, gp, "no gateway named %.*s under gateways", (int)gl_len, s);
                return false;
            }
            size_t before = nl;
            for (size_t k = 0; k < e->n; k++) {
                if (slash && strcmp(e->names[k], slash + 1) != 0)
                    continue;
                if (nl == sizeof lk / sizeof lk[0]) {
                    fail(c, gws, NULL, j, gp, "more than %zu listeners for one route",
                         sizeof lk / sizeof lk[0]);
                    return false;
                }
                lk[nl++] = e->keys[k];
            }
            if (nl == before) {
                fail(c, gws, NULL, j, gp, "gateway %.*s has no listener %s", (int)gl_len, s,
                     slash + 1);
                return false;
            }
        }
        static const char *const extra[] = {"gateways", NULL};
        if (!route(c, r, rp, lk, nl, extra))
            return false;
    }
    return true;
}

static bool backends(lc_t *c, const json_t *arr)
{
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b)
    {
        char bp[PATH_CAP];
        pathf(bp, "backends[%zu]", i);
        if (!json_is_object(b)) {
            fail(c, arr, NULL, i, "backends", "must be a mapping");
            return false;
        }
        static const char *const k[] = {"name", "host", NULL};
        static const char *const later[] = {"ai", "mcp", "dynamic", "aws", "policies", NULL};
        if (!keys_ok(c, b, bp, k, later))
            return false;
        const char *name = str(c, b, "name", bp);
        char host[256];
        uint32_t port = 0;
        if (c->failed)
            return false;
        if (!name || !name[0] || !json_object_get(b, "host")) {
            fail(c, arr, NULL, i, "backends", "needs a name and a host (HOST:PORT)");
            return false;
        }
        if (!host_port(c, b, "host", bp, host, sizeof host, &port))
            return false;
        char xname[600];
        snprintf(xname, sizeof xname, "backend/%s", name);
        if (key_taken(c, IR_KIND_BACKEND, xname)) {
            fail(c, b, "name", 0, bp, "a second backend named %s", name);
            return false;
        }
        Agentgateway__Dev__Resource__Backend *x = NEW(c, Agentgateway__Dev__Resource__Backend,
                                                      agentgateway__dev__resource__backend__init);
        if (!x || !(x->key = pstr(c, name)) ||
            !(x->name = NEW(c, Agentgateway__Dev__Resource__ResourceName,
                            agentgateway__dev__resource__resource_name__init)) ||
            !(x->name->name = pstr(c, name)) || !(x->name->namespace_ = pstr(c, "default")) ||
            !(x->static_ = NEW(c, Agentgateway__Dev__Resource__StaticBackend,
                               agentgateway__dev__resource__static_backend__init))) {
            pb_free(x);
            return false;
        }
        x->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_STATIC;
        x->static_->port = (int32_t)port;
        if (!(x->static_->host = pstr(c, host))) {
            pb_free(x);
            return false;
        }
        ir_err_t ie = {0};
        const ir_backend_t *o = ir_backend_new(x, NULL, &ie);
        if (!emit(c, o ? ir_backend_obj(o) : NULL, &ie, bp))
            return false;
    }
    return true;
}

/* ---- entry points --------------------------------------------------------------------------- */

/* ---- frontendPolicies ------------------------------------------------------------------------ */

/* The values of `frontendPolicies`, parsed once; a Policy per Gateway is made from them. */
typedef struct fe_vals {
    bool http, tls, tcp;
    long long max_buffer, max_headers, window, conn_window, frame; /* -1: unset */
    const json_t *http_obj, *tls_obj, *ka_obj; /* read again per Gateway (durations) */
    const json_t *alpn;
} fe_vals_t;

static bool fe_parse(lc_t *c, const json_t *fp, fe_vals_t *v)
{
    static const char *const top[] = {"http", "tls", "tcp", NULL};
    static const char *const top_later[] = {"accessLog", "tracing", NULL};
    memset(v, 0, sizeof *v);
    if (!keys_ok(c, fp, "frontendPolicies", top, top_later))
        return false;
    const char *hp = "frontendPolicies.http", *tp = "frontendPolicies.tls",
               *kp = "frontendPolicies.tcp.keepalives";
    json_t *h = member(c, fp, "http", "frontendPolicies", JSON_OBJECT);
    if (h) {
        static const char *const k[] = {
            "maxBufferSize",          "http1MaxHeaders",           "http1IdleTimeout",
            "http2WindowSize",        "http2ConnectionWindowSize", "http2FrameSize",
            "http2KeepaliveInterval", "http2KeepaliveTimeout",     NULL};
        if (!keys_ok(c, h, hp, k, NULL))
            return false;
        v->http = true;
        v->http_obj = h;
        v->max_buffer = integer(c, h, "maxBufferSize", hp, 1, 4294967295LL, -1);
        v->max_headers = integer(c, h, "http1MaxHeaders", hp, 1, 10000, -1);
        v->window = integer(c, h, "http2WindowSize", hp, 1, 2147483647LL, -1);
        v->conn_window = integer(c, h, "http2ConnectionWindowSize", hp, 1, 2147483647LL, -1);
        v->frame = integer(c, h, "http2FrameSize", hp, 16384, 16777215, -1);
        static const char *const durs[] = {"http1IdleTimeout", "http2KeepaliveInterval",
                                           "http2KeepaliveTimeout", NULL};
        for (size_t i = 0; durs[i] && !c->failed; i++)
            pb_free(duration(c, h, durs[i], hp));
    }
    json_t *t = member(c, fp, "tls", "frontendPolicies", JSON_OBJECT);
    if (t) {
        static const char *const k[] = {"tlsHandshakeTimeout", "alpn", NULL};
        if (!keys_ok(c, t, tp, k, NULL))
            return false;
        v->tls = true;
        v->tls_obj = t;
        pb_free(duration(c, t, "tlsHandshakeTimeout", tp));
        v->alpn = member(c, t, "alpn", tp, JSON_ARRAY);
        size_t i;
        json_t *e;
        json_array_foreach(v->alpn, i, e)
        {
            const char *a = json_string_value(e);
            if (!a || (strcmp(a, "h2") != 0 && strcmp(a, "http/1.1") != 0)) {
                fail(c, v->alpn, NULL, i, "frontendPolicies.tls.alpn",
                     "must be \"h2\" or \"http/1.1\" (the protocols krtgate serves)");
                return false;
            }
        }
    }
    json_t *tcp = member(c, fp, "tcp", "frontendPolicies", JSON_OBJECT);
    if (tcp) {
        static const char *const k[] = {"keepalives", NULL};
        if (!keys_ok(c, tcp, "frontendPolicies.tcp", k, NULL))
            return false;
        json_t *ka = member(c, tcp, "keepalives", "frontendPolicies.tcp", JSON_OBJECT);
        static const char *const kk[] = {"enabled", "time", "interval", "retries", NULL};
        if (ka && !keys_ok(c, ka, kp, kk, NULL))
            return false;
        json_t *en = ka ? json_object_get(ka, "enabled") : NULL;
        v->tcp = ka && (!en || boolean(c, ka, "enabled", kp)); /* agentgateway: on by default */
        v->ka_obj = ka;
        if (ka) { /* checked here (errors once), read again per Gateway */
            integer(c, ka, "retries", kp, 1, 127, 9);
            dur_pb_t *d[2] = {duration(c, ka, "time", kp), duration(c, ka, "interval", kp)};
            pb_free(d[0]);
            pb_free(d[1]);
        }
    }
    return !c->failed;
}

/* One frontend Policy of kind |kind| (FrontendPolicySpec kind_case) for Gateway |ns|/|gw|. */
static bool fe_emit(lc_t *c, const fe_vals_t *v, int kind, const char *ns, const char *gw)
{
    typedef Agentgateway__Dev__Resource__FrontendPolicySpec fps_t;
    Agentgateway__Dev__Resource__Policy *p = need(c, ir_pb_alloc(sizeof *p));
    if (!p)
        return false;
    agentgateway__dev__resource__policy__init(p);
    const char *kn = kind == AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_HTTP  ? "http"
                     : kind == AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_TLS ? "tls"
                                                                                           : "tcp";
    char key[600];
    snprintf(key, sizeof key, "local/frontend-%s:%s/%s", kn, ns, gw);
    const char *path = "frontendPolicies";
    /* every message is initialised as soon as it hangs in the tree: pb_free walks them */
    bool ok = (p->key = pstr(c, key)) && (p->target = need(c, ir_pb_alloc(sizeof *p->target)));
    if (ok) {
        agentgateway__dev__resource__policy_target__init(p->target);
        ok = (p->frontend = need(c, ir_pb_alloc(sizeof *p->frontend))) != NULL;
    }
    if (ok) {
        agentgateway__dev__resource__frontend_policy_spec__init(p->frontend);
        p->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND;
        p->target->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY;
        ok = (p->target->gateway = need(c, ir_pb_alloc(sizeof *p->target->gateway))) != NULL;
    }
    if (ok) {
        agentgateway__dev__resource__policy_target__gateway_target__init(p->target->gateway);
        ok = (p->target->gateway->name = pstr(c, gw)) &&
             (p->target->gateway->namespace_ = pstr(c, ns));
    }
    fps_t *f = ok ? p->frontend : NULL;
    if (f && kind == AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_HTTP) {
        Agentgateway__Dev__Resource__FrontendPolicySpec__HTTP *h = need(c, ir_pb_alloc(sizeof *h));
        ok = h != NULL;
        if (ok) {
            agentgateway__dev__resource__frontend_policy_spec__http__init(h);
            f->kind_case = kind;
            f->http = h;
#define FE_OPT(field, val, CASE)                                                               \
    if ((val) >= 0) {                                                                          \
        h->_##field##_case = AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___##CASE; \
        h->field = (uint32_t)(val);                                                            \
    }
            FE_OPT(max_buffer_size, v->max_buffer, MAX_BUFFER_SIZE_MAX_BUFFER_SIZE)
            FE_OPT(http1_max_headers, v->max_headers, HTTP1_MAX_HEADERS_HTTP1_MAX_HEADERS)
            FE_OPT(http2_window_size, v->window, HTTP2_WINDOW_SIZE_HTTP2_WINDOW_SIZE)
            FE_OPT(http2_connection_window_size, v->conn_window,
                   HTTP2_CONNECTION_WINDOW_SIZE_HTTP2_CONNECTION_WINDOW_SIZE)
            FE_OPT(http2_frame_size, v->frame, HTTP2_FRAME_SIZE_HTTP2_FRAME_SIZE)
#undef FE_OPT
            const char *hp = "frontendPolicies.http";
            h->http1_idle_timeout = duration(c, v->http_obj, "http1IdleTimeout", hp);
            h->http2_keepalive_interval = duration(c, v->http_obj, "http2KeepaliveInterval", hp);
            h->http2_keepalive_timeout = duration(c, v->http_obj, "http2KeepaliveTimeout", hp);
        }
    } else if (f && kind == AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_TLS) {
        Agentgateway__Dev__Resource__FrontendPolicySpec__TLS *t = need(c, ir_pb_alloc(sizeof *t));
        ok = t != NULL;
        if (ok) {
            agentgateway__dev__resource__frontend_policy_spec__tls__init(t);
            f->kind_case = kind;
            f->tls = t;
            t->handshake_timeout =
                duration(c, v->tls_obj, "tlsHandshakeTimeout", "frontendPolicies.tls");
            if (v->alpn && (ok = (t->alpn = need(c, ir_pb_alloc(sizeof *t->alpn))) != NULL)) {
                agentgateway__dev__resource__alpn__init(t->alpn);
                ok = strings_into(c, v->tls_obj, "alpn", "frontendPolicies.tls",
                                  &t->alpn->protocols, &t->alpn->n_protocols);
            }
        }
    } else if (f) {
        Agentgateway__Dev__Resource__FrontendPolicySpec__TCP *t = need(c, ir_pb_alloc(sizeof *t));
        ok = t != NULL;
        if (ok) {
            agentgateway__dev__resource__frontend_policy_spec__tcp__init(t);
            f->kind_case = kind;
            f->tcp = t;
            ok = (t->keepalives = need(c, ir_pb_alloc(sizeof *t->keepalives))) != NULL;
        }
        if (ok) {
            const char *kp = "frontendPolicies.tcp.keepalives";
            agentgateway__dev__resource__keepalive_config__init(t->keepalives);
            t->keepalives->time = duration(c, v->ka_obj, "time", kp);
            t->keepalives->interval = duration(c, v->ka_obj, "interval", kp);
            t->keepalives->_retries_case =
                AGENTGATEWAY__DEV__RESOURCE__KEEPALIVE_CONFIG___RETRIES_RETRIES;
            t->keepalives->retries = (uint32_t)integer(c, v->ka_obj, "retries", kp, 1, 127, 9);
        }
    }
    if (!ok || c->failed) {
        pb_free(p);
        return false;
    }
    char gwname[600];
    snprintf(gwname, sizeof gwname, "%s/%s", ns, gw);
    ir_err_t ie = {0};
    const ir_policy_t *o = ir_policy_new(p, gwname, &ie);
    return emit(c, o ? ir_policy_obj(o) : NULL, &ie, path);
}

/* `frontendPolicies` apply to every Gateway of the file: one Policy per kind and per Gateway
 * (namespace and name, as the Listeners carry them), targeting it at gateway level. */
static bool frontend_policies(lc_t *c, const json_t *fp)
{
    fe_vals_t v;
    if (!fe_parse(c, fp, &v))
        return false;
    const int kinds[3] = {v.http ? AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_HTTP : 0,
                          v.tls ? AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_TLS : 0,
                          v.tcp ? AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_TCP : 0};
    size_t nobjs = c->nobjs; /* the policies emitted below are not listeners */
    for (size_t i = 0; i < nobjs && !c->failed; i++) {
        const ir_listener_t *l = ir_listener_from_obj(c->objs[i]);
        if (!l)
            continue;
        const Agentgateway__Dev__Resource__Listener *lpb = ir_listener_pb(l);
        if (!need(c, (void *)lpb))
            return false; /* the canonical tree could not be made: out of memory */
        const Agentgateway__Dev__Resource__ListenerName *ln = lpb->name;
        bool seen = false; /* an earlier listener of the same Gateway made its policies */
        for (size_t j = 0; j < i && !seen; j++) {
            const ir_listener_t *o = ir_listener_from_obj(c->objs[j]);
            const Agentgateway__Dev__Resource__Listener *opb = o ? ir_listener_pb(o) : NULL;
            const Agentgateway__Dev__Resource__ListenerName *on = opb ? opb->name : NULL;
            seen = on && !strcmp(on->gateway_name, ln->gateway_name) &&
                   !strcmp(on->gateway_namespace, ln->gateway_namespace);
        }
        for (int k = 0; k < 3 && !seen; k++)
            if (kinds[k] && !fe_emit(c, &v, kinds[k], ln->gateway_namespace, ln->gateway_name))
                return false;
    }
    return !c->failed;
}

static int kind_rank(ir_kind_t k)
{
    switch (k) {
    case IR_KIND_BIND:
        return 0;
    case IR_KIND_LISTENER:
        return 1;
    case IR_KIND_BACKEND:
        return 2;
    default:
        return 3;
    }
}

static int obj_cmp(const void *a, const void *b)
{
    const ir_obj_t *x = *(const ir_obj_t *const *)a, *y = *(const ir_obj_t *const *)b;
    int d = kind_rank(ir_obj_kind(x)) - kind_rank(ir_obj_kind(y));
    return d ? d : strcmp(ir_obj_name(x), ir_obj_name(y));
}

int proxy_localconfig_parse(const char *text, size_t len, const char *filename,
                            proxy_localconfig_t **out, char *err, size_t cap)
{
    char scratch[8];
    lc_t c = {.file = filename ? filename : "config",
              .err = err ? err : scratch,
              .cap = err ? cap : sizeof scratch};
    if (c.cap)
        c.err[0] = '\0';
    *out = NULL;
    json_t *root = load(&c, text ? text : "", text ? len : 0);
    if (root) {
        static const char *const top[] = {
            "config", "binds", "gateways", "routes", "backends", "frontendPolicies", NULL};
        static const char *const later[] = {"tcpRoutes", "policies",    "services",
                                            "workloads", "routeGroups", "llm",
                                            "mcp",       "ui",          NULL};
        gw_listeners_t *gl = NULL;
        size_t ngw = 0;
        json_t *v;
        if (keys_ok(&c, root, "", top, later)) {
            member(&c, root, "config", "", JSON_OBJECT); /* checked, not used */
            if ((v = member(&c, root, "backends", "", JSON_ARRAY)))
                backends(&c, v);
            if (!c.failed && (v = member(&c, root, "binds", "", JSON_ARRAY)))
                binds(&c, v);
            if (!c.failed && (v = member(&c, root, "gateways", "", JSON_OBJECT)))
                gateways(&c, v, &gl, &ngw);
            if (!c.failed && (v = member(&c, root, "routes", "", JSON_ARRAY)))
                routes(&c, v, gl, ngw);
            if (!c.failed && (v = member(&c, root, "frontendPolicies", "", JSON_OBJECT)))
                frontend_policies(&c, v);
        }
        gateways_free(gl, ngw);
        json_decref(root);
    }
    proxy_localconfig_t *lc = NULL;
    if (!c.failed) {
        lc = need(&c, calloc(1, sizeof *lc));
        if (lc && c.nobjs && !(lc->changes = need(&c, calloc(c.nobjs, sizeof *lc->changes)))) {
            free(lc);
            lc = NULL;
        }
    }
    for (size_t i = 0; i < c.nmarks; i++)
        free(c.marks[i].key);
    free(c.marks);
    if (c.failed) {
        for (size_t i = 0; i < c.nobjs; i++)
            ir_obj_release(c.objs[i]);
        free(c.objs);
        return c.oom ? PROXY_ENOMEM : PROXY_ECONFIG;
    }
    if (c.nobjs)
        qsort(c.objs, c.nobjs, sizeof *c.objs, obj_cmp);
    lc->objs = c.objs;
    lc->n = c.nobjs;
    for (size_t i = 0; i < c.nobjs; i++)
        proxy_change_of_obj(&lc->changes[i], c.objs[i]);
    *out = lc;
    return PROXY_OK;
}

const proxy_change_t *proxy_localconfig_changes(const proxy_localconfig_t *lc, size_t *n)
{
    *n = lc ? lc->n : 0;
    return lc ? lc->changes : NULL;
}

void proxy_localconfig_free(proxy_localconfig_t *lc)
{
    if (!lc)
        return;
    for (size_t i = 0; i < lc->n; i++)
        ir_obj_release(lc->objs[i]);
    free(lc->objs);
    free(lc->changes);
    free(lc);
}
