/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Small helpers shared by the CLI, the agent and the tests. */
#ifndef __DROVER_UTIL_H
#define __DROVER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "drover/maps.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Longest text drv_addr_format writes, with its NUL (INET6_ADDRSTRLEN). */
#define DRV_ADDR_STRLEN 46

/*
 * drv_addr_parse - parse an IPv4 or IPv6 address (no brackets, no port)
 * Return: 0 and *addr (network order, zero-padded), *family (enum drv_family);
 *         -EINVAL if @s is not an address.
 */
int drv_addr_parse(const char *s, union drv_addr *addr, __u8 *family);
/* Is @addr the unspecified address (0.0.0.0, ::), or unset? */
bool drv_addr_is_zero(const union drv_addr *addr);
/*
 * Why @addr of @family can't be a host's (a VIP, a node, a client, a source):
 * "the unspecified address", "a loopback address", "a multicast address",
 * "the broadcast address"; NULL when it can.
 */
const char *drv_addr_not_host(const union drv_addr *addr, __u8 family);
/* Writes @addr of @family into @buf (≥ DRV_ADDR_STRLEN); returns @buf. */
const char *drv_addr_format(const union drv_addr *addr, __u8 family, char *buf, size_t len);
/* Parse a port 1..65535; 0 or -EINVAL. */
int drv_port_parse(const char *s, __u16 *port);
/* Parse an unsigned decimal (digits only) within [min, max]; 0 or -EINVAL / -ERANGE. */
int drv_u32_parse(const char *s, __u32 min, __u32 max, __u32 *out);
/* Is @name one the kernel takes for an interface (dev_valid_name)? */
bool drv_ifname_valid(const char *name);
/* Is @n prime? (Maglev table sizes must be.) */
bool drv_is_prime(__u32 n);
/* FNV-1a, 64-bit, over @len bytes at @p, from @h (DRV_FNV_INIT to start). */
#define DRV_FNV_INIT 0xcbf29ce484222325ULL
__u64 drv_fnv1a(__u64 h, const void *p, size_t len);
/* Setting @name of @ifname ("all" for the global one) in net/@fam/conf of /proc/sys, or -1. */
int drv_net_conf(const char *fam, const char *ifname, const char *name);
/* Write @value there: 0 or -errno (a container's /proc/sys is read-only: -EROFS). */
int drv_net_conf_set(const char *fam, const char *ifname, const char *name, int value);
/*
 * Whether @fam ("ipv4", "ipv6") packets arriving on @ifname are forwarded:
 * DRV_FWD_ON (or unknown), DRV_FWD_OFF_DEV (the device's forwarding is 0: the
 * program's FIB lookups fail, drop_fib) or, for IPv6 only, DRV_FWD_OFF_ALL
 * (net.ipv6.conf.all.forwarding is 0: the kernel forwards none of the packets
 * drover leaves to it, fib_pass, whatever the device's own setting).
 */
enum { DRV_FWD_ON, DRV_FWD_OFF_DEV, DRV_FWD_OFF_ALL };
int drv_fwd_state(const char *fam, const char *ifname);
/*
 * Warn when drv_fwd_state() says @fam packets arriving on @dev are not
 * forwarded, naming what can't be reached through it (@whose: "service ...",
 * "the IPv4 services") and the sysctl to set. Return: whether it warned.
 */
bool drv_fwd_warn(const char *fam, const char *dev, const char *whose);
/*
 * @s, no address, may be one written as other tools take it: "ADDR:PORT"
 * (IPv4), "[ADDR]", "[ADDR]:PORT" or "ADDR/LEN". Then the address goes to @host
 * (@len bytes) and the return points at what follows it in @s: ":PORT", "/LEN"
 * or "" (only the brackets). Else NULL.
 */
const char *drv_addr_extra(const char *s, char *host, size_t len);
/* What to do when opening the pin root failed with -@err: run as root, or check --bpffs. */
const char *drv_root_err_hint(int err);

#endif /* __DROVER_UTIL_H */
