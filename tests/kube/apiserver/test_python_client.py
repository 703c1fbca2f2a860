#!/usr/bin/python3
"""Debian's python3-kubernetes (a second real client) against the test API server: paginated
lists, watches from a resourceVersion with bookmarks, 410 after compaction, status subresource
patches, Leases with optimistic concurrency, TokenRequest + TokenReview, error Status shapes."""

import os
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ApiServer, HERE  # noqa: E402
from kubernetes import client, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

GW = 'gateway.networking.k8s.io'


def cm(name, **data):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={'n': name[-1]}),
                              data=data or {'k': 'v'})


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ApiServer(['--bookmark-interval', '0.3', '--history', '1000']).start()
        cls.api = cls.srv.client()
        cls.core = client.CoreV1Api(cls.api)

    @classmethod
    def tearDownClass(cls):
        cls.api.close()
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, 'apiserver exited with %r' % rc

    def ns(self, name):
        try:
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        except ApiException as e:
            if e.status != 409:
                raise
        return name

    def tearDown(self):
        self.assertEqual(self.srv.control('stats?check=1', method='GET')['invariants'], [])

    def test_list_pagination(self):
        ns = self.ns('pages')
        for i in range(25):
            self.core.create_namespaced_config_map(ns, cm('cm-%02d' % i))
        seen, token, rvs, pages = [], None, set(), 0
        while True:
            page = self.core.list_namespaced_config_map(ns, limit=10, _continue=token)
            pages += 1
            seen += [o.metadata.name for o in page.items]
            rvs.add(page.metadata.resource_version)
            if pages == 1:
                self.assertEqual(page.metadata.remaining_item_count, 15)
                # a write between pages does not show up: all pages are one snapshot
                self.core.create_namespaced_config_map(ns, cm('cm-99'))
            token = page.metadata._continue
            if not token:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(seen, ['cm-%02d' % i for i in range(25)])
        self.assertEqual(len(rvs), 1)
        full = self.core.list_namespaced_config_map(ns)
        self.assertEqual(len(full.items), 26)
        # label and field selectors
        sel = self.core.list_namespaced_config_map(ns, label_selector='n in (1,3)')
        self.assertEqual(sorted(o.metadata.name for o in sel.items),
                         ['cm-01', 'cm-03', 'cm-11', 'cm-13', 'cm-21', 'cm-23'])
        one = self.core.list_config_map_for_all_namespaces(field_selector='metadata.name=cm-07')
        self.assertEqual([o.metadata.name for o in one.items], ['cm-07'])
        with self.assertRaises(ApiException) as e:
            self.core.list_namespaced_config_map(ns, field_selector='data.k=v')
        self.assertEqual(e.exception.status, 400)
        # an exact list at an old resourceVersion sees the old state
        old = self.core.list_namespaced_config_map(
            ns, resource_version=page.metadata.resource_version, resource_version_match='Exact')
        self.assertEqual(len(old.items), 25)
        # a continue token older than the history is 410 Expired
        page = self.core.list_namespaced_config_map(ns, limit=5)
        self.core.create_namespaced_config_map(ns, cm('cm-98'))
        self.srv.control('compact')
        with self.assertRaises(ApiException) as e:
            self.core.list_namespaced_config_map(ns, limit=5, _continue=page.metadata._continue)
        self.assertEqual(e.exception.status, 410)
        self.assertIn('"reason":"Expired"', e.exception.body)

    def test_watch_from_version_with_bookmarks(self):
        ns = self.ns('watching')
        self.core.create_namespaced_config_map(ns, cm('before'))
        rv = self.core.list_namespaced_config_map(ns).metadata.resource_version

        def writer():
            self.srv.wait_watches(1)
            self.core.create_namespaced_config_map(ns, cm('a1'))
            self.core.patch_namespaced_config_map('a1', ns, {'data': {'k': 'changed'}})
            time.sleep(0.8)     # > bookmark interval
            self.core.delete_namespaced_config_map('a1', ns)
        t = threading.Thread(target=writer)
        t.start()
        events, bookmarks = [], 0
        w = watch.Watch()
        for ev in w.stream(self.core.list_namespaced_config_map, ns, resource_version=rv,
                           allow_watch_bookmarks=True, timeout_seconds=8):
            if ev['type'] == 'BOOKMARK':
                bookmarks += 1
                self.assertEqual(set(ev['raw_object']['metadata']), {'resourceVersion'})
                continue
            events.append((ev['type'], ev['object'].metadata.name,
                           (ev['object'].data or {}).get('k')))
            if ev['type'] == 'DELETED':
                w.stop()
        t.join()
        # "before" predates rv: not replayed
        self.assertEqual(events, [('ADDED', 'a1', 'v'), ('MODIFIED', 'a1', 'changed'),
                                  ('DELETED', 'a1', 'changed')])
        self.assertGreaterEqual(bookmarks, 1)

        # watch with no resourceVersion starts with synthetic ADDED events
        names = []
        for ev in watch.Watch().stream(self.core.list_namespaced_config_map, ns,
                                       timeout_seconds=1):
            names.append((ev['type'], ev['object'].metadata.name))
        self.assertEqual(names, [('ADDED', 'before')])

    def test_watch_gone_after_compaction(self):
        ns = self.ns('gone')
        rv = self.core.list_namespaced_config_map(ns).metadata.resource_version
        self.core.create_namespaced_config_map(ns, cm('x1'))
        self.srv.control('compact')
        with self.assertRaises(ApiException) as e:
            for _ in watch.Watch().stream(self.core.list_namespaced_config_map, ns,
                                          resource_version=rv, timeout_seconds=5):
                pass
        self.assertEqual(e.exception.status, 410)
        self.assertIn('Expired', e.exception.reason)
        with self.assertRaises(ApiException) as e:
            self.core.list_namespaced_config_map(ns, resource_version=rv,
                                                 resource_version_match='Exact')
        self.assertEqual(e.exception.status, 410)
        # a watch from the new version works
        rv2 = self.core.list_namespaced_config_map(ns).metadata.resource_version
        got = [ev['type'] for ev in watch.Watch().stream(self.core.list_namespaced_config_map,
                                                         ns, resource_version=rv2,
                                                         timeout_seconds=1)]
        self.assertEqual(got, [])
        # a compaction ends the open watches with ERROR 410, so their clients relist

        def compactor():
            self.srv.wait_watches(1)
            self.srv.control('compact')
        t = threading.Thread(target=compactor)
        t.start()
        with self.assertRaises(ApiException) as e:
            for _ in watch.Watch().stream(self.core.list_namespaced_config_map, ns,
                                          resource_version=rv2, timeout_seconds=8):
                pass
        t.join()
        self.assertEqual(e.exception.status, 410)

    def test_status_subresource(self):
        ns = self.ns('status')
        self.srv.kubectl('apply', '-f', os.path.join(HERE, 'crds', 'gateway-api.yaml'))
        co = client.CustomObjectsApi(self.api)
        body = {'apiVersion': GW + '/v1', 'kind': 'Gateway', 'metadata': {'name': 'g'},
                'spec': {'gatewayClassName': 'c',
                         'listeners': [{'name': 'h', 'port': 80, 'protocol': 'HTTP'}]},
                'status': {'addresses': [{'value': 'ignored'}]}}
        g = co.create_namespaced_custom_object(GW, 'v1', ns, 'gateways', body)
        self.assertNotIn('addresses', g['status'])          # status ignored on create
        self.assertEqual(g['metadata']['generation'], 1)
        st = {'status': {'addresses': [{'type': 'IPAddress', 'value': '10.1.2.3'}],
                         'conditions': []}}
        g2 = co.patch_namespaced_custom_object_status(GW, 'v1', ns, 'gateways', 'g', st)
        self.assertEqual(g2['status']['addresses'][0]['value'], '10.1.2.3')
        self.assertEqual(g2['metadata']['generation'], 1)
        self.assertNotEqual(g2['metadata']['resourceVersion'], g['metadata']['resourceVersion'])
        # the same status again: no new resourceVersion (a no-op write)
        g3 = co.patch_namespaced_custom_object_status(GW, 'v1', ns, 'gateways', 'g', st)
        self.assertEqual(g3['metadata']['resourceVersion'], g2['metadata']['resourceVersion'])
        # a spec change bumps generation; status in a main-resource write is ignored
        g4 = co.patch_namespaced_custom_object(GW, 'v1', ns, 'gateways', 'g',
                                               {'spec': {'gatewayClassName': 'd'},
                                                'status': {'addresses': []}})
        self.assertEqual(g4['metadata']['generation'], 2)
        self.assertEqual(g4['status']['addresses'][0]['value'], '10.1.2.3')
        # a status write carrying a stale resourceVersion conflicts
        with self.assertRaises(ApiException) as e:
            co.patch_namespaced_custom_object_status(
                GW, 'v1', ns, 'gateways', 'g',
                {'metadata': {'resourceVersion': g['metadata']['resourceVersion']},
                 'status': {'conditions': []}})
        self.assertEqual(e.exception.status, 409)
        # status validation: 422 Invalid naming the field
        with self.assertRaises(ApiException) as e:
            co.patch_namespaced_custom_object_status(GW, 'v1', ns, 'gateways', 'g',
                                                     {'status': {'conditions': [{'type': 'A'}]}})
        self.assertEqual(e.exception.status, 422)
        self.assertIn('status.conditions[0].status: Required value', e.exception.body)
        # core kinds: a Service's load balancer status
        svc = self.core.create_namespaced_service(ns, client.V1Service(
            metadata=client.V1ObjectMeta(name='lb'),
            spec=client.V1ServiceSpec(type='LoadBalancer',
                                      ports=[client.V1ServicePort(port=80)])))
        self.assertTrue(svc.spec.cluster_ip)
        s2 = self.core.patch_namespaced_service_status(
            'lb', ns, {'status': {'loadBalancer': {'ingress': [{'ip': '192.0.2.7'}]}}})
        self.assertEqual(s2.status.load_balancer.ingress[0].ip, '192.0.2.7')
        self.assertEqual(s2.spec.cluster_ip, svc.spec.cluster_ip)

    def test_leases(self):
        ns = self.ns('leases')
        co = client.CoordinationV1Api(self.api)

        def lease(holder):
            return client.V1Lease(metadata=client.V1ObjectMeta(name='krtgate'),
                                  spec=client.V1LeaseSpec(holder_identity=holder,
                                                          lease_duration_seconds=15,
                                                          lease_transitions=0))
        first = co.create_namespaced_lease(ns, lease('a'))
        with self.assertRaises(ApiException) as e:
            co.create_namespaced_lease(ns, lease('b'))
        self.assertEqual(e.exception.status, 409)
        self.assertIn('AlreadyExists', e.exception.body)
        mine = co.read_namespaced_lease('krtgate', ns)
        mine.spec.holder_identity = 'b'
        mine.spec.lease_transitions = 1
        won = co.replace_namespaced_lease('krtgate', ns, mine)
        self.assertEqual(won.spec.holder_identity, 'b')
        # a replica that still holds the first version loses
        first.spec.holder_identity = 'c'
        with self.assertRaises(ApiException) as e:
            co.replace_namespaced_lease('krtgate', ns, first)
        self.assertEqual(e.exception.status, 409)
        self.assertIn('"reason":"Conflict"', e.exception.body)
        self.assertIn('the object has been modified', e.exception.body)
        self.assertEqual(co.read_namespaced_lease('krtgate', ns).spec.holder_identity, 'b')

    def test_token_request_and_review(self):
        ns = self.ns('tokens')
        sa = self.core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name='proxy')))
        authn = client.AuthenticationV1Api(self.api)

        def token(aud):
            tr = self.core.create_namespaced_service_account_token(
                'proxy', ns, client.AuthenticationV1TokenRequest(
                    spec=client.V1TokenRequestSpec(audiences=aud, expiration_seconds=600)))
            return tr.status.token

        def review(tok, aud):
            return authn.create_token_review(client.V1TokenReview(
                spec=client.V1TokenReviewSpec(token=tok, audiences=aud))).status

        tok = token(['krtgate'])
        st = review(tok, ['krtgate'])
        self.assertTrue(st.authenticated)
        self.assertEqual(st.user.username, 'system:serviceaccount:%s:proxy' % ns)
        self.assertEqual(st.user.uid, sa.metadata.uid)
        self.assertIn('system:serviceaccounts:' + ns, st.user.groups)
        self.assertEqual(st.audiences, ['krtgate'])
        st = review(tok, ['someone-else'])
        self.assertFalse(st.authenticated)
        self.assertIn('audiences', st.error)
        self.assertFalse(review('garbage', ['krtgate']).authenticated)
        # revocation through the control endpoint
        self.srv.control('revoke-token', {'token': tok})
        self.assertFalse(review(tok, ['krtgate']).authenticated)
        # deleting the ServiceAccount invalidates its tokens; a new one with the same name too
        tok2 = token(['krtgate'])
        self.assertTrue(review(tok2, ['krtgate']).authenticated)
        self.core.delete_namespaced_service_account('proxy', ns)
        self.assertFalse(review(tok2, ['krtgate']).authenticated)
        self.core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name='proxy')))
        self.assertFalse(review(tok2, ['krtgate']).authenticated)
        # a token bound to a Pod dies with the Pod
        pod = self.core.create_namespaced_pod(ns, client.V1Pod(
            metadata=client.V1ObjectMeta(name='p'),
            spec=client.V1PodSpec(containers=[client.V1Container(name='c', image='i')])))
        ptok = self.core.create_namespaced_service_account_token(
            'proxy', ns, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
                audiences=['krtgate'], expiration_seconds=600,
                bound_object_ref=client.V1BoundObjectReference(kind='Pod', api_version='v1',
                                                               name='p')))).status.token
        st = review(ptok, ['krtgate'])
        self.assertTrue(st.authenticated)
        self.assertEqual(st.user.extra['authentication.kubernetes.io/pod-uid'], [pod.metadata.uid])
        self.core.delete_namespaced_pod('p', ns)
        self.assertFalse(review(ptok, ['krtgate']).authenticated)
        with self.assertRaises(ApiException) as e:
            self.core.create_namespaced_service_account_token(
                'proxy', ns, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
                    audiences=['krtgate'], bound_object_ref=client.V1BoundObjectReference(
                        kind='Pod', api_version='v1', name='p'))))
        self.assertEqual(e.exception.status, 404)
        # an API-audience token authenticates requests as the service account
        tok3 = token([])
        status, body = self.srv.json('GET', '/api/v1/namespaces/%s/serviceaccounts' % ns,
                                     token=tok3)
        self.assertEqual(status, 200)
        # ... but it is not an admin: the test control endpoints answer 403
        status, body = self.srv.json('GET', '/_test/stats', token=tok3)
        self.assertEqual((status, body['reason']), (403, 'Forbidden'))
        with self.assertRaises(ApiException) as e:
            self.core.create_namespaced_service_account_token(
                'proxy', ns, client.AuthenticationV1TokenRequest(
                    spec=client.V1TokenRequestSpec(audiences=['x'], expiration_seconds=60)))
        self.assertEqual(e.exception.status, 422)

    def test_errors_are_status_objects(self):
        status, body = self.srv.json('GET', '/api/v1/namespaces', token='bad')
        self.assertEqual(status, 401)
        self.assertEqual((body['kind'], body['reason'], body['code']), ('Status', 'Unauthorized',
                                                                        401))
        status, body = self.srv.json('GET', '/api/v1/namespaces/default/configmaps/nope')
        self.assertEqual(status, 404)
        self.assertEqual(body['message'], 'configmaps "nope" not found')
        self.assertEqual(body['details'], {'name': 'nope', 'kind': 'configmaps'})
        status, body = self.srv.json('GET', '/apis/' + GW + '/v1/namespaces/default/nothings')
        self.assertEqual(status, 404)
        status, body = self.srv.json('POST', '/api/v1/namespaces/nowhere/configmaps',
                                     {'metadata': {'name': 'x'}})
        self.assertEqual((status, body['message']), (404, 'namespaces "nowhere" not found'))
        status, body = self.srv.json('POST', '/api/v1/namespaces/default/configmaps',
                                     {'metadata': {'name': 'Bad_Name'}})
        self.assertEqual((status, body['reason']), (422, 'Invalid'))
        self.assertEqual(body['details']['causes'][0]['field'], 'metadata.name')
        status, body = self.srv.json('GET', '/_test/stats', token=False)
        self.assertEqual(status, 401)
        status, body = self.srv.json('GET', '/version', token=False)
        self.assertEqual((status, body['major']), (200, '1'))
        # injected failures (fault tests of clients)
        self.srv.control('fail', {'path': '/api/v1/namespaces/default/configmaps', 'code': 429,
                                  'count': 1, 'retryAfter': 2})
        status, headers, _ = self.srv.request('GET', '/api/v1/namespaces/default/configmaps')
        self.assertEqual((status, headers.get('Retry-After')), (429, '2'))
        status, _, _ = self.srv.request('GET', '/api/v1/namespaces/default/configmaps')
        self.assertEqual(status, 200)

    def test_finalizers_and_orphans(self):
        ns = self.ns('gc')

        def owned(name, owner):
            return client.V1ConfigMap(metadata=client.V1ObjectMeta(
                name=name, owner_references=[client.V1OwnerReference(
                    api_version='v1', kind='ConfigMap', name=owner.metadata.name,
                    uid=owner.metadata.uid)]))
        owner = self.core.create_namespaced_config_map(ns, cm('owner'))
        self.core.create_namespaced_config_map(ns, owned('kept', owner))
        self.core.delete_namespaced_config_map('owner', ns, propagation_policy='Orphan')
        kept = self.core.read_namespaced_config_map('kept', ns)
        self.assertIsNone(kept.metadata.owner_references)
        # a finalizer holds the deletion until an update removes it
        f = self.core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name='held', finalizers=['example.com/hold'])))
        self.core.delete_namespaced_config_map('held', ns)
        held = self.core.read_namespaced_config_map('held', ns)
        self.assertIsNotNone(held.metadata.deletion_timestamp)
        self.assertNotEqual(held.metadata.resource_version, f.metadata.resource_version)
        self.core.patch_namespaced_config_map('held', ns, {'metadata': {'finalizers': None}})
        with self.assertRaises(ApiException) as e:
            self.core.read_namespaced_config_map('held', ns)
        self.assertEqual(e.exception.status, 404)

    def test_crd_cel_rules(self):
        crd = {'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
               'metadata': {'name': 'widgets.example.com'},
               'spec': {'group': 'example.com', 'scope': 'Namespaced',
                        'names': {'plural': 'widgets', 'kind': 'Widget'},
                        'versions': [{'name': 'v1', 'served': True, 'storage': True, 'schema': {
                            'openAPIV3Schema': {'type': 'object', 'properties': {'spec': {
                                'type': 'object',
                                'properties': {'host': {'type': 'string'},
                                               'port': {'type': 'integer'},
                                               'timeout': {'type': 'string', 'x-kubernetes-'
                                                           'validations': [{
                                                               'rule': "duration(self) >= "
                                                                       "duration('1s')",
                                                               'message': 'at least 1s'}]}},
                                'x-kubernetes-validations': [{
                                    'rule': 'has(self.host) == has(self.port)',
                                    'message': 'host and port go together'}]}}}}}]}}
        st, _ = self.srv.json('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
                              crd)
        self.assertEqual(st, 201)
        co = client.CustomObjectsApi(self.api)

        def widget(name, spec):
            return {'apiVersion': 'example.com/v1', 'kind': 'Widget', 'metadata': {'name': name},
                    'spec': spec}
        co.create_namespaced_custom_object('example.com', 'v1', 'default', 'widgets',
                                           widget('ok', {'host': 'h', 'port': 1,
                                                         'timeout': '2s'}))
        with self.assertRaises(ApiException) as e:
            co.create_namespaced_custom_object('example.com', 'v1', 'default', 'widgets',
                                               widget('bad', {'host': 'h', 'timeout': '10ms'}))
        self.assertEqual(e.exception.status, 422)
        self.assertIn('Widget.example.com \\"bad\\" is invalid: [spec: Invalid value: '
                      '\\"object\\": host and port go together, spec.timeout: Invalid value: '
                      '\\"10ms\\": at least 1s]', e.exception.body)

    def test_openapi(self):
        """What kubectl needs: /openapi/v2 as protobuf with a media type Go's mime parser accepts
        (no '@'), and /openapi/v3 documents whose PATCH takes fieldValidation."""
        import re
        st, headers, data = self.srv.request(
            'GET', '/openapi/v2',
            headers={'Accept': 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'})
        self.assertEqual(st, 200)
        ctype = headers['Content-Type']
        self.assertRegex(ctype, r"^[a-z]+/[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
        self.assertIn('protobuf', ctype)
        self.assertEqual(data[:5], b'\x0a\x032.0')      # swagger = "2.0"
        st, idx = self.srv.json('GET', '/openapi/v3')
        url = idx['paths']['apis/coordination.k8s.io/v1']['serverRelativeURL']
        self.assertTrue(re.match(r'^/openapi/v3/apis/coordination.k8s.io/v1\?hash=[0-9A-F]+$',
                                 url))
        st, doc = self.srv.json('GET', url)
        patch = doc['paths']['/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}'][
            'patch']
        self.assertEqual(patch['x-kubernetes-group-version-kind'],
                         {'group': 'coordination.k8s.io', 'version': 'v1', 'kind': 'Lease'})
        self.assertIn('fieldValidation', [p['name'] for p in patch['parameters']])

    def test_random_requests_never_fail_inside(self):
        """Seeded random bodies, content types and paths: answers are 2xx/4xx, never 5xx."""
        import json
        import random
        rnd = random.Random(66)
        self.srv.kubectl('apply', '-f', os.path.join(HERE, 'crds', 'gateway-api.yaml'))
        paths = ['/api/v1/namespaces/default/configmaps', '/api/v1/namespaces/default/configmaps/r',
                 '/apis/%s/v1/namespaces/default/httproutes' % GW,
                 '/apis/%s/v1/namespaces/default/httproutes/r' % GW,
                 '/apis/%s/v1/namespaces/default/httproutes/r/status' % GW,
                 '/apis/apps/v1/namespaces/default/deployments/r/scale',
                 '/api/v1/namespaces/default/serviceaccounts/default/token',
                 '/apis/authentication.k8s.io/v1/tokenreviews', '/api/v1/namespaces',
                 '/apis/apiextensions.k8s.io/v1/customresourcedefinitions']
        values = [None, 1, 'x', [], {}, [1, {'a': None}], {'metadata': {'name': 'r'}},
                  {'metadata': {'name': 'r', 'labels': {'a': 1}}, 'spec': {'rules': 'x'}},
                  {'metadata': {'name': 'r'}, 'spec': {'parentRefs': [{'name': 5}]}},
                  {'metadata': {'name': 'r'}, 'spec': {'rules': [{'matches': [1]}]}},
                  [{'op': 'add', 'path': '/metadata/labels', 'value': {'x': 'y'}}],
                  {'spec': {'token': 'a.b.c'}}, {'spec': {'replicas': 'many'}},
                  {'spec': {'group': 'g', 'names': {'plural': 'p'}, 'versions': [{}]}}]
        ctypes = ['application/json', 'application/merge-patch+json',
                  'application/json-patch+json', 'application/strategic-merge-patch+json',
                  'application/apply-patch+yaml', 'application/vnd.kubernetes.protobuf',
                  'text/plain']
        for i in range(300):
            method = rnd.choice(['POST', 'PUT', 'PATCH', 'DELETE', 'GET'])
            path = rnd.choice(paths) + rnd.choice(['', '?fieldManager=t', '?dryRun=All',
                                                   '?labelSelector=a%20in%20(', '?limit=x',
                                                   '?watch=1&resourceVersion=zz'])
            body = rnd.choice(values)
            raw = json.dumps(body) if rnd.random() < 0.9 else '{"trunc'
            status, _, data = self.srv.request(method, path, raw,
                                               headers={'Content-Type': rnd.choice(ctypes)})
            self.assertLess(status, 500, '%s %s %s -> %d %s' % (method, path, raw, status,
                                                                 data[:300]))


if __name__ == '__main__':
    unittest.main(verbosity=2)
