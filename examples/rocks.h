/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The RocksDB side of examples/rocksdb-server and loadgen --app rocksdb:
 * the database (keys "k%09u" 0..N-1, each with a value derived from its
 * number, so that a client can check it), GET and SCAN with their service
 * time padded in CPU time, and the class of a worker (GET above SCAN)
 * following the request it serves.
 *
 * rk_key(), rk_value() and rk_fnv() need no RocksDB: the client checks
 * replies with them.
 */
#ifndef SHJ_ROCKS_H
#define SHJ_ROCKS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RK_KEY_LEN	10		/* "k" and 9 digits */
#define RK_KEYS_MAX	999999999u
#define RK_VALUE_MAX	1024
#define RK_META_KEY	"#keys"		/* sorts before every "k..." */

/* key i (< 10^9): "k%09u" (RK_KEY_LEN bytes, NUL-terminated) */
static inline void rk_key(char *buf, uint32_t i)
{
	int j;

	buf[0] = 'k';
	for (j = RK_KEY_LEN - 1; j > 0; j--, i /= 10)
		buf[j] = (char)('0' + i % 10);
	buf[RK_KEY_LEN] = '\0';
}

/* key i's value, len bytes (>= 11): "v%09u-" and letters that depend on
 * i; not NUL-terminated */
static inline void rk_value(char *buf, uint32_t i, size_t len)
{
	size_t j;

	rk_key(buf, i);		/* "k%09u", then made "v%09u-" */
	buf[0] = 'v';
	buf[RK_KEY_LEN] = '-';
	for (j = RK_KEY_LEN + 1; j < len; j++)
		buf[j] = (char)('a' + (i + j) % 26);
}

/* FNV-1a over len bytes, continuing from h (start with RK_FNV_INIT) */
#define RK_FNV_INIT	0xcbf29ce484222325ULL
static inline uint64_t rk_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

enum rk_class { RK_GET, RK_SCAN };

/* How a SCAN ranks below a GET while a worker serves it. */
enum rk_lower {
	RK_LOWER_NONE,	/* it does not: one class */
	RK_LOWER_QOS,	/* shinjuku: shj_set_qos() to scan_qos, back to get_qos */
	RK_LOWER_NICE,	/* the fair class: nice 19, back to 0 */
	RK_LOWER_IDLE,	/* the fair class: SCHED_IDLE, back to SCHED_OTHER */
};

struct rk_db;

struct rk_opts {
	const char *dir;	/* created and filled if absent or empty */
	uint32_t keys;		/* 0: what the database has (or the default to create) */
	int value_len;		/* bytes per value, 11..RK_VALUE_MAX */
	int scan_keys;		/* keys a SCAN reads */
	enum rk_lower lower;
	int get_qos, scan_qos;	/* RK_LOWER_QOS */
};

#define RK_DEFAULT_KEYS	1000000u	/* ~130 MB on tmpfs: fits a 1 GiB VM */

/*
 * Open the database of o->dir, creating and filling it if the directory is
 * absent or empty (progress on stderr: that is the program's choice, made by
 * passing log; NULL: quiet). 0 or -1 with a message in err (errlen bytes).
 */
int rk_open(struct rk_db **db, const struct rk_opts *o, FILE *log, char *err, size_t errlen);
void rk_close(struct rk_db *db);
uint32_t rk_keys(const struct rk_db *db);

/*
 * GET key (NUL-terminated): the value into val (at most RK_VALUE_MAX bytes),
 * its length, 0 if not found, -1 on a RocksDB error (message in val).
 */
int rk_get(struct rk_db *db, const char *key, char *val);

/*
 * SCAN: scan_keys keys (fewer at the end) from the first key >= start.
 * Returns how many were read; *last gets the last key (RK_KEY_LEN + 1
 * bytes), *sum the FNV-1a of their values in order; -1 on an error.
 */
int rk_scan(struct rk_db *db, const char *start, char *last, uint64_t *sum);

/* Spin until this thread has used `ns` of CPU since `since` (rk_cpu_ns()). */
uint64_t rk_cpu_ns(void);
void rk_pad(uint64_t since, uint64_t ns);

/*
 * The calling worker takes the rank of class cls (RK_SCAN lowers it, as
 * o->lower says; RK_GET raises it back). A no-op if it has that rank
 * already. 0 or a negative errno.
 */
int rk_set_class(const struct rk_db *db, enum rk_class cls);

/* Changes to class cls so far (RK_SCAN: lowered, RK_GET: raised back), and
 * the wall time spent in them (all threads; a lowered worker's call returns
 * when it gets a CPU at its new rank). */
void rk_class_stats(enum rk_class cls, uint64_t *changes, uint64_t *ns);

/* Read every value once (the file's pages mapped, so that the measured
 * GETs do not fault them in). 0 or -1. */
int rk_warm(struct rk_db *db);

#endif
