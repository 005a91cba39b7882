/* Unit tests: the wire protocol's validation (proto/proto.c). */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../../proto/proto.h"
#include "../../bpf/shj_shared.h"

static int uses_tid(int op)
{
	return op >= SHJ_OP_REGISTER && op <= SHJ_OP_RUNNABLE;
}

static struct shj_req good(int op)
{
	struct shj_req r;

	memset(&r, 0, sizeof(r));
	r.version = SHJ_PROTO_VERSION;
	r.op = (uint16_t)op;
	r.size = sizeof(r);
	r.seq = 7;
	if (op == SHJ_OP_HELLO || op == SHJ_OP_OPEN) {
		r.pid = 1234;
		r.fd = 5;
		strcpy(r.queue, op == SHJ_OP_HELLO ? "/shj-1234-0q" : "/shj-1234-0r");
	}
	if (op == SHJ_OP_OPEN)
		r.nonce = 0x1122334455667788ULL;
	if (uses_tid(op))
		r.tid = 1235;
	if (op == SHJ_OP_REGISTER || op == SHJ_OP_SET_QOS)
		r.qos = 1;
	return r;
}

static int check(const struct shj_req *r)
{
	return shj_req_check(r, sizeof(*r));
}

START_TEST(test_valid_requests)
{
	struct shj_req r;
	int op;

	for (op = SHJ_OP_HELLO; op < SHJ_OP_MAX; op++) {
		r = good(op);
		ck_assert_msg(check(&r) == 0, "op %d: %d", op, check(&r));
	}
}
END_TEST

START_TEST(test_bad_header)
{
	struct shj_req r = good(SHJ_OP_REGISTER);

	ck_assert_int_eq(shj_req_check(&r, sizeof(r) - 1), -EBADMSG);
	ck_assert_int_eq(shj_req_check(&r, 0), -EBADMSG);
	r.version = SHJ_PROTO_VERSION + 1;
	ck_assert_int_eq(check(&r), -EPROTO);
	r = good(SHJ_OP_REGISTER);
	r.size = sizeof(r) + 4;
	ck_assert_int_eq(check(&r), -EBADMSG);
	r = good(SHJ_OP_REGISTER);
	r.op = 0;
	ck_assert_int_eq(check(&r), -EOPNOTSUPP);
	r.op = SHJ_OP_MAX;
	ck_assert_int_eq(check(&r), -EOPNOTSUPP);
	r.op = 0xffff;
	ck_assert_int_eq(check(&r), -EOPNOTSUPP);
	r = good(SHJ_OP_HELLO);
	r.pid = 0;
	ck_assert_int_eq(check(&r), -EINVAL);
	r.pid = -5;
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_OPEN);
	r.fd = -1;
	ck_assert_int_eq(check(&r), -EINVAL);
}
END_TEST

START_TEST(test_unused_fields_must_be_zero)
{
	struct shj_req r;
	int op;

	for (op = SHJ_OP_HELLO; op < SHJ_OP_MAX; op++) {
		r = good(op);
		r.index = 1;
		ck_assert_int_eq(check(&r),
				 op == SHJ_OP_STATS || op == SHJ_OP_LIST ? 0 : -EINVAL);
		r = good(op);
		r.flags = SHJ_REQ_NOREPLY;
		ck_assert_int_eq(check(&r),
				 op == SHJ_OP_IDLE || op == SHJ_OP_RUNNABLE ? 0 : -EINVAL);
		r = good(op);
		r.qos = 2;
		ck_assert_int_eq(check(&r),
				 op == SHJ_OP_REGISTER || op == SHJ_OP_SET_QOS ? 0 : -EINVAL);
		r = good(op);
		r.tid = uses_tid(op) ? 0 : 99;
		ck_assert_int_eq(check(&r), -EINVAL);
		r = good(op);
		r.tids[SHJ_BATCH_MAX - 1] = 5;	/* beyond count */
		ck_assert_int_eq(check(&r), -EINVAL);
	}
	r = good(SHJ_OP_IDLE);
	r.flags = 2;		/* unknown flag */
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_STATS);
	r.index = SHJ_PAGES_MAX;
	ck_assert_int_eq(check(&r), -EINVAL);
}
END_TEST

START_TEST(test_register_fields)
{
	struct shj_req r = good(SHJ_OP_REGISTER);

	r.qos = SHJ_QOS_MAX - 1;
	ck_assert_int_eq(check(&r), 0);
	r.qos = SHJ_QOS_MAX;
	ck_assert_int_eq(check(&r), -EINVAL);
	r.qos = -1;
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_SET_QOS);
	r.qos = SHJ_QOS_MAX;
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_REGISTER);
	r.tid = -1;
	ck_assert_int_eq(check(&r), -EINVAL);
}
END_TEST

START_TEST(test_batches)
{
	struct shj_req r = good(SHJ_OP_RUNNABLE);
	int i;

	r.tid = 0;
	r.count = SHJ_BATCH_MAX;
	for (i = 0; i < SHJ_BATCH_MAX; i++)
		r.tids[i] = 100 + i;
	ck_assert_int_eq(check(&r), 0);
	r.flags = SHJ_REQ_NOREPLY;
	ck_assert_int_eq(check(&r), 0);
	r.tid = 5;		/* a batch or one tid, not both */
	ck_assert_int_eq(check(&r), -EINVAL);
	r.tid = 0;
	r.tids[3] = 0;		/* a hole */
	ck_assert_int_eq(check(&r), -EINVAL);
	r.tids[3] = -7;
	ck_assert_int_eq(check(&r), -EINVAL);
	r.tids[3] = 103;
	r.count = SHJ_BATCH_MAX + 1;
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_SET_QOS);	/* batches are for marks only */
	r.count = 1;
	r.tids[0] = 5;
	ck_assert_int_eq(check(&r), -EINVAL);
}
END_TEST

START_TEST(test_hello_fields)
{
	struct shj_req r = good(SHJ_OP_HELLO);
	int op;

	r.nonce = 1;		/* HELLO carries nothing but where to look */
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_HELLO);
	strcpy(r.queue, "/shj-999-0q");	/* another pid's name */
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_HELLO);
	strcpy(r.queue, "/shj-1234-0r");	/* HELLO names a request queue */
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_OPEN);
	strcpy(r.queue, "/shj-1234-0q");	/* OPEN names a reply queue */
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_HELLO);
	strcpy(r.queue, "/shinjukud");
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_HELLO);
	memset(r.queue, 'a', sizeof(r.queue));	/* no NUL */
	ck_assert_int_eq(check(&r), -EINVAL);
	r = good(SHJ_OP_HELLO);
	r.queue[0] = '\0';
	ck_assert_int_eq(check(&r), -EINVAL);
	/* the connection's fields belong to HELLO and OPEN only */
	for (op = SHJ_OP_BYE; op < SHJ_OP_MAX; op++) {
		r = good(op);
		r.pid = 1234;
		ck_assert_int_eq(check(&r), -EINVAL);
		r = good(op);
		r.fd = 3;
		ck_assert_int_eq(check(&r), -EINVAL);
		r = good(op);
		r.nonce = 3;
		ck_assert_int_eq(check(&r), -EINVAL);
		r = good(op);
		r.queue[5] = 'x';
		ck_assert_int_eq(check(&r), -EINVAL);
	}
}
END_TEST

/* A newer client's HELLO and OPEN are longer: their version-2 fields are
 * read all the same (to answer -EPROTO); its other requests are refused. */
START_TEST(test_versions)
{
	union { struct shj_req r; char buf[SHJ_MSG_MAX]; } m;
	int op;

	for (op = SHJ_OP_HELLO; op <= SHJ_OP_OPEN; op++) {
		memset(&m, 0, sizeof(m));
		m.r = good(op);
		ck_assert_int_eq(shj_hello_check(&m, sizeof(m.r)), 0);
		m.r.version = SHJ_PROTO_VERSION + 1;
		m.r.size = sizeof(m.r) + 16;
		ck_assert_int_eq(shj_hello_check(&m, sizeof(m.r) + 16), 0);
		ck_assert_int_eq(shj_req_check(&m, sizeof(m.r) + 16), -EPROTO);
		ck_assert_int_eq(shj_hello_check(&m, sizeof(m.r) + 8), -EBADMSG);
		m.r.size = SHJ_MSG_MAX + 1;
		ck_assert_int_eq(shj_hello_check(&m, SHJ_MSG_MAX + 1), -EBADMSG);
		m.r = good(op);
		m.r.version = SHJ_PROTO_VERSION_MIN - 1;	/* before sessions had queues */
		ck_assert_int_eq(shj_hello_check(&m, sizeof(m.r)), -EPROTO);
		ck_assert_int_eq(shj_req_check(&m, sizeof(m.r)), -EPROTO);
	}
	m.r = good(SHJ_OP_SYNC);
	ck_assert_int_eq(shj_hello_check(&m, sizeof(m.r)), -EINVAL);
}
END_TEST

START_TEST(test_queue_names)
{
	char buf[SHJ_QUEUE_NAME_MAX];

	ck_assert_int_eq(shj_queue_name(buf, sizeof(buf), 42, 3, 'q'), 0);
	ck_assert_str_eq(buf, "/shj-42-3q");
	ck_assert_int_eq(shj_queue_valid(buf, 42, 'q'), 1);
	ck_assert_int_eq(shj_queue_valid(buf, 42, 'r'), 0);
	ck_assert_int_eq(shj_queue_valid(buf, 4, 'q'), 0);
	ck_assert_int_eq(shj_queue_name(buf, sizeof(buf), 42, 3, 'r'), 0);
	ck_assert_str_eq(buf, "/shj-42-3r");
	ck_assert_int_eq(shj_queue_valid("/shj-42-q", 42, 'q'), 0);
	ck_assert_int_eq(shj_queue_valid("/shj-42-3", 42, 'q'), 0);
	ck_assert_int_eq(shj_queue_valid("/shj-42-3qq", 42, 'q'), 0);
	ck_assert_int_eq(shj_queue_valid("/shj-42-3x", 42, 'x'), 0);
	ck_assert_int_eq(shj_queue_valid("/shj-42-3/../xq", 42, 'q'), 0);
	ck_assert_int_eq(shj_queue_valid("/shinjukud", 42, 'q'), 0);
	/* only names shj_queue_name() makes (fuzz_req found the first two) */
	ck_assert_int_eq(shj_queue_valid("/shj-42-0000000011111111111111111q", 42, 'q'), 0);
	ck_assert_int_eq(shj_queue_valid("/shj-42-03q", 42, 'q'), 0);
	ck_assert_int_eq(shj_queue_valid("/shj-42-4294967296q", 42, 'q'), 0);
	ck_assert_int_eq(shj_queue_valid("/shj-42-4294967295q", 42, 'q'), 1);
	ck_assert_int_eq(shj_queue_valid("/shj-42-0q", 42, 'q'), 1);
	ck_assert_int_eq(shj_queue_name(buf, 4, 42, 3, 'q'), -ENAMETOOLONG);
	ck_assert_int_eq(shj_queue_name(buf, sizeof(buf), 42, 3, 'x'), -EINVAL);
}
END_TEST

#define NONCE 0x0123456789abcdefULL

static struct shj_rep rep_for(const struct shj_req *q)
{
	struct shj_rep r;

	memset(&r, 0, sizeof(r));
	r.version = SHJ_PROTO_VERSION;
	r.op = q->op;
	r.size = sizeof(r);
	r.seq = q->seq;
	r.nonce = NONCE;
	return r;
}

START_TEST(test_reply_check)
{
	struct shj_req q = good(SHJ_OP_REGISTER);
	struct shj_rep r = rep_for(&q);

	r.status = -EPERM;
	ck_assert_int_eq(shj_rep_check(&r, sizeof(r), &q, NONCE), 0);
	ck_assert_int_eq(shj_rep_check(&r, sizeof(r) - 1, &q, NONCE), -EBADMSG);
	r.seq++;
	ck_assert_int_eq(shj_rep_check(&r, sizeof(r), &q, NONCE), -ESTALE);
	r.seq = q.seq;
	r.op = SHJ_OP_SYNC;
	ck_assert_int_eq(shj_rep_check(&r, sizeof(r), &q, NONCE), -ESTALE);
	r.op = q.op;
	/* the right op and seq, but not from our session: not the answer */
	ck_assert_int_eq(shj_rep_check(&r, sizeof(r), &q, NONCE ^ 1), -ESTALE);
	ck_assert_int_eq(shj_rep_check(&r, sizeof(r), &q, 0), -ESTALE);
	r.status = 5;
	ck_assert_int_eq(shj_rep_check(&r, sizeof(r), &q, NONCE), -EBADMSG);
	r.status = 0;
	r.version = 99;
	ck_assert_int_eq(shj_rep_check(&r, sizeof(r), &q, NONCE), -EPROTO);
}
END_TEST

START_TEST(test_pages)
{
	struct shj_req q = good(SHJ_OP_STATS);
	struct shj_rep_page pg;

	memset(&pg, 0, sizeof(pg));
	pg.rep = rep_for(&q);
	pg.rep.size = sizeof(pg);
	pg.count = SHJ_KV_PER_PAGE;
	ck_assert_int_eq(shj_rep_check(&pg, sizeof(pg), &q, NONCE), 0);
	pg.count = SHJ_KV_PER_PAGE + 1;
	ck_assert_int_eq(shj_rep_check(&pg, sizeof(pg), &q, NONCE), -EBADMSG);
	q = good(SHJ_OP_LIST);
	pg.rep.op = q.op;
	pg.count = SHJ_THREADS_PER_PAGE;
	ck_assert_int_eq(shj_rep_check(&pg, sizeof(pg), &q, NONCE), 0);
	pg.count = SHJ_THREADS_PER_PAGE + 1;
	ck_assert_int_eq(shj_rep_check(&pg, sizeof(pg), &q, NONCE), -EBADMSG);
	pg.count = 0;
	pg.rep.size = sizeof(pg.rep);	/* size field disagrees with length */
	ck_assert_int_eq(shj_rep_check(&pg, sizeof(pg), &q, NONCE), -EBADMSG);
	/* an error comes as a plain reply; a success must carry the page */
	pg.rep.status = -EMSGSIZE;
	ck_assert_int_eq(shj_rep_check(&pg.rep, sizeof(pg.rep), &q, NONCE), 0);
	pg.rep.status = 0;
	ck_assert_int_eq(shj_rep_check(&pg.rep, sizeof(pg.rep), &q, NONCE), -EBADMSG);
	/* a page answering a request that wants a plain reply */
	q = good(SHJ_OP_IDLE);
	pg.rep.op = q.op;
	pg.rep.size = sizeof(pg);
	ck_assert_int_eq(shj_rep_check(&pg, sizeof(pg), &q, NONCE), -EBADMSG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("validate");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_valid_requests);
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_unused_fields_must_be_zero);
	tcase_add_test(tc, test_register_fields);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_hello_fields);
	tcase_add_test(tc, test_queue_names);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_reply_check);
	tcase_add_test(tc, test_pages);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
