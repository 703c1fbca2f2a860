/*
 * Helpers the controller's writers share (see kube/api.h): token bucket, backoff, paths, merge
 * patches. All pure; the one function that needs the transport lives in api_client.c.
 *
 * Key decision: writers compute a merge patch from the object they last saw and what they want,
 * and send nothing when it is empty, instead of sending server-side apply every time: an apply
 * that changes nothing still costs the API server a write path and an audit entry, and status
 * would be re-announced to every watcher of the kind.
 */
#include <stdio.h>
#include <string.h>

#include "kube/api.h"

void kube_bucket_init(kube_bucket_t *b, double qps, unsigned burst)
{
    memset(b, 0, sizeof *b);
    b->qps = qps > 0 ? qps : 10;
    b->burst = burst > 0 ? burst : 1;
    b->tokens = b->burst;
}

uint64_t kube_bucket_take(kube_bucket_t *b, uint64_t now_ms)
{
    if (!b->started) {
        b->started = true;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * b->qps / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    uint64_t wait = (uint64_t)((1.0 - b->tokens) * 1000.0 / b->qps) + 1;
    return wait;
}

uint64_t kube_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms)
{
    uint64_t d = base_ms;
    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

void kube_retry_later(kube_retry_t *r, uint64_t now_ms, uint64_t base_ms, uint64_t max_ms)
{
    r->not_before = now_ms + kube_backoff_ms(r->attempt, base_ms, max_ms);
    if (r->attempt < 30)
        r->attempt++;
}

bool kube_retry_due(const kube_retry_t *r, uint64_t now_ms, uint64_t *wait_ms)
{
    if (r->not_before <= now_ms)
        return true;
    if (r->not_before - now_ms < *wait_ms)
        *wait_ms = r->not_before - now_ms;
    return false;
}

void kube_retry_reset(kube_retry_t *r)
{
    *r = (kube_retry_t){0};
}

static bool bad_segment(const char *s)
{
    return s && (strchr(s, '/') || strchr(s, '?'));
}

int kube_api_path(char *buf, size_t cap, const char *api_version, const char *plural,
                  const char *ns, const char *name, const char *sub)
{
    if (!api_version || !plural || !*plural || bad_segment(plural) || bad_segment(ns) ||
        bad_segment(name) || bad_segment(sub) || strchr(api_version, '?'))
        return -1;
    const char *root = strchr(api_version, '/') ? "/apis/" : "/api/";
    int n = snprintf(buf, cap, "%s%s%s%s/%s%s%s%s%s", root, api_version,
                     ns && *ns ? "/namespaces/" : "", ns && *ns ? ns : "", plural,
                     name && *name ? "/" : "", name && *name ? name : "",
                     sub && *sub && name && *name ? "/" : "",
                     sub && *sub && name && *name ? sub : "");
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return n;
}

static const struct {
    const char *kind, *plural;
} plurals[] = {
    {"GatewayClass", "gatewayclasses"},
    {"Gateway", "gateways"},
    {"ListenerSet", "listenersets"},
    {"XListenerSet", "xlistenersets"},
    {"HTTPRoute", "httproutes"},
    {"GRPCRoute", "grpcroutes"},
    {"TCPRoute", "tcproutes"},
    {"TLSRoute", "tlsroutes"},
    {"UDPRoute", "udproutes"},
    {"BackendTLSPolicy", "backendtlspolicies"},
    {"AgentgatewayBackend", "agentgatewaybackends"},
    {"AgentgatewayPolicy", "agentgatewaypolicies"},
    {"AgentgatewayParameters", "agentgatewayparameters"},
    {"Deployment", "deployments"},
    {"Service", "services"},
    {"ServiceAccount", "serviceaccounts"},
    {"ConfigMap", "configmaps"},
    {"Secret", "secrets"},
    {"TokenReview", "tokenreviews"},
    {"Lease", "leases"},
};

const char *kube_api_plural(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof plurals / sizeof plurals[0]; i++)
        if (strcmp(plurals[i].kind, kind) == 0)
            return plurals[i].plural;
    return NULL;
}

json_t *kube_merge_patch(const json_t *cur, const json_t *want, bool prune, bool *oom)
{
    if (oom)
        *oom = false;
    if (!json_is_object(cur) || !json_is_object(want)) {
        if (cur && json_equal((json_t *)cur, (json_t *)want))
            return NULL;
        json_t *v = json_deep_copy(want);
        if (!v && oom)
            *oom = true;
        return v;
    }
    json_t *patch = json_object();
    if (!patch)
        goto nomem;
    const char *k;
    json_t *wv;
    json_object_foreach((json_t *)want, k, wv) {
        json_t *cv = json_object_get(cur, k);
        json_t *sub = NULL;
        if (!cv || json_is_null(cv)) {
            if (json_is_null(wv))
                continue;
            sub = json_deep_copy(wv);
            if (!sub)
                goto nomem;
        } else if (json_is_object(cv) && json_is_object(wv)) {
            bool o = false;
            sub = kube_merge_patch(cv, wv, prune, &o);
            if (o)
                goto nomem;
            if (!sub)
                continue;
        } else if (!json_equal(cv, wv) && (prune || !kube_json_covers(cv, wv))) {
            /* an explicit null in want is a removal in a merge patch, as it should be */
            sub = json_deep_copy(wv);
            if (!sub)
                goto nomem;
        } else {
            continue;
        }
        if (json_object_set_new(patch, k, sub) != 0)
            goto nomem;
    }
    if (prune) {
        json_t *cv;
        json_object_foreach((json_t *)cur, k, cv) {
            if (json_is_null(cv) || json_object_get(want, k))
                continue;
            if (json_object_set_new(patch, k, json_null()) != 0)
                goto nomem;
        }
    }
    if (json_object_size(patch) == 0) {
        json_decref(patch);
        return NULL;
    }
    return patch;
nomem:
    json_decref(patch);
    if (oom)
        *oom = true;
    return NULL;
}

bool kube_json_covers(const json_t *cur, const json_t *want)
{
    if (json_is_array(want) && json_is_array(cur)) {
        /* element by element: the API server adds defaults inside list items (containers, ports) */
        if (json_array_size(want) != json_array_size(cur))
            return false;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!kube_json_covers(json_array_get(cur, i), json_array_get(want, i)))
                return false;
        return true;
    }
    if (!json_is_object(want) || !json_is_object(cur))
        return cur && json_equal((json_t *)cur, (json_t *)want);
    const char *k;
    json_t *wv;
    json_object_foreach((json_t *)want, k, wv) {
        json_t *cv = json_object_get(cur, k);
        if (json_is_null(wv)) {
            if (cv && !json_is_null(cv))
                return false;
            continue;
        }
        if (!cv || !kube_json_covers(cv, wv))
            return false;
    }
    return true;
}

const char *kube_api_status_message(const kube_response_t *r, char *buf, size_t cap)
{
    if (!r) {
        snprintf(buf, cap, "no response");
        return buf;
    }
    json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    const char *reason = json_string_value(json_object_get(j, "reason"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (reason || msg)
        snprintf(buf, cap, "HTTP %d %s: %s", r->status, reason ? reason : "", msg ? msg : "");
    else
        snprintf(buf, cap, "HTTP %d", r->status);
    json_decref(j);
    return buf;
}
