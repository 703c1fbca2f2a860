/*
 * Routes: parent binding, Route / TCPRoute resources and route status, for the four route kinds.
 *
 * Two collections per kind. The binding collection decides, per route, which listeners each
 * parentRef attaches the route to and why not (reading only the listener records' "bind" part, without
 * its port unless the parentRef names one, and, for Selector listeners, the route's Namespace
 * labels). The IR collection turns each rule into a
 * resource per attached listener and reports status, reading the binding, Services and grants.
 * Splitting them means a backend or weight edit recomputes the route's resources but not its
 * binding, so the Gateway's attachedRoutes (counted from the bindings' index) is not recomputed;
 * and a listener edit rebinds routes without re-resolving their backends unless the binding
 * actually changed.
 *
 * Binding rules (Gateway API, as agentgateway applies them), per parentRef and candidate listener,
 * in this order: parentRef.port must equal the listener port, parentRef.sectionName its name
 * (else NoMatchingParent); one route hostname must intersect the listener hostname (else
 * NoMatchingListenerHostname); the route's namespace must be allowed (Same / All / Selector over
 * the Namespace's labels plus kubernetes.io/metadata.name) and its kind must be among the
 * listener's supported kinds (else NotAllowedByListeners). A parentRef is Accepted when at least
 * one listener accepts it; otherwise it reports the reason of the candidate that got furthest.
 * parentRefs to Gateways that are not ours (or do not exist) get no status entry; Service parents
 * are not supported yet and are ignored. A ListenerSet parent offers the set's listeners as
 * candidates (Same then means the set's namespace), a Gateway parent only the Gateway's own: a
 * route reaches a set's listener only by naming the set.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static const char *const stage_reason[] = {"NoMatchingParent", "NoMatchingListenerHostname",
                                           "NotAllowedByListeners"};

/* Whether the route's namespace |ns| is allowed by |allowed|; fetches the Namespace for
 * Selector (once, into *nsobj). */
static bool namespace_allowed(krt_ctx_t *ctx, const tr_graph_t *g, json_t *allowed, const char *ns,
                              const char *gwns, const krt_obj_t **nsobj, bool *fetched)
{
    const char *from = tr__jstr_or(allowed, "from", "Same");
    if (strcmp(from, "All") == 0)
        return true;
    if (strcmp(from, "Selector") != 0)
        return strcmp(ns, gwns) == 0;
    if (!*fetched) {
        const char *keys[1] = {ns};
        krt_filter_t f = {.keys = keys, .nkeys = 1, .same = tr__same_labels};
        const krt_obj_t *const *out;
        *nsobj = krt_fetch(ctx, g->in.namespaces, &f, &out) ? out[0] : NULL;
        *fetched = true;
    }
    json_t *labels = *nsobj ? tr__jpath(krt_json_value(*nsobj), "metadata.labels") : NULL;
    return tr__selector_matches(json_object_get(allowed, "selector"), labels,
                                "kubernetes.io/metadata.name", ns);
}

static bool kind_supported(json_t *kinds, const char *kind)
{
    size_t i;
    json_t *k;
    json_array_foreach(kinds, i, k)
    {
        if (strcmp(tr__jstr_or(k, "kind", ""), kind) == 0 &&
            strcmp(tr__jstr_or(k, "group", ""), TR_GW_GROUP) == 0)
            return true;
    }
    return false;
}

static bool any_hostname_matches(json_t *hostnames, const char *lhost)
{
    if (json_array_size(hostnames) == 0)
        return tr__hostnames_intersect(lhost, "*");
    size_t i;
    json_t *h;
    json_array_foreach(hostnames, i, h)
    {
        if (json_is_string(h) && tr__hostnames_intersect(lhost, json_string_value(h)))
            return true;
    }
    return false;
}

/* The parentRef as status echoes it: group and kind explicit, the rest as written. */
static json_t *ref_echo(json_t *pr)
{
    json_t *r = json_pack("{s:s, s:s, s:s}", "group", tr__jstr_or(pr, "group", TR_GW_GROUP), "kind",
                          tr__jstr_or(pr, "kind", "Gateway"), "name", tr__jstr_or(pr, "name", ""));
    if (!r)
        return NULL;
    const char *ns = tr__jstr(pr, "namespace"), *section = tr__jstr(pr, "sectionName");
    if (ns && *ns)
        json_object_set_new(r, "namespace", json_string(ns));
    if (section && *section)
        json_object_set_new(r, "sectionName", json_string(section));
    json_int_t port = tr__jint(pr, "port", 0);
    if (port > 0)
        json_object_set_new(r, "port", json_integer(port));
    return r;
}

/* The parentRef as a binding keeps it: the echo without the group and kind when they are the
 * defaults (route_status puts them back with ref_echo). Two parentRefs have equal echoes exactly
 * when they have equal compact forms. Takes and returns |echo|. */
static json_t *ref_compact(json_t *echo)
{
    if (echo && strcmp(tr__jstr_or(echo, "group", ""), TR_GW_GROUP) == 0)
        json_object_del(echo, "group");
    if (echo && strcmp(tr__jstr_or(echo, "kind", ""), "Gateway") == 0)
        json_object_del(echo, "kind");
    return echo;
}

/* The key of the Listener named |name| of |owner| ("ns/name" of a Gateway or a ListenerSet), as
 * ir_key_listener forms it; NULL on OOM. */
static char *listener_key(const char *owner, const char *name)
{
    return tr__fmt("%s.%s", owner, name);
}

/* A binding is a record {"parents": [entry...]}, one entry per distinct parentRef of ours:
 *   {"ref": compact parentRef, "gateway": "ns/name", "accepted": bool,
 *    "reason", "message" (only when not accepted),
 *    "listeners": [{"rec": record key, "name": listener name,
 *                   "listenerSet": "ns/name" (a set's listener only),
 *                   "gateway", "listenerKey" (only when they differ from the entry's gateway and
 *                   from the key the owner and name give: listener_key)}]}
 * Only what cannot be derived is written: bindings are held for every route. */
int tr__binding_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr__rk_t *rk = ud;
    const tr_graph_t *g = rk->g;
    json_t *v = krt_json_value(in);
    const char *ns = krt_json_namespace(in);
    json_t *hostnames = rk->which == TR_RK_TCP ? NULL : tr__jarr(v, "spec.hostnames");
    json_t *parents = json_array();
    if (!parents)
        return KRT_ENOMEM;
    const krt_obj_t *nsobj = NULL;
    bool ns_fetched = false;
    int rc = KRT_ENOMEM;

    size_t i;
    json_t *pr;
    json_array_foreach(tr__jarr(v, "spec.parentRefs"), i, pr)
    {
        const char *pkind = tr__jstr_or(pr, "kind", "Gateway");
        bool to_set = strcmp(pkind, "ListenerSet") == 0;
        if (strcmp(tr__jstr_or(pr, "group", TR_GW_GROUP), TR_GW_GROUP) != 0 ||
            (strcmp(pkind, "Gateway") != 0 && !to_set))
            continue;
        json_t *echo = ref_compact(ref_echo(pr));
        if (!echo)
            goto out;
        /* the same parentRef twice: one status entry */
        bool dup = false;
        size_t j;
        json_t *seen;
        json_array_foreach(parents, j, seen)
        {
            if (json_equal(json_object_get(seen, "ref"), echo))
                dup = true;
        }
        if (dup) {
            json_decref(echo);
            continue;
        }
        const char *pns = tr__jstr_or(pr, "namespace", ns);
        const char *pname = tr__jstr_or(pr, "name", "");
        char *gwkey = tr__fmt("%s/%s", pns, pname);
        if (!gwkey) {
            json_decref(echo);
            goto out;
        }
        /* Only a parentRef with a port reads the listeners' ports: without one, a listener
         * moving to another port leaves this route's binding as it was (the Listener's key, which
         * the binding hands on, does not hold the port). */
        json_int_t port = tr__jint(pr, "port", 0);
        krt_filter_t f = {.index = to_set ? g->records_by_ls : g->records_own,
                          .index_key = gwkey,
                          .same = port > 0 ? tr__same_rec_bind : tr__same_rec_bind_but_port};
        const krt_obj_t *const *recs;
        size_t nrec = krt_fetch(ctx, g->records, &f, &recs);
        /* not one of our Gateways (or one with no listener of its own), or a ListenerSet none of
         * them admits */
        if (nrec == 0 && (to_set || !tr__gateway_ours(ctx, g, gwkey))) {
            krt_free(gwkey);
            json_decref(echo);
            continue;
        }
        const char *section = tr__jstr_or(pr, "sectionName", "");
        const char *pgw = nrec ? tr__jstr_or(tr__rec_json(recs[0]), "gateway", gwkey) : gwkey;
        json_t *listeners = json_array();
        int best = -1;
        char msg[300] = "";
        for (size_t r = 0; r < nrec && listeners; r++) {
            json_t *b = json_object_get(tr__rec_json(recs[r]), "bind");
            if (!tr__jbool(b, "attachable", false))
                continue;
            const char *lname = tr__jstr_or(b, "name", "");
            const char *lhost = tr__jstr_or(b, "hostname", "");
            int stage;
            if (port > 0 && tr__jint(b, "port", 0) != port) {
                stage = 0;
                snprintf(msg, sizeof msg, "no listener on port %lld", (long long)port);
            } else if (*section && strcmp(section, lname) != 0) {
                stage = 0;
                snprintf(msg, sizeof msg, "no listener named %s", section);
            } else if (!any_hostname_matches(hostnames, lhost)) {
                stage = 1;
            } else if (!namespace_allowed(ctx, g, json_object_get(b, "allowed"), ns, pns, &nsobj,
                                          &ns_fetched)) {
                stage = 2;
            } else if (!kind_supported(json_object_get(b, "kinds"), rk->kind)) {
                stage = 2;
            } else {
                const char *lgw = tr__jstr_or(tr__rec_json(recs[r]), "gateway", gwkey);
                const char *lkey = tr__jstr_or(b, "listenerKey", "");
                char *derived = listener_key(to_set ? gwkey : lgw, lname);
                json_t *l = derived ? json_pack("{s:s, s:s}", "rec", krt_obj_key(recs[r]), "name",
                                                lname)
                                    : NULL;
                if (l && to_set)
                    json_object_set_new(l, "listenerSet", json_string(gwkey));
                if (l && strcmp(lgw, pgw) != 0)
                    json_object_set_new(l, "gateway", json_string(lgw));
                if (l && strcmp(lkey, derived) != 0)
                    json_object_set_new(l, "listenerKey", json_string(lkey));
                krt_free(derived);
                if (!l || json_array_append_new(listeners, l)) {
                    json_decref(listeners);
                    listeners = NULL;
                }
                continue;
            }
            if (stage > best)
                best = stage;
        }
        json_t *entry = NULL;
        if (listeners) {
            bool ok = json_array_size(listeners) > 0;
            const char *reason = ok ? "Accepted" : stage_reason[best < 0 ? 0 : best];
            const char *m;
            char buf[300];
            if (ok)
                m = "Route accepted";
            else if (best == 1)
                m = "no route hostname intersects a listener hostname";
            else if (best == 2)
                m = "the listeners do not allow this route's namespace or kind";
            else if (best == 0)
                m = msg;
            else {
                snprintf(buf, sizeof buf, "%s %s has no listener accepting routes", pkind, gwkey);
                m = buf;
            }
            entry = json_pack("{s:o, s:s, s:b, s:o}", "ref", echo, "gateway", pgw, "accepted", ok,
                              "listeners", listeners);
            echo = NULL;
            listeners = NULL;
            if (entry && !ok &&
                (json_object_set_new(entry, "reason", json_string(reason)) ||
                 json_object_set_new(entry, "message", tr__jstring(m)))) {
                json_decref(entry);
                entry = NULL;
            }
        }
        json_decref(echo);
        json_decref(listeners);
        krt_free(gwkey);
        if (!entry || json_array_append_new(parents, entry))
            goto out;
    }
    if (json_array_size(parents) == 0) {
        rc = KRT_OK;
        goto out;
    }
    const krt_obj_t *rec = tr__rec_new(krt_obj_key(in), json_pack("{s:O}", "parents", parents));
    rc = rec ? krt_emit(ctx, rec) : KRT_ENOMEM;
out:
    json_decref(parents);
    return rc;
}

void tr__binding_index(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    size_t i, j;
    json_t *p, *l;
    json_array_foreach(json_object_get(tr__rec_json(o), "parents"), i, p)
    {
        json_array_foreach(json_object_get(p, "listeners"), j, l)
        {
            const char *rec = tr__jstr(l, "rec");
            if (rec)
                krt_keys_add(keys, rec);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Route resources and status.
 * ------------------------------------------------------------------------------------------- */
static json_t *route_status(const tr__rk_t *rk, const krt_obj_t *in, json_t *binding,
                            const tr__problem_t *p)
{
    json_t *parents = json_array();
    if (!parents)
        return NULL;
    json_int_t gen = tr__generation(in);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(binding, "parents"), i, e)
    {
        json_t *conds = json_array();
        bool accepted = tr__jbool(e, "accepted", false);
        bool ok = conds != NULL;
        if (accepted && p->reason && p->accepted_false)
            ok &= tr__cond_add(conds, tr__cond("Accepted", false, p->reason, p->message));
        else
            ok &= tr__cond_add(
                conds, tr__cond("Accepted", accepted,
                                accepted ? "Accepted" : tr__jstr_or(e, "reason", ""),
                                accepted ? "Route accepted" : tr__jstr_or(e, "message", "")));
        if (p->reason && !p->accepted_false)
            ok &= tr__cond_add(conds, tr__cond("ResolvedRefs", false, p->reason, p->message));
        else
            ok &= tr__cond_add(
                conds, tr__cond("ResolvedRefs", true, "ResolvedRefs", "All references resolved"));
        json_t *fc = ok ? tr__conds_final(conds, gen) : NULL;
        json_decref(conds);
        json_t *ref = fc ? ref_echo(json_object_get(e, "ref")) : NULL;
        json_t *entry = ref ? json_pack("{s:o, s:s, s:o}", "parentRef", ref, "controllerName",
                                        rk->g->controller, "conditions", fc)
                            : NULL;
        if (!ref)
            json_decref(fc);
        if (!entry || json_array_append_new(parents, entry)) {
            json_decref(parents);
            return NULL;
        }
    }
    return json_pack("{s:o}", "parents", parents);
}

/* Whether a parent before |upto| already accepted the listener record |rec|. */
static bool seen_before(json_t *parents, size_t upto, const char *rec)
{
    for (size_t i = 0; i < upto; i++) {
        json_t *e = json_array_get(parents, i);
        size_t j;
        json_t *l;
        json_array_foreach(json_object_get(e, "listeners"), j, l)
        {
            if (strcmp(tr__jstr_or(l, "rec", ""), rec) == 0)
                return true;
        }
    }
    return false;
}

/* Emits one resource of rule |rule| per accepted listener, from the template |tmpl| (a Route or
 * TCPRoute whose key and listener_key are set here). |base| is the rule's base key. */
static int emit_per_listener(krt_ctx_t *ctx, const tr__rk_t *rk, json_t *binding, const char *base,
                             ProtobufCMessage *tmpl)
{
    bool tcp = rk->which == TR_RK_TCP || rk->which == TR_RK_TLS;
    size_t i, j;
    json_t *e, *l;
    json_t *parents = json_object_get(binding, "parents");
    json_array_foreach(parents, i, e)
    {
        if (!tr__jbool(e, "accepted", false))
            continue;
        json_array_foreach(json_object_get(e, "listeners"), j, l)
        {
            if (seen_before(parents, i, tr__jstr_or(l, "rec", "")))
                continue; /* the same listener through two parentRefs: one resource */
            const char *set = tr__jstr(l, "listenerSet");
            const char *slash = set ? strchr(set, '/') : NULL;
            char setns[256];
            char *key;
            if (slash) {
                snprintf(setns, sizeof setns, "%.*s", (int)(slash - set), set);
                key = ir_key_route_for_listener_set(base, setns, slash + 1,
                                                    tr__jstr_or(l, "name", ""));
            } else {
                key = ir_key_route_for_listener(base, tr__jstr_or(l, "name", ""));
            }
            if (!key)
                return KRT_ENOMEM;
            const char *gw = tr__jstr_or(l, "gateway", tr__jstr_or(e, "gateway", ""));
            const char *lname = tr__jstr_or(l, "name", "");
            char *own_lkey = tr__jstr(l, "listenerKey") ? NULL : listener_key(set ? set : gw, lname);
            char *lkey = own_lkey ? own_lkey : (char *)tr__jstr_or(l, "listenerKey", "");
            if (!own_lkey && !tr__jstr(l, "listenerKey")) {
                krt_free(key);
                return KRT_ENOMEM;
            }
            ir_err_t err;
            const ir_obj_t *o;
            if (tcp) {
                T_(TCPRoute) *r = (T_(TCPRoute) *)tmpl;
                char *ok = r->key, *ol = r->listener_key;
                r->key = key;
                r->listener_key = lkey;
                const ir_tcp_route_t *x = ir_tcp_route_from_pb(r, gw, &err);
                r->key = ok;
                r->listener_key = ol;
                o = x ? ir_tcp_route_obj(x) : NULL;
            } else {
                T_(Route) *r = (T_(Route) *)tmpl;
                char *ok = r->key, *ol = r->listener_key;
                r->key = key;
                r->listener_key = lkey;
                const ir_route_t *x = ir_route_from_pb(r, gw, &err);
                r->key = ok;
                r->listener_key = ol;
                o = x ? ir_route_obj(x) : NULL;
            }
            krt_free(key);
            krt_free(own_lkey);
            int rc = tr__emit_ir(ctx, o, &err);
            if (rc)
                return rc;
        }
    }
    return KRT_OK;
}

static T_(RouteName) *
    route_name(tr__pb_t *b, const tr__rk_t *rk, const krt_obj_t *in, json_t *rule)
{
    T_(RouteName) *n = tr__pb_new(b, &D_(route_name));
    if (!n)
        return NULL;
    n->kind = tr__pb_str(b, rk->kind);
    n->name = tr__pb_str(b, krt_json_name(in));
    n->namespace_ = tr__pb_str(b, krt_json_namespace(in));
    const char *rn = tr__jstr(rule, "name");
    if (rn && *rn) {
        n->_rule_name_case = R_(ROUTE_NAME___RULE_NAME_RULE_NAME);
        n->rule_name = tr__pb_str(b, rn);
    }
    return n;
}

static void tcp_backends(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *rule,
                         T_(TCPRoute) * r, tr__pb_t *b, tr__problem_t *p)
{
    size_t i;
    json_t *ref;
    json_array_foreach(tr__jarr(rule, "backendRefs"), i, ref)
    {
        tr__backend_t be;
        tr__backend_resolve(ctx, rk, ns, ref, b, &be);
        if (!be.ok)
            tr__problem_set(p, false, be.reason, "%s", be.message);
        tr__pb_push(b, (void ***)&r->backends, &r->n_backends, be.rb, true);
    }
}

static void set_hostnames(tr__pb_t *b, json_t *hostnames, char ***arr, size_t *n)
{
    size_t i;
    json_t *h;
    json_array_foreach(hostnames, i, h)
    {
        if (json_is_string(h))
            tr__pb_push(b, (void ***)arr, n, tr__pb_str(b, json_string_value(h)), false);
    }
}

int tr__route_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr__rk_t *rk = ud;
    const krt_obj_t *bo = krt_fetch_key(ctx, rk->bindings, krt_obj_key(in));
    if (!bo)
        return KRT_OK; /* no parent of ours: no resources, no status */
    json_t *binding = tr__rec_json(bo);
    json_t *v = krt_json_value(in);
    const char *ns = krt_json_namespace(in), *name = krt_json_name(in);
    int64_t created = tr__created_unix(in);
    ir_route_source_t src = rk->which == TR_RK_HTTP   ? IR_ROUTE_HTTP
                            : rk->which == TR_RK_GRPC ? IR_ROUTE_GRPC
                            : rk->which == TR_RK_TCP  ? IR_ROUTE_TCP
                                                      : IR_ROUTE_TLS;
    tr__problem_t problem = {0};
    json_t *rules = tr__jarr(v, "spec.rules");
    json_t *implicit = NULL;
    if (json_array_size(rules) == 0 && (rk->which == TR_RK_HTTP || rk->which == TR_RK_GRPC)) {
        /* Gateway API: a route without rules has one rule matching everything (with no
         * backends: the proxy answers 500). */
        implicit = json_pack("[{}]");
        if (!implicit)
            return KRT_ENOMEM;
        rules = implicit;
    }
    int rc = KRT_OK;
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        if (i > 99)
            break; /* the Gateway API allows at most 16 rules; two digits in keys */
        tr__pb_t b = {0};
        char *base = ir_key_route_base(src, ns, name, (unsigned)i, created);
        ProtobufCMessage *tmpl = NULL;
        if (!base) {
            rc = KRT_ENOMEM;
            break;
        }
        if (rk->which == TR_RK_HTTP || rk->which == TR_RK_GRPC) {
            T_(Route) *r = tr__pb_new(&b, &D_(route));
            if (r) {
                tmpl = &r->base;
                r->name = route_name(&b, rk, in, rule);
                set_hostnames(&b, tr__jarr(v, "spec.hostnames"), &r->hostnames, &r->n_hostnames);
                if (rk->which == TR_RK_HTTP)
                    tr__rule_http(ctx, rk, ns, rule, r, &b, &problem);
                else
                    tr__rule_grpc(ctx, rk, ns, rule, r, &b, &problem);
            }
        } else {
            T_(TCPRoute) *r = tr__pb_new(&b, &D_(tcproute));
            if (r) {
                tmpl = &r->base;
                r->name = route_name(&b, rk, in, rule);
                if (rk->which == TR_RK_TLS)
                    set_hostnames(&b, tr__jarr(v, "spec.hostnames"), &r->hostnames,
                                  &r->n_hostnames);
                tcp_backends(ctx, rk, ns, rule, r, &b, &problem);
            }
        }
        if (b.oom)
            rc = KRT_ENOMEM;
        else
            rc = emit_per_listener(ctx, rk, binding, base, tmpl);
        ir_pb_free(tmpl);
        krt_free(base);
        if (rc)
            break;
    }
    json_decref(implicit);
    if (rc)
        return rc;
    json_t *st = route_status(rk, in, binding, &problem);
    const krt_obj_t *so = st ? tr__rec_new(krt_obj_key(in), st) : NULL;
    return so ? krt_ctx_set_status(ctx, so) : KRT_ENOMEM;
}
