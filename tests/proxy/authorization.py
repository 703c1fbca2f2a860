#!/usr/bin/python3
"""Authorization through `krtgate run`: AgentgatewayPolicy manifests (traffic.authorization with
CEL rules, frontend.networkAuthorization) translated, delivered in-process and enforced by the
proxy. An Allow policy on the HTTPRoute admits only x-user alice, a Deny policy on the Gateway
refuses DELETE on every route (the two compose), and a networkAuthorization Deny on the Gateway
closes connections from one source address of the test's /24 while the others are served.

Usage: authorization.py KRTGATE
Exit: 0 pass, 1 fail. Everything listens on a random 127.X.Y.0/24 and is stopped on exit; every
socket has a timeout.
"""
import http.client
import os
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import krtgate_rig as rig  # noqa: E402

NET = rig.random_net()
GW = (NET + ".1", 8080)
BACKEND = (NET + ".2", 18153)
CLIENT = NET + ".3"
REFUSED = NET + ".9"

MANIFESTS = rig.gateway_manifests(GW) + """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: app, port: 80}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: only-alice, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  traffic:
    authorization:
      action: Allow
      policy: {matchExpressions: ["request.headers['x-user'] == 'alice'"]}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: no-delete, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  traffic:
    authorization:
      action: Deny
      policy: {matchExpressions: ["request.method == 'DELETE'"]}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: network, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  frontend:
    networkAuthorization:
      action: Deny
      policy: {matchExpressions: ["source.address == '%s'"]}
---""" % REFUSED + rig.backend_manifests("app", "10.96.42.3", "http", 80, "http", BACKEND)


class Echo(BaseHTTPRequestHandler):
    """Answers every method with 200 and "<method> <path>"."""

    def answer(self):
        body = ("%s %s" % (self.command, self.path)).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = answer

    def log_message(self, *args):
        pass


def request(method, path, headers=None, source=CLIENT):
    """(status, body) of one request from |source|; (0, error) when the connection fails."""
    c = http.client.HTTPConnection(GW[0], GW[1], timeout=5, source_address=(source, 0))
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as e:
        return 0, repr(e)
    finally:
        c.close()


def main():
    krtgate = sys.argv[1]
    work = tempfile.mkdtemp(prefix="krtgate-authz-")
    checks = rig.Checks("authorization")
    check = checks.check
    srv = ThreadingHTTPServer(BACKEND, Echo)
    srv.timeout = 1
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    proc = None
    try:
        proc = rig.start_krtgate(krtgate, work, "authz.yaml", MANIFESTS)
        if not rig.wait_port(GW, proc, 15):
            print(rig.log_tail(work, 2000), file=sys.stderr)
            print("authorization: the Gateway never listened", file=sys.stderr)
            return 1
        status, body = 0, ""
        for _ in range(50):  # the route and its endpoints may arrive a moment after the port
            status, body = request("GET", "/hello", {"x-user": "alice"})
            if status == 200:
                break
            time.sleep(0.1)
        check("alice is allowed", status == 200 and body == "GET /hello", "%d %s" % (status, body))
        status, body = request("GET", "/hello", {"x-user": "bob"})
        check("bob is denied (allow rule)", status == 403 and "RBAC: access denied" in body,
              "%d %s" % (status, body))
        status, body = request("GET", "/hello")
        check("no x-user is denied", status == 403, "%d %s" % (status, body))
        status, body = request("DELETE", "/hello", {"x-user": "alice"})
        check("DELETE is denied by the Gateway's policy (composed)", status == 403,
              "%d %s" % (status, body))
        status, body = request("POST", "/hello", {"x-user": "alice"})
        check("POST by alice passes", status == 200 and body == "POST /hello",
              "%d %s" % (status, body))
        status, body = request("GET", "/hello", {"x-user": "alice"}, source=REFUSED)
        check("a refused source address gets no response", status == 0, "%d %s" % (status, body))
        check("the refusal is logged", "refused: policy/" in rig.log_tail(work, 20000))
        status, body = request("GET", "/hello", {"x-user": "alice"})
        check("other sources are still served", status == 200, "%d %s" % (status, body))
    except Exception as e:
        checks.exception(e)
    finally:
        rig.stop_krtgate(proc, work, checks)
        srv.shutdown()
        srv.server_close()
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
