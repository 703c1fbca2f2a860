"""A small CEL interpreter for CRD x-kubernetes-validations rules.

Covers what CRD rules usually use: literals (int, double, 'string', "string", true, false, null,
lists), self and macro variables, field selection, indexing, ! - * / % + -, comparisons, `in`,
&& ||, ?:, has(), size() / x.size(), matches() / x.matches(), startsWith / endsWith / contains,
duration() comparisons, and the macros all / exists / exists_one / filter / map. Rules using
anything else (oldSelf transition rules, other functions) raise Unsupported at parse or run time and
the caller skips them: the server then accepts what a real one might refuse, never the reverse.
"""

import re


class Unsupported(Exception):
    """Syntax or a function this interpreter does not know: the rule is skipped."""


class EvalError(Exception):
    """A runtime error the real evaluator would report too (no such key, bad types)."""


_TOK = re.compile(r'''\s*(?:
    (?P<num>\d+\.\d+|\d+u?)|
    (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|
    (?P<id>[A-Za-z_][A-Za-z0-9_]*)|
    (?P<op>==|!=|<=|>=|&&|\|\||[?:!<>+\-*/%()\[\],.])
)''', re.X)


def tokenize(text):
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOK.match(text, pos)
        if not m or m.end() == pos:
            raise Unsupported('cannot read %r at %d' % (text[pos:pos + 10], pos))
        pos = m.end()
        kind = m.lastgroup
        val = m.group(kind)
        if kind == 'num':
            val = float(val) if '.' in val else int(val.rstrip('u'))
        elif kind == 'str':
            body = val[1:-1]
            val = re.sub(r'\\(.)', lambda x: {'n': '\n', 't': '\t'}.get(x.group(1), x.group(1)),
                         body)
        out.append((kind, val))
    out.append(('end', None))
    return out


MACROS = {'all', 'exists', 'exists_one', 'filter', 'map'}


class Parser:
    def __init__(self, text):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, val=None):
        k, v = self.toks[self.i]
        if val is None:
            return (k, v)
        return k == 'op' and v == val

    def take(self, val=None):
        k, v = self.toks[self.i]
        if val is not None and not (k == 'op' and v == val):
            raise Unsupported('expected %r, got %r' % (val, v))
        self.i += 1
        return (k, v)

    def parse(self):
        e = self.ternary()
        if self.toks[self.i][0] != 'end':
            raise Unsupported('trailing %r' % (self.toks[self.i][1],))
        return e

    def ternary(self):
        c = self.binary(0)
        if self.peek('?'):
            self.take('?')
            a = self.ternary()
            self.take(':')
            b = self.ternary()
            return ('?', c, a, b)
        return c

    LEVELS = [('||',), ('&&',), ('==', '!=', '<', '<=', '>', '>=', 'in'), ('+', '-'),
              ('*', '/', '%')]

    def binary(self, level):
        if level == len(self.LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            k, v = self.peek()
            if (k == 'op' and v in self.LEVELS[level]) or (k == 'id' and v == 'in' and
                                                           'in' in self.LEVELS[level]):
                self.take()
                right = self.binary(level + 1)
                left = ('bin', v, left, right)
            else:
                return left

    def unary(self):
        if self.peek('!'):
            self.take()
            return ('not', self.unary())
        if self.peek('-'):
            self.take()
            return ('neg', self.unary())
        return self.postfix(self.primary())

    def args(self):
        self.take('(')
        out = []
        if not self.peek(')'):
            out.append(self.ternary())
            while self.peek(','):
                self.take(',')
                out.append(self.ternary())
        self.take(')')
        return out

    def postfix(self, e):
        while True:
            if self.peek('.'):
                self.take('.')
                k, name = self.take()
                if k != 'id':
                    raise Unsupported('expected a field name')
                if self.peek('('):
                    if name in MACROS:
                        self.take('(')
                        k2, var = self.take()
                        if k2 != 'id':
                            raise Unsupported('macro variable expected')
                        self.take(',')
                        body = self.ternary()
                        self.take(')')
                        e = ('macro', name, e, var, body)
                    else:
                        e = ('method', name, e, self.args())
                else:
                    e = ('sel', e, name)
            elif self.peek('['):
                self.take('[')
                idx = self.ternary()
                self.take(']')
                e = ('index', e, idx)
            else:
                return e

    def primary(self):
        k, v = self.take()
        if k in ('num', 'str'):
            return ('lit', v)
        if k == 'op' and v == '(':
            e = self.ternary()
            self.take(')')
            return e
        if k == 'op' and v == '[':
            items = []
            if not self.peek(']'):
                items.append(self.ternary())
                while self.peek(','):
                    self.take(',')
                    items.append(self.ternary())
            self.take(']')
            return ('list', items)
        if k == 'id':
            if v in ('true', 'false'):
                return ('lit', v == 'true')
            if v == 'null':
                return ('lit', None)
            if self.peek('('):
                if v == 'has':
                    self.take('(')
                    arg = self.ternary()
                    self.take(')')
                    if arg[0] != 'sel':
                        raise Unsupported('has() needs a field selection')
                    return ('has', arg)
                return ('call', v, self.args())
            return ('var', v)
        raise Unsupported('unexpected %r' % (v,))


_DUR = re.compile(r'(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)')
_UNIT = {'ns': 1e-9, 'us': 1e-6, 'µs': 1e-6, 'ms': 1e-3, 's': 1.0, 'm': 60.0, 'h': 3600.0}


class Duration(float):
    pass


def duration(text):
    if not isinstance(text, str):
        raise EvalError('duration() needs a string')
    t = text.strip()
    sign = -1 if t.startswith('-') else 1
    t = t.lstrip('+-')
    if t == '0':
        return Duration(0)
    total, pos = 0.0, 0
    for m in _DUR.finditer(t):
        if m.start() != pos:
            raise EvalError('invalid duration %r' % text)
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise EvalError('invalid duration %r' % text)
    return Duration(sign * total)


def _size(v):
    if isinstance(v, (str, list, dict, bytes)):
        return len(v)
    raise EvalError('size() of %s' % type(v).__name__)


def evaluate(node, env):
    op = node[0]
    if op == 'lit':
        return node[1]
    if op == 'var':
        if node[1] not in env:
            raise Unsupported('unknown variable %s' % node[1])
        return env[node[1]]
    if op == 'list':
        return [evaluate(x, env) for x in node[1]]
    if op == 'sel':
        obj = evaluate(node[1], env)
        if isinstance(obj, dict):
            if node[2] not in obj:
                raise EvalError('no such key: %s' % node[2])
            return obj[node[2]]
        raise EvalError('no such key: %s' % node[2])
    if op == 'has':
        obj = evaluate(node[1][1], env)
        return isinstance(obj, dict) and node[1][2] in obj
    if op == 'index':
        obj, idx = evaluate(node[1], env), evaluate(node[2], env)
        try:
            return obj[idx]
        except (KeyError, IndexError, TypeError):
            raise EvalError('index out of bounds: %r' % (idx,))
    if op == 'not':
        v = evaluate(node[1], env)
        if not isinstance(v, bool):
            raise EvalError('! of a non-bool')
        return not v
    if op == 'neg':
        return -evaluate(node[1], env)
    if op == '?':
        c = evaluate(node[1], env)
        if not isinstance(c, bool):
            raise EvalError('?: condition is not a bool')
        return evaluate(node[2] if c else node[3], env)
    if op == 'bin':
        return _binary(node[1], node[2], node[3], env)
    if op == 'call':
        args = [evaluate(a, env) for a in node[2]]
        return _call(node[1], None, args)
    if op == 'method':
        target = evaluate(node[2], env)
        args = [evaluate(a, env) for a in node[3]]
        return _call(node[1], target, args)
    if op == 'macro':
        return _macro(node, env)
    raise Unsupported(op)


def _binary(o, a, b, env):
    if o == '&&':
        # CEL's && and || are commutative about errors; left-to-right is enough here
        x = evaluate(a, env)
        if x is False:
            return False
        y = evaluate(b, env)
        return bool(x) and bool(y)
    if o == '||':
        x = evaluate(a, env)
        if x is True:
            return True
        return bool(evaluate(b, env))
    x, y = evaluate(a, env), evaluate(b, env)
    try:
        if o == '==':
            return x == y
        if o == '!=':
            return x != y
        if o == '<':
            return x < y
        if o == '<=':
            return x <= y
        if o == '>':
            return x > y
        if o == '>=':
            return x >= y
        if o == 'in':
            return x in y
        if o == '+':
            return x + y
        if o == '-':
            return x - y
        if o == '*':
            return x * y
        if o == '/':
            return x // y if isinstance(x, int) and isinstance(y, int) else x / y
        if o == '%':
            return x % y
    except (TypeError, ZeroDivisionError) as e:
        raise EvalError(str(e))
    raise Unsupported(o)


def _call(name, target, args):
    if name == 'size':
        return _size(target if target is not None else (args[0] if args else None))
    if name == 'duration' and target is None and len(args) == 1:
        return duration(args[0])
    if name == 'matches':
        s, pat = (target, args[0]) if target is not None else (args[0], args[1])
        if not isinstance(s, str) or not isinstance(pat, str):
            raise EvalError('matches() needs strings')
        try:
            return re.search(pat, s) is not None
        except re.error:
            raise Unsupported('regex %r' % pat)
    if target is not None and isinstance(target, str) and len(args) == 1 and \
            isinstance(args[0], str):
        if name == 'startsWith':
            return target.startswith(args[0])
        if name == 'endsWith':
            return target.endswith(args[0])
        if name == 'contains':
            return args[0] in target
    raise Unsupported('function %s' % name)


def _macro(node, env):
    _, name, target, var, body = node
    coll = evaluate(target, env)
    items = list(coll.keys()) if isinstance(coll, dict) else coll
    if not isinstance(items, list):
        raise EvalError('%s() on a non-list' % name)

    def run(x):
        e = dict(env)
        e[var] = x
        return evaluate(body, e)
    if name == 'all':
        return all(run(x) is True for x in items)
    if name == 'exists':
        return any(run(x) is True for x in items)
    if name == 'exists_one':
        return sum(1 for x in items if run(x) is True) == 1
    if name == 'filter':
        return [x for x in items if run(x) is True]
    if name == 'map':
        return [run(x) for x in items]
    raise Unsupported(name)


_cache = {}


def check(rule, value):
    """True / False for a rule on value (bound to self); raises EvalError for a runtime error and
    Unsupported for what this interpreter cannot judge (the caller skips the rule)."""
    ast = _cache.get(rule)
    if ast is None:
        if 'oldSelf' in rule:
            raise Unsupported('transition rule')
        ast = Parser(rule).parse()
        _cache[rule] = ast
    result = evaluate(ast, {'self': value})
    if not isinstance(result, bool):
        raise EvalError('rule did not evaluate to a bool')
    return result
