/*
 * Client configuration: where the API server is and how to authenticate to it, from a kubeconfig
 * file or from the in-cluster service-account files, into one kube_client_config_t that the
 * transport (net/) uses.
 *
 * Two steps, so that parsing stays sans-IO and testable on buffers:
 *   kube_kubeconfig_parse()    YAML bytes → config; files the kubeconfig names (certificate-
 *                              authority, client-certificate, client-key) are only recorded, as
 *                              paths resolved against the kubeconfig's directory
 *   kube_client_config_load_files()  reads those files into the PEM fields (and the token file
 *                              once; kube_token_read() re-reads it later, as tokens rotate)
 * kube_kubeconfig_load() does both for a path; kube_incluster_load() builds the in-cluster config.
 *
 * Error messages name the file and the field: "FILE:LINE: users[0] (alice): user.client-key-data:
 * not valid base64". Only what the transport can use is read: exec plugins, auth-provider and
 * username/password are rejected with a message saying so, rather than ignored.
 */
#ifndef KUBE_KUBECONFIG_H
#define KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kube.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KUBE_KUBECONFIG_MAX_FILE ((size_t)4 << 20) /* kubeconfig and the files it names */

typedef struct kube_client_config {
    char *server;    /* the URL as written ("https://10.0.0.1:6443") */
    char *scheme;    /* "https" or "http" */
    char *host;      /* "10.0.0.1", "api.example", "::1" (no brackets) */
    uint16_t port;   /* explicit, or 443 / 80 from the scheme */
    char *base_path; /* path prefix of the server URL without trailing '/', "" when none */
    bool insecure_skip_tls_verify;
    char *tls_server_name; /* or NULL */
    char *ca_file;         /* certificate-authority path, or NULL */
    char *ca_pem;          /* certificate-authority-data decoded, or the file's bytes; or NULL */
    size_t ca_pem_len;
    char *client_cert_file, *client_key_file; /* or NULL */
    char *client_cert_pem, *client_key_pem;   /* or NULL */
    size_t client_cert_pem_len, client_key_pem_len;
    char *token;          /* bearer token, or NULL */
    char *token_file;     /* file to (re-)read the bearer token from, or NULL */
    char *namespace_name; /* default namespace: the context's, the in-cluster one, or "default" */
    char *context;        /* the context used; NULL in-cluster */
    char *origin;         /* the kubeconfig path, or "in-cluster" */
} kube_client_config_t;

/* Makes |c| empty. */
void kube_client_config_init(kube_client_config_t *c);
/* Frees every string of |c| and makes it empty. */
void kube_client_config_dispose(kube_client_config_t *c);

/* Parses the kubeconfig in |buf| (|len| bytes) read from |file| (used in messages and to resolve
 * relative paths). |context| selects a context (`--context`); NULL uses current-context.
 * On success |out| is filled (dispose it); on failure it is left empty and |err| (|errcap| bytes)
 * holds the message. Borrows everything.
 * Returns: KUBE_OK; KUBE_EOBJECT for a bad kubeconfig; KUBE_ELIMIT for an input over
 * KUBE_KUBECONFIG_MAX_FILE; KUBE_ENOMEM; KUBE_EINVAL for NULL arguments. */
int kube_kubeconfig_parse(kube_client_config_t *out, const char *file, const void *buf, size_t len,
                          const char *context, char *err, size_t errcap);

/* Reads the files |c| names (ca_file, client cert and key, token_file) into its PEM and token
 * fields, when those are still NULL. Borrows c's paths.
 * Returns: KUBE_OK, KUBE_ENOENT / KUBE_EIO (message names the file and the field), KUBE_ELIMIT,
 * KUBE_ENOMEM; on failure |c| is unchanged. */
int kube_client_config_load_files(kube_client_config_t *c, char *err, size_t errcap);

/* Reads the kubeconfig at |path| and its files. As kube_kubeconfig_parse plus the I/O errors. */
int kube_kubeconfig_load(kube_client_config_t *out, const char *path, const char *context,
                         char *err, size_t errcap);

/* Where the in-cluster configuration comes from. Every NULL field takes the real default: the
 * environment variables KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT / POD_NAMESPACE and the
 * directory /var/run/secrets/kubernetes.io/serviceaccount. Tests set them all. */
typedef struct kube_incluster_options {
    const char *host;          /* KUBERNETES_SERVICE_HOST */
    const char *port;          /* KUBERNETES_SERVICE_PORT */
    const char *dir;           /* holds token, ca.crt, namespace */
    const char *pod_namespace; /* POD_NAMESPACE, used when the namespace file is absent */
} kube_incluster_options_t;

/* Builds the in-cluster configuration: https://HOST:PORT, the token file (read now and named for
 * re-reading), the CA, the namespace. Borrows opts (NULL for all defaults).
 * Returns: KUBE_OK; KUBE_ENOENT when not in a cluster (no host/port) or a file is missing;
 * KUBE_EOBJECT for a bad port; KUBE_EIO; KUBE_ENOMEM. On failure |out| is left empty. */
int kube_incluster_load(kube_client_config_t *out, const kube_incluster_options_t *opts, char *err,
                        size_t errcap);

/* Reads a bearer token file (surrounding whitespace trimmed) into |*token| (owned by caller,
 * free()). Call it every minute and after a 401: projected tokens rotate.
 * Returns: KUBE_OK, KUBE_ENOENT, KUBE_EIO, KUBE_EOBJECT (empty token), KUBE_ENOMEM. */
int kube_token_read(const char *path, char **token, char *err, size_t errcap);

/* Splits a server URL into |c|'s scheme, host, port and base_path (replacing them). Accepts
 * "https://host[:port][/path]", "http://…", "[v6]:port" forms, and a bare "host[:port]" (https).
 * Returns: KUBE_OK, KUBE_EOBJECT (message in err), KUBE_ENOMEM. */
int kube_server_url_split(kube_client_config_t *c, const char *url, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_KUBECONFIG_H */
