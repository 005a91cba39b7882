/* SPDX-License-Identifier: GPL-2.0 */
/* Writing per-thread state into the scheduler's task-storage map, and moving
 * threads in and out of SCHED_EXT. */
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

/* Set, read or delete tid's entry in the task-storage map map_fd. 0 or -errno
 * (-ESRCH: no such thread; -ENOENT from read/delete: no entry). */
int shj_task_write(int map_fd, pid_t tid, const struct shj_task *t);
int shj_task_read(int map_fd, pid_t tid, struct shj_task *t);
int shj_task_delete(int map_fd, pid_t tid);

/* Run the scheduler's shinjuku_apply program (prog_fd) on a batch; each
 * entry's ret says how it went. 0 or -errno. */
int shj_task_apply(int prog_fd, struct shj_apply_args *args);

/* Read a thread's runtime from the BPF-only map shj_rt; 0 if unknown. */
__u64 shj_task_runtime(int rt_map_fd, pid_t tid);

/* The process (thread group) tid belongs to, or -errno. */
pid_t shj_tgid_of(pid_t tid);

/* Move tid to SCHED_EXT or back to SCHED_OTHER. 0 or -errno. */
int shj_task_set_ext(pid_t tid, int on);

#endif
