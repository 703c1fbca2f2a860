/*
 * Route: conversions and accessors. A route names its listener by key (or, for a delegated child,
 * its route group); those references are resolved by the proxy, not checked here, because a route
 * may legitimately arrive before its listener.
 */
#include "ir/route.h"
#include "internal.h"

IR__DEFINE_RESOURCE_KIND(route, IR_KIND_ROUTE, Agentgateway__Dev__Resource__Route)

const char *ir_route_key(const ir_route_t *r)
{
    return ir_route_pb(r) ? ir_route_pb(r)->key : 0;
}

const char *ir_route_listener_key(const ir_route_t *r)
{
    return ir_route_pb(r) ? ir_route_pb(r)->listener_key : 0;
}

const char *ir_route_group_key(const ir_route_t *r)
{
    const Agentgateway__Dev__Resource__Route *m = ir_route_pb(r);
    return m->_route_group_key_case ==
                   AGENTGATEWAY__DEV__RESOURCE__ROUTE___ROUTE_GROUP_KEY_ROUTE_GROUP_KEY
               ? m->route_group_key
               : NULL;
}
