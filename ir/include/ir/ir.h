/*
 * ir — krtgate's internal representation: agentgateway's configuration resources (Bind, Listener,
 * Route, TCPRoute, Backend, Policy) and Istio's Address (Workload, Service) as libkrt objects.
 *
 * The key decision: an IR object *is* the protobuf message, held in its canonical form, next to
 * its canonical encoding. Every constructor goes through the wire: the message is encoded,
 * decoded again into a tree owned by the object (maps sorted by key, strings checked to be UTF-8),
 * and encoded once more. So
 *   - the bytes are what a delta xDS response carries (no re-encoding per push or per proxy),
 *   - the content hash is XXH3 over those bytes, and the xDS version is that hash in hex,
 *   - equality is "same owning Gateway and same bytes", exact and cheap,
 *   - the tree the proxy and the translator read is exactly what a peer would decode.
 * The alternative, hand-written C structs with conversions both ways, was rejected: the schema
 * has about 200 messages, and a second copy of it would drift from the .proto files, whose field
 * numbers are the contract (xds/proto/, checked against the reference by tests/ir/check_wire.py).
 * Encoding three times per construction costs a few microseconds per object; a message built in
 * memory with its maps already in order (the translator's) is encoded once, its bytes pre-scanned
 * like a peer's, since decoding and encoding them again would give the same bytes (docs/ir.md).
 *
 * Memory: a decoded tree costs about four times its encoding in small allocations, and a
 * controller never reads its own outputs back, so an object built from a message (the translator's
 * path) keeps only the bytes and decodes its tree the first time someone asks (ir_obj_message and
 * the typed accessors); the tree then stays for the object's life. An object decoded from a peer's
 * bytes (the proxy's path) keeps its tree from the start. At agw-5k this is 28 MiB of 128.
 *
 * Names. Each object has three strings (agentgateway's scheme, docs/ir.md):
 *   inner key   the resource's own `key` field ("80/default/gw"); for an Address, its xDS name;
 *   name        the xDS resource name "<kind>/<inner key>" ("bind/80/default/gw"); for an Address,
 *               the Workload uid or "<namespace>/<hostname>" of the Service;
 *   key         the krt key: "<gateway namespace>/<gateway name>/<name>" for a resource that
 *               belongs to one Gateway, "//<name>" for one that does not (Addresses). The same
 *               xDS name can exist once per Gateway (one Backend reached from two Gateways), so
 *               the Gateway is part of the krt key but never of the wire bytes.
 *
 * Ownership words: borrows, keeps, takes (see krt/krt.h). Objects are krt objects: immutable,
 * refcounted, released with ir_obj_release() or krt_obj_release().
 */
#ifndef IR_IR_H
#define IR_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "agentgateway/resource.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "istio/workload.pb-c.h"
#include "krt/krt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Errors: negative codes from one table; details (what and where) go to an ir_err_t.
 * ------------------------------------------------------------------------------------------- */
#define IR_ERRNO_MAP(XX)                                      \
    XX(OK, 0, "success")                                      \
    XX(ENOMEM, -1, "out of memory")                           \
    XX(EINVAL, -2, "invalid argument")                        \
    XX(EDECODE, -3, "malformed protobuf message")             \
    XX(EKIND, -4, "resource kind not modelled")               \
    XX(EFIELD, -5, "required field missing or invalid")       \
    XX(ENAME, -6, "resource name does not match its content") \
    XX(ETYPEURL, -7, "unknown or mismatched type URL")        \
    XX(EDEPTH, -8, "message nested too deeply")               \
    XX(EUTF8, -9, "string field is not valid UTF-8")

enum {
#define IR__ERR_ENUM(name, code, msg) IR_##name = (code),
    IR_ERRNO_MAP(IR__ERR_ENUM)
#undef IR__ERR_ENUM
};

/* Returns: a static string describing |rc| ("unknown error" outside the table). */
const char *ir_strerror(int rc);

/* Where a failing function explains itself: |code| repeats the return value, |msg| names what
 * was wrong and where (a field path such as "Resource.bind.key"). Functions take an optional
 * ir_err_t * (NULL: no details). */
typedef struct ir_err {
    int code;
    char msg[256];
} ir_err_t;

/* ---------------------------------------------------------------------------------------------
 * Kinds, type URLs, limits.
 * ------------------------------------------------------------------------------------------- */
typedef enum ir_kind {
    IR_KIND_BIND = 1,
    IR_KIND_LISTENER = 2,
    IR_KIND_ROUTE = 3,
    IR_KIND_TCP_ROUTE = 4,
    IR_KIND_BACKEND = 5,
    IR_KIND_POLICY = 6,
    IR_KIND_ADDRESS = 7,
} ir_kind_t;

#define IR_KIND_COUNT        7

#define IR_TYPE_URL_RESOURCE "type.googleapis.com/agentgateway.dev.resource.Resource"
#define IR_TYPE_URL_ADDRESS  "type.googleapis.com/istio.workload.Address"

/* Decoding refuses messages nested deeper than this (protobuf's own default limit): protobuf-c
 * unpacks recursively, and a Struct inside a Node's metadata can otherwise nest without end. */
#define IR_PB_MAX_DEPTH 100

/* Returns: the xDS name prefix of |k| without the slash ("bind", "listener", "route",
 * "tcp_route", "backend", "policy"), "" for IR_KIND_ADDRESS (its names have no prefix), or NULL
 * for a value outside the enum. */
const char *ir_kind_prefix(ir_kind_t k);
/* Returns: a short name for logs and dumps ("bind", ..., "address"), or "unknown". */
const char *ir_kind_name(ir_kind_t k);
/* Returns: IR_TYPE_URL_ADDRESS for addresses, IR_TYPE_URL_RESOURCE for the rest. */
const char *ir_kind_type_url(ir_kind_t k);
/* Returns: the krt type of |k| (static storage), or NULL outside the enum. */
const krt_type_t *ir_kind_type(ir_kind_t k);

/* ---------------------------------------------------------------------------------------------
 * Objects of any kind. ir_obj_t is the common view; each kind has its own type (bind.h, ...)
 * convertible to and from it.
 * ------------------------------------------------------------------------------------------- */
typedef struct ir_obj ir_obj_t;

/* The krt object (same pointer). */
const krt_obj_t *ir_obj_krt(const ir_obj_t *o);
/* Returns: |o| as an IR object, or NULL when it is not one of the seven IR types. */
const ir_obj_t *ir_obj_from_krt(const krt_obj_t *o);

ir_kind_t ir_obj_kind(const ir_obj_t *o);
/* Strings borrowed from |o| (see the file comment). gateway is "ns/name", or NULL if unscoped. */
const char *ir_obj_key(const ir_obj_t *o);
const char *ir_obj_name(const ir_obj_t *o);
const char *ir_obj_inner_key(const ir_obj_t *o);
const char *ir_obj_gateway(const ir_obj_t *o);
/* Returns: the canonical encoding of the wrapper message (Resource, or Address for addresses),
 * borrowed from |o|; its length goes to |*len|. This is the Any value on the wire. */
const uint8_t *ir_obj_wire(const ir_obj_t *o, size_t *len);
/* XXH3-64 of ir_obj_wire (seed 0); the same for equal content whatever the Gateway. */
uint64_t ir_obj_wire_hash(const ir_obj_t *o);
/* Returns: the xDS version, 16 lowercase hex digits of ir_obj_wire_hash, borrowed from |o|. */
const char *ir_obj_version(const ir_obj_t *o);
/* Returns: the type URL its Any carries. */
const char *ir_obj_type_url(const ir_obj_t *o);
/* Returns: the canonical wrapper tree (an Agentgateway__Dev__Resource__Resource, or an
 * Istio__Workload__Address for addresses), borrowed from |o| for its lifetime; decoded from the
 * wire bytes on first use (not thread-safe, like every krt object); NULL only when that decoding
 * runs out of memory. Must not be modified. */
const ProtobufCMessage *ir_obj_message(const ir_obj_t *o);
/* The inner message (Bind, Route, ...; the Address itself for addresses) for a one-off reader
 * that should not leave a decoded tree behind (an index extractor runs on every object): the
 * object's own tree when it has one, else a temporary decoding put in |*tmp| (free it with
 * ir_pb_free after use; NULL when nothing was decoded). NULL on OOM. */
const ProtobufCMessage *ir_obj_inner_peek(const ir_obj_t *o, ProtobufCMessage **tmp);
/* Returns: |o| with one more reference. */
const ir_obj_t *ir_obj_retain(const ir_obj_t *o);
/* Drops one reference. NULL is a no-op. */
void ir_obj_release(const ir_obj_t *o);
/* Returns: the dump (owned by caller): {"kind","key","name","gateway","version","resource"},
 * where resource is the wrapper in proto3 JSON with secrets redacted (ir/pb.h). */
json_t *ir_obj_dump(const ir_obj_t *o);

/* Debug check of the object's invariants (listed in ir/src/internal.h: the tree re-encodes to the
 * stored bytes, hash and version match them, key = scope + name, name and inner key match the
 * message, the krt type matches the kind). Returns: IR_OK, or IR_EINVAL with |err| naming the
 * invariant that failed. */
int ir_obj_check(const ir_obj_t *o, ir_err_t *err);

/* Builds an object from encoded wrapper bytes: a Resource when |type_url| is
 * IR_TYPE_URL_RESOURCE, an Address when it is IR_TYPE_URL_ADDRESS. The bytes need not be
 * canonical; the object holds the canonical form. Borrows all arguments; |gateway| is "ns/name"
 * or NULL.
 * Returns: IR_OK with |*out| set (owned by caller), or an error (IR_EDECODE, IR_EDEPTH, IR_EUTF8,
 * IR_EKIND for Resource kinds that are not modelled (workload, service, route_group,
 * model_route, none), IR_EFIELD, IR_ETYPEURL, IR_EINVAL for a malformed |gateway|, IR_ENOMEM)
 * with |*out| NULL and |err| filled. */
int ir_obj_decode(const char *type_url, const uint8_t *bytes, size_t len, const char *gateway,
                  const ir_obj_t **out, ir_err_t *err);

/* Builds an object from a wrapper message of type |type_url|. Borrows everything. Returns as
 * ir_obj_decode. */
int ir_obj_from_message(const char *type_url, const ProtobufCMessage *msg, const char *gateway,
                        const ir_obj_t **out, ir_err_t *err);

#ifdef __cplusplus
}
#endif
#endif /* IR_IR_H */
