/*
 * xds_push: the cost of one change on the wire. A krt static collection of routes feeds an
 * xds_store served by xds_server; N of our xDS clients (1, 100, 1000; one TCP connection each, all
 * proxies of the same Gateway, in this process on loopback) hold 100 routes and 50 Addresses. Each
 * round changes one route (and, separately, ten routes), then times from the krt flush to the
 * moment the last of the N clients has received the new version: that moment is after the last byte
 * was written by the server, so the figure is an upper bound of "flush to last byte written". Bytes
 * per changed resource = bytes the server wrote (gRPC messages, prefixes included) / (N x resources
 * changed).
 *
 * Prints one parsable line per case:
 *   xds_push clients=N changed=K rounds=R us_flush_to_last_byte=P50 us_max=MAX bytes_per_resource=B
 * Usage: xds_push [--smoke]   (--smoke: 1 and 10 clients, 3 rounds)
 */
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include "bench_util.h"
#include "ir/address.h"
#include "ir/route.h"
#include "xds/client.h"
#include "xds/server.h"
#include "xds/store.h"

#define NROUTES 100
#define NADDR   50
#define GW      "default/gw"

typedef struct peer {
    char version[NROUTES][17];
} peer_t;

static uv_loop_t loop;
static peer_t *peers;
static int npeers;

static int route_index(const char *name)
{
    const char *p = strstr(name, "/r");
    return p ? atoi(p + 2) : -1;
}

static int on_update(xds_client_t *c, const xds_update_t *u, char *reason, size_t cap, void *ud)
{
    (void)c;
    (void)reason;
    (void)cap;
    peer_t *p = ud;
    if (u->type != XDS_TYPE_RESOURCE)
        return 0;
    for (size_t i = 0; i < u->n_added; i++) {
        int k = route_index(ir_obj_name(u->added[i]));
        if (k >= 0 && k < NROUTES)
            memcpy(p->version[k], ir_obj_version(u->added[i]), 17);
    }
    return 0;
}

static const ir_obj_t *make_route(int i, unsigned salt)
{
    char key[64], lk[32];
    snprintf(key, sizeof key, "default/r%d.00.http", i);
    snprintf(lk, sizeof lk, "default/gw.http-%u", salt);
    Agentgateway__Dev__Resource__Route m = AGENTGATEWAY__DEV__RESOURCE__ROUTE__INIT;
    char *hosts[2] = {"example.com", "www.example.com"};
    m.key = key;
    m.listener_key = lk;
    m.n_hostnames = 2;
    m.hostnames = hosts;
    const ir_route_t *r = ir_route_from_pb(&m, GW, NULL);
    BENCH_CHECK(r != NULL, "route");
    return ir_route_obj(r);
}

static const ir_obj_t *make_addr(int i)
{
    char host[64];
    snprintf(host, sizeof host, "svc%d.default.svc.cluster.local", i);
    Istio__Workload__Address m = ISTIO__WORKLOAD__ADDRESS__INIT;
    Istio__Workload__Service sv = ISTIO__WORKLOAD__SERVICE__INIT;
    sv.namespace_ = "default";
    sv.hostname = host;
    sv.name = "svc";
    m.type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE;
    m.service = &sv;
    const ir_address_t *a = ir_address_from_pb(&m, NULL, NULL);
    BENCH_CHECK(a != NULL, "address");
    return ir_address_obj(a);
}

static char want[NROUTES][17];
static int want_from, want_n;

static bool all_have(void)
{
    for (int p = 0; p < npeers; p++)
        for (int k = want_from; k < want_from + want_n; k++)
            if (memcmp(peers[p].version[k], want[k], 17) != 0)
                return false;
    return true;
}

static void run_until_all(void)
{
    for (long i = 0; !all_have(); i++) {
        BENCH_CHECK(i < 50000000, "clients did not converge");
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void closed_flag(void *ud)
{
    *(bool *)ud = true;
}

static void run_case(int n, int rounds)
{
    npeers = n;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *routes = krt_static_new(e, ir_kind_type(IR_KIND_ROUTE), "routes", true);
    krt_collection_t *addrs = krt_static_new(e, ir_kind_type(IR_KIND_ADDRESS), "addresses", true);
    xds_store_t *st = xds_store_new();
    xds_store_watch(st, routes);
    xds_store_watch(st, addrs);
    unsigned salt = 1;
    for (int i = 0; i < NROUTES; i++) {
        const ir_obj_t *o = make_route(i, salt);
        memcpy(want[i], ir_obj_version(o), 17);
        krt_static_put(routes, ir_obj_krt(o));
    }
    for (int i = 0; i < NADDR; i++)
        krt_static_put(addrs, ir_obj_krt(make_addr(i)));
    xds_store_flush(st, e);

    xds_server_config_t cfg;
    xds_server_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.max_connections = (size_t)n + 16;
    int err = 0;
    xds_server_t *srv = xds_server_new(&loop, st, &cfg, &err);
    BENCH_CHECK(srv != NULL, "server: %s", xds_strerror(err));
    peers = calloc((size_t)n, sizeof *peers);
    xds_client_t **cl = calloc((size_t)n, sizeof *cl);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "proxy-%d", i);
        xds_client_config_t cc;
        xds_client_config_default(&cc);
        cc.host = "127.0.0.1";
        cc.port = (uint16_t)xds_server_port(srv);
        cc.node_id = id;
        cc.role = "default~gw";
        cc.on_update = on_update;
        cc.ud = &peers[i];
        cl[i] = xds_client_new(&loop, &cc, &err);
        BENCH_CHECK(cl[i] != NULL, "client");
    }
    want_from = 0;
    want_n = NROUTES;
    run_until_all();

    static const int changed[] = {1, 10};
    for (size_t c = 0; c < sizeof changed / sizeof changed[0]; c++) {
        int k = changed[c];
        uint64_t *us = calloc((size_t)rounds, sizeof *us);
        xds_server_stats_t s0, s1;
        xds_server_stats(srv, &s0);
        for (int r = 0; r < rounds; r++) {
            salt++;
            want_from = (r * 7) % (NROUTES - k);
            want_n = k;
            for (int i = want_from; i < want_from + k; i++) {
                const ir_obj_t *o = make_route(i, salt);
                memcpy(want[i], ir_obj_version(o), 17);
                krt_static_put(routes, ir_obj_krt(o));
            }
            uint64_t t0 = bench_now_ns();
            xds_store_flush(st, e);
            run_until_all();
            us[r] = (bench_now_ns() - t0) / 1000;
        }
        xds_server_stats(srv, &s1);
        qsort(us, (size_t)rounds, sizeof *us, cmp_u64);
        double bpr = (double)(s1.bytes_sent - s0.bytes_sent) / ((double)n * k * rounds);
        printf("xds_push clients=%d changed=%d rounds=%d us_flush_to_last_byte=%llu us_max=%llu "
               "bytes_per_resource=%.0f\n",
               n, k, rounds, (unsigned long long)us[rounds / 2], (unsigned long long)us[rounds - 1],
               bpr);
        fflush(stdout);
        free(us);
    }

    for (int i = 0; i < n; i++)
        xds_client_close(cl[i], NULL, NULL);
    bool closed = false;
    xds_server_close(srv, closed_flag, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 1000 && uv_run(&loop, UV_RUN_NOWAIT); i++)
        ;
    xds_store_free(st);
    krt_engine_free(e);
    free(cl);
    free(peers);
}

int main(int argc, char **argv)
{
    bool smoke = bench_has_flag(argc, argv, "--smoke");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    uv_loop_init(&loop);
    xds_log_set(bench_log_cb, NULL, XDS_LOG_ERROR);
    static const int full[] = {1, 100, 1000}, small[] = {1, 10};
    const int *sizes = smoke ? small : full;
    int count = smoke ? 2 : 3;
    for (int i = 0; i < count; i++) {
        int n = sizes[i];
        if ((rlim_t)(2 * n + 64) > rl.rlim_cur) {
            printf("# skipped clients=%d: file descriptor limit %llu\n", n,
                   (unsigned long long)rl.rlim_cur);
            continue;
        }
        run_case(n, smoke ? 3 : 50);
    }
    uv_loop_close(&loop);
    return 0;
}
