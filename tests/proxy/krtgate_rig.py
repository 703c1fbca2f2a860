"""The rig shared by the proxy's python integration tests (grpc_passthrough.py,
websocket_tunnel.py): a /24 of 127/8 per run, the manifests of a Gateway and of a backend Service
with one Ready Pod, `krtgate run` on a folder of manifests, and pass/fail bookkeeping.

A script imports it from its own folder (sys.path gets the script's directory first).
"""
import os
import random
import shutil
import socket
import subprocess
import sys
import time


def random_net():
    """A /24 of its own per run (127.100-199.x.0), so two build trees can run a test at once."""
    return "127.%d.%d" % (random.randint(100, 199), random.randint(0, 255))


def gateway_manifests(gw):
    """GatewayClass agentgateway and Gateway default/gw, one HTTP listener at |gw| (ip, port)."""
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: agentgateway}}
spec: {{controllerName: agentgateway.dev/agentgateway}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: agentgateway
  addresses: [{{type: IPAddress, value: {gw[0]}}}]
  listeners: [{{name: http, protocol: HTTP, port: {gw[1]}}}]
"""


def backend_manifests(name, cluster_ip, port_name, port, app_protocol, backend):
    """Service default/|name| (|port| → the backend's port, with |app_protocol|) and its Pod
    |name|-1, Running and Ready at |backend| (ip, port)."""
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{app: {name}}}
  clusterIP: {cluster_ip}
  ports: [{{name: {port_name}, port: {port}, targetPort: {backend[1]}, appProtocol: {app_protocol}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}-1, namespace: default, labels: {{app: {name}}}}}
spec:
  containers: [{{name: echo, image: echo, ports: [{{containerPort: {backend[1]}}}]}}]
status:
  phase: Running
  podIP: {backend[0]}
  conditions: [{{type: Ready, status: "True"}}]
"""


class Checks:
    """Prints one line per check and remembers the failures."""

    def __init__(self, name):
        self.name = name
        self.failures = []

    def check(self, what, cond, detail=""):
        print(("ok   " if cond else "FAIL ") + what + (": " + detail if detail and not cond else ""))
        if not cond:
            self.failures.append(what)

    def exception(self, e):
        """A hang or a crash is a failure with its reason."""
        self.failures.append("exception: %r" % (e,))
        print("FAIL exception: %r" % (e,))

    def summary(self):
        """Prints the verdict; returns the exit code (0 pass, 1 fail)."""
        print("%s: %s" % (self.name, "PASS" if not self.failures else
                          "FAIL: " + ", ".join(self.failures)))
        return 0 if not self.failures else 1


def wait_port(addr, proc, seconds):
    """True once |addr| accepts a connection; False when |proc| exits or |seconds| pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(addr, timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def log_tail(work, n):
    with open(os.path.join(work, "krtgate.log")) as f:
        return f.read()[-n:]


def start_krtgate(krtgate, work, manifest_file, manifests, extra_args=()):
    """Writes |manifests| to |work|/|manifest_file| and starts `krtgate run` on |work| (no watch,
    xDS and admin on port 0), its output in |work|/krtgate.log. Returns the process."""
    with open(os.path.join(work, manifest_file), "w") as f:
        f.write(manifests)
    log = open(os.path.join(work, "krtgate.log"), "w")
    return subprocess.Popen([krtgate, "run", "--no-watch", "--xds-listen", "127.0.0.1:0",
                             "--admin-listen", "127.0.0.1:0", *extra_args, work],
                            stdout=log, stderr=subprocess.STDOUT)


def stop_krtgate(proc, work, checks):
    """Stops |proc| (SIGTERM, SIGKILL after 10 s); an unclean exit is a failure, with the log's
    tail. Removes |work|."""
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.returncode not in (0, -15):
            checks.failures.append("krtgate exited with %s" % proc.returncode)
            print(log_tail(work, 3000), file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
