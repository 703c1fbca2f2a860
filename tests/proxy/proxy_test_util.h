/*
 * Helpers for the proxy tests: IR objects from short specs, and a config built from a list of
 * them. Every message is allocated with ir/pb.h's helpers and handed to ir_*_new (which takes it).
 */
#ifndef PROXY_TEST_UTIL_H
#define PROXY_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/pb.h"
#include "proxy/config.h"

typedef Agentgateway__Dev__Resource__Route tu_route_pb_t;

static inline char *tu_strdup(const char *s)
{
    return ir_pb_strdup(s);
}

static inline void *tu_grow(void *arr, size_t n, size_t elem)
{
    void *p = ir_pb_alloc((n + 1) * elem);
    if (arr) {
        memcpy(p, arr, n * elem);
        krt_free(arr);
    }
    return p;
}
#define TU_PUSH(arr, n, v)                          \
    do {                                            \
        (arr) = tu_grow((arr), (n), sizeof *(arr)); \
        (arr)[(n)++] = (v);                         \
    } while (0)

static inline const ir_obj_t *tu_bind(const char *key, uint32_t port)
{
    Agentgateway__Dev__Resource__Bind *b = ir_pb_alloc(sizeof *b);
    agentgateway__dev__resource__bind__init(b);
    b->key = tu_strdup(key);
    b->port = port;
    const ir_bind_t *x = ir_bind_new(b, "default/gw", NULL);
    return x ? ir_bind_obj(x) : NULL;
}

static inline const ir_obj_t *tu_listener(const char *key, const char *bind_key,
                                          const char *hostname)
{
    Agentgateway__Dev__Resource__Listener *l = ir_pb_alloc(sizeof *l);
    agentgateway__dev__resource__listener__init(l);
    l->key = tu_strdup(key);
    l->bind_key = tu_strdup(bind_key);
    l->hostname = tu_strdup(hostname ? hostname : "");
    l->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTP;
    const ir_listener_t *x = ir_listener_new(l, "default/gw", NULL);
    return x ? ir_listener_obj(x) : NULL;
}

/* "name=value" → two strings. */
static inline void tu_split(const char *tok, char **name, char **value)
{
    const char *eq = strchr(tok, '=');
    size_t nl = eq ? (size_t)(eq - tok) : strlen(tok);
    *name = ir_pb_alloc(nl + 1);
    memcpy(*name, tok, nl);
    *value = tu_strdup(eq ? eq + 1 : "");
}

/* matches: "exact:/one m:GET h:k=v hr:k=re q:k=v qr:k=re prefix:/p regex:re" groups separated by
 * " ; ". backends: "svc:<ns>/<hostname>:<port>=<w>", "be:<key>=<w>", "inline:<host>:<port>=<w>",
 * "none=<w>", separated by spaces. */
static inline tu_route_pb_t *tu_route_pb(const char *ns, const char *name, unsigned rule,
                                         const char *listener_key, const char *hosts,
                                         const char *matches, const char *backends)
{
    tu_route_pb_t *r = ir_pb_alloc(sizeof *r);
    agentgateway__dev__resource__route__init(r);
    char key[256];
    snprintf(key, sizeof key, "%s/%s.%02u.l", ns, name, rule);
    r->key = tu_strdup(key);
    r->listener_key = tu_strdup(listener_key);
    r->name = ir_pb_alloc(sizeof *r->name);
    agentgateway__dev__resource__route_name__init(r->name);
    r->name->kind = tu_strdup("HTTPRoute");
    r->name->name = tu_strdup(name);
    r->name->namespace_ = tu_strdup(ns);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", hosts ? hosts : "");
    for (char *sv, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv))
        TU_PUSH(r->hostnames, r->n_hostnames, tu_strdup(t));
    snprintf(buf, sizeof buf, "%s", matches ? matches : "");
    char *gsv;
    for (char *g = strtok_r(buf, ";", &gsv); g; g = strtok_r(NULL, ";", &gsv)) {
        Agentgateway__Dev__Resource__RouteMatch *m = ir_pb_alloc(sizeof *m);
        agentgateway__dev__resource__route_match__init(m);
        char *tsv;
        for (char *t = strtok_r(g, " ", &tsv); t; t = strtok_r(NULL, " ", &tsv)) {
            char *c = strchr(t, ':');
            if (!c)
                continue;
            *c = '\0';
            const char *v = c + 1;
            if (!strcmp(t, "exact") || !strcmp(t, "prefix") || !strcmp(t, "regex")) {
                m->path = ir_pb_alloc(sizeof *m->path);
                agentgateway__dev__resource__path_match__init(m->path);
                if (!strcmp(t, "exact")) {
                    m->path->kind_case = AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_EXACT;
                    m->path->exact = tu_strdup(v);
                } else if (!strcmp(t, "prefix")) {
                    m->path->kind_case = AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_PATH_PREFIX;
                    m->path->path_prefix = tu_strdup(v);
                } else {
                    m->path->kind_case = AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_REGEX;
                    m->path->regex = tu_strdup(v);
                }
            } else if (!strcmp(t, "m")) {
                m->method = ir_pb_alloc(sizeof *m->method);
                agentgateway__dev__resource__method_match__init(m->method);
                m->method->exact = tu_strdup(v);
            } else if (!strcmp(t, "h") || !strcmp(t, "hr")) {
                Agentgateway__Dev__Resource__HeaderMatch *h = ir_pb_alloc(sizeof *h);
                agentgateway__dev__resource__header_match__init(h);
                char *val;
                tu_split(v, &h->name, &val);
                if (t[1] == 'r') {
                    h->value_case = AGENTGATEWAY__DEV__RESOURCE__HEADER_MATCH__VALUE_REGEX;
                    h->regex = val;
                } else {
                    h->value_case = AGENTGATEWAY__DEV__RESOURCE__HEADER_MATCH__VALUE_EXACT;
                    h->exact = val;
                }
                TU_PUSH(m->headers, m->n_headers, h);
            } else if (!strcmp(t, "q") || !strcmp(t, "qr")) {
                Agentgateway__Dev__Resource__QueryMatch *q = ir_pb_alloc(sizeof *q);
                agentgateway__dev__resource__query_match__init(q);
                char *val;
                tu_split(v, &q->name, &val);
                if (t[1] == 'r') {
                    q->value_case = AGENTGATEWAY__DEV__RESOURCE__QUERY_MATCH__VALUE_REGEX;
                    q->regex = val;
                } else {
                    q->value_case = AGENTGATEWAY__DEV__RESOURCE__QUERY_MATCH__VALUE_EXACT;
                    q->exact = val;
                }
                TU_PUSH(m->query_params, m->n_query_params, q);
            }
        }
        TU_PUSH(r->matches, r->n_matches, m);
    }
    snprintf(buf, sizeof buf, "%s", backends ? backends : "");
    char *bsv;
    for (char *t = strtok_r(buf, " ", &bsv); t; t = strtok_r(NULL, " ", &bsv)) {
        Agentgateway__Dev__Resource__RouteBackend *rb = ir_pb_alloc(sizeof *rb);
        agentgateway__dev__resource__route_backend__init(rb);
        char *w = strrchr(t, '=');
        rb->weight = w ? atoi(w + 1) : 1;
        if (w)
            *w = '\0';
        if (strncmp(t, "none", 4) != 0) {
            Agentgateway__Dev__Resource__BackendReference *br = ir_pb_alloc(sizeof *br);
            agentgateway__dev__resource__backend_reference__init(br);
            if (!strncmp(t, "svc:", 4)) {
                char *slash = strchr(t + 4, '/');
                char *colon = strrchr(t, ':');
                br->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_SERVICE;
                br->service = ir_pb_alloc(sizeof *br->service);
                agentgateway__dev__resource__backend_reference__service__init(br->service);
                *slash = '\0';
                *colon = '\0';
                br->service->namespace_ = tu_strdup(t + 4);
                br->service->hostname = tu_strdup(slash + 1);
                br->port = (uint32_t)atoi(colon + 1);
            } else if (!strncmp(t, "be:", 3)) {
                br->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND;
                br->backend = tu_strdup(t + 3);
            } else if (!strncmp(t, "inline:", 7)) {
                char *colon = strrchr(t, ':');
                *colon = '\0';
                br->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_INLINE;
                br->inline_ = ir_pb_alloc(sizeof *br->inline_);
                agentgateway__dev__resource__backend_reference__inline__init(br->inline_);
                br->inline_->hostname = tu_strdup(t + 7);
                br->inline_->port = (uint32_t)atoi(colon + 1);
            }
            rb->backend = br;
        }
        TU_PUSH(r->backends, r->n_backends, rb);
    }
    return r;
}

static inline const ir_obj_t *tu_route_seal(tu_route_pb_t *r)
{
    ir_err_t err;
    const ir_route_t *x = ir_route_new(r, "default/gw", &err);
    if (!x)
        fprintf(stderr, "tu_route_seal: %s\n", err.msg);
    return x ? ir_route_obj(x) : NULL;
}

static inline const ir_obj_t *tu_route(const char *ns, const char *name, unsigned rule,
                                       const char *listener_key, const char *hosts,
                                       const char *matches, const char *backends)
{
    return tu_route_seal(tu_route_pb(ns, name, rule, listener_key, hosts, matches, backends));
}

static inline const ir_obj_t *tu_static_backend(const char *key, const char *host, int port)
{
    Agentgateway__Dev__Resource__Backend *b = ir_pb_alloc(sizeof *b);
    agentgateway__dev__resource__backend__init(b);
    b->key = tu_strdup(key);
    b->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_STATIC;
    b->static_ = ir_pb_alloc(sizeof *b->static_);
    agentgateway__dev__resource__static_backend__init(b->static_);
    b->static_->host = tu_strdup(host);
    b->static_->port = port;
    const ir_backend_t *x = ir_backend_new(b, "default/gw", NULL);
    return x ? ir_backend_obj(x) : NULL;
}

/* A Service "ns/hostname" with one port mapping. */
static inline const ir_obj_t *tu_service(const char *ns, const char *hostname, uint32_t port,
                                         uint32_t target)
{
    Istio__Workload__Address *a = ir_pb_alloc(sizeof *a);
    istio__workload__address__init(a);
    a->type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE;
    a->service = ir_pb_alloc(sizeof *a->service);
    istio__workload__service__init(a->service);
    a->service->namespace_ = tu_strdup(ns);
    a->service->hostname = tu_strdup(hostname);
    a->service->name = tu_strdup(hostname);
    Istio__Workload__Port *p = ir_pb_alloc(sizeof *p);
    istio__workload__port__init(p);
    p->service_port = port;
    p->target_port = target;
    TU_PUSH(a->service->ports, a->service->n_ports, p);
    const ir_address_t *x = ir_address_new(a, NULL, NULL);
    return x ? ir_address_obj(x) : NULL;
}

/* A healthy Workload with IPv4 |ip| serving Service "ns/hostname" (port → target, 0: keep). */
static inline const ir_obj_t *tu_workload(const char *uid, const char *ip, const char *svc,
                                          uint32_t port, uint32_t target)
{
    Istio__Workload__Address *a = ir_pb_alloc(sizeof *a);
    istio__workload__address__init(a);
    a->type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_WORKLOAD;
    a->workload = ir_pb_alloc(sizeof *a->workload);
    istio__workload__workload__init(a->workload);
    Istio__Workload__Workload *w = a->workload;
    w->uid = tu_strdup(uid);
    w->name = tu_strdup(uid);
    w->namespace_ = tu_strdup("default");
    unsigned b0, b1, b2, b3;
    sscanf(ip, "%u.%u.%u.%u", &b0, &b1, &b2, &b3);
    uint8_t raw[4] = {(uint8_t)b0, (uint8_t)b1, (uint8_t)b2, (uint8_t)b3};
    ProtobufCBinaryData bd = {4, ir_pb_memdup(raw, 4)};
    TU_PUSH(w->addresses, w->n_addresses, bd);
    Istio__Workload__Workload__ServicesEntry *e = ir_pb_alloc(sizeof *e);
    istio__workload__workload__services_entry__init(e);
    e->key = tu_strdup(svc);
    e->value = ir_pb_alloc(sizeof *e->value);
    istio__workload__port_list__init(e->value);
    Istio__Workload__Port *p = ir_pb_alloc(sizeof *p);
    istio__workload__port__init(p);
    p->service_port = port;
    p->target_port = target;
    TU_PUSH(e->value->ports, e->value->n_ports, p);
    TU_PUSH(w->services, w->n_services, e);
    const ir_address_t *x = ir_address_new(a, NULL, NULL);
    return x ? ir_address_obj(x) : NULL;
}

/* Applies |objs| (NULL-terminated; released here) as additions. Returns proxy_config_apply's. */
static inline int tu_apply(proxy_config_t *cfg, const ir_obj_t **objs, char *reason, size_t cap)
{
    size_t n = 0;
    while (objs[n])
        n++;
    proxy_change_t *ch = calloc(n + 1, sizeof *ch);
    for (size_t i = 0; i < n; i++)
        proxy_change_of_obj(&ch[i], objs[i]);
    int rc = proxy_config_apply(cfg, ch, n, false, reason, cap);
    for (size_t i = 0; i < n; i++)
        ir_obj_release(objs[i]);
    free(ch);
    return rc;
}

#endif
