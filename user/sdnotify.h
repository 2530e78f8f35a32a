/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The systemd notify protocol (sd_notify(3), sd_watchdog_enabled(3)) without
 * libsystemd: a datagram per message to the AF_UNIX socket that
 * $NOTIFY_SOCKET names (a path, or an abstract name written with '@').
 */
#ifndef __DROVER_SDNOTIFY_H
#define __DROVER_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <linux/types.h>

struct drv_sd {
	int fd; /* -1: no $NOTIFY_SOCKET, every message is dropped */
	struct sockaddr_un addr;
	socklen_t addrlen;
	__u64 watchdog_usec; /* $WATCHDOG_USEC when it is meant for this process; 0: none */
};

/*
 * drv_sd_addr_parse - the socket address $NOTIFY_SOCKET names
 * @s: an absolute path, or '@' and an abstract name
 * Return: 0 and @sa, @len (as sendto(2) takes them); -EINVAL for another
 * form (relative, empty, '@' alone, too long for sun_path).
 */
int drv_sd_addr_parse(const char *s, struct sockaddr_un *sa, socklen_t *len);

/*
 * drv_sd_watchdog_parse - sd_watchdog_enabled() of $WATCHDOG_USEC (@usec) and
 * $WATCHDOG_PID (@pid) for process @self
 * Return: 1 and *@out when the watchdog is on for @self; 0 when @usec is NULL,
 * or @pid names another process (the variables were inherited); -EINVAL when
 * @usec is not a decimal between 1 and 2^64 - 2, or @pid not a positive pid.
 */
int drv_sd_watchdog_parse(const char *usec, const char *pid, pid_t self, __u64 *out);

/*
 * drv_sd_status - "STATUS=" and @text as one line into @buf: line breaks and
 * other control characters become spaces, and a text too long is cut.
 * Return: @buf.
 */
const char *drv_sd_status(char *buf, size_t len, const char *text);

/*
 * drv_sd_open - read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID
 * Return: 0 with @sd ready (fd -1 without $NOTIFY_SOCKET); -errno when a
 * variable is set but unusable, said on @why (what to fix), @sd then off.
 */
int drv_sd_open(struct drv_sd *sd, char *why, size_t len);

/* Send @msg (no-op without a socket). Never blocks. Return: 0 or -errno. */
int drv_sd_send(const struct drv_sd *sd, const char *msg);

void drv_sd_close(struct drv_sd *sd);

#endif /* __DROVER_SDNOTIFY_H */
