/*
 * What the xds sources share: the error table, type URLs and the dependency rank of kinds, the
 * proxy role "<ns>~<gateway>", and the module's log hook. Pure functions and one static hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/struct.pb-c.h"
#include "ir/names.h"
#include "xds_internal.h"

const char *xds_strerror(int rc)
{
    switch (rc) {
#define XDS__ERR_STR(name, code, msg) \
    case (code):                      \
        return msg;
        XDS_ERRNO_MAP(XDS__ERR_STR)
#undef XDS__ERR_STR
    }
    return "unknown error";
}

const char *xds_err_name(int rc)
{
    switch (rc) {
#define XDS__ERR_NAME(name, code, msg) \
    case (code):                       \
        return "XDS_" #name;
        XDS_ERRNO_MAP(XDS__ERR_NAME)
#undef XDS__ERR_NAME
    }
    return "XDS_UNKNOWN";
}

int xds__err(xds_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- log hook ---- */

static xds_log_cb log_cb;
static void *log_ud;
static int log_min = XDS_LOG_WARN;

void xds_log_set(xds_log_cb cb, void *ud, int min_level)
{
    log_cb = cb;
    log_ud = ud;
    log_min = cb ? min_level : XDS_LOG_WARN;
}

void xds__log(int level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (log_cb) {
        log_cb(level, buf, log_ud);
        return;
    }
    static const char *names[] = {"debug", "info", "warn", "error"};
    fprintf(stderr, "xds %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], buf);
}

/* ---- types and ranks ---- */

const char *xds_type_url(xds_type_t t)
{
    switch (t) {
    case XDS_TYPE_ADDRESS:
        return IR_TYPE_URL_ADDRESS;
    case XDS_TYPE_RESOURCE:
        return IR_TYPE_URL_RESOURCE;
    }
    return NULL;
}

int xds_type_from_url(const char *url)
{
    if (!url)
        return -1;
    if (strcmp(url, IR_TYPE_URL_ADDRESS) == 0)
        return XDS_TYPE_ADDRESS;
    if (strcmp(url, IR_TYPE_URL_RESOURCE) == 0)
        return XDS_TYPE_RESOURCE;
    return -1;
}

xds_type_t xds_type_of_kind(ir_kind_t k)
{
    return k == IR_KIND_ADDRESS ? XDS_TYPE_ADDRESS : XDS_TYPE_RESOURCE;
}

int xds_kind_rank(ir_kind_t k)
{
    switch (k) {
    case IR_KIND_ADDRESS:
        return 0;
    case IR_KIND_BACKEND:
        return 1;
    case IR_KIND_POLICY:
        return 2;
    case IR_KIND_BIND:
        return 3;
    case IR_KIND_LISTENER:
        return 4;
    case IR_KIND_ROUTE:
        return 5;
    case IR_KIND_TCP_ROUTE:
        return 6;
    }
    return 7;
}

int xds_name_rank(xds_type_t t, const char *name)
{
    if (t == XDS_TYPE_ADDRESS)
        return 0;
    ir_kind_t k;
    const char *inner;
    if (!name || ir_name_parse(name, &k, &inner) != IR_OK)
        return 7;
    return xds_kind_rank(k);
}

int xds__order_cmp(int rank_a, const char *a, int rank_b, const char *b, bool removal)
{
    if (rank_a != rank_b)
        return removal ? (rank_a > rank_b ? -1 : 1) : (rank_a < rank_b ? -1 : 1);
    return strcmp(a, b);
}

/* ---- roles ---- */

static bool part_ok(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '~' || p[i] == '/' || p[i] == '\0')
            return false;
    return true;
}

static int convert(const char *in, char from, char to, char *out, size_t cap)
{
    if (!in)
        return XDS_EROLE;
    const char *sep = strchr(in, from);
    if (!sep)
        return XDS_EROLE;
    size_t a = (size_t)(sep - in), b = strlen(sep + 1);
    if (!part_ok(in, a) || !part_ok(sep + 1, b))
        return XDS_EROLE;
    if (!out || cap < a + b + 2)
        return XDS_ELIMIT;
    memcpy(out, in, a);
    out[a] = to;
    memcpy(out + a + 1, sep + 1, b);
    out[a + 1 + b] = '\0';
    return XDS_OK;
}

int xds_role_to_gateway(const char *role, char *out, size_t cap)
{
    return convert(role, '~', '/', out, cap);
}

int xds_gateway_to_role(const char *gateway, char *out, size_t cap)
{
    return convert(gateway, '/', '~', out, cap);
}

const char *xds_node_role(const Envoy__Config__Core__V3__Node *node)
{
    if (!node || !node->metadata)
        return NULL;
    const Google__Protobuf__Struct *md = node->metadata;
    /* Canonical trees hold one entry per key; scan all the same (a hand-built tree may not be). */
    const char *found = NULL;
    for (size_t i = 0; i < md->n_fields; i++) {
        const Google__Protobuf__Struct__FieldsEntry *f = md->fields[i];
        if (!f || !f->key || strcmp(f->key, "role") != 0)
            continue;
        if (f->value && f->value->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE)
            found = f->value->string_value;
        else
            found = NULL;
    }
    return found;
}
