/*
 * The delta ADS session, sans-IO (xds/session.c): every protocol rule of xds/session.h, asserted on
 * exact responses (type, nonce, resources and removals in order), with the session's and the
 * store's invariants checked after every step.
 */
#include "xds_test_util.h"

#define GW1 "default/gw1"
#define GW2 "default/gw2"
#define A   "A"
#define R   "R"

static const char *ADDR1 = "default/svc1.default.svc.cluster.local";
static const char *ADDR2 = "default/svc2.default.svc.cluster.local";

typedef struct fx {
    xds_store_t *st;
    xds_session_t *s;
} fx_t;

/* gw1 holds one of each Resource kind, gw2 a bind and a route, and two Addresses are unscoped. */
static void fill(xds_store_t *st)
{
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 1);
    xt_put(st, IR_KIND_LISTENER, GW1, "default/gw1.http", 1);
    xt_put(st, IR_KIND_TCP_ROUTE, GW1, "default/t1", 1);
    xt_put(st, IR_KIND_BIND, GW1, "80/default/gw1", 1);
    xt_put(st, IR_KIND_POLICY, GW1, "traffic/default/p1:timeout", 1);
    xt_put(st, IR_KIND_BACKEND, GW1, "default/b1", 1);
    xt_put(st, IR_KIND_BIND, GW2, "80/default/gw2", 1);
    xt_put(st, IR_KIND_ROUTE, GW2, "default/r2.00.http", 1);
    xt_put(st, IR_KIND_ADDRESS, NULL, ADDR1, 1);
    xt_put(st, IR_KIND_ADDRESS, NULL, ADDR2, 1);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->st = xds_store_new();
    fill(f->st);
    int err = 0;
    f->s = xds_session_new(f->st, "proxy-1", GW1, NULL, &err);
    assert_non_null(f->s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    xt_check_store(f->st);
    xds_session_free(f->s);
    xt_check_store(f->st);
    xds_store_free(f->st);
    free(f);
    return 0;
}

/* Subscribes both types with the legacy wildcard and ACKs the two initial responses. */
static void wildcard_both(fx_t *f)
{
    xt_req_t r;
    xt_send(f->s, xt_req(&r, XDS_TYPE_RESOURCE));
    xt_send(f->s, xt_req(&r, XDS_TYPE_ADDRESS));
    xt_ack_type(f->s, XDS_TYPE_ADDRESS,
                xt_expect(f->s, "A 1 +default/svc1.default.svc.cluster.local "
                                "+default/svc2.default.svc.cluster.local"));
    xt_ack_type(f->s, XDS_TYPE_RESOURCE,
                xt_expect(f->s, "R 2 +backend/default/b1 +policy/traffic/default/p1:timeout "
                                "+bind/80/default/gw1 +listener/default/gw1.http "
                                "+route/default/r1.00.http +tcp_route/default/t1"));
    xt_expect_none(f->s);
}

static void test_wildcard_sends_the_scope_in_dependency_order_addresses_first(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xds_session_stats_t st;
    xds_session_stats(f->s, &st);
    assert_int_equal(st.responses, 2);
    assert_int_equal(st.resources_sent, 8);
    assert_int_equal(st.acks, 2);
}

static void test_other_gateways_resources_are_never_sent(void **state)
{
    fx_t *f = *state;
    int err;
    xds_session_t *s2 = xds_session_new(f->st, "proxy-2", GW2, NULL, &err);
    xt_req_t r;
    xt_send(s2, xt_req(&r, XDS_TYPE_RESOURCE));
    xt_ack_type(s2, XDS_TYPE_RESOURCE,
                xt_expect(s2, "R 1 +bind/80/default/gw2 +route/default/r2.00.http"));
    wildcard_both(f);
    /* changes in gw1 do not reach gw2, and the reverse */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_put(f->st, IR_KIND_ROUTE, GW2, "default/r2.00.http", 2);
    xt_expect(f->s, "R 3 +route/default/r1.00.http");
    xt_expect(s2, "R 2 +route/default/r2.00.http");
    /* even explicitly: asking gw2's session for a gw1 name says it does not exist */
    xt_send(s2, xt_sub(xt_ack(xt_req(&r, XDS_TYPE_RESOURCE), "2"), "route/default/r1.00.http"));
    xt_expect(s2, "R 3 -route/default/r1.00.http");
    /* an unscoped session sees Addresses only */
    xds_session_t *s0 = xds_session_new(f->st, "proxy-0", NULL, NULL, &err);
    xt_send(s0, xt_req(&r, XDS_TYPE_RESOURCE));
    xt_send(s0, xt_req(&r, XDS_TYPE_ADDRESS));
    xt_expect(s0, "A 1 +default/svc1.default.svc.cluster.local "
                  "+default/svc2.default.svc.cluster.local");
    xt_expect(s0, "R 2");
    xt_check_store(f->st);
    xds_session_free(s2);
    xds_session_free(s0);
}

static void test_unscoped_object_hides_a_scoped_one_with_the_same_name(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_put(f->st, IR_KIND_BACKEND, NULL, "default/b1", 7); /* same wire name, unscoped */
    const ir_obj_t *seen = xds_store_get(f->st, XDS_TYPE_RESOURCE, GW1, "backend/default/b1");
    assert_null(ir_obj_gateway(seen));
    xt_expect(f->s, "R 3 +backend/default/b1");
    assert_int_equal(xds_store_delete(f->st, XDS_TYPE_RESOURCE, NULL, "backend/default/b1"), 1);
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, "3");
    /* the scoped one shows through again: sent (its version differs from the unscoped one) */
    xt_expect(f->s, "R 4 +backend/default/b1");
}

static void test_first_wildcard_request_is_answered_even_when_empty(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    int err;
    xds_session_t *s = xds_session_new(st, "p", GW1, NULL, &err);
    xt_req_t r;
    xt_send(s, xt_req(&r, XDS_TYPE_RESOURCE));
    xt_send(s, xt_req(&r, XDS_TYPE_ADDRESS));
    xt_expect(s, "R 1");
    xt_expect(s, "A 2");
    xt_expect_none(s);
    /* explicit "*" on the first request also gets its answer */
    xds_session_t *s2 = xds_session_new(st, "p2", GW1, NULL, &err);
    xt_send(s2, xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "*"));
    xt_expect(s2, "R 1");
    xds_session_free(s);
    xds_session_free(s2);
    xds_store_free(st);
}

static void test_one_response_in_flight_per_type_until_ack(void **state)
{
    fx_t *f = *state;
    xt_req_t r;
    xt_send(f->s, xt_req(&r, XDS_TYPE_ADDRESS));
    const char *n = xt_expect(f->s, "A 1 +default/svc1.default.svc.cluster.local "
                                    "+default/svc2.default.svc.cluster.local");
    char nonce[32];
    snprintf(nonce, sizeof nonce, "%s", n);
    xt_put(f->st, IR_KIND_ADDRESS, NULL, ADDR1, 2);
    assert_false(xds_session_want_write(f->s));
    xt_expect_none(f->s);
    /* a request without nonce (a subscription change) does not release the gate */
    xt_send(f->s, xt_sub(xt_req(&r, XDS_TYPE_ADDRESS), "default/other"));
    xt_expect_none(f->s);
    /* a stale nonce neither */
    xt_send(f->s, xt_ack(xt_req(&r, XDS_TYPE_ADDRESS), "99"));
    xt_expect_none(f->s);
    xt_ack_type(f->s, XDS_TYPE_ADDRESS, nonce);
    assert_true(xds_session_want_write(f->s));
    xt_expect(f->s, "A 2 +default/svc1.default.svc.cluster.local -default/other");
    xds_session_stats_t st;
    xds_session_stats(f->s, &st);
    assert_int_equal(st.stale_nonces, 1);
    assert_int_equal(st.acks, 1);
}

static void test_types_are_independent_sub_streams(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_put(f->st, IR_KIND_ADDRESS, NULL, ADDR2, 2);
    xt_expect(f->s, "A 3 +default/svc2.default.svc.cluster.local");
    xt_expect(f->s, "R 4 +route/default/r1.00.http");
    /* NACKing the Address response does not touch the Resource one */
    xt_req_t r;
    xt_send(f->s, xt_nack(xt_req(&r, XDS_TYPE_ADDRESS), "3", "bad address"));
    xds_session_type_info_t ti;
    xds_session_type_info(f->s, XDS_TYPE_RESOURCE, &ti);
    assert_true(ti.in_flight);
    assert_string_equal(ti.nonce, "4");
    xds_session_type_info(f->s, XDS_TYPE_ADDRESS, &ti);
    assert_false(ti.in_flight);
}

static void test_nack_is_counted_kept_and_the_rejected_version_not_resent(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_expect(f->s, "R 3 +route/default/r1.00.http");
    xt_req_t r;
    xt_send(f->s,
            xt_nack(xt_req(&r, XDS_TYPE_RESOURCE), "3", "[{\"key\":\"route\",\"error\":\"x\"}]"));
    xds_session_stats_t st;
    xds_session_stats(f->s, &st);
    assert_int_equal(st.nacks, 1);
    const char *nonce, *msg;
    int code;
    assert_int_equal(xds_session_last_nack(f->s, &nonce, &code, &msg), XDS_TYPE_RESOURCE);
    assert_string_equal(nonce, "3");
    assert_int_equal(code, 13);
    assert_string_equal(msg, "[{\"key\":\"route\",\"error\":\"x\"}]");
    /* nothing is re-sent after a NACK */
    xt_expect_none(f->s);
    /* a change after it is */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 3);
    xt_expect(f->s, "R 4 +route/default/r1.00.http");
    json_t *j = xds_session_debug(f->s);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "last_nack"), "nonce")), "3");
    json_decref(j);
}

static void test_dirty_names_coalesce_to_their_current_state(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_expect(f->s, "R 3 +route/default/r1.00.http"); /* in flight */
    for (unsigned i = 0; i < 1000; i++)
        xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 100 + i % 7);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r9.00.http", 1);
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "route/default/r9.00.http");
    xds_session_type_info_t ti;
    xds_session_type_info(f->s, XDS_TYPE_RESOURCE, &ti);
    assert_int_equal(ti.dirty, 2); /* names, not events */
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, "3");
    xds_response_t *resp;
    assert_int_equal(xds_session_pull(f->s, &resp), 1);
    const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m = xds_response_msg(resp);
    /* r9 came and went: the client never had it, nothing to say; r1 has its latest version */
    assert_int_equal(m->n_resources, 1);
    assert_int_equal(m->n_removed_resources, 0);
    const ir_obj_t *cur = xds_store_get(f->st, XDS_TYPE_RESOURCE, GW1, "route/default/r1.00.http");
    assert_string_equal(m->resources[0]->version, ir_obj_version(cur));
    xds_response_free(resp);
}

static void test_change_back_to_the_held_version_sends_nothing(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 1);
    xt_expect_none(f->s);
    xds_session_type_info_t ti;
    xds_session_type_info(f->s, XDS_TYPE_RESOURCE, &ti);
    assert_int_equal(ti.dirty, 0);
}

static void test_removals_come_after_additions_in_reverse_dependency_order(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1");
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "route/default/r1.00.http");
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "listener/default/gw1.http");
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "backend/default/b1");
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r3.00.http", 1);
    xt_put(f->st, IR_KIND_LISTENER, GW1, "default/gw1.https", 1);
    xt_expect(f->s, "R 3 +listener/default/gw1.https +route/default/r3.00.http "
                    "-route/default/r1.00.http -listener/default/gw1.http -bind/80/default/gw1 "
                    "-backend/default/b1");
}

static void test_address_removals_wait_for_the_resources_that_use_them(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    /* a route moves from svc1 to svc3: svc3 must arrive first, svc1 must go last */
    xt_put(f->st, IR_KIND_ADDRESS, NULL, "default/svc3.default.svc.cluster.local", 1);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xds_store_delete(f->st, XDS_TYPE_ADDRESS, NULL, ADDR1);
    const char *n = xt_expect(f->s, "A 3 +default/svc3.default.svc.cluster.local");
    char an[32];
    snprintf(an, sizeof an, "%s", n);
    xt_expect(f->s, "R 4 +route/default/r1.00.http");
    xt_expect_none(f->s); /* the Address removal waits for the ACK of "A 3" */
    xt_ack_type(f->s, XDS_TYPE_ADDRESS, an);
    xt_expect(f->s, "A 5 -default/svc1.default.svc.cluster.local");

    /* with a Resource change still pending (in flight, unACKed), an Address removal waits */
    xt_ack_type(f->s, XDS_TYPE_ADDRESS, "5");
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 3); /* dirty, R 4 in flight */
    xds_store_delete(f->st, XDS_TYPE_ADDRESS, NULL, ADDR2);
    xt_expect_none(f->s);
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, "4");
    xt_expect(f->s, "R 6 +route/default/r1.00.http");
    xt_expect(f->s, "A 7 -default/svc2.default.svc.cluster.local");
}

static void test_explicit_subscription_tracks_names_that_do_not_exist_yet(void **state)
{
    fx_t *f = *state;
    xt_req_t r;
    xt_send(f->s, xt_sub(xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"),
                         "route/default/later.00.http"));
    xt_ack_type(f->s, XDS_TYPE_RESOURCE,
                xt_expect(f->s, "R 1 +route/default/r1.00.http -route/default/later.00.http"));
    /* not subscribed: not sent */
    xt_put(f->st, IR_KIND_LISTENER, GW1, "default/gw1.http", 2);
    xt_expect_none(f->s);
    /* springs into existence: sent */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/later.00.http", 1);
    xt_expect(f->s, "R 2 +route/default/later.00.http");
    xds_session_type_info_t ti;
    xds_session_type_info(f->s, XDS_TYPE_RESOURCE, &ti);
    assert_false(ti.wildcard);
    assert_int_equal(ti.explicit_names, 2);
}

static void test_resubscribe_resends_an_unchanged_resource(void **state)
{
    fx_t *f = *state;
    xt_req_t r;
    xt_send(f->s, xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"));
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, xt_expect(f->s, "R 1 +route/default/r1.00.http"));
    xt_send(f->s, xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"));
    xt_expect(f->s, "R 2 +route/default/r1.00.http");
}

static void test_unsubscribe_stops_updates_and_phantoms_are_ignored(void **state)
{
    fx_t *f = *state;
    xt_req_t r;
    xt_send(f->s, xt_sub(xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"),
                         "bind/80/default/gw1"));
    xt_ack_type(f->s, XDS_TYPE_RESOURCE,
                xt_expect(f->s, "R 1 +bind/80/default/gw1 +route/default/r1.00.http"));
    xt_send(f->s, xt_unsub(xt_unsub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"),
                           "route/default/never-subscribed"));
    xt_expect_none(f->s); /* an unsubscribe needs no answer */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_expect_none(f->s);
    xt_put(f->st, IR_KIND_BIND, GW1, "80/default/gw1", 2);
    xt_expect(f->s, "R 2 +bind/80/default/gw1");
}

static void test_unsubscribing_a_name_also_covered_by_the_wildcard_resends_it(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_req_t r;
    xt_send(f->s, xt_sub(xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"),
                         "route/default/ghost"));
    xt_ack_type(f->s, XDS_TYPE_RESOURCE,
                xt_expect(f->s, "R 3 +route/default/r1.00.http -route/default/ghost"));
    xt_send(f->s, xt_unsub(xt_unsub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"),
                           "route/default/ghost"));
    /* covered by "*": sent again; not covered: reported removed */
    xt_expect(f->s, "R 4 +route/default/r1.00.http -route/default/ghost");
}

static void test_legacy_wildcard_then_explicit_then_unsubscribe_star(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_req_t r;
    /* the spec's sequence: {} ⇒ *, +A ⇒ * + A, -* ⇒ A only */
    xt_send(f->s, xt_sub(xt_ack(xt_req(&r, XDS_TYPE_RESOURCE), "2"), "bind/80/default/gw1"));
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, xt_expect(f->s, "R 3 +bind/80/default/gw1"));
    xt_send(f->s, xt_unsub(xt_req(&r, XDS_TYPE_RESOURCE), "*"));
    xds_session_type_info_t ti;
    xds_session_type_info(f->s, XDS_TYPE_RESOURCE, &ti);
    assert_false(ti.wildcard);
    assert_int_equal(ti.known, 1); /* what was held only through "*" is forgotten */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_expect_none(f->s);
    xt_put(f->st, IR_KIND_BIND, GW1, "80/default/gw1", 2);
    xt_expect(f->s, "R 4 +bind/80/default/gw1");
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, "4");
    /* -A ⇒ nothing, and not wildcard either */
    xt_send(f->s, xt_unsub(xt_req(&r, XDS_TYPE_RESOURCE), "bind/80/default/gw1"));
    xt_put(f->st, IR_KIND_BIND, GW1, "80/default/gw1", 3);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/new.00.http", 1);
    xt_expect_none(f->s);
    /* subscribing "*" again sends everything the client lacks */
    xt_send(f->s, xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "*"));
    xt_expect(f->s, "R 5 +backend/default/b1 +policy/traffic/default/p1:timeout "
                    "+bind/80/default/gw1 +listener/default/gw1.http +route/default/new.00.http "
                    "+route/default/r1.00.http +tcp_route/default/t1");
}

static void test_subscribe_and_unsubscribe_star_on_the_first_request_is_nothing(void **state)
{
    fx_t *f = *state;
    xt_req_t r;
    xt_send(f->s, xt_unsub(xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "*"), "*"));
    xt_expect_none(f->s);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_expect_none(f->s);
}

static void test_reconnect_with_initial_versions_sends_only_what_differs(void **state)
{
    fx_t *f = *state;
    const ir_obj_t *bind = xds_store_get(f->st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1");
    const ir_obj_t *lis = xds_store_get(f->st, XDS_TYPE_RESOURCE, GW1, "listener/default/gw1.http");
    const ir_obj_t *pol =
        xds_store_get(f->st, XDS_TYPE_RESOURCE, GW1, "policy/traffic/default/p1:timeout");
    char vb[17], vl[17], vp[17];
    snprintf(vb, sizeof vb, "%s", ir_obj_version(bind));
    snprintf(vl, sizeof vl, "%s", ir_obj_version(lis));
    snprintf(vp, sizeof vp, "%s", ir_obj_version(pol));
    xt_put(f->st, IR_KIND_LISTENER, GW1, "default/gw1.http", 5); /* changed while away */
    xt_req_t r;
    xt_req(&r, XDS_TYPE_RESOURCE);
    xt_irv(&r, "bind/80/default/gw1", vb);                              /* same: not sent */
    xt_irv(&r, "listener/default/gw1.http", vl);                        /* changed: sent */
    xt_irv(&r, "policy/traffic/default/p1:timeout", "not-our-version"); /* foreign: sent */
    xt_irv(&r, "route/default/gone.00.http", "0123456789abcdef");       /* gone: removed */
    xt_send(f->s, &r);
    xt_expect(f->s, "R 1 +backend/default/b1 +policy/traffic/default/p1:timeout "
                    "+listener/default/gw1.http +route/default/r1.00.http +tcp_route/default/t1 "
                    "-route/default/gone.00.http");
    (void)vp;
    /* explicit reconnect: names with versions stand, names without are sent */
    int err;
    xds_session_t *s2 = xds_session_new(f->st, "p2", GW1, NULL, &err);
    xt_req(&r, XDS_TYPE_RESOURCE);
    xt_sub(&r, "bind/80/default/gw1");
    xt_sub(&r, "route/default/r1.00.http");
    xt_irv(&r, "bind/80/default/gw1", vb);
    xt_send(s2, &r);
    xt_expect(s2, "R 1 +route/default/r1.00.http");
    xds_session_free(s2);
}

static void test_reconnect_holding_everything_current_still_gets_the_first_answer(void **state)
{
    fx_t *f = *state;
    xt_req_t r;
    xt_req(&r, XDS_TYPE_ADDRESS);
    xt_irv(&r, ADDR1, ir_obj_version(xds_store_get(f->st, XDS_TYPE_ADDRESS, NULL, ADDR1)));
    xt_irv(&r, ADDR2, ir_obj_version(xds_store_get(f->st, XDS_TYPE_ADDRESS, NULL, ADDR2)));
    xt_send(f->s, &r);
    xt_expect(f->s, "A 1");
}

static void test_responses_are_split_at_the_size_cap_additions_first(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    xds_session_config_t cfg;
    xds_session_config_default(&cfg);
    cfg.max_response_bytes = 300; /* about two small resources */
    int err;
    xds_session_t *s = xds_session_new(st, "p", GW1, &cfg, &err);
    for (int i = 0; i < 3; i++) {
        char k[64];
        snprintf(k, sizeof k, "default/r%d.00.http", i);
        xt_put(st, IR_KIND_ROUTE, GW1, k, 1);
    }
    xt_put(st, IR_KIND_BIND, GW1, "80/default/gw1", 1);
    xt_req_t r;
    xt_send(s, xt_req(&r, XDS_TYPE_RESOURCE));
    xt_ack_type(s, XDS_TYPE_RESOURCE,
                xt_expect(s, "R 1 +bind/80/default/gw1 +route/default/r0.00.http"));
    xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1");
    xt_ack_type(s, XDS_TYPE_RESOURCE,
                xt_expect(s, "R 2 +route/default/r1.00.http +route/default/r2.00.http"));
    xt_expect(s, "R 3 -bind/80/default/gw1");
    xds_session_free(s);
    xds_store_free(st);
}

static void test_unknown_type_is_ignored_and_empty_type_is_an_error(void **state)
{
    fx_t *f = *state;
    xt_req_t r;
    xt_req(&r, XDS_TYPE_RESOURCE);
    r.m.type_url = "type.googleapis.com/istio.security.Authorization";
    xt_send(f->s, &r);
    xt_expect_none(f->s);
    r.m.type_url = "";
    xds_err_t err = {0};
    assert_int_equal(xds_session_recv(f->s, &r.m, &err), XDS_ETYPEURL);
    assert_non_null(strstr(err.msg, "type_url"));
    xds_session_stats_t st;
    xds_session_stats(f->s, &st);
    assert_int_equal(st.ignored, 1);
}

static void test_subscription_limit(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    xds_session_config_t cfg;
    xds_session_config_default(&cfg);
    cfg.max_subscriptions = 2;
    int e;
    xds_session_t *s = xds_session_new(st, "p", NULL, &cfg, &e);
    xt_req_t r;
    xt_send(s, xt_sub(xt_sub(xt_req(&r, XDS_TYPE_ADDRESS), "a/x"), "a/y"));
    xt_req(&r, XDS_TYPE_ADDRESS);
    xt_sub(&r, "a/z");
    xds_err_t err = {0};
    assert_int_equal(xds_session_recv(s, &r.m, &err), XDS_ELIMIT);
    xds_session_type_info_t ti;
    xds_session_type_info(s, XDS_TYPE_ADDRESS, &ti);
    assert_int_equal(ti.explicit_names, 2);
    xds_session_free(s);
    xds_store_free(st);
}

static void test_decoding_bad_bytes_is_an_error_that_changes_nothing(void **state)
{
    fx_t *f = *state;
    static const uint8_t junk[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    xds_err_t err = {0};
    assert_int_equal(xds_session_recv_bytes(f->s, junk, sizeof junk, &err), XDS_EDECODE);
    /* a valid encoded request works */
    xt_req_t r;
    xt_req(&r, XDS_TYPE_ADDRESS);
    size_t len = protobuf_c_message_get_packed_size(&r.m.base);
    uint8_t *b = malloc(len + 1);
    protobuf_c_message_pack(&r.m.base, b);
    assert_int_equal(xds_session_recv_bytes(f->s, b, len, &err), XDS_OK);
    free(b);
    xt_expect(f->s, "A 1 +default/svc1.default.svc.cluster.local "
                    "+default/svc2.default.svc.cluster.local");
}

/* A store fed by an unsynced krt source holds every answer until it is synced. */
static void test_nothing_is_sent_until_the_store_is_ready(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *c = krt_static_new(e, ir_kind_type(IR_KIND_BIND), "binds", false);
    xds_store_t *st = xds_store_new();
    assert_int_equal(xds_store_watch(st, c), XDS_OK);
    krt_static_put(c, ir_obj_krt(xt_obj(IR_KIND_BIND, GW1, "80/default/gw1", 1)));
    xds_store_flush(st, e);
    assert_false(xds_store_ready(st));
    int err;
    xds_session_t *s = xds_session_new(st, "p", GW1, NULL, &err);
    xt_req_t r;
    xt_send(s, xt_req(&r, XDS_TYPE_RESOURCE));
    assert_false(xds_session_want_write(s));
    xt_expect_none(s);
    krt_static_mark_synced(c);
    xds_store_flush(st, e);
    assert_true(xds_store_ready(st));
    xt_expect(s, "R 1 +bind/80/default/gw1");
    xds_session_free(s);
    xds_store_free(st);
    krt_engine_free(e);
}

static void count_ready(xds_session_t *s, void *ud)
{
    (void)s;
    (*(int *)ud)++;
}

static void test_on_ready_is_called_once_until_the_next_pull(void **state)
{
    fx_t *f = *state;
    xds_session_free(f->s);
    int readies = 0;
    xds_session_config_t cfg;
    xds_session_config_default(&cfg);
    cfg.on_ready = count_ready;
    cfg.ud = &readies;
    int err;
    f->s = xds_session_new(f->st, "p", GW1, &cfg, &err);
    xt_req_t r;
    xt_send(f->s, xt_req(&r, XDS_TYPE_RESOURCE));
    assert_int_equal(readies, 0); /* not from inside recv: the caller pumps after recv */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 3);
    assert_int_equal(readies, 1);
    xt_ack_type(f->s, XDS_TYPE_RESOURCE,
                xt_expect(f->s, "R 1 +backend/default/b1 +policy/traffic/default/p1:timeout "
                                "+bind/80/default/gw1 +listener/default/gw1.http "
                                "+route/default/r1.00.http +tcp_route/default/t1"));
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 4);
    assert_int_equal(readies, 2);
}

static void test_debug_view_lists_subscriptions(void **state)
{
    fx_t *f = *state;
    xt_req_t r;
    xt_send(f->s, xt_sub(xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "route/b"), "route/a"));
    json_t *j = xds_session_debug(f->s);
    assert_string_equal(json_string_value(json_object_get(j, "gateway")), GW1);
    json_t *t = json_object_get(json_object_get(j, "types"), IR_TYPE_URL_RESOURCE);
    assert_non_null(t);
    assert_false(json_is_true(json_object_get(t, "wildcard")));
    json_t *subs = json_object_get(t, "subscribed");
    assert_int_equal(json_array_size(subs), 2);
    assert_string_equal(json_string_value(json_array_get(subs, 0)), "route/a");
    assert_null(json_object_get(json_object_get(j, "types"), IR_TYPE_URL_ADDRESS));
    json_decref(j);
}

/* ---- what the client holds: bits by object id, versions for the rest ---- */

static size_t known_of(xds_session_t *s, xds_type_t t)
{
    xds_session_type_info_t ti;
    xds_session_type_info(s, t, &ti);
    return ti.known;
}

static void test_delete_while_held_then_id_reused_by_another_name_still_removes(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    assert_int_equal(known_of(f->s, XDS_TYPE_ADDRESS), 2);
    xt_put(f->st, IR_KIND_ADDRESS, NULL, ADDR1, 2);
    const char *n = xt_expect(f->s, "A 3 +default/svc1.default.svc.cluster.local");
    char an[32];
    snprintf(an, sizeof an, "%s", n);
    /* while "A 3" is in flight: svc2 goes and svc9 takes its id at once */
    assert_int_equal(xds_store_delete(f->st, XDS_TYPE_ADDRESS, NULL, ADDR2), 1);
    xt_put(f->st, IR_KIND_ADDRESS, NULL, "default/svc9.default.svc.cluster.local", 1);
    xt_check_store(f->st);
    assert_int_equal(known_of(f->s, XDS_TYPE_ADDRESS), 2); /* svc1 by bit, svc2 by version */
    xt_ack_type(f->s, XDS_TYPE_ADDRESS, an);
    xt_expect(f->s, "A 4 +default/svc9.default.svc.cluster.local "
                    "-default/svc2.default.svc.cluster.local");
    assert_int_equal(known_of(f->s, XDS_TYPE_ADDRESS), 2);
    xt_ack_type(f->s, XDS_TYPE_ADDRESS, "4");
    /* svc9 is held under the reused id: changing it sends it, deleting it removes it */
    xt_put(f->st, IR_KIND_ADDRESS, NULL, "default/svc9.default.svc.cluster.local", 2);
    xt_ack_type(f->s, XDS_TYPE_ADDRESS,
                xt_expect(f->s, "A 5 +default/svc9.default.svc.cluster.local"));
    xds_store_delete(f->st, XDS_TYPE_ADDRESS, NULL, "default/svc9.default.svc.cluster.local");
    xt_expect(f->s, "A 6 -default/svc9.default.svc.cluster.local");
    assert_int_equal(known_of(f->s, XDS_TYPE_ADDRESS), 1);
}

static void test_delete_and_readd_of_the_same_version_before_a_pull_sends_nothing(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "route/default/r1.00.http");
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r9.00.http", 1); /* takes r1's id */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 1); /* back, same bytes, new id */
    xt_expect(f->s, "R 3 +route/default/r9.00.http");
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 7);
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, "3");
    /* r1 is held by bit again (its new id): a change is sent, a delete removed */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, xt_expect(f->s, "R 4 +route/default/r1.00.http"));
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "route/default/r1.00.http");
    xt_expect(f->s, "R 5 -route/default/r1.00.http");
}

static void test_hidden_name_switching_scopes_keeps_what_the_client_holds_exact(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    /* gw1's b1 (held) gets hidden by an unscoped b1 with the same bytes: nothing to send, and
     * the record moves to the unscoped object */
    xt_put(f->st, IR_KIND_BACKEND, NULL, "default/b1", 1);
    assert_null(ir_obj_gateway(xds_store_get(f->st, XDS_TYPE_RESOURCE, GW1, "backend/default/b1")));
    xt_expect_none(f->s);
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 6);
    /* the hidden one changes: the client does not see it */
    xt_put(f->st, IR_KIND_BACKEND, GW1, "default/b1", 2);
    xt_expect_none(f->s);
    /* the unscoped one goes: gw1's (changed) b1 shows through and is sent */
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, NULL, "backend/default/b1");
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, xt_expect(f->s, "R 3 +backend/default/b1"));
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 6);
    /* hidden again by different bytes: sent; the gw1 record must be gone, else deleting the
     * unscoped one would look like the client still held gw1's */
    xt_put(f->st, IR_KIND_BACKEND, NULL, "default/b1", 7);
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, xt_expect(f->s, "R 4 +backend/default/b1"));
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 6);
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, NULL, "backend/default/b1");
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, xt_expect(f->s, "R 5 +backend/default/b1"));
    /* both go: one removal */
    xt_put(f->st, IR_KIND_BACKEND, NULL, "default/b1", 7);
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, xt_expect(f->s, "R 6 +backend/default/b1"));
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "backend/default/b1");
    xt_expect_none(f->s); /* hidden one gone: the visible one is unchanged */
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, NULL, "backend/default/b1");
    xt_expect(f->s, "R 7 -backend/default/b1");
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 5);
}

static void test_initial_versions_matching_differing_and_unknown(void **state)
{
    fx_t *f = *state;
    const ir_obj_t *later = xt_obj(IR_KIND_ROUTE, GW1, "default/later.00.http", 4);
    char vlater[17], vb[17], va1[17];
    snprintf(vlater, sizeof vlater, "%s", ir_obj_version(later));
    snprintf(vb, sizeof vb, "%s",
             ir_obj_version(xds_store_get(f->st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1")));
    snprintf(va1, sizeof va1, "%s",
             ir_obj_version(xds_store_get(f->st, XDS_TYPE_ADDRESS, NULL, ADDR1)));
    xt_req_t r;
    xt_req(&r, XDS_TYPE_RESOURCE);
    xt_sub(&r, "bind/80/default/gw1");
    xt_sub(&r, "backend/default/b1");
    xt_sub(&r, "route/default/later.00.http");
    xt_sub(&r, "route/default/never.00.http");
    xt_irv(&r, "bind/80/default/gw1", vb);                /* matches */
    xt_irv(&r, "backend/default/b1", "ffffffffffffffff"); /* differs */
    xt_irv(&r, "route/default/later.00.http", vlater);    /* unknown now, this version later */
    xt_irv(&r, "route/default/never.00.http", vlater);    /* unknown */
    xt_irv(&r, "route/default/notsub.00.http", vb);       /* unknown, not even subscribed */
    xt_send(f->s, &r);
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 5);
    /* "later" appears with exactly the declared version before the first pull */
    assert_int_equal(xds_store_put(f->st, later), 1);
    ir_obj_release(later);
    xt_ack_type(f->s, XDS_TYPE_RESOURCE,
                xt_expect(f->s, "R 1 +backend/default/b1 -route/default/never.00.http "
                                "-route/default/notsub.00.http"));
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 3);
    /* what matched is held: a delete removes it, a change sends it */
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1");
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/later.00.http", 5);
    xt_expect(f->s, "R 2 +route/default/later.00.http -bind/80/default/gw1");
    /* Addresses: a declared current version sends nothing, even after an unrelated delete
     * frees an id */
    xt_req(&r, XDS_TYPE_ADDRESS);
    xt_irv(&r, ADDR1, va1);
    xt_send(f->s, &r);
    xds_store_delete(f->st, XDS_TYPE_ADDRESS, NULL, ADDR2);
    xt_put(f->st, IR_KIND_ADDRESS, NULL, "default/svc3.default.svc.cluster.local", 1);
    xt_expect(f->s, "A 3 +default/svc3.default.svc.cluster.local");
}

static void test_unsubscribe_and_wildcard_removal_forget_bits(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_req_t r;
    /* explicit svc1 on top of the wildcard, then the wildcard ends: svc2 is forgotten */
    xt_send(f->s, xt_sub(xt_req(&r, XDS_TYPE_ADDRESS), ADDR1));
    xt_ack_type(f->s, XDS_TYPE_ADDRESS,
                xt_expect(f->s, "A 3 +default/svc1.default.svc.cluster.local"));
    xt_send(f->s, xt_unsub(xt_req(&r, XDS_TYPE_ADDRESS), "*"));
    assert_int_equal(known_of(f->s, XDS_TYPE_ADDRESS), 1);
    xds_store_delete(f->st, XDS_TYPE_ADDRESS, NULL, ADDR2); /* not held: nothing */
    xt_expect_none(f->s);
    xds_store_delete(f->st, XDS_TYPE_ADDRESS, NULL, ADDR1); /* held: removed */
    xt_ack_type(f->s, XDS_TYPE_ADDRESS,
                xt_expect(f->s, "A 4 -default/svc1.default.svc.cluster.local"));
    assert_int_equal(known_of(f->s, XDS_TYPE_ADDRESS), 0);
    /* an explicit Resource name held by bit, unsubscribed: forgotten, no removal later */
    xt_send(f->s, xt_unsub(xt_req(&r, XDS_TYPE_RESOURCE), "*"));
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 0);
    xt_send(f->s, xt_sub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"));
    xt_ack_type(f->s, XDS_TYPE_RESOURCE, xt_expect(f->s, "R 5 +route/default/r1.00.http"));
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 1);
    xt_send(f->s, xt_unsub(xt_req(&r, XDS_TYPE_RESOURCE), "route/default/r1.00.http"));
    assert_int_equal(known_of(f->s, XDS_TYPE_RESOURCE), 0);
    xds_store_delete(f->st, XDS_TYPE_RESOURCE, GW1, "route/default/r1.00.http");
    xt_expect_none(f->s);
}

static void test_changes_around_a_nack_send_only_what_the_client_lacks(void **state)
{
    fx_t *f = *state;
    wildcard_both(f);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_expect(f->s, "R 3 +route/default/r1.00.http");
    /* changes while the response is in flight, then the NACK: the new version goes */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 3);
    xt_req_t r;
    xt_send(f->s, xt_nack(xt_req(&r, XDS_TYPE_RESOURCE), "3", "no"));
    xt_expect(f->s, "R 4 +route/default/r1.00.http");
    xt_send(f->s, xt_nack(xt_req(&r, XDS_TYPE_RESOURCE), "4", "no"));
    xt_expect_none(f->s); /* the rejected version is not re-sent */
    /* away and back to the rejected version before a pull: still nothing */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 4);
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 3);
    xt_expect_none(f->s);
    /* back to a version sent before: the client holds the last one, so it goes */
    xt_put(f->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_expect(f->s, "R 5 +route/default/r1.00.http");
}

static void test_hundreds_of_ids_with_churn_match_the_store(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    int err;
    xds_session_t *s = xds_session_new(st, "p", GW1, NULL, &err);
    char k[64];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "default/s%03d.default.svc.cluster.local", i);
        xt_put(st, IR_KIND_ADDRESS, NULL, k, 1);
    }
    xt_req_t r;
    xt_send(s, xt_req(&r, XDS_TYPE_ADDRESS));
    xds_response_t *resp;
    assert_int_equal(xds_session_pull(s, &resp), 1);
    assert_int_equal(xds_response_msg(resp)->n_resources, 300);
    xds_response_free(resp);
    assert_int_equal(known_of(s, XDS_TYPE_ADDRESS), 300);
    xt_ack_type(s, XDS_TYPE_ADDRESS, "1");
    /* every third goes, as many new names come (reusing the ids), every fifth changes */
    for (int i = 0; i < 300; i += 3) {
        snprintf(k, sizeof k, "default/s%03d.default.svc.cluster.local", i);
        xds_store_delete(st, XDS_TYPE_ADDRESS, NULL, k);
        snprintf(k, sizeof k, "default/n%03d.default.svc.cluster.local", i);
        xt_put(st, IR_KIND_ADDRESS, NULL, k, 1);
    }
    size_t changed = 0;
    for (int i = 1; i < 300; i += 5)
        if (i % 3) {
            snprintf(k, sizeof k, "default/s%03d.default.svc.cluster.local", i);
            xt_put(st, IR_KIND_ADDRESS, NULL, k, 2);
            changed++;
        }
    xt_check_store(st);
    assert_int_equal(xds_session_pull(s, &resp), 1);
    assert_int_equal(xds_response_msg(resp)->n_resources, 100 + changed);
    assert_int_equal(xds_response_msg(resp)->n_removed_resources, 100);
    xds_response_free(resp);
    assert_int_equal(known_of(s, XDS_TYPE_ADDRESS), 300);
    xt_check_store(st);
    xds_session_free(s);
    xds_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(n) cmocka_unit_test_setup_teardown(n, setup, teardown)
        T(test_wildcard_sends_the_scope_in_dependency_order_addresses_first),
        T(test_other_gateways_resources_are_never_sent),
        T(test_unscoped_object_hides_a_scoped_one_with_the_same_name),
        T(test_first_wildcard_request_is_answered_even_when_empty),
        T(test_one_response_in_flight_per_type_until_ack),
        T(test_types_are_independent_sub_streams),
        T(test_nack_is_counted_kept_and_the_rejected_version_not_resent),
        T(test_dirty_names_coalesce_to_their_current_state),
        T(test_change_back_to_the_held_version_sends_nothing),
        T(test_removals_come_after_additions_in_reverse_dependency_order),
        T(test_address_removals_wait_for_the_resources_that_use_them),
        T(test_explicit_subscription_tracks_names_that_do_not_exist_yet),
        T(test_resubscribe_resends_an_unchanged_resource),
        T(test_unsubscribe_stops_updates_and_phantoms_are_ignored),
        T(test_unsubscribing_a_name_also_covered_by_the_wildcard_resends_it),
        T(test_legacy_wildcard_then_explicit_then_unsubscribe_star),
        T(test_subscribe_and_unsubscribe_star_on_the_first_request_is_nothing),
        T(test_reconnect_with_initial_versions_sends_only_what_differs),
        T(test_reconnect_holding_everything_current_still_gets_the_first_answer),
        T(test_responses_are_split_at_the_size_cap_additions_first),
        T(test_unknown_type_is_ignored_and_empty_type_is_an_error),
        T(test_subscription_limit),
        T(test_decoding_bad_bytes_is_an_error_that_changes_nothing),
        T(test_nothing_is_sent_until_the_store_is_ready),
        T(test_on_ready_is_called_once_until_the_next_pull),
        T(test_debug_view_lists_subscriptions),
        T(test_delete_while_held_then_id_reused_by_another_name_still_removes),
        T(test_delete_and_readd_of_the_same_version_before_a_pull_sends_nothing),
        T(test_hidden_name_switching_scopes_keeps_what_the_client_holds_exact),
        T(test_initial_versions_matching_differing_and_unknown),
        T(test_unsubscribe_and_wildcard_removal_forget_bits),
        T(test_changes_around_a_nack_send_only_what_the_client_lacks),
        T(test_hundreds_of_ids_with_churn_match_the_store),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
