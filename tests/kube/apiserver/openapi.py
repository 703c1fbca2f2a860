"""Just enough OpenAPI for kubectl.

kubectl apply (strict validation, the default) first downloads /openapi/v2 as protobuf and then asks
/openapi/v3 whether each kind's PATCH takes the fieldValidation query parameter (server-side field
validation). We serve:
  - /openapi/v2: a protobuf (or JSON) Swagger document without definitions, so client-side schema
    validation finds nothing to check and strategic-merge patches fall back to kubectl's built-in
    Go types (exactly what it would compute against a real server for built-in kinds);
  - /openapi/v3: the index of group-versions, and per group-version a document whose paths declare
    PATCH with fieldValidation and x-kubernetes-group-version-kind, so kubectl leaves validation to
    the server; CRD kinds also get their openAPIV3Schema under components (kubectl explain).
"""

import hashlib
import json

INFO = {'title': 'Kubernetes', 'version': 'v1.32.0'}


def _pb_field(num, payload):
    """A length-delimited protobuf field."""
    out = bytearray([(num << 3) | 2])
    n = len(payload)
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + payload


def v2_protobuf():
    # openapi_v2.Document { swagger = 1; info = 2 { title = 1; version = 2 } }
    info = _pb_field(1, INFO['title'].encode()) + _pb_field(2, INFO['version'].encode())
    return _pb_field(1, b'2.0') + _pb_field(2, info)


def v2_json():
    return {'swagger': '2.0', 'info': INFO, 'paths': {}, 'definitions': {}}


def _gv_path(group, version):
    return 'api/%s' % version if group == '' else 'apis/%s/%s' % (group, version)


def _schema_name(res, version):
    parts = res.group.split('.') if res.group else ['io', 'k8s', 'api', 'core']
    if res.group:
        parts = list(reversed(parts))
    return '.'.join(parts + [version, res.kind])


def gv_doc(store, group, version):
    rs = store.resources_in(group, version)
    if not rs:
        return None
    paths = {}
    schemas = {}
    for r in sorted(rs, key=lambda r: r.plural):
        if r.virtual:
            continue
        gvk = {'group': r.group, 'version': version, 'kind': r.kind}
        base = '/' + _gv_path(group, version)
        item = '%s%s/%s/{name}' % (base, '/namespaces/{namespace}' if r.namespaced else '',
                                   r.plural)
        ref = {'$ref': '#/components/schemas/' + _schema_name(r, version)}
        params = [{'name': n, 'in': 'query', 'schema': {'type': 'string', 'uniqueItems': True}}
                  for n in ('dryRun', 'fieldManager', 'fieldValidation', 'force')]
        op = {'operationId': 'patch%s' % r.kind, 'x-kubernetes-action': 'patch',
              'x-kubernetes-group-version-kind': gvk, 'parameters': params,
              'responses': {'200': {'description': 'OK',
                                    'content': {'application/json': {'schema': ref}}}}}
        put = dict(op, operationId='replace%s' % r.kind, **{'x-kubernetes-action': 'put'})
        get = {'operationId': 'read%s' % r.kind, 'x-kubernetes-action': 'get',
               'x-kubernetes-group-version-kind': gvk,
               'responses': op['responses']}
        paths[item] = {'get': get, 'put': put, 'patch': op}
        sch = r.schemas.get(version)
        if isinstance(sch, dict):
            s = json.loads(json.dumps(sch))
            s['x-kubernetes-group-version-kind'] = [gvk]
            schemas[_schema_name(r, version)] = s
    return {'openapi': '3.0.0', 'info': INFO, 'paths': paths,
            'components': {'schemas': schemas}}


def _hash(doc):
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


def serve(store, path):
    """Returns (content type, bytes) or None for 404. path without the query."""
    if path == '/openapi/v2':
        return None
    if path in ('/openapi/v3', '/openapi/v3/'):
        idx = {}
        for g, versions in sorted(store.groups().items()):
            for v in versions:
                doc = gv_doc(store, g, v)
                if doc is None:
                    continue
                p = _gv_path(g, v)
                idx[p] = {'serverRelativeURL': '/openapi/v3/%s?hash=%s' % (p, _hash(doc))}
        return {'paths': idx}
    if path.startswith('/openapi/v3/'):
        segs = path[len('/openapi/v3/'):].strip('/').split('/')
        if segs[0] == 'api' and len(segs) == 2:
            return gv_doc(store, '', segs[1])
        if segs[0] == 'apis' and len(segs) == 3:
            return gv_doc(store, segs[1], segs[2])
    return None
