/*
 * Route: one HTTPRoute/GRPCRoute rule bound to one listener (agentgateway.dev.resource.Route).
 *
 * Inner key e.g. "default/r.00.http" (ir_key_route_*), xDS name "route/<key>". Matches, filters
 * (as TrafficPolicySpec entries), and weighted backends (RouteBackend) travel inside. An
 * unresolvable backend still yields a route (with a partial RouteBackend) so the proxy answers 500.
 *
 * Construction: ir_route_new takes a message built as ir/pb.h describes (also on error);
 * ir_route_from_pb borrows one (a message on the stack with borrowed strings is fine). Both return
 * a sealed object (owned by caller; ir_obj_release(ir_route_obj(x))), or NULL with |err| filled:
 * IR_EFIELD when the key is empty, IR_EINVAL for a malformed |gateway| ("ns/name" or NULL for an
 * unscoped object), IR_EUTF8 for a string that is not UTF-8, IR_ENOMEM.
 * The message read back with ir_route_pb is the canonical tree (ir/ir.h), borrowed from the object.
 */
#ifndef IR_ROUTE_H
#define IR_ROUTE_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const krt_type_t ir_route_type;
typedef struct ir_route ir_route_t;

const ir_route_t *ir_route_new(Agentgateway__Dev__Resource__Route *msg, const char *gateway,
                               ir_err_t *err);
const ir_route_t *ir_route_from_pb(const Agentgateway__Dev__Resource__Route *msg,
                                   const char *gateway, ir_err_t *err);
/* The canonical message, borrowed from |x|; must not be modified. */
const Agentgateway__Dev__Resource__Route *ir_route_pb(const ir_route_t *x);
/* A deep copy (owned by caller, ir_pb_free), or NULL on OOM. */
Agentgateway__Dev__Resource__Route *ir_route_to_pb(const ir_route_t *x);
/* Views of the same object. from_obj/from_krt return NULL for an object of another kind. */
const ir_obj_t *ir_route_obj(const ir_route_t *x);
const krt_obj_t *ir_route_krt(const ir_route_t *x);
const ir_route_t *ir_route_from_obj(const ir_obj_t *o);
const ir_route_t *ir_route_from_krt(const krt_obj_t *o);

/* Accessors; strings borrowed from |r|; never NULL (empty when unset). */
const char *ir_route_key(const ir_route_t *r);
const char *ir_route_listener_key(const ir_route_t *r);
/* Returns: the route-group key, or NULL when the route is not a delegated child. */
const char *ir_route_group_key(const ir_route_t *r);

#ifdef __cplusplus
}
#endif
#endif /* IR_ROUTE_H */
