/*
 * Basic authentication (htpasswd) and API keys (proxy/authn.h).
 *
 * Key decision: hashes are verified by the system's crypt(3) (libxcrypt: bcrypt, MD5-, SHA-256-
 * and SHA-512-crypt) plus two small formats computed here ($apr1$ and {SHA}), instead of a
 * bcrypt implementation of our own: fewer lines to get wrong in code that guards access. The
 * htpasswd content is parsed and checked once per config snapshot; a request pays one hash.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "proxy/authn.h"
#include "proxy/jwt.h"

/* |ok| caches the SHA-256 of the last password that verified, so that a client repeating good
 * credentials pays one SHA-256 instead of a bcrypt run on the proxy loop each time. */
typedef struct entry {
    char *user, *hash;
    bool has_ok;
    unsigned char ok[32];
} entry_t;

/* An entry whose hash cannot be used (unsupported format, too slow) keeps hash NULL: that user
 * never logs in. */
struct proxy_htpasswd {
    entry_t *v;
    size_t n;
    char warning[200]; /* the first unusable entry, "" if none */
};

void proxy_htpasswd_free(proxy_htpasswd_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].user);
        if (h->v[i].hash)
            OPENSSL_cleanse(h->v[i].hash, strlen(h->v[i].hash));
        free(h->v[i].hash);
    }
    free(h->v);
    free(h);
}

size_t proxy_htpasswd_count(const proxy_htpasswd_t *h)
{
    return h->n;
}

const char *proxy_htpasswd_warning(const proxy_htpasswd_t *h)
{
    return h->warning[0] ? h->warning : NULL;
}

/* bcrypt costs and SHA-crypt rounds above these are refused: verification runs on the proxy's
 * event loop, and one check at bcrypt cost 12 already takes a few hundred milliseconds. */
#define MAX_BCRYPT_COST     12
#define MAX_SHACRYPT_ROUNDS 100000

static const char *hash_too_slow(const char *h)
{
    if (h[0] == '$' && h[1] == '2' && h[2] && h[3] == '$') {
        int cost = atoi(h + 4);
        if (cost > MAX_BCRYPT_COST)
            return "bcrypt cost above 12";
    }
    if ((!strncmp(h, "$5$rounds=", 10) || !strncmp(h, "$6$rounds=", 10)) &&
        strtoul(h + 10, NULL, 10) > MAX_SHACRYPT_ROUNDS)
        return "SHA-crypt rounds above 100000";
    return NULL;
}

static bool hash_known(const char *h)
{
    static const char *const pre[] = {"$2a$",  "$2b$", "$2y$", "$apr1$",
                                      "{SHA}", "$1$",  "$5$",  "$6$"};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
        if (strncmp(h, pre[i], strlen(pre[i])) == 0)
            return true;
    return false;
}

proxy_htpasswd_t *proxy_htpasswd_parse(const char *content, size_t len, char *err, size_t cap)
{
    proxy_htpasswd_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    size_t line = 0, pos = 0;
    while (pos < len) {
        line++;
        size_t e = pos;
        while (e < len && content[e] != '\n')
            e++;
        size_t l = e - pos;
        const char *s = content + pos;
        pos = e + 1;
        while (l && (s[l - 1] == '\r' || s[l - 1] == ' ' || s[l - 1] == '\t'))
            l--;
        while (l && (*s == ' ' || *s == '\t')) {
            s++;
            l--;
        }
        if (!l || *s == '#')
            continue;
        const char *colon = memchr(s, ':', l);
        if (!colon || colon == s || memchr(s, '\0', l)) {
            snprintf(err, cap, "htpasswd line %zu: expected \"user:hash\"", line);
            goto fail;
        }
        size_t ul = (size_t)(colon - s), hl = l - ul - 1;
        char *user = strndup(s, ul), *hash = strndup(colon + 1, hl);
        entry_t *nv = user && hash ? realloc(h->v, (h->n + 1) * sizeof *nv) : NULL;
        if (!nv) {
            free(user);
            free(hash);
            snprintf(err, cap, "out of memory");
            goto fail;
        }
        h->v = nv;
        h->v[h->n++] = (entry_t){.user = user, .hash = hash};
        const char *bad = !hash_known(hash) ? "unsupported hash format (bcrypt, $apr1$, {SHA}, "
                                              "$1$, $5$ or $6$ expected)"
                                            : hash_too_slow(hash);
        if (bad) {
            if (!h->warning[0])
                snprintf(h->warning, sizeof h->warning,
                         "htpasswd line %zu (user \"%.48s\"): %s; that user cannot log in", line,
                         user, bad);
            OPENSSL_cleanse(hash, strlen(hash));
            free(hash);
            h->v[h->n - 1].hash = NULL;
        }
    }
    return h;
fail:
    proxy_htpasswd_free(h);
    return NULL;
}

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static char *to64(char *p, unsigned long v, int n)
{
    while (n-- > 0) {
        *p++ = itoa64[v & 0x3f];
        v >>= 6;
    }
    return p;
}

static void md5_parts(unsigned char out[16], const void *a, size_t al, const void *b, size_t bl,
                      const void *c, size_t cl, const void *d, size_t dl)
{
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    unsigned int ol = 16;
    if (!x || !EVP_DigestInit_ex(x, EVP_md5(), NULL)) {
        memset(out, 0, 16);
        EVP_MD_CTX_free(x);
        return;
    }
    EVP_DigestUpdate(x, a, al);
    EVP_DigestUpdate(x, b, bl);
    EVP_DigestUpdate(x, c, cl);
    EVP_DigestUpdate(x, d, dl);
    EVP_DigestFinal_ex(x, out, &ol);
    EVP_MD_CTX_free(x);
}

/* The MD5-crypt algorithm with Apache's magic "$apr1$". */
bool proxy_apr1_hash(const char *pw, const char *salt, char *out, size_t cap)
{
    static const char magic[] = "$apr1$";
    if (strncmp(salt, magic, 6) == 0)
        salt += 6;
    size_t sl = 0;
    while (sl < 8 && salt[sl] && salt[sl] != '$')
        sl++;
    size_t pl = strlen(pw);
    if (cap < 6 + sl + 1 + 22 + 1)
        return false;
    unsigned char fin[16];
    md5_parts(fin, pw, pl, salt, sl, pw, pl, "", 0);
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    unsigned int ol = 16;
    if (!x || !EVP_DigestInit_ex(x, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(x);
        return false;
    }
    EVP_DigestUpdate(x, pw, pl);
    EVP_DigestUpdate(x, magic, 6);
    EVP_DigestUpdate(x, salt, sl);
    for (long n = (long)pl; n > 0; n -= 16)
        EVP_DigestUpdate(x, fin, n > 16 ? 16 : (size_t)n);
    for (size_t i = pl; i; i >>= 1)
        EVP_DigestUpdate(x, (i & 1) ? "" : pw, 1); /* "" gives its NUL byte */
    EVP_DigestFinal_ex(x, fin, &ol);
    EVP_MD_CTX_free(x);
    for (int i = 0; i < 1000; i++) {
        const void *a = (i & 1) ? (const void *)pw : fin;
        size_t al = (i & 1) ? pl : 16;
        const void *d = (i & 1) ? (const void *)fin : pw;
        size_t dl = (i & 1) ? 16 : pl;
        unsigned char nf[16];
        md5_parts(nf, a, al, salt, (i % 3) ? sl : 0, pw, (i % 7) ? pl : 0, d, dl);
        memcpy(fin, nf, 16);
    }
    char *p = out;
    memcpy(p, magic, 6);
    p += 6;
    memcpy(p, salt, sl);
    p += sl;
    *p++ = '$';
    p = to64(p, ((unsigned long)fin[0] << 16) | ((unsigned long)fin[6] << 8) | fin[12], 4);
    p = to64(p, ((unsigned long)fin[1] << 16) | ((unsigned long)fin[7] << 8) | fin[13], 4);
    p = to64(p, ((unsigned long)fin[2] << 16) | ((unsigned long)fin[8] << 8) | fin[14], 4);
    p = to64(p, ((unsigned long)fin[3] << 16) | ((unsigned long)fin[9] << 8) | fin[15], 4);
    p = to64(p, ((unsigned long)fin[4] << 16) | ((unsigned long)fin[10] << 8) | fin[5], 4);
    p = to64(p, fin[11], 2);
    *p = '\0';
    return true;
}

static bool same(const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b);
    return al == bl && CRYPTO_memcmp(a, b, al) == 0;
}

static bool hash_check(const char *hash, const char *pw)
{
    if (strncmp(hash, "$apr1$", 6) == 0) {
        char out[128];
        return proxy_apr1_hash(pw, hash + 6, out, sizeof out) && same(out, hash);
    }
    if (strncmp(hash, "{SHA}", 5) == 0) {
        unsigned char dg[20];
        unsigned int dl = 20;
        if (!EVP_Digest(pw, strlen(pw), dg, &dl, EVP_sha1(), NULL))
            return false;
        char b64[40];
        EVP_EncodeBlock((unsigned char *)b64, dg, 20);
        return same(b64, hash + 5);
    }
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return false;
    const char *r = crypt_r(pw, hash, cd);
    bool ok = r && r[0] != '*' && same(r, hash);
    free(cd);
    return ok;
}

bool proxy_htpasswd_check(proxy_htpasswd_t *h, const char *user, const char *password)
{
    for (size_t i = 0; i < h->n; i++) {
        entry_t *e = &h->v[i];
        if (strcmp(e->user, user) != 0)
            continue;
        if (!e->hash)
            return false;
        unsigned char dg[32];
        unsigned int dl = 32;
        bool have = EVP_Digest(password, strlen(password), dg, &dl, EVP_sha256(), NULL) == 1;
        if (have && e->has_ok && CRYPTO_memcmp(dg, e->ok, 32) == 0)
            return true;
        bool ok = hash_check(e->hash, password);
        if (ok && have) {
            memcpy(e->ok, dg, 32);
            e->has_ok = true;
        }
        return ok;
    }
    return false;
}

bool proxy_basic_decode(const char *authz, char *user, size_t ucap, char *pass, size_t pcap)
{
    if (!authz || strncasecmp(authz, "basic ", 6) != 0)
        return false;
    const char *b = authz + 6;
    while (*b == ' ')
        b++;
    size_t bl = strlen(b);
    while (bl && b[bl - 1] == ' ')
        bl--;
    unsigned char buf[1024];
    long n = proxy_b64_decode(b, bl, false, buf, sizeof buf - 1);
    if (n < 0)
        return false;
    buf[n] = '\0';
    if (memchr(buf, '\0', (size_t)n))
        return false;
    char *colon = strchr((char *)buf, ':');
    if (!colon)
        return false;
    size_t ul = (size_t)(colon - (char *)buf), pl = (size_t)n - ul - 1;
    if (ul >= ucap || pl >= pcap)
        return false;
    memcpy(user, buf, ul);
    user[ul] = '\0';
    memcpy(pass, colon + 1, pl);
    pass[pl] = '\0';
    OPENSSL_cleanse(buf, sizeof buf);
    return true;
}

long proxy_apikey_find(const char *const *keys, size_t nkeys, const char *key, size_t len)
{
    long found = -1;
    for (size_t i = 0; i < nkeys; i++) {
        size_t kl = strlen(keys[i]);
        if (kl == len && CRYPTO_memcmp(keys[i], key, len) == 0 && found < 0)
            found = (long)i;
    }
    return found;
}
