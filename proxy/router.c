/*
 * The router: Gateway API route selection over a snapshot (proxy/router.h), without I/O.
 *
 * Key decision: every candidate match is scored with a tuple that encodes the spec's precedence
 * rules in order (route hostname, path kind, prefix length, method, header count, query count,
 * then the tie-breaks), and the router keeps the best fitting candidate in one pass over the
 * listener's routes. The alternative, pre-sorting matches per listener once per snapshot and
 * taking the first that fits, saves the comparisons but not the evaluation of the matches before
 * the winner; it can come later when listeners carry thousands of routes (docs/proxy.md).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "proxy/router.h"

size_t proxy_host_strip_port(const char *host)
{
    if (!host)
        return 0;
    size_t n = strlen(host);
    if (host[0] == '[') {
        const char *e = strchr(host, ']');
        return e ? (size_t)(e - host) + 1 : n;
    }
    const char *c = strchr(host, ':');
    if (c && !strchr(c + 1, ':'))
        n = (size_t)(c - host);
    while (n > 0 && host[n - 1] == '.')
        n--;
    return n;
}

int proxy_hostname_score(const char *pattern, const char *host, size_t host_len)
{
    size_t pl = strlen(pattern);
    if (pl == 0)
        return 0;
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t sl = pl - 1; /* ".foo.com" */
        if (host_len > sl && strncasecmp(host + host_len - sl, pattern + 1, sl) == 0)
            return 1000 + (int)pl;
        return -1;
    }
    if (pl == host_len && strncasecmp(pattern, host, pl) == 0)
        return 2000 + (int)pl;
    return -1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long proxy_query_get(const char *query, const char *name, char *buf, size_t cap)
{
    if (!query || !cap)
        return -1;
    size_t nl = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *ne = eq ? eq : end;
        if ((size_t)(ne - p) == nl && memcmp(p, name, nl) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : end; v < end; v++) {
                int ch = (unsigned char)*v;
                if (ch == '%' && end - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    ch = hexval(v[1]) * 16 + hexval(v[2]);
                    v += 2;
                } else if (ch == '+') {
                    ch = ' ';
                }
                if (o + 1 >= cap)
                    return -1;
                buf[o++] = (char)ch;
            }
            buf[o] = '\0';
            return (long)o;
        }
        p = *end ? end + 1 : end;
    }
    return -1;
}

static bool re_full(pcre2_code *re, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md)
        return false;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static const net_h2_header_t *header_get(const proxy_request_t *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->nheaders; i++)
        if (r->headers[i].name_len == nl && strncasecmp(r->headers[i].name, name, nl) == 0)
            return &r->headers[i];
    return NULL;
}

static bool path_fits(const proxy__match_t *m, const char *path, size_t len)
{
    switch (m->path_kind) {
    case PROXY__PATH_EXACT:
        return len == m->path_len && memcmp(path, m->path, len) == 0;
    case PROXY__PATH_PREFIX:
        if (m->path_len == 1 && m->path[0] == '/')
            return true;
        if (len < m->path_len || memcmp(path, m->path, m->path_len) != 0)
            return false;
        return len == m->path_len || path[m->path_len] == '/';
    default:
        return re_full(m->path_re, path, len);
    }
}

static bool match_fits(const proxy__match_t *m, const proxy_request_t *r)
{
    const char *path = r->path ? r->path : "/";
    if (!path_fits(m, path, strlen(path)))
        return false;
    const agw_match_t *pb = m->pb;
    if (!pb)
        return true;
    if (pb->method && pb->method->exact[0] && (!r->method || strcmp(pb->method->exact, r->method)))
        return false;
    for (size_t i = 0; i < pb->n_headers; i++) {
        const Agentgateway__Dev__Resource__HeaderMatch *h = pb->headers[i];
        const net_h2_header_t *f = header_get(r, h->name);
        if (!f)
            return false;
        if (h->value_case == AGENTGATEWAY__DEV__RESOURCE__HEADER_MATCH__VALUE_EXACT) {
            if (strlen(h->exact) != f->value_len || memcmp(h->exact, f->value, f->value_len))
                return false;
        } else if (h->value_case == AGENTGATEWAY__DEV__RESOURCE__HEADER_MATCH__VALUE_REGEX) {
            if (!re_full(m->header_re[i], f->value, f->value_len))
                return false;
        }
    }
    for (size_t i = 0; i < pb->n_query_params; i++) {
        const Agentgateway__Dev__Resource__QueryMatch *q = pb->query_params[i];
        char buf[1024];
        long vl = proxy_query_get(r->query, q->name, buf, sizeof buf);
        if (vl < 0)
            return false;
        if (q->value_case == AGENTGATEWAY__DEV__RESOURCE__QUERY_MATCH__VALUE_EXACT) {
            if (strcmp(q->exact, buf) != 0)
                return false;
        } else if (q->value_case == AGENTGATEWAY__DEV__RESOURCE__QUERY_MATCH__VALUE_REGEX) {
            if (!re_full(m->query_re[i], buf, (size_t)vl))
                return false;
        }
    }
    return true;
}

typedef struct score {
    int host;
    int path_kind;
    size_t path_len;
    int method;
    size_t headers;
    size_t query;
    const proxy__route_t *route;
    size_t match;
} score_t;

/* > 0 when |a| takes precedence over |b|. */
static int score_cmp(const score_t *a, const score_t *b)
{
#define CMP_HI(f)     \
    if (a->f != b->f) \
        return a->f > b->f ? 1 : -1;
    CMP_HI(host)
    CMP_HI(path_kind)
    CMP_HI(path_len)
    CMP_HI(method)
    CMP_HI(headers)
    CMP_HI(query)
#undef CMP_HI
    int c = strcmp(a->route->order_name, b->route->order_name);
    if (c)
        return c < 0 ? 1 : -1;
    if (a->route->rule != b->route->rule)
        return a->route->rule < b->route->rule ? 1 : -1;
    if (a->match != b->match)
        return a->match < b->match ? 1 : -1;
    return strcmp(ir_route_key(a->route->obj), ir_route_key(b->route->obj)) < 0 ? 1 : -1;
}

int proxy_router_match(const proxy_snapshot_t *s, const char *bind_key, const proxy_request_t *req,
                       proxy_route_match_t *out)
{
    memset(out, 0, sizeof *out);
    size_t bi = proxy__bind_index(s, bind_key ? bind_key : "");
    if (bi == (size_t)-1)
        return PROXY_ENOROUTE;
    out->bind = s->binds[bi];
    const char *host = req->host ? req->host : "";
    size_t hl = proxy_host_strip_port(host);

    const proxy__listener_t *best_l = NULL;
    int best_ls = -1;
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i].bind != bi)
            continue;
        int sc = proxy_hostname_score(ir_listener_hostname(s->listeners[i].obj), host, hl);
        if (sc > best_ls) {
            best_ls = sc;
            best_l = &s->listeners[i];
        }
    }
    if (!best_l)
        return PROXY_ENOROUTE;
    out->listener = best_l->obj;

    score_t best = {0};
    bool found = false;
    for (size_t i = 0; i < best_l->nroutes; i++) {
        const proxy__route_t *r = &s->routes[best_l->routes[i]];
        int hs = 0;
        if (r->pb->n_hostnames) {
            hs = -1;
            for (size_t h = 0; h < r->pb->n_hostnames; h++) {
                int x = proxy_hostname_score(r->pb->hostnames[h], host, hl);
                if (x > hs)
                    hs = x;
            }
            if (hs < 0)
                continue;
        }
        for (size_t j = 0; j < r->nmatches; j++) {
            const proxy__match_t *m = &r->matches[j];
            if (!match_fits(m, req))
                continue;
            score_t sc = {
                .host = hs,
                .path_kind = m->path_kind,
                .path_len = m->path_kind == PROXY__PATH_REGEX ? 0 : m->path_len,
                .method = m->pb && m->pb->method && m->pb->method->exact[0],
                .headers = m->pb ? m->pb->n_headers : 0,
                .query = m->pb ? m->pb->n_query_params : 0,
                .route = r,
                .match = j,
            };
            if (!found || score_cmp(&sc, &best) > 0) {
                best = sc;
                found = true;
            }
        }
    }
    if (!found)
        return PROXY_ENOROUTE;
    const proxy__match_t *m = &best.route->matches[best.match];
    out->route = best.route->obj;
    out->pb = best.route->pb;
    out->match = m->pb;
    out->match_index = best.match;
    if (m->path_kind == PROXY__PATH_PREFIX) {
        out->prefix = m->path;
        out->prefix_len = m->path_len;
    }
    return PROXY_OK;
}
