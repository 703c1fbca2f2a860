/*
 * proxy/authn.c: htpasswd parsing (formats, comments, errors with line numbers), password checks
 * for $apr1$, {SHA}, SHA-512-crypt and bcrypt (hashes made with the openssl CLI and crypt(3)),
 * Basic credentials decoding, and API key lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <string.h>

#include "proxy/authn.h"

/* `openssl passwd -apr1 -salt abcdefgh 'open sesame'`, `... | openssl sha1 -binary | base64`,
 * `openssl passwd -6 -salt saltsalt 'open sesame'` */
#define APR1 "$apr1$abcdefgh$T64oOxnD8c28.dQa.2Lty1"
#define SHA1 "{SHA}W8r/fyL/UzygmbNAjq2HbA67qac="
#define SHA512                                                                                    \
    "$6$saltsalt$e/5XKibXPLqVcfjpD.ouauaJrAOL5V0uo80Lt7n7EbRdRiCx3HbQ90yjOHr.G0T.mx79PEMRy8nmtr0" \
    "qSYhQp1"

static void test_apr1_matches_openssl(void **state)
{
    (void)state;
    char out[64];
    assert_true(proxy_apr1_hash("open sesame", "abcdefgh", out, sizeof out));
    assert_string_equal(out, APR1);
    assert_true(proxy_apr1_hash("open sesame", "$apr1$abcdefgh$whatever", out, sizeof out));
    assert_string_equal(out, APR1);
    assert_false(proxy_apr1_hash("x", "abc", out, 10));
}

static void test_htpasswd_formats_verify(void **state)
{
    (void)state;
    char bcrypt[128];
    char setting[64];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof setting));
    struct crypt_data cd;
    memset(&cd, 0, sizeof cd);
    snprintf(bcrypt, sizeof bcrypt, "%s", crypt_r("open sesame", setting, &cd));
    char content[1024], err[256];
    snprintf(content, sizeof content, "# users\n\napr:%s\r\nsha:%s\n  sha512:%s  \nbc:%s\n", APR1,
             SHA1, SHA512, bcrypt);
    proxy_htpasswd_t *h = proxy_htpasswd_parse(content, strlen(content), err, sizeof err);
    if (!h)
        fail_msg("%s", err);
    assert_int_equal(proxy_htpasswd_count(h), 4);
    const char *users[] = {"apr", "sha", "sha512", "bc"};
    for (int i = 0; i < 4; i++) {
        assert_true(proxy_htpasswd_check(h, users[i], "open sesame"));
        assert_true(proxy_htpasswd_check(h, users[i], "open sesame")); /* from the cache */
        assert_false(proxy_htpasswd_check(h, users[i], "open sesame!"));
        assert_false(proxy_htpasswd_check(h, users[i], ""));
    }
    assert_false(proxy_htpasswd_check(h, "nobody", "open sesame"));
    proxy_htpasswd_free(h);
}

static void test_htpasswd_errors_name_the_line(void **state)
{
    (void)state;
    char err[256];
    const char *c2 = "\n\nno-colon-here\n";
    assert_null(proxy_htpasswd_parse(c2, strlen(c2), err, sizeof err));
    assert_non_null(strstr(err, "line 3"));
    const char *c3 = ":" APR1 "\n";
    assert_null(proxy_htpasswd_parse(c3, strlen(c3), err, sizeof err));
    proxy_htpasswd_t *h = proxy_htpasswd_parse("", 0, err, sizeof err);
    assert_non_null(h);
    assert_int_equal(proxy_htpasswd_count(h), 0);
    proxy_htpasswd_free(h);
    proxy_htpasswd_free(NULL);
}

/* Unusable hashes lock out their user only, and are reported. */
static void test_htpasswd_unusable_entries_lock_out_their_user(void **state)
{
    (void)state;
    char err[256];
    const char *c = "ok:" APR1 "\nplain:open sesame\n"
                    "slow:$2b$13$abcdefghijklmnopqrstuuAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                    "slow6:$6$rounds=999999$salt$hash\n";
    proxy_htpasswd_t *h = proxy_htpasswd_parse(c, strlen(c), err, sizeof err);
    assert_non_null(h);
    assert_int_equal(proxy_htpasswd_count(h), 4);
    assert_non_null(strstr(proxy_htpasswd_warning(h), "line 2 (user \"plain\")"));
    assert_true(proxy_htpasswd_check(h, "ok", "open sesame"));
    assert_false(proxy_htpasswd_check(h, "plain", "open sesame"));
    assert_false(proxy_htpasswd_check(h, "slow", "open sesame"));
    assert_false(proxy_htpasswd_check(h, "slow6", "open sesame"));
    proxy_htpasswd_free(h);
    const char *s = "slow:$2b$13$abcdefghijklmnopqrstuuAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
    h = proxy_htpasswd_parse(s, strlen(s), err, sizeof err);
    assert_non_null(strstr(proxy_htpasswd_warning(h), "bcrypt cost above 12"));
    proxy_htpasswd_free(h);
    const char *r = "slow:$6$rounds=999999$salt$hash\n";
    h = proxy_htpasswd_parse(r, strlen(r), err, sizeof err);
    assert_non_null(strstr(proxy_htpasswd_warning(h), "rounds above"));
    proxy_htpasswd_free(h);
}

static void test_basic_credentials_decode(void **state)
{
    (void)state;
    char u[32], p[32];
    assert_true(proxy_basic_decode("Basic YWxpY2U6b3BlbiBzZXNhbWU=", u, sizeof u, p, sizeof p));
    assert_string_equal(u, "alice");
    assert_string_equal(p, "open sesame");
    assert_true(proxy_basic_decode("basic  YTpiOmM= ", u, sizeof u, p, sizeof p));
    assert_string_equal(u, "a");
    assert_string_equal(p, "b:c"); /* the first colon splits */
    assert_false(proxy_basic_decode("Bearer YTpi", u, sizeof u, p, sizeof p));
    assert_false(proxy_basic_decode("Basic YWxpY2U=", u, sizeof u, p, sizeof p)); /* no colon */
    assert_false(proxy_basic_decode("Basic !!!!", u, sizeof u, p, sizeof p));
    assert_false(proxy_basic_decode("Basic YTpi", u, 1, p, sizeof p)); /* too long for |u| */
    assert_false(proxy_basic_decode(NULL, u, sizeof u, p, sizeof p));
}

static void test_apikey_find(void **state)
{
    (void)state;
    const char *keys[] = {"k-one", "k-two", "k-two"};
    assert_int_equal(proxy_apikey_find(keys, 3, "k-two", 5), 1);
    assert_int_equal(proxy_apikey_find(keys, 3, "k-one", 5), 0);
    assert_int_equal(proxy_apikey_find(keys, 3, "k-on", 4), -1);
    assert_int_equal(proxy_apikey_find(keys, 3, "k-onex", 6), -1);
    assert_int_equal(proxy_apikey_find(keys, 0, "k-one", 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apr1_matches_openssl),
        cmocka_unit_test(test_htpasswd_formats_verify),
        cmocka_unit_test(test_htpasswd_errors_name_the_line),
        cmocka_unit_test(test_htpasswd_unusable_entries_lock_out_their_user),
        cmocka_unit_test(test_basic_credentials_decode),
        cmocka_unit_test(test_apikey_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
