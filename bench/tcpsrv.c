// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover-bench-srv: a small epoll TCP server for the benchmark's nodes. Every
 * request (bytes up to a blank line, "\r\n\r\n") gets one fixed HTTP response;
 * connections stay open until the client closes them. It stops by itself
 * after --duration seconds.
 *
 * usage: drover-bench-srv -l ADDR:PORT [-l ...] [-d SECONDS]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define MAX_LISTEN 8
#define MAX_EVENTS 256

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

struct conn {
	int fd;
	int match;	/* bytes of "\r\n\r\n" matched so far */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int listen_on(const char *spec)
{
	char host[64], *colon;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, one = 1;

	snprintf(host, sizeof(host), "%s", spec);
	colon = strrchr(host, ':');
	if (!colon) {
		fprintf(stderr, "drover-bench-srv: listen address '%s' is not ADDR:PORT\n", spec);
		return -1;
	}
	*colon = '\0';
	sa.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "drover-bench-srv: '%s' is not an IPv4 address\n", host);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		fprintf(stderr, "drover-bench-srv: cannot listen on %s: %s\n", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Count complete requests in @buf, carrying the terminator match across reads. */
static int count_requests(struct conn *c, const char *buf, ssize_t n)
{
	static const char term[] = "\r\n\r\n";
	int reqs = 0;

	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == term[c->match])
			c->match++;
		else
			c->match = buf[i] == '\r' ? 1 : 0;
		if (c->match == 4) {
			reqs++;
			c->match = 0;
		}
	}
	return reqs;
}

int main(int argc, char **argv)
{
	int lfd[MAX_LISTEN], nl = 0, ep, opt;
	struct epoll_event ev, evs[MAX_EVENTS];
	double duration = 60, end;
	char buf[4096];

	while ((opt = getopt(argc, argv, "l:d:")) != -1) {
		switch (opt) {
		case 'l':
			if (nl == MAX_LISTEN)
				return 2;
			lfd[nl] = listen_on(optarg);
			if (lfd[nl] < 0)
				return 1;
			nl++;
			break;
		case 'd':
			duration = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s -l ADDR:PORT [-l ...] [-d SECONDS]\n", argv[0]);
			return 2;
		}
	}
	if (!nl || duration <= 0 || duration > 3600) {
		fprintf(stderr, "usage: %s -l ADDR:PORT [-l ...] [-d SECONDS (1..3600)]\n", argv[0]);
		return 2;
	}
	ep = epoll_create1(0);
	for (int i = 0; i < nl; i++) {
		ev.events = EPOLLIN;
		ev.data.ptr = NULL;
		ev.data.u64 = (unsigned long)i; /* small integers: listening sockets */
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
	}
	end = now_s() + duration;
	while (now_s() < end) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, 200);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 < MAX_LISTEN) {
				int l = lfd[evs[i].data.u64];

				for (int k = 0; k < 64; k++) {
					int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
					struct conn *c;
					int one = 1;

					if (fd < 0)
						break;
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					c->fd = fd;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			struct conn *c = evs[i].data.ptr;
			ssize_t r = read(c->fd, buf, sizeof(buf));

			if (r > 0) {
				int reqs = count_requests(c, buf, r);

				/* one write per request; the client waits for each reply */
				for (int k = 0; k < reqs; k++)
					if (write(c->fd, response, sizeof(response) - 1) < 0)
						break;
				continue;
			}
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			free(c);
		}
	}
	return 0;
}
