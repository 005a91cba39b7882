/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shinjuku: Shinjuku-style preemptive scheduling for µs-scale tail latency,
 * as a sched_ext scheduler.
 *
 * Threads are "registered" when shinjukud has written their state (QoS level,
 * idle mark) into the task storage shj_tasks. The policy:
 *
 * - Every task has a rank; a higher rank runs first, strictly, and a CPU
 *   running a lower rank is preempted the moment a higher one is queued.
 *   From the top: shinjukud itself and bounced per-CPU kernel threads
 *   (--switch-all); then, for each QoS level from the highest down, its
 *   *fresh* threads (woken since they last used a slice) above its
 *   *demoted* ones; then SCHED_EXT threads nobody registered; then (with
 *   --switch-all) every other task, the background tier; then idle-marked
 *   threads. One queue (a custom DSQ, id = rank) per rank: FIFO, but for
 *   the background tier's, which is ordered by vtime (below).
 *
 * - The slice (slice_ns) is what a request may use before it counts as
 *   long: a thread that used it while work of its level waits loses its CPU
 *   and is queued behind its level's fresh threads, demoted until it blocks
 *   (its next wake-up is a new request). So a short request never waits
 *   behind a long one for more than a slice, and a long one is preempted
 *   only when fresh work arrives -- not every slice (Shinjuku's round robin
 *   would preempt it every slice while anything waits, two context switches
 *   each). Demoted threads of a level take turns of LONG_SLICE_NS (20 ms):
 *   long turns finish the oldest long requests first, with few switches,
 *   so a server's workers are not all held by long requests at once.
 *
 * - Preemption is decided where the event happens, without a timer: an
 *   enqueue that finds no idle CPU preempts (one kick) a CPU running a lower
 *   rank, or a fresh thread of the same rank that has used its slice; and
 *   the kernel ends each slice at its CPU's tick, where dispatch applies
 *   the same rule (round robin within a rank). So a demotion can come up to
 *   a tick (4 ms at HZ=250) late when nothing else happens meanwhile; on a
 *   busy machine the next enqueue brings it. The timer the first versions
 *   used cost two to three interrupts per preemption (timer, the kick's
 *   self-interrupt, the IPI) and one per start from a callback. Measured
 *   again with a timer armed only when an enqueue found nothing to preempt
 *   but a fresh slice that would end: +0.4-0.6 interrupts per request and a
 *   worse tail at 85 % load.
 *
 * - A thread that wakes while a CPU it may use is idle goes straight there:
 *   the kernel's own placement (there is no ops.select_cpu), which runs no
 *   BPF in the waker's path -- the dispatcher of a server wakes a worker
 *   per request, and every microsecond it spends there delays the next
 *   hand-over. ops.running then cuts the kernel's default slice to what is
 *   left of a fresh one. A thread's request ends when it blocks
 *   (ops.stopping): its next wake-up starts a fresh slice.
 *
 * - Idle-marked threads (a worker that finished its request and waits,
 *   possibly spinning) rank lowest: they run only when no other work can
 *   use the CPU. When shinjukud changes a mark it runs the syscall program
 *   shinjuku_apply, which moves that one thread to the queue of its new rank
 *   in O(1) and preempts a CPU if the change makes that due.
 *
 * - Priority boost (ghOSt's; the seed's open problem): a thread that loses
 *   its CPU to a higher scheduling class (RT, or any fair task in partial
 *   mode) goes back to the *head*: sched_ext itself keeps it first in that
 *   CPU's local queue, with what was left of its slice, and it runs again
 *   the moment the higher class lets go -- no callback and no kernel
 *   change. (SCX_OPS_ALWAYS_ENQ_IMMED could hand it back to us instead, to
 *   run on another CPU meanwhile; measured under load, that round trip
 *   through ops.enqueue and ops.dispatch on every such preemption -- the
 *   dispatcher of a server preempts a worker per request -- cost more tail
 *   latency than it saved, so we do not set it.)
 *
 * - Nothing starves into sched_ext's watchdog: despite strict priority, a
 *   task of any queue that has waited starve_ns runs next, once, for a
 *   slice -- or for its own turn when nothing above its rank waits or
 *   runs there: a level with more long threads on a CPU than fit a round
 *   of 20 ms turns into starve_ns keeps its round robin fair (cut to a
 *   slice, every other thread of such a round got a sixth of the CPU the
 *   others did). Each CPU looks every starve_ns / 8 (and again at once
 *   after it found one) through every queue in use, among the first STARVE_SCAN
 *   tasks of each, for one that may run on it; runs from one queue are
 *   spread out, starve_ns / (its length) apart, so a dozen idle spinners
 *   never take the CPUs in one burst.
 *
 * - Partial mode (default): only SCHED_EXT threads are scheduled here.
 *   --switch-all: every task is; per-CPU kernel threads run at once on their
 *   CPU (or, if that CPU is taken by a higher class, wait at the top) and
 *   rank at the top like shinjukud. The background tier is weighted-fair,
 *   like scx_simple: who used less CPU for its weight (a task that slept)
 *   runs first, with at most a slice of credit, so an ordinary task that
 *   wakes up does not queue behind every CPU hog's 20 ms slice.
 *
 * The queues are shared by all CPUs, so FCFS holds across them; a task
 * that ran on another CPU migrates when it is taken (under QEMU that move
 * costs 4-6 times a local one). Queues per CPU (a thread queued where it
 * last ran, a CPU stealing when its own are empty) cut the migrations but
 * made the tail worse at 70-80 % load, measured side by side. Putting a
 * woken worker on its waker's CPU (EEVDF's wake-affine) saves waking an
 * idle CPU at low load, but strands the worker behind a waker that does
 * not sleep, into the watchdog; with a timer to rescue it, it cost half an
 * interrupt more per request and no tail.
 *
 * Caveats: the per-CPU view (cpu_ctx) is written without locks and may be
 * one switch stale; an enqueue looks at up to KICK_SCAN CPUs for a victim
 * (from a point that rotates): on a bigger machine a victim it misses runs
 * to the end of its slice (LONG_SLICE_NS at most); a CPU running an RT or
 * (partial mode) fair task is not ours to preempt.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include "scx.bpf.h"
#include "shj_shared.h"
#include "compat.bpf.h"

char _license[] SEC("license") = "GPL";

/* Tunables, written by shinjukud into rodata before load. */
const volatile u64 slice_ns = SHJ_SLICE_NS_DEFAULT;
const volatile u64 starve_ns = SHJ_STARVE_NS_DEFAULT;
const volatile u32 nr_levels = SHJ_QOS_LEVELS_DEFAULT;
const volatile u32 nr_cpus = 1;
const volatile bool switch_all;
const volatile s32 daemon_tgid;	/* shinjukud: top rank under --switch-all */

/* Ranks, which are also the ids of their DSQs. */
#define RANK_NONE	(-1)	/* nothing of ours runs */
#define RANK_IDLE	0	/* idle-marked */
#define RANK_BG		1	/* not SCHED_EXT (--switch-all) */
#define RANK_UNREG	2	/* SCHED_EXT, not registered */
#define RANK_L0		3	/* level L: demoted RANK_L0 + 2L, fresh + 1 */
#define RANK_TOP	(RANK_L0 + 2 * SHJ_QOS_MAX)
#define NR_RANKS	(RANK_TOP + 1)

#define LONG_SLICE_NS	SHJ_LONG_SLICE_NS
#define KICK_SCAN	16	/* CPUs an enqueue looks at for a victim */

#define SCHED_EXT_POLICY	7
#define PF_KTHREAD_FLAG		0x00200000

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct shj_task);
} shj_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct shj_rt);
} shj_rt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHJ_NR_STATS);
	__type(key, u32);
	__type(value, u64);
} shj_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHJ_QOS_MAX * SHJ_HIST_BUCKETS);
	__type(key, u32);
	__type(value, u64);
} shj_wait_hist SEC(".maps");

/* Threads whose mark changed while their enqueue was in flight (not yet in
 * any queue, so they could not be moved): dispatch moves them. Each at most
 * once at a time (shj_rt.retry_pending); shinjukud sizes it to
 * --max-threads. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4096);
	__type(value, s32);
} nudge_retry SEC(".maps");
static u32 nudge_retry_n;	/* entries pushed and not yet popped, about */

/* This object's scheduler is attached: from the end of ops.init to the
 * start of ops.exit. The syscall programs touch queues only then (never a
 * scheduler attached after ours, never another one beside a dry run). */
static bool attached;

/* What each CPU runs, as far as the scheduler knows; one cache line each. */
struct cpu_ctx {
	u64 fresh_until;	/* a fresh thread runs: when its slice ends; else 0 */
	u64 next_starve_check;	/* this CPU looks for starving heads from then */
	s32 rank;		/* of the thread running there, or RANK_NONE */
	s32 pid;		/* that thread (nudge writes rank only for it) */
	u32 kicked;		/* a preemption was sent and not yet answered */
	u32 rotor;		/* where this CPU's next victim scan starts */
} __attribute__((aligned(64)));

static struct cpu_ctx cpu_ctx[SHJ_MAX_CPUS];

/* Highest level any thread was queued at, plus one (only grows): dispatch
 * looks at no level above it. */
static u32 levels_used;

/* levels_used = max(levels_used, n), whatever other CPUs do meanwhile: a
 * lost raise would strand that level's threads */
static void raise_levels_used(u32 n)
{
	u32 old = levels_used, i;

	if (old >= n)
		return;		/* the common case, without setting up a loop */
	bpf_for(i, 0, 8) {
		u32 seen;

		if (old >= n)
			return;
		seen = __sync_val_compare_and_swap(&levels_used, old, n);
		if (seen == old)
			return;
		old = seen;
	}
}
static bool unreg_used;		/* an unregistered SCHED_EXT thread was queued */
static u64 bg_vtime;		/* the background tier's clock: the vtime of the
				 * last of its tasks that started running */

/* Queue lengths (levels, then idle, background) for shjctl, refreshed with
 * the starvation check. shinjukud reads them through the mmapped .bss. */
u32 nr_queued[SHJ_QOS_MAX + 2];

/* Filled in by ops.exit; shinjukud polls .kind through the mmapped .bss. */
struct shj_exit_info exit_info;

static void stat_add(u32 idx, u64 val)
{
	u64 *cnt = bpf_map_lookup_elem(&shj_stats, &idx);

	if (cnt)
		*cnt += val;
}

static void stat_inc(u32 idx)
{
	stat_add(idx, 1);
}

static u32 log2_bucket(u64 v)
{
	u32 b = 0;

	/* floor(log2(v)) in six steps, not one per bit */
	if (v >> 32) { v >>= 32; b += 32; }
	if (v >> 16) { v >>= 16; b += 16; }
	if (v >> 8) { v >>= 8; b += 8; }
	if (v >> 4) { v >>= 4; b += 4; }
	if (v >> 2) { v >>= 2; b += 2; }
	if (v >> 1)
		b += 1;
	return b < SHJ_HIST_BUCKETS - 1 ? b : SHJ_HIST_BUCKETS - 1;
}

/* rt's thread ran ran ns more of its request */
static void account(struct shj_rt *rt, u64 ran)
{
	if (rt->slice_used < slice_ns && rt->slice_used + ran >= slice_ns)
		stat_inc(SHJ_STAT_WENT_LONG);
	rt->runtime_ns += ran;
	rt->slice_used += ran;
}

static struct cpu_ctx *cpu_ctx_of(s32 cpu)
{
	return &cpu_ctx[(u32)cpu & (SHJ_MAX_CPUS - 1)];
}

static bool is_fresh(s32 rank)
{
	return rank >= RANK_L0 && rank < RANK_TOP && ((rank - RANK_L0) & 1);
}

/*
 * Where p belongs: its rank. Registered threads by their state (and rt: a
 * thread that used its slice since it woke is demoted); see the top comment
 * for the rest.
 */
static s32 rank_of(struct task_struct *p, struct shj_rt *rt, bool *registered)
{
	struct shj_task *t = bpf_task_storage_get(&shj_tasks, p, NULL, 0);
	u32 level;

	if (registered)
		*registered = t != NULL;
	if (!t) {
		/* the control plane must not wait behind the work it steers,
		 * nor the system behind its per-CPU kernel threads */
		if (switch_all && (p->tgid == daemon_tgid ||
				   ((p->flags & PF_KTHREAD_FLAG) && p->nr_cpus_allowed == 1)))
			return RANK_TOP;
		if (switch_all && p->policy != SCHED_EXT_POLICY)
			return RANK_BG;
		if (!unreg_used)
			unreg_used = true;
		return RANK_UNREG;
	}
	if (t->flags & SHJ_TASK_IDLE)
		return RANK_IDLE;
	level = t->qos;
	if (level >= nr_levels)
		level = nr_levels - 1;
	level &= SHJ_QOS_MAX - 1;
	raise_levels_used(level + 1);
	if (rt && rt->slice_used >= slice_ns)
		return RANK_L0 + 2 * (s32)level;
	return RANK_L0 + 2 * (s32)level + 1;
}

/* The slice a thread of rank gets on a CPU (the kernel ends it at a tick):
 * what is left of slice_ns for a fresh thread, LONG_SLICE_NS for the rest. */
static u64 slice_of(s32 rank, struct shj_rt *rt)
{
	if (!is_fresh(rank))
		return LONG_SLICE_NS;
	if (rt && rt->slice_used < slice_ns)
		return slice_ns - rt->slice_used;
	return slice_ns;
}

/* Can rank's queue hold anything? (Saves a DSQ lookup per unused rank.) */
static bool rank_in_use(s32 r)
{
	return (r != RANK_BG || switch_all) && (r != RANK_UNREG || unreg_used);
}

/* The highest rank with a waiting thread, or RANK_NONE. */
static s32 top_waiting(void)
{
	s32 top = RANK_L0 + 2 * (s32)levels_used, r, i;

	if (switch_all && scx_bpf_dsq_nr_queued(RANK_TOP))
		return RANK_TOP;
	bpf_for(i, 0, 2 * SHJ_QOS_MAX + RANK_L0) {
		/* r from i, nothing carried over: 6.12's verifier (SHJ_FROM_I) */
		if ((r = top - 1 - i) < 0)
			break;
		if (rank_in_use(r) && scx_bpf_dsq_nr_queued(r))
			return r;
	}
	return RANK_NONE;
}

static void kick_preempt(s32 cpu, struct cpu_ctx *cc, u32 cause)
{
	if (cc->kicked)
		return;
	cc->kicked = 1;
	stat_inc(cause);
	stat_inc(SHJ_STAT_KICK_PREEMPT);
	scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
}

/*
 * p of rank was just queued: wake an idle CPU it may use or, if none, preempt
 * one that runs a lower rank (the lowest seen), or else a fresh thread of
 * the same rank that has used its slice. One task, at most one kick; up to
 * KICK_SCAN CPUs looked at, from a point that rotates per CPU.
 */
static void kick_for(struct task_struct *p, s32 rank)
{
	struct cpu_ctx *me = cpu_ctx_of(bpf_get_smp_processor_id());
	s32 cpu, victim = -1, vrank = rank, expired = -1;
	u64 now;
	u32 i, n = nr_cpus < KICK_SCAN ? nr_cpus : KICK_SCAN, start;

	cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (cpu >= 0) {
		stat_inc(SHJ_STAT_KICK_IDLE);
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return;
	}
	if (rank == RANK_IDLE)
		return;		/* nothing ranks lower */
	now = shj_now();
	start = me->rotor++;
	bpf_for(i, 0, n) {
		struct cpu_ctx *cc;

		cpu = (s32)((start + i) % nr_cpus);
		cc = cpu_ctx_of(cpu);
		if (cc->rank == RANK_NONE || cc->kicked || cc->rank > rank)
			continue;
		if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		if (cc->rank < vrank) {
			victim = cpu;
			vrank = cc->rank;
		} else if (cc->rank == rank && expired < 0 && cc->fresh_until &&
			   (s64)(now - cc->fresh_until) >= 0) {
			expired = cpu;
		}
	}
	if (victim >= 0)
		kick_preempt(victim, cpu_ctx_of(victim),
			     vrank == RANK_IDLE ? SHJ_STAT_PREEMPT_IDLE : SHJ_STAT_PREEMPT_QOS);
	else if (expired >= 0)
		kick_preempt(expired, cpu_ctx_of(expired), SHJ_STAT_PREEMPT_SLICE);
}

void BPF_STRUCT_OPS(shinjuku_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct shj_rt *rt = bpf_task_storage_get(&shj_rt, p, NULL,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	bool reenq = enq_flags & SCX_ENQ_REENQ, registered = false;
	u64 slice;
	s32 rank;

	if (rt)
		rt->enq_at = shj_now();

	/*
	 * Per-CPU kernel threads (--switch-all) run on their CPU at once. If
	 * that fails (a higher class holds the CPU), they come back here as
	 * re-enqueued and wait at the top, for their CPU.
	 */
	if (switch_all && (p->flags & PF_KTHREAD_FLAG) && p->nr_cpus_allowed == 1) {
		if (!reenq) {
			shj_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, SCX_ENQ_PREEMPT);
			return;
		}
		rank = RANK_TOP;
	} else {
		rank = rank_of(p, rt, &registered);
	}

	if (rank == RANK_IDLE)
		stat_inc(SHJ_STAT_ENQUEUE_IDLE);
	else if (rank == RANK_BG)
		stat_inc(SHJ_STAT_ENQUEUE_BG);
	else if (registered)
		stat_inc(SHJ_STAT_ENQUEUE);
	else if (rank == RANK_UNREG)
		stat_inc(SHJ_STAT_ENQUEUE_UNREG);
	if (!reenq && rank >= RANK_L0 && rank < RANK_TOP && !is_fresh(rank))
		stat_inc(SHJ_STAT_DEMOTE);

	/* Preempted by a higher class, or could not run at once where it was
	 * placed: it had been picked already, so it goes first again, with
	 * what was left of its slice (a thread that a higher class interrupts
	 * again and again must not get a fresh slice at the head each time). */
	slice = slice_of(rank, rt);
	if (reenq && p->scx.slice && p->scx.slice < slice)
		slice = p->scx.slice;
	/* The background queue is ordered by vtime: nothing may go there in
	 * FIFO order, which the kernel punishes by ejecting the scheduler --
	 * not even a task whose storage could not be had (an allocation in
	 * this atomic context can fail): that one goes in at the clock. */
	if (rank == RANK_BG) {
		u64 vtime = bg_vtime;

		if (rt) {
			if ((s64)(rt->vtime - (bg_vtime - LONG_SLICE_NS)) < 0)
				rt->vtime = bg_vtime - LONG_SLICE_NS;
			vtime = rt->vtime;
		}
		shj_dsq_insert_vtime(p, RANK_BG, slice, vtime, 0);
		kick_for(p, rank);
		return;
	}
	shj_dsq_insert(p, (u64)rank, slice, reenq ? SHJ_ENQ_HEAD : 0);
	kick_for(p, rank);
}

static u64 starve_ran_at[NR_RANKS];	/* per rank: its last starvation run */
static u32 starve_scan;			/* where the next round starts (housekeeping) */

#define STARVE_SCAN	8	/* tasks looked at per queue and round */

/* Time since then, 0 if then is later (clocks of two CPUs may differ). */
static u64 since(u64 now, u64 then)
{
	return (s64)(now - then) > 0 ? now - then : 0;
}

/*
 * Run a task of rank's queue that has waited starve_ns and may run on this
 * CPU -- the first such among the first STARVE_SCAN -- now, for a slice or
 * its own turn (below; less, if work preempts it). Runs from one queue are spread out,
 * starve_ns / (its length) apart.
 */
static bool move_starving(s32 rank, s32 cpu, u64 now, s32 prev_rank)
{
	u64 *ran_at = &starve_ran_at[shj_bounded((u32)rank % NR_RANKS, NR_RANKS)];
	struct task_struct *p;
	u32 len = scx_bpf_dsq_nr_queued((u64)rank), n = 0;
	bool lost;
	u64 slice;

	if (!len || (len > 1 && since(now, *ran_at) < starve_ns / len))
		return false;
	bpf_for_each(scx_dsq, p, (u64)rank, 0) {
		struct shj_rt *rt;

		if (++n > STARVE_SCAN)
			break;
		rt = bpf_task_storage_get(&shj_rt, p, NULL, 0);
		if (!rt || !rt->enq_at || since(now, rt->enq_at) < starve_ns ||
		    !bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		/* a level's own round robin (more of its threads than fit
		 * a round into starve_ns): the thread's own turn, or it
		 * would lose it to the rest of the round; past higher
		 * ranks: a slice */
		slice = slice_ns;
		if (rank >= RANK_L0 && rank < RANK_TOP && rank >= prev_rank &&
		    top_waiting() <= rank)
			slice = slice_of(rank, rt);
		/* it waited below its rank: a mark the queues missed */
		lost = rank_of(p, rt, NULL) > rank;
		shj_dsq_move_set_slice(BPF_FOR_EACH_ITER, slice);
		if (!shj_dsq_move(BPF_FOR_EACH_ITER, p, SCX_DSQ_LOCAL, 0))
			break;
		*ran_at = now;
		stat_inc(SHJ_STAT_STARVE_RUN);
		if (lost)
			stat_inc(SHJ_STAT_LOST_MARK);
		return true;
	}
	return false;
}

/* Every starve_ns / 8 on each CPU: refresh the queue lengths for shjctl and
 * run a task that starves, from any queue in use (a round starts where the
 * last one stopped). Right after one was found, look again at once. */
static bool housekeeping(struct cpu_ctx *cc, s32 cpu, u64 now, s32 prev_rank)
{
	u32 i, n;

	if ((s64)(now - cc->next_starve_check) < 0)
		return false;
	cc->next_starve_check = now + starve_ns / 8;

	/* levels at or above levels_used were never queued at: still 0 */
	bpf_for(i, 0, levels_used)
		nr_queued[i & (SHJ_QOS_MAX - 1)] =
			scx_bpf_dsq_nr_queued(RANK_L0 + 2 * i) +
			scx_bpf_dsq_nr_queued(RANK_L0 + 2 * i + 1);
	nr_queued[SHJ_QOS_MAX] = scx_bpf_dsq_nr_queued(RANK_IDLE);
	nr_queued[SHJ_QOS_MAX + 1] = switch_all ? scx_bpf_dsq_nr_queued(RANK_BG) : 0;

	/* the ranks up to the highest level used, then RANK_TOP: one
	 * iteration each (each is a kfunc call), not NR_RANKS */
	n = RANK_L0 + 2 * levels_used + 1;
	bpf_for(i, 0, n) {
		u32 j = (starve_scan + i) % n;
		s32 r = j == n - 1 ? RANK_TOP : (s32)j;

		if (r == RANK_TOP ? !switch_all : !rank_in_use(r))
			continue;
		if (move_starving(r, cpu, now, prev_rank)) {
			starve_scan = j + 1;
			cc->next_starve_check = now;
			return true;
		}
	}
	return false;
}

static void nudge(struct task_struct *p, bool new_request, bool retry, bool self);

void BPF_STRUCT_OPS(shinjuku_dispatch, s32 cpu, struct task_struct *prev)
{
	struct cpu_ctx *cc = cpu_ctx_of(cpu);
	struct shj_rt *rt = NULL;
	s32 prev_rank = RANK_NONE, r, top;
	u64 now = shj_now();
	u32 i;

	cc->kicked = 0;		/* this CPU answers whatever kicked it */

	/* marks that came while their thread's enqueue was in flight */
	if (nudge_retry_n) {
		s32 tid;

		bpf_for(i, 0, 4) {
			struct task_struct *q;

			if (bpf_map_pop_elem(&nudge_retry, &tid))
				break;
			__sync_fetch_and_sub(&nudge_retry_n, 1);
			q = bpf_task_from_pid(tid);
			if (q) {
				nudge(q, false, false, false);
				bpf_task_release(q);
			}
		}
	}

	/* prev is still runnable (its slice ended, or it was kicked): it goes
	 * on unless something of its rank or above waits. */
	if (prev && (prev->scx.flags & SCX_TASK_QUEUED)) {
		rt = bpf_task_storage_get(&shj_rt, prev, NULL, 0);
		if (rt && rt->last_ran) {	/* no ops.stopping if it stays */
			account(rt, since(now, rt->last_ran));
			rt->last_ran = now;
		}
		prev_rank = rank_of(prev, rt, NULL);
	}

	if (housekeeping(cc, cpu, now, prev_rank))
		return;

	if (switch_all && shj_dsq_move_to_local(RANK_TOP))
		return;
	top = RANK_L0 + 2 * (s32)levels_used;
	bpf_for(i, 0, NR_RANKS) {
		if ((r = top - 1 - (s32)i) < 0)	/* SHJ_FROM_I */
			break;
		if (r < prev_rank)
			goto keep_prev;
		if (!rank_in_use(r))
			continue;
		if (shj_dsq_move_to_local((u64)r)) {
			if (r >= RANK_L0)
				stat_inc(SHJ_STAT_DISPATCH);
			if (r == prev_rank)	/* round robin at the slice's end */
				stat_inc(SHJ_STAT_PREEMPT_SLICE);
			return;
		}
	}
	if (prev_rank == RANK_NONE)
		return;
keep_prev:
	if (!prev)
		return;
	stat_inc(SHJ_STAT_KEEP);
	shj_task_set_slice(prev, slice_of(prev_rank, rt));
	cc->rank = prev_rank;
	cc->fresh_until = is_fresh(prev_rank) ? now + slice_of(prev_rank, rt) : 0;
}

void BPF_STRUCT_OPS(shinjuku_running, struct task_struct *p)
{
	/* created here too: a thread woken straight onto an idle CPU may
	 * never have passed through ops.enqueue */
	struct shj_rt *rt = bpf_task_storage_get(&shj_rt, p, NULL,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	s32 cpu = scx_bpf_task_cpu(p);
	struct cpu_ctx *cc = cpu_ctx_of(cpu);
	u64 now = shj_now(), slice;
	bool registered;
	s32 rank = rank_of(p, rt, &registered);

	slice = slice_of(rank, rt);
	if (rt) {
		u32 on = (u32)cpu + 1;

		if (rt->woke && !rt->enq_at)	/* straight onto an idle CPU */
			stat_inc(SHJ_STAT_DIRECT);
		/* under TCG a start that migrates costs the kernel several
		 * times one that does not (README, Tail latency) */
		if (registered && rt->last_cpu && rt->last_cpu != on)
			stat_inc(SHJ_STAT_MIGRATE);
		rt->last_cpu = on;
		rt->woke = 0;
		/* the kernel gave a thread woken onto an idle CPU its default
		 * slice: a fresh one gets what is left of its own */
		if (is_fresh(rank) && p->scx.slice > slice)
			shj_task_set_slice(p, slice);
		if (rt->enq_at && rank >= RANK_L0 && rank < RANK_TOP) {
			u32 idx = (u32)((rank - RANK_L0) / 2) * SHJ_HIST_BUCKETS +
				  log2_bucket(since(now, rt->enq_at));
			u64 *cnt = bpf_map_lookup_elem(&shj_wait_hist, &idx);

			if (cnt)
				(*cnt)++;
		}
		rt->enq_at = 0;
		rt->last_ran = now;
		if (rank == RANK_BG && (s64)(rt->vtime - bg_vtime) > 0)
			bg_vtime = rt->vtime;
	}
	cc->rank = rank;
	cc->pid = p->pid;
	cc->kicked = 0;
	cc->fresh_until = is_fresh(rank) ? now + slice : 0;

	/* Back from a higher class, from the head of this CPU's own queue:
	 * no dispatch chose it, and no kick could reach it while the CPU was
	 * not ours (it showed RANK_NONE). Whatever came meanwhile and ranks
	 * above it would wait out its slice (a demoted thread's is 20 ms):
	 * preempt it now. */
	if (rt && rt->boosted) {
		rt->boosted = 0;
		if (top_waiting() > rank)
			kick_preempt(cpu, cc, SHJ_STAT_PREEMPT_QOS);
	}

	if (rank == RANK_IDLE)
		stat_inc(SHJ_STAT_IDLE_RUN);
	else if (rank == RANK_BG)
		stat_inc(SHJ_STAT_BG_RUN);
	else if (registered)
		stat_inc(SHJ_STAT_RUN_REG);
}

void BPF_STRUCT_OPS(shinjuku_stopping, struct task_struct *p, bool runnable)
{
	struct shj_rt *rt = bpf_task_storage_get(&shj_rt, p, NULL, 0);
	struct cpu_ctx *cc = cpu_ctx_of(scx_bpf_task_cpu(p));

	/* still runnable with slice left: a higher class took the CPU (our
	 * kicks, the tick and yields end the slice); the kernel keeps it at
	 * the head of this CPU's queue */
	if (runnable && p->scx.slice) {
		stat_inc(SHJ_STAT_BOOST);
		if (rt)
			rt->boosted = 1;
	}

	if (rt && rt->last_ran) {
		u64 ran = since(shj_now(), rt->last_ran);

		account(rt, ran);
		if (cc->rank == RANK_BG)	/* its order there (enqueue) */
			rt->vtime += ran * 100 / (p->scx.weight ? p->scx.weight : 100);
		rt->last_ran = 0;
	}
	if (rt && !runnable) {	/* it blocks: its next wake-up is a new request */
		rt->slice_used = 0;
		rt->woke = 1;
	}
	cc->rank = RANK_NONE;
	cc->pid = 0;
	cc->fresh_until = 0;
}

/* How long the head of rank's queue has waited (0 if none). */
static u64 head_waited(s32 rank, u64 now)
{
	struct task_struct *q = shj_dsq_peek((u64)rank);
	struct shj_rt *rt = q ? bpf_task_storage_get(&shj_rt, q, NULL, 0) : NULL;

	return rt && rt->enq_at ? since(now, rt->enq_at) : 0;
}

/*
 * sched_yield() from a registered thread: it finished a request and starts
 * the next without blocking (a worker taking a queued request). It gets a
 * fresh slice and keeps its CPU, unless a higher level waits or the oldest
 * fresh thread of its level has waited a slice already: then it goes behind
 * them (FCFS: theirs are the older requests). Giving up the CPU at every
 * such yield would cost two switches per request exactly when the server is
 * busiest; measured, that cost more than the order it keeps.
 */
bool BPF_STRUCT_OPS(shinjuku_yield, struct task_struct *from, struct task_struct *to)
{
	struct shj_rt *rt = bpf_task_storage_get(&shj_rt, from, NULL,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct cpu_ctx *cc = cpu_ctx_of(scx_bpf_task_cpu(from));
	u64 now = shj_now();
	s32 rank;

	if (to)
		return false;	/* yield_to(): not ours to steer */
	if (!rt || !bpf_task_storage_get(&shj_tasks, from, NULL, 0))
		goto plain;
	if (rt->last_ran) {
		rt->runtime_ns += since(now, rt->last_ran);
		rt->last_ran = now;
	}
	rt->slice_used = 0;
	rank = rank_of(from, rt, NULL);
	if (!is_fresh(rank))
		goto plain;	/* idle-marked */
	stat_inc(SHJ_STAT_YIELD);
	cc->rank = rank;
	if (top_waiting() > rank || head_waited(rank, now) >= slice_ns)
		goto plain;
	cc->fresh_until = now + slice_ns;
	shj_task_set_slice(from, slice_ns);
	return false;
plain:	/* what the kernel does without ops.yield: end the slice */
	shj_task_set_slice(from, 0);
	return false;
}

/*
 * A CPU goes idle. Work queued by an ops.enqueue that ran while this CPU was
 * between its last dispatch and setting its idle bit would wait here unseen
 * (that enqueue found no idle CPU to kick): dispatch once more. This narrows
 * the window, it does not close it: the kernel queues an enqueue's task only
 * after ops.enqueue returns, so an enqueue that looked for an idle CPU just
 * before this one set its idle bit, and whose task is not queued yet when
 * we look, finds neither (before 6.16 the kernel calls us before it sets
 * the bit, a few instructions more). That task waits for the next
 * scheduling event: a busy CPU's block, slice end or tick, or the next
 * enqueue, which finds this CPU idle.
 */
void BPF_STRUCT_OPS(shinjuku_update_idle, s32 cpu, bool idle)
{
	struct task_struct *head;
	s32 top;

	if (!idle)
		return;
	top = top_waiting();
	if (top == RANK_NONE)
		return;
	head = shj_dsq_peek((u64)top);
	if (head && bpf_cpumask_test_cpu(cpu, head->cpus_ptr)) {
		stat_inc(SHJ_STAT_KICK_IDLE);
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	}
}

/*
 * p's state changed: move it to the queue of its new rank (O(1): a DSQ
 * iterator only names the source queue), and preempt where the change makes
 * it due at once. If p is being enqueued right now it is in no queue yet,
 * and its enqueue may have read the old mark: then dispatch moves it, soon
 * (nudge_retry), and looks again for as long as it is in flight. A new
 * request starts a fresh slice. from_mark: a mark or level change calls
 * (else dispatch's retry).
 */
static void retry_later(struct shj_rt *rt, s32 tid)
{
	/* once per thread at a time: the queue holds every registered one */
	if (rt && __sync_val_compare_and_swap(&rt->retry_pending, 0, 1))
		return;
	if (bpf_map_push_elem(&nudge_retry, &tid, 0)) {
		if (rt)
			rt->retry_pending = 0;
	} else {
		__sync_fetch_and_add(&nudge_retry_n, 1);
	}
}

static void nudge(struct task_struct *p, bool new_request, bool from_mark, bool self)
{
	struct shj_rt *rt = bpf_task_storage_get(&shj_rt, p, NULL, 0);
	struct bpf_iter_scx_dsq it;
	struct scx_dispatch_q *dsq;
	s32 rank, tid = p->pid;
	u64 from;

	if (rt && !from_mark)	/* the retry itself: out of the queue */
		rt->retry_pending = 0;
	if (rt && new_request) {
		/* (another CPU's ops.stopping may race this: then the run
		 * before the mark is counted into the new slice, once) */
		if (rt->last_ran) {	/* running: account what it ran */
			u64 now = shj_now();

			rt->runtime_ns += since(now, rt->last_ran);
			rt->last_ran = now;
		}
		rt->slice_used = 0;
	}
	rank = rank_of(p, rt, NULL);
	if (!(p->scx.flags & SCX_TASK_QUEUED))
		return;		/* blocked: its next wake-up queues it right */
	/* in a queue: moved, even if its CPU still runs it (switching it out:
	 * the kernel queued it before it switches) */
	dsq = BPF_CORE_READ(p, scx.dsq);
	if (dsq)
		goto queued;

	if (scx_bpf_task_running(p)) {
		s32 cpu = scx_bpf_task_cpu(p);
		struct cpu_ctx *cc = cpu_ctx_of(cpu);

		/* only while the CPU still says it runs p: it may be
		 * switching p out, and p's enqueue may have read the old
		 * mark -- look again from a dispatch. (Not if p is the caller:
		 * it runs this.) The caller itself is not kicked: preempted
		 * inside this program it would wait, as what it just became,
		 * before it could tell anyone (a worker that marks itself
		 * idle, then shows its dispatcher it is free); nor is its CPU
		 * shown lower, which would make it another CPU's victim. It
		 * yields when ready, or its slice ends at a tick. */
		if (self && rank < cc->rank)
			return;
		if (cc->pid == tid) {
			cc->rank = rank;
			cc->fresh_until = is_fresh(rank) ? shj_now() + slice_of(rank, rt) : 0;
			if (top_waiting() > rank && !self)
				kick_preempt(cpu, cc, rank == RANK_IDLE ? SHJ_STAT_PREEMPT_IDLE :
							      SHJ_STAT_PREEMPT_QOS);
		}
		if (from_mark && !self)
			retry_later(rt, tid);
		return;
	}
	/* being enqueued right now */
	retry_later(rt, tid);
	if (rank > RANK_IDLE)
		kick_for(p, rank);
	return;

queued:
	from = BPF_CORE_READ(dsq, id);
	if (from == (u64)rank || from >= NR_RANKS || rank == RANK_BG)
		return;		/* where it belongs, or on a CPU's own queue (or
				 * "background": a move there would be FIFO) */
	if (scx_bpf_dsq_nr_queued((u64)rank) < 0)
		return;		/* no such queue: not our scheduler's (a race with
				 * its exit); moving there would be an error */
	if (bpf_iter_scx_dsq_new(&it, from, 0) == 0) {
		shj_dsq_move_set_slice(&it, slice_of(rank, rt));
		if (shj_dsq_move(&it, p, (u64)rank, 0))
			stat_inc(SHJ_STAT_NUDGE_MOVE);
	}
	bpf_iter_scx_dsq_destroy(&it);
	if (rank > RANK_IDLE)
		kick_for(p, rank);
}

/*
 * Run by shinjukud (bpf_prog_test_run) to change registered threads' state;
 * see struct shj_apply_args. It loads on kernels without sched_ext too
 * (shinjukud --dry-run): the scheduling part is skipped there.
 */
/* One entry of shinjuku_apply: 0, -ESRCH or -ENOENT. A global function,
 * verified once, however many entries the caller unrolls. */
__attribute__((noinline)) int shj_apply_one(s32 tid, u32 qos, u32 flags)
{
	struct task_struct *p = bpf_task_from_pid(tid);
	/* the caller marks itself (shinjuku_mark) */
	bool new_request, self = tid == (s32)bpf_get_current_pid_tgid();
	struct shj_task *t;
	int ret = 0;

	if (!p)
		return -3;	/* -ESRCH */
	t = bpf_task_storage_get(&shj_tasks, p, NULL, 0);
	if ((flags & SHJ_APPLY_OWN) && p->tgid != (s32)(bpf_get_current_pid_tgid() >> 32))
		ret = -1;	/* -EPERM: not the caller's process */
	else if (!t)
		ret = -2;	/* -ENOENT */
	if (ret || !t) {
		bpf_task_release(p);
		return ret;
	}
	/* the mark alone, atomically (the daemon may change the level at the
	 * same time, a client the mark); or the level alone */
	new_request = false;
	if (!(flags & SHJ_APPLY_MARK_ONLY))
		t->qos = qos;
	else if (flags & SHJ_TASK_IDLE)
		__sync_fetch_and_or(&t->flags, SHJ_TASK_IDLE);
	else	/* idle -> runnable: the thread got a new request (a
		 * spinning worker never wakes up for it) */
		new_request = __sync_fetch_and_and(&t->flags, ~SHJ_TASK_IDLE) & SHJ_TASK_IDLE;
	if (bpf_ksym_exists(scx_bpf_task_running) && *(volatile bool *)&attached) {
		bpf_rcu_read_lock();	/* the DSQ iterator may not sleep */
		nudge(p, new_request, true, self);
		bpf_rcu_read_unlock();
	}
	bpf_task_release(p);
	return 0;
}

/*
 * One entry of shinjuku_mark: a client marks a thread of its own process
 * idle (flags SHJ_TASK_IDLE) or runnable (0) without the daemon. Only the
 * mark changes; 0, -ESRCH, -ENOENT (not registered) or -EPERM (another
 * process's thread).
 */
__attribute__((noinline)) int shj_mark_one(s32 tid, u32 flags)
{
	int ret;

	ret = shj_apply_one(tid, 0, SHJ_APPLY_MARK_ONLY | SHJ_APPLY_OWN |
				    (flags & SHJ_TASK_IDLE));
	if (!ret)
		stat_inc(SHJ_STAT_MARK_DIRECT);
	return ret;
}

/* Written out: a syscall program reads its context at constant offsets. */
#define APPLY1(i)	if ((i) < n) args->e[i].ret = APPLY_CALL(args->e[i])
#define APPLY4(i)	APPLY1(i); APPLY1((i) + 1); APPLY1((i) + 2); APPLY1((i) + 3)
#define APPLY16(i)	APPLY4(i); APPLY4((i) + 4); APPLY4((i) + 8); APPLY4((i) + 12)
#define APPLY64()	APPLY16(0); APPLY16(16); APPLY16(32); APPLY16(48)

SEC("syscall")
int shinjuku_apply(struct shj_apply_args *args)
{
	u32 n = args->count;

	if (n > SHJ_APPLY_MAX)
		return -22;	/* -EINVAL */
	_Static_assert(SHJ_APPLY_MAX == 64, "APPLY64 below");
#define APPLY_CALL(e)	shj_apply_one((e).tid, (e).qos, (e).flags)
	APPLY64();
#undef APPLY_CALL
	return 0;
}

/*
 * Run by a client itself (libshinjuku; shinjukud hands out its descriptor,
 * see shinjukud/server.c): marks threads of the caller's own process idle
 * or runnable with no round trip through the daemon. Safe for any caller:
 * it acts only on threads of the calling process that shinjukud registered
 * and changes only their mark, which lowers them or gives back the level the
 * daemon granted. Refused (-EOPNOTSUPP) for a caller in a child pid
 * namespace (its thread ids are not the kernel's) and (-ESTALE) once this
 * scheduler has exited -- a descriptor kept across a daemon restart must not
 * act on the next scheduler's queues: the library then goes through the
 * daemon, which starts a new session.
 */
SEC("syscall")
int shinjuku_mark(struct shj_apply_args *args)
{
	struct task_struct *me = bpf_get_current_task_btf();
	u32 n = args->count;

	if (n > SHJ_APPLY_MAX)
		return -22;	/* -EINVAL */
	if (!*(volatile bool *)&attached)
		return -116;	/* -ESTALE: its scheduler exited */
	if (BPF_CORE_READ(me, thread_pid, level))
		return -95;	/* -EOPNOTSUPP */
#define APPLY_CALL(e)	shj_mark_one((e).tid, (e).flags)
	APPLY64();
#undef APPLY_CALL
	return 0;
}

s32 BPF_STRUCT_OPS_SLEEPABLE(shinjuku_init)
{
	u32 i;
	s32 err;

	bpf_for(i, 0, NR_RANKS) {
		if (i >= RANK_L0 + 2 * nr_levels && i != RANK_TOP)
			continue;
		err = scx_bpf_create_dsq(i, -1);
		if (err)
			return err;
	}
	bpf_for(i, 0, SHJ_MAX_CPUS)
		cpu_ctx[i].rank = RANK_NONE;
	compat_fallbacks = shj_compat_fallbacks();
	attached = true;
	return 0;
}

void BPF_STRUCT_OPS(shinjuku_exit, struct scx_exit_info *ei)
{
	*(volatile bool *)&attached = false;	/* first: see shinjuku_mark */
	bpf_probe_read_kernel_str(exit_info.reason, sizeof(exit_info.reason),
				  ei->reason);
	bpf_probe_read_kernel_str(exit_info.msg, sizeof(exit_info.msg), ei->msg);
	exit_info.exit_code = ei->exit_code;
	/* .kind last: user space reads the strings once it is non-zero */
	*(volatile s32 *)&exit_info.kind = ei->kind;
}

SEC(".struct_ops.link")
struct sched_ext_ops shinjuku_ops = {
	.enqueue	= (void *)shinjuku_enqueue,
	.dispatch	= (void *)shinjuku_dispatch,
	.running	= (void *)shinjuku_running,
	.update_idle	= (void *)shinjuku_update_idle,
	.stopping	= (void *)shinjuku_stopping,
	.yield		= (void *)shinjuku_yield,
	.init		= (void *)shinjuku_init,
	.exit		= (void *)shinjuku_exit,
	/* shinjukud adds SCX_OPS_SWITCH_PARTIAL unless --switch-all */
	.flags		= SCX_OPS_KEEP_BUILTIN_IDLE,
	.name		= "shinjuku",
};
