/*
 * Listener: conversions and accessors. The TLS block is optional: absent for HTTP, TCP and TLS
 * passthrough listeners, present (cert and key PEM, or the "invalid" sentinel) when terminating.
 */
#include "ir/listener.h"
#include "internal.h"

IR__DEFINE_RESOURCE_KIND(listener, IR_KIND_LISTENER, Agentgateway__Dev__Resource__Listener)

const char *ir_listener_key(const ir_listener_t *l)
{
    return ir_listener_pb(l) ? ir_listener_pb(l)->key : 0;
}

const char *ir_listener_bind_key(const ir_listener_t *l)
{
    return ir_listener_pb(l) ? ir_listener_pb(l)->bind_key : 0;
}

const char *ir_listener_hostname(const ir_listener_t *l)
{
    return ir_listener_pb(l) ? ir_listener_pb(l)->hostname : 0;
}

Agentgateway__Dev__Resource__Protocol ir_listener_protocol(const ir_listener_t *l)
{
    return ir_listener_pb(l) ? ir_listener_pb(l)->protocol : 0;
}

const Agentgateway__Dev__Resource__TLSConfig *ir_listener_tls(const ir_listener_t *l)
{
    return ir_listener_pb(l) ? ir_listener_pb(l)->tls : 0;
}
