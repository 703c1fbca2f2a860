"""The few protobuf request bodies kubectl sends to this server, decoded without schemas.

kubectl's typed clients (auth whoami, auth can-i, create token) send
`application/vnd.kubernetes.protobuf` bodies: the 4-byte magic "k8s\\0", then a runtime.Unknown
{typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4} whose raw
is the object's own message. Answers go back as JSON (kubectl also accepts application/json).
Field numbers below are those of k8s.io/api's generated.proto.
"""

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


def token_request(body):
    """TokenRequest {spec = 2 {audiences = 1, boundObjectRef = 3, expirationSeconds = 4}} as JSON."""
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
