/*
 * Informers (kube/informer.h): the libuv adapter of the reflector. Each kind loops
 *   next() → LIST request | WATCH stream | WAIT timer → feed the outcome back → apply changes
 * and nothing else; every decision (paging, relist on 410, backoff, missing kinds) is the
 * reflector's, where it is tested without sockets.
 *
 * The watch's end is noticed in two ways: the stream ends (on_done), or the reflector ends it
 * itself on an ERROR event or a bad object, which shows as next() no longer asking for a WATCH;
 * the stream is then cancelled and the loop goes on.
 *
 * INVARIANTS
 *  F1 a kind has at most one of: a call in flight (call != NULL), a WAIT timer running
 *  F2 while started and not freed, every kind has one of them, or is inside step()
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krt/json.h"
#include "kube/informer.h"
#include "kube/watch.h"

#define GW "gateway.networking.k8s.io"

const kube_informer_kind_t kube_informer_kinds[] = {
    {"Namespace", "v1", "namespaces"},
    {"Service", "v1", "services"},
    {"Pod", "v1", "pods"},
    {"Secret", "v1", "secrets"},
    {"EndpointSlice", "discovery.k8s.io/v1", "endpointslices"},
    {"GatewayClass", GW "/v1", "gatewayclasses"},
    {"Gateway", GW "/v1", "gateways"},
    {"HTTPRoute", GW "/v1", "httproutes"},
    {"GRPCRoute", GW "/v1", "grpcroutes"},
    {"TCPRoute", GW "/v1alpha2", "tcproutes"},
    {"TLSRoute", GW "/v1alpha2", "tlsroutes"},
    {"ReferenceGrant", GW "/v1beta1", "referencegrants"},
    {"ListenerSet", GW "/v1", "listenersets"}, /* translate reads it: unwatched, it never syncs */
    {"ConfigMap", "v1", "configmaps"},
    {"AgentgatewayParameters", "agentgateway.dev/v1alpha1", "agentgatewayparameters"},
    {"AgentgatewayPolicy", "agentgateway.dev/v1alpha1", "agentgatewaypolicies"},
    {"AgentgatewayBackend", "agentgateway.dev/v1alpha1", "agentgatewaybackends"},
};
const size_t kube_informer_kinds_len = sizeof kube_informer_kinds / sizeof kube_informer_kinds[0];

#define STATUS_BODY_MAX ((size_t)64 << 10)

typedef struct ikind {
    kube_informers_t *inf;
    const kube_informer_kind_t *k;
    char origin[96];
    kube_reflector_t *r;
    kube_call_t *call;
    bool watching;
    uv_timer_t *timer;
    kube_watch_decoder_t dec;
    int http_status;
    uint64_t watch_start;
    char *errbody; /* a failed watch's Status body */
    size_t errlen;
} ikind_t;

struct kube_informers {
    uv_loop_t *loop;
    kube_client_t *client;
    kube_source_t *src;
    kube_informers_options_t o;
    char *ns;
    ikind_t *kinds;
    size_t n;
    bool started;
    uv_timer_t *batch;
    bool batch_armed;
    size_t batch_changes;
    uint64_t batches, changes;
    uint64_t batch_first; /* when the first change of the pending batch arrived */
    uint64_t queue_last, queue_max;
};

static void step(ikind_t *ik);

static void logf_(kube_informers_t *inf, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(kube_informers_t *inf, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (inf->o.log)
        inf->o.log(level, msg, inf->o.log_ud);
    else if (level >= KRT_LOG_INFO)
        fprintf(stderr, "krtgate: %s\n", msg);
}

static void timer_freed(uv_handle_t *h)
{
    free(h);
}

static void timer_discard(uv_timer_t *t)
{
    if (!t)
        return;
    uv_timer_stop(t);
    t->data = NULL;
    uv_close((uv_handle_t *)t, timer_freed);
}

/* ---- batches -----------------------------------------------------------------------------------
 */

static void batch_fire(uv_timer_t *t)
{
    kube_informers_t *inf = t->data;
    if (!inf)
        return;
    inf->batch_armed = false;
    inf->queue_last = uv_now(inf->loop) - inf->batch_first;
    if (inf->queue_last > inf->queue_max)
        inf->queue_max = inf->queue_last;
    size_t n = inf->batch_changes;
    inf->batch_changes = 0;
    inf->batches++;
    inf->o.on_batch(inf->o.ud, n);
}

static void apply(ikind_t *ik)
{
    kube_informers_t *inf = ik->inf;
    size_t n = 0;
    const kube_change_t *ch = kube_reflector_changes(ik->r, &n);
    if (n == 0)
        return;
    int rc = kube_source_apply(inf->src, ch, n);
    if (rc != KUBE_OK)
        logf_(inf, KRT_LOG_WARN, "%s: some changes were not applied (%s; see above)", ik->origin,
              kube_strerror(rc));
    kube_reflector_changes_clear(ik->r);
    inf->changes += n;
    inf->batch_changes += n;
    if (!inf->batch_armed) {
        inf->batch_armed = true;
        inf->batch_first = uv_now(inf->loop);
        uv_timer_start(inf->batch, batch_fire, inf->o.batch_ms, 0);
    }
}

/* ---- requests ----------------------------------------------------------------------------------
 */

static void on_waited(uv_timer_t *t)
{
    ikind_t *ik = t->data;
    if (!ik)
        return;
    kube_reflector_on_waited(ik->r);
    step(ik);
}

static void feed_error(ikind_t *ik, int status, const char *body, size_t len)
{
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    kube_reflector_on_error(ik->r, status, j);
    json_decref(j);
}

static void on_list(void *ud, int err, const kube_response_t *resp)
{
    ikind_t *ik = ud;
    ik->call = NULL;
    if (err == KUBE_ESTATE)
        return; /* the client is closing */
    if (err != KUBE_OK) {
        kube_reflector_on_error(ik->r, 0, NULL);
    } else if (resp->status == 200) {
        json_error_t je;
        /* The objects of the page (and the reflector's copies with kind and apiVersion filled
         * in) become the engine's cached trees: built in the tree heap (krt/json.h). */
        krt_json_heap_begin();
        json_t *list = json_loadb(resp->body, resp->len, 0, &je);
        if (list)
            kube_reflector_on_list_page(ik->r, list);
        krt_json_heap_end();
        if (!list) {
            logf_(ik->inf, KRT_LOG_WARN, "%s: LIST answer is not JSON: line %d: %s", ik->origin,
                  je.line, je.text);
            kube_reflector_on_error(ik->r, 0, NULL);
        } else {
            json_decref(list);
        }
    } else {
        if (resp->status != 404)
            logf_(ik->inf, KRT_LOG_WARN, "%s: LIST answered %d: %.200s", ik->origin, resp->status,
                  resp->body);
        feed_error(ik, resp->status, resp->body, resp->len);
    }
    apply(ik);
    step(ik);
}

static int on_event(const kube_watch_event_t *ev, void *ud)
{
    ikind_t *ik = ud;
    krt_json_heap_begin(); /* the reflector's copy of the object, like the object (watch.c) */
    kube_reflector_on_watch_event(ik->r, ev);
    krt_json_heap_end();
    apply(ik);
    kube_request_t q;
    if (kube_reflector_next(ik->r, &q) != KUBE_OK || q.kind != KUBE_REQUEST_WATCH)
        return 1; /* the reflector ended this watch */
    return 0;
}

static void watch_headers(void *ud, int status)
{
    ikind_t *ik = ud;
    ik->http_status = status;
}

static void watch_ended_by_reflector(ikind_t *ik)
{
    kube_call_t *call = ik->call;
    ik->call = NULL;
    ik->watching = false;
    kube_call_cancel(call);
    step(ik);
}

static void watch_data(void *ud, const char *data, size_t len)
{
    ikind_t *ik = ud;
    if (!ik->watching)
        return;
    if (ik->http_status != 200) {
        if (ik->errlen + len <= STATUS_BODY_MAX) {
            char *n = realloc(ik->errbody, ik->errlen + len + 1);
            if (n) {
                memcpy(n + ik->errlen, data, len);
                ik->errbody = n;
                ik->errlen += len;
            }
        }
        return;
    }
    int rc = kube_watch_decoder_feed(&ik->dec, data, len, on_event, ik);
    if (rc == 1) {
        watch_ended_by_reflector(ik);
    } else if (rc != KUBE_OK) {
        logf_(ik->inf, KRT_LOG_WARN, "%s: watch stream: %s", ik->origin, ik->dec.error);
        kube_reflector_on_error(ik->r, 0, NULL);
        apply(ik);
        watch_ended_by_reflector(ik);
    }
}

static void watch_done(void *ud, int err, int status)
{
    ikind_t *ik = ud;
    ik->call = NULL;
    ik->watching = false;
    if (err == KUBE_ESTATE)
        return;
    if (err != KUBE_OK) {
        kube_reflector_on_error(ik->r, 0, NULL);
    } else if (status == 200) {
        int rc = kube_watch_decoder_finish(&ik->dec, on_event, ik);
        kube_request_t q;
        if (rc == KUBE_OK && kube_reflector_next(ik->r, &q) == KUBE_OK &&
            q.kind == KUBE_REQUEST_WATCH)
            kube_reflector_on_watch_closed(ik->r, uv_now(ik->inf->loop) - ik->watch_start);
        else if (rc != KUBE_OK && rc != 1)
            kube_reflector_on_error(ik->r, 0, NULL);
    } else {
        logf_(ik->inf, KRT_LOG_WARN, "%s: WATCH answered %d: %.200s", ik->origin, status,
              ik->errbody ? ik->errbody : "");
        feed_error(ik, status, ik->errbody, ik->errlen);
    }
    apply(ik);
    step(ik);
}

static const kube_stream_cbs_t watch_cbs = {watch_headers, watch_data, watch_done};

static void step(ikind_t *ik)
{
    kube_informers_t *inf = ik->inf;
    kube_request_t q;
    if (kube_reflector_next(ik->r, &q) != KUBE_OK) {
        logf_(inf, KRT_LOG_ERROR, "%s: the reflector is stuck", ik->origin);
        return;
    }
    if (q.kind == KUBE_REQUEST_WAIT) {
        uv_timer_start(ik->timer, on_waited, q.wait_ms, 0);
        return;
    }
    char path[2048];
    /* A namespace restricts namespaced kinds only: cluster-scoped ones have no namespace path. */
    const kube_kind_t *kk = kube_kind_find(ik->k->kind);
    const char *ns = kk && !kk->namespaced ? NULL : inf->ns;
    int n =
        kube_request_path(&q, NULL, ik->k->api_version, ik->k->resource, ns, path, sizeof(path));
    int rc;
    if (n < 0) {
        rc = n;
    } else if (q.kind == KUBE_REQUEST_LIST) {
        rc = kube_client_request(inf->client, "GET", path, NULL, NULL, 0, on_list, ik, &ik->call);
    } else {
        kube_watch_decoder_dispose(&ik->dec);
        kube_watch_decoder_init(&ik->dec, 0);
        free(ik->errbody);
        ik->errbody = NULL;
        ik->errlen = 0;
        ik->http_status = 0;
        ik->watching = true;
        ik->watch_start = uv_now(inf->loop);
        rc = kube_client_stream(inf->client, path, &watch_cbs, ik, &ik->call);
        if (rc != KUBE_OK)
            ik->watching = false;
    }
    if (rc != KUBE_OK) {
        ik->call = NULL;
        if (rc == KUBE_ESTATE)
            return; /* client closed: stop */
        logf_(inf, KRT_LOG_ERROR, "%s: cannot start a request: %s", ik->origin, kube_strerror(rc));
        kube_reflector_on_error(ik->r, 0, NULL);
        kube_reflector_next(ik->r, &q);
        uv_timer_start(ik->timer, on_waited, q.kind == KUBE_REQUEST_WAIT ? q.wait_ms : 1000, 0);
    }
}

/* ---- public ------------------------------------------------------------------------------------
 */

int kube_informers_new(uv_loop_t *loop, kube_client_t *client, kube_source_t *source,
                       const kube_informers_options_t *opts, kube_informers_t **out)
{
    if (!loop || !client || !source || !opts || !opts->on_batch || !out)
        return KUBE_EINVAL;
    kube_informers_t *inf = calloc(1, sizeof(*inf));
    if (!inf)
        return KUBE_ENOMEM;
    inf->loop = loop;
    inf->client = client;
    inf->src = source;
    inf->o = *opts;
    const kube_informer_kind_t *kinds = opts->kinds ? opts->kinds : kube_informer_kinds;
    inf->n = opts->kinds ? opts->nkinds : kube_informer_kinds_len;
    inf->ns = opts->namespace_name ? strdup(opts->namespace_name) : NULL;
    inf->kinds = calloc(inf->n ? inf->n : 1, sizeof(*inf->kinds));
    inf->batch = malloc(sizeof(*inf->batch));
    if (!inf->kinds || !inf->batch || (opts->namespace_name && !inf->ns)) {
        free(inf->kinds);
        free(inf->batch);
        free(inf->ns);
        free(inf);
        return KUBE_ENOMEM;
    }
    uv_timer_init(loop, inf->batch);
    inf->batch->data = inf;
    for (size_t i = 0; i < inf->n; i++) {
        ikind_t *ik = &inf->kinds[i];
        ik->inf = inf;
        ik->k = &kinds[i];
        snprintf(ik->origin, sizeof(ik->origin), "watch %s", ik->k->kind);
        kube_reflector_options_t ro = opts->reflector;
        ro.kind = ik->k->kind;
        ro.api_version = ik->k->api_version;
        ro.origin = ik->origin;
        if (!ro.log) {
            ro.log = opts->log;
            ro.log_ud = opts->log_ud;
        }
        ik->r = kube_reflector_new(&ro);
        ik->timer = malloc(sizeof(*ik->timer));
        kube_watch_decoder_init(&ik->dec, 0);
        if (!ik->r || !ik->timer) {
            free(ik->timer);
            ik->timer = NULL;
            inf->n = i + 1;
            kube_informers_free(inf);
            return KUBE_ENOMEM;
        }
        uv_timer_init(loop, ik->timer);
        ik->timer->data = ik;
    }
    *out = inf;
    return KUBE_OK;
}

int kube_informers_start(kube_informers_t *inf)
{
    if (inf->started)
        return KUBE_ESTATE;
    inf->started = true;
    for (size_t i = 0; i < inf->n; i++)
        step(&inf->kinds[i]);
    return KUBE_OK;
}

bool kube_informers_synced(const kube_informers_t *inf)
{
    for (size_t i = 0; i < inf->n; i++) {
        kube_reflector_stats_t st;
        kube_reflector_stats(inf->kinds[i].r, &st);
        if (!st.synced)
            return false;
    }
    return true;
}

size_t kube_informers_len(const kube_informers_t *inf)
{
    return inf->n;
}

void kube_informers_kind_stats(const kube_informers_t *inf, size_t i, const char **kind,
                               kube_reflector_stats_t *out)
{
    *kind = inf->kinds[i].k->kind;
    kube_reflector_stats(inf->kinds[i].r, out);
}

void kube_informers_counters(const kube_informers_t *inf, uint64_t *batches, uint64_t *changes)
{
    *batches = inf->batches;
    *changes = inf->changes;
}

void kube_informers_queue_ms(const kube_informers_t *inf, uint64_t *last, uint64_t *max)
{
    *last = inf->queue_last;
    *max = inf->queue_max;
}

void kube_informers_free(kube_informers_t *inf)
{
    if (!inf)
        return;
    for (size_t i = 0; i < inf->n; i++) {
        ikind_t *ik = &inf->kinds[i];
        kube_call_t *call = ik->call;
        ik->call = NULL;
        kube_call_cancel(call);
        timer_discard(ik->timer);
        kube_reflector_free(ik->r);
        kube_watch_decoder_dispose(&ik->dec);
        free(ik->errbody);
    }
    timer_discard(inf->batch);
    free(inf->kinds);
    free(inf->ns);
    free(inf);
}
