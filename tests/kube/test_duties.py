#!/usr/bin/python3
"""The controller duties end to end: `krtgate controller` (with the status writer, the deployer
and TokenReview wired in) against the test API server (tests/kube/apiserver/):

  - kubectl applies the Gateway API CRDs, deploy/ and the quickstart;
  - the GatewayClass, the Gateway and the HTTPRoute get their status (conditions with
    lastTransitionTime, the route's parent with our controllerName), and another controller's
    parent entry on the route is kept;
  - the proxy's Deployment, Service (LoadBalancer) and ServiceAccount appear, owned by the Gateway;
  - nothing is written again once status is in place (the Gateway's resourceVersion stays);
  - with GEN_PYTHON_DIR (python3-grpcio): a proxy with a token of the Gateway's ServiceAccount and
    the xDS audience gets its resources; another ServiceAccount's token is PERMISSION_DENIED; a
    token of another audience, a bad token and no token are UNAUTHENTICATED;
  - /metrics carries the duties' families.

Usage: test_duties.py KRTGATE SRC_DIR [GEN_PYTHON_DIR]. Exit 77 (skipped) when the test API
server, kubectl or a controller with the duties wired in (--xds-audience) is absent.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

SKIP = 77
KRTGATE, SRC = sys.argv[1], sys.argv[2]
GEN = sys.argv[3] if len(sys.argv) > 3 else None
APIDIR = os.path.join(SRC, "tests", "kube", "apiserver")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(SKIP)


if not os.path.exists(os.path.join(APIDIR, "harness.py")):
    skip("no test API server in %s" % APIDIR)
if not shutil.which("kubectl"):
    skip("kubectl is not installed")
if not os.access(KRTGATE, os.X_OK):
    skip("no krtgate binary at %s" % KRTGATE)
probe = subprocess.run([KRTGATE, "controller", "--xds-audience", "x", "--help"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
if probe.returncode != 0:
    skip("krtgate controller has no --xds-audience: the duties are not wired in")

sys.path.insert(0, APIDIR)
from harness import ApiServer  # noqa: E402


def wait_for(what, fn, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    fail("timed out waiting for " + what)


def xds_connect(port, token, role="default~quickstart"):
    import grpc
    from envoy.config.core.v3 import base_pb2
    from envoy.service.discovery.v3 import discovery_pb2 as ds
    res = "type.googleapis.com/agentgateway.dev.resource.Resource"
    delta = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    call = ch.stream_stream(delta, request_serializer=ds.DeltaDiscoveryRequest.SerializeToString,
                            response_deserializer=ds.DeltaDiscoveryResponse.FromString)
    node = base_pb2.Node(id="test-proxy")
    node.metadata.fields["role"].string_value = role
    md = [("authorization", "Bearer " + token)] if token else []
    try:
        for r in call(iter([ds.DeltaDiscoveryRequest(type_url=res, node=node)]), metadata=md,
                      timeout=10):
            return ("OK", len(r.resources))
        return ("EOF", "")
    except grpc.RpcError as e:
        return (e.code().name, e.details())
    finally:
        ch.close()


def main():
    with ApiServer() as srv:
        srv.kubectl("apply", "-f", os.path.join(APIDIR, "crds", "gateway-api.yaml"), timeout=60)
        srv.kubectl("apply", "-k", os.path.join(SRC, "deploy"), timeout=60)
        srv.kubectl("apply", "-f", os.path.join(SRC, "examples", "quickstart"), timeout=60)
        srv.kubectl("create", "serviceaccount", "other")
        logpath = os.path.join(srv.workdir, "controller.log")
        log = open(logpath, "w")
        ctl = subprocess.Popen([KRTGATE, "controller", "--kubeconfig", srv.kubeconfig,
                                "--xds-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                                "--leader-elect", "--lease-namespace", "default",
                                "--xds-audience", "agentgateway"],
                               stdout=log, stderr=subprocess.STDOUT, env=srv.env())
        try:
            run(srv, logpath)
        except SystemExit:
            print(open(logpath).read()[-3000:], file=sys.stderr)
            raise
        finally:
            if ctl.poll() is None:
                ctl.send_signal(signal.SIGTERM)
                try:
                    ctl.wait(15)
                except subprocess.TimeoutExpired:
                    ctl.kill()
                    ctl.wait()
            log.close()
        if ctl.returncode != 0:
            fail("controller exited %s" % ctl.returncode)
    print("ok: status, deployer objects, no rewrite, TokenReview")
    return 0


def get(srv, *args):
    p = srv.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def run(srv, logpath):
    m = wait_for("the controller's ports", lambda: re.search(
        r"serving xDS on 127\.0\.0\.1:(\d+), admin on http://127\.0\.0\.1:(\d+)",
        open(logpath).read()))
    xds_port, admin_port = int(m.group(1)), int(m.group(2))

    # another controller's parent on the route, before ours is written
    other = {"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                           "name": "elsewhere"},
             "controllerName": "example.com/other",
             "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                             "message": "theirs", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    srv.kubectl("patch", "httproute", "echo", "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"parents": [other]}}))

    def gateway_programmed():
        g = get(srv, "gateway", "quickstart")
        conds = {c["type"]: c for c in (g or {}).get("status", {}).get("conditions", [])}
        return g if conds.get("Programmed", {}).get("status") == "True" else None
    g = wait_for("the Gateway's status", gateway_programmed)
    for c in g["status"]["conditions"]:
        if not c.get("lastTransitionTime"):
            fail("condition without lastTransitionTime: %s" % c)
    gc = wait_for("the GatewayClass's status", lambda: (get(srv, "gatewayclass", "agentgateway")
                                                        or {}).get("status", {}).get("conditions"))
    if not any(c["type"] == "Accepted" and c["status"] == "True" for c in gc):
        fail("GatewayClass not Accepted: %s" % gc)

    def route_parents():
        r = get(srv, "httproute", "echo")
        ps = (r or {}).get("status", {}).get("parents", [])
        return ps if any(p.get("controllerName") == "agentgateway.dev/agentgateway"
                         for p in ps) else None
    parents = wait_for("the HTTPRoute's status", route_parents)
    if not any(p.get("controllerName") == "example.com/other" for p in parents):
        fail("the other controller's parent entry was dropped: %s" % parents)

    # the proxy's objects, owned by the Gateway
    uid = g["metadata"]["uid"]
    for kind in ("deployment", "service", "serviceaccount"):
        o = wait_for("%s/quickstart" % kind, lambda k=kind: get(srv, k, "quickstart"))
        owners = o["metadata"].get("ownerReferences", [])
        if not any(r.get("uid") == uid and r.get("kind") == "Gateway" for r in owners):
            fail("%s/quickstart is not owned by the Gateway: %s" % (kind, owners))
        if o["metadata"]["labels"].get("gateway.networking.k8s.io/gateway-name") != "quickstart":
            fail("%s/quickstart labels: %s" % (kind, o["metadata"]["labels"]))
    svc = get(srv, "service", "quickstart")
    if svc["spec"]["type"] != "LoadBalancer":
        fail("Service type %s" % svc["spec"]["type"])
    dep = get(srv, "deployment", "quickstart")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    if args[:1] != ["proxy"] or "default/quickstart" not in args:
        fail("proxy args %s" % args)

    # nothing is written again once in place
    time.sleep(1.0)
    rv = get(srv, "gateway", "quickstart")["metadata"]["resourceVersion"]
    rrv = get(srv, "httproute", "echo")["metadata"]["resourceVersion"]
    time.sleep(2.0)
    if get(srv, "gateway", "quickstart")["metadata"]["resourceVersion"] != rv or \
            get(srv, "httproute", "echo")["metadata"]["resourceVersion"] != rrv:
        fail("status is rewritten although nothing changed")

    # TokenReview
    if GEN and os.path.isdir(GEN):
        sys.path.insert(0, GEN)
        try:
            import grpc  # noqa: F401
            have_grpc = True
        except ImportError:
            have_grpc = False
        if have_grpc:
            def token(sa, aud):
                return srv.kubectl("create", "token", sa, "--audience", aud).stdout.strip()
            cases = [
                ("the Gateway's ServiceAccount", token("quickstart", "agentgateway"), "OK"),
                ("the same token again (cached)", token("quickstart", "agentgateway"), "OK"),
                ("another ServiceAccount", token("other", "agentgateway"), "PERMISSION_DENIED"),
                ("another audience", token("quickstart", "elsewhere"), "UNAUTHENTICATED"),
                ("a bad token", "not-a-token", "UNAUTHENTICATED"),
                ("no token", None, "UNAUTHENTICATED"),
            ]
            for what, tok, want in cases:
                code, detail = xds_connect(xds_port, tok)
                if code != want:
                    fail("xDS with %s: %s %s, expected %s" % (what, code, detail, want))
            if "requested gateway default/quickstart but authenticated as default/other" not in \
                    xds_connect(xds_port, token("other", "agentgateway"))[1]:
                fail("PERMISSION_DENIED reason")
    metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port,
                                     timeout=10).read().decode()
    for fam in ("krtgate_status_patches_total", "krtgate_deployer_creates_total",
                "krtgate_xds_auth_requests_total"):
        if "\n# TYPE %s " % fam not in metrics:
            fail("/metrics has no %s" % fam)


if __name__ == "__main__":
    sys.exit(main())
