/* Unit tests: shinjukud's request handling and ownership rules
 * (shinjukud/server.c), on the host, against the real maps and the real
 * shinjuku_apply program (loaded as `shinjukud --dry-run` does: no
 * sched_ext needed), with real message queues. The clients are separate
 * processes under other uids: tests/shj-try, run through fork + setresuid +
 * exec. Needs root and bpf(); skipped with the reason otherwise. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

typedef __s32 s32;
typedef __u32 u32;
typedef __u64 u64;
#include "../../bpf/shj_shared.h"
#include "shinjuku.skel.h"
#include "../../shinjukud/server.h"
#include "maps_only.h"

static struct shinjuku_bpf *skel;
static struct shj_server srv;
static pthread_t server_thread;
static volatile int stop;
static char try_path[PATH_MAX], go_file[64];

static void *serve(void *arg)
{
	struct pollfd fds[1 + 16];
	int n, i;

	while (!stop) {
		fds[0] = (struct pollfd){ .fd = (int)srv.req, .events = POLLIN };
		n = 1 + shj_server_pollfds(&srv, fds + 1, 16);
		if (poll(fds, (nfds_t)n, 10) <= 0)
			continue;
		if (fds[0].revents)
			shj_server_handle(&srv);
		for (i = 1; i < n; i++)
			if (fds[i].revents)
				shj_server_reap(&srv, fds[i].fd);
	}
	return arg;
}

/* Everything a dry-run daemon has: the maps, shinjuku_apply, the lock, the
 * request queue. 0 or -errno. */
static int start_server(void)
{
	struct shj_sched sched = { .nr_levels = 8, .dry_run = 1 };
	int err, lock;

	err = load_maps_only(&skel, 1);
	if (err)
		return err;
	lock = open(SHJ_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB))
		return -EBUSY;	/* a real shinjukud runs here */
	fchmod(lock, 0644);
	sched.tasks_fd = bpf_map__fd(skel->maps.shj_tasks);
	sched.rt_fd = bpf_map__fd(skel->maps.shj_rt);
	sched.apply_fd = bpf_program__fd(skel->progs.shinjuku_apply);
	err = shj_server_open(&srv, &sched, 16, 64);
	if (err)
		return err;
	return pthread_create(&server_thread, NULL, serve, NULL) ? -EAGAIN : 0;
}

/* Run shj-try as uid with args; its output goes to out (size). Returns the
 * child's pid; wait_try() collects it. */
static pid_t start_try(uid_t uid, int *out_fd, char *const args[])
{
	char *argv[32];
	int p[2], i;
	pid_t pid;

	argv[0] = try_path;
	for (i = 0; args[i] && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {	/* only async-signal-safe calls until exec */
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
			_exit(127);
		execv(try_path, argv);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

/* Read the child's output until a line starting with until (or EOF). */
static void read_until(int fd, char *buf, size_t size, const char *until)
{
	size_t len = strlen(buf);
	ssize_t n;

	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (until && strstr(buf, until))
			return;
	}
	buf[len] = '\0';
}

static char *run_try(uid_t uid, char *const args[], char *buf, size_t size)
{
	int fd, status;
	pid_t pid = start_try(uid, &fd, args);

	buf[0] = '\0';
	ck_assert_int_gt(pid, 0);
	read_until(fd, buf, size, NULL);
	close(fd);
	waitpid(pid, &status, 0);
	return buf;
}

#define HAS(buf, line) ck_assert_msg(strstr(buf, line), "want \"%s\" in:\n%s", line, buf)

START_TEST(test_ownership)
{
	char a_out[4096] = "", out[4096], tid[16];
	char *a_args[] = { "spawn", "1", "register", "all", "0", "register", "self", "0",
			   "register", "self", "0", "qos", "self", "9", "idle", "self",
			   "wait", go_file, "hold", NULL };
	int a_fd, status;
	pid_t a;
	char *p;

	unlink(go_file);
	a = start_try(1001, &a_fd, a_args);
	ck_assert_int_gt(a, 0);
	read_until(a_fd, a_out, sizeof(a_out), "waiting");
	HAS(a_out, "register all -> 0 failed");
	HAS(a_out, "register self 0 -> 0");
	HAS(a_out, "register self 0 -> -EEXIST");
	HAS(a_out, "qos self 9 -> -EINVAL");	/* 8 levels */
	HAS(a_out, "idle self -> 0");
	p = strstr(a_out, "spawned ");
	ck_assert_ptr_nonnull(p);
	snprintf(tid, sizeof(tid), "%d", atoi(p + 8));
	ck_assert_uint_eq(srv.nthreads, 2);

	{	/* another uid */
		char *args[] = { "idle", tid, "qos", tid, "2", "unregister", tid,
				 "register", tid, "0", "register", "4000000", "0",
				 "stale", "forged", NULL };

		run_try(1002, args, out, sizeof(out));
		HAS(out, "idle");
		ck_assert_msg(strstr(out, "-> -EPERM") && !strstr(out, "-> 0\n"), "%s", out);
		HAS(out, "register 4000000 0 -> -ESRCH");
		HAS(out, "stale -> -ENOTCONN");
		HAS(out, "forged -> -EPERM");
	}
	{	/* the same uid, another process */
		char *args[] = { "idle", tid, "unregister", tid, NULL };

		run_try(1001, args, out, sizeof(out));
		ck_assert_msg(!strstr(out, "-> 0"), "%s", out);
	}
	{	/* root, the admin */
		char *args[] = { "runnable", tid, "qos", tid, "3", NULL };
		struct shj_task t;

		run_try(0, args, out, sizeof(out));
		HAS(out, "runnable");
		ck_assert_msg(!strstr(out, "-EPERM"), "%s", out);
		ck_assert_int_eq(shj_task_read(bpf_map__fd(skel->maps.shj_tasks),
					       atoi(tid), &t), 0);
		ck_assert_uint_eq(t.qos, 3);
		ck_assert_uint_eq(t.flags, 0);
	}
	/* the owner goes: its session and registrations with it */
	kill(a, SIGKILL);
	waitpid(a, &status, 0);
	close(a_fd);
	{
		int i;

		for (i = 0; i < 500 && srv.nthreads; i++)
			usleep(10000);	/* bounded; the reap takes one poll */
	}
	ck_assert_uint_eq(srv.nthreads, 0);
}
END_TEST

START_TEST(test_batches_and_async)
{
	char out[4096];
	char *args[] = { "spawn", "20", "register", "all", "1", "idle-many",
			 "runnable-many", "async", "1", "idle-many", "idle", "4000000",
			 "sync", "sync", "async", "0", NULL };

	run_try(1001, args, out, sizeof(out));
	HAS(out, "register all -> 0 failed");
	HAS(out, "idle-many -> 0");
	HAS(out, "runnable-many -> 0");
	/* one-way: the error comes back from the next sync, once */
	HAS(out, "idle 4000000 -> 0");
	HAS(out, "sync -> -ENOENT\nsync -> 0");
}
END_TEST

/* Threads of one process send one-way marks at the same time (the library
 * sends them concurrently): every one arrives and is applied. */
START_TEST(test_concurrent_async_marks)
{
	char out[4096];
	char *args[] = { "spawn", "8", "register", "all", "0", "async", "1",
			 "marks-parallel", "100", "sync", NULL };
	u64 marks = srv.stats.marks;

	run_try(1001, args, out, sizeof(out));
	HAS(out, "register all -> 0 failed");
	HAS(out, "marks-parallel 100 -> 0");
	HAS(out, "sync -> 0");
	ck_assert_uint_eq(srv.stats.marks - marks, 8 * 2 * 100);
}
END_TEST

START_TEST(test_garbage)
{
	char out[4096];
	char *flood[] = { "flood", "500", NULL };
	char *good[] = { "register", "self", "0", "idle", "self", NULL };
	u64 dropped = srv.stats.dropped;

	run_try(1002, flood, out, sizeof(out));
	run_try(1001, good, out, sizeof(out));
	HAS(out, "register self 0 -> 0");
	HAS(out, "idle self -> 0");
	ck_assert_uint_gt(srv.stats.dropped, dropped);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("ownership");
	SRunner *sr;
	int failed, err;

	snprintf(try_path, sizeof(try_path), "%s/shj-try", dirname(strdup(argv[0])));
	snprintf(go_file, sizeof(go_file), "/tmp/shj-test-go-%d", (int)getpid());
	err = geteuid() ? -EPERM : access(try_path, X_OK) ? -ENOENT : start_server();
	if (err) {
		printf("SKIP server/ownership: cannot run a dry-run server here: %s\n",
		       strerror(-err));
	} else {
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, test_ownership);
		tcase_add_test(tc, test_batches_and_async);
		tcase_add_test(tc, test_concurrent_async_marks);
		tcase_add_test(tc, test_garbage);
	}
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);	/* the server is ours */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (!err) {
		stop = 1;
		pthread_join(server_thread, NULL);
		shj_server_close(&srv);
	}
	shinjuku_bpf__destroy(skel);
	unlink(go_file);
	(void)argc;
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
