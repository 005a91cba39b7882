/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* Internal: one client session with shinjukud (libshinjuku and shjctl).
 * Not thread-safe by itself: callers serialise, except that shj_conn_send()
 * may run concurrently with itself in an open session. */
#ifndef SHJ_CONN_H
#define SHJ_CONN_H

#include <mqueue.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../proto/proto.h"

struct shj_conn {
	pid_t pid;		/* process that owns the session; 0: none */
	mqd_t req, rep;		/* our request queue (we write), reply queue */
	char req_name[SHJ_QUEUE_NAME_MAX], rep_name[SHJ_QUEUE_NAME_MAX];
	uint64_t nonce;		/* the session's: every reply carries it */
	uint32_t seq;
	int daemon_fd;		/* pidfd of shinjukud: readable once it exits */
	pid_t daemon_pid;	/* which shinjukud the session is with: its pid */
	unsigned long long daemon_start; /* and start time (a new one: restarted) */
	unsigned int nqueues;	/* queue pairs made so far, for unique names */
	uint16_t version;	/* to speak; 0: SHJ_PROTO_VERSION (tests speak */
	uint32_t req_size;	/* as a newer client: a later version, longer) */
	int mark_fd;		/* the daemon's shinjuku_mark program, or -1 */
};

#define SHJ_CONN_INIT { .req = (mqd_t)-1, .rep = (mqd_t)-1, .daemon_fd = -1, \
			.mark_fd = -1 }

/* Open the session if this process has none (after fork() the parent's is
 * dropped). rep_size: the largest reply expected. 0 or -errno. */
int shj_conn_open(struct shj_conn *c, size_t rep_size);

/* Drop the session's queues without telling the daemon. */
void shj_conn_drop(struct shj_conn *c);

/* Send req (version, size, seq filled in) and wait, bounded, for its reply
 * into rep (rep_size bytes at most): the message on our reply queue with
 * the request's op and seq and the session's nonce; anything else there is
 * discarded. Returns the reply's status or a transport error: -ECONNRESET
 * if shinjukud exited meanwhile (then the request reached no live daemon),
 * -ETIMEDOUT. */
int shj_conn_call(struct shj_conn *c, struct shj_req *req, void *rep,
		  size_t rep_size);

/* Ask the session's daemon for its shinjuku_mark program (SHJ_MARK_SOCKET),
 * into c->mark_fd (closed by shj_conn_drop()). 0 or -errno; -ECONNREFUSED
 * if the peer is not that daemon. */
int shj_conn_get_mark(struct shj_conn *c);

/* Run it: mark tids[0 .. n-1] (n <= SHJ_BATCH_MAX) idle or not, each
 * entry's result into ret[]. 0, or the program's error for all of them
 * (-ESTALE: its scheduler exited) or the kernel's. */
int shj_conn_mark(const struct shj_conn *c, const pid_t *tids, int n, int idle,
		  int *ret);

/* Is the daemon of the session still running? */
int shj_conn_alive(const struct shj_conn *c);

/* Send req without waiting for a reply (SHJ_REQ_NOREPLY requests): 0,
 * -ECONNRESET if shinjukud exited while our queue was full, -ETIMEDOUT. */
int shj_conn_send(struct shj_conn *c, struct shj_req *req);

#endif
