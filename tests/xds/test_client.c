/*
 * The delta xDS client (xds/client.c) against our server on loopback, plaintext and TLS: the node
 * and role reach the server, both types arrive as IR objects scoped like the control plane's, each
 * response is ACKed, a consumer rejection is a NACK with its reason, a server restart leads to a
 * reconnect with backoff (jitter injected) that resumes with initial_resource_versions so only what
 * changed meanwhile is sent, and bearer tokens (static and from a file). Plus the backoff formula.
 */
#include <unistd.h>

#include "xds_test_net.h"

#include "xds/client.h"

#define GW1  "default/gw1"
#define ADDR "default/svc.default.svc.cluster.local"

typedef struct env {
    xt_loop_t L;
    xds_store_t *st;
    xds_server_t *srv;
    int port;
    net_tls_testcert_t tc;
    net_tls_ctx_t *stls, *ctls;
    xds_auth_t auth;
    bool has_auth;
    /* consumer */
    int updates[XDS_TYPE_COUNT];
    char last[XDS_TYPE_COUNT][4096];
    int reject; /* reject the next N updates */
    int states[4];
    bool gateway_ok;
} env_t;

static void start_server(env_t *v, int port)
{
    xds_server_config_t cfg;
    xds_server_config_default(&cfg);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    cfg.listen = listen;
    cfg.tls = v->stls;
    cfg.auth = v->has_auth ? &v->auth : NULL;
    int err = 0;
    v->srv = xds_server_new(&v->L.loop, v->st, &cfg, &err);
    assert_non_null(v->srv);
    v->port = xds_server_port(v->srv);
}

static void env_init(env_t *v, bool tls, const char *tokens)
{
    memset(v, 0, sizeof *v);
    xt_loop_init(&v->L, 60000);
    v->st = xds_store_new();
    xt_put(v->st, IR_KIND_BIND, GW1, "80/default/gw1", 1);
    xt_put(v->st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 1);
    xt_put(v->st, IR_KIND_ROUTE, GW1, "default/r2.00.http", 1);
    xt_put(v->st, IR_KIND_ROUTE, "default/gw2", "default/other.00.http", 1);
    xt_put(v->st, IR_KIND_ADDRESS, NULL, ADDR, 1);
    xds_store_commit(v->st);
    if (tls)
        xt_tls(&v->tc, &v->stls, &v->ctls);
    if (tokens) {
        xds_err_t err = {0};
        assert_int_equal(xds_auth_static_parse(tokens, "test", &v->auth, &err), XDS_OK);
        v->has_auth = true;
    }
    start_server(v, 0);
}

static void env_dispose(env_t *v)
{
    if (v->srv) {
        v->has_auth = false; /* the server disposes it */
        xt_server_close(&v->L, v->srv);
    }
    if (v->has_auth)
        xds_auth_dispose(&v->auth);
    net_tls_ctx_release(v->stls);
    net_tls_ctx_release(v->ctls);
    if (v->stls)
        net_tls_testcert_dispose(&v->tc);
    xt_check_store(v->st);
    xds_store_free(v->st);
    xt_loop_dispose(&v->L);
}

static int on_update(xds_client_t *c, const xds_update_t *u, char *reason, size_t cap, void *ud)
{
    (void)c;
    env_t *v = ud;
    char *out = v->last[u->type];
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < u->n_added; i++) {
        n += (size_t)snprintf(out + n, sizeof v->last[0] - n, "%s+%s", n ? " " : "",
                              ir_obj_name(u->added[i]));
        const char *gw = ir_obj_gateway(u->added[i]);
        if (u->type == XDS_TYPE_RESOURCE)
            v->gateway_ok = gw && strcmp(gw, GW1) == 0;
        else
            v->gateway_ok = gw == NULL;
    }
    for (size_t i = 0; i < u->n_removed; i++)
        n += (size_t)snprintf(out + n, sizeof v->last[0] - n, "%s-%s", n ? " " : "", u->removed[i]);
    v->updates[u->type]++;
    if (v->reject > 0) {
        v->reject--;
        snprintf(reason, cap, "[{\"key\":\"x\",\"error\":\"rejected on purpose\"}]");
        return 1;
    }
    return 0;
}

static void on_state(xds_client_t *c, int state, int status, const char *msg, void *ud)
{
    (void)c;
    (void)status;
    (void)msg;
    env_t *v = ud;
    v->states[state]++;
}

static double half(void *ud)
{
    (void)ud;
    return 0.5;
}

static xds_client_t *client(env_t *v, const char *token, const char *token_file)
{
    xds_client_config_t cfg;
    xds_client_config_default(&cfg);
    cfg.host = v->ctls ? "localhost" : "127.0.0.1";
    cfg.port = (uint16_t)v->port;
    cfg.tls = v->ctls;
    cfg.node_id = "proxy-1";
    cfg.role = "default~gw1";
    cfg.token = token;
    cfg.token_file = token_file;
    cfg.backoff_initial_ms = 20;
    cfg.backoff_max_ms = 200;
    cfg.jitter = half;
    cfg.on_update = on_update;
    cfg.on_state = on_state;
    cfg.ud = v;
    int err = 0;
    xds_client_t *c = xds_client_new(&v->L.loop, &cfg, &err);
    assert_non_null(c);
    return c;
}

typedef struct want {
    env_t *v;
    int res, addr;
} want_t;

static bool got(void *a)
{
    want_t *w = a;
    return w->v->updates[XDS_TYPE_RESOURCE] >= w->res && w->v->updates[XDS_TYPE_ADDRESS] >= w->addr;
}

static void wait_updates(env_t *v, int res, int addr)
{
    want_t w = {v, res, addr};
    xt_run_until(&v->L, got, &w);
}

static void close_client(env_t *v, xds_client_t *c)
{
    bool closed = false;
    xds_client_close(c, xt_flag, &closed);
    xt_run_until(&v->L, xt_is_true, &closed);
}

static void basic(bool tls)
{
    env_t v;
    env_init(&v, tls, NULL);
    xds_client_t *c = client(&v, NULL, NULL);
    wait_updates(&v, 1, 1);
    assert_string_equal(v.last[XDS_TYPE_ADDRESS], "+" ADDR);
    assert_string_equal(v.last[XDS_TYPE_RESOURCE],
                        "+bind/80/default/gw1 +route/default/r1.00.http +route/default/r2.00.http");
    assert_true(v.gateway_ok);
    assert_int_equal(xds_client_state(c), XDS_CLIENT_STREAMING);
    assert_int_equal(xds_client_held(c, XDS_TYPE_RESOURCE), 3);
    assert_string_equal(
        xds_client_held_version(c, XDS_TYPE_RESOURCE, "bind/80/default/gw1"),
        ir_obj_version(xds_store_get(v.st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1")));
    /* a change and a removal reach it (the ACKs let them through) */
    xt_put(v.st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xds_store_delete(v.st, XDS_TYPE_RESOURCE, GW1, "route/default/r2.00.http");
    xds_store_commit(v.st);
    wait_updates(&v, 2, 1);
    assert_string_equal(v.last[XDS_TYPE_RESOURCE],
                        "+route/default/r1.00.http -route/default/r2.00.http");
    assert_int_equal(xds_client_held(c, XDS_TYPE_RESOURCE), 2);
    xds_client_stats_t cs;
    xds_client_stats(c, &cs);
    assert_int_equal(cs.acks, 3);
    assert_int_equal(cs.nacks, 0);
    /* the server saw our node and role */
    char *dbg = xds_server_debug_json(v.srv);
    assert_non_null(strstr(dbg, "\"role\": \"default~gw1\""));
    assert_non_null(strstr(dbg, "\"node\": \"proxy-1\""));
    free(dbg);
    close_client(&v, c);
    env_dispose(&v);
}

static void test_plaintext_updates_acks_and_scoping(void **state)
{
    (void)state;
    basic(false);
}

static void test_tls_updates_acks_and_scoping(void **state)
{
    (void)state;
    basic(true);
}

static void test_consumer_rejection_is_a_nack_and_changes_nothing_held(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, false, NULL);
    xds_client_t *c = client(&v, NULL, NULL);
    wait_updates(&v, 1, 1);
    v.reject = 1;
    xt_put(v.st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xds_store_commit(v.st);
    wait_updates(&v, 2, 1);
    xds_client_stats_t cs;
    xds_client_stats(c, &cs);
    assert_int_equal(cs.nacks, 1);
    const char *held = xds_client_held_version(c, XDS_TYPE_RESOURCE, "route/default/r1.00.http");
    const ir_obj_t *now = xds_store_get(v.st, XDS_TYPE_RESOURCE, GW1, "route/default/r1.00.http");
    assert_string_not_equal(held, ir_obj_version(now)); /* still the old version */
    /* the next change is accepted; the server counted the NACK with its reason */
    xt_put(v.st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 3);
    xds_store_commit(v.st);
    wait_updates(&v, 3, 1);
    xds_server_stats_t ss;
    xds_server_stats(v.srv, &ss);
    assert_int_equal(ss.nacks, 1);
    char *dbg = xds_server_debug_json(v.srv);
    assert_non_null(strstr(dbg, "rejected on purpose"));
    free(dbg);
    close_client(&v, c);
    env_dispose(&v);
}

static bool in_backoff(void *a)
{
    return ((env_t *)a)->states[XDS_CLIENT_BACKOFF] >= 1;
}

static void test_reconnect_resumes_with_initial_versions(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, false, NULL);
    xds_client_t *c = client(&v, NULL, NULL);
    wait_updates(&v, 1, 1);
    int port = v.port;
    xt_server_close(&v.L, v.srv);
    v.srv = NULL;
    xt_run_until(&v.L, in_backoff, &v);
    xds_client_stats_t cs;
    xds_client_stats(c, &cs);
    /* 20/2 + 0.5 * 20/2 for the first retry; a slow machine (valgrind) may already be on a
     * later one, whose delay follows the same formula from the doubled base. */
    assert_true(cs.attempt >= 1);
    assert_int_equal(cs.last_delay_ms, xds_backoff_delay(20, 200, cs.attempt - 1, 0.5));
    if (cs.attempt == 1)
        assert_int_equal(cs.last_delay_ms, 15);
    /* while away: r1 changes, r2 goes, a route appears */
    xt_put(v.st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 5);
    xds_store_delete(v.st, XDS_TYPE_RESOURCE, GW1, "route/default/r2.00.http");
    xt_put(v.st, IR_KIND_ROUTE, GW1, "default/r3.00.http", 1);
    xds_store_commit(v.st);
    start_server(&v, port);
    wait_updates(&v, 2, 2);
    /* only the difference: the bind and the Address were declared with current versions */
    assert_string_equal(
        v.last[XDS_TYPE_RESOURCE],
        "+route/default/r1.00.http +route/default/r3.00.http -route/default/r2.00.http");
    assert_string_equal(v.last[XDS_TYPE_ADDRESS], "");
    xds_client_stats(c, &cs);
    assert_true(cs.streams >= 2);
    assert_int_equal(cs.attempt, 0); /* healthy again */
    xds_server_stats_t ss;
    xds_server_stats(v.srv, &ss);
    assert_int_equal(ss.resources_sent, 2);
    close_client(&v, c);
    env_dispose(&v);
}

static void test_bearer_tokens_static_and_from_a_file(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, false, "t0k default~gw1\n");
    xds_client_t *c = client(&v, "t0k", NULL);
    wait_updates(&v, 1, 1);
    close_client(&v, c);
    char path[] = "/tmp/xds-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "t0k\n", 4), 4);
    close(fd);
    c = client(&v, NULL, path);
    wait_updates(&v, 2, 2);
    close_client(&v, c);
    /* a wrong token: refused, backing off */
    memset(v.states, 0, sizeof v.states);
    c = client(&v, "nope", NULL);
    xt_run_until(&v.L, in_backoff, &v);
    close_client(&v, c);
    unlink(path);
    env_dispose(&v);
}

static void test_backoff_doubles_to_its_cap_with_equal_jitter(void **state)
{
    (void)state;
    assert_int_equal(xds_backoff_delay(100, 1000, 0, 0.0), 50);
    assert_int_equal(xds_backoff_delay(100, 1000, 0, 1.0), 100);
    assert_int_equal(xds_backoff_delay(100, 1000, 1, 0.0), 100);
    assert_int_equal(xds_backoff_delay(100, 1000, 3, 0.5), 600);
    assert_int_equal(xds_backoff_delay(100, 1000, 4, 1.0), 1000);
    assert_int_equal(xds_backoff_delay(100, 1000, 60, 0.0), 500);
    assert_int_equal(xds_backoff_delay(100, 1000, 4000000000u, 1.0), 1000);
}

static void test_bad_configuration_is_refused(void **state)
{
    (void)state;
    xt_loop_t L;
    xt_loop_init(&L, 1000);
    xds_client_config_t cfg;
    xds_client_config_default(&cfg);
    int err = 0;
    assert_null(xds_client_new(&L.loop, &cfg, &err));
    assert_int_equal(err, XDS_EINVAL);
    cfg.host = "127.0.0.1";
    cfg.port = 1;
    cfg.node_id = "n";
    cfg.on_update = on_update;
    cfg.role = "bad";
    assert_null(xds_client_new(&L.loop, &cfg, &err));
    assert_int_equal(err, XDS_EINVAL);
    xt_loop_dispose(&L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plaintext_updates_acks_and_scoping),
        cmocka_unit_test(test_tls_updates_acks_and_scoping),
        cmocka_unit_test(test_consumer_rejection_is_a_nack_and_changes_nothing_held),
        cmocka_unit_test(test_reconnect_resumes_with_initial_versions),
        cmocka_unit_test(test_bearer_tokens_static_and_from_a_file),
        cmocka_unit_test(test_backoff_doubles_to_its_cap_with_equal_jitter),
        cmocka_unit_test(test_bad_configuration_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
