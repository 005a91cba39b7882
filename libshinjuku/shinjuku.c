/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * libshinjuku: the client side of the protocol in shinjukud/proto.h.
 *
 * One session per process, opened lazily: a pair of queues only its uid
 * can open. Calls are synchronous and serialised: send a request on our
 * request queue, wait (bounded) for the reply with its op and seq and the
 * session's nonce on our reply queue. One-way marks (shj_set_async)
 * are sent concurrently, under the read side of the lock only: a worker that
 * the scheduler sets aside right after its own idle mark (it is idle-marked
 * now, and runs only when nothing else waits) must not hold anything the
 * dispatcher needs for its next mark. A child after fork() does not inherit
 * the session; its first call opens its own.
 *
 * One-way requests sent in a session that ends before a SYNC was answered
 * in it (the daemon exited, or did not answer in time) may never have been
 * handled: the next shj_sync() says so.
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
#include "conn.h"

#define SHJ_EXPORT __attribute__((visibility("default")))

/* write side: the session's state and synchronous calls; read side: one-way
 * sends in an open session (glibc's default rwlock prefers readers) */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct shj_conn conn = SHJ_CONN_INIT;
static int unsynced;		/* one-way requests were sent in this session
				 * since its last SYNC was answered */
static int lost;		/* why some may not have been handled */

static int connect_locked(void)
{
	if (conn.pid && conn.pid != getpid())	/* a child after fork() */
		unsynced = lost = 0;
	return shj_conn_open(&conn, sizeof(struct shj_rep));
}

/* End the session (why: -errno); one-way requests not known to have been
 * handled are lost, for the next shj_sync() to say. */
static void drop_session(int why)
{
	if (conn.pid == getpid() && unsynced && !lost)
		lost = why;
	unsynced = 0;
	shj_conn_drop(&conn);
}

static int async_marks;	/* shj_set_async() */
static int session_call(struct shj_req *req);

/* Send a one-way request: concurrently if the session is open, else open it
 * first (exclusively). */
static int send_oneway(struct shj_req *req)
{
	int err = -ENOTCONN;

	pthread_rwlock_rdlock(&lock);
	if (conn.pid == getpid()) {
		err = shj_conn_send(&conn, req);
		/* a flag, not a count: a store once, then loads only */
		if (!err && !__atomic_load_n(&unsynced, __ATOMIC_RELAXED))
			__atomic_store_n(&unsynced, 1, __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&lock);
	/* no session, or its daemon exited while our queue was full */
	if (err != -ENOTCONN && err != -ECONNRESET)
		return err;
	pthread_rwlock_wrlock(&lock);
	err = session_call(req);
	pthread_rwlock_unlock(&lock);
	return err;
}

/* A call inside an open session; a session whose daemon exited (it
 * restarted) is reopened once. One-way requests are sent and not waited
 * for. */
static int session_call(struct shj_req *req)
{
	struct shj_rep rep;
	int err, tries;

	for (tries = 0; tries < 2; tries++) {
		err = connect_locked();
		if (err)
			return err;
		if (!(req->flags & SHJ_REQ_NOREPLY)) {
			err = shj_conn_call(&conn, req, &rep, sizeof(rep));
		} else if (!shj_conn_alive(&conn)) {
			err = -ECONNRESET;
		} else {
			err = shj_conn_send(&conn, req);
			if (!err)
				unsynced = 1;
		}
		if (err == -ETIMEDOUT || err == -EBADMSG || err == -EPROTO)
			drop_session(err);	/* daemon stuck or confused: start afresh */
		/* the daemon exited before answering: reconnect, once */
		if (err != -ECONNRESET)
			return err;
		drop_session(err);
	}
	return err;
}

SHJ_EXPORT int shj_connect(void)
{
	int err;

	pthread_rwlock_wrlock(&lock);
	err = connect_locked();
	pthread_rwlock_unlock(&lock);
	return err;
}

SHJ_EXPORT int shj_close(void)
{
	struct shj_req req;
	struct shj_rep rep;
	int err = 0;

	pthread_rwlock_wrlock(&lock);
	if (conn.pid == getpid()) {
		memset(&req, 0, sizeof(req));
		req.op = SHJ_OP_BYE;
		err = shj_conn_call(&conn, &req, &rep, sizeof(rep));
		if (err >= 0)	/* answered: what was sent before, was handled */
			unsynced = 0;
	}
	drop_session(err);
	pthread_rwlock_unlock(&lock);
	return err;
}

/* A request about one thread (0: the caller); marks may be one-way. */
static int thread_call(int op, pid_t tid, int qos)
{
	struct shj_req req;
	int err;

	if (tid < 0 || qos < 0 || qos >= SHJ_QOS_LEVELS_MAX)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.op = (uint16_t)op;
	req.tid = tid ? tid : gettid();
	req.qos = qos;
	if (__atomic_load_n(&async_marks, __ATOMIC_RELAXED) &&
	    (op == SHJ_OP_IDLE || op == SHJ_OP_RUNNABLE)) {
		req.flags = SHJ_REQ_NOREPLY;
		return send_oneway(&req);
	}
	pthread_rwlock_wrlock(&lock);
	err = session_call(&req);
	pthread_rwlock_unlock(&lock);
	return err;
}

/* IDLE/RUNNABLE for many threads, SHJ_BATCH_MAX per message. */
static int mark_many(int op, const pid_t *tids, int n)
{
	struct shj_req req;
	int i, k, err = 0, first = 0;

	if (n < 0 || (n && !tids))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (tids[i] < 0)
			return -EINVAL;
	for (i = 0; i < n && err != -ECONNREFUSED && err != -ETIMEDOUT; i += k) {
		memset(&req, 0, sizeof(req));
		req.op = (uint16_t)op;
		for (k = 0; k < SHJ_BATCH_MAX && i + k < n; k++)
			req.tids[k] = tids[i + k] ? tids[i + k] : gettid();
		req.count = (uint32_t)k;
		if (__atomic_load_n(&async_marks, __ATOMIC_RELAXED)) {
			req.flags = SHJ_REQ_NOREPLY;
			err = send_oneway(&req);
		} else {
			pthread_rwlock_wrlock(&lock);
			err = session_call(&req);
			pthread_rwlock_unlock(&lock);
		}
		if (err && !first)
			first = err;
	}
	return first;
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

SHJ_EXPORT int shj_idle_many(const pid_t *tids, int n)
{
	return mark_many(SHJ_OP_IDLE, tids, n);
}

SHJ_EXPORT int shj_runnable_many(const pid_t *tids, int n)
{
	return mark_many(SHJ_OP_RUNNABLE, tids, n);
}

SHJ_EXPORT int shj_set_async(int on)
{
	if (on != 0 && on != 1)
		return -EINVAL;
	__atomic_store_n(&async_marks, on, __ATOMIC_RELAXED);
	return 0;
}

SHJ_EXPORT int shj_sync(void)
{
	struct shj_req req;
	int err;

	memset(&req, 0, sizeof(req));
	req.op = SHJ_OP_SYNC;
	pthread_rwlock_wrlock(&lock);
	err = session_call(&req);
	/* answered, or the session that had one-way requests ended (lost) */
	unsynced = 0;
	if (lost) {		/* earlier than anything the SYNC reports */
		err = lost;
		lost = 0;
	}
	pthread_rwlock_unlock(&lock);
	return err;
}

SHJ_EXPORT const char *shj_strerror(int err)
{
	switch (err) {
	case 0:			return "success";
	case -ECONNREFUSED:	return "shinjukud is not running";
	case -ETIMEDOUT:	return "shinjukud did not answer in time";
	case -ECONNRESET:	return "shinjukud exited";
	case -EPROTO:		return "shinjukud speaks another protocol version";
	case -EINVAL:		return "invalid argument";
	case -ESRCH:		return "no such thread";
	case -ENOENT:		return "thread not registered";
	case -EEXIST:		return "thread already registered";
	case -ENOSPC:		return "shinjukud's thread or session limit reached";
	case -EPERM:		return "not permitted (not this session's thread, or another process's)";
	case -EOPNOTSUPP:	return "operation not supported by shinjukud";
	default:
		if (err < 0 && strerrordesc_np(-err))
			return strerrordesc_np(-err);
		return "unknown error";
	}
}
