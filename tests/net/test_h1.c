/*
 * HTTP/1.1 codec (net/h1.c). Every input is run the way a connection would deliver it: whole, cut
 * in two at every split point, and one byte at a time, by a caller that keeps what the parser did
 * not consume. The events are written down as a transcript (bodies merged, errors with status and
 * sentence) and every delivery must produce the same transcript. Malformed inputs, one per
 * request-smuggling trick, must fail with the right status and stay failed; responses cover HEAD,
 * 1xx, 204, 304, 101, CONNECT and bodies delimited by the close. Serializers refuse header
 * injection without touching the buffer, and what they write parses back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/h1.h"

/* ---- transcript ---- */

typedef struct tr {
    char s[16384];
    size_t len;
    bool in_body;
} tr_t;

static void tr_add(tr_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->s + t->len, sizeof t->s - t->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof t->s - t->len);
    t->len += (size_t)n;
}

static void tr_head(tr_t *t, const net_h1_message_t *m)
{
    if (m->method)
        tr_add(t, "HEAD[%s %s 1.%d", m->method, m->target, m->minor_version);
    else
        tr_add(t, "HEAD[%d '%s' 1.%d", m->status, m->reason, m->minor_version);
    for (size_t i = 0; i < m->nheaders; i++) {
        assert_int_equal(strlen(m->headers[i].name), m->headers[i].name_len);
        assert_int_equal(strlen(m->headers[i].value), m->headers[i].value_len);
        tr_add(t, " %s=%s", m->headers[i].name, m->headers[i].value);
    }
    tr_add(t, " cl=%lld%s%s%s%s%s]", (long long)m->content_length, m->chunked ? " chunked" : "",
           m->has_body ? " body" : "", m->keep_alive ? " ka" : "",
           m->expect_continue ? " expect" : "", m->upgrade ? " upgrade" : "");
}

/* Records one event; returns true when the caller should stop feeding (DONE/ERROR). */
static bool tr_event(tr_t *t, net_h1_parser_t *p, const net_h1_event_t *ev, const uint8_t *in,
                     size_t inlen)
{
    assert_int_equal(net_h1_parser_check(p), NET_OK);
    if (ev->kind != NET_H1_EV_BODY && t->in_body) {
        tr_add(t, ")");
        t->in_body = false;
    }
    switch (ev->kind) {
    case NET_H1_EV_HEAD:
        tr_head(t, net_h1_parser_message(p));
        return false;
    case NET_H1_EV_BODY:
        assert_true(ev->len > 0);
        assert_true(ev->data >= in && ev->data + ev->len <= in + inlen);
        if (!t->in_body)
            tr_add(t, "BODY(");
        t->in_body = true;
        tr_add(t, "%.*s", (int)ev->len, (const char *)ev->data);
        return false;
    case NET_H1_EV_END: {
        size_t n;
        const net_h2_header_t *tv = net_h1_parser_trailers(p, &n);
        tr_add(t, "END");
        for (size_t i = 0; i < n; i++)
            tr_add(t, "{%s=%s}", tv[i].name, tv[i].value);
        return false;
    }
    case NET_H1_EV_ERROR:
        assert_true(net_h1_parser_error_status(p) > 0);
        tr_add(t, "ERROR %d %s", net_h1_parser_error_status(p), net_h1_parser_error(p));
        return true;
    case NET_H1_EV_DONE:
        tr_add(t, "DONE");
        return true;
    default:
        fail_msg("unexpected event %d", ev->kind);
    }
    return true;
}

/* A caller like a connection's: bytes arrive in pieces; what the parser did not consume is kept
 * and given again with the next piece. */
typedef struct caller {
    net_h1_parser_t *p;
    uint8_t pending[65536];
    size_t npending;
    bool stopped;
    tr_t t;
} caller_t;

static void caller_init(caller_t *c, bool server, const char *method, const net_h1_config_t *cfg)
{
    memset(c, 0, sizeof *c);
    int err;
    c->p = net_h1_parser_new(server, cfg, &err);
    assert_non_null(c->p);
    assert_int_equal(err, NET_OK);
    if (method)
        net_h1_parser_set_method(c->p, method);
}

static void caller_drain(caller_t *c)
{
    size_t off = 0;
    for (int guard = 0; guard < 100000 && !c->stopped; guard++) {
        net_h1_event_t ev;
        size_t n = net_h1_parser_feed(c->p, c->pending + off, c->npending - off, &ev);
        assert_true(n <= c->npending - off);
        off += n;
        if (ev.kind == NET_H1_EV_NEED_MORE) {
            assert_int_equal(off, c->npending); /* NEED_MORE means everything was taken */
            break;
        }
        c->stopped = tr_event(&c->t, c->p, &ev, c->pending, c->npending);
    }
    memmove(c->pending, c->pending + off, c->npending - off);
    c->npending -= off;
}

static void caller_give(caller_t *c, const uint8_t *data, size_t len)
{
    assert_true(c->npending + len <= sizeof c->pending);
    memcpy(c->pending + c->npending, data, len);
    c->npending += len;
    caller_drain(c);
}

static void caller_eof(caller_t *c)
{
    for (int guard = 0; guard < 8 && !c->stopped; guard++) {
        net_h1_event_t ev;
        net_h1_parser_finish(c->p, &ev);
        c->stopped = tr_event(&c->t, c->p, &ev, NULL, 0);
    }
    assert_true(c->stopped);
}

static void caller_end(caller_t *c, bool eof)
{
    if (eof)
        caller_eof(c);
    if (c->t.in_body)
        tr_add(&c->t, ")");
    if (c->npending)
        tr_add(&c->t, " REST(%.*s)", (int)c->npending, (const char *)c->pending);
    net_h1_parser_free(c->p);
    c->p = NULL;
}

/* Runs |in| whole, split in two at every point, and byte by byte; all transcripts must match.
 * Returns the transcript (static storage). */
static const char *run_all(bool server, const char *method, const char *in, size_t len, bool eof,
                           const net_h1_config_t *cfg)
{
    static caller_t ref, c;
    caller_init(&ref, server, method, cfg);
    caller_give(&ref, (const uint8_t *)in, len);
    caller_end(&ref, eof);
    for (size_t cut = 0; cut <= len; cut++) {
        caller_init(&c, server, method, cfg);
        caller_give(&c, (const uint8_t *)in, cut);
        caller_give(&c, (const uint8_t *)in + cut, len - cut);
        caller_end(&c, eof);
        if (strcmp(ref.t.s, c.t.s) != 0)
            fail_msg("split at %zu differs:\n  whole: %s\n  split: %s", cut, ref.t.s, c.t.s);
    }
    caller_init(&c, server, method, cfg);
    for (size_t i = 0; i < len; i++)
        caller_give(&c, (const uint8_t *)in + i, 1);
    caller_end(&c, eof);
    if (strcmp(ref.t.s, c.t.s) != 0)
        fail_msg("byte by byte differs:\n  whole: %s\n  bytes: %s", ref.t.s, c.t.s);
    return ref.t.s;
}

#define REQ(s)         run_all(true, NULL, s, sizeof(s) - 1, false, NULL)
#define REQ_EOF(s)     run_all(true, NULL, s, sizeof(s) - 1, true, NULL)
#define RESP(m, s)     run_all(false, m, s, sizeof(s) - 1, false, NULL)
#define RESP_EOF(m, s) run_all(false, m, s, sizeof(s) - 1, true, NULL)

static void expect_prefix(const char *got, const char *want)
{
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("transcript\n  got:  %s\n  want: %s...", got, want);
}

static void expect_eq(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("transcript\n  got:  %s\n  want: %s", got, want);
}

/* ---- requests ---- */

static void test_simple_get_lowercases_names_and_trims_values(void **state)
{
    (void)state;
    expect_eq(REQ("GET /healthz?x=1 HTTP/1.1\r\nHost: a.example\r\nX-Thing:   v a l  \r\n"
                  "Empty:\r\n\r\n"),
              "HEAD[GET /healthz?x=1 1.1 host=a.example x-thing=v a l empty= cl=-1 ka]END");
}

/* The fields are split by net/h1.c itself (http-parser reads the start line only): a value may
 * hold ':' and whitespace, an empty value is "", a name may be any token, and fields longer
 * than the eight-byte steps of the line scan keep every byte. */
static void test_fields_split_at_the_first_colon(void **state)
{
    (void)state;
    expect_eq(REQ("GET / HTTP/1.1\r\nHost: h:8080\r\nX-A:b:c\r\nX-B:\t x y \t\r\n"
                  "!#$%&'*+-.^_`|~09aZ: ok\r\nX-C:\r\n\r\n"),
              "HEAD[GET / 1.1 host=h:8080 x-a=b:c x-b=x y !#$%&'*+-.^_`|~09az=ok x-c= cl=-1 "
              "ka]END");
    expect_eq(REQ("GET /0123456789abcdef0123456789 HTTP/1.1\r\nHost: h\r\n"
                  "X-Long: 0123456789abcdef0123456789abcdef\xc3\xa9\r\n\r\n"),
              "HEAD[GET /0123456789abcdef0123456789 1.1 host=h "
              "x-long=0123456789abcdef0123456789abcdef\xc3\xa9 cl=-1 ka]END");
    /* whitespace around Content-Length's digits: HTAB or SP before, SP after */
    expect_eq(REQ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\t 5  \r\n\r\nhello"),
              "HEAD[POST / 1.1 host=h content-length=5 cl=5 body ka]BODY(hello)END");
    expect_eq(RESP(NULL, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nA: 1:2\r\n\r\nhi"),
              "HEAD[200 'OK' 1.1 content-length=2 a=1:2 cl=2 body ka]BODY(hi)END");
}

/* A start line longer than the copy http-parser reads in one call (256 bytes) is read in two
 * calls, to the same result. */
static void test_long_start_lines(void **state)
{
    (void)state;
    char in[1024], want[1024];
    char path[400];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    for (size_t len = 240; len < sizeof path; len += 7) {
        snprintf(in, sizeof in, "GET %.*s HTTP/1.1\r\nHost: h\r\n\r\n", (int)len, path);
        snprintf(want, sizeof want, "HEAD[GET %.*s 1.1 host=h cl=-1 ka]END", (int)len, path);
        expect_eq(run_all(true, NULL, in, strlen(in), false, NULL), want);
        snprintf(in, sizeof in, "GET %.*s HTTP/1.2\r\nHost: h\r\n\r\n", (int)len, path);
        expect_prefix(run_all(true, NULL, in, strlen(in), false, NULL), "ERROR 505");
    }
}

/* Special bytes past the first eight of a line are still found (the line scan steps eight
 * bytes at a time): a control character, DEL, and obs-text in the request line. */
static void test_special_bytes_deep_in_a_line(void **state)
{
    (void)state;
    const char *t = REQ("GET / HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789abcdef\x01zz\r\n\r\n");
    assert_non_null(strstr(t, "ERROR 400"));
    assert_non_null(strstr(t, "control character 0x01"));
    t = REQ("GET / HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789abcdef01234\x7f\r\n\r\n");
    assert_non_null(strstr(t, "control character 0x7f"));
    t = REQ("GET /0123456789abcdef\x80 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_non_null(strstr(t, "ERROR 400"));
    assert_non_null(strstr(t, "ASCII"));
    t = REQ("GET / HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789abcdef0123\n\r\n");
    assert_non_null(strstr(t, "LF without CR"));
}

/* net_h1_is_token against RFC 9110's tchar, for every byte. */
static void test_token_characters(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        bool want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        char s[1] = {(char)c};
        if (net_h1_is_token(s, 1) != want)
            fail_msg("byte 0x%02x: token %d, want %d", c, !want, want);
    }
}

static void test_pipelined_requests_with_bodies_every_split(void **state)
{
    (void)state;
    expect_eq(
        REQ("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
            "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n10;name=value;x\r\n0123456789abcdef\r\n0\r\n\r\n"
            "DELETE /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
            "GET /never HTTP/1.1\r\n"),
        "HEAD[POST /a 1.1 host=h content-length=5 cl=5 body ka]BODY(hello)END"
        "HEAD[GET /b 1.1 host=h cl=-1 ka]END"
        "HEAD[PUT /c 1.1 host=h transfer-encoding=chunked cl=-1 chunked body ka]"
        "BODY(abc0123456789abcdef)END"
        "HEAD[DELETE /d 1.1 host=h connection=close cl=-1]ENDDONE REST(GET /never HTTP/1.1\r\n)");
}

static void test_chunked_trailers_and_extensions(void **state)
{
    (void)state;
    expect_eq(
        REQ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
            "5 ; ext=\"q\"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum: 42\r\nX-Other:z\r\n\r\n"),
        "HEAD[POST / 1.1 host=h transfer-encoding=Chunked cl=-1 chunked body ka]"
        "BODY(hello0123456789)END{x-sum=42}{x-other=z}");
}

static void test_leading_empty_lines_are_skipped(void **state)
{
    (void)state;
    expect_eq(REQ("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
              "HEAD[GET / 1.1 host=h cl=-1 ka]END");
}

static void test_http10_closes_unless_keep_alive(void **state)
{
    (void)state;
    expect_eq(REQ("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n"),
              "HEAD[GET / 1.0 cl=-1]ENDDONE REST(GET / HTTP/1.0\r\n\r\n)");
    expect_eq(REQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n"),
              "HEAD[GET / 1.0 connection=Keep-Alive cl=-1 ka]ENDHEAD[GET /2 1.0 cl=-1]ENDDONE");
    expect_eq(REQ("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n"),
              "HEAD[GET / 1.1 host=h connection=keep-alive, close cl=-1]ENDDONE");
}

static void test_expect_continue(void **state)
{
    (void)state;
    expect_eq(
        REQ("PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok"),
        "HEAD[PUT /x 1.1 host=h expect=100-Continue content-length=2 cl=2 body ka expect]"
        "BODY(ok)END");
    expect_prefix(REQ("PUT /x HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n"),
                  "ERROR 417 line 3: Expect 'magic' is not supported");
}

static void test_upgrade_stops_and_can_resume_when_declined(void **state)
{
    (void)state;
    const char in[] = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                      "\r\n\x81\x05hello";
    expect_eq(REQ(in), "HEAD[GET /ws 1.1 host=h connection=Upgrade upgrade=websocket cl=-1 ka "
                       "upgrade]ENDDONE REST(\x81\x05hello)");
    /* Upgrade without "Connection: upgrade" is just a header. */
    expect_eq(REQ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"),
              "HEAD[GET / 1.1 host=h upgrade=websocket cl=-1 ka]END");
    expect_eq(REQ("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nTLSBYTES"),
              "HEAD[CONNECT example.com:443 1.1 host=example.com:443 cl=-1 ka upgrade]ENDDONE "
              "REST(TLSBYTES)");

    /* Declined: the server answers in HTTP/1.1 and goes on with the next request. */
    const char two[] = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n"
                       "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    int err;
    net_h1_parser_t *p = net_h1_parser_new(true, NULL, &err);
    net_h1_event_t ev;
    size_t off = 0;
    off += net_h1_parser_feed(p, (const uint8_t *)two, sizeof two - 1, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_HEAD);
    off += net_h1_parser_feed(p, (const uint8_t *)two + off, sizeof two - 1 - off, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_END);
    assert_int_equal(net_h1_parser_feed(p, (const uint8_t *)two + off, sizeof two - 1 - off, &ev),
                     0);
    assert_int_equal(ev.kind, NET_H1_EV_DONE);
    assert_int_equal(net_h1_parser_resume(p), NET_OK);
    assert_int_equal(net_h1_parser_resume(p), NET_ESTATE);
    off += net_h1_parser_feed(p, (const uint8_t *)two + off, sizeof two - 1 - off, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_HEAD);
    assert_string_equal(net_h1_parser_message(p)->target, "/next");
    assert_int_equal(off, sizeof two - 1);
    net_h1_parser_free(p);

    /* CONNECT may not resume: the bytes after it are the tunnel's. */
    p = net_h1_parser_new(true, NULL, &err);
    const char c[] = "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n";
    off = net_h1_parser_feed(p, (const uint8_t *)c, sizeof c - 1, &ev);
    net_h1_parser_feed(p, (const uint8_t *)c + off, 0, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_END);
    net_h1_parser_feed(p, NULL, 0, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_DONE);
    assert_int_equal(net_h1_parser_resume(p), NET_ESTATE);
    net_h1_parser_free(p);
}

static void test_absolute_form_and_asterisk(void **state)
{
    (void)state;
    expect_eq(REQ("GET http://h.example/p?q HTTP/1.1\r\nHost: h.example\r\n\r\n"),
              "HEAD[GET http://h.example/p?q 1.1 host=h.example cl=-1 ka]END");
    expect_eq(REQ("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
              "HEAD[OPTIONS * 1.1 host=h cl=-1 ka]END");
}

static void test_eof_between_and_inside_messages(void **state)
{
    (void)state;
    expect_eq(REQ_EOF("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
              "HEAD[GET / 1.1 host=h cl=-1 ka]ENDDONE");
    expect_eq(REQ_EOF("GET / HTTP/1.1\r\nHost: h\r\n"),
              "ERROR 400 connection closed inside a message head (line 3)");
    expect_eq(REQ_EOF("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"),
              "HEAD[POST / 1.1 host=h content-length=10 cl=10 body ka]BODY(abc)"
              "ERROR 400 connection closed inside a message body (after 3 body bytes)");
}

/* ---- malformed requests: one line per trick ---- */

typedef struct bad {
    const char *in;
    size_t len;
    int status;
    const char *why; /* a piece of the sentence */
} bad_t;

#define B(s, st, why)             \
    {                             \
        s, sizeof(s) - 1, st, why \
    }

static const bad_t bad_requests[] = {
    /* framing conflicts (smuggling) */
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400,
      "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400,
      "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello", 400, "Content-Length"),
    /* refused as http-parser refused them when it read the fields (found by the fuzz target) */
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\t\r\n\r\nhello", 400, "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 \t \r\n\r\nhello", 400, "tab"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encodingnh: x\r\n\r\n", 400,
      "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding-X: y\r\nContent-Length: 4\r\n\r\n", 400,
      "named like Transfer-Encoding"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n",
      400, "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: "
      "3\r\n\r\n0\r\n\r\n",
      400, "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
      "chunked\r\n\r\n",
      400, "Transfer-Encoding"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
      "not implemented"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not implemented"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501,
      "not implemented"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "token"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\nhello", 400, "token"),
    B("POST / HTTP/1.1\r\nHost: h\r\n Transfer-Encoding: chunked\r\n\r\n", 400, "folding"),
    B("POST / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tTransfer-Encoding: chunked\r\n\r\n", 400, "folding"),
    B("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello", 400, "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5a\r\n\r\nhello", 400, "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
      "Content-Length"),
    B("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400, "Content-Length"),
    /* line ends and characters */
    B("GET / HTTP/1.1\nHost: h\n\n", 400, "LF without CR"),
    B("GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "LF without CR"),
    B("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400, "CR not followed by LF"),
    B("GET / HTTP/1.1\r\nHost: h\r\nX: a\x00"
      "b\r\n\r\n",
      400, "control character 0x00"),
    B("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400, "control character 0x7f"),
    B("GET / HTTP/1.1\r\nHost: h\r\nX\x01: a\r\n\r\n", 400, "control character 0x01"),
    B("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "ASCII"),
    B("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "ASCII"),
    B(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "whitespace"),
    B("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "request line"),
    B("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, "head"),
    B("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, "fragment"),
    B("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "OPTIONS"),
    B("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid URL"),
    B("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "CONNECT"),
    B(": v\r\n\r\n", 501, "method"),
    B("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400, "head"),
    B("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400, "head"),
    /* Host */
    B("GET / HTTP/1.1\r\n\r\n", 400, "without Host"),
    B("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "second Host"),
    /* methods and versions */
    B("FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501, "method"),
    B("get / HTTP/1.1\r\nHost: h\r\n\r\n", 501, "method"),
    B("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "HTTP/2.0"),
    B("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, "HTTP/1.2"),
    B("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400, "version"),
    B("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "control character 0x16"),
    B("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 501, "method"),
    /* chunk framing */
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", 400,
      "longer than its size"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\rXabc\r\n0\r\n\r\n", 400,
      "CR not followed by LF"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400,
      "0x0a"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400,
      "longer than its size"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
      "not hexadecimal"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400,
      "not hexadecimal"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", 400,
      "after chunk size"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 400,
      "15 hex digits"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n", 400,
      "followed by ';'"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x01\r\nabc\r\n", 400,
      "chunk extension"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: "
      "5\r\n\r\n",
      400, "not allowed in trailers"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n "
      "folded\r\n\r\n",
      400, "folding"),
    B("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX a\r\n\r\n", 400,
      "no ':'"),
};

static void test_malformed_requests_fail_with_status_and_reason(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof bad_requests / sizeof bad_requests[0]; i++) {
        const bad_t *b = &bad_requests[i];
        const char *tr = run_all(true, NULL, b->in, b->len, false, NULL);
        const char *err = strstr(tr, "ERROR ");
        if (!err)
            fail_msg("case %zu: no error: %s", i, tr);
        if (atoi(err + 6) != b->status || !strstr(err, b->why)) {
            print_error("case %zu: want %d '%s', got: %s\n", i, b->status, b->why, err);
            failures++;
        }
        /* Nothing is delivered as a message before the error except a complete head. */
        assert_null(strstr(tr, "END"));
    }
    assert_int_equal(failures, 0);
}

static void test_errors_are_sticky(void **state)
{
    (void)state;
    int err;
    net_h1_parser_t *p = net_h1_parser_new(true, NULL, &err);
    net_h1_event_t ev;
    const char bad[] = "GET / HTTP/1.1\nHost: h\n\n";
    net_h1_parser_feed(p, (const uint8_t *)bad, sizeof bad - 1, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_ERROR);
    const char good[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(net_h1_parser_feed(p, (const uint8_t *)good, sizeof good - 1, &ev), 0);
    assert_int_equal(ev.kind, NET_H1_EV_ERROR);
    net_h1_parser_finish(p, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_ERROR);
    assert_int_equal(net_h1_parser_error_status(p), 400);
    assert_int_equal(net_h1_parser_check(p), NET_OK);
    net_h1_parser_free(p);
}

static void test_limits_give_414_and_431(void **state)
{
    (void)state;
    net_h1_config_t cfg;
    net_h1_config_default(&cfg);
    cfg.max_head = 128;
    cfg.max_headers = 3;
    char in[1024];
    /* request line alone over the limit */
    snprintf(in, sizeof in, "GET /%0200d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    const char *t = run_all(true, NULL, in, strlen(in), false, &cfg);
    expect_prefix(t, "ERROR 414 request line longer than 128 bytes");
    /* fields over the size limit */
    snprintf(in, sizeof in, "GET / HTTP/1.1\r\nHost: h\r\nX: %0150d\r\n\r\n", 0);
    t = run_all(true, NULL, in, strlen(in), false, &cfg);
    expect_prefix(t, "ERROR 431 header section larger than 128 bytes");
    /* too many fields */
    snprintf(in, sizeof in, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    t = run_all(true, NULL, in, strlen(in), false, &cfg);
    expect_prefix(t, "ERROR 431 more than 3 header fields");
    /* exactly at the limits is fine */
    snprintf(in, sizeof in, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n");
    t = run_all(true, NULL, in, strlen(in), false, &cfg);
    expect_eq(t, "HEAD[GET / 1.1 host=h a=1 b=2 cl=-1 ka]END");
    /* a long chunk-size line */
    cfg.max_chunk_line = 16;
    snprintf(in, sizeof in,
             "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n");
    t = run_all(true, NULL, in, strlen(in), false, &cfg);
    assert_non_null(strstr(t, "ERROR 400 chunked body, byte 17: chunk-size line longer than 16"));
    /* trailers share the limits */
    cfg.max_head = 256;
    snprintf(in, sizeof in,
             "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    t = run_all(true, NULL, in, strlen(in), false, &cfg);
    assert_non_null(strstr(t, "ERROR 431 more than 3 trailer fields"));
}

static void test_large_body_is_never_copied(void **state)
{
    (void)state;
    static char in[300000];
    int n = snprintf(in, sizeof in, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n");
    memset(in + n, 'z', 200000);
    int err;
    net_h1_parser_t *p = net_h1_parser_new(true, NULL, &err);
    net_h1_event_t ev;
    size_t off = net_h1_parser_feed(p, (const uint8_t *)in, (size_t)n + 200000, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_HEAD);
    off += net_h1_parser_feed(p, (const uint8_t *)in + off, (size_t)n + 200000 - off, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_BODY);
    assert_ptr_equal(ev.data, (const uint8_t *)in + n);
    assert_int_equal(ev.len, 200000);
    net_h1_parser_feed(p, NULL, 0, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_END);
    net_h1_parser_feed(p, NULL, 0, &ev);
    assert_int_equal(ev.kind, NET_H1_EV_NEED_MORE);
    net_h1_parser_free(p);
}

/* ---- responses ---- */

static void test_response_bodies_by_length_chunked_and_close(void **state)
{
    (void)state;
    expect_eq(
        RESP(NULL,
             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
             "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n"
             "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
        "HEAD[200 'OK' 1.1 content-length=2 cl=2 body ka]BODY(ok)END"
        "HEAD[404 'Not Found' 1.1 transfer-encoding=chunked cl=-1 chunked body ka]BODY(nope)END"
        "HEAD[200 '' 1.1 content-length=0 cl=0 ka]END");
    expect_eq(RESP_EOF(NULL, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil the end"),
              "HEAD[200 'OK' 1.1 server=x cl=-1 body]BODY(until the end)ENDDONE");
    expect_eq(RESP_EOF(NULL, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"),
              "HEAD[200 'OK' 1.0 content-length=1 cl=1 body]BODY(x)ENDDONE");
}

static void test_response_without_body_head_204_304_1xx(void **state)
{
    (void)state;
    expect_eq(RESP("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"),
              "HEAD[200 'OK' 1.1 content-length=1234 cl=1234 ka]END"
              "HEAD[200 'OK' 1.1 content-length=2 cl=2 body ka]BODY(ab)END");
    expect_eq(RESP(NULL,
                   "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
                   "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
                   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                   "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!"),
              "HEAD[204 'No Content' 1.1 content-length=5 cl=5 ka]END"
              "HEAD[304 'Not Modified' 1.1 content-length=5 cl=5 ka]END"
              "HEAD[100 'Continue' 1.1 cl=-1 ka]END"
              "HEAD[103 'Early Hints' 1.1 link=</a> cl=-1 ka]END"
              "HEAD[201 'Created' 1.1 content-length=1 cl=1 body ka]BODY(!)END");
    /* HEAD applies until the final response, 1xx included */
    expect_eq(
        RESP("HEAD", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"),
        "HEAD[100 'Continue' 1.1 cl=-1 ka]ENDHEAD[200 'OK' 1.1 content-length=9 cl=9 ka]END");
}

static void test_response_upgrade_and_connect_tunnel(void **state)
{
    (void)state;
    expect_eq(RESP(NULL, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\n\r\n\x81\x00"),
              "HEAD[101 'Switching Protocols' 1.1 upgrade=websocket connection=Upgrade cl=-1 ka "
              "upgrade]ENDDONE REST(\x81)");
    expect_eq(RESP("CONNECT", "HTTP/1.1 200 Connection established\r\n\r\nTLS"),
              "HEAD[200 'Connection established' 1.1 cl=-1 ka upgrade]ENDDONE REST(TLS)");
    expect_eq(RESP("CONNECT", "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"),
              "HEAD[403 'Forbidden' 1.1 content-length=2 cl=2 body ka]BODY(no)END");
}

static void test_malformed_responses_are_502(void **state)
{
    (void)state;
    expect_prefix(RESP(NULL, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
                  "ERROR 502 ");
    expect_prefix(RESP(NULL, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), "ERROR 502 ");
    expect_prefix(RESP(NULL, "HTTP/1.1 200 OK\nContent-Length: 1\n\nx"),
                  "ERROR 502 line 1 (status line): LF without CR");
    expect_prefix(RESP(NULL, "HTTP/1.1 2000 OK\r\n\r\n"), "ERROR 502 ");
    expect_prefix(RESP(NULL, "HTTP/3.0 200 OK\r\n\r\n"), "ERROR 502 HTTP/3.0 is not supported");
    expect_prefix(RESP(NULL, "ICY 200 OK\r\n\r\n"), "ERROR 502 ");
    expect_eq(RESP_EOF(NULL, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"),
              "HEAD[200 'OK' 1.1 content-length=5 cl=5 body ka]BODY(ab)"
              "ERROR 502 connection closed inside a message body (after 2 body bytes)");
    /* a response with obs-text in its reason is fine */
    expect_eq(RESP(NULL, "HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 0\r\n\r\n"),
              "HEAD[200 'Tr\xe8s bien' 1.1 content-length=0 cl=0 ka]END");
}

/* ---- serialization ---- */

static void test_request_write_round_trips(void **state)
{
    (void)state;
    net_h1_buf_t b = {0};
    net_h2_header_t h[] = {NET_H2_HDR(":authority", "ignored"), NET_H2_HDR("Host", "h.example"),
                           NET_H2_HDR("Transfer-Encoding", "chunked"), NET_H2_HDR("X-Empty", "")};
    assert_int_equal(net_h1_request_write(&b, "POST", "/up?x=1", h, 4), NET_OK);
    assert_int_equal(net_h1_chunk_write(&b, "hello ", 6), NET_OK);
    assert_int_equal(net_h1_chunk_write(&b, "", 0), NET_OK);
    assert_int_equal(net_h1_chunk_write(&b, "world", 5), NET_OK);
    net_h2_header_t tr[] = {NET_H2_HDR("X-Checksum", "abc")};
    assert_int_equal(net_h1_chunk_write_last(&b, tr, 1), NET_OK);
    const char want[] =
        "POST /up?x=1 HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n"
        "X-Empty: \r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\nX-Checksum: abc\r\n\r\n";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);
    expect_eq(run_all(true, NULL, (const char *)b.data, b.len, false, NULL),
              "HEAD[POST /up?x=1 1.1 host=h.example transfer-encoding=chunked x-empty= cl=-1 "
              "chunked body ka]BODY(hello world)END{x-checksum=abc}");
    net_h1_buf_dispose(&b);
}

static void test_response_write_and_parse_back(void **state)
{
    (void)state;
    net_h1_buf_t b = {0};
    net_h2_header_t h[] = {NET_H2_HDR("content-type", "text/plain"),
                           NET_H2_HDR("content-length", "3")};
    assert_int_equal(net_h1_response_write(&b, 200, NULL, h, 2), NET_OK);
    assert_int_equal(net_h1_buf_append(&b, "yes", 3), NET_OK);
    assert_int_equal(net_h1_continue_write(&b), NET_OK);
    assert_int_equal(net_h1_response_write(&b, 299, "Custom Thing", NULL, 0), NET_OK);
    expect_eq(run_all(false, NULL, (const char *)b.data, b.len, true, NULL),
              "HEAD[200 'OK' 1.1 content-type=text/plain content-length=3 cl=3 body ka]BODY(yes)END"
              "HEAD[100 'Continue' 1.1 cl=-1 ka]END"
              "HEAD[299 'Custom Thing' 1.1 cl=-1 body]ENDDONE");
    net_h1_buf_dispose(&b);
}

static void test_serializers_refuse_injection_without_side_effects(void **state)
{
    (void)state;
    net_h1_buf_t b = {0};
    assert_int_equal(net_h1_buf_append(&b, "keep", 4), NET_OK);
    net_h2_header_t crlf[] = {NET_H2_HDR("X-A", "v\r\nInjected: 1")};
    net_h2_header_t lf[] = {NET_H2_HDR("X-A", "v\nx")};
    net_h2_header_t nul[] = {{"X-A", 3, "a\0b", 3}};
    net_h2_header_t sp[] = {NET_H2_HDR("X A", "v")};
    net_h2_header_t colon[] = {NET_H2_HDR("X:A", "v")};
    net_h2_header_t empty_name[] = {{"", 0, "v", 1}};
    assert_int_equal(net_h1_request_write(&b, "GET", "/", crlf, 1), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GET", "/", lf, 1), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GET", "/", nul, 1), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GET", "/", sp, 1), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GET", "/", colon, 1), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GET", "/", empty_name, 1), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GE T", "/", NULL, 0), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GET", "/a b", NULL, 0), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GET", "/a\r\nX: y", NULL, 0), NET_EINVAL);
    assert_int_equal(net_h1_request_write(&b, "GET", "", NULL, 0), NET_EINVAL);
    assert_int_equal(net_h1_response_write(&b, 200, "OK\r\nX: y", NULL, 0), NET_EINVAL);
    assert_int_equal(net_h1_response_write(&b, 99, NULL, NULL, 0), NET_EINVAL);
    assert_int_equal(net_h1_response_write(&b, 200, NULL, crlf, 1), NET_EINVAL);
    assert_int_equal(net_h1_chunk_write_last(&b, lf, 1), NET_EINVAL);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "keep", 4);
    /* HTAB and obs-text are allowed in values */
    net_h2_header_t ok[] = {NET_H2_HDR("X-A", "a\tb \xe9")};
    assert_int_equal(net_h1_response_write(&b, 200, NULL, ok, 1), NET_OK);
    net_h1_buf_dispose(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_error_write_is_a_complete_closing_response(void **state)
{
    (void)state;
    net_h1_buf_t b = {0};
    net_h2_header_t date[] = {NET_H2_HDR("Date", "Sun, 06 Nov 1994 08:49:37 GMT")};
    assert_int_equal(net_h1_error_write(&b, 431, "more than 100 header fields\r\n", date, 1),
                     NET_OK);
    expect_eq(run_all(false, NULL, (const char *)b.data, b.len, false, NULL),
              "HEAD[431 'Request Header Fields Too Large' 1.1 content-type=text/plain; "
              "charset=utf-8 content-length=67 connection=close date=Sun, 06 Nov 1994 08:49:37 GMT "
              "cl=67 body]"
              "BODY(431 Request Header Fields Too Large: more than 100 header fields??\n)ENDDONE");
    net_h1_buf_dispose(&b);
    assert_int_equal(net_h1_error_write(&b, 5, NULL, NULL, 0), NET_EINVAL);
    assert_string_equal(net_h1_status_reason(413), "Content Too Large");
    assert_string_equal(net_h1_status_reason(799), "Unknown");
    assert_true(net_h1_is_token("X-Custom_1!", 11));
    assert_false(net_h1_is_token("a b", 3));
    assert_false(net_h1_is_token("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get_lowercases_names_and_trims_values),
        cmocka_unit_test(test_fields_split_at_the_first_colon),
        cmocka_unit_test(test_special_bytes_deep_in_a_line),
        cmocka_unit_test(test_long_start_lines),
        cmocka_unit_test(test_token_characters),
        cmocka_unit_test(test_pipelined_requests_with_bodies_every_split),
        cmocka_unit_test(test_chunked_trailers_and_extensions),
        cmocka_unit_test(test_leading_empty_lines_are_skipped),
        cmocka_unit_test(test_http10_closes_unless_keep_alive),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_upgrade_stops_and_can_resume_when_declined),
        cmocka_unit_test(test_absolute_form_and_asterisk),
        cmocka_unit_test(test_eof_between_and_inside_messages),
        cmocka_unit_test(test_malformed_requests_fail_with_status_and_reason),
        cmocka_unit_test(test_errors_are_sticky),
        cmocka_unit_test(test_limits_give_414_and_431),
        cmocka_unit_test(test_large_body_is_never_copied),
        cmocka_unit_test(test_response_bodies_by_length_chunked_and_close),
        cmocka_unit_test(test_response_without_body_head_204_304_1xx),
        cmocka_unit_test(test_response_upgrade_and_connect_tunnel),
        cmocka_unit_test(test_malformed_responses_are_502),
        cmocka_unit_test(test_request_write_round_trips),
        cmocka_unit_test(test_response_write_and_parse_back),
        cmocka_unit_test(test_serializers_refuse_injection_without_side_effects),
        cmocka_unit_test(test_error_write_is_a_complete_closing_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
