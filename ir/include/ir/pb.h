/*
 * Protobuf helpers shared by the IR, the xDS code and the proxy: one allocator, safe decoding,
 * canonical form, deep copies, and proto3 JSON.
 *
 * The allocator. Every protobuf-c tree that ir code decodes, copies or frees uses ir_pb_allocator,
 * which goes through krt_malloc/krt_free (so krt's allocation hooks count and fail it). A tree
 * handed to a function that *takes* it must have been built the same way: every string, bytes
 * buffer, array and sub-message from ir_pb_alloc/ir_pb_strdup/ir_pb_memdup (or krt_malloc), and
 * unset strings left at protobuf_c_empty_string (the generated __INIT macros do that).
 *
 * Canonical form (what ir_pb_decode and every IR object hold): map entries sorted by key (bytewise)
 * with one entry per key (the last one on the wire wins, as protobuf specifies); everything else as
 * decoded. Encoding a canonical tree gives canonical bytes, and decoding canonical bytes gives the
 * same tree back, so equal content always has equal bytes.
 *
 * Untrusted input. ir_pb_decode checks, before protobuf-c sees the bytes, that messages nest at
 * most IR_PB_MAX_DEPTH deep (protobuf-c recurses without a limit) and that every string field is
 * UTF-8 without NUL bytes (a proto3 rule peers enforce: agentgateway's proxy rejects the whole
 * response otherwise, and a NUL would silently truncate a C string).
 *
 * Note for users of the generated headers: protoc-c 1.4.1's __INIT macros for a message with an
 * optional bytes field trip -Wmissing-braces; krtgate_ir passes -Wno-missing-braces to its users.
 */
#ifndef IR_PB_H
#define IR_PB_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

extern ProtobufCAllocator ir_pb_allocator;

/* Zeroed memory from krt_malloc, or NULL on OOM. */
void *ir_pb_alloc(size_t size);
/* Copies of |s| / |p| (krt_malloc), or NULL on OOM (ir_pb_strdup(NULL) returns NULL). */
char *ir_pb_strdup(const char *s);
void *ir_pb_memdup(const void *p, size_t len);
/* Frees a tree allocated as described above. Takes m. NULL is a no-op. */
void ir_pb_free(ProtobufCMessage *m);

/* Encodes |m|. Borrows m. Returns: IR_OK with |*out| (krt_malloc, owned by caller; NULL when
 * |*len| is 0) and |*len|, or IR_ENOMEM. */
int ir_pb_encode(const ProtobufCMessage *m, uint8_t **out, size_t *len);

/* Decodes |len| bytes as a |desc| message into a canonical tree (see the file comment).
 * Borrows all. Returns: IR_OK with |*out| (owned by caller, ir_pb_free), or IR_EDECODE,
 * IR_EDEPTH, IR_EUTF8, IR_ENOMEM with |*out| NULL and |err| filled (field path included). */
int ir_pb_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                 ProtobufCMessage **out, ir_err_t *err);

/* Puts a tree allocated with ir_pb_allocator into canonical form in place.
 * Returns: true if anything moved or was dropped. */
bool ir_pb_canonicalize(ProtobufCMessage *m);

/* A deep copy of |m| in canonical form (encode + decode). Borrows m. Returns: the copy (owned by
 * caller, ir_pb_free), or NULL with |err| filled. */
ProtobufCMessage *ir_pb_copy(const ProtobufCMessage *m, ir_err_t *err);

/* Flags for ir_pb_to_json. */
#define IR_PB_JSON_REDACT 0x1u /* replace secrets (TLS keys, API keys, passwords) by a marker */

/* Renders |m| in protobuf's proto3 JSON mapping: lowerCamelCase names, fields at their default
 * value left out (fields with presence shown when set), enums by name, 64-bit integers and bytes
 * (base64) as strings, Duration as "1.5s", Struct/Value/ListValue as plain JSON, wrappers as their
 * value, Any as {"@type", "value" (base64)}. Map keys become object keys. With
 * IR_PB_JSON_REDACT, secret fields read "<redacted N bytes>".
 * Borrows m. Returns: the JSON (owned by caller), or NULL on OOM. */
json_t *ir_pb_to_json(const ProtobufCMessage *m, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif /* IR_PB_H */
