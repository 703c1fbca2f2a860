/*
 * libFuzzer target for the HTTP/2 server session (net/h2.c) fed by an arbitrary peer: the input
 * (after the client preface, which is prepended so the fuzzer reaches frames) is cut into chunks
 * whose sizes come from the input itself and fed to a server session whose handler answers every
 * request with headers, a body written in pieces, trailers, or a reset. After every chunk the
 * session's output is pulled, its invariants are checked (net_h2_session_check) and its queued
 * bytes must stay within the configured caps. Crashes, sanitizer reports and abort() are bugs.
 * Needs library: krtgate_net (nghttp2; libuv and OpenSSL are linked but unused here).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/h2.h"

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void on_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                       size_t n, void *ud)
{
    (void)s;
    (void)ud;
    for (size_t i = 0; i < n; i++)
        CHECK(strlen(h[i].name) == h[i].name_len);
    if (kind != NET_H2_REQUEST)
        return;
    const net_h2_header_t *p = net_h2_header_find(h, n, ":path");
    unsigned mode = p && p->value_len ? (unsigned char)p->value[p->value_len - 1] % 4 : 0;
    net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
    switch (mode) {
    case 0: /* Trailers-Only */
        net_h2_stream_respond(st, rh, 1, true);
        break;
    case 1: /* streamed body + trailers at the end of the request */
        net_h2_stream_respond(st, rh, 1, false);
        net_h2_stream_set_user(st, st);
        break;
    case 2:
        net_h2_stream_reset(st, 0x8);
        break;
    default: /* no answer */
        break;
    }
}

static void on_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *data, size_t len,
                    void *ud)
{
    (void)s;
    (void)ud;
    if (net_h2_stream_user(st))
        (void)net_h2_stream_write(st, data, len); /* NET_EAGAIN over the caps is fine */
}

static void on_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    if (net_h2_stream_user(st)) {
        net_h2_header_t tr[] = {NET_H2_HDR("grpc-status", "0")};
        (void)net_h2_stream_end(st, tr, 1);
    }
}

static void on_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)s;
    (void)st;
    (void)code;
    (void)ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    data++;
    size--;
    net_h2_config_t cfg;
    net_h2_config_default(&cfg);
    cfg.stream_output_cap = 4096;
    cfg.session_output_cap = 16384;
    cfg.max_concurrent_streams = 8;
    net_h2_callbacks_t cb = {
        .on_headers = on_headers, .on_data = on_data, .on_end = on_end, .on_close = on_close};
    int err;
    net_h2_session_t *s = net_h2_session_new(true, &cfg, &cb, NULL, &err);
    CHECK(s);
    uint8_t out[4096];
    size_t n;
    int rc = net_h2_session_recv(s, (const uint8_t *)preface, sizeof preface - 1);
    CHECK(rc == NET_OK);
    for (size_t off = 0; off < size; off += chunk) {
        size_t k = size - off < chunk ? size - off : chunk;
        rc = net_h2_session_recv(s, data + off, k);
        CHECK(net_h2_session_check(s) == NET_OK);
        for (int i = 0; i < 64; i++) {
            if (net_h2_session_pull(s, out, sizeof out, &n) != NET_OK || n == 0)
                break;
        }
        CHECK(net_h2_session_check(s) == NET_OK);
        /* caps + one write + one frame of mem_send output */
        CHECK(net_h2_session_queued(s) <= cfg.session_output_cap + chunk + 65536);
        if (rc != NET_OK)
            break;
    }
    if (size % 3 == 0)
        (void)net_h2_session_shutdown(s);
    while (net_h2_session_pull(s, out, sizeof out, &n) == NET_OK && n > 0)
        ;
    net_h2_session_free(s);
    return 0;
}
