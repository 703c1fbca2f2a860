/*
 * Fuzz target: bytes → DeltaDiscoveryRequest → sessions (xds/session.c), with store changes, pulls
 * and ACK/NACKs interleaved, checking the sessions' and the store's invariants after every step.
 * Two sessions read the store: one scoped to default/gw1, one unscoped.
 *
 * Input: a sequence of records  op (1 byte) | len (1 byte) | len bytes
 *   op % 8 == 0  decode the bytes as a DeltaDiscoveryRequest for session (op >> 3) & 1
 *   op % 8 == 1  pull every response both sessions have, encode it
 *   op % 8 == 2  put a route (key and salt from the bytes) into gateway default/gw1 or unscoped
 *   op % 8 == 3  delete that route
 *   op % 8 == 4  put an (unscoped) Address, key and salt from the bytes
 *   op % 8 == 5  delete that Address
 *   op % 8 == 6  delete one route and put another in the same step (the freed id is reused)
 *   op % 8 == 7  ACK (or NACK, when bytes[1] is odd) the nonce in flight of session (op >> 3) & 1
 *                for type bytes[0] & 1
 * A single record covering the whole input (no framing) is also tried first, so plain encoded
 * requests in the corpus are exercised as they are.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/address.h"
#include "ir/route.h"
#include "xds/session.h"
#include "xds/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_xds_request: %s\n", what);
        abort();
    }
}

static void check(const xds_store_t *st)
{
    xds_err_t err = {0};
    if (xds_store_check(st, &err) != XDS_OK) {
        fprintf(stderr, "invariant: %s\n", err.msg);
        abort();
    }
}

static void quiet(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

static void pull_all(xds_session_t *s)
{
    for (int i = 0; i < 4; i++) {
        xds_response_t *r = NULL;
        int rc = xds_session_pull(s, &r);
        if (rc != 1)
            return;
        uint8_t *b;
        size_t len;
        must(xds_response_encode(r, &b, &len) == XDS_OK && len == xds_response_size(r), "encode");
        free(b);
        xds_response_free(r);
    }
}

static void route(xds_store_t *st, const uint8_t *p, size_t n, bool del)
{
    char key[32];
    snprintf(key, sizeof key, "default/r%u.00.http", n ? p[0] % 16u : 0u);
    const char *gw = n > 1 && (p[1] & 1) ? NULL : "default/gw1";
    if (del) {
        char name[48];
        snprintf(name, sizeof name, "route/%s", key);
        xds_store_delete(st, XDS_TYPE_RESOURCE, gw, name);
        return;
    }
    char salt[8];
    snprintf(salt, sizeof salt, "%u", n > 2 ? p[2] % 4u : 0u);
    Agentgateway__Dev__Resource__Route m = AGENTGATEWAY__DEV__RESOURCE__ROUTE__INIT;
    m.key = key;
    m.listener_key = salt;
    const ir_route_t *r = ir_route_from_pb(&m, gw, NULL);
    if (r) {
        xds_store_put(st, ir_route_obj(r));
        ir_obj_release(ir_route_obj(r));
    }
}

static void address(xds_store_t *st, const uint8_t *p, size_t n, bool del)
{
    char host[48];
    snprintf(host, sizeof host, "s%u.default.svc.cluster.local", n ? p[0] % 16u : 0u);
    if (del) {
        char name[64];
        snprintf(name, sizeof name, "default/%s", host);
        xds_store_delete(st, XDS_TYPE_ADDRESS, NULL, name);
        return;
    }
    char salt[8];
    snprintf(salt, sizeof salt, "%u", n > 1 ? p[1] % 4u : 0u);
    Istio__Workload__Address m = ISTIO__WORKLOAD__ADDRESS__INIT;
    Istio__Workload__Service sv = ISTIO__WORKLOAD__SERVICE__INIT;
    sv.namespace_ = "default";
    sv.hostname = host;
    sv.name = salt;
    m.type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE;
    m.service = &sv;
    const ir_address_t *a = ir_address_from_pb(&m, NULL, NULL);
    if (a) {
        xds_store_put(st, ir_address_obj(a));
        ir_obj_release(ir_address_obj(a));
    }
}

/* ACKs or NACKs what session |s| has in flight for a type. */
static void answer(xds_session_t *s, const uint8_t *p, size_t n)
{
    xds_type_t t = n && (p[0] & 1) ? XDS_TYPE_ADDRESS : XDS_TYPE_RESOURCE;
    xds_session_type_info_t ti;
    xds_session_type_info(s, t, &ti);
    if (!ti.in_flight)
        return;
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest req =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    req.type_url = (char *)xds_type_url(t);
    req.response_nonce = ti.nonce;
    if (n > 1 && (p[1] & 1)) {
        st.code = 13;
        st.message = "fuzz";
        req.error_detail = &st;
    }
    xds_session_recv(s, &req, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xds_log_set(quiet, NULL, XDS_LOG_ERROR);
    xds_store_t *st = xds_store_new();
    xds_session_config_t cfg;
    xds_session_config_default(&cfg);
    cfg.max_response_bytes = 256;
    cfg.max_subscriptions = 64;
    int e;
    xds_session_t *ss[2];
    ss[0] = xds_session_new(st, "fuzz", "default/gw1", &cfg, &e);
    ss[1] = xds_session_new(st, "fuzz-0", NULL, &cfg, &e);
    must(ss[0] && ss[1], "session");
    route(st, (const uint8_t *)"\x01\x00\x01", 3, false);
    route(st, (const uint8_t *)"\x02\x01\x01", 3, false);
    address(st, (const uint8_t *)"\x01\x01", 2, false);

    xds_session_recv_bytes(ss[0], data, size, NULL);
    check(st);
    pull_all(ss[0]);
    check(st);

    size_t i = 0;
    while (i + 2 <= size) {
        uint8_t op = data[i];
        size_t n = data[i + 1];
        i += 2;
        if (n > size - i)
            n = size - i;
        const uint8_t *p = data + i;
        i += n;
        xds_session_t *s = ss[(op >> 3) & 1];
        switch (op % 8) {
        case 0:
            xds_session_recv_bytes(s, p, n, NULL);
            break;
        case 1:
            pull_all(ss[0]);
            pull_all(ss[1]);
            break;
        case 2:
            route(st, p, n, false);
            break;
        case 3:
            route(st, p, n, true);
            break;
        case 4:
            address(st, p, n, false);
            break;
        case 5:
            address(st, p, n, true);
            break;
        case 6:
            route(st, p, n, true);
            if (n > 1)
                route(st, p + 1, n - 1, false);
            break;
        case 7:
            answer(s, p, n);
            break;
        }
        check(st);
    }
    xds_session_free(ss[0]);
    xds_session_free(ss[1]);
    check(st);
    xds_store_free(st);
    return 0;
}
