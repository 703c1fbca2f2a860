/*
 * Integration tests of proxy/http.c: a real proxy on a libuv loop (in a thread), two echo
 * upstreams written on net/ (JSON of method, path, host, headers, body length), and curl as the
 * client. Covers routing by path, host and header; header modifiers seen by the echo and on the
 * response; redirects; rewrites; direct responses; 404, 500 and 503; streamed uploads (1 MiB,
 * chunked); upstream keep-alive reuse; a config change while traffic flows; and an invalid change
 * rejected while the old config keeps serving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "net/conn.h"
#include "net/h1.h"
#include "net/tls.h"
#include "proxy/admin.h"
#include "proxy/proxy.h"
#include "curl_rig.h"
#include "echo_rig.h"
#include "loop_rig.h"
#include "proxy_test_util.h"

/* ------------------------------------------------------------------------------------------- */
/* The loop thread and jobs run on it */

typedef struct world {
    tu_loop_t rig;
    bool stop;
    proxy_t *proxy;
    tu_echo_t v1, v2;
    int port;           /* the proxy's port for bind 80/default/gw */
    int port_empty;     /* a listener for a Bind that does not exist */
    int dead_port;      /* nothing listens there */
    int tls_port;       /* bind 443/default/gw (HTTPS) */
    net_server_t *hole; /* accepts and never answers */
    net_http_server_t *admin;
    int admin_port;
    char ca_file[64];
    int rc;
    char reason[512];
} world_t;

static Agentgateway__Dev__Resource__TrafficPolicySpec *tps_new(void)
{
    Agentgateway__Dev__Resource__TrafficPolicySpec *t = ir_pb_alloc(sizeof *t);
    agentgateway__dev__resource__traffic_policy_spec__init(t);
    return t;
}

static Agentgateway__Dev__Resource__Header *hdr_new(const char *n, const char *v)
{
    Agentgateway__Dev__Resource__Header *h = ir_pb_alloc(sizeof *h);
    agentgateway__dev__resource__header__init(h);
    h->name = tu_strdup(n);
    h->value = tu_strdup(v);
    return h;
}

static const char *L = "default/gw.http";

/* The base config: v1 is a static Backend, v2 a Service with one Workload. */
static void job_config(void *world, void *arg)
{
    world_t *w = world;
    const char *root_backend = arg;
    char v1[64];
    snprintf(v1, sizeof v1, "127.0.0.1");
    tu_route_pb_t *mod = tu_route_pb("default", "mod", 0, L, "", "exact:/mod", "be:default/v1");
    {
        Agentgateway__Dev__Resource__TrafficPolicySpec *t = tps_new();
        t->kind_case =
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER;
        t->request_header_modifier = ir_pb_alloc(sizeof *t->request_header_modifier);
        agentgateway__dev__resource__header_modifier__init(t->request_header_modifier);
        Agentgateway__Dev__Resource__HeaderModifier *m = t->request_header_modifier;
        TU_PUSH(m->set, m->n_set, hdr_new("X-Set", "set-value"));
        TU_PUSH(m->add, m->n_add, hdr_new("X-Add", "added"));
        TU_PUSH(m->remove, m->n_remove, tu_strdup("X-Remove"));
        Agentgateway__Dev__Resource__TrafficPolicySpec *t2 = tps_new();
        t2->kind_case =
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER;
        t2->response_header_modifier = ir_pb_alloc(sizeof *t2->response_header_modifier);
        agentgateway__dev__resource__header_modifier__init(t2->response_header_modifier);
        m = t2->response_header_modifier;
        TU_PUSH(m->set, m->n_set, hdr_new("X-Resp", "yes"));
        TU_PUSH(m->remove, m->n_remove, tu_strdup("x-resp-remove"));
        TU_PUSH(mod->traffic_policies, mod->n_traffic_policies, t);
        TU_PUSH(mod->traffic_policies, mod->n_traffic_policies, t2);
    }
    tu_route_pb_t *redir = tu_route_pb("default", "redir", 0, L, "", "prefix:/redir", "");
    {
        Agentgateway__Dev__Resource__TrafficPolicySpec *t = tps_new();
        t->kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_REDIRECT;
        t->request_redirect = ir_pb_alloc(sizeof *t->request_redirect);
        agentgateway__dev__resource__request_redirect__init(t->request_redirect);
        t->request_redirect->host = tu_strdup("example.org");
        t->request_redirect->status = 301;
        t->request_redirect->path_case = AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__PATH_PREFIX;
        t->request_redirect->prefix = tu_strdup("/new");
        TU_PUSH(redir->traffic_policies, redir->n_traffic_policies, t);
    }
    tu_route_pb_t *rw = tu_route_pb("default", "rw", 0, L, "", "prefix:/rw", "be:default/v1");
    {
        Agentgateway__Dev__Resource__TrafficPolicySpec *t = tps_new();
        t->kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_URL_REWRITE;
        t->url_rewrite = ir_pb_alloc(sizeof *t->url_rewrite);
        agentgateway__dev__resource__url_rewrite__init(t->url_rewrite);
        t->url_rewrite->host = tu_strdup("rewritten.example");
        t->url_rewrite->path_case = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__PATH_PREFIX;
        t->url_rewrite->prefix = tu_strdup("/rewritten");
        TU_PUSH(rw->traffic_policies, rw->n_traffic_policies, t);
    }
    tu_route_pb_t *direct = tu_route_pb("default", "direct", 0, L, "", "exact:/direct", "");
    {
        Agentgateway__Dev__Resource__TrafficPolicySpec *t = tps_new();
        t->kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_DIRECT_RESPONSE;
        t->direct_response = ir_pb_alloc(sizeof *t->direct_response);
        agentgateway__dev__resource__direct_response__init(t->direct_response);
        t->direct_response->status = 418;
        t->direct_response->body.data = ir_pb_memdup("teapot\n", 7);
        t->direct_response->body.len = 7;
        TU_PUSH(direct->traffic_policies, direct->n_traffic_policies, t);
    }
    char svc_ref[128];
    snprintf(svc_ref, sizeof svc_ref, "svc:default/echo-v2.default.svc.cluster.local:80=1");
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        tu_listener(L, "80/default/gw", ""),
        tu_static_backend("default/v1", v1, w->v1.port),
        tu_static_backend("default/dead", "127.0.0.1", w->dead_port),
        tu_service("default", "echo-v2.default.svc.cluster.local", 80, (uint32_t)w->v2.port),
        tu_workload("Kubernetes//Pod/default/v2", "127.0.0.1",
                    "default/echo-v2.default.svc.cluster.local", 80, 0),
        tu_route("default", "root", 0, L, "", "prefix:/", root_backend),
        tu_route("default", "v2", 0, L, "", "prefix:/v2", svc_ref),
        tu_route("default", "hdr", 0, L, "", "exact:/hdr h:x-select=two", svc_ref),
        tu_route("default", "host", 0, L, "foo.example.com", "prefix:/", svc_ref),
        tu_route("default", "nobackend", 0, L, "", "exact:/nobackend", "be:default/missing=1"),
        tu_route("default", "dead", 0, L, "", "exact:/dead", "be:default/dead=1"),
        tu_route_seal(mod),
        tu_route_seal(redir),
        tu_route_seal(rw),
        tu_route_seal(direct),
        NULL};
    size_t n = 0;
    while (objs[n])
        n++;
    proxy_change_t ch[32];
    for (size_t i = 0; i < n; i++)
        proxy_change_of_obj(&ch[i], objs[i]);
    w->rc = proxy_apply(w->proxy, ch, n, false, w->reason, sizeof w->reason);
    for (size_t i = 0; i < n; i++)
        ir_obj_release(objs[i]);
}

static void job_bad_change(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    const ir_obj_t *objs[] = {
        tu_route("default", "root", 0, L, "", "regex:/(unclosed", "be:default/v1"), NULL};
    proxy_change_t ch;
    proxy_change_of_obj(&ch, objs[0]);
    w->rc = proxy_apply(w->proxy, &ch, 1, false, w->reason, sizeof w->reason);
    ir_obj_release(objs[0]);
}

static void job_setup(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    tu_echo_start(&w->rig.loop, &w->v1, "v1", NULL);
    tu_echo_start(&w->rig.loop, &w->v2, "v2", NULL);
    tu_echo_t dead;
    tu_echo_start(&w->rig.loop, &dead, "dead", NULL);
    w->dead_port = dead.port;
    net_server_close(dead.srv, false, NULL, NULL); /* its port is now (very likely) closed */
    int err;
    w->proxy = proxy_new(&w->rig.loop, NULL, &err);
    assert_non_null(w->proxy);
    assert_int_equal(proxy_listen(w->proxy, "80/default/gw", "127.0.0.1:0", &w->port), PROXY_OK);
    assert_int_equal(proxy_listen(w->proxy, "80/default/gw", "127.0.0.1:0", NULL), PROXY_EINVAL);
    assert_int_equal(proxy_listen(w->proxy, "81/none/none", "127.0.0.1:0", &w->port_empty),
                     PROXY_OK);
}

static void proxy_closed(proxy_t *p, void *ud)
{
    (void)p;
    (void)ud;
}

static void job_teardown(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    proxy_close(w->proxy, proxy_closed, NULL);
    net_server_close(w->v1.srv, false, NULL, NULL);
    net_server_close(w->v2.srv, false, NULL, NULL);
    if (w->hole)
        net_server_close(w->hole, false, NULL, NULL);
    if (w->admin)
        net_http_server_close(w->admin, false, NULL, NULL);
    uv_close((uv_handle_t *)&w->rig.async, NULL);
}

static void job_stats(void *world, void *arg)
{
    world_t *w = world;
    proxy_stats(w->proxy, arg);
}

static world_t W;

static int setup(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    tu_loop_start(&W.rig, &W);
    tu_loop_run(&W.rig, job_setup, NULL);
    tu_loop_run(&W.rig, job_config, "be:default/v1=1");
    if (W.rc != PROXY_OK)
        fail_msg("config: %s", W.reason);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_loop_run(&W.rig, job_teardown, NULL);
    assert_int_equal(tu_loop_join(&W.rig), 0);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* curl */

static void test_routes_by_path_host_and_header(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    tu_curl(&r, W.port, "/", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "v1");
    assert_string_equal(tu_jstr(&r, "path"), "/");
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/v2/x?a=1", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "v2");
    assert_string_equal(tu_jstr(&r, "path"), "/v2/x?a=1");
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/v2example", NULL);
    assert_string_equal(tu_jstr(&r, "server"), "v1");
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/hdr", "-H 'X-Select: two'");
    assert_string_equal(tu_jstr(&r, "server"), "v2");
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/hdr", NULL);
    assert_string_equal(tu_jstr(&r, "server"), "v1");
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/anything", "-H 'Host: foo.example.com:8080'");
    assert_string_equal(tu_jstr(&r, "server"), "v2");
    assert_string_equal(tu_jstr(&r, "host"), "foo.example.com:8080");
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/", "-I");
    assert_int_equal(r.status, 200); /* HEAD: no body, framing from the upstream */
    assert_non_null(strstr(r.headers, "content-length: "));
    tu_resp_free(&r);
}

/* A route that edits no field: the upstream head is written from the parsed fields directly
 * (x_start's |direct| path), with the same result as the general path: end-to-end fields in
 * order, repeated ones kept, hop-by-hop ones (fixed names and those Connection lists) dropped,
 * Host from the request. */
static void test_fields_pass_unedited_without_hop_by_hop(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    tu_curl(&r, W.port, "/",
            "-H 'X-Multi: a' -H 'X-Plain: v  w' -H 'X-Multi: b' -H 'Connection: keep-alive, X-Hop' "
            "-H 'X-Hop: h' -H 'TE: trailers' -H 'Proxy-Connection: x' -H 'Keep-Alive: 5'");
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "v1");
    json_t *multi = json_object_get(json_object_get(r.json, "headers"), "x-multi");
    assert_int_equal(json_array_size(multi), 2);
    assert_string_equal(json_string_value(json_array_get(multi, 0)), "a");
    assert_string_equal(json_string_value(json_array_get(multi, 1)), "b");
    assert_string_equal(tu_jheader(&r, "x-plain"), "v  w");
    assert_null(tu_jheader(&r, "x-hop"));
    assert_null(tu_jheader(&r, "te"));
    assert_null(tu_jheader(&r, "proxy-connection"));
    assert_null(tu_jheader(&r, "keep-alive"));
    assert_non_null(tu_jheader(&r, "host"));
    tu_resp_free(&r);
}

static void test_header_modifiers_reach_echo_and_client(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    tu_curl(&r, W.port, "/mod",
            "-H 'X-Set: old' -H 'X-Add: first' -H 'X-Remove: bye' "
            "-H 'Connection: keep-alive, X-Hop' -H 'X-Hop: h'");
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jheader(&r, "x-set"), "set-value");
    json_t *add = json_object_get(json_object_get(r.json, "headers"), "x-add");
    assert_int_equal(json_array_size(add), 2);
    assert_string_equal(json_string_value(json_array_get(add, 1)), "added");
    assert_null(tu_jheader(&r, "x-remove"));
    assert_null(tu_jheader(&r, "x-hop")); /* listed in Connection: hop-by-hop */
    assert_non_null(strstr(r.headers, "X-Resp: yes"));
    assert_null(strstr(r.headers, "x-resp-remove"));
    tu_resp_free(&r);
}

static void test_redirect_rewrite_direct_and_errors(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    tu_curl(&r, W.port, "/redir/a?q=1", NULL);
    assert_int_equal(r.status, 301);
    assert_non_null(strstr(r.headers, "location: http://example.org/new/a?q=1\r\n"));
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/rw/a/b", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "path"), "/rewritten/a/b");
    assert_string_equal(tu_jstr(&r, "host"), "rewritten.example");
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/direct", NULL);
    assert_int_equal(r.status, 418);
    assert_non_null(strstr(r.body, "teapot"));
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/nobackend", NULL);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "default/missing"));
    tu_resp_free(&r);
    tu_curl(&r, W.port_empty, "/", NULL);
    assert_int_equal(r.status, 404);
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/dead", NULL);
    assert_int_equal(r.status, 503);
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/status/503", NULL); /* the upstream's own status passes through */
    assert_int_equal(r.status, 503);
    assert_string_equal(tu_jstr(&r, "server"), "v1");
    tu_resp_free(&r);
}

static void test_bodies_stream_and_upstreams_are_reused(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    char file[] = "/tmp/proxy_test_bXXXXXX";
    int fd = mkstemp(file);
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 16; i++)
        assert_int_equal(write(fd, chunk, sizeof chunk), (ssize_t)sizeof chunk);
    close(fd);
    char args[256];
    snprintf(args, sizeof args, "--data-binary @%s", file);
    tu_resp_t r;
    tu_curl(&r, W.port, "/upload", args);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "body_len")), 1048576);
    assert_string_equal(tu_jstr(&r, "method"), "POST");
    tu_resp_free(&r);
    snprintf(args, sizeof args, "-H 'Transfer-Encoding: chunked' --data-binary @%s", file);
    tu_curl(&r, W.port, "/v2/upload", args);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "body_len")), 1048576);
    assert_string_equal(tu_jheader(&r, "transfer-encoding"), "chunked");
    tu_resp_free(&r);
    unlink(file);

    proxy_stats_t before, after;
    tu_loop_run(&W.rig, job_stats, &before);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "curl -s -w '%%{http_code}\\n' -o /dev/null 'http://127.0.0.1:%d/a' "
             "-o /dev/null 'http://127.0.0.1:%d/b' -o /dev/null 'http://127.0.0.1:%d/c'",
             W.port, W.port, W.port);
    FILE *f = popen(cmd, "r");
    char out[64] = "";
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    pclose(f);
    assert_string_equal(out, "200\n200\n200\n");
    tu_loop_run(&W.rig, job_stats, &after);
    assert_int_equal(after.requests - before.requests, 3);
    assert_true(after.upstream_reuses - before.upstream_reuses >= 2);
    assert_true(after.idle_upstreams >= 1);
}

static void test_pooled_connection_closed_by_upstream_is_retried(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    static char cmd[8192];
    int o = snprintf(cmd, sizeof cmd, "curl -s -w '%%{http_code}\\n'");
    for (int i = 0; i < 20; i++)
        o += snprintf(cmd + o, sizeof cmd - (size_t)o,
                      " -o /dev/null 'http://127.0.0.1:%d/sneaky-close' -o /dev/null "
                      "'http://127.0.0.1:%d/next'",
                      W.port, W.port);
    FILE *f = popen(cmd, "r");
    static char out[1024];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    pclose(f);
    size_t ok = 0;
    for (char *p = out; (p = strstr(p, "200\n")); p += 4)
        ok++;
    assert_int_equal(ok, 40); /* whether the FIN or the next request came first */
    proxy_stats_t st;
    tu_loop_run(&W.rig, job_stats, &st);
    if (getenv("PROXY_TEST_VERBOSE"))
        fprintf(stderr, "retries %llu reuses %llu connects %llu\n",
                (unsigned long long)st.upstream_retries, (unsigned long long)st.upstream_reuses,
                (unsigned long long)st.upstream_connects);
}

static void test_config_change_while_traffic_flows(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    static char cmd[16384];
    int o = snprintf(cmd, sizeof cmd, "curl -s -w '%%{http_code}\\n'");
    for (int i = 0; i < 150; i++)
        o += snprintf(cmd + o, sizeof cmd - (size_t)o, " -o /dev/null 'http://127.0.0.1:%d/flip%d'",
                      W.port, i);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    for (int i = 0; i < 20; i++) {
        tu_loop_run(&W.rig, job_config,
                    i % 2 ? "be:default/v1=1"
                          : "svc:default/echo-v2.default.svc.cluster.local:80=1");
        assert_int_equal(W.rc, PROXY_OK);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    tu_loop_run(&W.rig, job_config, "svc:default/echo-v2.default.svc.cluster.local:80=1");
    static char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    pclose(f);
    size_t ok = 0;
    for (char *p = out; (p = strstr(p, "200\n")); p += 4)
        ok++;
    assert_int_equal(ok, 150);
    tu_resp_t r;
    tu_curl(&r, W.port, "/after", NULL);
    assert_string_equal(tu_jstr(&r, "server"), "v2");
    tu_resp_free(&r);
    tu_loop_run(&W.rig, job_config, "be:default/v1=1");
}

static void test_invalid_change_is_rejected_and_old_config_serves(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_loop_run(&W.rig, job_bad_change, NULL);
    assert_int_equal(W.rc, PROXY_ECONFIG);
    assert_non_null(strstr(W.reason, "does not compile"));
    tu_resp_t r;
    tu_curl(&r, W.port, "/still", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "v1");
    tu_resp_free(&r);
}

static void test_h2c_front(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    const char *h2 = "--http2-prior-knowledge";
    tu_resp_t r;
    tu_curl(&r, W.port, "/v2/x?a=1", h2);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.headers, "HTTP/2 200", 10) == 0);
    assert_string_equal(tu_jstr(&r, "server"), "v2");
    assert_string_equal(tu_jstr(&r, "path"), "/v2/x?a=1");
    assert_true(strncmp(tu_jstr(&r, "host"), "127.0.0.1:", 10) == 0); /* from :authority */
    tu_resp_free(&r);
    char args[512];
    snprintf(args, sizeof args, "%s -H 'X-Set: old' -H 'X-Remove: bye'", h2);
    tu_curl(&r, W.port, "/mod", args);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jheader(&r, "x-set"), "set-value");
    assert_null(tu_jheader(&r, "x-remove"));
    assert_non_null(strstr(r.headers, "x-resp: yes"));
    assert_null(strstr(r.headers, "x-resp-remove"));
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/redir/a", h2);
    assert_int_equal(r.status, 301);
    assert_non_null(strstr(r.headers, "location: http://example.org/new/a\r\n"));
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/nobackend", h2);
    assert_int_equal(r.status, 500);
    tu_resp_free(&r);
    tu_curl(&r, W.port_empty, "/", h2);
    assert_int_equal(r.status, 404);
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/", "--http2-prior-knowledge -I");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);

    /* uploads: with a length (forwarded as is) and without (PUT from stdin: chunked upstream) */
    char file[] = "/tmp/proxy_test_h2XXXXXX";
    int fd = mkstemp(file);
    static char chunk[65536];
    memset(chunk, 'y', sizeof chunk);
    for (int i = 0; i < 40; i++)
        assert_int_equal(write(fd, chunk, sizeof chunk), (ssize_t)sizeof chunk);
    close(fd);
    snprintf(args, sizeof args, "%s --data-binary @%s", h2, file);
    tu_curl(&r, W.port, "/up", args);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "body_len")), 40 * 65536);
    tu_resp_free(&r);
    snprintf(args, sizeof args, "%s -T - < %s", h2, file);
    tu_curl(&r, W.port, "/v2/put", args);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "method"), "PUT");
    assert_int_equal(json_integer_value(json_object_get(r.json, "body_len")), 40 * 65536);
    assert_string_equal(tu_jheader(&r, "transfer-encoding"), "chunked");
    tu_resp_free(&r);
    unlink(file);

    if (access("/usr/bin/nghttp", X_OK) == 0) { /* 20 concurrent streams on one connection */
        proxy_stats_t before, after;
        tu_loop_run(&W.rig, job_stats, &before);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "nghttp -n -m 20 -t 10 http://127.0.0.1:%d/multi >/dev/null",
                 W.port);
        assert_int_equal(system(cmd), 0);
        tu_loop_run(&W.rig, job_stats, &after);
        assert_int_equal(after.requests - before.requests, 20);
        assert_int_equal(after.responses[2] - before.responses[2], 20);
    }
}

static const ir_obj_t *tls_listener(const char *key, const char *bind, const char *cert,
                                    const char *pkey)
{
    Agentgateway__Dev__Resource__Listener *l = ir_pb_alloc(sizeof *l);
    agentgateway__dev__resource__listener__init(l);
    l->key = tu_strdup(key);
    l->bind_key = tu_strdup(bind);
    l->hostname = tu_strdup("");
    l->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTPS;
    l->tls = ir_pb_alloc(sizeof *l->tls);
    agentgateway__dev__resource__tlsconfig__init(l->tls);
    l->tls->cert = (ProtobufCBinaryData){strlen(cert), ir_pb_memdup(cert, strlen(cert))};
    l->tls->private_key = (ProtobufCBinaryData){strlen(pkey), ir_pb_memdup(pkey, strlen(pkey))};
    const ir_listener_t *x = ir_listener_new(l, "default/gw", NULL);
    return x ? ir_listener_obj(x) : NULL;
}

static void job_tls(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    net_tls_testcert_t tc;
    assert_int_equal(net_tls_testcert_make(&tc, "example.org", "DNS:example.org", false), NET_OK);
    snprintf(w->ca_file, sizeof w->ca_file, "/tmp/proxy_test_caXXXXXX");
    int fd = mkstemp(w->ca_file);
    assert_int_equal(write(fd, tc.ca_pem, strlen(tc.ca_pem)), (ssize_t)strlen(tc.ca_pem));
    close(fd);
    tu_route_pb_t *go = tu_route_pb("default", "go", 0, "default/gw.https", "", "exact:/go", "");
    Agentgateway__Dev__Resource__TrafficPolicySpec *t = tps_new();
    t->kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_REDIRECT;
    t->request_redirect = ir_pb_alloc(sizeof *t->request_redirect);
    agentgateway__dev__resource__request_redirect__init(t->request_redirect);
    t->request_redirect->host = tu_strdup("example.org");
    TU_PUSH(go->traffic_policies, go->n_traffic_policies, t);
    const ir_obj_t *objs[] = {
        tu_bind("443/default/gw", 443),
        tls_listener("default/gw.https", "443/default/gw", tc.cert_pem, tc.key_pem),
        tu_route("default", "secure", 0, "default/gw.https", "", "prefix:/", "be:default/v1"),
        tu_route_seal(go),
        tu_bind("8443/default/gw", 8443),
        tls_listener("default/gw.bad", "8443/default/gw", "invalid", "invalid"),
        NULL};
    net_tls_testcert_dispose(&tc);
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
    assert_int_equal(w->rc, PROXY_OK);
    assert_int_equal(proxy_listen(w->proxy, "443/default/gw", "127.0.0.1:0", &w->tls_port),
                     PROXY_OK);
    assert_int_equal(proxy_listen(w->proxy, "8443/default/gw", "127.0.0.1:0", NULL), PROXY_ECONFIG);
}

static void test_https_listener_terminates_tls(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_loop_run(&W.rig, job_tls, NULL);
    char url[256], args[512];
    snprintf(url, sizeof url, "https://example.org:%d/secure?x=1", W.tls_port);
    snprintf(args, sizeof args, "--http1.1 --cacert %s --resolve example.org:%d:127.0.0.1",
             W.ca_file, W.tls_port);
    tu_resp_t r;
    tu_curl_url(&r, url, args);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "v1");
    assert_string_equal(tu_jstr(&r, "path"), "/secure?x=1");
    tu_resp_free(&r);
    snprintf(args, sizeof args, "--http2 --cacert %s --resolve example.org:%d:127.0.0.1", W.ca_file,
             W.tls_port);
    tu_curl_url(&r, url, args); /* h2 by ALPN */
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.headers, "HTTP/2 200", 10) == 0);
    tu_resp_free(&r);
    snprintf(url, sizeof url, "https://example.org:%d/go", W.tls_port);
    tu_curl_url(&r, url, args);
    assert_int_equal(r.status, 302);
    assert_non_null(strstr(r.headers, "location: https://example.org/go\r\n"));
    tu_resp_free(&r);
    unlink(W.ca_file);
}

static void hole_read(net_conn_t *c, const uint8_t *d, size_t l, void *ud)
{
    (void)c;
    (void)d;
    (void)l;
    (void)ud; /* swallowed: never answered */
}

static Agentgateway__Dev__Resource__TrafficPolicySpec *timeout_tps(int64_t ms)
{
    Agentgateway__Dev__Resource__TrafficPolicySpec *t = tps_new();
    t->kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_TIMEOUT;
    t->timeout = ir_pb_alloc(sizeof *t->timeout);
    agentgateway__dev__resource__timeout__init(t->timeout);
    t->timeout->request = ir_pb_alloc(sizeof *t->timeout->request);
    google__protobuf__duration__init(t->timeout->request);
    t->timeout->request->seconds = ms / 1000;
    t->timeout->request->nanos = (int32_t)(ms % 1000) * 1000000;
    return t;
}

static void job_timeouts(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.raw = (net_conn_raw_callbacks_t){.on_read = hole_read};
    int err;
    w->hole = net_server_new(&w->rig.loop, &sc, &err);
    assert_non_null(w->hole);
    tu_route_pb_t *slow =
        tu_route_pb("default", "slow", 0, L, "", "exact:/slow", "be:default/hole");
    TU_PUSH(slow->traffic_policies, slow->n_traffic_policies, timeout_tps(200));
    tu_route_pb_t *fast = tu_route_pb("default", "fast", 0, L, "", "exact:/fast", "be:default/v1");
    TU_PUSH(fast->traffic_policies, fast->n_traffic_policies, timeout_tps(10000));
    const ir_obj_t *objs[] = {
        tu_static_backend("default/hole", "127.0.0.1", net_server_port(w->hole)),
        tu_route_seal(slow), tu_route_seal(fast), NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
}

static void test_route_timeout_answers_504(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_loop_run(&W.rig, job_timeouts, NULL);
    assert_int_equal(W.rc, PROXY_OK);
    tu_resp_t r;
    tu_curl(&r, W.port, "/slow", NULL);
    assert_int_equal(r.status, 504);
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/slow", "--http2-prior-knowledge");
    assert_int_equal(r.status, 504);
    tu_resp_free(&r);
    tu_curl(&r, W.port, "/fast", NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
}

static void job_admin(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    net_http_server_config_t hc;
    net_http_server_config_default(&hc);
    int err;
    w->admin = net_http_server_new(&w->rig.loop, &hc, &err);
    assert_non_null(w->admin);
    assert_int_equal(proxy_admin_register(w->proxy, w->admin), PROXY_OK);
    w->admin_port = net_http_server_port(w->admin);
}

static void test_admin_endpoints(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_loop_run(&W.rig, job_admin, NULL);
    tu_resp_t r;
    tu_curl(&r, W.admin_port, "/healthz", NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    tu_curl(&r, W.admin_port, "/readyz", NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    tu_curl(&r, W.admin_port, "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "krtgate_proxy_responses_total{class=\"2xx\"} "));
    assert_non_null(strstr(r.body, "krtgate_proxy_config_rejected_total 1\n"));
    tu_resp_free(&r);
    tu_curl(&r, W.admin_port, "/config_dump", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(json_object_get(r.json, "objects")) > 10);
    assert_non_null(strstr(r.body, "route/default/mod.00.l"));
    tu_resp_free(&r);
}

typedef struct auto_result {
    size_t after_add, after_remove;
    uint64_t failures;
} auto_result_t;

static void job_auto_listen(void *world, void *arg)
{
    world_t *w = world;
    auto_result_t *res = arg;
    proxy_options_t o;
    proxy_options_default(&o);
    o.auto_listen_host = "127.0.0.1";
    int err;
    proxy_t *p = proxy_new(&w->rig.loop, &o, &err);
    assert_non_null(p);
    const ir_obj_t *b0 = tu_bind("0/default/other", 0);                      /* any free port */
    const ir_obj_t *busy = tu_bind("busy/default/other", (uint32_t)w->port); /* taken */
    proxy_change_t ch[2];
    proxy_change_of_obj(&ch[0], b0);
    proxy_change_of_obj(&ch[1], busy);
    assert_int_equal(proxy_apply(p, ch, 2, false, NULL, 0), PROXY_OK);
    proxy_stats_t st;
    proxy_stats(p, &st);
    res->after_add = st.listeners;
    res->failures = st.listen_failures;
    proxy_change_t rm[] = {{PROXY_TYPE_RESOURCE, "bind/0/default/other", NULL},
                           {PROXY_TYPE_RESOURCE, "bind/busy/default/other", NULL}};
    assert_int_equal(proxy_apply(p, rm, 2, false, NULL, 0), PROXY_OK);
    proxy_stats(p, &st);
    res->after_remove = st.listeners;
    ir_obj_release(b0);
    ir_obj_release(busy);
    proxy_close(p, NULL, NULL); /* finishes on the loop */
}

static void test_auto_listen_follows_binds(void **state)
{
    (void)state;
    auto_result_t res = {0};
    tu_loop_run(&W.rig, job_auto_listen, &res);
    assert_int_equal(res.after_add, 1);
    assert_int_equal(res.failures, 1);
    assert_int_equal(res.after_remove, 0);
}

static void job_mirror_config(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    tu_route_pb_t *r =
        tu_route_pb("default", "mirror", 0, L, "", "prefix:/mirror", "be:default/v1");
    Agentgateway__Dev__Resource__TrafficPolicySpec *t = tps_new();
    t->kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_MIRROR;
    t->request_mirror = ir_pb_alloc(sizeof *t->request_mirror);
    agentgateway__dev__resource__request_mirrors__init(t->request_mirror);
    Agentgateway__Dev__Resource__RequestMirrors__Mirror *mr = ir_pb_alloc(sizeof *mr);
    agentgateway__dev__resource__request_mirrors__mirror__init(mr);
    mr->percentage = 100;
    mr->backend = ir_pb_alloc(sizeof *mr->backend);
    agentgateway__dev__resource__backend_reference__init(mr->backend);
    mr->backend->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_SERVICE;
    mr->backend->service = ir_pb_alloc(sizeof *mr->backend->service);
    agentgateway__dev__resource__backend_reference__service__init(mr->backend->service);
    mr->backend->service->namespace_ = tu_strdup("default");
    mr->backend->service->hostname = tu_strdup("echo-v2.default.svc.cluster.local");
    mr->backend->port = 80;
    TU_PUSH(t->request_mirror->mirrors, t->request_mirror->n_mirrors, mr);
    TU_PUSH(r->traffic_policies, r->n_traffic_policies, t);
    const ir_obj_t *objs[] = {tu_route_seal(r), NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
}

static void job_v2_seen(void *world, void *arg)
{
    world_t *w = world;
    *(size_t *)arg = strcmp(w->v2.last_path, "/mirror/me?x=1") == 0 ? w->v2.count : 0;
}

static void test_request_mirror_copies_bodiless_requests(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_loop_run(&W.rig, job_mirror_config, NULL);
    assert_int_equal(W.rc, PROXY_OK);
    tu_resp_t r;
    tu_curl(&r, W.port, "/mirror/me?x=1", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "v1"); /* the answer is the backend's */
    tu_resp_free(&r);
    size_t seen = 0;
    for (int i = 0; i < 500 && !seen; i++) { /* the mirror is asynchronous: bounded wait */
        tu_loop_run(&W.rig, job_v2_seen, &seen);
        if (!seen)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    assert_true(seen > 0);
}

static Agentgateway__Dev__Resource__TrafficPolicySpec *retry_tps(int attempts, int code)
{
    Agentgateway__Dev__Resource__TrafficPolicySpec *t = tps_new();
    t->kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_RETRY;
    t->retry = ir_pb_alloc(sizeof *t->retry);
    agentgateway__dev__resource__retry__init(t->retry);
    t->retry->attempts = attempts;
    if (code)
        TU_PUSH(t->retry->retry_status_codes, t->retry->n_retry_status_codes, code);
    return t;
}

static void job_retry_config(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    tu_route_pb_t *a =
        tu_route_pb("default", "status", 0, L, "", "prefix:/status", "be:default/v1");
    TU_PUSH(a->traffic_policies, a->n_traffic_policies, retry_tps(2, 500));
    tu_route_pb_t *b =
        tu_route_pb("default", "deadretry", 0, L, "", "exact:/deadretry", "be:default/dead");
    TU_PUSH(b->traffic_policies, b->n_traffic_policies, retry_tps(2, 0));
    const ir_obj_t *objs[] = {tu_route_seal(a), tu_route_seal(b), NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
}

static void job_v1_count(void *world, void *arg)
{
    world_t *w = world;
    *(size_t *)arg = w->v1.count;
}

static void test_retry_on_listed_status_and_connection_error(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_loop_run(&W.rig, job_retry_config, NULL);
    assert_int_equal(W.rc, PROXY_OK);
    size_t c0, c1;
    proxy_stats_t s0, s1;
    tu_loop_run(&W.rig, job_v1_count, &c0);
    tu_loop_run(&W.rig, job_stats, &s0);
    tu_resp_t r;
    tu_curl(&r, W.port, "/status/500", NULL);
    assert_int_equal(r.status, 500); /* beyond the budget: the last answer */
    tu_resp_free(&r);
    tu_loop_run(&W.rig, job_v1_count, &c1);
    assert_int_equal(c1 - c0, 3); /* one try + two retries */
    /* the same from an HTTP/2 client (h2c, a GET whose HEADERS end the stream) */
    tu_curl(&r, W.port, "/status/500", "--http2-prior-knowledge");
    assert_int_equal(r.status, 500);
    tu_resp_free(&r);
    tu_loop_run(&W.rig, job_v1_count, &c0);
    assert_int_equal(c0 - c1, 3);
    c1 = c0;
    tu_curl(&r, W.port, "/status/404", NULL); /* not a listed code: no retry */
    assert_int_equal(r.status, 404);
    tu_resp_free(&r);
    tu_loop_run(&W.rig, job_v1_count, &c0);
    assert_int_equal(c0 - c1, 1);
    tu_curl(&r, W.port, "/deadretry", NULL);
    assert_int_equal(r.status, 503);
    tu_resp_free(&r);
    tu_loop_run(&W.rig, job_stats, &s1);
    assert_int_equal(s1.upstream_retries - s0.upstream_retries, 6); /* 2 + 2 (h2c) + 2 */
}

/* /pertry: the hole never answers; backendRequest 100 ms per try, 2 retries 20 ms apart. */
static void job_per_try_config(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    if (!w->hole) {
        net_server_config_t sc;
        net_server_config_default(&sc);
        sc.listen = "127.0.0.1:0";
        sc.raw = (net_conn_raw_callbacks_t){.on_read = hole_read};
        int err;
        w->hole = net_server_new(&w->rig.loop, &sc, &err);
        assert_non_null(w->hole);
    }
    tu_route_pb_t *a = tu_route_pb("default", "pertry", 0, L, "", "exact:/pertry", "be:default/hole");
    Agentgateway__Dev__Resource__TrafficPolicySpec *rt = retry_tps(2, 0);
    rt->retry->backoff = ir_pb_alloc(sizeof *rt->retry->backoff);
    google__protobuf__duration__init(rt->retry->backoff);
    rt->retry->backoff->nanos = 20 * 1000000;
    Agentgateway__Dev__Resource__TrafficPolicySpec *to = timeout_tps(0);
    to->timeout->backend_request = to->timeout->request; /* 0 s request: no overall bound */
    to->timeout->request = NULL;
    to->timeout->backend_request->nanos = 100 * 1000000;
    TU_PUSH(a->traffic_policies, a->n_traffic_policies, rt);
    TU_PUSH(a->traffic_policies, a->n_traffic_policies, to);
    const ir_obj_t *objs[] = {
        tu_static_backend("default/hole", "127.0.0.1", net_server_port(w->hole)),
        tu_route_seal(a), NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
}

static void test_per_try_timeout_retries_then_504(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_loop_run(&W.rig, job_per_try_config, NULL);
    assert_int_equal(W.rc, PROXY_OK);
    proxy_stats_t s0, s1;
    tu_loop_run(&W.rig, job_stats, &s0);
    tu_resp_t r;
    tu_curl(&r, W.port, "/pertry", NULL);
    assert_int_equal(r.status, 504); /* three tries of 100 ms, none answered */
    tu_resp_free(&r);
    tu_loop_run(&W.rig, job_stats, &s1);
    assert_int_equal(s1.upstream_retries - s0.upstream_retries, 2);
}

static void test_malformed_request_gets_400_and_close(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)W.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                              "Content-Length: 2\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char out[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(fd, out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r; /* until the proxy closes */
    out[n] = '\0';
    close(fd);
    assert_true(strncmp(out, "HTTP/1.1 400", 12) == 0);
    assert_non_null(strstr(out, "connection: close") ? strstr(out, "connection: close")
                                                     : strstr(out, "Connection: close"));
    assert_null(strstr(out + 12, "HTTP/1.1")); /* the smuggled request was never answered */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_by_path_host_and_header),
        cmocka_unit_test(test_header_modifiers_reach_echo_and_client),
        cmocka_unit_test(test_fields_pass_unedited_without_hop_by_hop),
        cmocka_unit_test(test_redirect_rewrite_direct_and_errors),
        cmocka_unit_test(test_bodies_stream_and_upstreams_are_reused),
        cmocka_unit_test(test_pooled_connection_closed_by_upstream_is_retried),
        cmocka_unit_test(test_config_change_while_traffic_flows),
        cmocka_unit_test(test_invalid_change_is_rejected_and_old_config_serves),
        cmocka_unit_test(test_h2c_front),
        cmocka_unit_test(test_route_timeout_answers_504),
        cmocka_unit_test(test_https_listener_terminates_tls),
        cmocka_unit_test(test_admin_endpoints),
        cmocka_unit_test(test_auto_listen_follows_binds),
        cmocka_unit_test(test_request_mirror_copies_bodiless_requests),
        cmocka_unit_test(test_retry_on_listed_status_and_connection_error),
        cmocka_unit_test(test_per_try_timeout_retries_then_504),
        cmocka_unit_test(test_malformed_request_gets_400_and_close),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
