/*
 * GatewayClass and Gateway: our classes, one record per Gateway listener, Binds, Listeners and
 * Gateway status.
 *
 * The listener record is the hinge of the graph. It is computed once per Gateway, from the
 * Gateway, its class, its certificate Secrets and the grants that let it read them, and holds
 * everything downstream needs about one listener: protocol, port, hostname, the route kinds and
 * namespaces it admits, its TLS material and its conditions. Routes bind against the records'
 * "bind" member only (a partial fetch), so a certificate rotation reprograms the Listener without
 * recomputing a single route binding. Conflicts (two listeners of one Gateway on one port with
 * different protocols, or the same hostname) are decided here, where a Gateway's listeners are
 * seen together; following the Gateway API, every listener in a conflict is marked, not only the
 * later one (agentgateway keeps the first: we chose the spec, which
 * TLSRouteListenerMixedTerminationNotSupported asserts).
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------------------------
 * GatewayClass.
 * ------------------------------------------------------------------------------------------- */
int tr__class_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    const char *ctrl = tr__jstr_or(v, "spec.controllerName", "");
    if (strcmp(ctrl, g->controller) != 0)
        return KRT_OK; /* another controller's class: no record, no status */
    const char *name = krt_json_name(in);
    const krt_obj_t *rec =
        tr__rec_new(name, json_pack("{s:s, s:s}", "name", name, "controller", ctrl));
    if (!rec)
        return KRT_ENOMEM;
    int rc = krt_emit(ctx, rec);
    if (rc)
        return rc;
    json_t *conds = json_array();
    json_t *c = tr__cond("Accepted", true, "Accepted", "Accepted by the krtgate controller");
    json_t *final = NULL;
    if (tr__cond_add(conds, c))
        final = tr__conds_final(conds, tr__generation(in));
    json_decref(conds);
    if (!final)
        return KRT_ENOMEM;
    const krt_obj_t *st = tr__rec_new(name, json_pack("{s:o}", "conditions", final));
    if (!st)
        return KRT_ENOMEM;
    return krt_ctx_set_status(ctx, st);
}

/* ---------------------------------------------------------------------------------------------
 * Listener records.
 * ------------------------------------------------------------------------------------------- */
typedef struct lis {
    json_t *spec;
    const char *name;
    json_int_t port;
    const char *proto;
    const char *host;
    const char *tls_mode; /* "Terminate" / "Passthrough" for TLS and HTTPS, else NULL */
    bool supported;
    bool dup;             /* a second listener with the same name: ignored */
    const char *conflict; /* NULL, "ProtocolConflict" or "HostnameConflict" */
    json_t *kinds;        /* supportedKinds */
    bool kinds_invalid;
    json_t *tls; /* record member, or NULL */
    const char *tls_reason;
    char tls_msg[256];
    size_t owner; /* 0: the Gateway; k: the k-th ListenerSet it admits (precedence order) */
    size_t index; /* position in its owner's spec.listeners */
    bool lost;    /* lost a conflict to an older owner's listener: cannot win another */
    const char *ls_ns, *ls_name; /* the ListenerSet, NULL for the Gateway's own listeners */
} lis_t;

static bool proto_supported(const char *p)
{
    return strcmp(p, "HTTP") == 0 || strcmp(p, "HTTPS") == 0 || strcmp(p, "TLS") == 0 ||
           strcmp(p, "TCP") == 0;
}

/* Whether |kind| (group gateway.networking.k8s.io) may attach to a listener of |l|'s protocol. */
static bool kind_allowed(const lis_t *l, const char *kind)
{
    if (strcmp(l->proto, "HTTP") == 0 || strcmp(l->proto, "HTTPS") == 0)
        return strcmp(kind, "HTTPRoute") == 0 || strcmp(kind, "GRPCRoute") == 0;
    if (strcmp(l->proto, "TLS") == 0)
        return strcmp(kind, "TLSRoute") == 0 ||
               (strcmp(kind, "TCPRoute") == 0 && strcmp(l->tls_mode, "Terminate") == 0);
    if (strcmp(l->proto, "TCP") == 0)
        return strcmp(kind, "TCPRoute") == 0;
    return false;
}

static bool push_kind(json_t *arr, const char *kind)
{
    return json_array_append_new(arr,
                                 json_pack("{s:s, s:s}", "group", TR_GW_GROUP, "kind", kind)) == 0;
}

static bool compute_kinds(lis_t *l)
{
    l->kinds = json_array();
    if (!l->kinds)
        return false;
    if (!l->supported)
        return true;
    json_t *want = tr__jarr(l->spec, "allowedRoutes.kinds");
    if (json_array_size(want) == 0) {
        static const char *const all[] = {"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"};
        for (size_t i = 0; i < 4; i++)
            if (kind_allowed(l, all[i]) && !push_kind(l->kinds, all[i]))
                return false;
        return true;
    }
    size_t i;
    json_t *k;
    json_array_foreach(want, i, k)
    {
        const char *group = tr__jstr_or(k, "group", TR_GW_GROUP);
        const char *kind = tr__jstr_or(k, "kind", "");
        if (strcmp(group, TR_GW_GROUP) != 0 || !kind_allowed(l, kind)) {
            l->kinds_invalid = true;
            continue;
        }
        bool seen = false;
        size_t j;
        json_t *have;
        json_array_foreach(l->kinds, j, have)
        {
            if (strcmp(tr__jstr_or(have, "kind", ""), kind) == 0)
                seen = true;
        }
        if (!seen && !push_kind(l->kinds, kind))
            return false;
    }
    return true;
}

static void tls_fail(lis_t *l, const char *reason, const char *fmt, const char *a, const char *b)
{
    l->tls_reason = reason;
    snprintf(l->tls_msg, sizeof l->tls_msg, fmt, a, b);
}

/* Reads one PEM member of a Secret: data (base64) first, then stringData. Owned by caller. */
static uint8_t *secret_pem(json_t *secret, const char *field, size_t *len, bool *oom)
{
    json_t *data = json_object_get(secret, "data");
    /* field names contain dots: not tr__jstr's paths */
    const char *b64 = json_string_value(json_object_get(data, field));
    if (b64)
        return tr__b64_decode(b64, len, oom);
    json_t *sd = json_object_get(secret, "stringData");
    const char *raw = json_string_value(json_object_get(sd, field));
    if (!raw)
        return NULL;
    *len = strlen(raw);
    uint8_t *c = krt_malloc(*len + 1);
    if (c)
        memcpy(c, raw, *len + 1);
    else
        *oom = true;
    return c;
}

/* Resolves the certificate of an HTTPS or terminating TLS listener into l->tls. Returns false
 * on OOM. */
static bool resolve_tls(krt_ctx_t *ctx, const tr_graph_t *g, const char *gwns, lis_t *l)
{
    /* a ListenerSet's certificates are read from its namespace, with grants from ListenerSet */
    const char *from_kind = l->ls_ns ? "ListenerSet" : "Gateway";
    if (l->ls_ns)
        gwns = l->ls_ns;
    l->tls = json_pack("{s:s}", "mode", l->tls_mode);
    if (!l->tls)
        return false;
    if (strcmp(l->tls_mode, "Passthrough") == 0)
        return true;
    json_t *refs = tr__jarr(l->spec, "tls.certificateRefs");
    json_t *ref = json_array_get(refs, 0);
    const char *group = tr__jstr_or(ref, "group", "");
    const char *kind = tr__jstr_or(ref, "kind", "Secret");
    const char *name = tr__jstr_or(ref, "name", "");
    const char *sns = tr__jstr_or(ref, "namespace", gwns);
    bool grant_oom = false;
    if (!ref) {
        tls_fail(l, "InvalidCertificateRef", "listener %s has no tls.certificateRefs%s", l->name,
                 "");
    } else if (strcmp(group, "") != 0 || strcmp(kind, "Secret") != 0) {
        tls_fail(l, "InvalidCertificateRef", "certificateRef %s/%s is not a core Secret", group,
                 kind);
    } else if (strcmp(sns, gwns) != 0 &&
               !tr__grant_allows(ctx, g, from_kind, gwns, "", "Secret", sns, name, &grant_oom)) {
        if (grant_oom)
            return false;
        tls_fail(l, "RefNotPermitted", "certificateRef %s/%s is not allowed by any ReferenceGrant",
                 sns, name);
    } else {
        char *key = tr__fmt("%s/%s", sns, name);
        if (!key)
            return false;
        const krt_obj_t *secret = krt_fetch_key(ctx, g->in.secrets, key);
        krt_free(key);
        if (!secret) {
            tls_fail(l, "InvalidCertificateRef", "Secret %s/%s not found", sns, name);
        } else {
            json_t *sv = krt_json_value(secret);
            size_t clen = 0, klen = 0;
            bool oom = false;
            uint8_t *cert = secret_pem(sv, "tls.crt", &clen, &oom);
            uint8_t *pkey = secret_pem(sv, "tls.key", &klen, &oom);
            if (oom) {
                krt_free(cert);
                krt_free(pkey);
                return false;
            }
            if (!cert || !pkey || !tr__pem_valid(cert, clen, false) ||
                !tr__pem_valid(pkey, klen, true)) {
                tls_fail(l, "InvalidCertificateRef",
                         "Secret %s/%s does not hold a PEM certificate and private key", sns, name);
            } else {
                json_t *jc = json_stringn((const char *)cert, clen);
                json_t *jk = json_stringn((const char *)pkey, klen);
                if (!jc || !jk) {
                    json_decref(jc);
                    json_decref(jk);
                    tls_fail(l, "InvalidCertificateRef",
                             "Secret %s/%s does not hold a PEM certificate and private key", sns,
                             name);
                } else {
                    json_object_set_new(l->tls, "cert", jc);
                    json_object_set_new(l->tls, "key", jk);
                }
            }
            krt_free(cert);
            krt_free(pkey);
        }
    }
    if (l->tls_reason)
        json_object_set_new(l->tls, "invalid", json_true());
    return true;
}

/* Why |x| and |y| (supported, same port) conflict, or NULL. */
static const char *conflict_of(const lis_t *x, const lis_t *y)
{
    if (strcmp(x->proto, y->proto) != 0 ||
        (x->tls_mode && y->tls_mode && strcmp(x->tls_mode, y->tls_mode) != 0))
        return "ProtocolConflict";
    if (strcasecmp(x->host, y->host) == 0)
        return "HostnameConflict";
    return NULL;
}

static void mark(lis_t *l, const char *why)
{
    if (!l->conflict || strcmp(why, "ProtocolConflict") == 0)
        l->conflict = why;
}

/* Between owners the older one wins (the Gateway, then ListenerSets by creation time and name,
 * which is the order of |ls|): a listener that conflicts with an older owner's listener that has
 * not itself lost is marked, and no longer competes. Within one owner every listener of a conflict
 * is marked (the Gateway API's rule for a Gateway's own listeners). */
static void find_conflicts(lis_t *ls, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        if (!ls[j].supported || ls[j].dup)
            continue;
        for (size_t i = 0; i < j && !ls[j].lost; i++) {
            if (!ls[i].supported || ls[i].dup || ls[i].lost || ls[i].owner == ls[j].owner ||
                ls[i].port != ls[j].port)
                continue;
            const char *why = conflict_of(&ls[i], &ls[j]);
            if (why) {
                mark(&ls[j], why);
                ls[j].lost = true;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!ls[i].supported || ls[i].dup || ls[i].lost)
            continue;
        for (size_t j = i + 1; j < n; j++) {
            if (!ls[j].supported || ls[j].dup || ls[j].lost || ls[i].owner != ls[j].owner ||
                ls[i].port != ls[j].port)
                continue;
            const char *why = conflict_of(&ls[i], &ls[j]);
            if (why) {
                mark(&ls[i], why);
                mark(&ls[j], why);
            }
        }
    }
}

static json_t *listener_conditions(const lis_t *l)
{
    json_t *c = json_array();
    if (!c)
        return NULL;
    char msg[300];
    bool ok = true;
    bool accepted = l->supported && !l->conflict;
    if (!l->supported) {
        snprintf(msg, sizeof msg, "protocol %s is not supported (HTTP, HTTPS, TLS, TCP are)%s",
                 l->proto,
                 strcasecmp(l->proto, "http") == 0 || strcasecmp(l->proto, "https") == 0 ||
                         strcasecmp(l->proto, "tls") == 0 || strcasecmp(l->proto, "tcp") == 0
                     ? "; protocol names are case-sensitive"
                     : "");
        ok &= tr__cond_add(c, tr__cond("Accepted", false, "UnsupportedProtocol", msg));
    } else if (l->conflict) {
        snprintf(msg, sizeof msg, "listener conflicts with another listener on port %lld",
                 (long long)l->port);
        ok &= tr__cond_add(c, tr__cond("Accepted", false, l->conflict, msg));
    } else {
        ok &= tr__cond_add(c, tr__cond("Accepted", true, "Accepted", "Listener accepted"));
    }
    if (l->conflict)
        ok &= tr__cond_add(c, tr__cond("Conflicted", true, l->conflict, msg));
    else
        ok &= tr__cond_add(c, tr__cond("Conflicted", false, "NoConflicts", "No conflicts"));
    if (l->tls_reason)
        ok &= tr__cond_add(c, tr__cond("ResolvedRefs", false, l->tls_reason, l->tls_msg));
    else if (l->kinds_invalid)
        ok &= tr__cond_add(c, tr__cond("ResolvedRefs", false, "InvalidRouteKinds",
                                       "allowedRoutes.kinds names a kind this listener's "
                                       "protocol does not support"));
    else
        ok &= tr__cond_add(
            c, tr__cond("ResolvedRefs", true, "ResolvedRefs", "All references resolved"));
    if (accepted && !l->tls_reason)
        ok &= tr__cond_add(c, tr__cond("Programmed", true, "Programmed", "Listener programmed"));
    else
        ok &= tr__cond_add(
            c, tr__cond("Programmed", false, "Invalid",
                        l->tls_reason ? "Bad TLS configuration" : "Listener is not accepted"));
    if (!ok) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* The record of |l| (owned by caller), or NULL on OOM. */
static const krt_obj_t *make_record(const krt_obj_t *gw, const lis_t *l)
{
    const char *ns = krt_json_namespace(gw), *name = krt_json_name(gw);
    bool attachable = l->supported && !l->conflict;
    /* a ListenerSet listener is keyed by the set (agentgateway's naming), bound on the Gateway */
    char *lkey = l->ls_ns ? ir_key_listener(l->ls_ns, l->ls_name, l->name)
                          : ir_key_listener(ns, name, l->name);
    char *bkey = ir_key_bind(l->port > 0 ? (uint32_t)l->port : 0, ns, name);
    char *gwkey = tr__fmt("%s/%s", ns, name);
    char *rkey = l->ls_ns ? tr__fmt("%s/%s/%s/%s/%s", ns, name, l->ls_ns, l->ls_name, l->name)
                          : tr__fmt("%s/%s/%s", ns, name, l->name);
    char *lskey = l->ls_ns ? tr__fmt("%s/%s", l->ls_ns, l->ls_name) : NULL;
    json_t *conds = listener_conditions(l);
    json_t *allowed = json_object();
    const krt_obj_t *rec = NULL;
    if (!lkey || !bkey || !gwkey || !rkey || !conds || !allowed || (l->ls_ns && !lskey))
        goto out;
    const char *from = tr__jstr_or(l->spec, "allowedRoutes.namespaces.from", "Same");
    if (strcmp(from, "All") != 0 && strcmp(from, "Selector") != 0)
        from = "Same";
    json_object_set_new(allowed, "from", json_string(from));
    if (strcmp(from, "Selector") == 0) {
        json_t *sel = tr__jpath(l->spec, "allowedRoutes.namespaces.selector");
        json_object_set_new(allowed, "selector", sel ? json_deep_copy(sel) : json_object());
    }
    json_t *bind = json_pack("{s:s, s:I, s:s, s:O, s:o, s:b, s:s}", "name", l->name, "port",
                             l->port, "hostname", l->host, "kinds", l->kinds, "allowed", allowed,
                             "attachable", attachable, "listenerKey", lkey);
    allowed = NULL;
    if (!bind)
        goto out;
    if (lskey)
        json_object_set_new(bind, "listenerSet", json_string(lskey));
    json_t *v = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "gateway",
                          gwkey, "name", l->name, "index", (json_int_t)l->index, "port", l->port,
                          "protocol", l->proto, "hostname", l->host, "listenerKey", lkey, "bindKey",
                          bkey, "attachable", attachable, "conditions", conds, "bind", bind);
    conds = NULL;
    if (v && l->tls)
        json_object_set(v, "tls", l->tls);
    if (v && lskey)
        json_object_set_new(v, "listenerSet", json_string(lskey));
    rec = tr__rec_new(rkey, v);
out:
    krt_free(lskey);
    krt_free(lkey);
    krt_free(bkey);
    krt_free(gwkey);
    krt_free(rkey);
    json_decref(conds);
    json_decref(allowed);
    return rec;
}

/* Fills |l| from its spec; resolves its certificate. Returns false on OOM. */
static bool lis_init(krt_ctx_t *ctx, const tr_graph_t *g, const char *gwns, lis_t *ls, size_t i)
{
    lis_t *l = &ls[i];
    l->name = tr__jstr_or(l->spec, "name", "");
    l->port = tr__jint(l->spec, "port", 0);
    l->proto = tr__jstr_or(l->spec, "protocol", "");
    l->host = tr__jstr_or(l->spec, "hostname", "");
    l->supported = proto_supported(l->proto);
    for (size_t j = 0; j < i; j++)
        if (ls[j].owner == l->owner && strcmp(ls[j].name, l->name) == 0)
            l->dup = true;
    if (!*l->name)
        l->dup = true;
    if (strcmp(l->proto, "HTTPS") == 0)
        l->tls_mode = "Terminate";
    else if (strcmp(l->proto, "TLS") == 0)
        l->tls_mode = strcmp(tr__jstr_or(l->spec, "tls.mode", "Terminate"), "Passthrough") == 0
                          ? "Passthrough"
                          : "Terminate";
    if (!compute_kinds(l))
        return false;
    if (l->supported && l->tls_mode && !l->dup && !resolve_tls(ctx, g, gwns, l))
        return false;
    return true;
}

/* ListenerSet precedence: older first, then by namespace/name. */
static int ls_cmp(const void *a, const void *b)
{
    const krt_obj_t *x = *(const krt_obj_t *const *)a, *y = *(const krt_obj_t *const *)b;
    int64_t cx = tr__created_unix(x), cy = tr__created_unix(y);
    if (cx != cy)
        return cx < cy ? -1 : 1;
    return strcmp(krt_obj_key(x), krt_obj_key(y));
}

int tr__records_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    const char *cls = tr__jstr_or(v, "spec.gatewayClassName", "");
    if (!*cls || !krt_fetch_key(ctx, g->classes, cls))
        return KRT_OK; /* not ours */
    const char *gwns = krt_json_namespace(in);
    json_t *specs = tr__jarr(v, "spec.listeners");
    size_t n = json_array_size(specs);

    /* The ListenerSets naming this Gateway that it admits, in precedence order. */
    const krt_obj_t *const *lsobjs;
    size_t nls = krt_fetch_index(ctx, g->ls_by_parent, krt_obj_key(in), &lsobjs);
    const krt_obj_t **sets = krt_calloc(nls ? nls : 1, sizeof *sets);
    if (!sets)
        return KRT_ENOMEM;
    size_t nsets = 0;
    for (size_t i = 0; i < nls; i++) {
        if (!tr__ls_allowed(ctx, g, v, gwns, krt_json_namespace(lsobjs[i])))
            continue;
        sets[nsets++] = lsobjs[i];
        n += json_array_size(tr__jarr(krt_json_value(lsobjs[i]), "spec.listeners"));
    }
    if (nsets > 1)
        qsort(sets, nsets, sizeof *sets, ls_cmp);
    if (n == 0) {
        krt_free(sets);
        return KRT_OK;
    }
    lis_t *ls = krt_calloc(n, sizeof *ls);
    if (!ls) {
        krt_free(sets);
        return KRT_ENOMEM;
    }
    int rc = KRT_OK;
    size_t at = 0;
    for (size_t owner = 0; owner <= nsets; owner++) {
        json_t *arr =
            owner == 0 ? specs : tr__jarr(krt_json_value(sets[owner - 1]), "spec.listeners");
        size_t i;
        json_t *spec;
        json_array_foreach(arr, i, spec)
        {
            lis_t *l = &ls[at];
            l->spec = spec;
            l->owner = owner;
            l->index = i;
            if (owner > 0) {
                l->ls_ns = krt_json_namespace(sets[owner - 1]);
                l->ls_name = krt_json_name(sets[owner - 1]);
            }
            if (!lis_init(ctx, g, gwns, ls, at)) {
                n = at + 1;
                rc = KRT_ENOMEM;
                goto out;
            }
            at++;
        }
    }
    n = at;
    find_conflicts(ls, n);
    for (size_t i = 0; i < n && rc == KRT_OK; i++) {
        if (ls[i].dup)
            continue;
        const krt_obj_t *rec = make_record(in, &ls[i]);
        rc = rec ? krt_emit(ctx, rec) : KRT_ENOMEM;
        if (rc == KRT_EDUPKEY)
            rc = KRT_OK;
    }
out:
    for (size_t i = 0; i < n; i++) {
        json_decref(ls[i].kinds);
        json_decref(ls[i].tls);
    }
    krt_free(ls);
    krt_free(sets);
    return rc;
}

void tr__records_index(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    const char *gw = tr__jstr(tr__rec_json(o), "gateway");
    if (gw)
        krt_keys_add(keys, gw);
}

/* ---------------------------------------------------------------------------------------------
 * Binds: one per (Gateway, port), from the Gateway's bucket of records.
 * ------------------------------------------------------------------------------------------- */
static T_(Bind__Protocol) bind_protocol(const char *p)
{
    if (strcmp(p, "HTTPS") == 0 || strcmp(p, "TLS") == 0)
        return R_(BIND__PROTOCOL__TLS);
    if (strcmp(p, "TCP") == 0)
        return R_(BIND__PROTOCOL__TCP);
    return R_(BIND__PROTOCOL__HTTP);
}

int tr__binds_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    size_t n = 0;
    const krt_obj_t *const *recs = krt_index_obj_items(in, &n);
    const char *gw = krt_obj_key(in);
    for (size_t i = 0; i < n; i++) {
        json_t *r = tr__rec_json(recs[i]);
        if (!tr__jbool(r, "attachable", false))
            continue;
        json_int_t port = tr__jint(r, "port", 0);
        bool seen = false;
        for (size_t j = 0; j < i; j++) {
            json_t *o = tr__rec_json(recs[j]);
            if (tr__jbool(o, "attachable", false) && tr__jint(o, "port", 0) == port)
                seen = true;
        }
        if (seen)
            continue;
        T_(Bind) m = R_(BIND__INIT);
        m.key = (char *)tr__jstr_or(r, "bindKey", "");
        m.port = port > 0 && port < 65536 ? (uint32_t)port : 0;
        m.protocol = bind_protocol(tr__jstr_or(r, "protocol", ""));
        ir_err_t err;
        const ir_bind_t *b = ir_bind_from_pb(&m, gw, &err);
        int rc = tr__emit_ir(ctx, b ? ir_bind_obj(b) : NULL, &err);
        if (rc)
            return rc;
    }
    return KRT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Listeners: one per attachable record.
 * ------------------------------------------------------------------------------------------- */
static T_(Protocol) listener_protocol(const char *p)
{
    if (strcmp(p, "HTTP") == 0)
        return R_(PROTOCOL__HTTP);
    if (strcmp(p, "HTTPS") == 0)
        return R_(PROTOCOL__HTTPS);
    if (strcmp(p, "TLS") == 0)
        return R_(PROTOCOL__TLS);
    if (strcmp(p, "TCP") == 0)
        return R_(PROTOCOL__TCP);
    return R_(PROTOCOL__UNKNOWN);
}

int tr__listener_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    json_t *r = tr__rec_json(in);
    if (!tr__jbool(r, "attachable", false))
        return KRT_OK;
    const char *gw = tr__jstr_or(r, "gateway", "");
    const char *slash = strchr(gw, '/');
    if (!slash)
        return KRT_ETRANSFORM;
    char gwns[256];
    snprintf(gwns, sizeof gwns, "%.*s", (int)(slash - gw), gw);

    T_(Listener) m = R_(LISTENER__INIT);
    T_(ListenerName) name = R_(LISTENER_NAME__INIT);
    T_(TLSConfig) tls = R_(TLSCONFIG__INIT);
    m.key = (char *)tr__jstr_or(r, "listenerKey", "");
    m.bind_key = (char *)tr__jstr_or(r, "bindKey", "");
    m.hostname = (char *)tr__jstr_or(r, "hostname", "");
    m.protocol = listener_protocol(tr__jstr_or(r, "protocol", ""));
    name.gateway_name = (char *)(slash + 1);
    name.gateway_namespace = gwns;
    name.listener_name = (char *)tr__jstr_or(r, "name", "");
    T_(ResourceName) set = R_(RESOURCE_NAME__INIT);
    char setns[256];
    const char *lskey = tr__jstr(r, "listenerSet");
    const char *lslash = lskey ? strchr(lskey, '/') : NULL;
    if (lslash) {
        snprintf(setns, sizeof setns, "%.*s", (int)(lslash - lskey), lskey);
        set.namespace_ = setns;
        set.name = (char *)(lslash + 1);
        name.listener_set = &set;
    }
    m.name = &name;
    json_t *t = json_object_get(r, "tls");
    if (t && strcmp(tr__jstr_or(t, "mode", ""), "Terminate") == 0) {
        static const char invalid[] = "invalid";
        const char *cert = tr__jstr(t, "cert"), *key = tr__jstr(t, "key");
        if (tr__jbool(t, "invalid", false) || !cert || !key) {
            cert = invalid;
            key = invalid;
        }
        tls.cert.data = (uint8_t *)cert;
        tls.cert.len = strlen(cert);
        tls.private_key.data = (uint8_t *)key;
        tls.private_key.len = strlen(key);
        m.tls = &tls;
    }
    ir_err_t err;
    const ir_listener_t *l = ir_listener_from_pb(&m, gw, &err);
    return tr__emit_ir(ctx, l ? ir_listener_obj(l) : NULL, &err);
}

/* ---------------------------------------------------------------------------------------------
 * Gateway status.
 * ------------------------------------------------------------------------------------------- */
bool tr__gateway_ours(krt_ctx_t *ctx, const tr_graph_t *g, const char *gwkey)
{
    const krt_obj_t *gw = krt_fetch_key(ctx, g->in.gateways, gwkey);
    const char *cls = gw ? tr__jstr_or(krt_json_value(gw), "spec.gatewayClassName", "") : "";
    return *cls && krt_fetch_key(ctx, g->classes, cls);
}

const char *tr__gateway_refusal(json_t *gw)
{
    size_t i;
    json_t *a;
    json_array_foreach(tr__jarr(gw, "spec.addresses"), i, a)
    {
        const char *type = tr__jstr_or(a, "type", "IPAddress");
        if (strcmp(type, "IPAddress") != 0 && strcmp(type, "Hostname") != 0)
            return "UnsupportedAddress";
    }
    json_t *pref = tr__jpath(gw, "spec.infrastructure.parametersRef");
    if (pref && (strcmp(tr__jstr_or(pref, "group", ""), "agentgateway.dev") != 0 ||
                 strcmp(tr__jstr_or(pref, "kind", ""), "AgentgatewayParameters") != 0))
        return "InvalidParameters";
    return NULL;
}

size_t tr__attached_routes(krt_ctx_t *ctx, const tr_graph_t *g, const char *rec_key)
{
    size_t total = 0;
    for (int k = 0; k < TR_RK_COUNT; k++) {
        krt_filter_t f = {
            .index = g->rk[k].by_listener, .index_key = rec_key, .same = tr__same_always};
        const krt_obj_t *const *out;
        total += krt_fetch(ctx, g->rk[k].bindings, &f, &out);
    }
    return total;
}

int tr__gateway_status_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    const char *cls = tr__jstr_or(v, "spec.gatewayClassName", "");
    if (!*cls || !krt_fetch_key(ctx, g->classes, cls))
        return KRT_OK;
    json_int_t gen = tr__generation(in);
    const char *ns = krt_json_namespace(in), *name = krt_json_name(in);
    const char *gwkey = krt_obj_key(in);
    const krt_obj_t *const *recs;
    size_t nrec = krt_fetch_index(ctx, g->records_by_gw, gwkey, &recs);

    json_t *st = json_object(), *listeners = json_array(), *conds = json_array(),
           *addrs = json_array();
    int rc = KRT_ENOMEM;
    if (!st || !listeners || !conds || !addrs)
        goto out;

    size_t nvalid = 0, ninvalid = 0;
    size_t i;
    json_t *ls;
    json_array_foreach(tr__jarr(v, "spec.listeners"), i, ls)
    {
        const char *lname = tr__jstr_or(ls, "name", "");
        json_t *r = NULL;
        const char *rkey = NULL;
        for (size_t j = 0; j < nrec; j++) {
            json_t *c = tr__rec_json(recs[j]);
            if (tr__jint(c, "index", -1) == (json_int_t)i && !tr__jstr(c, "listenerSet")) {
                r = c;
                rkey = krt_obj_key(recs[j]);
            }
        }
        if (!r)
            continue; /* duplicate or unnamed listener */
        if (tr__jbool(r, "attachable", false))
            nvalid++;
        else
            ninvalid++;
        json_t *lc = tr__conds_final(json_object_get(r, "conditions"), gen);
        json_t *entry =
            json_pack("{s:s, s:O, s:I, s:o}", "name", lname, "supportedKinds",
                      json_object_get(json_object_get(r, "bind"), "kinds"), "attachedRoutes",
                      (json_int_t)tr__attached_routes(ctx, g, rkey), "conditions", lc);
        if (!entry || json_array_append_new(listeners, entry))
            goto out;
    }

    /* Addresses: spec.addresses, else those of the Gateway's Service (the deployer's): its load
     * balancer's, else its cluster IP. */
    bool bad_type = false, unusable = false;
    json_t *a;
    json_array_foreach(tr__jarr(v, "spec.addresses"), i, a)
    {
        const char *type = tr__jstr_or(a, "type", "IPAddress");
        const char *value = tr__jstr_or(a, "value", "");
        uint8_t ip[16];
        if (strcmp(type, "IPAddress") == 0) {
            if (tr__ip_bytes(value, ip))
                json_array_append_new(addrs,
                                      json_pack("{s:s, s:s}", "type", "IPAddress", "value", value));
            else if (*value)
                unusable = true;
        } else if (strcmp(type, "Hostname") == 0) {
            unusable = true;
        } else {
            bad_type = true;
        }
    }
    if (json_array_size(addrs) == 0) {
        char *skey = tr__fmt("%s/%s", ns, name);
        if (!skey)
            goto out;
        const krt_obj_t *svc = krt_fetch_key(ctx, g->in.services, skey);
        krt_free(skey);
        json_t *ing;
        json_array_foreach(
            tr__jarr(svc ? krt_json_value(svc) : NULL, "status.loadBalancer.ingress"), i, ing)
        {
            const char *ip = tr__jstr(ing, "ip"), *host = tr__jstr(ing, "hostname");
            if (ip && *ip)
                json_array_append_new(addrs,
                                      json_pack("{s:s, s:s}", "type", "IPAddress", "value", ip));
            else if (host && *host)
                json_array_append_new(addrs,
                                      json_pack("{s:s, s:s}", "type", "Hostname", "value", host));
        }
        /* No load balancer (a ClusterIP Service, or one still pending): its cluster IP. */
        const char *cip = tr__jstr(svc ? krt_json_value(svc) : NULL, "spec.clusterIP");
        if (json_array_size(addrs) == 0 && cip && *cip && strcmp(cip, "None") != 0)
            json_array_append_new(addrs, json_pack("{s:s, s:s}", "type", "IPAddress", "value", cip));
    }

    json_t *pref = tr__jpath(v, "spec.infrastructure.parametersRef");
    bool bad_params =
        pref && (strcmp(tr__jstr_or(pref, "group", ""), "agentgateway.dev") != 0 ||
                 strcmp(tr__jstr_or(pref, "kind", ""), "AgentgatewayParameters") != 0);

    bool accepted;
    bool ok = true;
    if (bad_type) {
        accepted = false;
        ok &= tr__cond_add(conds, tr__cond("Accepted", false, "UnsupportedAddress",
                                           "spec.addresses has an unsupported address type"));
    } else if (bad_params) {
        accepted = false;
        ok &= tr__cond_add(conds, tr__cond("Accepted", false, "InvalidParameters",
                                           "spec.infrastructure.parametersRef must name an "
                                           "agentgateway.dev AgentgatewayParameters"));
    } else if (nvalid == 0 && (ninvalid > 0 || !tr__jpath(v, "spec.allowedListeners"))) {
        /* (a Gateway admitting ListenerSets may have no listener of its own) */
        accepted = false;
        ok &= tr__cond_add(conds,
                           tr__cond("Accepted", false, "ListenersNotValid", "no valid listener"));
    } else if (ninvalid > 0) {
        accepted = true;
        ok &= tr__cond_add(
            conds, tr__cond("Accepted", true, "ListenersNotValid", "some listeners are not valid"));
    } else {
        accepted = true;
        ok &= tr__cond_add(conds, tr__cond("Accepted", true, "Accepted", "Gateway accepted"));
    }
    if (!accepted)
        ok &= tr__cond_add(conds,
                           tr__cond("Programmed", false, "Invalid", "Gateway is not accepted"));
    else if (unusable)
        ok &= tr__cond_add(conds, tr__cond("Programmed", false, "AddressNotUsable",
                                           "spec.addresses has an address that cannot be used"));
    else
        ok &= tr__cond_add(conds, tr__cond("Programmed", true, "Programmed", "Gateway programmed"));
    json_t *fc = ok ? tr__conds_final(conds, gen) : NULL;
    if (!fc)
        goto out;
    if (json_object_set_new(st, "conditions", fc) || json_object_set(st, "listeners", listeners) ||
        json_object_set(st, "addresses", addrs))
        goto out;
    if (tr__jpath(v, "spec.allowedListeners")) {
        /* ListenerSets attached: admitted and Accepted, i.e. with a programmed listener */
        json_t *seen = json_object();
        if (!seen)
            goto out;
        for (size_t j = 0; j < nrec; j++) {
            json_t *c = tr__rec_json(recs[j]);
            const char *set = tr__jstr(c, "listenerSet");
            if (set && tr__rec_programmed(c))
                json_object_set_new(seen, set, json_true());
        }
        int e = json_object_set_new(st, "attachedListenerSets",
                                    json_integer((json_int_t)json_object_size(seen)));
        json_decref(seen);
        if (e)
            goto out;
    }
    const krt_obj_t *so = tr__rec_new(gwkey, st);
    st = NULL;
    rc = so ? krt_ctx_set_status(ctx, so) : KRT_ENOMEM;
out:
    json_decref(st);
    json_decref(listeners);
    json_decref(conds);
    json_decref(addrs);
    return rc;
}
