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
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

typedef __u32 u32;
typedef __u64 u64;
#include "../bpf/shj_shared.h"
#include "shinjuku.skel.h"
#include "server.h"

#define SHJD_VERSION "0.1.0"

enum {
	EXIT_OK = 0,		/* stopped by SIGINT/SIGTERM */
	EXIT_USAGE = 1,		/* bad option or value */
	EXIT_ENV = 2,		/* no sched_ext, another scheduler, no privilege */
	EXIT_EJECTED = 3,	/* the kernel stopped the scheduler */
	EXIT_RUNTIME = 4,	/* anything else */
};

#define MAX_SESSIONS	256
#define MAX_THREADS	65536
#define SCX_SYSFS	"/sys/kernel/sched_ext"

static struct {
	u64 slice_us;
	unsigned int stats_secs;
	int verbose;
} opt = {
	.slice_us = SHJ_SLICE_NS_DEFAULT / 1000,
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: shinjukud [OPTION]...\n"
"Load the shinjuku sched_ext scheduler and serve libshinjuku clients.\n"
"Runs in the foreground until SIGINT or SIGTERM; logs on stderr.\n"
"\n"
"  -s, --slice-us US   time slice of a thread, in microseconds (default %llu,\n"
"                      %llu..%llu)\n"
"      --stats SECS    print the counters every SECS seconds (default: only\n"
"                      at exit)\n"
"  -v, --verbose       print libbpf's debug output\n"
"  -V, --version       print the version and exit\n"
"  -h, --help          print this help and exit\n"
"\n"
"Exit status: 0 stopped by a signal; 1 bad usage; 2 the kernel has no\n"
"sched_ext, another scheduler is attached or privileges are missing;\n"
"3 the kernel ejected the scheduler (its reason is printed); 4 other error.\n",
		SHJ_SLICE_NS_DEFAULT / 1000, SHJ_SLICE_NS_MIN / 1000,
		SHJ_SLICE_NS_MAX / 1000);
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
	enum { OPT_STATS = 256 };
	static const struct option longopts[] = {
		{ "slice-us", required_argument, NULL, 's' },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	u64 v;
	int c;

	while ((c = getopt_long(argc, argv, "s:vVh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_u64(optarg, SHJ_SLICE_NS_MIN / 1000,
				      SHJ_SLICE_NS_MAX / 1000, &opt.slice_us)) {
				logmsg("--slice-us: '%s' is not a number of microseconds in %llu..%llu",
				       optarg, SHJ_SLICE_NS_MIN / 1000,
				       SHJ_SLICE_NS_MAX / 1000);
				return EXIT_USAGE;
			}
			break;
		case OPT_STATS:
			if (parse_u64(optarg, 1, 86400, &v)) {
				logmsg("--stats: '%s' is not a number of seconds in 1..86400",
				       optarg);
				return EXIT_USAGE;
			}
			opt.stats_secs = (unsigned int)v;
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

/* Can we attach here? EXIT_ENV with the reason, or -1. */
static int check_kernel(void)
{
	char state[64], ops[128];

	if (access(SCX_SYSFS, F_OK)) {
		logmsg("this kernel has no sched_ext (CONFIG_SCHED_CLASS_EXT is not set); "
		       "run under a kernel that has it, e.g. with tests/vm/run");
		return EXIT_ENV;
	}
	read_line(SCX_SYSFS "/state", state, sizeof(state));
	if (strcmp(state, "disabled")) {
		read_line(SCX_SYSFS "/root/ops", ops, sizeof(ops));
		logmsg("another sched_ext scheduler is attached ('%s', state %s); stop it first",
		       ops[0] ? ops : "unknown", state);
		return EXIT_ENV;
	}
	return -1;
}

static void print_stats(const struct shinjuku_bpf *skel,
			const struct shj_server *srv)
{
	static const char *names[] = SHJ_STAT_NAMES;
	int ncpus = libbpf_num_possible_cpus(), fd, cpu;
	u64 sums[SHJ_NR_STATS] = { 0 }, *vals;
	u32 idx;

	fd = bpf_map__fd(skel->maps.shj_stats);
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return;
	for (idx = 0; idx < SHJ_NR_STATS; idx++) {
		if (bpf_map_lookup_elem(fd, &idx, vals))
			continue;
		for (cpu = 0; cpu < ncpus; cpu++)
			sums[idx] += vals[cpu];
	}
	free(vals);

	fprintf(stderr, "shinjukud: stats:");
	for (idx = 0; idx < SHJ_NR_STATS; idx++)
		fprintf(stderr, " %s=%llu", names[idx], (unsigned long long)sums[idx]);
	fprintf(stderr, " requests=%llu errors=%llu dropped=%llu sessions=%llu threads=%u\n",
		(unsigned long long)srv->stats.requests,
		(unsigned long long)srv->stats.errors,
		(unsigned long long)srv->stats.dropped,
		(unsigned long long)srv->stats.sessions, srv->nthreads);
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

/* Serve until a signal or the kernel's ejection. */
static int serve(struct shinjuku_bpf *skel, struct shj_server *srv, int sigfd)
{
	struct pollfd fds[2 + MAX_SESSIONS];
	double next_stats = now_secs() + opt.stats_secs;
	int n, i;

	for (;;) {
		fds[0] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = (int)srv->req, .events = POLLIN };
		n = 2 + shj_server_pollfds(srv, fds + 2, MAX_SESSIONS);
		/* the exit info is polled: the kernel has no fd to wait on */
		if (poll(fds, (nfds_t)n, 100) < 0 && errno != EINTR) {
			logmsg("poll: %s", strerror(errno));
			return EXIT_RUNTIME;
		}
		if (exit_kind(skel))
			return EXIT_EJECTED;
		if (fds[0].revents) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				logmsg("%s, stopping", strsignal((int)si.ssi_signo));
			return EXIT_OK;
		}
		if (fds[1].revents)
			shj_server_handle(srv);
		for (i = 2; i < n; i++)
			if (fds[i].revents)
				shj_server_reap(srv, fds[i].fd);
		if (opt.stats_secs && now_secs() >= next_stats) {
			print_stats(skel, srv);
			next_stats += opt.stats_secs;
		}
	}
}

int main(int argc, char **argv)
{
	struct shinjuku_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	struct shj_server srv;
	int ret, err, sigfd;

	ret = parse_args(argc, argv);
	if (ret >= 0)
		return ret;
	libbpf_set_print(libbpf_print);
	ret = check_kernel();
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
	err = shinjuku_bpf__load(skel);
	if (err) {
		logmsg("cannot load the scheduler: %s%s", strerror(-err),
		       err == -EPERM ? " (run as root)" : "");
		ret = err == -EPERM ? EXIT_ENV : EXIT_RUNTIME;
		goto out;
	}
	link = bpf_map__attach_struct_ops(skel->maps.shinjuku_ops);
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
	err = shj_server_open(&srv, bpf_map__fd(skel->maps.shj_tasks),
			      MAX_SESSIONS, MAX_THREADS);
	if (err) {
		logmsg("cannot create the request queue %s: %s",
		       SHJ_REQUEST_QUEUE, strerror(-err));
		ret = err == -ENOENT || err == -ENOSYS ? EXIT_ENV : EXIT_RUNTIME;
		goto out;
	}
	logmsg("scheduler attached (slice %llu us); serving on mqueue %s",
	       (unsigned long long)opt.slice_us, SHJ_REQUEST_QUEUE);

	ret = serve(skel, &srv, sigfd);

	print_stats(skel, &srv);
	shj_server_close(&srv);
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
	if (ret == EXIT_OK)
		logmsg("scheduler detached");
	return ret;
}
