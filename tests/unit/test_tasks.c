/* Unit tests: writing per-thread state into the scheduler's real task-storage
 * map (shinjukud/tasks.c). The host kernel need not have sched_ext: the
 * skeleton is loaded "maps only" (no struct_ops, no programs). Needs bpf()
 * (root); skipped with the reason otherwise. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

typedef __s32 s32;
typedef __u32 u32;
typedef __u64 u64;
#include "../../bpf/shj_shared.h"
#include "shinjuku.skel.h"
#include "../../shinjukud/tasks.h"
#include "maps_only.h"

static struct shinjuku_bpf *skel;
static int map_fd = -1;

/* Load the skeleton's maps without its programs. 0 or -errno. */
static int load_maps(void)
{
	int err = load_maps_only(&skel, 0);

	if (!err)
		map_fd = bpf_map__fd(skel->maps.shj_tasks);
	return err;
}

START_TEST(test_write_read_delete)
{
	struct shj_task in = { .qos = 5, .flags = SHJ_TASK_IDLE }, out = { 0 };
	int me = shj_thread_pidfd(gettid());

	ck_assert_int_ge(me, 0);
	ck_assert_int_eq(shj_pidfd_alive(me), 1);
	ck_assert_int_eq(shj_task_read(map_fd, me, &out), -ENOENT);
	ck_assert_int_eq(shj_task_write(map_fd, me, &in), 0);
	ck_assert_int_eq(shj_task_read(map_fd, me, &out), 0);
	ck_assert_uint_eq(out.qos, 5);
	ck_assert_uint_eq(out.flags, SHJ_TASK_IDLE);
	in.qos = 7;
	in.flags = 0;
	ck_assert_int_eq(shj_task_write(map_fd, me, &in), 0);
	ck_assert_int_eq(shj_task_read(map_fd, me, &out), 0);
	ck_assert_uint_eq(out.qos, 7);
	ck_assert_uint_eq(out.flags, 0);
	ck_assert_int_eq(shj_task_delete(map_fd, me), 0);
	ck_assert_int_eq(shj_task_read(map_fd, me, &out), -ENOENT);
	ck_assert_int_eq(shj_task_delete(map_fd, me), -ENOENT);
	close(me);
}
END_TEST

START_TEST(test_no_such_thread)
{
	/* pid_max is at most 4M: this tid cannot exist */
	ck_assert_int_eq(shj_thread_pidfd(0x7ffffff0), -ESRCH);
	ck_assert_int_eq(shj_thread_pidfd(0), -ESRCH);
}
END_TEST

static pthread_barrier_t bar;
static pid_t child_tid;

static void *child(void *arg)
{
	child_tid = gettid();
	pthread_barrier_wait(&bar);	/* tid published */
	pthread_barrier_wait(&bar);	/* parent done with us */
	return NULL;
}

/* The kernel frees a thread's entry when the thread exits: no leak, whether
 * or not anyone tells the daemon. The thread's pidfd then says so, and
 * nothing done through it reaches another thread. */
START_TEST(test_entry_dies_with_thread)
{
	struct shj_task t = { .qos = 2 };
	struct pollfd pfd;
	pthread_t th;
	pid_t tid;
	int fd;

	pthread_barrier_init(&bar, NULL, 2);
	ck_assert_int_eq(pthread_create(&th, NULL, child, NULL), 0);
	pthread_barrier_wait(&bar);
	tid = child_tid;
	ck_assert_int_eq(shj_thread_of(getpid(), tid), 1);
	fd = shj_thread_pidfd(tid);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(shj_task_write(map_fd, fd, &t), 0);
	ck_assert_int_eq(shj_task_read(map_fd, fd, &t), 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	pthread_barrier_wait(&bar);
	pthread_join(th, NULL);
	/* join returns when the tid is cleared; the kernel may finish the
	 * thread's exit a moment later: wait for it, boundedly */
	for (int i = 0; i < 2000 && shj_thread_of(getpid(), tid); i++)
		usleep(1000);
	ck_assert_int_eq(shj_thread_of(getpid(), tid), 0);
	ck_assert_int_eq(shj_task_read(map_fd, fd, &t), -ENOENT);
	ck_assert_int_ne(shj_task_write(map_fd, fd, &t), 0);	/* reaches no one */
	ck_assert_int_eq(shj_pidfd_alive(fd), 0);
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);	/* it tells the daemon */
	ck_assert_int_eq(shj_task_set_ext(fd, tid, 0), -ESRCH);
	close(fd);
	pthread_barrier_destroy(&bar);
}
END_TEST

START_TEST(test_thread_of)
{
	ck_assert_int_eq(shj_thread_of(getpid(), getpid()), 1);
	ck_assert_int_eq(shj_thread_of(getpid(), gettid()), 1);
	ck_assert_int_eq(shj_thread_of(1, getpid()), 0);
	ck_assert_int_eq(shj_thread_of(0, getpid()), 0);
	ck_assert_int_eq(shj_thread_of(getpid(), -1), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tasks");
	TCase *tc = tcase_create("task_storage");
	SRunner *sr;
	int failed, err;

	tcase_add_test(tc, test_thread_of);
	err = load_maps();
	if (err) {
		printf("SKIP tasks/task_storage: cannot create the BPF maps here: %s\n",
		       strerror(-err));
	} else {
		tcase_add_test(tc, test_write_read_delete);
		tcase_add_test(tc, test_no_such_thread);
		tcase_add_test(tc, test_entry_dies_with_thread);
	}
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* no fork: the map and the threads belong to this process */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	shinjuku_bpf__destroy(skel);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
