/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Tunnel mode: wrap the client's packet, unchanged, in an outer IPv4 (IPIP,
 * protocol 4) or IPv6 (IP6IP6, next header 41) header from the service's
 * source address to the node. The node decapsulates (its fallback tunl0 /
 * ip6tnl0 device), holds the VIP on a local device and answers the client
 * directly. The outer packet is 20 / 40 bytes longer: a client segment that
 * no longer fits drover's egress gets a too-big error for the MTU less that
 * (lib/toobig.h); a narrower link further on may fragment an outer IPv4
 * packet (DF clear, a random ID). The outer header copies the inner TOS /
 * traffic class, ECN bits included (RFC 6040's normal mode).
 */
#ifndef __DROVER_BPF_ENCAP_H
#define __DROVER_BPF_ENCAP_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/hash.h"
#include "drover/maps.h"

#include "lib/csum.h"
#include "lib/parse.h"
#include "lib/stats.h"

#define ENCAP_TTL 64

/* How many bytes encap adds in front of the packet's IP header. */
static __always_inline __u32 encap_len(const struct pkt *p)
{
	return p->ip4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
}

/* Full checksum of a 20-byte IPv4 header (check field zero). */
static __always_inline __u16 ipv4_csum(const struct iphdr *iph)
{
	return csum_fold(csum_words(iph, sizeof(*iph) / 2, 0));
}

/* Does the 20-byte IPv4 header's checksum fail? Summed with its field, a sound one folds to 0. */
static __always_inline bool ipv4_csum_bad(const struct iphdr *iph)
{
	return ipv4_csum(iph) != 0;
}

/*
 * Grow the head by @grow bytes and move the L2 header (14 bytes, or 18 with a
 * VLAN tag) to the new front. Return: the new start of the L3 header or NULL.
 */
static __always_inline void *encap_push(struct xdp_md *ctx, struct pkt *p, int grow, bool vlan)
{
	void *data, *data_end;
	__u32 l2 = vlan ? ETH_HLEN + 4 : ETH_HLEN;

	if (bpf_xdp_adjust_head(ctx, -grow))
		return NULL;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	/* The old L2 header starts @grow bytes in; @grow ≥ 20 > 18, so no overlap. */
	if (vlan) {
		if (data + grow + ETH_HLEN + 4 > data_end)
			return NULL;
		__builtin_memcpy(data, data + grow, ETH_HLEN + 4);
	} else {
		if (data + grow + ETH_HLEN > data_end)
			return NULL;
		__builtin_memcpy(data, data + grow, ETH_HLEN);
	}
	p->eth = data;
	return data + l2;
}

/**
 * encap - wrap the packet for tunnel mode toward @be from @svc's source address
 * Return: DRV_CONTINUE with p->eth and p->ip4/p->ip6 pointing at the new
 *         outer headers (p->tcp is no longer valid), or XDP_DROP (counted).
 */
static __always_inline int encap(struct xdp_md *ctx, struct pkt *p, const struct drv_svc *svc,
				 const struct drv_backend *be)
{
	void *data_end;
	bool vlan;

	if (be->family != p->family)
		return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
	vlan = p->eth->h_proto == bpf_htons(ETH_P_8021Q) ||
	       p->eth->h_proto == bpf_htons(ETH_P_8021AD);
	if (p->ip4) {
		__u16 inner_len = bpf_ntohs(p->ip4->tot_len);
		__u8 tos = p->ip4->tos;
		struct iphdr *iph;

		iph = encap_push(ctx, p, sizeof(*iph), vlan);
		data_end = (void *)(long)ctx->data_end;
		if (!iph || (void *)(iph + 1) > data_end)
			return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
		iph->version = 4;
		iph->ihl = 5;
		iph->tos = tos;
		iph->tot_len = bpf_htons(inner_len + sizeof(*iph));
		/*
		 * DF clear, so a narrower link toward the node may fragment the
		 * outer packet (the node reassembles, then decapsulates); then
		 * its ID must not repeat between the balancer and a node within
		 * the reassembly time (RFC 791, 6864): a random one, as the
		 * kernel's own tunnels pick.
		 */
		iph->id = (__u16)bpf_get_prandom_u32();
		iph->frag_off = 0;
		iph->ttl = ENCAP_TTL;
		iph->protocol = IPPROTO_IPIP;
		iph->check = 0;
		iph->saddr = svc->snat.v4;
		iph->daddr = be->addr.v4;
		iph->check = ipv4_csum(iph);
		p->ip4 = iph;
		p->ip6 = NULL;
	} else if (p->ip6) {
		__u16 inner_len = sizeof(*p->ip6) + bpf_ntohs(p->ip6->payload_len);
		/* The traffic class (DSCP, ECN) is the inner one's, as IPv4's TOS is. */
		__u32 tclass = bpf_ntohl(*(__be32 *)p->ip6) & 0x0ff00000;
		struct ipv6hdr *ip6;
		__u32 flow;

		/* The flow label carries the flow's hash: ECMP entropy on the way to the node. */
		flow = drv_flow_hash(&p->key) & 0xfffff;
		ip6 = encap_push(ctx, p, sizeof(*ip6), vlan);
		data_end = (void *)(long)ctx->data_end;
		if (!ip6 || (void *)(ip6 + 1) > data_end)
			return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
		*(__be32 *)ip6 = bpf_htonl(0x60000000 | tclass | flow);
		ip6->payload_len = bpf_htons(inner_len);
		ip6->nexthdr = IPPROTO_IPV6;
		ip6->hop_limit = ENCAP_TTL;
		__builtin_memcpy(&ip6->saddr, &svc->snat, sizeof(ip6->saddr));
		__builtin_memcpy(&ip6->daddr, &be->addr, sizeof(ip6->daddr));
		p->ip6 = ip6;
		p->ip4 = NULL;
	}
	p->tcp = NULL;
	return DRV_CONTINUE;
}

#endif /* __DROVER_BPF_ENCAP_H */
