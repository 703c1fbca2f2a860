/*
 * Keys and names exactly as agentgateway forms them (reference agentgateway-xds.md §1.2, §1.4,
 * §1.5, §1.10, §2.5, §2.7; golden examples in tests/ir/test_names.c), so our output can be
 * compared with theirs.
 *
 *   Bind        "<port>/<gwns>/<gw>"                               80/default/gw
 *   Listener    "<ns>/<gateway or listenerset>.<listener>"         default/gw.http
 *   Route       "<ns>/<route>.<rule %02u>" + parent suffix         default/r.00.http
 *   GRPCRoute   "<ns>/<route>.<rule %02u>.grpc" + suffix
 *   TCPRoute    "<created %010lld>/<ns>/<route>.<rule %02u>" + suffix
 *   TLSRoute    "<created %010lld>/<ns>/<route>.<rule %02u>.tls" + suffix
 *     suffix    ".<listener>" (Gateway parent), ".<lsns>.<lsname>.<listener>" (ListenerSet
 *               parent), ".svc.<svcns>.<svc>[.<port>]" (Service parent)
 *   delegated   child key + ".routegroup." + group key with '/' -> '.' and '*' -> "wildcard"
 *   Backend     "<ns>/<name>", or "<ns>/<name>/<target>" for an MCP target / single LLM provider
 *   Policy      "<section>/<ns>/<name>:<feature>" + ":<attachment>"
 * traffic/default/p:timeout:default/gw (section "traffic", "frontend" or "backend"; some sources
 * have none) attachment  "<ns>/<name>", "<ns>/<name>/<section>", "<ns>/<name>/port=<port>" Service
 * xDS name "<ns>/<hostname>", hostname "<name>.<ns>.svc.<domain>" Workload    uid
 * "<cluster>//Pod/<ns>/<name>" xDS name    "<kind>/<inner key>": bind/, listener/, route/,
 * tcp_route/, backend/, policy/ krt key     "<gwns>/<gw>/<xds name>", or "//<xds name>" when not
 * scoped to a Gateway
 *
 * Every builder returns a new string (krt_malloc; owned by caller, release with krt_free; it can
 * also go straight into a message the IR takes, see ir/pb.h), or NULL on OOM or when a required
 * argument is NULL or empty. All string arguments are borrowed.
 */
#ifndef IR_NAMES_H
#define IR_NAMES_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

char *ir_key_bind(uint32_t port, const char *gw_ns, const char *gw_name);
/* |owner| is the Gateway name, or the ListenerSet name (with the ListenerSet's namespace). */
char *ir_key_listener(const char *ns, const char *owner, const char *listener);

typedef enum ir_route_source {
    IR_ROUTE_HTTP = 1,
    IR_ROUTE_GRPC = 2,
    IR_ROUTE_TCP = 3,
    IR_ROUTE_TLS = 4,
} ir_route_source_t;

/* The per-rule base key. |created_unix| (creation timestamp, seconds) is used for TCP and TLS
 * only, where it makes the oldest route sort first. */
char *ir_key_route_base(ir_route_source_t src, const char *ns, const char *route, unsigned rule,
                        int64_t created_unix);
char *ir_key_route_for_listener(const char *base, const char *listener);
char *ir_key_route_for_listener_set(const char *base, const char *ls_ns, const char *ls_name,
                                    const char *listener);
/* |port| 0 leaves the port out. */
char *ir_key_route_for_service(const char *base, const char *svc_ns, const char *svc_name,
                               uint32_t port);
char *ir_key_route_delegated(const char *child_key, const char *group_key);

/* |target| NULL or "" for the backend itself. */
char *ir_key_backend(const char *ns, const char *name, const char *target);

/* |section| NULL or "" for sources without one; |attachment| NULL or "" for the base key. */
char *ir_key_policy(const char *section, const char *ns, const char *name, const char *feature,
                    const char *attachment);
/* |section| NULL or "" for the whole object. */
char *ir_key_attachment(const char *ns, const char *name, const char *section);
char *ir_key_attachment_port(const char *ns, const char *name, uint32_t port);

/* |domain| NULL means "cluster.local". */
char *ir_hostname_service(const char *name, const char *ns, const char *domain);
char *ir_name_service(const char *ns, const char *hostname);
char *ir_uid_pod(const char *cluster, const char *ns, const char *name);

/* "<prefix>/<inner key>" for |kind|; for IR_KIND_ADDRESS a copy of |inner_key|. */
char *ir_name_resource(ir_kind_t kind, const char *inner_key);
/* Splits an xDS name of the agentgateway Resource type into its kind and inner key (borrowed
 * from |name|). Returns: IR_OK; IR_EKIND for "route_group/..." and "model_route/..." (valid
 * upstream, not modelled) and IR_ENAME for anything else without a known prefix or with an empty
 * key. */
int ir_name_parse(const char *name, ir_kind_t *kind, const char **inner_key);

/* "<gw>/<name>" when |gateway| ("ns/name") is set, "//<name>" otherwise. */
char *ir_key_scoped(const char *gateway, const char *name);
/* Returns: true when |gateway| reads "ns/name" with both parts non-empty and no other '/'. */
bool ir_gateway_valid(const char *gateway);

#ifdef __cplusplus
}
#endif
#endif /* IR_NAMES_H */
