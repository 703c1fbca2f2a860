#!/usr/bin/python3
"""Independent check of krtgate's wire encoding (run by ctest as ir/check_wire).

    check_wire.py GEN_PYTHON_DIR SAMPLES_DIR

GEN_PYTHON_DIR holds the classes `protoc --python_out` generated from xds/proto; SAMPLES_DIR holds
what tests/ir/wire_dump.c wrote (<stem>.bin, <stem>.json, samples.txt). Three checks:

1. Schema: every message, field and enum value tabulated below (transcribed from
   shared/reference/agentgateway-xds.md section 1 and protocols.md section 1.2-1.4, the contract)
   exists in our .proto files with the same number, type, label and oneof, and the tabulated
   messages have no other fields. Reserved numbers are reserved.
2. Wire: each sample is decoded by python3-protobuf (an implementation independent of
   protobuf-c) and, separately, by a raw wire-format reader below that knows nothing but tag
   numbers. Every field the decoder reports must sit on the wire under the number the table
   gives, with the right wire type and count, and nothing else may be on the wire.
3. Values: the decoded message, in protobuf's JSON mapping (json_format), must equal the JSON
   wire_dump rendered from the C message before encoding; a few values are also spelled out here.

The core messages the translator emits must have every tabulated field exercised by the samples.
Exit status 0 on success; every failure is printed.
"""
import base64
import json
import os
import re
import sys

GEN, SAMPLES = sys.argv[1], sys.argv[2]
sys.path.insert(0, GEN)

from google.protobuf import descriptor as D  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402
from google.protobuf import descriptor_pool  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.protobuf import message_factory  # noqa: E402

from agentgateway import resource_pb2  # noqa: E402,F401
from istio import workload_pb2  # noqa: E402,F401
from envoy.config.core.v3 import base_pb2  # noqa: E402,F401
from envoy.service.discovery.v3 import discovery_pb2  # noqa: E402,F401
from google.rpc import status_pb2  # noqa: E402,F401

POOL = descriptor_pool.Default()
FACTORY = message_factory.MessageFactory(POOL)
FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg)


def message_class(full_name):
    return FACTORY.GetPrototype(POOL.FindMessageTypeByName(full_name))


# -------------------------------------------------------------------------------------------------
# The contract. Rows: (number, field, type, label) with label '', 'repeated', 'optional' or
# 'oneof <name>'; ('reserved', 'N' or 'name, N'). Types are as the reference writes them, resolved
# like protoc resolves names (innermost scope first); 'workload.' means 'istio.workload.'.

AGW = {
    'agentgateway.dev.resource.Resource': [
        (1, 'bind', 'Bind', 'oneof kind'),
        (2, 'listener', 'Listener', 'oneof kind'),
        (3, 'route', 'Route', 'oneof kind'),
        (4, 'backend', 'Backend', 'oneof kind'),
        (5, 'policy', 'Policy', 'oneof kind'),
        (6, 'tcp_route', 'TCPRoute', 'oneof kind'),
        (7, 'workload', 'workload.Workload', 'oneof kind'),
        (8, 'service', 'workload.Service', 'oneof kind'),
        (9, 'route_group', 'RouteGroup', 'oneof kind'),
        (10, 'model_route', 'ModelRoute', 'oneof kind'),
    ],
    'agentgateway.dev.resource.Bind': [
        (1, 'key', 'string', ''),
        (2, 'port', 'uint32', ''),
        (3, 'protocol', 'Protocol', ''),
        (4, 'tunnel_protocol', 'TunnelProtocol', ''),
        (5, 'mode', 'Mode', ''),
    ],
    'agentgateway.dev.resource.Listener': [
        (1, 'key', 'string', ''),
        (2, 'bind_key', 'string', ''),
        (3, 'name', 'ListenerName', ''),
        (4, 'hostname', 'string', ''),
        (5, 'protocol', 'Protocol', ''),
        (6, 'tls', 'TLSConfig', ''),
    ],
    'agentgateway.dev.resource.ListenerName': [
        (1, 'gateway_name', 'string', ''),
        (2, 'gateway_namespace', 'string', ''),
        (3, 'listener_name', 'string', ''),
        (4, 'listener_set', 'ResourceName', ''),
    ],
    'agentgateway.dev.resource.ResourceName': [
        (1, 'name', 'string', ''),
        (2, 'namespace', 'string', ''),
    ],
    'agentgateway.dev.resource.TypedResourceName': [
        (1, 'name', 'string', ''),
        (2, 'namespace', 'string', ''),
        (3, 'kind', 'string', ''),
    ],
    'agentgateway.dev.resource.TLSConfig': [
        (1, 'cert', 'bytes', ''),
        (2, 'private_key', 'bytes', ''),
        (3, 'root', 'bytes', 'optional'),
        (4, 'cipher_suites', 'CipherSuite', 'repeated'),
        (5, 'min_version', 'TLSVersion', 'optional'),
        (6, 'max_version', 'TLSVersion', 'optional'),
        (7, 'mtls_mode', 'MTLSMode', ''),
        (8, 'key_exchange_groups', 'KeyExchangeGroup', 'repeated'),
        (9, 'certificate_source', 'CertificateSource', ''),
    ],
    'agentgateway.dev.resource.Route': [
        (1, 'key', 'string', ''),
        (2, 'listener_key', 'string', ''),
        (9, 'service_key', 'workload.NamespacedHostname', ''),
        (11, 'service_port', 'uint32', ''),
        (10, 'route_group_key', 'string', 'optional'),
        (3, 'name', 'RouteName', ''),
        (5, 'hostnames', 'string', 'repeated'),
        (6, 'matches', 'RouteMatch', 'repeated'),
        (7, 'backends', 'RouteBackend', 'repeated'),
        (8, 'traffic_policies', 'TrafficPolicySpec', 'repeated'),
    ],
    'agentgateway.dev.resource.RouteName': [
        (1, 'kind', 'string', ''),
        (2, 'name', 'string', ''),
        (3, 'namespace', 'string', ''),
        (4, 'rule_name', 'string', 'optional'),
    ],
    'agentgateway.dev.resource.RouteGroup': [
        (1, 'key', 'string', ''),
        (2, 'namespace', 'string', ''),
        (3, 'name', 'string', ''),
    ],
    'agentgateway.dev.resource.TCPRoute': [
        (1, 'key', 'string', ''),
        (2, 'listener_key', 'string', ''),
        (9, 'service_key', 'workload.NamespacedHostname', ''),
        (11, 'service_port', 'uint32', ''),
        (3, 'name', 'RouteName', ''),
        (5, 'hostnames', 'string', 'repeated'),
        (6, 'backends', 'RouteBackend', 'repeated'),
    ],
    'agentgateway.dev.resource.ModelRoute': [
        (1, 'key', 'string', ''),
        (2, 'listener_key', 'string', ''),
        (3, 'match', 'Match', ''),
        (4, 'virtual_model', 'VirtualModel', 'oneof kind'),
        (5, 'concrete_model', 'ConcreteModel', 'oneof kind'),
        (6, 'ai_policy', 'BackendPolicySpec.Ai', ''),
        (7, 'created', 'uint64', ''),
        (8, 'authorization', 'TrafficPolicySpec.RBAC', ''),
        (9, 'router_key', 'string', ''),
    ],
    'agentgateway.dev.resource.RouteMatch': [
        (1, 'path', 'PathMatch', ''),
        (2, 'headers', 'HeaderMatch', 'repeated'),
        (3, 'method', 'MethodMatch', ''),
        (4, 'query_params', 'QueryMatch', 'repeated'),
    ],
    'agentgateway.dev.resource.PathMatch': [
        (1, 'exact', 'string', 'oneof kind'),
        (2, 'path_prefix', 'string', 'oneof kind'),
        (3, 'regex', 'string', 'oneof kind'),
    ],
    'agentgateway.dev.resource.HeaderMatch': [
        (1, 'name', 'string', ''),
        (2, 'exact', 'string', 'oneof value'),
        (3, 'regex', 'string', 'oneof value'),
    ],
    'agentgateway.dev.resource.QueryMatch': [
        (1, 'name', 'string', ''),
        (2, 'exact', 'string', 'oneof value'),
        (3, 'regex', 'string', 'oneof value'),
    ],
    'agentgateway.dev.resource.MethodMatch': [
        (1, 'exact', 'string', ''),
    ],
    'agentgateway.dev.resource.RouteBackend': [
        (1, 'backend', 'BackendReference', ''),
        (6, 'route_group_key', 'string', 'optional'),
        (2, 'weight', 'int32', ''),
        (5, 'backend_policies', 'BackendPolicySpec', 'repeated'),
        ('reserved', '4'),
    ],
    'agentgateway.dev.resource.BackendReference': [
        (1, 'service', 'Service', 'oneof kind'),
        (2, 'backend', 'string', 'oneof kind'),
        (4, 'inline', 'Inline', 'oneof kind'),
        (3, 'port', 'uint32', ''),
    ],
    'agentgateway.dev.resource.BackendReference.Service': [
        (1, 'namespace', 'string', ''),
        (2, 'hostname', 'string', ''),
    ],
    'agentgateway.dev.resource.BackendReference.Inline': [
        (1, 'hostname', 'string', ''),
        (2, 'port', 'uint32', ''),
    ],
    'agentgateway.dev.resource.HeaderModifier': [
        (1, 'add', 'Header', 'repeated'),
        (2, 'set', 'Header', 'repeated'),
        (3, 'remove', 'string', 'repeated'),
    ],
    'agentgateway.dev.resource.Header': [
        (1, 'name', 'string', ''),
        (2, 'value', 'string', ''),
    ],
    'agentgateway.dev.resource.RequestRedirect': [
        (1, 'scheme', 'string', ''),
        (2, 'host', 'string', ''),
        (3, 'full', 'string', 'oneof path'),
        (4, 'prefix', 'string', 'oneof path'),
        (5, 'port', 'uint32', ''),
        (6, 'status', 'uint32', ''),
    ],
    'agentgateway.dev.resource.UrlRewrite': [
        (1, 'host', 'string', ''),
        (2, 'full', 'string', 'oneof path'),
        (3, 'prefix', 'string', 'oneof path'),
    ],
    'agentgateway.dev.resource.RequestMirrors': [
        (1, 'mirrors', 'Mirror', 'repeated'),
    ],
    'agentgateway.dev.resource.RequestMirrors.Mirror': [
        (1, 'backend', 'BackendReference', ''),
        (2, 'percentage', 'double', ''),
    ],
    'agentgateway.dev.resource.DirectResponse': [
        (1, 'status', 'uint32', ''),
        (2, 'body', 'bytes', ''),
        (3, 'body_expression', 'string', ''),
        (4, 'headers', 'ExpressionHeader', 'repeated'),
    ],
    'agentgateway.dev.resource.ExpressionHeader': [
        (1, 'name', 'string', ''),
        (2, 'expression', 'string', ''),
    ],
    'agentgateway.dev.resource.CORS': [
        (1, 'allow_credentials', 'bool', ''),
        (2, 'allow_headers', 'string', 'repeated'),
        (3, 'allow_methods', 'string', 'repeated'),
        (4, 'allow_origins', 'string', 'repeated'),
        (5, 'expose_headers', 'string', 'repeated'),
        (6, 'max_age', 'google.protobuf.Duration', ''),
    ],
    'agentgateway.dev.resource.Timeout': [
        (1, 'request', 'google.protobuf.Duration', ''),
        (2, 'backend_request', 'google.protobuf.Duration', ''),
    ],
    'agentgateway.dev.resource.Retry': [
        (1, 'retry_status_codes', 'int32', 'repeated'),
        (2, 'attempts', 'int32', ''),
        (3, 'backoff', 'google.protobuf.Duration', ''),
        (4, 'precondition', 'string', ''),
        (5, 'condition', 'string', ''),
    ],
    'agentgateway.dev.resource.Delay': [
        (1, 'duration', 'string', ''),
    ],
    'agentgateway.dev.resource.Backend': [
        (1, 'key', 'string', ''),
        (2, 'name', 'ResourceName', ''),
        (3, 'static', 'StaticBackend', 'oneof kind'),
        (4, 'ai', 'AIBackend', 'oneof kind'),
        (5, 'mcp', 'MCPBackend', 'oneof kind'),
        (6, 'dynamic', 'DynamicForwardProxy', 'oneof kind'),
        (8, 'aws', 'AwsBackend', 'oneof kind'),
        (9, 'guardrail', 'GuardrailBackend', 'oneof kind'),
        (10, 'model_router', 'ModelRouterBackend', 'oneof kind'),
        (7, 'inline_policies', 'BackendPolicySpec', 'repeated'),
    ],
    'agentgateway.dev.resource.StaticBackend': [
        (1, 'host', 'string', ''),
        (2, 'port', 'int32', ''),
        (3, 'unix_path', 'string', ''),
    ],
    'agentgateway.dev.resource.DynamicForwardProxy': [
    ],
    'agentgateway.dev.resource.ModelRouterBackend': [
        (1, 'router_key', 'string', ''),
    ],
    'agentgateway.dev.resource.AwsBackend': [
        (1, 'agent_core', 'AwsAgentCoreBackend', 'oneof service'),
    ],
    'agentgateway.dev.resource.AwsAgentCoreBackend': [
        (1, 'agent_runtime_arn', 'string', ''),
        (2, 'qualifier', 'string', 'optional'),
    ],
    'agentgateway.dev.resource.MCPBackend': [
        (2, 'targets', 'MCPTarget', 'repeated'),
        (3, 'stateful_mode', 'StatefulMode', ''),
        (4, 'prefix_mode', 'PrefixMode', ''),
        (5, 'failure_mode', 'FailureMode', ''),
    ],
    'agentgateway.dev.resource.MCPTarget': [
        (1, 'name', 'string', ''),
        (2, 'backend', 'BackendReference', ''),
        (3, 'path', 'string', ''),
        (4, 'protocol', 'Protocol', ''),
    ],
    'agentgateway.dev.resource.AIBackend': [
        (1, 'provider_groups', 'ProviderGroup', 'repeated'),
    ],
    'agentgateway.dev.resource.AIBackend.ProviderGroup': [
        (1, 'providers', 'Provider', 'repeated'),
    ],
    'agentgateway.dev.resource.AIBackend.Provider': [
        (1, 'name', 'string', ''),
        (2, 'host_override', 'HostOverride', ''),
        (3, 'path_override', 'string', 'optional'),
        (12, 'path_prefix', 'string', 'optional'),
        (17, 'base_url', 'string', 'optional'),
        (18, 'model_override', 'string', 'optional'),
        (14, 'provider_backend', 'BackendReference', ''),
        (4, 'openai', 'OpenAI', 'oneof provider'),
        (5, 'gemini', 'Gemini', 'oneof provider'),
        (6, 'vertex', 'Vertex', 'oneof provider'),
        (7, 'anthropic', 'Anthropic', 'oneof provider'),
        (8, 'bedrock', 'Bedrock', 'oneof provider'),
        (11, 'azureopenai', 'AzureOpenAI', 'oneof provider'),
        (13, 'azure', 'Azure', 'oneof provider'),
        (15, 'custom', 'Custom', 'oneof provider'),
        (16, 'provider_preset', 'ProviderPreset', 'oneof provider'),
        (10, 'inline_policies', 'BackendPolicySpec', 'repeated'),
    ],
    'agentgateway.dev.resource.AIBackend.HostOverride': [
        (1, 'host', 'string', ''),
        (2, 'port', 'int32', ''),
    ],
    'agentgateway.dev.resource.Policy': [
        (1, 'key', 'string', ''),
        (2, 'name', 'TypedResourceName', ''),
        (3, 'target', 'PolicyTarget', ''),
        (8, 'inheritance', 'Inheritance', ''),
        (4, 'traffic', 'TrafficPolicySpec', 'oneof kind'),
        (5, 'backend', 'BackendPolicySpec', 'oneof kind'),
        (6, 'frontend', 'FrontendPolicySpec', 'oneof kind'),
        (7, 'conditional', 'ConditionalPolicies', 'oneof kind'),
    ],
    'agentgateway.dev.resource.ConditionalPolicies': [
        (1, 'policies', 'ConditionalPolicy', 'repeated'),
    ],
    'agentgateway.dev.resource.ConditionalPolicy': [
        (1, 'condition', 'string', 'optional'),
        (2, 'traffic', 'TrafficPolicySpec', 'oneof kind'),
    ],
    'agentgateway.dev.resource.PolicyTarget': [
        (1, 'gateway', 'GatewayTarget', 'oneof kind'),
        (2, 'route', 'RouteTarget', 'oneof kind'),
        (3, 'backend', 'BackendTarget', 'oneof kind'),
        (4, 'service', 'ServiceTarget', 'oneof kind'),
        (5, 'listener_set', 'ListenerSetTarget', 'oneof kind'),
    ],
    'agentgateway.dev.resource.PolicyTarget.GatewayTarget': [
        (1, 'name', 'string', ''),
        (2, 'namespace', 'string', ''),
        (3, 'listener', 'string', 'optional'),
        (4, 'port', 'uint32', 'optional'),
    ],
    'agentgateway.dev.resource.PolicyTarget.RouteTarget': [
        (1, 'name', 'string', ''),
        (2, 'namespace', 'string', ''),
        (3, 'route_rule', 'string', 'optional'),
        (4, 'kind', 'string', ''),
    ],
    'agentgateway.dev.resource.PolicyTarget.BackendTarget': [
        (1, 'name', 'string', ''),
        (2, 'namespace', 'string', ''),
        (3, 'section', 'string', 'optional'),
    ],
    'agentgateway.dev.resource.PolicyTarget.ServiceTarget': [
        (1, 'namespace', 'string', ''),
        (2, 'hostname', 'string', ''),
        (3, 'port', 'uint32', 'optional'),
    ],
    'agentgateway.dev.resource.PolicyTarget.ListenerSetTarget': [
        (1, 'name', 'string', ''),
        (2, 'namespace', 'string', ''),
        (3, 'section', 'string', 'optional'),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec': [
        (1, 'phase', 'PolicyPhase', ''),
        (2, 'timeout', 'Timeout', 'oneof kind'),
        (3, 'retry', 'Retry', 'oneof kind'),
        (4, 'local_rate_limit', 'LocalRateLimit', 'oneof kind'),
        (5, 'ext_authz', 'ExternalAuth', 'oneof kind'),
        (6, 'authorization', 'RBAC', 'oneof kind'),
        (7, 'jwt', 'JWT', 'oneof kind'),
        (8, 'transformation', 'TransformationPolicy', 'oneof kind'),
        (9, 'remote_rate_limit', 'RemoteRateLimit', 'oneof kind'),
        (10, 'csrf', 'CSRF', 'oneof kind'),
        (11, 'ext_proc', 'ExtProc', 'oneof kind'),
        (12, 'request_header_modifier', 'HeaderModifier', 'oneof kind'),
        (13, 'response_header_modifier', 'HeaderModifier', 'oneof kind'),
        (14, 'request_redirect', 'RequestRedirect', 'oneof kind'),
        (15, 'url_rewrite', 'UrlRewrite', 'oneof kind'),
        (16, 'request_mirror', 'RequestMirrors', 'oneof kind'),
        (17, 'direct_response', 'DirectResponse', 'oneof kind'),
        (18, 'cors', 'CORS', 'oneof kind'),
        (19, 'basic_auth', 'BasicAuthentication', 'oneof kind'),
        (20, 'api_key_auth', 'APIKey', 'oneof kind'),
        (21, 'host_rewrite', 'HostRewrite', 'oneof kind'),
        (22, 'buffer', 'Buffer', 'oneof kind'),
        (23, 'delay', 'Delay', 'oneof kind'),
    ],
    'agentgateway.dev.resource.BackendPolicySpec': [
        (1, 'a2a', 'A2a', 'oneof kind'),
        (2, 'inference_routing', 'InferenceRouting', 'oneof kind'),
        (3, 'backend_tls', 'BackendTLS', 'oneof kind'),
        (4, 'auth', 'BackendAuthPolicy', 'oneof kind'),
        (5, 'mcp_authorization', 'McpAuthorization', 'oneof kind'),
        (6, 'mcp_authentication', 'McpAuthentication', 'oneof kind'),
        (7, 'ai', 'Ai', 'oneof kind'),
        (8, 'request_header_modifier', 'HeaderModifier', 'oneof kind'),
        (9, 'response_header_modifier', 'HeaderModifier', 'oneof kind'),
        (10, 'request_redirect', 'RequestRedirect', 'oneof kind'),
        (11, 'request_mirror', 'RequestMirrors', 'oneof kind'),
        (12, 'backend_http', 'BackendHTTP', 'oneof kind'),
        (13, 'backend_tcp', 'BackendTCP', 'oneof kind'),
        (14, 'transformation', 'TrafficPolicySpec.TransformationPolicy', 'oneof kind'),
        (15, 'health', 'Health', 'oneof kind'),
        (16, 'backend_tunnel', 'BackendTunnel', 'oneof kind'),
        (17, 'ext_authz', 'TrafficPolicySpec.ExternalAuth', 'oneof kind'),
        (18, 'mcp_guardrails', 'McpGuardrails', 'oneof kind'),
        (19, 'authorization', 'TrafficPolicySpec.RBAC', 'oneof kind'),
    ],
    'agentgateway.dev.resource.FrontendPolicySpec': [
        (1, 'tcp', 'TCP', 'oneof kind'),
        (2, 'tls', 'TLS', 'oneof kind'),
        (3, 'http', 'HTTP', 'oneof kind'),
        (4, 'logging', 'Logging', 'oneof kind'),
        (5, 'tracing', 'Tracing', 'oneof kind'),
        (6, 'network_authorization', 'NetworkAuthorization', 'oneof kind'),
        (7, 'proxy_protocol', 'ProxyProtocol', 'oneof kind'),
        (8, 'metrics', 'Metrics', 'oneof kind'),
        (9, 'connect', 'Connect', 'oneof kind'),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec.LocalRateLimit': [
        (1, 'max_tokens', 'uint64', ''),
        (2, 'tokens_per_fill', 'uint64', ''),
        (3, 'fill_interval', 'google.protobuf.Duration', ''),
        (4, 'type', 'Type', ''),
        (5, 'rules', 'Rule', 'repeated'),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec.LocalRateLimit.Rule': [
        (1, 'max_tokens', 'uint64', ''),
        (2, 'tokens_per_fill', 'uint64', ''),
        (3, 'fill_interval', 'google.protobuf.Duration', ''),
        (4, 'type', 'Type', ''),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec.RBAC': [
        (1, 'allow', 'string', 'repeated'),
        (2, 'deny', 'string', 'repeated'),
        (3, 'require', 'string', 'repeated'),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec.JWT': [
        (1, 'mode', 'Mode', ''),
        (2, 'providers', 'JWTProvider', 'repeated'),
        (3, 'mcp', 'MCP', ''),
        (4, 'authorization_location', 'AuthorizationLocation', ''),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec.JWTProvider': [
        (1, 'issuer', 'string', ''),
        (2, 'audiences', 'string', 'repeated'),
        (3, 'inline', 'string', 'oneof jwks_source'),
        (4, 'jwt_validation_options', 'JWTValidationOptions', ''),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec.ExternalAuth': [
        (1, 'target', 'BackendReference', ''),
        (2, 'grpc', 'GRPCProtocol', 'oneof protocol'),
        (3, 'http', 'HTTPProtocol', 'oneof protocol'),
        (4, 'failure_mode', 'FailureMode', ''),
        (5, 'status_on_error', 'uint32', 'optional'),
        (6, 'include_request_headers', 'string', 'repeated'),
        (7, 'include_request_body', 'BodyOptions', ''),
        (8, 'cache', 'Cache', ''),
        (9, 'inline_policies', 'BackendPolicySpec', 'repeated'),
        ('reserved', 'timeout'),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec.TransformationPolicy': [
        (1, 'request', 'Transform', ''),
        (2, 'response', 'Transform', ''),
    ],
    'agentgateway.dev.resource.TrafficPolicySpec.TransformationPolicy.Transform': [
        (1, 'set', 'HeaderTransformation', 'repeated'),
        (2, 'add', 'HeaderTransformation', 'repeated'),
        (3, 'remove', 'string', 'repeated'),
        (4, 'body', 'BodyTransformation', ''),
        (5, 'metadata', 'map<string, string>', ''),
    ],
    'agentgateway.dev.resource.BackendPolicySpec.BackendTLS': [
        (1, 'cert', 'bytes', 'optional'),
        (2, 'key', 'bytes', 'optional'),
        (3, 'root', 'bytes', 'optional'),
        (4, 'verification', 'VerificationMode', ''),
        (5, 'hostname', 'string', 'optional'),
        (6, 'verify_subject_alt_names', 'string', 'repeated'),
        (7, 'alpn', 'Alpn', ''),
        (8, 'key_exchange_groups', 'TLSConfig.KeyExchangeGroup', 'repeated'),
        (9, 'certificate_source', 'CertificateSource', ''),
    ],
    'agentgateway.dev.resource.BackendPolicySpec.BackendHTTP': [
        (1, 'version', 'HttpVersion', ''),
        (2, 'request_timeout', 'google.protobuf.Duration', ''),
    ],
    'agentgateway.dev.resource.BackendPolicySpec.BackendTCP': [
        (1, 'keepalive', 'KeepaliveConfig', ''),
        (2, 'connect_timeout', 'google.protobuf.Duration', ''),
    ],
    'agentgateway.dev.resource.KeepaliveConfig': [
        (1, 'time', 'google.protobuf.Duration', ''),
        (2, 'interval', 'google.protobuf.Duration', ''),
        (3, 'retries', 'uint32', 'optional'),
    ],
    'agentgateway.dev.resource.Alpn': [
        (1, 'protocols', 'string', 'repeated'),
    ],
    'agentgateway.dev.resource.BackendAuthPolicy': [
        (1, 'passthrough', 'Passthrough', 'oneof kind'),
        (2, 'key', 'Key', 'oneof kind'),
        (3, 'gcp', 'Gcp', 'oneof kind'),
        (4, 'aws', 'Aws', 'oneof kind'),
        (5, 'azure', 'Azure', 'oneof kind'),
        (6, 'oauth_token_exchange', 'OAuthTokenExchange', 'oneof kind'),
        (7, 'cross_app_access', 'CrossAppAccessAuth', 'oneof kind'),
        (9, 'jwt_sign', 'JwtSign', 'oneof kind'),
        (8, 'credentials', 'BackendAuthCredential', 'repeated'),
    ],
    'agentgateway.dev.resource.Key': [
        (1, 'secret', 'string', ''),
        (2, 'authorization_location', 'AuthorizationLocation', ''),
    ],
    'agentgateway.dev.resource.AuthorizationLocation': [
        (1, 'header', 'Header', 'oneof kind'),
        (2, 'query_parameter', 'QueryParameter', 'oneof kind'),
        (3, 'cookie', 'Cookie', 'oneof kind'),
        (4, 'expression', 'string', 'oneof kind'),
    ],
    'agentgateway.dev.resource.FrontendPolicySpec.HTTP': [
        (1, 'max_buffer_size', 'uint32', 'optional'),
        (2, 'http1_max_headers', 'uint32', 'optional'),
        (3, 'http1_idle_timeout', 'google.protobuf.Duration', ''),
        (4, 'http2_window_size', 'uint32', 'optional'),
        (5, 'http2_connection_window_size', 'uint32', 'optional'),
        (6, 'http2_frame_size', 'uint32', 'optional'),
        (7, 'http2_keepalive_interval', 'google.protobuf.Duration', ''),
        (8, 'http2_keepalive_timeout', 'google.protobuf.Duration', ''),
        (9, 'max_connection_duration', 'google.protobuf.Duration', ''),
        (10, 'http2_max_header_size', 'uint32', 'optional'),
        (11, 'http1_header_case', 'HTTPHeaderCase', ''),
    ],
    'agentgateway.dev.resource.FrontendPolicySpec.TLS': [
        (1, 'handshake_timeout', 'google.protobuf.Duration', ''),
        (2, 'alpn', 'Alpn', ''),
        (3, 'cipher_suites', 'TLSConfig.CipherSuite', 'repeated'),
        (4, 'min_version', 'TLSConfig.TLSVersion', 'optional'),
        (5, 'max_version', 'TLSConfig.TLSVersion', 'optional'),
        (6, 'key_exchange_groups', 'TLSConfig.KeyExchangeGroup', 'repeated'),
    ],
    'agentgateway.dev.resource.FrontendPolicySpec.TCP': [
        (1, 'keepalives', 'KeepaliveConfig', ''),
    ],
    'istio.workload.Address': [
        (1, 'workload', 'Workload', 'oneof type'),
        (2, 'service', 'Service', 'oneof type'),
    ],
    'istio.workload.Service': [
        (1, 'name', 'string', ''),
        (2, 'namespace', 'string', ''),
        (3, 'hostname', 'string', ''),
        (4, 'addresses', 'NetworkAddress', 'repeated'),
        (5, 'ports', 'Port', 'repeated'),
        (6, 'subject_alt_names', 'string', 'repeated'),
        (7, 'waypoint', 'GatewayAddress', ''),
        (8, 'load_balancing', 'LoadBalancing', ''),
        (9, 'ip_families', 'IPFamilies', ''),
        (10, 'extensions', 'Extension', 'repeated'),
        (11, 'canonical', 'bool', ''),
        (12, 'ingress_use_waypoint', 'bool', ''),
        (13, 'weighted_waypoints', 'WeightedWaypoint', 'repeated'),
        (14, 'visibility', 'Visibility', ''),
    ],
    'istio.workload.Workload': [
        (20, 'uid', 'string', ''),
        (1, 'name', 'string', ''),
        (2, 'namespace', 'string', ''),
        (3, 'addresses', 'bytes', 'repeated'),
        (21, 'hostname', 'string', ''),
        (4, 'network', 'string', ''),
        (5, 'tunnel_protocol', 'TunnelProtocol', ''),
        (6, 'trust_domain', 'string', ''),
        (7, 'service_account', 'string', ''),
        (8, 'waypoint', 'GatewayAddress', ''),
        (19, 'network_gateway', 'GatewayAddress', ''),
        (9, 'node', 'string', ''),
        (10, 'canonical_name', 'string', ''),
        (11, 'canonical_revision', 'string', ''),
        (12, 'workload_type', 'WorkloadType', ''),
        (13, 'workload_name', 'string', ''),
        (14, 'native_tunnel', 'bool', ''),
        (23, 'application_tunnel', 'ApplicationTunnel', ''),
        (22, 'services', 'map<string, PortList>', ''),
        (16, 'authorization_policies', 'string', 'repeated'),
        (17, 'status', 'WorkloadStatus', ''),
        (18, 'cluster_id', 'string', ''),
        (24, 'locality', 'Locality', ''),
        (25, 'network_mode', 'NetworkMode', ''),
        (26, 'extensions', 'Extension', 'repeated'),
        (27, 'capacity', 'google.protobuf.UInt32Value', ''),
        ('reserved', '15'),
    ],
    'istio.workload.NetworkAddress': [
        (1, 'network', 'string', ''),
        (2, 'address', 'bytes', ''),
        (3, 'length', 'uint32', 'optional'),
    ],
    'istio.workload.NamespacedHostname': [
        (1, 'namespace', 'string', ''),
        (2, 'hostname', 'string', ''),
    ],
    'istio.workload.GatewayAddress': [
        (1, 'hostname', 'NamespacedHostname', 'oneof destination'),
        (2, 'address', 'NetworkAddress', 'oneof destination'),
        (3, 'hbone_mtls_port', 'uint32', ''),
        ('reserved', 'hbone_single_tls_port, 4'),
    ],
    'istio.workload.WeightedWaypoint': [
        (1, 'destination', 'GatewayAddress', ''),
        (2, 'weight', 'uint32', ''),
    ],
    'istio.workload.Port': [
        (1, 'service_port', 'uint32', ''),
        (2, 'target_port', 'uint32', ''),
        (3, 'app_protocol', 'AppProtocol', ''),
    ],
    'istio.workload.PortList': [
        (1, 'ports', 'Port', 'repeated'),
    ],
    'istio.workload.LoadBalancing': [
        (1, 'routing_preference', 'Scope', 'repeated'),
        (2, 'mode', 'Mode', ''),
        (3, 'health_policy', 'HealthPolicy', ''),
    ],
    'istio.workload.Locality': [
        (1, 'region', 'string', ''),
        (2, 'zone', 'string', ''),
        (3, 'subzone', 'string', ''),
    ],
    'istio.workload.ApplicationTunnel': [
        (1, 'protocol', 'Protocol', ''),
        (2, 'port', 'uint32', ''),
    ],
    'istio.workload.Extension': [
        (1, 'name', 'string', ''),
        (2, 'config', 'google.protobuf.Any', ''),
    ],
}
AGW_ENUMS = {
    'agentgateway.dev.resource.Bind.Protocol': {'HTTP': 0, 'TCP': 1, 'TLS': 2},
    'agentgateway.dev.resource.Bind.TunnelProtocol': {'DIRECT': 0, 'PROXY': 1, 'HBONE_WAYPOINT': 2, 'HBONE_GATEWAY': 3, 'CONNECT': 4},
    'agentgateway.dev.resource.Bind.Mode': {'STANDARD': 0, 'INTERNAL': 1},
    'agentgateway.dev.resource.Protocol': {'UNKNOWN': 0, 'HTTP': 1, 'HTTPS': 2, 'TLS': 3, 'TCP': 4, 'HBONE': 5},
    'agentgateway.dev.resource.TLSConfig.CertificateSource': {'INLINE': 0, 'ISTIO_WORKLOAD': 1, 'DYNAMIC_CA': 2, 'SPIFFE': 3},
    'agentgateway.dev.resource.TLSConfig.TLSVersion': {'TLS_VERSION_UNSPECIFIED': 0, 'TLS_V1_2': 3, 'TLS_V1_3': 4},
    'agentgateway.dev.resource.TLSConfig.MTLSMode': {'STRICT': 0, 'ALLOW_INSECURE_FALLBACK': 1, 'DISABLE': 2},
    'agentgateway.dev.resource.TLSConfig.CipherSuite': {'CIPHER_SUITE_UNSPECIFIED': 0, 'TLS_AES_256_GCM_SHA384': 1, 'TLS_AES_128_GCM_SHA256': 2, 'TLS_CHACHA20_POLY1305_SHA256': 3, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384': 4, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256': 5, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256': 6, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384': 7, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256': 8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256': 9},
    'agentgateway.dev.resource.TLSConfig.KeyExchangeGroup': {'KEY_EXCHANGE_GROUP_UNSPECIFIED': 0, 'X25519': 1, 'P256': 2, 'P384': 3, 'X25519_MLKEM768': 4},
    'agentgateway.dev.resource.MCPBackend.StatefulMode': {'STATEFUL': 0, 'STATELESS': 1},
    'agentgateway.dev.resource.MCPBackend.PrefixMode': {'CONDITIONAL': 0, 'ALWAYS': 1, 'NEVER': 2},
    'agentgateway.dev.resource.MCPBackend.FailureMode': {'FAIL_CLOSED': 0, 'FAIL_OPEN': 1},
    'agentgateway.dev.resource.MCPTarget.Protocol': {'UNDEFINED': 0, 'SSE': 1, 'STREAMABLE_HTTP': 2},
    'agentgateway.dev.resource.Policy.Inheritance': {'DEFAULT': 0, 'OVERRIDE': 1},
    'agentgateway.dev.resource.TrafficPolicySpec.PolicyPhase': {'ROUTE': 0, 'GATEWAY': 1},
    'agentgateway.dev.resource.BackendPolicySpec.BackendTLS.VerificationMode': {'STRICT': 0, 'INSECURE_HOST': 1, 'INSECURE_ALL': 2},
    'agentgateway.dev.resource.BackendPolicySpec.BackendTLS.CertificateSource': {'INLINE': 0, 'SPIFFE': 1},
    'istio.workload.Service.Visibility': {'PUBLIC': 0, 'NAMESPACE': 1},
    'istio.workload.LoadBalancing.Scope': {'UNSPECIFIED_SCOPE': 0, 'REGION': 1, 'ZONE': 2, 'SUBZONE': 3, 'NODE': 4, 'CLUSTER': 5, 'NETWORK': 6},
    'istio.workload.LoadBalancing.Mode': {'UNSPECIFIED_MODE': 0, 'STRICT': 1, 'FAILOVER': 2, 'PASSTHROUGH': 3},
    'istio.workload.LoadBalancing.HealthPolicy': {'ONLY_HEALTHY': 0, 'ALLOW_ALL': 1},
    'istio.workload.ApplicationTunnel.Protocol': {'NONE': 0, 'PROXY': 1},
    'istio.workload.IPFamilies': {'AUTOMATIC': 0, 'IPV4_ONLY': 1, 'IPV6_ONLY': 2, 'DUAL': 3},
    'istio.workload.NetworkMode': {'STANDARD': 0, 'HOST_NETWORK': 1},
    'istio.workload.WorkloadStatus': {'HEALTHY': 0, 'UNHEALTHY': 1},
    'istio.workload.WorkloadType': {'DEPLOYMENT': 0, 'CRONJOB': 1, 'POD': 2, 'JOB': 3},
    'istio.workload.AppProtocol': {'UNKNOWN': 0, 'HTTP11': 1, 'HTTP2': 2, 'GRPC': 3, 'TCP': 4, 'TLS': 5},
    'istio.workload.TunnelProtocol': {'NONE': 0, 'HBONE': 1, 'LEGACY_ISTIO_MTLS': 2},
}

ENVOY = {
    # protocols.md section 1.2
    'envoy.service.discovery.v3.DeltaDiscoveryRequest': [
        (1, 'node', 'envoy.config.core.v3.Node', ''),
        (2, 'type_url', 'string', ''),
        (3, 'resource_names_subscribe', 'string', 'repeated'),
        (4, 'resource_names_unsubscribe', 'string', 'repeated'),
        (5, 'initial_resource_versions', 'map<string, string>', ''),
        (6, 'response_nonce', 'string', ''),
        (7, 'error_detail', 'google.rpc.Status', ''),
        (8, 'resource_locators_subscribe', 'ResourceLocator', 'repeated'),
        (9, 'resource_locators_unsubscribe', 'ResourceLocator', 'repeated'),
    ],
    'envoy.service.discovery.v3.ResourceLocator': [
        (1, 'name', 'string', ''),
        (2, 'dynamic_parameters', 'map<string, string>', ''),
    ],
    # section 1.3
    'envoy.service.discovery.v3.DeltaDiscoveryResponse': [
        (1, 'system_version_info', 'string', ''),
        (2, 'resources', 'Resource', 'repeated'),
        (4, 'type_url', 'string', ''),
        (5, 'nonce', 'string', ''),
        (6, 'removed_resources', 'string', 'repeated'),
        (7, 'control_plane', 'envoy.config.core.v3.ControlPlane', ''),
        (8, 'removed_resource_names', 'ResourceName', 'repeated'),
    ],
    'envoy.config.core.v3.ControlPlane': [
        (1, 'identifier', 'string', ''),
    ],
    'envoy.service.discovery.v3.ResourceName': [
        (1, 'name', 'string', ''),
        (2, 'dynamic_parameter_constraints', 'DynamicParameterConstraints', ''),
    ],
    'envoy.service.discovery.v3.Resource': [
        (1, 'version', 'string', ''),
        (2, 'resource', 'google.protobuf.Any', ''),
        (3, 'name', 'string', ''),
        (4, 'aliases', 'string', 'repeated'),
        (6, 'ttl', 'google.protobuf.Duration', ''),
        (7, 'cache_control', 'CacheControl', ''),
        (8, 'resource_name', 'ResourceName', ''),
        (9, 'metadata', 'envoy.config.core.v3.Metadata', ''),
    ],
    'envoy.service.discovery.v3.Resource.CacheControl': [
        (1, 'do_not_cache', 'bool', ''),
    ],
    'google.rpc.Status': [
        (1, 'code', 'int32', ''),
        (2, 'message', 'string', ''),
        (3, 'details', 'google.protobuf.Any', 'repeated'),
    ],
    # section 1.4
    'envoy.config.core.v3.Node': [
        (1, 'id', 'string', ''),
        (2, 'cluster', 'string', ''),
        (3, 'metadata', 'google.protobuf.Struct', ''),
        (4, 'locality', 'Locality', ''),
        ('reserved', '5'),
        (6, 'user_agent_name', 'string', ''),
        (7, 'user_agent_version', 'string', 'oneof user_agent_version_type'),
        (8, 'user_agent_build_version', 'BuildVersion', 'oneof user_agent_version_type'),
        (9, 'extensions', 'Extension', 'repeated'),
        (10, 'client_features', 'string', 'repeated'),
        (11, 'listening_addresses', 'Address', 'repeated'),
        (12, 'dynamic_parameters', 'map<string, xds.core.v3.ContextParams>', ''),
    ],
    'envoy.config.core.v3.Locality': [
        (1, 'region', 'string', ''),
        (2, 'zone', 'string', ''),
        (3, 'sub_zone', 'string', ''),
    ],
    'envoy.config.core.v3.Extension': [
        (1, 'name', 'string', ''),
        (2, 'category', 'string', ''),
        (3, 'type_descriptor', 'string', ''),
        (4, 'version', 'BuildVersion', ''),
        (5, 'disabled', 'bool', ''),
    ],
}

# Tabulated fields our .proto files leave out on purpose, because the reference does not give the
# type they refer to (so their wire type is unknown). A decoder keeps them as unknown fields.
NOT_MODELLED = {
    ('agentgateway.dev.resource.AIBackend.Provider', 'provider_preset'): 'ProviderPreset not tabulated',
    ('envoy.service.discovery.v3.ResourceName', 'dynamic_parameter_constraints'): 'type not tabulated',
    ('envoy.service.discovery.v3.Resource', 'metadata'): 'Metadata not tabulated',
    ('envoy.config.core.v3.Node', 'user_agent_build_version'): 'BuildVersion not tabulated',
    ('envoy.config.core.v3.Node', 'listening_addresses'): 'deprecated; Address not tabulated',
    ('envoy.config.core.v3.Node', 'dynamic_parameters'): 'ContextParams not tabulated',
    ('envoy.config.core.v3.Extension', 'version'): 'BuildVersion not tabulated',
}

CONTRACT = {}
CONTRACT.update(AGW)
CONTRACT.update(ENVOY)

# Messages the translator and the xDS server emit: the samples must exercise every tabulated field.
CORE = [
    'agentgateway.dev.resource.Bind',
    'agentgateway.dev.resource.Listener',
    'agentgateway.dev.resource.ListenerName',
    'agentgateway.dev.resource.ResourceName',
    'agentgateway.dev.resource.TypedResourceName',
    'agentgateway.dev.resource.TLSConfig',
    'agentgateway.dev.resource.Route',
    'agentgateway.dev.resource.RouteName',
    'agentgateway.dev.resource.TCPRoute',
    'agentgateway.dev.resource.RouteMatch',
    'agentgateway.dev.resource.PathMatch',
    'agentgateway.dev.resource.HeaderMatch',
    'agentgateway.dev.resource.QueryMatch',
    'agentgateway.dev.resource.MethodMatch',
    'agentgateway.dev.resource.RouteBackend',
    'agentgateway.dev.resource.BackendReference',
    'agentgateway.dev.resource.BackendReference.Service',
    'agentgateway.dev.resource.BackendReference.Inline',
    'agentgateway.dev.resource.HeaderModifier',
    'agentgateway.dev.resource.Header',
    'agentgateway.dev.resource.RequestRedirect',
    'agentgateway.dev.resource.UrlRewrite',
    'agentgateway.dev.resource.RequestMirrors',
    'agentgateway.dev.resource.RequestMirrors.Mirror',
    'agentgateway.dev.resource.DirectResponse',
    'agentgateway.dev.resource.ExpressionHeader',
    'agentgateway.dev.resource.CORS',
    'agentgateway.dev.resource.Timeout',
    'agentgateway.dev.resource.Retry',
    'agentgateway.dev.resource.Delay',
    'agentgateway.dev.resource.StaticBackend',
    'agentgateway.dev.resource.ModelRouterBackend',
    'agentgateway.dev.resource.AwsBackend',
    'agentgateway.dev.resource.AwsAgentCoreBackend',
    'agentgateway.dev.resource.MCPBackend',
    'agentgateway.dev.resource.MCPTarget',
    'agentgateway.dev.resource.AIBackend',
    'agentgateway.dev.resource.AIBackend.ProviderGroup',
    'agentgateway.dev.resource.AIBackend.HostOverride',
    'agentgateway.dev.resource.Policy',
    'agentgateway.dev.resource.ConditionalPolicies',
    'agentgateway.dev.resource.ConditionalPolicy',
    'agentgateway.dev.resource.PolicyTarget',
    'agentgateway.dev.resource.PolicyTarget.GatewayTarget',
    'agentgateway.dev.resource.PolicyTarget.RouteTarget',
    'agentgateway.dev.resource.PolicyTarget.BackendTarget',
    'agentgateway.dev.resource.PolicyTarget.ServiceTarget',
    'agentgateway.dev.resource.PolicyTarget.ListenerSetTarget',
    'agentgateway.dev.resource.TrafficPolicySpec.LocalRateLimit',
    'agentgateway.dev.resource.TrafficPolicySpec.LocalRateLimit.Rule',
    'agentgateway.dev.resource.TrafficPolicySpec.RBAC',
    'agentgateway.dev.resource.TrafficPolicySpec.JWT',
    'agentgateway.dev.resource.TrafficPolicySpec.JWTProvider',
    'agentgateway.dev.resource.BackendPolicySpec.BackendTLS',
    'agentgateway.dev.resource.BackendPolicySpec.BackendHTTP',
    'agentgateway.dev.resource.BackendPolicySpec.BackendTCP',
    'agentgateway.dev.resource.KeepaliveConfig',
    'agentgateway.dev.resource.Alpn',
    'agentgateway.dev.resource.Key',
    'agentgateway.dev.resource.FrontendPolicySpec.HTTP',
    'agentgateway.dev.resource.FrontendPolicySpec.TLS',
    'istio.workload.Address',
    'istio.workload.Service',
    'istio.workload.Workload',
    'istio.workload.LoadBalancing',
    'istio.workload.Locality',
    'istio.workload.PortList',
    'istio.workload.Port',
    'istio.workload.ApplicationTunnel',
    'istio.workload.GatewayAddress',
    'istio.workload.WeightedWaypoint',
    'istio.workload.NetworkAddress',
    'istio.workload.NamespacedHostname',
    'istio.workload.Extension',
    'envoy.service.discovery.v3.DeltaDiscoveryRequest',
    'envoy.service.discovery.v3.ResourceLocator',
    'envoy.service.discovery.v3.DeltaDiscoveryResponse',
    'envoy.service.discovery.v3.Resource',
    'envoy.service.discovery.v3.Resource.CacheControl',
    'envoy.config.core.v3.ControlPlane',
    'envoy.config.core.v3.Node',
    'envoy.config.core.v3.Locality',
    'envoy.config.core.v3.Extension',
    'google.rpc.Status',
]
# ... and these fields of partly exercised messages.
CORE_FIELDS = [
    ('agentgateway.dev.resource.Resource', f) for f in
    ('bind', 'listener', 'route', 'backend', 'policy', 'tcp_route')
] + [
    ('agentgateway.dev.resource.TrafficPolicySpec', f) for f in
    ('phase', 'timeout', 'retry', 'local_rate_limit', 'ext_authz', 'jwt', 'request_header_modifier',
     'response_header_modifier', 'request_redirect', 'url_rewrite', 'request_mirror',
     'direct_response', 'cors', 'delay')
] + [
    ('agentgateway.dev.resource.BackendPolicySpec', f) for f in
    ('a2a', 'backend_tls', 'auth', 'request_header_modifier', 'backend_http', 'backend_tcp',
     'authorization')
] + [
    ('agentgateway.dev.resource.Backend', f) for f in
    ('key', 'name', 'static', 'ai', 'mcp', 'dynamic', 'aws', 'model_router', 'inline_policies')
] + [
    ('agentgateway.dev.resource.FrontendPolicySpec', f) for f in ('tls', 'http')
] + [
    ('agentgateway.dev.resource.TrafficPolicySpec.ExternalAuth', f) for f in
    ('target', 'failure_mode', 'status_on_error', 'include_request_headers', 'include_request_body',
     'cache', 'inline_policies')
] + [
    ('agentgateway.dev.resource.AIBackend.Provider', f) for f in
    ('name', 'host_override', 'path_override', 'path_prefix', 'base_url', 'model_override',
     'provider_backend', 'openai', 'inline_policies')
]


# -------------------------------------------------------------------------------------------------
# 1. Schema

SCALARS = {
    'string': D.FieldDescriptor.TYPE_STRING, 'bytes': D.FieldDescriptor.TYPE_BYTES,
    'bool': D.FieldDescriptor.TYPE_BOOL, 'int32': D.FieldDescriptor.TYPE_INT32,
    'uint32': D.FieldDescriptor.TYPE_UINT32, 'int64': D.FieldDescriptor.TYPE_INT64,
    'uint64': D.FieldDescriptor.TYPE_UINT64, 'double': D.FieldDescriptor.TYPE_DOUBLE,
    'float': D.FieldDescriptor.TYPE_FLOAT,
}


def lookup(full):
    for find in (POOL.FindMessageTypeByName, POOL.FindEnumTypeByName):
        try:
            return find(full)
        except KeyError:
            pass
    return None


def resolve(scope, name):
    """The message or enum descriptor |name| denotes inside message |scope|, as protoc resolves."""
    if name.startswith('workload.'):
        name = 'istio.' + name
    if name.startswith(('google.', 'istio.', 'envoy.', 'xds.')):
        return lookup(name)
    parts = scope.split('.')
    while parts:
        d = lookup('.'.join(parts + [name]))
        if d is not None:
            return d
        parts.pop()
    return lookup(name)


def check_type(where, scope, fd, typ):
    m = re.match(r'^map<(\w+), (.+)>$', typ)
    if m:
        if fd.type != fd.TYPE_MESSAGE or not fd.message_type.GetOptions().map_entry:
            return fail(f'{where}: want a map, got type {fd.type}')
        kf = fd.message_type.fields_by_name['key']
        vf = fd.message_type.fields_by_name['value']
        if kf.type != SCALARS[m.group(1)]:
            fail(f'{where}: map key type {kf.type}')
        return check_type(where + '<value>', scope, vf, m.group(2))
    if typ in SCALARS:
        if fd.type != SCALARS[typ]:
            fail(f'{where}: type {fd.type}, want {typ}')
        return
    want = resolve(scope, typ)
    if want is None:
        return fail(f'{where}: type {typ} not found from scope {scope}')
    got = fd.message_type if fd.type == fd.TYPE_MESSAGE else fd.enum_type
    if got is None or got.full_name != want.full_name:
        fail(f'{where}: type {got.full_name if got else fd.type}, want {want.full_name}')


def check_label(where, fd, field, label):
    is_map = fd.type == fd.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry
    repeated = fd.label == fd.LABEL_REPEATED
    oneof = fd.containing_oneof.name if fd.containing_oneof else None
    if label == 'repeated':
        ok = repeated and not is_map
    elif label == 'optional':
        ok = not repeated and oneof == '_' + field
    elif label.startswith('oneof '):
        ok = not repeated and oneof == label[6:]
    else:
        ok = (repeated and is_map) or (not repeated and oneof is None)
    if not ok:
        fail(f'{where}: label/oneof {fd.label}/{oneof}, want "{label}"')


def reserved_of(desc):
    dp = descriptor_pb2.DescriptorProto()
    desc.CopyToProto(dp)
    nums = set()
    for r in dp.reserved_range:
        nums.update(range(r.start, r.end))
    return nums, set(dp.reserved_name)


def check_schema():
    fields = 0
    for full, rows in CONTRACT.items():
        try:
            desc = POOL.FindMessageTypeByName(full)
        except KeyError:
            fail(f'{full}: message missing from the .proto files')
            continue
        listed = set()
        for row in rows:
            if row[0] == 'reserved':
                nums, names = reserved_of(desc)
                for part in (p.strip() for p in row[1].split(',')):
                    if part.isdigit() and int(part) not in nums:
                        fail(f'{full}: number {part} is not reserved')
                    if not part.isdigit() and part not in names:
                        fail(f'{full}: name {part} is not reserved')
                continue
            num, field, typ, label = row
            where = f'{full}.{field} = {num}'
            if (full, field) in NOT_MODELLED:
                if field in desc.fields_by_name or num in desc.fields_by_number:
                    fail(f'{where}: listed as not modelled but present')
                continue
            fd = desc.fields_by_name.get(field)
            if fd is None:
                fail(f'{where}: field missing')
                continue
            listed.add(field)
            fields += 1
            if fd.number != num:
                fail(f'{where}: our number is {fd.number}')
            check_type(where, full, fd, typ)
            check_label(where, fd, field, label)
        extra = set(desc.fields_by_name) - listed
        if extra:
            fail(f'{full}: fields not in the reference table: {sorted(extra)}')
    for full, values in AGW_ENUMS.items():
        e = lookup(full)
        if e is None or not hasattr(e, 'values_by_name'):
            fail(f'enum {full}: missing')
            continue
        got = {v.name: v.number for v in e.values}
        if got != values:
            fail(f'enum {full}: {got}, want {values}')
    print(f'schema: {len(CONTRACT)} messages, {fields} fields, {len(AGW_ENUMS)} enums checked')


# -------------------------------------------------------------------------------------------------
# 2. Wire: a reader that knows only the wire format.

def varint(b, i):
    r = shift = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            return r, i


def raw_fields(b):
    out, i = [], 0
    while i < len(b):
        tag, i = varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f'wire type {wt}')
        out.append((num, wt, v))
    return out


WIRE_TYPE = {
    D.FieldDescriptor.TYPE_DOUBLE: 1, D.FieldDescriptor.TYPE_FLOAT: 5,
    D.FieldDescriptor.TYPE_INT64: 0, D.FieldDescriptor.TYPE_UINT64: 0,
    D.FieldDescriptor.TYPE_INT32: 0, D.FieldDescriptor.TYPE_UINT32: 0,
    D.FieldDescriptor.TYPE_BOOL: 0, D.FieldDescriptor.TYPE_ENUM: 0,
    D.FieldDescriptor.TYPE_STRING: 2, D.FieldDescriptor.TYPE_BYTES: 2,
    D.FieldDescriptor.TYPE_MESSAGE: 2,
}

COVERED = set()


def contract_number(full, fd):
    for row in CONTRACT.get(full, []):
        if row[0] != 'reserved' and row[1] == fd.name:
            COVERED.add((full, fd.name))
            return row[0]
    return fd.number  # a field the reference does not tabulate ([old] in resource.proto)


def walk(msg, data, path):
    raw = raw_fields(data)
    full = msg.DESCRIPTOR.full_name
    accounted = set()
    for fd, val in msg.ListFields():
        num = contract_number(full, fd)
        where = f'{path}.{fd.name}({num})'
        entries = [(wt, v) for n, wt, v in raw if n == num]
        accounted.add(num)
        if not entries:
            fail(f'{where}: decoder has it but field {num} is not on the wire')
            continue
        if fd.label == fd.LABEL_REPEATED:
            if fd.type == fd.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry:
                if len(entries) != len(val):
                    fail(f'{where}: {len(entries)} map entries on the wire, {len(val)} decoded')
                keys = []
                vfd = fd.message_type.fields_by_name['value']
                for wt, v in entries:
                    e = {n: x for n, _, x in raw_fields(v)}
                    key = e.get(1, b'').decode()
                    keys.append(key)
                    if vfd.type == vfd.TYPE_MESSAGE:
                        walk(val[key], e.get(2, b''), f'{where}[{key}]')
                if keys != sorted(keys, key=lambda k: k.encode()):
                    fail(f'{where}: map entries not in key order on the wire: {keys}')
            elif fd.type in (fd.TYPE_STRING, fd.TYPE_BYTES, fd.TYPE_MESSAGE):
                if len(entries) != len(val):
                    fail(f'{where}: {len(entries)} on the wire, {len(val)} decoded')
                for k, ((wt, v), sub) in enumerate(zip(entries, val)):
                    if wt != 2:
                        fail(f'{where}[{k}]: wire type {wt}')
                    elif fd.type == fd.TYPE_MESSAGE:
                        walk_message(sub, v, f'{where}[{k}]')
            elif len(entries) != 1 or entries[0][0] != 2:
                fail(f'{where}: repeated scalars must be one packed field')
        else:
            if len(entries) != 1:
                fail(f'{where}: {len(entries)} occurrences')
            wt, v = entries[0]
            if wt != WIRE_TYPE[fd.type]:
                fail(f'{where}: wire type {wt}, want {WIRE_TYPE[fd.type]}')
            elif fd.type == fd.TYPE_MESSAGE:
                walk_message(val, v, where)
    extra = sorted({n for n, _, _ in raw} - accounted)
    if extra:
        fail(f'{path} ({full}): field numbers {extra} on the wire but not decoded')


def walk_message(msg, data, path):
    walk(msg, data, path)
    if msg.DESCRIPTOR.full_name == 'google.protobuf.Any' and msg.type_url:
        name = msg.type_url.rsplit('/', 1)[-1]
        try:
            inner = message_class(name)()
        except KeyError:
            return
        inner.ParseFromString(msg.value)
        walk_message(inner, msg.value, f'{path}<{name}>')


# -------------------------------------------------------------------------------------------------
# 3. Values spelled out (beyond the JSON comparison).

HEX16 = re.compile(r'^[0-9a-f]{16}$')


def spot_checks(stem, m):
    checks = {
        'bind': lambda: (m.bind.port == 443 and m.bind.key == '443/default/gw'
                         and m.bind.protocol == resource_pb2.Bind.TLS
                         and m.bind.mode == resource_pb2.Bind.INTERNAL),
        'listener': lambda: (m.listener.tls.HasField('root') and m.listener.tls.root == b''
                             and m.listener.tls.min_version == resource_pb2.TLSConfig.TLS_V1_2
                             and m.listener.name.listener_set.namespace == 'apps'),
        'route': lambda: (m.route.key == 'default/r.00.http'
                          and m.route.name.HasField('rule_name')
                          and [x.path.WhichOneof('kind') for x in m.route.matches]
                          == ['path_prefix', 'exact', 'regex']
                          and m.route.backends[2].backend.inline.port == 443
                          and m.route.traffic_policies[0].timeout.backend_request.nanos == 500000000),
        'policy_gateway': lambda: (m.policy.target.gateway.port == 80
                                   and m.policy.traffic.local_rate_limit.rules[0].max_tokens
                                   == 5000000000
                                   and m.policy.inheritance == resource_pb2.Policy.OVERRIDE),
        'policy_frontend_http': lambda: (m.policy.frontend.http.HasField('http2_max_header_size')
                                         and m.policy.frontend.http.http2_max_header_size == 0),
        'policy_listener_set': lambda: (m.policy.frontend.tls.HasField('alpn')
                                        and len(m.policy.frontend.tls.alpn.protocols) == 0),
        'workload': lambda: (m.workload.addresses[0] == bytes([10, 0, 0, 5])
                             and len(m.workload.addresses[1]) == 16
                             and m.workload.capacity.value == 5
                             and sorted(m.workload.services) == ['apps/api.apps.svc.cluster.local',
                                                                 'default/svc.default.svc.cluster.local']),
        'service': lambda: (m.service.addresses[0].address == bytes([10, 96, 0, 10])
                            and m.service.visibility == workload_pb2.Service.NAMESPACE),
        'delta_request': lambda: (m.node.metadata.fields['role'].string_value == 'default~gw'
                                  and m.initial_resource_versions['bind/80/default/gw']
                                  == '0123456789abcdef'
                                  and m.error_detail.code == 13),
        'delta_response': lambda: (m.resources[0].name == 'bind/80/default/gw'
                                   and HEX16.match(m.resources[0].version)
                                   and m.resources[0].resource.type_url
                                   == 'type.googleapis.com/agentgateway.dev.resource.Resource'
                                   and m.resources[1].name == 'listener/default/gw.https'),
    }
    if stem in checks and not checks[stem]():
        fail(f'{stem}: spelled-out values differ')


def check_samples():
    index = os.path.join(SAMPLES, 'samples.txt')
    n = 0
    for line in open(index):
        stem, full = line.split()
        data = open(os.path.join(SAMPLES, stem + '.bin'), 'rb').read()
        m = message_class(full)()
        m.ParseFromString(data)
        walk_message(m, data, stem)
        want = json.load(open(os.path.join(SAMPLES, stem + '.json')))
        got = json_format.MessageToDict(m)
        if got != want:
            fail(f'{stem}: decoded values differ from what C encoded:\n'
                 f'  python: {json.dumps(got, sort_keys=True)}\n'
                 f'  C:      {json.dumps(want, sort_keys=True)}')
        spot_checks(stem, m)
        n += 1
    if n < 20:
        fail(f'only {n} samples in {index}')
    print(f'wire: {n} samples decoded and walked')


def check_coverage():
    missing = []
    for full in CORE:
        for row in CONTRACT[full]:
            if row[0] == 'reserved' or (full, row[1]) in NOT_MODELLED:
                continue
            if (full, row[1]) not in COVERED:
                missing.append(f'{full}.{row[1]}')
    for full, field in CORE_FIELDS:
        if (full, field) not in COVERED:
            missing.append(f'{full}.{field}')
    if missing:
        fail('core fields no sample puts on the wire: ' + ', '.join(missing))
    total = sum(1 for f, rows in CONTRACT.items() for r in rows if r[0] != 'reserved')
    print(f'coverage: {len(COVERED)} of {total} tabulated fields seen on the wire')


check_schema()
check_samples()
check_coverage()
if FAILURES:
    print(f'{len(FAILURES)} failure(s)')
    sys.exit(1)
print('ok')
