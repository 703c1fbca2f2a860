/*
 * Route filters (proxy/filters.h): header modifiers over an owned header list, redirect
 * Location construction, URL rewrite, and picking the enforced filters out of the IR.
 *
 * Key decision: a small owned header list (copied strings, linear scans) instead of a hash map:
 * requests carry tens of fields, and order matters when fields are written back out, so a vector
 * beats any index. Name comparisons are ASCII case-insensitive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "proxy/filters.h"
#include "proxy/router.h"

void proxy_headers_dispose(proxy_headers_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    memset(h, 0, sizeof *h);
}

int proxy_headers_add(proxy_headers_t *h, const char *name, const char *value, size_t value_len)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 16;
        proxy_header_t *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv)
            return PROXY_ENOMEM;
        h->v = nv;
        h->cap = nc;
    }
    char *n = strdup(name);
    char *v = malloc(value_len + 1);
    if (!n || !v) {
        free(n);
        free(v);
        return PROXY_ENOMEM;
    }
    memcpy(v, value, value_len);
    v[value_len] = '\0';
    h->v[h->n++] = (proxy_header_t){n, v};
    return PROXY_OK;
}

size_t proxy_headers_remove(proxy_headers_t *h, const char *name)
{
    size_t o = 0, removed = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0) {
            free(h->v[i].name);
            free(h->v[i].value);
            removed++;
        } else {
            h->v[o++] = h->v[i];
        }
    }
    h->n = o;
    return removed;
}

int proxy_headers_set(proxy_headers_t *h, const char *name, const char *value)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) != 0)
            continue;
        char *v = strdup(value);
        if (!v)
            return PROXY_ENOMEM;
        free(h->v[i].value);
        h->v[i].value = v;
        /* drop the other fields of that name, keep this position */
        size_t o = i + 1;
        for (size_t j = i + 1; j < h->n; j++) {
            if (strcasecmp(h->v[j].name, name) == 0) {
                free(h->v[j].name);
                free(h->v[j].value);
            } else {
                h->v[o++] = h->v[j];
            }
        }
        h->n = o;
        return PROXY_OK;
    }
    return proxy_headers_add(h, name, value, strlen(value));
}

const char *proxy_headers_get(const proxy_headers_t *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            return h->v[i].value;
    return NULL;
}

int proxy_headers_modify(proxy_headers_t *h, const agw_header_modifier_t *m)
{
    if (!m)
        return PROXY_OK;
    for (size_t i = 0; i < m->n_add; i++)
        if (proxy_headers_add(h, m->add[i]->name, m->add[i]->value, strlen(m->add[i]->value)))
            return PROXY_ENOMEM;
    for (size_t i = 0; i < m->n_set; i++)
        if (proxy_headers_set(h, m->set[i]->name, m->set[i]->value))
            return PROXY_ENOMEM;
    for (size_t i = 0; i < m->n_remove; i++)
        proxy_headers_remove(h, m->remove[i]);
    return PROXY_OK;
}

void proxy_filters_collect(const agw_route_t *route, const agw_route_backend_t *rb,
                           proxy_filters_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; route && i < route->n_traffic_policies; i++) {
        const agw_tps_t *t = route->traffic_policies[i];
        switch (t->kind_case) {
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER:
            out->request_headers = t->request_header_modifier;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER:
            out->response_headers = t->response_header_modifier;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_REDIRECT:
            out->redirect = t->request_redirect;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_URL_REWRITE:
            out->rewrite = t->url_rewrite;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_DIRECT_RESPONSE:
            out->direct = t->direct_response;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_TIMEOUT:
            out->timeout = t->timeout;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_MIRROR:
            out->mirrors = t->request_mirror;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_RETRY:
            out->retry = t->retry;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_CORS:
            out->cors = t->cors;
            break;
        default:
            break;
        }
    }
    for (size_t i = 0; rb && i < rb->n_backend_policies; i++) {
        const Agentgateway__Dev__Resource__BackendPolicySpec *b = rb->backend_policies[i];
        switch (b->kind_case) {
        case AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER:
            out->backend_request_headers = b->request_header_modifier;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER:
            out->backend_response_headers = b->response_header_modifier;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_REQUEST_REDIRECT:
            out->backend_redirect = b->request_redirect;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_REQUEST_MIRROR:
            out->backend_mirrors = b->request_mirror;
            break;
        default:
            break;
        }
    }
}

/* ---- CORS ---------------------------------------------------------------------------------- */

static bool has_star(char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], "*"))
            return true;
    return false;
}

/* A pattern with one '*' (scheme https, host *.bar.com) against an origin (https, a.b.bar.com):
 * the same text around the '*', and what the '*' stands for is one or more labels (not empty,
 * no '/' or ':'). */
static bool origin_matches(const char *pattern, const char *origin)
{
    const char *star = strchr(pattern, '*');
    if (!strcmp(pattern, "*"))
        return true;
    if (!star)
        return strcasecmp(pattern, origin) == 0;
    size_t pre = (size_t)(star - pattern), post = strlen(star + 1), ol = strlen(origin);
    if (ol <= pre + post || strncasecmp(origin, pattern, pre) != 0 ||
        strcasecmp(origin + ol - post, star + 1) != 0)
        return false;
    for (const char *m = origin + pre; m < origin + ol - post; m++)
        if (*m == '/' || *m == ':' || *m == '*')
            return false;
    return true;
}

bool proxy_cors_origin_allowed(const agw_cors_t *c, const char *origin)
{
    if (!c || !origin || !origin[0])
        return false;
    for (size_t i = 0; i < c->n_allow_origins; i++)
        if (origin_matches(c->allow_origins[i], origin))
            return true;
    return false;
}

/* Sets |name| to the list joined with ", " (or |echo| when the list is "*" and |echo| given). */
static int set_list(proxy_headers_t *out, const char *name, char *const *v, size_t n,
                    const char *echo)
{
    if (!n)
        return PROXY_OK;
    if (has_star(v, n) && echo)
        return echo[0] ? proxy_headers_set(out, name, echo) : PROXY_OK;
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 2;
    char *j = malloc(len), *w = j;
    if (!j)
        return PROXY_ENOMEM;
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "%s%s", i ? ", " : "", v[i]);
    int rc = proxy_headers_set(out, name, j);
    free(j);
    return rc;
}

int proxy_cors_eval(const agw_cors_t *c, const char *method, const char *origin,
                    const char *req_method, const char *req_headers, proxy_headers_t *out)
{
    bool preflight = method && !strcmp(method, "OPTIONS") && origin && req_method;
    if (!c || !proxy_cors_origin_allowed(c, origin))
        return preflight && c ? PROXY_CORS_PREFLIGHT : PROXY_CORS_PASS;
    bool cred = c->allow_credentials;
    /* the origin itself even for "*": valid in every case, and the conformance test wants it on
     * simple requests; so the answer depends on Origin, which caches must know */
    int rc = proxy_headers_set(out, "access-control-allow-origin", origin);
    if (rc == PROXY_OK)
        rc = proxy_headers_set(out, "vary", "Origin");
    if (rc == PROXY_OK && cred)
        rc = proxy_headers_set(out, "access-control-allow-credentials", "true");
    /* on preflights too: the Gateway API's conformance test expects it there */
    if (rc == PROXY_OK)
        rc = set_list(out, "access-control-expose-headers", c->expose_headers, c->n_expose_headers,
                      cred ? "" : NULL);
    if (!preflight)
        return rc == PROXY_OK ? PROXY_CORS_PASS : rc;
    if (rc == PROXY_OK)
        rc = set_list(out, "access-control-allow-methods", c->allow_methods, c->n_allow_methods,
                      cred ? req_method : NULL);
    if (rc == PROXY_OK)
        rc = set_list(out, "access-control-allow-headers", c->allow_headers, c->n_allow_headers,
                      cred ? (req_headers ? req_headers : "") : NULL);
    uint64_t age = c->max_age && c->max_age->seconds > 0 ? (uint64_t)c->max_age->seconds : 0;
    if (rc == PROXY_OK && age) {
        char a[24];
        snprintf(a, sizeof a, "%llu", (unsigned long long)age);
        rc = proxy_headers_set(out, "access-control-max-age", a);
    }
    return rc == PROXY_OK ? PROXY_CORS_PREFLIGHT : rc;
}

uint64_t proxy_duration_ms(const Google__Protobuf__Duration *d)
{
    if (!d || d->seconds < 0 || d->nanos < 0 || (d->seconds == 0 && d->nanos == 0))
        return 0;
    uint64_t ms = (uint64_t)d->seconds * 1000u + (uint64_t)d->nanos / 1000000u;
    return ms ? ms : 1;
}

long proxy_path_replace_prefix(const char *path, const char *prefix, size_t prefix_len,
                               const char *replacement, char *out, size_t cap)
{
    while (prefix_len > 0 && prefix[prefix_len - 1] == '/')
        prefix_len--;
    size_t pl = strlen(path);
    const char *rest = path;
    if (pl >= prefix_len && memcmp(path, prefix, prefix_len) == 0)
        rest = path + prefix_len;
    size_t rl = strlen(replacement);
    while (rl > 0 && replacement[rl - 1] == '/')
        rl--;
    if (rest[0] != '\0' && rest[0] != '/' && rl > 0 && replacement[rl] == '/')
        rl++; /* keep the slash between replacement and an unsegmented rest */
    int n = snprintf(out, cap, "%.*s%s", (int)rl, replacement, rest);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    if (n == 0) {
        if (cap < 2)
            return -1;
        out[0] = '/';
        out[1] = '\0';
        n = 1;
    }
    return n;
}

/* |s| into |out| (|cap| bytes, NUL-terminated). Returns its length, or -1 when it does not fit
 * (|out| then holds a cut copy, as snprintf leaves it). Per request: snprintf showed in
 * profiles. */
static long copy_str(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n < cap) {
        memcpy(out, s, n + 1);
        return (long)n;
    }
    if (cap) {
        memcpy(out, s, cap - 1);
        out[cap - 1] = '\0';
    }
    return -1;
}

static long new_path(const char *full, const char *prefix_repl, bool has_full, bool has_prefix,
                     const proxy_url_t *u, char *out, size_t cap)
{
    const char *path = u->path && u->path[0] ? u->path : "/";
    if (has_full)
        return copy_str(out, cap, full);
    if (has_prefix && u->prefix)
        return proxy_path_replace_prefix(path, u->prefix, u->prefix_len, prefix_repl, out, cap);
    return copy_str(out, cap, path);
}

int proxy_redirect_location(const agw_redirect_t *r, const proxy_url_t *u, char *loc, size_t cap,
                            int *status)
{
    const char *scheme = r->scheme[0] ? r->scheme : (u->scheme ? u->scheme : "http");
    const char *host = u->host ? u->host : "";
    size_t hl = strlen(host);
    if (r->host[0]) {
        host = r->host;
        hl = strlen(host);
    } else {
        hl = proxy_host_strip_port(host);
    }
    uint32_t port;
    if (r->port)
        port = r->port;
    else if (r->scheme[0])
        port = !strcasecmp(scheme, "http")    ? 80
               : !strcasecmp(scheme, "https") ? 443
                                              : u->listener_port;
    else
        port = u->listener_port;
    bool dflt = (port == 80 && !strcasecmp(scheme, "http")) ||
                (port == 443 && !strcasecmp(scheme, "https")) || port == 0;
    char path[4096];
    if (new_path(r->full, r->prefix,
                 r->path_case == AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__PATH_FULL,
                 r->path_case == AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__PATH_PREFIX, u,
                 path, sizeof path) < 0)
        return PROXY_EINVAL;
    char portbuf[16] = "";
    if (!dflt)
        snprintf(portbuf, sizeof portbuf, ":%u", port);
    bool q = u->query && u->query[0];
    int n = snprintf(loc, cap, "%s://%.*s%s%s%s%s", scheme, (int)hl, host, portbuf, path,
                     q ? "?" : "", q ? u->query : "");
    if (n < 0 || (size_t)n >= cap)
        return PROXY_EINVAL;
    *status = r->status ? (int)r->status : 302;
    return PROXY_OK;
}

int proxy_rewrite_target(const agw_rewrite_t *r, const proxy_url_t *u, char *target, size_t cap,
                         const char **host)
{
    *host = r && r->host[0] ? r->host : NULL;
    char path[4096];
    long n = new_path(r ? r->full : NULL, r ? r->prefix : NULL,
                      r && r->path_case == AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__PATH_FULL,
                      r && r->path_case == AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__PATH_PREFIX, u,
                      path, sizeof path);
    if (n < 0)
        return PROXY_EINVAL;
    /* path, then "?query" when the query is not empty */
    size_t ql = u->query ? strlen(u->query) : 0;
    size_t need = (size_t)n + (ql ? 1 + ql : 0);
    if (need >= cap)
        return PROXY_EINVAL;
    memcpy(target, path, (size_t)n);
    if (ql) {
        target[n] = '?';
        memcpy(target + n + 1, u->query, ql);
    }
    target[need] = '\0';
    return PROXY_OK;
}
