/*
 * Services, Pods and EndpointSlices into Istio Addresses (the registry every proxy receives).
 *
 * A compatible subset of Istio's ambient builder, which agentgateway reuses:
 *   - Service → Service: name, namespace, hostname <name>.<ns>.svc.<domain>, cluster IPs as
 *     NetworkAddress (raw bytes), ports (service port, numeric target port or 0 when the
 *     targetPort is named, app protocol from appProtocol).
 *   - Pod with an IP (not Succeeded/Failed) → Workload "<cluster>//Pod/<ns>/<name>", HEALTHY when
 *     its Ready condition is True and UNHEALTHY otherwise (the proxy balances over healthy
 *     workloads only), with the Services that select it in `services` ("ns/hostname" → ports,
 *     named target ports resolved against the Pod's container ports). Services are found by a
 *     selector fetch (their selector contained in the Pod's labels), so a Service edit recomputes
 *     the Pods it selects, before and after, and nothing else.
 *   - EndpointSlice endpoints that no Pod-derived workload covers — endpoints of a Service
 *     without a selector (hand-made slices), or without a Pod targetRef — → one Workload per
 *     address, uid "<cluster>/discovery.k8s.io/EndpointSlice/<ns>/<slice>/<ip>", HEALTHY unless
 *     conditions.ready is false, ports paired with the Service's by port name.
 * Not modelled: waypoints, locality (Node labels), network gateways, ServiceEntries, host-network
 * pods' network_mode, canonical revision, authorization policies.
 */
#include "internal.h"

#include <string.h>

static WT_(AppProtocol) app_protocol(const char *p)
{
    if (!p)
        return WR_(APP_PROTOCOL__UNKNOWN);
    if (strcmp(p, "http") == 0 || strcmp(p, "HTTP") == 0 || strcmp(p, "kubernetes.io/ws") == 0 ||
        strcmp(p, "kubernetes.io/wss") == 0)
        return WR_(APP_PROTOCOL__HTTP11);
    if (strcmp(p, "kubernetes.io/h2c") == 0 || strcmp(p, "http2") == 0 || strcmp(p, "h2c") == 0)
        return WR_(APP_PROTOCOL__HTTP2);
    if (strcmp(p, "grpc") == 0 || strcmp(p, "GRPC") == 0)
        return WR_(APP_PROTOCOL__GRPC);
    if (strcmp(p, "tcp") == 0 || strcmp(p, "TCP") == 0)
        return WR_(APP_PROTOCOL__TCP);
    if (strcmp(p, "tls") == 0 || strcmp(p, "TLS") == 0 || strcmp(p, "https") == 0)
        return WR_(APP_PROTOCOL__TLS);
    return WR_(APP_PROTOCOL__UNKNOWN);
}

static uint32_t port_num(json_int_t p)
{
    return p > 0 && p < 65536 ? (uint32_t)p : 0;
}

static WT_(NetworkAddress) * net_addr(tr__pb_t *b, const tr_graph_t *g, const char *ip)
{
    uint8_t raw[16];
    size_t n = tr__ip_bytes(ip, raw);
    if (!n)
        return NULL;
    WT_(NetworkAddress) *a = tr__pb_new(b, &WD_(network_address));
    if (!a)
        return NULL;
    a->network = tr__pb_str(b, g->network);
    a->address.data = ir_pb_memdup(raw, n);
    a->address.len = a->address.data ? n : 0;
    if (!a->address.data)
        b->oom = true;
    return a;
}

static int emit_address(krt_ctx_t *ctx, tr__pb_t *b, WT_(Address) * a)
{
    if (b->oom) {
        ir_pb_free((ProtobufCMessage *)a);
        return KRT_ENOMEM;
    }
    ir_err_t err;
    const ir_address_t *x = ir_address_new(a, NULL, &err);
    return tr__emit_ir(ctx, x ? ir_address_obj(x) : NULL, &err);
}

/* ---------------------------------------------------------------------------------------------
 * Services.
 * ------------------------------------------------------------------------------------------- */
int tr__service_address_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    tr__pb_t b = {0};
    WT_(Address) *a = tr__pb_new(&b, &WD_(address));
    WT_(Service) *s = tr__pb_new(&b, &WD_(service));
    if (!a || !s) {
        ir_pb_free((ProtobufCMessage *)a);
        ir_pb_free((ProtobufCMessage *)s);
        return KRT_ENOMEM;
    }
    a->type_case = WR_(ADDRESS__TYPE_SERVICE);
    a->service = s;
    s->name = tr__pb_str(&b, krt_json_name(in));
    s->namespace_ = tr__pb_str(&b, krt_json_namespace(in));
    s->hostname = ir_hostname_service(krt_json_name(in), krt_json_namespace(in), g->domain);
    if (!s->hostname)
        b.oom = true;
    json_t *ips = tr__jarr(v, "spec.clusterIPs");
    size_t i;
    json_t *ip;
    if (json_array_size(ips)) {
        json_array_foreach(ips, i, ip)
        {
            tr__pb_push(&b, (void ***)&s->addresses, &s->n_addresses,
                        net_addr(&b, g, json_string_value(ip)), true);
        }
    } else {
        tr__pb_push(&b, (void ***)&s->addresses, &s->n_addresses,
                    net_addr(&b, g, tr__jstr(v, "spec.clusterIP")), true);
    }
    json_t *p;
    json_array_foreach(tr__jarr(v, "spec.ports"), i, p)
    {
        WT_(Port) *port = tr__pb_new(&b, &WD_(port));
        if (!port)
            break;
        port->service_port = port_num(tr__jint(p, "port", 0));
        json_t *tp = json_object_get(p, "targetPort");
        port->target_port = json_is_string(tp) ? 0
                            : tp               ? port_num(tr__jint(p, "targetPort", 0))
                                               : port->service_port;
        port->app_protocol = app_protocol(tr__jstr(p, "appProtocol"));
        tr__pb_push(&b, (void ***)&s->ports, &s->n_ports, port, true);
    }
    return emit_address(ctx, &b, a);
}

/* ---------------------------------------------------------------------------------------------
 * Workloads.
 * ------------------------------------------------------------------------------------------- */
/* Adds "ns/hostname" -> ports to |w|. */
static void add_service(tr__pb_t *b, const tr_graph_t *g, WT_(Workload) * w, const krt_obj_t *svc,
                        WT_(PortList) * ports)
{
    if (!ports)
        return;
    WT_(Workload__ServicesEntry) *e = tr__pb_new(b, &WD_(workload__services_entry));
    char *host = ir_hostname_service(krt_json_name(svc), krt_json_namespace(svc), g->domain);
    char *key = host ? ir_name_service(krt_json_namespace(svc), host) : NULL;
    krt_free(host);
    if (!e || !key) {
        b->oom = true;
        krt_free(key);
        ir_pb_free((ProtobufCMessage *)e);
        ir_pb_free((ProtobufCMessage *)ports);
        return;
    }
    e->key = key;
    e->value = ports;
    tr__pb_push(b, (void ***)&w->services, &w->n_services, e, true);
}

static bool pod_selects(const krt_obj_t *svc, void *ud)
{
    const krt_obj_t *pod = ud;
    return strcmp(krt_json_namespace(svc), krt_json_namespace(pod)) == 0;
}

/* The Pod's container port named |name|, or 0. */
static uint32_t named_port(json_t *pod, const char *name)
{
    size_t i, j;
    json_t *c, *p;
    json_array_foreach(tr__jarr(pod, "spec.containers"), i, c)
    {
        json_array_foreach(tr__jarr(c, "ports"), j, p)
        {
            if (strcmp(tr__jstr_or(p, "name", ""), name) == 0)
                return port_num(tr__jint(p, "containerPort", 0));
        }
    }
    return 0;
}

static WT_(PortList) * pod_ports(tr__pb_t *b, json_t *pod, const krt_obj_t *svc)
{
    WT_(PortList) *pl = tr__pb_new(b, &WD_(port_list));
    if (!pl)
        return NULL;
    size_t i;
    json_t *p;
    json_array_foreach(tr__jarr(krt_json_value(svc), "spec.ports"), i, p)
    {
        uint32_t sp = port_num(tr__jint(p, "port", 0));
        json_t *tp = json_object_get(p, "targetPort");
        uint32_t target = json_is_string(tp) ? named_port(pod, json_string_value(tp))
                          : tp               ? port_num(tr__jint(p, "targetPort", 0))
                                             : sp;
        if (!target)
            continue;
        WT_(Port) *port = tr__pb_new(b, &WD_(port));
        if (!port)
            break;
        port->service_port = sp;
        port->target_port = target;
        port->app_protocol = app_protocol(tr__jstr(p, "appProtocol"));
        tr__pb_push(b, (void ***)&pl->ports, &pl->n_ports, port, true);
    }
    return pl;
}

/* A label value (label keys contain dots, so not through tr__jstr's paths), or |def|. */
static const char *label(json_t *labels, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(labels, key));
    return s && *s ? s : def;
}

static bool pod_ready(json_t *pod)
{
    size_t i;
    json_t *c;
    json_array_foreach(tr__jarr(pod, "status.conditions"), i, c)
    {
        if (strcmp(tr__jstr_or(c, "type", ""), "Ready") == 0)
            return strcmp(tr__jstr_or(c, "status", ""), "True") == 0;
    }
    return false;
}

static WT_(Workload) * new_workload(tr__pb_t *b, const tr_graph_t *g, WT_(Address) * *out)
{
    WT_(Address) *a = tr__pb_new(b, &WD_(address));
    WT_(Workload) *w = tr__pb_new(b, &WD_(workload));
    if (!a || !w) {
        ir_pb_free((ProtobufCMessage *)a);
        ir_pb_free((ProtobufCMessage *)w);
        *out = NULL;
        return NULL;
    }
    a->type_case = WR_(ADDRESS__TYPE_WORKLOAD);
    a->workload = w;
    w->network = tr__pb_str(b, g->network);
    w->cluster_id = tr__pb_str(b, g->cluster);
    w->trust_domain = tr__pb_str(b, g->domain);
    *out = a;
    return w;
}

int tr__pod_address_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    const char *phase = tr__jstr_or(v, "status.phase", "");
    if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)
        return KRT_OK;
    tr__pb_t b = {0};
    WT_(Address) * a;
    WT_(Workload) *w = new_workload(&b, g, &a);
    if (!w)
        return KRT_ENOMEM;
    json_t *ips = tr__jarr(v, "status.podIPs");
    size_t i;
    json_t *ip;
    json_array_foreach(ips, i, ip)
    {
        uint8_t raw[16];
        size_t n = tr__ip_bytes(tr__jstr(ip, "ip"), raw);
        if (!n)
            continue;
        ProtobufCBinaryData *arr = krt_realloc(w->addresses, (w->n_addresses + 1) * sizeof *arr);
        if (!arr) {
            b.oom = true;
            break;
        }
        w->addresses = arr;
        arr[w->n_addresses].data = ir_pb_memdup(raw, n);
        arr[w->n_addresses].len = n;
        if (!arr[w->n_addresses].data)
            b.oom = true;
        else
            w->n_addresses++;
    }
    if (w->n_addresses == 0 && !json_array_size(ips)) {
        uint8_t raw[16];
        size_t n = tr__ip_bytes(tr__jstr(v, "status.podIP"), raw);
        if (n) {
            w->addresses = krt_malloc(sizeof *w->addresses);
            uint8_t *d = ir_pb_memdup(raw, n);
            if (!w->addresses || !d) {
                krt_free(d);
                b.oom = true;
            } else {
                w->addresses[0].data = d;
                w->addresses[0].len = n;
                w->n_addresses = 1;
            }
        }
    }
    if (w->n_addresses == 0) {
        ir_pb_free((ProtobufCMessage *)a);
        return b.oom ? KRT_ENOMEM : KRT_OK; /* not scheduled yet: no workload */
    }
    const char *ns = krt_json_namespace(in), *name = krt_json_name(in);
    w->uid = ir_uid_pod(g->cluster, ns, name);
    if (!w->uid)
        b.oom = true;
    w->name = tr__pb_str(&b, name);
    w->namespace_ = tr__pb_str(&b, ns);
    w->service_account = tr__pb_str(&b, tr__jstr_or(v, "spec.serviceAccountName", "default"));
    w->node = tr__pb_str(&b, tr__jstr_or(v, "spec.nodeName", ""));
    json_t *labels = tr__jpath(v, "metadata.labels");
    const char *canon = label(labels, "service.istio.io/canonical-name", NULL);
    if (!canon)
        canon = label(labels, "app.kubernetes.io/name", NULL);
    if (!canon)
        canon = label(labels, "app", name);
    w->canonical_name = tr__pb_str(&b, canon);
    const char *rev = label(labels, "service.istio.io/canonical-revision", NULL);
    if (!rev)
        rev = label(labels, "app.kubernetes.io/version", NULL);
    if (!rev)
        rev = label(labels, "version", "latest");
    w->canonical_revision = tr__pb_str(&b, rev);
    w->workload_name = tr__pb_str(&b, name);
    w->workload_type = WR_(WORKLOAD_TYPE__POD);
    w->status = pod_ready(v) ? WR_(WORKLOAD_STATUS__HEALTHY) : WR_(WORKLOAD_STATUS__UNHEALTHY);

    krt_labels_t lv = {0};
    if (in->type->labels)
        in->type->labels(in, &lv);
    if (lv.len) {
        krt_filter_t f = {
            .selects = &lv, .selects_nonempty = true, .pred = pod_selects, .pred_ud = (void *)in};
        const krt_obj_t *const *svcs;
        size_t n = krt_fetch(ctx, g->in.services, &f, &svcs);
        for (size_t k = 0; k < n; k++)
            add_service(&b, g, w, svcs[k], pod_ports(&b, v, svcs[k]));
    }
    return emit_address(ctx, &b, a);
}

int tr__slice_address_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const tr_graph_t *g = ud;
    json_t *v = krt_json_value(in);
    const char *ns = krt_json_namespace(in), *slice = krt_json_name(in);
    json_t *labels = tr__jpath(v, "metadata.labels");
    const char *svcname = json_string_value(json_object_get(labels, "kubernetes.io/service-name"));
    const krt_obj_t *svc = NULL;
    if (svcname && *svcname) {
        char *key = tr__fmt("%s/%s", ns, svcname);
        if (!key)
            return KRT_ENOMEM;
        svc = krt_fetch_key(ctx, g->in.services, key);
        krt_free(key);
    }
    json_t *sv = svc ? krt_json_value(svc) : NULL;
    json_t *sel = tr__jpath(sv, "spec.selector");
    bool selector = json_object_size(sel) > 0;
    size_t i, j;
    json_t *ep, *addr;
    int rc = KRT_OK;
    json_t *seen = json_object(); /* addresses listed twice in a slice: one workload */
    if (!seen)
        return KRT_ENOMEM;
    json_array_foreach(tr__jarr(v, "endpoints"), i, ep)
    {
        const char *tkind = tr__jstr_or(ep, "targetRef.kind", "");
        if (selector && strcmp(tkind, "Pod") == 0)
            continue; /* the Pod's own workload covers it */
        bool ready = tr__jbool(ep, "conditions.ready", true);
        json_array_foreach(tr__jarr(ep, "addresses"), j, addr)
        {
            const char *ip = json_string_value(addr);
            uint8_t raw[16];
            size_t n = tr__ip_bytes(ip, raw);
            if (!n || json_object_get(seen, ip))
                continue;
            json_object_set_new(seen, ip, json_true());
            tr__pb_t b = {0};
            WT_(Address) * a;
            WT_(Workload) *w = new_workload(&b, g, &a);
            if (!w) {
                json_decref(seen);
                return KRT_ENOMEM;
            }
            w->uid =
                tr__fmt("%s/discovery.k8s.io/EndpointSlice/%s/%s/%s", g->cluster, ns, slice, ip);
            if (!w->uid)
                b.oom = true;
            const char *tname = tr__jstr_or(ep, "targetRef.name", slice);
            w->name = tr__pb_str(&b, tname);
            w->namespace_ = tr__pb_str(&b, ns);
            w->workload_name = tr__pb_str(&b, tname);
            w->canonical_name = tr__pb_str(&b, svcname ? svcname : slice);
            w->canonical_revision = tr__pb_str(&b, "latest");
            w->service_account = tr__pb_str(&b, "default");
            w->node = tr__pb_str(&b, tr__jstr_or(ep, "nodeName", ""));
            w->workload_type = WR_(WORKLOAD_TYPE__POD);
            w->status = ready ? WR_(WORKLOAD_STATUS__HEALTHY) : WR_(WORKLOAD_STATUS__UNHEALTHY);
            w->addresses = krt_malloc(sizeof *w->addresses);
            uint8_t *d = ir_pb_memdup(raw, n);
            if (!w->addresses || !d) {
                krt_free(d);
                b.oom = true;
            } else {
                w->addresses[0].data = d;
                w->addresses[0].len = n;
                w->n_addresses = 1;
            }
            if (svc) {
                WT_(PortList) *pl = tr__pb_new(&b, &WD_(port_list));
                size_t k, m;
                json_t *sp, *svp;
                json_array_foreach(tr__jarr(v, "ports"), k, sp)
                {
                    const char *pname = tr__jstr_or(sp, "name", "");
                    json_array_foreach(tr__jarr(sv, "spec.ports"), m, svp)
                    {
                        if (!pl || strcmp(tr__jstr_or(svp, "name", ""), pname) != 0)
                            continue;
                        WT_(Port) *port = tr__pb_new(&b, &WD_(port));
                        if (!port)
                            break;
                        port->service_port = port_num(tr__jint(svp, "port", 0));
                        port->target_port = port_num(tr__jint(sp, "port", 0));
                        port->app_protocol = app_protocol(tr__jstr(svp, "appProtocol"));
                        tr__pb_push(&b, (void ***)&pl->ports, &pl->n_ports, port, true);
                    }
                }
                add_service(&b, g, w, svc, pl);
            }
            rc = emit_address(ctx, &b, a);
            if (rc)
                break;
        }
        if (rc)
            break;
    }
    json_decref(seen);
    return rc;
}
