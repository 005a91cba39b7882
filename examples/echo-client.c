/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * echo-client: sends N numbered requests to an echo server over one TCP
 * connection each and checks that every reply echoes its request.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int roundtrip(int port, int i)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	char req[64], rep[64];
	int fd, len, got = 0, n, ok;

	len = snprintf(req, sizeof(req), "request %d\n", i);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    write(fd, req, (size_t)len) != len) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	shutdown(fd, SHUT_WR);
	while (got < (int)sizeof(rep) && (n = (int)read(fd, rep + got, sizeof(rep) - (size_t)got)) > 0)
		got += n;
	close(fd);
	ok = got == len && !memcmp(req, rep, (size_t)len);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	int port, count, i, ok = 0;

	if (argc != 3 || (port = atoi(argv[1])) <= 0 || port > 65535 ||
	    (count = atoi(argv[2])) <= 0) {
		fprintf(stderr, "Usage: echo-client PORT COUNT\n"
			"Send COUNT requests to the echo server on 127.0.0.1:PORT;\n"
			"exit 0 if every reply matched.\n");
		return 1;
	}
	for (i = 0; i < count; i++)
		ok += roundtrip(port, i) == 0;
	printf("echo-client: %d/%d replies matched\n", ok, count);
	return ok == count ? 0 : 1;
}
