/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Crafted packets for the data-path tests: Ethernet (+ VLAN), IPv4 (+ options)
 * or IPv6 (+ destination-options headers), TCP, payload; checksums computed
 * from scratch here, independently of the program's incremental updates, and
 * a checker that recomputes them on any frame.
 */
#ifndef __DROVER_TEST_PKT_H
#define __DROVER_TEST_PKT_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

#include "drover/maps.h"

#define PKT_MAX 2048 /* room for a frame past a 1500-byte MTU */

struct pkt_spec {
	__u8 family;		/* DRV_FAMILY_V4 / _V6 */
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	__u16 vlan;		/* 802.1Q VLAN id, 0 = untagged */
	const char *saddr, *daddr;
	__u16 sport, dport;	/* host order */
	__u8 ttl;		/* 0 → 64 */
	__u8 flags;		/* TCP flags byte: 0x02 SYN, 0x10 ACK, 0x01 FIN, 0x04 RST */
	__u32 seq;
	__u16 payload;		/* payload bytes (a fixed pattern) */
	__u8 ip_opts;		/* IPv4 option bytes (NOPs), multiple of 4 */
	__u8 ip6_ext;		/* IPv6 destination-options headers (8 bytes each) */
	__u8 frag;		/* 1: first fragment (MF set) */
	__u8 no_df;		/* IPv4: DF clear (pkt_build sets it on every unfragmented packet) */
	__u8 tos;		/* IPv4 TOS / IPv6 traffic class: DSCP << 2 | ECN */
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Sum 16-bit words as they lie in memory (one's complement, not folded). */
static inline __u32 pkt_sum(const void *buf, size_t len, __u32 sum)
{
	const __u8 *b = buf;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (__u32)(b[len - 1] << 8);
	return sum;
}

static inline __u16 pkt_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* TCP checksum over the pseudo-header and segment (big-endian arithmetic). */
static inline __u16 pkt_tcp_csum(__u8 family, const void *src, const void *dst, const void *seg,
				 size_t len)
{
	size_t alen = family == DRV_FAMILY_V4 ? 4 : 16;
	__u32 sum = 0;

	sum = pkt_sum(src, alen, sum);
	sum = pkt_sum(dst, alen, sum);
	sum += IPPROTO_TCP + (__u32)len;
	sum = pkt_sum(seg, len, sum);
	return pkt_fold(sum);
}

/* Set the header checksum of IPv4 header @iph from scratch. */
static inline void pkt_ip4_csum_set(struct iphdr *iph)
{
	iph->check = 0;
	iph->check = htons(pkt_fold(pkt_sum(iph, iph->ihl * 4, 0)));
}

/* Build the frame described by @s into @buf; returns its length. */
static inline size_t pkt_build(const struct pkt_spec *s, __u8 *buf)
{
	__u16 tcp_len = sizeof(struct tcphdr) + s->payload;
	struct ethhdr *eth = (struct ethhdr *)buf;
	struct tcphdr *th;
	size_t off = sizeof(*eth), l3, i;
	__u16 proto = s->family == DRV_FAMILY_V4 ? ETH_P_IP : ETH_P_IPV6;

	memset(buf, 0, PKT_MAX);
	memcpy(eth->h_dest, s->dmac, ETH_ALEN);
	memcpy(eth->h_source, s->smac, ETH_ALEN);
	if (s->vlan) {
		eth->h_proto = htons(ETH_P_8021Q);
		*(__be16 *)(buf + off) = htons(s->vlan);
		*(__be16 *)(buf + off + 2) = htons(proto);
		off += 4;
	} else {
		eth->h_proto = htons(proto);
	}
	l3 = off;
	if (s->family == DRV_FAMILY_V4) {
		struct iphdr *iph = (struct iphdr *)(buf + l3);

		iph->version = 4;
		iph->ihl = 5 + s->ip_opts / 4;
		iph->tos = s->tos;
		iph->tot_len = htons(iph->ihl * 4 + tcp_len);
		iph->id = htons(0x1234);
		iph->frag_off = htons(s->frag ? 0x2000 : s->no_df ? 0 : 0x4000); /* MF, or DF */
		iph->ttl = s->ttl ?: 64;
		iph->protocol = IPPROTO_TCP;
		inet_pton(AF_INET, s->saddr, &iph->saddr);
		inet_pton(AF_INET, s->daddr, &iph->daddr);
		memset(buf + l3 + sizeof(*iph), 1, s->ip_opts);	/* NOP options */
		off += iph->ihl * 4;
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(buf + l3);
		__u8 next = IPPROTO_TCP;

		ip6->version = 6;
		ip6->priority = s->tos >> 4;
		ip6->flow_lbl[0] = (__u8)(s->tos << 4);
		ip6->payload_len = htons(s->ip6_ext * 8 + (s->frag ? 8 : 0) + tcp_len);
		ip6->hop_limit = s->ttl ?: 64;
		inet_pton(AF_INET6, s->saddr, &ip6->saddr);
		inet_pton(AF_INET6, s->daddr, &ip6->daddr);
		off += sizeof(*ip6);
		/* Chain: [dstopts]* [frag] tcp; each header names the next. */
		ip6->nexthdr = s->ip6_ext ? IPPROTO_DSTOPTS : s->frag ? IPPROTO_FRAGMENT : next;
		for (i = 0; i < s->ip6_ext; i++) {
			buf[off] = i + 1 < s->ip6_ext ? IPPROTO_DSTOPTS :
				   s->frag	       ? IPPROTO_FRAGMENT :
							 next;
			buf[off + 1] = 0;	/* 8 bytes: PadN of 6 */
			buf[off + 2] = 1;
			buf[off + 3] = 4;
			off += 8;
		}
		if (s->frag) {
			buf[off] = next;
			*(__be16 *)(buf + off + 2) = htons(1);	/* offset 0, M */
			*(__be32 *)(buf + off + 4) = htonl(0xabcd);
			off += 8;
		}
	}
	th = (struct tcphdr *)(buf + off);
	th->source = htons(s->sport);
	th->dest = htons(s->dport);
	th->seq = htonl(s->seq ?: 1000);
	th->ack_seq = htonl(s->flags & TCP_ACK ? 2000 : 0);
	th->doff = 5;
	((__u8 *)th)[13] = s->flags;
	th->window = htons(65535);
	for (i = 0; i < s->payload; i++)
		buf[off + sizeof(*th) + i] = (__u8)('a' + i % 26);
	if (s->family == DRV_FAMILY_V4) {
		struct iphdr *iph = (struct iphdr *)(buf + l3);

		th->check = htons(pkt_tcp_csum(s->family, &iph->saddr, &iph->daddr, th, tcp_len));
		pkt_ip4_csum_set(iph);
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(buf + l3);

		th->check = htons(pkt_tcp_csum(s->family, &ip6->saddr, &ip6->daddr, th, tcp_len));
	}
	return off + tcp_len;
}

/*
 * Recompute the IPv4 header and TCP checksums of frame @buf as built by
 * pkt_build (same header layout); true if both verify.
 */
static inline bool pkt_csums_ok(const __u8 *buf, size_t len, const struct pkt_spec *layout)
{
	size_t l3 = ETH_HLEN + (layout->vlan ? 4 : 0), l4;

	if (layout->family == DRV_FAMILY_V4) {
		const struct iphdr *iph = (const void *)(buf + l3);

		l4 = l3 + iph->ihl * 4;
		if (pkt_fold(pkt_sum(iph, iph->ihl * 4, 0)) != 0)
			return false;
		return pkt_fold(pkt_sum(buf + l4, len - l4,
					pkt_sum(&iph->saddr, 8, 0) + IPPROTO_TCP + len - l4)) == 0;
	}
	l4 = l3 + sizeof(struct ipv6hdr) + layout->ip6_ext * 8 + (layout->frag ? 8 : 0);
	return pkt_fold(pkt_sum(buf + l4, len - l4,
				pkt_sum(buf + l3 + 8, 32, 0) + IPPROTO_TCP + len - l4)) == 0;
}

/*
 * An ICMP "fragmentation needed" (IPv4, type 3 code 4) or ICMPv6 "packet
 * too big" (type 2) error, as a router sends it: outer Ethernet and IP from
 * @saddr to @daddr, the ICMP header with @mtu, then the packet @quoted
 * describes from its IP header on, cut @quote_l4 bytes into its TCP header.
 */
struct icmp_spec {
	__u8 family;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	const char *saddr, *daddr;
	__u8 ttl;		/* 0 → 64 */
	__u8 type;		/* 0 → the too-big type of the family */
	__u8 code;		/* IPv4: 0 → 4 (fragmentation needed) */
	__u16 mtu;
	struct pkt_spec quoted;
	__u16 quote_l4;		/* bytes of the quoted TCP header and payload */
};

static inline size_t pkt_build_icmp(const struct icmp_spec *s, __u8 *buf)
{
	struct pkt_spec outer = {
		.family = s->family, .saddr = s->saddr, .daddr = s->daddr, .ttl = s->ttl
	};
	__u8 q[PKT_MAX];
	size_t qlen = pkt_build(&s->quoted, q), qhdr, l3 = ETH_HLEN, l4, len;
	bool v4 = s->family == DRV_FAMILY_V4;
	__u32 sum;

	/* The quote: the quoted packet's IP header(s), then quote_l4 bytes of its TCP. */
	qhdr = v4 ? (size_t)((struct iphdr *)(q + ETH_HLEN))->ihl * 4 :
		    sizeof(struct ipv6hdr) + s->quoted.ip6_ext * 8;
	qlen = qhdr + s->quote_l4 < qlen - ETH_HLEN ? qhdr + s->quote_l4 : qlen - ETH_HLEN;
	/* Outer headers from pkt_build (a TCP frame), then replaced from the L4 header on. */
	memcpy(outer.smac, s->smac, ETH_ALEN);
	memcpy(outer.dmac, s->dmac, ETH_ALEN);
	pkt_build(&outer, buf);
	l4 = l3 + (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr));
	len = l4 + 8 + qlen;
	memset(buf + l4, 0, PKT_MAX - l4);
	buf[l4] = s->type ?: (v4 ? 3 : 2);
	buf[l4 + 1] = v4 ? (s->code ?: 4) : s->code;
	*(__be32 *)(buf + l4 + 4) = htonl(s->mtu);
	memcpy(buf + l4 + 8, q + ETH_HLEN, qlen);
	if (v4) {
		struct iphdr *iph = (struct iphdr *)(buf + l3);

		iph->protocol = IPPROTO_ICMP;
		iph->tot_len = htons(len - l3);
		pkt_ip4_csum_set(iph);
		sum = 0;
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(buf + l3);

		ip6->nexthdr = IPPROTO_ICMPV6;
		ip6->payload_len = htons(len - l4);
		sum = pkt_sum(&ip6->saddr, 32, 0) + IPPROTO_ICMPV6 + (__u32)(len - l4);
	}
	*(__be16 *)(buf + l4 + 2) = htons(pkt_fold(pkt_sum(buf + l4, len - l4, sum)));
	return len;
}

static inline void pkt_hexdump(const char *what, const __u8 *buf, size_t len)
{
	size_t i;

	fprintf(stderr, "%s (%zu bytes):", what, len);
	for (i = 0; i < len; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", buf[i]);
	fprintf(stderr, "\n");
}

#endif /* __DROVER_TEST_PKT_H */
