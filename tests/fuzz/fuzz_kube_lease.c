/*
 * libFuzzer target for the leader-election state machine (kube/lease.c). The input is a script:
 * each step is one byte choosing what happens to the action in progress (a response with one of a
 * few statuses, a transport error, the wait elapsing, the clock moving, a tick, a release) and,
 * for responses, a length byte and that many bytes of body, parsed as JSON when they are JSON — a
 * Lease answer from a confused or hostile API server. After every step the invariant check must
 * hold and the next action must be well formed. Seeds: tests/fuzz/corpus/kube_lease.
 *
 * Needs: krtgate_kube (jansson) and krt.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/lease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static int64_t wall(void *ud)
{
    return (int64_t)(*(uint64_t *)ud) * 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t now = 0;
    kube_lease_options_t o = {
        .identity = "me", .namespace_name = "ns", .name = "l", .wall_us = wall, .wall_ud = &now};
    kube_lease_t *l = kube_lease_new(&o);
    if (!l)
        return 0;
    static const int statuses[] = {200, 201, 404, 409, 500, 401};
    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++];
        kube_lease_action_t a;
        if (kube_lease_next(l, now, &a) == KUBE_OK) {
            CHECK(a.kind >= KUBE_LEASE_GET && a.kind <= KUBE_LEASE_DONE);
            if (a.kind <= KUBE_LEASE_UPDATE)
                CHECK(a.method && a.path && (a.kind == KUBE_LEASE_GET || a.body));
        }
        switch (op % 8) {
        case 0:
        case 1: {
            size_t len = i < size ? data[i++] : 0;
            if (len > size - i)
                len = size - i;
            json_t *body = len ? json_loadb((const char *)data + i, len, 0, NULL) : NULL;
            i += len;
            kube_lease_on_response(l, now, statuses[(op >> 3) % 6], body);
            json_decref(body);
            break;
        }
        case 2:
            kube_lease_on_error(l, now);
            break;
        case 3:
            kube_lease_on_waited(l, now);
            break;
        case 4:
            now += (uint64_t)(op >> 3) * 500;
            break;
        case 5:
            kube_lease_tick(l, now);
            break;
        case 6:
            if ((op >> 3) == 31)
                kube_lease_release(l, now);
            break;
        default: {
            /* a well-formed answer from the simulated server: our own body echoed back */
            if (kube_lease_next(l, now, &a) == KUBE_OK && a.body) {
                json_t *j = json_loads(a.body, 0, NULL);
                kube_lease_on_response(l, now, a.kind == KUBE_LEASE_CREATE ? 201 : 200, j);
                json_decref(j);
            }
            break;
        }
        }
        CHECK(kube_lease_check(l) == KUBE_OK);
    }
    kube_lease_free(l);
    return 0;
}
