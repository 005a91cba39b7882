/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

/* How long a call waits for the daemon. */
#define SEND_TIMEOUT_MS	1000
#define REPLY_TIMEOUT_MS 2000

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

void shj_conn_drop(struct shj_conn *c)
{
	if (c->req != (mqd_t)-1)
		mq_close(c->req);
	if (c->rep != (mqd_t)-1) {
		mq_close(c->rep);
		if (c->pid == getpid())	/* after fork the name is the parent's */
			mq_unlink(c->rep_name);
	}
	if (c->daemon_fd >= 0)
		close(c->daemon_fd);
	c->daemon_fd = -1;
	c->req = c->rep = (mqd_t)-1;
	c->pid = 0;
	c->session = 0;
	c->secret = 0;
}

int shj_conn_send(struct shj_conn *c, struct shj_req *req)
{
	struct timespec ts;

	req->version = SHJ_PROTO_VERSION;
	req->size = sizeof(*req);
	req->seq = __atomic_add_fetch(&c->seq, 1, __ATOMIC_RELAXED);
	req->pid = c->pid;
	req->session = c->session;
	req->secret = c->secret;
	memcpy(req->reply_queue, c->rep_name, sizeof(req->reply_queue));

	ts = deadline(SEND_TIMEOUT_MS);
	if (mq_timedsend(c->req, (const char *)req, sizeof(*req), 0, &ts))
		return -errno;
	return 0;
}

int shj_conn_call(struct shj_conn *c, struct shj_req *req, void *rep,
		  size_t rep_size)
{
	char buf[sizeof(struct shj_rep_page) + 1];
	struct timespec ts;
	ssize_t n;
	int err;

	err = shj_conn_send(c, req);
	if (err)
		return err;

	/* wait for the reply, or for the daemon to exit (its pidfd becomes
	 * readable): a dead daemon fails the call at once */
	ts = deadline(REPLY_TIMEOUT_MS);
	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = (int)c->rep, .events = POLLIN },
			{ .fd = c->daemon_fd, .events = POLLIN },
		};
		struct timespec now, zero = { 0 };
		long ms;

		clock_gettime(CLOCK_REALTIME, &now);
		ms = (ts.tv_sec - now.tv_sec) * 1000 + (ts.tv_nsec - now.tv_nsec) / 1000000;
		if (ms < 0)
			return -ETIMEDOUT;
		n = poll(fds, c->daemon_fd >= 0 ? 2 : 1, (int)ms + 1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if (!(fds[0].revents & POLLIN))
			return -ECONNRESET;	/* daemon gone, nothing to read */
		n = mq_timedreceive(c->rep, buf, sizeof(buf), NULL, &zero);
		if (n < 0) {
			if (errno == EINTR || errno == ETIMEDOUT)
				continue;
			return -errno;
		}
		err = shj_rep_check(buf, (size_t)n, req);
		if (err == -ESTALE)	/* a late answer to an earlier call */
			continue;
		if (err)
			return err;
		if ((size_t)n > rep_size)
			return -EMSGSIZE;
		memcpy(rep, buf, (size_t)n);
		return ((struct shj_rep *)rep)->status;
	}
}

/* 0 if a shinjukud holds its lock; -ECONNREFUSED at once if none does (a
 * killed daemon leaves its queue behind, but not its lock). */
static int daemon_running(void)
{
	int fd = open(SHJ_LOCK_FILE, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return errno == ENOENT ? -ECONNREFUSED : 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		err = -ECONNREFUSED;	/* nobody holds it: no daemon */
	close(fd);			/* drops our probe at once */
	return err;
}

int shj_conn_open(struct shj_conn *c, size_t rep_size)
{
	struct mq_attr attr = {
		.mq_maxmsg = SHJ_REPLY_QUEUE_DEPTH,
		.mq_msgsize = (long)rep_size,
	};
	struct shj_req req;
	struct shj_rep rep;
	int err;

	if (c->pid == getpid())
		return 0;
	if (c->pid)		/* inherited across fork: not ours */
		shj_conn_drop(c);
	err = daemon_running();
	if (err)
		return err;
	c->pid = getpid();

	c->req = mq_open(SHJ_REQUEST_QUEUE, O_WRONLY | O_CLOEXEC);
	if (c->req == (mqd_t)-1) {
		err = errno == ENOENT ? -ECONNREFUSED : -errno;
		goto fail;
	}
	do {
		err = shj_reply_queue_name(c->rep_name, sizeof(c->rep_name),
					   c->pid, c->nqueues++);
		if (err)
			goto fail;
		c->rep = mq_open(c->rep_name, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				 0600, &attr);
	} while (c->rep == (mqd_t)-1 && errno == EEXIST);
	if (c->rep == (mqd_t)-1) {
		err = -errno;
		goto fail;
	}

	memset(&req, 0, sizeof(req));
	req.op = SHJ_OP_HELLO;
	err = shj_conn_call(c, &req, &rep, sizeof(rep));
	if (err)
		goto fail;
	c->session = rep.session;
	c->secret = rep.secret;
	/* watch the daemon: a call to a dead one fails at once */
	c->daemon_fd = (int)syscall(SYS_pidfd_open, rep.daemon_pid, 0);
	return 0;
fail:
	shj_conn_drop(c);
	return err;
}
