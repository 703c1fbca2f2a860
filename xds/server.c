/*
 * The xDS gRPC server: sessions on net/'s gRPC server, plus gRPC health (xds/server.h).
 *
 * Key decision: the adapter owns no protocol state. A stream is a session (sans-IO), a call, and at
 * most one encoded response that net/ refused for lack of room; everything else is the session's.
 * Pushes are pulled, not pushed: a store change calls the session's on_ready, which queues the
 * stream on a pump list drained by a uv_idle callback on the next loop turn (after the krt flush
 * that caused it returns), so a flush becomes at most one response per stream and type.
 *
 * The health messages are two fields; they are encoded by hand rather than generated:
 *   HealthCheckRequest  { string service = 1; }          HealthCheckResponse { enum status = 1; }
 *   status: 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN (Watch only; Check answers NOT_FOUND).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ir/pb.h"
#include "net/grpc_server.h"
#include "xds/server.h"
#include "xds/session.h"
#include "xds_internal.h"

enum { CONN_DELTA = 1, CONN_WATCH = 2 };

typedef struct xconn xconn_t;
struct xconn {
    xds_server_t *srv;
    net_grpc_call_t *call;
    int kind;
    uint64_t id;
    uint64_t started_ms;
    char peer[64];
    char *authorization;
    xds_session_t *session;
    char *role;
    xds_auth_pending_t *pending; /* authentication in progress */
    ProtobufCMessage *held_req;  /* the first request, waiting for the decision */
    uint8_t *held;               /* encoded response net/ refused: sent from on_writable */
    size_t held_len;
    uint64_t requests, responses, bytes_sent;
    uint64_t nack_ms;     /* loop time of the last NACK, 0 = none */
    bool finished;        /* we ended the call (or it ended) */
    bool queued;          /* on the pump list */
    bool dead;            /* on_done ran while queued: freed by the pump */
    int health_sent;      /* last health status sent on a Watch */
    xconn_t *prev, *next; /* server's list */
    xconn_t *pump_next;
};

struct xds_server {
    uv_loop_t *loop;
    xds_store_t *store;
    net_grpc_server_t *grpc;
    net_tls_ctx_t *tls;
    xds_auth_t auth;
    bool has_auth;
    xds_server_config_t cfg;
    char listen[64];
    uv_idle_t idle;
    bool idle_on;
    xconn_t *conns;
    xconn_t *pump;
    uint64_t next_id;
    bool closing;
    int closes_pending;
    void (*on_closed)(void *ud);
    void *closed_ud;
    xds_server_stats_t stats;
};

/* ---------------------------------------------------------------------------------------------
 * Health messages
 * ------------------------------------------------------------------------------------------- */

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Reads HealthCheckRequest.service into |out|. Returns 0, or -1 for bytes that are not a valid
 * message (or a service name longer than cap-1). */
int xds__health_parse(const uint8_t *msg, size_t len, char *out, size_t cap)
{
    const uint8_t *p = msg, *end = msg + len;
    out[0] = '\0';
    while (p < end) {
        uint64_t tag, v;
        if (!read_varint(&p, end, &tag) || (tag >> 3) == 0)
            return -1;
        switch (tag & 7) {
        case 0:
            if (!read_varint(&p, end, &v))
                return -1;
            break;
        case 1:
            if (end - p < 8)
                return -1;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return -1;
            p += 4;
            break;
        case 2:
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -1;
            if ((tag >> 3) == 1) {
                if (v >= cap || memchr(p, 0, (size_t)v))
                    return -1;
                memcpy(out, p, (size_t)v);
                out[v] = '\0';
            }
            p += v;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

enum { HEALTH_SERVING = 1, HEALTH_NOT_SERVING = 2, HEALTH_UNKNOWN = 3 };

static bool known_service(const char *svc)
{
    return !*svc || strcmp(svc, XDS_ADS_SERVICE) == 0;
}

static int health_status(const xds_server_t *s)
{
    return !s->closing && xds_store_ready(s->store) ? HEALTH_SERVING : HEALTH_NOT_SERVING;
}

static int send_health(net_grpc_call_t *call, int status)
{
    uint8_t msg[2] = {0x08, (uint8_t)status};
    return net_grpc_call_send(call, msg, sizeof msg);
}

/* ---------------------------------------------------------------------------------------------
 * Connections (streams)
 * ------------------------------------------------------------------------------------------- */

static void conn_unlink(xds_server_t *s, xconn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void conn_free(xconn_t *c)
{
    xds_session_free(c->session);
    if (c->pending)
        xds__auth_pending_cancel(c->pending);
    ir_pb_free(c->held_req);
    free(c->held);
    free(c->authorization);
    free(c->role);
    free(c);
}

static void finish(xconn_t *c, int status, const char *msg)
{
    if (c->finished)
        return;
    c->finished = true;
    if (status != 0)
        xds__log(XDS_LOG_INFO, "stream %llu from %s ends with %s: %s", (unsigned long long)c->id,
                 c->peer, net_grpc_status_name(status), msg ? msg : "");
    net_grpc_call_finish(c->call, status, msg, NULL, 0);
}

static void idle_cb(uv_idle_t *h);

static void schedule(xds_server_t *s)
{
    if (s->idle_on || s->closing)
        return;
    s->idle_on = true;
    uv_idle_start(&s->idle, idle_cb);
}

static void session_ready(xds_session_t *se, void *ud)
{
    (void)se;
    xconn_t *c = ud;
    if (c->queued || c->finished)
        return;
    c->queued = true;
    c->pump_next = c->srv->pump;
    c->srv->pump = c;
    schedule(c->srv);
}

static void session_nack(xds_session_t *se, xds_type_t t, const char *nonce, int code,
                         const char *message, void *ud)
{
    (void)se;
    (void)t;
    (void)nonce;
    (void)code;
    (void)message;
    xconn_t *c = ud;
    c->srv->stats.nacks++;
    c->nack_ms = uv_now(c->srv->loop);
    if (!c->nack_ms)
        c->nack_ms = 1;
}

/* Sends what the session has, as long as net/ takes it. */
static void pump(xconn_t *c)
{
    xds_server_t *s = c->srv;
    if (c->finished || !c->session)
        return;
    for (;;) {
        if (c->held) {
            int rc = net_grpc_call_send(c->call, c->held, c->held_len);
            if (rc == NET_EAGAIN)
                return; /* on_writable resumes */
            if (rc != NET_OK) {
                free(c->held);
                c->held = NULL;
                if (rc != NET_ECLOSED && rc != NET_ESTATE)
                    finish(c, NET_GRPC_INTERNAL, net_strerror(rc));
                return;
            }
            c->bytes_sent += c->held_len + NET_GRPC_PREFIX_LEN;
            s->stats.bytes_sent += c->held_len + NET_GRPC_PREFIX_LEN;
            size_t q = net_grpc_call_queued(c->call);
            if (q > s->stats.max_queued_bytes)
                s->stats.max_queued_bytes = q;
            free(c->held);
            c->held = NULL;
        }
        xds_response_t *r = NULL;
        int rc = xds_session_pull(c->session, &r);
        if (rc == 0)
            return;
        if (rc < 0) {
            finish(c, NET_GRPC_UNAVAILABLE, "server out of memory: reconnect");
            return;
        }
        uint8_t *buf;
        size_t len;
        rc = xds_response_encode(r, &buf, &len);
        size_t nres = xds_response_msg(r)->n_resources;
        xds_response_free(r);
        if (rc != XDS_OK) {
            finish(c, NET_GRPC_UNAVAILABLE, "server out of memory: reconnect");
            return;
        }
        c->responses++;
        s->stats.responses++;
        s->stats.resources_sent += nres;
        c->held = buf;
        c->held_len = len;
        if (len > s->stats.max_held_bytes)
            s->stats.max_held_bytes = len;
    }
}

static void update_health_watchers(xds_server_t *s)
{
    int st = health_status(s);
    for (xconn_t *c = s->conns; c; c = c->next)
        if (c->kind == CONN_WATCH && !c->finished && c->health_sent != HEALTH_UNKNOWN &&
            c->health_sent != st) {
            if (send_health(c->call, st) == NET_OK)
                c->health_sent = st;
        }
}

static void idle_cb(uv_idle_t *h)
{
    xds_server_t *s = h->data;
    uv_idle_stop(&s->idle);
    s->idle_on = false;
    xds_store_commit(s->store); /* in-process subscribers, and readiness */
    xconn_t *list = s->pump;
    s->pump = NULL;
    while (list) {
        xconn_t *c = list;
        list = c->pump_next;
        c->queued = false;
        c->pump_next = NULL;
        if (c->dead) {
            conn_free(c);
            continue;
        }
        pump(c);
    }
    update_health_watchers(s);
}

static void store_changed(xds_store_t *st, void *ud)
{
    (void)st;
    schedule(ud);
}

/* ---- authentication and the first request ---- */

static void start_session(xconn_t *c, ProtobufCMessage *m)
{
    xds_server_t *s = c->srv;
    const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req = (const void *)m;
    char gw[256];
    bool scoped = c->role && xds_role_to_gateway(c->role, gw, sizeof gw) == XDS_OK;
    xds_session_config_t cfg;
    xds_session_config_default(&cfg);
    cfg.max_response_bytes = s->cfg.max_response_bytes;
    cfg.max_subscriptions = s->cfg.max_subscriptions;
    cfg.on_ready = session_ready;
    cfg.on_nack = session_nack;
    cfg.ud = c;
    int err = 0;
    c->session = xds_session_new(s->store, req->node->id, scoped ? gw : NULL, &cfg, &err);
    if (!c->session) {
        s->stats.refused++;
        finish(c, NET_GRPC_UNAVAILABLE, "server out of memory");
        return;
    }
    s->stats.streams_total++;
    xds__log(XDS_LOG_INFO, "stream %llu from %s: node \"%s\" role %s", (unsigned long long)c->id,
             c->peer, req->node->id, c->role ? c->role : "(none)");
    xds_err_t e = {0};
    int rc = xds_session_recv(c->session, req, &e);
    if (rc != XDS_OK) {
        finish(c, rc == XDS_ENOMEM ? NET_GRPC_UNAVAILABLE : NET_GRPC_INVALID_ARGUMENT, e.msg);
        return;
    }
    pump(c);
}

static void auth_done(void *ctx, int status, const char *reason)
{
    xconn_t *c = ctx;
    xds__auth_pending_cancel(c->pending); /* the server's reference; completion drops the other */
    c->pending = NULL;
    ProtobufCMessage *m = c->held_req;
    c->held_req = NULL;
    if (status != 0) {
        c->srv->stats.refused++;
        finish(c, status, reason);
    } else if (!c->finished) {
        start_session(c, m);
    }
    ir_pb_free(m);
    if (!c->finished)
        net_grpc_call_set_recv_paused(c->call, false);
}

static void first_request(xconn_t *c, ProtobufCMessage *m)
{
    xds_server_t *s = c->srv;
    const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req = (const void *)m;
    if (!req->node || !req->node->id || !*req->node->id) {
        s->stats.refused++;
        finish(c, NET_GRPC_INVALID_ARGUMENT,
               "the first DeltaDiscoveryRequest must carry node with a non-empty id");
        ir_pb_free(m);
        return;
    }
    const char *role = xds_node_role(req->node);
    char gw[256];
    if (role && xds_role_to_gateway(role, gw, sizeof gw) != XDS_OK) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "node.metadata.role \"%.200s\": expected \"<namespace>~<gateway>\"", role);
        s->stats.refused++;
        finish(c, NET_GRPC_INVALID_ARGUMENT, msg);
        ir_pb_free(m);
        return;
    }
    if (role && !(c->role = strdup(role))) {
        finish(c, NET_GRPC_UNAVAILABLE, "server out of memory");
        ir_pb_free(m);
        return;
    }
    if (!s->has_auth) {
        start_session(c, m);
        ir_pb_free(m);
        return;
    }
    const char *token = NULL;
    size_t tlen = 0;
    char tokbuf[4096];
    const char *t = xds_auth_bearer(c->authorization, &tlen);
    if (t && tlen < sizeof tokbuf) {
        memcpy(tokbuf, t, tlen);
        tokbuf[tlen] = '\0';
        token = tokbuf;
    }
    xds_auth_request_t ar = {c->authorization, token,         c->peer, req->node->id, role,
                             role ? gw : NULL, s->tls != NULL};
    xds_auth_pending_t *p = xds__auth_pending_new(auth_done, c);
    if (!p) {
        finish(c, NET_GRPC_UNAVAILABLE, "server out of memory");
        ir_pb_free(m);
        return;
    }
    char reason[256] = "";
    int rc = s->auth.cb(&ar, p, reason, sizeof reason, s->auth.ud);
    if (rc == XDS_AUTH_PENDING) {
        c->pending = p;
        c->held_req = m;
        net_grpc_call_set_recv_paused(c->call, true);
        return;
    }
    xds__auth_pending_drop(p);
    if (rc != 0) {
        s->stats.refused++;
        xds__log(XDS_LOG_WARN, "stream from %s (node \"%s\", role %s) refused: %s", c->peer,
                 req->node->id, role ? role : "(none)", reason);
        finish(c, rc, reason[0] ? reason : "not allowed");
    } else {
        start_session(c, m);
    }
    ir_pb_free(m);
}

/* ---- gRPC method callbacks ---- */

static xconn_t *conn_new(xds_server_t *s, net_grpc_call_t *call, int kind)
{
    xconn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = s;
    c->call = call;
    c->kind = kind;
    c->id = ++s->next_id;
    c->started_ms = uv_now(s->loop);
    snprintf(c->peer, sizeof c->peer, "%s", net_conn_peer(net_grpc_call_conn(call)));
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    net_grpc_call_set_user(call, c);
    return c;
}

static void delta_start(net_grpc_call_t *call, void *ud)
{
    xds_server_t *s = ud;
    if (s->closing) {
        net_grpc_call_finish(call, NET_GRPC_UNAVAILABLE, "server shutting down", NULL, 0);
        return;
    }
    xconn_t *c = conn_new(s, call, CONN_DELTA);
    if (!c) {
        net_grpc_call_finish(call, NET_GRPC_UNAVAILABLE, "server out of memory", NULL, 0);
        return;
    }
    const char *a = net_grpc_call_header(call, "authorization");
    if (a)
        c->authorization = strdup(a);
}

static void delta_message(net_grpc_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    xds_server_t *s = ud;
    xconn_t *c = net_grpc_call_user(call);
    if (!c || c->finished)
        return;
    c->requests++;
    s->stats.requests++;
    ProtobufCMessage *m = NULL;
    ir_err_t ie = {0};
    int rc = ir_pb_decode(&envoy__service__discovery__v3__delta_discovery_request__descriptor, msg,
                          len, &m, &ie);
    if (rc != IR_OK) {
        s->stats.decode_errors++;
        char text[320];
        snprintf(text, sizeof text, "DeltaDiscoveryRequest: %s", ie.msg);
        if (!c->session)
            s->stats.refused++;
        finish(c, rc == IR_ENOMEM ? NET_GRPC_UNAVAILABLE : NET_GRPC_INVALID_ARGUMENT, text);
        return;
    }
    if (!c->session) {
        if (c->pending) { /* cannot happen: input is paused while deciding */
            ir_pb_free(m);
            return;
        }
        first_request(c, m);
        return;
    }
    xds_err_t e = {0};
    rc = xds_session_recv(c->session,
                          (const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *)m, &e);
    ir_pb_free(m);
    if (rc != XDS_OK) {
        finish(c,
               rc == XDS_ENOMEM   ? NET_GRPC_UNAVAILABLE
               : rc == XDS_ELIMIT ? NET_GRPC_RESOURCE_EXHAUSTED
                                  : NET_GRPC_INVALID_ARGUMENT,
               e.msg);
        return;
    }
    pump(c);
}

static void delta_half_close(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    xconn_t *c = net_grpc_call_user(call);
    if (c)
        finish(c, NET_GRPC_OK, NULL);
}

static void delta_writable(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    xconn_t *c = net_grpc_call_user(call);
    if (c)
        pump(c);
}

static void conn_done(net_grpc_call_t *call, int status, void *ud)
{
    xds_server_t *s = ud;
    (void)status;
    xconn_t *c = net_grpc_call_user(call);
    if (!c)
        return;
    net_grpc_call_set_user(call, NULL);
    c->finished = true;
    c->call = NULL;
    conn_unlink(s, c);
    /* The session goes now: its names must stop being marked. */
    xds_session_free(c->session);
    c->session = NULL;
    if (c->queued)
        c->dead = true; /* the pump list still points at it */
    else
        conn_free(c);
}

static void sotw_start(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    net_grpc_call_finish(call, NET_GRPC_UNIMPLEMENTED,
                         "state-of-the-world ADS is not served: use DeltaAggregatedResources", NULL,
                         0);
}

static void plain_done(net_grpc_call_t *call, int status, void *ud)
{
    (void)call;
    (void)status;
    (void)ud;
}

static void check_message(net_grpc_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    xds_server_t *s = ud;
    char svc[256];
    if (net_grpc_call_finished(call))
        return;
    if (xds__health_parse(msg, len, svc, sizeof svc) != 0) {
        net_grpc_call_finish(call, NET_GRPC_INVALID_ARGUMENT, "malformed HealthCheckRequest", NULL,
                             0);
        return;
    }
    if (!known_service(svc)) {
        net_grpc_call_finish(call, NET_GRPC_NOT_FOUND, "unknown service", NULL, 0);
        return;
    }
    send_health(call, health_status(s));
    net_grpc_call_finish(call, NET_GRPC_OK, NULL, NULL, 0);
}

static void watch_start(net_grpc_call_t *call, void *ud)
{
    xds_server_t *s = ud;
    if (s->closing) {
        net_grpc_call_finish(call, NET_GRPC_UNAVAILABLE, "server shutting down", NULL, 0);
        return;
    }
    if (!conn_new(s, call, CONN_WATCH))
        net_grpc_call_finish(call, NET_GRPC_UNAVAILABLE, "server out of memory", NULL, 0);
}

static void watch_message(net_grpc_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    xds_server_t *s = ud;
    xconn_t *c = net_grpc_call_user(call);
    char svc[256];
    if (!c || c->finished || c->health_sent)
        return;
    if (xds__health_parse(msg, len, svc, sizeof svc) != 0) {
        finish(c, NET_GRPC_INVALID_ARGUMENT, "malformed HealthCheckRequest");
        return;
    }
    c->health_sent = known_service(svc) ? health_status(s) : HEALTH_UNKNOWN;
    send_health(call, c->health_sent);
}

/* ---------------------------------------------------------------------------------------------
 * Server
 * ------------------------------------------------------------------------------------------- */

void xds_server_config_default(xds_server_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = XDS_DEFAULT_LISTEN;
    c->max_response_bytes = 1024u * 1024u;
    c->max_subscriptions = 100000;
    c->max_request_bytes = NET_GRPC_DEFAULT_MAX_MESSAGE;
    c->max_connections = 1024;
    net_conn_config_default(&c->conn, true);
}

static void free_on_close(uv_handle_t *h)
{
    free(h->data);
}

static int net_to_xds(int rc)
{
    switch (rc) {
    case NET_ENOMEM:
        return XDS_ENOMEM;
    case NET_EADDR:
    case NET_EINVAL:
        return XDS_EINVAL;
    default:
        return XDS_EIO;
    }
}

xds_server_t *xds_server_new(uv_loop_t *loop, xds_store_t *store, const xds_server_config_t *cfg,
                             int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (!loop || !store) {
        *err = XDS_EINVAL;
        return NULL;
    }
    xds_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        *err = XDS_ENOMEM;
        return NULL;
    }
    if (cfg)
        s->cfg = *cfg;
    else
        xds_server_config_default(&s->cfg);
    if (!s->cfg.listen)
        s->cfg.listen = XDS_DEFAULT_LISTEN;
    snprintf(s->listen, sizeof s->listen, "%s", s->cfg.listen);
    s->cfg.listen = s->listen;
    s->loop = loop;
    s->store = store;
    if (s->cfg.auth) {
        s->auth = *s->cfg.auth;
        s->has_auth = s->auth.cb != NULL;
        s->cfg.auth = NULL;
    }
    const net_grpc_method_t methods[] = {
        {XDS_DELTA_PATH, delta_start, delta_message, delta_half_close, delta_writable, conn_done,
         s},
        {XDS_SOTW_PATH, sotw_start, NULL, NULL, NULL, plain_done, s},
        {XDS_HEALTH_CHECK_PATH, NULL, check_message, NULL, NULL, plain_done, s},
        {XDS_HEALTH_WATCH_PATH, watch_start, watch_message, NULL, NULL, conn_done, s},
    };
    net_grpc_server_config_t gc;
    net_grpc_server_config_default(&gc);
    gc.server.listen = s->cfg.listen;
    gc.server.tls = s->cfg.tls;
    gc.server.conn = s->cfg.conn;
    if (s->cfg.max_connections)
        gc.server.max_connections = s->cfg.max_connections;
    if (s->cfg.max_request_bytes)
        gc.max_recv_message = s->cfg.max_request_bytes;
    /* A response holds at most max_response_bytes of resources plus their envelopes, or one
     * resource larger than that: allow up to the client's default receive limit (16 MiB). */
    gc.max_send_message = s->cfg.max_response_bytes * 2 + 65536;
    if (gc.max_send_message < 16u * 1024u * 1024u)
        gc.max_send_message = 16u * 1024u * 1024u;
    gc.methods = methods;
    gc.nmethods = sizeof methods / sizeof methods[0];
    if (xds_store_on_change(store, store_changed, s) != XDS_OK) {
        free(s);
        *err = XDS_ENOMEM;
        return NULL;
    }
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    int nerr = 0;
    s->grpc = net_grpc_server_new(loop, &gc, &nerr);
    if (!s->grpc) {
        *err = net_to_xds(nerr);
        xds__log(XDS_LOG_ERROR, "xds server on %s: %s", s->cfg.listen, net_strerror(nerr));
        xds_store_off_change(store, store_changed, s);
        uv_close((uv_handle_t *)&s->idle, free_on_close);
        return NULL;
    }
    if (s->cfg.tls)
        s->tls = net_tls_ctx_retain(s->cfg.tls);
    xds__log(XDS_LOG_INFO, "xds server listening on port %d (%s)", net_grpc_server_port(s->grpc),
             s->tls ? "TLS" : "plaintext");
    return s;
}

int xds_server_port(const xds_server_t *s)
{
    return net_grpc_server_port(s->grpc);
}

static void maybe_free(xds_server_t *s)
{
    if (--s->closes_pending > 0)
        return;
    void (*cb)(void *) = s->on_closed;
    void *ud = s->closed_ud;
    net_tls_ctx_release(s->tls);
    if (s->has_auth)
        xds_auth_dispose(&s->auth);
    free(s);
    if (cb)
        cb(ud);
}

static void idle_closed(uv_handle_t *h)
{
    maybe_free(h->data);
}

static void grpc_closed(net_grpc_server_t *g, void *ud)
{
    (void)g;
    xds_server_t *s = ud;
    /* every call is done: conn_done freed the streams; drain a pump list left behind */
    while (s->pump) {
        xconn_t *c = s->pump;
        s->pump = c->pump_next;
        if (c->dead)
            conn_free(c);
        else
            c->queued = false;
    }
    maybe_free(s);
}

void xds_server_close(xds_server_t *s, void (*on_closed)(void *ud), void *ud)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    s->on_closed = on_closed;
    s->closed_ud = ud;
    s->closes_pending = 2;
    xds_store_off_change(s->store, store_changed, s);
    uv_idle_stop(&s->idle);
    s->idle_on = false;
    for (xconn_t *c = s->conns; c; c = c->next)
        finish(c, NET_GRPC_UNAVAILABLE, "server shutting down");
    uv_close((uv_handle_t *)&s->idle, idle_closed);
    net_grpc_server_close(s->grpc, true, grpc_closed, s);
}

void xds_server_stats(const xds_server_t *s, xds_server_stats_t *out)
{
    *out = s->stats;
    out->streams = 0;
    for (const xconn_t *c = s->conns; c; c = c->next)
        if (c->kind == CONN_DELTA && c->session)
            out->streams++;
}

json_t *xds_server_debug(const xds_server_t *s)
{
    xds_server_stats_t st;
    xds_server_stats(s, &st);
    json_t *conns = json_array();
    json_t *j = json_object();
    if (!conns || !j) {
        json_decref(conns);
        json_decref(j);
        return NULL;
    }
    uint64_t now = uv_now(s->loop);
    for (const xconn_t *c = s->conns; c; c = c->next) {
        if (c->kind != CONN_DELTA)
            continue;
        json_t *cj = json_pack(
            "{s:I,s:s,s:s?,s:s?,s:s?,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "id", (json_int_t)c->id, "peer",
            c->peer, "node", c->session ? xds_session_node_id(c->session) : NULL, "role", c->role,
            "gateway", c->session ? xds_session_gateway(c->session) : NULL, "age_ms",
            (json_int_t)(now - c->started_ms), "requests", (json_int_t)c->requests, "responses",
            (json_int_t)c->responses, "bytes_sent", (json_int_t)c->bytes_sent, "held_bytes",
            (json_int_t)(c->held ? c->held_len : 0), "queued_bytes",
            (json_int_t)(c->call ? net_grpc_call_queued(c->call) : 0), "authenticating",
            c->pending != NULL);
        if (cj && c->session)
            json_object_set_new(cj, "session", xds_session_debug(c->session));
        if (cj && c->nack_ms)
            json_object_set_new(cj, "last_nack_age_ms",
                                json_integer((json_int_t)(now - c->nack_ms)));
        json_array_append_new(conns, cj);
    }
    json_object_set_new(j, "listen", json_string(s->cfg.listen));
    json_object_set_new(j, "port", json_integer(xds_server_port(s)));
    json_object_set_new(j, "tls", json_boolean(s->tls != NULL));
    json_object_set_new(j, "auth", json_boolean(s->has_auth));
    json_object_set_new(j, "ready", json_boolean(xds_store_ready(s->store)));
    json_object_set_new(j, "stats",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "streams_total",
                                  (json_int_t)st.streams_total, "streams", (json_int_t)st.streams,
                                  "refused", (json_int_t)st.refused, "requests",
                                  (json_int_t)st.requests, "responses", (json_int_t)st.responses,
                                  "bytes_sent", (json_int_t)st.bytes_sent, "resources_sent",
                                  (json_int_t)st.resources_sent, "nacks", (json_int_t)st.nacks,
                                  "decode_errors", (json_int_t)st.decode_errors, "max_held_bytes",
                                  (json_int_t)st.max_held_bytes, "max_queued_bytes",
                                  (json_int_t)st.max_queued_bytes));
    json_object_set_new(j, "store", xds_store_debug(s->store));
    json_object_set_new(j, "connections", conns);
    return j;
}

char *xds_server_debug_json(const xds_server_t *s)
{
    json_t *j = xds_server_debug(s);
    if (!j)
        return NULL;
    char *out = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    return out;
}
