/*
 * AgentgatewayBackend (agentgateway.dev/v1alpha1) → Backend resources, with status.
 *
 * One object gives one Backend keyed "<ns>/<name>" (agentgateway's key), plus one sub-backend
 * "<ns>/<name>/<target>" per static host MCP target (the MCP target points at it by key, and the
 * target's own policies ride on it). spec.policies become the Backend's inline policies, translated
 * by the same code as an AgentgatewayPolicy's `backend` section (agw_policy.c).
 *
 * Backends are not global: the object is emitted once per Gateway that reaches it (agentgateway
 * ties backends to the Gateways that reach them, agentgateway/agentgateway#1147): Gateways whose
 * Routes send to it (the "route-refs" index on the Route join) and Gateways that carry a Policy
 * sending to it (an extAuth, extProc or rate-limit server, a tunnel, a tracing collector: the
 * "policy-refs" index on the Policy output). Policies never read Backends, so the Policy
 * collection comes first and there is no cycle; the price is one level only: a backend reached
 * through another backend's inline policies is not followed (agentgateway recurses). A backend
 * no one reaches emits nothing but still gets status.
 *
 * Status is one condition, as agentgateway writes it: Accepted=True/Accepted, or
 * Accepted=False/TranslationError naming what is wrong; an invalid object emits nothing.
 * Unsupported fields keep the object accepted, and the message names them.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Which Gateways reach what.
 * ------------------------------------------------------------------------------------------- */
/* Adds the index key of |br| to |keys|: "backend/<ns>/<name>" (a sub-backend "<ns>/<name>/<t>"
 * counts as its object) or, when |services|, "service/<ns>/<hostname>". No allocation here: a
 * key dropped under OOM would leave the index inconsistent. */
static void ref_key(const T_(BackendReference) * br, bool services, krt_keys_t *keys)
{
    char k[768];
    int n = -1;
    if (!br)
        return;
    if (br->kind_case == R_(BACKEND_REFERENCE__KIND_BACKEND) && br->backend) {
        const char *s1 = strchr(br->backend, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        int len = s2 ? (int)(s2 - br->backend) : (int)strlen(br->backend);
        n = snprintf(k, sizeof k, "backend/%.*s", len, br->backend);
    } else if (services && br->kind_case == R_(BACKEND_REFERENCE__KIND_SERVICE) && br->service) {
        n = snprintf(k, sizeof k, "service/%s/%s", br->service->namespace_, br->service->hostname);
    }
    if (n > 0 && (size_t)n < sizeof k)
        krt_keys_add(keys, k);
}

void tr__route_refs_index(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    /* Peek: an index reads every Route, and a decoded tree left behind on each would undo the
     * controller's memory budget (ir.h: Memory). */
    const ir_obj_t *x = ir_obj_from_krt(o);
    ProtobufCMessage *tmp = NULL;
    const T_(Route) *m = x ? (const void *)ir_obj_inner_peek(x, &tmp) : NULL;
    if (x && !m) {
        krt_keys_fail(keys);
        return;
    }
    for (size_t i = 0; m && i < m->n_backends; i++)
        ref_key(m->backends[i]->backend, true, keys);
    ir_pb_free(tmp);
}

void tr__policy_refs_index(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    const ir_obj_t *x = ir_obj_from_krt(o);
    ProtobufCMessage *tmp = NULL;
    const T_(Policy) *p = x ? (const void *)ir_obj_inner_peek(x, &tmp) : NULL;
    if (!p) {
        if (x)
            krt_keys_fail(keys);
        return;
    }
    if (p->kind_case == R_(POLICY__KIND_TRAFFIC) && p->traffic) {
        const T_(TrafficPolicySpec) *t = p->traffic;
        if (t->kind_case == R_(TRAFFIC_POLICY_SPEC__KIND_EXT_AUTHZ) && t->ext_authz)
            ref_key(t->ext_authz->target, false, keys);
        if (t->kind_case == R_(TRAFFIC_POLICY_SPEC__KIND_EXT_PROC) && t->ext_proc)
            ref_key(t->ext_proc->target, false, keys);
        if (t->kind_case == R_(TRAFFIC_POLICY_SPEC__KIND_REMOTE_RATE_LIMIT) && t->remote_rate_limit)
            ref_key(t->remote_rate_limit->target, false, keys);
    } else if (p->kind_case == R_(POLICY__KIND_BACKEND) && p->backend) {
        const T_(BackendPolicySpec) *b = p->backend;
        if (b->kind_case == R_(BACKEND_POLICY_SPEC__KIND_EXT_AUTHZ) && b->ext_authz)
            ref_key(b->ext_authz->target, false, keys);
        if (b->kind_case == R_(BACKEND_POLICY_SPEC__KIND_BACKEND_TUNNEL) && b->backend_tunnel)
            ref_key(b->backend_tunnel->proxy, false, keys);
    } else if (p->kind_case == R_(POLICY__KIND_FRONTEND) && p->frontend) {
        const T_(FrontendPolicySpec) *f = p->frontend;
        if (f->kind_case == R_(FRONTEND_POLICY_SPEC__KIND_TRACING) && f->tracing)
            ref_key(f->tracing->provider_backend, false, keys);
    }
    ir_pb_free(tmp);
}

/* Appends the Gateways of |objs| not yet in |out|. Returns: false on OOM. */
static bool add_gateways(json_t *out, const krt_obj_t *const *objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *gw = ir_obj_gateway(ir_obj_from_krt(objs[i]));
        if (!gw)
            continue;
        bool seen = false;
        size_t j;
        json_t *x;
        json_array_foreach(out, j, x)
        {
            if (strcmp(json_string_value(x), gw) == 0)
                seen = true;
        }
        if (!seen && json_array_append_new(out, tr__jstring(gw)))
            return false;
    }
    return true;
}

json_t *tr__gateways_reaching(krt_ctx_t *ctx, const tr_graph_t *g, const char *key, bool policies)
{
    const krt_obj_t *const *objs;
    json_t *out = json_array();
    if (!out)
        return NULL;
    size_t n = krt_fetch_index(ctx, g->route_refs, key, &objs);
    bool ok = add_gateways(out, objs, n);
    if (ok && policies) {
        n = krt_fetch_index(ctx, g->policy_refs, key, &objs);
        ok = add_gateways(out, objs, n);
    }
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    /* sorted, so the emission order does not depend on which index found a Gateway first */
    size_t len = json_array_size(out);
    for (size_t i = 1; i < len; i++) {
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(out, j - 1), *c = json_array_get(out, j);
            if (strcmp(json_string_value(a), json_string_value(c)) <= 0)
                break;
            json_incref(a);
            json_array_set(out, j - 1, c);
            json_array_set_new(out, j, a);
        }
    }
    return out;
}

uint8_t *tr__object_value(krt_ctx_t *ctx, krt_collection_t *c, const char *ns, const char *name,
                          const char *key, size_t *len, bool *found, bool *oom)
{
    *len = 0;
    *found = false;
    char *k = tr__fmt("%s/%s", ns, name);
    if (!k) {
        *oom = true;
        return NULL;
    }
    const krt_obj_t *o = krt_fetch_key(ctx, c, k);
    krt_free(k);
    if (!o)
        return NULL;
    *found = true;
    json_t *v = krt_json_value(o);
    const char *s = json_string_value(json_object_get(json_object_get(v, "data"), key));
    const char *kind = tr__jstr_or(v, "kind", "Secret");
    if (s && strcmp(kind, "ConfigMap") != 0) {
        bool o2 = false;
        uint8_t *out = tr__b64_decode(s, len, &o2);
        if (o2)
            *oom = true;
        return out;
    }
    if (!s)
        s = json_string_value(json_object_get(json_object_get(v, "stringData"), key));
    if (!s)
        return NULL;
    size_t n = strlen(s);
    uint8_t *out = krt_malloc(n + 1);
    if (!out) {
        *oom = true;
        return NULL;
    }
    memcpy(out, s, n + 1);
    *len = n;
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * The Backend message.
 * ------------------------------------------------------------------------------------------- */
#define OPT_STR(msg, field, CASE, val)         \
    do {                                       \
        const char *v_ = (val);                \
        if (v_) {                              \
            (msg)->_##field##_case = R_(CASE); \
            (msg)->field = tr__pb_str(b, v_);  \
        }                                      \
    } while (0)

static T_(ResourceName) * resource_name(tr__pb_t *b, const char *ns, const char *name)
{
    T_(ResourceName) *r = tr__pb_new(b, &D_(resource_name));
    if (r) {
        r->name = tr__pb_str(b, name);
        r->namespace_ = tr__pb_str(b, ns);
    }
    return r;
}

static T_(Backend) * backend_msg(tr__pb_t *b, const char *ns, const char *name, const char *target)
{
    T_(Backend) *m = tr__pb_new(b, &D_(backend));
    char *key = ir_key_backend(ns, name, target);
    if (!m || !key) {
        b->oom = true;
        krt_free(key);
        return m;
    }
    m->key = tr__pb_str(b, key);
    krt_free(key);
    m->name = resource_name(b, ns, name);
    return m;
}

static T_(StaticBackend) * static_backend(tr__pb_t *b, const char *host, json_int_t port)
{
    T_(StaticBackend) *s = tr__pb_new(b, &D_(static_backend));
    if (s) {
        s->host = tr__pb_str(b, host);
        s->port = port > 0 && port < 65536 ? (int32_t)port : 0;
    }
    return s;
}

/* Moves the specs of |f| into a repeated BackendPolicySpec field. */
static void feats_into(tr__pb_t *b, tr__feats_t *f, T_(BackendPolicySpec) * **arr, size_t *n)
{
    for (size_t i = 0; i < f->n; i++) {
        tr__pb_push(b, (void ***)arr, n, f->v[i].spec, true);
        f->v[i].spec = NULL;
    }
}

static void inline_policies(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, const char *path,
                            json_t *sec, tr__pb_t *b, T_(BackendPolicySpec) * **arr, size_t *n,
                            tr__notes_t *notes)
{
    if (!json_is_object(sec))
        return;
    tr__feats_t f = {0};
    tr__agw_backend_section(ctx, g, ns, path, sec, b, &f, notes);
    feats_into(b, &f, arr, n);
    tr__feats_dispose(&f);
}

/* ---------------------------------------------------------------------------------------------
 * AI.
 * ------------------------------------------------------------------------------------------- */
static T_(AIBackend__Provider) * ai_provider(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns,
                                             const char *path, json_t *p, const char *pname,
                                             tr__pb_t *b, tr__notes_t *notes)
{
    T_(AIBackend__Provider) *x = tr__pb_new(b, &D_(aibackend__provider));
    if (!x)
        return NULL;
    x->name = tr__pb_str(b, pname);
    const char *host = tr__jstr(p, "host");
    if (host && *host) {
        x->host_override = tr__pb_new(b, &D_(aibackend__host_override));
        if (x->host_override) {
            x->host_override->host = tr__pb_str(b, host);
            json_int_t port = tr__jint(p, "port", 0);
            x->host_override->port = port > 0 && port < 65536 ? (int32_t)port : 0;
        }
    }
    OPT_STR(x, path_override, AIBACKEND__PROVIDER___PATH_OVERRIDE_PATH_OVERRIDE,
            tr__jstr(p, "path"));
    OPT_STR(x, path_prefix, AIBACKEND__PROVIDER___PATH_PREFIX_PATH_PREFIX,
            tr__jstr(p, "pathPrefix"));
    json_t *c;
    int kinds = 0;
    if ((c = json_object_get(p, "openai"))) {
        kinds++;
        T_(AIBackend__OpenAI) *o = tr__pb_new(b, &D_(aibackend__open_ai));
        if (o)
            OPT_STR(o, model, AIBACKEND__OPEN_AI___MODEL_MODEL, tr__jstr(c, "model"));
        x->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_OPENAI);
        x->openai = o;
    }
    if ((c = json_object_get(p, "anthropic")) && !kinds++) {
        T_(AIBackend__Anthropic) *o = tr__pb_new(b, &D_(aibackend__anthropic));
        if (o)
            OPT_STR(o, model, AIBACKEND__ANTHROPIC___MODEL_MODEL, tr__jstr(c, "model"));
        x->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_ANTHROPIC);
        x->anthropic = o;
    }
    if ((c = json_object_get(p, "gemini")) && !kinds++) {
        T_(AIBackend__Gemini) *o = tr__pb_new(b, &D_(aibackend__gemini));
        if (o)
            OPT_STR(o, model, AIBACKEND__GEMINI___MODEL_MODEL, tr__jstr(c, "model"));
        x->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_GEMINI);
        x->gemini = o;
    }
    if ((c = json_object_get(p, "vertexai")) && !kinds++) {
        T_(AIBackend__Vertex) *o = tr__pb_new(b, &D_(aibackend__vertex));
        if (o) {
            OPT_STR(o, model, AIBACKEND__VERTEX___MODEL_MODEL, tr__jstr(c, "model"));
            o->project_id = tr__pb_str(b, tr__jstr_or(c, "projectId", ""));
            o->region = tr__pb_str(b, tr__jstr_or(c, "region", "global"));
        }
        x->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_VERTEX);
        x->vertex = o;
    }
    if ((c = json_object_get(p, "bedrock")) && !kinds++) {
        T_(AIBackend__Bedrock) *o = tr__pb_new(b, &D_(aibackend__bedrock));
        if (o) {
            OPT_STR(o, model, AIBACKEND__BEDROCK___MODEL_MODEL, tr__jstr(c, "model"));
            o->region = tr__pb_str(b, tr__jstr_or(c, "region", "us-east-1"));
            OPT_STR(o, guardrail_identifier,
                    AIBACKEND__BEDROCK___GUARDRAIL_IDENTIFIER_GUARDRAIL_IDENTIFIER,
                    tr__jstr(c, "guardrail.identifier"));
            OPT_STR(o, guardrail_version, AIBACKEND__BEDROCK___GUARDRAIL_VERSION_GUARDRAIL_VERSION,
                    tr__jstr(c, "guardrail.version"));
        }
        x->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_BEDROCK);
        x->bedrock = o;
    }
    if ((c = json_object_get(p, "azureopenai")) && !kinds++) {
        T_(AIBackend__AzureOpenAI) *o = tr__pb_new(b, &D_(aibackend__azure_open_ai));
        if (o) {
            const char *ep = tr__jstr_or(c, "endpoint", "");
            const char *sch = strstr(ep, "://"); /* "if the scheme is included, it is stripped" */
            o->host = tr__pb_str(b, sch ? sch + 3 : ep);
            OPT_STR(o, model, AIBACKEND__AZURE_OPEN_AI___MODEL_MODEL,
                    tr__jstr(c, "deploymentName"));
            OPT_STR(o, api_version, AIBACKEND__AZURE_OPEN_AI___API_VERSION_API_VERSION,
                    tr__jstr(c, "apiVersion"));
        }
        x->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_AZUREOPENAI);
        x->azureopenai = o;
    }
    if ((c = json_object_get(p, "azure")) && !kinds++) {
        T_(AIBackend__Azure) *o = tr__pb_new(b, &D_(aibackend__azure));
        if (o) {
            o->resource_name = tr__pb_str(b, tr__jstr_or(c, "resourceName", ""));
            o->resource_type = strcmp(tr__jstr_or(c, "resourceType", "OpenAI"), "Foundry") == 0
                                   ? R_(AIBACKEND__AZURE_RESOURCE_TYPE__FOUNDRY)
                                   : R_(AIBACKEND__AZURE_RESOURCE_TYPE__OPEN_AI);
            OPT_STR(o, model, AIBACKEND__AZURE___MODEL_MODEL, tr__jstr(c, "model"));
            OPT_STR(o, api_version, AIBACKEND__AZURE___API_VERSION_API_VERSION,
                    tr__jstr(c, "apiVersion"));
            OPT_STR(o, project_name, AIBACKEND__AZURE___PROJECT_NAME_PROJECT_NAME,
                    tr__jstr(c, "projectName"));
        }
        x->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_AZURE);
        x->azure = o;
    }
    if ((c = json_object_get(p, "custom")) && !kinds++) {
        static const char *const fmts[] = {"",          "Completions", "Messages",
                                           "Responses", "Embeddings",  "AnthropicTokenCount",
                                           "Realtime"};
        T_(AIBackend__Custom) *o = tr__pb_new(b, &D_(aibackend__custom));
        if (o) {
            OPT_STR(o, model, AIBACKEND__CUSTOM___MODEL_MODEL, tr__jstr(c, "model"));
            size_t i;
            json_t *f;
            json_array_foreach(tr__jarr(c, "formats"), i, f)
            {
                T_(AIBackend__ProviderFormatConfig) *fc =
                    tr__pb_new(b, &D_(aibackend__provider_format_config));
                if (!fc)
                    break;
                const char *t = tr__jstr_or(f, "type", "");
                for (int k = 1; k < 7; k++)
                    if (strcmp(t, fmts[k]) == 0)
                        fc->format = (T_(AIBackend__ProviderFormat))k;
                if (!fc->format)
                    tr__note(notes, true, "%s.custom.formats[%zu].type: unknown format \"%s\"",
                             path, i, t);
                OPT_STR(fc, path, AIBACKEND__PROVIDER_FORMAT_CONFIG___PATH_PATH,
                        tr__jstr(f, "path"));
                tr__pb_push(b, (void ***)&o->formats, &o->n_formats, fc, true);
            }
            json_t *ref = json_object_get(c, "backendRef");
            if (ref)
                x->provider_backend = tr__agw_backend_ref(ctx, g, ns, path, ref, b, notes);
        }
        x->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_CUSTOM);
        x->custom = o;
    }
    if (kinds != 1)
        tr__note(notes, true,
                 "%s: exactly one of openai, azureopenai, azure, anthropic, gemini, vertexai, "
                 "bedrock, custom must be set (found %d)",
                 path, kinds);
    char ppath[160];
    snprintf(ppath, sizeof ppath, "%s.policies", path);
    inline_policies(ctx, g, ns, ppath, json_object_get(p, "policies"), b, &x->inline_policies,
                    &x->n_inline_policies, notes);
    return x;
}

static T_(AIBackend) * ai_backend(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *ai,
                                  tr__pb_t *b, tr__notes_t *notes)
{
    T_(AIBackend) *x = tr__pb_new(b, &D_(aibackend));
    if (!x)
        return NULL;
    json_t *one = json_object_get(ai, "provider");
    json_t *groups = tr__jarr(ai, "groups");
    if ((one != NULL) == (groups != NULL))
        tr__note(notes, true, "spec.ai: exactly one of provider and groups must be set");
    if (one) {
        /* a single provider is one group of one, named "backend" as agentgateway names it */
        T_(AIBackend__ProviderGroup) *pg = tr__pb_new(b, &D_(aibackend__provider_group));
        if (pg) {
            tr__pb_push(b, (void ***)&pg->providers, &pg->n_providers,
                        ai_provider(ctx, g, ns, "spec.ai.provider", one, "backend", b, notes),
                        true);
            tr__pb_push(b, (void ***)&x->provider_groups, &x->n_provider_groups, pg, true);
        }
    }
    size_t i, j;
    json_t *grp, *p;
    json_array_foreach(groups, i, grp)
    {
        T_(AIBackend__ProviderGroup) *pg = tr__pb_new(b, &D_(aibackend__provider_group));
        if (!pg)
            break;
        json_array_foreach(tr__jarr(grp, "providers"), j, p)
        {
            char path[96];
            snprintf(path, sizeof path, "spec.ai.groups[%zu].providers[%zu]", i, j);
            tr__pb_push(b, (void ***)&pg->providers, &pg->n_providers,
                        ai_provider(ctx, g, ns, path, p, tr__jstr_or(p, "name", ""), b, notes),
                        true);
        }
        tr__pb_push(b, (void ***)&x->provider_groups, &x->n_provider_groups, pg, true);
    }
    return x;
}

/* ---------------------------------------------------------------------------------------------
 * MCP.
 * ------------------------------------------------------------------------------------------- */
static T_(MCPTarget__Protocol) mcp_protocol(const char *s)
{
    if (!s)
        return R_(MCPTARGET__PROTOCOL__UNDEFINED);
    if (strcmp(s, "SSE") == 0)
        return R_(MCPTARGET__PROTOCOL__SSE);
    return R_(MCPTARGET__PROTOCOL__STREAMABLE_HTTP);
}

static T_(BackendReference) *
    service_ref(tr__pb_t *b, const tr_graph_t *g, const char *ns, const char *svc, json_int_t port)
{
    T_(BackendReference) *r = tr__pb_new(b, &D_(backend_reference));
    T_(BackendReference__Service) *s = tr__pb_new(b, &D_(backend_reference__service));
    char *host = ir_hostname_service(svc, ns, g->domain);
    if (!r || !s || !host) {
        b->oom = true;
        ir_pb_free((ProtobufCMessage *)r);
        ir_pb_free((ProtobufCMessage *)s);
        krt_free(host);
        return NULL;
    }
    s->namespace_ = tr__pb_str(b, ns);
    s->hostname = tr__pb_str(b, host);
    krt_free(host);
    r->kind_case = R_(BACKEND_REFERENCE__KIND_SERVICE);
    r->service = s;
    r->port = port > 0 && port < 65536 ? (uint32_t)port : 0;
    return r;
}

/* Appends to |subs| the sub-backends MCP static host targets need. */
static T_(MCPBackend) * mcp_backend(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns,
                                    const char *name, json_t *mcp, tr__pb_t *b,
                                    T_(Backend) * **subs, size_t *nsubs, tr__notes_t *notes)
{
    T_(MCPBackend) *x = tr__pb_new(b, &D_(mcpbackend));
    if (!x)
        return NULL;
    x->stateful_mode = strcmp(tr__jstr_or(mcp, "sessionRouting", "Stateful"), "Stateless") == 0
                           ? R_(MCPBACKEND__STATEFUL_MODE__STATELESS)
                           : R_(MCPBACKEND__STATEFUL_MODE__STATEFUL);
    x->failure_mode = strcmp(tr__jstr_or(mcp, "failureMode", "FailClosed"), "FailOpen") == 0
                          ? R_(MCPBACKEND__FAILURE_MODE__FAIL_OPEN)
                          : R_(MCPBACKEND__FAILURE_MODE__FAIL_CLOSED);
    size_t i;
    json_t *t;
    json_array_foreach(tr__jarr(mcp, "targets"), i, t)
    {
        const char *tname = tr__jstr_or(t, "name", "");
        json_t *st = json_object_get(t, "static");
        json_t *sel = json_object_get(t, "selector");
        if ((st != NULL) == (sel != NULL)) {
            tr__note(notes, true,
                     "spec.mcp.targets[%zu]: exactly one of selector and static must be set", i);
            continue;
        }
        if (st) {
            T_(MCPTarget) *mt = tr__pb_new(b, &D_(mcptarget));
            if (!mt)
                break;
            mt->name = tr__pb_str(b, tname);
            mt->path = tr__pb_str(b, tr__jstr_or(st, "path", ""));
            mt->protocol = mcp_protocol(tr__jstr(st, "protocol"));
            json_int_t port = tr__jint(st, "port", 0);
            const char *host = tr__jstr(st, "host");
            const char *svc = tr__jstr(st, "backendRef.name");
            if ((host != NULL) == (svc != NULL))
                tr__note(notes, true,
                         "spec.mcp.targets[%zu].static: exactly one of host and backendRef must "
                         "be set",
                         i);
            if (svc) {
                mt->backend = service_ref(b, g, ns, svc, port);
            } else if (host) {
                /* a sub-backend "<ns>/<name>/<target>" holds the address and the target's
                 * policies; the target refers to it by key */
                T_(Backend) *sb = backend_msg(b, ns, name, tname);
                if (sb) {
                    sb->kind_case = R_(BACKEND__KIND_STATIC);
                    sb->static_ = static_backend(b, host, port);
                    char path[96];
                    snprintf(path, sizeof path, "spec.mcp.targets[%zu].static.policies", i);
                    inline_policies(ctx, g, ns, path, json_object_get(st, "policies"), b,
                                    &sb->inline_policies, &sb->n_inline_policies, notes);
                    T_(BackendReference) *r = tr__pb_new(b, &D_(backend_reference));
                    if (r) {
                        r->kind_case = R_(BACKEND_REFERENCE__KIND_BACKEND);
                        r->backend = tr__pb_str(b, sb->key);
                    }
                    mt->backend = r;
                    tr__pb_push(b, (void ***)subs, nsubs, sb, true);
                }
            }
            tr__pb_push(b, (void ***)&x->targets, &x->n_targets, mt, true);
            continue;
        }
        /* selector: Services whose labels match, in the backend's namespace or, with
         * `namespaces`, in every Namespace that selector picks; one target per Service (its
         * first port), named after the Service ("<ns>/<svc>" outside the backend's namespace) */
        json_t *ssel = json_object_get(sel, "services");
        json_t *nssel = json_object_get(sel, "namespaces");
        const krt_obj_t *const *nsobjs = NULL;
        size_t nns = 1;
        krt_label_t want[16];
        size_t nwant = 0;
        if (nssel) {
            /* the Namespaces carrying matchLabels (an indexed fetch), then the whole selector */
            const char *lk;
            json_t *lv;
            json_object_foreach(json_object_get(nssel, "matchLabels"), lk, lv)
            {
                if (nwant < 16 && json_is_string(lv))
                    want[nwant++] = (krt_label_t){lk, json_string_value(lv)};
            }
            krt_labels_t wl = {want, nwant};
            nns = krt_fetch_labels(ctx, g->in.namespaces, &wl, &nsobjs);
        }
        for (size_t q = 0; q < nns; q++) {
            const char *sns = ns;
            if (nssel) {
                sns = krt_json_name(nsobjs[q]);
                if (!tr__selector_matches(nssel,
                                          tr__jpath(krt_json_value(nsobjs[q]), "metadata.labels"),
                                          "kubernetes.io/metadata.name", sns))
                    continue;
            }
            const krt_obj_t *const *svcs;
            size_t n = krt_fetch_index(ctx, g->services_by_ns, sns, &svcs);
            for (size_t k = 0; k < n; k++) {
                json_t *sv = krt_json_value(svcs[k]);
                if (!tr__selector_matches(ssel, tr__jpath(sv, "metadata.labels"), NULL, NULL))
                    continue;
                json_t *port0 = json_array_get(tr__jarr(sv, "spec.ports"), 0);
                T_(MCPTarget) *mt = tr__pb_new(b, &D_(mcptarget));
                if (!mt)
                    break;
                const char *sname = krt_json_name(svcs[k]);
                if (strcmp(sns, ns) == 0) {
                    mt->name = tr__pb_str(b, sname);
                } else {
                    char *tn = tr__fmt("%s/%s", sns, sname);
                    if (!tn)
                        b->oom = true;
                    mt->name = tr__pb_str(b, tn ? tn : "");
                    krt_free(tn);
                }
                mt->path = tr__pb_str(b, "");
                const char *ap = tr__jstr_or(port0, "appProtocol", "");
                mt->protocol = strstr(ap, "sse") ? R_(MCPTARGET__PROTOCOL__SSE)
                                                 : R_(MCPTARGET__PROTOCOL__STREAMABLE_HTTP);
                mt->backend = service_ref(b, g, sns, sname, tr__jint(port0, "port", 0));
                tr__pb_push(b, (void ***)&x->targets, &x->n_targets, mt, true);
            }
        }
    }
    return x;
}

/* ---------------------------------------------------------------------------------------------
 * The transformation.
 * ------------------------------------------------------------------------------------------- */
static json_t *backend_status(const krt_obj_t *in, tr__notes_t *notes)
{
    json_t *conds = json_array();
    char msg[1024] = "Backend accepted";
    bool ok = json_array_size(notes->invalid) == 0;
    json_t *list = ok ? notes->unsupported : notes->invalid;
    if (json_array_size(list)) {
        size_t off =
            (size_t)snprintf(msg, sizeof msg, "%s", ok ? "Backend accepted; unsupported: " : "");
        size_t i;
        json_t *m;
        json_array_foreach(list, i, m)
        {
            if (off < sizeof msg)
                off += (size_t)snprintf(msg + off, sizeof msg - off, "%s%s", i ? "; " : "",
                                        json_string_value(m));
        }
    }
    if (!conds ||
        !tr__cond_add(conds, tr__cond("Accepted", ok, ok ? "Accepted" : "TranslationError", msg))) {
        json_decref(conds);
        return NULL;
    }
    json_t *fin = tr__conds_final(conds, tr__generation(in));
    json_decref(conds);
    return fin ? json_pack("{s:o}", "conditions", fin) : NULL;
}

int tr__agw_backend_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *spec = tr__jpath(krt_json_value(in), "spec");
    const char *ns = krt_json_namespace(in), *name = krt_json_name(in);
    if (!ns || !*ns)
        ns = "default";
    tr__notes_t notes = {json_array(), json_array(), false};
    tr__pb_t b = {0};
    T_(Backend) *m = backend_msg(&b, ns, name, NULL);
    T_(Backend) **subs = NULL;
    size_t nsubs = 0;
    int rc = KRT_OK;
    if (!notes.invalid || !notes.unsupported || !m) {
        rc = KRT_ENOMEM;
        goto done;
    }
    static const char *const kinds[] = {"static", "a2a", "ai", "mcp", "dynamicForwardProxy", "aws"};
    int nk = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        nk += json_object_get(spec, kinds[i]) != NULL;
    if (nk != 1)
        tr__note(&notes, true,
                 "spec: exactly one of static, a2a, ai, mcp, dynamicForwardProxy, aws must be set "
                 "(found %d)",
                 nk);
    json_t *k;
    if ((k = json_object_get(spec, "static"))) {
        m->kind_case = R_(BACKEND__KIND_STATIC);
        const char *unix_path = tr__jstr(k, "unixPath");
        if (unix_path) {
            m->static_ = static_backend(&b, "", 0);
            if (m->static_)
                m->static_->unix_path = tr__pb_str(&b, unix_path);
        } else {
            if (!tr__jstr(k, "host") || tr__jint(k, "port", 0) <= 0)
                tr__note(&notes, true, "spec.static: must set either unixPath or host and port");
            m->static_ = static_backend(&b, tr__jstr_or(k, "host", ""), tr__jint(k, "port", 0));
        }
    } else if ((k = json_object_get(spec, "a2a"))) {
        /* an A2A agent is a static address plus the a2a backend policy */
        m->kind_case = R_(BACKEND__KIND_STATIC);
        m->static_ = static_backend(&b, tr__jstr_or(k, "host", ""), tr__jint(k, "port", 0));
        T_(BackendPolicySpec) *p = tr__pb_new(&b, &D_(backend_policy_spec));
        if (p) {
            p->kind_case = R_(BACKEND_POLICY_SPEC__KIND_A2A);
            p->a2a = tr__pb_new(&b, &D_(backend_policy_spec__a2a));
            tr__pb_push(&b, (void ***)&m->inline_policies, &m->n_inline_policies, p, true);
        }
    } else if ((k = json_object_get(spec, "ai"))) {
        m->kind_case = R_(BACKEND__KIND_AI);
        m->ai = ai_backend(ctx, g, ns, k, &b, &notes);
    } else if ((k = json_object_get(spec, "mcp"))) {
        m->kind_case = R_(BACKEND__KIND_MCP);
        m->mcp = mcp_backend(ctx, g, ns, name, k, &b, &subs, &nsubs, &notes);
    } else if ((k = json_object_get(spec, "dynamicForwardProxy"))) {
        m->kind_case = R_(BACKEND__KIND_DYNAMIC);
        m->dynamic = tr__pb_new(&b, &D_(dynamic_forward_proxy));
    } else if ((k = json_object_get(spec, "aws"))) {
        m->kind_case = R_(BACKEND__KIND_AWS);
        m->aws = tr__pb_new(&b, &D_(aws_backend));
        json_t *ac = json_object_get(k, "agentCore");
        if (!ac)
            tr__note(&notes, true, "spec.aws: agentCore must be set");
        if (m->aws && ac) {
            T_(AwsAgentCoreBackend) *a = tr__pb_new(&b, &D_(aws_agent_core_backend));
            if (a) {
                a->agent_runtime_arn = tr__pb_str(&b, tr__jstr_or(ac, "agentRuntimeArn", ""));
                if (tr__jstr(ac, "qualifier")) {
                    a->_qualifier_case = R_(AWS_AGENT_CORE_BACKEND___QUALIFIER_QUALIFIER);
                    a->qualifier = tr__pb_str(&b, tr__jstr(ac, "qualifier"));
                }
            }
            m->aws->service_case = R_(AWS_BACKEND__SERVICE_AGENT_CORE);
            m->aws->agent_core = a;
        }
    }
    json_t *pol = json_object_get(spec, "policies");
    if (json_object_get(pol, "ai") && !json_object_get(spec, "ai"))
        tr__note(&notes, true, "spec.policies.ai: AI policies require an AI backend");
    if (json_object_get(pol, "mcp") && !json_object_get(spec, "mcp"))
        tr__note(&notes, true, "spec.policies.mcp: MCP policies require an MCP backend");
    inline_policies(ctx, g, ns, "spec.policies", pol, &b, &m->inline_policies,
                    &m->n_inline_policies, &notes);
    if (b.oom || notes.oom) {
        rc = KRT_ENOMEM;
        goto done;
    }

    if (json_array_size(notes.invalid) == 0) {
        char *rkey = tr__fmt("backend/%s/%s", ns, name);
        json_t *gws = rkey ? tr__gateways_reaching(ctx, g, rkey, true) : NULL;
        krt_free(rkey);
        if (!gws) {
            rc = KRT_ENOMEM;
            goto done;
        }
        size_t i;
        json_t *gw;
        json_array_foreach(gws, i, gw)
        {
            for (size_t s = 0; s <= nsubs && rc == KRT_OK; s++) {
                ir_err_t err = {0};
                const ir_backend_t *x =
                    ir_backend_from_pb(s == 0 ? m : subs[s - 1], json_string_value(gw), &err);
                rc = tr__emit_ir(ctx, x ? ir_backend_obj(x) : NULL, &err);
            }
        }
        json_decref(gws);
        if (rc)
            goto done;
    }
    json_t *st = backend_status(in, &notes);
    const krt_obj_t *so = st ? tr__rec_new(krt_obj_key(in), st) : NULL;
    rc = so ? krt_ctx_set_status(ctx, so) : KRT_ENOMEM;
done:
    for (size_t s = 0; s < nsubs; s++)
        ir_pb_free((ProtobufCMessage *)subs[s]);
    krt_free(subs);
    ir_pb_free((ProtobufCMessage *)m);
    json_decref(notes.invalid);
    json_decref(notes.unsupported);
    return rc;
}
