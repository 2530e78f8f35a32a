// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover node-setup against the real kernel, in a private network namespace:
 * VIPs land on lo, tunnel devices are created in metadata mode, a second run
 * changes nothing, undo removes what setup added, a strict global
 * rp_filter that would drop decapsulated packets is reported, and a kernel
 * without IPIP gets one error saying what to do, an interface deleted
 * while setup runs is no error, and a run that cannot keep ARP off the VIPs
 * adds none.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/rtnetlink.h>
#include <cmocka.h>

#include "nodesetup.h"
#include "util.h"

/*
 * While nonzero, node-setup's RTM_SETLINK requests (its per-interface ARP
 * settings, in dsr mode the only ones it sends) fail with this errno, as they
 * do where the kernel refuses them. This sendto() takes the place of libc's
 * for the library linked into this test; everything else reaches the kernel.
 */
static int setlink_errno;

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
	       socklen_t tolen)
{
	static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	const struct nlmsghdr *h = buf;

	if (setlink_errno && len >= sizeof(*h) && h->nlmsg_type == RTM_SETLINK) {
		errno = setlink_errno;
		return -1;
	}
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t, int, const struct sockaddr *,
				   socklen_t))dlsym(RTLD_NEXT, "sendto");
	return real(fd, buf, len, flags, to, tolen);
}

/* Exit status of a shell command, run in this process's netns. */
static int sh(const char *cmd)
{
	return WEXITSTATUS(system(cmd));
}

static int group_setup(void **state)
{
	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET)) {
		fprintf(stderr, "test_nodesetup: needs root and network namespaces\n");
		exit(4);
	}
	return sh("ip link set lo up && ip link add v0 type veth peer name v1");
}

static struct drv_node_setup_conf conf(__u8 mode)
{
	struct drv_node_setup_conf c = { .mode = mode, .n = 2 };

	assert_int_equal(drv_addr_parse("10.0.0.100", &c.vips[0], &c.family[0]), 0);
	assert_int_equal(drv_addr_parse("fd00::100", &c.vips[1], &c.family[1]), 0);
	return c;
}

static void tunnel_setup_puts_vips_on_lo_and_creates_external_tunnels(void **state)
{
	struct drv_node_setup_conf c = conf(DRV_MODE_TUNNEL);

	(void)state;
	if (sh("ip link add drvprobe type ipip 2>/dev/null && ip link del drvprobe")) {
		fprintf(stderr, "SKIP: this kernel has no IPIP (CONFIG_NET_IPIP): tunnel nodes "
				"cannot decapsulate here\n");
		skip();
	}
	assert_int_equal(drv_node_setup(&c), 0);
	assert_int_equal(drv_node_setup(&c), 0);	/* idempotent */
	assert_int_equal(sh("ip addr show dev lo | grep -q 'inet 10.0.0.100/32'"), 0);
	assert_int_equal(sh("ip addr show dev lo | grep -q 'inet6 fd00::100/128'"), 0);
	assert_int_equal(sh("ip -d link show " DRV_NODE_TUN4 " | grep -q 'ipip external'"), 0);
	assert_int_equal(sh("ip -d link show " DRV_NODE_TUN6 " | grep -q 'external'"), 0);
	assert_int_equal(sh("ip link show " DRV_NODE_TUN4 " | grep -q ',UP'"), 0);
	assert_int_equal(sh("grep -qx 1 /proc/sys/net/ipv4/conf/v0/arp_ignore"), 0);
	assert_int_equal(sh("grep -qx 0 /proc/sys/net/ipv4/conf/" DRV_NODE_TUN4 "/rp_filter"), 0);
	c.undo = true;
	assert_int_equal(drv_node_setup(&c), 0);
	assert_int_equal(drv_node_setup(&c), 0);	/* idempotent too */
	assert_int_not_equal(sh("ip addr show dev lo | grep -q 10.0.0.100"), 0);
	assert_int_not_equal(sh("ip addr show dev lo | grep -q fd00::100"), 0);
	assert_int_not_equal(sh("ip link show " DRV_NODE_TUN4 " 2>/dev/null"), 0);
	assert_int_not_equal(sh("ip link show " DRV_NODE_TUN6 " 2>/dev/null"), 0);
}

static void dsr_setup_adds_vips_but_no_tunnel(void **state)
{
	struct drv_node_setup_conf c = conf(DRV_MODE_DSR);

	(void)state;
	assert_int_equal(drv_node_setup(&c), 0);
	assert_int_equal(sh("ip addr show dev lo | grep -q 'inet 10.0.0.100/32'"), 0);
	/* Set per device over netlink (a container's /proc/sys is read-only). */
	assert_int_equal(sh("grep -qx 1 /proc/sys/net/ipv4/conf/v0/arp_ignore"), 0);
	assert_int_equal(sh("grep -qx 2 /proc/sys/net/ipv4/conf/v1/arp_announce"), 0);
	/* an interface created afterwards keeps off the VIPs too (conf/default) */
	assert_int_equal(sh("ip link add w0 type veth peer name w1"), 0);
	assert_int_equal(sh("grep -qx 1 /proc/sys/net/ipv4/conf/w0/arp_ignore"), 0);
	assert_int_equal(sh("grep -qx 2 /proc/sys/net/ipv4/conf/w1/arp_announce"), 0);
	assert_int_equal(sh("ip link del w0"), 0);
	assert_int_not_equal(sh("ip link show " DRV_NODE_TUN4 " 2>/dev/null"), 0);
	c.undo = true;
	assert_int_equal(drv_node_setup(&c), 0);
}

/* Run drv_node_setup(@c) with its stderr in @out; its return. */
static int setup_said(const struct drv_node_setup_conf *c, char *out, size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO), rc;
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	rc = drv_node_setup(c);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
	return rc;
}

/*
 * Decapsulated packets fail a strict reverse-path check, and the device's 0
 * does not lower a global 1: node-setup says so (before it creates the
 * device, so this runs on kernels without IPIP too).
 */
static void tunnel_setup_warns_when_all_rp_filter_is_strict(void **state)
{
	struct drv_node_setup_conf c = conf(DRV_MODE_TUNNEL);
	char out[4096];

	(void)state;
	assert_int_equal(sh("sysctl -qw net.ipv4.conf.all.rp_filter=1"), 0);
	setup_said(&c, out, sizeof(out)); /* fails where the kernel has no IPIP: only the warning counts */
	c.undo = true;
	drv_node_setup(&c);
	assert_int_equal(sh("sysctl -qw net.ipv4.conf.all.rp_filter=0"), 0);
	assert_non_null(strstr(out, "net.ipv4.conf.all.rp_filter is 1 (strict)"));
	assert_non_null(strstr(out, "sysctl -w net.ipv4.conf.all.rp_filter=2"));
}

/* Without IPIP: one error, naming the device and what to do, and no knock-on error after it. */
static void tunnel_setup_without_ipip_says_so_once(void **state)
{
	struct drv_node_setup_conf c = conf(DRV_MODE_TUNNEL);
	char out[4096];

	(void)state;
	if (!sh("ip link add drvprobe type ipip 2>/dev/null && ip link del drvprobe")) {
		fprintf(stderr, "SKIP: this kernel has IPIP: the tunnel test covers it\n");
		skip();
	}
	c.n = 1; /* the IPv4 VIP: its device is the one with the rp_filter step */
	assert_int_not_equal(setup_said(&c, out, sizeof(out)), 0);
	/* a node that cannot decapsulate gets no VIP (the failed run left it on lo) */
	assert_int_not_equal(sh("ip addr show dev lo | grep -q 10.0.0.100"), 0);
	c.undo = true;
	assert_int_equal(drv_node_setup(&c), 0);
	assert_non_null(strstr(out, "Error: node-setup couldn't create ipip device " DRV_NODE_TUN4));
	assert_non_null(strstr(out, "modprobe ipip"));
	assert_null(strstr(strstr(out, "Error:") + 1, "Error:"));
}

/*
 * Interfaces come and go on a node (every pod's veth): one deleted between
 * node-setup listing the interfaces and setting its ARP knobs is no error (it
 * once failed the run: "couldn't set ... on d27: No such device").
 */
static void dsr_setup_ignores_interfaces_that_vanish(void **state)
{
	struct drv_node_setup_conf c = conf(DRV_MODE_DSR);
	char out[4096], first[4096] = "";
	int runs = 0, fails = 0, st;
	pid_t churn;

	(void)state;
	c.n = 1;
	/* 200 veth pairs made and deleted by one ip process, while setup runs. */
	churn = fork();
	assert_true(churn >= 0);
	if (!churn) {
		execl("/bin/sh", "sh", "-c",
		      "for i in $(seq 200); do echo \"link add c$i type veth peer name d$i\";"
		      " echo \"link del c$i\"; done | ip -batch - >/dev/null 2>&1",
		      (char *)NULL);
		_exit(127);
	}
	while (waitpid(churn, &st, WNOHANG) == 0 && runs < 20000) {
		runs++;
		if (setup_said(&c, out, sizeof(out)) && !fails++)
			snprintf(first, sizeof(first), "%s", out);
	}
	if (runs == 20000)
		assert_int_equal(waitpid(churn, &st, 0), churn);
	c.undo = true;
	drv_node_setup(&c);
	fprintf(stderr, "%d node-setup runs while veths came and went, %d failed%s%s", runs, fails,
		fails ? ", the first with: " : "\n", first);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(fails, 0);
}

/*
 * A node that holds a VIP but answers ARP for it takes the VIP's traffic from
 * the balancer: when the ARP settings cannot be applied, no VIP goes on lo,
 * and the error says on which interface, what it means and what to do.
 */
static void dsr_setup_adds_no_vip_when_arp_settings_fail(void **state)
{
	struct drv_node_setup_conf c = conf(DRV_MODE_DSR);
	char out[4096];
	int rc;

	(void)state;
	c.n = 1;
	setlink_errno = EPERM;
	rc = setup_said(&c, out, sizeof(out));
	setlink_errno = 0;
	fprintf(stderr, "%s", out);
	assert_int_equal(rc, -EPERM);
	assert_int_not_equal(sh("ip addr show dev lo | grep -q 10.0.0.100"), 0);
	c.undo = true;
	assert_int_equal(drv_node_setup(&c), 0);
	assert_non_null(strstr(out, "Error: node-setup couldn't set arp_ignore=1 arp_announce=2 on v0: Operation not permitted"));
	assert_non_null(strstr(out, "sysctl -w net.ipv4.conf.v0.arp_ignore=1 net.ipv4.conf.v0.arp_announce=2"));
	assert_non_null(strstr(out, "no VIP added"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tunnel_setup_puts_vips_on_lo_and_creates_external_tunnels),
		cmocka_unit_test(dsr_setup_adds_vips_but_no_tunnel),
		cmocka_unit_test(tunnel_setup_warns_when_all_rp_filter_is_strict),
		cmocka_unit_test(tunnel_setup_without_ipip_says_so_once),
		cmocka_unit_test(dsr_setup_ignores_interfaces_that_vanish),
		cmocka_unit_test(dsr_setup_adds_no_vip_when_arp_settings_fail),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
