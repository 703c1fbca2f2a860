#!/usr/bin/python3
"""gRPC through krtgate: a python3-grpcio server behind `krtgate run` (GRPCRoute → Service with
appProtocol kubernetes.io/h2c → a Pod Ready at the server's address) and a python3-grpcio client
sending through the Gateway. Checks unary calls with initial and trailing metadata, server,
client and bidirectional streaming, a 1 MiB message each way (flow control on both legs), an
error status (a Trailers-Only answer), and a method no route takes (UNIMPLEMENTED from the 404).

Usage: grpc_passthrough.py KRTGATE
Exit: 0 pass, 1 fail, 77 skipped (python3-grpcio missing). Everything listens on a random 127.X.Y.0/24
and is stopped on exit; every wait is bounded.
"""
import http.client
import os
import struct
import sys
import tempfile
import time
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import krtgate_rig as rig  # noqa: E402

os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # the 404 case's text/plain answer is logged
try:
    import grpc
except ImportError:
    print("grpc_passthrough: skipped: python3-grpcio is not installed", file=sys.stderr)
    sys.exit(77)

NET = rig.random_net()
GW = (NET + ".1", 8080)
BACKEND = (NET + ".2", 18151)
SERVICE = "krtgate.test.Echo"

MANIFESTS = rig.gateway_manifests(GW) + f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{name: echo, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - matches: [{{method: {{service: {SERVICE}}}}}]
    backendRefs: [{{name: grpc-echo, port: 50051}}]
---""" + rig.backend_manifests("grpc-echo", "10.96.41.2", "grpc", 50051, "kubernetes.io/h2c",
                                BACKEND)


def ident(b):
    return b


# --- the backend: generic handlers over raw bytes (no generated code needed) -------------------
def echo(request, context):
    context.send_initial_metadata((("x-initial", "i1"),))
    context.set_trailing_metadata((("x-trailer", "t1"),))
    return request


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "nothing here")


def count(request, context):
    for i in range(int(request.decode())):
        yield b"item-%d" % i


def total(request_iterator, context):
    return b"%d" % sum(len(r) for r in request_iterator)


def chat(request_iterator, context):
    for r in request_iterator:
        yield b"re:" + r


HANDLERS = {
    "Echo": grpc.unary_unary_rpc_method_handler(echo, ident, ident),
    "Fail": grpc.unary_unary_rpc_method_handler(fail, ident, ident),
    "Count": grpc.unary_stream_rpc_method_handler(count, ident, ident),
    "Total": grpc.stream_unary_rpc_method_handler(total, ident, ident),
    "Chat": grpc.stream_stream_rpc_method_handler(chat, ident, ident),
}


def main():
    if len(sys.argv) != 2:
        print("usage: grpc_passthrough.py KRTGATE", file=sys.stderr)
        return 2
    krtgate = sys.argv[1]
    work = tempfile.mkdtemp(prefix="grpc_passthrough.")
    proc = None
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 4 << 20)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, HANDLERS),))
    if not server.add_insecure_port("%s:%d" % BACKEND):
        print("grpc_passthrough: cannot listen at %s:%d" % BACKEND, file=sys.stderr)
        return 1
    server.start()
    checks = rig.Checks("grpc_passthrough")
    check = checks.check

    try:
        proc = rig.start_krtgate(krtgate, work, "grpc.yaml", MANIFESTS)
        if not rig.wait_port(GW, proc, 15):
            print(rig.log_tail(work, 2000), file=sys.stderr)
            print("grpc_passthrough: the Gateway never listened at %s:%d" % GW, file=sys.stderr)
            return 1
        ch = grpc.insecure_channel("%s:%d" % GW, options=[
            ("grpc.max_receive_message_length", 4 << 20)])
        grpc.channel_ready_future(ch).result(timeout=10)
        m = lambda kind, name: getattr(ch, kind)("/%s/%s" % (SERVICE, name),
                                                 request_serializer=ident,
                                                 response_deserializer=ident)
        # the route and the endpoints may take a moment to arrive after the port opened
        # (404 → UNIMPLEMENTED, 500 → UNKNOWN meanwhile): bounded retries
        resp = call = None
        for i in range(50):
            try:
                resp, call = m("unary_unary", "Echo").with_call(b"hello", timeout=5)
                break
            except grpc.RpcError as e:
                if i == 49:
                    raise
                time.sleep(0.1)
        check("unary echo", resp == b"hello", repr(resp))
        init = dict(call.initial_metadata()) if call else {}
        trail = dict(call.trailing_metadata()) if call else {}
        check("initial metadata passes", init.get("x-initial") == "i1", repr(init))
        check("trailers pass", trail.get("x-trailer") == "t1", repr(trail))

        items = list(m("unary_stream", "Count")(b"5", timeout=5))
        check("server streaming", items == [b"item-%d" % i for i in range(5)], repr(items))
        n = m("stream_unary", "Total")(iter([b"ab", b"cde", b"f"]), timeout=5)
        check("client streaming", n == b"6", repr(n))
        chat = list(m("stream_stream", "Chat")(iter([b"x", b"y", b"z"]), timeout=5))
        check("bidirectional streaming", chat == [b"re:x", b"re:y", b"re:z"], repr(chat))
        big = bytes(range(256)) * 4096  # 1 MiB: more than a stream window on each leg
        got = m("unary_unary", "Echo")(big, timeout=10)
        check("1 MiB each way", got == big, "%d bytes back" % len(got or b""))

        try:
            m("unary_unary", "Fail")(b"x", timeout=5)
            check("error status passes", False, "no error")
        except grpc.RpcError as e:
            check("error status passes (Trailers-Only)",
                  e.code() == grpc.StatusCode.NOT_FOUND and e.details() == "nothing here",
                  "%s %r" % (e.code(), e.details()))
        try:
            ch.unary_unary("/other.Service/X", request_serializer=ident,
                           response_deserializer=ident)(b"x", timeout=5)
            check("unrouted method fails", False, "no error")
        except grpc.RpcError as e:
            check("unrouted method: UNIMPLEMENTED (HTTP 404)",
                  e.code() == grpc.StatusCode.UNIMPLEMENTED, str(e.code()))
        ch.close()

        # an HTTP/1.1 client to the same h2c upstream: head, body and the end (re-chunked)
        payload = b"over http/1.1"
        frame = struct.pack(">BI", 0, len(payload)) + payload
        conn = http.client.HTTPConnection(*GW, timeout=10)
        conn.request("POST", "/%s/Echo" % SERVICE, body=frame,
                     headers={"content-type": "application/grpc", "te": "trailers"})
        r = conn.getresponse()
        body = r.read()
        check("HTTP/1.1 client to an h2c upstream", r.status == 200 and body == frame,
              "%s %r" % (r.status, body))
        conn.close()
    except Exception as e:
        checks.exception(e)
    finally:
        rig.stop_krtgate(proc, work, checks)
        server.stop(0)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
