/*
 * The duties' metrics (kube/duties.c): every family has HELP and TYPE lines and a value that
 * follows the writer's counters; writers that are not there have no families.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/duties.h"

static void test_families_follow_the_counters(void **state)
{
    (void)state;
    kube_api_t api = {0};
    kube_status_writer_t *sw = kube_status_writer_new(api, NULL);
    kube_applier_t *ap = kube_applier_new(api, NULL);
    kube_tokenreview_t *tr = kube_tokenreview_new(api, NULL);
    char *m = kube_duties_metrics(sw, ap, tr);
    assert_non_null(m);
    assert_non_null(strstr(m, "# TYPE krtgate_status_patches_total counter\n"
                              "krtgate_status_patches_total 0\n"));
    assert_non_null(strstr(m, "# HELP krtgate_deployer_queued "));
    assert_non_null(strstr(m, "krtgate_xds_auth_requests_total 0\n"));
    free(m);
    /* a stream without a token is one refusal */
    xds_auth_t auth;
    kube_tokenreview_auth(tr, &auth);
    xds_auth_request_t req = {.peer = "127.0.0.1:1"};
    char reason[128];
    assert_int_equal(auth.cb(&req, NULL, reason, sizeof reason, auth.ud), 16);
    m = kube_duties_metrics(NULL, NULL, tr);
    assert_non_null(strstr(m, "krtgate_xds_auth_unauthenticated_total 1\n"));
    assert_null(strstr(m, "krtgate_status_"));
    free(m);
    m = kube_duties_metrics(NULL, NULL, NULL);
    assert_string_equal(m, "");
    free(m);
    kube_tokenreview_free(tr);
    kube_applier_free(ap);
    kube_status_writer_free(sw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_follow_the_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
