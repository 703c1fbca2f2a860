/*
 * The proxy's admin endpoints, served by net/'s small HTTP server (net/http_server.h) that the
 * caller owns (krtgate run / krtgate proxy open one per process):
 *   GET /healthz      "ok"
 *   GET /readyz       200 once a config has been accepted, 503 before
 *   GET /config_dump  the current snapshot as JSON ({"generation", "objects": [ir dumps]},
 *                     credentials redacted by the IR's dump)
 *   GET /metrics      Prometheus text: requests, responses by class, upstream connections,
 *                     reuses and retries, config generation, accepted and rejected change sets
 */
#ifndef PROXY_ADMIN_H
#define PROXY_ADMIN_H

#include "net/http_server.h"
#include "proxy/proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers the four routes on |srv|. Keeps p (must outlive the server's use of the routes).
 * Returns: PROXY_OK, or PROXY_ENOMEM / PROXY_EINVAL when a route cannot be added. */
int proxy_admin_register(proxy_t *p, net_http_server_t *srv);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_ADMIN_H */
