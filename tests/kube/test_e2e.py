#!/usr/bin/python3
"""krtgate in a (test) cluster, end to end, and under faults (issue 6):

  - the test API server (tests/kube/apiserver/, with --state-dir) gets the Gateway API CRDs,
    deploy/ and the quickstart; the test "plays kubelet": it starts two echo backends on loopback
    and patches the echo Pods' status (podIP, Ready) to point at them;
  - two `krtgate controller --leader-elect --xds-audience` replicas race for one Lease; the
    leader writes status (Gateway Accepted/Programmed, the HTTPRoute's parent with our
    controllerName) and deploys the Gateway's Deployment, Service and ServiceAccount;
  - a token of that ServiceAccount with the xDS audience (`kubectl create token`) lets a separate
    `krtgate proxy --xds --gateway default/quickstart --token-file` get its config, and a request
    through it reaches an echo backend;
  - faults, each followed by a route edit (new path prefix) after which the proxy must route by
    the new path and the HTTPRoute's status must be current (our parent Accepted and ResolvedRefs
    with observedGeneration = generation):
      a. the server drops every watch;  b. the server compacts its history (410 on resume);
      b'. an edit and a delete are missed behind a compaction (watches held off by injected
          503s): the relist after the 410 finds both (nothing stale: attachedRoutes drops);
      c. the server restarts (SIGTERM, same --state-dir and port): the controllers reconnect;
         a missing backend then turns ResolvedRefs False (BackendNotFound) and back, and a new
         route is served and gets its status (nothing lost);
      d. the proxy's token is revoked: a proxy restarted with it is refused (UNAUTHENTICATED in
         its log, /readyz 503); with a new token a restarted proxy serves again;
      e. only the leader writes status (the standby's status patch counter stays 0); the leader
         is killed (SIGKILL, Lease not released) and the route edited while no one leads: the
         standby serves the edit at once, takes the Lease when it expires (~17 s) and writes
         the edit's status.

Usage: test_e2e.py KRTGATE SRC_DIR. Exit 77 (skipped) when kubectl, the test API server or a
controller with --xds-audience is absent. KRT_E2E_KEEP=1 keeps the processes' logs. Every wait
is bounded; everything listens on 127.0.0.0/8.
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77
KRTGATE, SRC = sys.argv[1], sys.argv[2]
APIDIR = os.path.join(SRC, "tests", "kube", "apiserver")
AUD = "krtgate-e2e"
OURS = "agentgateway.dev/agentgateway"
# The proxy listens at the Gateway's port (8080) and the echo pods at the Service's target port
# (8081), so the addresses make a run unique: a random 127.X.Y.0/24 per run, apart from the
# quickstart's (127.0.10.x, 127.0.1.x) and from another run of this test (another build dir).
NET = "127.%d.%d." % (random.randint(100, 250), random.randint(1, 250))
ECHO = [(NET + "1", "echo-1"), (NET + "2", "echo-2")]
PROXY_HOST = NET + "10"


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(SKIP)


if not os.path.exists(os.path.join(APIDIR, "harness.py")):
    skip("no test API server in %s" % APIDIR)
if not shutil.which("kubectl"):
    skip("kubectl is not installed")
if not os.access(KRTGATE, os.X_OK):
    skip("no krtgate binary at %s" % KRTGATE)
if subprocess.run([KRTGATE, "controller", "--xds-audience", "x", "--xds-auth-cache-ttl", "0",
                   "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                  timeout=30).returncode:
    skip("krtgate controller has no --xds-audience --xds-auth-cache-ttl")

bad = subprocess.run([KRTGATE, "controller", "--xds-auth-cache-ttl", "-1"], capture_output=True,
                     text=True, timeout=30)
if bad.returncode != 2 or "--xds-auth-cache-ttl '-1'" not in bad.stderr:
    print("FAIL: a bad --xds-auth-cache-ttl: exit %d, %r" % (bad.returncode, bad.stderr))
    sys.exit(1)

sys.path.insert(0, APIDIR)
from harness import ApiServer  # noqa: E402

tmp = tempfile.mkdtemp(prefix="krtgate-e2e-")
procs = []  # every process started here (Popen with .name and .log)
# no http_proxy from the environment: every request here goes to loopback directly
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
T0 = time.monotonic()


def note(msg):
    print("[%5.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


class Failed(Exception):
    pass


def fail(msg):
    raise Failed(msg)


def wait_for(what, fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
        except (OSError, ValueError, urllib.error.URLError) as e:
            v, last = None, e
        if v:
            return v
        time.sleep(0.2)
    fail("timed out (%ss) waiting for %s%s" % (timeout, what, " (last error: %s)" % last
                                               if last else ""))


def start(name, argv, env=None):
    log = os.path.join(tmp, name + ".log")
    with open(log, "w") as f:
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=f,
                             stdin=subprocess.DEVNULL, env=env)
    p.name, p.log = name, log
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=15):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            fail("%s did not exit within %ss of %s" % (p.name, timeout, sig.name))
    return p.returncode


def read(path):
    with open(path) as f:
        return f.read()


def http_get(url, host=None, timeout=5):
    """(status, body) of a GET; HTTP errors are answers too."""
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def metric(admin, name):
    """The sum of a family's samples on an admin /metrics."""
    total = 0.0
    for ln in http_get(admin + "/metrics")[1].splitlines():
        if ln.startswith("#"):
            continue
        key, _, val = ln.rpartition(" ")
        if key == name or key.startswith(name + "{"):
            total += float(val)
    return total


# ---- the cluster -------------------------------------------------------------------------------
class Cluster:
    def __init__(self):
        self.state = os.path.join(tmp, "state")
        self.srv = ApiServer(["--bookmark-interval", "1"], state_dir=self.state,
                             workdir=os.path.join(tmp, "run")).start()

    def restart(self):
        port = self.srv.port
        kubeconfig = read(self.srv.kubeconfig)
        if self.srv.stop() != 0:
            fail("the API server did not exit 0 on SIGTERM: %s" % self.srv.log_tail())
        self.srv = ApiServer(["--bookmark-interval", "1"], port=port, state_dir=self.state,
                             workdir=os.path.join(tmp, "run")).start()
        if self.srv.port != port or read(self.srv.kubeconfig) != kubeconfig:
            fail("the restarted API server changed its port or kubeconfig")

    def kubectl(self, *args, **kw):
        return self.srv.kubectl(*args, **kw)

    def get(self, *args):
        p = self.kubectl("get", *args, "-o", "json", check=False)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def token(self, sa):
        return self.kubectl("create", "token", sa, "--audience", AUD).stdout.strip()


def controller(c, ident):
    """Starts a replica; controller_ports() waits for its ports (so two start at once)."""
    p = start("controller-" + ident,
              [KRTGATE, "controller", "--kubeconfig", c.srv.kubeconfig,
               "--xds-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
               "--leader-elect", "--lease-namespace", "default", "--lease-name", "e2e",
               "--id", ident, "--xds-audience", AUD,
               # no reuse of TokenReview answers, so a revoked token is refused at once
               "--xds-auth-cache-ttl", "0",
               "--xds-address", "127.0.0.1:9978"], env=c.srv.env())
    p.ident = ident
    return p


def controller_ports(p):
    ident = p.ident
    m = wait_for(ident + "'s ports", lambda: re.search(
        r"serving xDS on 127\.0\.0\.1:(\d+), admin on (http://127\.0\.0\.1:\d+)", read(p.log)))
    p.xds, p.admin = int(m.group(1)), m.group(2)
    return p


def proxy(name, xds_port, token):
    tf = os.path.join(tmp, name + ".token")
    with open(tf, "w") as f:
        f.write(token + "\n")
    p = start(name, [KRTGATE, "proxy", "--xds", "127.0.0.1:%d" % xds_port,
                     "--gateway", "default/quickstart", "--token-file", tf,
                     "--listen-host", PROXY_HOST, "--admin-listen", "127.0.0.1:0"])
    m = wait_for(name + "'s admin port",
                 lambda: re.search(r"admin on (http://127\.0\.0\.1:\d+)/", read(p.log)))
    p.admin = m.group(1)
    return p


def through_proxy(path):
    """(status, echo JSON or None) of GET path through the proxy, as example.local; status 0 when
    nothing listens (a proxy without config opens no listener)."""
    try:
        st, body = http_get("http://%s:8080%s" % (PROXY_HOST, path), host="example.local")
    except (OSError, urllib.error.URLError):
        return 0, None
    try:
        return st, json.loads(body) if st == 200 else None
    except ValueError:
        return st, None


def routes_by(prefix, old=None):
    """The proxy sends prefix to an echo pod (and no longer old)."""
    st, echo = through_proxy(prefix + "/hello")
    if st != 200 or not echo or echo.get("path") != prefix + "/hello" or \
            echo.get("pod") not in [n for _, n in ECHO]:
        return None
    if old and through_proxy(old + "/hello")[0] != 404:
        return None
    return echo


def route_status_current(c, resolved="True", reason=None):
    """The HTTPRoute's parent of ours, for the current generation: Accepted, and ResolvedRefs
    |resolved| (with |reason| if given)."""
    r = c.get("httproute", "echo")
    if not r:
        return None
    gen = r["metadata"].get("generation")
    for p in r.get("status", {}).get("parents", []):
        if p.get("controllerName") != OURS or p["parentRef"].get("name") != "quickstart":
            continue
        conds = {x["type"]: x for x in p.get("conditions", [])}
        want = {"Accepted": "True", "ResolvedRefs": resolved}
        if all(conds.get(t, {}).get("status") == v and
               conds[t].get("observedGeneration") == gen for t, v in want.items()) and \
                (reason is None or conds["ResolvedRefs"].get("reason") == reason):
            return r
    return None


def gateway_programmed(c):
    g = c.get("gateway", "quickstart")
    conds = {x["type"]: x for x in (g or {}).get("status", {}).get("conditions", [])}
    gen = (g or {}).get("metadata", {}).get("generation")
    if all(conds.get(t, {}).get("status") == "True" and
           conds[t].get("observedGeneration") == gen for t in ("Accepted", "Programmed")):
        return g
    return None


EDITS = iter(range(1, 100))


def extra_route(name, prefix):
    """A second HTTPRoute of the quickstart Gateway (kubectl apply input)."""
    return json.dumps({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                       "metadata": {"name": name, "namespace": "default"},
                       "spec": {"parentRefs": [{"name": "quickstart"}],
                                "hostnames": ["example.local"],
                                "rules": [{"matches": [{"path": {"type": "PathPrefix",
                                                                 "value": prefix}}],
                                           "backendRefs": [{"name": "echo", "port": 80}]}]}})


def attached_routes(c):
    """The quickstart Gateway's listener's status.attachedRoutes (None before it is written)."""
    g = c.get("gateway", "quickstart") or {}
    ls = g.get("status", {}).get("listeners", [])
    return ls[0].get("attachedRoutes") if ls else None


def route_parent_written(c, name):
    r = c.get("httproute", name) or {}
    return any(p.get("controllerName") == OURS for p in r.get("status", {}).get("parents", []))


def set_backend(c, name):
    c.kubectl("patch", "httproute", "echo", "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/rules/0/backendRefs/0/name", "value": name}]))


def edit_and_converge(c, what, current):
    """Changes the route's path prefix; waits for the proxy and the status. Returns the new one."""
    new = "/e%d" % next(EDITS)
    c.kubectl("patch", "httproute", "echo", "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/rules/0/matches/0/path/value", "value": new}]))
    wait_for("the proxy to route %s (not %s) after %s" % (new, current, what),
             lambda: routes_by(new, current))
    wait_for("the HTTPRoute's status for its new generation after " + what,
             lambda: route_status_current(c))
    note("%s: converged (proxy routes %s, status current)" % (what, new))
    return new


def run(c):
    k = c.kubectl
    k("apply", "-f", os.path.join(APIDIR, "crds", "gateway-api.yaml"), timeout=60)
    k("apply", "-k", os.path.join(SRC, "deploy"), timeout=60)
    k("apply", "-f", os.path.join(SRC, "examples", "quickstart"), timeout=60)
    # play kubelet: the echo backends run here, the Pods say so
    for ip, pod in ECHO:
        start(pod, ["/usr/bin/python3", os.path.join(SRC, "examples", "quickstart", "echo.py"),
                    ip, "8081", pod])
        k("patch", "pod", pod, "--subresource=status", "--type=merge", "-p", json.dumps(
            {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                        "conditions": [{"type": "Ready", "status": "True"}]}}))
    for ip, pod in ECHO:
        wait_for("echo %s" % pod, lambda ip=ip: http_get("http://%s:8081/x" % ip)[0] == 200)
    note("cluster ready")

    # two replicas race for the Lease
    ctls = [controller_ports(p) for p in (controller(c, "c1"), controller(c, "c2"))]
    for p in ctls:
        wait_for("/readyz of " + p.ident, lambda p=p: http_get(p.admin + "/readyz")[0] == 200)
    wait_for("exactly one leader", lambda: sum(metric(p.admin, "krtgate_leader")
                                               for p in ctls) == 1)
    leader = next(p for p in ctls if metric(p.admin, "krtgate_leader") == 1)
    standby = next(p for p in ctls if p is not leader)
    lease = c.get("lease", "e2e")
    if lease["spec"].get("holderIdentity") != leader.ident:
        fail("the Lease is held by %s, /metrics says %s leads" % (lease["spec"], leader.ident))
    note("%s leads, %s stands by" % (leader.ident, standby.ident))

    # status and deployer objects
    g = wait_for("the Gateway Accepted and Programmed", lambda: gateway_programmed(c))
    wait_for("the HTTPRoute's parent status", lambda: route_status_current(c))
    # as a user sees it (issue 6: "visible with kubectl get gateway -o yaml")
    gy = c.kubectl("get", "gateway", "quickstart", "-o", "yaml").stdout
    ry = c.kubectl("get", "httproute", "echo", "-o", "yaml").stdout
    if not re.search(r"status: \"True\"\n\s+type: Programmed", gy) or \
            "controllerName: " + OURS not in ry:
        fail("kubectl get -o yaml does not show the status:\n%s\n%s" % (gy, ry))
    uid = g["metadata"]["uid"]
    for kind in ("deployment", "service", "serviceaccount"):
        o = wait_for("%s/quickstart" % kind, lambda kind=kind: c.get(kind, "quickstart"))
        if not any(r.get("uid") == uid and r.get("kind") == "Gateway"
                   for r in o["metadata"].get("ownerReferences", [])):
            fail("%s/quickstart is not owned by the Gateway: %s" % (kind, o["metadata"]))
    note("status written, deployer objects owned by the Gateway")

    # a separate proxy with the Gateway's ServiceAccount token; it talks to the standby, so that
    # stopping the leader at the end leaves it its control plane
    tok = c.token("quickstart")
    px = proxy("proxy-1", standby.xds, tok)
    wait_for("the proxy's /readyz", lambda: http_get(px.admin + "/readyz")[0] == 200)
    echo = wait_for("a request through the proxy to an echo pod", lambda: routes_by("/echo"))
    if echo.get("host") != "example.local":
        fail("echo saw %s" % echo)
    note("proxy serves: %s answered %s" % (echo["pod"], echo["path"]))
    cur = edit_and_converge(c, "a first edit", "/echo")
    c.kubectl("apply", "-f", "-", input=extra_route("extra", "/extra"))
    wait_for("route extra through the proxy", lambda: through_proxy("/extra/x")[0] == 200)
    wait_for("attachedRoutes 2", lambda: attached_routes(c) == 2)

    # a. every watch dropped
    restarts = [metric(p.admin, "krtgate_informer_watch_restarts_total") for p in ctls]
    c.srv.control("drop-watches")
    cur = edit_and_converge(c, "dropped watches", cur)
    wait_for("watch restarts counted after the drop",
             lambda: all(metric(p.admin, "krtgate_informer_watch_restarts_total") > r0
                         for p, r0 in zip(ctls, restarts)))

    # b. history compacted: resuming watches get 410 and relist
    relists = [metric(p.admin, "krtgate_informer_relists_total") for p in ctls]
    c.srv.control("compact")
    c.srv.control("drop-watches")
    cur = edit_and_converge(c, "a compaction", cur)
    wait_for("relists after the compaction",
             lambda: all(metric(p.admin, "krtgate_informer_relists_total") > r0
                         for p, r0 in zip(ctls, relists)))

    # b'. an edit missed behind a compaction: while the HTTPRoute watches cannot resume (injected
    # 503s), the route changes and the history is compacted; the resumes then get 410 and the
    # relist must find the change
    hr = "/apis/gateway.networking.k8s.io/v1/httproutes"
    gone = c.srv.control("stats", method="GET")["gone"]
    c.srv.control("fail", {"method": "GET", "path": hr, "code": 503, "count": 40})
    c.srv.control("drop-watches")
    new = "/e%d" % next(EDITS)
    c.kubectl("patch", "httproute", "echo", "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/rules/0/matches/0/path/value", "value": new}]))
    c.kubectl("delete", "httproute", "extra")  # nothing stale: a delete the watch never saw
    c.srv.control("compact?watches=keep")
    for _ in range(60):  # the failures the controllers did not meet yet
        if c.srv.request("GET", hr)[0] == 200:
            break
    wait_for("the proxy to route %s after a missed edit" % new, lambda: routes_by(new, cur))
    wait_for("the HTTPRoute's status after a missed edit", lambda: route_status_current(c))
    wait_for("route extra gone from the proxy", lambda: through_proxy("/extra/x")[0] == 404)
    wait_for("attachedRoutes 1 after the missed delete", lambda: attached_routes(c) == 1)
    if c.srv.control("stats", method="GET")["gone"] == gone:
        fail("no watch or list got 410 after the compaction")
    cur = new
    note("an edit missed behind a compaction: converged (proxy routes %s, status current)" % cur)

    # c. the API server restarts on the same port with the same state; a status that changes
    # value (not just its observedGeneration) converges too: a backend that does not exist
    c.restart()
    set_backend(c, "missing")
    wait_for("ResolvedRefs False (BackendNotFound) after an API server restart",
             lambda: route_status_current(c, "False", "BackendNotFound"))
    wait_for("the proxy to stop reaching the echo pods",
             lambda: through_proxy(cur + "/hello")[0] >= 500)
    set_backend(c, "echo")
    wait_for("ResolvedRefs True again", lambda: route_status_current(c))
    wait_for("the proxy to route again", lambda: routes_by(cur))
    cur = edit_and_converge(c, "an API server restart", cur)
    # nothing lost: a route created after the restart is served and gets its status
    c.kubectl("apply", "-f", "-", input=extra_route("late", "/late"))
    wait_for("route late through the proxy", lambda: through_proxy("/late/x")[0] == 200)
    wait_for("route late's status", lambda: route_parent_written(c, "late"))
    wait_for("attachedRoutes 2 after the restart", lambda: attached_routes(c) == 2)
    if any(p.poll() is not None for p in ctls):
        fail("a controller exited across the API server restart")
    if sum(metric(p.admin, "krtgate_leader") for p in ctls) != 1:
        fail("not exactly one leader after the API server restart")

    # d. the proxy's token is revoked: a proxy restarted with it is refused
    c.srv.control("revoke-token", {"token": tok})
    if stop(px) != 0:
        fail("the proxy exited %s on SIGTERM" % px.returncode)
    px = proxy("proxy-2", standby.xds, tok)
    wait_for("the refusal in the restarted proxy's log", lambda: re.search(
        r"refused us: (UNAUTHENTICATED|PERMISSION_DENIED)", read(px.log)))
    if "applied" in read(px.log):
        fail("a proxy with a revoked token got config")
    if http_get(px.admin + "/readyz")[0] != 503:
        fail("a proxy with a revoked token is ready")
    if through_proxy(cur + "/hello")[0] == 200:
        fail("a proxy with a revoked token routes")
    if stop(px) != 0:
        fail("the refused proxy exited %s on SIGTERM" % px.returncode)
    px = proxy("proxy-3", standby.xds, c.token("quickstart"))
    wait_for("the proxy with a new token to serve", lambda: routes_by(cur))
    note("revoked token refused, a new token serves")

    # e. only the leader writes status; after it stops, the standby takes over and writes
    if "\n# TYPE krtgate_status_patches_total " not in http_get(standby.admin + "/metrics")[1]:
        fail("the standby's /metrics has no status writer counters")
    if metric(standby.admin, "krtgate_status_patches_total") != 0:
        fail("the standby %s wrote status" % standby.ident)
    if metric(leader.admin, "krtgate_status_patches_total") == 0:
        fail("the leader %s wrote no status" % leader.ident)
    # the leader crashes (SIGKILL: the Lease is not released) and the route changes while no
    # one leads: the standby serves the change at once, and takes the Lease when it expires
    # (15 s lease duration + 2 s retry period) and writes the status the edit needs
    stop(leader, signal.SIGKILL)
    new = "/e%d" % next(EDITS)
    c.kubectl("patch", "httproute", "echo", "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/rules/0/matches/0/path/value", "value": new}]))
    wait_for("the proxy to route %s with no leader" % new, lambda: routes_by(new, cur))
    cur = new
    wait_for("the standby to take the expired Lease",
             lambda: metric(standby.admin, "krtgate_leader") == 1, timeout=30)
    if c.get("lease", "e2e")["spec"].get("holderIdentity") != standby.ident:
        fail("the Lease did not go to %s" % standby.ident)
    wait_for("the new leader to write the status of the edit made while no one led",
             lambda: route_status_current(c))
    if metric(standby.admin, "krtgate_status_patches_total") == 0:
        fail("the new leader wrote no status")
    note("a leader crash: %s took over and wrote the status" % standby.ident)
    cur = edit_and_converge(c, "a leader change", cur)

    if stop(px) != 0:
        fail("the proxy exited %s on SIGTERM" % px.returncode)
    if stop(standby) != 0:
        fail("%s exited %s on SIGTERM" % (standby.ident, standby.returncode))


def main():
    c = None
    try:
        c = Cluster()
        run(c)
        note("ok: end to end through a separate proxy; watch drop, compaction, API server "
             "restart, token revocation and leader change converge")
        return 0
    except (Failed, AssertionError, RuntimeError, OSError, ValueError, KeyError, TypeError,
            subprocess.TimeoutExpired, urllib.error.URLError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        for p in procs:
            if os.path.exists(p.log):
                print("--- %s (last lines):" % p.name, file=sys.stderr)
                print("".join(read(p.log).splitlines(True)[-25:]), file=sys.stderr)
        if c:
            print("--- apiserver:\n" + c.srv.log_tail(2000), file=sys.stderr)
        return 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if c:
            c.srv.stop()
        if os.environ.get("KRT_E2E_KEEP"):  # the logs, for a look after the fact
            print("logs kept in " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
