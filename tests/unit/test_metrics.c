// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The agent's HTTP endpoint over real loopback sockets: /metrics, /healthz,
 * /readyz, a method other than GET or HEAD, an unknown path.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include "metrics.h"

static bool is_ready;
static bool is_stuck; /* alive fails, as the agent's does once its main loop is stuck */
static unsigned int renders; /* calls of render: each holds the agent's lock */
static bool is_busy; /* render gives up, as the agent's does when its lock is held long */
static size_t big; /* render pads /metrics to this many bytes of comments */
/*
 * While set, render says it began on held[1] and waits (20 s at most) for a
 * byte on release[0]: a render that takes long, as the agent's can.
 */
static bool is_held;
static int held[2] = { -1, -1 }, release[2] = { -1, -1 };

static int render(struct drv_mbuf *b, void *arg)
{
	struct pollfd p = { .events = POLLIN };
	char c = 0;

	(void)arg;
	renders++;
	if (is_held) {
		p.fd = release[0];
		if (write(held[1], &c, 1) != 1 || poll(&p, 1, 20000) != 1 ||
		    read(release[0], &c, 1) != 1)
			return -EBUSY;
	}
	if (is_busy)
		return -EBUSY;
	drv_mbuf_printf(b, "# TYPE drover_test gauge\ndrover_test 1\n");
	if (big)
		drv_mbuf_printf(b, "#%*s\n", (int)big, "");
	return 0;
}

static bool ready(void *arg, char *why, size_t len)
{
	(void)arg;
	if (!is_ready)
		snprintf(why, len, "waiting for the test");
	return is_ready;
}

static bool alive(void *arg, char *why, size_t len)
{
	(void)arg;
	if (is_stuck)
		snprintf(why, len, "main loop stuck for 3 s: restart it");
	return !is_stuck;
}

/*
 * Readers held on purpose (the stalled readers' test) must stay in flight while
 * the test makes its requests, however slowly a busy machine runs them: each
 * 16 MiB answer is fresh memory, and faulting it in took 1 s per request under
 * load, past the agent's 5 s idle timeout for the first readers.
 */
static const struct drv_metrics_ops ops = {
	.render = render,
	.ready = ready,
	.alive = alive,
	.idle_timeout_s = 120,
};

struct server {
	struct drv_metrics *m;
	unsigned short port;
};

/* A port the kernel had free a moment ago (another process may take it: start() tries again). */
static unsigned short free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Start @s with @o on a free loopback port (another process may take one: 10 tries). */
static void server_on(struct server *s, const struct drv_metrics_ops *o)
{
	char listen[32];

	for (int i = 0; i < 10 && !s->m; i++) {
		s->port = free_port();
		snprintf(listen, sizeof(listen), "127.0.0.1:%u", s->port);
		s->m = drv_metrics_start(listen, o);
	}
}

static int start(void **state)
{
	static struct server s;

	server_on(&s, &ops);
	*state = &s;
	return s.m ? 0 : -1;
}

static int stop(void **state)
{
	struct server *s = *state;

	drv_metrics_stop(s->m);
	s->m = NULL;
	return 0;
}

/* Send @req to the server, return its whole answer (the server closes, or 10 s pass). */
static char *ask(const struct server *s, const char *req)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(s->port) };
	struct timeval tv = { .tv_sec = 10 };
	static char buf[8192];
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	return buf;
}

#define REQ(method, path) method " " path " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

static void metrics_are_served_as_prometheus_text(void **state)
{
	char *a = ask(*state, REQ("GET", "/metrics"));

	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_non_null(strstr(a, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(a, "\r\n\r\n# TYPE drover_test gauge\ndrover_test 1\n"));
	a = ask(*state, REQ("HEAD", "/metrics"));
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_non_null(strstr(a, "\r\nContent-Length: 39\r\n"));
	assert_null(strstr(a, "drover_test 1"));
}

/* The agent's render gives up when its lock stays held: 503 "busy", then 200 again. */
static void metrics_busy_is_503(void **state)
{
	char *a;

	is_busy = true;
	a = ask(*state, REQ("GET", "/metrics"));
	assert_non_null(strstr(a, "HTTP/1.1 503"));
	assert_non_null(strstr(a, "\r\n\r\nbusy: the agent is applying a change"));
	is_busy = false;
	a = ask(*state, REQ("GET", "/metrics"));
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_non_null(strstr(a, "drover_test 1\n"));
}

static void readyz_says_why_it_is_not_ready(void **state)
{
	char *a;

	is_ready = false;
	a = ask(*state, REQ("GET", "/readyz"));
	assert_non_null(strstr(a, "HTTP/1.1 503"));
	assert_non_null(strstr(a, "\r\n\r\nnot ready: waiting for the test\n"));
	is_ready = true;
	a = ask(*state, REQ("GET", "/readyz"));
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	a = ask(*state, REQ("GET", "/healthz"));
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_non_null(strstr(a, "\r\n\r\nok\n"));
}

/* /healthz, the liveness probe: 503 with the agent's reason while it is stuck, 200 after. */
static void healthz_says_why_the_agent_is_not_alive(void **state)
{
	char *a;

	is_stuck = true;
	a = ask(*state, REQ("GET", "/healthz"));
	assert_non_null(strstr(a, "HTTP/1.1 503"));
	assert_non_null(strstr(a, "\r\n\r\nmain loop stuck for 3 s: restart it\n"));
	a = ask(*state, REQ("HEAD", "/healthz"));
	assert_non_null(strstr(a, "HTTP/1.1 503"));
	assert_null(strstr(a, "restart it"));
	is_stuck = false;
	a = ask(*state, REQ("GET", "/healthz"));
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_non_null(strstr(a, "\r\n\r\nok\n"));
}

/* RFC 9110 15.5.6: a 405 names the methods the resource takes. */
static void other_methods_are_refused_with_allow(void **state)
{
	char *a = ask(*state, REQ("POST", "/metrics"));

	assert_non_null(strstr(a, "HTTP/1.1 405"));
	assert_non_null(strstr(a, "\r\nAllow: GET, HEAD\r\n"));
	assert_non_null(strstr(a, "\r\n\r\nonly GET and HEAD\n"));
}

/* Connect to the server; the socket is left open, nothing sent. */
static int hold(const struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(s->port) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* As hold(), with a small receive window: an answer of megabytes waits for its reader. */
static int hold_small(const struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(s->port) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), rcv = 4096;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Read one whole answer to a request that asked to keep the connection (Content-Length). */
static void read_answer(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	char *body;

	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0) {
		n += (size_t)r;
		buf[n] = 0;
		body = strstr(buf, "\r\n\r\n");
		if (body && strstr(buf, "Content-Length: ") &&
		    strlen(body + 4) >= strtoul(strstr(buf, "Content-Length: ") + 16, NULL, 10))
			break;
	}
	buf[n] = 0;
}

/*
 * The probes (kubelet on 127.0.0.1) share their address with every local
 * client: connections some client holds idle, kept alive after a request or
 * opened and never used, must not keep /healthz and /readyz from answering.
 */
static void idle_connections_do_not_shut_out_the_probes(void **state)
{
	const char keep[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	int fds[80];
	char buf[1024], *a;
	size_t i;

	is_ready = true;
	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = hold(*state);
		if (i % 2)
			continue;
		assert_int_equal(write(fds[i], keep, strlen(keep)), (ssize_t)strlen(keep));
		read_answer(fds[i], buf, sizeof(buf));
	}
	a = ask(*state, REQ("GET", "/healthz"));
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	a = ask(*state, REQ("GET", "/readyz"));
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	/* the oldest idle one made room */
	assert_int_equal(read(fds[0], buf, sizeof(buf)), 0);
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
}

/* Room is made by closing idle connections only: an answer being read slowly is not cut. */
static void an_answer_in_flight_is_not_cut_for_room(void **state)
{
	const char req[] = REQ("GET", "/metrics");
	int fds[80], fd;
	size_t i, total = 0;
	char buf[65536];
	ssize_t r;

	big = 32 << 20; /* more than the socket buffers hold */
	fd = hold_small(*state);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	/* its answer has begun: the request is in flight */
	r = read(fd, buf, 1);
	assert_int_equal(r, 1);
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		fds[i] = hold(*state);
	assert_non_null(strstr(ask(*state, REQ("GET", "/healthz")), "HTTP/1.1 200"));
	total = 1;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)r;
	close(fd);
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	big = 0;
	/* the whole answer: headers and a body of at least 32 MiB */
	assert_true(total > (size_t)(32 << 20));
}

/*
 * Each /metrics answer is its own buffer (megabytes with many backends) until
 * its reader takes it: readers that stall must not grow the agent without
 * bound (the DaemonSet's memory limit kills it). Past 8 answers in flight,
 * /metrics says 503 at once; /healthz still answers; a slot frees when a
 * reader goes.
 */
static void stalled_metrics_readers_are_bounded(void **state)
{
	const char req[] = REQ("GET", "/metrics");
	int fds[12], ok = 0, busy = 0;
	char buf[64], *a = NULL;
	size_t i;
	ssize_t r;

	big = 16 << 20;
	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = hold_small(*state);
		assert_int_equal(write(fds[i], req, strlen(req)), (ssize_t)strlen(req));
		/* the status line: the answer has begun, or it was refused */
		r = read(fds[i], buf, 12);
		assert_int_equal(r, 12);
		buf[12] = 0;
		ok += !strcmp(buf, "HTTP/1.1 200");
		busy += !strcmp(buf, "HTTP/1.1 503");
	}
	assert_int_equal(ok, 8);
	assert_int_equal(busy, 4);
	assert_non_null(strstr(ask(*state, REQ("GET", "/healthz")), "HTTP/1.1 200"));
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	big = 0;
	/* the server sees the readers go within its poll: 10 s bound */
	for (i = 0; i < 100; i++) {
		a = ask(*state, REQ("GET", "/metrics"));
		if (strstr(a, "HTTP/1.1 200"))
			break;
		usleep(100000);
	}
	assert_non_null(strstr(a, "HTTP/1.1 200"));
}

/*
 * Read one answer from @fd into @buf: its headers, then as many bytes of body
 * as its Content-Length says (none for a HEAD). Return the bytes past the
 * answer that came with it (the start of another answer: a framing error).
 */
static size_t read_one_answer(int fd, bool head, char *buf, size_t len)
{
	size_t n = 0, want = 0;
	char *body = NULL, *cl;
	ssize_t r;

	while (n < len - 1) {
		buf[n] = 0;
		body = strstr(buf, "\r\n\r\n");
		if (body) {
			cl = strstr(buf, "\r\nContent-Length: ");
			want = head || !cl ? 0 : strtoul(cl + 18, NULL, 10);
			if (n - (size_t)(body + 4 - buf) >= want)
				break;
		}
		r = read(fd, buf + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	assert_non_null(body);
	return n - (size_t)(body + 4 - buf) - want;
}

/* The head of answer @a (status line and headers, but Date) into @out. */
static void head_of(const char *a, char *out, size_t len)
{
	const char *end = strstr(a, "\r\n\r\n"), *p, *eol;
	size_t n = 0, l;

	assert_non_null(end);
	for (p = a; p < end + 2; p = eol + 2) {
		eol = strstr(p, "\r\n");
		l = (size_t)(eol + 2 - p);
		if (!strncasecmp(p, "Date:", 5))
			continue;
		assert_true(n + l < len);
		memcpy(out + n, p, l);
		n += l;
	}
	out[n] = 0;
}

/*
 * HEAD answers what GET would, without the body (RFC 9110 9.3.2): the same
 * status line and headers, Content-Length too, in each state of the agent
 * (/metrics busy or not, /healthz stuck or not, /readyz ready or not, an
 * unknown path), and like GET it keeps its connection for the next request.
 * curl -I twice, then a GET: each answer framed right.
 */
static void head_answers_what_get_would_without_a_body(void **state)
{
	static const char *const paths[] = { "/metrics", "/healthz", "/readyz", "/metric" };
	const struct server *s = *state;
	char req[128], get[4096], head[4096], hget[2048], hhead[2048], cmd[256], out[4096];
	int fd = hold(s), st;
	size_t i, n;
	FILE *p;
	char *a;

	for (st = 0; st < 2; st++) {
		is_busy = is_stuck = st == 0;
		is_ready = st == 1;
		for (i = 0; i < ARRAY_SIZE(paths); i++) {
			snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
			assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL),
					 (ssize_t)strlen(req));
			assert_int_equal(read_one_answer(fd, false, get, sizeof(get)), 0);
			snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
			/* the write fails, or the read sees the end, once the server has closed */
			assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL),
					 (ssize_t)strlen(req));
			assert_int_equal(read_one_answer(fd, true, head, sizeof(head)), 0);
			head_of(get, hget, sizeof(hget));
			head_of(head, hhead, sizeof(hhead));
			if (!strcmp(hget, hhead) && !strcmp(strstr(head, "\r\n\r\n"), "\r\n\r\n"))
				continue;
			is_busy = is_stuck = false; /* for the tests after this one */
			is_ready = true;
			fail_msg("%s (%s): GET answered\n%s\nHEAD answered\n%s", paths[i],
				 st ? "200" : "503", get, head);
		}
	}
	is_busy = is_stuck = false;
	is_ready = true;
	close(fd);
	snprintf(
		cmd, sizeof(cmd),
		"curl -sS --max-time 10 -I http://127.0.0.1:%u/metrics -I http://127.0.0.1:%u/metrics"
		" 2>&1 && curl -sS --max-time 10 http://127.0.0.1:%u/metrics 2>&1",
		s->port, s->port, s->port);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	assert_int_equal(pclose(p), 0);
	a = strstr(out, "HTTP/1.1 200");
	assert_non_null(a);
	assert_non_null(strstr(a + 1, "HTTP/1.1 200"));
	assert_non_null(strstr(out, "drover_test 1\n"));
}

/*
 * Prometheus keeps its scrape connection open, and so does curl given several
 * URLs: each GET or HEAD of /healthz, /readyz and /metrics
 * over HTTP/1.1 is answered on the one connection, none with Connection: close,
 * and nothing follows an answer.
 */
static void answers_keep_their_connection_for_the_next_request(void **state)
{
	static const struct {
		const char *method, *path, *want;
	} reqs[] = {
		{ "GET", "/healthz", "\r\n\r\nok\n" },
		{ "GET", "/readyz", "\r\n\r\nready\n" },
		{ "GET", "/metrics", "\r\n\r\n# TYPE drover_test gauge\ndrover_test 1\n" },
		{ "HEAD", "/healthz", "\r\nContent-Length: 3\r\n" },
		{ "HEAD", "/readyz", "\r\nContent-Length: 6\r\n" },
		{ "HEAD", "/metrics", "\r\nContent-Length: 39\r\n" },
		{ "GET", "/metric", "\r\n\r\nnot found" },
		{ "DELETE", "/metrics", "\r\nAllow: GET, HEAD\r\n" },
		{ "GET", "/metrics", "\r\n\r\n# TYPE drover_test gauge\ndrover_test 1\n" },
	};
	char req[128], buf[4096];
	int fd = hold(*state);
	size_t i;

	is_ready = true;
	for (i = 0; i < ARRAY_SIZE(reqs); i++) {
		snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", reqs[i].method,
			 reqs[i].path);
		/* the write fails, or the read sees the end, once the server has closed */
		assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
		assert_int_equal(
			read_one_answer(fd, !strcmp(reqs[i].method, "HEAD"), buf, sizeof(buf)), 0);
		if (!strstr(buf, reqs[i].want) || strstr(buf, "Connection: close"))
			fail_msg("%s %s, request %zu on one connection, answered:\n%s",
				 reqs[i].method, reqs[i].path, i + 1, buf);
	}
	close(fd);
}

/*
 * Prometheus scrapes every 15 s to 1 min on one connection: a connection kept
 * alive after its answer outlasts the timeout that closes a connection silent
 * in a request (a stalled reader, one opened and never used), here 1 s. A
 * connection opened after the answer and never used is closed by that
 * timeout; the kept one, idle longer by then, still takes a request.
 */
static void a_kept_connection_outlasts_the_timeout_of_a_silent_one(void **state)
{
	const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	struct drv_metrics_ops short_ops = ops;
	struct server s = { 0 };
	char buf[1024];
	int kept, silent;
	ssize_t r;

	(void)state;
	short_ops.idle_timeout_s = 1;
	server_on(&s, &short_ops);
	assert_non_null(s.m);
	kept = hold(&s);
	assert_int_equal(send(kept, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	assert_int_equal(read_one_answer(kept, false, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\r\n\r\nok\n"));
	silent = hold(&s);
	/* the server closes it after 1 s (hold() gives up reading after 10 s) */
	assert_int_equal(read(silent, buf, sizeof(buf)), 0);
	if (send(kept, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		fail_msg("the kept connection was closed with the silent one: %s", strerror(errno));
	r = recv(kept, buf, sizeof(buf), MSG_PEEK);
	if (r <= 0)
		fail_msg("the kept connection was closed with the silent one (read: %zd, %s)", r,
			 r ? strerror(errno) : "end of stream");
	assert_int_equal(read_one_answer(kept, false, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\r\n\r\nok\n"));
	close(silent);
	close(kept);
	drv_metrics_stop(s.m);
}

/*
 * These endpoints take no body: a request with one (or one announced by Expect)
 * is answered at once without reading it (a client could stream one for ever),
 * and the connection closes.
 */
static void a_request_with_a_body_is_answered_and_its_connection_closed(void **state)
{
	static const char *const reqs[] = {
		"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		/* waits for 100 Continue, then for the answer; MHD would wait for a body */
		"GET /readyz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
	};
	static const char *const want[] = { "HTTP/1.1 405", "HTTP/1.1 200", "HTTP/1.1 200" };
	char buf[4096];
	size_t i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(reqs); i++) {
		fd = hold(*state);
		assert_int_equal(write(fd, reqs[i], strlen(reqs[i])), (ssize_t)strlen(reqs[i]));
		read_one_answer(fd, false, buf, sizeof(buf));
		if (!strstr(buf, want[i]))
			fail_msg("request %zu with a body, answered:\n%s", i + 1, buf);
		assert_non_null(strstr(buf, "\r\nConnection: close\r\n"));
		assert_int_equal(read(fd, buf, sizeof(buf)), 0);
		close(fd);
	}
}

static void unknown_paths_name_the_endpoints(void **state)
{
	char *a = ask(*state, REQ("GET", "/metric"));

	assert_non_null(strstr(a, "HTTP/1.1 404"));
	assert_non_null(strstr(a, "try /metrics, /healthz, /readyz"));
}

/*
 * The text buffer holds exactly what snprintf and the escaping rules give,
 * across every growth of it (lines of all lengths from 0 to past the first
 * 4,096 bytes), appended raw, as labels, and formatted; NUL-terminated.
 */
static void mbuf_holds_what_was_appended_across_growth(void **state)
{
	static const char lbl[] = "a\\b\"c\nd\"\"\\";
	static const char esc[] = "a\\\\b\\\"c\\nd\\\"\\\"\\\\";
	size_t cap = 1 << 21, len = 0, n;
	char *want = malloc(cap), line[5000];
	struct drv_mbuf b = { 0 };

	(void)state;
	assert_non_null(want);
	for (n = 0; n < 4200; n += n < 64 ? 1 : 97) {
		memset(line, 'x', n);
		line[n] = 0;
		drv_mbuf_printf(&b, "%zu:%s|%d\n", n, line, -(int)n);
		len += (size_t)snprintf(want + len, cap - len, "%zu:%s|%d\n", n, line, -(int)n);
		drv_mbuf_label(&b, n % 3 ? lbl : "");
		len += (size_t)snprintf(want + len, cap - len, "%s", n % 3 ? esc : "");
		drv_mbuf_put(&b, line, n / 2);
		len += (size_t)snprintf(want + len, cap - len, "%.*s", (int)(n / 2), line);
		assert_int_equal(b.err, 0);
		assert_int_equal(b.len, len);
		assert_int_equal(b.p[b.len], 0);
	}
	assert_memory_equal(b.p, want, len);
	drv_mbuf_free(&b);
	free(want);
}

/*
 * held_render - ask @s for /metrics on a connection of its own, with render
 * held (is_held), and wait until the render has begun. Return: the
 * connection; a byte on release[1] lets the render go on.
 */
static int held_render(struct server *s)
{
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct pollfd p = { .events = POLLIN };
	char c;
	int fd;

	assert_int_equal(pipe(held), 0);
	assert_int_equal(pipe(release), 0);
	is_held = true;
	fd = hold(s);
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	p.fd = held[0];
	assert_int_equal(poll(&p, 1, 10000), 1); /* the render began */
	assert_int_equal(read(held[0], &c, 1), 1);
	is_held = false;
	return fd;
}

/* Close held_render's pipes. */
static void held_render_done(void)
{
	close(held[0]);
	close(held[1]);
	close(release[0]);
	close(release[1]);
}

/*
 * /healthz (the liveness probe, 3 s) and /readyz never wait behind a /metrics
 * render, which reads every map and, now and then, walks the whole flow
 * table: both answer at once, on connections of their own, while a render
 * is held; the held scrape then answers 200 whole.
 */
static void probes_answer_while_metrics_renders(void **state)
{
	char buf[4096], c = 0, *a;
	int fd;

	is_ready = true;
	fd = held_render(*state);
	a = ask(*state, REQ("GET", "/healthz"));
	if (!strstr(a, "HTTP/1.1 200") || !strstr(a, "\r\n\r\nok\n")) {
		assert_int_equal(write(release[1], &c, 1), 1);
		fail_msg("/healthz, asked while a /metrics render was held, did not answer 200 within 10 s; it answered:\n%s",
			 a);
	}
	a = ask(*state, REQ("GET", "/readyz"));
	if (!strstr(a, "HTTP/1.1 200") || !strstr(a, "\r\n\r\nready\n")) {
		assert_int_equal(write(release[1], &c, 1), 1);
		fail_msg("/readyz, asked while a /metrics render was held, did not answer 200 within 10 s; it answered:\n%s",
			 a);
	}
	assert_int_equal(write(release[1], &c, 1), 1);
	assert_int_equal(read_one_answer(fd, false, buf, sizeof(buf)), 0);
	if (!strstr(buf, "HTTP/1.1 200") || !strstr(buf, "\r\n\r\n# TYPE drover_test gauge\n"))
		fail_msg("the held /metrics answered, once let go:\n%s", buf);
	close(fd);
	held_render_done();
}

/*
 * A render that outlasts the timeout of a silent connection (here 1 s) is
 * answered all the same: its connection waits for it, not for its reader.
 */
static void a_render_longer_than_the_idle_timeout_is_answered(void **state)
{
	struct drv_metrics_ops short_ops = ops;
	struct server s = { 0 };
	char buf[4096], c = 0;
	int fd;

	(void)state;
	short_ops.idle_timeout_s = 1;
	server_on(&s, &short_ops);
	assert_non_null(s.m);
	fd = held_render(&s);
	/* held past the timeout: 2.5 s, not a wait for anything */
	poll(NULL, 0, 2500);
	assert_int_equal(write(release[1], &c, 1), 1);
	assert_int_equal(read_one_answer(fd, false, buf, sizeof(buf)), 0);
	if (!strstr(buf, "HTTP/1.1 200") || !strstr(buf, "\r\n\r\n# TYPE drover_test gauge\n"))
		fail_msg("a /metrics render held 2.5 s (idle timeout 1 s) answered:\n%s", buf);
	close(fd);
	close(held[0]);
	close(held[1]);
	close(release[0]);
	close(release[1]);
	drv_metrics_stop(s.m);
}

static void *stopper(void *arg)
{
	drv_metrics_stop(arg);
	return NULL;
}

/*
 * The server stops (the agent exits, or moves the endpoint) while a render
 * is under way and another is queued behind it: the one under way ends, the
 * queued one is let go unrendered (MHD 0.9.75 aborts the process if it
 * stops with a connection still suspended), a scrape that comes meanwhile
 * is answered 503 at once, and the stop returns.
 */
static void stopping_with_renders_queued_lets_them_go(void **state)
{
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct pollfd p = { .events = POLLIN };
	struct server s = { 0 };
	char buf[4096], c = 0;
	int fd1, fd2, more[50], n = 0;
	bool refused = false;
	pthread_t t;

	(void)state;
	server_on(&s, &ops);
	assert_non_null(s.m);
	fd1 = held_render(&s);
	fd2 = hold(&s); /* queued behind the first */
	assert_int_equal(send(fd2, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	/* answered after it, nearly always: MHD took the request of fd2 by then */
	for (int i = 0; i < 2; i++)
		assert_non_null(strstr(ask(&s, REQ("GET", "/healthz")), "HTTP/1.1 200"));
	assert_int_equal(pthread_create(&t, NULL, stopper, s.m), 0);
	/* the stop has begun once a scrape is refused (those before it queue: bounded) */
	while (!refused && n < (int)ARRAY_SIZE(more)) {
		more[n] = hold(&s);
		assert_int_equal(send(more[n], req, strlen(req), MSG_NOSIGNAL),
				 (ssize_t)strlen(req));
		p.fd = more[n++];
		if (poll(&p, 1, 200) == 1 && read_one_answer(p.fd, false, buf, sizeof(buf)) == 0)
			refused = strstr(buf, "HTTP/1.1 503") && strstr(buf, "stopping");
	}
	assert_int_equal(write(release[1], &c, 1), 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (!refused)
		fail_msg("no /metrics was refused 503 while the server stopped (%d asked)", n);
	close(fd1);
	close(fd2);
	while (n--)
		close(more[n]);
	held_render_done();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(metrics_are_served_as_prometheus_text),
		cmocka_unit_test(mbuf_holds_what_was_appended_across_growth),
		cmocka_unit_test(metrics_busy_is_503),
		cmocka_unit_test(readyz_says_why_it_is_not_ready),
		cmocka_unit_test(healthz_says_why_the_agent_is_not_alive),
		cmocka_unit_test(other_methods_are_refused_with_allow),
		cmocka_unit_test(unknown_paths_name_the_endpoints),
		cmocka_unit_test(answers_keep_their_connection_for_the_next_request),
		cmocka_unit_test(head_answers_what_get_would_without_a_body),
		cmocka_unit_test(a_request_with_a_body_is_answered_and_its_connection_closed),
		cmocka_unit_test(a_kept_connection_outlasts_the_timeout_of_a_silent_one),
		cmocka_unit_test(idle_connections_do_not_shut_out_the_probes),
		cmocka_unit_test(an_answer_in_flight_is_not_cut_for_room),
		cmocka_unit_test(stalled_metrics_readers_are_bounded),
		cmocka_unit_test(probes_answer_while_metrics_renders),
		cmocka_unit_test(a_render_longer_than_the_idle_timeout_is_answered),
		cmocka_unit_test(stopping_with_renders_queued_lets_them_go),
	};

	return cmocka_run_group_tests(tests, start, stop);
}
