/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libFuzzer: shinjukud's request handling (shinjukud/server.c) in-process,
 * against the scheduler's real maps and shinjuku_apply program, loaded as
 * `shinjukud --dry-run` loads them, with real message queues: what a client
 * may write on its session's request queue, and what anyone may write on
 * the public one.
 *
 * The client is a child process of uid 1001 with two threads of its own. It
 * makes a pair of queues and opens a session when the harness asks (a pipe);
 * the harness (root) then writes into that request queue and reads the
 * reply queue. The input is a list of messages:
 *   ctl (1 byte)   bit 0: to the public queue, else to the session's
 *                  bit 1: header made valid (version, size)
 *                  bit 2: tids 1..8 name real threads: the child's two (its
 *                         own), the harness's two (another process's), one
 *                         that exited, the child's main thread
 *                  bit 3: pid, fd and queue name the child's request queue
 *                  bit 4: 256 more bytes of length
 *   len (1 byte), then len bytes (cut to what the queue takes)
 * After each message the server serves; after each input its tables must
 * agree with each other and with the map, every reply must be well formed,
 * and once the child's threads are unregistered (through the queue, as the
 * client would) nothing may be registered and no map entry left.
 *
 * Needs root and bpf(): it runs in an IPC and a mount namespace of its own
 * (its /run a tmpfs), so that no other daemon or test is in its way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
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
#include "../unit/maps_only.h"

#define REQUIRE(c)	do { if (!(c)) { fprintf(stderr, "fuzz_server: %s:%d: %s\n", \
				__FILE__, __LINE__, #c); abort(); } } while (0)
#define CLIENT_UID	1001

static struct shinjuku_bpf *skel;
static struct shj_server srv;
static pid_t child, tids[6];	/* child's two, ours two, one that exited,
				 * the child's main thread */
static int to_child = -1, from_child = -1;
static mqd_t req_q = (mqd_t)-1, rep_q = (mqd_t)-1;	/* the child's, opened by us */
static struct session_info {
	int req_fd, rep_fd;	/* the child's descriptors */
	unsigned int n;		/* its n-th pair */
} cur;

/* --- the child: a client process of another uid ------------------------ */

/* read(), whole, through signals: libFuzzer's timeout alarm interrupts a
 * wait for a slow child (a loaded machine). 0 or -1. */
static int read_all(int fd, void *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf = (char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}


static void *sleeper(void *arg)
{
	for (;;)
		pause();
	return arg;
}

/* A thread that stores its tid in *arg and sleeps. */
static void *tid_of(void *arg)
{
	__atomic_store_n((pid_t *)arg, gettid(), __ATOMIC_SEQ_CST);
	return sleeper(arg);
}

/* Make queue pair n, leave OPEN in the request queue, HELLO on the public
 * one; tell the harness the descriptors. Until asked again. */
static void child_main(int in, int out)
{
	mqd_t q = (mqd_t)-1, r = (mqd_t)-1, pub;
	char qn[SHJ_QUEUE_NAME_MAX], rn[SHJ_QUEUE_NAME_MAX];
	struct mq_attr qa = { .mq_maxmsg = SHJ_QUEUE_DEPTH, .mq_msgsize = sizeof(struct shj_req) };
	struct mq_attr ra = { .mq_maxmsg = SHJ_QUEUE_DEPTH,
			      .mq_msgsize = sizeof(struct shj_rep_page) };
	struct session_info si = { 0 };
	pid_t mine[2] = { 0, 0 };
	const char *what = "";
	pthread_t th;
	int i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (setresgid(CLIENT_UID, CLIENT_UID, CLIENT_UID) ||
	    setresuid(CLIENT_UID, CLIENT_UID, CLIENT_UID))
		_exit(1);
	for (i = 0; i < 2; i++)
		if (pthread_create(&th, NULL, tid_of, &mine[i]))
			_exit(1);
	while (!__atomic_load_n(&mine[0], __ATOMIC_SEQ_CST) ||
	       !__atomic_load_n(&mine[1], __ATOMIC_SEQ_CST))
		usleep(100);
	if (write(out, mine, sizeof(mine)) != sizeof(mine))
		_exit(1);
	for (;;) {
		struct shj_req m;
		char c;

		if (read_all(in, &c, 1))
			_exit(0);
		if (q != (mqd_t)-1) {	/* the last pair goes: a new session */
			mq_close(q);
			mq_close(r);
			mq_unlink(qn);
			mq_unlink(rn);
		}
		si.n++;
		shj_queue_name(qn, sizeof(qn), getpid(), si.n, 'q');
		shj_queue_name(rn, sizeof(rn), getpid(), si.n, 'r');
		mq_unlink(qn);
		mq_unlink(rn);
		r = mq_open(rn, O_RDONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &ra);
		q = mq_open(qn, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &qa);
		what = "create its queues";
		if (q == (mqd_t)-1 || r == (mqd_t)-1)
			goto fail;
		memset(&m, 0, sizeof(m));
		m.version = SHJ_PROTO_VERSION;
		m.size = sizeof(m);
		m.op = SHJ_OP_OPEN;
		m.seq = 1;
		m.pid = getpid();
		m.fd = (int)r;
		m.nonce = 0x6e6f6e6365ULL + si.n;
		memcpy(m.queue, rn, sizeof(m.queue));
		what = "send OPEN";
		if (mq_send(q, (const char *)&m, sizeof(m), 0))
			goto fail;
		m.op = SHJ_OP_HELLO;
		m.fd = (int)q;
		m.nonce = 0;
		memcpy(m.queue, qn, sizeof(m.queue));
		pub = mq_open(SHJ_REQUEST_QUEUE, O_WRONLY | O_NONBLOCK);
		what = "send HELLO";
		if (pub == (mqd_t)-1 || mq_send(pub, (const char *)&m, sizeof(m), 0))
			goto fail;
		mq_close(pub);
		si.req_fd = (int)q;
		si.rep_fd = (int)r;
		if (write(out, &si, sizeof(si)) != sizeof(si))
			_exit(1);
	}
fail:
	fprintf(stderr, "fuzz_server: the client cannot %s (pair %u): %s\n", what, si.n,
		strerror(errno));
	_exit(1);
}

/* --- the harness ------------------------------------------------------- */

/* STATS pages to read: the daemon's counters are its own business. */
static unsigned int collect(void *ctx, struct shj_kv *kv, unsigned int max)
{
	unsigned int i;

	for (i = 0; i < 40 && i < max; i++) {
		snprintf(kv[i].key, sizeof(kv[i].key), "c%u", i);
		kv[i].value = i;
	}
	return i;
}

/* A new session of the child's; its queues opened here. */
static void open_session(void)
{
	char name[SHJ_QUEUE_NAME_MAX];
	struct shj_rep rep;
	ssize_t n;
	int i;

	if (req_q != (mqd_t)-1) {
		mq_close(req_q);
		mq_close(rep_q);
	}
	REQUIRE(write(to_child, "n", 1) == 1);	/* a pipe: never short */
	REQUIRE(!read_all(from_child, &cur, sizeof(cur)));
	shj_queue_name(name, sizeof(name), child, cur.n, 'q');
	req_q = mq_open(name, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	shj_queue_name(name, sizeof(name), child, cur.n, 'r');
	rep_q = mq_open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	REQUIRE(req_q != (mqd_t)-1 && rep_q != (mqd_t)-1);
	for (i = 0; i < 100 && srv.nsessions == 0; i++)
		shj_server_handle(&srv, 16);
	REQUIRE(srv.nsessions == 1);
	n = mq_receive(rep_q, (char *)&rep, sizeof(struct shj_rep_page), NULL);
	REQUIRE(n == sizeof(rep) && rep.status == 0 && rep.op == SHJ_OP_OPEN);
}

/* Every reply the child got: well formed (its nonce is the session's
 * business: a forged OPEN on its own queue may choose another). */
static void drain_replies(void)
{
	union { struct shj_rep rep; struct shj_rep_page pg; char buf[sizeof(struct shj_rep_page)]; } m;
	ssize_t n;

	while ((n = mq_receive(rep_q, m.buf, sizeof(m.buf), NULL)) >= 0) {
		REQUIRE(m.rep.version == SHJ_PROTO_VERSION && m.rep.size == (size_t)n);
		REQUIRE(n == sizeof(m.rep) || n == sizeof(m.pg));
		REQUIRE(m.rep.status <= 0 && m.rep.status >= -4095);
		if (n == sizeof(m.pg))
			REQUIRE(m.rep.status == 0 &&
				m.pg.count <= (m.rep.op == SHJ_OP_LIST ? SHJ_THREADS_PER_PAGE :
					       SHJ_KV_PER_PAGE));
	}
}

static uint32_t hash32(uint32_t key, unsigned int bits)
{
	return (key * 0x9e3779b1u) >> (32 - bits);
}

/* The tables agree with each other and with the map. */
static void consistent(void)
{
	unsigned int i, threads = 0, sessions = 0, held = 0, acc_threads = 0, acc_sessions = 0;
	int fd = bpf_map__fd(skel->maps.shj_tasks);

	for (i = 0; i < srv.lim.threads; i++) {
		const struct shj_thread *t = &srv.threads[i];
		struct shj_task task;
		uint32_t j;

		if (!t->tid)
			continue;
		threads++;
		for (j = srv.hash[hash32((uint32_t)t->tid, srv.hash_bits)];
		     j != SHJ_NIL && j != i; j = srv.threads[j].hnext)
			;
		REQUIRE(j == i);	/* found by its tid */
		REQUIRE(srv.clients[t->client].used);
		REQUIRE(t->state.qos < srv.sched.nr_levels);
		REQUIRE(!shj_task_read(fd, t->pidfd, &task));
		REQUIRE(task.qos == t->state.qos && task.flags == t->state.flags);
	}
	REQUIRE(threads == srv.nthreads);
	for (i = 0; i < srv.lim.sessions; i++) {
		sessions += srv.sessions[i].used;
		if (srv.clients[i].used) {
			uint32_t j;

			held++;
			for (j = srv.clients[i].threads; j != SHJ_NIL; j = srv.threads[j].next)
				REQUIRE(srv.threads[j].tid && srv.threads[j].client == i);
		}
		if (srv.accounts[i].clients) {
			acc_threads += srv.accounts[i].threads;
			acc_sessions += srv.accounts[i].sessions;
		}
	}
	REQUIRE(sessions == srv.nsessions && acc_sessions == srv.nsessions);
	REQUIRE(held == srv.nclients && acc_threads == srv.nthreads);
}

static void send_session(const void *buf, size_t len)
{
	mq_send(req_q, buf, len, 0);	/* full, or too long: the client's loss */
}

/* One well-formed request on the session, served. */
static void session_op(uint16_t op, int32_t tid)
{
	struct shj_req r;

	memset(&r, 0, sizeof(r));
	r.version = SHJ_PROTO_VERSION;
	r.size = sizeof(r);
	r.op = op;
	r.tid = tid;
	send_session(&r, sizeof(r));
	shj_server_handle(&srv, 64);
	drain_replies();
}

/* The child's threads back, as its own calls would do it -- every one still
 * registered, also one the input named by number (libFuzzer learns real
 * tids from the comparisons it sees); then nothing of it is left in the
 * server or the map. */
static void reset(void)
{
	int fd = bpf_map__fd(skel->maps.shj_tasks);
	struct shj_task task;
	unsigned int j;
	int i;

	for (j = 0; j < srv.lim.threads && srv.nsessions && srv.nthreads; j++)
		if (srv.threads[j].tid)
			session_op(SHJ_OP_UNREGISTER, srv.threads[j].tid);
	if (srv.nsessions)
		session_op(SHJ_OP_SYNC, 0);
	REQUIRE(srv.nthreads == 0);
	for (i = 0; i < 4; i++) {
		int pfd = shj_thread_pidfd(tids[i]);

		REQUIRE(pfd >= 0);
		REQUIRE(shj_task_read(fd, pfd, &task) == -ENOENT);
		close(pfd);
	}
}

static void die_quietly(const char *what, int err)
{
	fprintf(stderr, "fuzz_server: cannot %s: %s\n", what, strerror(err));
	exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct shj_sched sched = { .nr_levels = 4, .dry_run = 1, .collect = collect };
	struct shj_limits lim = {
		.sessions = 8, .sessions_per_uid = 4, .sessions_root = 1,
		.sessions_per_client = 2, .threads = 8, .threads_per_uid = 4,
	};
	int p1[2], p2[2], err, lock, i;
	pthread_t th;

	if (geteuid())
		die_quietly("run (needs root, for bpf())", EPERM);
	if (unshare(CLONE_NEWIPC | CLONE_NEWNS) ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/run", "tmpfs", 0, "mode=755"))
		die_quietly("make its namespaces", errno);
	err = load_maps_only(&skel, 1);
	if (err)
		die_quietly("load the maps", -err);
	lock = shj_server_lock();
	if (lock < 0)
		die_quietly("take the lock", -lock);
	sched.tasks_fd = bpf_map__fd(skel->maps.shj_tasks);
	sched.rt_fd = bpf_map__fd(skel->maps.shj_rt);
	sched.apply_fd = bpf_program__fd(skel->progs.shinjuku_apply);
	sched.mark_fd = -1;	/* no socket: the queues are what is fuzzed */
	err = shj_server_open(&srv, &sched, &lim);
	if (err)
		die_quietly("open the server", -err);
	for (i = 2; i < 4; i++)	/* ours: another process's, to the client */
		if (pthread_create(&th, NULL, tid_of, &tids[i]))
			die_quietly("start a thread", EAGAIN);
	if (pthread_create(&th, NULL, tid_of, &tids[4]))
		die_quietly("start a thread", EAGAIN);
	while (!__atomic_load_n(&tids[2], __ATOMIC_SEQ_CST) ||
	       !__atomic_load_n(&tids[3], __ATOMIC_SEQ_CST) ||
	       !__atomic_load_n(&tids[4], __ATOMIC_SEQ_CST))
		usleep(100);
	if (pthread_cancel(th) || pthread_join(th, NULL))	/* one that exited */
		die_quietly("end a thread", EAGAIN);
	if (pipe2(p1, O_CLOEXEC) || pipe2(p2, O_CLOEXEC))
		die_quietly("make pipes", errno);
	child = fork();
	if (child < 0)
		die_quietly("fork", errno);
	tids[5] = child;
	if (child == 0) {
		close(p1[1]);
		close(p2[0]);
		child_main(p1[0], p2[1]);
	}
	close(p1[0]);
	close(p2[1]);
	to_child = p1[1];
	from_child = p2[0];
	if (read_all(from_child, tids, 2 * sizeof(pid_t)))
		die_quietly("start the client", EIO);
	(void)argc;
	(void)argv;
	return 0;
}

/* Tid value v of the input, made a real thread's when asked. */
static int32_t tid_from(int32_t v, int map)
{
	return map && v >= 1 && v <= 8 ? tids[(v - 1) % 6] : v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	int msgs = 0;

	if (srv.nsessions == 0)
		open_session();
	while (off + 2 <= size && msgs++ < 32) {
		union { struct shj_req req; char buf[SHJ_MSG_MAX]; } m;
		uint8_t ctl = data[off];
		size_t len = data[off + 1] + (ctl & 16 ? 256 : 0), max;
		int pub = ctl & 1, i;

		off += 2;
		if (len > size - off)
			len = size - off;
		max = pub ? SHJ_MSG_MAX : sizeof(struct shj_req);
		memset(&m, 0, sizeof(m));
		memcpy(m.buf, data + off, len < max ? len : max);
		off += len;
		if (len > max)
			len = max;
		if (ctl & 2) {
			m.req.version = SHJ_PROTO_VERSION;
			if (len < sizeof(m.req))
				len = sizeof(m.req);
			m.req.size = (uint32_t)len;
		}
		if (ctl & 4) {
			m.req.tid = tid_from(m.req.tid, 1);
			for (i = 0; i < SHJ_BATCH_MAX; i++)
				m.req.tids[i] = tid_from(m.req.tids[i], 1);
		}
		if (ctl & 8) {
			m.req.pid = child;
			m.req.fd = cur.req_fd;
			shj_queue_name(m.req.queue, sizeof(m.req.queue), child, cur.n, 'q');
		}
		if (pub) {
			mqd_t q = mq_open(SHJ_REQUEST_QUEUE, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

			REQUIRE(q != (mqd_t)-1);
			mq_send(q, m.buf, len, 0);
			mq_close(q);
		} else {
			send_session(m.buf, len);
		}
		shj_server_handle(&srv, 64);
		drain_replies();
	}
	consistent();
	if (srv.nsessions)
		reset();
	REQUIRE(srv.nthreads == 0);
	consistent();
	return 0;
}
