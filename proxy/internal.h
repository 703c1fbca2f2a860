/*
 * proxy/ internals shared by config.c (which builds snapshots), router.c and upstream.c (which
 * read them). Not a public header.
 */
#ifndef PROXY_INTERNAL_H
#define PROXY_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>

#include "proxy/config.h"

typedef Agentgateway__Dev__Resource__Route agw_route_t;
typedef Agentgateway__Dev__Resource__RouteMatch agw_match_t;
typedef Agentgateway__Dev__Resource__RouteBackend agw_route_backend_t;
typedef Agentgateway__Dev__Resource__BackendReference agw_backend_ref_t;
typedef Agentgateway__Dev__Resource__TrafficPolicySpec agw_tps_t;
typedef Agentgateway__Dev__Resource__HeaderModifier agw_header_modifier_t;
typedef Agentgateway__Dev__Resource__RequestRedirect agw_redirect_t;
typedef Agentgateway__Dev__Resource__UrlRewrite agw_rewrite_t;
typedef Agentgateway__Dev__Resource__DirectResponse agw_direct_t;
typedef Agentgateway__Dev__Resource__CORS agw_cors_t;

enum { PROXY__PATH_EXACT = 3, PROXY__PATH_PREFIX = 2, PROXY__PATH_REGEX = 1 };

/* One RouteMatch, ready to evaluate. */
typedef struct proxy__match {
    const agw_match_t *pb; /* NULL: the route has no matches (matches everything, as prefix "/") */
    int path_kind;         /* PROXY__PATH_* (higher is more specific) */
    const char *path;      /* exact value, normalised prefix, or regex source */
    size_t path_len;
    pcre2_code *path_re;    /* PROXY__PATH_REGEX */
    pcre2_code **header_re; /* [pb->n_headers], NULL entries for exact matches */
    pcre2_code **query_re;  /* [pb->n_query_params] */
} proxy__match_t;

typedef struct proxy__route {
    const ir_route_t *obj;
    const agw_route_t *pb;
    size_t listener;  /* index into snapshot listeners */
    unsigned rule;    /* rule index parsed from the key (0 if absent) */
    char *order_name; /* "<ns>/<name>" for the tie-break */
    proxy__match_t *matches;
    size_t nmatches;
} proxy__route_t;

typedef struct proxy__listener {
    const ir_listener_t *obj;
    size_t bind;    /* index into snapshot binds */
    size_t *routes; /* indexes into snapshot routes */
    size_t nroutes;
    size_t *tcp_routes; /* indexes into snapshot tcp_routes, in key order */
    size_t ntcp_routes;
} proxy__listener_t;

typedef struct proxy__service {
    const ir_address_t *obj;
    const Istio__Workload__Service *pb;
    const char *name;  /* "ns/hostname" */
    size_t *workloads; /* indexes into snapshot workloads, HEALTHY ones */
    size_t nworkloads;
} proxy__service_t;

typedef struct proxy__entry {
    int type;
    const char *name; /* borrowed from obj */
    const ir_obj_t *obj;
} proxy__entry_t;

/* INVARIANTS
 *  S1 objs is sorted by (type, name), names unique per type, every obj retained once
 *  S2 binds/listeners/routes/backends/services/workloads point into objs, each sorted by key
 *  S3 listener.bind, route.listener and listener.routes are valid indexes (V1, V2 held)
 *  S4 every regex of every match is compiled
 */
struct proxy_snapshot {
    atomic_long refs;
    uint64_t generation;
    proxy__entry_t *objs;
    size_t nobjs;
    const ir_bind_t **binds;
    size_t nbinds;
    proxy__listener_t *listeners;
    size_t nlisteners;
    proxy__route_t *routes;
    size_t nroutes;
    const ir_tcp_route_t **tcp_routes;
    size_t ntcp_routes;
    const ir_backend_t **backends;
    size_t nbackends;
    proxy__service_t *services;
    size_t nservices;
    const ir_address_t **workloads;
    size_t nworkloads;
    size_t npolicies;
    struct proxy__policies *pol; /* policy.c: compiled Policies and effective sets per route */
};

/* Index of the Bind / Listener with inner key |key|, or (size_t)-1. */
size_t proxy__bind_index(const proxy_snapshot_t *s, const char *key);
const proxy__service_t *proxy__service_find(const proxy_snapshot_t *s, const char *name);

/* policy.c: builds s->pol once the other tables are indexed (validation P1-P4 in
 * proxy/policy.h), carrying token buckets and TLS contexts over from |old| (may be NULL) for
 * unchanged policies. Returns PROXY_OK, PROXY_ECONFIG with |reason|, or PROXY_ENOMEM; s->pol is
 * set either way (freed with the snapshot). */
typedef struct proxy__policies proxy__policies_t;
int proxy__policies_build(proxy_snapshot_t *s, const proxy_snapshot_t *old, char *reason,
                          size_t cap);
void proxy__policies_free(proxy__policies_t *t);
/* Debug check of the policy tables' invariants (Q1-Q3 in policy.c). */
int proxy__policies_check(const proxy_snapshot_t *s);

#endif
