/*
 * The watch decoder: a WATCH response body, in arbitrary pieces, into {type, object} events.
 *
 * Key decision: frame by newline, then hand each complete line to jansson. The API server writes
 * exactly one event per line (its JSON never contains a raw newline: strings escape them), so a
 * newline framer is exact and lets a line that arrives whole inside one piece be decoded in place,
 * without a copy; only a line split across pieces is buffered, up to max_line. The alternative
 * rejected: an incremental brace-counting JSON framer, which tolerates servers that do not write
 * newlines but costs a second scanner to fuzz and keep in step with jansson's idea of JSON.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krt/json.h"
#include "kube/watch.h"

static const struct {
    const char *name;
    kube_watch_type_t type;
} types[] = {
    {"ADDED", KUBE_WATCH_ADDED},     {"MODIFIED", KUBE_WATCH_MODIFIED},
    {"DELETED", KUBE_WATCH_DELETED}, {"BOOKMARK", KUBE_WATCH_BOOKMARK},
    {"ERROR", KUBE_WATCH_ERROR},
};

const char *kube_watch_type_name(kube_watch_type_t t)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].type == t)
            return types[i].name;
    return "?";
}

void kube_watch_decoder_init(kube_watch_decoder_t *d, size_t max_line)
{
    memset(d, 0, sizeof *d);
    d->max_line = max_line ? max_line : KUBE_WATCH_MAX_LINE;
}

void kube_watch_decoder_dispose(kube_watch_decoder_t *d)
{
    free(d->buf);
    d->buf = NULL;
    d->len = d->cap = 0;
}

static int fail(kube_watch_decoder_t *d, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(kube_watch_decoder_t *d, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
    d->rc = rc;
    d->len = 0;
    return rc;
}

bool kube_status_is_expired(const json_t *status)
{
    if (!json_is_object(status))
        return false;
    json_t *code = json_object_get(status, "code");
    if (json_is_integer(code) && json_integer_value(code) == 410)
        return true;
    const char *reason = json_string_value(json_object_get(status, "reason"));
    return reason && (!strcmp(reason, "Expired") || !strcmp(reason, "Gone"));
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Decodes one line (no newline) that starts at stream offset |off|. */
static int decode_line(kube_watch_decoder_t *d, const char *s, size_t n, uint64_t off,
                       kube_watch_event_cb cb, void *ud)
{
    if (blank(s, n))
        return KUBE_OK;
    json_error_t jerr;
    krt_json_heap_begin(); /* the event's object becomes the engine's cached tree */
    json_t *root = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
    krt_json_heap_end();
    if (!root)
        return fail(d, KUBE_EOBJECT, "watch stream offset %llu: malformed JSON: %s",
                    (unsigned long long)(off + (uint64_t)(jerr.position > 0 ? jerr.position : 0)),
                    jerr.text);
    int rc = KUBE_OK;
    const char *tname = json_string_value(json_object_get(root, "type"));
    json_t *obj = json_object_get(root, "object");
    kube_watch_event_t ev = {0};
    ev.offset = off;
    if (!json_is_object(root) || !tname) {
        rc = fail(d, KUBE_EOBJECT, "watch stream offset %llu: event has no string \"type\"",
                  (unsigned long long)off);
        goto out;
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(types[i].name, tname))
            ev.type = types[i].type;
    if (!ev.type) {
        rc = fail(d, KUBE_EOBJECT, "watch stream offset %llu: unknown event type \"%.64s\"",
                  (unsigned long long)off, tname);
        goto out;
    }
    if (!json_is_object(obj)) {
        rc =
            fail(d, KUBE_EOBJECT, "watch stream offset %llu: %s event: \"object\" is not an object",
                 (unsigned long long)off, tname);
        goto out;
    }
    ev.object = obj;
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    ev.resource_version = rv && *rv ? rv : NULL;
    if (ev.type == KUBE_WATCH_ERROR) {
        json_t *code = json_object_get(obj, "code");
        if (json_is_integer(code) && json_integer_value(code) > 0 &&
            json_integer_value(code) < 1000)
            ev.code = (int)json_integer_value(code);
        ev.relist = kube_status_is_expired(obj);
    } else if (ev.type == KUBE_WATCH_BOOKMARK && !ev.resource_version) {
        rc = fail(d, KUBE_EOBJECT,
                  "watch stream offset %llu: BOOKMARK event without metadata.resourceVersion",
                  (unsigned long long)off);
        goto out;
    }
    d->events++;
    if (cb)
        rc = cb(&ev, ud);
out:
    json_decref(root);
    return rc;
}

static bool reserve(kube_watch_decoder_t *d, size_t need)
{
    if (need <= d->cap)
        return true;
    size_t cap = d->cap ? d->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > d->max_line)
        cap = d->max_line;
    char *p = realloc(d->buf, cap);
    if (!p)
        return false;
    d->buf = p;
    d->cap = cap;
    return true;
}

int kube_watch_decoder_feed(kube_watch_decoder_t *d, const void *buf, size_t len,
                            kube_watch_event_cb cb, void *ud)
{
    if (d->rc)
        return d->rc;
    const char *s = buf;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t seg = nl ? (size_t)(nl - (s + i)) : len - i;
        if (d->len + seg > d->max_line)
            return fail(d, KUBE_ELIMIT,
                        "watch stream offset %llu: event line longer than %zu bytes",
                        (unsigned long long)(d->offset - d->len), d->max_line);
        if (!nl) {
            if (!reserve(d, d->len + seg))
                return fail(d, KUBE_ENOMEM, "watch stream: out of memory");
            memcpy(d->buf + d->len, s + i, seg);
            d->len += seg;
            d->offset += seg;
            return KUBE_OK;
        }
        int rc;
        if (d->len == 0) {
            uint64_t off = d->offset;
            d->offset += seg + 1;
            rc = decode_line(d, s + i, seg, off, cb, ud);
        } else {
            if (!reserve(d, d->len + seg))
                return fail(d, KUBE_ENOMEM, "watch stream: out of memory");
            memcpy(d->buf + d->len, s + i, seg);
            size_t n = d->len + seg;
            uint64_t off = d->offset - d->len;
            d->len = 0;
            d->offset += seg + 1;
            rc = decode_line(d, d->buf, n, off, cb, ud);
        }
        i += seg + 1;
        if (rc)
            return rc;
    }
    return KUBE_OK;
}

int kube_watch_decoder_finish(kube_watch_decoder_t *d, kube_watch_event_cb cb, void *ud)
{
    if (d->rc)
        return d->rc;
    size_t n = d->len;
    d->len = 0;
    if (!n)
        return KUBE_OK;
    return decode_line(d, d->buf, n, d->offset - n, cb, ud);
}

int kube_watch_decoder_check(const kube_watch_decoder_t *d)
{
    if (d->len > d->max_line || d->len > d->cap)
        return KUBE_EINVAL;
    if (d->len && memchr(d->buf, '\n', d->len))
        return KUBE_EINVAL;
    if (d->rc != KUBE_OK && d->error[0] == '\0')
        return KUBE_EINVAL;
    return KUBE_OK;
}
