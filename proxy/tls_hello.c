/*
 * The TLS ClientHello reader (proxy/tls_hello.h). Two layers: records (type 22 = handshake,
 * version 3.x, length 1..2^14) whose payloads are joined into one handshake byte string, then
 * the handshake message (type 1 = ClientHello) read field by field with a cursor that refuses
 * to move past its end. Only the server_name extension (type 0) is looked at; the others are
 * skipped by their lengths.
 *
 * Why re-parse from the first byte on every call instead of keeping a state machine: the input
 * is bounded (PROXY_TLS_HELLO_MAX_INPUT), a ClientHello almost always comes in one read, and a
 * pure function is trivially correct on any split of the input (the fuzz target checks that a
 * prefix of a good ClientHello never gives an error).
 */
#include "proxy/tls_hello.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define REC_HEADER 5u
#define REC_MAX (16u * 1024u)
#define HS_CLIENT_HELLO 1u
#define EXT_SERVER_NAME 0u

static int bad(proxy_tls_hello_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
    return PROXY_TLS_HELLO_EBAD;
}

/* A read cursor over the handshake message: every take checks the bytes are there. */
typedef struct cur {
    const uint8_t *p;
    size_t len, off;
} cur_t;

static bool take(cur_t *c, size_t n, const uint8_t **out)
{
    if (c->len - c->off < n)
        return false;
    if (out)
        *out = c->p + c->off;
    c->off += n;
    return true;
}

static bool take_u(cur_t *c, size_t bytes, size_t *v)
{
    const uint8_t *b;
    if (!take(c, bytes, &b))
        return false;
    *v = 0;
    for (size_t i = 0; i < bytes; i++)
        *v = (*v << 8) | b[i];
    return true;
}

/* Reads the server_name extension body (RFC 6066 section 3). */
static int parse_sni(const uint8_t *p, size_t len, size_t base, proxy_tls_hello_t *out)
{
    cur_t c = {p, len, 0};
    size_t list;
    if (!take_u(&c, 2, &list) || list != len - 2 || list == 0)
        return bad(out, "server_name extension at byte %zu: list length does not fit", base);
    while (c.off < len) {
        size_t type, n;
        const uint8_t *name;
        if (!take_u(&c, 1, &type) || !take_u(&c, 2, &n) || !take(&c, n, &name))
            return bad(out, "server_name extension at byte %zu: entry overruns it", base);
        if (type != 0)
            continue; /* only host_name (0) is defined; skip others */
        if (out->sni[0])
            return bad(out, "server_name extension at byte %zu: two host names", base);
        if (n && name[n - 1] == '.')
            n--;
        if (n == 0 || n >= sizeof out->sni)
            return bad(out, "server_name at byte %zu: host name of %zu bytes", base, n);
        for (size_t i = 0; i < n; i++) {
            uint8_t ch = name[i];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
            if (!ok)
                return bad(out, "server_name at byte %zu: byte 0x%02x is not allowed in a host "
                                "name",
                           base, ch);
            out->sni[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        out->sni[n] = '\0';
    }
    return PROXY_TLS_HELLO_OK;
}

/* Reads a whole ClientHello body (after the 4-byte handshake header). Offsets in messages count
 * from the start of the handshake message. */
static int parse_client_hello(const uint8_t *p, size_t len, proxy_tls_hello_t *out)
{
    cur_t c = {p, len, 0};
    size_t version, n;
    if (!take_u(&c, 2, &version) || !take(&c, 32, NULL))
        return bad(out, "ClientHello shorter than its version and random");
    if ((version >> 8) != 3)
        return bad(out, "ClientHello version 0x%04zx is not TLS", version);
    if (!take_u(&c, 1, &n) || n > 32 || !take(&c, n, NULL))
        return bad(out, "ClientHello session id at byte %zu: bad length", c.off + 4);
    if (!take_u(&c, 2, &n) || n < 2 || n % 2 || !take(&c, n, NULL))
        return bad(out, "ClientHello cipher suites at byte %zu: bad length", c.off + 4);
    if (!take_u(&c, 1, &n) || n < 1 || !take(&c, n, NULL))
        return bad(out, "ClientHello compression methods at byte %zu: bad length", c.off + 4);
    if (c.off == len)
        return PROXY_TLS_HELLO_OK; /* no extensions at all: no SNI */
    size_t ext_len;
    if (!take_u(&c, 2, &ext_len) || ext_len != len - c.off)
        return bad(out, "ClientHello extensions at byte %zu: length does not match the message",
                   c.off + 4);
    while (c.off < len) {
        size_t type, elen;
        const uint8_t *body;
        size_t at = c.off + 4;
        if (!take_u(&c, 2, &type) || !take_u(&c, 2, &elen) || !take(&c, elen, &body))
            return bad(out, "ClientHello extension at byte %zu overruns the message", at);
        if (type == EXT_SERVER_NAME) {
            if (out->sni[0])
                return bad(out, "ClientHello has two server_name extensions (byte %zu)", at);
            int rc = parse_sni(body, elen, at, out);
            if (rc != PROXY_TLS_HELLO_OK)
                return rc;
        }
    }
    return PROXY_TLS_HELLO_OK;
}

int proxy_tls_hello_parse(const uint8_t *data, size_t len, proxy_tls_hello_t *out)
{
    memset(out, 0, sizeof *out);
    /* The handshake bytes gathered from the records so far. */
    uint8_t hs[4 + PROXY_TLS_HELLO_MAX_MESSAGE];
    size_t hs_len = 0, need = 0; /* need: 4 + message length, once the header is in */
    size_t off = 0;
    for (;;) {
        if (need && hs_len >= need)
            break;
        if (off >= PROXY_TLS_HELLO_MAX_INPUT)
            return bad(out, "ClientHello not complete within %u bytes of records",
                       PROXY_TLS_HELLO_MAX_INPUT);
        if (len - off < REC_HEADER) {
            /* Check what is there of the header, so garbage fails at once. */
            if (len > off && data[off] != 22)
                return bad(out, "byte %zu: record type %u, not a TLS handshake (22)", off,
                           data[off]);
            if (len > off + 1 && data[off + 1] != 3)
                return bad(out, "byte %zu: record version major %u, not TLS (3)", off + 1,
                           data[off + 1]);
            return PROXY_TLS_HELLO_MORE;
        }
        const uint8_t *r = data + off;
        size_t rlen = ((size_t)r[3] << 8) | r[4];
        if (r[0] != 22)
            return bad(out, "byte %zu: record type %u, not a TLS handshake (22)", off, r[0]);
        if (r[1] != 3)
            return bad(out, "byte %zu: record version major %u, not TLS (3)", off + 1, r[1]);
        if (rlen == 0 || rlen > REC_MAX)
            return bad(out, "byte %zu: record length %zu (1..16384 allowed)", off + 3, rlen);
        size_t have = len - off - REC_HEADER;
        size_t use = have < rlen ? have : rlen;
        /* Bytes beyond the ClientHello in its last record would be another message. */
        size_t room = sizeof hs - hs_len;
        if (use > room)
            use = room;
        memcpy(hs + hs_len, r + REC_HEADER, use);
        hs_len += use;
        if (!need && hs_len >= 4) {
            if (hs[0] != HS_CLIENT_HELLO)
                return bad(out, "handshake message type %u, not ClientHello (1)", hs[0]);
            size_t mlen = ((size_t)hs[1] << 16) | ((size_t)hs[2] << 8) | hs[3];
            if (mlen > PROXY_TLS_HELLO_MAX_MESSAGE)
                return bad(out, "ClientHello of %zu bytes (at most %u)", mlen,
                           PROXY_TLS_HELLO_MAX_MESSAGE);
            need = 4 + mlen;
        }
        if (have < rlen) {
            if (need && hs_len >= need)
                return bad(out, "record at byte %zu holds more than the ClientHello", off);
            return PROXY_TLS_HELLO_MORE;
        }
        off += REC_HEADER + rlen;
        if (need && hs_len > need)
            return bad(out, "record at byte %zu holds more than the ClientHello",
                       off - REC_HEADER - rlen);
    }
    int rc = parse_client_hello(hs + 4, need - 4, out);
    if (rc == PROXY_TLS_HELLO_OK)
        out->consumed = off;
    else
        out->sni[0] = '\0';
    return rc;
}
