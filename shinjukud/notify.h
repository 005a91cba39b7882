/* SPDX-License-Identifier: GPL-2.0 */
/* Readiness for the service manager (systemd's Type=notify) without
 * libsystemd: the protocol of sd_notify(3) is one datagram on a unix
 * socket, and a daemon with no other use for libsystemd need not link it. */
#ifndef SHJ_NOTIFY_H
#define SHJ_NOTIFY_H

/* Send state (e.g. "READY=1") to the socket named by $NOTIFY_SOCKET: an
 * absolute path, or an abstract name if it starts with '@'. Returns 0, also
 * when $NOTIFY_SOCKET is unset (nobody asked), or -errno. */
int shj_notify(const char *state);

#endif
