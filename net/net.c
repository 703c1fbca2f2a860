/*
 * net/ error table and log hook. One table so every code has exactly one name and one sentence;
 * the log hook is process-wide because net/ objects are created deep inside adapters that have no
 * natural place to carry a logger.
 */
#include "conn_internal.h"
#include "net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *net_strerror(int rc)
{
    switch (rc) {
#define NET__ERR_STR(name, code, msg) \
    case code:                        \
        return msg;
        NET_ERRNO_MAP(NET__ERR_STR)
#undef NET__ERR_STR
    }
    return "unknown error";
}

const char *net_err_name(int rc)
{
    switch (rc) {
#define NET__ERR_NAME(name, code, msg) \
    case code:                         \
        return "NET_" #name;
        NET_ERRNO_MAP(NET__ERR_NAME)
#undef NET__ERR_NAME
    }
    return "NET_E?";
}

static net_log_cb log_cb;
static void *log_ud;
static int log_min = NET_LOG_WARN;

void net_log_set(net_log_cb cb, void *ud, int min_level)
{
    log_cb = cb;
    log_ud = ud;
    log_min = min_level;
}

void net__log(int level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log_cb) {
        log_cb(level, line, log_ud);
        return;
    }
    static const char *names[] = {"debug", "info", "warn", "error"};
    fprintf(stderr, "net %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}

static void timer_freed(uv_handle_t *h)
{
    free(h);
}

void net__timer_discard(uv_timer_t *t)
{
    if (!t)
        return;
    uv_timer_stop(t);
    t->data = NULL;
    uv_close((uv_handle_t *)t, timer_freed);
}

int net__bytes_append(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *data, size_t n)
{
    if (*len + n > *cap) {
        size_t ncap = *cap ? *cap : 16384;
        while (ncap < *len + n)
            ncap *= 2;
        uint8_t *p = realloc(*buf, ncap);
        if (!p)
            return NET_ENOMEM;
        *buf = p;
        *cap = ncap;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return NET_OK;
}
