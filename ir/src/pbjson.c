/*
 * Proto3 JSON rendering of protobuf-c messages, driven by the descriptors, for debug dumps
 * (krt dumps, /config_dump, `krtgate translate` output).
 *
 * It follows protobuf's canonical JSON mapping closely enough that tests/ir/check_wire.py can
 * compare it with python3-protobuf's json_format.MessageToDict on the same bytes. Two deliberate
 * departures: an Any is shown as {"@type", "value": base64} (we do not resolve the embedded type),
 * and with IR_PB_JSON_REDACT the fields listed in `secrets` below show a marker instead of their
 * value, because dumps end up in logs and admin endpoints. Rendering is read-only and recursion
 * is bounded by the tree's depth (IR_PB_MAX_DEPTH for anything decoded).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "internal.h"

#define MEMBER(m, off, T) ((const T *)(const void *)((const char *)(m) + (off)))

/* Fields whose value is a credential. */
static const struct {
    const char *message;
    const char *field;
} secrets[] = {
    {"agentgateway.dev.resource.TLSConfig", "private_key"},
    {"agentgateway.dev.resource.BackendPolicySpec.BackendTLS", "key"},
    {"agentgateway.dev.resource.Key", "secret"},
    {"agentgateway.dev.resource.TrafficPolicySpec.BasicAuthentication", "htpasswd_content"},
    {"agentgateway.dev.resource.TrafficPolicySpec.APIKey.User", "key"},
    {"agentgateway.dev.resource.AwsExplicitConfig", "secret_access_key"},
    {"agentgateway.dev.resource.AwsExplicitConfig", "session_token"},
    {"agentgateway.dev.resource.AzureClientSecret", "client_secret"},
    {"agentgateway.dev.resource.Gcp", "credential"},
};

static bool is_secret(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strcmp(d->name, secrets[i].message) == 0 && strcmp(f->name, secrets[i].field) == 0)
            return true;
    return false;
}

/* protoc's json_name: drop each '_' and upper-case the letter after it. */
static void json_name(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    bool up = false;
    for (const char *p = name; *p && o + 1 < cap; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        out[o++] = up ? (char)toupper((unsigned char)*p) : *p;
        up = false;
    }
    out[o] = '\0';
}

static json_t *base64(const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t outn = 4 * ((n + 2) / 3);
    char *s = krt_malloc(outn + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        s[o++] = tbl[(v >> 18) & 63];
        s[o++] = tbl[(v >> 12) & 63];
        s[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    s[o] = '\0';
    json_t *j = json_stringn(s, o);
    krt_free(s);
    return j;
}

static json_t *real(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

static json_t *u64str(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return json_string(b);
}

static json_t *i64str(int64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRId64, v);
    return json_string(b);
}

static json_t *render_msg(const ProtobufCMessage *m, unsigned flags, unsigned depth);

/* One value of field |f| stored at |p| (an element, not the array). */
static json_t *render_value(const ProtobufCFieldDescriptor *f, const void *p, unsigned flags,
                            unsigned depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return i64str(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return u64str(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return base64(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
        return sub ? render_msg(sub, flags, depth + 1) : json_null();
    }
    }
    return json_null();
}

/* Proto3 "default value" test for a field without presence. */
static bool is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return *(const uint32_t *)p == 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = *(const float *)p;
        return v == 0 && !signbit(v);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = *(const double *)p;
        return v == 0 && !signbit(v);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)p;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)p == NULL;
    }
    return true;
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

/* Is field |f| of |m| present (for fields with presence) or non-default (without)? */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *MEMBER(m, f->quantifier_offset, uint32_t) == f->id;
    switch (f->label) {
    case PROTOBUF_C_LABEL_REPEATED:
        return *MEMBER(m, f->quantifier_offset, size_t) > 0;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
            return *MEMBER(m, f->offset, void *) != NULL;
        return *MEMBER(m, f->quantifier_offset, protobuf_c_boolean);
    case PROTOBUF_C_LABEL_REQUIRED:
        return true;
    default:
        return !is_default(f, MEMBER(m, f->offset, char));
    }
}

static json_t *redacted(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    size_t n = 0;
    const void *p = MEMBER(m, f->offset, char);
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        n = ((const ProtobufCBinaryData *)p)->len;
    else if (f->type == PROTOBUF_C_TYPE_STRING && *(char *const *)p)
        n = strlen(*(char *const *)p);
    char b[48];
    snprintf(b, sizeof b, "<redacted %zu bytes>", n);
    return json_string(b);
}

/* Map entries become an object keyed by the entry's key. */
static json_t *render_map(const ProtobufCMessage *const *items, size_t n, unsigned flags,
                          unsigned depth)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        const ProtobufCMessage *e = items[i];
        if (!e)
            continue;
        const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
        const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
        json_t *k = render_value(kf, MEMBER(e, kf->offset, char), flags, depth);
        json_t *v = render_value(vf, MEMBER(e, vf->offset, char), flags, depth);
        const char *ks = k && json_is_string(k) ? json_string_value(k) : NULL;
        char num[24];
        if (k && json_is_integer(k)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
            ks = num;
        }
        if (!ks || !v || json_object_set_new(o, ks, v) != 0) {
            json_decref(k);
            json_decref(o);
            return NULL;
        }
        json_decref(k);
    }
    return o;
}

static bool is_map_field(const ProtobufCFieldDescriptor *f)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
        return false;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n = strlen(d->name);
    return d->n_fields == 2 && d->fields[0].id == 1 && d->fields[1].id == 2 && n > 5 &&
           strcmp(d->name + n - 5, "Entry") == 0 && strcmp(d->fields[0].name, "key") == 0;
}

static json_t *render_fields(const ProtobufCMessage *m, unsigned flags, unsigned depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!present(m, f))
            continue;
        json_t *v;
        if ((flags & IR_PB_JSON_REDACT) && is_secret(d, f)) {
            v = redacted(m, f);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *MEMBER(m, f->quantifier_offset, size_t);
            const char *arr = *MEMBER(m, f->offset, char *);
            if (is_map_field(f)) {
                v = render_map((const ProtobufCMessage *const *)(const void *)arr, n, flags, depth);
            } else {
                v = json_array();
                size_t sz = value_size(f);
                for (size_t k = 0; v && k < n; k++) {
                    json_t *e = render_value(f, arr + k * sz, flags, depth);
                    if (!e || json_array_append_new(v, e) != 0) {
                        json_decref(v);
                        v = NULL;
                    }
                }
            }
        } else {
            v = render_value(f, MEMBER(m, f->offset, char), flags, depth);
        }
        char name[128];
        json_name(f->name, name, sizeof name);
        if (!v || json_object_set_new(o, name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* "1.5s" as protobuf formats a Duration: 0, 3, 6 or 9 fractional digits. */
static json_t *render_duration(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *fs = protobuf_c_message_descriptor_get_field(m->descriptor, 1);
    const ProtobufCFieldDescriptor *fn = protobuf_c_message_descriptor_get_field(m->descriptor, 2);
    int64_t secs = *MEMBER(m, fs->offset, int64_t);
    int32_t nanos = *MEMBER(m, fn->offset, int32_t);
    char b[64];
    bool neg = secs < 0 || nanos < 0;
    uint64_t s = secs < 0 ? (uint64_t)0 - (uint64_t)secs : (uint64_t)secs;
    uint32_t n = nanos < 0 ? (uint32_t)(-(int64_t)nanos) : (uint32_t)nanos;
    if (n == 0)
        snprintf(b, sizeof b, "%s%" PRIu64 "s", neg ? "-" : "", s);
    else if (n % 1000000 == 0)
        snprintf(b, sizeof b, "%s%" PRIu64 ".%03us", neg ? "-" : "", s, n / 1000000);
    else if (n % 1000 == 0)
        snprintf(b, sizeof b, "%s%" PRIu64 ".%06us", neg ? "-" : "", s, n / 1000);
    else
        snprintf(b, sizeof b, "%s%" PRIu64 ".%09us", neg ? "-" : "", s, n);
    return json_string(b);
}

/* The set member of a oneof-only message (google.protobuf.Value), or NULL. */
static const ProtobufCFieldDescriptor *set_member(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        if (present(m, f))
            return f;
    }
    return NULL;
}

/* Types an Any may carry that we can show expanded, as protobuf's JSON mapping does. */
static const ProtobufCMessageDescriptor *any_types[] = {
    &agentgateway__dev__resource__resource__descriptor,
    &istio__workload__address__descriptor,
    &google__protobuf__any__descriptor,
    &google__protobuf__duration__descriptor,
    &google__protobuf__struct__descriptor,
    &google__protobuf__value__descriptor,
    &google__protobuf__list_value__descriptor,
    &google__protobuf__double_value__descriptor,
    &google__protobuf__float_value__descriptor,
    &google__protobuf__int64_value__descriptor,
    &google__protobuf__uint64_value__descriptor,
    &google__protobuf__int32_value__descriptor,
    &google__protobuf__uint32_value__descriptor,
    &google__protobuf__bool_value__descriptor,
    &google__protobuf__string_value__descriptor,
    &google__protobuf__bytes_value__descriptor,
};

/* An Any: {"@type": url, <fields>} for a known message, {"@type": url, "value": <json>} for a
 * well-known type that has a special JSON form, and {"@type": url, "value": base64} when the type
 * is unknown, the payload does not decode, or Anys nest deeper than IR_PB_MAX_DEPTH. */
static json_t *render_any(const ProtobufCMessage *m, unsigned flags, unsigned depth)
{
    const ProtobufCFieldDescriptor *fu = protobuf_c_message_descriptor_get_field(m->descriptor, 1);
    const ProtobufCFieldDescriptor *fv = protobuf_c_message_descriptor_get_field(m->descriptor, 2);
    const char *url = *MEMBER(m, fu->offset, char *);
    const ProtobufCBinaryData *val = MEMBER(m, fv->offset, ProtobufCBinaryData);
    url = url ? url : "";
    const char *tname = strrchr(url, '/');
    tname = tname ? tname + 1 : url;
    const ProtobufCMessageDescriptor *d = NULL;
    for (size_t i = 0; i < sizeof any_types / sizeof any_types[0] && depth < IR_PB_MAX_DEPTH; i++)
        if (strcmp(any_types[i]->name, tname) == 0)
            d = any_types[i];
    ProtobufCMessage *inner = NULL;
    if (d && ir_pb_decode(d, val->data, val->len, &inner, NULL) == IR_OK) {
        json_t *body = render_msg(inner, flags, depth + 1);
        ir_pb_free(inner);
        if (!body)
            return NULL;
        json_t *o;
        if (json_is_object(body) && strncmp(d->name, "google.protobuf.", 16) != 0) {
            o = body;
        } else {
            o = json_object();
            if (!o || json_object_set_new(o, "value", body) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        if (json_object_set_new(o, "@type", json_string(url)) != 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    json_t *v = base64(val->data, val->len);
    json_t *o = v ? json_pack("{s:s, s:o}", "@type", url, "value", v) : NULL;
    return o;
}

static json_t *render_msg(const ProtobufCMessage *m, unsigned flags, unsigned depth)
{
    const char *full = m->descriptor->name;
    if (strncmp(full, "google.protobuf.", 16) == 0) {
        const char *t = full + 16;
        if (strcmp(t, "Duration") == 0)
            return render_duration(m);
        if (strcmp(t, "Struct") == 0) {
            const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
            return render_map(*MEMBER(m, f->offset, ProtobufCMessage **),
                              *MEMBER(m, f->quantifier_offset, size_t), flags, depth);
        }
        if (strcmp(t, "ListValue") == 0) {
            const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
            const ProtobufCMessage *const *items = *MEMBER(m, f->offset, ProtobufCMessage **);
            size_t n = *MEMBER(m, f->quantifier_offset, size_t);
            json_t *a = json_array();
            for (size_t i = 0; a && i < n; i++) {
                json_t *e = items[i] ? render_msg(items[i], flags, depth + 1) : json_null();
                if (!e || json_array_append_new(a, e) != 0) {
                    json_decref(a);
                    a = NULL;
                }
            }
            return a;
        }
        if (strcmp(t, "Value") == 0) {
            const ProtobufCFieldDescriptor *f = set_member(m);
            if (!f || f->type == PROTOBUF_C_TYPE_ENUM) /* unset, or null_value */
                return json_null();
            return render_value(f, MEMBER(m, f->offset, char), flags, depth);
        }
        if (strcmp(t, "Any") == 0)
            return render_any(m, flags, depth);
        size_t tl = strlen(t);
        if (tl > 5 && strcmp(t + tl - 5, "Value") == 0 && m->descriptor->n_fields == 1) {
            /* wrappers: DoubleValue ... BytesValue render as their bare value */
            const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
            return render_value(f, MEMBER(m, f->offset, char), flags, depth);
        }
    }
    return render_fields(m, flags, depth);
}

json_t *ir_pb_to_json(const ProtobufCMessage *m, unsigned flags)
{
    if (!m)
        return json_null();
    return render_msg(m, flags, 0);
}
