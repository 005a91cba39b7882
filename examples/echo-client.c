/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * echo-client: sends COUNT requests ("ID SERVICE_US PAYLOAD") to the UDP echo
 * server, one at a time, and checks that every reply echoes its request.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 2 };
	int port, count, i, fd, ok = 0, len;
	double service_us = 0;
	char req[128], rep[256];
	ssize_t n;

	if ((argc != 3 && argc != 4) || (port = atoi(argv[1])) <= 0 || port > 65535 ||
	    (count = atoi(argv[2])) <= 0 ||
	    (argc == 4 && (service_us = atof(argv[3])) < 0)) {
		fprintf(stderr, "Usage: echo-client PORT COUNT [SERVICE_US]\n"
			"Send COUNT requests to the echo server on 127.0.0.1:PORT\n"
			"(UDP; each asks for SERVICE_US of work, default 0); exit 0\n"
			"if every reply matched. A reply missing for 2 s counts as lost.\n");
		return 1;
	}
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		perror("echo-client");
		return 1;
	}
	for (i = 0; i < count; i++) {
		len = snprintf(req, sizeof(req), "%d %.0f request %d", i, service_us, i);
		if (send(fd, req, (size_t)len, 0) != len)
			continue;
		while ((n = recv(fd, rep, sizeof(rep), 0)) > 0) {
			if (n == len && !memcmp(req, rep, (size_t)len)) {
				ok++;
				break;
			}	/* else a late reply to an earlier request: skip */
		}
	}
	close(fd);
	printf("echo-client: %d/%d replies matched\n", ok, count);
	return ok == count ? 0 : 1;
}
