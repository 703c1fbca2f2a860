/*
 * Internals shared by tcp.c (listen, accept, connect) and conn.c (the byte pump). Not installed.
 */
#ifndef NET_CONN_INTERNAL_H
#define NET_CONN_INTERNAL_H

#include "net/conn.h"

enum {
    CONN_CONNECTING = 0, /* client: resolving or connecting */
    CONN_HANDSHAKE = 1,  /* TCP up, TLS handshake running */
    CONN_OPEN = 2,       /* h2 session exists */
};

/* INVARIANTS
 *  C1 wq_bytes == sum of the sizes of write requests not yet completed; wq_max >= wq_bytes
 *  C2 after flush returns: wq_bytes < write_queue_cap + 64 KiB (one pull of overshoot at most)
 *  C3 reading is false while read_paused; read_paused is set only by flush or net_conn_write
 *     over the cap and cleared only when wq_bytes has fallen to half the cap
 *  C4 the memory is freed only when closing, handles_open == 0 and reqs_pending == 0
 *  C5 h2 != NULL only in state CONN_OPEN and before teardown
 *  C6 raw => h2 == NULL and state CONN_OPEN; sniffing => !raw, h2 == NULL, state CONN_HANDSHAKE
 *  C7 reading is false while user_paused, unless ending (then input is read and dropped)
 *  C8 a raw owner gets every byte read, in order and once: the sniffed bytes first            */
struct net_conn {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_timer_t timer;    /* handshake, then idle, then shutdown deadline */
    uv_timer_t ka_timer; /* keepalive PING / PING ACK deadline */
    uv_timer_t life_timer; /* max_lifetime_ms */
    uv_idle_t flush_idle;
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    int handles_open; /* libuv handles not yet closed */
    int reqs_pending; /* getaddrinfo / connect / write requests in flight */
    bool gai_active;  /* |gai| is in flight (uv_cancel is only valid then) */

    bool is_server;
    net_server_t *server;
    net_conn_t *prev, *next; /* in the server's list */

    net_conn_config_t cfg;
    net_tls_ctx_t *tls_ctx;
    net_tls_t *tls;
    char *server_name;
    char *host;
    uint16_t port;
    net_h2_session_t *h2;
    net_h2_callbacks_t ucb;
    void *uud;
    net_conn_cb on_open, on_close;
    void *user;

    int state;
    size_t wq_bytes, wq_max;
    bool reading;
    bool read_paused;
    bool flush_scheduled;
    bool ka_waiting; /* a keepalive PING is out; ka_timer is its deadline */
    bool draining;   /* graceful close under way */
    bool close_requested;
    bool closing; /* teardown started */
    bool opened;  /* on_open / on_connect(NET_OK) was called */
    bool close_after_flush;
    bool notify_sent; /* TLS close_notify queued */
    int close_reason;
    int depth;

    /* Raw (byte-stream) mode: HTTP/1.1 and upgraded connections. */
    bool raw_enabled; /* raw callbacks configured: non-h2 connections become raw */
    bool raw;         /* this connection is raw */
    bool sniffing;    /* server: waiting for 24 bytes to tell the h2 preface from HTTP/1 */
    bool user_paused; /* net_conn_set_read_paused(c, true) */
    bool want_drain;  /* the write queue reached its cap: on_drain at half */
    bool ending;      /* net_conn_end: input dropped, FIN after the queued writes */
    bool fin_done;    /* the shutdown request completed (queued writes are out) */
    bool peer_eof;    /* the peer sent FIN / close_notify */
    bool raw_only;    /* server: raw from the first byte, no sniff (net_server_config_t) */
    bool fin_requested; /* net_conn_shutdown or net_conn_end asked for our FIN */
    uint8_t sniff[24];
    size_t sniff_len;
    net_conn_raw_callbacks_t rcb;
    void *rud;
    uv_shutdown_t shutdown_req;
    uint64_t last_active;
    char peer[64];
};

struct net_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listener_open;
    net_server_config_t cfg;
    char *listen;
    net_conn_t *conns;
    size_t nconns;
    bool closing;
    bool close_graceful;
    net_server_counters_t counters;
    void (*on_closed)(net_server_t *, void *);
    void *closed_ud;
};

/* conn.c */
net_conn_t *net__conn_new(uv_loop_t *loop, bool server, const net_conn_config_t *cfg,
                          net_tls_ctx_t *tls, const char *server_name, const net_h2_callbacks_t *cb,
                          void *ud, net_conn_cb on_open, net_conn_cb on_close, int *err);
/* The TCP connection is established (accepted, or connect succeeded): start TLS or h2. */
void net__conn_start(net_conn_t *c);
/* Stops a heap-allocated timer, clears its data (so a pending callback sees no owner) and frees it
 * once libuv has closed it. NULL is a no-op. */
void net__timer_discard(uv_timer_t *t);
/* Appends |n| bytes of |data| to the growable buffer (*buf, *len, *cap), doubling from 16 KiB.
 * Used by the gRPC calls to hold messages the application has paused.
 * Borrows: data. Returns NET_OK, or NET_ENOMEM with the buffer unchanged. */
int net__bytes_append(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *data, size_t n);
/* Requests a close with |reason| (deferred while inside a callback of |c|). */
void net__conn_abort(net_conn_t *c, int reason);
/* Socket reads of net/ connections on this thread (read_cb): the input signal of busy polling
 * (net/busy_poll.c). Per thread because a loop and its connections live on one thread. */
extern _Thread_local uint64_t net__conn_reads;
void net__conn_enter(net_conn_t *c);
void net__conn_leave(net_conn_t *c);
/* Frees |c| once it is closing and libuv holds nothing of it (handles closed, requests done). */
void net__conn_maybe_free(net_conn_t *c);

/* tcp.c */
void net__server_conn_gone(net_server_t *s, net_conn_t *c);

#endif
