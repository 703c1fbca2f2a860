/*
 * ListenerSets (gateway.networking.k8s.io ListenerSet): listeners added to a Gateway from
 * outside it.
 *
 * A ListenerSet names one parent Gateway. The Gateway admits it through
 * spec.allowedListeners.namespaces.from: None (the default: no ListenerSet), Same (the Gateway's
 * namespace), All, or Selector (a LabelSelector over the set's Namespace labels plus
 * kubernetes.io/metadata.name). An admitted set's listeners become listener records of the
 * Gateway (gateway.c, where conflicts with the Gateway's own listeners and other sets' are
 * decided: the Gateway wins, then older sets), so they share the Gateway's Binds while their
 * Listener keys and names carry the set, as agentgateway forms them. This file holds the pieces
 * both sides need (the parent index, the admission rule) and the set's status:
 *   Accepted/Programmed False/NotAllowed   the Gateway does not admit it
 *   Accepted/Programmed False/ParentNotAccepted   the Gateway is refused (address type, params)
 *   Accepted/Programmed False/ListenersNotValid   none of its listeners is programmed
 *   Accepted/Programmed True                 otherwise
 * and per listener the same conditions, supportedKinds and attachedRoutes as a Gateway listener.
 * A set whose parent is missing, not a Gateway, or a Gateway of another controller gets no status.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

bool tr__ls_parent(json_t *ls, const char *lsns, char *buf, size_t cap)
{
    json_t *pr = tr__jpath(ls, "spec.parentRef");
    if (!pr || strcmp(tr__jstr_or(pr, "group", TR_GW_GROUP), TR_GW_GROUP) != 0 ||
        strcmp(tr__jstr_or(pr, "kind", "Gateway"), "Gateway") != 0)
        return false;
    const char *name = tr__jstr_or(pr, "name", "");
    if (!*name)
        return false;
    int w = snprintf(buf, cap, "%s/%s", tr__jstr_or(pr, "namespace", lsns ? lsns : ""), name);
    return w > 0 && (size_t)w < cap;
}

void tr__ls_parent_index(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    char key[512];
    if (tr__ls_parent(krt_json_value(o), krt_json_namespace(o), key, sizeof key))
        krt_keys_add(keys, key);
}

bool tr__rec_programmed(json_t *rec)
{
    size_t k;
    json_t *c;
    json_array_foreach(json_object_get(rec, "conditions"), k, c)
    {
        if (strcmp(tr__jstr_or(c, "type", ""), "Programmed") == 0)
            return strcmp(tr__jstr_or(c, "status", ""), "True") == 0;
    }
    return false;
}

void tr__records_own_index(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    json_t *r = tr__rec_json(o);
    const char *gw = tr__jstr(r, "gateway");
    if (gw && !tr__jstr(r, "listenerSet"))
        krt_keys_add(keys, gw);
}

void tr__records_ls_index(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    const char *set = tr__jstr(tr__rec_json(o), "listenerSet");
    if (set)
        krt_keys_add(keys, set);
}

bool tr__ls_allowed(krt_ctx_t *ctx, const tr_graph_t *g, json_t *gw, const char *gwns,
                    const char *lsns)
{
    const char *from = tr__jstr_or(gw, "spec.allowedListeners.namespaces.from", "None");
    if (strcmp(from, "All") == 0)
        return true;
    if (strcmp(from, "Same") == 0)
        return strcmp(gwns, lsns) == 0;
    if (strcmp(from, "Selector") != 0)
        return false;
    const char *keys[1] = {lsns};
    krt_filter_t f = {.keys = keys, .nkeys = 1, .same = tr__same_labels};
    const krt_obj_t *const *out;
    const krt_obj_t *nsobj = krt_fetch(ctx, g->in.namespaces, &f, &out) ? out[0] : NULL;
    json_t *labels = nsobj ? tr__jpath(krt_json_value(nsobj), "metadata.labels") : NULL;
    return tr__selector_matches(tr__jpath(gw, "spec.allowedListeners.namespaces.selector"), labels,
                                "kubernetes.io/metadata.name", lsns);
}

static bool set_conds(json_t *conds, bool ok, const char *reason, const char *msg)
{
    bool r = tr__cond_add(conds, tr__cond("Accepted", ok, ok ? "Accepted" : reason,
                                          ok ? "ListenerSet accepted" : msg));
    r &= tr__cond_add(conds, tr__cond("Programmed", ok, ok ? "Programmed" : reason,
                                      ok ? "ListenerSet programmed" : msg));
    return r;
}

int tr__ls_status_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    const char *lsns = krt_json_namespace(in);
    char gwkey[512];
    if (!tr__ls_parent(v, lsns, gwkey, sizeof gwkey))
        return KRT_OK;
    const krt_obj_t *gw = krt_fetch_key(ctx, g->in.gateways, gwkey);
    if (!gw)
        return KRT_OK;
    json_t *gv = krt_json_value(gw);
    const char *cls = tr__jstr_or(gv, "spec.gatewayClassName", "");
    if (!*cls || !krt_fetch_key(ctx, g->classes, cls))
        return KRT_OK; /* another controller's Gateway */
    json_int_t gen = tr__generation(in);

    json_t *st = json_object(), *listeners = json_array(), *conds = json_array();
    int rc = KRT_ENOMEM;
    if (!st || !listeners || !conds)
        goto out;
    bool ok = true;
    const char *refused = tr__gateway_refusal(gv);
    if (!tr__ls_allowed(ctx, g, gv, krt_json_namespace(gw), lsns)) {
        ok &= set_conds(conds, false, "NotAllowed",
                        "the parent Gateway's allowedListeners does not admit this namespace");
    } else if (refused) {
        char msg[128];
        snprintf(msg, sizeof msg, "the parent Gateway is not accepted (%s)", refused);
        ok &= set_conds(conds, false, "ParentNotAccepted", msg);
    } else {
        const krt_obj_t *const *recs;
        size_t nrec = krt_fetch_index(ctx, g->records_by_ls, krt_obj_key(in), &recs);
        size_t nvalid = 0;
        size_t i;
        json_t *spec;
        json_array_foreach(tr__jarr(v, "spec.listeners"), i, spec)
        {
            json_t *r = NULL;
            const char *rkey = NULL;
            for (size_t j = 0; j < nrec; j++) {
                json_t *c = tr__rec_json(recs[j]);
                if (tr__jint(c, "index", -1) == (json_int_t)i) {
                    r = c;
                    rkey = krt_obj_key(recs[j]);
                }
            }
            if (!r)
                continue; /* duplicate or unnamed listener */
            json_t *rconds = json_object_get(r, "conditions");
            if (tr__rec_programmed(r))
                nvalid++;
            json_t *entry =
                json_pack("{s:s, s:O, s:I, s:o}", "name", tr__jstr_or(spec, "name", ""),
                          "supportedKinds", json_object_get(json_object_get(r, "bind"), "kinds"),
                          "attachedRoutes", (json_int_t)tr__attached_routes(ctx, g, rkey),
                          "conditions", tr__conds_final(rconds, gen));
            if (!entry || json_array_append_new(listeners, entry))
                goto out;
        }
        ok &= set_conds(conds, nvalid > 0, "ListenersNotValid", "no listener is valid");
    }
    json_t *fc = ok ? tr__conds_final(conds, gen) : NULL;
    if (!fc || json_object_set_new(st, "conditions", fc) ||
        json_object_set(st, "listeners", listeners))
        goto out;
    const krt_obj_t *so = tr__rec_new(krt_obj_key(in), st);
    st = NULL;
    rc = so ? krt_ctx_set_status(ctx, so) : KRT_ENOMEM;
out:
    json_decref(st);
    json_decref(listeners);
    json_decref(conds);
    return rc;
}
