/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shjctl: ask the running shinjukud how it is doing, over the same message
 * queues as libshinjuku. Needs no privilege.
 *
 * stats --json is one flat object (schema version STATS_SCHEMA: README.md
 * and shjctl(8)); stats --openmetrics the OpenMetrics text format, its
 * families built from the same counters; top a view refreshed every second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "../bpf/shj_shared.h"
#include "../libshinjuku/conn.h"

#define SHJCTL_VERSION "0.1.0"
/* of stats --json: bumped when a name is removed or changes meaning */
#define STATS_SCHEMA 1
#define ITERATIONS_MAX 1000000

enum { EXIT_OK, EXIT_USAGE, EXIT_DAEMON };

static void usage(FILE *f)
{
	fprintf(f,
"Usage: shjctl [OPTION] COMMAND\n"
"Query the running shinjukud.\n"
"\n"
"Commands:\n"
"  status          is shinjukud running, with what settings and load\n"
"  stats [--json | --openmetrics]\n"
"                  every counter (names: README.md), as name=value lines,\n"
"                  as one JSON object or in the OpenMetrics text format\n"
"  list            registered threads: tid, pid, uid, QoS level, idle mark,\n"
"                  CPU time under the scheduler (other users' only for root)\n"
"  top [--iterations N]\n"
"                  per-level queue lengths, waits and preemptions, every\n"
"                  second until q, SIGINT or N views (1..%d)\n"
"\n"
"  -h, --help      print this help and exit\n"
"  -V, --version   print the version and exit\n"
"\n"
"Exit status: 0 done; 1 bad usage; 2 shinjukud is not running or failed.\n",
		ITERATIONS_MAX);
}

static struct shj_kv kv[SHJ_STATS_MAX];
static int nkv;

/* Fetch every page of op (STATS or LIST); on_page() takes each. Returns 0 or
 * -errno. */
static int fetch(int op, void (*on_page)(const struct shj_rep_page *pg))
{
	struct shj_conn c = SHJ_CONN_INIT;
	static struct shj_rep_page pg;
	struct shj_req req;
	unsigned int page, index = 0;
	int err;

	err = shj_conn_open(&c, sizeof(pg));
	for (page = 0; !err && page < SHJ_PAGES_MAX; page++) {
		memset(&req, 0, sizeof(req));
		req.op = (uint16_t)op;
		req.index = index;
		err = shj_conn_call(&c, &req, &pg, sizeof(pg));
		if (err)
			break;
		on_page(&pg);
		if (!pg.more)
			break;
		/* STATS: pages by number; LIST: from where the last one ended */
		index = op == SHJ_OP_LIST ? pg.next : page + 1;
	}
	if (!err) {	/* say goodbye; our queue goes with the session */
		memset(&req, 0, sizeof(req));
		req.op = SHJ_OP_BYE;
		shj_conn_call(&c, &req, &pg, sizeof(pg));
	}
	shj_conn_drop(&c);
	return err;
}

static void take_kv(const struct shj_rep_page *pg)
{
	uint32_t i;

	for (i = 0; i < pg->count && nkv < SHJ_STATS_MAX; i++)
		kv[nkv++] = pg->kv[i];
}

static int fetch_stats(void)
{
	nkv = 0;
	return fetch(SHJ_OP_STATS, take_kv);
}

static void print_threads(const struct shj_rep_page *pg)
{
	uint32_t i;

	for (i = 0; i < pg->count; i++) {
		const struct shj_thread_info *t = &pg->th[i];

		printf("%8d %8d %6u %4u %-4s %12.3f\n", t->tid, t->pid, t->uid,
		       t->qos, t->flags & 1 ? "idle" : "-",
		       (double)t->runtime_ns / 1e6);
	}
}

static const char *key_of(int i)
{
	static char key[SHJ_KV_KEY_MAX + 1];

	snprintf(key, sizeof(key), "%.*s", (int)sizeof(kv[i].key), kv[i].key);
	return key;
}

static unsigned long long get(const char *key)
{
	int i;

	for (i = 0; i < nkv; i++)
		if (!strncmp(kv[i].key, key, sizeof(kv[i].key)))
			return (unsigned long long)kv[i].value;
	return 0;
}

/* Level L's wait histogram: log2 buckets of ns. */
static void hist_of(unsigned int level, unsigned long long *h)
{
	unsigned int l, b;
	int i;

	memset(h, 0, SHJ_HIST_BUCKETS * sizeof(*h));
	for (i = 0; i < nkv; i++)
		if (sscanf(key_of(i), "wait_log2ns_q%u_b%u", &l, &b) == 2 && l == level &&
		    b < SHJ_HIST_BUCKETS)
			h[b] += (unsigned long long)kv[i].value;
}

static void print_json(void)
{
	int i;

	printf("{\"version\":%d", STATS_SCHEMA);
	for (i = 0; i < nkv; i++)
		printf(",\"%s\":%llu", key_of(i), (unsigned long long)kv[i].value);
	printf("}\n");
}

/* --- OpenMetrics -------------------------------------------------------- */

/* The help of each fixed name, and the type of those that are not the
 * scheduler's counters (SHJ_STAT_NAMES: all counters). A name the daemon
 * sends that is in neither is printed as an unknown-type metric: nothing
 * is left out. Per-level and per-bucket names are families of their own
 * (queued, the wait histogram). */
static const struct metric {
	const char *name, *type, *help;
} metrics[] = {
	{ "enqueue", NULL, "Registered threads queued" },
	{ "enqueue_unregistered", NULL, "SCHED_EXT threads nobody registered, queued" },
	{ "enqueue_background", NULL, "Other tasks queued (--switch-all)" },
	{ "enqueue_idle", NULL, "Idle-marked threads queued" },
	{ "direct_dispatch", NULL, "Threads woken straight onto an idle CPU" },
	{ "dispatch", NULL, "Threads moved from a QoS queue to a CPU" },
	{ "prio_boost", NULL, "Threads that lost the CPU to a higher class, put back at the head" },
	{ "preempt_idle", NULL, "Preemptions: idle-marked while work waited" },
	{ "preempt_qos", NULL, "Preemptions: a higher level waited" },
	{ "preempt_slice", NULL, "Preemptions: slice used while its level waited" },
	{ "kick_idle", NULL, "CPUs woken for waiting work" },
	{ "kick_preempt", NULL, "SCX_KICK_PREEMPT sent" },
	{ "yields", NULL, "sched_yield() calls of registered threads (each starts a request)" },
	{ "enqueue_demoted", NULL, "Threads that used their slice, queued behind their level's fresh ones" },
	{ "idle_runs", NULL, "CPU given to an idle-marked thread" },
	{ "background_runs", NULL, "CPU given to a background task" },
	{ "starvation_runs", NULL, "CPU given to a task that had waited 100 ms" },
	{ "keep_running", NULL, "Threads that kept their CPU at the end of a slice" },
	{ "nudge_moves", NULL, "Threads moved between queues when their mark changed" },
	{ "run_registered", NULL, "Registered threads put on a CPU" },
	{ "went_long", NULL, "Requests that used up their slice (long ones)" },
	{ "marks_direct", NULL, "Idle/runnable marks clients applied themselves (shinjuku_mark)" },
	{ "lost_marks", NULL, "Starvation runs of threads queued below their mark (a missed mark; 0 unless a bug)" },
	{ "migrations", NULL, "Registered threads that started on another CPU than they last ran on" },
	{ "requests", "counter", "Messages shinjukud received" },
	{ "errors", "counter", "Requests answered with an error" },
	{ "dropped", "counter", "Messages dropped (no trusted reply path)" },
	{ "sessions", "counter", "Client sessions opened" },
	{ "marks", "counter", "Idle/runnable/level changes applied" },
	{ "mark_descriptors", "counter", "shinjuku_mark descriptors handed to clients" },
	{ "threads", "gauge", "Threads registered now" },
	{ "qos_levels", "gauge", "QoS levels (setting)" },
	{ "slice_ns", "gauge", "CPU time in ns a request may use before it counts as long (setting)" },
	{ "switch_all", "gauge", "1 in --switch-all mode (setting)" },
	{ "compat_fallbacks", "gauge", "Fallbacks for older kernels in use, a bit mask (see shjctl status)" },
	{ "queued_idle", "gauge", "Idle-marked threads queued, as of the last starvation check" },
	{ "queued_background", "gauge", "Background tasks queued, as of the last starvation check" },
};

static const struct metric *metric_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
		if (!strcmp(metrics[i].name, name))
			return &metrics[i];
	return NULL;
}

static int is_stat(const char *name)
{
	static const char *const stats[] = SHJ_STAT_NAMES;
	size_t i;

	for (i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
		if (!strcmp(stats[i], name))
			return 1;
	return 0;
}

/* One metric family of a single sample. */
static void print_metric(const char *name, const char *type, const char *help,
			 unsigned long long value)
{
	printf("# TYPE shinjuku_%s %s\n", name, type);
	if (help)
		printf("# HELP shinjuku_%s %s.\n", name, help);
	printf("shinjuku_%s%s %llu\n", name, strcmp(type, "counter") ? "" : "_total", value);
}

#define NS_PER_SEC 1000000000ULL

/* ns as seconds, exactly: every 2^k ns has at most 9 decimals */
static void print_secs(unsigned long long ns)
{
	char frac[16];
	int n;

	n = snprintf(frac, sizeof(frac), "%09llu", ns % NS_PER_SEC);
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	printf("%llu.%s", ns / NS_PER_SEC, frac);
}

/* Level L's wait histogram, cumulative: bucket b holds [2^b, 2^(b+1)) ns,
 * so its le is 2^(b+1) ns; the last one (everything larger) only in +Inf. */
static void print_buckets(unsigned int level, const unsigned long long *h)
{
	unsigned long long sum = 0;
	unsigned int b;

	for (b = 0; b < SHJ_HIST_BUCKETS; b++) {
		sum += h[b];
		if (b == SHJ_HIST_BUCKETS - 1)
			break;
		printf("shinjuku_queue_wait_seconds_bucket{level=\"%u\",le=\"", level);
		print_secs(2ULL << b);
		printf("\"} %llu\n", sum);
	}
	printf("shinjuku_queue_wait_seconds_bucket{level=\"%u\",le=\"+Inf\"} %llu\n",
	       level, sum);
}

static void print_openmetrics(void)
{
	unsigned long long h[SHJ_HIST_BUCKETS];
	unsigned int l, levels = (unsigned int)get("qos_levels");
	const struct metric *m;
	char key[32];
	int i;

	for (i = 0; i < nkv; i++) {
		const char *k = key_of(i);

		m = metric_of(k);
		if (is_stat(k))
			print_metric(k, "counter", m ? m->help : NULL, kv[i].value);
		else if (m && m->type)
			print_metric(k, m->type, m->help, kv[i].value);
		else if (strncmp(k, "queued_q", 8) && strncmp(k, "wait_log2ns_q", 13))
			print_metric(k, "unknown", NULL, kv[i].value);
	}
	printf("# TYPE shinjuku_queued gauge\n"
	       "# HELP shinjuku_queued Threads queued at each QoS level, as of the last starvation check.\n");
	for (l = 0; l < levels && l < SHJ_QOS_MAX; l++) {
		snprintf(key, sizeof(key), "queued_q%u", l);
		printf("shinjuku_queued{level=\"%u\"} %llu\n", l, get(key));
	}
	printf("# TYPE shinjuku_queue_wait_seconds histogram\n"
	       "# UNIT shinjuku_queue_wait_seconds seconds\n"
	       "# HELP shinjuku_queue_wait_seconds Time threads of each QoS level waited in its queue.\n");
	for (l = 0; l < levels && l < SHJ_QOS_MAX; l++) {
		hist_of(l, h);
		print_buckets(l, h);
	}
	printf("# EOF\n");
}

/* --- top ---------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

/* A bucket's upper bound 2^(b+1) ns, in 3 digits and a unit. */
static const char *fmt_bucket(unsigned int b, char *buf, size_t size)
{
	static const char *const units[] = { "ns", "us", "ms", "s" };
	double v = (double)(2ULL << b);
	unsigned int u = 0;

	while (v >= 1000 && u < 3) {
		v /= 1000;
		u++;
	}
	snprintf(buf, size, "%.*f%s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[u]);
	return buf;
}

/* The bucket holding quantile q of h (n values), as text; "-" for none. */
static const char *quantile(const unsigned long long *h, unsigned long long n,
			    double q, char *buf, size_t size)
{
	unsigned long long seen = 0;
	unsigned int b;

	for (b = 0; n && b < SHJ_HIST_BUCKETS; b++) {
		seen += h[b];
		if ((double)seen >= q * (double)n)
			return b == SHJ_HIST_BUCKETS - 1 ? ">2.15s" : fmt_bucket(b, buf, size);
	}
	return "-";
}

/* The counters of the previous view, to show what changed since. */
struct snapshot {
	unsigned long long preempt[3], kicks, boosts, requests, marks;
	unsigned long long wait[SHJ_QOS_MAX][SHJ_HIST_BUCKETS];
	double at;
};

static double now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void take_snapshot(struct snapshot *s, unsigned int levels)
{
	unsigned int l;

	s->preempt[0] = get("preempt_idle");
	s->preempt[1] = get("preempt_qos");
	s->preempt[2] = get("preempt_slice");
	s->kicks = get("kick_preempt");
	s->boosts = get("prio_boost");
	s->requests = get("requests");
	s->marks = get("marks");
	for (l = 0; l < levels; l++)
		hist_of(l, s->wait[l]);
	s->at = now_secs();
}

/* One view: since the previous one (prev), or since shinjukud started. */
static void print_top(const struct snapshot *cur, const struct snapshot *prev,
		      unsigned int levels, int tty)
{
	double secs = prev ? cur->at - prev->at : 1;
	unsigned long long h[SHJ_HIST_BUCKETS], n;
	char p50[16], p99[16], key[32];
	unsigned int l, b;
	int lv;

#define DELTA(f) (cur->f - (prev ? prev->f : 0))
#define RATE(f) ((double)DELTA(f) / (secs > 0 ? secs : 1))
	if (tty)
		fputs("\033[H\033[2J", stdout);	/* home, clear: any VT100 */
	printf("shinjukud: %s mode, %u QoS levels, slice %llu us; %llu threads, %llu sessions\n",
	       get("switch_all") ? "switch-all" : "partial", levels,
	       get("slice_ns") / 1000, get("threads"), get("sessions"));
	if (prev)
		printf("per second over the last %.1f s%s\n", secs, tty ? " (q quits)" : "");
	else
		printf("totals since shinjukud started%s\n", tty ? " (q quits)" : "");
	printf("preemptions: idle %.0f  qos %.0f  slice %.0f   kicks %.0f   boosts %.0f   requests %.0f   marks %.0f\n",
	       RATE(preempt[0]), RATE(preempt[1]), RATE(preempt[2]), RATE(kicks),
	       RATE(boosts), RATE(requests), RATE(marks));
	printf("%5s %8s %10s %9s %9s\n", "LEVEL", "QUEUED", "WAITS", "WAIT_P50", "WAIT_P99");
	for (lv = (int)levels - 1; lv >= 0; lv--) {
		l = (unsigned int)lv;
		for (n = 0, b = 0; b < SHJ_HIST_BUCKETS; b++) {
			h[b] = cur->wait[l][b] - (prev ? prev->wait[l][b] : 0);
			n += h[b];
		}
		snprintf(key, sizeof(key), "queued_q%u", l);
		printf("%5u %8llu %10.0f %9s %9s\n", l, get(key),
		       (double)n / (prev && secs > 0 ? secs : 1),
		       quantile(h, n, 0.5, p50, sizeof(p50)),
		       quantile(h, n, 0.99, p99, sizeof(p99)));
	}
	printf("%5s %8llu\n%5s %8llu\n", "idle", get("queued_idle"), "bg",
	       get("queued_background"));
	if (!tty)
		putchar('\n');
	fflush(stdout);
#undef RATE
#undef DELTA
}

/* Wait up to ms for the next view; 1 if the user typed q. */
static int wait_key(int tty_in, int ms)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	double end = now_secs() + ms / 1000.0;
	char c;

	while (!stop) {
		int left = (int)((end - now_secs()) * 1000);

		if (left <= 0)
			return 0;
		if (poll(&pfd, tty_in ? 1 : 0, left) > 0 && read(0, &c, 1) == 1 &&
		    (c == 'q' || c == 'Q'))
			return 1;
	}
	return 0;
}

static int top(long iterations)
{
	static struct snapshot snap[2];
	struct termios saved, raw;
	struct sigaction sa;
	int tty_in = isatty(0), tty_out = isatty(1), err = 0, cur = 0;
	unsigned int levels;
	long i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* keys without Enter, not echoed; restored however we stop */
	if (tty_in && !tcgetattr(0, &saved)) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(0, TCSANOW, &raw);
	} else {
		tty_in = 0;
	}
	for (i = 0; !stop && (!iterations || i < iterations); i++) {
		if (i && wait_key(tty_in, 1000))
			break;
		if (stop)
			break;
		err = fetch_stats();
		if (err)
			break;
		levels = (unsigned int)get("qos_levels");
		if (levels > SHJ_QOS_MAX)
			levels = SHJ_QOS_MAX;
		take_snapshot(&snap[cur], levels);
		print_top(&snap[cur], i ? &snap[!cur] : NULL, levels, tty_out);
		cur = !cur;
	}
	if (tty_in)
		tcsetattr(0, TCSANOW, &saved);
	return err;
}

/* --- main --------------------------------------------------------------- */

static int parse_count(const char *s, long *out)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > ITERATIONS_MAX)
		return -1;
	*out = v;
	return 0;
}

__attribute__((format(printf, 1, 2)))
static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("shjctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *cmd = NULL, *format = NULL;
	long iterations = 0;
	int i, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("shjctl %s\n", SHJCTL_VERSION);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--openmetrics")) {
			if (format && strcmp(format, argv[i]))
				return bad_usage("--json and --openmetrics exclude each other");
			format = argv[i];
		} else if (!strcmp(argv[i], "--iterations")) {
			if (parse_count(argv[i + 1], &iterations))
				return bad_usage("--iterations: '%s' is not a number of views in 1..%d",
						 i + 1 < argc ? argv[i + 1] : "", ITERATIONS_MAX);
			i++;
		} else if (!cmd && argv[i][0] != '-') {
			cmd = argv[i];
		} else {
			return bad_usage("unexpected argument '%s'", argv[i]);
		}
	}
	if (!cmd)
		return bad_usage("no command given");
	if (strcmp(cmd, "stats") && strcmp(cmd, "status") && strcmp(cmd, "list") &&
	    strcmp(cmd, "top"))
		return bad_usage("unknown command '%s'", cmd);
	if (format && strcmp(cmd, "stats"))
		return bad_usage("%s is an option of stats only", format);
	if (iterations && strcmp(cmd, "top"))
		return bad_usage("--iterations is an option of top only");

	if (!strcmp(cmd, "list")) {
		printf("%8s %8s %6s %4s %-4s %12s\n", "TID", "PID", "UID", "QOS",
		       "MARK", "RUNTIME_MS");
		err = fetch(SHJ_OP_LIST, print_threads);
	} else if (!strcmp(cmd, "top")) {
		err = top(iterations);
	} else {
		err = fetch_stats();
	}
	if (err) {
		fprintf(stderr, "shjctl: %s\n", err == -ECONNREFUSED ?
			"shinjukud is not running" : strerror(-err));
		return EXIT_DAEMON;
	}
	if (!strcmp(cmd, "list") || !strcmp(cmd, "top"))
		return EXIT_OK;
	if (!strcmp(cmd, "status")) {
		static const char *names[] = SHJ_COMPAT_NAMES;
		unsigned long long fb = get("compat_fallbacks");
		struct utsname u;

		printf("shinjukud: running, %s mode, %llu QoS levels, slice %llu us\n"
		       "load: %llu threads registered, %llu sessions opened, %llu requests (%llu errors, %llu dropped)\n",
		       get("switch_all") ? "switch-all" : "partial",
		       get("qos_levels"), get("slice_ns") / 1000, get("threads"),
		       get("sessions"), get("requests"), get("errors"),
		       get("dropped"));
		/* the daemon's kernel is ours: one per machine */
		printf("kernel: %s; fallbacks:", uname(&u) ? "unknown" : u.release);
		for (i = 0; i < SHJ_COMPAT_NR; i++)
			if (fb & (1ULL << i))
				printf("%s %s", fb & ((1ULL << i) - 1) ? "," : "", names[i]);
		printf("%s\n", fb ? "" : " none");
	} else if (format && !strcmp(format, "--json")) {
		print_json();
	} else if (format) {
		print_openmetrics();
	} else {
		for (i = 0; i < nkv; i++)
			printf("%s=%llu\n", key_of(i), (unsigned long long)kv[i].value);
	}
	return EXIT_OK;
}
