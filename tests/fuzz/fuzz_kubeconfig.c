/*
 * libFuzzer target for the kubeconfig parser (kube/kubeconfig.c) and the server URL splitter:
 * arbitrary bytes are parsed as a kubeconfig with the current context and with an override
 * ("prod"); a success must yield a complete server (scheme, host, port) and a namespace, a failure
 * an error message that starts with the file name and leaves the config empty. The input's first
 * line is also split as a server URL. Any crash, sanitizer report or abort() is a bug. Seeds:
 * tests/fuzz/corpus/kubeconfig.
 *
 * Needs: krtgate_kube (libyaml) and krt.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const contexts[] = {NULL, "prod"};
    for (size_t i = 0; i < 2; i++) {
        kube_client_config_t c;
        char err[512] = "";
        int rc =
            kube_kubeconfig_parse(&c, "fuzz.kubeconfig", data, size, contexts[i], err, sizeof err);
        if (rc == KUBE_OK) {
            CHECK(c.server && c.scheme && c.host && *c.host && c.port && c.base_path);
            CHECK(c.namespace_name && c.context && c.origin);
            CHECK((c.client_cert_pem || c.client_cert_file) ==
                  (c.client_key_pem || c.client_key_file));
            kube_client_config_dispose(&c);
        } else {
            CHECK(rc == KUBE_EOBJECT || rc == KUBE_ENOMEM || rc == KUBE_ELIMIT);
            CHECK(rc == KUBE_ENOMEM || !strncmp(err, "fuzz.kubeconfig", 15));
            CHECK(!c.server && !c.host && !c.token && !c.context);
        }
    }
    size_t n = 0;
    while (n < size && n < 256 && data[n] != '\n' && data[n] != '\0')
        n++;
    char url[257];
    memcpy(url, data, n);
    url[n] = '\0';
    kube_client_config_t c;
    kube_client_config_init(&c);
    char err[512];
    if (kube_server_url_split(&c, url, err, sizeof err) == KUBE_OK)
        CHECK(c.host && *c.host && c.port && c.scheme && c.base_path);
    else
        CHECK(!c.host);
    kube_client_config_dispose(&c);
    return 0;
}
