/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The wire protocol between libshinjuku and shinjukud, over POSIX message
 * queues. This header is the only definition of it.
 *
 * - shinjukud creates the request queue SHJ_REQUEST_QUEUE, mode 0622: any
 *   local user may write to it, only the daemon reads it.
 * - A client creates its own reply queue, named "/shj-<pid>-<n>", mode 0600,
 *   and names it in SHJ_OP_HELLO. The daemon opens it for writing, checks
 *   that it belongs to the uid that owns <pid>, and answers there with a
 *   session id and a secret that later requests must carry.
 * - Every message has a fixed size: sizeof(struct shj_req) one way,
 *   sizeof(struct shj_rep) the other. A reply carries the request's seq.
 * - A request that fails validation gets an error reply when its session is
 *   known and valid; otherwise it is dropped and counted.
 */
#ifndef SHJ_PROTO_H
#define SHJ_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SHJ_PROTO_VERSION	1
#define SHJ_REQUEST_QUEUE	"/shinjukud"
#define SHJ_QUEUE_NAME_MAX	32	/* with the NUL */
#define SHJ_REPLY_QUEUE_DEPTH	8	/* fits the default fs.mqueue.msg_max */

enum shj_op {
	SHJ_OP_HELLO = 1,	/* open a session; reply_queue names the reply queue */
	SHJ_OP_BYE,		/* close the session; its threads leave SCHED_EXT */
	SHJ_OP_REGISTER,	/* tid, qos: a thread of pid into SCHED_EXT */
	SHJ_OP_UNREGISTER,	/* tid: back to SCHED_OTHER */
	SHJ_OP_SET_QOS,		/* tid, qos */
	SHJ_OP_IDLE,		/* tid: mark idle (no request to serve) */
	SHJ_OP_RUNNABLE,	/* tid: mark runnable (has a request) */
	SHJ_OP_STATS,		/* index: page of counters, answered with a
				 * struct shj_rep_page (needs a reply queue
				 * whose messages are that large) */
	SHJ_OP_MAX,
};

struct shj_req {
	uint16_t version;	/* SHJ_PROTO_VERSION */
	uint16_t op;		/* enum shj_op */
	uint32_t size;		/* sizeof(struct shj_req) */
	uint32_t seq;		/* echoed in the reply */
	uint32_t session;	/* from the HELLO reply; 0 in HELLO */
	uint64_t secret;	/* from the HELLO reply; 0 in HELLO */
	int32_t pid;		/* the sending process */
	int32_t tid;		/* all but HELLO, BYE: a thread of pid */
	int32_t qos;		/* REGISTER, SET_QOS: 0 .. SHJ_QOS_MAX - 1 */
	uint32_t index;		/* STATS: page; otherwise 0 */
	char reply_queue[SHJ_QUEUE_NAME_MAX]; /* HELLO: "/shj-<pid>-<n>" */
};

struct shj_rep {
	uint16_t version;
	uint16_t op;		/* the request's op */
	uint32_t size;		/* sizeof(struct shj_rep) */
	uint32_t seq;		/* the request's seq */
	int32_t status;		/* 0 or a negative errno */
	uint32_t session;	/* HELLO: the new session */
	uint32_t reserved;
	uint64_t secret;	/* HELLO: the session's secret */
};

/* STATS answers in pages of named counters. Names are stable: README.md
 * lists them. */
#define SHJ_KV_PER_PAGE		32
#define SHJ_KV_KEY_MAX		32	/* with the NUL */
#define SHJ_STATS_PAGES_MAX	64

struct shj_kv {
	char key[SHJ_KV_KEY_MAX];
	uint64_t value;
};

struct shj_rep_page {
	struct shj_rep rep;	/* rep.size = sizeof(struct shj_rep_page) */
	uint32_t count;		/* entries used in kv[] */
	uint32_t more;		/* another page follows */
	struct shj_kv kv[SHJ_KV_PER_PAGE];
};

/* Check a received request: 0, or the negative errno to answer with. */
int shj_req_check(const void *buf, size_t len);

/* The size of the reply to a request of this op. */
size_t shj_rep_size(int op);

/* Check a received reply against the request it answers: 0 or -errno. */
int shj_rep_check(const void *buf, size_t len, const struct shj_req *req);

/* Write the reply-queue name for pid's n-th queue: 0, or -ENAMETOOLONG. */
int shj_reply_queue_name(char *buf, size_t size, pid_t pid, unsigned int n);

/* Does name have the form of a reply queue of pid? */
int shj_reply_queue_valid(const char *name, pid_t pid);

#endif /* SHJ_PROTO_H */
