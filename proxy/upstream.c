/*
 * Upstream selection (proxy/upstream.h): weighted choice of a RouteBackend, then resolution to
 * one endpoint through the snapshot (Backends by key, Services joined with their Workloads when
 * the snapshot was built).
 *
 * Key decision: resolve per request against the request's snapshot instead of keeping resolved
 * endpoint lists in the connection pool: endpoints change with Address updates, and the snapshot
 * already holds the Service → Workload join, so a lookup is a binary search plus a scan of that
 * Service's workloads.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "proxy/upstream.h"

static int fail(char *why, size_t cap, const char *fmt, const char *a, unsigned b)
{
    if (why && cap)
        snprintf(why, cap, fmt, a, b);
    return PROXY_ENOBACKEND;
}

static uint32_t port_map(const Istio__Workload__Port *const *ports, size_t n, uint32_t port,
                         int *h2c)
{
    for (size_t i = 0; i < n; i++) {
        if (ports[i]->service_port != port)
            continue;
        if (h2c && (ports[i]->app_protocol == ISTIO__WORKLOAD__APP_PROTOCOL__HTTP2 ||
                    ports[i]->app_protocol == ISTIO__WORKLOAD__APP_PROTOCOL__GRPC))
            *h2c = 1;
        return ports[i]->target_port;
    }
    return 0;
}

/* "a/b" into |out|, cut at |cap| - 1 bytes as snprintf would; per request, where snprintf showed
 * in profiles. */
static void join_slash(char *out, size_t cap, const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b), n = 0;
    size_t take = al < cap - 1 ? al : cap - 1;
    memcpy(out, a, take);
    n = take;
    if (n < cap - 1)
        out[n++] = '/';
    take = bl < cap - 1 - n ? bl : cap - 1 - n;
    memcpy(out + n, b, take);
    out[n + take] = '\0';
}

/* An address as text (inet_ntop's form); IPv4 by hand, since every request resolves one. */
static bool addr_format(const ProtobufCBinaryData *a, char *out, size_t cap)
{
    if (a->len == 16)
        return inet_ntop(AF_INET6, a->data, out, (socklen_t)cap) != NULL;
    if (a->len != 4 || cap < 16)
        return false;
    char *o = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = a->data[i];
        if (v >= 100)
            *o++ = (char)('0' + v / 100);
        if (v >= 10)
            *o++ = (char)('0' + v / 10 % 10);
        *o++ = (char)('0' + v % 10);
        *o++ = i < 3 ? '.' : '\0';
    }
    return true;
}

static int resolve_service(const proxy_snapshot_t *s, const agw_backend_ref_t *ref, proxy_lb_t *lb,
                           proxy_endpoint_t *ep, char *why, size_t cap)
{
    char name[512];
    join_slash(name, sizeof name, ref->service->namespace_, ref->service->hostname);
    const proxy__service_t *sv = proxy__service_find(s, name);
    if (!sv)
        return fail(why, cap, "service %s (port %u) is unknown", name, ref->port);
    int h2c = 0;
    uint32_t target = port_map((const Istio__Workload__Port *const *)sv->pb->ports, sv->pb->n_ports,
                               ref->port, &h2c);
    /* Workloads that have an address. */
    size_t usable = 0;
    for (size_t i = 0; i < sv->nworkloads; i++) {
        const Istio__Workload__Workload *w = ir_address_workload(s->workloads[sv->workloads[i]]);
        usable += w->n_addresses > 0;
    }
    if (usable == 0)
        return fail(why, cap, "service %s (port %u) has no healthy endpoint", name, ref->port);
    size_t pick = proxy_lb_round_robin(lb, usable);
    for (size_t i = 0; i < sv->nworkloads; i++) {
        const Istio__Workload__Workload *w = ir_address_workload(s->workloads[sv->workloads[i]]);
        if (w->n_addresses == 0 || pick--)
            continue;
        uint32_t port = target ? target : ref->port;
        for (size_t e = 0; e < w->n_services; e++) {
            if (strcmp(w->services[e]->key, name) != 0 || !w->services[e]->value)
                continue;
            uint32_t t =
                port_map((const Istio__Workload__Port *const *)w->services[e]->value->ports,
                         w->services[e]->value->n_ports, ref->port, NULL);
            if (t)
                port = t;
        }
        const ProtobufCBinaryData *a = &w->addresses[0];
        if (!addr_format(a, ep->host, sizeof ep->host))
            return fail(why, cap, "workload %s has a malformed address (port %u)", w->uid, port);
        ep->port = (uint16_t)port;
        ep->h2c = h2c;
        return PROXY_OK;
    }
    return fail(why, cap, "service %s (port %u): no endpoint", name, ref->port);
}

int proxy_upstream_resolve(const proxy_snapshot_t *s, const agw_route_backend_t *rb, proxy_lb_t *lb,
                           proxy_endpoint_t *ep, char *why, size_t cap)
{
    memset(ep, 0, sizeof *ep);
    const agw_backend_ref_t *ref = rb ? rb->backend : NULL;
    if (!ref)
        return fail(why, cap, "backendRef%s did not resolve (no reference)", "", 0);
    switch (ref->kind_case) {
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_SERVICE:
        return resolve_service(s, ref, lb, ep, why, cap);
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_INLINE:
        if (!ref->inline_->hostname[0] || !ref->inline_->port || ref->inline_->port > 65535)
            return fail(why, cap, "inline backend %s:%u is incomplete", ref->inline_->hostname,
                        ref->inline_->port);
        snprintf(ep->host, sizeof ep->host, "%s", ref->inline_->hostname);
        ep->port = (uint16_t)ref->inline_->port;
        return PROXY_OK;
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND: {
        const ir_backend_t *b = proxy_snapshot_backend(s, ref->backend);
        if (!b)
            return fail(why, cap, "backend %s is unknown%.0u", ref->backend, 0);
        const Agentgateway__Dev__Resource__Backend *pb = ir_backend_pb(b);
        if (pb->kind_case != AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_STATIC)
            return fail(why, cap, "backend %s: kind not supported by the proxy%.0u", ref->backend,
                        0);
        if (!pb->static_->host[0] || pb->static_->port <= 0 || pb->static_->port > 65535)
            return fail(why, cap, "backend %s: static host/port missing%.0u", ref->backend, 0);
        snprintf(ep->host, sizeof ep->host, "%s", pb->static_->host);
        ep->port = (uint16_t)pb->static_->port;
        return PROXY_OK;
    }
    default:
        return fail(why, cap, "backendRef%s has no kind", "", 0);
    }
}

int proxy_upstream_pick(const proxy_snapshot_t *s, const agw_route_t *route, proxy_lb_t *lb,
                        const agw_route_backend_t **chosen, proxy_endpoint_t *ep, char *why,
                        size_t cap)
{
    *chosen = NULL;
    if (!route || route->n_backends == 0)
        return fail(why, cap, "route %s has no backends%.0u", route ? route->key : "?", 0);
    int32_t w[64];
    size_t n = route->n_backends < 64 ? route->n_backends : 64;
    for (size_t i = 0; i < n; i++)
        w[i] = route->backends[i]->weight;
    long i = proxy_lb_pick_weighted(lb, w, n);
    if (i < 0)
        return fail(why, cap, "route %s: every backend has weight 0%.0u", route->key, 0);
    *chosen = route->backends[i];
    return proxy_upstream_resolve(s, *chosen, lb, ep, why, cap);
}
