/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ctl-scale: does a batch cost the same however many threads are
 * registered? Against a running shinjukud (--dry-run is enough), as root:
 *
 *   ctl-scale [--registered N] [--calls K]
 *
 * This process registers 16 threads of its own and marks them in batches of
 * 16 (shj_idle_many / shj_runnable_many, waiting for each answer), K times,
 * after N - 16 more threads were registered by child processes (8192 each:
 * a process's stacks must fit vm.max_map_count). Prints the latency of a
 * batch (p50, p99, µs) and the one-way batch rate (batches/s, then
 * shj_sync()). Timings are reported, never asserted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shinjuku.h"

#define BATCH		16
#define PER_CHILD	8192
#define MAX_CHILDREN	64

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pid_t *tids;
static int ntids;

/* A thread that tells its tid and sleeps until the process ends. */
static void *sleeper(void *arg)
{
	pthread_mutex_lock(&mu);
	tids[ntids++] = gettid();
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (;;)
		pause();
	return arg;
}

/* n sleeping threads with small stacks; their tids in tids[]. 0 or -errno. */
static int spawn(int n)
{
	pthread_attr_t attr;
	pthread_t th;
	int i, err = 0;

	tids = calloc((size_t)n, sizeof(*tids));
	if (!tids)
		return -ENOMEM;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (i = 0; i < n && !err; i++)
		err = -pthread_create(&th, &attr, sleeper, NULL);
	pthread_mutex_lock(&mu);
	while (!err && ntids < n)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	pthread_attr_destroy(&attr);
	return err;
}

/* A child: n threads, registered; writes 0 or -errno to fd, then waits to
 * be killed. */
static void child(int n, int fd)
{
	int i, err;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	err = spawn(n);
	for (i = 0; !err && i < n; i++)
		err = shj_register(tids[i], 0);
	if (write(fd, &err, sizeof(err)) != sizeof(err))
		_exit(1);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	int registered = BATCH, calls = 20000, i, err = 0, nkids = 0, p[2];
	pid_t kids[MAX_CHILDREN];
	double *lat, t0, t;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--registered"))
			registered = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--calls"))
			calls = atoi(argv[i + 1]);
		else
			break;
	}
	if (i != argc || registered < BATCH || calls < 100 ||
	    registered - BATCH > PER_CHILD * MAX_CHILDREN) {
		fprintf(stderr, "Usage: ctl-scale [--registered N] [--calls K]   "
			"(16 <= N <= %d, K >= 100; see tests/ctl/scale.c)\n",
			BATCH + PER_CHILD * MAX_CHILDREN);
		return 2;
	}
	if (pipe(p))
		return 1;
	t0 = now_us();
	for (i = registered - BATCH; i > 0; i -= PER_CHILD) {
		pid_t pid = fork();

		if (pid == 0)
			child(i < PER_CHILD ? i : PER_CHILD, p[1]);
		if (pid < 0) {
			err = -errno;
			break;
		}
		kids[nkids++] = pid;
	}
	for (i = 0; i < nkids; i++) {
		int e = -EIO;

		if (read(p[0], &e, sizeof(e)) != sizeof(e) || (e && !err))
			err = e;
	}
	if (!err)
		err = spawn(BATCH);
	for (i = 0; !err && i < BATCH; i++)
		err = shj_register(tids[i], 0);
	if (err) {
		fprintf(stderr, "ctl-scale: registering %d threads: %s\n", registered,
			shj_strerror(err));
		goto out;
	}
	fprintf(stderr, "ctl-scale: %d threads registered in %.1f s\n", registered,
		(now_us() - t0) / 1e6);

	lat = calloc((size_t)calls, sizeof(*lat));
	for (i = 0; !err && i < calls; i++) {
		t = now_us();
		err = i & 1 ? shj_idle_many(tids, BATCH) : shj_runnable_many(tids, BATCH);
		lat[i] = now_us() - t;
	}
	qsort(lat, (size_t)calls, sizeof(*lat), cmp);
	shj_set_async(1);
	t0 = now_us();
	for (i = 0; !err && i < calls; i++)
		err = i & 1 ? shj_idle_many(tids, BATCH) : shj_runnable_many(tids, BATCH);
	if (!err)
		err = shj_sync();
	t = now_us() - t0;
	if (err) {
		fprintf(stderr, "ctl-scale: marking: %s\n", shj_strerror(err));
		goto out;
	}
	printf("%-10s %8s %9s %9s %14s\n", "registered", "batches", "p50_us", "p99_us",
	       "oneway_per_s");
	printf("%-10d %8d %9.1f %9.1f %14.0f\n", registered, calls, lat[calls / 2],
	       lat[(size_t)(calls * 0.99)], calls / (t / 1e6));
out:
	for (i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
	for (i = 0; i < nkids; i++)
		waitpid(kids[i], NULL, 0);
	return err ? 1 : 0;
}
