/*
 * TLS over OpenSSL memory BIOs (see net/tls.h). The SSL object reads ciphertext from |rbio|, which
 * the adapter fills with net_tls_feed, and writes ciphertext to |wbio|, which the adapter drains
 * with net_tls_pull. Nothing here blocks or touches a socket, so the same code runs under libuv, in
 * a test that wires two objects back to back, and under a fuzzer.
 *
 * Rejected: SSL_set_fd / BIO_s_socket, which would make OpenSSL do the I/O and force the event loop
 * to follow its want-read/want-write dance on the raw socket.
 *
 * Several certificates on one server context (net_tls_ctx_add_cert): the servername callback
 * looks the SNI up in the context's table and installs the chosen certificate and key on that
 * connection's SSL (SSL_use_cert_and_key). Rejected: one SSL_CTX per name switched with
 * SSL_set_SSL_CTX, which would have to copy every option, the ALPN callback and the verify
 * settings into each of them; here there is one SSL_CTX and only the certificate differs.
 */
#include "net/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* One certificate of a server context's SNI table. */
typedef struct sni_cert {
    char *name; /* "foo.com", "*.foo.com", or "" for the default */
    X509 *leaf;
    EVP_PKEY *key;
    STACK_OF(X509) * chain; /* intermediates, may be empty */
} sni_cert_t;

struct net_tls_ctx {
    SSL_CTX *ssl;
    bool server;
    int refs;
    unsigned char alpn[256]; /* wire format: length-prefixed names */
    size_t alpn_len;
    sni_cert_t *certs; /* SNI table (server), in insertion order */
    size_t ncerts;
    bool skip_name;      /* client: chain only (net_tls_config_t.skip_name_check) */
    char **verify_names; /* client: subjectAltNames of which the server must carry one */
    size_t nverify;
};

struct net_tls {
    net_tls_ctx_t *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
    bool done;
    char err[256];
    char alpn[32];
};

/* Appends OpenSSL's error queue to |buf| (after |what|) and clears it. */
static void collect_errors(char *buf, size_t cap, const char *what)
{
    size_t len = (size_t)snprintf(buf, cap, "%s", what);
    unsigned long e;
    while ((e = ERR_get_error()) != 0 && len + 3 < cap) {
        char one[160];
        ERR_error_string_n(e, one, sizeof one);
        len += (size_t)snprintf(buf + len, cap - len, ": %s", one);
    }
    ERR_clear_error();
}

static int ctx_fail(net_tls_ctx_t *c, int *err, const char *what)
{
    char msg[512];
    collect_errors(msg, sizeof msg, what);
    net__log(NET_LOG_ERROR, "tls: %s", msg);
    net_tls_ctx_release(c);
    *err = NET_ETLS;
    return NET_ETLS;
}

/* Versions, ciphers and groups of |cfg| on a new context. Returns NET_OK, or NET_EINVAL with the
 * context freed and the reason logged. */
static int tls_tune(net_tls_ctx_t *c, const net_tls_config_t *cfg, int *err)
{
    const char *bad = NULL;
    int lo = cfg->min_version ? cfg->min_version : TLS1_2_VERSION;
    int hi = cfg->max_version; /* 0: the newest OpenSSL has */
    if ((lo != TLS1_2_VERSION && lo != TLS1_3_VERSION) ||
        (hi && hi != TLS1_2_VERSION && hi != TLS1_3_VERSION) || (hi && hi < lo))
        bad = "unsupported TLS version range (TLS 1.2 and 1.3 only, minimum <= maximum)";
    else if (SSL_CTX_set_min_proto_version(c->ssl, lo) != 1 ||
             SSL_CTX_set_max_proto_version(c->ssl, hi) != 1)
        bad = "OpenSSL refused the TLS version range";
    else if (cfg->cipher_list && SSL_CTX_set_cipher_list(c->ssl, cfg->cipher_list) != 1)
        bad = "no usable TLS 1.2 cipher in the cipher list";
    else if (cfg->ciphersuites && SSL_CTX_set_ciphersuites(c->ssl, cfg->ciphersuites) != 1)
        bad = "OpenSSL refused the TLS 1.3 cipher suites";
    else if (cfg->groups && SSL_CTX_set1_groups_list(c->ssl, cfg->groups) != 1)
        bad = "OpenSSL refused the key exchange groups";
    if (!bad)
        return NET_OK;
    ctx_fail(c, err, bad);
    *err = NET_EINVAL;
    return NET_EINVAL;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    net_tls_ctx_t *c = arg;
    /* Server preference order: for each of ours, is it offered? */
    for (size_t i = 0; i < c->alpn_len; i += 1u + c->alpn[i]) {
        const unsigned char *ours = &c->alpn[i];
        for (unsigned int j = 0; j < inlen; j += 1u + in[j]) {
            if (j + 1u + in[j] > inlen)
                break;
            if (in[j] == ours[0] && memcmp(in + j + 1, ours + 1, ours[0]) == 0) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK; /* no common protocol: continue without ALPN */
}

static int load_chain_pem(SSL_CTX *ssl, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    if (!b)
        return 0;
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    int ok = leaf && SSL_CTX_use_certificate(ssl, leaf) == 1;
    X509_free(leaf);
    X509 *extra;
    while (ok && (extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ssl, extra) != 1) {
            X509_free(extra);
            ok = 0;
        }
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(b);
    return ok;
}

static int load_key_pem(SSL_CTX *ssl, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    int ok = k && SSL_CTX_use_PrivateKey(ssl, k) == 1;
    EVP_PKEY_free(k);
    BIO_free(b);
    return ok;
}

static int load_ca_pem(SSL_CTX *ssl, const char *pem)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ssl);
    BIO *b = BIO_new_mem_buf(pem, -1);
    if (!b)
        return 0;
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(b);
    return n > 0;
}

/* ---------------------------------------------------------------------------------------------
 * SNI: several certificates on one server context
 * ------------------------------------------------------------------------------------------- */

/* How well |pattern| names |host| (|len| bytes, compared without case): -1 not at all, 0 the
 * default (""), 1000 + length for a wildcard ("*.foo.com" takes "a.foo.com" and "a.b.foo.com",
 * not "foo.com"), 2000 + length for the exact name. */
static int sni_score(const char *pattern, const char *host, size_t len)
{
    size_t pl = strlen(pattern);
    if (pl == 0)
        return 0;
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t sl = pl - 1; /* ".foo.com" */
        if (len > sl && strncasecmp(host + len - sl, pattern + 1, sl) == 0)
            return 1000 + (int)pl;
        return -1;
    }
    return pl == len && strncasecmp(pattern, host, len) == 0 ? 2000 + (int)pl : -1;
}

static const sni_cert_t *sni_pick(const net_tls_ctx_t *c, const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len && name[len - 1] == '.')
        len--; /* a fully qualified name's trailing dot */
    const sni_cert_t *best = NULL;
    int best_score = -1;
    for (size_t i = 0; i < c->ncerts; i++) {
        int sc = len ? sni_score(c->certs[i].name, name, len) : (c->certs[i].name[0] ? -1 : 0);
        if (sc > best_score) {
            best = &c->certs[i];
            best_score = sc;
        }
    }
    return best;
}

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const net_tls_ctx_t *c = arg;
    const sni_cert_t *e = sni_pick(c, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
    /* No entry fits: the context's own certificate stays (the port's default). */
    if (e && SSL_use_cert_and_key(ssl, e->leaf, e->key, e->chain, 1) != 1) {
        ERR_clear_error();
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

static void sni_cert_dispose(sni_cert_t *e)
{
    free(e->name);
    X509_free(e->leaf);
    EVP_PKEY_free(e->key);
    sk_X509_pop_free(e->chain, X509_free);
}

int net_tls_ctx_add_cert(net_tls_ctx_t *ctx, const char *hostname, const char *cert_pem,
                         const char *key_pem, char *why, size_t cap)
{
    char dummy[8];
    if (!why) {
        why = dummy;
        cap = sizeof dummy;
    }
    if (cap)
        why[0] = '\0';
    if (!ctx->server || !cert_pem || !key_pem) {
        snprintf(why, cap, "%s", ctx->server ? "no certificate or key" : "not a server context");
        return NET_EINVAL;
    }
    if (!hostname)
        hostname = "";
    sni_cert_t e = {.name = strdup(hostname), .chain = sk_X509_new_null()};
    if (!e.name || !e.chain) {
        sni_cert_dispose(&e);
        snprintf(why, cap, "out of memory");
        return NET_ENOMEM;
    }
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    e.leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    X509 *extra;
    while (e.leaf && (extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(e.chain, extra)) {
            X509_free(extra);
            break;
        }
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    e.key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    int rc = NET_OK;
    if (!e.leaf) {
        collect_errors(why, cap, "bad certificate PEM");
        rc = NET_ETLS;
    } else if (!e.key) {
        collect_errors(why, cap, "bad private key PEM");
        rc = NET_ETLS;
    } else if (X509_check_private_key(e.leaf, e.key) != 1) {
        collect_errors(why, cap, "the private key does not match the certificate");
        rc = NET_ETLS;
    }
    sni_cert_t *grown = rc == NET_OK ? realloc(ctx->certs, (ctx->ncerts + 1) * sizeof *grown)
                                     : NULL;
    if (rc == NET_OK && !grown) {
        snprintf(why, cap, "out of memory");
        rc = NET_ENOMEM;
    }
    if (rc != NET_OK) {
        sni_cert_dispose(&e);
        return rc;
    }
    ctx->certs = grown;
    /* A later certificate for the same name replaces the earlier one. */
    for (size_t i = 0; i < ctx->ncerts; i++) {
        if (strcasecmp(ctx->certs[i].name, e.name) == 0) {
            sni_cert_dispose(&ctx->certs[i]);
            ctx->certs[i] = e;
            return NET_OK;
        }
    }
    ctx->certs[ctx->ncerts++] = e;
    return NET_OK;
}

void net_tls_ctx_clear_certs(net_tls_ctx_t *ctx)
{
    for (size_t i = 0; i < ctx->ncerts; i++)
        sni_cert_dispose(&ctx->certs[i]);
    free(ctx->certs);
    ctx->certs = NULL;
    ctx->ncerts = 0;
}

size_t net_tls_ctx_cert_count(const net_tls_ctx_t *ctx)
{
    return ctx->ncerts;
}

bool net_tls_peer_common_name(const net_tls_t *t, char *buf, size_t cap)
{
    X509 *peer = SSL_get1_peer_certificate(t->ssl);
    int n = peer ? X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf,
                                             (int)cap)
                 : -1;
    X509_free(peer);
    return n >= 0;
}

const char *net_tls_server_name(const net_tls_t *t)
{
    return SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
}

/* Does |leaf| carry the subjectAltName |want|? URIs compare whole (case-sensitive, as SPIFFE IDs
 * do); IP literals by address; anything else as a DNS name with the certificate's wildcards. The
 * subject's common name is never looked at. */
static bool san_has(X509 *leaf, const char *want)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, want, ip) == 1 || inet_pton(AF_INET6, want, ip) == 1)
        return X509_check_ip_asc(leaf, want, 0) == 1;
    if (!strstr(want, "://"))
        return X509_check_host(leaf, want, 0,
                               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                   X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                               NULL) == 1;
    GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    for (int i = 0; names && !found && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_URI)
            continue;
        const ASN1_STRING *u = g->d.uniformResourceIdentifier;
        size_t n = (size_t)ASN1_STRING_length(u);
        found = n == strlen(want) && memcmp(ASN1_STRING_get0_data(u), want, n) == 0;
    }
    GENERAL_NAMES_free(names);
    return found;
}

/* Client verification with a subjectAltName list: once the chain verified up to the leaf, the leaf
 * must carry one of the names (a mismatch fails the handshake like a wrong hostname). */
static int verify_sans(int ok, X509_STORE_CTX *xs)
{
    if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    const net_tls_ctx_t *c = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    X509 *leaf = X509_STORE_CTX_get_current_cert(xs);
    if (!c || !c->nverify || !leaf)
        return ok;
    for (size_t i = 0; i < c->nverify; i++)
        if (san_has(leaf, c->verify_names[i]))
            return 1;
    X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
    return 0;
}

net_tls_ctx_t *net_tls_ctx_new(bool server, const net_tls_config_t *cfg, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    net_tls_config_t none = {0};
    if (!cfg)
        cfg = &none;
    net_tls_ctx_t *c = calloc(1, sizeof *c);
    if (!c) {
        *err = NET_ENOMEM;
        return NULL;
    }
    c->refs = 1;
    c->server = server;
    static const char *const default_alpn[] = {"h2", NULL};
    const char *const *alpn = cfg->alpn ? cfg->alpn : default_alpn;
    for (size_t i = 0; alpn[i]; i++) {
        size_t n = strlen(alpn[i]);
        if (n == 0 || n > 255 || c->alpn_len + 1 + n > sizeof c->alpn) {
            free(c);
            *err = NET_EINVAL;
            return NULL;
        }
        c->alpn[c->alpn_len] = (unsigned char)n;
        memcpy(c->alpn + c->alpn_len + 1, alpn[i], n);
        c->alpn_len += 1 + n;
    }
    c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl) {
        ctx_fail(c, err, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    if (tls_tune(c, cfg, err) != NET_OK)
        return NULL;
    SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
    /* HTTP/2 forbids renegotiation and compression (RFC 9113 §9.2). */
    SSL_CTX_set_options(c->ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);

    if (cfg->cert_pem || cfg->cert_file) {
        int ok = cfg->cert_pem ? load_chain_pem(c->ssl, cfg->cert_pem)
                               : SSL_CTX_use_certificate_chain_file(c->ssl, cfg->cert_file) == 1;
        if (!ok) {
            ctx_fail(c, err,
                     cfg->cert_pem ? "bad certificate PEM" : "cannot load certificate file");
            return NULL;
        }
        ok = cfg->key_pem ? load_key_pem(c->ssl, cfg->key_pem)
             : cfg->key_file
                 ? SSL_CTX_use_PrivateKey_file(c->ssl, cfg->key_file, SSL_FILETYPE_PEM) == 1
                 : 0;
        if (!ok || SSL_CTX_check_private_key(c->ssl) != 1) {
            ctx_fail(c, err, "bad private key, or it does not match the certificate");
            return NULL;
        }
    } else if (server) {
        ctx_fail(c, err, "a TLS server needs a certificate and a key");
        return NULL;
    }

    if (cfg->ca_pem || cfg->ca_file) {
        int ok = cfg->ca_pem ? load_ca_pem(c->ssl, cfg->ca_pem)
                             : SSL_CTX_load_verify_locations(c->ssl, cfg->ca_file, NULL) == 1;
        if (!ok) {
            ctx_fail(c, err, "cannot load CA certificates");
            return NULL;
        }
    } else if (!server && !cfg->insecure_skip_verify) {
        SSL_CTX_set_default_verify_paths(c->ssl);
    }

    if (server) {
        SSL_CTX_set_alpn_select_cb(c->ssl, alpn_select, c);
        SSL_CTX_set_tlsext_servername_callback(c->ssl, servername_cb);
        SSL_CTX_set_tlsext_servername_arg(c->ssl, c);
        if (cfg->ca_pem || cfg->ca_file)
            SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    } else {
        if (SSL_CTX_set_alpn_protos(c->ssl, c->alpn, (unsigned int)c->alpn_len) != 0) {
            ctx_fail(c, err, "cannot set ALPN protocols");
            return NULL;
        }
        for (size_t i = 0; cfg->verify_names && cfg->verify_names[i]; i++) {
            char **nv = realloc(c->verify_names, (c->nverify + 1) * sizeof *nv);
            if (nv)
                c->verify_names = nv;
            if (!nv || !(nv[c->nverify] = strdup(cfg->verify_names[i]))) {
                ctx_fail(c, err, "out of memory");
                *err = NET_ENOMEM;
                return NULL;
            }
            c->nverify++;
        }
        c->skip_name = cfg->skip_name_check || c->nverify;
        SSL_CTX_set_app_data(c->ssl, c);
        SSL_CTX_set_verify(c->ssl, cfg->insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                           c->nverify ? verify_sans : NULL);
    }
    *err = NET_OK;
    return c;
}

net_tls_ctx_t *net_tls_ctx_retain(net_tls_ctx_t *ctx)
{
    if (ctx)
        ctx->refs++;
    return ctx;
}

void net_tls_ctx_release(net_tls_ctx_t *ctx)
{
    if (!ctx || --ctx->refs > 0)
        return;
    net_tls_ctx_clear_certs(ctx);
    for (size_t i = 0; i < ctx->nverify; i++)
        free(ctx->verify_names[i]);
    free(ctx->verify_names);
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

bool net_tls_ctx_is_server(const net_tls_ctx_t *ctx)
{
    return ctx->server;
}

net_tls_t *net_tls_new(net_tls_ctx_t *ctx, const char *peer_name, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    net_tls_t *t = calloc(1, sizeof *t);
    if (!t) {
        *err = NET_ENOMEM;
        return NULL;
    }
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        free(t);
        *err = NET_ENOMEM;
        return NULL;
    }
    /* An empty read BIO means "try again", not end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both BIOs now */
    t->ctx = net_tls_ctx_retain(ctx);
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (peer_name && *peer_name) {
            unsigned char ip[16];
            bool is_ip =
                inet_pton(AF_INET, peer_name, ip) == 1 || inet_pton(AF_INET6, peer_name, ip) == 1;
            int ok = 1;
            /* INSECURE_HOST or a subjectAltName list: the name goes as SNI, unchecked */
            if (is_ip && !ctx->skip_name)
                ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), peer_name);
            else if (!is_ip)
                ok = SSL_set_tlsext_host_name(t->ssl, peer_name) == 1 &&
                     (ctx->skip_name || SSL_set1_host(t->ssl, peer_name) == 1);
            if (!ok) {
                collect_errors(t->err, sizeof t->err, "bad peer name");
                net__log(NET_LOG_ERROR, "tls: %s '%s'", t->err, peer_name);
                net_tls_free(t);
                *err = NET_EINVAL;
                return NULL;
            }
        }
    }
    *err = NET_OK;
    return t;
}

void net_tls_free(net_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    net_tls_ctx_release(t->ctx);
    free(t);
}

int net_tls_feed(net_tls_t *t, const uint8_t *data, size_t len)
{
    while (len) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        int n = BIO_write(t->rbio, data, chunk);
        if (n <= 0)
            return NET_ENOMEM;
        data += n;
        len -= (size_t)n;
    }
    return NET_OK;
}

/* Classifies an SSL_* failure. Returns NET_EAGAIN (needs input), NET_ECLOSED or NET_ETLS. */
static int ssl_status(net_tls_t *t, int rv, const char *what)
{
    int e = SSL_get_error(t->ssl, rv);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return NET_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return NET_ECLOSED;
    default: {
        char head[96];
        long vr = SSL_get_verify_result(t->ssl);
        if (vr != X509_V_OK)
            snprintf(head, sizeof head, "%s: certificate verify failed (%s)", what,
                     X509_verify_cert_error_string(vr));
        else
            snprintf(head, sizeof head, "%s failed", what);
        collect_errors(t->err, sizeof t->err, head);
        return NET_ETLS;
    }
    }
}

int net_tls_handshake(net_tls_t *t)
{
    if (t->done)
        return NET_OK;
    int rv = SSL_do_handshake(t->ssl);
    if (rv == 1) {
        t->done = true;
        const unsigned char *p = NULL;
        unsigned int n = 0;
        SSL_get0_alpn_selected(t->ssl, &p, &n);
        if (p && n && n < sizeof t->alpn) {
            memcpy(t->alpn, p, n);
            t->alpn[n] = '\0';
        }
        return NET_OK;
    }
    int st = ssl_status(t, rv, "handshake");
    return st == NET_ECLOSED ? NET_ETLS : st;
}

bool net_tls_handshake_done(const net_tls_t *t)
{
    return t->done;
}

int net_tls_read(net_tls_t *t, uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (!t->done) {
        int rc = net_tls_handshake(t);
        if (rc != NET_OK)
            return rc == NET_EAGAIN ? NET_OK : rc;
    }
    size_t got = 0;
    int rv = SSL_read_ex(t->ssl, buf, cap, &got);
    if (rv == 1) {
        *n = got;
        return NET_OK;
    }
    int st = ssl_status(t, rv, "read");
    return st == NET_EAGAIN ? NET_OK : st;
}

int net_tls_write(net_tls_t *t, const uint8_t *data, size_t len)
{
    if (!t->done)
        return NET_ESTATE;
    while (len) {
        size_t n = 0;
        int rv = SSL_write_ex(t->ssl, data, len, &n);
        if (rv != 1) {
            int st = ssl_status(t, rv, "write");
            /* Memory BIOs never push back, so "want" here would be a bug: report it. */
            return st == NET_EAGAIN ? NET_ETLS : st;
        }
        data += n;
        len -= n;
    }
    return NET_OK;
}

size_t net_tls_pending(const net_tls_t *t)
{
    return BIO_ctrl_pending(t->wbio);
}

void net_tls_pull(net_tls_t *t, uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    int chunk = cap > (1u << 30) ? (1 << 30) : (int)cap;
    int r = BIO_read(t->wbio, buf, chunk);
    if (r > 0)
        *n = (size_t)r;
}

void net_tls_close_notify(net_tls_t *t)
{
    if (t->done)
        SSL_shutdown(t->ssl);
    ERR_clear_error();
}

const char *net_tls_alpn(const net_tls_t *t)
{
    return t->alpn[0] ? t->alpn : NULL;
}

const char *net_tls_error(const net_tls_t *t)
{
    return t->err;
}
