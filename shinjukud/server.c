/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who may do what (the threat model is in README.md):
 * - HELLO opens a session only for a reply queue that is private (mode
 *   0600), owned by the uid that owns the claimed pid, and held open by that
 *   pid; the session's secret then travels only through that queue.
 * - Every other request must carry a live session's id, secret and pid.
 * - A process registers only its own threads; only the session that
 *   registered a thread changes or unregisters it. A root session may do
 *   both to any thread (admin).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server.h"

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
	if (!s->sched.dry_run)
		shj_task_set_ext(t->tid, 0);
	thread_forget(s, t);
}

/* End a session. exited: its process is gone, so are its threads, and its
 * reply queue is left for us to remove. */
static void session_end(struct shj_server *s, struct shj_session *ss, int exited)
{
	unsigned int i = 0;

	while (i < s->nthreads) {
		if (s->threads[i].session != ss->id)
			i++;
		else if (exited)
			thread_forget(s, &s->threads[i]);
		else
			thread_release(s, &s->threads[i]);
	}
	mq_close(ss->rep);
	if (exited)
		mq_unlink(ss->rep_name);
	close(ss->pidfd);
	memset(ss, 0, sizeof(*ss));
}

static void send_reply(struct shj_server *s, mqd_t q, const struct shj_req *req,
		       int status, const struct shj_session *hello)
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
	if (hello) {
		rep.session = hello->id;
		rep.secret = hello->secret;
		rep.daemon_pid = getpid();
	}
	/* Non-blocking: a client that does not read its queue loses replies,
	 * it cannot stall the daemon. */
	mq_send(q, (const char *)&rep, sizeof(rep), 0);
}

/* uid owning process pid, or -1 */
static uid_t pid_uid(pid_t pid)
{
	char path[32];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) ? (uid_t)-1 : st.st_uid;
}

/* Does process pid hold the message queue name open? */
static int holds_queue(pid_t pid, const char *name)
{
	char dir[32], path[300], link[SHJ_QUEUE_NAME_MAX + 16];
	struct dirent *de;
	int found = 0;
	ssize_t n;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		found = !strcmp(link, name);
	}
	closedir(d);
	return found;
}

/*
 * The reply queue a request names, opened for writing if it can be trusted
 * as the claimed pid's: private, owned by that pid's uid, held open by that
 * pid. Returns the queue or (mqd_t)-1; *uid gets the owner.
 */
static mqd_t trusted_reply_queue(const struct shj_req *req, uid_t *uid)
{
	struct stat st;
	mqd_t q;

	q = mq_open(req->reply_queue, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (q == (mqd_t)-1)
		return q;
	*uid = pid_uid(req->pid);
	if (fstat(q, &st) || st.st_uid != *uid || (st.st_mode & 077) ||
	    !holds_queue(req->pid, req->reply_queue)) {
		mq_close(q);
		return (mqd_t)-1;
	}
	return q;
}

static unsigned int sessions_of(const struct shj_server *s, uid_t uid)
{
	unsigned int i, n = 0;

	for (i = 0; i < s->max_sessions; i++)
		n += s->sessions[i].id && s->sessions[i].uid == uid;
	return n;
}

static void do_hello(struct shj_server *s, const struct shj_req *req)
{
	struct shj_session tmp = { .pidfd = -1 }, *ss = NULL;
	unsigned int i;
	int err = 0;

	tmp.rep = trusted_reply_queue(req, &tmp.uid);
	if (tmp.rep == (mqd_t)-1) {
		s->stats.dropped++;
		return;
	}
	for (i = 0; i < s->max_sessions && !ss; i++)
		if (!s->sessions[i].id)
			ss = &s->sessions[i];
	tmp.pidfd = (int)syscall(SYS_pidfd_open, req->pid, 0);
	if (!ss || sessions_of(s, tmp.uid) >= s->max_sessions_per_uid)
		err = -ENOSPC;
	else if (tmp.pidfd < 0)
		err = -ESRCH;
	else if (getrandom(&tmp.secret, sizeof(tmp.secret), 0) != sizeof(tmp.secret))
		err = -EAGAIN;
	if (err) {
		send_reply(s, tmp.rep, req, err, NULL);
		mq_close(tmp.rep);
		if (tmp.pidfd >= 0)
			close(tmp.pidfd);
		return;
	}
	tmp.pid = req->pid;
	do
		tmp.id = ++s->last_id;
	while (!tmp.id || session_find(s, tmp.id));
	snprintf(tmp.rep_name, sizeof(tmp.rep_name), "%s", req->reply_queue);
	*ss = tmp;
	s->stats.sessions++;
	send_reply(s, ss->rep, req, 0, ss);
}

static int may_change(const struct shj_session *ss, const struct shj_thread *t)
{
	return t->session == ss->id || ss->uid == 0;
}

static int do_register(struct shj_server *s, struct shj_session *ss,
		       const struct shj_req *req)
{
	struct shj_task task = { .qos = (uint32_t)req->qos };
	struct shj_thread *t;
	pid_t tgid;
	int err;

	if ((unsigned int)req->qos >= s->sched.nr_levels)
		return -EINVAL;
	tgid = shj_tgid_of(req->tid);
	if (tgid < 0)
		return -ESRCH;
	if (tgid != ss->pid && ss->uid != 0)
		return -EPERM;	/* not a thread of the caller's process */
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
	/* the pidfd pinned the thread we wrote to: is it still tgid's? */
	if (!shj_thread_of(tgid, req->tid))
		err = -ESRCH;
	else if (!s->sched.dry_run)
		err = shj_task_set_ext(req->tid, 1);
	if (err) {
		shj_task_delete(s->sched.tasks_fd, req->tid);
		return err;
	}
	s->threads[s->nthreads++] = (struct shj_thread){
		.tid = req->tid, .pid = tgid, .uid = pid_uid(tgid),
		.session = ss->id, .state = task,
	};
	return 0;
}

/*
 * SET_QOS, IDLE, RUNNABLE: one thread or a batch, each one this session
 * may change, written by one run of shinjuku_apply. Returns the first
 * error; the others still apply.
 */
static int do_change(struct shj_server *s, struct shj_session *ss,
		     const struct shj_req *req)
{
	struct shj_apply_args args = { 0 };
	struct shj_thread *map[SHJ_BATCH_MAX];
	uint32_t i, n = req->count ? req->count : 1;
	int first = 0, err;

	if (req->op == SHJ_OP_SET_QOS && (unsigned int)req->qos >= s->sched.nr_levels)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		pid_t tid = req->count ? req->tids[i] : req->tid;
		struct shj_thread *t = thread_find(s, tid);
		struct shj_apply_entry *e;

		err = !t ? -ENOENT : !may_change(ss, t) ? -EPERM : 0;
		if (err) {
			first = first ? first : err;
			continue;
		}
		map[args.count] = t;
		e = &args.e[args.count++];
		e->tid = tid;
		e->qos = t->state.qos;
		e->flags = t->state.flags;
		if (req->op == SHJ_OP_SET_QOS)
			e->qos = (uint32_t)req->qos;
		else if (req->op == SHJ_OP_IDLE)
			e->flags |= SHJ_TASK_IDLE;
		else
			e->flags &= ~SHJ_TASK_IDLE;
	}
	if (!args.count)
		return first;
	err = shj_task_apply(s->sched.apply_fd, &args);
	if (err)
		return err;
	/* backwards: forgetting a thread moves the last record into its slot */
	for (i = args.count; i-- > 0;) {
		struct shj_apply_entry *e = &args.e[i];

		if (e->ret) {	/* the thread exited; its entry went with it */
			first = e->ret;
			thread_forget(s, map[i]);
			continue;
		}
		map[i]->state.qos = e->qos;
		map[i]->state.flags = e->flags;
		s->stats.marks++;
	}
	return first;
}

static void send_page(struct shj_session *ss, const struct shj_req *req,
		      struct shj_rep_page *pg)
{
	pg->rep = (struct shj_rep){
		.version = SHJ_PROTO_VERSION,
		.op = req->op,
		.size = sizeof(*pg),
		.seq = req->seq,
	};
	mq_send(ss->rep, (const char *)pg, sizeof(*pg), 0);
}

static int page_fits(const struct shj_session *ss)
{
	struct mq_attr attr;

	return !mq_getattr(ss->rep, &attr) &&
	       attr.mq_msgsize >= (long)sizeof(struct shj_rep_page);
}

/* STATS: one page of the counters. */
static int do_stats(struct shj_server *s, struct shj_session *ss,
		    const struct shj_req *req)
{
	static struct shj_kv all[SHJ_STATS_MAX];
	struct shj_rep_page pg;
	unsigned int n, first = req->index * SHJ_KV_PER_PAGE;

	if (!page_fits(ss))
		return -EMSGSIZE;
	n = s->sched.collect ? s->sched.collect(s->sched.ctx, all, SHJ_STATS_MAX) : 0;
	memset(&pg, 0, sizeof(pg));
	if (first < n) {
		pg.count = n - first < SHJ_KV_PER_PAGE ? n - first : SHJ_KV_PER_PAGE;
		memcpy(pg.kv, all + first, pg.count * sizeof(pg.kv[0]));
		pg.more = first + pg.count < n;
	}
	send_page(ss, req, &pg);
	return 0;
}

/* LIST: one page of the threads this session may see. */
static int do_list(struct shj_server *s, struct shj_session *ss,
		   const struct shj_req *req)
{
	unsigned int i, skip = req->index * SHJ_THREADS_PER_PAGE;
	struct shj_rep_page pg;

	if (!page_fits(ss))
		return -EMSGSIZE;
	memset(&pg, 0, sizeof(pg));
	for (i = 0; i < s->nthreads; i++) {
		const struct shj_thread *t = &s->threads[i];
		struct shj_thread_info *ti;

		if (ss->uid != 0 && t->uid != ss->uid)
			continue;
		if (skip) {
			skip--;
			continue;
		}
		if (pg.count == SHJ_THREADS_PER_PAGE) {
			pg.more = 1;
			break;
		}
		ti = &pg.th[pg.count++];
		ti->tid = t->tid;
		ti->pid = t->pid;
		ti->uid = t->uid;
		ti->qos = t->state.qos;
		ti->flags = t->state.flags;
		ti->runtime_ns = shj_task_runtime(s->sched.rt_fd, t->tid);
	}
	send_page(ss, req, &pg);
	return 0;
}

/* A request from a valid session; returns the status to answer with, or 1
 * when it answered itself. */
static int serve_op(struct shj_server *s, struct shj_session *ss,
		    const struct shj_req *req)
{
	int err;

	switch (req->op) {
	case SHJ_OP_REGISTER:
		return do_register(s, ss, req);
	case SHJ_OP_UNREGISTER: {
		struct shj_thread *t = thread_find(s, req->tid);

		if (!t)
			return -ENOENT;
		if (!may_change(ss, t))
			return -EPERM;
		thread_release(s, t);
		return 0;
	}
	case SHJ_OP_SYNC:
		err = ss->deferred_err;
		ss->deferred_err = 0;
		return err;
	case SHJ_OP_STATS:
		err = do_stats(s, ss, req);
		return err ? err : 1;
	case SHJ_OP_LIST:
		err = do_list(s, ss, req);
		return err ? err : 1;
	default:	/* SET_QOS, IDLE, RUNNABLE */
		return do_change(s, ss, req);
	}
}

static void handle_one(struct shj_server *s, const char *buf, ssize_t len)
{
	struct shj_session *ss;
	struct shj_req req;
	mqd_t q;
	uid_t uid;
	int err;

	s->stats.requests++;
	if (len != sizeof(req)) {
		s->stats.dropped++;
		return;
	}
	err = shj_req_check(buf, (size_t)len);
	memcpy(&req, buf, sizeof(req));
	if (err || req.op == SHJ_OP_HELLO) {
		ss = session_find(s, req.session);
		if (!err)
			do_hello(s, &req);
		else if (ss && ss->secret == req.secret && ss->pid == req.pid)
			send_reply(s, ss->rep, &req, err, NULL);
		else
			s->stats.dropped++;
		return;
	}
	ss = session_find(s, req.session);
	if (!ss || ss->secret != req.secret || ss->pid != req.pid) {
		/* stale (-ENOTCONN) or forged (-EPERM): answer only where the
		 * answer cannot reach anyone but the claimed pid's uid */
		q = trusted_reply_queue(&req, &uid);
		if (q == (mqd_t)-1) {
			s->stats.dropped++;
			return;
		}
		send_reply(s, q, &req, ss ? -EPERM : -ENOTCONN, NULL);
		mq_close(q);
		return;
	}
	if (req.op == SHJ_OP_BYE) {
		send_reply(s, ss->rep, &req, 0, NULL);
		session_end(s, ss, 0);
		return;
	}
	err = serve_op(s, ss, &req);
	if (req.flags & SHJ_REQ_NOREPLY) {
		if (err && !ss->deferred_err)
			ss->deferred_err = err;
		if (err)
			s->stats.errors++;
	} else if (err != 1) {
		send_reply(s, ss->rep, &req, err, NULL);
	}
}

int shj_server_handle(struct shj_server *s)
{
	char buf[sizeof(struct shj_req) + 64];
	int handled = 0;
	ssize_t n;

	while ((n = mq_receive(s->req, buf, sizeof(buf), NULL)) >= 0) {
		handle_one(s, buf, n);
		handled++;
	}
	return handled;
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
		.mq_maxmsg = 256,
		.mq_msgsize = sizeof(struct shj_req) + 64,
	};
	int err;

	memset(s, 0, sizeof(*s));
	s->sched = *sched;
	s->max_sessions = max_sessions;
	s->max_sessions_per_uid = max_sessions / 4 ? max_sessions / 4 : 1;
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
	if (s->req == (mqd_t)-1 && errno == EINVAL) {
		/* deeper than fs.mqueue.msg_max needs CAP_SYS_RESOURCE */
		FILE *f = fopen("/proc/sys/fs/mqueue/msg_max", "re");

		if (f && fscanf(f, "%ld", &attr.mq_maxmsg) == 1 && attr.mq_maxmsg > 0)
			s->req = mq_open(SHJ_REQUEST_QUEUE,
					 O_RDONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC,
					 0622, &attr);
		if (f)
			fclose(f);
	}
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
