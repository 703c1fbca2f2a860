/*
 * IR objects as discovery Resources. The view borrows the object's bytes, so a push to a thousand
 * proxies encodes each resource's payload zero times; only the small envelope is packed per
 * response.
 */
#include <string.h>

#include "ir/resource.h"
#include "internal.h"

void ir_obj_discovery_view(const ir_obj_t *o, Envoy__Service__Discovery__V3__Resource *res,
                           Google__Protobuf__Any *any)
{
    envoy__service__discovery__v3__resource__init(res);
    google__protobuf__any__init(any);
    /* protobuf-c's structs use char * and uint8_t *; nothing writes through them. */
    any->type_url = (char *)(uintptr_t)ir_obj_type_url(o);
    size_t len;
    any->value.data = (uint8_t *)(uintptr_t)ir_obj_wire(o, &len);
    any->value.len = len;
    res->name = (char *)(uintptr_t)ir_obj_name(o);
    res->version = (char *)(uintptr_t)ir_obj_version(o);
    res->resource = any;
}

Envoy__Service__Discovery__V3__Resource *ir_obj_to_discovery(const ir_obj_t *o)
{
    Envoy__Service__Discovery__V3__Resource res;
    Google__Protobuf__Any any;
    ir_obj_discovery_view(o, &res, &any);
    return (Envoy__Service__Discovery__V3__Resource *)(void *)ir_pb_copy(&res.base, NULL);
}

int ir_obj_from_discovery(const Envoy__Service__Discovery__V3__Resource *res, const char *type_url,
                          const char *gateway, const ir_obj_t **out, ir_err_t *err)
{
    if (!out)
        return ir__err(err, IR_EINVAL, "from_discovery: NULL out");
    *out = NULL;
    if (!res)
        return ir__err(err, IR_EINVAL, "from_discovery: NULL resource");
    const char *name = res->name ? res->name : "";
    if (!ir__wrapper_desc(type_url))
        return ir__err(err, IR_ETYPEURL, "resource \"%s\": type URL \"%s\" is not modelled", name,
                       type_url ? type_url : "(null)");
    if (!res->resource)
        return ir__err(err, IR_EFIELD, "resource \"%s\": no payload", name);
    const char *any_url = res->resource->type_url;
    if (any_url && *any_url && strcmp(any_url, type_url) != 0)
        return ir__err(err, IR_ETYPEURL, "resource \"%s\": Any.type_url \"%s\" but response is %s",
                       name, any_url, type_url);
    const ir_obj_t *o;
    int rc = ir_obj_decode(type_url, res->resource->value.data, res->resource->value.len, gateway,
                           &o, err);
    if (rc != IR_OK) {
        /* say which resource */
        if (err) {
            char tmp[sizeof err->msg];
            memcpy(tmp, err->msg, sizeof tmp);
            ir__err(err, rc, "resource \"%s\": %s", name, tmp);
        }
        return rc;
    }
    if (strcmp(ir_obj_name(o), name) != 0) {
        ir__err(err, IR_ENAME, "resource \"%s\": content is named \"%s\"", name, ir_obj_name(o));
        ir_obj_release(o);
        return IR_ENAME;
    }
    *out = o;
    return IR_OK;
}
