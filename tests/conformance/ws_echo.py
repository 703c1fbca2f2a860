"""WebSocket side of runner.py (standard library only): the echo backends' `/ws` endpoint, as the
suite's echo-basic has it, and the client of WebSocket cases.

Backend: a request with `Upgrade: websocket` gets a 101 (Sec-WebSocket-Accept per RFC 6455, plus
X-Echo-Pod / X-Echo-Namespace naming the pod, our addition) and every data frame comes back
unchanged until a close frame or EOF. Client: the handshake through the Gateway, one text message,
its echo. For runner.check() a good exchange reads as a 200 whose JSON names the pod that
answered, the method and path it was asked for, like the HTTP echo's; a non-101 answer is returned
as is.
"""
import base64
import hashlib
import json
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MESSAGE = b"conformance websocket echo"


def _accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def _read_exact(read, n):
    buf = b""
    while len(buf) < n:
        chunk = read(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def _read_frame(read):
    """(opcode, payload), or None at EOF before a frame."""
    first = read(1)
    if not first:
        return None
    b1 = _read_exact(read, 1)[0]
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", _read_exact(read, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _read_exact(read, 8))[0]
    key = _read_exact(read, 4) if b1 & 0x80 else None
    data = _read_exact(read, n)
    if key:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return first[0] & 0x0F, data


def _frame(opcode, payload, mask):
    n = len(payload)
    head = bytes([0x80 | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def serve(handler, pod, namespace):
    """Takes over an http.server handler whose request asks for a WebSocket: 101, then echo."""
    key = handler.headers.get("sec-websocket-key", "")
    handler.close_connection = True
    handler.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                         "X-Echo-Pod: %s\r\nX-Echo-Namespace: %s\r\n\r\n"
                         % (_accept(key), pod, namespace)).encode())
    handler.wfile.flush()
    read = handler.rfile.read
    try:
        while True:
            f = _read_frame(read)
            if f is None:
                return
            opcode, payload = f
            handler.wfile.write(_frame(opcode, payload, False))
            handler.wfile.flush()
            if opcode == 8:
                return
    except (OSError, EOFError):
        return


def send(ip, port, case, timeout=3.0):
    """One WebSocket exchange for a case; returns (status, {lower name: [values]}, body)."""
    s = socket.create_connection((ip, port), timeout=timeout)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        host = case["host"] or (ip if port == 80 else "%s:%d" % (ip, port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                   % (case["path"], host, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            c = s.recv(1)
            if not c:
                raise OSError("connection closed in the response head")
            head += c
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        rh = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                rh.setdefault(k.strip().lower(), []).append(v.strip())
        if status != 101:
            return status, rh, b""
        if (rh.get("sec-websocket-accept") or [""])[0] != _accept(key):
            return 502, rh, b"wrong Sec-WebSocket-Accept"
        s.sendall(_frame(1, MESSAGE, True))
        f = _read_frame(s.recv)
        if f != (1, MESSAGE):
            return 502, rh, ("echo %r, want %r" % (f, MESSAGE)).encode()
        s.sendall(_frame(8, b"", True))
        body = json.dumps({
            "method": "GET", "path": case["path"], "host": host, "proto": "HTTP/1.1",
            "headers": {}, "pod": (rh.get("x-echo-pod") or [""])[0],
            "namespace": (rh.get("x-echo-namespace") or [""])[0]}).encode()
        return 200, rh, body
    finally:
        s.close()
