/*
 * The synthetic cluster generator: Kubernetes JSON objects of realistic shape at named scales.
 *
 * Layout (N application namespaces app-K, S Services, P Pods, R HTTPRoutes, G Gateways):
 *   - GatewayClass "krtgate" of our controller; Namespaces "gateways", "shared" and app-0..app-N-1,
 *     the even ones labelled expose=true;
 *   - Gateway gw-g in "gateways" with two listeners: "http" (port 80, *.gw-g.example.com, routes
 *     from All namespaces) and "internal" (port 8080, *.gw-g.internal, routes from namespaces
 *     labelled expose=true);
 *   - Service svc-s in app-(s mod N) selecting app=svc-s; Pod pod-p behind svc-(p mod S), Ready,
 *     with an IP; one extra Service "shared-api" in "shared";
 *   - HTTPRoute route-r in app-(r mod N) on gw-(r div ceil(R/G)) (so each Gateway's routes spread
 *     over the namespaces and a namespace holds routes of many Gateways), two hostnames (one per
 *     listener), two rules (prefix + header match, weighted backends; exact + method match with a
 *     header filter), backends in its own namespace; one route in 50 also sends to
 *     shared/shared-api, allowed by the ReferenceGrant of its namespace when there is one;
 *   - ReferenceGrant grant-app-K in "shared" from HTTPRoutes of app-K to Services.
 * Everything is a function of the index and the seed (splitmix64), so a slot can be rebuilt with
 * one field changed and the rest identical: that is how scenarios make edits.
 * The alternative, random graphs, was rejected: a scenario must know exactly what an edit affects.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"

#include "krt/json.h"

#include "translate/translate.h"

const bs_scale_t bs_scales[] = {
    /* name     gw   routes services  pods  ns  grants iterations */
    {"tiny", 2, 24, 16, 32, 4, 2, 4},
    {"small", 5, 500, 1000, 2000, 20, 5, 200},
    {"agw-5k", 50, 5000, 2500, 5000, 50, 10, 200},
    {"large", 100, 50000, 20000, 100000, 200, 20, 50},
};
const size_t bs_scales_len = sizeof(bs_scales) / sizeof(bs_scales[0]);

const bs_scale_t *bs_scale_find(const char *name)
{
    for (size_t i = 0; name && i < bs_scales_len; i++)
        if (strcmp(bs_scales[i].name, name) == 0)
            return &bs_scales[i];
    return NULL;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rnd(const bs_cluster_t *c, bs_kind_t k, size_t i, uint64_t salt)
{
    return mix(c->seed ^ mix(((uint64_t)k << 56) ^ ((uint64_t)i << 8) ^ salt));
}

/* app namespaces are the only ones routes, Services and Pods live in */
static size_t app_services(const bs_cluster_t *c)
{
    return c->scale.services;
}

static json_t *meta(const bs_cluster_t *c, bs_kind_t k, size_t i, const char *ns, const char *name,
                    json_t *labels)
{
    char uid[40], ts[32], rv[24];
    uint64_t a = rnd(c, k, i, 1), b = rnd(c, k, i, 2);
    snprintf(uid, sizeof(uid), "%08x-%04x-%04x-%04x-%012" PRIx64, (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
             (uint64_t)(b & 0xffffffffffffull));
    unsigned day = 1 + (unsigned)(a % 28), sec = (unsigned)(b % 86400);
    snprintf(ts, sizeof(ts), "2026-10-%02uT%02u:%02u:%02uZ", day, sec / 3600, sec / 60 % 60,
             sec % 60);
    snprintf(rv, sizeof(rv), "%" PRIu64, 1000 + (a % 9000000));
    json_t *m = json_pack("{s:s, s:s, s:s, s:I, s:s}", "name", name, "uid", uid,
                          "creationTimestamp", ts, "generation", (json_int_t)1,
                          "resourceVersion", rv);
    if (m && ns)
        json_object_set_new(m, "namespace", json_string(ns));
    if (m && labels)
        json_object_set_new(m, "labels", labels);
    else
        json_decref(labels);
    return m;
}

static json_t *object(const char *api, const char *kind, json_t *metadata, json_t *spec)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", api, "kind", kind, "metadata",
                          metadata, "spec", spec);
    return o;
}

static void app_ns(size_t i, char *buf, size_t cap)
{
    snprintf(buf, cap, "app-%zu", i);
}

json_t *bs_gen_namespace(const bs_cluster_t *c, size_t i, bool exposed)
{
    char name[32];
    if (i == 0)
        snprintf(name, sizeof(name), "gateways");
    else if (i == 1)
        snprintf(name, sizeof(name), "shared");
    else
        app_ns(i - 2, name, sizeof(name));
    json_t *labels = json_pack("{s:s, s:s, s:s}", "kubernetes.io/metadata.name", name, "team",
                               i < 2 ? "platform" : (i % 3 == 0 ? "payments" : "catalog"), "env",
                               i % 4 == 1 ? "staging" : "prod");
    if (labels && exposed)
        json_object_set_new(labels, "expose", json_string("true"));
    json_t *o = object("v1", "Namespace", meta(c, BS_NAMESPACE, i, NULL, name, labels),
                       json_object());
    return o;
}

static bool ns_initially_exposed(size_t i)
{
    return i >= 2 && (i - 2) % 2 == 0;
}

json_t *bs_gen_gateway(const bs_cluster_t *c, size_t i, long http_port)
{
    char name[32], h1[64], h2[64];
    snprintf(name, sizeof(name), "gw-%zu", i);
    snprintf(h1, sizeof(h1), "*.gw-%zu.example.com", i);
    snprintf(h2, sizeof(h2), "*.gw-%zu.internal", i);
    json_t *listeners = json_pack(
        "[{s:s, s:s, s:I, s:s, s:{s:{s:s}}}, {s:s, s:s, s:I, s:s, s:{s:{s:s, s:{s:{s:s}}}}}]",
        "name", "http", "protocol", "HTTP", "port", (json_int_t)http_port, "hostname", h1,
        "allowedRoutes", "namespaces", "from", "All", "name", "internal", "protocol", "HTTP",
        "port", (json_int_t)8080, "hostname", h2, "allowedRoutes", "namespaces", "from",
        "Selector", "selector", "matchLabels", "expose", "true");
    json_t *spec = json_pack("{s:s, s:o}", "gatewayClassName", "krtgate", "listeners", listeners);
    json_t *labels = json_pack("{s:s}", "app.kubernetes.io/part-of", "edge");
    return object("gateway.networking.k8s.io/v1", "Gateway",
                  meta(c, BS_GATEWAY, i, "gateways", name, labels), spec);
}

json_t *bs_gen_service(const bs_cluster_t *c, size_t i, long port)
{
    char name[32], ns[32], ip[32];
    size_t n = c->scale.namespaces;
    if (i == app_services(c)) { /* the shared Service */
        snprintf(name, sizeof(name), "shared-api");
        snprintf(ns, sizeof(ns), "shared");
    } else {
        snprintf(name, sizeof(name), "svc-%zu", i);
        app_ns(i % n, ns, sizeof(ns));
    }
    snprintf(ip, sizeof(ip), "10.96.%zu.%zu", (i / 250) % 256, 1 + i % 250);
    json_t *labels = json_pack("{s:s, s:s}", "app", name, "app.kubernetes.io/managed-by", "helm");
    json_t *spec = json_pack(
        "{s:s, s:s, s:[s], s:{s:s}, s:[{s:s, s:I, s:I, s:s, s:s}, {s:s, s:I, s:I, s:s}], s:s}",
        "type", "ClusterIP", "clusterIP", ip, "clusterIPs", ip, "selector", "app", name, "ports",
        "name", "http", "port", (json_int_t)port, "targetPort", (json_int_t)8080, "protocol",
        "TCP", "appProtocol", "http", "name", "metrics", "port", (json_int_t)9090, "targetPort",
        (json_int_t)9090, "protocol", "TCP", "sessionAffinity", "None");
    return object("v1", "Service", meta(c, BS_SERVICE, i, ns, name, labels), spec);
}

json_t *bs_gen_pod(const bs_cluster_t *c, size_t i, uint32_t ip_salt)
{
    size_t s = i % app_services(c), n = c->scale.namespaces;
    char name[32], ns[32], app[32], ip[32], host[32], node[32], hash[16];
    snprintf(name, sizeof(name), "pod-%zu", i);
    snprintf(app, sizeof(app), "svc-%zu", s);
    app_ns(s % n, ns, sizeof(ns));
    uint32_t a = (uint32_t)((i + (uint64_t)ip_salt * 2654435761u) % (1u << 20));
    snprintf(ip, sizeof(ip), "10.%u.%u.%u", 128 + (a >> 16), (a >> 8) & 255, a & 255);
    snprintf(host, sizeof(host), "192.168.%zu.%zu", (i / 110) / 250 % 256, 1 + (i / 110) % 250);
    snprintf(node, sizeof(node), "node-%zu", i / 110);
    snprintf(hash, sizeof(hash), "%08x", (unsigned)rnd(c, BS_POD, s, 3));
    json_t *labels = json_pack("{s:s, s:s}", "app", app, "pod-template-hash", hash);
    json_t *spec = json_pack(
        "{s:s, s:[{s:s, s:s, s:[{s:s, s:I, s:s}, {s:s, s:I, s:s}], s:{s:{s:s, s:s}}}]}",
        "nodeName", node, "containers", "name", "app", "image",
        "registry.example.com/shop/app:1.4.2", "ports", "name", "http", "containerPort",
        (json_int_t)8080, "protocol", "TCP", "name", "metrics", "containerPort", (json_int_t)9090,
        "protocol", "TCP", "resources", "requests", "cpu", "100m", "memory", "128Mi");
    json_t *status = json_pack(
        "{s:s, s:s, s:s, s:[{s:s}], s:[{s:s, s:s}, {s:s, s:s}]}", "phase", "Running", "podIP", ip,
        "hostIP", host, "podIPs", "ip", ip, "conditions", "type", "Ready", "status", "True", "type",
        "ContainersReady", "status", "True");
    json_t *o = object("v1", "Pod", meta(c, BS_POD, i, ns, name, labels), spec);
    if (o)
        json_object_set_new(o, "status", status);
    else
        json_decref(status);
    return o;
}

static size_t route_service(const bs_cluster_t *c, size_t r, size_t which)
{
    size_t n = c->scale.namespaces, per_ns = app_services(c) / n;
    if (per_ns == 0)
        per_ns = 1;
    size_t k = (r / n + which) % per_ns;
    size_t s = r % n + n * k;
    return s < app_services(c) ? s : r % n;
}

json_t *bs_gen_route(const bs_cluster_t *c, size_t i, uint32_t version)
{
    size_t n = c->scale.namespaces, gws = c->scale.gateways;
    size_t per_gw = (c->scale.routes + gws - 1) / gws;
    size_t g = i / (per_gw ? per_gw : 1); /* a Gateway's routes are a block: spread over namespaces */
    char name[32], ns[32], gw[32], h1[64], h2[64], prefix[64], exact[64], tenant[24];
    char s1[32], s2[32];
    snprintf(name, sizeof(name), "route-%zu", i);
    app_ns(i % n, ns, sizeof(ns));
    snprintf(gw, sizeof(gw), "gw-%zu", g);
    snprintf(h1, sizeof(h1), "r%zu.gw-%zu.example.com", i, g);
    snprintf(h2, sizeof(h2), "r%zu.gw-%zu.internal", i, g);
    snprintf(prefix, sizeof(prefix), "/api/r%zu/v%u", i, version);
    snprintf(exact, sizeof(exact), "/healthz/r%zu", i);
    snprintf(tenant, sizeof(tenant), "t-%u", (unsigned)(rnd(c, BS_HTTP_ROUTE, i, 4) % 1000));
    snprintf(s1, sizeof(s1), "svc-%zu", route_service(c, i, 0));
    snprintf(s2, sizeof(s2), "svc-%zu", route_service(c, i, 1));
    json_t *backends0 = json_pack("[{s:s, s:I, s:I}, {s:s, s:I, s:I}]", "name", s1, "port",
                                  (json_int_t)8080, "weight", (json_int_t)90, "name", s2, "port",
                                  (json_int_t)8080, "weight", (json_int_t)10);
    json_t *backends1 = json_pack("[{s:s, s:I}]", "name", s1, "port", (json_int_t)8080);
    if (c->route_grant && c->route_grant[i] != -2 && backends1) /* -2: no cross-namespace ref */
        json_array_append_new(backends1,
                              json_pack("{s:s, s:s, s:I, s:I}", "name", "shared-api", "namespace",
                                        "shared", "port", (json_int_t)8080, "weight",
                                        (json_int_t)1));
    json_t *rules = json_pack(
        "[{s:[{s:{s:s, s:s}, s:[{s:s, s:s, s:s}]}], s:o, s:{s:s}},"
        " {s:[{s:{s:s, s:s}, s:s}], s:[{s:s, s:{s:[{s:s, s:s}]}}], s:o}]",
        "matches", "path", "type", "PathPrefix", "value", prefix, "headers", "type", "Exact",
        "name", "x-tenant", "value", tenant, "backendRefs", backends0, "timeouts", "request",
        "15s", "matches", "path", "type", "Exact", "value", exact, "method", "GET", "filters",
        "type", "RequestHeaderModifier", "requestHeaderModifier", "set", "name", "x-route",
        "value", name, "backendRefs", backends1);
    json_t *spec = json_pack("{s:[{s:s, s:s}], s:[s, s], s:o}", "parentRefs", "name", gw,
                             "namespace", "gateways", "hostnames", h1, h2, "rules", rules);
    json_t *labels = json_pack("{s:s}", "app", s1);
    return object("gateway.networking.k8s.io/v1", "HTTPRoute",
                  meta(c, BS_HTTP_ROUTE, i, ns, name, labels), spec);
}

json_t *bs_gen_grant(const bs_cluster_t *c, size_t i)
{
    char name[48], ns[32];
    app_ns(i, ns, sizeof(ns));
    snprintf(name, sizeof(name), "grant-%s", ns);
    json_t *spec = json_pack("{s:[{s:s, s:s, s:s}], s:[{s:s, s:s}]}", "from", "group",
                             "gateway.networking.k8s.io", "kind", "HTTPRoute", "namespace", ns,
                             "to", "group", "", "kind", "Service");
    return object("gateway.networking.k8s.io/v1beta1", "ReferenceGrant",
                  meta(c, BS_REFERENCE_GRANT, i, "shared", name, NULL), spec);
}

static json_t *gen_class(const bs_cluster_t *c)
{
    json_t *spec = json_pack("{s:s, s:s}", "controllerName", TR_DEFAULT_CONTROLLER, "description",
                             "synthetic cluster of krtgate bench");
    return object("gateway.networking.k8s.io/v1", "GatewayClass",
                  meta(c, BS_GATEWAY_CLASS, 0, NULL, "krtgate", NULL), spec);
}

int bs_cluster_set(bs_cluster_t *c, bs_kind_t k, size_t i, json_t *obj)
{
    char *text = NULL;
    if (obj) {
        /* Sorted keys: the text is what --dump writes, the same bytes for the same object. */
        text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(obj);
        if (!text)
            return -1;
    }
    free(c->objs[k][i]);
    c->objs[k][i] = text;
    return 0;
}

json_t *bs_cluster_get(const bs_cluster_t *c, bs_kind_t k, size_t i)
{
    const char *t = c->objs[k][i];
    if (!t)
        return NULL;
    krt_json_heap_begin(); /* as the informers parse API objects */
    json_t *v = json_loads(t, 0, NULL);
    krt_json_heap_end();
    return v;
}

size_t bs_cluster_count(const bs_cluster_t *c)
{
    size_t n = 0;
    for (int k = 0; k < BS_KIND_COUNT; k++)
        for (size_t i = 0; i < c->len[k]; i++)
            n += c->objs[k][i] != NULL;
    return n;
}

int bs_cluster_write(const bs_cluster_t *c, FILE *f)
{
    for (int k = 0; k < BS_KIND_COUNT; k++)
        for (size_t i = 0; i < c->len[k]; i++) {
            if (!c->objs[k][i])
                continue;
            json_t *o = bs_cluster_get(c, (bs_kind_t)k, i);
            int bad = !o || fputs("---\n", f) < 0 ||
                      json_dumpf(o, f, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || fputc('\n', f) == EOF;
            json_decref(o);
            if (bad)
                return -1;
        }
    return 0;
}

void bs_cluster_free(bs_cluster_t *c)
{
    if (!c)
        return;
    for (int k = 0; k < BS_KIND_COUNT; k++) {
        for (size_t i = 0; c->objs[k] && i < c->len[k]; i++)
            free(c->objs[k][i]);
        free(c->objs[k]);
    }
    free(c->route_grant);
    free(c);
}

bs_cluster_t *bs_cluster_new(const bs_scale_t *scale, uint64_t seed)
{
    bs_cluster_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->scale = *scale;
    c->seed = seed;
    if (c->scale.namespaces == 0)
        c->scale.namespaces = 1;
    if (c->scale.gateways == 0)
        c->scale.gateways = 1;
    if (c->scale.services < c->scale.namespaces)
        c->scale.services = c->scale.namespaces;
    if (c->scale.grants > c->scale.namespaces)
        c->scale.grants = c->scale.namespaces;
    c->len[BS_GATEWAY_CLASS] = 1;
    c->len[BS_NAMESPACE] = c->scale.namespaces + 2;
    c->len[BS_GATEWAY] = c->scale.gateways;
    c->len[BS_SERVICE] = c->scale.services + 1;
    c->len[BS_POD] = c->scale.pods;
    c->len[BS_HTTP_ROUTE] = c->scale.routes;
    c->len[BS_REFERENCE_GRANT] = c->scale.grants;
    c->route_grant = malloc((c->scale.routes + 1) * sizeof(long));
    if (!c->route_grant)
        goto oom;
    for (size_t r = 0; r < c->scale.routes; r++) {
        size_t ns = r % c->scale.namespaces;
        /* one route in 50 (and the first of each namespace with a grant) crosses namespaces */
        bool cross = r % 50 == 7 || (ns < c->scale.grants && r < c->scale.namespaces);
        c->route_grant[r] = !cross ? -2 : ns < c->scale.grants ? (long)ns : -1;
    }
    for (int k = 0; k < BS_KIND_COUNT; k++) {
        c->objs[k] = calloc(c->len[k] ? c->len[k] : 1, sizeof(char *));
        if (!c->objs[k])
            goto oom;
        for (size_t i = 0; i < c->len[k]; i++) {
            json_t *o = NULL;
            switch ((bs_kind_t)k) {
            case BS_GATEWAY_CLASS: o = gen_class(c); break;
            case BS_NAMESPACE: o = bs_gen_namespace(c, i, ns_initially_exposed(i)); break;
            case BS_GATEWAY: o = bs_gen_gateway(c, i, 80); break;
            case BS_SERVICE: o = bs_gen_service(c, i, 8080); break;
            case BS_POD: o = bs_gen_pod(c, i, 0); break;
            case BS_HTTP_ROUTE: o = bs_gen_route(c, i, 1); break;
            case BS_REFERENCE_GRANT: o = bs_gen_grant(c, i); break;
            case BS_KIND_COUNT: break;
            }
            if (!o || bs_cluster_set(c, (bs_kind_t)k, i, o) != 0)
                goto oom;
        }
    }
    return c;
oom:
    bs_cluster_free(c);
    return NULL;
}
