/*
 * Test certificates made with the OpenSSL API: a self-signed CA and leaves it signs, EC P-256, with
 * subjectAltNames. Tests in every module use them to run TLS without committed key files (which
 * would expire and which nobody should trust). Not for production: keys live in memory as PEM.
 */
#include "net/tls.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static char *bio_to_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

static char *cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = (b && PEM_write_bio_X509(b, x) == 1) ? bio_to_string(b) : NULL;
    BIO_free(b);
    return s;
}

static char *key_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1)
                  ? bio_to_string(b)
                  : NULL;
    BIO_free(b);
    return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return 0;
    int ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* Builds and signs one certificate. |issuer| NULL means self-signed by |key|. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                       const char *san, bool client_auth)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok = RAND_bytes(serial, sizeof serial) == 1;
    serial[0] &= 0x7f; /* positive */
    if (ok)
        bn = BN_bin2bn(serial, sizeof serial, NULL);
    ok = ok && bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    ok = ok && X509_set_version(x, 2) == 1;
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL;
    ok = ok && X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) != NULL;
    ok = ok && X509_set_pubkey(x, key) == 1;
    X509_NAME *name = X509_get_subject_name(x);
    ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                          (const unsigned char *)"krtgate test", -1, -1, 0) == 1;
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
                                          -1, 0) == 1;
    ok = ok && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
    X509 *iss = issuer ? issuer : x;
    if (ca) {
        ok = ok && add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        ok = ok && add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
        ok = ok && add_ext(x, iss, NID_subject_key_identifier, "hash");
    } else {
        ok = ok && add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        ok = ok && add_ext(x, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        ok = ok && add_ext(x, iss, NID_ext_key_usage,
                           client_auth ? "serverAuth,clientAuth" : "serverAuth");
        ok = ok && add_ext(x, iss, NID_subject_key_identifier, "hash");
        ok = ok && add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
        if (san && *san)
            ok = ok && add_ext(x, iss, NID_subject_alt_name, san);
    }
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static void testcert_zero(net_tls_testcert_t *c)
{
    memset(c, 0, sizeof *c);
}

void net_tls_testcert_dispose(net_tls_testcert_t *c)
{
    free(c->ca_pem);
    free(c->ca_key_pem);
    free(c->cert_pem);
    free(c->key_pem);
    testcert_zero(c);
}

static int sign_leaf(X509 *ca, EVP_PKEY *ca_key, net_tls_testcert_t *out, const char *cn,
                     const char *san, bool client_auth)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *leaf = key ? make_cert(key, cn, ca, ca_key, false, san, client_auth) : NULL;
    if (leaf) {
        out->cert_pem = cert_pem(leaf);
        out->key_pem = key_pem(key);
    }
    X509_free(leaf);
    EVP_PKEY_free(key);
    return out->cert_pem && out->key_pem ? NET_OK : NET_ETLS;
}

int net_tls_testcert_make(net_tls_testcert_t *out, const char *common_name, const char *san,
                          bool client_auth)
{
    testcert_zero(out);
    if (!san)
        san = "DNS:localhost,IP:127.0.0.1,IP:::1";
    EVP_PKEY *ca_key = EVP_EC_gen("P-256");
    X509 *ca = ca_key ? make_cert(ca_key, "krtgate test CA", NULL, NULL, true, NULL, false) : NULL;
    int rc = NET_ETLS;
    if (ca) {
        out->ca_pem = cert_pem(ca);
        out->ca_key_pem = key_pem(ca_key);
        if (out->ca_pem && out->ca_key_pem)
            rc = sign_leaf(ca, ca_key, out, common_name ? common_name : "localhost", san,
                           client_auth);
    }
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    if (rc != NET_OK) {
        net__log(NET_LOG_ERROR, "tls: cannot make test certificates");
        ERR_clear_error();
        net_tls_testcert_dispose(out);
    }
    return rc;
}

int net_tls_testcert_leaf(const net_tls_testcert_t *ca_in, net_tls_testcert_t *leaf,
                          const char *common_name, const char *san, bool client_auth)
{
    testcert_zero(leaf);
    if (!san)
        san = "DNS:localhost,IP:127.0.0.1,IP:::1";
    BIO *b1 = BIO_new_mem_buf(ca_in->ca_pem, -1), *b2 = BIO_new_mem_buf(ca_in->ca_key_pem, -1);
    X509 *ca = b1 ? PEM_read_bio_X509(b1, NULL, NULL, NULL) : NULL;
    EVP_PKEY *ca_key = b2 ? PEM_read_bio_PrivateKey(b2, NULL, NULL, NULL) : NULL;
    BIO_free(b1);
    BIO_free(b2);
    int rc = NET_ETLS;
    if (ca && ca_key) {
        leaf->ca_pem = strdup(ca_in->ca_pem);
        leaf->ca_key_pem = strdup(ca_in->ca_key_pem);
        if (leaf->ca_pem && leaf->ca_key_pem)
            rc = sign_leaf(ca, ca_key, leaf, common_name ? common_name : "localhost", san,
                           client_auth);
    }
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    if (rc != NET_OK) {
        ERR_clear_error();
        net_tls_testcert_dispose(leaf);
    }
    return rc;
}
