/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ctl-speed: how fast does an idle/runnable mark travel from the library
 * call to the thread's entry in the scheduler's map? Needs a running
 * shinjukud (--dry-run is enough: it needs no sched_ext) and root, to read
 * the map as the floor: a raw bpf_map_update_elem() loop on the same map.
 *
 *   ctl-speed [--calls N]
 *
 * Rows, each for 1 and 4 client threads (one process, one session):
 *   raw      bpf_map_update_elem() on the entry (the floor)
 *   sync     shj_idle()/shj_runnable(): the call returns after the update
 *   async    the same, one-way: latency until the entry changed (polled)
 *   batch16  shj_{idle,runnable}_many() of 16 entries, one-way, then
 *            shj_sync(): throughput only
 * Latency is per update; throughput is updates per second over all threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>

#include "shinjuku.h"
#include "../../bpf/shj_shared.h"

#define MAX_CLIENTS	4
#define BATCH		16

static int map_fd = -1, calls = 20000;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The newest map of that name: an older daemon's may linger a moment. */
static int find_map(const char *name)
{
	__u32 id = 0;
	int best = -1;

	while (!bpf_map_get_next_id(id, &id)) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_map_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_map_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, name)) {
			if (best >= 0)
				close(best);
			best = fd;	/* ids grow: the last is the newest */
			continue;
		}
		close(fd);
	}
	return best;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum mode { RAW, SYNC, ASYNC, BATCH16 };
static const char *mode_name[] = { "raw", "sync", "async", "batch16" };

struct client {
	enum mode mode;
	pthread_barrier_t *start;
	double *lat;		/* calls entries */
	int n, err;
	double t0, t1;
};

static int flags_of(int pidfd)
{
	struct shj_task t;

	return bpf_map_lookup_elem(map_fd, &pidfd, &t) ? -1 : (int)t.flags;
}

static void *client(void *arg)
{
	struct client *c = arg;
	pid_t tids[BATCH], me = gettid();
	int pidfd, i, k, err;

	/* the entry we flip is this thread's; a batch names it 16 times (16
	 * map updates, each with its nudge) */
	err = shj_register(0, 0);
	for (k = 0; k < BATCH; k++)
		tids[k] = me;
	pidfd = (int)syscall(SYS_pidfd_open, me, 0x80 /* PIDFD_THREAD */);
	if (err || pidfd < 0) {
		c->err = err ? err : -errno;
		pthread_barrier_wait(c->start);
		return NULL;
	}
	if (c->mode != RAW && c->mode != SYNC)
		shj_set_async(1);
	pthread_barrier_wait(c->start);

	c->t0 = now_us();
	for (i = 0; i < c->n; i++) {
		int idle = i & 1;
		double t = now_us();

		switch (c->mode) {
		case RAW: {
			struct shj_task v = { .qos = 0, .flags = (__u32)idle };

			err = bpf_map_update_elem(map_fd, &pidfd, &v, BPF_ANY) ? -errno : 0;
			break;
		}
		case SYNC:
			err = idle ? shj_idle(0) : shj_runnable(0);
			break;
		case ASYNC:
			err = idle ? shj_idle(0) : shj_runnable(0);
			while (!err && flags_of(pidfd) != idle)	/* until the entry shows it */
				if (now_us() - t > 2e6)
					err = -ETIMEDOUT;
			break;
		case BATCH16:
			err = idle ? shj_idle_many(tids, BATCH) : shj_runnable_many(tids, BATCH);
			break;
		}
		c->lat[i] = now_us() - t;
		if (err) {
			c->err = err;
			break;
		}
	}
	if (c->mode == BATCH16 || c->mode == ASYNC) {
		err = shj_sync();
		if (err && !c->err)
			c->err = err;
	}
	c->t1 = now_us();
	close(pidfd);
	return NULL;
}

static int run(enum mode mode, int nclients)
{
	struct client cl[MAX_CLIENTS];
	pthread_barrier_t start;
	pthread_t th[MAX_CLIENTS];
	double *all, t0 = 1e300, t1 = 0, updates;
	int i, n = 0, per = calls / nclients;

	all = calloc((size_t)calls, sizeof(*all));
	pthread_barrier_init(&start, NULL, (unsigned int)nclients);
	for (i = 0; i < nclients; i++) {
		cl[i] = (struct client){ .mode = mode, .start = &start, .n = per };
		cl[i].lat = all + i * per;
		pthread_create(&th[i], NULL, client, &cl[i]);
	}
	for (i = 0; i < nclients; i++) {
		pthread_join(th[i], NULL);
		if (cl[i].err) {
			fprintf(stderr, "ctl-speed: %s: %s\n", mode_name[mode],
				shj_strerror(cl[i].err));
			return 1;
		}
		t0 = cl[i].t0 < t0 ? cl[i].t0 : t0;
		t1 = cl[i].t1 > t1 ? cl[i].t1 : t1;
		n += per;
	}
	qsort(all, (size_t)n, sizeof(*all), cmp);
	updates = (double)n * (mode == BATCH16 ? BATCH : 1);
	if (mode == BATCH16)
		printf("%-8s %7d %9d %9s %9s %9s %12.0f\n", mode_name[mode], nclients,
		       n * BATCH, "-", "-", "-", updates / ((t1 - t0) / 1e6));
	else
		printf("%-8s %7d %9d %9.1f %9.1f %9.1f %12.0f\n", mode_name[mode],
		       nclients, n, all[n / 2], all[(size_t)(n * 0.99)],
		       all[(size_t)(n * 0.999)], updates / ((t1 - t0) / 1e6));
	free(all);
	return 0;
}

int main(int argc, char **argv)
{
	int m, k;

	if (argc == 3 && !strcmp(argv[1], "--calls"))
		calls = atoi(argv[2]);
	if (calls < 100 || (argc != 1 && argc != 3)) {
		fprintf(stderr, "Usage: ctl-speed [--calls N]   (N >= 100; see the top of tests/bench/ctl-speed.c)\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	map_fd = find_map("shj_tasks");
	if (map_fd < 0) {
		fprintf(stderr, "ctl-speed: no shj_tasks map: is shinjukud running, and are we root?\n");
		return 1;
	}
	printf("%-8s %7s %9s %9s %9s %9s %12s\n", "mode", "clients", "updates",
	       "p50_us", "p99_us", "p99.9_us", "updates/s");
	for (m = RAW; m <= BATCH16; m++)
		for (k = 1; k <= MAX_CLIENTS; k += MAX_CLIENTS - 1)
			if (run((enum mode)m, k))
				return 1;
	return 0;
}
