/*
 * libFuzzer target for the IR decoders (ir/src/pb.c, obj.c, resource.c, pbjson.c): arbitrary bytes
 * decoded as what a peer can send us. The first byte picks the message, the rest is its encoding:
 *   0  agentgateway.dev.resource.Resource  -> IR object (Bind, Listener, Route, ...)
 *   1  istio.workload.Address              -> IR object (Workload, Service)
 *   2  envoy DeltaDiscoveryRequest         (what the xDS server decodes from every client)
 *   3  envoy DeltaDiscoveryResponse        -> each resource through ir_obj_from_discovery
 * Every accepted object must pass ir_obj_check, dump to JSON, and be a fixed point: decoding its
 * own bytes gives an equal object with the same bytes. Every decoded message must re-encode to
 * bytes that decode and re-encode to themselves. Any crash, sanitizer report or abort() is a bug.
 *
 * Links krtgate_ir (and krt). Seeds: tests/fuzz/corpus/ir_decode: each tests/ir/wire_dump sample
 * (build/tests/ir/wire-samples/<stem>.bin) prefixed with its mode byte, plus hand-made edge cases
 * (deep nesting, bad UTF-8, unknown fields, truncation, a group wire type).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ir/pb.h"
#include "ir/resource.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static void check_obj(const ir_obj_t *o, const char *type_url)
{
    CHECK(ir_obj_check(o, NULL) == IR_OK);
    json_t *d = ir_obj_dump(o);
    CHECK(d != NULL);
    json_decref(d);
    size_t len;
    const uint8_t *w = ir_obj_wire(o, &len);
    const ir_obj_t *again = NULL;
    CHECK(ir_obj_decode(type_url, w, len, ir_obj_gateway(o), &again, NULL) == IR_OK);
    CHECK(krt_obj_equal(ir_obj_krt(o), ir_obj_krt(again)));
    CHECK(strcmp(ir_obj_key(o), ir_obj_key(again)) == 0);
    CHECK(strcmp(ir_obj_version(o), ir_obj_version(again)) == 0);
    /* through the xDS envelope and back */
    Envoy__Service__Discovery__V3__Resource res;
    Google__Protobuf__Any any;
    ir_obj_discovery_view(o, &res, &any);
    const ir_obj_t *third = NULL;
    CHECK(ir_obj_from_discovery(&res, type_url, ir_obj_gateway(o), &third, NULL) == IR_OK);
    CHECK(krt_obj_equal(ir_obj_krt(o), ir_obj_krt(third)));
    ir_obj_release(again);
    ir_obj_release(third);
}

/* encode(m) must decode, and re-encode to the same bytes. */
static void check_fixed_point(const ProtobufCMessage *m)
{
    uint8_t *a, *b;
    size_t na, nb;
    CHECK(ir_pb_encode(m, &a, &na) == IR_OK);
    ProtobufCMessage *m2 = NULL;
    CHECK(ir_pb_decode(m->descriptor, a, na, &m2, NULL) == IR_OK);
    CHECK(ir_pb_encode(m2, &b, &nb) == IR_OK);
    CHECK(na == nb && (na == 0 || memcmp(a, b, na) == 0));
    json_t *j = ir_pb_to_json(m2, IR_PB_JSON_REDACT);
    CHECK(j != NULL);
    json_decref(j);
    ir_pb_free(m2);
    krt_free(a);
    krt_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 4;
    data++;
    size--;
    if (mode <= 1) {
        const char *url = mode == 0 ? IR_TYPE_URL_RESOURCE : IR_TYPE_URL_ADDRESS;
        const ir_obj_t *o = NULL;
        ir_err_t err;
        int rc = ir_obj_decode(url, data, size, mode == 0 ? "default/gw" : NULL, &o, &err);
        if (rc == IR_OK) {
            check_obj(o, url);
            ir_obj_release(o);
        } else {
            CHECK(o == NULL && err.code == rc && err.msg[0] != '\0');
        }
        return 0;
    }
    const ProtobufCMessageDescriptor *d =
        mode == 2 ? &envoy__service__discovery__v3__delta_discovery_request__descriptor
                  : &envoy__service__discovery__v3__delta_discovery_response__descriptor;
    ProtobufCMessage *m = NULL;
    if (ir_pb_decode(d, data, size, &m, NULL) != IR_OK)
        return 0;
    check_fixed_point(m);
    if (mode == 3) {
        const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r = (const void *)m;
        for (size_t i = 0; i < r->n_resources; i++) {
            const ir_obj_t *o = NULL;
            if (ir_obj_from_discovery(r->resources[i], r->type_url, "default/gw", &o, NULL) ==
                IR_OK) {
                check_obj(o, r->type_url);
                ir_obj_release(o);
            }
        }
    }
    ir_pb_free(m);
    return 0;
}
