/*
 * The proxy's admin endpoints, served by net/'s small HTTP server (net/http_server.h) that the
 * caller owns (krtgate run / krtgate proxy open one per process):
 *   GET /healthz      "ok"
 *   GET /readyz       200 once a config has been accepted, 503 before
 *   GET /config_dump  the current snapshot as JSON ({"generation", "objects": [ir dumps]},
 *                     credentials redacted by the IR's dump)
 *   GET /metrics      Prometheus text (proxy/metrics.h): responses by route and status code,
 *                     upstream latency histogram, active client exchanges, upstream pool,
 *                     config generation and applies, and the xDS client's state when one is set
 *                     (proxy_metrics_set_xds)
 */
#ifndef PROXY_ADMIN_H
#define PROXY_ADMIN_H

#include "net/http_server.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers the four routes on |srv|. Keeps p (must outlive the server's use of the routes).
 * Returns: PROXY_OK, or PROXY_ENOMEM / PROXY_EINVAL when a route cannot be added. */
int proxy_admin_register(proxy_t *p, net_http_server_t *srv);

/* Answers a /metrics request with the exposition of |n| proxies (borrowed; see
 * proxy_metrics_render), e.g. every in-process proxy of `krtgate run` under its gateway label. */
void proxy_admin_write_metrics(net_http_response_t *resp, const proxy_metrics_source_t *srcs,
                               size_t n, const proxy_metrics_xds_t *xds);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_ADMIN_H */
