#!/usr/bin/python3
"""Client-connection limits through `krtgate run`: an AgentgatewayPolicy with `spec.frontend`
on the Gateway is translated, delivered to the in-process proxy and enforced on the Gateway's
port, and the `--client-header-timeout` flag reaches the proxy. Checks, with plain sockets:
`http1MaxHeaders: 4` answers 431 to a request with more fields (and serves one with fewer), an
idle keep-alive connection is closed after `http1IdleTimeout: 500ms` (not before, and without an
answer), and a request head stalled mid-way is answered 408 after the 300 ms header deadline.

Usage: frontend_policy.py KRTGATE
Exit: 0 pass, 1 fail. Everything listens on a random 127.X.Y.0/24 and is stopped on exit; every
socket has a timeout.
"""
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import krtgate_rig as rig  # noqa: E402

NET = rig.random_net()
GW = (NET + ".1", 8080)

MANIFESTS = rig.gateway_manifests(GW) + """---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: limits, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  frontend:
    http: {http1IdleTimeout: 500ms, http1MaxHeaders: 4}
    tcp: {keepalive: {time: 30s, interval: 5s, retries: 3}}
"""

FIELDS = "".join("X-F%d: %d\r\n" % (i, i) for i in range(6))


def exchange(data, timeout=10.0):
    """Sends |data| on a new connection and reads until the proxy closes it (or |timeout|).
    Returns (bytes read, seconds from the send to the close, or None when still open)."""
    s = socket.create_connection(GW, timeout=timeout)
    t0 = time.monotonic()
    s.sendall(data)
    got = b""
    closed = None
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = time.monotonic() - t0
                break
            got += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = time.monotonic() - t0
    s.close()
    return got, closed


def main():
    if len(sys.argv) != 2:
        print("usage: frontend_policy.py KRTGATE", file=sys.stderr)
        return 2
    krtgate = sys.argv[1]
    work = tempfile.mkdtemp(prefix="frontend_policy.")
    proc = None
    checks = rig.Checks("frontend_policy")
    check = checks.check
    try:
        proc = rig.start_krtgate(krtgate, work, "gw.yaml", MANIFESTS,
                                 ("--client-header-timeout", "300ms"))
        if not rig.wait_port(GW, proc, 15):
            print(rig.log_tail(work, 2000), file=sys.stderr)
            print("frontend_policy: the Gateway never listened", file=sys.stderr)
            return 1
        many = ("GET /x HTTP/1.1\r\nHost: a\r\n" + FIELDS + "\r\n").encode()
        got = b""
        for _ in range(50):  # the policy may reach the listener a moment after the port opened
            got, _ = exchange(many, timeout=5)
            if got.startswith(b"HTTP/1.1 431"):
                break
            time.sleep(0.1)
        check("http1MaxHeaders: more fields get 431", got.startswith(b"HTTP/1.1 431"),
              got[:80].decode(errors="replace"))
        got, _ = exchange(b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nConnection: close\r\n\r\n")
        check("fewer fields are served (404: no route)", got.startswith(b"HTTP/1.1 404"),
              got[:80].decode(errors="replace"))

        got, closed = exchange(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        check("keep-alive answer", got.startswith(b"HTTP/1.1 404") and
              got.count(b"HTTP/1.1") == 1, got[:80].decode(errors="replace"))
        check("idle connection closed by http1IdleTimeout (500ms), not before",
              closed is not None and closed >= 0.48, repr(closed))

        got, closed = exchange(b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: 1")
        check("stalled head answered 408", got.startswith(b"HTTP/1.1 408"),
              got[:80].decode(errors="replace"))
        check("after the 300 ms header deadline (--client-header-timeout)",
              closed is not None and closed >= 0.28, repr(closed))
    except Exception as e:  # noqa: BLE001 - any failure is reported with its reason
        checks.exception(e)
    finally:
        rig.stop_krtgate(proc, work, checks)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
