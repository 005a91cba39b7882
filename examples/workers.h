/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A Shinjuku worker pool on libshinjuku, shared by the echo server and the
 * load generator: one dispatcher thread hands each request to an idle
 * worker and marks it runnable; a worker serves the request (spins for its
 * service time, in CPU time), then takes the next waiting request or marks
 * itself idle and waits, spinning or blocked. (Only spinning workers are
 * marked: a blocked thread is idle to the kernel already.) With more workers than CPUs,
 * the scheduler time-slices the busy ones: short requests do not wait
 * behind long ones.
 */
#ifndef SHJ_WORKERS_H
#define SHJ_WORKERS_H

#include <stdint.h>
#include <sys/types.h>

enum wk_wait { WK_BLOCK, WK_SPIN };

struct wk_config {
	int workers;		/* 1 .. WK_MAX_WORKERS */
	int qos;		/* the workers' QoS level */
	enum wk_wait wait;	/* how an idle worker waits */
	int shinjuku;		/* register with shinjukud; 0: the kernel's own scheduler */
	/* optional: called by a worker as it begins request id */
	void (*begin)(void *ctx, uint64_t id);
	/* optional: request id got its worker (by the dispatcher, handing it
	 * over, or by a worker, taking it from the queue); ctx as for done */
	void (*taken)(void *ctx, uint64_t id);
};

#define WK_MAX_WORKERS	256

/* Called by a worker when request id is done. */
typedef void (*wk_done_fn)(void *ctx, uint64_t id);

struct wk_pool;

/* Start the workers; 0 or a negative errno (shj_* errors included). */
int wk_start(struct wk_pool **pool, const struct wk_config *cfg,
	     wk_done_fn done, void *ctx);

/* Hand a request to an idle worker, or queue it (FIFO) until one is free.
 * One dispatcher thread only. 0 or -ENOSPC if the queue is full. */
int wk_submit(struct wk_pool *pool, uint64_t id, uint64_t service_ns);

/* The workers' thread ids, into tids[0 .. n-1]; returns how many. */
int wk_tids(const struct wk_pool *pool, pid_t *tids, int n);

/* Stop and join the workers (the pending queue is dropped). */
void wk_stop(struct wk_pool *pool);

#endif
