#!/usr/bin/python3
"""`krtgate controller` against the test API server (tests/kube/apiserver/), end to end:

  - kubectl applies the Gateway API CRDs and the quickstart manifests;
  - the controller syncs every informer (/readyz 200) and serves the quickstart's resources
    (/debug/resources, /debug/xds), and /metrics is Prometheus text;
  - a new HTTPRoute reaches the resources; after the server drops every watch, and after a
    history compaction (410 → relist), further changes still converge, deletes included;
  - two controllers started together race for one Lease: exactly one leads; SIGTERM of the
    leader releases the Lease (empty holder) and the other takes over; both exit 0;
  - when the server offers HTTP/2 (--http2), a controller syncs over one multiplexed connection.

With GEN_PYTHON_DIR, an independent python3-grpcio client (tests/cli/run_xds_client.py) also
subscribes as the quickstart Gateway's proxy and must receive its route over delta xDS.

Usage: test_controller.py KRTGATE SRC_DIR [GEN_PYTHON_DIR]. Exit 77 (skip) when the test API
server or kubectl is absent. Every wait is bounded; the servers are started here on 127.0.0.1
with port 0.
"""

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

KRTGATE, SRC = sys.argv[1], sys.argv[2]
GEN = sys.argv[3] if len(sys.argv) > 3 else None  # xds/gen-python of the build: the xDS client
APISERVER = os.path.join(SRC, 'tests/kube/apiserver/apiserver.py')
CRDS = os.path.join(SRC, 'tests/kube/apiserver/crds/gateway-api.yaml')
KUBECTL = shutil.which('kubectl')

if not os.path.exists(APISERVER):
    print('SKIP: the test API server %s is not in this tree' % APISERVER)
    sys.exit(77)
if not KUBECTL:
    print('SKIP: kubectl is not installed (scripts/install-deps.sh)')
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix='krtgate-ctl-')
procs = []


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def fail(msg):
    sys.stderr.write('FAIL: %s\n' % msg)
    for p in procs:
        name = getattr(p, 'logname', None)
        if name and os.path.exists(name):
            sys.stderr.write('--- %s (last lines):\n' % name)
            with open(name) as f:
                sys.stderr.write(''.join(f.readlines()[-40:]))
    cleanup()
    sys.exit(1)


def wait_for(what, pred, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = pred()
            if v:
                return v
        except Exception:  # the server may not be up yet
            pass
        time.sleep(0.1)
    fail('timed out waiting for %s' % what)


# ---- the API server ----------------------------------------------------------------------------
def start_apiserver(name, *extra):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    log = os.path.join(tmp, name + '.log')
    p = subprocess.Popen(['/usr/bin/python3', APISERVER, '--port', '0', '--dir', d,
                          '--bookmark-interval', '60'] + list(extra),
                         stdout=subprocess.PIPE, stderr=open(log, 'w'), text=True)
    p.logname = log
    procs.append(p)
    line = p.stdout.readline()
    mm = re.match(r'READY (https://127\.0\.0\.1:\d+) kubeconfig=(\S+)', line)
    if not mm:
        fail('the API server did not say READY: %r' % line)
    with open(os.path.join(d, 'token')) as f:
        p.token = f.read().strip()
    p.server, p.kubeconfig = mm.group(1), mm.group(2)
    p.ssl = ssl.create_default_context(cafile=os.path.join(d, 'ca.crt'))
    p.ssl.check_hostname = False
    return p


api = start_apiserver('api')
server, kubeconfig, token, sslctx = api.server, api.kubeconfig, api.token, api.ssl


def api_call(method, path, body=None):
    req = urllib.request.Request(server + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={'Authorization': 'Bearer ' + token,
                                          'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, context=sslctx, timeout=10) as r:
        return json.loads(r.read() or b'{}')


def kubectl(*args, stdin=None, config=None):
    r = subprocess.run([KUBECTL] + list(args), input=stdin, text=True, capture_output=True,
                       env=dict(os.environ, KUBECONFIG=config or kubeconfig), timeout=60)
    if r.returncode != 0:
        fail('kubectl %s: %s' % (' '.join(args), r.stderr))
    return r.stdout


kubectl('apply', '-f', CRDS)
kubectl('apply', '-f', os.path.join(SRC, 'examples/quickstart'))


# ---- controllers -------------------------------------------------------------------------------
def start_controller(name, *extra, config=None):
    log = os.path.join(tmp, name + '.log')
    p = subprocess.Popen([KRTGATE, 'controller', '--kubeconfig', config or kubeconfig,
                          '--xds-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'] +
                         list(extra), stdout=subprocess.DEVNULL, stderr=open(log, 'w'))
    p.logname = log
    procs.append(p)

    def ports():
        with open(log) as f:
            mm = re.search(r'serving xDS on 127\.0\.0\.1:(\d+), '
                           r'admin on (http://127\.0\.0\.1:\d+)/', f.read())
        return (int(mm.group(1)), mm.group(2)) if mm else None
    p.xds, p.admin = wait_for(name + "'s ports", ports)
    return p


def get(p, path):
    with urllib.request.urlopen(p.admin + path, timeout=5) as r:
        return r.status, r.read().decode()


def status(p, path):
    try:
        return get(p, path)[0]
    except urllib.error.HTTPError as e:
        return e.code


def resources(p):
    return [json.loads(x) for x in get(p, path='/debug/resources')[1].splitlines() if x.strip()]


def has_route(p, name):
    return any('default/%s' % name in json.dumps(r) and r.get('kind') == 'route'
               for r in resources(p))


def metric(p, name, kind=None):
    total = 0.0
    for ln in get(p, '/metrics')[1].splitlines():
        if ln.startswith('#'):
            continue
        key, _, val = ln.rpartition(' ')
        if key == name or (kind is None and key.startswith(name + '{')) or \
                key == '%s{kind="%s"}' % (name, kind):
            total += float(val)
    return total


def route(name, prefix):
    return json.dumps({'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'HTTPRoute',
                       'metadata': {'name': name, 'namespace': 'default'},
                       'spec': {'parentRefs': [{'name': 'quickstart'}],
                                'rules': [{'matches': [{'path': {'type': 'PathPrefix',
                                                                 'value': prefix}}],
                                           'backendRefs': [{'name': 'echo', 'port': 80}]}]}})


a = start_controller('a')
wait_for('/readyz of a', lambda: status(a, '/readyz') == 200)
if status(a, '/healthz') != 200:
    fail('/healthz')
wait_for('the quickstart route in /debug/resources', lambda: has_route(a, 'echo'))
kinds = {r.get('kind') for r in resources(a)}
for k in ('bind', 'listener', 'route'):
    if k not in kinds:
        fail('no %s resource among %s' % (k, sorted(kinds)))
if GEN:
    client = subprocess.run(['/usr/bin/python3', os.path.join(SRC, 'tests/cli/run_xds_client.py'),
                             GEN, str(a.xds), '3'], capture_output=True, text=True, timeout=60)
    if client.returncode == 77:
        print('note: no xDS client check (%s)' % client.stdout.strip())
    elif client.returncode != 0 or not re.search(r'^\+ \S*echo', client.stdout, re.M):
        fail('the xDS client did not receive the echo route:\n%s%s' % (client.stdout,
                                                                     client.stderr))
    else:
        got = len(re.findall(r'^\+ ', client.stdout, re.M))
        print('xDS client received %d resource(s)' % got)
dbg = json.loads(get(a, '/debug/xds')[1])
if 'stats' not in dbg:
    fail('/debug/xds has no stats: %s' % dbg)
synced = [ln.rpartition(' ')[2] for ln in get(a, '/metrics')[1].splitlines()
          if ln.startswith('krtgate_informer_synced{')]
# Every kind is synced, those whose CRD is missing included (their contents are "nothing").
if not synced or any(float(v) != 1 for v in synced) or \
        metric(a, 'krtgate_informer_synced', 'HTTPRoute') != 1:
    fail('informers not all synced in /metrics: %s' % synced)
if metric(a, 'krtgate_leader') != 1:
    fail('without --leader-elect the controller leads')
for path in ('/debug/krt', '/debug/krt.dot'):
    if status(a, path) != 200:
        fail(path)

# a change arrives through the watch
kubectl('apply', '-f', '-', stdin=route('two', '/two'))
wait_for('route two', lambda: has_route(a, 'two'))

# every watch dropped by the server: watches resume and changes still arrive
restarts0 = metric(a, 'krtgate_informer_watch_restarts_total')
api_call('POST', '/_test/drop-watches')
kubectl('apply', '-f', '-', stdin=route('three', '/three'))
wait_for('route three after the watches were dropped', lambda: has_route(a, 'three'))
wait_for('watch restarts counted',
         lambda: metric(a, 'krtgate_informer_watch_restarts_total') > restarts0)

# history compaction: watches from older versions get 410 and relist; a delete converges
kubectl('apply', '-f', '-', stdin=route('four', '/four'))
api_call('POST', '/_test/compact')
api_call('POST', '/_test/drop-watches')
kubectl('delete', 'httproute', 'two')
wait_for('route four and no route two after the compaction',
         lambda: has_route(a, 'four') and not has_route(a, 'two'))
wait_for('relists after the compaction', lambda: metric(a, 'krtgate_informer_relists_total') > 0)

a.send_signal(signal.SIGTERM)
if a.wait(timeout=20) != 0:
    fail('controller a exited %s on SIGTERM' % a.returncode)

# ---- two controllers race for the lease --------------------------------------------------------
b = start_controller('b', '--leader-elect', '--id', 'b', '--lease-name', 'race')
c = start_controller('c', '--leader-elect', '--id', 'c', '--lease-name', 'race')
wait_for('a leader among b and c',
         lambda: metric(b, 'krtgate_leader') + metric(c, 'krtgate_leader') == 1)
for _ in range(10):  # and it stays exactly one
    if metric(b, 'krtgate_leader') + metric(c, 'krtgate_leader') != 1:
        fail('not exactly one leader')
    time.sleep(0.2)
leader, standby = (b, c) if metric(b, 'krtgate_leader') == 1 else (c, b)
lease = api_call('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases/race')
if lease['spec']['holderIdentity'] != ('b' if leader is b else 'c'):
    fail('lease holder %s' % lease['spec'])
leader.send_signal(signal.SIGTERM)
if leader.wait(timeout=20) != 0:
    fail('the leader exited %s on SIGTERM' % leader.returncode)
# released: the standby takes over well before the 15 s lease duration would expire
wait_for('the standby to take over', lambda: metric(standby, 'krtgate_leader') == 1, timeout=10)
standby.send_signal(signal.SIGTERM)
if standby.wait(timeout=20) != 0:
    fail('the standby exited %s on SIGTERM' % standby.returncode)
lease = api_call('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases/race')
if lease['spec'].get('holderIdentity'):
    fail('the lease was not released: %s' % lease['spec'])

# ---- HTTP/2: when the test API server offers it, the controller multiplexes on one connection --
with open(APISERVER) as f:
    offers_h2 = "'--http2'" in f.read()
if offers_h2:
    api.terminate()
    h2 = start_apiserver('api-h2', '--http2')
    kubectl('apply', '-f', CRDS, config=h2.kubeconfig)
    kubectl('apply', '-f', os.path.join(SRC, 'examples/quickstart'), config=h2.kubeconfig)
    d = start_controller('d', config=h2.kubeconfig)
    wait_for('/readyz of d over HTTP/2', lambda: status(d, '/readyz') == 200)
    wait_for('the quickstart route from d', lambda: has_route(d, 'echo'))
    if metric(d, 'krtgate_kube_http2') != 1 or metric(d, 'krtgate_kube_connections') != 1:
        fail('not one HTTP/2 connection to the API server')
    d.send_signal(signal.SIGTERM)
    if d.wait(timeout=20) != 0:
        fail('controller d exited %s on SIGTERM' % d.returncode)
else:
    print('note: the test API server has no --http2; HTTP/1.1 only')

print('ok: sync, watch drop, compaction, leader election and release')
cleanup()
sys.exit(0)
