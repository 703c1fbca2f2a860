/*
 * The admin HTTP server (net/http_server.c) on 127.0.0.1, in this process's loop, against:
 *  - a raw TCP client in the same loop (HTTP/1.1 written by hand, answers parsed with the h1
 *    codec's response parser): routing (404, 405 + Allow, HEAD, exact over prefix), pipelining
 *    and keep-alive, Expect: 100-continue with a chunked upload, request-smuggling attempts and
 *    other malformed requests (one error answer with Connection: close, then the server closes,
 *    and the request smuggled behind never runs), body limits (413), request and keep-alive
 *    timeouts (408, silent close), graceful close with a request in progress, Upgrade hand-over;
 *  - curl: HTTP/1.1 keep-alive (one connection for two URLs), chunked upload, Expect,
 *    --http2-prior-knowledge (h2c), h2 and http/1.1 over TLS chosen by ALPN and verified against
 *    the test CA, large responses;
 *  - nghttp: h2c GET and POST;
 *  - h2load: a short bounded load over HTTP/2 (multiplexed) and HTTP/1.1 (pipelined), asserting
 *    on counts and errors only, never on timing.
 * A client that is not installed makes its test skip (scripts/install-deps.sh installs them).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/http_server.h"
#include "net_test_util.h"

#define CURL    "/usr/bin/curl"
#define NGHTTP  "/usr/bin/nghttp"
#define H2LOAD  "/usr/bin/h2load"
#define BIG_LEN (1024u * 1024u + 17u)

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    char dir[64], ca_file[128], body_file[128];
    net_tls_testcert_t certs;
    net_tls_ctx_t *tls;
    net_http_server_t *srv;
    bool srv_closed;
    int port;
    int smuggled;    /* requests that reached /smuggled */
    int upgrades;    /* connections taken by the upgrade handler */
    bool upper_gone; /* the upgraded connection's on_close ran */
} env_t;

typedef bool (*pred_t)(env_t *e, void *arg);

static void run_until(env_t *e, pred_t p, void *arg)
{
    TN_RUN_UNTIL(&e->loop, e->expired, 10000000, p(e, arg));
}

static bool have(const char *path)
{
    return access(path, X_OK) == 0;
}

/* ---- handlers ---- */

static void h_healthz(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    (void)ud;
    net_http_response_write(resp, "ok\n", 3);
}

static void h_debug(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)ud;
    net_http_response_printf(resp, "debug path=%s query=%s authority=%s version=%d\n", req->path,
                             req->query, req->authority, req->http_version);
}

static void h_exact(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    (void)ud;
    net_http_response_write(resp, "exact\n", 6);
}

static void h_echo(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)ud;
    char len[24];
    snprintf(len, sizeof len, "%zu", req->body_len);
    assert_int_equal(net_http_response_header(resp, "X-Body-Len", len), NET_OK);
    assert_int_equal(net_http_response_header(resp, "Content-Type", "application/octet-stream"),
                     NET_OK);
    /* the server owns these */
    assert_int_equal(net_http_response_header(resp, "Content-Length", "1"), NET_EINVAL);
    assert_int_equal(net_http_response_header(resp, "connection", "close"), NET_EINVAL);
    assert_int_equal(net_http_response_header(resp, "x-bad", "a\r\nb: c"), NET_EINVAL);
    assert_int_equal(net_http_response_write(resp, req->body, req->body_len), NET_OK);
}

static void h_smuggled(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    env_t *e = ud;
    e->smuggled++;
    net_http_response_write(resp, "smuggled\n", 9);
}

static void h_big(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    (void)ud;
    uint8_t *b = malloc(BIG_LEN);
    assert_non_null(b);
    for (size_t i = 0; i < BIG_LEN; i++)
        b[i] = (uint8_t)('a' + i % 26);
    assert_int_equal(net_http_response_write(resp, b, BIG_LEN), NET_OK);
    free(b);
}

static void h_status(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)ud;
    net_http_response_set_status(resp, atoi(req->query));
    net_http_response_write(resp, "body\n", 5);
}

/* The upgraded protocol: every byte comes back uppercased. */
static void upper_read(net_conn_t *c, const uint8_t *d, size_t len, void *ud)
{
    (void)ud;
    char out[256];
    while (len) {
        size_t n = len < sizeof out ? len : sizeof out;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)((d[i] >= 'a' && d[i] <= 'z') ? d[i] - 32 : d[i]);
        net_conn_write(c, out, n);
        d += n;
        len -= n;
    }
}

static void upper_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    (void)status;
    ((env_t *)ud)->upper_gone = true;
}

static bool h_upgrade(const net_http_request_t *req, net_conn_t *c, const uint8_t *rest, size_t len,
                      net_http_response_t *resp, void *ud)
{
    env_t *e = ud;
    if (net_h2_header_find(req->headers, req->nheaders, "x-decline")) {
        net_http_response_set_status(resp, 200);
        net_http_response_write(resp, "declined\n", 9);
        return false;
    }
    static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             "Upgrade: upper\r\n\r\n";
    net_conn_write(c, ok, sizeof ok - 1);
    net_conn_raw_callbacks_t cb = {.on_read = upper_read, .on_close = upper_close};
    assert_int_equal(net_conn_set_raw(c, &cb, e), NET_OK);
    upper_read(c, rest, len, e);
    e->upgrades++;
    return true;
}

/* ---- environment ---- */

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void start_server(env_t *e, net_http_server_config_t *cfg)
{
    int err;
    e->srv = net_http_server_new(&e->loop, cfg, &err);
    assert_non_null(e->srv);
    assert_int_equal(err, NET_OK);
    e->port = net_http_server_port(e->srv);
    net_http_server_t *s = e->srv;
    assert_int_equal(net_http_server_route(s, "GET", "/healthz", h_healthz, e), NET_OK);
    assert_int_equal(net_http_server_route(s, "GET", "/debug/*", h_debug, e), NET_OK);
    assert_int_equal(net_http_server_route(s, "GET", "/debug/exact", h_exact, e), NET_OK);
    assert_int_equal(net_http_server_route(s, "POST", "/echo", h_echo, e), NET_OK);
    assert_int_equal(net_http_server_route(s, "PUT", "/echo", h_echo, e), NET_OK);
    assert_int_equal(net_http_server_route(s, "*", "/smuggled", h_smuggled, e), NET_OK);
    assert_int_equal(net_http_server_route(s, "GET", "/big", h_big, e), NET_OK);
    assert_int_equal(net_http_server_route(s, "GET", "/status", h_status, e), NET_OK);
    assert_int_equal(net_http_server_route_upgrade(s, "/upper", h_upgrade, e), NET_OK);
    /* bad routes */
    assert_int_equal(net_http_server_route(s, "GET", "/healthz", h_healthz, e), NET_EINVAL);
    assert_int_equal(net_http_server_route(s, "GET", "healthz", h_healthz, e), NET_EINVAL);
    assert_int_equal(net_http_server_route(s, "G T", "/x", h_healthz, e), NET_EINVAL);
    assert_int_equal(net_http_server_route(s, "GET", "/x?y", h_healthz, e), NET_EINVAL);
    assert_int_equal(net_http_server_route(s, "GET", "/x", NULL, e), NET_EINVAL);
}

static void env_init(env_t *e, bool tls, void (*tweak)(net_http_server_config_t *))
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    tn_watchdog_start(&e->loop, &e->watchdog, &e->expired, 60000);
    snprintf(e->dir, sizeof e->dir, "/tmp/krtgate-http-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    net_http_server_config_t cfg;
    net_http_server_config_default(&cfg);
    if (tls) {
        assert_int_equal(net_tls_testcert_make(&e->certs, "localhost", NULL, false), NET_OK);
        snprintf(e->ca_file, sizeof e->ca_file, "%s/ca.pem", e->dir);
        write_file(e->ca_file, e->certs.ca_pem, strlen(e->certs.ca_pem));
        static const char *const alpn[] = {"h2", "http/1.1", NULL};
        int err;
        e->tls = net_tls_ctx_new(true,
                                 &(net_tls_config_t){.cert_pem = e->certs.cert_pem,
                                                     .key_pem = e->certs.key_pem,
                                                     .alpn = alpn},
                                 &err);
        assert_non_null(e->tls);
        cfg.server.tls = e->tls;
    }
    if (tweak)
        tweak(&cfg);
    start_server(e, &cfg);
}

static void on_closed(net_http_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->srv_closed = true;
}

static bool srv_closed(env_t *e, void *arg)
{
    (void)arg;
    return e->srv_closed;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void env_dispose(env_t *e)
{
    if (e->srv && !e->srv_closed) {
        net_http_server_close(e->srv, false, on_closed, e);
        run_until(e, srv_closed, NULL);
    }
    net_tls_ctx_release(e->tls);
    if (e->certs.ca_pem)
        net_tls_testcert_dispose(&e->certs);
    uv_walk(&e->loop, walk_close, NULL);
    while (uv_run(&e->loop, UV_RUN_DEFAULT))
        ;
    assert_int_equal(uv_loop_close(&e->loop), 0);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", e->dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- a raw TCP client in the same loop ---- */

typedef struct rawc {
    env_t *e;
    uv_tcp_t tcp;
    uv_connect_t creq;
    bool connected, eof, closed;
    int error;
    char *buf;
    size_t len, cap;
} rawc_t;

static bool raw_connected(env_t *e, void *arg)
{
    (void)e;
    rawc_t *r = arg;
    return r->connected || r->error;
}

static void raw_connect_cb(uv_connect_t *req, int status)
{
    rawc_t *r = req->data;
    if (status < 0)
        r->error = status;
    else
        r->connected = true;
}

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    rawc_t *r = h->data;
    *b = tn_text_room(&r->buf, r->len, &r->cap);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    rawc_t *r = s->data;
    if (n > 0) {
        r->len += (size_t)n;
        r->buf[r->len] = '\0';
    } else if (n < 0) {
        if (n != UV_EOF)
            r->error = (int)n;
        r->eof = true;
        uv_read_stop(s);
    }
}

static void raw_open(env_t *e, rawc_t *r)
{
    memset(r, 0, sizeof *r);
    r->e = e;
    uv_tcp_init(&e->loop, &r->tcp);
    r->tcp.data = r;
    r->creq.data = r;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", e->port, &sa);
    assert_int_equal(uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&sa, raw_connect_cb), 0);
    run_until(e, raw_connected, r);
    assert_int_equal(r->error, 0);
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

typedef struct wr {
    uv_write_t req;
    char data[];
} wr_t;

static void raw_write_cb(uv_write_t *req, int status)
{
    (void)status;
    free(req->data);
}

static void raw_send(rawc_t *r, const void *data, size_t len)
{
    wr_t *w = malloc(sizeof *w + len);
    assert_non_null(w);
    memcpy(w->data, data, len);
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    assert_int_equal(uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, raw_write_cb), 0);
}

static void raw_send_str(rawc_t *r, const char *s)
{
    raw_send(r, s, strlen(s));
}

static bool raw_got_eof(env_t *e, void *arg)
{
    (void)e;
    return ((rawc_t *)arg)->eof;
}

typedef struct want {
    rawc_t *r;
    const char *needle;
} want_t;

static bool raw_got(env_t *e, void *arg)
{
    (void)e;
    want_t *w = arg;
    return (w->r->buf && strstr(w->r->buf, w->needle)) || w->r->eof;
}

static void raw_wait_for(env_t *e, rawc_t *r, const char *needle)
{
    want_t w = {r, needle};
    run_until(e, raw_got, &w);
    if (!r->buf || !strstr(r->buf, needle))
        fail_msg("expected \"%s\" from the server, got:\n%s", needle, r->buf ? r->buf : "");
}

static void raw_closed_cb(uv_handle_t *h)
{
    ((rawc_t *)h->data)->closed = true;
}

static bool raw_is_closed(env_t *e, void *arg)
{
    (void)e;
    return ((rawc_t *)arg)->closed;
}

static void raw_close(env_t *e, rawc_t *r)
{
    uv_close((uv_handle_t *)&r->tcp, raw_closed_cb);
    run_until(e, raw_is_closed, r);
    free(r->buf);
    r->buf = NULL;
}

/* Answers parsed from what a raw client received. */
typedef struct answer {
    int status;
    char connection[32];
    char allow[64];
    char ctype[64];
    long long content_length;
    char body[256];
    size_t body_len;
} answer_t;

/* Parses the responses in |buf| (|methods|[i] is the method of request i, NULL = GET).
 * Returns how many are complete. */
static size_t parse_answers(const char *buf, size_t len, const char *const *methods, answer_t *out,
                            size_t max)
{
    int err;
    net_h1_parser_t *p = net_h1_parser_new(false, NULL, &err);
    assert_non_null(p);
    size_t n = 0, off = 0;
    if (methods)
        net_h1_parser_set_method(p, methods[0]);
    memset(out, 0, max * sizeof *out);
    for (int guard = 0; guard < 100000 && n < max; guard++) {
        net_h1_event_t ev;
        off += net_h1_parser_feed(p, (const uint8_t *)buf + off, len - off, &ev);
        if (ev.kind == NET_H1_EV_HEAD) {
            const net_h1_message_t *m = net_h1_parser_message(p);
            out[n].status = m->status;
            out[n].content_length = m->content_length;
            const net_h2_header_t *h = net_h2_header_find(m->headers, m->nheaders, "connection");
            snprintf(out[n].connection, sizeof out[n].connection, "%s", h ? h->value : "");
            h = net_h2_header_find(m->headers, m->nheaders, "allow");
            snprintf(out[n].allow, sizeof out[n].allow, "%s", h ? h->value : "");
            h = net_h2_header_find(m->headers, m->nheaders, "content-type");
            snprintf(out[n].ctype, sizeof out[n].ctype, "%s", h ? h->value : "");
            if (m->status >= 200) /* interim answers carry no Date */
                assert_non_null(net_h2_header_find(m->headers, m->nheaders, "date"));
        } else if (ev.kind == NET_H1_EV_BODY) {
            size_t room = sizeof out[n].body - 1 - out[n].body_len;
            size_t k = ev.len < room ? ev.len : room;
            memcpy(out[n].body + out[n].body_len, ev.data, k);
            out[n].body_len += k;
        } else if (ev.kind == NET_H1_EV_END) {
            if (out[n].status >= 200) {
                n++;
                if (methods && n < max)
                    net_h1_parser_set_method(p, methods[n]);
            }
        } else {
            if (ev.kind == NET_H1_EV_ERROR)
                fail_msg("bad response: %s", net_h1_parser_error(p));
            break;
        }
    }
    net_h1_parser_free(p);
    return n;
}

/* ---- raw HTTP/1.1 tests ---- */

static void test_routes_404_405_head_and_prefixes(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, NULL);
    rawc_t r;
    raw_open(&e, &r);
    raw_send_str(&r, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                     "DELETE /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                     "HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET /debug/x/y?z=1 HTTP/1.1\r\nHost: h.example\r\n\r\n"
                     "GET /debug/exact HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET http://abs.example/debug/?q HTTP/1.1\r\nHost: ignored\r\n\r\n"
                     "GET /status?204 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    run_until(&e, raw_got_eof, &r);
    const char *methods[] = {"GET", "GET", "DELETE", "HEAD", "GET", "GET", "GET", "GET"};
    answer_t a[8];
    assert_int_equal(parse_answers(r.buf, r.len, methods, a, 8), 8);
    assert_int_equal(a[0].status, 200);
    assert_string_equal(a[0].body, "ok\n");
    assert_string_equal(a[0].ctype, "text/plain; charset=utf-8");
    assert_int_equal(a[1].status, 404);
    assert_int_equal(a[2].status, 405);
    assert_string_equal(a[2].allow, "GET, HEAD");
    assert_int_equal(a[3].status, 200);
    assert_int_equal(a[3].content_length, 3);
    assert_int_equal(a[3].body_len, 0);
    assert_string_equal(a[4].body,
                        "debug path=/debug/x/y query=z=1 authority=h.example version=11\n");
    assert_string_equal(a[5].body, "exact\n");
    assert_string_equal(a[6].body, "debug path=/debug/ query=q authority=abs.example version=11\n");
    assert_int_equal(a[7].status, 204);
    assert_int_equal(a[7].content_length, -1); /* 204: no Content-Length, no body */
    assert_string_equal(a[7].connection, "close");
    raw_close(&e, &r);
    assert_int_equal(net_http_server_requests(e.srv), 8);
    env_dispose(&e);
}

static void test_pipelined_keepalive_requests_answered_in_order(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, NULL);
    rawc_t r;
    raw_open(&e, &r);
    /* 50 requests in one write, alternating bodies; then one more after the answers. */
    char req[256];
    char *all = malloc(50 * sizeof req);
    size_t len = 0;
    for (int i = 0; i < 50; i++) {
        int n = (i % 2) ? snprintf(req, sizeof req,
                                   "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                                   "body-%03d",
                                   8, i)
                        : snprintf(req, sizeof req, "GET /debug/%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
        memcpy(all + len, req, (size_t)n);
        len += (size_t)n;
    }
    raw_send(&r, all, len);
    free(all);
    raw_wait_for(&e, &r, "debug path=/debug/48 ");
    raw_send_str(&r, "GET /healthz HTTP/1.0\r\n\r\n"); /* HTTP/1.0: closes after */
    run_until(&e, raw_got_eof, &r);
    answer_t *a = calloc(51, sizeof *a);
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 51), 51);
    for (int i = 0; i < 50; i++) {
        char want[64];
        if (i % 2)
            snprintf(want, sizeof want, "body-%03d", i);
        else
            snprintf(want, sizeof want, "debug path=/debug/%d query= authority=a version=11\n", i);
        assert_int_equal(a[i].status, 200);
        assert_string_equal(a[i].body, want);
        assert_string_equal(a[i].connection, "");
    }
    assert_string_equal(a[50].body, "ok\n");
    assert_string_equal(a[50].connection, "close");
    free(a);
    raw_close(&e, &r);
    env_dispose(&e);
}

static void test_expect_continue_then_chunked_upload(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, NULL);
    rawc_t r;
    raw_open(&e, &r);
    raw_send_str(&r, "PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n");
    raw_wait_for(&e, &r, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_null(strstr(r.buf, "200"));
    raw_send_str(&r, "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
    raw_wait_for(&e, &r, "hello world");
    answer_t a[2];
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 2), 1);
    assert_int_equal(a[0].status, 200);
    assert_string_equal(a[0].body, "hello world");
    assert_string_equal(a[0].ctype, "application/octet-stream");
    assert_non_null(strstr(r.buf, "x-body-len: 11\r\n"));
    /* Expect on an over-limit body: 413 before any body byte is sent. */
    raw_send_str(&r, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                     "Content-Length: 99999999\r\n\r\n");
    run_until(&e, raw_got_eof, &r);
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 2), 2);
    assert_int_equal(a[1].status, 413);
    assert_string_equal(a[1].connection, "close");
    assert_null(strstr(r.buf + 30, "100 Continue\r\n\r\nHTTP/1.1 413")); /* no 100 for it */
    raw_close(&e, &r);
    env_dispose(&e);
}

typedef struct bad_req {
    const char *in;
    int status;
} bad_req_t;

static const bad_req_t smuggling[] = {
    /* CL.CL, CL.TE, TE.CL, TE.TE and friends, each followed by a request to smuggle */
    {"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nContent-Length: 5\r\n\r\n", 400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\n\r\n",
     400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
     "0\r\n\r\n",
     400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
     400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\nX: y\r\n"
     " Transfer-Encoding: identity\r\n\r\n",
     400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501},
    {"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
     400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
     400},
    {"POST /echo HTTP/1.1\nHost: a\nContent-Length: 0\n\n", 400},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\rX\r\n\r\n", 400},
    {"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET /healthz HTTP/1.1\r\n\r\n", 400},
    {"GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"BREW /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 501},
    {"GET /healthz HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
    {"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413},
    {"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 405},
};

static void test_smuggling_and_malformed_requests_get_error_and_close(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, NULL);
    for (size_t i = 0; i < sizeof smuggling / sizeof smuggling[0]; i++) {
        rawc_t r;
        raw_open(&e, &r);
        raw_send_str(&r, smuggling[i].in);
        raw_send_str(&r, "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
        run_until(&e, raw_got_eof, &r);
        answer_t a[3];
        size_t n = parse_answers(r.buf, r.len, NULL, a, 3);
        if (n != 1 || a[0].status != smuggling[i].status || strcmp(a[0].connection, "close") != 0)
            fail_msg("case %zu: %zu answers, want one %d with Connection: close; got:\n%s", i, n,
                     smuggling[i].status, r.buf ? r.buf : "(nothing)");
        assert_int_equal(r.error, 0); /* an orderly close, not a reset: lingering close works */
        raw_close(&e, &r);
    }
    /* Big heads: 431 and 414 */
    char *big = malloc(40000);
    snprintf(big, 40000, "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: %020000d\r\n\r\n", 0);
    rawc_t r;
    raw_open(&e, &r);
    raw_send_str(&r, big);
    run_until(&e, raw_got_eof, &r);
    answer_t a[2];
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 2), 1);
    assert_int_equal(a[0].status, 431);
    raw_close(&e, &r);
    snprintf(big, 40000, "GET /%020000d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    raw_open(&e, &r);
    raw_send_str(&r, big);
    run_until(&e, raw_got_eof, &r);
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 2), 1);
    assert_int_equal(a[0].status, 414);
    raw_close(&e, &r);
    free(big);
    /* A chunked body over the limit: 413 in the middle of the body. */
    raw_open(&e, &r);
    raw_send_str(&r, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    char *chunk = malloc(300000);
    int hl = snprintf(chunk, 300000, "%x\r\n", 250000);
    memset(chunk + hl, 'x', 250000);
    memcpy(chunk + hl + 250000, "\r\n", 2);
    for (int i = 0; i < 5; i++)
        raw_send(&r, chunk, (size_t)hl + 250002);
    free(chunk);
    run_until(&e, raw_got_eof, &r);
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 2), 1);
    assert_int_equal(a[0].status, 413);
    raw_close(&e, &r);
    assert_int_equal(e.smuggled, 0);
    env_dispose(&e);
}

static void short_timeouts(net_http_server_config_t *c)
{
    c->request_timeout_ms = 150;
    c->keepalive_timeout_ms = 150;
}

static void test_request_and_keepalive_timeouts(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, short_timeouts);
    rawc_t r;
    raw_open(&e, &r);
    raw_send_str(&r, "GET /healthz HTTP/1.1\r\nHost: a\r\n"); /* never finished */
    run_until(&e, raw_got_eof, &r);
    answer_t a[2];
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 2), 1);
    assert_int_equal(a[0].status, 408);
    assert_string_equal(a[0].connection, "close");
    raw_close(&e, &r);

    raw_open(&e, &r);
    raw_send_str(&r, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    run_until(&e, raw_got_eof, &r); /* answered, then idle: closed without another answer */
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 2), 1);
    assert_int_equal(a[0].status, 200);
    assert_string_equal(a[0].connection, "");
    raw_close(&e, &r);

    /* A connection that sends nothing at all is closed by the handshake timeout. */
    env_dispose(&e);
}

static void test_graceful_close_answers_request_in_progress(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, NULL);
    rawc_t busy, idle;
    raw_open(&e, &idle);
    raw_send_str(&idle, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    raw_wait_for(&e, &idle, "ok\n");
    raw_open(&e, &busy);
    raw_send_str(&busy, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello");
    raw_wait_for(&e, &idle, "ok\n");
    for (int i = 0; i < 20; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT); /* the body's first half is in */
    net_http_server_close(e.srv, true, on_closed, &e);
    run_until(&e, raw_got_eof, &idle); /* idle: closed at once */
    assert_false(busy.eof);
    raw_send_str(&busy, "world");
    run_until(&e, raw_got_eof, &busy);
    answer_t a[2];
    assert_int_equal(parse_answers(busy.buf, busy.len, NULL, a, 2), 1);
    assert_int_equal(a[0].status, 200);
    assert_string_equal(a[0].body, "helloworld");
    assert_string_equal(a[0].connection, "close");
    /* The server lingers until the clients close their side (bounded by shutdown_timeout_ms). */
    raw_close(&e, &busy);
    raw_close(&e, &idle);
    run_until(&e, srv_closed, NULL);
    env_dispose(&e);
}

static bool upper_gone(env_t *e, void *arg)
{
    (void)arg;
    return e->upper_gone;
}

static void test_upgrade_hands_over_the_connection(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, NULL);
    rawc_t r;
    raw_open(&e, &r);
    /* Declined: answered in HTTP/1.1, the connection goes on. */
    raw_send_str(&r, "GET /upper HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: upper\r\n"
                     "X-Decline: 1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    raw_wait_for(&e, &r, "ok\n");
    answer_t a[3];
    assert_int_equal(parse_answers(r.buf, r.len, NULL, a, 3), 2);
    assert_string_equal(a[0].body, "declined\n");
    assert_string_equal(a[1].body, "ok\n");
    /* Upgrade to a path without an upgrade route: the header is ignored. */
    raw_send_str(&r,
                 "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n");
    raw_wait_for(&e, &r, "ok\nHTTP/1.1 200 OK");
    /* Taken: bytes after the request (same write) belong to the new protocol. */
    raw_send_str(&r, "GET /upper HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: upper\r\n"
                     "\r\nhello ");
    raw_wait_for(&e, &r,
                 "101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: upper\r\n\r\nHELLO ");
    raw_send_str(&r, "again, GET / HTTP/1.1\r\n\r\n");
    raw_wait_for(&e, &r, "HELLO AGAIN, GET / HTTP/1.1\r\n\r\n");
    assert_int_equal(e.upgrades, 1);
    raw_close(&e, &r);
    run_until(&e, upper_gone, NULL);
    env_dispose(&e);
}

/* ---- real clients ---- */

typedef tn_proc_t proc_t;

/* Runs argv to completion with its stdout captured in pr->buf (free it); stderr is the test's.
 * Returns the exit status. */
static int64_t proc_run(env_t *e, proc_t *pr, char **argv)
{
    return tn_proc_run(&e->loop, &e->expired, 10000000, pr, argv);
}

static void test_curl_http11_keepalive_chunked_upload_and_expect(void **state)
{
    (void)state;
    if (!have(CURL))
        skip();
    env_t e;
    env_init(&e, false, NULL);
    char u1[96], u2[96], u3[96];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/healthz", e.port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/debug/k?v=1", e.port);
    snprintf(u3, sizeof u3, "http://127.0.0.1:%d/echo", e.port);
    proc_t pr;
    /* Two URLs on one connection: the second needs no new connect. */
    char *a1[] = {CURL, "-sS", "--http1.1", "-w", "|%{http_code} %{http_version} %{num_connects}\n",
                  u1,   u2,    NULL};
    assert_int_equal(proc_run(&e, &pr, a1), 0);
    tn_proc_expect(&pr, "ok\n|200 1.1 1\n");
    tn_proc_expect(&pr, "debug path=/debug/k query=v=1 authority=127.0.0.1:");
    tn_proc_expect(&pr, "version=11\n|200 1.1 0\n");
    tn_proc_dispose(&pr);
    /* A chunked upload of 300 KiB with Expect: 100-continue. */
    snprintf(e.body_file, sizeof e.body_file, "%s/body", e.dir);
    char *body = malloc(300 * 1024);
    for (size_t i = 0; i < 300 * 1024; i++)
        body[i] = (char)('0' + i % 10);
    write_file(e.body_file, body, 300 * 1024);
    free(body);
    char data[160];
    snprintf(data, sizeof data, "@%s", e.body_file);
    char out[160];
    snprintf(out, sizeof out, "%s/out", e.dir);
    char *a2[] = {CURL,
                  "-sS",
                  "--http1.1",
                  "-H",
                  "Transfer-Encoding: chunked",
                  "-H",
                  "Expect: 100-continue",
                  "--data-binary",
                  data,
                  "-D",
                  "-",
                  "-o",
                  out,
                  u3,
                  NULL};
    assert_int_equal(proc_run(&e, &pr, a2), 0);
    tn_proc_expect(&pr, "HTTP/1.1 100 Continue");
    tn_proc_expect(&pr, "x-body-len: 307200");
    tn_proc_dispose(&pr);
    char *a3[] = {"/usr/bin/cmp", e.body_file, out, NULL};
    assert_int_equal(proc_run(&e, &pr, a3), 0);
    tn_proc_dispose(&pr);
    /* Over the limit: 413. */
    char *big = malloc(1100 * 1024);
    memset(big, 'b', 1100 * 1024);
    write_file(e.body_file, big, 1100 * 1024);
    free(big);
    char *a4[] = {CURL, "-sS",       "--http1.1", "--data-binary",  data,
                  "-o", "/dev/null", "-w",        "%{http_code}\n", u3,
                  NULL};
    proc_run(&e, &pr, a4); /* curl may see the close while still sending: any exit status */
    tn_proc_expect(&pr, "413");
    tn_proc_dispose(&pr);
    env_dispose(&e);
}

static void test_curl_http2_prior_knowledge_and_tls_alpn(void **state)
{
    (void)state;
    if (!have(CURL))
        skip();
    env_t e;
    env_init(&e, false, NULL);
    char u[96], echo[96];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/debug/h2?x", e.port);
    snprintf(echo, sizeof echo, "http://127.0.0.1:%d/echo", e.port);
    proc_t pr;
    char *a1[] = {CURL, "-sS", "--http2-prior-knowledge", "-w", "|%{http_code} %{http_version}\n",
                  u,    NULL};
    assert_int_equal(proc_run(&e, &pr, a1), 0);
    tn_proc_expect(&pr, "debug path=/debug/h2 query=x authority=127.0.0.1:");
    tn_proc_expect(&pr, "version=20\n|200 2\n");
    tn_proc_dispose(&pr);
    char *a2[] = {CURL, "-sS", "--http2-prior-knowledge", "--data-binary", "posted over h2", "-i",
                  echo, NULL};
    assert_int_equal(proc_run(&e, &pr, a2), 0);
    tn_proc_expect(&pr, "HTTP/2 200");
    tn_proc_expect(&pr, "x-body-len: 14");
    tn_proc_expect(&pr, "posted over h2");
    tn_proc_dispose(&pr);
    char *a3[] = {CURL,
                  "-sS",
                  "--http2-prior-knowledge",
                  "-o",
                  "/dev/null",
                  "-w",
                  "%{http_code}\n",
                  "-X",
                  "PATCH",
                  u,
                  NULL};
    assert_int_equal(proc_run(&e, &pr, a3), 0);
    tn_proc_expect(&pr, "405");
    tn_proc_dispose(&pr);
    env_dispose(&e);

    /* TLS: ALPN picks h2 or http/1.1; curl verifies the server against the test CA. */
    env_init(&e, true, NULL);
    char su[96];
    snprintf(su, sizeof su, "https://localhost:%d/healthz", e.port);
    char resolve[64];
    snprintf(resolve, sizeof resolve, "localhost:%d:127.0.0.1", e.port);
    char *a4[] = {CURL,       "-sS",     "--http2",
                  "--cacert", e.ca_file, "--resolve",
                  resolve,    "-w",      "|%{http_code} %{http_version}\n",
                  su,         NULL};
    assert_int_equal(proc_run(&e, &pr, a4), 0);
    tn_proc_expect(&pr, "ok\n|200 2\n");
    tn_proc_dispose(&pr);
    char *a5[] = {CURL,       "-sS",     "--http1.1",
                  "--cacert", e.ca_file, "--resolve",
                  resolve,    "-w",      "|%{http_code} %{http_version}\n",
                  su,         su,        NULL};
    assert_int_equal(proc_run(&e, &pr, a5), 0);
    tn_proc_expect(&pr, "ok\n|200 1.1\nok\n|200 1.1\n");
    tn_proc_dispose(&pr);
    char bu[96];
    snprintf(bu, sizeof bu, "https://localhost:%d/big", e.port);
    char *a6[] = {CURL,        "-sS", "--cacert",  e.ca_file, "--resolve",
                  resolve,     "-o",  "/dev/null", "-w",      "%{size_download} %{http_version}\n",
                  "--http1.1", bu,    NULL};
    assert_int_equal(proc_run(&e, &pr, a6), 0);
    char want[64];
    snprintf(want, sizeof want, "%u 1.1\n", BIG_LEN);
    tn_proc_expect(&pr, want);
    tn_proc_dispose(&pr);
    a6[10] = "--http2";
    assert_int_equal(proc_run(&e, &pr, a6), 0);
    snprintf(want, sizeof want, "%u 2\n", BIG_LEN);
    tn_proc_expect(&pr, want);
    tn_proc_dispose(&pr);
    env_dispose(&e);
}

static void test_nghttp_h2c(void **state)
{
    (void)state;
    if (!have(NGHTTP))
        skip();
    env_t e;
    env_init(&e, false, NULL);
    char u[96], echo[96];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/healthz", e.port);
    snprintf(echo, sizeof echo, "http://127.0.0.1:%d/echo", e.port);
    proc_t pr;
    char *a1[] = {NGHTTP, "-v", u, NULL};
    assert_int_equal(proc_run(&e, &pr, a1), 0);
    tn_proc_expect(&pr, ":status: 200");
    tn_proc_expect(&pr, "content-length: 3");
    tn_proc_expect(&pr, "ok\n");
    tn_proc_dispose(&pr);
    snprintf(e.body_file, sizeof e.body_file, "%s/body", e.dir);
    write_file(e.body_file, "from nghttp", 11);
    char *a2[] = {NGHTTP, "-v", "-d", e.body_file, echo, NULL};
    assert_int_equal(proc_run(&e, &pr, a2), 0);
    tn_proc_expect(&pr, "x-body-len: 11");
    tn_proc_expect(&pr, "from nghttp");
    tn_proc_dispose(&pr);
    env_dispose(&e);
}

/* "requests: N total, N started, N done, N succeeded, 0 failed, 0 errored" */
static void expect_h2load_all_ok(const proc_t *pr, int n)
{
    char want[160];
    snprintf(want, sizeof want,
             "requests: %d total, %d started, %d done, %d succeeded, 0 failed, "
             "0 errored",
             n, n, n, n);
    tn_proc_expect(pr, want);
}

static void test_h2load_bounded_load_h2_and_h1(void **state)
{
    (void)state;
    if (!have(H2LOAD))
        skip();
    env_t e;
    env_init(&e, false, NULL);
    char u[96], big[96];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/healthz", e.port);
    snprintf(big, sizeof big, "http://127.0.0.1:%d/big", e.port);
    proc_t pr;
    char *a1[] = {H2LOAD, "-n", "3000", "-c", "4", "-m", "16", u, NULL};
    assert_int_equal(proc_run(&e, &pr, a1), 0);
    expect_h2load_all_ok(&pr, 3000);
    tn_proc_expect(&pr, "status codes: 3000 2xx");
    tn_proc_dispose(&pr);
    char *a2[] = {H2LOAD, "--h1", "-n", "3000", "-c", "4", "-m", "8", u, NULL};
    assert_int_equal(proc_run(&e, &pr, a2), 0);
    expect_h2load_all_ok(&pr, 3000);
    tn_proc_dispose(&pr);
    /* Large answers multiplexed: more than the session's output cap is queued at once. */
    char *a3[] = {H2LOAD, "-n", "24", "-c", "1", "-m", "8", big, NULL};
    assert_int_equal(proc_run(&e, &pr, a3), 0);
    expect_h2load_all_ok(&pr, 24);
    tn_proc_dispose(&pr);
    char *a4[] = {H2LOAD, "--h1", "-n", "12", "-c", "2", "-m", "3", big, NULL};
    assert_int_equal(proc_run(&e, &pr, a4), 0);
    expect_h2load_all_ok(&pr, 12);
    tn_proc_dispose(&pr);
    assert_int_equal(net_http_server_requests(e.srv), 6036);
    env_dispose(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_404_405_head_and_prefixes),
        cmocka_unit_test(test_pipelined_keepalive_requests_answered_in_order),
        cmocka_unit_test(test_expect_continue_then_chunked_upload),
        cmocka_unit_test(test_smuggling_and_malformed_requests_get_error_and_close),
        cmocka_unit_test(test_request_and_keepalive_timeouts),
        cmocka_unit_test(test_graceful_close_answers_request_in_progress),
        cmocka_unit_test(test_upgrade_hands_over_the_connection),
        cmocka_unit_test(test_curl_http11_keepalive_chunked_upload_and_expect),
        cmocka_unit_test(test_curl_http2_prior_knowledge_and_tls_alpn),
        cmocka_unit_test(test_nghttp_h2c),
        cmocka_unit_test(test_h2load_bounded_load_h2_and_h1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
