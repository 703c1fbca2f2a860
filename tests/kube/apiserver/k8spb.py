"""The few protobuf request bodies kubectl sends to this server, decoded without schemas.

kubectl's typed clients (auth whoami, auth can-i, create token) send
`application/vnd.kubernetes.protobuf` bodies: the 4-byte magic "k8s\\0", then a runtime.Unknown
{typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4} whose raw
is the object's own message. Answers go back as JSON (kubectl also accepts application/json).
Field numbers below are those of k8s.io/api's generated.proto.
"""

import base64

MAGIC = b'k8s\x00'


class PbError(ValueError):
    pass


def _varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise PbError('truncated varint at byte %d' % i)
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise PbError('varint too long at byte %d' % i)


def fields(buf):
    """{field number: [values]}: ints for varint/fixed, bytes for length-delimited."""
    if not isinstance(buf, bytes):
        raise PbError('expected a length-delimited (message) field, got a number')
    out = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise PbError('field %d: length %d past the end' % (num, n))
            v = bytes(buf[i:i + n])
            i += n
        elif wt == 1:
            v = int.from_bytes(buf[i:i + 8], 'little')
            i += 8
        elif wt == 5:
            v = int.from_bytes(buf[i:i + 4], 'little')
            i += 4
        else:
            raise PbError('field %d: unsupported wire type %d' % (num, wt))
        out.setdefault(num, []).append(v)
    return out


def unwrap(body):
    """(apiVersion, kind, raw message bytes) of an enveloped body."""
    if not body.startswith(MAGIC):
        raise PbError('protobuf body without the k8s magic prefix')
    unk = fields(body[len(MAGIC):])
    tm = fields(unk.get(1, [b''])[0])
    s = lambda f, n: f.get(n, [b''])[0].decode()    # noqa: E731
    return s(tm, 1), s(tm, 2), unk.get(2, [b''])[0]


def _guard(fn):
    """Any malformed input comes out as PbError (wrong wire types, bad UTF-8, missing fields)."""
    def wrapped(body):
        try:
            return fn(body)
        except PbError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            raise PbError('malformed protobuf body: %s' % e)
    wrapped.__doc__ = fn.__doc__
    return wrapped


@_guard
def token_request(body):
    """TokenRequest {spec = 2 {audiences = 1, boundObjectRef = 3, expirationSeconds = 4}} as
    JSON."""
    _, _, raw = unwrap(body)
    spec = fields(fields(raw).get(2, [b''])[0])
    out = {}
    if 1 in spec:
        out['audiences'] = [a.decode() for a in spec[1]]
    if 4 in spec:
        out['expirationSeconds'] = spec[4][0]
    if 3 in spec:
        ref = fields(spec[3][0])
        names = {1: 'kind', 2: 'apiVersion', 3: 'name', 4: 'uid'}
        out['boundObjectRef'] = {names[k]: v[0].decode() for k, v in ref.items() if k in names}
    return {'spec': out}


def _s(f, n):
    return f[n][0].decode() if n in f else None


def _map(entries, binary=False):
    out = {}
    for e in entries:
        kv = fields(e)
        k = kv.get(1, [b''])[0].decode()
        v = kv.get(2, [b''])[0]
        out[k] = base64.b64encode(v).decode() if binary else v.decode()
    return out


def object_meta(buf):
    """ObjectMeta {name 1, generateName 2, namespace 3, labels 11, annotations 12,
    finalizers 14}."""
    f = fields(buf)
    md = {}
    for n, key in ((1, 'name'), (2, 'generateName'), (3, 'namespace')):
        if _s(f, n):
            md[key] = _s(f, n)
    if 11 in f:
        md['labels'] = _map(f[11])
    if 12 in f:
        md['annotations'] = _map(f[12])
    if 14 in f:
        md['finalizers'] = [x.decode() for x in f[14]]
    return md


def _namespace(f):
    out = {}
    if 2 in f:
        spec = fields(f[2][0])
        if 1 in spec:
            out['spec'] = {'finalizers': [x.decode() for x in spec[1]]}
    return out


def _configmap(f):
    out = {}
    if 2 in f:
        out['data'] = _map(f[2])
    if 3 in f:
        out['binaryData'] = _map(f[3], binary=True)
    if 4 in f:
        out['immutable'] = bool(f[4][0])
    return out


def _secret(f):
    out = {}
    if 2 in f:
        out['data'] = _map(f[2], binary=True)
    if 3 in f:
        out['type'] = _s(f, 3)
    if 4 in f:
        out['stringData'] = _map(f[4])
    if 5 in f:
        out['immutable'] = bool(f[5][0])
    return out


def _serviceaccount(f):
    out = {}
    if 3 in f:
        out['imagePullSecrets'] = [{'name': _s(fields(x), 1)} for x in f[3]]
    if 4 in f:
        out['automountServiceAccountToken'] = bool(f[4][0])
    return out


# kind -> decoder of the fields after metadata (field 1): the kinds `kubectl create <kind>` sends
OBJECTS = {'Namespace': _namespace, 'ConfigMap': _configmap, 'Secret': _secret,
           'ServiceAccount': _serviceaccount}


@_guard
def decode_object(body):
    """A protobuf-enveloped object of a kind in OBJECTS as a JSON-shaped dict; PbError otherwise."""
    api_version, kind, raw = unwrap(body)
    dec = OBJECTS.get(kind)
    if dec is None:
        raise PbError('protobuf bodies of kind %r are not supported by the test API server; send '
                      'JSON' % kind)
    f = fields(raw)
    out = {'apiVersion': api_version, 'kind': kind,
           'metadata': object_meta(f[1][0]) if 1 in f else {}}
    out.update(dec(f))
    return out
