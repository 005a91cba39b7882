/* SPDX-License-Identifier: GPL-2.0 */
/* Writing per-thread state into the scheduler's task-storage map, and moving
 * threads in and out of SCHED_EXT. A thread is named by a pidfd of its own
 * (PIDFD_THREAD): the kernel ties it to that thread, never to whatever
 * thread has its number later. */
#ifndef SHJ_TASKS_H
#define SHJ_TASKS_H

#include <sys/types.h>
#include <linux/types.h>
#include "../bpf/shj_shared.h"

#ifndef SCHED_EXT
#define SCHED_EXT 7
#endif

/* Is tid a live thread of process pid? */
int shj_thread_of(pid_t pid, pid_t tid);

/* A pidfd for thread tid (close it), or -errno: -ESRCH no such thread,
 * -EOPNOTSUPP the kernel has no thread pidfds (Linux < 6.9). */
int shj_thread_pidfd(pid_t tid);

/* Does the thread (or process) of pidfd still hold its number? True for a
 * zombie too: while it is, the number cannot name anything else. */
int shj_pidfd_alive(int pidfd);

/* Set, read or delete the entry of the thread of pidfd in the task-storage
 * map map_fd. 0 or -errno (-ESRCH: the thread exited; -ENOENT from
 * read/delete: no entry). */
int shj_task_write(int map_fd, int pidfd, const struct shj_task *t);
int shj_task_read(int map_fd, int pidfd, struct shj_task *t);
int shj_task_delete(int map_fd, int pidfd);

/* Run the scheduler's shinjuku_apply program (prog_fd) on a batch; each
 * entry's ret says how it went. 0 or -errno. */
int shj_task_apply(int prog_fd, struct shj_apply_args *args);

/* Read a thread's runtime from the BPF-only map shj_rt; 0 if unknown. */
__u64 shj_task_runtime(int rt_map_fd, int pidfd);

/* The process (thread group) tid belongs to, or -errno. */
pid_t shj_tgid_of(pid_t tid);

/*
 * Move the thread of pidfd, whose number is tid, to SCHED_EXT (on) or back
 * to SCHED_OTHER (off: only if it still is in SCHED_EXT: a policy someone
 * set since stays). The syscall takes a number, which is this thread's
 * only while pidfd says it still holds it: checked right before and after.
 * 0 or -errno; -ESRCH: the thread exited (before: nothing was done).
 */
int shj_task_set_ext(int pidfd, pid_t tid, int on);

#endif
