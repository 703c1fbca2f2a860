#!/usr/bin/python3
"""kubectl (a real client-go client) against the test API server: apply, get -o yaml, get -w,
patch (merge, json, strategic), delete with owner garbage collection, CRDs then CRs with schema
validation, create token, auth whoami."""

import json
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yaml                        # noqa: E402
from harness import ApiServer, HERE  # noqa: E402

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        ports: [{containerPort: 8080}]
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
"""

GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: krtgate}
spec: {controllerName: krtgate.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: demo}
spec:
  gatewayClassName: krtgate
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: route, namespace: demo}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
"""


class KubectlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ApiServer(['--bookmark-interval', '0.5']).start()
        cls.tmp = cls.srv.workdir

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, 'apiserver exited with %r' % rc

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def get(self, *args):
        return yaml.safe_load(self.srv.kubectl('get', '-o', 'yaml', *args).stdout)

    def test_1_apply_get_patch_delete(self):
        k = self.srv.kubectl
        app = self.write('app.yaml', APP)
        out = k('apply', '-f', app).stdout
        self.assertIn('namespace/demo created', out)
        self.assertIn('deployment.apps/web created', out)
        self.assertIn('unchanged', k('apply', '-f', app).stdout)

        dep = self.get('deployment', '-n', 'demo', 'web')
        self.assertEqual(dep['metadata']['generation'], 1)
        # the defaults a real server writes into a pod template (writers must tolerate them)
        tpl = dep['spec']['template']
        self.assertIsNone(tpl['metadata']['creationTimestamp'])
        self.assertEqual((tpl['spec']['dnsPolicy'], tpl['spec']['restartPolicy'],
                          tpl['spec']['terminationGracePeriodSeconds']),
                         ('ClusterFirst', 'Always', 30))
        c = tpl['spec']['containers'][0]
        self.assertEqual((c['imagePullPolicy'], c['terminationMessagePath'],
                          c['ports'][0]['protocol']),
                         ('IfNotPresent', '/dev/termination-log', 'TCP'))
        self.assertEqual(dep['spec']['replicas'], 2)
        self.assertIn('kubectl.kubernetes.io/last-applied-configuration',
                      dep['metadata']['annotations'])
        svc = self.get('service', '-n', 'demo', 'web')
        self.assertTrue(svc['spec']['clusterIP'].startswith('10.96.'))
        self.assertEqual(svc['spec']['ports'][0]['protocol'], 'TCP')

        # Re-apply with a change: kubectl computes a 3-way strategic merge patch.
        k('apply', '-f', self.write('app2.yaml', APP.replace('replicas: 2', 'replicas: 3')
                                    .replace('value: "2"', 'value: "22"')))
        dep = self.get('deployment', '-n', 'demo', 'web')
        self.assertEqual(dep['spec']['replicas'], 3)
        self.assertEqual(dep['metadata']['generation'], 2)
        self.assertEqual(dep['spec']['template']['spec']['containers'][0]['env'],
                         [{'name': 'A', 'value': '1'}, {'name': 'B', 'value': '22'}])

        # strategic: containers merge by name; merge: labels; json: replace a field
        k('patch', 'deployment', '-n', 'demo', 'web', '--type=strategic', '-p',
          '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"},'
          '{"name":"web","env":[{"name":"C","value":"3"}]}]}}}}')
        k('patch', 'deployment', '-n', 'demo', 'web', '--type=merge', '-p',
          '{"metadata":{"labels":{"tier":"front"}}}')
        k('patch', 'deployment', '-n', 'demo', 'web', '--type=json', '-p',
          '[{"op":"replace","path":"/spec/replicas","value":5}]')
        dep = self.get('deployment', '-n', 'demo', 'web')
        cs = {c['name']: c for c in dep['spec']['template']['spec']['containers']}
        self.assertEqual(set(cs), {'web', 'side'})
        self.assertEqual([e['name'] for e in cs['web']['env']], ['A', 'B', 'C'])
        self.assertEqual(dep['metadata']['labels'], {'app': 'web', 'tier': 'front'})
        self.assertEqual(dep['spec']['replicas'], 5)
        self.assertEqual(dep['metadata']['generation'], 4)   # the label patch left spec alone
        bad = k('patch', 'deployment', '-n', 'demo', 'web', '--type=json', '-p',
                '[{"op":"test","path":"/spec/replicas","value":1}]', check=False)
        self.assertNotEqual(bad.returncode, 0)

        # server-side apply: creates, then merges the applied configuration
        ssa = {'apiVersion': 'v1', 'kind': 'ConfigMap',
               'metadata': {'name': 'ssa', 'namespace': 'demo'}, 'data': {'a': '1'}}
        self.assertIn('serverside-applied',
                      k('apply', '--server-side', '-f',
                        self.write('ssa.json', json.dumps(ssa))).stdout)
        ssa['data'] = {'a': '2', 'b': '3'}
        k('apply', '--server-side', '--force-conflicts', '-f',
          self.write('ssa.json', json.dumps(ssa)))
        self.assertEqual(self.get('configmap', '-n', 'demo', 'ssa')['data'], {'a': '2', 'b': '3'})

        # A ConfigMap owned by the Deployment is garbage-collected with it.
        cm = {'apiVersion': 'v1', 'kind': 'ConfigMap',
              'metadata': {'name': 'owned', 'namespace': 'demo',
                           'ownerReferences': [{'apiVersion': 'apps/v1', 'kind': 'Deployment',
                                                'name': 'web', 'uid': dep['metadata']['uid']}]},
              'data': {'a': 'b'}}
        k('apply', '-f', self.write('cm.yaml', json.dumps(cm)))
        self.assertIn('deleted', k('delete', 'deployment', '-n', 'demo', 'web').stdout)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if k('get', 'configmap', '-n', 'demo', 'owned', check=False).returncode != 0:
                break
            time.sleep(0.1)
        self.assertIn('NotFound', k('get', 'configmap', '-n', 'demo', 'owned',
                                    check=False).stderr)
        nf = k('get', 'deployment', '-n', 'demo', 'web', check=False)
        self.assertIn('deployments.apps "web" not found', nf.stderr)

    def test_2_watch(self):
        k = self.srv.kubectl
        k('create', 'namespace', 'watched', check=False)
        k('get', 'ns', 'watched')
        w = self.srv.kubectl_bg('get', 'configmaps', '-n', 'watched', '-w', '--output-watch-events',
                                '-o', 'custom-columns=EV:.type,NAME:.object.metadata.name,'
                                'V:.object.data.v', '--request-timeout=15s')
        self.srv.wait_watches(1)
        lines = []
        cm = {'apiVersion': 'v1', 'kind': 'ConfigMap',
              'metadata': {'name': 'c1', 'namespace': 'watched'}, 'data': {'v': 'one'}}
        path = self.write('wcm.yaml', json.dumps(cm))
        k('apply', '-f', path)
        k('patch', 'configmap', '-n', 'watched', 'c1', '--type=merge', '-p', '{"data":{"v":"two"}}')
        k('delete', 'configmap', '-n', 'watched', 'c1')
        while not lines or (lines[-1] and not lines[-1].startswith('DELETED')):
            lines.append(self.srv.read_line(w, 10))
        w.kill()
        self.srv.finish_bg(w)
        got = [line.split() for line in lines if not line.startswith('EV ')]
        self.assertEqual(got, [['ADDED', 'c1', 'one'], ['MODIFIED', 'c1', 'two'],
                               ['DELETED', 'c1', 'two']], lines)

        # the human output watches Tables
        w = self.srv.kubectl_bg('get', 'configmaps', '-n', 'watched', '-w',
                                '--request-timeout=15s')
        self.srv.wait_watches(1)
        k('apply', '-f', path)
        lines = [self.srv.read_line(w, 10), self.srv.read_line(w, 10)]
        w.kill()
        self.srv.finish_bg(w)
        self.assertEqual(lines[0].split(), ['NAME', 'DATA', 'AGE'])
        self.assertEqual(lines[1].split()[:2], ['c1', '1'])

    def test_3_crds_and_custom_resources(self):
        k = self.srv.kubectl
        k('create', 'namespace', 'demo', check=False)
        out = k('apply', '-f', os.path.join(HERE, 'crds', 'gateway-api.yaml')).stdout
        self.assertIn('httproutes.gateway.networking.k8s.io created', out)
        k('wait', '--for=condition=Established', 'crd', '--all', '--timeout=10s')
        gw = self.write('gw.yaml', GATEWAY)
        out = k('apply', '-f', gw).stdout
        self.assertIn('httproute.gateway.networking.k8s.io/route created', out)
        route = self.get('httproute', '-n', 'demo', 'route')
        # defaults from the schema
        self.assertEqual(route['spec']['parentRefs'][0]['kind'], 'Gateway')
        self.assertEqual(route['spec']['rules'][0]['matches'],
                         [{'path': {'type': 'PathPrefix', 'value': '/'}}])
        self.assertEqual(route['spec']['rules'][0]['backendRefs'][0]['weight'], 1)
        gtw = self.get('gateway', '-n', 'demo', 'gw')
        self.assertEqual(gtw['status']['conditions'][0]['reason'], 'Pending')
        # older served version reads the same object
        old = self.get('httproutes.v1beta1.gateway.networking.k8s.io', '-n', 'demo', 'route')
        self.assertEqual(old['apiVersion'], 'gateway.networking.k8s.io/v1beta1')

        # server-side tables: the CRD's printer columns
        out = k('get', 'gateways', '-n', 'demo').stdout.split('\n')
        self.assertEqual(out[0].split(), ['NAME', 'CLASS', 'ADDRESS', 'PROGRAMMED', 'AGE'])
        self.assertEqual(out[1].split()[:3], ['gw', 'krtgate', 'Unknown'])

        # status can only be written through /status
        k('patch', 'gateway', '-n', 'demo', 'gw', '--type=merge', '--subresource=status', '-p',
          '{"status":{"addresses":[{"type":"IPAddress","value":"10.0.0.1"}]}}')
        k('patch', 'gateway', '-n', 'demo', 'gw', '--type=merge', '-p',
          '{"status":{"addresses":[{"value":"6.6.6.6"}]}}')
        gtw2 = self.get('gateway', '-n', 'demo', 'gw')
        self.assertEqual(gtw2['status']['addresses'], [{'type': 'IPAddress', 'value': '10.0.0.1'}])
        self.assertEqual(gtw2['metadata']['generation'], gtw['metadata']['generation'])

        # schema validation: 422 with the fields named
        bad = self.write('bad.yaml', """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bad, namespace: demo}
spec:
  listeners: [{name: http, port: 70000, protocol: HTTP}]
""")
        p = k('apply', '-f', bad, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('spec.gatewayClassName: Required value', p.stderr)
        self.assertIn('spec.listeners[0].port', p.stderr)
        self.assertIn('less than or equal to 65535', p.stderr)
        # kubectl's default --validate=strict: unknown fields are refused by the server
        unk = self.write('unk.yaml', GATEWAY.split('---')[2].replace('name: route',
                                                                     'name: r2').replace(
            'parentRefs:', 'bogus: 1\n  parentRefs:'))
        p = k('apply', '-f', unk, check=False)
        self.assertIn('unknown field "spec.bogus"', p.stderr)
        p = k('apply', '--validate=false', '-f', unk)
        self.assertNotIn('bogus', self.get('httproute', '-n', 'demo', 'r2')['spec'])

        # a CRD's group, names and scope are immutable
        p = k('patch', 'crd', 'httproutes.gateway.networking.k8s.io', '--type=merge', '-p',
              '{"spec":{"scope":"Cluster"}}', check=False)
        self.assertIn('spec.scope: Invalid value: "Cluster": field is immutable', p.stderr)

        # CRs go away with their CRD
        k('delete', 'crd', 'httproutes.gateway.networking.k8s.io')
        p = k('get', 'httproutes.gateway.networking.k8s.io', '-n', 'demo', check=False)
        self.assertNotEqual(p.returncode, 0)
        k('apply', '-f', os.path.join(HERE, 'crds', 'gateway-api.yaml'))
        self.assertEqual(k('get', 'httproutes', '-n', 'demo', '-o', 'name').stdout.strip(), '')

    def test_4_tokens_and_whoami(self):
        k = self.srv.kubectl
        who = k('auth', 'whoami', '-o', 'json').stdout
        self.assertEqual(json.loads(who)['status']['userInfo']['username'], 'kubernetes-admin')
        k('create', 'serviceaccount', 'proxy', check=False)
        k('apply', '-f', self.write('sa.yaml', 'apiVersion: v1\nkind: ServiceAccount\n'
                                    'metadata: {name: proxy, namespace: default}\n'))
        tok = k('create', 'token', 'proxy', '--duration=20m').stdout.strip()
        self.assertEqual(tok.count('.'), 2)
        # the token works as a credential, with the service account's identity
        p = k('--token', tok, '--user', '', 'auth', 'whoami', '-o', 'json', check=False)
        if p.returncode == 0:
            self.assertEqual(json.loads(p.stdout)['status']['userInfo']['username'],
                             'system:serviceaccount:default:proxy')
        status, body = self.srv.json('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews',
                                     {'apiVersion': 'authentication.k8s.io/v1',
                                      'kind': 'SelfSubjectReview'}, token=tok)
        self.assertEqual(status, 201)
        self.assertEqual(body['status']['userInfo']['username'],
                         'system:serviceaccount:default:proxy')
        self.assertIn('yes', k('auth', 'can-i', 'create', 'pods').stdout)
        p = k('--token', 'not-a-token', 'get', 'ns', check=False)
        self.assertIn('Unauthorized', p.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
