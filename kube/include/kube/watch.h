/*
 * The watch decoder (sans-IO): the body of a Kubernetes WATCH response, in whatever pieces the
 * transport hands over (HTTP/1.1 chunks, HTTP/2 DATA frames, single bytes), into events.
 *
 * The API server writes one JSON object per line: {"type": T, "object": {...}}. Transport
 * boundaries never align with lines, so the decoder buffers up to a newline and decodes each
 * complete line with jansson. A line longer than the limit is an error (the stream must be dropped
 * and the watch restarted), so a peer cannot make the decoder grow without bound.
 *
 * Errors are sticky: after the first one every feed returns it again, because nothing after a
 * broken line can be trusted to be aligned. The message names the byte offset in the stream.
 *
 * LIMITS
 *   KUBE_WATCH_MAX_LINE  16 MiB per event line (kube_watch_decoder_init's max_line overrides)
 */
#ifndef KUBE_WATCH_H
#define KUBE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kube/kube.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KUBE_WATCH_MAX_LINE ((size_t)16 << 20)

typedef enum kube_watch_type {
    KUBE_WATCH_ADDED = 1,
    KUBE_WATCH_MODIFIED = 2,
    KUBE_WATCH_DELETED = 3,
    KUBE_WATCH_BOOKMARK = 4,
    KUBE_WATCH_ERROR = 5,
} kube_watch_type_t;

typedef struct kube_watch_event {
    kube_watch_type_t type;
    /* The event's object: the Kubernetes object, a bookmark stub (only metadata.resourceVersion)
     * or, for ERROR, a Status. Borrowed until the callback returns (json_incref to keep it). */
    json_t *object;
    /* metadata.resourceVersion of |object| when it is a non-empty string, else NULL. Borrowed like
     * object. */
    const char *resource_version;
    /* ERROR: the Status' code (0 when absent). Otherwise 0. */
    int code;
    /* ERROR: the Status says the watched resourceVersion is too old (code 410, or reason
     * "Expired" / "Gone"): the client must relist, not just re-watch. Otherwise false. */
    bool relist;
    /* Byte offset of the event's line in the stream. */
    uint64_t offset;
} kube_watch_event_t;

/* Called once per event, in stream order. Borrows ev. Returns: 0 to go on; any other value stops
 * the feed, which returns it (the remaining bytes of that feed are dropped). */
typedef int (*kube_watch_event_cb)(const kube_watch_event_t *ev, void *ud);

/* INVARIANTS
 *  W1 len <= max_line and len <= cap; the buffer holds no '\n' (a complete line is decoded at once)
 *  W2 rc == KUBE_OK or error[0] != '\0' (a failed decoder says why)  */
typedef struct kube_watch_decoder {
    char *buf; /* private: the pending partial line */
    size_t len, cap;
    size_t max_line;
    uint64_t offset; /* bytes consumed so far (the offset of buf[0] is offset - len) */
    uint64_t events; /* events delivered */
    int rc;          /* KUBE_OK, or the sticky error */
    char error[256]; /* the message of the sticky error */
} kube_watch_decoder_t;

/* Makes |d| empty; |max_line| 0 means KUBE_WATCH_MAX_LINE. */
void kube_watch_decoder_init(kube_watch_decoder_t *d, size_t max_line);
/* Releases the buffer of |d|. */
void kube_watch_decoder_dispose(kube_watch_decoder_t *d);

/* Consumes |len| bytes of the body, calling |cb| for every event completed by them. Borrows buf.
 * Keeps nothing after it returns except the partial last line.
 * Returns: KUBE_OK; the callback's non-zero value; KUBE_EOBJECT for a line that is not JSON or not
 * a watch event (message in d->error, with the offset); KUBE_ELIMIT for a line over max_line;
 * KUBE_ENOMEM. Errors other than the callback's are sticky. */
int kube_watch_decoder_feed(kube_watch_decoder_t *d, const void *buf, size_t len,
                            kube_watch_event_cb cb, void *ud);

/* The body ended: decodes a last line that had no newline (whitespace alone is fine).
 * Returns: as kube_watch_decoder_feed. */
int kube_watch_decoder_finish(kube_watch_decoder_t *d, kube_watch_event_cb cb, void *ud);

/* Debug check of W1-W2. Returns: KUBE_OK or KUBE_EINVAL. */
int kube_watch_decoder_check(const kube_watch_decoder_t *d);

/* Returns: true when |status| (a metav1.Status, as in an ERROR event or a failed response's body)
 * says the resourceVersion or continue token expired: code 410 or reason "Expired" / "Gone".
 * Borrows status (may be NULL). */
bool kube_status_is_expired(const json_t *status);

/* Returns: "ADDED", "MODIFIED", ... for |t|; "?" outside the enum. */
const char *kube_watch_type_name(kube_watch_type_t t);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_WATCH_H */
