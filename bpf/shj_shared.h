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

/* QoS levels: 0 .. nr_levels - 1 (set at load, at most SHJ_QOS_MAX); higher
 * is more urgent. */
#define SHJ_QOS_MAX		32
#define SHJ_QOS_LEVELS_DEFAULT	8

/* A request's slice: CPU time a thread may use after it woke up before it
 * counts as a long request (demoted below the fresh ones of its level). */
#define SHJ_SLICE_NS_DEFAULT	500000ULL	/* 500 us */
#define SHJ_SLICE_NS_MIN	1000ULL		/* 1 us */
#define SHJ_SLICE_NS_MAX	1000000000ULL	/* 1 s */

/* The turn of a demoted thread, an unregistered one, a background task:
 * 20 ms, like scx_simple. shinjukud fits it into the watchdog. */
#define SHJ_LONG_SLICE_NS	20000000ULL

/* Idle-marked and background tasks that waited this long run next, whatever
 * else waits: nothing runnable may starve into sched_ext's watchdog. */
#define SHJ_STARVE_NS_DEFAULT	100000000ULL	/* 100 ms */

#define SHJ_MAX_CPUS		1024	/* power of two */
#define SHJ_HIST_BUCKETS	32	/* log2 buckets of ns: see log2_bucket in shinjuku.bpf.c */

/* shj_task.flags */
#define SHJ_TASK_IDLE		(1U << 0)	/* marked idle by its owner */

/*
 * Per-thread state of a registered thread, in task storage (map shj_tasks),
 * written only by shinjukud through a pidfd of the thread. Being in the map
 * is what makes a thread "registered"; the kernel frees the entry when the
 * thread exits. What the scheduler itself tracks per thread (when it last
 * ran, its runtime) lives in a second, BPF-only task storage (shj_rt).
 */
struct shj_task {
	__u32 qos;
	__u32 flags;
};

/* BPF-only per-thread bookkeeping (map shj_rt); user space only reads it. */
struct shj_rt {
	__u64 enq_at;		/* when it was queued; 0 while not queued */
	__u64 last_ran;		/* when it last started running */
	__u64 runtime_ns;	/* total time on a CPU under this scheduler */
	__u64 slice_used;	/* of its current slice, across prio boosts */
	__u64 vtime;		/* CPU time used, weighted (background tier) */
	__u32 retry_pending;	/* its tid is in nudge_retry */
	__u32 woke;		/* blocked since it last ran: a new request */
	__u32 boosted;		/* a higher class took its CPU, its slice left */
	__u32 last_cpu;		/* the CPU it last started on, plus one; 0: none yet */
};

/*
 * Context of the SEC("syscall") program shinjuku_apply, which shinjukud runs
 * to change the state of registered threads, a batch per call: for each
 * entry it writes qos and flags into the thread's existing shj_tasks entry
 * (it never creates one: registering is done through a pidfd), moves the
 * thread to the queue it now belongs in, and kicks CPUs where the change
 * makes preemption due at once.
 */
#define SHJ_APPLY_MAX	64

struct shj_apply_entry {
	__s32 tid;
	__u32 qos;
	__u32 flags;
	__s32 ret;		/* out: 0, -ESRCH (no such thread) or
				 * -ENOENT (not registered); shinjuku_mark:
				 * also -EPERM (not the caller's process) */
};

/* shj_apply_entry.flags: SHJ_APPLY_MARK_ONLY and SHJ_TASK_IDLE or not: set
 * the idle mark (qos is ignored); without it: set the level to qos (the
 * mark stays). shinjuku_mark's own: the thread must be of the caller's
 * process. */
#define SHJ_APPLY_MARK_ONLY	(1U << 31)
#define SHJ_APPLY_OWN		(1U << 30)

struct shj_apply_args {
	__u32 count;
	__u32 _pad;
	struct shj_apply_entry e[SHJ_APPLY_MAX];
};

/* Counters, per CPU (map shj_stats), summed by shinjukud. */
enum shj_stat {
	SHJ_STAT_ENQUEUE,	/* ops.enqueue of a registered thread */
	SHJ_STAT_ENQUEUE_UNREG,	/* ... of a SCHED_EXT thread nobody registered */
	SHJ_STAT_ENQUEUE_BG,	/* ... of any other task (--switch-all) */
	SHJ_STAT_ENQUEUE_IDLE,	/* ... of an idle-marked thread (background queue) */
	SHJ_STAT_DIRECT,	/* woken straight onto an idle CPU */
	SHJ_STAT_DISPATCH,	/* moved from a QoS queue to a CPU */
	SHJ_STAT_BOOST,		/* lost its CPU to a higher class: back at the head */
	SHJ_STAT_PREEMPT_IDLE,	/* preempted: idle-marked while work waited */
	SHJ_STAT_PREEMPT_QOS,	/* preempted: a higher level waited */
	SHJ_STAT_PREEMPT_SLICE,	/* preempted: slice used up, its level waited */
	SHJ_STAT_KICK_IDLE,	/* idle CPUs woken for waiting work */
	SHJ_STAT_KICK_PREEMPT,	/* SCX_KICK_PREEMPT sent (all causes) */
	SHJ_STAT_YIELD,		/* sched_yield(): a registered thread's next request */
	SHJ_STAT_DEMOTE,	/* enqueue of a thread that used its slice (behind its level's fresh ones) */
	SHJ_STAT_IDLE_RUN,	/* an idle-marked thread got a CPU (background) */
	SHJ_STAT_BG_RUN,	/* a background task got a CPU (--switch-all) */
	SHJ_STAT_STARVE_RUN,	/* ... because it had waited starve_ns */
	SHJ_STAT_KEEP,		/* the running thread kept its CPU (nothing better) */
	SHJ_STAT_NUDGE_MOVE,	/* moved between queues after a mark changed */
	SHJ_STAT_RUN_REG,	/* a registered thread started running */
	SHJ_STAT_WENT_LONG,	/* a request used up its slice (it is long) */
	SHJ_STAT_MARK_DIRECT,	/* marks a client applied itself (shinjuku_mark) */
	SHJ_STAT_LOST_MARK,	/* starvation runs of a thread queued below what its mark makes it: a mark the queues missed (0 unless a bug) */
	SHJ_STAT_MIGRATE,	/* a registered thread started on another CPU than it last ran on */
	SHJ_NR_STATS,
};

#define SHJ_STAT_NAMES {		\
	"enqueue",			\
	"enqueue_unregistered",		\
	"enqueue_background",		\
	"enqueue_idle",			\
	"direct_dispatch",		\
	"dispatch",			\
	"prio_boost",			\
	"preempt_idle",			\
	"preempt_qos",			\
	"preempt_slice",		\
	"kick_idle",			\
	"kick_preempt",			\
	"yields",			\
	"enqueue_demoted",		\
	"idle_runs",			\
	"background_runs",		\
	"starvation_runs",		\
	"keep_running",			\
	"nudge_moves",			\
	"run_registered",		\
	"went_long",			\
	"marks_direct",			\
	"lost_marks",			\
	"migrations",			\
}

/* Queue-wait histogram: map shj_wait_hist, per CPU, indexed
 * level * SHJ_HIST_BUCKETS + bucket.
 * Bucket b counts values v with 2^b <= v < 2^(b+1) ns (b = 0 also holds 0);
 * the last bucket holds everything larger. */

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

/*
 * Fallbacks for older kernels (bpf/compat.bpf.h), as bits of the setting
 * compat_fallbacks: which ones the running kernel needs, chosen by the BPF
 * object itself (reported by ops.init).
 */
#define SHJ_COMPAT_OLD_NAMES	(1U << 0)	/* scx_bpf_dispatch, _consume, _dispatch_from_dsq (< 6.13) */
#define SHJ_COMPAT_KTIME	(1U << 1)	/* bpf_ktime_get_ns for scx_bpf_now (< 6.14) */
#define SHJ_COMPAT_SLICE_WRITE	(1U << 2)	/* p->scx.slice written for scx_bpf_task_set_slice (< 6.19) */
#define SHJ_COMPAT_ITER_PEEK	(1U << 3)	/* a DSQ iterator for scx_bpf_dsq_peek (< 7.1) */
#define SHJ_COMPAT_NR		4

#define SHJ_COMPAT_NAMES {						\
	"old kfunc names (scx_bpf_dispatch, scx_bpf_consume)",		\
	"bpf_ktime_get_ns for scx_bpf_now",				\
	"p->scx.slice written for scx_bpf_task_set_slice",		\
	"DSQ iterator for scx_bpf_dsq_peek",				\
}

#endif /* SHJ_SHARED_H */
