/*
 * xDS authentication by TokenReview (see kube/tokenreview.h).
 *
 * Key decision: cache the API server's answer per token, not the decision per (token, role): the
 * answer (authenticated, username) is what costs a round trip, and the rule that compares it with
 * the role is a string comparison redone for every stream. Tokens are kept whole as cache keys
 * rather than hashed: a 64-bit non-cryptographic hash could be collided on purpose, and a few
 * thousand tokens of ~1 KiB is a bounded, small cost.
 *
 * The alternative rejected: reviewing once per connection without a cache, as agentgateway does;
 * a controller restart then makes every proxy reconnect at once and the API server sees one review
 * per proxy and per reconnect attempt.
 *
 * INVARIANTS
 *  T1 HASH_COUNT(cache) <= cache_max; the cache's insertion order is its eviction order
 *  T2 every review on |reviews| has a pending decision that has not been completed yet; it leaves
 *     the list exactly when it is completed
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <utlist.h>
#include <uthash.h>

#include "kube/tokenreview.h"

#define GRPC_UNAVAILABLE 14
#define GRPC_UNAUTHENTICATED 16
#define GRPC_PERMISSION_DENIED 7

typedef struct entry {
    char *token;
    kube_tokenreview_result_t r;
    uint64_t expires_ms;
    UT_hash_handle hh;
} entry_t;

typedef struct review {
    kube_tokenreview_t *t;
    xds_auth_pending_t *pending;
    char *token;
    char *gateway; /* NULL: the stream has no role */
    kube_call_t *call;
    /* the transport may answer before kube_client_request returns (a connection that cannot
     * start): then the decision is kept here and returned synchronously */
    bool in_request, answered;
    int status;
    char reason[512];
    struct review *prev, *next;
} review_t;

struct kube_tokenreview {
    kube_api_t api;
    char *audience;
    uint64_t ttl_allow_ms, ttl_deny_ms;
    size_t cache_max;
    uint64_t (*now_ms)(void *ud);
    void *now_ud;
    krt_log_cb log;
    void *log_ud;
    entry_t *cache;
    review_t *reviews;
    kube_tokenreview_stats_t st;
};

static uint64_t mono_ms(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void logf_(kube_tokenreview_t *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(kube_tokenreview_t *t, int level, const char *fmt, ...)
{
    if (!t->log)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t->log(level, buf, t->log_ud);
}

/* ---------------------------------------------------------------------------------------------
 * Pure parts.
 * ------------------------------------------------------------------------------------------- */
char *kube_tokenreview_body(const char *token, const char *audience)
{
    json_t *spec = json_pack("{s:s}", "token", token ? token : "");
    if (spec && audience && *audience)
        json_object_set_new(spec, "audiences", json_pack("[s]", audience));
    json_t *j = json_pack("{s:s,s:s,s:o}", "apiVersion", "authentication.k8s.io/v1", "kind",
                          "TokenReview", "spec", spec);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

int kube_tokenreview_parse(int http_status, const char *body, size_t len, const char *audience,
                           kube_tokenreview_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (http_status < 200 || http_status > 299) {
        snprintf(out->error, sizeof out->error, "TokenReview answered HTTP %d", http_status);
        return KUBE_EIO;
    }
    json_error_t e;
    json_t *j = body ? json_loadb(body, len, 0, &e) : NULL;
    json_t *status = json_object_get(j, "status");
    if (!json_is_object(status) ||
        strcmp(json_string_value(json_object_get(j, "kind")) ? json_string_value(json_object_get(j, "kind")) : "",
               "TokenReview") != 0) {
        snprintf(out->error, sizeof out->error, "TokenReview response: %s",
                 j ? "no kind TokenReview with a status object" : e.text);
        json_decref(j);
        return KUBE_EIO;
    }
    out->authenticated = json_is_true(json_object_get(status, "authenticated"));
    const char *user = json_string_value(json_object_get(json_object_get(status, "user"), "username"));
    const char *err = json_string_value(json_object_get(status, "error"));
    snprintf(out->username, sizeof out->username, "%s", user ? user : "");
    snprintf(out->error, sizeof out->error, "%s", err ? err : "");
    if (out->authenticated && audience && *audience) {
        bool found = false;
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(status, "audiences"), i, a)
            found |= json_is_string(a) && strcmp(json_string_value(a), audience) == 0;
        if (!found) {
            out->authenticated = false;
            snprintf(out->error, sizeof out->error, "token audiences do not include %s", audience);
        }
    }
    json_decref(j);
    return KUBE_OK;
}

int kube_tokenreview_decide(const kube_tokenreview_result_t *r, const char *gateway, char *reason,
                            size_t cap)
{
    if (cap)
        reason[0] = '\0';
    if (!r->authenticated) {
        snprintf(reason, cap, "token not authenticated by the Kubernetes API server%s%s",
                 r->error[0] ? ": " : "", r->error);
        return GRPC_UNAUTHENTICATED;
    }
    static const char prefix[] = "system:serviceaccount:";
    const char *u = r->username;
    if (strncmp(u, prefix, sizeof prefix - 1) != 0 || !strchr(u + sizeof prefix - 1, ':')) {
        snprintf(reason, cap, "authenticated as %s, which is not a service account", u);
        return GRPC_PERMISSION_DENIED;
    }
    const char *ns = u + sizeof prefix - 1;
    const char *colon = strchr(ns, ':');
    const char *sa = colon + 1;
    size_t nslen = (size_t)(colon - ns);
    if (!gateway || !*gateway) {
        snprintf(reason, cap, "stream has no gateway role but authenticated as %.*s/%s",
                 (int)nslen, ns, sa);
        return GRPC_PERMISSION_DENIED;
    }
    const char *slash = strchr(gateway, '/');
    if (!slash || (size_t)(slash - gateway) != nslen || strncmp(gateway, ns, nslen) != 0 ||
        strcmp(slash + 1, sa) != 0) {
        snprintf(reason, cap, "requested gateway %s but authenticated as %.*s/%s", gateway,
                 (int)nslen, ns, sa);
        return GRPC_PERMISSION_DENIED;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Cache.
 * ------------------------------------------------------------------------------------------- */
static void entry_free(kube_tokenreview_t *t, entry_t *e)
{
    HASH_DEL(t->cache, e);
    free(e->token);
    free(e);
}

static const entry_t *cache_get(kube_tokenreview_t *t, const char *token, uint64_t now)
{
    entry_t *e = NULL;
    HASH_FIND_STR(t->cache, token, e);
    if (e && now >= e->expires_ms) {
        entry_free(t, e);
        e = NULL;
    }
    return e;
}

static void cache_put(kube_tokenreview_t *t, const char *token,
                      const kube_tokenreview_result_t *r, uint64_t now)
{
    entry_t *e = NULL;
    HASH_FIND_STR(t->cache, token, e);
    if (e)
        entry_free(t, e);
    while (HASH_COUNT(t->cache) >= t->cache_max && t->cache)
        entry_free(t, t->cache); /* the head is the oldest insertion */
    e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->token = strdup(token);
    if (!e->token) {
        free(e);
        return;
    }
    e->r = *r;
    e->expires_ms = now + (r->authenticated ? t->ttl_allow_ms : t->ttl_deny_ms);
    HASH_ADD_KEYPTR(hh, t->cache, e->token, strlen(e->token), e);
}

/* ---------------------------------------------------------------------------------------------
 * The hook.
 * ------------------------------------------------------------------------------------------- */
static void count(kube_tokenreview_t *t, int status)
{
    switch (status) {
    case 0: t->st.allowed++; break;
    case GRPC_UNAUTHENTICATED: t->st.unauthenticated++; break;
    case GRPC_PERMISSION_DENIED: t->st.denied++; break;
    default: t->st.unavailable++; break;
    }
}

static void review_free(review_t *rv)
{
    free(rv->token);
    free(rv->gateway);
    free(rv);
}

static void review_finish(review_t *rv, int status, const char *reason)
{
    kube_tokenreview_t *t = rv->t;
    DL_DELETE(t->reviews, rv);
    t->st.in_flight--;
    count(t, status);
    if (status != 0)
        logf_(t, 1, "xds auth: refused stream for %s: %s", rv->gateway ? rv->gateway : "(no role)",
              reason);
    if (rv->in_request) {
        /* auth_cb returns it; the server drops the pending decision itself */
        rv->answered = true;
        rv->status = status;
        snprintf(rv->reason, sizeof rv->reason, "%s", reason);
        return;
    }
    xds_auth_complete(rv->pending, status, reason);
    review_free(rv);
}

static void on_review(void *ud, int err, const kube_response_t *resp)
{
    review_t *rv = ud;
    kube_tokenreview_t *t = rv->t;
    rv->call = NULL;
    char reason[512] = "";
    if (err != KUBE_OK || !resp) {
        snprintf(reason, sizeof reason, "TokenReview failed: %s", kube_strerror(err));
        review_finish(rv, GRPC_UNAVAILABLE, reason);
        return;
    }
    kube_tokenreview_result_t r;
    if (kube_tokenreview_parse(resp->status, resp->body, resp->len, t->audience, &r) != KUBE_OK) {
        char msg[256];
        snprintf(reason, sizeof reason, "TokenReview failed: %s",
                 kube_api_status_message(resp, msg, sizeof msg));
        review_finish(rv, GRPC_UNAVAILABLE, reason);
        return;
    }
    cache_put(t, rv->token, &r, t->now_ms(t->now_ud));
    int status = kube_tokenreview_decide(&r, rv->gateway, reason, sizeof reason);
    review_finish(rv, status, reason);
}

static int auth_cb(const xds_auth_request_t *req, xds_auth_pending_t *pending, char *reason,
                   size_t cap, void *ud)
{
    kube_tokenreview_t *t = ud;
    t->st.requests++;
    if (!req->token || !*req->token) {
        snprintf(reason, cap, "no bearer token in the authorization header");
        count(t, GRPC_UNAUTHENTICATED);
        return GRPC_UNAUTHENTICATED;
    }
    const entry_t *e = cache_get(t, req->token, t->now_ms(t->now_ud));
    if (e) {
        t->st.cache_hits++;
        int status = kube_tokenreview_decide(&e->r, req->gateway, reason, cap);
        count(t, status);
        return status;
    }
    review_t *rv = calloc(1, sizeof *rv);
    char *body = kube_tokenreview_body(req->token, t->audience);
    if (!rv || !body || !(rv->token = strdup(req->token)) ||
        (req->gateway && !(rv->gateway = strdup(req->gateway)))) {
        free(body);
        if (rv)
            review_free(rv);
        snprintf(reason, cap, "out of memory checking the token");
        count(t, GRPC_UNAVAILABLE);
        return GRPC_UNAVAILABLE;
    }
    rv->t = t;
    rv->pending = pending;
    DL_APPEND(t->reviews, rv);
    t->st.in_flight++;
    t->st.reviews++;
    rv->in_request = true;
    kube_call_t *call = NULL;
    int rc = t->api.request(t->api.ud, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                            "application/json", body, strlen(body), on_review, rv, &call);
    rv->in_request = false;
    free(body);
    if (rc == KUBE_OK && rv->answered) {
        int status = rv->status;
        snprintf(reason, cap, "%s", rv->reason);
        review_free(rv);
        return status;
    }
    rv->call = call;
    if (rc != KUBE_OK) {
        /* the callback never runs: answer synchronously, the pending is the server's to drop */
        DL_DELETE(t->reviews, rv);
        t->st.in_flight--;
        review_free(rv);
        snprintf(reason, cap, "TokenReview not sent: %s", kube_strerror(rc));
        count(t, GRPC_UNAVAILABLE);
        return GRPC_UNAVAILABLE;
    }
    return XDS_AUTH_PENDING;
}

kube_tokenreview_t *kube_tokenreview_new(kube_api_t api, const kube_tokenreview_options_t *opts)
{
    kube_tokenreview_options_t o = {0};
    if (opts)
        o = *opts;
    kube_tokenreview_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->api = api;
    t->audience = strdup(o.audience ? o.audience : "agentgateway");
    if (!t->audience) {
        free(t);
        return NULL;
    }
    t->ttl_allow_ms = o.ttl_allow_ms ? o.ttl_allow_ms : 60000;
    t->ttl_deny_ms = o.ttl_deny_ms ? o.ttl_deny_ms : 5000;
    t->cache_max = o.cache_max ? o.cache_max : 4096;
    t->now_ms = o.now_ms ? o.now_ms : mono_ms;
    t->now_ud = o.now_ud;
    t->log = o.log;
    t->log_ud = o.log_ud;
    return t;
}

void kube_tokenreview_auth(kube_tokenreview_t *t, xds_auth_t *out)
{
    out->cb = auth_cb;
    out->ud = t;
    out->dispose = NULL;
}

void kube_tokenreview_free(kube_tokenreview_t *t)
{
    if (!t)
        return;
    while (t->reviews) {
        review_t *rv = t->reviews;
        if (rv->call && t->api.cancel)
            t->api.cancel(t->api.ud, rv->call);
        rv->call = NULL;
        review_finish(rv, GRPC_UNAVAILABLE, "the controller is shutting down");
    }
    entry_t *e, *tmp;
    HASH_ITER(hh, t->cache, e, tmp) entry_free(t, e);
    free(t->audience);
    free(t);
}

void kube_tokenreview_stats(const kube_tokenreview_t *t, kube_tokenreview_stats_t *out)
{
    *out = t->st;
    out->cached = HASH_COUNT(t->cache);
}
