/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The small part of the sched_ext BPF interface that shinjuku uses: kfunc
 * declarations and the struct_ops callback macro. Names follow the kernel's
 * (6.13+) sched_ext kfuncs. They are weak so that the maps can be created
 * on a kernel without sched_ext (unit tests); a kfunc missing from the
 * running kernel still fails verification where it is called.
 */
#ifndef SHJ_SCX_BPF_H
#define SHJ_SCX_BPF_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define BPF_STRUCT_OPS(name, args...) \
	SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) \
	SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __weak __ksym;
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice,
			u64 enq_flags) __weak __ksym;
void scx_bpf_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice,
			      u64 vtime, u64 enq_flags) __weak __ksym;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) __weak __ksym;
s32 scx_bpf_dsq_nr_queued(u64 dsq_id) __weak __ksym;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags,
			   bool *is_idle) __weak __ksym;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) __weak __ksym;
s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, u64 flags) __weak __ksym;
struct task_struct *scx_bpf_dsq_peek(u64 dsq_id) __weak __ksym;
bool scx_bpf_dsq_move(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p,
		      u64 dsq_id, u64 enq_flags) __weak __ksym;
void scx_bpf_dsq_move_set_slice(struct bpf_iter_scx_dsq *it__iter, u64 slice) __weak __ksym;
bool scx_bpf_task_running(const struct task_struct *p) __weak __ksym;
s32 scx_bpf_task_cpu(const struct task_struct *p) __weak __ksym;
bool scx_bpf_task_set_slice(struct task_struct *p, u64 slice) __weak __ksym;
u64 scx_bpf_now(void) __weak __ksym;
int bpf_iter_scx_dsq_new(struct bpf_iter_scx_dsq *it, u64 dsq_id,
			 u64 flags) __weak __ksym;
struct task_struct *bpf_iter_scx_dsq_next(struct bpf_iter_scx_dsq *it) __weak __ksym;
void bpf_iter_scx_dsq_destroy(struct bpf_iter_scx_dsq *it) __weak __ksym;
struct task_struct *bpf_task_from_pid(s32 pid) __weak __ksym;
void bpf_task_release(struct task_struct *p) __weak __ksym;
void bpf_rcu_read_lock(void) __weak __ksym;
void bpf_rcu_read_unlock(void) __weak __ksym;
bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __weak __ksym;

/* The iterator of the innermost bpf_for_each(), for scx_bpf_dsq_move(). */
#define BPF_FOR_EACH_ITER (&___it)

#endif /* SHJ_SCX_BPF_H */
