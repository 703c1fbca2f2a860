/*
 * Loop and raw-gRPC helpers for the xds tests that use sockets: a loop with a watchdog (bounded
 * waits, no timing assertions), a raw delta-xDS stream made with net/'s gRPC client (so tests see
 * exactly what the server sends, without our xDS client in between), and server start/stop.
 * Header-only and static.
 */
#ifndef XDS_TEST_NET_H
#define XDS_TEST_NET_H

#include "xds_test_util.h"

#include "net/grpc_client.h"
#include "xds/auth.h"
#include "xds/server.h"

typedef struct xt_loop {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
} xt_loop_t;

static XT_UNUSED void xt_watchdog_cb(uv_timer_t *t)
{
    ((xt_loop_t *)t->data)->expired = true;
}

static XT_UNUSED void xt_loop_init(xt_loop_t *L, uint64_t timeout_ms)
{
    memset(L, 0, sizeof *L);
    uv_loop_init(&L->loop);
    uv_timer_init(&L->loop, &L->watchdog);
    L->watchdog.data = L;
    uv_timer_start(&L->watchdog, xt_watchdog_cb, timeout_ms, 0);
    uv_unref((uv_handle_t *)&L->watchdog);
}

typedef bool (*xt_pred_t)(void *arg);

static XT_UNUSED void xt_run_until(xt_loop_t *L, xt_pred_t p, void *arg)
{
    for (long i = 0; i < 10000000 && !p(arg); i++) {
        if (L->expired)
            fail_msg("watchdog expired while waiting");
        uv_run(&L->loop, UV_RUN_ONCE);
    }
    assert_true(p(arg));
}

/* Runs the loop a little (a few turns), for "nothing more arrives" checks after a sync point. */
static XT_UNUSED void xt_spin(xt_loop_t *L, int turns)
{
    for (int i = 0; i < turns; i++)
        uv_run(&L->loop, UV_RUN_NOWAIT);
}

static XT_UNUSED void xt_loop_dispose(xt_loop_t *L)
{
    uv_close((uv_handle_t *)&L->watchdog, NULL);
    for (int i = 0; i < 100000 && uv_loop_alive(&L->loop); i++)
        uv_run(&L->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&L->loop), 0);
}

/* ---- a raw gRPC stream ---- */

#define XT_RAW_MAX 64
typedef struct xt_raw {
    xt_loop_t *L;
    net_conn_t *conn;
    bool open, closed;
    int conn_status;
    net_grpc_client_call_t *call;
    bool done;
    int status;
    char message[512];
    int nmsg;
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *resp[XT_RAW_MAX];
    uint8_t raw[XT_RAW_MAX][16];
    size_t rawlen[XT_RAW_MAX];
    bool decode; /* decode messages as DeltaDiscoveryResponse */
} xt_raw_t;

static XT_UNUSED void xt_raw_opened(net_conn_t *c, int status, void *ud)
{
    (void)c;
    xt_raw_t *r = ud;
    r->conn_status = status;
    r->open = status == NET_OK;
}

static XT_UNUSED void xt_raw_closed(net_conn_t *c, int status, void *ud)
{
    (void)c;
    (void)status;
    xt_raw_t *r = ud;
    r->closed = true;
    r->open = false;
    r->conn = NULL;
}

static XT_UNUSED bool xt_raw_is_open(void *a)
{
    xt_raw_t *r = a;
    return r->open || r->closed;
}

static XT_UNUSED void xt_raw_connect(xt_loop_t *L, xt_raw_t *r, int port, net_tls_ctx_t *tls)
{
    memset(r, 0, sizeof *r);
    r->L = L;
    r->decode = true;
    net_client_config_t nc;
    net_client_config_default(&nc);
    nc.host = tls ? "localhost" : "127.0.0.1";
    nc.port = (uint16_t)port;
    nc.tls = tls;
    nc.cb = net_grpc_client_h2_callbacks;
    nc.ud = r;
    nc.on_connect = xt_raw_opened;
    nc.on_close = xt_raw_closed;
    int err = 0;
    r->conn = net_client_connect(&L->loop, &nc, &err);
    assert_non_null(r->conn);
    xt_run_until(L, xt_raw_is_open, r);
    assert_true(r->open);
}

static XT_UNUSED void xt_raw_msg(net_grpc_client_call_t *call, const uint8_t *msg, size_t len,
                                 void *ud)
{
    (void)call;
    xt_raw_t *r = ud;
    assert_true(r->nmsg < XT_RAW_MAX);
    if (r->decode) {
        r->resp[r->nmsg] =
            envoy__service__discovery__v3__delta_discovery_response__unpack(NULL, len, msg);
        assert_non_null(r->resp[r->nmsg]);
    } else {
        r->rawlen[r->nmsg] = len < 16 ? len : 16;
        memcpy(r->raw[r->nmsg], msg, r->rawlen[r->nmsg]);
    }
    r->nmsg++;
}

static XT_UNUSED void xt_raw_status(net_grpc_client_call_t *call, int status, const char *message,
                                    const net_h2_header_t *tr, size_t n, void *ud)
{
    (void)call;
    (void)tr;
    (void)n;
    xt_raw_t *r = ud;
    r->done = true;
    r->call = NULL;
    r->status = status;
    snprintf(r->message, sizeof r->message, "%s", message);
}

static XT_UNUSED void xt_raw_call(xt_raw_t *r, const char *path, const char *token)
{
    static const net_grpc_client_callbacks_t cb = {.on_message = xt_raw_msg,
                                                   .on_status = xt_raw_status};
    char auth[256];
    net_h2_header_t md[1];
    size_t n = 0;
    if (token) {
        snprintf(auth, sizeof auth, "Bearer %s", token);
        md[0] = NET_H2_HDR("authorization", auth);
        n = 1;
    }
    net_grpc_client_call_config_t cc = {.path = path, .metadata = md, .nmetadata = n};
    r->done = false;
    assert_int_equal(net_grpc_client_call_start(r->conn, &cc, &cb, r, &r->call), NET_OK);
}

static XT_UNUSED void xt_raw_send_bytes(xt_raw_t *r, const void *b, size_t len)
{
    assert_int_equal(net_grpc_client_call_send(r->call, b, len), NET_OK);
}

static XT_UNUSED void xt_raw_send(xt_raw_t *r, const xt_req_t *q)
{
    size_t len = protobuf_c_message_get_packed_size(&q->m.base);
    uint8_t *b = malloc(len + 1);
    protobuf_c_message_pack(&q->m.base, b);
    xt_raw_send_bytes(r, b, len);
    free(b);
}

/* A node with |id| and, when |role| is set, metadata {"role": role}; for xt_req_t.m.node. */
typedef struct xt_node {
    Envoy__Config__Core__V3__Node node;
    Google__Protobuf__Struct md;
    Google__Protobuf__Struct__FieldsEntry e;
    Google__Protobuf__Struct__FieldsEntry *ep[1];
    Google__Protobuf__Value v;
} xt_node_t;

static XT_UNUSED Envoy__Config__Core__V3__Node *xt_node(xt_node_t *n, const char *id,
                                                        const char *role)
{
    envoy__config__core__v3__node__init(&n->node);
    google__protobuf__struct__init(&n->md);
    google__protobuf__struct__fields_entry__init(&n->e);
    google__protobuf__value__init(&n->v);
    n->node.id = (char *)id;
    if (role) {
        n->v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        n->v.string_value = (char *)role;
        n->e.key = "role";
        n->e.value = &n->v;
        n->ep[0] = &n->e;
        n->md.fields = n->ep;
        n->md.n_fields = 1;
        n->node.metadata = &n->md;
    }
    return &n->node;
}

typedef struct xt_wait {
    xt_raw_t *r;
    int n;
} xt_wait_t;

static XT_UNUSED bool xt_raw_has(void *a)
{
    xt_wait_t *w = a;
    return w->r->nmsg >= w->n || w->r->done;
}

static XT_UNUSED bool xt_raw_is_done(void *a)
{
    return ((xt_raw_t *)a)->done;
}

/* Waits for message number |n| (1-based) and returns it. */
static XT_UNUSED Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *xt_raw_wait(xt_raw_t *r,
                                                                                    int n)
{
    xt_wait_t w = {r, n};
    xt_run_until(r->L, xt_raw_has, &w);
    if (r->nmsg < n)
        print_error("stream ended with %d: %s\n", r->status, r->message);
    assert_true(r->nmsg >= n);
    return r->resp[n - 1];
}

static XT_UNUSED void xt_raw_wait_done(xt_raw_t *r)
{
    xt_run_until(r->L, xt_raw_is_done, r);
}

static XT_UNUSED bool xt_raw_is_closed(void *a)
{
    return ((xt_raw_t *)a)->closed;
}

static XT_UNUSED void xt_raw_close(xt_raw_t *r)
{
    if (r->conn)
        net_conn_close(r->conn, false);
    xt_run_until(r->L, xt_raw_is_closed, r);
    for (int i = 0; i < r->nmsg; i++)
        if (r->resp[i])
            envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r->resp[i],
                                                                                   NULL);
    r->nmsg = 0;
}

/* "+name -name" of a decoded response, in order. */
static XT_UNUSED void xt_names(const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m,
                               char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < m->n_resources && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s+%s", n ? " " : "", m->resources[i]->name);
    for (size_t i = 0; i < m->n_removed_resources && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s-%s", n ? " " : "", m->removed_resources[i]);
}

/* ---- server ---- */

static XT_UNUSED xds_server_t *xt_server(xt_loop_t *L, xds_store_t *st, net_tls_ctx_t *tls,
                                         const xds_auth_t *auth)
{
    xds_server_config_t cfg;
    xds_server_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.tls = tls;
    cfg.auth = auth;
    int err = 0;
    xds_server_t *s = xds_server_new(&L->loop, st, &cfg, &err);
    if (!s)
        print_error("xds_server_new: %s\n", xds_strerror(err));
    assert_non_null(s);
    return s;
}

static XT_UNUSED void xt_flag(void *ud)
{
    *(bool *)ud = true;
}

static XT_UNUSED bool xt_is_true(void *a)
{
    return *(bool *)a;
}

static XT_UNUSED void xt_server_close(xt_loop_t *L, xds_server_t *s)
{
    bool closed = false;
    xds_server_close(s, xt_flag, &closed);
    xt_run_until(L, xt_is_true, &closed);
}

/* TLS contexts from a fresh test CA: a server context, and a client one trusting the CA. */
static XT_UNUSED void xt_tls(net_tls_testcert_t *tc, net_tls_ctx_t **srv, net_tls_ctx_t **cli)
{
    assert_int_equal(net_tls_testcert_make(tc, "localhost", NULL, false), NET_OK);
    net_tls_config_t sc = {.cert_pem = tc->cert_pem, .key_pem = tc->key_pem};
    net_tls_config_t cc = {.ca_pem = tc->ca_pem};
    int err;
    *srv = net_tls_ctx_new(true, &sc, &err);
    *cli = net_tls_ctx_new(false, &cc, &err);
    assert_non_null(*srv);
    assert_non_null(*cli);
}

#endif /* XDS_TEST_NET_H */
