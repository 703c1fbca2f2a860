/*
 * The wire part of `krtgate bench` (see wire.h): xds store + gRPC server + one xds client per
 * Gateway on 127.0.0.1, driven on one libuv loop between flushes.
 *
 * Expectations are checked with a cursor: within one change a name has one target version, and a
 * client that reached it keeps it until the next change, so a met expectation stays met and each
 * (expectation, client) pair is checked until it first holds, then never again. That keeps the
 * wait linear in what changed, not in what the clients hold.
 * State-of-the-world comparison: for every client and every type the change touched in its view,
 * SotW would resend the whole view of that type; the bytes are the sum of the resources' wire
 * encodings (ir_obj_wire), kept per (type, scope) from the same events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <uv.h>

#include "wire.h"

#include "ir/ir.h"
#include "xds/client.h"
#include "xds/server.h"
#include "xds/store.h"

#define WIRE_TIMEOUT_MS 120000

typedef struct expect {
    xds_type_t type;
    size_t scope; /* 0: unscoped; 1 + g: Gateway g */
    char *name;
    char version[24];
    bool del;
} expect_t;

typedef struct proxy {
    bs_wire_t *w;
    xds_client_t *c;
    size_t gw;
    uint64_t updates;
} proxy_t;

struct bs_wire {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    bool loop_ready;
    xds_store_t *store;
    xds_server_t *server;
    proxy_t *px;
    size_t npx;
    char **gws;
    size_t ngw;
    expect_t *ex;
    size_t nex, cap, cursor, pcursor;
    uint64_t *bytes[XDS_TYPE_COUNT];  /* per scope */
    uint64_t *counts[XDS_TYPE_COUNT]; /* per scope */
    bool *touched[XDS_TYPE_COUNT];    /* per scope, this change */
    uint64_t sotw_bytes, sotw_resources;
    int closing;
};

bool bs_wire_available(void)
{
    return true;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t scope_of(const bs_wire_t *w, const char *gateway)
{
    if (!gateway)
        return 0;
    for (size_t i = 0; i < w->ngw; i++)
        if (strcmp(w->gws[i], gateway) == 0)
            return 1 + i;
    return 0; /* a Gateway without a proxy slot: counted with the unscoped (never happens here) */
}

static void account(bs_wire_t *w, const krt_obj_t *ko, int sign)
{
    const ir_obj_t *o = ir_obj_from_krt(ko);
    if (!o)
        return;
    xds_type_t t = xds_type_of_kind(ir_obj_kind(o));
    size_t s = scope_of(w, ir_obj_gateway(o)), len = 0;
    ir_obj_wire(o, &len);
    if (sign > 0) {
        w->bytes[t][s] += len;
        w->counts[t][s]++;
    } else {
        w->bytes[t][s] -= len;
        w->counts[t][s]--;
    }
    w->touched[t][s] = true;
}

void bs_wire_expect(bs_wire_t *w, const krt_batch_t *batch)
{
    for (size_t i = 0; w && i < batch->len; i++) {
        const krt_event_t *ev = &batch->events[i];
        if (ev->old)
            account(w, ev->old, -1);
        if (ev->cur)
            account(w, ev->cur, +1);
        const ir_obj_t *o = ir_obj_from_krt(krt_event_latest(ev));
        if (!o)
            continue;
        if (w->nex == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64;
            expect_t *n = realloc(w->ex, cap * sizeof(*n));
            if (!n)
                continue; /* OOM: the wait is then shorter than it should be; the final sync
                             check still catches a missing delivery */
            w->ex = n;
            w->cap = cap;
        }
        expect_t *e = &w->ex[w->nex];
        e->type = xds_type_of_kind(ir_obj_kind(o));
        e->scope = scope_of(w, ir_obj_gateway(o));
        e->name = strdup(ir_obj_name(o));
        e->del = ev->cur == NULL;
        snprintf(e->version, sizeof(e->version), "%s", ir_obj_version(o));
        if (e->name)
            w->nex++;
    }
}

static bool met(bs_wire_t *w)
{
    for (; w->cursor < w->nex; w->cursor++, w->pcursor = 0) {
        const expect_t *e = &w->ex[w->cursor];
        for (; w->pcursor < w->npx; w->pcursor++) {
            const proxy_t *p = &w->px[w->pcursor];
            if (e->scope != 0 && e->scope != 1 + p->gw)
                continue;
            const char *v = xds_client_held_version(p->c, e->type, e->name);
            bool ok = e->del ? v == NULL : (v && strcmp(v, e->version) == 0);
            if (!ok)
                return false;
        }
    }
    return true;
}

static void watchdog_cb(uv_timer_t *t)
{
    ((bs_wire_t *)t->data)->expired = true;
}

static uint64_t total_nacks(const bs_wire_t *w)
{
    uint64_t n = 0;
    for (size_t i = 0; i < w->npx; i++) {
        xds_client_stats_t st;
        xds_client_stats(w->px[i].c, &st);
        n += st.nacks;
    }
    return n;
}

/* Runs the loop until |pred| holds. Returns 0, or -1 on timeout or NACK. */
static int run_until(bs_wire_t *w, bool (*pred)(bs_wire_t *w), const char *what)
{
    w->expired = false;
    uv_timer_start(&w->watchdog, watchdog_cb, WIRE_TIMEOUT_MS, 0);
    int rc = 0;
    while (!pred(w)) {
        if (w->expired) {
            fprintf(stderr, "krtgate-bench: xds: timed out after %d ms waiting for %s\n",
                    WIRE_TIMEOUT_MS, what);
            rc = -1;
            break;
        }
        if (total_nacks(w)) {
            fprintf(stderr, "krtgate-bench: xds: a client rejected a response (NACK) while "
                            "waiting for %s\n", what);
            rc = -1;
            break;
        }
        uv_run(&w->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&w->watchdog);
    return rc;
}

bool bs_wire_in_sync(bs_wire_t *w)
{
    for (size_t i = 0; i < w->npx; i++) {
        const char *gw = w->gws[w->px[i].gw];
        for (int t = 0; t < XDS_TYPE_COUNT; t++) {
            size_t want = xds_store_count(w->store, (xds_type_t)t, NULL) +
                          xds_store_count(w->store, (xds_type_t)t, gw);
            if (xds_client_held(w->px[i].c, (xds_type_t)t) != want)
                return false;
        }
    }
    return true;
}

int bs_wire_wait(bs_wire_t *w, uint64_t *done_ns)
{
    *done_ns = 0;
    xds_store_commit(w->store);
    for (size_t i = 0; i < w->npx; i++) /* what SotW would resend */
        for (int t = 0; t < XDS_TYPE_COUNT; t++)
            if (w->touched[t][0] || w->touched[t][1 + w->px[i].gw]) {
                w->sotw_bytes += w->bytes[t][0] + w->bytes[t][1 + w->px[i].gw];
                w->sotw_resources += w->counts[t][0] + w->counts[t][1 + w->px[i].gw];
            }
    int rc = 0;
    if (w->nex) {
        rc = run_until(w, met, "a change to reach every client");
        *done_ns = now_ns();
    }
    for (size_t i = 0; i < w->nex; i++)
        free(w->ex[i].name);
    w->nex = w->cursor = w->pcursor = 0;
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        memset(w->touched[t], 0, (w->ngw + 1) * sizeof(bool));
    return rc;
}

void bs_wire_stats(const bs_wire_t *w, bs_wire_stats_t *out)
{
    xds_server_stats_t st;
    xds_server_stats(w->server, &st);
    out->bytes_sent += st.bytes_sent;
    out->resources_sent += st.resources_sent;
    out->responses += st.responses;
    out->sotw_bytes += w->sotw_bytes;
    out->sotw_resources += w->sotw_resources;
}

size_t bs_wire_proxies(const bs_wire_t *w)
{
    return w->npx;
}

static int on_update(xds_client_t *c, const xds_update_t *u, char *reason, size_t cap, void *ud)
{
    (void)c;
    (void)u;
    (void)reason;
    (void)cap;
    ((proxy_t *)ud)->updates++;
    return 0;
}

static bool count_obj(const krt_obj_t *o, void *ud)
{
    account(ud, o, +1);
    return true;
}

bs_wire_t *bs_wire_new(krt_collection_t *const *outs, size_t n, size_t proxies,
                       const char *const *gateways, size_t ngw, uint64_t *initial_ns)
{
    bs_wire_t *w = calloc(1, sizeof(*w));
    if (!w || ngw == 0)
        goto oom;
    uv_loop_init(&w->loop);
    uv_timer_init(&w->loop, &w->watchdog);
    w->watchdog.data = w;
    uv_unref((uv_handle_t *)&w->watchdog);
    w->loop_ready = true;
    w->ngw = ngw;
    w->gws = calloc(ngw, sizeof(char *));
    if (!w->gws)
        goto oom;
    for (size_t i = 0; i < ngw; i++)
        if (!(w->gws[i] = strdup(gateways[i])))
            goto oom;
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        w->bytes[t] = calloc(ngw + 1, sizeof(uint64_t));
        w->counts[t] = calloc(ngw + 1, sizeof(uint64_t));
        w->touched[t] = calloc(ngw + 1, sizeof(bool));
        if (!w->bytes[t] || !w->counts[t] || !w->touched[t])
            goto oom;
    }
    for (size_t i = 0; i < n; i++)
        krt_collection_foreach(outs[i], count_obj, w);
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        memset(w->touched[t], 0, (ngw + 1) * sizeof(bool));

    w->store = xds_store_new();
    if (!w->store)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (xds_store_watch(w->store, outs[i]) != XDS_OK) {
            fprintf(stderr, "krtgate-bench: xds: cannot watch %s\n", krt_collection_name(outs[i]));
            goto fail;
        }
    xds_store_commit(w->store);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    xds_server_config_t cfg;
    xds_server_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.max_connections = proxies + 16;
    cfg.max_response_bytes = 64u * 1024u * 1024u; /* the initial push of a large cluster */
    int err = 0;
    w->server = xds_server_new(&w->loop, w->store, &cfg, &err);
    if (!w->server) {
        fprintf(stderr, "krtgate-bench: xds: server on 127.0.0.1: %s\n", xds_strerror(err));
        goto fail;
    }
    w->px = calloc(proxies ? proxies : 1, sizeof(proxy_t));
    if (!w->px)
        goto oom;
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < proxies; i++) {
        proxy_t *p = &w->px[i];
        p->w = w;
        p->gw = i % ngw;
        char role[256], id[64];
        if (xds_gateway_to_role(w->gws[p->gw], role, sizeof(role)) != XDS_OK) {
            fprintf(stderr, "krtgate-bench: xds: bad gateway name %s\n", w->gws[p->gw]);
            goto fail;
        }
        snprintf(id, sizeof(id), "bench-proxy-%zu", i);
        xds_client_config_t cc;
        xds_client_config_default(&cc);
        cc.host = "127.0.0.1";
        cc.port = (uint16_t)xds_server_port(w->server);
        cc.node_id = id;
        cc.role = role;
        cc.on_update = on_update;
        cc.ud = p;
        cc.max_response_bytes = 256u * 1024u * 1024u;
        p->c = xds_client_new(&w->loop, &cc, &err);
        if (!p->c) {
            fprintf(stderr, "krtgate-bench: xds: client %zu: %s\n", i, xds_strerror(err));
            goto fail;
        }
        w->npx++;
    }
    if (run_until(w, bs_wire_in_sync, "the initial push to every client") != 0)
        goto fail;
    *initial_ns = now_ns() - t0;
    return w;
oom:
    fprintf(stderr, "krtgate-bench: xds: out of memory\n");
fail:
    bs_wire_free(w);
    return NULL;
}

static void on_closed(void *ud)
{
    ((bs_wire_t *)ud)->closing--;
}

void bs_wire_free(bs_wire_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->npx; i++) {
        w->closing++;
        xds_client_close(w->px[i].c, on_closed, w);
    }
    if (w->server) {
        w->closing++;
        xds_server_close(w->server, on_closed, w);
    }
    for (long i = 0; i < 1000000 && w->closing > 0; i++)
        uv_run(&w->loop, UV_RUN_NOWAIT);
    xds_store_free(w->store);
    if (w->loop_ready) {
        uv_close((uv_handle_t *)&w->watchdog, NULL);
        for (long i = 0; i < 100000 && uv_loop_alive(&w->loop); i++)
            uv_run(&w->loop, UV_RUN_NOWAIT);
        uv_loop_close(&w->loop);
    }
    for (size_t i = 0; w->gws && i < w->ngw; i++)
        free(w->gws[i]);
    free(w->gws);
    for (size_t i = 0; i < w->nex; i++)
        free(w->ex[i].name);
    free(w->ex);
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        free(w->bytes[t]);
        free(w->counts[t]);
        free(w->touched[t]);
    }
    free(w->px);
    free(w);
}
