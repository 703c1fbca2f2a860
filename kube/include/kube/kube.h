/*
 * kube/ — Kubernetes objects into krt: the common error table of the module.
 *
 * Every kube_* function that can fail returns KUBE_OK (0) or one of the negative codes below, from
 * this one table; kube_strerror() names them. The codes are the module's own (not krt's) because
 * they say things libkrt never has to: a path that does not exist, a read that failed, a limit hit.
 */
#ifndef KUBE_KUBE_H
#define KUBE_KUBE_H

#ifdef __cplusplus
extern "C" {
#endif

#define KUBE_ERRNO_MAP(XX)                             \
    XX(OK, 0, "success")                               \
    XX(ENOMEM, -1, "out of memory")                    \
    XX(EINVAL, -2, "invalid argument")                 \
    XX(ENOENT, -3, "no such file or directory")        \
    XX(EIO, -4, "input/output error")                  \
    XX(ELIMIT, -5, "a limit was exceeded")             \
    XX(EOBJECT, -6, "invalid Kubernetes object")       \
    XX(ESTATE, -7, "not allowed in the current state") \
    XX(EUV, -8, "event loop error")

enum {
#define KUBE__ERR_ENUM(name, code, msg) KUBE_##name = (code),
    KUBE_ERRNO_MAP(KUBE__ERR_ENUM)
#undef KUBE__ERR_ENUM
};

/* Returns: a static string describing |rc| ("unknown error" outside the table). */
const char *kube_strerror(int rc);
/* Returns: a static string naming |rc|, e.g. "KUBE_ENOENT". */
const char *kube_err_name(int rc);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_KUBE_H */
