/*
 * The deployer (see kube/deployer.h): the desired proxy objects of each Gateway as a krt derived
 * collection, and the applier that makes the API server hold them (sans-IO; run on a loop by the
 * pump of api_pump.h, which the status writer shares).
 *
 * Key decision: the desired objects are computed by a pure krt transformation (Gateway, its class
 * and their parameters fetched by key), so a parameter change recomputes exactly the Gateways that
 * use it and the applier sees only objects whose content changed. The applier compares what it
 * reads with what we want field by field ("covers": every field we set has our value; fields the
 * API server or other controllers add are left alone) and writes only on a difference, with a JSON
 * merge patch of our fields. The alternative rejected: server-side apply on every change — simpler
 * to state, but it writes (and bumps resourceVersion / generation) even when nothing differs, and
 * needs the full managed-fields dance for overlays users remove.
 *
 * INVARIANTS
 *  D1 the applier's entry is on |ready| iff it has work and no request in flight
 *  D2 an entry with no work and no request in flight is freed
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utlist.h>
#include <uthash.h>

#include "krt/json.h"
#include "kube/deployer.h"

#include "api_pump.h"

#define DEFAULT_CONTROLLER "agentgateway.dev/agentgateway"
#define DEFAULT_XDS "krtgate.krtgate-system.svc:9978"
#define DEFAULT_IMAGE "ghcr.io/krtgate/krtgate:latest"
#define DEFAULT_AUDIENCE "agentgateway"
#define TOKEN_DIR "/var/run/secrets/tokens"
#define ADMIN_PORT 15021

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* ---------------------------------------------------------------------------------------------
 * The desired-object type.
 * ------------------------------------------------------------------------------------------- */
typedef struct desired {
    krt_obj_t base;
    char *key;
    char *canon; /* compact, sorted keys: what hash and equality read */
    json_t *obj;
} desired_t;

static const char *desired_key(const krt_obj_t *o)
{
    return ((const desired_t *)o)->key;
}

static uint64_t desired_hash(const krt_obj_t *o)
{
    return krt_hash_str(((const desired_t *)o)->canon, 0x6465706c6f79ull);
}

static bool desired_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    return strcmp(((const desired_t *)a)->canon, ((const desired_t *)b)->canon) == 0;
}

static void desired_free(krt_obj_t *o)
{
    desired_t *d = (desired_t *)o;
    json_decref(d->obj);
    free(d->key);
    free(d->canon);
    free(d);
}

static json_t *desired_dump(const krt_obj_t *o)
{
    return json_incref(((const desired_t *)o)->obj);
}

const krt_type_t kube_desired_type = {
    .name = "kube_desired",
    .key = desired_key,
    .hash = desired_hash,
    .equals = desired_equals,
    .free = desired_free,
    .dump = desired_dump,
};

json_t *kube_desired_json(const krt_obj_t *o)
{
    return o && o->type == &kube_desired_type ? ((const desired_t *)o)->obj : NULL;
}

const krt_obj_t *kube_desired_new(json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    const char *kind = jstr(obj, "kind"), *ns = jstr(meta, "namespace"), *name = jstr(meta, "name");
    desired_t *d = calloc(1, sizeof *d);
    if (!d || !*kind || !*name) {
        free(d);
        json_decref(obj);
        return NULL;
    }
    size_t n = strlen(kind) + strlen(ns) + strlen(name) + 3;
    d->key = malloc(n);
    d->canon = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (!d->key || !d->canon) {
        free(d->key);
        free(d->canon);
        free(d);
        json_decref(obj);
        return NULL;
    }
    snprintf(d->key, n, "%s/%s/%s", kind, ns, name);
    d->obj = obj;
    krt_obj_seal(&d->base, &kube_desired_type);
    return &d->base;
}

/* ---------------------------------------------------------------------------------------------
 * Rendering.
 * ------------------------------------------------------------------------------------------- */
static json_t *labels_for(const json_t *gw, const char *class_name)
{
    const char *name = jstr(json_object_get(gw, "metadata"), "name");
    json_t *l = json_pack("{s:s,s:s,s:s,s:s,s:s}", "app.kubernetes.io/name", name,
                          "app.kubernetes.io/instance", name,
                          "gateway.networking.k8s.io/gateway-name", name,
                          "gateway.networking.k8s.io/gateway-class-name", class_name,
                          "app.kubernetes.io/managed-by", "krtgate");
    /* spec.infrastructure.labels go on everything we create */
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(json_object_get(gw, "spec"),
                                                        "infrastructure"), "labels"), k, v)
        if (json_is_string(v) && !json_object_get(l, k))
            json_object_set(l, k, v);
    return l;
}

static json_t *selector_for(const json_t *gw)
{
    const char *name = jstr(json_object_get(gw, "metadata"), "name");
    return json_pack("{s:s,s:s,s:s}", "app.kubernetes.io/name", name, "app.kubernetes.io/instance",
                     name, "gateway.networking.k8s.io/gateway-name", name);
}

static json_t *metadata_for(const json_t *gw, const char *class_name)
{
    json_t *gm = json_object_get(gw, "metadata");
    json_t *m = json_pack("{s:s,s:s,s:o}", "name", jstr(gm, "name"), "namespace",
                          jstr(gm, "namespace"), "labels", labels_for(gw, class_name));
    json_t *ann = json_object_get(json_object_get(json_object_get(gw, "spec"), "infrastructure"),
                                  "annotations");
    if (json_is_object(ann) && json_object_size(ann))
        json_object_set_new(m, "annotations", json_deep_copy(ann)); /* overlays edit it */
    if (*jstr(gm, "uid"))
        json_object_set_new(m, "ownerReferences",
                            json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion",
                                      "gateway.networking.k8s.io/v1", "kind", "Gateway", "name",
                                      jstr(gm, "name"), "uid", jstr(gm, "uid"), "controller", 1,
                                      "blockOwnerDeletion", 1));
    return m;
}

/* RFC 7386 merge of |patch| into |target| (both objects), in place. */
static void merge_into(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v)) {
            json_t *t = json_object_get(target, k);
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(target, k, t);
            }
            merge_into(t, v);
        } else {
            json_object_set(target, k, v);
        }
    }
}

static void overlay(json_t *obj, const json_t *params, const char *field)
{
    json_t *ov = json_object_get(json_object_get(params, "spec"), field);
    if (!json_is_object(ov))
        return;
    json_t *om = json_object_get(ov, "metadata");
    json_t *meta = json_object_get(obj, "metadata");
    static const char *const maps[] = {"labels", "annotations"};
    for (size_t i = 0; i < 2; i++) {
        json_t *src = json_object_get(om, maps[i]);
        if (!json_is_object(src))
            continue;
        json_t *dst = json_object_get(meta, maps[i]);
        if (!dst) {
            dst = json_object();
            json_object_set_new(meta, maps[i], dst);
        }
        merge_into(dst, src);
    }
    json_t *spec = json_object_get(ov, "spec");
    if (json_is_object(spec)) {
        json_t *dst = json_object_get(obj, "spec");
        if (!dst) {
            dst = json_object();
            json_object_set_new(obj, "spec", dst);
        }
        merge_into(dst, spec);
    }
}

static char *image_of(const json_t *img, const char *dflt)
{
    /* image fields override the default image's parts */
    char reg[256] = "", repo[256] = "", tag[128] = "", dig[160] = "";
    const char *d = dflt;
    const char *slash = strchr(d, '/');
    const char *colon = strrchr(d, ':');
    if (slash && colon && colon > slash) {
        snprintf(reg, sizeof reg, "%.*s", (int)(slash - d), d);
        snprintf(repo, sizeof repo, "%.*s", (int)(colon - slash - 1), slash + 1);
        snprintf(tag, sizeof tag, "%s", colon + 1);
    } else {
        snprintf(repo, sizeof repo, "%s", d);
    }
    if (*jstr(img, "registry"))
        snprintf(reg, sizeof reg, "%s", jstr(img, "registry"));
    if (*jstr(img, "repository"))
        snprintf(repo, sizeof repo, "%s", jstr(img, "repository"));
    if (*jstr(img, "tag"))
        snprintf(tag, sizeof tag, "%s", jstr(img, "tag"));
    if (*jstr(img, "digest"))
        snprintf(dig, sizeof dig, "%s", jstr(img, "digest"));
    size_t n = strlen(reg) + strlen(repo) + strlen(tag) + strlen(dig) + 4;
    char *s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "%s%s%s%s%s%s", reg, *reg ? "/" : "", repo, *dig ? "@" : (*tag ? ":" : ""),
             *dig ? dig : tag, "");
    return s;
}

/* Appends |env| entries to |list|, replacing ours of the same name. */
static void env_merge(json_t *list, const json_t *env)
{
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e) {
        const char *name = jstr(e, "name");
        if (!*name)
            continue;
        size_t j;
        json_t *x;
        bool replaced = false;
        json_array_foreach(list, j, x) if (strcmp(jstr(x, "name"), name) == 0)
        {
            json_array_set(list, j, e);
            replaced = true;
            break;
        }
        if (!replaced)
            json_array_append(list, e);
    }
}

static int cmp_port(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

json_t *kube_deployer_render(const json_t *gw, const json_t *gclass, const json_t *class_params,
                             const json_t *gw_params, const kube_deployer_options_t *opts,
                             char *err, size_t cap)
{
    kube_deployer_options_t o = {0};
    if (opts)
        o = *opts;
    const char *controller = o.controller_name ? o.controller_name : DEFAULT_CONTROLLER;
    json_t *gm = json_object_get(gw, "metadata");
    json_t *gs = json_object_get(gw, "spec");
    const char *name = jstr(gm, "name"), *ns = jstr(gm, "namespace");
    if (!*name || !*ns) {
        snprintf(err, cap, "Gateway without metadata.name or metadata.namespace");
        return NULL;
    }
    if (!gclass || strcmp(jstr(json_object_get(gclass, "spec"), "controllerName"), controller)) {
        snprintf(err, cap, "Gateway %s/%s: class %s is not ours", ns, name,
                 jstr(gs, "gatewayClassName"));
        return NULL;
    }
    const char *class_name = jstr(json_object_get(gclass, "metadata"), "name");
    const json_t *plist[2] = {class_params, gw_params};

    /* ports: unique listener ports, sorted, without the proxy's own */
    long ports[64];
    size_t np = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(gs, "listeners"), i, l) {
        json_int_t p = json_integer_value(json_object_get(l, "port"));
        if (p <= 0 || p > 65535 || p == 15000 || p == 15020 || p == ADMIN_PORT)
            continue;
        bool seen = false;
        for (size_t j = 0; j < np; j++)
            seen |= ports[j] == p;
        if (!seen && np < sizeof ports / sizeof ports[0])
            ports[np++] = (long)p;
    }
    if (np == 0)
        ports[np++] = 443; /* a Service needs a port: agentgateway's dummy */
    qsort(ports, np, sizeof ports[0], cmp_port);

    json_t *out = json_array();

    /* ServiceAccount: the proxy's xDS identity (TokenReview checks it is the Gateway's) */
    json_t *sa = json_pack("{s:s,s:s,s:o,s:b}", "apiVersion", "v1", "kind", "ServiceAccount",
                           "metadata", metadata_for(gw, class_name),
                           "automountServiceAccountToken", 0);
    for (size_t k = 0; k < 2; k++)
        overlay(sa, plist[k], "serviceAccount");
    json_array_append_new(out, sa);

    /* Service */
    json_t *sports = json_array();
    json_t *cports = json_array();
    for (size_t k = 0; k < np; k++) {
        char pname[32];
        snprintf(pname, sizeof pname, "listener-%ld", ports[k]);
        json_array_append_new(sports, json_pack("{s:s,s:I,s:s,s:I}", "name", pname, "port",
                                                (json_int_t)ports[k], "protocol", "TCP",
                                                "targetPort", (json_int_t)ports[k]));
        json_array_append_new(cports, json_pack("{s:s,s:I,s:s}", "name", pname, "containerPort",
                                                (json_int_t)ports[k], "protocol", "TCP"));
    }
    json_t *sspec = json_pack("{s:s,s:o,s:o}", "type", "LoadBalancer", "selector",
                              selector_for(gw), "ports", sports);
    json_array_foreach(json_object_get(gs, "addresses"), i, l) {
        const char *t = jstr(l, "type");
        if ((!*t || !strcmp(t, "IPAddress")) && *jstr(l, "value")) {
            json_object_set_new(sspec, "loadBalancerIP", json_string(jstr(l, "value")));
            break;
        }
    }
    json_t *svc = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Service", "metadata",
                            metadata_for(gw, class_name), "spec", sspec);
    for (size_t k = 0; k < 2; k++)
        overlay(svc, plist[k], "service");
    json_array_append_new(out, svc);

    /* Deployment: typed parameters class first, Gateway over it */
    json_t *image = json_object(); /* field by field: class, then Gateway */
    const json_t *resources = NULL;
    const char *level = NULL;
    json_int_t grace = 0;
    json_t *extra_env = json_array();
    for (size_t k = 0; k < 2; k++) {
        json_t *ps = json_object_get(plist[k], "spec");
        if (json_is_object(json_object_get(ps, "image")))
            merge_into(image, json_object_get(ps, "image"));
        if (json_is_object(json_object_get(ps, "resources")))
            resources = json_object_get(ps, "resources");
        if (*jstr(json_object_get(ps, "logging"), "level"))
            level = jstr(json_object_get(ps, "logging"), "level");
        json_int_t mx = json_integer_value(json_object_get(json_object_get(ps, "shutdown"), "max"));
        if (mx > 0)
            grace = mx;
        env_merge(extra_env, json_object_get(ps, "env"));
    }
    char *img = image_of(image, o.proxy_image ? o.proxy_image : DEFAULT_IMAGE);
    char pull[32];
    snprintf(pull, sizeof pull, "%s", jstr(image, "pullPolicy"));
    json_decref(image);
    char gwref[512], admin[32];
    snprintf(gwref, sizeof gwref, "%s/%s", ns, name);
    snprintf(admin, sizeof admin, "0.0.0.0:%d", ADMIN_PORT);
    json_t *env = json_pack(
        "[{s:s,s:{s:{s:s}}},{s:s,s:{s:{s:s}}},{s:s,s:s}]", "name", "NAMESPACE", "valueFrom",
        "fieldRef", "fieldPath", "metadata.namespace", "name", "POD_NAME", "valueFrom", "fieldRef",
        "fieldPath", "metadata.name", "name", "GATEWAY", "value", name);
    if (level)
        json_array_append_new(env, json_pack("{s:s,s:s}", "name", "LOG_LEVEL", "value", level));
    env_merge(env, extra_env);
    json_decref(extra_env);
    json_array_append_new(cports, json_pack("{s:s,s:i,s:s}", "name", "admin", "containerPort",
                                            ADMIN_PORT, "protocol", "TCP"));
    json_t *probe_ready = json_pack("{s:{s:s,s:s},s:i,s:i}", "httpGet", "path", "/readyz", "port",
                                    "admin", "periodSeconds", 5, "failureThreshold", 3);
    json_t *probe_live = json_pack("{s:{s:s,s:s},s:i,s:i}", "httpGet", "path", "/healthz", "port",
                                   "admin", "periodSeconds", 10, "failureThreshold", 6);
    json_t *container = json_pack(
        "{s:s,s:s,s:[s],s:[s,s,s,s,s,s,s,s,s],s:o,s:o,s:[{s:s,s:s,s:b}],s:o,s:o,"
        "s:{s:b,s:b,s:b,s:i,s:{s:[s]}}}",
        "name", "agentgateway", "image", img ? img : DEFAULT_IMAGE, "command", "krtgate", "args",
        "proxy", "--xds", o.xds_address ? o.xds_address : DEFAULT_XDS, "--gateway", gwref,
        "--token-file", TOKEN_DIR "/xds-token", "--admin-listen", admin, "ports", cports, "env",
        env, "volumeMounts", "name", "xds-token", "mountPath", TOKEN_DIR, "readOnly", 1,
        "readinessProbe", probe_ready, "livenessProbe", probe_live, "securityContext",
        "runAsNonRoot", 1, "readOnlyRootFilesystem", 1, "allowPrivilegeEscalation", 0,
        "runAsUser", 10101, "capabilities", "drop", "ALL");
    free(img);
    if (resources)
        json_object_set_new(container, "resources", json_deep_copy(resources));
    if (*pull)
        json_object_set_new(container, "imagePullPolicy", json_string(pull));
    json_t *pod_labels = labels_for(gw, class_name);
    json_t *pspec = json_pack(
        "{s:s,s:[o],s:[{s:s,s:{s:[{s:{s:s,s:I,s:s}}]}}],s:{s:[{s:s,s:s}]}}",
        "serviceAccountName", name, "containers", container, "volumes", "name", "xds-token",
        "projected", "sources", "serviceAccountToken", "audience",
        o.xds_audience ? o.xds_audience : DEFAULT_AUDIENCE, "expirationSeconds",
        (json_int_t)3600, "path", "xds-token", "securityContext", "sysctls", "name",
        "net.ipv4.ip_unprivileged_port_start", "value", "0");
    if (grace > 0)
        json_object_set_new(pspec, "terminationGracePeriodSeconds", json_integer(grace));
    json_t *dep = json_pack("{s:s,s:s,s:o,s:{s:i,s:{s:o},s:{s:{s:o},s:o}}}", "apiVersion",
                            "apps/v1", "kind", "Deployment", "metadata",
                            metadata_for(gw, class_name), "spec", "replicas", 1, "selector",
                            "matchLabels", selector_for(gw), "template", "metadata", "labels",
                            pod_labels, "spec", pspec);
    for (size_t k = 0; k < 2; k++)
        overlay(dep, plist[k], "deployment");
    json_array_append_new(out, dep);
    if (!out || json_array_size(out) != 3 || !sa || !svc || !dep) {
        json_decref(out);
        snprintf(err, cap, "Gateway %s/%s: out of memory rendering", ns, name);
        return NULL;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * The krt collection.
 * ------------------------------------------------------------------------------------------- */
typedef struct dctx {
    kube_deployer_options_t o;
    char *strs[5];
    krt_collection_t *classes, *params;
} dctx_t;

static const krt_obj_t *fetch_params(krt_ctx_t *ctx, dctx_t *d, const json_t *ref,
                                     const char *dflt_ns)
{
    if (!json_is_object(ref) || strcmp(jstr(ref, "kind"), "AgentgatewayParameters") != 0 ||
        strcmp(jstr(ref, "group"), "agentgateway.dev") != 0 || !*jstr(ref, "name"))
        return NULL;
    const char *ns = *jstr(ref, "namespace") ? jstr(ref, "namespace") : dflt_ns;
    if (!ns || !*ns)
        return NULL;
    char key[512];
    snprintf(key, sizeof key, "%s/%s", ns, jstr(ref, "name"));
    return krt_fetch_key(ctx, d->params, key);
}

static int transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    dctx_t *d = ud;
    json_t *gw = krt_json_value(in);
    const char *cls = jstr(json_object_get(gw, "spec"), "gatewayClassName");
    if (!*cls)
        return KRT_OK;
    const krt_obj_t *gc = krt_fetch_key(ctx, d->classes, cls);
    if (!gc)
        return KRT_OK;
    json_t *gcj = krt_json_value(gc);
    const char *controller = d->o.controller_name ? d->o.controller_name : DEFAULT_CONTROLLER;
    if (strcmp(jstr(json_object_get(gcj, "spec"), "controllerName"), controller) != 0)
        return KRT_OK;
    const krt_obj_t *cp = fetch_params(ctx, d, json_object_get(json_object_get(gcj, "spec"),
                                                               "parametersRef"), NULL);
    const krt_obj_t *gp = fetch_params(
        ctx, d,
        json_object_get(json_object_get(json_object_get(gw, "spec"), "infrastructure"),
                        "parametersRef"),
        krt_json_namespace(in));
    char err[256];
    json_t *objs = kube_deployer_render(gw, gcj, cp ? krt_json_value(cp) : NULL,
                                        gp ? krt_json_value(gp) : NULL, &d->o, err, sizeof err);
    if (!objs)
        return KRT_OK;
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o) {
        const krt_obj_t *dobj = kube_desired_new(json_incref(o));
        if (dobj)
            krt_emit(ctx, dobj);
    }
    json_decref(objs);
    return KRT_OK;
}

struct kube_deployer {
    dctx_t d;
    krt_collection_t *desired;
};

kube_deployer_t *kube_deployer_new(krt_engine_t *e, krt_collection_t *gateways,
                                   krt_collection_t *classes, krt_collection_t *params,
                                   const kube_deployer_options_t *opts)
{
    kube_deployer_t *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    dctx_t *d = &k->d;
    if (opts)
        d->o = *opts;
    const char **fields[] = {&d->o.controller_name, &d->o.xds_address, &d->o.proxy_image,
                             &d->o.xds_audience, &d->o.name};
    for (size_t i = 0; i < 5; i++) {
        if (*fields[i]) {
            d->strs[i] = strdup(*fields[i]);
            *fields[i] = d->strs[i];
            if (!d->strs[i]) {
                kube_deployer_free(k);
                return NULL;
            }
        }
    }
    d->classes = classes;
    d->params = params;
    k->desired = krt_derive_new(e, gateways, &kube_desired_type,
                                d->o.name ? d->o.name : "deployer/desired", KRT_DERIVE_MANY,
                                transform, d);
    if (!k->desired) {
        kube_deployer_free(k);
        return NULL;
    }
    return k;
}

krt_collection_t *kube_deployer_desired(const kube_deployer_t *k)
{
    return k->desired;
}

void kube_deployer_free(kube_deployer_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < 5; i++)
        free(k->d.strs[i]);
    free(k);
}

/* ---------------------------------------------------------------------------------------------
 * The applier.
 * ------------------------------------------------------------------------------------------- */
typedef enum phase { PH_GET = 0, PH_CREATE, PH_PATCH, PH_DELETE } phase_t;

typedef struct aentry {
    char *key;
    json_t *want; /* NULL: delete */
    char path[512];      /* the object */
    char coll_path[512]; /* its collection, for POST */
    phase_t phase;
    json_t *patch;
    bool work, in_flight;
    bool dirty; /* offered again while a request was in flight */
    kube_retry_t retry;
    uint64_t id;
    struct aentry *prev, *next;
    UT_hash_handle hh;
} aentry_t;

struct kube_applier {
    kube_bucket_t bucket;
    uint64_t backoff_base, backoff_max;
    char *field_manager;
    krt_log_cb log;
    void *log_ud;
    aentry_t *by_key, *ready, *flight;
    uint64_t next_id;
    bool active;
    char *body;
    krt_handler_t *h;
    kube_applier_stats_t st;
    kube__pump_t pump; /* the libuv adapter */
};

static void alog(kube_applier_t *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void alog(kube_applier_t *a, int level, const char *fmt, ...)
{
    if (!a->log)
        return;
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    a->log(level, buf, a->log_ud);
}

static const char *api_version_of(const char *kind)
{
    return strcmp(kind, "Deployment") == 0 ? "apps/v1" : "v1";
}

/* Paths from a key "Kind/ns/name". */
static bool paths_of(const char *key, char *path, char *coll, size_t cap)
{
    char kind[64], ns[256], name[256];
    const char *s1 = strchr(key, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s2 || (size_t)(s1 - key) >= sizeof kind || (size_t)(s2 - s1 - 1) >= sizeof ns ||
        strlen(s2 + 1) >= sizeof name)
        return false;
    snprintf(kind, sizeof kind, "%.*s", (int)(s1 - key), key);
    snprintf(ns, sizeof ns, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
    snprintf(name, sizeof name, "%s", s2 + 1);
    const char *plural = kube_api_plural(kind);
    return plural &&
           kube_api_path(path, cap, api_version_of(kind), plural, ns, name, NULL) > 0 &&
           kube_api_path(coll, cap, api_version_of(kind), plural, ns, NULL, NULL) > 0;
}

static void aentry_free(kube_applier_t *a, aentry_t *e)
{
    HASH_DEL(a->by_key, e);
    json_decref(e->want);
    json_decref(e->patch);
    free(e->key);
    free(e);
}

static void aschedule(kube_applier_t *a);

int kube_applier_offer(kube_applier_t *a, const char *key, json_t *obj)
{
    aentry_t *e = NULL;
    HASH_FIND_STR(a->by_key, key, e);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->key = strdup(key))) {
            free(e);
            return KUBE_ENOMEM;
        }
        if (!paths_of(key, e->path, e->coll_path, sizeof e->path)) {
            free(e->key);
            free(e);
            return KUBE_EINVAL;
        }
        HASH_ADD_KEYPTR(hh, a->by_key, e->key, strlen(e->key), e);
    }
    json_decref(e->want);
    e->want = obj ? json_incref(obj) : NULL;
    kube_retry_reset(&e->retry);
    if (e->in_flight) {
        e->dirty = true; /* the answer is about the previous want: start over after it */
    } else {
        json_decref(e->patch);
        e->patch = NULL;
        e->phase = obj ? PH_GET : PH_DELETE;
    }
    if (!e->work) {
        e->work = true;
        if (!e->in_flight)
            DL_APPEND(a->ready, e);
    }
    aschedule(a);
    return KUBE_OK;
}

static char *with_manager(kube_applier_t *a, const char *path, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s?fieldManager=%s", path, a->field_manager);
    /* No room for the parameter (a path near the cap): the manager is optional for these verbs
     * (the API server names one from the user agent), a cut path is not. */
    if (n < 0 || (size_t)n >= cap)
        snprintf(buf, cap, "%s", path);
    return buf;
}

kube_apply_next_t kube_applier_next(kube_applier_t *a, uint64_t now_ms, kube_apply_req_t *req)
{
    free(a->body);
    a->body = NULL;
    memset(req, 0, sizeof *req);
    if (!a->active)
        return KUBE_APPLY_IDLE;
    uint64_t wait = UINT64_MAX;
    aentry_t *e;
    DL_FOREACH(a->ready, e) {
        if (!kube_retry_due(&e->retry, now_ms, &wait))
            continue;
        uint64_t bw = kube_bucket_take(&a->bucket, now_ms);
        if (bw) {
            req->wait_ms = bw;
            return KUBE_APPLY_WAIT;
        }
        switch (e->phase) {
        case PH_GET:
            req->method = "GET";
            snprintf(req->path, sizeof req->path, "%s", e->path);
            a->st.gets++;
            break;
        case PH_CREATE:
            req->method = "POST";
            with_manager(a, e->coll_path, req->path, sizeof req->path);
            req->content_type = "application/json";
            a->body = json_dumps(e->want, JSON_COMPACT | JSON_SORT_KEYS);
            a->st.creates++;
            break;
        case PH_PATCH:
            req->method = "PATCH";
            with_manager(a, e->path, req->path, sizeof req->path);
            req->content_type = "application/merge-patch+json";
            a->body = json_dumps(e->patch, JSON_COMPACT | JSON_SORT_KEYS);
            a->st.patches++;
            break;
        case PH_DELETE:
            req->method = "DELETE";
            snprintf(req->path, sizeof req->path, "%s", e->path);
            a->st.deletes++;
            break;
        }
        if (a->body) {
            req->body = a->body;
            req->len = strlen(a->body);
        }
        DL_DELETE(a->ready, e);
        DL_APPEND(a->flight, e);
        e->in_flight = true;
        e->id = ++a->next_id;
        req->id = e->id;
        return KUBE_APPLY_SEND;
    }
    if (wait == UINT64_MAX)
        return KUBE_APPLY_IDLE;
    req->wait_ms = wait;
    return KUBE_APPLY_WAIT;
}

static void aretry(kube_applier_t *a, aentry_t *e, uint64_t now_ms)
{
    kube_retry_later(&e->retry, now_ms, a->backoff_base, a->backoff_max);
}

/* A desired object is in place when the object covers every field we set, and our labels and
 * owner references are there. */
static bool in_place(const json_t *cur, const json_t *want)
{
    return kube_json_covers(cur, want);
}

void kube_applier_done(kube_applier_t *a, uint64_t id, int err, const kube_response_t *resp,
                       uint64_t now_ms)
{
    aentry_t *e = NULL;
    DL_FOREACH(a->flight, e) if (e->id == id) break;
    if (!e)
        return;
    DL_DELETE(a->flight, e);
    e->in_flight = false;
    int status = err == KUBE_OK && resp ? resp->status : 0;
    char msg[300];
    bool finished = false;
    if (e->dirty) {
        e->dirty = false;
        json_decref(e->patch);
        e->patch = NULL;
        e->phase = e->want ? PH_GET : PH_DELETE;
    } else if (status >= 200 && status < 300) {
        if (e->phase == PH_GET) {
            json_t *cur = resp->body ? json_loadb(resp->body, resp->len, 0, NULL) : NULL;
            if (cur && in_place(cur, e->want)) {
                a->st.unchanged++;
                finished = true;
            } else {
                json_decref(e->patch);
                bool oom = false;
                e->patch = cur ? kube_merge_patch(cur, e->want, false, &oom) : NULL;
                if (e->patch)
                    e->phase = PH_PATCH;
                else if (oom || !cur)
                    aretry(a, e, now_ms);
                else
                    finished = true; /* covers said no, but nothing to patch: arrays differ only
                                        in order-insensitive ways we do not write */
            }
            json_decref(cur);
        } else {
            finished = true;
        }
    } else if (status == 404 && e->phase == PH_GET) {
        e->phase = PH_CREATE;
    } else if (status == 404 && e->phase == PH_DELETE) {
        finished = true;
    } else if (status == 409) {
        /* AlreadyExists on create, or a conflict: read again */
        a->st.conflicts++;
        e->phase = e->want ? PH_GET : PH_DELETE;
        aretry(a, e, now_ms);
    } else if (status == 400 || status == 422 || status == 403) {
        a->st.errors++;
        alog(a, 2, "deployer %s: %s", e->key, kube_api_status_message(resp, msg, sizeof msg));
        e->phase = e->want ? PH_GET : PH_DELETE;
        aretry(a, e, now_ms); /* slowly: RBAC or a webhook may be fixed */
    } else {
        a->st.errors++;
        alog(a, 1, "deployer %s: %s; retrying", e->key,
             err != KUBE_OK ? kube_strerror(err) : kube_api_status_message(resp, msg, sizeof msg));
        if (e->phase == PH_PATCH || e->phase == PH_CREATE)
            e->phase = PH_GET;
        aretry(a, e, now_ms);
    }
    if (finished) {
        e->work = false;
        aentry_free(a, e);
    } else {
        DL_APPEND(a->ready, e);
    }
    aschedule(a);
}

void kube_applier_activate(kube_applier_t *a, bool active)
{
    a->active = active;
}

static void on_desired(const krt_batch_t *batch, void *ud)
{
    kube_applier_t *a = ud;
    for (size_t i = 0; i < batch->len; i++) {
        const krt_event_t *ev = &batch->events[i];
        const krt_obj_t *o = krt_event_latest(ev);
        int rc = kube_applier_offer(a, krt_obj_key(o), ev->cur ? kube_desired_json(ev->cur) : NULL);
        if (rc != KUBE_OK)
            alog(a, 2, "deployer %s: %s", krt_obj_key(o), kube_strerror(rc));
    }
}

int kube_applier_watch(kube_applier_t *a, krt_collection_t *desired)
{
    if (!desired)
        return KUBE_EINVAL;
    if (a->h)
        return KUBE_ESTATE;
    a->h = krt_collection_subscribe(desired, on_desired, a, true);
    return a->h ? KUBE_OK : KUBE_ENOMEM;
}

static kube_api_next_t pump_next(void *a, uint64_t now_ms, kube_api_req_t *req)
{
    return (kube_api_next_t)kube_applier_next(a, now_ms, req);
}

static void pump_done(void *a, uint64_t id, int err, const kube_response_t *resp, uint64_t now_ms)
{
    kube_applier_done(a, id, err, resp, now_ms);
}

kube_applier_t *kube_applier_new(kube_api_t api, const kube_applier_options_t *opts)
{
    kube_applier_options_t o = {0};
    if (opts)
        o = *opts;
    kube_applier_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    kube__pump_init(&a->pump, api, pump_next, pump_done, a);
    kube_bucket_init(&a->bucket, o.qps > 0 ? o.qps : 10, o.burst ? o.burst : 20);
    a->backoff_base = o.backoff_base_ms ? o.backoff_base_ms : 500;
    a->backoff_max = o.backoff_max_ms ? o.backoff_max_ms : 60000;
    a->field_manager = strdup(o.field_manager ? o.field_manager : "krtgate");
    a->log = o.log;
    a->log_ud = o.log_ud;
    if (!a->field_manager) {
        free(a);
        return NULL;
    }
    return a;
}

void kube_applier_free(kube_applier_t *a)
{
    if (!a)
        return;
    kube_applier_stop(a);
    kube__pump_dispose(&a->pump);
    krt_handler_unsubscribe(a->h);
    aentry_t *e, *tmp;
    HASH_ITER(hh, a->by_key, e, tmp) aentry_free(a, e);
    free(a->body);
    free(a->field_manager);
    free(a);
}

void kube_applier_stats(const kube_applier_t *a, kube_applier_stats_t *out)
{
    *out = a->st;
    out->queued = HASH_COUNT(a->by_key);
    out->active = a->active;
}

/* ---- libuv adapter (api_pump.h) ---- */
static void aschedule(kube_applier_t *a)
{
    if (a->active)
        kube__pump_kick(&a->pump);
}

int kube_applier_start(kube_applier_t *a, uv_loop_t *loop)
{
    int rc = kube__pump_start(&a->pump, loop);
    if (rc != KUBE_OK)
        return rc;
    a->active = true;
    aentry_t *e;
    DL_FOREACH(a->ready, e) kube_retry_reset(&e->retry);
    aschedule(a);
    return KUBE_OK;
}

void kube_applier_stop(kube_applier_t *a)
{
    a->active = false;
    kube__pump_stop(&a->pump); /* an answer that still comes has an id no longer in flight */
    while (a->flight) {
        aentry_t *e = a->flight;
        DL_DELETE(a->flight, e);
        e->in_flight = false;
        e->phase = e->want ? PH_GET : PH_DELETE;
        DL_APPEND(a->ready, e);
    }
}
