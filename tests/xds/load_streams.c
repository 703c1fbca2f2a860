/*
 * Load: 1,000 concurrent delta streams on loopback (our xds client, one connection each, ten
 * Gateways), in one process with the server. One change to an unscoped Address reaches all of them;
 * one change to a Gateway's route reaches exactly that Gateway's streams; a stream that never reads
 * (its response delivery paused from the start) stays within its bound while big changes flow, and
 * the others keep receiving everything. No timing assertions: the watchdog only turns a hang into a
 * failure. Not run under valgrind (registered by xds/CMakeLists.txt).
 */
#include <sys/resource.h>

#include "xds_test_net.h"

#include "xds/client.h"

#define NGW 10

typedef struct peer {
    int index;
    int gw;
    char addr_version[17];
    char route_version[17];
    int updates;
} peer_t;

static xt_loop_t L;
static xds_store_t *store;
static xds_server_t *server;
static peer_t *peers;
static xds_client_t **clients;
static int npeers;

static int on_update(xds_client_t *c, const xds_update_t *u, char *reason, size_t cap, void *ud)
{
    (void)c;
    (void)reason;
    (void)cap;
    peer_t *p = ud;
    p->updates++;
    for (size_t i = 0; i < u->n_added; i++) {
        const ir_obj_t *o = u->added[i];
        if (u->type == XDS_TYPE_ADDRESS)
            snprintf(p->addr_version, sizeof p->addr_version, "%s", ir_obj_version(o));
        else if (ir_obj_kind(o) == IR_KIND_ROUTE)
            snprintf(p->route_version, sizeof p->route_version, "%s", ir_obj_version(o));
    }
    return 0;
}

static const char *want_addr, *want_route;
static int want_route_gw;

static bool all_have(void *a)
{
    (void)a;
    for (int i = 0; i < npeers; i++) {
        if (strcmp(peers[i].addr_version, want_addr) != 0)
            return false;
        if (want_route && peers[i].gw == want_route_gw &&
            strcmp(peers[i].route_version, want_route) != 0)
            return false;
    }
    return true;
}

static void gw_name(int g, char *out, size_t cap)
{
    snprintf(out, cap, "ns%d/gw", g);
}

static const ir_obj_t *route(int g, unsigned salt)
{
    char gw[32];
    gw_name(g, gw, sizeof gw);
    char key[64];
    snprintf(key, sizeof key, "ns%d/r.00.http", g);
    return xt_obj(IR_KIND_ROUTE, gw, key, salt);
}

/* Puts |o| (taken) and returns its version, in a buffer of its own (never reused). */
static const char *put(const ir_obj_t *o)
{
    static char v[256][17];
    static int k;
    assert_true(k < 256);
    snprintf(v[k], sizeof v[k], "%s", ir_obj_version(o));
    assert_true(xds_store_put(store, o) >= 0);
    ir_obj_release(o);
    return v[k++];
}

static void test_thousand_streams_one_change_reaches_all(void **state)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    npeers = 1000;
    if (rl.rlim_cur < 2 * 1000 + 64) {
        npeers = (int)(rl.rlim_cur - 64) / 2;
        print_message("file descriptor limit %llu: running %d streams instead of 1000\n",
                      (unsigned long long)rl.rlim_cur, npeers);
    }
    xt_loop_init(&L, 240000);
    store = xds_store_new();
    const char *addr =
        put(xt_obj(IR_KIND_ADDRESS, NULL, "default/svc.default.svc.cluster.local", 1));
    for (int g = 0; g < NGW; g++) {
        char gw[32], key[64];
        gw_name(g, gw, sizeof gw);
        snprintf(key, sizeof key, "80/%s", gw);
        put(xt_obj(IR_KIND_BIND, gw, key, 1));
        put(route(g, 1));
    }
    xds_store_commit(store);
    xds_server_config_t cfg;
    xds_server_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.max_connections = (size_t)npeers + 16;
    int err = 0;
    server = xds_server_new(&L.loop, store, &cfg, &err);
    assert_non_null(server);

    /* the stream that never reads */
    xt_raw_t slow;
    xt_raw_connect(&L, &slow, xds_server_port(server), NULL);
    xt_raw_call(&slow, XDS_DELTA_PATH, NULL);
    net_grpc_client_call_set_recv_paused(slow.call, true);
    xt_node_t n;
    xt_req_t q;
    xt_req(&q, XDS_TYPE_RESOURCE);
    q.m.node = xt_node(&n, "slow", "ns0~gw");
    xt_raw_send(&slow, &q);
    xt_req(&q, XDS_TYPE_ADDRESS);
    xt_raw_send(&slow, &q);

    peers = calloc((size_t)npeers, sizeof *peers);
    clients = calloc((size_t)npeers, sizeof *clients);
    for (int i = 0; i < npeers; i++) {
        peers[i].index = i;
        peers[i].gw = i % NGW;
        char role[32], id[32];
        snprintf(role, sizeof role, "ns%d~gw", peers[i].gw);
        snprintf(id, sizeof id, "proxy-%d", i);
        xds_client_config_t cc;
        xds_client_config_default(&cc);
        cc.host = "127.0.0.1";
        cc.port = (uint16_t)xds_server_port(server);
        cc.node_id = id;
        cc.role = role;
        cc.on_update = on_update;
        cc.ud = &peers[i];
        clients[i] = xds_client_new(&L.loop, &cc, &err);
        assert_non_null(clients[i]);
    }
    want_addr = addr;
    want_route = NULL;
    xt_run_until(&L, all_have, NULL);
    print_message("%d streams subscribed\n", npeers);

    /* one Address change reaches every stream */
    want_addr = put(xt_obj(IR_KIND_ADDRESS, NULL, "default/svc.default.svc.cluster.local", 2));
    xds_store_commit(store);
    xt_run_until(&L, all_have, NULL);

    /* one route change of ns3/gw reaches that Gateway's streams and no other */
    int before[NGW] = {0}, after[NGW] = {0};
    for (int i = 0; i < npeers; i++)
        before[peers[i].gw] += peers[i].updates;
    want_route_gw = 3;
    want_route = put(route(3, 2));
    want_addr = put(xt_obj(IR_KIND_ADDRESS, NULL, "default/svc.default.svc.cluster.local", 3));
    xds_store_commit(store);
    xt_run_until(&L, all_have, NULL);
    for (int i = 0; i < npeers; i++)
        after[peers[i].gw] += peers[i].updates;
    int per_gw = npeers / NGW;
    for (int g = 0; g < NGW; g++) /* one Address update each, plus the route for ns3 */
        assert_int_equal(after[g] - before[g], per_gw * (g == 3 ? 2 : 1) + (g < npeers % NGW));

    /* big changes of ns0's routes flow to everyone but the silent stream */
    char *pad = malloc(65537);
    memset(pad, 'p', 65536);
    pad[65536] = '\0';
    for (int round = 0; round < 5; round++) {
        for (int r = 0; r < 8; r++) {
            Agentgateway__Dev__Resource__Route m = AGENTGATEWAY__DEV__RESOURCE__ROUTE__INIT;
            char key[64];
            snprintf(key, sizeof key, "ns0/big%d.00.http", r);
            char *hosts[1] = {pad};
            pad[0] = (char)('a' + round);
            m.key = key;
            m.n_hostnames = 1;
            m.hostnames = hosts;
            ir_err_t e = {0};
            put(ir_route_obj(ir_route_from_pb(&m, "ns0/gw", &e)));
        }
        want_addr = put(xt_obj(IR_KIND_ADDRESS, NULL, "default/svc.default.svc.cluster.local",
                               10 + (unsigned)round));
        xds_store_commit(store);
        xt_run_until(&L, all_have, NULL);
    }
    free(pad);
    xds_server_stats_t st;
    xds_server_stats(server, &st);
    print_message("responses %llu, bytes %llu, max held %zu, max queued %zu\n",
                  (unsigned long long)st.responses, (unsigned long long)st.bytes_sent,
                  st.max_held_bytes, st.max_queued_bytes);
    assert_int_equal((int)st.streams, npeers + 1);
    /* bounds: one response per type held, the stream queue cap, over every stream */
    assert_true(st.max_held_bytes <= 2u * cfg.max_response_bytes + 65536u);
    json_t *j = xds_server_debug(server);
    json_t *conns = json_object_get(j, "connections");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(conns); i++) {
        json_t *c = json_array_get(conns, i);
        if (strcmp(json_string_value(json_object_get(c, "node")), "slow") != 0)
            continue;
        seen = true;
        json_t *types = json_object_get(json_object_get(c, "session"), "types");
        json_t *res = json_object_get(types, IR_TYPE_URL_RESOURCE);
        /* it never ACKed: one response per type, and dirty names bounded by its view (2 + 8) */
        assert_true(json_integer_value(json_object_get(c, "responses")) <= 2);
        assert_true(json_integer_value(json_object_get(res, "dirty")) <= 10);
        assert_true(json_integer_value(json_object_get(c, "queued_bytes")) +
                        json_integer_value(json_object_get(c, "held_bytes")) <=
                    (json_int_t)(256u * 1024u + 2u * cfg.max_response_bytes));
    }
    assert_true(seen);
    json_decref(j);

    net_grpc_client_call_cancel(slow.call);
    xt_raw_close(&slow);
    for (int i = 0; i < npeers; i++)
        xds_client_close(clients[i], NULL, NULL);
    xt_server_close(&L, server);
    xt_spin(&L, 100);
    xds_store_free(store);
    free(peers);
    free(clients);
    xt_loop_dispose(&L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_streams_one_change_reaches_all),
    };
    xds_log_set(NULL, NULL, XDS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
