/*
 * TCPRoute: one TCPRoute/TLSRoute rule bound to one listener (agentgateway.dev.resource.TCPRoute).
 *
 * Inner key "<created %010lld>/<ns>/<name>.<rule>[.tls].<listener>" (ir_key_route_*), xDS name
 * "tcp_route/<key>": the creation-time prefix gives Gateway API's oldest-wins order.
 *
 * Construction: ir_tcp_route_new takes a message built as ir/pb.h describes (also on error);
 * ir_tcp_route_from_pb borrows one (a message on the stack with borrowed strings is fine). Both
 * return a sealed object (owned by caller; ir_obj_release(ir_tcp_route_obj(x))), or NULL with |err|
 * filled: IR_EFIELD when the key is empty, IR_EINVAL for a malformed |gateway| ("ns/name" or NULL
 * for an unscoped object), IR_EUTF8 for a string that is not UTF-8, IR_ENOMEM. The message read
 * back with ir_tcp_route_pb is the canonical tree (ir/ir.h), borrowed from the object.
 */
#ifndef IR_TCP_ROUTE_H
#define IR_TCP_ROUTE_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const krt_type_t ir_tcp_route_type;
typedef struct ir_tcp_route ir_tcp_route_t;

const ir_tcp_route_t *ir_tcp_route_new(Agentgateway__Dev__Resource__TCPRoute *msg,
                                       const char *gateway, ir_err_t *err);
const ir_tcp_route_t *ir_tcp_route_from_pb(const Agentgateway__Dev__Resource__TCPRoute *msg,
                                           const char *gateway, ir_err_t *err);
/* The canonical message, borrowed from |x|; must not be modified. */
const Agentgateway__Dev__Resource__TCPRoute *ir_tcp_route_pb(const ir_tcp_route_t *x);
/* A deep copy (owned by caller, ir_pb_free), or NULL on OOM. */
Agentgateway__Dev__Resource__TCPRoute *ir_tcp_route_to_pb(const ir_tcp_route_t *x);
/* Views of the same object. from_obj/from_krt return NULL for an object of another kind. */
const ir_obj_t *ir_tcp_route_obj(const ir_tcp_route_t *x);
const krt_obj_t *ir_tcp_route_krt(const ir_tcp_route_t *x);
const ir_tcp_route_t *ir_tcp_route_from_obj(const ir_obj_t *o);
const ir_tcp_route_t *ir_tcp_route_from_krt(const krt_obj_t *o);

/* Accessors; strings borrowed from |r|; never NULL (empty when unset). */
const char *ir_tcp_route_key(const ir_tcp_route_t *r);
const char *ir_tcp_route_listener_key(const ir_tcp_route_t *r);

#ifdef __cplusplus
}
#endif
#endif /* IR_TCP_ROUTE_H */
