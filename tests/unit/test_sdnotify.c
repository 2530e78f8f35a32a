// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The systemd notify protocol: $NOTIFY_SOCKET's address, $WATCHDOG_USEC and
 * $WATCHDOG_PID as sd_watchdog_enabled() reads them, STATUS= lines, and one
 * message through a real AF_UNIX datagram socket (an abstract name of this test).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "sdnotify.h"

static void notify_socket_path_is_taken_with_its_nul(void **state)
{
	struct sockaddr_un sa;
	socklen_t len = 0;

	(void)state;
	assert_int_equal(drv_sd_addr_parse("/run/systemd/notify", &sa, &len), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_string_equal(sa.sun_path, "/run/systemd/notify");
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
}

static void notify_socket_at_is_an_abstract_name_without_nul(void **state)
{
	struct sockaddr_un sa;
	socklen_t len = 0;

	(void)state;
	assert_int_equal(drv_sd_addr_parse("@sd/notify", &sa, &len), 0);
	assert_int_equal(sa.sun_path[0], 0);
	assert_memory_equal(sa.sun_path + 1, "sd/notify", 9);
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 10);
}

static void notify_socket_of_another_form_is_refused(void **state)
{
	char longest[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
	struct sockaddr_un sa;
	socklen_t len;

	(void)state;
	assert_int_equal(drv_sd_addr_parse(NULL, &sa, &len), -EINVAL);
	assert_int_equal(drv_sd_addr_parse("", &sa, &len), -EINVAL);
	assert_int_equal(drv_sd_addr_parse("@", &sa, &len), -EINVAL);
	assert_int_equal(drv_sd_addr_parse("/", &sa, &len), -EINVAL);
	assert_int_equal(drv_sd_addr_parse("run/notify", &sa, &len), -EINVAL);
	assert_int_equal(drv_sd_addr_parse("vsock:2:1234", &sa, &len), -EINVAL);
	/* a path fills sun_path only with its NUL; an abstract name may fill it */
	memset(longest, 'a', sizeof(longest));
	longest[0] = '/';
	longest[sizeof(longest) - 2] = 0; /* sizeof(sun_path) characters */
	assert_int_equal(drv_sd_addr_parse(longest, &sa, &len), -EINVAL);
	longest[sizeof(longest) - 3] = 0;
	assert_int_equal(drv_sd_addr_parse(longest, &sa, &len), 0);
	longest[0] = '@';
	longest[sizeof(longest) - 3] = 'a';
	assert_int_equal(drv_sd_addr_parse(longest, &sa, &len), 0);
	assert_int_equal(len, sizeof(sa));
	longest[sizeof(longest) - 2] = 'a';
	longest[sizeof(longest) - 1] = 0;
	assert_int_equal(drv_sd_addr_parse(longest, &sa, &len), -EINVAL);
}

/* sd_watchdog_enabled(): on for this pid, off for another or when unset, refused when malformed. */
static void watchdog_is_on_only_for_the_pid_it_names(void **state)
{
	__u64 u = 7;

	(void)state;
	assert_int_equal(drv_sd_watchdog_parse(NULL, NULL, 42, &u), 0);
	assert_int_equal(drv_sd_watchdog_parse(NULL, "42", 42, &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(drv_sd_watchdog_parse("30000000", NULL, 42, &u), 1);
	assert_int_equal(u, 30000000);
	assert_int_equal(drv_sd_watchdog_parse("2000000", "42", 42, &u), 1);
	assert_int_equal(u, 2000000);
	u = 7;
	assert_int_equal(drv_sd_watchdog_parse("2000000", "43", 42, &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(drv_sd_watchdog_parse("18446744073709551614", NULL, 42, &u), 1);
	assert_true(u == 18446744073709551614ULL);
}

static void watchdog_values_libsystemd_refuses_are_refused(void **state)
{
	static const char *const bad_usec[] = {
		"", "0", "-5", " 5", "5 ", "5s", "0x10", "18446744073709551615",
		"18446744073709551616", "1e6",
	};
	static const char *const bad_pid[] = { "", "0", "-1", "x", "42x", "4294967338" };
	__u64 u = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_usec) / sizeof(bad_usec[0]); i++)
		if (drv_sd_watchdog_parse(bad_usec[i], NULL, 42, &u) != -EINVAL)
			fail_msg("WATCHDOG_USEC='%s' was not refused", bad_usec[i]);
	for (i = 0; i < sizeof(bad_pid) / sizeof(bad_pid[0]); i++)
		if (drv_sd_watchdog_parse("1000", bad_pid[i], 42, &u) != -EINVAL)
			fail_msg("WATCHDOG_PID='%s' was not refused", bad_pid[i]);
	assert_int_equal(u, 7);
}

static void status_is_one_line_cut_to_fit(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(drv_sd_status(buf, sizeof(buf), "ready: 2 services"),
			    "STATUS=ready: 2 services");
	assert_string_equal(drv_sd_status(buf, sizeof(buf), "a\nb\tc\rd"), "STATUS=a b c d");
	assert_string_equal(drv_sd_status(buf, sizeof(buf), "0123456789012345678901234567890123"),
			    "STATUS=012345678901234567890123");
}

/* A message reaches a listener on the socket $NOTIFY_SOCKET names, as one datagram. */
static void message_reaches_the_notify_socket(void **state)
{
	char name[64], why[256], got[64];
	struct sockaddr_un sa;
	struct drv_sd sd;
	socklen_t len;
	ssize_t n;
	int lfd;

	(void)state;
	snprintf(name, sizeof(name), "@drover-test-sdnotify-%d", (int)getpid());
	assert_int_equal(drv_sd_addr_parse(name, &sa, &len), 0);
	lfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, len), 0);

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(drv_sd_open(&sd, why, sizeof(why)), 0);
	assert_int_equal(sd.fd, -1);
	assert_int_equal(drv_sd_send(&sd, "READY=1"), 0); /* dropped: nobody asked */

	setenv("NOTIFY_SOCKET", name, 1);
	setenv("WATCHDOG_USEC", "4000000", 1);
	snprintf(got, sizeof(got), "%d", (int)getpid());
	setenv("WATCHDOG_PID", got, 1);
	assert_int_equal(drv_sd_open(&sd, why, sizeof(why)), 0);
	assert_true(sd.fd >= 0);
	assert_int_equal(sd.watchdog_usec, 4000000);
	assert_int_equal(drv_sd_send(&sd, "READY=1\nSTATUS=ready"), 0);
	n = recv(lfd, got, sizeof(got) - 1, MSG_DONTWAIT);
	assert_int_equal(n, strlen("READY=1\nSTATUS=ready"));
	got[n] = 0;
	assert_string_equal(got, "READY=1\nSTATUS=ready");
	drv_sd_close(&sd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(drv_sd_open(&sd, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "'relative/path'"));
	assert_int_equal(sd.fd, -1);
	setenv("NOTIFY_SOCKET", name, 1);
	setenv("WATCHDOG_USEC", "soon", 1);
	assert_int_equal(drv_sd_open(&sd, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "'soon'"));
	assert_int_equal(sd.fd, -1);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(notify_socket_path_is_taken_with_its_nul),
		cmocka_unit_test(notify_socket_at_is_an_abstract_name_without_nul),
		cmocka_unit_test(notify_socket_of_another_form_is_refused),
		cmocka_unit_test(watchdog_is_on_only_for_the_pid_it_names),
		cmocka_unit_test(watchdog_values_libsystemd_refuses_are_refused),
		cmocka_unit_test(status_is_one_line_cut_to_fit),
		cmocka_unit_test(message_reaches_the_notify_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
