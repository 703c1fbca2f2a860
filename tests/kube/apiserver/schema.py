"""CRD openAPIV3Schema handling: pruning, defaulting and validation of custom resources.

Follows what the API server does for structural schemas, in its order: prune unknown fields (and
nulls of non-nullable fields), apply `default`s, then validate. Validation covers type, required,
enum, properties / additionalProperties, items, minimum / maximum (with exclusive*), minLength /
maxLength, minItems / maxItems, minProperties / maxProperties, pattern, oneOf / anyOf / allOf / not,
nullable, x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields,
x-kubernetes-embedded-resource, x-kubernetes-list-type set / map uniqueness, and
x-kubernetes-validations with the CEL subset of cel.py (rules it cannot judge are skipped). Not
done: `format` (only checked for int32 range), messageExpression, transition rules (oldSelf).

Errors are FieldError tuples shaped like the API server's field errors; invalid_status() in
store.py turns them into the 422 Status.
"""

import copy
import json
import re

import cel


class FieldError:
    def __init__(self, reason, field, detail, value=None, show_value=True):
        self.reason = reason      # FieldValueRequired, FieldValueInvalid, ...
        self.field = field
        self.detail = detail
        self.value = value
        self.show_value = show_value

    def message(self):
        """The cause message (without the field)."""
        if self.reason == 'FieldValueRequired':
            return 'Required value' + (': ' + self.detail if self.detail else '')
        if self.reason == 'FieldValueNotSupported':
            return 'Unsupported value: %s: %s' % (fmt_value(self.value), self.detail)
        if self.reason == 'FieldValueTooMany':
            return 'Too many: %s: %s' % (fmt_value(self.value), self.detail)
        if self.reason == 'FieldValueTooLong':
            return 'Too long: ' + self.detail
        if self.reason == 'FieldValueDuplicate':
            return 'Duplicate value: %s' % fmt_value(self.value)
        if self.reason == 'FieldValueForbidden':
            return 'Forbidden: ' + self.detail
        if self.show_value:
            return 'Invalid value: %s: %s' % (fmt_value(self.value), self.detail)
        return 'Invalid value: ' + self.detail

    def full(self):
        return '%s: %s' % (self.field, self.message()) if self.field else self.message()


def fmt_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return 'null'
    if isinstance(v, dict):
        return '"object"'
    if isinstance(v, list):
        return '"array"'
    return json.dumps(str(v))


def _type_of(v):
    if isinstance(v, bool):
        return 'boolean'
    if isinstance(v, int):
        return 'integer'
    if isinstance(v, float):
        return 'number'
    if isinstance(v, str):
        return 'string'
    if isinstance(v, list):
        return 'array'
    if isinstance(v, dict):
        return 'object'
    return 'null'


def _type_ok(t, v):
    if t == 'object':
        return isinstance(v, dict)
    if t == 'array':
        return isinstance(v, list)
    if t == 'string':
        return isinstance(v, str)
    if t == 'integer':
        return isinstance(v, int) and not isinstance(v, bool) or \
            (isinstance(v, float) and v.is_integer())
    if t == 'number':
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == 'boolean':
        return isinstance(v, bool)
    return True


def _join(path, key):
    return key if not path else path + '.' + key


# --- pruning ------------------------------------------------------------------------------------

ROOT_KEEP = ('apiVersion', 'kind', 'metadata')


def prune(obj, schema, root=True, path='', dropped=None):
    """Drops fields the schema does not know (in place); returns obj. The paths of dropped
    fields are appended to dropped (a list) when given."""
    if not isinstance(schema, dict):
        return obj
    if isinstance(obj, dict):
        if schema.get('x-kubernetes-preserve-unknown-fields') and 'properties' not in schema and \
                'additionalProperties' not in schema:
            return obj
        props = schema.get('properties')
        addl = schema.get('additionalProperties')
        keep_unknown = schema.get('x-kubernetes-preserve-unknown-fields') or addl is True
        embedded = root or schema.get('x-kubernetes-embedded-resource')
        for key in list(obj.keys()):
            if embedded and key in ROOT_KEEP:
                continue
            sub = props.get(key) if isinstance(props, dict) else None
            if sub is None and isinstance(addl, dict):
                sub = addl
            value = obj[key]
            if sub is None:
                if not keep_unknown:
                    del obj[key]
                    if dropped is not None:
                        dropped.append(_join(path, key))
                continue
            if value is None and not sub.get('nullable'):
                del obj[key]
                continue
            prune(value, sub, False, _join(path, key), dropped)
    elif isinstance(obj, list):
        items = schema.get('items')
        if isinstance(items, dict):
            for i, v in enumerate(obj):
                prune(v, items, False, '%s[%d]' % (path, i), dropped)
    return obj


# --- defaulting ---------------------------------------------------------------------------------

def apply_defaults(obj, schema):
    if not isinstance(schema, dict):
        return obj
    if isinstance(obj, dict):
        props = schema.get('properties')
        if isinstance(props, dict):
            for key, sub in props.items():
                if key not in obj and isinstance(sub, dict) and 'default' in sub:
                    obj[key] = copy.deepcopy(sub['default'])
                if key in obj:
                    apply_defaults(obj[key], sub)
        addl = schema.get('additionalProperties')
        if isinstance(addl, dict):
            for key in obj:
                if not (isinstance(props, dict) and key in props):
                    apply_defaults(obj[key], addl)
    elif isinstance(obj, list):
        items = schema.get('items')
        if isinstance(items, dict):
            for v in obj:
                apply_defaults(v, items)
    return obj


# --- validation ---------------------------------------------------------------------------------

_pattern_cache = {}


def _regex(p):
    r = _pattern_cache.get(p)
    if r is None:
        try:
            r = re.compile(p)
        except re.error:
            r = re.compile(re.escape(p))
        _pattern_cache[p] = r
    return r


def validate(obj, schema, path='', errs=None, root=True, cel_errs=None):
    """Appends FieldErrors for obj against schema to errs (a list); returns errs. CEL rule
    errors come after the schema errors, as from the API server."""
    top = cel_errs is None
    if errs is None:
        errs = []
    if top:
        cel_errs = []
    _validate(obj, schema, path, errs, root, cel_errs)
    if top:
        errs.extend(cel_errs)
    return errs


def _validate(obj, schema, path, errs, root, cel_errs):
    if not isinstance(schema, dict):
        return errs
    if obj is None:
        if not schema.get('nullable') and schema.get('type'):
            errs.append(FieldError('FieldValueTypeInvalid', path,
                                   '%s in body must be of type %s: "null"' % (path, schema['type']),
                                   'null'))
        return errs
    t = schema.get('type')
    if schema.get('x-kubernetes-int-or-string'):
        if not (isinstance(obj, str) or (isinstance(obj, int) and not isinstance(obj, bool))):
            errs.append(FieldError('FieldValueTypeInvalid', path,
                                   '%s in body must be of type integer,string: "%s"'
                                   % (path, _type_of(obj)), _type_of(obj)))
            return errs
    elif t and not _type_ok(t, obj):
        errs.append(FieldError('FieldValueTypeInvalid', path,
                               '%s in body must be of type %s: "%s"' % (path, t, _type_of(obj)),
                               _type_of(obj)))
        return errs

    # CEL rules: pre-order, reported after every schema error (as the API server does)
    for rule in schema.get('x-kubernetes-validations') or []:
        if not isinstance(rule, dict) or not isinstance(rule.get('rule'), str):
            continue
        try:
            ok, detail = cel.check(rule['rule'], obj), None
        except cel.Unsupported:
            continue                    # not judged here: accepted
        except cel.EvalError as e:
            ok, detail = False, '%s evaluating rule: %s' % (e, rule['rule'])
        if not ok:
            field = path
            fp = rule.get('fieldPath')
            if isinstance(fp, str) and fp:
                field = path + fp if fp.startswith('[') else _join(path, fp.lstrip('.'))
            cel_errs.append(FieldError(rule.get('reason') or 'FieldValueInvalid', field,
                                       detail or rule.get('message') or
                                       'failed rule: %s' % rule['rule'], obj))

    if 'enum' in schema and isinstance(schema['enum'], list) and obj not in schema['enum']:
        errs.append(FieldError('FieldValueNotSupported', path,
                               'supported values: ' +
                               ', '.join(fmt_value(e) for e in schema['enum']),
                               obj))

    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        mn, mx = schema.get('minimum'), schema.get('maximum')
        if isinstance(mn, (int, float)):
            if schema.get('exclusiveMinimum') is True and obj <= mn:
                errs.append(FieldError('FieldValueInvalid', path,
                                       '%s in body should be greater than %s' % (path, mn), obj))
            elif obj < mn:
                errs.append(FieldError('FieldValueInvalid', path,
                                       '%s in body should be greater than or equal to %s'
                                       % (path, mn), obj))
        if isinstance(mx, (int, float)):
            if schema.get('exclusiveMaximum') is True and obj >= mx:
                errs.append(FieldError('FieldValueInvalid', path,
                                       '%s in body should be less than %s' % (path, mx), obj))
            elif obj > mx:
                errs.append(FieldError('FieldValueInvalid', path,
                                       '%s in body should be less than or equal to %s'
                                       % (path, mx), obj))
        fmt = schema.get('format')
        if fmt == 'int32' and not (-2**31 <= obj < 2**31):
            errs.append(FieldError('FieldValueInvalid', path,
                                   '%s in body must be of type int32' % path, obj))

    if isinstance(obj, str):
        mxl, mnl = schema.get('maxLength'), schema.get('minLength')
        if isinstance(mxl, int) and len(obj) > mxl:
            errs.append(FieldError('FieldValueTooLong', path,
                                   'may not be more than %d bytes' % mxl, obj))
        if isinstance(mnl, int) and len(obj) < mnl:
            errs.append(FieldError('FieldValueInvalid', path,
                                   '%s in body should be at least %d chars long' % (path, mnl),
                                   obj))
        pat = schema.get('pattern')
        if isinstance(pat, str) and not _regex(pat).search(obj):
            errs.append(FieldError('FieldValueInvalid', path,
                                   "%s in body should match '%s'" % (path, pat), obj))

    if isinstance(obj, list):
        mxi, mni = schema.get('maxItems'), schema.get('minItems')
        if isinstance(mxi, int) and len(obj) > mxi:
            errs.append(FieldError('FieldValueTooMany', path,
                                   'must have at most %d items' % mxi, len(obj)))
        if isinstance(mni, int) and len(obj) < mni:
            errs.append(FieldError('FieldValueInvalid', path,
                                   '%s in body should have at least %d items' % (path, mni),
                                   len(obj)))
        items = schema.get('items')
        if isinstance(items, dict):
            for i, v in enumerate(obj):
                _validate(v, items, '%s[%d]' % (path, i), errs, False, cel_errs)
        lt = schema.get('x-kubernetes-list-type')
        if lt == 'set':
            seen = []
            for i, v in enumerate(obj):
                if v in seen:
                    errs.append(FieldError('FieldValueDuplicate', '%s[%d]' % (path, i), '', v))
                seen.append(v)
        elif lt == 'map':
            keys = schema.get('x-kubernetes-list-map-keys') or []
            seen = []
            for i, v in enumerate(obj):
                if isinstance(v, dict):
                    k = tuple(v.get(x) for x in keys)
                    if k in seen:
                        errs.append(FieldError('FieldValueDuplicate', '%s[%d]' % (path, i), '',
                                               dict(zip(keys, k))))
                    seen.append(k)

    if isinstance(obj, dict):
        for req in schema.get('required') or []:
            if req not in obj:
                errs.append(FieldError('FieldValueRequired', _join(path, req), ''))
        props = schema.get('properties') if isinstance(schema.get('properties'), dict) else {}
        addl = schema.get('additionalProperties')
        for key, value in obj.items():
            if (root or schema.get('x-kubernetes-embedded-resource')) and key in ROOT_KEEP:
                continue
            sub = props.get(key)
            if sub is None and isinstance(addl, dict):
                sub = addl
            if sub is not None:
                _validate(value, sub, _join(path, key), errs, False, cel_errs)
        mxp, mnp = schema.get('maxProperties'), schema.get('minProperties')
        if isinstance(mxp, int) and len(obj) > mxp:
            errs.append(FieldError('FieldValueTooMany', path,
                                   'must have at most %d items' % mxp, len(obj)))
        if isinstance(mnp, int) and len(obj) < mnp:
            errs.append(FieldError('FieldValueInvalid', path,
                                   '%s in body should have at least %d properties' % (path, mnp),
                                   len(obj)))

    # Combinators: in structural schemas they only add constraints (value validation).
    for sub in schema.get('allOf') or []:
        _validate(obj, sub, path, errs, False, cel_errs)
    if isinstance(schema.get('oneOf'), list):
        ok = sum(1 for sub in schema['oneOf']
                 if not validate(obj, _constraints(sub), path, [], False))
        if ok != 1:
            errs.append(FieldError('FieldValueInvalid', path,
                                   '%s in body must validate one and only one schema (oneOf). '
                                   'Found %s valid alternatives'
                                   % (path, 'none' if ok == 0 else ok),
                                   obj))
    if isinstance(schema.get('anyOf'), list):
        if not any(not validate(obj, _constraints(sub), path, [], False)
                   for sub in schema['anyOf']):
            errs.append(FieldError('FieldValueInvalid', path,
                                   '%s in body must validate at least one schema (anyOf)' % path,
                                   obj))
    if isinstance(schema.get('not'), dict):
        if not validate(obj, _constraints(schema['not']), path, [], False):
            errs.append(FieldError('FieldValueInvalid', path,
                                   '%s in body should not be valid against the given schema' % path,
                                   obj))
    return errs


def _constraints(sub):
    """A oneOf/anyOf branch; `required` inside it must hold, but it has no type of its own."""
    return sub if isinstance(sub, dict) else {}
