/*
 * HTTPRoute and GRPCRoute rules as agentgateway Route parts: matches, filters (as
 * TrafficPolicySpec entries on the route and BackendPolicySpec entries on a backend), timeouts,
 * retries and weighted backends.
 *
 * Encoding choices, following agentgateway (reference agentgateway-xds.md §1.7-§1.9):
 *   - each Gateway API match is one RouteMatch (OR); a rule without matches, or a match without a
 *     path, matches PathPrefix "/"; prefixes gain a leading '/' and lose a trailing one (but "/"
 *     stays); exact paths and regexes pass through;
 *   - GRPCRoute methods become paths: service+method exact "/svc/method", service only prefix
 *     "/svc/", method only regex "/[^/]+/method"; RegularExpression fills missing parts with
 *     "[^/]+";
 *   - header modifiers and mirrors are merged into one entry each, at the place of the first;
 *     the rest keep the filters' order; timeouts then retry come last;
 *   - RequestRedirect gets the Gateway API default status 302 when none is given; a mirror
 *     without percent/fraction mirrors 100%;
 *   - a filter we cannot apply (ExtensionRef, an unknown type) must not be skipped silently
 *     (Gateway API): the rule answers 500 (DirectResponse) and the route reports
 *     ResolvedRefs=False/InvalidKind;
 *   - URLRewrite on a backendRef: the wire schema has no backend-level rewrite, so when every
 *     backendRef of the rule carries the same one (always the case with a single backendRef)
 *     it becomes a rule-level URL_REWRITE after the rule's own filters (it wins over a
 *     rule-level rewrite, as the more specific one); when they differ it is ignored and
 *     reported (InvalidKind), since the rest of the rule works.
 */
#include "internal.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Matches.
 * ------------------------------------------------------------------------------------------- */
static char *normalize_prefix(tr__pb_t *b, const char *v)
{
    size_t n = strlen(v);
    char *s = ir_pb_alloc(n + 2);
    if (!s) {
        b->oom = true;
        return NULL;
    }
    size_t o = 0;
    if (v[0] != '/')
        s[o++] = '/';
    memcpy(s + o, v, n);
    o += n;
    while (o > 1 && s[o - 1] == '/')
        o--;
    s[o] = '\0';
    return s;
}

static T_(PathMatch) * path_prefix(tr__pb_t *b, const char *v)
{
    T_(PathMatch) *p = tr__pb_new(b, &D_(path_match));
    if (p) {
        p->kind_case = R_(PATH_MATCH__KIND_PATH_PREFIX);
        p->path_prefix = normalize_prefix(b, v);
    }
    return p;
}

static T_(PathMatch) * http_path(tr__pb_t *b, json_t *path)
{
    if (!path)
        return path_prefix(b, "/");
    const char *type = tr__jstr_or(path, "type", "PathPrefix");
    const char *value = tr__jstr_or(path, "value", "/");
    if (strcmp(type, "Exact") == 0) {
        T_(PathMatch) *p = tr__pb_new(b, &D_(path_match));
        if (p) {
            p->kind_case = R_(PATH_MATCH__KIND_EXACT);
            p->exact = tr__pb_str(b, value);
        }
        return p;
    }
    if (strcmp(type, "RegularExpression") == 0) {
        T_(PathMatch) *p = tr__pb_new(b, &D_(path_match));
        if (p) {
            p->kind_case = R_(PATH_MATCH__KIND_REGEX);
            p->regex = tr__pb_str(b, value);
        }
        return p;
    }
    return path_prefix(b, value);
}

static void header_matches(tr__pb_t *b, json_t *arr, T_(RouteMatch) * m)
{
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h)
    {
        T_(HeaderMatch) *x = tr__pb_new(b, &D_(header_match));
        if (!x)
            return;
        x->name = tr__pb_str(b, tr__jstr_or(h, "name", ""));
        if (strcmp(tr__jstr_or(h, "type", "Exact"), "RegularExpression") == 0) {
            x->value_case = R_(HEADER_MATCH__VALUE_REGEX);
            x->regex = tr__pb_str(b, tr__jstr_or(h, "value", ""));
        } else {
            x->value_case = R_(HEADER_MATCH__VALUE_EXACT);
            x->exact = tr__pb_str(b, tr__jstr_or(h, "value", ""));
        }
        tr__pb_push(b, (void ***)&m->headers, &m->n_headers, x, true);
    }
}

static void query_matches(tr__pb_t *b, json_t *arr, T_(RouteMatch) * m)
{
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h)
    {
        T_(QueryMatch) *x = tr__pb_new(b, &D_(query_match));
        if (!x)
            return;
        x->name = tr__pb_str(b, tr__jstr_or(h, "name", ""));
        if (strcmp(tr__jstr_or(h, "type", "Exact"), "RegularExpression") == 0) {
            x->value_case = R_(QUERY_MATCH__VALUE_REGEX);
            x->regex = tr__pb_str(b, tr__jstr_or(h, "value", ""));
        } else {
            x->value_case = R_(QUERY_MATCH__VALUE_EXACT);
            x->exact = tr__pb_str(b, tr__jstr_or(h, "value", ""));
        }
        tr__pb_push(b, (void ***)&m->query_params, &m->n_query_params, x, true);
    }
}

static void http_matches(tr__pb_t *b, json_t *rule, T_(Route) * r)
{
    json_t *matches = tr__jarr(rule, "matches");
    if (json_array_size(matches) == 0) {
        T_(RouteMatch) *m = tr__pb_new(b, &D_(route_match));
        if (m)
            m->path = path_prefix(b, "/");
        tr__pb_push(b, (void ***)&r->matches, &r->n_matches, m, true);
        return;
    }
    size_t i;
    json_t *jm;
    json_array_foreach(matches, i, jm)
    {
        T_(RouteMatch) *m = tr__pb_new(b, &D_(route_match));
        if (!m)
            return;
        m->path = http_path(b, json_object_get(jm, "path"));
        header_matches(b, tr__jarr(jm, "headers"), m);
        query_matches(b, tr__jarr(jm, "queryParams"), m);
        const char *method = tr__jstr(jm, "method");
        if (method && *method) {
            m->method = tr__pb_new(b, &D_(method_match));
            if (m->method)
                m->method->exact = tr__pb_str(b, method);
        }
        tr__pb_push(b, (void ***)&r->matches, &r->n_matches, m, true);
    }
}

static T_(PathMatch) * grpc_path(tr__pb_t *b, json_t *method)
{
    const char *svc = tr__jstr_or(method, "service", "");
    const char *name = tr__jstr_or(method, "method", "");
    if (!method || (!*svc && !*name))
        return path_prefix(b, "/");
    T_(PathMatch) *p = tr__pb_new(b, &D_(path_match));
    if (!p)
        return NULL;
    if (strcmp(tr__jstr_or(method, "type", "Exact"), "RegularExpression") == 0) {
        p->kind_case = R_(PATH_MATCH__KIND_REGEX);
        p->regex = tr__fmt("/%s/%s", *svc ? svc : "[^/]+", *name ? name : "[^/]+");
    } else if (*svc && *name) {
        p->kind_case = R_(PATH_MATCH__KIND_EXACT);
        p->exact = tr__fmt("/%s/%s", svc, name);
    } else if (*svc) {
        p->kind_case = R_(PATH_MATCH__KIND_PATH_PREFIX);
        p->path_prefix = tr__fmt("/%s/", svc);
    } else {
        p->kind_case = R_(PATH_MATCH__KIND_REGEX);
        p->regex = tr__fmt("/[^/]+/%s", name);
    }
    if (!p->exact) /* the union's one pointer */
        b->oom = true;
    return p;
}

static void grpc_matches(tr__pb_t *b, json_t *rule, T_(Route) * r)
{
    json_t *matches = tr__jarr(rule, "matches");
    size_t n = json_array_size(matches);
    for (size_t i = 0; i < (n ? n : 1); i++) {
        json_t *jm = json_array_get(matches, i);
        T_(RouteMatch) *m = tr__pb_new(b, &D_(route_match));
        if (!m)
            return;
        m->path = grpc_path(b, json_object_get(jm, "method"));
        header_matches(b, tr__jarr(jm, "headers"), m);
        tr__pb_push(b, (void ***)&r->matches, &r->n_matches, m, true);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Filters.
 * ------------------------------------------------------------------------------------------- */
static void headers_into(tr__pb_t *b, json_t *arr, T_(Header) * **out, size_t *n)
{
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h)
    {
        T_(Header) *x = tr__pb_new(b, &D_(header));
        if (!x)
            return;
        x->name = tr__pb_str(b, tr__jstr_or(h, "name", ""));
        x->value = tr__pb_str(b, tr__jstr_or(h, "value", ""));
        tr__pb_push(b, (void ***)out, n, x, true);
    }
}

/* Adds a Gateway API HTTPHeaderFilter to |hm| (created when NULL). */
static T_(HeaderModifier) * header_modifier(tr__pb_t *b, T_(HeaderModifier) * hm, json_t *f)
{
    if (!hm)
        hm = tr__pb_new(b, &D_(header_modifier));
    if (!hm)
        return NULL;
    headers_into(b, tr__jarr(f, "add"), &hm->add, &hm->n_add);
    headers_into(b, tr__jarr(f, "set"), &hm->set, &hm->n_set);
    size_t i;
    json_t *s;
    json_array_foreach(tr__jarr(f, "remove"), i, s)
    {
        if (json_is_string(s))
            tr__pb_push(b, (void ***)&hm->remove, &hm->n_remove,
                        tr__pb_str(b, json_string_value(s)), false);
    }
    return hm;
}

static T_(RequestRedirect) * redirect(tr__pb_t *b, json_t *f)
{
    T_(RequestRedirect) *x = tr__pb_new(b, &D_(request_redirect));
    if (!x)
        return NULL;
    x->scheme = tr__pb_str(b, tr__jstr_or(f, "scheme", ""));
    x->host = tr__pb_str(b, tr__jstr_or(f, "hostname", ""));
    json_int_t port = tr__jint(f, "port", 0);
    x->port = port > 0 && port < 65536 ? (uint32_t)port : 0;
    json_int_t code = tr__jint(f, "statusCode", 302);
    x->status = code > 0 && code < 1000 ? (uint32_t)code : 302;
    json_t *path = json_object_get(f, "path");
    const char *type = tr__jstr_or(path, "type", "");
    if (strcmp(type, "ReplaceFullPath") == 0) {
        x->path_case = R_(REQUEST_REDIRECT__PATH_FULL);
        x->full = tr__pb_str(b, tr__jstr_or(path, "replaceFullPath", "/"));
    } else if (strcmp(type, "ReplacePrefixMatch") == 0) {
        x->path_case = R_(REQUEST_REDIRECT__PATH_PREFIX);
        x->prefix = tr__pb_str(b, tr__jstr_or(path, "replacePrefixMatch", "/"));
    }
    return x;
}

static T_(UrlRewrite) * rewrite(tr__pb_t *b, json_t *f)
{
    T_(UrlRewrite) *x = tr__pb_new(b, &D_(url_rewrite));
    if (!x)
        return NULL;
    x->host = tr__pb_str(b, tr__jstr_or(f, "hostname", ""));
    json_t *path = json_object_get(f, "path");
    const char *type = tr__jstr_or(path, "type", "");
    if (strcmp(type, "ReplaceFullPath") == 0) {
        x->path_case = R_(URL_REWRITE__PATH_FULL);
        x->full = tr__pb_str(b, tr__jstr_or(path, "replaceFullPath", "/"));
    } else if (strcmp(type, "ReplacePrefixMatch") == 0) {
        x->path_case = R_(URL_REWRITE__PATH_PREFIX);
        x->prefix = tr__pb_str(b, tr__jstr_or(path, "replacePrefixMatch", "/"));
    }
    return x;
}

static T_(RequestMirrors) * mirror(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, tr__pb_t *b,
                                   T_(RequestMirrors) * rm, json_t *f, tr__problem_t *p)
{
    const char *reason = NULL;
    char msg[256];
    T_(BackendReference) *ref = tr__backend_ref_only(ctx, rk, ns, json_object_get(f, "backendRef"),
                                                     b, &reason, msg, sizeof msg);
    if (!ref) {
        if (reason)
            tr__problem_set(p, false, reason, "mirror: %s", msg);
        return rm;
    }
    if (!rm)
        rm = tr__pb_new(b, &D_(request_mirrors));
    T_(RequestMirrors__Mirror) *m = tr__pb_new(b, &D_(request_mirrors__mirror));
    if (!rm || !m) {
        ir_pb_free((ProtobufCMessage *)ref);
        ir_pb_free((ProtobufCMessage *)m);
        return rm;
    }
    m->backend = ref;
    double pct = 100.0;
    if (json_object_get(f, "percent")) {
        pct = (double)tr__jint(f, "percent", 100);
    } else if (json_object_get(f, "fraction")) {
        json_int_t num = tr__jint(f, "fraction.numerator", 0);
        json_int_t den = tr__jint(f, "fraction.denominator", 100);
        pct = den > 0 ? 100.0 * (double)num / (double)den : 0.0;
    }
    m->percentage = pct < 0 ? 0 : pct > 100 ? 100 : pct;
    tr__pb_push(b, (void ***)&rm->mirrors, &rm->n_mirrors, m, true);
    return rm;
}

static void strs_into(tr__pb_t *b, json_t *arr, char ***out, size_t *n)
{
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        if (json_is_string(s))
            tr__pb_push(b, (void ***)out, n, tr__pb_str(b, json_string_value(s)), false);
    }
}

static T_(CORS) * cors(tr__pb_t *b, json_t *f)
{
    T_(CORS) *x = tr__pb_new(b, &D_(cors));
    if (!x)
        return NULL;
    x->allow_credentials = tr__jbool(f, "allowCredentials", false);
    strs_into(b, tr__jarr(f, "allowHeaders"), &x->allow_headers, &x->n_allow_headers);
    strs_into(b, tr__jarr(f, "allowMethods"), &x->allow_methods, &x->n_allow_methods);
    strs_into(b, tr__jarr(f, "allowOrigins"), &x->allow_origins, &x->n_allow_origins);
    strs_into(b, tr__jarr(f, "exposeHeaders"), &x->expose_headers, &x->n_expose_headers);
    json_int_t age = tr__jint(f, "maxAge", 5);
    x->max_age = tr__pb_duration(b, age < 0 ? 0 : age, 0);
    return x;
}

static T_(TrafficPolicySpec) * tps(tr__pb_t *b, T_(TrafficPolicySpec__KindCase) kc, void *val)
{
    return tr__pb_oneof(b, &D_(traffic_policy_spec), kc, val);
}

static T_(DirectResponse) * status_500(tr__pb_t *b)
{
    T_(DirectResponse) *d = tr__pb_new(b, &D_(direct_response));
    if (d)
        d->status = 500;
    return d;
}

/* A filter type that another step translates (backend_rewrite): skipped without a report. */
#define ELSEWHERE UINT32_MAX

/* What the filters of one level become: a spec message of |spec| per filter, whose oneof member
 * is the kind case named for the filter's type (0: not supported at this level). The route and
 * backendRef levels read the same filter types with the same meaning; only the message they land
 * in and what happens to an unsupported one differ, so one loop serves both. */
typedef struct filter_level {
    const ProtobufCMessageDescriptor *spec;
    uint32_t req_header, resp_header, mirror, redirect, rewrite, cors;
    const char *what;     /* names the filter in the problem message */
    const char *then;     /* ends that message: what the unsupported filter leaves behind */
    uint32_t unsupported; /* kind case of a status 500 answer in its place, or 0: none */
} filter_level_t;

static const filter_level_t route_level = {
    .spec = &D_(traffic_policy_spec),
    .req_header = R_(TRAFFIC_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER),
    .resp_header = R_(TRAFFIC_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER),
    .mirror = R_(TRAFFIC_POLICY_SPEC__KIND_REQUEST_MIRROR),
    .redirect = R_(TRAFFIC_POLICY_SPEC__KIND_REQUEST_REDIRECT),
    .rewrite = R_(TRAFFIC_POLICY_SPEC__KIND_URL_REWRITE),
    .cors = R_(TRAFFIC_POLICY_SPEC__KIND_CORS),
    .what = "filter",
    .then = ": the rule answers 500",
    .unsupported = R_(TRAFFIC_POLICY_SPEC__KIND_DIRECT_RESPONSE),
};

static const filter_level_t backend_level = {
    .spec = &D_(backend_policy_spec),
    .req_header = R_(BACKEND_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER),
    .resp_header = R_(BACKEND_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER),
    .mirror = R_(BACKEND_POLICY_SPEC__KIND_REQUEST_MIRROR),
    .redirect = R_(BACKEND_POLICY_SPEC__KIND_REQUEST_REDIRECT),
    .rewrite = ELSEWHERE, /* no backend-level rewrite on the wire: backend_rewrite */
    .what = "backendRef filter",
    .then = "",
};

/* Translates the Gateway API |filters| into specs of |lv| appended to *arr / *n, in the filters'
 * order, header modifiers and mirrors merged into the entry of the first of each. Redirect,
 * rewrite and CORS are HTTPRoute filters only. */
static void filters(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *list,
                    const filter_level_t *lv, void ***arr, size_t *n, tr__pb_t *b, tr__problem_t *p)
{
    T_(HeaderModifier) *req = NULL, *resp = NULL;
    T_(RequestMirrors) *mir = NULL;
    bool http = rk->which == TR_RK_HTTP;
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        const char *type = tr__jstr_or(f, "type", "");
        uint32_t kc = 0;
        void *val = NULL, **keep = NULL;
        if (strcmp(type, "RequestHeaderModifier") == 0) {
            json_t *hf = json_object_get(f, "requestHeaderModifier");
            if (req) {
                header_modifier(b, req, hf);
                continue;
            }
            kc = lv->req_header;
            val = header_modifier(b, NULL, hf);
            keep = (void **)&req;
        } else if (strcmp(type, "ResponseHeaderModifier") == 0) {
            json_t *hf = json_object_get(f, "responseHeaderModifier");
            if (resp) {
                header_modifier(b, resp, hf);
                continue;
            }
            kc = lv->resp_header;
            val = header_modifier(b, NULL, hf);
            keep = (void **)&resp;
        } else if (strcmp(type, "RequestMirror") == 0) {
            json_t *mf = json_object_get(f, "requestMirror");
            if (mir) {
                mirror(ctx, rk, ns, b, mir, mf, p);
                continue;
            }
            kc = lv->mirror;
            val = mirror(ctx, rk, ns, b, NULL, mf, p);
            keep = (void **)&mir;
        } else if (strcmp(type, "RequestRedirect") == 0 && http) {
            kc = lv->redirect;
            val = redirect(b, json_object_get(f, "requestRedirect"));
        } else if (strcmp(type, "URLRewrite") == 0 && http && lv->rewrite) {
            if (lv->rewrite == ELSEWHERE)
                continue;
            kc = lv->rewrite;
            val = rewrite(b, json_object_get(f, "urlRewrite"));
        } else if (strcmp(type, "CORS") == 0 && http && lv->cors) {
            kc = lv->cors;
            val = cors(b, json_object_get(f, "cors"));
        } else {
            tr__problem_set(p, false, "InvalidKind", "%s type %s is not supported%s", lv->what,
                            type, lv->then);
            if (!lv->unsupported)
                continue;
            kc = lv->unsupported;
            val = status_500(b);
        }
        void *t = tr__pb_oneof(b, lv->spec, kc, val);
        if (keep)
            *keep = t ? val : NULL; /* a failed wrap freed val */
        tr__pb_push(b, arr, n, t, true);
        if (b->oom)
            return; /* the push freed t, which req/resp/mir may name: the run fails and retries */
    }
}

static void backend_rewrite(json_t *rule, T_(Route) * r, tr__pb_t *b, tr__problem_t *p);

/* Route-level filters of an HTTPRoute or GRPCRoute rule into r->traffic_policies. */
static void route_filters(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *rule,
                          T_(Route) * r, tr__pb_t *b, tr__problem_t *p)
{
    filters(ctx, rk, ns, tr__jarr(rule, "filters"), &route_level, (void ***)&r->traffic_policies,
            &r->n_traffic_policies, b, p);
    if (b->oom || rk->which != TR_RK_HTTP)
        return;
    backend_rewrite(rule, r, b, p);
    /* timeouts, then retry */
    json_t *to = json_object_get(rule, "timeouts");
    if (to) {
        int64_t s;
        int32_t ns2;
        T_(Timeout) *t = tr__pb_new(b, &D_(timeout));
        if (t) {
            if (tr__duration_parse(tr__jstr(to, "request"), &s, &ns2))
                t->request = tr__pb_duration(b, s, ns2);
            if (tr__duration_parse(tr__jstr(to, "backendRequest"), &s, &ns2))
                t->backend_request = tr__pb_duration(b, s, ns2);
            tr__pb_push(b, (void ***)&r->traffic_policies, &r->n_traffic_policies,
                        tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_TIMEOUT), t), true);
        }
    }
    json_t *rt = json_object_get(rule, "retry");
    if (rt) {
        T_(Retry) *x = tr__pb_new(b, &D_(retry));
        if (x) {
            json_int_t attempts = tr__jint(rt, "attempts", 1);
            x->attempts = attempts < 0 ? 0 : attempts > 1000 ? 1000 : (int32_t)attempts;
            int64_t s;
            int32_t ns2;
            if (tr__duration_parse(tr__jstr(rt, "backoff"), &s, &ns2))
                x->backoff = tr__pb_duration(b, s, ns2);
            size_t n = json_array_size(tr__jarr(rt, "codes"));
            if (n) {
                x->retry_status_codes = krt_malloc(n * sizeof *x->retry_status_codes);
                if (!x->retry_status_codes) {
                    b->oom = true;
                } else {
                    size_t i;
                    json_t *c;
                    json_array_foreach(tr__jarr(rt, "codes"), i, c)
                    {
                        x->retry_status_codes[x->n_retry_status_codes++] =
                            (int32_t)(json_is_integer(c) ? json_integer_value(c) : 0);
                    }
                }
            }
            tr__pb_push(b, (void ***)&r->traffic_policies, &r->n_traffic_policies,
                        tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_RETRY), x), true);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Backends.
 * ------------------------------------------------------------------------------------------- */
/* The urlRewrite of |ref|'s first URLRewrite filter, or NULL. Borrowed from |ref|. */
static json_t *ref_rewrite(json_t *ref)
{
    size_t i;
    json_t *f;
    json_array_foreach(tr__jarr(ref, "filters"), i, f)
    {
        if (strcmp(tr__jstr_or(f, "type", ""), "URLRewrite") == 0)
            return json_object_get(f, "urlRewrite");
    }
    return NULL;
}

/* backendRef URLRewrite filters: the one every backendRef carries becomes a rule-level rewrite
 * (see the top of this file); differing ones are reported. */
static void backend_rewrite(json_t *rule, T_(Route) * r, tr__pb_t *b, tr__problem_t *p)
{
    size_t i, with = 0;
    json_t *ref, *first = NULL;
    bool same = true;
    json_array_foreach(tr__jarr(rule, "backendRefs"), i, ref)
    {
        json_t *rw = ref_rewrite(ref);
        if (rw && !first)
            first = rw;
        with += rw != NULL;
        same = same && (!rw || json_equal(rw, first));
    }
    if (!first)
        return;
    if (!same || with != json_array_size(tr__jarr(rule, "backendRefs"))) {
        tr__problem_set(
            p, false, "InvalidKind",
            "backendRef URLRewrite differs across the rule's backendRefs: not supported");
        return;
    }
    tr__pb_push(b, (void ***)&r->traffic_policies, &r->n_traffic_policies,
                tps(b, R_(TRAFFIC_POLICY_SPEC__KIND_URL_REWRITE), rewrite(b, first)), true);
}

static void backends(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *rule,
                     T_(Route) * r, tr__pb_t *b, tr__problem_t *p)
{
    size_t i;
    json_t *ref;
    json_array_foreach(tr__jarr(rule, "backendRefs"), i, ref)
    {
        tr__backend_t be;
        tr__backend_resolve(ctx, rk, ns, ref, b, &be);
        if (!be.ok)
            tr__problem_set(p, false, be.reason, "%s", be.message);
        if (be.rb && be.ok)
            filters(ctx, rk, ns, tr__jarr(ref, "filters"), &backend_level,
                    (void ***)&be.rb->backend_policies, &be.rb->n_backend_policies, b, p);
        tr__pb_push(b, (void ***)&r->backends, &r->n_backends, be.rb, true);
    }
}

void tr__rule_http(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *rule, T_(Route) * r,
                   tr__pb_t *b, tr__problem_t *p)
{
    http_matches(b, rule, r);
    route_filters(ctx, rk, ns, rule, r, b, p);
    backends(ctx, rk, ns, rule, r, b, p);
}

void tr__rule_grpc(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *rule, T_(Route) * r,
                   tr__pb_t *b, tr__problem_t *p)
{
    grpc_matches(b, rule, r);
    route_filters(ctx, rk, ns, rule, r, b, p);
    backends(ctx, rk, ns, rule, r, b, p);
}
