"""h2c side of runner.py: the echo backends' HTTP/2 prior-knowledge port (echo-basic listens with
h2c on 3001; the base manifests' Services map port 8081 there with appProtocol
kubernetes.io/h2c), written on python3-h2 (sans-IO HTTP/2), and the client of H2C cases (curl
with --http2-prior-knowledge). Without python3-h2 or curl the H2C test is NOT RUN.

The echo answers every request with the HTTP echo's JSON (method, path, host from :authority,
proto "HTTP/2.0", headers, pod, namespace), so runner.check() reads it unchanged.
"""
import json
import shutil
import socket
import subprocess
import threading

try:
    import h2.config
    import h2.connection
    import h2.events
except ImportError:  # the runner reports the H2C test NOT RUN
    h2 = None

PORT = 3001


def available():
    return h2 is not None and shutil.which("curl") is not None


def _serve_conn(sock, pod, namespace):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.settimeout(30)
    reqs = {}
    try:
        sock.sendall(conn.data_to_send())
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    reqs[ev.stream_id] = [(k.decode() if isinstance(k, bytes) else k,
                                           v.decode() if isinstance(v, bytes) else v)
                                          for k, v in ev.headers]
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in reqs:
                    hs = reqs.pop(ev.stream_id)
                    pseudo = {k: v for k, v in hs if k.startswith(":")}
                    headers = {}
                    for k, v in hs:
                        if not k.startswith(":"):
                            headers.setdefault(k.lower(), []).append(v)
                    body = json.dumps({
                        "method": pseudo.get(":method", ""), "path": pseudo.get(":path", ""),
                        "host": pseudo.get(":authority", ""), "proto": "HTTP/2.0",
                        "headers": headers, "pod": pod, "namespace": namespace,
                    }).encode() + b"\n"
                    conn.send_headers(ev.stream_id, [
                        (":status", "200"), ("content-type", "application/json"),
                        ("content-length", str(len(body)))])
                    conn.send_data(ev.stream_id, body, end_stream=True)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    except (OSError, h2.exceptions.ProtocolError):
        return
    finally:
        sock.close()


def start_server(ip, pod, namespace):
    """Serves h2c at ip:PORT in daemon threads."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, PORT))
    ls.listen(64)

    def accept_loop():
        while True:
            try:
                s, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=_serve_conn, args=(s, pod, namespace), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return ls


def send(ip, port, case, timeout=3.0):
    """One request with h2c prior knowledge (curl); returns (status, {}, body)."""
    host = case["host"] or (ip if port == 80 else "%s:%d" % (ip, port))
    cmd = ["curl", "-s", "--http2-prior-knowledge", "--max-time", str(timeout), "-X",
           case["method"], "-H", "Host: " + host, "-w", "\n%{http_code}",
           "http://%s:%d%s" % (ip, port, case["path"])]
    for k, v in case["headers"].items():
        cmd += ["-H", "%s: %s" % (k, v)]
    r = subprocess.run(cmd, capture_output=True, timeout=timeout + 2)
    if r.returncode != 0:
        raise OSError("curl exit status %d" % r.returncode)
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code or b"0"), {}, body
