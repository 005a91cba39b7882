/* Shared by the unit tests that need the scheduler's real maps on a kernel
 * without sched_ext: load the skeleton "maps only" (no struct_ops), plus
 * the shinjuku_apply program if asked (what shinjukud --dry-run loads).
 * Include after shinjuku.skel.h. */
#ifndef SHJ_TEST_MAPS_ONLY_H
#define SHJ_TEST_MAPS_ONLY_H

#include <errno.h>
#include <stdlib.h>

static int maps_only_silent(enum libbpf_print_level l, const char *f, va_list ap)
{
	return 0;
}

/* 0 or -errno; *out is the loaded skeleton (NULL on error). */
static int load_maps_only(struct shinjuku_bpf **out, int with_apply)
{
	struct shinjuku_bpf *s;
	struct bpf_program *prog;
	int err;

	*out = NULL;
	if (!getenv("SHJ_TEST_VERBOSE"))
		libbpf_set_print(maps_only_silent);
	s = shinjuku_bpf__open();
	if (!s)
		return -errno;
	bpf_map__set_autocreate(s->maps.shinjuku_ops, false);
	bpf_object__for_each_program(prog, s->obj)
		bpf_program__set_autoload(prog, with_apply && prog == s->progs.shinjuku_apply);
	err = shinjuku_bpf__load(s);
	if (err) {
		shinjuku_bpf__destroy(s);
		return err;
	}
	*out = s;
	return 0;
}

#endif
