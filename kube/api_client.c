/*
 * kube_api_client: the kube_api_t that sends through the real transport (kube/client.c). Kept in
 * its own file so the sans-IO cores and their tests link without the transport.
 */
#include "kube/api.h"

static int client_request(void *ud, const char *method, const char *path, const char *content_type,
                          const char *body, size_t len, kube_response_cb cb, void *cb_ud,
                          kube_call_t **call)
{
    return kube_client_request(ud, method, path, content_type, body, len, cb, cb_ud, call);
}

static void client_cancel(void *ud, kube_call_t *call)
{
    (void)ud;
    kube_call_cancel(call);
}

kube_api_t kube_api_client(kube_client_t *c)
{
    kube_api_t a = {.request = client_request, .cancel = client_cancel, .ud = c};
    return a;
}
