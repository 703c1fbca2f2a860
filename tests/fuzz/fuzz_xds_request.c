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
 *
 * Oracle. A model client per session mirrors the subscriptions of every request the session
 * accepted and applies every response pulled (NACKed ones too: the session assumes the client
 * holds what it sent). At the end both sessions are drained (pull, ACK, until nothing is left,
 * which must happen) and each model must hold exactly the visible objects it subscribes to, at
 * their current versions, and nothing else.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/address.h"
#include "ir/pb.h"
#include "ir/resource.h"
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

/* ---- the model client ---- */

#define NNAMES 16 /* routes r0..r15, Addresses s0..s15: every name the store can hold */

typedef struct entry {
    char *name, *version; /* version NULL: an explicit subscription */
} entry_t;

typedef struct mtype {
    bool seen, wildcard;
    entry_t *held, *subs;
    size_t nheld, nsubs;
} mtype_t;

typedef struct model {
    const char *gw;
    mtype_t t[XDS_TYPE_COUNT];
} model_t;

static char *dup(const char *s)
{
    char *d = strdup(s ? s : "");
    must(d != NULL, "strdup");
    return d;
}

static long find(const entry_t *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return (long)i;
    return -1;
}

static void put(entry_t **v, size_t *n, const char *name, const char *version)
{
    long i = find(*v, *n, name);
    if (i < 0) {
        entry_t *g = realloc(*v, (*n + 1) * sizeof **v);
        must(g != NULL, "realloc");
        *v = g;
        i = (long)(*n)++;
        g[i].name = dup(name);
        g[i].version = NULL;
    }
    free((*v)[i].version);
    (*v)[i].version = version ? dup(version) : NULL;
}

static void drop(entry_t *v, size_t *n, const char *name)
{
    long i = find(v, *n, name);
    if (i < 0)
        return;
    free(v[i].name);
    free(v[i].version);
    v[i] = v[--*n];
}

static void model_free(model_t *m)
{
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        for (size_t i = 0; i < m->t[t].nheld; i++) {
            free(m->t[t].held[i].name);
            free(m->t[t].held[i].version);
        }
        for (size_t i = 0; i < m->t[t].nsubs; i++)
            free(m->t[t].subs[i].name);
        free(m->t[t].held);
        free(m->t[t].subs);
    }
}

/* The subscription changes of a request the session accepted (session.c's order). */
static void model_request(model_t *m, const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *q)
{
    int ti = q->type_url ? xds_type_from_url(q->type_url) : -1;
    if (ti < 0)
        return;
    mtype_t *mt = &m->t[ti];
    if (!mt->seen) {
        mt->seen = true;
        for (size_t i = 0; i < q->n_initial_resource_versions; i++) {
            const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry
                *e = q->initial_resource_versions[i];
            if (e && e->key && *e->key)
                put(&mt->held, &mt->nheld, e->key, e->value ? e->value : "");
        }
        if (q->n_resource_names_subscribe == 0)
            mt->wildcard = true;
    }
    for (size_t i = 0; i < q->n_resource_names_subscribe; i++) {
        const char *n = q->resource_names_subscribe[i];
        if (!strcmp(n, "*"))
            mt->wildcard = true;
        else
            put(&mt->subs, &mt->nsubs, n, NULL);
    }
    for (size_t i = 0; i < q->n_resource_names_unsubscribe; i++) {
        const char *n = q->resource_names_unsubscribe[i];
        if (!strcmp(n, "*")) {
            if (!mt->wildcard)
                continue;
            mt->wildcard = false; /* the client drops what it held through "*" only */
            for (size_t j = 0; j < mt->nheld;)
                if (find(mt->subs, mt->nsubs, mt->held[j].name) < 0)
                    drop(mt->held, &mt->nheld, mt->held[j].name);
                else
                    j++;
        } else if (find(mt->subs, mt->nsubs, n) >= 0) {
            drop(mt->subs, &mt->nsubs, n);
            drop(mt->held, &mt->nheld, n);
        }
    }
}

static void model_response(model_t *m, const xds_response_t *r)
{
    const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *msg = xds_response_msg(r);
    mtype_t *mt = &m->t[xds_response_type(r)];
    for (size_t i = 0; i < msg->n_resources; i++)
        put(&mt->held, &mt->nheld, msg->resources[i]->name, msg->resources[i]->version);
    for (size_t i = 0; i < msg->n_removed_resources; i++)
        drop(mt->held, &mt->nheld, msg->removed_resources[i]);
}

static void candidate(xds_type_t t, unsigned i, char *buf, size_t cap)
{
    if (t == XDS_TYPE_RESOURCE)
        snprintf(buf, cap, "route/default/r%u.00.http", i);
    else
        snprintf(buf, cap, "default/s%u.default.svc.cluster.local", i);
}

/* At rest: the model holds exactly what it subscribes to and can see, at the current versions. */
static void model_compare(const model_t *m, const xds_store_t *st)
{
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        const mtype_t *mt = &m->t[t];
        if (!mt->seen)
            continue;
        size_t want = 0;
        for (unsigned i = 0; i < NNAMES; i++) {
            char name[64];
            candidate((xds_type_t)t, i, name, sizeof name);
            const ir_obj_t *o = xds_store_get(st, (xds_type_t)t, m->gw, name);
            bool sub = mt->wildcard || find(mt->subs, mt->nsubs, name) >= 0;
            long h = find(mt->held, mt->nheld, name);
            if (o && sub) {
                want++;
                if (h < 0 || strcmp(mt->held[h].version, ir_obj_version(o))) {
                    fprintf(stderr, "oracle: %s (gateway %s) should hold %s at %s, holds %s\n",
                            xds_type_url((xds_type_t)t), m->gw ? m->gw : "-", name,
                            ir_obj_version(o), h < 0 ? "nothing" : mt->held[h].version);
                    abort();
                }
            }
        }
        if (mt->nheld != want) {
            fprintf(stderr, "oracle: %s (gateway %s) holds %zu names, should hold %zu\n",
                    xds_type_url((xds_type_t)t), m->gw ? m->gw : "-", mt->nheld, want);
            abort();
        }
    }
}

/* Decodes and hands a request to |s|; the model follows what the session accepted. */
static void feed(xds_session_t *s, model_t *m, const uint8_t *p, size_t n)
{
    ProtobufCMessage *msg = NULL;
    if (ir_pb_decode(&envoy__service__discovery__v3__delta_discovery_request__descriptor, p, n,
                     &msg, NULL) != IR_OK)
        return;
    const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *q =
        (const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *)msg;
    if (xds_session_recv(s, q, NULL) == XDS_OK)
        model_request(m, q);
    ir_pb_free(msg);
}

static void pull_all(xds_session_t *s, model_t *m)
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
        model_response(m, r);
        xds_response_free(r);
    }
}

static void route(xds_store_t *st, const uint8_t *p, size_t n, bool del)
{
    char key[32];
    snprintf(key, sizeof key, "default/r%u.00.http", n ? p[0] % NNAMES : 0u);
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
    snprintf(host, sizeof host, "s%u.default.svc.cluster.local", n ? p[0] % NNAMES : 0u);
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

/* Pulls and ACKs until neither session has anything to send; that must come. */
static void drain(xds_session_t **ss, model_t *ms)
{
    for (int round = 0; round < 10000; round++) {
        bool busy = false;
        for (int k = 0; k < 2; k++) {
            for (int t = 0; t < XDS_TYPE_COUNT; t++) {
                xds_session_type_info_t ti;
                xds_session_type_info(ss[k], (xds_type_t)t, &ti);
                if (ti.in_flight) {
                    answer(ss[k], (const uint8_t *)(t == XDS_TYPE_ADDRESS ? "\x01" : "\x00"), 1);
                    busy = true;
                }
            }
            if (xds_session_want_write(ss[k])) {
                pull_all(ss[k], &ms[k]);
                busy = true;
            }
        }
        if (!busy)
            return;
    }
    must(0, "the sessions never came to rest");
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
    model_t ms[2] = {{.gw = "default/gw1"}, {.gw = NULL}};
    route(st, (const uint8_t *)"\x01\x00\x01", 3, false);
    route(st, (const uint8_t *)"\x02\x01\x01", 3, false);
    address(st, (const uint8_t *)"\x01\x01", 2, false);

    feed(ss[0], &ms[0], data, size);
    check(st);
    pull_all(ss[0], &ms[0]);
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
        int k = (op >> 3) & 1;
        xds_session_t *s = ss[k];
        switch (op % 8) {
        case 0:
            feed(s, &ms[k], p, n);
            break;
        case 1:
            pull_all(ss[0], &ms[0]);
            pull_all(ss[1], &ms[1]);
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
    drain(ss, ms);
    check(st);
    model_compare(&ms[0], st);
    model_compare(&ms[1], st);
    model_free(&ms[0]);
    model_free(&ms[1]);
    xds_session_free(ss[0]);
    xds_session_free(ss[1]);
    check(st);
    xds_store_free(st);
    return 0;
}
