#!/usr/bin/python3
"""An independent gRPC peer for net/'s interop tests: Debian's python3-grpcio (gRPC C-core, its
own HTTP/2 stack, nothing shared with nghttp2). Run by /usr/bin/python3.

  grpc_peer.py client TARGET [CA_FILE]   call our server's test methods; one "ok NAME" line per
                                         passed check; exit 1 with "FAIL NAME: why" otherwise
  grpc_peer.py server                    serve the same methods on 127.0.0.1:0; print "PORT n",
                                         then serve until killed or stdin closes

Messages are raw bytes (no serializer): the methods are /test.Echo/{Bidi,Unary,Hold,Fail}.
Bidi echoes every message and ends with trailing metadata x-count; Unary reverses its message;
Hold never answers (for deadlines and cancellation); Fail ends with FAILED_PRECONDITION.
"""
import sys
import threading

import grpc

FAIL_MESSAGE = "bad: 100% sure \u2713\nline2"


def check(name, cond, why=""):
    if not cond:
        print("FAIL %s: %s" % (name, why), flush=True)
        sys.exit(1)
    print("ok " + name, flush=True)


def run_client(target, ca_file):
    if ca_file:
        with open(ca_file, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(target, creds)
    else:
        channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=10)

    bidi = channel.stream_stream("/test.Echo/Bidi")
    unary = channel.unary_unary("/test.Echo/Unary")
    hold = channel.unary_unary("/test.Echo/Hold")
    fail = channel.unary_unary("/test.Echo/Fail")
    nope = channel.unary_unary("/test.Echo/Nope")

    # Bidi echo: many messages of many sizes, including empty ones, in order; then trailers.
    sizes = [0, 1, 5, 4096, 16384, 16385, 70000, 3] * 8
    msgs = [bytes([i % 256]) * n for i, n in enumerate(sizes)]
    call = bidi(iter(msgs), timeout=30)
    got = list(call)
    check("bidi_count", len(got) == len(msgs), "%d of %d" % (len(got), len(msgs)))
    check("bidi_content", got == msgs, "echo differs")
    check("bidi_status", call.code() == grpc.StatusCode.OK, str(call.code()))
    md = dict(call.trailing_metadata() or ())
    check("bidi_trailers", md.get("x-count") == str(len(msgs)), repr(md))

    # One big message (1 MiB, under the 4 MiB default).
    big = bytes(range(256)) * 4096
    got = list(bidi(iter([big]), timeout=30))
    check("bidi_1mib", got == [big], "big echo differs")

    check("unary", unary(b"abc", timeout=10) == b"cba")

    try:
        nope(b"x", timeout=10)
        check("unimplemented", False, "call succeeded")
    except grpc.RpcError as e:
        check("unimplemented", e.code() == grpc.StatusCode.UNIMPLEMENTED, str(e.code()))
        check("unimplemented_message", "/test.Echo/Nope" in (e.details() or ""), e.details())

    try:
        fail(b"x", timeout=10)
        check("fail", False, "call succeeded")
    except grpc.RpcError as e:
        check("fail_code", e.code() == grpc.StatusCode.FAILED_PRECONDITION, str(e.code()))
        check("fail_message", e.details() == FAIL_MESSAGE, repr(e.details()))

    try:
        hold(b"x", timeout=0.2)
        check("deadline", False, "call succeeded")
    except grpc.RpcError as e:
        check("deadline", e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, str(e.code()))

    try:
        unary(b"y" * (5 << 20), timeout=10)
        check("oversized", False, "call succeeded")
    except grpc.RpcError as e:
        check("oversized", e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, str(e.code()))

    fut = hold.future(b"x", timeout=30)
    fut.cancel()
    check("cancel", fut.cancelled())
    channel.close()
    print("done", flush=True)


class Handlers(grpc.GenericRpcHandler):
    def service(self, details):
        m = details.method
        if m == "/test.Echo/Bidi":
            return grpc.stream_stream_rpc_method_handler(self.bidi)
        if m == "/test.Echo/Unary":
            return grpc.unary_unary_rpc_method_handler(lambda req, ctx: req[::-1])
        if m == "/test.Echo/Hold":
            return grpc.unary_unary_rpc_method_handler(self.hold)
        if m == "/test.Echo/Fail":
            return grpc.unary_unary_rpc_method_handler(self.fail)
        return None

    def bidi(self, it, ctx):
        n = 0
        for req in it:
            n += 1
            yield req
        ctx.set_trailing_metadata((("x-count", str(n)),))

    def hold(self, req, ctx):
        done = threading.Event()
        ctx.add_callback(done.set)
        done.wait(60)
        return b""

    def fail(self, req, ctx):
        ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, FAIL_MESSAGE)


def run_server():
    from concurrent import futures
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[Handlers()])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("PORT %d" % port, flush=True)
    sys.stdin.read()  # until the test closes our stdin or kills us
    server.stop(0)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "client":
        run_client(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif len(sys.argv) == 2 and sys.argv[1] == "server":
        run_server()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
