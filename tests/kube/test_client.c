/*
 * The API client (kube/client.c) against an HTTPS server in the same loop (net/http_server.c,
 * test CA, h2 and http/1.1 by ALPN): whole-body requests with a bearer token, the user agent and
 * the base path; a 401 after the token file rotated is retried once with the re-read token; a
 * 401 that persists is delivered; the client-side rate limit spaces requests out; streams deliver
 * body bytes and the status; close ends pending calls with KUBE_ESTATE; cancel drops callbacks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kube/client.h"
#include "net/http_server.h"

#include "kube_test_loop.h"

typedef struct env {
    kube_test_loop_t l;
    net_tls_testcert_t certs;
    net_tls_ctx_t *tls;
    net_http_server_t *srv;
    char dir[64], token_file[128];
    char accept_token[64]; /* the token the server accepts now */
    int unauthorized, served, throttled;
    char last_ua[64], last_path[128];
    kube_client_config_t cfg;
} env_t;

typedef struct result {
    int err, status, done;
    char body[256];
    size_t bytes;
} result_t;

typedef struct count {
    const int *n;
    int want;
} count_t;

static bool count_reached(const void *ud)
{
    const count_t *c = ud;
    return *c->n >= c->want;
}

static void run_until(env_t *e, const int *done, int want)
{
    count_t c = {done, want};
    kube_test_loop_run_until(&e->l, count_reached, &c);
    assert_int_equal(*done, want);
}

static void h_any(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    env_t *e = ud;
    const net_h2_header_t *a = net_h2_header_find(req->headers, req->nheaders, "authorization");
    const net_h2_header_t *ua = net_h2_header_find(req->headers, req->nheaders, "user-agent");
    snprintf(e->last_ua, sizeof(e->last_ua), "%s", ua ? ua->value : "");
    snprintf(e->last_path, sizeof(e->last_path), "%s?%s", req->path, req->query);
    char want[96];
    snprintf(want, sizeof(want), "Bearer %s", e->accept_token);
    if (!a || strcmp(a->value, want) != 0) {
        e->unauthorized++;
        net_http_response_set_status(resp, 401);
        net_http_response_header(resp, "content-type", "application/json");
        net_http_response_printf(resp, "{\"kind\":\"Status\",\"code\":401}");
        return;
    }
    if (strncmp(req->path, "/base/busy", 10) == 0 && (e->throttled++ < 2 || req->path[10] == 'L')) {
        /* /busy: 429 twice with Retry-After 0, then 200; /busyL: always, Retry-After 30;
         * /busy5: 503 without Retry-After is just an answer */
        net_http_response_set_status(resp, req->path[10] == '5' ? 503 : 429);
        if (req->path[10] != '5')
            net_http_response_header(resp, "retry-after", req->path[10] == 'L' ? "30" : "0");
        net_http_response_printf(resp, "{\"kind\":\"Status\",\"code\":429}");
        return;
    }
    e->served++;
    net_http_response_header(resp, "content-type", "application/json");
    net_http_response_printf(resp, "{\"method\":\"%s\",\"len\":%zu}\n{\"second\":1}\n", req->method,
                             req->body_len);
}

static void write_token(env_t *e, const char *t)
{
    FILE *f = fopen(e->token_file, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", t);
    fclose(f);
}

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    kube_test_loop_init(&e->l);
    assert_int_equal(net_tls_testcert_make(&e->certs, "localhost", NULL, false), NET_OK);
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    net_tls_config_t sc = {
        .cert_pem = e->certs.cert_pem, .key_pem = e->certs.key_pem, .alpn = alpn};
    int err = 0;
    e->tls = net_tls_ctx_new(true, &sc, &err);
    assert_non_null(e->tls);
    net_http_server_config_t hc;
    net_http_server_config_default(&hc);
    hc.server.tls = e->tls;
    e->srv = net_http_server_new(&e->l.loop, &hc, &err);
    assert_non_null(e->srv);
    net_http_server_route(e->srv, "*", "/*", h_any, e);
    strcpy(e->dir, "/tmp/krtgate-kclient-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->token_file, sizeof(e->token_file), "%s/token", e->dir);
    strcpy(e->accept_token, "t1");
    write_token(e, "t1");
    kube_client_config_t *c = &e->cfg;
    kube_client_config_init(c);
    c->server = strdup("https://127.0.0.1");
    c->scheme = strdup("https");
    c->host = strdup("127.0.0.1");
    c->port = (uint16_t)net_http_server_port(e->srv);
    c->base_path = strdup("/base");
    c->tls_server_name = strdup("localhost");
    c->ca_pem = strdup(e->certs.ca_pem);
    c->ca_pem_len = strlen(c->ca_pem);
    c->token = strdup("t1");
    c->token_file = strdup(e->token_file);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    net_http_server_close(e->srv, false, NULL, NULL);
    net_tls_ctx_release(e->tls);
    kube_test_loop_close(&e->l);
    net_tls_testcert_dispose(&e->certs);
    kube_client_config_dispose(&e->cfg);
    unlink(e->token_file);
    rmdir(e->dir);
    free(e);
    return 0;
}

static void on_resp(void *ud, int err, const kube_response_t *r)
{
    result_t *res = ud;
    res->err = err;
    res->done++;
    if (r) {
        res->status = r->status;
        snprintf(res->body, sizeof(res->body), "%s", r->body);
        res->bytes = r->len;
    }
}

static void on_closed(void *ud)
{
    (*(int *)ud)++;
}

static kube_client_t *client(env_t *e, kube_client_options_t *o)
{
    kube_client_t *c = NULL;
    char err[256];
    assert_int_equal(kube_client_new(&e->l.loop, &e->cfg, o, &c, err, sizeof(err)), KUBE_OK);
    return c;
}

static void close_client(env_t *e, kube_client_t *c)
{
    int closed = 0;
    kube_client_close(c, on_closed, &closed);
    run_until(e, &closed, 1);
}

static void test_request_carries_token_agent_and_base_path(void **state)
{
    env_t *e = *state;
    kube_client_t *c = client(e, NULL);
    result_t r = {0};
    assert_int_equal(kube_client_request(c, "POST", "/api/v1/namespaces?limit=5",
                                         "application/json", "{}", 2, on_resp, &r, NULL),
                     KUBE_OK);
    run_until(e, &r.done, 1);
    assert_int_equal(r.err, KUBE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"method\":\"POST\",\"len\":2}\n{\"second\":1}\n");
    assert_string_equal(e->last_path, "/base/api/v1/namespaces?limit=5");
    assert_true(strncmp(e->last_ua, "krtgate/", 8) == 0);
    kube_client_stats_t st;
    kube_client_stats(c, &st);
    assert_true(st.h2);
    assert_int_equal(st.responses, 1);
    close_client(e, c);
}

static void test_401_rereads_rotated_token_and_retries_once(void **state)
{
    env_t *e = *state;
    kube_client_t *c = client(e, NULL);
    strcpy(e->accept_token, "t2");
    write_token(e, "t2");
    result_t r = {0};
    assert_int_equal(kube_client_request(c, "GET", "/x", NULL, NULL, 0, on_resp, &r, NULL),
                     KUBE_OK);
    run_until(e, &r.done, 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(e->unauthorized, 1);
    kube_client_stats_t st;
    kube_client_stats(c, &st);
    assert_int_equal(st.retries_401, 1);
    assert_int_equal(st.token_rereads, 1);
    /* a token the server never accepts: the second 401 is the answer */
    strcpy(e->accept_token, "t3");
    result_t r2 = {0};
    assert_int_equal(kube_client_request(c, "GET", "/x", NULL, NULL, 0, on_resp, &r2, NULL),
                     KUBE_OK);
    run_until(e, &r2.done, 1);
    assert_int_equal(r2.err, KUBE_OK);
    assert_int_equal(r2.status, 401);
    assert_int_equal(e->unauthorized, 3);
    close_client(e, c);
}

static void test_retry_after_is_honoured_then_gives_up_or_closes(void **state)
{
    env_t *e = *state;
    kube_client_t *c = client(e, NULL);
    result_t r = {0};
    assert_int_equal(kube_client_request(c, "GET", "/busy", NULL, NULL, 0, on_resp, &r, NULL),
                     KUBE_OK);
    run_until(e, &r.done, 1);
    assert_int_equal(r.err, KUBE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(e->throttled, 3); /* two 429s, then the answer */
    e->throttled = 0;
    result_t r5 = {0};
    assert_int_equal(kube_client_request(c, "GET", "/busy5", NULL, NULL, 0, on_resp, &r5, NULL),
                     KUBE_OK);
    run_until(e, &r5.done, 1);
    assert_int_equal(r5.status, 503);
    assert_int_equal(e->throttled, 1);
    /* a long Retry-After: the call sleeps; close ends it with KUBE_ESTATE, cancel silently */
    result_t slept = {0}, cancelled = {0};
    kube_call_t *call = NULL;
    assert_int_equal(
        kube_client_request(c, "GET", "/busyL", NULL, NULL, 0, on_resp, &cancelled, &call),
        KUBE_OK);
    assert_int_equal(kube_client_request(c, "GET", "/busyL", NULL, NULL, 0, on_resp, &slept, NULL),
                     KUBE_OK);
    for (int i = 0; i < 200 && e->throttled < 3; i++)
        uv_run(&e->l.loop, UV_RUN_ONCE);
    assert_int_equal(e->throttled, 3);
    kube_call_cancel(call);
    close_client(e, c);
    assert_int_equal(slept.done, 1);
    assert_int_equal(slept.err, KUBE_ESTATE);
    assert_int_equal(cancelled.done, 0);
}

static void test_rate_limit_spaces_requests(void **state)
{
    env_t *e = *state;
    kube_client_options_t o;
    kube_client_options_default(&o);
    o.qps = 20;
    o.burst = 2;
    o.http1_only = true;
    kube_client_t *c = client(e, &o);
    result_t r[6] = {0};
    int done = 0;
    uv_update_time(&e->l.loop);
    uint64_t t0 = uv_now(&e->l.loop);
    for (int i = 0; i < 6; i++)
        assert_int_equal(kube_client_request(c, "GET", "/x", NULL, NULL, 0, on_resp, &r[i], NULL),
                         KUBE_OK);
    for (long k = 0; k < 1000000 && done < 6; k++) {
        assert_false(e->l.expired);
        uv_run(&e->l.loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < 6; i++)
            done += r[i].done;
    }
    assert_int_equal(done, 6);
    /* 2 at once, then 4 tokens at 20/s: at least 200 ms (a lower bound; never flaky) */
    assert_true(uv_now(&e->l.loop) - t0 >= 190);
    kube_client_stats_t st;
    kube_client_stats(c, &st);
    assert_false(st.h2);
    close_client(e, c);
}

typedef struct sres {
    int status, done, err, head;
    size_t bytes;
} sres_t;

static void s_headers(void *ud, int st)
{
    ((sres_t *)ud)->head = st;
}
static void s_data(void *ud, const char *d, size_t n)
{
    (void)d;
    ((sres_t *)ud)->bytes += n;
}
static void s_done(void *ud, int err, int st)
{
    sres_t *r = ud;
    r->err = err;
    r->status = st;
    r->done++;
}

static void test_stream_close_and_cancel(void **state)
{
    env_t *e = *state;
    kube_client_t *c = client(e, NULL);
    sres_t s = {0};
    kube_stream_cbs_t cbs = {s_headers, s_data, s_done};
    assert_int_equal(kube_client_stream(c, "/w?watch=1", &cbs, &s, NULL), KUBE_OK);
    run_until(e, &s.done, 1);
    assert_int_equal(s.err, KUBE_OK);
    assert_int_equal(s.status, 200);
    assert_int_equal(s.head, 200);
    assert_true(s.bytes > 10);
    /* cancel: nothing ever arrives */
    result_t never = {0}, pend = {0};
    kube_call_t *call = NULL;
    assert_int_equal(kube_client_request(c, "GET", "/x", NULL, NULL, 0, on_resp, &never, &call),
                     KUBE_OK);
    kube_call_cancel(call);
    assert_int_equal(kube_client_request(c, "GET", "/x", NULL, NULL, 0, on_resp, &pend, NULL),
                     KUBE_OK);
    close_client(e, c);
    assert_int_equal(pend.done, 1);
    assert_int_equal(pend.err, KUBE_ESTATE);
    assert_int_equal(never.done, 0);
}

static void test_bad_tls_material_is_einval(void **state)
{
    env_t *e = *state;
    free(e->cfg.ca_pem);
    e->cfg.ca_pem = strdup("-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n");
    e->cfg.ca_pem_len = strlen(e->cfg.ca_pem);
    kube_client_t *c = NULL;
    char err[256];
    assert_int_equal(kube_client_new(&e->l.loop, &e->cfg, NULL, &c, err, sizeof(err)), KUBE_EINVAL);
    assert_non_null(strstr(err, "TLS"));
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_carries_token_agent_and_base_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_401_rereads_rotated_token_and_retries_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_is_honoured_then_gives_up_or_closes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_spaces_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_close_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_tls_material_is_einval, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
