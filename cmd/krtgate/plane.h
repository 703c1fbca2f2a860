/*
 * The control plane that `krtgate run` and `krtgate controller` share: engine → kube source →
 * translation graph → xDS store, the delta xDS server in front of the store, and the admin
 * endpoint with the routes both commands serve. The commands differ only in what feeds the
 * source (a manifest folder, or informers over the API server) and in what they add around it
 * (in-process proxies; leader election, /metrics).
 */
#ifndef KRTGATE_PLANE_H
#define KRTGATE_PLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "krt/krt.h"
#include "kube/source.h"
#include "net/http_server.h"
#include "translate/translate.h"
#include "xds/auth.h"
#include "xds/server.h"
#include "xds/store.h"

typedef struct cli_plane {
    const char *cmd; /* "krtgate run": the prefix of error messages */
    krt_engine_t *e;
    kube_source_t *src;
    tr_graph_t *graph;
    xds_store_t *store;
    xds_server_t *xds;
    net_http_server_t *admin;
    /* /readyz: besides the store's readiness, this must say yes (NULL: no extra condition). */
    bool (*ready)(void *ud, char *why, size_t cap);
    void *ready_ud;
    /* Commit timings for /metrics. */
    uint64_t commits, flush_ns_last, flush_ns_total, flush_ns_max;
    uv_timer_t *trim_timer; /* gives freed heap back to the system once a minute (plane.c) */
} cli_plane_t;

typedef struct cli_plane_serve_options {
    const char *xds_listen, *admin_listen;
    const char *token_file;         /* static bearer tokens for xDS (xds_auth_static_load) */
    const xds_auth_t *auth;         /* or a prepared authenticator (TokenReview): taken on success,
                                       disposed on failure; wins over token_file */
    const char *tls_cert, *tls_key; /* xDS over TLS, both or neither */
    const char *index;              /* the text of "/" */
} cli_plane_serve_options_t;

/* Builds engine, source, graph and store; |controller| is the GatewayClass controllerName (NULL:
 * the default). Returns CLI_OK or CLI_PROBLEMS (message printed). */
int cli_plane_init(cli_plane_t *p, const char *cmd, const char *controller);
/* Starts the xDS server and the admin endpoint with /, /healthz, /readyz, /debug/xds, /debug/krt,
 * /debug/krt.dot, /debug/resources, and prints the line tests read the ports from. Returns CLI_OK
 * or CLI_PROBLEMS (message printed). */
int cli_plane_serve(cli_plane_t *p, uv_loop_t *loop, const cli_plane_serve_options_t *o);
/* One batch of source changes is in: flush the engine, commit the store, log one line naming
 * |what| ("initial load", "update") and |nchanges|. */
void cli_plane_commit(cli_plane_t *p, const char *what, size_t nchanges);
/* Closes the xDS server (streams end UNAVAILABLE, connections GOAWAY) and the admin endpoint. */
void cli_plane_stop(cli_plane_t *p);
/* Frees store, graph, source and engine, in that order (after the loop ran the closes). */
void cli_plane_free(cli_plane_t *p);

/* Sends |j| (taken) as indented JSON. */
void cli_plane_send_json(net_http_response_t *resp, json_t *j);

#endif /* KRTGATE_PLANE_H */
