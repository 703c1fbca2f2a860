/*
 * Policy enforcement (proxy/policy.h): the per-snapshot policy tables and the request-time hooks.
 *
 * Key decision: the effective policy set of every route rule (and of each of its backendRefs) is
 * computed when a snapshot is built, as one pointer per policy kind, so a request pays an index
 * lookup and nothing else to know what applies. The build visits, per route, only the policies
 * that can attach to it: gateway-wide ones and those found by name in an index of targets
 * (route, Backend, Service), so one policy per route costs O(n log n), not O(n^2). Resolving
 * attachments per request was rejected: it would put the precedence rules, and their cost, on
 * the data path.
 *
 * State that must outlive a snapshot (token buckets: a config push must not refill them; upstream
 * TLS contexts: pooled connections keep theirs) is carried over, by reference, from the previous
 * snapshot's policy of the same key when its content hash did not change.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "ir/policy.h"
#include "proxy/authn.h"
#include "proxy/cel.h"
#include "proxy/jwt.h"
#include "proxy/policy.h"
#include "proxy/ratelimit.h"

typedef Agentgateway__Dev__Resource__Policy agw_policy_t;
typedef Agentgateway__Dev__Resource__PolicyTarget agw_target_t;
typedef Agentgateway__Dev__Resource__BackendPolicySpec agw_bps_t;
typedef Agentgateway__Dev__Resource__AuthorizationLocation agw_authloc_t;

#define NKINDS 32 /* > every TrafficPolicySpec / BackendPolicySpec kind_case */

#define TK(x)  AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_##x
#define BK(x)  AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_##x
#define FK(x)  AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_##x

/* One compiled Policy, or one inline policy of a Backend (Backend.inline_policies, the
 * AgentgatewayBackend's spec.policies) wrapped in a Policy message of our own (|own|). */
typedef struct pol {
    const ir_policy_t *obj; /* NULL for an inline policy */
    const agw_policy_t *pb;
    agw_policy_t *own;   /* the wrapper of an inline policy, owned */
    const char *backend; /* inline: the Backend key it belongs to */
    char who[192];       /* for errors: "policy/<key>" or "backend/<key>: inline_policies[i]" */
    char warn[320];      /* accepted, but part of it cannot work (reported in the dump), or "" */
    const char *key;
    uint64_t hash;
    bool override;
    int tkind, bkind;    /* kind_case of the traffic / backend spec, 0 if another kind */
    proxy_jwks_t **jwks; /* [n_providers] (jwt) */
    proxy_htpasswd_t *htpasswd;
    proxy_ratelimit_t **buckets;
    size_t nbuckets;
    net_tls_ctx_t *tls;    /* backend TLS for HTTP/1.1 upstreams (ALPN without h2) */
    net_tls_ctx_t *tls_h2; /* ... and for HTTP/2 ones (ALPN h2) */
    /* authorization (traffic, backend) and network authorization (frontend): the CEL rules,
     * allow ones first, then deny, then require */
    proxy_cel_t **rules;
    size_t nallow, ndeny, nrequire;
    bool netauth; /* a frontend network_authorization policy */
} pol_t;

/* An effective set: per kind the winning policy and its level. */
#define MAXAZ 16 /* authorization policies composed on one route or backendRef */

/* Authorization policies do not replace each other: every one attached at any level composes,
 * as in agentgateway ("composing avoids erasing a broader deny"). They are kept sorted by level
 * (least specific first), then by policy. */
typedef struct azlist {
    const pol_t *p[MAXAZ];
    int8_t l[MAXAZ];
    uint8_t n;
    bool over; /* more than MAXAZ: the request is denied */
} azlist_t;

typedef struct set {
    const pol_t *t[NKINDS];
    const pol_t *b[NKINDS];
    int8_t tl[NKINDS], bl[NKINDS];
    azlist_t taz, baz; /* traffic and backend authorization, composed */
} set_t;

/* INVARIANTS
 *  Q1 v is sorted by key (the snapshot's objects are sorted by xDS name "policy/<key>")
 *  Q2 route[i] belongs to snapshot route i; backend[i] has one set per RouteBackend of it
 *  Q3 every pol of a set is an element of v; a set's traffic entries equal its route's
 *  Q4 every set equals the one a scan of all policies gives (the index misses nothing)
 *  Q5 net[b] holds, in key order and once each, the network authorization policies that attach
 *     to a Listener of Bind b */
struct proxy__policies {
    pol_t *v;
    size_t n;
    pol_t *inl; /* Backend inline policies, in Backend key order */
    size_t ninl;
    set_t *route;
    set_t **backend;
    size_t nroutes;
    const struct pol ***net; /* per snapshot Bind: its network authorization policies (in v) */
    /* per route: the authorization policies carried inside the Route (traffic_policies),
     * compiled; more specific than any Policy */
    struct pol **rinl;
    size_t *nrinl;
    size_t *nnet;
    size_t nbinds;
};

static void pol_dispose(pol_t *p)
{
    size_t np = p->pb && p->pb->kind_case == AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_TRAFFIC &&
                        p->tkind == TK(JWT)
                    ? p->pb->traffic->jwt->n_providers
                    : 0;
    for (size_t i = 0; p->jwks && i < np; i++)
        proxy_jwks_free(p->jwks[i]);
    free(p->jwks);
    proxy_htpasswd_free(p->htpasswd);
    for (size_t i = 0; i < p->nbuckets; i++)
        proxy_ratelimit_release(p->buckets[i]);
    free(p->buckets);
    net_tls_ctx_release(p->tls);
    net_tls_ctx_release(p->tls_h2);
    for (size_t i = 0; p->rules && i < p->nallow + p->ndeny + p->nrequire; i++)
        proxy_cel_free(p->rules[i]);
    free(p->rules);
    free(p->own);
}

void proxy__policies_free(proxy__policies_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        pol_dispose(&t->v[i]);
    for (size_t i = 0; i < t->ninl; i++) {
        free((char *)t->inl[i].key);
        pol_dispose(&t->inl[i]);
    }
    free(t->inl);
    for (size_t i = 0; t->backend && i < t->nroutes; i++)
        free(t->backend[i]);
    for (size_t i = 0; t->rinl && i < t->nroutes; i++) {
        for (size_t j = 0; j < t->nrinl[i]; j++)
            pol_dispose(&t->rinl[i][j]);
        free(t->rinl[i]);
    }
    free(t->rinl);
    free(t->nrinl);
    for (size_t i = 0; t->net && i < t->nbinds; i++)
        free((void *)t->net[i]);
    free((void *)t->net);
    free(t->nnet);
    free(t->backend);
    free(t->route);
    free(t->v);
    free(t);
}

/* The previous snapshot's policy of the same key (Q1: binary search), or NULL. */
static const pol_t *pol_find(const proxy__policies_t *t, const char *key)
{
    size_t lo = 0, hi = t ? t->n : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t->v[mid].key, key);
        if (c == 0)
            return &t->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The previous snapshot's inline policy |j| of Backend |backend| (inl is in Backend key order). */
static const pol_t *inl_find(const proxy__policies_t *t, const char *backend, size_t j)
{
    size_t lo = 0, hi = t ? t->ninl : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(t->inl[mid].backend, backend) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; lo < (t ? t->ninl : 0) && !strcmp(t->inl[lo].backend, backend); lo++, k++)
        if (k == j)
            return &t->inl[lo];
    return NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* Compiling and validating one Policy (P1-P4). */

static uint64_t dur_ms(const Google__Protobuf__Duration *d)
{
    if (!d || d->seconds < 0 || d->nanos < 0)
        return 0;
    return (uint64_t)d->seconds * 1000u + (uint64_t)d->nanos / 1000000u;
}

static int add_bucket(pol_t *p, const pol_t *old, uint64_t max, uint64_t per, uint64_t ms,
                      const char *where, char *reason, size_t cap)
{
    if (!max || !ms || per > max) {
        snprintf(reason, cap,
                 "%s: %s: max_tokens and fill_interval must be > 0, tokens_per_fill at most "
                 "max_tokens",
                 p->who, where);
        return PROXY_ECONFIG;
    }
    proxy_ratelimit_t *rl = NULL;
    if (old && p->nbuckets < old->nbuckets)
        rl = proxy_ratelimit_retain(old->buckets[p->nbuckets]);
    else if (!(rl = proxy_ratelimit_new(max, per, ms, 0)))
        return PROXY_ENOMEM;
    proxy_ratelimit_t **nb = realloc(p->buckets, (p->nbuckets + 1) * sizeof *nb);
    if (!nb) {
        proxy_ratelimit_release(rl);
        return PROXY_ENOMEM;
    }
    p->buckets = nb;
    p->buckets[p->nbuckets++] = rl;
    return PROXY_OK;
}

/* PEM bytes as a C string; NULL for an empty field (treated as absent). */
static char *pem_dup(ProtobufCBinaryData b)
{
    if (!b.len)
        return NULL;
    char *s = malloc(b.len + 1);
    if (s) {
        memcpy(s, b.data, b.len);
        s[b.len] = '\0';
    }
    return s;
}

/* P4: a backend TLS policy becomes two client contexts, one per upstream protocol, because
 * net/'s connection takes its protocol from ALPN: the HTTP/1.1 one never offers h2 (agentgateway's
 * `alpn` minus "h2"; unset: http/1.1), the HTTP/2 one offers the list as given (unset: h2).
 * verify_subject_alt_names replaces the name check; INSECURE_HOST checks the chain only. */
static int compile_tls(pol_t *p, const pol_t *old, char *reason, size_t cap)
{
    if (old && old->tls && old->tls_h2) {
        p->tls = net_tls_ctx_retain(old->tls);
        p->tls_h2 = net_tls_ctx_retain(old->tls_h2);
        return PROXY_OK;
    }
    const Agentgateway__Dev__Resource__BackendPolicySpec__BackendTLS *t =
        p->pb->backend->backend_tls;
    for (size_t i = 0; i < t->n_verify_subject_alt_names; i++) {
        if (!t->verify_subject_alt_names[i][0]) {
            snprintf(reason, cap, "%s: backend.backend_tls.verify_subject_alt_names[%zu]: empty",
                     p->who, i);
            return PROXY_ECONFIG;
        }
    }
    size_t na = t->alpn ? t->alpn->n_protocols : 0;
    for (size_t i = 0; i < na; i++) {
        size_t n = strlen(t->alpn->protocols[i]);
        if (n == 0 || n > 255) {
            snprintf(reason, cap, "%s: backend.backend_tls.alpn.protocols[%zu]: %s", p->who, i,
                     n ? "longer than 255 bytes" : "empty");
            return PROXY_ECONFIG;
        }
    }
    /* NULL-terminated lists: the SANs, and both ALPN lists */
    const char **names = calloc(t->n_verify_subject_alt_names + 1, sizeof *names);
    const char **a1 = calloc(na + 2, sizeof *a1), **a2 = calloc(na + 2, sizeof *a2);
    char *cert = t->_cert_case ? pem_dup(t->cert) : NULL;
    char *key = t->_key_case ? pem_dup(t->key) : NULL;
    char *root = t->_root_case ? pem_dup(t->root) : NULL;
    /* an empty PEM is no PEM (pem_dup gives NULL): net/ then uses the defaults */
    int rc = names && a1 && a2 && (cert || !t->_cert_case || !t->cert.len) &&
                     (key || !t->_key_case || !t->key.len) &&
                     (root || !t->_root_case || !t->root.len)
                 ? PROXY_OK
                 : PROXY_ENOMEM;
    if (rc == PROXY_OK) {
        for (size_t i = 0; i < t->n_verify_subject_alt_names; i++)
            names[i] = t->verify_subject_alt_names[i];
        size_t n1 = 0, n2 = 0;
        if (!t->alpn) {
            a1[n1++] = "http/1.1";
            a2[n2++] = "h2";
        }
        for (size_t i = 0; i < na; i++) {
            if (strcmp(t->alpn->protocols[i], "h2") != 0)
                a1[n1++] = t->alpn->protocols[i];
            a2[n2++] = t->alpn->protocols[i];
        }
#define VM(x) AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_TLS__VERIFICATION_MODE__##x
        net_tls_config_t tc = {.cert_pem = cert,
                               .key_pem = key,
                               .ca_pem = root,
                               .alpn = a1,
                               .insecure_skip_verify = t->verification == VM(INSECURE_ALL),
                               .skip_name_check = t->verification == VM(INSECURE_HOST),
                               .verify_names = t->n_verify_subject_alt_names ? names : NULL};
#undef VM
        int err = 0;
        p->tls = net_tls_ctx_new(false, &tc, &err);
        tc.alpn = a2;
        if (p->tls)
            p->tls_h2 = net_tls_ctx_new(false, &tc, &err);
        if (!p->tls || !p->tls_h2)
            rc = err == NET_ENOMEM ? PROXY_ENOMEM : PROXY_ECONFIG;
    }
    free(names);
    free(a1);
    free(a2);
    free(cert);
    free(key);
    free(root);
    if (rc == PROXY_ECONFIG)
        snprintf(reason, cap, "%s: backend.backend_tls: certificate, key or root CA does not load",
                 p->who);
    return rc;
}

/* A duration field of a backend policy: |*ms| in milliseconds (0 when unset or zero). Refuses
 * negative and malformed values, and more than |max_s| seconds. */
static int policy_duration(const pol_t *p, const Google__Protobuf__Duration *d, const char *field,
                           uint64_t max_s, uint64_t *ms, char *reason, size_t cap)
{
    *ms = 0;
    if (!d)
        return PROXY_OK;
    if (d->seconds < 0 || d->nanos < 0 || d->nanos > 999999999 || (uint64_t)d->seconds > max_s) {
        snprintf(reason, cap, "%s: %s: %lld.%09ds is not a duration between 0 and %llus", p->who,
                 field, (long long)d->seconds, (int)d->nanos, (unsigned long long)max_s);
        return PROXY_ECONFIG;
    }
    *ms = dur_ms(d);
    if (!*ms && d->nanos)
        *ms = 1;
    return PROXY_OK;
}

/* Linux bounds TCP_KEEPIDLE and TCP_KEEPINTVL to 32767 s, TCP_KEEPCNT to 127. */
#define KA_MAX_S 32767u
#define KA_MAX_PROBES 127u
/* agentgateway's defaults for a keepalive without time, interval or retries */
#define KA_DEFAULT_S 180u
#define KA_DEFAULT_PROBES 9u

/* P5: backend_tcp (connect timeout, keepalive) and backend_http (version, request timeout) hold
 * values the proxy can apply. */
static int check_backend_conn(const pol_t *p, char *reason, size_t cap)
{
    uint64_t ms;
    if (p->bkind == BK(BACKEND_TCP)) {
        const Agentgateway__Dev__Resource__BackendPolicySpec__BackendTCP *t =
            p->pb->backend->backend_tcp;
        int rc = policy_duration(p, t->connect_timeout, "backend.backend_tcp.connect_timeout",
                                 86400, &ms, reason, cap);
        if (rc == PROXY_OK && t->keepalive)
            rc = policy_duration(p, t->keepalive->time, "backend.backend_tcp.keepalive.time",
                                 KA_MAX_S, &ms, reason, cap);
        if (rc == PROXY_OK && t->keepalive)
            rc = policy_duration(p, t->keepalive->interval,
                                 "backend.backend_tcp.keepalive.interval", KA_MAX_S, &ms, reason,
                                 cap);
        if (rc == PROXY_OK && t->keepalive && t->keepalive->_retries_case &&
            (t->keepalive->retries < 1 || t->keepalive->retries > KA_MAX_PROBES)) {
            snprintf(reason, cap, "%s: backend.backend_tcp.keepalive.retries: %u is not between 1 "
                     "and %u", p->who, (unsigned)t->keepalive->retries, KA_MAX_PROBES);
            rc = PROXY_ECONFIG;
        }
        return rc;
    }
    const Agentgateway__Dev__Resource__BackendPolicySpec__BackendHTTP *h =
        p->pb->backend->backend_http;
    if ((unsigned)h->version >
        AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_HTTP__HTTP_VERSION__HTTP2) {
        snprintf(reason, cap, "%s: backend.backend_http.version: unknown version %d", p->who,
                 (int)h->version);
        return PROXY_ECONFIG;
    }
    return policy_duration(p, h->request_timeout, "backend.backend_http.request_timeout",
                           UINT32_MAX, &ms, reason, cap);
}

/* Whole seconds for a socket option, at least 1 (a shorter duration still asks for probes). */
static uint32_t ka_seconds(const Google__Protobuf__Duration *d)
{
    if (!d || (d->seconds == 0 && d->nanos == 0))
        return KA_DEFAULT_S;
    uint64_t s = (uint64_t)d->seconds + (d->nanos ? 1u : 0u);
    return s > KA_MAX_S ? KA_MAX_S : (uint32_t)s;
}

void proxy_policy_upstream_conn(const proxy_policy_result_t *res, proxy_endpoint_t *ep)
{
    const set_t *st = res->backend_set;
    if (!st)
        return;
    const pol_t *ph = st->b[BK(BACKEND_HTTP)];
    if (ph) {
        const Agentgateway__Dev__Resource__BackendPolicySpec__BackendHTTP *h =
            ph->pb->backend->backend_http;
        /* the policy is more specific than the Service's appProtocol (as in agentgateway) */
#define HV(x) AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_HTTP__HTTP_VERSION__##x
        if (h->version == HV(HTTP1))
            ep->h2c = 0;
        else if (h->version == HV(HTTP2))
            ep->h2c = 1;
#undef HV
        ep->request_timeout_ms = dur_ms(h->request_timeout);
        if (!ep->request_timeout_ms && h->request_timeout && h->request_timeout->nanos > 0)
            ep->request_timeout_ms = 1;
    }
    const pol_t *pt = st->b[BK(BACKEND_TCP)];
    if (pt) {
        const Agentgateway__Dev__Resource__BackendPolicySpec__BackendTCP *t =
            pt->pb->backend->backend_tcp;
        ep->connect_timeout_ms = dur_ms(t->connect_timeout);
        if (!ep->connect_timeout_ms && t->connect_timeout && t->connect_timeout->nanos > 0)
            ep->connect_timeout_ms = 1;
        if (t->keepalive) {
            ep->ka_idle_s = ka_seconds(t->keepalive->time);
            ep->ka_interval_s = ka_seconds(t->keepalive->interval);
            ep->ka_probes = t->keepalive->_retries_case ? t->keepalive->retries : KA_DEFAULT_PROBES;
        }
    }
    const pol_t *bt = st->b[BK(BACKEND_TLS)];
    if (bt && ep->tls == bt->tls && ep->h2c)
        ep->tls = bt->tls_h2;
}

/* The CEL lists of an authorization policy (traffic or backend RBAC, frontend network
 * authorization); false for other kinds. */
typedef struct rbac_lists {
    char *const *list[3]; /* allow, deny, require */
    size_t n[3];
    const char *what; /* the field, for messages */
} rbac_lists_t;

static bool pol_rbac(const pol_t *p, rbac_lists_t *r)
{
    const Agentgateway__Dev__Resource__TrafficPolicySpec__RBAC *rb = NULL;
    const agw_policy_t *pb = p->pb;
    if (p->tkind == TK(AUTHORIZATION)) {
        rb = pb->traffic->authorization;
        r->what = "traffic.authorization";
    } else if (p->bkind == BK(AUTHORIZATION)) {
        rb = pb->backend->authorization;
        r->what = "backend.authorization";
    } else if (p->netauth) {
        const Agentgateway__Dev__Resource__FrontendPolicySpec__NetworkAuthorization *na =
            pb->frontend->network_authorization;
        *r = (rbac_lists_t){{na->allow, na->deny, na->require},
                            {na->n_allow, na->n_deny, na->n_require},
                            "frontend.network_authorization"};
        return true;
    }
    if (!rb)
        return false;
    r->list[0] = rb->allow;
    r->list[1] = rb->deny;
    r->list[2] = rb->require;
    r->n[0] = rb->n_allow;
    r->n[1] = rb->n_deny;
    r->n[2] = rb->n_require;
    return true;
}

/* Compiles the CEL rules of an authorization policy: a syntax error rejects the change set
 * ("policy/<key>: traffic.authorization.deny[1]: col 12: expected ')'"); an unsupported function
 * is accepted and reported (the rule errors at every request, which fails closed). */
static int compile_rules(pol_t *p, char *reason, size_t cap)
{
    rbac_lists_t r;
    if (!pol_rbac(p, &r))
        return PROXY_OK;
    static const char *const names[3] = {"allow", "deny", "require"};
    size_t total = r.n[0] + r.n[1] + r.n[2];
    if (!(p->rules = calloc(total + 1, sizeof *p->rules)))
        return PROXY_ENOMEM;
    p->nallow = r.n[0];
    p->ndeny = r.n[1];
    p->nrequire = r.n[2];
    size_t k = 0;
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < r.n[l]; i++, k++) {
            char why[200];
            const char *src = r.list[l][i] ? r.list[l][i] : "";
            int rc = proxy_cel_compile(src, strlen(src), &p->rules[k], why, sizeof why);
            if (rc == -2)
                return PROXY_ENOMEM;
            if (rc != 0) {
                snprintf(reason, cap, "%s: %s.%s[%zu]: %s", p->who, r.what, names[l], i, why);
                return PROXY_ECONFIG;
            }
            const char *fn = proxy_cel_unsupported(p->rules[k]);
            if (fn && !p->warn[0])
                snprintf(p->warn, sizeof p->warn,
                         "%.100s: %s.%s[%zu]: function '%.40s' is not supported by this proxy: the "
                         "rule "
                         "is an error at every request (%s)",
                         p->who, r.what, names[l], i, fn,
                         l == 1 ? "the request is denied" : "it never matches");
        }
    return PROXY_OK;
}

/* |old| is the previous snapshot's policy of the same name (may be NULL): its state is carried
 * over when the content is the same. */
static int pol_compile(pol_t *p, const pol_t *old, char *reason, size_t cap)
{
    const agw_policy_t *pb = p->pb;
    if (!p->who[0])
        snprintf(p->who, sizeof p->who, "policy/%s", p->key);
    if (old && old->hash != p->hash)
        old = NULL;
    p->override = pb->inheritance == AGENTGATEWAY__DEV__RESOURCE__POLICY__INHERITANCE__OVERRIDE;
    if (pb->kind_case == AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_TRAFFIC && pb->traffic)
        p->tkind = (int)pb->traffic->kind_case;
    if (pb->kind_case == AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_BACKEND && pb->backend)
        p->bkind = (int)pb->backend->kind_case;
    if (p->tkind >= NKINDS || p->bkind >= NKINDS)
        p->tkind = p->bkind = 0;
    p->netauth = pb->kind_case == AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND &&
                 pb->frontend && pb->frontend->kind_case == FK(NETWORK_AUTHORIZATION);
    char why[300];
    int crc = compile_rules(p, reason, cap);
    if (crc != PROXY_OK)
        return crc;
    if (p->tkind == TK(EXT_AUTHZ) || p->bkind == BK(EXT_AUTHZ)) {
        const Agentgateway__Dev__Resource__TrafficPolicySpec__ExternalAuth *x =
            p->tkind ? pb->traffic->ext_authz : pb->backend->ext_authz;
        bool allow =
            x->failure_mode ==
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__ALLOW;
        snprintf(p->warn, sizeof p->warn,
                 "%s: %s.ext_authz: ext_authz is not enforced by this proxy; requests are %s",
                 p->who, p->tkind ? "traffic" : "backend",
                 allow ? "allowed (failureMode ALLOW)" : "denied (failureMode DENY)");
    } else if (p->tkind == TK(EXT_PROC)) {
        bool open =
            pb->traffic->ext_proc->failure_mode ==
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXT_PROC__FAILURE_MODE__FAIL_OPEN;
        snprintf(p->warn, sizeof p->warn,
                 "%s: traffic.ext_proc: ext_proc is not enforced by this proxy; requests %s",
                 p->who,
                 open ? "pass unprocessed (failureMode FAIL_OPEN)"
                      : "are answered 500 (failureMode FAIL_CLOSED)");
    }
    if (p->tkind == TK(JWT)) { /* P1 */
        const Agentgateway__Dev__Resource__TrafficPolicySpec__JWT *j = pb->traffic->jwt;
        if (!(p->jwks = calloc(j->n_providers + 1, sizeof *p->jwks)))
            return PROXY_ENOMEM;
        for (size_t i = 0; i < j->n_providers; i++) {
            const Agentgateway__Dev__Resource__TrafficPolicySpec__JWTProvider *pr = j->providers[i];
            if (pr->jwks_source_case !=
                AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__JWTPROVIDER__JWKS_SOURCE_INLINE) {
                if (!p->warn[0]) /* fails closed: this provider accepts no token */
                    snprintf(p->warn, sizeof p->warn,
                             "%s: traffic.jwt.providers[%zu]: no inline JWKS (remote JWKS is not "
                             "supported): every token is rejected",
                             p->who, i);
                continue;
            }
            if (!(p->jwks[i] =
                      proxy_jwks_parse(pr->inline_, strlen(pr->inline_), why, sizeof why))) {
                snprintf(reason, cap, "%s: traffic.jwt.providers[%zu].inline: %s", p->who, i, why);
                return PROXY_ECONFIG;
            }
            const char *w = proxy_jwks_warning(p->jwks[i]);
            if (!p->warn[0] && (w || !proxy_jwks_count(p->jwks[i])))
                snprintf(p->warn, sizeof p->warn, "%s: traffic.jwt.providers[%zu].inline: %s",
                         p->who, i, w ? w : "no key: every token is rejected");
        }
    } else if (p->tkind == TK(BASIC_AUTH)) { /* P2 */
        const char *c = pb->traffic->basic_auth->htpasswd_content;
        if (!(p->htpasswd = proxy_htpasswd_parse(c, strlen(c), why, sizeof why))) {
            snprintf(reason, cap, "%s: traffic.basic_auth.htpasswd_content: %s", p->who, why);
            return PROXY_ECONFIG;
        }
        if (proxy_htpasswd_warning(p->htpasswd))
            snprintf(p->warn, sizeof p->warn, "%s: traffic.basic_auth.htpasswd_content: %s", p->who,
                     proxy_htpasswd_warning(p->htpasswd));
    } else if (p->tkind == TK(LOCAL_RATE_LIMIT)) { /* P3 */
        const Agentgateway__Dev__Resource__TrafficPolicySpec__LocalRateLimit *l =
            pb->traffic->local_rate_limit;
        enum {
            REQ = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__LOCAL_RATE_LIMIT__TYPE__REQUEST
        };
        int rc = PROXY_OK;
        if ((l->max_tokens || !l->n_rules) && (int)l->type == REQ)
            rc = add_bucket(p, old, l->max_tokens, l->tokens_per_fill, dur_ms(l->fill_interval),
                            "traffic.local_rate_limit", reason, cap);
        for (size_t i = 0; rc == PROXY_OK && i < l->n_rules; i++) {
            char where[64];
            snprintf(where, sizeof where, "traffic.local_rate_limit.rules[%zu]", i);
            if ((int)l->rules[i]->type == REQ) /* token (LLM) limits are not enforced */
                rc = add_bucket(p, old, l->rules[i]->max_tokens, l->rules[i]->tokens_per_fill,
                                dur_ms(l->rules[i]->fill_interval), where, reason, cap);
        }
        if (rc != PROXY_OK)
            return rc;
    } else if (p->bkind == BK(BACKEND_TLS)) { /* P4 */
        return compile_tls(p, old, reason, cap);
    } else if (p->bkind == BK(BACKEND_TCP) || p->bkind == BK(BACKEND_HTTP)) { /* P5 */
        return check_backend_conn(p, reason, cap);
    }
    return PROXY_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Attachment and precedence. */

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The level at which |p| attaches to route |r| (gateway, listener, route, rule), or -1. */
static int route_level(const proxy_snapshot_t *s, const pol_t *p, const proxy__route_t *r)
{
    const agw_target_t *t = p->pb->target;
    const proxy__listener_t *pl = &s->listeners[r->listener];
    const Agentgateway__Dev__Resource__Listener *l = ir_listener_pb(pl->obj);
    const Agentgateway__Dev__Resource__ListenerName *ln = l->name;
    if (!t)
        return -1;
    switch (t->kind_case) {
    case AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY: {
        const Agentgateway__Dev__Resource__PolicyTarget__GatewayTarget *g = t->gateway;
        if (!ln || !str_eq(g->name, ln->gateway_name) ||
            !str_eq(g->namespace_, ln->gateway_namespace))
            return -1;
        if (g->_listener_case && !str_eq(g->listener, ln->listener_name))
            return -1;
        if (g->_port_case && g->port != ir_bind_port(s->binds[pl->bind]))
            return -1;
        return g->_listener_case || g->_port_case ? PROXY_POLICY_LISTENER : PROXY_POLICY_GATEWAY;
    }
    case AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_LISTENER_SET: {
        const Agentgateway__Dev__Resource__PolicyTarget__ListenerSetTarget *g = t->listener_set;
        if (!ln || !ln->listener_set || !str_eq(g->name, ln->listener_set->name) ||
            !str_eq(g->namespace_, ln->listener_set->namespace_))
            return -1;
        if (g->_section_case && !str_eq(g->section, ln->listener_name))
            return -1;
        return PROXY_POLICY_LISTENER;
    }
    case AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_ROUTE: {
        const Agentgateway__Dev__Resource__PolicyTarget__RouteTarget *rt = t->route;
        const Agentgateway__Dev__Resource__RouteName *rn = r->pb->name;
        if (!rn || !str_eq(rt->name, rn->name) || !str_eq(rt->namespace_, rn->namespace_))
            return -1;
        if (rt->kind && rt->kind[0] && rn->kind && rn->kind[0] && !str_eq(rt->kind, rn->kind))
            return -1;
        if (rt->_route_rule_case) {
            if (!rn->_rule_name_case || !str_eq(rt->route_rule, rn->rule_name))
                return -1;
            return PROXY_POLICY_RULE;
        }
        return PROXY_POLICY_ROUTE;
    }
    default:
        return -1;
    }
}

/* The level at which |p| attaches to a backendRef (Service, Backend, sub-backend), or -1. */
static int backend_level(const pol_t *p, const agw_route_backend_t *rb)
{
    const agw_target_t *t = p->pb->target;
    const agw_backend_ref_t *br = rb ? rb->backend : NULL;
    if (p->backend) { /* inline: the Backend it belongs to, or its sub-backends */
        if (!br || br->kind_case != AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND)
            return -1;
        size_t pl = strlen(p->backend);
        if (strncmp(br->backend, p->backend, pl) != 0 ||
            (br->backend[pl] && br->backend[pl] != '/'))
            return -1;
        /* a sub-backend's own inline policies are more specific than its parent's */
        const char *s1 = strchr(p->backend, '/');
        return s1 && strchr(s1 + 1, '/') ? PROXY_POLICY_SUBBACKEND : PROXY_POLICY_BACKEND;
    }
    if (!t || !br)
        return -1;
    if (t->kind_case == AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_SERVICE &&
        br->kind_case == AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_SERVICE) {
        const Agentgateway__Dev__Resource__PolicyTarget__ServiceTarget *st = t->service;
        if (!str_eq(st->namespace_, br->service->namespace_) ||
            !str_eq(st->hostname, br->service->hostname) ||
            (st->_port_case && st->port != br->port))
            return -1;
        return PROXY_POLICY_SERVICE;
    }
    if (t->kind_case == AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_BACKEND &&
        br->kind_case == AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND) {
        const Agentgateway__Dev__Resource__PolicyTarget__BackendTarget *bt = t->backend;
        char k[512];
        snprintf(k, sizeof k, "%s/%s", bt->namespace_, bt->name);
        size_t kl = strlen(k);
        if (strncmp(br->backend, k, kl) != 0 || (br->backend[kl] && br->backend[kl] != '/'))
            return -1;
        if (!bt->_section_case)
            return PROXY_POLICY_BACKEND; /* also covers its sub-backends */
        return br->backend[kl] == '/' && !strcmp(br->backend + kl + 1, bt->section)
                   ? PROXY_POLICY_SUBBACKEND
                   : -1;
    }
    return -1;
}

/* Does |p| at level |lvl| beat |cur| at level |curlvl| (|p| comes later in key order)? */
static bool beats(const pol_t *p, int lvl, const pol_t *cur, int curlvl)
{
    if (!cur)
        return true;
    if (p->override != cur->override)
        return p->override;
    if (p->override)
        return lvl < curlvl;
    return lvl > curlvl;
}

/* Inserts |p| at |lvl| in order (level, then inline after attached, then position). */
static void az_add(azlist_t *a, const pol_t *p, int lvl)
{
    size_t i = 0;
    for (; i < a->n; i++) {
        if (a->p[i] == p)
            return;
        int c = (a->l[i] > lvl) - (a->l[i] < lvl);
        if (!c)
            c = (a->p[i]->backend != NULL) - (p->backend != NULL);
        if (!c)
            c = ((uintptr_t)a->p[i] > (uintptr_t)p) - ((uintptr_t)a->p[i] < (uintptr_t)p);
        if (c > 0)
            break;
    }
    if (a->n == MAXAZ) {
        a->over = true;
        return;
    }
    memmove(&a->p[i + 1], &a->p[i], (a->n - i) * sizeof a->p[0]);
    memmove(&a->l[i + 1], &a->l[i], (a->n - i) * sizeof a->l[0]);
    a->p[i] = p;
    a->l[i] = (int8_t)lvl;
    a->n++;
}

static void consider(set_t *st, const pol_t *p, int lvl, bool traffic_too)
{
    if (traffic_too && p->tkind == TK(AUTHORIZATION))
        az_add(&st->taz, p, lvl);
    if (p->bkind == BK(AUTHORIZATION))
        az_add(&st->baz, p, lvl);
    if (traffic_too && p->tkind && beats(p, lvl, st->t[p->tkind], st->tl[p->tkind])) {
        st->t[p->tkind] = p;
        st->tl[p->tkind] = (int8_t)lvl;
    }
    if (p->bkind && beats(p, lvl, st->b[p->bkind], st->bl[p->bkind])) {
        st->b[p->bkind] = p;
        st->bl[p->bkind] = (int8_t)lvl;
    }
}

/* The attachment index: policies by target name, so a route looks only at the policies that can
 * attach to it (gateway-wide ones, and those naming it or its backends) instead of all of them. */
typedef struct ixe {
    const char *ns, *name;
    size_t i; /* index into v: equal names stay in key order */
} ixe_t;

static int ixe_cmp(const void *a, const void *b)
{
    const ixe_t *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    if (!c)
        c = strcmp(x->name, y->name);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

typedef struct index {
    size_t *gw; /* gateway and listener set targets, key order */
    size_t ngw;
    ixe_t *by[3]; /* route, backend, service targets by (namespace, name / hostname) */
    size_t nby[3];
} index_t;

enum { IX_ROUTE = 0, IX_BACKEND = 1, IX_SERVICE = 2 };

static void index_dispose(index_t *x)
{
    free(x->gw);
    for (int k = 0; k < 3; k++)
        free(x->by[k]);
}

static int index_build(index_t *x, const proxy__policies_t *t)
{
    memset(x, 0, sizeof *x);
    x->gw = calloc(t->n + 1, sizeof *x->gw);
    for (int k = 0; k < 3; k++)
        x->by[k] = calloc(t->n + 1, sizeof *x->by[k]);
    if (!x->gw || !x->by[0] || !x->by[1] || !x->by[2])
        return PROXY_ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        const agw_target_t *tg = t->v[i].pb->target;
        switch (tg ? tg->kind_case : 0) {
        case AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY:
        case AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_LISTENER_SET:
            x->gw[x->ngw++] = i;
            break;
        case AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_ROUTE:
            x->by[IX_ROUTE][x->nby[IX_ROUTE]++] =
                (ixe_t){tg->route->namespace_, tg->route->name, i};
            break;
        case AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_BACKEND:
            x->by[IX_BACKEND][x->nby[IX_BACKEND]++] =
                (ixe_t){tg->backend->namespace_, tg->backend->name, i};
            break;
        case AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_SERVICE:
            x->by[IX_SERVICE][x->nby[IX_SERVICE]++] =
                (ixe_t){tg->service->namespace_, tg->service->hostname, i};
            break;
        default:
            break;
        }
    }
    for (int k = 0; k < 3; k++)
        qsort(x->by[k], x->nby[k], sizeof *x->by[k], ixe_cmp);
    return PROXY_OK;
}

/* The first entry of |x->by[k]| named (ns, name), or nby[k] when none. */
static size_t index_first(const index_t *x, int k, const char *ns, const char *name)
{
    ixe_t key = {ns ? ns : "", name ? name : "", 0};
    size_t lo = 0, hi = x->nby[k];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ixe_cmp(&x->by[k][mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool index_same(const index_t *x, int k, size_t j, const char *ns, const char *name)
{
    return j < x->nby[k] && str_eq(x->by[k][j].ns, ns) && str_eq(x->by[k][j].name, name);
}

/* Does frontend policy |p| (Gateway targets only) attach to listener |li|? */
static bool frontend_applies(const proxy_snapshot_t *s, const pol_t *p, size_t li)
{
    const agw_target_t *t = p->pb->target;
    const proxy__listener_t *pl = &s->listeners[li];
    const Agentgateway__Dev__Resource__ListenerName *ln = ir_listener_pb(pl->obj)->name;
    if (!t || t->kind_case != AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY || !ln)
        return false;
    const Agentgateway__Dev__Resource__PolicyTarget__GatewayTarget *g = t->gateway;
    if (!str_eq(g->name, ln->gateway_name) || !str_eq(g->namespace_, ln->gateway_namespace))
        return false;
    if (g->_listener_case && !str_eq(g->listener, ln->listener_name))
        return false;
    return !g->_port_case || g->port == ir_bind_port(s->binds[pl->bind]);
}

/* Q5: the network authorization policies of every Bind. */
static int net_build(const proxy_snapshot_t *s, proxy__policies_t *t)
{
    t->nbinds = s->nbinds;
    if (!(t->net = calloc(s->nbinds + 1, sizeof *t->net)) ||
        !(t->nnet = calloc(s->nbinds + 1, sizeof *t->nnet)))
        return PROXY_ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        if (!t->v[i].netauth)
            continue;
        for (size_t l = 0; l < s->nlisteners; l++) {
            size_t b = s->listeners[l].bind;
            if (b >= s->nbinds || !frontend_applies(s, &t->v[i], l) ||
                (t->nnet[b] && t->net[b][t->nnet[b] - 1] == &t->v[i]))
                continue;
            const pol_t **nv = realloc(t->net[b], (t->nnet[b] + 1) * sizeof *nv);
            if (!nv)
                return PROXY_ENOMEM;
            t->net[b] = nv;
            t->net[b][t->nnet[b]++] = &t->v[i];
        }
    }
    return PROXY_OK;
}

/* Backend set |bs| of backendRef |rb|: backend- and service-level policies, then inline ones. */
static void backend_candidates(const proxy__policies_t *t, const index_t *x, set_t *bs,
                               const agw_route_backend_t *rb)
{
    const agw_backend_ref_t *br = rb->backend;
    if (!br)
        return;
    if (br->kind_case == AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_SERVICE) {
        const char *ns = br->service->namespace_, *h = br->service->hostname;
        for (size_t j = index_first(x, IX_SERVICE, ns, h); index_same(x, IX_SERVICE, j, ns, h);
             j++) {
            const pol_t *p = &t->v[x->by[IX_SERVICE][j].i];
            int lvl = backend_level(p, rb);
            if (lvl >= 0)
                consider(bs, p, lvl, false);
        }
        return;
    }
    if (br->kind_case != AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND)
        return;
    char ns[256], name[256]; /* "<ns>/<name>[/<sub>]" */
    const char *k = br->backend, *s1 = strchr(k, '/');
    if (!s1 || (size_t)(s1 - k) >= sizeof ns)
        return;
    const char *s2 = strchr(s1 + 1, '/');
    size_t nl = s2 ? (size_t)(s2 - s1 - 1) : strlen(s1 + 1);
    if (nl >= sizeof name)
        return;
    snprintf(ns, sizeof ns, "%.*s", (int)(s1 - k), k);
    snprintf(name, sizeof name, "%.*s", (int)nl, s1 + 1);
    for (size_t j = index_first(x, IX_BACKEND, ns, name); index_same(x, IX_BACKEND, j, ns, name);
         j++) {
        const pol_t *p = &t->v[x->by[IX_BACKEND][j].i];
        int lvl = backend_level(p, rb);
        if (lvl >= 0)
            consider(bs, p, lvl, false);
    }
    /* inline policies last: an attached policy at the same level keeps precedence. They are in
     * Backend key order; the parent "<ns>/<name>" and its own key share a prefix. */
    size_t pl = (size_t)(s1 - k) + 1 + nl, lo = 0, hi = t->ninl;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strncmp(t->inl[mid].backend, k, pl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < t->ninl && !strncmp(t->inl[i].backend, k, pl); i++) {
        int lvl = backend_level(&t->inl[i], rb);
        if (lvl >= 0)
            consider(bs, &t->inl[i], lvl, false);
    }
}

int proxy__policies_build(proxy_snapshot_t *s, const proxy_snapshot_t *old, char *reason,
                          size_t cap)
{
    proxy__policies_t *t = calloc(1, sizeof *t);
    if (!t)
        return PROXY_ENOMEM;
    s->pol = t;
    if (!(t->v = calloc(s->npolicies + 1, sizeof *t->v)))
        return PROXY_ENOMEM;
    for (size_t i = 0; i < s->nobjs; i++) { /* Q1: objs order */
        const ir_policy_t *po = ir_policy_from_obj(s->objs[i].obj);
        if (!po)
            continue;
        pol_t *p = &t->v[t->n++];
        p->obj = po;
        p->pb = ir_policy_pb(po);
        p->key = ir_policy_key(po);
        p->hash = ir_obj_wire_hash(s->objs[i].obj);
        int rc = pol_compile(p, pol_find(old ? old->pol : NULL, p->key), reason, cap);
        if (rc != PROXY_OK)
            return rc;
    }
    size_t ninl = 0;
    for (size_t i = 0; i < s->nbackends; i++)
        ninl += ir_backend_pb(s->backends[i])->n_inline_policies;
    if (!(t->inl = calloc(ninl + 1, sizeof *t->inl)))
        return PROXY_ENOMEM;
    for (size_t i = 0; i < s->nbackends; i++) {
        const Agentgateway__Dev__Resource__Backend *b = ir_backend_pb(s->backends[i]);
        for (size_t j = 0; j < b->n_inline_policies; j++) {
            pol_t *p = &t->inl[t->ninl++];
            char key[600];
            snprintf(key, sizeof key, "@%s#%zu", b->key, j);
            if (!(p->own = malloc(sizeof *p->own)) || !(p->key = strdup(key)))
                return PROXY_ENOMEM;
            agentgateway__dev__resource__policy__init(p->own);
            p->own->key = (char *)p->key;
            p->own->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_BACKEND;
            p->own->backend = b->inline_policies[j];
            p->pb = p->own;
            p->backend = b->key;
            snprintf(p->who, sizeof p->who, "backend/%s: inline_policies[%zu]", b->key, j);
            p->hash = ir_obj_wire_hash(ir_backend_obj(s->backends[i]));
            int rc = pol_compile(p, inl_find(old ? old->pol : NULL, b->key, j), reason, cap);
            if (rc != PROXY_OK)
                return rc;
        }
    }
    t->nroutes = s->nroutes;
    if (!(t->route = calloc(s->nroutes + 1, sizeof *t->route)) ||
        !(t->backend = calloc(s->nroutes + 1, sizeof *t->backend)) ||
        !(t->rinl = calloc(s->nroutes + 1, sizeof *t->rinl)) ||
        !(t->nrinl = calloc(s->nroutes + 1, sizeof *t->nrinl)))
        return PROXY_ENOMEM;
    for (size_t r = 0; r < s->nroutes; r++) { /* authorization carried inside a Route */
        const agw_route_t *rp = s->routes[r].pb;
        for (size_t j = 0; j < rp->n_traffic_policies; j++) {
            if (!rp->traffic_policies[j] || rp->traffic_policies[j]->kind_case != TK(AUTHORIZATION))
                continue;
            pol_t *np = realloc(t->rinl[r], (t->nrinl[r] + 1) * sizeof *np);
            if (!np)
                return PROXY_ENOMEM;
            t->rinl[r] = np;
            pol_t *p = &np[t->nrinl[r]++];
            memset(p, 0, sizeof *p);
            if (!(p->own = malloc(sizeof *p->own)))
                return PROXY_ENOMEM;
            agentgateway__dev__resource__policy__init(p->own);
            p->own->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_TRAFFIC;
            p->own->traffic = rp->traffic_policies[j];
            p->pb = p->own;
            snprintf(p->who, sizeof p->who, "route/%.140s: traffic_policies[%zu]",
                     ir_route_key(s->routes[r].obj), j);
            int rc = pol_compile(p, NULL, reason, cap);
            if (rc != PROXY_OK)
                return rc;
        }
    }
    index_t x;
    int rc = index_build(&x, t);
    for (size_t r = 0; rc == PROXY_OK && r < s->nroutes; r++) { /* Q2, Q3 */
        const proxy__route_t *pr = &s->routes[r];
        for (size_t g = 0; g < x.ngw; g++) {
            int lvl = route_level(s, &t->v[x.gw[g]], pr);
            if (lvl >= 0)
                consider(&t->route[r], &t->v[x.gw[g]], lvl, true);
        }
        const Agentgateway__Dev__Resource__RouteName *rn = pr->pb->name;
        const char *ns = rn ? rn->namespace_ : "", *nm = rn ? rn->name : "";
        for (size_t j = index_first(&x, IX_ROUTE, ns, nm); index_same(&x, IX_ROUTE, j, ns, nm);
             j++) {
            const pol_t *p = &t->v[x.by[IX_ROUTE][j].i];
            int lvl = route_level(s, p, pr);
            if (lvl >= 0)
                consider(&t->route[r], p, lvl, true);
        }
        for (size_t k = 0; k < t->nrinl[r]; k++) /* inside the Route: beyond a rule policy */
            az_add(&t->route[r].taz, &t->rinl[r][k], PROXY_POLICY_RULE + 1);
        size_t nb = pr->pb->n_backends;
        if (!nb)
            continue;
        if (!(t->backend[r] = calloc(nb, sizeof *t->backend[r]))) {
            rc = PROXY_ENOMEM;
            break;
        }
        for (size_t b = 0; b < nb; b++) {
            t->backend[r][b] = t->route[r];
            backend_candidates(t, &x, &t->backend[r][b], pr->pb->backends[b]);
        }
    }
    index_dispose(&x);
    if (rc == PROXY_OK)
        rc = net_build(s, t);
    return rc;
}

static bool set_check(const proxy__policies_t *t, const set_t *st)
{
    for (int k = 0; k < NKINDS; k++) {
        const pol_t *ps[2] = {st->t[k], st->b[k]};
        for (int j = 0; j < 2; j++) {
            const pol_t *p = ps[j];
            bool in = !p || (p >= t->v && p < t->v + t->n) || (p >= t->inl && p < t->inl + t->ninl);
            if (!in || (p && (j ? p->bkind : p->tkind) != k))
                return false;
        }
    }
    return true;
}

/* The oracle for Q4: the sets of route |r| computed by scanning every policy. */
static bool sets_rescan_equal(const proxy_snapshot_t *s, size_t r)
{
    const proxy__policies_t *t = s->pol;
    const proxy__route_t *pr = &s->routes[r];
    set_t rs, bs;
    memset(&rs, 0, sizeof rs);
    for (size_t i = 0; i < t->n; i++) {
        int lvl = route_level(s, &t->v[i], pr);
        if (lvl >= 0)
            consider(&rs, &t->v[i], lvl, true);
    }
    for (size_t k = 0; t->rinl && k < t->nrinl[r]; k++)
        az_add(&rs.taz, &t->rinl[r][k], PROXY_POLICY_RULE + 1);
    if (memcmp(&rs, &t->route[r], sizeof rs) != 0)
        return false;
    for (size_t b = 0; b < pr->pb->n_backends; b++) {
        bs = rs;
        for (size_t i = 0; i < t->n; i++) {
            int lvl = backend_level(&t->v[i], pr->pb->backends[b]);
            if (lvl >= 0)
                consider(&bs, &t->v[i], lvl, false);
        }
        for (size_t i = 0; i < t->ninl; i++) {
            int lvl = backend_level(&t->inl[i], pr->pb->backends[b]);
            if (lvl >= 0)
                consider(&bs, &t->inl[i], lvl, false);
        }
        if (memcmp(&bs, &t->backend[r][b], sizeof bs) != 0)
            return false;
    }
    return true;
}

int proxy__policies_check(const proxy_snapshot_t *s)
{
    const proxy__policies_t *t = s->pol;
    if (!t)
        return PROXY_OK;
    for (size_t i = 0; i + 1 < t->n; i++) /* Q1 */
        if (strcmp(t->v[i].key, t->v[i + 1].key) >= 0)
            return PROXY_EINVAL;
    if (t->nroutes != s->nroutes) /* Q2 */
        return PROXY_EINVAL;
    for (size_t r = 0; r < t->nroutes; r++) { /* Q3, Q4 */
        if (!set_check(t, &t->route[r]) || !sets_rescan_equal(s, r))
            return PROXY_EINVAL;
        for (size_t b = 0; b < s->routes[r].pb->n_backends; b++)
            if (!set_check(t, &t->backend[r][b]) ||
                memcmp(t->backend[r][b].t, t->route[r].t, sizeof t->route[r].t) != 0 ||
                memcmp(&t->backend[r][b].taz, &t->route[r].taz, sizeof t->route[r].taz) != 0)
                return PROXY_EINVAL;
    }
    if (t->net && t->nbinds != s->nbinds)
        return PROXY_EINVAL;
    for (size_t b = 0; t->net && b < t->nbinds; b++) { /* Q5 */
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++) {
            bool applies = false;
            for (size_t l = 0; t->v[i].netauth && l < s->nlisteners && !applies; l++)
                applies = s->listeners[l].bind == b && frontend_applies(s, &t->v[i], l);
            if (applies && (k >= t->nnet[b] || t->net[b][k++] != &t->v[i]))
                return PROXY_EINVAL;
        }
        if (k != t->nnet[b])
            return PROXY_EINVAL;
    }
    return PROXY_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Lookups */

static long route_index(const proxy_snapshot_t *s, const char *key)
{
    size_t lo = 0, hi = s->nroutes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ir_route_key(s->routes[mid].obj), key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *proxy_policy_effective(const proxy_snapshot_t *s, const char *route_key, int kind)
{
    long r = route_index(s, route_key);
    if (r < 0 || !s->pol || kind <= 0 || kind >= NKINDS || !s->pol->route[r].t[kind])
        return NULL;
    return s->pol->route[r].t[kind]->key;
}

const char *proxy_policy_effective_backend(const proxy_snapshot_t *s, const char *route_key,
                                           size_t backend, int kind)
{
    long r = route_index(s, route_key);
    if (r < 0 || !s->pol || kind <= 0 || kind >= NKINDS || backend >= s->routes[r].pb->n_backends)
        return NULL;
    const pol_t *p = s->pol->backend[r][backend].b[kind];
    return p ? p->key : NULL;
}

const char *proxy_policy_backend_unserved(const proxy_snapshot_t *s, const agw_route_backend_t *rb)
{
    if (!rb || !rb->backend ||
        rb->backend->kind_case != AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND)
        return NULL;
    const ir_backend_t *b = proxy_snapshot_backend(s, rb->backend->backend);
    if (!b)
        return NULL;
    switch (ir_backend_kind(b)) {
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_STATIC:
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND__NOT_SET:
        return NULL;
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_AI:
        return "ai";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_MCP:
        return "mcp";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_DYNAMIC:
        return "dynamic"; /* served, by proxy_policy_on_backend (not by proxy/upstream.c) */
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_AWS:
        return "aws";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_GUARDRAIL:
        return "guardrail";
    case AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_MODEL_ROUTER:
        return "model_router";
    default:
        return "unknown";
    }
}

json_t *proxy_policy_dump_warnings(const proxy_snapshot_t *s)
{
    json_t *a = json_array();
    const proxy__policies_t *t = s->pol;
    for (size_t i = 0; a && t && i < t->n; i++)
        if (t->v[i].warn[0])
            json_array_append_new(a, json_string(t->v[i].warn));
    for (size_t i = 0; a && t && i < t->ninl; i++) /* a Backend's own (ext_authz, rules) */
        if (t->inl[i].warn[0])
            json_array_append_new(a, json_string(t->inl[i].warn));
    for (size_t r = 0; a && t && t->rinl && r < t->nroutes; r++) /* rules inside a Route */
        for (size_t k = 0; k < t->nrinl[r]; k++)
            if (t->rinl[r][k].warn[0])
                json_array_append_new(a, json_string(t->rinl[r][k].warn));
    return a;
}

json_t *proxy_policy_dump_unserved(const proxy_snapshot_t *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->nbackends; i++) {
        Agentgateway__Dev__Resource__RouteBackend rb =
            AGENTGATEWAY__DEV__RESOURCE__ROUTE_BACKEND__INIT;
        Agentgateway__Dev__Resource__BackendReference br =
            AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__INIT;
        br.kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_BACKEND;
        br.backend = (char *)ir_backend_key(s->backends[i]);
        rb.backend = &br;
        const char *k = proxy_policy_backend_unserved(s, &rb);
        if (k && strcmp(k, "dynamic") != 0)
            json_array_append_new(a, json_pack("{s:s, s:s}", "backend", br.backend, "kind", k));
    }
    return a;
}

/* ------------------------------------------------------------------------------------------- */
/* Request time */

void proxy_policy_result_dispose(proxy_policy_result_t *r)
{
    proxy_headers_dispose(&r->headers);
}

static const char *req_header(const proxy_policy_req_t *q, const char *name)
{
    for (size_t i = 0; i < q->nheaders; i++)
        if (strcasecmp(q->headers[i].name, name) == 0)
            return q->headers[i].value;
    return NULL;
}

/* Reads a credential from where |loc| says (default: header |dh| with prefix |dp|). Returns its
 * length in |buf|, or -1 when absent (a header without the prefix is absent too). |*hdr| gets the
 * header name when it came from a header. */
static long credential(const proxy_policy_req_t *q, const agw_authloc_t *loc, const char *dh,
                       const char *dp, char *buf, size_t cap, const char **hdr)
{
    *hdr = NULL;
    const char *name = dh, *prefix = dp;
    if (loc && loc->kind_case == AGENTGATEWAY__DEV__RESOURCE__AUTHORIZATION_LOCATION__KIND_HEADER) {
        name = loc->header->name;
        prefix = loc->header->_prefix_case ? loc->header->prefix : "";
    } else if (loc &&
               loc->kind_case ==
                   AGENTGATEWAY__DEV__RESOURCE__AUTHORIZATION_LOCATION__KIND_QUERY_PARAMETER) {
        return proxy_query_get(q->query, loc->query_parameter->name, buf, cap);
    } else if (loc &&
               loc->kind_case == AGENTGATEWAY__DEV__RESOURCE__AUTHORIZATION_LOCATION__KIND_COOKIE) {
        const char *c = req_header(q, "cookie");
        size_t nl = strlen(loc->cookie->name);
        while (c && *c) {
            while (*c == ' ' || *c == ';')
                c++;
            const char *e = c + strcspn(c, ";");
            if ((size_t)(e - c) > nl && strncmp(c, loc->cookie->name, nl) == 0 && c[nl] == '=') {
                size_t vl = (size_t)(e - c) - nl - 1;
                if (vl >= cap)
                    return -1;
                memcpy(buf, c + nl + 1, vl);
                buf[vl] = '\0';
                return (long)vl;
            }
            c = e;
        }
        return -1;
    } else if (loc && loc->kind_case != 0) {
        return -1; /* CEL expressions are not evaluated */
    }
    const char *v = req_header(q, name);
    size_t pl = strlen(prefix);
    if (!v || strncasecmp(v, prefix, pl) != 0)
        return -1;
    v += pl;
    while (*v == ' ')
        v++;
    size_t vl = strlen(v);
    while (vl && v[vl - 1] == ' ')
        vl--;
    if (!vl || vl >= cap)
        return -1;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    *hdr = name;
    return (long)vl;
}

static int deny(proxy_policy_result_t *out, int status, const char *hname, const char *hvalue,
                const char *fmt, const char *detail)
{
    out->status = status;
    snprintf(out->body, sizeof out->body, fmt, detail);
    if (hname && proxy_headers_add(&out->headers, hname, hvalue, strlen(hvalue)) != PROXY_OK)
        return PROXY_ENOMEM;
    return PROXY_OK;
}

static void strip(proxy_policy_result_t *out, const char *hdr)
{
    for (size_t i = 0; hdr && i < sizeof out->strip / sizeof out->strip[0]; i++)
        if (!out->strip[i]) {
            out->strip[i] = hdr;
            return;
        }
}

static int do_jwt(const proxy_policy_req_t *q, const pol_t *p, proxy_policy_result_t *out,
                  json_t **claims)
{
    const Agentgateway__Dev__Resource__TrafficPolicySpec__JWT *j = p->pb->traffic->jwt;
    enum {
        OPTIONAL = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__JWT__MODE__OPTIONAL,
        STRICT = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__JWT__MODE__STRICT,
    };
    char *tok = out->credential;
    const char *hdr;
    long tl = credential(q, j->authorization_location, "authorization", "bearer ", tok,
                         sizeof out->credential, &hdr);
    if (tl < 0) {
        if ((int)j->mode == STRICT)
            return deny(out, 401, "www-authenticate", "Bearer", "401 Unauthorized: %s\n",
                        "no JWT in the request");
        return PROXY_OK;
    }
    int rc = PROXY_JWT_ENOKEY;
    for (size_t i = 0; i < j->n_providers; i++) {
        const Agentgateway__Dev__Resource__TrafficPolicySpec__JWTProvider *pr = j->providers[i];
        proxy_jwt_rules_t r = {
            pr->issuer,
            (const char *const *)pr->audiences,
            pr->n_audiences,
            pr->jwt_validation_options
                ? (const char *const *)pr->jwt_validation_options->required_claims
                : NULL,
            pr->jwt_validation_options ? pr->jwt_validation_options->n_required_claims : 0,
            q->now_unix};
        int prc = p->jwks[i] ? proxy_jwt_verify(p->jwks[i], tok, (size_t)tl, &r, claims)
                             : PROXY_JWT_ENOKEY; /* no inline JWKS */
        if (prc == PROXY_JWT_OK) {
            rc = prc;
            break;
        }
        if (i == 0 || rc == PROXY_JWT_EISS || rc == PROXY_JWT_ENOKEY)
            rc = prc; /* report the most telling failure */
    }
    if (rc != PROXY_JWT_OK) {
        if ((int)j->mode == OPTIONAL || (int)j->mode == STRICT)
            return deny(out, 401, "www-authenticate", "Bearer error=\"invalid_token\"",
                        "401 Unauthorized: JWT rejected: %s\n", proxy_jwt_strerror(rc));
        return PROXY_OK; /* PERMISSIVE */
    }
    /* The validated token is consumed here; backend auth "passthrough" forwards it again. */
    strip(out, hdr);
    out->credential_len = (size_t)tl;
    return PROXY_OK;
}

static int do_apikey(const proxy_policy_req_t *q, const pol_t *p, proxy_policy_result_t *out,
                     char *accepted, size_t cap)
{
    const Agentgateway__Dev__Resource__TrafficPolicySpec__APIKey *a = p->pb->traffic->api_key_auth;
    enum {
        STRICT = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__APIKEY__MODE__STRICT,
        PERMISSIVE = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__APIKEY__MODE__PERMISSIVE,
    };
    char key[1024];
    const char *hdr;
    long kl =
        credential(q, a->authorization_location, "authorization", "bearer ", key, sizeof key, &hdr);
    if (kl < 0) {
        if ((int)a->mode == STRICT)
            return deny(out, 401, NULL, NULL, "401 Unauthorized: %s\n",
                        "no API key in the request");
        return PROXY_OK;
    }
    bool ok = false;
    for (size_t i = 0; i < a->n_api_keys; i++) /* constant time per key, every key compared */
        ok |= proxy_apikey_find((const char *const *)&a->api_keys[i]->key, 1, key, (size_t)kl) == 0;
    if (!ok && (int)a->mode != PERMISSIVE)
        return deny(out, 401, NULL, NULL, "401 Unauthorized: %s\n", "API key not accepted");
    if (ok) {
        strip(out, hdr); /* consumed, as agentgateway does */
        snprintf(accepted, cap, "%s", key);
    }
    return PROXY_OK;
}

static int do_basic(const proxy_policy_req_t *q, const pol_t *p, proxy_policy_result_t *out,
                    char *username, size_t cap)
{
    const Agentgateway__Dev__Resource__TrafficPolicySpec__BasicAuthentication *b =
        p->pb->traffic->basic_auth;
    char chal[300];
    snprintf(chal, sizeof chal, "Basic realm=\"%s\"", b->_realm_case ? b->realm : "Restricted");
    char cred[1024], basic[1040], user[512], pass[512];
    const char *hdr;
    long cl = credential(q, b->authorization_location, "authorization", "basic ", cred, sizeof cred,
                         &hdr);
    if (cl < 0) {
        if (b->mode ==
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__BASIC_AUTHENTICATION__MODE__STRICT)
            return deny(out, 401, "www-authenticate", chal, "401 Unauthorized: %s\n",
                        "basic credentials required");
        return PROXY_OK;
    }
    snprintf(basic, sizeof basic, "Basic %s", cred); /* the location gave the base64 part */
    if (!proxy_basic_decode(basic, user, sizeof user, pass, sizeof pass) ||
        !proxy_htpasswd_check(p->htpasswd, user, pass))
        return deny(out, 401, "www-authenticate", chal, "401 Unauthorized: %s\n",
                    "invalid username or password");
    strip(out, hdr); /* consumed, as agentgateway does */
    snprintf(username, cap, "%s", user);
    return PROXY_OK;
}

static int do_ratelimit(const proxy_policy_req_t *q, const pol_t *p, proxy_policy_result_t *out)
{
    for (size_t i = 0; i < p->nbuckets; i++) {
        if (proxy_ratelimit_available(p->buckets[i], q->now_ms) >= 1)
            continue;
        uint64_t wait = 0;
        proxy_ratelimit_take(p->buckets[i], 1, q->now_ms, &wait);
        char ra[32], lim[32];
        unsigned long long secs = (wait + 999) / 1000;
        snprintf(ra, sizeof ra, "%llu", secs ? secs : 1);
        snprintf(lim, sizeof lim, "%llu", (unsigned long long)proxy_ratelimit_max(p->buckets[i]));
        if (deny(out, 429, "retry-after", ra, "429 Too Many Requests: %s\n",
                 "rate limit exceeded") != PROXY_OK ||
            proxy_headers_add(&out->headers, "x-ratelimit-limit", lim, strlen(lim)) ||
            proxy_headers_add(&out->headers, "x-ratelimit-remaining", "0", 1) ||
            proxy_headers_add(&out->headers, "x-ratelimit-reset", ra, strlen(ra)))
            return PROXY_ENOMEM;
        return PROXY_OK;
    }
    for (size_t i = 0; i < p->nbuckets; i++) /* all have a token: take them together */
        proxy_ratelimit_take(p->buckets[i], 1, q->now_ms, NULL);
    return PROXY_OK;
}

/* The source of a connection from its peer text ("1.2.3.4:5", "[::1]:5"). */
static void peer_split(const char *peer, char *addr, size_t cap, int *port)
{
    *port = -1;
    addr[0] = '\0';
    if (!peer)
        return;
    const char *colon = strrchr(peer, ':');
    const char *a = peer, *e = colon;
    if (peer[0] == '[') {
        a = peer + 1;
        e = strchr(peer, ']');
        colon = e && e[1] == ':' ? e + 1 : NULL;
    }
    if (!e || (size_t)(e - a) >= cap)
        return;
    memcpy(addr, a, (size_t)(e - a));
    addr[e - a] = '\0';
    if (colon)
        *port = atoi(colon + 1);
}

/* agentgateway's rule sets, merged (each policy of |ps| is one set): any deny that holds denies;
 * every require must hold; when there are allow rules, one must hold. An expression that errors
 * counts as not holding for allow and require, and as holding for deny: agentgateway ignores a
 * failing deny rule (allow), krtgate fails closed. Returns: true when allowed; |why| says which
 * rule decided. */
static bool rules_allow(const pol_t *const *ps, size_t n, const proxy_cel_activation_t *a,
                        char *why, size_t cap)
{
    char err[160];
    bool any_allow = false;
    for (size_t i = 0; i < n; i++) /* deny */
        for (size_t k = 0; k < ps[i]->ndeny; k++) {
            proxy_cel_result_t r =
                proxy_cel_eval_bool(ps[i]->rules[ps[i]->nallow + k], a, err, sizeof err);
            if (r != PROXY_CEL_FALSE) {
                snprintf(
                    why, cap, "%.120s: deny[%zu] %s%.120s", ps[i]->who, k,
                    r == PROXY_CEL_TRUE ? "holds" : "failed: ", r == PROXY_CEL_TRUE ? "" : err);
                return false;
            }
        }
    for (size_t i = 0; i < n; i++) /* require */
        for (size_t k = 0; k < ps[i]->nrequire; k++) {
            proxy_cel_result_t r = proxy_cel_eval_bool(
                ps[i]->rules[ps[i]->nallow + ps[i]->ndeny + k], a, err, sizeof err);
            if (r != PROXY_CEL_TRUE) {
                snprintf(why, cap, "%.120s: require[%zu] %s%.120s", ps[i]->who, k,
                         r == PROXY_CEL_FALSE ? "does not hold" : "failed: ",
                         r == PROXY_CEL_FALSE ? "" : err);
                return false;
            }
        }
    for (size_t i = 0; i < n; i++) /* allow */
        for (size_t k = 0; k < ps[i]->nallow; k++) {
            any_allow = true;
            if (proxy_cel_eval_bool(ps[i]->rules[k], a, NULL, 0) == PROXY_CEL_TRUE)
                return true;
        }
    if (any_allow)
        snprintf(why, cap, "no allow rule holds");
    return !any_allow;
}

/* What the CEL rules of a request see. Borrows everything into |a| (|addr|: a buffer). */
static void request_activation(const proxy_policy_req_t *q, proxy_cel_activation_t *a, char *addr,
                               size_t cap)
{
    memset(a, 0, sizeof *a);
    a->has_request = true;
    a->method = q->method;
    a->path = q->path;
    a->query = q->query;
    a->host = q->host;
    a->scheme = q->rm && q->rm->listener &&
                        ir_listener_protocol(q->rm->listener) ==
                            AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTPS
                    ? "https"
                    : "http";
    a->headers = q->headers;
    a->nheaders = q->nheaders;
    peer_split(q->peer, addr, cap, &a->source_port);
    a->source_address = addr[0] ? addr : NULL;
}

static int rbac_deny(proxy_policy_result_t *out, const char *why)
{
    out->status = 403;
    snprintf(out->body, sizeof out->body, "RBAC: access denied\n");
    (void)why; /* which rule decided is not told to the client */
    return PROXY_OK;
}

/* A traffic policy of |kind| carried inside the routed Route (more specific than any Policy),
 * or NULL. */
static const agw_tps_t *route_inline(const proxy_policy_req_t *q, int kind)
{
    const agw_route_t *r = q->rm ? q->rm->pb : NULL;
    for (size_t i = 0; r && i < r->n_traffic_policies; i++)
        if (r->traffic_policies[i] && (int)r->traffic_policies[i]->kind_case == kind)
            return r->traffic_policies[i];
    return NULL;
}

/* ext_authz is not implemented: fail closed unless its failure mode says to allow. */
static int do_ext_authz(const Agentgateway__Dev__Resource__TrafficPolicySpec__ExternalAuth *x,
                        proxy_policy_result_t *out)
{
    enum {
        ALLOW =
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__ALLOW,
        WITH_STATUS =
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__DENY_WITH_STATUS,
    };
    if ((int)x->failure_mode == ALLOW)
        return PROXY_OK;
    int st = 403;
    if ((int)x->failure_mode == WITH_STATUS && x->_status_on_error_case &&
        x->status_on_error >= 200 && x->status_on_error <= 599)
        st = (int)x->status_on_error;
    out->status = st;
    snprintf(out->body, sizeof out->body,
             "%d: external authorization is not available in this proxy\n", st);
    return PROXY_OK;
}

#define FILL(dst, kind, field)                           \
    do {                                                 \
        if (!(dst) && st->t[TK(kind)])                   \
            (dst) = st->t[TK(kind)]->pb->traffic->field; \
    } while (0)

static void fill_traffic(const set_t *st, proxy_filters_t *f)
{
    FILL(f->request_headers, REQUEST_HEADER_MODIFIER, request_header_modifier);
    FILL(f->response_headers, RESPONSE_HEADER_MODIFIER, response_header_modifier);
    FILL(f->redirect, REQUEST_REDIRECT, request_redirect);
    FILL(f->rewrite, URL_REWRITE, url_rewrite);
    FILL(f->direct, DIRECT_RESPONSE, direct_response);
    FILL(f->timeout, TIMEOUT, timeout);
    FILL(f->retry, RETRY, retry);
    FILL(f->mirrors, REQUEST_MIRROR, request_mirror);
}

int proxy_policy_route(const proxy_policy_req_t *q, proxy_filters_t *f, proxy_policy_result_t *out)
{
    memset(&out->headers, 0, sizeof out->headers);
    memset(out->strip, 0, sizeof out->strip);
    out->status = 0;
    out->body[0] = '\0';
    out->backend_set = NULL;
    out->cors = NULL;
    out->dynamic = false;
    out->credential_len = 0;
    out->credential[0] = '\0';
    out->route = q->rm && q->rm->route ? route_index(q->snap, ir_route_key(q->rm->route)) : -1;
    if (out->route < 0 || !q->snap->pol)
        return PROXY_OK;
    const set_t *st = &q->snap->pol->route[out->route];
    fill_traffic(st, f);
    if (st->t[TK(CORS)])
        out->cors = st->t[TK(CORS)]->pb->traffic->cors;
    return PROXY_OK;
}

int proxy_policy_authorize(const proxy_policy_req_t *q, proxy_policy_result_t *out)
{
    if (out->route < 0 || !q->snap->pol)
        return PROXY_OK;
    const set_t *st = &q->snap->pol->route[out->route];
    /* authentication, external authorization, authorization (CEL), then the rate limit (a
     * rejected request spends no token), then ext_proc */
    /* every authorization policy of the route composes, up to the first OVERRIDE one (least
     * specific first): a gateway owner's OVERRIDE keeps route owners from adding rules */
    const pol_t *rbac[MAXAZ];
    size_t nrbac = 0;
    for (size_t i = 0; i < st->taz.n; i++) {
        rbac[nrbac++] = st->taz.p[i];
        if (st->taz.p[i]->override)
            break;
    }
    json_t *claims = NULL; /* the validated token's claims, for the CEL rules */
    char user[512] = "", key[1024] = "";
    int rc = PROXY_OK;
    if (st->t[TK(JWT)])
        rc = do_jwt(q, st->t[TK(JWT)], out, nrbac ? &claims : NULL);
    if (rc == PROXY_OK && !out->status && st->t[TK(API_KEY_AUTH)])
        rc = do_apikey(q, st->t[TK(API_KEY_AUTH)], out, key, sizeof key);
    if (rc == PROXY_OK && !out->status && st->t[TK(BASIC_AUTH)])
        rc = do_basic(q, st->t[TK(BASIC_AUTH)], out, user, sizeof user);
    const agw_tps_t *xa = route_inline(q, TK(EXT_AUTHZ)), *xp = route_inline(q, TK(EXT_PROC));
    if (!xa && st->t[TK(EXT_AUTHZ)])
        xa = st->t[TK(EXT_AUTHZ)]->pb->traffic;
    if (!xp && st->t[TK(EXT_PROC)])
        xp = st->t[TK(EXT_PROC)]->pb->traffic;
    if (rc == PROXY_OK && !out->status && xa && xa->ext_authz)
        rc = do_ext_authz(xa->ext_authz, out);
    if (rc == PROXY_OK && !out->status && st->taz.over)
        rc = rbac_deny(out, "more authorization policies than the proxy composes");
    if (rc == PROXY_OK && !out->status && nrbac) {
        proxy_cel_activation_t a;
        char addr[64], why[300];
        request_activation(q, &a, addr, sizeof addr);
        a.jwt = out->credential_len ? claims : NULL;
        a.basic_user = user[0] ? user : NULL;
        a.api_key = key[0] ? key : NULL;
        if (!rules_allow(rbac, nrbac, &a, why, sizeof why))
            rc = rbac_deny(out, why);
    }
    json_decref(claims);
    if (rc == PROXY_OK && !out->status && st->t[TK(LOCAL_RATE_LIMIT)])
        rc = do_ratelimit(q, st->t[TK(LOCAL_RATE_LIMIT)], out);
    if (rc == PROXY_OK && !out->status && xp && xp->ext_proc &&
        xp->ext_proc->failure_mode !=
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXT_PROC__FAILURE_MODE__FAIL_OPEN) {
        out->status = 500;
        snprintf(out->body, sizeof out->body,
                 "500 Internal Server Error: external processing is not available in this "
                 "proxy\n");
    }
    return rc;
}

bool proxy_policy_connection_allowed(const proxy_snapshot_t *s, const char *bind_key,
                                     const char *peer, char *why, size_t cap)
{
    const proxy__policies_t *t = s ? s->pol : NULL;
    size_t b = t && bind_key ? proxy__bind_index(s, bind_key) : (size_t)-1;
    if (why && cap)
        why[0] = '\0';
    if (b == (size_t)-1 || b >= t->nbinds || !t->nnet[b])
        return true;
    proxy_cel_activation_t a;
    char addr[64], w[300];
    memset(&a, 0, sizeof a);
    peer_split(peer, addr, sizeof addr, &a.source_port);
    a.source_address = addr[0] ? addr : NULL;
    bool ok = rules_allow(t->net[b], t->nnet[b], &a, w, sizeof w);
    if (!ok && why && cap)
        snprintf(why, cap, "%s", w);
    return ok;
}

int proxy_policy_on_request(const proxy_policy_req_t *q, proxy_filters_t *f,
                            proxy_policy_result_t *out)
{
    int rc = proxy_policy_route(q, f, out);
    return rc == PROXY_OK ? proxy_policy_authorize(q, out) : rc;
}

/* The endpoint of a dynamic forward proxy: the request's host[:port]. */
static int dynamic_endpoint(const proxy_policy_req_t *q, proxy_policy_result_t *out)
{
    const char *h = q->host ? q->host : "";
    size_t hl = proxy_host_strip_port(h);
    const char *port = h + hl;
    if (*port == '.')
        port++; /* a trailing dot before the port */
    unsigned long pn = 80;
    if (*port == ':') {
        char *end;
        pn = strtoul(port + 1, &end, 10);
        if (*end || pn == 0 || pn > 65535)
            hl = 0;
    }
    if (hl && h[0] == '[' && hl >= 2) { /* IPv6 literal: connect without the brackets */
        h++;
        hl -= 2;
    }
    if (!hl || hl >= sizeof out->endpoint.host) {
        out->status = 400;
        snprintf(out->body, sizeof out->body,
                 "400 Bad Request: a dynamic forward proxy needs a Host to connect to\n");
        return PROXY_OK;
    }
    memset(&out->endpoint, 0, sizeof out->endpoint);
    memcpy(out->endpoint.host, h, hl);
    out->endpoint.port = (uint16_t)pn;
    out->dynamic = true;
    return PROXY_OK;
}

int proxy_policy_on_backend(const proxy_policy_req_t *q, const agw_route_backend_t *rb,
                            proxy_filters_t *f, proxy_policy_result_t *out)
{
    if (out->route < 0 || !q->snap->pol)
        return PROXY_OK;
    const agw_route_t *route = q->snap->routes[out->route].pb;
    const set_t *st = &q->snap->pol->route[out->route];
    for (size_t i = 0; rb && i < route->n_backends; i++)
        if (route->backends[i] == rb)
            st = &q->snap->pol->backend[out->route][i];
    out->backend_set = st;
    fill_traffic(st, f);
#define BFILL(dst, kind, field)                          \
    do {                                                 \
        if (!(dst) && st->b[BK(kind)])                   \
            (dst) = st->b[BK(kind)]->pb->backend->field; \
    } while (0)
    BFILL(f->backend_request_headers, REQUEST_HEADER_MODIFIER, request_header_modifier);
    BFILL(f->backend_response_headers, RESPONSE_HEADER_MODIFIER, response_header_modifier);
    BFILL(f->backend_redirect, REQUEST_REDIRECT, request_redirect);
    BFILL(f->backend_mirrors, REQUEST_MIRROR, request_mirror);
#undef BFILL
    if (st->b[BK(EXT_AUTHZ)]) {
        do_ext_authz(st->b[BK(EXT_AUTHZ)]->pb->backend->ext_authz, out);
        if (out->status)
            return PROXY_OK;
    }
    if (st->baz.over)
        return rbac_deny(out, "more authorization policies than the proxy composes");
    if (st->baz.n) { /* all of them compose; the token's claims are not kept this far: no jwt */
        proxy_cel_activation_t a;
        char addr[64], why[300];
        request_activation(q, &a, addr, sizeof addr);
        if (!rules_allow(st->baz.p, st->baz.n, &a, why, sizeof why))
            return rbac_deny(out, why);
    }
    const char *kind = proxy_policy_backend_unserved(q->snap, rb);
    if (kind && !strcmp(kind, "dynamic"))
        return dynamic_endpoint(q, out);
    if (!kind && st->b[BK(A2A)])
        kind = "a2a";
    if (kind) {
        out->status = 501;
        snprintf(out->body, sizeof out->body,
                 "501 Not Implemented: backend kind \"%s\" is not served by this proxy\n", kind);
    }
    return PROXY_OK;
}

int proxy_policy_on_upstream(const proxy_policy_req_t *q, const proxy_policy_result_t *res,
                             const proxy_endpoint_t *ep, proxy_headers_t *h, const char **host,
                             net_tls_ctx_t **tls, const char **sni)
{
    (void)q;
    *tls = NULL;
    *sni = NULL;
    for (size_t i = 0; i < sizeof res->strip / sizeof res->strip[0] && res->strip[i]; i++)
        proxy_headers_remove(h, res->strip[i]);
    const set_t *st = res->backend_set;
    if (!st)
        return PROXY_OK;
    const pol_t *hr = st->t[TK(HOST_REWRITE)];
    if (hr && hr->pb->traffic->host_rewrite->mode ==
                  AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__HOST_REWRITE__MODE__AUTO)
        *host = ep->host;
    const pol_t *bt = st->b[BK(BACKEND_TLS)];
    if (bt) {
        *tls = bt->tls;
        const Agentgateway__Dev__Resource__BackendPolicySpec__BackendTLS *t =
            bt->pb->backend->backend_tls;
        if (t->_hostname_case && t->hostname[0])
            *sni = t->hostname;
    }
    const pol_t *ba = st->b[BK(AUTH)];
    if (!ba)
        return PROXY_OK;
    const Agentgateway__Dev__Resource__BackendAuthPolicy *a = ba->pb->backend->auth;
    const agw_authloc_t *loc = NULL;
    const char *secret = NULL;
    if (a->kind_case == AGENTGATEWAY__DEV__RESOURCE__BACKEND_AUTH_POLICY__KIND_PASSTHROUGH) {
        loc = a->passthrough->authorization_location;
        /* no validated JWT: the client's own field was never removed, it goes as it came */
        secret = res->credential_len ? res->credential : NULL;
    } else if (a->kind_case == AGENTGATEWAY__DEV__RESOURCE__BACKEND_AUTH_POLICY__KIND_KEY) {
        loc = a->key->authorization_location;
        secret = a->key->secret;
    }
    if (!secret)
        return PROXY_OK;
    const char *name = "authorization", *prefix = "Bearer ";
    if (loc && loc->kind_case == AGENTGATEWAY__DEV__RESOURCE__AUTHORIZATION_LOCATION__KIND_HEADER) {
        name = loc->header->name;
        prefix = loc->header->_prefix_case ? loc->header->prefix : "";
    }
    size_t n = strlen(prefix) + strlen(secret) + 1;
    char *v = malloc(n);
    if (!v)
        return PROXY_ENOMEM;
    snprintf(v, n, "%s%s", prefix, secret);
    int rc = proxy_headers_set(h, name, v);
    free(v);
    return rc;
}
