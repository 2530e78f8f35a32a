// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>

#include "log.h"
#include "util.h"

bool drv_addr_is_zero(const union drv_addr *a)
{
	return !(a->v6[0] | a->v6[1] | a->v6[2] | a->v6[3]);
}

const char *drv_addr_not_host(const union drv_addr *a, __u8 family)
{
	if (drv_addr_is_zero(a))
		return "the unspecified address";
	if (family == DRV_FAMILY_V4) {
		__u32 v = ntohl(a->v4);

		if (v >> 24 == 127)
			return "a loopback address";
		if (v >> 28 == 0xe)
			return "a multicast address";
		if (v == 0xffffffff)
			return "the broadcast address";
		return NULL;
	}
	if (!(a->v6[0] | a->v6[1] | a->v6[2]) && a->v6[3] == htonl(1))
		return "a loopback address";
	if ((ntohl(a->v6[0]) >> 24) == 0xff)
		return "a multicast address";
	/* The data path would never see it: the kernel sends to it over IPv4. */
	if (!(a->v6[0] | a->v6[1]) && a->v6[2] == htonl(0xffff))
		return "an IPv4-mapped IPv6 address";
	/* Meaningless without an interface, which an address here cannot name. */
	if ((ntohl(a->v6[0]) >> 22) == (0xfe80 >> 6))
		return "a link-local address";
	return NULL;
}

int drv_addr_parse(const char *s, union drv_addr *addr, __u8 *family)
{
	memset(addr, 0, sizeof(*addr));
	if (!s || !*s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &addr->v4) == 1) {
		*family = DRV_FAMILY_V4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr->v6) == 1) {
		*family = DRV_FAMILY_V6;
		return 0;
	}
	return -EINVAL;
}

const char *drv_addr_format(const union drv_addr *addr, __u8 family, char *buf, size_t len)
{
	if (!inet_ntop(family == DRV_FAMILY_V6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

int drv_u32_parse(const char *s, __u32 min, __u32 max, __u32 *out)
{
	unsigned long long v;
	char *end;

	/* strtoull() would take leading blanks and a sign: " 80" is no more a port than "80 " */
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = (__u32)v;
	return 0;
}

int drv_port_parse(const char *s, __u16 *port)
{
	__u32 v;
	int err = drv_u32_parse(s, 1, 65535, &v);

	if (err)
		return -EINVAL;
	*port = (__u16)v;
	return 0;
}

bool drv_ifname_valid(const char *name)
{
	const char *c;

	if (!name[0] || strlen(name) >= IF_NAMESIZE || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (c = name; *c; c++)
		if (*c == '/' || *c == ':' || isspace((unsigned char)*c))
			return false;
	return true;
}

bool drv_is_prime(__u32 n)
{
	if (n < 2)
		return false;
	for (__u32 d = 2; (__u64)d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

__u64 drv_fnv1a(__u64 h, const void *p, size_t len)
{
	const __u8 *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static void net_conf_path(char *path, size_t len, const char *fam, const char *ifname,
			  const char *name)
{
	snprintf(path, len, "/proc/sys/net/%s/conf/%s/%s", fam, ifname, name);
}

int drv_net_conf_set(const char *fam, const char *ifname, const char *name, int value)
{
	char path[160];
	FILE *f;
	int err = 0;

	net_conf_path(path, sizeof(path), fam, ifname, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fprintf(f, "%d\n", value) < 0)
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

int drv_net_conf(const char *fam, const char *ifname, const char *name)
{
	char path[160];
	FILE *f;
	int v = -1;

	net_conf_path(path, sizeof(path), fam, ifname, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int drv_fwd_state(const char *fam, const char *ifname)
{
	if (drv_net_conf(fam, ifname, "forwarding") == 0)
		return DRV_FWD_OFF_DEV;
	/* ip6_forward() checks all.forwarding; writing 1 there sets every device's too. */
	if (!strcmp(fam, "ipv6") && drv_net_conf("ipv6", "all", "forwarding") == 0)
		return DRV_FWD_OFF_ALL;
	return DRV_FWD_ON;
}

bool drv_fwd_warn(const char *fam, const char *dev, const char *whose)
{
	switch (drv_fwd_state(fam, dev)) {
	case DRV_FWD_OFF_DEV:
		pr_warn("Warning: %s forwarding is off on %s, so %s can't forward packets that arrive on it (drop_fib); set net.%s.conf.%s.forwarding=1 on the host (sysctl -w, and in /etc/sysctl.d to keep it)\n",
			fam, dev, whose, fam, strcmp(fam, "ipv6") ? dev : "all");
		return true;
	case DRV_FWD_OFF_ALL:
		pr_warn("Warning: net.ipv6.conf.all.forwarding=0: the kernel forwards no IPv6 packet, so those arriving on %s that drover leaves to it (fib_pass: the first ones to a node whose MAC address is not known yet) are dropped and connections through %s can hang; set net.ipv6.conf.all.forwarding=1 on the host (sysctl -w, and in /etc/sysctl.d to keep it)\n",
			dev, whose);
		return true;
	}
	return false;
}

const char *drv_root_err_hint(int err)
{
	return err == -EACCES || err == -EPERM ? "run drover as root" : "check the --bpffs path";
}

const char *drv_addr_extra(const char *s, char *host, size_t len)
{
	bool bracket = s[0] == '[';
	const char *h = s + bracket, *end, *rest;
	union drv_addr a;
	__u8 fam;

	if (bracket)
		end = strchr(h, ']');
	else if (!(end = strchr(h, '/')) && (end = strchr(h, ':')) && strchr(end + 1, ':'))
		end = NULL; /* more than one ':' is IPv6, not ADDR:PORT */
	if (!end || end == h || (size_t)(end - h) >= len)
		return NULL;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = 0;
	rest = end + bracket;
	if (drv_addr_parse(host, &a, &fam))
		return NULL;
	if (!*rest)
		return bracket ? rest : NULL;
	if ((*rest != ':' && *rest != '/') || !rest[1] ||
	    strspn(rest + 1, "0123456789") != strlen(rest + 1))
		return NULL;
	return rest;
}
