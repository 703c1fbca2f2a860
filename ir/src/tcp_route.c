/*
 * TCPRoute: conversions and accessors (TCPRoute and TLSRoute rules both become this message).
 */
#include "ir/tcp_route.h"
#include "internal.h"

IR__DEFINE_RESOURCE_KIND(tcp_route, IR_KIND_TCP_ROUTE, Agentgateway__Dev__Resource__TCPRoute)

const char *ir_tcp_route_key(const ir_tcp_route_t *r)
{
    return ir_tcp_route_pb(r) ? ir_tcp_route_pb(r)->key : 0;
}

const char *ir_tcp_route_listener_key(const ir_tcp_route_t *r)
{
    return ir_tcp_route_pb(r) ? ir_tcp_route_pb(r)->listener_key : 0;
}
