/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libFuzzer: the daemon's validation of what arrives on a queue (proto.c):
 * shj_req_check() for a session's request queue, shj_hello_check() for the
 * public one, and the queue-name and /proc/<pid>/stat parsers behind them.
 * Any bytes; what is accepted must hold what the server relies on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../proto/proto.h"
#include "../../bpf/shj_shared.h"

#define REQUIRE(c)	do { if (!(c)) abort(); } while (0)

/* What every accepted message holds, whatever its op. */
static void accepted(const struct shj_req *r, size_t len)
{
	uint32_t i;

	REQUIRE(len >= sizeof(*r) && len <= SHJ_MSG_MAX && r->size == len);
	REQUIRE(r->version >= SHJ_PROTO_VERSION_MIN);
	REQUIRE(r->op >= SHJ_OP_HELLO && r->op < SHJ_OP_MAX);
	REQUIRE(r->qos >= 0 && r->qos < SHJ_QOS_MAX);
	REQUIRE(r->count <= SHJ_BATCH_MAX && !(r->flags & ~SHJ_REQ_NOREPLY));
	for (i = 0; i < SHJ_BATCH_MAX; i++)
		REQUIRE(i < r->count ? r->tids[i] > 0 : r->tids[i] == 0);
	if (r->op == SHJ_OP_HELLO || r->op == SHJ_OP_OPEN) {
		REQUIRE(r->pid > 0 && r->fd >= 0);
		REQUIRE(memchr(r->queue, '\0', sizeof(r->queue)));
		REQUIRE(shj_queue_valid(r->queue, r->pid, r->op == SHJ_OP_HELLO ? 'q' : 'r'));
	} else {
		REQUIRE(!r->pid && !r->fd && !r->nonce && !r->queue[0]);
	}
	if (r->op >= SHJ_OP_REGISTER && r->op <= SHJ_OP_SET_QOS)
		REQUIRE(r->tid > 0);
	if (r->op == SHJ_OP_IDLE || r->op == SHJ_OP_RUNNABLE)
		REQUIRE((r->count == 0) == (r->tid > 0));
	if (r->op == SHJ_OP_STATS)
		REQUIRE(r->index < SHJ_PAGES_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char str[SHJ_MSG_MAX + 1];
	unsigned long long start;
	struct shj_req r;
	size_t n = size < SHJ_MSG_MAX ? size : SHJ_MSG_MAX;
	int err;

	memset(&r, 0, sizeof(r));
	memcpy(&r, data, size < sizeof(r) ? size : sizeof(r));
	err = shj_req_check(data, size);
	if (!err) {
		accepted(&r, size);
		REQUIRE(size == sizeof(r) && r.version <= SHJ_PROTO_VERSION);
	}
	err = shj_hello_check(data, size);
	if (!err) {
		accepted(&r, size);
		REQUIRE(r.op == SHJ_OP_HELLO || r.op == SHJ_OP_OPEN);
	}
	/* the parsers, on the bytes as a string */
	memcpy(str, data, n);
	str[n] = '\0';
	if (shj_queue_valid(str, r.pid, 'q') || shj_queue_valid(str, r.pid, 'r'))
		REQUIRE(str[0] == '/' && strlen(str) < SHJ_QUEUE_NAME_MAX);
	if (!shj_stat_starttime(str, &start))
		REQUIRE(strrchr(str, ')'));
	return 0;
}
