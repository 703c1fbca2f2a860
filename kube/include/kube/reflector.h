/*
 * The reflector (sans-IO): LIST then WATCH of one kind, as client-go's reflector does it, with
 * no sockets and no clock. It tells the caller which request to make next, the caller makes it
 * (through net/) and feeds back what came of it; the reflector turns that into kube_change_t
 * arrays for kube_source_apply() that carry only real changes.
 *
 *   kube_reflector_next()           → LIST (limit, continue, resourceVersion), WATCH (from a
 *                                     resourceVersion, bookmarks on, random timeout) or WAIT (ms)
 *   kube_reflector_on_list_page()   a 200 list page (JSON)
 *   kube_reflector_on_watch_event() an event from kube/watch.h's decoder
 *   kube_reflector_on_watch_closed() the watch body ended without an error (server timeout)
 *   kube_reflector_on_error()       the request failed: HTTP status (0 for transport errors) and
 *                                   the Status body if any
 *   kube_reflector_on_waited()      the WAIT elapsed
 *   kube_reflector_changes() / kube_reflector_changes_clear()  what to apply to the source
 *
 * Behaviour (client-go reflector.go, with the differences written in docs/kube-client.md):
 *  - first LIST with resourceVersion "0" and limit=page_size, following metadata.continue (the
 *    continue pages carry no resourceVersion); each page puts the objects that are new or whose
 *    resourceVersion changed, and the last page deletes the objects announced before that the list
 *    lacks, then KUBE_CHANGE_SYNCED for the kind after the first complete list only. Only keys and
 *    resourceVersions are kept, not objects;
 *  - WATCH from the list's resourceVersion with allowWatchBookmarks; every event and bookmark moves
 *    the resourceVersion; a watch that ends normally is resumed from it at once; one that ended in
 *    under a second with no events, or failed, is resumed after a backoff;
 *  - 410 Gone / Expired (HTTP status or ERROR event), or a Status whose cause is
 *    ResourceVersionTooLarge (504: the server is behind our version) → relist from the last
 *    resourceVersion without paging; if that list fails the same way, relist from "" (a
 *    consistent read) with paging;
 *  - errors → WAIT with exponential backoff and jitter (800 ms doubling to 30 s, each wait d
 *    stretched to d × (1 + jitter × rand)), reset by a complete list or a watch event;
 *  - 404 on the LIST (the kind's CRD is missing) → one log line, deletes for anything cached, the
 *    kind is marked synced (its complete contents are "nothing"), and the LIST is retried every
 *    missing_retry_ms; when it reappears one line says so.
 */
#ifndef KUBE_REFLECTOR_H
#define KUBE_REFLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "krt/krt.h"
#include "kube/kube.h"
#include "kube/source.h"
#include "kube/watch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kube_request_kind {
    KUBE_REQUEST_LIST = 1,
    KUBE_REQUEST_WATCH = 2,
    KUBE_REQUEST_WAIT = 3,
} kube_request_kind_t;

typedef struct kube_request {
    kube_request_kind_t kind;
    /* LIST and WATCH: the resourceVersion query parameter, or NULL to send none ("" may be sent
     * as "resourceVersion=" or left out: the API server reads both as unset). Borrowed until
     * the next call on the reflector. */
    const char *resource_version;
    /* LIST: the continue token, or NULL. Borrowed like resource_version. */
    const char *continue_token;
    /* LIST: the limit parameter; 0 to send none. */
    unsigned limit;
    /* WATCH: send allowWatchBookmarks=true. */
    bool allow_watch_bookmarks;
    /* WATCH: the timeoutSeconds parameter (random in [min, 2 × min), as client-go). */
    unsigned timeout_seconds;
    /* WAIT: milliseconds to wait before kube_reflector_on_waited(). */
    uint64_t wait_ms;
} kube_request_t;

/* Returns a number in [0, 1). */
typedef double (*kube_rand_cb)(void *ud);

typedef struct kube_reflector_options {
    /* The kind ("HTTPRoute") and the apiVersion ("gateway.networking.k8s.io/v1") of the objects:
     * list items and events without apiVersion/kind get these (on a shallow copy). Keeps both
     * (must outlive the reflector). Required. */
    const char *kind;
    const char *api_version;
    /* Origin of the changes for log lines; NULL means "watch <kind>". Keeps it. */
    const char *origin;
    unsigned page_size;           /* 0 means 500 */
    uint64_t backoff_initial_ms;  /* 0 means 800 */
    uint64_t backoff_max_ms;      /* 0 means 30000 */
    double backoff_factor;        /* 0 means 2.0 */
    double backoff_jitter;        /* < 0 means none; 0 means 1.0 */
    uint64_t missing_retry_ms;    /* LIST retry period while the kind is missing; 0 means 30000 */
    unsigned watch_timeout_min_s; /* 0 means 300 */
    /* Randomness for jitter and watch timeouts; NULL means a fixed-seed generator (so runs
     * repeat). Keeps rand_ud. */
    kube_rand_cb rand;
    void *rand_ud;
    /* Log lines; NULL means KRT_LOG_INFO and above to stderr. Keeps log_ud. */
    krt_log_cb log;
    void *log_ud;
} kube_reflector_options_t;

typedef struct kube_reflector kube_reflector_t;

/* Counters for /metrics and tests. */
typedef struct kube_reflector_stats {
    uint64_t lists;   /* complete lists */
    uint64_t relists; /* complete lists after the first */
    uint64_t watches; /* watches started */
    uint64_t events;  /* watch events applied (bookmarks included) */
    uint64_t errors;  /* failed requests and broken streams */
    uint64_t missing; /* LISTs answered 404 */
    size_t objects;   /* objects cached now */
    bool synced;
    const char *resource_version; /* the last one seen, or NULL; borrowed until the next call */
} kube_reflector_stats_t;

/* Creates a reflector that starts with a LIST. Borrows opts (keeps the strings and user data it
 * names, see above). Returns: owned by caller (kube_reflector_free), or NULL on OOM or a NULL
 * kind / api_version. */
kube_reflector_t *kube_reflector_new(const kube_reflector_options_t *opts);
/* Frees |r| and the changes it still holds. NULL is a no-op. */
void kube_reflector_free(kube_reflector_t *r);

/* Writes the request to make now into |out|. Calling it again without feeding anything gives the
 * same request. Borrows out. Returns: KUBE_OK or KUBE_EINVAL. */
int kube_reflector_next(kube_reflector_t *r, kube_request_t *out);

/* A LIST answered 200 with |list|. Borrows list (its items are referenced, never modified).
 * Returns: KUBE_OK; KUBE_ESTATE when no LIST was due; KUBE_EOBJECT when |list| is not a list
 * (logged; counts as a failed list: the next request is a WAIT); KUBE_ENOMEM. */
int kube_reflector_on_list_page(kube_reflector_t *r, const json_t *list);

/* One event of the WATCH. Borrows ev. Returns: KUBE_OK; KUBE_ESTATE when no WATCH is running
 * (the event is ignored); KUBE_ENOMEM. An ERROR event ends the watch (the next request says what
 * follows); so does an object without a name (logged, KUBE_EOBJECT). */
int kube_reflector_on_watch_event(kube_reflector_t *r, const kube_watch_event_t *ev);

/* The WATCH body ended cleanly after |lasted_ms| (the caller's clock). Returns: KUBE_OK or
 * KUBE_ESTATE. */
int kube_reflector_on_watch_closed(kube_reflector_t *r, uint64_t lasted_ms);

/* The current LIST or WATCH failed: |http_status| is the response status (0 for a transport
 * error, a broken stream or a decoder error) and |status| the metav1.Status body or NULL.
 * Borrows status. Returns: KUBE_OK or KUBE_ESTATE (nothing in flight). */
int kube_reflector_on_error(kube_reflector_t *r, int http_status, const json_t *status);

/* The WAIT elapsed. Returns: KUBE_OK or KUBE_ESTATE. */
int kube_reflector_on_waited(kube_reflector_t *r);

/* The changes produced since the last kube_reflector_changes_clear(), in order, for
 * kube_source_apply(). Their objects are the list pages' items and the watch events' objects,
 * marked editable (kube_change_t.edit): the caller must not read a page or an event's object
 * after applying its changes. Returns: borrowed until kube_reflector_changes_clear() or free; *n
 * is set. */
const kube_change_t *kube_reflector_changes(const kube_reflector_t *r, size_t *n);
/* Forgets the changes (drops the reflector's references to their objects). */
void kube_reflector_changes_clear(kube_reflector_t *r);

/* Fills |out|. Borrows both. */
void kube_reflector_stats(const kube_reflector_t *r, kube_reflector_stats_t *out);

/* Debug check of the invariants (reflector.c). Returns: KUBE_OK or KUBE_EINVAL. */
int kube_reflector_check(const kube_reflector_t *r);

/* Writes the path and query of a LIST or WATCH request into |buf| (|cap| bytes, NUL-terminated):
 * "/api/v1/namespaces/NS/services?..." for the core group ("v1"), "/apis/GROUP/VERSION/..."
 * otherwise; all namespaces when |ns| is NULL. Query parameters are percent-encoded: LIST
 * limit, continue, resourceVersion; WATCH watch=1, allowWatchBookmarks, resourceVersion,
 * timeoutSeconds. |base_path| (kube_client_config_t.base_path; may be NULL) is prepended.
 * Borrows everything.
 * Returns: the length written; KUBE_EINVAL for a WAIT request, a NULL or empty api_version or
 * resource, or a '/' in resource or ns; KUBE_ELIMIT when |cap| is too small. */
int kube_request_path(const kube_request_t *q, const char *base_path, const char *api_version,
                      const char *resource, const char *ns, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_REFLECTOR_H */
