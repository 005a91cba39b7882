/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * libshinjuku: the client side of the protocol in proto/proto.h.
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
 *
 * A restart is invisible: the library remembers the threads this process
 * registered, at which level and with which mark (the last one sent), and
 * when a session opens with a shinjukud other than the one that had them
 * (the daemon was killed or restarted), registers them again, at their
 * levels, and marks the idle ones. Marks sent to the daemon that exited are
 * so in effect again. What cannot be re-applied (the new daemon's limits or
 * levels) is returned by the call that opened the session, and by the next
 * shj_sync(); those threads are forgotten (the new daemon does not have
 * them). A thread that exited is recognised by its start time and dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
static pid_t state_pid;		/* the process all of this is about (fork) */
static int unsynced;		/* one-way requests were sent in this session
				 * since its last SYNC was answered */
static int untracked;		/* of those, marks of threads not in regs */
static int lost;		/* why some may not have been handled */
static int lost_untracked;	/* ... and some of them were not in regs */
static int sync_err;		/* what was not re-applied, for shj_sync() */
static int call_err;		/* ... and for the call that opened the session */
static unsigned int mark_gen;	/* bumped when conn.mark_fd is (re)opened */
static pid_t last_pid;		/* the shinjukud that has regs: pid, start */
static unsigned long long last_start;

/* --- what this process registered (for a restarted daemon) -------------
 * A dense array with hash chains by tid. Entries are added and removed
 * under the write lock; a mark (one byte) is also stored under the read
 * side, by the thread sending it. */
#define NIL 0xffffffffu
struct reg {
	pid_t tid;
	uint8_t qos;
	uint8_t idle;			/* the last mark sent: 1 idle */
	uint32_t next;			/* in its chain */
	unsigned long long start;	/* the thread's start time */
};
static struct reg *regs;
static uint32_t nregs, regs_cap, *heads;
static unsigned int head_bits;

static uint32_t *chain(pid_t tid)
{
	return &heads[((uint32_t)tid * 0x9e3779b1u) >> (32 - head_bits)];
}

static struct reg *reg_find(pid_t tid)
{
	uint32_t i;

	if (!nregs)
		return NULL;
	for (i = *chain(tid); i != NIL; i = regs[i].next)
		if (regs[i].tid == tid)
			return &regs[i];
	return NULL;
}

/* Room for one more entry: 0 or -ENOMEM. */
static int reg_reserve(void)
{
	uint32_t cap = regs_cap ? regs_cap * 2 : 64, i, *h;
	unsigned int bits = head_bits;
	struct reg *r;

	if (nregs < regs_cap)
		return 0;
	if (cap > 1U << 30)
		return -ENOMEM;
	r = realloc(regs, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	regs = r;
	while ((1U << bits) < cap)
		bits++;
	h = malloc(sizeof(*h) << bits);
	if (!h)
		return -ENOMEM;		/* regs is larger, still consistent */
	free(heads);
	heads = h;
	head_bits = bits;
	regs_cap = cap;
	memset(heads, 0xff, sizeof(*heads) << bits);	/* NIL */
	for (i = 0; i < nregs; i++) {
		regs[i].next = *chain(regs[i].tid);
		*chain(regs[i].tid) = i;
	}
	return 0;
}

/* Record a registration (after reg_reserve()). */
static void reg_add(pid_t tid, int qos, unsigned long long start)
{
	struct reg *r = reg_find(tid);

	if (!r) {
		r = &regs[nregs];
		r->tid = tid;
		r->next = *chain(tid);
		*chain(tid) = nregs++;
	}
	r->qos = (uint8_t)qos;
	r->idle = 0;
	r->start = start;
}

/* Forget entry i; the last entry takes its place. */
static void reg_del(uint32_t i)
{
	uint32_t *p = chain(regs[i].tid), last = nregs - 1;

	while (*p != i)
		p = &regs[*p].next;
	*p = regs[i].next;
	if (i != last) {
		for (p = chain(regs[last].tid); *p != last; p = &regs[*p].next)
			;
		*p = i;
		regs[i] = regs[last];
	}
	nregs--;
}

static void reg_clear(void)
{
	free(regs);
	free(heads);
	regs = NULL;
	heads = NULL;
	nregs = regs_cap = 0;
	head_bits = 0;
	last_pid = 0;
}

/* A thread's start time (field 22 of its stat); 0 if it is gone. The
 * thread's own file: /proc/<tid>/stat adds up its whole process's times,
 * a walk over all of its threads. */
static unsigned long long thread_start(pid_t tid)
{
	unsigned long long start;
	char buf[1024];
	ssize_t n;
	int fd;

	snprintf(buf, sizeof(buf), "/proc/%d/task/%d/stat", (int)tid, (int)tid);
	fd = open(buf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return shj_stat_starttime(buf, &start) ? 0 : start;
}

/* A mark of req's threads was sent (or applied): remember it. Returns 0 if
 * one of them is not a thread we registered. */
static int note_marks(const struct shj_req *req)
{
	uint32_t i, n = req->count ? req->count : 1;
	int all = 1;

	for (i = 0; i < n; i++) {
		struct reg *r = reg_find(req->count ? req->tids[i] : req->tid);

		if (r)
			__atomic_store_n(&r->idle, req->op == SHJ_OP_IDLE, __ATOMIC_RELAXED);
		else
			all = 0;
	}
	return all;
}

/* The session failed in its transport, not in what it was asked. */
static int transport_error(int err)
{
	return err == -ECONNRESET || err == -ETIMEDOUT || err == -EBADMSG ||
	       err == -EPROTO;
}

/*
 * The session is with a new shinjukud: register this process's threads
 * again, then mark the idle ones. A thread that exited is dropped; one the
 * daemon refuses is dropped and its error returned (the first). A
 * transport error ends it: the next session tries again.
 */
static int reapply(void)
{
	struct shj_req req;
	struct shj_rep rep;
	uint32_t i;
	int first = 0, err;

	for (i = nregs; i-- > 0;) {	/* reg_del(i) moves a visited one */
		if (thread_start(regs[i].tid) != regs[i].start) {
			reg_del(i);	/* exited: its number may be another's */
			continue;
		}
		memset(&req, 0, sizeof(req));
		req.op = SHJ_OP_REGISTER;
		req.tid = regs[i].tid;
		req.qos = regs[i].qos;
		err = shj_conn_call(&conn, &req, &rep, sizeof(rep));
		if (transport_error(err))
			return err;
		if (err) {
			if (err != -ESRCH && !first)
				first = err;
			reg_del(i);
		}
	}
	memset(&req, 0, sizeof(req));
	req.op = SHJ_OP_IDLE;
	for (i = 0; i <= nregs; i++) {
		if (i < nregs && regs[i].idle)
			req.tids[req.count++] = regs[i].tid;
		if (req.count == SHJ_BATCH_MAX || (i == nregs && req.count)) {
			err = shj_conn_call(&conn, &req, &rep, sizeof(rep));
			if (transport_error(err))
				return err;
			if (err && err != -ESRCH && !first)
				first = err;
			memset(&req, 0, sizeof(req));
			req.op = SHJ_OP_IDLE;
		}
	}
	return first;
}

static void drop_session(int why);


/* Open the session if there is none; with a new shinjukud, re-apply what
 * this process registered. */
static int connect_locked(void)
{
	int err;

	if (state_pid != getpid()) {	/* first, or a child after fork() */
		unsynced = untracked = lost = lost_untracked = sync_err = call_err = 0;
		reg_clear();
		state_pid = getpid();
	}
	if (conn.pid == getpid())
		return 0;
	err = shj_conn_open(&conn, sizeof(struct shj_rep));
	if (err)
		return err;
	/* marks without the daemon, if it offers them (else through it) */
	if (!shj_conn_get_mark(&conn))
		mark_gen++;
	if (conn.daemon_pid == last_pid && conn.daemon_start == last_start)
		return 0;
	err = nregs ? reapply() : 0;
	if (transport_error(err)) {
		drop_session(err);
		return err;
	}
	last_pid = conn.daemon_pid;
	last_start = conn.daemon_start;
	/* one-way marks sent to the daemon that exited are in effect again */
	if (!lost_untracked)
		lost = 0;
	if (err && !sync_err)
		sync_err = err;
	if (err && !call_err)
		call_err = err;
	return 0;
}

/* End the session (why: -errno); one-way requests not known to have been
 * handled are lost, for the next shj_sync() to say. */
static void drop_session(int why)
{
	if (conn.pid == getpid() && unsynced && !lost)
		lost = why;
	if (conn.pid == getpid() && untracked)
		lost_untracked = 1;
	unsynced = untracked = 0;
	shj_conn_drop(&conn);
}

/* What a call returns: its own error, or what its session could not
 * re-apply. */
static int with_call_err(int err)
{
	if (!err && call_err) {
		err = call_err;
		call_err = 0;
	}
	return err;
}

static int async_marks;	/* shj_set_async() */
static int session_call(struct shj_req *req);

/* Send a one-way request: concurrently if the session is open, else open it
 * first (exclusively). */
static int send_oneway(struct shj_req *req)
{
	int err = -ENOTCONN;

	pthread_rwlock_rdlock(&lock);
	/* a daemon that exited reads nothing more: the write side reconnects */
	if (conn.pid == getpid() && shj_conn_alive(&conn)) {
		err = shj_conn_send(&conn, req);
		/* flags, not counts: a store once, then loads only */
		if (!err && !__atomic_load_n(&unsynced, __ATOMIC_RELAXED))
			__atomic_store_n(&unsynced, 1, __ATOMIC_RELAXED);
		if (!err && !note_marks(req) && !__atomic_load_n(&untracked, __ATOMIC_RELAXED))
			__atomic_store_n(&untracked, 1, __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&lock);
	/* no session, or its daemon exited */
	if (err != -ENOTCONN && err != -ECONNRESET)
		return err;
	pthread_rwlock_wrlock(&lock);
	err = with_call_err(session_call(req));
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
			if (!err && !note_marks(req))
				untracked = 1;
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
			unsynced = untracked = 0;
	}
	drop_session(err);
	if (state_pid == getpid())
		reg_clear();	/* given back: nothing to re-apply */
	pthread_rwlock_unlock(&lock);
	return err;
}

/* A synchronous call about threads; what it changed is remembered. */
static int locked_call(struct shj_req *req)
{
	unsigned long long start = 0;
	struct reg *r;
	int err = 0;

	pthread_rwlock_wrlock(&lock);
	if (req->op == SHJ_OP_REGISTER) {	/* room to remember it, first */
		start = thread_start(req->tid);
		err = !start ? -ESRCH : connect_locked();
		if (!err)
			err = reg_reserve();
	}
	if (!err)
		err = session_call(req);
	r = reg_find(req->tid);
	if (req->op == SHJ_OP_REGISTER && !err)
		reg_add(req->tid, req->qos, start);
	else if (req->op == SHJ_OP_UNREGISTER && (!err || err == -ENOENT) && r)
		reg_del((uint32_t)(r - regs));
	else if (req->op == SHJ_OP_SET_QOS && !err && r)
		r->qos = (uint8_t)req->qos;
	else if ((req->op == SHJ_OP_IDLE || req->op == SHJ_OP_RUNNABLE) &&
		 (!err || req->count))
		note_marks(req);	/* a batch: the others were marked */
	err = with_call_err(err);
	pthread_rwlock_unlock(&lock);
	return err;
}

/*
 * Mark threads this process registered itself, without the daemon: run its
 * shinjuku_mark program (SHJ_MARK_SOCKET in proto.h). Returns how many of
 * tids[0 .. n-1] are left for the daemon, moved to the front: all if there
 * is no program in this session, one-way requests are in flight, a thread
 * is one the process did not register, or the program refused (its daemon exited; a pid namespace:
 * then it is let go, for this session); else those it returned an error
 * for (a thread that exited, one root registered for another process): the
 * daemon's answer is the one to give.
 */
static int mark_direct(int op, pid_t *tids, int n)
{
	int ret[SHJ_BATCH_MAX], i, e, left = n;
	unsigned int gen;

	pthread_rwlock_rdlock(&lock);
	gen = mark_gen;
	/* a daemon that exited: on the daemon's side, to reconnect */
	if (conn.pid != getpid() || conn.mark_fd < 0 || !shj_conn_alive(&conn))
		goto out;
	/* one-way requests the daemon may not have handled yet: a mark applied
	 * here would overtake one of them (one sent as the session reopened)
	 * and be undone by it; through the daemon, in order, until a SYNC */
	if (__atomic_load_n(&unsynced, __ATOMIC_RELAXED))
		goto out;
	for (i = 0; i < n; i++)
		if (!reg_find(tids[i]))
			goto out;
	e = shj_conn_mark(&conn, tids, n, op == SHJ_OP_IDLE, ret);
	if (e) {
		pthread_rwlock_unlock(&lock);
		pthread_rwlock_wrlock(&lock);
		if (mark_gen == gen && conn.mark_fd >= 0) {
			close(conn.mark_fd);
			conn.mark_fd = -1;
		}
		pthread_rwlock_unlock(&lock);
		return n;
	}
	for (left = 0, i = 0; i < n; i++) {
		if (ret[i] < 0)
			tids[left++] = tids[i];
		else
			__atomic_store_n(&reg_find(tids[i])->idle, op == SHJ_OP_IDLE,
					 __ATOMIC_RELAXED);
	}
out:
	pthread_rwlock_unlock(&lock);
	return left;
}

/* A request about one thread (0: the caller); marks may be one-way. */
static int thread_call(int op, pid_t tid, int qos)
{
	struct shj_req req;

	if (tid < 0 || qos < 0 || qos >= SHJ_QOS_LEVELS_MAX)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.op = (uint16_t)op;
	req.tid = tid ? tid : gettid();
	req.qos = qos;
	if ((op == SHJ_OP_IDLE || op == SHJ_OP_RUNNABLE) && !mark_direct(op, &req.tid, 1))
		return 0;
	if (__atomic_load_n(&async_marks, __ATOMIC_RELAXED) &&
	    (op == SHJ_OP_IDLE || op == SHJ_OP_RUNNABLE)) {
		req.flags = SHJ_REQ_NOREPLY;
		return send_oneway(&req);
	}
	return locked_call(&req);
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
		req.count = (uint32_t)mark_direct(op, req.tids, k);
		if (!req.count) {
			err = 0;	/* all marked directly */
		} else if (__atomic_load_n(&async_marks, __ATOMIC_RELAXED)) {
			req.flags = SHJ_REQ_NOREPLY;
			err = send_oneway(&req);
		} else {
			err = locked_call(&req);
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
	unsynced = untracked = 0;
	if (lost) {		/* earlier than anything the SYNC reports */
		err = lost;
		lost = lost_untracked = 0;
	} else if (sync_err) {	/* then what could not be re-applied */
		err = sync_err;
		sync_err = 0;
	}
	call_err = 0;		/* told */
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
