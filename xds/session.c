/*
 * The delta ADS state machine of one stream, sans-IO (protocol rules in xds/session.h).
 *
 * Key decision: ACK-gated, state-based pushes. Per type the session holds dirty names, not events;
 * a response is built only when no other response of that type awaits its ACK/NACK
 * (go-control-plane's rule), and it carries each dirty name's CURRENT state in the store. So a
 * reader that is slow, or never reads, holds at most one response per type and a dirty set no
 * larger than the names it can see; the change rate does not matter. The alternative, pushing
 * without waiting for ACKs and merging pending pushes per connection (istio), bounds memory the
 * same way but lets a fast writer fill the peer's buffers with responses the proxy will supersede.
 *
 * What the client holds is recorded when a response is built, not when it is ACKed: a NACKed
 * version is not sent again until it changes, and the client keeps its previous version, which is
 * what both Envoy and agentgateway's proxy do.
 *
 * How it is recorded: one bit per object, indexed by the object's id in the store (a dense number
 * per scope and type, xds_internal.h), meaning "the client holds this object's CURRENT version";
 * one bitmap for the unscoped scope and one for the session's Gateway. The store calls every
 * session that can see a scope on every change there (xds__session_mark_name), before an id can
 * be reused: a session whose bit is set for the object being replaced or deleted moves its record
 * to |known| as "name hash → the old version hash" and clears the bit. So the bits need no
 * generation number and cannot go stale, and |known| holds only what bits cannot say: versions
 * declared in initial_resource_versions that match no current object, and the names changed or
 * deleted since they were last sent (until the next response settles them). Rejected: a 32-bit
 * generation per record (the first design): 32x the memory, and a wrap-around to argue about.
 * At agw-5k (50 proxies, ~8,000 names each) this is ~1 KiB per proxy instead of ~265 KiB.
 *
 * INVARIANTS (per type)
 *  T1 in_flight != 0 implies seen, and in_flight < next_nonce
 *  T2 must_reply implies seen and wildcard was requested by the first request
 *  T3 every map satisfies M1..M3 / V1..V3 (xds_internal.h)
 *  T4 explicit_ never holds "*"; dirty values are XDS__DIRTY_* flags only
 *  T5 before the first request of a type, explicit_, dirty, known and the bits are empty
 *  T6 held[side] has a bit only for a live id of the scope it indexes (side 0: unscoped, side 1:
 *     the session's Gateway; an unscoped session has no side 1), and count is the bits set
 *  T7 per name at most one record: a bit on side 0, a bit on side 1, or an entry in known
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ir/pb.h"
#include "ir/names.h"
#include "ir/resource.h"
#include "xds_internal.h"

#define DEFAULT_MAX_RESPONSE (1024u * 1024u)
#define DEFAULT_MAX_SUBS     100000u
/* Envelope bytes per resource beyond its payload, name and version (tags, lengths, the Any's type
 * URL): an estimate used to keep responses under max_response_bytes. */
#define RESOURCE_OVERHEAD 80u

struct xds_response {
    xds_type_t type;
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse msg;
    Envoy__Service__Discovery__V3__Resource *res;
    Envoy__Service__Discovery__V3__Resource **res_ptrs;
    Google__Protobuf__Any *anys;
    char **removed;
    const ir_obj_t **objs;
    size_t nobjs;
    xds__name_t **names;
    size_t nnames;
    size_t packed;
    char nonce[24];
    char sysver[24];
};

void xds_session_config_default(xds_session_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->max_response_bytes = DEFAULT_MAX_RESPONSE;
    c->max_subscriptions = DEFAULT_MAX_SUBS;
}

static void tstate_init(xds__tstate_t *ts)
{
    memset(ts, 0, sizeof *ts);
    xds__map_init(&ts->explicit_);
    xds__map_init(&ts->dirty);
    xds__vmap_init(&ts->known);
}

static void tstate_dispose(xds__tstate_t *ts)
{
    xds__map_dispose(&ts->explicit_, NULL);
    xds__map_dispose(&ts->dirty, NULL);
    xds__vmap_dispose(&ts->known);
    for (int side = 0; side < 2; side++)
        krt_free(ts->held[side].words);
}

xds_session_t *xds_session_new(xds_store_t *store, const char *node_id, const char *gateway,
                               const xds_session_config_t *cfg, int *err)
{
    int e = XDS_ENOMEM;
    xds_session_t *s = NULL;
    if (!store || (gateway && !ir_gateway_valid(gateway))) {
        e = XDS_EINVAL;
        goto fail;
    }
    s = krt_calloc(1, sizeof *s);
    if (!s)
        goto fail;
    if (cfg)
        s->cfg = *cfg;
    else
        xds_session_config_default(&s->cfg);
    if (!s->cfg.max_response_bytes)
        s->cfg.max_response_bytes = DEFAULT_MAX_RESPONSE;
    if (!s->cfg.max_subscriptions)
        s->cfg.max_subscriptions = DEFAULT_MAX_SUBS;
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        tstate_init(&s->ts[t]);
    s->nack_type = -1;
    s->next_nonce = 1;
    s->store = store;
    s->node_id = krt_strdup(node_id ? node_id : "");
    s->gateway = gateway ? krt_strdup(gateway) : NULL;
    if (!s->node_id || (gateway && !s->gateway))
        goto fail;
    s->scope = xds__store_scope_ref(store, gateway);
    if (!s->scope)
        goto fail;
    xds__store_attach(store, s, s->scope);
    return s;
fail:
    if (s) {
        krt_free(s->node_id);
        krt_free(s->gateway);
        krt_free(s);
    }
    if (err)
        *err = e;
    return NULL;
}

void xds_session_free(xds_session_t *s)
{
    if (!s)
        return;
    xds__store_detach(s->store, s, s->scope);
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        tstate_dispose(&s->ts[t]);
    krt_free(s->node_id);
    krt_free(s->gateway);
    krt_free(s->nack_message);
    krt_free(s);
}

/* ---------------------------------------------------------------------------------------------
 * What the client holds: per name at most one record (T7), either a bit on the id of one of the
 * name's objects (side 0: unscoped, side 1: the session's Gateway scope) meaning "the current
 * version of that object", or name hash → version hash in |known|.
 * ------------------------------------------------------------------------------------------- */

/* The objects side |side| of the session's bits index, or NULL (side 1 of an unscoped session). */
static const xds__objs_t *side_objs(const xds_session_t *s, xds_type_t t, int side)
{
    const xds__scope_t *u = xds__store_unscoped(s->store);
    if (side == 0)
        return &u->objs[t];
    return s->scope != u ? &s->scope->objs[t] : NULL;
}

static bool bit_get(const xds__held_t *h, uint32_t id)
{
    return id != XDS__NO_ID && id / 64 < h->nwords && (h->words[id / 64] >> (id % 64) & 1u);
}

static void bit_clear(xds__held_t *h, uint32_t id)
{
    if (bit_get(h, id)) {
        h->words[id / 64] &= ~((uint64_t)1 << (id % 64));
        h->count--;
    }
}

/* Makes room for bit |id| of a side whose scope has handed out |nids| ids: grows by half, never
 * past the ids that exist, so the bits cost at most one bit per id of the scope. */
static int bit_reserve(xds__held_t *h, uint32_t id, uint32_t nids)
{
    uint32_t need = id / 64 + 1;
    if (need <= h->nwords)
        return XDS_OK;
    uint32_t n = h->nwords + h->nwords / 2, limit = nids / 64 + 1;
    if (n > limit)
        n = limit;
    if (n < need)
        n = need;
    uint64_t *w = krt_realloc(h->words, (size_t)n * sizeof *w);
    if (!w)
        return XDS_ENOMEM;
    memset(w + h->nwords, 0, (size_t)(n - h->nwords) * sizeof *w);
    h->words = w;
    h->nwords = n;
    return XDS_OK;
}

static void bit_set(xds__held_t *h, uint32_t id) /* room reserved */
{
    uint64_t m = (uint64_t)1 << (id % 64);
    if (!(h->words[id / 64] & m)) {
        h->words[id / 64] |= m;
        h->count++;
    }
}

/* Where |n| is for session |s|. Side 1 is looked at even when side 0 holds the name only while
 * some side-1 bit is set (it could be that name's). */
static void where_of(const xds_session_t *s, xds_type_t t, const xds__name_t *n, xds__where_t *w)
{
    xds__store_where(s->store, s->scope, t, n->str, n->len, n->hash, s->ts[t].held[1].count > 0, w);
}

/* The version the client holds under the name at |w| (hash |h|), if it holds one. */
static bool held_version(const xds__tstate_t *ts, const xds__where_t *w, uint64_t h, uint64_t *v)
{
    for (int side = 0; side < 2; side++)
        if (bit_get(&ts->held[side], w->id[side])) {
            *v = ir_obj_wire_hash(w->obj[side]);
            return true;
        }
    return ts->known.len && xds__vmap_get(&ts->known, h, v);
}

/* The client holds nothing under the name with ids |id| and hash |h|. */
static void held_forget(xds__tstate_t *ts, const uint32_t id[2], uint64_t h)
{
    bit_clear(&ts->held[0], id[0]);
    bit_clear(&ts->held[1], id[1]);
    if (ts->known.len)
        xds__vmap_del(&ts->known, h);
}

/* The client holds the current version of the name's object on |side| (room reserved). */
static void held_set_bit(xds__tstate_t *ts, const uint32_t id[2], int side, uint64_t h)
{
    bit_set(&ts->held[side], id[side]);
    bit_clear(&ts->held[!side], id[!side]);
    if (ts->known.len)
        xds__vmap_del(&ts->known, h);
}

/* The client holds version |v| under the name at |w|: a bit when |v| is the current version of
 * one of its objects (the visible one first), else by version. Returns XDS_OK or XDS_ENOMEM (the
 * name's records are then gone: the caller fails the request). */
static int held_set_version(xds_session_t *s, xds_type_t t, const xds__where_t *w, uint64_t h,
                            uint64_t v)
{
    xds__tstate_t *ts = &s->ts[t];
    int first = w->obj[0] ? 0 : 1;
    for (int k = 0; k < 2; k++) {
        int side = k ? !first : first;
        if (w->obj[side] && ir_obj_wire_hash(w->obj[side]) == v &&
            bit_reserve(&ts->held[side], w->id[side], side_objs(s, t, side)->nids) == XDS_OK) {
            held_set_bit(ts, w->id, side, h);
            return XDS_OK;
        }
    }
    bit_clear(&ts->held[0], w->id[0]);
    bit_clear(&ts->held[1], w->id[1]);
    return xds__vmap_set(&ts->known, h, v);
}

static size_t held_count(const xds__tstate_t *ts)
{
    return (size_t)ts->held[0].count + ts->held[1].count + ts->known.len;
}

/* ---------------------------------------------------------------------------------------------
 * Marking
 * ------------------------------------------------------------------------------------------- */

static void signal_ready(xds_session_t *s)
{
    if (s->signalled || s->busy || !s->cfg.on_ready)
        return;
    s->signalled = true;
    s->cfg.on_ready(s, s->cfg.ud);
}

static bool subscribed(const xds__tstate_t *ts, const char *name, size_t len, uint64_t h)
{
    return ts->wildcard || xds__map_find(&ts->explicit_, name, len, h);
}

static int dirty_add(xds__tstate_t *ts, xds__name_t *n, uintptr_t flags)
{
    xds__slot_t *sl;
    int rc = xds__map_put(&ts->dirty, n, flags, &sl);
    if (rc < 0)
        return rc;
    sl->val |= flags;
    return XDS_OK;
}

int xds__session_mark_name(xds_session_t *s, xds_type_t t, xds__name_t *name,
                           const xds__scope_t *sc, uint32_t id, const ir_obj_t *old)
{
    xds__tstate_t *ts = &s->ts[t];
    if (!ts->seen)
        return XDS_OK; /* T5: nothing held */
    int rc = XDS_OK;
    bool was_held = false;
    if (sc && old) {
        int side = sc == xds__store_unscoped(s->store) ? 0 : 1;
        if (side == 0 || sc == s->scope) {
            /* The bit meant "the current version"; that is about to be another object (or none,
             * and the id someone else's): keep the record by version, under the name. */
            if (bit_get(&ts->held[side], id)) {
                bit_clear(&ts->held[side], id);
                was_held = true;
                rc = xds__vmap_set(&ts->known, name->hash, ir_obj_wire_hash(old));
            }
        }
    }
    if (!was_held && !subscribed(ts, name->str, name->len, name->hash))
        return XDS_OK;
    if (rc == XDS_OK)
        rc = dirty_add(ts, name, 0);
    if (rc != XDS_OK)
        s->failed = true; /* the stream cannot be trusted any more: pull fails, the server ends it
                             and the client resyncs with initial_resource_versions */
    signal_ready(s);
    return rc;
}

int xds_session_mark(xds_session_t *s, xds_type_t t, const char *name)
{
    if (!s || !name || (unsigned)t >= XDS_TYPE_COUNT)
        return XDS_EINVAL;
    xds__name_t *n = xds__name_new(name, strlen(name));
    if (!n)
        return XDS_ENOMEM;
    int rc = xds__session_mark_name(s, t, n, NULL, XDS__NO_ID, NULL);
    xds__name_release(n);
    return rc;
}

void xds__session_kick(xds_session_t *s)
{
    if (xds_session_want_write(s))
        signal_ready(s);
}

typedef struct mark_all {
    xds__tstate_t *ts;
    int rc;
} mark_all_t;

static bool mark_visible_cb(xds__name_t *name, const ir_obj_t *o, void *ud)
{
    (void)o;
    mark_all_t *m = ud;
    m->rc = dirty_add(m->ts, name, 0);
    return m->rc == XDS_OK;
}

static int mark_all_visible(xds_session_t *s, xds_type_t t)
{
    mark_all_t m = {&s->ts[t], XDS_OK};
    xds__store_foreach_visible(s->store, s->scope, t, mark_visible_cb, &m);
    return m.rc;
}

/* ---------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------- */

static bool is_set(const char *str)
{
    return str && *str;
}

static uint64_t parse_nonce(const char *n)
{
    uint64_t v = 0;
    if (!n || !*n || strlen(n) > 19)
        return 0;
    for (const char *p = n; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v;
}

static void record_nack(xds_session_t *s, xds_type_t t, const char *nonce,
                        const Google__Rpc__Status *st)
{
    const char *msg = st->message ? st->message : "";
    s->stats.nacks++;
    s->nack_type = (int)t;
    snprintf(s->nack_nonce, sizeof s->nack_nonce, "%s", nonce);
    s->nack_code = st->code;
    char *copy = krt_strdup(msg);
    if (copy) {
        krt_free(s->nack_message);
        s->nack_message = copy;
    }
    xds__log(XDS_LOG_WARN, "NACK from node \"%s\" (gateway %s) for %s nonce %s: code %d: %s",
             s->node_id, s->gateway ? s->gateway : "-", xds_type_url(t), nonce, (int)st->code, msg);
    if (s->cfg.on_nack)
        s->cfg.on_nack(s, t, nonce, st->code, msg, s->cfg.ud);
}

typedef struct keep_explicit {
    const xds__map_t *explicit_;
    uint64_t *hashes;
    size_t n;
} keep_explicit_t;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool keep_if_explicit(uint64_t key, void *ud)
{
    keep_explicit_t *k = ud;
    return k->n && bsearch(&key, k->hashes, k->n, sizeof *k->hashes, cmp_u64) != NULL;
}

/* The client stopped the wildcard: it drops what it held only through it; forget those. */
static void forget_unsubscribed(xds_session_t *s, xds_type_t t)
{
    xds__tstate_t *ts = &s->ts[t];
    for (int side = 0; side < 2; side++) {
        const xds__objs_t *os = side_objs(s, t, side);
        xds__held_t *h = &ts->held[side];
        for (size_t i = 0; os && h->count && i < os->index.cap; i++) {
            const xds__slot_t *sl = &os->index.slots[i];
            if (sl->name && bit_get(h, (uint32_t)sl->val) &&
                !xds__map_find_name(&ts->explicit_, sl->name))
                bit_clear(h, (uint32_t)sl->val);
        }
    }
    keep_explicit_t k = {&ts->explicit_, NULL, 0};
    if (ts->explicit_.len) {
        k.hashes = krt_malloc(ts->explicit_.len * sizeof *k.hashes);
        if (!k.hashes)
            return; /* keeping more is safe: see xds__vmap_filter */
        for (size_t i = 0; i < ts->explicit_.cap; i++)
            if (ts->explicit_.slots[i].name)
                k.hashes[k.n++] = ts->explicit_.slots[i].name->hash;
        if (k.n > 1)
            qsort(k.hashes, k.n, sizeof *k.hashes, cmp_u64);
    }
    xds__vmap_filter(&ts->known, keep_if_explicit, &k);
    krt_free(k.hashes);
}

static int subscribe_name(xds_session_t *s, xds_type_t t, const char *name, bool first)
{
    xds__tstate_t *ts = &s->ts[t];
    size_t len = strlen(name);
    xds__name_t *n = xds__name_new(name, len);
    if (!n)
        return XDS_ENOMEM;
    int rc = xds__map_put(&ts->explicit_, n, 0, NULL);
    xds__where_t w;
    where_of(s, t, n, &w);
    /* On the first request of a type, what is held is exactly the declared versions. */
    uint64_t v;
    bool held = first && held_version(ts, &w, n->hash, &v);
    if (rc >= 0) {
        /* A name subscribed on a live stream is always sent again (the client may have dropped
         * it); on the first request, the versions the client declared stand. */
        if (!held)
            held_forget(ts, w.id, n->hash);
        rc = dirty_add(ts, n, held ? 0 : XDS__DIRTY_FORCE);
    }
    xds__name_release(n);
    return rc < 0 ? rc : XDS_OK;
}

static int unsubscribe_name(xds_session_t *s, xds_type_t t, const char *name)
{
    xds__tstate_t *ts = &s->ts[t];
    size_t len = strlen(name);
    uint64_t h = xds__hash(name, len);
    xds__slot_t *sl = xds__map_find(&ts->explicit_, name, len, h);
    if (!sl)
        return XDS_OK; /* phantom unsubscribe */
    xds__name_t *n = xds__name_retain(sl->name);
    xds__map_del_name(&ts->explicit_, n, NULL);
    xds__where_t w;
    where_of(s, t, n, &w);
    held_forget(ts, w.id, n->hash);
    int rc = XDS_OK;
    if (ts->wildcard) /* still covered: the spec wants it sent, or reported removed */
        rc = dirty_add(ts, n, XDS__DIRTY_UNSUB);
    xds__name_release(n);
    return rc;
}

int xds_session_recv(xds_session_t *s,
                     const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req,
                     xds_err_t *err)
{
    if (!s || !req)
        return xds__err(err, XDS_EINVAL, "xds_session_recv: NULL argument");
    if (!is_set(req->type_url))
        return xds__err(err, XDS_ETYPEURL, "DeltaDiscoveryRequest.type_url: empty");
    s->stats.requests++;
    int ti = xds_type_from_url(req->type_url);
    if (ti < 0) {
        s->stats.ignored++;
        xds__log(XDS_LOG_INFO, "node \"%s\": type URL \"%s\" is not served: request ignored",
                 s->node_id, req->type_url);
        return XDS_OK;
    }
    xds_type_t t = (xds_type_t)ti;
    xds__tstate_t *ts = &s->ts[t];
    bool first = !ts->seen;
    if (ts->explicit_.len + req->n_resource_names_subscribe > s->cfg.max_subscriptions)
        return xds__err(err, XDS_ELIMIT,
                        "DeltaDiscoveryRequest.resource_names_subscribe: more than %zu names "
                        "subscribed for %s",
                        s->cfg.max_subscriptions, req->type_url);
    for (size_t i = 0; i < req->n_resource_names_subscribe; i++)
        if (!req->resource_names_subscribe[i])
            return xds__err(err, XDS_EINVAL, "resource_names_subscribe[%zu]: NULL", i);
    for (size_t i = 0; i < req->n_resource_names_unsubscribe; i++)
        if (!req->resource_names_unsubscribe[i])
            return xds__err(err, XDS_EINVAL, "resource_names_unsubscribe[%zu]: NULL", i);
    s->busy++;

    /* ACK / NACK: only the nonce in flight counts; anything else is stale, but the subscription
     * changes below still apply (xds_protocol.rst). */
    if (is_set(req->response_nonce)) {
        uint64_t n = parse_nonce(req->response_nonce);
        if (ts->in_flight && n == ts->in_flight) {
            ts->in_flight = 0;
            if (req->error_detail)
                record_nack(s, t, req->response_nonce, req->error_detail);
            else
                s->stats.acks++;
        } else {
            s->stats.stale_nonces++;
        }
    }

    int rc = XDS_OK;
    if (first) {
        ts->seen = true;
        for (size_t i = 0; i < req->n_initial_resource_versions && rc == XDS_OK; i++) {
            const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry
                *e = req->initial_resource_versions[i];
            if (!e || !is_set(e->key))
                continue;
            xds__name_t *n = xds__name_new(e->key, strlen(e->key));
            if (!n) {
                rc = XDS_ENOMEM;
                break;
            }
            xds__where_t w;
            where_of(s, t, n, &w);
            rc = held_set_version(s, t, &w, n->hash, xds__version_parse(e->value));
            if (rc == XDS_OK)
                rc = dirty_add(ts, n, 0); /* sent again if it differs, removed if gone */
            xds__name_release(n);
        }
        if (rc == XDS_OK && req->n_resource_names_subscribe == 0) {
            ts->wildcard = true; /* legacy wildcard */
            ts->must_reply = true;
            rc = mark_all_visible(s, t);
        }
    }
    for (size_t i = 0; i < req->n_resource_names_subscribe && rc == XDS_OK; i++) {
        const char *name = req->resource_names_subscribe[i];
        if (strcmp(name, "*") == 0) {
            if (first)
                ts->must_reply = true;
            if (!ts->wildcard) {
                ts->wildcard = true;
                rc = mark_all_visible(s, t);
            }
        } else {
            rc = subscribe_name(s, t, name, first);
        }
    }
    for (size_t i = 0; i < req->n_resource_names_unsubscribe && rc == XDS_OK; i++) {
        const char *name = req->resource_names_unsubscribe[i];
        if (strcmp(name, "*") == 0) {
            if (ts->wildcard) {
                ts->wildcard = false;
                ts->must_reply = false;
                forget_unsubscribed(s, t);
            }
        } else {
            rc = unsubscribe_name(s, t, name);
        }
    }
    s->busy--;
    if (rc != XDS_OK)
        return xds__err(err, rc, "handling a %s request from node \"%s\": %s", req->type_url,
                        s->node_id, xds_strerror(rc));
    return XDS_OK;
}

int xds_session_recv_bytes(xds_session_t *s, const uint8_t *bytes, size_t len, xds_err_t *err)
{
    ProtobufCMessage *m = NULL;
    ir_err_t ie = {0};
    int rc = ir_pb_decode(&envoy__service__discovery__v3__delta_discovery_request__descriptor,
                          bytes, len, &m, &ie);
    if (rc != IR_OK)
        return xds__err(err, rc == IR_ENOMEM ? XDS_ENOMEM : XDS_EDECODE,
                        "DeltaDiscoveryRequest: %s", ie.msg);
    rc = xds_session_recv(s, (const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *)m, err);
    ir_pb_free(m);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------------------------- */

typedef struct item {
    xds__name_t *name;
    const ir_obj_t *obj; /* NULL: removal */
    int rank;
    int side;       /* of obj (xds__where_t) */
    uint32_t id[2]; /* the name's ids on both sides (xds__where_t) */
    size_t size;
} item_t;

static int cmp_add(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    return xds__order_cmp(x->rank, x->name->str, y->rank, y->name->str, false);
}

static int cmp_rem(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    return xds__order_cmp(x->rank, x->name->str, y->rank, y->name->str, true);
}

void xds_response_free(xds_response_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nobjs; i++)
        ir_obj_release(r->objs[i]);
    for (size_t i = 0; i < r->nnames; i++)
        xds__name_release(r->names[i]);
    krt_free(r->objs);
    krt_free(r->names);
    krt_free(r->res);
    krt_free(r->res_ptrs);
    krt_free(r->anys);
    krt_free(r->removed);
    krt_free(r);
}

static xds_response_t *response_new(xds_type_t t, size_t nadd, size_t nrem)
{
    xds_response_t *r = krt_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->type = t;
    envoy__service__discovery__v3__delta_discovery_response__init(&r->msg);
    size_t a = nadd ? nadd : 1, b = nrem ? nrem : 1;
    r->res = krt_calloc(a, sizeof *r->res);
    r->res_ptrs = krt_calloc(a, sizeof *r->res_ptrs);
    r->anys = krt_calloc(a, sizeof *r->anys);
    r->objs = krt_calloc(a, sizeof *r->objs);
    r->removed = krt_calloc(b, sizeof *r->removed);
    r->names = krt_calloc(b, sizeof *r->names);
    if (!r->res || !r->res_ptrs || !r->anys || !r->objs || !r->removed || !r->names) {
        xds_response_free(r);
        return NULL;
    }
    return r;
}

/* Builds the response of type |t| if one may go now. With |adds_only|, a response is built only
 * when some addition is pending, and removals stay dirty. Returns 1, 0, or XDS_ENOMEM. */
static int build(xds_session_t *s, xds_type_t t, bool adds_only, xds_response_t **out)
{
    xds__tstate_t *ts = &s->ts[t];
    if (!ts->seen || ts->in_flight || (!ts->dirty.len && !ts->must_reply))
        return 0;
    size_t cap = ts->dirty.len;
    item_t *adds = cap ? krt_malloc(cap * sizeof *adds) : NULL;
    item_t *rems = cap ? krt_malloc(cap * sizeof *rems) : NULL;
    xds__name_t **skips = cap ? krt_malloc(cap * sizeof *skips) : NULL;
    if (cap && (!adds || !rems || !skips)) {
        krt_free(adds);
        krt_free(rems);
        krt_free(skips);
        return XDS_ENOMEM;
    }
    size_t nadd = 0, nrem = 0, nskip = 0;
    for (size_t i = 0; i < ts->dirty.cap; i++) {
        xds__name_t *n = ts->dirty.slots[i].name;
        if (!n)
            continue;
        uintptr_t flags = ts->dirty.slots[i].val;
        bool sub = subscribed(ts, n->str, n->len, n->hash);
        xds__where_t w;
        where_of(s, t, n, &w);
        int side = !sub ? -1 : w.obj[0] ? 0 : w.obj[1] ? 1 : -1;
        const ir_obj_t *o = side >= 0 ? w.obj[side] : NULL;
        uint64_t v;
        bool held = held_version(ts, &w, n->hash, &v);
        if (o) {
            if (held && v == ir_obj_wire_hash(o)) {
                /* held already; say so with the visible object's bit when that is not how */
                if (!bit_get(&ts->held[side], w.id[side]) &&
                    bit_reserve(&ts->held[side], w.id[side], side_objs(s, t, side)->nids) == XDS_OK)
                    held_set_bit(ts, w.id, side, n->hash);
                skips[nskip++] = n;
                continue;
            }
            size_t wl;
            ir_obj_wire(o, &wl);
            adds[nadd++] = (item_t){n,
                                    o,
                                    t == XDS_TYPE_ADDRESS ? 0 : xds_kind_rank(ir_obj_kind(o)),
                                    side,
                                    {w.id[0], w.id[1]},
                                    wl + n->len + 16 + RESOURCE_OVERHEAD};
        } else if (held || (flags & XDS__DIRTY_UNSUB) ||
                   ((flags & XDS__DIRTY_FORCE) &&
                    xds__map_find(&ts->explicit_, n->str, n->len, n->hash))) {
            rems[nrem++] =
                (item_t){n, NULL, xds_name_rank(t, n->str), -1, {w.id[0], w.id[1]}, n->len + 4};
        } else {
            skips[nskip++] = n;
        }
    }
    int result = 0;
    size_t take_add = 0, take_rem = 0, bytes = 0;
    if (!(adds_only && nadd == 0)) {
        if (nadd > 1)
            qsort(adds, nadd, sizeof *adds, cmp_add);
        if (nrem > 1)
            qsort(rems, nrem, sizeof *rems, cmp_rem);
        size_t max = s->cfg.max_response_bytes;
        while (take_add < nadd && (take_add == 0 || bytes + adds[take_add].size <= max))
            bytes += adds[take_add++].size;
        if (take_add == nadd && !adds_only)
            while (take_rem < nrem &&
                   (take_add + take_rem == 0 || bytes + rems[take_rem].size <= max))
                bytes += rems[take_rem++].size;
    }
    if (take_add + take_rem > 0 || (ts->must_reply && !adds_only)) {
        /* room for the bits of what is sent, first: recording a send then cannot fail */
        uint32_t top[2] = {0, 0};
        bool any[2] = {false, false};
        for (size_t i = 0; i < take_add; i++) {
            int sd = adds[i].side;
            if (!any[sd] || adds[i].id[sd] > top[sd])
                top[sd] = adds[i].id[sd];
            any[sd] = true;
        }
        for (int sd = 0; sd < 2; sd++)
            if (any[sd] &&
                bit_reserve(&ts->held[sd], top[sd], side_objs(s, t, sd)->nids) != XDS_OK) {
                result = XDS_ENOMEM;
                goto done;
            }
        xds_response_t *r = response_new(t, take_add, take_rem);
        if (!r) {
            result = XDS_ENOMEM;
            goto done;
        }
        uint64_t nonce = s->next_nonce++;
        snprintf(r->nonce, sizeof r->nonce, "%llu", (unsigned long long)nonce);
        snprintf(r->sysver, sizeof r->sysver, "%llu",
                 (unsigned long long)xds_store_version(s->store));
        r->msg.type_url = (char *)(uintptr_t)xds_type_url(t);
        r->msg.nonce = r->nonce;
        r->msg.system_version_info = r->sysver;
        for (size_t i = 0; i < take_add; i++) {
            r->objs[i] = ir_obj_retain(adds[i].obj);
            ir_obj_discovery_view(adds[i].obj, &r->res[i], &r->anys[i]);
            r->res_ptrs[i] = &r->res[i];
            held_set_bit(ts, adds[i].id, adds[i].side, adds[i].name->hash);
        }
        r->nobjs = take_add;
        r->msg.n_resources = take_add;
        r->msg.resources = take_add ? r->res_ptrs : NULL;
        for (size_t i = 0; i < take_rem; i++) {
            r->names[i] = xds__name_retain(rems[i].name);
            r->removed[i] = r->names[i]->str;
            held_forget(ts, rems[i].id, rems[i].name->hash);
        }
        r->nnames = take_rem;
        r->msg.n_removed_resources = take_rem;
        r->msg.removed_resources = take_rem ? r->removed : NULL;
        /* take the sent names out of the dirty set (r holds its own references now) */
        for (size_t i = 0; i < take_add; i++)
            xds__map_del_name(&ts->dirty, adds[i].name, NULL);
        for (size_t i = 0; i < take_rem; i++)
            xds__map_del_name(&ts->dirty, r->names[i], NULL);
        r->packed = protobuf_c_message_get_packed_size(&r->msg.base);
        ts->in_flight = nonce;
        ts->must_reply = false;
        s->stats.responses++;
        s->stats.resources_sent += take_add;
        s->stats.removals_sent += take_rem;
        *out = r;
        result = 1;
    }
done:
    /* Names that need nothing are forgotten whatever happened (they hold no state). */
    for (size_t i = 0; i < nskip; i++)
        xds__map_del_name(&ts->dirty, skips[i], NULL);
    krt_free(adds);
    krt_free(rems);
    krt_free(skips);
    return result;
}

int xds_session_pull(xds_session_t *s, xds_response_t **out)
{
    if (!s || !out)
        return XDS_EINVAL;
    *out = NULL;
    s->signalled = false;
    if (s->failed)
        return XDS_ENOMEM;
    if (!xds_store_ready(s->store))
        return 0;
    s->busy++;
    /* Address additions, then Resources, then Address removals once no Resource change waits.
     * When no Resource change waits at all, one Address response carries both. */
    const xds__tstate_t *res = &s->ts[XDS_TYPE_RESOURCE];
    int rc = build(s, XDS_TYPE_ADDRESS, res->dirty.len > 0 || res->must_reply, out);
    if (rc == 0)
        rc = build(s, XDS_TYPE_RESOURCE, false, out);
    if (rc == 0 && s->ts[XDS_TYPE_RESOURCE].dirty.len == 0)
        rc = build(s, XDS_TYPE_ADDRESS, false, out);
    s->busy--;
    return rc;
}

bool xds_session_want_write(const xds_session_t *s)
{
    if (s->failed)
        return true; /* the pull reports the failure */
    if (!xds_store_ready(s->store))
        return false;
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        const xds__tstate_t *ts = &s->ts[t];
        if (ts->seen && !ts->in_flight && (ts->dirty.len || ts->must_reply))
            return true;
    }
    return false;
}

const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *
xds_response_msg(const xds_response_t *r)
{
    return &r->msg;
}

xds_type_t xds_response_type(const xds_response_t *r)
{
    return r->type;
}

size_t xds_response_size(const xds_response_t *r)
{
    return r->packed;
}

size_t xds_response_pack(const xds_response_t *r, uint8_t *buf)
{
    return protobuf_c_message_pack(&r->msg.base, buf);
}

int xds_response_encode(const xds_response_t *r, uint8_t **out, size_t *len)
{
    uint8_t *b = malloc(r->packed ? r->packed : 1);
    if (!b)
        return XDS_ENOMEM;
    *len = xds_response_pack(r, b);
    *out = b;
    return XDS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Introspection
 * ------------------------------------------------------------------------------------------- */

void xds_session_stats(const xds_session_t *s, xds_session_stats_t *out)
{
    *out = s->stats;
}

void xds_session_type_info(const xds_session_t *s, xds_type_t t, xds_session_type_info_t *out)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)t >= XDS_TYPE_COUNT)
        return;
    const xds__tstate_t *ts = &s->ts[t];
    out->seen = ts->seen;
    out->wildcard = ts->wildcard;
    out->explicit_names = ts->explicit_.len;
    out->dirty = ts->dirty.len;
    out->known = held_count(ts);
    out->in_flight = ts->in_flight != 0;
    if (ts->in_flight)
        snprintf(out->nonce, sizeof out->nonce, "%llu", (unsigned long long)ts->in_flight);
}

const char *xds_session_gateway(const xds_session_t *s)
{
    return s->gateway;
}

const char *xds_session_node_id(const xds_session_t *s)
{
    return s->node_id;
}

int xds_session_last_nack(const xds_session_t *s, const char **nonce, int *code,
                          const char **message)
{
    if (s->nack_type < 0)
        return -1;
    if (nonce)
        *nonce = s->nack_nonce;
    if (code)
        *code = s->nack_code;
    if (message)
        *message = s->nack_message ? s->nack_message : "";
    return s->nack_type;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *xds_session_debug(const xds_session_t *s)
{
    json_t *j = json_object(), *types = json_object();
    if (!j || !types) {
        json_decref(j);
        json_decref(types);
        return NULL;
    }
    json_object_set_new(j, "node", json_string(s->node_id));
    json_object_set_new(j, "gateway", s->gateway ? json_string(s->gateway) : json_null());
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        const xds__tstate_t *ts = &s->ts[t];
        if (!ts->seen)
            continue;
        json_t *subs = json_array();
        const char *names[100];
        size_t n = 0;
        for (size_t i = 0; i < ts->explicit_.cap && n < 100; i++)
            if (ts->explicit_.slots[i].name)
                names[n++] = ts->explicit_.slots[i].name->str;
        if (n > 1)
            qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(subs, json_string(names[i]));
        char nonce[24] = "";
        if (ts->in_flight)
            snprintf(nonce, sizeof nonce, "%llu", (unsigned long long)ts->in_flight);
        json_object_set_new(types, xds_type_url((xds_type_t)t),
                            json_pack("{s:b,s:o,s:I,s:I,s:I,s:s?}", "wildcard", ts->wildcard,
                                      "subscribed", subs, "explicit", (json_int_t)ts->explicit_.len,
                                      "dirty", (json_int_t)ts->dirty.len, "known",
                                      (json_int_t)held_count(ts), "in_flight",
                                      ts->in_flight ? nonce : NULL));
    }
    json_object_set_new(j, "types", types);
    json_object_set_new(
        j, "stats",
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)s->stats.requests,
                  "ignored", (json_int_t)s->stats.ignored, "responses",
                  (json_int_t)s->stats.responses, "resources_sent",
                  (json_int_t)s->stats.resources_sent, "removals_sent",
                  (json_int_t)s->stats.removals_sent, "acks", (json_int_t)s->stats.acks, "nacks",
                  (json_int_t)s->stats.nacks, "stale_nonces", (json_int_t)s->stats.stale_nonces));
    if (s->nack_type >= 0)
        json_object_set_new(j, "last_nack",
                            json_pack("{s:s,s:s,s:i,s:s}", "type_url",
                                      xds_type_url((xds_type_t)s->nack_type), "nonce",
                                      s->nack_nonce, "code", s->nack_code, "message",
                                      s->nack_message ? s->nack_message : ""));
    else
        json_object_set_new(j, "last_nack", json_null());
    return j;
}

/* T6, T7: bits only for live ids, counted right; one record per name at most. */
static int check_held(const xds_session_t *s, xds_type_t t, xds_err_t *err)
{
    const xds__tstate_t *ts = &s->ts[t];
    const char *url = xds_type_url(t);
    for (int side = 0; side < 2; side++) {
        const xds__held_t *h = &ts->held[side];
        const xds__objs_t *os = side_objs(s, t, side);
        if (!os && (h->nwords || h->count))
            return xds__err(err, XDS_ESTATE, "T6: %s: an unscoped session holds Gateway bits", url);
        if (h->nwords && !h->words)
            return xds__err(err, XDS_ESTATE, "T6: %s side %d: %u words, no array", url, side,
                            h->nwords);
        size_t pop = 0;
        for (uint32_t w = 0; w < h->nwords; w++)
            for (uint64_t b = h->words[w]; b; b &= b - 1) {
                uint32_t id = w * 64 + (uint32_t)__builtin_ctzll(b);
                pop++;
                if (!xds__objs_live(os, id))
                    return xds__err(err, XDS_ESTATE, "T6: %s side %d: bit %u for a dead id", url,
                                    side, id);
            }
        if (pop != h->count)
            return xds__err(err, XDS_ESTATE, "T6: %s side %d: %zu bits set, counted %u", url, side,
                            pop, h->count);
        for (size_t i = 0; os && h->count && i < os->index.cap; i++) {
            const xds__slot_t *sl = &os->index.slots[i];
            if (!sl->name || !bit_get(h, (uint32_t)sl->val))
                continue;
            if (ts->known.len && xds__vmap_get(&ts->known, sl->name->hash, NULL))
                return xds__err(err, XDS_ESTATE, "T7: %s \"%s\" held by bit and by version", url,
                                sl->name->str);
            if (side == 1 && bit_get(&ts->held[0], xds__objs_find(side_objs(s, t, 0), sl->name->str,
                                                                  sl->name->len, sl->name->hash)))
                return xds__err(err, XDS_ESTATE, "T7: %s \"%s\" held on both sides", url,
                                sl->name->str);
        }
    }
    return XDS_OK;
}

int xds_session_check(const xds_session_t *s, xds_err_t *err)
{
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        const xds__tstate_t *ts = &s->ts[t];
        const char *url = xds_type_url((xds_type_t)t);
        if (ts->in_flight && (!ts->seen || ts->in_flight >= s->next_nonce))
            return xds__err(err, XDS_ESTATE, "T1: %s nonce %llu in flight, next %llu", url,
                            (unsigned long long)ts->in_flight, (unsigned long long)s->next_nonce);
        if (ts->must_reply && !ts->seen)
            return xds__err(err, XDS_ESTATE, "T2: %s must reply before any request", url);
        int rc = xds__map_check(&ts->explicit_, err);
        if (rc == XDS_OK)
            rc = xds__map_check(&ts->dirty, err);
        if (rc == XDS_OK)
            rc = xds__vmap_check(&ts->known, err);
        if (rc != XDS_OK)
            return rc;
        if (xds__map_find(&ts->explicit_, "*", 1, xds__hash("*", 1)))
            return xds__err(err, XDS_ESTATE, "T4: %s explicit set holds \"*\"", url);
        for (size_t i = 0; i < ts->dirty.cap; i++)
            if (ts->dirty.slots[i].name &&
                (ts->dirty.slots[i].val & ~(uintptr_t)(XDS__DIRTY_FORCE | XDS__DIRTY_UNSUB)))
                return xds__err(err, XDS_ESTATE, "T4: %s dirty flags %lx", url,
                                (unsigned long)ts->dirty.slots[i].val);
        if (!ts->seen && (ts->explicit_.len || ts->dirty.len || held_count(ts)))
            return xds__err(err, XDS_ESTATE, "T5: %s has state before any request", url);
        rc = check_held(s, (xds_type_t)t, err);
        if (rc != XDS_OK)
            return rc;
    }
    return XDS_OK;
}
