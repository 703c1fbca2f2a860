/*
 * AgentgatewayPolicy (agentgateway.dev/v1alpha1) → Policy resources, with PolicyStatus.
 *
 * As agentgateway does it, the spec is translated once into a list of features, one spec message
 * each (traffic `timeout`, `jwt`, ...; backend `backend-tls`, ...; frontend `frontend-http`, ...),
 * with base keys "<section>/<ns>/<name>:<feature>". Each feature is then sent once per target,
 * unflattened: the key gains ":<attachment>" (ns/name, ns/name/<section>, ns/name/port=<n>), the
 * PolicyTarget names the target, and the copy is emitted once per Gateway the target reaches.
 * Merging and precedence are the proxy's job (agentgateway#629): the controller never merges.
 *
 * Targets: targetRefs, or targetSelectors (matchLabels over objects of that kind in the policy's
 * namespace). Gateway (sectionName = listener, or a number = port), HTTPRoute/GRPCRoute
 * (sectionName = rule name), Service (sectionName = port), AgentgatewayBackend (sectionName =
 * sub-backend). The Gateways a target reaches: a Gateway of ours is itself; a route reaches the
 * Gateways its binding accepted it on; a Service or an AgentgatewayBackend the Gateways whose
 * Routes send to it (the route-refs index); a ListenerSet (sectionName = listener) the Gateway
 * that admits it. InferencePool targets are reported as unsupported in status. The CRD's
 * target-kind rules (frontend only on a Gateway without sectionName; traffic not on Service /
 * AgentgatewayBackend; PreRouting only on a Gateway) are checked again here, because manifests from
 * files never met the API server's CEL rules.
 *
 * Status (PolicyStatus): one ancestor per Gateway reached with Accepted (Valid, PartiallyValid
 * when a field is not supported — the message names it —, Invalid) and Attached (Attached, or
 * Pending with why). A target that reaches no Gateway, or cannot be used, is reported on an
 * ancestor naming the target itself. Fields we cannot translate are never dropped silently.
 *
 * Failing closed: an authentication policy whose credentials do not resolve (a missing Secret,
 * a JWKS that is not JSON) is still sent, with no credentials, so it rejects everything instead
 * of letting traffic through; its status says Invalid.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Small helpers.
 * ------------------------------------------------------------------------------------------- */
void tr__feats_dispose(tr__feats_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        krt_free(f->v[i].feature);
        ir_pb_free(f->v[i].spec);
    }
    krt_free(f->v);
    memset(f, 0, sizeof *f);
}

static void feat_add(tr__pb_t *b, tr__feats_t *f, int section, const char *feature, void *spec)
{
    if (!spec)
        return;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        tr__feat_t *v = krt_realloc(f->v, cap * sizeof *v);
        if (!v) {
            b->oom = true;
            ir_pb_free(spec);
            return;
        }
        f->v = v;
        f->cap = cap;
    }
    char *name = krt_strdup(feature);
    if (!name) {
        b->oom = true;
        ir_pb_free(spec);
        return;
    }
    f->v[f->n++] = (tr__feat_t){.feature = name, .section = section, .spec = spec};
}

void tr__note(tr__notes_t *n, bool invalid, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_t *arr = invalid ? n->invalid : n->unsupported;
    if (!arr || json_array_append_new(arr, tr__jstring(buf)))
        n->oom = true;
}

/* A TrafficPolicySpec of |phase| wrapping |val| (tr__pb_oneof: takes val; NULL skips). */
static void *tps(tr__pb_t *b, T_(TrafficPolicySpec__KindCase) kc, void *val, int phase)
{
    T_(TrafficPolicySpec) *t = tr__pb_oneof(b, &D_(traffic_policy_spec), kc, val);
    if (t)
        t->phase = phase;
    return t;
}

/* A duration at |key| of |obj|: NULL when absent; when malformed NULL with an invalid note. */
static Google__Protobuf__Duration *dur(tr__pb_t *b, json_t *obj, const char *key, const char *path,
                                       tr__notes_t *notes)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return NULL;
    int64_t s;
    int32_t ns;
    if (!json_is_string(v) || !tr__duration_parse(json_string_value(v), &s, &ns)) {
        tr__note(notes, true, "%s.%s: not a duration", path, key);
        return NULL;
    }
    return tr__pb_duration(b, s, ns);
}

static void strs(tr__pb_t *b, json_t *arr, char ***out, size_t *n)
{
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        if (json_is_string(s))
            tr__pb_push(b, (void ***)out, n, tr__pb_str(b, json_string_value(s)), false);
    }
}

/* A string→string map field from a JSON object; all such entry messages share this layout. */
typedef struct map_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
} map_entry_t;

static void map_into(tr__pb_t *b, const ProtobufCMessageDescriptor *d, json_t *obj, void ***arr,
                     size_t *n)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (!json_is_string(v))
            continue;
        map_entry_t *e = tr__pb_new(b, d);
        if (!e)
            return;
        e->key = tr__pb_str(b, k);
        e->value = tr__pb_str(b, json_string_value(v));
        tr__pb_push(b, arr, n, e, true);
    }
}

/* Parses a Kubernetes quantity ("1024", "2Mi", "16k", "1.5Ki") into bytes. */
static bool quantity(json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return false;
        *out = (uint64_t)i;
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    char *end;
    double x = strtod(s, &end);
    if (end == s || x < 0)
        return false;
    static const struct {
        const char *suf;
        double mul;
    } sufs[] = {{"", 1},        {"k", 1e3},        {"M", 1e6},          {"G", 1e9},
                {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}};
    for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++) {
        if (strcmp(end, sufs[i].suf) == 0) {
            x *= sufs[i].mul;
            if (x > 4294967295.0)
                return false;
            *out = (uint64_t)x;
            return true;
        }
    }
    return false;
}

static T_(HeaderModifier) * header_mod(tr__pb_t *b, json_t *f)
{
    T_(HeaderModifier) *hm = tr__pb_new(b, &D_(header_modifier));
    if (!hm)
        return NULL;
    const char *lists[2] = {"add", "set"};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *h;
        json_array_foreach(tr__jarr(f, lists[l]), i, h)
        {
            T_(Header) *x = tr__pb_new(b, &D_(header));
            if (!x)
                return hm;
            x->name = tr__pb_str(b, tr__jstr_or(h, "name", ""));
            x->value = tr__pb_str(b, tr__jstr_or(h, "value", ""));
            if (l == 0)
                tr__pb_push(b, (void ***)&hm->add, &hm->n_add, x, true);
            else
                tr__pb_push(b, (void ***)&hm->set, &hm->n_set, x, true);
        }
    }
    strs(b, tr__jarr(f, "remove"), &hm->remove, &hm->n_remove);
    return hm;
}

/* AuthorizationLocation (header{name, prefix}, queryParameter{name}, cookie{name}, expression). */
static T_(AuthorizationLocation) * auth_location(tr__pb_t *b, json_t *loc)
{
    if (!json_is_object(loc))
        return NULL;
    T_(AuthorizationLocation) *x = tr__pb_new(b, &D_(authorization_location));
    if (!x)
        return NULL;
    json_t *v;
    if ((v = json_object_get(loc, "header"))) {
        T_(AuthorizationLocation__Header) *h = tr__pb_new(b, &D_(authorization_location__header));
        if (h) {
            h->name = tr__pb_str(b, tr__jstr_or(v, "name", ""));
            if (tr__jstr(v, "prefix")) {
                h->_prefix_case = R_(AUTHORIZATION_LOCATION__HEADER___PREFIX_PREFIX);
                h->prefix = tr__pb_str(b, tr__jstr(v, "prefix"));
            }
        }
        x->kind_case = R_(AUTHORIZATION_LOCATION__KIND_HEADER);
        x->header = h;
    } else if ((v = json_object_get(loc, "queryParameter"))) {
        T_(AuthorizationLocation__QueryParameter) *q =
            tr__pb_new(b, &D_(authorization_location__query_parameter));
        if (q)
            q->name = tr__pb_str(b, tr__jstr_or(v, "name", ""));
        x->kind_case = R_(AUTHORIZATION_LOCATION__KIND_QUERY_PARAMETER);
        x->query_parameter = q;
    } else if ((v = json_object_get(loc, "cookie"))) {
        T_(AuthorizationLocation__Cookie) *c = tr__pb_new(b, &D_(authorization_location__cookie));
        if (c)
            c->name = tr__pb_str(b, tr__jstr_or(v, "name", ""));
        x->kind_case = R_(AUTHORIZATION_LOCATION__KIND_COOKIE);
        x->cookie = c;
    } else if (tr__jstr(loc, "expression")) {
        x->kind_case = R_(AUTHORIZATION_LOCATION__KIND_EXPRESSION);
        x->expression = tr__pb_str(b, tr__jstr(loc, "expression"));
    }
    return x;
}

/* shared.Authorization {action: Allow|Deny|Require, policy.matchExpressions[]} into the three
 * lists of an RBAC-shaped message (RBAC, McpAuthorization, NetworkAuthorization share them). */
static void authz_lists(tr__pb_t *b, json_t *a, const char *path, tr__notes_t *notes, char ***allow,
                        size_t *na, char ***deny, size_t *nd, char ***req, size_t *nr)
{
    const char *action = tr__jstr_or(a, "action", "Allow");
    json_t *exprs = tr__jarr(a, "policy.matchExpressions");
    if (strcmp(action, "Allow") == 0)
        strs(b, exprs, allow, na);
    else if (strcmp(action, "Deny") == 0)
        strs(b, exprs, deny, nd);
    else if (strcmp(action, "Require") == 0)
        strs(b, exprs, req, nr);
    else
        tr__note(notes, true, "%s.action: unknown action \"%s\"", path, action);
}

T_(BackendReference) * tr__agw_backend_ref(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns,
                                           const char *path, json_t *ref, tr__pb_t *b,
                                           tr__notes_t *notes)
{
    (void)ctx;
    const char *group = tr__jstr_or(ref, "group", "");
    const char *kind = tr__jstr_or(ref, "kind", "Service");
    const char *name = tr__jstr_or(ref, "name", "");
    /* Another namespace needs no ReferenceGrant: agentgateway checks grants for policy
     * backendRefs only in its non-default AGW_BACKEND_REF_GRANT_MODE=route-and-policy. */
    const char *rns = tr__jstr_or(ref, "namespace", ns);
    if (!*name) {
        tr__note(notes, true, "%s.backendRef: no name", path);
        return NULL;
    }
    T_(BackendReference) *r = tr__pb_new(b, &D_(backend_reference));
    if (!r)
        return NULL;
    if (strcmp(group, "") == 0 && strcmp(kind, "Service") == 0) {
        T_(BackendReference__Service) *s = tr__pb_new(b, &D_(backend_reference__service));
        char *host = ir_hostname_service(name, rns, g->domain);
        if (!host)
            b->oom = true;
        if (s) {
            s->namespace_ = tr__pb_str(b, rns);
            s->hostname = tr__pb_str(b, host ? host : "");
        }
        krt_free(host);
        r->kind_case = R_(BACKEND_REFERENCE__KIND_SERVICE);
        r->service = s;
        json_int_t port = tr__jint(ref, "port", 0);
        r->port = port > 0 && port < 65536 ? (uint32_t)port : 0;
        return r;
    }
    if (strcmp(group, TR_AGW_GROUP) == 0 &&
        (strcmp(kind, "AgentgatewayBackend") == 0 || strcmp(kind, "Backend") == 0)) {
        char *key = ir_key_backend(rns, name, NULL);
        if (!key)
            b->oom = true;
        r->kind_case = R_(BACKEND_REFERENCE__KIND_BACKEND);
        r->backend = tr__pb_str(b, key ? key : "");
        krt_free(key);
        return r;
    }
    ir_pb_free((ProtobufCMessage *)r);
    tr__note(notes, true,
             "%s.backendRef: kind %s/%s is not supported (Service or "
             "AgentgatewayBackend)",
             path, *group ? group : "core", kind);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Shared pieces of traffic and backend sections.
 * ------------------------------------------------------------------------------------------- */
static T_(TrafficPolicySpec__TransformationPolicy__Transform) * transform(tr__pb_t *b, json_t *t)
{
    if (!json_is_object(t))
        return NULL;
    T_(TrafficPolicySpec__TransformationPolicy__Transform) *x =
        tr__pb_new(b, &D_(traffic_policy_spec__transformation_policy__transform));
    if (!x)
        return NULL;
    const char *lists[2] = {"set", "add"};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *h;
        json_array_foreach(tr__jarr(t, lists[l]), i, h)
        {
            T_(TrafficPolicySpec__HeaderTransformation) *ht =
                tr__pb_new(b, &D_(traffic_policy_spec__header_transformation));
            if (!ht)
                return x;
            ht->name = tr__pb_str(b, tr__jstr_or(h, "name", ""));
            ht->expression = tr__pb_str(b, tr__jstr_or(h, "value", ""));
            if (l == 0)
                tr__pb_push(b, (void ***)&x->set, &x->n_set, ht, true);
            else
                tr__pb_push(b, (void ***)&x->add, &x->n_add, ht, true);
        }
    }
    strs(b, tr__jarr(t, "remove"), &x->remove, &x->n_remove);
    if (tr__jstr(t, "body")) {
        x->body = tr__pb_new(b, &D_(traffic_policy_spec__body_transformation));
        if (x->body)
            x->body->expression = tr__pb_str(b, tr__jstr(t, "body"));
    }
    map_into(b, &D_(traffic_policy_spec__transformation_policy__transform__metadata_entry),
             json_object_get(t, "metadata"), (void ***)&x->metadata, &x->n_metadata);
    return x;
}

static T_(TrafficPolicySpec__TransformationPolicy) * transformation(tr__pb_t *b, json_t *t)
{
    T_(TrafficPolicySpec__TransformationPolicy) *x =
        tr__pb_new(b, &D_(traffic_policy_spec__transformation_policy));
    if (x) {
        x->request = transform(b, json_object_get(t, "request"));
        x->response = transform(b, json_object_get(t, "response"));
    }
    return x;
}

static T_(TrafficPolicySpec__ExternalAuth) * ext_auth(krt_ctx_t *ctx, const tr_graph_t *g,
                                                      const char *ns, const char *path, json_t *e,
                                                      tr__pb_t *b, tr__notes_t *notes)
{
    T_(TrafficPolicySpec__ExternalAuth) *x = tr__pb_new(b, &D_(traffic_policy_spec__external_auth));
    if (!x)
        return NULL;
    json_t *ref = json_object_get(e, "backendRef");
    if (!ref)
        tr__note(notes, true, "%s.backendRef: required", path);
    else
        x->target = tr__agw_backend_ref(ctx, g, ns, path, ref, b, notes);
    x->failure_mode = strcmp(tr__jstr_or(e, "failureMode", "FailClosed"), "FailOpen") == 0
                          ? R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__ALLOW)
                          : R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__DENY);
    json_t *grpc = json_object_get(e, "grpc"), *http = json_object_get(e, "http");
    if ((grpc != NULL) == (http != NULL))
        tr__note(notes, true, "%s: exactly one of grpc and http must be set", path);
    if (grpc) {
        T_(TrafficPolicySpec__ExternalAuth__GRPCProtocol) *p =
            tr__pb_new(b, &D_(traffic_policy_spec__external_auth__grpcprotocol));
        if (p) {
            map_into(b, &D_(traffic_policy_spec__external_auth__grpcprotocol__context_entry),
                     json_object_get(grpc, "contextExtensions"), (void ***)&p->context,
                     &p->n_context);
            map_into(b, &D_(traffic_policy_spec__external_auth__grpcprotocol__metadata_entry),
                     json_object_get(grpc, "requestMetadata"), (void ***)&p->metadata,
                     &p->n_metadata);
        }
        x->protocol_case = R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__PROTOCOL_GRPC);
        x->grpc = p;
    } else if (http) {
        T_(TrafficPolicySpec__ExternalAuth__HTTPProtocol) *p =
            tr__pb_new(b, &D_(traffic_policy_spec__external_auth__httpprotocol));
        if (p) {
            if (tr__jstr(http, "path")) {
                p->_path_case = R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__HTTPPROTOCOL___PATH_PATH);
                p->path = tr__pb_str(b, tr__jstr(http, "path"));
            }
            if (tr__jstr(http, "redirect")) {
                p->_redirect_case =
                    R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__HTTPPROTOCOL___REDIRECT_REDIRECT);
                p->redirect = tr__pb_str(b, tr__jstr(http, "redirect"));
            }
            strs(b, tr__jarr(http, "allowedResponseHeaders"), &p->include_response_headers,
                 &p->n_include_response_headers);
            map_into(
                b, &D_(traffic_policy_spec__external_auth__httpprotocol__add_request_headers_entry),
                json_object_get(http, "addRequestHeaders"), (void ***)&p->add_request_headers,
                &p->n_add_request_headers);
            map_into(b, &D_(traffic_policy_spec__external_auth__httpprotocol__metadata_entry),
                     json_object_get(http, "responseMetadata"), (void ***)&p->metadata,
                     &p->n_metadata);
        }
        strs(b, tr__jarr(http, "allowedRequestHeaders"), &x->include_request_headers,
             &x->n_include_request_headers);
        x->protocol_case = R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__PROTOCOL_HTTP);
        x->http = p;
    }
    json_t *fb = json_object_get(e, "forwardBody");
    if (fb) {
        uint64_t max = 0;
        if (!quantity(json_object_get(fb, "maxSize"), &max))
            tr__note(notes, true, "%s.forwardBody.maxSize: not a byte quantity", path);
        x->include_request_body =
            tr__pb_new(b, &D_(traffic_policy_spec__external_auth__body_options));
        if (x->include_request_body)
            x->include_request_body->max_request_bytes = (uint32_t)max;
    }
    json_t *cache = json_object_get(e, "cache");
    if (cache) {
        x->cache = tr__pb_new(b, &D_(traffic_policy_spec__external_auth__cache));
        if (x->cache) {
            strs(b, tr__jarr(cache, "key"), &x->cache->key, &x->cache->n_key);
            x->cache->ttl = tr__pb_str(b, tr__jstr_or(cache, "ttl", ""));
            json_int_t me = tr__jint(cache, "maxEntries", 0);
            x->cache->max_entries = me > 0 && me <= UINT32_MAX ? (uint32_t)me : 0;
        }
    }
    return x;
}

/* ---------------------------------------------------------------------------------------------
 * Traffic.
 * ------------------------------------------------------------------------------------------- */
static T_(TrafficPolicySpec__LocalRateLimit__Type) rl_type(json_t *l)
{
    return json_object_get(l, "tokens") ? R_(TRAFFIC_POLICY_SPEC__LOCAL_RATE_LIMIT__TYPE__TOKEN)
                                        : R_(TRAFFIC_POLICY_SPEC__LOCAL_RATE_LIMIT__TYPE__REQUEST);
}

/* One `local` entry: a bucket of requests (or tokens) + burst, refilled by requests per unit. */
static bool rl_values(json_t *l, const char *path, tr__notes_t *notes, uint64_t *max,
                      uint64_t *fill, int64_t *secs)
{
    json_int_t n = tr__jint(l, json_object_get(l, "tokens") ? "tokens" : "requests", 0);
    json_int_t burst = tr__jint(l, "burst", 0);
    const char *unit = tr__jstr_or(l, "unit", "");
    *secs = strcmp(unit, "Seconds") == 0   ? 1
            : strcmp(unit, "Minutes") == 0 ? 60
            : strcmp(unit, "Hours") == 0   ? 3600
                                           : 0;
    if (n <= 0 || burst < 0 || *secs == 0) {
        tr__note(notes, true,
                 "%s: needs requests or tokens >= 1 and unit Seconds, Minutes or Hours", path);
        return false;
    }
    *max = (uint64_t)n + (uint64_t)burst;
    *fill = (uint64_t)n;
    return true;
}

static void *local_rate_limit(tr__pb_t *b, json_t *arr, tr__notes_t *notes)
{
    T_(TrafficPolicySpec__LocalRateLimit) *x =
        tr__pb_new(b, &D_(traffic_policy_spec__local_rate_limit));
    if (!x)
        return NULL;
    size_t i;
    json_t *l;
    json_array_foreach(arr, i, l)
    {
        char path[64];
        snprintf(path, sizeof path, "spec.traffic.rateLimit.local[%zu]", i);
        uint64_t max, fill;
        int64_t secs;
        if (!rl_values(l, path, notes, &max, &fill, &secs))
            continue;
        if (i == 0) {
            x->max_tokens = max;
            x->tokens_per_fill = fill;
            x->fill_interval = tr__pb_duration(b, secs, 0);
            x->type = rl_type(l);
            continue;
        }
        /* more buckets: each one is a rule, all of which must have room */
        T_(TrafficPolicySpec__LocalRateLimit__Rule) *r =
            tr__pb_new(b, &D_(traffic_policy_spec__local_rate_limit__rule));
        if (!r)
            break;
        r->max_tokens = max;
        r->tokens_per_fill = fill;
        r->fill_interval = tr__pb_duration(b, secs, 0);
        r->type = (T_(TrafficPolicySpec__LocalRateLimit__Type))rl_type(l);
        tr__pb_push(b, (void ***)&x->rules, &x->n_rules, r, true);
    }
    return x;
}

static void *remote_rate_limit(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *gl,
                               tr__pb_t *b, tr__notes_t *notes)
{
    T_(TrafficPolicySpec__RemoteRateLimit) *x =
        tr__pb_new(b, &D_(traffic_policy_spec__remote_rate_limit));
    if (!x)
        return NULL;
    x->domain = tr__pb_str(b, tr__jstr_or(gl, "domain", ""));
    x->target = tr__agw_backend_ref(ctx, g, ns, "spec.traffic.rateLimit.global",
                                    json_object_get(gl, "backendRef"), b, notes);
    x->failure_mode = strcmp(tr__jstr_or(gl, "failureMode", "FailClosed"), "FailOpen") == 0
                          ? R_(TRAFFIC_POLICY_SPEC__REMOTE_RATE_LIMIT__FAILURE_MODE__FAIL_OPEN)
                          : R_(TRAFFIC_POLICY_SPEC__REMOTE_RATE_LIMIT__FAILURE_MODE__FAIL_CLOSED);
    size_t i, j;
    json_t *d, *e;
    json_array_foreach(tr__jarr(gl, "descriptors"), i, d)
    {
        T_(TrafficPolicySpec__RemoteRateLimit__Descriptor) *xd =
            tr__pb_new(b, &D_(traffic_policy_spec__remote_rate_limit__descriptor));
        if (!xd)
            break;
        xd->type = strcmp(tr__jstr_or(d, "unit", "Requests"), "Tokens") == 0
                       ? R_(TRAFFIC_POLICY_SPEC__REMOTE_RATE_LIMIT__TYPE__TOKENS)
                       : R_(TRAFFIC_POLICY_SPEC__REMOTE_RATE_LIMIT__TYPE__REQUESTS);
        if (tr__jstr(d, "cost")) {
            xd->_cost_case = R_(TRAFFIC_POLICY_SPEC__REMOTE_RATE_LIMIT__DESCRIPTOR___COST_COST);
            xd->cost = tr__pb_str(b, tr__jstr(d, "cost"));
        }
        json_array_foreach(tr__jarr(d, "entries"), j, e)
        {
            T_(TrafficPolicySpec__RemoteRateLimit__Entry) *xe =
                tr__pb_new(b, &D_(traffic_policy_spec__remote_rate_limit__entry));
            if (!xe)
                break;
            xe->key = tr__pb_str(b, tr__jstr_or(e, "name", ""));
            xe->value = tr__pb_str(b, tr__jstr_or(e, "expression", ""));
            tr__pb_push(b, (void ***)&xd->entries, &xd->n_entries, xe, true);
        }
        tr__pb_push(b, (void ***)&x->descriptors, &x->n_descriptors, xd, true);
    }
    return x;
}

/* An empty JWKS: a provider that can verify nothing (fail closed). */
#define NO_KEYS "{\"keys\":[]}"

static void *jwt(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *j, tr__pb_t *b,
                 tr__notes_t *notes)
{
    T_(TrafficPolicySpec__JWT) *x = tr__pb_new(b, &D_(traffic_policy_spec__jwt));
    if (!x)
        return NULL;
    const char *mode = tr__jstr_or(j, "mode", "Strict");
    x->mode = strcmp(mode, "Optional") == 0     ? R_(TRAFFIC_POLICY_SPEC__JWT__MODE__OPTIONAL)
              : strcmp(mode, "Permissive") == 0 ? R_(TRAFFIC_POLICY_SPEC__JWT__MODE__PERMISSIVE)
                                                : R_(TRAFFIC_POLICY_SPEC__JWT__MODE__STRICT);
    x->authorization_location = auth_location(b, json_object_get(j, "location"));
    if (json_object_get(j, "mcp"))
        tr__note(notes, false, "spec.traffic.jwtAuthentication.mcp is not supported");
    if (json_array_size(tr__jarr(j, "providers")) == 0)
        tr__note(notes, true, "spec.traffic.jwtAuthentication.providers: at least one needed");
    size_t i;
    json_t *p;
    json_array_foreach(tr__jarr(j, "providers"), i, p)
    {
        T_(TrafficPolicySpec__JWTProvider) *xp =
            tr__pb_new(b, &D_(traffic_policy_spec__jwtprovider));
        if (!xp)
            break;
        xp->issuer = tr__pb_str(b, tr__jstr_or(p, "issuer", ""));
        strs(b, tr__jarr(p, "audiences"), &xp->audiences, &xp->n_audiences);
        char path[80];
        snprintf(path, sizeof path, "spec.traffic.jwtAuthentication.providers[%zu].jwks", i);
        json_t *jwks = json_object_get(p, "jwks");
        char *text = NULL; /* krt_malloc'd */
        if (tr__jstr(jwks, "inline")) {
            text = krt_strdup(tr__jstr(jwks, "inline"));
            if (!text)
                b->oom = true;
        } else if (json_object_get(jwks, "secretRef")) {
            /* krtgate extension: the JWKS read from a Secret of the policy's namespace */
            const char *sn = tr__jstr_or(jwks, "secretRef.name", "");
            const char *key = tr__jstr_or(jwks, "secretRef.key", "jwks");
            size_t len;
            bool found;
            text = (char *)tr__object_value(ctx, g->in.secrets, ns, sn, key, &len, &found, &b->oom);
            if (!text)
                tr__note(notes, true, "%s.secretRef: %s %s/%s%s%s", path,
                         found ? "no key in Secret" : "Secret not found:", ns, sn,
                         found ? " named " : "", found ? key : "");
        } else if (json_object_get(jwks, "remote")) {
            tr__note(notes, false,
                     "%s.remote is not supported (use inline); the provider rejects every token",
                     path);
        } else {
            tr__note(notes, true, "%s: one of inline or remote is required", path);
        }
        if (text) {
            json_error_t jerr;
            json_t *parsed = json_loads(text, 0, &jerr);
            if (!parsed && json_error_code(&jerr) == json_error_out_of_memory)
                b->oom = true;
            if (!json_is_array(json_object_get(parsed, "keys"))) {
                tr__note(notes, true, "%s: not a JSON Web Key Set (an object with \"keys\")", path);
                krt_free(text);
                text = NULL;
            }
            json_decref(parsed);
        }
        xp->jwks_source_case = R_(TRAFFIC_POLICY_SPEC__JWTPROVIDER__JWKS_SOURCE_INLINE);
        xp->inline_ = tr__pb_str(b, text ? text : NO_KEYS);
        krt_free(text);
        tr__pb_push(b, (void ***)&x->providers, &x->n_providers, xp, true);
    }
    return x;
}

static void *basic_auth(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *j, tr__pb_t *b,
                        tr__notes_t *notes)
{
    T_(TrafficPolicySpec__BasicAuthentication) *x =
        tr__pb_new(b, &D_(traffic_policy_spec__basic_authentication));
    if (!x)
        return NULL;
    x->mode = strcmp(tr__jstr_or(j, "mode", "Strict"), "Optional") == 0
                  ? R_(TRAFFIC_POLICY_SPEC__BASIC_AUTHENTICATION__MODE__OPTIONAL)
                  : R_(TRAFFIC_POLICY_SPEC__BASIC_AUTHENTICATION__MODE__STRICT);
    if (tr__jstr(j, "realm")) {
        x->_realm_case = R_(TRAFFIC_POLICY_SPEC__BASIC_AUTHENTICATION___REALM_REALM);
        x->realm = tr__pb_str(b, tr__jstr(j, "realm"));
    }
    x->authorization_location = auth_location(b, json_object_get(j, "location"));
    json_t *users = tr__jarr(j, "users");
    const char *sn = tr__jstr(j, "secretRef.name");
    if ((users != NULL) == (sn != NULL))
        tr__note(notes, true,
                 "spec.traffic.basicAuthentication: exactly one of users and secretRef");
    char *content = NULL;
    if (users) {
        size_t total = 1, i;
        json_t *u;
        json_array_foreach(users, i, u) total +=
            strlen(json_string_value(u) ? json_string_value(u) : "") + 1;
        content = krt_malloc(total);
        if (content) {
            size_t off = 0;
            json_array_foreach(users, i, u)
            {
                const char *s = json_string_value(u) ? json_string_value(u) : "";
                off += (size_t)snprintf(content + off, total - off, "%s\n", s);
            }
            content[off] = '\0';
        }
    } else if (sn) {
        size_t len;
        bool found;
        content = (char *)tr__object_value(ctx, g->in.secrets, ns, sn, ".htaccess", &len, &found,
                                           &b->oom);
        if (!content)
            tr__note(notes, true,
                     "spec.traffic.basicAuthentication.secretRef: %s %s/%s%s (no user can log in)",
                     found ? "no key .htaccess in Secret" : "Secret not found:", ns, sn, "");
    }
    x->htpasswd_content = tr__pb_str(b, content ? content : "");
    krt_free(content);
    return x;
}

static void api_keys_from(tr__pb_t *b, const krt_obj_t *secret, T_(TrafficPolicySpec__APIKey) * x,
                          const char *path, tr__notes_t *notes)
{
    json_t *v = krt_json_value(secret);
    const char *fields[2] = {"data", "stringData"};
    for (int f = 0; f < 2; f++) {
        const char *k;
        json_t *val;
        json_object_foreach(json_object_get(v, fields[f]), k, val)
        {
            if (!json_is_string(val))
                continue;
            size_t len = 0;
            bool oom = false;
            char *raw = f == 0 ? (char *)tr__b64_decode(json_string_value(val), &len, &oom)
                               : krt_strdup(json_string_value(val));
            if (!raw) {
                if (oom || f == 1)
                    b->oom = true;
                continue;
            }
            /* a value is the key itself or {"key": ..., "metadata": {...}} */
            const char *keyval = raw;
            json_error_t jerr;
            json_t *obj = raw[0] == '{' ? json_loads(raw, 0, &jerr) : NULL;
            if (raw[0] == '{' && !obj && json_error_code(&jerr) == json_error_out_of_memory)
                b->oom = true;
            if (tr__jstr(obj, "key")) {
                keyval = tr__jstr(obj, "key");
                if (json_object_get(obj, "metadata"))
                    tr__note(notes, false, "%s: metadata of key %s in Secret %s is not carried",
                             path, k, krt_obj_key(secret));
            }
            T_(TrafficPolicySpec__APIKey__User) *u =
                tr__pb_new(b, &D_(traffic_policy_spec__apikey__user));
            if (u) {
                u->key = tr__pb_str(b, keyval);
                tr__pb_push(b, (void ***)&x->api_keys, &x->n_api_keys, u, true);
            }
            json_decref(obj);
            krt_free(raw);
        }
    }
}

/* Fetches the objects of |src| carrying every label of the matchLabels object |ml| (a value that
 * is not a string must be ""), and records the dependency. Returns the count, *found borrowed
 * until the transformation returns; 0 with *oom set when out of memory. */
static size_t fetch_match_labels(krt_ctx_t *ctx, krt_collection_t *src, json_t *ml,
                                 const krt_obj_t *const **found, bool *oom)
{
    *found = NULL;
    size_t n = json_object_size(ml), i = 0;
    krt_label_t *items = krt_calloc(n ? n : 1, sizeof *items);
    if (!items) {
        *oom = true;
        return 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach(ml, k, v)
    {
        items[i].key = k;
        items[i++].value = json_string_value(v) ? json_string_value(v) : "";
    }
    krt_labels_t want = {items, i};
    size_t nf = krt_fetch_labels(ctx, src, &want, found); /* the fetch copies the labels */
    krt_free(items);
    return nf;
}

static void *api_key_auth(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *j,
                          tr__pb_t *b, tr__notes_t *notes)
{
    const char *path = "spec.traffic.apiKeyAuthentication";
    T_(TrafficPolicySpec__APIKey) *x = tr__pb_new(b, &D_(traffic_policy_spec__apikey));
    if (!x)
        return NULL;
    const char *mode = tr__jstr_or(j, "mode", "Strict");
    x->mode = strcmp(mode, "Optional") == 0     ? R_(TRAFFIC_POLICY_SPEC__APIKEY__MODE__OPTIONAL)
              : strcmp(mode, "Permissive") == 0 ? R_(TRAFFIC_POLICY_SPEC__APIKEY__MODE__PERMISSIVE)
                                                : R_(TRAFFIC_POLICY_SPEC__APIKEY__MODE__STRICT);
    x->authorization_location = auth_location(b, json_object_get(j, "location"));
    const char *sn = tr__jstr(j, "secretRef.name");
    json_t *sel = json_object_get(j, "secretSelector");
    if ((sn != NULL) == (sel != NULL))
        tr__note(notes, true, "%s: exactly one of secretRef and secretSelector", path);
    if (sn) {
        char *key = tr__fmt("%s/%s", ns, sn);
        if (!key)
            b->oom = true;
        const krt_obj_t *s = key ? krt_fetch_key(ctx, g->in.secrets, key) : NULL;
        krt_free(key);
        if (!s)
            tr__note(notes, true, "%s.secretRef: Secret not found: %s/%s (no key is valid)", path,
                     ns, sn);
        else
            api_keys_from(b, s, x, path, notes);
    } else if (sel) {
        const krt_obj_t *const *found;
        size_t nf = fetch_match_labels(ctx, g->in.secrets, json_object_get(sel, "matchLabels"),
                                       &found, &b->oom);
        for (size_t s = 0; s < nf; s++) {
            const char *sns = krt_json_namespace(found[s]);
            if (sns && strcmp(sns, ns) == 0)
                api_keys_from(b, found[s], x, path, notes);
        }
    }
    return x;
}

static void *direct_response(tr__pb_t *b, json_t *d)
{
    T_(DirectResponse) *x = tr__pb_new(b, &D_(direct_response));
    if (!x)
        return NULL;
    json_int_t st = tr__jint(d, "status", 0);
    x->status = st >= 200 && st <= 599 ? (uint32_t)st : 500;
    const char *body = tr__jstr(d, "body");
    if (body) {
        size_t n = strlen(body);
        x->body.data = krt_malloc(n ? n : 1);
        if (x->body.data) {
            memcpy(x->body.data, body, n);
            x->body.len = n;
        } else {
            b->oom = true;
        }
    }
    x->body_expression = tr__pb_str(b, tr__jstr_or(d, "bodyExpression", ""));
    size_t i;
    json_t *h;
    json_array_foreach(tr__jarr(d, "headers"), i, h)
    {
        T_(ExpressionHeader) *eh = tr__pb_new(b, &D_(expression_header));
        if (!eh)
            break;
        eh->name = tr__pb_str(b, tr__jstr_or(h, "name", ""));
        eh->expression = tr__pb_str(b, tr__jstr_or(h, "value", ""));
        tr__pb_push(b, (void ***)&x->headers, &x->n_headers, eh, true);
    }
    return x;
}

static void *retry(tr__pb_t *b, json_t *r, tr__notes_t *notes)
{
    T_(Retry) *x = tr__pb_new(b, &D_(retry));
    if (!x)
        return NULL;
    json_int_t a = tr__jint(r, "attempts", 1);
    x->attempts = a < 0 ? 0 : a > 1000 ? 1000 : (int32_t)a;
    size_t i;
    json_t *c;
    json_array_foreach(tr__jarr(r, "codes"), i, c)
    {
        json_int_t code = json_integer_value(c);
        int32_t *v = krt_malloc(sizeof *v);
        if (!v) {
            b->oom = true;
            break;
        }
        krt_free(v);
        int32_t *arr =
            krt_realloc(x->retry_status_codes, (x->n_retry_status_codes + 1) * sizeof *arr);
        if (!arr) {
            b->oom = true;
            break;
        }
        arr[x->n_retry_status_codes++] = (int32_t)code;
        x->retry_status_codes = arr;
    }
    x->backoff = dur(b, r, "backoff", "spec.traffic.retry", notes);
    return x;
}

static void *cors(tr__pb_t *b, json_t *f, tr__notes_t *notes)
{
    T_(CORS) *x = tr__pb_new(b, &D_(cors));
    if (!x)
        return NULL;
    x->allow_credentials = tr__jbool(f, "allowCredentials", false);
    strs(b, tr__jarr(f, "allowHeaders"), &x->allow_headers, &x->n_allow_headers);
    strs(b, tr__jarr(f, "allowMethods"), &x->allow_methods, &x->n_allow_methods);
    strs(b, tr__jarr(f, "allowOrigins"), &x->allow_origins, &x->n_allow_origins);
    strs(b, tr__jarr(f, "exposeHeaders"), &x->expose_headers, &x->n_expose_headers);
    json_t *age = json_object_get(f, "maxAge");
    if (json_is_integer(age))
        x->max_age =
            tr__pb_duration(b, json_integer_value(age) < 0 ? 0 : json_integer_value(age), 0);
    else if (age)
        x->max_age = dur(b, f, "maxAge", "spec.traffic.cors", notes);
    return x;
}

static const char *const traffic_keys[] = {"phase",
                                           "transformation",
                                           "extProc",
                                           "extAuth",
                                           "rateLimit",
                                           "cors",
                                           "csrf",
                                           "headerModifiers",
                                           "hostRewrite",
                                           "timeouts",
                                           "retry",
                                           "authorization",
                                           "jwtAuthentication",
                                           "basicAuthentication",
                                           "apiKeyAuthentication",
                                           "directResponse",
                                           NULL};

static bool known(const char *const *keys, const char *k)
{
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return true;
    return false;
}

static void *ext_proc(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *v, tr__pb_t *b,
                      tr__notes_t *notes)
{
    T_(TrafficPolicySpec__ExtProc) *x = tr__pb_new(b, &D_(traffic_policy_spec__ext_proc));
    if (!x)
        return NULL;
    x->target = tr__agw_backend_ref(ctx, g, ns, "spec.traffic.extProc",
                                    json_object_get(v, "backendRef"), b, notes);
    x->failure_mode = strcmp(tr__jstr_or(v, "failureMode", "FailClosed"), "FailOpen") == 0
                          ? R_(TRAFFIC_POLICY_SPEC__EXT_PROC__FAILURE_MODE__FAIL_OPEN)
                          : R_(TRAFFIC_POLICY_SPEC__EXT_PROC__FAILURE_MODE__FAIL_CLOSED);
    if (json_object_get(v, "processingOptions"))
        tr__note(notes, false,
                 "spec.traffic.extProc.processingOptions is not supported (defaults)");
    return x;
}

/* One TrafficPolicySpec of a field that has a `conditional` form (|sub| picks rateLimit's local
 * or global part), from |v| (the top level or one entry's `policy`). */
static void *traffic_one(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, const char *field,
                         const char *sub, json_t *v, tr__pb_t *b, tr__notes_t *notes, int ph)
{
    if (strcmp(field, "directResponse") == 0)
        return tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_DIRECT_RESPONSE), direct_response(b, v), ph);
    if (strcmp(field, "transformation") == 0)
        return tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_TRANSFORMATION), transformation(b, v), ph);
    if (strcmp(field, "extAuth") == 0)
        return tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_EXT_AUTHZ),
                   ext_auth(ctx, g, ns, "spec.traffic.extAuth", v, b, notes), ph);
    if (strcmp(field, "extProc") == 0)
        return tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_EXT_PROC), ext_proc(ctx, g, ns, v, b, notes),
                   ph);
    if (strcmp(sub, "local") == 0)
        return tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_LOCAL_RATE_LIMIT),
                   local_rate_limit(b, tr__jarr(v, "local"), notes), ph);
    return tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_REMOTE_RATE_LIMIT),
               remote_rate_limit(ctx, g, ns, json_object_get(v, "global"), b, notes), ph);
}

/* A field's `conditional` list becomes one Policy of kind `conditional`: the entries in order,
 * each with its CEL condition (the last may have none: the fallback). */
static void conditional_feature(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns,
                                const char *field, const char *sub, const char *feature,
                                json_t *arr, tr__pb_t *b, tr__feats_t *out, tr__notes_t *notes,
                                int ph)
{
    T_(ConditionalPolicies) *cp = tr__pb_new(b, &D_(conditional_policies));
    if (!cp)
        return;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        json_t *pol = json_object_get(e, "policy");
        if (sub && !json_object_get(pol, sub))
            continue;
        T_(ConditionalPolicy) *c = tr__pb_new(b, &D_(conditional_policy));
        if (!c)
            break;
        if (tr__jstr(e, "condition")) {
            c->_condition_case = R_(CONDITIONAL_POLICY___CONDITION_CONDITION);
            c->condition = tr__pb_str(b, tr__jstr(e, "condition"));
        }
        c->kind_case = R_(CONDITIONAL_POLICY__KIND_TRAFFIC);
        c->traffic = traffic_one(ctx, g, ns, field, sub, pol, b, notes, ph);
        tr__pb_push(b, (void ***)&cp->policies, &cp->n_policies, c, true);
    }
    if (cp->n_policies == 0) {
        ir_pb_free((ProtobufCMessage *)cp);
        return;
    }
    feat_add(b, out, 3, feature, cp);
}

/* A field with a `conditional` form: the conditional policy, or the plain one. */
static void maybe_conditional(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns,
                              const char *field, const char *sub, const char *feature, json_t *v,
                              tr__pb_t *b, tr__feats_t *out, tr__notes_t *notes, int ph)
{
    json_t *arr = tr__jarr(v, "conditional");
    if (arr) {
        conditional_feature(ctx, g, ns, field, sub, feature, arr, b, out, notes, ph);
        return;
    }
    if (sub && !json_object_get(v, sub))
        return;
    feat_add(b, out, 0, feature, traffic_one(ctx, g, ns, field, sub, v, b, notes, ph));
}

static void traffic_section(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *t,
                            tr__pb_t *b, tr__feats_t *out, tr__notes_t *notes)
{
    int ph = strcmp(tr__jstr_or(t, "phase", "PostRouting"), "PreRouting") == 0
                 ? R_(TRAFFIC_POLICY_SPEC__POLICY_PHASE__GATEWAY)
                 : R_(TRAFFIC_POLICY_SPEC__POLICY_PHASE__ROUTE);
    const char *k;
    json_t *v;
    json_object_foreach(t, k, v)
    {
        if (!known(traffic_keys, k))
            tr__note(notes, false, "spec.traffic.%s is not supported", k);
    }
#define TF(kc, feature, val) \
    feat_add(b, out, 0, feature, tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_##kc), val, ph))
    if ((v = json_object_get(t, "timeouts"))) {
        T_(Timeout) *x = tr__pb_new(b, &D_(timeout));
        if (x)
            x->request = dur(b, v, "request", "spec.traffic.timeouts", notes);
        TF(TIMEOUT, "timeout", x);
    }
    if ((v = json_object_get(t, "retry")))
        TF(RETRY, "retry", retry(b, v, notes));
    if ((v = json_object_get(t, "rateLimit"))) {
        maybe_conditional(ctx, g, ns, "rateLimit", "local", "rl-local", v, b, out, notes, ph);
        maybe_conditional(ctx, g, ns, "rateLimit", "global", "rl-global", v, b, out, notes, ph);
    }
    if ((v = json_object_get(t, "cors")))
        TF(CORS, "cors", cors(b, v, notes));
    if ((v = json_object_get(t, "csrf"))) {
        T_(TrafficPolicySpec__CSRF) *x = tr__pb_new(b, &D_(traffic_policy_spec__csrf));
        if (x)
            strs(b, tr__jarr(v, "additionalOrigins"), &x->additional_origins,
                 &x->n_additional_origins);
        TF(CSRF, "csrf", x);
    }
    if ((v = json_object_get(t, "headerModifiers"))) {
        if (json_object_get(v, "request"))
            TF(REQUEST_HEADER_MODIFIER, "request-header-modifier",
               header_mod(b, json_object_get(v, "request")));
        if (json_object_get(v, "response"))
            TF(RESPONSE_HEADER_MODIFIER, "response-header-modifier",
               header_mod(b, json_object_get(v, "response")));
    }
    if ((v = json_object_get(t, "hostRewrite"))) {
        T_(TrafficPolicySpec__HostRewrite) *x =
            tr__pb_new(b, &D_(traffic_policy_spec__host_rewrite));
        if (x)
            x->mode = strcmp(tr__jstr_or(v, "mode", "Auto"), "None") == 0
                          ? R_(TRAFFIC_POLICY_SPEC__HOST_REWRITE__MODE__NONE)
                          : R_(TRAFFIC_POLICY_SPEC__HOST_REWRITE__MODE__AUTO);
        TF(HOST_REWRITE, "hostrewrite", x);
    }
    if ((v = json_object_get(t, "authorization"))) {
        T_(TrafficPolicySpec__RBAC) *x = tr__pb_new(b, &D_(traffic_policy_spec__rbac));
        if (x)
            authz_lists(b, v, "spec.traffic.authorization", notes, &x->allow, &x->n_allow, &x->deny,
                        &x->n_deny, &x->require, &x->n_require);
        TF(AUTHORIZATION, "rbac", x);
    }
    if ((v = json_object_get(t, "jwtAuthentication")))
        TF(JWT, "jwt", jwt(ctx, g, ns, v, b, notes));
    if ((v = json_object_get(t, "basicAuthentication")))
        TF(BASIC_AUTH, "basicauth", basic_auth(ctx, g, ns, v, b, notes));
    if ((v = json_object_get(t, "apiKeyAuthentication")))
        TF(API_KEY_AUTH, "apikeyauth", api_key_auth(ctx, g, ns, v, b, notes));
    static const char *const cond_fields[][2] = {{"directResponse", "direct-response"},
                                                 {"transformation", "transformation"},
                                                 {"extAuth", "extauth"},
                                                 {"extProc", "extproc"}};
    for (size_t i = 0; i < sizeof cond_fields / sizeof cond_fields[0]; i++)
        if ((v = json_object_get(t, cond_fields[i][0])))
            maybe_conditional(ctx, g, ns, cond_fields[i][0], NULL, cond_fields[i][1], v, b, out,
                              notes, ph);
#undef TF
}

/* ---------------------------------------------------------------------------------------------
 * Backend.
 * ------------------------------------------------------------------------------------------- */
static T_(KeepaliveConfig) * keepalive(tr__pb_t *b, json_t *k, const char *path, tr__notes_t *notes)
{
    if (!json_is_object(k))
        return NULL;
    T_(KeepaliveConfig) *x = tr__pb_new(b, &D_(keepalive_config));
    if (!x)
        return NULL;
    x->time = dur(b, k, "time", path, notes);
    x->interval = dur(b, k, "interval", path, notes);
    if (json_object_get(k, "retries")) {
        json_int_t r = tr__jint(k, "retries", 9);
        x->_retries_case = R_(KEEPALIVE_CONFIG___RETRIES_RETRIES);
        x->retries = r < 0 ? 0 : (uint32_t)r;
    }
    return x;
}

static T_(TLSConfig__KeyExchangeGroup) kx_group(const char *s)
{
    if (!s)
        return R_(TLSCONFIG__KEY_EXCHANGE_GROUP__KEY_EXCHANGE_GROUP_UNSPECIFIED);
    if (strcmp(s, "X25519") == 0)
        return R_(TLSCONFIG__KEY_EXCHANGE_GROUP__X25519);
    if (strcmp(s, "P-256") == 0)
        return R_(TLSCONFIG__KEY_EXCHANGE_GROUP__P256);
    if (strcmp(s, "P-384") == 0)
        return R_(TLSCONFIG__KEY_EXCHANGE_GROUP__P384);
    if (strcmp(s, "X25519_MLKEM768") == 0)
        return R_(TLSCONFIG__KEY_EXCHANGE_GROUP__X25519_MLKEM768);
    return R_(TLSCONFIG__KEY_EXCHANGE_GROUP__KEY_EXCHANGE_GROUP_UNSPECIFIED);
}

static void kx_groups(tr__pb_t *b, json_t *arr, const char *path, tr__notes_t *notes,
                      T_(TLSConfig__KeyExchangeGroup) * *out, size_t *n)
{
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        T_(TLSConfig__KeyExchangeGroup) gk = kx_group(json_string_value(s));
        if (!gk) {
            tr__note(notes, true, "%s.keyExchangeGroups[%zu]: unknown group", path, i);
            continue;
        }
        T_(TLSConfig__KeyExchangeGroup) *arr2 = krt_realloc(*out, (*n + 1) * sizeof *arr2);
        if (!arr2) {
            b->oom = true;
            return;
        }
        arr2[(*n)++] = gk;
        *out = arr2;
    }
}

static void set_bytes(tr__pb_t *b, ProtobufCBinaryData *d, const uint8_t *p, size_t n)
{
    d->data = krt_malloc(n ? n : 1);
    if (!d->data) {
        b->oom = true;
        d->len = 0;
        return;
    }
    if (n)
        memcpy(d->data, p, n);
    d->len = n;
}

static void *backend_tls(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, const char *path,
                         json_t *t, tr__pb_t *b, tr__notes_t *notes)
{
    T_(BackendPolicySpec__BackendTLS) *x = tr__pb_new(b, &D_(backend_policy_spec__backend_tls));
    if (!x)
        return NULL;
    size_t len;
    bool found;
    const char *mtls = tr__jstr(json_array_get(tr__jarr(t, "mtlsCertificateRef"), 0), "name");
    if (mtls) {
        uint8_t *crt =
            tr__object_value(ctx, g->in.secrets, ns, mtls, "tls.crt", &len, &found, &b->oom);
        size_t klen;
        uint8_t *key =
            tr__object_value(ctx, g->in.secrets, ns, mtls, "tls.key", &klen, &found, &b->oom);
        if (!crt || !key || !tr__pem_valid(crt, len, false) || !tr__pem_valid(key, klen, true)) {
            tr__note(notes, true, "%s.mtlsCertificateRef: Secret %s/%s %s", path, ns, mtls,
                     found ? "does not hold a PEM tls.crt and tls.key" : "not found");
        } else {
            x->_cert_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___CERT_CERT);
            set_bytes(b, &x->cert, crt, len);
            x->_key_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___KEY_KEY);
            set_bytes(b, &x->key, key, klen);
        }
        krt_free(crt);
        krt_free(key);
        uint8_t *ca =
            tr__object_value(ctx, g->in.secrets, ns, mtls, "ca.cert", &len, &found, &b->oom);
        if (ca) {
            x->_root_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___ROOT_ROOT);
            set_bytes(b, &x->root, ca, len);
        }
        krt_free(ca);
    }
    const char *cm = tr__jstr(json_array_get(tr__jarr(t, "caCertificateRefs"), 0), "name");
    if (cm) {
        /* takes priority over ca.cert; an unresolved CA is sent empty: it trusts nothing */
        uint8_t *ca =
            tr__object_value(ctx, g->in.config_maps, ns, cm, "ca.crt", &len, &found, &b->oom);
        if (!ca || !tr__pem_valid(ca, len, false)) {
            tr__note(notes, true, "%s.caCertificateRefs: ConfigMap %s/%s %s", path, ns, cm,
                     found ? "does not hold a PEM ca.crt" : "not found");
            len = 0;
        }
        if (x->_root_case)
            krt_free(x->root.data);
        x->_root_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___ROOT_ROOT);
        set_bytes(b, &x->root, ca, ca ? len : 0);
        krt_free(ca);
    }
    const char *insecure = tr__jstr(t, "insecureSkipVerify");
    if (insecure && strcmp(insecure, "All") == 0)
        x->verification = R_(BACKEND_POLICY_SPEC__BACKEND_TLS__VERIFICATION_MODE__INSECURE_ALL);
    else if (insecure && strcmp(insecure, "Hostname") == 0)
        x->verification = R_(BACKEND_POLICY_SPEC__BACKEND_TLS__VERIFICATION_MODE__INSECURE_HOST);
    else if (insecure)
        tr__note(notes, true, "%s.insecureSkipVerify: unknown mode \"%s\"", path, insecure);
    if (tr__jstr(t, "sni")) {
        x->_hostname_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___HOSTNAME_HOSTNAME);
        x->hostname = tr__pb_str(b, tr__jstr(t, "sni"));
    }
    strs(b, tr__jarr(t, "verifySubjectAltNames"), &x->verify_subject_alt_names,
         &x->n_verify_subject_alt_names);
    if (tr__jarr(t, "alpnProtocols")) {
        x->alpn = tr__pb_new(b, &D_(alpn));
        if (x->alpn)
            strs(b, tr__jarr(t, "alpnProtocols"), &x->alpn->protocols, &x->alpn->n_protocols);
    }
    kx_groups(b, tr__jarr(t, "keyExchangeGroups"), path, notes, &x->key_exchange_groups,
              &x->n_key_exchange_groups);
    return x;
}

static void *backend_auth(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, const char *path,
                          json_t *a, tr__pb_t *b, tr__notes_t *notes)
{
    T_(BackendAuthPolicy) *x = tr__pb_new(b, &D_(backend_auth_policy));
    if (!x)
        return NULL;
    const char *unsup[] = {"aws", "azure", "gcp"};
    for (int i = 0; i < 3; i++) {
        if (json_object_get(a, unsup[i])) {
            tr__note(notes, false, "%s.%s is not supported", path, unsup[i]);
            ir_pb_free((ProtobufCMessage *)x);
            return NULL;
        }
    }
    T_(AuthorizationLocation) *loc = auth_location(b, json_object_get(a, "location"));
    if (json_object_get(a, "passthrough")) {
        T_(Passthrough) *p = tr__pb_new(b, &D_(passthrough));
        if (p)
            p->authorization_location = loc;
        else
            ir_pb_free((ProtobufCMessage *)loc);
        x->kind_case = R_(BACKEND_AUTH_POLICY__KIND_PASSTHROUGH);
        x->passthrough = p;
        return x;
    }
    T_(Key) *k = tr__pb_new(b, &D_(key));
    if (!k) {
        ir_pb_free((ProtobufCMessage *)loc);
        return x;
    }
    k->authorization_location = loc;
    x->kind_case = R_(BACKEND_AUTH_POLICY__KIND_KEY);
    x->key = k;
    if (tr__jstr(a, "key")) {
        k->secret = tr__pb_str(b, tr__jstr(a, "key"));
    } else if (tr__jstr(a, "secretRef.name")) {
        const char *sn = tr__jstr(a, "secretRef.name");
        size_t len;
        bool found;
        char *v = (char *)tr__object_value(ctx, g->in.secrets, ns, sn, "Authorization", &len,
                                           &found, &b->oom);
        if (!v)
            tr__note(notes, true, "%s.secretRef: %s %s/%s", path,
                     found ? "no key Authorization in Secret" : "Secret not found:", ns, sn);
        /* trailing newlines from `kubectl create secret --from-file` are not part of the key */
        while (v && len && (v[len - 1] == '\n' || v[len - 1] == '\r'))
            v[--len] = '\0';
        k->secret = tr__pb_str(b, v ? v : "");
        krt_free(v);
    } else {
        tr__note(notes, true,
                 "%s: exactly one of key, secretRef, passthrough, aws, azure, gcp must be set",
                 path);
    }
    return x;
}

/* `fields` ([{field, value: any JSON}]) into a string map: the value as compact JSON text. */
static void field_values(tr__pb_t *b, const ProtobufCMessageDescriptor *d, json_t *arr, void ***out,
                         size_t *n)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        map_entry_t *x = tr__pb_new(b, d);
        if (!x)
            return;
        char *text = json_dumps(json_object_get(e, "value"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text && json_object_get(e, "value"))
            b->oom = true;
        x->key = tr__pb_str(b, tr__jstr_or(e, "field", ""));
        x->value = tr__pb_str(b, text ? text : "null");
        json_free_t jfree = free; /* jansson's: transformations build JSON in krt's tree heap */
        json_get_alloc_funcs(NULL, &jfree);
        jfree(text);
        tr__pb_push(b, out, n, x, true);
    }
}

static void messages(tr__pb_t *b, json_t *arr, T_(BackendPolicySpec__Ai__Message) * **out,
                     size_t *n)
{
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m)
    {
        T_(BackendPolicySpec__Ai__Message) *x =
            tr__pb_new(b, &D_(backend_policy_spec__ai__message));
        if (!x)
            return;
        x->role = tr__pb_str(b, tr__jstr_or(m, "role", ""));
        x->content = tr__pb_str(b, tr__jstr_or(m, "content", ""));
        tr__pb_push(b, (void ***)out, n, x, true);
    }
}

/* BackendAI: prompt enrichment, defaults/overrides, transformations, model aliases, prompt
 * caching and route types. Prompt guards are not translated. */
static void *ai_policy(tr__pb_t *b, const char *path, json_t *a, tr__notes_t *notes)
{
    static const char *const route_types[] = {
        "",          "Completions",         "Messages",   "Models",   "Passthrough",
        "Responses", "AnthropicTokenCount", "Embeddings", "Realtime", "Detect"};
    T_(BackendPolicySpec__Ai) *x = tr__pb_new(b, &D_(backend_policy_spec__ai));
    if (!x)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
        if (strcmp(k, "promptGuard") == 0 ||
            !known((const char *const[]){"prompt", "defaults", "overrides", "transformations",
                                         "modelAliases", "promptCaching", "routes", NULL},
                   k))
            tr__note(notes, false, "%s.%s is not supported", path, k);
    }
    json_t *pr = json_object_get(a, "prompt");
    if (pr && (x->prompts = tr__pb_new(b, &D_(backend_policy_spec__ai__prompt_enrichment)))) {
        messages(b, tr__jarr(pr, "append"), &x->prompts->append, &x->prompts->n_append);
        messages(b, tr__jarr(pr, "prepend"), &x->prompts->prepend, &x->prompts->n_prepend);
    }
    field_values(b, &D_(backend_policy_spec__ai__defaults_entry), tr__jarr(a, "defaults"),
                 (void ***)&x->defaults, &x->n_defaults);
    field_values(b, &D_(backend_policy_spec__ai__overrides_entry), tr__jarr(a, "overrides"),
                 (void ***)&x->overrides, &x->n_overrides);
    size_t i;
    json_t *e;
    json_array_foreach(tr__jarr(a, "transformations"), i, e)
    {
        map_entry_t *t = tr__pb_new(b, &D_(backend_policy_spec__ai__transformations_entry));
        if (!t)
            break;
        t->key = tr__pb_str(b, tr__jstr_or(e, "field", ""));
        t->value = tr__pb_str(b, tr__jstr_or(e, "expression", ""));
        tr__pb_push(b, (void ***)&x->transformations, &x->n_transformations, t, true);
    }
    map_into(b, &D_(backend_policy_spec__ai__model_aliases_entry),
             json_object_get(a, "modelAliases"), (void ***)&x->model_aliases, &x->n_model_aliases);
    json_t *pc = json_object_get(a, "promptCaching");
    if (pc && (x->prompt_caching = tr__pb_new(b, &D_(backend_policy_spec__ai__prompt_caching)))) {
        T_(BackendPolicySpec__Ai__PromptCaching) *c = x->prompt_caching;
        c->cache_system = tr__jbool(pc, "cacheSystem", true);
        c->cache_messages = tr__jbool(pc, "cacheMessages", true);
        c->cache_tools = tr__jbool(pc, "cacheTools", false);
        if (json_object_get(pc, "minTokens")) {
            json_int_t m = tr__jint(pc, "minTokens", 1024);
            c->_min_tokens_case =
                R_(BACKEND_POLICY_SPEC__AI__PROMPT_CACHING___MIN_TOKENS_MIN_TOKENS);
            c->min_tokens = m < 0 ? 0 : m > UINT32_MAX ? UINT32_MAX : (uint32_t)m;
        }
        if (json_object_get(pc, "cacheMessageOffset")) {
            json_int_t m = tr__jint(pc, "cacheMessageOffset", 0);
            c->_cache_message_offset_case = R_(
                BACKEND_POLICY_SPEC__AI__PROMPT_CACHING___CACHE_MESSAGE_OFFSET_CACHE_MESSAGE_OFFSET);
            c->cache_message_offset = m < 0 ? 0 : m > UINT32_MAX ? UINT32_MAX : (uint32_t)m;
        }
    }
    json_object_foreach(json_object_get(a, "routes"), k, v)
    {
        int rt = 0;
        for (int r = 1; r < 10; r++)
            if (json_string_value(v) && strcmp(json_string_value(v), route_types[r]) == 0)
                rt = r;
        if (!rt) {
            tr__note(notes, true, "%s.routes[%s]: unknown route type", path, k);
            continue;
        }
        T_(BackendPolicySpec__Ai__RoutesEntry) *re =
            tr__pb_new(b, &D_(backend_policy_spec__ai__routes_entry));
        if (!re)
            break;
        re->key = tr__pb_str(b, k);
        re->value = (T_(BackendPolicySpec__Ai__RouteType))rt;
        tr__pb_push(b, (void ***)&x->routes, &x->n_routes, re, true);
    }
    return x;
}

static const char *const backend_keys[] = {"tcp",    "tls",     "http", "tunnel",
                                           "auth",   "ai",      "mcp",  "transformation",
                                           "health", "extAuth", NULL};

void tr__agw_backend_section(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, const char *path,
                             json_t *sec, tr__pb_t *b, tr__feats_t *out, tr__notes_t *notes)
{
    const char *k;
    json_t *v;
    char p[160];
    json_object_foreach(sec, k, v)
    {
        if (!known(backend_keys, k))
            tr__note(notes, false, "%s.%s is not supported", path, k);
    }
#define BF(kc, feature, val)     \
    feat_add(b, out, 1, feature, \
             tr__pb_oneof(b, &D_(backend_policy_spec), R_(BACKEND_POLICY_SPEC__KIND_##kc), val))
    if ((v = json_object_get(sec, "tcp"))) {
        snprintf(p, sizeof p, "%s.tcp", path);
        T_(BackendPolicySpec__BackendTCP) *x = tr__pb_new(b, &D_(backend_policy_spec__backend_tcp));
        if (x) {
            x->keepalive = keepalive(b, json_object_get(v, "keepalive"), p, notes);
            x->connect_timeout = dur(b, v, "connectTimeout", p, notes);
        }
        BF(BACKEND_TCP, "backend-tcp", x);
    }
    if ((v = json_object_get(sec, "tls"))) {
        snprintf(p, sizeof p, "%s.tls", path);
        BF(BACKEND_TLS, "backend-tls", backend_tls(ctx, g, ns, p, v, b, notes));
    }
    if ((v = json_object_get(sec, "http"))) {
        snprintf(p, sizeof p, "%s.http", path);
        T_(BackendPolicySpec__BackendHTTP) *x =
            tr__pb_new(b, &D_(backend_policy_spec__backend_http));
        if (x) {
            const char *ver = tr__jstr_or(v, "version", "");
            x->version = strcmp(ver, "HTTP1") == 0
                             ? R_(BACKEND_POLICY_SPEC__BACKEND_HTTP__HTTP_VERSION__HTTP1)
                         : strcmp(ver, "HTTP2") == 0
                             ? R_(BACKEND_POLICY_SPEC__BACKEND_HTTP__HTTP_VERSION__HTTP2)
                             : R_(BACKEND_POLICY_SPEC__BACKEND_HTTP__HTTP_VERSION__UNSPECIFIED);
            x->request_timeout = dur(b, v, "requestTimeout", p, notes);
        }
        BF(BACKEND_HTTP, "backend-http", x);
    }
    if ((v = json_object_get(sec, "tunnel"))) {
        snprintf(p, sizeof p, "%s.tunnel", path);
        T_(BackendPolicySpec__BackendTunnel) *x =
            tr__pb_new(b, &D_(backend_policy_spec__backend_tunnel));
        if (x)
            x->proxy =
                tr__agw_backend_ref(ctx, g, ns, p, json_object_get(v, "backendRef"), b, notes);
        BF(BACKEND_TUNNEL, "tunnel", x);
    }
    if ((v = json_object_get(sec, "auth"))) {
        snprintf(p, sizeof p, "%s.auth", path);
        BF(AUTH, "auth", backend_auth(ctx, g, ns, p, v, b, notes));
    }
    if ((v = json_object_get(sec, "ai"))) {
        snprintf(p, sizeof p, "%s.ai", path);
        BF(AI, "ai", ai_policy(b, p, v, notes));
    }
    if ((v = json_object_get(sec, "mcp"))) {
        const char *mk;
        json_t *mv;
        json_object_foreach(v, mk, mv)
        {
            if (strcmp(mk, "authorization") != 0)
                tr__note(notes, false, "%s.mcp.%s is not supported", path, mk);
        }
        if ((mv = json_object_get(v, "authorization"))) {
            snprintf(p, sizeof p, "%s.mcp.authorization", path);
            T_(BackendPolicySpec__McpAuthorization) *x =
                tr__pb_new(b, &D_(backend_policy_spec__mcp_authorization));
            if (x)
                authz_lists(b, mv, p, notes, &x->allow, &x->n_allow, &x->deny, &x->n_deny,
                            &x->require, &x->n_require);
            BF(MCP_AUTHORIZATION, "mcp-authorization", x);
        }
    }
    if ((v = json_object_get(sec, "transformation")))
        BF(TRANSFORMATION, "transformation", transformation(b, v));
    if ((v = json_object_get(sec, "health"))) {
        snprintf(p, sizeof p, "%s.health", path);
        T_(BackendPolicySpec__Health) *x = tr__pb_new(b, &D_(backend_policy_spec__health));
        if (x) {
            x->unhealthy_condition = tr__pb_str(b, tr__jstr_or(v, "unhealthyCondition", ""));
            json_t *ev = json_object_get(v, "eviction");
            if (ev && (x->eviction = tr__pb_new(b, &D_(backend_policy_spec__eviction)))) {
                T_(BackendPolicySpec__Eviction) *e = x->eviction;
                e->duration = dur(b, ev, "duration", p, notes);
                if (json_object_get(ev, "restoreHealth")) {
                    e->_restore_health_case =
                        R_(BACKEND_POLICY_SPEC__EVICTION___RESTORE_HEALTH_RESTORE_HEALTH);
                    e->restore_health = (double)tr__jint(ev, "restoreHealth", 0) / 100.0;
                }
                if (json_object_get(ev, "consecutiveFailures")) {
                    e->_consecutive_failures_case = R_(
                        BACKEND_POLICY_SPEC__EVICTION___CONSECUTIVE_FAILURES_CONSECUTIVE_FAILURES);
                    e->consecutive_failures = (int32_t)tr__jint(ev, "consecutiveFailures", 0);
                }
                if (json_object_get(ev, "healthThreshold")) {
                    e->_health_threshold_case =
                        R_(BACKEND_POLICY_SPEC__EVICTION___HEALTH_THRESHOLD_HEALTH_THRESHOLD);
                    e->health_threshold = (double)tr__jint(ev, "healthThreshold", 0) / 100.0;
                }
            }
        }
        BF(HEALTH, "health", x);
    }
    if ((v = json_object_get(sec, "extAuth"))) {
        snprintf(p, sizeof p, "%s.extAuth", path);
        BF(EXT_AUTHZ, "extauth", ext_auth(ctx, g, ns, p, v, b, notes));
    }
#undef BF
}

/* ---------------------------------------------------------------------------------------------
 * Frontend.
 * ------------------------------------------------------------------------------------------- */
static T_(TLSConfig__TLSVersion) tls_version(const char *s)
{
    if (s && strcmp(s, "1.2") == 0)
        return R_(TLSCONFIG__TLSVERSION__TLS_V1_2);
    if (s && strcmp(s, "1.3") == 0)
        return R_(TLSCONFIG__TLSVERSION__TLS_V1_3);
    return R_(TLSCONFIG__TLSVERSION__TLS_VERSION_UNSPECIFIED);
}

static const char *const cipher_names[] = {NULL,
                                           "TLS13_AES_256_GCM_SHA384",
                                           "TLS13_AES_128_GCM_SHA256",
                                           "TLS13_CHACHA20_POLY1305_SHA256",
                                           "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                           "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                                           "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                                           "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                           "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                           "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"};

/* An optional uint32 from a byte quantity. */
#define OPT_BYTES(x, field, CASE, obj, key)                                           \
    do {                                                                              \
        json_t *q_ = json_object_get(obj, key);                                       \
        uint64_t n_;                                                                  \
        if (q_ && quantity(q_, &n_)) {                                                \
            (x)->_##field##_case = R_(CASE);                                          \
            (x)->field = (uint32_t)n_;                                                \
        } else if (q_) {                                                              \
            tr__note(notes, true, "spec.frontend.http.%s: not a byte quantity", key); \
        }                                                                             \
    } while (0)

static void *frontend_http(tr__pb_t *b, json_t *h, tr__notes_t *notes)
{
    const char *p = "spec.frontend.http";
    T_(FrontendPolicySpec__HTTP) *x = tr__pb_new(b, &D_(frontend_policy_spec__http));
    if (!x)
        return NULL;
    OPT_BYTES(x, max_buffer_size, FRONTEND_POLICY_SPEC__HTTP___MAX_BUFFER_SIZE_MAX_BUFFER_SIZE, h,
              "maxBufferSize");
    if (json_object_get(h, "http1MaxHeaders")) {
        x->_http1_max_headers_case =
            R_(FRONTEND_POLICY_SPEC__HTTP___HTTP1_MAX_HEADERS_HTTP1_MAX_HEADERS);
        json_int_t n = tr__jint(h, "http1MaxHeaders", 100);
        x->http1_max_headers = n < 0 ? 0 : (uint32_t)n;
    }
    x->http1_idle_timeout = dur(b, h, "http1IdleTimeout", p, notes);
    OPT_BYTES(x, http2_window_size,
              FRONTEND_POLICY_SPEC__HTTP___HTTP2_WINDOW_SIZE_HTTP2_WINDOW_SIZE, h,
              "http2WindowSize");
    OPT_BYTES(
        x, http2_connection_window_size,
        FRONTEND_POLICY_SPEC__HTTP___HTTP2_CONNECTION_WINDOW_SIZE_HTTP2_CONNECTION_WINDOW_SIZE, h,
        "http2ConnectionWindowSize");
    OPT_BYTES(x, http2_frame_size, FRONTEND_POLICY_SPEC__HTTP___HTTP2_FRAME_SIZE_HTTP2_FRAME_SIZE,
              h, "http2FrameSize");
    OPT_BYTES(x, http2_max_header_size,
              FRONTEND_POLICY_SPEC__HTTP___HTTP2_MAX_HEADER_SIZE_HTTP2_MAX_HEADER_SIZE, h,
              "http2MaxHeaderSize");
    x->http2_keepalive_interval = dur(b, h, "http2KeepaliveInterval", p, notes);
    x->http2_keepalive_timeout = dur(b, h, "http2KeepaliveTimeout", p, notes);
    x->max_connection_duration = dur(b, h, "maxConnectionDuration", p, notes);
    if (strcmp(tr__jstr_or(h, "http1HeaderCase", "Lowercase"), "Preserve") == 0)
        x->http1_header_case = R_(FRONTEND_POLICY_SPEC__HTTP__HTTPHEADER_CASE__PRESERVE);
    return x;
}

static void *frontend_tls(tr__pb_t *b, json_t *t, tr__notes_t *notes)
{
    const char *p = "spec.frontend.tls";
    T_(FrontendPolicySpec__TLS) *x = tr__pb_new(b, &D_(frontend_policy_spec__tls));
    if (!x)
        return NULL;
    x->handshake_timeout = dur(b, t, "handshakeTimeout", p, notes);
    if (tr__jarr(t, "alpnProtocols")) {
        x->alpn = tr__pb_new(b, &D_(alpn));
        if (x->alpn)
            strs(b, tr__jarr(t, "alpnProtocols"), &x->alpn->protocols, &x->alpn->n_protocols);
    }
    if (tr__jstr(t, "minProtocolVersion")) {
        x->_min_version_case = R_(FRONTEND_POLICY_SPEC__TLS___MIN_VERSION_MIN_VERSION);
        x->min_version = tls_version(tr__jstr(t, "minProtocolVersion"));
    }
    if (tr__jstr(t, "maxProtocolVersion")) {
        x->_max_version_case = R_(FRONTEND_POLICY_SPEC__TLS___MAX_VERSION_MAX_VERSION);
        x->max_version = tls_version(tr__jstr(t, "maxProtocolVersion"));
    }
    size_t i;
    json_t *c;
    json_array_foreach(tr__jarr(t, "cipherSuites"), i, c)
    {
        int found = 0;
        for (int k = 1; k < 10; k++)
            if (json_string_value(c) && strcmp(json_string_value(c), cipher_names[k]) == 0)
                found = k;
        if (!found) {
            tr__note(notes, true, "%s.cipherSuites[%zu]: unknown cipher suite", p, i);
            continue;
        }
        T_(TLSConfig__CipherSuite) *arr =
            krt_realloc(x->cipher_suites, (x->n_cipher_suites + 1) * sizeof *arr);
        if (!arr) {
            b->oom = true;
            break;
        }
        arr[x->n_cipher_suites++] = (T_(TLSConfig__CipherSuite))found;
        x->cipher_suites = arr;
    }
    kx_groups(b, tr__jarr(t, "keyExchangeGroups"), p, notes, &x->key_exchange_groups,
              &x->n_key_exchange_groups);
    return x;
}

static void frontend_section(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *f,
                             tr__pb_t *b, tr__feats_t *out, tr__notes_t *notes)
{
    static const char *const keys[] = {"tcp",           "networkAuthorization",
                                       "tls",           "http",
                                       "proxyProtocol", "connect",
                                       "accessLog",     "tracing",
                                       "metrics",       NULL};
    const char *k;
    json_t *v;
    json_object_foreach(f, k, v)
    {
        if (!known(keys, k))
            tr__note(notes, false, "spec.frontend.%s is not supported", k);
    }
#define FF(kc, feature, val)     \
    feat_add(b, out, 2, feature, \
             tr__pb_oneof(b, &D_(frontend_policy_spec), R_(FRONTEND_POLICY_SPEC__KIND_##kc), val))
    if ((v = json_object_get(f, "tcp"))) {
        T_(FrontendPolicySpec__TCP) *x = tr__pb_new(b, &D_(frontend_policy_spec__tcp));
        if (x)
            x->keepalives =
                keepalive(b, json_object_get(v, "keepalive"), "spec.frontend.tcp.keepalive", notes);
        FF(TCP, "frontend-tcp", x);
    }
    if ((v = json_object_get(f, "tls")))
        FF(TLS, "frontend-tls", frontend_tls(b, v, notes));
    if ((v = json_object_get(f, "http")))
        FF(HTTP, "frontend-http", frontend_http(b, v, notes));
    if ((v = json_object_get(f, "networkAuthorization"))) {
        T_(FrontendPolicySpec__NetworkAuthorization) *x =
            tr__pb_new(b, &D_(frontend_policy_spec__network_authorization));
        if (x)
            authz_lists(b, v, "spec.frontend.networkAuthorization", notes, &x->allow, &x->n_allow,
                        &x->deny, &x->n_deny, &x->require, &x->n_require);
        FF(NETWORK_AUTHORIZATION, "frontend-network-authorization", x);
    }
    if ((v = json_object_get(f, "proxyProtocol"))) {
        T_(FrontendPolicySpec__ProxyProtocol) *x =
            tr__pb_new(b, &D_(frontend_policy_spec__proxy_protocol));
        if (x) {
            const char *ver = tr__jstr_or(v, "version", "V2");
            x->version =
                strcmp(ver, "V1") == 0    ? R_(FRONTEND_POLICY_SPEC__PROXY_PROTOCOL__VERSION__V1)
                : strcmp(ver, "All") == 0 ? R_(FRONTEND_POLICY_SPEC__PROXY_PROTOCOL__VERSION__ALL)
                                          : R_(FRONTEND_POLICY_SPEC__PROXY_PROTOCOL__VERSION__V2);
            x->mode = strcmp(tr__jstr_or(v, "mode", "Strict"), "Optional") == 0
                          ? R_(FRONTEND_POLICY_SPEC__PROXY_PROTOCOL__MODE__OPTIONAL)
                          : R_(FRONTEND_POLICY_SPEC__PROXY_PROTOCOL__MODE__STRICT);
        }
        FF(PROXY_PROTOCOL, "frontend-proxy-protocol", x);
    }
    if ((v = json_object_get(f, "connect"))) {
        T_(FrontendPolicySpec__Connect) *x = tr__pb_new(b, &D_(frontend_policy_spec__connect));
        if (x) {
            const char *m = tr__jstr_or(v, "mode", "Deny");
            x->mode = strcmp(m, "Route") == 0    ? R_(FRONTEND_POLICY_SPEC__CONNECT__MODE__ROUTE)
                      : strcmp(m, "Tunnel") == 0 ? R_(FRONTEND_POLICY_SPEC__CONNECT__MODE__TUNNEL)
                                                 : R_(FRONTEND_POLICY_SPEC__CONNECT__MODE__DENY);
        }
        FF(CONNECT, "frontend-connect", x);
    }
    if ((v = json_object_get(f, "accessLog"))) {
        T_(FrontendPolicySpec__Logging) *x = tr__pb_new(b, &D_(frontend_policy_spec__logging));
        if (x) {
            if (tr__jstr(v, "filter")) {
                x->_filter_case = R_(FRONTEND_POLICY_SPEC__LOGGING___FILTER_FILTER);
                x->filter = tr__pb_str(b, tr__jstr(v, "filter"));
            }
            json_t *attrs = json_object_get(v, "attributes");
            if (attrs && (x->fields = tr__pb_new(b, &D_(frontend_policy_spec__logging__fields)))) {
                strs(b, tr__jarr(attrs, "remove"), &x->fields->remove, &x->fields->n_remove);
                size_t i;
                json_t *a;
                json_array_foreach(tr__jarr(attrs, "add"), i, a)
                {
                    T_(FrontendPolicySpec__Logging__Field) *fl =
                        tr__pb_new(b, &D_(frontend_policy_spec__logging__field));
                    if (!fl)
                        break;
                    fl->name = tr__pb_str(b, tr__jstr_or(a, "name", ""));
                    fl->expression = tr__pb_str(b, tr__jstr_or(a, "expression", ""));
                    tr__pb_push(b, (void ***)&x->fields->add, &x->fields->n_add, fl, true);
                }
            }
            if (json_object_get(v, "otlp"))
                tr__note(notes, false, "spec.frontend.accessLog.otlp is not supported");
        }
        FF(LOGGING, "frontend-access-log", x);
    }
    if ((v = json_object_get(f, "tracing"))) {
        T_(FrontendPolicySpec__Tracing) *x = tr__pb_new(b, &D_(frontend_policy_spec__tracing));
        if (x) {
            x->provider_backend = tr__agw_backend_ref(ctx, g, ns, "spec.frontend.tracing",
                                                      json_object_get(v, "backendRef"), b, notes);
            x->protocol = strcmp(tr__jstr_or(v, "protocol", "GRPC"), "HTTP") == 0
                              ? R_(FRONTEND_POLICY_SPEC__TRACING__PROTOCOL__HTTP)
                              : R_(FRONTEND_POLICY_SPEC__TRACING__PROTOCOL__GRPC);
            if (tr__jstr(v, "path")) {
                x->_path_case = R_(FRONTEND_POLICY_SPEC__TRACING___PATH_PATH);
                x->path = tr__pb_str(b, tr__jstr(v, "path"));
            }
            if (tr__jstr(v, "randomSampling")) {
                x->_random_sampling_case =
                    R_(FRONTEND_POLICY_SPEC__TRACING___RANDOM_SAMPLING_RANDOM_SAMPLING);
                x->random_sampling = tr__pb_str(b, tr__jstr(v, "randomSampling"));
            }
            if (tr__jstr(v, "clientSampling")) {
                x->_client_sampling_case =
                    R_(FRONTEND_POLICY_SPEC__TRACING___CLIENT_SAMPLING_CLIENT_SAMPLING);
                x->client_sampling = tr__pb_str(b, tr__jstr(v, "clientSampling"));
            }
            strs(b, tr__jarr(v, "attributes.remove"), &x->remove, &x->n_remove);
            const char *lists[2] = {"attributes.add", "resources"};
            for (int l = 0; l < 2; l++) {
                size_t i;
                json_t *a;
                json_array_foreach(tr__jarr(v, lists[l]), i, a)
                {
                    T_(FrontendPolicySpec__TracingAttribute) *ta =
                        tr__pb_new(b, &D_(frontend_policy_spec__tracing_attribute));
                    if (!ta)
                        break;
                    ta->name = tr__pb_str(b, tr__jstr_or(a, "name", ""));
                    ta->value = tr__pb_str(b, tr__jstr_or(a, "expression", ""));
                    if (l == 0)
                        tr__pb_push(b, (void ***)&x->attributes, &x->n_attributes, ta, true);
                    else
                        tr__pb_push(b, (void ***)&x->resources, &x->n_resources, ta, true);
                }
            }
        }
        FF(TRACING, "frontend-tracing", x);
    }
    if ((v = json_object_get(f, "metrics"))) {
        T_(FrontendPolicySpec__Metrics) *x = tr__pb_new(b, &D_(frontend_policy_spec__metrics));
        if (x && (x->fields = tr__pb_new(b, &D_(frontend_policy_spec__metrics__fields)))) {
            size_t i;
            json_t *a;
            json_array_foreach(tr__jarr(v, "attributes.add"), i, a)
            {
                T_(FrontendPolicySpec__Metrics__Field) *fl =
                    tr__pb_new(b, &D_(frontend_policy_spec__metrics__field));
                if (!fl)
                    break;
                fl->name = tr__pb_str(b, tr__jstr_or(a, "name", ""));
                fl->expression = tr__pb_str(b, tr__jstr_or(a, "expression", ""));
                tr__pb_push(b, (void ***)&x->fields->add, &x->fields->n_add, fl, true);
            }
        }
        FF(METRICS, "frontend-metrics", x);
    }
#undef FF
}

/* ---------------------------------------------------------------------------------------------
 * Targets.
 * ------------------------------------------------------------------------------------------- */
typedef struct target {
    const char *kind; /* borrowed from the policy */
    char name[256];
    const char *section;   /* NULL when none */
    T_(PolicyTarget) * pt; /* owned */
    char *attachment;      /* owned */
    json_t *gateways;      /* owned: "ns/gw" strings */
    json_t *ancestor;      /* owned: the ancestorRef used when no Gateway is reached */
    const char *problem;   /* why it is not attached (static or in msg) */
    char msg[256];
    bool invalid; /* the target itself is unusable (kind, section rules) */
} target_t;

static bool numeric(const char *s, uint32_t *out)
{
    if (!s || !*s)
        return false;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > 65535)
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    *out = (uint32_t)v;
    return v > 0 && v < 65536;
}

static void target_problem(target_t *t, bool invalid, const char *fmt, const char *a)
{
    t->invalid = invalid;
    int n = snprintf(t->msg, sizeof t->msg, fmt, a);
    if (n >= (int)sizeof t->msg) /* a long name: say the message was cut */
        memcpy(t->msg + sizeof t->msg - 4, "...", 4);
}

/* The target's Gateways become those whose Routes send to |rkey| (a route-refs index key; takes
 * it, NULL when out of memory). */
static void target_reached_by_routes(krt_ctx_t *ctx, const tr_graph_t *g, target_t *t, char *rkey,
                                     tr__pb_t *b)
{
    json_t *gws = rkey ? tr__gateways_reaching(ctx, g, rkey, false) : NULL;
    krt_free(rkey);
    if (gws) {
        json_decref(t->gateways);
        t->gateways = gws;
    } else {
        b->oom = true;
    }
}

/* Resolves one target of kind |t->kind| named |t->name| in |ns|. */
static void target_resolve(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, json_t *spec,
                           target_t *t, tr__pb_t *b)
{
    const char *kind = t->kind;
    bool has_traffic = json_object_get(spec, "traffic") != NULL;
    bool has_frontend = json_object_get(spec, "frontend") != NULL;
    bool pre = strcmp(tr__jstr_or(spec, "traffic.phase", ""), "PreRouting") == 0;
    t->gateways = json_array();
    t->pt = tr__pb_new(b, &D_(policy_target));
    if (!t->gateways || !t->pt) {
        b->oom = true;
        return;
    }
    const char *group = strcmp(kind, "Service") == 0               ? ""
                        : strcmp(kind, "AgentgatewayBackend") == 0 ? TR_AGW_GROUP
                        : strcmp(kind, "InferencePool") == 0       ? "inference.networking.k8s.io"
                                                                   : TR_GW_GROUP;
    t->ancestor = json_pack("{s:s, s:s, s:s, s:s}", "group", group, "kind", kind, "name", t->name,
                            "namespace", ns);
    if (!t->ancestor)
        b->oom = true;
    if (!t->name[0]) {
        target_problem(t, true, "a target of kind %s has no name", *kind ? kind : "\"\"");
        return;
    }
    if (has_frontend && (strcmp(kind, "Gateway") != 0 || t->section)) {
        target_problem(t, true,
                       "the 'frontend' field can only target a Gateway (without "
                       "sectionName)%s",
                       "");
        return;
    }
    if (has_traffic && (strcmp(kind, "Service") == 0 || strcmp(kind, "AgentgatewayBackend") == 0)) {
        target_problem(t, true,
                       "the 'traffic' field can only target a Gateway, ListenerSet, GRPCRoute, "
                       "HTTPRoute, or InferencePool, not a %s",
                       kind);
        return;
    }
    if (pre && strcmp(kind, "Gateway") != 0 && strcmp(kind, "ListenerSet") != 0) {
        target_problem(t, true,
                       "the 'traffic.phase=PreRouting' field can only target a Gateway or "
                       "ListenerSet, not a %s",
                       kind);
        return;
    }
    if (strcmp(kind, "Gateway") == 0) {
        T_(PolicyTarget__GatewayTarget) *x = tr__pb_new(b, &D_(policy_target__gateway_target));
        if (!x)
            return;
        x->name = tr__pb_str(b, t->name);
        x->namespace_ = tr__pb_str(b, ns);
        t->pt->kind_case = R_(POLICY_TARGET__KIND_GATEWAY);
        t->pt->gateway = x;
        char *gw = tr__fmt("%s/%s", ns, t->name);
        if (!gw) {
            b->oom = true;
            return;
        }
        const krt_obj_t *const *recs;
        size_t n = krt_fetch_index(ctx, g->records_own, gw, &recs);
        uint32_t port;
        if (t->section && numeric(t->section, &port)) {
            x->_port_case = R_(POLICY_TARGET__GATEWAY_TARGET___PORT_PORT);
            x->port = port;
            t->attachment = ir_key_attachment_port(ns, t->name, port);
        } else {
            if (t->section) {
                x->_listener_case = R_(POLICY_TARGET__GATEWAY_TARGET___LISTENER_LISTENER);
                x->listener = tr__pb_str(b, t->section);
                bool found = false;
                for (size_t i = 0; i < n; i++)
                    if (strcmp(tr__jstr_or(tr__rec_json(recs[i]), "name", ""), t->section) == 0)
                        found = true;
                if (n && !found)
                    target_problem(t, false, "Gateway has no listener named %s", t->section);
            }
            t->attachment = ir_key_attachment(ns, t->name, t->section);
        }
        if (!t->attachment)
            b->oom = true;
        if (n == 0 && !tr__gateway_ours(ctx, g, gw)) /* (n == 0: maybe only ListenerSets') */
            target_problem(t, false, "Gateway %s not found or not of our GatewayClass", gw);
        else if (json_array_append_new(t->gateways, tr__jstring(gw)))
            b->oom = true;
        krt_free(gw);
        return;
    }
    if (strcmp(kind, "HTTPRoute") == 0 || strcmp(kind, "GRPCRoute") == 0) {
        const tr__rk_t *rk = &g->rk[strcmp(kind, "HTTPRoute") == 0 ? TR_RK_HTTP : TR_RK_GRPC];
        T_(PolicyTarget__RouteTarget) *x = tr__pb_new(b, &D_(policy_target__route_target));
        if (!x)
            return;
        x->name = tr__pb_str(b, t->name);
        x->namespace_ = tr__pb_str(b, ns);
        x->kind = tr__pb_str(b, kind);
        if (t->section) {
            x->_route_rule_case = R_(POLICY_TARGET__ROUTE_TARGET___ROUTE_RULE_ROUTE_RULE);
            x->route_rule = tr__pb_str(b, t->section);
        }
        t->pt->kind_case = R_(POLICY_TARGET__KIND_ROUTE);
        t->pt->route = x;
        t->attachment = ir_key_attachment(ns, t->name, t->section);
        char *key = tr__fmt("%s/%s", ns, t->name);
        if (!key)
            b->oom = true;
        const krt_obj_t *bo = key ? krt_fetch_key(ctx, rk->bindings, key) : NULL;
        krt_free(key);
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(bo ? tr__rec_json(bo) : NULL, "parents"), i, p)
        {
            if (!tr__jbool(p, "accepted", false))
                continue;
            const char *gw = tr__jstr_or(p, "gateway", "");
            bool seen = false;
            size_t j;
            json_t *s;
            json_array_foreach(t->gateways, j, s) seen |= strcmp(json_string_value(s), gw) == 0;
            if (!seen && json_array_append_new(t->gateways, tr__jstring(gw)))
                b->oom = true;
        }
        if (!t->attachment)
            b->oom = true;
        if (json_array_size(t->gateways) == 0)
            target_problem(t, false, "%s is not attached to any Gateway of ours", kind);
        return;
    }
    if (strcmp(kind, "Service") == 0) {
        T_(PolicyTarget__ServiceTarget) *x = tr__pb_new(b, &D_(policy_target__service_target));
        char *host = ir_hostname_service(t->name, ns, g->domain);
        if (!x || !host) {
            b->oom = true;
            ir_pb_free((ProtobufCMessage *)x);
            krt_free(host);
            return;
        }
        x->namespace_ = tr__pb_str(b, ns);
        x->hostname = tr__pb_str(b, host);
        uint32_t port = 0;
        if (t->section && !numeric(t->section, &port)) {
            target_problem(t, true, "a Service sectionName must be a port number, not %s",
                           t->section);
        } else if (t->section) {
            x->_port_case = R_(POLICY_TARGET__SERVICE_TARGET___PORT_PORT);
            x->port = port;
        }
        t->pt->kind_case = R_(POLICY_TARGET__KIND_SERVICE);
        t->pt->service = x;
        t->attachment = ir_key_attachment(ns, host, t->section);
        target_reached_by_routes(ctx, g, t, tr__fmt("service/%s/%s", ns, host), b);
        krt_free(host);
        if (!t->attachment)
            b->oom = true;
        if (json_array_size(t->gateways) == 0 && !t->invalid)
            target_problem(t, false, "no Route of ours sends to Service %s", t->name);
        return;
    }
    if (strcmp(kind, "AgentgatewayBackend") == 0) {
        T_(PolicyTarget__BackendTarget) *x = tr__pb_new(b, &D_(policy_target__backend_target));
        if (!x)
            return;
        x->name = tr__pb_str(b, t->name);
        x->namespace_ = tr__pb_str(b, ns);
        if (t->section) {
            x->_section_case = R_(POLICY_TARGET__BACKEND_TARGET___SECTION_SECTION);
            x->section = tr__pb_str(b, t->section);
        }
        t->pt->kind_case = R_(POLICY_TARGET__KIND_BACKEND);
        t->pt->backend = x;
        t->attachment = ir_key_attachment(ns, t->name, t->section);
        target_reached_by_routes(ctx, g, t, tr__fmt("backend/%s/%s", ns, t->name), b);
        if (!t->attachment)
            b->oom = true;
        if (json_array_size(t->gateways) == 0)
            target_problem(t, false, "no Route of ours sends to AgentgatewayBackend %s", t->name);
        return;
    }
    if (strcmp(kind, "ListenerSet") == 0) {
        /* the set's listeners (all, or the one named by sectionName); sent to its Gateway */
        T_(PolicyTarget__ListenerSetTarget) *x =
            tr__pb_new(b, &D_(policy_target__listener_set_target));
        if (!x)
            return;
        x->name = tr__pb_str(b, t->name);
        x->namespace_ = tr__pb_str(b, ns);
        if (t->section) {
            x->_section_case = R_(POLICY_TARGET__LISTENER_SET_TARGET___SECTION_SECTION);
            x->section = tr__pb_str(b, t->section);
        }
        t->pt->kind_case = R_(POLICY_TARGET__KIND_LISTENER_SET);
        t->pt->listener_set = x;
        t->attachment = ir_key_attachment(ns, t->name, t->section);
        char *key = tr__fmt("%s/%s", ns, t->name);
        if (!key || !t->attachment) {
            krt_free(key);
            b->oom = true;
            return;
        }
        const krt_obj_t *const *recs;
        size_t n = krt_fetch_index(ctx, g->records_by_ls, key, &recs);
        bool found = !t->section;
        for (size_t i = 0; i < n; i++)
            if (t->section &&
                strcmp(tr__jstr_or(tr__rec_json(recs[i]), "name", ""), t->section) == 0)
                found = true;
        if (n == 0)
            target_problem(t, false,
                           "ListenerSet %s not found or not admitted by a Gateway of ours", key);
        else if (!found)
            target_problem(t, false, "ListenerSet has no listener named %s", t->section);
        else if (json_array_append_new(
                     t->gateways, tr__jstring(tr__jstr_or(tr__rec_json(recs[0]), "gateway", ""))))
            b->oom = true;
        krt_free(key);
        return;
    }
    if (strcmp(kind, "InferencePool") == 0) {
        target_problem(t, true, "targets of kind %s are not supported by krtgate", kind);
        return;
    }
    target_problem(t, true, "unknown target kind %s", kind);
}

/* Two targetRefs naming the same thing would emit the same keys twice: the first one counts. */
static bool target_seen(const target_t *ts, size_t n, const char *kind, const char *name,
                        const char *section)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ts[i].kind, kind) == 0 && strcmp(ts[i].name, name) == 0 &&
            (ts[i].section == section ||
             (ts[i].section && section && strcmp(ts[i].section, section) == 0)))
            return true;
    return false;
}

static void target_dispose(target_t *t)
{
    ir_pb_free((ProtobufCMessage *)t->pt);
    krt_free(t->attachment);
    json_decref(t->gateways);
    json_decref(t->ancestor);
}

/* ---------------------------------------------------------------------------------------------
 * Status.
 * ------------------------------------------------------------------------------------------- */
static void join_notes(char *buf, size_t cap, size_t off, json_t *arr)
{
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m)
    {
        if (off >= cap)
            return;
        off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? "; " : "", json_string_value(m));
    }
}

static json_t *ancestor_entry(const tr_graph_t *g, json_t *ref, json_int_t gen, bool accepted,
                              const char *areason, const char *amsg, bool attached,
                              const char *treason, const char *tmsg)
{
    json_t *conds = json_array();
    if (!conds || !tr__cond_add(conds, tr__cond("Accepted", accepted, areason, amsg)) ||
        !tr__cond_add(conds, tr__cond("Attached", attached, treason, tmsg))) {
        json_decref(conds);
        return NULL;
    }
    json_t *fin = tr__conds_final(conds, gen);
    json_decref(conds);
    return fin ? json_pack("{s:O, s:s, s:o}", "ancestorRef", ref, "controllerName", g->controller,
                           "conditions", fin)
               : NULL;
}

static json_t *gateway_ref(const char *gw)
{
    const char *slash = strchr(gw, '/');
    if (!slash)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s#}", "group", TR_GW_GROUP, "kind", "Gateway", "name",
                     slash + 1, "namespace", gw, (int)(slash - gw));
}

/* ---------------------------------------------------------------------------------------------
 * The transformation.
 * ------------------------------------------------------------------------------------------- */
#define MAX_TARGETS 64

/* section 3 is a traffic field's conditional form: keyed like traffic */
static const char *const section_names[4] = {"traffic", "backend", "frontend", "traffic"};

int tr__agw_policy_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    json_t *spec = json_object_get(v, "spec");
    const char *ns = krt_json_namespace(in), *name = krt_json_name(in);
    if (!ns || !*ns)
        ns = "default";
    json_int_t gen = tr__generation(in);
    tr__notes_t notes = {json_array(), json_array(), false};
    tr__pb_t b = {0};
    tr__feats_t feats = {0};
    target_t *targets = krt_calloc(MAX_TARGETS, sizeof *targets);
    size_t nt = 0;
    json_t *ancestors = json_array();
    int rc = KRT_OK;
    if (!notes.invalid || !notes.unsupported || !targets || !ancestors) {
        rc = KRT_ENOMEM;
        goto done;
    }

    /* the spec's own rules */
    json_t *refs = tr__jarr(spec, "targetRefs"), *sels = tr__jarr(spec, "targetSelectors");
    if ((refs != NULL) == (sels != NULL))
        tr__note(&notes, true, "spec: exactly one of targetRefs and targetSelectors must be set");
    if (!json_object_get(spec, "traffic") && !json_object_get(spec, "frontend") &&
        !json_object_get(spec, "backend"))
        tr__note(&notes, true, "spec: at least one of traffic, frontend, or backend is required");
    const char *inh = tr__jstr_or(spec, "strategy.inheritance", "Default");
    if (json_object_get(spec, "strategy") && strcmp(inh, "Default") != 0 &&
        strcmp(inh, "Override") != 0)
        tr__note(&notes, true, "spec.strategy.inheritance: unknown value \"%s\"", inh);

    /* Problems so far are structural: they stop the policy as a whole. Problems found in a
     * feature stop nothing: the feature is still sent, failing closed (see the top). */
    size_t n_structural = json_array_size(notes.invalid);
    bool mixed = false;

    /* features */
    if (json_object_get(spec, "traffic"))
        traffic_section(ctx, g, ns, json_object_get(spec, "traffic"), &b, &feats, &notes);
    if (json_object_get(spec, "backend"))
        tr__agw_backend_section(ctx, g, ns, "spec.backend", json_object_get(spec, "backend"), &b,
                                &feats, &notes);
    if (json_object_get(spec, "frontend"))
        frontend_section(ctx, g, ns, json_object_get(spec, "frontend"), &b, &feats, &notes);

    /* targets */
    size_t i;
    json_t *r;
    const char *first_kind = NULL;
    json_array_foreach(refs ? refs : sels, i, r)
    {
        const char *kind = tr__jstr_or(r, "kind", "");
        if (!first_kind)
            first_kind = kind;
        else if (strcmp(first_kind, kind) != 0 && !mixed) {
            mixed = true;
            tr__note(&notes, true, "spec.targetRefs: only one kind of target may be set");
        }
        if (refs) {
            if (nt == MAX_TARGETS)
                break;
            if (target_seen(targets, nt, kind, tr__jstr_or(r, "name", ""),
                            tr__jstr(r, "sectionName")))
                continue;
            target_t *t = &targets[nt++];
            t->kind = kind;
            snprintf(t->name, sizeof t->name, "%s", tr__jstr_or(r, "name", ""));
            t->section = tr__jstr(r, "sectionName");
            target_resolve(ctx, g, ns, spec, t, &b);
            continue;
        }
        /* a selector: objects of that kind in the policy's namespace with those labels */
        krt_collection_t *src = strcmp(kind, "Gateway") == 0               ? g->in.gateways
                                : strcmp(kind, "HTTPRoute") == 0           ? g->in.http_routes
                                : strcmp(kind, "GRPCRoute") == 0           ? g->in.grpc_routes
                                : strcmp(kind, "Service") == 0             ? g->in.services
                                : strcmp(kind, "ListenerSet") == 0         ? g->in.listener_sets
                                : strcmp(kind, "AgentgatewayBackend") == 0 ? g->in.agw_backends
                                                                           : NULL;
        if (!src) {
            tr__note(&notes, false, "spec.targetSelectors[%zu]: kind %s is not supported", i, kind);
            continue;
        }
        const krt_obj_t *const *found;
        bool oom = false;
        size_t nf = fetch_match_labels(ctx, src, json_object_get(r, "matchLabels"), &found, &oom);
        if (oom) {
            rc = KRT_ENOMEM;
            goto done;
        }
        for (size_t f = 0; f < nf && nt < MAX_TARGETS; f++) {
            const char *fns = krt_json_namespace(found[f]);
            if (!fns || strcmp(fns, ns) != 0 ||
                target_seen(targets, nt, kind, krt_json_name(found[f]), tr__jstr(r, "sectionName")))
                continue;
            target_t *t = &targets[nt++];
            t->kind = kind;
            snprintf(t->name, sizeof t->name, "%s", krt_json_name(found[f]));
            t->section = tr__jstr(r, "sectionName");
            target_resolve(ctx, g, ns, spec, t, &b);
        }
    }
    if (b.oom || notes.oom) {
        rc = KRT_ENOMEM;
        goto done;
    }

    /* emit: every feature × target × Gateway, unless the policy as a whole is invalid */
    bool valid = json_array_size(notes.invalid) == 0;
    bool emit = n_structural == 0 && !mixed;
    for (size_t ti = 0; ti < nt && emit && rc == KRT_OK; ti++) {
        target_t *t = &targets[ti];
        if (t->invalid || !t->pt || !t->attachment)
            continue;
        for (size_t fi = 0; fi < feats.n && rc == KRT_OK; fi++) {
            tr__feat_t *f = &feats.v[fi];
            char *key =
                ir_key_policy(section_names[f->section], ns, name, f->feature, t->attachment);
            if (!key) {
                rc = KRT_ENOMEM;
                break;
            }
            T_(TypedResourceName) tn;
            agentgateway__dev__resource__typed_resource_name__init(&tn);
            tn.name = (char *)name;
            tn.namespace_ = (char *)ns;
            tn.kind = "AgentgatewayPolicy";
            T_(Policy) p;
            agentgateway__dev__resource__policy__init(&p);
            p.key = key;
            p.name = &tn;
            p.target = t->pt;
            p.inheritance = strcmp(inh, "Override") == 0 && (f->section == 0 || f->section == 3)
                                ? R_(POLICY__INHERITANCE__OVERRIDE)
                                : R_(POLICY__INHERITANCE__DEFAULT);
            p.kind_case = f->section == 0   ? R_(POLICY__KIND_TRAFFIC)
                          : f->section == 1 ? R_(POLICY__KIND_BACKEND)
                          : f->section == 2 ? R_(POLICY__KIND_FRONTEND)
                                            : R_(POLICY__KIND_CONDITIONAL);
            p.traffic = (T_(TrafficPolicySpec) *)f->spec;
            size_t gi;
            json_t *gw;
            json_array_foreach(t->gateways, gi, gw)
            {
                ir_err_t err = {0};
                const ir_policy_t *x = ir_policy_from_pb(&p, json_string_value(gw), &err);
                rc = tr__emit_ir(ctx, x ? ir_policy_obj(x) : NULL, &err);
                if (rc)
                    break;
            }
            krt_free(key);
        }
    }
    if (rc)
        goto done;

    /* status: one ancestor per Gateway reached (the first target's condition wins), plus one
     * per target that is not attached anywhere */
    char amsg[1024];
    const char *areason = "Valid";
    bool accepted = true;
    if (!valid) {
        areason = "Invalid";
        accepted = false;
        size_t off = (size_t)snprintf(amsg, sizeof amsg, "Policy is invalid: ");
        join_notes(amsg, sizeof amsg, off, notes.invalid);
    } else if (json_array_size(notes.unsupported)) {
        areason = "PartiallyValid";
        size_t off = (size_t)snprintf(amsg, sizeof amsg, "Policy accepted; not supported: ");
        join_notes(amsg, sizeof amsg, off, notes.unsupported);
    } else {
        snprintf(amsg, sizeof amsg, "Policy accepted");
    }
    json_t *seen = json_object();
    if (!seen) {
        rc = KRT_ENOMEM;
        goto done;
    }
    for (size_t ti = 0; ti < nt; ti++) {
        target_t *t = &targets[ti];
        if (!t->ancestor)
            continue;
        if (t->invalid || json_array_size(t->gateways) == 0) {
            char key[600];
            snprintf(key, sizeof key, "%s/%s", t->kind, t->name);
            if (json_object_get(seen, key))
                continue;
            if (json_object_set_new(seen, key, json_true())) {
                rc = KRT_ENOMEM;
                break;
            }
            json_t *e = t->invalid ? ancestor_entry(g, t->ancestor, gen, false, "Invalid", t->msg,
                                                    false, "Pending", t->msg)
                                   : ancestor_entry(g, t->ancestor, gen, accepted, areason, amsg,
                                                    false, "Pending", t->msg);
            if (!e || json_array_append_new(ancestors, e)) {
                rc = KRT_ENOMEM;
                break;
            }
            continue;
        }
        size_t gi;
        json_t *gw;
        json_array_foreach(t->gateways, gi, gw)
        {
            if (json_object_get(seen, json_string_value(gw)))
                continue;
            if (json_object_set_new(seen, json_string_value(gw), json_true())) {
                rc = KRT_ENOMEM;
                break;
            }
            json_t *ref = gateway_ref(json_string_value(gw));
            bool att = emit && !t->msg[0];
            const char *tmsg = !att    ? (t->msg[0] ? t->msg : "Policy is invalid")
                               : valid ? "Attached to all targets"
                                       : "Attached; the invalid parts are sent failing closed";
            json_t *e = ref ? ancestor_entry(g, ref, gen, accepted, areason, amsg, att,
                                             att ? "Attached" : "Pending", tmsg)
                            : NULL;
            json_decref(ref);
            if (!e || json_array_append_new(ancestors, e)) {
                rc = KRT_ENOMEM;
                break;
            }
        }
    }
    json_decref(seen);
    if (rc)
        goto done;
    if (nt == 0) {
        /* no target at all (an empty selector result or a broken spec): one synthetic entry */
        json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "group", TR_AGW_GROUP, "kind",
                                "AgentgatewayPolicy", "name", name, "namespace", ns);
        json_t *e = ref ? ancestor_entry(g, ref, gen, accepted, areason, amsg, false, "Pending",
                                         "no target selected")
                        : NULL;
        json_decref(ref);
        if (!e || json_array_append_new(ancestors, e)) {
            rc = KRT_ENOMEM;
            goto done;
        }
    }
    json_t *st = json_pack("{s:O}", "ancestors", ancestors);
    const krt_obj_t *so = st ? tr__rec_new(krt_obj_key(in), st) : NULL;
    rc = so ? krt_ctx_set_status(ctx, so) : KRT_ENOMEM;
done:
    for (size_t ti = 0; ti < nt; ti++)
        target_dispose(&targets[ti]);
    krt_free(targets);
    tr__feats_dispose(&feats);
    json_decref(ancestors);
    json_decref(notes.invalid);
    json_decref(notes.unsupported);
    return rc;
}
