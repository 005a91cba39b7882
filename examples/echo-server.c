/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * echo-server: a TCP echo server whose worker threads are scheduled by
 * shinjuku. Each worker registers itself with shj_register(), then accepts
 * connections on the shared listening socket and echoes every byte back.
 *
 * Build against an installed library:
 *   cc echo-server.c $(pkg-config --cflags --libs shinjuku) -pthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <shinjuku.h>

static struct {
	int port, workers, qos, no_register;
} opt = { .port = 7007, .workers = 2 };

static int listen_fd;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: echo-server [OPTION]...\n"
"A TCP echo server on 127.0.0.1 whose worker threads run under shinjuku.\n"
"\n"
"  -p, --port PORT     TCP port (default 7007; 0 picks a free one)\n"
"  -w, --workers N     worker threads, 1..1024 (default 2)\n"
"  -q, --qos LEVEL     QoS level of the workers (default 0)\n"
"  -n, --no-register   do not register the workers (default kernel scheduler)\n"
"  -h, --help          print this help and exit\n"
"\n"
"Each worker prints 'worker I tid T' on stdout once it is ready. Stops on\n"
"SIGINT/SIGTERM. Exit status: 0 stopped; 1 bad usage; 2 a worker could not\n"
"register; 3 network error.\n");
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

static void serve_conn(int fd)
{
	char buf[4096];
	ssize_t n, off, w;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n; off += w) {
			w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0)
				return;
		}
	}
}

static void *worker(void *arg)
{
	int id = (int)(long)arg, err, fd;

	if (!opt.no_register) {
		err = shj_register(0, opt.qos);
		if (err) {
			fprintf(stderr, "echo-server: worker %d: shj_register: %s\n",
				id, shj_strerror(err));
			exit(2);
		}
	}
	printf("worker %d tid %d\n", id, (int)gettid());
	fflush(stdout);
	for (;;) {
		fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		serve_conn(fd);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "qos", required_argument, NULL, 'q' },
		{ "no-register", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	pthread_t tid;
	sigset_t set;
	int c, i, one = 1, sig;

	while ((c = getopt_long(argc, argv, "p:w:q:nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_int(optarg, 0, 65535, &opt.port))
				goto bad;
			break;
		case 'w':
			if (parse_int(optarg, 1, 1024, &opt.workers))
				goto bad;
			break;
		case 'q':
			if (parse_int(optarg, 0, SHJ_QOS_LEVELS_MAX - 1, &opt.qos))
				goto bad;
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

	/* Workers inherit this mask; only main() takes the stop signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)opt.port);
	if (listen_fd < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(listen_fd, 128) ||
	    getsockname(listen_fd, (struct sockaddr *)&addr, &alen)) {
		fprintf(stderr, "echo-server: port %d: %s\n", opt.port, strerror(errno));
		return 3;
	}
	printf("listening on 127.0.0.1:%d with %d workers%s\n",
	       ntohs(addr.sin_port), opt.workers,
	       opt.no_register ? " (not registered)" : "");
	fflush(stdout);

	for (i = 0; i < opt.workers; i++) {
		if (pthread_create(&tid, NULL, worker, (void *)(long)i)) {
			fprintf(stderr, "echo-server: cannot start worker %d\n", i);
			return 3;
		}
		pthread_detach(tid);
	}
	sigwait(&set, &sig);
	fprintf(stderr, "echo-server: %s, stopping\n", strsignal(sig));
	shj_close();
	return 0;
bad:
	fprintf(stderr, "echo-server: bad value '%s' for -%c\n", optarg, c);
	usage(stderr);
	return 1;
}
