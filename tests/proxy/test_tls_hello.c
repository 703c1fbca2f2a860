/*
 * The ClientHello reader (proxy/tls_hello.c): real ClientHellos made by OpenSSL (net/tls.h
 * client objects) give their SNI whole, one byte at a time and re-framed into records of every
 * size; a ClientHello without SNI gives ""; and each malformed or oversized input is refused with
 * a sentence that names what and where, never reading past the input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/tls.h"
#include "proxy/tls_hello.h"

/* The first flight of an OpenSSL client sending SNI |name| (NULL: none). */
static uint8_t *client_hello(const char *name, size_t *len)
{
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    net_tls_config_t cc = {.insecure_skip_verify = true, .alpn = alpn};
    int err;
    net_tls_ctx_t *ctx = net_tls_ctx_new(false, &cc, &err);
    assert_non_null(ctx);
    net_tls_t *t = net_tls_new(ctx, name, &err);
    assert_non_null(t);
    assert_int_equal(net_tls_handshake(t), NET_EAGAIN);
    *len = net_tls_pending(t);
    uint8_t *out = malloc(*len);
    size_t n;
    net_tls_pull(t, out, *len, &n);
    assert_int_equal(n, *len);
    net_tls_free(t);
    net_tls_ctx_release(ctx);
    return out;
}

/* Re-frames the handshake bytes of a one-record ClientHello into records of |size| bytes. */
static uint8_t *reframe(const uint8_t *in, size_t len, size_t size, size_t *out_len)
{
    size_t hs = len - 5;
    size_t nrec = (hs + size - 1) / size;
    uint8_t *out = malloc(hs + 5 * nrec);
    size_t o = 0;
    for (size_t i = 0; i < hs; i += size) {
        size_t n = hs - i < size ? hs - i : size;
        out[o++] = 22;
        out[o++] = 3;
        out[o++] = 1;
        out[o++] = (uint8_t)(n >> 8);
        out[o++] = (uint8_t)n;
        memcpy(out + o, in + 5 + i, n);
        o += n;
    }
    *out_len = o;
    return out;
}

static void test_real_client_hello_gives_its_sni(void **state)
{
    (void)state;
    size_t len;
    uint8_t *ch = client_hello("Foo.Example.com", &len);
    proxy_tls_hello_t h;
    assert_int_equal(proxy_tls_hello_parse(ch, len, &h), PROXY_TLS_HELLO_OK);
    assert_string_equal(h.sni, "foo.example.com");
    assert_int_equal(h.consumed, len);
    /* Bytes after the ClientHello (the client's next records) do not matter. */
    uint8_t *more = malloc(len + 10);
    memcpy(more, ch, len);
    memset(more + len, 0x17, 10);
    assert_int_equal(proxy_tls_hello_parse(more, len + 10, &h), PROXY_TLS_HELLO_OK);
    assert_int_equal(h.consumed, len);
    free(more);
    free(ch);
    ch = client_hello(NULL, &len);
    assert_int_equal(proxy_tls_hello_parse(ch, len, &h), PROXY_TLS_HELLO_OK);
    assert_string_equal(h.sni, "");
    free(ch);
    ch = client_hello("127.0.0.1", &len); /* an IP address is never sent as SNI */
    assert_int_equal(proxy_tls_hello_parse(ch, len, &h), PROXY_TLS_HELLO_OK);
    assert_string_equal(h.sni, "");
    free(ch);
}

static void test_every_prefix_asks_for_more(void **state)
{
    (void)state;
    size_t len;
    uint8_t *ch = client_hello("a.example.com", &len);
    proxy_tls_hello_t h;
    for (size_t i = 0; i < len; i++)
        assert_int_equal(proxy_tls_hello_parse(ch, i, &h), PROXY_TLS_HELLO_MORE);
    assert_int_equal(proxy_tls_hello_parse(ch, len, &h), PROXY_TLS_HELLO_OK);
    assert_string_equal(h.sni, "a.example.com");
    free(ch);
}

static void test_client_hello_split_across_records(void **state)
{
    (void)state;
    size_t len;
    uint8_t *ch = client_hello("split.example.com", &len);
    assert_true(((size_t)ch[3] << 8 | ch[4]) == len - 5); /* one record */
    for (size_t size = 1; size < len; size += size < 8 ? 1 : 37) {
        size_t rlen;
        uint8_t *r = reframe(ch, len, size, &rlen);
        proxy_tls_hello_t h;
        assert_int_equal(proxy_tls_hello_parse(r, rlen - 1, &h), PROXY_TLS_HELLO_MORE);
        assert_int_equal(proxy_tls_hello_parse(r, rlen, &h), PROXY_TLS_HELLO_OK);
        assert_string_equal(h.sni, "split.example.com");
        assert_int_equal(h.consumed, rlen);
        free(r);
    }
    free(ch);
}

/* A synthetic ClientHello: |ext| (extensions block content, |elen| bytes) after minimal fields. */
static size_t synth(uint8_t *out, const uint8_t *ext, size_t elen, bool with_ext_block)
{
    uint8_t body[20000];
    size_t b = 0;
    body[b++] = 3;
    body[b++] = 3;
    memset(body + b, 7, 32);
    b += 32;
    body[b++] = 0; /* session id */
    body[b++] = 0;
    body[b++] = 2;
    body[b++] = 0x13;
    body[b++] = 0x01; /* one cipher suite */
    body[b++] = 1;
    body[b++] = 0; /* null compression */
    if (with_ext_block) {
        body[b++] = (uint8_t)(elen >> 8);
        body[b++] = (uint8_t)elen;
        memcpy(body + b, ext, elen);
        b += elen;
    }
    size_t o = 0;
    out[o++] = 22;
    out[o++] = 3;
    out[o++] = 1;
    out[o++] = (uint8_t)((b + 4) >> 8);
    out[o++] = (uint8_t)(b + 4);
    out[o++] = 1;
    out[o++] = (uint8_t)(b >> 16);
    out[o++] = (uint8_t)(b >> 8);
    out[o++] = (uint8_t)b;
    memcpy(out + o, body, b);
    return o + b;
}

/* server_name extension bytes for host names |names| (count n). */
static size_t sni_ext(uint8_t *out, const char *const *names, size_t n)
{
    size_t list = 0;
    for (size_t i = 0; i < n; i++)
        list += 3 + strlen(names[i]);
    size_t o = 0;
    out[o++] = 0;
    out[o++] = 0;
    out[o++] = (uint8_t)((list + 2) >> 8);
    out[o++] = (uint8_t)(list + 2);
    out[o++] = (uint8_t)(list >> 8);
    out[o++] = (uint8_t)list;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        out[o++] = 0;
        out[o++] = (uint8_t)(l >> 8);
        out[o++] = (uint8_t)l;
        memcpy(out + o, names[i], l);
        o += l;
    }
    return o;
}

static void expect_bad(const uint8_t *in, size_t len, const char *why)
{
    proxy_tls_hello_t h;
    assert_int_equal(proxy_tls_hello_parse(in, len, &h), PROXY_TLS_HELLO_EBAD);
    if (!strstr(h.why, why))
        fail_msg("why \"%s\" does not contain \"%s\"", h.why, why);
    assert_string_equal(h.sni, "");
    /* Exactly |len| bytes: a copy without slack, so ASan sees any overread. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, in, len);
    assert_int_equal(proxy_tls_hello_parse(copy, len, &h), PROXY_TLS_HELLO_EBAD);
    free(copy);
}

static void test_synthetic_hellos_good_and_bad(void **state)
{
    (void)state;
    static uint8_t in[40000], ext[20000];
    proxy_tls_hello_t h;
    const char *one[] = {"synth.test."};
    size_t e = sni_ext(ext, one, 1);
    size_t n = synth(in, ext, e, true);
    assert_int_equal(proxy_tls_hello_parse(in, n, &h), PROXY_TLS_HELLO_OK);
    assert_string_equal(h.sni, "synth.test");
    n = synth(in, NULL, 0, false); /* no extensions block */
    assert_int_equal(proxy_tls_hello_parse(in, n, &h), PROXY_TLS_HELLO_OK);
    assert_string_equal(h.sni, "");

    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_bad((const uint8_t *)http, strlen(http), "record type 71");
    expect_bad((const uint8_t *)"G", 1, "record type 71");
    expect_bad((const uint8_t *)"\x16\x02", 2, "version major 2");
    expect_bad((const uint8_t *)"\x16\x03\x01\x00\x00", 5, "record length 0");
    expect_bad((const uint8_t *)"\x16\x03\x01\x40\x01", 5, "record length 16385");
    expect_bad((const uint8_t *)"\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9, "type 2");
    expect_bad((const uint8_t *)"\x16\x03\x01\x00\x04\x01\x00\x40\x01", 9, "16385 bytes");
    /* Two host names; two server_name extensions; a bad byte; an empty name. */
    const char *two[] = {"a.test", "b.test"};
    e = sni_ext(ext, two, 2);
    expect_bad(in, synth(in, ext, e, true), "two host names");
    e = sni_ext(ext, one, 1);
    memcpy(ext + e, ext, e);
    expect_bad(in, synth(in, ext, 2 * e, true), "two server_name");
    const char *evil[] = {"a\r\nb.test"};
    e = sni_ext(ext, evil, 1);
    expect_bad(in, synth(in, ext, e, true), "0x0d is not allowed");
    const char *empty[] = {""};
    e = sni_ext(ext, empty, 1);
    expect_bad(in, synth(in, ext, e, true), "host name of 0 bytes");
    /* An extension longer than the block; a block length that does not match. */
    e = sni_ext(ext, one, 1);
    ext[3] += 5;
    expect_bad(in, synth(in, ext, e, true), "overruns");
    e = sni_ext(ext, one, 1);
    n = synth(in, ext, e, true);
    in[9 + 2 + 32 + 1 + 2 + 2 + 1 + 1] ^= 1; /* the low byte of the extensions length */
    expect_bad(in, n, "length does not match");
    /* Cipher suites of odd length. */
    n = synth(in, NULL, 0, false);
    in[9 + 2 + 32 + 1 + 1] = 3;
    expect_bad(in, n, "cipher suites");
    /* A record that carries more than the ClientHello. */
    e = sni_ext(ext, one, 1);
    n = synth(in, ext, e, true);
    in[4] += 1;
    in[n] = 0;
    expect_bad(in, n + 1, "more than the ClientHello");
    /* A big ClientHello (a padding extension) in 1-byte records exceeds the input bound. */
    memset(ext, 0, 8000);
    ext[0] = 0;
    ext[1] = 21; /* padding */
    ext[2] = (uint8_t)((8000 - 4) >> 8);
    ext[3] = (uint8_t)(8000 - 4);
    n = synth(in, ext, 8000, true);
    assert_int_equal(proxy_tls_hello_parse(in, n, &h), PROXY_TLS_HELLO_OK);
    static uint8_t frag[60000];
    size_t flen;
    uint8_t *r = reframe(in, n, 1, &flen);
    assert_true(flen <= sizeof frag);
    expect_bad(r, flen, "not complete within");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_client_hello_gives_its_sni),
        cmocka_unit_test(test_every_prefix_asks_for_more),
        cmocka_unit_test(test_client_hello_split_across_records),
        cmocka_unit_test(test_synthetic_hellos_good_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
