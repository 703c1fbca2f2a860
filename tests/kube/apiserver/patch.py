"""The four PATCH flavours the API server accepts, applied to plain JSON values.

- merge_patch: RFC 7386 (application/merge-patch+json), exact.
- json_patch: RFC 6902 (application/json-patch+json), exact (add, remove, replace, move, copy,
  test).
- strategic_merge: application/strategic-merge-patch+json. Merge-patch semantics, except that the
  well-known lists of built-in kinds are merged by key (MERGE_KEYS) and the directives `$patch:
  replace|delete|merge`, `$deleteFromPrimitiveList/<f>`, `$setElementOrder/<f>` and `$retainKeys`
  are understood. Approximate: the real server takes the keys from the Go struct tags of each type;
  here a list is merged by key when its field name is in MERGE_KEYS and its items carry that key.
- apply_patch: server-side apply (application/apply-patch+yaml), approximated as a strategic merge
  of the applied configuration into the live object (no managedFields, so no ownership conflicts and
  no removal of fields a manager stopped applying).
"""

import copy


class PatchError(ValueError):
    """A patch the API server would refuse (400 BadRequest or 422 Invalid, see .code)."""

    def __init__(self, message, code=422):
        super().__init__(message)
        self.code = code


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --- RFC 6902 -----------------------------------------------------------------------------------

def _pointer(path):
    if path == '':
        return []
    if not path.startswith('/'):
        raise PatchError('invalid JSON pointer "%s": must start with /' % path, 400)
    return [p.replace('~1', '/').replace('~0', '~') for p in path[1:].split('/')]


def _walk(doc, tokens, path):
    cur = doc
    for tok in tokens:
        if isinstance(cur, dict):
            if tok not in cur:
                raise PatchError('doc is missing path: "%s": missing value' % path)
            cur = cur[tok]
        elif isinstance(cur, list):
            try:
                idx = int(tok)
            except ValueError:
                raise PatchError('doc is missing path: "%s": invalid index %s' % (path, tok))
            if idx < 0 or idx >= len(cur):
                raise PatchError('doc is missing path: "%s": index out of range' % path)
            cur = cur[idx]
        else:
            raise PatchError('doc is missing path: "%s": missing value' % path)
    return cur


def _add(doc, tokens, value, path):
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == '-':
            parent.append(value)
        else:
            try:
                idx = int(last)
            except ValueError:
                raise PatchError('add operation does not apply: doc is missing path: "%s"' % path)
            if idx < 0 or idx > len(parent):
                raise PatchError('add operation does not apply: doc is missing path: "%s"' % path)
            parent.insert(idx, value)
    else:
        raise PatchError('add operation does not apply: doc is missing path: "%s"' % path)
    return doc


def _remove(doc, tokens, path):
    if not tokens:
        raise PatchError('cannot remove the whole document')
    parent = _walk(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError('remove operation does not apply: doc is missing path: "%s"' % path)
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            idx = int(last)
        except ValueError:
            raise PatchError('remove operation does not apply: doc is missing path: "%s"' % path)
        if idx < 0 or idx >= len(parent):
            raise PatchError('remove operation does not apply: doc is missing path: "%s"' % path)
        return parent.pop(idx)
    raise PatchError('remove operation does not apply: doc is missing path: "%s"' % path)


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise PatchError('json patch must be a list of operations', 400)
    doc = copy.deepcopy(target)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get('op'), str):
            raise PatchError('json patch operation %d: missing "op"' % i, 400)
        kind = op['op']
        path = op.get('path')
        if not isinstance(path, str):
            raise PatchError('json patch operation %d: missing "path"' % i, 400)
        tokens = _pointer(path)
        if kind == 'add':
            if 'value' not in op:
                raise PatchError('json patch operation %d: missing "value"' % i, 400)
            doc = _add(doc, tokens, copy.deepcopy(op['value']), path)
        elif kind == 'remove':
            _remove(doc, tokens, path)
        elif kind == 'replace':
            if 'value' not in op:
                raise PatchError('json patch operation %d: missing "value"' % i, 400)
            if not tokens:
                doc = copy.deepcopy(op['value'])
                continue
            _walk(doc, tokens, path)  # must exist
            parent = _walk(doc, tokens[:-1], path)
            if isinstance(parent, list):
                parent[int(tokens[-1])] = copy.deepcopy(op['value'])
            else:
                parent[tokens[-1]] = copy.deepcopy(op['value'])
        elif kind in ('move', 'copy'):
            src = op.get('from')
            if not isinstance(src, str):
                raise PatchError('json patch operation %d: missing "from"' % i, 400)
            stokens = _pointer(src)
            if kind == 'move':
                value = _remove(doc, stokens, src)
            else:
                value = copy.deepcopy(_walk(doc, stokens, src))
            doc = _add(doc, tokens, value, path)
        elif kind == 'test':
            if _walk(doc, tokens, path) != op.get('value'):
                raise PatchError('testing value %s failed: test failed' % path)
        else:
            raise PatchError('Unexpected kind: %s' % kind, 400)
    return doc


# --- strategic merge ----------------------------------------------------------------------------

# field name -> merge key, for the lists built-in kinds merge by key. "ports" depends on the item:
# container ports carry containerPort, service ports carry port.
MERGE_KEYS = {
    'containers': 'name', 'initContainers': 'name', 'ephemeralContainers': 'name',
    'env': 'name', 'volumes': 'name', 'volumeMounts': 'mountPath', 'volumeDevices': 'devicePath',
    'conditions': 'type', 'imagePullSecrets': 'name', 'hostAliases': 'ip',
    'ownerReferences': 'uid', 'topologySpreadConstraints': 'topologyKey',
    'resourceClaims': 'name', 'subsets': None, 'ports': ('containerPort', 'port'),
}
# lists of scalars that strategic merge treats as sets
SET_LISTS = {'finalizers'}


def _list_key(field, items):
    key = MERGE_KEYS.get(field)
    if isinstance(key, tuple):
        for k in key:
            if all(isinstance(x, dict) and k in x for x in items) and items:
                return k
        return None
    return key


def strategic_merge(target, patch, field=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get('$patch') == 'replace':
        out = {k: copy.deepcopy(v) for k, v in patch.items() if k != '$patch'}
        return out
    if patch.get('$patch') == 'delete':
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get('$retainKeys')
    for key, value in patch.items():
        if key in ('$patch', '$retainKeys') or key.startswith('$setElementOrder/'):
            continue
        if key.startswith('$deleteFromPrimitiveList/'):
            name = key.split('/', 1)[1]
            if isinstance(out.get(name), list) and isinstance(value, list):
                out[name] = [x for x in out[name] if x not in value]
            continue
        if value is None:
            out.pop(key, None)
            continue
        cur = out.get(key)
        if isinstance(value, list):
            out[key] = _merge_list(key, cur if isinstance(cur, list) else [], value)
        elif isinstance(value, dict):
            merged = strategic_merge(cur, value, key)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        for k in list(out.keys()):
            if k not in retain:
                del out[k]
    return out


def _merge_list(field, cur, patch):
    if field in SET_LISTS and all(not isinstance(x, (dict, list)) for x in patch):
        out = list(cur)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    if any(isinstance(x, dict) and x.get('$patch') == 'replace' for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and '$patch' in x)]
    key = _list_key(field, [x for x in patch if isinstance(x, dict) and '$patch' not in x] or
                    [x for x in patch if isinstance(x, dict)])
    if key is None or not all(isinstance(x, dict) for x in patch):
        return copy.deepcopy(patch)
    out = [copy.deepcopy(x) for x in cur]
    for item in patch:
        if key not in item:
            raise PatchError('map: %s does not contain declared merge key: %s' % (item, key))
        idx = next((i for i, x in enumerate(out)
                    if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get('$patch') == 'delete':
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if k != '$patch'})
        else:
            out[idx] = strategic_merge(out[idx], item, field)
    return out


def apply_patch(live, applied):
    """Server-side apply, approximated: see the module comment."""
    return strategic_merge(live, applied)
