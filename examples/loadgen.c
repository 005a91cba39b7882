/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * loadgen: an open-loop load generator for the Shinjuku worker model. It
 * draws a trace (Poisson arrivals at the offered load; fixed, exponential or
 * bimodal service times; a seed makes it reproducible) and replays it
 * in-process into the worker pool of examples/workers.c -- no network stack
 * in the measurement. Latency runs from each request's scheduled arrival to
 * its completion (no coordinated omission). --simulate instead runs the
 * same trace through an ideal, zero-overhead centralized preemptive FCFS
 * (one queue, --cpus cores, a --quantum-us slice): the physical limit;
 * --overhead-us X charges that ideal X us of CPU per request (see simulate()).
 *
 * Output: one line of name=value pairs (or --json: one JSON object) with
 * offered and achieved rates and, per class (short, long), count, p50, p99,
 * p99.9 latency in us and mean slowdown (latency / service time). After a
 * replay also: the machine's context switches, interrupts and busy CPU time
 * per request, and that time less the mean service time: what the
 * dispatcher, the scheduler and the kernel cost per request (system-wide,
 * /proc/stat, sampled at the tick: meant for a machine that runs nothing
 * else), and per class the p50 and p99 of the latency's three parts --
 * late (the dispatcher's wake-up after the arrival time), wait (submission
 * until a worker begins) and run (begin to done, preemptions included) --
 * and,
 * for the slowest 1 % of short requests (latency above the p99), where
 * their time went on average: late, pool (queued until a worker took
 * it), cpu (from then until that worker ran it), run, and of the run the
 * time not spent on the request's own CPU (preempted).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <shinjuku.h>
#include "rocks.h"
#include "workers.h"

enum dist { D_FIXED, D_EXP, D_BIMODAL };

static struct {
	double load, secs, short_us, long_us, long_frac, quantum_us, overhead_us;
	int cpus, workers, qos, dispatcher_qos, spin, shinjuku, simulate, json, progress;
	unsigned long seed;
	enum dist dist;
	const char *label;
	int rocksdb;		/* --app rocksdb: short = GET, long = SCAN */
	struct rk_opts db;
} opt = {
	.load = 0.5, .secs = 10, .short_us = 500, .long_us = 50000,
	.long_frac = 0.005, .quantum_us = 500, .cpus = 2, .workers = 16,
	.shinjuku = 1, .seed = 1, .dist = D_BIMODAL, .label = "", .dispatcher_qos = -1,
	.db = { .dir = "/dev/shm/shj-rocksdb", .value_len = 100, .scan_keys = 1000 },
};

struct req {
	double arrival_us, service_us, done_us;
	double submit_us, begin_us;	/* replay: handed to the pool, begun by a worker */
	double taken_us;		/* replay: a worker got it */
	int is_long;
	uint64_t work_ns, cpu_ns;	/* --app rocksdb: the real work's CPU; all of it */
	int failed;			/* --app rocksdb: not found, or an error */
};

static struct req *reqs;
static size_t nreqs;
static struct timespec t0;
static struct sys_counts sys_n;		/* replay: during it, system-wide */
static struct rk_db *db;			/* --app rocksdb */
static double warm_s;				/* --app rocksdb: rk_warm() took */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)(ts.tv_sec - t0.tv_sec) * 1e6 + (double)(ts.tv_nsec - t0.tv_nsec) / 1e3;
}

/* xorshift64*: small, seeded, the same everywhere */
static unsigned long long rng_state;
static double uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double mean_service_us(void)
{
	if (opt.dist == D_BIMODAL)
		return (1 - opt.long_frac) * opt.short_us + opt.long_frac * opt.long_us;
	return opt.short_us;
}

static int make_trace(void)
{
	double rate = opt.load * opt.cpus / mean_service_us();	/* per us */
	double t = 0;
	size_t cap = (size_t)(rate * opt.secs * 1e6 * 1.2) + 16, i;

	rng_state = opt.seed * 0x9E3779B97F4A7C15ULL + 1;
	reqs = calloc(cap, sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	for (i = 0; i < cap; i++) {
		t += -log(1 - uniform()) / rate;
		if (t > opt.secs * 1e6)
			break;
		reqs[i].arrival_us = t;
		switch (opt.dist) {
		case D_FIXED:
			reqs[i].service_us = opt.short_us;
			break;
		case D_EXP:
			reqs[i].service_us = -log(1 - uniform()) * opt.short_us;
			break;
		case D_BIMODAL:
			reqs[i].is_long = uniform() < opt.long_frac;
			reqs[i].service_us = reqs[i].is_long ? opt.long_us : opt.short_us;
			break;
		}
	}
	nreqs = i;
	return 0;
}

/* The ideal: centralized preemptive FCFS, zero overhead. Event-driven: each
 * core runs the queue's head for a quantum (or less if it finishes), and an
 * unfinished job goes to the tail after the arrivals of that quantum.
 * --overhead-us X adds X us to each request's CPU demand, once per request
 * (not per quantum): what a real scheduler spends to wake, switch to and
 * complete it, as if all of it were CPU time on the request's core. Latency
 * and slowdown are still taken against the nominal service time. */
static void simulate(void)
{
	size_t *queue = malloc(sizeof(*queue) * (nreqs + 1)), qh = 0, qt = 0, next = 0, done = 0;
	double *left = malloc(sizeof(*left) * nreqs), *core_free = calloc((size_t)opt.cpus, sizeof(double));
	size_t *core_job = malloc(sizeof(*core_job) * (size_t)opt.cpus);
	double now = 0;
	int c;

	for (size_t i = 0; i < nreqs; i++)
		left[i] = reqs[i].service_us + opt.overhead_us;
	for (c = 0; c < opt.cpus; c++)
		core_job[c] = (size_t)-1;
	/* a ring of nreqs+1 slots: a job is queued at most once at a time */
#define QPUSH(j) (queue[qt] = (j), qt = (qt + 1) % (nreqs + 1))
	while (done < nreqs) {
		/* the next event: a core finishing its quantum, or an arrival */
		double t_core = 1e300, t_arr = next < nreqs ? reqs[next].arrival_us : 1e300;
		int cc = -1;

		for (c = 0; c < opt.cpus; c++)
			if (core_job[c] != (size_t)-1 && core_free[c] < t_core) {
				t_core = core_free[c];
				cc = c;
			}
		if (t_arr <= t_core) {
			now = t_arr;
			QPUSH(next);
			next++;
		} else {
			size_t j = core_job[cc];

			now = t_core;
			core_job[cc] = (size_t)-1;
			if (left[j] <= 1e-9) {
				reqs[j].done_us = now;
				done++;
			} else {
				QPUSH(j);
			}
		}
		/* idle cores take the queue's head */
		for (c = 0; c < opt.cpus && qh != qt; c++) {
			double run;
			size_t j;

			if (core_job[c] != (size_t)-1)
				continue;
			j = queue[qh];
			qh = (qh + 1) % (nreqs + 1);
			run = left[j] < opt.quantum_us ? left[j] : opt.quantum_us;
			left[j] -= run;
			core_job[c] = j;
			core_free[c] = now + run;
		}
	}
	free(queue);
	free(left);
	free(core_free);
	free(core_job);
}

/* System-wide context switches, interrupts and busy CPU time (user, nice,
 * system, irq, softirq, steal, in clock ticks) so far (/proc/stat); 0 if
 * unreadable. */
struct sys_counts {
	unsigned long long ctxt, intr, busy;
};

static void sys_counts(struct sys_counts *c)
{
	unsigned long long v[8] = { 0 };
	char line[256];
	FILE *f = fopen("/proc/stat", "r");

	memset(c, 0, sizeof(*c));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {	/* the intr line is long: */
		if (!strncmp(line, "ctxt ", 5))	/* its head is enough */
			c->ctxt = strtoull(line + 5, NULL, 10);
		else if (!strncmp(line, "intr ", 5))
			c->intr = strtoull(line + 5, NULL, 10);
		else if (!strncmp(line, "cpu ", 4) &&
			 sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
				&v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
			c->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	}
	fclose(f);
}

static void on_taken(void *ctx, uint64_t id)
{
	reqs[id].taken_us = now_us();
}

static void on_begin(void *ctx, uint64_t id)
{
	reqs[id].begin_us = now_us();
}

static void on_done(void *ctx, uint64_t id)
{
	reqs[id].done_us = now_us();
}

/* --app rocksdb: request id's key, the same for every policy of a seed */
static uint32_t key_of(uint64_t id)
{
	uint64_t x = (id + 1) * 0x9E3779B97F4A7C15ULL ^ opt.seed * 0xBF58476D1CE4E5B9ULL;

	x ^= x >> 31;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 29;
	return (uint32_t)(x % rk_keys(db));
}

/* --app rocksdb: a worker begins request id: a GET or a SCAN, at its class,
 * padded to its service time of CPU (the pool's own spin is 0) */
static void rocks_begin(void *ctx, uint64_t id)
{
	struct req *r = &reqs[id];
	char key[RK_KEY_LEN + 1], val[RK_VALUE_MAX], last[RK_KEY_LEN + 1];
	uint64_t t0, sum;
	int n;

	r->begin_us = now_us();
	t0 = rk_cpu_ns();
	if (rk_set_class(db, r->is_long ? RK_SCAN : RK_GET))
		r->failed = 1;
	rk_key(key, key_of(id));
	n = r->is_long ? rk_scan(db, key, last, &sum) : rk_get(db, key, val);
	if (n <= 0)
		r->failed = 1;
	r->work_ns = rk_cpu_ns() - t0;
	rk_pad(t0, (uint64_t)(r->service_us * 1e3));
	r->cpu_ns = rk_cpu_ns() - t0;
}

static void rocks_done(void *ctx, uint64_t id)
{
	reqs[id].done_us = now_us();
	if (rk_set_class(db, RK_GET))
		reqs[id].failed = 1;
}

static int replay(void)
{
	struct wk_config cfg = {
		.workers = opt.workers, .qos = opt.qos,
		.wait = opt.spin ? WK_SPIN : WK_BLOCK, .shinjuku = opt.shinjuku,
		.begin = opt.rocksdb ? rocks_begin : on_begin,
		.taken = on_taken,
	};
	struct wk_pool *pool;
	double deadline, next_progress = 1e6;
	size_t i, done;
	int err;

	err = wk_start(&pool, &cfg, opt.rocksdb ? rocks_done : on_done, NULL);
	if (err) {
		fprintf(stderr, "loadgen: cannot start the workers: %s\n", shj_strerror(err));
		return 1;
	}
	/* the dispatcher must outrank the workers it feeds: in the fair class
	 * it does (partial mode); under --switch-all register it above them */
	if (opt.shinjuku && opt.dispatcher_qos >= 0 &&
	    (err = shj_register(0, opt.dispatcher_qos))) {
		fprintf(stderr, "loadgen: cannot register the dispatcher: %s\n", shj_strerror(err));
		wk_stop(pool);
		return 1;
	}
	/* arrivals on time: the default 50 us timer slack would delay each */
	prctl(PR_SET_TIMERSLACK, 1UL);
	sys_counts(&sys_n);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nreqs; i++) {
		double wait = reqs[i].arrival_us - now_us();

		if (wait > 0) {
			struct timespec ts = t0;
			long long ns = (long long)(reqs[i].arrival_us * 1e3);

			ts.tv_sec += ns / 1000000000LL;
			ts.tv_nsec += ns % 1000000000LL;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		reqs[i].submit_us = now_us();
		if (wk_submit(pool, i, opt.rocksdb ? 0 : (uint64_t)(reqs[i].service_us * 1e3))) {
			fprintf(stderr, "loadgen: the pending queue overflowed\n");
			break;
		}
		if (opt.progress && now_us() >= next_progress) {
			fprintf(stderr, "\rloadgen: %.0f s, %zu requests sent", next_progress / 1e6, i);
			next_progress += 1e6;
		}
	}
	/* wait for the stragglers, bounded */
	deadline = now_us() + 60e6;
	do {
		for (done = 0, i = 0; i < nreqs; i++)
			done += *(volatile double *)&reqs[i].done_us > 0;
		if (done < nreqs)
			usleep(10000);
	} while (done < nreqs && now_us() < deadline);
	{
		struct sys_counts end;

		sys_counts(&end);
		sys_n.ctxt = end.ctxt - sys_n.ctxt;
		sys_n.intr = end.intr - sys_n.intr;
		sys_n.busy = end.busy - sys_n.busy;
	}
	if (opt.progress)
		fputc('\n', stderr);
	wk_stop(pool);
	if (opt.shinjuku)
		shj_close();
	if (done < nreqs) {
		fprintf(stderr, "loadgen: %zu of %zu requests never finished\n", nreqs - done, nreqs);
		return 1;
	}
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Latency, or with part set one part of it: 'l' the dispatcher's lateness
 * (arrival to submission), 'w' the wait for a worker's CPU (submission to
 * begin), 'r' the run (begin to done, wall time: service plus preemptions). */
static double span(const struct req *r, char part)
{
	switch (part) {
	case 'l': return r->submit_us - r->arrival_us;
	case 'w': return r->begin_us - r->submit_us;
	case 'r': return r->done_us - r->begin_us;
	default: return r->done_us - r->arrival_us;
	}
}

/* Sorted spans of one class into lat[]; returns how many. */
static size_t class_spans(double *lat, int is_long, char part)
{
	size_t i, n = 0;

	for (i = 0; i < nreqs; i++)
		if (reqs[i].is_long == is_long)
			lat[n++] = span(&reqs[i], part);
	qsort(lat, n, sizeof(*lat), cmp);
	return n;
}

#define P(q) (n ? lat[(size_t)((double)(n - 1) * (q))] : 0)

/* one " name=value" (or ",\"name\":value") */
static void field(const char *name, double v, int decimals)
{
	printf(opt.json ? ",\"%s\":%.*f" : " %s=%.*f", name, decimals, v);
}

/* Where the time of the class's slowest 1 % went (latency at or above its
 * p99), in means: " cls_slow_n=.. cls_slow_late_us=.. _pool_us _cpu_us
 * _run_us _preempted_us" (lat: scratch for nreqs values). */
static void slow_parts(const char *cls, double *lat, int is_long)
{
	static const char *const names[] = { "late", "pool", "cpu", "run", "preempted" };
	double sum[5] = { 0 }, p99;
	size_t i, n = class_spans(lat, is_long, 0), k, slow = 0;
	char name[64];

	if (!n)
		return;
	p99 = P(0.99);
	for (i = 0; i < nreqs; i++) {
		const struct req *r = &reqs[i];
		double run = r->done_us - r->begin_us, served;

		if (r->is_long != is_long || span(r, 0) < p99)
			continue;
		served = opt.rocksdb ? r->cpu_ns / 1e3 : r->service_us;
		sum[0] += r->submit_us - r->arrival_us;
		sum[1] += r->taken_us - r->submit_us;
		sum[2] += r->begin_us - r->taken_us;
		sum[3] += run;
		sum[4] += run > served ? run - served : 0;
		slow++;
	}
	snprintf(name, sizeof(name), "%s_slow_n", cls);
	field(name, (double)slow, 0);
	for (k = 0; k < 5; k++) {
		snprintf(name, sizeof(name), "%s_slow_%s_us", cls, names[k]);
		field(name, slow ? sum[k] / (double)slow : 0, 1);
	}
}

/* one class: " cls_n=.. cls_p50_us=.. ..."; after a replay also the p50 and
 * p99 of each part of the latency (cls_late_*, cls_wait_*, cls_run_*) */
static void report_class(const char *cls, int is_long, int first)
{
	static const char *const part_name[] = { "late", "wait", "run" };
	double *lat = malloc(sizeof(*lat) * (nreqs + 1)), slow = 0;
	size_t i, n;
	int k;

	for (i = 0; i < nreqs; i++)
		if (reqs[i].is_long == is_long)
			slow += span(&reqs[i], 0) / reqs[i].service_us;
	n = class_spans(lat, is_long, 0);
	if (opt.json)
		printf("%s\"%s\":{\"n\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"mean_slowdown\":%.2f",
		       first ? "" : ",", cls, n, P(0.5), P(0.99), P(0.999), n ? slow / n : 0);
	else
		printf(" %s_n=%zu %s_p50_us=%.1f %s_p99_us=%.1f %s_p999_us=%.1f %s_mean_slowdown=%.2f",
		       cls, n, cls, P(0.5), cls, P(0.99), cls, P(0.999), cls, n ? slow / n : 0);
	for (k = 0; k < 3 && !opt.simulate; k++) {
		n = class_spans(lat, is_long, "lwr"[k]);
		if (opt.json)
			printf(",\"%s_p50_us\":%.1f,\"%s_p99_us\":%.1f",
			       part_name[k], P(0.5), part_name[k], P(0.99));
		else
			printf(" %s_%s_p50_us=%.1f %s_%s_p99_us=%.1f",
			       cls, part_name[k], P(0.5), cls, part_name[k], P(0.99));
	}
	if (!opt.simulate && !is_long)
		slow_parts(cls, lat, is_long);
	if (opt.json)
		putchar('}');
	free(lat);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --app rocksdb: the real work's CPU per class (p50, p99), how many
 * requests it took past their padded service time, failures, the SCANs
 * done within the trace's length (per second, and the CPU they got), and
 * what the workers' class changes cost */
static void report_rocks(void)
{
	uint64_t *w = malloc(sizeof(*w) * (nreqs + 1)), changes[2], ns[2], scan_cpu = 0;
	size_t i, n, over = 0, failed = 0, scans_in = 0;
	int cls;

	for (cls = 0; cls < 2; cls++) {
		for (n = 0, i = 0; i < nreqs; i++)
			if (reqs[i].is_long == cls)
				w[n++] = reqs[i].work_ns;
		qsort(w, n, sizeof(*w), cmp_u64);
		field(cls ? "scan_work_p50_us" : "get_work_p50_us", n ? w[(n - 1) / 2] / 1e3 : 0, 1);
		field(cls ? "scan_work_p99_us" : "get_work_p99_us",
		      n ? w[(size_t)((double)(n - 1) * 0.99)] / 1e3 : 0, 1);
	}
	for (i = 0; i < nreqs; i++) {
		over += reqs[i].work_ns > reqs[i].service_us * 1e3;
		failed += reqs[i].failed;
		if (reqs[i].is_long && reqs[i].done_us <= opt.secs * 1e6) {
			scans_in++;
			scan_cpu += reqs[i].cpu_ns;
		}
	}
	rk_class_stats(RK_SCAN, &changes[0], &ns[0]);
	rk_class_stats(RK_GET, &changes[1], &ns[1]);
	field("over_pad", (double)over, 0);
	field("failed_reqs", (double)failed, 0);
	field("scans_in_trace", (double)scans_in, 0);
	field("scan_per_s", (double)scans_in / opt.secs, 1);
	field("scan_cpu_ms", scan_cpu / 1e6, 1);
	field("class_changes_per_req", nreqs ? (double)(changes[0] + changes[1]) / (double)nreqs : 0, 3);
	field("class_lower_us", changes[0] ? ns[0] / 1e3 / (double)changes[0] : 0, 1);
	field("class_raise_us", changes[1] ? ns[1] / 1e3 / (double)changes[1] : 0, 1);
	field("warm_s", warm_s, 1);
	free(w);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: loadgen [OPTION]...\n"
"Open-loop Poisson load replayed in-process into a Shinjuku worker pool.\n"
"\n"
"  -l, --load F          offered load, a fraction of --cpus (default 0.5)\n"
"  -c, --cpus N          CPUs the load is sized for (default 2)\n"
"  -t, --secs S          length of the trace (default 10)\n"
"  -d, --dist D          fixed | exp | bimodal (default bimodal)\n"
"      --short-us US     short (or fixed, or mean exp) service time (500)\n"
"      --long-us US      long service time, bimodal (50000)\n"
"      --long-frac F     share of long requests, bimodal (0.005)\n"
"  -s, --seed N          trace seed (default 1)\n"
"  -w, --workers N       worker threads, 1..%d (default 16)\n"
"      --spin            idle workers spin (default: they block)\n"
"      --no-shinjuku     do not register: the kernel's own scheduler\n"
"      --qos N           the workers' QoS level (default 0)\n"
"      --dispatcher-qos N  register the dispatcher at level N (needed under\n"
"                        shinjukud --switch-all; default: not registered)\n"
"      --simulate        run the trace through the ideal instead\n"
"      --quantum-us US   the ideal's slice (default 500)\n"
"      --overhead-us US  charge the ideal US of CPU per request, added to its\n"
"                        service time once (not per quantum; default 0)\n"
"      --label TEXT      copied into the output\n"
"      --json            one JSON object instead of name=value\n"
"      --progress        a progress line on stderr\n"
"  -h, --help\n"
"\n"
"  --app rocksdb         the workers serve RocksDB requests (examples/rocks.c):\n"
"                        a short request is a GET of a random key, a long one\n"
"                        a SCAN from one, each padded to its service time of\n"
"                        CPU (if its real work takes longer, it counts in\n"
"                        over_pad); the workers are at --qos, a SCAN lowers\n"
"                        its worker while it runs (--scan-class); every value\n"
"                        is read once before (warm_s)\n"
"      --db DIR          the database (default /dev/shm/shj-rocksdb; made if\n"
"                        absent, as rocksdb-server makes it)\n"
"      --keys N          its keys (default: what it holds; %u to make)\n"
"      --value-size B    its value size (default 100)\n"
"      --scan-keys K     keys a SCAN reads (default 1000)\n"
"      --scan-class C    none (default), qos (shinjuku level --scan-qos),\n"
"                        nice (nice 19) or idle (SCHED_IDLE)\n"
"      --scan-qos L      a SCAN's level under --scan-class qos (default 0)\n",
	WK_MAX_WORKERS, RK_DEFAULT_KEYS);
}

int main(int argc, char **argv)
{
	enum { O_SHORT = 256, O_LONG, O_FRAC, O_SPIN, O_NOSHJ, O_QOS, O_SIM, O_QUANTUM,
	       O_LABEL, O_JSON, O_PROGRESS, O_DQOS, O_OVERHEAD, O_APP, O_DB, O_KEYS, O_VLEN,
	       O_SCANK, O_SCLASS, O_SCANQ };
	static const struct option lo[] = {
		{ "load", 1, NULL, 'l' }, { "cpus", 1, NULL, 'c' }, { "secs", 1, NULL, 't' },
		{ "dist", 1, NULL, 'd' }, { "short-us", 1, NULL, O_SHORT },
		{ "long-us", 1, NULL, O_LONG }, { "long-frac", 1, NULL, O_FRAC },
		{ "seed", 1, NULL, 's' }, { "workers", 1, NULL, 'w' },
		{ "spin", 0, NULL, O_SPIN }, { "no-shinjuku", 0, NULL, O_NOSHJ },
		{ "qos", 1, NULL, O_QOS }, { "simulate", 0, NULL, O_SIM },
		{ "dispatcher-qos", 1, NULL, O_DQOS },
		{ "quantum-us", 1, NULL, O_QUANTUM }, { "overhead-us", 1, NULL, O_OVERHEAD },
		{ "label", 1, NULL, O_LABEL },
		{ "json", 0, NULL, O_JSON }, { "progress", 0, NULL, O_PROGRESS },
		{ "app", 1, NULL, O_APP }, { "db", 1, NULL, O_DB }, { "keys", 1, NULL, O_KEYS },
		{ "value-size", 1, NULL, O_VLEN }, { "scan-keys", 1, NULL, O_SCANK },
		{ "scan-class", 1, NULL, O_SCLASS }, { "scan-qos", 1, NULL, O_SCANQ },
		{ "help", 0, NULL, 'h' }, { 0 }
	};
	double elapsed_us = 0;
	char *end, err[512];
	int c, rc = 0;
	long keys = 0;

	while ((c = getopt_long(argc, argv, "l:c:t:d:s:w:h", lo, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (c) {
		case 'l': opt.load = strtod(optarg, &end); break;
		case 'c': opt.cpus = (int)strtol(optarg, &end, 10); break;
		case 't': opt.secs = strtod(optarg, &end); break;
		case 'd':
			if (!strcmp(optarg, "fixed")) opt.dist = D_FIXED;
			else if (!strcmp(optarg, "exp")) opt.dist = D_EXP;
			else if (!strcmp(optarg, "bimodal")) opt.dist = D_BIMODAL;
			else goto bad;
			break;
		case O_SHORT: opt.short_us = strtod(optarg, &end); break;
		case O_LONG: opt.long_us = strtod(optarg, &end); break;
		case O_FRAC: opt.long_frac = strtod(optarg, &end); break;
		case 's': opt.seed = strtoul(optarg, &end, 10); break;
		case 'w': opt.workers = (int)strtol(optarg, &end, 10); break;
		case O_SPIN: opt.spin = 1; break;
		case O_NOSHJ: opt.shinjuku = 0; break;
		case O_QOS: opt.qos = (int)strtol(optarg, &end, 10); break;
		case O_DQOS: opt.dispatcher_qos = (int)strtol(optarg, &end, 10); break;
		case O_SIM: opt.simulate = 1; break;
		case O_QUANTUM: opt.quantum_us = strtod(optarg, &end); break;
		case O_OVERHEAD: opt.overhead_us = strtod(optarg, &end); break;
		case O_LABEL: opt.label = optarg; break;
		case O_JSON: opt.json = 1; break;
		case O_PROGRESS: opt.progress = 1; break;
		case O_APP:
			if (strcmp(optarg, "rocksdb"))
				goto bad;
			opt.rocksdb = 1;
			break;
		case O_DB: opt.db.dir = optarg; break;
		case O_KEYS: keys = strtol(optarg, &end, 10); break;
		case O_VLEN: opt.db.value_len = (int)strtol(optarg, &end, 10); break;
		case O_SCANK: opt.db.scan_keys = (int)strtol(optarg, &end, 10); break;
		case O_SCLASS:
			if (!strcmp(optarg, "none")) opt.db.lower = RK_LOWER_NONE;
			else if (!strcmp(optarg, "qos")) opt.db.lower = RK_LOWER_QOS;
			else if (!strcmp(optarg, "nice")) opt.db.lower = RK_LOWER_NICE;
			else if (!strcmp(optarg, "idle")) opt.db.lower = RK_LOWER_IDLE;
			else goto bad;
			break;
		case O_SCANQ: opt.db.scan_qos = (int)strtol(optarg, &end, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
		if (end && (*end || errno))
			goto bad;
	}
	if (optind < argc || opt.load <= 0 || opt.load > 1.5 || opt.cpus < 1 ||
	    opt.secs <= 0 || opt.short_us <= 0 || opt.long_us <= 0 ||
	    opt.long_frac < 0 || opt.long_frac > 1 || opt.workers < 1 ||
	    opt.workers > WK_MAX_WORKERS || opt.qos < 0 ||
	    opt.qos >= SHJ_QOS_LEVELS_MAX || opt.dispatcher_qos < -1 ||
	    opt.dispatcher_qos >= SHJ_QOS_LEVELS_MAX || opt.quantum_us <= 0 ||
	    opt.overhead_us < 0 || (opt.overhead_us > 0 && !opt.simulate) ||
	    keys < 0 || keys > RK_KEYS_MAX || opt.db.value_len < 11 ||
	    opt.db.value_len > RK_VALUE_MAX || opt.db.scan_keys < 1 || opt.db.scan_qos < 0 ||
	    opt.db.scan_qos >= SHJ_QOS_LEVELS_MAX ||
	    (opt.rocksdb && (opt.simulate || opt.dist != D_BIMODAL)) ||
	    (opt.db.lower == RK_LOWER_QOS && !opt.shinjuku)) {
		fprintf(stderr, "loadgen: a value is out of range\n");
		usage(stderr);
		return 1;
	}
	if (make_trace()) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	if (opt.rocksdb) {
		opt.db.keys = (uint32_t)keys;
		opt.db.get_qos = opt.qos;
		if (rk_open(&db, &opt.db, opt.progress ? stderr : NULL, err, sizeof(err))) {
			fprintf(stderr, "loadgen: %s\n", err);
			return 1;
		}
		/* outside the measurement: every value read once */
		warm_s = now_us();
		if (rk_warm(db)) {
			fprintf(stderr, "loadgen: %s: reading the database failed\n", opt.db.dir);
			return 1;
		}
		warm_s = (now_us() - warm_s) / 1e6;
	}
	if (opt.simulate) {
		simulate();
	} else {
		rc = replay();
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < nreqs; i++)
		if (reqs[i].done_us > elapsed_us)
			elapsed_us = reqs[i].done_us;

	if (opt.json)
		printf("{\"label\":\"%s\",\"load\":%.3f,\"offered_rps\":%.1f,\"achieved_rps\":%.1f,",
		       opt.label, opt.load, nreqs / opt.secs, nreqs / (elapsed_us / 1e6));
	else
		printf("label=%s load=%.3f offered_rps=%.1f achieved_rps=%.1f", opt.label,
		       opt.load, nreqs / opt.secs, nreqs / (elapsed_us / 1e6));
	/* what each request cost the machine in switches, interrupts and
	 * busy CPU time, and of that time what its service did not need (the
	 * dispatcher, the scheduler, the kernel): meant for a machine that runs
	 * nothing else (the VM) */
	if (sys_n.ctxt && nreqs) {
		double cpu_us = (double)sys_n.busy * 1e6 / (double)sysconf(_SC_CLK_TCK) /
				(double)nreqs, service_us = 0;

		printf(opt.json ? "\"switches_per_req\":%.2f,\"irqs_per_req\":%.2f," :
		       " switches_per_req=%.2f irqs_per_req=%.2f",
		       (double)sys_n.ctxt / (double)nreqs, (double)sys_n.intr / (double)nreqs);
		printf(opt.json ? "\"cpu_per_req_us\":%.1f," : " cpu_per_req_us=%.1f", cpu_us);
		if (!opt.rocksdb) {	/* its service time is the work's own */
			for (size_t i = 0; i < nreqs; i++)
				service_us += reqs[i].service_us;
			printf(opt.json ? "\"cpu_over_service_us\":%.1f," : " cpu_over_service_us=%.1f",
			       cpu_us - service_us / (double)nreqs);
		}
	}
	report_class("short", 0, 1);
	if (opt.dist == D_BIMODAL)
		report_class("long", 1, 0);
	if (opt.rocksdb) {
		report_rocks();
		rk_close(db);
	}
	printf(opt.json ? "}\n" : "\n");
	free(reqs);
	return 0;
bad:
	fprintf(stderr, "loadgen: bad value '%s'\n", optarg);
	usage(stderr);
	return 1;
}
