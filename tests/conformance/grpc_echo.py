"""gRPC side of runner.py: an echo backend with the contract of the suite's gRPC echo-basic, and
the client that replays GRPC cases (python3-grpcio; without it the GRPC tests are NOT RUN).

The backend serves gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/{Echo,EchoTwo,EchoThree}
over h2c. The suite's echo answers a protobuf EchoResponse whose assertions name the pod, its
namespace and the request metadata; both ends here are ours, so the answer carries the same facts
as the JSON of the HTTP echo (method, path, host, headers, pod, namespace) and runner.check()
reads it unchanged. Request bytes are ignored, as the suite's EchoRequest is empty.

Status mapping for check(): OK → 200 with the JSON; UNIMPLEMENTED (what a gRPC client reports for
the proxy's HTTP 404, "no route") → 404; anything else → 500.
"""
import json
import os
from concurrent import futures

# grpc-core logs the proxy's text/plain 404 (our "no route", read as UNIMPLEMENTED) as an error
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
try:
    import grpc
except ImportError:  # the runner reports the GRPC tests NOT RUN
    grpc = None

SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"
METHODS = ("Echo", "EchoTwo", "EchoThree")


_servers = []  # a grpc.Server stops when collected: kept for the runner's lifetime


def available():
    return grpc is not None


def _ident(b):
    return b


def _handler(name, pod, namespace):
    def answer(request, context):
        headers = {}
        for k, v in context.invocation_metadata():
            headers.setdefault(k.lower(), []).append(v if isinstance(v, str) else v.decode())
        return json.dumps({
            "method": "POST", "path": "/%s/%s" % (SERVICE, name),
            "host": (headers.get(":authority") or [""])[0], "proto": "HTTP/2.0",
            "headers": headers, "pod": pod, "namespace": namespace,
        }).encode()
    return grpc.unary_unary_rpc_method_handler(answer, _ident, _ident)


def start_server(ip, port, pod, namespace):
    """Serves the echo at ip:port; returns the server (stop(0) ends it)."""
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        SERVICE, {m: _handler(m, pod, namespace) for m in METHODS}),))
    if not srv.add_insecure_port("%s:%d" % (ip, port)):
        raise OSError("grpc echo cannot listen at %s:%d" % (ip, port))
    srv.start()
    _servers.append(srv)
    return srv


def send(ip, port, case, timeout=3.0):
    """One unary call for a GRPC case (its path is /service/method); returns (status, {}, body)."""
    authority = case["host"] or (ip if port == 80 else "%s:%d" % (ip, port))
    ch = grpc.insecure_channel("%s:%d" % (ip, port), options=[("grpc.default_authority", authority)])
    try:
        call = ch.unary_unary(case["path"], request_serializer=_ident, response_deserializer=_ident)
        md = [(k.lower(), v) for k, v in case["headers"].items()]
        try:
            body = call(b"", timeout=timeout, metadata=md)
            return 200, {}, body
        except grpc.RpcError as e:
            code = e.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return 404, {}, b""
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise OSError("gRPC %s: %s" % (code.name, e.details()))
            return 500, {}, ("gRPC %s: %s" % (code.name, e.details())).encode()
    finally:
        ch.close()
