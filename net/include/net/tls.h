/*
 * TLS as a sans-IO object over OpenSSL memory BIOs: ciphertext is fed in and pulled out by the
 * adapter, plaintext is read and written by the protocol above. ALPN (h2, http/1.1) is negotiated
 * here; the adapter picks the protocol from net_tls_alpn once the handshake is done.
 *
 * Also: a test-certificate generator (a CA and a leaf signed by it, EC P-256, OpenSSL API) used by
 * tests across modules that need TLS without files.
 */
#ifndef NET_TLS_H
#define NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_tls_ctx net_tls_ctx_t;
typedef struct net_tls net_tls_t;

typedef struct net_tls_config {
    /* Our certificate chain and private key: PEM text (*_pem) or a file path (*_file). Required for
     * a server; optional for a client (client-certificate authentication). */
    const char *cert_pem, *key_pem, *cert_file, *key_file;
    /* Trusted CA(s) to verify the peer, PEM text or file. A client verifies the server by default
     * (against these, or the system store when none is given); a server with a CA requires and
     * verifies client certificates. */
    const char *ca_pem, *ca_file;
    bool insecure_skip_verify; /* client: accept any server certificate (tests only) */
    /* Client: verify the chain but not the name (the peer name is still sent as SNI). */
    bool skip_name_check;
    /* Client: the server certificate must carry one of these subjectAltNames, instead of matching
     * the peer name: a DNS name (the certificate's wildcards apply), an IP literal, or a URI (any
     * entry with "://", compared whole, e.g. a SPIFFE ID). NULL-terminated; NULL: the peer name is
     * checked. The subject's common name is never used. */
    const char *const *verify_names;
    /* ALPN protocol names in preference order, NULL-terminated. NULL means {"h2", NULL}. A server
     * picks its most preferred protocol that the client offers; a client that offers ALPN and gets
     * none back is still connected (net_tls_alpn returns NULL). */
    const char *const *alpn;
    /* Protocol versions accepted (NET_TLS_V1_2, NET_TLS_V1_3; 0: TLS 1.2 up to the newest). */
    int min_version, max_version;
    /* Cipher choice, OpenSSL syntax; NULL: OpenSSL's defaults. |cipher_list| covers TLS 1.2
     * ("ECDHE-RSA-AES128-GCM-SHA256:..."), |ciphersuites| TLS 1.3 ("TLS_AES_128_GCM_SHA256:...").
     * "" is refused (no usable cipher) for cipher_list; for ciphersuites it disables TLS 1.3. */
    const char *cipher_list, *ciphersuites;
    /* Key exchange groups in preference order, colon-separated ("X25519:P-256"); NULL: OpenSSL's
     * defaults. */
    const char *groups;
} net_tls_config_t;

#define NET_TLS_V1_2 0x0303
#define NET_TLS_V1_3 0x0304

/* Creates a context (SSL_CTX, TLS 1.2 minimum). Borrows cfg (copied).
 * Returns: the context (refcount 1, owned by the caller: net_tls_ctx_release), or NULL with *err
 * NET_ETLS (bad certificate/key/CA; the reason is logged) or NET_ENOMEM / NET_EINVAL (an ALPN
 * name, version, cipher or group OpenSSL does not take; the reason is logged). */
net_tls_ctx_t *net_tls_ctx_new(bool server, const net_tls_config_t *cfg, int *err);
net_tls_ctx_t *net_tls_ctx_retain(net_tls_ctx_t *ctx);
void net_tls_ctx_release(net_tls_ctx_t *ctx); /* NULL is a no-op */
bool net_tls_ctx_is_server(const net_tls_ctx_t *ctx);

/* Server contexts serve several certificates, chosen per connection by the client's SNI: the
 * exact name, else the longest wildcard ("*.foo.com" takes "a.foo.com" and "a.b.foo.com", not
 * "foo.com"), else the entry with the empty name, else the context's own certificate (the one
 * given to net_tls_ctx_new). Names compare without case; a trailing dot in the SNI is ignored.
 * ALPN and every other setting are the context's, whatever certificate is chosen.
 *
 * Adds (or replaces, for a name already present) the certificate chain |cert_pem| (leaf first)
 * and private key |key_pem| for |hostname| ("foo.com", "*.foo.com"; NULL or "" for the default).
 * Affects handshakes that start afterwards. Borrows all strings (copied).
 * Returns: NET_OK; NET_EINVAL (a client context, or a NULL PEM); NET_ETLS (the PEM does not load
 * or the key does not match: |why|, cap bytes, says which; may be NULL); NET_ENOMEM. On failure
 * the table is unchanged. */
int net_tls_ctx_add_cert(net_tls_ctx_t *ctx, const char *hostname, const char *cert_pem,
                         const char *key_pem, char *why, size_t cap);
/* Empties the SNI table (the context's own certificate stays). */
void net_tls_ctx_clear_certs(net_tls_ctx_t *ctx);
/* Returns: the number of certificates in the SNI table. */
size_t net_tls_ctx_cert_count(const net_tls_ctx_t *ctx);

/* Creates one TLS connection. Keeps ctx (retained until net_tls_free). |peer_name| (client only,
 * may be NULL): the name sent as SNI and checked against the server certificate; an IP literal is
 * checked against IP SANs and not sent as SNI. Returns: owned by caller, or NULL with *err. */
net_tls_t *net_tls_new(net_tls_ctx_t *ctx, const char *peer_name, int *err);
void net_tls_free(net_tls_t *t); /* NULL is a no-op */

/* Gives ciphertext received from the network. Borrows data. Returns NET_OK or NET_ENOMEM. */
int net_tls_feed(net_tls_t *t, const uint8_t *data, size_t len);
/* Advances the handshake. Returns NET_OK once done, NET_EAGAIN while it needs more input (pull
 * the output first), NET_ETLS on failure (net_tls_error says why; pull the alert, then close). */
int net_tls_handshake(net_tls_t *t);
bool net_tls_handshake_done(const net_tls_t *t);
/* Reads decrypted bytes. Returns NET_OK with *n (0: needs more input), NET_ECLOSED when the peer
 * sent close_notify, NET_ETLS. */
int net_tls_read(net_tls_t *t, uint8_t *buf, size_t cap, size_t *n);
/* Encrypts |len| bytes (all of them, after the handshake). Borrows data. Returns NET_OK, NET_ESTATE
 * (handshake not done), NET_ETLS. The ciphertext is then pending for net_tls_pull. */
int net_tls_write(net_tls_t *t, const uint8_t *data, size_t len);
/* Returns: ciphertext bytes waiting to be sent. */
size_t net_tls_pending(const net_tls_t *t);
/* Moves up to |cap| bytes of pending ciphertext into |buf|; *n is how many. */
void net_tls_pull(net_tls_t *t, uint8_t *buf, size_t cap, size_t *n);
/* Queues a close_notify alert. */
void net_tls_close_notify(net_tls_t *t);
/* Returns: the negotiated ALPN protocol ("h2", "http/1.1"), borrowed until free; NULL if none. */
const char *net_tls_alpn(const net_tls_t *t);
/* Returns: the server name (SNI) the client sent (server side, once the ClientHello was read) or
 * the one we sent (client side); NULL if none. Borrowed until net_tls_free. */
const char *net_tls_server_name(const net_tls_t *t);
/* Copies the common name of the peer's certificate into |buf| (cap bytes, NUL-terminated).
 * Returns: false when the peer sent no certificate or it has no common name. */
bool net_tls_peer_common_name(const net_tls_t *t, char *buf, size_t cap);
/* Returns: the last error as a sentence (borrowed until the next call on |t|), "" if none. */
const char *net_tls_error(const net_tls_t *t);

/* ---------------------------------------------------------------------------------------------
 * Test certificates
 * ------------------------------------------------------------------------------------------- */
typedef struct net_tls_testcert {
    char *ca_pem;     /* self-signed CA certificate */
    char *ca_key_pem; /* the CA's private key (to sign more leaves) */
    char *cert_pem;   /* leaf certificate signed by the CA */
    char *key_pem;    /* the leaf's private key (PKCS#8) */
} net_tls_testcert_t;

/* Makes a fresh CA and a leaf for |common_name| with subjectAltName |san| (OpenSSL syntax, e.g.
 * "DNS:localhost,IP:127.0.0.1,IP:::1"; NULL means exactly that), valid from one hour ago for one
 * day. With |client_auth| the leaf is usable as a client certificate too. Borrows the strings.
 * Returns NET_OK (dispose |out| with net_tls_testcert_dispose), NET_ETLS or NET_ENOMEM. */
int net_tls_testcert_make(net_tls_testcert_t *out, const char *common_name, const char *san,
                          bool client_auth);
/* Makes another leaf signed by the CA of |ca| (ca_pem, ca_key_pem): fills |leaf| with copies of
 * the CA fields and a new cert_pem/key_pem. Same arguments and results as net_tls_testcert_make. */
int net_tls_testcert_leaf(const net_tls_testcert_t *ca, net_tls_testcert_t *leaf,
                          const char *common_name, const char *san, bool client_auth);
void net_tls_testcert_dispose(net_tls_testcert_t *c);

#ifdef __cplusplus
}
#endif
#endif
