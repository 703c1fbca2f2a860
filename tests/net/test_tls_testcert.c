/*
 * Test-certificate generator (net/tls_testcert.c): the CA is a CA, the leaf chains to it, carries
 * the requested subjectAltNames and key usage, its key matches, and leaves minted later from the
 * same CA verify too while another CA's do not.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/tls.h"

static X509 *read_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *read_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(k);
    return k;
}

/* Returns: X509_verify_cert's result for |leaf_pem| against |ca_pem|. */
static int chain_ok(const char *ca_pem, const char *leaf_pem)
{
    X509 *ca = read_cert(ca_pem), *leaf = read_cert(leaf_pem);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, NULL);
    int ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(ca);
    X509_free(leaf);
    return ok;
}

static void test_leaf_chains_to_ca_with_requested_names(void **state)
{
    (void)state;
    net_tls_testcert_t c;
    assert_int_equal(net_tls_testcert_make(&c, "svc.example", "DNS:svc.example,IP:10.1.2.3", false),
                     NET_OK);
    assert_non_null(strstr(c.ca_pem, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(c.key_pem, "PRIVATE KEY"));
    assert_non_null(strstr(c.ca_key_pem, "PRIVATE KEY"));
    assert_int_equal(chain_ok(c.ca_pem, c.cert_pem), 1);

    X509 *ca = read_cert(c.ca_pem), *leaf = read_cert(c.cert_pem);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_int_equal(X509_check_host(leaf, "svc.example", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(leaf, "other.example", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ip_asc(leaf, "10.1.2.3", 0), 1);
    assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 0);
    assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
    assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0), 0);
    EVP_PKEY *k = read_key(c.key_pem);
    assert_int_equal(X509_check_private_key(leaf, k), 1);
    EVP_PKEY_free(k);
    X509_free(ca);
    X509_free(leaf);
    net_tls_testcert_dispose(&c);
    assert_null(c.ca_pem);
}

static void test_default_names_cover_loopback(void **state)
{
    (void)state;
    net_tls_testcert_t c;
    assert_int_equal(net_tls_testcert_make(&c, NULL, NULL, true), NET_OK);
    X509 *leaf = read_cert(c.cert_pem);
    assert_int_equal(X509_check_host(leaf, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(leaf, "::1", 0), 1);
    assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0), 1);
    X509_free(leaf);
    net_tls_testcert_dispose(&c);
}

static void test_more_leaves_from_the_same_ca(void **state)
{
    (void)state;
    net_tls_testcert_t a, b, other;
    assert_int_equal(net_tls_testcert_make(&a, NULL, NULL, false), NET_OK);
    assert_int_equal(net_tls_testcert_make(&other, NULL, NULL, false), NET_OK);
    assert_int_equal(net_tls_testcert_leaf(&a, &b, "client", "DNS:client", true), NET_OK);
    assert_string_equal(b.ca_pem, a.ca_pem);
    assert_string_not_equal(b.cert_pem, a.cert_pem);
    assert_int_equal(chain_ok(a.ca_pem, b.cert_pem), 1);
    assert_int_equal(chain_ok(other.ca_pem, b.cert_pem), 0);
    net_tls_testcert_dispose(&a);
    net_tls_testcert_dispose(&b);
    net_tls_testcert_dispose(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_chains_to_ca_with_requested_names),
        cmocka_unit_test(test_default_names_cover_loopback),
        cmocka_unit_test(test_more_leaves_from_the_same_ca),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
