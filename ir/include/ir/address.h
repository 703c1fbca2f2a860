/*
 * Address: a Workload or a Service of Istio's registry (istio.workload.Address).
 *
 * Sent under its own type URL (IR_TYPE_URL_ADDRESS) to every proxy, so addresses are unscoped
 * (pass gateway NULL). xDS name: the Workload's uid, or "<namespace>/<hostname>" for a Service
 * (ir_name_service); that name is also the inner key. Workload.addresses are raw 4- or 16-byte
 * IPs. Construction fails with IR_EFIELD when neither kind is set, a workload has no uid, or a
 * service lacks its namespace or hostname.
 *
 * Construction: ir_address_new takes a message built as ir/pb.h describes (also on error);
 * ir_address_from_pb borrows one (a message on the stack with borrowed strings is fine). Both
 * return a sealed object (owned by caller; ir_obj_release(ir_address_obj(x))), or NULL with |err|
 * filled: IR_EFIELD when the key is empty (see below for addresses), IR_EINVAL for a malformed
 * |gateway| ("ns/name" or NULL for an unscoped object), IR_EUTF8 for a string that is not UTF-8,
 * IR_ENOMEM. The message read back with ir_address_pb is the canonical tree (ir/ir.h), borrowed
 * from the object.
 */
#ifndef IR_ADDRESS_H
#define IR_ADDRESS_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const krt_type_t ir_address_type;
typedef struct ir_address ir_address_t;

const ir_address_t *ir_address_new(Istio__Workload__Address *msg, const char *gateway,
                                   ir_err_t *err);
const ir_address_t *ir_address_from_pb(const Istio__Workload__Address *msg, const char *gateway,
                                       ir_err_t *err);
/* The canonical message, borrowed from |x|; must not be modified. */
const Istio__Workload__Address *ir_address_pb(const ir_address_t *x);
/* A deep copy (owned by caller, ir_pb_free), or NULL on OOM. */
Istio__Workload__Address *ir_address_to_pb(const ir_address_t *x);
/* Views of the same object. from_obj/from_krt return NULL for an object of another kind. */
const ir_obj_t *ir_address_obj(const ir_address_t *x);
const krt_obj_t *ir_address_krt(const ir_address_t *x);
const ir_address_t *ir_address_from_obj(const ir_obj_t *o);
const ir_address_t *ir_address_from_krt(const krt_obj_t *o);

/* Accessors; borrowed from |a|. */
const char *ir_address_name(const ir_address_t *a);
/* Returns: the workload / service, or NULL when the address is the other kind. */
const Istio__Workload__Workload *ir_address_workload(const ir_address_t *a);
const Istio__Workload__Service *ir_address_service(const ir_address_t *a);

#ifdef __cplusplus
}
#endif
#endif /* IR_ADDRESS_H */
