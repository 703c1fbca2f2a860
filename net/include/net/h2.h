/*
 * HTTP/2 sessions (server and client) over nghttp2, sans-IO: the caller feeds received bytes with
 * net_h2_session_recv and pulls bytes to send with net_h2_session_pull; nothing here owns a socket,
 * a timer or a clock. The libuv adapter (conn.c) moves the bytes; tests connect a client session to
 * a server session in memory.
 *
 * Output never grows without bound: each stream has a queue of bytes the application wrote but
 * nghttp2 has not yet framed, capped per stream and per session. A write over a cap is refused with
 * NET_EAGAIN (nothing queued) and the stream gets on_writable once its queue drained to half the
 * cap. When the peer's flow-control window is closed, nghttp2 stops asking for data and the queues
 * simply stay full: memory stays at the caps, whatever the peer does.
 *
 * Receive side: automatic WINDOW_UPDATE is off; data is acknowledged (nghttp2_session_consume) when
 * on_data returns, or, for a stream in manual-consume mode, when the application says so.
 *
 * Callbacks run only inside net_h2_session_recv, net_h2_session_pull and net_h2_session_free. They
 * may call any net_h2_stream_* / net_h2_session_{request,ping,shutdown,goaway} function, but never
 * recv, pull or free of the same session.
 */
#ifndef NET_H2_H
#define NET_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_h2_session net_h2_session_t;
typedef struct net_h2_stream net_h2_stream_t;

/* A header field. Received fields are NUL-terminated copies (names lowercase), borrowed for the
 * duration of the callback that delivers them. For sending, lengths are used, not NUL. */
typedef struct net_h2_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} net_h2_header_t;

/* Builds a header from two NUL-terminated strings (both borrowed). */
#define NET_H2_HDR(n, v) ((net_h2_header_t){(n), sizeof(n) - 1, (v), strlen(v)})

/* Returns: the first field named |name| (lowercase, NUL-terminated) or NULL. Borrows everything. */
const net_h2_header_t *net_h2_header_find(const net_h2_header_t *h, size_t n, const char *name);
/* Returns: a copy of |h| in one allocation (array and strings; owned by caller, free()), or NULL
 * on OOM. Borrows h. */
net_h2_header_t *net_h2_headers_copy(const net_h2_header_t *h, size_t n);

/* Kinds of header block delivered to on_headers. */
enum { NET_H2_REQUEST = 0, NET_H2_RESPONSE = 1, NET_H2_TRAILERS = 2 };

typedef struct net_h2_callbacks {
    /* A complete header block. For NET_H2_REQUEST (server) the stream is new: attach state with
     * net_h2_stream_set_user. Informational 1xx responses are not delivered. */
    void (*on_headers)(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                       size_t n, void *ud);
    /* Body bytes, in arbitrary chunks (padding removed). Borrowed for the call. */
    void (*on_data)(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *data, size_t len,
                    void *ud);
    /* The peer ended its side of the stream (after the last on_data / trailers). */
    void (*on_end)(net_h2_session_t *s, net_h2_stream_t *st, void *ud);
    /* The stream is gone: both sides ended, reset by either side (|error_code| is the HTTP/2 error
     * code; 0 for a normal close), refused, or the session freed (NGHTTP2 CANCEL, 0x8). Last
     * callback for |st|; |st| is freed when it returns. Server streams whose request headers never
     * completed are freed without this callback. */
    void (*on_close)(net_h2_session_t *s, net_h2_stream_t *st, uint32_t error_code, void *ud);
    /* A write to |st| was refused with NET_EAGAIN and there is room again. */
    void (*on_writable)(net_h2_session_t *s, net_h2_stream_t *st, void *ud);
    /* The peer sent GOAWAY: streams above |last_stream_id| were not processed. */
    void (*on_goaway)(net_h2_session_t *s, uint32_t last_stream_id, uint32_t error_code, void *ud);
    /* Our keepalive PING was acknowledged. */
    void (*on_ping_ack)(net_h2_session_t *s, void *ud);
    /* Output became pending outside recv/pull (e.g. a write from a timer): the adapter should
     * schedule a pull. Called at most once until the next pull. */
    void (*on_want_write)(net_h2_session_t *s, void *ud);
} net_h2_callbacks_t;

typedef struct net_h2_config {
    uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS we announce (100) */
    uint32_t initial_window_size;    /* per-stream receive window we announce (1 MiB) */
    uint32_t connection_window_size; /* connection receive window (16 MiB) */
    uint32_t max_header_list_size;   /* bytes (name+value+32 per field) we accept (16 KiB) */
    uint32_t max_frame_size;         /* SETTINGS_MAX_FRAME_SIZE we announce: the largest frame
                                        payload we accept (0: the protocol's 16 KiB, not sent) */
    size_t stream_output_cap;        /* bytes queued per stream, not yet framed (256 KiB) */
    size_t session_output_cap;       /* bytes queued over all streams (4 MiB) */
} net_h2_config_t;

/* Fills |c| with the defaults above. */
void net_h2_config_default(net_h2_config_t *c);

/* Creates a session. |cfg| NULL means defaults; it is copied. Borrows cb (copied); keeps ud.
 * The initial SETTINGS (and, for a client, the connection preface) are pending output at once.
 * Returns: the session, owned by the caller (net_h2_session_free), or NULL with *err set. */
net_h2_session_t *net_h2_session_new(bool server, const net_h2_config_t *cfg,
                                     const net_h2_callbacks_t *cb, void *ud, int *err);
/* Frees the session; every stream still known gets on_close(NGHTTP2 CANCEL) first. NULL is a no-op.
 * Not from inside a callback of this session. */
void net_h2_session_free(net_h2_session_t *s);

/* Feeds received bytes (all of them are processed). Borrows data.
 * Returns: NET_OK; NET_EPROTO when the peer broke the protocol badly enough that the connection
 * must go (bad preface, flooding, a callback failure): pull what is pending (a GOAWAY), then close;
 * NET_ENOMEM. */
int net_h2_session_recv(net_h2_session_t *s, const uint8_t *data, size_t len);

/* Copies up to |cap| bytes of pending output into |buf| and sets *n (0: nothing to send now).
 * Returns NET_OK, or NET_EPROTO / NET_ENOMEM (fatal: close the connection). */
int net_h2_session_pull(net_h2_session_t *s, uint8_t *buf, size_t cap, size_t *n);

/* Returns: true while nghttp2 wants to read (false after GOAWAY with no active stream). */
bool net_h2_session_want_read(const net_h2_session_t *s);
/* Returns: true when pull would produce bytes (or may, once a deferred stream gets data). */
bool net_h2_session_want_write(const net_h2_session_t *s);
/* Returns: true when the session has nothing left to do: the connection may close. */
bool net_h2_session_done(const net_h2_session_t *s);

/* Sends a keepalive PING. Returns NET_OK, or NET_ESTATE if one is already unacknowledged. */
int net_h2_session_ping(net_h2_session_t *s);
/* Returns: true while a PING we sent awaits its ACK (the adapter's timeout checks this). */
bool net_h2_session_ping_pending(const net_h2_session_t *s);

/* Starts a graceful shutdown. Server: a GOAWAY shutdown notice (last stream 2^31-1) and a PING;
 * when the PING is acknowledged (one round trip later, so requests in flight are counted), the
 * final GOAWAY with the last processed stream id. Client: GOAWAY at once. Existing streams run to
 * the end; new ones are refused. Returns NET_OK (also when already shutting down) or NET_ENOMEM. */
int net_h2_session_shutdown(net_h2_session_t *s);
/* Sends the final GOAWAY now with |error_code| (0 for NO_ERROR; e.g. on a ping timeout use 0 and
 * close). Returns NET_OK or NET_ENOMEM. */
int net_h2_session_goaway(net_h2_session_t *s, uint32_t error_code);

/* Returns: bytes queued by the application and not yet pulled by the adapter (stream queues plus
 * framed output held in the session). Bounded by session_output_cap + one write + one frame. */
size_t net_h2_session_queued(const net_h2_session_t *s);
/* Returns: the number of streams known (open or half-closed, not yet closed). */
size_t net_h2_session_streams(const net_h2_session_t *s);
/* Returns: true for a server session. */
bool net_h2_session_is_server(const net_h2_session_t *s);
/* Returns: the user data given at creation. */
void *net_h2_session_user(const net_h2_session_t *s);
/* Returns: the peer's SETTINGS_MAX_CONCURRENT_STREAMS as currently known. */
uint32_t net_h2_session_peer_max_streams(const net_h2_session_t *s);
/* Returns: the session's configuration (copied at creation). */
const net_h2_config_t *net_h2_session_config(const net_h2_session_t *s);

/* Client: opens a stream with request headers (pseudo-headers first). With end_stream the request
 * has no body; otherwise write and end it later. Keeps stream_ud (net_h2_stream_user). Borrows h.
 * Returns: NET_OK with *out borrowed until on_close; NET_ESTATE (server session, or GOAWAY seen);
 * NET_ELIMIT (no stream ids left); NET_ENOMEM. */
int net_h2_session_request(net_h2_session_t *s, const net_h2_header_t *h, size_t n, bool end_stream,
                           void *stream_ud, net_h2_stream_t **out);

/* Server: sends the response headers, once. With end_stream the response is complete (a
 * Trailers-Only gRPC error, for instance); otherwise write and end later. Borrows h.
 * Returns: NET_OK, NET_ESTATE (already responded, client stream), NET_ECLOSED, NET_ENOMEM. */
int net_h2_stream_respond(net_h2_stream_t *st, const net_h2_header_t *h, size_t n, bool end_stream);

/* A piece of bytes for net_h2_stream_writev. */
typedef struct net_h2_iov {
    const void *base;
    size_t len;
} net_h2_iov_t;

/* Queues body bytes (copied: borrows data). All or nothing: refused with NET_EAGAIN when the
 * stream's queue is not empty and would exceed stream_output_cap, or the session's queue is not
 * empty and would exceed session_output_cap (so one write larger than a cap still goes through when
 * its queue is empty); on_writable follows when room comes back.
 * Returns: NET_OK, NET_EAGAIN, NET_ESTATE (no response/request headers sent yet, or already ended),
 * NET_ECLOSED (reset), NET_ENOMEM. */
int net_h2_stream_write(net_h2_stream_t *st, const void *data, size_t len);
int net_h2_stream_writev(net_h2_stream_t *st, const net_h2_iov_t *iov, size_t n);
/* Ends our side once the queued bytes are sent, with |trailers| (n > 0) or without. Borrows
 * trailers (copied). Returns: NET_OK, NET_ESTATE (already ended), NET_ECLOSED, NET_ENOMEM. */
int net_h2_stream_end(net_h2_stream_t *st, const net_h2_header_t *trailers, size_t n);
/* Resets the stream with an HTTP/2 error code (0x8 CANCEL for a cancelled call). Queued bytes are
 * dropped. on_close follows. Returns NET_OK, NET_ECLOSED (already reset), NET_ENOMEM. */
int net_h2_stream_reset(net_h2_stream_t *st, uint32_t error_code);

/* Manual receive flow control: after net_h2_stream_set_manual_consume(st, true), received bytes
 * count against the windows until net_h2_stream_consume(st, n) (e.g. once a message is handled). */
void net_h2_stream_set_manual_consume(net_h2_stream_t *st, bool manual);
void net_h2_stream_consume(net_h2_stream_t *st, size_t n);

int32_t net_h2_stream_id(const net_h2_stream_t *st);
net_h2_session_t *net_h2_stream_session(const net_h2_stream_t *st);
void net_h2_stream_set_user(net_h2_stream_t *st, void *ud); /* keeps ud */
void *net_h2_stream_user(const net_h2_stream_t *st);
/* Returns: bytes queued on this stream and not yet framed. */
size_t net_h2_stream_queued(const net_h2_stream_t *st);
/* Returns: true when a write of |len| bytes would be accepted now. */
bool net_h2_stream_can_write(const net_h2_stream_t *st, size_t len);
/* Returns: true once the peer ended its side; during on_headers, true when that header block
 * carries END_STREAM (a request without body), before on_end is delivered. */
bool net_h2_stream_remote_ended(const net_h2_stream_t *st);

/* Checks the session's invariants (see h2.c); returns NET_OK or logs the broken one and returns
 * NET_ESTATE. Tests call it after every step. */
int net_h2_session_check(const net_h2_session_t *s);

#ifdef __cplusplus
}
#endif
#endif
