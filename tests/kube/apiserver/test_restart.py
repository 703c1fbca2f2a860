#!/usr/bin/python3
"""Restart with --state-dir: objects, CRDs, tokens and the watch history survive a SIGTERM and a
new start on the same port; resourceVersions keep increasing; open watches end cleanly; dropped
watch connections (/_test/drop-watches) look like a network failure to the client."""

import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ApiServer, HERE  # noqa: E402

GW = 'gateway.networking.k8s.io'


def raw_watch(srv, path, timeout=10):
    """Opens a watch with a plain TLS socket; returns (socket, file) after the headers."""
    ctx = ssl.create_default_context(cafile=srv.ca)
    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', srv.port), timeout=timeout),
                        server_hostname='127.0.0.1')
    s.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n'
               'Accept: application/json\r\n\r\n' % (path, srv.token)).encode())
    f = s.makefile('rb')
    status = f.readline()
    assert b' 200 ' in status, status
    while f.readline() not in (b'\r\n', b''):
        pass
    return s, f


def read_chunks(f):
    """Yields the chunk payloads of a chunked body until the last chunk or EOF/error."""
    while True:
        try:
            line = f.readline()
        except (OSError, ssl.SSLError):
            yield None
            return
        if not line:
            yield None          # connection closed without the last chunk
            return
        n = int(line.strip(), 16)
        if n == 0:
            f.readline()
            yield b''
            return
        data = f.read(n)
        f.readline()
        yield data


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='krt-apiserver-restart-')
        self.state = os.path.join(self.tmp, 'state')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_restart_keeps_state(self):
        srv = ApiServer(['--bookmark-interval', '0.2'], state_dir=self.state,
                        workdir=os.path.join(self.tmp, 'run')).start()
        try:
            srv.kubectl('apply', '-f', os.path.join(HERE, 'crds', 'gateway-api.yaml'))
            st, _ = srv.json('POST', '/api/v1/namespaces/default/serviceaccounts',
                             {'metadata': {'name': 'proxy'}})
            self.assertEqual(st, 201)
            st, tr = srv.json('POST', '/api/v1/namespaces/default/serviceaccounts/proxy/token',
                              {'spec': {'audiences': ['krtgate']}})
            self.assertEqual(st, 201)
            token = tr['status']['token']
            st, gc = srv.json('POST', '/apis/%s/v1/gatewayclasses' % GW,
                              {'metadata': {'name': 'krtgate'},
                               'spec': {'controllerName': 'krtgate.dev/c'}})
            self.assertEqual(st, 201)
            rv1 = int(gc['metadata']['resourceVersion'])
            st, _ = srv.json('POST', '/api/v1/namespaces/default/configmaps',
                             {'metadata': {'name': 'after'}, 'data': {'a': '1'}})
            # a watch open at SIGTERM ends with its last chunk (a clean end, not a reset)
            s, f = raw_watch(srv, '/apis/%s/v1/gatewayclasses?watch=1&resourceVersion=%d'
                             % (GW, rv1))
            port = srv.port
            self.assertEqual(srv.stop(), 0)
            chunks = list(read_chunks(f))
            f.close()
            s.close()
            self.assertEqual(chunks[-1], b'')
            self.assertTrue(os.path.exists(os.path.join(self.state, 'state.json')))
        finally:
            srv.stop()

        srv2 = ApiServer(['--bookmark-interval', '0.2'], port=port, state_dir=self.state,
                         workdir=os.path.join(self.tmp, 'run')).start()
        try:
            self.assertEqual(srv2.url, 'https://127.0.0.1:%d' % port)
            self.assertEqual(srv2.token, srv.token)       # the same kubeconfig keeps working
            got = srv2.kubectl('get', 'gatewayclass', 'krtgate', '-o', 'json').stdout
            self.assertEqual(json.loads(got)['metadata']['uid'], gc['metadata']['uid'])
            st, rev = srv2.json('POST', '/apis/authentication.k8s.io/v1/tokenreviews',
                                {'spec': {'token': token, 'audiences': ['krtgate']}})
            self.assertTrue(rev['status']['authenticated'])
            # the history survived: a watch from before the restart replays what followed
            s, f = raw_watch(srv2, '/api/v1/namespaces/default/configmaps?watch=1&'
                             'resourceVersion=%d&timeoutSeconds=1' % rv1)
            events = [json.loads(c) for c in read_chunks(f) if c]
            f.close()
            s.close()
            self.assertEqual([(e['type'], e['object']['metadata']['name']) for e in events],
                             [('ADDED', 'after')])
            st, cm = srv2.json('POST', '/api/v1/namespaces/default/configmaps',
                               {'metadata': {'name': 'later'}})
            self.assertGreater(int(cm['metadata']['resourceVersion']), rv1)
            self.assertEqual(srv2.control('stats?check=1', method='GET')['invariants'], [])
        finally:
            self.assertEqual(srv2.stop(), 0)

    def test_bad_state_and_busy_port(self):
        os.makedirs(self.state)
        with open(os.path.join(self.state, 'state.json'), 'w') as f:
            f.write('{"version": 1, "objects": [')
        srv = ApiServer(state_dir=self.state, workdir=os.path.join(self.tmp, 'b'))
        with self.assertRaises(RuntimeError) as e:
            srv.start()
        self.assertIn('cannot load the saved state', str(e.exception))
        with ApiServer(workdir=os.path.join(self.tmp, 'p')) as first:
            busy = ApiServer(port=first.port, workdir=os.path.join(self.tmp, 'q'))
            with self.assertRaises(RuntimeError) as e:
                busy.start()
            self.assertIn('cannot listen on 127.0.0.1:%d' % first.port, str(e.exception))

    def test_send_initial_events(self):
        with ApiServer(workdir=os.path.join(self.tmp, 'i')) as srv:
            s, f = raw_watch(srv, '/api/v1/namespaces?watch=1&sendInitialEvents=true&'
                             'resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&'
                             'timeoutSeconds=1')
            evs = [json.loads(c) for c in read_chunks(f) if c]
            f.close()
            s.close()
            self.assertEqual([e['type'] for e in evs[:5]], ['ADDED'] * 4 + ['BOOKMARK'])
            self.assertEqual(evs[4]['object']['metadata']['annotations'],
                             {'k8s.io/initial-events-end': 'true'})
            st, body = srv.json('GET', '/api/v1/namespaces?watch=1&sendInitialEvents=true')
            self.assertEqual(st, 422)

    def test_stale_reads_and_future_versions(self):
        with ApiServer(['--stale-reads', '2'], workdir=os.path.join(self.tmp, 's')) as srv:
            for name in ('a', 'b', 'c'):
                st, obj = srv.json('POST', '/api/v1/namespaces/default/configmaps',
                                   {'metadata': {'name': name}})
            rv = int(obj['metadata']['resourceVersion'])
            st, lst = srv.json('GET', '/api/v1/namespaces/default/configmaps?resourceVersion=0')
            self.assertEqual([o['metadata']['name'] for o in lst['items']], ['a'])
            self.assertEqual(lst['metadata']['resourceVersion'], str(rv - 2))
            st, lst = srv.json('GET', '/api/v1/namespaces/default/configmaps')
            self.assertEqual(len(lst['items']), 3)          # a consistent read is current
            # a watch from the stale version catches up
            s, f = raw_watch(srv, '/api/v1/namespaces/default/configmaps?watch=1&'
                             'timeoutSeconds=1&resourceVersion=%d' % (rv - 2))
            evs = [json.loads(c) for c in read_chunks(f) if c]
            f.close()
            s.close()
            self.assertEqual([e['object']['metadata']['name'] for e in evs], ['b', 'c'])
            # a version from the future is waited for...
            threading.Timer(0.5, lambda: srv.json(
                'POST', '/api/v1/namespaces/default/configmaps', {'metadata': {'name': 'd'}})
            ).start()
            st, lst = srv.json('GET', '/api/v1/namespaces/default/configmaps?resourceVersion=%d'
                               % (rv + 1))
            self.assertEqual((st, len(lst['items'])), (200, 4))
            # ... then refused as a real server does (client-go relists on it)
            st, body = srv.json('GET', '/api/v1/namespaces/default/configmaps?watch=1&'
                                'resourceVersion=%d' % (rv + 100))
            self.assertEqual((st, body['reason']), (504, 'Timeout'))
            self.assertEqual(body['details']['causes'][0]['reason'], 'ResourceVersionTooLarge')

    def test_drop_watches(self):
        with ApiServer(['--bookmark-interval', '0.2'], workdir=os.path.join(self.tmp, 'd')) as srv:
            s, f = raw_watch(srv, '/api/v1/namespaces?watch=1&allowWatchBookmarks=true')
            chunks = read_chunks(f)
            first = [json.loads(next(chunks)) for _ in range(4)]     # the 4 default namespaces
            self.assertEqual({e['type'] for e in first}, {'ADDED'})
            bm = json.loads(next(chunks))
            self.assertEqual(bm['type'], 'BOOKMARK')
            self.assertEqual(bm['object']['kind'], 'Namespace')
            srv.control('drop-watches')
            rest = list(chunks)
            self.assertIsNone(rest[-1])         # cut: no last chunk
            f.close()
            s.close()
            # graceful drop: the stream ends normally
            s, f = raw_watch(srv, '/api/v1/namespaces?watch=1&resourceVersion=%s'
                             % bm['object']['metadata']['resourceVersion'])
            srv.wait_watches(1)
            srv.control('drop-watches?graceful=1')
            self.assertEqual(list(read_chunks(f))[-1], b'')
            f.close()
            s.close()

    def test_client_close_ends_watch(self):
        with ApiServer(workdir=os.path.join(self.tmp, 'c')) as srv:
            s, f = raw_watch(srv, '/api/v1/namespaces?watch=1')
            srv.wait_watches(1)
            f.close()
            s.close()
            deadline = time.monotonic() + 10
            while srv.control('stats', method='GET')['watches_open'] and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(srv.control('stats', method='GET')['watches_open'], 0)

    def test_fault_controls(self):
        """--ready-workloads, /_test/stall-watches, /_test/rotate-admin-token with a tokenFile
        kubeconfig."""
        with ApiServer(['--ready-workloads', '--kubeconfig-token-file', '--bookmark-interval',
                        '0.2'], workdir=os.path.join(self.tmp, 'f')) as srv:
            st, _ = srv.json('POST', '/apis/apps/v1/namespaces/default/deployments', {
                'metadata': {'name': 'web'},
                'spec': {'replicas': 3, 'selector': {'matchLabels': {'a': 'b'}},
                         'template': {'metadata': {'labels': {'a': 'b'}},
                                      'spec': {'containers': [{'name': 'c', 'image': 'i'}]}}}})
            self.assertEqual(st, 201)
            self.assertIn('successfully rolled out',
                          srv.kubectl('rollout', 'status', 'deployment/web',
                                      '--timeout=10s').stdout)
            srv.kubectl('scale', 'deployment/web', '--replicas=5')
            srv.kubectl('rollout', 'status', 'deployment/web', '--timeout=10s')
            st, d = srv.json('GET', '/apis/apps/v1/namespaces/default/deployments/web')
            self.assertEqual((d['status']['readyReplicas'], d['status']['observedGeneration']),
                             (5, d['metadata']['generation']))

            s, f = raw_watch(srv, '/api/v1/namespaces/default/configmaps?watch=1&'
                             'allowWatchBookmarks=true&resourceVersion=%s'
                             % d['metadata']['resourceVersion'])
            chunks = read_chunks(f)
            self.assertEqual(json.loads(next(chunks))['type'], 'BOOKMARK')
            srv.control('stall-watches?seconds=1')
            srv.json('POST', '/api/v1/namespaces/default/configmaps', {'metadata': {'name': 'x'}})
            t = time.monotonic()
            while True:
                e = json.loads(next(chunks))
                if e['type'] != 'BOOKMARK':
                    break
            self.assertGreaterEqual(time.monotonic() - t, 0.5)   # held back, then delivered
            self.assertEqual((e['type'], e['object']['metadata']['name']), ('ADDED', 'x'))
            f.close()
            s.close()

            old = srv.token
            srv.control('rotate-admin-token')
            self.assertEqual(srv.json('GET', '/api/v1/namespaces', token=old)[0], 401)
            with open(os.path.join(srv.dir, 'token')) as tf:
                self.assertNotEqual(tf.read().strip(), old)
            # kubectl reads the tokenFile the kubeconfig names: it follows the rotation
            self.assertEqual(srv.kubectl('get', 'ns', 'default', '-o', 'name').stdout.strip(),
                             'namespace/default')

    def test_concurrent_watchers_see_every_event_in_order(self):
        with ApiServer(['--bookmark-interval', '0.1'], workdir=os.path.join(self.tmp, 'w')) as srv:
            rv = srv.json('GET', '/api/v1/namespaces/default/configmaps')[1]['metadata'][
                'resourceVersion']
            results = {}

            def watcher(i):
                s, f = raw_watch(srv, '/api/v1/namespaces/default/configmaps?watch=1&'
                                 'allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion=' + rv)
                results[i] = [json.loads(c) for c in read_chunks(f) if c]
                f.close()
                s.close()

            def writer(j):
                for k in range(25):
                    name = 'w%d-%d' % (j, k)
                    srv.json('POST', '/api/v1/namespaces/default/configmaps',
                             {'metadata': {'name': name}})
                    srv.request('DELETE', '/api/v1/namespaces/default/configmaps/' + name)
            watchers = [threading.Thread(target=watcher, args=(i,)) for i in range(5)]
            for t in watchers:
                t.start()
            srv.wait_watches(5)
            writers = [threading.Thread(target=writer, args=(j,)) for j in range(4)]
            for t in writers:
                t.start()
            for t in writers + watchers:
                t.join(30)
            for i, evs in results.items():
                rvs = [int(e['object']['metadata']['resourceVersion']) for e in evs]
                self.assertEqual(rvs, sorted(rvs))
                changes = [e for e in evs if e['type'] != 'BOOKMARK']
                self.assertEqual(len(changes), 200)
                self.assertEqual(len(set(int(e['object']['metadata']['resourceVersion'])
                                         for e in changes)), 200)
            self.assertEqual(len(results), 5)
            self.assertEqual(srv.control('stats?check=1', method='GET')['invariants'], [])


if __name__ == '__main__':
    unittest.main(verbosity=2)
