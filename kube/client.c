/*
 * The Kubernetes API client (kube/client.h) over net/http_client: authentication (bearer token,
 * client certificate), the client-side rate limit, whole-body and streaming responses.
 *
 * The rate limit is client-go's token bucket (qps tokens per second, at most burst saved up):
 * a request that finds no token waits on the client's queue, in order, and one timer wakes the
 * queue when the next token is due. Streams (WATCH) bypass it, as client-go's watches do not
 * wait on the limiter for their lifetime.
 *
 * The token is re-read from its file when it is older than token_reread_ms at the time a request
 * is sent, and after a 401, which is then retried once with the fresh token: projected service
 * account tokens rotate, and the first request after a rotation must not fail because of it.
 *
 * INVARIANTS
 *  K1 a call is on exactly one of: the throttle queue (throttled), the Retry-After list
 *     (sleeping), an HTTP call in flight (hc != NULL)
 *  K2 body_len <= max body; resp_body holds body_len bytes plus a NUL
 *  K3 tokens <= burst
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"
#include "net/http_client.h"
#include "net/tls.h"

#ifndef KUBE_CLIENT_VERSION
#define KUBE_CLIENT_VERSION "0.1.0"
#endif
#define KUBE_CLIENT_MAX_BODY                                            \
    ((size_t)256 << 20) /* one LIST page or object: far above real ones \
                         */

struct kube_call {
    kube_client_t *c;
    bool stream, throttled, retried;
    char *method, *path, *content_type, *body;
    size_t body_len;
    kube_response_cb cb;
    kube_stream_cbs_t scbs;
    void *ud;
    net_http_call_t *hc;
    int status;
    bool hold;              /* a 401 that will be retried: its body is not delivered */
    bool hold_ra, sleeping; /* a 429 / 5xx with Retry-After: retried after that long */
    unsigned ra_retries;
    uint64_t ra_ms;
    uv_timer_t *ra_timer;
    kube_call_t *sleep_next;
    bool too_big;
    char *resp;
    size_t resp_len, resp_cap;
    char *resp_ct;
    kube_call_t *next; /* throttle queue */
};

struct kube_client {
    uv_loop_t *loop;
    kube_client_options_t o;
    net_http_client_t *http;
    char *base_path, *ua, *token, *token_file;
    uint64_t token_at;
    double tokens;
    uint64_t tokens_at;
    uv_timer_t *rl_timer;
    kube_call_t *queue, **queue_tail;
    kube_call_t *sleeping; /* waiting out a Retry-After */
    bool closing;
    int closes_pending;
    void (*on_closed)(void *);
    void *closed_ud;
    kube_client_stats_t st;
};

static void logf_(kube_client_t *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logf_(kube_client_t *c, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->o.log)
        c->o.log(level, msg, c->o.log_ud);
    else if (level >= KRT_LOG_INFO)
        fprintf(stderr, "kube client: %s\n", msg);
}

void kube_client_options_default(kube_client_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->request_timeout_ms = 30000;
    o->token_reread_ms = 60000;
    o->qps = 50;
    o->burst = 100;
}

static void send_call(kube_call_t *k);

static void ra_timer_freed(uv_handle_t *h)
{
    free(h);
}

static void call_free(kube_call_t *k)
{
    if (k->ra_timer) {
        uv_timer_stop(k->ra_timer);
        k->ra_timer->data = NULL;
        uv_close((uv_handle_t *)k->ra_timer, ra_timer_freed);
    }
    free(k->method);
    free(k->path);
    free(k->content_type);
    free(k->body);
    free(k->resp);
    free(k->resp_ct);
    free(k);
}

static int map_err(int net_err)
{
    return net_err == NET_OK        ? KUBE_OK
           : net_err == NET_ECLOSED ? KUBE_ESTATE
           : net_err == NET_ENOMEM  ? KUBE_ENOMEM
                                    : KUBE_EIO;
}

/* Delivers the end of |k| (not on any list any more) and frees it. */
static void call_end(kube_call_t *k, int err)
{
    kube_client_t *c = k->c;
    if (c->st.in_flight)
        c->st.in_flight--;
    if (err != KUBE_OK)
        c->st.errors++;
    else
        c->st.responses++;
    if (k->stream) {
        if (k->scbs.on_done)
            k->scbs.on_done(k->ud, err, err == KUBE_OK ? k->status : 0);
    } else if (err == KUBE_OK) {
        kube_response_t r = {.status = k->status,
                             .body = k->resp ? k->resp : "",
                             .len = k->resp_len,
                             .content_type = k->resp_ct};
        k->cb(k->ud, KUBE_OK, &r);
    } else {
        k->cb(k->ud, err, NULL);
    }
    call_free(k);
}

/* ---- token ------------------------------------------------------------------------------------
 */

static void token_reread(kube_client_t *c)
{
    if (!c->token_file)
        return;
    char *t = NULL;
    char err[256];
    int rc = kube_token_read(c->token_file, &t, err, sizeof(err));
    c->token_at = uv_now(c->loop);
    c->st.token_rereads++;
    if (rc != KUBE_OK) {
        logf_(c, KRT_LOG_WARN, "token file %s: %s (keeping the previous token)", c->token_file,
              err);
        return;
    }
    free(c->token);
    c->token = t;
}

/* ---- rate limit -------------------------------------------------------------------------------
 */

static void refill(kube_client_t *c)
{
    uint64_t now = uv_now(c->loop);
    c->tokens += (double)(now - c->tokens_at) * c->o.qps / 1000.0;
    if (c->tokens > c->o.burst)
        c->tokens = c->o.burst;
    c->tokens_at = now;
}

static void pump(kube_client_t *c);

static void rl_fire(uv_timer_t *t)
{
    if (t->data)
        pump(t->data);
}

static void pump(kube_client_t *c)
{
    refill(c);
    while (c->queue && c->tokens >= 1.0 && !c->closing) {
        kube_call_t *k = c->queue;
        c->queue = k->next;
        if (!c->queue)
            c->queue_tail = &c->queue;
        k->next = NULL;
        k->throttled = false;
        c->tokens -= 1.0;
        send_call(k);
    }
    if (c->queue && !c->closing) {
        uint64_t wait = (uint64_t)((1.0 - c->tokens) * 1000.0 / c->o.qps) + 1;
        uv_timer_start(c->rl_timer, rl_fire, wait, 0);
    }
}

/* ---- HTTP callbacks ---------------------------------------------------------------------------
 */

static bool append(kube_call_t *k, const uint8_t *d, size_t len)
{
    if (k->resp_len + len > KUBE_CLIENT_MAX_BODY)
        return false;
    if (k->resp_len + len + 1 > k->resp_cap) {
        size_t cap = k->resp_cap ? k->resp_cap : 4096;
        while (cap < k->resp_len + len + 1)
            cap *= 2;
        char *n = realloc(k->resp, cap);
        if (!n)
            return false;
        k->resp = n;
        k->resp_cap = cap;
    }
    memcpy(k->resp + k->resp_len, d, len);
    k->resp_len += len;
    k->resp[k->resp_len] = '\0';
    return true;
}

static void h_head(void *ud, int status, const net_h2_header_t *h, size_t n)
{
    kube_call_t *k = ud;
    k->status = status;
    k->hold = status == 401 && !k->retried && k->c->token_file && !k->c->closing;
    /* 429 and 5xx with Retry-After: the server says when to come back (client-go retries such
     * answers up to 10 times; we do 3, each wait capped at 30 s). Streams are the reflector's. */
    const net_h2_header_t *ra = net_h2_header_find(h, n, "retry-after");
    k->hold_ra = false;
    if (ra && !k->stream && !k->c->closing && k->ra_retries < 3 &&
        (status == 429 || status >= 500)) {
        char *end = NULL;
        unsigned long secs = strtoul(ra->value, &end, 10);
        if (end && end != ra->value && *end == '\0') {
            k->hold_ra = true;
            k->ra_ms = (secs > 30 ? 30 : secs) * 1000;
        }
    }
    const net_h2_header_t *ct = net_h2_header_find(h, n, "content-type");
    free(k->resp_ct);
    k->resp_ct = ct ? strdup(ct->value) : NULL;
    if (k->stream && !k->hold && k->scbs.on_headers)
        k->scbs.on_headers(k->ud, status);
}

static void h_data(void *ud, const uint8_t *d, size_t len)
{
    kube_call_t *k = ud;
    if (k->hold || k->hold_ra)
        return;
    if (k->stream) {
        if (k->scbs.on_data)
            k->scbs.on_data(k->ud, (const char *)d, len);
        return;
    }
    if (!k->too_big && !append(k, d, len)) {
        /* A body over the limit (or OOM): drop the request; no on_done comes after a cancel. */
        k->too_big = true;
        logf_(k->c, KRT_LOG_ERROR, "%s %s: response body over %zu bytes: dropped", k->method,
              k->path, (size_t)KUBE_CLIENT_MAX_BODY);
        net_http_call_cancel(k->hc);
        k->hc = NULL;
        call_end(k, KUBE_EIO);
    }
}

static void sleep_remove(kube_call_t *k)
{
    for (kube_call_t **pp = &k->c->sleeping; *pp; pp = &(*pp)->sleep_next) {
        if (*pp == k) {
            *pp = k->sleep_next;
            break;
        }
    }
    k->sleeping = false;
    k->sleep_next = NULL;
}

static void ra_fire(uv_timer_t *t)
{
    kube_call_t *k = t->data;
    if (!k)
        return;
    sleep_remove(k);
    send_call(k);
}

static void h_done(void *ud, int err)
{
    kube_call_t *k = ud;
    kube_client_t *c = k->c;
    k->hc = NULL;
    if (err == NET_OK && k->hold) {
        /* 401: the token may have rotated under us. Once, with a fresh one. */
        k->retried = true;
        k->hold = false;
        k->resp_len = 0;
        c->st.retries_401++;
        token_reread(c);
        logf_(c, KRT_LOG_INFO, "%s %s: 401 Unauthorized; retrying once with the token re-read",
              k->method, k->path);
        send_call(k);
        return;
    }
    if (err == NET_OK && k->hold_ra) {
        k->hold_ra = false;
        k->ra_retries++;
        k->resp_len = 0;
        if (!k->ra_timer) {
            k->ra_timer = malloc(sizeof(*k->ra_timer));
            if (!k->ra_timer) {
                call_end(k, KUBE_ENOMEM);
                return;
            }
            uv_timer_init(c->loop, k->ra_timer);
        }
        logf_(c, KRT_LOG_INFO, "%s %s: %d with Retry-After: retrying in %llu ms", k->method,
              k->path, k->status, (unsigned long long)k->ra_ms);
        k->ra_timer->data = k;
        k->sleeping = true;
        k->sleep_next = c->sleeping;
        c->sleeping = k;
        uv_timer_start(k->ra_timer, ra_fire, k->ra_ms, 0);
        return;
    }
    if (err != NET_OK && err != NET_ECLOSED)
        logf_(c, KRT_LOG_DEBUG, "%s %s: %s", k->method, k->path, net_strerror(err));
    call_end(k, map_err(err));
}

static const net_http_call_cbs_t http_cbs = {h_head, h_data, h_done};

static void send_call(kube_call_t *k)
{
    kube_client_t *c = k->c;
    if (c->token_file && uv_now(c->loop) - c->token_at >= c->o.token_reread_ms)
        token_reread(c);
    net_h2_header_t h[5];
    size_t n = 0;
    char *auth = NULL;
    if (c->token) {
        size_t len = strlen(c->token) + 8;
        auth = malloc(len);
        if (auth) {
            snprintf(auth, len, "Bearer %s", c->token);
            h[n++] = NET_H2_HDR("authorization", auth);
        }
    }
    h[n++] = NET_H2_HDR("user-agent", c->ua);
    h[n++] = NET_H2_HDR("accept", "application/json");
    if (k->content_type)
        h[n++] = NET_H2_HDR("content-type", k->content_type);
    net_http_client_request_t req = {.method = k->method,
                                     .path = k->path,
                                     .headers = h,
                                     .nheaders = n,
                                     .body = k->body,
                                     .body_len = k->body_len,
                                     .timeout_ms = k->stream ? 0 : c->o.request_timeout_ms};
    k->status = 0;
    int rc = net_http_client_request(c->http, &req, &http_cbs, k, &k->hc);
    free(auth);
    if (rc != NET_OK) {
        k->hc = NULL;
        logf_(c, KRT_LOG_WARN, "%s %s: cannot start: %s", k->method, k->path, net_strerror(rc));
        call_end(k, map_err(rc == NET_ECLOSED  ? NET_ECLOSED
                            : rc == NET_ENOMEM ? NET_ENOMEM
                                               : NET_EIO));
    }
}

/* ---- public ------------------------------------------------------------------------------------
 */

int kube_client_new(uv_loop_t *loop, const kube_client_config_t *cfg,
                    const kube_client_options_t *opts, kube_client_t **out, char *err, size_t cap)
{
    if (cap)
        err[0] = '\0';
    if (!loop || !cfg || !out || !cfg->host || !cfg->port) {
        snprintf(err, cap, "no API server address in the configuration");
        return KUBE_EINVAL;
    }
    kube_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return KUBE_ENOMEM;
    c->loop = loop;
    if (opts)
        c->o = *opts;
    else
        kube_client_options_default(&c->o);
    if (!c->o.request_timeout_ms)
        c->o.request_timeout_ms = 30000;
    if (!c->o.token_reread_ms)
        c->o.token_reread_ms = 60000;
    if (c->o.qps <= 0)
        c->o.qps = 50;
    if (!c->o.burst)
        c->o.burst = 100;
    c->tokens = c->o.burst;
    c->tokens_at = uv_now(loop);
    c->token_at = uv_now(loop);
    c->queue_tail = &c->queue;
    c->base_path = strdup(cfg->base_path ? cfg->base_path : "");
    c->ua = strdup(c->o.user_agent ? c->o.user_agent : "krtgate/" KUBE_CLIENT_VERSION);
    c->token = cfg->token ? strdup(cfg->token) : NULL;
    c->token_file = cfg->token_file ? strdup(cfg->token_file) : NULL;
    c->rl_timer = malloc(sizeof(*c->rl_timer));
    int rc = KUBE_ENOMEM;
    net_tls_ctx_t *tls = NULL;
    if (!c->base_path || !c->ua || !c->rl_timer || (cfg->token && !c->token) ||
        (cfg->token_file && !c->token_file))
        goto fail;
    if (cfg->scheme && strcmp(cfg->scheme, "https") == 0) {
        static const char *const alpn_h2[] = {"h2", "http/1.1", NULL};
        static const char *const alpn_h1[] = {"http/1.1", NULL};
        char *ca = cfg->ca_pem ? strndup(cfg->ca_pem, cfg->ca_pem_len) : NULL;
        char *crt =
            cfg->client_cert_pem ? strndup(cfg->client_cert_pem, cfg->client_cert_pem_len) : NULL;
        char *key =
            cfg->client_key_pem ? strndup(cfg->client_key_pem, cfg->client_key_pem_len) : NULL;
        net_tls_config_t tc = {.ca_pem = ca,
                               .cert_pem = crt,
                               .key_pem = key,
                               .insecure_skip_verify = cfg->insecure_skip_tls_verify,
                               .alpn = c->o.http1_only ? alpn_h1 : alpn_h2};
        int nerr = 0;
        if ((cfg->ca_pem && !ca) || (cfg->client_cert_pem && !crt) || (cfg->client_key_pem && !key))
            nerr = NET_ENOMEM;
        else
            tls = net_tls_ctx_new(false, &tc, &nerr);
        free(ca);
        free(crt);
        free(key);
        if (!tls) {
            rc = nerr == NET_ENOMEM ? KUBE_ENOMEM : KUBE_EINVAL;
            snprintf(err, cap,
                     "%s: TLS material (certificate-authority, client certificate or "
                     "key) is not usable: %s",
                     cfg->origin ? cfg->origin : "kubeconfig", net_strerror(nerr));
            goto fail;
        }
    } else if (!cfg->scheme || strcmp(cfg->scheme, "http") != 0) {
        snprintf(err, cap, "server %s: scheme must be https or http",
                 cfg->server ? cfg->server : "?");
        rc = KUBE_EINVAL;
        goto fail;
    }
    net_http_client_config_t hc;
    net_http_client_config_default(&hc);
    hc.host = cfg->host;
    hc.port = cfg->port;
    hc.tls = tls;
    hc.server_name = cfg->tls_server_name ? cfg->tls_server_name : cfg->host;
    /* Over HTTP/1.1 every WATCH holds a connection for its whole life, so the pool must hold one
     * per watched kind plus room for requests (client-go does not cap connections either). */
    hc.max_connections = 128;
    /* Liveness of long watches over HTTP/2: PING every 30 s, 15 s to answer (client-go's
     * ReadIdleTimeout / PingTimeout). */
    hc.conn.keepalive_ms = 30000;
    hc.conn.keepalive_timeout_ms = 15000;
    int nerr = 0;
    c->http = net_http_client_new(loop, &hc, &nerr);
    net_tls_ctx_release(tls);
    tls = NULL;
    if (!c->http) {
        rc = nerr == NET_ENOMEM ? KUBE_ENOMEM : KUBE_EINVAL;
        snprintf(err, cap, "server %s: %s", cfg->server ? cfg->server : "?", net_strerror(nerr));
        goto fail;
    }
    uv_timer_init(loop, c->rl_timer);
    c->rl_timer->data = c;
    *out = c;
    return KUBE_OK;
fail:
    net_tls_ctx_release(tls);
    free(c->base_path);
    free(c->ua);
    free(c->token);
    free(c->token_file);
    free(c->rl_timer);
    free(c);
    return rc;
}

static int call_new(kube_client_t *c, bool stream, const char *method, const char *path,
                    const char *content_type, const char *body, size_t len, kube_call_t **out)
{
    if (!c || !method || !path || (len && !body))
        return KUBE_EINVAL;
    if (c->closing)
        return KUBE_ESTATE;
    kube_call_t *k = calloc(1, sizeof(*k));
    if (!k)
        return KUBE_ENOMEM;
    k->c = c;
    k->stream = stream;
    k->method = strdup(method);
    size_t plen = strlen(c->base_path) + strlen(path) + 1;
    k->path = malloc(plen);
    if (k->path)
        snprintf(k->path, plen, "%s%s", c->base_path, path);
    k->content_type = content_type ? strdup(content_type) : NULL;
    k->body = len ? malloc(len) : NULL;
    if (k->body)
        memcpy(k->body, body, len);
    k->body_len = len;
    if (!k->method || !k->path || (content_type && !k->content_type) || (len && !k->body)) {
        call_free(k);
        return KUBE_ENOMEM;
    }
    *out = k;
    return KUBE_OK;
}

int kube_client_request(kube_client_t *c, const char *method, const char *path,
                        const char *content_type, const char *body, size_t len, kube_response_cb cb,
                        void *ud, kube_call_t **call)
{
    kube_call_t *k = NULL;
    if (!cb)
        return KUBE_EINVAL;
    int rc = call_new(c, false, method, path, content_type, body, len, &k);
    if (rc != KUBE_OK)
        return rc;
    k->cb = cb;
    k->ud = ud;
    k->throttled = true;
    *c->queue_tail = k;
    c->queue_tail = &k->next;
    c->st.requests++;
    c->st.in_flight++;
    if (call)
        *call = k;
    pump(c);
    return KUBE_OK;
}

int kube_client_stream(kube_client_t *c, const char *path, const kube_stream_cbs_t *cbs, void *ud,
                       kube_call_t **call)
{
    kube_call_t *k = NULL;
    if (!cbs || !cbs->on_done)
        return KUBE_EINVAL;
    int rc = call_new(c, true, "GET", path, NULL, NULL, 0, &k);
    if (rc != KUBE_OK)
        return rc;
    k->scbs = *cbs;
    k->ud = ud;
    c->st.requests++;
    c->st.in_flight++;
    if (call)
        *call = k;
    send_call(k);
    return KUBE_OK;
}

void kube_call_cancel(kube_call_t *k)
{
    if (!k)
        return;
    kube_client_t *c = k->c;
    if (k->throttled) {
        for (kube_call_t **pp = &c->queue; *pp; pp = &(*pp)->next) {
            if (*pp == k) {
                *pp = k->next;
                if (c->queue_tail == &k->next)
                    c->queue_tail = pp;
                break;
            }
        }
    } else if (k->sleeping) {
        sleep_remove(k);
    } else if (k->hc) {
        net_http_call_cancel(k->hc);
    }
    if (c->st.in_flight)
        c->st.in_flight--;
    call_free(k);
}

static void closed_part(kube_client_t *c)
{
    if (--c->closes_pending > 0)
        return;
    void (*cb)(void *) = c->on_closed;
    void *ud = c->closed_ud;
    free(c->base_path);
    free(c->ua);
    free(c->token);
    free(c->token_file);
    free(c);
    if (cb)
        cb(ud);
}

static void http_closed(void *ud)
{
    closed_part(ud);
}

static void timer_closed(uv_handle_t *h)
{
    kube_client_t *c = h->data;
    free(h);
    closed_part(c);
}

void kube_client_close(kube_client_t *c, void (*on_closed)(void *ud), void *ud)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->on_closed = on_closed;
    c->closed_ud = ud;
    c->closes_pending = 3; /* the timer, the HTTP client, and this function */
    uv_timer_stop(c->rl_timer);
    uv_close((uv_handle_t *)c->rl_timer, timer_closed);
    while (c->queue) {
        kube_call_t *k = c->queue;
        c->queue = k->next;
        k->next = NULL;
        k->throttled = false;
        call_end(k, KUBE_ESTATE);
    }
    c->queue_tail = &c->queue;
    while (c->sleeping) {
        kube_call_t *k = c->sleeping;
        sleep_remove(k);
        call_end(k, KUBE_ESTATE);
    }
    net_http_client_close(c->http, http_closed, c); /* in-flight calls end with ESTATE */
    closed_part(c);
}

void kube_client_stats(const kube_client_t *c, kube_client_stats_t *out)
{
    *out = c->st;
    net_http_client_stats_t hs;
    net_http_client_stats(c->http, &hs);
    out->connections = (unsigned)hs.connections;
    out->h2 = hs.h2;
}
