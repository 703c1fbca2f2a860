/*
 * libFuzzer target for proxy/cel.c: the input is a CEL expression; it is compiled and, when it
 * compiles, evaluated against a fixed request (method, path, headers, source, JWT claims, basic
 * user) both as a condition and as text. Checks: compile either succeeds or names a column;
 * evaluation never crashes, never reads outside the request, and gives the same answer twice
 * (no state leaks between evaluations). Any crash, sanitizer report or abort() is a bug.
 * Seeds: tests/fuzz/corpus/cel (the authorization rules of tests/proxy/test_cel.c and
 * test_policy.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/cel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static const net_h2_header_t HEADERS[] = {
    {"x-user", 6, "alice", 5},
    {"accept", 6, "text/html", 9},
    {"x-multi", 7, "a", 1},
    {"x-multi", 7, "b", 1},
};

static json_t *claims;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!claims) {
        claims = json_loads("{\"sub\":\"alice\",\"groups\":[\"dev\",\"ops\",[1,[2,{\"a\":[]}]]],"
                            "\"exp\":1700000000,\"n\":{\"x\":1.5,\"t\":true,\"z\":null}}",
                            0, NULL);
        CHECK(claims);
    }
    char err[256];
    proxy_cel_t *e = NULL;
    int rc = proxy_cel_compile((const char *)data, size, &e, err, sizeof err);
    if (rc != 0) {
        CHECK(rc == -1 && !e && strncmp(err, "col ", 4) == 0);
        return 0;
    }
    proxy_cel_activation_t a = {0};
    a.has_request = true;
    a.method = "POST";
    a.path = "/api/v1/items";
    a.query = "q=1&r=2";
    a.host = "example.com";
    a.scheme = "https";
    a.headers = HEADERS;
    a.nheaders = sizeof HEADERS / sizeof HEADERS[0];
    a.source_address = "192.0.2.1";
    a.source_port = 12345;
    a.jwt = claims;
    a.basic_user = "bob";
    a.api_key = "k-1";
    char why[160], t1[512], t2[512];
    proxy_cel_result_t r1 = proxy_cel_eval_bool(e, &a, why, sizeof why);
    proxy_cel_result_t r2 = proxy_cel_eval_bool(e, &a, NULL, 0);
    CHECK(r1 == r2);
    CHECK(r1 == PROXY_CEL_TRUE || r1 == PROXY_CEL_FALSE || (r1 == PROXY_CEL_ERROR && why[0]));
    size_t n1 = proxy_cel_eval_text(e, &a, t1, sizeof t1);
    size_t n2 = proxy_cel_eval_text(e, &a, t2, sizeof t2);
    CHECK(n1 == n2 && n1 < sizeof t1 && !memcmp(t1, t2, n1));
    /* the same expression without a request (network authorization) */
    proxy_cel_activation_t b = {0};
    b.source_address = "::1";
    b.source_port = 1;
    (void)proxy_cel_eval_bool(e, &b, why, sizeof why);
    proxy_cel_free(e);
    return 0;
}
