#!/usr/bin/python3
"""Derives golden fixtures (conf-*/in.yaml) from the Gateway API conformance manifests.

Usage: /usr/bin/python3 derive_conformance.py CONFORMANCE_DIR

CONFORMANCE_DIR is the folder of upstream manifests (the project keeps a verbatim copy in
shared/conformance/gateway-api/, Apache-2.0, see its README for the commit). For each case below
this writes conf-<case>/in.yaml: a GatewayClass of ours, the objects of the suite's base
manifests.yaml the test relies on (its Namespaces, and the Gateways and Services the test's routes
name), the Secrets the suite generates at start-up (here signed by test-cert.pem / test-key.pem),
and the test's own manifest, verbatim except for the placeholders the Go harness substitutes.
out.json is NOT written here: run the golden test with TR_GOLDEN_UPDATE=1, then review it.
"""
import base64
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = [
    # group (a): status only
    "gateway-invalid-listeners-unsupported-protocol",
    "gateway-invalid-parameters-ref",
    "gateway-invalid-route-kind",
    "gateway-invalid-tls-configuration",
    "gateway-modify-listeners",
    "gateway-observed-generation-bump",
    "gateway-secret-invalid-reference-grant",
    "gateway-secret-missing-reference-grant",
    "gateway-secret-reference-grant-all-in-namespace",
    "gateway-secret-reference-grant-specific",
    "gateway-static-addresses",
    "gateway-with-attached-routes",
    "gateway-with-attached-routes-with-port-8080",
    "gatewayclass-observed-generation-bump",
    "httproute-disallowed-kind",
    "httproute-invalid-cross-namespace-parent-ref",
    "httproute-invalid-parentref-not-matching-listener-port",
    "httproute-invalid-parentref-not-matching-section-name",
    "httproute-invalid-parentref-section-name-not-matching-port",
    "httproute-observed-generation-bump",
    "tcproute-invalid-backendref-nonexistent",
    "tcproute-invalid-cross-namespace-backend-ref",
    "tcproute-invalid-non-tcp-listener",
    "tlsroute-invalid-no-matching-listener",
    "tlsroute-invalid-no-matching-listener-hostname",
    "tlsroute-invalid-reference-grant",
    "tlsroute-listener-mixed-termination-not-supported",
    "tlsroute-listener-passthrough-supported-kinds",
    # group (b): the translation side of HTTP routing tests
    "httproute-simple-same-namespace",
    "httproute-cross-namespace",
    "httproute-exact-path-matching",
    "httproute-header-matching",
    "httproute-hostname-intersection",
    "httproute-https-listener",
    "httproute-invalid-backendref-unknown-kind",
    "httproute-invalid-cross-namespace-backend-ref",
    "httproute-invalid-nonexistent-backendref",
    "httproute-invalid-reference-grant",
    "httproute-listener-hostname-matching",
    "httproute-listener-port-matching",
    "httproute-matching",
    "httproute-matching-across-routes",
    "httproute-method-matching",
    "httproute-multiple-gateways",
    "httproute-omitted-backendrefs",
    "httproute-partially-invalid-via-invalid-reference-grant",
    "httproute-path-match-order",
    "httproute-query-param-matching",
    "httproute-redirect-host-and-status",
    "httproute-redirect-path",
    "httproute-redirect-port-and-scheme",
    "httproute-reference-grant",
    "httproute-request-header-modifier",
    "httproute-request-header-modifier-backend-weights",
    "httproute-request-mirror",
    "httproute-response-header-modifier",
    "httproute-retry",
    "httproute-rewrite-path",
    "httproute-service-types",
    "httproute-timeout-request",
    "httproute-weight",
    "httproute-cors",
    # group (c), translation side
    "grpcroute-exact-method-matching",
    "grpcroute-header-matching",
    "tcproute-multiple-routes-attachment",
    "tlsroute-simple-same-namespace",
    # ListenerSet (experimental channel): status tests and the translation side of its routing tests
    "listenerset-allowed-namespace-none",
    "listenerset-allowed-namespace-same",
    "listenerset-allowed-namespace-selector",
    "listenerset-allowed-routes-namespaces",
    "listenerset-allowed-routes-supported-kinds",
    "listenerset-default-not-allowed",
    "listenerset-dual-parentref-independence",
    "listenerset-gateway-parent-section-name-not-found",
    "listenerset-hostname-conflict",
    "listenerset-http-routing",
    "listenerset-protocol-conflict",
    "listenerset-reference-grant",
    "listenerset-route-status-scoped-to-parentref",
]

# Secrets the suite generates at start-up (namespace, name).
GENERATED_SECRETS = {
    ("gateway-conformance-web-backend", "certificate"),
    ("gateway-conformance-infra", "tls-validity-checks-certificate"),
    ("gateway-conformance-infra", "tls-passthrough-checks-certificate"),
    ("gateway-conformance-app-backend", "tls-passthrough-checks-certificate"),
    ("gateway-conformance-infra", "tls-terminate-checks-certificate"),
    ("gateway-conformance-infra", "tls-checks-certificate"),
}

GATEWAY_CLASS = """apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: agentgateway
spec:
  controllerName: agentgateway.dev/agentgateway
"""


def substitute(text):
    text = text.replace("{GATEWAY_CLASS_NAME}", "agentgateway")
    text = text.replace("{GATEWAY_CONTROLLER_NAME}", "agentgateway.dev/agentgateway")
    text = text.replace("PLACEHOLDER_USABLE_ADDRS", "192.0.2.10")
    # left as is: "PLACEHOLDER_UNUSABLE_ADDRS" is not an IP, which is what makes it unusable
    return text


def split_docs(text):
    """Splits multi-document YAML text into (text, object) pairs, keeping each text verbatim."""
    out = []
    for chunk in re.split(r"(?m)^---[ \t]*$", text):
        obj = yaml.safe_load(chunk)
        if isinstance(obj, dict):
            out.append((chunk.strip("\n") + "\n", obj))
    return out


def ns_of(obj):
    return (obj.get("metadata") or {}).get("namespace") or "default"


def backend_refs(route):
    for rule in (route.get("spec") or {}).get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            yield ref
            for f in ref.get("filters") or []:
                if f.get("type") == "RequestMirror":
                    yield f["requestMirror"]["backendRef"]
        for f in rule.get("filters") or []:
            if f.get("type") == "RequestMirror":
                yield f["requestMirror"]["backendRef"]


def secret_doc(ns, name, cert, key):
    return (
        "apiVersion: v1\nkind: Secret\nmetadata:\n"
        f"  name: {name}\n  namespace: {ns}\ntype: kubernetes.io/tls\ndata:\n"
        f"  tls.crt: {base64.b64encode(cert).decode()}\n"
        f"  tls.key: {base64.b64encode(key).decode()}\n"
    )


def main():
    conf = sys.argv[1]
    cert = open(os.path.join(HERE, "test-cert.pem"), "rb").read()
    key = open(os.path.join(HERE, "test-key.pem"), "rb").read()
    base = split_docs(substitute(open(os.path.join(conf, "manifests.yaml")).read()))
    for case in CASES:
        text = substitute(open(os.path.join(conf, case + ".yaml")).read())
        docs = split_docs(text)
        own = {(d.get("kind"), ns_of(d), d["metadata"]["name"]) for _, d in docs}
        want_gw, want_svc = set(), set()
        for _, d in docs:
            if not str(d.get("kind", "")).endswith("Route"):
                continue
            rns = ns_of(d)
            for pr in (d.get("spec") or {}).get("parentRefs") or []:
                if pr.get("kind", "Gateway") == "Gateway":
                    want_gw.add((pr.get("namespace") or rns, pr["name"]))
            for ref in backend_refs(d):
                if ref.get("kind", "Service") == "Service" and ref.get("group", "") == "":
                    want_svc.add((ref.get("namespace") or rns, ref["name"]))
        picked = []
        for t, d in base:
            k, ident = d.get("kind"), (ns_of(d), d["metadata"]["name"])
            if (k, ident[0], ident[1]) in own:
                continue
            if k == "Namespace" or (k == "Gateway" and ident in want_gw) or (
                k == "Service" and ident in want_svc
            ):
                picked.append((t, d))
        secrets = []
        for _, d in picked + docs:
            if d.get("kind") not in ("Gateway", "ListenerSet"):
                continue
            for lis in (d.get("spec") or {}).get("listeners") or []:
                for ref in ((lis.get("tls") or {}).get("certificateRefs")) or []:
                    ident = (ref.get("namespace") or ns_of(d), ref["name"])
                    if ident in GENERATED_SECRETS and ("Secret",) + ident not in own:
                        if ident not in secrets:
                            secrets.append(ident)
        out_dir = os.path.join(HERE, "conf-" + case)
        os.makedirs(out_dir, exist_ok=True)
        parts = [
            f"# Derived from the Gateway API conformance suite (Apache-2.0): {case}.yaml, plus the\n"
            "# objects of its base manifests.yaml it uses and the Secrets the suite generates.\n"
            "# Generated by tests/translate/golden/derive_conformance.py; do not edit by hand.\n"
            + GATEWAY_CLASS
        ]
        parts += [t for t, _ in picked]
        parts += [secret_doc(ns, name, cert, key) for ns, name in secrets]
        parts.append(text.strip("\n") + "\n")
        with open(os.path.join(out_dir, "in.yaml"), "w") as f:
            f.write("---\n".join(p if p.endswith("\n") else p + "\n" for p in parts))


if __name__ == "__main__":
    main()
