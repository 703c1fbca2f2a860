/*
 * Backend: conversions and accessors. The kind oneof says which data plane feature serves it; our
 * proxy serves static and dynamic forward proxy backends and reports the others (issue 7).
 */
#include "ir/backend.h"
#include "internal.h"

IR__DEFINE_RESOURCE_KIND(backend, IR_KIND_BACKEND, Agentgateway__Dev__Resource__Backend)

const char *ir_backend_key(const ir_backend_t *b)
{
    return ir_backend_pb(b) ? ir_backend_pb(b)->key : 0;
}

Agentgateway__Dev__Resource__Backend__KindCase ir_backend_kind(const ir_backend_t *b)
{
    return ir_backend_pb(b) ? ir_backend_pb(b)->kind_case : 0;
}

const char *ir_backend_kind_name(const ir_backend_t *b)
{
    switch (ir_backend_kind(b)) {
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_STATIC:
        return "static";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_AI:
        return "ai";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_MCP:
        return "mcp";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_DYNAMIC:
        return "dynamic";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_AWS:
        return "aws";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_GUARDRAIL:
        return "guardrail";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_MODEL_ROUTER:
        return "model_router";
    default:
        return "none";
    }
}
