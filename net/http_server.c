/*
 * The admin HTTP server: one handler interface over HTTP/1.1 (raw connections driven by the h1
 * codec) and HTTP/2 (streams of the h2 server), with buffered bodies and exact/prefix routing.
 *
 * Key decisions:
 *  - One listener serves both protocols: net's server sends TLS connections to HTTP/2 or to a
 *    byte stream by ALPN, and plaintext ones by their first bytes (the HTTP/2 preface or not).
 *  - HTTP/1.1 requests are answered strictly in order, one at a time: after a request's END the
 *    handler runs and its response is queued before the next pipelined request is parsed, and
 *    parsing stops while the connection's write queue is over its cap (reading pauses too). The
 *    memory of a connection is therefore its input buffer (at most two socket reads), one
 *    request body (max_request_body) and the write queue cap plus one response.
 *  - Deadlines of HTTP/1.1 connections (request_timeout_ms from the first byte of a request to
 *    its end, keepalive_timeout_ms between requests) are checked by one timer for the whole
 *    server instead of one timer per connection: a connection then owns no libuv handle of its
 *    own and its state can go synchronously in its raw on_close. The cost is precision: deadlines
 *    fire up to a quarter of the shorter timeout late (at most 1 s).
 *  - A protocol error is answered (400/408/413/414/417/431/501/505 with Connection: close) and
 *    the connection ends with a lingering close (net_conn_end), so the answer reaches a client
 *    that is still sending.
 */
#include "net/http_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct route {
    char *method; /* "*" matches any */
    char *path;   /* exact path, or the prefix before the '*' (ends in '/') */
    size_t path_len;
    bool prefix;
    bool upgrade;
    net_http_handler_cb cb;
    net_http_upgrade_cb ucb;
    void *ud;
    struct route *next;
} route_t;

struct net_http_response {
    int status;
    net_h2_header_t *h; /* names and values owned */
    size_t n, cap;
    net_h1_buf_t body;
    size_t max_body;
    bool has_ctype;
};

enum { PHASE_IDLE = 0, PHASE_REQUEST = 1 };

/* INVARIANTS (HTTP/1.1 connection)
 *  S1 in_request => phase == PHASE_REQUEST
 *  S2 ended => no byte of |in| is parsed any more, and no response is written
 *  S3 deadline != 0 unless ended
 *  S4 body.len <= max_request_body                                                            */
typedef struct h1conn {
    net_http_server_t *srv;
    net_conn_t *conn;
    net_h1_parser_t *parser;
    net_h1_buf_t in;   /* received, not yet parsed */
    net_h1_buf_t body; /* the current request's body */
    int phase;
    bool in_request; /* a head arrived, its END not yet */
    bool got_bytes;  /* bytes arrived since the last END */
    bool closing;    /* graceful shutdown: answer with Connection: close, then end */
    bool ended;      /* net_conn_end called, or the connection was handed over */
    bool busy;       /* inside h1_process */
    bool eof;        /* the peer finished sending */
    bool paused;     /* we paused reading */
    uint64_t deadline;
    struct h1conn *prev, *next;
} h1conn_t;

typedef struct h2req {
    net_http_server_t *srv;
    net_h2_stream_t *st;
    net_h2_header_t *h; /* copies of the request fields, pseudo-headers included */
    size_t n;
    char *strings;
    net_h1_buf_t body;
    net_h1_buf_t out; /* response body waiting for room (NET_EAGAIN) */
    bool rejected;    /* answered before the end (413) */
    bool responded;
} h2req_t;

struct net_http_server {
    uv_loop_t *loop;
    net_http_server_config_t cfg;
    net_server_t *net;
    route_t *routes;
    h1conn_t *h1conns;
    uv_timer_t tick;
    bool tick_running;
    uint64_t tick_ms;
    uint64_t requests;
    bool closing;
    bool net_closed, tick_closed;
    void (*on_closed)(net_http_server_t *, void *);
    void *closed_ud;
};

static const char text_plain[] = "text/plain; charset=utf-8";

void net_http_server_config_default(net_http_server_config_t *c)
{
    memset(c, 0, sizeof *c);
    net_server_config_default(&c->server);
    net_h1_config_default(&c->h1);
    c->max_request_body = 1024u * 1024u;
    c->max_response_body = 64u * 1024u * 1024u;
    c->request_timeout_ms = 30000;
    c->keepalive_timeout_ms = 60000;
    c->serve_h1 = true;
}

/* ------------------------------------------------------------------------------------------- */
/* Responses */

static void resp_init(net_http_response_t *r, size_t max_body)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->max_body = max_body;
}

static void resp_dispose(net_http_response_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->h[i].name);
        free((char *)r->h[i].value);
    }
    free(r->h);
    net_h1_buf_dispose(&r->body);
    r->h = NULL;
    r->n = r->cap = 0;
}

int net_http_response_set_status(net_http_response_t *r, int status)
{
    if (status < 200 || status > 999)
        return NET_EINVAL;
    r->status = status;
    return NET_OK;
}

int net_http_response_status(const net_http_response_t *r)
{
    return r->status;
}

int net_http_response_header(net_http_response_t *r, const char *name, const char *value)
{
    static const char *const owned[] = {"content-length",    "connection", "keep-alive",
                                        "transfer-encoding", "upgrade",    "te",
                                        "proxy-connection",  "date"};
    if (!name || !value || !net_h1_is_token(name, strlen(name)))
        return NET_EINVAL;
    for (const char *v = value; *v; v++)
        if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
            return NET_EINVAL;
    size_t nlen = strlen(name);
    char *n = malloc(nlen + 1);
    char *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return NET_ENOMEM;
    }
    for (size_t i = 0; i <= nlen; i++)
        n[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        if (strcmp(n, owned[i]) == 0) {
            free(n);
            free(v);
            return NET_EINVAL;
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        net_h2_header_t *nh = realloc(r->h, cap * sizeof *nh);
        if (!nh) {
            free(n);
            free(v);
            return NET_ENOMEM;
        }
        r->h = nh;
        r->cap = cap;
    }
    r->h[r->n++] = (net_h2_header_t){n, nlen, v, strlen(v)};
    if (strcmp(n, "content-type") == 0)
        r->has_ctype = true;
    return NET_OK;
}

int net_http_response_write(net_http_response_t *r, const void *data, size_t len)
{
    if (len > r->max_body || r->body.len > r->max_body - len)
        return NET_ETOOBIG;
    return net_h1_buf_append(&r->body, data, len);
}

int net_http_response_printf(net_http_response_t *r, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NET_EINVAL;
    if ((size_t)n < sizeof small)
        return net_http_response_write(r, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return NET_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = net_http_response_write(r, big, (size_t)n);
    free(big);
    return rc;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate), independent of the locale. */
static void http_date(char *buf, size_t cap)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ------------------------------------------------------------------------------------------- */
/* Routing */

static bool method_ok(const char *m)
{
    return m && (strcmp(m, "*") == 0 || net_h1_is_token(m, strlen(m)));
}

static int route_add(net_http_server_t *s, const char *method, const char *path, bool upgrade,
                     net_http_handler_cb cb, net_http_upgrade_cb ucb, void *ud)
{
    if (!method_ok(method) || !path || path[0] != '/' || (!cb && !ucb))
        return NET_EINVAL;
    size_t len = strlen(path);
    bool prefix = len >= 2 && path[len - 1] == '*' && path[len - 2] == '/';
    if (prefix)
        len--;
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '?' || *c == '#')
            return NET_EINVAL;
    for (route_t *r = s->routes; r; r = r->next)
        if (r->upgrade == upgrade && r->prefix == prefix && r->path_len == len &&
            strncmp(r->path, path, len) == 0 && strcmp(r->method, method) == 0)
            return NET_EINVAL;
    route_t *r = calloc(1, sizeof *r);
    if (!r || !(r->method = strdup(method)) || !(r->path = strndup(path, len))) {
        if (r)
            free(r->method);
        free(r);
        return NET_ENOMEM;
    }
    r->path_len = len;
    r->prefix = prefix;
    r->upgrade = upgrade;
    r->cb = cb;
    r->ucb = ucb;
    r->ud = ud;
    /* Append: registration order breaks ties between equally specific routes. */
    route_t **tail = &s->routes;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    return NET_OK;
}

int net_http_server_route(net_http_server_t *s, const char *method, const char *path,
                          net_http_handler_cb cb, void *ud)
{
    if (!cb)
        return NET_EINVAL;
    return route_add(s, method, path, false, cb, NULL, ud);
}

int net_http_server_route_upgrade(net_http_server_t *s, const char *path, net_http_upgrade_cb cb,
                                  void *ud)
{
    if (!cb)
        return NET_EINVAL;
    return route_add(s, "*", path, true, NULL, cb, ud);
}

/* How well |r| matches |path|: 0 not at all; exact beats any prefix; longer prefixes beat
 * shorter ones. */
static size_t route_score(const route_t *r, const char *path)
{
    if (!r->prefix)
        return strcmp(r->path, path) == 0 ? SIZE_MAX : 0;
    return strncmp(r->path, path, r->path_len) == 0 ? r->path_len : 0;
}

static bool route_method(const route_t *r, const char *method)
{
    return strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0;
}

/* Finds the most specific route for |method| (HEAD falls back to GET); *path_matched tells
 * whether any route matched the path at all. */
static const route_t *route_find(const net_http_server_t *s, const char *method, const char *path,
                                 bool upgrade, bool *path_matched)
{
    const route_t *best = NULL;
    size_t best_score = 0;
    bool best_exact_method = false;
    *path_matched = false;
    for (const route_t *r = s->routes; r; r = r->next) {
        if (r->upgrade != upgrade)
            continue;
        size_t score = route_score(r, path);
        if (!score)
            continue;
        *path_matched = true;
        bool exact = route_method(r, method);
        bool head_get = strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
        if (!exact && !head_get)
            continue;
        if (!best || score > best_score || (score == best_score && exact && !best_exact_method)) {
            best = r;
            best_score = score;
            best_exact_method = exact;
        }
    }
    return best;
}

/* Runs the handler for |req|, or fills a 404 / 405 answer. */
static void dispatch(net_http_server_t *s, const net_http_request_t *req, net_http_response_t *resp)
{
    bool path_matched;
    const route_t *r = route_find(s, req->method, req->path, false, &path_matched);
    if (r) {
        r->cb(req, resp, r->ud);
        return;
    }
    if (!path_matched) {
        resp->status = 404;
        net_http_response_printf(resp, "404 Not Found: no route for %s\n", req->path);
        return;
    }
    /* 405 with the methods that would have worked (RFC 9110 section 15.5.6). */
    char allow[256] = "";
    size_t used = 0;
    bool any = false, get = false;
    for (const route_t *x = s->routes; x; x = x->next) {
        if (x->upgrade || !route_score(x, req->path))
            continue;
        any |= strcmp(x->method, "*") == 0;
        get |= strcmp(x->method, "GET") == 0;
        if (!strstr(allow, x->method) && used + strlen(x->method) + 3 < sizeof allow)
            used += (size_t)snprintf(allow + used, sizeof allow - used, "%s%s", used ? ", " : "",
                                     x->method);
    }
    if (get && !strstr(allow, "HEAD") && used + 7 < sizeof allow)
        snprintf(allow + used, sizeof allow - used, ", HEAD");
    resp->status = 405;
    if (!any)
        net_http_response_header(resp, "allow", allow);
    net_http_response_printf(resp, "405 Method Not Allowed: %s %s\n", req->method, req->path);
}

/* Splits a request-target into path, query and (absolute-form) authority. Returns storage that
 * the three point into (owned by the caller), or NULL when out of memory. */
static char *target_split(const char *target, const char **path, const char **query,
                          const char **authority)
{
    size_t len = strlen(target);
    char *buf = malloc(2 * len + 4);
    if (!buf)
        return NULL;
    const char *t = target;
    char *w = buf;
    *authority = NULL;
    const char *scheme_end = strstr(target, "://");
    if (target[0] != '/' && target[0] != '*' && scheme_end) {
        const char *a = scheme_end + 3;
        size_t alen = strcspn(a, "/?");
        memcpy(w, a, alen);
        w[alen] = '\0';
        *authority = w;
        w += alen + 1;
        t = a + alen;
    }
    *path = w;
    if (*t != '/' && *t != '*')
        *w++ = '/';
    size_t plen = strcspn(t, "?");
    memcpy(w, t, plen);
    w[plen] = '\0';
    w += plen + 1;
    *query = w;
    if (t[plen] == '?')
        strcpy(w, t + plen + 1);
    else
        *w = '\0';
    return buf;
}

static const char *header_value(const net_h2_header_t *h, size_t n, const char *name)
{
    const net_h2_header_t *f = net_h2_header_find(h, n, name);
    return f ? f->value : NULL;
}

/* Builds the header list to send: the handler's, then content-type, content-length, date.
 * Returns an array to free, or NULL when out of memory. */
static net_h2_header_t *resp_fields(const net_http_response_t *resp, bool h2, char *status,
                                    char *clen, char *date, size_t *n)
{
    net_h2_header_t *h = malloc((resp->n + 5) * sizeof *h);
    if (!h)
        return NULL;
    size_t k = 0;
    snprintf(status, 4, "%d", resp->status);
    if (h2)
        h[k++] = (net_h2_header_t){":status", 7, status, strlen(status)};
    for (size_t i = 0; i < resp->n; i++)
        h[k++] = resp->h[i];
    bool no_body = resp->status == 204 || resp->status == 304;
    if (resp->body.len && !resp->has_ctype && !no_body)
        h[k++] = (net_h2_header_t){"content-type", 12, text_plain, sizeof text_plain - 1};
    snprintf(clen, 24, "%zu", resp->body.len);
    if (!no_body)
        h[k++] = (net_h2_header_t){"content-length", 14, clen, strlen(clen)};
    http_date(date, 40);
    h[k++] = (net_h2_header_t){"date", 4, date, strlen(date)};
    *n = k;
    return h;
}

/* ------------------------------------------------------------------------------------------- */
/* HTTP/1.1 connections */

static void tick_start(net_http_server_t *s);
static void h1conn_free(h1conn_t *hc);
static const net_conn_raw_callbacks_t h1_callbacks, inert_callbacks;

static void h1_end(h1conn_t *hc)
{
    if (hc->ended)
        return;
    hc->ended = true;
    hc->in.len = 0;
    net_conn_end(hc->conn);
}

/* Writes an error answer and ends the connection. */
static void h1_fail(h1conn_t *hc, int status, const char *detail)
{
    if (hc->ended)
        return;
    net_h1_buf_t b = {0};
    char date[40];
    http_date(date, sizeof date);
    net_h2_header_t extra[] = {{"Date", 4, date, strlen(date)}};
    if (net_h1_error_write(&b, status, detail, extra, 1) == NET_OK)
        net_conn_write(hc->conn, b.data, b.len);
    net_h1_buf_dispose(&b);
    hc->srv->requests++;
    net__log(NET_LOG_DEBUG, "http %s: %d %s", net_conn_peer(hc->conn), status,
             detail ? detail : "");
    h1_end(hc);
}

static void h1_send(h1conn_t *hc, const net_h1_message_t *m, net_http_response_t *resp, bool head,
                    bool keep)
{
    char status[4], clen[24], date[40];
    size_t n;
    net_h2_header_t *h = resp_fields(resp, false, status, clen, date, &n);
    net_h1_buf_t b = {0};
    if (h) {
        if (!keep)
            h[n++] = (net_h2_header_t){"connection", 10, "close", 5};
        else if (m->minor_version == 0)
            h[n++] = (net_h2_header_t){"connection", 10, "keep-alive", 10};
    }
    if (!h || net_h1_response_write(&b, resp->status, NULL, h, n) != NET_OK) {
        free(h);
        net_h1_buf_dispose(&b);
        h1_fail(hc, 500, "cannot build the response");
        return;
    }
    free(h);
    hc->srv->requests++;
    int rc = net_conn_write(hc->conn, b.data, b.len);
    bool no_body = head || resp->status == 204 || resp->status == 304;
    if (rc == NET_OK && !no_body && resp->body.len)
        rc = net_conn_write(hc->conn, resp->body.data, resp->body.len);
    net_h1_buf_dispose(&b);
    if (rc != NET_OK || !keep)
        h1_end(hc);
}

/* A whole request: route it, answer it. |rest| are the bytes after it (for an upgrade).
 * Returns true when the connection was handed over. */
static bool h1_request(h1conn_t *hc, const uint8_t *rest, size_t rest_len)
{
    net_http_server_t *s = hc->srv;
    const net_h1_message_t *m = net_h1_parser_message(hc->parser);
    net_http_request_t req;
    memset(&req, 0, sizeof req);
    const char *authority;
    char *store = target_split(m->target, &req.path, &req.query, &authority);
    if (!store) {
        h1_fail(hc, 503, "out of memory");
        return false;
    }
    req.method = m->method;
    req.authority = authority ? authority : header_value(m->headers, m->nheaders, "host");
    if (!req.authority)
        req.authority = "";
    req.headers = m->headers;
    req.nheaders = m->nheaders;
    req.body = hc->body.data ? hc->body.data : (const uint8_t *)"";
    req.body_len = hc->body.len;
    req.http_version = 10 + m->minor_version;
    req.peer = net_conn_peer(hc->conn);
    req.conn = hc->conn;

    bool keep = m->keep_alive && !hc->closing && !s->closing;
    bool head = strcmp(m->method, "HEAD") == 0;
    net_http_response_t resp;
    resp_init(&resp, s->cfg.max_response_body);
    bool handed = false;
    if (m->upgrade) {
        bool matched;
        const route_t *r = route_find(s, m->method, req.path, true, &matched);
        bool connect = strcmp(m->method, "CONNECT") == 0;
        if (r && !connect) {
            net_conn_set_raw(hc->conn, &inert_callbacks, NULL);
            if (r->ucb(&req, hc->conn, rest, rest_len, &resp, r->ud)) {
                s->requests++;
                handed = true; /* ours no more: the caller frees |hc| */
            } else {
                net_conn_set_raw(hc->conn, &h1_callbacks, hc);
                h1_send(hc, m, &resp, head, keep);
            }
        } else if (connect) {
            keep = false;
            resp.status = 405;
            net_http_response_printf(&resp, "405 Method Not Allowed: CONNECT\n");
            h1_send(hc, m, &resp, false, false);
        } else {
            dispatch(s, &req, &resp);
            h1_send(hc, m, &resp, head, keep);
        }
        if (!handed && !hc->ended && net_h1_parser_resume(hc->parser) != NET_OK)
            h1_end(hc);
    } else {
        dispatch(s, &req, &resp);
        h1_send(hc, m, &resp, head, keep);
    }
    resp_dispose(&resp);
    free(store);
    return handed;
}

/* A head arrived: check the body size early, answer Expect: 100-continue. */
static void h1_head(h1conn_t *hc)
{
    const net_h1_message_t *m = net_h1_parser_message(hc->parser);
    net_http_server_t *s = hc->srv;
    hc->in_request = true;
    hc->body.len = 0;
    if (m->content_length > 0 && (uint64_t)m->content_length > s->cfg.max_request_body) {
        char why[96];
        snprintf(why, sizeof why, "Content-Length %lld is over the limit of %zu bytes",
                 (long long)m->content_length, s->cfg.max_request_body);
        h1_fail(hc, 413, why);
        return;
    }
    if (m->expect_continue && m->has_body) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        net_conn_write(hc->conn, cont, sizeof cont - 1);
    }
}

static void h1_process(h1conn_t *hc)
{
    if (hc->busy || hc->ended)
        return;
    net_http_server_t *s = hc->srv;
    hc->busy = true;
    size_t off = 0;
    size_t cap = s->cfg.server.conn.write_queue_cap;
    bool blocked = false;
    while (!hc->ended) {
        if (net_conn_write_queued(hc->conn) >= cap) {
            blocked = true; /* answers wait for the peer to read: on_drain resumes */
            break;
        }
        net_h1_event_t ev;
        off += net_h1_parser_feed(hc->parser, hc->in.data + off, hc->in.len - off, &ev);
        if (ev.kind == NET_H1_EV_NEED_MORE) {
            if (!hc->eof)
                break;
            net_h1_parser_finish(hc->parser, &ev);
        }
        switch (ev.kind) {
        case NET_H1_EV_HEAD:
            h1_head(hc);
            break;
        case NET_H1_EV_BODY:
            if (hc->body.len + ev.len > s->cfg.max_request_body) {
                char why[64];
                snprintf(why, sizeof why, "body over the limit of %zu bytes",
                         s->cfg.max_request_body);
                h1_fail(hc, 413, why);
            } else if (net_h1_buf_append(&hc->body, ev.data, ev.len) != NET_OK) {
                h1_fail(hc, 503, "out of memory");
            }
            break;
        case NET_H1_EV_END:
            hc->in_request = false;
            hc->got_bytes = off < hc->in.len;
            if (h1_request(hc, hc->in.data + off, hc->in.len - off)) {
                h1conn_free(hc); /* handed over: the connection has another owner now */
                return;
            }
            hc->phase = PHASE_IDLE;
            hc->deadline = uv_now(s->loop) + s->cfg.keepalive_timeout_ms;
            break;
        case NET_H1_EV_ERROR:
            h1_fail(hc, net_h1_parser_error_status(hc->parser), net_h1_parser_error(hc->parser));
            break;
        case NET_H1_EV_DONE:
        default:
            h1_end(hc);
            break;
        }
    }
    if (!hc->ended) {
        memmove(hc->in.data, hc->in.data + off, hc->in.len - off);
        hc->in.len -= off;
        if (hc->phase == PHASE_IDLE && (hc->got_bytes || hc->in_request)) {
            hc->phase = PHASE_REQUEST;
            hc->deadline = uv_now(s->loop) + s->cfg.request_timeout_ms;
        }
        if (hc->closing && hc->phase == PHASE_IDLE && hc->in.len == 0)
            h1_end(hc);
        else if (blocked != hc->paused) {
            hc->paused = blocked;
            net_conn_set_read_paused(hc->conn, blocked);
        }
    }
    hc->busy = false;
}

static void h1_on_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    (void)c;
    h1conn_t *hc = ud;
    if (hc->ended)
        return;
    /* Bounded: we parse everything unless paused, and a pause lets in one more read. */
    if (hc->in.len + len > hc->srv->cfg.h1.max_head + 256u * 1024u) {
        h1_fail(hc, 431, "input buffer over its limit");
        return;
    }
    if (net_h1_buf_append(&hc->in, data, len) != NET_OK) {
        h1_fail(hc, 503, "out of memory");
        return;
    }
    hc->got_bytes = true;
    h1_process(hc);
}

static void h1_on_eof(net_conn_t *c, void *ud)
{
    h1conn_t *hc = ud;
    if (hc->ended) {
        net_conn_end(c);
        return;
    }
    hc->eof = true;
    h1_process(hc);
}

static void h1_on_drain(net_conn_t *c, void *ud)
{
    (void)c;
    h1conn_t *hc = ud;
    if (!hc->ended)
        h1_process(hc);
}

static void h1_on_shutdown(net_conn_t *c, void *ud)
{
    h1conn_t *hc = ud;
    if (hc->ended) {
        net_conn_end(c);
        return;
    }
    hc->closing = true;
    if (hc->phase == PHASE_IDLE && hc->in.len == 0)
        h1_end(hc);
}

/* Unlinks |hc| from its server and frees it. */
static void h1conn_free(h1conn_t *hc)
{
    net_http_server_t *s = hc->srv;
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        s->h1conns = hc->next;
    if (hc->next)
        hc->next->prev = hc->prev;
    net_h1_parser_free(hc->parser);
    net_h1_buf_dispose(&hc->in);
    net_h1_buf_dispose(&hc->body);
    free(hc);
}

/* ------------------------------------------------------------------------------------------- */
/* Deadlines of HTTP/1.1 connections: one timer for the server */

static void tick_cb(uv_timer_t *t)
{
    net_http_server_t *s = t->data;
    uint64_t now = uv_now(s->loop);
    for (h1conn_t *hc = s->h1conns, *next; hc; hc = next) {
        next = hc->next;
        if (hc->ended || !hc->deadline || now < hc->deadline)
            continue;
        if (hc->phase == PHASE_REQUEST) {
            char why[64];
            snprintf(why, sizeof why, "the request did not arrive within %llu ms",
                     (unsigned long long)s->cfg.request_timeout_ms);
            h1_fail(hc, 408, why);
        } else {
            h1_end(hc);
        }
    }
    if (!s->h1conns) {
        uv_timer_stop(&s->tick);
        s->tick_running = false;
    }
}

static void tick_start(net_http_server_t *s)
{
    if (s->tick_running || s->closing)
        return;
    s->tick_running = true;
    uv_timer_start(&s->tick, tick_cb, s->tick_ms, s->tick_ms);
}

/* ------------------------------------------------------------------------------------------- */
/* Connections */

static void conn_open(net_conn_t *c, int status, void *ud)
{
    net_http_server_t *s = ud;
    if (status != NET_OK || !net_conn_is_raw(c))
        return;
    h1conn_t *hc = calloc(1, sizeof *hc);
    int err;
    if (hc)
        hc->parser = net_h1_parser_new(true, &s->cfg.h1, &err);
    if (!hc || !hc->parser) {
        free(hc);
        net_conn_close(c, false);
        return;
    }
    hc->srv = s;
    hc->conn = c;
    hc->phase = PHASE_REQUEST; /* the first bytes are here already */
    hc->deadline = uv_now(s->loop) + s->cfg.request_timeout_ms;
    hc->next = s->h1conns;
    if (s->h1conns)
        s->h1conns->prev = hc;
    s->h1conns = hc;
    net_conn_set_raw(c, &h1_callbacks, hc);
    tick_start(s);
}

static void h1_on_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    (void)status;
    h1conn_free(ud);
}

static const net_conn_raw_callbacks_t h1_callbacks = {.on_read = h1_on_read,
                                                      .on_eof = h1_on_eof,
                                                      .on_drain = h1_on_drain,
                                                      .on_shutdown = h1_on_shutdown,
                                                      .on_close = h1_on_close};

/* Installed while an upgrade handler runs: if it takes the connection without installing its
 * own callbacks, the bytes are dropped and the connection ends at the peer's EOF. */
static void inert_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    (void)c;
    (void)data;
    (void)len;
    (void)ud;
}

static const net_conn_raw_callbacks_t inert_callbacks = {.on_read = inert_read};

/* ------------------------------------------------------------------------------------------- */
/* HTTP/2 streams */

static void h2req_free(h2req_t *r)
{
    free(r->h);
    free(r->strings);
    net_h1_buf_dispose(&r->body);
    net_h1_buf_dispose(&r->out);
    free(r);
}

/* Answers on an HTTP/2 stream; the body goes out now or from on_writable. */
static void h2_send(h2req_t *r, net_http_response_t *resp, bool head)
{
    char status[4], clen[24], date[40];
    size_t n;
    net_h2_header_t *h = resp_fields(resp, true, status, clen, date, &n);
    if (!h) {
        net_h2_stream_reset(r->st, 0x2 /* INTERNAL_ERROR */);
        return;
    }
    bool body = !head && resp->body.len && resp->status != 204 && resp->status != 304;
    int rc = net_h2_stream_respond(r->st, h, n, !body);
    free(h);
    r->responded = true;
    r->srv->requests++;
    if (rc != NET_OK || !body)
        return;
    /* Take the body over (no copy); it is written now or when there is room. */
    r->out = resp->body;
    memset(&resp->body, 0, sizeof resp->body);
    rc = net_h2_stream_write(r->st, r->out.data, r->out.len);
    if (rc == NET_OK) {
        net_h1_buf_dispose(&r->out);
        net_h2_stream_end(r->st, NULL, 0);
    } else if (rc != NET_EAGAIN) {
        net_h1_buf_dispose(&r->out);
    }
}

static void h2_answer_error(h2req_t *r, int status, const char *text)
{
    net_http_response_t resp;
    resp_init(&resp, r->srv->cfg.max_response_body);
    resp.status = status;
    net_http_response_printf(&resp, "%d %s: %s\n", status, net_h1_status_reason(status), text);
    h2_send(r, &resp, false);
    resp_dispose(&resp);
}

static void h2_on_headers(net_h2_session_t *ss, net_h2_stream_t *st, int kind,
                          const net_h2_header_t *h, size_t n, void *ud)
{
    (void)ss;
    net_http_server_t *s = ud;
    if (kind != NET_H2_REQUEST)
        return; /* request trailers: ignored */
    h2req_t *r = calloc(1, sizeof *r);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += h[i].name_len + h[i].value_len + 2;
    if (r) {
        r->h = malloc((n ? n : 1) * sizeof *r->h);
        r->strings = malloc(bytes ? bytes : 1);
    }
    if (!r || !r->h || !r->strings) {
        if (r)
            h2req_free(r);
        net_h2_stream_reset(st, 0x2);
        return;
    }
    char *w = r->strings;
    for (size_t i = 0; i < n; i++) {
        memcpy(w, h[i].name, h[i].name_len + 1);
        r->h[i].name = w;
        r->h[i].name_len = h[i].name_len;
        w += h[i].name_len + 1;
        memcpy(w, h[i].value, h[i].value_len + 1);
        r->h[i].value = w;
        r->h[i].value_len = h[i].value_len;
        w += h[i].value_len + 1;
    }
    r->n = n;
    r->srv = s;
    r->st = st;
    net_h2_stream_set_user(st, r);
    const char *cl = header_value(r->h, r->n, "content-length");
    if (cl && strtoull(cl, NULL, 10) > s->cfg.max_request_body) {
        r->rejected = true;
        h2_answer_error(r, 413, "Content-Length over the limit");
    }
}

static void h2_on_data(net_h2_session_t *ss, net_h2_stream_t *st, const uint8_t *data, size_t len,
                       void *ud)
{
    (void)ss;
    net_http_server_t *s = ud;
    h2req_t *r = net_h2_stream_user(st);
    if (!r || r->rejected)
        return;
    if (r->body.len + len > s->cfg.max_request_body) {
        r->rejected = true;
        h2_answer_error(r, 413, "body over the limit");
        return;
    }
    if (net_h1_buf_append(&r->body, data, len) != NET_OK) {
        r->rejected = true;
        net_h2_stream_reset(st, 0x2);
    }
}

static void h2_on_end(net_h2_session_t *ss, net_h2_stream_t *st, void *ud)
{
    net_http_server_t *s = ud;
    h2req_t *r = net_h2_stream_user(st);
    if (!r || r->rejected || r->responded)
        return;
    net_http_request_t req;
    memset(&req, 0, sizeof req);
    const char *method = header_value(r->h, r->n, ":method");
    const char *target = header_value(r->h, r->n, ":path");
    if (!method || !target) {
        h2_answer_error(r, 400, "no :method or :path");
        return;
    }
    const char *authority;
    char *store = target_split(target, &req.path, &req.query, &authority);
    if (!store) {
        net_h2_stream_reset(st, 0x2);
        return;
    }
    req.method = method;
    req.authority = header_value(r->h, r->n, ":authority");
    if (!req.authority)
        req.authority = header_value(r->h, r->n, "host");
    if (!req.authority)
        req.authority = "";
    /* The regular fields follow the pseudo-headers (nghttp2 enforces the order). */
    size_t first = 0;
    while (first < r->n && r->h[first].name[0] == ':')
        first++;
    req.headers = r->h + first;
    req.nheaders = r->n - first;
    req.body = r->body.data ? r->body.data : (const uint8_t *)"";
    req.body_len = r->body.len;
    req.http_version = 20;
    net_conn_t *c = net_conn_from_session(ss);
    req.peer = net_conn_peer(c);
    req.conn = c;
    net_http_response_t resp;
    resp_init(&resp, s->cfg.max_response_body);
    dispatch(s, &req, &resp);
    h2_send(r, &resp, strcmp(method, "HEAD") == 0);
    resp_dispose(&resp);
    free(store);
}

static void h2_on_writable(net_h2_session_t *ss, net_h2_stream_t *st, void *ud)
{
    (void)ss;
    (void)ud;
    h2req_t *r = net_h2_stream_user(st);
    if (!r || !r->out.data)
        return;
    int rc = net_h2_stream_write(st, r->out.data, r->out.len);
    if (rc == NET_EAGAIN)
        return;
    net_h1_buf_dispose(&r->out);
    if (rc == NET_OK)
        net_h2_stream_end(st, NULL, 0);
}

static void h2_on_close(net_h2_session_t *ss, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)ss;
    (void)code;
    (void)ud;
    h2req_t *r = net_h2_stream_user(st);
    if (r)
        h2req_free(r);
    net_h2_stream_set_user(st, NULL);
}

/* ------------------------------------------------------------------------------------------- */
/* Server */

net_http_server_t *net_http_server_new(uv_loop_t *loop, const net_http_server_config_t *cfg,
                                       int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    net_http_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        *err = NET_ENOMEM;
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    if (!s->cfg.request_timeout_ms)
        s->cfg.request_timeout_ms = 30000;
    if (!s->cfg.keepalive_timeout_ms)
        s->cfg.keepalive_timeout_ms = 60000;
    uint64_t shortest = s->cfg.request_timeout_ms < s->cfg.keepalive_timeout_ms
                            ? s->cfg.request_timeout_ms
                            : s->cfg.keepalive_timeout_ms;
    s->tick_ms = shortest / 4;
    if (s->tick_ms < 10)
        s->tick_ms = 10;
    if (s->tick_ms > 1000)
        s->tick_ms = 1000;
    net_server_config_t sc = cfg->server;
    sc.cb = (net_h2_callbacks_t){.on_headers = h2_on_headers,
                                 .on_data = h2_on_data,
                                 .on_end = h2_on_end,
                                 .on_close = h2_on_close,
                                 .on_writable = h2_on_writable};
    sc.ud = s;
    sc.on_conn_open = conn_open; /* installs h1_callbacks with the connection's state */
    sc.on_conn_close = NULL;
    memset(&sc.raw, 0, sizeof sc.raw);
    if (cfg->serve_h1)
        sc.raw = inert_callbacks;
    s->net = net_server_new(loop, &sc, err);
    if (!s->net) {
        free(s);
        return NULL;
    }
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    *err = NET_OK;
    return s;
}

int net_http_server_port(const net_http_server_t *s)
{
    return net_server_port(s->net);
}

uint64_t net_http_server_requests(const net_http_server_t *s)
{
    return s->requests;
}

net_server_t *net_http_server_net(const net_http_server_t *s)
{
    return s->net;
}

static void maybe_finish(net_http_server_t *s)
{
    if (!s->net_closed || !s->tick_closed)
        return;
    if (s->on_closed)
        s->on_closed(s, s->closed_ud);
    for (route_t *r = s->routes, *next; r; r = next) {
        next = r->next;
        free(r->method);
        free(r->path);
        free(r);
    }
    free(s);
}

static void net_closed(net_server_t *ns, void *ud)
{
    (void)ns;
    net_http_server_t *s = ud;
    s->net_closed = true;
    maybe_finish(s);
}

static void tick_closed(uv_handle_t *h)
{
    net_http_server_t *s = h->data;
    s->tick_closed = true;
    maybe_finish(s);
}

void net_http_server_close(net_http_server_t *s, bool graceful,
                           void (*on_closed)(net_http_server_t *, void *), void *ud)
{
    if (s->closing)
        return;
    s->closing = true;
    s->on_closed = on_closed;
    s->closed_ud = ud;
    s->tick_running = false;
    uv_close((uv_handle_t *)&s->tick, tick_closed);
    net_server_close(s->net, graceful, net_closed, s);
}
