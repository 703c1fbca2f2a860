/*
 * wire_dump DIR — writes the encoded samples of tests/ir/ir_samples.h for tests/ir/check_wire.py:
 *   DIR/<stem>.bin   the bytes (for resources: the IR object's wire bytes, i.e. what an xDS
 *                    response carries in its Any)
 *   DIR/<stem>.json  the *input* message in proto3 JSON (ir_pb_to_json, nothing redacted), so the
 *                    Python side compares what it decodes with what we meant to send
 *   DIR/samples.txt  one line per sample: "<stem> <full protobuf message name>"
 * Exit status 0 when every sample was built and written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ir/address.h"
#include "ir/backend.h"
#include "ir/bind.h"
#include "ir/listener.h"
#include "ir/policy.h"
#include "ir/resource.h"
#include "ir/route.h"
#include "ir/tcp_route.h"
#include "ir_samples.h"

static const char *dir;
static FILE *index_file;
static int failures;

static void fail(const char *stem, const char *what)
{
    fprintf(stderr, "wire_dump: %s: %s\n", stem, what);
    failures++;
}

static void write_file(const char *stem, const char *ext, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", dir, stem, ext);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fail(stem, strerror(errno));
        return;
    }
}

/* Writes one sample: |bytes| and the JSON of |json_of| under |stem|. */
static void emit(const char *stem, const char *full_name, const uint8_t *bytes, size_t len,
                 const ProtobufCMessage *json_of)
{
    write_file(stem, "bin", bytes, len);
    json_t *j = ir_pb_to_json(json_of, 0);
    char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1)) : NULL;
    if (!s)
        fail(stem, "JSON rendering failed");
    else
        write_file(stem, "json", s, strlen(s));
    free(s);
    json_decref(j);
    fprintf(index_file, "%s %s\n", stem, full_name);
}

/* A Resource-kind sample: wraps |inner| for the JSON, builds the IR object (which borrows it),
 * writes the object's bytes, then frees |inner|. */
static void emit_resource(const char *stem, int kind_case, ProtobufCMessage *inner)
{
    Agentgateway__Dev__Resource__Resource r = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__INIT;
    r.kind_case = (Agentgateway__Dev__Resource__Resource__KindCase)kind_case;
    r.bind = (void *)inner; /* every member of the union is a message pointer */
    const ir_obj_t *o = NULL;
    ir_err_t err = {0};
    if (ir_obj_from_message(IR_TYPE_URL_RESOURCE, &r.base, "default/gw", &o, &err) != IR_OK) {
        fail(stem, err.msg);
    } else {
        size_t len;
        const uint8_t *w = ir_obj_wire(o, &len);
        emit(stem, "agentgateway.dev.resource.Resource", w, len, &r.base);
        if (ir_obj_check(o, &err) != IR_OK)
            fail(stem, err.msg);
    }
    ir_obj_release(o);
    ir_pb_free(inner);
}

static void emit_address(const char *stem, Istio__Workload__Address *a)
{
    const ir_obj_t *o = NULL;
    ir_err_t err = {0};
    if (ir_obj_from_message(IR_TYPE_URL_ADDRESS, &a->base, NULL, &o, &err) != IR_OK) {
        fail(stem, err.msg);
    } else {
        size_t len;
        const uint8_t *w = ir_obj_wire(o, &len);
        emit(stem, "istio.workload.Address", w, len, &a->base);
    }
    ir_obj_release(o);
    ir_pb_free(&a->base);
}

/* A plain message, encoded in canonical form (maps in key order, as the IR would send it). */
static void emit_message(const char *stem, ProtobufCMessage *m)
{
    uint8_t *buf;
    size_t len;
    ProtobufCMessage *canon = ir_pb_copy(m, NULL);
    if (!canon || ir_pb_encode(canon, &buf, &len) != IR_OK) {
        fail(stem, "encode failed");
    } else {
        emit(stem, m->descriptor->name, buf, len, m);
        krt_free(buf);
    }
    ir_pb_free(canon);
}

/* A response carrying two IR objects through the borrowing view and one resource with every
 * envelope field set. */
static void emit_delta_response(void)
{
    const ir_bind_t *b = ir_bind_new(ir_sample_bind(80, "80/default/gw"), "default/gw", NULL);
    const ir_listener_t *l = ir_listener_new(ir_sample_listener(), "default/gw", NULL);
    if (!b || !l) {
        fail("delta_response", "building the IR objects failed");
        ir_obj_release(b ? ir_bind_obj(b) : NULL);
        ir_obj_release(l ? ir_listener_obj(l) : NULL);
        return;
    }
    Envoy__Service__Discovery__V3__Resource rb, rl;
    Google__Protobuf__Any ab, al;
    ir_obj_discovery_view(ir_bind_obj(b), &rb, &ab);
    ir_obj_discovery_view(ir_listener_obj(l), &rl, &al);

    Envoy__Service__Discovery__V3__Resource rx = ENVOY__SERVICE__DISCOVERY__V3__RESOURCE__INIT;
    Google__Protobuf__Any ax = GOOGLE__PROTOBUF__ANY__INIT;
    ax.type_url = (char *)IR_TYPE_URL_RESOURCE;
    size_t wl;
    ax.value.data = (uint8_t *)ir_obj_wire(ir_bind_obj(b), &wl);
    ax.value.len = wl;
    rx.version = (char *)"v1";
    rx.resource = &ax;
    rx.name = (char *)"bind/80/default/gw";
    char *aliases[] = {(char *)"alias-a"};
    rx.n_aliases = 1;
    rx.aliases = aliases;
    Google__Protobuf__Duration ttl = GOOGLE__PROTOBUF__DURATION__INIT;
    ttl.seconds = 30;
    rx.ttl = &ttl;
    Envoy__Service__Discovery__V3__Resource__CacheControl cc =
        ENVOY__SERVICE__DISCOVERY__V3__RESOURCE__CACHE_CONTROL__INIT;
    cc.do_not_cache = 1;
    rx.cache_control = &cc;
    Envoy__Service__Discovery__V3__ResourceName rn =
        ENVOY__SERVICE__DISCOVERY__V3__RESOURCE_NAME__INIT;
    rn.name = (char *)"bind/80/default/gw";
    rx.resource_name = &rn;

    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse resp =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
    Envoy__Service__Discovery__V3__Resource *items[] = {&rb, &rl, &rx};
    resp.system_version_info = (char *)"2026-01-01T00:00:00Z/1";
    resp.n_resources = 3;
    resp.resources = items;
    resp.type_url = (char *)IR_TYPE_URL_RESOURCE;
    resp.nonce = (char *)"nonce-42";
    char *removed[] = {(char *)"route/default/gone.00.http"};
    resp.n_removed_resources = 1;
    resp.removed_resources = removed;
    Envoy__Config__Core__V3__ControlPlane cp = ENVOY__CONFIG__CORE__V3__CONTROL_PLANE__INIT;
    cp.identifier = (char *)"krtgate";
    resp.control_plane = &cp;
    Envoy__Service__Discovery__V3__ResourceName rr =
        ENVOY__SERVICE__DISCOVERY__V3__RESOURCE_NAME__INIT;
    rr.name = (char *)"route/default/gone.00.http";
    Envoy__Service__Discovery__V3__ResourceName *rrs[] = {&rr};
    resp.n_removed_resource_names = 1;
    resp.removed_resource_names = rrs;
    emit_message("delta_response", &resp.base);
    ir_obj_release(ir_bind_obj(b));
    ir_obj_release(ir_listener_obj(l));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wire_dump DIR\n");
        return 2;
    }
    dir = argv[1];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/samples.txt", dir);
    index_file = fopen(path, "w");
    if (!index_file) {
        perror(path);
        return 1;
    }

    emit_resource("bind", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BIND,
                  &ir_sample_bind(443, "443/default/gw")->base);
    emit_resource("listener", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_LISTENER,
                  &ir_sample_listener()->base);
    emit_resource("route", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_ROUTE,
                  &ir_sample_route()->base);
    emit_resource("tcp_route", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_TCP_ROUTE,
                  &ir_sample_tcp_route()->base);
    emit_resource("backend_static", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND,
                  &ir_sample_backend_static()->base);
    emit_resource("backend_ai", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND,
                  &ir_sample_backend_ai()->base);
    emit_resource("backend_mcp", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND,
                  &ir_sample_backend_mcp()->base);
    emit_resource("backend_dynamic", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND,
                  &ir_sample_backend_dynamic()->base);
    emit_resource("backend_aws", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND,
                  &ir_sample_backend_aws()->base);
    emit_resource("backend_model_router", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND,
                  &ir_sample_backend_model_router()->base);
    emit_resource("policy_gateway", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY,
                  &ir_sample_policy_gateway()->base);
    emit_resource("policy_route", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY,
                  &ir_sample_policy_route()->base);
    emit_resource("policy_backend", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY,
                  &ir_sample_policy_backend()->base);
    emit_resource("policy_service", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY,
                  &ir_sample_policy_service()->base);
    emit_resource("policy_listener_set", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY,
                  &ir_sample_policy_listener_set()->base);
    emit_resource("policy_frontend_http", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY,
                  &ir_sample_policy_frontend_http()->base);
    emit_resource("policy_conditional", AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY,
                  &ir_sample_policy_conditional()->base);
    static const uint8_t ip[4] = {10, 0, 0, 5};
    emit_address("workload", ir_sample_workload("Kubernetes//Pod/default/p1", ip));
    emit_address("service", ir_sample_service());
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req = ir_sample_delta_request();
    emit_message("delta_request", &req->base);
    ir_pb_free(&req->base);
    emit_delta_response();

    if (fclose(index_file) != 0)
        fail("samples.txt", strerror(errno));
    if (failures) {
        fprintf(stderr, "wire_dump: %d failure(s)\n", failures);
        return 1;
    }
    printf("wire_dump: samples written to %s\n", dir);
    return 0;
}
