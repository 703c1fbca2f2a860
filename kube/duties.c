/*
 * The controller duties' counters as Prometheus text (see kube/duties.h). One table per writer,
 * so a counter added to a stats struct is one line here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/duties.h"

typedef struct fam {
    const char *name, *type, *help;
    double value;
} fam_t;

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf_t;

static void put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void families(buf_t *b, const fam_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", f[i].name, f[i].help, f[i].name, f[i].type,
            f[i].name, f[i].value);
}

char *kube_duties_metrics(const kube_status_writer_t *sw, const kube_applier_t *ap,
                          const kube_tokenreview_t *tr)
{
    buf_t b = {0};
    put(&b, "%s", "");
    if (sw) {
        kube_status_writer_stats_t s;
        kube_status_writer_stats(sw, &s);
        const fam_t f[] = {
            {"krtgate_status_patches_total", "counter", "status patches sent", (double)s.patches},
            {"krtgate_status_gets_total", "counter", "objects re-read after a conflict",
             (double)s.gets},
            {"krtgate_status_conflicts_total", "counter", "status patches answered 409",
             (double)s.conflicts},
            {"krtgate_status_errors_total", "counter", "status requests that failed",
             (double)s.errors},
            {"krtgate_status_unchanged_total", "counter", "stanzas the object already had",
             (double)s.unchanged},
            {"krtgate_status_queued", "gauge", "objects with a status write pending",
             (double)s.queued},
        };
        families(&b, f, sizeof f / sizeof f[0]);
    }
    if (ap) {
        kube_applier_stats_t s;
        kube_applier_stats(ap, &s);
        const fam_t f[] = {
            {"krtgate_deployer_creates_total", "counter", "proxy objects created", (double)s.creates},
            {"krtgate_deployer_patches_total", "counter", "proxy objects patched", (double)s.patches},
            {"krtgate_deployer_deletes_total", "counter", "proxy objects deleted", (double)s.deletes},
            {"krtgate_deployer_unchanged_total", "counter", "proxy objects already as desired",
             (double)s.unchanged},
            {"krtgate_deployer_errors_total", "counter", "deployer requests that failed",
             (double)s.errors},
            {"krtgate_deployer_queued", "gauge", "proxy objects with work pending",
             (double)s.queued},
        };
        families(&b, f, sizeof f / sizeof f[0]);
    }
    if (tr) {
        kube_tokenreview_stats_t s;
        kube_tokenreview_stats(tr, &s);
        const fam_t f[] = {
            {"krtgate_xds_auth_requests_total", "counter", "xDS streams checked",
             (double)s.requests},
            {"krtgate_xds_auth_allowed_total", "counter", "xDS streams allowed", (double)s.allowed},
            {"krtgate_xds_auth_unauthenticated_total", "counter",
             "xDS streams refused UNAUTHENTICATED", (double)s.unauthenticated},
            {"krtgate_xds_auth_denied_total", "counter", "xDS streams refused PERMISSION_DENIED",
             (double)s.denied},
            {"krtgate_xds_auth_unavailable_total", "counter",
             "xDS streams refused UNAVAILABLE (TokenReview failed)", (double)s.unavailable},
            {"krtgate_xds_auth_reviews_total", "counter", "TokenReviews sent", (double)s.reviews},
            {"krtgate_xds_auth_cache_hits_total", "counter", "decisions from the token cache",
             (double)s.cache_hits},
        };
        families(&b, f, sizeof f / sizeof f[0]);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
