/*
 * net/ common definitions: the one error table of the transport layer, and its log hook.
 *
 * Every net_* function that can fail returns one of the NET_E* codes below (negative), never errno
 * or a library's own code; the library's detail goes to the log hook with the place it happened.
 * The alternative, passing nghttp2/OpenSSL/libuv codes through, was rejected: callers would need to
 * know which library sat under which call.
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NET_ERRNO_MAP(XX)                                                             \
    XX(OK, 0, "success")                                                              \
    XX(ENOMEM, -1, "out of memory")                                                   \
    XX(EINVAL, -2, "invalid argument")                                                \
    XX(EAGAIN, -3, "would exceed a buffer limit: retry when told the peer made room") \
    XX(EPROTO, -4, "peer violated the protocol")                                      \
    XX(ETOOBIG, -5, "message larger than the configured limit")                       \
    XX(ECOMPRESSED, -6, "compressed gRPC message but no encoding was negotiated")     \
    XX(ECLOSED, -7, "stream or connection already closed")                            \
    XX(ESTATE, -8, "not allowed in the current state")                                \
    XX(ETLS, -9, "TLS failure")                                                       \
    XX(EIO, -10, "socket error")                                                      \
    XX(EADDR, -11, "bad address")                                                     \
    XX(ETIMEDOUT, -12, "timed out")                                                   \
    XX(EALPN, -13, "no common application protocol (ALPN)")                           \
    XX(ELIMIT, -14, "a configured limit was reached")

enum {
#define NET__ERR_ENUM(name, code, msg) NET_##name = (code),
    NET_ERRNO_MAP(NET__ERR_ENUM)
#undef NET__ERR_ENUM
};

/* Returns: a static string describing |rc| ("unknown error" outside the table). */
const char *net_strerror(int rc);
/* Returns: a static string naming |rc|, e.g. "NET_EAGAIN". */
const char *net_err_name(int rc);

enum { NET_LOG_DEBUG = 0, NET_LOG_INFO = 1, NET_LOG_WARN = 2, NET_LOG_ERROR = 3 };
typedef void (*net_log_cb)(int level, const char *msg, void *ud);

/* Sets the process-wide log hook of net/ (NULL restores the default: WARN and ERROR to stderr) and
 * the lowest level passed to it. Keeps ud. Not thread-safe: call before starting loops. */
void net_log_set(net_log_cb cb, void *ud, int min_level);

/* Formats and logs one line (no trailing newline needed). Cross-file internal. */
void net__log(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
