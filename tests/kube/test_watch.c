/*
 * The watch decoder (kube/watch.c): a stream of watch events cut at every possible byte boundary
 * decodes to the same events; bookmarks carry their resourceVersion; an ERROR with a 410 Status
 * asks for a relist while other errors do not; blank lines and CRLF are tolerated; malformed JSON,
 * unknown types and over-long lines are sticky errors that name the offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/watch.h"

typedef struct seen {
    char log[4096];
    size_t n;
    int stop_after; /* 0: never */
} seen_t;

static int record(const kube_watch_event_t *ev, void *ud)
{
    seen_t *s = ud;
    const char *name =
        json_string_value(json_object_get(json_object_get(ev->object, "metadata"), "name"));
    size_t l = strlen(s->log);
    snprintf(s->log + l, sizeof s->log - l, "%s %s rv=%s code=%d relist=%d off=%llu;",
             kube_watch_type_name(ev->type), name ? name : "-",
             ev->resource_version ? ev->resource_version : "-", ev->code, ev->relist,
             (unsigned long long)ev->offset);
    s->n++;
    if (s->stop_after && (int)s->n == s->stop_after)
        return 42;
    return 0;
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\","
    "\"resourceVersion\":\"10\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"11\"},"
    "\"spec\":{\"s\":\"x\\ny\"}}}\r\n"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"15\"}}}\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"16\"}}}\n"
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
    "\"Expired\",\"code\":410,\"message\":\"too old resource version: 1 (16)\"}}\n";

static void decode_split(const char *s, size_t n, size_t cut1, size_t cut2, seen_t *out)
{
    kube_watch_decoder_t d;
    kube_watch_decoder_init(&d, 0);
    memset(out, 0, sizeof *out);
    assert_int_equal(kube_watch_decoder_feed(&d, s, cut1, record, out), KUBE_OK);
    assert_int_equal(kube_watch_decoder_check(&d), KUBE_OK);
    assert_int_equal(kube_watch_decoder_feed(&d, s + cut1, cut2 - cut1, record, out), KUBE_OK);
    assert_int_equal(kube_watch_decoder_check(&d), KUBE_OK);
    assert_int_equal(kube_watch_decoder_feed(&d, s + cut2, n - cut2, record, out), KUBE_OK);
    assert_int_equal(kube_watch_decoder_finish(&d, record, out), KUBE_OK);
    assert_int_equal(kube_watch_decoder_check(&d), KUBE_OK);
    kube_watch_decoder_dispose(&d);
}

static void test_events_decode_in_order_with_types_rv_and_offsets(void **state)
{
    (void)state;
    seen_t s;
    decode_split(stream, strlen(stream), 0, 0, &s);
    assert_int_equal(s.n, 5);
    char want[1024];
    size_t l1 = strchr(stream, '\n') - stream + 1;
    size_t l2 = strchr(stream + l1, '\n') - stream + 1;
    size_t l3 = l2 + 1;
    size_t l4 = strchr(stream + l3, '\n') - stream + 1;
    size_t l5 = strchr(stream + l4, '\n') - stream + 1;
    snprintf(want, sizeof want,
             "ADDED a rv=10 code=0 relist=0 off=0;MODIFIED a rv=11 code=0 relist=0 off=%zu;"
             "BOOKMARK - rv=15 code=0 relist=0 off=%zu;DELETED a rv=16 code=0 relist=0 off=%zu;"
             "ERROR - rv=- code=410 relist=1 off=%zu;",
             l1, l3, l4, l5);
    assert_string_equal(s.log, want);
}

static void test_every_two_cuts_give_the_same_events(void **state)
{
    (void)state;
    seen_t ref, s;
    size_t n = strlen(stream);
    decode_split(stream, n, 0, 0, &ref);
    for (size_t a = 0; a <= n; a += 5)
        for (size_t b = a; b <= n; b += 11) {
            decode_split(stream, n, a, b, &s);
            assert_string_equal(s.log, ref.log);
        }
    /* and one byte at a time */
    kube_watch_decoder_t d;
    kube_watch_decoder_init(&d, 0);
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(kube_watch_decoder_feed(&d, stream + i, 1, record, &s), KUBE_OK);
        assert_int_equal(kube_watch_decoder_check(&d), KUBE_OK);
    }
    assert_int_equal(kube_watch_decoder_finish(&d, record, &s), KUBE_OK);
    assert_string_equal(s.log, ref.log);
    kube_watch_decoder_dispose(&d);
}

static void test_every_single_cut_gives_the_same_events(void **state)
{
    (void)state;
    seen_t ref, s;
    size_t n = strlen(stream);
    decode_split(stream, n, 0, 0, &ref);
    for (size_t a = 0; a <= n; a++) {
        decode_split(stream, n, a, a, &s);
        assert_string_equal(s.log, ref.log);
    }
}

static void test_last_line_without_newline_is_decoded_at_finish(void **state)
{
    (void)state;
    const char *t = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}}}";
    kube_watch_decoder_t d;
    kube_watch_decoder_init(&d, 0);
    seen_t s = {0};
    assert_int_equal(kube_watch_decoder_feed(&d, t, strlen(t), record, &s), KUBE_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(kube_watch_decoder_finish(&d, record, &s), KUBE_OK);
    assert_string_equal(s.log, "BOOKMARK - rv=7 code=0 relist=0 off=0;");
    kube_watch_decoder_dispose(&d);
}

static void test_error_other_than_410_does_not_ask_for_relist(void **state)
{
    (void)state;
    const char *t = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,"
                    "\"reason\":\"InternalError\"}}\n"
                    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"reason\":\"Gone\"}}\n";
    kube_watch_decoder_t d;
    kube_watch_decoder_init(&d, 0);
    seen_t s = {0};
    assert_int_equal(kube_watch_decoder_feed(&d, t, strlen(t), record, &s), KUBE_OK);
    assert_non_null(strstr(s.log, "ERROR - rv=- code=500 relist=0"));
    assert_non_null(strstr(s.log, "ERROR - rv=- code=0 relist=1"));
    kube_watch_decoder_dispose(&d);
}

static void test_malformed_json_is_a_sticky_error_naming_the_offset(void **state)
{
    (void)state;
    const char *t =
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}}}\n"
        "{\"type\":\"ADDED\",\"object\":{]}\n"
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"8\"}}}\n";
    kube_watch_decoder_t d;
    kube_watch_decoder_init(&d, 0);
    seen_t s = {0};
    assert_int_equal(kube_watch_decoder_feed(&d, t, strlen(t), record, &s), KUBE_EOBJECT);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(d.error, "watch stream offset 9"));
    assert_non_null(strstr(d.error, "malformed JSON"));
    assert_int_equal(kube_watch_decoder_check(&d), KUBE_OK);
    /* sticky */
    assert_int_equal(kube_watch_decoder_feed(&d, "\n", 1, record, &s), KUBE_EOBJECT);
    assert_int_equal(kube_watch_decoder_finish(&d, record, &s), KUBE_EOBJECT);
    assert_int_equal(s.n, 1);
    kube_watch_decoder_dispose(&d);
}

static void test_bad_events_are_rejected_with_what_was_wrong(void **state)
{
    (void)state;
    static const struct {
        const char *line, *msg;
    } cases[] = {
        {"[1,2]\n", "no string \"type\""},
        {"{\"object\":{}}\n", "no string \"type\""},
        {"{\"type\":\"SYNC\",\"object\":{}}\n", "unknown event type \"SYNC\""},
        {"{\"type\":\"ADDED\",\"object\":3}\n", "\"object\" is not an object"},
        {"{\"type\":\"BOOKMARK\",\"object\":{}}\n", "BOOKMARK event without"},
        {"{\"type\":\"ADDED\",\"type\":\"ADDED\",\"object\":{}}\n", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kube_watch_decoder_t d;
        kube_watch_decoder_init(&d, 0);
        seen_t s = {0};
        assert_int_equal(
            kube_watch_decoder_feed(&d, cases[i].line, strlen(cases[i].line), record, &s),
            KUBE_EOBJECT);
        assert_int_equal(s.n, 0);
        if (!strstr(d.error, cases[i].msg))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, d.error, cases[i].msg);
        kube_watch_decoder_dispose(&d);
    }
}

static void test_line_over_the_limit_is_an_error_even_in_pieces(void **state)
{
    (void)state;
    kube_watch_decoder_t d;
    kube_watch_decoder_init(&d, 72);
    seen_t s = {0};
    const char *ok =
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}";
    assert_true(strlen(ok) <= 72);
    assert_int_equal(kube_watch_decoder_feed(&d, ok, strlen(ok), record, &s), KUBE_OK);
    assert_int_equal(kube_watch_decoder_feed(&d, "\n", 1, record, &s), KUBE_OK);
    assert_int_equal(s.n, 1);
    char big[40];
    memset(big, ' ', sizeof big);
    assert_int_equal(kube_watch_decoder_feed(&d, big, sizeof big, record, &s), KUBE_OK);
    assert_int_equal(kube_watch_decoder_feed(&d, big, sizeof big, record, &s), KUBE_ELIMIT);
    assert_non_null(strstr(d.error, "longer than 72 bytes"));
    char want[64];
    snprintf(want, sizeof want, "offset %zu:", strlen(ok) + 1); /* where the long line began */
    if (!strstr(d.error, want))
        fail_msg("%s", d.error);
    assert_int_equal(kube_watch_decoder_check(&d), KUBE_OK);
    kube_watch_decoder_dispose(&d);
}

static void test_callback_value_stops_the_feed(void **state)
{
    (void)state;
    kube_watch_decoder_t d;
    kube_watch_decoder_init(&d, 0);
    seen_t s = {0};
    s.stop_after = 2;
    assert_int_equal(kube_watch_decoder_feed(&d, stream, strlen(stream), record, &s), 42);
    assert_int_equal(s.n, 2);
    assert_int_equal(d.rc, KUBE_OK); /* not sticky */
    kube_watch_decoder_dispose(&d);
}

static void test_status_is_expired(void **state)
{
    (void)state;
    json_t *a = json_pack("{s:i}", "code", 410);
    json_t *b = json_pack("{s:s, s:i}", "reason", "Expired", "code", 500);
    json_t *c = json_pack("{s:s, s:i}", "reason", "Conflict", "code", 409);
    assert_true(kube_status_is_expired(a));
    assert_true(kube_status_is_expired(b));
    assert_false(kube_status_is_expired(c));
    assert_false(kube_status_is_expired(NULL));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_decode_in_order_with_types_rv_and_offsets),
        cmocka_unit_test(test_every_two_cuts_give_the_same_events),
        cmocka_unit_test(test_every_single_cut_gives_the_same_events),
        cmocka_unit_test(test_last_line_without_newline_is_decoded_at_finish),
        cmocka_unit_test(test_error_other_than_410_does_not_ask_for_relist),
        cmocka_unit_test(test_malformed_json_is_a_sticky_error_naming_the_offset),
        cmocka_unit_test(test_bad_events_are_rejected_with_what_was_wrong),
        cmocka_unit_test(test_line_over_the_limit_is_an_error_even_in_pieces),
        cmocka_unit_test(test_callback_value_stops_the_feed),
        cmocka_unit_test(test_status_is_expired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
