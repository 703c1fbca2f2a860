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

/* The parts of the allocation (internal.h, Layout). */
static const uint8_t *obj_wire(const ir_obj_t *o)
{
    return (const uint8_t *)o->data;
}

static const char *obj_gateway(const ir_obj_t *o)
{
    return o->scoped ? o->data + o->wire_len : NULL;
}

static const char *obj_key(const ir_obj_t *o)
{
    return o->data + o->wire_len + (o->scoped ? o->name_off : 0);
}

static const char *obj_name(const ir_obj_t *o)
{
    return obj_key(o) + o->name_off;
}

static const char *obj_inner(const ir_obj_t *o)
{
    return obj_name(o) + o->inner_off;
}

static const char *type_key(const krt_obj_t *o)
{
    return obj_key(cobj(o));
}

static uint64_t type_hash(const krt_obj_t *o)
{
    const ir_obj_t *x = cobj(o);
    return krt_hash_combine(x->wire_hash, krt_hash_str(obj_gateway(x), 0));
}

static bool type_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const ir_obj_t *x = cobj(a), *y = cobj(b);
    if (x->kind != y->kind || x->wire_len != y->wire_len || x->scoped != y->scoped)
        return false;
    if (x->scoped && (x->name_off != y->name_off ||
                      memcmp(obj_gateway(x), obj_gateway(y), x->name_off) != 0))
        return false;
    return memcmp(obj_wire(x), obj_wire(y), x->wire_len) == 0;
}

static void type_free(krt_obj_t *o)
{
    ir_obj_t *x = (ir_obj_t *)(void *)o;
    ir_pb_free(x->msg);
    krt_free(x);
}

static json_t *type_dump(const krt_obj_t *o)
{
    return ir_obj_dump(cobj(o));
}

static size_t type_size(const krt_obj_t *o)
{
    const ir_obj_t *x = cobj(o);
    return sizeof *x + x->wire_len + (x->scoped ? x->name_off : 0) + strlen(obj_key(x)) + 1 +
           x->tree_bytes;
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

/* For an Address the inner key is the uid (|*a|, |*b| NULL) or "<namespace>/<hostname>" (|*a|
 * "/" |*b|, as ir_name_service forms it); both borrowed from the message. */
static int classify_address(const Istio__Workload__Address *m, const char **a, const char **b,
                            ir_err_t *err)
{
    *b = NULL;
    switch (m->type_case) {
    case ISTIO__WORKLOAD__ADDRESS__TYPE_WORKLOAD:
        /* NULL only in a caller's message (ir_obj_from_message); decoding makes it empty. */
        if (!m->workload || !m->workload->uid || !*m->workload->uid)
            return ir__err(err, IR_EFIELD, "Address.workload.uid: empty");
        *a = m->workload->uid;
        break;
    case ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE:
        if (!m->service || !m->service->namespace_ || !*m->service->namespace_)
            return ir__err(err, IR_EFIELD, "Address.service.namespace: empty");
        if (!m->service->hostname || !*m->service->hostname)
            return ir__err(err, IR_EFIELD, "Address.service.hostname: empty");
        *a = m->service->namespace_;
        *b = m->service->hostname;
        break;
    default:
        return ir__err(err, IR_EKIND, "Address: neither workload nor service set");
    }
    return IR_OK;
}

/* Classifies a canonical wrapper |tree| (borrowed): its kind and inner key, as |*a| or |*a| "/"
 * |*b| (borrowed from the tree). */
static int classify(bool address, const ProtobufCMessage *tree, ir_kind_t *kind, const char **a,
                    const char **b, ir_err_t *err)
{
    *b = NULL;
    if (address) {
        *kind = IR_KIND_ADDRESS;
        return classify_address((const Istio__Workload__Address *)(const void *)tree, a, b, err);
    }
    return classify_resource((const Agentgateway__Dev__Resource__Resource *)(const void *)tree,
                             kind, a, err);
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

/* A new object of |kind| with inner key |a| ["/" |b|] and |gateway| (valid or NULL), its names
 * written and room for |wire_len| wire bytes, which the caller writes and then seals with
 * obj_finish. NULL on OOM. */
static ir_obj_t *obj_alloc(ir_kind_t kind, const char *a, const char *b, const char *gateway,
                           size_t wire_len)
{
    const char *prefix = kinds[kind].prefix;
    size_t plen = strlen(prefix), alen = strlen(a), blen = b ? strlen(b) : 0;
    size_t gwlen = gateway ? strlen(gateway) : 0;
    size_t name_off = gateway ? gwlen + 1 : 2, inner_off = plen ? plen + 1 : 0;
    size_t keylen = name_off + inner_off + alen + (b ? blen + 1 : 0);
    if (wire_len > UINT32_MAX || name_off > UINT32_MAX || inner_off > UINT8_MAX)
        return NULL; /* cannot happen: a message is below 2 GiB, prefixes are short */
    ir_obj_t *o = krt_malloc(sizeof *o + wire_len + (gateway ? gwlen + 1 : 0) + keylen + 1);
    if (!o)
        return NULL;
    memset(o, 0, sizeof *o);
    o->kind = (uint8_t)kind;
    o->wire_len = (uint32_t)wire_len;
    o->name_off = (uint32_t)name_off;
    o->inner_off = (uint8_t)inner_off;
    o->scoped = gateway != NULL;
    char *p = o->data + wire_len;
    if (gateway) {
        memcpy(p, gateway, gwlen + 1);
        p += gwlen + 1;
        memcpy(p, gateway, gwlen);
        p[gwlen] = '/';
    } else {
        p[0] = p[1] = '/';
    }
    p += name_off;
    if (plen) {
        memcpy(p, prefix, plen);
        p[plen] = '/';
        p += plen + 1;
    }
    memcpy(p, a, alen);
    p += alen;
    if (b) {
        *p++ = '/';
        memcpy(p, b, blen);
        p += blen;
    }
    *p = '\0';
    return o;
}

/* Hashes the wire bytes written into |o| and seals it. */
static const ir_obj_t *obj_finish(ir_obj_t *o)
{
    o->wire_hash = krt_hash_bytes(obj_wire(o), o->wire_len, 0);
    hex64(o->wire_hash, o->version);
    krt_obj_seal(&o->base, kinds[o->kind].type);
    return o;
}

/* Classifies |tree| (canonical; borrowed, neither kept nor freed) and builds the object around
 * its encoding, packed into the object. */
static int build_obj(bool address, const ProtobufCMessage *tree, const char *gateway,
                     ir_obj_t **out, ir_err_t *err)
{
    ir_kind_t kind = IR_KIND_ADDRESS;
    const char *a = NULL, *b = NULL;
    int rc = classify(address, tree, &kind, &a, &b, err);
    if (rc != IR_OK)
        return rc;
    size_t n = protobuf_c_message_get_packed_size(tree);
    ir_obj_t *o = obj_alloc(kind, a, b, gateway, n);
    if (!o)
        return ir__err(err, IR_ENOMEM, "%s %s: out of memory", ir_kind_name(kind), a);
    if (protobuf_c_message_pack(tree, (uint8_t *)o->data) != n) {
        /* cannot happen with a well-formed tree; refuse rather than send garbage */
        krt_free(o);
        return ir__err(err, IR_EINVAL, "%s %s: encoding changed size", ir_kind_name(kind), a);
    }
    *out = o;
    return IR_OK;
}

/* Takes |tree| (canonical, from ir__pb_decode_counted). */
static int make_obj(bool address, bool keep, ProtobufCMessage *tree, size_t tree_bytes,
                    const char *gateway, const ir_obj_t **out, ir_err_t *err)
{
    ir_obj_t *o = NULL;
    int rc = build_obj(address, tree, gateway, &o, err);
    if (rc != IR_OK) {
        ir_pb_free(tree);
        return rc;
    }
    if (keep) {
        o->tree_bytes = tree_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)tree_bytes;
        o->msg = tree;
    } else {
        ir_pb_free(tree); /* the wire bytes are the message; ir_obj_message() decodes on demand */
    }
    *out = obj_finish(o);
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
    bool address = desc == &istio__workload__address__descriptor;
    ir_kind_t kind = IR_KIND_ADDRESS;
    const char *a = NULL, *b = NULL;
    bool canonical = ir__pb_is_canonical(msg) && (!gateway || ir_gateway_valid(gateway));
    ir_err_t cerr;
    int crc = canonical ? classify(address, msg, &kind, &a, &b, &cerr) : IR_OK;
    if (canonical && crc != IR_OK) {
        /* judged as before the short cut: the pre-scan's error first, then the key's */
        uint8_t *buf;
        size_t len;
        if (ir_pb_encode(msg, &buf, &len) != IR_OK)
            return ir__err(err, IR_ENOMEM, "%s: out of memory while encoding", desc->short_name);
        int rc = ir__pb_scan(desc, buf, len, err);
        krt_free(buf);
        if (rc == IR_OK && err)
            *err = cerr;
        return rc != IR_OK ? rc : crc;
    }
    if (canonical) {
        /* The common case, every translator output: decoding the encoding of |msg| would give
         * back |msg| and encoding that would give back the same bytes, so the bytes are packed
         * straight into the object, pass the same pre-scan as a peer's, and the key checks read
         * |msg|. This skips a decode and an encode per object (a quarter of the cold start's
         * flush at agw-5k) and the encoder's own buffer. */
        size_t len = protobuf_c_message_get_packed_size(msg);
        ir_obj_t *o = obj_alloc(kind, a, b, gateway, len);
        if (!o)
            return ir__err(err, IR_ENOMEM, "%s: out of memory", desc->short_name);
        const uint8_t *buf = (const uint8_t *)o->data;
        int rc = protobuf_c_message_pack(msg, (uint8_t *)o->data) == len
                     ? ir__pb_scan(desc, buf, len, err)
                     : ir__err(err, IR_EINVAL, "%s: encoding changed size", desc->short_name);
        if (rc != IR_OK) {
            krt_free(o);
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
            krt_free(o);
            return ir__err(err, rc, "%s: out of memory while decoding", desc->short_name);
        }
#endif
        *out = obj_finish(o);
        return IR_OK;
    }
    /* Anything else (maps out of order, a bad key, an invalid Gateway) goes the long way, which
     * judges it exactly as a peer's bytes: encode, decode into canonical form, classify. */
    uint8_t *buf;
    size_t len;
    if (ir_pb_encode(msg, &buf, &len) != IR_OK)
        return ir__err(err, IR_ENOMEM, "%s: out of memory while encoding", desc->short_name);
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
    return (ir_kind_t)o->kind;
}

const char *ir_obj_key(const ir_obj_t *o)
{
    return obj_key(o);
}

const char *ir_obj_name(const ir_obj_t *o)
{
    return obj_name(o);
}

const char *ir_obj_inner_key(const ir_obj_t *o)
{
    return obj_inner(o);
}

const char *ir_obj_gateway(const ir_obj_t *o)
{
    return obj_gateway(o);
}

const uint8_t *ir_obj_wire(const ir_obj_t *o, size_t *len)
{
    if (len)
        *len = o->wire_len;
    return obj_wire(o);
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
    if (!desc || ir__pb_decode_own(desc, obj_wire(o), o->wire_len, &tree, tree_bytes) != IR_OK)
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
        size_t n = 0;
        w->msg = decode_tree(o, &n);
        w->tree_bytes = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
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
                     obj_key(o), "name", obj_name(o), "gateway", obj_gateway(o), "version",
                     o->version, "resource", res);
}

/* --------------------------------------------------------------------------------------------- */
/* Invariants */

int ir_obj_check(const ir_obj_t *o, ir_err_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ProtobufCMessage *tmp;
    const char *key = obj_key(o), *name = obj_name(o), *inner = obj_inner(o);
    const ProtobufCMessage *tree = tree_of(o, &tmp);
    if (!tree || ir_pb_encode(tree, &buf, &len) != IR_OK) {
        ir_pb_free(tmp);
        return ir__err(err, IR_ENOMEM, "check: out of memory");
    }
    bool same = len == o->wire_len && (len == 0 || memcmp(buf, obj_wire(o), len) == 0);
    krt_free(buf);
    if (!same) {
        ir_pb_free(tmp);
        return ir__err(err, IR_EINVAL, "I1 %s: tree and wire bytes disagree", key);
    }
    char v[17];
    uint64_t h = krt_hash_bytes(obj_wire(o), o->wire_len, 0);
    hex64(h, v);
    if (o->wire_hash != h || strcmp(v, o->version) != 0) {
        ir_pb_free(tmp);
        return ir__err(err, IR_EINVAL, "I2 %s: hash or version stale", key);
    }
    char *k = ir_key_scoped(obj_gateway(o), name);
    size_t keylen = strlen(key);
    bool key_ok = k && strcmp(k, key) == 0 && o->name_off < keylen &&
                  o->inner_off < strlen(name) &&
                  (!o->scoped || (strlen(obj_gateway(o)) + 1 == o->name_off));
    krt_free(k);
    if (!key_ok) {
        ir_pb_free(tmp);
        return ir__err(err, IR_EINVAL, "I3 %s: key does not match gateway and name", key);
    }
    char *n = ir_name_resource((ir_kind_t)o->kind, inner);
    bool name_ok = n && strcmp(n, name) == 0;
    krt_free(n);
    ir_kind_t kk = IR_KIND_ADDRESS;
    const char *a = NULL, *b = NULL;
    if (classify(o->kind == IR_KIND_ADDRESS, tree, &kk, &a, &b, NULL) == IR_OK) {
        size_t alen = strlen(a);
        name_ok = name_ok && kk == o->kind && strncmp(inner, a, alen) == 0 &&
                  (b ? inner[alen] == '/' && strcmp(inner + alen + 1, b) == 0 : !inner[alen]);
    } else {
        name_ok = false;
    }
    ir_pb_free(tmp);
    if (!name_ok)
        return ir__err(err, IR_EINVAL, "I4/I5 %s: name, inner key or kind disagree with message",
                       key);
    if (o->base.type != ir_kind_type((ir_kind_t)o->kind))
        return ir__err(err, IR_EINVAL, "I5 %s: krt type is not the kind's", key);
    return IR_OK;
}
