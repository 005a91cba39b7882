/* SPDX-License-Identifier: GPL-2.0 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tasks.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL	/* Linux 6.9+: a pidfd for a single thread */
#endif

int shj_thread_of(pid_t pid, pid_t tid)
{
	char path[64];
	struct stat st;

	if (pid <= 0 || tid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	return stat(path, &st) == 0;
}

int shj_thread_pidfd(pid_t tid)
{
	int fd;

	if (tid <= 0)
		return -ESRCH;
	fd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);	/* always close-on-exec */
	if (fd >= 0)
		return fd;
	/* before 6.9: EINVAL for PIDFD_THREAD (and for a non-leader tid) */
	return errno == EINVAL ? -EOPNOTSUPP : -errno;
}

int shj_pidfd_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

/* Task storage is keyed by a pidfd: the update reaches that thread or none. */
int shj_task_write(int map_fd, int pidfd, const struct shj_task *t)
{
	return bpf_map_update_elem(map_fd, &pidfd, t, BPF_ANY) ? -errno : 0;
}

int shj_task_read(int map_fd, int pidfd, struct shj_task *t)
{
	return bpf_map_lookup_elem(map_fd, &pidfd, t) ? -errno : 0;
}

int shj_task_delete(int map_fd, int pidfd)
{
	return bpf_map_delete_elem(map_fd, &pidfd) ? -errno : 0;
}

int shj_task_set_ext(int pidfd, pid_t tid, int on)
{
	struct sched_param param = { .sched_priority = 0 };
	int policy;

	if (!shj_pidfd_alive(pidfd))
		return -ESRCH;
	if (!on) {
		policy = sched_getscheduler(tid);
		if (policy < 0)
			return -errno;
		if ((policy & ~SCHED_RESET_ON_FORK) != SCHED_EXT)
			return 0;
	}
	if (sched_setscheduler(tid, on ? SCHED_EXT : SCHED_OTHER, &param))
		return -errno;
	return shj_pidfd_alive(pidfd) ? 0 : -ESRCH;
}

int shj_task_apply(int prog_fd, struct shj_apply_args *args)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args,
		    .ctx_size_in = sizeof(*args));

	/* a syscall program's context is copied back into ctx_in */
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return (int)opts.retval;
}

__u64 shj_task_runtime(int rt_map_fd, int pidfd)
{
	struct shj_rt rt = { 0 };

	if (bpf_map_lookup_elem(rt_map_fd, &pidfd, &rt))
		rt.runtime_ns = 0;
	return rt.runtime_ns;
}

pid_t shj_tgid_of(pid_t tid)
{
	char path[64], line[128];
	pid_t tgid = -ESRCH;
	FILE *f;

	if (tid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}
