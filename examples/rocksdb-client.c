/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rocksdb-client: sends requests to rocksdb-server, one at a time, and checks
 * every reply against what the database must hold (keys k%09u, values made
 * from their number: examples/rocks.h). Or, with --raw, sends one datagram
 * and prints the reply.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "rocks.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: rocksdb-client [OPTION]... COUNT\n"
"       rocksdb-client [-p PORT] --raw TEXT\n"
"Send COUNT requests to rocksdb-server on UDP 127.0.0.1, one at a time: every\n"
"--scan-every-th a SCAN from a known key, every 10th (the 5th, 15th...) a GET of a key the\n"
"database does not hold, the others GETs of random keys. Check each reply:\n"
"a GET's value, a SCAN's count, last key and checksum. Exit 0 if every one\n"
"was right. --raw: send TEXT as it is, print the reply (exit 0 if one came).\n"
"\n"
"  -p, --port PORT      the server's port (default 7008)\n"
"      --keys N         keys the database holds (default %u)\n"
"      --value-size B   its value size (default 100)\n"
"      --scan-keys K    keys a SCAN reads (the server's --scan-keys; 1000)\n"
"      --scan-every M   one request in M is a SCAN (default 10; 0: none)\n"
"      --seed N         which keys (default 1)\n"
"      --raw TEXT       send one datagram\n"
"  -h, --help\n"
"A reply missing for 5 s counts as wrong.\n", RK_DEFAULT_KEYS);
}

static unsigned long long rng;
static uint32_t pick(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)(((rng * 2685821657736338717ULL) >> 32) % n);
}

/* send req, wait for the reply that starts with its id ("ID "); its length */
static ssize_t ask(int fd, const char *req, char *rep, size_t cap)
{
	size_t idlen = strcspn(req, " ");
	ssize_t n;

	if (send(fd, req, strlen(req), 0) < 0)
		return -1;
	while ((n = recv(fd, rep, cap - 1, 0)) >= 0) {
		rep[n] = '\0';
		if ((size_t)n > idlen && !memcmp(rep, req, idlen) && rep[idlen] == ' ')
			return n;
		/* else a late reply to an earlier request: skip */
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", 1, NULL, 'p' }, { "keys", 1, NULL, 'k' },
		{ "value-size", 1, NULL, 'v' }, { "scan-keys", 1, NULL, 'K' },
		{ "scan-every", 1, NULL, 'm' }, { "seed", 1, NULL, 's' },
		{ "raw", 1, NULL, 'r' }, { "help", 0, NULL, 'h' }, { 0 }
	};
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	long port = 7008, keys = RK_DEFAULT_KEYS, vlen = 100, scank = 1000, every = 10;
	long count = 0, seed = 1, ok = 0, gets = 0, scans = 0, misses = 0, i;
	const char *raw = NULL;
	char req[128], rep[RK_VALUE_MAX + 256], want[RK_VALUE_MAX + 256], val[RK_VALUE_MAX];
	char *end;
	int c, fd;

	while ((c = getopt_long(argc, argv, "p:h", lo, NULL)) != -1) {
		long *dst = NULL, min = 0, max = 0;

		switch (c) {
		case 'p': dst = &port; min = 1; max = 65535; break;
		case 'k': dst = &keys; min = 1; max = RK_KEYS_MAX; break;
		case 'v': dst = &vlen; min = 11; max = RK_VALUE_MAX; break;
		case 'K': dst = &scank; min = 1; max = 1000000; break;
		case 'm': dst = &every; min = 0; max = 1000000; break;
		case 's': dst = &seed; min = 0; max = 1L << 40; break;
		case 'r': raw = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
		if (dst) {
			errno = 0;
			*dst = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || *dst < min || *dst > max) {
				fprintf(stderr, "rocksdb-client: bad value '%s'\n", optarg);
				return 1;
			}
		}
	}
	if (!raw) {
		if (optind != argc - 1 || (count = strtol(argv[optind], &end, 10)) <= 0 || *end) {
			usage(stderr);
			return 1;
		}
	} else if (optind != argc) {
		usage(stderr);
		return 1;
	}
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		perror("rocksdb-client");
		return 1;
	}
	if (raw) {
		ssize_t n;

		if (send(fd, raw, strlen(raw), 0) < 0 || (n = recv(fd, rep, sizeof(rep) - 1, 0)) < 0) {
			perror("rocksdb-client: --raw");
			return 1;
		}
		rep[n] = '\0';
		printf("%s\n", rep);
		return 0;
	}
	rng = (unsigned long long)seed * 0x9E3779B97F4A7C15ULL + 1;
	for (i = 0; i < count; i++) {
		char key[RK_KEY_LEN + 1];
		uint32_t k = pick((uint32_t)keys);

		rk_key(key, k);
		if (every && i % every == every - 1) {
			/* SCAN from key k: scank keys, fewer near the end */
			uint32_t n = (uint32_t)(keys - k < scank ? keys - k : scank), j;
			uint64_t sum = RK_FNV_INIT;
			char last[RK_KEY_LEN + 1];

			for (j = 0; j < n; j++) {
				rk_value(val, k + j, (size_t)vlen);
				sum = rk_fnv(sum, val, (size_t)vlen);
			}
			rk_key(last, k + n - 1);
			snprintf(req, sizeof(req), "s%ld SCAN %s", i, key);
			snprintf(want, sizeof(want), "s%ld SCAN %u %s %016llx", i, n, last,
				 (unsigned long long)sum);
			scans++;
		} else if (i % 10 == 4) {	/* a key the database lacks */
			snprintf(req, sizeof(req), "g%ld GET %sx", i, key);
			snprintf(want, sizeof(want), "g%ld NOTFOUND", i);
			misses++;
		} else {
			rk_value(val, k, (size_t)vlen);
			snprintf(req, sizeof(req), "g%ld GET %s", i, key);
			snprintf(want, sizeof(want), "g%ld VALUE %.*s", i, (int)vlen, val);
			gets++;
		}
		if (ask(fd, req, rep, sizeof(rep)) < 0)
			fprintf(stderr, "rocksdb-client: '%s': no reply\n", req);
		else if (strcmp(rep, want))
			fprintf(stderr, "rocksdb-client: '%s': got '%.80s', want '%.80s'\n", req, rep, want);
		else
			ok++;
	}
	close(fd);
	printf("rocksdb-client: %ld/%ld replies right (%ld GET, %ld GET of absent keys, %ld SCAN)\n",
	       ok, count, gets, misses, scans);
	return ok == count ? 0 : 1;
}
