/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * A packet longer than the MTU of drover's own egress toward its next hop.
 * XDP cannot fragment, and the kernel silently drops a redirected frame
 * longer than the device's MTU; a router answers such a packet with ICMP
 * "fragmentation needed" (type 3 code 4) or ICMPv6 "packet too big" (type 2),
 * and so does drover, from the XDP program: the error goes back out of the
 * ingress device to the packet's sender, quoting the packet as it was
 * received (before any rewrite), and the sender's kernel lowers its path MTU
 * and sends smaller segments. Where: a client's segment too long for the way
 * to its node (tunnel mode adds 20 / 40 bytes: a full-size segment on equal
 * MTUs is one), a node's reply too long for the way to its client (nat).
 *
 * An IPv4 packet without DF is left to the stack after its rewrite, to be
 * fragmented as any router would (nat, tunnel; dsr's packet is still
 * addressed to the VIP, so it is dropped). Quoted are the IP header and the
 * first 8 TCP bytes (ports, sequence number: what the sender's kernel
 * matches); a packet with IPv4 options or IPv6 extension headers or from a
 * source no error may go to, or an egress narrower than the family's minimum
 * once what tunnel adds is taken off, gets no error (drop_too_big). Like a
 * router's, these errors are not rate-limited (the kernel exempts path MTU
 * discovery from its ICMP limits); each is shorter than the packet it answers.
 */
#ifndef __DROVER_BPF_TOOBIG_H
#define __DROVER_BPF_TOOBIG_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/maps.h"

#include "lib/csum.h"
#include "lib/encap.h"
#include "lib/parse.h"
#include "lib/stats.h"

#ifndef IP_DF
#define IP_DF 0x4000
#endif
#define TOO_BIG_QUOTE_L4 8 /* TCP bytes quoted: ports and sequence number */
#define TOO_BIG_TTL 64
#define IPV4_MIN_MTU 68
#define IPV6_MIN_MTU 1280

struct too_big_hdr {
	__u8 type;
	__u8 code;
	__u16 check;
	__be32 mtu; /* IPv4: 16 unused bits, then the next-hop MTU */
};

/* The packet's IP length (header(s) and payload), as its header says. */
static __always_inline __u32 pkt_l3_len(const struct pkt *p)
{
	if (p->ip4)
		return bpf_ntohs(p->ip4->tot_len);
	if (p->ip6)
		return sizeof(*p->ip6) + bpf_ntohs(p->ip6->payload_len);
	return 0;
}

/* Swap the frame's Ethernet addresses: the answer goes back to the hop the packet came from. */
static __always_inline void eth_swap(struct ethhdr *eth)
{
	__u8 mac[ETH_ALEN];

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
}

/*
 * Cut the frame after the quote (@qlen bytes from the IP header on) and grow
 * it in front by @hlen (the error's IP and ICMP headers), the L2 header and a
 * VLAN tag moved to the new front. Return: the new IP header, with @hlen +
 * @qlen bytes behind it, or NULL.
 */
static __always_inline void *too_big_room(struct xdp_md *ctx, struct pkt *p, __u32 hlen, __u32 qlen)
{
	bool vlan = p->eth->h_proto == bpf_htons(ETH_P_8021Q) ||
		    p->eth->h_proto == bpf_htons(ETH_P_8021AD);
	__u32 l2 = vlan ? ETH_HLEN + 4 : ETH_HLEN;
	void *l3;

	if (bpf_xdp_adjust_tail(ctx, (int)(l2 + qlen) - (int)p->len))
		return NULL;
	l3 = encap_push(ctx, p, hlen, vlan);
	if (!l3 || l3 + hlen + qlen > (void *)(long)ctx->data_end)
		return NULL;
	return l3;
}

/**
 * too_big_reply - turn the packet, unchanged so far, into the too-big error that answers it
 * @mtu: the MTU to announce (the egress's, less what the rewrite adds)
 * The error is from the packet's destination (the VIP, or the SNAT address a
 * node's reply was sent to) to its source, and quotes the packet's IP header
 * and first TOO_BIG_QUOTE_L4 TCP bytes.
 * Return: XDP_TX (counted too_big), or XDP_DROP (counted).
 */
static __always_inline int too_big_reply(struct xdp_md *ctx, struct pkt *p, __u32 mtu)
{
	struct too_big_hdr *ic;

	/*
	 * No error to a source no host has (a node's reply from one: drover's
	 * forward path drops such clients). Frames to a group MAC never get here
	 * (drover_xdp passes them).
	 */
	if (!src_is_host(p))
		return stats_drop(ctx, DRV_STAT_DROP_TOO_BIG);
	if (p->ip4) {
		struct iphdr *iph, *q;
		__u32 qlen = sizeof(*iph) + TOO_BIG_QUOTE_L4, hlen = sizeof(*iph) + sizeof(*ic);

		if (!ip_hdr_plain(p) || mtu < IPV4_MIN_MTU)
			return stats_drop(ctx, DRV_STAT_DROP_TOO_BIG);
		/*
		 * A router drops a header whose checksum fails, unanswered: its
		 * length, DF or source may be the corruption (drover forwards
		 * such packets unchecked; the next hop drops them).
		 */
		if (ipv4_csum_bad(p->ip4))
			return stats_drop(ctx, DRV_STAT_DROP_IP_BAD);
		iph = too_big_room(ctx, p, hlen, qlen);
		if (!iph)
			return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
		ic = (void *)(iph + 1);
		q = (void *)(ic + 1);
		iph->version = 4;
		iph->ihl = 5;
		iph->tos = 0;
		iph->tot_len = bpf_htons(hlen + qlen);
		iph->id = 0;
		iph->frag_off = bpf_htons(IP_DF);
		iph->ttl = TOO_BIG_TTL;
		iph->protocol = IPPROTO_ICMP;
		iph->check = 0;
		iph->saddr = q->daddr;
		iph->daddr = q->saddr;
		iph->check = ipv4_csum(iph);
		ic->type = 3; /* destination unreachable */
		ic->code = 4; /* fragmentation needed and DF set */
		ic->check = 0;
		ic->mtu = bpf_htonl(mtu & 0xffff);
		ic->check = csum_fold(csum_words(ic, (sizeof(*ic) + qlen) / 2, 0));
	} else if (p->ip6) {
		struct ipv6hdr *ip6, *q;
		__u32 qlen = sizeof(*ip6) + TOO_BIG_QUOTE_L4, hlen = sizeof(*ip6) + sizeof(*ic);
		__u32 s;

		if (!ip_hdr_plain(p) || mtu < IPV6_MIN_MTU)
			return stats_drop(ctx, DRV_STAT_DROP_TOO_BIG);
		ip6 = too_big_room(ctx, p, hlen, qlen);
		if (!ip6)
			return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
		ic = (void *)(ip6 + 1);
		q = (void *)(ic + 1);
		*(__be32 *)ip6 = bpf_htonl(0x60000000);
		ip6->payload_len = bpf_htons(sizeof(*ic) + qlen);
		ip6->nexthdr = IPPROTO_ICMPV6;
		ip6->hop_limit = TOO_BIG_TTL;
		__builtin_memcpy(&ip6->saddr, &q->daddr, sizeof(ip6->saddr));
		__builtin_memcpy(&ip6->daddr, &q->saddr, sizeof(ip6->daddr));
		ic->type = 2; /* packet too big */
		ic->code = 0;
		ic->check = 0;
		ic->mtu = bpf_htonl(mtu);
		s = csum_pseudo(&ip6->saddr, 16, sizeof(*ic) + qlen, IPPROTO_ICMPV6);
		ic->check = csum_fold(csum_words(ic, (sizeof(*ic) + qlen) / 2, s));
	} else {
		return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
	}
	eth_swap(p->eth);
	stats_count(DRV_STAT_ICMP_TOO_BIG, p->len);
	return XDP_TX;
}

/*
 * Longer than the ingress device's MTU: no frame on its wire is, so this is
 * an aggregate (GRO, before XDP in skb mode) whose segments each fit. It is
 * sent on as ever, never answered: an error would shrink nothing.
 */
static __always_inline bool pkt_is_aggregate(struct xdp_md *ctx, const struct pkt *p)
{
	__u32 in_len = pkt_l3_len(p);

	return bpf_check_mtu(ctx, 0, &in_len, 0, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED;
}

/*
 * The length a next-hop lookup checks against the egress MTU: the packet's,
 * @grow bytes longer once rewritten; none for an aggregate, which the FIB
 * would otherwise call too big and leave without a next hop.
 */
static __always_inline __u32 fwd_check_len(struct xdp_md *ctx, const struct pkt *p, __u32 grow)
{
	return pkt_is_aggregate(ctx, p) ? 0 : pkt_l3_len(p) + grow;
}

/**
 * fwd_fits - may the packet, @grow bytes longer once rewritten, leave through an egress of @mtu?
 * Called before the rewrite. @may_pass as for fwd_resolve.
 * Return: DRV_CONTINUE: it fits, or the MTU is unknown (0); XDP_PASS: an
 *         IPv4 packet without DF, too long: rewrite it and leave it to the
 *         stack to fragment (counted fib_pass); XDP_TX: the packet is now the
 *         too-big error answering it; XDP_DROP (counted).
 */
static __always_inline int fwd_fits(struct xdp_md *ctx, struct pkt *p, __u32 mtu, __u32 grow,
				    bool may_pass)
{
	if (!mtu || pkt_l3_len(p) + grow <= mtu || pkt_is_aggregate(ctx, p))
		return DRV_CONTINUE;
	if (p->ip4 && !(p->ip4->frag_off & bpf_htons(IP_DF))) {
		if (!may_pass)
			return stats_drop(ctx, DRV_STAT_DROP_TOO_BIG);
		stats_count(DRV_STAT_FIB_PASS, p->len);
		return XDP_PASS;
	}
	return too_big_reply(ctx, p, mtu > grow ? mtu - grow : 0);
}

#endif /* __DROVER_BPF_TOOBIG_H */
