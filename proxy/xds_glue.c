/*
 * xds/ → proxy change sets (proxy/xds_glue.h). Compiled only when krtgate_xds exists.
 * A change set is converted element by element (the layouts agree, but a cast would tie the two
 * modules' structs together silently).
 */
#ifdef KRTGATE_PROXY_HAVE_XDS
#include <stdio.h>
#include <stdlib.h>

#include "proxy/xds_glue.h"

void proxy_xds_inproc_cb(const xds_changeset_t *cs, void *ud)
{
    proxy_t *p = ud;
    proxy_change_t *ch = calloc(cs->len + 1, sizeof *ch);
    char reason[512] = "";
    int rc = PROXY_ENOMEM;
    if (ch) {
        for (size_t i = 0; i < cs->len; i++)
            ch[i] =
                (proxy_change_t){(int)cs->changes[i].type, cs->changes[i].name, cs->changes[i].obj};
        rc = proxy_apply(p, ch, cs->len, cs->initial, reason, sizeof reason);
    }
    free(ch);
    if (rc != PROXY_OK)
        fprintf(stderr, "proxy: in-process change set (version %llu) rejected: %s\n",
                (unsigned long long)cs->version, rc == PROXY_ENOMEM ? "out of memory" : reason);
}

int proxy_xds_client_update(xds_client_t *c, const xds_update_t *u, char *reason, size_t cap,
                            void *ud)
{
    proxy_t *p = ud;
    (void)c;
    size_t n = u->n_added + u->n_removed;
    proxy_change_t *ch = calloc(n + 1, sizeof *ch);
    if (!ch) {
        snprintf(reason, cap, "proxy: out of memory");
        return 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < u->n_added; i++)
        proxy_change_of_obj(&ch[k++], u->added[i]);
    for (size_t i = 0; i < u->n_removed; i++)
        ch[k++] = (proxy_change_t){(int)u->type, u->removed[i], NULL};
    int rc = proxy_apply(p, ch, n, false, reason, cap);
    free(ch);
    return rc == PROXY_OK ? 0 : 1;
}
#else
/* Without xds this file is empty; ISO C wants at least one declaration. */
typedef int proxy__xds_glue_unused_t;
#endif
