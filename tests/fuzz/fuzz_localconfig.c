/*
 * libFuzzer target for agentgateway's local config parser (proxy/localconfig.c): arbitrary bytes
 * are parsed as a config file. It must either give a change set or refuse with a message that
 * starts with the file name; a change set must name every object by its own xDS name, and the
 * config store must then accept it or reject it whole (its snapshot invariants checked). Any
 * crash, sanitizer report or abort() is a bug. Seeds: tests/fuzz/corpus/localconfig.
 *
 * Needs: krtgate_proxy (libyaml, jansson, PCRE2) and krt.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config.h"
#include "proxy/localconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proxy_localconfig_t *lc = NULL;
    char err[512];
    int rc = proxy_localconfig_parse((const char *)data, size, "fuzz.yaml", &lc, err, sizeof err);
    if (rc != PROXY_OK) {
        CHECK(lc == NULL);
        CHECK(rc == PROXY_ECONFIG || rc == PROXY_ENOMEM);
        CHECK(strncmp(err, "fuzz.yaml", 9) == 0);
        return 0;
    }
    size_t n;
    const proxy_change_t *ch = proxy_localconfig_changes(lc, &n);
    for (size_t i = 0; i < n; i++)
        CHECK(ch[i].obj && strcmp(ch[i].name, ir_obj_name(ch[i].obj)) == 0);
    proxy_config_t *cfg = proxy_config_new();
    CHECK(cfg);
    char reason[512];
    rc = proxy_config_apply(cfg, ch, n, true, reason, sizeof reason);
    CHECK(rc == PROXY_OK || rc == PROXY_ECONFIG || rc == PROXY_ENOMEM);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    CHECK(proxy_snapshot_check(s) == PROXY_OK);
    CHECK(proxy_snapshot_generation(s) == (rc == PROXY_OK ? 2u : 1u));
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
    proxy_localconfig_free(lc);
    return 0;
}
