/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shjctl: ask the running shinjukud how it is doing, over the same message
 * queues as libshinjuku. Needs no privilege.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../libshinjuku/conn.h"

#define SHJCTL_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: shjctl [OPTION] COMMAND\n"
"Query the running shinjukud.\n"
"\n"
"Commands:\n"
"  status          is shinjukud running, with what settings and load\n"
"  stats [--json]  every counter (names: README.md), as name=value lines\n"
"                  or as one JSON object\n"
"\n"
"  -h, --help      print this help and exit\n"
"  -V, --version   print the version and exit\n"
"\n"
"Exit status: 0 done; 1 bad usage; 2 shinjukud is not running or failed.\n");
}

static struct shj_kv kv[SHJ_STATS_MAX];

/* Fetch every counter, page by page. Returns how many, or -errno. */
static int fetch(void)
{
	struct shj_conn c = SHJ_CONN_INIT;
	struct shj_rep_page pg;
	struct shj_req req;
	unsigned int page, n = 0;
	int err;

	err = shj_conn_open(&c, sizeof(pg));
	for (page = 0; !err && page < SHJ_PAGES_MAX; page++) {
		memset(&req, 0, sizeof(req));
		req.op = SHJ_OP_STATS;
		req.index = page;
		err = shj_conn_call(&c, &req, &pg, sizeof(pg));
		if (err)
			break;
		memcpy(kv + n, pg.kv, pg.count * sizeof(pg.kv[0]));
		n += pg.count;
		if (!pg.more)
			break;
	}
	if (!err) {	/* say goodbye; our queue goes with the session */
		memset(&req, 0, sizeof(req));
		req.op = SHJ_OP_BYE;
		shj_conn_call(&c, &req, &pg, sizeof(pg));
	}
	shj_conn_drop(&c);
	return err ? err : (int)n;
}

static unsigned long long get(int n, const char *key)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strncmp(kv[i].key, key, sizeof(kv[i].key)))
			return (unsigned long long)kv[i].value;
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = NULL;
	int json = 0, n, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("shjctl %s\n", SHJCTL_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!cmd && argv[i][0] != '-') {
			cmd = argv[i];
		} else {
			fprintf(stderr, "shjctl: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 1;
		}
	}
	if (!cmd || (strcmp(cmd, "stats") && strcmp(cmd, "status")) ||
	    (json && strcmp(cmd, "stats"))) {
		usage(stderr);
		return 1;
	}

	n = fetch();
	if (n < 0) {
		fprintf(stderr, "shjctl: %s\n", n == -ECONNREFUSED ?
			"shinjukud is not running" : strerror(-n));
		return 2;
	}
	if (!strcmp(cmd, "status")) {
		printf("shinjukud: running, %s mode, %llu QoS levels, slice %llu us, check every %llu us\n"
		       "load: %llu threads registered, %llu sessions opened, %llu requests (%llu errors, %llu dropped)\n",
		       get(n, "switch_all") ? "switch-all" : "partial",
		       get(n, "qos_levels"), get(n, "slice_ns") / 1000,
		       get(n, "preempt_ns") / 1000, get(n, "threads"),
		       get(n, "sessions"), get(n, "requests"), get(n, "errors"),
		       get(n, "dropped"));
	} else if (json) {
		printf("{");
		for (i = 0; i < n; i++)
			printf("%s\"%.*s\":%llu", i ? "," : "", (int)sizeof(kv[i].key),
			       kv[i].key, (unsigned long long)kv[i].value);
		printf("}\n");
	} else {
		for (i = 0; i < n; i++)
			printf("%.*s=%llu\n", (int)sizeof(kv[i].key), kv[i].key,
			       (unsigned long long)kv[i].value);
	}
	return 0;
}
