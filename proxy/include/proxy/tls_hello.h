/*
 * A sans-IO TLS ClientHello reader for passthrough routing: it finds the server name (SNI) a
 * client asks for without terminating TLS, so the connection can go, bytes untouched, to the
 * backend that owns that name.
 *
 * The ClientHello may arrive in several TLS records and each record in several reads: the caller
 * keeps the bytes it received (it must forward them anyway) and calls proxy_tls_hello_parse on
 * all of them after each read until the answer is not PROXY_TLS_HELLO_MORE. Every byte is checked
 * against the length that encloses it; nothing is read past |len|.
 *
 * Bounds: a handshake message of at most PROXY_TLS_HELLO_MAX_MESSAGE bytes, records of at most
 * 2^14 bytes (RFC 8446 section 5.1), and at most PROXY_TLS_HELLO_MAX_INPUT bytes of input (so a
 * client sending a ClientHello one byte per record cannot make us buffer without end).
 */
#ifndef PROXY_TLS_HELLO_H
#define PROXY_TLS_HELLO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROXY_TLS_HELLO_MAX_MESSAGE (16u * 1024u)
#define PROXY_TLS_HELLO_MAX_INPUT (32u * 1024u)

enum {
    PROXY_TLS_HELLO_OK = 0,   /* a whole ClientHello: |sni| and |consumed| are set */
    PROXY_TLS_HELLO_MORE = 1, /* everything so far is fine; call again with more bytes */
    PROXY_TLS_HELLO_EBAD = -1 /* not a TLS ClientHello, malformed, or over a bound: |why| */
};

typedef struct proxy_tls_hello {
    char sni[256];   /* the host_name, lowercased, without a trailing dot; "" when none sent */
    size_t consumed; /* bytes of input that the records holding the ClientHello take */
    char why[160];   /* for EBAD: what was wrong and at which byte offset */
} proxy_tls_hello_t;

/* Parses the start of a TLS connection. Borrows data. Returns PROXY_TLS_HELLO_OK, _MORE or
 * _EBAD (see above); |out| is written in every case. */
int proxy_tls_hello_parse(const uint8_t *data, size_t len, proxy_tls_hello_t *out);

#ifdef __cplusplus
}
#endif
#endif
