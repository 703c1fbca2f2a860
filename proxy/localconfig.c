/* placeholder: replaced below */
#include <stdio.h>
#include <stdlib.h>

#include "proxy/localconfig.h"

struct proxy_localconfig {
    proxy_change_t *ch;
    size_t n;
};

int proxy_localconfig_parse(const char *text, size_t len, const char *filename,
                            proxy_localconfig_t **out, char *err, size_t cap)
{
    (void)text;
    (void)len;
    *out = NULL;
    snprintf(err, cap, "%s: not implemented", filename ? filename : "config");
    return PROXY_ECONFIG;
}

const proxy_change_t *proxy_localconfig_changes(const proxy_localconfig_t *lc, size_t *n)
{
    *n = lc->n;
    return lc->ch;
}

void proxy_localconfig_free(proxy_localconfig_t *lc)
{
    free(lc);
}
