/* Unit tests: shinjukud's request handling and ownership rules
 * (shinjukud/server.c), on the host, against the real maps and the real
 * shinjuku_apply program (loaded as `shinjukud --dry-run` does: no
 * sched_ext needed), with real message queues. The clients are separate
 * processes under other uids: tests/shj-try, run through fork + setresuid +
 * exec, from a copy (with the library it loads) in a temporary directory
 * those uids can read, wherever the checkout is (root's home is 0700).
 * Needs root and bpf(); skipped with the reason otherwise. */
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
#include <mqueue.h>
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
static volatile int stop, paused, server_idle;
static char try_path[PATH_MAX], go_file[64], stage[64];
static int lock = -1;

/* The daemon's loop; paused: it serves nothing (as if stopped). */
static void *serve(void *arg)
{
	struct pollfd fd = { .fd = shj_server_fd(&srv), .events = POLLIN };

	while (!stop) {
		server_idle = paused;
		if (paused || poll(&fd, 1, 10) <= 0) {
			if (paused)
				usleep(1000);
			continue;
		}
		shj_server_handle(&srv, 64);
	}
	return arg;
}

/* Stop serving; returns once the server is between requests (its state
 * may be read then). */
static void pause_server(void)
{
	int i;

	paused = 1;
	for (i = 0; i < 5000 && !server_idle; i++)
		usleep(1000);
	ck_assert_msg(server_idle, "the server did not pause");
}

static void resume_server(void)
{
	paused = 0;
}

/* Messages waiting in queue name, or -1 if there is no such queue. */
static long queue_len(const char *name)
{
	mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK);
	struct mq_attr attr;
	long n = -1;

	if (q == (mqd_t)-1)
		return -1;
	if (!mq_getattr(q, &attr))
		n = attr.mq_curmsgs;
	mq_close(q);
	return n;
}

/* Wait, bounded, until the server has read everything on the public
 * queue, and pause it. */
static void drain_public(void)
{
	int i;

	for (i = 0; i < 5000 && queue_len(SHJ_REQUEST_QUEUE) > 0; i++)
		usleep(1000);
	pause_server();
	ck_assert_int_eq(queue_len(SHJ_REQUEST_QUEUE), 0);
}

static unsigned int sessions_of(uid_t uid)
{
	unsigned int i, n = 0;

	for (i = 0; i < srv.lim.sessions; i++)
		n += srv.sessions[i].used && srv.sessions[i].uid == uid;
	return n;
}

/* Everything a dry-run daemon has: the maps, shinjuku_apply, the lock, the
 * request queue. 0 or -errno. */
static int start_server(void)
{
	struct shj_sched sched = { .nr_levels = 8, .dry_run = 1 };
	struct shj_limits lim = {
		.sessions = 16, .sessions_per_uid = 4, .sessions_root = 2,
		.sessions_per_client = 2, .threads = 64, .threads_per_uid = 32,
	};
	int err, legacy;

	err = load_maps_only(&skel, 1);
	if (err)
		return err;
	/* where this test may run beside a daemon built before the lock
	 * moved (other trees on a shared machine), it takes that one too */
	legacy = open("/run/shinjukud.lock", O_RDWR | O_CLOEXEC);
	if (legacy >= 0 && flock(legacy, LOCK_EX | LOCK_NB))
		return -EBUSY;
	lock = shj_server_lock();
	if (lock < 0)
		return lock;	/* -EBUSY: a real shinjukud runs here */
	sched.tasks_fd = bpf_map__fd(skel->maps.shj_tasks);
	sched.rt_fd = bpf_map__fd(skel->maps.shj_rt);
	sched.apply_fd = bpf_program__fd(skel->progs.shinjuku_apply);
	sched.mark_fd = -1;	/* marks through the daemon: what is tested here */
	err = shj_server_open(&srv, &sched, &lim);
	if (err)
		return err;
	return pthread_create(&server_thread, NULL, serve, NULL) ? -EAGAIN : 0;
}

/* Clients still running: a failed test leaves none behind. */
static pid_t kids[16];
static int nkids;

/* Stop a client that start_try() started (if it still runs) and collect it;
 * its status, as waitpid() gives it. */
static int end_try(pid_t pid, int sig)
{
	int i, status = 0;

	for (i = 0; i < nkids && kids[i] != pid; i++)
		;
	if (i == nkids)
		return -1;
	kids[i] = kids[--nkids];
	if (sig)
		kill(pid, sig);
	waitpid(pid, &status, 0);
	return status;
}

/* After each test, failed or not: the server serves, no client is left. */
static void teardown(void)
{
	resume_server();
	while (nkids)
		end_try(kids[0], SIGKILL);
}

/* Copy file from to to, mode 0755. 0 or -errno. */
static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out, err = 0;
	char buf[65536];
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0) {
		err = -errno;
		close(in);
		return err;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			err = -EIO;
			break;
		}
	if (n < 0)
		err = -errno;
	if (fchmod(out, 0755) && !err)
		err = -errno;
	close(in);
	close(out);
	return err;
}

/* The stage: <stage>/tests/shj-try and <stage>/lib/libshinjuku.so.0 (its
 * rpath is $ORIGIN/../lib), copied from the build tree beside this test;
 * try_path gets the copy. 0 or -errno. */
static int stage_try(const char *tests_dir)
{
	char from[PATH_MAX], to[PATH_MAX];
	int err;

	snprintf(stage, sizeof(stage), "/tmp/shj-test-server.XXXXXX");
	if (!mkdtemp(stage)) {
		stage[0] = '\0';
		return -errno;
	}
	snprintf(to, sizeof(to), "%s/tests", stage);
	if (chmod(stage, 0755) || mkdir(to, 0755))
		return -errno;
	snprintf(to, sizeof(to), "%s/lib", stage);
	if (mkdir(to, 0755))
		return -errno;
	snprintf(from, sizeof(from), "%s/shj-try", tests_dir);
	snprintf(try_path, sizeof(try_path), "%s/tests/shj-try", stage);
	err = copy_file(from, try_path);
	if (err)
		return err;
	snprintf(from, sizeof(from), "%s/../lib/libshinjuku.so.0", tests_dir);
	snprintf(to, sizeof(to), "%s/lib/libshinjuku.so.0", stage);
	return copy_file(from, to);
}

static void unstage_try(void)
{
	static const char *const parts[] = { "tests/shj-try", "lib/libshinjuku.so.0",
					     "tests", "lib", "" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; stage[0] && i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", stage, parts[i]);
		if (unlink(path) && errno == EISDIR)
			rmdir(path);
	}
}

/* Run shj-try as uid with args; its output goes to out (size). Returns the
 * child's pid; end_try() collects it. */
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
	if (pid > 0 && nkids < (int)(sizeof(kids) / sizeof(kids[0])))
		kids[nkids++] = pid;
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

/* Start a client whose script waits for go_file (removed first), and read
 * its output into out until it waits. */
static pid_t start_waiting(uid_t uid, int *fd, char *out, size_t size,
			   char *const args[])
{
	pid_t pid;

	unlink(go_file);
	pid = start_try(uid, fd, args);
	ck_assert_int_gt(pid, 0);
	read_until(*fd, out, size, "waiting");
	return pid;
}

/* Let it go on. */
static void go(void)
{
	close(open(go_file, O_CREAT | O_WRONLY, 0644));
}

static char *run_try(uid_t uid, char *const args[], char *buf, size_t size)
{
	int fd;
	pid_t pid = start_try(uid, &fd, args);

	buf[0] = '\0';
	ck_assert_int_gt(pid, 0);
	read_until(fd, buf, size, NULL);
	close(fd);
	end_try(pid, 0);
	return buf;
}

/* tid's entry in the map: 0 or -errno */
static int read_task(pid_t tid, struct shj_task *t)
{
	int fd = shj_thread_pidfd(tid), err;

	if (fd < 0)
		return fd;
	err = shj_task_read(bpf_map__fd(skel->maps.shj_tasks), fd, t);
	close(fd);
	return err;
}

#define HAS(buf, line) ck_assert_msg(strstr(buf, line), "want \"%s\" in:\n%s", line, buf)

START_TEST(test_ownership)
{
	char a_out[4096] = "", out[4096], tid[16];
	char *a_args[] = { "spawn", "1", "register", "all", "0", "register", "self", "0",
			   "register", "self", "0", "qos", "self", "9", "idle", "self",
			   "wait", go_file, "hold", NULL };
	int a_fd;
	pid_t a;
	char *p;

	a = start_waiting(1001, &a_fd, a_out, sizeof(a_out), a_args);
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
				 "register", tid, "0", "register", "4000000", "0", NULL };

		run_try(1002, args, out, sizeof(out));
		HAS(out, "idle");
		ck_assert_msg(strstr(out, "-> -EPERM") && !strstr(out, "-> 0\n"), "%s", out);
		HAS(out, "register 4000000 0 -> -ESRCH");
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
		ck_assert_int_eq(read_task(atoi(tid), &t), 0);
		ck_assert_uint_eq(t.qos, 3);
		ck_assert_uint_eq(t.flags, 0);
	}
	/* the owner goes: its session and registrations with it */
	end_try(a, SIGKILL);
	close(a_fd);
	{
		int i;

		for (i = 0; i < 500 && srv.nthreads; i++)
			usleep(10000);	/* bounded; the reap takes one poll */
	}
	ck_assert_uint_eq(srv.nthreads, 0);
}
END_TEST

/* The attack: another uid names a client's pid and queues in
 * HELLOs. It opens no session for that uid and nothing reaches the
 * client's queues; the client's calls go on. */
START_TEST(test_hijack)
{
	char a_out[4096] = "", out[4096], pid[16], name[SHJ_QUEUE_NAME_MAX];
	char *a_args[] = { "register", "self", "0", "wait", go_file, "idle", "self",
			   "hold", NULL };
	char *args[] = { "hijack", pid, NULL };
	int a_fd;
	uint64_t opened;
	pid_t a;

	a = start_waiting(1001, &a_fd, a_out, sizeof(a_out), a_args);
	HAS(a_out, "register self 0 -> 0");
	drain_public();
	opened = srv.stats.sessions;
	ck_assert_uint_eq(sessions_of(1001), 1);
	resume_server();

	snprintf(pid, sizeof(pid), "%d", (int)a);
	run_try(1002, args, out, sizeof(out));
	HAS(out, "hijack: sent 256, opened 0");
	drain_public();
	ck_assert_uint_eq(srv.stats.sessions, opened);
	ck_assert_uint_eq(sessions_of(1001), 1);
	ck_assert_uint_eq(sessions_of(1002), 0);
	shj_queue_name(name, sizeof(name), a, 0, 'r');
	ck_assert_int_eq(queue_len(name), 0);	/* nothing was sent to A */
	resume_server();

	go();
	read_until(a_fd, a_out, sizeof(a_out), "holding");
	HAS(a_out, "idle self -> 0");
	end_try(a, SIGKILL);
	close(a_fd);
}
END_TEST

/* Replies that are not the daemon's answer to a pending call are
 * discarded, even with the right op and seq: here root (who can write into
 * anyone's queue) puts forged -EPERM answers into a client's reply queue
 * while the daemon does not answer. */
START_TEST(test_forged_replies)
{
	char a_out[4096] = "", name[SHJ_QUEUE_NAME_MAX];
	char *a_args[] = { "register", "self", "0", "wait", go_file, "sync", "hold", NULL };
	struct timespec ts;
	int a_fd, seq, sent = 0;
	mqd_t rep;
	pid_t a;

	a = start_waiting(1001, &a_fd, a_out, sizeof(a_out), a_args);
	HAS(a_out, "register self 0 -> 0");
	pause_server();
	go();
	shj_queue_name(name, sizeof(name), a, 0, 'q');
	for (seq = 0; seq < 5000 && queue_len(name) < 1; seq++)
		usleep(1000);	/* A's SYNC is on its way */
	ck_assert_int_eq(queue_len(name), 1);
	shj_queue_name(name, sizeof(name), a, 0, 'r');
	rep = mq_open(name, O_WRONLY);
	ck_assert_int_ne(rep, (mqd_t)-1);
	for (seq = 0; seq < 32; seq++) {
		struct shj_rep r = {
			.version = SHJ_PROTO_VERSION, .op = SHJ_OP_SYNC,
			.size = sizeof(r), .seq = (uint32_t)seq, .status = -EPERM,
			.nonce = 0x5a5a5a5a5a5a5a5aULL * (uint64_t)seq,
		};

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec++;
		sent += !mq_timedsend(rep, (const char *)&r, sizeof(r), 0, &ts);
	}
	mq_close(rep);
	ck_assert_int_gt(sent, 8);	/* more than its queue holds: A read them */
	resume_server();
	read_until(a_fd, a_out, sizeof(a_out), "holding");
	HAS(a_out, "sync -> 0");
	end_try(a, SIGKILL);
	close(a_fd);
}
END_TEST

/* A registered thread that exits is forgotten at once (its pidfd says so),
 * not when its session ends: nothing is ever done to its number again. */
START_TEST(test_exited_thread_forgotten)
{
	char a_out[4096] = "";
	char *a_args[] = { "spawn", "3", "register", "all", "0", "exit-spawned",
			   "wait", go_file, "idle-many", "hold", NULL };
	unsigned int n;
	int a_fd, i;
	pid_t a;

	a = start_waiting(1001, &a_fd, a_out, sizeof(a_out), a_args);
	HAS(a_out, "register all -> 0 failed");
	HAS(a_out, "exit-spawned -> 0");
	for (i = 0; i < 5000 && srv.nthreads; i++)
		usleep(1000);	/* bounded; one event each */
	pause_server();
	n = srv.nthreads;
	resume_server();
	ck_assert_uint_eq(n, 0);
	go();
	read_until(a_fd, a_out, sizeof(a_out), "holding");
	HAS(a_out, "idle-many -> -ENOENT");
	end_try(a, SIGKILL);
	close(a_fd);
}
END_TEST

/* A session belongs to its process: after a call timed out (the daemon did
 * not answer for a while) the library's new session acts on the threads
 * the process registered before; the one it dropped is forgotten. */
START_TEST(test_session_survives_timeout)
{
	char a_out[4096] = "";
	char *a_args[] = { "register", "self", "0", "wait", go_file, "idle", "self",
			   "idle", "self", "runnable", "self", "qos", "self", "2",
			   "hold", NULL };
	unsigned int n;
	int a_fd;
	pid_t a;

	a = start_waiting(1001, &a_fd, a_out, sizeof(a_out), a_args);
	HAS(a_out, "register self 0 -> 0");
	pause_server();
	go();
	read_until(a_fd, a_out, sizeof(a_out), "idle self -> ");
	resume_server();
	read_until(a_fd, a_out, sizeof(a_out), "holding");
	HAS(a_out, "idle self -> -ETIMEDOUT\nidle self -> 0\nrunnable self -> 0\n"
		   "qos self 2 -> 0\n");
	pause_server();
	n = sessions_of(1001);
	resume_server();
	ck_assert_uint_eq(n, 1);	/* the dropped one went */
	end_try(a, SIGKILL);
	close(a_fd);
}
END_TEST

/* ... and after an exec(): the new image's session acts on them, and the
 * old image's queues (closed on exec) are removed. */
START_TEST(test_exec_keeps_registrations)
{
	char out[4096] = "", name[SHJ_QUEUE_NAME_MAX];
	char *args[] = { "register", "self", "1", "exec", "idle", "self", "qos", "self",
			 "3", "unregister", "self", "hold", NULL };
	int fd;
	pid_t a;

	a = start_try(1001, &fd, args);
	ck_assert_int_gt(a, 0);
	read_until(fd, out, sizeof(out), "holding");
	HAS(out, "register self 1 -> 0\nexec\nidle self -> 0\nqos self 3 -> 0\n"
		 "unregister self -> 0\n");
	shj_queue_name(name, sizeof(name), a, 0, 'q');
	ck_assert_int_eq(queue_len(name), -1);
	shj_queue_name(name, sizeof(name), a, 0, 'r');
	ck_assert_int_eq(queue_len(name), -1);
	end_try(a, SIGKILL);
	close(fd);
}
END_TEST

/* Root registers another process's thread and exits: that thread is given
 * back (out of the map; in SCHED_OTHER again outside a dry run), not left
 * registered with no one to see it. */
START_TEST(test_root_exit_releases_others)
{
	char b_out[4096] = "", out[4096], tid[16];
	char *b_args[] = { "spawn", "1", "hold", NULL };
	char *r_args[] = { "register", tid, "2", "idle", tid, NULL };
	struct shj_task t;
	int b_fd, i;
	pid_t b;
	char *p;

	b = start_try(1001, &b_fd, b_args);
	ck_assert_int_gt(b, 0);
	read_until(b_fd, b_out, sizeof(b_out), "holding");
	p = strstr(b_out, "spawned ");
	ck_assert_ptr_nonnull(p);
	snprintf(tid, sizeof(tid), "%d", atoi(p + 8));
	run_try(0, r_args, out, sizeof(out));	/* registers, marks, exits */
	HAS(out, "idle");
	ck_assert_msg(!strstr(out, "-E"), "%s", out);
	for (i = 0; i < 5000 && srv.nthreads; i++)
		usleep(1000);
	pause_server();
	ck_assert_uint_eq(srv.nthreads, 0);
	resume_server();
	ck_assert_int_eq(read_task(atoi(tid), &t), -ENOENT);
	end_try(b, SIGKILL);
	close(b_fd);
}
END_TEST

/* Nobody but root can open the daemon's lock, so nobody can hold it and
 * keep a daemon from starting (the flock -s as nobody). */
START_TEST(test_lock_is_root_only)
{
	char out[4096];
	char *args[] = { "lock-probe", NULL };
	struct stat st;

	run_try(65534, args, out, sizeof(out));
	HAS(out, "lock-probe -> -EACCES");
	ck_assert_int_eq(stat(SHJ_LOCK_FILE, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_int_eq(stat(SHJ_PID_FILE, &st), 0);	/* for clients to read */
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
}
END_TEST

/* A uid's processes hold at most so many sessions and threads; root still
 * gets in, beyond them. */
START_TEST(test_quotas)
{
	char h_out[4][4096], out[4096];
	char *h_args[] = { "register", "self", "0", "hold", NULL };
	char *more[] = { "register", "self", "0", NULL };
	char *many[] = { "spawn", "40", "register", "all", "0", NULL };
	char *root[] = { "sync", NULL };
	int fd[4], i;
	pid_t h[4];

	for (i = 0; i < 4; i++) {	/* uid 1002: 4 sessions, its limit */
		h_out[i][0] = '\0';
		h[i] = start_try(1002, &fd[i], h_args);
		ck_assert_int_gt(h[i], 0);
		read_until(fd[i], h_out[i], sizeof(h_out[i]), "holding");
		HAS(h_out[i], "register self 0 -> 0");
	}
	run_try(1002, more, out, sizeof(out));
	HAS(out, "register self 0 -> -ENOSPC");
	run_try(0, root, out, sizeof(out));
	HAS(out, "sync -> 0");
	for (i = 0; i < 4; i++) {
		end_try(h[i], SIGKILL);
		close(fd[i]);
	}
	run_try(1002, many, out, sizeof(out));	/* 32 threads at most */
	HAS(out, "register all -> 8 failed");
}
END_TEST

/* Last: every client is gone, and so is everything it held. */
START_TEST(test_nothing_left)
{
	unsigned int i, accounts = 0;
	int n;

	for (n = 0; n < 5000 && (srv.nclients || srv.nsessions || srv.nthreads); n++)
		usleep(1000);
	pause_server();
	for (i = 0; i < srv.lim.sessions; i++)
		accounts += srv.accounts[i].clients != 0;
	ck_assert_uint_eq(srv.nclients, 0);
	ck_assert_uint_eq(srv.nsessions, 0);
	ck_assert_uint_eq(srv.nthreads, 0);
	ck_assert_uint_eq(accounts, 0);
}
END_TEST

/* A newer client gets a clear -EPROTO; invalid one-way requests get no
 * reply (they would fill the client's queue), only the SYNC after them. */
START_TEST(test_versions_and_bad_oneway)
{
	char out[4096];
	char *args[] = { "newer", "bad-oneway", "12", NULL };

	run_try(1001, args, out, sizeof(out));
	HAS(out, "newer -> -EPROTO");
	HAS(out, "bad-oneway 12 -> -EINVAL");
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
	char *self;

	snprintf(go_file, sizeof(go_file), "/tmp/shj-test-go-%d", (int)getpid());
	self = strdup(argv[0]);
	err = geteuid() ? -EPERM : !self ? -ENOMEM : 0;
	if (err) {
		printf("SKIP server/ownership: cannot run a dry-run server here: %s\n",
		       strerror(-err));
	} else if ((err = stage_try(dirname(self)))) {
		printf("SKIP server/ownership: cannot copy shj-try and libshinjuku to %s: %s\n",
		       stage, strerror(-err));
	} else if ((err = start_server())) {
		printf("SKIP server/ownership: cannot run a dry-run server here: %s\n",
		       strerror(-err));
	} else {
		tcase_set_timeout(tc, 60);
		tcase_add_checked_fixture(tc, NULL, teardown);
		tcase_add_test(tc, test_ownership);
		tcase_add_test(tc, test_hijack);
		tcase_add_test(tc, test_forged_replies);
		tcase_add_test(tc, test_exited_thread_forgotten);
		tcase_add_test(tc, test_session_survives_timeout);
		tcase_add_test(tc, test_exec_keeps_registrations);
		tcase_add_test(tc, test_root_exit_releases_others);
		tcase_add_test(tc, test_lock_is_root_only);
		tcase_add_test(tc, test_quotas);
		tcase_add_test(tc, test_versions_and_bad_oneway);
		tcase_add_test(tc, test_batches_and_async);
		tcase_add_test(tc, test_concurrent_async_marks);
		tcase_add_test(tc, test_garbage);
		tcase_add_test(tc, test_nothing_left);
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
		shj_server_unlock(lock);
	}
	shinjuku_bpf__destroy(skel);
	unlink(go_file);
	unstage_try();
	free(self);
	(void)argc;
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
