#!/usr/bin/python3
"""The quickstart's backend: an HTTP/1.1 echo server answering every request with JSON (method,
path, host, headers, and the pod it plays), like the Gateway API conformance suite's echo-basic.

usage: echo.py ADDRESS PORT POD_NAME      e.g. echo.py 127.0.10.1 8081 echo-1
The quickstart's Pods say they are Ready at 127.0.10.1 and 127.0.10.2, port 8081: start one echo
per Pod at those addresses (the "kubelet" of a laptop setup).
"""
import http.server
import json
import sys


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("host", ""),
            "headers": {k: v for k, v in self.headers.items()},
            "pod": sys.argv[3],
            "namespace": "default",
        }).encode() + b"\n"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for k, v in self.headers.items():  # conformance's X-Echo-Set-Header contract
            if k.lower() == "x-echo-set-header":
                name, _, value = v.partition(":")
                self.send_header(name.strip(), value.strip())
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Echo).serve_forever()
