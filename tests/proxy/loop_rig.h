/*
 * The loop rig of the proxy tests that talk to the proxy with real clients (curl, sockets): a
 * libuv loop runs on its own thread, and the test thread hands it jobs one at a time and waits
 * for each. So blocking clients on the test thread never stall the proxy, and every touch of
 * libuv objects still happens on the loop thread.
 *
 * A test embeds a tu_loop_t in its world, starts it in setup, and its last job closes every
 * handle on the loop, |async| included, so that the loop ends and tu_loop_join can reap it.
 */
#ifndef PROXY_TEST_LOOP_RIG_H
#define PROXY_TEST_LOOP_RIG_H

#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <uv.h>

typedef void (*tu_job_fn)(void *world, void *arg);

typedef struct tu_loop {
    uv_loop_t loop;
    uv_async_t async;
    pthread_t thread;
    pthread_mutex_t mu; /* one job at a time, whatever thread hands it over */
    sem_t done;
    void *world; /* handed to every job */
    tu_job_fn job;
    void *job_arg;
} tu_loop_t;

static inline void tu_loop_on_async(uv_async_t *a)
{
    tu_loop_t *l = a->data;
    if (l->job) {
        l->job(l->world, l->job_arg);
        l->job = NULL;
        sem_post(&l->done);
    }
}

static inline void *tu_loop_main(void *arg)
{
    tu_loop_t *l = arg;
    uv_run(&l->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Starts the loop thread; |world| is the first argument of every job. Keeps: l, world. */
static inline void tu_loop_start(tu_loop_t *l, void *world)
{
    uv_loop_init(&l->loop);
    uv_async_init(&l->loop, &l->async, tu_loop_on_async);
    l->async.data = l;
    l->world = world;
    pthread_mutex_init(&l->mu, NULL);
    sem_init(&l->done, 0, 0);
    pthread_create(&l->thread, NULL, tu_loop_main, l);
}

/* Runs job(world, arg) on the loop thread and returns when it has. */
static inline void tu_loop_run(tu_loop_t *l, tu_job_fn job, void *arg)
{
    pthread_mutex_lock(&l->mu);
    l->job = job;
    l->job_arg = arg;
    uv_async_send(&l->async);
    sem_wait(&l->done);
    pthread_mutex_unlock(&l->mu);
}

/* Waits for the loop to end (the last job closed its handles); returns uv_loop_close's answer,
 * 0 when nothing was left open. */
static inline int tu_loop_join(tu_loop_t *l)
{
    pthread_join(l->thread, NULL);
    int rc = uv_loop_close(&l->loop);
    sem_destroy(&l->done);
    pthread_mutex_destroy(&l->mu);
    return rc;
}

#endif
