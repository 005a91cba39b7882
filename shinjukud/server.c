/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who may do what (the threat model is in README.md):
 * - The public queue only points the daemon to a client's request queue; it
 *   opens nothing by itself and is never answered.
 * - A session is a pair of queues private to the client's uid (mode 0600),
 *   held open by the client process at the descriptors it named: what
 *   arrives on the request queue was written by that uid (or root), and
 *   replies go only to the reply queue its first message named.
 * - Sessions belong to their process (held by a pidfd): a new one, after a
 *   timeout or an exec(), acts on what the process registered before.
 * - A process registers only its own threads; only the process that
 *   registered a thread changes or unregisters it. A root session may do
 *   both to any thread (admin).
 * - A registered thread is held by a pidfd of its own: the map is written
 *   through it, the policy changed only while it says the thread still has
 *   its number, and its exit drops the record at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"

/* epoll data: what became readable, which slot, and the slot's generation
 * (an event read in the same batch as the slot was freed is stale) */
enum { EV_PUBLIC = 1, EV_REQUEST, EV_CLIENT, EV_THREAD, EV_MARK };
#define EV(kind, idx, gen)	((uint64_t)(kind) << 56 | (uint64_t)(uint32_t)(gen) << 24 | (idx))
#define EV_KIND(d)		((unsigned int)((d) >> 56))
#define EV_GEN(d)		((uint32_t)((d) >> 24))
#define EV_IDX(d)		((unsigned int)((d) & 0xffffff))

static int watch(struct shj_server *s, int fd, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static struct shj_account *account_of(struct shj_server *s, unsigned int client)
{
	return &s->accounts[s->clients[client].account];
}

static int pidfd_open(pid_t pid, unsigned int flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

/* Chain of a key in a table of 2^bits chains (multiplicative hashing). */
static uint32_t hash32(uint32_t key, unsigned int bits)
{
	return (key * 0x9e3779b1u) >> (32 - bits);
}

static uint32_t *bucket(struct shj_server *s, pid_t tid)
{
	return &s->hash[hash32((uint32_t)tid, s->hash_bits)];
}

static struct shj_thread *thread_find(struct shj_server *s, pid_t tid)
{
	uint32_t i;

	for (i = *bucket(s, tid); i != SHJ_NIL; i = s->threads[i].hnext)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}

/* A free slot for tid, in the hash and c's list; NULL if none is free. */
static struct shj_thread *thread_new(struct shj_server *s, struct shj_client *c,
				     pid_t tid)
{
	uint32_t i = s->free, *b = bucket(s, tid);
	struct shj_thread *t;

	if (i == SHJ_NIL)
		return NULL;
	t = &s->threads[i];
	s->free = t->hnext;
	t->tid = tid;
	t->hnext = *b;
	*b = i;
	t->client = (unsigned int)(c - s->clients);
	t->prev = SHJ_NIL;
	t->next = c->threads;
	if (t->next != SHJ_NIL)
		s->threads[t->next].prev = i;
	c->threads = i;
	s->nthreads++;
	s->accounts[c->account].threads++;
	return t;
}

/* Drop the record (and the pidfd: out of epoll); the map is left alone. */
static void thread_forget(struct shj_server *s, struct shj_thread *t)
{
	uint32_t i = (uint32_t)(t - s->threads), *p = bucket(s, t->tid);
	struct shj_client *c = &s->clients[t->client];

	while (*p != i)
		p = &s->threads[*p].hnext;
	*p = t->hnext;
	if (t->prev != SHJ_NIL)
		s->threads[t->prev].next = t->next;
	else
		c->threads = t->next;
	if (t->next != SHJ_NIL)
		s->threads[t->next].prev = t->prev;
	close(t->pidfd);
	account_of(s, t->client)->threads--;
	*t = (struct shj_thread){ .gen = t->gen + 1, .hnext = s->free, .pidfd = -1 };
	s->free = i;
	s->nthreads--;
}

/* Undo a registration: entry out of the map, thread back to SCHED_OTHER,
 * both through its pidfd (neither reaches another thread if it exited). */
static void thread_release(struct shj_server *s, struct shj_thread *t)
{
	shj_task_delete(s->sched.tasks_fd, t->pidfd);
	if (!s->sched.dry_run)
		shj_task_set_ext(t->pidfd, t->tid, 0);
	thread_forget(s, t);
}

static uint32_t *client_bucket(struct shj_server *s, pid_t pid)
{
	return &s->client_hash[hash32((uint32_t)pid, s->client_bits)];
}

static uint32_t *account_bucket(struct shj_server *s, uid_t uid)
{
	return &s->account_hash[hash32((uint32_t)uid, s->client_bits)];
}

static struct shj_account *account_find(struct shj_server *s, uid_t uid)
{
	uint32_t i;

	for (i = *account_bucket(s, uid); i != SHJ_NIL; i = s->accounts[i].hnext)
		if (s->accounts[i].uid == uid)
			return &s->accounts[i];
	return NULL;
}

/* uid's account, made for a new client (there is a free slot: there are as
 * many as clients). */
static struct shj_account *account_join(struct shj_server *s, uid_t uid)
{
	struct shj_account *a = account_find(s, uid);
	uint32_t i, *b;

	for (i = 0; !a && i < s->lim.sessions; i++) {
		if (s->accounts[i].clients)
			continue;
		a = &s->accounts[i];
		b = account_bucket(s, uid);
		*a = (struct shj_account){ .uid = uid, .hnext = *b };
		*b = i;
	}
	if (a)
		a->clients++;
	return a;
}

static void account_leave(struct shj_server *s, struct shj_account *a)
{
	uint32_t i = (uint32_t)(a - s->accounts), *p;

	if (--a->clients)
		return;
	for (p = account_bucket(s, a->uid); *p != i; p = &s->accounts[*p].hnext)
		;
	*p = a->hnext;
}

static struct shj_client *client_find(struct shj_server *s, pid_t pid)
{
	uint32_t i;

	for (i = *client_bucket(s, pid); i != SHJ_NIL; i = s->clients[i].hnext)
		if (s->clients[i].pid == pid)
			return &s->clients[i];
	return NULL;
}

/* Watch a new client process (its pidfd is ours now); NULL if the table is
 * full. */
static struct shj_client *client_new(struct shj_server *s, pid_t pid, uid_t uid,
				     int pidfd)
{
	struct shj_client *c = NULL;
	struct shj_account *a;
	uint32_t i, *b;

	for (i = 0; i < s->lim.sessions && !c; i++)
		if (!s->clients[i].used)
			c = &s->clients[i];
	if (!c || watch(s, pidfd, EV(EV_CLIENT, c - s->clients, c->gen)))
		return NULL;
	a = account_join(s, uid);
	c->account = (uint32_t)(a - s->accounts);
	s->nclients++;
	b = client_bucket(s, pid);
	c->used = 1;
	c->pid = pid;
	c->uid = uid;
	c->pidfd = pidfd;
	c->sessions = c->threads = SHJ_NIL;
	c->hnext = *b;
	*b = (uint32_t)(c - s->clients);
	return c;
}

/* Free a client with no sessions and no threads left. */
static void client_free(struct shj_server *s, struct shj_client *c)
{
	uint32_t i = (uint32_t)(c - s->clients), *p = client_bucket(s, c->pid);

	while (*p != i)
		p = &s->clients[*p].hnext;
	*p = c->hnext;
	account_leave(s, &s->accounts[c->account]);
	s->nclients--;
	close(c->pidfd);
	*c = (struct shj_client){ .gen = c->gen + 1, .pidfd = -1 };
}

/* Remove a client's queue, if name still is the one we hold. */
static void unlink_queue(mqd_t q, const char *name)
{
	mqd_t again = mq_open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat a, b;

	if (again == (mqd_t)-1)
		return;
	if (!fstat(q, &a) && !fstat(again, &b) && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		mq_unlink(name);
	mq_close(again);
}

/* End a session (its process's threads stay the process's). abandoned: the
 * process no longer holds its queues (it exited, or dropped them in an
 * exec), so remove their names. */
static void session_end(struct shj_server *s, struct shj_session *ss, int abandoned)
{
	struct shj_client *c = &s->clients[ss->client];
	uint32_t i = (uint32_t)(ss - s->sessions), *p = &c->sessions, gen;

	while (*p != i)
		p = &s->sessions[*p].cnext;
	*p = ss->cnext;
	if (abandoned) {
		unlink_queue(ss->req, ss->req_name);
		unlink_queue(ss->rep, ss->rep_name);
	}
	mq_close(ss->req);
	mq_close(ss->rep);
	account_of(s, ss->client)->sessions--;
	s->nsessions--;
	gen = ss->gen + 1;
	memset(ss, 0, sizeof(*ss));
	ss->gen = gen;
}

/* Does the process still hold the session's request queue where it said? */
static int session_held(const struct shj_server *s, const struct shj_session *ss)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d",
		 (int)s->clients[ss->client].pid, ss->req_fd);
	return !stat(path, &st) && st.st_dev == ss->req_dev && st.st_ino == ss->req_ino;
}

/* The process exited: its sessions end, its own threads went with it, the
 * other processes' threads it registered (as root) go back to SCHED_OTHER. */
static void client_end(struct shj_server *s, struct shj_client *c)
{
	while (c->sessions != SHJ_NIL)
		session_end(s, &s->sessions[c->sessions], 1);
	while (c->threads != SHJ_NIL) {
		struct shj_thread *t = &s->threads[c->threads];

		if (t->pid == c->pid)
			thread_forget(s, t);
		else
			thread_release(s, t);
	}
	client_free(s, c);
}

/* BYE: the process gives back every thread it registered; the session
 * ends, and the process's record if that was its last. */
static void client_bye(struct shj_server *s, struct shj_session *ss)
{
	struct shj_client *c = &s->clients[ss->client];

	while (c->threads != SHJ_NIL)
		thread_release(s, &s->threads[c->threads]);
	session_end(s, ss, 0);
	if (c->sessions == SHJ_NIL)
		client_free(s, c);
}

static void reply_to(struct shj_server *s, mqd_t q, uint64_t nonce,
		     const struct shj_req *req, int status, int daemon_pid)
{
	struct shj_rep rep = {
		.version = SHJ_PROTO_VERSION,
		.op = req->op,
		.size = sizeof(rep),
		.seq = req->seq,
		.status = status,
		.nonce = nonce,
		.daemon_pid = daemon_pid,
	};

	if (status)
		s->stats.errors++;
	/* Non-blocking: a client that does not read its queue loses replies,
	 * it cannot stall the daemon. */
	mq_send(q, (const char *)&rep, sizeof(rep), 0);
}

static void send_reply(struct shj_server *s, struct shj_session *ss,
		       const struct shj_req *req, int status)
{
	reply_to(s, ss->rep, ss->nonce, req, status, 0);
}

/* The effective uid of process pid, or (uid_t)-1. */
static uid_t pid_euid(pid_t pid)
{
	char path[32], line[128];
	unsigned int r, e;
	uid_t uid = (uid_t)-1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return uid;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %u %u", &r, &e) == 2) {
			uid = e;
			break;
		}
	fclose(f);
	return uid;
}

/*
 * Open a client's queue by name (flags: O_RDONLY or O_WRONLY), if it is the
 * one pid holds open at descriptor fd, private to uid. A queue we read must
 * fit our buffer. Returns the queue, its stat in *st; or (mqd_t)-1.
 */
static mqd_t open_client_queue(const char *name, int flags, pid_t pid, int fd,
			       uid_t uid, struct stat *st)
{
	struct mq_attr attr;
	struct stat held;
	char path[64];
	mqd_t q;

	q = mq_open(name, flags | O_NONBLOCK | O_CLOEXEC);
	if (q == (mqd_t)-1)
		return q;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if (fstat(q, st) || st->st_uid != uid || (st->st_mode & 077) ||
	    stat(path, &held) || held.st_dev != st->st_dev ||
	    held.st_ino != st->st_ino || mq_getattr(q, &attr) ||
	    (flags == O_RDONLY && attr.mq_msgsize > SHJ_MSG_MAX)) {
		mq_close(q);
		return (mqd_t)-1;
	}
	return q;
}

/* May uid open another session (and, if new_client, have another process
 * on record)? 0 or -ENOSPC. Root has its reserve, and no per-uid limit. */
static int session_quota(struct shj_server *s, uid_t uid, int new_client)
{
	const struct shj_account *a = account_find(s, uid);
	unsigned int reserve = uid ? s->lim.sessions_root : 0;

	if (s->nsessions + reserve >= s->lim.sessions ||
	    (new_client && s->nclients + reserve >= s->lim.sessions))
		return -ENOSPC;
	if (uid && a && (a->sessions >= s->lim.sessions_per_uid ||
			 (new_client && a->clients >= s->lim.sessions_per_uid)))
		return -ENOSPC;
	return 0;
}

/* The session on the request queue of st, if there is one (of any
 * process: after fork() a child holds its parent's queues too). */
static struct shj_session *session_of_queue(struct shj_server *s,
					    const struct stat *st)
{
	unsigned int i;

	for (i = 0; i < s->lim.sessions; i++)
		if (s->sessions[i].used && s->sessions[i].req_dev == st->st_dev &&
		    s->sessions[i].req_ino == st->st_ino)
			return &s->sessions[i];
	return NULL;
}

/* Its sessions whose queues the process dropped (after a timeout, an
 * exec()) end; returns how many it still has. */
static unsigned int prune_sessions(struct shj_server *s, struct shj_client *c)
{
	uint32_t i = c->sessions, next;
	unsigned int n = 0;

	for (; i != SHJ_NIL; i = next) {
		next = s->sessions[i].cnext;
		if (session_held(s, &s->sessions[i]))
			n++;
		else
			session_end(s, &s->sessions[i], 1);
	}
	return n;
}

/*
 * HELLO, from anyone: open the request queue it names if the claimed pid
 * holds it and it is private to that pid's uid; its first message (OPEN,
 * written by that uid) names the reply queue, which must pass the same
 * checks. Nothing is sent anywhere before both did. The session joins its
 * process's record (a process is known by a pidfd: while that holds the
 * pid, the pid is that process), or a new one.
 */
static void do_hello(struct shj_server *s, const struct shj_req *hello)
{
	struct shj_session tmp = { .req = (mqd_t)-1, .rep = (mqd_t)-1 }, *ss = NULL;
	union { struct shj_req req; char buf[SHJ_MSG_MAX]; } m;
	struct shj_client *c;
	struct stat st;
	int pidfd, err;
	unsigned int i;
	ssize_t n;

	pidfd = pidfd_open(hello->pid, 0);
	if (pidfd < 0)
		goto drop;
	c = client_find(s, hello->pid);
	if (c && !shj_pidfd_alive(c->pidfd)) {
		client_end(s, c);	/* exited, and we have not heard yet */
		c = NULL;
	}
	tmp.uid = pid_euid(hello->pid);
	tmp.req = open_client_queue(hello->queue, O_RDONLY, hello->pid, hello->fd,
				    tmp.uid, &st);
	/* the pidfd was opened first: if the process still holds its pid,
	 * the /proc checks were about it */
	if (tmp.req == (mqd_t)-1 || !shj_pidfd_alive(pidfd) || session_of_queue(s, &st))
		goto drop;
	tmp.req_fd = hello->fd;
	tmp.req_dev = st.st_dev;
	tmp.req_ino = st.st_ino;
	n = mq_receive(tmp.req, m.buf, sizeof(m.buf), NULL);
	if (n < 0 || shj_hello_check(m.buf, (size_t)n) || m.req.op != SHJ_OP_OPEN ||
	    m.req.pid != hello->pid)
		goto drop;
	tmp.rep = open_client_queue(m.req.queue, O_WRONLY, hello->pid, m.req.fd,
				    tmp.uid, &st);
	if (tmp.rep == (mqd_t)-1)
		goto drop;
	/* from here on the client's own reply queue hears how it went */
	tmp.nonce = m.req.nonce;
	err = 0;
	if (m.req.version > SHJ_PROTO_VERSION)
		err = -EPROTO;	/* a newer client: the reply says our version */
	else if (c && c->uid != tmp.uid)
		err = -EPERM;	/* it changed its uid since: not the same client */
	else if (c && prune_sessions(s, c) >= s->lim.sessions_per_client)
		err = -ENOSPC;
	if (!err)
		err = session_quota(s, tmp.uid, !c);
	for (i = 0; !err && i < s->lim.sessions && !ss; i++)
		if (!s->sessions[i].used)
			ss = &s->sessions[i];
	if (!err && !c) {
		c = client_new(s, hello->pid, tmp.uid, pidfd);
		if (c)
			pidfd = -1;	/* the client's now */
		else
			err = -ENOSPC;
	}
	if (!err)
		err = watch(s, (int)tmp.req, EV(EV_REQUEST, ss - s->sessions, ss->gen));
	if (err) {
		reply_to(s, tmp.rep, tmp.nonce, &m.req, err, 0);
		if (c && c->sessions == SHJ_NIL && c->threads == SHJ_NIL)
			client_free(s, c);
		goto out;
	}
	snprintf(tmp.req_name, sizeof(tmp.req_name), "%s", hello->queue);
	snprintf(tmp.rep_name, sizeof(tmp.rep_name), "%s", m.req.queue);
	tmp.used = 1;
	tmp.gen = ss->gen;
	tmp.client = (unsigned int)(c - s->clients);
	tmp.cnext = c->sessions;
	*ss = tmp;
	c->sessions = (uint32_t)(ss - s->sessions);
	account_of(s, ss->client)->sessions++;
	s->nsessions++;
	s->stats.sessions++;
	reply_to(s, ss->rep, ss->nonce, &m.req, 0, getpid());
	if (pidfd >= 0)
		close(pidfd);
	return;
drop:
	s->stats.dropped++;
out:
	if (tmp.req != (mqd_t)-1)
		mq_close(tmp.req);
	if (tmp.rep != (mqd_t)-1)
		mq_close(tmp.rep);
	if (pidfd >= 0)
		close(pidfd);
}

static int may_change(const struct shj_server *s, const struct shj_session *ss,
		      const struct shj_thread *t)
{
	return t->client == ss->client || ss->uid == 0;
}

/*
 * REGISTER: the thread is held by a pidfd from the start; what /proc says
 * about its number is about that thread if the pidfd still holds it after.
 */
static int do_register(struct shj_server *s, struct shj_session *ss,
		       const struct shj_req *req)
{
	struct shj_task task = { .qos = (uint32_t)req->qos };
	struct shj_thread *t;
	pid_t tgid;
	int pidfd, err;

	if ((unsigned int)req->qos >= s->sched.nr_levels)
		return -EINVAL;
	pidfd = shj_thread_pidfd(req->tid);
	if (pidfd < 0)
		return pidfd;
	tgid = shj_tgid_of(req->tid);
	err = tgid < 0 || !shj_pidfd_alive(pidfd) ? -ESRCH :
	      tgid != s->clients[ss->client].pid && ss->uid != 0 ? -EPERM : 0;
	t = err ? NULL : thread_find(s, req->tid);
	if (t) {
		/* a record whose thread exited before we heard of it is stale */
		if (shj_pidfd_alive(t->pidfd))
			err = -EEXIST;
		else
			thread_forget(s, t);
	}
	if (!err && (s->nthreads >= s->lim.threads ||
		     (ss->uid && account_of(s, ss->client)->threads >= s->lim.threads_per_uid)))
		err = -ENOSPC;
	if (!err)
		err = shj_task_write(s->sched.tasks_fd, pidfd, &task);
	if (!err && !s->sched.dry_run) {
		err = shj_task_set_ext(pidfd, req->tid, 1);
		if (err)
			shj_task_delete(s->sched.tasks_fd, pidfd);
	}
	if (err) {
		close(pidfd);
		return err;
	}
	t = thread_new(s, &s->clients[ss->client], req->tid);
	t->pid = tgid;
	t->uid = pid_euid(tgid);
	t->pidfd = pidfd;
	t->state = task;
	/* its exit wakes us: the record goes at once */
	err = watch(s, pidfd, EV(EV_THREAD, t - s->threads, t->gen));
	if (err)
		thread_release(s, t);
	return err;
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

		err = !t ? -ENOENT : !may_change(s, ss, t) ? -EPERM : 0;
		if (err) {
			first = first ? first : err;
			continue;
		}
		map[args.count] = t;
		e = &args.e[args.count++];
		e->tid = tid;
		e->qos = t->state.qos;
		/* the mark in the map is the truth: clients set it themselves
		 * too (shinjuku_mark), so state.flags may be stale there */
		if (req->op == SHJ_OP_SET_QOS)
			e->qos = (uint32_t)req->qos;
		if (req->op == SHJ_OP_SET_QOS)
			e->flags = 0;	/* the level only */
		else if (req->op == SHJ_OP_IDLE)
			e->flags = SHJ_APPLY_MARK_ONLY | SHJ_TASK_IDLE;
		else
			e->flags = SHJ_APPLY_MARK_ONLY;
	}
	if (!args.count)
		return first;
	err = shj_task_apply(s->sched.apply_fd, &args);
	if (err)
		return err;
	for (i = 0; i < args.count; i++) {
		struct shj_apply_entry *e = &args.e[i];

		if (e->ret) {	/* the thread exited; its entry went with it */
			first = e->ret;
			thread_forget(s, map[i]);
			continue;
		}
		if (req->op == SHJ_OP_SET_QOS)
			map[i]->state.qos = e->qos;
		else
			map[i]->state.flags = e->flags & SHJ_TASK_IDLE;
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
		.nonce = ss->nonce,
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

/* LIST: one page of the threads this session may see, from slot index on;
 * the reply says where the next page starts. */
static int do_list(struct shj_server *s, struct shj_session *ss,
		   const struct shj_req *req)
{
	struct shj_rep_page pg;
	unsigned int i;

	if (!page_fits(ss))
		return -EMSGSIZE;
	memset(&pg, 0, sizeof(pg));
	for (i = req->index; i < s->lim.threads; i++) {
		const struct shj_thread *t = &s->threads[i];
		struct shj_thread_info *ti;

		if (!t->tid || (ss->uid != 0 && t->uid != ss->uid))
			continue;
		if (pg.count == SHJ_THREADS_PER_PAGE) {
			pg.more = 1;
			pg.next = i;
			break;
		}
		ti = &pg.th[pg.count++];
		ti->tid = t->tid;
		ti->pid = t->pid;
		ti->uid = t->uid;
		ti->qos = t->state.qos;
		ti->flags = t->state.flags;
		{	/* the mark as it is: clients set it themselves too */
			struct shj_task now;

			if (!shj_task_read(s->sched.tasks_fd, t->pidfd, &now))
				ti->flags = now.flags;
		}
		ti->runtime_ns = shj_task_runtime(s->sched.rt_fd, t->pidfd);
	}
	send_page(ss, req, &pg);
	return 0;
}

/* A valid request of an open session; returns the status to answer with,
 * or 1 when it answered itself. */
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
		if (!may_change(s, ss, t))
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
	case SHJ_OP_HELLO:
	case SHJ_OP_OPEN:
		return -EINVAL;	/* the session is open */
	default:	/* SET_QOS, IDLE, RUNNABLE */
		return do_change(s, ss, req);
	}
}

/* One message from a session's request queue: its uid wrote it. */
static void handle_request(struct shj_server *s, struct shj_session *ss)
{
	union { struct shj_req req; char buf[SHJ_MSG_MAX]; } m;
	struct shj_req req;
	ssize_t n;
	int err;

	n = mq_receive(ss->req, m.buf, sizeof(m.buf), NULL);
	if (n < 0)
		return;
	s->stats.requests++;
	err = shj_req_check(m.buf, (size_t)n);
	/* what there is of the header, to address the answer */
	memset(&req, 0, sizeof(req));
	memcpy(&req, m.buf, (size_t)n < sizeof(req) ? (size_t)n : sizeof(req));
	if (!err && req.op == SHJ_OP_BYE) {
		send_reply(s, ss, &req, 0);
		client_bye(s, ss);
		return;
	}
	if (!err)
		err = serve_op(s, ss, &req);
	if (req.flags & SHJ_REQ_NOREPLY) {
		if (err && !ss->deferred_err)
			ss->deferred_err = err;
		if (err)
			s->stats.errors++;
	} else if (err != 1) {
		send_reply(s, ss, &req, err);
	}
}

static void handle_public(struct shj_server *s)
{
	char buf[SHJ_MSG_MAX];
	struct shj_req req;
	ssize_t n;

	n = mq_receive(s->pub, buf, sizeof(buf), NULL);
	if (n < 0)
		return;
	s->stats.requests++;
	memcpy(&req, buf, sizeof(req));
	if (shj_hello_check(buf, (size_t)n) || req.op != SHJ_OP_HELLO) {
		s->stats.dropped++;
		return;
	}
	do_hello(s, &req);
}

/*
 * Connections on SHJ_MARK_SOCKET: each gets the descriptor of shinjuku_mark
 * and is closed at once (nothing is kept per client; a client that does not
 * read it loses it). A bounded number per call.
 */
static void handle_mark_socket(struct shj_server *s)
{
	char cbuf[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8)));
	char word[] = "mark";
	unsigned int i;

	for (i = 0; i < 16; i++) {
		struct iovec iov = { .iov_base = word, .iov_len = sizeof(word) - 1 };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *cm;
		int fd = accept4(s->mark_sock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && errno == ECONNABORTED)
			continue;	/* that one gave up: the next */
		if (fd < 0)
			return;		/* none left (or no descriptor to spare) */
		memset(cbuf, 0, sizeof(cbuf));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &s->sched.mark_fd, sizeof(int));
		if (sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
			s->stats.mark_fds++;
		close(fd);
	}
}

/* The socket that hands out shinjuku_mark (a stale one is replaced: we hold
 * the lock). 0, or -errno; none without the program. */
static int open_mark_socket(struct shj_server *s)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	s->mark_sock = -1;
	if (s->sched.mark_fd < 0)
		return 0;
	_Static_assert(sizeof(SHJ_MARK_SOCKET) <= sizeof(addr.sun_path), "path");
	memcpy(addr.sun_path, SHJ_MARK_SOCKET, sizeof(SHJ_MARK_SOCKET));
	s->mark_sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->mark_sock < 0)
		return -errno;
	unlink(SHJ_MARK_SOCKET);
	if (bind(s->mark_sock, (struct sockaddr *)&addr, sizeof(addr)) ||
	    chmod(SHJ_MARK_SOCKET, 0666) || listen(s->mark_sock, 64))
		return -errno;
	return watch(s, s->mark_sock, EV(EV_MARK, 0, 0));
}

int shj_server_handle(struct shj_server *s, unsigned int budget)
{
	struct epoll_event ev[32];
	unsigned int done = 0;
	int n, i;

	while (done < budget) {
		n = epoll_wait(s->epfd, ev, budget - done < 32 ? (int)(budget - done) : 32, 0);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			uint64_t d = ev[i].data.u64;
			struct shj_session *ss;
			struct shj_client *c;
			struct shj_thread *t;

			done++;
			if (EV_KIND(d) == EV_PUBLIC) {
				handle_public(s);
				continue;
			}
			if (EV_KIND(d) == EV_MARK) {
				handle_mark_socket(s);
				continue;
			}
			if (EV_KIND(d) == EV_THREAD) {
				/* it exited: its map entry went with it */
				t = &s->threads[EV_IDX(d)];
				if (t->tid && t->gen == EV_GEN(d))
					thread_forget(s, t);
				continue;
			}
			if (EV_KIND(d) == EV_CLIENT) {
				/* the process exited */
				c = &s->clients[EV_IDX(d)];
				if (c->used && c->gen == EV_GEN(d))
					client_end(s, c);
				continue;
			}
			ss = &s->sessions[EV_IDX(d)];
			if (ss->used && ss->gen == EV_GEN(d))	/* not ended in this batch */
				handle_request(s, ss);
		}
	}
	return (int)done;
}

/* The run directory: ours (root's), not a link, writable by root only. */
static int run_dir(void)
{
	struct stat st;

	if (mkdir(SHJ_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	if (lstat(SHJ_RUN_DIR, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0)
		return -EPERM;
	if ((st.st_mode & 022) && chmod(SHJ_RUN_DIR, 0755))
		return -errno;
	return 0;
}

/* This process's start time, as clients read it. */
static int self_starttime(unsigned long long *start)
{
	char buf[1024];
	ssize_t n;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	return shj_stat_starttime(buf, start);
}

int shj_server_lock(void)
{
	struct stat st;
	int fd, err;

	err = run_dir();
	if (err)
		return err;
	/* only root can open it: no one else can take it and hold it */
	fd = open(SHJ_LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = fstat(fd, &st) ? -errno : !S_ISREG(st.st_mode) ? -EPERM :
	      fchown(fd, 0, 0) || fchmod(fd, 0600) ? -errno : 0;
	if (err) {
		close(fd);
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* The pid file, whole or not at all (written aside, renamed): once the
 * public queue is there, so that a client that reads it finds our queue,
 * not the one a killed daemon left. */
static int write_pid_file(void)
{
	unsigned long long start;
	char line[64];
	int pf, err, len;

	err = self_starttime(&start);
	if (err)
		return err;
	len = snprintf(line, sizeof(line), "%d %llu\n", (int)getpid(), start);
	pf = open(SHJ_PID_FILE ".new", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
		  O_CLOEXEC, 0644);
	if (pf < 0)
		return -errno;
	if (fchmod(pf, 0644) || write(pf, line, (size_t)len) != len)
		err = -EIO;
	close(pf);
	if (!err && rename(SHJ_PID_FILE ".new", SHJ_PID_FILE))
		err = -errno;
	if (err)
		unlink(SHJ_PID_FILE ".new");
	return err;
}

void shj_server_unlock(int lock_fd)
{
	close(lock_fd);
}

int shj_server_fd(const struct shj_server *s)
{
	return s->epfd;
}

int shj_server_open(struct shj_server *s, const struct shj_sched *sched,
		    const struct shj_limits *lim)
{
	struct mq_attr attr = {
		.mq_maxmsg = 256,
		.mq_msgsize = SHJ_MSG_MAX,	/* room for newer clients' HELLO */
	};
	unsigned int i;
	int err;

	memset(s, 0, sizeof(*s));
	s->pub = (mqd_t)-1;
	s->mark_sock = -1;
	s->sched = *sched;
	s->lim = *lim;
	if (!s->lim.sessions || s->lim.sessions > 0xffffff || !s->lim.sessions_per_client ||
	    !s->lim.threads || s->lim.threads > 0xffffff)
		return -EINVAL;
	for (s->hash_bits = 4; (1U << s->hash_bits) < s->lim.threads; s->hash_bits++)
		;
	for (s->client_bits = 4; (1U << s->client_bits) < s->lim.sessions; s->client_bits++)
		;
	s->sessions = calloc(s->lim.sessions, sizeof(*s->sessions));
	s->clients = calloc(s->lim.sessions, sizeof(*s->clients));
	s->client_hash = malloc(sizeof(*s->client_hash) << s->client_bits);
	s->accounts = calloc(s->lim.sessions, sizeof(*s->accounts));
	s->account_hash = malloc(sizeof(*s->account_hash) << s->client_bits);
	s->threads = calloc(s->lim.threads, sizeof(*s->threads));
	s->hash = malloc(sizeof(*s->hash) << s->hash_bits);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!s->sessions || !s->clients || !s->client_hash || !s->accounts ||
	    !s->account_hash || !s->threads || !s->hash || s->epfd < 0) {
		err = s->epfd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	memset(s->hash, 0xff, sizeof(*s->hash) << s->hash_bits);	/* SHJ_NIL */
	memset(s->client_hash, 0xff, sizeof(*s->client_hash) << s->client_bits);
	memset(s->account_hash, 0xff, sizeof(*s->account_hash) << s->client_bits);
	for (i = 0; i < s->lim.sessions; i++)
		s->clients[i].pidfd = -1;
	for (i = 0; i < s->lim.threads; i++)
		s->threads[i] = (struct shj_thread){
			.pidfd = -1, .hnext = i + 1 < s->lim.threads ? i + 1 : SHJ_NIL,
		};
	s->free = 0;
	/* A queue left by a daemon that was killed is stale, and anyone may
	 * have made one of that name while none ran: we are the only daemon
	 * (we hold the lock), so replace it, however often it comes back. */
	for (i = 0; i < 1000; i++) {
		mq_unlink(SHJ_REQUEST_QUEUE);
		s->pub = mq_open(SHJ_REQUEST_QUEUE,
				 O_RDONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC,
				 0622, &attr);
		if (s->pub == (mqd_t)-1 && errno == EINVAL) {
			/* deeper than fs.mqueue.msg_max needs CAP_SYS_RESOURCE */
			FILE *f = fopen("/proc/sys/fs/mqueue/msg_max", "re");

			if (f && fscanf(f, "%ld", &attr.mq_maxmsg) == 1 && attr.mq_maxmsg > 0)
				s->pub = mq_open(SHJ_REQUEST_QUEUE,
						 O_RDONLY | O_CREAT | O_EXCL | O_NONBLOCK |
						 O_CLOEXEC, 0622, &attr);
			if (f)
				fclose(f);
		}
		if (s->pub != (mqd_t)-1 || errno != EEXIST)
			break;
	}
	if (s->pub == (mqd_t)-1) {
		err = -errno;
		goto fail;
	}
	/* umask must not narrow it */
	err = fchmod(s->pub, 0622) || watch(s, s->pub, EV(EV_PUBLIC, 0, 0)) ? -errno :
	      open_mark_socket(s);
	if (!err)
		err = write_pid_file();
	if (err) {
		shj_server_close(s);
		return err;
	}
	return 0;
fail:
	if (s->epfd >= 0)
		close(s->epfd);
	free(s->clients);
	free(s->client_hash);
	free(s->accounts);
	free(s->account_hash);
	free(s->sessions);
	free(s->threads);
	free(s->hash);
	return err;
}

void shj_server_close(struct shj_server *s)
{
	unsigned int i;

	unlink(SHJ_PID_FILE);	/* no daemon to find any more */
	/* every process gives its threads back, as at BYE */
	for (i = 0; i < s->lim.sessions; i++) {
		struct shj_client *c = &s->clients[i];

		if (!c->used)
			continue;
		while (c->threads != SHJ_NIL)
			thread_release(s, &s->threads[c->threads]);
		while (c->sessions != SHJ_NIL)
			session_end(s, &s->sessions[c->sessions], 0);
		client_free(s, c);
	}
	mq_close(s->pub);
	mq_unlink(SHJ_REQUEST_QUEUE);
	if (s->mark_sock >= 0) {
		close(s->mark_sock);
		unlink(SHJ_MARK_SOCKET);
		s->mark_sock = -1;
	}
	close(s->epfd);
	free(s->sessions);
	free(s->clients);
	free(s->client_hash);
	free(s->accounts);
	free(s->account_hash);
	free(s->threads);
	free(s->hash);
	s->sessions = NULL;
	s->clients = NULL;
	s->client_hash = NULL;
	s->accounts = NULL;
	s->account_hash = NULL;
	s->threads = NULL;
	s->hash = NULL;
}
