/*
 * TCP for the adapter: numeric address parsing and formatting, the listening server (accept, the
 * connection list, graceful or immediate close of everything) and the client's resolve + connect.
 * Once a socket is connected, conn.c takes over.
 *
 * Listen addresses are numeric on purpose: a control plane binding to whatever a name resolves to
 * at start-up is a surprise; clients may use names (uv_getaddrinfo, on libuv's thread pool).
 */
#include "conn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_addr_parse(const char *hostport, struct sockaddr_storage *out)
{
    if (!hostport)
        return NET_EADDR;
    char host[64];
    const char *port;
    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');
        if (!end || end[1] != ':' || (size_t)(end - hostport - 1) >= sizeof host)
            return NET_EADDR;
        memcpy(host, hostport + 1, (size_t)(end - hostport - 1));
        host[end - hostport - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(hostport, ':');
        if (!colon || (size_t)(colon - hostport) >= sizeof host || strchr(hostport, ':') != colon)
            return NET_EADDR;
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = '\0';
        port = colon + 1;
    }
    char *endp;
    if (!*port)
        return NET_EADDR;
    long p = strtol(port, &endp, 10);
    if (*endp || p < 0 || p > 65535)
        return NET_EADDR;
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)out) == 0)
        return NET_OK;
    if (uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)out) == 0)
        return NET_OK;
    return NET_EADDR;
}

void net_addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
    char ip[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(buf, cap, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(buf, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(buf, cap, "(unknown)");
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Server */

void net_server_config_default(net_server_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = "127.0.0.1:0";
    net_conn_config_default(&c->conn, true);
    c->max_connections = 1024;
    c->backlog = 128;
}

static void server_maybe_finish(net_server_t *s)
{
    if (!s->closing || s->listener_open || s->conns)
        return;
    if (s->on_closed)
        s->on_closed(s, s->closed_ud);
    net_tls_ctx_release(s->cfg.tls);
    free(s->listen);
    free(s);
}

static void listener_closed(uv_handle_t *h)
{
    net_server_t *s = h->data;
    s->listener_open = false;
    server_maybe_finish(s);
}

void net__server_conn_gone(net_server_t *s, net_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    server_maybe_finish(s);
}

static void server_conn_open(net_conn_t *c, int status, void *ud)
{
    net_server_t *s = c->server;
    (void)ud;
    if (s->cfg.on_conn_open)
        s->cfg.on_conn_open(c, status, s->cfg.ud);
}

static void server_conn_close(net_conn_t *c, int status, void *ud)
{
    net_server_t *s = c->server;
    (void)ud;
    if (s->cfg.on_conn_close)
        s->cfg.on_conn_close(c, status, s->cfg.ud);
}

static void on_connection(uv_stream_t *listener, int status)
{
    net_server_t *s = listener->data;
    if (status < 0) {
        net__log(NET_LOG_WARN, "server %s: accept: %s", s->listen, uv_strerror(status));
        return;
    }
    int err;
    s->counters.accepted++;
    net_conn_t *c = net__conn_new(s->loop, true, &s->cfg.conn, s->cfg.tls, NULL, &s->cfg.cb,
                                  s->cfg.ud, server_conn_open, server_conn_close, &err);
    if (!c) {
        net__log(NET_LOG_ERROR, "server %s: cannot allocate a connection", s->listen);
        return;
    }
    c->server = s;
    if (s->cfg.raw.on_read) {
        c->raw_enabled = true;
        c->rcb = s->cfg.raw;
        c->rud = s->cfg.ud;
        c->raw_only = s->cfg.raw_only;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    net__conn_enter(c);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        net__conn_abort(c, NET_EIO);
    } else if (s->nconns > s->cfg.max_connections || s->closing) {
        net__log(NET_LOG_WARN, "server %s: over %zu connections: refusing one", s->listen,
                 s->cfg.max_connections);
        net__conn_abort(c, NET_ELIMIT);
    } else {
        net__conn_start(c);
    }
    net__conn_leave(c);
}

net_server_t *net_server_new(uv_loop_t *loop, const net_server_config_t *cfg, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    struct sockaddr_storage ss;
    if (net_addr_parse(cfg->listen, &ss) != NET_OK) {
        net__log(NET_LOG_ERROR, "server: bad listen address '%s' (want IP:PORT or [IPv6]:PORT)",
                 cfg->listen ? cfg->listen : "(null)");
        *err = NET_EADDR;
        return NULL;
    }
    net_server_t *s = calloc(1, sizeof *s);
    if (!s || !(s->listen = strdup(cfg->listen))) {
        free(s);
        *err = NET_ENOMEM;
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->cfg.listen = s->listen;
    if (!s->cfg.max_connections)
        s->cfg.max_connections = 1024;
    if (s->cfg.backlog <= 0)
        s->cfg.backlog = 128;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = true;
    int rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&s->listener, s->cfg.backlog, on_connection);
    if (rv != 0) {
        net__log(NET_LOG_ERROR, "server %s: cannot listen: %s", s->listen, uv_strerror(rv));
        /* The handle must still be closed through the loop; free in its callback. */
        s->closing = true;
        uv_close((uv_handle_t *)&s->listener, listener_closed);
        *err = NET_EIO;
        return NULL;
    }
    net_tls_ctx_retain(s->cfg.tls);
    *err = NET_OK;
    return s;
}

int net_server_port(const net_server_t *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

size_t net_server_connections(const net_server_t *s)
{
    return s->nconns;
}

void net_server_set_conn_config(net_server_t *s, const net_conn_config_t *cfg)
{
    s->cfg.conn = *cfg;
}

int net_server_set_tls(net_server_t *s, net_tls_ctx_t *tls)
{
    if (!tls != !s->cfg.tls)
        return NET_EINVAL;
    net_tls_ctx_retain(tls);
    net_tls_ctx_release(s->cfg.tls);
    s->cfg.tls = tls;
    return NET_OK;
}

void net_server_counters(const net_server_t *s, net_server_counters_t *out)
{
    *out = s->counters;
}

void net_server_close(net_server_t *s, bool graceful, void (*on_closed)(net_server_t *, void *),
                      void *ud)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_graceful = graceful;
    s->on_closed = on_closed;
    s->closed_ud = ud;
    uv_close((uv_handle_t *)&s->listener, listener_closed);
    /* Closing a connection may unlink it at once: walk a snapshot of the next pointers. */
    net_conn_t *c = s->conns;
    while (c) {
        net_conn_t *next = c->next;
        net_conn_close(c, graceful);
        c = next;
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Client */

void net_client_config_default(net_client_config_t *c)
{
    memset(c, 0, sizeof *c);
    net_conn_config_default(&c->conn, false);
}

static void connect_cb(uv_connect_t *req, int status)
{
    net_conn_t *c = req->data;
    c->reqs_pending--;
    net__conn_enter(c);
    if (c->closing) {
        /* cancelled by a close */
    } else if (status < 0) {
        net__log(NET_LOG_INFO, "client %s:%u: connect: %s", c->host, c->port, uv_strerror(status));
        net__conn_abort(c, NET_EIO);
    } else {
        net__conn_start(c);
    }
    net__conn_leave(c);
    net__conn_maybe_free(c);
}

static void start_connect(net_conn_t *c, const struct sockaddr *sa)
{
    c->connect_req.data = c;
    int rv = uv_tcp_connect(&c->connect_req, &c->tcp, sa, connect_cb);
    if (rv < 0) {
        net__log(NET_LOG_INFO, "client %s:%u: connect: %s", c->host, c->port, uv_strerror(rv));
        net__conn_abort(c, NET_EIO);
        return;
    }
    c->reqs_pending++;
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    net_conn_t *c = req->data;
    c->reqs_pending--;
    c->gai_active = false;
    net__conn_enter(c);
    if (c->closing) {
        /* cancelled */
    } else if (status < 0 || !res) {
        net__log(NET_LOG_INFO, "client: cannot resolve %s: %s", c->host, uv_strerror(status));
        net__conn_abort(c, NET_EADDR);
    } else {
        start_connect(c, res->ai_addr);
    }
    uv_freeaddrinfo(res);
    net__conn_leave(c);
    net__conn_maybe_free(c);
}

net_conn_t *net_client_connect(uv_loop_t *loop, const net_client_config_t *cfg, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (!cfg->host || !*cfg->host) {
        *err = NET_EADDR;
        return NULL;
    }
    const char *name = cfg->server_name ? cfg->server_name : cfg->host;
    net_conn_t *c = net__conn_new(loop, false, &cfg->conn, cfg->tls, name, &cfg->cb, cfg->ud,
                                  cfg->on_connect, cfg->on_close, err);
    if (!c)
        return NULL;
    c->host = strdup(cfg->host);
    c->port = cfg->port;
    if (cfg->raw.on_read) {
        c->raw_enabled = true;
        c->rcb = cfg->raw;
        c->rud = cfg->ud;
    }
    snprintf(c->peer, sizeof c->peer, "%s:%u", cfg->host, cfg->port);
    if (!c->host) {
        *err = NET_ENOMEM;
        c->close_reason = NET_ENOMEM;
        c->on_open = c->on_close = NULL; /* failed creation: no callbacks */
        net__conn_abort(c, NET_ENOMEM);
        return NULL;
    }
    net__conn_enter(c);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&ss) == 0) {
        start_connect(c, (struct sockaddr *)&ss);
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        char port[8];
        snprintf(port, sizeof port, "%u", cfg->port);
        c->gai.data = c;
        int rv = uv_getaddrinfo(loop, &c->gai, gai_cb, cfg->host, port, &hints);
        if (rv < 0) {
            net__log(NET_LOG_INFO, "client: cannot resolve %s: %s", cfg->host, uv_strerror(rv));
            net__conn_abort(c, NET_EADDR);
        } else {
            c->reqs_pending++;
            c->gai_active = true;
        }
    }
    net__conn_leave(c);
    *err = NET_OK;
    return c;
}
