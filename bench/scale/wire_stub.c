/*
 * The wire part of `krtgate bench` when krtgate_xds is not built: bs_wire_new says so and the
 * bench measures up to the translate outputs (flush done). See wire.h.
 */
#include <stdio.h>

#include "wire.h"

bool bs_wire_available(void)
{
    return false;
}

bs_wire_t *bs_wire_new(krt_collection_t *const *outs, size_t n, size_t proxies,
                       const char *const *gateways, size_t ngw, uint64_t *initial_ns)
{
    (void)outs;
    (void)n;
    (void)proxies;
    (void)gateways;
    (void)ngw;
    *initial_ns = 0;
    fprintf(stderr, "krtgate-bench: built without xds/ (krtgate_xds): no proxies; latencies end "
                    "at the translate outputs\n");
    return NULL;
}

void bs_wire_expect(bs_wire_t *w, const krt_batch_t *batch)
{
    (void)w;
    (void)batch;
}

int bs_wire_wait(bs_wire_t *w, uint64_t *done_ns)
{
    (void)w;
    *done_ns = 0;
    return 0;
}

void bs_wire_stats(const bs_wire_t *w, bs_wire_stats_t *out)
{
    (void)w;
    (void)out;
}

bool bs_wire_in_sync(bs_wire_t *w)
{
    (void)w;
    return true;
}

size_t bs_wire_proxies(const bs_wire_t *w)
{
    (void)w;
    return 0;
}

void bs_wire_free(bs_wire_t *w)
{
    (void)w;
}
