/*
 * The delta xDS client (xds/client.h) on net/'s gRPC client.
 *
 * Key decision: the client's only durable state is what it holds (name → version per type); a
 * connection and its stream are disposable. Any failure — connect error, stream status, decode
 * error of the server's bytes, connection loss — closes the connection and schedules a reconnect,
 * and the new stream declares what is held in initial_resource_versions. There is no attempt to
 * resume a half-dead stream: the server's session is per stream anyway.
 *
 * Output is bounded: requests refused by net/ (ACKs while the stream's queue is full) wait in a
 * FIFO, and while it is not empty response delivery is paused, so the server cannot make us hold
 * more than one ACK per response it got through.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/struct.pb-c.h"
#include "ir/pb.h"
#include "ir/resource.h"
#include "net/grpc_client.h"
#include "xds/client.h"
#include "xds/server.h"
#include "xds_internal.h"

typedef struct outq {
    uint8_t *buf;
    size_t len;
    struct outq *next;
} outq_t;

struct xds_client {
    uv_loop_t *loop;
    xds_client_config_t cfg;
    char *host, *server_name, *node_id, *role, *token, *token_file;
    char gateway[256];
    bool scoped;
    net_tls_ctx_t *tls;
    net_conn_t *conn;
    net_grpc_client_call_t *call;
    uv_timer_t timer;
    int state;
    bool closing;
    bool healthy; /* a response was accepted on the current stream */
    int handles;  /* libuv handles and connections still to close before freeing */
    void (*on_closed)(void *ud);
    void *closed_ud;
    xds__map_t held[XDS_TYPE_COUNT]; /* name → version (char *, krt_malloc) */
    outq_t *q_head, *q_tail;
    uint64_t rng;
    int last_status;
    char last_message[256];
    xds_client_stats_t stats;
};

static void version_free(uintptr_t v)
{
    krt_free((void *)v);
}

uint64_t xds_backoff_delay(uint64_t initial_ms, uint64_t max_ms, unsigned attempt, double jitter)
{
    if (initial_ms == 0)
        initial_ms = 1;
    if (max_ms < initial_ms)
        max_ms = initial_ms;
    uint64_t base = initial_ms;
    for (unsigned i = 0; i < attempt && base < max_ms; i++)
        base *= 2;
    if (base > max_ms)
        base = max_ms;
    if (jitter < 0)
        jitter = 0;
    if (jitter > 1)
        jitter = 1;
    return base / 2 + (uint64_t)(jitter * (double)(base - base / 2));
}

static double default_jitter(void *ud)
{
    xds_client_t *c = ud;
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (double)(c->rng >> 11) / (double)(1ull << 53);
}

void xds_client_config_default(xds_client_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->address = true;
    c->resource = true;
    c->backoff_initial_ms = 250;
    c->backoff_max_ms = 30000;
    c->max_response_bytes = 16u * 1024u * 1024u;
    net_conn_config_default(&c->conn, false);
}

static void set_state(xds_client_t *c, int state, int status, const char *msg)
{
    c->state = state;
    if (c->cfg.on_state && !c->closing)
        c->cfg.on_state(c, state, status, msg ? msg : "", c->cfg.ud);
}

/* ---------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------- */

static void outq_clear(xds_client_t *c)
{
    while (c->q_head) {
        outq_t *q = c->q_head;
        c->q_head = q->next;
        free(q->buf);
        free(q);
    }
    c->q_tail = NULL;
}

static void flush_queue(xds_client_t *c)
{
    while (c->q_head && c->call) {
        int rc = net_grpc_client_call_send(c->call, c->q_head->buf, c->q_head->len);
        if (rc == NET_EAGAIN)
            return;
        outq_t *q = c->q_head;
        c->q_head = q->next;
        if (!c->q_head)
            c->q_tail = NULL;
        free(q->buf);
        free(q);
        if (rc != NET_OK)
            return; /* the call is ending: on_status follows */
    }
    if (c->call)
        net_grpc_client_call_set_recv_paused(c->call, false);
}

static void send_request(xds_client_t *c,
                         const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req)
{
    if (!c->call)
        return;
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        net_grpc_client_call_cancel(c->call);
        return;
    }
    protobuf_c_message_pack(&req->base, buf);
    if (!c->q_head) {
        int rc = net_grpc_client_call_send(c->call, buf, len);
        if (rc != NET_EAGAIN) {
            free(buf);
            return;
        }
    }
    outq_t *q = malloc(sizeof *q);
    if (!q) {
        free(buf);
        net_grpc_client_call_cancel(c->call);
        return;
    }
    *q = (outq_t){buf, len, NULL};
    if (c->q_tail)
        c->q_tail->next = q;
    else
        c->q_head = q;
    c->q_tail = q;
    net_grpc_client_call_set_recv_paused(c->call, true);
}

typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry irv_t;

static int cmp_irv(const void *a, const void *b)
{
    return strcmp((*(irv_t *const *)a)->key, (*(irv_t *const *)b)->key);
}

static void send_initial(xds_client_t *c, xds_type_t t, bool with_node)
{
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest req =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Google__Protobuf__Struct md = GOOGLE__PROTOBUF__STRUCT__INIT;
    Google__Protobuf__Struct__FieldsEntry fe = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    Google__Protobuf__Struct__FieldsEntry *fep[1] = {&fe};
    Google__Protobuf__Value val = GOOGLE__PROTOBUF__VALUE__INIT;
    if (with_node) {
        node.id = c->node_id;
        node.user_agent_name = "krtgate";
        if (c->role) {
            fe.key = "role";
            val.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
            val.string_value = c->role;
            fe.value = &val;
            md.fields = fep;
            md.n_fields = 1;
            node.metadata = &md;
        }
        req.node = &node;
    }
    req.type_url = (char *)xds_type_url(t);
    const xds__map_t *h = &c->held[t];
    irv_t *entries = h->len ? calloc(h->len, sizeof *entries) : NULL;
    irv_t **ptrs = h->len ? calloc(h->len, sizeof *ptrs) : NULL;
    if (h->len && (!entries || !ptrs)) {
        free(entries);
        free(ptrs);
        if (c->call)
            net_grpc_client_call_cancel(c->call);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < h->cap; i++) {
        if (!h->slots[i].name)
            continue;
        envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__init(
            &entries[n]);
        entries[n].key = h->slots[i].name->str;
        entries[n].value = (char *)h->slots[i].val;
        ptrs[n] = &entries[n];
        n++;
    }
    if (n > 1)
        qsort(ptrs, n, sizeof *ptrs, cmp_irv);
    req.n_initial_resource_versions = n;
    req.initial_resource_versions = ptrs;
    send_request(c, &req);
    free(entries);
    free(ptrs);
}

static void send_ack(xds_client_t *c, const char *type_url, const char *nonce, const char *nack)
{
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest req =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    req.type_url = (char *)type_url;
    req.response_nonce = (char *)nonce;
    if (nack) {
        st.code = 13; /* INTERNAL, as Envoy */
        st.message = (char *)nack;
        req.error_detail = &st;
    }
    send_request(c, &req);
}

/* ---------------------------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------------------------- */

static bool dup_names(const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m, char *why,
                      size_t cap)
{
    xds__map_t seen;
    xds__map_init(&seen);
    bool dup = false;
    size_t total = m->n_resources + m->n_removed_resources;
    for (size_t i = 0; i < total && !dup; i++) {
        const char *name =
            i < m->n_resources ? m->resources[i]->name : m->removed_resources[i - m->n_resources];
        if (!name)
            name = "";
        xds__name_t *n = xds__name_new(name, strlen(name));
        if (!n)
            break;
        if (xds__map_put(&seen, n, 0, NULL) == 0) {
            dup = true;
            snprintf(why, cap, "resource \"%s\" appears twice in the response", name);
        }
        xds__name_release(n);
    }
    xds__map_dispose(&seen, NULL);
    return dup;
}

static void apply_held(xds_client_t *c, xds_type_t t,
                       const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m)
{
    xds__map_t *h = &c->held[t];
    for (size_t i = 0; i < m->n_resources; i++) {
        const char *name = m->resources[i]->name;
        xds__name_t *n = xds__name_new(name, strlen(name));
        char *v = krt_strdup(m->resources[i]->version ? m->resources[i]->version : "");
        xds__slot_t *sl;
        if (n && v && xds__map_put(h, n, (uintptr_t)v, &sl) >= 0) {
            if ((char *)sl->val != v) {
                krt_free((void *)sl->val);
                sl->val = (uintptr_t)v;
            }
        } else {
            krt_free(v); /* out of memory: the name is not declared on reconnect and comes again */
        }
        xds__name_release(n);
    }
    for (size_t i = 0; i < m->n_removed_resources; i++) {
        const char *name = m->removed_resources[i];
        uintptr_t v;
        if (xds__map_del(h, name, strlen(name), xds__hash(name, strlen(name)), &v))
            krt_free((void *)v);
    }
}

static void on_response(net_grpc_client_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    (void)call;
    xds_client_t *c = ud;
    if (c->closing)
        return;
    c->stats.responses++;
    ProtobufCMessage *pm = NULL;
    ir_err_t ie = {0};
    if (ir_pb_decode(&envoy__service__discovery__v3__delta_discovery_response__descriptor, msg, len,
                     &pm, &ie) != IR_OK) {
        xds__log(XDS_LOG_WARN, "xds client: undecodable response from %s:%u: %s", c->host,
                 c->cfg.port, ie.msg);
        net_grpc_client_call_cancel(c->call); /* no nonce to NACK: start over */
        return;
    }
    const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m = (const void *)pm;
    char reason[1024] = "";
    int ti = xds_type_from_url(m->type_url);
    const ir_obj_t **objs = NULL;
    size_t nobj = 0;
    bool reject = false;
    if (ti < 0 || (ti == XDS_TYPE_ADDRESS && !c->cfg.address) ||
        (ti == XDS_TYPE_RESOURCE && !c->cfg.resource)) {
        snprintf(reason, sizeof reason, "type URL \"%s\" was not subscribed", m->type_url);
        reject = true;
    } else if (dup_names(m, reason, sizeof reason)) {
        reject = true;
    } else {
        objs = m->n_resources ? calloc(m->n_resources, sizeof *objs) : NULL;
        if (m->n_resources && !objs) {
            snprintf(reason, sizeof reason, "client out of memory");
            reject = true;
        }
        for (size_t i = 0; i < m->n_resources && !reject; i++) {
            ir_err_t e = {0};
            const char *gw = ti == XDS_TYPE_RESOURCE && c->scoped ? c->gateway : NULL;
            if (ir_obj_from_discovery(m->resources[i], m->type_url, gw, &objs[nobj], &e) != IR_OK) {
                snprintf(reason, sizeof reason, "%s", e.msg);
                reject = true;
            } else {
                nobj++;
            }
        }
    }
    if (!reject) {
        xds_update_t u = {(xds_type_t)ti,
                          m->nonce,
                          m->system_version_info,
                          (const ir_obj_t *const *)objs,
                          nobj,
                          (const char *const *)m->removed_resources,
                          m->n_removed_resources};
        if (c->cfg.on_update(c, &u, reason, sizeof reason, c->cfg.ud) != 0) {
            reject = true;
            if (!reason[0])
                snprintf(reason, sizeof reason, "rejected by the consumer");
        }
    }
    for (size_t i = 0; i < nobj; i++)
        ir_obj_release(objs[i]);
    free(objs);
    if (c->closing || !c->call) {
        ir_pb_free(pm);
        return;
    }
    if (reject) {
        c->stats.nacks++;
        xds__log(XDS_LOG_WARN, "xds client: NACK %s nonce %s: %s", m->type_url, m->nonce, reason);
        send_ack(c, m->type_url, m->nonce, reason);
    } else {
        apply_held(c, (xds_type_t)ti, m);
        c->stats.acks++;
        c->stats.resources += m->n_resources;
        c->stats.removals += m->n_removed_resources;
        c->healthy = true;
        c->stats.attempt = 0;
        send_ack(c, m->type_url, m->nonce, NULL);
    }
    ir_pb_free(pm);
}

static void on_writable(net_grpc_client_call_t *call, void *ud)
{
    (void)call;
    flush_queue(ud);
}

static void on_status(net_grpc_client_call_t *call, int status, const char *message,
                      const net_h2_header_t *trailers, size_t n, void *ud)
{
    (void)call;
    (void)trailers;
    (void)n;
    xds_client_t *c = ud;
    c->call = NULL;
    outq_clear(c);
    c->last_status = status;
    snprintf(c->last_message, sizeof c->last_message, "%s", message ? message : "");
    if (!c->closing)
        xds__log(status == 14 ? XDS_LOG_INFO : XDS_LOG_WARN,
                 "xds client: stream to %s:%u ended: %s: %s", c->host, c->cfg.port,
                 net_grpc_status_name(status), c->last_message);
    if (c->conn)
        net_conn_close(c->conn, false); /* reconnect from on_close */
}

static const net_grpc_client_callbacks_t call_cb = {
    .on_message = on_response,
    .on_writable = on_writable,
    .on_status = on_status,
};

/* ---------------------------------------------------------------------------------------------
 * Connection and backoff
 * ------------------------------------------------------------------------------------------- */

static void connect_now(xds_client_t *c);

static void timer_cb(uv_timer_t *t)
{
    xds_client_t *c = t->data;
    if (!c->closing)
        connect_now(c);
}

static void schedule_reconnect(xds_client_t *c)
{
    double j = c->cfg.jitter ? c->cfg.jitter(c->cfg.jitter_ud) : default_jitter(c);
    uint64_t d =
        xds_backoff_delay(c->cfg.backoff_initial_ms, c->cfg.backoff_max_ms, c->stats.attempt, j);
    c->stats.attempt++;
    c->stats.last_delay_ms = d;
    set_state(c, XDS_CLIENT_BACKOFF, c->last_status, c->last_message);
    uv_timer_start(&c->timer, timer_cb, d, 0);
}

static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return strdup(buf);
}

static void conn_opened(net_conn_t *conn, int status, void *ud)
{
    xds_client_t *c = ud;
    if (status != NET_OK || c->closing)
        return; /* on_close follows */
    char auth[16400];
    net_h2_header_t md[1];
    size_t nmd = 0;
    char *file_token = c->token_file ? read_token_file(c->token_file) : NULL;
    const char *tok = file_token ? file_token : c->token;
    if (c->token_file && !file_token)
        xds__log(XDS_LOG_WARN, "xds client: cannot read token file %s", c->token_file);
    if (tok && *tok) {
        snprintf(auth, sizeof auth, "Bearer %s", tok);
        md[0] = NET_H2_HDR("authorization", auth);
        nmd = 1;
    }
    net_grpc_client_call_config_t cc = {
        .path = XDS_DELTA_PATH,
        .authority = c->server_name ? c->server_name : c->host,
        .metadata = md,
        .nmetadata = nmd,
        .max_recv_message = c->cfg.max_response_bytes,
    };
    int rc = net_grpc_client_call_start(conn, &cc, &call_cb, c, &c->call);
    free(file_token);
    if (rc != NET_OK) {
        c->call = NULL;
        net_conn_close(conn, false);
        return;
    }
    c->stats.streams++;
    c->healthy = false;
    if (c->cfg.address)
        send_initial(c, XDS_TYPE_ADDRESS, true);
    if (c->cfg.resource)
        send_initial(c, XDS_TYPE_RESOURCE, !c->cfg.address);
    set_state(c, XDS_CLIENT_STREAMING, 0, NULL);
}

static void maybe_free(xds_client_t *c)
{
    if (--c->handles > 0)
        return;
    void (*cb)(void *) = c->on_closed;
    void *ud = c->closed_ud;
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        xds__map_dispose(&c->held[t], version_free);
    outq_clear(c);
    net_tls_ctx_release(c->tls);
    free(c->host);
    free(c->server_name);
    free(c->node_id);
    free(c->role);
    free(c->token);
    free(c->token_file);
    free(c);
    if (cb)
        cb(ud);
}

static void conn_closed(net_conn_t *conn, int status, void *ud)
{
    (void)conn;
    xds_client_t *c = ud;
    c->conn = NULL;
    c->call = NULL;
    outq_clear(c); /* requests of the dead stream never go to the next one */
    if (c->closing) {
        maybe_free(c);
        return;
    }
    c->handles--; /* the connection's share */
    if (c->last_status < 0 && status != NET_OK)
        snprintf(c->last_message, sizeof c->last_message, "%s", net_strerror(status));
    schedule_reconnect(c);
}

static void connect_now(xds_client_t *c)
{
    net_client_config_t nc;
    net_client_config_default(&nc);
    nc.host = c->host;
    nc.port = c->cfg.port;
    nc.tls = c->tls;
    nc.server_name = c->server_name;
    nc.conn = c->cfg.conn;
    nc.cb = net_grpc_client_h2_callbacks;
    nc.ud = c;
    nc.on_connect = conn_opened;
    nc.on_close = conn_closed;
    c->stats.connects++;
    c->last_status = -1;
    c->last_message[0] = '\0';
    set_state(c, XDS_CLIENT_CONNECTING, 0, NULL);
    int err = 0;
    c->conn = net_client_connect(c->loop, &nc, &err);
    if (!c->conn) {
        snprintf(c->last_message, sizeof c->last_message, "%s", net_strerror(err));
        schedule_reconnect(c);
        return;
    }
    c->handles++;
}

xds_client_t *xds_client_new(uv_loop_t *loop, const xds_client_config_t *cfg, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (!loop || !cfg || !cfg->host || !cfg->port || !cfg->node_id || !*cfg->node_id ||
        !cfg->on_update) {
        *err = XDS_EINVAL;
        return NULL;
    }
    xds_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        *err = XDS_ENOMEM;
        return NULL;
    }
    c->cfg = *cfg;
    if (!c->cfg.backoff_initial_ms)
        c->cfg.backoff_initial_ms = 250;
    if (!c->cfg.backoff_max_ms)
        c->cfg.backoff_max_ms = 30000;
    if (!c->cfg.max_response_bytes)
        c->cfg.max_response_bytes = 16u * 1024u * 1024u;
    if (cfg->role) {
        int rc = xds_role_to_gateway(cfg->role, c->gateway, sizeof c->gateway);
        if (rc != XDS_OK) {
            free(c);
            *err = XDS_EINVAL;
            return NULL;
        }
        c->scoped = true;
    }
    c->loop = loop;
    c->host = strdup(cfg->host);
    c->server_name = cfg->server_name ? strdup(cfg->server_name) : NULL;
    c->node_id = strdup(cfg->node_id);
    c->role = cfg->role ? strdup(cfg->role) : NULL;
    c->token = cfg->token ? strdup(cfg->token) : NULL;
    c->token_file = cfg->token_file ? strdup(cfg->token_file) : NULL;
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        xds__map_init(&c->held[t]);
    if (!c->host || !c->node_id || (cfg->server_name && !c->server_name) ||
        (cfg->role && !c->role) || (cfg->token && !c->token) ||
        (cfg->token_file && !c->token_file)) {
        c->handles = 1;
        maybe_free(c);
        *err = XDS_ENOMEM;
        return NULL;
    }
    c->rng = uv_hrtime() | 1;
    if (cfg->tls)
        c->tls = net_tls_ctx_retain(cfg->tls);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles = 1; /* the timer */
    connect_now(c);
    return c;
}

static void timer_closed(uv_handle_t *h)
{
    maybe_free(h->data);
}

void xds_client_close(xds_client_t *c, void (*on_closed)(void *ud), void *ud)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->on_closed = on_closed;
    c->closed_ud = ud;
    c->state = XDS_CLIENT_CLOSED;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
    if (c->conn)
        net_conn_close(c->conn, false); /* the call gets on_status(CANCELLED), then on_close */
}

void xds_client_stats(const xds_client_t *c, xds_client_stats_t *out)
{
    *out = c->stats;
}

int xds_client_state(const xds_client_t *c)
{
    return c->state;
}

size_t xds_client_held(const xds_client_t *c, xds_type_t t)
{
    return (unsigned)t < XDS_TYPE_COUNT ? c->held[t].len : 0;
}

const char *xds_client_held_version(const xds_client_t *c, xds_type_t t, const char *name)
{
    if ((unsigned)t >= XDS_TYPE_COUNT || !name)
        return NULL;
    size_t len = strlen(name);
    xds__slot_t *sl = xds__map_find(&c->held[t], name, len, xds__hash(name, len));
    return sl ? (const char *)sl->val : NULL;
}
