/*
 * The proxy's metrics registry and Prometheus text renderer (proxy/metrics.h).
 *
 * Key decision: per-route series live in one array sorted by route key (binary search on each
 * response, an insertion only the first time a route answers). The render walks it in order, so
 * the exposition is deterministic, and no hash table is needed for the few hundred routes one
 * proxy serves. A route removed from the config keeps its series (counters must not go back);
 * the cap bounds the memory this costs.
 *
 * INVARIANTS
 *  M1 routes[] is sorted by key, keys unique
 *  M2 nroutes <= PROXY_METRICS_MAX_ROUTES + 1 (the last slot is "_other")
 *  M3 per route, count == sum of the per-code counts of responses that had an upstream latency
 *     and bucket[i] counts observations <= bounds[i] (cumulated at render time)
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/l4.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"

/* Upper bounds in seconds: 0.5 ms to 10 s, roughly ×2.5 per step. */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBOUNDS   (sizeof bounds / sizeof bounds[0])
#define MAX_CODES 32 /* distinct status codes per route; more fold into code "other" */

typedef struct code_count {
    int code; /* 0: "other" */
    uint64_t n;
} code_count_t;

typedef struct route_series {
    char *key;
    code_count_t codes[MAX_CODES];
    size_t ncodes;
    uint64_t bucket[NBOUNDS]; /* observations in (bounds[i-1], bounds[i]] */
    uint64_t count;           /* all observations (+Inf) */
    double sum;
} route_series_t;

struct proxy_metrics {
    route_series_t **routes;
    size_t nroutes, cap;
    char *gateway;
    uint64_t rejected; /* change sets refused before reaching the store (a bad config file) */
    bool (*xds)(proxy_metrics_xds_t *out, void *ud);
    void *xds_ud;
};

int proxy_metrics_set_gateway(proxy_metrics_t *m, const char *gateway)
{
    char *g = gateway ? strdup(gateway) : NULL;
    if (gateway && !g)
        return -1;
    free(m->gateway);
    m->gateway = g;
    return 0;
}

void proxy_metrics_set_xds(proxy_metrics_t *m, bool (*fn)(proxy_metrics_xds_t *out, void *ud),
                           void *ud)
{
    m->xds = fn;
    m->xds_ud = ud;
}

void proxy_metrics_config_rejected(proxy_metrics_t *m)
{
    if (m)
        m->rejected++;
}

const char *proxy_metrics_gateway(const proxy_metrics_t *m)
{
    return m ? m->gateway : NULL;
}

bool proxy_metrics_xds_read(const proxy_metrics_t *m, proxy_metrics_xds_t *out)
{
    memset(out, 0, sizeof *out);
    return m && m->xds && m->xds(out, m->xds_ud);
}

proxy_metrics_t *proxy_metrics_new(void)
{
    return calloc(1, sizeof(proxy_metrics_t));
}

void proxy_metrics_free(proxy_metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nroutes; i++) {
        free(m->routes[i]->key);
        free(m->routes[i]);
    }
    free(m->routes);
    free(m->gateway);
    free(m);
}

static route_series_t *series_get(proxy_metrics_t *m, const char *key)
{
    size_t lo = 0, hi = m->nroutes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->routes[mid]->key, key);
        if (c == 0)
            return m->routes[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (m->nroutes >= PROXY_METRICS_MAX_ROUTES && strcmp(key, "_other") != 0)
        return series_get(m, "_other");
    if (m->nroutes == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        route_series_t **nv = realloc(m->routes, nc * sizeof *nv);
        if (!nv)
            return NULL;
        m->routes = nv;
        m->cap = nc;
    }
    route_series_t *r = calloc(1, sizeof *r);
    if (!r || !(r->key = strdup(key))) {
        free(r);
        return NULL;
    }
    memmove(m->routes + lo + 1, m->routes + lo, (m->nroutes - lo) * sizeof *m->routes);
    m->routes[lo] = r;
    m->nroutes++;
    return r;
}

void proxy_metrics_response(proxy_metrics_t *m, const char *route, int status, int64_t upstream_ns)
{
    if (!m)
        return;
    route_series_t *r = series_get(m, route ? route : "");
    if (!r)
        return;
    int code = status >= 100 && status <= 999 ? status : 0;
    size_t i = 0;
    while (i < r->ncodes && r->codes[i].code != code)
        i++;
    if (i == r->ncodes && r->ncodes >= MAX_CODES - 1) {
        /* the last slot is kept for "other" */
        for (i = 0; i < r->ncodes && r->codes[i].code != 0; i++)
            ;
        code = 0;
    }
    if (i == r->ncodes)
        r->codes[r->ncodes++] = (code_count_t){code, 0};
    r->codes[i].n++;
    if (upstream_ns >= 0) {
        double s = (double)upstream_ns / 1e9;
        size_t b = 0;
        while (b < NBOUNDS && s > bounds[b])
            b++;
        if (b < NBOUNDS)
            r->bucket[b]++;
        r->count++;
        r->sum += s;
    }
}

/* ---- rendering ------------------------------------------------------------------------------ */

static void put(proxy_metrics_buf_t *o, const char *fmt, ...)
{
    if (o->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = o->cap - o->len;
        int n = vsnprintf(o->data ? o->data + o->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = true;
            return;
        }
        if ((size_t)n < room) {
            o->len += (size_t)n;
            return;
        }
        size_t nc = o->cap ? o->cap * 2 : 4096;
        while (nc - o->len <= (size_t)n)
            nc *= 2;
        char *nd = realloc(o->data, nc);
        if (!nd) {
            o->oom = true;
            return;
        }
        o->data = nd;
        o->cap = nc;
    }
}

/* A label value escaped per the exposition format (backslash, quote, newline). */
static void put_escaped(proxy_metrics_buf_t *o, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\\')
            put(o, "\\\\");
        else if (*s == '"')
            put(o, "\\\"");
        else if (*s == '\n')
            put(o, "\\n");
        else
            put(o, "%c", *s);
    }
}

static void family(proxy_metrics_buf_t *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{gateway="..." + extra} — |extra| is already-formatted labels or "". */
static void series_open(proxy_metrics_buf_t *o, const char *name, const char *gateway)
{
    put(o, "%s{", name);
    if (gateway) {
        put(o, "gateway=\"");
        put_escaped(o, gateway);
        put(o, "\"");
    }
}

static void series_sep(proxy_metrics_buf_t *o, const char *gateway)
{
    if (gateway)
        put(o, ",");
}

static void simple(proxy_metrics_buf_t *o, const char *name, const char *gateway, uint64_t v)
{
    if (gateway) {
        series_open(o, name, gateway);
        put(o, "} %" PRIu64 "\n", v);
    } else {
        put(o, "%s %" PRIu64 "\n", name, v);
    }
}

/* One series per (label value, count) of a labelled counter family. */
typedef struct labelled {
    const char *value;
    uint64_t n;
} labelled_t;

static void labelled(proxy_metrics_buf_t *o, const char *name, const char *gateway,
                     const char *label, const labelled_t *v, size_t nv)
{
    for (size_t k = 0; k < nv; k++) {
        series_open(o, name, gateway);
        series_sep(o, gateway);
        put(o, "%s=\"%s\"} %" PRIu64 "\n", label, v[k].value, v[k].n);
    }
}

int proxy_metrics_render(proxy_metrics_buf_t *o, const proxy_metrics_source_t *srcs, size_t n,
                         const proxy_metrics_xds_t *xds)
{
    proxy_stats_t *st = n ? calloc(n, sizeof *st) : NULL;
    if (n && !st) {
        o->oom = true;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        proxy_stats(srcs[i].p, &st[i]);

    family(o, "krtgate_proxy_http_requests_total", "counter",
           "HTTP responses sent, by route and status code (route=\"\" when no route matched).");
    for (size_t i = 0; i < n; i++) {
        const proxy_metrics_t *m = proxy_metrics_get(srcs[i].p);
        for (size_t r = 0; m && r < m->nroutes; r++) {
            const route_series_t *rs = m->routes[r];
            for (size_t c = 0; c < rs->ncodes; c++) {
                series_open(o, "krtgate_proxy_http_requests_total", srcs[i].gateway);
                series_sep(o, srcs[i].gateway);
                put(o, "route=\"");
                put_escaped(o, rs->key);
                if (rs->codes[c].code)
                    put(o, "\",code=\"%d\"} %" PRIu64 "\n", rs->codes[c].code, rs->codes[c].n);
                else
                    put(o, "\",code=\"other\"} %" PRIu64 "\n", rs->codes[c].n);
            }
        }
    }

    family(o, "krtgate_proxy_upstream_latency_seconds", "histogram",
           "Time from routing a request to the upstream's response head, by route.");
    for (size_t i = 0; i < n; i++) {
        const proxy_metrics_t *m = proxy_metrics_get(srcs[i].p);
        for (size_t r = 0; m && r < m->nroutes; r++) {
            const route_series_t *rs = m->routes[r];
            if (!rs->count)
                continue;
            uint64_t cum = 0;
            for (size_t b = 0; b <= NBOUNDS; b++) {
                series_open(o, "krtgate_proxy_upstream_latency_seconds_bucket", srcs[i].gateway);
                series_sep(o, srcs[i].gateway);
                put(o, "route=\"");
                put_escaped(o, rs->key);
                if (b < NBOUNDS) {
                    cum += rs->bucket[b];
                    put(o, "\",le=\"%g\"} %" PRIu64 "\n", bounds[b], cum);
                } else {
                    put(o, "\",le=\"+Inf\"} %" PRIu64 "\n", rs->count);
                }
            }
            series_open(o, "krtgate_proxy_upstream_latency_seconds_sum", srcs[i].gateway);
            series_sep(o, srcs[i].gateway);
            put(o, "route=\"");
            put_escaped(o, rs->key);
            put(o, "\"} %.9f\n", rs->sum);
            series_open(o, "krtgate_proxy_upstream_latency_seconds_count", srcs[i].gateway);
            series_sep(o, srcs[i].gateway);
            put(o, "route=\"");
            put_escaped(o, rs->key);
            put(o, "\"} %" PRIu64 "\n", rs->count);
        }
    }

    family(o, "krtgate_proxy_requests_total", "counter", "Request heads accepted.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_requests_total", srcs[i].gateway, st[i].requests);
    family(o, "krtgate_proxy_responses_total", "counter", "Responses sent, by status class.");
    for (size_t i = 0; i < n; i++)
        for (int c = 1; c <= 5; c++) {
            series_open(o, "krtgate_proxy_responses_total", srcs[i].gateway);
            series_sep(o, srcs[i].gateway);
            put(o, "class=\"%dxx\"} %" PRIu64 "\n", c, st[i].responses[c]);
        }
    family(o, "krtgate_proxy_downstream_active", "gauge",
           "Client exchanges in progress: HTTP/1.1 connections and HTTP/2 streams.");
    for (size_t i = 0; i < n; i++) {
        series_open(o, "krtgate_proxy_downstream_active", srcs[i].gateway);
        series_sep(o, srcs[i].gateway);
        put(o, "protocol=\"http1\"} %zu\n", st[i].downstream_http1);
        series_open(o, "krtgate_proxy_downstream_active", srcs[i].gateway);
        series_sep(o, srcs[i].gateway);
        put(o, "protocol=\"http2\"} %zu\n", st[i].downstream_http2);
    }
    family(o, "krtgate_proxy_listeners", "gauge", "Listening sockets, one per served Bind.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_listeners", srcs[i].gateway, st[i].listeners);
    family(o, "krtgate_proxy_upstream_connects_total", "counter", "Upstream connections opened.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_upstream_connects_total", srcs[i].gateway,
               st[i].upstream_connects);
    family(o, "krtgate_proxy_upstream_reuses_total", "counter",
           "Requests sent on a pooled upstream connection.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_upstream_reuses_total", srcs[i].gateway, st[i].upstream_reuses);
    family(o, "krtgate_proxy_upstream_retries_total", "counter",
           "Requests resent after a pooled connection closed under them.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_upstream_retries_total", srcs[i].gateway, st[i].upstream_retries);
    family(o, "krtgate_proxy_upstream_idle", "gauge", "Idle pooled upstream connections.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_upstream_idle", srcs[i].gateway, st[i].idle_upstreams);
    family(o, "krtgate_proxy_client_timeouts_total", "counter",
           "Client connections the proxy closed on a timeout, by which one.");
    for (size_t i = 0; i < n; i++) {
        const labelled_t t[] = {{"idle", st[i].client_idle_closed},
                                {"header", st[i].client_header_timeouts},
                                {"body", st[i].client_body_timeouts},
                                {"handshake", st[i].client_handshake_timeouts},
                                {"keepalive", st[i].client_keepalive_timeouts},
                                {"max_duration", st[i].client_lifetime_closed}};
        labelled(o, "krtgate_proxy_client_timeouts_total", srcs[i].gateway, "reason", t,
                 sizeof t / sizeof *t);
    }
    family(o, "krtgate_proxy_tunnels_idle_closed_total", "counter",
           "Upgraded HTTP/1.1 connections (WebSocket) closed after tunnel_idle_timeout_ms "
           "without a byte either way.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_tunnels_idle_closed_total", srcs[i].gateway,
               st[i].tunnels_idle_closed);

    /* TCP, TLS passthrough and terminated-TLS TCP ports (proxy/l4.h) */
    proxy_l4_stats_t *l4 = n ? calloc(n, sizeof *l4) : NULL;
    if (n && !l4) {
        free(st);
        o->oom = true;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        proxy_l4_stats(srcs[i].p, &l4[i]);
    family(o, "krtgate_proxy_tcp_connections_total", "counter",
           "Connections accepted on TCP and TLS passthrough ports.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_tcp_connections_total", srcs[i].gateway, l4[i].connections);
    family(o, "krtgate_proxy_tcp_spliced_total", "counter",
           "Connections on TCP and TLS passthrough ports connected to a backend.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_tcp_spliced_total", srcs[i].gateway, l4[i].spliced);
    family(o, "krtgate_proxy_tcp_closed_total", "counter",
           "Connections on TCP and TLS passthrough ports the proxy closed, by why: no route "
           "takes them, the backend failed, a bad or slow ClientHello, idle.");
    for (size_t i = 0; i < n; i++) {
        const labelled_t t[] = {{"no_route", l4[i].no_route},
                                {"no_backend", l4[i].no_backend},
                                {"bad_hello", l4[i].bad_hello},
                                {"idle", l4[i].idle_closed}};
        labelled(o, "krtgate_proxy_tcp_closed_total", srcs[i].gateway, "reason", t,
                 sizeof t / sizeof *t);
    }
    family(o, "krtgate_proxy_tcp_active", "gauge",
           "Connections open on TCP and TLS passthrough ports.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_tcp_active", srcs[i].gateway, l4[i].open);
    free(l4);

    family(o, "krtgate_proxy_config_generation", "gauge",
           "Generation of the config serving (1 = empty, +1 per accepted change set).");
    for (size_t i = 0; i < n; i++) {
        const proxy_snapshot_t *s = proxy_config_snapshot(proxy_config(srcs[i].p));
        simple(o, "krtgate_proxy_config_generation", srcs[i].gateway, proxy_snapshot_generation(s));
        proxy_snapshot_release(s);
    }
    family(o, "krtgate_proxy_config_accepted_total", "counter", "Change sets applied.");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_config_accepted_total", srcs[i].gateway,
               proxy_config_accepted(proxy_config(srcs[i].p)));
    family(o, "krtgate_proxy_config_rejected_total", "counter",
           "Change sets rejected whole (the previous config kept serving).");
    for (size_t i = 0; i < n; i++)
        simple(o, "krtgate_proxy_config_rejected_total", srcs[i].gateway,
               proxy_config_rejected(proxy_config(srcs[i].p)) +
                   proxy_metrics_get(srcs[i].p)->rejected);
    free(st);

    if (xds) {
        static const char *const names[] = {"connecting", "streaming", "backoff", "closed"};
        family(o, "krtgate_xds_client_connected", "gauge",
               "1 while the xDS stream to the control plane is open.");
        put(o, "krtgate_xds_client_connected %d\n", xds->state == 1);
        family(o, "krtgate_xds_client_state", "gauge",
               "The xDS client's state (one series per state, 1 for the current one).");
        for (int s = 0; s < 4; s++)
            put(o, "krtgate_xds_client_state{state=\"%s\"} %d\n", names[s], xds->state == s);
        family(o, "krtgate_xds_client_connects_total", "counter",
               "Connection attempts to the control plane.");
        put(o, "krtgate_xds_client_connects_total %" PRIu64 "\n", xds->connects);
        family(o, "krtgate_xds_client_streams_total", "counter", "xDS streams that opened.");
        put(o, "krtgate_xds_client_streams_total %" PRIu64 "\n", xds->streams);
        family(o, "krtgate_xds_client_responses_total", "counter",
               "xDS responses received, by verdict.");
        put(o, "krtgate_xds_client_responses_total{result=\"ack\"} %" PRIu64 "\n",
            xds->responses >= xds->nacks ? xds->responses - xds->nacks : 0);
        put(o, "krtgate_xds_client_responses_total{result=\"nack\"} %" PRIu64 "\n", xds->nacks);
    }
    return o->oom ? -1 : 0;
}
