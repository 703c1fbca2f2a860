/*
 * `krtgate run [options] PATH...` — the whole control plane on a laptop: a folder of manifests
 * stands in for the API server, the translation graph turns it into agentgateway resources, and
 * the delta xDS server hands them to proxies; edits to the folder take effect live. An admin
 * endpoint shows health and the internals. Each Gateway also gets an in-process proxy (proxy/)
 * fed by the same store without serialization, listening on its own loopback address: the
 * Gateway's spec.addresses when it names a 127.0.0.0/8 address, else one allocated from
 * 127.0.1.0/24.
 *
 * The event loop is the only clock: every settled change set from the folder is one engine flush
 * followed by one xDS store commit, so every proxy sees each edit as one consistent delta.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cli.h"
#include "plane.h"
#include "krt/krt.h"
#include "krt/json.h"
#include "kube/manifest_dir.h"
#include "kube/source.h"
#include "net/busy_poll.h"
#include "net/http_server.h"
#include "net/tls.h"
#include "proxy/admin.h"
#include "proxy/proxy.h"
#include "proxy/xds_glue.h"
#include "translate/translate.h"
#include "xds/auth.h"
#include "xds/inproc.h"
#include "xds/server.h"
#include "xds/store.h"

typedef struct run_opts {
    const char *xds_listen, *admin_listen, *token_file, *tls_cert, *tls_key, *controller;
    bool watch, proxy;
    uint64_t tunnel_idle_ms; /* --tunnel-idle-timeout */
    uint64_t client_idle_ms, client_header_ms, client_handshake_ms,
        client_body_ms;    /* --client-*-timeout */
    uint64_t busy_poll_us; /* --busy-poll (0: off) */
    const char **paths;
    size_t npaths;
} run_opts_t;

/* The in-process proxy of one Gateway. */
typedef struct gw_proxy {
    char key[256];  /* "ns/name" */
    char host[64];  /* its loopback address */
    bool allocated; /* host is ours (127.0.1.N), not from spec.addresses */
    proxy_t *p;
    xds_inproc_t *sub;
    bool seen;      /* still a Gateway at the last reconcile */
    struct gw_proxy *next;
} gw_proxy_t;

typedef struct run_app {
    run_opts_t o;
    cli_plane_t pl; /* engine, source, graph, store, xDS and admin servers (plane.h) */
    kube_manifest_dir_t *dir;
    net_busy_poll_t *busy; /* --busy-poll, on the loop of the control plane and its proxies */
    uv_signal_t sigint, sigterm;
    bool stopping;
    gw_proxy_t *proxies;
    unsigned next_host; /* 127.0.1.<next_host> */
    uint64_t rounds, problems;
    int status;
} run_app_t;

/* ---- admin endpoint: the shared routes of plane.c ------------------------------------------ */

static const char run_index[] = "krtgate run admin endpoint\n"
                                "  /healthz            liveness\n"
                                "  /readyz             200 once the initial load is served\n"
                                "  /metrics            every in-process proxy (Prometheus)\n"
                                "  /debug/xds          xDS connections, subscriptions, last NACK\n"
                                "  /debug/krt          the engine's collections (JSON)\n"
                                "  /debug/krt.dot      the collection graph (Graphviz)\n"
                                "  /debug/resources    every resource and status (JSON lines)\n";

/* Every in-process proxy's metrics, one family at a time, told apart by a gateway label. */
static void h_metrics(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    run_app_t *a = ud;
    size_t n = 0;
    for (gw_proxy_t *g = a->proxies; g; g = g->next)
        n++;
    proxy_metrics_source_t *srcs = calloc(n + 1, sizeof *srcs);
    if (!srcs) {
        net_http_response_set_status(resp, 500);
        return;
    }
    n = 0;
    for (gw_proxy_t *g = a->proxies; g; g = g->next)
        srcs[n++] = (proxy_metrics_source_t){g->key, g->p};
    proxy_admin_write_metrics(resp, srcs, n, NULL);
    free(srcs);
}

/* ---- in-process proxies, one per Gateway ------------------------------------------------- */

/* The Gateway's own loopback address from spec.addresses, if it names one. */
static bool gateway_loopback(run_app_t *a, const char *key, char *out, size_t cap)
{
    const krt_obj_t *gw = krt_collection_get(kube_source_collection(a->pl.src, "Gateway"), key);
    json_t *addrs = gw ? json_object_get(json_object_get(krt_json_value(gw), "spec"), "addresses")
                       : NULL;
    size_t i;
    json_t *ad;
    json_array_foreach(addrs, i, ad)
    {
        const char *v = json_string_value(json_object_get(ad, "value"));
        if (v && strncmp(v, "127.", 4) == 0 && strlen(v) < cap) {
            strcpy(out, v);
            return true;
        }
    }
    return false;
}

static void proxy_closed(proxy_t *p, void *ud)
{
    (void)p;
    free(ud);
}

static void drop_proxy(gw_proxy_t *g)
{
    fprintf(stderr, "krtgate: gateway %s: proxy on %s stopped\n", g->key, g->host);
    xds_inproc_unsubscribe(g->sub);
    proxy_close(g->p, proxy_closed, g);
}

/* Gives every Gateway of ours a proxy and stops the proxies of Gateways that went away. Runs
 * after each commit, so a new proxy's subscription starts from the committed state. */
static void reconcile_proxies(run_app_t *a, uv_loop_t *loop)
{
    krt_collection_t *gws = tr_graph_status(a->pl.graph, TR_STATUS_GATEWAY);
    for (gw_proxy_t *g = a->proxies; g; g = g->next)
        g->seen = krt_collection_get(gws, g->key) != NULL;
    size_t n = krt_collection_len(gws);
    const krt_obj_t **objs = n ? malloc(n * sizeof(*objs)) : NULL;
    if (n && !objs)
        return;
    krt_collection_list(gws, objs, n);
    for (size_t i = 0; i < n; i++) {
        const char *key = krt_obj_key(objs[i]);
        bool have = false;
        for (gw_proxy_t *g = a->proxies; g && !have; g = g->next)
            have = strcmp(g->key, key) == 0;
        if (have || strlen(key) >= sizeof(((gw_proxy_t *)0)->key))
            continue;
        gw_proxy_t *g = calloc(1, sizeof(*g));
        if (!g)
            break;
        strcpy(g->key, key);
        if (!gateway_loopback(a, key, g->host, sizeof(g->host))) {
            snprintf(g->host, sizeof(g->host), "127.0.1.%u", ++a->next_host);
            g->allocated = true;
        }
        proxy_options_t po;
        proxy_options_default(&po);
        po.auto_listen_host = g->host;
        po.tunnel_idle_timeout_ms = a->o.tunnel_idle_ms;
        po.client_idle_timeout_ms = a->o.client_idle_ms;
        po.client_header_timeout_ms = a->o.client_header_ms;
        po.client_handshake_timeout_ms = a->o.client_handshake_ms;
        po.client_body_timeout_ms = a->o.client_body_ms;
        int err = 0;
        g->p = proxy_new(loop, &po, &err);
        char role[256];
        snprintf(role, sizeof(role), "%s", key);
        char *slash = strchr(role, '/');
        if (slash)
            *slash = '~';
        g->sub = g->p ? xds_inproc_subscribe(a->pl.store, role, proxy_xds_inproc_cb, g->p, &err) : NULL;
        if (!g->sub) {
            fprintf(stderr, "krtgate: gateway %s: cannot start its proxy (error %d)\n", key, err);
            if (g->p)
                proxy_close(g->p, proxy_closed, g);
            else
                free(g);
            continue;
        }
        g->seen = true;
        g->next = a->proxies;
        a->proxies = g;
        fprintf(stderr, "krtgate: gateway %s: proxy serving on %s (at its listeners' ports)\n",
                key, g->host);
    }
    free(objs);
    for (gw_proxy_t **pp = &a->proxies; *pp;) {
        gw_proxy_t *g = *pp;
        if (g->seen) {
            pp = &g->next;
            continue;
        }
        *pp = g->next;
        drop_proxy(g);
    }
}

/* ---- the Gateways' load balancer ----------------------------------------------------------- */

#define LB_ORIGIN "krtgate run (load balancer)"

/* Whether |svc| is a Service lb_services() made. */
static bool lb_service_ours(const krt_obj_t *svc)
{
    json_t *ann = svc ? json_object_get(json_object_get(krt_json_value(svc), "metadata"),
                                        "annotations")
                      : NULL;
    const char *v = json_string_value(json_object_get(ann, "krtgate.dev/origin"));
    return v && strcmp(v, LB_ORIGIN) == 0;
}

/* A Service |key| ("ns/name") of the load balancer, with |ip| as its address (NULL: a stub for
 * a delete). Returns: the object (owned by caller) or NULL on OOM. */
static json_t *lb_service(const char *key, const char *ip)
{
    char ns[256];
    snprintf(ns, sizeof ns, "%s", key);
    char *name = strchr(ns, '/');
    if (!name)
        return NULL;
    *name++ = '\0';
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:{s:s}}, s:{s:s}}", "apiVersion", "v1",
                          "kind", "Service", "metadata", "name", name, "namespace", ns, "labels",
                          "gateway.networking.k8s.io/gateway-name", name, "annotations",
                          "krtgate.dev/origin", LB_ORIGIN, "spec", "type", "LoadBalancer");
    if (o && ip &&
        json_object_set_new(o, "status", json_pack("{s:{s:[{s:s}]}}", "loadBalancer", "ingress",
                                                   "ip", ip)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* In a cluster the deployer gives each Gateway a Service of its name, whose load balancer address
 * the translation reports in the Gateway's status. Here krtgate plays that load balancer as it
 * plays kubelet for Pods: a Gateway whose address it allocated gets such a Service (no ports, no
 * selector) unless the manifests define one, and loses it with its proxy. Returns: how many
 * changes were applied. */
static size_t lb_services(run_app_t *a)
{
    krt_collection_t *svcs = kube_source_collection(a->pl.src, "Service");
    kube_change_t ch[64];
    size_t n = 0;
    for (gw_proxy_t *g = a->proxies; g && n < 64; g = g->next) {
        if (!g->allocated || krt_collection_get(svcs, g->key))
            continue; /* its address is its own, ours is in place, or the manifests have one */
        json_t *o = lb_service(g->key, g->host);
        if (o)
            ch[n++] = (kube_change_t){.op = KUBE_CHANGE_PUT, .object = o, .origin = LB_ORIGIN};
    }
    size_t total = krt_collection_len(svcs);
    const krt_obj_t **all = total ? malloc(total * sizeof(*all)) : NULL;
    if (all)
        krt_collection_list(svcs, all, total);
    for (size_t i = 0; all && i < total && n < 64; i++) {
        if (!lb_service_ours(all[i]))
            continue;
        bool live = false;
        for (gw_proxy_t *g = a->proxies; g && !live; g = g->next)
            live = g->allocated && strcmp(g->key, krt_obj_key(all[i])) == 0;
        json_t *o = live ? NULL : lb_service(krt_obj_key(all[i]), NULL);
        if (o)
            ch[n++] = (kube_change_t){.op = KUBE_CHANGE_DELETE, .object = o, .origin = LB_ORIGIN};
    }
    free(all);
    if (n && kube_source_apply(a->pl.src, ch, n) != KUBE_OK)
        fprintf(stderr, "krtgate: the Gateways' load balancer Services were not all applied\n");
    for (size_t i = 0; i < n; i++)
        json_decref(ch[i].object);
    return n;
}

/* ---- manifests → flush → xDS ---------------------------------------------------------------- */

static void on_update(kube_manifest_dir_t *d, const kube_manifest_dir_update_t *u, void *ud)
{
    (void)d;
    run_app_t *a = ud;
    a->rounds++;
    for (size_t i = 0; i < u->nerrors; i++)
        fprintf(stderr, "krtgate: %s\n", u->errors[i]);
    a->problems += u->nerrors;
    cli_plane_commit(&a->pl, u->initial ? "initial load" : "update", u->nchanges);
    if (a->o.proxy && !a->stopping) {
        reconcile_proxies(a, uv_default_loop());
        /* The allocated addresses into the Gateways' status: one more flush when they change. */
        size_t nlb = lb_services(a);
        if (nlb)
            cli_plane_commit(&a->pl, "load balancer addresses", nlb);
    }
}

static void stop(run_app_t *a)
{
    if (a->stopping)
        return;
    a->stopping = true;
    if (a->dir) {
        kube_manifest_dir_close(a->dir);
        a->dir = NULL;
    }
    cli_plane_stop(&a->pl);
    net_busy_poll_stop(a->busy);
    a->busy = NULL;
    while (a->proxies) {
        gw_proxy_t *g = a->proxies;
        a->proxies = g->next;
        drop_proxy(g);
    }
    if (uv_is_active((uv_handle_t *)&a->sigint)) {
        uv_close((uv_handle_t *)&a->sigint, NULL);
        uv_close((uv_handle_t *)&a->sigterm, NULL);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    fprintf(stderr, "krtgate: shutting down\n");
    stop(s->data);
}

/* ---- options ------------------------------------------------------------------------------- */

/* The duration option |a| names, or NULL. */
static uint64_t *duration_flag(run_opts_t *o, const char *a)
{
    return !strcmp(a, "--tunnel-idle-timeout")        ? &o->tunnel_idle_ms
           : !strcmp(a, "--client-idle-timeout")      ? &o->client_idle_ms
           : !strcmp(a, "--client-header-timeout")    ? &o->client_header_ms
           : !strcmp(a, "--client-body-timeout")      ? &o->client_body_ms
           : !strcmp(a, "--client-handshake-timeout") ? &o->client_handshake_ms
                                                      : NULL;
}

static int parse(int argc, char **argv, run_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->xds_listen = "127.0.0.1:9978";
    o->admin_listen = "127.0.0.1:15000";
    o->watch = true;
    o->proxy = true;
    o->tunnel_idle_ms = 3600000;
    proxy_options_t dflt;
    proxy_options_default(&dflt);
    o->client_idle_ms = dflt.client_idle_timeout_ms;
    o->client_header_ms = dflt.client_header_timeout_ms;
    o->client_handshake_ms = dflt.client_handshake_timeout_ms;
    o->client_body_ms = dflt.client_body_timeout_ms;
    o->paths = calloc((size_t)argc, sizeof(char *));
    if (!o->paths)
        return CLI_PROBLEMS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **value = !strcmp(a, "--xds-listen")        ? &o->xds_listen
                             : !strcmp(a, "--admin-listen")    ? &o->admin_listen
                             : !strcmp(a, "--xds-token-file")  ? &o->token_file
                             : !strcmp(a, "--xds-tls-cert")    ? &o->tls_cert
                             : !strcmp(a, "--xds-tls-key")     ? &o->tls_key
                             : !strcmp(a, "--controller-name") ? &o->controller
                                                               : NULL;
        if (value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "krtgate run: %s needs a value\n", a);
                return CLI_USAGE;
            }
            *value = argv[++i];
        } else if (duration_flag(o, a)) {
            uint64_t *dur = duration_flag(o, a);
            if (i + 1 >= argc || cli_duration_ms(argv[i + 1], dur) != 0) {
                fprintf(stderr,
                        "krtgate run: %s wants a duration such as 500ms, 90s, 30m or 1h "
                        "(0: never)\n",
                        a);
                return CLI_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--busy-poll")) {
            if (cli_busy_poll_arg("run", argc, argv, &i, &o->busy_poll_us) != CLI_OK)
                return CLI_USAGE;
        } else if (!strcmp(a, "--no-watch")) {
            o->watch = false;
        } else if (!strcmp(a, "--no-proxy")) {
            o->proxy = false;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: krtgate run [--xds-listen ADDR] [--admin-listen ADDR] "
                   "[--xds-token-file F] [--xds-tls-cert F --xds-tls-key F] "
                   "[--controller-name NAME] [--tunnel-idle-timeout DURATION] "
                   "[--client-idle-timeout D] [--client-header-timeout D] "
                   "[--client-body-timeout D] [--client-handshake-timeout D] [--busy-poll D] "
                   "[--no-watch] "
                   "[--no-proxy] PATH...\n");
            exit(CLI_OK);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "krtgate run: unknown option '%s'\n", a);
            return CLI_USAGE;
        } else {
            o->paths[o->npaths++] = a;
        }
    }
    if (o->npaths == 0) {
        fprintf(stderr, "krtgate run: give at least one file or folder of manifests\n");
        return CLI_USAGE;
    }
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "krtgate run: --xds-tls-cert and --xds-tls-key go together\n");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int start_servers(run_app_t *a, uv_loop_t *loop)
{
    cli_plane_serve_options_t so = {.xds_listen = a->o.xds_listen,
                                    .admin_listen = a->o.admin_listen,
                                    .token_file = a->o.token_file,
                                    .tls_cert = a->o.tls_cert,
                                    .tls_key = a->o.tls_key,
                                    .index = run_index};
    int rc = cli_plane_serve(&a->pl, loop, &so);
    if (rc == CLI_OK)
        net_http_server_route(a->pl.admin, "GET", "/metrics", h_metrics, a);
    return rc;
}

int cli_run(int argc, char **argv)
{
    run_app_t a = {0};
    int rc = parse(argc, argv, &a.o);
    if (rc != CLI_OK) {
        free(a.o.paths);
        return rc;
    }
    if (!strrchr(a.o.xds_listen, ':') || !strrchr(a.o.admin_listen, ':')) {
        fprintf(stderr, "krtgate run: listen addresses are IP:PORT\n");
        free(a.o.paths);
        return CLI_USAGE;
    }
    uv_loop_t *loop = uv_default_loop();
    if (a.o.busy_poll_us)
        a.busy = net_busy_poll_start(loop, (uint32_t)a.o.busy_poll_us, NULL);
    a.status = cli_plane_init(&a.pl, "krtgate run", a.o.controller);
    if (a.status == CLI_OK && (a.status = start_servers(&a, loop)) == CLI_OK) {
        kube_manifest_dir_options_t dopt = {.watch = a.o.watch, .on_update = on_update, .ud = &a};
        rc = kube_manifest_dir_new(loop, a.pl.src, a.o.paths, a.o.npaths, &dopt, &a.dir);
        if (rc == KUBE_OK)
            rc = kube_manifest_dir_start(a.dir);
        if (rc != KUBE_OK) {
            fprintf(stderr, "krtgate run: %s\n", kube_strerror(rc));
            a.status = CLI_PROBLEMS;
        }
    }
    uv_signal_init(loop, &a.sigint);
    uv_signal_init(loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    if (a.status != CLI_OK)
        stop(&a);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    cli_plane_free(&a.pl);
    free(a.o.paths);
    return a.status;
}
