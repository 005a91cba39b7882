/* SPDX-License-Identifier: GPL-2.0 */
/*
 * handover: how soon does a thread run once it is marked runnable, when a
 * lower level occupies the only CPU it may use? Needs a running shinjukud
 * (attached) and sched_ext.
 *
 *   handover [--cpu N] [--rounds N]
 *
 * lo (level 0) spins on CPU N; hi (level 2, same CPU) is marked idle and
 * spins, so it waits among the idle-marked threads. Each round, the main
 * thread (the fair class, on another CPU) takes the time, calls
 * shj_runnable(hi) and waits until hi notes that it got the CPU; then it
 * marks hi idle again (hi goes on spinning, off the CPU) and the next round
 * starts. Prints the call's own time and the
 * time from the call to hi running (p50, p99, max, in us). Reported, never
 * asserted: a benchmark.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shinjuku.h"

static int cpu = 1, rounds = 200;
static volatile int go, ran, stop;
static volatile double t_ran;
static volatile pid_t hi_tid;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int pin(int c)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(c, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

static void *lo_main(void *arg)
{
	int err = pin(cpu);

	if (!err)
		err = shj_register(0, 0);
	if (err) {
		fprintf(stderr, "handover: lo: %s\n", shj_strerror(err));
		exit(1);
	}
	while (!stop)
		;
	return NULL;
}

static void *hi_main(void *arg)
{
	int err = pin(cpu);

	if (!err)
		err = shj_register(0, 2);
	if (!err)
		err = shj_idle(0);
	if (err) {
		fprintf(stderr, "handover: hi: %s\n", shj_strerror(err));
		exit(1);
	}
	hi_tid = gettid();
	while (!stop) {
		while (!go && !stop)
			;
		t_ran = now_us();
		go = 0;
		ran = 1;
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%s_p50_us=%.1f %s_p99_us=%.1f %s_max_us=%.1f ", what, v[n / 2], what,
	       v[(n - 1) * 99 / 100], what, v[n - 1]);
}

int main(int argc, char **argv)
{
	double *call, *run;
	pthread_t lo, hi;
	int i, err;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--cpu")) cpu = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
		else break;
	}
	if (i < argc || rounds < 1 || rounds > 100000 || cpu < 0 || cpu >= CPU_SETSIZE) {
		fprintf(stderr, "Usage: handover [--cpu N] [--rounds N]\n");
		return 2;
	}
	call = calloc((size_t)rounds, sizeof(*call));
	run = calloc((size_t)rounds, sizeof(*run));
	if (!call || !run || pin(cpu == 0 ? 1 : 0))
		return 1;
	if (pthread_create(&lo, NULL, lo_main, NULL) || pthread_create(&hi, NULL, hi_main, NULL))
		return 1;
	while (!hi_tid)
		usleep(1000);
	usleep(100000);	/* hi is idle-marked and off the CPU by now */
	for (i = 0; i < rounds; i++) {
		double t0 = now_us(), t1;

		ran = 0;
		go = 1;
		err = shj_runnable(hi_tid);
		t1 = now_us();
		if (err) {
			fprintf(stderr, "handover: runnable: %s\n", shj_strerror(err));
			return 1;
		}
		while (!ran)
			usleep(100);
		call[i] = t1 - t0;
		run[i] = t_ran - t0;
		err = shj_idle(hi_tid);	/* back among the idle-marked */
		if (err) {
			fprintf(stderr, "handover: idle: %s\n", shj_strerror(err));
			return 1;
		}
		usleep(2000);
	}
	stop = 1;
	pthread_join(lo, NULL);
	pthread_join(hi, NULL);
	report("call", call, rounds);
	report("run", run, rounds);
	printf("rounds=%d\n", rounds);
	return 0;
}
