/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shj-spin: the workload of the policy tests. Spinning threads of several
 * kinds share one CPU; the CPU time each gets per window is what the tests
 * read, together with shinjukud's counters.
 *
 *   shj-spin [--cpu N] [--window-ms MS] [--windows K] SPEC...
 *   shj-spin --chaos THREADS --secs S
 *
 * SPEC is NAME:KIND[:QOS][~RUN,SLEEP][@FIRST-LAST][+all|+CPU], KIND one of
 *   reg    registered with shinjukud at QOS, runnable
 *   idle   registered at QOS, marked idle
 *   ext    SCHED_EXT set by itself, not registered
 *   fair   SCHED_OTHER          rt   SCHED_FIFO priority 1
 * and it spins during windows FIRST..LAST (default: all) -- or, with
 * ~RUN,SLEEP, spins RUN us of CPU time and sleeps SLEEP us, over and over
 * (a request each time it wakes). Every thread is pinned to CPU N (default
 * 1), or to CPU with +CPU, or may use every CPU with +all. Prints per
 * thread: its CPU time in each window (ms), the longest stretch it ran
 * without a gap of more than 200 us, and (~) how often it woke up.
 *
 * --chaos: THREADS registered threads on all CPUs for S seconds, each
 * randomly spinning, sleeping, marking itself idle or runnable, changing
 * its level and re-registering. For soak tests: prints the operations done
 * and fails if any call fails unexpectedly.
 *
 * --mark-race S: for S seconds, a registered worker on CPU N (--cpu) marks
 * itself idle and sleeps 500 us; main, spinning on another CPU, marks it
 * runnable from 100 us before its timer is due to 300 us after (so as to
 * land anywhere around the worker's enqueue, which the timer's interrupt
 * runs on the worker's CPU); the worker then spins 100 us and starts over.
 * A level-0 spinner shares the worker's CPU: a worker whose mark was lost
 * waits among the idle-marked threads, behind it, for the starvation guard.
 * Prints the rounds done and the slowest round (ms).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shinjuku.h"

#define MAX_THREADS	64
#define MAX_WINDOWS	32
#define SCHED_EXT_POLICY 7

enum kind { K_REG, K_IDLE, K_EXT, K_FAIR, K_RT };

struct spinner {
	char name[32];
	enum kind kind;
	int qos, first, last, all_cpus, pin;	/* pin: its CPU, or -1: --cpu */
	long run_us, sleep_us;		/* duty cycle, if run_us > 0 */
	unsigned long wakeups;
	pthread_t th;
	clockid_t clock;
	double cpu_ms[MAX_WINDOWS + 1];
	double longest_us;
	int err;
};

static struct spinner sp[MAX_THREADS];
static int nsp, cpu = 1, nwindows = 3;
static long window_ms = 1000;
static struct timespec t0;
static volatile int window;	/* current window, set by main */

/* Block until main has reached window w. (Not a poll: a 1 ms sleep loop
 * costs a thread ~20 % of a CPU under TCG, charged to it -- a waiting
 * high-level thread would take that from the others.) */
static void wait_window(int w)
{
	int seen;

	while ((seen = window) < w)
		syscall(SYS_futex, &window, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void set_window(int w)
{
	window = w;
	syscall(SYS_futex, &window, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static pthread_barrier_t ready;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)(ts.tv_sec - t0.tv_sec) * 1e6 + (double)(ts.tv_nsec - t0.tv_nsec) / 1e3;
}

static int setup(struct spinner *s)
{
	struct sched_param prm = { 0 };
	cpu_set_t set;
	int err = 0;

	CPU_ZERO(&set);
	if (s->all_cpus) {	/* not main's: threads inherit its affinity */
		long i, n = sysconf(_SC_NPROCESSORS_ONLN);

		for (i = 0; i < n && i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
	} else {
		CPU_SET(s->pin >= 0 ? s->pin : cpu, &set);
	}
	if (sched_setaffinity(0, sizeof(set), &set))
		return -errno;
	switch (s->kind) {
	case K_REG:
	case K_IDLE:
		err = shj_register(0, s->qos);
		if (!err && s->kind == K_IDLE)
			err = shj_idle(0);
		break;
	case K_EXT:
		if (sched_setscheduler(0, SCHED_EXT_POLICY, &prm))
			err = -errno;
		break;
	case K_FAIR:
		break;
	case K_RT:
		prm.sched_priority = 1;
		if (sched_setscheduler(0, SCHED_FIFO, &prm))
			err = -errno;
		break;
	}
	return err;
}

static double thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ~RUN,SLEEP: RUN us of CPU, then sleep SLEEP us, during the windows */
static void duty_cycle(struct spinner *s)
{
	struct timespec ts = { s->sleep_us / 1000000, (s->sleep_us % 1000000) * 1000 };

	while (window <= s->last && window < nwindows) {
		double until = thread_cpu_us() + (double)s->run_us;

		while (thread_cpu_us() < until)
			;
		nanosleep(&ts, NULL);
		s->wakeups++;
	}
}

static void *spin(void *arg)
{
	struct spinner *s = arg;
	double last, t, run_start;

	s->err = setup(s);
	pthread_getcpuclockid(pthread_self(), &s->clock);
	pthread_barrier_wait(&ready);
	if (s->err)
		return NULL;
	wait_window(s->first);
	if (s->run_us > 0) {
		duty_cycle(s);
		goto done;
	}
	last = run_start = now_us();
	while (window <= s->last && window < nwindows) {
		t = now_us();
		if (t - last > 200) {	/* we were off the CPU */
			if (last - run_start > s->longest_us)
				s->longest_us = last - run_start;
			run_start = t;
		}
		last = t;
	}
	if (last - run_start > s->longest_us)
		s->longest_us = last - run_start;
done:
	/* stay alive (blocked) so that main can still read our CPU clock */
	wait_window(nwindows);
	return NULL;
}

static int parse_spec(const char *arg, struct spinner *s)
{
	char kind[16] = "";
	const char *colon = strchr(arg, ':'), *at = strchr(arg, '@'),
		   *tilde = strchr(arg, '~'), *plus = strchr(arg, '+');
	size_t n;

	if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(s->name))
		return -1;
	memcpy(s->name, arg, (size_t)(colon - arg));
	s->first = 0;
	s->last = MAX_WINDOWS;
	n = strcspn(colon + 1, ":@~+");
	if (n >= sizeof(kind))
		return -1;
	memcpy(kind, colon + 1, n);
	if (!strcmp(kind, "reg")) s->kind = K_REG;
	else if (!strcmp(kind, "idle")) s->kind = K_IDLE;
	else if (!strcmp(kind, "ext")) s->kind = K_EXT;
	else if (!strcmp(kind, "fair")) s->kind = K_FAIR;
	else if (!strcmp(kind, "rt")) s->kind = K_RT;
	else return -1;
	if (colon[1 + n] == ':')
		s->qos = atoi(colon + 2 + n);
	if (at && sscanf(at + 1, "%d-%d", &s->first, &s->last) != 2)
		return -1;
	if (tilde && (sscanf(tilde + 1, "%ld,%ld", &s->run_us, &s->sleep_us) != 2 ||
		      s->run_us <= 0 || s->sleep_us < 0 || s->sleep_us > 10000000))
		return -1;
	s->all_cpus = 0;
	s->pin = -1;
	if (plus && !strcmp(plus + 1, "all"))
		s->all_cpus = 1;
	else if (plus && (sscanf(plus + 1, "%d", &s->pin) != 1 || s->pin < 0 ||
			  s->pin >= CPU_SETSIZE))
		return -1;
	return 0;
}

/* --- chaos ---------------------------------------------------------------- */
static volatile int stop;
static unsigned long ops[6], failures;
static pthread_mutex_t ops_lock = PTHREAD_MUTEX_INITIALIZER;

static void count(int op, int err)
{
	pthread_mutex_lock(&ops_lock);
	ops[op]++;
	if (err) {
		failures++;
		fprintf(stderr, "shj-spin: chaos op %d: %s\n", op, shj_strerror(err));
	}
	pthread_mutex_unlock(&ops_lock);
}

static void *chaos(void *arg)
{
	unsigned int seed = (unsigned int)(long)arg;
	double until;
	int err;

	err = shj_register(0, rand_r(&seed) % 4);
	count(0, err);
	if (err)
		return NULL;
	while (!stop) {
		switch (rand_r(&seed) % 8) {
		case 0: count(1, shj_idle(0)); break;
		case 1: count(2, shj_runnable(0)); break;
		case 2: count(3, shj_set_qos(0, rand_r(&seed) % 4)); break;
		case 3:
			err = shj_unregister(0);
			if (!err)
				err = shj_register(0, rand_r(&seed) % 4);
			count(4, err);
			break;
		case 4: case 5:	/* spin up to 2 ms, idle-marked or not */
			until = now_us() + rand_r(&seed) % 2000;
			while (now_us() < until)
				;
			count(5, 0);
			break;
		default:
			usleep(rand_r(&seed) % 2000);
			break;
		}
	}
	return NULL;
}

static int run_chaos(int n, int secs)
{
	pthread_t th[MAX_THREADS];
	int i;

	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, chaos, (void *)(long)(i + 1)))
			return 1;
	sleep((unsigned int)secs);
	stop = 1;
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("chaos: threads=%d register=%lu idle=%lu runnable=%lu set_qos=%lu reregister=%lu spins=%lu failures=%lu\n",
	       n, ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], failures);
	return failures ? 1 : 0;
}

/* --- mark race ------------------------------------------------------------ */
static volatile int ready_seq;		/* the worker: idle-marked, about to sleep */
static volatile double wake_at;		/* until then (now_us) */
static volatile pid_t race_tid;
static int race_err;

static int pin_to(int c)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(c, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

static void *race_spinner(void *arg)
{
	int err = pin_to(cpu);

	(void)arg;
	if (!err)
		err = shj_register(0, 0);
	if (err)
		race_err = err;
	while (!stop && !race_err)
		;
	return NULL;
}

/* Marks itself idle and sleeps on a timer: the timer's interrupt on this
 * CPU wakes it (its enqueue runs here) while main marks it from another. */
static void *race_worker(void *arg)
{
	(void)arg;
	race_err = pin_to(cpu);
	if (!race_err)
		race_err = shj_register(0, 0);
	race_tid = (pid_t)syscall(SYS_gettid);
	prctl(PR_SET_TIMERSLACK, 1UL);
	while (!race_err && !stop) {
		double t = now_us() + 500, until;
		struct timespec ts = t0;

		race_err = shj_idle(0);
		wake_at = t;
		__atomic_add_fetch(&ready_seq, 1, __ATOMIC_SEQ_CST);
		ts.tv_sec += (time_t)(t / 1e6);
		ts.tv_nsec += (long)(t - (double)(time_t)(t / 1e6) * 1e6) * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		until = thread_cpu_us() + 100;
		while (thread_cpu_us() < until)
			;
	}
	__atomic_add_fetch(&ready_seq, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int run_mark_race(int secs)
{
	pthread_t w, sp_th;
	unsigned int seed = 1;
	unsigned long rounds = 0;
	double end, worst = 0;
	int seen, err = 0;

	if (pin_to(cpu == 0 ? 1 : 0))
		return 1;
	seen = ready_seq;
	if (pthread_create(&sp_th, NULL, race_spinner, NULL) ||
	    pthread_create(&w, NULL, race_worker, NULL))
		return 1;
	end = now_us() + secs * 1e6;
	while (!race_err && now_us() < end) {
		double t;

		while (ready_seq == seen && !race_err)
			;	/* spin: a futex wake would be an enqueue of ours */
		seen = ready_seq;
		if (race_err)
			break;
		/* from 100 us before the timer is due to 300 us after it
		 * (TCG fires timers ~120 us late and more) */
		t = wake_at - 100 + rand_r(&seed) % 401;
		while (now_us() < t)
			;
		err = shj_runnable(race_tid);
		if (err) {
			fprintf(stderr, "shj-spin: mark-race: shj_runnable: %s\n", shj_strerror(err));
			break;
		}
		while (ready_seq == seen && !race_err)
			;	/* it ran; idle again */
		if (now_us() - t > worst)
			worst = now_us() - t;
		rounds++;
	}
	stop = 1;
	pthread_join(w, NULL);
	pthread_join(sp_th, NULL);
	printf("mark-race: rounds=%lu slowest_ms=%.1f\n", rounds, worst / 1e3);
	if (race_err)
		fprintf(stderr, "shj-spin: mark-race: %s\n", shj_strerror(race_err));
	return race_err || err ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: shj-spin [--cpu N] [--window-ms MS] [--windows K] NAME:KIND[:QOS][~RUN,SLEEP][@FIRST-LAST][+all|+CPU]...\n"
		"       shj-spin --chaos THREADS --secs S\n"
		"       shj-spin [--cpu N] --mark-race S\n"
		"KIND: reg, idle, ext, fair, rt. See the top of tests/shj-spin.c.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct timespec ts, wake;
	int i, w, chaos_n = 0, secs = 0, race_secs = 0;
	cpu_set_t set;

	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--cpu")) cpu = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--window-ms")) window_ms = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--windows")) nwindows = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--chaos")) chaos_n = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--secs")) secs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--mark-race")) race_secs = atoi(argv[i + 1]);
		else usage();
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (chaos_n)
		return chaos_n > MAX_THREADS || secs <= 0 ? 2 : run_chaos(chaos_n, secs);
	if (race_secs)
		return race_secs < 0 ? 2 : run_mark_race(race_secs);
	if (window_ms <= 0 || nwindows < 1 || nwindows > MAX_WINDOWS || i >= argc)
		usage();
	for (; i < argc; i++) {
		if (nsp == MAX_THREADS || parse_spec(argv[i], &sp[nsp]))
			usage();
		nsp++;
	}

	/* main: the fair class, off the test CPU when there is another one */
	CPU_ZERO(&set);
	CPU_SET(cpu == 0 ? 1 : 0, &set);
	sched_setaffinity(0, sizeof(set), &set);

	window = -1;
	pthread_barrier_init(&ready, NULL, (unsigned int)nsp + 1);
	for (i = 0; i < nsp; i++)
		if (pthread_create(&sp[i].th, NULL, spin, &sp[i]))
			return 1;
	pthread_barrier_wait(&ready);
	for (i = 0; i < nsp; i++) {
		if (sp[i].err) {
			fprintf(stderr, "shj-spin: %s: setup: %s\n", sp[i].name,
				shj_strerror(sp[i].err));
			return 1;
		}
	}

	clock_gettime(CLOCK_MONOTONIC, &wake);
	for (w = 0; w <= nwindows; w++) {
		for (i = 0; i < nsp; i++) {
			clock_gettime(sp[i].clock, &ts);
			sp[i].cpu_ms[w] = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
		}
		set_window(w);
		if (w == nwindows)
			break;
		wake.tv_nsec += (window_ms % 1000) * 1000000;
		wake.tv_sec += window_ms / 1000 + wake.tv_nsec / 1000000000;
		wake.tv_nsec %= 1000000000;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL);
	}
	for (i = 0; i < nsp; i++)
		pthread_join(sp[i].th, NULL);

	for (i = 0; i < nsp; i++) {
		printf("%s", sp[i].name);
		for (w = 0; w < nwindows; w++)
			printf(" w%d=%.0f", w, sp[i].cpu_ms[w + 1] - sp[i].cpu_ms[w]);
		printf(" longest_run_us=%.0f", sp[i].longest_us);
		if (sp[i].run_us > 0)
			printf(" wakeups=%lu", sp[i].wakeups);
		putchar('\n');
	}
	return 0;
}
