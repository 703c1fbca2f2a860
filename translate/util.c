/*
 * translate/ helpers: the record type, JSON getters, Gateway API matching rules (hostname
 * intersection, label selectors, durations), certificate shape checks, conditions and protobuf
 * building. Pure functions only: no fetches, no I/O.
 *
 * Certificates are checked for shape (PEM blocks whose base64 body is DER), not parsed with
 * OpenSSL: translate must not need a TLS library, and a key pair that is well formed but does not
 * match is rejected by the proxy at load time anyway. The check is enough for what the Gateway API
 * asks of the control plane (a Secret holding "Hello world" is InvalidCertificateRef).
 */
#include "internal.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------------------------
 * Records.
 * ------------------------------------------------------------------------------------------- */
/* The value is a lazy JSON value (krt/json.h): canonical bytes always, the tree while it is in the
 * budgeted cache. Records are read by downstream transformations and status writers; a controller
 * holds one per route and Gateway, and jansson trees cost eight times their text. The key lives
 * in the record's own allocation (one allocation less per record: 10,000 at agw-5k). */
typedef struct tr_rec {
    krt_obj_t base;
    krt_json_lazy_t lz;
    char key[];
} tr_rec_t;

static const char *rec_key(const krt_obj_t *o)
{
    return ((const tr_rec_t *)o)->key;
}

static uint64_t rec_hash(const krt_obj_t *o)
{
    const tr_rec_t *r = (const tr_rec_t *)o;
    return krt_hash_combine(krt_hash_str(r->key, 0), krt_hash_bytes(r->lz.canonical, r->lz.len, 1));
}

static bool rec_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const tr_rec_t *x = (const tr_rec_t *)a, *y = (const tr_rec_t *)b;
    return strcmp(x->key, y->key) == 0 && krt_json_lazy_equal(&x->lz, &y->lz);
}

static void rec_free(krt_obj_t *o)
{
    tr_rec_t *r = (tr_rec_t *)o;
    krt_json_lazy_dispose(&r->lz);
    krt_free(r);
}

static json_t *rec_dump(const krt_obj_t *o)
{
    tr_rec_t *r = (tr_rec_t *)o;
    json_t *v = krt_json_lazy_get(&r->lz);
    return v ? json_pack("{s:s, s:O}", "key", r->key, "value", v) : NULL;
}

static size_t rec_size(const krt_obj_t *o)
{
    const tr_rec_t *r = (const tr_rec_t *)o;
    return sizeof *r + strlen(r->key) + 1 + krt_json_lazy_size(&r->lz);
}

const krt_type_t tr__rec_type = {
    .name = "tr.record",
    .key = rec_key,
    .hash = rec_hash,
    .equals = rec_equals,
    .free = rec_free,
    .dump = rec_dump,
    .size = rec_size,
};

const krt_obj_t *tr__rec_new(const char *key, json_t *v)
{
    if (!v || !key)
        goto fail;
    size_t klen = strlen(key);
    tr_rec_t *r = krt_malloc(sizeof *r + klen + 1);
    if (!r)
        goto fail;
    memset(r, 0, sizeof *r);
    memcpy(r->key, key, klen + 1);
    if (krt_json_lazy_init(&r->lz, v) != KRT_OK) { /* takes v */
        krt_free(r);
        return NULL;
    }
    krt_obj_seal(&r->base, &tr__rec_type);
    return &r->base;
fail:
    json_decref(v);
    return NULL;
}

json_t *tr__rec_json(const krt_obj_t *o)
{
    if (!o || o->type != &tr__rec_type)
        return NULL;
    return krt_json_lazy_get(&((tr_rec_t *)o)->lz);
}

bool tr__same_always(const krt_obj_t *old, const krt_obj_t *cur, void *ud)
{
    (void)old;
    (void)cur;
    (void)ud;
    return true;
}

bool tr__same_rec_bind(const krt_obj_t *old, const krt_obj_t *cur, void *ud)
{
    (void)ud;
    return json_equal(json_object_get(tr__rec_json(old), "bind"),
                      json_object_get(tr__rec_json(cur), "bind"));
}

bool tr__same_rec_bind_but_port(const krt_obj_t *old, const krt_obj_t *cur, void *ud)
{
    (void)ud;
    json_t *a = json_object_get(tr__rec_json(old), "bind");
    json_t *b = json_object_get(tr__rec_json(cur), "bind");
    if (!json_is_object(a) || !json_is_object(b))
        return json_equal(a, b);
    size_t na = json_object_size(a) - (json_object_get(a, "port") != NULL);
    size_t nb = json_object_size(b) - (json_object_get(b, "port") != NULL);
    if (na != nb)
        return false;
    const char *k;
    json_t *va;
    json_object_foreach(a, k, va)
    {
        if (strcmp(k, "port") == 0)
            continue;
        json_t *vb = json_object_get(b, k);
        if (!vb || !json_equal(va, vb))
            return false;
    }
    return true;
}

bool tr__same_binding_input(const krt_obj_t *old, const krt_obj_t *cur, void *ud)
{
    (void)ud;
    json_t *a = krt_json_value(old), *b = krt_json_value(cur);
    if (!a || !b)
        return false;
    static const char *const paths[] = {"spec.parentRefs", "spec.hostnames"};
    for (size_t i = 0; i < 2; i++) {
        json_t *x = tr__jpath(a, paths[i]), *y = tr__jpath(b, paths[i]);
        if ((x || y) && !json_equal(x, y))
            return false;
    }
    return true;
}

bool tr__same_labels(const krt_obj_t *old, const krt_obj_t *cur, void *ud)
{
    (void)ud;
    json_t *a = tr__jpath(krt_json_value(old), "metadata.labels");
    json_t *b = tr__jpath(krt_json_value(cur), "metadata.labels");
    if (!a || !b)
        return a == b || (json_object_size(a) == 0 && json_object_size(b) == 0);
    return json_equal(a, b);
}

/* ---------------------------------------------------------------------------------------------
 * JSON getters.
 * ------------------------------------------------------------------------------------------- */
json_t *tr__jpath(json_t *v, const char *path)
{
    const char *p = path;
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(v))
            return NULL;
        if (len >= 128) /* no member name of ours is this long */
            return NULL;
        v = json_object_getn(v, p, len); /* no copy: the segment is not NUL-terminated */
        p += len;
        if (*p == '.')
            p++;
    }
    return v;
}

const char *tr__jstr(json_t *v, const char *path)
{
    json_t *s = tr__jpath(v, path);
    return json_is_string(s) ? json_string_value(s) : NULL;
}

const char *tr__jstr_or(json_t *v, const char *path, const char *def)
{
    const char *s = tr__jstr(v, path);
    return s && *s ? s : def;
}

json_int_t tr__jint(json_t *v, const char *path, json_int_t def)
{
    json_t *n = tr__jpath(v, path);
    if (json_is_integer(n))
        return json_integer_value(n);
    if (json_is_real(n)) {
        double d = json_real_value(n);
        if (d >= -9.0e15 && d <= 9.0e15 && d == (double)(json_int_t)d)
            return (json_int_t)d;
    }
    return def;
}

json_t *tr__jarr(json_t *v, const char *path)
{
    json_t *a = tr__jpath(v, path);
    return json_is_array(a) ? a : NULL;
}

bool tr__jbool(json_t *v, const char *path, bool def)
{
    json_t *b = tr__jpath(v, path);
    return json_is_boolean(b) ? json_is_true(b) : def;
}

json_t *tr__jstring(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("");
}

json_int_t tr__generation(const krt_obj_t *o)
{
    return tr__jint(krt_json_value(o), "metadata.generation", 0);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool tr__rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
            return false;
        off = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - off;
    return true;
}

int64_t tr__created_unix(const krt_obj_t *o)
{
    int64_t t = 0;
    if (!tr__rfc3339(tr__jstr(krt_json_value(o), "metadata.creationTimestamp"), &t) || t < 0)
        return 0;
    return t;
}

char *tr__fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = krt_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Matching rules.
 * ------------------------------------------------------------------------------------------- */
static bool is_any(const char *h)
{
    return !h || !*h || strcmp(h, "*") == 0;
}

/* |name| ends with "." + |suffix| and has at least one label before it. */
static bool ends_with_label(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s + 1 && name[n - s - 1] == '.' && strcasecmp(name + n - s, suffix) == 0;
}

bool tr__hostnames_intersect(const char *a, const char *b)
{
    if (is_any(a) || is_any(b))
        return true;
    bool wa = a[0] == '*' && a[1] == '.', wb = b[0] == '*' && b[1] == '.';
    if (!wa && !wb)
        return strcasecmp(a, b) == 0;
    if (wa && !wb)
        return ends_with_label(b, a + 2);
    if (!wa && wb)
        return ends_with_label(a, b + 2);
    return strcasecmp(a + 2, b + 2) == 0 || ends_with_label(a + 2, b + 2) ||
           ends_with_label(b + 2, a + 2);
}

static const char *label_of(json_t *labels, const char *key, const char *ik, const char *iv)
{
    if (ik && iv && strcmp(key, ik) == 0)
        return iv;
    json_t *v = json_object_get(labels, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool tr__selector_matches(json_t *selector, json_t *labels, const char *ik, const char *iv)
{
    if (!json_is_object(selector))
        return true;
    const char *k;
    json_t *v;
    json_t *ml = json_object_get(selector, "matchLabels");
    if (json_is_object(ml)) {
        json_object_foreach(ml, k, v)
        {
            const char *have = label_of(labels, k, ik, iv);
            if (!json_is_string(v) || !have || strcmp(have, json_string_value(v)) != 0)
                return false;
        }
    }
    json_t *me = json_object_get(selector, "matchExpressions");
    size_t i;
    json_t *e;
    json_array_foreach(me, i, e)
    {
        const char *key = tr__jstr(e, "key"), *op = tr__jstr(e, "operator");
        if (!key || !op)
            return false;
        const char *have = label_of(labels, key, ik, iv);
        json_t *values = json_object_get(e, "values");
        bool in = false;
        size_t j;
        json_t *val;
        json_array_foreach(values, j, val)
        {
            if (have && json_is_string(val) && strcmp(have, json_string_value(val)) == 0)
                in = true;
        }
        if (strcmp(op, "In") == 0) {
            if (!in)
                return false;
        } else if (strcmp(op, "NotIn") == 0) {
            if (in)
                return false;
        } else if (strcmp(op, "Exists") == 0) {
            if (!have)
                return false;
        } else if (strcmp(op, "DoesNotExist") == 0) {
            if (have)
                return false;
        } else {
            return false;
        }
    }
    return true;
}

bool tr__duration_parse(const char *s, int64_t *seconds, int32_t *nanos)
{
    if (!s || !*s)
        return false;
    int64_t ms = 0;
    const char *p = s;
    int parts = 0;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return false;
        int64_t n = 0;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p++ - '0');
            if (++nd > 5)
                return false;
        }
        if (p[0] == 'm' && p[1] == 's') {
            ms += n;
            p += 2;
        } else if (*p == 'h') {
            ms += n * 3600000;
            p++;
        } else if (*p == 'm') {
            ms += n * 60000;
            p++;
        } else if (*p == 's') {
            ms += n * 1000;
            p++;
        } else {
            return false;
        }
        if (++parts > 4)
            return false;
    }
    *seconds = ms / 1000;
    *nanos = (int32_t)(ms % 1000) * 1000000;
    return true;
}

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Sets *oom when the decode failed for lack of memory, not because the text is not base64: the
 * caller must then fail its transformation (and be retried) rather than report bad input. */
static uint8_t *b64_decode_n(const char *s, size_t n, size_t *len, bool *oom)
{
    uint8_t *out = krt_malloc(n / 4 * 3 + 4);
    if (!out) {
        *oom = true;
        return NULL;
    }
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    bool pad = false;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad = true;
            continue;
        }
        int v = b64_val(c);
        if (v < 0 || pad) {
            krt_free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 6) { /* a lone sextet cannot end valid base64 */
        krt_free(out);
        return NULL;
    }
    out[o] = 0;
    *len = o;
    return out;
}

uint8_t *tr__b64_decode(const char *s, size_t *len, bool *oom)
{
    if (!s)
        return NULL;
    return b64_decode_n(s, strlen(s), len, oom);
}

/* Validates base64 text without decoding it into memory: the decoded length and first byte are
 * all tr__pem_valid needs (so a PEM check can never fail for lack of memory). */
static bool b64_scan(const char *s, size_t n, size_t *len, int *first)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    bool pad = false;
    *first = -1;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad = true;
            continue;
        }
        int v = b64_val(c);
        if (v < 0 || pad)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o++ == 0)
                *first = (int)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6)
        return false;
    *len = o;
    return true;
}

bool tr__pem_valid(const uint8_t *p, size_t n, bool key)
{
    const char *s = (const char *)p, *end = s + n;
    static const char begin[] = "-----BEGIN ";
    for (const char *q = s; q < end;) {
        const char *b = NULL;
        for (const char *t = q; t + sizeof begin - 1 <= end; t++) {
            if (memcmp(t, begin, sizeof begin - 1) == 0) {
                b = t;
                break;
            }
        }
        if (!b)
            return false;
        const char *label = b + sizeof begin - 1;
        const char *le = label;
        while (le + 5 <= end && memcmp(le, "-----", 5) != 0 && *le != '\n')
            le++;
        if (le + 5 > end || memcmp(le, "-----", 5) != 0)
            return false;
        size_t llen = (size_t)(le - label);
        const char *body = le + 5;
        /* the matching END line */
        const char *e = NULL;
        for (const char *t = body; t + 9 <= end; t++) {
            if (memcmp(t, "-----END ", 9) == 0) {
                e = t;
                break;
            }
        }
        if (!e || e + 9 + llen + 5 > end || memcmp(e + 9, label, llen) != 0 ||
            memcmp(e + 9 + llen, "-----", 5) != 0)
            return false; /* no complete, matching END line */
        bool wanted = key ? (llen >= 11 && memcmp(le - 11, "PRIVATE KEY", 11) == 0)
                          : (llen == 11 && memcmp(label, "CERTIFICATE", 11) == 0);
        if (wanted) {
            size_t dlen = 0;
            int first = -1;
            if (b64_scan(body, (size_t)(e - body), &dlen, &first) && dlen >= 2 && first == 0x30)
                return true;
        }
        q = e + 9;
    }
    return false;
}

size_t tr__ip_bytes(const char *s, uint8_t out[16])
{
    if (!s)
        return 0;
    if (inet_pton(AF_INET, s, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, s, out) == 1)
        return 16;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Conditions.
 * ------------------------------------------------------------------------------------------- */
json_t *tr__cond(const char *type, bool status, const char *reason, const char *message)
{
    json_t *c = json_object();
    if (!c)
        return NULL;
    if (json_object_set_new(c, "type", tr__jstring(type)) ||
        json_object_set_new(c, "status", json_string(status ? "True" : "False")) ||
        json_object_set_new(c, "reason", tr__jstring(reason)) ||
        json_object_set_new(c, "message", tr__jstring(message ? message : ""))) {
        json_decref(c);
        return NULL;
    }
    return c;
}

bool tr__cond_add(json_t *arr, json_t *c)
{
    return c && json_array_append_new(arr, c) == 0;
}

static int cond_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *tx = tr__jstr_or(x, "type", ""), *ty = tr__jstr_or(y, "type", "");
    return strcmp(tx, ty);
}

json_t *tr__conds_final(json_t *conds, json_int_t gen)
{
    size_t n = json_array_size(conds);
    json_t *out = json_array();
    if (!out)
        return NULL;
    json_t **items = n ? krt_malloc(n * sizeof *items) : NULL;
    if (n && !items) {
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(conds, i);
    qsort(items, n, sizeof *items, cond_cmp);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_deep_copy(items[i]);
        if (!c || json_object_set_new(c, "observedGeneration", json_integer(gen)) ||
            json_array_append_new(out, c)) {
            krt_free(items);
            json_decref(out);
            return NULL;
        }
    }
    krt_free(items);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Protobuf building.
 * ------------------------------------------------------------------------------------------- */
void *tr__pb_new(tr__pb_t *b, const ProtobufCMessageDescriptor *d)
{
    void *m = ir_pb_alloc(d->sizeof_message);
    if (!m) {
        b->oom = true;
        return NULL;
    }
    protobuf_c_message_init(d, m);
    return m;
}

/* protobuf-c numbers a oneof's case enum by the member's field number, and the member's field
 * descriptor says where the case and the value are stored: so one function wraps a message in
 * any oneof, instead of one hand-written wrapper per spec type. */
void *tr__pb_oneof(tr__pb_t *b, const ProtobufCMessageDescriptor *d, uint32_t kc, void *val)
{
    if (!val)
        return NULL;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, kc);
    bool member =
        f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->type == PROTOBUF_C_TYPE_MESSAGE;
    assert(member && "tr__pb_oneof: kc names no message member of a oneof of d");
    void *m = member ? tr__pb_new(b, d) : NULL;
    if (!m) {
        ir_pb_free(val);
        return NULL;
    }
    *(uint32_t *)((char *)m + f->quantifier_offset) = kc;
    *(void **)((char *)m + f->offset) = val;
    return m;
}

char *tr__pb_str(tr__pb_t *b, const char *s)
{
    char *c = ir_pb_strdup(s ? s : "");
    if (!c)
        b->oom = true;
    return c;
}

void tr__pb_push(tr__pb_t *b, void ***arr, size_t *n, void *item, bool msg)
{
    if (!item)
        return;
    void **a = krt_realloc(*arr, (*n + 1) * sizeof *a);
    if (!a) {
        b->oom = true;
        if (msg)
            ir_pb_free(item);
        else
            krt_free(item);
        return;
    }
    a[(*n)++] = item;
    *arr = a;
}

Google__Protobuf__Duration *tr__pb_duration(tr__pb_t *b, int64_t s, int32_t nanos)
{
    Google__Protobuf__Duration *d = tr__pb_new(b, &google__protobuf__duration__descriptor);
    if (d) {
        d->seconds = s;
        d->nanos = nanos;
    }
    return d;
}

int tr__emit_ir(krt_ctx_t *ctx, const ir_obj_t *o, const ir_err_t *err)
{
    if (!o)
        return err && err->code == IR_ENOMEM ? KRT_ENOMEM : KRT_ETRANSFORM;
    int rc = krt_emit(ctx, ir_obj_krt(o));
    /* A duplicate key is a refused emission, not a failure of the whole input. */
    return rc == KRT_EDUPKEY ? KRT_OK : rc;
}

void tr__problem_set(tr__problem_t *p, bool accepted_false, const char *reason, const char *fmt,
                     ...)
{
    if (p->reason && (p->accepted_false || !accepted_false))
        return; /* the first problem wins; an Accepted=False one overrides a ResolvedRefs one */
    p->reason = reason;
    p->accepted_false = accepted_false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
}
