/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shj-try: a scripted libshinjuku client for the control-plane tests. It runs
 * its commands in order, in one process (one session), and prints each
 * call's result as "CMD ARG -> 0" or "-> -EPERM".
 *
 *   spawn N            start N threads (they sleep) and print their tids
 *   exit-spawned       end them (once)
 *   register T Q       shj_register(T, Q); T: a tid, "self", or "all"
 *                      (every spawned thread)
 *   unregister T | idle T | runnable T | qos T Q
 *   async 0|1 | sync   shj_set_async() / shj_sync()
 *   idle-many | runnable-many   the spawned threads, one call
 *   runnable-pair T    shj_runnable_many() of this thread and T, one call
 *   marks-parallel K   a thread per spawned thread, all at once, each
 *                      marking its thread idle then runnable K times;
 *                      prints the first error
 *   levels             spawned thread j to level j % 8 (shj_set_qos)
 *   marks-forever N FILE  from now on, a thread per spawned thread j marks
 *                      it every millisecond: idle if j is odd, runnable if
 *                      even (one-way under async 1); the first N stop once
 *                      FILE exists. Each change of its result is printed
 *   lock-probe         open shinjukud's lock and take a shared lock on it
 *                      (kept: "hold" after it holds it)
 *   squat NAME         create queue NAME, mode 0666 (kept open)
 *   exec               exec() this program with the commands that follow
 *   fifo               put this thread in SCHED_FIFO (priority 10; root)
 *   close              shj_close()
 *   sleep MS           pause
 *   hold               print "holding" and sleep until killed
 *   wait FILE          pause until FILE exists
 *   newer              connect as a client of the next protocol version
 *   bad-oneway N       N invalid one-way requests, then SYNC (own session)
 *   hijack PID         as an attacker: HELLOs naming PID's queues (see
 *                      hijack())
 *   flood N            send N malformed messages to the request queue
 *   mark-direct T idle|runnable  as an attacker: get the daemon's
 *                      shinjuku_mark program in a session of its own and run
 *                      it on thread T, bypassing the library's checks
 *   mark-stale T FILE  get that program, print "waiting", wait until FILE
 *                      exists (the daemon restarted meanwhile), then run the
 *                      old program on thread T
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "shinjuku.h"
#include "../libshinjuku/conn.h"

#define MAX_SPAWN 1024

static pid_t spawned[MAX_SPAWN];
static pthread_t spawned_th[MAX_SPAWN];
static int nspawned, quit;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t quit_cond = PTHREAD_COND_INITIALIZER;

static const char *ename(int err)
{
	static char buf[32];

	switch (-err) {
	case 0: return "0";
	case EPERM: return "-EPERM";
	case ESRCH: return "-ESRCH";
	case ENOENT: return "-ENOENT";
	case EEXIST: return "-EEXIST";
	case EINVAL: return "-EINVAL";
	case ENOSPC: return "-ENOSPC";
	case ENOTCONN: return "-ENOTCONN";
	case ETIMEDOUT: return "-ETIMEDOUT";
	case ECONNREFUSED: return "-ECONNREFUSED";
	case ECONNRESET: return "-ECONNRESET";
	case EPROTO: return "-EPROTO";
	case EMSGSIZE: return "-EMSGSIZE";
	case EACCES: return "-EACCES";
	case ESTALE: return "-ESTALE";
	case EOPNOTSUPP: return "-EOPNOTSUPP";
	case EWOULDBLOCK: return "-EWOULDBLOCK";
	}
	snprintf(buf, sizeof(buf), "%d", err);
	return buf;
}

/* A spawned thread: it sleeps until exit-spawned. */
static void *sleeper(void *arg)
{
	pthread_mutex_lock(&mu);
	/* the tid first: the main thread reads it once it sees the count */
	spawned[nspawned] = gettid();
	__atomic_store_n(&nspawned, nspawned + 1, __ATOMIC_RELEASE);
	while (!quit)
		pthread_cond_wait(&quit_cond, &mu);
	pthread_mutex_unlock(&mu);
	return arg;
}

/* End every spawned thread, and wait until the kernel has let go of their
 * tids (a little after pthread_join). */
static int exit_spawned(void)
{
	char path[64];
	int j, k;

	pthread_mutex_lock(&mu);
	quit = 1;
	pthread_cond_broadcast(&quit_cond);
	pthread_mutex_unlock(&mu);
	for (j = 0; j < nspawned; j++) {
		pthread_join(spawned_th[j], NULL);
		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)spawned[j]);
		for (k = 0; k < 1000 && access(path, F_OK) == 0; k++)
			usleep(1000);
		if (k == 1000)
			return -EBUSY;
	}
	return 0;
}

struct flipper {
	pthread_t th;
	pid_t tid;
	int rounds, err;
};

static void *flip(void *arg)
{
	struct flipper *f = arg;
	int k, err;

	for (k = 0; k < f->rounds; k++) {
		err = shj_idle(f->tid);
		if (!err)
			err = shj_runnable(f->tid);
		if (err && !f->err)
			f->err = err;
	}
	return NULL;
}

static int marks_parallel(int rounds)
{
	static struct flipper f[MAX_SPAWN];
	int j, err = 0;

	for (j = 0; j < nspawned; j++) {
		f[j] = (struct flipper){ .tid = spawned[j], .rounds = rounds };
		if (pthread_create(&f[j].th, NULL, flip, &f[j]))
			return -EAGAIN;
	}
	for (j = 0; j < nspawned; j++) {
		pthread_join(f[j].th, NULL);
		if (f[j].err && !err)
			err = f[j].err;
	}
	return err;
}

struct marker {
	pthread_t th;
	int j, stops;
	const char *file;
};

static void *mark_forever(void *arg)
{
	struct marker *m = arg;
	pid_t tid = spawned[m->j];
	int err, told = 0;

	while (!m->stops || access(m->file, F_OK)) {
		err = m->j % 2 ? shj_idle(tid) : shj_runnable(tid);
		if (err != told) {	/* each change */
			printf("marker %d -> %s\n", m->j, ename(err));
			told = err;
		}
		usleep(1000);
	}
	printf("marker %d stopped\n", m->j);
	return NULL;
}

static int marks_forever(int n, const char *file)
{
	static struct marker m[MAX_SPAWN];
	int j;

	for (j = 0; j < nspawned; j++) {
		m[j] = (struct marker){ .j = j, .stops = j < n, .file = file };
		if (pthread_create(&m[j].th, NULL, mark_forever, &m[j]))
			return -EAGAIN;
	}
	return 0;
}

static pid_t tid_arg(const char *s)
{
	return !strcmp(s, "self") ? gettid() : (pid_t)atoi(s);
}

/*
 * Another uid's attack on process pid's session: HELLOs on the public queue
 * naming pid's request queues (each name and descriptor it may use), and
 * the old protocol's kind of HELLO, naming its reply queues. Prints how
 * many were sent and how many of pid's queues we could open ourselves.
 */
static int hijack(pid_t pid)
{
	mqd_t q = mq_open(SHJ_REQUEST_QUEUE, O_WRONLY);
	int n, fd, sent = 0, opened = 0;
	struct shj_req req;
	unsigned int kind;

	if (q == (mqd_t)-1)
		return -errno;
	for (n = 0; n < 4; n++) {
		for (kind = 0; kind < 2; kind++) {
			char name[SHJ_QUEUE_NAME_MAX];
			mqd_t mine;

			shj_queue_name(name, sizeof(name), pid, (unsigned int)n,
				       kind ? 'r' : 'q');
			mine = mq_open(name, kind ? O_WRONLY : O_RDONLY);
			if (mine != (mqd_t)-1) {
				opened++;
				mq_close(mine);
			}
			for (fd = 0; fd < 32; fd++) {
				memset(&req, 0, sizeof(req));
				req.version = SHJ_PROTO_VERSION;
				req.op = kind ? SHJ_OP_OPEN : SHJ_OP_HELLO;
				req.size = sizeof(req);
				req.seq = 1;
				req.pid = pid;
				req.fd = fd;
				memcpy(req.queue, name, sizeof(req.queue));
				sent += mq_send(q, (const char *)&req, sizeof(req), 0) == 0;
			}
		}
	}
	mq_close(q);
	printf("hijack: sent %d, opened %d\n", sent, opened);
	return 0;
}

/* A client of the next protocol version (longer requests) connects. */
static int newer(void)
{
	struct shj_conn c = SHJ_CONN_INIT;
	int err;

	c.version = SHJ_PROTO_VERSION + 1;
	c.req_size = sizeof(struct shj_req) + 16;
	err = shj_conn_open(&c, sizeof(struct shj_rep));
	shj_conn_drop(&c);
	return err;
}

/* Run shinjuku_mark on tid ourselves: its result for that thread, or the
 * error of getting or running it. */
static int mark_direct(pid_t tid, int idle, const char *wait_file)
{
	struct shj_conn c = SHJ_CONN_INIT;
	int err, ret = 0;

	err = shj_conn_open(&c, sizeof(struct shj_rep));
	if (!err)
		err = shj_conn_get_mark(&c);
	if (!err && wait_file) {
		printf("waiting\n");
		while (access(wait_file, F_OK))
			usleep(10000);
	}
	if (!err)
		err = shj_conn_mark(&c, &tid, 1, idle, &ret);
	shj_conn_drop(&c);
	return err ? err : ret;
}

/* n invalid one-way requests (more than a reply queue holds), then SYNC on
 * the same session: its answer is the first one's error, and it arrives. */
static int bad_oneway(int n)
{
	struct shj_conn c = SHJ_CONN_INIT;
	struct shj_req req;
	struct shj_rep rep;
	int i, err = shj_conn_open(&c, sizeof(rep));

	for (i = 0; !err && i < n; i++) {
		memset(&req, 0, sizeof(req));
		req.op = SHJ_OP_IDLE;
		req.flags = SHJ_REQ_NOREPLY;	/* but neither a tid nor a batch */
		err = shj_conn_send(&c, &req);
	}
	if (!err) {
		memset(&req, 0, sizeof(req));
		req.op = SHJ_OP_SYNC;
		err = shj_conn_call(&c, &req, &rep, sizeof(rep));
	}
	shj_conn_drop(&c);
	return err;
}

static int flood(int n)
{
	mqd_t q = mq_open(SHJ_REQUEST_QUEUE, O_WRONLY | O_NONBLOCK);
	char buf[sizeof(struct shj_req) + 64];
	unsigned int seed = (unsigned int)getpid();
	int i, sent = 0;

	if (q == (mqd_t)-1)
		return -errno;
	for (i = 0; i < n; i++) {
		size_t len = (size_t)rand_r(&seed) % sizeof(buf);
		size_t j;

		for (j = 0; j < sizeof(buf); j++)
			buf[j] = (char)rand_r(&seed);
		if (i % 3 == 0) {	/* a plausible header, then garbage */
			struct shj_req *r = (struct shj_req *)buf;

			len = sizeof(*r);
			r->version = SHJ_PROTO_VERSION;
			r->size = sizeof(*r);
			r->op = (uint16_t)(1 + i % (SHJ_OP_MAX - 1));
		}
		if (mq_send(q, buf, len, 0) == 0)
			sent++;
		else if (errno == EAGAIN)
			usleep(1000);	/* the daemon drains; keep going */
	}
	mq_close(q);
	printf("flood: sent %d of %d\n", sent, n);
	return 0;
}

int main(int argc, char **argv)
{
	int i, j, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		const char *cmd = argv[i], *a = i + 1 < argc ? argv[i + 1] : "0";
		const char *b = i + 2 < argc ? argv[i + 2] : "0";

		if (!strcmp(cmd, "spawn")) {
			int n = atoi(a), base = nspawned, want = nspawned + n;

			for (j = 0; j < n && base + j < MAX_SPAWN; j++)
				pthread_create(&spawned_th[base + j], NULL, sleeper, NULL);
			while (__atomic_load_n(&nspawned, __ATOMIC_ACQUIRE) < want)
				usleep(1000);
			printf("spawned");
			for (j = 0; j < nspawned; j++)
				printf(" %d", spawned[j]);
			printf("\n");
			i++;
		} else if (!strcmp(cmd, "register") && !strcmp(a, "all")) {
			int bad = 0;

			for (j = 0; j < nspawned; j++)
				bad += shj_register(spawned[j], atoi(b)) != 0;
			printf("register all -> %d failed\n", bad);
			i += 2;
		} else if (!strcmp(cmd, "register") || !strcmp(cmd, "qos")) {
			err = !strcmp(cmd, "register") ? shj_register(tid_arg(a), atoi(b)) :
			      shj_set_qos(tid_arg(a), atoi(b));
			printf("%s %s %s -> %s\n", cmd, a, b, ename(err));
			i += 2;
		} else if (!strcmp(cmd, "unregister") || !strcmp(cmd, "idle") ||
			   !strcmp(cmd, "runnable")) {
			pid_t t = tid_arg(a);

			err = cmd[0] == 'u' ? shj_unregister(t) :
			      cmd[0] == 'i' ? shj_idle(t) : shj_runnable(t);
			printf("%s %s -> %s\n", cmd, a, ename(err));
			i++;
		} else if (!strcmp(cmd, "idle-many") || !strcmp(cmd, "runnable-many")) {
			err = cmd[0] == 'i' ? shj_idle_many(spawned, nspawned) :
			      shj_runnable_many(spawned, nspawned);
			printf("%s -> %s\n", cmd, ename(err));
		} else if (!strcmp(cmd, "runnable-pair")) {
			pid_t two[2] = { gettid(), tid_arg(a) };

			printf("%s %s -> %s\n", cmd, a, ename(shj_runnable_many(two, 2)));
			i++;
		} else if (!strcmp(cmd, "levels")) {
			for (j = 0, err = 0; j < nspawned && !err; j++)
				err = shj_set_qos(spawned[j], j % 8);
			printf("levels -> %s\n", ename(err));
		} else if (!strcmp(cmd, "marks-forever")) {
			printf("marks-forever %s -> %s\n", a, ename(marks_forever(atoi(a), b)));
			i += 2;
		} else if (!strcmp(cmd, "marks-parallel")) {
			printf("%s %s -> %s\n", cmd, a, ename(marks_parallel(atoi(a))));
			i++;
		} else if (!strcmp(cmd, "async")) {
			printf("async %s -> %s\n", a, ename(shj_set_async(atoi(a))));
			i++;
		} else if (!strcmp(cmd, "sync")) {
			printf("sync -> %s\n", ename(shj_sync()));
		} else if (!strcmp(cmd, "exit-spawned")) {
			printf("exit-spawned -> %s\n", ename(exit_spawned()));
		} else if (!strcmp(cmd, "lock-probe")) {
			/* what anyone could do to keep a daemon from starting */
			int fd = open(SHJ_LOCK_FILE, O_RDONLY | O_CLOEXEC);

			err = fd < 0 ? -errno : flock(fd, LOCK_SH | LOCK_NB) ? -errno : 0;
			printf("lock-probe -> %s\n", ename(err));
		} else if (!strcmp(cmd, "squat")) {
			/* take a queue's name (the daemon's, when none runs) */
			mqd_t q = mq_open(a, O_RDWR | O_CREAT | O_CLOEXEC, 0666, NULL);

			printf("squat %s -> %s\n", a, ename(q == (mqd_t)-1 ? -errno : 0));
			i++;
		} else if (!strcmp(cmd, "exec")) {
			/* this process, a new image: the rest of the commands */
			argv[i] = argv[0];
			printf("exec\n");
			execv("/proc/self/exe", argv + i);
			printf("exec -> %s\n", ename(-errno));
			return 1;
		} else if (!strcmp(cmd, "fifo")) {
			struct sched_param sp = { .sched_priority = 10 };

			err = sched_setscheduler(0, SCHED_FIFO, &sp) ? -errno : 0;
			printf("fifo -> %s\n", ename(err));
		} else if (!strcmp(cmd, "close")) {
			printf("close -> %s\n", ename(shj_close()));
		} else if (!strcmp(cmd, "sleep")) {
			usleep((useconds_t)atoi(a) * 1000);
			i++;
		} else if (!strcmp(cmd, "wait")) {
			printf("waiting\n");
			while (access(a, F_OK))
				usleep(10000);
			i++;
		} else if (!strcmp(cmd, "hold")) {
			printf("holding\n");
			for (;;)
				pause();
		} else if (!strcmp(cmd, "newer")) {
			printf("newer -> %s\n", ename(newer()));
		} else if (!strcmp(cmd, "bad-oneway")) {
			printf("bad-oneway %s -> %s\n", a, ename(bad_oneway(atoi(a))));
			i++;
		} else if (!strcmp(cmd, "hijack")) {
			printf("hijack %s -> %s\n", a, ename(hijack(atoi(a))));
			i++;
		} else if (!strcmp(cmd, "mark-direct")) {
			printf("mark-direct %s %s -> %s\n", a, b,
			       ename(mark_direct(tid_arg(a), !strcmp(b, "idle"), NULL)));
			i += 2;
		} else if (!strcmp(cmd, "mark-stale")) {
			printf("mark-stale %s -> %s\n", a, ename(mark_direct(tid_arg(a), 1, b)));
			i += 2;
		} else if (!strcmp(cmd, "flood")) {
			err = flood(atoi(a));
			if (err)
				printf("flood -> %s\n", ename(err));
			i++;
		} else {
			fprintf(stderr, "shj-try: unknown command '%s' (see tests/shj-try.c)\n", cmd);
			return 2;
		}
	}
	return 0;
}
