/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * A client's segment on a connection no node holds any more (its node is
 * down): drover answers it with the RST that node's kernel would have sent
 * for a segment of an unknown connection (RFC 9293, 3.10.7.1), from the VIP
 * and port the client talks to, back out of the ingress device. Sent on, the
 * segment would reach another node, which resets it too, unless that node
 * holds the 4-tuple in TIME_WAIT: it then answers with bare ACKs and the
 * client hangs until its retransmissions give up.
 *
 * The frame is cut to its IP header and the first 20 TCP bytes and rewritten
 * in place; a segment with IPv4 options or IPv6 extension headers gets no
 * RST (the caller sends it on as before). As the kernel's own RST, it keeps
 * the segment's DSCP and carries no ECN codepoint (a RST is not ECN-capable),
 * and no flow label.
 */
#ifndef __DROVER_BPF_RESET_H
#define __DROVER_BPF_RESET_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lib/csum.h"
#include "lib/encap.h"
#include "lib/parse.h"
#include "lib/stats.h"
#include "lib/toobig.h"

#define RST_TTL 64
#define TCPF_RST_WORD 0x0004 /* flags half of the data-offset word */
#define TCPF_ACK_WORD 0x0010
#define INET_ECN_MASK 0x03 /* the two ECN bits of the TOS / traffic class */
#define IP6_DSCP_MASK 0x0fc00000 /* DSCP in IPv6's first word: version 4, class 8, label 20 bits */

/* Swap the @n bytes at @a and @b (addresses; @n a multiple of 4). */
static __always_inline void swap_words(__u32 *a, __u32 *b, int n)
{
	__u32 t;
	int i;

#pragma unroll
	for (i = 0; i < n / 4; i++) {
		t = a[i];
		a[i] = b[i];
		b[i] = t;
	}
}

static const __u32 segbuf_key; /* in .rodata: no stack for the key (below) */

/*
 * tcp_seg_csum_ok - does the TCP checksum of the segment at @off (@len bytes) verify?
 * @sum: the pseudo-header's sum (16-bit words as they lie in memory)
 * A global function: the verifier checks it once, not on every path that
 * reaches a RST (inlined, drover_xdp went past the verifier's 1M-instruction
 * limit). The segment is copied out (bpf_xdp_load_bytes) and summed in
 * 512-byte pieces: summed in the packet, every remainder length was a path
 * of its own to verify, and clang moved bounds checks off the pointers used.
 * Return: 1 if it verifies, 0 otherwise (also past DRV_SEG_MAX bytes).
 */
__noinline int tcp_seg_csum_ok(struct xdp_md *ctx, __u32 off, __u32 len, __u32 sum)
{
	__u64 l = len, k, piece, rest;
	struct drv_segbuf *sb;

	/*
	 * @len as a 64-bit value out of clang's sight: zero-extending the
	 * 32-bit one, clang 14 checked one copy and used another, whose bounds
	 * the verifier had not seen.
	 */
	asm volatile("" : "+r"(l));
	if (!l || l > DRV_SEG_MAX)
		return 0;
	sb = bpf_map_lookup_elem(&DRV_MAP_SEGBUF, &segbuf_key);
	if (!sb)
		return 0;
	/* The odd last bytes are summed padded with zeros after them, as TCP's checksum does. */
	if (l & 3)
		*(__u32 *)&sb->b[l & ~3ull] = 0;
	if (bpf_xdp_load_bytes(ctx, off, sb->b, l))
		return 0;
	sb->acc = sum;
	for (k = 0; k < l; k += 512) {
		/* k opaque: clang kept l - k as one more register, spilled to the stack */
		asm volatile("" : "+r"(k));
		rest = l - k;
		piece = rest > 512 ? 512 : (rest + 3) & ~3ull;
		sb->acc = (__u32)bpf_csum_diff(NULL, 0, (__be32 *)&sb->b[k], piece,
					       (__u16)~csum_fold64(sb->acc));
	}
	return csum_fold64(sb->acc) == 0;
}

/*
 * tcp_seg_damage - would the node's kernel take the client's segment @p at all?
 * It drops one whose IPv4 header or TCP checksum fails, silently: drover
 * answers no RST for it either (a corrupt segment's acknowledgment number is
 * no sequence number to reset with). Call only if ip_hdr_plain(@p).
 * Return: 0 if intact, else the drop reason (DRV_STAT_DROP_IP_BAD / _TCP_BAD).
 */
static __always_inline int tcp_seg_damage(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	__u32 l3 = p->ip4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr), len, s;

	len = pkt_l3_len(p) - l3;
	if (p->ip4) {
		if (ipv4_csum_bad(p->ip4))
			return DRV_STAT_DROP_IP_BAD;
		s = csum_pseudo(&p->ip4->saddr, 4, len, IPPROTO_TCP);
	} else {
		s = csum_pseudo(&p->ip6->saddr, 16, len, IPPROTO_TCP);
	}
	/*
	 * The field holding the pseudo-header's sum alone: the checksum was left
	 * to offload, not computed. A GRO aggregate in skb mode, of any length
	 * (the kernel merged only segments whose checksums verified; see
	 * tcp4/6_gro_complete), or a local sender's frame over a veth. Checked in
	 * full it always fails; a corrupt segment has that value once in 65,536.
	 * An aggregate longer than the MTU is not summed either (its length may
	 * pass DRV_SEG_MAX).
	 */
	if (p->tcp->check == (__u16)~csum_fold(s) || pkt_is_aggregate(ctx, p))
		return 0;
	return tcp_seg_csum_ok(ctx, (void *)p->tcp - data, len, s) ? 0 : DRV_STAT_DROP_TCP_BAD;
}

/**
 * tcp_reset_reply - turn the client's segment @p (unchanged so far) into the RST that answers it
 * With ACK, the RST's sequence number is the segment's acknowledgment and it
 * acknowledges nothing; without, it has sequence 0 and acknowledges the
 * segment (its payload, SYN and FIN). Call only if ip_hdr_plain(@p)
 * and never for a RST.
 * Return: XDP_TX, or XDP_DROP (counted internal) if the frame cannot be cut.
 */
static __always_inline int tcp_reset_reply(struct xdp_md *ctx, struct pkt *p)
{
	bool vlan = p->eth->h_proto == bpf_htons(ETH_P_8021Q) ||
		    p->eth->h_proto == bpf_htons(ETH_P_8021AD);
	__u32 l2 = vlan ? ETH_HLEN + 4 : ETH_HLEN, seq = 0, ack = 0, seglen, s;
	bool v4 = p->family == DRV_FAMILY_V4;
	__u32 l3 = v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	struct tcphdr *th = p->tcp, *t;
	__u16 flags = TCPF_RST_WORD;
	void *data, *data_end, *ip;
	__be16 port;

	if (th->ack) {
		seq = th->ack_seq;
	} else {
		seglen = pkt_l3_len(p) - l3 - th->doff * 4 + th->syn + th->fin;
		ack = bpf_htonl(bpf_ntohl(th->seq) + seglen);
		flags |= TCPF_ACK_WORD;
	}
	if (bpf_xdp_adjust_tail(ctx, (int)(l2 + l3 + sizeof(*t)) - (int)p->len))
		return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN > data_end)
		return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
	eth_swap(data);
	ip = data + l2;
	if (v4) {
		struct iphdr *iph = ip;

		t = (void *)(iph + 1);
		if ((void *)(t + 1) > data_end)
			return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
		swap_words(&iph->saddr, &iph->daddr, 4);
		iph->tos &= ~INET_ECN_MASK;
		iph->tot_len = bpf_htons(sizeof(*iph) + sizeof(*t));
		iph->id = 0;
		iph->frag_off = bpf_htons(IP_DF);
		iph->ttl = RST_TTL;
		iph->check = 0;
		iph->check = ipv4_csum(iph);
		s = csum_pseudo(&iph->saddr, 4, sizeof(*t), IPPROTO_TCP);
	} else {
		struct ipv6hdr *ip6 = ip;

		t = (void *)(ip6 + 1);
		if ((void *)(t + 1) > data_end)
			return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
		swap_words((__u32 *)&ip6->saddr, (__u32 *)&ip6->daddr, 16);
		*(__be32 *)ip6 = bpf_htonl(0x60000000) |
				 (*(__be32 *)ip6 & bpf_htonl(IP6_DSCP_MASK));
		ip6->payload_len = bpf_htons(sizeof(*t));
		ip6->hop_limit = RST_TTL;
		s = csum_pseudo(&ip6->saddr, 16, sizeof(*t), IPPROTO_TCP);
	}
	port = t->source;
	t->source = t->dest;
	t->dest = port;
	t->seq = seq;
	t->ack_seq = ack;
	*((__be16 *)t + 6) = bpf_htons(5 << 12 | flags);
	t->window = 0;
	t->check = 0;
	t->urg_ptr = 0;
	t->check = csum_fold(csum_words(t, sizeof(*t) / 2, s));
	return XDP_TX;
}

#endif /* __DROVER_BPF_RESET_H */
