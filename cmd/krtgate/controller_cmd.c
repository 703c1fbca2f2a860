/*
 * `krtgate controller` — the control plane in a cluster: informers over the Kubernetes API server
 * feed the kube source, the translation graph turns it into agentgateway resources, the delta xDS
 * server hands them to proxies. The composition is `krtgate run`'s (plane.c); only the feeder
 * differs, plus leader election and /metrics.
 *
 * Every replica watches and serves xDS (proxies may connect to any); only the leader does the
 * work that writes to the API server. That work plugs into leader_start / leader_stop below
 * (the status writer and the deployer of kube/status_writer.c and kube/deployer.c); without
 * --leader-elect this replica counts as the leader from the start.
 *
 * Shutdown (SIGTERM, SIGINT): release the lease (an empty holder, so a standby takes over at once),
 * stop the informers, end the xDS streams (UNAVAILABLE) and GOAWAY the connections, close the API
 * client; bounded by a 5 s timer if the API server does not answer the release.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cli.h"
#include "kube/api.h"
#include "kube/client.h"
#include "kube/deployer.h"
#include "kube/duties.h"
#include "kube/status_writer.h"
#include "kube/tokenreview.h"
#include "kube/informer.h"
#include "kube/kubeconfig.h"
#include "kube/lease.h"
#include "plane.h"

typedef struct ctl_opts {
    const char *kubeconfig, *context, *controller, *xds_listen, *admin_listen, *token_file;
    const char *tls_cert, *tls_key, *lease_ns, *lease_name, *id, *ns;
    const char *xds_audience, *xds_address, *proxy_image, *auth_cache_ttl;
    bool leader_elect;
} ctl_opts_t;

typedef struct ctl_app {
    ctl_opts_t o;
    cli_plane_t pl;
    kube_client_config_t cfg;
    kube_client_t *client;
    kube_informers_t *inf;
    kube_elector_t *el;
    uv_signal_t sigint, sigterm;
    uv_timer_t shutdown_timer;
    bool stopping, finished, leading, synced_once;
    char id[256];
    uint64_t leader_starts;
    kube_tokenreview_t *tr;
    kube_status_writer_t *sw;
    kube_deployer_t *dep;
    kube_applier_t *ap;
    int status;
} ctl_app_t;

static const char ctl_index[] =
    "krtgate controller admin endpoint\n"
    "  /healthz            liveness\n"
    "  /readyz             200 once every informer synced and the load is translated\n"
    "  /metrics            informers, flushes, xDS pushes and NACKs, leader (Prometheus text)\n"
    "  /debug/xds          xDS connections, subscriptions, last NACK\n"
    "  /debug/krt          the engine's collections (JSON)\n"
    "  /debug/krt.dot      the collection graph (Graphviz)\n"
    "  /debug/resources    every resource and status (JSON lines)\n";

/* ---- leader-only work ------------------------------------------------------------------------ */

/* HOOK: the status writer (kube/status_writer.c) and the deployer (kube/deployer.c) start here,
 * with app->client, app->pl.graph (status collections) and app->pl.src; they stop in leader_stop.
 * Both must tolerate start → stop → start (leadership can come back). */
static void leader_start(ctl_app_t *a)
{
    a->leading = true;
    a->leader_starts++;
    if (a->sw)
        kube_status_writer_start(a->sw, uv_default_loop());
    if (a->ap)
        kube_applier_start(a->ap, uv_default_loop());
    fprintf(stderr, "krtgate: leading: leader-only work may run (id %s)\n", a->id);
}

static void leader_stop(ctl_app_t *a)
{
    if (!a->leading)
        return;
    a->leading = false;
    if (a->sw)
        kube_status_writer_stop(a->sw);
    if (a->ap)
        kube_applier_stop(a->ap);
    fprintf(stderr, "krtgate: not leading any more: leader-only work stopped (id %s)\n", a->id);
}

static void on_started_leading(void *ud)
{
    leader_start(ud);
}

static void on_stopped_leading(void *ud)
{
    leader_stop(ud);
}

/* ---- informers → flush → xDS ----------------------------------------------------------------- */

static void on_batch(void *ud, size_t n)
{
    ctl_app_t *a = ud;
    bool synced = kube_informers_synced(a->inf);
    const char *what = !synced ? "sync in progress" : !a->synced_once ? "initial load" : "update";
    cli_plane_commit(&a->pl, what, n);
    a->synced_once |= synced;
}

static bool informers_ready(void *ud, char *why, size_t cap)
{
    ctl_app_t *a = ud;
    if (!a->inf)
        return false;
    for (size_t i = 0; i < kube_informers_len(a->inf); i++) {
        const char *kind;
        kube_reflector_stats_t st;
        kube_informers_kind_stats(a->inf, i, &kind, &st);
        if (!st.synced) {
            snprintf(why, cap, "informer %s has not completed its first list", kind);
            return false;
        }
    }
    return true;
}

/* ---- /metrics ---------------------------------------------------------------------------------
 */

static void h_metrics(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    ctl_app_t *a = ud;
    net_http_response_header(resp, "content-type", "text/plain; version=0.0.4");
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"krtgate_informer_lists_total", "counter", "complete LISTs of the kind"},
        {"krtgate_informer_relists_total", "counter", "LISTs after the first (410, errors)"},
        {"krtgate_informer_watch_restarts_total", "counter", "WATCH requests after the first"},
        {"krtgate_informer_events_total", "counter", "watch events applied, bookmarks included"},
        {"krtgate_informer_errors_total", "counter", "failed requests and broken streams"},
        {"krtgate_informer_missing_total", "counter", "LISTs answered 404 (CRD not installed)"},
        {"krtgate_informer_objects", "gauge", "objects cached"},
        {"krtgate_informer_synced", "gauge", "1 once the first LIST completed"},
    };
    size_t nk = a->inf ? kube_informers_len(a->inf) : 0;
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        net_http_response_printf(resp, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
                                 fam[f].name, fam[f].type);
        for (size_t i = 0; i < nk; i++) {
            const char *kind;
            kube_reflector_stats_t st;
            kube_informers_kind_stats(a->inf, i, &kind, &st);
            uint64_t v[] = {st.lists,   st.relists, st.watches ? st.watches - 1 : 0,
                            st.events,  st.errors,  st.missing,
                            st.objects, st.synced};
            net_http_response_printf(resp, "%s{kind=\"%s\"} %llu\n", fam[f].name, kind,
                                     (unsigned long long)v[f]);
        }
    }
    uint64_t batches = 0, changes = 0, queue_last = 0, queue_max = 0;
    if (a->inf) {
        kube_informers_counters(a->inf, &batches, &changes);
        kube_informers_queue_ms(a->inf, &queue_last, &queue_max);
    }
    xds_server_stats_t xs = {0};
    if (a->pl.xds)
        xds_server_stats(a->pl.xds, &xs);
    kube_client_stats_t cs = {0};
    if (a->client)
        kube_client_stats(a->client, &cs);
    const struct {
        const char *name, *type, *help;
        double v;
    } one[] = {
        {"krtgate_informer_batches_total", "counter", "batches of changes handed to a flush",
         (double)batches},
        {"krtgate_informer_changes_total", "counter", "changes applied to the source",
         (double)changes},
        {"krtgate_informer_queue_seconds_last", "gauge",
         "how long the last batch of changes waited for its flush", (double)queue_last / 1e3},
        {"krtgate_informer_queue_seconds_max", "gauge", "the longest such wait",
         (double)queue_max / 1e3},
        {"krtgate_flushes_total", "counter", "engine flush + xDS commit rounds",
         (double)a->pl.commits},
        {"krtgate_flush_seconds_last", "gauge", "duration of the last flush + commit",
         (double)a->pl.flush_ns_last / 1e9},
        {"krtgate_flush_seconds_max", "gauge", "longest flush + commit",
         (double)a->pl.flush_ns_max / 1e9},
        {"krtgate_flush_seconds_total", "counter", "time spent in flush + commit",
         (double)a->pl.flush_ns_total / 1e9},
        {"krtgate_xds_version", "gauge", "the committed xDS store version",
         (double)xds_store_version(a->pl.store)},
        {"krtgate_xds_streams", "gauge", "delta xDS streams open", (double)xs.streams},
        {"krtgate_xds_streams_total", "counter", "delta xDS streams accepted",
         (double)xs.streams_total},
        {"krtgate_xds_pushes_total", "counter", "delta xDS responses sent", (double)xs.responses},
        {"krtgate_xds_resources_sent_total", "counter", "resources sent",
         (double)xs.resources_sent},
        {"krtgate_xds_nacks_total", "counter", "responses the proxies rejected", (double)xs.nacks},
        {"krtgate_kube_requests_total", "counter", "API requests", (double)cs.requests},
        {"krtgate_kube_request_errors_total", "counter", "API requests that failed in transport",
         (double)cs.errors},
        {"krtgate_kube_retries_401_total", "counter", "requests retried after a 401",
         (double)cs.retries_401},
        {"krtgate_kube_connections", "gauge", "connections to the API server",
         (double)cs.connections},
        {"krtgate_kube_http2", "gauge", "1 when the API server connection speaks HTTP/2",
         cs.h2 ? 1.0 : 0.0},
        {"krtgate_leader", "gauge", "1 while this replica leads", a->leading ? 1.0 : 0.0},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        net_http_response_printf(resp, "# HELP %s %s\n# TYPE %s %s\n%s %.9g\n", one[i].name,
                                 one[i].help, one[i].name, one[i].type, one[i].name, one[i].v);
    char *duties = kube_duties_metrics(a->sw, a->ap, a->tr);
    if (duties)
        net_http_response_printf(resp, "%s", duties);
    free(duties);
}

/* ---- shutdown ---------------------------------------------------------------------------------
 */

static void finish(ctl_app_t *a)
{
    if (a->finished)
        return;
    a->finished = true;
    uv_timer_stop(&a->shutdown_timer);
    uv_close((uv_handle_t *)&a->shutdown_timer, NULL);
    leader_stop(a);
    kube_status_writer_free(a->sw);
    a->sw = NULL;
    kube_applier_free(a->ap);
    a->ap = NULL;
    kube_informers_free(a->inf);
    a->inf = NULL;
    kube_elector_free(a->el);
    a->el = NULL;
    if (a->client)
        kube_client_close(a->client, NULL, NULL);
    a->client = NULL;
    cli_plane_stop(&a->pl);
    if (uv_is_active((uv_handle_t *)&a->sigint)) {
        uv_close((uv_handle_t *)&a->sigint, NULL);
        uv_close((uv_handle_t *)&a->sigterm, NULL);
    }
}

static void released(void *ud)
{
    fprintf(stderr, "krtgate: lease released\n");
    finish(ud);
}

static void shutdown_timeout(uv_timer_t *t)
{
    fprintf(stderr, "krtgate: the lease release got no answer in time; stopping anyway\n");
    finish(t->data);
}

static void stop(ctl_app_t *a)
{
    if (a->stopping)
        return;
    a->stopping = true;
    if (a->el) {
        uv_timer_start(&a->shutdown_timer, shutdown_timeout, 5000, 0);
        kube_elector_release(a->el, released, a);
    } else {
        finish(a);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    fprintf(stderr, "krtgate: shutting down\n");
    stop(s->data);
}

/* ---- options and configuration ----------------------------------------------------------------
 */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: krtgate controller [--kubeconfig F] [--context NAME] [--namespace NS]\n"
            "           [--controller-name NAME] [--xds-listen ADDR] [--admin-listen ADDR]\n"
            "           [--xds-token-file F] [--xds-tls-cert F --xds-tls-key F]\n"
            "           [--leader-elect [--lease-namespace NS] [--lease-name NAME] [--id ID]]\n"
            "           [--xds-audience AUD [--xds-auth-cache-ttl SECONDS]]\n"
            "           [--xds-address HOST:PORT] [--proxy-image IMAGE]\n");
}

static int parse(int argc, char **argv, ctl_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->xds_listen = "0.0.0.0:9978";
    o->admin_listen = "0.0.0.0:15000";
    o->lease_name = "krtgate-controller";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **value = !strcmp(a, "--kubeconfig")        ? &o->kubeconfig
                             : !strcmp(a, "--context")         ? &o->context
                             : !strcmp(a, "--namespace")       ? &o->ns
                             : !strcmp(a, "--controller-name") ? &o->controller
                             : !strcmp(a, "--xds-listen")      ? &o->xds_listen
                             : !strcmp(a, "--admin-listen")    ? &o->admin_listen
                             : !strcmp(a, "--xds-token-file")  ? &o->token_file
                             : !strcmp(a, "--xds-tls-cert")    ? &o->tls_cert
                             : !strcmp(a, "--xds-tls-key")     ? &o->tls_key
                             : !strcmp(a, "--lease-namespace") ? &o->lease_ns
                             : !strcmp(a, "--lease-name")      ? &o->lease_name
                             : !strcmp(a, "--id")              ? &o->id
                             : !strcmp(a, "--xds-audience")    ? &o->xds_audience
                             : !strcmp(a, "--xds-address")     ? &o->xds_address
                             : !strcmp(a, "--proxy-image")     ? &o->proxy_image
                             : !strcmp(a, "--xds-auth-cache-ttl") ? &o->auth_cache_ttl
                                                               : NULL;
        if (value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "krtgate controller: %s needs a value\n", a);
                return CLI_USAGE;
            }
            *value = argv[++i];
        } else if (!strcmp(a, "--leader-elect")) {
            o->leader_elect = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(CLI_OK);
        } else {
            fprintf(stderr, "krtgate controller: unknown argument '%s'\n", a);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (o->auth_cache_ttl) {
        char *end = NULL;
        unsigned long long secs = strtoull(o->auth_cache_ttl, &end, 10);
        if (!*o->auth_cache_ttl || *end || o->auth_cache_ttl[0] == '-' || secs > 86400) {
            fprintf(stderr,
                    "krtgate controller: --xds-auth-cache-ttl '%s': want whole seconds "
                    "from 0 to 86400\n",
                    o->auth_cache_ttl);
            return CLI_USAGE;
        }
    }
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "krtgate controller: --xds-tls-cert and --xds-tls-key go together\n");
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* --kubeconfig, else $KUBECONFIG (its first file), else ~/.kube/config if present, else the
 * in-cluster service account. */
static int load_config(ctl_app_t *a)
{
    char err[512] = "";
    char path[4096] = "";
    const char *env = getenv("KUBECONFIG");
    const char *home = getenv("HOME");
    if (a->o.kubeconfig) {
        snprintf(path, sizeof(path), "%s", a->o.kubeconfig);
    } else if (env && env[0]) {
        snprintf(path, sizeof(path), "%s", env);
        char *colon = strchr(path, ':');
        if (colon) {
            *colon = '\0';
            fprintf(stderr, "krtgate controller: KUBECONFIG names several files; using %s\n", path);
        }
    } else if (home) {
        snprintf(path, sizeof(path), "%s/.kube/config", home);
        if (access(path, R_OK) != 0)
            path[0] = '\0';
    }
    int rc;
    if (path[0])
        rc = kube_kubeconfig_load(&a->cfg, path, a->o.context, err, sizeof(err));
    else
        rc = kube_incluster_load(&a->cfg, NULL, err, sizeof(err));
    if (rc != KUBE_OK) {
        fprintf(stderr, "krtgate controller: %s\n",
                err[0] ? err : "no kubeconfig and not in a cluster");
        return CLI_PROBLEMS;
    }
    fprintf(stderr, "krtgate: API server %s (%s%s%s)\n", a->cfg.server, a->cfg.origin,
            a->cfg.context ? ", context " : "", a->cfg.context ? a->cfg.context : "");
    return CLI_OK;
}

/* HOOK: TokenReview authentication of proxies (kube/tokenreview.c) fills |out| here and returns
 * true; it then wins over --xds-token-file. */
static bool xds_auth_from_cluster(ctl_app_t *a, xds_auth_t *out)
{
    if (a->o.token_file || !a->o.xds_audience)
        return false;
    kube_tokenreview_options_t to = {.audience = a->o.xds_audience};
    if (a->o.auth_cache_ttl) {
        /* validated in parse(); 0 s becomes 1 ms (a review is not reused) since 0 means default */
        uint64_t secs = strtoull(a->o.auth_cache_ttl, NULL, 10);
        to.ttl_allow_ms = secs ? secs * 1000 : 1;
    }
    a->tr = kube_tokenreview_new(kube_api_client(a->client), &to);
    if (!a->tr)
        return false;
    kube_tokenreview_auth(a->tr, out);
    return true;
}

static int duties_new(ctl_app_t *a)
{
    kube_api_t api = kube_api_client(a->client);
    kube_status_writer_options_t so = {.controller_name = a->o.controller};
    a->sw = kube_status_writer_new(api, &so);
    if (!a->sw)
        return KUBE_ENOMEM;
    for (int k = 0; k < TR_STATUS_KIND_COUNT; k++) {
        int rc = kube_status_writer_watch(a->sw, tr_graph_status(a->pl.graph, (tr_status_kind_t)k),
                                          kube_status_kind_find(tr_status_kind_name((tr_status_kind_t)k)));
        if (rc != KUBE_OK)
            return rc;
    }
    kube_deployer_options_t dopt = {.controller_name = a->o.controller,
                                    .xds_address = a->o.xds_address,
                                    .proxy_image = a->o.proxy_image,
                                    .xds_audience = a->o.xds_audience};
    a->dep = kube_deployer_new(a->pl.e, kube_source_collection(a->pl.src, "Gateway"),
                               kube_source_collection(a->pl.src, "GatewayClass"),
                               kube_source_collection(a->pl.src, "AgentgatewayParameters"), &dopt);
    a->ap = kube_applier_new(api, NULL);
    if (!a->dep || !a->ap)
        return KUBE_ENOMEM;
    return kube_applier_watch(a->ap, kube_deployer_desired(a->dep));
}

static int start(ctl_app_t *a, uv_loop_t *loop)
{
    int rc = load_config(a);
    if (rc != CLI_OK)
        return rc;
    char err[512];
    kube_client_options_t co;
    kube_client_options_default(&co);
    if (kube_client_new(loop, &a->cfg, &co, &a->client, err, sizeof(err)) != KUBE_OK) {
        fprintf(stderr, "krtgate controller: %s\n", err);
        return CLI_PROBLEMS;
    }
    xds_auth_t auth;
    cli_plane_serve_options_t so = {.xds_listen = a->o.xds_listen,
                                    .admin_listen = a->o.admin_listen,
                                    .token_file = a->o.token_file,
                                    .auth = xds_auth_from_cluster(a, &auth) ? &auth : NULL,
                                    .tls_cert = a->o.tls_cert,
                                    .tls_key = a->o.tls_key,
                                    .index = ctl_index};
    a->pl.ready = informers_ready;
    a->pl.ready_ud = a;
    if ((rc = cli_plane_serve(&a->pl, loop, &so)) != CLI_OK)
        return rc;
    net_http_server_route(a->pl.admin, "GET", "/metrics", h_metrics, a);
    if ((rc = duties_new(a)) != KUBE_OK) {
        fprintf(stderr, "krtgate controller: status writer / deployer: %s\n", kube_strerror(rc));
        return CLI_PROBLEMS;
    }
    /* 10 ms: the LIST answers of the first sync and bursts of watch events become one flush. */
    kube_informers_options_t io = {
        .namespace_name = a->o.ns, .batch_ms = 10, .on_batch = on_batch, .ud = a};
    rc = kube_informers_new(loop, a->client, a->pl.src, &io, &a->inf);
    if (rc == KUBE_OK)
        rc = kube_informers_start(a->inf);
    if (rc != KUBE_OK) {
        fprintf(stderr, "krtgate controller: informers: %s\n", kube_strerror(rc));
        return CLI_PROBLEMS;
    }
    if (a->o.id) {
        snprintf(a->id, sizeof(a->id), "%s", a->o.id);
    } else {
        char host[200] = "krtgate";
        gethostname(host, sizeof(host) - 1);
        snprintf(a->id, sizeof(a->id), "%s_%ld", host, (long)getpid());
    }
    if (!a->o.leader_elect) {
        leader_start(a);
        return CLI_OK;
    }
    kube_lease_options_t lo = {.identity = a->id,
                               .namespace_name =
                                   a->o.lease_ns ? a->o.lease_ns : a->cfg.namespace_name,
                               .name = a->o.lease_name};
    kube_elector_callbacks_t cb = {on_started_leading, on_stopped_leading, a};
    if (kube_elector_new(loop, a->client, &lo, &cb, &a->el) != KUBE_OK) {
        fprintf(stderr, "krtgate controller: leader election: bad lease settings\n");
        return CLI_PROBLEMS;
    }
    fprintf(stderr, "krtgate: leader election: lease %s/%s as %s\n", lo.namespace_name, lo.name,
            a->id);
    kube_elector_start(a->el);
    return CLI_OK;
}

int cli_controller(int argc, char **argv)
{
    ctl_app_t a;
    memset(&a, 0, sizeof(a));
    kube_client_config_init(&a.cfg);
    int rc = parse(argc, argv, &a.o);
    if (rc != CLI_OK)
        return rc;
    uv_loop_t *loop = uv_default_loop();
    uv_timer_init(loop, &a.shutdown_timer);
    a.shutdown_timer.data = &a;
    a.status = cli_plane_init(&a.pl, "krtgate controller", a.o.controller);
    if (a.status == CLI_OK)
        a.status = start(&a, loop);
    uv_signal_init(loop, &a.sigint);
    uv_signal_init(loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    if (a.status != CLI_OK)
        stop(&a);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    kube_tokenreview_free(a.tr);
    kube_deployer_free(a.dep);
    cli_plane_free(&a.pl);
    kube_client_config_dispose(&a.cfg);
    return a.status;
}
