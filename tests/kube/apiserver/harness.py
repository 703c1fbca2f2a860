"""Start and drive the test API server from Python tests (this directory's and other modules').

    with ApiServer() as srv:          # a fresh server on a free port, files in a temp dir
        srv.kubectl('get', 'ns')      # -> CompletedProcess (check=True by default)
        api = srv.client()            # a kubernetes.client.ApiClient (python3-kubernetes)
        srv.control('compact')        # POST /_test/compact as admin -> parsed JSON
        srv.request('GET', '/api/v1/namespaces')  # raw HTTPS -> (status, headers, body bytes)

Every wait is bounded; stop() sends SIGTERM and kills after 10 s.
"""

import json
import os
import queue
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, 'apiserver.py')
PYTHON = '/usr/bin/python3'


class ApiServer:
    def __init__(self, args=(), port=0, state_dir=None, workdir=None):
        # KRT_APISERVER_ARGS (space-separated) adds flags to every server, e.g. "--http2" to run
        # a whole client test over HTTP/2
        self.args = list(args) + os.environ.get('KRT_APISERVER_ARGS', '').split()
        self.port = port
        self.state_dir = state_dir
        self.own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix='krt-apiserver-')
        self.dir = os.path.join(self.workdir, 'kube')
        self.proc = None
        self.url = None
        self.kubeconfig = None
        self.stderr_path = os.path.join(self.workdir, 'apiserver.stderr')

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout=30):
        cmd = [PYTHON, SERVER, '--port', str(self.port), '--dir', self.dir] + self.args
        if self.state_dir:
            cmd += ['--state-dir', self.state_dir]
        os.makedirs(self.workdir, exist_ok=True)
        self.stderr = open(self.stderr_path, 'ab')
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr)
        deadline = time.monotonic() + timeout
        line = b''
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith(b'READY '):
                    break
                if not line:
                    break
            if self.proc.poll() is not None:
                break
        if not line.startswith(b'READY '):
            self.stop()
            raise RuntimeError('apiserver did not start: %s' % self.log_tail())
        parts = line.decode().split()
        self.url = parts[1]
        self.port = int(self.url.rsplit(':', 1)[1])
        self.kubeconfig = parts[2].split('=', 1)[1]
        with open(os.path.join(self.dir, 'token')) as f:
            self.token = f.read().strip()
        self.ca = os.path.join(self.dir, 'ca.crt')
        return self

    def stop(self, timeout=10):
        """SIGTERM, wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        else:
            rc = self.proc.returncode
        self.proc.stdout.close()
        self.stderr.close()
        self.proc = None
        return rc

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def log_tail(self, n=4000):
        try:
            with open(self.stderr_path, 'rb') as f:
                return f.read()[-n:].decode(errors='replace')
        except OSError:
            return ''

    # --- clients ---------------------------------------------------------------------------------

    def env(self):
        e = dict(os.environ)
        e['KUBECONFIG'] = self.kubeconfig
        e['KUBECACHEDIR'] = os.path.join(self.workdir, 'kubectl-cache')
        e['HOME'] = self.workdir
        return e

    def kubectl(self, *args, check=True, timeout=20, input=None):
        p = subprocess.run(['kubectl', '--request-timeout=15s'] + list(args), env=self.env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise AssertionError('kubectl %s failed (%d):\n%s%s' % (' '.join(args), p.returncode,
                                                                   p.stdout, p.stderr))
        return p

    def kubectl_bg(self, *args):
        """A kubectl in the background (e.g. get -w): read its output with read_line(), stop it
        with finish_bg(). A thread moves stdout lines to proc.lines (a queue)."""
        proc = subprocess.Popen(['kubectl'] + list(args), env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        proc.lines = queue.Queue()

        def pump():
            for line in proc.stdout:
                proc.lines.put(line)
            proc.lines.put('')
        threading.Thread(target=pump, daemon=True).start()
        return proc

    @staticmethod
    def read_line(proc, timeout):
        """The next stdout line of a kubectl_bg process ('' at EOF or after timeout s)."""
        try:
            return proc.lines.get(timeout=timeout)
        except queue.Empty:
            return ''

    @staticmethod
    def finish_bg(proc, timeout=15):
        """Waits for (or after timeout kills) a kubectl_bg process; returns (stdout, stderr)."""
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        lines = []
        while True:
            try:
                line = proc.lines.get(timeout=2)
            except queue.Empty:
                break
            if not line:
                break
            lines.append(line)
        err = proc.stderr.read()
        proc.stderr.close()
        return ''.join(lines), err

    def client(self):
        from kubernetes import config
        return config.new_client_from_config(config_file=self.kubeconfig)

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx

    def request(self, method, path, body=None, token=None, headers=None, timeout=15):
        conn = http.client.HTTPSConnection('127.0.0.1', self.port, context=self.ssl_context(),
                                           timeout=timeout)
        h = {'Accept': 'application/json'}
        if token is not False:
            h['Authorization'] = 'Bearer ' + (token or self.token)
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h['Content-Type'] = 'application/json'
        h.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    def json(self, method, path, body=None, **kw):
        status, _, data = self.request(method, path, body, **kw)
        return status, json.loads(data) if data else None

    def wait_watches(self, n, timeout=10):
        """Waits until at least n watches are open on the server."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.control('stats', method='GET')['watches_open'] >= n:
                return
            time.sleep(0.05)
        raise AssertionError('fewer than %d watches open after %ss' % (n, timeout))

    def control(self, name, body=None, method='POST'):
        status, out = self.json(method, '/_test/' + name, body if body is not None else {}
                                if method == 'POST' else None)
        if status != 200:
            raise AssertionError('/_test/%s: %d %s' % (name, status, out))
        return out


def main_guard(fn):
    """Runs fn() and exits 0 on success, 1 with the error on failure (for ctest scripts)."""
    try:
        fn()
    except Exception:
        import traceback
        traceback.print_exc()
        sys.exit(1)
