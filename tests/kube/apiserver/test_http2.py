#!/usr/bin/python3
"""--http2: curl and nghttp (nghttp2's client) against the test API server over HTTP/2: large
answers past the flow-control window, a watch stream, several streams multiplexed on one
connection, and a dropped connection. (kubectl's own tests also run over HTTP/2: see
CMakeLists.txt, kube/apiserver_kubectl_h2.)"""

import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ApiServer  # noqa: E402


class Http2Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ApiServer(['--http2', '--bookmark-interval', '0.2']).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, 'apiserver exited with %r' % rc

    def curl(self, path, *extra, timeout=15):
        return subprocess.run(['curl', '-sS', '--http2', '--cacert', self.srv.ca, '-H',
                               'Authorization: Bearer ' + self.srv.token, '-w',
                               '\\n%{http_version} %{http_code}'] + list(extra) +
                              [self.srv.url + path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    def test_large_list_past_the_window(self):
        big = 'x' * 20000
        for i in range(20):     # ~400 KB: several times the 64 KB initial window
            st, _ = self.srv.json('POST', '/api/v1/namespaces/default/configmaps',
                                  {'metadata': {'name': 'big-%02d' % i}, 'data': {'d': big}})
            self.assertEqual(st, 201)
        p = self.curl('/api/v1/namespaces/default/configmaps')
        body, _, tail = p.stdout.rpartition('\n')
        self.assertEqual(tail, '2 200', p.stderr)
        items = json.loads(body)['items']
        self.assertEqual(len(items), 20)
        self.assertTrue(all(len(o['data']['d']) == 20000 for o in items))

    def test_watch_stream_and_multiplexing(self):
        # a watch and a bookmark-only watch on one connection (nghttp -a: one connection,
        # concurrent streams), both ended by timeoutSeconds
        if shutil.which('nghttp') is None:
            self.skipTest('nghttp (nghttp2-client) not installed')
        rv = self.srv.json('GET', '/api/v1/namespaces/default/secrets')[1]['metadata'][
            'resourceVersion']
        self.srv.json('POST', '/api/v1/namespaces/default/secrets',
                      {'metadata': {'name': 's1'}, 'stringData': {'k': 'v'}})
        p = subprocess.run(
            ['nghttp', '-n', '-s', '-H', 'authorization: Bearer ' + self.srv.token,
             self.srv.url + '/api/v1/namespaces/default/secrets?watch=1&timeoutSeconds=1&'
             'resourceVersion=' + rv,
             self.srv.url + '/api/v1/namespaces?watch=1&allowWatchBookmarks=true&'
             'timeoutSeconds=1&resourceVersion=' + rv,
             self.srv.url + '/version'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=15)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # nghttp -s prints one line per stream with its status; all three completed with 200
        self.assertEqual(p.stdout.count(' 200 '), 3, p.stdout)
        p = self.curl('/api/v1/namespaces/default/secrets?watch=1&timeoutSeconds=1&'
                      'resourceVersion=' + rv)
        body, _, tail = p.stdout.rpartition('\n')
        self.assertEqual(tail, '2 200')
        events = [json.loads(line) for line in body.splitlines() if line.strip()]
        self.assertEqual([(e['type'], e['object']['metadata']['name']) for e in events],
                         [('ADDED', 's1')])

    def test_dropped_connection(self):
        w = subprocess.Popen(['curl', '-sS', '--http2', '--cacert', self.srv.ca, '-N', '-H',
                              'Authorization: Bearer ' + self.srv.token,
                              self.srv.url + '/api/v1/namespaces?watch=1&timeoutSeconds=20'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.srv.wait_watches(1)
            t = time.monotonic()
            self.srv.control('drop-watches')
            out, err = w.communicate(timeout=10)
        finally:
            if w.poll() is None:
                w.kill()
                w.communicate()
        self.assertLess(time.monotonic() - t, 10)
        self.assertNotEqual(w.returncode, 0, err)      # cut, not a clean end of stream
        self.assertEqual(out.count('"ADDED"'), 4)       # the default namespaces came first

    def test_goaway(self):
        if shutil.which('nghttp') is None:
            self.skipTest('nghttp (nghttp2-client) not installed')
        p = subprocess.Popen(['nghttp', '-v', '-H', 'authorization: Bearer ' + self.srv.token,
                              self.srv.url + '/api/v1/namespaces?watch=1&timeoutSeconds=20'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.srv.wait_watches(1)
            self.assertGreaterEqual(self.srv.control('goaway')['connections'], 1)
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertIn('recv GOAWAY frame', out)
        self.assertIn('error_code=NO_ERROR', out)


if __name__ == '__main__':
    unittest.main(verbosity=2)
