/*
 * libFuzzer target for the proxy's request path that takes untrusted input: the router
 * (proxy/router.c: host parsing, listener and route selection, path/header/query/method matches
 * with PCRE2) and the filters that rebuild URLs from request parts (redirect Location, rewrite,
 * prefix replacement). A fixed config (built once) has listeners with exact, wildcard and empty
 * hostnames and routes of every match kind. Input: byte 0 picks the method; the rest is split on
 * '\n' into Host, target (path?query) and header lines "name:value". Checks: no crash, a match
 * always names a route of the chosen listener's Bind, an exact-path winner equals the path,
 * results are NUL-terminated and within their buffers.
 * Needs library: krtgate_proxy (and through it krtgate_ir, krtgate_net, PCRE2).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../proxy/proxy_test_util.h"
#include "proxy/filters.h"
#include "proxy/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static proxy_config_t *cfg;

static void build(void)
{
    cfg = proxy_config_new();
    const char *L = "default/gw.any", *W = "default/gw.wild", *E = "default/gw.exact";
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        tu_listener(L, "80/default/gw", ""),
        tu_listener(W, "80/default/gw", "*.example.com"),
        tu_listener(E, "80/default/gw", "a.example.com"),
        tu_route("ns", "r", 0, L, "", "prefix:/ ; h:version=one", "be:v1"),
        tu_route("ns", "r", 1, L, "", "exact:/one m:POST", "be:v2"),
        tu_route("ns", "r", 2, L, "x.org,*.y.org", "regex:/re/[a-z]+/(\\d+)?", "be:v3"),
        tu_route("ns", "r", 3, L, "", "prefix:/q qr:id=[0-9]{1,4} q:animal=whale", "be:v4"),
        tu_route("ns", "s", 0, W, "", "prefix:/api/ hr:x-tok=^[A-Za-z]*$", "be:v5"),
        tu_route("ns", "s", 1, W, "b.example.com", "exact:/", "be:v6"),
        tu_route("ns", "t", 0, E, "", "", "be:v7"),
        NULL};
    if (tu_apply(cfg, objs, NULL, 0) != PROXY_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", ""};
    if (!cfg)
        build();
    if (size == 0 || size > 8192)
        return 0;
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    for (size_t i = 0; i + 1 < size; i++)
        if (buf[i] == '\0')
            buf[i] = ' '; /* C strings: the proxy gets NUL-free fields from the codec */
    char *lines[20];
    size_t nl = 0;
    for (char *p = buf; nl < 20;) {
        lines[nl++] = p;
        char *e = strchr(p, '\n');
        if (!e)
            break;
        *e = '\0';
        p = e + 1;
    }
    const char *host = nl > 0 ? lines[0] : NULL;
    char *target = nl > 1 ? lines[1] : (char *)"/";
    char *query = strchr(target, '?');
    if (query)
        *query++ = '\0';
    net_h2_header_t hs[18];
    size_t nh = 0;
    for (size_t i = 2; i < nl; i++) {
        char *c = strchr(lines[i], ':');
        if (!c)
            continue;
        *c = '\0';
        hs[nh++] = (net_h2_header_t){lines[i], strlen(lines[i]), c + 1, strlen(c + 1)};
    }
    proxy_request_t req = {methods[data[0] % 7], target, query, host, hs, nh};
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    proxy_route_match_t m;
    int rc = proxy_router_match(s, "80/default/gw", &req, &m);
    if (rc == PROXY_OK) {
        CHECK(m.route && m.listener && m.bind);
        CHECK(strcmp(ir_route_listener_key(m.route), ir_listener_key(m.listener)) == 0);
        if (m.match && m.match->path &&
            m.match->path->kind_case == AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_EXACT)
            CHECK(strcmp(m.match->path->exact, target) == 0);
        Agentgateway__Dev__Resource__RequestRedirect r =
            AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__INIT;
        r.path_case = AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__PATH_PREFIX;
        r.prefix = (char *)(data[0] & 1 ? "/" : "/new/");
        r.scheme = (char *)(data[0] & 2 ? "https" : "");
        proxy_url_t u = {"http", host, 80, target, query, m.prefix, m.prefix_len};
        char loc[512];
        int status;
        if (proxy_redirect_location(&r, &u, loc, sizeof loc, &status) == PROXY_OK)
            CHECK(strlen(loc) < sizeof loc && status == 302);
        Agentgateway__Dev__Resource__UrlRewrite w = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__INIT;
        w.path_case = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__PATH_PREFIX;
        w.prefix = r.prefix;
        const char *nh2;
        if (proxy_rewrite_target(&w, &u, loc, sizeof loc, &nh2) == PROXY_OK)
            CHECK(loc[0] == '/' || loc[0] == '?' || loc[0] != '\0');
    } else {
        CHECK(rc == PROXY_ENOROUTE && !m.route);
    }
    char out[64];
    long n = proxy_path_replace_prefix(target, target, strlen(target) / 2, "/x", out, sizeof out);
    CHECK(n < 0 || (size_t)n == strlen(out));
    proxy_snapshot_release(s);
    free(buf);
    return 0;
}
