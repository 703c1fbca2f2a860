/*
 * Stream authentication: the pending-decision handle shared by the server and an asynchronous
 * authenticator, the bearer-token parser, and the static token file used in local mode.
 *
 * Key decision: the pending handle is refcounted between the two sides (the server's stream and the
 * authenticator), so either may finish first: a stream cancelled while a TokenReview is in flight
 * leaves a handle whose completion only frees it. The alternative, a callback to unregister, would
 * make every authenticator track stream lifetimes.
 *
 * Token comparison takes time independent of where the tokens differ.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xds/auth.h"
#include "xds_internal.h"

struct xds_auth_pending {
    int refs; /* server + authenticator */
    void (*done)(void *ctx, int status, const char *reason);
    void *ctx; /* NULL once cancelled */
};

xds_auth_pending_t *xds__auth_pending_new(void (*done)(void *ctx, int status, const char *reason),
                                          void *ctx)
{
    xds_auth_pending_t *p = krt_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->refs = 2;
    p->done = done;
    p->ctx = ctx;
    return p;
}

static void pending_unref(xds_auth_pending_t *p)
{
    if (--p->refs == 0)
        krt_free(p);
}

void xds__auth_pending_cancel(xds_auth_pending_t *p)
{
    if (!p)
        return;
    p->ctx = NULL;
    pending_unref(p);
}

void xds__auth_pending_drop(xds_auth_pending_t *p)
{
    if (!p)
        return;
    /* the authenticator answered at once and will not complete: both references go */
    p->ctx = NULL;
    pending_unref(p);
    pending_unref(p);
}

void xds_auth_complete(xds_auth_pending_t *p, int status, const char *reason)
{
    if (!p)
        return;
    void *ctx = p->ctx;
    p->ctx = NULL;
    if (ctx)
        p->done(ctx, status, reason ? reason : "");
    pending_unref(p);
}

const char *xds_auth_bearer(const char *header, size_t *len)
{
    if (!header)
        return NULL;
    const char *p = header;
    while (*p == ' ' || *p == '\t')
        p++;
    static const char scheme[] = "bearer";
    for (size_t i = 0; i < sizeof scheme - 1; i++)
        if (tolower((unsigned char)p[i]) != scheme[i])
            return NULL;
    p += sizeof scheme - 1;
    if (*p != ' ' && *p != '\t')
        return NULL;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (!n)
        return NULL;
    if (len)
        *len = n;
    return p;
}

/* ---- static token file ---- */

typedef struct grant {
    char *token;
    char *role; /* "*" for any */
} grant_t;

typedef struct static_auth {
    grant_t *g;
    size_t n;
} static_auth_t;

static void static_free(void *ud)
{
    static_auth_t *a = ud;
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        krt_free(a->g[i].token);
        krt_free(a->g[i].role);
    }
    krt_free(a->g);
    krt_free(a);
}

static bool same_token(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned char diff = (unsigned char)(alen != blen);
    size_t n = alen > blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= x ^ y;
    }
    return diff == 0;
}

static int static_check(const xds_auth_request_t *req, xds_auth_pending_t *pending, char *reason,
                        size_t cap, void *ud)
{
    (void)pending;
    static_auth_t *a = ud;
    if (!req->token) {
        snprintf(reason, cap, "no bearer token in the authorization header");
        return 16; /* UNAUTHENTICATED */
    }
    size_t tlen = strlen(req->token);
    bool known = false;
    for (size_t i = 0; i < a->n; i++) {
        if (!same_token(req->token, tlen, a->g[i].token))
            continue;
        known = true;
        if (strcmp(a->g[i].role, "*") == 0 || (req->role && strcmp(a->g[i].role, req->role) == 0))
            return 0;
    }
    if (!known) {
        snprintf(reason, cap, "unknown token");
        return 16;
    }
    snprintf(reason, cap, "token is not granted role \"%s\"", req->role ? req->role : "");
    return 7; /* PERMISSION_DENIED */
}

int xds_auth_static_parse(const char *text, const char *origin, xds_auth_t *out, xds_err_t *err)
{
    if (!text || !out)
        return xds__err(err, XDS_EINVAL, "xds_auth_static_parse: NULL argument");
    memset(out, 0, sizeof *out);
    static_auth_t *a = krt_calloc(1, sizeof *a);
    if (!a)
        return xds__err(err, XDS_ENOMEM, "out of memory");
    const char *p = text;
    int line = 0;
    while (*p) {
        line++;
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char buf[1024];
        if (len >= sizeof buf) {
            static_free(a);
            return xds__err(err, XDS_EINVAL, "%s:%d: line longer than %zu bytes", origin, line,
                            sizeof buf - 1);
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        p = end ? end + 1 : p + len;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *tok = strtok_r(buf, " \t\r", &save);
        if (!tok)
            continue;
        char *role = strtok_r(NULL, " \t\r", &save);
        char *extra = role ? strtok_r(NULL, " \t\r", &save) : NULL;
        char gw[256];
        if (!role || extra ||
            (strcmp(role, "*") != 0 && xds_role_to_gateway(role, gw, sizeof gw) != XDS_OK)) {
            static_free(a);
            return xds__err(err, XDS_EINVAL,
                            "%s:%d: expected \"<token> <namespace>~<gateway>\" or \"<token> *\"",
                            origin, line);
        }
        grant_t *g = krt_realloc(a->g, (a->n + 1) * sizeof *g);
        if (!g) {
            static_free(a);
            return xds__err(err, XDS_ENOMEM, "out of memory");
        }
        a->g = g;
        g[a->n].token = krt_strdup(tok);
        g[a->n].role = krt_strdup(role);
        a->n++;
        if (!g[a->n - 1].token || !g[a->n - 1].role) {
            static_free(a);
            return xds__err(err, XDS_ENOMEM, "out of memory");
        }
    }
    out->cb = static_check;
    out->ud = a;
    out->dispose = static_free;
    return XDS_OK;
}

int xds_auth_static_load(const char *path, xds_auth_t *out, xds_err_t *err)
{
    if (!path || !out)
        return xds__err(err, XDS_EINVAL, "xds_auth_static_load: NULL argument");
    FILE *f = fopen(path, "r");
    if (!f)
        return xds__err(err, XDS_EIO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    size_t n;
    while (text && (n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            if (cap >= (1u << 24)) {
                free(text);
                fclose(f);
                return xds__err(err, XDS_EINVAL, "%s: larger than 16 MiB", path);
            }
            char *t = realloc(text, cap * 2);
            if (!t) {
                free(text);
                text = NULL;
                break;
            }
            text = t;
            cap *= 2;
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (!text)
        return xds__err(err, XDS_ENOMEM, "out of memory");
    if (failed) {
        free(text);
        return xds__err(err, XDS_EIO, "%s: read error", path);
    }
    text[len] = '\0';
    int rc = xds_auth_static_parse(text, path, out, err);
    free(text);
    return rc;
}

void xds_auth_dispose(xds_auth_t *a)
{
    if (!a)
        return;
    if (a->dispose)
        a->dispose(a->ud);
    memset(a, 0, sizeof *a);
}
