/*
 * Client configuration from a kubeconfig or from the in-cluster service-account files.
 *
 * Key decision: the kubeconfig is read with libyaml's document API (a node tree with positions),
 * not through the manifest parser: a kubeconfig is not a Kubernetes object (no metadata.name), and
 * the tree lets every error name the line and the field path. Files the kubeconfig names are read
 * in a second, separate step so the parser itself does no I/O. The alternative rejected: converting
 * the YAML to JSON first, which loses the line numbers the error messages promise.
 *
 * Relative paths in a kubeconfig are relative to the kubeconfig's directory, as client-go resolves
 * them; certificate-authority-data wins over certificate-authority when both are given, as in
 * client-go.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "kube/kubeconfig.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------------------------- */
static int errf(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int errf(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void kube_client_config_init(kube_client_config_t *c)
{
    memset(c, 0, sizeof *c);
}

void kube_client_config_dispose(kube_client_config_t *c)
{
    char **s[] = {
        &c->server,          &c->scheme,          &c->host,           &c->base_path,
        &c->tls_server_name, &c->ca_file,         &c->ca_pem,         &c->client_cert_file,
        &c->client_key_file, &c->client_cert_pem, &c->client_key_pem, &c->token,
        &c->token_file,      &c->namespace_name,  &c->context,        &c->origin};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        free(*s[i]);
    kube_client_config_init(c);
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with optional padding; whitespace ignored. Returns false on bad input. */
static bool b64_decode(const char *s, char **out, size_t *outlen)
{
    size_t n = strlen(s);
    char *o = malloc(n / 4 * 3 + 4);
    if (!o)
        return false;
    size_t k = 0, pad = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) {
            free(o);
            return false;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (pad > 2 || bits >= 6) {
        free(o);
        return false;
    }
    o[k] = '\0';
    *out = o;
    *outlen = k;
    return true;
}

/* |path| resolved against the directory of |file|. Owned by caller. */
static char *resolve_path(const char *file, const char *path)
{
    if (path[0] == '/' || !file)
        return strdup(path);
    const char *slash = strrchr(file, '/');
    if (!slash)
        return strdup(path);
    size_t d = (size_t)(slash - file) + 1, n = strlen(path);
    char *r = malloc(d + n + 1);
    if (r) {
        memcpy(r, file, d);
        memcpy(r + d, path, n + 1);
    }
    return r;
}

static int read_all(const char *path, const char *field, char **out, size_t *outlen, char *err,
                    size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errf(err, errcap, errno == ENOENT ? KUBE_ENOENT : KUBE_EIO, "%s %s: %s", field, path,
                    strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    int rc = KUBE_OK;
    while (buf) {
        if (len == cap) {
            if (cap >= KUBE_KUBECONFIG_MAX_FILE) {
                rc = errf(err, errcap, KUBE_ELIMIT, "%s %s: larger than %zu bytes", field, path,
                          KUBE_KUBECONFIG_MAX_FILE);
                break;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = errf(err, errcap, KUBE_EIO, "%s %s: read failed", field, path);
            break;
        }
    }
    fclose(f);
    if (!buf)
        return errf(err, errcap, KUBE_ENOMEM, "%s %s: out of memory", field, path);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return KUBE_OK;
}

static char *trim_dup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return dupn(s, n);
}

int kube_token_read(const char *path, char **token, char *err, size_t errcap)
{
    char *buf;
    size_t len;
    int rc = read_all(path, "token file", &buf, &len, err, errcap);
    if (rc)
        return rc;
    char *t = trim_dup(buf, len);
    free(buf);
    if (!t)
        return errf(err, errcap, KUBE_ENOMEM, "token file %s: out of memory", path);
    if (!*t) {
        free(t);
        return errf(err, errcap, KUBE_EOBJECT, "token file %s: empty", path);
    }
    *token = t;
    return KUBE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Server URL.
 * ------------------------------------------------------------------------------------------- */
int kube_server_url_split(kube_client_config_t *c, const char *url, char *err, size_t errcap)
{
    const char *p = url, *sep = strstr(url, "://");
    const char *scheme = "https";
    if (sep) {
        size_t n = (size_t)(sep - url);
        if (n == 5 && !strncasecmp(url, "https", 5))
            scheme = "https";
        else if (n == 4 && !strncasecmp(url, "http", 4))
            scheme = "http";
        else
            return errf(err, errcap, KUBE_EOBJECT, "server \"%s\": scheme must be https or http",
                        url);
        p = sep + 3;
    }
    size_t alen = strcspn(p, "/?#");
    const char *host = p, *port = NULL;
    size_t hlen = alen, plen = 0;
    if (alen && p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close)
            return errf(err, errcap, KUBE_EOBJECT, "server \"%s\": unclosed '[' in host", url);
        host = p + 1;
        hlen = (size_t)(close - host);
        const char *after = close + 1;
        if (after < p + alen) {
            if (*after != ':')
                return errf(err, errcap, KUBE_EOBJECT, "server \"%s\": junk after ']'", url);
            port = after + 1;
            plen = (size_t)(p + alen - port);
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        if (colon && !memchr(colon + 1, ':', (size_t)(p + alen - colon - 1))) {
            hlen = (size_t)(colon - p);
            port = colon + 1;
            plen = (size_t)(p + alen - port);
        }
    }
    if (!hlen)
        return errf(err, errcap, KUBE_EOBJECT, "server \"%s\": no host", url);
    unsigned long pv = strcmp(scheme, "https") ? 80 : 443;
    if (port) {
        pv = 0;
        if (!plen || plen > 5)
            pv = 0;
        else
            for (size_t i = 0; i < plen; i++)
                pv = isdigit((unsigned char)port[i]) ? pv * 10 + (unsigned)(port[i] - '0') : 70000;
        if (pv == 0 || pv > 65535)
            return errf(err, errcap, KUBE_EOBJECT, "server \"%s\": bad port", url);
    }
    const char *path = p + alen;
    size_t pathlen = strcspn(path, "?#");
    while (pathlen && path[pathlen - 1] == '/')
        pathlen--;
    char *s = strdup(scheme), *h = dupn(host, hlen), *b = dupn(path, pathlen), *u = strdup(url);
    if (!s || !h || !b || !u) {
        free(s), free(h), free(b), free(u);
        return errf(err, errcap, KUBE_ENOMEM, "server \"%s\": out of memory", url);
    }
    free(c->scheme), free(c->host), free(c->base_path), free(c->server);
    c->scheme = s, c->host = h, c->base_path = b, c->server = u;
    c->port = (uint16_t)pv;
    return KUBE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * kubeconfig.
 * ------------------------------------------------------------------------------------------- */
typedef struct kc {
    yaml_document_t doc;
    const char *file;
    char *err;
    size_t errcap;
} kc_t;

static unsigned line_of(const yaml_node_t *n)
{
    return n ? (unsigned)n->start_mark.line + 1 : 0;
}

static yaml_node_t *node(kc_t *k, int id)
{
    return id ? yaml_document_get_node(&k->doc, id) : NULL;
}

static yaml_node_t *map_get(kc_t *k, const yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = node(k, pr->key);
        if (kn && kn->type == YAML_SCALAR_NODE && !strcmp((char *)kn->data.scalar.value, key))
            return node(k, pr->value);
    }
    return NULL;
}

/* The scalar string at |key| of |m|, NULL when absent or null; *bad when present but no scalar. */
static const char *map_str(kc_t *k, const yaml_node_t *m, const char *key, yaml_node_t **at)
{
    yaml_node_t *v = map_get(k, m, key);
    if (at)
        *at = v;
    if (!v || v->type != YAML_SCALAR_NODE)
        return NULL;
    const char *s = (const char *)v->data.scalar.value;
    if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (!*s || !strcmp(s, "null") || !strcmp(s, "~")))
        return NULL;
    return s;
}

/* Finds the entry named |name| of the sequence |list| ("clusters"): sets *entry (the entry) and
 * *idx. Returns KUBE_OK, or an error naming the list. */
static int find_named(kc_t *k, const yaml_node_t *root, const char *list, const char *name,
                      yaml_node_t **entry, size_t *idx)
{
    yaml_node_t *seq = map_get(k, root, list);
    if (seq && seq->type != YAML_SEQUENCE_NODE)
        return errf(k->err, k->errcap, KUBE_EOBJECT, "%s:%u: %s: not a list", k->file, line_of(seq),
                    list);
    if (seq)
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            yaml_node_t *e = node(k, *it);
            const char *n = map_str(k, e, "name", NULL);
            if (n && !strcmp(n, name)) {
                *entry = e;
                *idx = (size_t)(it - seq->data.sequence.items.start);
                return KUBE_OK;
            }
        }
    return errf(k->err, k->errcap, KUBE_EOBJECT, "%s: %s: no entry named \"%s\"", k->file, list,
                name);
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "on", "y", NULL};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "off", "n", NULL};
    for (size_t i = 0; t[i]; i++)
        if (!strcmp(s, t[i]))
            return *out = true;
    for (size_t i = 0; f[i]; i++)
        if (!strcmp(s, f[i]))
            return !(*out = false);
    return false;
}

#define FIELD_ERR(rc, at, what, fmt, ...) \
    errf(k->err, k->errcap, rc, "%s:%u: %s: " fmt, k->file, line_of(at), what, __VA_ARGS__)

/* Copies an optional string field; returns false on OOM. */
static bool opt_dup(char **dst, const char *s)
{
    if (!s)
        return true;
    return (*dst = strdup(s)) != NULL;
}

static int read_cluster(kc_t *k, kube_client_config_t *c, yaml_node_t *entry, size_t idx,
                        const char *name)
{
    char what[256];
    yaml_node_t *cl = map_get(k, entry, "cluster"), *at;
    if (!cl || cl->type != YAML_MAPPING_NODE)
        return errf(k->err, k->errcap, KUBE_EOBJECT, "%s:%u: clusters[%zu] (%s): cluster: missing",
                    k->file, line_of(entry), idx, name);
    const char *server = map_str(k, cl, "server", &at);
    if (!server) {
        snprintf(what, sizeof what, "clusters[%zu] (%s): cluster.server", idx, name);
        return FIELD_ERR(KUBE_EOBJECT, at ? at : cl, what, "%s", "missing");
    }
    char uerr[200];
    int rc = kube_server_url_split(c, server, uerr, sizeof uerr);
    if (rc) {
        snprintf(what, sizeof what, "clusters[%zu] (%s): cluster.server", idx, name);
        return FIELD_ERR(rc, at, what, "%s", uerr);
    }
    const char *data = map_str(k, cl, "certificate-authority-data", &at);
    if (data) {
        if (!b64_decode(data, &c->ca_pem, &c->ca_pem_len)) {
            snprintf(what, sizeof what, "clusters[%zu] (%s): cluster.certificate-authority-data",
                     idx, name);
            return FIELD_ERR(KUBE_EOBJECT, at, what, "%s", "not valid base64");
        }
    } else {
        const char *ca = map_str(k, cl, "certificate-authority", NULL);
        if (ca && !(c->ca_file = resolve_path(k->file, ca)))
            return KUBE_ENOMEM;
    }
    const char *insecure = map_str(k, cl, "insecure-skip-tls-verify", &at);
    if (insecure && !parse_bool(insecure, &c->insecure_skip_tls_verify)) {
        snprintf(what, sizeof what, "clusters[%zu] (%s): cluster.insecure-skip-tls-verify", idx,
                 name);
        return FIELD_ERR(KUBE_EOBJECT, at, what, "\"%s\" is not a boolean", insecure);
    }
    if (!opt_dup(&c->tls_server_name, map_str(k, cl, "tls-server-name", NULL)))
        return KUBE_ENOMEM;
    return KUBE_OK;
}

static int read_user(kc_t *k, kube_client_config_t *c, yaml_node_t *entry, size_t idx,
                     const char *name)
{
    char what[256];
    yaml_node_t *u = map_get(k, entry, "user"), *at;
    if (!u || u->type != YAML_MAPPING_NODE)
        return KUBE_OK; /* a user with no credentials: anonymous */
    static const char *const unsupported[] = {"exec", "auth-provider", "username", "password",
                                              NULL};
    for (size_t i = 0; unsupported[i]; i++)
        if ((at = map_get(k, u, unsupported[i]))) {
            snprintf(what, sizeof what, "users[%zu] (%s): user.%s", idx, name, unsupported[i]);
            return FIELD_ERR(KUBE_EOBJECT, at, what, "%s",
                             "not supported (use a token, tokenFile or a client certificate)");
        }
    if (!opt_dup(&c->token, map_str(k, u, "token", NULL)))
        return KUBE_ENOMEM;
    const char *tf = map_str(k, u, "tokenFile", NULL);
    if (tf && !(c->token_file = resolve_path(k->file, tf)))
        return KUBE_ENOMEM;
    static const struct {
        const char *data, *file;
    } pem[2] = {{"client-certificate-data", "client-certificate"},
                {"client-key-data", "client-key"}};
    for (int i = 0; i < 2; i++) {
        char **dst = i ? &c->client_key_pem : &c->client_cert_pem;
        size_t *dlen = i ? &c->client_key_pem_len : &c->client_cert_pem_len;
        char **fdst = i ? &c->client_key_file : &c->client_cert_file;
        const char *data = map_str(k, u, pem[i].data, &at);
        if (data) {
            if (!b64_decode(data, dst, dlen)) {
                snprintf(what, sizeof what, "users[%zu] (%s): user.%s", idx, name, pem[i].data);
                return FIELD_ERR(KUBE_EOBJECT, at, what, "%s", "not valid base64");
            }
        } else {
            const char *f = map_str(k, u, pem[i].file, NULL);
            if (f && !(*fdst = resolve_path(k->file, f)))
                return KUBE_ENOMEM;
        }
    }
    bool cert = c->client_cert_pem || c->client_cert_file;
    bool key = c->client_key_pem || c->client_key_file;
    if (cert != key) {
        snprintf(what, sizeof what, "users[%zu] (%s): user.%s", idx, name,
                 cert ? "client-key" : "client-certificate");
        return FIELD_ERR(KUBE_EOBJECT, u, what, "%s",
                         cert ? "missing (client-certificate needs a key)"
                              : "missing (client-key needs a certificate)");
    }
    return KUBE_OK;
}

static int parse_doc(kc_t *k, kube_client_config_t *c, const char *context)
{
    yaml_node_t *root = yaml_document_get_root_node(&k->doc), *at;
    if (!root)
        return errf(k->err, k->errcap, KUBE_EOBJECT, "%s: empty kubeconfig", k->file);
    if (root->type != YAML_MAPPING_NODE)
        return errf(k->err, k->errcap, KUBE_EOBJECT, "%s:%u: kubeconfig is not a mapping", k->file,
                    line_of(root));
    const char *kind = map_str(k, root, "kind", &at);
    if (kind && strcmp(kind, "Config"))
        return FIELD_ERR(KUBE_EOBJECT, at, "kind", "\"%s\", expected \"Config\"", kind);
    const char *ctx = context && *context ? context : map_str(k, root, "current-context", NULL);
    if (!ctx)
        return errf(k->err, k->errcap, KUBE_EOBJECT,
                    "%s: current-context: missing, and no context was chosen", k->file);
    yaml_node_t *ce;
    size_t ci;
    int rc = find_named(k, root, "contexts", ctx, &ce, &ci);
    if (rc)
        return rc;
    yaml_node_t *cx = map_get(k, ce, "context");
    const char *cluster = map_str(k, cx, "cluster", NULL);
    const char *user = map_str(k, cx, "user", NULL);
    const char *ns = map_str(k, cx, "namespace", NULL);
    if (!cluster)
        return errf(k->err, k->errcap, KUBE_EOBJECT,
                    "%s:%u: contexts[%zu] (%s): context.cluster: "
                    "missing",
                    k->file, line_of(cx ? cx : ce), ci, ctx);
    if (!(c->context = strdup(ctx)) || !(c->namespace_name = strdup(ns ? ns : "default")) ||
        !(c->origin = strdup(k->file)))
        return KUBE_ENOMEM;
    yaml_node_t *e;
    size_t idx;
    if ((rc = find_named(k, root, "clusters", cluster, &e, &idx)) ||
        (rc = read_cluster(k, c, e, idx, cluster)))
        return rc;
    if (user) {
        if ((rc = find_named(k, root, "users", user, &e, &idx)) ||
            (rc = read_user(k, c, e, idx, user)))
            return rc;
    }
    return KUBE_OK;
}

int kube_kubeconfig_parse(kube_client_config_t *out, const char *file, const void *buf, size_t len,
                          const char *context, char *err, size_t errcap)
{
    if (!out || !file || (!buf && len))
        return errf(err, errcap, KUBE_EINVAL, "kubeconfig: invalid argument");
    kube_client_config_init(out);
    if (len > KUBE_KUBECONFIG_MAX_FILE)
        return errf(err, errcap, KUBE_ELIMIT, "%s: larger than %zu bytes", file,
                    KUBE_KUBECONFIG_MAX_FILE);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return errf(err, errcap, KUBE_ENOMEM, "%s: out of memory", file);
    yaml_parser_set_input_string(&p, buf ? buf : (const void *)"", len);
    kc_t k = {.file = file, .err = err, .errcap = errcap};
    int rc;
    if (!yaml_parser_load(&p, &k.doc)) {
        rc = p.error == YAML_MEMORY_ERROR
                 ? errf(err, errcap, KUBE_ENOMEM, "%s: out of memory", file)
                 : errf(err, errcap, KUBE_EOBJECT, "%s:%zu:%zu: YAML: %s", file,
                        p.problem_mark.line + 1, p.problem_mark.column + 1,
                        p.problem ? p.problem : "syntax error");
        yaml_parser_delete(&p);
        return rc;
    }
    rc = parse_doc(&k, out, context);
    if (rc == KUBE_ENOMEM)
        errf(err, errcap, rc, "%s: out of memory", file);
    yaml_document_delete(&k.doc);
    yaml_parser_delete(&p);
    if (rc)
        kube_client_config_dispose(out);
    return rc;
}

int kube_client_config_load_files(kube_client_config_t *c, char *err, size_t errcap)
{
    char *ca = NULL, *cert = NULL, *key = NULL, *tok = NULL;
    size_t calen = 0, certlen = 0, keylen = 0;
    int rc = KUBE_OK;
    if (!c->ca_pem && c->ca_file)
        rc = read_all(c->ca_file, "certificate-authority", &ca, &calen, err, errcap);
    if (!rc && !c->client_cert_pem && c->client_cert_file)
        rc = read_all(c->client_cert_file, "client-certificate", &cert, &certlen, err, errcap);
    if (!rc && !c->client_key_pem && c->client_key_file)
        rc = read_all(c->client_key_file, "client-key", &key, &keylen, err, errcap);
    if (!rc && !c->token && c->token_file)
        rc = kube_token_read(c->token_file, &tok, err, errcap);
    if (rc) {
        free(ca), free(cert), free(key), free(tok);
        return rc;
    }
    if (ca)
        c->ca_pem = ca, c->ca_pem_len = calen;
    if (cert)
        c->client_cert_pem = cert, c->client_cert_pem_len = certlen;
    if (key)
        c->client_key_pem = key, c->client_key_pem_len = keylen;
    if (tok)
        c->token = tok;
    return KUBE_OK;
}

int kube_kubeconfig_load(kube_client_config_t *out, const char *path, const char *context,
                         char *err, size_t errcap)
{
    kube_client_config_init(out);
    char *buf;
    size_t len;
    int rc = read_all(path, "kubeconfig", &buf, &len, err, errcap);
    if (rc)
        return rc;
    rc = kube_kubeconfig_parse(out, path, buf, len, context, err, errcap);
    free(buf);
    if (!rc && (rc = kube_client_config_load_files(out, err, errcap)))
        kube_client_config_dispose(out);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * In-cluster.
 * ------------------------------------------------------------------------------------------- */
static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p)
        snprintf(p, a + b + 2, "%s/%s", dir, name);
    return p;
}

int kube_incluster_load(kube_client_config_t *out, const kube_incluster_options_t *opts, char *err,
                        size_t errcap)
{
    kube_incluster_options_t o = {0};
    if (opts)
        o = *opts;
    if (!o.host)
        o.host = getenv("KUBERNETES_SERVICE_HOST");
    if (!o.port)
        o.port = getenv("KUBERNETES_SERVICE_PORT");
    if (!o.dir)
        o.dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    if (!o.pod_namespace)
        o.pod_namespace = getenv("POD_NAMESPACE");
    kube_client_config_init(out);
    if (!o.host || !*o.host || !o.port || !*o.port)
        return errf(err, errcap, KUBE_ENOENT,
                    "in-cluster: not in a cluster (KUBERNETES_SERVICE_HOST and "
                    "KUBERNETES_SERVICE_PORT must both be set)");
    size_t n = strlen(o.host) + strlen(o.port) + 16;
    char *url = malloc(n);
    if (!url)
        return errf(err, errcap, KUBE_ENOMEM, "in-cluster: out of memory");
    bool v6 = strchr(o.host, ':') != NULL;
    snprintf(url, n, "https://%s%s%s:%s", v6 ? "[" : "", o.host, v6 ? "]" : "", o.port);
    char uerr[200];
    int rc = kube_server_url_split(out, url, uerr, sizeof uerr);
    free(url);
    if (rc) {
        errf(err, errcap, rc, "in-cluster: KUBERNETES_SERVICE_HOST/PORT: %s", uerr);
        goto fail;
    }
    char *nsfile = join(o.dir, "namespace");
    if (!(out->token_file = join(o.dir, "token")) || !(out->ca_file = join(o.dir, "ca.crt")) ||
        !nsfile || !(out->origin = strdup("in-cluster"))) {
        free(nsfile);
        rc = errf(err, errcap, KUBE_ENOMEM, "in-cluster: out of memory");
        goto fail;
    }
    char *nsbuf = NULL;
    size_t nslen = 0;
    char nserr[64];
    if (read_all(nsfile, "namespace", &nsbuf, &nslen, nserr, sizeof nserr) == KUBE_OK) {
        out->namespace_name = trim_dup(nsbuf, nslen);
        free(nsbuf);
        if (out->namespace_name && !*out->namespace_name) {
            free(out->namespace_name);
            out->namespace_name = NULL;
        }
    }
    free(nsfile);
    if (!out->namespace_name &&
        !(out->namespace_name =
              strdup(o.pod_namespace && *o.pod_namespace ? o.pod_namespace : "default"))) {
        rc = errf(err, errcap, KUBE_ENOMEM, "in-cluster: out of memory");
        goto fail;
    }
    if ((rc = kube_client_config_load_files(out, err, errcap)))
        goto fail;
    return KUBE_OK;
fail:
    kube_client_config_dispose(out);
    return rc;
}
