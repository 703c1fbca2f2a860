/*
 * HTTP/1.1 as a sans-IO codec (RFC 9112): a pull-style parser for requests (server side) or
 * responses (client side), and serializers for request heads, response heads, chunks and error
 * responses. Nothing here owns a socket, a timer or a clock; the libuv adapter (http_server.c, or
 * the proxy) feeds the bytes it read and writes the bytes built here.
 *
 * The parser returns one event per call (head, a piece of body, end of message, error, done) and
 * consumes only the bytes of that event, so the caller decides when to take the next message:
 * pipelined requests wait in the caller's buffer until their turn, and a body is never copied
 * (BODY events point into the caller's input).
 *
 * Strictness (request-smuggling defenses; a front proxy must not disagree with a backend about
 * where a message ends): lines end in CRLF (bare CR or LF: 400), no obsolete line folding (400),
 * no control characters, field names are tokens (whitespace before ':' is 400), one
 * Content-Length at most and only digits, Transfer-Encoding exactly "chunked" (other codings
 * 501), never both (400), no Transfer-Encoding in HTTP/1.0, exactly one Host in HTTP/1.1
 * requests, strict chunk framing (CRLF after every chunk). Limits give 414/431. Every error
 * names what was wrong and where (line number in the head, or byte offset in the body).
 *
 * Header fields are the same type as HTTP/2's (net_h2_header_t): names are lowercased on receipt,
 * so one header list moves between HTTP/1.1 and HTTP/2 without conversion.
 */
#ifndef NET_H1_H
#define NET_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/h2.h"
#include "net/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_h1_parser net_h1_parser_t;

typedef struct net_h1_config {
    size_t max_head;       /* start line + header fields with their CRLFs, bytes (16 KiB); over it:
                              414 while still in the request line, else 431. Trailers: the same */
    size_t max_headers;    /* header fields per message (100; over it: 431). Trailers: the same */
    size_t max_chunk_line; /* chunk-size line with extensions, bytes (1 KiB; over it: 400) */
} net_h1_config_t;

/* Fills |c| with the defaults above. */
void net_h1_config_default(net_h1_config_t *c);

/* Events returned by net_h1_parser_feed / net_h1_parser_finish. */
enum {
    NET_H1_EV_NEED_MORE = 0, /* every byte given was consumed and nothing is pending: feed more */
    NET_H1_EV_HEAD = 1,      /* a message head is complete: net_h1_parser_message */
    NET_H1_EV_BODY = 2,      /* ev.data / ev.len: body bytes (chunk framing removed) */
    NET_H1_EV_END = 3,       /* the message is complete (trailers: net_h1_parser_trailers) */
    NET_H1_EV_ERROR = 4,     /* malformed input: net_h1_parser_error_status / _error. Sticky */
    NET_H1_EV_DONE = 5,      /* no further HTTP/1.1 message on this connection: the last one was
                                not keep-alive, or switched protocols (Upgrade, CONNECT); bytes
                                after it are not consumed and belong to what comes next */
};

typedef struct net_h1_event {
    int kind;            /* NET_H1_EV_* */
    const uint8_t *data; /* NET_H1_EV_BODY: points into the input given to the call */
    size_t len;
} net_h1_event_t;

/* A parsed message head. Strings are NUL-terminated. */
typedef struct net_h1_message {
    const char *method; /* requests: "GET" (as sent; methods are case-sensitive); NULL otherwise */
    const char *target; /* requests: the request-target as sent ("/a?b", "http://h/a", "*",
                           "host:443" for CONNECT); NULL otherwise */
    int status;         /* responses: 100..999; 0 for requests */
    const char *reason; /* responses: reason phrase, possibly ""; NULL for requests */
    int minor_version;  /* HTTP/1.0 → 0, HTTP/1.1 → 1 */
    const net_h2_header_t *headers; /* in order received; names lowercase; values without
                                       leading or trailing whitespace */
    size_t nheaders;
    int64_t content_length; /* the Content-Length value, -1 when absent; has_body says whether
                               a body follows (not for HEAD, 1xx, 204, 304) */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool has_body;          /* false: END follows HEAD with no BODY */
    bool keep_alive;        /* another message may follow on the connection after this one */
    bool expect_continue;   /* requests: Expect: 100-continue (HTTP/1.1) */
    bool upgrade;           /* requests: Upgrade with Connection: upgrade (HTTP/1.1), or CONNECT;
                               responses: 101, or 2xx to CONNECT. After END: DONE */
} net_h1_message_t;

/* Creates a parser. |server|: parses requests (else responses). |cfg| NULL means defaults; copied.
 * Returns: owned by the caller (net_h1_parser_free), or NULL with *err (NET_ENOMEM). */
net_h1_parser_t *net_h1_parser_new(bool server, const net_h1_config_t *cfg, int *err);
void net_h1_parser_free(net_h1_parser_t *p); /* NULL is a no-op */

/* Parses from |data| until one event. Borrows data; BODY events point into it.
 * Returns: the bytes consumed; the caller passes the rest (plus what arrives later) next time.
 * A call with len 0 is fine and may still return HEAD's END or a pending END. Call until the
 * event is NEED_MORE (then feed more input), DONE or ERROR. */
size_t net_h1_parser_feed(net_h1_parser_t *p, const uint8_t *data, size_t len, net_h1_event_t *ev);

/* The peer closed its side. Fills |ev|: END for a response body delimited by the close, ERROR
 * (truncated) inside a message, DONE between messages. Call until DONE or ERROR. */
void net_h1_parser_finish(net_h1_parser_t *p, net_h1_event_t *ev);

/* Returns: the current message, valid from its HEAD event until the next feed after its END
 * (that is when the next message starts filling the storage). Borrowed from |p|. */
const net_h1_message_t *net_h1_parser_message(const net_h1_parser_t *p);
/* Returns: the trailer fields of a chunked message (names lowercase), valid at END until the
 * next feed; *n = 0 when none. */
const net_h2_header_t *net_h1_parser_trailers(const net_h1_parser_t *p, size_t *n);

/* Server: the last request asked for an Upgrade and we answer it in HTTP/1.1 instead (declined):
 * continue parsing requests. Returns NET_OK, or NET_ESTATE when the parser is not DONE after an
 * upgrade request that may continue (CONNECT and non-keep-alive requests may not). */
int net_h1_parser_resume(net_h1_parser_t *p);

/* Client: the method of the request that the next response answers ("HEAD": no body; "CONNECT":
 * a 2xx is a tunnel). Applies until the END of the next final (non-1xx) response; the default is
 * a method with ordinary semantics. Borrows method (only compared). */
void net_h1_parser_set_method(net_h1_parser_t *p, const char *method);

/* After ERROR: the status to answer with (400, 414, 417, 431, 501, 505; a response parser uses
 * 502, what a proxy answers for a bad upstream response) and a sentence naming what was wrong
 * and where. Borrowed until the parser is freed. 0 / "" when there was no error. */
int net_h1_parser_error_status(const net_h1_parser_t *p);
const char *net_h1_parser_error(const net_h1_parser_t *p);

/* Checks the parser's invariants (see h1.c). Returns NET_OK or logs the broken one and returns
 * NET_ESTATE. Tests call it after every step. */
int net_h1_parser_check(const net_h1_parser_t *p);

/* ---------------------------------------------------------------------------------------------
 * Serialization. Every function appends to |b| and, on failure, leaves |b| as it was.
 * ------------------------------------------------------------------------------------------- */

/* A growable byte buffer. A zeroed struct is an empty buffer. */
typedef struct net_h1_buf {
    uint8_t *data;
    size_t len, cap;
} net_h1_buf_t;

void net_h1_buf_dispose(net_h1_buf_t *b); /* frees the bytes; |b| is empty and reusable */
/* Appends |len| bytes (borrows data). Returns NET_OK or NET_ENOMEM. */
int net_h1_buf_append(net_h1_buf_t *b, const void *data, size_t len);

/* Appends "METHOD target HTTP/1.1", the fields and the empty line. The caller includes Host and
 * the body framing (Content-Length, or Transfer-Encoding: chunked with net_h1_chunk_write).
 * Fields named ":..." (HTTP/2 pseudo-headers) are skipped. Borrows everything.
 * Returns: NET_OK; NET_EINVAL (method not a token; target empty or containing whitespace or
 * control characters; a field name not a token; a value with CR, LF, NUL or other control
 * characters except HTAB); NET_ENOMEM. */
int net_h1_request_write(net_h1_buf_t *b, const char *method, const char *target,
                         const net_h2_header_t *h, size_t n);
/* Appends "HTTP/1.1 status reason", the fields and the empty line. |reason| NULL means the
 * standard phrase (net_h1_status_reason). Same rules and results; NET_EINVAL also for a status
 * outside 100..999 or a reason with control characters. */
int net_h1_response_write(net_h1_buf_t *b, int status, const char *reason, const net_h2_header_t *h,
                          size_t n);
/* Appends one chunk ("<hex len>\r\n" data "\r\n"); len 0 appends nothing (it is not the end). */
int net_h1_chunk_write(net_h1_buf_t *b, const void *data, size_t len);
/* Appends the last chunk "0\r\n", the trailer fields and the empty line. */
int net_h1_chunk_write_last(net_h1_buf_t *b, const net_h2_header_t *trailers, size_t n);
/* Appends a complete error response: |status| with its standard phrase, Content-Type text/plain,
 * Content-Length, Connection: close, the |extra| fields (e.g. Date: the codec has no clock; may
 * be NULL), and the body "<status> <phrase>: <detail>\n" (detail may be NULL; control characters
 * and non-ASCII bytes in it become '?'). Returns NET_OK, NET_EINVAL, NET_ENOMEM. */
int net_h1_error_write(net_h1_buf_t *b, int status, const char *detail,
                       const net_h2_header_t *extra, size_t n);
/* Appends "HTTP/1.1 100 Continue\r\n\r\n". */
int net_h1_continue_write(net_h1_buf_t *b);

/* Returns: the standard reason phrase of |status| ("OK", "Not Found"), "Unknown" if none. */
const char *net_h1_status_reason(int status);
/* Returns: true when |s| (|len| bytes) is a token (RFC 9110 tchar), e.g. a method or field name. */
bool net_h1_is_token(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
