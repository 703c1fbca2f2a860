/*
 * Backend: a named backend (agentgateway.dev.resource.Backend): static, AI, MCP, dynamic forward
 * proxy, AWS, guardrail, model router.
 *
 * Inner key "<ns>/<name>" or "<ns>/<name>/<target>" (ir_key_backend), xDS name "backend/<key>".
 * A route refers to it by BackendReference.backend = key; a policy targets it by name.
 *
 * Construction: ir_backend_new takes a message built as ir/pb.h describes (also on error);
 * ir_backend_from_pb borrows one (a message on the stack with borrowed strings is fine). Both
 * return a sealed object (owned by caller; ir_obj_release(ir_backend_obj(x))), or NULL with |err|
 * filled: IR_EFIELD when the key is empty, IR_EINVAL for a malformed |gateway| ("ns/name" or NULL
 * for an unscoped object), IR_EUTF8 for a string that is not UTF-8, IR_ENOMEM. The message read
 * back with ir_backend_pb is the canonical tree (ir/ir.h), borrowed from the object.
 */
#ifndef IR_BACKEND_H
#define IR_BACKEND_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const krt_type_t ir_backend_type;
typedef struct ir_backend ir_backend_t;

const ir_backend_t *ir_backend_new(Agentgateway__Dev__Resource__Backend *msg, const char *gateway,
                                   ir_err_t *err);
const ir_backend_t *ir_backend_from_pb(const Agentgateway__Dev__Resource__Backend *msg,
                                       const char *gateway, ir_err_t *err);
/* The canonical message, borrowed from |x|; must not be modified. */
const Agentgateway__Dev__Resource__Backend *ir_backend_pb(const ir_backend_t *x);
/* A deep copy (owned by caller, ir_pb_free), or NULL on OOM. */
Agentgateway__Dev__Resource__Backend *ir_backend_to_pb(const ir_backend_t *x);
/* Views of the same object. from_obj/from_krt return NULL for an object of another kind. */
const ir_obj_t *ir_backend_obj(const ir_backend_t *x);
const krt_obj_t *ir_backend_krt(const ir_backend_t *x);
const ir_backend_t *ir_backend_from_obj(const ir_obj_t *o);
const ir_backend_t *ir_backend_from_krt(const krt_obj_t *o);

/* Accessors; strings borrowed from |b|. */
const char *ir_backend_key(const ir_backend_t *b);
/* Returns: which kind of backend this is (the Backend.kind oneof case; NOT_SET if none). */
Agentgateway__Dev__Resource__Backend__KindCase ir_backend_kind(const ir_backend_t *b);
/* Returns: a short name of that kind ("static", "ai", "mcp", "dynamic", "aws", "guardrail",
 * "model_router", or "none"). */
const char *ir_backend_kind_name(const ir_backend_t *b);

#ifdef __cplusplus
}
#endif
#endif /* IR_BACKEND_H */
