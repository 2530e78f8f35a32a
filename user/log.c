// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <stdio.h>
#include <time.h>
#include <sys/time.h>

#include <bpf/libbpf.h>

#include "log.h"

enum drv_log_level drv_log_level = DRV_LOG_WARN;
int drv_log_timestamps;

static void drv_vlog(enum drv_log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "warn", "info", "debug", "libbpf" };

	if (level > drv_log_level)
		return;
	if (drv_log_timestamps) {
		struct timeval tv;
		struct tm tm;
		char ts[32];

		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s: ", ts, (long)tv.tv_usec / 1000, names[level]);
	}
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
