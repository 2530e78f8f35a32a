/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Logging: stderr only, levels; stdout is for results. */
#ifndef __DROVER_LOG_H
#define __DROVER_LOG_H

#include <stdarg.h>

enum drv_log_level {
	DRV_LOG_WARN = 0,
	DRV_LOG_INFO = 1,
	DRV_LOG_DEBUG = 2,
	DRV_LOG_LIBBPF = 3, /* -vv: libbpf's own messages too */
};

extern enum drv_log_level drv_log_level;
/* Prefix every line with an ISO-8601 timestamp (the agent's logs). */
extern int drv_log_timestamps;

void drv_log(enum drv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Route libbpf's messages through drv_log, one level lower (only with -vv). */
void drv_log_setup_libbpf(void);

#define pr_warn(...) drv_log(DRV_LOG_WARN, __VA_ARGS__)
#define pr_info(...) drv_log(DRV_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) drv_log(DRV_LOG_DEBUG, __VA_ARGS__)

#endif /* __DROVER_LOG_H */
