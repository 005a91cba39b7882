/* SPDX-License-Identifier: BSD-2-Clause */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>
#include <shinjuku.h>
#include "rocks.h"

struct rk_db {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *table;
	rocksdb_readoptions_t *ro;
	struct rk_opts o;
	uint32_t keys;
};

static uint64_t class_changes[2], class_ns[2];	/* by the class taken */

uint64_t rk_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void rk_pad(uint64_t since, uint64_t ns)
{
	while (rk_cpu_ns() - since < ns)
		;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* 1 if dir has no entries but . and ..; 0 if it has; -1 (errno) if unreadable */
static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int fill(struct rk_db *d, uint32_t keys, FILE *log, char *err, size_t errlen)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	char key[RK_KEY_LEN + 1], val[RK_VALUE_MAX], meta[16];
	char *e = NULL;
	uint32_t i = 0;

	/* a bulk load: nothing to recover if it dies half-way (no meta key:
	 * the next start refuses the directory) */
	rocksdb_writeoptions_disable_WAL(wo, 1);
	while (i < keys && !e) {
		rocksdb_writebatch_t *b = rocksdb_writebatch_create();
		uint32_t end = keys - i > 1000 ? i + 1000 : keys;

		for (; i < end; i++) {
			rk_key(key, i);
			rk_value(val, i, (size_t)d->o.value_len);
			rocksdb_writebatch_put(b, key, RK_KEY_LEN, val, (size_t)d->o.value_len);
		}
		rocksdb_write(d->db, wo, b, &e);
		rocksdb_writebatch_destroy(b);
		if (log && i % 100000 == 0)
			fprintf(log, "\r%s: %u of %u keys", d->o.dir, i, keys);
	}
	if (!e) {
		rocksdb_flush(d->db, fo, &e);
	}
	if (!e) {	/* last: the mark of a complete database */
		snprintf(meta, sizeof(meta), "%u %d", keys, d->o.value_len);
		rocksdb_put(d->db, wo, RK_META_KEY, strlen(RK_META_KEY), meta, strlen(meta), &e);
		if (!e)
			rocksdb_flush(d->db, fo, &e);
	}
	if (log)
		fprintf(log, "\n");
	rocksdb_writeoptions_destroy(wo);
	rocksdb_flushoptions_destroy(fo);
	if (e) {
		snprintf(err, errlen, "%s: filling the database: %s", d->o.dir, e);
		rocksdb_free(e);
		return -1;
	}
	return 0;
}

int rk_open(struct rk_db **db, const struct rk_opts *o, FILE *log, char *err, size_t errlen)
{
	struct rk_db *d;
	struct stat st;
	char *e = NULL, *meta;
	size_t mlen;
	int create, vlen;
	unsigned keys;

	if (o->value_len < 11 || o->value_len > RK_VALUE_MAX || o->scan_keys < 1 ||
	    o->keys > RK_KEYS_MAX) {
		snprintf(err, errlen, "bad database options");
		return -1;
	}
	if (stat(o->dir, &st)) {
		if (errno != ENOENT || mkdir(o->dir, 0755)) {
			snprintf(err, errlen, "%s: %s", o->dir, strerror(errno));
			return -1;
		}
		create = 1;
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", o->dir);
		return -1;
	} else if ((create = dir_empty(o->dir)) < 0) {
		snprintf(err, errlen, "%s: %s", o->dir, strerror(errno));
		return -1;
	}
	if (!create) {
		char cur[4096];

		snprintf(cur, sizeof(cur), "%s/CURRENT", o->dir);
		if (access(cur, F_OK)) {
			snprintf(err, errlen, "%s: not a RocksDB database (no CURRENT file); "
				 "remove it or name another directory", o->dir);
			return -1;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->o = *o;
	d->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(d->opts, create);
	rocksdb_options_set_paranoid_checks(d->opts, 1);
	rocksdb_options_set_info_log_level(d->opts, 3);	/* ERROR */
	/* no compression: a GET's cost is the lookup, the same on every run */
	rocksdb_options_set_compression(d->opts, rocksdb_no_compression);
	/* tmpfs: read the files through a mapping, not a read() per block */
	rocksdb_options_set_allow_mmap_reads(d->opts, 1);
	d->table = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_filter_policy(d->table, rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_options_set_block_based_table_factory(d->opts, d->table);
	d->db = rocksdb_open(d->opts, o->dir, &e);
	if (e) {
		snprintf(err, errlen, "%s: cannot open the database: %s", o->dir, e);
		rocksdb_free(e);
		goto fail;
	}
	d->ro = rocksdb_readoptions_create();
	if (create && fill(d, o->keys ? o->keys : RK_DEFAULT_KEYS, log, err, errlen))
		goto fail;
	meta = rocksdb_get(d->db, d->ro, RK_META_KEY, strlen(RK_META_KEY), &mlen, &e);
	if (e) {
		snprintf(err, errlen, "%s: reading the database: %s", o->dir, e);
		rocksdb_free(e);
		goto fail;
	}
	if (!meta || mlen > 30 || sscanf(meta, "%u %d", &keys, &vlen) != 2 || keys < 1) {
		snprintf(err, errlen, "%s: not a database of rocksdb-server (no valid %s "
			 "record: another program's, or its filling was cut short); remove it",
			 o->dir, RK_META_KEY);
		rocksdb_free(meta);
		goto fail;
	}
	rocksdb_free(meta);
	if ((o->keys && keys != o->keys) || vlen != o->value_len) {
		snprintf(err, errlen, "%s holds %u keys of %d bytes, not %u of %d; remove it "
			 "to make a new one", o->dir, keys, vlen, o->keys ? o->keys : keys,
			 o->value_len);
		goto fail;
	}
	d->keys = keys;
	*db = d;
	return 0;
fail:
	rk_close(d);
	return -1;
}

void rk_close(struct rk_db *d)
{
	if (!d)
		return;
	if (d->db)
		rocksdb_close(d->db);
	if (d->ro)
		rocksdb_readoptions_destroy(d->ro);
	rocksdb_options_destroy(d->opts);
	rocksdb_block_based_options_destroy(d->table);
	free(d);
}

uint32_t rk_keys(const struct rk_db *d)
{
	return d->keys;
}

int rk_get(struct rk_db *d, const char *key, char *val)
{
	char *e = NULL, *v;
	size_t len;

	v = rocksdb_get(d->db, d->ro, key, strlen(key), &len, &e);
	if (e) {
		snprintf(val, RK_VALUE_MAX, "%s", e);
		rocksdb_free(e);
		return -1;
	}
	if (!v)
		return 0;
	if (len > RK_VALUE_MAX)
		len = RK_VALUE_MAX;
	memcpy(val, v, len);
	rocksdb_free(v);
	return (int)len;
}

int rk_scan(struct rk_db *d, const char *start, char *last, uint64_t *sum)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(d->db, d->ro);
	uint64_t h = RK_FNV_INIT;
	char *e = NULL;
	int n = 0;

	last[0] = '\0';
	for (rocksdb_iter_seek(it, start, strlen(start));
	     n < d->o.scan_keys && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);

		if (klen != RK_KEY_LEN || k[0] != 'k')
			continue;	/* the meta record */
		h = rk_fnv(h, v, vlen);
		memcpy(last, k, RK_KEY_LEN);
		last[RK_KEY_LEN] = '\0';
		n++;
	}
	rocksdb_iter_get_error(it, &e);
	rocksdb_iter_destroy(it);
	if (e) {
		rocksdb_free(e);
		return -1;
	}
	*sum = h;
	return n;
}

static __thread enum rk_class cur_class = RK_GET;

int rk_set_class(const struct rk_db *d, enum rk_class cls)
{
	uint64_t t;
	int err = 0;

	if (cls == cur_class || d->o.lower == RK_LOWER_NONE)
		return 0;
	t = mono_ns();
	switch (d->o.lower) {
	case RK_LOWER_QOS:
		err = shj_set_qos(0, cls == RK_SCAN ? d->o.scan_qos : d->o.get_qos);
		break;
	case RK_LOWER_NICE:
		/* lowering a nice value back needs CAP_SYS_NICE (or RLIMIT_NICE) */
		if (setpriority(PRIO_PROCESS, (id_t)gettid(), cls == RK_SCAN ? 19 : 0))
			err = -errno;
		break;
	case RK_LOWER_IDLE: {
		struct sched_param sp = { 0 };

		if (sched_setscheduler(0, cls == RK_SCAN ? SCHED_IDLE : SCHED_OTHER, &sp))
			err = -errno;
		break;
	}
	case RK_LOWER_NONE:
		break;
	}
	__atomic_add_fetch(&class_ns[cls], mono_ns() - t, __ATOMIC_RELAXED);
	__atomic_add_fetch(&class_changes[cls], 1, __ATOMIC_RELAXED);
	if (!err)
		cur_class = cls;
	return err;
}

void rk_class_stats(enum rk_class cls, uint64_t *changes, uint64_t *ns)
{
	*changes = __atomic_load_n(&class_changes[cls], __ATOMIC_RELAXED);
	*ns = __atomic_load_n(&class_ns[cls], __ATOMIC_RELAXED);
}

int rk_warm(struct rk_db *d)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(d->db, d->ro);
	uint64_t h = RK_FNV_INIT;
	char *e = NULL;

	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t vlen;
		const char *v = rocksdb_iter_value(it, &vlen);

		h = rk_fnv(h, v, vlen ? 1 : 0);	/* one byte of each: the page is mapped */
	}
	rocksdb_iter_get_error(it, &e);
	rocksdb_iter_destroy(it);
	if (e) {
		rocksdb_free(e);
		return -1;
	}
	return h == 0;	/* never: keeps the reads */
}
