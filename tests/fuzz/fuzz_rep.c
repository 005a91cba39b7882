/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libFuzzer: the client's validation of a reply (shj_rep_check(), proto.c)
 * against the call it waits for. The input's first byte says whether the
 * call is the one the reply names (its op, seq and nonce) or one taken from
 * the next bytes; the rest is the reply. What is accepted must be what the
 * library copies out and trusts: one of the op's sizes, a status that is 0
 * or -errno, a page no fuller than a page.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../proto/proto.h"

#define REQUIRE(c)	do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shj_req req;
	struct shj_rep rep;
	uint64_t nonce;
	const uint8_t *buf;
	size_t len;
	int err;

	if (size < 1 + 2 + 4 + 8)
		return 0;
	memset(&req, 0, sizeof(req));
	memcpy(&req.op, data + 1, 2);
	memcpy(&req.seq, data + 3, 4);
	memcpy(&nonce, data + 7, 8);
	buf = data + 15;
	len = size - 15;
	if (len > sizeof(struct shj_rep_page) + 1)
		return 0;	/* the library reads at most this much */
	memset(&rep, 0, sizeof(rep));
	memcpy(&rep, buf, len < sizeof(rep) ? len : sizeof(rep));
	if (data[0] & 1) {	/* the call it names */
		req.op = rep.op;
		req.seq = rep.seq;
		nonce = rep.nonce;
	}
	err = shj_rep_check(buf, len, &req, nonce);
	if (err)
		return 0;
	REQUIRE(len >= sizeof(rep) && rep.size == len);
	REQUIRE(rep.op == req.op && rep.seq == req.seq && rep.nonce == nonce);
	REQUIRE(rep.version == SHJ_PROTO_VERSION);
	REQUIRE(rep.status <= 0 && rep.status >= -4095);
	REQUIRE(len == sizeof(rep) || len == shj_rep_size(req.op));
	if (len == sizeof(rep))
		REQUIRE(rep.status || shj_rep_size(req.op) == sizeof(rep));
	if (len != sizeof(rep)) {
		struct shj_rep_page pg;

		REQUIRE(len == sizeof(pg));
		memcpy(&pg, buf, sizeof(pg));
		REQUIRE(!pg.rep.status);
		REQUIRE(pg.count <= (req.op == SHJ_OP_LIST ? SHJ_THREADS_PER_PAGE : SHJ_KV_PER_PAGE));
	}
	return 0;
}
