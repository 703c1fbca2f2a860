/*
 * Helpers shared by the translate tests: a fixture that wires a kube source (the feeder
 * `krtgate translate` uses) to a translation graph, loads YAML, applies edits, flushes and checks
 * the engine's invariants, and a recorder of what every output and status collection announced.
 */
#ifndef TR_TEST_H
#define TR_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ir.h"
#include "krt/json.h"
#include "krt/krt.h"
#include "kube/manifest.h"
#include "kube/source.h"
#include "translate/translate.h"

typedef struct trt {
    krt_engine_t *e;
    kube_source_t *src;
    tr_graph_t *g;
    int engine_warnings; /* engine log lines at WARN and above (failed transforms, dup keys) */
} trt_t;

static inline void trt_silent(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

static inline void trt_engine_log(int level, const char *msg, void *ud)
{
    trt_t *t = ud;
    if (level >= KRT_LOG_WARN) {
        t->engine_warnings++;
        fprintf(stderr, "engine: %s\n", msg);
    }
}

static inline void trt_init(trt_t *t)
{
    memset(t, 0, sizeof *t);
    t->e = krt_engine_new();
    assert_non_null(t->e);
    krt_engine_set_log(t->e, trt_engine_log, t);
    kube_source_options_t o = {.log = trt_silent};
    t->src = kube_source_new(t->e, &o);
    assert_non_null(t->src);
    tr_sources_t in = {0};
    for (size_t i = 0; i < tr_source_kinds_len; i++)
        assert_int_equal(tr_sources_set(&in, tr_source_kinds[i],
                                        kube_source_collection(t->src, tr_source_kinds[i])),
                         TR_OK);
    int err = -99;
    t->g = tr_graph_new(t->e, &in, NULL, &err);
    assert_non_null(t->g);
    assert_int_equal(err, TR_OK);
}

static inline void trt_dispose(trt_t *t)
{
    tr_graph_free(t->g);
    kube_source_free(t->src);
    krt_engine_free(t->e);
    memset(t, 0, sizeof *t);
}

/* Applies every object of |m| as a put. */
static inline void trt_apply_manifest(trt_t *t, const kube_manifest_t *m)
{
    for (size_t i = 0; i < m->nitems; i++) {
        kube_change_t c = {KUBE_CHANGE_PUT, m->items[i].object, NULL, "test", false};
        assert_int_equal(kube_source_apply(t->src, &c, 1), KUBE_OK);
    }
}

/* Parses |yaml| and puts its objects. */
static inline void trt_put_yaml(trt_t *t, const char *yaml)
{
    kube_manifest_t m;
    kube_manifest_init(&m);
    assert_int_equal(kube_manifest_parse(&m, "test.yaml", yaml, strlen(yaml), NULL), KUBE_OK);
    for (size_t i = 0; i < m.nerrors; i++)
        fprintf(stderr, "%s\n", m.errors[i].message);
    assert_int_equal(m.nerrors, 0);
    trt_apply_manifest(t, &m);
    kube_manifest_dispose(&m);
}

/* Reads a file into memory (NUL-terminated); NULL when it cannot be read. */
static inline char *trt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Loads a YAML file into |m| (appending). */
static inline void trt_parse_file(kube_manifest_t *m, const char *path)
{
    size_t len = 0;
    char *text = trt_read_file(path, &len);
    if (!text)
        fail_msg("cannot read %s", path);
    assert_int_equal(kube_manifest_parse(m, path, text, len, NULL), KUBE_OK);
    for (size_t i = 0; i < m->nerrors; i++)
        fprintf(stderr, "%s\n", m->errors[i].message);
    assert_int_equal(m->nerrors, 0);
    free(text);
}

static inline void trt_delete(trt_t *t, const char *api_version, const char *kind, const char *ns,
                              const char *name)
{
    json_t *stub = ns ? json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", api_version, "kind",
                                  kind, "metadata", "name", name, "namespace", ns)
                      : json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", api_version, "kind", kind,
                                  "metadata", "name", name);
    kube_change_t c = {KUBE_CHANGE_DELETE, stub, NULL, "test", false};
    assert_int_equal(kube_source_apply(t->src, &c, 1), KUBE_OK);
    json_decref(stub);
}

static inline void trt_mark_synced(trt_t *t)
{
    kube_change_t c = {KUBE_CHANGE_SYNCED, NULL, NULL, "test", false};
    assert_int_equal(kube_source_apply(t->src, &c, 1), KUBE_OK);
}

/* Flushes and checks the engine's invariants and that no transformation failed. */
static inline void trt_flush(trt_t *t)
{
    assert_int_equal(krt_engine_flush(t->e), KRT_OK);
    assert_int_equal(krt_engine_check(t->e), KRT_OK);
    assert_int_equal(t->engine_warnings, 0);
}

/* Every output object is a valid IR object (ir_obj_check) scoped as its kind requires. */
static inline bool trt_check_ir_obj(const krt_obj_t *o, void *ud)
{
    ir_kind_t kind = (ir_kind_t)(uintptr_t)ud;
    const ir_obj_t *x = ir_obj_from_krt(o);
    assert_non_null(x);
    ir_err_t err = {0};
    if (ir_obj_check(x, &err) != IR_OK)
        fail_msg("%s: %s", krt_obj_key(o), err.msg);
    assert_int_equal(ir_obj_kind(x), kind);
    if (kind == IR_KIND_ADDRESS)
        assert_null(ir_obj_gateway(x));
    else
        assert_non_null(ir_obj_gateway(x));
    return true;
}

static inline void trt_check_outputs(trt_t *t)
{
    for (int k = IR_KIND_BIND; k <= IR_KIND_ADDRESS; k++)
        krt_collection_foreach(tr_graph_output(t->g, (ir_kind_t)k), trt_check_ir_obj,
                               (void *)(uintptr_t)k);
}

/* ---------------------------------------------------------------------------------------------
 * Recorder: the keys every output and status collection announced in the last flush, as
 * "<collection>:<op><key>" strings ('+' add, '~' update, '-' delete), sorted.
 * ------------------------------------------------------------------------------------------- */
typedef struct trt_rec {
    char **items;
    size_t n, cap;
} trt_rec_t;

static inline void trt_rec_cb(const krt_batch_t *batch, void *ud)
{
    trt_rec_t *r = ud;
    for (size_t i = 0; i < batch->len; i++) {
        const krt_event_t *ev = &batch->events[i];
        char op = ev->op == KRT_ADD ? '+' : ev->op == KRT_DELETE ? '-' : '~';
        const char *cname = krt_collection_name(batch->collection);
        const char *slash = strrchr(cname, '/');
        /* "tr/http-routes/status" -> "http-routes/status"; "tr/Route" -> "Route" */
        const char *short_name = strncmp(cname, "tr/", 3) == 0 ? cname + 3 : cname;
        (void)slash;
        size_t len = strlen(short_name) + strlen(krt_obj_key(krt_event_latest(ev))) + 4;
        char *s = malloc(len);
        assert_non_null(s);
        snprintf(s, len, "%s:%c%s", short_name, op, krt_obj_key(krt_event_latest(ev)));
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 16;
            r->items = realloc(r->items, r->cap * sizeof *r->items);
            assert_non_null(r->items);
        }
        r->items[r->n++] = s;
    }
}

static inline void trt_rec_clear(trt_rec_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->items[i]);
    r->n = 0;
}

static inline void trt_rec_dispose(trt_rec_t *r)
{
    trt_rec_clear(r);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static inline void trt_rec_subscribe(trt_t *t, trt_rec_t *r)
{
    for (int k = IR_KIND_BIND; k <= IR_KIND_ADDRESS; k++)
        assert_non_null(
            krt_collection_subscribe(tr_graph_output(t->g, (ir_kind_t)k), trt_rec_cb, r, false));
    for (int k = 0; k < TR_STATUS_KIND_COUNT; k++)
        assert_non_null(krt_collection_subscribe(tr_graph_status(t->g, (tr_status_kind_t)k),
                                                 trt_rec_cb, r, false));
}

static inline int trt_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Asserts the recorded set equals |expected| (NULL-terminated), in any order; prints both on a
 * mismatch. */
static inline void trt_rec_expect(trt_rec_t *r, const char *const *expected, const char *what)
{
    size_t n = 0;
    while (expected[n])
        n++;
    const char **exp = malloc((n + 1) * sizeof *exp);
    memcpy(exp, expected, n * sizeof *exp);
    qsort(exp, n, sizeof *exp, trt_strcmp);
    if (r->n)
        qsort(r->items, r->n, sizeof *r->items, trt_strcmp);
    bool same = n == r->n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(exp[i], r->items[i]) == 0;
    if (!same) {
        fprintf(stderr, "%s: announced changes differ\n  expected:\n", what);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "    %s\n", exp[i]);
        fprintf(stderr, "  got:\n");
        for (size_t i = 0; i < r->n; i++)
            fprintf(stderr, "    %s\n", r->items[i]);
    }
    free(exp);
    assert_true(same);
}

/* ---------------------------------------------------------------------------------------------
 * Recompute counters of the graph's own collections ("tr/..."), by name.
 * ------------------------------------------------------------------------------------------- */
#define TRT_MAX_COLLS 64
typedef struct trt_counts {
    size_t n;
    char names[TRT_MAX_COLLS][64];
    uint64_t recomputes[TRT_MAX_COLLS];
    uint64_t scans[TRT_MAX_COLLS];
} trt_counts_t;

static inline void trt_counts_take(trt_t *t, trt_counts_t *c)
{
    memset(c, 0, sizeof *c);
    json_t *dump = krt_engine_dump(t->e);
    size_t i;
    json_t *col;
    json_array_foreach(json_object_get(dump, "collections"), i, col)
    {
        const char *name = json_string_value(json_object_get(col, "name"));
        const char *kind = json_string_value(json_object_get(col, "kind"));
        if (!name || strncmp(name, "tr/", 3) != 0 || strcmp(kind, "derived") != 0)
            continue;
        krt_collection_t *cc = krt_engine_collection(t->e, name);
        krt_stats_t st;
        krt_collection_stats(cc, &st);
        assert_true(c->n < TRT_MAX_COLLS);
        snprintf(c->names[c->n], sizeof c->names[c->n], "%s", name + 3);
        c->recomputes[c->n] = st.recomputes;
        c->scans[c->n] = st.scans;
        c->n++;
    }
    json_decref(dump);
}

/* Asserts, for every derived collection of the graph, recomputes(after) - recomputes(before)
 * equals the count given for it in |expected| ("name=N" strings, NULL-terminated; collections not
 * named must not have recomputed), and that no collection scanned. */
static inline void trt_counts_expect(const trt_counts_t *before, const trt_counts_t *after,
                                     const char *const *expected, const char *what)
{
    bool ok = true;
    for (size_t i = 0; i < after->n; i++) {
        uint64_t delta = after->recomputes[i] - (i < before->n ? before->recomputes[i] : 0);
        uint64_t want = 0;
        for (size_t j = 0; expected[j]; j++) {
            size_t len = strcspn(expected[j], "=");
            if (strlen(after->names[i]) == len && strncmp(after->names[i], expected[j], len) == 0)
                want = strtoull(expected[j] + len + 1, NULL, 10);
        }
        if (delta != want) {
            fprintf(stderr, "%s: %s recomputed %llu times, expected %llu\n", what, after->names[i],
                    (unsigned long long)delta, (unsigned long long)want);
            ok = false;
        }
        if (after->scans[i] != 0) {
            fprintf(stderr, "%s: %s scanned %llu objects\n", what, after->names[i],
                    (unsigned long long)after->scans[i]);
            ok = false;
        }
    }
    assert_true(ok);
}

/* ---------------------------------------------------------------------------------------------
 * A fixture for incremental tests: a world translated and flushed, then every change and every
 * recompute counted from there on.
 * ------------------------------------------------------------------------------------------- */
typedef struct trt_fx {
    trt_t t;
    trt_rec_t rec;
    trt_counts_t before;
} trt_fx_t;

/* Returns: the fixture of |world_yaml| and then |more_yaml| (NULL: none), free with
 * trt_fx_teardown. */
static inline trt_fx_t *trt_fx_new(const char *world_yaml, const char *more_yaml)
{
    trt_fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    trt_init(&f->t);
    trt_put_yaml(&f->t, world_yaml);
    if (more_yaml)
        trt_put_yaml(&f->t, more_yaml);
    trt_mark_synced(&f->t);
    trt_flush(&f->t);
    trt_rec_subscribe(&f->t, &f->rec);
    trt_counts_take(&f->t, &f->before);
    return f;
}

/* cmocka teardown of a trt_fx_t in *state. */
static inline int trt_fx_teardown(void **state)
{
    trt_fx_t *f = *state;
    trt_rec_dispose(&f->rec);
    trt_dispose(&f->t);
    free(f);
    return 0;
}

/* The objects a fixture starts from: |yaml|, then |more| (NULL: none). */
typedef struct trt_world {
    const char *yaml;
    const char *more;
} trt_world_t;

/* cmocka setup: the test's initial state is a trt_world_t (borrowed), replaced by its fixture. */
static inline int trt_fx_setup(void **state)
{
    const trt_world_t *w = *state;
    *state = trt_fx_new(w->yaml, w->more);
    return 0;
}

/* A test run on a fresh fixture of |world| (a trt_world_t *, which must outlive the run). */
#define TRT_FX_TEST(test, world) \
    cmocka_unit_test_prestate_setup_teardown(test, trt_fx_setup, trt_fx_teardown, (void *)(world))

/* Whether the graph's dump (tr_graph_dump_lines: every resource and status) contains |s|. */
static inline bool trt_dump_has(trt_t *t, const char *s)
{
    char *lines = tr_graph_dump_lines(t->g);
    assert_non_null(lines);
    bool has = strstr(lines, s) != NULL;
    free(lines);
    return has;
}

/* Asserts the graph's dump contains every string of |present| and none of |absent| (both
 * NULL-terminated); prints each one that is not as expected. */
static inline void trt_dump_expect(trt_t *t, const char *const *present, const char *const *absent)
{
    char *lines = tr_graph_dump_lines(t->g);
    assert_non_null(lines);
    bool ok = true;
    for (size_t i = 0; present[i]; i++)
        if (!strstr(lines, present[i])) {
            fprintf(stderr, "dump lacks %s\n", present[i]);
            ok = false;
        }
    for (size_t i = 0; absent[i]; i++)
        if (strstr(lines, absent[i])) {
            fprintf(stderr, "dump has %s\n", absent[i]);
            ok = false;
        }
    free(lines);
    assert_true(ok);
}

/* The status object |key| of |kind| as compact JSON with sorted keys (owned by caller: free). */
static inline char *trt_status_text(trt_t *t, tr_status_kind_t kind, const char *key)
{
    const krt_obj_t *st = krt_collection_get(tr_graph_status(t->g, kind), key);
    if (!st)
        fail_msg("no status %s", key);
    char *text = json_dumps(tr_status_json(st), JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(text);
    return text;
}

/* Flushes and checks the outputs, the announced changes and the recompute counts since the
 * fixture was made (|changes| and |recomputes| as trt_rec_expect and trt_counts_expect take). */
static inline void trt_fx_expect(trt_fx_t *f, const char *what, const char *const *changes,
                                 const char *const *recomputes)
{
    trt_flush(&f->t);
    trt_check_outputs(&f->t);
    trt_rec_expect(&f->rec, changes, what);
    trt_counts_t after;
    trt_counts_take(&f->t, &after);
    trt_counts_expect(&f->before, &after, recomputes, what);
}

#endif /* TR_TEST_H */
