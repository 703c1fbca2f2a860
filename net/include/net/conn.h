/*
 * The libuv adapter: TCP listen/accept/connect, optional TLS, and one HTTP/2 session per
 * connection. A connection pumps bytes socket → TLS → h2 and h2 → TLS → socket, and nothing else:
 * every protocol decision lives in the sans-IO cores (h2.c, tls.c, grpc.c, h1.c). A connection
 * may instead be "raw" (HTTP/1.1, upgraded protocols): then its owner reads and writes the
 * plaintext bytes (net_conn_raw_callbacks_t, net_conn_write).
 *
 * Limits: reads stop while the bytes handed to uv_write and not yet written exceed
 * write_queue_cap (a peer that does not read cannot make us read, hence cannot make us produce);
 * output production stops at the same cap, and the h2 stream queues have their own caps
 * (net/h2.h). A connection's memory is therefore bounded by the caps, whatever the peer does.
 *
 * Lifetime: a connection is freed after all its libuv handles have run their close callbacks; the
 * owner hears about it through on_close (the last callback). net_conn_close may be called from any
 * callback; the teardown then happens when that callback returns.
 *
 * Threading: everything runs on the loop's thread.
 */
#ifndef NET_CONN_H
#define NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "net/h2.h"
#include "net/net.h"
#include "net/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_conn net_conn_t;
typedef struct net_server net_server_t;

/* |status| is NET_OK or a NET_E* code; for on_close it is the reason: NET_OK (orderly: GOAWAY done,
 * peer closed cleanly, or closed by us), NET_EIO (socket error, reset, EOF with streams open),
 * NET_ETIMEDOUT (handshake, keepalive or shutdown timeout), NET_EPROTO, NET_ETLS, NET_EALPN. */
typedef void (*net_conn_cb)(net_conn_t *c, int status, void *ud);

/* A "raw" connection carries a byte stream instead of an HTTP/2 session: HTTP/1.1 (net/h1.h does
 * the protocol), or whatever follows an Upgrade. The adapter still owns the socket, TLS, the write
 * queue and the close rules; the owner gets the plaintext bytes and writes plaintext bytes.
 * Callbacks get the |ud| of the server or client config (or of net_conn_set_raw). */
typedef struct net_conn_raw_callbacks {
    /* Bytes received (decrypted), borrowed for the call. Every byte read is delivered, also
     * shortly after net_conn_set_read_paused(c, true) (at most one socket read, 64 KiB): keep
     * what you do not consume. Required to enable raw connections. */
    void (*on_read)(net_conn_t *c, const uint8_t *data, size_t len, void *ud);
    /* The peer finished sending (FIN, or TLS close_notify); reading has stopped. Write what is
     * left, then net_conn_end. NULL: net_conn_end at once. */
    void (*on_eof)(net_conn_t *c, void *ud);
    /* The write queue, after reaching write_queue_cap, drained to half of it. */
    void (*on_drain)(net_conn_t *c, void *ud);
    /* A graceful close was asked for (net_conn_close(c, true), net_server_close(s, true)): finish
     * what is in progress, then net_conn_end (or net_conn_close(c, true) again);
     * shutdown_timeout_ms bounds it. NULL: net_conn_end at once. */
    void (*on_shutdown)(net_conn_t *c, void *ud);
    /* The connection is gone (|status| as for on_close): the last raw callback, right before the
     * server's on_conn_close / the client's on_close. */
    void (*on_close)(net_conn_t *c, int status, void *ud);
} net_conn_raw_callbacks_t;

typedef struct net_conn_config {
    net_h2_config_t h2;
    size_t write_queue_cap;        /* bytes in flight to the socket before pausing (256 KiB) */
    uint64_t handshake_timeout_ms; /* TCP connect + TLS handshake (10 s) */
    uint64_t idle_timeout_ms;      /* no stream open and no bytes read for this long → graceful
                                      close (server 300 s, client 0 = never) */
    uint64_t max_lifetime_ms;      /* an open connection is closed gracefully (GOAWAY, or a raw
                                      owner's on_shutdown) this long after it was accepted or
                                      connected (0 = never; default 0) */
    uint64_t keepalive_ms;         /* PING every this long (0 = never; default 0) */
    uint64_t keepalive_timeout_ms; /* no PING ACK within this → close with NET_ETIMEDOUT (20 s) */
    uint64_t shutdown_timeout_ms;  /* a graceful close aborts after this long (30 s) */
    /* TCP keepalive probes (SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT), set once connected:
     * the first probe after |idle_s| seconds without traffic, then every |interval_s|, the
     * connection dropped after |probes| unanswered. idle_s 0 = off (default); 0 for the others
     * means the system's value. */
    uint32_t tcp_keepalive_idle_s, tcp_keepalive_interval_s, tcp_keepalive_probes;
} net_conn_config_t;

/* Fills |c| with the defaults above (server or client flavour). */
void net_conn_config_default(net_conn_config_t *c, bool server);

/* Parses "1.2.3.4:80", "[::1]:443" (numeric hosts only) into |out|. Borrows hostport.
 * Returns NET_OK or NET_EADDR. */
int net_addr_parse(const char *hostport, struct sockaddr_storage *out);
/* Formats |sa| as "ip:port" or "[ip]:port" into buf (cap >= 64 is enough). */
void net_addr_format(const struct sockaddr *sa, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * Server
 * ------------------------------------------------------------------------------------------- */
typedef struct net_server_config {
    const char *listen; /* "127.0.0.1:0" (port 0 = any free port: see net_server_port) */
    net_tls_ctx_t *tls; /* NULL: h2c with prior knowledge. Retained by the server. */
    net_conn_config_t conn;
    size_t max_connections;    /* more are accepted and closed at once (1024) */
    int backlog;               /* listen(2) backlog (128) */
    net_h2_callbacks_t cb;     /* stream callbacks for every connection (on_want_write unused); the
                                  session's user data is the connection (net_conn_from_session) */
    void *ud;                  /* passed to cb and to the callbacks below; kept */
    net_conn_cb on_conn_open;  /* optional: a connection's HTTP/2 session is ready, or (raw
                                  connections) the connection is ready for bytes */
    net_conn_cb on_conn_close; /* optional: a connection is gone (reason in status) */
    /* Optional: HTTP/1.1 next to HTTP/2. With raw.on_read set, a TLS connection whose ALPN is not
     * h2 ("http/1.1", or none), and a plaintext connection whose first 24 bytes are not the
     * HTTP/2 client preface, become raw connections (net_conn_is_raw) with these callbacks.
     * Until the first bytes decide, a plaintext connection is under handshake_timeout_ms and the
     * server's SETTINGS wait for the client's preface. Unset: every connection is HTTP/2. */
    net_conn_raw_callbacks_t raw;
    /* With raw callbacks: every connection is raw from its first byte (TCP and TLS passthrough
     * proxying): no preface sniff, so a protocol where the server speaks first works; over TLS,
     * raw whatever ALPN picked. */
    bool raw_only;
} net_server_config_t;

/* Fills |c| with defaults (listen "127.0.0.1:0", server connection defaults). */
void net_server_config_default(net_server_config_t *c);

/* Binds and listens. Borrows cfg (copied; listen string copied). Returns: the server, owned by the
 * caller (net_server_close), or NULL with *err (NET_EADDR bad address, NET_EIO bind/listen failed,
 * e.g. the port is taken). */
net_server_t *net_server_new(uv_loop_t *loop, const net_server_config_t *cfg, int *err);
/* Returns: the bound port. */
int net_server_port(const net_server_t *s);
/* Replaces the connection settings (timeouts, keepalives, HTTP/2 settings) used for connections
 * accepted from now on; open ones keep theirs. Borrows cfg (copied). */
void net_server_set_conn_config(net_server_t *s, const net_conn_config_t *cfg);
/* Replaces the TLS context used for connections accepted from now on (retained; the previous one
 * is released, open connections keep theirs). Must stay NULL for a plaintext server and non-NULL
 * for a TLS one: returns NET_EINVAL (nothing changed) otherwise, else NET_OK. */
int net_server_set_tls(net_server_t *s, net_tls_ctx_t *tls);

/* Why connections of a server were closed by the server itself, counted since it opened. */
typedef struct net_server_counters {
    uint64_t accepted;           /* connections accepted (refused ones included) */
    uint64_t handshake_timeouts; /* TLS handshake or first bytes late (handshake_timeout_ms) */
    uint64_t idle_closed;        /* HTTP/2 with no stream for idle_timeout_ms */
    uint64_t lifetime_closed;    /* max_lifetime_ms reached */
    uint64_t keepalive_timeouts; /* no HTTP/2 PING ACK within keepalive_timeout_ms */
} net_server_counters_t;
void net_server_counters(const net_server_t *s, net_server_counters_t *out);
/* Returns: connections currently open. */
size_t net_server_connections(const net_server_t *s);
/* Stops listening and closes every connection: gracefully (GOAWAY, streams finish, bounded by
 * shutdown_timeout_ms) or at once. |on_closed| runs when everything is closed; the server is freed
 * right after it returns. Keeps ud. Call once. */
void net_server_close(net_server_t *s, bool graceful, void (*on_closed)(net_server_t *, void *),
                      void *ud);

/* ---------------------------------------------------------------------------------------------
 * Client
 * ------------------------------------------------------------------------------------------- */
typedef struct net_client_config {
    const char *host; /* IP literal or name (resolved with uv_getaddrinfo) */
    uint16_t port;
    net_tls_ctx_t *tls;      /* NULL: h2c prior knowledge. Retained by the connection. */
    const char *server_name; /* TLS SNI and verified name; NULL means |host| */
    net_conn_config_t conn;
    net_h2_callbacks_t cb; /* stream callbacks (on_want_write unused) */
    void *ud;
    net_conn_cb on_connect; /* first callback: NET_OK once requests may be made, or the error */
    net_conn_cb on_close;   /* last callback, also after a failed connect */
    /* Optional: with raw.on_read set, the connection is raw (net_conn_write, HTTP/1.1): always
     * in plaintext, and over TLS unless ALPN picks h2 (offer "http/1.1" in the context's alpn). */
    net_conn_raw_callbacks_t raw;
} net_client_config_t;

void net_client_config_default(net_client_config_t *c);

/* Starts connecting. Borrows cfg (copied, strings too). Returns the connection (freed by the
 * library after on_close), or NULL with *err (then no callback runs). */
net_conn_t *net_client_connect(uv_loop_t *loop, const net_client_config_t *cfg, int *err);

/* ---------------------------------------------------------------------------------------------
 * Connection
 * ------------------------------------------------------------------------------------------- */

/* Returns: the HTTP/2 session (NULL before the connection is ready or after it closed), borrowed
 * until on_close. */
net_h2_session_t *net_conn_session(const net_conn_t *c);
/* Returns: the connection that owns |s| (sessions made by this adapter only). */
net_conn_t *net_conn_from_session(const net_h2_session_t *s);
/* Closes: gracefully (GOAWAY, then close when the streams are done, bounded by shutdown_timeout_ms)
 * or at once (streams get on_close with CANCEL). Safe to call more than once and from callbacks. */
void net_conn_close(net_conn_t *c, bool graceful);
/* Makes pending h2 output go out soon (the session's on_want_write does this already). */
void net_conn_flush(net_conn_t *c);
void net_conn_set_user(net_conn_t *c, void *ud); /* keeps ud */
void *net_conn_user(const net_conn_t *c);
/* Returns: "ip:port" of the peer, borrowed until on_close. */
const char *net_conn_peer(const net_conn_t *c);
/* Returns: the TLS server name (SNI) of the connection (what a client sent, for a server), or
 * NULL (plaintext, none sent, or closed). Borrowed until on_close. */
const char *net_conn_server_name(const net_conn_t *c);
/* Returns: the ALPN protocol negotiated over TLS, or NULL (plaintext, or none). */
const char *net_conn_alpn(const net_conn_t *c);
/* Returns: bytes handed to the socket and not yet written. */
size_t net_conn_write_queued(const net_conn_t *c);
/* Returns: the largest value net_conn_write_queued has had (for memory-bound tests). */
size_t net_conn_write_queued_max(const net_conn_t *c);
/* Returns: true while reading is paused because the write queue is over its cap. */
bool net_conn_read_paused(const net_conn_t *c);
uv_loop_t *net_conn_loop(const net_conn_t *c);
/* Returns: the server that accepted |c|, or NULL for a client connection. */
net_server_t *net_conn_server(const net_conn_t *c);
/* Returns: the socket's file descriptor (e.g. for getsockopt in tests), or -1 once closing. */
int net_conn_fileno(const net_conn_t *c);

/* ---------------------------------------------------------------------------------------------
 * Raw (byte-stream) connections
 * ------------------------------------------------------------------------------------------- */

/* Returns: true when |c| carries a byte stream (net_conn_raw_callbacks_t), not HTTP/2. */
bool net_conn_is_raw(const net_conn_t *c);
/* Queues |len| bytes (copied: borrows data), encrypted first over TLS. Never refused for size:
 * the caller stops producing while net_conn_write_queued(c) >= write_queue_cap and resumes on
 * on_drain (reading pauses meanwhile, as for HTTP/2). Returns: NET_OK; NET_ESTATE (not raw);
 * NET_ECLOSED (closing, or net_conn_end was called); NET_ENOMEM / NET_EIO / NET_ETLS (the
 * connection is then closing). */
int net_conn_write(net_conn_t *c, const void *data, size_t len);
/* Stops or restarts reading (the owner's own pause, independent of the write-queue pause). */
void net_conn_set_read_paused(net_conn_t *c, bool paused);
/* Ends a raw connection politely: bytes already queued go out, then TLS close_notify and a TCP
 * FIN; what the peer still sends is read and dropped until it closes (bounded by
 * shutdown_timeout_ms), so a final response is not destroyed by a TCP reset. After this only
 * on_close is called (no on_read, on_eof, on_drain). For an HTTP/2 connection:
 * net_conn_close(c, true). Safe to call more than once. */
void net_conn_end(net_conn_t *c);
/* Half-close (a TCP stream or tunnel whose one side finished): our FIN (after a TLS
 * close_notify) goes out once the queued bytes are written, and reading goes on: on_read and
 * on_eof keep coming. net_conn_write then fails with NET_ECLOSED. The connection closes by itself
 * once our FIN is out and the peer's EOF was delivered (or call net_conn_end / net_conn_close
 * earlier). Returns NET_OK (also when already asked), NET_ESTATE (not raw), NET_ECLOSED (closing
 * or ending), NET_EIO / NET_ETLS. */
int net_conn_shutdown(net_conn_t *c);
/* Hands a raw connection to a new owner (after an HTTP/1.1 Upgrade): the next callbacks go to
 * |cb| with |ud| (cb copied, ud kept). Returns NET_OK, NET_EINVAL (no on_read), or NET_ESTATE
 * when |c| is not raw. */
int net_conn_set_raw(net_conn_t *c, const net_conn_raw_callbacks_t *cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif
