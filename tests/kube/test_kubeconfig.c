/*
 * Client configuration (kube/kubeconfig.c): kubeconfigs with inline data and with files (paths
 * relative to the kubeconfig), bearer token, tokenFile and client certificates, current-context and
 * an override; every missing or bad field rejected with a message naming the file, line and field;
 * server URLs split IPv6-safely; the in-cluster configuration read from a temporary directory,
 * including a rotated token read again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/kubeconfig.h"

/* ---------------------------------------------------------------------------------------------
 * Fixtures: a temporary directory.
 * ------------------------------------------------------------------------------------------- */
typedef struct tmp {
    char dir[64];
} tmp_t;

static int tmp_setup(void **state)
{
    tmp_t *t = calloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/krtgate-kubeconfig-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    tmp_t *t = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

static void write_file(const tmp_t *t, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* "-----BEGIN CERTIFICATE-----\nCA\n" and friends, base64-encoded */
#define CA_PEM   "-----BEGIN CERTIFICATE-----\nCA\n"
#define CA_B64   "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg=="
#define CERT_B64 "Q0VSVA==" /* CERT */
#define KEY_B64  "S0VZ"     /* KEY */

static const char config_two_contexts[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: dev-cluster\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443\n"
    "    certificate-authority-data: " CA_B64 "\n"
    "- name: prod-cluster\n"
    "  cluster:\n"
    "    server: https://[fd00::1]/prefix/\n"
    "    certificate-authority: certs/ca.crt\n"
    "    insecure-skip-tls-verify: false\n"
    "    tls-server-name: api.prod\n"
    "users:\n"
    "- name: dev-user\n"
    "  user:\n"
    "    token: abc.def\n"
    "- name: prod-user\n"
    "  user:\n"
    "    client-certificate: certs/client.crt\n"
    "    client-key: /abs/client.key\n"
    "    tokenFile: token\n"
    "- name: cert-user\n"
    "  user:\n"
    "    client-certificate-data: " CERT_B64 "\n"
    "    client-key-data: " KEY_B64 "\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: dev-cluster, user: dev-user}\n"
    "- name: prod\n"
    "  context:\n"
    "    cluster: prod-cluster\n"
    "    user: prod-user\n"
    "    namespace: gateways\n"
    "- name: certs\n"
    "  context: {cluster: dev-cluster, user: cert-user, namespace: x}\n"
    "- name: anon\n"
    "  context: {cluster: dev-cluster}\n";

static int parse(kube_client_config_t *c, const char *text, const char *context, char *err)
{
    return kube_kubeconfig_parse(c, "/home/u/.kube/config", text, strlen(text), context, err, 512);
}

/* ---------------------------------------------------------------------------------------------
 * kubeconfig.
 * ------------------------------------------------------------------------------------------- */
static void test_current_context_with_inline_ca_and_token(void **state)
{
    (void)state;
    kube_client_config_t c;
    char err[512] = "";
    assert_int_equal(parse(&c, config_two_contexts, NULL, err), KUBE_OK);
    assert_string_equal(c.context, "dev");
    assert_string_equal(c.server, "https://10.0.0.1:6443");
    assert_string_equal(c.scheme, "https");
    assert_string_equal(c.host, "10.0.0.1");
    assert_int_equal(c.port, 6443);
    assert_string_equal(c.base_path, "");
    assert_int_equal(c.ca_pem_len, strlen(CA_PEM));
    assert_memory_equal(c.ca_pem, CA_PEM, c.ca_pem_len);
    assert_null(c.ca_file);
    assert_string_equal(c.token, "abc.def");
    assert_null(c.token_file);
    assert_null(c.client_cert_pem);
    assert_string_equal(c.namespace_name, "default");
    assert_string_equal(c.origin, "/home/u/.kube/config");
    kube_client_config_dispose(&c);
}

static void test_context_override_with_files_relative_to_the_kubeconfig(void **state)
{
    (void)state;
    kube_client_config_t c;
    char err[512] = "";
    assert_int_equal(parse(&c, config_two_contexts, "prod", err), KUBE_OK);
    assert_string_equal(c.context, "prod");
    assert_string_equal(c.host, "fd00::1");
    assert_int_equal(c.port, 443);
    assert_string_equal(c.base_path, "/prefix");
    assert_null(c.ca_pem);
    assert_string_equal(c.ca_file, "/home/u/.kube/certs/ca.crt");
    assert_false(c.insecure_skip_tls_verify);
    assert_string_equal(c.tls_server_name, "api.prod");
    assert_string_equal(c.client_cert_file, "/home/u/.kube/certs/client.crt");
    assert_string_equal(c.client_key_file, "/abs/client.key");
    assert_string_equal(c.token_file, "/home/u/.kube/token");
    assert_null(c.token);
    assert_string_equal(c.namespace_name, "gateways");
    kube_client_config_dispose(&c);

    assert_int_equal(parse(&c, config_two_contexts, "certs", err), KUBE_OK);
    assert_memory_equal(c.client_cert_pem, "CERT", 4);
    assert_int_equal(c.client_cert_pem_len, 4);
    assert_memory_equal(c.client_key_pem, "KEY", 3);
    assert_null(c.token);
    assert_string_equal(c.namespace_name, "x");
    kube_client_config_dispose(&c);

    assert_int_equal(parse(&c, config_two_contexts, "anon", err), KUBE_OK);
    assert_null(c.token);
    assert_null(c.client_cert_pem);
    kube_client_config_dispose(&c);
}

static void test_load_reads_the_named_files(void **state)
{
    tmp_t *t = *state;
    char cfg[1024], path[256], err[512] = "";
    snprintf(cfg, sizeof cfg,
             "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
             "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:8080', "
             "certificate-authority: ca.pem}}]\n"
             "users: [{name: u, user: {tokenFile: tok, client-certificate: %s/cert.pem, "
             "client-key: key.pem}}]\n"
             "contexts: [{name: c, context: {cluster: k, user: u}}]\n",
             t->dir);
    write_file(t, "config", cfg);
    write_file(t, "ca.pem", CA_PEM);
    write_file(t, "cert.pem", "CERT-PEM");
    write_file(t, "key.pem", "KEY-PEM");
    write_file(t, "tok", "  secret-token\n");
    snprintf(path, sizeof path, "%s/config", t->dir);
    kube_client_config_t c;
    assert_int_equal(kube_kubeconfig_load(&c, path, NULL, err, sizeof err), KUBE_OK);
    assert_string_equal(c.scheme, "http");
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.ca_pem, CA_PEM);
    assert_string_equal(c.client_cert_pem, "CERT-PEM");
    assert_string_equal(c.client_key_pem, "KEY-PEM");
    assert_string_equal(c.token, "secret-token");
    assert_non_null(c.token_file);
    /* rotation: the token file is read again */
    write_file(t, "tok", "rotated\n");
    char *tok = NULL;
    assert_int_equal(kube_token_read(c.token_file, &tok, err, sizeof err), KUBE_OK);
    assert_string_equal(tok, "rotated");
    free(tok);
    kube_client_config_dispose(&c);

    /* a named file that is missing is reported with its field */
    assert_int_equal(remove(strcat(strcpy(path, t->dir), "/key.pem")), 0);
    snprintf(path, sizeof path, "%s/config", t->dir);
    assert_int_equal(kube_kubeconfig_load(&c, path, NULL, err, sizeof err), KUBE_ENOENT);
    assert_non_null(strstr(err, "client-key "));
    assert_non_null(strstr(err, "/key.pem: No such file"));
    assert_null(c.server);
    assert_int_equal(kube_kubeconfig_load(&c, "/nonexistent/kc", NULL, err, sizeof err),
                     KUBE_ENOENT);
    assert_string_equal(err, "kubeconfig /nonexistent/kc: No such file or directory");
}

static void test_bad_kubeconfigs_name_file_line_and_field(void **state)
{
    (void)state;
    static const struct {
        const char *text, *context, *err;
    } cases[] = {
        {"kind: Config\ncontexts: []\n", NULL,
         "/home/u/.kube/config: current-context: missing, and no context was chosen"},
        {"current-context: x\ncontexts: []\n", NULL,
         "/home/u/.kube/config: contexts: no entry named \"x\""},
        {"current-context: x\ncontexts: [{name: y}]\n", "z",
         "/home/u/.kube/config: contexts: no entry named \"z\""},
        {"current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", NULL,
         "/home/u/.kube/config:4: contexts[0] (x): context.cluster: missing"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n", NULL,
         "/home/u/.kube/config: clusters: no entry named \"k\""},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\nclusters: 3\n", NULL,
         "/home/u/.kube/config:3: clusters: not a list"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
         "clusters:\n- name: k\n  cluster:\n    insecure-skip-tls-verify: true\n",
         NULL, "/home/u/.kube/config:6: clusters[0] (k): cluster.server: missing"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
         "clusters:\n- name: k\n  cluster:\n    server: ftp://h\n",
         NULL,
         "/home/u/.kube/config:6: clusters[0] (k): cluster.server: server \"ftp://h\": scheme "
         "must be https or http"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
         "clusters:\n- name: k\n  cluster:\n    server: https://h:99999\n",
         NULL,
         "/home/u/.kube/config:6: clusters[0] (k): cluster.server: server \"https://h:99999\": "
         "bad port"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
         "clusters:\n- name: k\n  cluster:\n    server: https://h\n"
         "    certificate-authority-data: '!!notbase64'\n",
         NULL,
         "/home/u/.kube/config:7: clusters[0] (k): cluster.certificate-authority-data: not valid "
         "base64"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
         "clusters:\n- name: k\n  cluster:\n    server: https://h\n"
         "    insecure-skip-tls-verify: maybe\n",
         NULL,
         "/home/u/.kube/config:7: clusters[0] (k): cluster.insecure-skip-tls-verify: \"maybe\" is "
         "not a boolean"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k, user: u}}]\n"
         "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
         "users:\n- name: u\n  user:\n    client-certificate-data: " CERT_B64 "\n",
         NULL,
         "/home/u/.kube/config:7: users[0] (u): user.client-key: missing (client-certificate "
         "needs a key)"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k, user: u}}]\n"
         "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
         "users:\n- name: u\n  user:\n    exec: {command: aws}\n",
         NULL,
         "/home/u/.kube/config:7: users[0] (u): user.exec: not supported (use a token, tokenFile "
         "or a client certificate)"},
        {"current-context: x\ncontexts: [{name: x, context: {cluster: k, user: nobody}}]\n"
         "clusters: [{name: k, cluster: {server: 'https://h'}}]\n",
         NULL, "/home/u/.kube/config: users: no entry named \"nobody\""},
        {"kind: Secret\n", NULL, "/home/u/.kube/config:1: kind: \"Secret\", expected \"Config\""},
        {"- a\n- b\n", NULL, "/home/u/.kube/config:1: kubeconfig is not a mapping"},
        {"", NULL, "/home/u/.kube/config: empty kubeconfig"},
        {"a: [1\n", NULL, "/home/u/.kube/config:2:1: YAML: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kube_client_config_t c;
        char err[512] = "";
        int rc = parse(&c, cases[i].text, cases[i].context, err);
        if (rc != KUBE_EOBJECT)
            fail_msg("case %zu: rc %d (%s)", i, rc, err);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)))
            fail_msg("case %zu:\n got  %s\n want %s", i, err, cases[i].err);
        assert_null(c.server);
        assert_null(c.context);
    }
}

static void test_oversize_kubeconfig_is_refused(void **state)
{
    (void)state;
    size_t n = KUBE_KUBECONFIG_MAX_FILE + 1;
    char *big = calloc(1, n);
    kube_client_config_t c;
    char err[256];
    assert_int_equal(kube_kubeconfig_parse(&c, "big", big, n, NULL, err, sizeof err), KUBE_ELIMIT);
    assert_non_null(strstr(err, "big: larger than"));
    free(big);
}

static void test_server_urls_split_ipv6_safely(void **state)
{
    (void)state;
    static const struct {
        const char *url, *scheme, *host, *path;
        unsigned port;
    } ok[] = {
        {"https://api.example", "https", "api.example", "", 443},
        {"http://api.example", "http", "api.example", "", 80},
        {"HTTPS://h:8443/", "https", "h", "", 8443},
        {"https://[::1]:6443/a/b//", "https", "::1", "/a/b", 6443},
        {"[fe80::1]", "https", "fe80::1", "", 443},
        {"10.1.2.3:6443", "https", "10.1.2.3", "", 6443},
        {"https://h/p?x=1", "https", "h", "/p", 443},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        kube_client_config_t c;
        kube_client_config_init(&c);
        char err[256] = "";
        if (kube_server_url_split(&c, ok[i].url, err, sizeof err))
            fail_msg("%s: %s", ok[i].url, err);
        assert_string_equal(c.scheme, ok[i].scheme);
        assert_string_equal(c.host, ok[i].host);
        assert_string_equal(c.base_path, ok[i].path);
        assert_int_equal(c.port, ok[i].port);
        kube_client_config_dispose(&c);
    }
    static const char *const bad[] = {"https://",       "https://:80", "https://[::1",
                                      "https://[::1]x", "https://h:",  "https://h:0",
                                      "https://h:12a",  "gopher://h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kube_client_config_t c;
        kube_client_config_init(&c);
        char err[256] = "";
        assert_int_equal(kube_server_url_split(&c, bad[i], err, sizeof err), KUBE_EOBJECT);
        assert_non_null(strstr(err, bad[i]));
        assert_null(c.host);
    }
}

/* ---------------------------------------------------------------------------------------------
 * In-cluster.
 * ------------------------------------------------------------------------------------------- */
static void test_in_cluster_reads_token_ca_and_namespace(void **state)
{
    tmp_t *t = *state;
    write_file(t, "token", "sa-token\n");
    write_file(t, "ca.crt", CA_PEM);
    write_file(t, "namespace", "krtgate-system\n");
    kube_incluster_options_t o = {.host = "10.96.0.1", .port = "443", .dir = t->dir};
    kube_client_config_t c;
    char err[512] = "";
    assert_int_equal(kube_incluster_load(&c, &o, err, sizeof err), KUBE_OK);
    assert_string_equal(c.server, "https://10.96.0.1:443");
    assert_string_equal(c.host, "10.96.0.1");
    assert_int_equal(c.port, 443);
    assert_string_equal(c.token, "sa-token");
    char want[256];
    snprintf(want, sizeof want, "%s/token", t->dir);
    assert_string_equal(c.token_file, want);
    assert_string_equal(c.ca_pem, CA_PEM);
    assert_string_equal(c.namespace_name, "krtgate-system");
    assert_string_equal(c.origin, "in-cluster");
    assert_null(c.context);
    kube_client_config_dispose(&c);

    /* IPv6 service host; no namespace file: POD_NAMESPACE, then "default" */
    snprintf(want, sizeof want, "%s/namespace", t->dir);
    assert_int_equal(remove(want), 0);
    o.host = "fd00::1";
    o.port = "6443";
    o.pod_namespace = "from-env";
    assert_int_equal(kube_incluster_load(&c, &o, err, sizeof err), KUBE_OK);
    assert_string_equal(c.server, "https://[fd00::1]:6443");
    assert_string_equal(c.host, "fd00::1");
    assert_string_equal(c.namespace_name, "from-env");
    kube_client_config_dispose(&c);
}

static void test_in_cluster_errors(void **state)
{
    tmp_t *t = *state;
    kube_client_config_t c;
    char err[512] = "";
    kube_incluster_options_t o = {.host = "", .port = "443", .dir = t->dir};
    assert_int_equal(kube_incluster_load(&c, &o, err, sizeof err), KUBE_ENOENT);
    assert_non_null(strstr(err, "not in a cluster"));
    o.host = "10.0.0.1";
    o.port = "http";
    assert_int_equal(kube_incluster_load(&c, &o, err, sizeof err), KUBE_EOBJECT);
    assert_non_null(strstr(err, "bad port"));
    o.port = "443";
    assert_int_equal(kube_incluster_load(&c, &o, err, sizeof err), KUBE_ENOENT);
    assert_non_null(strstr(err, "ca.crt"));
    assert_non_null(strstr(err, "certificate-authority"));
    write_file(t, "ca.crt", CA_PEM);
    write_file(t, "token", " \n");
    assert_int_equal(kube_incluster_load(&c, &o, err, sizeof err), KUBE_EOBJECT);
    assert_non_null(strstr(err, "/token: empty"));
    assert_null(c.server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_context_with_inline_ca_and_token),
        cmocka_unit_test(test_context_override_with_files_relative_to_the_kubeconfig),
        cmocka_unit_test_setup_teardown(test_load_reads_the_named_files, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_bad_kubeconfigs_name_file_line_and_field),
        cmocka_unit_test(test_oversize_kubeconfig_is_refused),
        cmocka_unit_test(test_server_urls_split_ipv6_safely),
        cmocka_unit_test_setup_teardown(test_in_cluster_reads_token_ca_and_namespace, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_errors, tmp_setup, tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
