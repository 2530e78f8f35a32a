// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover-bench-client: TCP load for the benchmark, bounded in time.
 *
 *   conn   new connection per request: connect, one request, read the reply,
 *          close (the client closes first, as wrk does with keep-alive off)
 *   ka     requests over kept-alive connections, one outstanding per
 *          connection; prints req/s and round-trip p50/p99
 *
 * usage: drover-bench-client conn|ka -t ADDR:PORT [-c CONNS] [-d SECONDS]
 *                            [-s SRCADDR ...]
 * Output: key=value lines on stdout.
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

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_CONNS 1024
#define MAX_SRCS 32
#define MAX_SAMPLES (4u << 20)
#define CONN_TIMEOUT_NS 2000000000ULL

static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
#define REPLY_LEN (sizeof(reply) - 1)

enum cstate { C_IDLE, C_CONNECTING, C_WAITING };

struct conn {
	int fd;
	enum cstate st;
	size_t got;		/* reply bytes so far */
	unsigned long long t0;	/* request (or connect) start, ns */
};

static struct sockaddr_in target;
static struct in_addr srcs[MAX_SRCS];
static int nsrcs, keepalive;
static unsigned int next_src;
static unsigned long long done, errors, timeouts;
static unsigned long long *samples;
static unsigned int nsamples;

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int parse_addr(const char *spec, struct sockaddr_in *sa)
{
	char host[64], *colon;

	snprintf(host, sizeof(host), "%s", spec);
	colon = strrchr(host, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void conn_close(int ep, struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->st = C_IDLE;
}

static int conn_start(int ep, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (nsrcs) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr = srcs[next_src++ % nsrcs] };

		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(c->fd);
			c->fd = -1;
			return -1;
		}
	}
	c->t0 = now_ns();
	c->got = 0;
	if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->st = C_CONNECTING;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static int conn_send(int ep, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if (write(c->fd, request, sizeof(request) - 1) != (ssize_t)(sizeof(request) - 1))
		return -1;
	c->st = C_WAITING;
	c->got = 0;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	struct epoll_event evs[256];
	unsigned long long start, end, last_check, measure_from;
	double duration = 3, warmup = 0.5;
	int nconns = 32, ep, opt;
	const char *mode = argc > 1 ? argv[1] : "";
	char buf[512];

	if (!strcmp(mode, "ka"))
		keepalive = 1;
	else if (strcmp(mode, "conn"))
		goto usage;
	optind = 2;
	while ((opt = getopt(argc, argv, "t:c:d:s:w:")) != -1) {
		switch (opt) {
		case 't':
			if (parse_addr(optarg, &target))
				goto usage;
			break;
		case 'c':
			nconns = atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'w':
			warmup = atof(optarg);
			break;
		case 's':
			if (nsrcs == MAX_SRCS || inet_pton(AF_INET, optarg, &srcs[nsrcs]) != 1)
				goto usage;
			nsrcs++;
			break;
		default:
			goto usage;
		}
	}
	if (!target.sin_port || nconns < 1 || nconns > MAX_CONNS || duration <= 0 ||
	    duration > 600 || warmup < 0 || warmup > 10)
		goto usage;
	samples = keepalive ? calloc(MAX_SAMPLES, sizeof(*samples)) : NULL;
	ep = epoll_create1(0);
	for (int i = 0; i < nconns; i++)
		conns[i].fd = -1;

	start = now_ns();
	measure_from = start + (unsigned long long)(warmup * 1e9);
	end = measure_from + (unsigned long long)(duration * 1e9);
	last_check = start;
	for (int i = 0; i < nconns; i++)
		if (conn_start(ep, &conns[i]) && start >= measure_from)
			errors++;

	for (unsigned long long t = now_ns(); t < end; t = now_ns()) {
		int n = epoll_wait(ep, evs, 256, 50);

		t = now_ns();
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r;

			if (c->st == C_CONNECTING) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err || (evs[i].events & (EPOLLERR | EPOLLHUP)) || conn_send(ep, c)) {
					if (t >= measure_from)
						errors++;
					conn_close(ep, c);
				} else if (keepalive) {
					c->t0 = t;
				}
				continue;
			}
			r = read(c->fd, buf, sizeof(buf));
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0) {
				if (t >= measure_from)
					errors++;
				conn_close(ep, c);
				continue;
			}
			c->got += (size_t)r;
			if (c->got < REPLY_LEN)
				continue;
			if (t >= measure_from) {
				done++;
				if (keepalive && nsamples < MAX_SAMPLES)
					samples[nsamples++] = t - c->t0;
			}
			if (keepalive) {
				c->t0 = t;
				if (conn_send(ep, c)) {
					if (t >= measure_from)
						errors++;
					conn_close(ep, c);
				}
			} else {
				conn_close(ep, c);
			}
		}
		/* refill closed slots; time out stuck ones (lost SYN, no reply) */
		if (t - last_check > 10000000ULL || n == 0) {
			last_check = t;
			for (int i = 0; i < nconns; i++)
				if (conns[i].st != C_IDLE && t - conns[i].t0 > CONN_TIMEOUT_NS) {
					if (t >= measure_from)
						timeouts++;
					conn_close(ep, &conns[i]);
				}
		}
		for (int i = 0; i < nconns; i++)
			if (conns[i].st == C_IDLE && conn_start(ep, &conns[i]) && t >= measure_from)
				errors++;
	}
	printf("mode=%s\nconns=%d\nseconds=%.3f\ndone=%llu\nrate=%.1f\nerrors=%llu\ntimeouts=%llu\n",
	       mode, nconns, duration, done, done / duration, errors, timeouts);
	if (keepalive && nsamples) {
		qsort(samples, nsamples, sizeof(*samples), cmp_u64);
		printf("p50_us=%.2f\np99_us=%.2f\n", samples[nsamples / 2] / 1e3,
		       samples[(unsigned long long)nsamples * 99 / 100] / 1e3);
	}
	return done ? 0 : 1;
usage:
	fprintf(stderr, "usage: %s conn|ka -t ADDR:PORT [-c CONNS] [-d SECONDS] [-w WARMUP] "
			"[-s SRCADDR ...]\n", argv[0]);
	return 2;
}
