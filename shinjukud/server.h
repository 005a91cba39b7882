/* SPDX-License-Identifier: GPL-2.0 */
/* shinjukud's side of the protocol: the request queue, client sessions, the
 * threads they registered and who may do what to them. Single-threaded: the
 * caller's loop calls shj_server_handle() when the request queue is readable
 * and shj_server_reap() when a client process has exited. */
#ifndef SHJ_SERVER_H
#define SHJ_SERVER_H

#include <mqueue.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "tasks.h"

struct shj_session {
	uint32_t id;		/* 0: free slot */
	uint64_t secret;
	pid_t pid;
	uid_t uid;
	int pidfd;		/* readable once the client process exits */
	int deferred_err;	/* first error of a one-way request, for SYNC */
	mqd_t rep;
	char rep_name[SHJ_QUEUE_NAME_MAX];
};

struct shj_thread {
	pid_t tid, pid;
	uid_t uid;		/* of its process at registration */
	uint32_t session;	/* the session that registered it */
	struct shj_task state;	/* as written into shj_tasks */
};

struct shj_server_stats {
	uint64_t requests;	/* messages received */
	uint64_t errors;	/* answered with an error */
	uint64_t dropped;	/* invalid with no trusted reply path */
	uint64_t sessions;	/* opened */
	uint64_t marks;		/* idle/runnable marks applied */
};

/* The scheduler the server drives. */
struct shj_sched {
	int tasks_fd;		/* task storage shj_tasks */
	int rt_fd;		/* task storage shj_rt (runtimes) */
	int apply_fd;		/* syscall program shinjuku_apply */
	unsigned int nr_levels;	/* QoS levels 0 .. nr_levels - 1 */
	int dry_run;		/* maps only: leave scheduling policies alone */
	/* STATS: fill kv[0 .. max-1] with every counter; returns how many */
	unsigned int (*collect)(void *ctx, struct shj_kv *kv, unsigned int max);
	void *ctx;
};

struct shj_server {
	mqd_t req;
	struct shj_sched sched;
	unsigned int max_sessions, max_sessions_per_uid, max_threads;
	struct shj_session *sessions;
	struct shj_thread *threads;
	unsigned int nthreads;
	uint32_t last_id;
	struct shj_server_stats stats;
};

/* Create the request queue (replacing a stale one) and the tables. 0/-errno */
int shj_server_open(struct shj_server *s, const struct shj_sched *sched,
		    unsigned int max_sessions, unsigned int max_threads);
/* End every session (threads back to SCHED_OTHER) and remove the queue. */
void shj_server_close(struct shj_server *s);
/* Serve every request waiting in the queue; returns how many. */
int shj_server_handle(struct shj_server *s);
/* Fill fds with the pidfds of live sessions; returns how many. */
int shj_server_pollfds(const struct shj_server *s, struct pollfd *fds, int max);
/* End the session whose pidfd is fd (its process exited). */
void shj_server_reap(struct shj_server *s, int fd);

#endif
