// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover node-setup over rtnetlink (no iproute2 needed, so it runs from the
 * FROM-scratch image too): VIPs on lo, ARP kept off them, and for tunnel
 * mode metadata-mode ("external") IPIP / IP6IP6 devices, which take every
 * tunnelled packet whatever balancer sent it.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/ip.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "drover/maps.h"

#include "log.h"
#include "nodesetup.h"
#include "util.h"

struct nl_req {
	struct nlmsghdr h;
	union {
		struct ifaddrmsg a;
		struct ifinfomsg i;
	};
	char attrs[256];
};

static struct rtattr *nla_put(struct nlmsghdr *h, int type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void nla_end(struct nlmsghdr *h, struct rtattr *nest)
{
	nest->rta_len = (char *)h + h->nlmsg_len - (char *)nest;
}

/* Send one request and wait for its acknowledgement. Return: 0 or -errno from the kernel. */
static int nl_talk(struct nlmsghdr *h)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[4096];
	struct nlmsghdr *r;
	int fd, err;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = 1;
	if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	r = (struct nlmsghdr *)buf;
	err = -EPROTO;
	if (NLMSG_OK(r, (size_t)n) && r->nlmsg_type == NLMSG_ERROR)
		err = ((struct nlmsgerr *)NLMSG_DATA(r))->error;
out:
	close(fd);
	return err;
}

static int vip_addr(const union drv_addr *vip, __u8 family, bool del)
{
	struct nl_req req = {};
	int alen = family == DRV_FAMILY_V4 ? 4 : 16, err;
	char buf[DRV_ADDR_STRLEN];
	bool absent;

	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.a));
	req.h.nlmsg_type = del ? RTM_DELADDR : RTM_NEWADDR;
	req.h.nlmsg_flags = del ? 0 : NLM_F_CREATE | NLM_F_EXCL;
	req.a.ifa_family = family == DRV_FAMILY_V4 ? AF_INET : AF_INET6;
	req.a.ifa_prefixlen = alen * 8;
	req.a.ifa_flags = family == DRV_FAMILY_V6 ? IFA_F_NODAD : 0;
	req.a.ifa_scope = RT_SCOPE_UNIVERSE;
	req.a.ifa_index = if_nametoindex("lo");
	nla_put(&req.h, IFA_LOCAL, vip, alen);
	nla_put(&req.h, IFA_ADDRESS, vip, alen);
	err = nl_talk(&req.h);
	/* idempotent: already there (add) or already gone (undo) is no failure */
	absent = del && err == -EADDRNOTAVAIL;
	if (absent || (!del && err == -EEXIST))
		err = 0;
	drv_addr_format(vip, family, buf, sizeof(buf));
	if (err)
		pr_warn("Error: node-setup couldn't %s VIP %s %s lo: %s (it needs CAP_NET_ADMIN in the node's network namespace)\n",
			del ? "remove" : "add", buf, del ? "from" : "to", strerror(-err));
	else if (absent)
		pr_info("node-setup: VIP %s was not on lo: nothing to remove\n", buf);
	else
		pr_info("node-setup: VIP %s %s lo\n", buf, del ? "removed from" : "on");
	return err;
}

/* Create (idempotently) a metadata-mode tunnel device of @kind named @name and set it up. */
static int tunnel_add(const char *name, const char *kind)
{
	const char *mod = !strcmp(kind, "ipip") ? "ipip" : "ip6_tunnel";
	struct nl_req req = {};
	struct rtattr *info, *data;
	int err;

	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
	req.h.nlmsg_type = RTM_NEWLINK;
	req.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	req.i.ifi_family = AF_UNSPEC;
	req.i.ifi_flags = IFF_UP;
	req.i.ifi_change = IFF_UP;
	nla_put(&req.h, IFLA_IFNAME, name, strlen(name) + 1);
	info = nla_put(&req.h, IFLA_LINKINFO, NULL, 0);
	nla_put(&req.h, IFLA_INFO_KIND, kind, strlen(kind));
	data = nla_put(&req.h, IFLA_INFO_DATA, NULL, 0);
	nla_put(&req.h, IFLA_IPTUN_COLLECT_METADATA, NULL, 0);
	nla_end(&req.h, data);
	nla_end(&req.h, info);
	err = nl_talk(&req.h);
	if (err == -EEXIST) {
		/* Already there: make sure it is up. */
		memset(&req, 0, sizeof(req));
		req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
		req.h.nlmsg_type = RTM_NEWLINK;
		req.i.ifi_index = if_nametoindex(name);
		req.i.ifi_flags = IFF_UP;
		req.i.ifi_change = IFF_UP;
		err = req.i.ifi_index ? nl_talk(&req.h) : -ENODEV;
	}
	if (err)
		pr_warn("Error: node-setup couldn't create %s device %s: %s; load the kernel's %s module (modprobe %s), or use a service in mode dsr\n",
			kind, name, strerror(-err), mod, mod);
	else
		pr_info("node-setup: %s device %s up (decapsulates from any balancer)\n", kind,
			name);
	return err;
}

static int link_del(const char *name)
{
	struct nl_req req = {};
	int err;

	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
	req.h.nlmsg_type = RTM_DELLINK;
	req.i.ifi_index = if_nametoindex(name);
	if (!req.i.ifi_index)
		return 0;
	err = nl_talk(&req.h);
	if (err)
		pr_warn("Error: node-setup couldn't remove device %s: %s (ip link del %s)\n", name,
			strerror(-err), name);
	return err;
}

/*
 * Set IPv4 device settings (IPV4_DEVCONF_*) of @ifindex over rtnetlink: unlike
 * /proc/sys, which container runtimes mount read-only, this needs only CAP_NET_ADMIN.
 */
int drv_devconf_set(int ifindex, const int *ids, const __u32 *vals, int n)
{
	struct nl_req req = {};
	struct rtattr *af, *inet, *conf;
	int i;

	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
	req.h.nlmsg_type = RTM_SETLINK;
	req.i.ifi_family = AF_UNSPEC;
	req.i.ifi_index = ifindex;
	af = nla_put(&req.h, IFLA_AF_SPEC, NULL, 0);
	inet = nla_put(&req.h, AF_INET, NULL, 0);
	conf = nla_put(&req.h, IFLA_INET_CONF, NULL, 0);
	for (i = 0; i < n; i++)
		nla_put(&req.h, ids[i], &vals[i], sizeof(vals[i]));
	nla_end(&req.h, conf);
	nla_end(&req.h, inet);
	nla_end(&req.h, af);
	return nl_talk(&req.h);
}

/* Answer ARP only for the asking interface's own addresses and never source ARP from a VIP. */
static int arp_keep_off_vips(void)
{
	static const int ids[] = { IPV4_DEVCONF_ARP_IGNORE, IPV4_DEVCONF_ARP_ANNOUNCE };
	static const __u32 vals[] = { 1, 2 };
	static const char *const names[] = { "arp_ignore", "arp_announce" };
	struct if_nameindex *ifs, *it;
	int err = 0, e;

	ifs = if_nameindex();
	if (!ifs) {
		err = -errno;
		pr_warn("Error: node-setup couldn't list the network interfaces to set arp_ignore=1 arp_announce=2 on them: %s; run it again\n",
			strerror(-err));
		return err;
	}
	for (it = ifs; it->if_index; it++) {
		if (!strcmp(it->if_name, "lo"))
			continue;
		e = drv_devconf_set(it->if_index, ids, vals, 2);
		if (e == -ENODEV)
			continue; /* deleted since the list was read (a pod's veth): nothing to set */
		if (e) {
			pr_warn("Error: node-setup couldn't set arp_ignore=1 arp_announce=2 on %s: %s; without them %s answers ARP for the VIPs and takes their traffic from the balancer: give node-setup CAP_NET_ADMIN, or set them on the node (sysctl -w net.ipv4.conf.%s.arp_ignore=1 net.ipv4.conf.%s.arp_announce=2), and run it again\n",
				it->if_name, strerror(-e), it->if_name, it->if_name, it->if_name);
			err = e;
		}
	}
	if_freenameindex(ifs);
	if (!err)
		pr_info("node-setup: ARP for the VIPs left to the balancer (arp_ignore=1, arp_announce=2 on every interface)\n");
	/*
	 * An interface created later (a bond, a VLAN, a new NIC) starts from
	 * "default". Only /proc/sys sets it, and a container's is read-only.
	 */
	for (size_t i = 0; i < 2; i++) {
		if (drv_net_conf("ipv4", "default", names[i]) >= (int)vals[i])
			continue;
		e = drv_net_conf_set("ipv4", "default", names[i], (int)vals[i]);
		if (e) {
			pr_warn("Warning: can't set net.ipv4.conf.default.%s=%u (%s): an interface created after this will answer ARP for the VIPs; set net.ipv4.conf.default.arp_ignore=1 and arp_announce=2 on the node (/etc/sysctl.d), or run node-setup again after adding interfaces\n",
				names[i], vals[i], strerror(-e));
			break;
		}
	}
	return err;
}

/*
 * Every step needs CAP_NET_ADMIN: without it, say so once, before the first step, instead
 * of once per interface (a Kubernetes node has dozens) that each refuse its ARP settings.
 */
static int net_admin_check(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0; /* can't tell: let the kernel decide */
	if (data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32)))
		return 0;
	pr_warn("Error: drover node-setup needs CAP_NET_ADMIN, this process lacks it; nothing was changed: run it as root or grant it (container securityContext: capabilities add NET_ADMIN)\n");
	return -EPERM;
}

int drv_node_setup(const struct drv_node_setup_conf *c)
{
	bool v4 = false, v6 = false;
	int err, e;
	size_t i;

	err = net_admin_check();
	if (err)
		return err;

	for (i = 0; i < c->n; i++) {
		v4 |= c->family[i] == DRV_FAMILY_V4;
		v6 |= c->family[i] == DRV_FAMILY_V6;
	}
	if (c->undo) {
		for (i = 0; i < c->n; i++)
			err = vip_addr(&c->vips[i], c->family[i], true) ?: err;
		if (c->mode == DRV_MODE_TUNNEL) {
			err = link_del(DRV_NODE_TUN4) ?: err;
			err = link_del(DRV_NODE_TUN6) ?: err;
		}
		return err;
	}
	if (c->mode == DRV_MODE_TUNNEL && v4) {
		static const int rp[] = { IPV4_DEVCONF_RP_FILTER };
		static const __u32 off[] = { 0 };
		int tun;

		if (drv_net_conf("ipv4", "all", "rp_filter") == 1)
			pr_warn("Warning: net.ipv4.conf.all.rp_filter is 1 (strict): the kernel applies the larger of it and %s's 0, so packets decapsulated there are dropped when their client's address routes through another interface; make it loose: sysctl -w net.ipv4.conf.all.rp_filter=2\n",
				DRV_NODE_TUN4);
		e = tunnel_add(DRV_NODE_TUN4, "ipip");
		err = e ?: err;
		/*
		 * Decapsulated packets come from clients routed elsewhere: no
		 * reverse-path check on the device. The kernel uses the larger of
		 * this and conf/all/rp_filter, so a node with all=1 (strict) must
		 * lower that to 2 (loose) or 0 itself.
		 */
		tun = e ? 0 : (int)if_nametoindex(DRV_NODE_TUN4);
		e = tun ? drv_devconf_set(tun, rp, off, 1) : 0;
		if (e)
			pr_warn("Error: node-setup couldn't turn rp_filter off on %s: %s; set it: sysctl -w net.ipv4.conf.%s.rp_filter=0\n",
				DRV_NODE_TUN4, strerror(-e), DRV_NODE_TUN4);
		err = e ?: err;
	}
	if (c->mode == DRV_MODE_TUNNEL && v6)
		err = tunnel_add(DRV_NODE_TUN6, "ip6tnl") ?: err;
	/*
	 * The VIPs only once the node can decapsulate and keeps ARP off them: a
	 * node that holds them without decapsulation answers nothing the balancer
	 * sends, one that answers ARP for them takes their traffic from the
	 * balancer, and the failed run would leave them behind.
	 */
	if (!err && v4)
		err = arp_keep_off_vips();
	if (err) {
		pr_warn("node-setup: no VIP added: fix the error above and run it again\n");
		return err;
	}
	for (i = 0; i < c->n; i++) {
		e = vip_addr(&c->vips[i], c->family[i], false);
		err = e ?: err;
	}
	return err;
}
