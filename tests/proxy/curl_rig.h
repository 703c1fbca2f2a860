/*
 * curl as the client of the proxy tests: runs /usr/bin/curl on the test thread (the proxy runs on
 * the loop rig's thread), and keeps the status, the response head ("-D") and the body, parsed as
 * JSON when it is (the echo backends answer with a JSON summary of the request they got).
 */
#ifndef PROXY_TEST_CURL_RIG_H
#define PROXY_TEST_CURL_RIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct tu_resp {
    int status; /* the final one: after "100 Continue", the next */
    char headers[4096];
    char body[65536];
    json_t *json; /* NULL when the body is not JSON */
} tu_resp_t;

static inline bool tu_have_curl(void)
{
    return access("/usr/bin/curl", X_OK) == 0;
}

#define TU_SKIP_WITHOUT_CURL() \
    do {                       \
        if (!tu_have_curl())   \
            skip();            \
    } while (0)

/* Runs curl with the extra shell words |args| (may be NULL) on |url|. Borrows all. */
static inline void tu_curl_url(tu_resp_t *r, const char *url, const char *args)
{
    char hfile[] = "/tmp/proxy_test_hXXXXXX";
    int fd = mkstemp(hfile);
    close(fd);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "curl -s --max-time 10 -D %s %s '%s' -o -", hfile, args ? args : "",
             url);
    memset(r, 0, sizeof *r);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(r->body, 1, sizeof r->body - 1, f);
    r->body[n] = '\0';
    pclose(f);
    FILE *h = fopen(hfile, "r");
    n = h ? fread(r->headers, 1, sizeof r->headers - 1, h) : 0;
    r->headers[n] = '\0';
    if (h)
        fclose(h);
    unlink(hfile);
    sscanf(r->headers, "HTTP/%*s %d", &r->status);
    if (strncmp(r->headers, "HTTP/1.1 100", 12) == 0) {
        const char *second = strstr(r->headers + 12, "HTTP/1.1 ");
        if (second)
            sscanf(second, "HTTP/1.1 %d", &r->status);
    }
    r->json = json_loads(r->body, JSON_DISABLE_EOF_CHECK, NULL);
}

/* curl on http://127.0.0.1:|port||path|. */
static inline void tu_curl(tu_resp_t *r, int port, const char *path, const char *args)
{
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    tu_curl_url(r, url, args);
}

static inline void tu_resp_free(tu_resp_t *r)
{
    json_decref(r->json);
}

#endif
