/*
 * A krtgate xDS server for the independent peer (tests/xds/delta_client.py): one krt static
 * collection per IR kind feeding an xds_store, served on 127.0.0.1 (any free port), driven by one
 * command per line on stdin, one answer per line on stdout:
 *
 *   put <kind> <gateway ns/name | -> <inner key> <salt>   stage an object (content depends on salt)
 *   del <kind> <gateway | -> <inner key>                  stage a deletion
 *   flush                                                 krt flush + store commit → "ok <version>"
 *   version <kind> <gateway | -> <inner key>              → "ok <xDS version>" or "ok -"
 *   debug                                                 → "ok <the admin JSON on one line>"
 *   quit                                                  close the server and exit
 *
 * kinds: bind listener route tcp_route backend policy address (an address key is "<ns>/<host>").
 * Options: --tls DIR (make a test CA and a localhost certificate; write DIR/ca.pem), --tokens FILE
 * (static token authentication). The first line written is "port <N>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "xds_test_util.h"
#include "xds/server.h"

static krt_engine_t *engine;
static krt_collection_t *cols[IR_KIND_COUNT + 1];
static xds_store_t *store;
static xds_server_t *server;
static uv_loop_t *loop;
static uv_pipe_t in;
static char line[8192];
static size_t line_len;

static int kind_of(const char *s)
{
    for (int k = 1; k <= IR_KIND_COUNT; k++)
        if (strcmp(s, ir_kind_name((ir_kind_t)k)) == 0 ||
            (k != IR_KIND_ADDRESS && strcmp(s, ir_kind_prefix((ir_kind_t)k)) == 0))
            return k;
    return 0;
}

static void reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void closed(void *ud)
{
    (void)ud;
    uv_close((uv_handle_t *)&in, NULL);
}

static void command(char *cmd)
{
    char *save = NULL;
    char *verb = strtok_r(cmd, " ", &save);
    if (!verb)
        return;
    char *a = strtok_r(NULL, " ", &save), *b = strtok_r(NULL, " ", &save),
         *c = strtok_r(NULL, " ", &save), *d = strtok_r(NULL, " ", &save);
    if (strcmp(verb, "flush") == 0) {
        int rc = xds_store_flush(store, engine);
        reply("ok %llu %d", (unsigned long long)xds_store_version(store), rc);
    } else if (strcmp(verb, "debug") == 0) {
        json_t *j = xds_server_debug(server);
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        reply("ok %s", s);
        free(s);
        json_decref(j);
    } else if (strcmp(verb, "quit") == 0) {
        xds_server_close(server, closed, NULL);
    } else if (a && b && c) {
        int k = kind_of(a);
        const char *gw = strcmp(b, "-") == 0 ? NULL : b;
        if (!k) {
            reply("error unknown kind %s", a);
            return;
        }
        if (strcmp(verb, "put") == 0 && d) {
            const ir_obj_t *o = xt_obj((ir_kind_t)k, gw, c, (unsigned)atoi(d));
            krt_static_put(cols[k], ir_obj_krt(o));
            reply("ok %s", ir_obj_version(o));
        } else if (strcmp(verb, "del") == 0 || strcmp(verb, "version") == 0) {
            char *name = ir_name_resource((ir_kind_t)k, c);
            char *key = ir_key_scoped(gw, name);
            if (strcmp(verb, "del") == 0) {
                reply("ok %d", krt_static_delete(cols[k], key));
            } else {
                const krt_obj_t *o = krt_collection_get(cols[k], key);
                reply("ok %s", o ? ir_obj_version(ir_obj_from_krt(o)) : "-");
            }
            krt_free(name);
            krt_free(key);
        } else {
            reply("error bad command");
        }
    } else {
        reply("error bad command");
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char chunk[4096];
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        uv_read_stop(s);
        if (server)
            xds_server_close(server, closed, NULL);
        server = NULL;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char ch = buf->base[i];
        if (ch == '\n') {
            line[line_len] = '\0';
            line_len = 0;
            command(line);
        } else if (line_len + 1 < sizeof line) {
            line[line_len++] = ch;
        }
    }
}

int main(int argc, char **argv)
{
    const char *tls_dir = NULL, *tokens = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--tls") == 0)
            tls_dir = argv[i + 1];
        else if (strcmp(argv[i], "--tokens") == 0)
            tokens = argv[i + 1];
    }
    loop = uv_default_loop();
    engine = krt_engine_new();
    store = xds_store_new();
    for (int k = 1; k <= IR_KIND_COUNT; k++) {
        cols[k] =
            krt_static_new(engine, ir_kind_type((ir_kind_t)k), ir_kind_name((ir_kind_t)k), true);
        xds_store_watch(store, cols[k]);
    }
    xds_store_flush(store, engine);
    xds_server_config_t cfg;
    xds_server_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    net_tls_testcert_t tc = {0};
    net_tls_ctx_t *tls = NULL;
    if (tls_dir) {
        if (net_tls_testcert_make(&tc, "localhost", NULL, false) != NET_OK)
            return 2;
        net_tls_config_t tcfg = {.cert_pem = tc.cert_pem, .key_pem = tc.key_pem};
        int err;
        tls = net_tls_ctx_new(true, &tcfg, &err);
        char path[1024];
        snprintf(path, sizeof path, "%s/ca.pem", tls_dir);
        FILE *f = fopen(path, "w");
        if (!f || !tls)
            return 2;
        fputs(tc.ca_pem, f);
        fclose(f);
        cfg.tls = tls;
    }
    xds_auth_t auth;
    if (tokens) {
        xds_err_t err = {0};
        if (xds_auth_static_load(tokens, &auth, &err) != XDS_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 2;
        }
        cfg.auth = &auth;
    }
    int err = 0;
    server = xds_server_new(loop, store, &cfg, &err);
    if (!server) {
        fprintf(stderr, "xds_server_new: %s\n", xds_strerror(err));
        return 2;
    }
    reply("port %d", xds_server_port(server));
    uv_pipe_init(loop, &in, 0);
    uv_pipe_open(&in, 0);
    uv_read_start((uv_stream_t *)&in, alloc_cb, read_cb);
    uv_run(loop, UV_RUN_DEFAULT);
    net_tls_ctx_release(tls);
    if (tls_dir)
        net_tls_testcert_dispose(&tc);
    xds_store_free(store);
    krt_engine_free(engine);
    uv_loop_close(loop);
    return 0;
}
