/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * libshinjuku: hand your server's worker threads to the shinjuku scheduler.
 *
 * The library talks to the shinjukud daemon over POSIX message queues; the
 * daemon writes the scheduler's BPF maps and moves threads to SCHED_EXT.
 * The library needs no privilege.
 *
 * Every function returns 0 on success or a negative errno. It never prints
 * and never exits. All functions are thread-safe. Link with -lshinjuku
 * (pkg-config --cflags --libs shinjuku).
 *
 * Errors common to all calls that talk to shinjukud (all but
 * shj_set_async() and shj_strerror()):
 *   -ECONNREFUSED  shinjukud is not running
 *   -ETIMEDOUT     shinjukud did not answer in time (stuck); the next call
 *                  starts a new session, which still acts on the threads
 *                  this process registered
 *   -ECONNRESET    shinjukud exited and no new one answered
 *   -ENOTCONN      shinjukud lost the session twice in a row (restarts)
 *   -EPROTO        shinjukud speaks another protocol version
 *   -EBADMSG       a malformed reply
 *   -ENOSPC        opening the session: shinjukud's limits on sessions
 *                  (per process, per uid, in all), or the system's
 *                  message-queue limit
 *   -EMFILE, -ENFILE, -ENOMEM  opening the session: the client's queues
 *                  could not be created (mq_open(3))
 * If shinjukud restarted, the next call opens a new session by itself and
 * first registers again every thread this process registered (and has not
 * unregistered), at its level, with its last mark: a restart needs nothing
 * of the application. What the new daemon refuses (its limits, fewer
 * --qos-levels: -ENOSPC, -EINVAL) is returned by that call (if it has no
 * error of its own) and by the next shj_sync(); those threads are no longer
 * registered. Threads registered before an exec() are not known to the new
 * image.
 */
#ifndef SHINJUKU_H
#define SHINJUKU_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHJ_VERSION_MAJOR 0
#define SHJ_VERSION_MINOR 1

/* QoS levels run from 0 to SHJ_QOS_LEVELS_MAX - 1; higher is more urgent.
 * The daemon may be started with fewer levels (shinjukud --qos-levels). */
#define SHJ_QOS_LEVELS_MAX 32

/*
 * Open the session with shinjukud. Optional: the first call that needs the
 * daemon connects. Returns 0 if already connected.
 */
int shj_connect(void);

/*
 * Close the session: the daemon moves every thread this process registered
 * back to SCHED_OTHER. Returns 0 if there was no session.
 */
int shj_close(void);

/*
 * Register thread tid of the calling process (0: the calling thread) at QoS
 * level qos. On success the scheduler manages the thread and it runs in the
 * SCHED_EXT class. Errors: -EINVAL bad qos or tid, or a level the daemon
 * does not have (shinjukud --qos-levels); -ESRCH no such thread; -EPERM a
 * thread of another process (only root may register those); -EEXIST
 * already registered; -ENOSPC the daemon's limit on threads is reached.
 */
int shj_register(pid_t tid, int qos);

/*
 * Take thread tid (0: the calling thread) back from the scheduler: it runs
 * in SCHED_OTHER again. Errors: -EINVAL bad tid; -ENOENT not registered;
 * -EPERM registered by another process.
 */
int shj_unregister(pid_t tid);

/* Move a registered thread to QoS level qos. Errors: as shj_unregister;
 * -EINVAL for a level the daemon does not have; -ESRCH the thread exited. */
int shj_set_qos(pid_t tid, int qos);

/*
 * Mark a registered thread idle: it has no request to serve. An idle-marked
 * thread gets a CPU only when no other work can use it, even if it spins.
 * Errors: as shj_unregister; -ESRCH the thread exited.
 *
 * Marks of threads this process registered are applied by the calling
 * thread itself where shinjukud allows it (its default; see --no-direct-
 * marks): at once, without a round trip to the daemon, also while the
 * daemon is stopped (SIGSTOP; after it exited they go to the new one).
 * Marking itself idle does not itself take the caller's CPU away: if other
 * work waits, it keeps the CPU until its slice ends (at a tick) or until it
 * calls sched_yield() -- call that once whoever hands it work can see it is
 * free.
 */
int shj_idle(pid_t tid);

/* Mark a registered thread runnable: it has a request to serve. Errors: as
 * shj_idle. */
int shj_runnable(pid_t tid);

/*
 * Mark n threads idle, or runnable, in as few messages as possible: the
 * way for a dispatcher to hand out many requests at once. tids[i] == 0 means
 * the calling thread. Returns the first error; the other threads are still
 * marked. Errors: -EINVAL n < 0, tids NULL or a tid < 0; otherwise as
 * shj_idle (-ENOENT, -EPERM, -ESRCH).
 */
int shj_idle_many(const pid_t *tids, int n);
int shj_runnable_many(const pid_t *tids, int n);

/*
 * on = 1: from now on shj_idle(), shj_runnable() and their _many variants
 * do not wait for shinjukud: they return once the request is queued (0, or
 * an error sending it). Errors shinjukud meets later are kept and returned
 * by the next shj_sync(). on = 0: every call waits again (the default).
 * Errors: -EINVAL on is neither 0 nor 1. Does not talk to shinjukud.
 */
int shj_set_async(int on);

/*
 * Wait until shinjukud has handled every request sent before, and return
 * the first error of a one-way request since the last shj_sync() (-EINVAL,
 * -ENOENT, -EPERM, -ESRCH, as from shj_idle()), or 0. -ECONNRESET
 * (shinjukud exited) or -ETIMEDOUT (it did not answer in time) if some were
 * sent in a session that ended before they were known to be handled: they
 * may be lost. Marks of threads this process registered are not: a new
 * daemon gets each thread's last mark when the library registers it again;
 * -ECONNRESET then means a mark of another thread. After a restart, also
 * the first error of re-registering (-ENOSPC, -EINVAL: see above).
 */
int shj_sync(void);

/* A static, human-readable description of a value these functions return. */
const char *shj_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* SHINJUKU_H */
