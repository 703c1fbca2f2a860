/*
 * Policy: conversions and accessors, including the PolicyTarget the proxy matches by name.
 */
#include "ir/policy.h"
#include "internal.h"

IR__DEFINE_RESOURCE_KIND(policy, IR_KIND_POLICY, Agentgateway__Dev__Resource__Policy)

const char *ir_policy_key(const ir_policy_t *p)
{
    return ir_policy_pb(p) ? ir_policy_pb(p)->key : 0;
}

const Agentgateway__Dev__Resource__PolicyTarget *ir_policy_target(const ir_policy_t *p)
{
    return ir_policy_pb(p) ? ir_policy_pb(p)->target : 0;
}

Agentgateway__Dev__Resource__PolicyTarget__KindCase ir_policy_target_kind(const ir_policy_t *p)
{
    const Agentgateway__Dev__Resource__PolicyTarget *t = ir_policy_target(p);
    return t ? t->kind_case : AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND__NOT_SET;
}

Agentgateway__Dev__Resource__Policy__KindCase ir_policy_kind(const ir_policy_t *p)
{
    return ir_policy_pb(p) ? ir_policy_pb(p)->kind_case : 0;
}
