"""Label and field selectors, parsed the way the API server parses them.

Label selector grammar (k8s.io/apimachinery/pkg/labels): comma-separated requirements, each one of
`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist).
Field selectors: `path=v`, `path==v`, `path!=v` joined by commas; which paths a kind supports is
decided by the caller (field_paths).
"""

import re


class SelectorError(ValueError):
    """A selector the API server would refuse with 400 BadRequest."""


_KEY = re.compile(r'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?'
                  r'[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')
_VALUE = re.compile(r'^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')


def _split_top(text):
    """Splits on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
            if depth < 0:
                raise SelectorError('unbalanced parenthesis')
        if ch == ',' and depth == 0:
            parts.append(''.join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise SelectorError('unbalanced parenthesis')
    parts.append(''.join(cur))
    return parts


def _check_key(key):
    if len(key) > 316 or not _KEY.match(key):
        raise SelectorError('invalid label key "%s"' % key)


def _check_value(value):
    if len(value) > 63 or not _VALUE.match(value):
        raise SelectorError('invalid label value: "%s"' % value)


def parse_labels(text):
    """Returns a list of (op, key, values) requirements; raises SelectorError."""
    reqs = []
    if text is None or text.strip() == '':
        return reqs
    for raw in _split_top(text):
        part = raw.strip()
        if not part:
            raise SelectorError('found \'\', expected: identifier')
        m = re.match(r'^([^\s!=()]+)\s+(in|notin)\s*\((.*)\)$', part)
        if m:
            key, op, vals = m.group(1), m.group(2), m.group(3)
            _check_key(key)
            values = [v.strip() for v in vals.split(',')] if vals.strip() else []
            if not values:
                raise SelectorError('for \'in\', \'notin\' operators, values set can\'t be empty')
            for v in values:
                _check_value(v)
            reqs.append((op, key, values))
            continue
        m = re.match(r'^([^\s!=]+)\s*(==|!=|=)\s*([^\s,]*)$', part)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3)
            _check_key(key)
            _check_value(value)
            reqs.append(('!=' if op == '!=' else '=', key, [value]))
            continue
        if part.startswith('!'):
            key = part[1:].strip()
            _check_key(key)
            reqs.append(('!', key, []))
            continue
        _check_key(part)
        reqs.append(('exists', part, []))
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for op, key, values in reqs:
        present = key in labels
        val = labels.get(key)
        if op == '=' and not (present and val == values[0]):
            return False
        if op == '!=' and present and val == values[0]:
            return False
        if op == 'in' and not (present and val in values):
            return False
        if op == 'notin' and present and val in values:
            return False
        if op == 'exists' and not present:
            return False
        if op == '!' and present:
            return False
    return True


def parse_fields(text, field_paths):
    """Returns a list of (op, path, value); refuses paths not in field_paths like the API server."""
    reqs = []
    if text is None or text.strip() == '':
        return reqs
    for raw in _split_top(text):
        part = raw.strip()
        m = re.match(r'^([^\s!=]+)\s*(==|!=|=)\s*(.*)$', part)
        if not m:
            raise SelectorError('invalid selector: \'%s\'; can\'t understand \'%s\'' % (text, part))
        path, op, value = m.group(1), m.group(2), m.group(3)
        if path not in field_paths:
            raise SelectorError('field label not supported: %s' % path)
        reqs.append(('!=' if op == '!=' else '=', path, value))
    return reqs


def field_value(obj, path):
    cur = obj
    for seg in path.split('.'):
        if not isinstance(cur, dict):
            return ''
        cur = cur.get(seg)
    if cur is None:
        return ''
    if isinstance(cur, bool):
        return 'true' if cur else 'false'
    return str(cur)


def fields_match(reqs, obj):
    for op, path, value in reqs:
        got = field_value(obj, path)
        if op == '=' and got != value:
            return False
        if op == '!=' and got == value:
            return False
    return True
