#!/usr/bin/python3
"""deploy/: the kustomization krtgate is installed with.

  deploy_test.py manifests   `kubectl kustomize deploy/` renders; every document parses and has
                             the expected kind; the CRDs are what deploy/crds/generate.py writes,
                             have a status subresource and a structural schema; RBAC grants exactly
                             the verbs the controller uses; the controller runs non-root, read-only,
                             with /healthz and /readyz probes; the built-in objects of deploy/ and
                             the deployer's golden objects (tests/kube/golden/deployer/) have only
                             real fields (a round trip through python3-kubernetes' models keeps
                             every field).
  deploy_test.py apiserver   `kubectl apply -k deploy/` against the test API server
                             (tests/kube/apiserver/) is accepted; valid agentgateway objects are
                             created and invalid ones are refused with 422 (schema validation:
                             required fields, enums, bounds, one-of). Exit 77 (skipped) when the
                             test API server is not in the tree.

Usage: deploy_test.py manifests|apiserver SOURCE_DIR
"""
import json
import os
import subprocess
import sys

import yaml

SKIP = 77


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def kustomize(path):
    p = subprocess.run(["kubectl", "kustomize", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        fail("kubectl kustomize %s: %s" % (path, p.stderr))
    return [d for d in yaml.safe_load_all(p.stdout) if d is not None]


EXPECTED_KINDS = sorted([
    "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition",
    "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
    "Deployment", "Service",
])

# What the controller does, by API group and resource (see docs/operations.md, "RBAC").
WATCHED = {
    "": ["namespaces", "pods", "secrets", "configmaps", "services"],
    "discovery.k8s.io": ["endpointslices"],
    "gateway.networking.k8s.io": ["gatewayclasses", "gateways", "listenersets", "httproutes",
                                  "grpcroutes", "tcproutes", "tlsroutes", "udproutes",
                                  "referencegrants", "backendtlspolicies"],
    "gateway.networking.x-k8s.io": ["xlistenersets", "xbackendtrafficpolicies"],
    "agentgateway.dev": ["agentgatewaybackends", "agentgatewaypolicies", "agentgatewayparameters"],
}
STATUS = {
    "gateway.networking.k8s.io": ["gatewayclasses", "gateways", "listenersets", "httproutes",
                                  "grpcroutes", "tcproutes", "tlsroutes"],
    "agentgateway.dev": ["agentgatewaybackends", "agentgatewaypolicies"],
}


def expected_cluster_verbs():
    want = {}
    for g, rs in WATCHED.items():
        for r in rs:
            want.setdefault((g, r), set()).update({"list", "watch"})
    for g, rs in STATUS.items():
        for r in rs:
            want.setdefault((g, r + "/status"), set()).update({"get", "patch"})
    for g, r in (("", "services"), ("", "serviceaccounts"), ("apps", "deployments")):
        want.setdefault((g, r), set()).update({"get", "create", "patch", "delete"})
    want[("authentication.k8s.io", "tokenreviews")] = {"create"}
    return want


def granted(rules):
    got = {}
    for rule in rules:
        for g in rule.get("apiGroups", []):
            for r in rule.get("resources", []):
                got.setdefault((g, r), set()).update(rule.get("verbs", []))
    return got


def check_structural(schema, path):
    """The rules of a structural schema that matter here: every node has a type (or is
    int-or-string), and oneOf/anyOf/allOf branches carry no types or properties."""
    if not isinstance(schema, dict):
        fail("%s: schema is not a map" % path)
    if "type" not in schema and not schema.get("x-kubernetes-int-or-string") \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        fail("%s: no type" % path)
    for key in ("oneOf", "anyOf", "allOf"):
        for i, branch in enumerate(schema.get(key, [])):
            if schema.get("x-kubernetes-int-or-string") and key == "anyOf":
                continue
            bad = set(branch) - {"required", "minProperties", "maxProperties", "not"}
            if bad:
                fail("%s.%s[%d]: a branch may only constrain, it has %s" % (path, key, i, sorted(bad)))
    for name, sub in schema.get("properties", {}).items():
        check_structural(sub, path + "." + name)
    if isinstance(schema.get("items"), dict):
        check_structural(schema["items"], path + "[]")
    if isinstance(schema.get("additionalProperties"), dict):
        check_structural(schema["additionalProperties"], path + "{}")


def manifests(src):
    deploy = os.path.join(src, "deploy")
    docs = kustomize(deploy)
    for i, d in enumerate(docs):
        for f in ("apiVersion", "kind"):
            if not isinstance(d.get(f), str):
                fail("document %d has no %s" % (i, f))
        if not d.get("metadata", {}).get("name"):
            fail("document %d (%s) has no metadata.name" % (i, d["kind"]))
    kinds = sorted(d["kind"] for d in docs)
    if kinds != EXPECTED_KINDS:
        fail("kinds %s, expected %s" % (kinds, EXPECTED_KINDS))
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}

    # CRDs
    gen = subprocess.run(["/usr/bin/python3", os.path.join(deploy, "crds", "generate.py"),
                          "--check"], stderr=subprocess.PIPE, text=True, timeout=120)
    if gen.returncode != 0:
        fail("deploy/crds is stale: " + gen.stderr)
    for plural, kind in (("agentgatewaybackends", "AgentgatewayBackend"),
                         ("agentgatewaypolicies", "AgentgatewayPolicy"),
                         ("agentgatewayparameters", "AgentgatewayParameters")):
        crd = by.get(("CustomResourceDefinition", plural + ".agentgateway.dev"))
        if not crd:
            fail("no CRD " + plural)
        spec = crd["spec"]
        if spec["group"] != "agentgateway.dev" or spec["names"]["kind"] != kind \
                or spec["scope"] != "Namespaced":
            fail("CRD %s: group/kind/scope" % plural)
        v = spec["versions"]
        if [x["name"] for x in v] != ["v1alpha1"] or not v[0]["served"] or not v[0]["storage"]:
            fail("CRD %s: versions" % plural)
        if v[0].get("subresources", {}).get("status") != {}:
            fail("CRD %s: no status subresource" % plural)
        schema = v[0]["schema"]["openAPIV3Schema"]
        check_structural(schema, plural)
        if "spec" not in schema.get("required", []):
            fail("CRD %s: spec not required" % plural)
    pol = by[("CustomResourceDefinition", "agentgatewaypolicies.agentgateway.dev")]
    pspec = pol["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [r["rule"] for r in pspec.get("x-kubernetes-validations", [])]
    if not any("has(self.traffic) || has(self.frontend) || has(self.backend)" in r for r in rules):
        fail("AgentgatewayPolicy: the at-least-one-section rule is missing")
    if [b["required"] for b in pspec.get("oneOf", [])] != [["targetRefs"], ["targetSelectors"]]:
        fail("AgentgatewayPolicy: targetRefs/targetSelectors one-of is missing")

    # RBAC
    cr = by[("ClusterRole", "krtgate-controller")]
    got, want = granted(cr["rules"]), expected_cluster_verbs()
    if got != want:
        extra = {k: sorted(v - want.get(k, set())) for k, v in got.items() if v - want.get(k, set())}
        missing = {k: sorted(v - got.get(k, set())) for k, v in want.items() if v - got.get(k, set())}
        fail("ClusterRole verbs differ: extra %s missing %s" % (extra, missing))
    role = by[("Role", "krtgate-leader-election")]
    if granted(role["rules"]) != {("coordination.k8s.io", "leases"): {"get", "create", "update"}}:
        fail("leader-election Role: %s" % role["rules"])
    crb = by[("ClusterRoleBinding", "krtgate-controller")]
    if crb["subjects"] != [{"kind": "ServiceAccount", "name": "krtgate",
                            "namespace": "krtgate-system"}]:
        fail("ClusterRoleBinding subjects")

    # controller
    dep = by[("Deployment", "krtgate")]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    if c["args"][0] != "controller" or "--leader-elect" not in c["args"]:
        fail("controller args: %s" % c["args"])
    if any(a.startswith("--") and "=" in a for a in c["args"]):
        fail("krtgate takes a flag's value as the next argument, not --flag=value: %s" % c["args"])
    if c["livenessProbe"]["httpGet"]["path"] != "/healthz" or \
            c["readinessProbe"]["httpGet"]["path"] != "/readyz":
        fail("probes")
    sc = c["securityContext"]
    if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False \
            or not pod["securityContext"].get("runAsNonRoot"):
        fail("securityContext")
    if "requests" not in c.get("resources", {}):
        fail("resources")
    svc = by[("Service", "krtgate")]
    if sorted(p["port"] for p in svc["spec"]["ports"]) != [9978, 15000]:
        fail("Service ports")
    gc = kustomize(os.path.join(deploy, "gatewayclass"))
    if [d["kind"] for d in gc] != ["GatewayClass"] or \
            gc[0]["spec"]["controllerName"] != "agentgateway.dev/agentgateway":
        fail("deploy/gatewayclass")
    # field names: python3-kubernetes' models drop what the API does not define
    builtin = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
    golden = os.path.join(src, "tests", "kube", "golden", "deployer")
    for name in sorted(os.listdir(golden)):
        if name.endswith(".out.json"):
            with open(os.path.join(golden, name)) as f:
                builtin += json.load(f)
    for d in builtin:
        round_trip(d)
    print("deploy/: %d documents, kinds and RBAC as expected; %d objects round-trip"
          % (len(docs), len(builtin)))
    return 0


MODELS = {"Namespace": "V1Namespace", "ServiceAccount": "V1ServiceAccount",
          "ClusterRole": "V1ClusterRole", "ClusterRoleBinding": "V1ClusterRoleBinding",
          "Role": "V1Role", "RoleBinding": "V1RoleBinding", "Deployment": "V1Deployment",
          "Service": "V1Service"}


def round_trip(doc):
    from kubernetes import client

    class Resp:
        data = json.dumps(doc)

    api = client.ApiClient()
    back = api.sanitize_for_serialization(api.deserialize(Resp(), MODELS[doc["kind"]]))
    if back != doc:
        lost = []

        def walk(a, b, path):
            if isinstance(a, dict) and isinstance(b, dict):
                for k in set(a) | set(b):
                    walk(a.get(k), b.get(k), path + "." + k)
            elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
                for i, (x, y) in enumerate(zip(a, b)):
                    walk(x, y, "%s[%d]" % (path, i))
            elif a != b:
                lost.append("%s: %r -> %r" % (path, a, b))
        walk(doc, back, "")
        fail("%s %s: fields the API does not define: %s" % (doc["kind"], doc["metadata"]["name"],
                                                           "; ".join(sorted(lost))))


# ---- against the test API server -------------------------------------------------------------
POLICY_OK = {
    "apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayPolicy",
    "metadata": {"name": "ok", "namespace": "default"},
    "spec": {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}],
        "traffic": {
            "timeouts": {"request": "5s"},
            "rateLimit": {"local": [{"requests": 10, "unit": "Seconds", "burst": 5}]},
            "headerModifiers": {"request": {"set": [{"name": "x-a", "value": "b"}]}},
            "jwtAuthentication": {"providers": [{"issuer": "https://issuer.example",
                                                 "jwks": {"inline": "{\"keys\":[]}"}}]},
        },
    },
}


def variant(base, path, value):
    doc = json.loads(json.dumps(base))
    node = doc
    for k in path[:-1]:
        node = node[k]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


INVALID = [
    ("no targetRefs nor targetSelectors", variant(POLICY_OK, ["spec", "targetRefs"], None)),
    ("both targetRefs and targetSelectors",
     variant(POLICY_OK, ["spec", "targetSelectors"],
             [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "matchLabels": {"a": "b"}}])),
    ("no section", variant(POLICY_OK, ["spec", "traffic"], None)),
    ("phase not in the enum", variant(POLICY_OK, ["spec", "traffic", "phase"], "Sometimes")),
    ("local rate limit with requests and tokens",
     variant(POLICY_OK, ["spec", "traffic", "rateLimit"],
             {"local": [{"requests": 1, "tokens": 2, "unit": "Seconds"}]})),
    ("local rate limit without unit",
     variant(POLICY_OK, ["spec", "traffic", "rateLimit"], {"local": [{"requests": 1}]})),
    ("hostRewrite mode not in the enum",
     variant(POLICY_OK, ["spec", "traffic", "hostRewrite"], {"mode": "Sometimes"})),
    ("more than 16 targetRefs",
     variant(POLICY_OK, ["spec", "targetRefs"],
             [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g%d" % i}
              for i in range(17)])),
    ("a JWKS both inline and remote",
     variant(POLICY_OK, ["spec", "traffic", "jwtAuthentication", "providers"],
             [{"issuer": "i", "jwks": {"inline": "{}", "remote": {
                 "jwksPath": "/k", "backendRef": {"name": "s", "port": 80}}}}])),
    ("a duration that is not one", variant(POLICY_OK, ["spec", "traffic", "timeouts"],
                                           {"request": "five seconds"})),
]

BACKEND_OK = {
    "apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayBackend",
    "metadata": {"name": "ok", "namespace": "default"},
    "spec": {"ai": {"provider": {"openai": {"model": "gpt-4o-mini"}}}},
}
INVALID_BACKENDS = [
    ("two backend types", variant(BACKEND_OK, ["spec", "static"], {"host": "h", "port": 80})),
    ("no backend type", variant(BACKEND_OK, ["spec", "ai"], None)),
    ("two providers", variant(BACKEND_OK, ["spec", "ai", "provider", "anthropic"], {})),
    ("mcp target without port", {
        "apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayBackend",
        "metadata": {"name": "m", "namespace": "default"},
        "spec": {"mcp": {"targets": [{"name": "t", "static": {"host": "h"}}]}}}),
]
PARAMS_OK = {
    "apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayParameters",
    "metadata": {"name": "ok", "namespace": "default"},
    "spec": {"image": {"tag": "1.0"}, "deployment": {"spec": {"replicas": 2}},
             "shutdown": {"min": 1, "max": 10}},
}
INVALID_PARAMS = [
    ("pullPolicy not in the enum", variant(PARAMS_OK, ["spec", "image", "pullPolicy"], "Sometimes")),
    ("shutdown without max", variant(PARAMS_OK, ["spec", "shutdown"], {"min": 1})),
]

PLURAL = {"AgentgatewayPolicy": "agentgatewaypolicies", "AgentgatewayBackend": "agentgatewaybackends",
          "AgentgatewayParameters": "agentgatewayparameters"}


def apiserver(src):
    apidir = os.environ.get("KRT_APISERVER_DIR") or os.path.join(src, "tests", "kube", "apiserver")
    if not os.path.exists(os.path.join(apidir, "harness.py")):
        print("skipped: no test API server at %s" % apidir)
        return SKIP
    sys.path.insert(0, apidir)
    from harness import ApiServer  # noqa: E402

    with ApiServer() as srv:
        p = srv.kubectl("apply", "-k", os.path.join(src, "deploy"), check=False, timeout=60)
        if p.returncode != 0:
            fail("kubectl apply -k deploy/: %s%s\n%s" % (p.stdout, p.stderr, srv.log_tail()))
        for plural in PLURAL.values():
            srv.kubectl("wait", "--for=condition=Established", "--timeout=20s",
                        "crd/%s.agentgateway.dev" % plural, timeout=30)
        for good in (POLICY_OK, BACKEND_OK, PARAMS_OK):
            p = srv.kubectl("apply", "-f", "-", input=json.dumps(good), check=False)
            if p.returncode != 0:
                fail("valid %s refused: %s" % (good["kind"], p.stderr))
        refused = 0
        for what, doc in INVALID + INVALID_BACKENDS + INVALID_PARAMS:
            doc = variant(doc, ["metadata", "name"], "bad-%d" % refused)
            path = "/apis/agentgateway.dev/v1alpha1/namespaces/default/%s" % PLURAL[doc["kind"]]
            status, _, body = srv.request("POST", path, body=doc)
            if status != 422:
                fail("%s %s: HTTP %d, expected 422: %s" % (doc["kind"], what, status,
                                                          body[:300].decode(errors="replace")))
            refused += 1
        # and kubectl reports it as an invalid object
        bad = variant(INVALID[0][1], ["metadata", "name"], "bad-kubectl")
        p = srv.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
        if p.returncode == 0 or "invalid" not in p.stderr.lower():
            fail("kubectl apply of an invalid policy: rc %d, %s" % (p.returncode, p.stderr))
        # the controller's objects are there
        srv.kubectl("-n", "krtgate-system", "get", "deployment/krtgate", "service/krtgate",
                    "serviceaccount/krtgate", "role/krtgate-leader-election")
        srv.kubectl("get", "clusterrole/krtgate-controller", "clusterrolebinding/krtgate-controller")
    print("deploy/ applied; %d invalid objects refused with 422" % refused)
    return 0


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("manifests", "apiserver"):
        print(__doc__, file=sys.stderr)
        return 2
    src = sys.argv[2]
    return manifests(src) if sys.argv[1] == "manifests" else apiserver(src)


if __name__ == "__main__":
    sys.exit(main())
