/* SPDX-License-Identifier: GPL-2.0 */
/* shinjukud's side of the protocol: the public queue, client sessions on
 * their own queues, the threads they registered and who may do what to
 * them. Single-threaded: the caller's loop waits for shj_server_fd() to be
 * readable and calls shj_server_handle(), which serves a bounded amount. */
#ifndef SHJ_SERVER_H
#define SHJ_SERVER_H

#include <mqueue.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../proto/proto.h"
#include "tasks.h"

#define SHJ_NIL		0xffffffffu	/* no thread, client or session (index) */

/* A client process: its sessions and the threads it registered are its
 * own, whichever session did it, until it exits. */
struct shj_client {
	uint32_t gen;		/* bumped when the slot is freed */
	int used;
	pid_t pid;
	uid_t uid;		/* at its first session */
	uint32_t account;	/* what uid holds (index) */
	int pidfd;		/* readable once the process exits */
	uint32_t sessions;	/* first of its sessions */
	uint32_t threads;	/* first of the threads it registered */
	uint32_t hnext;		/* next in its hash chain (by pid) */
};

/* What a uid holds, for its quotas: while it has a client on record. */
struct shj_account {
	uid_t uid;
	unsigned int clients, sessions, threads;	/* 0 clients: a free slot */
	uint32_t hnext;		/* next in its hash chain (by uid) */
};

struct shj_session {
	uint32_t gen;		/* bumped when the slot is freed */
	int used;
	unsigned int client;	/* its process (index) */
	uint32_t cnext;		/* next session of that process */
	uid_t uid;		/* owner of its queues */
	int deferred_err;	/* first error of a one-way request, for SYNC */
	uint64_t nonce;		/* from OPEN: in every reply */
	mqd_t req, rep;
	int req_fd;		/* the process's descriptor of req */
	dev_t req_dev;		/* the request queue, to know it again */
	ino_t req_ino;
	char req_name[SHJ_QUEUE_NAME_MAX], rep_name[SHJ_QUEUE_NAME_MAX];
};

struct shj_thread {
	pid_t tid;		/* 0: a free slot */
	pid_t pid;
	uid_t uid;		/* of its process at registration */
	int pidfd;		/* the thread's own: all is done through it */
	uint32_t gen;		/* bumped when the slot is freed */
	uint32_t hnext;		/* next in its hash chain (free: free list) */
	uint32_t prev, next;	/* the threads of its client */
	unsigned int client;	/* the process that registered it (index) */
	struct shj_task state;	/* as written into shj_tasks */
};

struct shj_server_stats {
	uint64_t requests;	/* messages received */
	uint64_t errors;	/* answered with an error */
	uint64_t dropped;	/* invalid, on the public queue */
	uint64_t sessions;	/* opened */
	uint64_t marks;		/* idle/runnable marks applied */
	uint64_t mark_fds;	/* shinjuku_mark descriptors handed out */
};

/* The scheduler the server drives. */
struct shj_sched {
	int tasks_fd;		/* task storage shj_tasks */
	int rt_fd;		/* task storage shj_rt (runtimes) */
	int apply_fd;		/* syscall program shinjuku_apply */
	int mark_fd;		/* syscall program shinjuku_mark, for clients */
	unsigned int nr_levels;	/* QoS levels 0 .. nr_levels - 1 */
	int dry_run;		/* maps only: leave scheduling policies alone */
	/* STATS: fill kv[0 .. max-1] with every counter; returns how many */
	unsigned int (*collect)(void *ctx, struct shj_kv *kv, unsigned int max);
	void *ctx;
};

/* What clients may hold at once. */
struct shj_limits {
	unsigned int sessions;		/* in all */
	unsigned int sessions_per_uid;	/* root: no limit but sessions */
	unsigned int sessions_root;	/* of sessions, kept for root (shjctl) */
	unsigned int sessions_per_client; /* a process's at once */
	unsigned int threads;		/* registered */
	unsigned int threads_per_uid;	/* root: no limit but threads */
};

struct shj_server {
	mqd_t pub;		/* the public queue: HELLO only */
	int mark_sock;		/* SHJ_MARK_SOCKET: hands out mark_fd */
	int epfd;		/* the public queue, session queues, pidfds */
	struct shj_sched sched;
	struct shj_limits lim;
	struct shj_session *sessions;	/* lim.sessions slots */
	struct shj_client *clients;	/* lim.sessions slots */
	uint32_t *client_hash;		/* by pid: first slot of each chain */
	unsigned int client_bits;	/* of client_hash and account_hash */
	struct shj_account *accounts;	/* lim.sessions slots */
	uint32_t *account_hash;		/* by uid */
	unsigned int nsessions, nclients;	/* open, on record */
	struct shj_thread *threads;	/* lim.threads slots */
	uint32_t *hash;			/* by tid: first slot of each chain */
	unsigned int hash_bits;
	uint32_t free;			/* first free slot */
	unsigned int nthreads;		/* registered */
	struct shj_server_stats stats;
};

/* One daemon at a time: take the lock (SHJ_LOCK_FILE, creating its
 * directory). Returns the lock's descriptor (keep it open), -EBUSY if
 * another daemon holds it, or -errno. */
int shj_server_lock(void);
/* Let go of the lock. */
void shj_server_unlock(int lock_fd);

/* Create the public queue (replacing a stale one) and the tables, then the
 * pid file (SHJ_PID_FILE) that tells clients we serve. Under the lock.
 * 0 or -errno. */
int shj_server_open(struct shj_server *s, const struct shj_sched *sched,
		    const struct shj_limits *lim);
/* Remove the pid file, end every session (threads back to SCHED_OTHER)
 * and remove the queue. */
void shj_server_close(struct shj_server *s);
/* Readable when there is something to serve. */
int shj_server_fd(const struct shj_server *s);
/* Serve what is ready, at most budget events (a request, an exit), one per
 * queue in turn; returns how many. */
int shj_server_handle(struct shj_server *s, unsigned int budget);

#endif
