/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rocksdb-server: a RocksDB GET/SCAN server over UDP in the Shinjuku worker
 * model (the design note's own application). The main thread is the
 * dispatcher: it receives each request and hands it to an idle worker of
 * examples/workers.c; the worker reads the database (examples/rocks.c),
 * spins until the request has used its padded service time of CPU, and
 * replies. GETs rank above SCANs: a worker serving a SCAN lowers itself
 * (shinjuku: shj_set_qos() to the SCAN level; unregistered: nice 19 or
 * SCHED_IDLE) and raises itself back when the SCAN is done.
 *
 * Requests, one datagram each, words separated by one space:
 *   ID GET KEY          -> ID VALUE <value> | ID NOTFOUND
 *   ID SCAN [KEY]       -> ID SCAN <n> <last key> <FNV-1a of the values, hex>
 *                          (--scan-keys keys from the first >= KEY, or from a
 *                          random key)
 * anything else, or too long -> ID ERR <reason> (ID "-" if there is none).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <shinjuku.h>
#include "rocks.h"
#include "workers.h"

#define SLOTS		4096	/* requests in flight at most */
#define MSG_MAX		256	/* a request */
#define ID_MAX		32
#define KEY_MAX		64
#define REPLY_MAX	(ID_MAX + RK_VALUE_MAX + 64)

static struct {
	int port, workers, get_qos, scan_qos, spin, no_register, one_level;
	double get_us, scan_us;
	const char *scan_class;
	struct rk_opts db;
} opt = {
	.port = 7008, .workers = 8, .get_qos = 1, .scan_qos = 0,
	.db = { .dir = "/dev/shm/shj-rocksdb", .value_len = 100, .scan_keys = 1000 },
};

static struct slot {
	struct sockaddr_in from;
	enum rk_class cls;
	char id[ID_MAX + 1], key[KEY_MAX + 1];
	char reply[REPLY_MAX];
	int len;
	int busy;	/* handed to a worker, not yet answered */
} slots[SLOTS];
static int sock;
static struct rk_db *db;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: rocksdb-server [OPTION]...\n"
"A RocksDB GET/SCAN server on UDP 127.0.0.1 in the Shinjuku worker model.\n"
"Requests: 'ID GET KEY' -> 'ID VALUE V' or 'ID NOTFOUND'; 'ID SCAN [KEY]' ->\n"
"'ID SCAN N LASTKEY SUM' (N keys from the first >= KEY, or a random one; SUM\n"
"the FNV-1a of their values, hex); anything else -> 'ID ERR REASON'.\n"
"\n"
"  -p, --port PORT      UDP port (default 7008; 0 picks a free one)\n"
"  -w, --workers N      worker threads, 1..%d (default 8)\n"
"      --db DIR         the database (default /dev/shm/shj-rocksdb); created\n"
"                       and filled if absent or empty: keys k000000000.. with\n"
"                       values made from their number\n"
"      --keys N         keys to create (default %u: ~130 MB, for a 1 GiB VM);\n"
"                       with an existing database, the count it must have\n"
"      --value-size B   bytes per value, 11..%d (default 100)\n"
"      --scan-keys K    keys a SCAN reads (default 1000)\n"
"      --get-us US      pad a GET to US of CPU time (default 0: as found)\n"
"      --scan-us US     pad a SCAN to US of CPU time (default 0: as found)\n"
"      --get-qos L      shinjuku level of a GET (default 1)\n"
"      --scan-qos L     shinjuku level of a SCAN (default 0)\n"
"      --one-level      no QoS: a SCAN keeps the GET level\n"
"      --scan-class C   how a SCAN ranks lower: qos (shinjuku levels; the\n"
"                       default when registered), nice (nice 19), idle\n"
"                       (SCHED_IDLE) or none (the default when not registered)\n"
"      --spin           idle workers spin, marked idle (default: they block)\n"
"  -n, --no-register    do not register: the kernel's own scheduler\n"
"  -h, --help           print this help and exit\n"
"\n"
"Prints 'listening on 127.0.0.1:PORT ...' and 'worker I tid T' on stdout once\n"
"ready. Stops on SIGINT/SIGTERM. Exit status: 0 stopped; 1 bad usage; 2 the\n"
"workers could not register; 3 network error; 4 the database could not be\n"
"opened or made.\n", WK_MAX_WORKERS, RK_DEFAULT_KEYS, RK_VALUE_MAX);
}

static int parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

/* per worker: its own random SCAN starts */
static __thread unsigned long long rng;
static uint32_t random_key(void)
{
	if (!rng)
		rng = (unsigned long long)gettid() * 0x9E3779B97F4A7C15ULL + 1;
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)(((rng * 2685821657736338717ULL) >> 32) % rk_keys(db));
}

/* A worker begins request id: its work, padded, and the reply */
static void serve(void *ctx, uint64_t id)
{
	struct slot *s = &slots[id % SLOTS];
	uint64_t t0 = rk_cpu_ns();
	char val[RK_VALUE_MAX], last[RK_KEY_LEN + 1], rid[ID_MAX + 1];
	uint64_t sum;
	int n, err;

	memcpy(rid, s->id, sizeof(rid));

	if ((err = rk_set_class(db, s->cls)))
		fprintf(stderr, "rocksdb-server: lowering a worker: %s\n", shj_strerror(err));
	if (s->cls == RK_GET) {
		n = rk_get(db, s->key, val);
		if (n > 0)
			s->len = snprintf(s->reply, REPLY_MAX, "%s VALUE %.*s", rid, n, val);
		else if (n == 0)
			s->len = snprintf(s->reply, REPLY_MAX, "%s NOTFOUND", rid);
		else
			s->len = snprintf(s->reply, REPLY_MAX, "%s ERR %s", rid, val);
		rk_pad(t0, (uint64_t)(opt.get_us * 1e3));
	} else {
		if (!s->key[0])
			rk_key(s->key, random_key());
		n = rk_scan(db, s->key, last, &sum);
		if (n >= 0)
			s->len = snprintf(s->reply, REPLY_MAX, "%s SCAN %d %s %016llx", rid, n,
					  n ? last : "-", (unsigned long long)sum);
		else
			s->len = snprintf(s->reply, REPLY_MAX, "%s ERR scan failed", rid);
		rk_pad(t0, (uint64_t)(opt.scan_us * 1e3));
	}
}

static void reply(void *ctx, uint64_t id)
{
	struct slot *s = &slots[id % SLOTS];
	int err;

	/* back at the GET level before the reply leaves */
	if ((err = rk_set_class(db, RK_GET)))
		fprintf(stderr, "rocksdb-server: raising a worker: %s\n", shj_strerror(err));
	sendto(sock, s->reply, (size_t)s->len, 0, (struct sockaddr *)&s->from, sizeof(s->from));
	__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
}

/* Parse msg into s; NULL, or the reason it is no request */
static const char *parse(char *msg, struct slot *s)
{
	char *save, *id, *op, *key, *extra;

	s->id[0] = '\0';	/* the slot's last request had one */
	id = strtok_r(msg, " ", &save);
	if (!id)
		return "empty request";
	if (strlen(id) > ID_MAX)
		return "ID too long";
	strcpy(s->id, id);
	op = strtok_r(NULL, " ", &save);
	key = strtok_r(NULL, " ", &save);
	extra = strtok_r(NULL, " ", &save);
	if (!op)
		return "no operation (GET KEY or SCAN [KEY])";
	if (extra)
		return "too many words";
	if (key && strlen(key) > KEY_MAX)
		return "key too long";
	if (!strcmp(op, "GET")) {
		if (!key)
			return "GET needs a key";
		s->cls = RK_GET;
	} else if (!strcmp(op, "SCAN")) {
		s->cls = RK_SCAN;
	} else {
		return "unknown operation (GET KEY or SCAN [KEY])";
	}
	snprintf(s->key, sizeof(s->key), "%s", key ? key : "");
	return NULL;
}

static void error_reply(const struct sockaddr_in *to, const char *id, const char *why)
{
	char buf[ID_MAX + 128];
	int len = snprintf(buf, sizeof(buf), "%s ERR %s", id && strlen(id) <= ID_MAX ? id : "-", why);

	sendto(sock, buf, (size_t)len, 0, (const struct sockaddr *)to, sizeof(*to));
}

int main(int argc, char **argv)
{
	enum { O_DB = 256, O_KEYS, O_VLEN, O_SCANK, O_GETUS, O_SCANUS, O_GETQ, O_SCANQ,
	       O_ONE, O_CLASS, O_SPIN };
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "db", required_argument, NULL, O_DB },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "value-size", required_argument, NULL, O_VLEN },
		{ "scan-keys", required_argument, NULL, O_SCANK },
		{ "get-us", required_argument, NULL, O_GETUS },
		{ "scan-us", required_argument, NULL, O_SCANUS },
		{ "get-qos", required_argument, NULL, O_GETQ },
		{ "scan-qos", required_argument, NULL, O_SCANQ },
		{ "one-level", no_argument, NULL, O_ONE },
		{ "scan-class", required_argument, NULL, O_CLASS },
		{ "spin", no_argument, NULL, O_SPIN },
		{ "no-register", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	struct wk_config cfg;
	struct wk_pool *pool;
	pid_t tids[WK_MAX_WORKERS];
	char err[512];
	uint64_t next = 0;
	sigset_t set;
	double v;
	int c, i, n, e, sfd;

	while ((c = getopt_long(argc, argv, "p:w:nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_num(optarg, 0, 65535, &v))
				goto bad;
			opt.port = (int)v;
			break;
		case 'w':
			if (parse_num(optarg, 1, WK_MAX_WORKERS, &v))
				goto bad;
			opt.workers = (int)v;
			break;
		case O_DB:
			opt.db.dir = optarg;
			break;
		case O_KEYS:
			if (parse_num(optarg, 1, RK_KEYS_MAX, &v) || v != (uint32_t)v)
				goto bad;
			opt.db.keys = (uint32_t)v;
			break;
		case O_VLEN:
			if (parse_num(optarg, 11, RK_VALUE_MAX, &v))
				goto bad;
			opt.db.value_len = (int)v;
			break;
		case O_SCANK:
			if (parse_num(optarg, 1, 1000000, &v))
				goto bad;
			opt.db.scan_keys = (int)v;
			break;
		case O_GETUS:
			if (parse_num(optarg, 0, 10e6, &opt.get_us))
				goto bad;
			break;
		case O_SCANUS:
			if (parse_num(optarg, 0, 10e6, &opt.scan_us))
				goto bad;
			break;
		case O_GETQ:
			if (parse_num(optarg, 0, SHJ_QOS_LEVELS_MAX - 1, &v))
				goto bad;
			opt.get_qos = (int)v;
			break;
		case O_SCANQ:
			if (parse_num(optarg, 0, SHJ_QOS_LEVELS_MAX - 1, &v))
				goto bad;
			opt.scan_qos = (int)v;
			break;
		case O_ONE:
			opt.one_level = 1;
			break;
		case O_CLASS:
			if (strcmp(optarg, "qos") && strcmp(optarg, "nice") &&
			    strcmp(optarg, "idle") && strcmp(optarg, "none"))
				goto bad;
			opt.scan_class = optarg;
			break;
		case O_SPIN:
			opt.spin = 1;
			break;
		case 'n':
			opt.no_register = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rocksdb-server: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 1;
	}
	if (!opt.scan_class)
		opt.scan_class = opt.no_register ? "none" : "qos";
	if (!strcmp(opt.scan_class, "qos") && opt.no_register) {
		fprintf(stderr, "rocksdb-server: --scan-class qos needs registered workers "
			"(drop --no-register, or use nice, idle or none)\n");
		return 1;
	}
	if (opt.one_level || !strcmp(opt.scan_class, "none"))
		opt.db.lower = RK_LOWER_NONE, opt.one_level = 1;
	else
		opt.db.lower = !strcmp(opt.scan_class, "qos") ? RK_LOWER_QOS :
			       !strcmp(opt.scan_class, "nice") ? RK_LOWER_NICE : RK_LOWER_IDLE;
	opt.db.get_qos = opt.get_qos;
	opt.db.scan_qos = opt.scan_qos;

	/* every thread inherits the mask; the dispatcher reads the signals */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);

	if (rk_open(&db, &opt.db, stderr, err, sizeof(err))) {
		fprintf(stderr, "rocksdb-server: %s\n", err);
		return 4;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)opt.port);
	if (sfd < 0 || sock < 0 ||
	    bind(sock, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockname(sock, (struct sockaddr *)&addr, &alen)) {
		fprintf(stderr, "rocksdb-server: port %d: %s\n", opt.port, strerror(errno));
		rk_close(db);
		return 3;
	}

	cfg = (struct wk_config){
		.workers = opt.workers, .qos = opt.get_qos,
		.wait = opt.spin ? WK_SPIN : WK_BLOCK, .shinjuku = !opt.no_register,
		.begin = serve,
	};
	e = wk_start(&pool, &cfg, reply, NULL);
	if (e) {
		fprintf(stderr, "rocksdb-server: workers: %s\n", shj_strerror(e));
		rk_close(db);
		return 2;
	}
	printf("listening on 127.0.0.1:%d with %d workers%s, %u keys in %s\n",
	       ntohs(addr.sin_port), opt.workers, opt.no_register ? " (not registered)" : "",
	       rk_keys(db), opt.db.dir);
	n = wk_tids(pool, tids, WK_MAX_WORKERS);
	for (i = 0; i < n; i++)
		printf("worker %d tid %d\n", i, (int)tids[i]);
	fflush(stdout);

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = sock, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct slot *s = &slots[next % SLOTS];
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		char msg[MSG_MAX + 1];
		const char *why;
		ssize_t len;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		if (!(fds[0].revents & POLLIN))
			continue;
		/* MSG_TRUNC: the datagram's real length, however long */
		len = recvfrom(sock, msg, MSG_MAX, MSG_TRUNC, (struct sockaddr *)&from, &flen);
		if (len < 0)
			continue;
		if (len > MSG_MAX) {
			char why_long[64];

			msg[MSG_MAX] = '\0';
			snprintf(why_long, sizeof(why_long), "request too long (%zd bytes, at most %d)",
				 len, MSG_MAX);
			error_reply(&from, strtok(msg, " "), why_long);
			continue;
		}
		msg[len] = '\0';
		if (memchr(msg, '\0', (size_t)len) || strpbrk(msg, "\t\r\n")) {
			error_reply(&from, NULL, "not a text request of words separated by spaces");
			continue;
		}
		/* slots are taken in turn: the next one may still be busy
		 * with a request SLOTS requests old */
		if (__atomic_load_n(&s->busy, __ATOMIC_ACQUIRE)) {
			error_reply(&from, strtok(msg, " "), "overloaded");
			continue;
		}
		if ((why = parse(msg, s))) {
			error_reply(&from, s->id[0] ? s->id : NULL, why);
			continue;
		}
		s->from = from;
		s->busy = 1;
		if (wk_submit(pool, next, 0)) {
			s->busy = 0;
			error_reply(&from, s->id, "overloaded");
			continue;
		}
		next++;
	}
	fprintf(stderr, "rocksdb-server: stopping\n");
	wk_stop(pool);
	if (!opt.no_register)
		shj_close();
	rk_close(db);
	return 0;
bad:
	fprintf(stderr, "rocksdb-server: bad value '%s' for --%s\n", optarg,
		c < 256 ? (c == 'p' ? "port" : "workers") : longopts[c - O_DB + 2].name);
	usage(stderr);
	return 1;
}
