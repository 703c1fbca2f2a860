/*
 * gRPC over HTTP/2, the parts that are pure functions of bytes: length-prefixed message framing
 * (decoder and encoder), status codes, grpc-message percent-encoding, grpc-timeout and
 * content-type. Nothing here touches a socket, a clock or nghttp2; grpc_server.c and grpc_client.c
 * put it on h2.
 *
 * Wire rules (grpc/grpc doc/PROTOCOL-HTTP2.md): a message is
 *   Compressed-Flag (1 byte, 0 or 1) | Message-Length (4 bytes, big-endian) | Message
 * and DATA frame boundaries have no relation to message boundaries, so the decoder is fed arbitrary
 * chunks. We negotiate no compression (identity only), so a flag of 1 is an error (INTERNAL).
 */
#ifndef NET_GRPC_H
#define NET_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes (grpc/grpc doc/statuscodes.md). One table: code, name.
 * ------------------------------------------------------------------------------------------- */
#define NET_GRPC_STATUS_MAP(XX) \
    XX(OK, 0)                   \
    XX(CANCELLED, 1)            \
    XX(UNKNOWN, 2)              \
    XX(INVALID_ARGUMENT, 3)     \
    XX(DEADLINE_EXCEEDED, 4)    \
    XX(NOT_FOUND, 5)            \
    XX(ALREADY_EXISTS, 6)       \
    XX(PERMISSION_DENIED, 7)    \
    XX(RESOURCE_EXHAUSTED, 8)   \
    XX(FAILED_PRECONDITION, 9)  \
    XX(ABORTED, 10)             \
    XX(OUT_OF_RANGE, 11)        \
    XX(UNIMPLEMENTED, 12)       \
    XX(INTERNAL, 13)            \
    XX(UNAVAILABLE, 14)         \
    XX(DATA_LOSS, 15)           \
    XX(UNAUTHENTICATED, 16)

typedef enum net_grpc_status {
#define NET__GRPC_STATUS_ENUM(name, code) NET_GRPC_##name = (code),
    NET_GRPC_STATUS_MAP(NET__GRPC_STATUS_ENUM)
#undef NET__GRPC_STATUS_ENUM
} net_grpc_status_t;

/* Returns: the canonical name ("OK", "DEADLINE_EXCEEDED", ...) or "UNKNOWN_STATUS" outside 0..16.
 */
const char *net_grpc_status_name(int code);

/* Parses a grpc-status header value: decimal, no sign, no leading zeros, at most 10 digits, fitting
 * in int. Borrows s. Returns NET_OK and sets *code (any non-negative value; callers treat codes
 * outside 0..16 as UNKNOWN), or NET_EINVAL. */
int net_grpc_status_parse(const char *s, size_t len, int *code);

/* Status a client synthesizes for an HTTP :status other than 200, or for a response without
 * grpc-status (doc/http-grpc-status-mapping.md): 400→INTERNAL, 401→UNAUTHENTICATED,
 * 403→PERMISSION_DENIED, 404→UNIMPLEMENTED, 429/502/503/504→UNAVAILABLE, 431→INTERNAL, else
 * UNKNOWN. */
int net_grpc_status_from_http(int http_status);

/* Status for a stream reset with HTTP/2 error |code| (PROTOCOL-HTTP2.md, "Errors"):
 * REFUSED_STREAM→UNAVAILABLE, CANCEL→CANCELLED, ENHANCE_YOUR_CALM→RESOURCE_EXHAUSTED,
 * INADEQUATE_SECURITY→PERMISSION_DENIED, everything else→INTERNAL. */
int net_grpc_status_from_h2_error(uint32_t code);

/* ---------------------------------------------------------------------------------------------
 * Message framing
 * ------------------------------------------------------------------------------------------- */
#define NET_GRPC_PREFIX_LEN          5
#define NET_GRPC_DEFAULT_MAX_MESSAGE (4u * 1024u * 1024u)

/* Incremental reassembler. Embedded (init/dispose). Memory held is at most the bytes of the current
 * message received so far (the buffer grows as bytes arrive, never to the declared length up
 * front), so a peer that announces 4 MiB and sends 5 bytes costs 5 bytes, not 4 MiB.
 *
 * INVARIANTS
 *  D1 state HEADER: hdr_have < 5, body_have == 0
 *  D2 state BODY:   body_have < body_len <= max_message, body_cap >= body_have
 *  D3 state READY:  body_have == body_len (a whole message is available)
 *  D4 state FAILED: err < 0 and every later feed returns err (sticky)
 *  D5 body_len <= max_message in every state but FAILED                                          */
typedef struct net_grpc_decoder {
    size_t max_message;
    int state; /* private: see D1..D4 */
    int err;
    uint8_t hdr[NET_GRPC_PREFIX_LEN];
    size_t hdr_have;
    uint8_t *body;
    size_t body_len, body_have, body_cap;
    uint64_t messages; /* whole messages decoded so far */
    char errmsg[96];
} net_grpc_decoder_t;

/* Initializes |d| to accept messages of at most |max_message| bytes (0 means the default, 4 MiB).
 */
void net_grpc_decoder_init(net_grpc_decoder_t *d, size_t max_message);
/* Frees what |d| holds; |d| may be re-initialized. */
void net_grpc_decoder_dispose(net_grpc_decoder_t *d);

/* Feeds up to |len| bytes. Stops as soon as one message is complete, so the caller can apply
 * backpressure between messages. Borrows data. Sets *consumed to the bytes used (always all of
 * them when it returns 0).
 * Returns: 1 when a whole message is ready (read it with net_grpc_decoder_message or _take; the
 *          next feed starts the following message); 0 when every byte was used and no message is
 *          complete; or a sticky error: NET_ETOOBIG (declared length over the limit, checked before
 *          any body byte is buffered), NET_ECOMPRESSED (flag 1), NET_EPROTO (flag neither 0 nor 1),
 *          NET_ENOMEM. */
int net_grpc_decoder_feed(net_grpc_decoder_t *d, const uint8_t *data, size_t len, size_t *consumed);

/* Returns: the ready message (*len its length; a zero-length message is valid and returns a
 * non-NULL pointer), borrowed until the next feed, take or dispose; NULL if none is ready. */
const uint8_t *net_grpc_decoder_message(const net_grpc_decoder_t *d, size_t *len);

/* Like net_grpc_decoder_message but moves the bytes out. Returns: a buffer owned by the caller
 * (free()), or NULL if none is ready or memory ran out (then the message stays ready). */
uint8_t *net_grpc_decoder_take(net_grpc_decoder_t *d, size_t *len);

/* Returns: true when no partial message is buffered (a stream may end here cleanly). */
bool net_grpc_decoder_idle(const net_grpc_decoder_t *d);

/* Status to report for the decoder's sticky error: RESOURCE_EXHAUSTED for NET_ETOOBIG, INTERNAL
 * otherwise (also for a stream that ended mid-message: pass truncated=true). Sets *msg to a
 * sentence borrowed until the decoder is disposed. Returns NET_GRPC_OK if there is no error. */
int net_grpc_decoder_status(net_grpc_decoder_t *d, bool truncated, const char **msg);

/* Checks D1..D5; returns NET_OK or logs the broken invariant and returns NET_ESTATE. */
int net_grpc_decoder_check(const net_grpc_decoder_t *d);

/* Writes the 5-byte prefix for an uncompressed message of |len| bytes. */
void net_grpc_prefix_write(uint8_t out[NET_GRPC_PREFIX_LEN], uint32_t len);

/* Frames |msg| into one new buffer (prefix + message). Borrows msg. Returns NET_OK with *out owned
 * by the caller (free()), NET_ETOOBIG if len > UINT32_MAX, NET_ENOMEM. */
int net_grpc_encode(const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len);

/* ---------------------------------------------------------------------------------------------
 * grpc-message: UTF-8, percent-encoded. Bytes outside 0x20..0x7E and '%' itself become %XX.
 * ------------------------------------------------------------------------------------------- */

/* Returns: the encoded, NUL-terminated string owned by the caller (free()), or NULL (ENOMEM).
 * Borrows s. */
char *net_grpc_message_encode(const char *s, size_t len);
/* Decodes %XX escapes (either hex case); a malformed escape is kept as it is: decoding never fails
 * on bad input. Returns: the NUL-terminated result owned by the caller (*out_len its length without
 * the NUL; may contain NUL bytes), or NULL (ENOMEM). Borrows s. */
char *net_grpc_message_decode(const char *s, size_t len, size_t *out_len);

/* ---------------------------------------------------------------------------------------------
 * grpc-timeout: 1 to 8 ASCII digits then one unit: H hours, M minutes, S seconds, m milli, u micro,
 * n nano.
 * ------------------------------------------------------------------------------------------- */
#define NET_GRPC_TIMEOUT_BUFLEN 10 /* 8 digits + unit + NUL */

/* Parses a grpc-timeout value into nanoseconds (saturating at UINT64_MAX: 99999999H does not fit).
 * Borrows s. Returns NET_OK or NET_EINVAL (empty, >8 digits, non-digit, unknown unit). */
int net_grpc_timeout_parse(const char *s, size_t len, uint64_t *ns);
/* Formats |ns| with the finest unit whose value fits in 8 digits, rounding up so a deadline is
 * never shortened (beyond 99999999H it writes 99999999H). Returns the length written to |out|. */
size_t net_grpc_timeout_format(uint64_t ns, char out[NET_GRPC_TIMEOUT_BUFLEN]);

/* ---------------------------------------------------------------------------------------------
 * content-type: "application/grpc" or "application/grpc+proto" (case-insensitive type, optional
 * ";parameters"). Anything else, including other codecs like +json, is not served: 415.
 * ------------------------------------------------------------------------------------------- */
bool net_grpc_content_type_ok(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
