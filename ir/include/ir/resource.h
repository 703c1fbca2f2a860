/*
 * IR objects as delta xDS resources (envoy.service.discovery.v3.Resource): name, version (the
 * content hash in hex) and the object's bytes in a google.protobuf.Any whose type_url is the
 * object's type URL. The xDS server packs responses with the borrowing view (no copy per proxy);
 * the xDS client turns received resources back into IR objects.
 */
#ifndef IR_RESOURCE_H
#define IR_RESOURCE_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills |res| and |any| (initialised here) to describe |o|: res->name, res->version and
 * res->resource = any = {type_url, value = the object's wire bytes}. Every pointer in them
 * borrows from |o|: keep |o| alive while they are used, and never free them. */
void ir_obj_discovery_view(const ir_obj_t *o, Envoy__Service__Discovery__V3__Resource *res,
                           Google__Protobuf__Any *any);

/* The same as a tree of its own. Returns: a new Resource (owned by caller, ir_pb_free), or NULL
 * on OOM. */
Envoy__Service__Discovery__V3__Resource *ir_obj_to_discovery(const ir_obj_t *o);

/* Builds an IR object from a received resource of a response whose type URL is |type_url|
 * (agentgateway decodes by the response's type URL; we also require the Any's type_url to be
 * empty or the same). The resource's name must be the one its content implies
 * (IR_ENAME otherwise), and a resource without payload (a TTL heartbeat) is refused with
 * IR_EFIELD. Borrows everything. Returns: as ir_obj_decode. */
int ir_obj_from_discovery(const Envoy__Service__Discovery__V3__Resource *res, const char *type_url,
                          const char *gateway, const ir_obj_t **out, ir_err_t *err);

#ifdef __cplusplus
}
#endif
#endif /* IR_RESOURCE_H */
