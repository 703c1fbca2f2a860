/*
 * Key and name builders (formats in ir/names.h). One formatting helper does the allocation; each
 * builder states agentgateway's format in one line so the two can be compared by eye. Builders
 * refuse NULL or empty components rather than produce keys like "default/.00" that would collide.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ir/names.h"
#include "internal.h"

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
    /* One formatting pass for the usual short key (a translator makes several per output);
     * longer ones are measured by that pass and formatted again at their size. */
    char small[256];
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(small, sizeof small, f, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = krt_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    if ((size_t)n < sizeof small) {
        memcpy(s, small, (size_t)n + 1);
        return s;
    }
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* A component is usable when set and non-empty. */
static bool ok(const char *s)
{
    return s && *s;
}

char *ir_key_bind(uint32_t port, const char *gw_ns, const char *gw_name)
{
    if (!ok(gw_ns) || !ok(gw_name))
        return NULL;
    return fmt("%" PRIu32 "/%s/%s", port, gw_ns, gw_name);
}

char *ir_key_listener(const char *ns, const char *owner, const char *listener)
{
    if (!ok(ns) || !ok(owner) || !ok(listener))
        return NULL;
    return fmt("%s/%s.%s", ns, owner, listener);
}

char *ir_key_route_base(ir_route_source_t src, const char *ns, const char *route, unsigned rule,
                        int64_t created_unix)
{
    if (!ok(ns) || !ok(route))
        return NULL;
    switch (src) {
    case IR_ROUTE_HTTP:
        return fmt("%s/%s.%02u", ns, route, rule);
    case IR_ROUTE_GRPC:
        return fmt("%s/%s.%02u.grpc", ns, route, rule);
    case IR_ROUTE_TCP:
        return fmt("%010" PRId64 "/%s/%s.%02u", created_unix, ns, route, rule);
    case IR_ROUTE_TLS:
        return fmt("%010" PRId64 "/%s/%s.%02u.tls", created_unix, ns, route, rule);
    }
    return NULL;
}

char *ir_key_route_for_listener(const char *base, const char *listener)
{
    if (!ok(base) || !ok(listener))
        return NULL;
    return fmt("%s.%s", base, listener);
}

char *ir_key_route_for_listener_set(const char *base, const char *ls_ns, const char *ls_name,
                                    const char *listener)
{
    if (!ok(base) || !ok(ls_ns) || !ok(ls_name) || !ok(listener))
        return NULL;
    return fmt("%s.%s.%s.%s", base, ls_ns, ls_name, listener);
}

char *ir_key_route_for_service(const char *base, const char *svc_ns, const char *svc_name,
                               uint32_t port)
{
    if (!ok(base) || !ok(svc_ns) || !ok(svc_name))
        return NULL;
    if (port)
        return fmt("%s.svc.%s.%s.%" PRIu32, base, svc_ns, svc_name, port);
    return fmt("%s.svc.%s.%s", base, svc_ns, svc_name);
}

char *ir_key_route_delegated(const char *child_key, const char *group_key)
{
    if (!ok(child_key) || !ok(group_key))
        return NULL;
    size_t stars = 0;
    for (const char *p = group_key; *p; p++)
        stars += *p == '*';
    size_t glen = strlen(group_key) + stars * (sizeof "wildcard" - 2);
    char *g = krt_malloc(glen + 1);
    if (!g)
        return NULL;
    size_t o = 0;
    for (const char *p = group_key; *p; p++) {
        if (*p == '*') {
            memcpy(g + o, "wildcard", 8);
            o += 8;
        } else {
            g[o++] = *p == '/' ? '.' : *p;
        }
    }
    g[o] = '\0';
    char *k = fmt("%s.routegroup.%s", child_key, g);
    krt_free(g);
    return k;
}

char *ir_key_backend(const char *ns, const char *name, const char *target)
{
    if (!ok(ns) || !ok(name))
        return NULL;
    if (ok(target))
        return fmt("%s/%s/%s", ns, name, target);
    return fmt("%s/%s", ns, name);
}

char *ir_key_policy(const char *section, const char *ns, const char *name, const char *feature,
                    const char *attachment)
{
    if (!ok(ns) || !ok(name) || !ok(feature))
        return NULL;
    return fmt("%s%s%s/%s:%s%s%s", ok(section) ? section : "", ok(section) ? "/" : "", ns, name,
               feature, ok(attachment) ? ":" : "", ok(attachment) ? attachment : "");
}

char *ir_key_attachment(const char *ns, const char *name, const char *section)
{
    if (!ok(ns) || !ok(name))
        return NULL;
    if (ok(section))
        return fmt("%s/%s/%s", ns, name, section);
    return fmt("%s/%s", ns, name);
}

char *ir_key_attachment_port(const char *ns, const char *name, uint32_t port)
{
    if (!ok(ns) || !ok(name))
        return NULL;
    return fmt("%s/%s/port=%" PRIu32, ns, name, port);
}

char *ir_hostname_service(const char *name, const char *ns, const char *domain)
{
    if (!ok(name) || !ok(ns))
        return NULL;
    return fmt("%s.%s.svc.%s", name, ns, ok(domain) ? domain : "cluster.local");
}

char *ir_name_service(const char *ns, const char *hostname)
{
    if (!ok(ns) || !ok(hostname))
        return NULL;
    return fmt("%s/%s", ns, hostname);
}

char *ir_uid_pod(const char *cluster, const char *ns, const char *name)
{
    if (!ok(cluster) || !ok(ns) || !ok(name))
        return NULL;
    return fmt("%s//Pod/%s/%s", cluster, ns, name);
}

char *ir_name_resource(ir_kind_t kind, const char *inner_key)
{
    const char *prefix = ir_kind_prefix(kind);
    if (!prefix || !ok(inner_key))
        return NULL;
    if (!*prefix)
        return krt_strdup(inner_key);
    return fmt("%s/%s", prefix, inner_key);
}

int ir_name_parse(const char *name, ir_kind_t *kind, const char **inner_key)
{
    static const ir_kind_t kinds[] = {IR_KIND_BIND,      IR_KIND_LISTENER, IR_KIND_ROUTE,
                                      IR_KIND_TCP_ROUTE, IR_KIND_BACKEND,  IR_KIND_POLICY};
    if (!name)
        return IR_EINVAL;
    const char *slash = strchr(name, '/');
    if (!slash || !slash[1])
        return IR_ENAME;
    size_t plen = (size_t)(slash - name);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *p = ir_kind_prefix(kinds[i]);
        if (strlen(p) == plen && memcmp(p, name, plen) == 0) {
            if (kind)
                *kind = kinds[i];
            if (inner_key)
                *inner_key = slash + 1;
            return IR_OK;
        }
    }
    if ((plen == 11 && memcmp(name, "route_group", 11) == 0) ||
        (plen == 11 && memcmp(name, "model_route", 11) == 0))
        return IR_EKIND;
    return IR_ENAME;
}

bool ir_gateway_valid(const char *gateway)
{
    if (!gateway)
        return false;
    const char *slash = strchr(gateway, '/');
    return slash && slash != gateway && slash[1] && !strchr(slash + 1, '/');
}

char *ir_key_scoped(const char *gateway, const char *name)
{
    if (!ok(name))
        return NULL;
    if (gateway)
        return ir_gateway_valid(gateway) ? fmt("%s/%s", gateway, name) : NULL;
    return fmt("//%s", name);
}
