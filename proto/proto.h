/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The wire protocol between libshinjuku (and shjctl) and shinjukud, over
 * POSIX message queues. This header is the only definition of it.
 *
 * A message queue does not say who wrote a message, but its mode says who
 * could: so every client talks to the daemon through queues of its own.
 *
 * - shinjukud creates the public queue SHJ_REQUEST_QUEUE, mode 0622: any
 *   local user may write to it, only the daemon reads it. It carries only
 *   SHJ_OP_HELLO, which grants nothing: it names a queue for the daemon to
 *   read, and the daemon answers nothing there.
 * - A client process creates two queues of its own, mode 0600 (only its uid
 *   and root can open them): its request queue "/shj-<pid>-<n>q", which it
 *   writes, and its reply queue "/shj-<pid>-<n>r", which it reads. It sends
 *   SHJ_OP_OPEN on its request queue (naming the reply queue and a random
 *   nonce), then HELLO on the public queue (naming the request queue).
 * - At HELLO the daemon opens the named request queue and checks that it
 *   is private, owned by the euid of the claimed pid, and held open by that
 *   pid at the descriptor HELLO names; then reads its first message, which
 *   must be OPEN, and checks the reply queue the same way. Whatever arrives
 *   on a request queue was written by its owner's uid (or root): the queue
 *   is the session, and requests carry no credentials. A session acts for
 *   its process: what one registered, another of the process may change.
 * - Every reply goes to the session's reply queue and carries the nonce of
 *   its OPEN and the request's op and seq; a client takes nothing else as
 *   the answer to its call.
 * - A request of this version has one size, sizeof(struct shj_req). A reply is a
 *   struct shj_rep, or a struct shj_rep_page for STATS and LIST (those need
 *   a reply queue whose messages are that large).
 * - A request that fails validation gets an error reply (it came through
 *   the session's own queue); a one-way one (SHJ_REQ_NOREPLY) never does.
 *   Invalid messages on the public queue are dropped and counted.
 * - IDLE and RUNNABLE may be one-way: no reply; the first error is kept and
 *   returned by the next SYNC.
 * - Marks without the daemon: shinjukud listens on SHJ_MARK_SOCKET (a
 *   SOCK_SEQPACKET socket in its own directory, mode 0666) and to each
 *   connection sends one message, "mark", with a descriptor of the
 *   scheduler's syscall program shinjuku_mark (SCM_RIGHTS), then closes it.
 *   A client that checked the peer is the daemon of the pid file
 *   (SO_PEERCRED) runs that program itself (BPF_PROG_TEST_RUN on a struct
 *   shj_apply_args, bpf/shj_shared.h: tid, flags SHJ_TASK_IDLE or 0) to mark
 *   threads of its own process idle or runnable; the program checks that
 *   itself. It returns -ESTALE once its scheduler has exited (the daemon
 *   restarted: go through the new one) and -EOPNOTSUPP to a caller in a
 *   child pid namespace.
 */
#ifndef SHJ_PROTO_H
#define SHJ_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Growth: a new version only adds fields at the end of a message; version
 * says which layout, size how long it is. A daemon serves clients of
 * SHJ_PROTO_VERSION_MIN up to its own version (fields an older one does
 * not have count as 0) and answers in the client's version; a newer
 * client's OPEN it answers -EPROTO. HELLO and OPEN keep their fields where
 * version 2 has them, so any daemon can read them.
 */
#define SHJ_PROTO_VERSION	2	/* the layout this side writes */
#define SHJ_PROTO_VERSION_MIN	2	/* the oldest a daemon serves */
#define SHJ_REQUEST_QUEUE	"/shinjukud"
/* shinjukud's files, in a directory only root writes: the lock (flock),
 * which only root can open, so no one else can hold it; and the pid file,
 * "<pid> <start time>\n" (field 22 of /proc/<pid>/stat), for anyone to tell
 * at once whether a daemon runs: a file left by a killed daemon names a
 * pid that is gone or has another start time. */
#define SHJ_RUN_DIR		"/run/shinjukud"
#define SHJ_LOCK_FILE		SHJ_RUN_DIR "/lock"
#define SHJ_PID_FILE		SHJ_RUN_DIR "/pid"
#define SHJ_MARK_SOCKET		SHJ_RUN_DIR "/mark"
#define SHJ_QUEUE_NAME_MAX	32	/* with the NUL */
#define SHJ_QUEUE_DEPTH		8	/* a client's queues: fits the default
					 * fs.mqueue.msg_max */
#define SHJ_MSG_MAX		512	/* largest message on a request queue */
#define SHJ_BATCH_MAX		16	/* tids in one IDLE/RUNNABLE request */
#define SHJ_PAGES_MAX		4096	/* STATS pages; LIST pages a client reads */
#define SHJ_STATS_MAX		2048	/* counters STATS returns, at most */

enum shj_op {
	SHJ_OP_HELLO = 1,	/* public queue: pid, fd, queue = request queue */
	SHJ_OP_OPEN,		/* first on the request queue: pid, fd, nonce,
				 * queue = reply queue; opens the session */
	SHJ_OP_BYE,		/* close it; the threads its process registered
				 * leave SCHED_EXT */
	SHJ_OP_REGISTER,	/* tid, qos: a thread of pid into SCHED_EXT */
	SHJ_OP_UNREGISTER,	/* tid: back to SCHED_OTHER */
	SHJ_OP_SET_QOS,		/* tid, qos */
	SHJ_OP_IDLE,		/* tid, or tids[count]: mark idle */
	SHJ_OP_RUNNABLE,	/* tid, or tids[count]: mark runnable */
	SHJ_OP_SYNC,		/* wait for what was sent before; returns the
				 * first error of one-way requests since */
	SHJ_OP_STATS,		/* index: page of counters (struct shj_kv) */
	SHJ_OP_LIST,		/* index: where the page of registered threads
				 * starts (0, then the reply's next) */
	SHJ_OP_MAX,
};

#define SHJ_REQ_NOREPLY		(1U << 0)	/* IDLE, RUNNABLE: one-way */

struct shj_req {
	uint16_t version;	/* SHJ_PROTO_VERSION */
	uint16_t op;		/* enum shj_op */
	uint32_t size;		/* sizeof(struct shj_req) */
	uint32_t seq;		/* echoed in the reply */
	uint32_t flags;		/* SHJ_REQ_* */
	int32_t pid;		/* HELLO, OPEN: the client process */
	int32_t fd;		/* HELLO, OPEN: its descriptor of queue */
	uint64_t nonce;		/* OPEN: random, echoed in every reply */
	int32_t tid;		/* REGISTER .. RUNNABLE: the thread */
	int32_t qos;		/* REGISTER, SET_QOS: 0 .. SHJ_QOS_MAX - 1 */
	uint32_t index;		/* STATS: page; LIST: start; otherwise 0 */
	uint32_t count;		/* IDLE, RUNNABLE: tids used (then tid is 0) */
	int32_t tids[SHJ_BATCH_MAX];
	char queue[SHJ_QUEUE_NAME_MAX];	/* HELLO: "/shj-<pid>-<n>q";
					 * OPEN: "/shj-<pid>-<n>r" */
};

struct shj_rep {
	uint16_t version;
	uint16_t op;		/* the request's op */
	uint32_t size;		/* sizeof(struct shj_rep) or of the page */
	uint32_t seq;		/* the request's seq */
	int32_t status;		/* 0 or a negative errno */
	uint64_t nonce;		/* the session's, from its OPEN */
	int32_t daemon_pid;	/* OPEN: shinjukud's pid */
	uint32_t reserved;
};

/* STATS answers with named counters; names are stable (README.md). */
#define SHJ_KV_KEY_MAX		32	/* with the NUL */
struct shj_kv {
	char key[SHJ_KV_KEY_MAX];
	uint64_t value;
};

/* LIST answers with registered threads: all of them to root, the
 * caller's uid's to anyone else. */
struct shj_thread_info {
	int32_t tid;
	int32_t pid;
	uint32_t uid;
	uint32_t qos;
	uint32_t flags;		/* SHJ_TASK_* (idle mark) */
	uint32_t reserved;
	uint64_t runtime_ns;	/* time on a CPU under the scheduler */
};

#define SHJ_KV_PER_PAGE		32
#define SHJ_THREADS_PER_PAGE	40

struct shj_rep_page {
	struct shj_rep rep;	/* rep.size = sizeof(struct shj_rep_page) */
	uint32_t count;		/* entries used */
	uint32_t more;		/* another page follows */
	uint32_t next;		/* LIST: the index that asks for it */
	uint32_t reserved;
	union {
		struct shj_kv kv[SHJ_KV_PER_PAGE];
		struct shj_thread_info th[SHJ_THREADS_PER_PAGE];
	};
};

/* Check a received request: 0, or the negative errno to answer with
 * (-EPROTO: a version this side cannot read). */
int shj_req_check(const void *buf, size_t len);

/* Check a received HELLO or OPEN of any version from SHJ_PROTO_VERSION_MIN
 * on (its version-2 fields): 0 or -errno. */
int shj_hello_check(const void *buf, size_t len);

/* The size of a successful reply to a request of this op. */
size_t shj_rep_size(int op);

/* Check a received reply against the request it answers and the session's
 * nonce: 0, -ESTALE if it answers something else, or another -errno. */
int shj_rep_check(const void *buf, size_t len, const struct shj_req *req,
		  uint64_t nonce);

/* Write the name of pid's n-th request (kind 'q') or reply (kind 'r')
 * queue: 0, or -ENAMETOOLONG. */
int shj_queue_name(char *buf, size_t size, pid_t pid, unsigned int n, char kind);

/* Does name have the form of a queue of pid of that kind? */
int shj_queue_valid(const char *name, pid_t pid, char kind);

/* The start time in a /proc/<pid>/stat line: 0, or -EINVAL. */
int shj_stat_starttime(const char *stat, unsigned long long *start);

#endif /* SHJ_PROTO_H */
