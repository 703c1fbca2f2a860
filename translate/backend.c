/*
 * ReferenceGrants and backendRefs.
 *
 * Grants are read through one index on the ReferenceGrant collection, keyed by the edge a grant
 * opens: "<from group>/<from kind>/<from ns>><to group>/<to kind>/<grant ns>". A reference across
 * namespaces fetches exactly its edge's bucket, so creating, editing or deleting a grant
 * recomputes only the objects that asked about that edge (a grant deletion takes effect at the
 * next flush). The alternative, fetching every grant of the target namespace, would recompute
 * every cross-namespace reference into a namespace whenever any grant there changed.
 *
 * backendRefs follow agentgateway's encoding: a Service becomes
 * BackendReference{service{namespace, hostname <name>.<ns>.svc.<domain>}, port}; every backendRef
 * yields a RouteBackend (weight defaulting to 1) even when it does not resolve, so the proxy
 * answers 500 for the share of traffic it would have taken. A missing Service keeps its
 * reference (BackendNotFound); a ref refused by the grants (RefNotPermitted) or of an unsupported
 * kind (InvalidKind) keeps only its weight. An AgentgatewayBackend (agentgateway.dev) becomes
 * BackendReference{backend "<ns>/<name>"}, the key of the Backend agw_backend.c emits.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void tr__grant_index(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    json_t *v = krt_json_value(o);
    const char *ns = krt_json_namespace(o);
    size_t i, j;
    json_t *from, *to;
    json_array_foreach(tr__jarr(v, "spec.from"), i, from)
    {
        json_array_foreach(tr__jarr(v, "spec.to"), j, to)
        {
            char *k = tr__fmt("%s/%s/%s>%s/%s/%s", tr__jstr_or(from, "group", ""),
                              tr__jstr_or(from, "kind", ""), tr__jstr_or(from, "namespace", ""),
                              tr__jstr_or(to, "group", ""), tr__jstr_or(to, "kind", ""), ns);
            if (k)
                krt_keys_add(keys, k);
            else
                krt_keys_fail(keys); /* OOM: the index is rebuilt rather than left short */
            krt_free(k);
        }
    }
}

bool tr__grant_allows(krt_ctx_t *ctx, const tr_graph_t *g, const char *from_kind,
                      const char *from_ns, const char *to_group, const char *to_kind,
                      const char *to_ns, const char *to_name, bool *oom)
{
    char *k =
        tr__fmt("%s/%s/%s>%s/%s/%s", TR_GW_GROUP, from_kind, from_ns, to_group, to_kind, to_ns);
    if (!k) {
        *oom = true; /* no dependency recorded: the result must not stand */
        return false;
    }
    const krt_obj_t *const *grants;
    size_t n = krt_fetch_index(ctx, g->grants, k, &grants);
    krt_free(k);
    for (size_t i = 0; i < n; i++) {
        size_t j;
        json_t *to;
        json_array_foreach(tr__jarr(krt_json_value(grants[i]), "spec.to"), j, to)
        {
            const char *name = tr__jstr(to, "name");
            if (strcmp(tr__jstr_or(to, "group", ""), to_group) == 0 &&
                strcmp(tr__jstr_or(to, "kind", ""), to_kind) == 0 &&
                (!name || !*name || strcmp(name, to_name) == 0))
                return true;
        }
    }
    return false;
}

static void fail(tr__backend_t *out, const char *reason, const char *fmt, const char *a,
                 const char *b2)
{
    out->ok = false;
    out->reason = reason;
    snprintf(out->message, sizeof out->message, fmt, a, b2);
}

/* A backendRef to an AgentgatewayBackend: BackendReference{backend "<ns>/<name>"} (the Backend's
 * key), kept when the object is missing so the proxy answers 500 for its share. */
static void agw_backend(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, const char *bns,
                        const char *name, tr__pb_t *b, tr__backend_t *out)
{
    const tr_graph_t *g = rk->g;
    if (strcmp(bns, ns) != 0 &&
        !tr__grant_allows(ctx, g, rk->kind, ns, TR_AGW_GROUP, "AgentgatewayBackend", bns, name,
                          &b->oom)) {
        fail(out, "RefNotPermitted",
             "backendRef %s/%s is not allowed by any ReferenceGrant (missing a ReferenceGrant?)",
             bns, name);
        return;
    }
    if (!*name) {
        fail(out, "BackendNotFound", "backendRef has no name%s%s", "", "");
        return;
    }
    T_(BackendReference) *r = tr__pb_new(b, &D_(backend_reference));
    char *key = ir_key_backend(bns, name, NULL);
    if (!r || !key) {
        b->oom = true;
        ir_pb_free((ProtobufCMessage *)r);
        krt_free(key);
        return;
    }
    r->kind_case = R_(BACKEND_REFERENCE__KIND_BACKEND);
    r->backend = tr__pb_str(b, key);
    out->rb->backend = r;
    const char *keys[1] = {key};
    krt_filter_t f = {.keys = keys, .nkeys = 1, .same = tr__same_always};
    const krt_obj_t *const *found;
    size_t n = krt_fetch(ctx, g->in.agw_backends, &f, &found);
    krt_free(key);
    if (n == 0)
        fail(out, "BackendNotFound", "AgentgatewayBackend %s/%s not found", bns, name);
}

void tr__backend_resolve(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *ref,
                         tr__pb_t *b, tr__backend_t *out)
{
    const tr_graph_t *g = rk->g;
    memset(out, 0, sizeof *out);
    out->ok = true;
    T_(RouteBackend) *rb = tr__pb_new(b, &D_(route_backend));
    out->rb = rb;
    if (!rb)
        return;
    json_int_t w = tr__jint(ref, "weight", 1);
    rb->weight = w < 0 ? 0 : w > 1000000 ? 1000000 : (int32_t)w;

    const char *group = tr__jstr_or(ref, "group", "");
    const char *kind = tr__jstr_or(ref, "kind", "Service");
    const char *name = tr__jstr_or(ref, "name", "");
    const char *bns = tr__jstr_or(ref, "namespace", ns);
    if (strcmp(group, TR_AGW_GROUP) == 0 && strcmp(kind, "AgentgatewayBackend") == 0) {
        agw_backend(ctx, rk, ns, bns, name, b, out);
        return;
    }
    if (strcmp(group, "") != 0 || strcmp(kind, "Service") != 0) {
        fail(out, "InvalidKind",
             "backendRef group %s kind %s is not supported (only core Service and "
             "agentgateway.dev AgentgatewayBackend)",
             *group ? group : "\"\"", kind);
        return;
    }
    if (strcmp(bns, ns) != 0 &&
        !tr__grant_allows(ctx, g, rk->kind, ns, "", "Service", bns, name, &b->oom)) {
        fail(out, "RefNotPermitted",
             "backendRef %s/%s is not allowed by any ReferenceGrant (missing a ReferenceGrant?)",
             bns, name);
        return;
    }
    T_(BackendReference) *r = tr__pb_new(b, &D_(backend_reference));
    T_(BackendReference__Service) *s = tr__pb_new(b, &D_(backend_reference__service));
    char *host = *name ? ir_hostname_service(name, bns, g->domain) : NULL;
    if (!r || !s || (*name && !host)) {
        b->oom = true;
        ir_pb_free((ProtobufCMessage *)r);
        ir_pb_free((ProtobufCMessage *)s);
        krt_free(host);
        return;
    }
    s->namespace_ = tr__pb_str(b, bns);
    s->hostname = host ? host : tr__pb_str(b, "");
    r->kind_case = R_(BACKEND_REFERENCE__KIND_SERVICE);
    r->service = s;
    json_int_t port = tr__jint(ref, "port", 0);
    r->port = port > 0 && port < 65536 ? (uint32_t)port : 0;
    rb->backend = r;

    if (!*name) {
        fail(out, "BackendNotFound", "backendRef has no name%s%s", "", "");
        return;
    }
    char *key = tr__fmt("%s/%s", bns, name);
    if (!key) {
        b->oom = true;
        return;
    }
    const char *keys[1] = {key};
    krt_filter_t f = {.keys = keys, .nkeys = 1, .same = tr__same_always};
    const krt_obj_t *const *svc;
    size_t n = krt_fetch(ctx, g->in.services, &f, &svc);
    krt_free(key);
    if (n == 0)
        fail(out, "BackendNotFound", "backend Service %s/%s not found", bns, name);
}

T_(BackendReference) * tr__backend_ref_only(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns,
                                            json_t *ref, tr__pb_t *b, const char **reason,
                                            char *msg, size_t msgcap)
{
    tr__backend_t r;
    tr__backend_resolve(ctx, rk, ns, ref, b, &r);
    T_(BackendReference) *out = NULL;
    if (r.rb && r.ok) {
        out = r.rb->backend;
        r.rb->backend = NULL;
    } else if (!r.ok) {
        *reason = r.reason;
        snprintf(msg, msgcap, "%s", r.message);
    }
    ir_pb_free((ProtobufCMessage *)r.rb);
    return out;
}
