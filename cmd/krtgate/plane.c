/*
 * The shared control plane of `krtgate run` and `krtgate controller` (plane.h): built once here so
 * that the two commands serve the same admin routes and the same flush-then-commit rule — every
 * batch of source changes is one engine flush followed by one xDS store commit, so proxies see
 * each batch as one consistent delta.
 *
 * Memory given back: glibc returns freed memory at the top of its heap by itself, not the free
 * pages between live blocks that a large flush, a relist or the initial push to many proxies
 * leaves behind. The plane asks for those (malloc_trim) after a large commit and once a minute,
 * so the resident set follows what is live, as `krtgate bench` measures it (docs/bench.md,
 * Memory); a trim walks the heap in about a millisecond per 10 MiB.
 */
#define _GNU_SOURCE 1 /* malloc_trim */
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <time.h>

#include "cli.h"
#include "krt/json.h"
#include "net/tls.h"
#include "plane.h"

void cli_plane_send_json(net_http_response_t *resp, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!text) {
        net_http_response_set_status(resp, 500);
        net_http_response_printf(resp, "out of memory\n");
        return;
    }
    net_http_response_header(resp, "content-type", "application/json");
    net_http_response_write(resp, text, strlen(text));
    net_http_response_write(resp, "\n", 1);
    free(text);
}

static void h_healthz(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    (void)ud;
    net_http_response_printf(resp, "ok\n");
}

static void h_readyz(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    cli_plane_t *p = ud;
    char why[256] = "";
    if (p->ready && !p->ready(p->ready_ud, why, sizeof(why))) {
        net_http_response_set_status(resp, 503);
        net_http_response_printf(resp, "not ready: %s\n", why);
    } else if (xds_store_ready(p->store)) {
        net_http_response_printf(resp, "ready\n");
    } else {
        net_http_response_set_status(resp, 503);
        net_http_response_printf(resp, "not ready: the initial load is not translated yet\n");
    }
}

static void h_debug_xds(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    cli_plane_send_json(resp, xds_server_debug(((cli_plane_t *)ud)->xds));
}

static void h_debug_krt(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    cli_plane_send_json(resp, krt_engine_dump(((cli_plane_t *)ud)->e));
}

static void h_debug_dot(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    char *dot = krt_engine_dot(((cli_plane_t *)ud)->e);
    if (!dot) {
        net_http_response_set_status(resp, 500);
        return;
    }
    net_http_response_header(resp, "content-type", "text/vnd.graphviz");
    net_http_response_write(resp, dot, strlen(dot));
    krt_free(dot);
}

static void h_debug_resources(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    char *lines = tr_graph_dump_lines(((cli_plane_t *)ud)->graph);
    if (!lines) {
        net_http_response_set_status(resp, 500);
        return;
    }
    net_http_response_header(resp, "content-type", "application/jsonl");
    net_http_response_write(resp, lines, strlen(lines));
    free(lines);
}

static const char *index_text;

static void h_index(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    (void)ud;
    net_http_response_printf(resp, "%s", index_text ? index_text : "krtgate admin endpoint\n");
}

int cli_plane_init(cli_plane_t *p, const char *cmd, const char *controller)
{
    memset(p, 0, sizeof(*p));
    p->cmd = cmd;
    /* The informer cache holds text; parsed trees are a budgeted cache (docs/bench.md, Memory). */
    krt_json_tree_limit(KUBE_SOURCE_TREE_BUDGET);
    p->e = krt_engine_new();
    p->src = p->e ? kube_source_new(p->e, NULL) : NULL;
    p->store = xds_store_new();
    tr_sources_t in = {0};
    for (size_t i = 0; p->src && i < tr_source_kinds_len; i++)
        tr_sources_set(&in, tr_source_kinds[i], kube_source_collection(p->src, tr_source_kinds[i]));
    tr_options_t topt = {.controller_name = controller};
    int err = 0;
    p->graph = p->src ? tr_graph_new(p->e, &in, &topt, &err) : NULL;
    for (int k = 1; p->graph && p->store && k <= IR_KIND_COUNT; k++)
        if (xds_store_watch(p->store, tr_graph_output(p->graph, (ir_kind_t)k)) != 0)
            err = -1;
    if (!p->graph || !p->store || err != 0) {
        fprintf(stderr, "%s: cannot build the control plane (out of memory?)\n", cmd);
        return CLI_PROBLEMS;
    }
    return CLI_OK;
}

#define TRIM_AFTER_CHANGES 256u        /* a commit this large trims the heap after it */
#define TRIM_AFTER_NS      20000000ull /* so does one this long */
#define TRIM_PERIOD_MS     60000u

static void heap_trim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void trim_cb(uv_timer_t *t)
{
    (void)t;
    heap_trim();
}

static void trim_timer_free(uv_handle_t *h)
{
    free(h);
}

int cli_plane_serve(cli_plane_t *p, uv_loop_t *loop, const cli_plane_serve_options_t *o)
{
    if (!strrchr(o->xds_listen, ':') || !strrchr(o->admin_listen, ':')) {
        fprintf(stderr, "%s: listen addresses are IP:PORT\n", p->cmd);
        return CLI_USAGE;
    }
    xds_server_config_t xc;
    xds_server_config_default(&xc);
    xc.listen = o->xds_listen;
    xds_auth_t auth;
    xds_err_t xerr = {0};
    bool have_auth = false;
    if (o->auth) {
        auth = *o->auth;
        have_auth = true;
        xc.auth = &auth;
    } else if (o->token_file) {
        if (xds_auth_static_load(o->token_file, &auth, &xerr) != 0) {
            fprintf(stderr, "%s: --xds-token-file: %s\n", p->cmd, xerr.msg);
            return CLI_PROBLEMS;
        }
        have_auth = true;
        xc.auth = &auth;
    }
    net_tls_ctx_t *tls = NULL;
    int err = 0;
    if (o->tls_cert) {
        net_tls_config_t tc = {.cert_file = o->tls_cert, .key_file = o->tls_key};
        tls = net_tls_ctx_new(true, &tc, &err);
        if (!tls) {
            fprintf(stderr, "%s: xDS TLS: %s\n", p->cmd, net_strerror(err));
            if (have_auth)
                xds_auth_dispose(&auth);
            return CLI_PROBLEMS;
        }
        xc.tls = tls;
    }
    p->xds = xds_server_new(loop, p->store, &xc, &err);
    net_tls_ctx_release(tls); /* the server retains what it needs */
    if (!p->xds) {
        fprintf(stderr, "%s: cannot serve xDS on %s: %s\n", p->cmd, o->xds_listen,
                xds_strerror(err));
        if (have_auth)
            xds_auth_dispose(&auth);
        return CLI_PROBLEMS;
    }
    net_http_server_config_t hc;
    net_http_server_config_default(&hc);
    hc.server.listen = o->admin_listen;
    p->admin = net_http_server_new(loop, &hc, &err);
    if (!p->admin) {
        fprintf(stderr, "%s: cannot serve the admin endpoint on %s: %s\n", p->cmd, o->admin_listen,
                net_strerror(err));
        return CLI_PROBLEMS;
    }
    index_text = o->index;
    net_http_server_route(p->admin, "GET", "/", h_index, p);
    net_http_server_route(p->admin, "GET", "/healthz", h_healthz, p);
    net_http_server_route(p->admin, "GET", "/readyz", h_readyz, p);
    net_http_server_route(p->admin, "GET", "/debug/xds", h_debug_xds, p);
    net_http_server_route(p->admin, "GET", "/debug/krt", h_debug_krt, p);
    net_http_server_route(p->admin, "GET", "/debug/krt.dot", h_debug_dot, p);
    net_http_server_route(p->admin, "GET", "/debug/resources", h_debug_resources, p);
    /* Tests and scripts pass port 0 and read the ports from this line. */
    fprintf(stderr, "krtgate: serving xDS on %.*s:%d, admin on http://%.*s:%d/\n",
            (int)(strrchr(o->xds_listen, ':') - o->xds_listen), o->xds_listen,
            xds_server_port(p->xds), (int)(strrchr(o->admin_listen, ':') - o->admin_listen),
            o->admin_listen, net_http_server_port(p->admin));
    /* unref'd: it never keeps the loop alive; without memory for it, no periodic trim */
    if ((p->trim_timer = malloc(sizeof *p->trim_timer)) != NULL) {
        uv_timer_init(loop, p->trim_timer);
        uv_timer_start(p->trim_timer, trim_cb, TRIM_PERIOD_MS, TRIM_PERIOD_MS);
        uv_unref((uv_handle_t *)p->trim_timer);
    }
    return CLI_OK;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cli_plane_commit(cli_plane_t *p, const char *what, size_t nchanges)
{
    uint64_t t0 = mono_ns();
    int rc = krt_engine_flush(p->e);
    if (rc != KRT_OK)
        fprintf(stderr, "krtgate: translation reported %s (see the messages above)\n",
                krt_strerror(rc));
    rc = xds_store_commit(p->store);
    if (rc != 0)
        fprintf(stderr, "krtgate: xDS store: %s\n", xds_strerror(rc));
    krt_json_trim_to(KUBE_SOURCE_TREE_IDLE); /* between flushes no tree is borrowed (krt/json.h) */
    uint64_t dt = mono_ns() - t0;
    if (nchanges >= TRIM_AFTER_CHANGES || dt >= TRIM_AFTER_NS)
        heap_trim();
    p->commits++;
    p->flush_ns_last = dt;
    p->flush_ns_total += dt;
    if (dt > p->flush_ns_max)
        p->flush_ns_max = dt;
    fprintf(stderr, "krtgate: %s: %zu change(s) applied, xDS version %016llx\n", what, nchanges,
            (unsigned long long)xds_store_version(p->store));
}

static void closed_cb(void *ud)
{
    (void)ud;
}

void cli_plane_stop(cli_plane_t *p)
{
    if (p->trim_timer)
        uv_close((uv_handle_t *)p->trim_timer, trim_timer_free);
    p->trim_timer = NULL;
    if (p->xds)
        xds_server_close(p->xds, closed_cb, p); /* streams end UNAVAILABLE: proxies reconnect */
    p->xds = NULL;
    if (p->admin)
        net_http_server_close(p->admin, true, NULL, NULL);
    p->admin = NULL;
}

void cli_plane_free(cli_plane_t *p)
{
    xds_store_free(p->store); /* after the server, before the engine (docs/xds.md) */
    tr_graph_free(p->graph);
    kube_source_free(p->src);
    krt_engine_free(p->e);
    memset(p, 0, sizeof(*p));
}
