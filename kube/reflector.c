/*
 * The reflector: the LIST/WATCH state machine of one kind, sans-IO (see kube/reflector.h).
 *
 * Key decision: the reflector keeps the identity of every object it announced (namespace/name →
 * resourceVersion) and turns every list into a difference against it, so a relist after a dropped
 * or expired watch costs the engine only what really changed while we were away: new and changed
 * objects as puts (as each page arrives), vanished ones as deletes at the end of the list. The
 * alternative rejected: relying on the source's "equal put announces nothing" alone, which catches
 * unchanged puts but cannot know which objects vanished; client-go's DeltaFIFO likewise
 * synthesizes deletes on Replace.
 *
 * Memory: only keys and resourceVersions are kept, never the objects: the engine holds every
 * object already (in a compact form), and a second copy as parsed trees would cost about eight
 * times the cluster's JSON. A delete made up at a relist carries the object's identity only
 * (apiVersion, kind, name, namespace), which is all a delete needs. Two versions of an object are
 * the same when their resourceVersions are (the API server changes it on every write); an object
 * without one is always announced, and the source drops the put if nothing changed.
 *
 * The reflector owns no clock: waits are requests (WAIT n ms) the caller fulfils, and the one
 * rule that needs a duration (a watch that closes in under a second with no events is a failure)
 * takes the duration from the caller.
 *
 * INVARIANTS
 *  R1 every entry of |known| has a non-empty key and a resourceVersion or none;
 *     |known| holds exactly the objects announced (put and not deleted) since the last list
 *  R2 state != ST_LIST ⇒ cont is NULL; in ST_LIST, the entries listed so far carry list_gen
 *  R3 nchanges <= cap_changes; every PUT/DELETE change holds an object; the only SYNCED change
 *     ever produced is produced once (synced goes false → true once)
 *  R4 state == ST_WAIT ⇔ next is ST_LIST or ST_WATCH (what follows the wait); else next == 0
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/reflector.h"

typedef enum state { ST_NONE = 0, ST_LIST = 1, ST_WATCH = 2, ST_WAIT = 3 } state_t;

/* One allocation: the list stamp, then "key\0" and, when the object had one, "rv\0". */
typedef struct entry {
    uint32_t gen; /* the list that last had it */
    bool has_rv;
    char key[];
} entry_t;

/* The entries by key: open addressing over FNV-1a of the key, linear probing, deletion by
 * backward shift (no tombstones). A pointer per slot, so an object costs its entry and about
 * 14 bytes of table. */
typedef struct known {
    entry_t **slots;
    size_t cap, len; /* cap: 0 or a power of two; len < cap * 3/4 */
} known_t;

struct kube_reflector {
    kube_reflector_options_t o;
    char origin_buf[96];
    state_t state;
    state_t next; /* ST_WAIT: what comes after the wait */
    uint64_t wait_ms;
    /* LIST in progress */
    const char *list_rv; /* static "0" / "" or r->rv (copied into list_rv_buf) */
    char *list_rv_own;
    bool list_paged;
    char *cont;
    uint32_t list_gen;   /* bumped by every list; entries seen in it carry it */
    bool rv_unavailable; /* the last list from rv was 410: next list is a consistent "" list */
    bool missing;        /* the kind answered 404 */
    /* WATCH */
    char *rv;
    uint64_t watch_events;
    unsigned watch_timeout;
    /* backoff */
    unsigned failures;
    uint64_t rng;
    bool synced;
    known_t known;
    kube_change_t *changes;
    size_t nchanges, cap_changes;
    kube_reflector_stats_t stats;
};

/* ---------------------------------------------------------------------------------------------
 * Small helpers.
 * ------------------------------------------------------------------------------------------- */
static void logf_(kube_reflector_t *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(kube_reflector_t *r, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->o.log)
        r->o.log(level, msg, r->o.log_ud);
    else if (level >= KRT_LOG_INFO)
        fprintf(stderr, "%s\n", msg);
}

static double rand01(kube_reflector_t *r)
{
    if (r->o.rand) {
        double v = r->o.rand(r->o.rand_ud);
        return v < 0 || v >= 1 ? 0 : v;
    }
    /* xorshift64*: fixed seed so runs repeat. */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (double)((r->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static bool set_str(char **dst, const char *src)
{
    char *c = NULL;
    if (src && !(c = strdup(src)))
        return false;
    free(*dst);
    *dst = c;
    return true;
}

static char *object_key(const json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    if (!name || !*name)
        return NULL;
    size_t n = strlen(name) + (ns ? strlen(ns) + 1 : 0) + 1;
    char *k = malloc(n);
    if (!k)
        return NULL;
    if (ns && *ns)
        snprintf(k, n, "%s/%s", ns, name);
    else
        snprintf(k, n, "%s", name);
    return k;
}

static const char *object_rv(const json_t *obj)
{
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    return rv && *rv ? rv : NULL;
}

/* Returns a new reference to |obj|, or to a shallow copy with apiVersion and kind filled in. */
static json_t *normalize(kube_reflector_t *r, json_t *obj)
{
    bool has_kind = json_is_string(json_object_get(obj, "kind"));
    bool has_av = json_is_string(json_object_get(obj, "apiVersion"));
    if (has_kind && has_av)
        return json_incref(obj);
    json_t *c = json_copy(obj);
    if (!c)
        return NULL;
    if ((!has_kind && json_object_set_new(c, "kind", json_string(r->o.kind))) ||
        (!has_av && json_object_set_new(c, "apiVersion", json_string(r->o.api_version)))) {
        json_decref(c);
        return NULL;
    }
    return c;
}

static const char *entry_rv(const entry_t *e)
{
    return e->has_rv ? e->key + strlen(e->key) + 1 : NULL;
}

static size_t key_slot(const known_t *t, const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29)) & (t->cap - 1);
}

/* Returns: the slot holding |key|, or the empty slot where it would go (cap > 0). */
static size_t known_probe(const known_t *t, const char *key)
{
    size_t i = key_slot(t, key);
    while (t->slots[i] && strcmp(t->slots[i]->key, key) != 0)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static entry_t *known_find(const known_t *t, const char *key)
{
    return t->cap ? t->slots[known_probe(t, key)] : NULL;
}

/* Frees the entry at slot |i| and closes the gap (backward shift). */
static void known_del_at(known_t *t, size_t i)
{
    free(t->slots[i]);
    t->slots[i] = NULL;
    t->len--;
    size_t mask = t->cap - 1;
    for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        size_t home = key_slot(t, t->slots[j]->key);
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            t->slots[i] = t->slots[j];
            t->slots[j] = NULL;
            i = j;
        }
    }
}

static void known_del(known_t *t, const entry_t *e)
{
    if (t->cap)
        known_del_at(t, known_probe(t, e->key));
}

static void known_free(known_t *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i]);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static bool known_grow(known_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    entry_t **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    known_t n = {slots, cap, t->len};
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            slots[known_probe(&n, t->slots[i]->key)] = t->slots[i];
    free(t->slots);
    *t = n;
    return true;
}

/* Records |key| at resourceVersion |rv| (may be NULL), seen by list |gen|, replacing what was
 * there. Borrows both. Returns false on OOM (the table is unchanged). */
static bool entry_put(known_t *t, const char *key, const char *rv, uint32_t gen)
{
    if ((t->len + 1) * 4 > t->cap * 3 && !known_grow(t))
        return false;
    size_t kn = strlen(key) + 1, rn = rv ? strlen(rv) + 1 : 0;
    entry_t *e = malloc(sizeof *e + kn + rn);
    if (!e)
        return false;
    memcpy(e->key, key, kn);
    if (rv)
        memcpy(e->key + kn, rv, rn);
    e->has_rv = rv != NULL;
    e->gen = gen;
    size_t i = known_probe(t, key);
    if (t->slots[i])
        free(t->slots[i]);
    else
        t->len++;
    t->slots[i] = e;
    return true;
}

static bool emit(kube_reflector_t *r, kube_change_op_t op, json_t *obj)
{
    if (r->nchanges == r->cap_changes) {
        size_t cap = r->cap_changes ? r->cap_changes * 2 : 16;
        kube_change_t *c = realloc(r->changes, cap * sizeof *c);
        if (!c)
            return false;
        r->changes = c;
        r->cap_changes = cap;
    }
    kube_change_t *c = &r->changes[r->nchanges++];
    c->op = op;
    c->object = obj ? json_incref(obj) : NULL;
    c->kind = r->o.kind;
    c->origin = r->o.origin;
    c->edit = true; /* list items and watch objects: nobody reads them after the apply */
    return true;
}

/* Whether |obj| is the version |e| recorded: both carry the same resourceVersion. */
static bool same(const entry_t *e, const json_t *obj)
{
    const char *rv = object_rv(obj);
    return e && e->has_rv && rv && strcmp(entry_rv(e), rv) == 0;
}

/* A delete for an object we only know by its entry: its identity and last resourceVersion,
 * which is what a delete needs. */
static bool emit_delete_of(kube_reflector_t *r, const entry_t *e)
{
    const char *slash = strchr(e->key, '/');
    json_t *md = slash ? json_pack("{s:s%,s:s}", "namespace", e->key, (size_t)(slash - e->key),
                                   "name", slash + 1)
                       : json_pack("{s:s}", "name", e->key);
    if (md && e->has_rv && json_object_set_new(md, "resourceVersion", json_string(entry_rv(e)))) {
        json_decref(md);
        md = NULL;
    }
    json_t *obj = md ? json_pack("{s:s,s:s,s:o}", "apiVersion", r->o.api_version, "kind", r->o.kind,
                                 "metadata", md)
                     : NULL;
    bool ok = obj && emit(r, KUBE_CHANGE_DELETE, obj);
    json_decref(obj);
    return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Transitions.
 * ------------------------------------------------------------------------------------------- */
static void list_reset(kube_reflector_t *r)
{
    free(r->cont);
    r->cont = NULL;
}

static void begin_list(kube_reflector_t *r)
{
    r->list_gen++;
    list_reset(r);
    free(r->list_rv_own);
    r->list_rv_own = NULL;
    if (r->rv_unavailable || r->missing) {
        r->list_rv = "";
        r->list_paged = true;
    } else if (r->rv && (r->list_rv_own = strdup(r->rv))) {
        /* client-go: a relist "not older than" what we saw; served by the watch cache unpaged. */
        r->list_rv = r->list_rv_own;
        r->list_paged = false;
    } else {
        r->list_rv = "0";
        r->list_paged = true;
    }
    r->state = ST_LIST;
    r->next = ST_NONE;
}

static void begin_watch(kube_reflector_t *r)
{
    list_reset(r);
    unsigned min = r->o.watch_timeout_min_s;
    r->watch_timeout = min + (unsigned)((double)min * rand01(r));
    r->watch_events = 0;
    r->state = ST_WATCH;
    r->next = ST_NONE;
    r->stats.watches++;
}

static void wait_then(kube_reflector_t *r, uint64_t ms, state_t then)
{
    list_reset(r);
    r->state = ST_WAIT;
    r->next = then;
    r->wait_ms = ms;
}

static void backoff_then(kube_reflector_t *r, state_t then)
{
    double d = (double)r->o.backoff_initial_ms;
    for (unsigned i = 0; i < r->failures && d < (double)r->o.backoff_max_ms; i++)
        d *= r->o.backoff_factor;
    if (d > (double)r->o.backoff_max_ms)
        d = (double)r->o.backoff_max_ms;
    if (r->o.backoff_jitter > 0)
        d += d * r->o.backoff_jitter * rand01(r);
    if (r->failures < 64)
        r->failures++;
    r->stats.errors++;
    wait_then(r, (uint64_t)d, then);
}

/* ---------------------------------------------------------------------------------------------
 * Public API.
 * ------------------------------------------------------------------------------------------- */
kube_reflector_t *kube_reflector_new(const kube_reflector_options_t *opts)
{
    if (!opts || !opts->kind || !opts->api_version)
        return NULL;
    kube_reflector_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->o = *opts;
    if (!r->o.origin) {
        snprintf(r->origin_buf, sizeof r->origin_buf, "watch %s", r->o.kind);
        r->o.origin = r->origin_buf;
    }
    if (!r->o.page_size)
        r->o.page_size = 500;
    if (!r->o.backoff_initial_ms)
        r->o.backoff_initial_ms = 800;
    if (!r->o.backoff_max_ms)
        r->o.backoff_max_ms = 30000;
    if (r->o.backoff_factor < 1.0)
        r->o.backoff_factor = 2.0;
    if (r->o.backoff_jitter == 0)
        r->o.backoff_jitter = 1.0;
    if (!r->o.missing_retry_ms)
        r->o.missing_retry_ms = 30000;
    if (!r->o.watch_timeout_min_s)
        r->o.watch_timeout_min_s = 300;
    r->rng = 0x9E3779B97F4A7C15ULL;
    begin_list(r);
    return r;
}

void kube_reflector_free(kube_reflector_t *r)
{
    if (!r)
        return;
    kube_reflector_changes_clear(r);
    free(r->changes);
    list_reset(r);
    known_free(&r->known);
    free(r->list_rv_own);
    free(r->rv);
    free(r);
}

int kube_reflector_next(kube_reflector_t *r, kube_request_t *out)
{
    if (!r || !out)
        return KUBE_EINVAL;
    memset(out, 0, sizeof *out);
    switch (r->state) {
    case ST_LIST:
        out->kind = KUBE_REQUEST_LIST;
        out->continue_token = r->cont;
        out->resource_version = r->cont ? NULL : r->list_rv;
        out->limit = r->list_paged ? r->o.page_size : 0;
        return KUBE_OK;
    case ST_WATCH:
        out->kind = KUBE_REQUEST_WATCH;
        out->resource_version = r->rv;
        out->allow_watch_bookmarks = true;
        out->timeout_seconds = r->watch_timeout;
        return KUBE_OK;
    case ST_WAIT:
        out->kind = KUBE_REQUEST_WAIT;
        out->wait_ms = r->wait_ms;
        return KUBE_OK;
    case ST_NONE:
        break;
    }
    return KUBE_EINVAL;
}

/* The last page arrived (its puts are out already): deletes for what the list no longer has. */
static int finish_list(kube_reflector_t *r, const char *rv)
{
    for (size_t i = 0; i < r->known.cap;) {
        entry_t *e = r->known.slots[i];
        if (!e || e->gen == r->list_gen) {
            i++;
            continue;
        }
        if (!emit_delete_of(r, e))
            return KUBE_ENOMEM;
        known_del_at(&r->known, i); /* slot i may now hold a later entry: look again */
    }
    if (!r->synced) {
        if (!emit(r, KUBE_CHANGE_SYNCED, NULL))
            return KUBE_ENOMEM;
        r->synced = true;
    }
    if (rv && !set_str(&r->rv, rv))
        return KUBE_ENOMEM;
    if (r->stats.lists++)
        r->stats.relists++;
    if (r->missing)
        logf_(r, KRT_LOG_INFO, "%s: the API server serves this kind again", r->o.kind);
    r->missing = false;
    r->rv_unavailable = false;
    r->failures = 0;
    begin_watch(r);
    return KUBE_OK;
}

int kube_reflector_on_list_page(kube_reflector_t *r, const json_t *list)
{
    if (r->state != ST_LIST)
        return KUBE_ESTATE;
    json_t *items = json_object_get(list, "items");
    json_t *md = json_object_get(list, "metadata");
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    const char *cont = json_string_value(json_object_get(md, "continue"));
    if (!json_is_object(list) || !(json_is_array(items) || json_is_null(items) || !items)) {
        logf_(r, KRT_LOG_ERROR, "%s: list response is not a list (no \"items\" array)",
              r->o.origin);
        backoff_then(r, ST_LIST);
        return KUBE_EOBJECT;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        char *key = json_is_object(item) ? object_key(item) : NULL;
        if (!key) {
            logf_(r, KRT_LOG_ERROR, "%s: list item %zu has no metadata.name; skipped", r->o.origin,
                  i);
            continue;
        }
        /* Announced as the page arrives, so no page is held until the list ends; |known| follows
         * what was announced, so a list that fails half-way is not announced twice. */
        entry_t *old = known_find(&r->known, key);
        bool seen = same(old, item);
        json_t *obj = seen ? NULL : normalize(r, item);
        bool ok = seen ? (old->gen = r->list_gen, true)
                       : obj && emit(r, KUBE_CHANGE_PUT, obj) &&
                             entry_put(&r->known, key, object_rv(item), r->list_gen);
        json_decref(obj);
        free(key);
        if (!ok) {
            backoff_then(r, ST_LIST);
            return KUBE_ENOMEM;
        }
    }
    if (cont && *cont) {
        if (!set_str(&r->cont, cont)) {
            backoff_then(r, ST_LIST);
            return KUBE_ENOMEM;
        }
        return KUBE_OK;
    }
    int rc = finish_list(r, rv && *rv ? rv : NULL);
    if (rc)
        backoff_then(r, ST_LIST);
    return rc;
}

int kube_reflector_on_watch_event(kube_reflector_t *r, const kube_watch_event_t *ev)
{
    if (r->state != ST_WATCH)
        return KUBE_ESTATE;
    if (ev->type == KUBE_WATCH_ERROR) {
        if (ev->relist) {
            logf_(r, KRT_LOG_INFO, "%s: watch expired (%d); relisting", r->o.origin, ev->code);
            begin_list(r);
        } else {
            logf_(r, KRT_LOG_WARN, "%s: watch error event (code %d)", r->o.origin, ev->code);
            backoff_then(r, ST_WATCH);
        }
        return KUBE_OK;
    }
    r->watch_events++;
    r->stats.events++;
    r->failures = 0;
    int rc = KUBE_OK;
    if (ev->type != KUBE_WATCH_BOOKMARK) {
        char *key = object_key(ev->object);
        if (!key) {
            logf_(r, KRT_LOG_ERROR, "%s: %s event at offset %llu: object has no metadata.name",
                  r->o.origin, kube_watch_type_name(ev->type), (unsigned long long)ev->offset);
            backoff_then(r, ST_WATCH);
            return KUBE_EOBJECT;
        }
        json_t *obj = normalize(r, ev->object);
        entry_t *old = known_find(&r->known, key);
        if (!obj) {
            rc = KUBE_ENOMEM;
        } else if (ev->type == KUBE_WATCH_DELETED) {
            if (old) {
                if (!emit(r, KUBE_CHANGE_DELETE, obj))
                    rc = KUBE_ENOMEM;
                known_del(&r->known, old);
            }
        } else if (same(old, obj)) {
            /* already announced */
        } else if (!emit(r, KUBE_CHANGE_PUT, obj) ||
                   !entry_put(&r->known, key, object_rv(obj), r->list_gen)) {
            rc = KUBE_ENOMEM;
        }
        free(key);
        json_decref(obj);
        if (rc) {
            /* We cannot trust our cache now: start over with a fresh list after a wait. */
            r->rv_unavailable = true;
            backoff_then(r, ST_LIST);
            return rc;
        }
    }
    if (ev->resource_version && !set_str(&r->rv, ev->resource_version)) {
        r->rv_unavailable = true;
        backoff_then(r, ST_LIST);
        return KUBE_ENOMEM;
    }
    return KUBE_OK;
}

int kube_reflector_on_watch_closed(kube_reflector_t *r, uint64_t lasted_ms)
{
    if (r->state != ST_WATCH)
        return KUBE_ESTATE;
    if (r->watch_events == 0 && lasted_ms < 1000) {
        logf_(r, KRT_LOG_WARN, "%s: very short watch (%llu ms, no events)", r->o.origin,
              (unsigned long long)lasted_ms);
        backoff_then(r, ST_WATCH);
    } else {
        begin_watch(r);
    }
    return KUBE_OK;
}

/* Whether |status| says our resourceVersion is ahead of the server's (a server restarted with
 * older storage, or a lagging cache): details.causes[].reason "ResourceVersionTooLarge", sent
 * with 504 after the server waited for the version. Only a consistent list gets past it. */
static bool rv_too_large(const json_t *status)
{
    const json_t *causes = json_object_get(json_object_get(status, "details"), "causes");
    size_t i;
    const json_t *c;
    json_array_foreach(causes, i, c)
    {
        const char *why = json_string_value(json_object_get(c, "reason"));
        if (why && strcmp(why, "ResourceVersionTooLarge") == 0)
            return true;
    }
    return false;
}

int kube_reflector_on_error(kube_reflector_t *r, int http_status, const json_t *status)
{
    /* Too large is handled as expired, as client-go does: relist from the latest state. */
    bool expired = http_status == 410 || kube_status_is_expired(status) || rv_too_large(status);
    const char *msg = json_string_value(json_object_get(status, "message"));
    if (r->state == ST_LIST) {
        if (http_status == 404) {
            if (!r->missing) {
                logf_(r, KRT_LOG_INFO,
                      "%s: the API server has no such resource (404); skipped, retried every "
                      "%llu ms",
                      r->o.kind, (unsigned long long)r->o.missing_retry_ms);
                /* The kind does not exist, so its complete contents are nothing. */
                for (size_t i = 0; i < r->known.cap; i++)
                    if (r->known.slots[i] && !emit_delete_of(r, r->known.slots[i]))
                        return KUBE_ENOMEM;
                if (!r->synced) {
                    if (!emit(r, KUBE_CHANGE_SYNCED, NULL))
                        return KUBE_ENOMEM;
                    r->synced = true;
                }
                known_free(&r->known);
                free(r->rv);
                r->rv = NULL;
            }
            r->missing = true;
            r->stats.missing++;
            wait_then(r, r->o.missing_retry_ms, ST_LIST);
            return KUBE_OK;
        }
        if (expired && !(r->list_rv && !*r->list_rv && !r->cont)) {
            /* Our resourceVersion or continue token is too old: a consistent list at once. */
            logf_(r, KRT_LOG_INFO, "%s: list expired (%s); relisting from the latest state",
                  r->o.origin, msg ? msg : "410");
            r->rv_unavailable = true;
            begin_list(r);
            return KUBE_OK;
        }
        logf_(r, KRT_LOG_WARN, "%s: list failed (HTTP %d%s%s)", r->o.origin, http_status,
              msg ? ": " : "", msg ? msg : "");
        backoff_then(r, ST_LIST);
        return KUBE_OK;
    }
    if (r->state == ST_WATCH) {
        if (expired) {
            logf_(r, KRT_LOG_INFO, "%s: watch expired (%s); relisting", r->o.origin,
                  msg ? msg : "410");
            begin_list(r);
        } else if (http_status == 404) {
            begin_list(r);
        } else {
            logf_(r, KRT_LOG_WARN, "%s: watch failed (HTTP %d%s%s)", r->o.origin, http_status,
                  msg ? ": " : "", msg ? msg : "");
            backoff_then(r, ST_WATCH);
        }
        return KUBE_OK;
    }
    return KUBE_ESTATE;
}

int kube_reflector_on_waited(kube_reflector_t *r)
{
    if (r->state != ST_WAIT)
        return KUBE_ESTATE;
    if (r->next == ST_WATCH && r->rv)
        begin_watch(r);
    else
        begin_list(r);
    return KUBE_OK;
}

const kube_change_t *kube_reflector_changes(const kube_reflector_t *r, size_t *n)
{
    *n = r->nchanges;
    return r->changes;
}

void kube_reflector_changes_clear(kube_reflector_t *r)
{
    for (size_t i = 0; i < r->nchanges; i++)
        json_decref(r->changes[i].object);
    r->nchanges = 0;
}

void kube_reflector_stats(const kube_reflector_t *r, kube_reflector_stats_t *out)
{
    *out = r->stats;
    out->objects = r->known.len;
    out->synced = r->synced;
    out->resource_version = r->rv;
}

static int check_entries(const known_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const entry_t *e = t->slots[i];
        if (!e)
            continue;
        n++;
        if (!e->key[0] || known_probe(t, e->key) != i)
            return KUBE_EINVAL;
    }
    return n == t->len && (t->cap == 0 || t->len * 4 <= t->cap * 3) ? KUBE_OK : KUBE_EINVAL;
}

int kube_reflector_check(const kube_reflector_t *r)
{
    if (check_entries(&r->known))
        return KUBE_EINVAL; /* R1 */
    if (r->state != ST_LIST && r->cont)
        return KUBE_EINVAL; /* R2 */
    if (r->nchanges > r->cap_changes)
        return KUBE_EINVAL; /* R3 */
    size_t synced = 0;
    for (size_t i = 0; i < r->nchanges; i++) {
        if (r->changes[i].op == KUBE_CHANGE_SYNCED)
            synced++;
        else if (!json_is_object(r->changes[i].object))
            return KUBE_EINVAL;
    }
    if (synced > 1 || (synced && !r->synced))
        return KUBE_EINVAL;
    if ((r->state == ST_WAIT) != (r->next == ST_LIST || r->next == ST_WATCH))
        return KUBE_EINVAL; /* R4 */
    if (r->state == ST_NONE)
        return KUBE_EINVAL;
    return KUBE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Request paths.
 * ------------------------------------------------------------------------------------------- */
typedef struct out {
    char *buf;
    size_t cap, len;
    bool full;
} out_t;

static void put_raw(out_t *o, const char *s)
{
    size_t n = strlen(s);
    if (o->len + n >= o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n + 1);
    o->len += n;
}

static void put_escaped(out_t *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char enc[4] = {(char)*p, 0, 0, 0};
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_' || *p == '~')) {
            enc[0] = '%';
            enc[1] = hex[*p >> 4];
            enc[2] = hex[*p & 15];
        }
        put_raw(o, enc);
    }
}

static void put_param(out_t *o, bool *first, const char *name, const char *value)
{
    put_raw(o, *first ? "?" : "&");
    *first = false;
    put_raw(o, name);
    put_raw(o, "=");
    put_escaped(o, value);
}

int kube_request_path(const kube_request_t *q, const char *base_path, const char *api_version,
                      const char *resource, const char *ns, char *buf, size_t cap)
{
    if (!q || !buf || !cap || !api_version || !*api_version || !resource || !*resource ||
        strchr(resource, '/') || (ns && (!*ns || strchr(ns, '/'))) ||
        (q->kind != KUBE_REQUEST_LIST && q->kind != KUBE_REQUEST_WATCH))
        return KUBE_EINVAL;
    out_t o = {buf, cap, 0, false};
    buf[0] = '\0';
    if (base_path)
        put_raw(&o, base_path);
    put_raw(&o, strchr(api_version, '/') ? "/apis/" : "/api/");
    put_raw(&o, api_version);
    if (ns) {
        put_raw(&o, "/namespaces/");
        put_escaped(&o, ns);
    }
    put_raw(&o, "/");
    put_raw(&o, resource);
    bool first = true;
    char num[24];
    if (q->kind == KUBE_REQUEST_LIST) {
        if (q->limit) {
            snprintf(num, sizeof num, "%u", q->limit);
            put_param(&o, &first, "limit", num);
        }
        if (q->continue_token)
            put_param(&o, &first, "continue", q->continue_token);
        if (q->resource_version)
            put_param(&o, &first, "resourceVersion", q->resource_version);
    } else {
        put_param(&o, &first, "watch", "1");
        if (q->allow_watch_bookmarks)
            put_param(&o, &first, "allowWatchBookmarks", "true");
        if (q->resource_version)
            put_param(&o, &first, "resourceVersion", q->resource_version);
        if (q->timeout_seconds) {
            snprintf(num, sizeof num, "%u", q->timeout_seconds);
            put_param(&o, &first, "timeoutSeconds", num);
        }
    }
    if (o.full) {
        buf[0] = '\0';
        return KUBE_ELIMIT;
    }
    return (int)o.len;
}
