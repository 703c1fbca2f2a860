/*
 * libFuzzer target for policy enforcement (proxy/policy.c): the input is one byte of request
 * shape followed by an encoded agentgateway Resource. The Resource is decoded into an IR object
 * and applied on top of a fixed config (a Gateway listener, a route rule with a static Backend,
 * a sub-backend and a Service); when the change set is accepted, the snapshot's invariants are
 * checked (including every effective set against a full scan), and a request is run through the
 * hooks http.c calls: proxy_policy_route, proxy_policy_authorize, proxy_policy_on_backend for each
 * backendRef, proxy_policy_on_upstream. The first byte picks the credentials the request carries
 * (none, a bearer JWT, a bearer key, basic credentials, a cookie, a query parameter), its Host,
 * and the clock. Rejected input is fine; any crash, sanitizer report or abort() is a bug.
 *
 * Seeds: tests/fuzz/corpus/policy, written by tests/proxy/test_policy.c when
 * KRTGATE_POLICY_SEEDS_DIR is set (JWT, basic auth, API keys, rate limits, header modifiers,
 * backend auth, host rewrite, direct response, OVERRIDE).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ir/pb.h"
#include "ir/resource.h"
#include "proxy/frontend.h"
#include "proxy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static const ir_obj_t *base[8];
static size_t nbase;

static char *dup(const char *s)
{
    return ir_pb_strdup(s);
}

static void base_build(void)
{
    Agentgateway__Dev__Resource__Bind *b = ir_pb_alloc(sizeof *b);
    agentgateway__dev__resource__bind__init(b);
    b->key = dup("80/default/gw");
    b->port = 80;
    base[nbase++] = ir_bind_obj(ir_bind_new(b, "default/gw", NULL));

    Agentgateway__Dev__Resource__Listener *l = ir_pb_alloc(sizeof *l);
    agentgateway__dev__resource__listener__init(l);
    l->key = dup("default/gw.http");
    l->bind_key = dup("80/default/gw");
    l->hostname = dup("");
    l->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTP;
    l->name = ir_pb_alloc(sizeof *l->name);
    agentgateway__dev__resource__listener_name__init(l->name);
    l->name->gateway_name = dup("gw");
    l->name->gateway_namespace = dup("default");
    l->name->listener_name = dup("http");
    base[nbase++] = ir_listener_obj(ir_listener_new(l, "default/gw", NULL));

    Agentgateway__Dev__Resource__Backend *be = ir_pb_alloc(sizeof *be);
    agentgateway__dev__resource__backend__init(be);
    be->key = dup("default/b");
    be->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_STATIC;
    be->static_ = ir_pb_alloc(sizeof *be->static_);
    agentgateway__dev__resource__static_backend__init(be->static_);
    be->static_->host = dup("127.0.0.1");
    be->static_->port = 9;
    base[nbase++] = ir_backend_obj(ir_backend_new(be, "default/gw", NULL));

    Agentgateway__Dev__Resource__Route *r = ir_pb_alloc(sizeof *r);
    agentgateway__dev__resource__route__init(r);
    r->key = dup("default/a.00.l");
    r->listener_key = dup("default/gw.http");
    r->name = ir_pb_alloc(sizeof *r->name);
    agentgateway__dev__resource__route_name__init(r->name);
    r->name->kind = dup("HTTPRoute");
    r->name->name = dup("a");
    r->name->namespace_ = dup("default");
    r->name->_rule_name_case = AGENTGATEWAY__DEV__RESOURCE__ROUTE_NAME___RULE_NAME_RULE_NAME;
    r->name->rule_name = dup("r0");
    const char *refs[] = {"default/b", "default/b/sub", NULL};
    for (int i = 0; i < 3; i++) {
        Agentgateway__Dev__Resource__RouteBackend *rb = ir_pb_alloc(sizeof *rb);
        agentgateway__dev__resource__route_backend__init(rb);
        rb->weight = 1;
        rb->backend = ir_pb_alloc(sizeof *rb->backend);
        agentgateway__dev__resource__backend_reference__init(rb->backend);
        if (refs[i]) {
            rb->backend->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND;
            rb->backend->backend = dup(refs[i]);
        } else {
            rb->backend->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_SERVICE;
            rb->backend->service = ir_pb_alloc(sizeof *rb->backend->service);
            agentgateway__dev__resource__backend_reference__service__init(rb->backend->service);
            rb->backend->service->namespace_ = dup("default");
            rb->backend->service->hostname = dup("s.default.svc.cluster.local");
            rb->backend->port = 80;
        }
        Agentgateway__Dev__Resource__RouteBackend **nv =
            ir_pb_alloc((r->n_backends + 1) * sizeof *nv);
        if (r->backends)
            memcpy(nv, r->backends, r->n_backends * sizeof *nv);
        krt_free(r->backends);
        nv[r->n_backends++] = rb;
        r->backends = nv;
    }
    base[nbase++] = ir_route_obj(ir_route_new(r, "default/gw", NULL));
    for (size_t i = 0; i < nbase; i++)
        CHECK(base[i]);
}

/* A bearer token that parses as a JWT (its signature does not verify against fuzzed keys). */
#define TOKEN                                                   \
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InIxIn0."                      \
    "eyJpc3MiOiJrcnQiLCJhdWQiOiJhcGkiLCJleHAiOjE3MDAwMDA2MDB9." \
    "c2lnbmF0dXJl"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!nbase)
        base_build();
    if (size < 1)
        return 0;
    const ir_obj_t *o = NULL;
    if (ir_obj_decode(IR_TYPE_URL_RESOURCE, data + 1, size - 1, "default/gw", &o, NULL) != IR_OK)
        return 0;
    proxy_config_t *cfg = proxy_config_new();
    CHECK(cfg);
    proxy_change_t ch[8];
    for (size_t i = 0; i < nbase; i++)
        proxy_change_of_obj(&ch[i], base[i]);
    proxy_change_of_obj(&ch[nbase], o);
    char why[512];
    int rc = proxy_config_apply(cfg, ch, nbase + 1, false, why, sizeof why);
    CHECK(rc == PROXY_OK || rc == PROXY_ECONFIG);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    CHECK(proxy_snapshot_check(s) == PROXY_OK);
    json_t *d = proxy_snapshot_dump(s);
    CHECK(d);
    json_decref(d);
    proxy_options_t opt; /* frontend policies: resolved for the Bind (after P5 accepted them) */
    proxy_options_default(&opt);
    d = proxy_frontend_dump(s, &opt);
    CHECK(d);
    json_decref(d);

    net_h2_header_t h[2];
    size_t nh = 0;
    const char *query = NULL, *host = "example.com";
    switch (data[0] & 7) {
    case 1:
        h[nh++] = NET_H2_HDR("authorization", "Bearer " TOKEN);
        break;
    case 2:
        h[nh++] = NET_H2_HDR("authorization", "Bearer k-123");
        break;
    case 3:
        h[nh++] = NET_H2_HDR("authorization", "Basic YWxpY2U6b3BlbiBzZXNhbWU=");
        break;
    case 4:
        h[nh++] = NET_H2_HDR("cookie", "a=1; session=k-123");
        break;
    case 5:
        query = "api_key=k-123&x=%41";
        break;
    case 6:
        host = "127.0.0.1:8080";
        break;
    default:
        break;
    }
    proxy_request_t req = {"GET", "/x", query, host, h, nh};
    proxy_route_match_t rm;
    if (proxy_router_match(s, "80/default/gw", &req, &rm) == PROXY_OK) {
        static proxy_policy_result_t pr;
        proxy_policy_req_t q = {.snap = s,
                                .rm = &rm,
                                .method = "GET",
                                .path = "/x",
                                .query = query,
                                .host = host,
                                .headers = h,
                                .nheaders = nh,
                                .now_ms = (uint64_t)(data[0] >> 3) * 1000u,
                                .now_unix = 1700000000,
                                .peer = "10.0.0.1:40000"};
        proxy_filters_t f;
        proxy_filters_collect(rm.pb, NULL, &f);
        CHECK(proxy_policy_route(&q, &f, &pr) == PROXY_OK);
        rc = proxy_policy_authorize(&q, &pr);
        CHECK(rc == PROXY_OK || rc == PROXY_ENOMEM);
        if (!pr.status) {
            for (size_t i = 0; i < rm.pb->n_backends; i++) {
                proxy_filters_collect(rm.pb, rm.pb->backends[i], &f);
                CHECK(proxy_policy_on_backend(&q, rm.pb->backends[i], &f, &pr) == PROXY_OK);
                if (pr.status)
                    break;
                proxy_endpoint_t ep;
                memset(&ep, 0, sizeof ep);
                memcpy(ep.host, "127.0.0.1", 10);
                ep.port = 9;
                proxy_headers_t hs = {0};
                CHECK(proxy_headers_add(&hs, "authorization", "Bearer x", 8) == PROXY_OK);
                const char *nhost = NULL;
                CHECK(proxy_policy_on_upstream(&q, &pr, &ep, &hs, &nhost, &ep.tls, &ep.sni) ==
                      PROXY_OK);
                proxy_policy_upstream_conn(&pr, &ep); /* values the socket options accept */
                CHECK(ep.ka_idle_s <= 32767 && ep.ka_interval_s <= 32767 && ep.ka_probes <= 127);
                CHECK(!ep.ka_idle_s || (ep.ka_interval_s && ep.ka_probes));
                proxy_headers_dispose(&hs);
            }
        }
        CHECK(pr.status == 0 || (pr.status >= 400 && pr.status < 600));
        proxy_policy_result_dispose(&pr);
    }
    /* frontend network authorization of the connection */
    (void)proxy_policy_connection_allowed(s, "80/default/gw", "10.0.0.1:40000", why, sizeof why);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
    ir_obj_release(o);
    return 0;
}
