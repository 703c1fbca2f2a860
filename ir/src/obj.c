/*
 * The IR object: construction through the wire, the seven krt types, and the common accessors.
 *
 * Every path into an object (a message from the translator, bytes from an xDS response, a
 * discovery Resource) ends in build_obj(): decode into a canonical tree, classify, check the key
 * fields, encode once more, and seal. A message already canonical skips the decode and the second
 * encode (ir_obj_from_message): its bytes get the same pre-scan and its tree the same checks. Decoding is the single place where input is judged, so the
 * translator's messages and a remote peer's bytes meet exactly the same checks. See ir/ir.h for why
 * the object holds the protobuf message rather than its own structs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ir/names.h"
#include "internal.h"

/* --------------------------------------------------------------------------------------------- */
/* Kinds */

static const struct {
    const char *prefix;
    const char *name;
    const krt_type_t *type;
} kinds[IR_KIND_COUNT + 1] = {
    [IR_KIND_BIND] = {"bind", "bind", &ir_bind_type},
    [IR_KIND_LISTENER] = {"listener", "listener", &ir_listener_type},
    [IR_KIND_ROUTE] = {"route", "route", &ir_route_type},
    [IR_KIND_TCP_ROUTE] = {"tcp_route", "tcp_route", &ir_tcp_route_type},
    [IR_KIND_BACKEND] = {"backend", "backend", &ir_backend_type},
    [IR_KIND_POLICY] = {"policy", "policy", &ir_policy_type},
    [IR_KIND_ADDRESS] = {"", "address", &ir_address_type},
};

static bool kind_ok(ir_kind_t k)
{
    return k >= IR_KIND_BIND && k <= IR_KIND_ADDRESS;
}

const char *ir_kind_prefix(ir_kind_t k)
{
    return kind_ok(k) ? kinds[k].prefix : NULL;
}

const char *ir_kind_name(ir_kind_t k)
{
    return kind_ok(k) ? kinds[k].name : "unknown";
}

const char *ir_kind_type_url(ir_kind_t k)
{
    return k == IR_KIND_ADDRESS ? IR_TYPE_URL_ADDRESS : IR_TYPE_URL_RESOURCE;
}

const krt_type_t *ir_kind_type(ir_kind_t k)
{
    return kind_ok(k) ? kinds[k].type : NULL;
}

const ProtobufCMessageDescriptor *ir__wrapper_desc(const char *type_url)
{
    if (!type_url)
        return NULL;
    if (strcmp(type_url, IR_TYPE_URL_RESOURCE) == 0)
        return &agentgateway__dev__resource__resource__descriptor;
    if (strcmp(type_url, IR_TYPE_URL_ADDRESS) == 0)
        return &istio__workload__address__descriptor;
    return NULL;
}

/* --------------------------------------------------------------------------------------------- */
/* krt type callbacks */

static const ir_obj_t *cobj(const krt_obj_t *o)
{
    return (const ir_obj_t *)(const void *)o;
}

static const char *type_key(const krt_obj_t *o)
{
    return cobj(o)->key;
}

static uint64_t type_hash(const krt_obj_t *o)
{
    const ir_obj_t *x = cobj(o);
    return krt_hash_combine(x->wire_hash, krt_hash_str(x->gateway, 0));
}

static bool type_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const ir_obj_t *x = cobj(a), *y = cobj(b);
    if (x->kind != y->kind || x->wire_len != y->wire_len)
        return false;
    if ((x->gateway == NULL) != (y->gateway == NULL))
        return false;
    if (x->gateway && strcmp(x->gateway, y->gateway) != 0)
        return false;
    return x->wire_len == 0 || memcmp(x->wire, y->wire, x->wire_len) == 0;
}

static void type_free(krt_obj_t *o)
{
    ir_obj_t *x = (ir_obj_t *)(void *)o;
    ir_pb_free(x->msg);
    krt_free(x->wire);
    krt_free(x->key);
    krt_free(x->gateway);
    krt_free(x);
}

static json_t *type_dump(const krt_obj_t *o)
{
    return ir_obj_dump(cobj(o));
}

static size_t type_size(const krt_obj_t *o)
{
    const ir_obj_t *x = cobj(o);
    return sizeof *x + strlen(x->key) + 1 + (x->gateway ? strlen(x->gateway) + 1 : 0) +
           x->wire_len + x->tree_bytes;
}

#define IR__TYPE(lower, tname)             \
    const krt_type_t ir_##lower##_type = { \
        .name = tname,                     \
        .flags = 0,                        \
        .key = type_key,                   \
        .hash = type_hash,                 \
        .equals = type_equals,             \
        .free = type_free,                 \
        .dump = type_dump,                 \
        .size = type_size,                 \
    };

IR__TYPE(bind, "ir.Bind")
IR__TYPE(listener, "ir.Listener")
IR__TYPE(route, "ir.Route")
IR__TYPE(tcp_route, "ir.TCPRoute")
IR__TYPE(backend, "ir.Backend")
IR__TYPE(policy, "ir.Policy")
IR__TYPE(address, "ir.Address")

/* --------------------------------------------------------------------------------------------- */
/* Classification: which kind a canonical wrapper is, and its inner key. */

static int classify_resource(const Agentgateway__Dev__Resource__Resource *r, ir_kind_t *kind,
                             const char **inner, ir_err_t *err)
{
    const char *key = NULL;
    const char *field = NULL;
    switch (r->kind_case) {
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BIND:
        *kind = IR_KIND_BIND, key = r->bind ? r->bind->key : NULL, field = "bind";
        break;
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_LISTENER:
        *kind = IR_KIND_LISTENER, key = r->listener ? r->listener->key : NULL, field = "listener";
        break;
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_ROUTE:
        *kind = IR_KIND_ROUTE, key = r->route ? r->route->key : NULL, field = "route";
        break;
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_TCP_ROUTE:
        *kind = IR_KIND_TCP_ROUTE, key = r->tcp_route ? r->tcp_route->key : NULL, field = "tcp_route";
        break;
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND:
        *kind = IR_KIND_BACKEND, key = r->backend ? r->backend->key : NULL, field = "backend";
        break;
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY:
        *kind = IR_KIND_POLICY, key = r->policy ? r->policy->key : NULL, field = "policy";
        break;
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_WORKLOAD:
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_SERVICE:
        return ir__err(err, IR_EKIND,
                       "Resource: workload/service inside Resource is not accepted (send them as "
                       "istio.workload.Address)");
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_ROUTE_GROUP:
    case AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_MODEL_ROUTE:
        return ir__err(err, IR_EKIND, "Resource: kind %d (route_group/model_route) is not modelled",
                       (int)r->kind_case);
    default:
        return ir__err(err, IR_EKIND, "Resource: no kind set");
    }
    /* A oneof member decodes to a message even when empty, so the pointer is set. */
    if (!key || !*key)
        return ir__err(err, IR_EFIELD, "Resource.%s.key: empty", field);
    *inner = key;
    return IR_OK;
}

/* For an Address the inner key is built, so it is returned allocated. */
static int classify_address(const Istio__Workload__Address *a, char **name, ir_err_t *err)
{
    switch (a->type_case) {
    case ISTIO__WORKLOAD__ADDRESS__TYPE_WORKLOAD:
        /* NULL only in a caller's message (ir_obj_from_message); decoding makes it empty. */
        if (!a->workload || !a->workload->uid || !*a->workload->uid)
            return ir__err(err, IR_EFIELD, "Address.workload.uid: empty");
        *name = krt_strdup(a->workload->uid);
        break;
    case ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE:
        if (!a->service || !a->service->namespace_ || !*a->service->namespace_)
            return ir__err(err, IR_EFIELD, "Address.service.namespace: empty");
        if (!a->service->hostname || !*a->service->hostname)
            return ir__err(err, IR_EFIELD, "Address.service.hostname: empty");
        *name = ir_name_service(a->service->namespace_, a->service->hostname);
        break;
    default:
        return ir__err(err, IR_EKIND, "Address: neither workload nor service set");
    }
    return *name ? IR_OK : ir__err(err, IR_ENOMEM, "Address: out of memory");
}

/* --------------------------------------------------------------------------------------------- */
/* Construction */

static void hex64(uint64_t v, char out[17])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = digits[v & 15];
        v >>= 4;
    }
    out[16] = '\0';
}

/* Classifies |tree| (canonical; borrowed) and builds the object around its encoding: |*wire| when
 * |have_wire| (taken, also on error: the caller's encoding of exactly this tree), else one made
 * here. The tree is neither kept nor freed. */
static int build_obj(bool address, const ProtobufCMessage *tree, bool have_wire, uint8_t *wire,
                     size_t wire_len, const char *gateway, ir_obj_t **out, ir_err_t *err)
{
    ir_kind_t kind = IR_KIND_ADDRESS;
    char *addr_name = NULL;
    const char *inner = NULL;
    int rc;
    if (address)
        rc =
            classify_address((const Istio__Workload__Address *)(const void *)tree, &addr_name, err);
    else
        rc = classify_resource((const Agentgateway__Dev__Resource__Resource *)(const void *)tree,
                               &kind, &inner, err);
    if (rc != IR_OK) {
        krt_free(wire);
        return rc;
    }
    if (address)
        inner = addr_name;

    ir_obj_t *o = krt_calloc(1, sizeof *o);
    char *name = ir_name_resource(kind, inner);
    char *key = name ? ir_key_scoped(gateway, name) : NULL;
    char *gw = gateway ? krt_strdup(gateway) : NULL;
    rc = (o && name && key && (gw || !gateway)) ? IR_OK : IR_ENOMEM;
    if (rc == IR_OK && !have_wire)
        rc = ir_pb_encode(tree, &wire, &wire_len);
    if (rc != IR_OK) {
        ir__err(err, IR_ENOMEM, "%s %s: out of memory", ir_kind_name(kind), inner);
        krt_free(o);
        krt_free(key);
        krt_free(gw);
        krt_free(name);
        krt_free(addr_name); /* inner may point here or into tree: report first */
        krt_free(wire);
        return IR_ENOMEM;
    }
    o->kind = kind;
    o->key = key;
    o->name = key + (strlen(key) - strlen(name));
    o->inner = o->name + (address ? 0 : strlen(ir_kind_prefix(kind)) + 1);
    o->gateway = gw;
    o->wire = wire;
    o->wire_len = wire_len;
    o->wire_hash = krt_hash_bytes(wire, wire_len, 0);
    hex64(o->wire_hash, o->version);
    krt_free(name);
    krt_free(addr_name);
    *out = o;
    return IR_OK;
}

/* Takes |tree| (canonical, from ir__pb_decode_counted). */
static int make_obj(bool address, bool keep, ProtobufCMessage *tree, size_t tree_bytes,
                    const char *gateway, const ir_obj_t **out, ir_err_t *err)
{
    ir_obj_t *o;
    int rc = build_obj(address, tree, false, NULL, 0, gateway, &o, err);
    if (rc != IR_OK) {
        ir_pb_free(tree);
        return rc;
    }
    if (keep) {
        o->tree_bytes = tree_bytes;
        o->msg = tree;
    } else {
        ir_pb_free(tree); /* the wire bytes are the message; ir_obj_message() decodes on demand */
    }
    krt_obj_seal(&o->base, kinds[o->kind].type);
    *out = o;
    return IR_OK;
}

/* |keep|: the object holds the decoded tree from the start (a peer's resource, read at once by
 * the proxy); otherwise it holds only the wire bytes and ir_obj_message() decodes them when first
 * asked (a translator's output, which a controller never reads back: a message tree costs about
 * four times its encoding in small allocations). */
static int decode_obj(const char *type_url, const uint8_t *bytes, size_t len, const char *gateway,
                      bool keep, const ir_obj_t **out, ir_err_t *err)
{
    if (!out)
        return ir__err(err, IR_EINVAL, "decode: NULL out");
    *out = NULL;
    if (gateway && !ir_gateway_valid(gateway))
        return ir__err(err, IR_EINVAL, "gateway \"%s\": want \"namespace/name\"", gateway);
    const ProtobufCMessageDescriptor *desc = ir__wrapper_desc(type_url);
    if (!desc)
        return ir__err(err, IR_ETYPEURL, "type URL \"%s\": not %s or %s",
                       type_url ? type_url : "(null)", IR_TYPE_URL_RESOURCE, IR_TYPE_URL_ADDRESS);
    ProtobufCMessage *tree;
    size_t tree_bytes = 0;
    int rc = ir__pb_decode_counted(desc, bytes, len, &tree, &tree_bytes, err);
    if (rc != IR_OK)
        return rc;
    return make_obj(desc == &istio__workload__address__descriptor, keep, tree, tree_bytes, gateway,
                    out, err);
}

int ir_obj_decode(const char *type_url, const uint8_t *bytes, size_t len, const char *gateway,
                  const ir_obj_t **out, ir_err_t *err)
{
    return decode_obj(type_url, bytes, len, gateway, true, out, err);
}

int ir_obj_from_message(const char *type_url, const ProtobufCMessage *msg, const char *gateway,
                        const ir_obj_t **out, ir_err_t *err)
{
    if (!out)
        return ir__err(err, IR_EINVAL, "from_message: NULL out");
    *out = NULL;
    const ProtobufCMessageDescriptor *desc = ir__wrapper_desc(type_url);
    if (!desc)
        return ir__err(err, IR_ETYPEURL, "type URL \"%s\": not modelled",
                       type_url ? type_url : "(null)");
    if (!msg || msg->descriptor != desc)
        return ir__err(err, IR_EINVAL, "message is a %s, type URL wants %s",
                       msg ? msg->descriptor->name : "NULL", desc->name);
    uint8_t *buf;
    size_t len;
    if (ir_pb_encode(msg, &buf, &len) != IR_OK)
        return ir__err(err, IR_ENOMEM, "%s: out of memory while encoding", desc->short_name);
    if (ir__pb_is_canonical(msg) && (!gateway || ir_gateway_valid(gateway))) {
        /* The common case, every translator output: decoding |buf| would give back |msg| and
         * encoding that would give back |buf|, so the bytes pass the same pre-scan as a peer's,
         * the key checks read |msg|, and |buf| is the object's encoding. This skips a decode
         * and an encode per object (a quarter of the cold start's flush at agw-5k). */
        int rc = ir__pb_scan(desc, buf, len, err);
        if (rc != IR_OK) {
            krt_free(buf);
            return rc;
        }
#ifndef NDEBUG
        /* Debug builds check the claim above on every object the tests make. */
        ProtobufCMessage *round = NULL;
        uint8_t *again = NULL;
        size_t again_len = 0;
        rc = ir__pb_decode_counted(desc, buf, len, &round, NULL, err);
        if (rc == IR_OK)
            rc = ir_pb_encode(round, &again, &again_len);
        if (rc == IR_OK && (again_len != len || (len && memcmp(again, buf, len) != 0))) {
            fprintf(stderr, "ir_obj_from_message: %s: canonical message does not round-trip\n",
                    desc->name);
            abort();
        }
        krt_free(again);
        ir_pb_free(round);
        if (rc != IR_OK) { /* out of memory: fail as the decoding path would */
            krt_free(buf);
            return ir__err(err, rc, "%s: out of memory while decoding", desc->short_name);
        }
#endif
        ir_obj_t *o;
        rc = build_obj(desc == &istio__workload__address__descriptor, msg, true, buf, len,
                       gateway, &o, err);
        if (rc != IR_OK)
            return rc;
        krt_obj_seal(&o->base, kinds[o->kind].type);
        *out = o;
        return IR_OK;
    }
    int rc = decode_obj(type_url, buf, len, gateway, false, out, err);
    krt_free(buf);
    return rc;
}

const ir_obj_t *ir__obj_from_inner(ir_kind_t want, const ProtobufCMessage *inner,
                                   const char *gateway, ir_err_t *err)
{
    const ir_obj_t *o = NULL;
    if (want == IR_KIND_ADDRESS) {
        ir_obj_from_message(IR_TYPE_URL_ADDRESS, inner, gateway, &o, err);
        return o;
    }
    Agentgateway__Dev__Resource__Resource r = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__INIT;
    const ProtobufCMessageDescriptor *expect = NULL;
    void *p = (void *)(uintptr_t)inner;
    switch (want) {
    case IR_KIND_BIND:
        r.kind_case = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BIND, r.bind = p;
        expect = &agentgateway__dev__resource__bind__descriptor;
        break;
    case IR_KIND_LISTENER:
        r.kind_case = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_LISTENER, r.listener = p;
        expect = &agentgateway__dev__resource__listener__descriptor;
        break;
    case IR_KIND_ROUTE:
        r.kind_case = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_ROUTE, r.route = p;
        expect = &agentgateway__dev__resource__route__descriptor;
        break;
    case IR_KIND_TCP_ROUTE:
        r.kind_case = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_TCP_ROUTE, r.tcp_route = p;
        expect = &agentgateway__dev__resource__tcproute__descriptor;
        break;
    case IR_KIND_BACKEND:
        r.kind_case = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND, r.backend = p;
        expect = &agentgateway__dev__resource__backend__descriptor;
        break;
    case IR_KIND_POLICY:
        r.kind_case = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY, r.policy = p;
        expect = &agentgateway__dev__resource__policy__descriptor;
        break;
    default:
        ir__err(err, IR_EINVAL, "kind %d: not a Resource kind", (int)want);
        return NULL;
    }
    if (!inner || inner->descriptor != expect) {
        ir__err(err, IR_EINVAL, "%s: message is a %s", ir_kind_name(want),
                inner ? inner->descriptor->name : "NULL");
        return NULL;
    }
    ir_obj_from_message(IR_TYPE_URL_RESOURCE, &r.base, gateway, &o, err);
    return o;
}

/* --------------------------------------------------------------------------------------------- */
/* Accessors */

const krt_obj_t *ir_obj_krt(const ir_obj_t *o)
{
    return &o->base;
}

const ir_obj_t *ir_obj_from_krt(const krt_obj_t *o)
{
    if (!o)
        return NULL;
    for (int k = IR_KIND_BIND; k <= IR_KIND_ADDRESS; k++)
        if (o->type == kinds[k].type)
            return cobj(o);
    return NULL;
}

ir_kind_t ir_obj_kind(const ir_obj_t *o)
{
    return o->kind;
}

const char *ir_obj_key(const ir_obj_t *o)
{
    return o->key;
}

const char *ir_obj_name(const ir_obj_t *o)
{
    return o->name;
}

const char *ir_obj_inner_key(const ir_obj_t *o)
{
    return o->inner;
}

const char *ir_obj_gateway(const ir_obj_t *o)
{
    return o->gateway;
}

const uint8_t *ir_obj_wire(const ir_obj_t *o, size_t *len)
{
    if (len)
        *len = o->wire_len;
    return o->wire;
}

uint64_t ir_obj_wire_hash(const ir_obj_t *o)
{
    return o->wire_hash;
}

const char *ir_obj_version(const ir_obj_t *o)
{
    return o->version;
}

const char *ir_obj_type_url(const ir_obj_t *o)
{
    return ir_kind_type_url(o->kind);
}

/* Decodes the wire bytes into a new tree (owned by caller, ir_pb_free); NULL on OOM. */
static ProtobufCMessage *decode_tree(const ir_obj_t *o, size_t *tree_bytes)
{
    ProtobufCMessage *tree = NULL;
    const ProtobufCMessageDescriptor *desc = ir__wrapper_desc(ir_kind_type_url(o->kind));
    /* The bytes were checked and made canonical when the object was built. */
    if (!desc || ir__pb_decode_own(desc, o->wire, o->wire_len, &tree, tree_bytes) != IR_OK)
        return NULL;
    return tree;
}

/* The tree for a one-off reader: the object's own, or a temporary in |*tmp| (free it). */
static const ProtobufCMessage *tree_of(const ir_obj_t *o, ProtobufCMessage **tmp)
{
    size_t n = 0;
    *tmp = NULL;
    if (o->msg)
        return o->msg;
    *tmp = decode_tree(o, &n);
    return *tmp;
}

const ProtobufCMessage *ir_obj_message(const ir_obj_t *o)
{
    if (!o->msg) {
        /* The tree is a cache of the wire bytes; once decoded it stays for the object's life,
         * so every pointer a reader takes into it lives as long as its reference. */
        ir_obj_t *w = (ir_obj_t *)o;
        w->msg = decode_tree(o, &w->tree_bytes);
    }
    return o->msg;
}

/* The inner message of the wrapper |m| of kind |kind|. */
static const ProtobufCMessage *inner_of(ir_kind_t kind, const ProtobufCMessage *m)
{
    if (!m || kind == IR_KIND_ADDRESS)
        return m;
    const Agentgateway__Dev__Resource__Resource *r = (const void *)m;
    switch (kind) {
    case IR_KIND_BIND:
        return r->bind ? &r->bind->base : NULL;
    case IR_KIND_LISTENER:
        return r->listener ? &r->listener->base : NULL;
    case IR_KIND_ROUTE:
        return r->route ? &r->route->base : NULL;
    case IR_KIND_TCP_ROUTE:
        return r->tcp_route ? &r->tcp_route->base : NULL;
    case IR_KIND_BACKEND:
        return r->backend ? &r->backend->base : NULL;
    case IR_KIND_POLICY:
        return r->policy ? &r->policy->base : NULL;
    default:
        return NULL;
    }
}

const ProtobufCMessage *ir_obj_inner_peek(const ir_obj_t *o, ProtobufCMessage **tmp)
{
    return inner_of(o->kind, tree_of(o, tmp));
}

const ProtobufCMessage *ir__obj_inner(const ir_obj_t *o)
{
    const ProtobufCMessage *m = ir_obj_message(o);
    if (!m || o->kind == IR_KIND_ADDRESS)
        return m;
    const Agentgateway__Dev__Resource__Resource *r = (const void *)m;
    switch (o->kind) {
    case IR_KIND_BIND:
        return &r->bind->base;
    case IR_KIND_LISTENER:
        return &r->listener->base;
    case IR_KIND_ROUTE:
        return &r->route->base;
    case IR_KIND_TCP_ROUTE:
        return &r->tcp_route->base;
    case IR_KIND_BACKEND:
        return &r->backend->base;
    case IR_KIND_POLICY:
        return &r->policy->base;
    default:
        return NULL;
    }
}

const ir_obj_t *ir_obj_retain(const ir_obj_t *o)
{
    krt_obj_retain(&o->base);
    return o;
}

void ir_obj_release(const ir_obj_t *o)
{
    if (o)
        krt_obj_release(&o->base);
}

json_t *ir_obj_dump(const ir_obj_t *o)
{
    ProtobufCMessage *tmp; /* a dump does not keep a decoded tree behind */
    const ProtobufCMessage *m = tree_of(o, &tmp);
    json_t *res = m ? ir_pb_to_json(m, IR_PB_JSON_REDACT) : NULL;
    ir_pb_free(tmp);
    if (!res)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:o}", "kind", ir_kind_name(o->kind), "key",
                     o->key, "name", o->name, "gateway", o->gateway, "version", o->version,
                     "resource", res);
}

/* --------------------------------------------------------------------------------------------- */
/* Invariants */

int ir_obj_check(const ir_obj_t *o, ir_err_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ProtobufCMessage *tmp;
    const ProtobufCMessage *tree = tree_of(o, &tmp);
    if (!tree || ir_pb_encode(tree, &buf, &len) != IR_OK) {
        ir_pb_free(tmp);
        return ir__err(err, IR_ENOMEM, "check: out of memory");
    }
    bool same = len == o->wire_len && (len == 0 || memcmp(buf, o->wire, len) == 0);
    krt_free(buf);
    if (!same) {
        ir_pb_free(tmp);
        return ir__err(err, IR_EINVAL, "I1 %s: tree and wire bytes disagree", o->key);
    }
    char v[17];
    hex64(krt_hash_bytes(o->wire, o->wire_len, 0), v);
    if (o->wire_hash != krt_hash_bytes(o->wire, o->wire_len, 0) || strcmp(v, o->version) != 0) {
        ir_pb_free(tmp);
        return ir__err(err, IR_EINVAL, "I2 %s: hash or version stale", o->key);
    }
    char *k = ir_key_scoped(o->gateway, o->name);
    bool key_ok = k && strcmp(k, o->key) == 0 && o->name >= o->key &&
                  o->name < o->key + strlen(o->key) && o->inner >= o->name;
    krt_free(k);
    if (!key_ok) {
        ir_pb_free(tmp);
        return ir__err(err, IR_EINVAL, "I3 %s: key does not match gateway and name", o->key);
    }
    char *n = ir_name_resource(o->kind, o->inner);
    bool name_ok = n && strcmp(n, o->name) == 0;
    krt_free(n);
    const char *own = NULL;
    if (o->kind == IR_KIND_ADDRESS) {
        char *an = NULL;
        if (classify_address((const void *)tree, &an, NULL) == IR_OK)
            name_ok = name_ok && strcmp(an, o->inner) == 0;
        else
            name_ok = false;
        krt_free(an);
    } else {
        ir_kind_t kk;
        name_ok = name_ok && classify_resource((const void *)tree, &kk, &own, NULL) == IR_OK &&
                  kk == o->kind && strcmp(own, o->inner) == 0;
    }
    ir_pb_free(tmp);
    if (!name_ok)
        return ir__err(err, IR_EINVAL, "I4/I5 %s: name, inner key or kind disagree with message",
                       o->key);
    if (o->base.type != ir_kind_type(o->kind))
        return ir__err(err, IR_EINVAL, "I5 %s: krt type is not the kind's", o->key);
    return IR_OK;
}
