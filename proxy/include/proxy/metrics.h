/*
 * The proxy's metrics, sans-IO: a registry the HTTP path feeds with one call per response
 * (route, status code, upstream latency), and a renderer that writes the Prometheus text
 * exposition (format 0.0.4) for one or several proxies at once, each family's HELP and TYPE
 * written once with the series of every proxy under it (a `gateway` label tells them apart, as
 * `krtgate run` serves all its in-process proxies on one admin endpoint).
 *
 * Families (all prefixed krtgate_):
 *   proxy_http_requests_total{gateway,route,code}           counter  responses by route and status
 *   proxy_upstream_latency_seconds{gateway,route}            histogram routed request → upstream
 *                                                                      response head
 *   proxy_requests_total, proxy_responses_total{class}       counters (request heads, by class)
 *   proxy_downstream_active{protocol="http1"|"http2"}        gauge    HTTP/1.1 connections / h2
 *                                                                      streams in progress
 *   proxy_listeners, proxy_upstream_idle                     gauges
 *   proxy_upstream_{connects,reuses,retries}_total           counters
 *   proxy_config_generation                                  gauge
 *   proxy_config_{accepted,rejected}_total                   counters change sets
 *   xds_client_connected, xds_client_state{state}            gauges   (krtgate proxy --xds)
 *   xds_client_{connects,responses,nacks}_total              counters (krtgate proxy --xds)
 *
 * The route label is the Route's inner key ("default/echo.00.http"), "" when no route took the
 * request. Series are bounded: past PROXY_METRICS_MAX_ROUTES distinct routes, further ones are
 * counted under route="_other".
 */
#ifndef PROXY_METRICS_H
#define PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROXY_METRICS_MAX_ROUTES 4096

typedef struct proxy_metrics proxy_metrics_t;

/* Returns: an empty registry (owned by caller, proxy_metrics_free), or NULL on OOM. */
proxy_metrics_t *proxy_metrics_new(void);
void proxy_metrics_free(proxy_metrics_t *m); /* NULL is a no-op */

/* One response sent: |route| the Route's key (borrowed; NULL or "" when none), |status| its code,
 * |upstream_ns| the time from the routed request to the upstream's response head, or a negative
 * value when the proxy answered itself. Out of memory only loses the observation. */
void proxy_metrics_response(proxy_metrics_t *m, const char *route, int status, int64_t upstream_ns);

/* Counts a change set refused before it reached the store (a local config file that does not
 * parse): it shows in krtgate_proxy_config_rejected_total with the store's own rejections. */
void proxy_metrics_config_rejected(proxy_metrics_t *m);

/* The xDS client's view, filled by whoever runs one (krtgate proxy). */
typedef struct proxy_metrics_xds {
    int state; /* XDS_CLIENT_* (0 connecting, 1 streaming, 2 backoff, 3 closed) */
    uint64_t connects, streams, responses, nacks;
} proxy_metrics_xds_t;

/* A growable text buffer the renderer writes into. Zeroed is empty; free |data| when done. */
typedef struct proxy_metrics_buf {
    char *data;
    size_t len, cap;
    bool oom;
} proxy_metrics_buf_t;

/* Optional, for the admin endpoint of a single proxy: the gateway label its series carry
 * ("ns/name", copied; NULL for none), and where to read the xDS client's numbers (krtgate proxy
 * --xds): |fn| fills |out| and returns true, or returns false when there is no client. Keeps ud.
 * Returns: 0, or -1 when out of memory (nothing changed). */
int proxy_metrics_set_gateway(proxy_metrics_t *m, const char *gateway);
void proxy_metrics_set_xds(proxy_metrics_t *m, bool (*fn)(proxy_metrics_xds_t *out, void *ud),
                           void *ud);
/* Returns: the gateway label (borrowed until the next set), or NULL. */
const char *proxy_metrics_gateway(const proxy_metrics_t *m);
/* Fills |out| from the xDS source. Returns: false when none is set. */
bool proxy_metrics_xds_read(const proxy_metrics_t *m, proxy_metrics_xds_t *out);

struct proxy;

/* The registry of proxy |p| (borrowed until proxy_close). Defined by http.c, which feeds it. */
proxy_metrics_t *proxy_metrics_get(struct proxy *p);

/* One proxy to render: |gateway| the label value ("ns/name"), or NULL for no gateway label. */
typedef struct proxy_metrics_source {
    const char *gateway;
    struct proxy *p; /* borrowed */
} proxy_metrics_source_t;

/* Appends the exposition of |n| proxies (borrowed) and, when |xds| is not NULL, the xDS client
 * families to |out|. Returns: 0, or -1 when out of memory (out->oom). */
int proxy_metrics_render(proxy_metrics_buf_t *out, const proxy_metrics_source_t *srcs, size_t n,
                         const proxy_metrics_xds_t *xds);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_METRICS_H */
