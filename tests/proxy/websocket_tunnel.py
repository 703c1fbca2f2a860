#!/usr/bin/python3
"""WebSocket through krtgate: an HTTP/1.1 Upgrade request is forwarded, the 101 comes back, and
the connection becomes a byte tunnel both ways. The echo backend and the client are written on
the standard library (handshake and frames by hand, RFC 6455). Checks the handshake
(Sec-WebSocket-Accept computed by the backend reaches the client), a text echo, a 1 MiB binary
echo (backpressure through the tunnel), a half-close (the client's FIN reaches the backend, which
then still sends a last frame the client reads before the EOF), an upgrade the backend
refuses (its 403 comes back as a plain response), and the idle deadline (krtgate runs with
--tunnel-idle-timeout 1s: a tunnel that talks every 300 ms lives past it, a silent one is
closed).

Usage: websocket_tunnel.py KRTGATE
Exit: 0 pass, 1 fail. Everything listens on a random 127.X.Y.0/24 and is stopped on exit; every socket
has a timeout.
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import krtgate_rig as rig  # noqa: E402

NET = rig.random_net()
GW = (NET + ".1", 8080)
BACKEND = (NET + ".2", 18152)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

MANIFESTS = rig.gateway_manifests(GW) + """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ws, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: ws-echo, port: 80}]
---""" + rig.backend_manifests("ws-echo", "10.96.42.2", "ws", 80, "kubernetes.io/ws", BACKEND)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError("connection closed in the head: %r" % buf)
        buf += chunk
    lines = buf.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    return lines[0], fields


def send_frame(sock, opcode, payload, mask):
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else \
            (int.from_bytes(payload, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")
             ).to_bytes(n, "big")
        head += key
    sock.sendall(head + payload)


def read_frame(sock):
    """Returns (opcode, payload), or None at EOF before a frame."""
    first = sock.recv(1)
    if not first:
        return None
    b1 = recv_exact(sock, 1)[0]
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(sock, 8))[0]
    key = recv_exact(sock, 4) if b1 & 0x80 else None
    payload = recv_exact(sock, n)
    if key:
        payload = (int.from_bytes(payload, "big") ^
                   int.from_bytes((key * (n // 4 + 1))[:n], "big")).to_bytes(n, "big") if n else b""
    return first[0] & 0x0F, payload


# --- the backend ----------------------------------------------------------------------------
def serve_one(conn):
    conn.settimeout(20)
    try:
        line, fields = read_head(conn)
        path = line.split(" ")[1]
        if path == "/refuse":
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 7\r\nconnection: close\r\n"
                         b"\r\nrefused")
            return
        if fields.get("upgrade", "").lower() != "websocket" or \
                "upgrade" not in fields.get("connection", "").lower():
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            return
        accept = base64.b64encode(hashlib.sha1(fields["sec-websocket-key"].encode() + GUID)
                                  .digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        while True:
            f = read_frame(conn)
            if f is None:  # the client half-closed: a last word, then close
                send_frame(conn, 1, b"bye", False)
                return
            opcode, payload = f
            if opcode == 8:
                send_frame(conn, 8, payload, False)
                return
            send_frame(conn, opcode, payload, False)
    except (OSError, EOFError):
        pass
    finally:
        conn.close()


def backend_loop(lsock, stop):
    while not stop.is_set():
        try:
            conn, _ = lsock.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        threading.Thread(target=serve_one, args=(conn,), daemon=True).start()


def handshake(path):
    s = socket.create_connection(GW, timeout=10)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
              b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    line, fields = read_head(s)
    return s, key, line, fields


def main():
    if len(sys.argv) != 2:
        print("usage: websocket_tunnel.py KRTGATE", file=sys.stderr)
        return 2
    krtgate = sys.argv[1]
    work = tempfile.mkdtemp(prefix="websocket_tunnel.")
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(BACKEND)
    lsock.listen(16)
    lsock.settimeout(0.2)
    stop = threading.Event()
    threading.Thread(target=backend_loop, args=(lsock, stop), daemon=True).start()
    proc = None
    checks = rig.Checks("websocket_tunnel")
    check = checks.check

    try:
        proc = rig.start_krtgate(krtgate, work, "ws.yaml", MANIFESTS,
                                 ("--tunnel-idle-timeout", "1s"))
        if not rig.wait_port(GW, proc, 15):
            print(rig.log_tail(work, 2000), file=sys.stderr)
            print("websocket_tunnel: the Gateway never listened", file=sys.stderr)
            return 1
        line = ""
        for _ in range(50):  # the route may arrive a moment after the port opened
            s, key, line, fields = handshake("/chat")
            if " 404 " not in line and " 500 " not in line:  # route / endpoints not there yet
                break
            s.close()
            time.sleep(0.1)
        want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        check("101 Switching Protocols", line.startswith("HTTP/1.1 101"), line)
        check("Upgrade and Connection come back",
              fields.get("upgrade", "").lower() == "websocket" and
              "upgrade" in fields.get("connection", "").lower(), repr(fields))
        check("Sec-WebSocket-Accept from the backend", fields.get("sec-websocket-accept") == want,
              repr(fields))
        send_frame(s, 1, b"hello", True)
        check("text echo", read_frame(s) == (1, b"hello"))
        big = os.urandom(1 << 20)
        t = threading.Thread(target=send_frame, args=(s, 2, big, True), daemon=True)
        t.start()  # sent while the echo comes back: both directions at once
        f = read_frame(s)
        t.join(10)
        check("1 MiB binary echo", f == (2, big), "%r" % ((f[0], len(f[1])) if f else None,))
        s.shutdown(socket.SHUT_WR)  # half-close: the backend answers "bye", then closes
        check("half-close passes the FIN, the other way keeps flowing", read_frame(s) == (1, b"bye"))
        check("then EOF", s.recv(1) == b"")
        s.close()

        s, key, line, fields = handshake("/idle")
        check("a second tunnel opens", line.startswith("HTTP/1.1 101"), line)
        alive = True
        for i in range(8):  # 2.4 s of a frame every 300 ms: past the 1 s deadline
            time.sleep(0.3)
            send_frame(s, 1, b"ping%d" % i, True)
            alive = alive and read_frame(s) == (1, b"ping%d" % i)
        check("a tunnel that talks outlives the idle deadline", alive)
        s.settimeout(5)
        t0 = time.monotonic()
        try:
            closed = s.recv(1) == b""
        except socket.timeout:
            closed = False
        except OSError:  # a reset is a close too
            closed = True
        waited = time.monotonic() - t0
        check("a silent tunnel is closed after the idle deadline", closed and 0.7 < waited < 4,
              "closed=%s after %.2f s" % (closed, waited))
        s.close()

        s, key, line, fields = handshake("/refuse")
        rest = s.recv(100)
        check("a refused upgrade is a plain response", line.startswith("HTTP/1.1 403") and
              rest.endswith(b"refused"), "%s %r" % (line, rest))
        s.close()
    except Exception as e:
        checks.exception(e)
    finally:
        stop.set()
        rig.stop_krtgate(proc, work, checks)
        lsock.close()
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
