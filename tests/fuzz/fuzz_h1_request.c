/*
 * libFuzzer target for the HTTP/1.1 request parser (net/h1.c). The first input byte picks a chunk
 * size and small limits; the rest is parsed as a stream of requests twice, whole and in chunks,
 * by a caller that keeps unconsumed bytes the way a connection does. Both runs must agree on a
 * digest of every event (heads, body bytes, ends, trailers, the final error status), the parser's
 * invariants must hold after every call, and body events must point into the input. Every head
 * that parses is written back with net_h1_request_write and parsed again: it must give the same
 * method, target and fields. Every head that parses must also be one http-parser accepts when
 * it reads the whole head (net/h1.c gives it the start line only and splits the fields itself:
 * this is the check that no field check of http-parser's was lost). The same bytes are also
 * parsed as responses (no crash, invariants).
 * Needs library: krtgate_net (and through it http-parser; libuv, nghttp2 and OpenSSL are linked
 * but not used here).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "net/h1.h"

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

typedef struct digest {
    uint64_t h;
    size_t events;
    int error;
} digest_t;

static void mix(digest_t *d, const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t h = d->h ^ (1469598103934665603ull + len);
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    d->h = h;
}

static void mix_str(digest_t *d, const char *s)
{
    mix(d, s ? s : "(null)", s ? strlen(s) + 1 : 7);
}

static void mix_fields(digest_t *d, const net_h2_header_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(strlen(h[i].name) == h[i].name_len && strlen(h[i].value) == h[i].value_len);
        CHECK(net_h1_is_token(h[i].name, h[i].name_len));
        for (size_t k = 0; k < h[i].name_len; k++)
            CHECK(h[i].name[k] < 'A' || h[i].name[k] > 'Z');
        mix_str(d, h[i].name);
        mix_str(d, h[i].value);
    }
}

/* Writes |m| back as a request and parses it again: the head must survive unchanged. */
static void round_trip(const net_h1_message_t *m)
{
    net_h1_buf_t b = {0};
    CHECK(net_h1_request_write(&b, m->method, m->target, m->headers, m->nheaders) == NET_OK);
    /* HTTP/1.0 requests come back as HTTP/1.1, with other keep-alive rules: skip them. */
    if (m->minor_version == 0) {
        net_h1_buf_dispose(&b);
        return;
    }
    int err;
    net_h1_parser_t *p = net_h1_parser_new(true, NULL, &err);
    CHECK(p);
    net_h1_event_t ev;
    size_t used = net_h1_parser_feed(p, b.data, b.len, &ev);
    CHECK(ev.kind == NET_H1_EV_HEAD && used == b.len);
    const net_h1_message_t *r = net_h1_parser_message(p);
    CHECK(strcmp(r->method, m->method) == 0 && strcmp(r->target, m->target) == 0);
    CHECK(r->nheaders == m->nheaders);
    for (size_t i = 0; i < r->nheaders; i++) {
        CHECK(strcmp(r->headers[i].name, m->headers[i].name) == 0);
        CHECK(strcmp(r->headers[i].value, m->headers[i].value) == 0);
    }
    CHECK(r->content_length == m->content_length && r->chunked == m->chunked);
    CHECK(r->keep_alive == m->keep_alive && r->upgrade == m->upgrade);
    net_h1_parser_free(p);
    net_h1_buf_dispose(&b);
}

static int hp_skip_body(http_parser *hp)
{
    (void)hp;
    return 1;
}

/* The original bytes of a head net/h1.c accepted (leading empty lines included): http-parser,
 * over all of it at once, accepts them too and stops exactly at their end. */
static void http_parser_agrees(bool server, const uint8_t *head, size_t len)
{
    static const http_parser_settings settings = {.on_headers_complete = hp_skip_body};
    http_parser hp;
    http_parser_init(&hp, server ? HTTP_REQUEST : HTTP_RESPONSE);
    size_t n = http_parser_execute(&hp, &settings, (const char *)head, len);
    CHECK(HTTP_PARSER_ERRNO(&hp) == HPE_OK && n == len);
}

static void parse(bool server, const uint8_t *data, size_t len, size_t chunk,
                  const net_h1_config_t *cfg, digest_t *d, bool check_heads)
{
    int err;
    net_h1_parser_t *p = net_h1_parser_new(server, cfg, &err);
    CHECK(p);
    memset(d, 0, sizeof *d);
    uint8_t *pending = malloc(len + 1);
    CHECK(pending);
    size_t npending = 0, off = 0;
    bool stopped = false;
    while (!stopped && off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        memcpy(pending + npending, data + off, n);
        npending += n;
        off += n;
        size_t pos = 0;
        for (int guard = 0; guard < 1000000; guard++) {
            net_h1_event_t ev;
            size_t used = net_h1_parser_feed(p, pending + pos, npending - pos, &ev);
            CHECK(used <= npending - pos);
            CHECK(net_h1_parser_check(p) == NET_OK);
            /* whole input: a head's bytes are all at hand, as the event's |used| */
            if (ev.kind == NET_H1_EV_HEAD && check_heads && used > 0)
                http_parser_agrees(server, pending + pos, used);
            pos += used;
            if (ev.kind == NET_H1_EV_NEED_MORE) {
                CHECK(pos == npending);
                break;
            }
            if (ev.kind != NET_H1_EV_BODY) { /* body pieces depend on the chunking */
                d->events++;
                mix(d, &ev.kind, sizeof ev.kind);
            }
            if (ev.kind == NET_H1_EV_HEAD) {
                const net_h1_message_t *m = net_h1_parser_message(p);
                mix_str(d, m->method);
                mix_str(d, m->target);
                mix(d, &m->status, sizeof m->status);
                mix(d, &m->content_length, sizeof m->content_length);
                mix_fields(d, m->headers, m->nheaders);
                if (check_heads && server)
                    round_trip(m);
            } else if (ev.kind == NET_H1_EV_BODY) {
                CHECK(ev.len > 0 && ev.data >= pending && ev.data + ev.len <= pending + npending);
                /* bodies are hashed byte-wise so chunking does not change the digest */
                for (size_t i = 0; i < ev.len; i++)
                    mix(d, ev.data + i, 1);
            } else if (ev.kind == NET_H1_EV_END) {
                size_t nt;
                const net_h2_header_t *t = net_h1_parser_trailers(p, &nt);
                mix_fields(d, t, nt);
            } else if (ev.kind == NET_H1_EV_ERROR) {
                d->error = net_h1_parser_error_status(p);
                CHECK(d->error >= 400 && d->error <= 505);
                mix_str(d, net_h1_parser_error(p));
                stopped = true;
                break;
            } else if (ev.kind == NET_H1_EV_DONE) {
                stopped = true;
                break;
            }
        }
        memmove(pending, pending + pos, npending - pos);
        npending -= pos;
    }
    if (!stopped) {
        net_h1_event_t ev;
        for (int i = 0; i < 4; i++) {
            net_h1_parser_finish(p, &ev);
            CHECK(net_h1_parser_check(p) == NET_OK);
            mix(d, &ev.kind, sizeof ev.kind);
            if (ev.kind == NET_H1_EV_DONE || ev.kind == NET_H1_EV_ERROR)
                break;
        }
    }
    free(pending);
    net_h1_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    size_t chunk = (size_t)(sel & 0x0f) + 1;
    net_h1_config_t cfg;
    net_h1_config_default(&cfg);
    if (sel & 0x10) {
        cfg.max_head = 96;
        cfg.max_headers = 4;
        cfg.max_chunk_line = 12;
    }
    digest_t whole, pieces;
    parse(true, data, size, size ? size : 1, &cfg, &whole, true);
    parse(true, data, size, chunk, &cfg, &pieces, false);
    CHECK(whole.h == pieces.h && whole.events == pieces.events && whole.error == pieces.error);
    /* The same bytes as responses, with and without a HEAD request in front. */
    parse(false, data, size, chunk, &cfg, &pieces, false);
    return 0;
}
