/*
 * Protobuf plumbing: the krt-backed allocator, a pre-scan that makes protobuf-c safe on untrusted
 * bytes, canonical form (sorted maps), encode/decode/copy.
 *
 * The pre-scan walks the wire bytes with the message descriptors before protobuf-c unpacks them.
 * It bounds nesting (protobuf-c 1.4 recurses once per level with no limit, so a few megabytes of
 * nested Struct values would exhaust the stack) and checks that string fields are UTF-8 without
 * NUL (protobuf-c copies the bytes and NUL-terminates, so a NUL would truncate the C string and
 * make the tree disagree with the bytes). Checking on the bytes rather than the tree is the only
 * place the string lengths are still known. It costs one extra pass over the input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* --------------------------------------------------------------------------------------------- */
/* Errors */

const char *ir_strerror(int rc)
{
    switch (rc) {
#define IR__ERR_STR(name, code, msg) \
    case code:                       \
        return msg;
        IR_ERRNO_MAP(IR__ERR_STR)
#undef IR__ERR_STR
    }
    return "unknown error";
}

int ir__err(ir_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* --------------------------------------------------------------------------------------------- */
/* Allocation. allocator_data, when set, points to a pb_count_t: decode uses it to measure the
 * tree it builds and to tell a failed allocation from malformed input (protobuf-c returns NULL for
 * both). */

typedef struct pb_count {
    size_t bytes;
    bool failed;
} pb_count_t;

static void *pb_alloc(void *data, size_t size)
{
    void *p = krt_malloc(size ? size : 1);
    pb_count_t *c = data;
    if (c) {
        if (p)
            c->bytes += size;
        else
            c->failed = true;
    }
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    krt_free(p);
}

ProtobufCAllocator ir_pb_allocator = {pb_alloc, pb_free, NULL};

void *ir_pb_alloc(size_t size)
{
    return krt_calloc(1, size ? size : 1);
}

char *ir_pb_strdup(const char *s)
{
    return s ? krt_strdup(s) : NULL;
}

void *ir_pb_memdup(const void *p, size_t len)
{
    void *q = krt_malloc(len ? len : 1);
    if (q && len)
        memcpy(q, p, len);
    return q;
}

void ir_pb_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, &ir_pb_allocator);
}

/* --------------------------------------------------------------------------------------------- */
/* Encode */

int ir_pb_encode(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n == 0)
        return IR_OK;
    uint8_t *buf = krt_malloc(n);
    if (!buf)
        return IR_ENOMEM;
    size_t w = protobuf_c_message_pack(m, buf);
    if (w != n) { /* cannot happen with a well-formed tree; refuse rather than send garbage */
        krt_free(buf);
        return IR_EINVAL;
    }
    *out = buf;
    *len = n;
    return IR_OK;
}

/* --------------------------------------------------------------------------------------------- */
/* Pre-scan of untrusted bytes */

/* Reads a varint at |*p| (below |end|). Returns false when it is truncated or longer than 10
 * bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) and no NUL. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* Where the scan is: a chain of field names up to the root message's short name. Only an error
 * formats it; the scan itself never does (formatting every nested message's path cost more than
 * the scan). */
typedef struct scan_path {
    const struct scan_path *up;
    const char *name;
} scan_path_t;

/* Writes "root.field.field" into |buf| (truncated to |cap| - 1 characters). Returns: buf. */
static const char *path_str(const scan_path_t *at, char *buf, size_t cap)
{
    const char *names[IR_PB_MAX_DEPTH + 2];
    size_t n = 0;
    for (; at && n < sizeof names / sizeof names[0]; at = at->up)
        names[n++] = at->name;
    size_t len = 0;
    buf[0] = '\0';
    while (n-- > 0 && len + 1 < cap) {
        int w = snprintf(buf + len, cap - len, "%s%s", len ? "." : "", names[n]);
        if (w < 0)
            break;
        len += (size_t)w < cap - len ? (size_t)w : cap - len - 1;
    }
    return buf;
}

/* Scans one message body. |at| names where we are, for errors. */
static int scan_msg(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                    unsigned depth, const scan_path_t *at, ir_err_t *err)
{
    char ps[192];
#define PATH path_str(at, ps, sizeof ps)
    if (depth > IR_PB_MAX_DEPTH)
        return ir__err(err, IR_EDEPTH, "%s: messages nested deeper than %d", PATH, IR_PB_MAX_DEPTH);
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag;
        if (!read_varint(&p, end, &tag))
            return ir__err(err, IR_EDECODE, "%s: truncated field tag", PATH);
        uint32_t num = (uint32_t)(tag >> 3);
        unsigned wt = (unsigned)(tag & 7);
        if ((tag >> 3) == 0 || (tag >> 3) > 536870911u)
            return ir__err(err, IR_EDECODE, "%s: invalid field number %llu", PATH,
                           (unsigned long long)(tag >> 3));
        uint64_t v;
        switch (wt) {
        case 0:
            if (!read_varint(&p, end, &v))
                return ir__err(err, IR_EDECODE, "%s: field %u: truncated varint", PATH, num);
            break;
        case 1:
        case 5: {
            size_t w = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < w)
                return ir__err(err, IR_EDECODE, "%s: field %u: truncated fixed value", PATH, num);
            p += w;
            break;
        }
        case 2: {
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return ir__err(err, IR_EDECODE, "%s: field %u: bad length", PATH, num);
            const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, num);
            if (f && f->type == PROTOBUF_C_TYPE_STRING && !utf8_ok(p, (size_t)v))
                return ir__err(err, IR_EUTF8, "%s.%s: not UTF-8 (or contains NUL)", PATH, f->name);
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                scan_path_t sub = {at, f->name};
                int rc = scan_msg(f->descriptor, p, (size_t)v, depth + 1, &sub, err);
                if (rc != IR_OK)
                    return rc;
            }
            p += v;
            break;
        }
        default: /* groups (3, 4) are not proto3; protobuf-c rejects them too */
            return ir__err(err, IR_EDECODE, "%s: field %u: unsupported wire type %u", PATH, num,
                           wt);
        }
    }
    return IR_OK;
#undef PATH
}

/* --------------------------------------------------------------------------------------------- */
/* Canonical form */

#define MEMBER(m, off, T) ((T *)(void *)((char *)(m) + (off)))

/* A map field is a repeated message whose entry message is "<X>Entry" {key = 1; value = 2}. */
static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
    if (!d || d->n_fields != 2 || d->fields[0].id != 1 || d->fields[1].id != 2)
        return false;
    if (strcmp(d->fields[0].name, "key") != 0 || strcmp(d->fields[1].name, "value") != 0)
        return false;
    size_t n = strlen(d->name);
    return n > 5 && strcmp(d->name + n - 5, "Entry") == 0;
}

typedef struct entry_ref {
    ProtobufCMessage *m;
    const char *key;
    size_t index;
} entry_ref_t;

static int entry_cmp(const void *a, const void *b)
{
    const entry_ref_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts a map's entries by key, keeping the last of equal keys. Returns true if it changed. */
static bool canon_map(ProtobufCMessage **items, size_t *n)
{
    if (*n < 1)
        return false;
    const ProtobufCFieldDescriptor *kf = &items[0]->descriptor->fields[0];
    if (kf->type != PROTOBUF_C_TYPE_STRING)
        return false; /* every map in our schema has string keys */
    bool sorted = true;
    for (size_t i = 1; i < *n && sorted; i++) {
        const char *a = *MEMBER(items[i - 1], kf->offset, char *);
        const char *b = *MEMBER(items[i], kf->offset, char *);
        if (strcmp(a ? a : "", b ? b : "") >= 0)
            sorted = false;
    }
    if (sorted)
        return false;
    entry_ref_t *refs = krt_malloc(*n * sizeof *refs);
    if (!refs)
        return false; /* left as is: still valid, only not canonical */
    for (size_t i = 0; i < *n; i++) {
        const char *k = *MEMBER(items[i], kf->offset, char *);
        refs[i] = (entry_ref_t){items[i], k ? k : "", i};
    }
    qsort(refs, *n, sizeof *refs, entry_cmp);
    size_t out = 0;
    for (size_t i = 0; i < *n; i++) {
        if (i + 1 < *n && strcmp(refs[i].key, refs[i + 1].key) == 0) {
            ir_pb_free(refs[i].m); /* a later entry with the same key wins */
            continue;
        }
        items[out++] = refs[i].m;
    }
    *n = out;
    krt_free(refs);
    return true;
}

static bool canon_msg(ProtobufCMessage *m)
{
    bool changed = false;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*MEMBER(m, f->quantifier_offset, uint32_t) != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t *n = MEMBER(m, f->quantifier_offset, size_t);
            ProtobufCMessage **items = *MEMBER(m, f->offset, ProtobufCMessage **);
            if (!items)
                continue;
            if (is_map_entry(f->descriptor))
                changed |= canon_map(items, n);
            for (size_t k = 0; k < *n; k++)
                if (items[k])
                    changed |= canon_msg(items[k]);
        } else {
            ProtobufCMessage *sub = *MEMBER(m, f->offset, ProtobufCMessage *);
            if (sub)
                changed |= canon_msg(sub);
        }
    }
    return changed;
}

/* The read-only twin of canon_msg: false where canon_msg would change something. */
static bool canonical_msg(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*MEMBER(m, f->quantifier_offset, uint32_t) != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *MEMBER(m, f->quantifier_offset, size_t);
            ProtobufCMessage *const *items = *MEMBER(m, f->offset, ProtobufCMessage **);
            if (!items)
                continue;
            if (n > 1 && is_map_entry(f->descriptor)) {
                const ProtobufCMessageDescriptor *ed = f->descriptor;
                const ProtobufCFieldDescriptor *kf = &ed->fields[0];
                if (kf->type == PROTOBUF_C_TYPE_STRING)
                    for (size_t k = 1; k < n; k++) {
                        if (!items[k - 1] || !items[k])
                            return false;
                        const char *a = *MEMBER(items[k - 1], kf->offset, char *);
                        const char *b = *MEMBER(items[k], kf->offset, char *);
                        if (strcmp(a ? a : "", b ? b : "") >= 0)
                            return false;
                    }
            }
            for (size_t k = 0; k < n; k++)
                if (items[k] && !canonical_msg(items[k]))
                    return false;
        } else {
            const ProtobufCMessage *sub = *MEMBER(m, f->offset, ProtobufCMessage *);
            if (sub && !canonical_msg(sub))
                return false;
        }
    }
    return true;
}

bool ir__pb_is_canonical(const ProtobufCMessage *m)
{
    return m && canonical_msg(m);
}

bool ir_pb_canonicalize(ProtobufCMessage *m)
{
    return m ? canon_msg(m) : false;
}

/* --------------------------------------------------------------------------------------------- */
/* Decode and copy */

int ir__pb_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                ir_err_t *err)
{
    if (!desc || (!bytes && len))
        return ir__err(err, IR_EINVAL, "decode: NULL argument");
    static const uint8_t empty = 0;
    scan_path_t root = {NULL, desc->short_name};
    return scan_msg(desc, bytes ? bytes : &empty, len, 1, &root, err);
}

/* |checked|: the bytes are an IR object's own encoding, already pre-scanned and canonical when
 * the object was made, so neither the scan nor the canonical pass is run again. */
static int decode(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                  bool checked, ProtobufCMessage **out, size_t *tree_bytes, ir_err_t *err)
{
    *out = NULL;
    if (!desc || (!bytes && len))
        return ir__err(err, IR_EINVAL, "decode: NULL argument");
    static const uint8_t empty = 0;
    if (!bytes)
        bytes = &empty; /* len is 0: an empty message */
    if (!checked) {
        scan_path_t root = {NULL, desc->short_name};
        int rc = scan_msg(desc, bytes, len, 1, &root, err);
        if (rc != IR_OK)
            return rc;
    }
    pb_count_t count = {0, false};
    ProtobufCAllocator a = {pb_alloc, pb_free, &count};
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a, len, bytes);
    if (!m) {
        if (count.failed)
            return ir__err(err, IR_ENOMEM, "%s: out of memory while decoding", desc->short_name);
        return ir__err(err, IR_EDECODE, "%s: protobuf-c could not decode %zu bytes",
                       desc->short_name, len);
    }
    if (!checked)
        canon_msg(m);
    if (tree_bytes)
        *tree_bytes = count.bytes;
    *out = m;
    return IR_OK;
}

int ir__pb_decode_counted(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                          ProtobufCMessage **out, size_t *tree_bytes, ir_err_t *err)
{
    return decode(desc, bytes, len, false, out, tree_bytes, err);
}

int ir__pb_decode_own(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                      ProtobufCMessage **out, size_t *tree_bytes)
{
    return decode(desc, bytes, len, true, out, tree_bytes, NULL);
}

int ir_pb_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                 ProtobufCMessage **out, ir_err_t *err)
{
    return ir__pb_decode_counted(desc, bytes, len, out, NULL, err);
}

ProtobufCMessage *ir_pb_copy(const ProtobufCMessage *m, ir_err_t *err)
{
    if (!m) {
        ir__err(err, IR_EINVAL, "copy: NULL message");
        return NULL;
    }
    uint8_t *buf;
    size_t len;
    if (ir_pb_encode(m, &buf, &len) != IR_OK) {
        ir__err(err, IR_ENOMEM, "%s: out of memory while encoding", m->descriptor->short_name);
        return NULL;
    }
    ProtobufCMessage *copy = NULL;
    ir_pb_decode(m->descriptor, buf, len, &copy, err);
    krt_free(buf);
    return copy;
}
