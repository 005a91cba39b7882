/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shinjuku: Shinjuku-style scheduling for µs-scale tail latency, as a
 * sched_ext scheduler.
 *
 * This is the walking skeleton of the policy: one global FIFO queue.
 *
 * - Only SCHED_EXT threads are scheduled here (SCX_OPS_SWITCH_PARTIAL); every
 *   other task stays in the fair class, which outranks this one.
 * - A thread is "registered" when shinjukud has written its state into the
 *   task-storage map shj_tasks (through a pidfd of the thread). A SCHED_EXT
 *   thread that set its policy itself without registering is still scheduled,
 *   and counted apart (enqueue_unregistered).
 * - ops.select_cpu keeps a waking thread on an idle CPU when there is one and
 *   inserts it straight into that CPU's local queue; otherwise ops.enqueue
 *   appends it to the FIFO, and ops.dispatch moves the head of the FIFO to the
 *   CPU that asks for work. Every thread runs for slice_ns at a time, then goes
 *   back to the tail.
 *
 * What the full Shinjuku policy adds on top (QoS levels, idle marks,
 * preemption at µs intervals, priority boost) comes with later work; the
 * per-thread state already carries the fields it needs.
 *
 * Caveat: in partial mode a fair-class task preempts our threads at will;
 * that is the kernel's class order (fair > ext), not this scheduler's choice.
 */
#include "vmlinux.h"
#include "scx.bpf.h"
#include "shj_shared.h"

char _license[] SEC("license") = "GPL";

/* Tunables, written by shinjukud into rodata before load. */
const volatile u64 slice_ns = SHJ_SLICE_NS_DEFAULT;

#define FIFO_DSQ	0

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct shj_task);
} shj_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHJ_NR_STATS);
	__type(key, u32);
	__type(value, u64);
} shj_stats SEC(".maps");

/* Filled in by ops.exit; shinjukud polls .kind through the mmapped .bss. */
struct shj_exit_info exit_info;

static void stat_inc(u32 idx)
{
	u64 *cnt = bpf_map_lookup_elem(&shj_stats, &idx);

	if (cnt)
		(*cnt)++;
}

static struct shj_task *task_state(struct task_struct *p)
{
	return bpf_task_storage_get(&shj_tasks, p, NULL, 0);
}

s32 BPF_STRUCT_OPS(shinjuku_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		stat_inc(SHJ_STAT_DIRECT);
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
	}
	return cpu;
}

void BPF_STRUCT_OPS(shinjuku_enqueue, struct task_struct *p, u64 enq_flags)
{
	stat_inc(task_state(p) ? SHJ_STAT_ENQUEUE : SHJ_STAT_ENQUEUE_UNREG);
	scx_bpf_dsq_insert(p, FIFO_DSQ, slice_ns, enq_flags);
}

void BPF_STRUCT_OPS(shinjuku_dispatch, s32 cpu, struct task_struct *prev)
{
	if (scx_bpf_dsq_move_to_local(FIFO_DSQ))
		stat_inc(SHJ_STAT_DISPATCH);
}

void BPF_STRUCT_OPS(shinjuku_running, struct task_struct *p)
{
	if (task_state(p))
		stat_inc(SHJ_STAT_RUN_REG);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(shinjuku_init)
{
	return scx_bpf_create_dsq(FIFO_DSQ, -1);
}

void BPF_STRUCT_OPS(shinjuku_exit, struct scx_exit_info *ei)
{
	bpf_probe_read_kernel_str(exit_info.reason, sizeof(exit_info.reason),
				  ei->reason);
	bpf_probe_read_kernel_str(exit_info.msg, sizeof(exit_info.msg), ei->msg);
	exit_info.exit_code = ei->exit_code;
	/* .kind last: user space reads the strings once it is non-zero */
	*(volatile s32 *)&exit_info.kind = ei->kind;
}

SEC(".struct_ops.link")
struct sched_ext_ops shinjuku_ops = {
	.select_cpu	= (void *)shinjuku_select_cpu,
	.enqueue	= (void *)shinjuku_enqueue,
	.dispatch	= (void *)shinjuku_dispatch,
	.running	= (void *)shinjuku_running,
	.init		= (void *)shinjuku_init,
	.exit		= (void *)shinjuku_exit,
	.flags		= SCX_OPS_SWITCH_PARTIAL,
	.name		= "shinjuku",
};
