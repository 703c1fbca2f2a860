/*
 * The proxy's admin endpoints (proxy/admin.h) on net/'s HTTP server: thin handlers over
 * proxy_stats, the config store and the snapshot dump. Handlers are synchronous and bodies are
 * buffered by the server (bounded by its max_response_body), which suits debug output.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/admin.h"

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

static void metrics(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    proxy_t *p = ud;
    proxy_stats_t st;
    proxy_stats(p, &st);
    const proxy_config_t *cfg = proxy_config(p);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    unsigned long long gen = (unsigned long long)proxy_snapshot_generation(s);
    proxy_snapshot_release(s);
    net_http_response_header(resp, "content-type", "text/plain; version=0.0.4");
    net_http_response_printf(resp,
                             "# TYPE krtgate_proxy_requests_total counter\n"
                             "krtgate_proxy_requests_total %llu\n"
                             "# TYPE krtgate_proxy_responses_total counter\n",
                             (unsigned long long)st.requests);
    for (int c = 1; c <= 5; c++)
        net_http_response_printf(resp, "krtgate_proxy_responses_total{class=\"%dxx\"} %llu\n", c,
                                 (unsigned long long)st.responses[c]);
    net_http_response_printf(resp,
                             "# TYPE krtgate_proxy_upstream_connects_total counter\n"
                             "krtgate_proxy_upstream_connects_total %llu\n"
                             "# TYPE krtgate_proxy_upstream_reuses_total counter\n"
                             "krtgate_proxy_upstream_reuses_total %llu\n"
                             "# TYPE krtgate_proxy_upstream_retries_total counter\n"
                             "krtgate_proxy_upstream_retries_total %llu\n"
                             "# TYPE krtgate_proxy_upstream_idle gauge\n"
                             "krtgate_proxy_upstream_idle %zu\n"
                             "# TYPE krtgate_proxy_listeners gauge\n"
                             "krtgate_proxy_listeners %zu\n"
                             "# TYPE krtgate_proxy_config_generation gauge\n"
                             "krtgate_proxy_config_generation %llu\n"
                             "# TYPE krtgate_proxy_config_accepted_total counter\n"
                             "krtgate_proxy_config_accepted_total %llu\n"
                             "# TYPE krtgate_proxy_config_rejected_total counter\n"
                             "krtgate_proxy_config_rejected_total %llu\n",
                             (unsigned long long)st.upstream_connects,
                             (unsigned long long)st.upstream_reuses,
                             (unsigned long long)st.upstream_retries, st.idle_upstreams,
                             st.listeners, gen, (unsigned long long)proxy_config_accepted(cfg),
                             (unsigned long long)proxy_config_rejected(cfg));
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
