/*
 * HTTP/2 sessions (net/h2.c), client and server connected in memory: every byte one session pulls
 * is fed to the other, optionally one byte at a time, optionally not at all (a peer that stops
 * reading). Events on both sides are recorded as text and compared with what the protocol says must
 * happen; session invariants are checked after every pump step.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/h2.h"

#define LOGCAP 8192

typedef struct side {
    net_h2_session_t *s;
    char log[LOGCAP];
    size_t body_bytes; /* DATA bytes received, all streams */
    char body[LOGCAP]; /* first bytes of body received */
    int writable_calls;
    int want_write_calls;
    int ping_acks;
    uint32_t goaway_last;
    int goaways;
    /* server behaviour */
    int respond_on; /* 0: respond on end of request; 1: Trailers-Only at once; 2: never */
    bool echo;
    net_h2_stream_t *last;
    int req_ended_at_headers; /* requests whose stream had ended while on_headers ran */
} side_t;

typedef struct pair {
    side_t c, sv;
} pair_t;

static void logf_(side_t *sd, const char *fmt, ...)
{
    size_t len = strlen(sd->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sd->log + len, LOGCAP - len, fmt, ap);
    va_end(ap);
}

static void on_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                       size_t n, void *ud)
{
    side_t *sd = ud;
    (void)s;
    const char *kinds[] = {"req", "resp", "trailers"};
    logf_(sd, "%s(%d", kinds[kind], net_h2_stream_id(st));
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, ":method") && strcmp(h[i].name, ":scheme") &&
            strcmp(h[i].name, ":authority"))
            logf_(sd, " %s=%s", h[i].name, h[i].value);
    logf_(sd, ") ");
    if (kind == NET_H2_REQUEST) {
        sd->last = st;
        if (net_h2_stream_remote_ended(st))
            sd->req_ended_at_headers++;
        if (sd->respond_on == 1) {
            net_h2_header_t rh[] = {NET_H2_HDR(":status", "200"), NET_H2_HDR("grpc-status", "12")};
            assert_int_equal(net_h2_stream_respond(st, rh, 2, true), NET_OK);
            /* Already complete: no body, no second response. */
            assert_int_equal(net_h2_stream_write(st, "x", 1), NET_ESTATE);
            assert_int_equal(net_h2_stream_respond(st, rh, 1, false), NET_ESTATE);
        }
    }
}

static void on_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *data, size_t len,
                    void *ud)
{
    (void)s;
    (void)st;
    side_t *sd = ud;
    size_t have = strlen(sd->body);
    for (size_t i = 0; i < len && have + 1 < 256; i++)
        sd->body[have++] = (char)data[i];
    sd->body[have] = '\0';
    sd->body_bytes += len;
}

static void on_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    side_t *sd = ud;
    logf_(sd, "end(%d) ", net_h2_stream_id(st));
    if (net_h2_session_is_server(s) && sd->respond_on == 0) {
        net_h2_header_t rh[] = {NET_H2_HDR(":status", "200"), NET_H2_HDR("x-a", "b")};
        assert_int_equal(net_h2_stream_respond(st, rh, 2, false), NET_OK);
        if (sd->echo)
            assert_int_equal(net_h2_stream_write(st, sd->body, strlen(sd->body)), NET_OK);
        net_h2_header_t tr[] = {NET_H2_HDR("grpc-status", "0")};
        assert_int_equal(net_h2_stream_end(st, tr, 1), NET_OK);
        assert_int_equal(net_h2_stream_end(st, tr, 1), NET_ESTATE);
    }
}

static void on_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)s;
    side_t *sd = ud;
    logf_(sd, "close(%d,%u) ", net_h2_stream_id(st), code);
    if (sd->last == st)
        sd->last = NULL;
}

static void on_writable(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)st;
    ((side_t *)ud)->writable_calls++;
}

static void on_goaway(net_h2_session_t *s, uint32_t last, uint32_t code, void *ud)
{
    (void)s;
    side_t *sd = ud;
    sd->goaways++;
    sd->goaway_last = last;
    logf_(sd, "goaway(%u,%u) ", last, code);
}

static void on_ping_ack(net_h2_session_t *s, void *ud)
{
    (void)s;
    ((side_t *)ud)->ping_acks++;
}

static void on_want_write(net_h2_session_t *s, void *ud)
{
    (void)s;
    ((side_t *)ud)->want_write_calls++;
}

static const net_h2_callbacks_t cbs = {on_headers,  on_data,   on_end,      on_close,
                                       on_writable, on_goaway, on_ping_ack, on_want_write};

static void pair_init(pair_t *p, const net_h2_config_t *ccfg, const net_h2_config_t *scfg)
{
    memset(p, 0, sizeof *p);
    int err;
    p->c.s = net_h2_session_new(false, ccfg, &cbs, &p->c, &err);
    assert_non_null(p->c.s);
    p->sv.s = net_h2_session_new(true, scfg, &cbs, &p->sv, &err);
    assert_non_null(p->sv.s);
    assert_int_equal(err, NET_OK);
}

static void pair_free(pair_t *p)
{
    net_h2_session_free(p->c.s);
    net_h2_session_free(p->sv.s);
}

/* Moves bytes from |from| to |to| in pieces of at most |chunk|; returns bytes moved. */
static size_t transfer(side_t *from, side_t *to, size_t chunk)
{
    uint8_t buf[4096];
    size_t moved = 0, n;
    for (;;) {
        assert_int_equal(net_h2_session_pull(from->s, buf, sizeof buf, &n), NET_OK);
        if (n == 0)
            break;
        for (size_t off = 0; off < n; off += chunk) {
            size_t k = n - off < chunk ? n - off : chunk;
            assert_int_equal(net_h2_session_recv(to->s, buf + off, k), NET_OK);
        }
        moved += n;
    }
    assert_int_equal(net_h2_session_check(from->s), NET_OK);
    assert_int_equal(net_h2_session_check(to->s), NET_OK);
    return moved;
}

/* Runs both directions until nothing moves (bounded). */
static void pump_chunked(pair_t *p, size_t chunk)
{
    for (int i = 0; i < 1000; i++) {
        size_t a = transfer(&p->c, &p->sv, chunk);
        size_t b = transfer(&p->sv, &p->c, chunk);
        if (a == 0 && b == 0)
            return;
    }
    fail_msg("pump did not settle");
}

static void pump(pair_t *p)
{
    pump_chunked(p, SIZE_MAX);
}

static net_h2_stream_t *post(pair_t *p, const char *path, bool end)
{
    net_h2_header_t h[] = {NET_H2_HDR(":method", "POST"), NET_H2_HDR(":scheme", "http"),
                           NET_H2_HDR(":authority", "t"), NET_H2_HDR(":path", path),
                           NET_H2_HDR("content-type", "application/grpc")};
    net_h2_stream_t *st = NULL;
    assert_int_equal(net_h2_session_request(p->c.s, h, 5, end, NULL, &st), NET_OK);
    assert_non_null(st);
    return st;
}

static void exchange(size_t chunk)
{
    pair_t p;
    pair_init(&p, NULL, NULL);
    p.sv.echo = true;
    net_h2_stream_t *st = post(&p, "/echo", false);
    assert_int_equal(net_h2_stream_write(st, "hel", 3), NET_OK);
    assert_int_equal(net_h2_stream_write(st, "lo", 2), NET_OK);
    assert_int_equal(net_h2_stream_end(st, NULL, 0), NET_OK);
    pump_chunked(&p, chunk);
    assert_string_equal(p.sv.log, "req(1 :path=/echo content-type=application/grpc) end(1) "
                                  "close(1,0) ");
    assert_string_equal(p.sv.body, "hello");
    assert_int_equal(p.sv.req_ended_at_headers, 0); /* a body follows the head */
    assert_string_equal(p.c.log, "resp(1 :status=200 x-a=b) trailers(1 grpc-status=0) end(1) "
                                 "close(1,0) ");
    assert_string_equal(p.c.body, "hello");
    assert_int_equal(net_h2_session_streams(p.c.s), 0);
    assert_int_equal(net_h2_session_streams(p.sv.s), 0);
    assert_int_equal(net_h2_session_queued(p.sv.s), 0);
    pair_free(&p);
}

static void test_request_response_with_body_and_trailers(void **state)
{
    (void)state;
    exchange(SIZE_MAX);
}

/* A request whose HEADERS carry END_STREAM is known to have no body while on_headers runs (a
 * proxy decides there how to forward it); on_end still follows. */
static void test_request_without_body_is_ended_during_on_headers(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    post(&p, "/get", true);
    pump(&p);
    assert_int_equal(p.sv.req_ended_at_headers, 1);
    assert_string_equal(p.sv.log, "req(1 :path=/get content-type=application/grpc) end(1) "
                                  "close(1,0) ");
    assert_true(net_h2_session_check(p.sv.s) == NET_OK);
    pair_free(&p);
}

static void test_exchange_fed_one_byte_at_a_time(void **state)
{
    (void)state;
    exchange(1);
    exchange(7);
}

static void test_trailers_only_before_request_end_is_followed_by_rst_no_error(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    p.sv.respond_on = 1;
    net_h2_stream_t *st = post(&p, "/nope", false);
    assert_int_equal(net_h2_stream_write(st, "abc", 3), NET_OK);
    pump(&p);
    /* One HEADERS with END_STREAM (status and grpc-status together), then RST_STREAM(NO_ERROR). */
    assert_string_equal(p.c.log, "resp(1 :status=200 grpc-status=12) end(1) close(1,0) ");
    assert_string_equal(p.sv.log, "req(1 :path=/nope content-type=application/grpc) close(1,0) ");
    pair_free(&p);
}

static void test_streaming_writes_resume_a_deferred_provider(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    p.sv.respond_on = 2;
    post(&p, "/stream", false);
    pump(&p);
    net_h2_stream_t *sst = p.sv.last;
    assert_non_null(sst);
    net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
    assert_int_equal(net_h2_stream_respond(sst, rh, 1, false), NET_OK);
    pump(&p);
    char expect[64] = "";
    for (int i = 0; i < 10; i++) {
        char m[2] = {(char)('a' + i), 0};
        int before = p.sv.want_write_calls;
        assert_int_equal(net_h2_stream_write(sst, m, 1), NET_OK);
        /* A write from outside recv/pull asks the adapter for a flush, once. */
        assert_int_equal(p.sv.want_write_calls, before + 1);
        assert_int_equal(net_h2_stream_write(sst, m, 1), NET_OK);
        assert_int_equal(p.sv.want_write_calls, before + 1);
        strcat(expect, m);
        strcat(expect, m);
        pump(&p);
        assert_string_equal(p.c.body, expect);
    }
    assert_int_equal(net_h2_stream_end(sst, NULL, 0), NET_OK);
    pump(&p);
    assert_non_null(strstr(p.c.log, "end(1) close(1,0)"));
    pair_free(&p);
}

/* The client never acknowledges data (manual consume, small windows): the server's queue must stop
 * at its cap, refuse further writes, and pick up again only when the client consumes. */
static void test_peer_that_never_reads_bounds_server_memory(void **state)
{
    (void)state;
    net_h2_config_t ccfg, scfg;
    net_h2_config_default(&ccfg);
    net_h2_config_default(&scfg);
    ccfg.initial_window_size = 65535;
    ccfg.connection_window_size = 65535;
    scfg.stream_output_cap = 64 * 1024;
    scfg.session_output_cap = 100 * 1024;
    pair_t p;
    pair_init(&p, &ccfg, &scfg);
    p.sv.respond_on = 2;
    net_h2_stream_t *cst = post(&p, "/a", false);
    net_h2_stream_set_manual_consume(cst, true);
    pump(&p);
    net_h2_stream_t *sst = p.sv.last;
    net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
    assert_int_equal(net_h2_stream_respond(sst, rh, 1, false), NET_OK);

    static uint8_t blob[16 * 1024];
    memset(blob, 'z', sizeof blob);
    size_t written = 0, refused = 0;
    for (int round = 0; round < 50; round++) {
        while (net_h2_stream_write(sst, blob, sizeof blob) == NET_OK)
            written += sizeof blob;
        refused++;
        assert_true(net_h2_stream_queued(sst) <= scfg.stream_output_cap);
        assert_true(net_h2_session_queued(p.sv.s) <= scfg.stream_output_cap);
        pump(&p);
        assert_true(net_h2_session_queued(p.sv.s) <= scfg.stream_output_cap);
    }
    /* The client received exactly its window, nothing more; the rest waits in the capped queue,
     * and more pumping changes nothing. */
    assert_int_equal(p.c.body_bytes, 65535);
    assert_int_equal(written, p.c.body_bytes + net_h2_stream_queued(sst));
    int writable = p.sv.writable_calls;
    pump(&p);
    assert_int_equal(p.sv.writable_calls, writable);
    assert_int_equal(net_h2_stream_write(sst, blob, sizeof blob), NET_EAGAIN);

    /* Consuming opens the window: data flows and the server is told it may write again. */
    net_h2_stream_consume(cst, 65535);
    pump(&p);
    assert_true(p.c.body_bytes > 65535);
    assert_true(p.sv.writable_calls > writable);
    assert_true(net_h2_stream_can_write(sst, sizeof blob));
    pair_free(&p);
}

static void test_session_cap_limits_the_sum_of_streams(void **state)
{
    (void)state;
    net_h2_config_t ccfg, scfg;
    net_h2_config_default(&ccfg);
    net_h2_config_default(&scfg);
    ccfg.initial_window_size = 65535;
    scfg.stream_output_cap = 64 * 1024;
    scfg.session_output_cap = 96 * 1024;
    pair_t p;
    pair_init(&p, &ccfg, &scfg);
    p.sv.respond_on = 2;
    net_h2_stream_t *sst[2];
    for (int i = 0; i < 2; i++) {
        net_h2_stream_t *c = post(&p, "/a", false);
        net_h2_stream_set_manual_consume(c, true);
        pump(&p);
        sst[i] = p.sv.last;
        net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
        assert_int_equal(net_h2_stream_respond(sst[i], rh, 1, false), NET_OK);
    }
    static uint8_t blob[8 * 1024];
    size_t q[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        while (net_h2_stream_write(sst[i], blob, sizeof blob) == NET_OK)
            q[i] += sizeof blob;
    assert_int_equal(q[0], 64 * 1024);
    assert_int_equal(q[1], 32 * 1024); /* the session cap bit first */
    assert_int_equal(net_h2_session_queued(p.sv.s), 96 * 1024);
    /* Once the queues are empty, one write larger than the caps is still accepted whole. */
    net_h2_stream_reset(sst[0], 0x8);
    net_h2_stream_reset(sst[1], 0x8);
    pump(&p);
    assert_int_equal(net_h2_session_queued(p.sv.s), 0);
    post(&p, "/big", false);
    pump(&p);
    net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
    assert_int_equal(net_h2_stream_respond(p.sv.last, rh, 1, false), NET_OK);
    static uint8_t huge[200 * 1024];
    assert_int_equal(net_h2_stream_write(p.sv.last, huge, sizeof huge), NET_OK);
    assert_int_equal(net_h2_stream_write(p.sv.last, huge, 1), NET_EAGAIN);
    assert_int_equal(net_h2_session_check(p.sv.s), NET_OK);
    pair_free(&p);
}

static void test_client_cancel_reaches_the_server(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    p.sv.respond_on = 2;
    net_h2_stream_t *st = post(&p, "/x", false);
    pump(&p);
    assert_int_equal(net_h2_stream_reset(st, 0x8), NET_OK);
    assert_int_equal(net_h2_stream_reset(st, 0x8), NET_ECLOSED);
    assert_int_equal(net_h2_stream_write(st, "a", 1), NET_ECLOSED);
    pump(&p);
    assert_non_null(strstr(p.sv.log, "close(1,8)"));
    assert_non_null(strstr(p.c.log, "close(1,8)"));
    assert_int_equal(net_h2_session_streams(p.sv.s), 0);
    pair_free(&p);
}

static void test_max_concurrent_streams_is_respected(void **state)
{
    (void)state;
    net_h2_config_t scfg;
    net_h2_config_default(&scfg);
    scfg.max_concurrent_streams = 2;
    pair_t p;
    pair_init(&p, NULL, &scfg);
    p.sv.respond_on = 2;
    pump(&p); /* settings exchanged */
    assert_int_equal(net_h2_session_peer_max_streams(p.c.s), 2);
    for (int i = 0; i < 3; i++)
        post(&p, "/x", false);
    pump(&p);
    /* nghttp2's client holds the third request until a slot frees. */
    assert_int_equal(net_h2_session_streams(p.sv.s), 2);
    net_h2_stream_reset(p.sv.last, 0);
    pump(&p);
    assert_int_equal(net_h2_session_streams(p.sv.s), 2);
    assert_non_null(strstr(p.sv.log, "req(5"));
    pair_free(&p);
}

static void test_graceful_shutdown_counts_requests_in_flight(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    p.sv.respond_on = 2;
    post(&p, "/one", true);
    pump(&p);
    net_h2_stream_t *one = p.sv.last;
    assert_non_null(one);
    /* A second request is on the wire when the server starts its shutdown: the notice and the
     * request cross. The request must still be served: the final GOAWAY names it. */
    post(&p, "/two", true);
    uint8_t req[4096];
    size_t rn;
    assert_int_equal(net_h2_session_pull(p.c.s, req, sizeof req, &rn), NET_OK);
    assert_true(rn > 0);
    assert_int_equal(net_h2_session_shutdown(p.sv.s), NET_OK);
    transfer(&p.sv, &p.c, SIZE_MAX); /* notice + PING reach the client */
    assert_int_equal(p.c.goaways, 1);
    assert_int_equal(p.c.goaway_last, 0x7fffffff);
    assert_int_equal(net_h2_session_recv(p.sv.s, req, rn), NET_OK);
    pump(&p);
    assert_int_equal(p.c.goaways, 2);
    assert_int_equal(p.c.goaway_last, 3);
    assert_non_null(strstr(p.sv.log, "req(3 :path=/two"));
    /* No new stream after GOAWAY. */
    net_h2_header_t h[] = {NET_H2_HDR(":method", "GET"), NET_H2_HDR(":path", "/")};
    assert_int_equal(net_h2_session_request(p.c.s, h, 2, true, NULL, NULL), NET_ESTATE);
    assert_false(net_h2_session_done(p.sv.s));
    /* Finishing both streams lets the server session finish. */
    net_h2_stream_t *two = p.sv.last;
    assert_true(two && two != one);
    net_h2_header_t rh[] = {NET_H2_HDR(":status", "204")};
    assert_int_equal(net_h2_stream_respond(one, rh, 1, true), NET_OK);
    pump(&p);
    assert_false(net_h2_session_done(p.sv.s));
    assert_int_equal(net_h2_stream_respond(two, rh, 1, true), NET_OK);
    pump(&p);
    assert_true(net_h2_session_done(p.sv.s));
    pair_free(&p);
}

static void test_graceful_shutdown_serves_both_open_streams(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    p.sv.respond_on = 0; /* respond on end of request */
    net_h2_stream_t *a = post(&p, "/a", false);
    pump(&p);
    assert_int_equal(net_h2_session_shutdown(p.sv.s), NET_OK);
    assert_int_equal(net_h2_session_shutdown(p.sv.s), NET_OK); /* idempotent */
    pump(&p);
    assert_int_equal(p.c.goaway_last, 1);
    assert_false(net_h2_session_done(p.sv.s)); /* stream 1 still open */
    assert_int_equal(net_h2_stream_end(a, NULL, 0), NET_OK);
    pump(&p);
    assert_non_null(strstr(p.c.log, "trailers(1 grpc-status=0) end(1) close(1,0)"));
    assert_true(net_h2_session_done(p.sv.s));
    pair_free(&p);
}

static void test_keepalive_ping_is_acknowledged(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    pump(&p);
    assert_false(net_h2_session_ping_pending(p.sv.s));
    assert_int_equal(net_h2_session_ping(p.sv.s), NET_OK);
    assert_true(net_h2_session_ping_pending(p.sv.s));
    assert_int_equal(net_h2_session_ping(p.sv.s), NET_ESTATE);
    pump(&p);
    assert_false(net_h2_session_ping_pending(p.sv.s));
    assert_int_equal(p.sv.ping_acks, 1);
    assert_int_equal(net_h2_session_ping(p.c.s), NET_OK);
    transfer(&p.c, &p.sv, SIZE_MAX); /* the ack is not delivered: still pending */
    assert_true(net_h2_session_ping_pending(p.c.s));
    pair_free(&p);
}

static void test_bad_preface_is_a_protocol_error(void **state)
{
    (void)state;
    int err;
    net_h2_session_t *s = net_h2_session_new(true, NULL, &cbs, NULL, &err);
    const char *junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(net_h2_session_recv(s, (const uint8_t *)junk, strlen(junk)), NET_EPROTO);
    net_h2_session_free(s);
}

static void test_free_closes_open_streams_with_cancel(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    p.sv.respond_on = 2;
    post(&p, "/a", false);
    post(&p, "/b", false);
    pump(&p);
    net_h2_session_free(p.sv.s);
    assert_non_null(strstr(p.sv.log, "close(1,8)"));
    assert_non_null(strstr(p.sv.log, "close(3,8)"));
    p.sv.s = NULL;
    net_h2_session_free(p.c.s);
    assert_non_null(strstr(p.c.log, "close(1,8)"));
}

static void test_oversized_header_list_resets_the_stream(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    static char big[20000];
    memset(big, 'v', sizeof big - 1);
    net_h2_header_t h[] = {NET_H2_HDR(":method", "POST"), NET_H2_HDR(":scheme", "http"),
                           NET_H2_HDR(":path", "/"), NET_H2_HDR("x-big", big)};
    assert_int_equal(net_h2_session_request(p.c.s, h, 4, true, NULL, NULL), NET_OK);
    pump(&p);
    assert_string_equal(p.sv.log, ""); /* never announced */
    assert_int_equal(net_h2_session_streams(p.sv.s), 0);
    assert_non_null(strstr(p.c.log, "close(1,"));
    assert_null(strstr(p.c.log, "close(1,0)"));
    pair_free(&p);
}

static void test_goaway_refuses_requests_above_last_stream(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, NULL, NULL);
    p.sv.respond_on = 2;
    post(&p, "/a", true);
    pump(&p);
    /* Queued on the client but not yet sent when GOAWAY(last=1) arrives. */
    post(&p, "/b", true);
    assert_int_equal(net_h2_session_goaway(p.sv.s, 0), NET_OK);
    transfer(&p.sv, &p.c, SIZE_MAX);
    pump(&p);
    assert_non_null(strstr(p.c.log, "goaway(1,0)"));
    assert_non_null(strstr(p.c.log, "close(3,7)")); /* REFUSED_STREAM: safe to retry */
    assert_null(strstr(p.sv.log, "req(3"));
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_response_with_body_and_trailers),
        cmocka_unit_test(test_request_without_body_is_ended_during_on_headers),
        cmocka_unit_test(test_exchange_fed_one_byte_at_a_time),
        cmocka_unit_test(test_trailers_only_before_request_end_is_followed_by_rst_no_error),
        cmocka_unit_test(test_streaming_writes_resume_a_deferred_provider),
        cmocka_unit_test(test_peer_that_never_reads_bounds_server_memory),
        cmocka_unit_test(test_session_cap_limits_the_sum_of_streams),
        cmocka_unit_test(test_client_cancel_reaches_the_server),
        cmocka_unit_test(test_max_concurrent_streams_is_respected),
        cmocka_unit_test(test_graceful_shutdown_counts_requests_in_flight),
        cmocka_unit_test(test_graceful_shutdown_serves_both_open_streams),
        cmocka_unit_test(test_keepalive_ping_is_acknowledged),
        cmocka_unit_test(test_bad_preface_is_a_protocol_error),
        cmocka_unit_test(test_free_closes_open_streams_with_cancel),
        cmocka_unit_test(test_oversized_header_list_resets_the_stream),
        cmocka_unit_test(test_goaway_refuses_requests_above_last_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
