/*
 * `krtgate proxy` — the data plane on its own: a proxy (proxy/) fed either by a control plane
 * over delta xDS (--xds, as agentgateway's proxy is) or by a local config file in agentgateway's
 * local format (--config, proxy/localconfig.h), watched and reloaded. Listeners open per Bind on
 * --listen-host at the Bind's port; an admin endpoint serves /healthz, /readyz, /config_dump and
 * /metrics.
 *
 * Key decision: the command is only wiring. The xDS client (xds/client.h) already reconnects with
 * backoff and resumes with the versions it holds; the proxy applies each response atomically and
 * NACKs what it cannot take; the local file goes through the same proxy_apply as a replace, so a
 * bad file is rejected whole and the last good config keeps serving.
 *
 * File watching: a libuv fs event on the file's folder (editors save by rename, which a watch on
 * the file itself would lose) plus a 1 s stat poll as a fallback for filesystems without inotify;
 * both only arm a short debounce timer, and a reload whose bytes did not change does nothing.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cli.h"
#include "net/busy_poll.h"
#include "net/grpc.h"
#include "net/http_server.h"
#include "net/tls.h"
#include "proxy/admin.h"
#include "proxy/localconfig.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"
#include "proxy/xds_glue.h"
#include "xds/client.h"

#define MAX_CONFIG_BYTES (16u << 20)
#define DEBOUNCE_MS      100
#define POLL_MS          1000

typedef struct pc_opts {
    const char *xds, *gateway, *token_file, *xds_ca, *server_name, *config, *listen_host,
        *admin_listen, *node_id;
    char host[256], role[300]; /* from --xds and --gateway */
    uint16_t port;
    uint64_t tunnel_idle_ms; /* --tunnel-idle-timeout */
    uint64_t client_idle_ms, client_header_ms, client_handshake_ms,
        client_body_ms;    /* --client-*-timeout */
    uint64_t busy_poll_us; /* --busy-poll (0: off) */
} pc_opts_t;

typedef struct pc_app {
    pc_opts_t o;
    uv_loop_t *loop;
    proxy_t *p;
    xds_client_t *xds;
    net_http_server_t *admin;
    net_busy_poll_t *busy; /* --busy-poll */
    uv_signal_t sigint, sigterm;
    /* --config */
    uv_fs_event_t fsev;
    uv_fs_poll_t poll;
    uv_timer_t debounce;
    bool watching;
    char *last; /* the bytes of the file last applied or rejected */
    size_t last_len;
    char dir[PATH_MAX], base[PATH_MAX];
    bool stopping;
    bool applied_since_open; /* an xDS response was applied since the stream last opened */
    int status;
} pc_app_t;

/* ---- xDS --------------------------------------------------------------------------------------
 */

static void on_xds_state(xds_client_t *c, int state, int status, const char *message, void *ud)
{
    pc_app_t *a = ud;
    if (state == XDS_CLIENT_STREAMING) {
        a->applied_since_open = false;
        fprintf(stderr, "krtgate proxy: xDS stream to %s opened (gateway %s)\n", a->o.xds,
                a->o.gateway);
    } else if (state == XDS_CLIENT_BACKOFF) {
        xds_client_stats_t st;
        xds_client_stats(c, &st);
        if (status == 16 || status == 7) /* UNAUTHENTICATED, PERMISSION_DENIED */
            fprintf(stderr,
                    "krtgate proxy: the control plane at %s refused us: %s: %s (check "
                    "--token-file and the token's grant for gateway %s); retrying in %llu ms\n",
                    a->o.xds, net_grpc_status_name(status), message, a->o.gateway,
                    (unsigned long long)st.last_delay_ms);
        else
            fprintf(stderr,
                    "krtgate proxy: xDS connection to %s lost (%s%s%s); retrying in %llu ms\n",
                    a->o.xds, status >= 0 ? net_grpc_status_name(status) : "connection failed",
                    message[0] ? ": " : "", message, (unsigned long long)st.last_delay_ms);
    }
}

/* Counts the outcome, then hands the response to the proxy (proxy_xds_client_update). */
static int on_xds_update(xds_client_t *c, const xds_update_t *u, char *reason, size_t cap, void *ud)
{
    pc_app_t *a = ud;
    int rc = proxy_xds_client_update(c, u, reason, cap, a->p);
    if (rc != 0) {
        fprintf(stderr, "krtgate proxy: xDS response %s rejected (NACK): %s\n", u->nonce, reason);
    } else if (!a->applied_since_open) { /* the stream is really serving us: say so once */
        a->applied_since_open = true;
        const proxy_snapshot_t *s = proxy_config_snapshot(proxy_config(a->p));
        fprintf(stderr, "krtgate proxy: config from %s applied (generation %llu)\n", a->o.xds,
                (unsigned long long)proxy_snapshot_generation(s));
        proxy_snapshot_release(s);
    }
    return rc;
}

static bool xds_metrics(proxy_metrics_xds_t *out, void *ud)
{
    pc_app_t *a = ud;
    if (!a->xds)
        return false;
    xds_client_stats_t st;
    xds_client_stats(a->xds, &st);
    *out = (proxy_metrics_xds_t){xds_client_state(a->xds), st.connects, st.streams, st.responses,
                                 st.nacks};
    return true;
}

/* Checks --xds and --gateway and derives the client's host, port and role into |o|. */
static int xds_args(pc_opts_t *o)
{
    const char *colon = strrchr(o->xds, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == o->xds || (size_t)(colon - o->xds) >= sizeof o->host || *end ||
        port <= 0 || port > 65535) {
        fprintf(stderr, "krtgate proxy: --xds wants HOST:PORT, not '%s'\n", o->xds);
        return CLI_USAGE;
    }
    snprintf(o->host, sizeof o->host, "%.*s", (int)(colon - o->xds), o->xds);
    size_t hl = strlen(o->host);
    if (hl >= 2 && o->host[0] == '[' && o->host[hl - 1] == ']') { /* [::1]:9978 */
        memmove(o->host, o->host + 1, hl - 2);
        o->host[hl - 2] = '\0';
    }
    o->port = (uint16_t)port;
    const char *slash = strchr(o->gateway, '/');
    if (!slash || slash == o->gateway || !slash[1] || strchr(slash + 1, '/') ||
        strlen(o->gateway) >= 256) {
        fprintf(stderr, "krtgate proxy: --gateway wants NAMESPACE/NAME, not '%s'\n", o->gateway);
        return CLI_USAGE;
    }
    snprintf(o->role, sizeof o->role, "%.*s~%s", (int)(slash - o->gateway), o->gateway, slash + 1);
    return CLI_OK;
}

static int start_xds(pc_app_t *a)
{
    char node[300];
    char hn[128] = "localhost";
    gethostname(hn, sizeof hn - 1);
    snprintf(node, sizeof node, "krtgate-proxy~%s~%ld", hn, (long)getpid());

    xds_client_config_t xc;
    xds_client_config_default(&xc);
    xc.host = a->o.host;
    xc.port = a->o.port;
    xc.node_id = a->o.node_id ? a->o.node_id : node;
    xc.role = a->o.role;
    xc.token_file = a->o.token_file;
    xc.server_name = a->o.server_name;
    xc.on_update = on_xds_update;
    xc.on_state = on_xds_state;
    xc.ud = a;
    int err = 0;
    net_tls_ctx_t *tls = NULL;
    if (a->o.xds_ca) {
        net_tls_config_t tc = {.ca_file = a->o.xds_ca};
        if (!(tls = net_tls_ctx_new(false, &tc, &err))) {
            fprintf(stderr, "krtgate proxy: --xds-ca %s: %s\n", a->o.xds_ca, net_strerror(err));
            return CLI_PROBLEMS;
        }
        xc.tls = tls;
    }
    if (a->o.token_file && access(a->o.token_file, R_OK) != 0) {
        fprintf(stderr, "krtgate proxy: --token-file %s: %s\n", a->o.token_file, strerror(errno));
        net_tls_ctx_release(tls);
        return CLI_PROBLEMS;
    }
    a->xds = xds_client_new(a->loop, &xc, &err);
    net_tls_ctx_release(tls); /* the client retains it */
    if (!a->xds) {
        fprintf(stderr, "krtgate proxy: cannot start the xDS client: %s\n", xds_strerror(err));
        return CLI_PROBLEMS;
    }
    proxy_metrics_set_xds(proxy_metrics_get(a->p), xds_metrics, a);
    fprintf(stderr, "krtgate proxy: xDS from %s as gateway %s (node %s)\n", a->o.xds, a->o.gateway,
            xc.node_id);
    return CLI_OK;
}

/* ---- local config file ---------------------------------------------------------------------- */

/* Reads the whole file. Returns: the bytes (owned by caller, NUL-terminated) or NULL with errno. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (n + 1 == cap) {
            if (cap >= MAX_CONFIG_BYTES) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* Loads the file and applies it as the whole config. Returns: 0 applied (or unchanged), -1 not. */
static int load_config(pc_app_t *a, bool initial)
{
    size_t len = 0;
    char *text = read_file(a->o.config, &len);
    if (!text) {
        fprintf(stderr, "krtgate proxy: %s: cannot read: %s%s\n", a->o.config, strerror(errno),
                initial ? "" : " (the last good config keeps serving)");
        return -1;
    }
    if (!initial && a->last && len == a->last_len && memcmp(text, a->last, len) == 0) {
        free(text);
        return 0; /* touched, not changed */
    }
    free(a->last);
    a->last = text;
    a->last_len = len;
    char err[1024];
    proxy_localconfig_t *lc = NULL;
    int rc = proxy_localconfig_parse(text, len, a->o.config, &lc, err, sizeof err);
    if (rc != PROXY_OK) {
        fprintf(stderr, "krtgate proxy: %s%s\n", err,
                initial ? "" : " (rejected whole; the last good config keeps serving)");
        proxy_metrics_config_rejected(proxy_metrics_get(a->p));
        return -1;
    }
    size_t n = 0;
    const proxy_change_t *ch = proxy_localconfig_changes(lc, &n);
    rc = proxy_apply(a->p, ch, n, true, err, sizeof err);
    proxy_localconfig_free(lc);
    if (rc != PROXY_OK) {
        fprintf(stderr, "krtgate proxy: %s: %s%s\n", a->o.config,
                rc == PROXY_ENOMEM ? "out of memory" : err,
                initial ? "" : " (rejected whole; the last good config keeps serving)");
        return -1;
    }
    const proxy_snapshot_t *s = proxy_config_snapshot(proxy_config(a->p));
    fprintf(stderr,
            "krtgate proxy: %s: config %s (%zu binds, %zu listeners, %zu routes, %zu backends), "
            "generation %llu\n",
            a->o.config, initial ? "loaded" : "reloaded", proxy_snapshot_count(s, IR_KIND_BIND),
            proxy_snapshot_count(s, IR_KIND_LISTENER), proxy_snapshot_count(s, IR_KIND_ROUTE),
            proxy_snapshot_count(s, IR_KIND_BACKEND),
            (unsigned long long)proxy_snapshot_generation(s));
    proxy_snapshot_release(s);
    return 0;
}

static void on_debounce(uv_timer_t *t)
{
    pc_app_t *a = t->data;
    if (!a->stopping)
        load_config(a, false);
}

static void arm(pc_app_t *a)
{
    if (!a->stopping)
        uv_timer_start(&a->debounce, on_debounce, DEBOUNCE_MS, 0);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    pc_app_t *a = h->data;
    if (status == 0 && (!filename || strcmp(filename, a->base) == 0))
        arm(a);
}

static void on_fs_poll(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    (void)status;
    (void)prev;
    (void)curr;
    arm(h->data);
}

static int start_config(pc_app_t *a)
{
    if (strlen(a->o.config) >= sizeof a->dir) {
        fprintf(stderr, "krtgate proxy: --config path too long\n");
        return CLI_USAGE;
    }
    const char *slash = strrchr(a->o.config, '/');
    if (slash) {
        snprintf(a->dir, sizeof a->dir, "%.*s", (int)(slash - a->o.config + (slash == a->o.config)),
                 a->o.config);
        snprintf(a->base, sizeof a->base, "%s", slash + 1);
    } else {
        snprintf(a->dir, sizeof a->dir, ".");
        snprintf(a->base, sizeof a->base, "%s", a->o.config);
    }
    if (load_config(a, true) != 0)
        return CLI_PROBLEMS;
    uv_timer_init(a->loop, &a->debounce);
    uv_fs_event_init(a->loop, &a->fsev);
    uv_fs_poll_init(a->loop, &a->poll);
    a->debounce.data = a->fsev.data = a->poll.data = a;
    a->watching = true;
    if (uv_fs_event_start(&a->fsev, on_fs_event, a->dir, 0) != 0)
        fprintf(stderr, "krtgate proxy: cannot watch %s for changes; polling every %d ms\n", a->dir,
                POLL_MS);
    uv_fs_poll_start(&a->poll, on_fs_poll, a->o.config, POLL_MS);
    return CLI_OK;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void stop(pc_app_t *a)
{
    if (a->stopping)
        return;
    a->stopping = true;
    if (a->watching) {
        uv_close((uv_handle_t *)&a->debounce, NULL);
        uv_close((uv_handle_t *)&a->fsev, NULL);
        uv_close((uv_handle_t *)&a->poll, NULL);
        a->watching = false;
    }
    if (a->xds) {
        proxy_metrics_set_xds(proxy_metrics_get(a->p), NULL, NULL);
        xds_client_close(a->xds, NULL, NULL);
        a->xds = NULL;
    }
    if (a->admin)
        net_http_server_close(a->admin, true, NULL, NULL);
    a->admin = NULL;
    net_busy_poll_stop(a->busy);
    a->busy = NULL;
    if (a->p)
        proxy_close(a->p, NULL, NULL);
    a->p = NULL;
    if (uv_is_active((uv_handle_t *)&a->sigint)) {
        uv_close((uv_handle_t *)&a->sigint, NULL);
        uv_close((uv_handle_t *)&a->sigterm, NULL);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    fprintf(stderr, "krtgate proxy: shutting down\n");
    stop(s->data);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: krtgate proxy --xds HOST:PORT --gateway NS/NAME [--token-file F] [--xds-ca F]\n"
            "                     [--xds-server-name NAME] [--node-id ID]\n"
            "                     [--listen-host ADDR] [--admin-listen ADDR]\n"
            "                     [--tunnel-idle-timeout DURATION] [--busy-poll D]\n"
            "                     [CLIENT TIMEOUTS]\n"
            "       krtgate proxy --config FILE [--listen-host ADDR] [--admin-listen ADDR]\n"
            "                     [--tunnel-idle-timeout DURATION] [--busy-poll D]\n"
            "                     [CLIENT TIMEOUTS]\n"
            "CLIENT TIMEOUTS: [--client-idle-timeout D] [--client-header-timeout D]\n"
            "                 [--client-body-timeout D] [--client-handshake-timeout D]\n");
}

static int parse(int argc, char **argv, pc_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->listen_host = "0.0.0.0";
    o->admin_listen = "127.0.0.1:15000";
    o->tunnel_idle_ms = 3600000;
    proxy_options_t dflt;
    proxy_options_default(&dflt);
    o->client_idle_ms = dflt.client_idle_timeout_ms;
    o->client_header_ms = dflt.client_header_timeout_ms;
    o->client_handshake_ms = dflt.client_handshake_timeout_ms;
    o->client_body_ms = dflt.client_body_timeout_ms;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        uint64_t *dur = !strcmp(s, "--tunnel-idle-timeout")        ? &o->tunnel_idle_ms
                        : !strcmp(s, "--client-idle-timeout")      ? &o->client_idle_ms
                        : !strcmp(s, "--client-header-timeout")    ? &o->client_header_ms
                        : !strcmp(s, "--client-handshake-timeout") ? &o->client_handshake_ms
                        : !strcmp(s, "--client-body-timeout")      ? &o->client_body_ms
                                                                   : NULL;
        if (!strcmp(s, "--busy-poll")) {
            if (cli_busy_poll_arg("proxy", argc, argv, &i, &o->busy_poll_us) != CLI_OK)
                return CLI_USAGE;
            continue;
        }
        if (dur) {
            if (i + 1 >= argc || cli_duration_ms(argv[i + 1], dur) != 0) {
                fprintf(stderr,
                        "krtgate proxy: %s wants a duration such as 500ms, 90s, 30m or 1h "
                        "(0: never)\n",
                        s);
                return CLI_USAGE;
            }
            i++;
            continue;
        }
        const char **value = !strcmp(s, "--xds")               ? &o->xds
                             : !strcmp(s, "--gateway")         ? &o->gateway
                             : !strcmp(s, "--token-file")      ? &o->token_file
                             : !strcmp(s, "--xds-ca")          ? &o->xds_ca
                             : !strcmp(s, "--xds-server-name") ? &o->server_name
                             : !strcmp(s, "--node-id")         ? &o->node_id
                             : !strcmp(s, "--config")          ? &o->config
                             : !strcmp(s, "-f")                ? &o->config
                             : !strcmp(s, "--listen-host")     ? &o->listen_host
                             : !strcmp(s, "--admin-listen")    ? &o->admin_listen
                                                               : NULL;
        if (value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "krtgate proxy: %s needs a value\n", s);
                return CLI_USAGE;
            }
            *value = argv[++i];
        } else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            exit(CLI_OK);
        } else {
            fprintf(stderr, "krtgate proxy: unknown argument '%s'\n", s);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!o->xds == !o->config) {
        fprintf(stderr, "krtgate proxy: give either --xds (with --gateway) or --config\n");
        usage(stderr);
        return CLI_USAGE;
    }
    if (o->xds && !o->gateway) {
        fprintf(stderr, "krtgate proxy: --xds needs --gateway NAMESPACE/NAME\n");
        return CLI_USAGE;
    }
    if (o->xds && xds_args(o) != CLI_OK)
        return CLI_USAGE;
    if (o->config && (o->gateway || o->token_file || o->xds_ca || o->server_name)) {
        fprintf(stderr, "krtgate proxy: --gateway, --token-file, --xds-ca and --xds-server-name "
                        "go with --xds\n");
        return CLI_USAGE;
    }
    if (!strrchr(o->admin_listen, ':')) {
        fprintf(stderr, "krtgate proxy: --admin-listen wants IP:PORT\n");
        return CLI_USAGE;
    }
    return CLI_OK;
}

int cli_proxy(int argc, char **argv)
{
    pc_app_t a = {0};
    int rc = parse(argc, argv, &a.o);
    if (rc != CLI_OK)
        return rc;
    a.loop = uv_default_loop();
    a.status = CLI_OK;
    if (a.o.busy_poll_us)
        a.busy = net_busy_poll_start(a.loop, (uint32_t)a.o.busy_poll_us, NULL);
    proxy_options_t po;
    proxy_options_default(&po);
    po.auto_listen_host = a.o.listen_host;
    po.tunnel_idle_timeout_ms = a.o.tunnel_idle_ms;
    po.client_idle_timeout_ms = a.o.client_idle_ms;
    po.client_header_timeout_ms = a.o.client_header_ms;
    po.client_handshake_timeout_ms = a.o.client_handshake_ms;
    po.client_body_timeout_ms = a.o.client_body_ms;
    int err = 0;
    a.p = proxy_new(a.loop, &po, &err);
    if (!a.p) {
        fprintf(stderr, "krtgate proxy: %s\n", proxy_strerror(err));
        return CLI_PROBLEMS;
    }
    if (a.o.gateway)
        proxy_metrics_set_gateway(proxy_metrics_get(a.p), a.o.gateway);
    net_http_server_config_t hc;
    net_http_server_config_default(&hc);
    hc.server.listen = a.o.admin_listen;
    a.admin = net_http_server_new(a.loop, &hc, &err);
    if (!a.admin) {
        fprintf(stderr, "krtgate proxy: cannot serve the admin endpoint on %s: %s\n",
                a.o.admin_listen, net_strerror(err));
        a.status = CLI_PROBLEMS;
    } else if (proxy_admin_register(a.p, a.admin) != PROXY_OK) {
        fprintf(stderr, "krtgate proxy: cannot register the admin routes\n");
        a.status = CLI_PROBLEMS;
    } else {
        /* Tests and scripts pass port 0 and read the port from this line. */
        fprintf(stderr, "krtgate proxy: admin on http://%.*s:%d/, listeners on %s\n",
                (int)(strrchr(a.o.admin_listen, ':') - a.o.admin_listen), a.o.admin_listen,
                net_http_server_port(a.admin), a.o.listen_host);
        a.status = a.o.xds ? start_xds(&a) : start_config(&a);
    }
    uv_signal_init(a.loop, &a.sigint);
    uv_signal_init(a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    if (a.status != CLI_OK)
        stop(&a);
    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    free(a.last);
    return a.status;
}
