/*
 * Leader election (kube/lease.h): the sans-IO state machine, then the libuv adapter.
 *
 * The machine keeps the last Lease object it read or wrote (|record|) so that a leader renews with
 * a PUT carrying that object's resourceVersion and no GET (client-go's fast path); any failure
 * makes the next attempt read first, because the cached object is then suspect.
 *
 * Expiry of someone else's lease is judged by when WE saw its record change (observed_at), the
 * way client-go does, so a skewed clock on the holder's node cannot make us take a live lease.
 *
 * INVARIANTS
 *  L1 leader ⇒ !released
 *  L2 pending ∈ {CREATE, UPDATE} ⇒ body != NULL
 *  L3 record is NULL or a JSON object
 *  L4 released ⇒ pending ∈ {GET, UPDATE (re-read and write of the release), DONE}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/lease.h"

struct kube_lease {
    char *id, *ns, *name;
    uint64_t duration_ms, deadline_ms, retry_ms;
    int64_t (*wall_us)(void *);
    void *wall_ud;
    kube_lease_action_kind_t pending;
    bool leader, released, need_get;
    unsigned release_tries; /* re-reads after a failed release write */
    uint64_t wait_ms;
    uint64_t last_renew;
    json_t *record;
    char *observed;       /* holder|renewTime|transitions of the record we saw last */
    uint64_t observed_at; /* when (our clock) it last changed */
    char *body;
    char path[512];
    char holder[256];
    kube_lease_stats_t st;
};

static int64_t sys_wall_us(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

kube_lease_t *kube_lease_new(const kube_lease_options_t *o)
{
    if (!o || !o->identity || !o->identity[0] || !o->namespace_name || !o->name)
        return NULL;
    kube_lease_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->id = strdup(o->identity);
    l->ns = strdup(o->namespace_name);
    l->name = strdup(o->name);
    l->duration_ms = o->lease_duration_ms ? o->lease_duration_ms : 15000;
    l->deadline_ms = o->renew_deadline_ms ? o->renew_deadline_ms : 10000;
    l->retry_ms = o->retry_period_ms ? o->retry_period_ms : 2000;
    l->wall_us = o->wall_us ? o->wall_us : sys_wall_us;
    l->wall_ud = o->wall_ud;
    l->pending = KUBE_LEASE_GET;
    if (!l->id || !l->ns || !l->name) {
        kube_lease_free(l);
        return NULL;
    }
    return l;
}

void kube_lease_free(kube_lease_t *l)
{
    if (!l)
        return;
    free(l->id);
    free(l->ns);
    free(l->name);
    json_decref(l->record);
    free(l->observed);
    free(l->body);
    free(l);
}

static void micro_time(kube_lease_t *l, char *buf, size_t cap)
{
    int64_t us = l->wall_us(l->wall_ud);
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%06ldZ", date, (long)(us % 1000000));
}

static const char *spec_str(const json_t *rec, const char *field)
{
    const char *s = json_string_value(json_object_get(json_object_get(rec, "spec"), field));
    return s ? s : "";
}

static json_int_t spec_int(const json_t *rec, const char *field)
{
    return json_integer_value(json_object_get(json_object_get(rec, "spec"), field));
}

/* Records |rec| as the Lease seen now; observed_at moves only when the record changed. */
static void observe(kube_lease_t *l, uint64_t now, const json_t *rec)
{
    char key[512];
    snprintf(key, sizeof(key), "%s|%s|%lld", spec_str(rec, "holderIdentity"),
             spec_str(rec, "renewTime"), (long long)spec_int(rec, "leaseTransitions"));
    if (!l->observed || strcmp(l->observed, key) != 0) {
        free(l->observed);
        l->observed = strdup(key);
        l->observed_at = now;
    }
    snprintf(l->holder, sizeof(l->holder), "%s", spec_str(rec, "holderIdentity"));
    json_t *copy = json_deep_copy(rec);
    if (copy) {
        json_decref(l->record);
        l->record = copy;
    }
}

static void set_body(kube_lease_t *l, json_t *obj)
{
    free(l->body);
    l->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
}

/* The object to write: a new Lease (no record), a renewal / take-over, or the release. */
static json_t *lease_object(kube_lease_t *l, bool release)
{
    char now[64];
    micro_time(l, now, sizeof(now));
    json_t *obj = l->record ? json_deep_copy(l->record) : NULL;
    if (!obj) {
        obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{}}", "apiVersion", "coordination.k8s.io/v1",
                        "kind", "Lease", "metadata", "name", l->name, "namespace", l->ns, "spec");
        if (!obj)
            return NULL;
    }
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(obj, "spec", spec);
    }
    const char *old = json_string_value(json_object_get(spec, "holderIdentity"));
    json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
    if (release) {
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
        json_object_set_new(spec, "acquireTime", json_string(now));
    } else {
        if (!l->record || !old || strcmp(old, l->id) != 0) {
            json_object_set_new(spec, "acquireTime", json_string(now));
            json_object_set_new(spec, "leaseTransitions",
                                json_integer(l->record ? transitions + 1 : 0));
        }
        json_object_set_new(spec, "holderIdentity", json_string(l->id));
        json_object_set_new(spec, "leaseDurationSeconds",
                            json_integer((json_int_t)((l->duration_ms + 999) / 1000)));
    }
    json_object_set_new(spec, "renewTime", json_string(now));
    return obj;
}

static void lose(kube_lease_t *l)
{
    if (l->leader) {
        l->leader = false;
        l->st.losses++;
    }
}

static void wait_then(kube_lease_t *l, uint64_t ms, bool need_get)
{
    l->pending = KUBE_LEASE_WAIT;
    l->wait_ms = ms;
    l->need_get = need_get;
}

/* An attempt failed: a leader past its renew deadline steps down; retry after retryPeriod. */
static void failure(kube_lease_t *l, uint64_t now)
{
    l->st.failures++;
    if (l->released) {
        /* The release write failed, typically 409: a renewal we cancelled went through and moved
         * the resourceVersion. Read, and release again if the Lease is still ours; twice at most,
         * since shutdown must not wait on an API server that keeps failing. */
        l->pending = l->release_tries++ < 2 ? KUBE_LEASE_GET : KUBE_LEASE_DONE;
        return;
    }
    if (l->leader && now - l->last_renew >= l->deadline_ms)
        lose(l);
    wait_then(l, l->retry_ms, true);
}

static void prepare_write(kube_lease_t *l)
{
    set_body(l, lease_object(l, false));
    l->pending = l->record ? KUBE_LEASE_UPDATE : KUBE_LEASE_CREATE;
}

int kube_lease_next(kube_lease_t *l, uint64_t now_ms, kube_lease_action_t *out)
{
    (void)now_ms;
    memset(out, 0, sizeof(*out));
    out->kind = l->pending;
    switch (l->pending) {
    case KUBE_LEASE_GET:
        out->method = "GET";
        snprintf(l->path, sizeof(l->path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
                 l->ns, l->name);
        break;
    case KUBE_LEASE_CREATE:
        out->method = "POST";
        snprintf(l->path, sizeof(l->path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases",
                 l->ns);
        break;
    case KUBE_LEASE_UPDATE:
        out->method = "PUT";
        snprintf(l->path, sizeof(l->path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
                 l->ns, l->name);
        break;
    case KUBE_LEASE_WAIT:
        out->wait_ms = l->wait_ms;
        return KUBE_OK;
    default:
        return KUBE_OK;
    }
    out->path = l->path;
    if (l->pending != KUBE_LEASE_GET) {
        if (!l->body)
            return KUBE_ENOMEM;
        out->body = l->body;
    }
    return KUBE_OK;
}

int kube_lease_on_response(kube_lease_t *l, uint64_t now, int status, const json_t *body)
{
    if (l->pending == KUBE_LEASE_GET && l->released) {
        if (status == 200 && json_is_object(body)) {
            observe(l, now, body);
            if (strcmp(l->holder, l->id) == 0) {
                set_body(l, lease_object(l, true));
                l->pending = KUBE_LEASE_UPDATE;
                return KUBE_OK;
            }
            l->pending = KUBE_LEASE_DONE; /* someone else's already */
            return KUBE_OK;
        }
        if (status == 404) {
            l->pending = KUBE_LEASE_DONE; /* nothing left to release */
            return KUBE_OK;
        }
        failure(l, now);
        return KUBE_OK;
    }
    if (l->pending == KUBE_LEASE_GET) {
        if (status == 404) {
            json_decref(l->record);
            l->record = NULL;
            l->holder[0] = '\0';
            lose(l);
            prepare_write(l);
            return KUBE_OK;
        }
        if (status != 200 || !json_is_object(body)) {
            failure(l, now);
            return KUBE_OK;
        }
        observe(l, now, body);
        bool ours = strcmp(l->holder, l->id) == 0;
        if (l->leader && !ours)
            lose(l); /* someone took it over */
        json_int_t secs = spec_int(body, "leaseDurationSeconds");
        uint64_t dur = secs > 0 ? (uint64_t)secs * 1000 : l->duration_ms;
        if (l->holder[0] && !ours && now < l->observed_at + dur) {
            wait_then(l, l->retry_ms, true); /* held and alive */
            return KUBE_OK;
        }
        prepare_write(l);
        return KUBE_OK;
    }
    if (l->pending != KUBE_LEASE_CREATE && l->pending != KUBE_LEASE_UPDATE)
        return KUBE_ESTATE;
    if (status == 200 || status == 201) {
        if (json_is_object(body))
            observe(l, now, body);
        if (l->released) {
            l->pending = KUBE_LEASE_DONE;
            return KUBE_OK;
        }
        if (!l->leader) {
            l->leader = true;
            l->st.acquisitions++;
        } else {
            l->st.renewals++;
        }
        l->last_renew = now;
        wait_then(l, l->retry_ms, false);
        return KUBE_OK;
    }
    if (status == 409)
        l->st.conflicts++; /* someone wrote in between: read again */
    failure(l, now);
    return KUBE_OK;
}

int kube_lease_on_error(kube_lease_t *l, uint64_t now)
{
    if (l->pending != KUBE_LEASE_GET && l->pending != KUBE_LEASE_CREATE &&
        l->pending != KUBE_LEASE_UPDATE)
        return KUBE_ESTATE;
    failure(l, now);
    return KUBE_OK;
}

int kube_lease_on_waited(kube_lease_t *l, uint64_t now)
{
    if (l->pending != KUBE_LEASE_WAIT)
        return KUBE_ESTATE;
    if (l->leader && now - l->last_renew >= l->deadline_ms)
        lose(l);
    if (l->leader && !l->need_get && l->record)
        prepare_write(l); /* renew from the cached object */
    else
        l->pending = KUBE_LEASE_GET;
    return KUBE_OK;
}

bool kube_lease_tick(kube_lease_t *l, uint64_t now)
{
    if (!l->leader || now - l->last_renew < l->deadline_ms)
        return false;
    lose(l);
    l->need_get = true;
    if (l->pending == KUBE_LEASE_CREATE || l->pending == KUBE_LEASE_UPDATE)
        l->pending = KUBE_LEASE_GET; /* the write in flight is abandoned: read afresh */
    return true;
}

void kube_lease_release(kube_lease_t *l, uint64_t now)
{
    (void)now;
    bool was = l->leader;
    l->leader = false;
    l->released = true;
    if (was && l->record) {
        set_body(l, lease_object(l, true));
        l->pending = KUBE_LEASE_UPDATE;
    } else {
        l->pending = KUBE_LEASE_DONE;
    }
}

bool kube_lease_is_leader(const kube_lease_t *l)
{
    return l->leader;
}

const char *kube_lease_holder(const kube_lease_t *l)
{
    return l->holder;
}

void kube_lease_stats(const kube_lease_t *l, kube_lease_stats_t *out)
{
    *out = l->st;
}

int kube_lease_check(const kube_lease_t *l)
{
    if (l->leader && l->released)
        return KUBE_EINVAL; /* L1 */
    if ((l->pending == KUBE_LEASE_CREATE || l->pending == KUBE_LEASE_UPDATE) && !l->body)
        return KUBE_EINVAL; /* L2 */
    if (l->record && !json_is_object(l->record))
        return KUBE_EINVAL; /* L3 */
    if (l->released && l->pending == KUBE_LEASE_CREATE)
        return KUBE_EINVAL; /* L4 */
    if (l->released && l->pending == KUBE_LEASE_WAIT)
        return KUBE_EINVAL; /* L4 */
    return KUBE_OK;
}

/* ---- the adapter ------------------------------------------------------------------------------
 */

struct kube_elector {
    uv_loop_t *loop;
    kube_client_t *client;
    kube_lease_t *l;
    kube_elector_callbacks_t cbs;
    uv_timer_t *timer;    /* WAIT */
    uv_timer_t *deadline; /* a leader's renew deadline, even while a request hangs */
    kube_call_t *call;
    bool was_leader, started;
    uint64_t deadline_ms;
    void (*release_done)(void *);
    void *release_ud;
};

static void el_step(kube_elector_t *el);

static void timer_freed(uv_handle_t *h)
{
    free(h);
}

static void el_notify(kube_elector_t *el)
{
    bool now = kube_lease_is_leader(el->l);
    if (now == el->was_leader)
        return;
    el->was_leader = now;
    if (now) {
        fprintf(stderr, "krtgate: leader election: acquired lease %s\n", kube_lease_holder(el->l));
        if (el->cbs.on_started_leading)
            el->cbs.on_started_leading(el->cbs.ud);
    } else {
        fprintf(stderr, "krtgate: leader election: not leading (lease holder last seen: \"%s\")\n",
                kube_lease_holder(el->l));
        if (el->cbs.on_stopped_leading)
            el->cbs.on_stopped_leading(el->cbs.ud);
    }
}

static void on_deadline(uv_timer_t *t)
{
    kube_elector_t *el = t->data;
    if (!el)
        return;
    /* No renewal within renewDeadline, maybe because a request hangs: step down now, as
     * client-go's renew context times out. */
    bool had_call = el->call != NULL;
    if (!kube_lease_tick(el->l, uv_now(el->loop)))
        return;
    kube_call_t *call = el->call;
    el->call = NULL;
    kube_call_cancel(call);
    el_notify(el);
    if (had_call)
        el_step(el);
}

static void el_response(void *ud, int err, const kube_response_t *r)
{
    kube_elector_t *el = ud;
    el->call = NULL;
    if (err == KUBE_ESTATE && !el->release_done)
        return;
    uint64_t now = uv_now(el->loop);
    if (err != KUBE_OK) {
        kube_lease_on_error(el->l, now);
    } else {
        json_t *j = r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
        kube_lease_on_response(el->l, now, r->status, j);
        json_decref(j);
    }
    if (kube_lease_is_leader(el->l) && err == KUBE_OK && (r->status == 200 || r->status == 201))
        uv_timer_start(el->deadline, on_deadline, el->deadline_ms, 0); /* renewed: re-arm */
    el_notify(el);
    el_step(el);
}

static void el_waited(uv_timer_t *t)
{
    kube_elector_t *el = t->data;
    if (!el)
        return;
    kube_lease_on_waited(el->l, uv_now(el->loop));
    el_notify(el);
    el_step(el);
}

static void el_step(kube_elector_t *el)
{
    kube_lease_action_t a;
    if (kube_lease_next(el->l, uv_now(el->loop), &a) != KUBE_OK) {
        uv_timer_start(el->timer, el_waited, 2000, 0);
        return;
    }
    if (a.kind == KUBE_LEASE_DONE) {
        uv_timer_stop(el->deadline);
        void (*done)(void *) = el->release_done;
        el->release_done = NULL;
        if (done)
            done(el->release_ud);
        return;
    }
    if (a.kind == KUBE_LEASE_WAIT) {
        uv_timer_start(el->timer, el_waited, a.wait_ms, 0);
        return;
    }
    int rc = kube_client_request(el->client, a.method, a.path, a.body ? "application/json" : NULL,
                                 a.body, a.body ? strlen(a.body) : 0, el_response, el, &el->call);
    if (rc != KUBE_OK) {
        el->call = NULL;
        kube_lease_on_error(el->l, uv_now(el->loop));
        if (kube_lease_next(el->l, uv_now(el->loop), &a) == KUBE_OK && a.kind == KUBE_LEASE_DONE)
            el_step(el);
        else
            uv_timer_start(el->timer, el_waited, 2000, 0);
    }
}

int kube_elector_new(uv_loop_t *loop, kube_client_t *client, const kube_lease_options_t *o,
                     const kube_elector_callbacks_t *cbs, kube_elector_t **out)
{
    if (!loop || !client || !o || !out)
        return KUBE_EINVAL;
    kube_elector_t *el = calloc(1, sizeof(*el));
    if (!el)
        return KUBE_ENOMEM;
    el->loop = loop;
    el->client = client;
    if (cbs)
        el->cbs = *cbs;
    el->l = kube_lease_new(o);
    el->deadline_ms = o->renew_deadline_ms ? o->renew_deadline_ms : 10000;
    el->timer = malloc(sizeof(*el->timer));
    el->deadline = malloc(sizeof(*el->deadline));
    if (!el->l || !el->timer || !el->deadline) {
        kube_lease_free(el->l);
        free(el->timer);
        free(el->deadline);
        free(el);
        return o->identity && o->namespace_name && o->name ? KUBE_ENOMEM : KUBE_EINVAL;
    }
    uv_timer_init(loop, el->timer);
    uv_timer_init(loop, el->deadline);
    el->timer->data = el->deadline->data = el;
    *out = el;
    return KUBE_OK;
}

void kube_elector_start(kube_elector_t *el)
{
    if (el->started)
        return;
    el->started = true;
    el_step(el);
}

void kube_elector_release(kube_elector_t *el, void (*done)(void *), void *ud)
{
    kube_call_t *call = el->call;
    el->call = NULL;
    kube_call_cancel(call);
    uv_timer_stop(el->timer);
    uv_timer_stop(el->deadline);
    el->release_done = done;
    el->release_ud = ud;
    kube_lease_release(el->l, uv_now(el->loop));
    el_notify(el);
    if (el->started)
        el_step(el);
    else if (done) {
        el->release_done = NULL;
        done(ud);
    }
}

bool kube_elector_is_leader(const kube_elector_t *el)
{
    return kube_lease_is_leader(el->l);
}

const kube_lease_t *kube_elector_lease(const kube_elector_t *el)
{
    return el->l;
}

void kube_elector_free(kube_elector_t *el)
{
    if (!el)
        return;
    kube_call_t *call = el->call;
    el->call = NULL;
    kube_call_cancel(call);
    uv_timer_stop(el->timer);
    uv_timer_stop(el->deadline);
    el->timer->data = el->deadline->data = NULL;
    uv_close((uv_handle_t *)el->timer, timer_freed);
    uv_close((uv_handle_t *)el->deadline, timer_freed);
    kube_lease_free(el->l);
    free(el);
}
