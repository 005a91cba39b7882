/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* Encoding and validation of the wire protocol (proto.h), shared by
 * libshinjuku and shinjukud. Pure functions: no I/O, no globals. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "../bpf/shj_shared.h"

int shj_req_check(const void *buf, size_t len)
{
	struct shj_req r;

	if (len != sizeof(r))
		return -EBADMSG;
	memcpy(&r, buf, sizeof(r));
	if (r.version != SHJ_PROTO_VERSION)
		return -EPROTO;
	if (r.size != sizeof(r))
		return -EBADMSG;
	if (r.op < SHJ_OP_HELLO || r.op >= SHJ_OP_MAX)
		return -EOPNOTSUPP;
	if (r.pid <= 0 || (r.index && r.op != SHJ_OP_STATS))
		return -EINVAL;

	switch (r.op) {
	case SHJ_OP_HELLO:
		if (r.session || r.secret || r.tid || r.qos)
			return -EINVAL;
		if (!memchr(r.reply_queue, '\0', sizeof(r.reply_queue)) ||
		    !shj_reply_queue_valid(r.reply_queue, r.pid))
			return -EINVAL;
		return 0;
	case SHJ_OP_BYE:
		if (r.tid || r.qos)
			return -EINVAL;
		break;
	case SHJ_OP_STATS:
		if (r.tid || r.qos || r.index >= SHJ_STATS_PAGES_MAX)
			return -EINVAL;
		break;
	case SHJ_OP_REGISTER:
	case SHJ_OP_SET_QOS:
		if (r.tid <= 0 || r.qos < 0 || r.qos >= SHJ_QOS_MAX)
			return -EINVAL;
		break;
	default:	/* UNREGISTER, IDLE, RUNNABLE */
		if (r.tid <= 0 || r.qos)
			return -EINVAL;
		break;
	}
	if (!r.session)
		return -EINVAL;
	if (r.reply_queue[0] != '\0')
		return -EINVAL;
	return 0;
}

size_t shj_rep_size(int op)
{
	return op == SHJ_OP_STATS ? sizeof(struct shj_rep_page) : sizeof(struct shj_rep);
}

/* An error is answered with a plain struct shj_rep whatever the op. */
int shj_rep_check(const void *buf, size_t len, const struct shj_req *req)
{
	struct shj_rep r;

	if (len < sizeof(r))
		return -EBADMSG;
	memcpy(&r, buf, sizeof(r));
	if (r.version != SHJ_PROTO_VERSION)
		return -EPROTO;
	if (r.size != len ||
	    (len != sizeof(r) && len != shj_rep_size(req->op)))
		return -EBADMSG;
	if (r.op != req->op || r.seq != req->seq)
		return -ESTALE;
	if (len == sizeof(r) && r.status == 0 && shj_rep_size(req->op) != len)
		return -EBADMSG;	/* success must carry the op's payload */
	if (len != sizeof(r)) {
		uint32_t count;

		memcpy(&count, (const char *)buf + offsetof(struct shj_rep_page, count),
		       sizeof(count));
		if (r.status || count > SHJ_KV_PER_PAGE)
			return -EBADMSG;
	}
	if (r.status > 0 || r.status < -4095)
		return -EBADMSG;
	return 0;
}

int shj_reply_queue_name(char *buf, size_t size, pid_t pid, unsigned int n)
{
	int len = snprintf(buf, size, "/shj-%d-%u", (int)pid, n);

	return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}

int shj_reply_queue_valid(const char *name, pid_t pid)
{
	char prefix[SHJ_QUEUE_NAME_MAX];
	int len = snprintf(prefix, sizeof(prefix), "/shj-%d-", (int)pid);
	const char *p;

	if (len < 0 || (size_t)len >= sizeof(prefix) || strncmp(name, prefix, len))
		return 0;
	p = name + len;
	if (!*p)
		return 0;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}
