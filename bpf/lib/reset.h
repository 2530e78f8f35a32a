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
		s = csum_words(&iph->saddr, 4, bpf_htons(sizeof(*t)) + bpf_htons(IPPROTO_TCP));
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
		s = csum_words(&ip6->saddr, 16, bpf_htons(sizeof(*t)) + bpf_htons(IPPROTO_TCP));
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
