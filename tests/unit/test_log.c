// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drv_log: the CLI's lines as written, and the agent's timestamped lines with
 * one prefix: its level, taken from the message's Error:/Warning:/Note: word.
 * stderr is sent to a temporary file and read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static char got[8192];

/* What @fn wrote on stderr (fd 2), with timestamps as @ts, into got. */
static void capture(void (*fn)(void), int ts)
{
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(f), 2) >= 0);
	drv_log_timestamps = ts;
	drv_log_level = DRV_LOG_INFO;
	fn();
	fflush(stderr);
	drv_log_timestamps = 0;
	drv_log_level = DRV_LOG_WARN;
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	rewind(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = 0;
	fclose(f);
}

/* got, a line "YYYY-MM-DDTHH:MM:SS.mmmZ " + @want: the timestamp checked, the rest equal. */
static void assert_ts_line(const char *want)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
	size_t i;

	for (i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? got[i] >= '0' && got[i] <= '9' : got[i] == shape[i])
			continue;
		fail_msg("'%s' has no timestamp at %zu", got, i);
	}
	assert_string_equal(got + sizeof(shape) - 1, want);
}

static void log_error(void)
{
	pr_warn("Error: can't lock pin root %s: %s\n", "/sys/fs/bpf/drover", "busy");
}

static void log_warning(void)
{
	pr_warn("Warning: ipv4 forwarding is off on %s\n", "eth0");
}

static void log_note(void)
{
	pr_warn("Note: %s: set accept_local=1\n", "eth0");
}

static void log_word_in_argument(void)
{
	pr_warn("%s\n", "Error: pin root /x: /x does not exist");
}

static void log_plain(void)
{
	pr_warn("agent: exiting (said above)\n");
	pr_info("reload: ok\n");
}

static void log_error_word_later(void)
{
	pr_warn("reload: Error: is not at the start\n");
}

static void log_long(void)
{
	static char x[3001];

	memset(x, 'x', sizeof(x) - 1);
	pr_warn("Error: %s\n", x);
}

/*
 * The agent logged "2026-...Z warn: Error: can't ...", "warn: Warning: ...", "warn: Note:
 * ...": a level and a word that both say what the line is. One of them is enough.
 */
static void agent_line_has_one_prefix_its_level(void **state)
{
	(void)state;
	capture(log_error, 1);
	assert_ts_line("error: can't lock pin root /sys/fs/bpf/drover: busy\n");
	capture(log_warning, 1);
	assert_ts_line("warn: ipv4 forwarding is off on eth0\n");
	capture(log_note, 1);
	assert_ts_line("info: eth0: set accept_local=1\n");
	capture(log_word_in_argument, 1);
	assert_ts_line("error: pin root /x: /x does not exist\n");
	capture(log_error_word_later, 1);
	assert_ts_line("warn: reload: Error: is not at the start\n");
}

static void agent_line_without_a_word_keeps_its_level(void **state)
{
	(void)state;
	capture(log_plain, 1);
	assert_int_equal(strlen(got), 2 * 25 + strlen("warn: agent: exiting (said above)\n") +
					      strlen("info: reload: ok\n"));
	assert_non_null(strstr(got, "Z warn: agent: exiting (said above)\n"));
	assert_non_null(strstr(got, "Z info: reload: ok\n"));
}

static void agent_line_longer_than_the_buffer_is_whole(void **state)
{
	size_t n;

	(void)state;
	capture(log_long, 1);
	n = strlen(got);
	assert_int_equal(n, 25 + strlen("error: ") + 3000 + 1);
	assert_memory_equal(got + 25, "error: xxx", 10);
	assert_int_equal(got[n - 1], '\n');
	assert_int_equal(got[n - 2], 'x');
}

/* The CLI writes no level: its "Error:" is the only prefix, and stays. */
static void cli_line_is_written_as_it_is(void **state)
{
	(void)state;
	capture(log_error, 0);
	assert_string_equal(got, "Error: can't lock pin root /sys/fs/bpf/drover: busy\n");
	capture(log_note, 0);
	assert_string_equal(got, "Note: eth0: set accept_local=1\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agent_line_has_one_prefix_its_level),
		cmocka_unit_test(agent_line_without_a_word_keeps_its_level),
		cmocka_unit_test(agent_line_longer_than_the_buffer_is_whole),
		cmocka_unit_test(cli_line_is_written_as_it_is),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
