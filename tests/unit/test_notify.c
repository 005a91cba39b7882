/* Unit tests: shinjukud's readiness message (shinjukud/notify.c) reaches a
 * socket named by $NOTIFY_SOCKET, a path or an abstract name, as systemd's
 * Type=notify expects; bad names are refused; no socket, nothing sent. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../shinjukud/notify.h"

/* A datagram socket bound to name (path, or '@' abstract). */
static int listener(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	ck_assert_int_ge(fd, 0);
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
	return fd;
}

static void expect(int fd, const char *msg)
{
	char buf[64] = "";
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	ck_assert_int_eq(n, (ssize_t)strlen(msg));
	buf[n] = '\0';
	ck_assert_str_eq(buf, msg);
}

START_TEST(test_path)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/shj-notify-%d", (int)getpid());
	unlink(path);
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	ck_assert_int_eq(shj_notify("READY=1"), 0);
	expect(fd, "READY=1");
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(test_abstract)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "@shj-notify-%d", (int)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	ck_assert_int_eq(shj_notify("READY=1"), 0);
	expect(fd, "READY=1");
	close(fd);
}
END_TEST

START_TEST(test_unset_and_bad)
{
	char longname[200];

	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(shj_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	ck_assert_int_eq(shj_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(shj_notify("READY=1"), -EINVAL);
	setenv("NOTIFY_SOCKET", "@", 1);
	ck_assert_int_eq(shj_notify("READY=1"), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	ck_assert_int_eq(shj_notify("READY=1"), -ENAMETOOLONG);
	setenv("NOTIFY_SOCKET", "/nonexistent/shj-notify", 1);
	ck_assert_int_eq(shj_notify("READY=1"), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("sd_notify");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_path);
	tcase_add_test(tc, test_abstract);
	tcase_add_test(tc, test_unset_and_bad);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
