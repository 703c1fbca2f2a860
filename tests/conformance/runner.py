#!/usr/bin/python3
"""Replays Gateway API conformance HTTP routing tests through `krtgate run` (no cluster).

Usage: /usr/bin/python3 runner.py --krtgate BIN --src SRC_DIR [--expected FILE] [--markdown FILE]
                                  [--only TEST ...] [--case-timeout SECONDS] [--keep]

For each test in TESTS below: builds a manifest folder from the test's derived fixture
(tests/translate/golden/conf-<manifest>/in.yaml: the upstream test manifest plus the base objects
it uses, Apache-2.0 data, see derive_conformance.py) or, for tests without one, the verbatim
upstream copies in tests/conformance/upstream/ (base + test manifest), adapted to a laptop:
  * every Gateway gets spec.addresses 127.0.2.N (N in order of appearance), so its in-process proxy
    listens at a predictable address;
  * each echo backend Service gets Pods (the upstream Deployments' replicas), Ready at their own
    127.0.3.M address, port 3000, and an echo server listens there (a thread of this process that
    answers with the echo-basic contract: method, path, host, headers, pod, namespace);
(the echo also honours ?delay=, X-Echo-Set-Header and the /retry/ simulation, and logs requests,
which stands in for the pod logs mirroring tests read; empty IPv4 EndpointSlices get the
infra-backend-v1 Pods' addresses), then starts `krtgate run --no-watch --xds-listen 127.0.0.1:0
--admin-listen 127.0.0.1:0` on it (following the folder instead when a test deletes objects midway:
DELETE(kind) in a case list),
waits for /readyz and for the Gateways' ports, and replays the test's cases. The cases are this
project's restatement of the upstream Go tests' request -> expectation lists (conformance/tests/*.go
in kubernetes-sigs/gateway-api), checked with the suite's rules: a case passes once it succeeds 3
times in a row within --case-timeout seconds (polling every 100 ms); a 200 is checked against the
echo's JSON (pod name prefix = Service, namespace, method, path, headers joined with ",", absent
headers), a 3xx against the parsed Location (scheme, host, port, path; unset parts default to the
request's), anything else by status code only.

Prints one line per test (PASS / FAIL / NOT RUN and why) and a summary. Exit status: 1 if a test
listed as EXPECTED_PASS in --expected did not pass (failed, or not run for lack of time), 77 if no
test could run (port 80 or the echo addresses not bindable), else 0. Every wait is bounded (the
whole run stops starting tests after RUN_BUDGET seconds), every krtgate process is killed on exit,
and a sanitizer report in krtgate's output fails the test.
"""
import argparse
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_echo  # noqa: E402  (the GRPC tests' backend and client; python3-grpcio)
import ws_echo  # noqa: E402  (the echo's /ws WebSocket endpoint and its client)
import h2c_echo  # noqa: E402  (the echo's h2c port 3001 and its client; python3-h2, curl)

INFRA = "gateway-conformance-infra"
APP = "gateway-conformance-app-backend"
WEB = "gateway-conformance-web-backend"

# Echo backends of the base manifests: (namespace, Service = Deployment = app label, replicas).
BACKENDS = [
    (INFRA, "infra-backend-v1", 2),
    (INFRA, "infra-backend-v2", 2),
    (INFRA, "infra-backend-v3", 1),
    (APP, "app-backend-v1", 2),
    (APP, "app-backend-v2", 2),
    (WEB, "web-backend", 2),
    (INFRA, "tcp-backend", 2),
    # gRPC echoes (h2c, grpc_echo.py), after the HTTP ones so that their addresses stay put
    (INFRA, "grpc-infra-backend-v1", 1),
    (INFRA, "grpc-infra-backend-v2", 1),
    (INFRA, "grpc-infra-backend-v3", 1),
]
ECHO_PORT = 3000
# Services whose Pods also answer over TLS on this port (echo-basic with TLS_SERVER_CERT), with a
# certificate for abc.example.com made at start: what TLS passthrough routes reach.
TLS_ECHO_PORTS = {"tcp-backend": 8443}
REQUIRED_SUCCESSES = 3
POLL = 0.1
RUN_BUDGET = 140.0  # seconds for the whole runner; later tests are reported NOT RUN

_children = []  # krtgate processes alive


def kill_children():
    for p in list(_children):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                p.kill()
                p.wait(timeout=5)
        if p in _children:
            _children.remove(p)


# ---------------------------------------------------------------------------------------------
# Cases, in this project's form. C(...) describes one request and what must come back.

def C(path, backend=None, ns=INFRA, status=None, host=None, method="GET", headers=None, gw=None,
      seen_path=None, seen_host=None, seen_headers=None, seen_absent=None, resp_headers=None, resp_absent=None,
      echo_set=None, redirect=None, port=None, mirror_to=None, retry=None, sni=None,
      resp_any=None):
    """One case. backend=None means "not a 200": only `status` is checked (404 unless given).
    redirect: dict with any of scheme/host/port/path for the Location (status defaults to 302).
    echo_set: response headers the echo backend is asked to emit (X-Echo-Set-Header).
    port: the Gateway listener port to send to (default: the Gateway's first listener's).
    mirror_to: Services one of whose pods must also log the request path (RequestMirror).
    retry: (responseCode or None, succeedAfter[, delayRetry]): each attempt adds echo-basic's retry
    simulation query (?uuid=<fresh>&succeedAfter=N[&responseCode=C][&delayRetry=D]) to the path.
    sni: send over TLS with this SNI (certificate not verified: the suite's are self-signed).
    status="reject": the connection must fail (refused, closed, TLS error) instead of answering.
    resp_any: response headers that must hold one of the listed values (whitespace ignored);
    resp_any and resp_absent are checked whatever the status, resp_headers only on a 200."""
    if status is None:
        status = 302 if redirect is not None else (200 if backend else 404)
    return {
        "path": path, "backend": backend, "ns": ns, "status": status, "host": host,
        "method": method, "headers": headers or {}, "gw": gw, "seen_path": seen_path, "seen_host": seen_host,
        "seen_headers": seen_headers or {}, "seen_absent": seen_absent or [],
        "resp_headers": resp_headers or {}, "resp_absent": resp_absent or [],
        "echo_set": echo_set or {}, "redirect": redirect, "port": port,
        "mirror_to": mirror_to or [], "retry": retry, "sni": sni, "resp_any": resp_any or {},
    }


V1, V2, V3 = "infra-backend-v1", "infra-backend-v2", "infra-backend-v3"


GV1, GV2, GV3 = "grpc-infra-backend-v1", "grpc-infra-backend-v2", "grpc-infra-backend-v3"


def G(method, backend=None, **kw):
    """A GRPC case: a unary call to the suite's GrpcEcho service (grpc_echo.py); headers are
    metadata, host the authority; status 404 stands for UNIMPLEMENTED."""
    c = C("/%s/%s" % (grpc_echo.SERVICE, method), backend, method="POST", **kw)
    c["grpc"] = True
    return c


def WS(path, backend, **kw):
    """A WebSocket case: handshake through the Gateway, one message echoed (ws_echo.py)."""
    c = C(path, backend, **kw)
    c["ws"] = True
    return c


def DELETE(kind):
    """In a case list: delete every object of this kind, then run the cases that follow."""
    return ("delete", kind)


def cases_header_modifier(response):
    """HTTPRouteRequestHeaderModifier / HTTPRouteResponseHeaderModifier share one table: the same
    header operations, checked on the request the backend saw or on the response."""
    rows = [
        ("/set", {"Some-Other-Header": "val"},
         {"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"}, []),
        ("/set", {"Some-Other-Header": "val", "X-Header-Set": "some-other-value"},
         {"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"}, []),
        ("/add", {"Some-Other-Header": "val"},
         {"Some-Other-Header": "val", "X-Header-Add": "add-appends-values"}, []),
        ("/add", {"Some-Other-Header": "val", "X-Header-Add": "some-other-value"},
         {"Some-Other-Header": "val", "X-Header-Add": "some-other-value,add-appends-values"}, []),
        ("/remove", {"X-Header-Remove": "val"}, {}, ["X-Header-Remove"]),
        ("/multiple", {"X-Header-Set-2": "set-val-2", "X-Header-Add-2": "add-val-2",
                       "X-Header-Remove-2": "remove-val-2", "Another-Header": "another-header-val"},
         {"X-Header-Set-1": "header-set-1", "X-Header-Set-2": "header-set-2",
          "X-Header-Add-1": "header-add-1", "X-Header-Add-2": "add-val-2,header-add-2",
          "X-Header-Add-3": "header-add-3", "Another-Header": "another-header-val"},
         ["X-Header-Remove-1", "X-Header-Remove-2"]),
        ("/case-insensitivity", {"x-header-set": "original-val-set", "x-header-add": "original-val-add",
                                 "x-header-remove": "original-val-remove",
                                 "Another-Header": "another-header-val"},
         {"X-Header-Set": "header-set", "X-Header-Add": "original-val-add,header-add",
          "Another-Header": "another-header-val"}, ["x-header-remove", "X-Header-Remove"]),
    ]
    out = []
    for path, sent, want, absent in rows:
        if response:
            out.append(C(path, V1, echo_set=sent, resp_headers=want, resp_absent=absent))
        else:
            out.append(C(path, V1, headers=sent, seen_headers=want, seen_absent=absent))
    return out


def cases_cors():
    """HTTPRouteCORS: preflights answered by the gateway, simple requests passed on with
    Access-Control-Allow-Origin added; origins exact, wildcard, not allowed; wildcard methods and
    headers with and without credentials."""
    pre = {"access-control-request-method": "GET",
           "access-control-request-headers": "x-header-1, x-header-2"}
    full = {"access-control-allow-methods": ["GET, OPTIONS", "OPTIONS, GET"],
            "access-control-allow-headers": ["x-header-1, x-header-2", "x-header-2, x-header-1"],
            "access-control-expose-headers": ["x-header-3, x-header-4", "x-header-4, x-header-3"],
            "access-control-max-age": ["3600"], "access-control-allow-credentials": ["true"]}
    out = []
    for origin, status in (("https://www.foo.com", (200, 204)), ("https://www.bar.com", 200),
                           ("https://xpto.www.bar.com", 200)):
        out.append(C("/cors-1", method="OPTIONS", status=status, headers=dict(pre, Origin=origin),
                     resp_any=dict(full, **{"access-control-allow-origin": [origin]})))
    out.append(C("/cors-1", method="OPTIONS", status=(200, 204, 403),
                 headers={"Origin": "https://foobar.com", "access-control-request-method": "GET"},
                 resp_absent=["access-control-allow-origin"]))
    for origin in ("https://www.foo.com", "https://www.bar.com"):
        out.append(C("/cors-1", status=(200, 204), headers=dict(pre, Origin=origin),
                     resp_any={"access-control-allow-origin": [origin]}))
    out.append(C("/cors-1", status=200, resp_absent=["access-control-allow-origin"],
                 headers={"Origin": "https://foobar.com", "access-control-request-method": "GET"}))
    out.append(C("/cors-2", method="OPTIONS", status=(200, 204),
                 headers={"Origin": "https://www.foo.com", "access-control-request-method": "POST"},
                 resp_any={"access-control-allow-methods": ["POST", "*"],
                           "access-control-allow-origin": ["https://www.foo.com"]},
                 resp_absent=["access-control-allow-credentials"]))
    for origin in ("https://foobar.com", "https://foobar.com:12345"):
        out.append(C("/cors-wildcard-origin", method="OPTIONS", status=(200, 204),
                     headers={"Origin": origin, "access-control-request-method": "PUT"},
                     resp_any={"access-control-allow-origin": [origin, "*"],
                               "access-control-allow-methods": ["PUT"]},
                     resp_absent=["access-control-allow-credentials"]))
    out.append(C("/cors-wildcard-origin", method="PUT", status=200,
                 headers={"Origin": "https://foobar.com:12345"},
                 resp_any={"access-control-allow-origin": ["https://foobar.com:12345", "*"]}))
    out.append(C("/cors-wildcard-origin", method="PUT", status=(200, 204),
                 headers={"Origin": "https://foobar.com"},
                 resp_any={"access-control-allow-origin": ["https://foobar.com", "*"]},
                 resp_absent=["access-control-allow-credentials"]))
    # wildcard methods and headers, with and without credentials
    ask = {"Origin": "https://other.foo.com", "access-control-request-method": "PUT",
           "access-control-request-headers": "x-header-1, x-header-2"}
    both = ["x-header-1, x-header-2", "x-header-2, x-header-1"]
    out.append(C("/cors-wildcard-methods-headers", method="OPTIONS", status=200, headers=ask,
                 resp_any={"access-control-allow-origin": ["https://other.foo.com"],
                           "access-control-allow-methods": ["PUT"],
                           "access-control-allow-headers": both,
                           "access-control-allow-credentials": ["true"]}))
    out.append(C("/cors-wildcard-methods-headers-unauth", method="OPTIONS", status=200,
                 headers=ask,
                 resp_any={"access-control-allow-origin": ["https://other.foo.com", "*"],
                           "access-control-allow-methods": ["PUT", "*"],
                           "access-control-allow-headers": both + ["*"]},
                 resp_absent=["access-control-allow-credentials"]))
    auth = {"Origin": "https://other.foo.com", "Authorization": "Bearer test"}
    out.append(C("/cors-wildcard-methods-headers", status=200, headers=auth,
                 resp_any={"access-control-allow-origin": ["https://other.foo.com"],
                           "access-control-allow-credentials": ["true"]}))
    out.append(C("/cors-wildcard-methods-headers-unauth", status=200, headers=auth,
                 resp_any={"access-control-allow-origin": ["https://other.foo.com"]},
                 resp_absent=["access-control-allow-credentials"]))
    return out


def cases_isolation(gw):
    """GatewayHTTPListenerIsolation: one route per listener (no hostname, *.example.com,
    *.foo.example.com, abc.foo.example.com); only the most specific listener's route answers."""
    hosts = ["bar.com", "bar.example.com", "bar.foo.example.com", "abc.foo.example.com"]
    paths = ["/empty-hostname", "/wildcard-example-com", "/wildcard-foo-example-com",
             "/abc-foo-example-com"]
    return [C(p, V1 if i == j else None, host=h, gw=gw)
            for i, h in enumerate(hosts) for j, p in enumerate(paths)]


HTTPS = "same-namespace-with-https-listener"
GW8080 = "same-namespace-with-http-listener-on-8080"
HI = "httproute-hostname-intersection"
HIA = "httproute-hostname-intersection-all"
LHM = "httproute-listener-hostname-matching"
LSARN = "gateway-with-listener-sets-test-allowed-routes"
LSHR = "gateway-with-listener-sets-http-routing"


def ls_cases(gw, prefix, serves, paths):
    """ListenerSet routing tests: every path on every listener hostname <prefix><listener>.com,
    200 from the named backend where |serves| says so, 404 elsewhere (the upstream test's grid)."""
    out = []
    for lis, ok in serves.items():
        for path in paths:
            out.append(C(path, ok.get(path), host=f"{prefix}{lis}.com", gw=gw))
    return out
GLHM = "grpcroute-listener-hostname-matching"
LPM = "httproute-listener-port-matching"
TLSGW = "gateway-tlsroute"

# name -> (feature, fixture under tests/translate/golden (conf-<x>), cases or special runner, note)
TESTS = [
    ("HTTPRouteSimpleSameNamespace", "HTTPRoute (core)", "httproute-simple-same-namespace",
     [C("/", V1)]),
    ("HTTPRouteExactPathMatching", "HTTPRoute (core)", "httproute-exact-path-matching",
     [C("/one", V1), C("/two", V2), C("/"), C("/one/example"), C("/two/"), C("/Two")]),
    ("HTTPRouteMatching", "HTTPRoute (core)", "httproute-matching",
     [C("/", V1), C("/example", V1), C("/", V1, headers={"Version": "one"}), C("/v2", V2),
      C("/v2/example", V2), C("/", V2, headers={"Version": "two"})]),
    ("HTTPRouteHeaderMatching", "HTTPRoute (core)", "httproute-header-matching",
     [C("/", V1, headers={"Version": "one"}), C("/", V2, headers={"Version": "two"}),
      C("/", V1, headers={"Version": "two", "Color": "orange"}),
      C("/", V2, headers={"Version": "two", "Color": "blue"}),
      C("/", headers={"Color": "orange"}), C("/", headers={"Some-Other-Header": "one"}),
      C("/", V1, headers={"Color": "blue"}), C("/", V1, headers={"Color": "green"}),
      C("/", V2, headers={"Color": "red"}), C("/", V2, headers={"Color": "yellow"}),
      C("/", headers={"Color": "purple"})]),
    ("HTTPRouteQueryParamMatching", "HTTPRouteQueryParamMatching", "httproute-query-param-matching",
     [C("/?animal=whale", V1), C("/?animal=dolphin", V2), C("/?animal=dolphin&color=blue", V3),
      C("/?ANIMAL=Whale", V3), C("/?animal=whale&otherparam=irrelevant", V1),
      C("/?animal=dolphin&color=yellow", V2), C("/?color=blue"), C("/?animal=dog"),
      C("/?animal=whaledolphin"), C("/"),
      C("/path1?animal=whale", V1), C("/?animal=whale", V2, headers={"version": "one"}),
      C("/path2?animal=whale", V3, headers={"version": "two"}),
      C("/path3?animal=shark", V1), C("/path4?animal=kraken", V1, headers={"version": "three"}),
      C("/?animal=shark"), C("/path4?animal=kraken"),
      C("/path5?animal=hydra", V1), C("/?animal=hydra", V3, headers={"version": "four"})]),
    ("HTTPRouteMethodMatching", "HTTPRouteMethodMatching", "httproute-method-matching",
     [C("/", V1, method="POST"), C("/", V2, method="GET"), C("/", method="HEAD"),
      C("/path1", V1, method="GET"), C("/", V2, method="PUT", headers={"version": "one"}),
      C("/path2", V3, method="POST", headers={"version": "two"}),
      C("/path3", V1, method="PATCH"), C("/path4", V1, method="DELETE", headers={"version": "three"}),
      C("/", method="PUT"), C("/path4", method="DELETE"),
      C("/path5", V1, method="PATCH"), C("/", V2, method="PATCH", headers={"version": "four"})]),
    ("HTTPRoutePathMatchOrder", "HTTPRoute (core)", "httproute-path-match-order",
     [C("/match/exact/one", V3), C("/match/exact", V2), C("/match", V1),
      C("/match/prefix/one/any", V2), C("/match/prefix/any", V1), C("/match/any", V3)]),
    ("HTTPRouteMatchingAcrossRoutes", "HTTPRoute (core)", "httproute-matching-across-routes",
     [C("/", V1, host="example.com"), C("/example", V1, host="example.com"),
      C("/example", V1, host="example.net"),
      C("/example", V1, host="example.com", headers={"Version": "one"}),
      C("/v2", V2, host="example.com"), C("/v2", V1, host="example.net"),
      C("/v2/example", V2, host="example.com"),
      C("/", V2, host="example.com", headers={"Version": "two"})]),
    ("HTTPRouteHostnameIntersection", "HTTPRoute (core)", "httproute-hostname-intersection",
     [C("/s1", V1, host="very.specific.com", gw=HI), C("/s1", V1, host="very.specific.com:1234", gw=HI),
      C("/s1", host="non.matching.com", gw=HI), C("/s1", host="foo.nonmatchingwildcard.io", gw=HI),
      C("/s1", host="foo.wildcard.io", gw=HI), C("/non-matching-prefix", host="very.specific.com", gw=HI),
      C("/s2", V2, host="foo.wildcard.io", gw=HI), C("/s2", V2, host="bar.wildcard.io", gw=HI),
      C("/s2", V2, host="foo.bar.wildcard.io", gw=HI), C("/s2", host="non.matching.com", gw=HI),
      C("/s2", host="wildcard.io", gw=HI), C("/s2", host="very.specific.com", gw=HI),
      C("/non-matching-prefix", host="foo.wildcard.io", gw=HI),
      C("/s3", V3, host="very.specific.com", gw=HI), C("/s3", host="non.matching.com", gw=HI),
      C("/s3", host="foo.specific.com", gw=HI), C("/s3", host="foo.wildcard.io", gw=HI),
      C("/non-matching-prefix", host="very.specific.com", gw=HI),
      C("/s4", V1, host="foo.anotherwildcard.io", gw=HI), C("/s4", V1, host="bar.anotherwildcard.io", gw=HI),
      C("/s4", V1, host="foo.bar.anotherwildcard.io", gw=HI), C("/s4", host="anotherwildcard.io", gw=HI),
      C("/s4", host="foo.wildcard.io", gw=HI), C("/s4", host="very.specific.com", gw=HI),
      C("/non-matching-prefix", host="foo.anotherwildcard.io", gw=HI),
      C("/s5", host="specific.but.wrong.com", gw=HI), C("/s5", host="wildcard.io", gw=HI),
      C("/", V2, host="first.com", gw=HIA), C("/", V2, host="sub.first.com", gw=HIA),
      C("/", V2, host="second.com", gw=HIA), C("/", V2, host="sub.second.com", gw=HIA),
      C("/", host="third.com", gw=HIA), C("/", host="sub.third.com", gw=HIA)]),
    ("HTTPRouteRequestHeaderModifier", "HTTPRoute (core)", "httproute-request-header-modifier",
     cases_header_modifier(False)),
    ("HTTPRouteResponseHeaderModifier", "HTTPRouteResponseHeaderModification",
     "httproute-response-header-modifier", cases_header_modifier(True)),
    ("HTTPRouteRedirectPath", "HTTPRoutePathRedirect", "httproute-redirect-path",
     [C("/original-prefix/lemon", redirect={"path": "/replacement-prefix/lemon"}),
      C("/full/path/original", redirect={"path": "/full-path-replacement"}),
      C("/path-and-host", redirect={"host": "example.org", "path": "/replacement-prefix"}),
      C("/path-and-status", status=301, redirect={"path": "/replacement-prefix"}),
      C("/full-path-and-host", redirect={"host": "example.org", "path": "/replacement-full"}),
      C("/full-path-and-status", status=301, redirect={"path": "/replacement-full"})]),
    ("HTTPRouteRedirectHostAndStatus", "HTTPRoute (core)", "httproute-redirect-host-and-status",
     [C("/hostname-redirect", redirect={"host": "example.org"}),
      C("/host-and-status", status=301, redirect={"host": "example.org"})]),
    ("HTTPRouteRewritePath", "HTTPRoutePathRewrite", "httproute-rewrite-path",
     [C("/prefix/one/two", V1, seen_path="/one/two"), C("/full/one/two", V1, seen_path="/one"),
      C("/full/rewrite-path-and-modify-headers/test", V1, seen_path="/test",
        headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1",
                 "X-Header-Set": "set-val"},
        seen_headers={"X-Header-Add": "header-val-1", "X-Header-Add-Append": "append-val-1,header-val-2",
                      "X-Header-Set": "set-overwrites-values"}, seen_absent=["X-Header-Remove"]),
      C("/prefix/rewrite-path-and-modify-headers/one", V1, seen_path="/prefix/one",
        headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1",
                 "X-Header-Set": "set-val"},
        seen_headers={"X-Header-Add": "header-val-1", "X-Header-Add-Append": "append-val-1,header-val-2",
                      "X-Header-Set": "set-overwrites-values"}, seen_absent=["X-Header-Remove"])]),
    ("HTTPRouteWeight", "HTTPRoute (core)", "httproute-weight", "weight"),
    # more as time allowed
    ("HTTPRouteCrossNamespace", "HTTPRoute (core)", "httproute-cross-namespace",
     [C("/", "web-backend", ns=WEB, gw="backend-namespaces")]),
    ("HTTPRouteInvalidNonExistentBackendRef", "HTTPRoute (core)", "httproute-invalid-nonexistent-backendref",
     [C("/", status=500)]),
    ("HTTPRouteInvalidBackendRefUnknownKind", "HTTPRoute (core)", "httproute-invalid-backendref-unknown-kind",
     [C("/v2", status=500)]),
    ("HTTPRouteInvalidCrossNamespaceBackendRef", "HTTPRoute, ReferenceGrant (core)",
     "httproute-invalid-cross-namespace-backend-ref", [C("/", status=500)]),
    ("HTTPRouteInvalidReferenceGrant", "HTTPRoute, ReferenceGrant (core)",
     "httproute-invalid-reference-grant", [C("/", status=500)]),
    ("HTTPRoutePartiallyInvalidViaInvalidReferenceGrant", "HTTPRoute, ReferenceGrant (core)",
     "httproute-partially-invalid-via-invalid-reference-grant",
     [C("/v2", status=500), C("/", "app-backend-v1", ns=APP)]),
    ("HTTPRouteReferenceGrant", "HTTPRoute, ReferenceGrant (core)", "httproute-reference-grant",
     [C("/", "web-backend", ns=WEB), DELETE("ReferenceGrant"), C("/", status=500)]),
    ("HTTPRouteMultipleGateways", "HTTPRoute (core)", "httproute-multiple-gateways",
     [C("/shared", V1), C("/shared", V1, gw="all-namespaces"), C("/", V2), C("/", V3, gw="all-namespaces")]),
    ("HTTPRouteNoBackendRefs", "HTTPRoute (core)", "httproute-omitted-backendrefs",
     [C("/omitted-no-forward", status=500), C("/empty-no-forward", status=500), C("/", V1)]),
    ("HTTPRouteListenerHostnameMatching", "HTTPRoute (core)", "httproute-listener-hostname-matching",
     [C("/", V1, host="bar.com", gw=LHM), C("/", V2, host="foo.bar.com", gw=LHM),
      C("/", V3, host="baz.bar.com", gw=LHM), C("/", V3, host="boo.bar.com", gw=LHM),
      C("/", V3, host="multiple.prefixes.bar.com", gw=LHM),
      C("/", V3, host="multiple.prefixes.foo.com", gw=LHM),
      C("/", host="foo.com", gw=LHM), C("/", host="no.matching.host", gw=LHM)]),
    ("HTTPRouteTimeoutRequest", "HTTPRouteRequestTimeout", "httproute-timeout-request",
     [C("/request-timeout", V1), C("/request-timeout?delay=1s", status=504),
      C("/disable-request-timeout?delay=1s", V1)]),
    ("HTTPRouteRequestHeaderModifierBackendWeights", "HTTPRouteBackendRequestHeaderModification",
     "httproute-request-header-modifier-backend-weights", "backend-weights"),
    ("HTTPRouteBackendRequestHeaderModifier", "HTTPRouteBackendRequestHeaderModification",
     "httproute-request-header-modifier-backend", cases_header_modifier(False)),
    ("HTTPRouteRedirectPort", "HTTPRoutePortRedirect", "httproute-redirect-port",
     [C("/port", redirect={"port": 8083}), C("/port-and-host", redirect={"host": "example.org", "port": 8083}),
      C("/port-and-status", status=301, redirect={"port": 8083}),
      C("/port-and-host-and-status", redirect={"host": "example.org", "port": 8083})]),
    ("HTTPRouteRedirectScheme", "HTTPRouteSchemeRedirect", "httproute-redirect-scheme",
     [C("/scheme", redirect={"scheme": "https"}),
      C("/scheme-and-host", redirect={"scheme": "https", "host": "example.org"}),
      C("/scheme-and-status", status=301, redirect={"scheme": "https"}),
      C("/scheme-and-host-and-status", redirect={"scheme": "https", "host": "example.org"})]),
    ("HTTPRoute303Redirect", "HTTPRoute303RedirectStatusCode", "httproute-303-redirect",
     [C("/see-other", method="POST", status=303, redirect={"path": "/see-other"})]),
    ("HTTPRoute307Redirect", "HTTPRoute307RedirectStatusCode", "httproute-307-redirect",
     [C("/temporary", status=307, redirect={"path": "/temporary"})]),
    ("HTTPRoute308Redirect", "HTTPRoute308RedirectStatusCode", "httproute-308-redirect",
     [C("/permanent", status=308, redirect={"path": "/permanent"})]),
    ("HTTPRouteRewriteHost", "HTTPRouteHostRewrite", "httproute-rewrite-host",
     [C("/one", V1, host="rewrite.example", seen_host="one.example.org"),
      C("/two", V2, host="rewrite.example", seen_host="example.org"),
      C("/rewrite-host-and-modify-headers", V2, host="rewrite.example", seen_host="test.example.org",
        headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"},
        seen_headers={"X-Header-Add": "header-val-1", "X-Header-Add-Append": "append-val-1,header-val-2",
                      "X-Header-Set": "set-overwrites-values"}, seen_absent=["X-Header-Remove"])]),
    ("HTTPRouteRequestMirror", "HTTPRouteRequestMirror", "httproute-request-mirror",
     [C("/mirror", V1, mirror_to=[V2]),
      C("/mirror-and-modify-headers", V1, mirror_to=[V2],
        headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"},
        seen_headers={"X-Header-Add": "header-val-1", "X-Header-Add-Append": "append-val-1,header-val-2",
                      "X-Header-Set": "set-overwrites-values"}, seen_absent=["X-Header-Remove"])]),
    ("HTTPRouteHTTPSListener", "HTTPRoute (core)", "httproute-https-listener",
     [C("/", V1, host="example.org", sni="example.org", gw=HTTPS),
      C("/", host="unknown-example.org", sni="unknown-example.org", gw=HTTPS),
      C("/", V2, host="second-example.org", sni="second-example.org", gw=HTTPS)]),
    ("HTTPRouteRedirectPortAndScheme", "HTTPRoutePortRedirect, HTTPRouteSchemeRedirect, GatewayPort8080",
     "httproute-redirect-port-and-scheme",
     [C("/scheme-nil-and-port-nil", redirect={"host": "example.org"}),
      C("/scheme-nil-and-port-80", redirect={"host": "example.org"}),
      C("/scheme-nil-and-port-8080", redirect={"host": "example.org", "port": 8080}),
      C("/scheme-https-and-port-nil", redirect={"scheme": "https", "host": "example.org"}),
      C("/scheme-https-and-port-443", redirect={"scheme": "https", "host": "example.org"}),
      C("/scheme-https-and-port-8443", redirect={"scheme": "https", "host": "example.org", "port": 8443}),
      C("/scheme-nil-and-port-nil", gw=GW8080, redirect={"host": "example.org", "port": 8080}),
      C("/scheme-nil-and-port-80", gw=GW8080, redirect={"host": "example.org"}),
      C("/scheme-https-and-port-nil", gw=GW8080, redirect={"scheme": "https", "host": "example.org"}),
      C("/scheme-nil-and-port-nil", gw=HTTPS, host="example.org", sni="example.org",
        redirect={"scheme": "https", "host": "example.org"}),
      C("/scheme-nil-and-port-443", gw=HTTPS, host="example.org", sni="example.org",
        redirect={"scheme": "https", "host": "example.org"}),
      C("/scheme-nil-and-port-8443", gw=HTTPS, host="example.org", sni="example.org",
        redirect={"scheme": "https", "host": "example.org", "port": 8443}),
      C("/scheme-http-and-port-nil", gw=HTTPS, host="example.org", sni="example.org",
        redirect={"scheme": "http", "host": "example.org"}),
      C("/scheme-http-and-port-80", gw=HTTPS, host="example.org", sni="example.org",
        redirect={"scheme": "http", "host": "example.org"}),
      C("/scheme-http-and-port-8080", gw=HTTPS, host="example.org", sni="example.org",
        redirect={"scheme": "http", "host": "example.org", "port": 8080})]),
    ("GatewayHTTPListenerIsolation", "GatewayHTTPListenerIsolation",
     "gateway-http-listener-isolation+gateway-http-listener-isolation-with-hostname-intersection",
     cases_isolation("http-listener-isolation")
     + cases_isolation("http-listener-isolation-with-hostname-intersection")),
    ("HTTPRouteRetry", "HTTPRouteRetry", "httproute-retry",
     [C("/retry/code-500-attempts-3", V3, retry=(500, 2)),
      C("/retry/code-500-attempts-3", status=500, retry=(500, 4)),
      C("/retry/code-500-attempts-3", status=503, retry=(503, 2)),
      C("/retry/code-all-attempts-2", V3, retry=(500, 1)),
      C("/retry/code-all-attempts-2", status=500, retry=(500, 3)),
      C("/retry/code-all-attempts-2", V3, retry=(502, 1)),
      C("/retry/code-all-attempts-2", status=502, retry=(502, 3)),
      C("/retry/code-all-attempts-2", V3, retry=(503, 1)),
      C("/retry/code-all-attempts-2", status=503, retry=(503, 3)),
      C("/retry/code-all-attempts-2", V3, retry=(504, 1)),
      C("/retry/code-all-attempts-2", status=504, retry=(504, 3))]),
    ("HTTPRouteRetryConnectionError", "HTTPRouteRetry, HTTPRouteRetryConnectionError",
     "httproute-retry-connection-error",
     [C("/retry/no-status-code-attempts-3", V3, retry=(None, 2)),
      C("/retry/no-status-code-attempts-3", status=(500, 502, 503), retry=(None, 4))]),
    ("HTTPRouteRequestMultipleMirrors", "HTTPRouteRequestMirror, HTTPRouteRequestMultipleMirrors",
     "httproute-request-multiple-mirrors",
     [C("/multi-mirror", V1, mirror_to=[V2, V3]),
      C("/multi-mirror-and-modify-request-headers", V1, mirror_to=[V2, V3],
        headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"},
        seen_headers={"X-Header-Add": "header-val-1", "X-Header-Add-Append": "append-val-1,header-val-2",
                      "X-Header-Set": "set-overwrites-values"}, seen_absent=["X-Header-Remove"])]),
    ("HTTPRouteBackendURLRewrite", "HTTPRouteBackendURLRewrite", "httproute-backend-url-rewrite",
     [C("/full/original", V1, seen_path="/rewritten-full"),
      C("/prefix/original", V1, seen_path="/rewritten-prefix/original")]),
    ("HTTPRouteNamedRule", "HTTPRouteNamedRouteRule", "httproute-named-rule",
     [C("/named", V1), C("/unnamed", V2)]),
    ("HTTPRouteTimeoutBackendRequest", "HTTPRouteBackendTimeout", "httproute-timeout-backend-request",
     [C("/backend-timeout", V1), C("/backend-timeout?delay=1s", status=504),
      C("/disable-backend-timeout?delay=1s", V1)]),
    ("HTTPRouteListenerPortMatching", "HTTPRouteParentRefPort", "httproute-listener-port-matching",
     [C("/", V1, host="foo.com", gw=LPM, port=80), C("/", V2, host="foo.com", gw=LPM, port=8080),
      C("/", V2, host="bar.com", gw=LPM, port=8080), C("/", V3, host="foo.com", gw=LPM, port=8090),
      C("/", host="bar.com", gw=LPM, port=8090)]),
    ("TLSRouteSimpleSameNamespace", "TLSRoute (core)", "tlsroute-simple-same-namespace",
     [C("/", "tcp-backend", host="abc.example.com", sni="abc.example.com", gw=TLSGW)]),
    ("TLSRouteTerminateSimpleSameNamespace", "TLSRoute, TLSRouteModeTerminate",
     "tlsroute-terminate-simple-same-namespace",
     [C("/", "tcp-backend", host="tls.example.com", sni="tls.example.com",
        gw="gateway-tlsroute-terminate")]),
    ("TLSRouteInvalidBackendRefNonexistent", "TLSRoute (core)",
     "tlsroute-invalid-backendref-nonexistent",
     [C("/", status="reject", host="example.com", sni="example.com",
        gw="gateway-tlsroute-invalid-backend-ref-nonexistent")]),
    ("TLSRouteInvalidBackendRefUnknownKind", "TLSRoute (core)",
     "tlsroute-invalid-backendref-unknown-kind",
     [C("/", status="reject", host="example.com", sni="example.com",
        gw="gateway-tlsroute-invalid-backend-ref-unknown-kind")]),
    # Not replayed (yet): cases None, the reason in NOTES.
    ("HTTPRouteBackendProtocolH2C", "HTTPRouteBackendProtocolH2C", "httproute-backend-protocol-h2c",
     [dict(C("/", V1), h2c=True)] if h2c_echo.available() else None),
    ("HTTPRouteBackendProtocolWebSocket", "HTTPRouteBackendProtocolWebSocket",
     "httproute-backend-protocol-websocket", [WS("/ws", V1)]),
    ("HTTPRouteBackendRequestRedirect", "HTTPRouteBackendRequestRedirect", "", None),
    ("HTTPRouteCORS", "HTTPRouteCORS", "httproute-cors", cases_cors()),
    ("HTTPRouteHTTPSListenerDetectMisdirectedRequests", "GatewayHTTPSListenerDetectMisdirectedRequests",
     "", None),
    ("HTTPRouteRequestPercentageMirror", "HTTPRouteRequestPercentageMirror",
     "httproute-request-percentage-mirror", "percentage-mirror"),
    ("HTTPRouteRetryWithTimeouts", "HTTPRouteRetry, HTTPRouteRetryBackendTimeout, timeouts",
     "httproute-retry-with-timeouts",
     [C("/retry/backend-request-timeout-200ms", V3, retry=(500, 2, "1s")),
      C("/retry/backend-request-timeout-200ms", status=504, retry=(500, 3, "1s")),
      C("/retry/request-timeout-200ms", V3, retry=(500, 4)),
      C("/retry/request-timeout-200ms", status=504, retry=(500, 4, "100ms"))]),
    ("HTTPRouteServiceTypes", "HTTPRoute (core)", "httproute-service-types",
     [C("/manual-endpointslices", V1), C("/headless", V1), C("/headless-manual-endpointslices", V1)]),
    ("GRPCExactMethodMatching", "GRPCRoute (core)", "grpcroute-exact-method-matching",
     [G("Echo", GV1), G("EchoTwo", GV2), G("EchoThree")] if grpc_echo.available() else None),
    ("GRPCRouteHeaderMatching", "GRPCRoute (core)", "grpcroute-header-matching",
     [G("Echo", GV1, headers={"version": "one"}), G("Echo", GV2, headers={"version": "two"}),
      G("Echo", GV1, headers={"version": "two", "color": "orange"}),
      G("Echo", GV2, headers={"version": "two", "color": "blue"}),
      G("Echo", headers={"color": "orange"}), G("Echo", headers={"some-other-header": "one"}),
      G("Echo", GV1, headers={"color": "blue"}), G("Echo", GV1, headers={"color": "green"}),
      G("Echo", GV2, headers={"color": "red"}), G("Echo", GV2, headers={"color": "yellow"}),
      G("Echo", headers={"color": "purple"})] if grpc_echo.available() else None),
    ("GRPCRouteListenerHostnameMatching", "GRPCRoute (core)", "grpcroute-listener-hostname-matching",
     [G("Echo", GV1, host="bar.com", gw=GLHM), G("Echo", GV2, host="foo.bar.com", gw=GLHM),
      G("Echo", GV3, host="baz.bar.com", gw=GLHM), G("Echo", GV3, host="boo.bar.com", gw=GLHM),
      G("Echo", GV3, host="multiple.prefixes.bar.com", gw=GLHM),
      G("Echo", GV3, host="multiple.prefixes.foo.com", gw=GLHM),
      G("Echo", host="foo.com", gw=GLHM), G("Echo", host="no.matching.host", gw=GLHM)]
     if grpc_echo.available() else None),
    ("GRPCRouteWeight", "GRPCRoute (core)", "grpcroute-weight",
     "grpc-weight" if grpc_echo.available() else None),
    ("GRPCRouteNamedRule", "GRPCRouteNamedRouteRule", "grpcroute-named-rule",
     [G("Echo", GV1), G("EchoTwo", GV2)] if grpc_echo.available() else None),
    ("ListenerSetAllowedRoutesNamespaces", "ListenerSet", "listenerset-allowed-routes-namespaces",
     ls_cases(LSARN, "listener-set-listener-allowed-routes-", {
         "all": {"/route-in-same-namespace": V1, "/route-in-selected-namespace": V2,
                 "/route-not-in-selected-namespace": V3},
         "same": {"/route-in-same-namespace": V1},
         "selector": {"/route-in-selected-namespace": V2},
         "cross-ns-same": {"/route-in-listenerset-namespace": V1}},
         ["/route-in-same-namespace", "/route-in-selected-namespace",
          "/route-not-in-selected-namespace", "/route-in-listenerset-namespace",
          "/route-in-gateway-namespace"])),
    ("ListenerSetDualParentRefIndependence", "ListenerSet", "listenerset-dual-parentref-independence",
     [C("/dualboth", V1, host="gw-dual.com", gw="gateway-dual-parentref"),
      C("/dualboth", V1, host="ls-dual.com", gw="gateway-dual-parentref"),
      C("/dualone", host="gw-dual.com", gw="gateway-dual-parentref"),
      C("/dualone", V2, host="ls-dual.com", gw="gateway-dual-parentref")]),
    ("ListenerSetGatewayParentSectionNameNotFound", "ListenerSet",
     "listenerset-gateway-parent-section-name-not-found",
     [C("/goodsection", V1, host="ls-section-name.com", gw="gateway-section-name"),
      C("/badsection", host="ls-section-name.com", gw="gateway-section-name"),
      C("/badsection", host="gw-section.com", gw="gateway-section-name")]),
    ("ListenerSetHTTPRouting", "ListenerSet", "listenerset-http-routing",
     ls_cases(LSHR, "", {
         "gateway-listener-1": {"/route": V1, "/gateway-route": V2, "/gateway-section-route": V3},
         "gateway-listener-2": {"/route": V1, "/gateway-route": V2},
         "listener-set-http-routing-1-listener-1": {
             "/route": V1, "/listener-set-http-routing-1-route": V2,
             "/listener-set-http-routing-1-section-route": V3},
         "listener-set-http-routing-1-listener-2": {
             "/route": V1, "/listener-set-http-routing-1-route": V2},
         "listener-set-http-routing-2-listener-1": {
             "/route": V1, "/listener-set-http-routing-2-route": V2},
         "listener-set-http-routing-2-listener-2": {
             "/route": V1, "/listener-set-http-routing-2-route": V2}},
         ["/route", "/gateway-route", "/gateway-section-route", "/listener-set-http-routing-1-route",
          "/listener-set-http-routing-1-section-route", "/listener-set-http-routing-2-route"])),
]

NOTES = {
    "GRPCExactMethodMatching": "" if grpc_echo.available() else "needs python3-grpcio",
    "GRPCRouteHeaderMatching": "" if grpc_echo.available() else "needs python3-grpcio",
    "GRPCRouteListenerHostnameMatching": "" if grpc_echo.available() else "needs python3-grpcio",
    "GRPCRouteNamedRule": "" if grpc_echo.available() else "needs python3-grpcio",
    "GRPCRouteWeight": ("500 unary calls, each share within 5 points of 70/30/0, up to 10 attempts"
                        if grpc_echo.available() else "needs python3-grpcio"),
    "HTTPRouteBackendProtocolH2C": ("curl with h2c prior knowledge to an h2c echo (h2c_echo.py)"
                                    if h2c_echo.available() else
                                    "needs python3-h2 (h2c echo) and curl"),
    "HTTPRouteBackendProtocolWebSocket": "a handshake and one text message echoed (ws_echo.py)",
    "HTTPRouteBackendRequestRedirect": "the upstream case list stored for reference does not match "
                                       "the manifest's paths (/full, /prefix); not transcribed",
    "HTTPRouteHTTPSListenerDetectMisdirectedRequests": "needs HTTP/2 over TLS (421 is an HTTP/2 "
                                                       "connection-reuse answer)",
    "HTTPRouteRequestPercentageMirror": "150 requests per rule (upstream: 500); mirrored count "
                                        "within 3 standard deviations, 3 attempts",
    "HTTPRouteServiceTypes": "the empty IPv4 EndpointSlices get the infra-backend-v1 Pods' "
                             "addresses, as the upstream test fills them in",
    "ListenerSetAllowedRoutesNamespaces": "every path on every ListenerSet listener hostname (the "
                                          "upstream grid, plus the cross-namespace set's listener)",
    "ListenerSetHTTPRouting": "every path on every Gateway and ListenerSet listener hostname",
    "HTTPRouteReferenceGrant": "the ReferenceGrant sits in its own file, deleted after the first "
                               "phase; krtgate follows the folder",
    "HTTPRouteWeight": "500 requests, each share within 5 points of 70/30/0, up to 10 attempts",
    "HTTPRouteTimeoutRequest": "the echo backend honours ?delay=1s",
    "HTTPRouteRetryConnectionError": "2 resets -> 200; 4 resets -> 500, 502 or 503 (the reference "
                                     "names 500 or 503; 502 also accepted here)",
    "HTTPRouteRequestHeaderModifierBackendWeights": "100 requests; each answering pod must have "
                                                    "received Backend: <its Service>",
    "HTTPRouteHostnameIntersection": "traffic cases only; the listener attachedRoutes and route status "
                                     "checks are the translate goldens' job",
}


# ---------------------------------------------------------------------------------------------
# Echo backends (the "kubelet"): one HTTP server thread per Pod.

_echo_lock = threading.Lock()
_echo_log = []  # (pod, path) of every request any echo pod received: the "pod logs"
_retry_seen = {}  # retry simulation: uuid -> attempts seen


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        if (self.headers.get("upgrade") or "").lower() == "websocket":
            return ws_echo.serve(self, self.server.pod, self.server.namespace)
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        with _echo_lock:
            _echo_log.append((self.server.pod, urllib.parse.urlsplit(self.path).path))
        if urllib.parse.urlsplit(self.path).path.startswith("/retry/") and "uuid" in query:
            with _echo_lock:
                uid = query["uuid"][0]
                _retry_seen[uid] = _retry_seen.get(uid, 0) + 1
                fail = _retry_seen[uid] <= int((query.get("succeedAfter") or ["0"])[0])
            if fail:
                m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", (query.get("delayRetry") or [""])[0])
                if m:  # a slow failure
                    time.sleep(min(float(m.group(1)) / (1000 if m.group(2) == "ms" else 1), 5))
                code = (query.get("responseCode") or [""])[0]
                if not code:  # no code: reset the connection
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(int(code))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        delay = (query.get("delay") or [""])[0]  # echo-basic's ?delay=1s / 500ms
        m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", delay)
        if m:
            time.sleep(min(float(m.group(1)) / (1000 if m.group(2) == "ms" else 1), 5))
        headers = {}
        for k, v in self.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        body = json.dumps({
            "method": self.command, "path": self.path, "host": self.headers.get("host", ""),
            "proto": self.request_version, "headers": headers,
            "pod": self.server.pod, "namespace": self.server.namespace,
        }).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for v in self.headers.get_all("x-echo-set-header") or []:
            for pair in v.split(","):
                name, sep, value = pair.partition(":")
                if sep and name.strip():
                    self.send_header(name.strip(), value.strip())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, fmt, *args):
        pass


class _EchoServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client (the proxy) that gave up on a request, e.g. a timeout case


def pods():
    """[(namespace, service, pod name, ip)] in a fixed order: the Pods the adapted manifests hold."""
    out, n = [], 0
    for ns, svc, replicas in BACKENDS:
        for i in range(replicas):
            n += 1
            out.append((ns, svc, f"{svc}-pod-{i}", f"127.0.3.{n}"))
    return out


def self_signed(name):
    """(certificate PEM, key PEM) for |name|, made with the openssl CLI; (None, None) if it fails."""
    d = tempfile.mkdtemp(prefix="krtgate-conf-tls-")
    crt, key = os.path.join(d, "crt"), os.path.join(d, "key")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                       check=True, capture_output=True, timeout=30)
        return open(crt).read(), open(key).read()
    except (OSError, subprocess.SubprocessError):
        return None, None
    finally:
        shutil.rmtree(d, ignore_errors=True)


def add_missing_secrets(text):
    """The suite creates the Secrets its Gateways' certificateRefs name at run time; the derived
    goldens carry them, the verbatim upstream copies do not. Adds a kubernetes.io/tls Secret (a
    self-signed certificate; clients here do not verify) for each one the text lacks."""
    import base64
    have = set()
    refs = []  # (namespace, name)
    for doc in re.split(r"(?m)^---[ \t]*\n", text):
        kind = re.search(r"(?m)^kind:\s*(\S+)", doc)
        meta_ns = re.search(r"(?m)^  namespace:\s*\"?([^\s\"]+)", doc)
        ns = meta_ns.group(1) if meta_ns else "default"
        if kind and kind.group(1) == "Secret":
            m = re.search(r"(?m)^  name:\s*\"?([^\s\"]+)", doc)
            have.add((ns, m.group(1) if m else ""))
        if not kind or kind.group(1) != "Gateway":
            continue
        lines = doc.split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)certificateRefs:\s*$", line)
            if not m:
                continue
            ind = len(m.group(1))
            ref_ns = None
            items = []  # [{field: value}] of the certificateRefs list
            for nxt in lines[i + 1:]:
                if not nxt.strip():
                    continue
                nind = len(nxt) - len(nxt.lstrip())
                item = nxt.lstrip().startswith("-")
                if nind < ind or (nind == ind and not item):
                    break
                if item:
                    items.append({})
                r = re.match(r"^[\s-]*(\w+):\s*\"?([^\s\"]*)", nxt)
                if r and items:
                    items[-1][r.group(1)] = r.group(2)
            for it in items:
                if it.get("name") and it.get("kind", "Secret") == "Secret":
                    refs.append((it.get("namespace") or ns, it["name"]))
    out = []
    for ns, name in refs:
        if (ns, name) in have:
            continue
        crt, key = self_signed("conformance.example.com")
        if crt is None:
            break
        have.add((ns, name))
        b64 = base64.b64encode
        out.append(f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n"
                   f"  namespace: {ns}\ntype: kubernetes.io/tls\ndata:\n"
                   f"  tls.crt: {b64(crt.encode()).decode()}\n"
                   f"  tls.key: {b64(key.encode()).decode()}\n")
    return "---\n".join([text.rstrip("\n") + "\n"] + out) if out else text


def tls_echo_context():
    """A server context with a fresh self-signed certificate for abc.example.com (openssl CLI),
    or None when it cannot be made (the TLS cases then fail, saying so)."""
    d = tempfile.mkdtemp(prefix="krtgate-conf-tls-")
    crt, key = os.path.join(d, "crt"), os.path.join(d, "key")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "1", "-subj", "/CN=abc.example.com",
                        "-addext", "subjectAltName=DNS:abc.example.com"],
                       check=True, capture_output=True, timeout=30)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        return ctx
    except (OSError, subprocess.SubprocessError, ssl.SSLError):
        return None
    finally:
        shutil.rmtree(d, ignore_errors=True)


class _TLSEchoServer(_EchoServer):
    def get_request(self):  # the handshake runs in the request's thread, not the accept loop
        sock, addr = self.socket.accept()
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


def start_echoes():
    servers = []
    tls = None
    for ns, svc, pod, ip in pods():
        if svc.startswith("grpc-"):
            if grpc_echo.available():
                servers.append(grpc_echo.start_server(ip, ECHO_PORT, pod, ns))
            continue
        if svc == V1 and h2c_echo.available():
            servers.append(h2c_echo.start_server(ip, pod, ns))
        srv = _EchoServer((ip, ECHO_PORT), _Echo)
        srv.pod, srv.namespace = pod, ns
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        if svc in TLS_ECHO_PORTS:
            tls = tls or tls_echo_context()
            if tls is None:
                continue
            srv = _TLSEchoServer((ip, TLS_ECHO_PORTS[svc]), _Echo)
            srv.pod, srv.namespace, srv.tls = pod, ns, tls
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            servers.append(srv)
    return servers


# ---------------------------------------------------------------------------------------------
# Manifests

def pod_docs():
    docs = []
    for ns, svc, pod, ip in pods():
        docs.append(
            "apiVersion: v1\nkind: Pod\nmetadata:\n"
            f"  name: {pod}\n  namespace: {ns}\n  labels:\n    app: {svc}\n"
            "spec:\n  containers:\n  - name: echo\n    image: echo-basic\n    ports:\n"
            f"    - containerPort: {ECHO_PORT}\n"
            f"status:\n  phase: Running\n  podIP: {ip}\n  conditions:\n"
            "  - type: Ready\n    status: \"True\"\n")
    return "---\n".join(docs)


def adapt(text):
    """Gives every Gateway document spec.addresses 127.0.2.N, and every empty IPv4 EndpointSlice
    the infra-backend-v1 Pods' addresses (as HTTPRouteServiceTypes does at run time); returns
    (text, {gateway name: ip})."""
    out, addrs = [], {}
    v1_ips = [ip for _ns, svc, _pod, ip in pods() if svc == V1]
    for doc in re.split(r"(?m)^---[ \t]*\n", text):
        if (re.search(r"(?m)^kind:\s*EndpointSlice\s*$", doc)
                and re.search(r"(?m)^addressType:\s*IPv4\s*$", doc)
                and not re.search(r"(?m)^endpoints:", doc)):
            doc = doc.rstrip("\n") + "\nendpoints:\n" + "".join(
                f"- addresses: [\"{ip}\"]\n  conditions: {{ready: true}}\n" for ip in v1_ips)
        if re.search(r"(?m)^kind:\s*Gateway\s*$", doc):
            m = re.search(r"(?m)^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+name:\s*\"?([^\s\"]+)", doc)
            name = m.group(1) if m else "?"
            ip = f"127.0.2.{len(addrs) + 1}"
            addrs.setdefault(name, ip)
            sm = re.search(r"(?m)^spec:[ \t]*\n([ \t]+)", doc)
            if sm:
                ind = sm.group(1)
                ins = (f"{ind}addresses:\n{ind}- type: IPAddress\n{ind}  value: {ip}\n")
                pos = sm.end(0) - len(ind)
                doc = doc[:pos] + ins + doc[pos:]
        out.append(doc)
    return "---\n".join(out), addrs


def listener_ports(text):
    """{gateway name: [ports]} from the Gateway documents (good enough for these fixtures)."""
    ports = {}
    for doc in re.split(r"(?m)^---[ \t]*\n", text):
        if re.search(r"(?m)^kind:\s*Gateway\s*$", doc):
            m = re.search(r"(?m)^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+name:\s*\"?([^\s\"]+)", doc)
            ports[m.group(1)] = [int(p) for p in re.findall(r"(?m)^\s+port:\s*(\d+)", doc)]
    return ports


# ---------------------------------------------------------------------------------------------
# Requests and checks

def send(ip, port, case, timeout=3.0):
    """Sends one request; returns (status, {lower name: [values]}, body bytes)."""
    if case.get("grpc"):
        return grpc_echo.send(ip, port, case, timeout)
    if case.get("ws"):
        return ws_echo.send(ip, port, case, timeout)
    if case.get("h2c"):
        return h2c_echo.send(ip, port, case, timeout)
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        if case["sni"]:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            raw = socket.create_connection((ip, port), timeout=timeout)
            conn.sock = ctx.wrap_socket(raw, server_hostname=case["sni"])
        hdrs = dict(case["headers"])
        hdrs["Host"] = case["host"] or (ip if port == 80 else f"{ip}:{port}")
        if case["echo_set"]:
            hdrs["X-Echo-Set-Header"] = ",".join(f"{k}:{v}" for k, v in case["echo_set"].items())
            for k, v in case["echo_set"].items():
                hdrs.setdefault(k, v)
        conn.putrequest(case["method"], case["path"], skip_host=True, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read() if case["method"] != "HEAD" else b""
        rh = {}
        for k, v in resp.getheaders():
            rh.setdefault(k.lower(), []).append(v)
        return resp.status, rh, body
    finally:
        conn.close()


def _hval(hmap, name):
    vals = hmap.get(name.lower())
    return None if vals is None else ",".join(vals)


def check(case, ip, port, status, rh, body):
    """None when the response meets the case, else what differs."""
    want_status = case["status"] if isinstance(case["status"], tuple) else (case["status"],)
    if status not in want_status:
        return f"status {status}, want {' or '.join(map(str, want_status))}"
    if case["redirect"] is not None:
        loc = _hval(rh, "location")
        if not loc:
            return "no Location"
        u = urllib.parse.urlsplit(loc)
        want = case["redirect"]
        req_host = (case["host"] or ip).split(":")[0]
        scheme = want.get("scheme", "http")
        if (u.scheme or "http") != scheme:
            return f"Location {loc}: scheme, want {scheme}"
        if (u.hostname or "") != want.get("host", req_host):
            return f"Location {loc}: host, want {want.get('host', req_host)}"
        default_port = {"http": 80, "https": 443}[scheme]
        wport = want.get("port")
        got_port = u.port
        if wport is None:
            if got_port not in (None, default_port):
                return f"Location {loc}: port {got_port}, want none"
        elif got_port != wport and not (got_port is None and wport == default_port):
            return f"Location {loc}: port, want {wport}"
        wpath = want.get("path", case["path"].split("?")[0])
        if (u.path or "/") != wpath:
            return f"Location {loc}: path, want {wpath}"
        return None
    for k, vals in case["resp_any"].items():
        got = _hval(rh, k)
        if got is None or re.sub(r"\s", "", got) not in [re.sub(r"\s", "", v) for v in vals]:
            return f"response {k}: {got}, want one of {vals}"
    for k in case["resp_absent"]:
        if _hval(rh, k) is not None:
            return f"response has {k}: {_hval(rh, k)}, want it absent"
    if want_status != (200,) or case["backend"] is None:
        return None
    try:
        echo = json.loads(body)
    except ValueError:
        return f"200 but not the echo's JSON: {body[:80]!r}"
    if not str(echo.get("pod", "")).startswith(case["backend"]):
        return f"served by pod {echo.get('pod')}, want {case['backend']}"
    if echo.get("namespace") != case["ns"]:
        return f"namespace {echo.get('namespace')}, want {case['ns']}"
    if echo.get("method") != case["method"]:
        return f"backend saw method {echo.get('method')}, want {case['method']}"
    want_path = case["seen_path"] or case["path"]
    if case["seen_path"] and "?" in case["path"]:
        want_path += "?" + case["path"].split("?", 1)[1]
    if echo.get("path") != want_path:
        return f"backend saw path {echo.get('path')}, want {want_path}"
    if case["seen_host"] and echo.get("host") != case["seen_host"]:
        return f"backend saw host {echo.get('host')}, want {case['seen_host']}"
    seen = echo.get("headers") or {}
    for k, v in case["seen_headers"].items():
        got = _hval(seen, k)
        if got != v:
            return f"backend saw {k}: {got}, want {v}"
    for k in case["seen_absent"]:
        if _hval(seen, k) is not None:
            return f"backend saw {k}: {_hval(seen, k)}, want it absent"
    for k, v in case["resp_headers"].items():
        got = _hval(rh, k)
        if got != v:
            return f"response {k}: {got}, want {v}"
    for k in case["resp_absent"]:
        if _hval(rh, k) is not None:
            return f"response has {k}: {_hval(rh, k)}, want it absent"
    return None


def describe(case):
    s = f"{case['method']} {case['path']}"
    if case["host"]:
        s += f" Host={case['host']}"
    if case["headers"]:
        s += " " + ",".join(f"{k}={v}" for k, v in case["headers"].items())
    if case["gw"]:
        s += f" via {case['gw']}"
    return s


def check_mirrored(case, deadline):
    """Every Service in mirror_to must have logged the path (the suite reads its pods' logs)."""
    path = case["path"].split("?")[0]
    for svc in case["mirror_to"]:
        while True:
            with _echo_lock:
                seen = any(p.startswith(svc) and q == path for p, q in _echo_log)
            if seen:
                break
            if time.monotonic() >= deadline + 2:
                return f"no {svc} pod received the mirrored request {path}"
            time.sleep(POLL)
    return None


def run_case(case, ip, port, timeout):
    """Eventually consistent: REQUIRED_SUCCESSES in a row within timeout. Returns None or why."""
    deadline = time.monotonic() + timeout
    streak, last = 0, "no answer"
    base_path = case["path"]
    while True:
        if case["retry"]:
            code, after = case["retry"][:2]
            q = {"uuid": os.urandom(8).hex(), "succeedAfter": str(after)}
            if code:
                q["responseCode"] = str(code)
            if len(case["retry"]) > 2:
                q["delayRetry"] = case["retry"][2]
            case = dict(case, path=base_path + "?" + urllib.parse.urlencode(q))
        try:
            status, rh, body = send(ip, port, case)
            last = check(case, ip, port, status, rh, body)
        except (OSError, http.client.HTTPException) as e:
            last = None if case["status"] == "reject" else f"{type(e).__name__}: {e}"
        if last is None:
            streak += 1
            if streak >= REQUIRED_SUCCESSES:
                return check_mirrored(case, deadline)
        else:
            streak = 0
        if time.monotonic() >= deadline:
            return last
        time.sleep(POLL)


def run_weight(ip, port, grpc=False):
    """HTTPRouteWeight (GRPCRouteWeight with grpc): 70/30/0 over 500 requests (unary calls), each
    share within 5 points; 10 attempts."""
    want = {GV1: 0.7, GV2: 0.3, GV3: 0.0} if grpc else {V1: 0.7, V2: 0.3, V3: 0.0}
    last = "no attempt"
    for _attempt in range(10):
        counts = {k: 0 for k in want}
        errors = 0
        for _ in range(500):
            try:
                status, _rh, body = send(ip, port, G("Echo", GV1) if grpc else C("/", V1))
                pod = json.loads(body).get("pod", "") if status == 200 else ""
            except (OSError, http.client.HTTPException, ValueError):
                pod = ""
            svc = next((k for k in want if pod.startswith(k)), None)
            if svc is None:
                errors += 1
            else:
                counts[svc] += 1
        shares = {k: counts[k] / 500 for k in want}
        bad = [k for k in want if abs(shares[k] - want[k]) > 0.05 or (want[k] == 0 and counts[k])]
        if not errors and not bad:
            return None
        last = "shares " + ", ".join(f"{k[-2:]}={shares[k]:.2f}" for k in want) + (
            f", {errors} errors" if errors else "")
    return last


def run_backend_weights(ip, port):
    """HTTPRouteRequestHeaderModifierBackendWeights: 100 requests; the pod that answers must be
    the backend named by the Backend header its backendRef's filter set."""
    for i in range(100):
        try:
            status, _rh, body = send(ip, port, C("/", V1))
            echo = json.loads(body) if status == 200 else {}
        except (OSError, http.client.HTTPException, ValueError) as e:
            return f"request {i}: {type(e).__name__}: {e}"
        if status != 200:
            return f"request {i}: status {status}"
        got = _hval(echo.get("headers") or {}, "Backend")
        if not got or not echo.get("pod", "").startswith(got):
            return f"request {i}: pod {echo.get('pod')} received Backend: {got}"
    return None


def run_percentage_mirror(ip, port):
    """HTTPRouteRequestPercentageMirror: 150 requests per rule (upstream sends 500, too slow here
    under ASan: a mirrored request costs ~25 ms); the count infra-backend-v2 logs must be within 3
    binomial standard deviations of n * fraction. Up to 3 attempts per rule, so that a 3-sigma
    outlier (0.3%) does not make the run flaky."""
    n = 150
    for path, frac in (("/percent-mirror", 0.20), ("/percent-mirror-fraction", 0.50),
                       ("/percent-mirror-and-modify-headers", 0.35)):
        sd = (n * frac * (1 - frac)) ** 0.5
        why = None
        for _attempt in range(3):
            with _echo_lock:
                before = sum(1 for p, q in _echo_log if p.startswith(V2) and q == path)
            for i in range(n):
                try:
                    status, _rh, body = send(ip, port, C(path, V1))
                except (OSError, http.client.HTTPException) as e:
                    return f"{path} request {i}: {type(e).__name__}: {e}"
                if status != 200 or not json.loads(body).get("pod", "").startswith(V1):
                    return f"{path} request {i}: status {status}, not answered by {V1}"
            time.sleep(1.0)  # mirrors are fire-and-forget: let the last ones land
            with _echo_lock:
                got = sum(1 for p, q in _echo_log if p.startswith(V2) and q == path) - before
            why = None if abs(got - n * frac) <= 3 * sd else (
                f"{path}: {got} of {n} mirrored, want {n * frac:.0f} +- {3 * sd:.0f}")
            if why is None:
                break
        if why:
            return why
    return None


SPECIAL = {"weight": run_weight, "grpc-weight": lambda ip, port: run_weight(ip, port, grpc=True),
           "backend-weights": run_backend_weights,
           "percentage-mirror": run_percentage_mirror}


# ---------------------------------------------------------------------------------------------
# One test

def http_get(addr, path, timeout=2.0):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_port(ip, port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


GATEWAY_CLASS = """apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: agentgateway
spec:
  controllerName: agentgateway.dev/agentgateway
"""


def fixture_text(args, fixture):
    """The test's manifests: the derived golden fixture when there is one, else the upstream test
    manifest (tests/conformance/upstream/, else --conformance-dir) with the whole upstream base
    (minus Deployments: the Pods here replace them)."""
    golden = os.path.join(args.src, "tests", "translate", "golden", "conf-" + fixture, "in.yaml")
    fixtures = fixture.split("+")  # several upstream manifests for one test: a+b
    fixture = fixtures[0]
    if os.path.exists(golden):
        return open(golden).read()
    conf = os.path.join(args.src, "tests", "conformance", "upstream")
    if not os.path.exists(os.path.join(conf, fixture + ".yaml")):
        conf = args.conformance_dir
    if not conf or not os.path.exists(os.path.join(conf, fixture + ".yaml")):
        return None
    return add_missing_secrets(_upstream_text(conf, fixtures))


def _upstream_text(conf, fixtures):
    docs = []
    for name in ["manifests.yaml"] + [f + ".yaml" for f in fixtures]:
        text = open(os.path.join(conf, name)).read()
        text = text.replace("{GATEWAY_CLASS_NAME}", "agentgateway")
        for doc in re.split(r"(?m)^---[ \t]*\n", text):
            if doc.strip() and not re.search(r"(?m)^kind:\s*Deployment\s*$", doc):
                docs.append(doc if doc.endswith("\n") else doc + "\n")
    return "---\n".join([GATEWAY_CLASS] + docs)


SANITIZER = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:")


def run_test(args, name, fixture, cases):
    """Runs one test; a sanitizer report in krtgate's output turns any result into FAIL."""
    result = {}
    res = _run_test(args, name, fixture, cases, result)
    log = result.get("log", "")
    m = SANITIZER.search(log)
    if m:
        line = log[m.start():].split("\n", 1)[0]
        return "FAIL", res[1], res[2], f"krtgate sanitizer report: {line[:200]}" + (
            f" (and: {res[3]})" if res[3] else "")
    return res


def _run_test(args, name, fixture, cases, result):
    text = fixture_text(args, fixture)
    if text is None:
        return "NOT RUN", 0, 0, (f"no fixture: neither tests/translate/golden/conf-{fixture}/in.yaml "
                                 f"nor {fixture}.yaml in --conformance-dir")
    text, addrs = adapt(text)
    ports = listener_ports(text)
    # Phases: DELETE(kind) in a case list splits it; the objects of that kind go to their own file,
    # which is removed between the phases (krtgate then follows the folder: no --no-watch).
    phases, deleted_kind = [[]], None
    for item in cases if isinstance(cases, list) else []:
        if isinstance(item, tuple):
            deleted_kind = item[1]
            phases.append([])
        else:
            phases[-1].append(item)
    split_docs = []
    if deleted_kind:
        keep = []
        for doc in re.split(r"(?m)^---[ \t]*\n", text):
            (split_docs if re.search(rf"(?m)^kind:\s*{deleted_kind}\s*$", doc) else keep).append(doc)
        text = "---\n".join(keep)
        cases = [c for ph in phases for c in ph]
    work = tempfile.mkdtemp(prefix="krtgate-conf-")
    proc = None
    try:
        with open(os.path.join(work, "in.yaml"), "w") as f:
            f.write(text)
        if split_docs:
            with open(os.path.join(work, "deleted.yaml"), "w") as f:
                f.write("---\n".join(split_docs))
        with open(os.path.join(work, "pods.yaml"), "w") as f:
            f.write(pod_docs())
        log = open(os.path.join(work, "krtgate.log"), "w+")
        proc = subprocess.Popen(
            [args.krtgate, "run"] + ([] if deleted_kind else ["--no-watch"])
            + ["--xds-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", work],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _children.append(proc)
        admin = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and admin is None and proc.poll() is None:
            log.seek(0)
            m = re.search(r"admin on http://([0-9.]+:[0-9]+)/", log.read())
            if m:
                admin = m.group(1)
            else:
                time.sleep(0.05)
        if admin is None:
            log.seek(0)
            return "FAIL", 0, 0, "krtgate run did not start: " + log.read()[-300:].replace("\n", " | ")
        ready = False
        while time.monotonic() < deadline:
            try:
                if http_get(admin, "/readyz")[0] == 200:
                    ready = True
                    break
            except OSError:
                pass
            time.sleep(0.05)
        if not ready:
            return "FAIL", 0, 0, "/readyz never answered 200"
        targets = {}
        for case in cases if isinstance(cases, list) else []:
            gw = case["gw"] or "same-namespace"
            port = case["port"] or (ports.get(gw) or [80])[0]
            targets[id(case)] = (addrs.get(gw), port)
        if not isinstance(cases, list):
            targets[cases] = (addrs.get("same-namespace"), 80)
        for ip, port in set(targets.values()):
            if ip is None or not wait_port(ip, port, time.monotonic() + 10):
                return "FAIL", 0, 0, f"no proxy listening at {ip}:{port}"
        if not isinstance(cases, list):
            why = SPECIAL[cases](*targets[cases])
            return ("PASS", 1, 1, "") if why is None else ("FAIL", 0, 1, why)
        results = {}

        def work_one(case):
            ip, port = targets[id(case)]
            results[id(case)] = run_case(case, ip, port, args.case_timeout)

        for n, phase in enumerate(phases):
            if n > 0:
                os.remove(os.path.join(work, "deleted.yaml"))
            threads = [threading.Thread(target=work_one, args=(c,), daemon=True) for c in phase]
            for t in threads:
                t.start()
            for t in threads:
                t.join(args.case_timeout + 10)
            if any(results.get(id(c), "timed out") is not None for c in phase):
                break  # the next phase starts from this one's state
        failed = [(c, results.get(id(c), "not run: an earlier phase failed")) for c in cases
                  if results.get(id(c), "x") is not None]
        ok = len(cases) - len(failed)
        if not failed:
            return "PASS", ok, len(cases), ""
        why = "; ".join(f"{describe(c)}: {r}" for c, r in failed[:2])
        if len(why) > 400:
            why = why[:400] + "..."
        if len(failed) > 2:
            why += f"; and {len(failed) - 2} more"
        return "FAIL", ok, len(cases), why
    finally:
        if proc is not None:
            kill_children()
            log.seek(0)
            result["log"] = log.read()
            log.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"  (kept {work})")


def profile_of(name):
    """The conformance profile a test belongs to, from its name (the suite's own grouping)."""
    if name.startswith("GRPC"):
        return "GATEWAY-GRPC"
    if name.startswith("TLSRoute"):
        return "GATEWAY-TLS"
    return "GATEWAY-HTTP"


def summarize(rows):
    """Counts per profile, then per feature (a test counts for every feature it names), as
    (kind, name, {result: count}) in a stable order."""
    def bump(table, key, result):
        c = table.setdefault(key, {"PASS": 0, "FAIL": 0, "NOT RUN": 0})
        c[result if result in c else "NOT RUN"] += 1
    profiles, features = {}, {}
    for name, feature, result, *_ in rows:
        bump(profiles, profile_of(name), result)
        for f in feature.split(","):
            bump(features, f.strip(), result)
    return ([("profile", k, profiles[k]) for k in sorted(profiles)] +
            [("feature", k, features[k]) for k in sorted(features)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--krtgate", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--expected")
    ap.add_argument("--markdown")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--case-timeout", type=float, default=5.0)
    ap.add_argument("--conformance-dir", default=os.environ.get(
        "KRT_CONFORMANCE_DIR", "/work/shared/conformance/gateway-api"),
        help="upstream manifests, for tests without a derived golden fixture")
    ap.add_argument("--keep", action="store_true", help="keep the manifest folders")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: (kill_children(), sys.exit(143)))
    expected = set()
    if args.expected:
        for line in open(args.expected):
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 2 and parts[0] == "EXPECTED_PASS":
                expected.add(parts[1])

    try:
        start_echoes()
    except OSError as e:
        print(f"NOT RUN: cannot start the echo backends on 127.0.3.x:{ECHO_PORT}: {e}")
        return 77
    try:  # the Gateways' listeners are on port 80: can this process bind it?
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.2.250", 80))
        s.close()
    except OSError as e:
        print(f"NOT RUN: cannot bind port 80 on loopback ({e}); the conformance Gateways listen there "
              "(run as root or lower net.ipv4.ip_unprivileged_port_start)")
        return 77

    t0 = time.monotonic()
    rows = []
    try:
        for name, feature, fixture, cases in TESTS:
            if args.only and name not in args.only:
                continue
            if cases is None:
                res = ("NOT RUN", 0, 0, "")
            elif time.monotonic() - t0 > RUN_BUDGET:
                res = ("NOT RUN", 0, 0, "runner time budget used up")
            else:
                res = run_test(args, name, fixture, cases)
            result, ok, total, why = res
            note = NOTES.get(name, "")
            rows.append((name, feature, result, ok, total, why, note))
            counts = f" ({ok}/{total} cases)" if total else ""
            tag = " [expected pass]" if name in expected else ""
            shown = why or (note if result == "NOT RUN" else "")
            print(f"{result:8} {name}{counts}{tag}{': ' + shown if shown else ''}", flush=True)
    finally:
        kill_children()

    npass = sum(1 for r in rows if r[2] == "PASS")
    nfail = sum(1 for r in rows if r[2] == "FAIL")
    nskip = len(rows) - npass - nfail
    regress = [r[0] for r in rows if r[0] in expected and r[2] != "PASS"]
    known = [r[0] for r in rows if r[0] not in expected and r[2] != "PASS"]
    print(f"summary: {npass} passed, {nfail} failed, {nskip} not run, of {len(rows)} "
          f"({time.monotonic() - t0:.0f}s)")
    summary = summarize(rows)
    for kind, key, c in summary:
        print(f"{kind:8} {key}: {c['PASS']} passed, {c['FAIL']} failed, {c['NOT RUN']} not run")
    if known:
        print("known failures (not in EXPECTED_PASS): " + ", ".join(known))
    if regress:
        print("REGRESSIONS (listed EXPECTED_PASS): " + ", ".join(regress))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| test | feature | result | why / notes |\n|---|---|---|---|\n")
            for name, feature, result, ok, total, why, note in rows:
                cell = result + (f" ({ok}/{total})" if total else "")
                text = "; ".join(x for x in (why, note) if x).replace("|", "\\|")
                f.write(f"| `{name}` | {feature} | {cell} | {text} |\n")
            f.write("\n| profile or feature | passed | failed | not run |\n|---|---|---|---|\n")
            for kind, key, c in summary:
                label = f"**{key}**" if kind == "profile" else key
                f.write(f"| {label} | {c['PASS']} | {c['FAIL']} | {c['NOT RUN']} |\n")
    return 1 if regress else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_children()
