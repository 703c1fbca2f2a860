/*
 * The translation graph: creates the collections in dependency order and exposes the outputs.
 *
 * Creation order is the engine's topological order (a collection reads only collections created
 * before it), so the wiring below reads top to bottom as the data flows:
 *
 *   GatewayClass ─► classes (+status)
 *   ReferenceGrant ─► index "grants" (by edge)
 *   ListenerSet ─► index by parent Gateway
 *   Gateway ─► records (one per listener of the Gateway and of the ListenerSets it allows; fetch
 *              classes, Secrets, grants, ListenerSets by parent, Namespaces) ─► index by Gateway
 *              and by ListenerSet
 *              ├─► binds (from the index's buckets)        └─► listeners (1:1)
 *   <kind>Route ─► bindings (fetch records by Gateway, Namespaces) ─► index by listener record
 *   <kind>Route ─► routes (+status; fetch bindings, Services, grants)
 *   Gateway ─► gateways (status only; fetch classes, records, bindings' index, Service)
 *   ListenerSet ─► listener-sets (status only; fetch its Gateway, records by set, bindings' index)
 *   Service / Pod / EndpointSlice ─► addresses
 *   joins: Route = HTTP + GRPC, TCPRoute = TCP + TLS, Address = Service + Pod + EndpointSlice
 *   Route ─► index "route-refs" (by AgentgatewayBackend / Service reached)
 *   AgentgatewayPolicy ─► Policy (+status; fetch targets, bindings, route-refs, Secrets, ...)
 *   Policy ─► index "policy-refs" (by AgentgatewayBackend a policy sends to)
 *   AgentgatewayBackend ─► Backend (+status; fetch route-refs, policy-refs, Services, Secrets)
 *   Gateway ─► parameters (fetch classes, GatewayClass, AgentgatewayParameters)
 *
 * docs/translate.md explains each collection and its fetches.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tr_strerror(int rc)
{
    switch (rc) {
#define TR__ERR_STR(name, code, msg) \
    case code:                       \
        return msg;
        TR_ERRNO_MAP(TR__ERR_STR)
#undef TR__ERR_STR
    default:
        return "unknown error";
    }
}

const char *const tr_source_kinds[] = {"GatewayClass",       "Gateway",
                                       "HTTPRoute",          "GRPCRoute",
                                       "TCPRoute",           "TLSRoute",
                                       "ReferenceGrant",     "Service",
                                       "EndpointSlice",      "Pod",
                                       "Namespace",          "Secret",
                                       "ConfigMap",          "AgentgatewayBackend",
                                       "AgentgatewayPolicy", "AgentgatewayParameters",
                                       "ListenerSet"};
const size_t tr_source_kinds_len = sizeof tr_source_kinds / sizeof tr_source_kinds[0];

static krt_collection_t **source_slot(tr_sources_t *s, size_t i)
{
    krt_collection_t **slots[] = {
        &s->gateway_classes, &s->gateways,     &s->http_routes,      &s->grpc_routes,
        &s->tcp_routes,      &s->tls_routes,   &s->reference_grants, &s->services,
        &s->endpoint_slices, &s->pods,         &s->namespaces,       &s->secrets,
        &s->config_maps,     &s->agw_backends, &s->agw_policies,     &s->agw_parameters,
        &s->listener_sets};
    return slots[i];
}

int tr_sources_set(tr_sources_t *s, const char *kind, krt_collection_t *c)
{
    if (!s || !kind)
        return TR_EINVAL;
    for (size_t i = 0; i < tr_source_kinds_len; i++) {
        if (strcmp(tr_source_kinds[i], kind) == 0) {
            *source_slot(s, i) = c;
            return TR_OK;
        }
    }
    return TR_EINVAL;
}

static char *name_of(const tr_graph_t *g, const char *n, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s", g->prefix, n);
    return buf;
}

void tr_graph_free(tr_graph_t *g)
{
    if (!g)
        return;
    krt_free(g->controller);
    krt_free(g->domain);
    krt_free(g->cluster);
    krt_free(g->network);
    krt_free(g->prefix);
    krt_free(g);
}

static const char *const rk_kinds[TR_RK_COUNT] = {"HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute"};
static const char *const rk_names[TR_RK_COUNT] = {"http", "grpc", "tcp", "tls"};

tr_graph_t *tr_graph_new(krt_engine_t *e, const tr_sources_t *in, const tr_options_t *opt, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    *err = TR_EINVAL;
    if (!e || !in)
        return NULL;
    tr_options_t o = opt ? *opt : (tr_options_t){0};
    tr_graph_t *g = krt_calloc(1, sizeof *g);
    if (!g) {
        *err = TR_ENOMEM;
        return NULL;
    }
    g->e = e;
    g->in = *in;
    g->controller = krt_strdup(o.controller_name ? o.controller_name : TR_DEFAULT_CONTROLLER);
    g->domain = krt_strdup(o.domain ? o.domain : TR_DEFAULT_DOMAIN);
    g->cluster = krt_strdup(o.cluster_id ? o.cluster_id : TR_DEFAULT_CLUSTER);
    g->network = krt_strdup(o.network ? o.network : "");
    g->prefix = krt_strdup(o.name_prefix ? o.name_prefix : "tr/");
    if (!g->controller || !g->domain || !g->cluster || !g->network || !g->prefix)
        goto oom;

    char nb[256];
    /* Inputs: check, or make empty ones. */
    for (size_t i = 0; i < tr_source_kinds_len; i++) {
        krt_collection_t **slot = source_slot(&g->in, i);
        if (*slot) {
            if (krt_collection_engine(*slot) != e || krt_collection_type(*slot) != &krt_json_type) {
                *err = TR_ESOURCE;
                tr_graph_free(g);
                return NULL;
            }
            continue;
        }
        char what[64];
        snprintf(what, sizeof what, "empty/%s", tr_source_kinds[i]);
        *slot = krt_static_new(e, &krt_json_type, name_of(g, what, nb, sizeof nb), true);
        if (!*slot)
            goto oom;
    }

    g->classes = krt_derive_status_new(e, g->in.gateway_classes, &tr__rec_type, &tr__rec_type,
                                       name_of(g, "classes", nb, sizeof nb), KRT_DERIVE_ONE,
                                       tr__class_transform, g, &g->class_status);
    g->grants = krt_index_new(g->in.reference_grants, "tr.grant-edge", tr__grant_index, NULL);
    if (!g->classes || !g->grants)
        goto oom;

    g->ls_by_parent = krt_index_new(g->in.listener_sets, "tr.ls-parent", tr__ls_parent_index, NULL);
    if (!g->ls_by_parent)
        goto oom;
    g->records = krt_derive_new(e, g->in.gateways, &tr__rec_type,
                                name_of(g, "listener-records", nb, sizeof nb), KRT_DERIVE_MANY,
                                tr__records_transform, g);
    if (!g->records)
        goto oom;
    g->records_by_gw = krt_index_new(g->records, "gateway", tr__records_index, NULL);
    g->records_buckets = g->records_by_gw ? krt_index_collection(g->records_by_gw) : NULL;
    g->records_by_ls = krt_index_new(g->records, "listener-set", tr__records_ls_index, NULL);
    g->records_own = krt_index_new(g->records, "gateway-own", tr__records_own_index, NULL);
    if (!g->records_buckets || !g->records_by_ls || !g->records_own)
        goto oom;
    g->binds =
        krt_derive_new(e, g->records_buckets, &ir_bind_type, name_of(g, "Bind", nb, sizeof nb),
                       KRT_DERIVE_MANY, tr__binds_transform, g);
    g->listeners =
        krt_derive_new(e, g->records, &ir_listener_type, name_of(g, "Listener", nb, sizeof nb),
                       KRT_DERIVE_ONE, tr__listener_transform, g);
    if (!g->binds || !g->listeners)
        goto oom;

    krt_collection_t *srcs[TR_RK_COUNT] = {g->in.http_routes, g->in.grpc_routes, g->in.tcp_routes,
                                           g->in.tls_routes};
    for (int k = 0; k < TR_RK_COUNT; k++) {
        tr__rk_t *rk = &g->rk[k];
        rk->g = g;
        rk->which = k;
        rk->kind = rk_kinds[k];
        rk->src = srcs[k];
        char what[64];
        snprintf(what, sizeof what, "%s-bindings", rk_names[k]);
        rk->bindings = krt_derive_new(e, rk->src, &tr__rec_type, name_of(g, what, nb, sizeof nb),
                                      KRT_DERIVE_ONE, tr__binding_transform, rk);
        if (!rk->bindings ||
            krt_derive_set_input_same(rk->bindings, tr__same_binding_input, NULL) != KRT_OK)
            goto oom;
        rk->by_listener = krt_index_new(rk->bindings, "listener", tr__binding_index, NULL);
        if (!rk->by_listener)
            goto oom;
    }
    for (int k = 0; k < TR_RK_COUNT; k++) {
        tr__rk_t *rk = &g->rk[k];
        char what[64];
        snprintf(what, sizeof what, "%s-routes", rk_names[k]);
        const krt_type_t *t =
            k == TR_RK_HTTP || k == TR_RK_GRPC ? &ir_route_type : &ir_tcp_route_type;
        rk->ir =
            krt_derive_status_new(e, rk->src, t, &tr__rec_type, name_of(g, what, nb, sizeof nb),
                                  KRT_DERIVE_MANY, tr__route_transform, rk, &rk->status);
        if (!rk->ir)
            goto oom;
    }
    g->gateways = krt_derive_status_new(e, g->in.gateways, &tr__rec_type, &tr__rec_type,
                                        name_of(g, "gateways", nb, sizeof nb), KRT_DERIVE_ONE,
                                        tr__gateway_status_transform, g, &g->gateway_status);
    if (!g->gateways)
        goto oom;
    g->listener_sets =
        krt_derive_status_new(e, g->in.listener_sets, &tr__rec_type, &tr__rec_type,
                              name_of(g, "listener-sets", nb, sizeof nb), KRT_DERIVE_ONE,
                              tr__ls_status_transform, g, &g->ls_status);
    if (!g->listener_sets)
        goto oom;

    g->svc_addr = krt_derive_new(e, g->in.services, &ir_address_type,
                                 name_of(g, "service-addresses", nb, sizeof nb), KRT_DERIVE_ONE,
                                 tr__service_address_transform, g);
    g->pod_addr =
        krt_derive_new(e, g->in.pods, &ir_address_type, name_of(g, "pod-workloads", nb, sizeof nb),
                       KRT_DERIVE_ONE, tr__pod_address_transform, g);
    g->slice_addr = krt_derive_new(e, g->in.endpoint_slices, &ir_address_type,
                                   name_of(g, "endpointslice-workloads", nb, sizeof nb),
                                   KRT_DERIVE_MANY, tr__slice_address_transform, g);
    if (!g->svc_addr || !g->pod_addr || !g->slice_addr)
        goto oom;

    krt_collection_t *rj[2] = {g->rk[TR_RK_HTTP].ir, g->rk[TR_RK_GRPC].ir};
    krt_collection_t *tj[2] = {g->rk[TR_RK_TCP].ir, g->rk[TR_RK_TLS].ir};
    krt_collection_t *aj[3] = {g->svc_addr, g->pod_addr, g->slice_addr};
    g->routes = krt_join_new(e, rj, 2, name_of(g, "Route", nb, sizeof nb));
    g->tcp_routes = krt_join_new(e, tj, 2, name_of(g, "TCPRoute", nb, sizeof nb));
    g->addresses = krt_join_new(e, aj, 3, name_of(g, "Address", nb, sizeof nb));
    if (!g->routes || !g->tcp_routes || !g->addresses)
        goto oom;
    g->route_refs = krt_index_new(g->routes, "tr.route-refs", tr__route_refs_index, g);
    g->services_by_ns = krt_index_namespace(g->in.services);
    if (!g->route_refs || !g->services_by_ns)
        goto oom;
    /* Policies before Backends: a Backend reads which Policies send to it, Policies never read
     * Backends */
    g->policies = krt_derive_status_new(e, g->in.agw_policies, &ir_policy_type, &tr__rec_type,
                                        name_of(g, "Policy", nb, sizeof nb), KRT_DERIVE_MANY,
                                        tr__agw_policy_transform, g, &g->policy_status);
    if (!g->policies)
        goto oom;
    g->policy_refs = krt_index_new(g->policies, "tr.policy-refs", tr__policy_refs_index, g);
    if (!g->policy_refs)
        goto oom;
    g->backends = krt_derive_status_new(e, g->in.agw_backends, &ir_backend_type, &tr__rec_type,
                                        name_of(g, "Backend", nb, sizeof nb), KRT_DERIVE_MANY,
                                        tr__agw_backend_transform, g, &g->backend_status);
    if (!g->backends)
        goto oom;
    g->params =
        krt_derive_new(e, g->in.gateways, &tr__rec_type, name_of(g, "parameters", nb, sizeof nb),
                       KRT_DERIVE_ONE, tr__agw_params_transform, g);
    if (!g->params)
        goto oom;
    *err = TR_OK;
    return g;
oom:
    *err = TR_ENOMEM;
    tr_graph_free(g);
    return NULL;
}

krt_engine_t *tr_graph_engine(const tr_graph_t *g)
{
    return g->e;
}

krt_collection_t *tr_graph_output(const tr_graph_t *g, ir_kind_t kind)
{
    switch (kind) {
    case IR_KIND_BIND:
        return g->binds;
    case IR_KIND_LISTENER:
        return g->listeners;
    case IR_KIND_ROUTE:
        return g->routes;
    case IR_KIND_TCP_ROUTE:
        return g->tcp_routes;
    case IR_KIND_BACKEND:
        return g->backends;
    case IR_KIND_POLICY:
        return g->policies;
    case IR_KIND_ADDRESS:
        return g->addresses;
    }
    return NULL;
}

static const char *const status_names[TR_STATUS_KIND_COUNT] = {
    "GatewayClass", "Gateway",  "HTTPRoute",           "GRPCRoute",
    "TCPRoute",     "TLSRoute", "AgentgatewayBackend", "AgentgatewayPolicy",
    "ListenerSet"};

const char *tr_status_kind_name(tr_status_kind_t k)
{
    return (unsigned)k < TR_STATUS_KIND_COUNT ? status_names[k] : NULL;
}

krt_collection_t *tr_graph_status(const tr_graph_t *g, tr_status_kind_t k)
{
    switch (k) {
    case TR_STATUS_GATEWAY_CLASS:
        return g->class_status;
    case TR_STATUS_GATEWAY:
        return g->gateway_status;
    case TR_STATUS_HTTP_ROUTE:
        return g->rk[TR_RK_HTTP].status;
    case TR_STATUS_GRPC_ROUTE:
        return g->rk[TR_RK_GRPC].status;
    case TR_STATUS_TCP_ROUTE:
        return g->rk[TR_RK_TCP].status;
    case TR_STATUS_TLS_ROUTE:
        return g->rk[TR_RK_TLS].status;
    case TR_STATUS_AGW_BACKEND:
        return g->backend_status;
    case TR_STATUS_AGW_POLICY:
        return g->policy_status;
    case TR_STATUS_LISTENER_SET:
        return g->ls_status;
    }
    return NULL;
}

krt_collection_t *tr_graph_parameters(const tr_graph_t *g)
{
    return g->params;
}

json_t *tr_parameters_json(const krt_obj_t *o)
{
    if (!o || o->type != &tr__rec_type)
        return NULL;
    return tr__rec_json(o);
}

json_t *tr_status_json(const krt_obj_t *status_obj)
{
    if (!status_obj || status_obj->type != &krt_status_type)
        return NULL;
    return tr__rec_json(krt_status_value(status_obj));
}

/* ---------------------------------------------------------------------------------------------
 * Lines.
 * ------------------------------------------------------------------------------------------- */
json_t *tr_line_resource(const krt_obj_t *o)
{
    const ir_obj_t *x = ir_obj_from_krt(o);
    return x ? ir_obj_dump(x) : NULL;
}

json_t *tr_line_status(tr_status_kind_t k, const krt_obj_t *status_obj)
{
    json_t *st = tr_status_json(status_obj);
    const char *kind = tr_status_kind_name(k);
    if (!st || !kind)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:O}", "kind", "status", "object", kind, "key",
                     krt_obj_key(status_obj), "status", st);
}

char *tr_line_text(const json_t *line)
{
    return line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (b->oom)
        return;
    if (b->len + n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 2 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len++] = '\n';
    b->p[b->len] = '\0';
}

static void sb_collection(sbuf_t *b, krt_collection_t *c, int status_kind)
{
    size_t n = krt_collection_list(c, NULL, 0);
    const krt_obj_t **objs = n ? malloc(n * sizeof *objs) : NULL;
    if (n && !objs) {
        b->oom = true;
        return;
    }
    krt_collection_list(c, objs, n);
    for (size_t i = 0; i < n && !b->oom; i++) {
        json_t *line = status_kind < 0 ? tr_line_resource(objs[i])
                                       : tr_line_status((tr_status_kind_t)status_kind, objs[i]);
        char *text = tr_line_text(line);
        json_decref(line);
        if (!text) {
            b->oom = true;
            break;
        }
        sb_add(b, text);
        free(text);
    }
    free(objs);
}

char *tr_graph_dump_lines(const tr_graph_t *g)
{
    sbuf_t b = {0};
    sb_add(&b, "");
    b.len = 0; /* allocate, and make an empty dump "" rather than NULL */
    if (b.p)
        b.p[0] = '\0';
    for (int k = IR_KIND_BIND; k <= IR_KIND_ADDRESS; k++)
        sb_collection(&b, tr_graph_output(g, (ir_kind_t)k), -1);
    for (int k = 0; k < TR_STATUS_KIND_COUNT; k++)
        sb_collection(&b, tr_graph_status(g, (tr_status_kind_t)k), k);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
