/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * `drover node-setup`: what a Rancher node behind a dsr or tunnel service
 * needs. The node must accept packets addressed to the VIP and answer from
 * it: the VIP goes on the loopback device (never answered for in ARP/ND on
 * the NICs); tunnel nodes also get a metadata-mode IPIP / IP6IP6 device that
 * decapsulates what any balancer sends, with reverse-path filtering off for it.
 * nat services need nothing on the nodes.
 */
#ifndef __DROVER_NODESETUP_H
#define __DROVER_NODESETUP_H

#include <stdbool.h>
#include <stddef.h>

#include "drover/maps.h"

#define DRV_NODE_MAX_VIPS 16
#define DRV_NODE_TUN4 "drover-ipip"
#define DRV_NODE_TUN6 "drover-ip6"

struct drv_node_setup_conf {
	union drv_addr vips[DRV_NODE_MAX_VIPS];
	__u8 family[DRV_NODE_MAX_VIPS];
	size_t n;
	__u8 mode; /* DRV_MODE_DSR or DRV_MODE_TUNNEL */
	bool undo; /* remove what setup added */
};

/* Apply (or undo) @c on this host. Idempotent. 0 or -errno, with a message naming the object. */
int drv_node_setup(const struct drv_node_setup_conf *c);

/*
 * Set IPv4 device settings of @ifindex over rtnetlink (CAP_NET_ADMIN; works
 * where /proc/sys is read-only): @n IPV4_DEVCONF_* @ids to @vals. 0 or -errno.
 */
int drv_devconf_set(int ifindex, const int *ids, const __u32 *vals, int n);

#endif /* __DROVER_NODESETUP_H */
