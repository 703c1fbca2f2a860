/*
 * The proxy's admin endpoints (proxy/admin.h) on net/'s HTTP server: thin handlers over
 * proxy_stats, the config store and the snapshot dump. Handlers are synchronous and bodies are
 * buffered by the server (bounded by its max_response_body), which suits debug output.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/admin.h"
#include "proxy/frontend.h"

static void healthz(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    (void)ud;
    net_http_response_write(resp, "ok\n", 3);
}

static void readyz(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    proxy_t *p = ud;
    if (proxy_config_accepted(proxy_config(p)) == 0) {
        net_http_response_set_status(resp, 503);
        net_http_response_write(resp, "no config yet\n", 14);
        return;
    }
    net_http_response_write(resp, "ok\n", 3);
}

static void config_dump(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    proxy_t *p = ud;
    const proxy_snapshot_t *s = proxy_config_snapshot(proxy_config(p));
    json_t *d = proxy_snapshot_dump(s);
    json_t *fe = d ? proxy_frontend_dump(s, proxy_options_get(p)) : NULL;
    if (fe)
        json_object_set_new(d, "frontend", fe);
    proxy_snapshot_release(s);
    char *text = d ? json_dumps(d, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!text) {
        net_http_response_set_status(resp, 500);
        net_http_response_write(resp, "out of memory\n", 14);
        return;
    }
    net_http_response_header(resp, "content-type", "application/json");
    net_http_response_write(resp, text, strlen(text));
    net_http_response_write(resp, "\n", 1);
    free(text);
}

void proxy_admin_write_metrics(net_http_response_t *resp, const proxy_metrics_source_t *srcs,
                               size_t n, const proxy_metrics_xds_t *xds)
{
    proxy_metrics_buf_t b = {0};
    if (proxy_metrics_render(&b, srcs, n, xds) != 0) {
        free(b.data);
        net_http_response_set_status(resp, 500);
        net_http_response_write(resp, "out of memory\n", 14);
        return;
    }
    net_http_response_header(resp, "content-type", "text/plain; version=0.0.4; charset=utf-8");
    if (net_http_response_write(resp, b.data, b.len) != 0) {
        net_http_response_set_status(resp, 500);
        net_http_response_write(resp, "metrics too large\n", 18);
    }
    free(b.data);
}

static void metrics(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    proxy_t *p = ud;
    proxy_metrics_t *m = proxy_metrics_get(p);
    proxy_metrics_source_t src = {proxy_metrics_gateway(m), p};
    proxy_metrics_xds_t x;
    bool have_xds = proxy_metrics_xds_read(m, &x);
    proxy_admin_write_metrics(resp, &src, 1, have_xds ? &x : NULL);
}

int proxy_admin_register(proxy_t *p, net_http_server_t *srv)
{
    if (net_http_server_route(srv, "GET", "/healthz", healthz, p) ||
        net_http_server_route(srv, "GET", "/readyz", readyz, p) ||
        net_http_server_route(srv, "GET", "/config_dump", config_dump, p) ||
        net_http_server_route(srv, "GET", "/metrics", metrics, p))
        return PROXY_EINVAL;
    return PROXY_OK;
}
