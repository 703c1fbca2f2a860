/*
 * Internals shared by the ir sources: the object layout and the helpers every kind uses.
 *
 * Layout. An object is one allocation: the header below, then its wire bytes, then (when
 * scoped) its Gateway NUL-terminated, then its krt key NUL-terminated. Name and inner key are
 * offsets into the key, the Gateway's length is the name's offset minus one, and the wire bytes
 * are packed straight into their place, at exactly their size. At agw-5k this is one allocation
 * per object instead of four (header, key, Gateway, encoding) and about 90 bytes less each.
 *
 * INVARIANTS of a sealed ir_obj (checked by ir_obj_check, which the tests call after every step):
 *  I1 the wire bytes are the canonical encoding of the tree: encoding it again gives them, byte
 *     for byte
 *  I2 wire_hash == XXH3(wire); version is wire_hash as 16 lowercase hex digits
 *  I3 key == (gateway ? gateway "/" : "//") name, and name/inner point into key
 *  I4 name == ir_name_resource(kind, inner), and inner equals the message's own key field (for
 *     an address: its uid or "<namespace>/<hostname>")
 *  I5 base.type == ir_kind_type(kind), and the wrapper's oneof case matches kind
 */
#ifndef IR_INTERNAL_H
#define IR_INTERNAL_H

#include "ir/ir.h"
#include "ir/pb.h"

struct ir_obj {
    krt_obj_t base;
    uint64_t wire_hash;
    ProtobufCMessage *msg; /* NULL until first read when built from a message (ir.h: Memory) */
    uint32_t wire_len;
    uint32_t tree_bytes; /* bytes the decoded tree holds (saturating), for krt's accounting */
    uint32_t name_off;   /* name = key + name_off: the Gateway's length + 1, or 2 ("//") */
    uint8_t inner_off;   /* inner = name + inner_off: the kind prefix and its slash, or 0 */
    uint8_t kind;        /* ir_kind_t */
    bool scoped;         /* has a Gateway */
    char version[17];
    char data[]; /* wire bytes, then [gateway NUL], then key NUL */
};

/* Fills |err| (may be NULL) with |code| and a printf-style message. Returns: code. */
int ir__err(ir_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The wrapper descriptor for a type URL, or NULL. */
const ProtobufCMessageDescriptor *ir__wrapper_desc(const char *type_url);

/* Decodes with ir_pb_decode and reports how many bytes the tree holds. */
int ir__pb_decode_counted(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                          ProtobufCMessage **out, size_t *tree_bytes, ir_err_t *err);

/* ir__pb_decode_counted for an object's own wire bytes (o->wire), which were pre-scanned and
 * canonical when the object was made: skips both passes. Only for those bytes. */
int ir__pb_decode_own(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                      ProtobufCMessage **out, size_t *tree_bytes);

/* Runs the pre-scan of ir_pb_decode on |bytes| alone (depth, UTF-8), with the same errors. */
int ir__pb_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                ir_err_t *err);
/* Returns: whether |m| is already canonical (every map sorted by key, no key twice), that is,
 * whether decoding its encoding would give back the same encoding. Reads |m| only. */
bool ir__pb_is_canonical(const ProtobufCMessage *m);

/* Builds a Resource wrapper around |inner| (borrowed) with oneof case |kind| and makes the
 * object through ir_obj_from_message; checks the result has kind |want|. */
const ir_obj_t *ir__obj_from_inner(ir_kind_t want, const ProtobufCMessage *inner,
                                   const char *gateway, ir_err_t *err);

/* The resource inside the wrapper of |o| (Bind, Listener, ... or Address), borrowed. */
const ProtobufCMessage *ir__obj_inner(const ir_obj_t *o);

/* The seven types (obj.c). */
extern const krt_type_t ir_bind_type, ir_listener_type, ir_route_type, ir_tcp_route_type,
    ir_backend_type, ir_policy_type, ir_address_type;

/* Defines the conversion functions every kind has (see bind.h). |field| is the member of the
 * Resource wrapper (bind, listener, ...); for addresses the wrapper itself is the message. */
#define IR__DEFINE_RESOURCE_KIND(lower, KIND, Msg)                                                 \
    const ir_##lower##_t *ir_##lower##_from_pb(const Msg *msg, const char *gateway, ir_err_t *err) \
    {                                                                                              \
        if (!msg)                                                                                  \
            return (ir__err(err, IR_EINVAL, "%s: NULL message", #lower), NULL);                    \
        return (const ir_##lower##_t *)(const void *)ir__obj_from_inner(KIND, &msg->base, gateway, \
                                                                        err);                      \
    }                                                                                              \
    const ir_##lower##_t *ir_##lower##_new(Msg *msg, const char *gateway, ir_err_t *err)           \
    {                                                                                              \
        const ir_##lower##_t *x = ir_##lower##_from_pb(msg, gateway, err);                         \
        if (msg)                                                                                   \
            ir_pb_free(&msg->base);                                                                \
        return x;                                                                                  \
    }                                                                                              \
    const Msg *ir_##lower##_pb(const ir_##lower##_t *x)                                            \
    {                                                                                              \
        return (const Msg *)(const void *)ir__obj_inner(ir_##lower##_obj(x));                      \
    }                                                                                              \
    Msg *ir_##lower##_to_pb(const ir_##lower##_t *x)                                               \
    {                                                                                              \
        return (Msg *)(void *)ir_pb_copy(&ir_##lower##_pb(x)->base, NULL);                         \
    }                                                                                              \
    const ir_obj_t *ir_##lower##_obj(const ir_##lower##_t *x)                                      \
    {                                                                                              \
        return (const ir_obj_t *)(const void *)x;                                                  \
    }                                                                                              \
    const krt_obj_t *ir_##lower##_krt(const ir_##lower##_t *x)                                     \
    {                                                                                              \
        return (const krt_obj_t *)(const void *)x;                                                 \
    }                                                                                              \
    const ir_##lower##_t *ir_##lower##_from_obj(const ir_obj_t *o)                                 \
    {                                                                                              \
        return (o && ir_obj_kind(o) == KIND) ? (const ir_##lower##_t *)(const void *)o : NULL;     \
    }                                                                                              \
    const ir_##lower##_t *ir_##lower##_from_krt(const krt_obj_t *o)                                \
    {                                                                                              \
        return ir_##lower##_from_obj(ir_obj_from_krt(o));                                          \
    }

#endif /* IR_INTERNAL_H */
