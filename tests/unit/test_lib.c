/* Unit tests: libshinjuku's argument checks and its behaviour with no daemon.
 * Runs on any host: with no shinjukud, calls must fail fast, not hang. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shinjuku.h"

static int daemon_running(void)
{
	mqd_t q = mq_open("/shinjukud", O_WRONLY);

	if (q == (mqd_t)-1)
		return 0;
	mq_close(q);
	return 1;
}

START_TEST(test_bad_arguments)
{
	ck_assert_int_eq(shj_register(-1, 0), -EINVAL);
	ck_assert_int_eq(shj_register(0, -1), -EINVAL);
	ck_assert_int_eq(shj_register(0, SHJ_QOS_LEVELS_MAX), -EINVAL);
}
END_TEST

START_TEST(test_no_daemon_fails_fast)
{
	if (daemon_running()) {
		printf("SKIP test_no_daemon_fails_fast: a shinjukud is running here\n");
		return;
	}
	/* a hang here would trip Check's per-test timeout */
	ck_assert_int_eq(shj_register(0, 0), -ECONNREFUSED);
	ck_assert_int_eq(shj_connect(), -ECONNREFUSED);
	ck_assert_int_eq(shj_close(), 0);
}
END_TEST

START_TEST(test_strerror)
{
	ck_assert_str_eq(shj_strerror(0), "success");
	ck_assert_str_eq(shj_strerror(-ECONNREFUSED), "shinjukud is not running");
	ck_assert_ptr_nonnull(shj_strerror(-ENOMEM));
	ck_assert_str_eq(shj_strerror(-ENOMEM), strerror(ENOMEM));
	ck_assert_str_eq(shj_strerror(12345678), "unknown error");
	ck_assert_str_eq(shj_strerror(-12345678), "unknown error");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("libshinjuku");
	TCase *tc = tcase_create("api");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_no_daemon_fails_fast);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
