/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One BPF object for every kernel from 6.12 LTS on: where sched_ext's
 * interface moved, these wrappers choose at load time what the running
 * kernel has. A kfunc is declared weak (libbpf resolves a missing one to 0)
 * and tested with bpf_ksym_exists(), an enum value or a field through CO-RE
 * (bpf_core_enum_value*(), resolved against the running kernel's BTF); the
 * verifier then drops the branch the kernel cannot take, so it never sees a
 * call to a kfunc the kernel lacks. vmlinux.h is 7.2's: any value of it that
 * moved between kernels is read through CO-RE here, never as a constant.
 *
 * Each shim says from which kernel on it can go (when that is the oldest one
 * supported). The loader's part (ops flags) is in shinjukud/shinjukud.c;
 * SHJ_COMPAT_* (shj_shared.h) name the fallbacks.
 */
#ifndef SHJ_COMPAT_BPF_H
#define SHJ_COMPAT_BPF_H

#include <bpf/bpf_core_read.h>
#include "scx.bpf.h"
#include "shj_shared.h"

/* 6.12's names, renamed in 6.13 and removed in 6.17. */
void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice,
		      u64 enq_flags) __weak __ksym;
bool scx_bpf_consume(u64 dsq_id) __weak __ksym;
bool scx_bpf_dispatch_from_dsq(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p,
			       u64 dsq_id, u64 enq_flags) __weak __ksym;
void scx_bpf_dispatch_from_dsq_set_slice(struct bpf_iter_scx_dsq *it__iter,
					 u64 slice) __weak __ksym;
void scx_bpf_dispatch_vtime(struct task_struct *p, u64 dsq_id, u64 slice,
			    u64 vtime, u64 enq_flags) __weak __ksym;

/* scx_bpf_dsq_insert (6.13) or scx_bpf_dispatch (6.12). Goes with 6.12. */
static __always_inline void shj_dsq_insert(struct task_struct *p, u64 dsq_id,
					   u64 slice, u64 enq_flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert))
		scx_bpf_dsq_insert(p, dsq_id, slice, enq_flags);
	else
		scx_bpf_dispatch(p, dsq_id, slice, enq_flags);
}

/* scx_bpf_dsq_insert_vtime (6.13) or scx_bpf_dispatch_vtime (6.12). Goes
 * with 6.12. */
static __always_inline void shj_dsq_insert_vtime(struct task_struct *p, u64 dsq_id,
						 u64 slice, u64 vtime, u64 enq_flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert_vtime))
		scx_bpf_dsq_insert_vtime(p, dsq_id, slice, vtime, enq_flags);
	else
		scx_bpf_dispatch_vtime(p, dsq_id, slice, vtime, enq_flags);
}

/* scx_bpf_dsq_move_to_local (6.13) or scx_bpf_consume. Goes with 6.12. */
static __always_inline bool shj_dsq_move_to_local(u64 dsq_id)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local))
		return scx_bpf_dsq_move_to_local(dsq_id);
	return scx_bpf_consume(dsq_id);
}

/* scx_bpf_dsq_move(_set_slice) (6.13) or scx_bpf_dispatch_from_dsq(_set_slice).
 * Goes with 6.12. */
static __always_inline void shj_dsq_move_set_slice(struct bpf_iter_scx_dsq *it, u64 slice)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move_set_slice))
		scx_bpf_dsq_move_set_slice(it, slice);
	else
		scx_bpf_dispatch_from_dsq_set_slice(it, slice);
}

static __always_inline bool shj_dsq_move(struct bpf_iter_scx_dsq *it, struct task_struct *p,
					 u64 dsq_id, u64 enq_flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move))
		return scx_bpf_dsq_move(it, p, dsq_id, enq_flags);
	return scx_bpf_dispatch_from_dsq(it, p, dsq_id, enq_flags);
}

/* scx_bpf_now (6.14: the rq clock, cheap) or bpf_ktime_get_ns (the same
 * clock, read each time). Goes with 6.14. */
static __always_inline u64 shj_now(void)
{
	if (bpf_ksym_exists(scx_bpf_now))
		return scx_bpf_now();
	return bpf_ktime_get_ns();
}

/* scx_bpf_task_set_slice (6.19) or a direct write of p->scx.slice, which
 * sched_ext's ops may do before. Goes with 6.19. */
static __always_inline void shj_task_set_slice(struct task_struct *p, u64 slice)
{
	if (bpf_ksym_exists(scx_bpf_task_set_slice))
		scx_bpf_task_set_slice(p, slice);
	else
		p->scx.slice = slice;
}

/*
 * Is scx_bpf_dsq_peek safe? It came in 6.19, but its lockless peek was
 * fixed only in 7.1, which also brought SCX_ENQ_IMMED: that enum value
 * tells a 7.1 kernel from a 6.19 or 7.0 one.
 */
static __always_inline bool shj_has_safe_peek(void)
{
	return bpf_ksym_exists(scx_bpf_dsq_peek) &&
	       bpf_core_enum_value_exists(enum scx_enq_flags, SCX_ENQ_IMMED);
}

/* The first task of a DSQ, or NULL: scx_bpf_dsq_peek where it is safe,
 * else the first step of a DSQ iterator (it takes the DSQ's lock). Goes
 * with 7.1. */
static __always_inline struct task_struct *shj_dsq_peek(u64 dsq_id)
{
	struct task_struct *p, *first = NULL;

	if (shj_has_safe_peek())
		return scx_bpf_dsq_peek(dsq_id);
	bpf_for_each(scx_dsq, p, dsq_id, 0) {
		first = p;
		break;
	}
	return first;
}

/* SCX_ENQ_HEAD: 16 up to 6.18 at least, 1 << 16 in 7.2. CO-RE for good. */
#define SHJ_ENQ_HEAD	bpf_core_enum_value(enum scx_enq_flags, SCX_ENQ_HEAD)

/*
 * SHJ_FROM_I (a comment at the loops it applies to): in a bpf_for() loop,
 * derive the loop's rank from i afresh each time, never carry a counter
 * over ("--r"). 6.12's verifier then sees each iteration's state as one it
 * has checked already; with a carried counter it never converges and gives
 * up on dispatch ("The sequence of 8193 jumps is too complex"). Later
 * verifiers prune either form. Goes with 6.12.
 */

/*
 * i, bounded below n where the verifier can see it. 6.12's verifier does not
 * bound the result of a modulo (it even loses the upper 32 bits of a 32-bit
 * one), so an index clang derived from an earlier "% n" fails there as out
 * of bounds. The empty asm keeps clang from dropping the check as redundant.
 * Goes with 6.12.
 */
static __always_inline u64 shj_bounded(u64 i, u64 n)
{
	asm volatile("" : "+r"(i));
	return i < n ? i : 0;
}

/* The fallbacks this object takes on the running kernel (SHJ_COMPAT_*);
 * ops.init stores them in compat_fallbacks for shinjukud. */
u32 compat_fallbacks;

static __always_inline u32 shj_compat_fallbacks(void)
{
	u32 f = 0;

	if (!bpf_ksym_exists(scx_bpf_dsq_insert))
		f |= SHJ_COMPAT_OLD_NAMES;
	if (!bpf_ksym_exists(scx_bpf_now))
		f |= SHJ_COMPAT_KTIME;
	if (!bpf_ksym_exists(scx_bpf_task_set_slice))
		f |= SHJ_COMPAT_SLICE_WRITE;
	if (!shj_has_safe_peek())
		f |= SHJ_COMPAT_ITER_PEEK;
	return f;
}

#endif /* SHJ_COMPAT_BPF_H */
