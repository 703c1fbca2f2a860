/*
 * The pump (see api_pump.h): runs a sans-IO writer core on a libuv loop through a kube_api_t.
 *
 * Key decision: an answer that arrives inside the request function (a request that cannot start
 * ends at once, kube/api.h) is told apart by |sending|, not by searching the calls again, so the
 * handle is stored only on a record that is still alive. The alternative rejected: looking the
 * call up by id after every request, an O(calls) walk with the same result.
 */
#include <stdlib.h>

#include <utlist.h>

#include "api_pump.h"

void kube__pump_init(kube__pump_t *p, kube_api_t api, kube__pump_next_fn next,
                     kube__pump_done_fn done, void *core)
{
    *p = (kube__pump_t){.api = api, .next = next, .done = done, .core = core};
}

static void pump_run(kube__pump_t *p);

static void on_timer(uv_timer_t *t)
{
    pump_run(t->data);
}

void kube__pump_kick(kube__pump_t *p)
{
    if (p->timer)
        uv_timer_start(p->timer, on_timer, 0, 0);
}

static void on_response(void *ud, int err, const kube_response_t *resp)
{
    kube__pump_call_t *c = ud;
    kube__pump_t *p = c->p;
    uint64_t id = c->id;
    DL_DELETE(p->calls, c); /* P1 */
    if (p->sending == c)
        p->sending = NULL; /* P2 */
    free(c);
    p->done(p->core, id, err, resp, uv_now(p->loop));
}

static void pump_run(kube__pump_t *p)
{
    for (;;) {
        kube_api_req_t req;
        kube_api_next_t n = p->next(p->core, uv_now(p->loop), &req);
        if (n == KUBE_API_IDLE)
            return;
        if (n == KUBE_API_WAIT) {
            uv_timer_start(p->timer, on_timer, req.wait_ms, 0);
            return;
        }
        kube__pump_call_t *c = calloc(1, sizeof *c);
        if (!c) {
            p->done(p->core, req.id, KUBE_ENOMEM, NULL, uv_now(p->loop));
            return;
        }
        c->p = p;
        c->id = req.id;
        DL_APPEND(p->calls, c);
        p->sending = c;
        kube_call_t *call = NULL;
        int rc = p->api.request(p->api.ud, req.method, req.path, req.content_type, req.body,
                                req.len, on_response, c, &call);
        if (rc != KUBE_OK) {
            /* the callback never runs: the record is still ours */
            p->sending = NULL;
            DL_DELETE(p->calls, c);
            free(c);
            p->done(p->core, req.id, rc, NULL, uv_now(p->loop));
            continue;
        }
        if (p->sending == c) /* else answered (and freed) inside the request function */
            c->call = call;
        p->sending = NULL;
    }
}

int kube__pump_start(kube__pump_t *p, uv_loop_t *loop)
{
    if (p->timer)
        return KUBE_OK;
    if (!loop)
        return KUBE_EINVAL;
    uv_timer_t *t = calloc(1, sizeof *t);
    int rc = !t ? KUBE_ENOMEM : uv_timer_init(loop, t) != 0 ? KUBE_EUV : KUBE_OK;
    if (rc != KUBE_OK) {
        free(t); /* an init that failed leaves nothing for the loop to close */
    } else {
        t->data = p;
        p->timer = t; /* P3 */
        p->loop = loop;
    }
    return rc;
}

void kube__pump_stop(kube__pump_t *p)
{
    if (p->timer)
        uv_timer_stop(p->timer);
    if (!p->api.cancel)
        return; /* the answers will come; the core ignores their ids */
    while (p->calls) {
        kube__pump_call_t *c = p->calls;
        DL_DELETE(p->calls, c);
        if (c->call)
            p->api.cancel(p->api.ud, c->call);
        free(c);
    }
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

void kube__pump_dispose(kube__pump_t *p)
{
    kube__pump_stop(p);
    while (p->calls) {
        kube__pump_call_t *c = p->calls;
        DL_DELETE(p->calls, c);
        free(c);
    }
    if (p->timer)
        uv_close((uv_handle_t *)p->timer, timer_closed);
    p->timer = NULL;
}
