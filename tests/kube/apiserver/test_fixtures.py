#!/usr/bin/python3
"""The Gateway API CRD fixture against real objects: every Gateway API object of the translate
golden inputs (derived from the Gateway API conformance manifests) and of the quickstart must be
accepted by the test API server with strict field validation (dry run), in the version it is
written in; and deploy/'s agentgateway.dev CRDs, when present, must be accepted as CRDs."""

import glob
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yaml                        # noqa: E402
from harness import ApiServer, HERE  # noqa: E402

SRC = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
# the groups of crds/gateway-api.yaml: what this test checks (agentgateway.dev goldens include
# objects their CRDs refuse on purpose, to test translate)
GROUPS = {'gateway.networking.k8s.io', 'gateway.networking.x-k8s.io'}
# golden inputs that a real API server refuses too (they test translate, not admission)
REFUSED = {'own-listeners': 'an upper-case listener hostname, outside the Gateway API pattern',
           'own-listenersets': 'a Gateway with no listeners of its own (gw-sets-only), which the '
                               'standard CRD refuses (spec.listeners is required)'}


class FixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ApiServer().start()
        cls.srv.kubectl('apply', '-f', os.path.join(HERE, 'crds', 'gateway-api.yaml'))
        crds = sorted(glob.glob(os.path.join(SRC, 'deploy', 'crds', '*.yaml')))
        for f in crds:
            cls.srv.kubectl('apply', '-f', f)
        cls.plurals = {}

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, 'apiserver exited with %r' % rc

    def plural(self, api_version, kind):
        """kind -> (plural, namespaced) from discovery, as a client does."""
        key = (api_version, kind)
        if key not in self.plurals:
            path = '/api/v1' if api_version == 'v1' else '/apis/' + api_version
            st, body = self.srv.json('GET', path)
            self.assertEqual(st, 200, '%s: %s' % (path, body))
            for r in body['resources']:
                if '/' not in r['name']:
                    self.plurals[(api_version, r['kind'])] = (r['name'], r['namespaced'])
        return self.plurals.get(key)

    def create(self, obj, dry_run=True):
        av, kind = obj['apiVersion'], obj['kind']
        found = self.plural(av, kind)
        self.assertIsNotNone(found, 'no resource for %s %s' % (av, kind))
        plural, namespaced = found
        base = '/api/v1' if av == 'v1' else '/apis/' + av
        ns = (obj.get('metadata') or {}).get('namespace') or 'default'
        path = '%s%s/%s?fieldValidation=Strict%s' % (
            base, '/namespaces/' + ns if namespaced else '', plural,
            '&dryRun=All' if dry_run else '')
        return self.srv.json('POST', path, obj)

    def test_golden_inputs_and_quickstart(self):
        files = sorted(glob.glob(os.path.join(SRC, 'tests', 'translate', 'golden', '*', 'in.yaml')))
        files += sorted(glob.glob(os.path.join(SRC, 'examples', 'quickstart', '*.yaml')))
        self.assertGreater(len(files), 10)
        checked = 0
        for f in files:
            case = os.path.basename(os.path.dirname(f))
            with open(f) as fh:
                docs = [d for d in yaml.safe_load_all(fh) if isinstance(d, dict)]
            # namespaces first, for real (dry-run creates need them to exist)
            for d in docs:
                ns = (d.get('metadata') or {}).get('namespace')
                if ns:
                    self.srv.json('POST', '/api/v1/namespaces', {'metadata': {'name': ns}})
            failures = []
            for d in docs:
                if d.get('apiVersion', '').split('/')[0] not in GROUPS:
                    continue        # core, apps and agentgateway.dev kinds: not this fixture's
                st, body = self.create(d)
                checked += 1
                if st not in (201, 409):
                    failures.append('%s %s: %d %s' % (d['kind'], d['metadata'].get('name'), st,
                                                      body.get('message')))
            if case in REFUSED:
                self.assertTrue(failures, '%s: expected a refusal (%s)' % (case, REFUSED[case]))
            else:
                self.assertEqual(failures, [], f)
        self.assertGreater(checked, 80)


if __name__ == '__main__':
    unittest.main(verbosity=2)
