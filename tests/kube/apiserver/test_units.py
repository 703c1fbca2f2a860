#!/usr/bin/python3
"""Unit tests of the test API server's pure parts: patches, schema handling, selectors, protobuf
decoding; plus seeded random inputs that must only ever raise the module's own error."""

import json
import os
import random
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import k8spb                         # noqa: E402
import labelsel                      # noqa: E402
import patch                         # noqa: E402
import schema                        # noqa: E402
import resources                     # noqa: E402
import cel                           # noqa: E402
import openapi                       # noqa: E402
import tables                        # noqa: E402


class PatchTest(unittest.TestCase):
    def test_merge_patch_rfc7386(self):
        self.assertEqual(patch.merge_patch({'a': 'b', 'c': {'d': 'e', 'f': 'g'}},
                                           {'a': 'z', 'c': {'f': None}}),
                         {'a': 'z', 'c': {'d': 'e'}})
        self.assertEqual(patch.merge_patch({'a': [1, 2]}, {'a': [3]}), {'a': [3]})
        self.assertEqual(patch.merge_patch({'a': 1}, {'b': {'c': None}}), {'a': 1, 'b': {}})

    def test_json_patch_rfc6902(self):
        doc = {'a': {'b': [1, 2, 3]}, 'x': 1}
        out = patch.json_patch(doc, [
            {'op': 'add', 'path': '/a/b/1', 'value': 9},
            {'op': 'add', 'path': '/a/b/-', 'value': 4},
            {'op': 'remove', 'path': '/x'},
            {'op': 'replace', 'path': '/a/b/0', 'value': 0},
            {'op': 'copy', 'from': '/a/b', 'path': '/c'},
            {'op': 'move', 'from': '/c', 'path': '/d'},
            {'op': 'test', 'path': '/d/1', 'value': 9},
            {'op': 'add', 'path': '/e~1f', 'value': True}])
        self.assertEqual(out, {'a': {'b': [0, 9, 2, 3, 4]}, 'd': [0, 9, 2, 3, 4], 'e/f': True})
        self.assertEqual(doc['x'], 1)        # the input is not modified
        for bad in ([{'op': 'remove', 'path': '/nope'}], [{'op': 'test', 'path': '/x', 'value': 2}],
                    [{'op': 'frob', 'path': '/x'}], {'op': 'add'}, [{'op': 'add', 'path': 'x'}]):
            with self.assertRaises(patch.PatchError):
                patch.json_patch(doc, bad)

    def test_strategic_merge_lists_by_key(self):
        live = {'spec': {'containers': [{'name': 'a', 'image': '1', 'env': [{'name': 'X',
                                                                            'value': '1'}]},
                                        {'name': 'b', 'image': '2'}],
                         'ports': [{'port': 80, 'name': 'http'}],
                         'args': ['x', 'y']},
                'metadata': {'finalizers': ['f1']}}
        p = {'spec': {'containers': [{'name': 'a', 'env': [{'name': 'Y', 'value': '2'}]},
                                     {'name': 'b', '$patch': 'delete'},
                                     {'name': 'c', 'image': '3'}],
                      'ports': [{'port': 443, 'name': 'https'}],
                      'args': ['z']},
             'metadata': {'finalizers': ['f2']}}
        out = patch.strategic_merge(live, p)
        self.assertEqual(out['spec']['containers'],
                         [{'name': 'a', 'image': '1', 'env': [{'name': 'X', 'value': '1'},
                                                               {'name': 'Y', 'value': '2'}]},
                          {'name': 'c', 'image': '3'}])
        self.assertEqual([x['port'] for x in out['spec']['ports']], [80, 443])
        self.assertEqual(out['spec']['args'], ['z'])          # scalar lists are replaced
        self.assertEqual(out['metadata']['finalizers'], ['f1', 'f2'])
        out = patch.strategic_merge(live, {'spec': {'$patch': 'replace', 'args': []}})
        self.assertEqual(out['spec'], {'args': []})
        out = patch.strategic_merge(live, {'metadata': {'$deleteFromPrimitiveList/finalizers':
                                                        ['f1']}})
        self.assertEqual(out['metadata']['finalizers'], [])
        with self.assertRaises(patch.PatchError):
            patch.strategic_merge(live, {'spec': {'containers': [{'image': 'no-name'}]}})


class SchemaTest(unittest.TestCase):
    S = {'type': 'object', 'properties': {
        'spec': {'type': 'object', 'required': ['name'], 'properties': {
            'name': {'type': 'string', 'pattern': '^[a-z]+$', 'maxLength': 5},
            'mode': {'type': 'string', 'enum': ['A', 'B'], 'default': 'A'},
            'port': {'type': 'integer', 'minimum': 1, 'maximum': 10},
            'list': {'type': 'array', 'maxItems': 2, 'items': {'type': 'string'}},
            'free': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True},
            'map': {'type': 'object', 'additionalProperties': {'type': 'integer'}},
            'either': {'type': 'object', 'properties': {'a': {'type': 'string'},
                                                        'b': {'type': 'string'}},
                       'oneOf': [{'required': ['a']}, {'required': ['b']}]},
            'ios': {'x-kubernetes-int-or-string': True},
        }}}}

    def check(self, spec):
        obj = {'apiVersion': 'x/v1', 'kind': 'K', 'metadata': {'name': 'n'}, 'spec': spec}
        dropped = []
        schema.prune(obj, self.S, dropped=dropped)
        schema.apply_defaults(obj, self.S)
        return obj, [e.full() for e in schema.validate(obj, self.S)], dropped

    def test_valid_object_is_pruned_and_defaulted(self):
        obj, errs, dropped = self.check({'name': 'abc', 'port': 3, 'free': {'any': [1]},
                                         'map': {'k': 1}, 'extra': 1, 'either': {'a': 'x'},
                                         'ios': '50%'})
        self.assertEqual(errs, [])
        self.assertEqual(dropped, ['spec.extra'])
        self.assertEqual(obj['spec']['mode'], 'A')
        self.assertEqual(obj['spec']['free'], {'any': [1]})
        self.assertIn('metadata', obj)

    def test_errors_name_the_field_like_the_api_server(self):
        _, errs, _ = self.check({'name': 'ABCDEFG', 'mode': 'C', 'port': 11, 'list': ['a', 'b',
                                                                                    'c'],
                                 'map': {'k': 'x'}, 'either': {'a': 'x', 'b': 'y'}, 'ios': 1.5})
        self.assertIn('spec.name: Too long: may not be more than 5 bytes', errs)
        self.assertIn("spec.name: Invalid value: \"ABCDEFG\": spec.name in body should match "
                      "'^[a-z]+$'", errs)
        self.assertIn('spec.mode: Unsupported value: "C": supported values: "A", "B"', errs)
        self.assertIn('spec.port: Invalid value: 11: spec.port in body should be less than or '
                      'equal to 10', errs)
        self.assertIn('spec.list: Too many: 3: must have at most 2 items', errs)
        self.assertIn('spec.map.k: Invalid value: "string": spec.map.k in body must be of type '
                      'integer: "string"', errs)
        self.assertTrue(any('oneOf' in e for e in errs), errs)
        self.assertTrue(any(e.startswith('spec.ios:') for e in errs), errs)
        _, errs, _ = self.check({})
        self.assertEqual(errs, ['spec.name: Required value'])

    def test_crd_resource_versions(self):
        crd = {'metadata': {'name': 'things.example.com'},
               'spec': {'group': 'example.com', 'scope': 'Namespaced',
                        'names': {'plural': 'things', 'kind': 'Thing'},
                        'versions': [{'name': 'v1alpha1', 'served': True, 'storage': False},
                                     {'name': 'v1', 'served': True, 'storage': True,
                                      'subresources': {'status': {}}},
                                     {'name': 'v1beta2', 'served': True, 'storage': False},
                                     {'name': 'v2', 'served': False, 'storage': False}]}}
        r = resources.crd_resource(crd)
        self.assertEqual(r.versions, ['v1', 'v1beta2', 'v1alpha1'])
        self.assertTrue(r.status and r.namespaced and r.generation)
        self.assertEqual(r.storage_version, 'v1')


class SelectorTest(unittest.TestCase):
    def test_labels(self):
        reqs = labelsel.parse_labels('app=web, tier in (a,b),!legacy,env!=prod,release')
        self.assertTrue(labelsel.labels_match(reqs, {'app': 'web', 'tier': 'a', 'release': '1'}))
        self.assertFalse(labelsel.labels_match(reqs, {'app': 'web', 'tier': 'c', 'release': '1'}))
        self.assertFalse(labelsel.labels_match(reqs, {'app': 'web', 'tier': 'a', 'release': '1',
                                                      'legacy': 'y'}))
        self.assertFalse(labelsel.labels_match(reqs, {'app': 'web', 'tier': 'a', 'release': '1',
                                                      'env': 'prod'}))
        self.assertTrue(labelsel.labels_match(labelsel.parse_labels('x notin (1)'), {}))
        self.assertEqual(labelsel.parse_labels(''), [])
        for bad in ('a in ()', 'a=(', 'Bad Key=1', 'a=b c', ',', 'a in (x'):
            with self.assertRaises(labelsel.SelectorError, msg=bad):
                labelsel.parse_labels(bad)

    def test_fields(self):
        reqs = labelsel.parse_fields('metadata.name=a,metadata.namespace!=b',
                                     {'metadata.name', 'metadata.namespace'})
        self.assertTrue(labelsel.fields_match(reqs, {'metadata': {'name': 'a',
                                                                  'namespace': 'c'}}))
        self.assertFalse(labelsel.fields_match(reqs, {'metadata': {'name': 'a',
                                                                   'namespace': 'b'}}))
        with self.assertRaises(labelsel.SelectorError):
            labelsel.parse_fields('spec.x=1', {'metadata.name'})


def pb_field(num, payload):
    return openapi._pb_field(num, payload)


class ProtobufTest(unittest.TestCase):
    def envelope(self, api_version, kind, raw):
        tm = pb_field(1, api_version.encode()) + pb_field(2, kind.encode())
        return k8spb.MAGIC + pb_field(1, tm) + pb_field(2, raw)

    def test_configmap(self):
        md = pb_field(1, b'c1') + pb_field(3, b'ns') + \
            pb_field(11, pb_field(1, b'app') + pb_field(2, b'web'))
        raw = pb_field(1, md) + pb_field(2, pb_field(1, b'k') + pb_field(2, b'v'))
        obj = k8spb.decode_object(self.envelope('v1', 'ConfigMap', raw))
        self.assertEqual(obj, {'apiVersion': 'v1', 'kind': 'ConfigMap',
                               'metadata': {'name': 'c1', 'namespace': 'ns',
                                            'labels': {'app': 'web'}},
                               'data': {'k': 'v'}})

    def test_token_request(self):
        spec = pb_field(1, b'a1') + pb_field(1, b'a2') + bytes([4 << 3, 0x90, 0x1c])
        body = self.envelope('authentication.k8s.io/v1', 'TokenRequest', pb_field(2, spec))
        self.assertEqual(k8spb.token_request(body),
                         {'spec': {'audiences': ['a1', 'a2'], 'expirationSeconds': 3600}})

    def test_errors(self):
        for bad in (b'', b'k8s', b'json', k8spb.MAGIC + b'\x0a\x05ab',
                    self.envelope('v1', 'Pod', b'')):
            with self.assertRaises(k8spb.PbError):
                k8spb.decode_object(bad)


class CelTest(unittest.TestCase):
    def test_rules(self):
        one_of = '[has(self.a),has(self.b)].filter(x, x == true).size() == 1'
        last = ('self.filter(e, !has(e.condition)).size() <= 1 && (!self.exists(e, '
                '!has(e.condition)) || !has(self[size(self) - 1].condition))')
        cases = [
            (one_of, {'a': 1}, True), (one_of, {'a': 1, 'b': 2}, False), (one_of, {}, False),
            ("duration(self) >= duration('100ms')", '50ms', False),
            ("duration(self) >= duration('100ms')", '1m30s', True),
            ("matches(self, '^([0-9]{1,5}(h|m|s|ms)){1,4}$')", '10s', True),
            ("self.matches('^[a-z]+$')", 'A', False),
            ('self.all(p1, self.exists_one(p2, p1.name == p2.name))',
             [{'name': 'a'}, {'name': 'a'}], False),
            (last, [{'condition': 'x'}, {}], True), (last, [{}, {'condition': 'x'}], False),
            ("self.t.all(t, t.kind in ['Gateway', 'ListenerSet'])", {'t': [{'kind': 'Gateway'}]},
             True),
            ("!has(self.v) || self.v == 'v1' ? true : has(self.d)", {'v': 'v2'}, False),
            ('self.min <= self.max', {'min': 1, 'max': 2}, True),
            ("!has(self.p) || self.p.startsWith('/')", {'p': 'x'}, False),
            ("(size(self.g) == 0 && self.k == 'Service') ? has(self.port) : true",
             {'g': '', 'k': 'Service'}, False),
            ('-self.x + 2 * 3 % 4 == 1', {'x': 1}, True),
        ]
        for rule, value, want in cases:
            self.assertEqual(cel.check(rule, value), want, rule)
        with self.assertRaises(cel.EvalError):
            cel.check('self.min <= self.max', {'min': 1})
        for rule in ('self == oldSelf', 'self.foo(1)', 'self.x ~ 1', "timestamp('x') > 1"):
            with self.assertRaises(cel.Unsupported, msg=rule):
                cel.check(rule, {'x': 1})

    def test_schema_reports_rules_like_the_api_server(self):
        sch = {'type': 'object', 'properties': {'spec': {
            'type': 'object', 'properties': {'a': {'type': 'string'}, 'b': {'type': 'string'}},
            'x-kubernetes-validations': [
                {'rule': '[has(self.a),has(self.b)].filter(x, x == true).size() == 1',
                 'message': 'exactly one of a or b'},
                {'rule': "!has(self.a) || self.a != 'bad'", 'fieldPath': '.a',
                 'reason': 'FieldValueForbidden', 'message': 'a may not be bad'},
                {'rule': 'self.a == oldSelf.a'}]}}}
        errs = [e.full() for e in schema.validate({'spec': {}}, sch)]
        self.assertEqual(errs, ['spec: Invalid value: "object": exactly one of a or b'])
        errs = [e.full() for e in schema.validate({'spec': {'a': 'bad'}}, sch)]
        self.assertEqual(errs, ['spec.a: Forbidden: a may not be bad'])


class TableTest(unittest.TestCase):
    def test_jsonpath_subset(self):
        o = {'spec': {'h': ['a', 'b']}, 'status': {
            'conditions': [{'type': 'Accepted', 'status': 'True'},
                           {'type': 'Programmed', 'status': 'False'}],
            'addresses': [{'value': '1.2.3.4'}, {'value': '5.6.7.8'}]}}
        self.assertEqual(tables.jsonpath(o, '.status.conditions[?(@.type=="Programmed")].status'),
                         ['False'])
        self.assertEqual(tables.jsonpath(o, '.status.addresses[*].value'), ['1.2.3.4', '5.6.7.8'])
        self.assertEqual(tables.jsonpath(o, '.status.addresses[1].value'), ['5.6.7.8'])
        self.assertEqual(tables.jsonpath(o, '.spec.h'), [['a', 'b']])
        self.assertEqual(tables.jsonpath(o, '.spec.missing'), [])
        self.assertEqual(tables.jsonpath(o, 'garbage'), [])
        self.assertEqual(tables._cell(tables.jsonpath(o, '.spec.h'), 'string'), '["a","b"]')

    def test_human_duration(self):
        self.assertEqual([tables.human_duration(s) for s in
                          (5, 119, 150, 600, 3600, 4000, 30000, 100000, 800000)],
                         ['5s', '119s', '2m30s', '10m', '60m', '66m', '8h', '27h', '9d'])


class RandomInputTest(unittest.TestCase):
    """Seeded random inputs: only the module's own error may come out."""

    def test_random(self):
        rnd = random.Random(6)
        alphabet = 'ab=!,() in notin.-/_x1'
        for _ in range(3000):
            text = ''.join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20)))
            try:
                labelsel.parse_labels(text)
            except labelsel.SelectorError:
                pass
            body = k8spb.MAGIC + bytes(rnd.randint(0, 255) for _ in range(rnd.randint(0, 40)))
            try:
                k8spb.decode_object(body)
            except k8spb.PbError:
                pass
            doc = {'a': [1, {'b': 2}], 'c': 'd'}
            ops = [{'op': rnd.choice(['add', 'remove', 'replace', 'move', 'copy', 'test']),
                    'path': rnd.choice(['', '/a', '/a/0', '/a/1/b', '/a/-', '/c', '/x/y', '/a/9']),
                    'from': rnd.choice(['/a', '/c', '/nope']), 'value': rnd.choice([1, 'v', None])}
                   for _ in range(rnd.randint(1, 4))]
            try:
                patch.json_patch(doc, ops)
            except patch.PatchError:
                pass
            self.assertEqual(doc, {'a': [1, {'b': 2}], 'c': 'd'})
            p = json.loads(json.dumps({'a': rnd.choice([None, [], [{'name': 'x'}], {'$patch':
                                                                                   'delete'}]),
                                       'containers': rnd.choice([[{'name': 'q'}], [{'x': 1}]])}))
            try:
                patch.strategic_merge(doc, p)
            except patch.PatchError:
                pass


if __name__ == '__main__':
    unittest.main(verbosity=2)
