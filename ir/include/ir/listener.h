/*
 * Listener: one Gateway listener (agentgateway.dev.resource.Listener, with TLSConfig).
 *
 * Inner key "<ns>/<gateway>.<listener>" (ir_key_listener), xDS name "listener/<key>"; bind_key
 * names its Bind. PolicyTarget.gateway matches the ListenerName (name field), not the key.
 *
 * Construction: ir_listener_new takes a message built as ir/pb.h describes (also on error);
 * ir_listener_from_pb borrows one (a message on the stack with borrowed strings is fine). Both
 * return a sealed object (owned by caller; ir_obj_release(ir_listener_obj(x))), or NULL with |err|
 * filled: IR_EFIELD when the key is empty, IR_EINVAL for a malformed |gateway| ("ns/name" or NULL
 * for an unscoped object), IR_EUTF8 for a string that is not UTF-8, IR_ENOMEM. The message read
 * back with ir_listener_pb is the canonical tree (ir/ir.h), borrowed from the object.
 */
#ifndef IR_LISTENER_H
#define IR_LISTENER_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const krt_type_t ir_listener_type;
typedef struct ir_listener ir_listener_t;

const ir_listener_t *ir_listener_new(Agentgateway__Dev__Resource__Listener *msg,
                                     const char *gateway, ir_err_t *err);
const ir_listener_t *ir_listener_from_pb(const Agentgateway__Dev__Resource__Listener *msg,
                                         const char *gateway, ir_err_t *err);
/* The canonical message, borrowed from |x|; must not be modified. */
const Agentgateway__Dev__Resource__Listener *ir_listener_pb(const ir_listener_t *x);
/* A deep copy (owned by caller, ir_pb_free), or NULL on OOM. */
Agentgateway__Dev__Resource__Listener *ir_listener_to_pb(const ir_listener_t *x);
/* Views of the same object. from_obj/from_krt return NULL for an object of another kind. */
const ir_obj_t *ir_listener_obj(const ir_listener_t *x);
const krt_obj_t *ir_listener_krt(const ir_listener_t *x);
const ir_listener_t *ir_listener_from_obj(const ir_obj_t *o);
const ir_listener_t *ir_listener_from_krt(const krt_obj_t *o);

/* Accessors; strings borrowed from |l|; never NULL (empty when unset). */
const char *ir_listener_key(const ir_listener_t *l);
const char *ir_listener_bind_key(const ir_listener_t *l);
const char *ir_listener_hostname(const ir_listener_t *l);
Agentgateway__Dev__Resource__Protocol ir_listener_protocol(const ir_listener_t *l);
/* Returns: the TLS settings, or NULL when the listener has none (HTTP, TCP, TLS passthrough). */
const Agentgateway__Dev__Resource__TLSConfig *ir_listener_tls(const ir_listener_t *l);

#ifdef __cplusplus
}
#endif
#endif /* IR_LISTENER_H */
