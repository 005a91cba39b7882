/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* Encoding and validation of the wire protocol (proto.h), shared by
 * libshinjuku and shinjukud. Pure functions: no I/O, no globals. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "../bpf/shj_shared.h"

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		if (*c++)
			return 0;
	return 1;
}

/* The fields of a request, whatever its length and version. */
static int check_fields(const struct shj_req *rp)
{
	struct shj_req r = *rp;
	uint32_t i;

	if (r.op < SHJ_OP_HELLO || r.op >= SHJ_OP_MAX)
		return -EOPNOTSUPP;

	/* the connection's fields: HELLO and OPEN only */
	if (r.op == SHJ_OP_HELLO || r.op == SHJ_OP_OPEN) {
		if (r.pid <= 0 || r.fd < 0 ||
		    !memchr(r.queue, '\0', sizeof(r.queue)) ||
		    !shj_queue_valid(r.queue, r.pid, r.op == SHJ_OP_HELLO ? 'q' : 'r'))
			return -EINVAL;
		if (r.op == SHJ_OP_HELLO && r.nonce)
			return -EINVAL;
	} else if (r.pid || r.fd || r.nonce || !all_zero(r.queue, sizeof(r.queue))) {
		return -EINVAL;
	}

	/* fields an op does not use must be 0 */
	if (r.index && r.op != SHJ_OP_STATS && r.op != SHJ_OP_LIST)
		return -EINVAL;
	if (r.index >= SHJ_PAGES_MAX && r.op == SHJ_OP_STATS)
		return -EINVAL;
	if (r.qos && r.op != SHJ_OP_REGISTER && r.op != SHJ_OP_SET_QOS)
		return -EINVAL;
	if (r.qos < 0 || r.qos >= SHJ_QOS_MAX)
		return -EINVAL;
	if (r.op != SHJ_OP_IDLE && r.op != SHJ_OP_RUNNABLE && (r.flags || r.count))
		return -EINVAL;
	if (r.flags & ~SHJ_REQ_NOREPLY || r.count > SHJ_BATCH_MAX)
		return -EINVAL;
	for (i = 0; i < SHJ_BATCH_MAX; i++)
		if (i < r.count ? r.tids[i] <= 0 : r.tids[i] != 0)
			return -EINVAL;

	switch (r.op) {
	case SHJ_OP_REGISTER:
	case SHJ_OP_UNREGISTER:
	case SHJ_OP_SET_QOS:
		return r.tid > 0 ? 0 : -EINVAL;
	case SHJ_OP_IDLE:
	case SHJ_OP_RUNNABLE:	/* one thread, or a batch */
		return (r.count == 0) == (r.tid > 0) && r.tid >= 0 ? 0 : -EINVAL;
	default:
		return r.tid == 0 ? 0 : -EINVAL;
	}
}

int shj_req_check(const void *buf, size_t len)
{
	struct shj_req r;

	if (len < sizeof(r))
		return -EBADMSG;
	memcpy(&r, buf, sizeof(r));
	if (r.version < SHJ_PROTO_VERSION_MIN || r.version > SHJ_PROTO_VERSION)
		return -EPROTO;
	if (len != sizeof(r) || r.size != len)
		return -EBADMSG;
	return check_fields(&r);
}

int shj_hello_check(const void *buf, size_t len)
{
	struct shj_req r;

	if (len < sizeof(r) || len > SHJ_MSG_MAX)
		return -EBADMSG;
	memcpy(&r, buf, sizeof(r));
	if (r.size != len)
		return -EBADMSG;
	if (r.version < SHJ_PROTO_VERSION_MIN)
		return -EPROTO;
	if (r.op != SHJ_OP_HELLO && r.op != SHJ_OP_OPEN)
		return -EINVAL;
	return check_fields(&r);
}

size_t shj_rep_size(int op)
{
	return op == SHJ_OP_STATS || op == SHJ_OP_LIST ?
		sizeof(struct shj_rep_page) : sizeof(struct shj_rep);
}

/* An error is answered with a plain struct shj_rep whatever the op. */
int shj_rep_check(const void *buf, size_t len, const struct shj_req *req,
		  uint64_t nonce)
{
	struct shj_rep r;

	if (len < sizeof(r))
		return -EBADMSG;
	memcpy(&r, buf, sizeof(r));
	/* not the answer to this call, whatever else it is */
	if (r.op != req->op || r.seq != req->seq || r.nonce != nonce)
		return -ESTALE;
	if (r.version != SHJ_PROTO_VERSION)
		return -EPROTO;
	if (r.size != len ||
	    (len != sizeof(r) && len != shj_rep_size(req->op)))
		return -EBADMSG;
	if (len == sizeof(r) && r.status == 0 && shj_rep_size(req->op) != len)
		return -EBADMSG;	/* success must carry the op's payload */
	if (len != sizeof(r)) {
		uint32_t count;

		memcpy(&count, (const char *)buf + offsetof(struct shj_rep_page, count),
		       sizeof(count));
		if (r.status || count > (req->op == SHJ_OP_LIST ?
					 SHJ_THREADS_PER_PAGE : SHJ_KV_PER_PAGE))
			return -EBADMSG;
	}
	if (r.status > 0 || r.status < -4095)
		return -EBADMSG;
	return 0;
}

int shj_queue_name(char *buf, size_t size, pid_t pid, unsigned int n, char kind)
{
	int len;

	if (kind != 'q' && kind != 'r')
		return -EINVAL;
	len = snprintf(buf, size, "/shj-%d-%u%c", (int)pid, n, kind);
	return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}

/* Exactly the names shj_queue_name() makes: no leading zeros, n within
 * an unsigned int, the whole name within SHJ_QUEUE_NAME_MAX. */
int shj_queue_valid(const char *name, pid_t pid, char kind)
{
	char prefix[SHJ_QUEUE_NAME_MAX], again[SHJ_QUEUE_NAME_MAX];
	int len = snprintf(prefix, sizeof(prefix), "/shj-%d-", (int)pid);
	unsigned long long n = 0;
	const char *p;

	if ((kind != 'q' && kind != 'r') || len < 0 || (size_t)len >= sizeof(prefix) ||
	    strncmp(name, prefix, len))
		return 0;
	for (p = name + len; *p >= '0' && *p <= '9' && n <= 0xffffffffULL; p++)
		n = n * 10 + (unsigned int)(*p - '0');
	return p > name + len && n <= 0xffffffffULL && p[0] == kind && p[1] == '\0' &&
	       !shj_queue_name(again, sizeof(again), pid, (unsigned int)n, kind) &&
	       !strcmp(again, name);
}

int shj_stat_starttime(const char *stat, unsigned long long *start)
{
	const char *p = strrchr(stat, ')');	/* the name may hold anything */
	int field;

	if (!p)
		return -EINVAL;
	/* ") S ppid ...": field 3 follows, the start time is field 22 */
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", start) != 1)
		return -EINVAL;
	return 0;
}
