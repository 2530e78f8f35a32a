/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The network the data-path test binaries (test_datapath, test_props) run the
 * program against, in a private netns that vanishes with the process: veth
 * drva toward the clients (10.1.0.0/24, fd01::/64) and drvc toward the nodes
 * (10.2.0.0/24, fd02::/64), permanent neighbours, narrow paths for the
 * too-big answers, forwarding on. The process runs on CPU 0 only: per-CPU
 * counters and the per-CPU next-hop cache then behave the same from one run
 * to the next.
 */
#ifndef __DROVER_TEST_TOPO_H
#define __DROVER_TEST_TOPO_H

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run the shell command @fmt; its exit status as system() gives it. */
static inline int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/*
 * Build the network for test binary @who; *@ifa and *@ifc are drva's and
 * drvc's ifindexes. Exits 4 (a loud skip) without root or a netns of its own.
 * Return: 0, or -1 if a command failed (named on stderr).
 */
static inline int topo_setup(const char *who, int *ifa, int *ifc)
{
	static const char *const cmds[] = {
		"ip link add drva type veth peer name drvb",
		"ip link add drvc type veth peer name drvd",
		"ip link set drva address 02:00:00:00:00:0a",
		"ip link set drvc address 02:00:00:00:00:0c",
		"for d in lo drva drvb drvc drvd; do ip link set $d up; done",
		"ip addr add 10.1.0.1/24 dev drva",
		"ip addr add 10.2.0.1/24 dev drvc",
		"ip -6 addr add fd01::1/64 dev drva nodad",
		"ip -6 addr add fd02::1/64 dev drvc nodad",
		"ip neigh add 10.1.0.2 lladdr 02:00:00:00:01:02 dev drva nud permanent",
		"ip neigh add 10.2.0.11 lladdr 02:00:00:00:02:11 dev drvc nud permanent",
		"ip neigh add 10.2.0.12 lladdr 02:00:00:00:02:12 dev drvc nud permanent",
		"ip neigh add 10.2.0.50 lladdr 02:00:00:00:02:50 dev drvc nud permanent",
		/*
		 * Narrow paths for the too-big tests: node 3 and clients 10.1.0.3, fd01::3
		 * at MTU 1400. Locked: bpf_fib_lookup gives an IPv4 route's MTU only then.
		 */
		"ip route add 10.2.0.13/32 dev drvc mtu lock 1400",
		"ip neigh add 10.2.0.13 lladdr 02:00:00:00:02:13 dev drvc nud permanent",
		"ip -6 route add fd02::13/128 dev drvc mtu lock 1400",
		"ip -6 neigh add fd02::13 lladdr 02:00:00:00:02:13 dev drvc nud permanent",
		"ip route add 10.1.0.3/32 dev drva mtu lock 1400",
		"ip neigh add 10.1.0.3 lladdr 02:00:00:00:01:02 dev drva nud permanent",
		"ip -6 route add fd01::3/128 dev drva mtu lock 1400",
		"ip -6 neigh add fd01::3 lladdr 02:00:00:00:01:02 dev drva nud permanent",
		/* node 5: narrow, and no neighbour entry */
		"ip route add 10.2.0.15/32 dev drvc mtu lock 1400",
		"ip -6 neigh add fd01::2 lladdr 02:00:00:00:01:02 dev drva nud permanent",
		"ip -6 neigh add fd02::11 lladdr 02:00:00:00:02:11 dev drvc nud permanent",
		"ip -6 neigh add fd02::12 lladdr 02:00:00:00:02:12 dev drvc nud permanent",
		"ip route add blackhole 10.9.0.0/16",
		"echo 1 > /proc/sys/net/ipv4/ip_forward",
		"echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
	};
	cpu_set_t cpus;
	size_t i;

	if (geteuid() != 0) {
		fprintf(stderr, "%s: needs root (netns, BPF): skipped\n", who);
		exit(4);
	}
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		fprintf(stderr, "%s: sched_setaffinity: %s\n", who, strerror(errno));
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "%s: unshare(CLONE_NEWNET): %s: skipped\n", who, strerror(errno));
		exit(4);
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (sh("%s", cmds[i])) {
			fprintf(stderr, "%s: setup failed: %s\n", who, cmds[i]);
			return -1;
		}
	}
	*ifa = if_nametoindex("drva");
	*ifc = if_nametoindex("drvc");
	return *ifa && *ifc ? 0 : -1;
}

#endif /* __DROVER_TEST_TOPO_H */
