/*
 * HTTP/1.1 codec, sans-IO: a pull-style message parser (requests or responses) and serializers.
 *
 * Key decisions:
 *  - The head (start line + fields) is collected first, checked byte by byte as it arrives (CRLF
 *    line ends, no folding, no control characters, size and count limits), and only then
 *    parsed, in one piece. Debian's http-parser reads the start line (method table,
 *    request-target syntax, version, status code); the field lines, which the collector has made
 *    unambiguous, are split here at their first ':' and checked here (token names, one
 *    Content-Length of digits only, Transfer-Encoding exactly "chunked", not both, one Host).
 *    Handing http-parser the fields too parsed every head twice, a third of the proxy's
 *    user-space instructions per request; its field checks are all made here as strictly or
 *    more, and the fuzz target checks that every head accepted here is one http-parser accepts
 *    whole. The split point of the input can never change the result.
 *  - Bodies are framed here, not by http-parser: Debian builds http-parser non-strict, and the
 *    non-strict build accepts any two bytes in place of the CRLF after chunk data and any byte
 *    after the CR of a chunk-size line ("3\r\nabcXY0\r\n\r\n" is a valid body to it). Those are the
 *    disagreements request smuggling is made of, so chunked framing is a small strict state
 *    machine of our own, and Content-Length bodies need no parser at all. http-parser is told to
 *    skip the body (on_headers_complete returns 1).
 *  - Pull-style (one event per call, consuming only that event's bytes) rather than callbacks, as
 *    in grpc.c: a server answering pipelined requests in order simply stops calling until the
 *    response is out, and body bytes are handed out where they lie, never copied.
 * The alternative of a hand-written start-line parser was rejected: http-parser is the packaged,
 * widely fuzzed choice for the method table and the request-target syntax.
 */
#include "net/h1.h"

#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_HEAD = 0,      /* collecting a head */
    ST_END_PENDING,   /* the message is complete: END is the next event */
    ST_LENGTH,        /* Content-Length body: |remaining| bytes to go */
    ST_CHUNK_SIZE,    /* hex digits of a chunk size */
    ST_CHUNK_BWS,     /* whitespace after the size: only ';' may follow */
    ST_CHUNK_EXT,     /* chunk extensions, up to CR */
    ST_CHUNK_SIZE_LF, /* after the CR of a chunk-size line */
    ST_CHUNK_DATA,    /* chunk data: |remaining| bytes to go */
    ST_CHUNK_DATA_CR, /* CR after chunk data */
    ST_CHUNK_DATA_LF, /* LF after chunk data */
    ST_TRAILERS,      /* collecting the trailer section */
    ST_UNTIL_EOF,     /* response body delimited by the connection close */
    ST_DONE,          /* no more messages on this connection */
    ST_ERROR,         /* sticky */
};

/* A line-oriented collector for a head or a trailer section. */
typedef struct scan {
    uint8_t *buf;
    size_t len, cap;
    unsigned line;     /* 1-based number of the line being read */
    size_t line_len;   /* bytes of that line so far, CR excluded */
    size_t first_line; /* length of line 1, once complete */
    size_t skipped;    /* empty lines skipped before a start line */
    bool cr;           /* the last byte was a CR (stored) */
} scan_t;

/* INVARIANTS
 *  H1 state == ST_ERROR  <=>  err_status != 0
 *  H2 head.len <= max_head and trail.len <= max_head; head.cr => head.buf[head.len-1] == '\r'
 *  H3 nhdrs <= max_headers and ntrs <= max_headers
 *  H4 state in {ST_LENGTH, ST_CHUNK_DATA} => remaining > 0
 *  H5 state is a body state (ST_LENGTH .. ST_UNTIL_EOF) => msg.has_body
 *  H6 a response parser reports status 502 on error; a request parser never does            */
struct net_h1_parser {
    bool server;
    net_h1_config_t cfg;
    int state;
    scan_t head, trail;
    net_h1_message_t msg;
    net_h2_header_t *hdrs, *trs;
    size_t nhdrs, hdrs_cap, ntrs, trs_cap;
    size_t url_off, url_len, status_off, status_len;
    bool have_url, have_status;
    uint64_t remaining;
    uint64_t chunk_size;
    unsigned chunk_digits;
    size_t chunk_line;
    uint64_t body_off; /* bytes of the encoded body consumed so far (for error messages) */
    bool resp_head, resp_connect; /* client: the request answered was HEAD / CONNECT */
    bool resumable;               /* server: DONE after an upgrade request that may continue */
    int err_status;
    char err[200];
    http_parser hp;
    const uint8_t *hp_base; /* what http-parser reads; offsets in it are offsets in head.buf */
};

static const char empty[] = "";

void net_h1_config_default(net_h1_config_t *c)
{
    c->max_head = 16u * 1024u;
    c->max_headers = 100;
    c->max_chunk_line = 1024;
}

/* ------------------------------------------------------------------------------------------- */
/* Character classes (RFC 9110 section 5.6.2) */

/* tchar = DIGIT / ALPHA / "!#$%&'*+-.^_`|~" (RFC 9110 section 5.6.2), as a table: a token
 * byte maps to itself lowercased, any other byte to 0. Every field name of every message is
 * checked and lowercased with it (a strchr per punctuation byte showed in profiles);
 * tests/net/test_h1.c checks it against the definition for all 256 bytes. */
static const unsigned char token_lower[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x21, 0x00, 0x23, 0x24, 0x25, 0x26, 0x27, 0x00, 0x00, 0x2a, 0x2b, 0x00, 0x2d, 0x2e, 0x00,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x5e, 0x5f,
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x7c, 0x00, 0x7e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static bool is_tchar(unsigned char c)
{
    return token_lower[c] != 0;
}

bool net_h1_is_token(const char *s, size_t len)
{
    if (!s || len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool eq_nocase(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

/* ------------------------------------------------------------------------------------------- */
/* Errors */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
set_error(net_h1_parser_t *p, int status, const char *fmt, ...)
{
    if (p->state == ST_ERROR)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    p->err_status = p->server ? status : 502;
    p->state = ST_ERROR;
}

/* Names a line of a head for error messages. */
static const char *line_name(const net_h1_parser_t *p, unsigned line, bool trailers, char *buf,
                             size_t cap)
{
    if (trailers)
        snprintf(buf, cap, "trailer line %u", line);
    else if (line == 1)
        snprintf(buf, cap, "line 1 (%s line)", p->server ? "request" : "status");
    else
        snprintf(buf, cap, "line %u", line);
    return buf;
}

/* ------------------------------------------------------------------------------------------- */
/* Parser lifetime */

net_h1_parser_t *net_h1_parser_new(bool server, const net_h1_config_t *cfg, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    net_h1_parser_t *p = calloc(1, sizeof *p);
    if (!p) {
        *err = NET_ENOMEM;
        return NULL;
    }
    p->server = server;
    if (cfg)
        p->cfg = *cfg;
    else
        net_h1_config_default(&p->cfg);
    if (p->cfg.max_head < 64)
        p->cfg.max_head = 64;
    if (p->cfg.max_headers == 0)
        p->cfg.max_headers = 1;
    if (p->cfg.max_chunk_line < 8)
        p->cfg.max_chunk_line = 8;
    p->state = ST_HEAD;
    p->head.line = 1;
    p->msg.content_length = -1;
    *err = NET_OK;
    return p;
}

void net_h1_parser_free(net_h1_parser_t *p)
{
    if (!p)
        return;
    free(p->head.buf);
    free(p->trail.buf);
    free(p->hdrs);
    free(p->trs);
    free(p);
}

static void scan_reset(scan_t *s)
{
    s->len = 0;
    s->line = 1;
    s->line_len = 0;
    s->first_line = 0;
    s->skipped = 0;
    s->cr = false;
}

/* ------------------------------------------------------------------------------------------- */
/* Line collection */

enum { SCAN_MORE = 0, SCAN_END = 1, SCAN_ERROR = 2 };

/* Room for |n| more bytes in |s|; the caller has checked that len + n stays within max_head.
 * Returns false when memory runs out (error set). */
static bool scan_reserve(net_h1_parser_t *p, scan_t *s, size_t n)
{
    while (s->cap < s->len + n) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        if (cap > p->cfg.max_head)
            cap = p->cfg.max_head;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb) {
            set_error(p, 503, "out of memory while reading the message head");
            return false;
        }
        s->buf = nb;
        s->cap = cap;
    }
    return true;
}

/* One byte: the byte loop's step (inlined; a compare unless the buffer must grow). */
static bool scan_push(net_h1_parser_t *p, scan_t *s, uint8_t b)
{
    if (!scan_reserve(p, s, 1))
        return false;
    s->buf[s->len++] = b;
    return true;
}

/* The eight bytes at |p| as one word, with the high bit of each byte set (at least) where the
 * byte is below 0x20 or is 0x7f; with |ascii|, also where the byte's own high bit is set. Zero
 * under 0x8080808080808080 means none of the eight is such a byte. */
static inline uint64_t ctl_bits8(const void *p, bool ascii)
{
    const uint64_t ones = 0x0101010101010101u;
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t del = x ^ (ones * 0x7f);
    uint64_t special = ((x - ones * 0x20) & ~x) | ((del - ones) & ~del);
    return ascii ? special | x : special;
}
#define HIGH_BITS8 0x8080808080808080u

/* How many bytes at the start of |data| are ordinary inside a line: visible ASCII and SP, and
 * obs-text (0x80-0xff) unless |ascii| (the request line). Eight bytes at a time while none is
 * special: below 0x20 (CR, LF, HTAB, other controls), 0x7f, or (|ascii|) high bit set. */
static size_t ordinary_len(const uint8_t *data, size_t len, bool ascii)
{
    size_t k = 0;
    while (len - k >= 8) {
        if (ctl_bits8(data + k, ascii) & HIGH_BITS8)
            break; /* the byte loop finds which one */
        k += 8;
    }
    while (k < len && data[k] >= 0x20 && data[k] != 0x7f && (!ascii || data[k] < 0x80))
        k++;
    return k;
}

/* The run of bytes at the start of |data| that scan_feed would take one by one without a
 * check firing, inside a line (not its first byte), within max_head. Copied in one piece: the
 * byte loop showed in profiles at about 2% of the proxy's time. Returns: how many bytes were
 * taken (0: none, the byte loop decides), or SIZE_MAX when the buffer cannot grow (error set). */
static size_t scan_span(net_h1_parser_t *p, scan_t *s, bool trailers, const uint8_t *data,
                        size_t len)
{
    if (s->cr || s->line_len == 0 || s->len >= p->cfg.max_head)
        return 0;
    bool ascii = s->line == 1 && !trailers && p->server;
    size_t room = p->cfg.max_head - s->len;
    size_t k = ordinary_len(data, len > room ? room : len, ascii);
    if (k == 0)
        return 0;
    if (!scan_reserve(p, s, k))
        return SIZE_MAX;
    memcpy(s->buf + s->len, data, k);
    s->len += k;
    s->line_len += k;
    return k;
}

/* Whole lines at the start of |data|, taken while each is one that scan_feed's byte loop would
 * take without a check firing: it starts at a line start with a byte other than SP, HTAB or CR,
 * holds only ordinary bytes (ordinary_len), ends with CRLF within |data|, fits in max_head,
 * and does not exceed max_headers. The same effect as the byte loop on such lines, with one
 * scan and one copy per line instead of three turns of the loop per line end. Anything else
 * (the empty line, a short read, a line a check would refuse) is left to the byte loop, which
 * gives the precise error. Returns: bytes taken, or SIZE_MAX when the buffer cannot grow. */
static size_t scan_lines(net_h1_parser_t *p, scan_t *s, bool trailers, const uint8_t *data,
                         size_t len)
{
    size_t i = 0;
    while (!s->cr && s->line_len == 0 && i < len && data[i] != ' ' && data[i] != '\r') {
        bool ascii = s->line == 1 && !trailers && p->server;
        size_t k = ordinary_len(data + i, len - i, ascii);
        /* k == 0: the first byte is special (HTAB, LF, a control): the byte loop refuses it */
        if (k == 0 || len - i - k < 2 || data[i + k] != '\r' || data[i + k + 1] != '\n')
            break;
        size_t fields = trailers ? s->line : s->line - 1;
        if (s->len + k + 2 > p->cfg.max_head || fields > p->cfg.max_headers)
            break;
        if (!scan_reserve(p, s, k + 2))
            return SIZE_MAX;
        memcpy(s->buf + s->len, data + i, k + 2);
        s->len += k + 2;
        if (s->line == 1)
            s->first_line = k;
        s->line++;
        i += k + 2;
    }
    return i;
}

/* Collects lines from |data| into |s| until the empty line that ends the section. */
static int scan_feed(net_h1_parser_t *p, scan_t *s, bool trailers, const uint8_t *data, size_t len,
                     size_t *used)
{
    char where[48];
    size_t i = 0;
    int rc = SCAN_MORE;
    while (i < len) {
        size_t k = scan_lines(p, s, trailers, data + i, len - i);
        if (k != SIZE_MAX) {
            i += k;
            if (i == len)
                break;
            k = scan_span(p, s, trailers, data + i, len - i);
        }
        if (k == SIZE_MAX) {
            rc = SCAN_ERROR;
            break;
        }
        i += k;
        if (i == len)
            break;
        uint8_t b = data[i++];
        if (s->cr) {
            if (b != '\n') {
                set_error(p, 400, "%s: CR not followed by LF",
                          line_name(p, s->line, trailers, where, sizeof where));
                rc = SCAN_ERROR;
                break;
            }
            s->cr = false;
            if (s->line_len == 0 && s->line == 1 && !trailers) {
                /* An empty line before the start line (RFC 9112 section 2.2): skip it. */
                s->len = 0;
                s->skipped += 2;
                if (s->skipped > p->cfg.max_head) {
                    set_error(p, 400, "more than %zu bytes of empty lines before the %s line",
                              p->cfg.max_head, p->server ? "request" : "status");
                    rc = SCAN_ERROR;
                    break;
                }
                continue;
            }
            if (s->len >= p->cfg.max_head) {
                set_error(p, 431, "%s section larger than %zu bytes",
                          trailers ? "trailer" : "header", p->cfg.max_head);
                rc = SCAN_ERROR;
                break;
            }
            if (!scan_push(p, s, b)) {
                rc = SCAN_ERROR;
                break;
            }
            if (s->line_len == 0) {
                rc = SCAN_END;
                break;
            }
            if (s->line == 1)
                s->first_line = s->line_len;
            size_t fields = trailers ? s->line : s->line - 1;
            if (fields > p->cfg.max_headers) {
                set_error(p, 431, "more than %zu %s fields", p->cfg.max_headers,
                          trailers ? "trailer" : "header");
                rc = SCAN_ERROR;
                break;
            }
            s->line++;
            s->line_len = 0;
            continue;
        }
        if (b == '\n') {
            set_error(p, 400, "%s: LF without CR (lines must end with CRLF)",
                      line_name(p, s->line, trailers, where, sizeof where));
            rc = SCAN_ERROR;
            break;
        }
        if (b != '\r') {
            if (s->line_len == 0 && (b == ' ' || b == '\t')) {
                if (s->line == 1 && !trailers)
                    set_error(p, 400, "%s starts with whitespace",
                              line_name(p, 1, false, where, sizeof where));
                else
                    set_error(p, 400, "%s starts with whitespace (obsolete line folding)",
                              line_name(p, s->line, trailers, where, sizeof where));
                rc = SCAN_ERROR;
                break;
            }
            if (is_ctl(b)) {
                set_error(p, 400, "%s: control character 0x%02x",
                          line_name(p, s->line, trailers, where, sizeof where), b);
                rc = SCAN_ERROR;
                break;
            }
            if (s->line == 1 && !trailers && p->server && (b >= 0x80 || b == '\t')) {
                set_error(p, 400, "%s: byte 0x%02x (the request line is ASCII, separated by SP)",
                          line_name(p, 1, false, where, sizeof where), b);
                rc = SCAN_ERROR;
                break;
            }
            s->line_len++;
        }
        if (s->len >= p->cfg.max_head) {
            if (s->line == 1 && !trailers && p->server)
                set_error(p, 414, "request line longer than %zu bytes", p->cfg.max_head);
            else
                set_error(p, 431, "%s section larger than %zu bytes",
                          trailers ? "trailer" : "header", p->cfg.max_head);
            rc = SCAN_ERROR;
            break;
        }
        if (!scan_push(p, s, b)) {
            rc = SCAN_ERROR;
            break;
        }
        s->cr = b == '\r';
    }
    *used = i;
    return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* The head, through http-parser */

/* http-parser may hand the URL or the reason phrase over in pieces; the pieces are adjacent in
 * the buffer fed (hp_base), so one span (offset, length) covers them all. */
static void span_extend(net_h1_parser_t *p, const char *at, size_t len, size_t *off, size_t *slen,
                        bool *have)
{
    size_t at_off = (size_t)((const uint8_t *)at - p->hp_base);
    if (*have && *off + *slen == at_off) {
        *slen += len;
    } else {
        *off = at_off;
        *slen = len;
        *have = true;
    }
}

static int hp_url(http_parser *hp, const char *at, size_t len)
{
    net_h1_parser_t *p = hp->data;
    span_extend(p, at, len, &p->url_off, &p->url_len, &p->have_url);
    return 0;
}

static int hp_status(http_parser *hp, const char *at, size_t len)
{
    net_h1_parser_t *p = hp->data;
    span_extend(p, at, len, &p->status_off, &p->status_len, &p->have_status);
    return 0;
}

static int hp_headers_complete(http_parser *hp)
{
    (void)hp;
    return 1; /* skip the body: we frame bodies ourselves */
}

static const http_parser_settings hp_settings = {
    .on_url = hp_url,
    .on_status = hp_status,
    .on_headers_complete = hp_headers_complete,
};

/* Maps an http-parser error on a head to a status and a sentence. */
static void hp_error(net_h1_parser_t *p, enum http_errno e, size_t at)
{
    switch (e) {
    case HPE_INVALID_METHOD:
        if (p->server) {
            set_error(p, 501, "unknown request method (methods are case-sensitive)");
            return;
        }
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        set_error(p, 400, "a second Content-Length, or Content-Length with Transfer-Encoding");
        return;
    case HPE_INVALID_CONTENT_LENGTH:
        set_error(p, 400, "Content-Length is not a decimal number");
        return;
    case HPE_INVALID_TRANSFER_ENCODING:
        set_error(p, 501, "Transfer-Encoding other than chunked is not implemented");
        return;
    case HPE_HEADER_OVERFLOW:
        set_error(p, 431, "header section too large for http-parser");
        return;
    default:
        break;
    }
    set_error(p, 400, "malformed head at byte %zu: %s (%s)", at, http_errno_description(e),
              http_errno_name(e));
}

static bool hdrs_reserve(net_h1_parser_t *p, net_h2_header_t **arr, size_t *cap, size_t n)
{
    if (n <= *cap)
        return true;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < n)
        ncap *= 2;
    net_h2_header_t *na = realloc(*arr, ncap * sizeof *na);
    if (!na) {
        set_error(p, 503, "out of memory while reading the message head");
        return false;
    }
    *arr = na;
    *cap = ncap;
    return true;
}

/* Lowercases and NUL-terminates a field in place; trims the value. Returns false if the name is
 * not a token. */
static bool field_finish(uint8_t *buf, size_t noff, size_t nlen, size_t voff, size_t vlen,
                         bool has_value, net_h2_header_t *out)
{
    if (nlen == 0)
        return false;
    for (size_t i = 0; i < nlen; i++) { /* checked and lowercased in one pass */
        unsigned char c = token_lower[buf[noff + i]];
        if (!c)
            return false;
        buf[noff + i] = c;
    }
    while (vlen > 0 && (buf[voff + vlen - 1] == ' ' || buf[voff + vlen - 1] == '\t'))
        vlen--;
    while (vlen > 0 && (buf[voff] == ' ' || buf[voff] == '\t')) {
        voff++;
        vlen--;
    }
    /* Both terminators land on bytes already read: the ':' after the name, and the CR or the
     * trailing whitespace after the value. */
    buf[noff + nlen] = '\0';
    out->name = (const char *)buf + noff;
    out->name_len = nlen;
    if (has_value) {
        buf[voff + vlen] = '\0';
        out->value = (const char *)buf + voff;
    } else {
        out->value = empty;
        vlen = 0;
    }
    out->value_len = vlen;
    return true;
}

/* The Connection options a message's framing depends on, from one comma-separated list |v|
 * (case-insensitive; one pass for all three, as every response carries the field). */
static void connection_options(const char *v, size_t len, bool *close, bool *keep, bool *upgrade)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        const char *t = v + start;
        size_t tl = end - start;
        if (tl == 5 && eq_nocase(t, tl, "close"))
            *close = true;
        else if (tl == 10 && eq_nocase(t, tl, "keep-alive"))
            *keep = true;
        else if (tl == 7 && eq_nocase(t, tl, "upgrade"))
            *upgrade = true;
    }
}

static bool parse_decimal(const char *v, size_t len, int64_t *out)
{
    if (len == 0 || len > 18)
        return false;
    int64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

/* Checks a request-target against its method (RFC 9112 section 3.2). */
static bool target_ok(const char *method, const char *t, size_t len, const char **why)
{
    if (memchr(t, '#', len)) {
        *why = "contains a fragment ('#')";
        return false;
    }
    if (strcmp(method, "CONNECT") == 0) {
        if (t[0] == '/' || !memchr(t, ':', len)) {
            *why = "must be host:port for CONNECT";
            return false;
        }
        return true;
    }
    if (len == 1 && t[0] == '*') {
        if (strcmp(method, "OPTIONS") != 0) {
            *why = "'*' is for OPTIONS only";
            return false;
        }
        return true;
    }
    if (t[0] == '/')
        return true;
    if ((len > 7 && eq_nocase(t, 7, "http://")) || (len > 8 && eq_nocase(t, 8, "https://")))
        return true;
    *why = "must start with '/' or be an absolute http(s) URI";
    return false;
}

/* Is the field's (lowercased) name |name| (|len| bytes)? Length first: every field passes. */
static bool name_is(const net_h2_header_t *h, const char *name, size_t len)
{
    return h->name_len == len && memcmp(h->name, name, len) == 0;
}

/* The head is collected: parse and check it, decide the body framing. */
static int head_process(net_h1_parser_t *p)
{
    scan_t *s = &p->head;
    net_h1_message_t *m = &p->msg;
    memset(m, 0, sizeof *m);
    m->content_length = -1;
    p->nhdrs = 0;
    p->ntrs = 0;
    p->have_url = p->have_status = false;
    p->body_off = 0;

    /* http-parser reads the start line, then an empty line in place of the fields: the fields
     * are split below, by their CRLFs and first ':', which scan_feed has made unambiguous (no
     * fold, no bare CR or LF, no control character). Every check http-parser made on a field
     * is made below as strictly or more (token names, Content-Length digits, one
     * Content-Length, Transfer-Encoding exactly chunked, not both), and the start line still
     * gets its method table, request-target and version checks. */
    static const char no_fields[] = "\r\n";
    size_t l1 = s->first_line + 2; /* the start line and its CRLF */
    http_parser_init(&p->hp, p->server ? HTTP_REQUEST : HTTP_RESPONSE);
    p->hp.data = p;
    /* One call over a copy "start line CRLF CRLF" when it is short (a call costs some 200
     * instructions before the first byte), two calls otherwise. */
    uint8_t start[256];
    size_t n;
    enum http_errno e;
    if (l1 + 2 <= sizeof start) {
        memcpy(start, s->buf, l1);
        memcpy(start + l1, no_fields, 2);
        p->hp_base = start;
        n = http_parser_execute(&p->hp, &hp_settings, (const char *)start, l1 + 2);
        e = HTTP_PARSER_ERRNO(&p->hp);
    } else {
        p->hp_base = s->buf;
        n = http_parser_execute(&p->hp, &hp_settings, (const char *)s->buf, l1);
        e = HTTP_PARSER_ERRNO(&p->hp);
        if (e == HPE_OK && n == l1) {
            n += http_parser_execute(&p->hp, &hp_settings, no_fields, 2);
            e = HTTP_PARSER_ERRNO(&p->hp);
        }
    }
    p->hp_base = NULL;
    if (e != HPE_OK) {
        hp_error(p, e, n);
        return NET_EPROTO;
    }
    if (n != l1 + 2) {
        set_error(p, 400, "malformed head: parsing the start line stopped at byte %zu of %zu", n,
                  l1);
        return NET_EPROTO;
    }
    if (p->hp.http_major != 1 || p->hp.http_minor > 1) {
        set_error(p, 505, "HTTP/%u.%u is not supported (HTTP/1.0 and HTTP/1.1 are)",
                  p->hp.http_major, p->hp.http_minor);
        return NET_EPROTO;
    }
    m->minor_version = p->hp.http_minor;

    if (p->server) {
        /* "METHOD SP target SP HTTP/1.x": exactly one space each, nothing else. */
        const uint8_t *sp = memchr(s->buf, ' ', s->first_line);
        size_t mlen = sp ? (size_t)(sp - s->buf) : 0;
        if (!sp || !p->have_url || p->url_off != mlen + 1 ||
            p->url_off + p->url_len + 9 != s->first_line ||
            s->buf[p->url_off + p->url_len] != ' ') {
            set_error(p, 400, "line 1 (request line): not 'METHOD SP request-target SP HTTP/1.x'");
            return NET_EPROTO;
        }
        s->buf[mlen] = '\0';
        s->buf[p->url_off + p->url_len] = '\0';
        m->method = (const char *)s->buf;
        m->target = (const char *)s->buf + p->url_off;
        const char *why;
        if (!target_ok(m->method, m->target, p->url_len, &why)) {
            set_error(p, 400, "line 1 (request line): request-target %s", why);
            return NET_EPROTO;
        }
    } else {
        m->status = p->hp.status_code;
        if (m->status < 100 || m->status > 999) {
            set_error(p, 502, "line 1 (status line): status %d out of range", m->status);
            return NET_EPROTO;
        }
        if (p->have_status) {
            s->buf[p->status_off + p->status_len] = '\0';
            m->reason = (const char *)s->buf + p->status_off;
        } else {
            m->reason = empty;
        }
    }

    /* The field lines: from after the start line to the empty line's CRLF. scan_feed ended
     * each line with CRLF and counted them (s->line is the empty line's number). */
    size_t nlines = s->line >= 2 ? s->line - 2 : 0;
    if (nlines > p->cfg.max_headers) {
        set_error(p, 431, "more than %zu header fields", p->cfg.max_headers);
        return NET_EPROTO;
    }
    if (!hdrs_reserve(p, &p->hdrs, &p->hdrs_cap, nlines ? nlines : 1))
        return NET_ENOMEM;
    size_t ncl = 0, nte = 0, nhost = 0;
    unsigned te_like = 0; /* line of a field whose name begins with transfer-encoding */
    bool conn_close = false, conn_keep = false, conn_upgrade = false, has_upgrade = false;
    size_t at = l1, fields_end = s->len - 2;
    for (size_t i = 0; at < fields_end; i++) {
        net_h2_header_t *h = &p->hdrs[i];
        unsigned line = (unsigned)i + 2;
        const uint8_t *cr = memchr(s->buf + at, '\r', fields_end - at);
        size_t eol = cr ? (size_t)(cr - s->buf) : fields_end;
        const uint8_t *colon = memchr(s->buf + at, ':', eol - at);
        if (i >= nlines || !cr) { /* cannot happen: scan_feed counted these lines */
            set_error(p, 400, "line %u: malformed head: more field lines than counted", line);
            return NET_EPROTO;
        }
        if (!colon) {
            set_error(p, 400, "line %u: malformed head: a field line without ':'", line);
            return NET_EPROTO;
        }
        size_t nlen = (size_t)(colon - s->buf) - at, voff = at + nlen + 1;
        if (nlen == 0) {
            set_error(p, 400, "line %u: malformed head: empty field name", line);
            return NET_EPROTO;
        }
        /* an HTAB in the whitespace after the value (field_finish trims it): http-parser
         * allows only SP after Content-Length's digits, and that stays so */
        bool tab_after = false;
        for (size_t k = eol; k > voff && (s->buf[k - 1] == ' ' || s->buf[k - 1] == '\t'); k--)
            tab_after |= s->buf[k - 1] == '\t';
        if (!field_finish(s->buf, at, nlen, voff, eol - voff, true, h)) {
            set_error(p, 400, "line %u: field name is not a token (whitespace before ':'?)", line);
            return NET_EPROTO;
        }
        at = eol + 2;
        p->nhdrs = i + 1;
        if (name_is(h, "content-length", 14)) {
            if (++ncl > 1) {
                set_error(p, 400, "line %u: a second Content-Length", line);
                return NET_EPROTO;
            }
            if (!parse_decimal(h->value, h->value_len, &m->content_length)) {
                set_error(p, 400, "line %u: Content-Length '%.40s' is not 1 to 18 decimal digits",
                          line, h->value);
                return NET_EPROTO;
            }
            if (tab_after) {
                set_error(p, 400, "line %u: Content-Length followed by a tab (only spaces may)",
                          line);
                return NET_EPROTO;
            }
        } else if (name_is(h, "transfer-encoding", 17)) {
            if (++nte > 1) {
                set_error(p, 400, "line %u: a second Transfer-Encoding", line);
                return NET_EPROTO;
            }
            if (!eq_nocase(h->value, h->value_len, "chunked")) {
                set_error(p, 501,
                          "line %u: Transfer-Encoding '%.40s' is not implemented (only "
                          "'chunked' is)",
                          line, h->value);
                return NET_EPROTO;
            }
            m->chunked = true;
        } else if (h->name_len > 17 && memcmp(h->name, "transfer-encoding", 17) == 0) {
            /* http-parser takes any name that begins with Transfer-Encoding for one when it
             * checks for Content-Length with Transfer-Encoding; kept, so that what is refused
             * stays exactly what was refused when it read the fields */
            te_like = te_like ? te_like : line;
        } else if (name_is(h, "host", 4)) {
            if (++nhost > 1 && p->server) {
                set_error(p, 400, "line %u: a second Host", line);
                return NET_EPROTO;
            }
        } else if (name_is(h, "connection", 10)) {
            connection_options(h->value, h->value_len, &conn_close, &conn_keep, &conn_upgrade);
        } else if (name_is(h, "upgrade", 7)) {
            has_upgrade = true;
        } else if (name_is(h, "expect", 6) && p->server) {
            if (!eq_nocase(h->value, h->value_len, "100-continue")) {
                set_error(p, 417, "line %u: Expect '%.40s' is not supported", line, h->value);
                return NET_EPROTO;
            }
            m->expect_continue = m->minor_version == 1;
        }
    }
    m->headers = p->hdrs;
    m->nheaders = p->nhdrs;
    if (ncl && nte) {
        set_error(p, 400, "both Content-Length and Transfer-Encoding");
        return NET_EPROTO;
    }
    if (ncl && te_like) {
        set_error(p, 400, "line %u: a field named like Transfer-Encoding, with Content-Length",
                  te_like);
        return NET_EPROTO;
    }
    m->keep_alive = m->minor_version == 1 ? !conn_close : (conn_keep && !conn_close);

    if (p->server) {
        if (nte && m->minor_version == 0) {
            set_error(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
            return NET_EPROTO;
        }
        if (m->minor_version == 1 && nhost == 0) {
            set_error(p, 400, "HTTP/1.1 request without Host");
            return NET_EPROTO;
        }
        m->upgrade = strcmp(m->method, "CONNECT") == 0 ||
                     (m->minor_version == 1 && has_upgrade && conn_upgrade);
        if (m->chunked) {
            m->has_body = true;
            p->state = ST_CHUNK_SIZE;
        } else if (m->content_length > 0) {
            m->has_body = true;
            p->remaining = (uint64_t)m->content_length;
            p->state = ST_LENGTH;
        } else {
            p->state = ST_END_PENDING;
        }
    } else {
        int st = m->status;
        if (st == 101) {
            m->upgrade = true;
            p->state = ST_END_PENDING;
        } else if (st < 200 || st == 204 || st == 304 || p->resp_head) {
            p->state = ST_END_PENDING;
        } else if (p->resp_connect && st < 300) {
            m->upgrade = true; /* a tunnel: the bytes after the head are the peer's */
            p->state = ST_END_PENDING;
        } else if (m->chunked) {
            m->has_body = true;
            p->state = ST_CHUNK_SIZE;
        } else if (m->content_length > 0) {
            m->has_body = true;
            p->remaining = (uint64_t)m->content_length;
            p->state = ST_LENGTH;
        } else if (m->content_length == 0) {
            p->state = ST_END_PENDING;
        } else {
            m->has_body = true;
            m->keep_alive = false;
            p->state = ST_UNTIL_EOF;
        }
    }
    p->chunk_size = 0;
    p->chunk_digits = 0;
    p->chunk_line = 0;
    return NET_OK;
}

/* The trailer section is collected: split and check its fields. */
static int trailers_process(net_h1_parser_t *p)
{
    scan_t *s = &p->trail;
    p->ntrs = 0;
    size_t i = 0;
    unsigned line = 1;
    while (i + 2 <= s->len) {
        const uint8_t *eol = memchr(s->buf + i, '\r', s->len - i);
        size_t end = (size_t)(eol - s->buf);
        if (end == i)
            break; /* the empty line */
        const uint8_t *colon = memchr(s->buf + i, ':', end - i);
        if (!colon) {
            set_error(p, 400, "trailer line %u: no ':'", line);
            return NET_EPROTO;
        }
        size_t noff = i, nlen = (size_t)(colon - s->buf) - i;
        size_t voff = noff + nlen + 1, vlen = end - voff;
        if (!hdrs_reserve(p, &p->trs, &p->trs_cap, p->ntrs + 1))
            return NET_ENOMEM;
        net_h2_header_t *h = &p->trs[p->ntrs];
        if (!field_finish(s->buf, noff, nlen, voff, vlen, true, h)) {
            set_error(p, 400, "trailer line %u: field name is not a token", line);
            return NET_EPROTO;
        }
        if (strcmp(h->name, "content-length") == 0 || strcmp(h->name, "transfer-encoding") == 0 ||
            strcmp(h->name, "host") == 0) {
            set_error(p, 400, "trailer line %u: %s is not allowed in trailers", line, h->name);
            return NET_EPROTO;
        }
        p->ntrs++;
        i = end + 2;
        line++;
    }
    return NET_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Events */

static void start_next_head(net_h1_parser_t *p)
{
    scan_reset(&p->head);
    p->state = ST_HEAD;
}

/* END was reported: where does the connection go? */
static void after_end(net_h1_parser_t *p)
{
    const net_h1_message_t *m = &p->msg;
    if (p->server) {
        p->resumable = m->upgrade && m->keep_alive && strcmp(m->method, "CONNECT") != 0;
        if (m->upgrade || !m->keep_alive)
            p->state = ST_DONE;
        else
            start_next_head(p);
        return;
    }
    if (m->status >= 100 && m->status < 200 && m->status != 101) {
        start_next_head(p); /* interim response: the final one follows for the same request */
        return;
    }
    p->resp_head = p->resp_connect = false;
    if (m->upgrade || !m->keep_alive)
        p->state = ST_DONE;
    else
        start_next_head(p);
}

/* One byte of chunk framing. */
static void chunk_byte(net_h1_parser_t *p, uint8_t b)
{
    p->body_off++;
    if (p->state == ST_CHUNK_SIZE || p->state == ST_CHUNK_BWS || p->state == ST_CHUNK_EXT) {
        if (++p->chunk_line > p->cfg.max_chunk_line) {
            set_error(p, 400, "chunked body, byte %llu: chunk-size line longer than %zu bytes",
                      (unsigned long long)p->body_off, p->cfg.max_chunk_line);
            return;
        }
    }
    switch (p->state) {
    case ST_CHUNK_SIZE: {
        int v = (b >= '0' && b <= '9')   ? b - '0'
                : (b >= 'a' && b <= 'f') ? b - 'a' + 10
                : (b >= 'A' && b <= 'F') ? b - 'A' + 10
                                         : -1;
        if (v >= 0) {
            if (++p->chunk_digits > 15) {
                set_error(p, 400, "chunked body, byte %llu: chunk size has more than 15 hex digits",
                          (unsigned long long)p->body_off);
                return;
            }
            p->chunk_size = p->chunk_size * 16 + (uint64_t)v;
        } else if (p->chunk_digits == 0) {
            set_error(p, 400, "chunked body, byte %llu: chunk size is not hexadecimal (0x%02x)",
                      (unsigned long long)p->body_off, b);
        } else if (b == '\r') {
            p->state = ST_CHUNK_SIZE_LF;
        } else if (b == ';') {
            p->state = ST_CHUNK_EXT;
        } else if (b == ' ' || b == '\t') {
            p->state = ST_CHUNK_BWS;
        } else {
            set_error(p, 400, "chunked body, byte %llu: unexpected byte 0x%02x after chunk size",
                      (unsigned long long)p->body_off, b);
        }
        return;
    }
    case ST_CHUNK_BWS:
        if (b == ';')
            p->state = ST_CHUNK_EXT;
        else if (b != ' ' && b != '\t')
            set_error(p, 400,
                      "chunked body, byte %llu: whitespace after a chunk size not "
                      "followed by ';'",
                      (unsigned long long)p->body_off);
        return;
    case ST_CHUNK_EXT:
        if (b == '\r')
            p->state = ST_CHUNK_SIZE_LF;
        else if (b == '\n' || is_ctl(b))
            set_error(p, 400,
                      "chunked body, byte %llu: control character 0x%02x in a chunk "
                      "extension",
                      (unsigned long long)p->body_off, b);
        return;
    case ST_CHUNK_SIZE_LF:
        if (b != '\n') {
            set_error(p, 400, "chunked body, byte %llu: CR not followed by LF after chunk size",
                      (unsigned long long)p->body_off);
            return;
        }
        if (p->chunk_size == 0) {
            scan_reset(&p->trail);
            p->state = ST_TRAILERS;
        } else {
            p->remaining = p->chunk_size;
            p->state = ST_CHUNK_DATA;
        }
        p->chunk_size = 0;
        p->chunk_digits = 0;
        p->chunk_line = 0;
        return;
    case ST_CHUNK_DATA_CR:
        if (b != '\r')
            set_error(p, 400,
                      "chunked body, byte %llu: chunk data longer than its size (no CRLF "
                      "after it)",
                      (unsigned long long)p->body_off);
        else
            p->state = ST_CHUNK_DATA_LF;
        return;
    case ST_CHUNK_DATA_LF:
        if (b != '\n')
            set_error(p, 400, "chunked body, byte %llu: CR not followed by LF after chunk data",
                      (unsigned long long)p->body_off);
        else
            p->state = ST_CHUNK_SIZE;
        return;
    default:
        return;
    }
}

size_t net_h1_parser_feed(net_h1_parser_t *p, const uint8_t *data, size_t len, net_h1_event_t *ev)
{
    ev->kind = NET_H1_EV_NEED_MORE;
    ev->data = NULL;
    ev->len = 0;
    size_t off = 0;
    for (;;) {
        switch (p->state) {
        case ST_ERROR:
            ev->kind = NET_H1_EV_ERROR;
            return off;
        case ST_DONE:
            ev->kind = NET_H1_EV_DONE;
            return off;
        case ST_END_PENDING:
            ev->kind = NET_H1_EV_END;
            after_end(p);
            return off;
        case ST_HEAD: {
            if (off == len)
                return off;
            size_t used;
            int rc = scan_feed(p, &p->head, false, data + off, len - off, &used);
            off += used;
            if (rc == SCAN_MORE)
                return off;
            if (rc == SCAN_END && head_process(p) == NET_OK) {
                ev->kind = NET_H1_EV_HEAD;
                return off;
            }
            continue; /* ST_ERROR */
        }
        case ST_LENGTH:
        case ST_CHUNK_DATA:
        case ST_UNTIL_EOF: {
            if (off == len)
                return off;
            size_t n = len - off;
            if (p->state != ST_UNTIL_EOF && n > p->remaining)
                n = (size_t)p->remaining;
            ev->kind = NET_H1_EV_BODY;
            ev->data = data + off;
            ev->len = n;
            off += n;
            p->body_off += n;
            if (p->state != ST_UNTIL_EOF) {
                p->remaining -= n;
                if (p->remaining == 0)
                    p->state = p->state == ST_LENGTH ? ST_END_PENDING : ST_CHUNK_DATA_CR;
            }
            return off;
        }
        case ST_TRAILERS: {
            if (off == len)
                return off;
            size_t used;
            int rc = scan_feed(p, &p->trail, true, data + off, len - off, &used);
            off += used;
            p->body_off += used;
            if (rc == SCAN_MORE)
                return off;
            if (rc == SCAN_END && trailers_process(p) == NET_OK)
                p->state = ST_END_PENDING;
            continue;
        }
        default: /* chunk framing */
            if (off == len)
                return off;
            chunk_byte(p, data[off++]);
            continue;
        }
    }
}

void net_h1_parser_finish(net_h1_parser_t *p, net_h1_event_t *ev)
{
    ev->data = NULL;
    ev->len = 0;
    switch (p->state) {
    case ST_ERROR:
        ev->kind = NET_H1_EV_ERROR;
        return;
    case ST_DONE:
        ev->kind = NET_H1_EV_DONE;
        return;
    case ST_END_PENDING:
        ev->kind = NET_H1_EV_END;
        after_end(p);
        return;
    case ST_UNTIL_EOF:
        ev->kind = NET_H1_EV_END;
        p->state = ST_DONE;
        p->resp_head = p->resp_connect = false;
        return;
    case ST_HEAD:
        if (p->head.len == 0 && !p->head.cr) {
            p->state = ST_DONE;
            ev->kind = NET_H1_EV_DONE;
            return;
        }
        set_error(p, 400, "connection closed inside a message head (line %u)", p->head.line);
        break;
    default:
        set_error(p, 400, "connection closed inside a message body (after %llu body bytes)",
                  (unsigned long long)p->body_off);
        break;
    }
    ev->kind = NET_H1_EV_ERROR;
}

const net_h1_message_t *net_h1_parser_message(const net_h1_parser_t *p)
{
    return &p->msg;
}

const net_h2_header_t *net_h1_parser_trailers(const net_h1_parser_t *p, size_t *n)
{
    *n = p->ntrs;
    return p->trs;
}

int net_h1_parser_resume(net_h1_parser_t *p)
{
    if (!p->server || p->state != ST_DONE || !p->resumable)
        return NET_ESTATE;
    p->resumable = false;
    start_next_head(p);
    return NET_OK;
}

void net_h1_parser_set_method(net_h1_parser_t *p, const char *method)
{
    p->resp_head = method && strcmp(method, "HEAD") == 0;
    p->resp_connect = method && strcmp(method, "CONNECT") == 0;
}

int net_h1_parser_error_status(const net_h1_parser_t *p)
{
    return p->err_status;
}

const char *net_h1_parser_error(const net_h1_parser_t *p)
{
    return p->err_status ? p->err : "";
}

int net_h1_parser_check(const net_h1_parser_t *p)
{
    const char *broken = NULL;
    bool body_state = p->state >= ST_LENGTH && p->state <= ST_UNTIL_EOF;
    if ((p->state == ST_ERROR) != (p->err_status != 0))
        broken = "H1 error state and error status disagree";
    else if (p->head.len > p->cfg.max_head || p->trail.len > p->cfg.max_head)
        broken = "H2 a section is over max_head";
    else if (p->head.cr && (p->head.len == 0 || p->head.buf[p->head.len - 1] != '\r'))
        broken = "H2 pending CR not stored";
    else if (p->nhdrs > p->cfg.max_headers || p->ntrs > p->cfg.max_headers)
        broken = "H3 more fields than max_headers";
    else if ((p->state == ST_LENGTH || p->state == ST_CHUNK_DATA) && p->remaining == 0)
        broken = "H4 a body state with nothing remaining";
    else if (body_state && !p->msg.has_body)
        broken = "H5 a body state for a message without body";
    else if (p->err_status && (p->server ? p->err_status == 502 : p->err_status != 502))
        broken = "H6 error status does not match the parser side";
    if (broken) {
        net__log(NET_LOG_ERROR, "h1 parser invariant broken: %s (state %d)", broken, p->state);
        return NET_ESTATE;
    }
    return NET_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Serialization */

void net_h1_buf_dispose(net_h1_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Grows |b| by |len| bytes and returns where they start (the caller writes them), or NULL
 * when memory runs out (|b| unchanged). */
static uint8_t *buf_room(net_h1_buf_t *b, size_t len)
{
    if (b->len + len < b->len)
        return NULL;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len) {
            if (cap > SIZE_MAX / 2)
                return NULL;
            cap *= 2;
        }
        uint8_t *nd = realloc(b->data, cap);
        if (!nd)
            return NULL;
        b->data = nd;
        b->cap = cap;
    }
    uint8_t *w = b->data + b->len;
    b->len += len;
    return w;
}

int net_h1_buf_append(net_h1_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return NET_OK;
    uint8_t *w = buf_room(b, len);
    if (!w)
        return NET_ENOMEM;
    memcpy(w, data, len);
    return NET_OK;
}

static int buf_str(net_h1_buf_t *b, const char *s)
{
    return net_h1_buf_append(b, s, strlen(s));
}

static bool value_ok(const char *v, size_t len)
{
    /* eight bytes at a time while none is below 0x20 or 0x7f (a HTAB sends that word to the
     * byte loop, which allows it) */
    size_t i = 0;
    while (len - i >= 8 && !(ctl_bits8(v + i, false) & HIGH_BITS8))
        i += 8;
    for (; i < len; i++)
        if (is_ctl((unsigned char)v[i]))
            return false;
    return true;
}

/* Appends the fields and the empty line. */
static int fields_write(net_h1_buf_t *b, const net_h2_header_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len > 0 && h[i].name[0] == ':')
            continue;
        if (!net_h1_is_token(h[i].name, h[i].name_len) ||
            (h[i].value_len && !value_ok(h[i].value, h[i].value_len)))
            return NET_EINVAL;
        /* one append per field: "name: value\r\n" */
        size_t nl = h[i].name_len, vl = h[i].value_len;
        uint8_t *w = nl + vl + 4 < nl ? NULL : buf_room(b, nl + vl + 4);
        if (!w)
            return NET_ENOMEM;
        memcpy(w, h[i].name, nl);
        w[nl] = ':';
        w[nl + 1] = ' ';
        if (vl)
            memcpy(w + nl + 2, h[i].value, vl);
        w[nl + 2 + vl] = '\r';
        w[nl + 3 + vl] = '\n';
    }
    return buf_str(b, "\r\n") ? NET_ENOMEM : NET_OK;
}

int net_h1_request_write(net_h1_buf_t *b, const char *method, const char *target,
                         const net_h2_header_t *h, size_t n)
{
    if (!method || !target || !net_h1_is_token(method, strlen(method)) || !*target)
        return NET_EINVAL;
    for (const char *t = target; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
            return NET_EINVAL;
    size_t start = b->len;
    int rc = NET_OK;
    if (buf_str(b, method) || buf_str(b, " ") || buf_str(b, target) || buf_str(b, " HTTP/1.1\r\n"))
        rc = NET_ENOMEM;
    else
        rc = fields_write(b, h, n);
    if (rc != NET_OK)
        b->len = start;
    return rc;
}

int net_h1_response_write(net_h1_buf_t *b, int status, const char *reason, const net_h2_header_t *h,
                          size_t n)
{
    if (status < 100 || status > 999)
        return NET_EINVAL;
    if (!reason)
        reason = net_h1_status_reason(status);
    if (!value_ok(reason, strlen(reason)))
        return NET_EINVAL;
    size_t start = b->len;
    /* 100..999: three digits, by hand (per response; snprintf showed in profiles) */
    char line[] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    int rc = NET_OK;
    if (buf_str(b, line) || buf_str(b, reason) || buf_str(b, "\r\n"))
        rc = NET_ENOMEM;
    else
        rc = fields_write(b, h, n);
    if (rc != NET_OK)
        b->len = start;
    return rc;
}

int net_h1_chunk_write(net_h1_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return NET_OK;
    size_t start = b->len;
    char size[24];
    snprintf(size, sizeof size, "%zx\r\n", len);
    if (buf_str(b, size) || net_h1_buf_append(b, data, len) || buf_str(b, "\r\n")) {
        b->len = start;
        return NET_ENOMEM;
    }
    return NET_OK;
}

int net_h1_chunk_write_last(net_h1_buf_t *b, const net_h2_header_t *trailers, size_t n)
{
    size_t start = b->len;
    int rc = buf_str(b, "0\r\n") ? NET_ENOMEM : fields_write(b, trailers, n);
    if (rc != NET_OK)
        b->len = start;
    return rc;
}

int net_h1_continue_write(net_h1_buf_t *b)
{
    return buf_str(b, "HTTP/1.1 100 Continue\r\n\r\n");
}

int net_h1_error_write(net_h1_buf_t *b, int status, const char *detail,
                       const net_h2_header_t *extra, size_t n)
{
    if (status < 100 || status > 999)
        return NET_EINVAL;
    char body[320];
    int blen = snprintf(body, sizeof body, "%d %s%s%s\n", status, net_h1_status_reason(status),
                        detail && *detail ? ": " : "", detail ? detail : "");
    if (blen < 0)
        return NET_EINVAL;
    if ((size_t)blen >= sizeof body) {
        blen = (int)sizeof body - 1;
        body[blen - 1] = '\n';
    }
    for (int i = 0; i < blen - 1; i++)
        if (is_ctl((unsigned char)body[i]) || (unsigned char)body[i] >= 0x80)
            body[i] = '?';
    char clen[24];
    snprintf(clen, sizeof clen, "%d", blen);
    net_h2_header_t fixed[] = {
        NET_H2_HDR("Content-Type", "text/plain; charset=utf-8"),
        NET_H2_HDR("Content-Length", clen),
        NET_H2_HDR("Connection", "close"),
    };
    if (n > 16)
        return NET_EINVAL;
    net_h2_header_t h[3 + 16];
    memcpy(h, fixed, sizeof fixed);
    if (n)
        memcpy(h + 3, extra, n * sizeof *extra);
    size_t start = b->len;
    int rc = net_h1_response_write(b, status, NULL, h, 3 + n);
    if (rc == NET_OK && net_h1_buf_append(b, body, (size_t)blen) != NET_OK)
        rc = NET_ENOMEM;
    if (rc != NET_OK)
        b->len = start;
    return rc;
}

const char *net_h1_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
