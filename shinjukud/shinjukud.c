/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shinjukud: loads and attaches the shinjuku sched_ext scheduler, serves
 * libshinjuku clients over POSIX message queues, reports counters and, if the
 * kernel ejects the scheduler, why.
 *
 * Runs in the foreground, logs on stderr, stops cleanly on SIGINT/SIGTERM.
 * Exit codes: see usage().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>

typedef __s32 s32;
typedef __u32 u32;
typedef __u64 u64;
#include "../bpf/shj_shared.h"
#include "shinjuku.skel.h"
#include "server.h"
#include "notify.h"

#define SHJD_VERSION "0.1.0"

enum {
	EXIT_OK = 0,		/* stopped by SIGINT/SIGTERM */
	EXIT_USAGE = 1,		/* bad option or value */
	EXIT_ENV = 2,		/* no sched_ext, another scheduler, no privilege */
	EXIT_EJECTED = 3,	/* the kernel stopped the scheduler */
	EXIT_RUNTIME = 4,	/* anything else */
};

#define MAX_SESSIONS	256
#define ROOT_SESSIONS	4		/* of those, kept for root (shjctl) */
#define MAX_THREADS	65536		/* default of --max-threads */
#define MAX_THREADS_MAX	4194304		/* the kernel's PID_MAX_LIMIT */
#define WATCHDOG_MS_MAX	30000		/* sched_ext's own limit */
/* at least 8 long turns (demoted, unregistered, background threads): see
 * the slice's check in parse_args */
#define WATCHDOG_MS_MIN	(8 * SHJ_LONG_SLICE_NS / 1000000)
#define SCX_SYSFS	"/sys/kernel/sched_ext"
#define KERNEL_BTF	"/sys/kernel/btf/vmlinux"

static struct {
	u64 slice_us, qos_levels, max_threads, max_threads_uid, watchdog_ms;
	unsigned int stats_secs;
	int switch_all, prog_stats, dry_run, busy_poll, verbose, max_threads_set;
	int no_direct_marks;
} opt = {
	.slice_us = SHJ_SLICE_NS_DEFAULT / 1000,
	.qos_levels = SHJ_QOS_LEVELS_DEFAULT,
	.max_threads = MAX_THREADS,
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: shinjukud [OPTION]...\n"
"Load the shinjuku sched_ext scheduler and serve libshinjuku clients.\n"
"Runs in the foreground until SIGINT or SIGTERM; logs on stderr.\n"
"\n"
"  -s, --slice-us US   CPU time a request may use before it counts as long\n"
"                      and waits behind fresh ones, in microseconds\n"
"                      (default %llu, %llu..%llu)\n"
"  -q, --qos-levels N  number of QoS levels, 1..%d (default %d)\n"
"      --max-threads N most threads registered at once, 1..%d (default %d)\n"
"      --max-threads-per-uid N  of those, most by one uid's processes (root:\n"
"                      no limit), 1..%d (default: a quarter of --max-threads)\n"
"      --switch-all    schedule every task, not only SCHED_EXT ones: tasks\n"
"                      that are not registered form a background tier\n"
"      --watchdog-ms MS  sched_ext's stall timeout, %llu..%d (default: the\n"
"                      kernel's, %d)\n"
"      --stats SECS    print the counters every SECS seconds (default: only\n"
"                      at exit)\n"
"      --prog-stats    have the kernel time the scheduler's BPF programs and\n"
"                      print their mean cost with the counters\n"
"      --busy-poll     spin on the queues instead of sleeping: the\n"
"                      lowest latency for clients, for a whole CPU (pin\n"
"                      shinjukud to one you can spare)\n"
"      --no-direct-marks  clients mark their threads idle or runnable only\n"
"                      through shinjukud (default: they may run its\n"
"                      shinjuku_mark program themselves, without the round\n"
"                      trip; see shinjukud(8))\n"
"      --dry-run       create the maps and serve clients, but attach no\n"
"                      scheduler and change no thread's policy: to measure\n"
"                      the control plane, also on kernels without sched_ext\n"
"  -v, --verbose       print libbpf's debug output\n"
"  -V, --version       print the version and exit\n"
"  -h, --help          print this help and exit\n"
"\n"
"Exit status: 0 stopped by a signal; 1 bad usage; 2 the kernel has no\n"
"sched_ext, another scheduler is attached or privileges are missing;\n"
"3 the kernel ejected the scheduler (its reason is printed); 4 other error.\n",
		SHJ_SLICE_NS_DEFAULT / 1000, SHJ_SLICE_NS_MIN / 1000,
		SHJ_SLICE_NS_MAX / 1000,
		SHJ_QOS_MAX, SHJ_QOS_LEVELS_DEFAULT, MAX_THREADS_MAX, MAX_THREADS,
		MAX_THREADS_MAX, WATCHDOG_MS_MIN, WATCHDOG_MS_MAX, WATCHDOG_MS_MAX);
}

static void logmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("shinjukud: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int parse_u64(const char *s, u64 min, u64 max, u64 *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	enum { OPT_STATS = 256, OPT_MAX_THREADS, OPT_MAX_THREADS_UID, OPT_SWITCH_ALL,
	       OPT_WATCHDOG,
	       OPT_PROG_STATS, OPT_DRY_RUN, OPT_BUSY_POLL, OPT_NO_DIRECT };
	static const struct option longopts[] = {
		{ "slice-us", required_argument, NULL, 's' },
		{ "qos-levels", required_argument, NULL, 'q' },
		{ "max-threads", required_argument, NULL, OPT_MAX_THREADS },
		{ "max-threads-per-uid", required_argument, NULL, OPT_MAX_THREADS_UID },
		{ "switch-all", no_argument, NULL, OPT_SWITCH_ALL },
		{ "watchdog-ms", required_argument, NULL, OPT_WATCHDOG },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "prog-stats", no_argument, NULL, OPT_PROG_STATS },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "no-direct-marks", no_argument, NULL, OPT_NO_DIRECT },
		{ "busy-poll", no_argument, NULL, OPT_BUSY_POLL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	/* the numeric options: where each goes and its range */
	const struct { int opt; const char *name, *unit; u64 *val, min, max; } nums[] = {
		{ 's', "slice-us", "microseconds", &opt.slice_us,
		  SHJ_SLICE_NS_MIN / 1000, SHJ_SLICE_NS_MAX / 1000 },
		{ 'q', "qos-levels", "levels", &opt.qos_levels, 1, SHJ_QOS_MAX },
		{ OPT_MAX_THREADS_UID, "max-threads-per-uid", "threads",
		  &opt.max_threads_uid, 1, MAX_THREADS_MAX },
		{ OPT_MAX_THREADS, "max-threads", "threads", &opt.max_threads,
		  1, MAX_THREADS_MAX },
		{ OPT_WATCHDOG, "watchdog-ms", "milliseconds", &opt.watchdog_ms,
		  WATCHDOG_MS_MIN, WATCHDOG_MS_MAX },
	};
	u64 v;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "s:q:vVh", longopts, NULL)) != -1) {
		for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
			if (nums[i].opt != c)
				continue;
			opt.max_threads_set |= c == OPT_MAX_THREADS;
			if (parse_u64(optarg, nums[i].min, nums[i].max, nums[i].val)) {
				logmsg("--%s: '%s' is not a number of %s in %llu..%llu",
				       nums[i].name, optarg, nums[i].unit,
				       (unsigned long long)nums[i].min,
				       (unsigned long long)nums[i].max);
				return EXIT_USAGE;
			}
			break;
		}
		if (i < sizeof(nums) / sizeof(nums[0]))
			continue;
		switch (c) {
		case OPT_STATS:
			if (parse_u64(optarg, 1, 86400, &v)) {
				logmsg("--stats: '%s' is not a number of seconds in 1..86400",
				       optarg);
				return EXIT_USAGE;
			}
			opt.stats_secs = (unsigned int)v;
			break;
		case OPT_SWITCH_ALL:
			opt.switch_all = 1;
			break;
		case OPT_PROG_STATS:
			opt.prog_stats = 1;
			break;
		case OPT_DRY_RUN:
			opt.dry_run = 1;
			break;
		case OPT_NO_DIRECT:
			opt.no_direct_marks = 1;
			break;
		case OPT_BUSY_POLL:
			opt.busy_poll = 1;
			break;
		case 'v':
			opt.verbose = 1;
			break;
		case 'V':
			printf("shinjukud %s\n", SHJD_VERSION);
			exit(EXIT_OK);
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		logmsg("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	/* the starvation guard runs a waiting thread within a few turns of
	 * a quarter of the watchdog's timeout: the slice must fit in there
	 * (and the long turns: WATCHDOG_MS_MIN) */
	if (opt.watchdog_ms && opt.slice_us * 8 > opt.watchdog_ms * 1000) {
		logmsg("--slice-us %llu does not fit --watchdog-ms %llu: the slice can be at most an eighth of the watchdog's timeout",
		       (unsigned long long)opt.slice_us, (unsigned long long)opt.watchdog_ms);
		return EXIT_USAGE;
	}
	return -1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG && !opt.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* First line of a sysfs file, without the newline; "" if unreadable. */
static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, (int)size, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* What the running kernel is and offers, read from uname and its BTF. */
static struct {
	char release[65];
	u64 switch_partial;	/* SCX_OPS_SWITCH_PARTIAL */
	u32 fallbacks;		/* SHJ_COMPAT_*, as ops.init reported them */
} kern;

/* The value of enumerator name of enum scx_ops_flags in btf: 0 if absent. */
static u64 ops_flag(const struct btf *btf, const char *name)
{
	s32 id = btf__find_by_name_kind(btf, "scx_ops_flags", BTF_KIND_ENUM);
	const struct btf_type *t;
	unsigned int i;

	if (id < 0)
		id = btf__find_by_name_kind(btf, "scx_ops_flags", BTF_KIND_ENUM64);
	if (id < 0)
		return 0;
	t = btf__type_by_id(btf, (u32)id);
	for (i = 0; i < btf_vlen(t); i++) {
		if (btf_is_enum(t) && !strcmp(btf__name_by_offset(btf, btf_enum(t)[i].name_off), name))
			return (u32)btf_enum(t)[i].val;
		if (btf_is_enum64(t) &&
		    !strcmp(btf__name_by_offset(btf, btf_enum64(t)[i].name_off), name))
			return btf_enum64_value(&btf_enum64(t)[i]);
	}
	return 0;
}

/* Does btf have a function (a kfunc) of this name? */
static int has_func(const struct btf *btf, const char *name)
{
	return btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) >= 0;
}

/*
 * Can we attach here? EXIT_ENV with the reason and what to do, or -1 (and
 * kern filled in). sched_ext came to mainline in 6.12: older kernels that
 * have it carry an out-of-tree version with another interface.
 */
static int check_kernel(void)
{
	char state[64], ops[128], rt[8];
	unsigned int major = 0, minor = 0;
	struct utsname u;
	struct btf *btf;
	long err;

	uname(&u);
	snprintf(kern.release, sizeof(kern.release), "%s", u.release);
	read_line("/sys/kernel/realtime", rt, sizeof(rt));
	if (!strcmp(rt, "1") || strstr(u.version, "PREEMPT_RT")) {
		logmsg("kernel %s is a PREEMPT_RT kernel: not supported (its interrupt "
		       "handlers run as RT threads, above every SCHED_EXT thread, so "
		       "shinjuku's priorities and boost would not hold); boot a kernel "
		       "without PREEMPT_RT", u.release);
		return EXIT_ENV;
	}
	if (sscanf(u.release, "%u.%u", &major, &minor) != 2 ||
	    major < 6 || (major == 6 && minor < 12)) {
		logmsg("kernel %s is older than 6.12, the first with sched_ext in "
		       "mainline: boot 6.12 or later with CONFIG_SCHED_CLASS_EXT=y "
		       "(README.md: Supported kernels)", u.release);
		return EXIT_ENV;
	}
	if (access(SCX_SYSFS, F_OK)) {
		logmsg("kernel %s has no sched_ext (CONFIG_SCHED_CLASS_EXT is not set); "
		       "boot a kernel that has it (README.md: Supported kernels), or "
		       "run under one with tests/vm/run", u.release);
		return EXIT_ENV;
	}
	if (access(KERNEL_BTF, R_OK)) {
		logmsg("kernel %s has no BTF (%s: %s): the scheduler needs "
		       "CONFIG_DEBUG_INFO_BTF=y; boot a kernel built with it",
		       u.release, KERNEL_BTF, strerror(errno));
		return EXIT_ENV;
	}
	btf = btf__load_vmlinux_btf();
	err = libbpf_get_error(btf);
	if (err) {
		char why[128];

		libbpf_strerror((int)err, why, sizeof(why));
		logmsg("kernel %s: its BTF (%s) is not valid BTF (libbpf: %s); boot a "
		       "kernel built with CONFIG_DEBUG_INFO_BTF=y whose BTF matches it",
		       u.release, KERNEL_BTF, why);
		return EXIT_ENV;
	}
	if (btf__find_by_name_kind(btf, "sched_ext_ops", BTF_KIND_STRUCT) < 0 ||
	    !(kern.switch_partial = ops_flag(btf, "SCX_OPS_SWITCH_PARTIAL")) ||
	    (!has_func(btf, "scx_bpf_dsq_move") && !has_func(btf, "scx_bpf_dispatch_from_dsq"))) {
		logmsg("kernel %s: its BTF (%s) is not a sched_ext kernel's of 6.12 or later "
		       "(struct sched_ext_ops, SCX_OPS_SWITCH_PARTIAL or the DSQ move kfuncs are "
		       "missing); boot a kernel whose BTF matches it", u.release, KERNEL_BTF);
		btf__free(btf);
		return EXIT_ENV;
	}
	btf__free(btf);

	read_line(SCX_SYSFS "/state", state, sizeof(state));
	if (strcmp(state, "disabled")) {
		read_line(SCX_SYSFS "/root/ops", ops, sizeof(ops));
		logmsg("another sched_ext scheduler is attached ('%s', state %s); stop it first",
		       ops[0] ? ops : "unknown", state);
		return EXIT_ENV;
	}
	return -1;
}

/* "none" or the fallbacks of mask, comma-separated, into buf. */
static const char *fallbacks_str(u32 mask, char *buf, size_t size)
{
	static const char *names[] = SHJ_COMPAT_NAMES;
	size_t len = 0;
	int i;

	snprintf(buf, size, "none");
	for (i = 0; i < SHJ_COMPAT_NR; i++)
		if (mask & (1U << i) && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
						len ? ", " : "", names[i]);
	return buf;
}

/* Sum a per-CPU array map of u64 over CPUs: out[0 .. n-1]. */
static void sum_percpu(int fd, u64 *out, u32 n)
{
	int ncpus = libbpf_num_possible_cpus(), cpu;
	u64 *vals = calloc((size_t)(ncpus > 0 ? ncpus : 1), sizeof(*vals));
	u32 idx;

	memset(out, 0, n * sizeof(*out));
	for (idx = 0; vals && idx < n; idx++) {
		if (bpf_map_lookup_elem(fd, &idx, vals))
			continue;
		for (cpu = 0; cpu < ncpus; cpu++)
			out[idx] += vals[cpu];
	}
	free(vals);
}

struct daemon {
	struct shinjuku_bpf *skel;
	struct shj_server srv;
};

static void kv_put(struct shj_kv *kv, unsigned int *n, unsigned int max,
		   u64 value, const char *fmt, ...)
{
	va_list ap;

	if (*n >= max)
		return;
	va_start(ap, fmt);
	vsnprintf(kv[*n].key, sizeof(kv[*n].key), fmt, ap);
	va_end(ap);
	kv[(*n)++].value = value;
}

/*
 * Every counter, by the stable names README.md documents: the scheduler's
 * (summed over CPUs), the daemon's, the configuration, queue lengths, and the
 * non-empty buckets of the log2 histograms (bucket b = [2^b, 2^(b+1)) ns).
 */
static unsigned int collect_stats(void *ctx, struct shj_kv *kv, unsigned int max)
{
	static const char *names[] = SHJ_STAT_NAMES;
	static u64 wait[SHJ_QOS_MAX * SHJ_HIST_BUCKETS];
	struct daemon *d = ctx;
	const struct shj_server *srv = &d->srv;
	struct shinjuku_bpf *skel = d->skel;
	u64 sums[SHJ_NR_STATS];
	unsigned int n = 0, l, b;

	sum_percpu(bpf_map__fd(skel->maps.shj_stats), sums, SHJ_NR_STATS);
	for (b = 0; b < SHJ_NR_STATS; b++)
		kv_put(kv, &n, max, sums[b], "%s", names[b]);
	kv_put(kv, &n, max, srv->stats.requests, "requests");
	kv_put(kv, &n, max, srv->stats.errors, "errors");
	kv_put(kv, &n, max, srv->stats.dropped, "dropped");
	kv_put(kv, &n, max, srv->stats.sessions, "sessions");
	kv_put(kv, &n, max, srv->stats.marks, "marks");
	kv_put(kv, &n, max, srv->stats.mark_fds, "mark_descriptors");
	kv_put(kv, &n, max, srv->nthreads, "threads");
	kv_put(kv, &n, max, opt.qos_levels, "qos_levels");
	kv_put(kv, &n, max, opt.slice_us * 1000, "slice_ns");
	kv_put(kv, &n, max, (u64)opt.switch_all, "switch_all");
	kv_put(kv, &n, max, kern.fallbacks, "compat_fallbacks");
	for (l = 0; l < opt.qos_levels; l++)
		kv_put(kv, &n, max, skel->bss->nr_queued[l], "queued_q%u", l);
	kv_put(kv, &n, max, skel->bss->nr_queued[SHJ_QOS_MAX], "queued_idle");
	kv_put(kv, &n, max, skel->bss->nr_queued[SHJ_QOS_MAX + 1], "queued_background");
	sum_percpu(bpf_map__fd(skel->maps.shj_wait_hist), wait,
		   SHJ_QOS_MAX * SHJ_HIST_BUCKETS);
	for (l = 0; l < opt.qos_levels; l++)
		for (b = 0; b < SHJ_HIST_BUCKETS; b++)
			if (wait[l * SHJ_HIST_BUCKETS + b])
				kv_put(kv, &n, max, wait[l * SHJ_HIST_BUCKETS + b],
				       "wait_log2ns_q%u_b%u", l, b);
	return n;
}

static void print_stats(struct daemon *d)
{
	static struct shj_kv kv[SHJ_STATS_MAX];
	unsigned int n = collect_stats(d, kv, sizeof(kv) / sizeof(kv[0])), i;

	fprintf(stderr, "shinjukud: stats:");
	for (i = 0; i < n; i++)
		fprintf(stderr, " %s=%llu", kv[i].key, (unsigned long long)kv[i].value);
	fputc('\n', stderr);

	if (opt.prog_stats) {
		struct bpf_program *prog;

		fprintf(stderr, "shinjukud: prog_mean_ns:");
		bpf_object__for_each_program(prog, d->skel->obj) {
			struct bpf_prog_info info;
			__u32 len = sizeof(info);

			memset(&info, 0, sizeof(info));
			if (bpf_program__fd(prog) < 0 ||
			    bpf_prog_get_info_by_fd(bpf_program__fd(prog), &info, &len) ||
			    !info.run_cnt)
				continue;
			fprintf(stderr, " %s=%llu/%llu", bpf_program__name(prog),
				(unsigned long long)(info.run_time_ns / info.run_cnt),
				(unsigned long long)info.run_cnt);
		}
		fputc('\n', stderr);
	}
}

static const char *exit_kind_str(int kind)
{
	switch (kind) {
	case 0:		return "none";
	case 1:		return "done";
	case 64:	return "unregistered by user space";
	case 65:	return "unregistered by BPF";
	case 66:	return "unregistered by the kernel";
	case 67:	return "sysrq-S";
	case 1024:	return "error";
	case 1025:	return "BPF error";
	case 1026:	return "runnable task stall";
	default:	return "unknown";
	}
}

static int exit_kind(const struct shinjuku_bpf *skel)
{
	return __atomic_load_n(&skel->bss->exit_info.kind, __ATOMIC_ACQUIRE);
}

/* --verbose: have the verifier report its statistics for each program. */
#define VLOG_SIZE 4096
static void verifier_stats_setup(struct shinjuku_bpf *skel)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, skel->obj) {
		char *buf = calloc(1, VLOG_SIZE);

		if (!buf)
			continue;
		bpf_program__set_log_buf(prog, buf, VLOG_SIZE);
		bpf_program__set_log_level(prog, 4);	/* BPF_LOG_STATS */
	}
}

static void verifier_stats_print(struct shinjuku_bpf *skel)
{
	struct bpf_program *prog;
	size_t size;

	bpf_object__for_each_program(prog, skel->obj) {
		char *buf = (char *)bpf_program__log_buf(prog, &size), *line;

		if (!buf)
			continue;
		line = strstr(buf, "\nprocessed ");
		if (line++) {
			line[strcspn(line, "\n")] = '\0';
			logmsg("verifier: %s: %s", bpf_program__name(prog), line);
		}
		free(buf);
	}
}

/* One daemon at a time, whatever the mode: the request queue is shared.
 * The lock goes with the process, however it ends. */
static int lock_fd = -1;

static int take_lock(void)
{
	lock_fd = shj_server_lock();
	if (lock_fd == -EBUSY) {
		logmsg("another shinjukud is running (%s is locked)", SHJ_LOCK_FILE);
		return EXIT_ENV;
	}
	if (lock_fd < 0) {
		logmsg("cannot take %s: %s", SHJ_LOCK_FILE, strerror(-lock_fd));
		return lock_fd == -EACCES || lock_fd == -EPERM ? EXIT_ENV : EXIT_RUNTIME;
	}
	return -1;	/* lock_fd stays open: it holds the lock */
}

/*
 * The daemon holds a pidfd per registered thread and three descriptors per
 * session: raise the open-file limit to fit --max-threads. EXIT_ENV with
 * the reason, or -1.
 */
static int raise_nofile(void)
{
	const rlim_t spare = 3 * MAX_SESSIONS + 256;
	rlim_t need = (rlim_t)opt.max_threads + spare;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need)
		return -1;
	rl.rlim_cur = need;
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	if (!setrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	/* without CAP_SYS_RESOURCE, up to the hard limit: the default
	 * shrinks to fit it, a number asked for does not */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (opt.max_threads_set || rl.rlim_max < spare + 1) {
		logmsg("--max-threads %llu needs %llu open files: %s (the hard limit is %llu)",
		       (unsigned long long)opt.max_threads, (unsigned long long)need,
		       strerror(errno), (unsigned long long)rl.rlim_max);
		return EXIT_ENV;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return EXIT_ENV;
	opt.max_threads = rl.rlim_max - spare;
	logmsg("at most %llu threads (the open-file limit, %llu, allows no more)",
	       (unsigned long long)opt.max_threads, (unsigned long long)rl.rlim_max);
	return -1;
}

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static double now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Requests served between two looks at signals, exits and the kernel. */
#define BUDGET		256
#define BUSY_SLICE_NS	10000000	/* --busy-poll: look every 10 ms */

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* Serve until a signal or the kernel's ejection. */
static int serve(struct daemon *d, int sigfd)
{
	struct shj_server *srv = &d->srv;
	double next_stats = now_secs() + opt.stats_secs;
	unsigned long long end;
	struct pollfd fds[2];
	int i;

	for (;;) {
		fds[0] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = shj_server_fd(srv), .events = POLLIN };
		/* --busy-poll: serve without sleeping for a while, then look
		 * at the rest, however many requests keep coming */
		if (opt.busy_poll)
			for (end = now_ns() + BUSY_SLICE_NS, i = 0;
			     (i & 63) || now_ns() < end; i++)
				shj_server_handle(srv, BUDGET);
		/* the exit info is polled: the kernel has no fd to wait on */
		if (poll(fds, 2, opt.busy_poll ? 0 : 100) < 0 && errno != EINTR) {
			logmsg("poll: %s", strerror(errno));
			return EXIT_RUNTIME;
		}
		if (exit_kind(d->skel))
			return EXIT_EJECTED;
		if (fds[0].revents) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				logmsg("%s, stopping", strsignal((int)si.ssi_signo));
			return EXIT_OK;
		}
		if (fds[1].revents)
			shj_server_handle(srv, BUDGET);
		if (opt.stats_secs && now_secs() >= next_stats) {
			print_stats(d);
			next_stats += opt.stats_secs;
		}
	}
}

int main(int argc, char **argv)
{
	static struct daemon d;
	struct shinjuku_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	struct shj_limits lim = {
		.sessions = MAX_SESSIONS,
		.sessions_per_uid = MAX_SESSIONS / 4,
		.sessions_root = ROOT_SESSIONS,
		.sessions_per_client = 8,
	};
	struct shj_sched sched;
	int ret, err, sigfd, ncpus;

	ret = parse_args(argc, argv);
	if (ret >= 0)
		return ret;
	libbpf_set_print(libbpf_print);
	if (!opt.dry_run) {
		ret = check_kernel();
		if (ret >= 0)
			return ret;
	}
	ret = raise_nofile();
	if (ret >= 0)
		return ret;
	ret = take_lock();
	if (ret >= 0)
		return ret;

	sigfd = signal_fd();
	if (sigfd < 0) {
		logmsg("signalfd: %s", strerror(errno));
		return EXIT_RUNTIME;
	}

	skel = shinjuku_bpf__open();
	if (!skel) {
		logmsg("cannot open the BPF object: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	skel->rodata->slice_ns = opt.slice_us * 1000;
	skel->rodata->nr_levels = (u32)opt.qos_levels;
	skel->rodata->switch_all = opt.switch_all;
	skel->rodata->daemon_tgid = getpid();
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 1 || ncpus > SHJ_MAX_CPUS) {
		logmsg("%d possible CPUs: this build handles 1..%d", ncpus, SHJ_MAX_CPUS);
		ret = EXIT_ENV;
		goto out;
	}
	skel->rodata->nr_cpus = (u32)ncpus;
	/* room for every registered thread in the retry queue (each once) */
	bpf_map__set_max_entries(skel->maps.nudge_retry, (u32)opt.max_threads);
	if (!opt.switch_all)
		skel->struct_ops.shinjuku_ops->flags |= kern.switch_partial;
	skel->struct_ops.shinjuku_ops->timeout_ms = (u32)opt.watchdog_ms;
	/* a waiting thread runs within about twice starve_ns: well inside
	 * the watchdog's timeout, however short that was set */
	if (opt.watchdog_ms && opt.watchdog_ms * 1000000ULL / 4 < SHJ_STARVE_NS_DEFAULT)
		skel->rodata->starve_ns = opt.watchdog_ms * 1000000ULL / 4;
	if (opt.dry_run) {	/* the maps, and the program that writes them */
		struct bpf_program *prog;

		bpf_map__set_autocreate(skel->maps.shinjuku_ops, false);
		bpf_object__for_each_program(prog, skel->obj)
			bpf_program__set_autoload(prog, prog == skel->progs.shinjuku_apply);
	}
	if (opt.verbose)
		verifier_stats_setup(skel);
	err = shinjuku_bpf__load(skel);
	if (opt.verbose)
		verifier_stats_print(skel);
	if (err) {
		logmsg("cannot load the scheduler: %s%s", strerror(-err),
		       err == -EPERM ? " (run as root)" : "");
		ret = err == -EPERM ? EXIT_ENV : EXIT_RUNTIME;
		goto out;
	}
	if (opt.dry_run)
		goto serve;
	link = bpf_map__attach_struct_ops(skel->maps.shinjuku_ops);
	if (link) {
		char buf[512];

		/* ops.init ran: the BPF object's own choices are known */
		kern.fallbacks |= skel->bss->compat_fallbacks;
		logmsg("kernel %s; fallbacks: %s", kern.release,
		       fallbacks_str(kern.fallbacks, buf, sizeof(buf)));
	}
	if (!link) {
		err = -errno;
		if (err == -EBUSY || err == -EEXIST) {
			logmsg("cannot attach: another sched_ext scheduler is attached");
			ret = EXIT_ENV;
		} else {
			logmsg("cannot attach the scheduler: %s", strerror(-err));
			ret = err == -EPERM ? EXIT_ENV : EXIT_RUNTIME;
		}
		goto out;
	}
	if (opt.prog_stats && bpf_enable_stats(BPF_STATS_RUN_TIME) < 0)
		logmsg("--prog-stats: cannot enable BPF run-time stats: %s", strerror(errno));
serve:
	sched.tasks_fd = bpf_map__fd(skel->maps.shj_tasks);
	sched.rt_fd = bpf_map__fd(skel->maps.shj_rt);
	sched.apply_fd = bpf_program__fd(skel->progs.shinjuku_apply);
	/* a dry run has no scheduler to say when it is gone (-ESTALE) */
	sched.mark_fd = opt.no_direct_marks || opt.dry_run ? -1 :
			bpf_program__fd(skel->progs.shinjuku_mark);
	sched.dry_run = opt.dry_run;
	sched.nr_levels = (unsigned int)opt.qos_levels;
	sched.collect = collect_stats;
	sched.ctx = &d;
	d.skel = skel;
	lim.threads = (unsigned int)opt.max_threads;
	lim.threads_per_uid = opt.max_threads_uid ? (unsigned int)opt.max_threads_uid :
			      lim.threads / 4 ? lim.threads / 4 : 1;
	err = shj_server_open(&d.srv, &sched, &lim);
	if (err) {
		logmsg("cannot create the request queue %s and %s: %s",
		       SHJ_REQUEST_QUEUE, SHJ_PID_FILE, strerror(-err));
		ret = err == -ENOENT || err == -ENOSYS ? EXIT_ENV : EXIT_RUNTIME;
		goto out;
	}
	logmsg("%s (%s mode, %llu levels, slice %llu us); serving on mqueue %s%s",
	       opt.dry_run ? "dry run: maps only, no scheduler attached" : "scheduler attached",
	       opt.switch_all ? "switch-all" : "partial",
	       (unsigned long long)opt.qos_levels,
	       (unsigned long long)opt.slice_us, SHJ_REQUEST_QUEUE,
	       sched.mark_fd < 0 ? "" : ", direct marks on " SHJ_MARK_SOCKET);
	/* attached and serving: ready, for systemd's Type=notify */
	err = shj_notify("READY=1");
	if (err)
		logmsg("cannot tell the service manager we are ready: %s", strerror(-err));

	ret = serve(&d, sigfd);

	print_stats(&d);
	shj_server_close(&d.srv);
	if (ret == EXIT_EJECTED) {
		const struct shj_exit_info *ei = &skel->bss->exit_info;

		logmsg("the kernel ejected the scheduler: %s (kind %d, code %lld): %s%s%s",
		       exit_kind_str(ei->kind), ei->kind,
		       (long long)ei->exit_code, ei->reason,
		       ei->msg[0] ? ": " : "", ei->msg);
	}
out:
	bpf_link__destroy(link);
	shinjuku_bpf__destroy(skel);
	shj_server_unlock(lock_fd);
	if (ret == EXIT_OK && !opt.dry_run)
		logmsg("scheduler detached");
	return ret;
}
