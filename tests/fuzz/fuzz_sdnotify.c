// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * What the agent reads from systemd's environment: $NOTIFY_SOCKET,
 * $WATCHDOG_USEC and $WATCHDOG_PID (sdnotify.c), and the STATUS= line it
 * makes of a text. Input: up to three NUL-separated strings.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sdnotify.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *usec, *pid, buf[64];
	struct sockaddr_un sa;
	socklen_t len = 0;
	__u64 wd = 0;
	size_t i;
	int r;

	usec = s + strlen(s) + 1 <= s + size ? s + strlen(s) + 1 : NULL;
	pid = usec && usec + strlen(usec) + 1 <= s + size ? usec + strlen(usec) + 1 : NULL;

	if (!drv_sd_addr_parse(s, &sa, &len)) {
		FUZZ_CHECK(s[0] == '/' || s[0] == '@', "address '%s'", s);
		FUZZ_CHECK(len > offsetof(struct sockaddr_un, sun_path) + 1 && len <= sizeof(sa),
			   "address '%s': length %u", s, (unsigned int)len);
		FUZZ_CHECK(s[0] != '/' ||
				   sa.sun_path[len - offsetof(struct sockaddr_un, sun_path) - 1] ==
					   0,
			   "path '%s' without its NUL", s);
	}
	r = drv_sd_watchdog_parse(usec, pid, 4242, &wd);
	FUZZ_CHECK(r == 0 || r == 1 || r == -EINVAL, "watchdog: %d", r);
	if (r == 1)
		FUZZ_CHECK(wd && wd != ~0ULL && strspn(usec, "0123456789") == strlen(usec),
			   "watchdog '%s': %llu", usec, (unsigned long long)wd);
	drv_sd_status(buf, sizeof(buf), s);
	FUZZ_CHECK(!strncmp(buf, "STATUS=", 7), "status '%s'", buf);
	for (i = 0; buf[i]; i++)
		FUZZ_CHECK((unsigned char)buf[i] >= ' ' && buf[i] != 0x7f, "control in status");
	free(s);
	return 0;
}
