/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Sending a rewritten packet on: next hop and egress device from the
 * kernel's FIB (bpf_fib_lookup), MACs from its neighbour table, cached by the
 * callers for DRV_NH_TTL_NS (a lookup costs about as much as the rest of the
 * fast path); XDP_TX when
 * the egress is the ingress device (one-arm), XDP_REDIRECT through drv_txports
 * otherwise (two-arm). Uses the forwarding lookup, so the ingress device must
 * have forwarding enabled (the CLI warns at attach when it is not).
 */
#ifndef __DROVER_BPF_FWD_H
#define __DROVER_BPF_FWD_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/maps.h"

#include "lib/csum.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

#define DRV_AF_INET 2
#define DRV_AF_INET6 10
#define IPV6_FLOWINFO_MASK bpf_htonl(0x0FFFFFFF)
#define DRV_FWD_TOO_BIG (-2) /* fwd_resolve: longer than the egress MTU */

/* TTL / hop limit: decremented like a router; a packet that would reach 0 is dropped. */
static __always_inline int fwd_check_ttl(struct xdp_md *ctx, struct pkt *p)
{
	/* Branch on the pointers, not on p->family: the verifier tracks only those. */
	if ((p->ip4 && p->ip4->ttl <= 1) || (p->ip6 && p->ip6->hop_limit <= 1))
		return stats_drop(ctx, DRV_STAT_DROP_TTL);
	return DRV_CONTINUE;
}

/*
 * Give back the TTL / hop limit a rewrite took off, for a packet left to the
 * stack after all: the kernel's forwarding takes one off itself.
 */
static __always_inline void fwd_ttl_restore(struct pkt *p)
{
	if (p->ip4)
		p->ip4->check = csum_apply(p->ip4->check, ip4_ttl_add(p->ip4, 1));
	else if (p->ip6)
		p->ip6->hop_limit++;
}

/* A packet handed on unrouted (dsr, tunnel): dropped only if its TTL / hop limit is 0. */
static __always_inline int fwd_check_ttl0(struct xdp_md *ctx, struct pkt *p)
{
	if ((p->ip4 && !p->ip4->ttl) || (p->ip6 && !p->ip6->hop_limit))
		return stats_drop(ctx, DRV_STAT_DROP_TTL);
	return DRV_CONTINUE;
}

/**
 * fwd_resolve - next hop toward @dst from the FIB and neighbour table
 * @src: the source address the packet leaves with (the FIB may route by it);
 *       the TOS / flow label come from the packet's IP header
 * @dst: the address to reach (the backend, or the client of a reply)
 * @tot_len: the IP length the packet leaves with, to be checked against the
 *           egress MTU (before the neighbour: a packet too long is never
 *           left to the stack, whose error would go to the balancer's own
 *           address); 0: no check
 * @nh: out, on DRV_CONTINUE
 * @mtu: out, on DRV_CONTINUE and DRV_FWD_TOO_BIG: the MTU toward @dst, 0 if
 *       unknown. The FIB's: the device's, a locked route MTU (`mtu lock`) or
 *       a learned one; an unlocked IPv4 route MTU only with
 *       net.ipv4.ip_forward_use_pmtu (ip_mtu_from_fib_result).
 * @via_gw: out, true if the FIB routes @dst through a gateway (not on-link)
 * @may_pass: the packet, once rewritten, can be left to the stack: its
 *            destination is then @dst (nat, tunnel). A dsr packet is still
 *            addressed to the VIP: the stack would route it away, so it is
 *            dropped instead.
 * Return: DRV_CONTINUE; DRV_FWD_TOO_BIG (@tot_len > @mtu: see lib/toobig.h);
 *         XDP_PASS when the stack must act (no neighbour entry yet, local
 *         delivery); XDP_DROP (counted).
 */
static __always_inline int fwd_resolve(struct xdp_md *ctx, struct pkt *p, const union drv_addr *src,
				       const union drv_addr *dst, __u32 tot_len, struct drv_nh *nh,
				       __u32 *mtu, bool *via_gw, bool may_pass)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	fib.ifindex = ctx->ingress_ifindex;
	fib.l4_protocol = IPPROTO_TCP;
	fib.tot_len = tot_len;
	if (p->ip4) {
		fib.family = DRV_AF_INET;
		fib.tos = p->ip4->tos;
		fib.ipv4_src = src->v4;
		fib.ipv4_dst = dst->v4;
	} else if (p->ip6) {
		fib.family = DRV_AF_INET6;
		fib.flowinfo = *(__be32 *)p->ip6 & IPV6_FLOWINFO_MASK;
		__builtin_memcpy(fib.ipv6_src, src, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, dst, sizeof(fib.ipv6_dst));
	}

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		if (!may_pass)
			return stats_drop(ctx, DRV_STAT_DROP_FIB);
		stats_count(DRV_STAT_FIB_PASS, p->len);
		return XDP_PASS;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		*mtu = fib.mtu_result;
		return DRV_FWD_TOO_BIG;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
	case BPF_FIB_LKUP_RET_UNSUPP_LWT:
		return stats_drop(ctx, DRV_STAT_DROP_FIB);
	default:
		return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
	}
	/* On success the FIB leaves the gateway (or @dst itself, on-link) in ipv*_dst. */
	if (p->ip4)
		*via_gw = fib.ipv4_dst != dst->v4;
	else
		*via_gw = (fib.ipv6_dst[0] ^ dst->v6[0]) | (fib.ipv6_dst[1] ^ dst->v6[1]) |
			  (fib.ipv6_dst[2] ^ dst->v6[2]) | (fib.ipv6_dst[3] ^ dst->v6[3]);
	/* On success too the FIB leaves the MTU in mtu_result (a union with tot_len). */
	*mtu = fib.mtu_result;
	nh->ifindex = fib.ifindex;
	__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
	return DRV_CONTINUE;
}

/**
 * fwd_send - set the MACs toward @nh and leave: XDP_TX back out of the ingress
 * device (one-arm), else XDP_REDIRECT through drv_txports (two-arm).
 */
static __always_inline int fwd_send(struct xdp_md *ctx, struct pkt *p, const struct drv_nh *nh)
{
	__u32 ifindex = nh->ifindex;

	__builtin_memcpy(p->eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, nh->smac, ETH_ALEN);
	/*
	 * ctx made opaque first: clang may otherwise keep the address of
	 * ctx->ingress_ifindex in a register across paths, which the verifier
	 * refuses (a modified ctx pointer).
	 */
	asm volatile("" : "+r"(ctx));
	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	/*
	 * Only devices drover is attached to can take redirected frames: for
	 * another, bpf_redirect_map finds no entry and returns the flags' low
	 * bits, XDP_ABORTED, instead of XDP_REDIRECT.
	 */
	if (bpf_redirect_map(&DRV_MAP_TX_PORTS, ifindex, XDP_ABORTED) != XDP_REDIRECT)
		return stats_drop(ctx, DRV_STAT_DROP_FIB);
	return XDP_REDIRECT;
}

#endif /* __DROVER_BPF_FWD_H */
