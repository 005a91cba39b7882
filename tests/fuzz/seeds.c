/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fuzzers' seed corpus, written from the protocol's own structs (so it
 * follows proto.h): seeds DIR writes DIR/req/, DIR/rep/ and DIR/server/,
 * one valid message (or list of messages, for the server) a file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../proto/proto.h"

static const char *dir;

static void put(const char *kind, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, kind);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, kind, name);
	f = fopen(path, "w");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static struct shj_req req(int op)
{
	struct shj_req r;

	memset(&r, 0, sizeof(r));
	r.version = SHJ_PROTO_VERSION;
	r.size = sizeof(r);
	r.op = (uint16_t)op;
	r.seq = 7;
	return r;
}

/* A server input: messages as fuzz_server.c reads them. */
static unsigned char sbuf[8192];
static size_t slen;

static void add(unsigned char ctl, const struct shj_req *r)
{
	sbuf[slen++] = ctl;
	sbuf[slen++] = sizeof(*r);
	memcpy(sbuf + slen, r, sizeof(*r));
	slen += sizeof(*r);
}

int main(int argc, char **argv)
{
	struct shj_req r, hello;
	struct shj_rep_page pg;
	unsigned char rb[1 + 2 + 4 + 8 + sizeof(pg)];
	int op;

	if (argc != 2) {
		fprintf(stderr, "usage: seeds DIR\n");
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0755) && errno != EEXIST) {
		perror(dir);
		return 1;
	}

	/* requests: one of each kind */
	hello = req(SHJ_OP_HELLO);
	hello.pid = 4242;
	hello.fd = 5;
	shj_queue_name(hello.queue, sizeof(hello.queue), 4242, 0, 'q');
	put("req", "hello", &hello, sizeof(hello));
	r = hello;
	r.op = SHJ_OP_OPEN;
	r.nonce = 0x1234;
	shj_queue_name(r.queue, sizeof(r.queue), 4242, 0, 'r');
	put("req", "open", &r, sizeof(r));
	for (op = SHJ_OP_BYE; op < SHJ_OP_MAX; op++) {
		char name[32];

		r = req(op);
		if (op >= SHJ_OP_REGISTER && op <= SHJ_OP_RUNNABLE)
			r.tid = 1;
		if (op == SHJ_OP_REGISTER || op == SHJ_OP_SET_QOS)
			r.qos = 2;
		snprintf(name, sizeof(name), "op%d", op);
		put("req", name, &r, sizeof(r));
	}
	r = req(SHJ_OP_IDLE);
	r.flags = SHJ_REQ_NOREPLY;
	r.count = 3;
	r.tids[0] = 1;
	r.tids[1] = 2;
	r.tids[2] = 3;
	put("req", "batch", &r, sizeof(r));

	/* replies: ctl byte 1 (the call it names), op, seq, nonce, the reply */
	memset(&pg, 0, sizeof(pg));
	pg.rep.version = SHJ_PROTO_VERSION;
	pg.rep.op = SHJ_OP_SYNC;
	pg.rep.size = sizeof(pg.rep);
	pg.rep.seq = 7;
	pg.rep.nonce = 0x1234;
	memset(rb, 0, sizeof(rb));
	rb[0] = 1;
	memcpy(rb + 15, &pg.rep, sizeof(pg.rep));
	put("rep", "sync", rb, 15 + sizeof(pg.rep));
	pg.rep.status = -ENOENT;
	memcpy(rb + 15, &pg.rep, sizeof(pg.rep));
	put("rep", "error", rb, 15 + sizeof(pg.rep));
	pg.rep.status = 0;
	pg.rep.op = SHJ_OP_LIST;
	pg.rep.size = sizeof(pg);
	pg.count = 2;
	pg.th[0].tid = 10;
	pg.th[1].tid = 11;
	memcpy(rb + 15, &pg, sizeof(pg));
	put("rep", "list", rb, 15 + sizeof(pg));
	pg.rep.op = SHJ_OP_STATS;
	pg.count = 1;
	snprintf(pg.kv[0].key, sizeof(pg.kv[0].key), "enqueue");
	memcpy(rb + 15, &pg, sizeof(pg));
	put("rep", "stats", rb, 15 + sizeof(pg));

	/* the server: a client's life (ctl 4: tids 1..8 are real threads) */
	slen = 0;
	r = req(SHJ_OP_REGISTER);
	r.tid = 1;
	r.qos = 1;
	add(4, &r);
	r.tid = 2;
	add(4, &r);
	r.tid = 3;	/* another process's */
	add(4, &r);
	r = req(SHJ_OP_SET_QOS);
	r.tid = 1;
	r.qos = 3;
	add(4, &r);
	r = req(SHJ_OP_IDLE);
	r.count = 3;
	r.tids[0] = 1;
	r.tids[1] = 2;
	r.tids[2] = 5;	/* exited */
	add(4, &r);
	r.flags = SHJ_REQ_NOREPLY;
	r.op = SHJ_OP_RUNNABLE;
	add(4, &r);
	add(4, &(struct shj_req){ .version = SHJ_PROTO_VERSION, .size = sizeof(r),
				  .op = SHJ_OP_SYNC });
	r = req(SHJ_OP_LIST);
	add(0, &r);
	r = req(SHJ_OP_STATS);
	r.index = 1;
	add(0, &r);
	r = req(SHJ_OP_UNREGISTER);
	r.tid = 2;
	add(4, &r);
	put("server", "life", sbuf, slen);
	slen = 0;
	r = req(SHJ_OP_REGISTER);
	r.tid = 1;
	add(4, &r);
	r = req(SHJ_OP_BYE);
	add(0, &r);
	hello.pid = 0;
	add(1 | 8, &hello);	/* HELLO naming the client's queue again */
	put("server", "bye-hello", sbuf, slen);
	slen = 0;
	add(1, &hello);		/* the public queue: a HELLO for nobody */
	put("server", "public", sbuf, slen);
	slen = 0;
	r = req(SHJ_OP_REGISTER);
	r.tid = 6;		/* the client's main thread: its own too */
	add(4, &r);
	put("server", "main-thread", sbuf, slen);
	return 0;
}
