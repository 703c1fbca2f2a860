/*
 * Shared fixtures for libkrt's behaviour tests: three small object types (pod, service, kv), an
 * event recorder that turns batches into "op/KEY" strings, and a log capture.
 *
 * Header-only on purpose: every test file is its own executable, so each gets a private copy and no
 * test library has to be built. Everything is static (inline), so a test that uses only part of it
 * compiles without unused-function warnings.
 *
 * The recorder also checks, for every batch it receives, what the engine promises about batches:
 * events sorted by key (bytewise) with each key at most once, and old/cur set according to the op.
 * Test-side memory (recorded strings, logs) uses libc malloc so it never disturbs the allocation
 * counts of libkrt's own hooks; objects use krt_malloc as krt.h asks.
 */
#ifndef KRT_TEST_UTIL_H
#define KRT_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "krt/krt.h"

#define KRT_TEST_UNUSED __attribute__((unused))

/* ---------------------------------------------------------------------------------------------
 * Growable list of strings (owned by the list, libc memory).
 * ------------------------------------------------------------------------------------------- */
typedef struct test_strlist {
    char **v;
    size_t len;
    size_t cap;
} test_strlist_t;

static inline void test_strlist_push(test_strlist_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void test_strlist_push(test_strlist_t *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    l->v[l->len++] = s;
}

static inline void test_strlist_clear(test_strlist_t *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->v[i]);
    l->len = 0;
}

static inline void test_strlist_dispose(test_strlist_t *l)
{
    test_strlist_clear(l);
    free(l->v);
    l->v = NULL;
    l->cap = 0;
}

/* Returns: the items joined by " " (libc memory, caller frees). */
static inline char *test_strlist_join(const char *const *items, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(items[i]) + 1;
    char *s = malloc(total);
    assert_non_null(s);
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, items[i]);
    }
    return s;
}

/* Asserts that |l| holds exactly |want| (NULL-terminated), in order, then clears |l|. The
 * comparison is made on the joined strings so a failure prints both sequences. */
static inline void test_strlist_expect_at(test_strlist_t *l, const char *const *want,
                                          const char *file, int line)
{
    size_t n = 0;
    while (want[n])
        n++;
    char *got_s = test_strlist_join((const char *const *)l->v, l->len);
    char *want_s = test_strlist_join(want, n);
    if (strcmp(got_s, want_s) != 0)
        print_error("got:  [%s]\nwant: [%s]\n", got_s, want_s);
    _assert_string_equal(got_s, want_s, file, line);
    _assert_int_equal(l->len, n, file, line);
    free(got_s);
    free(want_s);
    test_strlist_clear(l);
}

#define test_strlist_expect(l, want) test_strlist_expect_at((l), (want), __FILE__, __LINE__)
#define EXPECT_STRS(list, ...) \
    test_strlist_expect_at((list), (const char *const[]){__VA_ARGS__, NULL}, __FILE__, __LINE__)

/* ---------------------------------------------------------------------------------------------
 * Labels parsed from "k=v,k2=v2" (owned, krt memory).
 * ------------------------------------------------------------------------------------------- */
typedef struct test_labels {
    char *src; /* the text they came from ("" when none) */
    krt_label_t *items;
    size_t len;
} test_labels_t;

static inline void test_labels_parse(test_labels_t *l, const char *text)
{
    l->src = krt_strdup(text ? text : "");
    assert_non_null(l->src);
    l->items = NULL;
    l->len = 0;
    size_t cap = 0;
    const char *p = l->src;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        if (seg > 0) {
            const char *eq = memchr(p, '=', seg);
            assert_non_null(eq);
            if (l->len == cap) {
                cap = cap ? cap * 2 : 4;
                l->items = krt_realloc(l->items, cap * sizeof(*l->items));
                assert_non_null(l->items);
            }
            size_t kl = (size_t)(eq - p);
            char *k = krt_malloc(kl + 1);
            char *v = krt_malloc(seg - kl);
            assert_non_null(k);
            assert_non_null(v);
            memcpy(k, p, kl);
            k[kl] = '\0';
            memcpy(v, eq + 1, seg - kl - 1);
            v[seg - kl - 1] = '\0';
            l->items[l->len].key = k;
            l->items[l->len].value = v;
            l->len++;
        }
        p += seg;
        if (*p == ',')
            p++;
    }
    if (l->len > 1)
        krt_labels_sort(l->items, l->len);
}

static inline void test_labels_dispose(test_labels_t *l)
{
    for (size_t i = 0; i < l->len; i++) {
        krt_free((char *)l->items[i].key);
        krt_free((char *)l->items[i].value);
    }
    krt_free(l->items);
    krt_free(l->src);
}

static inline uint64_t test_labels_hash(const test_labels_t *l, uint64_t h)
{
    for (size_t i = 0; i < l->len; i++) {
        h = krt_hash_combine(h, krt_hash_str(l->items[i].key, 1));
        h = krt_hash_combine(h, krt_hash_str(l->items[i].value, 2));
    }
    return krt_hash_combine(h, (uint64_t)l->len);
}

static inline bool test_labels_equal(const test_labels_t *a, const test_labels_t *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (strcmp(a->items[i].key, b->items[i].key) ||
            strcmp(a->items[i].value, b->items[i].value))
            return false;
    return true;
}

static inline json_t *test_labels_dump(const test_labels_t *l)
{
    json_t *o = json_object();
    for (size_t i = 0; i < l->len; i++)
        json_object_set_new(o, l->items[i].key, json_string(l->items[i].value));
    return o;
}

static inline char *test_key_join(const char *ns, const char *name)
{
    size_t n = strlen(ns) + strlen(name) + 2;
    char *k = krt_malloc(n);
    assert_non_null(k);
    snprintf(k, n, "%s/%s", ns, name);
    return k;
}

/* ---------------------------------------------------------------------------------------------
 * Pod: key "ns/name", an IP ("" = none yet) and labels.
 * ------------------------------------------------------------------------------------------- */
typedef struct test_pod {
    krt_obj_t base;
    char *key;
    char *name;
    char *ns;
    char *ip;
    test_labels_t labels;
} test_pod_t;

static inline const test_pod_t *test_pod(const krt_obj_t *o)
{
    return (const test_pod_t *)o;
}
static const char *test_pod_key(const krt_obj_t *o)
{
    return test_pod(o)->key;
}
static uint64_t test_pod_hash(const krt_obj_t *o)
{
    const test_pod_t *p = test_pod(o);
    uint64_t h = krt_hash_str(p->key, 11);
    h = krt_hash_combine(h, krt_hash_str(p->ip, 12));
    return test_labels_hash(&p->labels, h);
}
static bool test_pod_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const test_pod_t *x = test_pod(a), *y = test_pod(b);
    return !strcmp(x->key, y->key) && !strcmp(x->ip, y->ip) &&
           test_labels_equal(&x->labels, &y->labels);
}
static void test_pod_free(krt_obj_t *o)
{
    test_pod_t *p = (test_pod_t *)o;
    krt_free(p->key);
    krt_free(p->name);
    krt_free(p->ns);
    krt_free(p->ip);
    test_labels_dispose(&p->labels);
    krt_free(p);
}
static json_t *test_pod_dump(const krt_obj_t *o)
{
    const test_pod_t *p = test_pod(o);
    return json_pack("{s:s,s:s,s:s,s:o}", "name", p->name, "namespace", p->ns, "ip", p->ip,
                     "labels", test_labels_dump(&p->labels));
}
static bool test_pod_labels(const krt_obj_t *o, krt_labels_t *out)
{
    const test_pod_t *p = test_pod(o);
    out->items = p->labels.items;
    out->len = p->labels.len;
    return true;
}
static const char *test_pod_namespace(const krt_obj_t *o)
{
    return test_pod(o)->ns;
}

static const krt_type_t test_pod_type KRT_TEST_UNUSED = {
    .name = "test.pod",
    .key = test_pod_key,
    .hash = test_pod_hash,
    .equals = test_pod_equals,
    .free = test_pod_free,
    .dump = test_pod_dump,
    .labels = test_pod_labels,
    .namespace_ = test_pod_namespace,
};

/* Returns: a sealed pod (owned by caller). |ip| and |labels| may be NULL. */
static inline const krt_obj_t *pod_new(const char *ns, const char *name, const char *ip,
                                       const char *labels)
{
    test_pod_t *p = krt_calloc(1, sizeof(*p));
    assert_non_null(p);
    p->name = krt_strdup(name);
    p->ns = krt_strdup(ns);
    p->ip = krt_strdup(ip ? ip : "");
    p->key = test_key_join(ns, name);
    test_labels_parse(&p->labels, labels);
    krt_obj_seal(&p->base, &test_pod_type);
    return &p->base;
}

static inline const char *pod_ip(const krt_obj_t *o)
{
    return test_pod(o)->ip;
}
static inline const char *pod_name(const krt_obj_t *o)
{
    return test_pod(o)->name;
}
/* Returns: the value of label |k| on the pod, or NULL. */
static inline const char *pod_label(const krt_obj_t *o, const char *k)
{
    const test_pod_t *p = test_pod(o);
    for (size_t i = 0; i < p->labels.len; i++)
        if (!strcmp(p->labels.items[i].key, k))
            return p->labels.items[i].value;
    return NULL;
}
/* Returns: a copy of |o| (owned by caller). */
static inline const krt_obj_t *pod_copy(const krt_obj_t *o)
{
    const test_pod_t *p = test_pod(o);
    return pod_new(p->ns, p->name, p->ip, p->labels.src);
}

/* ---------------------------------------------------------------------------------------------
 * Service: key "ns/name", a label selector and a port.
 * ------------------------------------------------------------------------------------------- */
typedef struct test_svc {
    krt_obj_t base;
    char *key;
    char *name;
    char *ns;
    test_labels_t selector;
    int port;
} test_svc_t;

static inline const test_svc_t *test_svc(const krt_obj_t *o)
{
    return (const test_svc_t *)o;
}
static const char *test_svc_key(const krt_obj_t *o)
{
    return test_svc(o)->key;
}
static uint64_t test_svc_hash(const krt_obj_t *o)
{
    const test_svc_t *s = test_svc(o);
    uint64_t h = krt_hash_str(s->key, 21);
    h = krt_hash_combine(h, (uint64_t)s->port);
    return test_labels_hash(&s->selector, h);
}
static bool test_svc_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const test_svc_t *x = test_svc(a), *y = test_svc(b);
    return !strcmp(x->key, y->key) && x->port == y->port &&
           test_labels_equal(&x->selector, &y->selector);
}
static void test_svc_free(krt_obj_t *o)
{
    test_svc_t *s = (test_svc_t *)o;
    krt_free(s->key);
    krt_free(s->name);
    krt_free(s->ns);
    test_labels_dispose(&s->selector);
    krt_free(s);
}
static json_t *test_svc_dump(const krt_obj_t *o)
{
    const test_svc_t *s = test_svc(o);
    return json_pack("{s:s,s:s,s:i,s:o}", "name", s->name, "namespace", s->ns, "port", s->port,
                     "selector", test_labels_dump(&s->selector));
}
static bool test_svc_selector(const krt_obj_t *o, krt_labels_t *out)
{
    const test_svc_t *s = test_svc(o);
    out->items = s->selector.items;
    out->len = s->selector.len;
    return true;
}
static const char *test_svc_namespace(const krt_obj_t *o)
{
    return test_svc(o)->ns;
}

static const krt_type_t test_svc_type KRT_TEST_UNUSED = {
    .name = "test.service",
    .key = test_svc_key,
    .hash = test_svc_hash,
    .equals = test_svc_equals,
    .free = test_svc_free,
    .dump = test_svc_dump,
    .selector = test_svc_selector,
    .namespace_ = test_svc_namespace,
};

static inline const krt_obj_t *svc_new(const char *ns, const char *name, const char *selector,
                                       int port)
{
    test_svc_t *s = krt_calloc(1, sizeof(*s));
    assert_non_null(s);
    s->name = krt_strdup(name);
    s->ns = krt_strdup(ns);
    s->key = test_key_join(ns, name);
    s->port = port;
    test_labels_parse(&s->selector, selector);
    krt_obj_seal(&s->base, &test_svc_type);
    return &s->base;
}

static inline const krt_obj_t *svc_copy(const krt_obj_t *o)
{
    const test_svc_t *s = test_svc(o);
    return svc_new(s->ns, s->name, s->selector.src, s->port);
}
static inline void svc_selector(const krt_obj_t *o, krt_labels_t *out)
{
    test_svc_selector(o, out);
}

/* ---------------------------------------------------------------------------------------------
 * kv: a key and a string value; the generic output type.
 * ------------------------------------------------------------------------------------------- */
typedef struct test_kv {
    krt_obj_t base;
    char *key;
    char *value;
} test_kv_t;

static inline const test_kv_t *test_kv(const krt_obj_t *o)
{
    return (const test_kv_t *)o;
}
static const char *test_kv_key(const krt_obj_t *o)
{
    return test_kv(o)->key;
}
static uint64_t test_kv_hash(const krt_obj_t *o)
{
    return krt_hash_combine(krt_hash_str(test_kv(o)->key, 31), krt_hash_str(test_kv(o)->value, 32));
}
static bool test_kv_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    return !strcmp(test_kv(a)->key, test_kv(b)->key) &&
           !strcmp(test_kv(a)->value, test_kv(b)->value);
}
static void test_kv_free(krt_obj_t *o)
{
    test_kv_t *k = (test_kv_t *)o;
    krt_free(k->key);
    krt_free(k->value);
    krt_free(k);
}
static json_t *test_kv_dump(const krt_obj_t *o)
{
    return json_pack("{s:s,s:s}", "key", test_kv(o)->key, "value", test_kv(o)->value);
}

static const krt_type_t test_kv_type KRT_TEST_UNUSED = {
    .name = "test.kv",
    .key = test_kv_key,
    .hash = test_kv_hash,
    .equals = test_kv_equals,
    .free = test_kv_free,
    .dump = test_kv_dump,
};

static inline const krt_obj_t *kv_new(const char *key, const char *value)
{
    test_kv_t *k = krt_calloc(1, sizeof(*k));
    assert_non_null(k);
    k->key = krt_strdup(key);
    k->value = krt_strdup(value ? value : "");
    krt_obj_seal(&k->base, &test_kv_type);
    return &k->base;
}

static inline const krt_obj_t *kv_newf(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline const krt_obj_t *kv_newf(const char *key, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return kv_new(key, buf);
}

static inline const char *kv_value(const krt_obj_t *o)
{
    return o ? test_kv(o)->value : NULL;
}

/* Returns: the value of the object with |key| in |c| (a kv collection), or NULL. */
static inline const char *kv_get(const krt_collection_t *c, const char *key)
{
    return kv_value(krt_collection_get(c, key));
}

/* ---------------------------------------------------------------------------------------------
 * Event recorder: a krt_handler_cb appending "add/KEY", "update/KEY", "delete/KEY".
 * ------------------------------------------------------------------------------------------- */
typedef struct test_rec {
    test_strlist_t events;
    size_t batches;           /* batches received since creation */
    krt_collection_t *expect; /* when set, every batch must come from this collection */
    test_strlist_t values;    /* "op/KEY=value" for kv objects (cur, or old on delete) */
} test_rec_t;

static inline const char *test_op_name(krt_op_t op)
{
    switch (op) {
    case KRT_ADD:
        return "add";
    case KRT_UPDATE:
        return "update";
    case KRT_DELETE:
        return "delete";
    }
    return "bad-op";
}

static void test_rec_cb(const krt_batch_t *batch, void *ud)
{
    test_rec_t *r = ud;
    assert_non_null(batch);
    if (r->expect)
        assert_ptr_equal(batch->collection, r->expect);
    /* The engine does not deliver empty batches. */
    assert_true(batch->len > 0);
    const char *prev = NULL;
    for (size_t i = 0; i < batch->len; i++) {
        const krt_event_t *ev = &batch->events[i];
        switch (ev->op) {
        case KRT_ADD:
            assert_null(ev->old);
            assert_non_null(ev->cur);
            break;
        case KRT_UPDATE:
            assert_non_null(ev->old);
            assert_non_null(ev->cur);
            assert_string_equal(krt_obj_key(ev->old), krt_obj_key(ev->cur));
            break;
        case KRT_DELETE:
            assert_non_null(ev->old);
            assert_null(ev->cur);
            break;
        default:
            fail_msg("bad op %d", (int)ev->op);
        }
        const krt_obj_t *latest = krt_event_latest(ev);
        assert_non_null(latest);
        const char *key = krt_obj_key(latest);
        /* Sorted by key, each key once. */
        if (prev)
            assert_true(strcmp(prev, key) < 0);
        prev = key;
        test_strlist_push(&r->events, "%s/%s", test_op_name(ev->op), key);
        if (latest->type == &test_kv_type)
            test_strlist_push(&r->values, "%s/%s=%s", test_op_name(ev->op), key, kv_value(latest));
    }
    r->batches++;
}

static inline void test_rec_init(test_rec_t *r)
{
    memset(r, 0, sizeof(*r));
}

static inline void test_rec_dispose(test_rec_t *r)
{
    test_strlist_dispose(&r->events);
    test_strlist_dispose(&r->values);
}

/* Subscribes a fresh recorder |r| to |c|. Returns the handler. */
static inline krt_handler_t *test_rec_subscribe(test_rec_t *r, krt_collection_t *c, bool replay)
{
    test_rec_init(r);
    r->expect = c;
    krt_handler_t *h = krt_collection_subscribe(c, test_rec_cb, r, replay);
    assert_non_null(h);
    return h;
}

/* Asserts the recorded events ("op/KEY") equal the NULL-terminated |want|, then clears the
 * recorder (both views). */
static inline void test_rec_expect_events(test_rec_t *r, const char *const *want, const char *file,
                                          int line)
{
    test_strlist_expect_at(&r->events, want, file, line);
    test_strlist_clear(&r->values);
}
/* The same on the "op/KEY=value" view (kv objects only). */
static inline void test_rec_expect_values(test_rec_t *r, const char *const *want, const char *file,
                                          int line)
{
    test_strlist_expect_at(&r->values, want, file, line);
    test_strlist_clear(&r->events);
}
#define EXPECT_EVENTS(rec, ...) \
    test_rec_expect_events((rec), (const char *const[]){__VA_ARGS__, NULL}, __FILE__, __LINE__)
#define EXPECT_VALUES(rec, ...) \
    test_rec_expect_values((rec), (const char *const[]){__VA_ARGS__, NULL}, __FILE__, __LINE__)
#define EXPECT_NO_EVENTS(rec) \
    test_rec_expect_events((rec), (const char *const[]){NULL}, __FILE__, __LINE__)

/* ---------------------------------------------------------------------------------------------
 * Log capture: krt_engine_set_log collecting "LEVEL: message".
 * ------------------------------------------------------------------------------------------- */
typedef struct test_log {
    test_strlist_t msgs;
    size_t warnings; /* messages at KRT_LOG_WARN or above */
} test_log_t;

static void test_log_cb(int level, const char *msg, void *ud)
{
    test_log_t *l = ud;
    static const char *names[] = {"debug", "info", "warn", "error"};
    const char *lv = (level >= 0 && level <= 3) ? names[level] : "?";
    test_strlist_push(&l->msgs, "%s: %s", lv, msg ? msg : "(null)");
    if (level >= KRT_LOG_WARN)
        l->warnings++;
}

/* Returns: how many captured messages contain |needle|. */
static inline size_t test_log_count(const test_log_t *l, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < l->msgs.len; i++)
        if (strstr(l->msgs.v[i], needle))
            n++;
    return n;
}

static inline void test_log_dispose(test_log_t *l)
{
    test_strlist_dispose(&l->msgs);
}

/* ---------------------------------------------------------------------------------------------
 * Engine fixture and step helpers.
 * ------------------------------------------------------------------------------------------- */
typedef struct test_env {
    krt_engine_t *e;
    test_log_t log;
} test_env_t;

static inline void test_env_init(test_env_t *env)
{
    memset(env, 0, sizeof(*env));
    env->e = krt_engine_new();
    assert_non_null(env->e);
    krt_engine_set_log(env->e, test_log_cb, &env->log);
    assert_int_equal(krt_engine_check(env->e), KRT_OK);
}

static inline void test_env_dispose(test_env_t *env)
{
    krt_engine_free(env->e);
    env->e = NULL;
    test_log_dispose(&env->log);
}

#define CHECK(e) assert_int_equal(krt_engine_check(e), KRT_OK)

/* Starts |env| with one static collection |name| of |type| (keeping events), the source most
 * tests begin with. Returns: the collection, owned by env's engine. */
static inline krt_collection_t *test_env_init_static(test_env_t *env, const krt_type_t *type,
                                                     const char *name)
{
    test_env_init(env);
    krt_collection_t *c = krt_static_new(env->e, type, name, true);
    assert_non_null(c);
    return c;
}

/* test_env_init_static with a recorder |rec| subscribed to the collection without replay. */
static inline krt_collection_t *test_static_recorded(test_env_t *env, test_rec_t *rec,
                                                     const krt_type_t *type, const char *name)
{
    krt_collection_t *c = test_env_init_static(env, type, name);
    test_rec_subscribe(rec, c, false);
    return c;
}

/* Flushes and asserts the result is |want| (name and number on failure), then checks invariants. */
static inline void test_flush_expect(krt_engine_t *e, int want)
{
    int rc = krt_engine_flush(e);
    if (rc != want)
        print_error("flush returned %s (%d), want %s (%d)\n", krt_err_name(rc), rc,
                    krt_err_name(want), want);
    assert_int_equal(rc, want);
    CHECK(e);
}
#define FLUSH(e) test_flush_expect((e), KRT_OK)

#define PUT(c, obj)                                           \
    do {                                                      \
        assert_int_equal(krt_static_put((c), (obj)), KRT_OK); \
        CHECK(krt_collection_engine(c));                      \
    } while (0)

#define DEL(c, key)                                         \
    do {                                                    \
        assert_int_equal(krt_static_delete((c), (key)), 1); \
        CHECK(krt_collection_engine(c));                    \
    } while (0)

static inline krt_stats_t test_stats(const krt_collection_t *c)
{
    krt_stats_t s;
    memset(&s, 0, sizeof(s));
    krt_collection_stats(c, &s);
    return s;
}
static inline uint64_t test_recomputes(const krt_collection_t *c)
{
    return test_stats(c).recomputes;
}

/* Returns: the keys of |c| in list order joined by " " (libc memory, caller frees). */
static inline char *test_keys(const krt_collection_t *c)
{
    size_t n = krt_collection_list(c, NULL, 0);
    const krt_obj_t **objs = calloc(n + 1, sizeof(*objs));
    assert_non_null(objs);
    assert_int_equal(krt_collection_list(c, objs, n), n);
    const char **keys = calloc(n + 1, sizeof(*keys));
    assert_non_null(keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = krt_obj_key(objs[i]);
    char *s = test_strlist_join(keys, n);
    free(keys);
    free(objs);
    return s;
}

#define EXPECT_KEYS(c, want)               \
    do {                                   \
        char *got_ = test_keys(c);         \
        assert_string_equal(got_, (want)); \
        free(got_);                        \
    } while (0)

/* Returns: the collection's dump serialized compactly (libc memory via jansson, caller frees). */
static inline char *test_dump_str(const krt_collection_t *c)
{
    json_t *d = krt_collection_dump(c);
    assert_non_null(d);
    char *s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(s);
    json_decref(d);
    return s;
}

/* A transformation of an index's buckets: kv(index key, number of members). */
static int test_count_members(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    size_t n = 0;
    krt_index_obj_items(in, &n);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%zu", n));
}

/* A transformation of pods that emits the pod unchanged when it has an IP (1 → 0..1). */
static int test_pod_with_ip(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    if (pod_ip(in)[0] == '\0')
        return KRT_OK;
    return krt_emit(ctx, pod_copy(in));
}

/* A transformation emitting kv(key of input, IP of the pod) when the pod has an IP. */
static int test_pod_to_ip_kv(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    if (pod_ip(in)[0] == '\0')
        return KRT_OK;
    return krt_emit(ctx, kv_new(krt_obj_key(in), pod_ip(in)));
}

/* Keeps the functions above "used" so -Wunused-function stays quiet in files that skip them. */
/* Returns: a KRT_DERIVE_ONE collection |name| of |pods| through test_pod_to_ip_kv (owned by the
 * engine of |pods|). */
static inline krt_collection_t *test_ips_new(krt_collection_t *pods, const char *name)
{
    krt_collection_t *c = krt_derive_new(krt_collection_engine(pods), pods, &test_kv_type, name,
                                         KRT_DERIVE_ONE, test_pod_to_ip_kv, NULL);
    assert_non_null(c);
    return c;
}

static inline void test_util_touch(void)
{
    (void)test_pod_with_ip;
    (void)test_pod_to_ip_kv;
    (void)test_count_members;
    (void)test_rec_cb;
    (void)test_log_cb;
}

#endif /* KRT_TEST_UTIL_H */
