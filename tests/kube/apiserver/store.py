"""The object store: every object of every kind, one global resourceVersion counter, a bounded
event history for watches, and the write semantics of the API server (create, update, status,
patch, delete with finalizers and owner garbage collection, CRD registration).

Invariants (checked by check_invariants(), which the tests call through /_test/stats?check=1):
  S1 every stored object has metadata.resourceVersion == str(rv) with rv <= self.rv, and a uid;
  S2 history is sorted by rv, every rv in it is > history_start and <= self.rv, len <= history_max;
  S3 an object of a namespaced kind has a namespace, one of a cluster kind has none;
  S4 every registered CRD resource has its CRD object stored;
  S5 uid_index and owner_index describe exactly the stored objects (rebuilt and compared).
All state is guarded by self.cond (one lock for everything: simple, and fast enough for tests).
"""

import base64
import bisect
import copy
import datetime
import json
import re
import threading
import time
import uuid

import patch as patchlib
import resources
import schema as schemalib

API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local'


class ApiError(Exception):
    """An error answered as a Status object."""

    def __init__(self, code, reason, message, details=None, headers=None, cont=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.cont = cont

    def status(self):
        st = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
              'message': self.message, 'reason': self.reason, 'code': self.code}
        if self.cont is not None:
            st['metadata']['continue'] = self.cont
        if self.details is not None:
            st['details'] = self.details
        return st


def _details(res, name):
    d = {'name': name, 'kind': res.plural}
    if res.group:
        d['group'] = res.group
    return d


def not_found(res, name):
    return ApiError(404, 'NotFound', '%s "%s" not found' % (res.qualified(), name),
                    _details(res, name))


def already_exists(res, name):
    return ApiError(409, 'AlreadyExists', '%s "%s" already exists' % (res.qualified(), name),
                    _details(res, name))


def conflict(res, name):
    return ApiError(409, 'Conflict',
                    'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                    'please apply your changes to the latest version and try again'
                    % (res.qualified(), name), _details(res, name))


def bad_request(message):
    return ApiError(400, 'BadRequest', message)


def invalid(res, name, errs):
    """422 Invalid from a list of schema.FieldError."""
    causes = [{'reason': e.reason, 'message': e.message(), 'field': e.field} for e in errs]
    if len(errs) == 1:
        body = errs[0].full()
    else:
        body = '[' + ', '.join(e.full() for e in errs) + ']'
    details = {'name': name, 'kind': res.kind, 'causes': causes}
    if res.group:
        details['group'] = res.group
    return ApiError(422, 'Invalid', '%s "%s" is invalid: %s' % (res.kind_qualified(), name, body),
                    details)


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


_DNS1123_SUB = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
_DNS1123_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
SUB_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
           "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
           "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
           "[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
             "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
             "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")

# Kinds whose names are DNS labels rather than subdomains.
LABEL_NAMED = {('', 'namespaces'), ('', 'services')}
# Kinds stored without a status stanza reset on create.
STATUS_ON_CREATE = {
    ('', 'namespaces'): lambda o: {'phase': 'Active'},
    ('', 'pods'): lambda o: {'phase': 'Pending', 'qosClass': 'BestEffort'},
    ('', 'services'): lambda o: {'loadBalancer': {}},
}
READY_KINDS = {('apps', 'deployments'), ('apps', 'statefulsets'), ('apps', 'replicasets')}
DEFAULT_NAMESPACES = ('default', 'kube-system', 'kube-public', 'kube-node-lease')
CONTINUE_EXPIRED = ('The provided continue parameter is too old to display a consistent list '
                    'result. You can start a new list without the continue parameter, or use the '
                    'continue token in this response to retrieve the remainder of the results. '
                    'Continuing with the provided token results in an inconsistent list - objects '
                    'that were created, modified, or deleted between the time the first chunk was '
                    'returned and now may show up in the list.')


def container_defaults(c):
    """The defaults the API server gives every container (SetDefaults_Container & co.)."""
    if not isinstance(c, dict):
        return
    image = c.get('image') or ''
    tag = image.rsplit('/', 1)[-1]
    latest = '@' not in image and (':' not in tag or tag.endswith(':latest'))
    c.setdefault('imagePullPolicy', 'Always' if latest else 'IfNotPresent')
    c.setdefault('terminationMessagePath', '/dev/termination-log')
    c.setdefault('terminationMessagePolicy', 'File')
    c.setdefault('resources', {})
    for p in c.get('ports') or []:
        if isinstance(p, dict):
            p.setdefault('protocol', 'TCP')
    for e in c.get('env') or []:
        ref = ((e or {}).get('valueFrom') or {}).get('fieldRef') if isinstance(e, dict) else None
        if isinstance(ref, dict):
            ref.setdefault('apiVersion', 'v1')
    for probe in ('livenessProbe', 'readinessProbe', 'startupProbe'):
        pr = c.get(probe)
        if isinstance(pr, dict):
            for f, v in (('timeoutSeconds', 1), ('periodSeconds', 10), ('successThreshold', 1),
                         ('failureThreshold', 3)):
                pr.setdefault(f, v)
            if isinstance(pr.get('httpGet'), dict):
                pr['httpGet'].setdefault('scheme', 'HTTP')
                pr['httpGet'].setdefault('path', '/')


def pod_spec_defaults(spec):
    """SetDefaults_PodSpec: what a Deployment's template or a Pod reads back after a write."""
    if not isinstance(spec, dict):
        return
    spec.setdefault('restartPolicy', 'Always')
    spec.setdefault('terminationGracePeriodSeconds', 30)
    spec.setdefault('dnsPolicy', 'ClusterFirst')
    spec.setdefault('securityContext', {})
    spec.setdefault('schedulerName', 'default-scheduler')
    if 'serviceAccountName' in spec and 'serviceAccount' not in spec:
        spec['serviceAccount'] = spec['serviceAccountName']   # the deprecated mirror field
    for field in ('containers', 'initContainers'):
        for c in spec.get(field) or []:
            container_defaults(c)
    for v in spec.get('volumes') or []:
        if not isinstance(v, dict):
            continue
        for src in ('secret', 'configMap'):
            if isinstance(v.get(src), dict):
                v[src].setdefault('defaultMode', 420)
        if isinstance(v.get('projected'), dict):
            v['projected'].setdefault('defaultMode', 420)


def template_defaults(spec):
    tpl = spec.get('template')
    if isinstance(tpl, dict):
        md = tpl.setdefault('metadata', {})
        if isinstance(md, dict):
            md.setdefault('creationTimestamp', None)    # a real server writes this null
        pod_spec_defaults(tpl.get('spec'))


class Event:
    __slots__ = ('rv', 'key', 'type', 'old', 'new')

    def __init__(self, rv, key, etype, old, new):
        self.rv = rv
        self.key = key      # (group, plural)
        self.type = etype   # ADDED, MODIFIED, DELETED
        self.old = old      # state before (None for ADDED)
        self.new = new      # state after (for DELETED: the last state, carrying the delete's rv)

    def to_json(self):
        return {'rv': self.rv, 'key': list(self.key), 'type': self.type, 'old': self.old,
                'new': self.new}

    @staticmethod
    def from_json(d):
        return Event(d['rv'], tuple(d['key']), d['type'], d['old'], d['new'])


def strip_for_compare(obj):
    o = copy.deepcopy(obj)
    md = o.get('metadata') or {}
    md.pop('resourceVersion', None)
    md.pop('managedFields', None)
    return o


def spec_part(obj):
    return {k: v for k, v in obj.items() if k not in ('metadata', 'status', 'apiVersion', 'kind')}


class Store:
    def __init__(self, history_max=5000, max_objects=100000, service_cidr_base='10.96.',
                 lb_pool=None, rv0_ignores_limit=False, ns_delay=0.5, ready_workloads=False,
                 stale_reads=0, log=None):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 1
        self.objects = {}               # (group, plural) -> {(ns, name): obj}
        self.history = []               # [Event], sorted by rv
        self.history_rvs = []           # parallel list of rvs for bisect
        self.history_start = 1          # watches from rv >= history_start are served
        self.history_max = history_max
        self.max_objects = max_objects
        self.registry = {}              # (group, plural) -> Resource
        self.watch_gen = 0              # bumped by drop_watches(): open watches end
        self.expire_gen = 0             # bumped by compact(): open watches get ERROR 410
        self.shutting_down = False
        self.gc_queue = []              # uids whose dependents must be collected
        self.uid_index = {}             # uid -> ((group, plural), (ns, name))
        self.owner_index = {}           # owner uid -> {((group, plural), (ns, name))}
        self.ns_queue = []              # (due monotonic time, namespace) being terminated
        self.ns_delay = ns_delay        # seconds a namespace stays Terminating with its content
        self.ready_workloads = ready_workloads
        self.workload_queue = []        # (key, ns, name) whose status must show ready replicas
        self.stall_until = 0.0          # monotonic time until which watches send nothing
        self.next_ip = 1
        self.service_cidr_base = service_cidr_base
        self.lb_pool = lb_pool          # e.g. "172.18.255." : LoadBalancer services get an IP
        self.next_lb = 1
        self.rv0_ignores_limit = rv0_ignores_limit
        self.stale_reads = stale_reads  # LIST/WATCH at rv=0 see the state this many versions ago
        self.stats = {'requests': 0, 'watches_open': 0, 'watches_total': 0, 'events': 0,
                      'compactions': 0, 'watches_dropped': 0, 'gone': 0}
        self.log = log or (lambda msg: None)
        for r in resources.builtin_resources():
            self.registry[r.key] = r
            self.objects[r.key] = {}

    # --- helpers ---------------------------------------------------------------------------------

    def find(self, group, version, plural):
        with self.cond:
            r = self.registry.get((group, plural))
            if r is None or version not in r.versions:
                return None
            return r

    def groups(self):
        """{group: [versions, preferred first]} of everything served."""
        with self.cond:
            out = {}
            for r in self.registry.values():
                vs = out.setdefault(r.group, [])
                for v in r.versions:
                    if v not in vs:
                        vs.append(v)
            for g in out:
                out[g].sort(key=resources.version_priority)
            return out

    def resources_in(self, group, version):
        with self.cond:
            return [r for r in self.registry.values() if r.group == group and version in r.versions]

    def out(self, res, version, obj):
        o = copy.deepcopy(obj)
        o['apiVersion'] = res.api_version(version)
        o['kind'] = res.kind
        return o

    def _bucket(self, res):
        return self.objects.setdefault(res.key, {})

    def _commit(self, res, etype, old, new):
        """Stores a change with the next resourceVersion and records the event. Returns new."""
        self.rv += 1
        new = copy.deepcopy(new)
        new.setdefault('metadata', {})['resourceVersion'] = str(self.rv)
        md = new['metadata']
        key = (md.get('namespace', ''), md['name'])
        bucket = self._bucket(res)
        self._index(res.key, bucket.get(key), None if etype == 'DELETED' else new)
        if etype == 'DELETED':
            bucket.pop(key, None)
        else:
            bucket[key] = new
        ev = Event(self.rv, res.key, etype, copy.deepcopy(old), copy.deepcopy(new))
        self.history.append(ev)
        self.history_rvs.append(self.rv)
        self.stats['events'] += 1
        if len(self.history) > self.history_max:
            drop = max(1, self.history_max // 10)
            self.history_start = self.history_rvs[drop - 1]
            del self.history[:drop]
            del self.history_rvs[:drop]
        self.cond.notify_all()
        return new

    def compact(self, expire_watches=True):
        """Forgets the whole history: every watch or list from an older version gets 410. With
        expire_watches, the open watches also end with an ERROR 410 event (as if they had fallen
        behind), so that their clients must relist."""
        with self.cond:
            self.history = []
            self.history_rvs = []
            self.history_start = self.rv
            self.stats['compactions'] += 1
            if expire_watches:
                self.expire_gen += 1
            self.cond.notify_all()
            return self.rv

    def drop_watches(self):
        with self.cond:
            self.watch_gen += 1
            self.cond.notify_all()
            return self.watch_gen

    def count(self):
        return sum(len(b) for b in self.objects.values())

    def check_invariants(self):
        with self.cond:
            problems = []
            for key, bucket in self.objects.items():
                res = self.registry.get(key)
                for (ns, name), obj in bucket.items():
                    md = obj.get('metadata') or {}
                    rv = md.get('resourceVersion')
                    if not rv or int(rv) > self.rv or not md.get('uid'):
                        problems.append('S1 %s %s/%s' % (key, ns, name))
                    if res is not None and bool(ns) != res.namespaced:
                        problems.append('S3 %s %s/%s' % (key, ns, name))
            prev = self.history_start
            for ev in self.history:
                if ev.rv <= prev or ev.rv > self.rv:
                    problems.append('S2 rv %d' % ev.rv)
                prev = ev.rv
            if len(self.history) > self.history_max:
                problems.append('S2 history length')
            saved = (self.uid_index, self.owner_index)
            self._reindex()
            if (self.uid_index, self.owner_index) != saved:
                problems.append('S5 uid/owner indexes differ from the objects')
            crds = self.objects.get(('apiextensions.k8s.io', 'customresourcedefinitions'), {})
            for r in self.registry.values():
                if r.crd is not None and ('', r.crd) not in crds:
                    problems.append('S4 %s' % r.crd)
            return problems

    # --- reads -----------------------------------------------------------------------------------

    def get(self, res, ns, name):
        with self.cond:
            obj = self._bucket(res).get((ns or '', name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def _snapshot(self, res, rv):
        """The objects of res as they were at rv (from the history), as {key: obj}."""
        cur = dict(self._bucket(res))
        if rv >= self.rv:
            return cur
        if rv < self.history_start:
            self.stats['gone'] += 1
            raise ApiError(410, 'Expired', 'too old resource version: %d (%d)'
                           % (rv, self.history_start))
        idx = bisect.bisect_right(self.history_rvs, rv)
        for ev in reversed(self.history[idx:]):
            if ev.key != res.key:
                continue
            md = ev.new['metadata']
            k = (md.get('namespace', ''), md['name'])
            if ev.type == 'ADDED':
                cur.pop(k, None)
            else:
                cur[k] = ev.old
        return cur

    def list(self, res, ns, label_reqs, field_reqs, matches, limit=0, cont=None, rv=None,
             rv_match=None):
        """Returns (items, list_rv, continue_token, remaining). matches(obj) filters."""
        with self.cond:
            snap_rv = self.rv
            start = None
            if cont:
                if rv not in (None, ''):
                    raise bad_request('specifying resource version is not allowed when using '
                                      'continue')
                try:
                    tok = json.loads(base64.b64decode(cont + '=' * (-len(cont) % 4)).decode())
                    snap_rv = int(tok['rv'])
                    start = tuple(tok['start'])
                except Exception:
                    raise bad_request('continue key is not valid: incorrect encoded start '
                                      'resourceVersion (version meta.k8s.io/v1)')
                if snap_rv == 0:
                    snap_rv = self.rv   # an inconsistent continuation: latest state
                elif snap_rv < self.history_start:
                    self.stats['gone'] += 1
                    raise ApiError(410, 'Expired', CONTINUE_EXPIRED,
                                   cont=self._token(0, start))
            elif rv not in (None, '', '0'):
                want = self._parse_rv(rv)
                self._wait_for(want)
                snap_rv = want if rv_match == 'Exact' else self.rv
            elif rv == '0' and self.stale_reads:
                # "any" version: the watch cache may lag behind (--stale-reads)
                snap_rv = max(self.history_start, self.rv - self.stale_reads)
            if rv == '0' and self.rv0_ignores_limit:
                limit = 0
            snap = self._snapshot(res, snap_rv)
            keys = sorted(k for k in snap if (not ns or k[0] == ns))
            if start is not None:
                keys = [k for k in keys if k > start]
            items, last = [], None
            remaining = 0
            for i, k in enumerate(keys):
                obj = snap[k]
                if not matches(obj):
                    continue
                if limit and len(items) >= limit:
                    remaining = sum(1 for kk in keys[i:] if matches(snap[kk]))
                    break
                items.append(copy.deepcopy(obj))
                last = k
            token = None
            if remaining:
                token = self._token(snap_rv, last)
            return items, snap_rv, token, remaining

    @staticmethod
    def _token(rv, start):
        raw = json.dumps({'v': 'meta.k8s.io/v1', 'rv': rv, 'start': list(start)})
        return base64.b64encode(raw.encode()).decode().rstrip('=')

    def _parse_rv(self, rv):
        try:
            v = int(rv)
            if v < 0:
                raise ValueError
            return v
        except (TypeError, ValueError):
            raise bad_request('invalid resource version: %s' % rv)

    def _wait_for(self, want, seconds=3.0):
        """Like the watch cache: a version from the future is waited for (3 s), then 504 with
        cause ResourceVersionTooLarge (e.g. a client that outlived a server restarted empty)."""
        deadline = time.monotonic() + seconds
        while want > self.rv:
            left = deadline - time.monotonic()
            if left <= 0 or self.shutting_down:
                raise self._too_large(want)
            self.cond.wait(left)

    def _too_large(self, want):
        return ApiError(504, 'Timeout', 'Too large resource version: %d, current: %d'
                        % (want, self.rv),
                        {'causes': [{'reason': 'ResourceVersionTooLarge',
                                     'message': 'Too large resource version'}],
                         'retryAfterSeconds': 1})

    # --- watch -----------------------------------------------------------------------------------

    def watch_start(self, res, ns, matches, rv, send_initial):
        """Returns (position, initial [(type, obj)], gen). Raises ApiError 410 for an old rv."""
        with self.cond:
            gen = (self.watch_gen, self.expire_gen)
            initial = []
            if rv in (None, '', '0') or send_initial:
                if send_initial and rv not in (None, '', '0'):
                    pos = self._parse_rv(rv)
                    if pos < self.history_start:
                        self.stats['gone'] += 1
                        raise ApiError(410, 'Expired', 'too old resource version: %d (%d)'
                                       % (pos, self.history_start))
                    self._wait_for(pos)
                at = self.rv
                if rv == '0' and self.stale_reads:
                    at = max(self.history_start, self.rv - self.stale_reads)
                snap = self._snapshot(res, at)
                for k in sorted(snap):
                    if ns and k[0] != ns:
                        continue
                    if matches(snap[k]):
                        initial.append(('ADDED', copy.deepcopy(snap[k])))
                return at, initial, gen
            pos = self._parse_rv(rv)
            self._wait_for(pos)
            if pos < self.history_start:
                self.stats['gone'] += 1
                raise ApiError(410, 'Expired', 'too old resource version: %d (%d)'
                               % (pos, self.history_start))
            return pos, initial, gen

    def watch_next(self, res, ns, matches, pos, gen, timeout):
        """Waits up to timeout for events after pos. Returns (events, new_pos, state) with state
        'ok', 'gone' (history compacted past pos), 'dropped' (drop_watches) or 'shutdown'."""
        with self.cond:
            deadline = time.monotonic() + timeout
            while True:
                if self.shutting_down:
                    return [], pos, 'shutdown'
                if self.watch_gen != gen[0]:
                    return [], pos, 'dropped'
                if pos < self.history_start or self.expire_gen != gen[1]:
                    self.stats['gone'] += 1
                    return [], pos, 'gone'
                stalled = self.stall_until - time.monotonic()
                if stalled > 0:
                    self.cond.wait(min(stalled, max(0.0, deadline - time.monotonic())))
                    if time.monotonic() >= deadline:
                        return [], pos, 'stalled'
                    continue
                if self.rv > pos:
                    events = []
                    idx = bisect.bisect_right(self.history_rvs, pos)
                    for ev in self.history[idx:]:
                        if ev.key != res.key:
                            continue
                        md = ev.new['metadata']
                        if ns and md.get('namespace', '') != ns:
                            continue
                        was = ev.old is not None and ev.type != 'ADDED' and matches(ev.old)
                        now = ev.type != 'DELETED' and matches(ev.new)
                        if ev.type == 'DELETED':
                            if was or matches(ev.new):
                                events.append(('DELETED', ev.new))
                        elif was and now:
                            events.append(('MODIFIED', ev.new))
                        elif now:
                            events.append(('ADDED', ev.new))
                        elif was:
                            events.append(('DELETED', ev.new))
                    return [(t, copy.deepcopy(o)) for t, o in events], self.rv, 'ok'
                left = deadline - time.monotonic()
                if left <= 0:
                    return [], pos, 'ok'
                self.cond.wait(left)

    # --- writes ----------------------------------------------------------------------------------

    def _check_name(self, res, name, errs):
        if res.key in LABEL_NAMED:
            if len(name) > 63 or not _DNS1123_LABEL.match(name):
                errs.append(schemalib.FieldError('FieldValueInvalid', 'metadata.name', LABEL_MSG,
                                                 name))
        elif res.crd is None and res.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            pass
        elif len(name) > 253 or not _DNS1123_SUB.match(name):
            errs.append(schemalib.FieldError('FieldValueInvalid', 'metadata.name', SUB_MSG, name))

    def _check_meta(self, md, errs):
        for field in ('labels', 'annotations'):
            v = md.get(field)
            if v is None:
                continue
            if not isinstance(v, dict):
                errs.append(schemalib.FieldError('FieldValueTypeInvalid', 'metadata.' + field,
                                                 'must be a map of strings', v))
                continue
            for k, val in v.items():
                if not isinstance(val, str):
                    errs.append(schemalib.FieldError('FieldValueTypeInvalid',
                                                     'metadata.%s.%s' % (field, k),
                                                     'must be a string', val))

    def _validate(self, res, version, obj, name):
        errs = []
        md = obj.get('metadata')
        if not isinstance(md, dict):
            raise bad_request('Object \'metadata\' is missing or not an object')
        self._check_name(res, name, errs)
        self._check_meta(md, errs)
        if res.crd is not None:
            sch = res.schemas.get(version)
            if sch is not None:
                schemalib.validate(obj, sch, '', errs)
        elif res.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            self._validate_crd(obj, errs)
        elif res.key == ('coordination.k8s.io', 'leases'):
            spec = obj.get('spec') or {}
            lds = spec.get('leaseDurationSeconds')
            if lds is not None and (not isinstance(lds, int) or lds <= 0):
                errs.append(schemalib.FieldError('FieldValueInvalid', 'spec.leaseDurationSeconds',
                                                 'must be greater than 0', lds))
        if errs:
            raise invalid(res, name, errs)

    def _validate_crd(self, crd, errs):
        spec = crd.get('spec')
        if not isinstance(spec, dict):
            errs.append(schemalib.FieldError('FieldValueRequired', 'spec', ''))
            return
        names = spec.get('names') if isinstance(spec.get('names'), dict) else {}
        for f in ('group',):
            if not isinstance(spec.get(f), str) or not spec.get(f):
                errs.append(schemalib.FieldError('FieldValueRequired', 'spec.' + f, ''))
        for f in ('plural', 'kind'):
            if not isinstance(names.get(f), str) or not names.get(f):
                errs.append(schemalib.FieldError('FieldValueRequired', 'spec.names.' + f, ''))
        if spec.get('scope') not in ('Namespaced', 'Cluster'):
            errs.append(schemalib.FieldError('FieldValueNotSupported', 'spec.scope',
                                             'supported values: "Cluster", "Namespaced"',
                                             spec.get('scope')))
        versions = spec.get('versions')
        if not isinstance(versions, list) or not versions:
            errs.append(schemalib.FieldError('FieldValueInvalid', 'spec.versions',
                                             'must have exactly one version marked as storage '
                                             'version', versions))
        else:
            storage = [v for v in versions if isinstance(v, dict) and v.get('storage')]
            if len(storage) != 1:
                errs.append(schemalib.FieldError('FieldValueInvalid', 'spec.versions',
                                                 'must have exactly one version marked as '
                                                 'storage version', '[]'))
            for i, v in enumerate(versions):
                if not isinstance(v, dict) or not isinstance(v.get('name'), str):
                    errs.append(schemalib.FieldError('FieldValueRequired',
                                                     'spec.versions[%d].name' % i, ''))
        expect = '%s.%s' % (names.get('plural'), spec.get('group'))
        name = (crd.get('metadata') or {}).get('name')
        if not errs and name != expect:
            errs.append(schemalib.FieldError('FieldValueInvalid', 'metadata.name',
                                             'must be spec.names.plural+"."+spec.group', name))
        if not errs:
            key = (spec['group'], names['plural'])
            other = self.registry.get(key)
            if other is not None and other.crd is None:
                errs.append(schemalib.FieldError('FieldValueInvalid', 'spec.names.plural',
                                                 'already served by a built-in kind',
                                                 names['plural']))

    def _crd_immutable(self, old, new):
        """group, names.plural, names.kind and scope of a CRD cannot change (real: immutable or
        refused while objects exist; here always)."""
        o, n = old.get('spec') or {}, new.get('spec') or {}
        errs = []
        for path, a, b in (('spec.group', o.get('group'), n.get('group')),
                           ('spec.scope', o.get('scope'), n.get('scope')),
                           ('spec.names.plural', (o.get('names') or {}).get('plural'),
                            (n.get('names') or {}).get('plural')),
                           ('spec.names.kind', (o.get('names') or {}).get('kind'),
                            (n.get('names') or {}).get('kind'))):
            if a != b:
                errs.append(schemalib.FieldError('FieldValueInvalid', path, 'field is immutable',
                                                 b))
        if errs:
            res = self.registry[('apiextensions.k8s.io', 'customresourcedefinitions')]
            raise invalid(res, old['metadata']['name'], errs)

    def _prepare_cr(self, res, version, obj, field_validation=None, warnings=None):
        """Prune and default a custom resource against its version's schema (in place).
        fieldValidation Strict refuses unknown fields (400); Warn (the default) reports them."""
        sch = res.schemas.get(version)
        if sch is not None:
            dropped = []
            schemalib.prune(obj, sch, dropped=dropped)
            if dropped and field_validation == 'Strict':
                raise bad_request('%s in version "%s" cannot be handled as a %s: strict decoding '
                                  'error: %s' % (res.kind, version, res.kind,
                                                 ', '.join('unknown field "%s"' % d
                                                           for d in dropped)))
            if dropped and field_validation != 'Ignore' and warnings is not None:
                warnings.extend('unknown field "%s"' % d for d in dropped)
            schemalib.apply_defaults(obj, sch)

    def _check_kind(self, res, version, body):
        kind = body.get('kind')
        if kind not in (None, '') and kind != res.kind:
            raise bad_request('the kind of the object (%s) does not match the kind on the URL (%s)'
                              % (kind, res.kind))
        av = body.get('apiVersion')
        if av not in (None, '') and av != res.api_version(version):
            raise bad_request('the API version in the data (%s) does not match the expected API '
                              'version (%s)' % (av, res.api_version(version)))

    def _namespace_ok(self, res, ns):
        if not res.namespaced:
            return
        nsobj = self.objects[('', 'namespaces')].get(('', ns))
        if nsobj is None:
            raise ApiError(404, 'NotFound', 'namespaces "%s" not found' % ns,
                           {'name': ns, 'kind': 'namespaces'})
        if (nsobj.get('metadata') or {}).get('deletionTimestamp'):
            raise ApiError(403, 'Forbidden', 'unable to create new content in namespace %s '
                           'because it is being terminated' % ns,
                           {'name': ns, 'kind': 'namespaces',
                            'causes': [{'reason': 'NamespaceTerminating',
                                        'message': 'namespace %s is being terminated' % ns,
                                        'field': 'metadata.namespace'}]})

    def create(self, res, version, ns, body, dry_run=False, field_validation=None, warnings=None):
        with self.cond:
            if not isinstance(body, dict):
                raise bad_request('the body of the request must be a JSON object')
            self._check_kind(res, version, body)
            obj = copy.deepcopy(body)
            md = obj.setdefault('metadata', {})
            if not isinstance(md, dict):
                raise bad_request('metadata must be an object')
            if res.namespaced:
                bns = md.get('namespace')
                if bns and bns != ns:
                    raise bad_request('the namespace of the provided object does not match the '
                                      'namespace sent on the request')
                md['namespace'] = ns
            else:
                md.pop('namespace', None)
            name = md.get('name')
            if not name:
                gen = md.get('generateName')
                if gen:
                    name = gen + uuid.uuid4().hex[:5]
                    md['name'] = name
                else:
                    raise invalid(res, '', [schemalib.FieldError(
                        'FieldValueRequired', 'metadata.name',
                        'name or generateName is required')])
            if not isinstance(name, str):
                raise bad_request('metadata.name must be a string')
            if self.count() >= self.max_objects:
                raise ApiError(429, 'TooManyRequests', 'the test API server holds %d objects '
                               '(--max-objects)' % self.max_objects, headers={'Retry-After': '1'})
            self._namespace_ok(res, ns)
            if (ns if res.namespaced else '', name) in self._bucket(res):
                raise already_exists(res, name)
            obj['apiVersion'] = res.api_version(version)
            obj['kind'] = res.kind
            for f in ('resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds',
                      'managedFields', 'selfLink'):
                md.pop(f, None)
            md['uid'] = str(uuid.uuid4())
            md['creationTimestamp'] = now_rfc3339()
            if res.generation:
                md['generation'] = 1
            else:
                md.pop('generation', None)
            if res.crd is not None:
                if res.status:
                    obj.pop('status', None)
                self._prepare_cr(res, version, obj, field_validation, warnings)
            elif res.key in STATUS_ON_CREATE:
                obj['status'] = STATUS_ON_CREATE[res.key](obj)
            elif res.status:
                obj.pop('status', None)
            self._defaults(res, obj)
            self._validate(res, version, obj, name)
            if dry_run:
                return obj
            obj = self._commit(res, 'ADDED', None, obj)
            self._after_write(res, None, obj)
            return copy.deepcopy(obj)

    def _defaults(self, res, obj):
        """Defaulting and allocation the built-in kinds get from the real server."""
        spec = obj.get('spec')
        if res.key == ('', 'services'):
            spec = obj.setdefault('spec', {})
            stype = spec.setdefault('type', 'ClusterIP')
            if stype != 'ExternalName':
                if not spec.get('clusterIP'):
                    spec['clusterIP'] = self._alloc_ip()
                if spec.get('clusterIP') != 'None':
                    spec.setdefault('clusterIPs', [spec['clusterIP']])
                    spec.setdefault('ipFamilies', ['IPv4'])
                    spec.setdefault('ipFamilyPolicy', 'SingleStack')
                    spec.setdefault('internalTrafficPolicy', 'Cluster')
                spec.setdefault('sessionAffinity', 'None')
            for p in spec.get('ports') or []:
                if isinstance(p, dict):
                    p.setdefault('protocol', 'TCP')
                    if 'port' in p:
                        p.setdefault('targetPort', p['port'])
                    if stype in ('NodePort', 'LoadBalancer') and 'nodePort' not in p:
                        p['nodePort'] = 30000 + (self.next_ip % 2700)
            if stype == 'LoadBalancer':
                spec.setdefault('externalTrafficPolicy', 'Cluster')
                spec.setdefault('allocateLoadBalancerNodePorts', True)
                if self.lb_pool and not (obj.get('status') or {}).get('loadBalancer', {}).get(
                        'ingress'):
                    obj['status'] = {'loadBalancer': {'ingress': [
                        {'ip': '%s%d' % (self.lb_pool, self.next_lb), 'ipMode': 'VIP'}]}}
                    self.next_lb += 1
        elif res.key == ('apps', 'deployments') and isinstance(spec, dict):
            spec.setdefault('replicas', 1)
            spec.setdefault('revisionHistoryLimit', 10)
            spec.setdefault('progressDeadlineSeconds', 600)
            spec.setdefault('strategy', {'type': 'RollingUpdate',
                                         'rollingUpdate': {'maxSurge': '25%',
                                                           'maxUnavailable': '25%'}})
            template_defaults(spec)
        elif res.key in (('apps', 'replicasets'), ('apps', 'statefulsets'),
                         ('apps', 'daemonsets')) and isinstance(spec, dict):
            if res.key != ('apps', 'daemonsets'):
                spec.setdefault('replicas', 1)
            template_defaults(spec)
        elif res.key == ('', 'pods') and isinstance(spec, dict):
            pod_spec_defaults(spec)
            spec.setdefault('priority', 0)
            spec.setdefault('preemptionPolicy', 'PreemptLowerPriority')
            spec.setdefault('tolerations', [
                {'key': 'node.kubernetes.io/not-ready', 'operator': 'Exists',
                 'effect': 'NoExecute', 'tolerationSeconds': 300},
                {'key': 'node.kubernetes.io/unreachable', 'operator': 'Exists',
                 'effect': 'NoExecute', 'tolerationSeconds': 300}])
        elif res.key == ('', 'secrets'):
            obj.setdefault('type', 'Opaque')
        elif res.key == ('', 'namespaces'):
            obj.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])
            md = obj['metadata']
            md.setdefault('labels', {})['kubernetes.io/metadata.name'] = md['name']
        elif res.key == ('apiextensions.k8s.io', 'customresourcedefinitions') and \
                isinstance(spec, dict):
            for v in spec.get('versions') or []:
                if isinstance(v, dict):
                    v.setdefault('served', True)
            if isinstance(spec.get('conversion'), dict) is False:
                spec['conversion'] = {'strategy': 'None'}

    def _alloc_ip(self):
        used = {(o.get('spec') or {}).get('clusterIP')
                for o in self.objects[('', 'services')].values()}
        while True:
            n = self.next_ip
            self.next_ip += 1
            ip = '%s%d.%d' % (self.service_cidr_base, (n // 250) % 250, n % 250 + 1)
            if ip not in used:
                return ip

    def update(self, res, version, ns, name, body, subresource=None, dry_run=False,
               precondition_rv=None, field_validation=None, warnings=None):
        """PUT (and the last step of PATCH). subresource None or 'status'."""
        with self.cond:
            if not isinstance(body, dict):
                raise bad_request('the body of the request must be a JSON object')
            self._check_kind(res, version, body)
            key = (ns if res.namespaced else '', name)
            old = self._bucket(res).get(key)
            bmd = body.get('metadata')
            if not isinstance(bmd, dict):
                raise bad_request('metadata must be an object')
            if bmd.get('name') not in (None, name):
                raise bad_request('the name of the object (%s) does not match the name on the URL '
                                  '(%s)' % (bmd.get('name'), name))
            if res.namespaced and bmd.get('namespace') not in (None, '', ns):
                raise bad_request('the namespace of the provided object does not match the '
                                  'namespace sent on the request')
            if old is None:
                raise not_found(res, name)
            want_rv = bmd.get('resourceVersion') if precondition_rv is None else precondition_rv
            if want_rv not in (None, '') and want_rv != old['metadata']['resourceVersion']:
                raise conflict(res, name)
            new = copy.deepcopy(body)
            omd = old['metadata']
            nmd = new['metadata']
            if subresource == 'status':
                # Only status changes; everything else is the stored object.
                merged = copy.deepcopy(old)
                if 'status' in new:
                    merged['status'] = new['status']
                else:
                    merged.pop('status', None)
                new = merged
                nmd = new['metadata']
            else:
                for f in ('uid', 'creationTimestamp', 'deletionTimestamp',
                          'deletionGracePeriodSeconds', 'generation'):
                    if f in omd:
                        nmd[f] = omd[f]
                    else:
                        nmd.pop(f, None)
                nmd['name'] = name
                if res.namespaced:
                    nmd['namespace'] = ns
                else:
                    nmd.pop('namespace', None)
                nmd.pop('managedFields', None)
                if res.status:
                    if 'status' in old:
                        new['status'] = copy.deepcopy(old['status'])
                    else:
                        new.pop('status', None)
            new['apiVersion'] = res.api_version(version)
            new['kind'] = res.kind
            nmd['resourceVersion'] = omd['resourceVersion']
            if res.crd is not None:
                self._prepare_cr(res, version, new, field_validation, warnings)
            if subresource != 'status':
                self._defaults_update(res, old, new)
            if res.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
                self._crd_immutable(old, new)
            if res.generation and spec_part(old) != spec_part(new):
                nmd['generation'] = omd.get('generation', 1) + 1
            self._validate(res, version, new, name)
            if strip_for_compare(new) == strip_for_compare(old):
                return copy.deepcopy(old)       # a no-op write: no new version, no event
            if dry_run:
                return new
            if omd.get('deletionTimestamp') and not nmd.get('finalizers'):
                gone = self._commit(res, 'DELETED', old, new)
                self._after_delete(res, gone, 'Background')
                return copy.deepcopy(gone)
            new = self._commit(res, 'MODIFIED', old, new)
            self._after_write(res, old, new)
            return copy.deepcopy(new)

    def _defaults_update(self, res, old, new):
        if res.key == ('', 'services'):
            spec = new.setdefault('spec', {})
            ospec = old.get('spec') or {}
            for f in ('clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy'):
                if f not in spec and f in ospec:
                    spec[f] = copy.deepcopy(ospec[f])
            self._defaults(res, new)
        elif res.key in (('apps', 'deployments'), ('apps', 'replicasets'),
                         ('apps', 'statefulsets'), ('apps', 'daemonsets'), ('', 'pods'),
                         ('', 'secrets'), ('', 'namespaces'),
                         ('apiextensions.k8s.io', 'customresourcedefinitions')):
            self._defaults(res, new)

    def patch(self, res, version, ns, name, ptype, body, subresource=None, dry_run=False,
              field_manager=None, force=False, field_validation=None, warnings=None):
        with self.cond:
            key = (ns if res.namespaced else '', name)
            old = self._bucket(res).get(key)
            if ptype == 'apply':
                if not field_manager:
                    raise bad_request('PATCH, application/apply-patch+yaml requires fieldManager '
                                      'to be set')
                if not isinstance(body, dict):
                    raise bad_request('the applied configuration must be an object')
                if old is None:
                    if subresource == 'status':
                        raise not_found(res, name)
                    b = copy.deepcopy(body)
                    b.setdefault('metadata', {})['name'] = name
                    return self.create(res, version, ns, b, dry_run=dry_run,
                                       field_validation=field_validation, warnings=warnings)
            if old is None:
                raise not_found(res, name)
            cur = self.out(res, version, old)
            try:
                if ptype == 'merge':
                    if not isinstance(body, dict):
                        raise patchlib.PatchError('a merge patch must be a JSON object', 400)
                    new = patchlib.merge_patch(cur, body)
                elif ptype == 'json':
                    new = patchlib.json_patch(cur, body)
                elif ptype == 'strategic':
                    if res.crd is not None:
                        raise ApiError(415, 'UnsupportedMediaType',
                                       'the body of the request was in an unknown format - '
                                       'accepted media types include: '
                                       'application/json-patch+json, '
                                       'application/merge-patch+json, '
                                       'application/apply-patch+yaml')
                    if not isinstance(body, dict):
                        raise patchlib.PatchError('a strategic merge patch must be a JSON object',
                                                  400)
                    new = patchlib.strategic_merge(cur, body)
                else:
                    new = patchlib.apply_patch(cur, body)
            except patchlib.PatchError as e:
                if e.code == 400:
                    raise bad_request(str(e))
                raise ApiError(422, 'Invalid', str(e))
            if not isinstance(new, dict):
                raise bad_request('the patched object is not a JSON object')
            nmd = new.get('metadata') if isinstance(new.get('metadata'), dict) else {}
            # A resourceVersion in the patch makes it conditional.
            prv = nmd.get('resourceVersion')
            if prv != old['metadata']['resourceVersion']:
                if prv in (None, ''):
                    prv = None
                else:
                    raise conflict(res, name)
            new.setdefault('metadata', {})['resourceVersion'] = old['metadata']['resourceVersion']
            return self.update(res, version, ns, name, new, subresource=subresource,
                               dry_run=dry_run, precondition_rv=old['metadata']['resourceVersion'],
                               field_validation=field_validation, warnings=warnings)

    def delete(self, res, ns, name, propagation=None, precondition_rv=None,
               precondition_uid=None, dry_run=False):
        with self.cond:
            key = (ns if res.namespaced else '', name)
            old = self._bucket(res).get(key)
            if old is None:
                raise not_found(res, name)
            omd = old['metadata']
            if precondition_rv and precondition_rv != omd['resourceVersion']:
                raise conflict(res, name)
            if precondition_uid and precondition_uid != omd.get('uid'):
                raise ApiError(409, 'Conflict', 'Precondition failed: UID in precondition: %s, '
                               'UID in object meta: %s' % (precondition_uid, omd.get('uid')),
                               _details(res, name))
            if dry_run:
                return copy.deepcopy(old)
            if res.key == ('', 'namespaces'):
                if name in ('default', 'kube-system', 'kube-public'):
                    raise ApiError(403, 'Forbidden', 'namespaces "%s" is forbidden: this '
                                   'namespace may not be deleted' % name, _details(res, name))
                if omd.get('deletionTimestamp'):
                    return copy.deepcopy(old)
                new = copy.deepcopy(old)
                new['metadata']['deletionTimestamp'] = now_rfc3339()
                new['metadata']['deletionGracePeriodSeconds'] = 0
                new['status'] = {'phase': 'Terminating'}
                new = self._commit(res, 'MODIFIED', old, new)
                self.ns_queue.append((time.monotonic() + self.ns_delay, name))
                self.cond.notify_all()
                return copy.deepcopy(new)
            if omd.get('finalizers'):
                if omd.get('deletionTimestamp'):
                    return copy.deepcopy(old)
                new = copy.deepcopy(old)
                new['metadata']['deletionTimestamp'] = now_rfc3339()
                new['metadata']['deletionGracePeriodSeconds'] = 0
                new = self._commit(res, 'MODIFIED', old, new)
                return copy.deepcopy(new)
            gone = self._commit(res, 'DELETED', old, old)
            self._after_delete(res, gone, propagation or 'Background')
            return copy.deepcopy(gone)

    # --- side effects of writes ------------------------------------------------------------------

    def _after_write(self, res, old, new):
        if self.ready_workloads and res.key in READY_KINDS and \
                (new.get('status') or {}).get('observedGeneration') != \
                new['metadata'].get('generation'):
            md = new['metadata']
            self.workload_queue.append((res.key, md.get('namespace', ''), md['name']))
            self.cond.notify_all()
        if res.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            self._register_crd(old, new)
        elif res.key == ('', 'namespaces') and old is None:
            name = new['metadata']['name']
            sas = self._bucket(self.registry[('', 'serviceaccounts')])
            if (name, 'default') not in sas:
                self._commit(self.registry[('', 'serviceaccounts')], 'ADDED', None, {
                    'apiVersion': 'v1', 'kind': 'ServiceAccount',
                    'metadata': {'name': 'default', 'namespace': name,
                                 'uid': str(uuid.uuid4()),
                                 'creationTimestamp': now_rfc3339()}})

    def _register_crd(self, old, new):
        try:
            r = resources.crd_resource(new)
        except Exception as e:      # validated already; keep serving what was there
            self.log('crd %s: not served: %s' % (new['metadata']['name'], e))
            return
        if old is not None:
            oldspec = old.get('spec') or {}
            okey = (oldspec.get('group'), (oldspec.get('names') or {}).get('plural'))
            if okey != r.key and okey in self.registry:
                del self.registry[okey]
        self.registry[r.key] = r
        self.objects.setdefault(r.key, {})
        names = copy.deepcopy(new['spec']['names'])
        names.setdefault('singular', names['kind'].lower())
        names.setdefault('listKind', names['kind'] + 'List')
        ts = now_rfc3339()
        status = {
            'acceptedNames': names,
            'conditions': [
                {'type': 'NamesAccepted', 'status': 'True', 'reason': 'NoConflicts',
                 'message': 'no conflicts found', 'lastTransitionTime': ts},
                {'type': 'Established', 'status': 'True', 'reason': 'InitialNamesAccepted',
                 'message': 'the initial names have been accepted', 'lastTransitionTime': ts}],
            'storedVersions': sorted(set(((old or {}).get('status') or {}).get('storedVersions', [])
                                         + [r.storage_version])),
        }
        if new.get('status') != status:
            if (new.get('status') or {}).get('conditions'):
                # keep the original transition times
                status['conditions'] = new['status']['conditions']
            if new.get('status') != status:
                upd = copy.deepcopy(new)
                upd['status'] = status
                crdres = self.registry[('apiextensions.k8s.io', 'customresourcedefinitions')]
                self._commit(crdres, 'MODIFIED', new, upd)

    def _after_delete(self, res, gone, propagation):
        if res.key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            spec = gone.get('spec') or {}
            key = (spec.get('group'), (spec.get('names') or {}).get('plural'))
            r = self.registry.get(key)
            if r is not None and r.crd == gone['metadata']['name']:
                for k in sorted(self._bucket(r)):
                    obj = self._bucket(r)[k]
                    self._commit(r, 'DELETED', obj, obj)
                del self.registry[key]
        uid = gone['metadata'].get('uid')
        if propagation == 'Orphan':
            for dres, obj in self._dependents(uid):
                new = copy.deepcopy(obj)
                new['metadata']['ownerReferences'] = [
                    o for o in obj['metadata']['ownerReferences'] if o.get('uid') != uid]
                if not new['metadata']['ownerReferences']:
                    del new['metadata']['ownerReferences']
                self._commit(dres, 'MODIFIED', obj, new)
        else:
            self.gc_queue.append(uid)
            self.cond.notify_all()

    def _dependents(self, uid):
        """[(Resource, obj)] of the stored objects with an ownerReference to uid (index)."""
        out = []
        for key, okey in sorted(self.owner_index.get(uid, ())):
            res = self.registry.get(key)
            obj = self.objects.get(key, {}).get(okey)
            if res is not None and obj is not None:
                out.append((res, obj))
        return out

    def _uid_exists(self, uid):
        return uid in self.uid_index

    def _index(self, key, old, new):
        """Keeps uid_index (uid -> where) and owner_index (owner uid -> dependents) in step with
        a change from old to new (either may be None)."""
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            md = obj.get('metadata') or {}
            okey = (md.get('namespace', ''), md.get('name'))
            uid = md.get('uid')
            if uid:
                if add:
                    self.uid_index[uid] = (key, okey)
                elif self.uid_index.get(uid) == (key, okey):
                    del self.uid_index[uid]
            for ref in md.get('ownerReferences') or []:
                if not isinstance(ref, dict) or not isinstance(ref.get('uid'), str):
                    continue
                deps = self.owner_index.setdefault(ref['uid'], set())
                if add:
                    deps.add((key, okey))
                else:
                    deps.discard((key, okey))
                    if not deps:
                        del self.owner_index[ref['uid']]

    def _reindex(self):
        self.uid_index, self.owner_index = {}, {}
        for key, bucket in self.objects.items():
            for obj in bucket.values():
                self._index(key, None, obj)

    def _workload_ready(self, key, ns, name):
        """What the deployment / statefulset / replicaset controllers and the kubelets would end
        up writing when every pod starts at once (--ready-workloads)."""
        res = self.registry.get(key)
        obj = self._bucket(res).get((ns, name)) if res else None
        if obj is None or obj['metadata'].get('deletionTimestamp'):
            return
        n = (obj.get('spec') or {}).get('replicas', 1)
        ts = now_rfc3339()
        status = {'observedGeneration': obj['metadata'].get('generation', 1), 'replicas': n,
                  'updatedReplicas': n, 'readyReplicas': n, 'availableReplicas': n}
        if key == ('apps', 'deployments'):
            status['conditions'] = [
                {'type': 'Available', 'status': 'True', 'reason': 'MinimumReplicasAvailable',
                 'message': 'Deployment has minimum availability.', 'lastUpdateTime': ts,
                 'lastTransitionTime': ts},
                {'type': 'Progressing', 'status': 'True', 'reason': 'NewReplicaSetAvailable',
                 'message': 'ReplicaSet "%s" has successfully progressed.' % name,
                 'lastUpdateTime': ts, 'lastTransitionTime': ts}]
        elif key == ('apps', 'statefulsets'):
            status['currentReplicas'] = n
        new = copy.deepcopy(obj)
        new['status'] = status
        self._commit(res, 'MODIFIED', obj, new)

    def background_step(self):
        """One step of the garbage collector, the namespace controller and (--ready-workloads)
        the workload controllers; True if it did work."""
        with self.cond:
            if self.workload_queue:
                self._workload_ready(*self.workload_queue.pop(0))
                return True
            if self.gc_queue:
                uid = self.gc_queue.pop(0)
                for dres, obj in self._dependents(uid):
                    md = obj['metadata']
                    others = [o for o in md['ownerReferences']
                              if isinstance(o, dict) and o.get('uid') != uid]
                    if any(self._uid_exists(o.get('uid')) for o in others):
                        continue
                    cur = self._bucket(dres).get((md.get('namespace', ''), md['name']))
                    if cur is None:
                        continue
                    try:
                        self.delete(dres, md.get('namespace', ''), md['name'])
                    except ApiError:
                        pass
                return True
            if self.ns_queue and self.ns_queue[0][0] <= time.monotonic():
                ns = self.ns_queue.pop(0)[1]
                for key in list(self.objects):
                    res = self.registry.get(key)
                    if res is None or not res.namespaced:
                        continue
                    for k in sorted(self._bucket(res)):
                        if k[0] != ns:
                            continue
                        obj = self._bucket(res)[k]
                        if obj['metadata'].get('finalizers'):
                            # finalizers block deletion, as in a real cluster: drop them (the
                            # controllers owning them do not run here)
                            pass
                        gone = self._commit(res, 'DELETED', obj, obj)
                        self.gc_queue.append(gone['metadata'].get('uid'))
                nsres = self.registry[('', 'namespaces')]
                obj = self._bucket(nsres).get(('', ns))
                if obj is not None:
                    self._commit(nsres, 'DELETED', obj, obj)
                return True
            return False

    def bootstrap(self):
        with self.cond:
            nsres = self.registry[('', 'namespaces')]
            for ns in DEFAULT_NAMESPACES:
                if ('', ns) not in self._bucket(nsres):
                    self.create(nsres, 'v1', '', {'metadata': {'name': ns}})

    # --- persistence -----------------------------------------------------------------------------

    def dump(self):
        with self.cond:
            objs = []
            for key, bucket in self.objects.items():
                for obj in bucket.values():
                    objs.append({'key': list(key), 'object': obj})
            return {'version': 1, 'rv': self.rv, 'history_start': self.history_start,
                    'next_ip': self.next_ip, 'next_lb': self.next_lb,
                    'objects': objs, 'history': [e.to_json() for e in self.history]}

    def load(self, state):
        with self.cond:
            if state.get('version') != 1:
                raise ValueError('state: unknown version %r' % state.get('version'))
            crds = [o for o in state['objects']
                    if tuple(o['key']) == ('apiextensions.k8s.io', 'customresourcedefinitions')]
            for o in crds:
                r = resources.crd_resource(o['object'])
                self.registry[r.key] = r
            for o in state['objects']:
                key = tuple(o['key'])
                md = o['object']['metadata']
                self.objects.setdefault(key, {})[(md.get('namespace', ''), md['name'])] = \
                    o['object']
            self.rv = int(state['rv'])
            self.history = [Event.from_json(e) for e in state.get('history', [])]
            self.history_rvs = [e.rv for e in self.history]
            self.history_start = int(state.get('history_start', self.rv))
            self.next_ip = int(state.get('next_ip', 1))
            self.next_lb = int(state.get('next_lb', 1))
            self._reindex()
