#!/usr/bin/python3
"""Writes gateway-api.yaml next to this file: Gateway API CRDs for the test API server.

Written for krtgate's tests, not copied from the Gateway API project: the kinds, groups, versions,
scopes and short names are Gateway API's (facts), the schemas are deliberately shallow. Each schema
states the top-level required fields and a few well-known limits and defaults (so validation and
defaulting are exercised), and lets everything deeper through with x-kubernetes-preserve-unknown-
fields. Every version has the status subresource. Regenerate with:
    /usr/bin/python3 tests/kube/apiserver/crds/gen_gateway_api.py
"""

import os

import yaml

GW = 'gateway.networking.k8s.io'
GWX = 'gateway.networking.x-k8s.io'
BUNDLE = 'v1.3.0-krtgate-test'

ANY = {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}


def obj(props=None, required=None, **kw):
    s = {'type': 'object'}
    if props is not None:
        s['properties'] = props
    if required:
        s['required'] = required
    s.update(kw)
    return s


def arr(items, **kw):
    s = {'type': 'array', 'items': items}
    s.update(kw)
    return s


def string(**kw):
    s = {'type': 'string'}
    s.update(kw)
    return s


NAME = string(minLength=1, maxLength=253)
PORT = {'type': 'integer', 'format': 'int32', 'minimum': 1, 'maximum': 65535}
HOSTNAME = string(minLength=1, maxLength=253,
                  pattern=r'^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?'
                          r'(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')

PARENT_REF = obj({
    'group': string(default=GW, maxLength=253),
    'kind': string(default='Gateway', minLength=1, maxLength=63),
    'namespace': string(minLength=1, maxLength=63),
    'name': NAME,
    'sectionName': string(minLength=1, maxLength=253),
    'port': PORT,
}, required=['name'])

BACKEND_REF = obj({
    'group': string(default='', maxLength=253),
    'kind': string(default='Service', minLength=1, maxLength=63),
    'name': NAME,
    'namespace': string(minLength=1, maxLength=63),
    'port': PORT,
    'weight': {'type': 'integer', 'format': 'int32', 'default': 1, 'minimum': 0,
               'maximum': 1000000},
    'filters': arr(ANY, maxItems=16),
}, required=['name'])

STATUS_ANY = {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}

CONDITION = obj({
    'type': string(maxLength=316),
    'status': string(enum=['True', 'False', 'Unknown']),
    'observedGeneration': {'type': 'integer', 'format': 'int64', 'minimum': 0},
    'lastTransitionTime': string(format='date-time'),
    'reason': string(maxLength=1024, minLength=1),
    'message': string(maxLength=32768),
}, required=['type', 'status', 'lastTransitionTime', 'reason', 'message'])

ROUTE_STATUS = obj({
    'parents': arr(obj({
        'parentRef': PARENT_REF,
        'controllerName': string(minLength=1, maxLength=253),
        'conditions': arr(CONDITION, maxItems=8, **{'x-kubernetes-list-type': 'map',
                                                    'x-kubernetes-list-map-keys': ['type']}),
    }, required=['parentRef', 'controllerName']), maxItems=32),
}, required=['parents'])


def route_spec(rules_items, hostnames=True):
    props = {
        'parentRefs': arr(PARENT_REF, maxItems=32),
        'rules': arr(rules_items, maxItems=16, minItems=1 if not hostnames else 0),
    }
    if hostnames:
        props['hostnames'] = arr(HOSTNAME, maxItems=16)
    if not hostnames:
        return obj(props, required=['rules'])
    return obj(props)


HTTP_RULE = obj({
    'name': string(maxLength=253),
    'matches': arr(ANY, maxItems=64, default=[{'path': {'type': 'PathPrefix', 'value': '/'}}]),
    'filters': arr(ANY, maxItems=16),
    'backendRefs': arr(BACKEND_REF, maxItems=16),
    'timeouts': ANY,
    'retry': ANY,
    'sessionPersistence': ANY,
}, **{'x-kubernetes-preserve-unknown-fields': True})

GRPC_RULE = obj({
    'name': string(maxLength=253),
    'matches': arr(ANY, maxItems=64),
    'filters': arr(ANY, maxItems=16),
    'backendRefs': arr(BACKEND_REF, maxItems=16),
}, **{'x-kubernetes-preserve-unknown-fields': True})

L4_RULE = obj({
    'name': string(maxLength=253),
    'backendRefs': arr(BACKEND_REF, maxItems=16, minItems=1),
})

LISTENER = obj({
    'name': string(minLength=1, maxLength=253),
    'hostname': HOSTNAME,
    'port': PORT,
    'protocol': string(minLength=1, maxLength=255),
    'tls': ANY,
    'allowedRoutes': ANY,
}, required=['name', 'port', 'protocol'])

GATEWAY_SPEC = obj({
    'gatewayClassName': NAME,
    'listeners': arr(LISTENER, minItems=1, maxItems=64,
                     **{'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name']}),
    'addresses': arr(obj({'type': string(default='IPAddress'), 'value': string(maxLength=253)}),
                     maxItems=16),
    'infrastructure': ANY,
    'backendTLS': ANY,
    'allowedListeners': ANY,
}, required=['gatewayClassName', 'listeners'])

GATEWAY_STATUS = obj({
    'addresses': arr(obj({'type': string(), 'value': string(maxLength=253)},
                         required=['value']), maxItems=16),
    'conditions': arr(CONDITION, maxItems=8),
    'listeners': arr(obj({
        'name': string(),
        'supportedKinds': arr(ANY, maxItems=8),
        'attachedRoutes': {'type': 'integer', 'format': 'int32'},
        'conditions': arr(CONDITION, maxItems=8),
    }, required=['name', 'supportedKinds', 'attachedRoutes', 'conditions']), maxItems=64),
}, default={'conditions': [
    {'type': 'Accepted', 'status': 'Unknown', 'reason': 'Pending',
     'message': 'Waiting for controller',
     'lastTransitionTime': '1970-01-01T00:00:00Z'},
    {'type': 'Programmed', 'status': 'Unknown', 'reason': 'Pending',
     'message': 'Waiting for controller', 'lastTransitionTime': '1970-01-01T00:00:00Z'}]})

GATEWAYCLASS_SPEC = obj({
    'controllerName': string(minLength=1, maxLength=253,
                             pattern=r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*'
                                     r'[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&\'()*+,;=:]+$'),
    'parametersRef': obj({'group': string(maxLength=253), 'kind': string(minLength=1,
                                                                          maxLength=63),
                          'name': NAME, 'namespace': string(minLength=1, maxLength=63)},
                         required=['group', 'kind', 'name']),
    'description': string(maxLength=64),
}, required=['controllerName'])

GATEWAYCLASS_STATUS = obj({
    'conditions': arr(CONDITION, maxItems=8),
    'supportedFeatures': arr(ANY, maxItems=64),
}, default={'conditions': [
    {'type': 'Accepted', 'status': 'Unknown', 'reason': 'Pending',
     'message': 'Waiting for controller',
     'lastTransitionTime': '1970-01-01T00:00:00Z'}]})

REFERENCEGRANT_SPEC = obj({
    'from': arr(obj({'group': string(maxLength=253), 'kind': string(minLength=1, maxLength=63),
                     'namespace': string(minLength=1, maxLength=63)},
                    required=['group', 'kind', 'namespace']), minItems=1, maxItems=16),
    'to': arr(obj({'group': string(maxLength=253), 'kind': string(minLength=1, maxLength=63),
                   'name': string(minLength=1, maxLength=253)},
                  required=['group', 'kind']), minItems=1, maxItems=16),
}, required=['from', 'to'])

BACKENDTLS_SPEC = obj({
    'targetRefs': arr(obj({'group': string(maxLength=253), 'kind': string(minLength=1,
                                                                           maxLength=63),
                           'name': NAME, 'sectionName': string(maxLength=253)},
                          required=['group', 'kind', 'name']), minItems=1, maxItems=16),
    'validation': obj({'caCertificateRefs': arr(ANY, maxItems=8),
                       'wellKnownCACertificates': string(enum=['System']),
                       'hostname': HOSTNAME,
                       'subjectAltNames': arr(ANY, maxItems=5)}, required=['hostname']),
    'options': obj(additionalProperties=string(maxLength=4096), maxProperties=16),
}, required=['targetRefs', 'validation'])

POLICY_STATUS = obj({'ancestors': arr(ANY, maxItems=16)}, required=['ancestors'])


def kind_schema(spec, status):
    return obj({'apiVersion': string(), 'kind': string(), 'metadata': obj(),
                'spec': spec, 'status': status}, required=['spec'])


# kind, plural, scope, group, [(version, storage)], short names, categories, spec, status
KINDS = [
    ('GatewayClass', 'gatewayclasses', 'Cluster', GW, [('v1', True), ('v1beta1', False)], ['gc'],
     ['gateway-api'], GATEWAYCLASS_SPEC, GATEWAYCLASS_STATUS),
    ('Gateway', 'gateways', 'Namespaced', GW, [('v1', True), ('v1beta1', False)], ['gtw'],
     ['gateway-api'], GATEWAY_SPEC, GATEWAY_STATUS),
    ('HTTPRoute', 'httproutes', 'Namespaced', GW, [('v1', True), ('v1beta1', False)], [],
     ['gateway-api'], route_spec(HTTP_RULE), ROUTE_STATUS),
    ('GRPCRoute', 'grpcroutes', 'Namespaced', GW, [('v1', True)], [], ['gateway-api'],
     route_spec(GRPC_RULE), ROUTE_STATUS),
    ('TCPRoute', 'tcproutes', 'Namespaced', GW, [('v1alpha2', True)], [], ['gateway-api'],
     route_spec(L4_RULE, hostnames=False), ROUTE_STATUS),
    ('UDPRoute', 'udproutes', 'Namespaced', GW, [('v1alpha2', True)], [], ['gateway-api'],
     route_spec(L4_RULE, hostnames=False), ROUTE_STATUS),
    ('TLSRoute', 'tlsroutes', 'Namespaced', GW,
     [('v1', True), ('v1alpha3', False), ('v1alpha2', False)], [],
     ['gateway-api'], route_spec(L4_RULE), ROUTE_STATUS),
    ('ReferenceGrant', 'referencegrants', 'Namespaced', GW, [('v1beta1', True), ('v1', False)],
     ['refgrant'], ['gateway-api'], REFERENCEGRANT_SPEC, None),
    ('BackendTLSPolicy', 'backendtlspolicies', 'Namespaced', GW,
     [('v1', True), ('v1alpha3', False)], ['btlspolicy'], ['gateway-api'], BACKENDTLS_SPEC,
     POLICY_STATUS),
    ('ListenerSet', 'listenersets', 'Namespaced', GW, [('v1', True)], ['lset'], ['gateway-api'],
     ANY, STATUS_ANY),
    ('XListenerSet', 'xlistenersets', 'Namespaced', GWX, [('v1alpha1', True)], ['lset'],
     ['gateway-api'], ANY, STATUS_ANY),
    ('XBackendTrafficPolicy', 'xbackendtrafficpolicies', 'Namespaced', GWX, [('v1alpha1', True)],
     ['xbtrafficpolicy'], ['gateway-api'], ANY, POLICY_STATUS),
]


def _cond(t):
    return '.status.conditions[?(@.type=="%s")].status' % t


# the columns `kubectl get` shows (the same ones as Gateway API's own CRDs)
PRINTER_COLUMNS = {
    'GatewayClass': [{'name': 'Controller', 'type': 'string', 'jsonPath': '.spec.controllerName'},
                     {'name': 'Accepted', 'type': 'string', 'jsonPath': _cond('Accepted')}],
    'Gateway': [{'name': 'Class', 'type': 'string', 'jsonPath': '.spec.gatewayClassName'},
                {'name': 'Address', 'type': 'string', 'jsonPath': '.status.addresses[*].value'},
                {'name': 'Programmed', 'type': 'string', 'jsonPath': _cond('Programmed')}],
    'HTTPRoute': [{'name': 'Hostnames', 'type': 'string', 'jsonPath': '.spec.hostnames'}],
    'GRPCRoute': [{'name': 'Hostnames', 'type': 'string', 'jsonPath': '.spec.hostnames'}],
}


def crd(kind, plural, scope, group, versions, short, cats, spec, status):
    vs = []
    for name, storage in versions:
        props_status = status if status is not None else None
        sch = kind_schema(spec, props_status) if props_status is not None else \
            obj({'apiVersion': string(), 'kind': string(), 'metadata': obj(), 'spec': spec},
                required=['spec'])
        v = {'name': name, 'served': True, 'storage': storage, 'schema': {'openAPIV3Schema': sch}}
        if status is not None:
            v['subresources'] = {'status': {}}
        v['additionalPrinterColumns'] = PRINTER_COLUMNS.get(kind, []) + [
            {'name': 'Age', 'type': 'date', 'jsonPath': '.metadata.creationTimestamp'}]
        vs.append(v)
    names = {'kind': kind, 'listKind': kind + 'List', 'plural': plural,
             'singular': kind.lower(), 'categories': cats}
    if short:
        names['shortNames'] = short
    return {
        'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
        'metadata': {'name': '%s.%s' % (plural, group),
                     'annotations': {'gateway.networking.k8s.io/bundle-version': BUNDLE,
                                     'gateway.networking.k8s.io/channel': 'experimental'}},
        'spec': {'group': group, 'names': names, 'scope': scope, 'versions': vs},
    }


class NoAliases(yaml.SafeDumper):
    """Shared sub-schemas are written out in full: no &anchors / *aliases in the output."""

    def ignore_aliases(self, data):
        return True


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    docs = [crd(*k) for k in KINDS]
    with open(os.path.join(here, 'gateway-api.yaml'), 'w') as f:
        f.write('# Gateway API CRDs for krtgate\'s test API server (shallow schemas, status\n'
                '# subresource on). Generated by gen_gateway_api.py in this directory: edit that,\n'
                '# not this file.\n')
        yaml.dump_all(docs, f, Dumper=NoAliases, sort_keys=False, explicit_start=True, width=100)


if __name__ == '__main__':
    main()
