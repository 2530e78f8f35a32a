// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The systemd notify protocol without libsystemd (see sdnotify.h). The parsers
 * follow sd-daemon.c: what libsystemd refuses is refused here too.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdnotify.h"

int drv_sd_addr_parse(const char *s, struct sockaddr_un *sa, socklen_t *len)
{
	size_t l = s ? strlen(s) : 0;

	if (l < 2 || (s[0] != '/' && s[0] != '@') || l > sizeof(sa->sun_path))
		return -EINVAL;
	/* a path needs room for its NUL; an abstract name has none */
	if (s[0] == '/' && l == sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, s, l);
	if (s[0] == '@')
		sa->sun_path[0] = 0;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l + (s[0] == '/'));
	return 0;
}

/* A decimal of digits only (no sign, no blank) into *@out; 0 or -EINVAL. */
static int u64_parse(const char *s, unsigned long long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

int drv_sd_watchdog_parse(const char *usec, const char *pid, pid_t self, __u64 *out)
{
	unsigned long long u, p;

	if (!usec)
		return 0;
	/* 0 and USEC_INFINITY are "not set" to systemd */
	if (u64_parse(usec, &u) || !u || u == ~0ULL)
		return -EINVAL;
	if (pid) {
		if (u64_parse(pid, &p) || !p || p > INT_MAX)
			return -EINVAL;
		if ((pid_t)p != self)
			return 0; /* inherited from the process it was set for */
	}
	*out = u;
	return 1;
}

const char *drv_sd_status(char *buf, size_t len, const char *text)
{
	size_t i, pre;

	snprintf(buf, len, "STATUS=%s", text);
	pre = strlen("STATUS=");
	for (i = pre; i < len && buf[i]; i++)
		if ((unsigned char)buf[i] < ' ' || buf[i] == 0x7f)
			buf[i] = ' ';
	return buf;
}

int drv_sd_open(struct drv_sd *sd, char *why, size_t len)
{
	const char *s = getenv("NOTIFY_SOCKET");
	int r;

	memset(sd, 0, sizeof(*sd));
	sd->fd = -1;
	if (!s)
		return 0;
	if (drv_sd_addr_parse(s, &sd->addr, &sd->addrlen)) {
		snprintf(
			why, len,
			"$NOTIFY_SOCKET is '%s', neither an absolute path nor an abstract name (@NAME) of at most %zu characters",
			s, sizeof(sd->addr.sun_path) - 1);
		return -EINVAL;
	}
	r = drv_sd_watchdog_parse(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), getpid(),
				  &sd->watchdog_usec);
	if (r < 0) {
		snprintf(
			why, len,
			"$WATCHDOG_USEC is '%s' and $WATCHDOG_PID '%s': want microseconds above 0 and a pid",
			getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID") ?: "(unset)");
		sd->watchdog_usec = 0;
		return r;
	}
	sd->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sd->fd < 0) {
		r = -errno;
		snprintf(why, len, "can't make a socket to reach %s: %s", s, strerror(errno));
		sd->watchdog_usec = 0;
		return r;
	}
	return 0;
}

int drv_sd_send(const struct drv_sd *sd, const char *msg)
{
	if (sd->fd < 0)
		return 0;
	if (sendto(sd->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
		   (const struct sockaddr *)&sd->addr, sd->addrlen) < 0)
		return -errno;
	return 0;
}

void drv_sd_close(struct drv_sd *sd)
{
	if (sd->fd >= 0)
		close(sd->fd);
	sd->fd = -1;
	sd->watchdog_usec = 0;
}
