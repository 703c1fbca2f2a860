/*
 * The source: Kubernetes objects into one krt static collection per kind, through one function.
 *
 * Key decision: every feeder (manifest folder, informers, tests) speaks the same small language of
 * changes — put, delete, synced — to kube_source_apply(), and the source alone decides what a
 * change means: which collection (kind and API group, any version), which key (namespace
 * defaulted as kubectl would), whether it is worth announcing (an equal put announces nothing, so
 * a relist or a re-save of an unchanged file costs the graph nothing). The alternative rejected:
 * handing feeders the collections and letting each put objects itself, which spreads the defaulting
 * and kind rules over every feeder and lets them drift.
 *
 * Unknown kinds are remembered by "group/Kind" so each is logged once; the memory is bounded
 * (UNKNOWN_MAX names), past which one last line says further unknown kinds go unlogged.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "krt/json.h"
#include "kube/manifest.h"
#include "kube/source.h"

/* ---------------------------------------------------------------------------------------------
 * Errors.
 * ------------------------------------------------------------------------------------------- */
const char *kube_strerror(int rc)
{
    switch (rc) {
#define KUBE__ERR_STR(name, code, msg) \
    case (code):                       \
        return msg;
        KUBE_ERRNO_MAP(KUBE__ERR_STR)
#undef KUBE__ERR_STR
    }
    return "unknown error";
}

const char *kube_err_name(int rc)
{
    switch (rc) {
#define KUBE__ERR_NAME(name, code, msg) \
    case (code):                        \
        return "KUBE_" #name;
        KUBE_ERRNO_MAP(KUBE__ERR_NAME)
#undef KUBE__ERR_NAME
    }
    return "KUBE_UNKNOWN";
}

/* ---------------------------------------------------------------------------------------------
 * Kinds.
 * ------------------------------------------------------------------------------------------- */
#define GW  "gateway.networking.k8s.io"
#define GWX "gateway.networking.x-k8s.io"
#define AGW "agentgateway.dev"

const kube_kind_t kube_kinds[] = {
    /* core */
    {"Namespace", "", false},
    {"Service", "", true},
    {"Pod", "", true},
    {"Secret", "", true},
    {"ConfigMap", "", true},
    {"EndpointSlice", "discovery.k8s.io", true},
    /* Gateway API */
    {"GatewayClass", GW, false},
    {"Gateway", GW, true},
    {"ListenerSet", GW, true},
    {"HTTPRoute", GW, true},
    {"GRPCRoute", GW, true},
    {"TCPRoute", GW, true},
    {"TLSRoute", GW, true},
    {"UDPRoute", GW, true},
    {"ReferenceGrant", GW, true},
    {"BackendTLSPolicy", GW, true},
    {"XListenerSet", GWX, true},
    {"XBackendTrafficPolicy", GWX, true},
    /* agentgateway */
    {"AgentgatewayBackend", AGW, true},
    {"AgentgatewayPolicy", AGW, true},
    {"AgentgatewayParameters", AGW, true},
};
const size_t kube_kinds_len = sizeof kube_kinds / sizeof kube_kinds[0];

static size_t kind_index(const char *kind)
{
    for (size_t i = 0; i < kube_kinds_len; i++)
        if (strcmp(kube_kinds[i].kind, kind) == 0)
            return i;
    return kube_kinds_len;
}

const kube_kind_t *kube_kind_find(const char *kind)
{
    if (!kind)
        return NULL;
    size_t i = kind_index(kind);
    return i < kube_kinds_len ? &kube_kinds[i] : NULL;
}

const char *kube_api_group(const char *api_version, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return "";
    buf[0] = '\0';
    if (!api_version)
        return buf;
    const char *slash = strchr(api_version, '/');
    if (!slash)
        return buf; /* "v1": the core group */
    size_t n = (size_t)(slash - api_version);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, api_version, n);
    buf[n] = '\0';
    return buf;
}

/* The parts of an object the source needs; strings borrowed from the object. */
typedef struct parts {
    const char *api_version, *kind, *name, *ns; /* ns NULL when absent or empty */
    char group[256];
    const kube_kind_t *k; /* registered kind of this group, or NULL */
} parts_t;

static int object_parts(const json_t *obj, parts_t *pt)
{
    memset(pt, 0, sizeof *pt);
    if (!json_is_object(obj))
        return KUBE_EOBJECT;
    pt->api_version = json_string_value(json_object_get(obj, "apiVersion"));
    pt->kind = json_string_value(json_object_get(obj, "kind"));
    json_t *md = json_object_get(obj, "metadata");
    pt->name = json_string_value(json_object_get(md, "name"));
    pt->ns = json_string_value(json_object_get(md, "namespace"));
    if (pt->ns && !*pt->ns)
        pt->ns = NULL;
    if (!pt->api_version || !*pt->api_version || !pt->kind || !*pt->kind || !pt->name || !*pt->name)
        return KUBE_EOBJECT;
    kube_api_group(pt->api_version, pt->group, sizeof pt->group);
    const kube_kind_t *k = kube_kind_find(pt->kind);
    pt->k = k && strcmp(k->group, pt->group) == 0 ? k : NULL;
    return KUBE_OK;
}

/* The namespace the source stores the object under ("" when cluster-scoped). */
static const char *effective_ns(const parts_t *pt)
{
    if (pt->k)
        return pt->k->namespaced ? (pt->ns ? pt->ns : "default") : "";
    return pt->ns ? pt->ns : "";
}

char *kube_object_identity(const json_t *obj, int *err)
{
    int e = 0;
    parts_t pt;
    int rc = object_parts(obj, &pt);
    char *s = NULL;
    if (rc == KUBE_OK) {
        const char *ns = effective_ns(&pt);
        int n = snprintf(NULL, 0, "%s%s%s/%s%s%s", pt.kind, *pt.group ? "." : "", pt.group, ns,
                         *ns ? "/" : "", pt.name);
        s = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (s)
            snprintf(s, (size_t)n + 1, "%s%s%s/%s%s%s", pt.kind, *pt.group ? "." : "", pt.group, ns,
                     *ns ? "/" : "", pt.name);
        else
            e = KUBE_ENOMEM;
    } else {
        e = rc;
    }
    if (err)
        *err = s ? KUBE_OK : e;
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * The source.
 * ------------------------------------------------------------------------------------------- */
#define UNKNOWN_MAX 1024

typedef struct unknown {
    char *name; /* "group/Kind" */
    UT_hash_handle hh;
} unknown_t;

struct kube_source {
    krt_engine_t *engine;
    krt_collection_t *cols[sizeof kube_kinds / sizeof kube_kinds[0]];
    krt_log_cb log;
    void *log_ud;
    unknown_t *unknown;
    size_t nunknown;
    bool unknown_full;
};

static void default_log(int level, const char *msg, void *ud)
{
    (void)ud;
    if (level < KRT_LOG_INFO)
        return;
    static const char *const names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "krtgate: %s: %s\n", names[level >= 0 && level <= 3 ? level : 3], msg);
}

static void logf_(kube_source_t *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(kube_source_t *s, int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->log(level, buf, s->log_ud);
}

kube_source_t *kube_source_new(krt_engine_t *e, const kube_source_options_t *opts)
{
    if (!e)
        return NULL;
    kube_source_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->engine = e;
    s->log = opts && opts->log ? opts->log : default_log;
    s->log_ud = opts && opts->log ? opts->log_ud : NULL;
    const char *prefix = opts && opts->name_prefix ? opts->name_prefix : "kube/";
    for (size_t i = 0; i < kube_kinds_len; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, kube_kinds[i].kind);
        s->cols[i] = krt_static_new(e, &krt_json_type, name, false);
        if (!s->cols[i]) {
            /* Collections already made stay with the engine (it frees them); nothing reads them. */
            free(s);
            return NULL;
        }
    }
    return s;
}

void kube_source_free(kube_source_t *s)
{
    if (!s)
        return;
    unknown_t *u, *tmp;
    HASH_ITER(hh, s->unknown, u, tmp)
    {
        HASH_DEL(s->unknown, u);
        free(u->name);
        free(u);
    }
    free(s);
}

krt_collection_t *kube_source_collection(const kube_source_t *s, const char *kind)
{
    if (!s || !kind)
        return NULL;
    size_t i = kind_index(kind);
    return i < kube_kinds_len ? s->cols[i] : NULL;
}

size_t kube_source_unknown_kinds(const kube_source_t *s)
{
    return s ? s->nunknown : 0;
}

/* Logs the first object of an unknown group/Kind; later ones are silent. */
static void note_unknown(kube_source_t *s, const parts_t *pt, const char *origin)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%s", pt->group, pt->kind);
    unknown_t *u;
    HASH_FIND_STR(s->unknown, key, u);
    if (u || s->unknown_full)
        return;
    if (s->nunknown == UNKNOWN_MAX) {
        s->unknown_full = true;
        logf_(s, KRT_LOG_INFO, "more than %d unknown kinds: further ones are ignored silently",
              UNKNOWN_MAX);
        return;
    }
    u = calloc(1, sizeof *u);
    char *dup = u ? strdup(key) : NULL;
    if (!dup) {
        free(u);
        return; /* the line is logged again next time: harmless */
    }
    u->name = dup;
    HASH_ADD_KEYPTR(hh, s->unknown, u->name, strlen(u->name), u);
    s->nunknown++;
    const kube_kind_t *k = kube_kind_find(pt->kind);
    if (k)
        logf_(s, KRT_LOG_INFO,
              "%s%signoring %s objects of API group \"%s\" (krtgate reads %s from \"%s\"); "
              "this line is not repeated",
              origin ? origin : "", origin ? ": " : "", pt->kind, pt->group, k->kind, k->group);
    else
        logf_(s, KRT_LOG_INFO,
              "%s%signoring kind %s (%s): krtgate does not read it; this line is not repeated",
              origin ? origin : "", origin ? ": " : "", pt->kind, pt->api_version);
}

/* ---------------------------------------------------------------------------------------------
 * What is kept of an object.
 *
 * Key decision: the source stores what the graph reads, not the API server's whole object.
 * Every kind loses metadata.managedFields and the last-applied-configuration annotation (often
 * half of a real object's bytes; nothing reads them). A Pod keeps only the fields translate
 * reads (the pod_* tables below): beyond memory, a Pod whose status churns in fields nobody reads
 * (restart counts, probe times, container states) then stores an equal object and costs no
 * recompute.
 * The alternative, keeping whole objects as informer caches do, pays for every Pod's image,
 * resources, volumes and container statuses in a process that never looks at them. A new reader
 * of a Pod field adds it to the tables (docs/sources.md lists them). The cut is made in place when
 * the caller allows it (the reflector does: its objects are read by nobody after), which costs a
 * few hash lookups per object; building a projected copy instead added half a second to the
 * cold start of 100,000 Pods.
 * ------------------------------------------------------------------------------------------- */
#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* Pod: what translate/address.c reads (phase, IPs, Ready, service account, node, labels for
 * Service selectors, container ports for named targetPorts). No resourceVersion: the reflector
 * keeps it, and a Pod whose kept fields are unchanged must compare equal. */
static const char *const pod_top[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const pod_meta[] = {"name", "namespace", "labels", NULL};
static const char *const pod_spec[] = {"nodeName", "serviceAccountName", "hostNetwork",
                                       "containers", NULL};
static const char *const pod_container[] = {"name", "ports", NULL};
static const char *const pod_status[] = {"phase", "podIP", "podIPs", "conditions", NULL};
static const char *const pod_condition[] = {"type", "status", NULL};

static bool listed(const char *const *keys, const char *k, size_t n)
{
    for (size_t i = 0; keys[i]; i++)
        if (strlen(keys[i]) == n && memcmp(keys[i], k, n) == 0)
            return true;
    return false;
}

/* Deletes every member of |o| (an object, or ignored) whose key is not in |keys|. */
static void keep_only(json_t *o, const char *const *keys)
{
    void *it = json_object_iter(o);
    while (it) {
        const char *k = json_object_iter_key(it);
        size_t n = json_object_iter_key_len(it);
        void *next = json_object_iter_next(o, it);
        if (!listed(keys, k, n))
            json_object_deln(o, k, n);
        it = next;
    }
}

/* obj[key] cut to |keys|, each object element of its array member |arr| cut to |el|; dropped
 * when it is not an object or ends up empty. */
static void keep_section(json_t *obj, const char *key, const char *const *keys, const char *arr,
                         const char *const *el)
{
    json_t *sec = json_object_get(obj, key);
    if (!sec)
        return;
    if (json_is_object(sec)) {
        keep_only(sec, keys);
        json_t *a = json_object_get(sec, arr), *e;
        size_t i;
        json_array_foreach(a, i, e)
        {
            keep_only(e, el);
        }
    }
    if (!json_is_object(sec) || json_object_size(sec) == 0)
        json_object_del(obj, key);
}

/* Cuts |obj| (owned, edited in place) to what is kept of a Pod. */
static void pod_keep(json_t *obj)
{
    keep_only(obj, pod_top);
    keep_only(json_object_get(obj, "metadata"), pod_meta);
    keep_section(obj, "spec", pod_spec, "containers", pod_container);
    keep_section(obj, "status", pod_status, "conditions", pod_condition);
}

static bool has_bookkeeping(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    return json_object_get(md, "managedFields") ||
           json_object_get(json_object_get(md, "annotations"), LAST_APPLIED);
}

/* Drops managedFields and the last-applied annotation from |obj| (owned, edited in place). */
static void drop_bookkeeping(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    json_t *ann = json_object_get(md, "annotations");
    json_object_del(md, "managedFields");
    if (!json_object_del(ann, LAST_APPLIED) && json_object_size(ann) == 0)
        json_object_del(md, "annotations");
}

/* The value to store for |in|: what is kept of it (above), with the namespace fixed. With |edit|
 * the caller lets the source cut |in| itself (kube_change_t.edit); otherwise what must change is
 * cut from a copy. Returns a new reference (|in| itself when nothing changes), or NULL on OOM. */
static json_t *stored_value(const parts_t *pt, json_t *in, bool edit)
{
    bool pod = strcmp(pt->k->kind, "Pod") == 0 && !*pt->k->group;
    bool cut = pod || has_bookkeeping(in);
    json_t *obj = cut && !edit ? json_deep_copy(in) : json_incref(in);
    if (!obj)
        return NULL;
    if (pod)
        pod_keep(obj);
    else if (cut)
        drop_bookkeeping(obj);
    bool add_ns = pt->k->namespaced && !pt->ns;
    bool drop_ns =
        !pt->k->namespaced && json_object_get(json_object_get(obj, "metadata"), "namespace");
    if (!add_ns && !drop_ns)
        return obj;
    json_t *copy = json_copy(obj);
    json_decref(obj);
    json_t *md = copy ? json_copy(json_object_get(copy, "metadata")) : NULL;
    if (!md || json_object_set_new(copy, "metadata", md) ||
        (add_ns ? json_object_set_new(md, "namespace", json_string("default"))
                : json_object_del(md, "namespace"))) {
        json_decref(copy);
        return NULL;
    }
    return copy;
}

static int apply_one(kube_source_t *s, const kube_change_t *c)
{
    char desc[512];
    const char *origin = c->origin;
    if (c->op == KUBE_CHANGE_SYNCED) {
        if (!c->kind) {
            for (size_t i = 0; i < kube_kinds_len; i++)
                krt_static_mark_synced(s->cols[i]);
            return KUBE_OK;
        }
        krt_collection_t *col = kube_source_collection(s, c->kind);
        if (col)
            krt_static_mark_synced(col);
        return KUBE_OK; /* an unknown kind has nothing to sync */
    }
    if (c->op != KUBE_CHANGE_PUT && c->op != KUBE_CHANGE_DELETE) {
        logf_(s, KRT_LOG_ERROR, "%s%schange with unknown operation %d", origin ? origin : "",
              origin ? ": " : "", (int)c->op);
        return KUBE_EINVAL;
    }
    parts_t pt;
    if (object_parts(c->object, &pt) != KUBE_OK) {
        kube_object_describe(c->object, desc, sizeof desc);
        logf_(s, KRT_LOG_ERROR,
              "%s%s%s%srejected: an object needs a string apiVersion, kind and "
              "metadata.name",
              origin ? origin : "", origin ? ": " : "", desc, *desc ? ": " : "");
        return KUBE_EOBJECT;
    }
    if (!pt.k) {
        if (c->op == KUBE_CHANGE_PUT)
            note_unknown(s, &pt, origin);
        return KUBE_OK;
    }
    krt_collection_t *col = s->cols[pt.k - kube_kinds];
    if (c->op == KUBE_CHANGE_DELETE) {
        const char *ns = effective_ns(&pt);
        size_t len = strlen(ns) + 1 + strlen(pt.name) + 1;
        char *key = malloc(len);
        if (!key)
            return KUBE_ENOMEM;
        snprintf(key, len, "%s%s%s", ns, *ns ? "/" : "", pt.name);
        int rc = krt_static_delete(col, key);
        free(key);
        return rc < 0 ? KUBE_EINVAL : KUBE_OK;
    }
    krt_json_heap_begin(); /* what is kept becomes the engine's cached tree (krt/json.h) */
    json_t *v = stored_value(&pt, c->object, c->edit);
    krt_json_heap_end();
    if (!v)
        return KUBE_ENOMEM;
    int err = 0;
    const krt_obj_t *o = krt_json_new(v, &err);
    if (!o) {
        kube_object_describe(c->object, desc, sizeof desc);
        logf_(s, KRT_LOG_ERROR, "%s%s%s: rejected: %s", origin ? origin : "", origin ? ": " : "",
              desc, err == KRT_ENOMEM ? "out of memory" : "invalid metadata (name or namespace)");
        return err == KRT_ENOMEM ? KUBE_ENOMEM : KUBE_EOBJECT;
    }
    int rc = krt_static_put_if_changed(col, o);
    return rc < 0 ? KUBE_EINVAL : KUBE_OK;
}

int kube_source_apply(kube_source_t *s, const kube_change_t *changes, size_t n)
{
    if (!s || (!changes && n))
        return KUBE_EINVAL;
    int first = KUBE_OK;
    for (size_t i = 0; i < n; i++) {
        int rc = apply_one(s, &changes[i]);
        if (rc != KUBE_OK && first == KUBE_OK)
            first = rc;
    }
    return first;
}
