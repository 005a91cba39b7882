/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shinjuku: Shinjuku-style preemptive scheduling for µs-scale tail latency,
 * as a sched_ext scheduler.
 *
 * Threads are "registered" when shinjukud has written their state (QoS level,
 * idle mark) into the task storage shj_tasks. The policy:
 *
 * - One FIFO queue (a custom DSQ) per QoS level, ids 0 .. nr_levels - 1;
 *   higher levels are served first, strictly. A thread is queued at the tail
 *   of its level.
 *
 * - Idle-marked threads (a worker that finished its request and waits,
 *   possibly spinning) go to a separate background queue, IDLE_DSQ, so that
 *   dispatch never walks past them: its cost is O(levels), whatever the
 *   number of idle threads. When shinjukud changes a mark it runs the
 *   syscall program shinjuku_nudge, which moves that one thread between its
 *   level and IDLE_DSQ and kicks a CPU if the change makes preemption due.
 *   Idle-marked threads run only when no other work can use the CPU.
 *
 * - Preemption (the seed's rule), checked for every CPU by a BPF timer
 *   while work waits -- it fires when the first slice of the waiting level
 *   runs out, never sooner than preempt_ns after the last check, and parks
 *   itself when only idle-marked threads wait -- and at once on the events
 *   that make it due (a thread queued above a running one, a running thread
 *   marked idle): preempt a CPU whose thread is idle-marked while work
 *   waits, whose thread's level is below a waiting one, or whose thread has
 *   used its slice while its own level has a waiting thread. A preempted
 *   thread goes back to the tail of its level.
 *
 * - Priority boost (ghOSt's; the seed's open problem): a thread that loses
 *   its CPU to a higher scheduling class (RT, or any fair task in partial
 *   mode) goes back to the *head* of its level. No kernel change and no
 *   deprecated cpu_release: with SCX_OPS_ALWAYS_ENQ_IMMED every insert into
 *   a local queue is "immediate", so the kernel hands such a thread back to
 *   ops.enqueue with SCX_ENQ_REENQ and the reason SCX_TASK_REENQ_PREEMPTED,
 *   instead of parking it on the CPU it lost. It can then run on any CPU.
 *   It keeps what was left of its slice: a thread that fair tasks interrupt
 *   again and again must not get a fresh slice at the head each time.
 *
 * - Nothing starves into sched_ext's watchdog: idle-marked threads,
 *   background tasks and -- despite strict priority -- lower QoS levels
 *   whose head has waited starve_ns run next. Dispatch cost stays O(1) for
 *   this: it peeks at the idle and background heads and at one level's, a
 *   different level each time.
 *
 * - Partial mode (default): only SCHED_EXT threads are scheduled here. A
 *   SCHED_EXT thread nobody registered runs at level 0, never idle-marked.
 *   --switch-all: every task is; tasks that are not SCHED_EXT form a FIFO
 *   background tier below all levels (and above idle-marked threads), so a
 *   batch job gets exactly the CPU the server leaves. Per-CPU kernel threads
 *   jump the queues on their own CPU so that the system stays healthy, and
 *   shinjukud's own threads run at the top level, so that marks and
 *   registrations are never stuck behind the threads they concern.
 *
 * Caveats: the timer fires late under load and in VMs (its lateness is
 * counted); a CPU running an RT or (partial mode) fair task is not ours to
 * preempt; the per-CPU view the timer reads (cpu_run) is written without
 * locks and may be one switch stale, which costs at most one slice. Each
 * kick, and each timer start from a callback that runs with IRQs off, is an
 * irq_work in the kernel: a self-interrupt. Under emulation (QEMU TCG) those
 * interrupts are most of what this scheduler costs beyond EEVDF (README,
 * "Tail latency").
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include "scx.bpf.h"
#include "shj_shared.h"

char _license[] SEC("license") = "GPL";

/* Tunables, written by shinjukud into rodata before load. */
const volatile u64 slice_ns = SHJ_SLICE_NS_DEFAULT;
const volatile u64 preempt_ns = SHJ_PREEMPT_NS_DEFAULT;
const volatile u64 starve_ns = SHJ_STARVE_NS_DEFAULT;
const volatile u32 nr_levels = SHJ_QOS_LEVELS_DEFAULT;
const volatile u32 nr_cpus = 1;
const volatile bool switch_all;
const volatile s32 daemon_tgid;	/* shinjukud: top level under --switch-all */

#define IDLE_DSQ	SHJ_QOS_MAX
#define BG_DSQ		(SHJ_QOS_MAX + 1)

#define RANK_NONE	SHJ_RANK_NONE
#define RANK_IDLE	SHJ_RANK_IDLE
#define RANK_BG		SHJ_RANK_BG

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

struct check_timer {
	struct bpf_timer timer;
	u64 due;		/* when the callback should run */
	u64 n;			/* callbacks so far */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct check_timer);
} check_timer SEC(".maps");

static u32 check_armed;		/* 1 while the timer is set to fire */
static u64 enq_seq;		/* bumped by every arm_check() */

static long start_check(struct check_timer *ct, u64 now, u64 delay)
{
	ct->due = now + delay;
	return bpf_timer_start(&ct->timer, delay, BPF_F_TIMER_CPU_PIN);
}

static struct check_timer *the_check(void)
{
	u32 key = 0;

	return bpf_map_lookup_elem(&check_timer, &key);
}

/* If the check is armed, make it run within delay (not sooner than
 * preempt_ns) -- a thread that started on less than a slice needs it. */
static void check_soon(u64 now, u64 delay)
{
	struct check_timer *ct;

	if (!check_armed || !(ct = the_check()))
		return;
	if (delay < preempt_ns)
		delay = preempt_ns;
	if (now + delay + preempt_ns < ct->due)
		start_check(ct, now, delay);
}

struct shj_cpu_run cpu_run[SHJ_MAX_CPUS];

/* Written by the check timer: queue lengths (levels, then idle, bg) and
 * the lateness histogram. shinjukud reads them through the mmapped .bss. */
u32 nr_queued[SHJ_QOS_MAX + 2];
u64 late_hist[SHJ_HIST_BUCKETS];

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

	/* bounded: at most 63 halvings */
	while (v > 1 && b < SHJ_HIST_BUCKETS - 1) {
		v >>= 1;
		b++;
	}
	return b;
}

static struct shj_cpu_run *cpu_run_of(s32 cpu)
{
	return &cpu_run[(u32)cpu & (SHJ_MAX_CPUS - 1)];
}

/*
 * Where p belongs: its rank (a level, RANK_BG or RANK_IDLE). Registered
 * threads by their state; unregistered SCHED_EXT threads at level 0; in
 * --switch-all mode everything else in the background tier.
 */
static s32 rank_of(struct task_struct *p, bool *registered)
{
	struct shj_task *t = bpf_task_storage_get(&shj_tasks, p, NULL, 0);
	u32 level;

	if (registered)
		*registered = t != NULL;
	if (!t) {
		/* the control plane must not wait behind the work it steers */
		if (p->tgid == daemon_tgid)
			return (s32)(nr_levels - 1) & (SHJ_QOS_MAX - 1);
		return switch_all && p->policy != SCHED_EXT_POLICY ? RANK_BG : 0;
	}
	if (t->flags & SHJ_TASK_IDLE)
		return RANK_IDLE;
	level = t->qos;
	if (level >= nr_levels)
		level = nr_levels - 1;
	return level & (SHJ_QOS_MAX - 1);
}

static u64 dsq_of(s32 rank)
{
	if (rank == RANK_IDLE)
		return IDLE_DSQ;
	if (rank == RANK_BG)
		return BG_DSQ;
	return (u64)rank;
}

/* Highest level with a waiting thread, or RANK_BG / RANK_IDLE / RANK_NONE. */
static s32 top_waiting(void)
{
	u32 i;

	bpf_for(i, 0, nr_levels) {
		u32 level = nr_levels - 1 - i;

		if (scx_bpf_dsq_nr_queued(level))
			return (s32)level;
	}
	if (switch_all && scx_bpf_dsq_nr_queued(BG_DSQ))
		return RANK_BG;
	if (scx_bpf_dsq_nr_queued(IDLE_DSQ))
		return RANK_IDLE;
	return RANK_NONE;
}

static void kick_preempt(s32 cpu, struct shj_cpu_run *cr, u32 cause)
{
	if (cr->kicked)
		return;
	cr->kicked = 1;
	stat_inc(cause);
	stat_inc(SHJ_STAT_KICK_PREEMPT);
	scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
}

/*
 * p of rank was just queued: wake an idle CPU it may use or, if none, preempt
 * the CPU that runs the least important of our threads below it.
 */
static void kick_for(struct task_struct *p, s32 rank)
{
	s32 cpu, victim = -1, vrank = rank;
	struct shj_cpu_run *cr;

	cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (cpu >= 0) {
		stat_inc(SHJ_STAT_KICK_IDLE);
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return;
	}
	if (rank < 0)		/* background work preempts only idle-marked */
		vrank = rank == RANK_BG ? RANK_BG : RANK_IDLE;
	bpf_for(cpu, 0, (s32)nr_cpus) {
		cr = cpu_run_of(cpu);
		if (cr->rank == RANK_NONE || cr->rank >= vrank || cr->kicked)
			continue;
		if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		victim = cpu;
		vrank = cr->rank;
	}
	if (victim >= 0)
		kick_preempt(victim, cpu_run_of(victim),
			     vrank == RANK_IDLE ? SHJ_STAT_PREEMPT_IDLE : SHJ_STAT_PREEMPT_QOS);
}

s32 BPF_STRUCT_OPS(shinjuku_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	/* An idle CPU means nothing that may run there waits: take it. */
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		struct shj_rt *rt = bpf_task_storage_get(&shj_rt, p, NULL, 0);

		if (rt)		/* its wait is measured too */
			rt->enq_at = scx_bpf_now();
		stat_inc(SHJ_STAT_DIRECT);
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
	}
	return cpu;
}

static void arm_check(void);

void BPF_STRUCT_OPS(shinjuku_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct shj_rt *rt = bpf_task_storage_get(&shj_rt, p, NULL,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	bool reenq = enq_flags & SCX_ENQ_REENQ;
	u64 flags = 0, slice = slice_ns;
	bool registered;
	s32 rank = rank_of(p, &registered);

	/*
	 * Per-CPU kernel threads (--switch-all) run on their CPU at once. If
	 * that fails (an RT task holds the CPU), they come back here as
	 * re-enqueued and wait at the head of the background queue.
	 */
	if (rank == RANK_BG && (p->flags & PF_KTHREAD_FLAG) &&
	    p->nr_cpus_allowed == 1 && !reenq) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, SCX_ENQ_PREEMPT);
		return;
	}

	/* Preempted by a higher class, or could not run at once where it was
	 * placed: it had been picked already, so it goes first again, with
	 * the rest of its slice. Otherwise a new slice starts. */
	if (reenq) {
		u32 why = p->scx.flags & SCX_TASK_REENQ_REASON_MASK;

		flags = SCX_ENQ_HEAD;
		if (why == SCX_TASK_REENQ_PREEMPTED)
			stat_inc(SHJ_STAT_BOOST);
		if (rt && rt->slice_used < slice_ns)
			slice = slice_ns - rt->slice_used;
	} else if (rt) {
		rt->slice_used = 0;
	}
	if (rt)
		rt->enq_at = scx_bpf_now();

	if (rank == RANK_IDLE)
		stat_inc(SHJ_STAT_ENQUEUE_IDLE);
	else if (rank == RANK_BG)
		stat_inc(SHJ_STAT_ENQUEUE_BG);
	else if (registered)
		stat_inc(SHJ_STAT_ENQUEUE);
	else
		stat_inc(SHJ_STAT_ENQUEUE_UNREG);

	scx_bpf_dsq_insert(p, dsq_of(rank), slice, flags);
	kick_for(p, rank);
	if (rank > RANK_IDLE)
		arm_check();
}

static u64 starve_ran_at[64];	/* per DSQ id: its last starvation run */

/*
 * If the head of dsq has waited starve_ns, run it now -- for a sliver
 * (preempt_ns): the watchdog only needs it to run, and the check preempts
 * it as soon as it sees it (rank below waiting work). The runs from one DSQ
 * are spread out, starve_ns / (its length) apart, not run back to back: a
 * dozen idle spinners that all waited starve_ns would otherwise take the
 * CPUs in one burst while work waits.
 */
static bool move_starving(u64 dsq, u64 now)
{
	struct task_struct *p = scx_bpf_dsq_peek(dsq);
	u64 *ran_at = &starve_ran_at[dsq & 63];
	struct shj_rt *rt;
	u32 n;

	if (!p)
		return false;
	rt = bpf_task_storage_get(&shj_rt, p, NULL, 0);
	if (!rt || !rt->enq_at || now - rt->enq_at < starve_ns)
		return false;
	n = scx_bpf_dsq_nr_queued(dsq);
	if (n > 1 && now - *ran_at < starve_ns / n)
		return false;
	scx_bpf_task_set_slice(p, preempt_ns);
	if (!scx_bpf_dsq_move_to_local(dsq))
		return false;
	*ran_at = now;
	stat_inc(SHJ_STAT_STARVE_RUN);
	check_soon(now, preempt_ns);
	return true;
}

static u32 starve_scan;	/* the level whose head dispatch checks next */

void BPF_STRUCT_OPS(shinjuku_dispatch, s32 cpu, struct task_struct *prev)
{
	s32 prev_rank = RANK_NONE;
	u64 now = scx_bpf_now();
	u32 i;

	/* nothing may wait starve_ns: idle-marked and background heads are
	 * checked each time, one QoS level in turn (strict priority would
	 * otherwise let a spinning high level starve a low one forever) */
	if (move_starving(IDLE_DSQ, now) ||
	    (switch_all && move_starving(BG_DSQ, now)) ||
	    move_starving(starve_scan++ % nr_levels, now))
		return;

	/* prev used its slice but is still runnable: it goes on unless
	 * something of its level or above waits (round robin within a level). */
	if (prev && (prev->scx.flags & SCX_TASK_QUEUED))
		prev_rank = rank_of(prev, NULL);

	bpf_for(i, 0, nr_levels) {
		s32 level = (s32)(nr_levels - 1 - i);

		if (level < prev_rank)
			goto keep_prev;
		if (scx_bpf_dsq_move_to_local(level)) {
			stat_inc(SHJ_STAT_DISPATCH);
			return;
		}
	}
	if (prev_rank > RANK_BG)
		goto keep_prev;
	if (switch_all && scx_bpf_dsq_move_to_local(BG_DSQ))
		return;
	if (prev_rank > RANK_IDLE)
		goto keep_prev;
	if (scx_bpf_dsq_move_to_local(IDLE_DSQ))
		return;
	if (prev_rank == RANK_NONE)
		return;
keep_prev:
	stat_inc(SHJ_STAT_KEEP);
	scx_bpf_task_set_slice(prev, slice_ns);
}

void BPF_STRUCT_OPS(shinjuku_running, struct task_struct *p)
{
	struct shj_rt *rt = bpf_task_storage_get(&shj_rt, p, NULL, 0);
	struct shj_cpu_run *cr = cpu_run_of(scx_bpf_task_cpu(p));
	u64 now = scx_bpf_now();
	bool registered;
	s32 rank = rank_of(p, &registered);

	if (rt) {
		if (rt->enq_at && rank >= 0) {
			u32 idx = (u32)rank * SHJ_HIST_BUCKETS +
				  log2_bucket(now - rt->enq_at);
			u64 *cnt = bpf_map_lookup_elem(&shj_wait_hist, &idx);

			if (cnt)
				(*cnt)++;
		}
		rt->enq_at = 0;
		rt->last_ran = now;
	}
	/* the slice started before a boost, if there was one; then it runs
	 * out sooner than the check expects */
	cr->started_at = now - (rt ? rt->slice_used : 0);
	if (rt && rt->slice_used && rt->slice_used < slice_ns)
		check_soon(now, slice_ns - rt->slice_used);
	cr->rank = rank;
	cr->kicked = 0;

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

	if (rt && rt->last_ran) {
		u64 ran = scx_bpf_now() - rt->last_ran;

		rt->runtime_ns += ran;
		rt->slice_used += ran;
	}
	cpu_run_of(scx_bpf_task_cpu(p))->rank = RANK_NONE;
}

/*
 * The preemption check, while work waits, on the CPU it was (re)started on.
 * For each CPU running one of ours, apply the seed's rule (see the top
 * comment); then sleep until the first running slice of the waiting level
 * runs out (at least preempt_ns, at most a slice). When nothing but
 * idle-marked threads waits, no preemption can be due: the timer parks
 * itself, and the next enqueue of real work starts it again (arm_check) --
 * no timer cost on an idle or lightly loaded machine.
 */
static int check_timerfn(void *map, int *key, struct check_timer *ct)
{
	u64 now = scx_bpf_now(), seq = __sync_fetch_and_add(&enq_seq, 0);
	u64 next = now + slice_ns, delay;
	s32 top = top_waiting(), cpu;
	struct task_struct *head = NULL;
	u32 i;

	stat_inc(SHJ_STAT_CHECKS);
	/* the first waiting task: idle CPUs are woken only if it may use them */
	if (top > RANK_IDLE)
		head = scx_bpf_dsq_peek(dsq_of(top));
	if (ct->due && now > ct->due) {
		stat_add(SHJ_STAT_CHECK_LATE_NS, now - ct->due);
		late_hist[log2_bucket(now - ct->due) & (SHJ_HIST_BUCKETS - 1)]++;
	}

	/* queue lengths, for shjctl: now and then is enough */
	if (!(ct->n++ & 15) || top <= RANK_IDLE) {
		bpf_for(i, 0, nr_levels)
			nr_queued[i & (SHJ_QOS_MAX - 1)] = scx_bpf_dsq_nr_queued(i);
		nr_queued[SHJ_QOS_MAX] = scx_bpf_dsq_nr_queued(IDLE_DSQ);
		nr_queued[SHJ_QOS_MAX + 1] = switch_all ? scx_bpf_dsq_nr_queued(BG_DSQ) : 0;
	}

	bpf_for(cpu, 0, (s32)nr_cpus) {
		struct shj_cpu_run *cr = cpu_run_of(cpu);

		if (cr->rank == RANK_NONE) {
			/* work waits and this CPU may be idle: wake it
			 * (SCX_KICK_IDLE does nothing to a busy CPU) */
			if (head && bpf_cpumask_test_cpu(cpu, head->cpus_ptr)) {
				stat_inc(SHJ_STAT_KICK_IDLE);
				scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
			}
			continue;
		}
		if (cr->rank == RANK_IDLE) {
			if (top > RANK_IDLE)
				kick_preempt(cpu, cr, SHJ_STAT_PREEMPT_IDLE);
		} else if (top > cr->rank) {
			kick_preempt(cpu, cr, SHJ_STAT_PREEMPT_QOS);
		} else if (top == cr->rank && !cr->kicked) {
			u64 expiry = cr->started_at + slice_ns;

			if ((s64)(now - expiry) >= 0)
				kick_preempt(cpu, cr, SHJ_STAT_PREEMPT_SLICE);
			else if (expiry < next)
				next = expiry;
		}
	}

	/*
	 * Park when no real work waits. A task queued by ops.enqueue becomes
	 * visible in its DSQ only after ops.enqueue returns, so "nothing
	 * waits" can be stale: an enqueue that saw us armed (and so did not
	 * start us) bumped enq_seq first, and then we run once more.
	 */
	if (top <= RANK_IDLE) {
		__sync_lock_test_and_set(&check_armed, 0);
		if ((top_waiting() <= RANK_IDLE &&
		     __sync_fetch_and_add(&enq_seq, 0) == seq) ||
		    __sync_val_compare_and_swap(&check_armed, 0, 1) != 0)
			return 0;
	}
	/* next when the first slice of the waiting level runs out, but not
	 * sooner than preempt_ns: fewer wake-ups than polling, on time */
	delay = next - now > preempt_ns ? next - now : preempt_ns;
	start_check(ct, now, delay);
	return 0;
}

/* Real work was queued: make sure the check runs (on this CPU if it has to
 * be started). */
static void arm_check(void)
{
	struct check_timer *ct;

	__sync_fetch_and_add(&enq_seq, 1);
	if (check_armed || __sync_val_compare_and_swap(&check_armed, 0, 1) != 0)
		return;
	ct = the_check();
	/* from here (IRQs off) the start is deferred through an irq_work and
	 * can fail (no memory): then the next enqueue tries again */
	if (!ct || start_check(ct, scx_bpf_now(), preempt_ns) < 0)
		__sync_lock_test_and_set(&check_armed, 0);
}

/*
 * A CPU goes idle. Work queued by an ops.enqueue that ran while this CPU was
 * between its last dispatch and setting its idle bit would wait here unseen
 * (that enqueue found no idle CPU to kick): dispatch once more. The kernel
 * sets the idle bit before calling us, so either that enqueue saw the bit or
 * we see its task.
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
	head = scx_bpf_dsq_peek(dsq_of(top));
	if (head && bpf_cpumask_test_cpu(cpu, head->cpus_ptr)) {
		stat_inc(SHJ_STAT_KICK_IDLE);
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	}
}

/* p's state changed: move it to the queue it now belongs in, and preempt
 * where the change makes it due at once. */
static void nudge(struct task_struct *p)
{
	struct task_struct *q;
	s32 rank = rank_of(p, NULL), tid = p->pid;
	u64 from, to = dsq_of(rank);

	if (scx_bpf_task_running(p)) {
		s32 cpu = scx_bpf_task_cpu(p);
		struct shj_cpu_run *cr = cpu_run_of(cpu);

		cr->rank = rank;
		if (rank == RANK_IDLE && top_waiting() > RANK_IDLE)
			kick_preempt(cpu, cr, SHJ_STAT_PREEMPT_IDLE);
		return;
	}
	if (!(p->scx.flags & SCX_TASK_QUEUED))
		return;		/* blocked: its next wake-up queues it right */
	/* Waiting in the queue of its old state? Move it. */
	from = BPF_CORE_READ(p, scx.dsq, id);
	if (from != to && from <= BG_DSQ) {
		bpf_for_each(scx_dsq, q, from, 0) {
			if (q->pid != tid)
				continue;
			if (scx_bpf_dsq_move(BPF_FOR_EACH_ITER, q, to, 0))
				stat_inc(SHJ_STAT_NUDGE_MOVE);
			break;
		}
	}
	if (rank >= 0) {
		kick_for(p, rank);
		arm_check();
	}
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
	struct shj_task *t;

	if (!p)
		return -3;	/* -ESRCH */
	t = bpf_task_storage_get(&shj_tasks, p, NULL, 0);
	if (!t) {
		bpf_task_release(p);
		return -2;	/* -ENOENT */
	}
	t->qos = qos;
	t->flags = flags;
	if (bpf_ksym_exists(scx_bpf_task_running)) {
		bpf_rcu_read_lock();	/* the DSQ walk may not sleep */
		nudge(p);
		bpf_rcu_read_unlock();
	}
	bpf_task_release(p);
	return 0;
}

/* Written out: a syscall program reads its context at constant offsets. */
#define APPLY1(i)	if ((i) < n) args->e[i].ret = shj_apply_one(args->e[i].tid, \
				args->e[i].qos, args->e[i].flags)
#define APPLY4(i)	APPLY1(i); APPLY1((i) + 1); APPLY1((i) + 2); APPLY1((i) + 3)
#define APPLY16(i)	APPLY4(i); APPLY4((i) + 4); APPLY4((i) + 8); APPLY4((i) + 12)

SEC("syscall")
int shinjuku_apply(struct shj_apply_args *args)
{
	u32 n = args->count;

	if (n > SHJ_APPLY_MAX)
		return -22;	/* -EINVAL */
	_Static_assert(SHJ_APPLY_MAX == 64, "APPLY16 x 4 below");
	APPLY16(0);
	APPLY16(16);
	APPLY16(32);
	APPLY16(48);
	return 0;
}

/* Started by shinjukud from the CPU the check should run on. */
SEC("syscall")
int shinjuku_start_timer(void *ctx)
{
	struct check_timer *ct = the_check();

	if (!ct)
		return -2;
	check_armed = 1;
	return (int)start_check(ct, scx_bpf_now(), preempt_ns);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(shinjuku_init)
{
	struct check_timer *ct;
	u32 key = 0, i;
	s32 err;

	bpf_for(i, 0, nr_levels) {
		err = scx_bpf_create_dsq(i, -1);
		if (err)
			return err;
	}
	err = scx_bpf_create_dsq(IDLE_DSQ, -1);
	if (!err)
		err = scx_bpf_create_dsq(BG_DSQ, -1);
	if (err)
		return err;

	bpf_for(i, 0, SHJ_MAX_CPUS)
		cpu_run[i].rank = RANK_NONE;

	ct = bpf_map_lookup_elem(&check_timer, &key);
	if (!ct)
		return -2;
	bpf_timer_init(&ct->timer, &check_timer, 1 /* CLOCK_MONOTONIC */);
	bpf_timer_set_callback(&ct->timer, check_timerfn);
	return 0;
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
	.update_idle	= (void *)shinjuku_update_idle,
	.stopping	= (void *)shinjuku_stopping,
	.init		= (void *)shinjuku_init,
	.exit		= (void *)shinjuku_exit,
	/* shinjukud adds SCX_OPS_SWITCH_PARTIAL unless --switch-all */
	.flags		= SCX_OPS_ALWAYS_ENQ_IMMED | SCX_OPS_KEEP_BUILTIN_IDLE,
	.name		= "shinjuku",
};
