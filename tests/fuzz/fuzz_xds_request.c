/*
 * Fuzz target: bytes → DeltaDiscoveryRequest → session (xds/session.c), with store changes and
 * pulls interleaved, checking the session's and the store's invariants after every step.
 *
 * Input: a sequence of records  op (1 byte) | len (1 byte) | len bytes
 *   op % 4 == 0  decode the bytes as a DeltaDiscoveryRequest and hand it to the session
 *   op % 4 == 1  pull every response the session has, encode it
 *   op % 4 == 2  put a route (key and salt from the bytes) into gateway default/gw1 or unscoped
 *   op % 4 == 3  delete that route
 * A single record covering the whole input (no framing) is also tried first, so plain encoded
 * requests in the corpus are exercised as they are.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    snprintf(key, sizeof key, "default/r%u.00.http", n ? p[0] % 8u : 0u);
    const char *gw = n > 1 && (p[1] & 1) ? NULL : "default/gw1";
    if (del) {
        char name[48];
        snprintf(name, sizeof name, "route/%s", key);
        xds_store_delete(st, XDS_TYPE_RESOURCE, gw, name);
        return;
    }
    char salt[8];
    snprintf(salt, sizeof salt, "%u", n > 2 ? p[2] : 0u);
    Agentgateway__Dev__Resource__Route m = AGENTGATEWAY__DEV__RESOURCE__ROUTE__INIT;
    m.key = key;
    m.listener_key = salt;
    const ir_route_t *r = ir_route_from_pb(&m, gw, NULL);
    if (r) {
        xds_store_put(st, ir_route_obj(r));
        ir_obj_release(ir_route_obj(r));
    }
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
    xds_session_t *s = xds_session_new(st, "fuzz", "default/gw1", &cfg, &e);
    must(s != NULL, "session");
    route(st, (const uint8_t *)"\x01\x00\x01", 3, false);
    route(st, (const uint8_t *)"\x02\x01\x01", 3, false);

    xds_session_recv_bytes(s, data, size, NULL);
    check(st);
    pull_all(s);
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
        switch (op % 4) {
        case 0:
            xds_session_recv_bytes(s, p, n, NULL);
            break;
        case 1:
            pull_all(s);
            break;
        case 2:
            route(st, p, n, false);
            break;
        case 3:
            route(st, p, n, true);
            break;
        }
        check(st);
    }
    xds_session_free(s);
    check(st);
    xds_store_free(st);
    return 0;
}
