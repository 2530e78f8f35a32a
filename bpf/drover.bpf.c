// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover's XDP entry point: parse → service → flow → rewrite → send, with
 * every verdict counted at one exit. The work is in bpf/lib/.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/maps.h"

#include "lib/lb.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

SEC("xdp")
int drover_xdp(struct xdp_md *ctx)
{
	struct pkt p = {};
	__be16 proto;
	void *cur;
	int act;

	p.len = frame_len(ctx);
	cur = (void *)(long)ctx->data;
	act = parse_eth(ctx, &p, &cur, &proto);
	if (act >= 0)
		goto out;
	if (proto == bpf_htons(ETH_P_IP))
		act = parse_ipv4(ctx, &p, cur);
	else if (proto == bpf_htons(ETH_P_IPV6))
		act = parse_ipv6(ctx, &p, cur);
	else
		act = XDP_PASS;
	if (act >= 0)
		goto out;
	act = parse_tcp(ctx, &p);
	if (act >= 0)
		goto out;
	act = lb_process(ctx, &p);
out:
	return stats_record(act, p.len);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
