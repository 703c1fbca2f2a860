/*
 * Effective AgentgatewayParameters per Gateway, for the deployer.
 *
 * A Gateway of ours may name AgentgatewayParameters twice: its GatewayClass's
 * spec.parametersRef (any namespace; the class is cluster-scoped) and its own
 * spec.infrastructure.parametersRef (the Gateway's namespace). agentgateway applies the class's
 * first and the Gateway's over it; so do we, merging the two specs key by key (objects merge
 * recursively, anything else — arrays included — is replaced), and derive from the result the
 * few values a deployer needs most (image, replicas, resources, env, Service type). The
 * overlays (`deployment`, `service`, ...) are kept in `spec` as they are: applying them as
 * strategic merge patches is the deployer's business.
 *
 * One record per Gateway of ours, keyed "ns/name"; a Gateway of another controller has none.
 * A ref that does not resolve (wrong group/kind, missing object) is listed in `errors` and
 * contributes nothing: the deployer then uses its defaults for what it would have set.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* Merges |src| into |dst| (both objects): objects recursively, other values replaced. */
static int merge(json_t *dst, json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v)
    {
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(v)) {
            if (merge(d, v))
                return -1;
        } else if (json_object_set_new(dst, k, json_deep_copy(v))) {
            return -1;
        }
    }
    return 0;
}

static void note(json_t *errors, bool *oom, const char *fmt, const char *a, const char *b2,
                 const char *c)
{
    char buf[512];
    snprintf(buf, sizeof buf, fmt, a, b2, c);
    if (json_array_append_new(errors, tr__jstring(buf)))
        *oom = true;
}

/* Resolves one parametersRef into |spec|; notes problems in |errors|. */
static int apply_ref(krt_ctx_t *ctx, const tr_graph_t *g, json_t *ref, const char *ns,
                     const char *where, json_t *spec, json_t *sources, json_t *errors)
{
    if (!json_is_object(ref))
        return 0;
    const char *group = tr__jstr_or(ref, "group", "");
    const char *kind = tr__jstr_or(ref, "kind", "");
    const char *name = tr__jstr_or(ref, "name", "");
    const char *rns = tr__jstr_or(ref, "namespace", ns);
    bool oom = false;
    if (strcmp(group, TR_AGW_GROUP) != 0 || strcmp(kind, "AgentgatewayParameters") != 0) {
        note(errors, &oom, "%s: %s/%s is not agentgateway.dev/AgentgatewayParameters", where,
             *group ? group : "core", kind);
        return oom ? -1 : 0;
    }
    char *key = tr__fmt("%s/%s", rns, name);
    if (!key)
        return -1;
    const krt_obj_t *p = krt_fetch_key(ctx, g->in.agw_parameters, key);
    if (!p) {
        note(errors, &oom, "%s: AgentgatewayParameters %s not found%s", where, key, "");
        krt_free(key);
        return oom ? -1 : 0;
    }
    int rc = merge(spec, json_object_get(krt_json_value(p), "spec"));
    char *src = rc ? NULL : tr__fmt("AgentgatewayParameters %s", key);
    krt_free(key);
    if (!src || json_array_append_new(sources, tr__jstring(src))) {
        krt_free(src);
        return -1;
    }
    krt_free(src);
    return rc;
}

static json_t *or_null(json_t *v)
{
    return v ? json_deep_copy(v) : json_null();
}

/* The values a deployer reads first, from the merged spec. */
static json_t *effective(json_t *spec)
{
    json_t *image = json_null();
    json_t *img = json_object_get(spec, "image");
    if (json_is_object(img)) {
        const char *reg = tr__jstr(img, "registry"), *repo = tr__jstr(img, "repository");
        const char *tag = tr__jstr(img, "tag"), *dig = tr__jstr(img, "digest");
        if (repo) {
            char *s = tr__fmt("%s%s%s%s%s%s%s", reg ? reg : "", reg ? "/" : "", repo,
                              tag ? ":" : "", tag ? tag : "", dig ? "@" : "", dig ? dig : "");
            image = s ? tr__jstring(s) : NULL;
            krt_free(s);
            if (!image)
                return NULL;
        }
    }
    json_t *replicas = tr__jpath(spec, "deployment.spec.replicas");
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "image", image,
                     "imagePullPolicy", or_null(tr__jpath(spec, "image.pullPolicy")), "replicas",
                     or_null(json_is_integer(replicas) ? replicas : NULL), "resources",
                     or_null(json_object_get(spec, "resources")), "env",
                     or_null(json_object_get(spec, "env")), "serviceType",
                     or_null(tr__jpath(spec, "service.spec.type")), "workloadKind",
                     or_null(tr__jpath(spec, "workload.kind")), "logLevel",
                     or_null(tr__jpath(spec, "logging.level")), "logFormat",
                     or_null(tr__jpath(spec, "logging.format")));
}

int tr__agw_params_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    const char *ns = krt_json_namespace(in);
    const char *cls = tr__jstr_or(v, "spec.gatewayClassName", "");
    if (!*cls || !ns || !krt_fetch_key(ctx, g->classes, cls))
        return KRT_OK; /* not ours */
    const krt_obj_t *co = krt_fetch_key(ctx, g->in.gateway_classes, cls);
    json_t *spec = json_object(), *sources = json_array(), *errors = json_array();
    int rc = KRT_ENOMEM;
    if (!spec || !sources || !errors)
        goto done;
    if (co && apply_ref(ctx, g, tr__jpath(krt_json_value(co), "spec.parametersRef"), ns,
                        "GatewayClass spec.parametersRef", spec, sources, errors))
        goto done;
    if (apply_ref(ctx, g, tr__jpath(v, "spec.infrastructure.parametersRef"), ns,
                  "Gateway spec.infrastructure.parametersRef", spec, sources, errors))
        goto done;
    json_t *eff = effective(spec);
    json_t *rec =
        eff ? json_pack("{s:s, s:s, s:O, s:O, s:o, s:O}", "gateway", krt_obj_key(in), "class", cls,
                        "sources", sources, "spec", spec, "effective", eff, "errors", errors)
            : NULL;
    const krt_obj_t *o = rec ? tr__rec_new(krt_obj_key(in), rec) : NULL;
    rc = o ? krt_emit(ctx, o) : KRT_ENOMEM;
done:
    json_decref(spec);
    json_decref(sources);
    json_decref(errors);
    return rc;
}
