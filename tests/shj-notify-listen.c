/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shj-notify-listen SOCKET SECS: stand in for systemd's end of Type=notify.
 * Binds a unix datagram socket (a path, or an abstract name after '@'),
 * prints "listening", then each message it gets, one line each; exits 0
 * once a message has the line READY=1, 1 after SECS seconds without one.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t len;
	time_t end;
	int fd;

	if (argc != 3 || (argv[1][0] != '/' && argv[1][0] != '@') ||
	    (len = strlen(argv[1])) >= sizeof(sa.sun_path) || atoi(argv[2]) <= 0) {
		fprintf(stderr, "usage: shj-notify-listen /PATH|@NAME SECS\n");
		return 2;
	}
	memcpy(sa.sun_path, argv[1], len);
	if (argv[1][0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len))) {
		perror("shj-notify-listen: bind");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);
	end = time(NULL) + atoi(argv[2]);
	while (time(NULL) < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			continue;
		buf[n] = '\0';
		printf("%s\n", buf);
		fflush(stdout);
		if (!strcmp(buf, "READY=1") || strstr(buf, "\nREADY=1") ||
		    !strncmp(buf, "READY=1\n", 8))
			return 0;
	}
	return 1;
}
