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
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>

#include "metrics.h"

static bool is_ready;

static void render(struct drv_mbuf *b, void *arg)
{
	(void)arg;
	drv_mbuf_printf(b, "# TYPE drover_test gauge\ndrover_test 1\n");
}

static bool ready(void *arg, char *why, size_t len)
{
	(void)arg;
	if (!is_ready)
		snprintf(why, len, "waiting for the test");
	return is_ready;
}

static const struct drv_metrics_ops ops = { .render = render, .ready = ready };

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

static int start(void **state)
{
	static struct server s;
	char listen[32];

	for (int i = 0; i < 10 && !s.m; i++) {
		s.port = free_port();
		snprintf(listen, sizeof(listen), "127.0.0.1:%u", s.port);
		s.m = drv_metrics_start(listen, &ops);
	}
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
	assert_null(strstr(a, "drover_test 1"));
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

/* RFC 9110 15.5.6: a 405 names the methods the resource takes. */
static void other_methods_are_refused_with_allow(void **state)
{
	char *a = ask(*state, REQ("POST", "/metrics"));

	assert_non_null(strstr(a, "HTTP/1.1 405"));
	assert_non_null(strstr(a, "\r\nAllow: GET, HEAD\r\n"));
	assert_non_null(strstr(a, "\r\n\r\nonly GET and HEAD\n"));
}

static void unknown_paths_name_the_endpoints(void **state)
{
	char *a = ask(*state, REQ("GET", "/metric"));

	assert_non_null(strstr(a, "HTTP/1.1 404"));
	assert_non_null(strstr(a, "try /metrics, /healthz, /readyz"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(metrics_are_served_as_prometheus_text),
		cmocka_unit_test(readyz_says_why_it_is_not_ready),
		cmocka_unit_test(other_methods_are_refused_with_allow),
		cmocka_unit_test(unknown_paths_name_the_endpoints),
	};

	return cmocka_run_group_tests(tests, start, stop);
}
