/* Unit tests: the lock-free worker pool of examples/workers.c, on the host,
 * without shinjukud (cfg.shinjuku = 0: the kernel's own scheduler). A burst
 * far larger than the workers fills the pending ring and drives every
 * hand-over path (direct, queued, taken back by a worker that was going
 * idle); every request must be done exactly once, and stopping must not
 * hang. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workers.h"

#define NREQ	50000

static uint32_t done[NREQ], begun[NREQ];
static uint32_t ndone;

static void on_begin(void *ctx, uint64_t id)
{
	__atomic_add_fetch(&begun[id], 1, __ATOMIC_RELAXED);
}

static void on_done(void *ctx, uint64_t id)
{
	__atomic_add_fetch(&done[id], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&ndone, 1, __ATOMIC_RELEASE);
}

static void burst(int workers, enum wk_wait wait)
{
	struct wk_config cfg = { .workers = workers, .wait = wait, .begin = on_begin };
	struct wk_pool *pool;
	uint64_t i;

	memset(done, 0, sizeof(done));
	memset(begun, 0, sizeof(begun));
	ndone = 0;
	ck_assert_int_eq(wk_start(&pool, &cfg, on_done, NULL), 0);
	for (i = 0; i < NREQ; i++) {
		/* every 1000th request: a pause, so that workers go idle and
		 * the burst after it starts with direct hand-overs again */
		if (i % 1000 == 999)
			usleep(2000);
		ck_assert_int_eq(wk_submit(pool, i, i % 7 ? 0 : 20000), 0);
	}
	/* bounded: Check's timeout ends a hang */
	while (__atomic_load_n(&ndone, __ATOMIC_ACQUIRE) < NREQ)
		usleep(1000);
	wk_stop(pool);
	for (i = 0; i < NREQ; i++) {
		ck_assert_msg(done[i] == 1, "request %llu done %u times",
			      (unsigned long long)i, done[i]);
		ck_assert_uint_eq(begun[i], 1);
	}
}

START_TEST(test_blocking_workers)
{
	burst(3, WK_BLOCK);
}
END_TEST

START_TEST(test_spinning_workers)
{
	burst(3, WK_SPIN);
}
END_TEST

START_TEST(test_one_worker)
{
	burst(1, WK_BLOCK);
}
END_TEST

START_TEST(test_bad_config)
{
	struct wk_config cfg = { .workers = 0 };
	struct wk_pool *pool;

	ck_assert_int_eq(wk_start(&pool, &cfg, on_done, NULL), -EINVAL);
	cfg.workers = WK_MAX_WORKERS + 1;
	ck_assert_int_eq(wk_start(&pool, &cfg, on_done, NULL), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("workers");
	TCase *tc = tcase_create("hand-over");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bad_config);
	tcase_add_test(tc, test_blocking_workers);
	tcase_add_test(tc, test_spinning_workers);
	tcase_add_test(tc, test_one_worker);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
