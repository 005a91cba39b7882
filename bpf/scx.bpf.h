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
bool scx_bpf_dsq_move_to_local(u64 dsq_id) __weak __ksym;
s32 scx_bpf_dsq_nr_queued(u64 dsq_id) __weak __ksym;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags,
			   bool *is_idle) __weak __ksym;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) __weak __ksym;

#endif /* SHJ_SCX_BPF_H */
