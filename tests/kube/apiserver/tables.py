"""Server-side printing: meta.k8s.io/v1 Table answers for clients that ask for them (kubectl get's
human output sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...`).

Columns: CRD kinds use the version's additionalPrinterColumns (JSONPath subset: .field, [n], [*],
[?(@.key=="value")]), with Name first and Age when none are declared; a few built-in kinds get the
columns kubectl users know (services, deployments, pods, namespaces, configmaps, secrets, leases,
serviceaccounts, endpointslices, CRDs); the rest Name and Age.
"""

import datetime
import json
import re

NAME_COL = {'name': 'Name', 'type': 'string', 'format': 'name', 'priority': 0,
            'description': 'Name must be unique within a namespace.'}


def wants_table(accept):
    return bool(accept) and 'as=Table' in accept and 'g=meta.k8s.io' in accept


def human_duration(seconds):
    """Like apimachinery's duration.HumanDuration."""
    s = int(seconds)
    if s < 0:
        return '0s'
    if s < 120:
        return '%ds' % s
    m = s // 60
    if m < 10:
        return '%dm%ds' % (m, s % 60) if s % 60 else '%dm' % m
    if m < 180:
        return '%dm' % m
    h = m // 60
    if h < 8:
        return '%dh%dm' % (h, m % 60) if m % 60 else '%dh' % h
    if h < 48:
        return '%dh' % h
    if h < 24 * 8:
        return '%dd%dh' % (h // 24, h % 24) if h % 24 else '%dd' % (h // 24)
    if h < 24 * 365 * 2:
        return '%dd' % (h // 24)
    return '%dy' % (h // (24 * 365))


def age(ts):
    try:
        t = datetime.datetime.strptime(ts, '%Y-%m-%dT%H:%M:%SZ').replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return '<unknown>'
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


_TOKEN = re.compile(r'\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([A-Za-z0-9_\-.]+)\s*==\s*'
                    r'["\']([^"\']*)["\']\)\]')


def jsonpath(obj, path):
    """Values at a printer-column JSONPath (the subset above); [] when nothing matches."""
    path = path.strip()
    if path.startswith('{') and path.endswith('}'):
        path = path[1:-1]
    if path.startswith('$'):
        path = path[1:]
    cur = [obj]
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            return []
        pos = m.end()
        nxt = []
        text = m.group(0)
        for v in cur:
            if m.group(1) is not None:
                if isinstance(v, dict) and m.group(1) in v:
                    nxt.append(v[m.group(1)])
            elif m.group(2) is not None:
                if isinstance(v, list) and int(m.group(2)) < len(v):
                    nxt.append(v[int(m.group(2))])
            elif text == '[*]':
                if isinstance(v, list):
                    nxt.extend(v)
            else:
                if isinstance(v, list):
                    for item in v:
                        got = item
                        for seg in m.group(3).split('.'):
                            got = got.get(seg) if isinstance(got, dict) else None
                        if got is not None and str(got) == m.group(4):
                            nxt.append(item)
        cur = nxt
    return cur


def _cell(values, ctype):
    if not values:
        return None
    if ctype == 'date':
        return age(values[0])
    if ctype in ('integer', 'number', 'boolean') and len(values) == 1:
        return values[0]
    return ','.join(v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))
                    for v in values)


def _col(name, ctype='string', priority=0, fmt=''):
    return {'name': name, 'type': ctype, 'format': fmt, 'description': '', 'priority': priority}


def _svc(o):
    spec = o.get('spec') or {}
    ing = ((o.get('status') or {}).get('loadBalancer') or {}).get('ingress') or []
    ext = ','.join(i.get('ip') or i.get('hostname', '') for i in ing) or \
        ('<pending>' if spec.get('type') == 'LoadBalancer' else '<none>')
    ports = ','.join('%s%s/%s' % (p.get('port'), ':%s' % p['nodePort'] if p.get('nodePort')
                                  else '', p.get('protocol', 'TCP'))
                     for p in spec.get('ports') or []) or '<none>'
    sel = ','.join('%s=%s' % kv for kv in sorted((spec.get('selector') or {}).items())) or '<none>'
    return [spec.get('type', 'ClusterIP'), spec.get('clusterIP', '<none>'), ext, ports,
            age(o['metadata'].get('creationTimestamp')), sel]


def _deploy(o):
    spec, st = o.get('spec') or {}, o.get('status') or {}
    cs = ((spec.get('template') or {}).get('spec') or {}).get('containers') or []
    return ['%d/%d' % (st.get('readyReplicas', 0), spec.get('replicas', 1)),
            st.get('updatedReplicas', 0), st.get('availableReplicas', 0),
            age(o['metadata'].get('creationTimestamp')),
            ','.join(c.get('name', '') for c in cs), ','.join(c.get('image', '') for c in cs)]


def _pod(o):
    cs = ((o.get('spec') or {}).get('containers')) or []
    st = o.get('status') or {}
    ready = sum(1 for c in st.get('containerStatuses') or [] if c.get('ready'))
    return ['%d/%d' % (ready, len(cs)), st.get('phase', 'Unknown'), 0,
            age(o['metadata'].get('creationTimestamp'))]


BUILTIN = {
    ('', 'services'): ([_col('Type'), _col('Cluster-IP'), _col('External-IP'), _col('Port(s)'),
                        _col('Age'), _col('Selector', priority=1)], _svc),
    ('apps', 'deployments'): ([_col('Ready'), _col('Up-to-date', 'integer'),
                               _col('Available', 'integer'), _col('Age'),
                               _col('Containers', priority=1), _col('Images', priority=1)],
                              _deploy),
    ('', 'pods'): ([_col('Ready'), _col('Status'), _col('Restarts', 'integer'), _col('Age')],
                   _pod),
    ('', 'namespaces'): ([_col('Status'), _col('Age')],
                         lambda o: [(o.get('status') or {}).get('phase', ''),
                                    age(o['metadata'].get('creationTimestamp'))]),
    ('', 'configmaps'): ([_col('Data', 'integer'), _col('Age')],
                         lambda o: [len(o.get('data') or {}) + len(o.get('binaryData') or {}),
                                    age(o['metadata'].get('creationTimestamp'))]),
    ('', 'secrets'): ([_col('Type'), _col('Data', 'integer'), _col('Age')],
                      lambda o: [o.get('type', 'Opaque'), len(o.get('data') or {}),
                                 age(o['metadata'].get('creationTimestamp'))]),
    ('', 'serviceaccounts'): ([_col('Secrets', 'integer'), _col('Age')],
                              lambda o: [len(o.get('secrets') or []),
                                         age(o['metadata'].get('creationTimestamp'))]),
    ('coordination.k8s.io', 'leases'): ([_col('Holder'), _col('Age')],
                                        lambda o: [(o.get('spec') or {}).get('holderIdentity', ''),
                                                   age(o['metadata'].get('creationTimestamp'))]),
    ('discovery.k8s.io', 'endpointslices'): (
        [_col('AddressType'), _col('Ports'), _col('Endpoints'), _col('Age')],
        lambda o: [o.get('addressType', ''),
                   ','.join(str(p.get('port')) for p in o.get('ports') or []) or '<unset>',
                   ','.join(a for e in o.get('endpoints') or [] for a in e.get('addresses', []))
                   or '<unset>', age(o['metadata'].get('creationTimestamp'))]),
    ('apiextensions.k8s.io', 'customresourcedefinitions'): (
        [_col('Created At', 'date')],
        lambda o: [o['metadata'].get('creationTimestamp')]),
}


def columns(res, version, crd_obj):
    """(column definitions after Name, function obj -> cells after the name)."""
    if res.crd is not None:
        cols = []
        for v in ((crd_obj or {}).get('spec') or {}).get('versions') or []:
            if v.get('name') == version:
                cols = v.get('additionalPrinterColumns') or []
        if not cols:
            cols = [{'name': 'Age', 'type': 'date', 'jsonPath': '.metadata.creationTimestamp'}]
        defs = [_col(c.get('name', ''), c.get('type', 'string'), c.get('priority', 0),
                     c.get('format', '')) for c in cols]
        for d, c in zip(defs, cols):
            d['description'] = c.get('description', '')
            if d['type'] == 'date':
                d['type'] = 'string'    # the cell holds an age, already formatted

        def cells(o):
            return [_cell(jsonpath(o, c.get('jsonPath', '')), c.get('type', 'string'))
                    for c in cols]
        return defs, cells
    if res.key in BUILTIN:
        return BUILTIN[res.key]
    return [_col('Age')], lambda o: [age(o['metadata'].get('creationTimestamp'))]


def table(res, version, crd_obj, objs, include, list_meta=None):
    """A Table of objs (already in the requested version)."""
    defs, cells = columns(res, version, crd_obj)
    rows = []
    for o in objs:
        row = {'cells': [o['metadata']['name']] + cells(o)}
        if include == 'Object':
            row['object'] = o
        elif include != 'None':
            row['object'] = {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1',
                             'metadata': o['metadata']}
        rows.append(row)
    return {'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1', 'metadata': list_meta or {},
            'columnDefinitions': [NAME_COL] + defs, 'rows': rows}
