/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "../bpf/shj_shared.h"

/* How long a call waits for the daemon. */
#define SEND_TIMEOUT_MS	1000
#define REPLY_TIMEOUT_MS 2000
#define NAME_TRIES	4096	/* queue names taken by others, skipped */

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

/* Milliseconds left until ts, rounded up; < 0 once it passed. */
static long ms_left(const struct timespec *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (ts->tv_sec - now.tv_sec) * 1000 +
	       (ts->tv_nsec - now.tv_nsec) / 1000000 + 1;
}

static void close_queue(mqd_t *q, const char *name, int unlink)
{
	if (*q == (mqd_t)-1)
		return;
	mq_close(*q);
	if (unlink)
		mq_unlink(name);
	*q = (mqd_t)-1;
}

void shj_conn_drop(struct shj_conn *c)
{
	int ours = c->pid == getpid();	/* after fork the names are the parent's */

	close_queue(&c->req, c->req_name, ours);
	close_queue(&c->rep, c->rep_name, ours);
	if (c->daemon_fd >= 0)
		close(c->daemon_fd);
	c->daemon_fd = -1;
	if (c->mark_fd >= 0)
		close(c->mark_fd);
	c->mark_fd = -1;
	c->pid = 0;
	c->nonce = 0;
}

/* Wait until q is ready for events, or the daemon exits (-ECONNRESET), or
 * the deadline passes (-ETIMEDOUT). */
static int wait_queue(const struct shj_conn *c, mqd_t q, short events,
		      const struct timespec *ts)
{
	struct pollfd fds[2] = {
		{ .fd = (int)q, .events = events },
		{ .fd = c->daemon_fd, .events = POLLIN },
	};
	long ms = ms_left(ts);
	int n;

	if (ms < 0)
		return -ETIMEDOUT;
	n = poll(fds, c->daemon_fd >= 0 ? 2 : 1, (int)ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n > 0 && !(fds[0].revents & events))
		return -ECONNRESET;	/* daemon gone, and q not ready */
	return 0;
}

int shj_conn_alive(const struct shj_conn *c)
{
	struct pollfd fd = { .fd = c->daemon_fd, .events = POLLIN };

	return c->daemon_fd < 0 || poll(&fd, 1, 0) <= 0;
}

/* The version we speak, and a request's length in it. */
static void header(const struct shj_conn *c, struct shj_req *req)
{
	req->version = c->version ? c->version : SHJ_PROTO_VERSION;
	req->size = c->req_size ? c->req_size : sizeof(*req);
}

int shj_conn_send(struct shj_conn *c, struct shj_req *req)
{
	union { struct shj_req req; char buf[SHJ_MSG_MAX]; } m;
	const char *msg = (const char *)req;
	struct timespec ts;
	int err;

	header(c, req);
	req->seq = __atomic_add_fetch(&c->seq, 1, __ATOMIC_RELAXED);
	if (req->size != sizeof(*req)) {	/* longer: zeros at the end */
		if (req->size > sizeof(m))
			return -EINVAL;
		memset(&m, 0, sizeof(m));
		m.req = *req;
		msg = m.buf;
	}
	if (mq_send(c->req, msg, req->size, 0) == 0)
		return 0;
	ts = deadline(SEND_TIMEOUT_MS);
	while (errno == EAGAIN) {	/* our queue is full: the daemon drains it */
		err = wait_queue(c, c->req, POLLOUT, &ts);
		if (err)
			return err;
		if (mq_send(c->req, msg, req->size, 0) == 0)
			return 0;
	}
	return -errno;
}

/* Wait for the answer to req: the reply with its op and seq and our nonce. */
static int wait_reply(struct shj_conn *c, const struct shj_req *req, void *rep,
		      size_t rep_size)
{
	char buf[sizeof(struct shj_rep_page) + 1];
	struct timespec ts = deadline(REPLY_TIMEOUT_MS);
	ssize_t n;
	int err;

	for (;;) {
		n = mq_receive(c->rep, buf, sizeof(buf), NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			err = wait_queue(c, c->rep, POLLIN, &ts);
			if (err)
				return err;
			continue;
		}
		err = shj_rep_check(buf, (size_t)n, req, c->nonce);
		if (err == -ESTALE)	/* not ours: late, or not from the daemon */
			continue;
		if (err)
			return err;
		if ((size_t)n > rep_size)
			return -EMSGSIZE;
		memcpy(rep, buf, (size_t)n);
		return ((struct shj_rep *)rep)->status;
	}
}

int shj_conn_call(struct shj_conn *c, struct shj_req *req, void *rep,
		  size_t rep_size)
{
	int err = shj_conn_send(c, req);

	return err ? err : wait_reply(c, req, rep, rep_size);
}

/*
 * The running shinjukud, from its pid file: a pidfd for it in *pidfd (it
 * becomes readable when the daemon exits) and its pid; -ECONNREFUSED at
 * once if none runs (a killed daemon leaves its queue and pid file behind,
 * but its pid is gone or belongs to a process started at another time).
 */
static pid_t daemon_find(int *pidfd, unsigned long long *started)
{
	unsigned long long start, now;
	char buf[1024];
	int fd, pid;
	ssize_t n;

	fd = open(SHJ_PID_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ECONNREFUSED;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ECONNREFUSED;
	buf[n] = '\0';
	if (sscanf(buf, "%d %llu", &pid, &start) != 2 || pid <= 0)
		return -ECONNREFUSED;
	*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (*pidfd < 0)
		return -ECONNREFUSED;
	/* the pidfd holds the pid: if the start time matches now, it is the
	 * daemon's */
	snprintf(buf, sizeof(buf), "/proc/%d/stat", pid);
	fd = open(buf, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n > 0)
		buf[n] = '\0';
	if (n <= 0 || shj_stat_starttime(buf, &now) || now != start) {
		close(*pidfd);
		*pidfd = -1;
		return -ECONNREFUSED;
	}
	*started = start;
	return pid;
}

/* Create our pair of private queues, under names nobody else took. */
static int make_queues(struct shj_conn *c, size_t rep_size)
{
	struct mq_attr rattr = {
		.mq_maxmsg = SHJ_QUEUE_DEPTH, .mq_msgsize = (long)rep_size,
	};
	struct mq_attr qattr = {
		.mq_maxmsg = SHJ_QUEUE_DEPTH,
		.mq_msgsize = c->req_size > sizeof(struct shj_req) ? (long)c->req_size :
			      (long)sizeof(struct shj_req),
	};
	int tries, err;

	for (tries = 0; tries < NAME_TRIES; tries++, c->nqueues++) {
		if (shj_queue_name(c->req_name, sizeof(c->req_name), c->pid, c->nqueues, 'q') ||
		    shj_queue_name(c->rep_name, sizeof(c->rep_name), c->pid, c->nqueues, 'r'))
			return -ENAMETOOLONG;
		c->rep = mq_open(c->rep_name, O_RDONLY | O_CREAT | O_EXCL | O_NONBLOCK |
				 O_CLOEXEC, 0600, &rattr);
		if (c->rep == (mqd_t)-1) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		c->req = mq_open(c->req_name, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK |
				 O_CLOEXEC, 0600, &qattr);
		if (c->req != (mqd_t)-1) {
			c->nqueues++;
			return 0;
		}
		err = errno;
		close_queue(&c->rep, c->rep_name, 1);
		if (err != EEXIST)
			return -err;
	}
	return -EEXIST;
}

/* HELLO on the public queue: it only tells the daemon where to look. */
static int send_hello(struct shj_conn *c)
{
	struct timespec ts = deadline(SEND_TIMEOUT_MS);
	union { struct shj_req req; char buf[SHJ_MSG_MAX]; } m;
	long prio = sysconf(_SC_MQ_PRIO_MAX);
	struct stat st;
	mqd_t pub;
	int err = 0;

	pub = mq_open(SHJ_REQUEST_QUEUE, O_WRONLY | O_CLOEXEC);
	if (pub == (mqd_t)-1)
		return errno == ENOENT ? -ECONNREFUSED : -errno;
	/* anyone may create a queue of that name when no daemon runs */
	if (fstat(pub, &st) || st.st_uid != 0) {
		mq_close(pub);
		return -ECONNREFUSED;
	}
	memset(&m, 0, sizeof(m));
	header(c, &m.req);
	m.req.op = SHJ_OP_HELLO;
	m.req.pid = c->pid;
	m.req.fd = (int)c->req;
	memcpy(m.req.queue, c->req_name, sizeof(m.req.queue));
	/* the highest priority: a flood cannot overtake us (only queue ahead) */
	if (m.req.size > sizeof(m))
		err = -EINVAL;
	else if (mq_timedsend(pub, m.buf, m.req.size, prio > 0 ? (unsigned int)prio - 1 : 0,
			      &ts))
		err = -errno;
	mq_close(pub);
	return err;
}

int shj_conn_open(struct shj_conn *c, size_t rep_size)
{
	struct shj_req req;
	struct shj_rep rep;
	pid_t dpid;
	int err;

	if (c->pid == getpid())
		return 0;
	if (c->pid)		/* inherited across fork: not ours */
		shj_conn_drop(c);
	dpid = daemon_find(&c->daemon_fd, &c->daemon_start);
	if (dpid < 0)
		return dpid;
	c->daemon_pid = dpid;
	c->pid = getpid();
	err = make_queues(c, rep_size);
	if (err)
		goto fail;
	if (getrandom(&c->nonce, sizeof(c->nonce), 0) != sizeof(c->nonce)) {
		err = -EAGAIN;
		goto fail;
	}
	/* OPEN waits in our request queue: the daemon reads it when HELLO
	 * points it there */
	memset(&req, 0, sizeof(req));
	req.op = SHJ_OP_OPEN;
	req.pid = c->pid;
	req.fd = (int)c->rep;
	req.nonce = c->nonce;
	memcpy(req.queue, c->rep_name, sizeof(req.queue));
	err = shj_conn_send(c, &req);
	if (!err)
		err = send_hello(c);
	if (!err)
		err = wait_reply(c, &req, &rep, sizeof(rep));
	if (!err && rep.daemon_pid != dpid)
		err = -EPROTO;	/* not the daemon of the pid file */
	if (err)
		goto fail;
	return 0;
fail:
	shj_conn_drop(c);
	return err;
}

int shj_conn_get_mark(struct shj_conn *c)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char cbuf[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8)));
	char word[8];
	struct iovec iov = { .iov_base = word, .iov_len = sizeof(word) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct pollfd pfd = { .events = POLLIN };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct cmsghdr *cm;
	ssize_t n;
	int s, fd = -1, err = 0;

	if (c->mark_fd >= 0)
		return 0;
	memcpy(addr.sun_path, SHJ_MARK_SOCKET, sizeof(SHJ_MARK_SOCKET));
	/* never blocks: a full backlog fails at once (EAGAIN), the answer is
	 * waited for at most 1 s; either way marks go through the daemon */
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	pfd.fd = s;
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		err = -errno;
		goto out;
	}
	/* the directory is root's; still, the peer must be the session's
	 * daemon, not one that was there before */
	if (cred.pid != c->daemon_pid || cred.uid != 0) {
		err = -ECONNREFUSED;
		goto out;
	}
	memset(cbuf, 0, sizeof(cbuf));
	if (poll(&pfd, 1, 1000) != 1) {
		err = -ETIMEDOUT;
		goto out;
	}
	n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (n != 4 || memcmp(word, "mark", 4) || fd < 0 || (msg.msg_flags & MSG_CTRUNC)) {
		if (fd >= 0)
			close(fd);
		err = -EBADMSG;
		goto out;
	}
	c->mark_fd = fd;
out:
	close(s);
	return err;
}

int shj_conn_mark(const struct shj_conn *c, const pid_t *tids, int n, int idle,
		  int *ret)
{
	struct shj_apply_args args;
	union bpf_attr attr;
	int i;

	if (n < 0 || n > SHJ_BATCH_MAX || c->mark_fd < 0)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	args.count = (uint32_t)n;
	for (i = 0; i < n; i++) {
		args.e[i].tid = tids[i];
		args.e[i].flags = idle ? SHJ_TASK_IDLE : 0;
	}
	memset(&attr, 0, sizeof(attr));
	attr.test.prog_fd = (uint32_t)c->mark_fd;
	attr.test.ctx_in = (uint64_t)(uintptr_t)&args;
	attr.test.ctx_size_in = sizeof(args);
	/* a syscall program's context is copied back into ctx_in */
	if (syscall(SYS_bpf, BPF_PROG_TEST_RUN, &attr, sizeof(attr)))
		return -errno;
	if ((int)attr.test.retval)
		return (int)attr.test.retval;
	for (i = 0; i < n; i++)
		ret[i] = args.e[i].ret;
	return 0;
}
