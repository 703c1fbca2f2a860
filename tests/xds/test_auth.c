/*
 * Stream authentication (xds/auth.c): the bearer-token parser, the static token file (grants per
 * role, "*", comments, malformed lines named with file:line, unreadable files), and the pending
 * handle when either side finishes first.
 */
#include <unistd.h>

#include "xds_test_util.h"

#include "xds/auth.h"

static void test_bearer_token_parsing(void **state)
{
    (void)state;
    size_t n = 0;
    const char *t = xds_auth_bearer("Bearer abc.def", &n);
    assert_non_null(t);
    assert_int_equal(n, 7);
    assert_memory_equal(t, "abc.def", 7);
    t = xds_auth_bearer("  bearer   xyz  ", &n);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "xyz", 3);
    assert_null(xds_auth_bearer("Basic abc", &n));
    assert_null(xds_auth_bearer("Bearer", &n));
    assert_null(xds_auth_bearer("Bearer   ", &n));
    assert_null(xds_auth_bearer("Bearerabc", &n));
    assert_null(xds_auth_bearer(NULL, &n));
}

static int decide(const xds_auth_t *a, const char *token, const char *role, char *reason)
{
    char gw[128];
    xds_auth_request_t req = {0};
    req.token = token;
    req.role = role;
    req.gateway = role && xds_role_to_gateway(role, gw, sizeof gw) == XDS_OK ? gw : NULL;
    req.node_id = "n";
    req.peer = "127.0.0.1:1";
    reason[0] = '\0';
    return a->cb(&req, NULL, reason, 128, a->ud);
}

static void test_static_grants(void **state)
{
    (void)state;
    xds_auth_t a;
    xds_err_t err = {0};
    assert_int_equal(xds_auth_static_parse("a default~gw1  # proxy of gw1\n"
                                           "\n   # comment line\n"
                                           "a default~gw3\r\n"
                                           "root *\n",
                                           "inline", &a, &err),
                     XDS_OK);
    char why[128];
    assert_int_equal(decide(&a, "a", "default~gw1", why), 0);
    assert_int_equal(decide(&a, "a", "default~gw3", why), 0);
    assert_int_equal(decide(&a, "a", "default~gw2", why), 7);
    assert_non_null(strstr(why, "default~gw2"));
    assert_int_equal(decide(&a, "a", NULL, why), 7);
    assert_int_equal(decide(&a, "root", "any~thing", why), 0);
    assert_int_equal(decide(&a, "root", NULL, why), 0);
    assert_int_equal(decide(&a, "ab", "default~gw1", why), 16);
    assert_string_equal(why, "unknown token");
    assert_int_equal(decide(&a, NULL, "default~gw1", why), 16);
    xds_auth_dispose(&a);
    assert_null(a.cb);
}

static void test_malformed_files_name_the_line(void **state)
{
    (void)state;
    xds_auth_t a;
    xds_err_t err = {0};
    assert_int_equal(xds_auth_static_parse("ok *\nlonely\n", "tokens.txt", &a, &err), XDS_EINVAL);
    assert_non_null(strstr(err.msg, "tokens.txt:2"));
    assert_int_equal(xds_auth_static_parse("t bad-role\n", "f", &a, &err), XDS_EINVAL);
    assert_int_equal(xds_auth_static_parse("t a~b extra\n", "f", &a, &err), XDS_EINVAL);
    assert_int_equal(xds_auth_static_load("/nonexistent/tokens", &a, &err), XDS_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/tokens"));
    char path[] = "/tmp/xds-auth-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "file-token default~gw\n", 22), 22);
    close(fd);
    assert_int_equal(xds_auth_static_load(path, &a, &err), XDS_OK);
    char why[128];
    assert_int_equal(decide(&a, "file-token", "default~gw", why), 0);
    xds_auth_dispose(&a);
    unlink(path);
}

static int done_calls, done_status;
static void on_done(void *ctx, int status, const char *reason)
{
    (void)reason;
    assert_non_null(ctx);
    done_calls++;
    done_status = status;
}

static void test_pending_handle_survives_either_side_finishing_first(void **state)
{
    (void)state;
    int ctx;
    /* completed while the stream lives */
    xds_auth_pending_t *p = xds__auth_pending_new(on_done, &ctx);
    xds_auth_complete(p, 7, "no");
    assert_int_equal(done_calls, 1);
    assert_int_equal(done_status, 7);
    xds__auth_pending_cancel(p); /* the server's reference */
    /* the stream went first */
    p = xds__auth_pending_new(on_done, &ctx);
    xds__auth_pending_cancel(p);
    xds_auth_complete(p, 0, NULL);
    assert_int_equal(done_calls, 1);
    /* answered synchronously */
    p = xds__auth_pending_new(on_done, &ctx);
    xds__auth_pending_drop(p);
    assert_int_equal(done_calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_token_parsing),
        cmocka_unit_test(test_static_grants),
        cmocka_unit_test(test_malformed_files_name_the_line),
        cmocka_unit_test(test_pending_handle_survives_either_side_finishing_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
