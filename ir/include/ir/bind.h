/*
 * Bind: one port of one Gateway (agentgateway.dev.resource.Bind).
 *
 * Inner key "<port>/<gwns>/<gw>" (ir_key_bind), xDS name "bind/<key>". agentgateway emits one per
 * (Gateway, port); protocol HTTP for HTTP listeners, TLS for HTTPS and TLS, TCP for TCP.
 *
 * Construction: ir_bind_new takes a message built as ir/pb.h describes (also on error);
 * ir_bind_from_pb borrows one (a message on the stack with borrowed strings is fine). Both return a
 * sealed object (owned by caller; ir_obj_release(ir_bind_obj(x))), or NULL with |err| filled:
 * IR_EFIELD when the key is empty, IR_EINVAL for a malformed |gateway| ("ns/name" or NULL for an
 * unscoped object), IR_EUTF8 for a string that is not UTF-8, IR_ENOMEM.
 * The message read back with ir_bind_pb is the canonical tree (ir/ir.h), borrowed from the object.
 */
#ifndef IR_BIND_H
#define IR_BIND_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const krt_type_t ir_bind_type;
typedef struct ir_bind ir_bind_t;

const ir_bind_t *ir_bind_new(Agentgateway__Dev__Resource__Bind *msg, const char *gateway,
                             ir_err_t *err);
const ir_bind_t *ir_bind_from_pb(const Agentgateway__Dev__Resource__Bind *msg, const char *gateway,
                                 ir_err_t *err);
/* The canonical message, borrowed from |x|; must not be modified. */
const Agentgateway__Dev__Resource__Bind *ir_bind_pb(const ir_bind_t *x);
/* A deep copy (owned by caller, ir_pb_free), or NULL on OOM. */
Agentgateway__Dev__Resource__Bind *ir_bind_to_pb(const ir_bind_t *x);
/* Views of the same object. from_obj/from_krt return NULL for an object of another kind. */
const ir_obj_t *ir_bind_obj(const ir_bind_t *x);
const krt_obj_t *ir_bind_krt(const ir_bind_t *x);
const ir_bind_t *ir_bind_from_obj(const ir_obj_t *o);
const ir_bind_t *ir_bind_from_krt(const krt_obj_t *o);

/* Accessors; strings borrowed from |b|. */
const char *ir_bind_key(const ir_bind_t *b);
uint32_t ir_bind_port(const ir_bind_t *b);
Agentgateway__Dev__Resource__Bind__Protocol ir_bind_protocol(const ir_bind_t *b);

#ifdef __cplusplus
}
#endif
#endif /* IR_BIND_H */
