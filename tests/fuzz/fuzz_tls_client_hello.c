/*
 * libFuzzer target for the TLS ClientHello reader (proxy/tls_hello.c), which reads bytes from
 * any client on a passthrough listener before anything is known about it. Checks: no crash or
 * overread (the input is used in place, without slack); the SNI is NUL-terminated, lowercase and
 * made of host-name bytes; an accepted ClientHello consumed no more than the input; every prefix
 * of an accepted input asks for more (never an error, never a different answer), and the same
 * input re-framed with a record boundary moved gives the same SNI.
 * Needs library: krtgate_proxy.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/tls_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    proxy_tls_hello_t h;
    int rc = proxy_tls_hello_parse(data, size, &h);
    CHECK(rc == PROXY_TLS_HELLO_OK || rc == PROXY_TLS_HELLO_MORE || rc == PROXY_TLS_HELLO_EBAD);
    size_t n = strnlen(h.sni, sizeof h.sni);
    CHECK(n < sizeof h.sni);
    CHECK(strnlen(h.why, sizeof h.why) < sizeof h.why);
    for (size_t i = 0; i < n; i++)
        CHECK(h.sni[i] > 0x20 && h.sni[i] < 0x7f && !(h.sni[i] >= 'A' && h.sni[i] <= 'Z'));
    if (rc != PROXY_TLS_HELLO_OK) {
        CHECK(n == 0);
        return 0;
    }
    CHECK(h.consumed >= 9 && h.consumed <= size);
    char sni[256];
    memcpy(sni, h.sni, n + 1);
    /* Prefixes: a few lengths, each checked on an exact-size copy. */
    size_t step = h.consumed / 7 + 1;
    for (size_t len = 0; len < h.consumed; len += step) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, data, len);
        proxy_tls_hello_t p;
        CHECK(proxy_tls_hello_parse(copy, len, &p) == PROXY_TLS_HELLO_MORE);
        free(copy);
    }
    /* Re-frame the first record's payload in two records (if it has at least 2 bytes). */
    size_t rlen = ((size_t)data[3] << 8) | data[4];
    if (rlen >= 2 && 5 + rlen <= h.consumed) {
        size_t cut = 1 + data[5] % (rlen - 1);
        uint8_t *r = malloc(size + 5);
        memcpy(r, data, 5 + cut);
        r[3] = (uint8_t)(cut >> 8);
        r[4] = (uint8_t)cut;
        r[5 + cut] = data[0];
        r[6 + cut] = data[1];
        r[7 + cut] = data[2];
        r[8 + cut] = (uint8_t)((rlen - cut) >> 8);
        r[9 + cut] = (uint8_t)(rlen - cut);
        memcpy(r + 10 + cut, data + 5 + cut, size - 5 - cut);
        proxy_tls_hello_t p;
        int rc2 = proxy_tls_hello_parse(r, size + 5, &p);
        /* The extra 5 bytes can push a large input over the input bound; otherwise equal. */
        CHECK(rc2 == PROXY_TLS_HELLO_OK || rc2 == PROXY_TLS_HELLO_EBAD);
        if (rc2 == PROXY_TLS_HELLO_OK)
            CHECK(strcmp(p.sni, sni) == 0 && p.consumed == h.consumed + 5);
        free(r);
    }
    return 0;
}
