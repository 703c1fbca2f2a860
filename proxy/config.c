/*
 * The config store: immutable, refcounted snapshots of the IR, replaced whole on every accepted
 * change set (proxy/config.h).
 *
 * Key decision: a change set builds a complete new snapshot (merge of the previous objects and the
 * changes, then every derived table recomputed) instead of patching the live one in place. The
 * cost is O(n log n) per change set over the objects one proxy holds (thousands at most), paid on
 * the control path; the gains are that validation sees the final state (a Route and the Listener
 * it needs may arrive in one change set, in any order), a rejection leaves nothing to undo, and a
 * request in flight keeps a consistent view simply by holding a reference. Incremental patching
 * with per-object versions was rejected: it would need undo on rejection and would make every
 * request-time read pay for concurrency with the writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "ir/pb.h"
#include "ir/policy.h"
#include "proxy/frontend.h"
#include "proxy/policy.h"

const char *proxy_strerror(int rc)
{
    switch (rc) {
#define PROXY__ERR_STR(name, code, msg) \
    case (code):                        \
        return msg;
        PROXY_ERRNO_MAP(PROXY__ERR_STR)
#undef PROXY__ERR_STR
    default:
        return "unknown error";
    }
}

void proxy_change_of_obj(proxy_change_t *c, const ir_obj_t *o)
{
    c->type = ir_obj_kind(o) == IR_KIND_ADDRESS ? PROXY_TYPE_ADDRESS : PROXY_TYPE_RESOURCE;
    c->name = ir_obj_name(o);
    c->obj = o;
}

struct proxy_config {
    proxy_snapshot_t *current;
    uint64_t accepted, rejected;
    char last_error[512];
};

/* ------------------------------------------------------------------------------------------- */

static void match_dispose(proxy__match_t *m)
{
    if (m->path_re)
        pcre2_code_free(m->path_re);
    if (m->pb) {
        for (size_t i = 0; m->header_re && i < m->pb->n_headers; i++)
            if (m->header_re[i])
                pcre2_code_free(m->header_re[i]);
        for (size_t i = 0; m->query_re && i < m->pb->n_query_params; i++)
            if (m->query_re[i])
                pcre2_code_free(m->query_re[i]);
    }
    free(m->header_re);
    free(m->query_re);
}

static void snapshot_free(proxy_snapshot_t *s)
{
    proxy__policies_free(s->pol);
    for (size_t i = 0; i < s->nroutes; i++) {
        for (size_t j = 0; j < s->routes[i].nmatches; j++)
            match_dispose(&s->routes[i].matches[j]);
        free(s->routes[i].matches);
        free(s->routes[i].order_name);
    }
    for (size_t i = 0; i < s->nlisteners; i++) {
        free(s->listeners[i].routes);
        free(s->listeners[i].tcp_routes);
    }
    for (size_t i = 0; i < s->nservices; i++)
        free(s->services[i].workloads);
    for (size_t i = 0; i < s->nobjs; i++)
        ir_obj_release(s->objs[i].obj);
    free(s->objs);
    free(s->binds);
    free(s->listeners);
    free(s->routes);
    free(s->tcp_routes);
    free(s->backends);
    free(s->services);
    free(s->workloads);
    free(s);
}

const proxy_snapshot_t *proxy_snapshot_retain(const proxy_snapshot_t *s)
{
    atomic_fetch_add(&((proxy_snapshot_t *)s)->refs, 1);
    return s;
}

void proxy_snapshot_release(const proxy_snapshot_t *s)
{
    if (!s)
        return;
    if (atomic_fetch_sub(&((proxy_snapshot_t *)s)->refs, 1) == 1)
        snapshot_free((proxy_snapshot_t *)s);
}

uint64_t proxy_snapshot_generation(const proxy_snapshot_t *s)
{
    return s->generation;
}

static int entry_cmp(int ta, const char *na, int tb, const char *nb)
{
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(na, nb);
}

const ir_obj_t *proxy_snapshot_get(const proxy_snapshot_t *s, int type, const char *name)
{
    size_t lo = 0, hi = s->nobjs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = entry_cmp(s->objs[mid].type, s->objs[mid].name, type, name);
        if (c == 0)
            return s->objs[mid].obj;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t proxy_snapshot_count(const proxy_snapshot_t *s, ir_kind_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nobjs; i++)
        n += ir_obj_kind(s->objs[i].obj) == kind;
    return n;
}

/* Binary search over an array of objects sorted by inner key. */
#define KEY_SEARCH(arr, n, keyfn, key)                \
    do {                                              \
        size_t lo_ = 0, hi_ = (n);                    \
        while (lo_ < hi_) {                           \
            size_t mid_ = (lo_ + hi_) / 2;            \
            int c_ = strcmp(keyfn(arr[mid_]), (key)); \
            if (c_ == 0)                              \
                return mid_;                          \
            if (c_ < 0)                               \
                lo_ = mid_ + 1;                       \
            else                                      \
                hi_ = mid_;                           \
        }                                             \
        return (size_t)-1;                            \
    } while (0)

size_t proxy__bind_index(const proxy_snapshot_t *s, const char *key)
{
    KEY_SEARCH(s->binds, s->nbinds, ir_bind_key, key);
}

#define LISTENER_KEY(l) ir_listener_key((l).obj)
static size_t listener_index(const proxy_snapshot_t *s, const char *key)
{
    KEY_SEARCH(s->listeners, s->nlisteners, LISTENER_KEY, key);
}

static size_t backend_index(const proxy_snapshot_t *s, const char *key)
{
    KEY_SEARCH(s->backends, s->nbackends, ir_backend_key, key);
}

#define SERVICE_NAME(x) ((x).name)
static size_t service_index(const proxy_snapshot_t *s, const char *name)
{
    KEY_SEARCH(s->services, s->nservices, SERVICE_NAME, name);
}

const proxy__service_t *proxy__service_find(const proxy_snapshot_t *s, const char *name)
{
    size_t i = service_index(s, name);
    return i == (size_t)-1 ? NULL : &s->services[i];
}

const ir_bind_t *proxy_snapshot_bind(const proxy_snapshot_t *s, const char *key)
{
    size_t i = proxy__bind_index(s, key);
    return i == (size_t)-1 ? NULL : s->binds[i];
}

const ir_bind_t *proxy_snapshot_bind_at(const proxy_snapshot_t *s, size_t i)
{
    return i < s->nbinds ? s->binds[i] : NULL;
}

const ir_backend_t *proxy_snapshot_backend(const proxy_snapshot_t *s, const char *key)
{
    size_t i = backend_index(s, key);
    return i == (size_t)-1 ? NULL : s->backends[i];
}

json_t *proxy_snapshot_dump(const proxy_snapshot_t *s)
{
    json_t *arr = json_array();
    json_t *o = json_object();
    if (!arr || !o) {
        json_decref(arr);
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < s->nobjs; i++) {
        json_t *d = ir_obj_dump(s->objs[i].obj);
        if (!d || json_array_append_new(arr, d) != 0) {
            json_decref(arr);
            json_decref(o);
            return NULL;
        }
    }
    json_object_set_new(o, "generation", json_integer((json_int_t)s->generation));
    json_object_set_new(o, "objects", arr);
    json_object_set_new(o, "not_served", proxy_policy_dump_unserved(s));
    json_object_set_new(o, "policy_warnings", proxy_policy_dump_warnings(s));
    return o;
}

/* ------------------------------------------------------------------------------------------- */
/* Building a snapshot. */

static pcre2_code *regex_compile(const char *src, const char *what, const char *obj, char *reason,
                                 size_t cap)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (!re && reason) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(reason, cap, "%s: %s regex \"%s\" does not compile at offset %zu: %s", obj, what,
                 src, (size_t)off, (const char *)msg);
    }
    return re;
}

static int match_build(proxy__match_t *m, const agw_match_t *pb, const char *obj, size_t idx,
                       char *reason, size_t cap)
{
    memset(m, 0, sizeof *m);
    m->pb = pb;
    m->path_kind = PROXY__PATH_PREFIX;
    m->path = "/";
    m->path_len = 1;
    if (!pb)
        return PROXY_OK;
    char what[96];
    const Agentgateway__Dev__Resource__PathMatch *p = pb->path;
    if (p && p->kind_case == AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_EXACT) {
        m->path_kind = PROXY__PATH_EXACT;
        m->path = p->exact;
        m->path_len = strlen(p->exact);
    } else if (p && p->kind_case == AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_PATH_PREFIX) {
        m->path = p->path_prefix;
        m->path_len = strlen(p->path_prefix);
        while (m->path_len > 1 && m->path[m->path_len - 1] == '/')
            m->path_len--; /* "/v2/" matches as "/v2" (segment-wise) */
        if (m->path_len == 0) {
            m->path = "/";
            m->path_len = 1;
        }
    } else if (p && p->kind_case == AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_REGEX) {
        m->path_kind = PROXY__PATH_REGEX;
        m->path = p->regex;
        m->path_len = strlen(p->regex);
        snprintf(what, sizeof what, "matches[%zu].path", idx);
        if (!(m->path_re = regex_compile(p->regex, what, obj, reason, cap)))
            return PROXY_ECONFIG;
    }
    if (pb->n_headers && !(m->header_re = calloc(pb->n_headers, sizeof *m->header_re)))
        return PROXY_ENOMEM;
    for (size_t i = 0; i < pb->n_headers; i++) {
        if (pb->headers[i]->value_case != AGENTGATEWAY__DEV__RESOURCE__HEADER_MATCH__VALUE_REGEX)
            continue;
        snprintf(what, sizeof what, "matches[%zu].headers[%zu]", idx, i);
        if (!(m->header_re[i] = regex_compile(pb->headers[i]->regex, what, obj, reason, cap)))
            return PROXY_ECONFIG;
    }
    if (pb->n_query_params && !(m->query_re = calloc(pb->n_query_params, sizeof *m->query_re)))
        return PROXY_ENOMEM;
    for (size_t i = 0; i < pb->n_query_params; i++) {
        if (pb->query_params[i]->value_case !=
            AGENTGATEWAY__DEV__RESOURCE__QUERY_MATCH__VALUE_REGEX)
            continue;
        snprintf(what, sizeof what, "matches[%zu].query_params[%zu]", idx, i);
        if (!(m->query_re[i] = regex_compile(pb->query_params[i]->regex, what, obj, reason, cap)))
            return PROXY_ECONFIG;
    }
    return PROXY_OK;
}

static int route_build(proxy_snapshot_t *s, proxy__route_t *r, const ir_route_t *obj, size_t li,
                       char *reason, size_t cap)
{
    const agw_route_t *pb = ir_route_pb(obj);
    r->obj = obj;
    r->pb = pb;
    r->listener = li;
    const char *key = ir_route_key(obj);
    if (pb->name && pb->name->name[0]) {
        size_t nl = strlen(pb->name->namespace_) + 1 + strlen(pb->name->name) + 1;
        if (!(r->order_name = malloc(nl)))
            return PROXY_ENOMEM;
        snprintf(r->order_name, nl, "%s/%s", pb->name->namespace_, pb->name->name);
        size_t pl = strlen(r->order_name);
        if (strncmp(key, r->order_name, pl) == 0 && key[pl] == '.') {
            unsigned v = 0;
            for (const char *q = key + pl + 1; *q >= '0' && *q <= '9'; q++)
                v = v * 10 + (unsigned)(*q - '0');
            r->rule = v;
        }
    } else if (!(r->order_name = strdup(key))) {
        return PROXY_ENOMEM;
    }
    size_t nm = pb->n_matches ? pb->n_matches : 1;
    if (!(r->matches = calloc(nm, sizeof *r->matches)))
        return PROXY_ENOMEM;
    r->nmatches = nm;
    for (size_t i = 0; i < nm; i++) {
        int rc = match_build(&r->matches[i], pb->n_matches ? pb->matches[i] : NULL,
                             ir_obj_name(ir_route_obj(obj)), i, reason, cap);
        if (rc != PROXY_OK)
            return rc;
    }
    (void)s;
    return PROXY_OK;
}

static int snapshot_index(proxy_snapshot_t *s, char *reason, size_t cap)
{
    size_t nk[IR_KIND_COUNT + 1] = {0};
    size_t nsvc = 0, nwl = 0;
    for (size_t i = 0; i < s->nobjs; i++) {
        ir_kind_t k = ir_obj_kind(s->objs[i].obj);
        nk[k]++;
        if (k == IR_KIND_ADDRESS) {
            const ir_address_t *a = ir_address_from_obj(s->objs[i].obj);
            if (ir_address_service(a))
                nsvc++;
            else
                nwl++;
        }
    }
    s->binds = calloc(nk[IR_KIND_BIND] + 1, sizeof *s->binds);
    s->listeners = calloc(nk[IR_KIND_LISTENER] + 1, sizeof *s->listeners);
    s->routes = calloc(nk[IR_KIND_ROUTE] + 1, sizeof *s->routes);
    s->tcp_routes = calloc(nk[IR_KIND_TCP_ROUTE] + 1, sizeof *s->tcp_routes);
    s->backends = calloc(nk[IR_KIND_BACKEND] + 1, sizeof *s->backends);
    s->services = calloc(nsvc + 1, sizeof *s->services);
    s->workloads = calloc(nwl + 1, sizeof *s->workloads);
    if (!s->binds || !s->listeners || !s->routes || !s->tcp_routes || !s->backends ||
        !s->services || !s->workloads)
        return PROXY_ENOMEM;
    s->npolicies = nk[IR_KIND_POLICY];

    /* Objects are sorted by xDS name, and within a kind every name is "<prefix>/<key>": so each
     * per-kind array below comes out sorted by inner key (S2). */
    for (size_t i = 0; i < s->nobjs; i++) {
        const ir_obj_t *o = s->objs[i].obj;
        switch (ir_obj_kind(o)) {
        case IR_KIND_BIND:
            if (s->nbinds && strcmp(ir_bind_key(s->binds[s->nbinds - 1]),
                                    ir_bind_key(ir_bind_from_obj(o))) == 0) {
                snprintf(reason, cap, "%s: a second Bind with key \"%s\"", ir_obj_name(o),
                         ir_bind_key(ir_bind_from_obj(o)));
                return PROXY_ECONFIG;
            }
            s->binds[s->nbinds++] = ir_bind_from_obj(o);
            break;
        case IR_KIND_LISTENER:
            s->listeners[s->nlisteners++].obj = ir_listener_from_obj(o);
            break;
        case IR_KIND_BACKEND:
            s->backends[s->nbackends++] = ir_backend_from_obj(o);
            break;
        case IR_KIND_TCP_ROUTE:
            s->tcp_routes[s->ntcp_routes++] = ir_tcp_route_from_obj(o);
            break;
        case IR_KIND_ADDRESS: {
            const ir_address_t *a = ir_address_from_obj(o);
            if (ir_address_service(a)) {
                proxy__service_t *sv = &s->services[s->nservices++];
                sv->obj = a;
                sv->pb = ir_address_service(a);
                sv->name = ir_address_name(a);
            } else {
                s->workloads[s->nworkloads++] = a;
            }
            break;
        }
        default:
            break;
        }
    }
    /* Services are "ns/hostname" and workloads are uids: both sorted by name already. */

    for (size_t i = 0; i < s->nlisteners; i++) { /* V1 */
        proxy__listener_t *l = &s->listeners[i];
        size_t b = proxy__bind_index(s, ir_listener_bind_key(l->obj));
        if (b == (size_t)-1) {
            snprintf(reason, cap, "%s: bind_key \"%s\" names no Bind",
                     ir_obj_name(ir_listener_obj(l->obj)), ir_listener_bind_key(l->obj));
            return PROXY_ECONFIG;
        }
        l->bind = b;
    }
    for (size_t i = 0; i < s->ntcp_routes; i++) { /* V3 */
        const ir_tcp_route_t *t = s->tcp_routes[i];
        size_t li = listener_index(s, ir_tcp_route_listener_key(t));
        if (li == (size_t)-1) {
            snprintf(reason, cap, "%s: listener_key \"%s\" names no Listener",
                     ir_obj_name(ir_tcp_route_obj(t)), ir_tcp_route_listener_key(t));
            return PROXY_ECONFIG;
        }
        /* The TCPRoutes of a listener, for the L4 path (proxy/l4.h); few per listener. */
        proxy__listener_t *l = &s->listeners[li];
        size_t *grown = realloc(l->tcp_routes, (l->ntcp_routes + 1) * sizeof *grown);
        if (!grown)
            return PROXY_ENOMEM;
        l->tcp_routes = grown;
        l->tcp_routes[l->ntcp_routes++] = i;
    }
    for (size_t i = 0; i < s->nobjs; i++) { /* V2, V4 */
        const ir_route_t *r = ir_route_from_obj(s->objs[i].obj);
        if (!r || ir_route_group_key(r))
            continue;
        size_t li = listener_index(s, ir_route_listener_key(r));
        if (li == (size_t)-1) {
            snprintf(reason, cap, "%s: listener_key \"%s\" names no Listener",
                     ir_obj_name(ir_route_obj(r)), ir_route_listener_key(r));
            return PROXY_ECONFIG;
        }
        proxy__route_t *pr = &s->routes[s->nroutes++];
        int rc = route_build(s, pr, r, li, reason, cap);
        if (rc != PROXY_OK)
            return rc;
        s->listeners[li].nroutes++;
    }
    for (size_t i = 0; i < s->nlisteners; i++) {
        s->listeners[i].routes = calloc(s->listeners[i].nroutes + 1, sizeof(size_t));
        if (!s->listeners[i].routes)
            return PROXY_ENOMEM;
        s->listeners[i].nroutes = 0;
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        proxy__listener_t *l = &s->listeners[s->routes[i].listener];
        l->routes[l->nroutes++] = i;
    }
    /* Services → their healthy Workloads (Workload.services is keyed by "ns/hostname"). */
    for (size_t w = 0; w < s->nworkloads; w++) {
        const Istio__Workload__Workload *wl = ir_address_workload(s->workloads[w]);
        if (wl->status != ISTIO__WORKLOAD__WORKLOAD_STATUS__HEALTHY)
            continue;
        for (size_t e = 0; e < wl->n_services; e++) {
            size_t si = service_index(s, wl->services[e]->key);
            if (si == (size_t)-1)
                continue;
            proxy__service_t *sv = &s->services[si];
            size_t *nw = realloc(sv->workloads, (sv->nworkloads + 1) * sizeof *nw);
            if (!nw)
                return PROXY_ENOMEM;
            sv->workloads = nw;
            sv->workloads[sv->nworkloads++] = w;
        }
    }
    return PROXY_OK;
}

typedef struct pending {
    int type;
    const char *name;
    const ir_obj_t *obj;
    size_t seq;
} pending_t;

static int pending_cmp(const void *a, const void *b)
{
    const pending_t *x = a, *y = b;
    int c = entry_cmp(x->type, x->name, y->type, y->name);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static proxy_snapshot_t *snapshot_empty(uint64_t gen)
{
    proxy_snapshot_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->generation = gen;
    if (snapshot_index(s, NULL, 0) != PROXY_OK) {
        snapshot_free(s);
        return NULL;
    }
    return s;
}

proxy_config_t *proxy_config_new(void)
{
    proxy_config_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!(c->current = snapshot_empty(1))) {
        free(c);
        return NULL;
    }
    return c;
}

void proxy_config_free(proxy_config_t *cfg)
{
    if (!cfg)
        return;
    proxy_snapshot_release(cfg->current);
    free(cfg);
}

const proxy_snapshot_t *proxy_config_snapshot(const proxy_config_t *cfg)
{
    return proxy_snapshot_retain(cfg->current);
}

uint64_t proxy_config_accepted(const proxy_config_t *cfg)
{
    return cfg->accepted;
}
uint64_t proxy_config_rejected(const proxy_config_t *cfg)
{
    return cfg->rejected;
}
const char *proxy_config_last_error(const proxy_config_t *cfg)
{
    return cfg->last_error;
}

static int reject(proxy_config_t *cfg, int rc, const char *why, char *reason, size_t cap)
{
    if (rc == PROXY_ENOMEM)
        why = "out of memory";
    snprintf(cfg->last_error, sizeof cfg->last_error, "%s", why);
    if (reason && cap)
        snprintf(reason, cap, "%s", why);
    cfg->rejected++;
    return rc;
}

int proxy_config_apply(proxy_config_t *cfg, const proxy_change_t *changes, size_t n, bool replace,
                       char *reason, size_t cap)
{
    char why[512] = "";
    const proxy_snapshot_t *old = cfg->current;
    size_t nold = replace ? 0 : old->nobjs;
    for (size_t i = 0; i < n; i++) { /* V5 */
        const proxy_change_t *c = &changes[i];
        if (!c->name || (c->type != PROXY_TYPE_ADDRESS && c->type != PROXY_TYPE_RESOURCE)) {
            snprintf(why, sizeof why, "change %zu: no name or unknown type %d", i, c->type);
            return reject(cfg, PROXY_ECONFIG, why, reason, cap);
        }
        if (!c->obj)
            continue;
        int t = ir_obj_kind(c->obj) == IR_KIND_ADDRESS ? PROXY_TYPE_ADDRESS : PROXY_TYPE_RESOURCE;
        if (t != c->type || strcmp(ir_obj_name(c->obj), c->name) != 0) {
            snprintf(why, sizeof why, "%s: the object's name is \"%s\" (%s)", c->name,
                     ir_obj_name(c->obj), ir_kind_name(ir_obj_kind(c->obj)));
            return reject(cfg, PROXY_ECONFIG, why, reason, cap);
        }
    }
    pending_t *p = malloc((nold + n + 1) * sizeof *p);
    if (!p)
        return reject(cfg, PROXY_ENOMEM, "", reason, cap);
    size_t np = 0;
    for (size_t i = 0; i < nold; i++)
        p[np++] = (pending_t){old->objs[i].type, old->objs[i].name, old->objs[i].obj, i};
    for (size_t i = 0; i < n; i++)
        p[np++] = (pending_t){changes[i].type, changes[i].name, changes[i].obj, nold + i};
    qsort(p, np, sizeof *p, pending_cmp);

    proxy_snapshot_t *s = calloc(1, sizeof *s);
    if (!s || !(s->objs = calloc(np + 1, sizeof *s->objs))) {
        free(s);
        free(p);
        return reject(cfg, PROXY_ENOMEM, "", reason, cap);
    }
    atomic_init(&s->refs, 1);
    s->generation = old->generation + 1;
    for (size_t i = 0; i < np; i++) {
        if (i + 1 < np && entry_cmp(p[i].type, p[i].name, p[i + 1].type, p[i + 1].name) == 0)
            continue; /* a later change of the same name wins */
        if (!p[i].obj)
            continue; /* removed */
        s->objs[s->nobjs++] =
            (proxy__entry_t){p[i].type, ir_obj_name(p[i].obj), ir_obj_retain(p[i].obj)};
    }
    free(p);
    int rc = snapshot_index(s, why, sizeof why);
    if (rc == PROXY_OK)
        rc = proxy__policies_build(s, old, why, sizeof why);
    for (size_t i = 0; rc == PROXY_OK && i < s->nobjs; i++) { /* P7 */
        const ir_policy_t *po = ir_policy_from_obj(s->objs[i].obj);
        if (po && !ir_policy_pb(po))
            rc = PROXY_ENOMEM;
        else if (po)
            rc = proxy_frontend_check(ir_policy_pb(po), ir_policy_key(po), why, sizeof why);
    }
    if (rc != PROXY_OK) {
        snapshot_free(s);
        return reject(cfg, rc, why, reason, cap);
    }
    proxy_snapshot_release(cfg->current);
    cfg->current = s;
    cfg->accepted++;
    cfg->last_error[0] = '\0';
    return PROXY_OK;
}

int proxy_snapshot_check(const proxy_snapshot_t *s)
{
    for (size_t i = 0; i + 1 < s->nobjs; i++) /* S1 */
        if (entry_cmp(s->objs[i].type, s->objs[i].name, s->objs[i + 1].type, s->objs[i + 1].name) >=
            0)
            return PROXY_EINVAL;
    for (size_t i = 0; i + 1 < s->nbinds; i++) /* S2 */
        if (strcmp(ir_bind_key(s->binds[i]), ir_bind_key(s->binds[i + 1])) >= 0)
            return PROXY_EINVAL;
    for (size_t i = 0; i < s->nlisteners; i++) { /* S3 */
        if (s->listeners[i].bind >= s->nbinds)
            return PROXY_EINVAL;
        for (size_t j = 0; j < s->listeners[i].nroutes; j++)
            if (s->listeners[i].routes[j] >= s->nroutes ||
                s->routes[s->listeners[i].routes[j]].listener != i)
                return PROXY_EINVAL;
    }
    for (size_t i = 0; i < s->nroutes; i++) /* S4 */
        for (size_t j = 0; j < s->routes[i].nmatches; j++)
            if (s->routes[i].matches[j].path_kind == PROXY__PATH_REGEX &&
                !s->routes[i].matches[j].path_re)
                return PROXY_EINVAL;
    return proxy__policies_check(s);
}
