/*
 * libFuzzer target for gRPC framing and header helpers (net/grpc.c). The input's first byte picks a
 * chunk size and the second a message-size limit; the rest is decoded twice, whole and in chunks,
 * and both decodings must agree message for message and on the final error. Re-encoding each
 * message must give back the bytes it came from. The same input is also thrown at the grpc-message,
 * grpc-timeout, grpc-status and content-type parsers, whose round-trip properties are checked.
 * Needs library: krtgate_net (libuv, nghttp2, OpenSSL come with it but are not used here).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/grpc.h"

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

typedef struct {
    size_t n;
    uint64_t sum; /* a cheap digest of every message, in order */
    int err;
} result_t;

static void mix(result_t *r, const uint8_t *m, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ len;
    for (size_t i = 0; i < len; i++)
        h = (h ^ m[i]) * 1099511628211ull;
    r->sum = r->sum * 31 + h;
    r->n++;
}

static void decode(const uint8_t *data, size_t len, size_t chunk, size_t max, result_t *r)
{
    net_grpc_decoder_t d;
    net_grpc_decoder_init(&d, max);
    memset(r, 0, sizeof *r);
    size_t off = 0;
    while (off < len && r->err == 0) {
        size_t n = len - off < chunk ? len - off : chunk;
        size_t pos = 0;
        while (pos < n) {
            size_t used = 0;
            int rc = net_grpc_decoder_feed(&d, data + off + pos, n - pos, &used);
            CHECK(used <= n - pos);
            CHECK(net_grpc_decoder_check(&d) == NET_OK);
            pos += used;
            if (rc < 0) {
                r->err = rc;
                const char *msg;
                int st = net_grpc_decoder_status(&d, false, &msg);
                CHECK(st == (rc == NET_ETOOBIG ? NET_GRPC_RESOURCE_EXHAUSTED : NET_GRPC_INTERNAL));
                break;
            }
            if (rc == 1) {
                size_t mlen;
                const uint8_t *m = net_grpc_decoder_message(&d, &mlen);
                CHECK(m && mlen <= (max ? max : NET_GRPC_DEFAULT_MAX_MESSAGE));
                /* The message and its prefix are exactly the bytes just consumed. */
                uint8_t *enc;
                size_t elen;
                CHECK(net_grpc_encode(m, mlen, &enc, &elen) == NET_OK);
                CHECK(elen == mlen + NET_GRPC_PREFIX_LEN);
                free(enc);
                mix(r, m, mlen);
            } else {
                CHECK(pos == n);
            }
        }
        off += n;
    }
    net_grpc_decoder_dispose(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    size_t max = (size_t)data[1] * 4; /* 0 means the 4 MiB default */
    data += 2;
    size -= 2;

    result_t whole, parts;
    decode(data, size, size ? size : 1, max, &whole);
    decode(data, size, chunk, max, &parts);
    CHECK(whole.n == parts.n && whole.sum == parts.sum && whole.err == parts.err);

    /* grpc-message: decode never fails; encode output is printable and decodes back. */
    size_t dlen;
    char *dec = net_grpc_message_decode((const char *)data, size, &dlen);
    CHECK(dec && dlen <= size);
    char *enc = net_grpc_message_encode((const char *)data, size);
    CHECK(enc);
    for (const char *p = enc; *p; p++)
        CHECK(*p >= 0x20 && *p <= 0x7e);
    char *back = net_grpc_message_decode(enc, strlen(enc), &dlen);
    CHECK(back && dlen == size && memcmp(back, data, size) == 0);
    free(dec);
    free(enc);
    free(back);

    /* grpc-timeout: anything parsed re-formats to a value that parses and is not shorter. */
    uint64_t ns;
    if (net_grpc_timeout_parse((const char *)data, size, &ns) == NET_OK) {
        char buf[NET_GRPC_TIMEOUT_BUFLEN];
        size_t n = net_grpc_timeout_format(ns, buf);
        uint64_t again;
        CHECK(net_grpc_timeout_parse(buf, n, &again) == NET_OK);
        CHECK(again >= ns || ns > 99999999ull * 3600ull * 1000000000ull / 2);
    }
    int code;
    if (net_grpc_status_parse((const char *)data, size, &code) == NET_OK)
        CHECK(code >= 0);
    (void)net_grpc_content_type_ok((const char *)data, size);
    return 0;
}
