/* SPDX-License-Identifier: BSD-2-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <shinjuku.h>
#include "workers.h"

#define PENDING_MAX	65536	/* power of two */

enum { W_IDLE, W_BUSY, W_STOP };

struct worker {
	struct wk_pool *pool;
	pthread_t th;
	pid_t tid;
	uint32_t state;		/* W_*; a futex word for WK_BLOCK */
	uint64_t id, service_ns;
} __attribute__((aligned(64)));

struct wk_pool {
	struct wk_config cfg;
	wk_done_fn done;
	void *ctx;
	pthread_mutex_t lock;	/* pending[], worker states, and mark order */
	struct { uint64_t id, service_ns; } pending[PENDING_MAX];
	uint32_t head, tail;
	int started, ready, err;
	struct worker w[WK_MAX_WORKERS];
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The request's work: its service time of CPU, however often we lose the
 * CPU meanwhile. */
static void serve(uint64_t service_ns)
{
	uint64_t until = cpu_ns() + service_ns;

	while (cpu_ns() < until)
		;
}

static void futex_wait(uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct wk_pool *p = w->pool;
	int err = 0;

	w->tid = gettid();
	if (p->cfg.shinjuku) {
		err = shj_register(0, p->cfg.qos);
		if (!err && p->cfg.wait == WK_SPIN)
			err = shj_idle(0);
	}
	if (err)
		__atomic_store_n(&p->err, err, __ATOMIC_RELEASE);
	__atomic_add_fetch(&p->ready, 1, __ATOMIC_ACQ_REL);
	if (err)
		return NULL;

	for (;;) {
		uint32_t s;

		while ((s = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE)) == W_IDLE) {
			if (p->cfg.wait == WK_BLOCK)
				futex_wait(&w->state, W_IDLE);
		}
		if (s == W_STOP)
			return NULL;
		for (;;) {
			if (p->cfg.begin)
				p->cfg.begin(p->ctx, w->id);
			serve(w->service_ns);
			p->done(p->ctx, w->id);
			pthread_mutex_lock(&p->lock);
			if (p->head != p->tail) {	/* more work: stay runnable */
				w->id = p->pending[p->head % PENDING_MAX].id;
				w->service_ns = p->pending[p->head % PENDING_MAX].service_ns;
				p->head++;
				pthread_mutex_unlock(&p->lock);
				continue;
			}
			/* idle: marked before the dispatcher can see it idle,
			 * under the lock, so the marks reach the daemon in order.
			 * Only a spinning worker needs the mark: a blocked one is
			 * idle to the kernel already; marking it would only put a
			 * daemon round trip on each request's path. */
			if (p->cfg.shinjuku && p->cfg.wait == WK_SPIN)
				shj_idle(0);
			if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) == W_BUSY)
				__atomic_store_n(&w->state, W_IDLE, __ATOMIC_RELEASE);
			pthread_mutex_unlock(&p->lock);
			break;
		}
	}
}

int wk_submit(struct wk_pool *p, uint64_t id, uint64_t service_ns)
{
	int i, err = 0;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->cfg.workers; i++) {
		struct worker *w = &p->w[i];

		if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != W_IDLE)
			continue;
		w->id = id;
		w->service_ns = service_ns;
		if (p->cfg.shinjuku && p->cfg.wait == WK_SPIN)
			shj_runnable(w->tid);
		__atomic_store_n(&w->state, W_BUSY, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&p->lock);
		if (p->cfg.wait == WK_BLOCK)
			futex_wake(&w->state);
		return 0;
	}
	if (p->tail - p->head >= PENDING_MAX) {
		err = -ENOSPC;
	} else {
		p->pending[p->tail % PENDING_MAX].id = id;
		p->pending[p->tail % PENDING_MAX].service_ns = service_ns;
		p->tail++;
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

int wk_start(struct wk_pool **pool, const struct wk_config *cfg,
	     wk_done_fn done, void *ctx)
{
	struct wk_pool *p;
	int i, err;

	if (cfg->workers < 1 || cfg->workers > WK_MAX_WORKERS)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->done = done;
	p->ctx = ctx;
	pthread_mutex_init(&p->lock, NULL);
	/* marks are on every request's path: do not wait for the daemon */
	if (cfg->shinjuku)
		shj_set_async(1);
	err = 0;
	for (i = 0; i < cfg->workers && !err; i++) {
		p->w[i].pool = p;
		p->w[i].state = W_IDLE;
		if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]))
			err = -EAGAIN;
		else
			p->started++;
	}
	while (__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE) < p->started)
		usleep(1000);
	if (!err)
		err = __atomic_load_n(&p->err, __ATOMIC_ACQUIRE);
	if (!err && cfg->shinjuku)
		err = shj_sync();
	if (err) {
		wk_stop(p);
		return err;
	}
	*pool = p;
	return 0;
}

int wk_tids(const struct wk_pool *p, pid_t *tids, int n)
{
	int i;

	for (i = 0; i < n && i < p->started; i++)
		tids[i] = p->w[i].tid;
	return i;
}

void wk_stop(struct wk_pool *p)
{
	int i;

	for (i = 0; i < p->started; i++) {
		__atomic_store_n(&p->w[i].state, W_STOP, __ATOMIC_RELEASE);
		futex_wake(&p->w[i].state);
	}
	for (i = 0; i < p->started; i++)
		pthread_join(p->w[i].th, NULL);
	free(p);
}
