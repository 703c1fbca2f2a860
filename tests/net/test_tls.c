/*
 * Sans-IO TLS (net/tls.c): a client and a server object wired back to back in memory. Proves the
 * handshake and data in both directions (also fed one byte at a time), ALPN selection by server
 * preference, certificate verification by name and IP (and its failures), by a subjectAltName
 * list, and of the chain only (skip_name_check), client certificates,
 * close_notify, and that bad key material is refused when the context is made.
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

static net_tls_testcert_t certs; /* made once: key generation is the slow part */

static int setup(void **state)
{
    (void)state;
    return net_tls_testcert_make(&certs, "localhost", NULL, true) == NET_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    net_tls_testcert_dispose(&certs);
    return 0;
}

/* Moves ciphertext from |a| to |b| in pieces of |chunk|. Returns bytes moved. */
static size_t move(net_tls_t *a, net_tls_t *b, size_t chunk)
{
    uint8_t buf[4096];
    size_t total = 0, n;
    for (;;) {
        net_tls_pull(a, buf, chunk < sizeof buf ? chunk : sizeof buf, &n);
        if (!n)
            return total;
        assert_int_equal(net_tls_feed(b, buf, n), NET_OK);
        total += n;
    }
}

/* Runs the handshake; returns the client's final status (NET_OK or NET_ETLS). */
static int handshake(net_tls_t *c, net_tls_t *s, size_t chunk)
{
    int rc_c = NET_EAGAIN, rc_s = NET_EAGAIN;
    for (int i = 0; i < 50; i++) {
        if (rc_c == NET_EAGAIN)
            rc_c = net_tls_handshake(c);
        size_t a = move(c, s, chunk);
        if (rc_s == NET_EAGAIN)
            rc_s = net_tls_handshake(s);
        size_t b = move(s, c, chunk);
        if (rc_c != NET_EAGAIN && rc_s != NET_EAGAIN && a == 0 && b == 0)
            break;
        if ((rc_c == NET_ETLS || rc_s == NET_ETLS) && a == 0 && b == 0)
            break;
    }
    if (rc_c == NET_EAGAIN) /* the server's alert may end the client's handshake */
        rc_c = net_tls_handshake(c);
    return rc_c == NET_OK && rc_s == NET_OK ? NET_OK : NET_ETLS;
}

typedef struct {
    net_tls_ctx_t *cctx, *sctx;
    net_tls_t *c, *s;
} tpair_t;

static void tpair_new(tpair_t *p, const net_tls_config_t *ccfg, const net_tls_config_t *scfg,
                      const char *name)
{
    int err;
    p->sctx = net_tls_ctx_new(true, scfg, &err);
    assert_non_null(p->sctx);
    p->cctx = net_tls_ctx_new(false, ccfg, &err);
    assert_non_null(p->cctx);
    p->s = net_tls_new(p->sctx, NULL, &err);
    p->c = net_tls_new(p->cctx, name, &err);
    assert_non_null(p->s);
    assert_non_null(p->c);
    /* The objects keep their contexts alive. */
    net_tls_ctx_release(p->sctx);
    net_tls_ctx_release(p->cctx);
}

static void tpair_free(tpair_t *p)
{
    net_tls_free(p->c);
    net_tls_free(p->s);
}

static net_tls_config_t server_cfg(void)
{
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    return (net_tls_config_t){.cert_pem = certs.cert_pem, .key_pem = certs.key_pem, .alpn = alpn};
}

static net_tls_config_t client_cfg(void)
{
    return (net_tls_config_t){.ca_pem = certs.ca_pem};
}

/* Sends |len| bytes from |a| to |b| and checks they arrive intact. */
static void transfer(net_tls_t *a, net_tls_t *b, size_t len, size_t chunk)
{
    uint8_t *data = malloc(len), *got = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(net_tls_write(a, data, len), NET_OK);
    assert_true(net_tls_pending(a) > len);
    size_t have = 0;
    for (int i = 0; i < 100000 && have < len; i++) {
        move(a, b, chunk);
        size_t n;
        assert_int_equal(net_tls_read(b, got + have, len - have, &n), NET_OK);
        have += n;
        if (n == 0 && net_tls_pending(a) == 0)
            break;
    }
    assert_int_equal(have, len);
    assert_memory_equal(got, data, len);
    free(data);
    free(got);
}

static void test_handshake_alpn_h2_and_data_both_ways(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg(), cc = client_cfg();
    const char *names[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < 3; i++) {
        tpair_t p;
        tpair_new(&p, &cc, &sc, names[i]);
        assert_false(net_tls_handshake_done(p.c));
        assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
        assert_true(net_tls_handshake_done(p.c) && net_tls_handshake_done(p.s));
        assert_string_equal(net_tls_alpn(p.c), "h2");
        assert_string_equal(net_tls_alpn(p.s), "h2");
        transfer(p.c, p.s, 1000, SIZE_MAX);
        transfer(p.s, p.c, 1 << 20, SIZE_MAX);
        tpair_free(&p);
    }
}

static void test_handshake_fed_one_byte_at_a_time(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg(), cc = client_cfg();
    tpair_t p;
    tpair_new(&p, &cc, &sc, "localhost");
    /* handshake() moves at most |chunk| bytes per pull; with 1 it needs many rounds. */
    int rc = NET_EAGAIN;
    for (int i = 0; i < 20000 && rc != NET_OK; i++) {
        int a = net_tls_handshake(p.c), b = net_tls_handshake(p.s);
        assert_true(a != NET_ETLS && b != NET_ETLS);
        uint8_t byte;
        size_t n;
        net_tls_pull(p.c, &byte, 1, &n);
        if (n)
            net_tls_feed(p.s, &byte, 1);
        net_tls_pull(p.s, &byte, 1, &n);
        if (n)
            net_tls_feed(p.c, &byte, 1);
        rc = (a == NET_OK && b == NET_OK) ? NET_OK : NET_EAGAIN;
    }
    assert_int_equal(rc, NET_OK);
    transfer(p.c, p.s, 5000, 1);
    tpair_free(&p);
}

static void test_alpn_follows_server_preference(void **state)
{
    (void)state;
    struct {
        const char *const *client, *const *server;
        const char *want;
    } cases[] = {
        {(const char *const[]){"http/1.1", "h2", NULL},
         (const char *const[]){"h2", "http/1.1", NULL}, "h2"},
        {(const char *const[]){"http/1.1", NULL}, (const char *const[]){"h2", "http/1.1", NULL},
         "http/1.1"},
        {(const char *const[]){"h2", NULL}, (const char *const[]){"http/1.1", NULL}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        net_tls_config_t sc = server_cfg(), cc = client_cfg();
        sc.alpn = cases[i].server;
        cc.alpn = cases[i].client;
        tpair_t p;
        tpair_new(&p, &cc, &sc, "localhost");
        assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
        if (cases[i].want) {
            assert_string_equal(net_tls_alpn(p.c), cases[i].want);
            assert_string_equal(net_tls_alpn(p.s), cases[i].want);
        } else {
            assert_null(net_tls_alpn(p.c));
            assert_null(net_tls_alpn(p.s));
        }
        tpair_free(&p);
    }
}

static void test_verification_failures_are_reported(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg(), cc = client_cfg();
    /* Wrong name. */
    tpair_t p;
    tpair_new(&p, &cc, &sc, "example.com");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    assert_non_null(strstr(net_tls_error(p.c), "certificate verify failed"));
    tpair_free(&p);
    /* Wrong IP. */
    tpair_new(&p, &cc, &sc, "127.0.0.2");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    tpair_free(&p);
    /* Untrusted CA. */
    net_tls_testcert_t other;
    assert_int_equal(net_tls_testcert_make(&other, "localhost", NULL, false), NET_OK);
    net_tls_config_t cc2 = {.ca_pem = other.ca_pem};
    tpair_new(&p, &cc2, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    assert_non_null(strstr(net_tls_error(p.c), "verify"));
    tpair_free(&p);
    /* ... unless verification is off (tests only). */
    net_tls_config_t cc3 = {.insecure_skip_verify = true};
    tpair_new(&p, &cc3, &sc, "example.com");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
    tpair_free(&p);
    net_tls_testcert_dispose(&other);
}

/* A subjectAltName list replaces the name check: one of the names (DNS with the certificate's
 * wildcard, IP, URI compared whole) must be in the certificate, whatever name the client dialled;
 * the common name alone never matches. */
static void test_subject_alt_names_replace_the_name_check(void **state)
{
    (void)state;
    net_tls_testcert_t sanc;
    assert_int_equal(net_tls_testcert_make(&sanc, "cn-only.test",
                                           "DNS:*.svc.test,IP:10.1.2.3,URI:spiffe://td/ns/a/sa/b",
                                           false),
                     NET_OK);
    net_tls_config_t sc = {.cert_pem = sanc.cert_pem, .key_pem = sanc.key_pem};
    struct {
        const char *names[3];
        int want;
    } cases[] = {
        {{"api.svc.test", NULL}, NET_OK},
        {{"other.test", "spiffe://td/ns/a/sa/b", NULL}, NET_OK},
        {{"10.1.2.3", NULL}, NET_OK},
        {{"svc.test", NULL}, NET_ETLS},              /* the wildcard needs a label */
        {{"a.b.svc.test", NULL}, NET_ETLS},          /* ... exactly one */
        {{"spiffe://td/ns/a/sa/B", NULL}, NET_ETLS}, /* URIs compare whole, with case */
        {{"cn-only.test", NULL}, NET_ETLS},          /* never the common name */
        {{"10.1.2.4", "spiffe://td/ns/a", NULL}, NET_ETLS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        net_tls_config_t cc = {.ca_pem = sanc.ca_pem, .verify_names = cases[i].names};
        tpair_t p;
        /* dialled under a name the certificate does not have: only the list counts */
        tpair_new(&p, &cc, &sc, "dialled.example");
        int rc = handshake(p.c, p.s, SIZE_MAX);
        if (rc != cases[i].want)
            fail_msg("case %zu (%s): got %d", i, cases[i].names[0], rc);
        if (rc != NET_OK)
            assert_non_null(strstr(net_tls_error(p.c), "hostname mismatch"));
        else
            assert_string_equal(net_tls_server_name(p.c), "dialled.example"); /* SNI still sent */
        tpair_free(&p);
    }
    /* The chain is still verified: an untrusted CA fails even with a matching name. */
    net_tls_testcert_t other;
    assert_int_equal(net_tls_testcert_make(&other, "x", "DNS:api.svc.test", false), NET_OK);
    const char *const names[] = {"api.svc.test", NULL};
    net_tls_config_t cc = {.ca_pem = other.ca_pem, .verify_names = names};
    tpair_t p;
    tpair_new(&p, &cc, &sc, "api.svc.test");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    tpair_free(&p);
    net_tls_testcert_dispose(&other);
    net_tls_testcert_dispose(&sanc);
}

/* skip_name_check (agentgateway's INSECURE_HOST): a name mismatch is accepted, an untrusted chain
 * is not. */
static void test_skip_name_check_still_verifies_the_chain(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg();
    net_tls_config_t cc = {.ca_pem = certs.ca_pem, .skip_name_check = true};
    const char *names[] = {"example.com", "127.0.0.2"};
    for (size_t i = 0; i < 2; i++) {
        tpair_t p;
        tpair_new(&p, &cc, &sc, names[i]);
        assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
        tpair_free(&p);
    }
    net_tls_testcert_t other;
    assert_int_equal(net_tls_testcert_make(&other, "localhost", NULL, false), NET_OK);
    net_tls_config_t cc2 = {.ca_pem = other.ca_pem, .skip_name_check = true};
    tpair_t p;
    tpair_new(&p, &cc2, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    assert_non_null(strstr(net_tls_error(p.c), "verify"));
    tpair_free(&p);
    net_tls_testcert_dispose(&other);
}

static void test_client_certificate_required_when_server_has_a_ca(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg(), cc = client_cfg();
    sc.ca_pem = certs.ca_pem;
    tpair_t p;
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    tpair_free(&p);
    net_tls_testcert_t client;
    assert_int_equal(net_tls_testcert_leaf(&certs, &client, "client", "DNS:client", true), NET_OK);
    cc.cert_pem = client.cert_pem;
    cc.key_pem = client.key_pem;
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
    tpair_free(&p);
    net_tls_testcert_dispose(&client);
}

static void test_close_notify_ends_the_peer_read(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg(), cc = client_cfg();
    tpair_t p;
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
    net_tls_close_notify(p.c);
    move(p.c, p.s, SIZE_MAX);
    uint8_t buf[16];
    size_t n;
    assert_int_equal(net_tls_read(p.s, buf, sizeof buf, &n), NET_ECLOSED);
    tpair_free(&p);
}

static void test_write_before_handshake_and_garbage_input(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg();
    int err;
    net_tls_ctx_t *ctx = net_tls_ctx_new(true, &sc, &err);
    net_tls_t *s = net_tls_new(ctx, NULL, &err);
    assert_int_equal(net_tls_write(s, (const uint8_t *)"x", 1), NET_ESTATE);
    const char *junk = "GET / HTTP/1.1\r\n\r\n";
    net_tls_feed(s, (const uint8_t *)junk, strlen(junk));
    assert_int_equal(net_tls_handshake(s), NET_ETLS);
    assert_true(strlen(net_tls_error(s)) > 0);
    net_tls_free(s);
    net_tls_ctx_release(ctx);
}

static void test_bad_key_material_is_refused(void **state)
{
    (void)state;
    int err = 0;
    net_tls_config_t c1 = {.cert_pem = "not a pem", .key_pem = certs.key_pem};
    assert_null(net_tls_ctx_new(true, &c1, &err));
    assert_int_equal(err, NET_ETLS);
    net_tls_testcert_t other;
    assert_int_equal(net_tls_testcert_make(&other, "x", NULL, false), NET_OK);
    net_tls_config_t c2 = {.cert_pem = certs.cert_pem, .key_pem = other.key_pem};
    assert_null(net_tls_ctx_new(true, &c2, &err)); /* key does not match */
    assert_int_equal(err, NET_ETLS);
    net_tls_testcert_dispose(&other);
    net_tls_config_t c3 = {0};
    assert_null(net_tls_ctx_new(true, &c3, &err)); /* a server needs a certificate */
    net_tls_config_t c4 = {.cert_file = "/nonexistent/cert.pem", .key_file = "/nonexistent/k"};
    assert_null(net_tls_ctx_new(true, &c4, &err));
    static const char *const bad_alpn[] = {"", NULL};
    net_tls_config_t c5 = {.alpn = bad_alpn};
    assert_null(net_tls_ctx_new(false, &c5, &err));
    assert_int_equal(err, NET_EINVAL);
}

/* Handshakes a client sending SNI |name| (verification off) with a server on |sctx|; returns
 * the common name of the certificate the server chose, in |cn|. */
/* Versions, cipher lists and groups: a handshake needs an overlap, and values OpenSSL does not
 * take are refused when the context is made. */
static void test_versions_ciphers_and_groups(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg(), cc = client_cfg();
    tpair_t p;
    sc.min_version = NET_TLS_V1_3; /* a TLS 1.2-only client is refused */
    cc.max_version = NET_TLS_V1_2;
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    tpair_free(&p);
    cc.max_version = 0; /* ... and a TLS 1.3 one served */
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
    tpair_free(&p);
    sc = server_cfg(); /* TLS 1.2 only on the server, one cipher */
    sc.max_version = NET_TLS_V1_2;
    sc.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256";
    cc = client_cfg();
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
    tpair_free(&p);
    cc.cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384"; /* no common cipher */
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    tpair_free(&p);
    sc = server_cfg(); /* TLS 1.3: suites and groups */
    sc.ciphersuites = "TLS_AES_128_GCM_SHA256";
    sc.groups = "P-384";
    cc = client_cfg();
    cc.ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_OK);
    tpair_free(&p);
    cc.groups = "X25519"; /* no common group */
    cc.max_version = 0;
    tpair_new(&p, &cc, &sc, "localhost");
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    tpair_free(&p);

    const net_tls_config_t bad[] = {
        {.cert_pem = certs.cert_pem, .key_pem = certs.key_pem, .min_version = 0x0301},
        {.cert_pem = certs.cert_pem, .key_pem = certs.key_pem, .max_version = 0x0305},
        {.cert_pem = certs.cert_pem,
         .key_pem = certs.key_pem,
         .min_version = NET_TLS_V1_3,
         .max_version = NET_TLS_V1_2},
        {.cert_pem = certs.cert_pem, .key_pem = certs.key_pem, .cipher_list = "NOT-A-CIPHER"},
        {.cert_pem = certs.cert_pem, .key_pem = certs.key_pem, .ciphersuites = "TLS_NOPE"},
        {.cert_pem = certs.cert_pem, .key_pem = certs.key_pem, .groups = "X25519:nonsense"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int err = NET_OK;
        assert_null(net_tls_ctx_new(true, &bad[i], &err));
        assert_int_equal(err, NET_EINVAL);
    }
}

static void served_cn(net_tls_ctx_t *sctx, const char *name, char *cn, size_t cap)
{
    static const char *const alpn[] = {"h2", NULL};
    net_tls_config_t cc = {.insecure_skip_verify = true, .alpn = alpn};
    int err;
    net_tls_ctx_t *cctx = net_tls_ctx_new(false, &cc, &err);
    net_tls_t *c = net_tls_new(cctx, name, &err), *s = net_tls_new(sctx, NULL, &err);
    assert_non_null(c);
    assert_non_null(s);
    assert_int_equal(handshake(c, s, SIZE_MAX), NET_OK);
    assert_true(net_tls_peer_common_name(c, cn, cap));
    /* ALPN works whatever certificate was chosen. */
    assert_string_equal(net_tls_alpn(s), "h2");
    if (name && strcmp(name, "127.0.0.1") != 0)
        assert_string_equal(net_tls_server_name(s), name);
    else
        assert_null(net_tls_server_name(s));
    transfer(c, s, 100, SIZE_MAX);
    net_tls_free(c);
    net_tls_free(s);
    net_tls_ctx_release(cctx);
}

static void test_sni_chooses_exact_then_longest_wildcard_then_default(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg();
    int err;
    net_tls_ctx_t *ctx = net_tls_ctx_new(true, &sc, &err);
    assert_non_null(ctx);
    const char *names[] = {"a.example.com", "*.example.com", "*.b.example.com", ""};
    net_tls_testcert_t leaf[4];
    for (size_t i = 0; i < 4; i++) {
        char cn[64], san[80];
        snprintf(cn, sizeof cn, "cert-%zu", i);
        snprintf(san, sizeof san, "DNS:%s", *names[i] ? names[i] : "fallback.test");
        assert_int_equal(net_tls_testcert_leaf(&certs, &leaf[i], cn, san, false), NET_OK);
    }
    char cn[64];
    /* Only the context's own certificate so far. */
    served_cn(ctx, "a.example.com", cn, sizeof cn);
    assert_string_equal(cn, "localhost");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(net_tls_ctx_add_cert(ctx, names[i], leaf[i].cert_pem, leaf[i].key_pem,
                                              NULL, 0),
                         NET_OK);
    assert_int_equal(net_tls_ctx_cert_count(ctx), 3);
    struct {
        const char *sni, *cn;
    } cases[] = {
        {"a.example.com", "cert-0"},   {"A.Example.COM.", "cert-0"},
        {"x.example.com", "cert-1"},   {"x.y.example.com", "cert-1"},
        {"b.example.com", "cert-1"},   {"x.b.example.com", "cert-2"},
        {"example.com", "localhost"},  {"other.org", "localhost"},
        {NULL, "localhost"},           {"127.0.0.1", "localhost"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        served_cn(ctx, cases[i].sni, cn, sizeof cn);
        assert_string_equal(cn, cases[i].cn);
    }
    /* An entry with the empty name is the default before the context's own certificate. */
    assert_int_equal(net_tls_ctx_add_cert(ctx, "", leaf[3].cert_pem, leaf[3].key_pem, NULL, 0),
                     NET_OK);
    served_cn(ctx, "other.org", cn, sizeof cn);
    assert_string_equal(cn, "cert-3");
    served_cn(ctx, NULL, cn, sizeof cn);
    assert_string_equal(cn, "cert-3");
    /* The same name again replaces; clearing goes back to the context's own. */
    assert_int_equal(net_tls_ctx_add_cert(ctx, "A.example.com", leaf[2].cert_pem,
                                          leaf[2].key_pem, NULL, 0),
                     NET_OK);
    assert_int_equal(net_tls_ctx_cert_count(ctx), 4);
    served_cn(ctx, "a.example.com", cn, sizeof cn);
    assert_string_equal(cn, "cert-2");
    net_tls_ctx_clear_certs(ctx);
    assert_int_equal(net_tls_ctx_cert_count(ctx), 0);
    served_cn(ctx, "a.example.com", cn, sizeof cn);
    assert_string_equal(cn, "localhost");
    for (size_t i = 0; i < 4; i++)
        net_tls_testcert_dispose(&leaf[i]);
    net_tls_ctx_release(ctx);
}

static void test_sni_certificate_verifies_for_its_name(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg(), cc = client_cfg();
    net_tls_testcert_t leaf;
    assert_int_equal(net_tls_testcert_leaf(&certs, &leaf, "two", "DNS:two.test", false), NET_OK);
    tpair_t p;
    tpair_new(&p, &cc, &sc, "two.test"); /* the context's certificate is for localhost only */
    assert_int_equal(handshake(p.c, p.s, SIZE_MAX), NET_ETLS);
    tpair_free(&p);
    int err;
    net_tls_ctx_t *sctx = net_tls_ctx_new(true, &sc, &err);
    net_tls_ctx_t *cctx = net_tls_ctx_new(false, &cc, &err);
    assert_int_equal(net_tls_ctx_add_cert(sctx, "two.test", leaf.cert_pem, leaf.key_pem, NULL, 0),
                     NET_OK);
    const char *names[] = {"two.test", "localhost"};
    for (size_t i = 0; i < 2; i++) {
        net_tls_t *c = net_tls_new(cctx, names[i], &err), *s = net_tls_new(sctx, NULL, &err);
        assert_int_equal(handshake(c, s, SIZE_MAX), NET_OK);
        net_tls_free(c);
        net_tls_free(s);
    }
    net_tls_ctx_release(sctx);
    net_tls_ctx_release(cctx);
    net_tls_testcert_dispose(&leaf);
}

static void test_sni_bad_certificates_are_refused_and_change_nothing(void **state)
{
    (void)state;
    net_tls_config_t sc = server_cfg();
    int err;
    net_tls_ctx_t *ctx = net_tls_ctx_new(true, &sc, &err);
    net_tls_testcert_t other;
    assert_int_equal(net_tls_testcert_make(&other, "x", NULL, false), NET_OK);
    char why[256];
    assert_int_equal(net_tls_ctx_add_cert(ctx, "a.test", "invalid", certs.key_pem, why,
                                          sizeof why),
                     NET_ETLS);
    assert_non_null(strstr(why, "bad certificate PEM"));
    assert_int_equal(net_tls_ctx_add_cert(ctx, "a.test", certs.cert_pem, "invalid", why,
                                          sizeof why),
                     NET_ETLS);
    assert_non_null(strstr(why, "bad private key"));
    assert_int_equal(net_tls_ctx_add_cert(ctx, "a.test", certs.cert_pem, other.key_pem, why,
                                          sizeof why),
                     NET_ETLS);
    assert_non_null(strstr(why, "does not match"));
    assert_int_equal(net_tls_ctx_add_cert(ctx, "a.test", NULL, other.key_pem, why, sizeof why),
                     NET_EINVAL);
    assert_int_equal(net_tls_ctx_cert_count(ctx), 0);
    net_tls_config_t cc = client_cfg();
    net_tls_ctx_t *cctx = net_tls_ctx_new(false, &cc, &err);
    assert_int_equal(net_tls_ctx_add_cert(cctx, "a.test", certs.cert_pem, certs.key_pem, NULL, 0),
                     NET_EINVAL);
    net_tls_ctx_release(cctx);
    net_tls_testcert_dispose(&other);
    net_tls_ctx_release(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_alpn_h2_and_data_both_ways),
        cmocka_unit_test(test_handshake_fed_one_byte_at_a_time),
        cmocka_unit_test(test_alpn_follows_server_preference),
        cmocka_unit_test(test_verification_failures_are_reported),
        cmocka_unit_test(test_subject_alt_names_replace_the_name_check),
        cmocka_unit_test(test_skip_name_check_still_verifies_the_chain),
        cmocka_unit_test(test_client_certificate_required_when_server_has_a_ca),
        cmocka_unit_test(test_close_notify_ends_the_peer_read),
        cmocka_unit_test(test_write_before_handshake_and_garbage_input),
        cmocka_unit_test(test_bad_key_material_is_refused),
        cmocka_unit_test(test_versions_ciphers_and_groups),
        cmocka_unit_test(test_sni_chooses_exact_then_longest_wildcard_then_default),
        cmocka_unit_test(test_sni_certificate_verifies_for_its_name),
        cmocka_unit_test(test_sni_bad_certificates_are_refused_and_change_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
