/*
 * The status writer (see kube/status_writer.h): a keyed queue of status writes in front of the API
 * server, sans-IO; the libuv adapter at the end of the file hands it to the pump (api_pump.h), which
 * the deployer's applier shares.
 *
 * Key decision: the queue holds, per object, the object as last seen and the stanza we want —
 * never a prepared patch. The patch is computed when the write is about to be sent, so a burst of
 * changes costs one write, a conflict is resolved by re-reading the object and recomputing, and a
 * write that became unnecessary meanwhile (the object already says what we want: another replica
 * wrote it, or our own write's echo arrived) is not sent at all. The alternative rejected: queue
 * patches as events arrive (simpler, but N events → N writes, and a stale patch after a conflict).
 *
 * INVARIANTS
 *  S1 an entry is on |ready| iff it has work and no request in flight; on |flight| iff it has a
 *     request in flight; never on both; an entry on neither has no work and is freed
 *  S2 |nflight| == length of |flight| <= max_in_flight
 *  S3 every entry holds an object (a JSON object with metadata.name)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utlist.h>
#include <uthash.h>

#include "krt/json.h"
#include "kube/status_writer.h"
#include "api_pump.h"
#include "translate/translate.h"

#define GW "gateway.networking.k8s.io/v1"
#define AGW "agentgateway.dev/v1alpha1"

const kube_status_kind_t kube_status_kinds[] = {
    {"GatewayClass", GW, "gatewayclasses", false, KUBE_STATUS_REPLACE},
    {"Gateway", GW, "gateways", true, KUBE_STATUS_REPLACE},
    {"HTTPRoute", GW, "httproutes", true, KUBE_STATUS_PARENTS},
    {"GRPCRoute", GW, "grpcroutes", true, KUBE_STATUS_PARENTS},
    {"TCPRoute", "gateway.networking.k8s.io/v1alpha2", "tcproutes", true, KUBE_STATUS_PARENTS},
    {"TLSRoute", "gateway.networking.k8s.io/v1alpha2", "tlsroutes", true, KUBE_STATUS_PARENTS},
    {"ListenerSet", GW, "listenersets", true, KUBE_STATUS_REPLACE},
    {"AgentgatewayPolicy", AGW, "agentgatewaypolicies", true, KUBE_STATUS_ANCESTORS},
    {"AgentgatewayBackend", AGW, "agentgatewaybackends", true, KUBE_STATUS_REPLACE},
};
const size_t kube_status_kinds_len = sizeof kube_status_kinds / sizeof kube_status_kinds[0];

const kube_status_kind_t *kube_status_kind_find(const char *kind)
{
    for (size_t i = 0; kind && i < kube_status_kinds_len; i++)
        if (strcmp(kube_status_kinds[i].kind, kind) == 0)
            return &kube_status_kinds[i];
    return NULL;
}

typedef struct entry {
    char *key; /* "Kind/ns/name" */
    const kube_status_kind_t *kind;
    json_t *object; /* as last seen (S3) */
    json_t *ours;   /* NULL: remove ours */
    bool work, in_flight, need_get;
    bool dirty;    /* offered while a request was in flight */
    bool sent_get; /* the request in flight is a GET */
    kube_retry_t retry;
    uint64_t id;
    struct entry *prev, *next; /* ready or flight */
    UT_hash_handle hh;
} entry_t;

typedef struct watch {
    kube_status_writer_t *w;
    const kube_status_kind_t *kind;
    krt_handler_t *h;
    struct watch *next;
} watch_t;

struct kube_status_writer {
    char *controller;
    kube_bucket_t bucket;
    unsigned max_in_flight;
    uint64_t backoff_base, backoff_max;
    json_t *(*stanza)(const krt_obj_t *);
    int64_t (*wall_s)(void *);
    void *wall_ud;
    krt_log_cb log;
    void *log_ud;
    entry_t *by_key;
    entry_t *ready, *flight;
    unsigned nflight;
    uint64_t next_id;
    bool active;
    char *body; /* the last request's body */
    watch_t *watches;
    kube_status_writer_stats_t st;
    kube__pump_t pump; /* the libuv adapter */
};

static void logf_(kube_status_writer_t *w, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(kube_status_writer_t *w, int level, const char *fmt, ...)
{
    if (!w->log)
        return;
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    w->log(level, buf, w->log_ud);
}

static int64_t wall_default(void *ud)
{
    (void)ud;
    return (int64_t)time(NULL);
}

static void schedule(kube_status_writer_t *w);

/* ---------------------------------------------------------------------------------------------
 * The desired stanza.
 * ------------------------------------------------------------------------------------------- */
static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Gives each condition of |conds| the object's lastTransitionTime when its status is unchanged,
 * else |now|. */
static void fill_times(json_t *conds, const json_t *cur, const char *now)
{
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        if (!json_is_object(c))
            continue;
        const char *when = now;
        size_t j;
        json_t *cc;
        json_array_foreach(cur, j, cc) {
            if (strcmp(jstr(cc, "type"), jstr(c, "type")) != 0)
                continue;
            if (strcmp(jstr(cc, "status"), jstr(c, "status")) == 0 &&
                json_is_string(json_object_get(cc, "lastTransitionTime")))
                when = jstr(cc, "lastTransitionTime");
            break;
        }
        json_object_set_new(c, "lastTransitionTime", json_string(when));
    }
}

/* Two list elements describe the same thing: same listener name, or same parentRef /
 * ancestorRef written by the same controller. */
static bool same_element(const json_t *a, const json_t *b)
{
    static const char *const refs[] = {"parentRef", "ancestorRef"};
    for (size_t i = 0; i < 2; i++) {
        json_t *ra = json_object_get(a, refs[i]);
        if (ra)
            return json_equal(ra, json_object_get(b, refs[i])) &&
                   strcmp(jstr(a, "controllerName"), jstr(b, "controllerName")) == 0;
    }
    json_t *na = json_object_get(a, "name");
    return na && json_equal(na, json_object_get(b, "name"));
}

/* Fills times in |st| (ours, mutable) from |cur| (the object's status). */
static void fill_stanza_times(json_t *st, const json_t *cur, const char *now)
{
    const char *k;
    json_t *v;
    json_object_foreach(st, k, v) {
        if (strcmp(k, "conditions") == 0) {
            fill_times(v, json_object_get(cur, "conditions"), now);
            continue;
        }
        if (!json_is_array(v))
            continue;
        json_t *curlist = json_object_get(cur, k);
        size_t i;
        json_t *el;
        json_array_foreach(v, i, el) {
            if (!json_is_object(el) || !json_is_array(json_object_get(el, "conditions")))
                continue;
            const json_t *match = NULL;
            size_t j;
            json_t *ce;
            json_array_foreach(curlist, j, ce) if (json_is_object(ce) && same_element(el, ce))
            {
                match = ce;
                break;
            }
            fill_times(json_object_get(el, "conditions"), json_object_get(match, "conditions"),
                       now);
        }
    }
}

json_t *kube_status_desired(const json_t *object, const json_t *ours, kube_status_merge_t merge,
                            const char *controller, const char *now_rfc3339)
{
    const json_t *cur = json_object_get(object, "status");
    if (!json_is_object(cur))
        cur = NULL;
    if (merge == KUBE_STATUS_REPLACE) {
        json_t *d = ours ? json_deep_copy(ours) : (cur ? json_deep_copy(cur) : json_object());
        if (d && ours)
            fill_stanza_times(d, cur, now_rfc3339);
        return d;
    }
    const char *list = merge == KUBE_STATUS_PARENTS ? "parents" : "ancestors";
    json_t *d = ours ? json_deep_copy(ours) : json_object();
    json_t *merged = json_array();
    if (!d || !merged) {
        json_decref(d);
        json_decref(merged);
        return NULL;
    }
    if (ours)
        fill_stanza_times(d, cur, now_rfc3339);
    /* others' entries first, in the object's order; then ours in our order */
    size_t i;
    json_t *el;
    json_array_foreach(json_object_get(cur, list), i, el) {
        if (strcmp(jstr(el, "controllerName"), controller) != 0)
            json_array_append(merged, el);
    }
    json_array_foreach(json_object_get(d, list), i, el) json_array_append(merged, el);
    json_object_set_new(d, list, merged);
    /* fields of the object's status that are not about entries stay as they are */
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cur, k, v) {
        if (!json_object_get(d, k))
            json_object_set(d, k, v);
    }
    return d;
}

/* ---------------------------------------------------------------------------------------------
 * Queue.
 * ------------------------------------------------------------------------------------------- */
static void entry_free(kube_status_writer_t *w, entry_t *e)
{
    HASH_DEL(w->by_key, e);
    json_decref(e->object);
    json_decref(e->ours);
    free(e->key);
    free(e);
}

/* An entry whose work is finished (or dropped) leaves the queue (S1). */
static void entry_settle(kube_status_writer_t *w, entry_t *e)
{
    if (e->in_flight)
        return;
    if (e->work) {
        DL_APPEND(w->ready, e);
        return;
    }
    entry_free(w, e);
}

static void now_text(kube_status_writer_t *w, char *buf, size_t cap)
{
    time_t t = (time_t)w->wall_s(w->wall_ud);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The object's status says what we want: every field of ours is there with our value (the API
 * server may add defaults inside list items: those do not count, or a defaulted field would make
 * every write trigger the next), and it holds no top-level field we do not want. */
static bool in_place(const json_t *cur, const json_t *want)
{
    if (!kube_json_covers(cur, want))
        return false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cur, k, v) {
        if (!json_is_null(v) && !json_object_get(want, k))
            return false;
    }
    return true;
}

/* The status patch for |e|, or NULL when the object already says what we want. */
static json_t *entry_patch(kube_status_writer_t *w, entry_t *e, bool *oom)
{
    char now[32];
    now_text(w, now, sizeof now);
    *oom = false;
    json_t *d = kube_status_desired(e->object, e->ours, e->kind->merge, w->controller, now);
    if (!d) {
        *oom = true;
        return NULL;
    }
    json_t *cur = json_object_get(e->object, "status");
    json_t *empty = json_object();
    if (!empty) {
        json_decref(d);
        *oom = true;
        return NULL;
    }
    const json_t *base = json_is_object(cur) ? cur : empty;
    json_t *p = in_place(base, d) ? NULL : kube_merge_patch(base, d, true, oom);
    json_decref(empty);
    json_decref(d);
    return p;
}

int kube_status_writer_offer(kube_status_writer_t *w, const kube_status_kind_t *kind,
                             json_t *object, const json_t *ours)
{
    json_t *meta = json_object_get(object, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (!kind || !name || !*name)
        return KUBE_EINVAL;
    w->st.offers++;
    char key[600];
    snprintf(key, sizeof key, "%s/%s/%s", kind->kind, kind->namespaced && ns ? ns : "", name);
    entry_t *e = NULL;
    HASH_FIND_STR(w->by_key, key, e);
    if (!e && !ours && kind->merge == KUBE_STATUS_REPLACE)
        return KUBE_OK; /* a whole stanza is never taken back */
    bool fresh = !e;
    if (fresh) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->key = strdup(key))) {
            free(e);
            return KUBE_ENOMEM;
        }
        e->kind = kind;
        HASH_ADD_KEYPTR(hh, w->by_key, e->key, strlen(e->key), e);
    }
    json_t *copy = ours ? json_deep_copy(ours) : NULL;
    if (ours && !copy) {
        if (fresh)
            entry_free(w, e);
        return KUBE_ENOMEM;
    }
    json_decref(e->ours);
    e->ours = copy;
    if (fresh || ours) {
        /* a delete event carries the object as it was when last announced: what the entry holds
         * (that object, or a newer one read back) is at least as new */
        json_decref(e->object);
        e->object = json_incref(object);
        e->need_get = false; /* a newer object than any we would read back */
    }
    if (!e->in_flight) {
        bool oom;
        json_t *p = entry_patch(w, e, &oom);
        if (oom) {
            if (!e->work)
                entry_free(w, e);
            return KUBE_ENOMEM;
        }
        if (!p) {
            w->st.unchanged++;
            if (e->work)
                DL_DELETE(w->ready, e);
            e->work = false;
            entry_free(w, e);
            return KUBE_OK;
        }
        json_decref(p);
    }
    if (e->in_flight)
        e->dirty = true;
    if (!e->work) {
        e->work = true;
        if (!e->in_flight)
            DL_APPEND(w->ready, e);
    }
    schedule(w);
    return KUBE_OK;
}

static void path_of(const entry_t *e, char *buf, size_t cap)
{
    json_t *meta = json_object_get(e->object, "metadata");
    const char *ns = e->kind->namespaced ? jstr(meta, "namespace") : NULL;
    if (kube_api_path(buf, cap, e->kind->api_version, e->kind->plural, ns, jstr(meta, "name"),
                      "status") < 0)
        buf[0] = '\0';
}

kube_status_next_t kube_status_writer_next(kube_status_writer_t *w, uint64_t now_ms,
                                           kube_status_req_t *req)
{
    free(w->body);
    w->body = NULL;
    memset(req, 0, sizeof *req);
    if (!w->active || !w->ready)
        return KUBE_STATUS_IDLE;
    if (w->nflight >= w->max_in_flight)
        return KUBE_STATUS_IDLE; /* an answer will call us again */
    uint64_t wait = UINT64_MAX;
    entry_t *e, *tmp;
    DL_FOREACH_SAFE(w->ready, e, tmp) {
        if (!kube_retry_due(&e->retry, now_ms, &wait))
            continue;
        json_t *patch = NULL;
        if (!e->need_get) {
            bool oom;
            patch = entry_patch(w, e, &oom);
            if (!patch && !oom) {
                /* nothing to write any more */
                w->st.unchanged++;
                DL_DELETE(w->ready, e);
                e->work = false;
                entry_free(w, e);
                continue;
            }
            if (!patch) {
                if (wait > 1000)
                    wait = 1000;
                continue;
            }
        }
        uint64_t bucket_wait = kube_bucket_take(&w->bucket, now_ms);
        if (bucket_wait) {
            json_decref(patch);
            req->wait_ms = bucket_wait < wait ? bucket_wait : wait;
            return KUBE_STATUS_WAIT;
        }
        path_of(e, req->path, sizeof req->path);
        if (!req->path[0]) {
            logf_(w, 2, "status %s: cannot build a path; dropped", e->key);
            json_decref(patch);
            DL_DELETE(w->ready, e);
            e->work = false;
            w->st.dropped++;
            entry_free(w, e);
            continue;
        }
        if (e->need_get) {
            req->method = "GET";
            w->st.gets++;
        } else {
            const char *rv = jstr(json_object_get(e->object, "metadata"), "resourceVersion");
            json_t *body = json_pack("{s:o}", "status", patch);
            if (body && *rv)
                json_object_set_new(body, "metadata", json_pack("{s:s}", "resourceVersion", rv));
            w->body = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            json_decref(body);
            if (!w->body) {
                req->wait_ms = 1000;
                return KUBE_STATUS_WAIT;
            }
            req->method = "PATCH";
            req->content_type = "application/merge-patch+json";
            req->body = w->body;
            req->len = strlen(w->body);
            w->st.patches++;
        }
        DL_DELETE(w->ready, e);
        e->in_flight = true;
        e->sent_get = e->need_get;
        e->id = ++w->next_id;
        DL_APPEND(w->flight, e);
        w->nflight++;
        req->id = e->id;
        return KUBE_STATUS_SEND;
    }
    if (wait == UINT64_MAX)
        return KUBE_STATUS_IDLE;
    req->wait_ms = wait;
    return KUBE_STATUS_WAIT;
}

static void retry_later(kube_status_writer_t *w, entry_t *e, uint64_t now_ms)
{
    kube_retry_later(&e->retry, now_ms, w->backoff_base, w->backoff_max);
}

void kube_status_writer_done(kube_status_writer_t *w, uint64_t id, int err,
                             const kube_response_t *resp, uint64_t now_ms)
{
    entry_t *e = NULL;
    DL_FOREACH(w->flight, e) if (e->id == id) break;
    if (!e)
        return;
    DL_DELETE(w->flight, e);
    w->nflight--;
    e->in_flight = false;
    bool was_get = e->sent_get;
    bool dirty = e->dirty;
    e->dirty = false;
    int status = (err == KUBE_OK && resp) ? resp->status : 0;
    char msg[300];
    if (status >= 200 && status < 300) {
        json_t *obj = resp->body ? json_loadb(resp->body, resp->len, 0, NULL) : NULL;
        if (json_is_object(obj) && json_is_string(json_object_get(json_object_get(obj, "metadata"),
                                                                  "name"))) {
            json_decref(e->object);
            e->object = obj;
        } else {
            json_decref(obj);
        }
        kube_retry_reset(&e->retry);
        if (!was_get && !dirty)
            e->work = false; /* written; the watch's echo re-checks it */
        e->need_get = false;
        /* after a GET, or with a newer stanza: re-evaluated against the object read back */
    } else if (status == 404) {
        w->st.not_found++;
        e->work = dirty; /* gone; unless a newer object was offered meanwhile */
    } else if (status == 409) {
        w->st.conflicts++;
        e->need_get = true;
        retry_later(w, e, now_ms);
    } else if (status == 400 || status == 422) {
        w->st.errors++;
        w->st.dropped++;
        logf_(w, 2, "status %s: %s refused: %s", e->key, was_get ? "GET" : "PATCH",
              kube_api_status_message(resp, msg, sizeof msg));
        e->work = dirty; /* dropped until the next change */
    } else {
        w->st.errors++;
        logf_(w, 1, "status %s: %s failed (%s); retrying", e->key, was_get ? "GET" : "PATCH",
              err != KUBE_OK ? kube_strerror(err) : kube_api_status_message(resp, msg, sizeof msg));
        retry_later(w, e, now_ms);
    }
    entry_settle(w, e);
    schedule(w);
}

void kube_status_writer_activate(kube_status_writer_t *w, bool active)
{
    w->active = active;
    if (active) {
        entry_t *e;
        DL_FOREACH(w->ready, e) kube_retry_reset(&e->retry);
    }
}

/* ---------------------------------------------------------------------------------------------
 * krt handler.
 * ------------------------------------------------------------------------------------------- */
static void on_batch(const krt_batch_t *batch, void *ud)
{
    watch_t *wt = ud;
    kube_status_writer_t *w = wt->w;
    for (size_t i = 0; i < batch->len; i++) {
        const krt_event_t *ev = &batch->events[i];
        const krt_obj_t *so = ev->cur ? ev->cur : ev->old;
        const krt_obj_t *in = krt_status_input(so);
        json_t *obj = in ? krt_json_value(in) : NULL;
        if (!json_is_object(obj))
            continue;
        const json_t *ours = ev->cur ? w->stanza(ev->cur) : NULL;
        if (ev->cur && !ours)
            continue;
        int rc = kube_status_writer_offer(w, wt->kind, obj, ours);
        if (rc != KUBE_OK)
            logf_(w, 2, "status %s %s: %s", wt->kind->kind, krt_obj_key(so), kube_strerror(rc));
    }
}

int kube_status_writer_watch(kube_status_writer_t *w, krt_collection_t *status,
                             const kube_status_kind_t *kind)
{
    if (!status || !kind)
        return KUBE_EINVAL;
    watch_t *wt = calloc(1, sizeof *wt);
    if (!wt)
        return KUBE_ENOMEM;
    wt->w = w;
    wt->kind = kind;
    LL_PREPEND(w->watches, wt);
    wt->h = krt_collection_subscribe(status, on_batch, wt, true);
    if (!wt->h) {
        LL_DELETE(w->watches, wt);
        free(wt);
        return KUBE_ENOMEM;
    }
    return KUBE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Life cycle.
 * ------------------------------------------------------------------------------------------- */
static kube_api_next_t pump_next(void *w, uint64_t now_ms, kube_api_req_t *req)
{
    return (kube_api_next_t)kube_status_writer_next(w, now_ms, req);
}

static void pump_done(void *w, uint64_t id, int err, const kube_response_t *resp, uint64_t now_ms)
{
    kube_status_writer_done(w, id, err, resp, now_ms);
}

kube_status_writer_t *kube_status_writer_new(kube_api_t api,
                                             const kube_status_writer_options_t *opts)
{
    kube_status_writer_options_t o = {0};
    if (opts)
        o = *opts;
    kube_status_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    kube__pump_init(&w->pump, api, pump_next, pump_done, w);
    w->controller = strdup(o.controller_name ? o.controller_name : "agentgateway.dev/agentgateway");
    if (!w->controller) {
        free(w);
        return NULL;
    }
    kube_bucket_init(&w->bucket, o.qps > 0 ? o.qps : 20, o.burst ? o.burst : 50);
    w->max_in_flight = o.max_in_flight ? o.max_in_flight : 4;
    w->backoff_base = o.backoff_base_ms ? o.backoff_base_ms : 250;
    w->backoff_max = o.backoff_max_ms ? o.backoff_max_ms : 30000;
    w->stanza = o.stanza ? o.stanza : tr_status_json;
    w->wall_s = o.wall_s ? o.wall_s : wall_default;
    w->wall_ud = o.wall_ud;
    w->log = o.log;
    w->log_ud = o.log_ud;
    return w;
}

void kube_status_writer_free(kube_status_writer_t *w)
{
    if (!w)
        return;
    kube_status_writer_stop(w);
    kube__pump_dispose(&w->pump);
    watch_t *wt, *wtmp;
    LL_FOREACH_SAFE(w->watches, wt, wtmp) {
        krt_handler_unsubscribe(wt->h);
        free(wt);
    }
    entry_t *e, *tmp;
    HASH_ITER(hh, w->by_key, e, tmp) entry_free(w, e);
    free(w->body);
    free(w->controller);
    free(w);
}

void kube_status_writer_stats(const kube_status_writer_t *w, kube_status_writer_stats_t *out)
{
    *out = w->st;
    out->queued = HASH_COUNT(w->by_key);
    out->in_flight = w->nflight;
    out->active = w->active;
}

/* ---------------------------------------------------------------------------------------------
 * libuv adapter.
 * ------------------------------------------------------------------------------------------- */
static void schedule(kube_status_writer_t *w)
{
    /* never send from inside a krt handler or an answer: the loop picks it up */
    if (w->active)
        kube__pump_kick(&w->pump);
}

int kube_status_writer_start(kube_status_writer_t *w, uv_loop_t *loop)
{
    int rc = kube__pump_start(&w->pump, loop);
    if (rc != KUBE_OK)
        return rc;
    kube_status_writer_activate(w, true);
    schedule(w);
    return KUBE_OK;
}

void kube_status_writer_stop(kube_status_writer_t *w)
{
    kube_status_writer_activate(w, false);
    kube__pump_stop(&w->pump); /* an answer that still comes has an id no longer in flight */
    while (w->flight) {
        entry_t *e = w->flight;
        DL_DELETE(w->flight, e);
        w->nflight--;
        e->in_flight = false;
        e->need_get = true; /* we do not know whether it was written */
        entry_settle(w, e);
    }
}
