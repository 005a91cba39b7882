/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the BPF scheduler (bpf/shinjuku.bpf.c) and user space (shinjukud)
 * share: per-thread state, counters, exit information and constants.
 *
 * Included from BPF (after vmlinux.h) and from user space (after
 * <linux/types.h>); it uses only fixed-width __u types.
 */
#ifndef SHJ_SHARED_H
#define SHJ_SHARED_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* QoS levels: 0 .. SHJ_QOS_MAX - 1; higher is more urgent. */
#define SHJ_QOS_MAX		32
#define SHJ_QOS_DEFAULT		0

/* Time slice a thread gets each time it is dispatched. */
#define SHJ_SLICE_NS_DEFAULT	500000ULL	/* 500 us */
#define SHJ_SLICE_NS_MIN	1000ULL		/* 1 us */
#define SHJ_SLICE_NS_MAX	1000000000ULL	/* 1 s */

/* shj_task.flags */
#define SHJ_TASK_IDLE		(1U << 0)	/* marked idle by its owner */

/*
 * Per-thread state of a registered thread, in task storage (map shj_tasks),
 * written by shinjukud through a pidfd of the thread. Being in the map is what
 * makes a thread "registered"; the kernel frees the entry when the thread
 * exits.
 */
struct shj_task {
	__u32 qos;
	__u32 flags;
};

/* Counters, per CPU (map shj_stats), summed by shinjukud. */
enum shj_stat {
	SHJ_STAT_ENQUEUE,	/* ops.enqueue of a registered thread */
	SHJ_STAT_ENQUEUE_UNREG,	/* ops.enqueue of a SCHED_EXT thread nobody registered */
	SHJ_STAT_DIRECT,	/* inserted straight into an idle CPU's local queue */
	SHJ_STAT_DISPATCH,	/* moved from the FIFO to a CPU in ops.dispatch */
	SHJ_STAT_RUN_REG,	/* a registered thread started running */
	SHJ_NR_STATS,
};

#define SHJ_STAT_NAMES {		\
	"enqueue",			\
	"enqueue_unregistered",		\
	"direct_dispatch",		\
	"dispatch",			\
	"run_registered",		\
}

/* Why and how sched_ext stopped the scheduler (copied from ops.exit). */
#define SHJ_EXIT_REASON_LEN	128
#define SHJ_EXIT_MSG_LEN	1024

struct shj_exit_info {
	__s32 kind;		/* enum scx_exit_kind; 0 while running */
	__s32 _pad;
	__s64 exit_code;
	char reason[SHJ_EXIT_REASON_LEN];
	char msg[SHJ_EXIT_MSG_LEN];
};

#endif /* SHJ_SHARED_H */
