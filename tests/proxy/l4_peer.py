# Backends for tests/proxy/test_l4.c, run by /usr/bin/python3 (its own TCP and TLS stacks, so the
# proxy's L4 path is checked against a peer that is not ours).
#   l4_peer.py CA_FILE CERT_A KEY_A CERT_B KEY_B
# Listens on 127.0.0.1, port 0, three times and prints "ECHO TLS_A TLS_B\n":
#   ECHO   TCP echo: sends back every byte; after the client's FIN it sends "EOF <n>\n" (n = bytes
#          received) and closes, so a half-close through the proxy is visible.
#   TLS_A  TLS server with certificate A: answers one HTTP request with "backend-a sni=<name>".
#   TLS_B  the same with certificate B ("backend-b").
# Serves until its stdin closes (the test ends), then exits.
#   l4_peer.py client CA_FILE PORT NAME
# A TLS client of 127.0.0.1:PORT verifying NAME against CA_FILE (the name is the SNI; any
# certificate is accepted for names under x.example.com, which no certificate has): sends
# "hello", reads until 5 bytes came back or the connection ends, prints
# "alpn=<ALPN> got=<what came back>". (No half-close: python's SSLSocket.shutdown drops TLS.)
import socket
import ssl
import sys
import threading


def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def echo(conn):
    n = 0
    with conn:
        while True:
            d = conn.recv(65536)
            if not d:
                break
            n += len(d)
            conn.sendall(d)
        conn.sendall(b"EOF %d\n" % n)


def tls_server(cert, key, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    seen = {}

    def on_sni(sock, server_name, _ctx):
        seen[id(sock)] = server_name

    ctx.sni_callback = on_sni

    def handle(conn):
        try:
            s = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        with s:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = s.recv(4096)
                if not d:
                    return
                buf += d
            body = ("backend-%s sni=%s\n" % (name, seen.pop(id(s), None))).encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % len(body) + body)

    return handle


def serve(sock, handler):
    while True:
        c, _ = sock.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def client(ca, port, name):
    ctx = ssl.create_default_context(cafile=ca)
    if name.startswith("x."):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), timeout=10),
                        server_hostname=name)
    got = b""
    try:
        s.sendall(b"hello")
        while len(got) < 5:
            d = s.recv(100)
            if not d:
                break
            got += d
    except (ssl.SSLError, OSError):
        pass
    print("alpn=%s got=%s" % (s.selected_alpn_protocol(), got.decode(errors="backslashreplace")))


def main():
    if sys.argv[1] == "client":
        client(*sys.argv[2:5])
        return
    _ca, cert_a, key_a, cert_b, key_b = sys.argv[1:6]
    socks = [listen(), listen(), listen()]
    handlers = [echo, tls_server(cert_a, key_a, "a"), tls_server(cert_b, key_b, "b")]
    for s, h in zip(socks, handlers):
        threading.Thread(target=serve, args=(s, h), daemon=True).start()
    print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
    sys.stdin.read()


main()
