#!/usr/bin/python3
"""A test Kubernetes API server: HTTPS + bearer tokens / client certificates, discovery, built-in
kinds and CRDs, LIST/WATCH with resourceVersion semantics, status subresource, the four PATCH
types, TokenRequest/TokenReview, Leases. Test code: one process, state in memory (optionally saved
to --state-dir on SIGTERM and reloaded on start). See docs/test-apiserver.md.

Stable command line (other tests start it):
    apiserver.py --port 0 --dir DIR
prints `READY https://127.0.0.1:PORT kubeconfig=DIR/kubeconfig` on stdout once it serves.
"""

import argparse
import base64
import json
import os
import random
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True     # the source tree stays clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import auth as authlib          # noqa: E402
import k8spb                    # noqa: E402
import openapi                  # noqa: E402
import resources                # noqa: E402
import tables                   # noqa: E402
import labelsel as sel          # noqa: E402
from store import ApiError, Store, bad_request, conflict, invalid  # noqa: E402
import patch as patchlib          # noqa: E402
import schema as schemalib      # noqa: E402

try:
    import yaml
except ImportError:             # only application/apply-patch+yaml needs it
    yaml = None

VERSION_INFO = {'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0-krtgate-test',
                'gitCommit': '0000000000000000000000000000000000000000', 'gitTreeState': 'clean',
                'buildDate': '2026-01-01T00:00:00Z', 'goVersion': 'go1.23.0', 'compiler': 'gc',
                'platform': 'linux/amd64'}
MAX_BODY = 3 * 1024 * 1024
PATCH_TYPES = {'application/merge-patch+json': 'merge', 'application/json-patch+json': 'json',
               'application/strategic-merge-patch+json': 'strategic',
               'application/apply-patch+yaml': 'apply', 'application/apply-patch+cbor': None}


def log(msg):
    sys.stderr.write('apiserver: %s\n' % msg)
    sys.stderr.flush()


class Faults:
    """Injected failures: the next `count` requests whose method and path match answer `code`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def add(self, rule):
        with self.lock:
            self.rules.append(rule)

    def take(self, method, path):
        with self.lock:
            for r in self.rules:
                if r['method'] not in ('', method) or not path.startswith(r['path']):
                    continue
                r['count'] -= 1
                if r['count'] <= 0:
                    self.rules.remove(r)
                return r
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ctx, app):
        self.ctx = ctx
        self.app = app
        self.active = 0
        self.active_lock = threading.Lock()
        self.conns = set()
        self.h2_conns = set()           # h2server.H2Conn of the open HTTP/2 connections
        self.h2 = None                  # the h2server module with --http2
        self.h2_handler = None
        if app.args.http2:
            import h2server
            self.h2 = h2server
            self.h2_handler = h2server.make_handler_class(handler)
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with self.active_lock:
            if self.active >= self.app.max_connections:
                self.shutdown_request(request)
                return
            self.active += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            request.settimeout(10)
            # headers and body go out in separate writes: without this, Nagle + delayed ACK
            # add 40 ms to every answer
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                tls = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                request.close()
                return
            with self.active_lock:
                self.conns.add(tls)
            try:
                tls.settimeout(self.app.idle_timeout)
                if self.h2 is not None and tls.selected_alpn_protocol() == 'h2':
                    self.h2.serve(self, tls, client_address, self.h2_handler, MAX_BODY,
                                  self.app.idle_timeout)
                else:
                    self.finish_request(tls, client_address)
            except Exception:
                pass
            finally:
                with self.active_lock:
                    self.conns.discard(tls)
                try:
                    tls.close()
                except OSError:
                    pass
        finally:
            with self.active_lock:
                self.active -= 1

    def goaway_all(self):
        """HTTP/2 connections get GOAWAY and close; returns how many."""
        with self.active_lock:
            h2c = list(self.h2_conns)
        for c in h2c:
            c.goaway()
        return len(h2c)

    def abort_all(self):
        self.goaway_all()
        time.sleep(0.1 if self.h2_conns else 0)
        with self.active_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class App:
    """Everything a request handler needs."""

    def __init__(self, args):
        self.args = args
        self.store = Store(history_max=args.history, max_objects=args.max_objects,
                           lb_pool=args.lb_pool, rv0_ignores_limit=args.rv0_ignores_limit,
                           ns_delay=args.namespace_delay, ready_workloads=args.ready_workloads,
                           stale_reads=args.stale_reads,
                           log=log if args.verbose else None)
        self.auth = None
        self.faults = Faults()
        self.max_connections = args.max_connections
        self.max_watches = args.max_watches
        self.idle_timeout = 120
        self.url = None
        self.stop_event = threading.Event()

    def sa_uid(self, ns, name, kind='ServiceAccount'):
        """The uid of a ServiceAccount (or of a token's bound Pod, Secret or Node), or None."""
        key = {'ServiceAccount': ('', 'serviceaccounts'), 'Pod': ('', 'pods'),
               'Secret': ('', 'secrets'), 'Node': ('', 'nodes')}.get(kind)
        if key is None:
            return None
        if kind == 'Node':
            ns = ''
        with self.store.cond:
            obj = self.store.objects[key].get((ns or '', name or ''))
            return None if obj is None else obj['metadata'].get('uid')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'krtgate-test-apiserver'
    sys_version = ''

    # --- plumbing --------------------------------------------------------------------------------

    def log_message(self, fmt, *args):
        if self.server.app.args.verbose:
            log('%s %s' % (self.address_string(), fmt % args))

    @property
    def app(self):
        return self.server.app

    def send_json(self, code, obj, headers=None):
        data = json.dumps(obj, separators=(',', ':')).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Cache-Control', 'no-cache, private')
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        for w in getattr(self, 'warnings', None) or []:
            self.send_header('Warning', '299 - %s' % json.dumps(w))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def send_text(self, code, text, ctype='text/plain; charset=utf-8'):
        data = text.encode()
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_status(self, err):
        self.send_json(err.code, err.status(), err.headers)

    def read_body(self):
        te = (self.headers.get('Transfer-Encoding') or '').lower()
        if te == 'chunked':
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b'\r\n', b'\n', b''):
                        pass
                    break
                if len(out) + size > MAX_BODY:
                    raise ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit '
                                   'is %d' % MAX_BODY)
                out += self.rfile.read(size)
                self.rfile.readline(16)
            return bytes(out)
        n = int(self.headers.get('Content-Length') or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is %d'
                           % MAX_BODY)
        return self.rfile.read(n) if n > 0 else b''

    def parse_body(self, raw, ctype):
        if not raw.strip():
            raise bad_request('the request body is empty')
        if 'yaml' in ctype:
            if yaml is None:
                raise ApiError(415, 'UnsupportedMediaType', 'YAML bodies need python3-yaml')
            try:
                return yaml.safe_load(raw.decode())
            except Exception as e:
                raise bad_request('error decoding YAML: %s' % e)
        if 'protobuf' in ctype:
            try:
                return k8spb.decode_object(raw)
            except k8spb.PbError as e:
                raise ApiError(415, 'UnsupportedMediaType', str(e))
        if 'cbor' in ctype:
            raise ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown '
                           'format - accepted media types include: application/json, '
                           'application/yaml')
        try:
            return json.loads(raw.decode())
        except Exception as e:
            raise bad_request('error decoding JSON: %s' % e)

    # --- authentication --------------------------------------------------------------------------

    def authenticate(self):
        """Returns the user dict, None for anonymous, or raises 401."""
        h = self.headers.get('Authorization')
        if h:
            parts = h.split(None, 1)
            if len(parts) != 2 or parts[0].lower() != 'bearer':
                raise ApiError(401, 'Unauthorized', 'Unauthorized')
            user, _ = self.app.auth.authenticate(parts[1].strip(), self.app.sa_uid)
            if user is None:
                raise ApiError(401, 'Unauthorized', 'Unauthorized')
            return user
        cert = self.connection.getpeercert() if hasattr(self.connection, 'getpeercert') else None
        if cert:
            cn, orgs = None, []
            for rdn in cert.get('subject', ()):
                for k, v in rdn:
                    if k == 'commonName':
                        cn = v
                    elif k == 'organizationName':
                        orgs.append(v)
            if cn:
                return {'username': cn, 'groups': orgs + ['system:authenticated']}
        return None

    # --- dispatch --------------------------------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        app = self.app
        self.warnings = []
        u = urllib.parse.urlsplit(self.path)
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query,
                                                                keep_blank_values=True).items()}
        path = u.path
        with app.store.cond:
            app.store.stats['requests'] += 1
        try:
            raw = b''
            if self.command in ('POST', 'PUT', 'PATCH', 'DELETE'):
                raw = self.read_body()
            if path in ('/healthz', '/livez', '/readyz') or path.startswith('/healthz/') or \
                    path.startswith('/livez/') or path.startswith('/readyz/'):
                return self.send_text(200, 'ok')
            if path == '/version' or path == '/version/':
                return self.send_json(200, VERSION_INFO)
            user = self.authenticate()
            if user is None:
                raise ApiError(401, 'Unauthorized', 'Unauthorized')
            self.user = user
            if path.startswith('/_test/'):
                if 'system:masters' not in user.get('groups', []):
                    raise ApiError(403, 'Forbidden', 'forbidden: User "%s" cannot use the test '
                                   'control endpoints' % user['username'])
                return self.control(path, raw)
            fault = app.faults.take(self.command, path)
            if fault is not None:
                hdr = {}
                if fault['code'] == 429:
                    hdr['Retry-After'] = str(fault.get('retry_after', 1))
                if fault['code'] == 0:          # drop the connection without an answer
                    self.abort_connection()
                    return
                reason = {429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable',
                          504: 'Timeout', 403: 'Forbidden', 401: 'Unauthorized', 410: 'Expired',
                          409: 'Conflict', 404: 'NotFound', 422: 'Invalid'}.get(
                              fault['code'], 'InternalError')
                raise ApiError(fault['code'], reason, 'injected failure (/_test/fail)',
                               headers=hdr)
            if path.startswith('/openapi/'):
                return self.serve_openapi(path)
            if path in ('/api', '/api/'):
                return self.send_json(200, {'kind': 'APIVersions', 'versions': ['v1'],
                                            'serverAddressByClientCIDRs': [
                                                {'clientCIDR': '0.0.0.0/0',
                                                 'serverAddress': app.url[len('https://'):]}]})
            if path in ('/apis', '/apis/'):
                return self.send_json(200, self.group_list())
            segs = [s for s in path.split('/') if s]
            if segs[:2] == ['api', 'v1']:
                return self.resource_request('', 'v1', segs[2:], raw)
            if segs and segs[0] == 'api':
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            if segs and segs[0] == 'apis' and len(segs) == 2:
                g = self.group_list(segs[1])
                if g is None:
                    raise ApiError(404, 'NotFound', 'the server could not find the requested '
                                   'resource')
                return self.send_json(200, g)
            if segs and segs[0] == 'apis' and len(segs) >= 3:
                return self.resource_request(segs[1], segs[2], segs[3:], raw)
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        except ApiError as e:
            try:
                self.send_error_status(e)
            except OSError:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as e:      # a bug here must not kill the server: answer 500, log it
            import traceback
            log('internal error on %s %s: %s\n%s' % (self.command, self.path, e,
                                                     traceback.format_exc()))
            try:
                self.send_error_status(ApiError(500, 'InternalError', 'Internal error occurred: %s'
                                                % e))
            except OSError:
                self.close_connection = True

    # --- discovery -------------------------------------------------------------------------------

    def group_list(self, only=None):
        groups = []
        for g, versions in sorted(self.app.store.groups().items()):
            if g == '':
                continue
            vs = [{'groupVersion': '%s/%s' % (g, v), 'version': v} for v in versions]
            entry = {'name': g, 'versions': vs, 'preferredVersion': vs[0]}
            if only is not None:
                if g == only:
                    return dict({'kind': 'APIGroup', 'apiVersion': 'v1'}, **entry)
                continue
            groups.append(entry)
        if only is not None:
            return None
        return {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': groups}

    def serve_openapi(self, path):
        if path == '/openapi/v2':
            accept = self.headers.get('Accept') or ''
            if 'protobuf' in accept:
                data = openapi.v2_protobuf()
                self.send_response(200)
                self.send_header('Content-Type',
                                 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            return self.send_json(200, openapi.v2_json())
        doc = openapi.serve(self.app.store, path)
        if doc is None:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        self.send_json(200, doc)

    # --- resources -------------------------------------------------------------------------------

    def resource_request(self, group, version, segs, raw):
        store = self.app.store
        if not segs:
            if self.command != 'GET':
                raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on '
                               'the requested resource')
            if not store.resources_in(group, version):
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            return self.send_json(200, resources.resource_list(group, version,
                                                               store.resources_in(group, version)))
        watch_path = False
        if segs[0] == 'watch':
            watch_path = True
            segs = segs[1:]
        ns = None
        if len(segs) >= 3 and segs[0] == 'namespaces':
            r = store.find(group, version, segs[2])
            if r is not None and r.namespaced:
                ns = segs[1]
                segs = segs[2:]
        if not segs or len(segs) > 3:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        res = store.find(group, version, segs[0])
        if res is None:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        name = segs[1] if len(segs) >= 2 else None
        sub = segs[2] if len(segs) == 3 else None
        if res.namespaced and ns is None and (name is not None or self.command == 'POST'):
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        if sub is not None and not ((sub == 'status' and res.status) or
                                    (sub == 'scale' and res.scale) or
                                    (sub == 'token' and res.token) or
                                    (sub == 'finalize' and res.key == ('', 'namespaces'))):
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        q = self.query
        dry = q.get('dryRun') == 'All'
        cmd = self.command
        fv = q.get('fieldValidation')
        if fv not in (None, '', 'Strict', 'Warn', 'Ignore'):
            raise bad_request('fieldValidation must be one of "Ignore", "Warn" or "Strict", got %s'
                              % fv)
        self.warnings = []
        kw = {'field_validation': fv, 'warnings': self.warnings}
        if res.virtual:
            if cmd != 'POST' or name is not None:
                raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on '
                               'the requested resource')
            if 'protobuf' in self.ctype() and res.plural != 'tokenreviews':
                body = {}       # the allow-all reviews do not read their spec
            else:
                body = self.parse_body(raw, self.ctype())
            return self.review(res, version, ns, body)
        if cmd in ('GET', 'HEAD') and name is None:
            if watch_path or q.get('watch') in ('1', 'true', 'True'):
                return self.watch(res, version, ns or '')
            return self.list(res, version, ns or '')
        if cmd in ('GET', 'HEAD'):
            obj = store.get(res, ns, name)
            if sub == 'scale':
                return self.send_json(200, self.scale_of(res, obj))
            if self.as_table() and sub is None:
                return self.send_json(200, self.table(res, version, [store.out(res, version, obj)],
                                                      {'resourceVersion':
                                                       obj['metadata']['resourceVersion']}))
            return self.send_json(200, store.out(res, version, obj))
        if cmd == 'POST' and name is None:
            body = self.parse_body(raw, self.ctype())
            obj = store.create(res, version, ns or '', body, dry_run=dry, **kw)
            return self.send_json(201, store.out(res, version, obj))
        if cmd == 'POST' and sub == 'token':
            if 'protobuf' in self.ctype():
                try:
                    body = k8spb.token_request(raw)
                except k8spb.PbError as e:
                    raise bad_request('TokenRequest: %s' % e)
            else:
                body = self.parse_body(raw, self.ctype())
            return self.token_request(ns, name, body)
        if cmd == 'PUT' and name is not None:
            body = self.parse_body(raw, self.ctype())
            if sub == 'scale':
                return self.put_scale(res, version, ns, name, body, dry)
            if sub == 'finalize':
                sub = None
            obj = store.update(res, version, ns or '', name, body, subresource=sub, dry_run=dry,
                               **kw)
            return self.send_json(200, store.out(res, version, obj))
        if cmd == 'PATCH' and name is not None:
            ctype = self.ctype()
            if ctype not in PATCH_TYPES or PATCH_TYPES[ctype] is None:
                raise ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an '
                               'unknown format - accepted media types include: '
                               'application/json-patch+json, application/merge-patch+json, '
                               'application/apply-patch+yaml')
            body = self.parse_body(raw, ctype)
            if sub == 'scale':
                return self.patch_scale(res, version, ns, name, PATCH_TYPES[ctype], body, dry)
            with store.cond:        # apply creates when absent: that answers 201
                existed = (ns if res.namespaced else '', name) in store.objects.get(res.key, {})
                obj = store.patch(res, version, ns or '', name, PATCH_TYPES[ctype], body,
                                  subresource=sub, dry_run=dry,
                                  field_manager=q.get('fieldManager'),
                                  force=q.get('force') in ('true', '1'), **kw)
            return self.send_json(200 if existed else 201, store.out(res, version, obj))
        if cmd == 'DELETE' and name is not None and sub is None:
            opts = {}
            if raw.strip():
                opts = self.parse_body(raw, 'application/json')
                if not isinstance(opts, dict):
                    raise bad_request('DeleteOptions must be an object')
            pre = opts.get('preconditions') or {}
            prop = q.get('propagationPolicy') or opts.get('propagationPolicy')
            if opts.get('orphanDependents') is True:
                prop = 'Orphan'
            obj = store.delete(res, ns or '', name, propagation=prop,
                               precondition_rv=pre.get('resourceVersion'),
                               precondition_uid=pre.get('uid'),
                               dry_run=dry or opts.get('dryRun') == ['All'])
            return self.send_json(200, store.out(res, version, obj))
        if cmd == 'DELETE' and name is None:
            return self.delete_collection(res, version, ns or '', dry)
        raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the '
                       'requested resource')

    def ctype(self):
        ctype = self.headers.get('Content-Type') or 'application/json'
        return ctype.split(';')[0].strip().lower()

    def as_table(self):
        return tables.wants_table(self.headers.get('Accept'))

    def table(self, res, version, objs, list_meta):
        crd = None
        if res.crd is not None:
            with self.app.store.cond:
                crd = self.app.store.objects.get(
                    ('apiextensions.k8s.io', 'customresourcedefinitions'), {}).get(('', res.crd))
        return tables.table(res, version, crd, objs, self.query.get('includeObject'), list_meta)

    def matcher(self, res):
        try:
            lreqs = sel.parse_labels(self.query.get('labelSelector'))
            freqs = sel.parse_fields(self.query.get('fieldSelector'), res.field_paths)
        except sel.SelectorError as e:
            raise bad_request('unable to parse requirement: %s' % e)
        return lambda obj: (sel.labels_match(lreqs, (obj.get('metadata') or {}).get('labels'))
                            and sel.fields_match(freqs, obj)), bool(lreqs or freqs)

    def list(self, res, version, ns):
        store = self.app.store
        q = self.query
        matches, filtered = self.matcher(res)
        try:
            limit = int(q.get('limit') or 0)
        except ValueError:
            raise bad_request('invalid limit: %s' % q.get('limit'))
        items, rv, token, remaining = store.list(res, ns, None, None, matches,
                                                 limit=max(0, limit), cont=q.get('continue'),
                                                 rv=q.get('resourceVersion'),
                                                 rv_match=q.get('resourceVersionMatch'))
        out_items = []
        for obj in items:
            o = store.out(res, version, obj)
            if res.crd is None:      # typed lists: items carry no apiVersion/kind
                o.pop('apiVersion', None)
                o.pop('kind', None)
            out_items.append(o)
        md = {'resourceVersion': str(rv)}
        if token:
            md['continue'] = token
            if not filtered:
                md['remainingItemCount'] = remaining
        if self.as_table():
            return self.send_json(200, self.table(res, version, [store.out(res, version, o)
                                                                 for o in items], md))
        self.send_json(200, {'kind': res.list_kind, 'apiVersion': res.api_version(version),
                             'metadata': md, 'items': out_items})

    def delete_collection(self, res, version, ns, dry):
        store = self.app.store
        matches, _ = self.matcher(res)
        items, _, _, _ = store.list(res, ns, None, None, matches)
        for obj in items:
            md = obj['metadata']
            try:
                store.delete(res, md.get('namespace', ''), md['name'], dry_run=dry)
            except ApiError:
                pass
        self.send_json(200, {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {},
                             'status': 'Success'})

    # --- watch -----------------------------------------------------------------------------------

    def write_chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))

    def write_event(self, etype, obj):
        self.write_chunk(json.dumps({'type': etype, 'object': obj},
                                    separators=(',', ':')).encode() + b'\n')

    def watch(self, res, version, ns):
        app = self.app
        store = app.store
        q = self.query
        matches, _ = self.matcher(res)
        bookmarks = q.get('allowWatchBookmarks') in ('true', '1', 'True')
        send_initial = q.get('sendInitialEvents') in ('true', '1', 'True')
        if send_initial and q.get('resourceVersionMatch') != 'NotOlderThan':
            raise invalid(res, '', [schemalib.FieldError(
                'FieldValueForbidden', 'resourceVersionMatch',
                'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan')])
        try:
            t = int(q.get('timeoutSeconds') or 0)
        except ValueError:
            raise bad_request('invalid timeoutSeconds')
        if t <= 0:
            t = app.args.watch_timeout * (1 + random.random())
        t = min(t, app.args.watch_timeout * 2)
        with store.cond:
            if store.stats['watches_open'] >= app.max_watches:
                raise ApiError(429, 'TooManyRequests', 'too many open watches (--max-watches)',
                               headers={'Retry-After': '1'})
        gone = None
        try:
            pos, initial, gen = store.watch_start(res, ns, matches, q.get('resourceVersion'),
                                                  send_initial)
        except ApiError as e:
            if e.code != 410:
                raise
            gone = e
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Transfer-Encoding', 'chunked')
        self.send_header('Cache-Control', 'no-cache, private')
        self.end_headers()
        if gone is not None:
            self.write_event('ERROR', gone.status())
            self.write_chunk(b'')
            return
        with store.cond:
            store.stats['watches_open'] += 1
            store.stats['watches_total'] += 1
        try:
            self.watch_loop(res, version, ns, matches, pos, initial, gen, bookmarks, send_initial,
                            t)
        finally:
            with store.cond:
                store.stats['watches_open'] -= 1

    def abort_connection(self):
        """Cuts the connection (TCP shutdown): what a network failure looks like to the client."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def peer_closed(self):
        """True when the client closed its side of a watch connection (EOF or reset)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            self.connection.setblocking(False)
            try:
                data = self.connection.recv(1)
            finally:
                self.connection.setblocking(True)
                self.connection.settimeout(self.app.idle_timeout)
            return data == b''
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except (OSError, ssl.SSLError, ValueError):
            return True

    def bookmark(self, res, version, rv, initial_end=False):
        md = {'resourceVersion': str(rv)}
        if initial_end:
            md['annotations'] = {'k8s.io/initial-events-end': 'true'}
        self.write_event('BOOKMARK', {'kind': res.kind, 'apiVersion': res.api_version(version),
                                      'metadata': md})

    def watch_loop(self, res, version, ns, matches, pos, initial, gen, bookmarks, send_initial,
                   timeout):
        store = self.app.store
        interval = self.app.args.bookmark_interval
        render = (lambda o: self.table(res, version, [store.out(res, version, o)], {})) \
            if self.as_table() else (lambda o: store.out(res, version, o))
        for etype, obj in initial:
            self.write_event(etype, render(obj))
        if send_initial and bookmarks:
            self.bookmark(res, version, pos, initial_end=True)
        start = time.monotonic()
        deadline = start + timeout
        next_bm = start + interval
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            # wake up at least every second to notice a client that went away
            wait = min(deadline, next_bm if bookmarks else deadline, now + 1.0) - now
            events, pos, state = store.watch_next(res, ns, matches, pos, gen, max(0.0, wait))
            if self.peer_closed():
                self.close_connection = True
                return
            if state == 'gone':
                self.write_event('ERROR', ApiError(410, 'Expired', 'too old resource version: %d '
                                                   '(%d)' % (pos, store.history_start)).status())
                break
            if state == 'dropped':
                with store.cond:
                    store.stats['watches_dropped'] += 1
                if self.app.drop_graceful:
                    break
                self.abort_connection()
                return
            if state == 'shutdown':
                break
            if state == 'stalled':      # /_test/stall-watches: no events, no bookmarks
                next_bm = time.monotonic() + interval
                continue
            for etype, obj in events:
                self.write_event(etype, render(obj))
            if bookmarks and time.monotonic() >= next_bm:
                self.bookmark(res, version, pos)
                next_bm = time.monotonic() + interval
        self.write_chunk(b'')

    # --- subresources and review kinds -----------------------------------------------------------

    def scale_of(self, res, obj):
        md = obj['metadata']
        spec = obj.get('spec') or {}
        sel_labels = ((spec.get('selector') or {}).get('matchLabels') or {})
        return {'kind': 'Scale', 'apiVersion': 'autoscaling/v1',
                'metadata': {'name': md['name'], 'namespace': md.get('namespace'),
                             'uid': md.get('uid'), 'resourceVersion': md['resourceVersion'],
                             'creationTimestamp': md.get('creationTimestamp')},
                'spec': {'replicas': spec.get('replicas', 1)},
                'status': {'replicas': (obj.get('status') or {}).get('replicas', 0),
                           'selector': ','.join('%s=%s' % kv for kv in sorted(sel_labels.items()))}}

    def put_scale(self, res, version, ns, name, body, dry):
        self.send_json(200, self.write_scale(res, version, ns, name, body, dry))

    def write_scale(self, res, version, ns, name, body, dry):
        """Applies a Scale to its workload; returns the new Scale (sent by the caller, outside
        the store lock)."""
        store = self.app.store
        if not isinstance(body, dict):
            raise bad_request('a Scale must be a JSON object')
        with store.cond:
            obj = store.get(res, ns, name)
            rv = (body.get('metadata') or {}).get('resourceVersion')
            if rv and rv != obj['metadata']['resourceVersion']:
                raise conflict(res, name)
            replicas = (body.get('spec') or {}).get('replicas', 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise invalid(resources.Resource('autoscaling', ['v1'], 'scales', 'Scale', True),
                              name, [schemalib.FieldError('FieldValueInvalid', 'spec.replicas',
                                                          'must be greater than or equal to 0',
                                                          replicas)])
            obj.setdefault('spec', {})['replicas'] = replicas
            obj = store.update(res, version, ns, name, obj, dry_run=dry)
            return self.scale_of(res, obj)

    def patch_scale(self, res, version, ns, name, ptype, body, dry):
        store = self.app.store
        with store.cond:
            scale = self.scale_of(res, store.get(res, ns, name))
            try:
                if ptype == 'json':
                    new = patchlib.json_patch(scale, body)
                elif isinstance(body, dict):
                    new = patchlib.merge_patch(scale, body)
                else:
                    raise patchlib.PatchError('a merge patch must be a JSON object', 400)
            except patchlib.PatchError as e:
                raise ApiError(e.code, 'BadRequest' if e.code == 400 else 'Invalid', str(e))
            out = self.write_scale(res, version, ns, name, new, dry)
        self.send_json(200, out)

    def token_request(self, ns, name, body):
        app = self.app
        uid = app.sa_uid(ns, name)
        if uid is None:
            raise ApiError(404, 'NotFound', 'serviceaccounts "%s" not found' % name,
                           {'name': name, 'kind': 'serviceaccounts'})
        spec = (body or {}).get('spec') or {}
        exp = spec.get('expirationSeconds') or 3600
        tr = resources.Resource('authentication.k8s.io', ['v1'], 'tokenrequests', 'TokenRequest',
                                True)
        if not isinstance(exp, int) or exp < 600:
            raise invalid(tr, name, [schemalib.FieldError(
                'FieldValueInvalid', 'spec.expirationSeconds',
                'may not specify a duration less than 10 minutes', exp)])
        if exp > 2 ** 32:
            raise invalid(tr, name, [schemalib.FieldError(
                'FieldValueTooLong', 'spec.expirationSeconds',
                'may not specify a duration larger than 2^32 seconds', exp)])
        auds = spec.get('audiences') or [authlib.ISSUER]
        bound = spec.get('boundObjectRef')
        if bound is not None:
            # a bound token names a Pod, Secret or Node that must exist (and still exist, with the
            # same uid, whenever the token is used)
            if not isinstance(bound, dict) or bound.get('kind') not in ('Pod', 'Secret', 'Node'):
                raise invalid(tr, name, [schemalib.FieldError(
                    'FieldValueNotSupported', 'spec.boundObjectRef.kind',
                    'supported values: "Pod", "Secret", "Node"', (bound or {}).get('kind'))])
            buid = app.sa_uid(ns, bound.get('name'), bound['kind'])
            if buid is None:
                raise ApiError(404, 'NotFound', '%ss "%s" not found' % (
                    bound['kind'].lower(), bound.get('name')),
                    {'name': bound.get('name'), 'kind': bound['kind'].lower() + 's'})
            if bound.get('uid') and bound['uid'] != buid:
                raise ApiError(409, 'Conflict', 'the UID in the bound object reference (%s) does '
                               'not match the UID in record (%s)' % (bound['uid'], buid))
            bound = dict(bound, uid=buid)
        with app.store.cond:
            token, when = app.auth.issue(ns, name, uid, auds, exp, bound)
        out = {'kind': 'TokenRequest', 'apiVersion': 'authentication.k8s.io/v1',
               'metadata': {'name': name, 'namespace': ns, 'creationTimestamp': None},
               'spec': {'audiences': auds, 'expirationSeconds': exp,
                        'boundObjectRef': bound},
               'status': {'token': token,
                          'expirationTimestamp': time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                                               time.gmtime(when))}}
        self.send_json(201, out)

    def review(self, res, version, ns, body):
        if not isinstance(body, dict):
            raise bad_request('the body of the request must be a JSON object')
        spec = body.get('spec') or {}
        out = {'kind': res.kind, 'apiVersion': res.api_version(version),
               'metadata': {'creationTimestamp': None}}
        if res.plural == 'tokenreviews':
            token = spec.get('token')
            if not isinstance(token, str) or not token:
                raise invalid(res, '', [schemalib.FieldError('FieldValueRequired', 'spec.token',
                                                             '')])
            auds = spec.get('audiences') or None
            user, got = self.app.auth.authenticate(token, self.app.sa_uid, auds)
            out['spec'] = spec
            if user is None:
                out['status'] = {'user': {}, 'error': '[%s]' % got}
            else:
                out['status'] = {'authenticated': True, 'user': user, 'audiences': got}
        elif res.plural == 'selfsubjectreviews':
            out['status'] = {'userInfo': self.user}
        elif res.plural == 'selfsubjectrulesreviews':
            out['spec'] = spec
            out['status'] = {'resourceRules': [{'verbs': ['*'], 'apiGroups': ['*'],
                                                'resources': ['*']}],
                             'nonResourceRules': [{'verbs': ['*'], 'nonResourceURLs': ['*']}],
                             'incomplete': False}
        else:
            out['spec'] = spec
            out['status'] = {'allowed': True, 'reason': 'the test API server allows everything '
                             'to authenticated users'}
        if ns:
            out['metadata']['namespace'] = ns
        self.send_json(201, out)

    # --- test control endpoints ------------------------------------------------------------------

    def control(self, path, raw):
        app = self.app
        store = app.store
        body = {}
        if raw.strip():
            body = self.parse_body(raw, 'application/json')
        if path == '/_test/stats':
            with store.cond:
                st = dict(store.stats)
                st.update({'rv': store.rv, 'history_start': store.history_start,
                           'history_len': len(store.history), 'objects': store.count(),
                           'watch_generation': store.watch_gen,
                           'tokens_issued': app.auth.issued,
                           'tokens_revoked': len(app.auth.revoked),
                           'connections': self.server.active})
                if self.query.get('check'):
                    st['invariants'] = store.check_invariants()
            return self.send_json(200, st)
        if self.command != 'POST':
            raise ApiError(405, 'MethodNotAllowed', 'control endpoints take POST')
        if path == '/_test/compact':
            return self.send_json(200, {'rv': store.compact(
                expire_watches=self.query.get('watches') != 'keep')})
        if path == '/_test/drop-watches':
            app.drop_graceful = self.query.get('graceful') in ('1', 'true')
            return self.send_json(200, {'generation': store.drop_watches()})
        if path == '/_test/revoke-token':
            ok = app.auth.revoke(token=body.get('token'), jti=body.get('jti'))
            if not ok:
                raise bad_request('revoke-token: give {"token": ...} (one this server issued) '
                                  'or {"jti": ...}')
            return self.send_json(200, {'revoked': True})
        if path == '/_test/fail':
            try:
                rule = {'method': str(body.get('method', '')).upper(),
                        'path': str(body.get('path', '/')),
                        'count': int(body.get('count', 1)), 'code': int(body.get('code', 500)),
                        'retry_after': int(body.get('retryAfter', 1))}
            except (TypeError, ValueError):
                raise bad_request('fail: count, code and retryAfter are integers')
            app.faults.add(rule)
            return self.send_json(200, rule)
        if path == '/_test/goaway':
            # answered first: this request's own connection may be one of them
            n = len(self.server.h2_conns)
            self.send_json(200, {'connections': n})
            threading.Timer(0.05, self.server.goaway_all).start()
            return
        if path == '/_test/stall-watches':
            try:
                secs = float(self.query.get('seconds', body.get('seconds', 5)))
            except (TypeError, ValueError):
                raise bad_request('stall-watches: seconds is a number')
            with store.cond:
                store.stall_until = time.monotonic() + max(0.0, min(secs, 3600.0))
                store.cond.notify_all()
            return self.send_json(200, {'seconds': secs})
        if path == '/_test/rotate-admin-token':
            old = app.auth.admin_token
            app.auth.admin_token = body.get('token') or authlib.secrets.token_hex(24)
            write_kubeconfig(app, app.pki, app.args.dir, app.url)
            return self.send_json(200, {'rotated': old != app.auth.admin_token})
        if path == '/_test/save':
            save_state(app)
            return self.send_json(200, {'saved': bool(app.args.state_dir)})
        raise ApiError(404, 'NotFound', 'unknown control endpoint %s' % path)


# --- process -------------------------------------------------------------------------------------

def save_state(app):
    d = app.args.state_dir
    if not d:
        return
    os.makedirs(d, exist_ok=True)
    state = app.store.dump()
    state['auth'] = app.auth.state()
    tmp = os.path.join(d, 'state.json.tmp')
    with open(tmp, 'w') as f:
        json.dump(state, f)
    os.replace(tmp, os.path.join(d, 'state.json'))


def write_kubeconfig(app, pki, out_dir, url):
    def b64file(name):
        with open(os.path.join(pki, name), 'rb') as f:
            return base64.b64encode(f.read()).decode()
    kc = {
        'apiVersion': 'v1', 'kind': 'Config', 'preferences': {},
        'clusters': [{'name': 'krtgate-test',
                      'cluster': {'server': url, 'certificate-authority-data': b64file('ca.crt')}}],
        'users': [{'name': 'admin',
                   'user': {'tokenFile': os.path.join(os.path.abspath(out_dir), 'token')}
                   if app.args.kubeconfig_token_file else {'token': app.auth.admin_token}},
                  {'name': 'admin-cert', 'user': {'client-certificate-data': b64file('admin.crt'),
                                                  'client-key-data': b64file('admin.key')}}],
        'contexts': [{'name': 'krtgate-test',
                      'context': {'cluster': 'krtgate-test', 'user': 'admin',
                                  'namespace': 'default'}},
                     {'name': 'krtgate-test-cert',
                      'context': {'cluster': 'krtgate-test', 'user': 'admin-cert',
                                  'namespace': 'default'}}],
        'current-context': 'krtgate-test',
    }
    path = os.path.join(out_dir, 'kubeconfig')
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        if yaml is not None:
            yaml.safe_dump(kc, f, sort_keys=False)
        else:
            json.dump(kc, f, indent=2)  # JSON is YAML: kubectl and client-go accept it
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    for name, text in (('token', app.auth.admin_token), ('server', url)):
        with open(os.path.join(out_dir, name + '.tmp'), 'w') as f:
            f.write(text + '\n')
        os.replace(os.path.join(out_dir, name + '.tmp'), os.path.join(out_dir, name))
    with open(os.path.join(pki, 'ca.crt'), 'rb') as src, \
            open(os.path.join(out_dir, 'ca.crt'), 'wb') as dst:
        dst.write(src.read())
    return path


def background(app):
    store = app.store
    while not app.stop_event.is_set():
        with store.cond:
            if not store.gc_queue and not store.workload_queue:
                wait = 0.5
                if store.ns_queue:
                    wait = min(wait, max(0.0, store.ns_queue[0][0] - time.monotonic()))
                store.cond.wait(wait)
        try:
            while store.background_step():
                pass
        except Exception as e:
            log('background: %s' % e)


def main(argv=None):
    p = argparse.ArgumentParser(description='krtgate test Kubernetes API server')
    p.add_argument('--port', type=int, default=0, help='port on --host (0: any free port)')
    p.add_argument('--host', default='127.0.0.1', help='address to listen on (127.0.0.0/8)')
    p.add_argument('--dir', required=True, help='where kubeconfig, token, ca.crt are written')
    p.add_argument('--state-dir', default=None,
                   help='load state.json from here at start, save it on SIGTERM; also keeps the '
                        'PKI and the admin token so a restart is transparent to clients')
    p.add_argument('--history', type=int, default=5000, help='watch events kept (then 410)')
    p.add_argument('--bookmark-interval', type=float, default=1.0,
                   help='seconds between BOOKMARK events on watches that allow them')
    p.add_argument('--watch-timeout', type=float, default=1800.0,
                   help='watch length when the client gives no timeoutSeconds (random in '
                        '[T, 2T]); also the cap')
    p.add_argument('--admin-token', default=None, help='admin bearer token (default: random)')
    p.add_argument('--max-connections', type=int, default=256)
    p.add_argument('--max-watches', type=int, default=200)
    p.add_argument('--max-objects', type=int, default=100000)
    p.add_argument('--lb-pool', default=None, metavar='PREFIX',
                   help='give LoadBalancer Services status.loadBalancer.ingress IPs PREFIX<n> '
                        '(e.g. 172.18.255.); default: they stay pending as without a cloud')
    p.add_argument('--rv0-ignores-limit', action='store_true',
                   help='LIST with resourceVersion=0 returns everything in one page (as the watch '
                        'cache does); default: limit is honoured')
    p.add_argument('--stale-reads', type=int, default=0, metavar='N',
                   help='LIST and WATCH with resourceVersion=0 ("any version") are served the '
                        'state N versions ago, as from a lagging watch cache')
    p.add_argument('--namespace-delay', type=float, default=0.5,
                   help='seconds a deleted namespace stays Terminating before its content and '
                        'itself are removed')
    p.add_argument('--ready-workloads', action='store_true',
                   help='Deployments, StatefulSets and ReplicaSets get a status with all replicas '
                        'ready after each spec change (no pods exist)')
    p.add_argument('--kubeconfig-token-file', action='store_true',
                   help='the kubeconfig names DIR/token (tokenFile) instead of embedding the admin '
                        'token, so /_test/rotate-admin-token is seen by clients that re-read it')
    p.add_argument('--http2', action='store_true',
                   help='offer HTTP/2 through ALPN (h2, then http/1.1) as a real API server does; '
                        'needs python3-h2')
    p.add_argument('--verbose', action='store_true', help='log every request on stderr')
    args = p.parse_args(argv)

    os.makedirs(args.dir, exist_ok=True)
    pki = os.path.join(args.state_dir or args.dir, 'pki')
    try:
        authlib.make_pki(pki)
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        log('%s: cannot make the certificates: %s' % (pki, e))
        return 1

    app = App(args)
    app.drop_graceful = False
    state_file = os.path.join(args.state_dir, 'state.json') if args.state_dir else None
    if state_file and os.path.exists(state_file):
        try:
            with open(state_file) as f:
                st = json.load(f)
            app.store.load(st)
            app.auth = authlib.Authenticator.from_state(st['auth'])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            log('%s: cannot load the saved state (%s: %s); remove it to start empty'
                % (state_file, type(e).__name__, e))
            return 2
        if args.admin_token:
            app.auth.admin_token = args.admin_token
        log('loaded %d objects at resourceVersion %d from %s' % (app.store.count(), app.store.rv,
                                                                 state_file))
    else:
        app.auth = authlib.Authenticator(admin_token=args.admin_token)
        app.store.bootstrap()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki, 'server.crt'), os.path.join(pki, 'server.key'))
    ctx.load_verify_locations(os.path.join(pki, 'ca.crt'))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(['h2', 'http/1.1'] if args.http2 else ['http/1.1'])

    try:
        server = Server((args.host, args.port), Handler, ctx, app)
    except OSError as e:
        log('cannot listen on %s:%d: %s' % (args.host, args.port, e.strerror or e))
        return 1
    port = server.server_address[1]
    app.url = 'https://%s:%d' % (args.host, port)
    app.pki = pki
    kc = write_kubeconfig(app, pki, args.dir, app.url)

    bg = threading.Thread(target=background, args=(app,), daemon=True)
    bg.start()

    def on_signal(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    print('READY %s kubeconfig=%s' % (app.url, kc), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        app.stop_event.set()
        with app.store.cond:
            app.store.shutting_down = True
            app.store.cond.notify_all()
        # Watches end with their last chunk; give them a moment, then cut what is left.
        end = time.monotonic() + 2
        while time.monotonic() < end:
            with app.store.cond:
                if app.store.stats['watches_open'] == 0:
                    break
            time.sleep(0.05)
        server.abort_all()
        server.server_close()
        save_state(app)
        log('stopped at resourceVersion %d' % app.store.rv)
    return 0


if __name__ == '__main__':
    sys.exit(main())
