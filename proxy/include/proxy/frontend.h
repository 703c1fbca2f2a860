/*
 * Client connections of a listener: the proxy's default timeouts and limits, overlaid by the
 * agentgateway FrontendPolicies (FrontendPolicySpec tcp / tls / http) that attach to the Bind the
 * listener serves. Sans-IO: a snapshot and options in, plain settings out; http.c applies them to
 * the listening socket's net/ configuration, its TLS context and each HTTP/1.1 connection.
 *
 *   proxy_frontend_t fe;
 *   proxy_frontend_resolve(snap, "443/default/gw", &opt, &fe);
 *   server_cfg.conn = fe.conn;  tls_cfg.min_version = fe.tls_min_version; ...
 *
 * Attachment: a frontend Policy targets a Gateway (`gateway{name, namespace}`; with `listener`
 * or `port` it is listener level). It applies to a Bind when one of the Bind's Listeners belongs
 * to that Gateway (and, at listener level, is that listener or has that port). Connection-level
 * settings cannot differ per Listener of one port (the Listener is only known after the TLS
 * handshake or the request head), so a listener-level policy applies to the whole port. Per kind
 * (tcp, tls, http) one policy wins: listener level over gateway level, OVERRIDE over the rest
 * (among OVERRIDE ones the gateway level), ties to the first by key — the rules of proxy/policy.h.
 */
#ifndef PROXY_FRONTEND_H
#define PROXY_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "net/conn.h"
#include "proxy/config.h"
#include "proxy/proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proxy_frontend {
    /* The policies applied (their keys, borrowed from the snapshot), or NULL. */
    const char *tcp_policy, *tls_policy, *http_policy;
    /* The listening socket's connection settings: handshake, HTTP/2 idle, HTTP/2 keepalive
     * PINGs, HTTP/2 SETTINGS, TCP keepalive, maximum connection duration. */
    net_conn_config_t conn;
    /* HTTP/1.1 connections (http.c): */
    uint64_t http1_idle_ms;    /* between requests: no byte of a next request (0: never) */
    uint64_t header_ms;        /* first byte of a request head to its end (0: never) */
    uint64_t body_ms;          /* a request body without a byte while we wait for it (0: never) */
    size_t http1_max_headers;  /* header fields per request (net_h1_config_t.max_headers) */
    size_t max_buffered_input; /* unparsed bytes per connection before reading pauses */
    /* TLS (terminating listeners): 0 / NULL = net/'s defaults. */
    int tls_min_version, tls_max_version; /* NET_TLS_V1_2, NET_TLS_V1_3 */
    char tls_cipher_list[512];            /* TLS 1.2 ciphers, OpenSSL names; "" = default */
    char tls_ciphersuites[256];           /* TLS 1.3 suites; "" = default */
    bool tls_ciphers_set;                 /* the policy names ciphers (the strings above apply) */
    char tls_groups[128];                 /* "X25519:P-256"; "" = default */
    bool tls_alpn_set;                    /* the policy names ALPN protocols (tls_alpn applies) */
    const char *tls_alpn[3];              /* NULL-terminated; static strings */
    uint64_t tls_hash; /* of the TLS fields above: a change rebuilds the context */
} proxy_frontend_t;

/* Fills |out| with the settings for connections to Bind |bind_key|: |opt|'s defaults (client_*
 * timeouts, max_buffered_input), overlaid by the frontend policies of |s| attached to that Bind
 * (none when the Bind is not in |s|). Borrows all; |out| borrows policy keys from |s|. */
void proxy_frontend_resolve(const proxy_snapshot_t *s, const char *bind_key,
                            const proxy_options_t *opt, proxy_frontend_t *out);

/* Validation P7 (run by the config store on every snapshot): a frontend tcp / tls / http policy
 * whose values cannot be applied — TLS minimum above maximum, an unknown version, cipher suite
 * or key exchange group (or one this OpenSSL lacks), an ALPN protocol other than h2 and
 * http/1.1, HTTP/2 window or frame sizes outside what RFC 9113 allows, zero limits. Borrows p.
 * Returns PROXY_OK, or PROXY_ECONFIG with |reason| ("policy/<key>: frontend.tls: min_version
 * TLS_V1_3 is above max_version TLS_V1_2"). */
int proxy_frontend_check(const Agentgateway__Dev__Resource__Policy *p, const char *key,
                         char *reason, size_t cap);

/* For /config_dump: every Bind of |s| with what its listener applies to new connections,
 * {"<bind key>": {"policies": {"tcp", "tls", "http"}, "http1_idle_ms", "header_ms", "body_ms",
 * "handshake_ms", "http2_idle_ms", "max_connection_ms", "http1_max_headers",
 * "max_buffered_input", "tcp_keepalive": [idle s, interval s, count] | null, "tls":
 * {"min", "max", "ciphers", "ciphersuites", "groups", "alpn"}}}. Borrows s, opt.
 * Returns: owned by caller, or NULL (out of memory). */
json_t *proxy_frontend_dump(const proxy_snapshot_t *s, const proxy_options_t *opt);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_FRONTEND_H */
