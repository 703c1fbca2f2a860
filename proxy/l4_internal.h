/*
 * Between http.c (which owns listeners and the proxy's lifetime) and l4.c (which serves TCP and
 * TLS passthrough connections). Not a public header.
 */
#ifndef PROXY_L4_INTERNAL_H
#define PROXY_L4_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "net/conn.h"
#include "proxy/config.h"
#include "proxy/l4.h"
#include "proxy/lb.h"

typedef struct proxy__l4 proxy__l4_t;
typedef struct proxy__l4_listener proxy__l4_listener_t;

/* Creates the L4 server state. Keeps loop, cfg and lb (they outlive it). |on_idle| runs (with
 * |ud|) whenever the last L4 connection is gone, so the proxy can finish closing.
 * Returns: owned by caller (proxy__l4_free), or NULL on OOM. */
proxy__l4_t *proxy__l4_new(uv_loop_t *loop, proxy_config_t *cfg, proxy_lb_t *lb,
                           uint64_t connect_timeout_ms, void (*on_idle)(void *ud), void *ud);
/* Frees; call only when proxy__l4_open_count is 0. NULL is a no-op. */
void proxy__l4_free(proxy__l4_t *l4);
/* Fills |sc|'s callbacks, ud and raw_only for a listener of Bind |bind_key| in |mode| (and
 * clears sc->tls unless |mode| is PROXY_BIND_TLS_TERMINATE).
 * Returns: the per-listener state (owned by caller, proxy__l4_listener_free after the server
 * closed), or NULL on OOM. */
proxy__l4_listener_t *proxy__l4_listener_new(proxy__l4_t *l4, const char *bind_key,
                                             proxy_bind_mode_t mode, net_server_config_t *sc);
void proxy__l4_listener_free(proxy__l4_listener_t *ll);
/* Closes every L4 connection at once (the proxy is closing). */
void proxy__l4_close_all(proxy__l4_t *l4);
/* Returns: client connections open (upstream halves included until they are gone). */
size_t proxy__l4_open_count(const proxy__l4_t *l4);
/* The time a passthrough client has to send its ClientHello (10 s). */
void proxy__l4_set_hello_timeout(proxy__l4_t *l4, uint64_t ms);
/* Spliced connections without a byte either way for |ms| are closed (0: never). */
void proxy__l4_set_idle_timeout(proxy__l4_t *l4, uint64_t ms);
void proxy__l4_stats(const proxy__l4_t *l4, proxy_l4_stats_t *out);
/* Frontend network_authorization for a connection just accepted on Bind |bind_key| (every kind
 * of port calls it first): false when a rule refuses it (logged; the caller closes it). */
bool proxy__conn_allowed(proxy_config_t *cfg, const char *bind_key, net_conn_t *c);

#endif
