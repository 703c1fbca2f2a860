/*
 * gRPC framing and header helpers (net/grpc.c). The decoder is proved byte by byte: a stream of
 * messages of several sizes (including empty) is split at every point and fed a byte at a time, and
 * must always yield the same messages; limits and bad prefixes fail before any body is buffered and
 * stay failed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/grpc.h"

/* A stream of framed messages with known contents: message i has sizes[i] bytes of value i+1. */
static const size_t sizes[] = {0, 1, 5, 100, 0, 5000, 3};
#define NMSG (sizeof sizes / sizeof sizes[0])

static uint8_t *build_stream(size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < NMSG; i++)
        total += NET_GRPC_PREFIX_LEN + sizes[i];
    uint8_t *buf = malloc(total), *w = buf;
    assert_non_null(buf);
    for (size_t i = 0; i < NMSG; i++) {
        net_grpc_prefix_write(w, (uint32_t)sizes[i]);
        memset(w + NET_GRPC_PREFIX_LEN, (int)(i + 1), sizes[i]);
        w += NET_GRPC_PREFIX_LEN + sizes[i];
    }
    *len = total;
    return buf;
}

static void check_msg(const net_grpc_decoder_t *d, size_t idx)
{
    size_t len = 99;
    const uint8_t *m = net_grpc_decoder_message(d, &len);
    assert_non_null(m);
    assert_int_equal(len, sizes[idx]);
    for (size_t k = 0; k < len; k++)
        assert_int_equal(m[k], idx + 1);
}

/* Feeds |data| in chunks whose boundaries are |cuts| (sorted), returns messages decoded. */
static size_t feed_all(net_grpc_decoder_t *d, const uint8_t *data, size_t len, size_t chunk)
{
    size_t got = 0, off = 0;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        size_t pos = 0;
        while (pos < n) {
            size_t used = 0;
            int rc = net_grpc_decoder_feed(d, data + off + pos, n - pos, &used);
            assert_true(rc >= 0);
            assert_int_equal(net_grpc_decoder_check(d), NET_OK);
            pos += used;
            if (rc == 1) {
                check_msg(d, got);
                got++;
            } else {
                assert_int_equal(pos, n); /* 0 means every byte was used */
            }
        }
        off += n;
    }
    return got;
}

static void test_decoder_every_split_point_yields_the_same_messages(void **state)
{
    (void)state;
    size_t len;
    uint8_t *s = build_stream(&len);
    for (size_t cut = 0; cut <= len; cut++) {
        net_grpc_decoder_t d;
        net_grpc_decoder_init(&d, 0);
        size_t got = 0;
        const uint8_t *parts[2] = {s, s + cut};
        size_t plen[2] = {cut, len - cut};
        for (int p = 0; p < 2; p++) {
            size_t pos = 0;
            while (pos < plen[p]) {
                size_t used;
                int rc = net_grpc_decoder_feed(&d, parts[p] + pos, plen[p] - pos, &used);
                assert_true(rc >= 0);
                assert_int_equal(net_grpc_decoder_check(&d), NET_OK);
                pos += used;
                if (rc == 1)
                    check_msg(&d, got++);
            }
        }
        /* An empty feed after the last byte must not invent a message. */
        size_t used;
        assert_int_equal(net_grpc_decoder_feed(&d, s, 0, &used), 0);
        assert_int_equal(got, NMSG);
        assert_true(net_grpc_decoder_idle(&d));
        assert_int_equal(d.messages, NMSG);
        net_grpc_decoder_dispose(&d);
    }
    free(s);
}

static void test_decoder_byte_at_a_time_and_whole_buffer(void **state)
{
    (void)state;
    size_t len;
    uint8_t *s = build_stream(&len);
    size_t chunks[] = {1, 2, 3, 4, 5, 6, 7, 16, 4097, len};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        net_grpc_decoder_t d;
        net_grpc_decoder_init(&d, 0);
        assert_int_equal(feed_all(&d, s, len, chunks[c]), NMSG);
        assert_true(net_grpc_decoder_idle(&d));
        net_grpc_decoder_dispose(&d);
    }
    free(s);
}

static void test_decoder_is_not_idle_mid_message_and_reports_truncation(void **state)
{
    (void)state;
    uint8_t buf[8];
    net_grpc_prefix_write(buf, 3);
    buf[5] = 'a';
    net_grpc_decoder_t d;
    net_grpc_decoder_init(&d, 0);
    size_t used;
    const char *msg;
    assert_int_equal(net_grpc_decoder_feed(&d, buf, 2, &used), 0);
    assert_false(net_grpc_decoder_idle(&d));
    assert_int_equal(net_grpc_decoder_status(&d, true, &msg), NET_GRPC_INTERNAL);
    assert_int_equal(net_grpc_decoder_feed(&d, buf + 2, 4, &used), 0);
    assert_false(net_grpc_decoder_idle(&d));
    assert_int_equal(net_grpc_decoder_status(&d, true, &msg), NET_GRPC_INTERNAL);
    assert_non_null(strstr(msg, "1 of 3"));
    assert_int_equal(net_grpc_decoder_status(&d, false, &msg), NET_GRPC_OK);
    net_grpc_decoder_dispose(&d);
}

static void test_decoder_take_moves_the_message_out(void **state)
{
    (void)state;
    uint8_t buf[5 + 4 + 5];
    net_grpc_prefix_write(buf, 4);
    memcpy(buf + 5, "abcd", 4);
    net_grpc_prefix_write(buf + 9, 0);
    net_grpc_decoder_t d;
    net_grpc_decoder_init(&d, 0);
    size_t used, len;
    assert_int_equal(net_grpc_decoder_feed(&d, buf, sizeof buf, &used), 1);
    assert_int_equal(used, 9);
    uint8_t *m = net_grpc_decoder_take(&d, &len);
    assert_non_null(m);
    assert_int_equal(len, 4);
    assert_memory_equal(m, "abcd", 4);
    free(m);
    assert_null(net_grpc_decoder_take(&d, &len));
    assert_int_equal(net_grpc_decoder_feed(&d, buf + 9, 5, &used), 1);
    m = net_grpc_decoder_take(&d, &len);
    assert_non_null(m); /* an empty message is a message */
    assert_int_equal(len, 0);
    free(m);
    net_grpc_decoder_dispose(&d);
}

static void test_decoder_oversized_fails_before_buffering_and_is_sticky(void **state)
{
    (void)state;
    uint8_t buf[5 + 11];
    memset(buf, 'x', sizeof buf);
    net_grpc_decoder_t d;
    /* Exactly at the limit: accepted. */
    net_grpc_decoder_init(&d, 10);
    net_grpc_prefix_write(buf, 10);
    size_t used;
    assert_int_equal(net_grpc_decoder_feed(&d, buf, 15, &used), 1);
    net_grpc_decoder_dispose(&d);
    /* One over: refused as soon as the prefix is whole, with no body byte consumed. */
    net_grpc_decoder_init(&d, 10);
    net_grpc_prefix_write(buf, 11);
    assert_int_equal(net_grpc_decoder_feed(&d, buf, sizeof buf, &used), NET_ETOOBIG);
    assert_int_equal(used, 5);
    assert_null(d.body);
    const char *msg;
    assert_int_equal(net_grpc_decoder_status(&d, false, &msg), NET_GRPC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(msg, "11 vs. 10"));
    assert_int_equal(net_grpc_decoder_feed(&d, buf + 5, 1, &used), NET_ETOOBIG);
    assert_int_equal(used, 0);
    net_grpc_decoder_dispose(&d);
    /* The default limit is 4 MiB. */
    net_grpc_decoder_init(&d, 0);
    net_grpc_prefix_write(buf, NET_GRPC_DEFAULT_MAX_MESSAGE + 1);
    assert_int_equal(net_grpc_decoder_feed(&d, buf, 5, &used), NET_ETOOBIG);
    net_grpc_decoder_dispose(&d);
}

static void test_decoder_buffers_only_what_arrived(void **state)
{
    (void)state;
    uint8_t buf[5 + 10];
    net_grpc_prefix_write(buf, NET_GRPC_DEFAULT_MAX_MESSAGE);
    memset(buf + 5, 'y', 10);
    net_grpc_decoder_t d;
    net_grpc_decoder_init(&d, 0);
    size_t used;
    assert_int_equal(net_grpc_decoder_feed(&d, buf, sizeof buf, &used), 0);
    assert_int_equal(used, sizeof buf);
    assert_true(d.body_cap <= 4096); /* not the declared 4 MiB */
    net_grpc_decoder_dispose(&d);
}

static void test_decoder_bad_prefixes(void **state)
{
    (void)state;
    const char *msg;
    for (int flag = 1; flag < 256; flag++) {
        uint8_t buf[6] = {(uint8_t)flag, 0, 0, 0, 1, 'z'};
        net_grpc_decoder_t d;
        net_grpc_decoder_init(&d, 0);
        size_t used;
        int rc = net_grpc_decoder_feed(&d, buf, sizeof buf, &used);
        assert_int_equal(rc, flag == 1 ? NET_ECOMPRESSED : NET_EPROTO);
        assert_int_equal(net_grpc_decoder_status(&d, false, &msg), NET_GRPC_INTERNAL);
        assert_true(strlen(msg) > 0);
        assert_int_equal(net_grpc_decoder_check(&d), NET_OK);
        /* Sticky whatever comes next, even a valid message. */
        uint8_t ok[5];
        net_grpc_prefix_write(ok, 0);
        assert_int_equal(net_grpc_decoder_feed(&d, ok, 5, &used), rc);
        net_grpc_decoder_dispose(&d);
    }
}

static void test_encode_round_trips_through_the_decoder(void **state)
{
    (void)state;
    uint8_t *out;
    size_t out_len;
    assert_int_equal(net_grpc_encode((const uint8_t *)"hello", 5, &out, &out_len), NET_OK);
    assert_int_equal(out_len, 10);
    assert_memory_equal(out, "\0\0\0\0\5hello", 10);
    net_grpc_decoder_t d;
    net_grpc_decoder_init(&d, 0);
    size_t used, len;
    assert_int_equal(net_grpc_decoder_feed(&d, out, out_len, &used), 1);
    const uint8_t *m = net_grpc_decoder_message(&d, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(m, "hello", 5);
    net_grpc_decoder_dispose(&d);
    free(out);
    uint8_t p[5];
    net_grpc_prefix_write(p, 0x01020304u);
    assert_memory_equal(p, "\0\1\2\3\4", 5);
}

static void test_status_table_and_parse(void **state)
{
    (void)state;
    assert_string_equal(net_grpc_status_name(0), "OK");
    assert_string_equal(net_grpc_status_name(4), "DEADLINE_EXCEEDED");
    assert_string_equal(net_grpc_status_name(12), "UNIMPLEMENTED");
    assert_string_equal(net_grpc_status_name(16), "UNAUTHENTICATED");
    assert_string_equal(net_grpc_status_name(17), "UNKNOWN_STATUS");
    assert_string_equal(net_grpc_status_name(-1), "UNKNOWN_STATUS");
    int c = -1;
    assert_int_equal(net_grpc_status_parse("0", 1, &c), NET_OK);
    assert_int_equal(c, 0);
    assert_int_equal(net_grpc_status_parse("16", 2, &c), NET_OK);
    assert_int_equal(c, 16);
    assert_int_equal(net_grpc_status_parse("99", 2, &c), NET_OK); /* unknown but well-formed */
    const char *bad[] = {"", "01", "-1", "1a", " 1", "12345678901", "2147483648"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(net_grpc_status_parse(bad[i], strlen(bad[i]), &c), NET_EINVAL);
    assert_int_equal(net_grpc_status_from_http(400), NET_GRPC_INTERNAL);
    assert_int_equal(net_grpc_status_from_http(401), NET_GRPC_UNAUTHENTICATED);
    assert_int_equal(net_grpc_status_from_http(403), NET_GRPC_PERMISSION_DENIED);
    assert_int_equal(net_grpc_status_from_http(404), NET_GRPC_UNIMPLEMENTED);
    assert_int_equal(net_grpc_status_from_http(429), NET_GRPC_UNAVAILABLE);
    assert_int_equal(net_grpc_status_from_http(503), NET_GRPC_UNAVAILABLE);
    assert_int_equal(net_grpc_status_from_http(431), NET_GRPC_INTERNAL);
    assert_int_equal(net_grpc_status_from_http(500), NET_GRPC_UNKNOWN);
    assert_int_equal(net_grpc_status_from_h2_error(0x7), NET_GRPC_UNAVAILABLE);
    assert_int_equal(net_grpc_status_from_h2_error(0x8), NET_GRPC_CANCELLED);
    assert_int_equal(net_grpc_status_from_h2_error(0xb), NET_GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(net_grpc_status_from_h2_error(0xc), NET_GRPC_PERMISSION_DENIED);
    assert_int_equal(net_grpc_status_from_h2_error(0x0), NET_GRPC_INTERNAL);
    assert_int_equal(net_grpc_status_from_h2_error(0x1), NET_GRPC_INTERNAL);
}

static void test_message_percent_encoding(void **state)
{
    (void)state;
    const char *in = "50% done\n\xc3\xa9t\xc3\xa9 ~ok";
    char *e = net_grpc_message_encode(in, strlen(in));
    assert_string_equal(e, "50%25 done%0A%C3%A9t%C3%A9 ~ok");
    size_t n;
    char *d = net_grpc_message_decode(e, strlen(e), &n);
    assert_int_equal(n, strlen(in));
    assert_string_equal(d, in);
    free(e);
    free(d);
    /* Every byte value survives the round trip. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    e = net_grpc_message_encode(all, 256);
    for (const char *p = e; *p; p++)
        assert_true(*p >= 0x20 && *p <= 0x7e);
    d = net_grpc_message_decode(e, strlen(e), &n);
    assert_int_equal(n, 256);
    assert_memory_equal(d, all, 256);
    free(e);
    free(d);
    /* Bad escapes are kept, never an error; lowercase hex is accepted. */
    struct {
        const char *in, *out;
    } cases[] = {{"%", "%"},   {"%4", "%4"},   {"%zz", "%zz"},   {"a%4g", "a%4g"},
                 {"%2a", "*"}, {"%%41", "%A"}, {"100%", "100%"}, {"", ""}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d = net_grpc_message_decode(cases[i].in, strlen(cases[i].in), NULL);
        assert_string_equal(d, cases[i].out);
        free(d);
    }
}

static void test_timeout_parse_and_format(void **state)
{
    (void)state;
    struct {
        const char *s;
        uint64_t ns;
    } ok[] = {{"1H", 3600000000000ull},
              {"2M", 120000000000ull},
              {"3S", 3000000000ull},
              {"4m", 4000000ull},
              {"5u", 5000ull},
              {"6n", 6ull},
              {"0n", 0},
              {"99999999n", 99999999ull},
              {"00000010S", 10000000000ull},
              {"99999999H", UINT64_MAX}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t ns = 42;
        assert_int_equal(net_grpc_timeout_parse(ok[i].s, strlen(ok[i].s), &ns), NET_OK);
        assert_true(ns == ok[i].ns);
    }
    const char *bad[] = {"", "S", "1", "1s", "1x", "123456789S", "-1S", "1 S", "1.5S", "+1S"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ns;
        assert_int_equal(net_grpc_timeout_parse(bad[i], strlen(bad[i]), &ns), NET_EINVAL);
    }
    char buf[NET_GRPC_TIMEOUT_BUFLEN];
    struct {
        uint64_t ns;
        const char *s;
    } fmt[] = {{0, "0n"},
               {99999999ull, "99999999n"},
               {100000000ull, "100000u"},
               {100000001ull, "100001u"}, /* rounded up */
               {5000000000ull, "5000000u"},
               {200000000000ull, "200000m"},
               {UINT64_MAX, "5124096H"}};
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        size_t n = net_grpc_timeout_format(fmt[i].ns, buf);
        assert_string_equal(buf, fmt[i].s);
        assert_int_equal(n, strlen(fmt[i].s));
    }
    /* Property: format then parse never shortens the timeout. */
    uint64_t v = 1;
    for (int i = 0; i < 64; i++, v = v * 3 + 7) {
        uint64_t back;
        size_t n = net_grpc_timeout_format(v, buf);
        assert_true(n <= 9);
        assert_int_equal(net_grpc_timeout_parse(buf, n, &back), NET_OK);
        assert_true(back >= v);
    }
}

static void test_content_type(void **state)
{
    (void)state;
    const char *ok[] = {"application/grpc", "application/grpc+proto", "Application/GRPC",
                        "application/grpc; charset=utf-8", "application/grpc+proto ;x=y"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(net_grpc_content_type_ok(ok[i], strlen(ok[i])));
    const char *bad[] = {"",
                         "application/json",
                         "application/grpc+json",
                         "application/grpcx",
                         "application/grpc-web",
                         "application/grp",
                         "text/plain"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(net_grpc_content_type_ok(bad[i], strlen(bad[i])));
    assert_false(net_grpc_content_type_ok(NULL, 0));
}

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(net_err_name(NET_EAGAIN), "NET_EAGAIN");
    assert_string_equal(net_strerror(NET_OK), "success");
    assert_string_equal(net_strerror(-999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder_every_split_point_yields_the_same_messages),
        cmocka_unit_test(test_decoder_byte_at_a_time_and_whole_buffer),
        cmocka_unit_test(test_decoder_is_not_idle_mid_message_and_reports_truncation),
        cmocka_unit_test(test_decoder_take_moves_the_message_out),
        cmocka_unit_test(test_decoder_oversized_fails_before_buffering_and_is_sticky),
        cmocka_unit_test(test_decoder_buffers_only_what_arrived),
        cmocka_unit_test(test_decoder_bad_prefixes),
        cmocka_unit_test(test_encode_round_trips_through_the_decoder),
        cmocka_unit_test(test_status_table_and_parse),
        cmocka_unit_test(test_message_percent_encoding),
        cmocka_unit_test(test_timeout_parse_and_format),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
