/*
 * gRPC length-prefixed framing, status table, grpc-message escaping, grpc-timeout and content-type
 * checks: the sans-IO half of gRPC. Everything is a pure function of its input bytes.
 *
 * Key decision: the decoder is pull-style (feed returns as soon as one message is whole) instead of
 * invoking a callback per message. The caller decides when to take the next message, which is what
 * lets h2 delay WINDOW_UPDATE until messages are processed. The alternative (callback per message)
 * was rejected because a callback cannot say "not now" without buffering somewhere unbounded.
 */
#include "net/grpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_HEADER = 0, ST_BODY = 1, ST_READY = 2, ST_FAILED = 3 };

/* First buffer size for a body; then doubling up to the declared length. */
#define BODY_MIN_CAP 4096u

const char *net_grpc_status_name(int code)
{
    switch (code) {
#define NET__GRPC_STATUS_STR(name, c) \
    case c:                           \
        return #name;
        NET_GRPC_STATUS_MAP(NET__GRPC_STATUS_STR)
#undef NET__GRPC_STATUS_STR
    }
    return "UNKNOWN_STATUS";
}

int net_grpc_status_parse(const char *s, size_t len, int *code)
{
    if (!s || len == 0 || len > 10)
        return NET_EINVAL;
    if (len > 1 && s[0] == '0')
        return NET_EINVAL;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NET_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v > INT32_MAX)
        return NET_EINVAL;
    *code = (int)v;
    return NET_OK;
}

int net_grpc_status_from_http(int http_status)
{
    switch (http_status) {
    case 400:
    case 431:
        return NET_GRPC_INTERNAL;
    case 401:
        return NET_GRPC_UNAUTHENTICATED;
    case 403:
        return NET_GRPC_PERMISSION_DENIED;
    case 404:
        return NET_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return NET_GRPC_UNAVAILABLE;
    default:
        return NET_GRPC_UNKNOWN;
    }
}

int net_grpc_status_from_h2_error(uint32_t code)
{
    switch (code) {
    case 0x7: /* REFUSED_STREAM: nothing was processed, retry is safe */
        return NET_GRPC_UNAVAILABLE;
    case 0x8: /* CANCEL */
        return NET_GRPC_CANCELLED;
    case 0xb: /* ENHANCE_YOUR_CALM */
        return NET_GRPC_RESOURCE_EXHAUSTED;
    case 0xc: /* INADEQUATE_SECURITY */
        return NET_GRPC_PERMISSION_DENIED;
    default:
        return NET_GRPC_INTERNAL;
    }
}

/* ------------------------------------------------------------------------------------------- */

void net_grpc_decoder_init(net_grpc_decoder_t *d, size_t max_message)
{
    memset(d, 0, sizeof *d);
    d->max_message = max_message ? max_message : NET_GRPC_DEFAULT_MAX_MESSAGE;
    d->state = ST_HEADER;
}

void net_grpc_decoder_dispose(net_grpc_decoder_t *d)
{
    free(d->body);
    d->body = NULL;
    d->body_cap = d->body_have = d->body_len = 0;
}

static int fail(net_grpc_decoder_t *d, int err)
{
    d->state = ST_FAILED;
    d->err = err;
    free(d->body);
    d->body = NULL;
    d->body_cap = d->body_have = d->body_len = 0;
    return err;
}

/* Makes room for |want| body bytes in total, growing geometrically but never past body_len. */
static int body_reserve(net_grpc_decoder_t *d, size_t want)
{
    if (want <= d->body_cap)
        return NET_OK;
    size_t cap = d->body_cap ? d->body_cap : BODY_MIN_CAP;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    if (cap > d->body_len)
        cap = d->body_len;
    uint8_t *p = realloc(d->body, cap);
    if (!p)
        return NET_ENOMEM;
    d->body = p;
    d->body_cap = cap;
    return NET_OK;
}

int net_grpc_decoder_feed(net_grpc_decoder_t *d, const uint8_t *data, size_t len, size_t *consumed)
{
    size_t used = 0;
    *consumed = 0;
    if (d->state == ST_FAILED)
        return d->err;
    if (d->state == ST_READY) {
        /* The previous message was not taken: drop it and start the next one. */
        d->state = ST_HEADER;
        d->hdr_have = 0;
        d->body_have = d->body_len = 0;
    }
    while (used < len || d->state == ST_BODY) {
        if (d->state == ST_HEADER) {
            size_t n = NET_GRPC_PREFIX_LEN - d->hdr_have;
            if (n > len - used)
                n = len - used;
            memcpy(d->hdr + d->hdr_have, data + used, n);
            d->hdr_have += n;
            used += n;
            if (d->hdr_have < NET_GRPC_PREFIX_LEN)
                break;
            uint32_t mlen = ((uint32_t)d->hdr[1] << 24) | ((uint32_t)d->hdr[2] << 16) |
                            ((uint32_t)d->hdr[3] << 8) | (uint32_t)d->hdr[4];
            *consumed = used;
            if (d->hdr[0] == 1) {
                snprintf(d->errmsg, sizeof d->errmsg,
                         "compressed message (flag 1) but no grpc-encoding was negotiated");
                return fail(d, NET_ECOMPRESSED);
            }
            if (d->hdr[0] != 0) {
                snprintf(d->errmsg, sizeof d->errmsg,
                         "bad message prefix: compressed flag is 0x%02x, must be 0 or 1",
                         d->hdr[0]);
                return fail(d, NET_EPROTO);
            }
            if (mlen > d->max_message) {
                snprintf(d->errmsg, sizeof d->errmsg,
                         "received message larger than max (%lu vs. %lu)", (unsigned long)mlen,
                         (unsigned long)d->max_message);
                return fail(d, NET_ETOOBIG);
            }
            d->body_len = mlen;
            d->body_have = 0;
            d->state = ST_BODY;
        }
        /* ST_BODY */
        size_t n = d->body_len - d->body_have;
        if (n > len - used)
            n = len - used;
        if (n) {
            int rc = body_reserve(d, d->body_have + n);
            if (rc != NET_OK) {
                *consumed = used;
                snprintf(d->errmsg, sizeof d->errmsg, "out of memory buffering a message");
                return fail(d, rc);
            }
            memcpy(d->body + d->body_have, data + used, n);
            d->body_have += n;
            used += n;
        }
        if (d->body_have == d->body_len) {
            d->state = ST_READY;
            d->messages++;
            *consumed = used;
            return 1;
        }
        break; /* input exhausted mid-body */
    }
    *consumed = used;
    return 0;
}

const uint8_t *net_grpc_decoder_message(const net_grpc_decoder_t *d, size_t *len)
{
    if (d->state != ST_READY)
        return NULL;
    *len = d->body_len;
    static const uint8_t empty[1];
    return d->body_len ? d->body : empty;
}

uint8_t *net_grpc_decoder_take(net_grpc_decoder_t *d, size_t *len)
{
    if (d->state != ST_READY)
        return NULL;
    uint8_t *p;
    if (d->body_len == 0) {
        p = malloc(1);
        if (!p)
            return NULL;
    } else {
        p = d->body;
        d->body = NULL;
        d->body_cap = 0;
    }
    *len = d->body_len;
    d->state = ST_HEADER;
    d->hdr_have = 0;
    d->body_have = d->body_len = 0;
    return p;
}

bool net_grpc_decoder_idle(const net_grpc_decoder_t *d)
{
    return d->state == ST_READY || (d->state == ST_HEADER && d->hdr_have == 0);
}

int net_grpc_decoder_status(net_grpc_decoder_t *d, bool truncated, const char **msg)
{
    if (d->state == ST_FAILED) {
        *msg = d->errmsg;
        return d->err == NET_ETOOBIG ? NET_GRPC_RESOURCE_EXHAUSTED : NET_GRPC_INTERNAL;
    }
    if (truncated && !net_grpc_decoder_idle(d)) {
        snprintf(d->errmsg, sizeof d->errmsg, "stream ended inside a message (%lu of %lu bytes)",
                 (unsigned long)(d->state == ST_BODY ? d->body_have : 0),
                 (unsigned long)(d->state == ST_BODY ? d->body_len : 0));
        *msg = d->errmsg;
        return NET_GRPC_INTERNAL;
    }
    *msg = "";
    return NET_GRPC_OK;
}

int net_grpc_decoder_check(const net_grpc_decoder_t *d)
{
    const char *broken = NULL;
    switch (d->state) {
    case ST_HEADER:
        if (d->hdr_have >= NET_GRPC_PREFIX_LEN || d->body_have != 0)
            broken = "D1 header state";
        break;
    case ST_BODY:
        if (d->body_have >= d->body_len || d->body_cap < d->body_have)
            broken = "D2 body state";
        break;
    case ST_READY:
        if (d->body_have != d->body_len)
            broken = "D3 ready state";
        break;
    case ST_FAILED:
        if (d->err >= 0)
            broken = "D4 failed state without error";
        break;
    default:
        broken = "unknown state";
    }
    if (!broken && d->state != ST_FAILED && d->body_len > d->max_message)
        broken = "D5 message over the limit";
    if (broken) {
        net__log(NET_LOG_ERROR, "grpc decoder invariant %s broken", broken);
        return NET_ESTATE;
    }
    return NET_OK;
}

void net_grpc_prefix_write(uint8_t out[NET_GRPC_PREFIX_LEN], uint32_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int net_grpc_encode(const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len)
{
    if (len > UINT32_MAX)
        return NET_ETOOBIG;
    uint8_t *p = malloc(NET_GRPC_PREFIX_LEN + len);
    if (!p)
        return NET_ENOMEM;
    net_grpc_prefix_write(p, (uint32_t)len);
    if (len)
        memcpy(p + NET_GRPC_PREFIX_LEN, msg, len);
    *out = p;
    *out_len = NET_GRPC_PREFIX_LEN + len;
    return NET_OK;
}

/* ------------------------------------------------------------------------------------------- */

static bool msg_plain(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e && c != '%';
}

char *net_grpc_message_encode(const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += msg_plain((unsigned char)s[i]) ? 1 : 3;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    char *w = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (msg_plain(c)) {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    *w = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *net_grpc_message_decode(const char *s, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len + 0 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[w++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[w++] = s[i];
        }
    }
    out[w] = '\0';
    if (out_len)
        *out_len = w;
    return out;
}

/* ------------------------------------------------------------------------------------------- */

int net_grpc_timeout_parse(const char *s, size_t len, uint64_t *ns)
{
    if (!s || len < 2 || len > 9)
        return NET_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NET_EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    uint64_t mul;
    switch (s[len - 1]) {
    case 'H':
        mul = 3600ull * 1000000000ull;
        break;
    case 'M':
        mul = 60ull * 1000000000ull;
        break;
    case 'S':
        mul = 1000000000ull;
        break;
    case 'm':
        mul = 1000000ull;
        break;
    case 'u':
        mul = 1000ull;
        break;
    case 'n':
        mul = 1ull;
        break;
    default:
        return NET_EINVAL;
    }
    *ns = (v != 0 && v > UINT64_MAX / mul) ? UINT64_MAX : v * mul;
    return NET_OK;
}

size_t net_grpc_timeout_format(uint64_t ns, char out[NET_GRPC_TIMEOUT_BUFLEN])
{
    static const struct {
        uint64_t div;
        char unit;
    } units[] = {{1ull, 'n'},
                 {1000ull, 'u'},
                 {1000000ull, 'm'},
                 {1000000000ull, 'S'},
                 {60ull * 1000000000ull, 'M'},
                 {3600ull * 1000000000ull, 'H'}};
    const uint64_t max = 99999999ull;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        uint64_t v = ns / units[i].div + (ns % units[i].div != 0); /* round up */
        if (v <= max) {
            int n = snprintf(out, NET_GRPC_TIMEOUT_BUFLEN, "%llu%c", (unsigned long long)v,
                             units[i].unit);
            return (size_t)n;
        }
    }
    memcpy(out, "99999999H", 10);
    return 9;
}

/* ------------------------------------------------------------------------------------------- */

static bool prefix_ci(const char *s, size_t len, const char *p)
{
    size_t n = strlen(p);
    if (len < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != p[i])
            return false;
    }
    return true;
}

bool net_grpc_content_type_ok(const char *s, size_t len)
{
    if (!s)
        return false;
    /* Trim the parameters: "application/grpc; charset=..." is the same type. */
    size_t end = 0;
    while (end < len && s[end] != ';')
        end++;
    while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
        end--;
    if (end == 16 && prefix_ci(s, end, "application/grpc"))
        return true;
    if (end == 22 && prefix_ci(s, end, "application/grpc+proto"))
        return true;
    return false;
}
