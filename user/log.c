// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <bpf/libbpf.h>

#include "log.h"

enum drv_log_level drv_log_level = DRV_LOG_WARN;
int drv_log_timestamps;

/*
 * The CLI's messages open with the word that says what they are ("Error: ",
 * "Warning: ", "Note: "). A timestamped log line has a level column for that:
 * the word becomes the level, so a line reads "error: X", never "warn: Error: X".
 */
static const struct {
	const char *word;
	const char *level;
} log_words[] = {
	{ "Error: ", "error" },
	{ "Warning: ", "warn" },
	{ "Note: ", "info" },
};

/* One timestamped line: "<ISO-8601 UTC> <level>: <message>". */
static void drv_vlog_ts(enum drv_log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "warn", "info", "debug", "libbpf" };
	const char *name = names[level];
	char buf[1024], ts[32], *msg = buf, *heap = NULL;
	struct timeval tv;
	struct tm tm;
	va_list aq;
	size_t i;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		heap = malloc((size_t)n + 1);
		if (heap) /* else the first 1023 bytes: better than no line */
			vsnprintf(heap, (size_t)n + 1, fmt, ap);
		msg = heap ? heap : buf;
	}
	for (i = 0; i < sizeof(log_words) / sizeof(log_words[0]); i++) {
		size_t len = strlen(log_words[i].word);

		if (!strncmp(msg, log_words[i].word, len)) {
			name = log_words[i].level;
			msg += len;
			break;
		}
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s: %s", ts, (long)tv.tv_usec / 1000, name, msg);
	free(heap);
}

static void drv_vlog(enum drv_log_level level, const char *fmt, va_list ap)
{
	if (level > drv_log_level)
		return;
	if (drv_log_timestamps)
		drv_vlog_ts(level, fmt, ap);
	else
		vfprintf(stderr, fmt, ap);
}

void drv_log(enum drv_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	drv_vlog(level, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's warnings show at -v, its info and debug only at -vv. */
	enum drv_log_level l = level == LIBBPF_WARN ? DRV_LOG_DEBUG : DRV_LOG_LIBBPF;

	drv_vlog(l, fmt, ap);
	return 0;
}

void drv_log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
