"""Credentials of the test API server: a CA and certificates made with the openssl CLI, the admin
bearer token, and ServiceAccount tokens (JWTs signed with HS256 by a per-server secret).

A ServiceAccount token is valid while: its signature checks, it has not expired, its jti has not
been revoked (/_test/revoke-token), and the ServiceAccount it names still exists with the same uid
(deleting the ServiceAccount revokes its tokens, as with bound tokens on a real cluster).
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import time
import uuid

ISSUER = 'https://kubernetes.default.svc.cluster.local'
ADMIN_USER = 'kubernetes-admin'
ADMIN_GROUPS = ['system:masters', 'system:authenticated']


def _run(args, cwd):
    p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError('openssl %s failed: %s' % (' '.join(args[1:3]), p.stderr.strip()))


def make_pki(d):
    """Creates (or reuses) ca.crt/ca.key, server.crt/key (127.0.0.1, localhost) and an admin client
    certificate admin.crt/key (CN kubernetes-admin, O system:masters) in directory d."""
    os.makedirs(d, exist_ok=True)
    need = ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'admin.crt', 'admin.key']
    if all(os.path.exists(os.path.join(d, f)) for f in need):
        return
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    _run(['openssl', 'req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650',
          '-subj', '/CN=krtgate-test-apiserver-ca',
          '-addext', 'basicConstraints=critical,CA:TRUE',
          '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], d)
    with open(os.path.join(d, 'server.ext'), 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,'
                'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n'
                'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
                'basicConstraints=CA:FALSE\n')
    with open(os.path.join(d, 'client.ext'), 'w') as f:
        f.write('extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
                'basicConstraints=CA:FALSE\n')
    for name, subj, ext in (('server', '/CN=kube-apiserver', 'server.ext'),
                            ('admin', '/O=system:masters/CN=' + ADMIN_USER, 'client.ext')):
        _run(['openssl', 'req', *ec, '-keyout', name + '.key', '-out', name + '.csr',
              '-subj', subj], d)
        _run(['openssl', 'x509', '-req', '-in', name + '.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
              '-CAcreateserial', '-out', name + '.crt', '-days', '3650', '-extfile', ext], d)
    for f in os.listdir(d):
        if f.endswith('.key'):
            os.chmod(os.path.join(d, f), 0o600)


def _b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip('=')


def _unb64(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


class Authenticator:
    def __init__(self, admin_token=None, secret=None):
        self.admin_token = admin_token or secrets.token_hex(24)
        self.secret = secret or secrets.token_bytes(32)
        self.revoked = set()            # jti values
        self.issued = 0

    def state(self):
        return {'admin_token': self.admin_token, 'secret': base64.b64encode(self.secret).decode(),
                'revoked': sorted(self.revoked)}

    @staticmethod
    def from_state(st):
        a = Authenticator(st['admin_token'], base64.b64decode(st['secret']))
        a.revoked = set(st.get('revoked', []))
        return a

    def issue(self, ns, sa_name, sa_uid, audiences, expiration_seconds, bound=None):
        """Returns (token, expiration unix time)."""
        now = int(time.time())
        exp = now + int(expiration_seconds)
        jti = str(uuid.uuid4())
        claims = {'aud': audiences, 'exp': exp, 'iat': now, 'nbf': now, 'iss': ISSUER, 'jti': jti,
                  'sub': 'system:serviceaccount:%s:%s' % (ns, sa_name),
                  'kubernetes.io': {'namespace': ns,
                                    'serviceaccount': {'name': sa_name, 'uid': sa_uid}}}
        if bound:
            claims['kubernetes.io'][bound['kind'].lower()] = {'name': bound['name'],
                                                              'uid': bound.get('uid', '')}
        header = _b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'krtgate-test'}).encode())
        body = _b64(json.dumps(claims, separators=(',', ':')).encode())
        sig = hmac.new(self.secret, (header + '.' + body).encode(), hashlib.sha256).digest()
        self.issued += 1
        return header + '.' + body + '.' + _b64(sig), exp

    def claims(self, token):
        """The claims of a token this server signed, or None (any format or signature problem)."""
        parts = token.split('.')
        if len(parts) != 3:
            return None
        try:
            sig = _unb64(parts[2])
            want = hmac.new(self.secret, (parts[0] + '.' + parts[1]).encode(),
                            hashlib.sha256).digest()
            if not hmac.compare_digest(sig, want):
                return None
            return json.loads(_unb64(parts[1]))
        except Exception:
            return None

    def authenticate(self, token, sa_lookup, audiences=None):
        """Returns (user dict, audiences) or (None, error text).

        user: {username, uid, groups, extra}. sa_lookup(ns, name, kind='ServiceAccount') -> uid
        or None (also for the bound Pod, Secret, Node). audiences: the
        audiences the caller accepts (None: the API server's own)."""
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return {'username': ADMIN_USER, 'groups': list(ADMIN_GROUPS)}, audiences or [ISSUER]
        c = self.claims(token)
        if c is None:
            return None, 'invalid bearer token'
        if c.get('exp', 0) < time.time():
            return None, 'token has expired'
        if c.get('jti') in self.revoked:
            return None, 'token has been invalidated'
        want = audiences or [ISSUER]
        got = [a for a in c.get('aud', []) if a in want]
        if not got:
            return None, 'token audiences %s is invalid for the target audiences %s' % (
                json.dumps(c.get('aud', [])), json.dumps(want))
        k = c.get('kubernetes.io') or {}
        ns = k.get('namespace')
        sa = (k.get('serviceaccount') or {})
        uid = sa_lookup(ns, sa.get('name'))
        if uid is None:
            return None, 'service account %s/%s has been deleted' % (ns, sa.get('name'))
        if uid != sa.get('uid'):
            return None, 'service account UID (%s) does not match claim (%s)' % (uid, sa.get('uid'))
        extra = {'authentication.kubernetes.io/credential-id': ['JTI=' + c.get('jti', '')]}
        for kind in ('pod', 'secret', 'node'):
            if kind in k:
                got_uid = sa_lookup(ns, k[kind].get('name'), kind.capitalize())
                if got_uid != k[kind].get('uid'):
                    return None, '%s %s/%s bound to the token %s' % (
                        kind, ns, k[kind].get('name'),
                        'has been deleted' if got_uid is None else 'was re-created')
                extra['authentication.kubernetes.io/%s-name' % kind] = [k[kind]['name']]
                extra['authentication.kubernetes.io/%s-uid' % kind] = [k[kind]['uid']]
        user = {'username': c['sub'], 'uid': sa.get('uid'),
                'groups': ['system:serviceaccounts', 'system:serviceaccounts:' + ns,
                           'system:authenticated'],
                'extra': extra}
        return user, got

    def revoke(self, token=None, jti=None):
        if token:
            c = self.claims(token)
            if c is None:
                return False
            jti = c.get('jti')
        if not jti:
            return False
        self.revoked.add(jti)
        return True
