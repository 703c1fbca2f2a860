/*
 * Address: conversions and accessors. The wrapper is the message itself (istio.workload.Address),
 * so ir_address_pb returns the Address with its workload/service oneof.
 */
#include "ir/address.h"
#include "internal.h"

IR__DEFINE_RESOURCE_KIND(address, IR_KIND_ADDRESS, Istio__Workload__Address)

const char *ir_address_name(const ir_address_t *a)
{
    return ir_obj_name(ir_address_obj(a));
}

const Istio__Workload__Workload *ir_address_workload(const ir_address_t *a)
{
    const Istio__Workload__Address *m = ir_address_pb(a);
    return m->type_case == ISTIO__WORKLOAD__ADDRESS__TYPE_WORKLOAD ? m->workload : NULL;
}

const Istio__Workload__Service *ir_address_service(const ir_address_t *a)
{
    const Istio__Workload__Address *m = ir_address_pb(a);
    return m->type_case == ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE ? m->service : NULL;
}
