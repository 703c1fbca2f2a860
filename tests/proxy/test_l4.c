/*
 * The proxy's TLS and L4 serving against real peers: a proxy on a libuv loop (in a thread),
 * backends in Debian's python3 (tests/proxy/l4_peer.py: a TCP echo and two TLS servers with their
 * own certificates), and curl, openssl s_client and plain sockets as clients.
 *
 *  - HTTPS (http.c): two HTTPS Listeners on one port, each with its own certificate, chosen by
 *    SNI and verified by curl; a Host that belongs to the other listener gets 421 (HTTP/1.1 and
 *    HTTP/2); a Listener added later brings its certificate to the open port.
 *  - TLS passthrough (l4.c): routed by the ClientHello's SNI (exact > wildcard) to the backend
 *    that terminates TLS itself (curl verifies the backend's certificate); an SNI no route takes,
 *    and a client that does not speak TLS, are closed.
 *  - TCP (l4.c): splice to a Service's endpoint through Addresses (weight 0 never chosen),
 *    half-close both ways, 4 MiB echoed with bounded buffers, a backend that refuses closes the
 *    client, a connection that talks lives past the idle deadline and a silent one is closed by
 *    it, and closing the proxy ends open connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "net/conn.h"
#include "net/tls.h"
#include "ir/policy.h"
#include "proxy/l4.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"
#include "loop_rig.h"
#include "proxy_test_util.h"

#define PEER_PY KRT_SOURCE_DIR "/tests/proxy/l4_peer.py"

typedef struct world {
    tu_loop_t rig;
    proxy_t *proxy;
    int https_port, pass_port, tcp_port, tcp_dead_port, term_port;
    int echo_port, tls_a_port, tls_b_port, dead_port;
    pid_t peer;
    int peer_stdin;
    net_tls_testcert_t a, b, c; /* leaves of one CA */
    char dir[64], ca_file[128];
    int rc;
    char reason[512];
    bool have_peer;
} world_t;

static world_t W;

/* ------------------------------------------------------------------------------------------- */
/* IR */

static const ir_obj_t *listener(const char *key, const char *bind, const char *host, int proto,
                                const net_tls_testcert_t *cert)
{
    Agentgateway__Dev__Resource__Listener *l = ir_pb_alloc(sizeof *l);
    agentgateway__dev__resource__listener__init(l);
    l->key = tu_strdup(key);
    l->bind_key = tu_strdup(bind);
    l->hostname = tu_strdup(host);
    l->protocol = proto;
    if (cert) {
        l->tls = ir_pb_alloc(sizeof *l->tls);
        agentgateway__dev__resource__tlsconfig__init(l->tls);
        size_t cl = strlen(cert->cert_pem), kl = strlen(cert->key_pem);
        l->tls->cert = (ProtobufCBinaryData){cl, ir_pb_memdup(cert->cert_pem, cl)};
        l->tls->private_key = (ProtobufCBinaryData){kl, ir_pb_memdup(cert->key_pem, kl)};
    }
    const ir_listener_t *x = ir_listener_new(l, "default/gw", NULL);
    return x ? ir_listener_obj(x) : NULL;
}

/* A TCPRoute "<ns>/<name>.00.l" with |hosts| (comma-separated) and |backends| in tu_route_pb's
 * syntax. */
static const ir_obj_t *tcp_route(const char *name, const char *listener_key, const char *hosts,
                                 const char *backends)
{
    tu_route_pb_t *r = tu_route_pb("default", name, 0, listener_key, hosts, "", backends);
    Agentgateway__Dev__Resource__TCPRoute *t = ir_pb_alloc(sizeof *t);
    agentgateway__dev__resource__tcproute__init(t);
    t->key = tu_strdup(r->key);
    t->listener_key = tu_strdup(listener_key);
    t->name = r->name;
    r->name = NULL;
    t->hostnames = r->hostnames;
    t->n_hostnames = r->n_hostnames;
    r->hostnames = NULL;
    r->n_hostnames = 0;
    t->backends = r->backends;
    t->n_backends = r->n_backends;
    r->backends = NULL;
    r->n_backends = 0;
    ir_pb_free(&r->base);
    ir_err_t err;
    const ir_tcp_route_t *x = ir_tcp_route_new(t, "default/gw", &err);
    if (!x)
        fprintf(stderr, "tcp_route: %s\n", err.msg);
    return x ? ir_tcp_route_obj(x) : NULL;
}

/* A route answering |body| directly. */
static const ir_obj_t *direct(const char *name, const char *listener_key, const char *body)
{
    tu_route_pb_t *r = tu_route_pb("default", name, 0, listener_key, "", "prefix:/", "");
    Agentgateway__Dev__Resource__TrafficPolicySpec *t = ir_pb_alloc(sizeof *t);
    agentgateway__dev__resource__traffic_policy_spec__init(t);
    t->kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_DIRECT_RESPONSE;
    t->direct_response = ir_pb_alloc(sizeof *t->direct_response);
    agentgateway__dev__resource__direct_response__init(t->direct_response);
    t->direct_response->status = 200;
    t->direct_response->body.data = ir_pb_memdup(body, strlen(body));
    t->direct_response->body.len = strlen(body);
    TU_PUSH(r->traffic_policies, r->n_traffic_policies, t);
    return tu_route_seal(r);
}

enum { P_HTTPS = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTPS,
       P_TLS = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__TLS,
       P_TCP = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__TCP };

static void job_config(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    char be[64], dead[64], a[64], b[64];
    snprintf(be, sizeof be, "svc:default/echo.default.svc.cluster.local:7=1");
    snprintf(dead, sizeof dead, "inline:127.0.0.1:%d=1", w->dead_port);
    snprintf(a, sizeof a, "inline:127.0.0.1:%d=1", w->tls_a_port);
    snprintf(b, sizeof b, "inline:127.0.0.1:%d=1", w->tls_b_port);
    char weighted[160];
    snprintf(weighted, sizeof weighted, "%s inline:127.0.0.1:%d=0", be, w->dead_port);
    const ir_obj_t *objs[] = {
        /* HTTPS, two certificates on one port */
        tu_bind("8443/default/gw", 8443),
        listener("default/gw.a", "8443/default/gw", "a.example.com", P_HTTPS, &w->a),
        listener("default/gw.b", "8443/default/gw", "b.example.com", P_HTTPS, &w->b),
        direct("ra", "default/gw.a", "listener-a\n"),
        direct("rb", "default/gw.b", "listener-b\n"),
        /* TLS passthrough */
        tu_bind("9443/default/gw", 9443),
        listener("default/gw.tls", "9443/default/gw", "", P_TLS, NULL),
        tcp_route("ta", "default/gw.tls", "a.example.com", a),
        tcp_route("tb", "default/gw.tls", "*.example.com", b),
        /* TCP */
        tu_bind("9000/default/gw", 9000),
        listener("default/gw.tcp", "9000/default/gw", "", P_TCP, NULL),
        tcp_route("echo", "default/gw.tcp", "", weighted),
        tu_service("default", "echo.default.svc.cluster.local", 7, (uint32_t)w->echo_port),
        tu_workload("Kubernetes//Pod/default/echo", "127.0.0.1",
                    "default/echo.default.svc.cluster.local", 7, 0),
        /* TLS terminated, then TCP */
        tu_bind("9444/default/gw", 9444),
        listener("default/gw.term", "9444/default/gw", "", P_TLS, &w->c),
        tcp_route("term", "default/gw.term", "c.example.com", be),
        tu_bind("9001/default/gw", 9001),
        listener("default/gw.dead", "9001/default/gw", "", P_TCP, NULL),
        tcp_route("dead", "default/gw.dead", "", dead),
        NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
    if (w->rc != PROXY_OK)
        return;
    w->rc = proxy_listen(w->proxy, "8443/default/gw", "127.0.0.1:0", &w->https_port);
    w->rc |= proxy_listen(w->proxy, "9443/default/gw", "127.0.0.1:0", &w->pass_port);
    w->rc |= proxy_listen(w->proxy, "9000/default/gw", "127.0.0.1:0", &w->tcp_port);
    w->rc |= proxy_listen(w->proxy, "9001/default/gw", "127.0.0.1:0", &w->tcp_dead_port);
    w->rc |= proxy_listen(w->proxy, "9444/default/gw", "127.0.0.1:0", &w->term_port);
}

static void job_setup(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    int err;
    proxy_options_t o;
    proxy_options_default(&o);
    o.tls_hello_timeout_ms = 300;    /* short, for the silent-client test */
    o.tunnel_idle_timeout_ms = 600; /* short, for the idle-tunnel test */
    w->proxy = proxy_new(&w->rig.loop, &o, &err);
    assert_non_null(w->proxy);
}

static void proxy_closed(proxy_t *p, void *ud)
{
    (void)p;
    *(bool *)ud = true;
}

static bool proxy_gone;

static void job_teardown(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    proxy_close(w->proxy, proxy_closed, &proxy_gone);
    uv_close((uv_handle_t *)&w->rig.async, NULL);
}

static void write_file(const char *dir, const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Starts l4_peer.py and reads its ports. */
static void peer_start(world_t *w)
{
    char ca[128], ca_[128], ka[128], cb[128], kb[128];
    write_file(w->dir, "ca.pem", w->a.ca_pem, ca, sizeof ca);
    snprintf(w->ca_file, sizeof w->ca_file, "%s", ca);
    write_file(w->dir, "a.pem", w->a.cert_pem, ca_, sizeof ca_);
    write_file(w->dir, "a.key", w->a.key_pem, ka, sizeof ka);
    write_file(w->dir, "b.pem", w->b.cert_pem, cb, sizeof cb);
    write_file(w->dir, "b.key", w->b.key_pem, kb, sizeof kb);
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/usr/bin/python3", "python3", PEER_PY, ca, ca_, ka, cb, kb, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    w->peer = pid;
    w->peer_stdin = in[1];
    FILE *f = fdopen(out[0], "r");
    w->have_peer = fscanf(f, "%d %d %d", &w->echo_port, &w->tls_a_port, &w->tls_b_port) == 3;
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    signal(SIGPIPE, SIG_IGN);
    snprintf(W.dir, sizeof W.dir, "/tmp/proxy_l4_XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    assert_int_equal(net_tls_testcert_make(&W.a, "a", "DNS:a.example.com", false), NET_OK);
    assert_int_equal(
        net_tls_testcert_leaf(&W.a, &W.b, "b", "DNS:b.example.com,DNS:*.example.com", false),
        NET_OK);
    assert_int_equal(net_tls_testcert_leaf(&W.a, &W.c, "c", "DNS:c.example.com", false), NET_OK);
    peer_start(&W);
    /* A port where nothing listens: bind, read the port, close. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    W.dead_port = ntohs(sa.sin_port);
    close(s);
    tu_loop_start(&W.rig, &W);
    tu_loop_run(&W.rig, job_setup, NULL);
    tu_loop_run(&W.rig, job_config, NULL);
    if (W.rc != PROXY_OK)
        fail_msg("config: %d %s", W.rc, W.reason);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_loop_run(&W.rig, job_teardown, NULL);
    assert_int_equal(tu_loop_join(&W.rig), 0);
    assert_true(proxy_gone);
    close(W.peer_stdin); /* the peer exits */
    waitpid(W.peer, NULL, 0);
    net_tls_testcert_dispose(&W.a);
    net_tls_testcert_dispose(&W.b);
    net_tls_testcert_dispose(&W.c);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Clients */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool have(const char *path)
{
    return access(path, X_OK) == 0;
}

/* Runs |cmd| and returns its stdout (up to cap - 1 bytes) and exit status. */
static int run(const char *cmd, char *out, size_t cap)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* curl https://<name>:<port><path> resolved to 127.0.0.1, verified against the test CA. Output:
 * the status code line "code=NNN" after the body. */
static int curl_https(const char *name, int port, const char *extra, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "curl -s --max-time 10 --cacert %s --resolve %s:%d:127.0.0.1 %s "
             "-w 'code=%%{http_code}' https://%s:%d/ 2>/dev/null",
             W.ca_file, name, port, extra ? extra : "", name, port);
    return run(cmd, out, cap);
}

static int tcp_connect(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    return s;
}

/* Sends |len| bytes (then FIN when |fin|) while reading everything until EOF or 10 s without
 * progress. Returns bytes read into |out| (cap bytes; more is counted, not kept). */
static size_t tcp_exchange(int s, const uint8_t *data, size_t len, bool fin, uint8_t *out,
                           size_t cap)
{
    size_t sent = 0, got = 0;
    bool fin_sent = false;
    for (;;) {
        struct pollfd p = {s, POLLIN, 0};
        if (sent < len || (fin && !fin_sent))
            p.events |= POLLOUT;
        int n = poll(&p, 1, 10000);
        if (n <= 0)
            break; /* no progress for 10 s: give up (the test then fails on what it got) */
        if (p.revents & POLLOUT) {
            if (sent < len) {
                ssize_t w = send(s, data + sent, len - sent > 65536 ? 65536 : len - sent, 0);
                if (w > 0)
                    sent += (size_t)w;
            } else if (fin && !fin_sent) {
                shutdown(s, SHUT_WR);
                fin_sent = true;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[65536];
            ssize_t r = recv(s, buf, sizeof buf, 0);
            if (r <= 0)
                break;
            if (got < cap)
                memcpy(out + got, buf, (size_t)r < cap - got ? (size_t)r : cap - got);
            got += (size_t)r;
        }
    }
    return got;
}

static void job_stats(void *world, void *arg)
{
    world_t *w = world;
    proxy_l4_stats(w->proxy, arg);
}

/* /metrics as the admin endpoint renders it for this proxy (caller frees). */
static void job_metrics(void *world, void *arg)
{
    world_t *w = world;
    proxy_metrics_buf_t b = {0};
    proxy_metrics_source_t src = {NULL, w->proxy};
    *(char **)arg = proxy_metrics_render(&b, &src, 1, NULL) == 0 ? b.data : NULL;
}

static char *l4_metrics(void)
{
    char *text = NULL;
    tu_loop_run(&W.rig, job_metrics, &text);
    assert_non_null(text);
    return text;
}

static proxy_l4_stats_t l4_stats(void)
{
    proxy_l4_stats_t st;
    tu_loop_run(&W.rig, job_stats, &st);
    return st;
}

#define NEED_PEER()                        \
    do {                                   \
        if (!W.have_peer)                  \
            skip();                        \
    } while (0)

/* ------------------------------------------------------------------------------------------- */
/* HTTPS: certificates by SNI, 421 */

static void test_https_port_serves_each_listener_with_its_certificate(void **state)
{
    (void)state;
    if (!have("/usr/bin/curl"))
        skip();
    char out[4096];
    assert_int_equal(curl_https("a.example.com", W.https_port, "--http1.1", out, sizeof out), 0);
    assert_string_equal(out, "listener-a\ncode=200");
    assert_int_equal(curl_https("b.example.com", W.https_port, "--http2", out, sizeof out), 0);
    assert_string_equal(out, "listener-b\ncode=200");
    /* An SNI no listener has gets the default certificate (a's), which curl refuses for it. */
    assert_int_not_equal(curl_https("z.example.com", W.https_port, NULL, out, sizeof out), 0);
    /* openssl s_client shows which certificate came back. */
    if (have("/usr/bin/openssl")) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "openssl s_client -connect 127.0.0.1:%d -servername b.example.com -CAfile %s "
                 "</dev/null 2>/dev/null | grep -E '^subject=|Verify return code'",
                 W.https_port, W.ca_file);
        run(cmd, out, sizeof out);
        assert_non_null(strstr(out, "CN = b"));
        assert_non_null(strstr(out, "Verify return code: 0 (ok)"));
    }
}

static void test_https_host_of_another_listener_is_misdirected(void **state)
{
    (void)state;
    if (!have("/usr/bin/curl"))
        skip();
    char out[4096];
    const char *protos[] = {"--http1.1", "--http2"};
    for (size_t i = 0; i < 2; i++) {
        char extra[128];
        snprintf(extra, sizeof extra, "%s -H 'Host: b.example.com'", protos[i]);
        assert_int_equal(curl_https("a.example.com", W.https_port, extra, out, sizeof out), 0);
        assert_non_null(strstr(out, "code=421"));
        /* Host with a port, other case: still a's listener. */
        snprintf(extra, sizeof extra, "%s -H 'Host: A.example.com:%d'", protos[i], W.https_port);
        assert_int_equal(curl_https("a.example.com", W.https_port, extra, out, sizeof out), 0);
        assert_string_equal(out, "listener-a\ncode=200");
        /* A Host no listener takes, over a's connection: also another listener than the SNI's. */
        snprintf(extra, sizeof extra, "%s -H 'Host: nowhere.test'", protos[i]);
        assert_int_equal(curl_https("a.example.com", W.https_port, extra, out, sizeof out), 0);
        assert_non_null(strstr(out, "code=421"));
    }
}

static void job_add_listener_c(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    const ir_obj_t *objs[] = {
        listener("default/gw.c", "8443/default/gw", "c.example.com", P_HTTPS, &w->c),
        direct("rc", "default/gw.c", "listener-c\n"), NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
    /* proxy_config_apply does not refresh the port: go through proxy_apply with no change. */
    if (w->rc == PROXY_OK)
        w->rc = proxy_apply(w->proxy, NULL, 0, false, w->reason, sizeof w->reason);
}

static void test_https_listener_added_later_brings_its_certificate(void **state)
{
    (void)state;
    if (!have("/usr/bin/curl"))
        skip();
    char out[4096];
    assert_int_not_equal(curl_https("c.example.com", W.https_port, NULL, out, sizeof out), 0);
    tu_loop_run(&W.rig, job_add_listener_c, NULL);
    assert_int_equal(W.rc, PROXY_OK);
    assert_int_equal(curl_https("c.example.com", W.https_port, NULL, out, sizeof out), 0);
    assert_string_equal(out, "listener-c\ncode=200");
    assert_int_equal(curl_https("a.example.com", W.https_port, NULL, out, sizeof out), 0);
    assert_string_equal(out, "listener-a\ncode=200");
}

/* ------------------------------------------------------------------------------------------- */
/* TLS passthrough */

static void test_passthrough_routes_by_sni_to_the_backend_that_terminates(void **state)
{
    (void)state;
    NEED_PEER();
    if (!have("/usr/bin/curl"))
        skip();
    char out[4096];
    /* The backends' own certificates come through: curl verifies a.example.com against A. */
    assert_int_equal(curl_https("a.example.com", W.pass_port, NULL, out, sizeof out), 0);
    assert_string_equal(out, "backend-a sni=a.example.com\ncode=200");
    assert_int_equal(curl_https("x.example.com", W.pass_port, "--http1.1", out, sizeof out), 0);
    assert_string_equal(out, "backend-b sni=x.example.com\ncode=200");
    /* No route for this SNI: the connection is closed before any TLS answer. */
    proxy_l4_stats_t before = l4_stats();
    assert_int_not_equal(curl_https("other.org", W.pass_port, NULL, out, sizeof out), 0);
    proxy_l4_stats_t after = l4_stats();
    assert_int_equal(after.no_route - before.no_route, 1);
    if (have("/usr/bin/openssl")) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "printf 'GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n' | openssl s_client -quiet "
                 "-ign_eof -connect 127.0.0.1:%d -servername A.Example.com -CAfile %s 2>/dev/null",
                 W.pass_port, W.ca_file);
        run(cmd, out, sizeof out);
        /* Routed without regard to case; the bytes reach the backend as the client sent them. */
        if (!strstr(out, "backend-a sni=A.Example.com"))
            fail_msg("openssl s_client got: %s", out);
    }
}

static void test_passthrough_closes_clients_that_do_not_speak_tls(void **state)
{
    (void)state;
    uint8_t out[256];
    const char *http = "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
    proxy_l4_stats_t before = l4_stats();
    int s = tcp_connect(W.pass_port);
    size_t n = tcp_exchange(s, (const uint8_t *)http, strlen(http), false, out, sizeof out);
    assert_int_equal(n, 0);
    close(s);
    proxy_l4_stats_t after = l4_stats();
    assert_int_equal(after.bad_hello - before.bad_hello, 1);
    assert_int_equal(after.connections - before.connections, 1);
    assert_int_equal(after.spliced, before.spliced);
}

static void test_passthrough_closes_a_client_that_sends_no_client_hello(void **state)
{
    (void)state;
    uint8_t out[16];
    int s = tcp_connect(W.pass_port);
    /* Half a record header, then silence: closed after tls_hello_timeout_ms (300 ms here). */
    size_t n = tcp_exchange(s, (const uint8_t *)"\x16\x03", 2, false, out, sizeof out);
    assert_int_equal(n, 0);
    close(s);
}

/* ------------------------------------------------------------------------------------------- */
/* TCP */

static void test_tcp_splices_to_the_service_and_passes_half_close(void **state)
{
    (void)state;
    NEED_PEER();
    for (int i = 0; i < 5; i++) { /* weight 0 (the dead port) is never chosen */
        uint8_t out[256];
        int s = tcp_connect(W.tcp_port);
        size_t n = tcp_exchange(s, (const uint8_t *)"hello", 5, true, out, sizeof out - 1);
        close(s);
        out[n] = '\0';
        assert_string_equal((char *)out, "helloEOF 5\n");
    }
    /* Every spliced connection is gone once both sides ended (both closes are in flight
     * right after the client saw the EOF: wait for them). */
    proxy_l4_stats_t st = l4_stats();
    for (int i = 0; i < 200 && st.open; i++) {
        nap_ms(10);
        st = l4_stats();
    }
    assert_int_equal(st.open, 0);
    assert_true(st.spliced >= 5);
}

static void test_tcp_four_mebibytes_echo_with_bounded_buffers(void **state)
{
    (void)state;
    NEED_PEER();
    size_t len = 4u << 20;
    uint8_t *data = malloc(len), *out = malloc(len + 64);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 31 + (i >> 12));
    int s = tcp_connect(W.tcp_port);
    size_t n = tcp_exchange(s, data, len, true, out, len + 64);
    close(s);
    char tail[64];
    snprintf(tail, sizeof tail, "EOF %zu\n", len);
    assert_int_equal(n, len + strlen(tail));
    assert_memory_equal(out, data, len);
    assert_memory_equal(out + len, tail, strlen(tail));
    free(data);
    free(out);
}

static void test_tcp_backend_that_refuses_closes_the_client(void **state)
{
    (void)state;
    uint8_t out[16];
    proxy_l4_stats_t before = l4_stats();
    int s = tcp_connect(W.tcp_dead_port);
    size_t n = tcp_exchange(s, (const uint8_t *)"x", 1, false, out, sizeof out);
    assert_int_equal(n, 0);
    close(s);
    proxy_l4_stats_t after = l4_stats();
    assert_int_equal(after.no_backend - before.no_backend, 1);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends |msg| and reads its echo. */
static bool echo_once(int s, const char *msg)
{
    size_t len = strlen(msg), got = 0;
    char buf[64];
    if (send(s, msg, len, 0) != (ssize_t)len)
        return false;
    while (got < len) {
        struct pollfd p = {s, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            return false;
        ssize_t r = recv(s, buf + got, sizeof buf - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return memcmp(buf, msg, len) == 0;
}

static void test_tcp_idle_deadline_closes_only_silent_connections(void **state)
{
    (void)state;
    NEED_PEER();
    proxy_l4_stats_t before = l4_stats();
    int s = tcp_connect(W.tcp_port);
    /* A byte every 200 ms for 1.6 s: past the 600 ms deadline, still open. */
    for (int i = 0; i < 8; i++) {
        nap_ms(200);
        char msg[16];
        snprintf(msg, sizeof msg, "ping%d", i);
        assert_true(echo_once(s, msg));
    }
    assert_int_equal(l4_stats().idle_closed, before.idle_closed);
    /* Then silence: closed by the proxy about 600 ms after the last byte. */
    double t0 = mono_s();
    struct pollfd p = {s, POLLIN, 0};
    int n = poll(&p, 1, 10000);
    char c;
    ssize_t r = n > 0 ? recv(s, &c, 1, 0) : 1;
    double waited = mono_s() - t0;
    close(s);
    assert_true(n > 0 && r <= 0); /* EOF or reset, not a timeout of ours */
    assert_true(waited > 0.4);    /* not before the deadline */
    proxy_l4_stats_t after = l4_stats();
    for (int i = 0; i < 200 && after.idle_closed == before.idle_closed; i++) {
        nap_ms(10);
        after = l4_stats();
    }
    assert_int_equal(after.idle_closed - before.idle_closed, 1);
    /* and /metrics says so */
    char *text = l4_metrics(), want[96];
    snprintf(want, sizeof want, "krtgate_proxy_tcp_closed_total{reason=\"idle\"} %" PRIu64 "\n",
             after.idle_closed);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "krtgate_proxy_tcp_connections_total %" PRIu64 "\n",
             after.connections);
    assert_non_null(strstr(text, want));
    free(text);
}

static void test_tls_terminated_then_spliced_to_the_tcp_backend(void **state)
{
    (void)state;
    NEED_PEER();
    /* Python's ssl client verifies the name, sends "hello" and reads it back through the
     * echo; no ALPN is chosen for an opaque stream. */
    char cmd[512], out[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s client %s %d c.example.com 2>&1", PEER_PY,
             W.ca_file, W.term_port);
    run(cmd, out, sizeof out);
    assert_string_equal(out, "alpn=None got=hello\n");
    /* A name no route takes: closed after the handshake. */
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s client %s %d x.example.com 2>&1", PEER_PY,
             W.ca_file, W.term_port);
    run(cmd, out, sizeof out);
    assert_string_equal(out, "alpn=None got=\n");
}

/* A second proxy that opens its ports itself (auto_listen_host, as krtgate run does). */
static proxy_t *auto_proxy;
static int auto_port;
static bool auto_gone;

static void apply_all(proxy_t *p, const ir_obj_t **objs, bool replace)
{
    size_t n = 0;
    while (objs[n])
        n++;
    proxy_change_t ch[16];
    for (size_t i = 0; i < n; i++)
        proxy_change_of_obj(&ch[i], objs[i]);
    W.rc = proxy_apply(p, ch, n, replace, W.reason, sizeof W.reason);
    for (size_t i = 0; i < n; i++)
        ir_obj_release(objs[i]);
}

static void job_auto_http(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    proxy_options_t o;
    proxy_options_default(&o);
    o.auto_listen_host = "127.0.0.1";
    int err;
    auto_proxy = proxy_new(&w->rig.loop, &o, &err);
    char key[64];
    snprintf(key, sizeof key, "%d/default/gw2", auto_port);
    const ir_obj_t *objs[] = {tu_bind(key, (uint32_t)auto_port),
                              listener("default/gw2.http", key, "", 1 /* HTTP */, NULL),
                              direct("r2", "default/gw2.http", "listener-http\n"), NULL};
    apply_all(auto_proxy, objs, true);
}

static void job_auto_tcp(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    char key[64];
    snprintf(key, sizeof key, "%d/default/gw2", auto_port);
    const ir_obj_t *objs[] = {
        tu_bind(key, (uint32_t)auto_port),
        listener("default/gw2.tcp", key, "", P_TCP, NULL),
        tcp_route("t2", "default/gw2.tcp", "", "svc:default/echo.default.svc.cluster.local:7=1"),
        tu_service("default", "echo.default.svc.cluster.local", 7, (uint32_t)w->echo_port),
        tu_workload("Kubernetes//Pod/default/echo", "127.0.0.1",
                    "default/echo.default.svc.cluster.local", 7, 0),
        NULL};
    apply_all(auto_proxy, objs, true);
}

static void job_auto_close(void *world, void *arg)
{
    world_t *w = world;
    (void)w;
    (void)arg;
    proxy_close(auto_proxy, proxy_closed, &auto_gone);
}

static void test_auto_listener_reopens_when_its_kind_changes(void **state)
{
    (void)state;
    NEED_PEER();
    if (!have("/usr/bin/curl"))
        skip();
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    auto_port = ntohs(sa.sin_port);
    close(s);
    tu_loop_run(&W.rig, job_auto_http, NULL);
    assert_int_equal(W.rc, PROXY_OK);
    char cmd[256], out[256];
    snprintf(cmd, sizeof cmd, "curl -s --max-time 10 http://127.0.0.1:%d/", auto_port);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_string_equal(out, "listener-http\n");
    /* The same Bind becomes a TCP port: the listener closes and opens again as TCP. */
    tu_loop_run(&W.rig, job_auto_tcp, NULL);
    assert_int_equal(W.rc, PROXY_OK);
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) { /* the reopen happens once the old port closed */
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)auto_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(c, (struct sockaddr *)&to, sizeof to) == 0) {
            uint8_t got[64] = {0};
            size_t n = tcp_exchange(c, (const uint8_t *)"hi", 2, true, got, sizeof got - 1);
            ok = n == 8 && memcmp(got, "hiEOF 2\n", 8) == 0;
        }
        close(c);
        if (!ok)
            nap_ms(50);
    }
    assert_true(ok);
    tu_loop_run(&W.rig, job_auto_close, NULL);
    for (int i = 0; i < 200 && !auto_gone; i++)
        nap_ms(10);
    assert_true(auto_gone);
}

/* Runs last: a connection left open must not keep the proxy from closing (teardown checks). */
static int open_at_close = -1;

static void test_tcp_connection_open_when_the_proxy_closes(void **state)
{
    (void)state;
    NEED_PEER();
    open_at_close = tcp_connect(W.tcp_port);
    uint8_t out[16];
    assert_int_equal(send(open_at_close, "ping", 4, 0), 4);
    struct pollfd p = {open_at_close, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(recv(open_at_close, out, sizeof out, 0), 4);
}

/* Network authorization on a TCP port: a Bind whose Gateway has a frontend network_authorization
 * policy refusing 127.0.0.3. */
static void job_netauth(void *world, void *arg)
{
    world_t *w = world;
    int *port = arg;
    Agentgateway__Dev__Resource__Listener *l = ir_pb_alloc(sizeof *l);
    agentgateway__dev__resource__listener__init(l);
    l->key = tu_strdup("default/gw.na");
    l->bind_key = tu_strdup("9002/default/gw");
    l->hostname = tu_strdup("");
    l->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__TCP;
    l->name = ir_pb_alloc(sizeof *l->name);
    agentgateway__dev__resource__listener_name__init(l->name);
    l->name->gateway_name = tu_strdup("gw");
    l->name->gateway_namespace = tu_strdup("default");
    l->name->listener_name = tu_strdup("na");
    Agentgateway__Dev__Resource__Policy *p = ir_pb_alloc(sizeof *p);
    agentgateway__dev__resource__policy__init(p);
    p->key = tu_strdup("netauth");
    p->target = ir_pb_alloc(sizeof *p->target);
    agentgateway__dev__resource__policy_target__init(p->target);
    p->target->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY;
    p->target->gateway = ir_pb_alloc(sizeof *p->target->gateway);
    agentgateway__dev__resource__policy_target__gateway_target__init(p->target->gateway);
    p->target->gateway->name = tu_strdup("gw");
    p->target->gateway->namespace_ = tu_strdup("default");
    p->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND;
    p->frontend = ir_pb_alloc(sizeof *p->frontend);
    agentgateway__dev__resource__frontend_policy_spec__init(p->frontend);
    p->frontend->kind_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_NETWORK_AUTHORIZATION;
    p->frontend->network_authorization = ir_pb_alloc(sizeof *p->frontend->network_authorization);
    agentgateway__dev__resource__frontend_policy_spec__network_authorization__init(
        p->frontend->network_authorization);
    TU_PUSH(p->frontend->network_authorization->deny, p->frontend->network_authorization->n_deny,
            tu_strdup("source.address == '127.0.0.3'"));
    const ir_policy_t *po = ir_policy_new(p, "default/gw", NULL);
    const ir_listener_t *lo = ir_listener_new(l, "default/gw", NULL);
    const ir_obj_t *objs[] = {
        tu_bind("9002/default/gw", 9002), lo ? ir_listener_obj(lo) : NULL,
        tcp_route("na", "default/gw.na", "", "svc:default/echo.default.svc.cluster.local:7=1"),
        po ? ir_policy_obj(po) : NULL, NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
    if (w->rc == PROXY_OK)
        w->rc = proxy_listen(w->proxy, "9002/default/gw", "127.0.0.1:0", port);
}

/* A connection from |src| (a 127/8 address) to |port|. */
static int tcp_connect_from(const char *src, int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &me.sin_addr);
    assert_int_equal(bind(s, (struct sockaddr *)&me, sizeof me), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    return s;
}

static void test_tcp_network_authorization_refuses_a_source(void **state)
{
    (void)state;
    NEED_PEER();
    int port = 0;
    tu_loop_run(&W.rig, job_netauth, &port);
    if (W.rc != PROXY_OK)
        fail_msg("config: %s", W.reason);
    uint8_t out[64];
    int s = tcp_connect_from("127.0.0.1", port);
    size_t n = tcp_exchange(s, (const uint8_t *)"hello", 5, true, out, sizeof out - 1);
    close(s);
    out[n] = '\0';
    assert_string_equal((char *)out, "helloEOF 5\n");
    s = tcp_connect_from("127.0.0.3", port); /* closed at once: no byte reaches the backend */
    n = tcp_exchange(s, (const uint8_t *)"hello", 5, true, out, sizeof out - 1);
    close(s);
    assert_int_equal(n, 0);
}

static void test_selection_by_bind_mode_and_sni(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *objs[] = {
        tu_bind("1/default/gw", 1),
        listener("default/gw.l1", "1/default/gw", "*.example.com", P_TLS, NULL),
        listener("default/gw.l2", "1/default/gw", "", P_TLS, NULL),
        tcp_route("r1", "default/gw.l1", "", "inline:h1:1=1"),
        tcp_route("r2", "default/gw.l1", "*.b.example.com,q.example.com", "inline:h2:2=1"),
        tcp_route("r3", "default/gw.l2", "", "inline:h3:3=0"),
        tu_bind("2/default/gw", 2),
        listener("default/gw.t", "2/default/gw", "", P_TCP, NULL),
        tu_bind("3/default/gw", 3),
        listener("default/gw.h", "3/default/gw", "", P_HTTPS, &W.a),
        NULL};
    char reason[256];
    assert_int_equal(tu_apply(cfg, objs, reason, sizeof reason), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_l4_bind_mode(s, "1/default/gw"), PROXY_BIND_PASSTHROUGH);
    assert_int_equal(proxy_l4_bind_mode(s, "2/default/gw"), PROXY_BIND_TCP);
    assert_int_equal(proxy_l4_bind_mode(s, "3/default/gw"), PROXY_BIND_HTTP);
    assert_int_equal(proxy_l4_bind_mode(s, "9/none"), PROXY_BIND_HTTP);
    struct {
        const char *sni, *route;
    } cases[] = {
        {"a.example.com", "default/r1.00.l"},   {"x.b.example.com", "default/r2.00.l"},
        {"q.example.com", "default/r2.00.l"},   {"b.example.com", "default/r1.00.l"},
        {"other.org", "default/r3.00.l"},       {NULL, "default/r3.00.l"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proxy_l4_match_t m;
        assert_int_equal(proxy_l4_route(s, "1/default/gw", cases[i].sni, &m), PROXY_OK);
        assert_string_equal(ir_tcp_route_key(m.route), cases[i].route);
    }
    proxy_l4_match_t m;
    assert_int_equal(proxy_l4_route(s, "2/default/gw", "x", &m), PROXY_ENOROUTE);
    assert_non_null(m.listener);
    assert_null(m.route);
    proxy_lb_t lb;
    proxy_lb_init(&lb, 1);
    proxy_endpoint_t ep;
    assert_int_equal(proxy_l4_route(s, "1/default/gw", "a.example.com", &m), PROXY_OK);
    assert_int_equal(proxy_l4_pick(s, m.route, &lb, &ep, reason, sizeof reason), PROXY_OK);
    assert_string_equal(ep.host, "h1");
    assert_int_equal(ep.port, 1);
    assert_int_equal(proxy_l4_route(s, "1/default/gw", NULL, &m), PROXY_OK);
    assert_int_equal(proxy_l4_pick(s, m.route, &lb, &ep, reason, sizeof reason),
                     PROXY_ENOBACKEND);
    assert_non_null(strstr(reason, "weight"));
    /* Listener by name for the 421 check. */
    assert_null(proxy_l4_listener_for_name(s, "3/default/gw", "a.example.com", P_TLS));
    assert_non_null(proxy_l4_listener_for_name(s, "3/default/gw", "a.example.com", P_HTTPS));
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selection_by_bind_mode_and_sni),
        cmocka_unit_test(test_https_port_serves_each_listener_with_its_certificate),
        cmocka_unit_test(test_https_host_of_another_listener_is_misdirected),
        cmocka_unit_test(test_https_listener_added_later_brings_its_certificate),
        cmocka_unit_test(test_passthrough_routes_by_sni_to_the_backend_that_terminates),
        cmocka_unit_test(test_passthrough_closes_clients_that_do_not_speak_tls),
        cmocka_unit_test(test_passthrough_closes_a_client_that_sends_no_client_hello),
        cmocka_unit_test(test_tcp_splices_to_the_service_and_passes_half_close),
        cmocka_unit_test(test_tcp_four_mebibytes_echo_with_bounded_buffers),
        cmocka_unit_test(test_tcp_backend_that_refuses_closes_the_client),
        cmocka_unit_test(test_tcp_network_authorization_refuses_a_source),
        cmocka_unit_test(test_tcp_idle_deadline_closes_only_silent_connections),
        cmocka_unit_test(test_tls_terminated_then_spliced_to_the_tcp_backend),
        cmocka_unit_test(test_auto_listener_reopens_when_its_kind_changes),
        cmocka_unit_test(test_tcp_connection_open_when_the_proxy_closes),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    if (open_at_close >= 0)
        close(open_at_close);
    return rc;
}
