/*
 * Shared helpers for the xds tests: IR objects of every kind made from a key and a "salt" (the
 * salt changes the bytes, hence the version), request builders on the stack, and a one-line
 * rendering of a response ("R 3 +bind/80/default/gw -route/default/r.00.http") so tests assert
 * exact responses with one string comparison. Header-only and static.
 */
#ifndef XDS_TEST_UTIL_H
#define XDS_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ir/address.h"
#include "ir/backend.h"
#include "ir/bind.h"
#include "ir/ir.h"
#include "ir/listener.h"
#include "ir/names.h"
#include "ir/pb.h"
#include "ir/policy.h"
#include "ir/resource.h"
#include "ir/route.h"
#include "ir/tcp_route.h"
#include "xds/session.h"
#include "xds/store.h"
#include "xds/xds.h"

#define XT_UNUSED __attribute__((unused))

/* An object of |kind| with inner key |key| (for an address: "<ns>/<hostname>"), scoped to
 * |gateway| (NULL: unscoped), whose content depends on |salt|. Owned by caller. */
static XT_UNUSED const ir_obj_t *xt_obj(ir_kind_t kind, const char *gateway, const char *key,
                                        unsigned salt)
{
    char s[32];
    snprintf(s, sizeof s, "salt-%u", salt);
    ir_err_t err = {0};
    const ir_obj_t *o = NULL;
    switch (kind) {
    case IR_KIND_BIND: {
        Agentgateway__Dev__Resource__Bind m = AGENTGATEWAY__DEV__RESOURCE__BIND__INIT;
        m.key = (char *)key;
        m.port = 1000 + salt;
        o = ir_bind_obj(ir_bind_from_pb(&m, gateway, &err));
        break;
    }
    case IR_KIND_LISTENER: {
        Agentgateway__Dev__Resource__Listener m = AGENTGATEWAY__DEV__RESOURCE__LISTENER__INIT;
        m.key = (char *)key;
        m.hostname = s;
        o = ir_listener_obj(ir_listener_from_pb(&m, gateway, &err));
        break;
    }
    case IR_KIND_ROUTE: {
        Agentgateway__Dev__Resource__Route m = AGENTGATEWAY__DEV__RESOURCE__ROUTE__INIT;
        m.key = (char *)key;
        m.listener_key = s;
        o = ir_route_obj(ir_route_from_pb(&m, gateway, &err));
        break;
    }
    case IR_KIND_TCP_ROUTE: {
        Agentgateway__Dev__Resource__TCPRoute m = AGENTGATEWAY__DEV__RESOURCE__TCPROUTE__INIT;
        m.key = (char *)key;
        m.listener_key = s;
        o = ir_tcp_route_obj(ir_tcp_route_from_pb(&m, gateway, &err));
        break;
    }
    case IR_KIND_BACKEND: {
        Agentgateway__Dev__Resource__Backend m = AGENTGATEWAY__DEV__RESOURCE__BACKEND__INIT;
        Agentgateway__Dev__Resource__ResourceName n =
            AGENTGATEWAY__DEV__RESOURCE__RESOURCE_NAME__INIT;
        n.name = s;
        m.key = (char *)key;
        m.name = &n;
        o = ir_backend_obj(ir_backend_from_pb(&m, gateway, &err));
        break;
    }
    case IR_KIND_POLICY: {
        Agentgateway__Dev__Resource__Policy m = AGENTGATEWAY__DEV__RESOURCE__POLICY__INIT;
        Agentgateway__Dev__Resource__TypedResourceName n =
            AGENTGATEWAY__DEV__RESOURCE__TYPED_RESOURCE_NAME__INIT;
        n.name = s;
        m.key = (char *)key;
        m.name = &n;
        o = ir_policy_obj(ir_policy_from_pb(&m, gateway, &err));
        break;
    }
    case IR_KIND_ADDRESS: {
        char ns[128];
        const char *slash = strchr(key, '/');
        assert_non_null(slash);
        snprintf(ns, sizeof ns, "%.*s", (int)(slash - key), key);
        Istio__Workload__Address m = ISTIO__WORKLOAD__ADDRESS__INIT;
        Istio__Workload__Service sv = ISTIO__WORKLOAD__SERVICE__INIT;
        sv.namespace_ = ns;
        sv.hostname = (char *)(slash + 1);
        sv.name = s;
        m.type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE;
        m.service = &sv;
        o = ir_address_obj(ir_address_from_pb(&m, gateway, &err));
        break;
    }
    }
    if (!o)
        print_error("xt_obj(%d, %s): %s\n", (int)kind, key, err.msg);
    assert_non_null(o);
    return o;
}

/* Puts a new object into |st| and drops the caller's reference. */
static XT_UNUSED void xt_put(xds_store_t *st, ir_kind_t kind, const char *gateway, const char *key,
                             unsigned salt)
{
    const ir_obj_t *o = xt_obj(kind, gateway, key, salt);
    assert_true(xds_store_put(st, o) >= 0);
    ir_obj_release(o);
}

/* ---- requests on the stack; every string is borrowed ---- */

#define XT_MAX 32
typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry xt_irv_t;

typedef struct xt_req {
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest m;
    char *sub[XT_MAX];
    char *unsub[XT_MAX];
    xt_irv_t irv[XT_MAX];
    xt_irv_t *irvp[XT_MAX];
    Google__Rpc__Status st;
} xt_req_t;

static XT_UNUSED xt_req_t *xt_req(xt_req_t *r, xds_type_t t)
{
    memset(r, 0, sizeof *r);
    envoy__service__discovery__v3__delta_discovery_request__init(&r->m);
    r->m.type_url = (char *)xds_type_url(t);
    r->m.resource_names_subscribe = r->sub;
    r->m.resource_names_unsubscribe = r->unsub;
    r->m.initial_resource_versions = r->irvp;
    return r;
}

static XT_UNUSED xt_req_t *xt_sub(xt_req_t *r, const char *name)
{
    assert_true(r->m.n_resource_names_subscribe < XT_MAX);
    r->sub[r->m.n_resource_names_subscribe++] = (char *)name;
    return r;
}

static XT_UNUSED xt_req_t *xt_unsub(xt_req_t *r, const char *name)
{
    assert_true(r->m.n_resource_names_unsubscribe < XT_MAX);
    r->unsub[r->m.n_resource_names_unsubscribe++] = (char *)name;
    return r;
}

static XT_UNUSED xt_req_t *xt_irv(xt_req_t *r, const char *name, const char *version)
{
    size_t i = r->m.n_initial_resource_versions++;
    assert_true(i < XT_MAX);
    envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__init(
        &r->irv[i]);
    r->irv[i].key = (char *)name;
    r->irv[i].value = (char *)version;
    r->irvp[i] = &r->irv[i];
    return r;
}

static XT_UNUSED xt_req_t *xt_ack(xt_req_t *r, const char *nonce)
{
    r->m.response_nonce = (char *)nonce;
    return r;
}

static XT_UNUSED xt_req_t *xt_nack(xt_req_t *r, const char *nonce, const char *message)
{
    r->m.response_nonce = (char *)nonce;
    google__rpc__status__init(&r->st);
    r->st.code = 13;
    r->st.message = (char *)message;
    r->m.error_detail = &r->st;
    return r;
}

/* Handles |r| and checks the session's and the store's invariants. */
static XT_UNUSED void xt_send(xds_session_t *s, xt_req_t *r)
{
    xds_err_t err = {0};
    int rc = xds_session_recv(s, &r->m, &err);
    if (rc != XDS_OK)
        print_error("recv: %s\n", err.msg);
    assert_int_equal(rc, XDS_OK);
    assert_int_equal(xds_session_check(s, &err), XDS_OK);
}

/* ---- responses ---- */

/* "A|R <nonce> +name ... -name ..." in message order. Also checks every resource's version and
 * type URL against its bytes. */
static XT_UNUSED void xt_render(const xds_response_t *r, char *out, size_t cap)
{
    const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m = xds_response_msg(r);
    size_t n = (size_t)snprintf(out, cap, "%s %s",
                                xds_response_type(r) == XDS_TYPE_ADDRESS ? "A" : "R", m->nonce);
    assert_string_equal(m->type_url, xds_type_url(xds_response_type(r)));
    for (size_t i = 0; i < m->n_resources && n < cap; i++) {
        const Envoy__Service__Discovery__V3__Resource *res = m->resources[i];
        const ir_obj_t *o = NULL;
        ir_err_t err = {0};
        assert_int_equal(ir_obj_from_discovery(res, m->type_url, NULL, &o, &err), IR_OK);
        assert_string_equal(res->version, ir_obj_version(o));
        ir_obj_release(o);
        n += (size_t)snprintf(out + n, cap - n, " +%s", res->name);
    }
    for (size_t i = 0; i < m->n_removed_resources && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " -%s", m->removed_resources[i]);
}

/* Pulls one response, checks it against |expect| (xt_render form), and frees it. Returns the
 * nonce (static buffer). */
static XT_UNUSED const char *xt_expect(xds_session_t *s, const char *expect)
{
    static char nonce[32];
    xds_response_t *r = NULL;
    int rc = xds_session_pull(s, &r);
    if (rc != 1)
        print_error("expected \"%s\", pulled nothing\n", expect);
    assert_int_equal(rc, 1);
    char buf[4096];
    xt_render(r, buf, sizeof buf);
    if (strcmp(buf, expect) != 0)
        print_error("expected \"%s\"\n     got \"%s\"\n", expect, buf);
    assert_string_equal(buf, expect);
    /* the encoding decodes back to the same message */
    uint8_t *bytes;
    size_t len;
    assert_int_equal(xds_response_encode(r, &bytes, &len), XDS_OK);
    assert_int_equal(len, xds_response_size(r));
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *back =
        envoy__service__discovery__v3__delta_discovery_response__unpack(NULL, len, bytes);
    assert_non_null(back);
    assert_string_equal(back->nonce, xds_response_msg(r)->nonce);
    assert_int_equal(back->n_resources, xds_response_msg(r)->n_resources);
    envoy__service__discovery__v3__delta_discovery_response__free_unpacked(back, NULL);
    free(bytes);
    snprintf(nonce, sizeof nonce, "%s", xds_response_msg(r)->nonce);
    xds_response_free(r);
    xds_err_t err = {0};
    assert_int_equal(xds_session_check(s, &err), XDS_OK);
    return nonce;
}

static XT_UNUSED void xt_expect_none(xds_session_t *s)
{
    xds_response_t *r = NULL;
    int rc = xds_session_pull(s, &r);
    if (rc == 1) {
        char buf[4096];
        xt_render(r, buf, sizeof buf);
        print_error("expected nothing, got \"%s\"\n", buf);
        xds_response_free(r);
    }
    assert_int_equal(rc, 0);
}

/* ACKs |nonce| for type |t|. */
static XT_UNUSED void xt_ack_type(xds_session_t *s, xds_type_t t, const char *nonce)
{
    xt_req_t r;
    char n[32];
    snprintf(n, sizeof n, "%s", nonce);
    xt_send(s, xt_ack(xt_req(&r, t), n));
}

static XT_UNUSED void xt_check_store(const xds_store_t *st)
{
    xds_err_t err = {0};
    int rc = xds_store_check(st, &err);
    if (rc != XDS_OK)
        print_error("store check: %s\n", err.msg);
    assert_int_equal(rc, XDS_OK);
}

#endif /* XDS_TEST_UTIL_H */
