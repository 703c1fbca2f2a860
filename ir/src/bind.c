/*
 * Bind: conversions (shared macro, internal.h) and accessors. A Bind carries no references, so
 * beyond a non-empty key nothing is checked here: port and protocol are the translator's business.
 */
#include "ir/bind.h"
#include "internal.h"

IR__DEFINE_RESOURCE_KIND(bind, IR_KIND_BIND, Agentgateway__Dev__Resource__Bind)

const char *ir_bind_key(const ir_bind_t *b)
{
    return ir_bind_pb(b) ? ir_bind_pb(b)->key : 0;
}

uint32_t ir_bind_port(const ir_bind_t *b)
{
    return ir_bind_pb(b) ? ir_bind_pb(b)->port : 0;
}

Agentgateway__Dev__Resource__Bind__Protocol ir_bind_protocol(const ir_bind_t *b)
{
    return ir_bind_pb(b) ? ir_bind_pb(b)->protocol : 0;
}
