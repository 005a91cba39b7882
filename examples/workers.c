/* SPDX-License-Identifier: BSD-2-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <shinjuku.h>
#include "workers.h"

#define PENDING_MAX	65536	/* power of two */

/*
 * A worker's state word (a futex word for WK_BLOCK). The dispatcher claims
 * an idle worker (W_IDLE -> W_CLAIMED), writes the request into it and hands
 * it over (-> W_BUSY); a worker with nothing left to do goes W_BUSY ->
 * W_IDLE, and may take a queued request back by itself (W_IDLE -> W_BUSY).
 */
enum { W_IDLE, W_CLAIMED, W_BUSY, W_STOP };

struct worker {
	struct wk_pool *pool;
	pthread_t th;
	pid_t tid;
	uint32_t state;
	uint64_t id, service_ns;
} __attribute__((aligned(64)));

/*
 * No locks: a worker marked idle may lose its CPU at any instruction and get
 * it back only when no other work waits, so it must never hold anything the
 * dispatcher needs (that would stall the dispatcher until the CPUs go idle).
 * Requests no worker could take wait in pending[], a ring with one producer
 * (the dispatcher) and any number of consumers (workers, by CAS on head).
 * Marks stay in order without a lock: a worker's idle mark is sent before
 * it shows W_IDLE, the dispatcher's runnable mark after it saw W_IDLE.
 */
struct wk_pool {
	struct wk_config cfg;
	wk_done_fn done;
	void *ctx;
	struct { uint64_t id, service_ns; } pending[PENDING_MAX];
	uint64_t head __attribute__((aligned(64)));
	uint64_t tail __attribute__((aligned(64)));
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

/* 1 if we slept and were woken, 0 if the word had changed already */
static int futex_wait(uint32_t *word, uint32_t val)
{
	return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0) == 0;
}

static void futex_wake(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static int pending_empty(struct wk_pool *p)
{
	return __atomic_load_n(&p->head, __ATOMIC_SEQ_CST) ==
	       __atomic_load_n(&p->tail, __ATOMIC_SEQ_CST);
}

/* Take the oldest pending request into w; 0 if there is none. */
static int take_pending(struct wk_pool *p, struct worker *w)
{
	uint64_t h = __atomic_load_n(&p->head, __ATOMIC_ACQUIRE);

	while (h != __atomic_load_n(&p->tail, __ATOMIC_ACQUIRE)) {
		/* the producer does not reuse slot h before head passes it */
		uint64_t id = p->pending[h % PENDING_MAX].id;
		uint64_t service_ns = p->pending[h % PENDING_MAX].service_ns;

		if (__atomic_compare_exchange_n(&p->head, &h, h + 1, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			w->id = id;
			w->service_ns = service_ns;
			if (p->cfg.taken)
				p->cfg.taken(p->ctx, id);
			return 1;
		}
	}
	return 0;
}

/* A worker starts a queued request without blocking. To shinjuku that is a
 * new request only if the worker says so: sched_yield() from a registered
 * thread starts a fresh slice, behind the older requests that wait. */
static void new_request(const struct wk_pool *p)
{
	if (p->cfg.shinjuku)
		sched_yield();
}

static int marks(const struct wk_pool *p)
{
	/* only a spinning worker is marked: a blocked one is idle to the
	 * kernel already; marking it would only add a daemon round trip to
	 * each request's path */
	return p->cfg.shinjuku && p->cfg.wait == WK_SPIN;
}

/* Nothing left for w: show it idle, unless a request queued meanwhile can
 * be taken back. Returns 1 if w got a request, 0 if it is idle (or told to
 * stop: W_STOP stays, wk_stop() waits for us). */
static int go_idle(struct wk_pool *p, struct worker *w)
{
	if (marks(p))
		shj_idle(0);
	for (;;) {
		uint32_t s = W_BUSY;

		if (!__atomic_compare_exchange_n(&w->state, &s, W_IDLE, 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return 0;
		/* the dispatcher queues, then looks for idle workers; we show
		 * idle, then look at the queue: one of us sees the other */
		if (pending_empty(p)) {
			/* marked idle and shown so: let waiting work have the
			 * CPU now (marking ourselves does not take it away) */
			if (marks(p))
				sched_yield();
			return 0;
		}
		s = W_IDLE;
		if (!__atomic_compare_exchange_n(&w->state, &s, W_BUSY, 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return 0;	/* claimed by the dispatcher: wait for it */
		if (take_pending(p, w)) {
			if (marks(p))
				shj_runnable(0);
			else
				new_request(p);
			return 1;
		}
		/* another worker was quicker: idle again */
	}
}

/* The next request for w without blocking: a queued one, now or after w
 * showed itself idle; 0 if w is idle. */
static int next_request(struct wk_pool *p, struct worker *w)
{
	if (take_pending(p, w)) {
		new_request(p);
		return 1;
	}
	return go_idle(p, w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct wk_pool *p = w->pool;
	int err = 0;

	w->tid = gettid();
	if (p->cfg.shinjuku) {
		err = shj_register(0, p->cfg.qos);
		if (!err && marks(p))
			err = shj_idle(0);
	}
	if (err)
		__atomic_store_n(&p->err, err, __ATOMIC_RELEASE);
	__atomic_add_fetch(&p->ready, 1, __ATOMIC_ACQ_REL);
	if (err)
		return NULL;

	for (;;) {
		uint32_t s;
		int woken = 0;

		while ((s = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE)) != W_BUSY) {
			if (s == W_STOP)
				return NULL;
			if (s == W_IDLE && p->cfg.wait == WK_BLOCK)
				woken = futex_wait(&w->state, W_IDLE);
		}
		/* handed a request before it got to sleep (a sixth of them
		 * under load): to the scheduler the last request would go on,
		 * and two short ones add up to a long one -- say it is new */
		if (!woken && !marks(p))
			new_request(p);
		do {
			if (p->cfg.begin)
				p->cfg.begin(p->ctx, w->id);
			serve(w->service_ns);
			p->done(p->ctx, w->id);
		} while (next_request(p, w));
	}
}

/* An idle worker, now W_CLAIMED (the dispatcher's to fill), or NULL. */
static struct worker *claim_idle(struct wk_pool *p)
{
	int i;

	for (i = 0; i < p->cfg.workers; i++) {
		uint32_t idle = W_IDLE;

		if (__atomic_compare_exchange_n(&p->w[i].state, &idle, W_CLAIMED, 0,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return &p->w[i];
	}
	return NULL;
}

/* Hand a claimed worker the request written into it. */
static void hand_over(struct wk_pool *p, struct worker *w)
{
	if (marks(p))
		shj_runnable(w->tid);
	__atomic_store_n(&w->state, W_BUSY, __ATOMIC_RELEASE);
	if (p->cfg.wait == WK_BLOCK)
		futex_wake(&w->state);
}

int wk_submit(struct wk_pool *p, uint64_t id, uint64_t service_ns)
{
	struct worker *w = claim_idle(p);
	uint64_t t = p->tail;

	if (w) {
		w->id = id;
		w->service_ns = service_ns;
		if (p->cfg.taken)
			p->cfg.taken(p->ctx, id);
		hand_over(p, w);
		return 0;
	}
	if (t - __atomic_load_n(&p->head, __ATOMIC_ACQUIRE) >= PENDING_MAX)
		return -ENOSPC;
	p->pending[t % PENDING_MAX].id = id;
	p->pending[t % PENDING_MAX].service_ns = service_ns;
	__atomic_store_n(&p->tail, t + 1, __ATOMIC_SEQ_CST);
	/* a worker may have gone idle after we looked: it looks at the queue
	 * after showing idle, we look at the workers after queueing */
	while (!pending_empty(p) && (w = claim_idle(p))) {
		if (!take_pending(p, w)) {	/* a worker took it first */
			__atomic_store_n(&w->state, W_IDLE, __ATOMIC_SEQ_CST);
			break;
		}
		hand_over(p, w);
	}
	return 0;
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
