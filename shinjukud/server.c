/* SPDX-License-Identifier: GPL-2.0 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server.h"
#include "tasks.h"

static struct shj_session *session_find(struct shj_server *s, uint32_t id)
{
	unsigned int i;

	for (i = 0; id && i < s->max_sessions; i++)
		if (s->sessions[i].id == id)
			return &s->sessions[i];
	return NULL;
}

static struct shj_thread *thread_find(struct shj_server *s, pid_t tid)
{
	unsigned int i;

	for (i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}

static void thread_forget(struct shj_server *s, struct shj_thread *t)
{
	*t = s->threads[--s->nthreads];
}

/* Undo a registration: entry out of the map, thread back to SCHED_OTHER.
 * Both fail harmlessly with ESRCH when the thread has exited. */
static void thread_release(struct shj_server *s, struct shj_thread *t)
{
	shj_task_delete(s->sched.tasks_fd, t->tid);
	shj_task_set_ext(t->tid, 0);
	thread_forget(s, t);
}

/* End a session. exited: its process is gone, so are its threads, and its
 * reply queue is left for us to remove. */
static void session_end(struct shj_server *s, struct shj_session *ss, int exited)
{
	unsigned int i = 0;

	while (i < s->nthreads) {
		if (s->threads[i].session != ss->id) {
			i++;
		} else if (exited) {
			thread_forget(s, &s->threads[i]);
		} else {
			thread_release(s, &s->threads[i]);
		}
	}
	mq_close(ss->rep);
	if (exited)
		mq_unlink(ss->rep_name);
	close(ss->pidfd);
	memset(ss, 0, sizeof(*ss));
}

static void reply(struct shj_server *s, struct shj_session *ss,
		  const struct shj_req *req, int status)
{
	struct shj_rep rep = {
		.version = SHJ_PROTO_VERSION,
		.op = req->op,
		.size = sizeof(rep),
		.seq = req->seq,
		.status = status,
	};

	if (status)
		s->stats.errors++;
	if (req->op == SHJ_OP_HELLO && !status) {
		rep.session = ss->id;
		rep.secret = ss->secret;
	}
	/* Non-blocking: a client that does not read its queue loses replies,
	 * it cannot stall the daemon. */
	mq_send(ss->rep, (const char *)&rep, sizeof(rep), 0);
}

/* uid owning process pid, or -1 */
static uid_t pid_uid(pid_t pid)
{
	char path[32];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) ? (uid_t)-1 : st.st_uid;
}

/* HELLO: the reply queue must exist, be private (mode 0600) and belong to
 * the uid that owns the claimed pid; otherwise there is no one we can safely
 * answer, and the request is dropped. */
static void do_hello(struct shj_server *s, const struct shj_req *req)
{
	struct shj_session tmp = { .pidfd = -1, .rep = (mqd_t)-1 }, *ss = NULL;
	struct stat st;
	unsigned int i;
	uid_t uid;

	tmp.pidfd = (int)syscall(SYS_pidfd_open, req->pid, 0);
	if (tmp.pidfd < 0)
		goto drop;
	tmp.rep = mq_open(req->reply_queue, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (tmp.rep == (mqd_t)-1 || fstat(tmp.rep, &st))
		goto drop;
	uid = pid_uid(req->pid);
	if (st.st_uid != uid || (st.st_mode & 077))
		goto drop;

	for (i = 0; i < s->max_sessions && !ss; i++)
		if (!s->sessions[i].id)
			ss = &s->sessions[i];
	if (!ss) {
		reply(s, &tmp, req, -ENOSPC);
		goto drop_quiet;
	}
	tmp.pid = req->pid;
	tmp.uid = uid;
	if (getrandom(&tmp.secret, sizeof(tmp.secret), 0) != sizeof(tmp.secret)) {
		reply(s, &tmp, req, -EAGAIN);
		goto drop_quiet;
	}
	do
		tmp.id = ++s->last_id;
	while (!tmp.id || session_find(s, tmp.id));
	snprintf(tmp.rep_name, sizeof(tmp.rep_name), "%s", req->reply_queue);
	*ss = tmp;
	s->stats.sessions++;
	reply(s, ss, req, 0);
	return;
drop:
	s->stats.dropped++;
drop_quiet:
	if (tmp.rep != (mqd_t)-1)
		mq_close(tmp.rep);
	if (tmp.pidfd >= 0)
		close(tmp.pidfd);
}

/* Write t's state into the scheduler, and let it act on the change. */
static int thread_write(struct shj_server *s, pid_t tid, const struct shj_task *st)
{
	int err = shj_task_write(s->sched.tasks_fd, tid, st);

	return err ? err : shj_task_nudge(s->sched.nudge_fd, tid);
}

static int do_register(struct shj_server *s, struct shj_session *ss,
		       const struct shj_req *req)
{
	struct shj_task task = { .qos = (uint32_t)req->qos };
	struct shj_thread *t;
	int err;

	if ((unsigned int)req->qos >= s->sched.nr_levels)
		return -EINVAL;
	if (!shj_thread_of(ss->pid, req->tid))
		return -ESRCH;
	t = thread_find(s, req->tid);
	if (t) {
		struct shj_task old;

		/* A record whose thread has exited (its map entry went with
		 * it) is stale; the tid has been reused. */
		if (shj_task_read(s->sched.tasks_fd, req->tid, &old) == 0)
			return -EEXIST;
		thread_forget(s, t);
	}
	if (s->nthreads >= s->max_threads)
		return -ENOSPC;

	err = shj_task_write(s->sched.tasks_fd, req->tid, &task);
	if (err)
		return err;
	err = shj_task_set_ext(req->tid, 1);
	if (err) {
		shj_task_delete(s->sched.tasks_fd, req->tid);
		return err;
	}
	s->threads[s->nthreads++] = (struct shj_thread){
		.tid = req->tid, .session = ss->id, .state = task,
	};
	return 0;
}

/* UNREGISTER, SET_QOS, IDLE, RUNNABLE: only on a thread this session
 * registered. */
static int do_change(struct shj_server *s, struct shj_session *ss,
		     const struct shj_req *req)
{
	struct shj_thread *t = thread_find(s, req->tid);
	struct shj_task st;
	int err;

	if (!t)
		return -ENOENT;
	if (t->session != ss->id)
		return -EPERM;
	st = t->state;
	switch (req->op) {
	case SHJ_OP_UNREGISTER:
		thread_release(s, t);
		return 0;
	case SHJ_OP_SET_QOS:
		if ((unsigned int)req->qos >= s->sched.nr_levels)
			return -EINVAL;
		st.qos = (uint32_t)req->qos;
		break;
	case SHJ_OP_IDLE:
		st.flags |= SHJ_TASK_IDLE;
		break;
	case SHJ_OP_RUNNABLE:
		st.flags &= ~SHJ_TASK_IDLE;
		break;
	}
	err = thread_write(s, req->tid, &st);
	if (err == -ESRCH) {	/* it exited: its entry is gone too */
		thread_forget(s, t);
		return err;
	}
	if (!err)
		t->state = st;
	return err;
}

/* STATS: one page of the counters, on a reply queue large enough for it. */
static int do_stats(struct shj_server *s, struct shj_session *ss,
		    const struct shj_req *req)
{
	static struct shj_kv all[SHJ_KV_PER_PAGE * SHJ_STATS_PAGES_MAX];
	struct shj_rep_page pg;
	struct mq_attr attr;
	unsigned int n, first = req->index * SHJ_KV_PER_PAGE;

	if (mq_getattr(ss->rep, &attr) || attr.mq_msgsize < (long)sizeof(pg))
		return -EMSGSIZE;
	if (!s->sched.collect)
		return -EOPNOTSUPP;
	n = s->sched.collect(s->sched.ctx, all, sizeof(all) / sizeof(all[0]));

	memset(&pg, 0, sizeof(pg));
	pg.rep = (struct shj_rep){
		.version = SHJ_PROTO_VERSION,
		.op = req->op,
		.size = sizeof(pg),
		.seq = req->seq,
	};
	if (first < n) {
		pg.count = n - first < SHJ_KV_PER_PAGE ? n - first : SHJ_KV_PER_PAGE;
		memcpy(pg.kv, all + first, pg.count * sizeof(pg.kv[0]));
		pg.more = first + pg.count < n;
	}
	mq_send(ss->rep, (const char *)&pg, sizeof(pg), 0);
	return 0;
}

static void handle_one(struct shj_server *s, const char *buf, ssize_t len)
{
	struct shj_session *ss;
	struct shj_req req;
	int err;

	s->stats.requests++;
	err = shj_req_check(buf, (size_t)len);
	if (len != sizeof(req)) {
		s->stats.dropped++;
		return;
	}
	memcpy(&req, buf, sizeof(req));
	if (!err && req.op == SHJ_OP_HELLO) {
		do_hello(s, &req);
		return;
	}
	/* Anything else must come from a known session, with its secret and
	 * its pid; only then is its reply queue the sender's. */
	ss = session_find(s, req.session);
	if (!ss || ss->secret != req.secret || ss->pid != req.pid) {
		s->stats.dropped++;
		return;
	}
	if (err) {
		reply(s, ss, &req, err);
		return;
	}
	switch (req.op) {
	case SHJ_OP_BYE:
		reply(s, ss, &req, 0);
		session_end(s, ss, 0);
		return;
	case SHJ_OP_REGISTER:
		reply(s, ss, &req, do_register(s, ss, &req));
		return;
	case SHJ_OP_STATS:
		err = do_stats(s, ss, &req);
		if (err)
			reply(s, ss, &req, err);
		return;
	default:
		reply(s, ss, &req, do_change(s, ss, &req));
		return;
	}
}

void shj_server_handle(struct shj_server *s)
{
	char buf[sizeof(struct shj_req) + 64];
	ssize_t n;

	while ((n = mq_receive(s->req, buf, sizeof(buf), NULL)) >= 0)
		handle_one(s, buf, n);
}

int shj_server_pollfds(const struct shj_server *s, struct pollfd *fds, int max)
{
	unsigned int i;
	int n = 0;

	for (i = 0; i < s->max_sessions && n < max; i++) {
		if (!s->sessions[i].id)
			continue;
		fds[n].fd = s->sessions[i].pidfd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	return n;
}

void shj_server_reap(struct shj_server *s, int fd)
{
	unsigned int i;

	for (i = 0; i < s->max_sessions; i++)
		if (s->sessions[i].id && s->sessions[i].pidfd == fd)
			session_end(s, &s->sessions[i], 1);
}

int shj_server_open(struct shj_server *s, const struct shj_sched *sched,
		    unsigned int max_sessions, unsigned int max_threads)
{
	struct mq_attr attr = {
		.mq_maxmsg = 64,
		.mq_msgsize = sizeof(struct shj_req) + 64,
	};
	int err;

	memset(s, 0, sizeof(*s));
	s->sched = *sched;
	s->max_sessions = max_sessions;
	s->max_threads = max_threads;
	s->sessions = calloc(max_sessions, sizeof(*s->sessions));
	s->threads = calloc(max_threads, sizeof(*s->threads));
	if (!s->sessions || !s->threads) {
		err = -ENOMEM;
		goto fail;
	}
	/* A queue left by a daemon that was killed is stale: we are the only
	 * daemon (the scheduler attached), so replace it. */
	mq_unlink(SHJ_REQUEST_QUEUE);
	s->req = mq_open(SHJ_REQUEST_QUEUE,
			 O_RDONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC,
			 0622, &attr);
	if (s->req == (mqd_t)-1) {
		err = -errno;
		goto fail;
	}
	if (fchmod(s->req, 0622)) {	/* umask must not narrow it */
		err = -errno;
		shj_server_close(s);
		return err;
	}
	return 0;
fail:
	free(s->sessions);
	free(s->threads);
	return err;
}

void shj_server_close(struct shj_server *s)
{
	unsigned int i;

	for (i = 0; i < s->max_sessions; i++)
		if (s->sessions[i].id)
			session_end(s, &s->sessions[i], 0);
	mq_close(s->req);
	mq_unlink(SHJ_REQUEST_QUEUE);
	free(s->sessions);
	free(s->threads);
	s->sessions = NULL;
	s->threads = NULL;
}
