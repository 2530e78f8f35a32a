// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover's XDP entry point: parse → service → flow → rewrite → send, with
 * every verdict counted at one exit. ICMP goes on to drover_icmp (a tail
 * call: the TCP path leaves no room on one 512-byte stack for both). The
 * work is in bpf/lib/.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/maps.h"

#include "lib/icmp.h"
#include "lib/lb.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

SEC("xdp")
int drover_xdp(struct xdp_md *ctx)
{
	struct pkt p = {};
	int act;

	act = parse_ip(ctx, &p);
	if (act >= 0)
		goto out;
	/* A frame to a group MAC was not sent to this router: the stack decides. */
	if (p.eth->h_dest[0] & 1) {
		act = XDP_PASS;
		goto out;
	}
	if (p.icmp) {
		/* drover_icmp counts its own verdict; without it, ICMP passes. */
		bpf_tail_call(ctx, &DRV_MAP_PROGS, DRV_PROG_ICMP);
		act = XDP_PASS;
		goto out;
	}
	act = parse_tcp(ctx, &p);
	if (act >= 0)
		goto out;
	act = lb_process(ctx, &p);
out:
	return stats_record(act, p.len);
}

/* ICMP and ICMPv6, reached from drover_xdp only: too-big errors about flows (lib/icmp.h). */
SEC("xdp")
int drover_icmp(struct xdp_md *ctx)
{
	struct pkt p = {};
	int act;

	act = parse_ip(ctx, &p);
	if (act < 0)
		act = p.icmp ? icmp_process(ctx, &p) : XDP_PASS;
	return stats_record(act, p.len);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
