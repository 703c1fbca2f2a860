/*
 * agentgateway's local config file (YAML or JSON) → a proxy change set, sans-IO: bytes in, IR
 * objects out. `krtgate proxy --config FILE` applies the result as the whole state (replace), so
 * a file that parses but does not validate is still rejected whole by the config store.
 *
 * The subset that maps onto our IR (docs/proxy.md has the table):
 *   binds[]:     {port, listeners[]: {name, namespace, hostname, protocol (HTTP), routes[]}}
 *   gateways{}:  name → {port, protocol, listeners[]: {name, hostname, protocol}}
 *   routes[]:    {gateways[] ("gw" or "gw/listener"), name, namespace, ruleName, hostnames,
 *                 matches, policies, backends}          (the recommended form, with gateways)
 *   route:       {name, namespace, ruleName, hostnames[], policies,
 *                 matches[]: {path: {exact|pathPrefix|regex}, method,
 *                             headers[]: {name, value: {exact|regex}}, query[]: the same},
 *                 backends[]: {host: "h:p" | service: {name: "ns/hostname", port} |
 *                              backend: name, weight, policies}}
 *   policies:    requestHeaderModifier, responseHeaderModifier ({add, set: map or list, remove}),
 *                requestRedirect, urlRewrite, directResponse {status, body}, cors, timeout
 *                {requestTimeout, backendRequestTimeout}, retry {codes, attempts}
 *   backends[]:  {name, host: "h:p"}                    (static backends, by name)
 *   config:      accepted and ignored (static settings belong to the command line)
 * Anything else — an unknown key, a TLS listener, tcpRoutes, AI/MCP backends, other policies —
 * is refused with an error naming the file, line and field, never skipped.
 */
#ifndef PROXY_LOCALCONFIG_H
#define PROXY_LOCALCONFIG_H

#include <stddef.h>

#include "proxy/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proxy_localconfig proxy_localconfig_t;

/* Parses |len| bytes of |text| (YAML 1.1 or JSON; borrowed). |filename| (borrowed, may be NULL)
 * names the file in errors. Returns: PROXY_OK with *out (owned by caller,
 * proxy_localconfig_free), PROXY_ECONFIG with |err| (cap bytes) = "FILE:LINE: FIELD: what", or
 * PROXY_ENOMEM. */
int proxy_localconfig_parse(const char *text, size_t len, const char *filename,
                            proxy_localconfig_t **out, char *err, size_t cap);

/* The change set: every object of the file, in kind order (Binds, Listeners, Backends, Routes),
 * for proxy_apply(..., replace = true). Borrowed until proxy_localconfig_free. */
const proxy_change_t *proxy_localconfig_changes(const proxy_localconfig_t *lc, size_t *n);

void proxy_localconfig_free(proxy_localconfig_t *lc); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif /* PROXY_LOCALCONFIG_H */
