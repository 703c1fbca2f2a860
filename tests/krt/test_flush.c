/*
 * The flush: what krt_engine_flush() promises beyond any single collection kind.
 *
 * These behaviours have no Istio counterpart; they are why the engine exists: a burst of changes to
 * one object costs one recompute and one event (Istio: one per event batch, istio#60366); a diamond
 * is glitch-free (the bottom of the diamond runs once, against settled upstream state); subscribers
 * run after every collection is settled, in creation then subscription order; and the flush refuses
 * re-entry (from a handler) and mutation (from a transformation).
 */
#include "krt_test_util.h"

#include "engine.h" /* batch capacities, for the tests of C6 and of the room given back */

static void test_flush_burst_of_puts_costs_one_recompute_and_one_event(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *ips = test_ips_new(pods, "ips");
    PUT(pods, pod_new("ns", "a", "10.0.0.0", NULL));
    PUT(pods, pod_new("ns", "other", "10.9.9.9", NULL));
    FLUSH(env.e);
    test_rec_t rp, ri;
    test_rec_subscribe(&rp, pods, false);
    test_rec_subscribe(&ri, ips, false);
    uint64_t runs = test_recomputes(ips);
    krt_stats_t before = test_stats(ips);

    for (int i = 1; i <= 100; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
        PUT(pods, pod_new("ns", "a", ip, NULL));
    }
    FLUSH(env.e);
    EXPECT_EVENTS(&rp, "update/ns/a");
    EXPECT_VALUES(&ri, "update/ns/a=10.0.0.100");
    assert_int_equal(rp.batches, 1);
    assert_int_equal(ri.batches, 1);
    assert_int_equal(test_recomputes(ips), runs + 1);
    krt_stats_t after = test_stats(ips);
    assert_int_equal(after.events, before.events + 1);
    assert_int_equal(after.batches, before.batches + 1);

    test_rec_dispose(&rp);
    test_rec_dispose(&ri);
    test_env_dispose(&env);
}

/* The glitch-freedom diamond: A → B, A → C, and D fetches B and C. */
static int prefix_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%s%s", (const char *)ud, kv_value(in)));
}

typedef struct diamond {
    krt_collection_t *b, *c;
    test_strlist_t seen; /* what D's transformation read, one entry per run */
} diamond_t;

static int bottom_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    diamond_t *d = ud;
    const krt_obj_t *b = krt_fetch_key(ctx, d->b, "x");
    const krt_obj_t *c = krt_fetch_key(ctx, d->c, "x");
    const char *bv = b ? kv_value(b) : "-", *cv = c ? kv_value(c) : "-";
    test_strlist_push(&d->seen, "%s,%s", bv, cv);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%s,%s", bv, cv));
}

static void test_flush_diamond_is_glitch_free(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *a = test_env_init_static(&env, &test_kv_type, "a");
    krt_collection_t *q = krt_static_new(env.e, &test_kv_type, "q", true);
    diamond_t d = {0};
    d.b = krt_derive_new(env.e, a, &test_kv_type, "b", KRT_DERIVE_ONE, prefix_fn, "b");
    d.c = krt_derive_new(env.e, a, &test_kv_type, "c", KRT_DERIVE_ONE, prefix_fn, "c");
    krt_collection_t *bottom =
        krt_derive_new(env.e, q, &test_kv_type, "d", KRT_DERIVE_ONE, bottom_fn, &d);
    PUT(a, kv_new("x", "1"));
    PUT(q, kv_new("q", ""));
    test_rec_t rec;
    test_rec_subscribe(&rec, bottom, false);
    FLUSH(env.e);
    EXPECT_STRS(&d.seen, "b1,c1");
    EXPECT_VALUES(&rec, "add/q=b1,c1");

    /* One change to A: D runs once and sees B and C both already updated. */
    PUT(a, kv_new("x", "2"));
    FLUSH(env.e);
    EXPECT_STRS(&d.seen, "b2,c2");
    EXPECT_VALUES(&rec, "update/q=b2,c2");

    /* Also when D's own input changes in the same flush. */
    PUT(a, kv_new("x", "3"));
    PUT(q, kv_new("q", "touched"));
    FLUSH(env.e);
    EXPECT_STRS(&d.seen, "b3,c3");
    EXPECT_VALUES(&rec, "update/q=b3,c3");

    DEL(a, "x");
    FLUSH(env.e);
    EXPECT_STRS(&d.seen, "-,-");

    test_strlist_dispose(&d.seen);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

/* D derived from B (primary) and fetching C (secondary): both dirty in one flush, one run. */
static int bottom_from_b_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    diamond_t *d = ud;
    const krt_obj_t *c = krt_fetch_key(ctx, d->c, krt_obj_key(in));
    const char *b = kv_value(in), *cv = c ? kv_value(c) : "-";
    assert_non_null(b);
    assert_non_null(cv);
    test_strlist_push(&d->seen, "%s,%s", b, cv);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%s,%s", b, cv));
}

static void test_flush_input_dirty_as_primary_and_secondary_runs_once(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *a = test_env_init_static(&env, &test_kv_type, "a");
    diamond_t d = {0};
    d.b = krt_derive_new(env.e, a, &test_kv_type, "b", KRT_DERIVE_ONE, prefix_fn, "b");
    d.c = krt_derive_new(env.e, a, &test_kv_type, "c", KRT_DERIVE_ONE, prefix_fn, "c");
    krt_collection_t *bottom =
        krt_derive_new(env.e, d.b, &test_kv_type, "d", KRT_DERIVE_ONE, bottom_from_b_fn, &d);
    PUT(a, kv_new("x", "1"));
    FLUSH(env.e);
    EXPECT_STRS(&d.seen, "b1,c1");
    uint64_t runs = test_recomputes(bottom);
    PUT(a, kv_new("x", "2"));
    FLUSH(env.e);
    EXPECT_STRS(&d.seen, "b2,c2");
    assert_int_equal(test_recomputes(bottom), runs + 1);
    assert_string_equal(kv_get(bottom, "x"), "b2,c2");
    test_strlist_dispose(&d.seen);
    test_env_dispose(&env);
}

static void test_flush_propagates_through_a_chain_in_one_flush(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *a = test_env_init_static(&env, &test_kv_type, "a");
    krt_collection_t *prev = a;
    krt_collection_t *stages[5];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "stage%d", i);
        stages[i] =
            krt_derive_new(env.e, prev, &test_kv_type, name, KRT_DERIVE_ONE, prefix_fn, ">");
        assert_non_null(stages[i]);
        prev = stages[i];
    }
    PUT(a, kv_new("k", "v"));
    FLUSH(env.e);
    assert_string_equal(kv_get(stages[4], "k"), ">>>>>v");
    DEL(a, "k");
    FLUSH(env.e);
    assert_int_equal(krt_collection_len(stages[4]), 0);
    test_env_dispose(&env);
}

typedef struct reentry {
    krt_engine_t *e;
    int flush_rc;
    int calls;
} reentry_t;

static void flushing_handler(const krt_batch_t *b, void *ud)
{
    (void)b;
    reentry_t *r = ud;
    r->calls++;
    r->flush_rc = krt_engine_flush(r->e);
}

static void test_flush_inside_a_handler_returns_ebusy(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    reentry_t r = {.e = env.e, .flush_rc = 1};
    assert_non_null(krt_collection_subscribe(kvs, flushing_handler, &r, false));
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.flush_rc, KRT_EBUSY);
    assert_int_equal(krt_engine_flushes(env.e), 1);
    test_env_dispose(&env);
}

typedef struct mutating {
    krt_collection_t *other;
    krt_engine_t *e;
    int put_rc, put_if_rc, del_rc, reset_rc, flush_rc;
} mutating_t;

static int mutating_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    mutating_t *m = ud;
    m->put_rc = krt_static_put(m->other, kv_new("from-transform", "x"));
    m->put_if_rc = krt_static_put_if_changed(m->other, kv_new("from-transform", "y"));
    m->del_rc = krt_static_delete(m->other, "existing");
    const krt_obj_t *objs[] = {kv_new("reset", "z")};
    m->reset_rc = krt_static_reset(m->other, objs, 1);
    m->flush_rc = krt_engine_flush(m->e);
    return krt_emit(ctx, kv_new(krt_obj_key(in), "ok"));
}

static void test_static_mutation_inside_a_transformation_returns_ebusy(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *other = test_env_init_static(&env, &test_kv_type, "other");
    krt_collection_t *src = krt_static_new(env.e, &test_kv_type, "src", true);
    PUT(other, kv_new("existing", "1"));
    FLUSH(env.e);
    mutating_t m = {.other = other, .e = env.e};
    krt_collection_t *out =
        krt_derive_new(env.e, src, &test_kv_type, "mutating", KRT_DERIVE_ONE, mutating_fn, &m);
    PUT(src, kv_new("a", ""));
    FLUSH(env.e);
    assert_int_equal(m.put_rc, KRT_EBUSY);
    assert_int_equal(m.put_if_rc, KRT_EBUSY);
    assert_true(m.del_rc < 0);
    assert_int_equal(m.reset_rc, KRT_EBUSY);
    assert_int_equal(m.flush_rc, KRT_EBUSY);
    /* Nothing happened to |other|. */
    EXPECT_KEYS(other, "existing");
    assert_false(krt_engine_pending(env.e));
    assert_string_equal(kv_get(out, "a"), "ok");
    test_env_dispose(&env);
}

/* Inside the handler of the first collection, reads the derived collection: it must be settled. */
typedef struct settled_probe {
    krt_collection_t *derived;
    test_strlist_t seen;
} settled_probe_t;

static void settled_handler(const krt_batch_t *b, void *ud)
{
    (void)b;
    settled_probe_t *p = ud;
    const char *v = kv_get(p->derived, "ns/a");
    test_strlist_push(&p->seen, "%s", v ? v : "-");
}

static void test_flush_runs_subscribers_after_every_collection_is_settled(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *ips = test_ips_new(pods, "ips");
    settled_probe_t p = {.derived = ips};
    assert_non_null(krt_collection_subscribe(pods, settled_handler, &p, false));
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_STRS(&p.seen, "1.1.1.1");
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_STRS(&p.seen, "2.2.2.2");
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_STRS(&p.seen, "-");
    test_strlist_dispose(&p.seen);
    test_env_dispose(&env);
}

typedef struct order_probe {
    test_strlist_t *log;
    const char *name;
} order_probe_t;

static void order_handler(const krt_batch_t *b, void *ud)
{
    order_probe_t *p = ud;
    test_strlist_push(p->log, "%s:%s", p->name, krt_collection_name(b->collection));
}

static void test_flush_delivers_in_creation_then_subscription_order(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    test_strlist_t log = {0};
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *ips = test_ips_new(pods, "ips");
    krt_collection_t *late = krt_static_new(env.e, &test_kv_type, "late", true);
    /* Subscribed in an order unlike creation order. */
    order_probe_t h1 = {&log, "h1"}, h2 = {&log, "h2"}, h3 = {&log, "h3"}, h4 = {&log, "h4"};
    assert_non_null(krt_collection_subscribe(late, order_handler, &h1, false));
    assert_non_null(krt_collection_subscribe(ips, order_handler, &h2, false));
    assert_non_null(krt_collection_subscribe(pods, order_handler, &h3, false));
    assert_non_null(krt_collection_subscribe(pods, order_handler, &h4, false));
    PUT(late, kv_new("x", "1"));
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_STRS(&log, "h3:pods", "h4:pods", "h2:ips", "h1:late");
    test_strlist_dispose(&log);
    test_env_dispose(&env);
}

typedef struct chained {
    krt_collection_t *target;
    int rc;
    int calls;
} chained_t;

static void putting_handler(const krt_batch_t *b, void *ud)
{
    chained_t *c = ud;
    c->calls++;
    for (size_t i = 0; i < b->len; i++) {
        const krt_obj_t *o = krt_event_latest(&b->events[i]);
        c->rc = krt_static_put(c->target, kv_new(krt_obj_key(o), "copied"));
    }
}

static void test_flush_mutation_from_a_handler_waits_for_the_next_flush(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    /* The target was created before the source: mutations go upstream too. */
    krt_collection_t *target = krt_static_new(env.e, &test_kv_type, "target", true);
    krt_collection_t *src = krt_static_new(env.e, &test_kv_type, "src", true);
    chained_t c = {.target = target, .rc = 1};
    assert_non_null(krt_collection_subscribe(src, putting_handler, &c, false));
    test_rec_t rec;
    test_rec_subscribe(&rec, target, false);
    PUT(src, kv_new("k", "v"));
    FLUSH(env.e);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.rc, KRT_OK);
    /* Visible at once, announced at the next flush. */
    assert_string_equal(kv_get(target, "k"), "copied");
    assert_true(krt_engine_pending(env.e));
    EXPECT_NO_EVENTS(&rec);
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/k=copied");
    assert_false(krt_engine_pending(env.e));
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

typedef struct subscribing {
    krt_collection_t *c;
    test_rec_t inner;
    krt_handler_t *inner_h;
    krt_handler_t *self;
    bool unsubscribe_self;
    int calls;
} subscribing_t;

static void subscribing_handler(const krt_batch_t *b, void *ud)
{
    (void)b;
    subscribing_t *s = ud;
    s->calls++;
    if (!s->inner_h) {
        test_rec_init(&s->inner);
        s->inner_h = krt_collection_subscribe(s->c, test_rec_cb, &s->inner, false);
        assert_non_null(s->inner_h);
    }
    if (s->unsubscribe_self) {
        krt_handler_unsubscribe(s->self);
        s->self = NULL;
    }
}

static void test_flush_handler_subscribed_during_delivery_misses_that_batch(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    subscribing_t s = {.c = kvs};
    s.self = krt_collection_subscribe(kvs, subscribing_handler, &s, false);
    assert_non_null(s.self);
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    assert_int_equal(s.calls, 1);
    assert_non_null(s.inner_h);
    EXPECT_NO_EVENTS(&s.inner);
    PUT(kvs, kv_new("b", "1"));
    FLUSH(env.e);
    EXPECT_EVENTS(&s.inner, "add/b");
    assert_int_equal(s.calls, 2);
    test_rec_dispose(&s.inner);
    test_env_dispose(&env);
}

static void test_flush_handler_may_unsubscribe_itself(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    subscribing_t s = {.c = kvs, .unsubscribe_self = true};
    s.self = krt_collection_subscribe(kvs, subscribing_handler, &s, false);
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    assert_int_equal(s.calls, 1);
    PUT(kvs, kv_new("b", "1"));
    FLUSH(env.e);
    assert_int_equal(s.calls, 1);
    EXPECT_EVENTS(&s.inner, "add/b");
    test_rec_dispose(&s.inner);
    test_env_dispose(&env);
}

typedef struct unsub_other {
    krt_handler_t *victim;
    int calls;
} unsub_other_t;

static void unsubscribing_other_handler(const krt_batch_t *b, void *ud)
{
    (void)b;
    unsub_other_t *u = ud;
    u->calls++;
    krt_handler_unsubscribe(u->victim);
    u->victim = NULL;
}

static void test_flush_handler_unsubscribed_during_delivery_gets_nothing_more(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    krt_collection_t *later =
        krt_derive_new(env.e, kvs, &test_kv_type, "later", KRT_DERIVE_ONE, prefix_fn, "");
    unsub_other_t u = {0};
    assert_non_null(krt_collection_subscribe(kvs, unsubscribing_other_handler, &u, false));
    /* The victim is on the same collection; a bystander on a later collection still hears. */
    test_rec_t same, other;
    krt_handler_t *hs = test_rec_subscribe(&same, kvs, false);
    test_rec_subscribe(&other, later, false);
    u.victim = hs;
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    assert_int_equal(u.calls, 1);
    assert_int_equal(same.batches, 0);
    EXPECT_EVENTS(&other, "add/a");
    test_rec_dispose(&same);
    test_rec_dispose(&other);
    test_env_dispose(&env);
}

static void test_flush_emits_one_batch_per_collection_with_each_key_once(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *ips = test_ips_new(pods, "ips");
    test_rec_t rec;
    test_rec_subscribe(&rec, ips, false);
    for (int i = 9; i >= 0; i--) {
        char name[8], ip[16];
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(ip, sizeof(ip), "1.1.1.%d", i);
        PUT(pods, pod_new("ns", name, ip, NULL));
        PUT(pods, pod_new("ns", name, ip, "touched=1"));
    }
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/p0", "add/ns/p1", "add/ns/p2", "add/ns/p3", "add/ns/p4",
                  "add/ns/p5", "add/ns/p6", "add/ns/p7", "add/ns/p8", "add/ns/p9");
    assert_int_equal(rec.batches, 1);
    assert_int_equal(krt_engine_flushes(env.e), 1);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}


/* An allocator that fails every allocation while |failing| is set. */
static bool failing;
static void *fail_malloc(size_t size, void *ud)
{
    (void)ud;
    return failing ? NULL : malloc(size);
}
static void *fail_realloc(void *p, size_t size, void *ud)
{
    (void)ud;
    return failing ? NULL : realloc(p, size);
}
static void fail_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static const krt_obj_t *kv_num(int i)
{
    char k[16];
    snprintf(k, sizeof(k), "%d", i);
    return kv_new(k, k);
}

static int kv_identity(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    return krt_emit(ctx, kv_new(krt_obj_key(in), kv_value(in)));
}

static void test_flush_gives_back_batch_room_and_reserves_it_again_on_touch(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    /* The target was created before the source, so the handler's puts touch it after its own
     * batch was published: the room for them must survive the end of the flush (C6). */
    krt_collection_t *target = krt_static_new(env.e, &test_kv_type, "target", true);
    krt_collection_t *src = krt_static_new(env.e, &test_kv_type, "src", true);
    krt_collection_t *copy =
        krt_map_new(env.e, src, &test_kv_type, "copy", kv_identity, NULL);
    chained_t ch = {.target = target, .rc = 1};
    assert_non_null(krt_collection_subscribe(src, putting_handler, &ch, false));
    test_rec_t rec;
    test_rec_subscribe(&rec, target, false);
    for (int i = 0; i < 1000; i++)
        PUT(src, kv_num(i));
    assert_true(src->batch.cap >= 1000);
    FLUSH(env.e);
    assert_int_equal(krt_collection_len(copy), 1000);
    /* src and copy published 1000 events; their room went back with the batch. */
    assert_true(src->batch.cap <= 32 && src->batch_keys.cap <= 32);
    assert_true(copy->batch.cap <= 32 && copy->batch_keys.cap <= 32);
    assert_true(copy->touched.cap <= KRT__MAP_SCRATCH_KEEP);
    /* target holds 1000 touched keys from the handler, and room for their events. */
    assert_int_equal(target->touched.len, 1000);
    assert_true(target->batch.cap >= 1000 && target->batch_keys.cap >= 1000);
    FLUSH(env.e);
    assert_int_equal(rec.events.len, 1000);
    assert_true(target->batch.cap <= 32);

    /* Touching a key reserves its event's room again. 64 touched keys fill the regrown room
     * exactly; a 65th key (already interned, its touched entry fits) needs more, and when that
     * allocation fails the put fails whole. */
    for (int i = 0; i < 64; i++)
        PUT(src, kv_num(i));
    assert_int_equal(src->touched.len, 64);
    assert_int_equal(src->batch.cap, 64);
    const krt_obj_t *o = kv_new("100", "changed");
    krt_allocator_t a = {fail_malloc, fail_realloc, fail_free, NULL};
    krt_allocator_set(&a);
    failing = true;
    int rc = krt_static_put(src, o); /* takes o, also on failure */
    failing = false;
    krt_allocator_set(NULL);
    assert_int_equal(rc, KRT_ENOMEM);
    CHECK(env.e);
    assert_string_equal(kv_get(src, "100"), "100");
    assert_int_equal(src->touched.len, 64);
    PUT(src, kv_new("100", "changed"));
    assert_true(src->batch.cap >= 65);
    FLUSH(env.e);
    assert_string_equal(kv_get(copy, "100"), "changed");
    assert_string_equal(kv_get(copy, "63"), "63");
    /* A run of large flushes keeps its tables (no regrowing every flush); the first small flush
     * after it gives them back. The flush above (65 keys) was large: start after a small one. */
    PUT(src, kv_num(2));
    FLUSH(env.e);
    assert_true(src->batch.cap <= 32);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++)
            PUT(src, kv_num(i));
        FLUSH(env.e);
        if (round == 0)
            assert_true(src->batch.cap <= 32);
        else
            assert_true(src->batch.cap >= 200 && src->touched.cap >= 256);
    }
    PUT(src, kv_num(1));
    FLUSH(env.e);
    assert_true(src->batch.cap <= 32 && src->touched.cap <= KRT__MAP_SCRATCH_KEEP);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_burst_of_puts_costs_one_recompute_and_one_event),
        cmocka_unit_test(test_flush_diamond_is_glitch_free),
        cmocka_unit_test(test_flush_input_dirty_as_primary_and_secondary_runs_once),
        cmocka_unit_test(test_flush_propagates_through_a_chain_in_one_flush),
        cmocka_unit_test(test_flush_inside_a_handler_returns_ebusy),
        cmocka_unit_test(test_static_mutation_inside_a_transformation_returns_ebusy),
        cmocka_unit_test(test_flush_runs_subscribers_after_every_collection_is_settled),
        cmocka_unit_test(test_flush_delivers_in_creation_then_subscription_order),
        cmocka_unit_test(test_flush_mutation_from_a_handler_waits_for_the_next_flush),
        cmocka_unit_test(test_flush_handler_subscribed_during_delivery_misses_that_batch),
        cmocka_unit_test(test_flush_handler_may_unsubscribe_itself),
        cmocka_unit_test(test_flush_handler_unsubscribed_during_delivery_gets_nothing_more),
        cmocka_unit_test(test_flush_emits_one_batch_per_collection_with_each_key_once),
        cmocka_unit_test(test_flush_gives_back_batch_room_and_reserves_it_again_on_touch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
