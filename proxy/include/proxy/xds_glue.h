/*
 * Feeding a proxy from xds/: the two callbacks that turn what xds delivers into proxy change
 * sets. Built only when the xds module is part of the build (KRTGATE_PROXY_HAVE_XDS).
 *
 *   in-process (krtgate run):
 *     xds_inproc_subscribe(store, "ns~gw", proxy_xds_inproc_cb, proxy, &err);
 *   remote (krtgate proxy --xds):
 *     client_config.on_update = proxy_xds_client_update; client_config.ud = proxy;
 *
 * An initial in-process delivery replaces the whole state; later ones, and every xDS response,
 * are deltas. A rejected xDS response becomes a NACK with the proxy's reason; a rejected
 * in-process change set cannot be refused upstream: it is logged, counted
 * (proxy_config_rejected) and the last good config keeps serving.
 */
#ifndef PROXY_XDS_GLUE_H
#define PROXY_XDS_GLUE_H

#include "proxy/proxy.h"
#include "xds/client.h"
#include "xds/inproc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xds_inproc_cb; |ud| is the proxy_t (kept by the subscription). */
void proxy_xds_inproc_cb(const xds_changeset_t *cs, void *ud);

/* xds_client_update_cb; |ud| is the proxy_t. Returns 0 (ACK) or nonzero with |reason| (NACK). */
int proxy_xds_client_update(xds_client_t *c, const xds_update_t *u, char *reason, size_t cap,
                            void *ud);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_XDS_GLUE_H */
