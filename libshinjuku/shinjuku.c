/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * libshinjuku: the client side of the protocol in shinjukud/proto.h.
 *
 * One session per process, opened lazily. Calls are synchronous and
 * serialised by a mutex: send a request on the daemon's queue, wait (bounded)
 * for the reply with the same seq on our own queue. A child after fork() does
 * not inherit the session; its first call opens its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shinjuku.h"
#include "../shinjukud/proto.h"

#define SHJ_EXPORT __attribute__((visibility("default")))

/* How long a call waits for the daemon. */
#define SEND_TIMEOUT_MS	1000
#define REPLY_TIMEOUT_MS 2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	pid_t pid;		/* process that owns the session; 0: none */
	mqd_t req, rep;
	char rep_name[SHJ_QUEUE_NAME_MAX];
	uint32_t session, seq;
	uint64_t secret;
	unsigned int nqueues;	/* reply queues made so far, for unique names */
} conn = { .req = (mqd_t)-1, .rep = (mqd_t)-1 };

static struct timespec deadline(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Drop the session's resources; after fork only the descriptors are ours. */
static void teardown(void)
{
	if (conn.req != (mqd_t)-1)
		mq_close(conn.req);
	if (conn.rep != (mqd_t)-1) {
		mq_close(conn.rep);
		if (conn.pid == getpid())
			mq_unlink(conn.rep_name);
	}
	conn.req = conn.rep = (mqd_t)-1;
	conn.pid = 0;
	conn.session = 0;
	conn.secret = 0;
}

/* One request/reply exchange. Caller holds lock. */
static int call(struct shj_req *req, struct shj_rep *rep)
{
	struct timespec ts;
	char buf[sizeof(*rep) + 1];
	ssize_t n;
	int err;

	req->version = SHJ_PROTO_VERSION;
	req->size = sizeof(*req);
	req->seq = ++conn.seq;
	req->pid = conn.pid;
	req->session = conn.session;
	req->secret = conn.secret;

	ts = deadline(SEND_TIMEOUT_MS);
	if (mq_timedsend(conn.req, (const char *)req, sizeof(*req), 0, &ts))
		return errno == ETIMEDOUT ? -ETIMEDOUT : -errno;

	ts = deadline(REPLY_TIMEOUT_MS);
	for (;;) {
		n = mq_timedreceive(conn.rep, buf, sizeof(buf), NULL, &ts);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		err = shj_rep_check(buf, (size_t)n, req);
		if (err == -ESTALE)	/* a late answer to an earlier call */
			continue;
		if (err)
			return err;
		memcpy(rep, buf, sizeof(*rep));
		return rep->status;
	}
}

static int connect_locked(void)
{
	struct mq_attr attr = {
		.mq_maxmsg = SHJ_REPLY_QUEUE_DEPTH,
		.mq_msgsize = sizeof(struct shj_rep) + 1,
	};
	struct shj_req req;
	struct shj_rep rep;
	int err;

	if (conn.pid == getpid())
		return 0;
	if (conn.pid)		/* inherited across fork: not ours */
		teardown();
	conn.pid = getpid();

	conn.req = mq_open(SHJ_REQUEST_QUEUE, O_WRONLY | O_CLOEXEC);
	if (conn.req == (mqd_t)-1) {
		err = errno == ENOENT ? -ECONNREFUSED : -errno;
		goto fail;
	}
	do {
		err = shj_reply_queue_name(conn.rep_name, sizeof(conn.rep_name),
					   conn.pid, conn.nqueues++);
		if (err)
			goto fail;
		conn.rep = mq_open(conn.rep_name,
				   O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				   0600, &attr);
	} while (conn.rep == (mqd_t)-1 && errno == EEXIST);
	if (conn.rep == (mqd_t)-1) {
		err = -errno;
		goto fail;
	}

	memset(&req, 0, sizeof(req));
	req.op = SHJ_OP_HELLO;
	memcpy(req.reply_queue, conn.rep_name, sizeof(req.reply_queue));
	err = call(&req, &rep);
	if (err)
		goto fail;
	conn.session = rep.session;
	conn.secret = rep.secret;
	return 0;
fail:
	teardown();
	return err;
}

/* A call inside an open session; a session the daemon lost is reopened once. */
static int session_call(struct shj_req *req)
{
	struct shj_rep rep;
	int err, tries;

	for (tries = 0; tries < 2; tries++) {
		err = connect_locked();
		if (err)
			return err;
		err = call(req, &rep);
		if (err == -ETIMEDOUT || err == -EBADMSG || err == -EPROTO)
			teardown();	/* daemon gone or confused: start afresh */
		if (err != -ENOTCONN)
			return err;
		teardown();		/* daemon restarted: session unknown */
	}
	return err;
}

SHJ_EXPORT int shj_connect(void)
{
	int err;

	pthread_mutex_lock(&lock);
	err = connect_locked();
	pthread_mutex_unlock(&lock);
	return err;
}

SHJ_EXPORT int shj_close(void)
{
	struct shj_req req;
	struct shj_rep rep;
	int err = 0;

	pthread_mutex_lock(&lock);
	if (conn.pid == getpid()) {
		memset(&req, 0, sizeof(req));
		req.op = SHJ_OP_BYE;
		err = call(&req, &rep);
	}
	teardown();
	pthread_mutex_unlock(&lock);
	return err;
}

/* A request about one thread of this process. */
static int thread_call(int op, pid_t tid, int qos)
{
	struct shj_req req;
	int err;

	if (tid < 0 || qos < 0 || qos >= SHJ_QOS_LEVELS_MAX)
		return -EINVAL;
	if (tid == 0)
		tid = gettid();

	memset(&req, 0, sizeof(req));
	req.op = (uint16_t)op;
	req.tid = tid;
	req.qos = qos;
	pthread_mutex_lock(&lock);
	err = session_call(&req);
	pthread_mutex_unlock(&lock);
	return err;
}

SHJ_EXPORT int shj_register(pid_t tid, int qos)
{
	return thread_call(SHJ_OP_REGISTER, tid, qos);
}

SHJ_EXPORT int shj_unregister(pid_t tid)
{
	return thread_call(SHJ_OP_UNREGISTER, tid, 0);
}

SHJ_EXPORT int shj_set_qos(pid_t tid, int qos)
{
	return thread_call(SHJ_OP_SET_QOS, tid, qos);
}

SHJ_EXPORT int shj_idle(pid_t tid)
{
	return thread_call(SHJ_OP_IDLE, tid, 0);
}

SHJ_EXPORT int shj_runnable(pid_t tid)
{
	return thread_call(SHJ_OP_RUNNABLE, tid, 0);
}

SHJ_EXPORT const char *shj_strerror(int err)
{
	switch (err) {
	case 0:			return "success";
	case -ECONNREFUSED:	return "shinjukud is not running";
	case -ETIMEDOUT:	return "shinjukud did not answer in time";
	case -EPROTO:		return "shinjukud speaks another protocol version";
	case -EINVAL:		return "invalid argument";
	case -ESRCH:		return "no such thread in this process";
	case -ENOENT:		return "thread not registered";
	case -EEXIST:		return "thread already registered";
	case -ENOSPC:		return "shinjukud's thread or session limit reached";
	case -EPERM:		return "not permitted";
	case -ENOTCONN:		return "session unknown to shinjukud";
	default:
		if (err < 0 && strerrordesc_np(-err))
			return strerrordesc_np(-err);
		return "unknown error";
	}
}
