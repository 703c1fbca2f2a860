/*
 * The echo upstream of the proxy tests, written on net/: an HTTP/1.1 server that answers every
 * request with a JSON summary of what reached it ({"method", "path", "host", "headers": {name:
 * [values]}, "body_len", "server"}), so a test sees through curl what the proxy forwarded. A
 * path /status/N answers status N; /sneaky-close announces keep-alive and closes anyway. The
 * response carries x-resp-remove: gone, for response header modifiers to remove.
 */
#ifndef PROXY_TEST_ECHO_RIG_H
#define PROXY_TEST_ECHO_RIG_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_rig.h"
#include "net/conn.h"
#include "net/h1.h"
#include "net/tls.h"

typedef struct tu_echo {
    const char *name;
    net_server_t *srv;
    int port;
    size_t count;        /* requests seen */
    char last_path[256]; /* target of the last one */
} tu_echo_t;

typedef struct tu_echo_conn {
    tu_echo_t *e;
    net_conn_t *c;
    net_h1_parser_t *p;
    uint8_t *in;
    size_t len, cap;
    json_t *req;
    size_t body;
} tu_echo_conn_t;

static inline void tu_echo_respond(tu_echo_conn_t *ec)
{
    const net_h1_message_t *m = net_h1_parser_message(ec->p);
    json_object_set_new(ec->req, "body_len", json_integer((json_int_t)ec->body));
    json_object_set_new(ec->req, "server", json_string(ec->e->name));
    char *body = json_dumps(ec->req, JSON_COMPACT);
    int status = 200;
    const char *path = json_string_value(json_object_get(ec->req, "path"));
    if (path && strncmp(path, "/status/", 8) == 0)
        status = atoi(path + 8);
    net_h2_header_t h[8];
    size_t n = 0;
    char cl[32];
    snprintf(cl, sizeof cl, "%zu", strlen(body));
    h[n++] = NET_H2_HDR("content-type", "application/json");
    h[n++] = NET_H2_HDR("content-length", cl);
    h[n++] = NET_H2_HDR("x-resp-remove", "gone");
    if (!m->keep_alive)
        h[n++] = NET_H2_HDR("connection", "close");
    net_h1_buf_t b = {0};
    net_h1_response_write(&b, status, NULL, h, n);
    net_h1_buf_append(&b, body, strlen(body));
    net_conn_write(ec->c, b.data, b.len);
    net_h1_buf_dispose(&b);
    free(body);
    bool sneaky = path && strncmp(path, "/sneaky-close", 13) == 0;
    json_decref(ec->req);
    ec->req = NULL;
    if (!m->keep_alive || sneaky)
        net_conn_end(ec->c); /* /sneaky-close: keep-alive announced, then closed anyway */
}

static inline void tu_echo_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    tu_echo_conn_t *ec = ud;
    if (ec->len + len > ec->cap) {
        ec->cap = (ec->len + len) * 2;
        ec->in = realloc(ec->in, ec->cap);
    }
    memcpy(ec->in + ec->len, data, len);
    ec->len += len;
    for (;;) {
        net_h1_event_t ev;
        size_t used = net_h1_parser_feed(ec->p, ec->in, ec->len, &ev);
        memmove(ec->in, ec->in + used, ec->len - used);
        ec->len -= used;
        if (ev.kind == NET_H1_EV_HEAD) {
            const net_h1_message_t *m = net_h1_parser_message(ec->p);
            ec->req = json_object();
            ec->body = 0;
            json_object_set_new(ec->req, "method", json_string(m->method));
            json_object_set_new(ec->req, "path", json_string(m->target));
            ec->e->count++;
            snprintf(ec->e->last_path, sizeof ec->e->last_path, "%s", m->target);
            const net_h2_header_t *host = net_h2_header_find(m->headers, m->nheaders, "host");
            json_object_set_new(ec->req, "host", json_string(host ? host->value : ""));
            json_t *hs = json_object();
            for (size_t i = 0; i < m->nheaders; i++) {
                json_t *a = json_object_get(hs, m->headers[i].name);
                if (!a) {
                    a = json_array();
                    json_object_set_new(hs, m->headers[i].name, a);
                }
                json_array_append_new(a, json_string(m->headers[i].value));
            }
            json_object_set_new(ec->req, "headers", hs);
        } else if (ev.kind == NET_H1_EV_BODY) {
            ec->body += ev.len;
        } else if (ev.kind == NET_H1_EV_END) {
            tu_echo_respond(ec);
        } else if (ev.kind == NET_H1_EV_ERROR) {
            net_conn_close(c, false);
            return;
        } else {
            return; /* NEED_MORE, DONE */
        }
    }
}

static inline void tu_echo_close(net_conn_t *c, int status, void *ud)
{
    tu_echo_conn_t *ec = ud;
    (void)c;
    (void)status;
    net_h1_parser_free(ec->p);
    json_decref(ec->req);
    free(ec->in);
    free(ec);
}

static const net_conn_raw_callbacks_t tu_echo_cb = {.on_read = tu_echo_read,
                                                    .on_close = tu_echo_close};

static inline void tu_echo_inert(net_conn_t *c, const uint8_t *d, size_t l, void *ud)
{
    (void)d;
    (void)l;
    (void)ud;
    net_conn_close(c, false);
}

static inline void tu_echo_open(net_conn_t *c, int status, void *ud)
{
    if (status != NET_OK || !net_conn_is_raw(c))
        return;
    tu_echo_conn_t *ec = calloc(1, sizeof *ec);
    int err;
    ec->e = ud;
    ec->c = c;
    ec->p = net_h1_parser_new(true, NULL, &err);
    net_conn_set_raw(c, &tu_echo_cb, ec);
}

/* Starts an echo upstream on 127.0.0.1 (a free port, in e->port), answering in TLS when |tls|.
 * |name| is its "server" in the answers. Keeps: e, name; borrows tls. */
static inline void tu_echo_start(uv_loop_t *loop, tu_echo_t *e, const char *name,
                                 net_tls_ctx_t *tls)
{
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.ud = e;
    sc.on_conn_open = tu_echo_open;
    sc.raw = (net_conn_raw_callbacks_t){.on_read = tu_echo_inert};
    sc.tls = tls;
    int err;
    e->name = name;
    e->srv = net_server_new(loop, &sc, &err);
    assert_non_null(e->srv);
    e->port = net_server_port(e->srv);
}

/* From an answer of the echo: a top-level string field, and the first value of a request
 * header (NULL when it did not reach the echo). */
static inline const char *tu_jstr(const tu_resp_t *r, const char *key)
{
    return json_string_value(json_object_get(r->json, key));
}

static inline const char *tu_jheader(const tu_resp_t *r, const char *name)
{
    json_t *a = json_object_get(json_object_get(r->json, "headers"), name);
    return json_string_value(json_array_get(a, 0));
}

#endif
