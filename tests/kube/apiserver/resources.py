"""The kinds the test API server serves: built-in ones (a table) and CRD-defined ones (registered at
run time from CustomResourceDefinition objects), plus the discovery documents built from them."""

import re

ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']


class Resource:
    """One served resource (group + plural), in one or more versions."""

    def __init__(self, group, versions, plural, kind, namespaced, singular=None, short=(),
                 categories=(), status=False, generation=False, verbs=None, virtual=False,
                 field_paths=(), crd=None, schemas=None, storage_version=None, scale=False,
                 token=False):
        self.group = group
        self.versions = list(versions)          # served versions, preferred first
        self.plural = plural
        self.kind = kind
        self.list_kind = kind + 'List'
        self.namespaced = namespaced
        self.singular = singular or kind.lower()
        self.short = list(short)
        self.categories = list(categories)
        self.status = status                    # has the /status subresource
        self.generation = generation            # keeps metadata.generation
        self.verbs = list(verbs or ALL_VERBS)
        self.virtual = virtual                  # create-only review kinds: nothing is stored
        self.field_paths = {'metadata.name', 'metadata.namespace'} | set(field_paths)
        self.crd = crd                          # name of the CRD that defines it, or None
        self.schemas = schemas or {}            # version -> openAPIV3Schema (CRDs)
        self.storage_version = storage_version or self.versions[0]
        self.scale = scale
        self.token = token                      # serviceaccounts/token (TokenRequest)

    @property
    def key(self):
        return (self.group, self.plural)

    def api_version(self, version):
        return version if self.group == '' else '%s/%s' % (self.group, version)

    def qualified(self):
        """"leases.coordination.k8s.io" / "pods": how errors name the resource."""
        return self.plural if self.group == '' else '%s.%s' % (self.plural, self.group)

    def kind_qualified(self):
        """"Lease.coordination.k8s.io" / "Pod": how 422 messages name the kind."""
        return self.kind if self.group == '' else '%s.%s' % (self.kind, self.group)


def _r(group, version, plural, kind, namespaced, **kw):
    return Resource(group, [version], plural, kind, namespaced, **kw)


READ_CREATE = ['create']


def builtin_resources():
    pod_fields = ('spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName',
                  'spec.serviceAccountName', 'status.phase', 'status.podIP',
                  'status.nominatedNodeName')
    return [
        _r('', 'v1', 'namespaces', 'Namespace', False, short=['ns'], status=True,
           field_paths=('status.phase',)),
        _r('', 'v1', 'nodes', 'Node', False, short=['no'], status=True,
           field_paths=('spec.unschedulable',)),
        _r('', 'v1', 'pods', 'Pod', True, short=['po'], categories=['all'], status=True,
           field_paths=pod_fields),
        _r('', 'v1', 'services', 'Service', True, short=['svc'], categories=['all'], status=True),
        _r('', 'v1', 'endpoints', 'Endpoints', True, singular='endpoints', short=['ep']),
        _r('', 'v1', 'configmaps', 'ConfigMap', True, short=['cm']),
        _r('', 'v1', 'secrets', 'Secret', True, field_paths=('type',)),
        _r('', 'v1', 'serviceaccounts', 'ServiceAccount', True, short=['sa'], token=True),
        _r('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', True, short=['pvc'],
           status=True),
        _r('', 'v1', 'resourcequotas', 'ResourceQuota', True, short=['quota'], status=True),
        _r('', 'v1', 'limitranges', 'LimitRange', True, short=['limits']),
        _r('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', True, short=['netpol']),
        _r('networking.k8s.io', 'v1', 'ingresses', 'Ingress', True, short=['ing'], status=True,
           generation=True),
        _r('networking.k8s.io', 'v1', 'ingressclasses', 'IngressClass', False),
        _r('scheduling.k8s.io', 'v1', 'priorityclasses', 'PriorityClass', False, short=['pc']),
        _r('', 'v1', 'events', 'Event', True, short=['ev'],
           field_paths=('involvedObject.kind', 'involvedObject.name', 'involvedObject.namespace',
                        'involvedObject.uid', 'reason', 'type', 'source')),
        _r('events.k8s.io', 'v1', 'events', 'Event', True, short=['ev'],
           field_paths=('regarding.kind', 'regarding.name', 'regarding.namespace', 'reason',
                        'type', 'reportingController')),
        _r('apps', 'v1', 'deployments', 'Deployment', True, short=['deploy'], categories=['all'],
           status=True, generation=True, scale=True),
        _r('apps', 'v1', 'replicasets', 'ReplicaSet', True, short=['rs'], categories=['all'],
           status=True, generation=True, scale=True),
        _r('apps', 'v1', 'daemonsets', 'DaemonSet', True, short=['ds'], categories=['all'],
           status=True, generation=True),
        _r('apps', 'v1', 'statefulsets', 'StatefulSet', True, short=['sts'], categories=['all'],
           status=True, generation=True, scale=True),
        _r('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', True),
        _r('coordination.k8s.io', 'v1', 'leases', 'Lease', True),
        _r('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', True, short=['pdb'],
           status=True, generation=True),
        _r('autoscaling', 'v2', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', True,
           short=['hpa'], categories=['all'], status=True),
        _r('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', True),
        _r('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', True),
        _r('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', False),
        _r('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', False),
        _r('authentication.k8s.io', 'v1', 'tokenreviews', 'TokenReview', False,
           verbs=READ_CREATE, virtual=True),
        _r('authentication.k8s.io', 'v1', 'selfsubjectreviews', 'SelfSubjectReview', False,
           verbs=READ_CREATE, virtual=True),
        _r('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview',
           False, verbs=READ_CREATE, virtual=True),
        _r('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews', 'SelfSubjectRulesReview',
           False, verbs=READ_CREATE, virtual=True),
        _r('authorization.k8s.io', 'v1', 'subjectaccessreviews', 'SubjectAccessReview', False,
           verbs=READ_CREATE, virtual=True),
        _r('authorization.k8s.io', 'v1', 'localsubjectaccessreviews', 'LocalSubjectAccessReview',
           True, verbs=READ_CREATE, virtual=True),
        _r('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition',
           False, short=['crd', 'crds'], status=True, generation=True),
    ]


_VERSION_RE = re.compile(r'^v(\d+)(?:(alpha|beta)(\d+))?$')


def version_priority(v):
    """Sort key: GA before beta before alpha, higher numbers first, others last by name
    (the API server's kube-aware version ordering)."""
    m = _VERSION_RE.match(v)
    if not m:
        return (3, 0, 0, v)
    major = int(m.group(1))
    if m.group(2) is None:
        return (0, -major, 0, v)
    return (1 if m.group(2) == 'beta' else 2, -major, -int(m.group(3)), v)


def crd_resource(crd):
    """A Resource for a CRD object, or raises ValueError naming what is wrong."""
    spec = crd.get('spec') or {}
    names = spec.get('names') or {}
    group = spec.get('group')
    plural = names.get('plural')
    kind = names.get('kind')
    scope = spec.get('scope')
    versions = [v for v in (spec.get('versions') or []) if isinstance(v, dict)]
    served = [v for v in versions if v.get('served')]
    served.sort(key=lambda v: version_priority(v.get('name', '')))
    storage = [v.get('name') for v in versions if v.get('storage')]
    status = {}
    schemas = {}
    for v in versions:
        sub = v.get('subresources') or {}
        status[v.get('name')] = 'status' in sub
        sch = (v.get('schema') or {}).get('openAPIV3Schema')
        if isinstance(sch, dict):
            schemas[v.get('name')] = sch
    return Resource(group, [v['name'] for v in served], plural, kind, scope == 'Namespaced',
                    singular=names.get('singular') or kind.lower(),
                    short=names.get('shortNames') or [], categories=names.get('categories') or [],
                    status=any(status.values()), generation=True, crd=crd['metadata']['name'],
                    schemas=schemas, storage_version=storage[0] if storage else None,
                    field_paths=[f.get('jsonPath', '').lstrip('.')
                                 for f in (spec.get('selectableFields') or [])
                                 if isinstance(f, dict)])


def resource_list(group, version, resources):
    """APIResourceList for /api/v1 or /apis/G/V."""
    out = []
    for r in sorted(resources, key=lambda r: r.plural):
        entry = {'name': r.plural, 'singularName': r.singular, 'namespaced': r.namespaced,
                 'kind': r.kind, 'verbs': r.verbs}
        if r.short:
            entry['shortNames'] = r.short
        if r.categories:
            entry['categories'] = r.categories
        out.append(entry)
        if r.status:
            out.append({'name': r.plural + '/status', 'singularName': '',
                        'namespaced': r.namespaced, 'kind': r.kind,
                        'verbs': ['get', 'patch', 'update']})
        if r.scale:
            out.append({'name': r.plural + '/scale', 'singularName': '', 'namespaced': r.namespaced,
                        'group': 'autoscaling', 'version': 'v1', 'kind': 'Scale',
                        'verbs': ['get', 'patch', 'update']})
        if r.token:
            out.append({'name': r.plural + '/token', 'singularName': '', 'namespaced': True,
                        'group': 'authentication.k8s.io', 'version': 'v1', 'kind': 'TokenRequest',
                        'verbs': ['create']})
    gv = version if group == '' else '%s/%s' % (group, version)
    return {'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': gv, 'resources': out}
