/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
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
	req->seq = ++c->seq;
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

	ts = deadline(REPLY_TIMEOUT_MS);
	for (;;) {
		n = mq_timedreceive(c->rep, buf, sizeof(buf), NULL, &ts);
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
		if ((size_t)n > rep_size)
			return -EMSGSIZE;
		memcpy(rep, buf, (size_t)n);
		return ((struct shj_rep *)rep)->status;
	}
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
	c->pid = getpid();
	c->rep_size = rep_size;

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
	return 0;
fail:
	shj_conn_drop(c);
	return err;
}
