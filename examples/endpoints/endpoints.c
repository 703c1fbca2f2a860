/*
 * endpoints — a small controller written on libkrt: Pods + Services → Endpoints.
 *
 * Pods and Services are Kubernetes-style JSON objects (krt/json.h) held in two static collections.
 * A derived collection computes, for each Service with a selector, the addresses of the ready pods
 * of its namespace whose labels contain the selector: an "endpoints" object, a type written here to
 * show how a krt_type_t is made. A subscriber prints every flush's changes.
 *
 * Run with no argument, it loads a built-in set of manifests and plays a short script (a pod gets
 * an IP, a pod is relabelled away, a selector changes, pods are deleted, a burst of updates, a
 * service is deleted), printing after each flush how many Services were recomputed, so one can see
 * that only the affected ones are; it ends with the engine's DOT graph. Given a directory, it loads
 * every *.json file in it (one object, an array of objects, or a List with "items") and prints the
 * first flush.
 *
 * The design point this shows: the transformation reads pods only through krt_fetch() with a
 * namespace-index bucket and a label filter, so the engine knows exactly which Services a pod
 * change can affect and recomputes those alone, once per flush however many times the pod changed.
 * (Alternative rejected: fetching all pods and filtering in the transformation. It gives the same
 * output, but every pod change would then recompute every Service.)
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* opendir, readdir */
#endif

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <krt/json.h>
#include <krt/krt.h>

/* ---------------------------------------------------------------------------------------------
 * The endpoints type: an immutable object listing "ip:port" strings for one Service.
 * ------------------------------------------------------------------------------------------- */

typedef struct ep_endpoints {
    krt_obj_t base; /* first member, so a krt_obj_t * is an ep_endpoints_t * */
    char *key;      /* "namespace/name" of the Service; owned */
    char *ns;       /* namespace; owned */
    size_t naddrs;
    char **addrs; /* "ip:port", sorted (see addr_cmp) so equal sets compare equal; owned */
} ep_endpoints_t;

static const char *ep_key(const krt_obj_t *o)
{
    return ((const ep_endpoints_t *)o)->key;
}

static const char *ep_namespace(const krt_obj_t *o)
{
    return ((const ep_endpoints_t *)o)->ns;
}

/* Hashes everything ep_equals compares. krt_obj_seal calls it once; the engine keeps the result. */
static uint64_t ep_hash(const krt_obj_t *o)
{
    const ep_endpoints_t *ep = (const ep_endpoints_t *)o;
    uint64_t h = krt_hash_str(ep->key, 0);
    for (size_t i = 0; i < ep->naddrs; i++)
        h = krt_hash_combine(h, krt_hash_str(ep->addrs[i], 0));
    return h;
}

/* Called only when the hashes are equal: confirms it, so a hash collision cannot hide a change. */
static bool ep_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const ep_endpoints_t *x = (const ep_endpoints_t *)a, *y = (const ep_endpoints_t *)b;
    if (strcmp(x->key, y->key) != 0 || x->naddrs != y->naddrs)
        return false;
    for (size_t i = 0; i < x->naddrs; i++)
        if (strcmp(x->addrs[i], y->addrs[i]) != 0)
            return false;
    return true;
}

static void ep_free(krt_obj_t *o)
{
    ep_endpoints_t *ep = (ep_endpoints_t *)o;
    for (size_t i = 0; i < ep->naddrs; i++)
        krt_free(ep->addrs[i]);
    krt_free(ep->addrs);
    krt_free(ep->key);
    krt_free(ep->ns);
    krt_free(ep);
}

static json_t *ep_dump(const krt_obj_t *o)
{
    const ep_endpoints_t *ep = (const ep_endpoints_t *)o;
    json_t *addrs = json_array();
    for (size_t i = 0; i < ep->naddrs; i++)
        json_array_append_new(addrs, json_string(ep->addrs[i]));
    return json_pack("{s:s, s:o}", "service", ep->key, "addresses", addrs);
}

static size_t ep_size(const krt_obj_t *o)
{
    const ep_endpoints_t *ep = (const ep_endpoints_t *)o;
    size_t n = sizeof *ep + strlen(ep->key) + 1 + strlen(ep->ns) + 1 + ep->naddrs * sizeof(char *);
    for (size_t i = 0; i < ep->naddrs; i++)
        n += strlen(ep->addrs[i]) + 1;
    return n;
}

/* Static storage: objects keep a pointer to their type for their whole life. */
static const krt_type_t ep_endpoints_type = {
    .name = "endpoints",
    .key = ep_key,
    .hash = ep_hash,
    .equals = ep_equals,
    .free = ep_free,
    .dump = ep_dump,
    .size = ep_size,
    .namespace_ = ep_namespace,
};

/* Orders "a.b.c.d:port" numerically (10.0.0.2 before 10.0.0.10), anything else bytewise. */
static int addr_cmp(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    unsigned x[5], y[5];
    if (sscanf(a, "%u.%u.%u.%u:%u", &x[0], &x[1], &x[2], &x[3], &x[4]) == 5 &&
        sscanf(b, "%u.%u.%u.%u:%u", &y[0], &y[1], &y[2], &y[3], &y[4]) == 5) {
        for (int i = 0; i < 5; i++)
            if (x[i] != y[i])
                return x[i] < y[i] ? -1 : 1;
        return 0;
    }
    return strcmp(a, b);
}

/* Builds a sealed endpoints object. Takes addrs (the array and its strings, also on error).
 * Returns: the object (owned by caller) or NULL on OOM. */
static const krt_obj_t *ep_endpoints_new(const char *key, const char *ns, char **addrs,
                                         size_t naddrs)
{
    ep_endpoints_t *ep = krt_calloc(1, sizeof *ep);
    if (ep) {
        ep->key = krt_strdup(key);
        ep->ns = krt_strdup(ns);
    }
    if (!ep || !ep->key || !ep->ns) {
        for (size_t i = 0; i < naddrs; i++)
            krt_free(addrs[i]);
        krt_free(addrs);
        if (ep) {
            krt_free(ep->key);
            krt_free(ep->ns);
            krt_free(ep);
        }
        return NULL;
    }
    qsort(addrs, naddrs, sizeof *addrs, addr_cmp);
    ep->addrs = addrs;
    ep->naddrs = naddrs;
    krt_obj_seal(&ep->base, &ep_endpoints_type);
    return &ep->base;
}

/* ---------------------------------------------------------------------------------------------
 * The transformation: Service → Endpoints.
 * ------------------------------------------------------------------------------------------- */

typedef struct ep_controller {
    krt_engine_t *engine;
    krt_collection_t *pods;
    krt_collection_t *services;
    krt_index_t *pods_by_ns;
    krt_collection_t *endpoints;
    unsigned flush_no; /* the flush being printed; set by run_flush */
} ep_controller_t;

/* A pod serves traffic when it has an IP and its Ready condition is "True". */
static bool pod_ready(const krt_obj_t *pod)
{
    const char *ip = krt_json_get_string(pod, "status.podIP");
    if (!ip || !*ip)
        return false;
    json_t *conds = json_object_get(json_object_get(krt_json_value(pod), "status"), "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *status = json_string_value(json_object_get(c, "status"));
        if (type && status && strcmp(type, "Ready") == 0)
            return strcmp(status, "True") == 0;
    }
    return false;
}

/* Resolves a Service port's target on |pod|: targetPort as a number, targetPort as the name of a
 * container port, or the port itself. Returns: the port, or 0 when a named port is not found. */
static long target_port(const krt_obj_t *pod, json_t *svc_port)
{
    json_t *target = json_object_get(svc_port, "targetPort");
    if (json_is_integer(target))
        return (long)json_integer_value(target);
    if (!json_is_string(target))
        return (long)json_integer_value(json_object_get(svc_port, "port"));
    json_t *containers =
        json_object_get(json_object_get(krt_json_value(pod), "spec"), "containers");
    size_t i, j;
    json_t *ctr, *p;
    json_array_foreach(containers, i, ctr)
    {
        json_array_foreach(json_object_get(ctr, "ports"), j, p)
        {
            const char *name = json_string_value(json_object_get(p, "name"));
            if (name && strcmp(name, json_string_value(target)) == 0)
                return (long)json_integer_value(json_object_get(p, "containerPort"));
        }
    }
    return 0;
}

/* Emits the endpoints of one Service. Reads pods only through krt_fetch, so that the engine records
 * which pods this Service depends on: the bucket of its namespace, narrowed by its selector. */
static int endpoints_transform(krt_ctx_t *ctx, const krt_obj_t *svc, void *ud)
{
    ep_controller_t *ctl = ud;
    krt_labels_t selector;
    /* Like Kubernetes: a Service without a selector has no managed endpoints. */
    if (!svc->type->selector || !svc->type->selector(svc, &selector) || selector.len == 0)
        return KRT_OK;

    const char *ns = krt_json_namespace(svc);
    krt_filter_t filter = {.index = ctl->pods_by_ns, .index_key = ns, .labels = &selector};
    const krt_obj_t *const *pods;
    size_t npods = krt_fetch(ctx, ctl->pods, &filter, &pods);

    json_t *ports = json_object_get(json_object_get(krt_json_value(svc), "spec"), "ports");
    size_t cap = npods * (json_array_size(ports) ? json_array_size(ports) : 1);
    char **addrs = krt_calloc(cap ? cap : 1, sizeof *addrs);
    if (!addrs)
        return KRT_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < npods; i++) {
        if (!pod_ready(pods[i]))
            continue;
        const char *ip = krt_json_get_string(pods[i], "status.podIP");
        size_t j;
        json_t *port;
        json_array_foreach(ports, j, port)
        {
            long p = target_port(pods[i], port);
            if (p <= 0)
                continue;
            char buf[128];
            snprintf(buf, sizeof buf, "%s:%ld", ip, p);
            if (!(addrs[n] = krt_strdup(buf))) {
                for (size_t k = 0; k < n; k++)
                    krt_free(addrs[k]);
                krt_free(addrs);
                return KRT_ENOMEM;
            }
            n++;
        }
    }
    const krt_obj_t *ep = ep_endpoints_new(krt_obj_key(svc), ns, addrs, n);
    if (!ep)
        return KRT_ENOMEM;
    return krt_emit(ctx, ep); /* takes ep */
}

/* ---------------------------------------------------------------------------------------------
 * The subscriber: one line per change.
 * ------------------------------------------------------------------------------------------- */

static void print_addrs(const krt_obj_t *o)
{
    const ep_endpoints_t *ep = (const ep_endpoints_t *)o;
    putchar('[');
    for (size_t i = 0; i < ep->naddrs; i++)
        printf("%s%s", i ? " " : "", ep->addrs[i]);
    putchar(']');
}

static void on_endpoints(const krt_batch_t *batch, void *ud)
{
    const ep_controller_t *ctl = ud;
    for (size_t i = 0; i < batch->len; i++) {
        const krt_event_t *ev = &batch->events[i];
        const krt_obj_t *o = krt_event_latest(ev);
        static const char ops[] = {[KRT_ADD] = '+', [KRT_UPDATE] = '~', [KRT_DELETE] = '-'};
        printf("flush %u: %c %s %s ", ctl->flush_no, ops[ev->op], o->type->name, krt_obj_key(o));
        print_addrs(o);
        if (ev->op == KRT_UPDATE) {
            printf(" (was ");
            print_addrs(ev->old);
            putchar(')');
        }
        putchar('\n');
    }
}

/* Flushes and reports what it cost the endpoints collection.
 * Returns: 0, or 1 when the flush reported an error or an engine invariant does not hold. */
static int run_flush(ep_controller_t *ctl, const char *what)
{
    krt_stats_t before, after;
    krt_collection_stats(ctl->endpoints, &before);
    ctl->flush_no = (unsigned)krt_engine_flushes(ctl->engine) + 1;
    printf("\n-- step %u: %s\n", ctl->flush_no, what);
    int rc = krt_engine_flush(ctl->engine);
    krt_collection_stats(ctl->endpoints, &after);
    printf("   endpoints: recomputed %llu of %zu services (%llu recomputes in all, %llu scans)\n",
           (unsigned long long)(after.recomputes - before.recomputes),
           krt_collection_len(ctl->services), (unsigned long long)after.recomputes,
           (unsigned long long)after.scans);
    if (rc != KRT_OK)
        fprintf(stderr, "endpoints: flush: %s\n", krt_strerror(rc));
    /* A debug check, cheap at this size; a real controller would run it in tests only. */
    if (krt_engine_check(ctl->engine) != KRT_OK) {
        fprintf(stderr, "endpoints: engine invariant violated after flush %u\n", ctl->flush_no);
        return 1;
    }
    return rc == KRT_OK ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------------
 * Loading manifests.
 * ------------------------------------------------------------------------------------------- */

/* Seals |value| as a JSON object and puts it into |dst|. Takes value. |where| names the source in
 * error messages. Returns 0, or -1 after reporting the problem. */
static int put_json(krt_collection_t *dst, json_t *value, const char *where)
{
    int err = KRT_OK;
    const krt_obj_t *obj = krt_json_new(value, &err); /* takes value */
    if (!obj) {
        fprintf(stderr, "endpoints: %s: rejected: %s\n", where,
                err == KRT_EINVAL ? "needs metadata.name, and a string name and namespace"
                                  : krt_strerror(err));
        return -1;
    }
    int rc = krt_static_put(dst, obj); /* takes obj */
    if (rc != KRT_OK) {
        fprintf(stderr, "endpoints: %s: put: %s\n", where, krt_strerror(rc));
        return -1;
    }
    return 0;
}

/* Puts one manifest into the collection its kind belongs to. Takes value.
 * Returns 0, or -1 after reporting the problem. */
static int load_value(ep_controller_t *ctl, json_t *value, const char *where)
{
    const char *kind = json_string_value(json_object_get(value, "kind"));
    krt_collection_t *dst = NULL;
    if (kind && strcmp(kind, "Pod") == 0)
        dst = ctl->pods;
    if (kind && strcmp(kind, "Service") == 0)
        dst = ctl->services;
    if (!dst) {
        fprintf(stderr, "endpoints: %s: skipping kind %s (only Pod and Service are read)\n", where,
                kind ? kind : "(none)");
        json_decref(value);
        return -1;
    }
    return put_json(dst, value, where);
}

/* Loads a document: one object, an array of objects, or a List ({"items": [...]}). Takes doc. */
static int load_document(ep_controller_t *ctl, json_t *doc, const char *where)
{
    json_t *items = json_is_array(doc) ? doc : json_object_get(doc, "items");
    if (!json_is_array(items))
        return load_value(ctl, doc, where);
    int failed = 0;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        char at[512];
        snprintf(at, sizeof at, "%s: item %zu", where, i);
        failed |= load_value(ctl, json_incref(item), at);
    }
    json_decref(doc);
    return failed ? -1 : 0;
}

static int dirent_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every *.json file of |dir|, in name order. Bad files are reported and skipped.
 * Returns: 0, or -1 when the directory cannot be read. */
static int load_dir(ep_controller_t *ctl, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "endpoints: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        if (!(names[n] = strdup(de->d_name)))
            break;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, dirent_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        json_error_t jerr;
        json_t *doc = json_load_file(path, 0, &jerr);
        if (!doc)
            fprintf(stderr, "endpoints: %s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
        else
            load_document(ctl, doc, path);
        free(names[i]);
    }
    free(names);
    return 0;
}

/* The built-in manifests. EP_JSON turns its tokens into a string literal, so the manifests read as
 * JSON here and reach the program as the JSON text a file would hold. */
#define EP_JSON(...) #__VA_ARGS__

// clang-format off
static const char *const builtin_manifests[] = {
    EP_JSON({"kind": "Service",
             "metadata": {"namespace": "default", "name": "web"},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
    EP_JSON({"kind": "Service",
             "metadata": {"namespace": "default", "name": "api"},
             "spec": {"selector": {"app": "api"},
                      "ports": [{"port": 9090, "targetPort": "grpc"}]}}),
    EP_JSON({"kind": "Service",
             "metadata": {"namespace": "shop", "name": "db"},
             "spec": {"selector": {"app": "db"}, "ports": [{"port": 5432}]}}),
    EP_JSON({"kind": "Pod",
             "metadata": {"namespace": "default", "name": "web-1", "labels": {"app": "web"}},
             "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}}),
    EP_JSON({"kind": "Pod",
             "metadata": {"namespace": "default", "name": "web-2", "labels": {"app": "web"}},
             "status": {"podIP": "10.0.0.2", "conditions": [{"type": "Ready", "status": "True"}]}}),
    /* Not scheduled yet: no IP, not ready. */
    EP_JSON({"kind": "Pod",
             "metadata": {"namespace": "default", "name": "web-3", "labels": {"app": "web"}},
             "status": {"phase": "Pending"}}),
    EP_JSON({"kind": "Pod",
             "metadata": {"namespace": "default", "name": "api-1", "labels": {"app": "api"}},
             "spec": {"containers": [{"name": "api",
                                      "ports": [{"name": "grpc", "containerPort": 7070}]}]},
             "status": {"podIP": "10.0.1.1", "conditions": [{"type": "Ready", "status": "True"}]}}),
    EP_JSON({"kind": "Pod",
             "metadata": {"namespace": "shop", "name": "db-1",
                          "labels": {"app": "db", "tier": "data"}},
             "status": {"podIP": "10.0.2.1", "conditions": [{"type": "Ready", "status": "True"}]}}),
    /* The web pods' labels in another namespace: the namespace index keeps it out of web. */
    EP_JSON({"kind": "Pod",
             "metadata": {"namespace": "shop", "name": "web-1", "labels": {"app": "web"}},
             "status": {"podIP": "10.0.2.9", "conditions": [{"type": "Ready", "status": "True"}]}}),
};
// clang-format on

static int load_builtin(ep_controller_t *ctl)
{
    for (size_t i = 0; i < sizeof builtin_manifests / sizeof *builtin_manifests; i++) {
        json_error_t jerr;
        json_t *doc = json_loads(builtin_manifests[i], 0, &jerr);
        char where[64];
        snprintf(where, sizeof where, "built-in manifest %zu", i);
        if (!doc) {
            fprintf(stderr, "endpoints: %s:%d: %s\n", where, jerr.column, jerr.text);
            return -1;
        }
        if (load_document(ctl, doc, where) != 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The scripted scenario. Objects are immutable: a change is a modified copy put in place of the
 * original. A copy is made from the JSON value, edited, and sealed again by krt_json_new.
 * ------------------------------------------------------------------------------------------- */

/* Returns: a deep copy of the JSON of |coll|'s object |key| (owned by caller). Aborts if missing:
 * the script only edits objects it loaded. */
static json_t *copy_of(krt_collection_t *coll, const char *key)
{
    const krt_obj_t *o = krt_collection_get(coll, key);
    json_t *v = o ? json_deep_copy(krt_json_value(o)) : NULL;
    if (!v) {
        fprintf(stderr, "endpoints: scenario: %s not found\n", key);
        exit(1);
    }
    return v;
}

/* Puts a scenario edit; an edit that fails is a bug in the script, so it stops the program. */
static void put_edit(krt_collection_t *coll, json_t *v)
{
    if (put_json(coll, v, "scenario") != 0)
        exit(1);
}

/* Sets a pod's IP and readiness. */
static void pod_set_ready(ep_controller_t *ctl, const char *key, const char *ip, bool ready)
{
    json_t *pod = copy_of(ctl->pods, key);
    json_t *status = json_pack("{s:s, s:[{s:s, s:s}]}", "podIP", ip, "conditions", "type", "Ready",
                               "status", ready ? "True" : "False");
    json_object_set_new(pod, "status", status);
    put_edit(ctl->pods, pod);
}

/* Returns: the number of steps that failed. */
static int run_scenario(ep_controller_t *ctl)
{
    int failures = 0;
    if (load_builtin(ctl) != 0)
        return 1;
    char what[128];
    snprintf(what, sizeof what, "initial load: %zu services, %zu pods",
             krt_collection_len(ctl->services), krt_collection_len(ctl->pods));
    failures += run_flush(ctl, what);

    pod_set_ready(ctl, "default/web-3", "10.0.0.3", true);
    failures += run_flush(ctl, "pod default/web-3 gets IP 10.0.0.3 and becomes ready");

    json_t *pod = copy_of(ctl->pods, "default/web-1");
    json_object_set_new(json_object_get(pod, "metadata"), "labels",
                        json_pack("{s:s}", "app", "canary"));
    put_edit(ctl->pods, pod);
    failures += run_flush(ctl, "pod default/web-1 is relabelled app=canary");

    json_t *svc = copy_of(ctl->services, "default/api");
    json_t *spec = json_object_get(svc, "spec");
    json_object_set_new(spec, "selector", json_pack("{s:s}", "app", "canary"));
    json_object_set_new(spec, "ports", json_pack("[{s:i}]", "port", 8080));
    put_edit(ctl->services, svc);
    failures += run_flush(ctl, "service default/api now selects app=canary on port 8080");

    krt_static_delete(ctl->pods, "default/web-2");
    /* No Service selects api-1 any more: deleting it recomputes nothing. */
    krt_static_delete(ctl->pods, "default/api-1");
    failures += run_flush(ctl, "pods default/web-2 and default/api-1 are deleted");

    /* Fifty changes before one flush: the pod's last state is what counts, and it costs one
     * recompute of the one Service that selects it. */
    char ip[32];
    for (int i = 0; i < 50; i++) {
        snprintf(ip, sizeof ip, "10.0.3.%d", i + 1);
        pod_set_ready(ctl, "default/web-3", ip, i % 2 == 1);
    }
    failures +=
        run_flush(ctl, "a burst: pod default/web-3 changes 50 times, ends at 10.0.3.50, ready");

    krt_static_delete(ctl->services, "shop/db");
    failures += run_flush(ctl, "service shop/db is deleted");

    char *dot = krt_engine_dot(ctl->engine);
    if (dot) {
        printf("\n-- the engine's collection graph (Graphviz DOT)\n%s", dot);
        krt_free(dot);
    }
    return failures;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr,
                "usage: %s [DIR]\n"
                "  without DIR: play the built-in scenario\n"
                "  with DIR: load DIR/*.json (Pods and Services) and print their endpoints\n",
                argv[0]);
        return argc > 2 ? 2 : 0;
    }

    ep_controller_t ctl = {.engine = krt_engine_new()};
    if (!ctl.engine)
        return 1;
    ctl.pods = krt_static_new(ctl.engine, &krt_json_type, "pods", true);
    ctl.services = krt_static_new(ctl.engine, &krt_json_type, "services", true);
    ctl.pods_by_ns = ctl.pods ? krt_index_namespace(ctl.pods) : NULL;
    /* Created after pods and services: a collection may only read collections created before it. */
    ctl.endpoints = ctl.services && ctl.pods_by_ns
                        ? krt_derive_new(ctl.engine, ctl.services, &ep_endpoints_type, "endpoints",
                                         KRT_DERIVE_ONE, endpoints_transform, &ctl)
                        : NULL;
    if (!ctl.endpoints || !krt_collection_subscribe(ctl.endpoints, on_endpoints, &ctl, true)) {
        fprintf(stderr, "endpoints: cannot build the collections (out of memory?)\n");
        krt_engine_free(ctl.engine);
        return 1;
    }

    int rc;
    if (argc == 2) {
        rc = load_dir(&ctl, argv[1]);
        char what[512];
        snprintf(what, sizeof what, "load %s", argv[1]);
        if (rc == 0)
            rc = run_flush(&ctl, what);
    } else {
        rc = run_scenario(&ctl);
    }
    krt_engine_free(ctl.engine); /* frees collections, handlers, index and every object */
    return rc == 0 ? 0 : 1;
}
