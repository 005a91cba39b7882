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
"  list            registered threads: tid, pid, uid, QoS level, idle mark,\n"
"                  CPU time under the scheduler (other users' only for root)\n"
"\n"
"  -h, --help      print this help and exit\n"
"  -V, --version   print the version and exit\n"
"\n"
"Exit status: 0 done; 1 bad usage; 2 shinjukud is not running or failed.\n");
}

static struct shj_kv kv[SHJ_STATS_MAX];

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

static int nkv;

static void take_kv(const struct shj_rep_page *pg)
{
	uint32_t i;

	for (i = 0; i < pg->count && nkv < SHJ_STATS_MAX; i++)
		kv[nkv++] = pg->kv[i];
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
	int json = 0, n, i, err;

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
	if (!cmd || (strcmp(cmd, "stats") && strcmp(cmd, "status") &&
		     strcmp(cmd, "list")) || (json && strcmp(cmd, "stats"))) {
		usage(stderr);
		return 1;
	}

	if (!strcmp(cmd, "list")) {
		printf("%8s %8s %6s %4s %-4s %12s\n", "TID", "PID", "UID", "QOS",
		       "MARK", "RUNTIME_MS");
		err = fetch(SHJ_OP_LIST, print_threads);
	} else {
		err = fetch(SHJ_OP_STATS, take_kv);
	}
	if (err) {
		fprintf(stderr, "shjctl: %s\n", err == -ECONNREFUSED ?
			"shinjukud is not running" : strerror(-err));
		return 2;
	}
	n = nkv;
	if (!strcmp(cmd, "list"))
		return 0;
	if (!strcmp(cmd, "status")) {
		printf("shinjukud: running, %s mode, %llu QoS levels, slice %llu us\n"
		       "load: %llu threads registered, %llu sessions opened, %llu requests (%llu errors, %llu dropped)\n",
		       get(n, "switch_all") ? "switch-all" : "partial",
		       get(n, "qos_levels"), get(n, "slice_ns") / 1000,
		       get(n, "threads"),
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
