/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * echo-server: a UDP echo server in the Shinjuku worker model, on
 * libshinjuku. The main thread is the dispatcher: it receives each request
 * and hands it to an idle worker (examples/workers.c); the worker spins for
 * the request's service time (CPU time) and sends the reply -- the request
 * itself, echoed. With more workers than CPUs and shinjukud running, short
 * requests are not stuck behind long ones.
 *
 * A request is one datagram: "ID SERVICE_US PAYLOAD". Replies go to the
 * sender. UDP, so that one thread can take every request as it comes.
 *
 * Build against an installed library:
 *   cc echo-server.c workers.c $(pkg-config --cflags --libs shinjuku) -pthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <shinjuku.h>
#include "workers.h"

#define SLOTS		4096	/* requests in flight at most */
#define MSG_MAX		1024

static struct {
	int port, workers, qos, spin, no_register;
} opt = { .port = 7007, .workers = 4 };

static struct slot {
	struct sockaddr_in from;
	size_t len;
	char msg[MSG_MAX];
} slots[SLOTS];
static int sock;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: echo-server [OPTION]...\n"
"A UDP echo server on 127.0.0.1 in the Shinjuku worker model: a dispatcher\n"
"hands each request (\"ID SERVICE_US PAYLOAD\") to an idle worker, which\n"
"spins SERVICE_US of CPU time and echoes the request back.\n"
"\n"
"  -p, --port PORT     UDP port (default 7007; 0 picks a free one)\n"
"  -w, --workers N     worker threads, 1..%d (default 4); more than CPUs\n"
"                      is the point\n"
"  -q, --qos LEVEL     QoS level of the workers (default 0)\n"
"      --spin          idle workers spin, marked idle (default: they block)\n"
"  -n, --no-register   do not register: the kernel's own scheduler\n"
"  -h, --help          print this help and exit\n"
"\n"
"Prints 'listening on 127.0.0.1:PORT' and 'worker I tid T' on stdout once\n"
"ready. Stops on SIGINT/SIGTERM. Exit status: 0 stopped; 1 bad usage;\n"
"2 the workers could not register; 3 network error.\n", WK_MAX_WORKERS);
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* A worker finished request id: echo it (sendto is thread-safe). */
static void reply(void *ctx, uint64_t id)
{
	struct slot *s = &slots[id % SLOTS];

	sendto(sock, s->msg, s->len, 0, (struct sockaddr *)&s->from, sizeof(s->from));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "qos", required_argument, NULL, 'q' },
		{ "spin", no_argument, NULL, 's' },
		{ "no-register", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	struct wk_config cfg;
	struct wk_pool *pool;
	pid_t tids[WK_MAX_WORKERS];
	uint64_t next = 0;
	sigset_t set;
	int c, i, n, err, sfd;

	while ((c = getopt_long(argc, argv, "p:w:q:nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_int(optarg, 0, 65535, &opt.port))
				goto bad;
			break;
		case 'w':
			if (parse_int(optarg, 1, WK_MAX_WORKERS, &opt.workers))
				goto bad;
			break;
		case 'q':
			if (parse_int(optarg, 0, SHJ_QOS_LEVELS_MAX - 1, &opt.qos))
				goto bad;
			break;
		case 's':
			opt.spin = 1;
			break;
		case 'n':
			opt.no_register = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 1;
	}

	/* every thread inherits the mask; the dispatcher reads the signals */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)opt.port);
	if (sfd < 0 || sock < 0 ||
	    bind(sock, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockname(sock, (struct sockaddr *)&addr, &alen)) {
		fprintf(stderr, "echo-server: port %d: %s\n", opt.port, strerror(errno));
		return 3;
	}

	cfg = (struct wk_config){
		.workers = opt.workers, .qos = opt.qos,
		.wait = opt.spin ? WK_SPIN : WK_BLOCK, .shinjuku = !opt.no_register,
	};
	err = wk_start(&pool, &cfg, reply, NULL);
	if (err) {
		fprintf(stderr, "echo-server: workers: %s\n", shj_strerror(err));
		return 2;
	}
	printf("listening on 127.0.0.1:%d with %d workers%s\n", ntohs(addr.sin_port),
	       opt.workers, opt.no_register ? " (not registered)" : "");
	n = wk_tids(pool, tids, WK_MAX_WORKERS);
	for (i = 0; i < n; i++)
		printf("worker %d tid %d\n", i, (int)tids[i]);
	fflush(stdout);

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = sock, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct slot *s = &slots[next % SLOTS];
		socklen_t flen = sizeof(s->from);
		unsigned long long id;
		double service_us;
		ssize_t len;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		if (!(fds[0].revents & POLLIN))
			continue;
		len = recvfrom(sock, s->msg, sizeof(s->msg) - 1, 0,
			       (struct sockaddr *)&s->from, &flen);
		if (len <= 0)
			continue;
		s->msg[len] = '\0';
		s->len = (size_t)len;
		if (sscanf(s->msg, "%llu %lf", &id, &service_us) != 2 ||
		    service_us < 0 || service_us > 10e6)
			continue;	/* not a request: dropped */
		if (wk_submit(pool, next, (uint64_t)(service_us * 1e3)))
			continue;	/* overloaded: dropped, the client times out */
		next++;
	}
	fprintf(stderr, "echo-server: stopping\n");
	wk_stop(pool);
	shj_close();
	return 0;
bad:
	fprintf(stderr, "echo-server: bad value '%s' for -%c\n", optarg, c);
	usage(stderr);
	return 1;
}
