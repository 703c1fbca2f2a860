/*
 * Policy: one policy feature attached to one target (agentgateway.dev.resource.Policy +
 * PolicyTarget).
 *
 * Inner key e.g. "traffic/default/p:timeout:default/gw" (ir_key_policy), xDS name "policy/<key>".
 * Policies are sent unflattened; the proxy merges them at request time. The target matches
 * resources by their *names* (ListenerName, RouteName, Backend name, Service hostname).
 *
 * Construction: ir_policy_new takes a message built as ir/pb.h describes (also on error);
 * ir_policy_from_pb borrows one (a message on the stack with borrowed strings is fine). Both return
 * a sealed object (owned by caller; ir_obj_release(ir_policy_obj(x))), or NULL with |err| filled:
 * IR_EFIELD when the key is empty, IR_EINVAL for a malformed |gateway| ("ns/name" or NULL for an
 * unscoped object), IR_EUTF8 for a string that is not UTF-8, IR_ENOMEM.
 * The message read back with ir_policy_pb is the canonical tree (ir/ir.h), borrowed from the
 * object.
 */
#ifndef IR_POLICY_H
#define IR_POLICY_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const krt_type_t ir_policy_type;
typedef struct ir_policy ir_policy_t;

const ir_policy_t *ir_policy_new(Agentgateway__Dev__Resource__Policy *msg, const char *gateway,
                                 ir_err_t *err);
const ir_policy_t *ir_policy_from_pb(const Agentgateway__Dev__Resource__Policy *msg,
                                     const char *gateway, ir_err_t *err);
/* The canonical message, borrowed from |x|; must not be modified. */
const Agentgateway__Dev__Resource__Policy *ir_policy_pb(const ir_policy_t *x);
/* A deep copy (owned by caller, ir_pb_free), or NULL on OOM. */
Agentgateway__Dev__Resource__Policy *ir_policy_to_pb(const ir_policy_t *x);
/* Views of the same object. from_obj/from_krt return NULL for an object of another kind. */
const ir_obj_t *ir_policy_obj(const ir_policy_t *x);
const krt_obj_t *ir_policy_krt(const ir_policy_t *x);
const ir_policy_t *ir_policy_from_obj(const ir_obj_t *o);
const ir_policy_t *ir_policy_from_krt(const krt_obj_t *o);

/* Accessors; borrowed from |p|. */
const char *ir_policy_key(const ir_policy_t *p);
/* Returns: the target, or NULL when the policy has none. */
const Agentgateway__Dev__Resource__PolicyTarget *ir_policy_target(const ir_policy_t *p);
/* Returns: the target's kind (gateway, route, backend, service, listener_set), NOT_SET if none. */
Agentgateway__Dev__Resource__PolicyTarget__KindCase ir_policy_target_kind(const ir_policy_t *p);
/* Returns: the spec's kind (traffic, backend, frontend, conditional), NOT_SET if none. */
Agentgateway__Dev__Resource__Policy__KindCase ir_policy_kind(const ir_policy_t *p);

#ifdef __cplusplus
}
#endif
#endif /* IR_POLICY_H */
