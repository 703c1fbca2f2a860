#!/usr/bin/python3
"""Writes the agentgateway.dev/v1alpha1 CRDs krtgate installs (deploy/crds/*.yaml).

The schemas follow agentgateway's API types field for field where krtgate reads or forwards the
field (required fields, enums, bounds, patterns, one-of rules, the CEL rules of the originals), and
keep the rest open (x-kubernetes-preserve-unknown-fields) so that every object the originals
accept is accepted here too. One-of rules are written twice: as CEL (x-kubernetes-validations, as
the originals) and, where a structural schema allows it, as oneOf over `required` lists or
minProperties, so API servers and tools that do not evaluate CEL still enforce them.

Usage: generate.py [--check]   (--check: exit 1 if the committed files differ)
"""
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"


# ---- building blocks -------------------------------------------------------------------------
def s(**kw):
    d = {"type": "string"}
    d.update(kw)
    return d


def i32(**kw):
    d = {"type": "integer", "format": "int32"}
    d.update(kw)
    return d


def i64(**kw):
    d = {"type": "integer", "format": "int64"}
    d.update(kw)
    return d


def obj(props=None, required=None, rules=None, **kw):
    d = {"type": "object"}
    if props is not None:
        d["properties"] = props
    if required:
        d["required"] = list(required)
    if rules:
        d["x-kubernetes-validations"] = [{"rule": r, "message": m} for r, m in rules]
    d.update(kw)
    return d


def arr(items, lo=None, hi=None, **kw):
    d = {"type": "array", "items": items}
    if lo is not None:
        d["minItems"] = lo
    if hi is not None:
        d["maxItems"] = hi
    d.update(kw)
    return d


def open_obj(**kw):
    """An object whose content krtgate forwards without a typed schema."""
    d = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    d.update(kw)
    return d


def enum(*values, **kw):
    return s(enum=list(values), **kw)


def duration(minimum, name):
    return s(pattern=DURATION, **{"x-kubernetes-validations": [
        {"rule": "matches(self, '^([0-9]{1,5}(h|m|s|ms)){1,4}$')", "message": "invalid duration value"},
        {"rule": "duration(self) >= duration('%s')" % minimum,
         "message": "%s must be at least %s" % (name, minimum)},
    ]})


def exactly_one(fields):
    """CEL rule + oneOf over required lists: exactly one of |fields| is set."""
    rule = "[%s].filter(x, x == true).size() == 1" % ",".join("has(self.%s)" % f for f in fields)
    return ((rule, "exactly one of the fields in [%s] must be set" % " ".join(fields)),
            [{"required": [f]} for f in fields])


class NoAliases(yaml.SafeDumper):
    """Writes a shared sub-schema out in full each time: anchors and aliases are valid YAML but
    make a CRD hard to read and to diff."""

    def ignore_aliases(self, data):
        return True


def with_exactly_one(schema, fields):
    rule, one_of = exactly_one(fields)
    schema.setdefault("x-kubernetes-validations", []).append({"rule": rule[0], "message": rule[1]})
    schema["oneOf"] = one_of
    return schema


def at_least_one(schema):
    schema["minProperties"] = 1
    return schema


CEL = s(minLength=1, maxLength=16384)
SHORT = s(minLength=1, maxLength=256)
TINY = s(minLength=1, maxLength=64)
LONG = s(minLength=1, maxLength=1024)
PORT = i32(minimum=1, maximum=65535)
LOCAL_SECRET = obj({"name": s(minLength=1, maxLength=253)}, ["name"])
LOCAL_OBJECT = obj({"name": s(maxLength=253)}, ["name"])
BYTE_SIZE = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
GROUP = s(maxLength=253, pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KIND = s(minLength=1, maxLength=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
NAME = s(minLength=1, maxLength=253)
SECTION = s(minLength=1, maxLength=253,
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NAMESPACE = s(minLength=1, maxLength=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
FAILURE_MODE = enum("FailOpen", "FailClosed")

BACKEND_REF = obj({
    "group": dict(GROUP, default=""),
    "kind": dict(KIND, default="Service"),
    "name": NAME,
    "namespace": NAMESPACE,
    "port": PORT,
}, ["name"], [("(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true",
               "Must have port for Service reference")])

CONDITION = obj({
    "lastTransitionTime": s(format="date-time"),
    "message": s(maxLength=32768),
    "observedGeneration": i64(minimum=0),
    "reason": s(minLength=1, maxLength=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
    "status": enum("True", "False", "Unknown"),
    "type": s(minLength=1, maxLength=316,
              pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"),
}, ["lastTransitionTime", "message", "reason", "status", "type"])

CONDITIONS = arr(CONDITION, hi=8, **{"x-kubernetes-list-type": "map",
                                     "x-kubernetes-list-map-keys": ["type"]})

PARENT_REF = obj({
    "group": dict(GROUP, default="gateway.networking.k8s.io"),
    "kind": dict(KIND, default="Gateway"),
    "name": NAME,
    "namespace": NAMESPACE,
    "port": PORT,
    "sectionName": SECTION,
}, ["name"])

POLICY_STATUS = obj({
    "ancestors": arr(obj({
        "ancestorRef": PARENT_REF,
        "controllerName": s(minLength=1, maxLength=253,
                            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$"),
        "conditions": arr(CONDITION, 1, 8, **{"x-kubernetes-list-type": "map",
                                              "x-kubernetes-list-map-keys": ["type"]}),
    }, ["ancestorRef", "controllerName", "conditions"]), hi=16),
}, ["ancestors"])

HEADER_NAME = s(minLength=1, maxLength=256, pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
HEADER_FILTER = obj({
    "set": arr(obj({"name": HEADER_NAME, "value": s(minLength=1, maxLength=4096)},
                   ["name", "value"]), hi=16,
               **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}),
    "add": arr(obj({"name": HEADER_NAME, "value": s(minLength=1, maxLength=4096)},
                   ["name", "value"]), hi=16,
               **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}),
    "remove": arr(s(), hi=16, **{"x-kubernetes-list-type": "set"}),
})

KEEPALIVE = obj({
    "retries": i32(minimum=1, maximum=64),
    "time": duration("1s", "time"),
    "interval": duration("1s", "interval"),
})

TLS_VERSION = enum("1.2", "1.3")
CIPHER = enum("TLS13_AES_256_GCM_SHA384", "TLS13_AES_128_GCM_SHA256",
              "TLS13_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
              "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
              "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
              "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
              "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
KX_GROUP = enum("X25519", "P-256", "P-384", "X25519_MLKEM768")
CONDITIONAL_LAST = ("self.filter(e, !has(e.condition)).size() <= 1 && "
                    "(!self.exists(e, !has(e.condition)) || !has(self[size(self) - 1].condition))",
                    "conditional entries without condition must be last")


def conditional():
    return arr(obj({"condition": CEL, "policy": open_obj()}, ["policy"]), 1, 16,
               **{"x-kubernetes-validations": [{"rule": CONDITIONAL_LAST[0],
                                                "message": CONDITIONAL_LAST[1]}]})


# ---- AgentgatewayPolicy ------------------------------------------------------------------------
def backend_tls():
    return obj({
        "mtlsCertificateRef": arr(LOCAL_SECRET, hi=1, **{"x-kubernetes-list-type": "atomic"}),
        "caCertificateRefs": arr(LOCAL_OBJECT, hi=1, **{"x-kubernetes-list-type": "atomic"}),
        "insecureSkipVerify": enum("All", "Hostname"),
        "sni": s(minLength=1, maxLength=253,
                 pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        "verifySubjectAltNames": arr(SHORT, 1, 16),
        "alpnProtocols": arr(TINY, 1, 16),
        "keyExchangeGroups": arr(KX_GROUP),
    }, rules=[
        ("has(self.insecureSkipVerify) && self.insecureSkipVerify == 'All' ? !has(self.caCertificateRefs) : true",
         "insecureSkipVerify All and caCertificateRefs may not be set together"),
        ("has(self.insecureSkipVerify) ? !has(self.verifySubjectAltNames) : true",
         "insecureSkipVerify and verifySubjectAltNames may not be set together"),
    ])


def backend_auth():
    a = obj({
        "key": s(maxLength=2048),
        "secretRef": LOCAL_SECRET,
        "passthrough": obj({}),
        "aws": open_obj(),
        "azure": open_obj(),
        "gcp": open_obj(),
        "location": open_obj(),
    }, rules=[("has(self.location) ? has(self.key) || has(self.secretRef) || has(self.passthrough) : true",
               "location may only be set for key or passthrough auth")])
    return with_exactly_one(a, ["key", "secretRef", "passthrough", "aws", "azure", "gcp"])


def backend_simple_props():
    return {
        "tcp": obj({"keepalive": KEEPALIVE, "connectTimeout": duration("100ms", "connectTimeout")}),
        "tls": backend_tls(),
        "http": obj({"version": enum("HTTP1", "HTTP2"),
                     "requestTimeout": duration("1ms", "requestTimeout")}),
        "tunnel": obj({"backendRef": BACKEND_REF}, ["backendRef"]),
        "auth": backend_auth(),
    }


def backend_full():
    p = backend_simple_props()
    p.update({
        "ai": at_least_one(open_obj()),
        # declared so that the spec's CEL rules can read them (CEL sees only declared fields)
        "mcp": at_least_one(open_obj(properties={"authorization": open_obj(),
                                                 "authentication": open_obj(),
                                                 "extMcp": open_obj()})),
        "transformation": at_least_one(open_obj()),
        "health": open_obj(),
        "extAuth": open_obj(),
    })
    return at_least_one(obj(p))


def local_rate_limit():
    r = obj({
        "requests": i32(minimum=1),
        "tokens": i32(minimum=1),
        "unit": enum("Seconds", "Minutes", "Hours"),
        "burst": i32(),
    }, ["unit"])
    return with_exactly_one(r, ["requests", "tokens"])


def traffic():
    jwks = with_exactly_one(obj({
        "remote": obj({
            "jwksPath": s(minLength=1, maxLength=2000),
            "cacheDuration": dict(duration("5m", "cacheDuration"), default="5m"),
            "backendRef": BACKEND_REF,
        }, ["jwksPath", "backendRef"]),
        "inline": s(minLength=2, maxLength=65536),
        # krtgate extension (issue 7: JWKS from a Secret): the JSON Web Key Set in a Secret of the
        # policy's namespace, under `key` (default "jwks"). agentgateway has remote and inline only.
        "secretRef": obj({"name": TINY, "key": dict(TINY, default="jwks")}, ["name"]),
    }), ["remote", "inline", "secretRef"])
    jwt = obj({
        "mode": dict(enum("Strict", "Optional", "Permissive"), default="Strict"),
        "providers": arr(obj({
            "issuer": SHORT,
            "audiences": arr(s(), 1, 64),
            "jwks": jwks,
        }, ["issuer", "jwks"]), 1, 64),
        "location": open_obj(),
        "mcp": open_obj(),
    }, ["providers"], [
        ("!has(self.mcp) || size(self.providers) == 1", "jwtAuthentication.mcp requires exactly one provider"),
        ("!has(self.mcp) || !has(self.mode) || self.mode == 'Strict'", "jwtAuthentication.mcp requires mode Strict"),
    ])
    basic = with_exactly_one(obj({
        "mode": dict(enum("Strict", "Optional"), default="Strict"),
        "realm": s(),
        "users": arr(s(), 1, 256),
        "secretRef": LOCAL_SECRET,
        "location": open_obj(),
    }), ["users", "secretRef"])
    apikey = with_exactly_one(obj({
        "mode": dict(enum("Strict", "Optional", "Permissive"), default="Strict"),
        "secretRef": LOCAL_SECRET,
        "secretSelector": obj({"matchLabels": obj(additionalProperties=s())}, ["matchLabels"]),
        "location": open_obj(),
    }), ["secretRef", "secretSelector"])
    direct = obj({
        "status": i32(minimum=200, maximum=599),
        "body": s(minLength=1, maxLength=4096),
        "bodyExpression": CEL,
        "headers": arr(obj({"name": HEADER_NAME, "value": CEL}, ["name", "value"]), 1, 16,
                       **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}),
        "conditional": conditional(),
    }, rules=[
        ("!(has(self.body) && has(self.bodyExpression))", "body and bodyExpression may not both be set"),
        ("has(self.conditional) || has(self.status)", "status is required"),
    ])
    rate = at_least_one(obj({
        "local": arr(local_rate_limit(), 1, 16),
        "global": obj({
            "backendRef": BACKEND_REF,
            "failureMode": FAILURE_MODE,
            "domain": SHORT,
            "descriptors": arr(obj({
                "entries": arr(obj({"name": TINY, "expression": CEL}, ["name", "expression"]), 1, 16),
                "unit": enum("Tokens", "Requests"),
                "cost": CEL,
            }, ["entries"]), 1, 16),
        }, ["backendRef", "domain", "descriptors"]),
        "conditional": conditional(),
    }))
    ext_auth = open_obj(properties={"backendRef": BACKEND_REF, "failureMode": FAILURE_MODE,
                                    "grpc": open_obj(), "http": open_obj(),
                                    "forwardBody": open_obj(), "cache": open_obj(),
                                    "conditional": conditional()},
                        **{"x-kubernetes-validations": [
        {"rule": "has(self.conditional) || [has(self.grpc),has(self.http)].filter(x,x==true).size() == 1",
         "message": "exactly one of the fields in [grpc http] must be set"},
    ]})
    pre_routing_only = ["phase", "transformation", "extProc", "extAuth", "jwtAuthentication",
                        "basicAuthentication", "apiKeyAuthentication"]
    props = {
        "phase": enum("PreRouting", "PostRouting"),
        "transformation": at_least_one(open_obj()),
        "extProc": open_obj(),
        "extAuth": ext_auth,
        "rateLimit": rate,
        "cors": open_obj(),
        "csrf": obj({"additionalOrigins": arr(SHORT, 1, 16)}),
        "headerModifiers": obj({"request": HEADER_FILTER, "response": HEADER_FILTER}),
        "hostRewrite": obj({"mode": enum("Auto", "None")}, ["mode"]),
        "timeouts": obj({"request": duration("100ms", "request")}),
        "retry": obj({
            "attempts": i32(minimum=0),
            "backoff": s(pattern=r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"),
            "codes": arr(i32(minimum=400, maximum=599)),
        }),
        "authorization": open_obj(),
        "jwtAuthentication": jwt,
        "basicAuthentication": basic,
        "apiKeyAuthentication": apikey,
        "directResponse": direct,
        "buffer": open_obj(),
        "delay": open_obj(),
    }
    others = [k for k in props if k not in pre_routing_only]
    rule = "has(self.phase) && self.phase == 'PreRouting' ? !(%s) : true" % " || ".join(
        "has(self.%s)" % k for k in others)
    return obj(props, rules=[(rule, "phase PreRouting only supports extAuth, transformation, extProc, "
                                    "jwtAuthentication, basicAuthentication, and apiKeyAuthentication")])


def frontend():
    return at_least_one(obj({
        "tcp": at_least_one(obj({"keepalive": KEEPALIVE})),
        "networkAuthorization": open_obj(),
        "tls": at_least_one(obj({
            "handshakeTimeout": duration("100ms", "handshakeTimeout"),
            "alpnProtocols": arr(TINY, 1, 16),
            "minProtocolVersion": TLS_VERSION,
            "maxProtocolVersion": TLS_VERSION,
            "cipherSuites": arr(CIPHER),
            "keyExchangeGroups": arr(KX_GROUP),
        })),
        "http": at_least_one(obj({
            "maxBufferSize": BYTE_SIZE,
            "http1MaxHeaders": i32(minimum=1, maximum=4096),
            "http1IdleTimeout": duration("1s", "http1IdleTimeout"),
            "http1HeaderCase": enum("Lowercase", "Preserve"),
            "http2WindowSize": BYTE_SIZE,
            "http2ConnectionWindowSize": BYTE_SIZE,
            "http2FrameSize": BYTE_SIZE,
            "http2MaxHeaderSize": BYTE_SIZE,
            "http2KeepaliveInterval": duration("1s", "http2KeepaliveInterval"),
            "http2KeepaliveTimeout": duration("1s", "http2KeepaliveTimeout"),
            "maxConnectionDuration": duration("1s", "maxConnectionDuration"),
        })),
        "proxyProtocol": obj({
            "version": dict(enum("V1", "V2", "All"), default="V2"),
            "mode": dict(enum("Strict", "Optional"), default="Strict"),
        }),
        "connect": obj({"mode": enum("Deny", "Route", "Tunnel")}, ["mode"]),
        "accessLog": obj({
            "filter": CEL,
            "attributes": open_obj(),
            "otlp": obj({"backendRef": BACKEND_REF, "protocol": dict(enum("HTTP", "GRPC"), default="GRPC"),
                         "path": LONG}, ["backendRef"]),
        }),
        "tracing": obj({
            "backendRef": BACKEND_REF,
            "protocol": dict(enum("HTTP", "GRPC"), default="GRPC"),
            "path": LONG,
            "attributes": open_obj(),
            "resources": arr(obj({"name": SHORT, "expression": CEL}, ["name", "expression"])),
            "randomSampling": CEL,
            "clientSampling": CEL,
        }, ["backendRef"], [
            ("!has(self.path) || !has(self.protocol) || self.protocol == 'HTTP'", "path is only valid with protocol HTTP"),
            ("!has(self.path) || self.path.startsWith('/')", "path must start with /"),
        ]),
        "metrics": obj({"attributes": open_obj()}, ["attributes"]),
    }))


TARGET_KINDS_RULE = (
    "self.all(r, (r.kind == 'Service' && r.group == '') || "
    "(r.kind == 'AgentgatewayBackend' && r.group == 'agentgateway.dev') || "
    "(r.kind in ['Gateway', 'HTTPRoute', 'GRPCRoute'] && r.group == 'gateway.networking.k8s.io') || "
    "(r.kind == 'ListenerSet' && r.group == 'gateway.networking.k8s.io') || "
    "(r.kind == 'InferencePool' && r.group == 'inference.networking.k8s.io'))",
    "targetRefs may only reference Gateway, HTTPRoute, GRPCRoute, ListenerSet, Service, "
    "AgentgatewayBackend, or InferencePool resources")
ONE_KIND_RULE = ("self.all(l1, !self.exists(l2, l1.kind != l2.kind))",
                 "Only one Kind of targetRef can be set on one policy")

POLICY_SPEC_RULES = [
    ("has(self.traffic) || has(self.frontend) || has(self.backend)",
     "At least one of traffic, frontend, or backend must be provided."),
    ("!has(self.backend) || !has(self.backend.mcp) || ((!has(self.targetRefs) || !self.targetRefs.exists(t, t.kind == 'Service')) && (!has(self.targetSelectors) || !self.targetSelectors.exists(t, t.kind == 'Service')))",
     "backend.mcp may not be used with a Service target"),
    ("!has(self.backend) || !has(self.backend.mcp) || ((!has(self.targetRefs) || !self.targetRefs.exists(t, t.kind == 'AgentgatewayBackend' && has(t.sectionName))) && (!has(self.targetSelectors) || !self.targetSelectors.exists(t, t.kind == 'AgentgatewayBackend' && has(t.sectionName))))",
     "backend.mcp may not target an AgentgatewayBackend sectionName"),
    ("!has(self.backend) || !has(self.backend.ai) || ((!has(self.targetRefs) || !self.targetRefs.exists(t, t.kind == 'Service')) && (!has(self.targetSelectors) || !self.targetSelectors.exists(t, t.kind == 'Service')))",
     "backend.ai may not be used with a Service target"),
    ("!(has(self.traffic) && has(self.traffic.jwtAuthentication) && has(self.backend) && has(self.backend.mcp) && has(self.backend.mcp.authentication))",
     "traffic.jwtAuthentication may not be used with backend.mcp.authentication in the same policy"),
    ("has(self.frontend) && has(self.targetRefs) ? self.targetRefs.all(t, t.kind == 'Gateway' && !has(t.sectionName)) : true",
     "the 'frontend' field can only target a Gateway"),
    ("has(self.frontend) && has(self.targetSelectors) ? self.targetSelectors.all(t, t.kind == 'Gateway' && !has(t.sectionName)) : true",
     "the 'frontend' field can only target a Gateway"),
    ("has(self.traffic) && has(self.targetRefs) ? self.targetRefs.all(t, t.kind in ['Gateway', 'HTTPRoute', 'GRPCRoute', 'ListenerSet', 'InferencePool']) : true",
     "the 'traffic' field can only target a Gateway, ListenerSet, GRPCRoute, HTTPRoute, or InferencePool"),
    ("has(self.traffic) && has(self.targetSelectors) ? self.targetSelectors.all(t, t.kind in ['Gateway', 'HTTPRoute', 'GRPCRoute', 'ListenerSet', 'InferencePool']) : true",
     "the 'traffic' field can only target a Gateway, ListenerSet, GRPCRoute, HTTPRoute, or InferencePool"),
    ("has(self.targetRefs) && has(self.traffic) && has(self.traffic.phase) && self.traffic.phase == 'PreRouting' ? self.targetRefs.all(t, t.kind in ['Gateway', 'ListenerSet']) : true",
     "the 'traffic.phase=PreRouting' field can only target a Gateway or ListenerSet"),
    ("has(self.targetSelectors) && has(self.traffic) && has(self.traffic.phase) && self.traffic.phase == 'PreRouting' ? self.targetSelectors.all(t, t.kind in ['Gateway', 'ListenerSet']) : true",
     "the 'traffic.phase=PreRouting' field can only target a Gateway or ListenerSet"),
]


def policy_spec():
    target_common = {"group": GROUP, "kind": KIND, "sectionName": SECTION}
    refs = arr(obj(dict(target_common, name=NAME), ["group", "kind", "name"]), 1, 16,
               **{"x-kubernetes-list-type": "atomic",
                  "x-kubernetes-validations": [{"rule": r, "message": m}
                                               for r, m in (TARGET_KINDS_RULE, ONE_KIND_RULE)]})
    sels = arr(obj(dict(target_common, matchLabels=obj(additionalProperties=s())),
                   ["group", "kind", "matchLabels"]), 1, 16,
               **{"x-kubernetes-validations": [{"rule": r, "message": m}
                                               for r, m in (TARGET_KINDS_RULE, ONE_KIND_RULE)]})
    spec = obj({
        "targetRefs": refs,
        "targetSelectors": sels,
        "strategy": obj({"inheritance": enum("Default", "Override")}),
        "frontend": frontend(),
        "traffic": traffic(),
        "backend": backend_full(),
    }, rules=POLICY_SPEC_RULES)
    spec = with_exactly_one(spec, ["targetRefs", "targetSelectors"])
    # the spec's own one-of plus "at least one section": anyOf over required lists
    spec["anyOf"] = [{"required": ["traffic"]}, {"required": ["frontend"]}, {"required": ["backend"]}]
    return spec


# ---- AgentgatewayBackend -----------------------------------------------------------------------
def llm_provider_props():
    return {
        "openai": obj({"model": SHORT}),
        "azureopenai": obj({"endpoint": SHORT, "deploymentName": SHORT, "apiVersion": TINY},
                           ["endpoint"], [("!has(self.apiVersion) || self.apiVersion == 'v1' ? true : has(self.deploymentName)",
                                           "deploymentName is required for this apiVersion")]),
        "azure": obj({"resourceName": SHORT, "resourceType": enum("OpenAI", "Foundry"), "model": SHORT,
                      "apiVersion": TINY, "projectName": SHORT}, ["resourceName", "resourceType"],
                     [("self.resourceType != 'Foundry' || has(self.projectName)",
                       "projectName is required when resourceType is Foundry")]),
        "anthropic": obj({"model": SHORT}),
        "gemini": obj({"model": SHORT}),
        "vertexai": obj({"model": SHORT, "projectId": TINY, "region": dict(TINY, default="global")},
                        ["projectId"]),
        "bedrock": obj({"region": s(minLength=1, maxLength=63, pattern=r"^[a-z0-9-]+$", default="us-east-1"),
                        "model": SHORT,
                        "guardrail": obj({"identifier": SHORT, "version": SHORT}, ["identifier", "version"])}),
        "custom": obj({
            "backendRef": BACKEND_REF,
            "model": SHORT,
            "formats": arr(obj({"type": enum("Completions", "Messages", "Responses", "Embeddings",
                                             "AnthropicTokenCount", "Realtime"),
                                "path": LONG}, ["type"]), 1, 6,
                           **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
        }, ["formats"]),
        "host": SHORT,
        "port": PORT,
        "path": LONG,
        "pathPrefix": LONG,
    }


PROVIDERS = ["openai", "azureopenai", "azure", "anthropic", "gemini", "vertexai", "bedrock", "custom"]
LLM_RULES = [
    ("has(self.host) || has(self.port) ? has(self.host) && has(self.port) : true",
     "both host and port must be set together"),
    ("has(self.custom) ? has(self.custom.backendRef) != has(self.host) : true",
     "custom providers must specify exactly one of backendRef or host and port"),
    ("!(has(self.path) && has(self.pathPrefix))", "path and pathPrefix are mutually exclusive"),
    ("has(self.pathPrefix) ? has(self.host) : true", "pathPrefix requires host to be set"),
]


def llm_provider(named=False):
    p = llm_provider_props()
    req = []
    if named:
        p["name"] = SECTION
        p["policies"] = at_least_one(open_obj())
        req = ["name"]
    o = obj(p, req, LLM_RULES)
    return with_exactly_one(o, PROVIDERS)


def backend_spec():
    mcp_target = with_exactly_one(obj({
        "name": SECTION,
        "selector": at_least_one(obj({"namespaces": open_obj(), "services": open_obj()})),
        "static": with_exactly_one(obj({
            "host": SHORT,
            "backendRef": LOCAL_OBJECT,
            "port": PORT,
            "path": LONG,
            "protocol": enum("StreamableHTTP", "SSE"),
            "policies": open_obj(),
        }, ["port"], [("!has(self.backendRef) || !has(self.policies)",
                       "mcp target policies may not be used with backendRef")]), ["host", "backendRef"]),
    }, ["name"]), ["selector", "static"])
    spec = obj({
        "static": obj({"host": SHORT, "port": PORT, "unixPath": s(minLength=1)}, rules=[
            ("has(self.unixPath) || (has(self.host) && has(self.port))",
             "must specify either unixPath or both host and port"),
            ("!has(self.unixPath) || (!has(self.host) && !has(self.port))",
             "unixPath and host/port are mutually exclusive"),
        ]),
        "a2a": obj({"host": SHORT, "port": PORT}, ["host", "port"]),
        "ai": with_exactly_one(obj({
            "provider": llm_provider(),
            "groups": arr(obj({"providers": arr(llm_provider(named=True), 1, 16, **{
                "x-kubernetes-validations": [{"rule": "self.all(p1, self.exists_one(p2, p1.name == p2.name))",
                                              "message": "provider names must be unique within a group"}]})},
                              ["providers"]), 1, 8),
        }), ["provider", "groups"]),
        "mcp": obj({
            "targets": arr(mcp_target, 1, 32, **{
                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-validations": [{"rule": "self.all(t1, self.exists_one(t2, t1.name == t2.name))",
                                              "message": "target names must be unique"}]}),
            "sessionRouting": enum("Stateful", "Stateless"),
            "failureMode": FAILURE_MODE,
        }, ["targets"]),
        "dynamicForwardProxy": obj({}),
        "aws": with_exactly_one(obj({"agentCore": obj({"agentRuntimeArn": s(minLength=1), "qualifier": s()},
                                                      ["agentRuntimeArn"])}), ["agentCore"]),
        "policies": backend_full(),
    }, rules=[
        ("has(self.policies) && has(self.policies.ai) ? has(self.ai) : true", "AI policies require AI backend"),
        ("has(self.policies) && has(self.policies.mcp) ? has(self.mcp) : true", "MCP policies require MCP backend"),
    ])
    return with_exactly_one(spec, ["ai", "static", "dynamicForwardProxy", "mcp", "aws", "a2a"])


# ---- AgentgatewayParameters --------------------------------------------------------------------
def overlay():
    return obj({
        "metadata": obj({"labels": obj(additionalProperties=s()),
                         "annotations": obj(additionalProperties=s())}),
        "spec": open_obj(),
    })


def parameters_spec():
    quantity = {"anyOf": [{"type": "integer"}, {"type": "string"}],
                "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
                "x-kubernetes-int-or-string": True}
    return obj({
        "logging": obj({"level": s(), "format": enum("json", "text")}),
        "rawConfig": open_obj(),
        "image": obj({"registry": s(), "repository": s(), "tag": s(), "digest": s(),
                      "pullPolicy": enum("Always", "Never", "IfNotPresent")}),
        "env": arr(obj({"name": s(minLength=1), "value": s(), "valueFrom": open_obj()}, ["name"]),
                   **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}),
        "resources": obj({
            "limits": obj(additionalProperties=quantity),
            "requests": obj(additionalProperties=quantity),
            "claims": arr(open_obj()),
        }),
        "shutdown": obj({"min": i64(minimum=0, maximum=31536000), "max": i64(minimum=0, maximum=31536000)},
                        ["min", "max"], [("self.min <= self.max",
                                          "The 'min' value must be less than or equal to the 'max' value.")]),
        "istio": obj({"enabled": {"type": "boolean"}, "caAddress": s(), "trustDomain": s(),
                      "additionalTrustDomains": arr(s()), "clusterId": s(), "network": s()}),
        "modelCatalog": obj({"sources": arr(obj({"configMap": obj({"name": s(minLength=1), "key": s()},
                                                                  ["name"])}))}),
        "workload": obj({"kind": enum("Deployment", "DaemonSet")}),
        "spiffe": open_obj(),
        "deployment": overlay(),
        "daemonSet": overlay(),
        "service": overlay(),
        "serviceAccount": overlay(),
        "podDisruptionBudget": overlay(),
        "horizontalPodAutoscaler": overlay(),
    })


# ---- CRD documents -----------------------------------------------------------------------------
def crd(kind, plural, short, spec, status, columns):
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "%s.agentgateway.dev" % plural,
            "labels": {"app": "agentgateway", "app.kubernetes.io/name": "agentgateway",
                       "app.kubernetes.io/part-of": "krtgate",
                       "gateway.networking.k8s.io/policy": "Direct"} if kind != "AgentgatewayBackend" else
                      {"app": "agentgateway", "app.kubernetes.io/name": "agentgateway",
                       "app.kubernetes.io/part-of": "krtgate"},
        },
        "spec": {
            "group": "agentgateway.dev",
            "names": {"kind": kind, "listKind": kind + "List", "plural": plural,
                      "singular": kind.lower(), "shortNames": [short], "categories": ["agentgateway"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns + [
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                "schema": {"openAPIV3Schema": obj({
                    "apiVersion": s(),
                    "kind": s(),
                    "metadata": obj(),
                    "spec": spec,
                    "status": status,
                }, ["spec"], description="krtgate's schema of agentgateway's %s "
                                         "(deploy/crds/generate.py)." % kind)},
            }],
        },
    }


def documents():
    return {
        "agentgatewaypolicies.yaml": crd(
            "AgentgatewayPolicy", "agentgatewaypolicies", "agpol", policy_spec(), POLICY_STATUS,
            [{"name": "Accepted", "type": "string",
              "jsonPath": ".status.ancestors[*].conditions[?(@.type=='Accepted')].status"},
             {"name": "Attached", "type": "string",
              "jsonPath": ".status.ancestors[*].conditions[?(@.type=='Attached')].status"}]),
        "agentgatewaybackends.yaml": crd(
            "AgentgatewayBackend", "agentgatewaybackends", "agbe", backend_spec(),
            obj({"conditions": CONDITIONS}),
            [{"name": "Accepted", "type": "string",
              "jsonPath": ".status.conditions[?(@.type=='Accepted')].status"}]),
        "agentgatewayparameters.yaml": crd(
            "AgentgatewayParameters", "agentgatewayparameters", "agpar", parameters_spec(), obj(), []),
    }


HEADER = ("# Generated by deploy/crds/generate.py from krtgate's reading of agentgateway's API types;\n"
          "# edit the generator, not this file.\n")


def render(doc):
    return HEADER + "---\n" + yaml.dump(doc, Dumper=NoAliases, sort_keys=True,
                                          default_flow_style=False, width=100)


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, doc in documents().items():
        path = os.path.join(HERE, name)
        text = render(doc)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(path)
            except OSError:
                stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("stale (run deploy/crds/generate.py): " + " ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
