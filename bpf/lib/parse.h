/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Header parsing: Ethernet (+ one 802.1Q/802.1ad tag), IPv4 (options),
 * IPv6 (extension headers skipped, bounded), TCP; ICMP and ICMPv6 stop at the
 * IP layer (lib/icmp.h reads their errors). Each parser checks bounds
 * right before it reads and either fills struct pkt and returns DRV_CONTINUE,
 * or returns a verdict after counting why.
 *
 * Policy for broken headers: a truncated Ethernet, IP or TCP header, a bad
 * IP version, IHL or length, or a bad TCP data offset is dropped and counted
 * whatever the destination: no legitimate packet carries one, and the stack
 * drops them too when they are for this host. That includes a first
 * fragment whose IP length cuts its TCP header (RFC 1858's tiny fragment: the
 * stack would reassemble it, but no sender splits a TCP header). Any other
 * fragment is dropped only when it is addressed to a service (non-first
 * fragments carry no ports, so they are passed); everything sound that is not
 * for a service passes untouched.
 */
#ifndef __DROVER_BPF_PARSE_H
#define __DROVER_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/maps.h"

#include "lib/stats.h"

#define DRV_CONTINUE (-1)

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff
#define IP6_MAX_EXT_HDRS 4 /* longer chains are passed, never misparsed */

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct ip6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M flag */
	__be32 id;
};

/* What the parsers learn about a packet. Pointers are valid until the frame changes size. */
struct pkt {
	struct ethhdr *eth;
	struct iphdr *ip4; /* one of ip4 / ip6 */
	struct ipv6hdr *ip6;
	struct tcphdr *tcp; /* NULL until parse_tcp */
	void *l4; /* first byte after the IP header(s) */
	__u32 len; /* frame length as received */
	__u8 family; /* DRV_FAMILY_V4 / _V6 */
	__u8 frag; /* first fragment (later ones are passed before TCP parsing) */
	__u8 icmp; /* ICMP or ICMPv6, not TCP: p->l4 is its header */
	__u8 rt6; /* IPv6 routing header seen */
	struct drv_flow_key key; /* 5-tuple as received; pad zero */
};

/**
 * parse_eth - Ethernet and at most one VLAN tag
 * @proto: out, the EtherType after the tag, network order
 * Return: DRV_CONTINUE, or XDP_DROP for a runt frame.
 */
static __always_inline int parse_eth(struct xdp_md *ctx, struct pkt *p, void **cur, __be16 *proto)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = *cur;
	struct vlan_hdr *vh;

	if ((void *)(eth + 1) > data_end)
		return stats_drop(ctx, DRV_STAT_DROP_ETH_TRUNC);
	p->eth = eth;
	*proto = eth->h_proto;
	*cur = eth + 1;
	if (*proto == bpf_htons(ETH_P_8021Q) || *proto == bpf_htons(ETH_P_8021AD)) {
		vh = *cur;
		if ((void *)(vh + 1) > data_end)
			return stats_drop(ctx, DRV_STAT_DROP_ETH_TRUNC);
		*proto = vh->proto;
		*cur = vh + 1;
	}
	return DRV_CONTINUE;
}

/**
 * parse_ipv4 - IPv4 header with options
 * Return: DRV_CONTINUE with p->ip4, p->l4 and the address part of p->key set
 *         (p->icmp set for ICMP); XDP_PASS for other protocols and
 *         non-first fragments; XDP_DROP for broken headers.
 */
static __always_inline int parse_ipv4(struct xdp_md *ctx, struct pkt *p, void *cur)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = cur;
	__u32 hlen;

	if ((void *)(iph + 1) > data_end)
		return stats_drop(ctx, DRV_STAT_DROP_IP_TRUNC);
	if (iph->version != 4 || iph->ihl < 5)
		return stats_drop(ctx, DRV_STAT_DROP_IP_BAD);
	hlen = iph->ihl * 4;
	if (cur + hlen > data_end)
		return stats_drop(ctx, DRV_STAT_DROP_IP_TRUNC);
	/* The stack drops a total length past the frame or short of the header. */
	if (bpf_ntohs(iph->tot_len) < hlen || cur + bpf_ntohs(iph->tot_len) > data_end)
		return stats_drop(ctx, DRV_STAT_DROP_IP_BAD);
	if (iph->protocol == IPPROTO_ICMP)
		p->icmp = 1;
	else if (iph->protocol != IPPROTO_TCP)
		return XDP_PASS;
	if (iph->frag_off & bpf_htons(IP_OFFMASK))
		return XDP_PASS; /* no ports to attribute it by: the stack decides */
	p->frag = !!(iph->frag_off & bpf_htons(IP_MF));
	p->ip4 = iph;
	p->l4 = cur + hlen;
	p->family = DRV_FAMILY_V4;
	p->key.saddr.v4 = iph->saddr;
	p->key.daddr.v4 = iph->daddr;
	p->key.proto = IPPROTO_TCP;
	p->key.family = DRV_FAMILY_V4;
	return DRV_CONTINUE;
}

/**
 * parse_ipv6 - IPv6 header and up to IP6_MAX_EXT_HDRS extension headers
 * Return: as parse_ipv4 (p->icmp set for ICMPv6). Chains longer than the
 *         bound, ESP and anything that does not end in TCP or ICMPv6 are
 *         passed: never parsed past what we understand.
 */
static __always_inline int parse_ipv6(struct xdp_md *ctx, struct pkt *p, void *cur)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = cur;
	struct ip6_frag_hdr *fh;
	__u8 *ext, nexthdr;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return stats_drop(ctx, DRV_STAT_DROP_IP_TRUNC);
	if (ip6->version != 6)
		return stats_drop(ctx, DRV_STAT_DROP_IP_BAD);
	if ((void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len) > data_end)
		return stats_drop(ctx, DRV_STAT_DROP_IP_BAD);
	nexthdr = ip6->nexthdr;
	cur = ip6 + 1;
#pragma unroll
	for (i = 0; i < IP6_MAX_EXT_HDRS; i++) {
		switch (nexthdr) {
		case IPPROTO_ICMPV6:
			p->icmp = 1;
			goto l4;
		case IPPROTO_TCP:
			goto l4;
		case IPPROTO_ROUTING:
		case IPPROTO_HOPOPTS:
		case IPPROTO_DSTOPTS:
			ext = cur;
			/* each is at least 8 bytes long */
			if ((void *)(ext + 4) > data_end)
				return stats_drop(ctx, DRV_STAT_DROP_IP6_EXT);
			/*
			 * A routing header with segments left: the VIP is a
			 * waypoint, and TCP's checksum covers the final one.
			 */
			if (nexthdr == IPPROTO_ROUTING && ext[3])
				return XDP_PASS;
			p->rt6 |= nexthdr == IPPROTO_ROUTING;
			nexthdr = ext[0];
			cur += (ext[1] + 1) * 8;
			break;
		case IPPROTO_FRAGMENT:
			fh = cur;
			if ((void *)(fh + 1) > data_end)
				return stats_drop(ctx, DRV_STAT_DROP_IP6_EXT);
			if (fh->frag_off & bpf_htons(0xfff8))
				return XDP_PASS; /* not the first fragment */
			/*
			 * offset 0 with M clear is an atomic fragment, a whole packet
			 * (RFC 6946), unless an earlier fragment header had M set
			 */
			if (fh->frag_off & bpf_htons(1))
				p->frag = 1;
			nexthdr = fh->nexthdr;
			cur = fh + 1;
			break;
		default:
			return XDP_PASS;
		}
	}
	if (nexthdr == IPPROTO_ICMPV6)
		p->icmp = 1;
	else if (nexthdr != IPPROTO_TCP)
		return XDP_PASS;
l4:
	if (cur > data_end || cur > (void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len))
		return stats_drop(ctx, DRV_STAT_DROP_IP6_EXT);
	p->ip6 = ip6;
	p->l4 = cur;
	p->family = DRV_FAMILY_V6;
	__builtin_memcpy(&p->key.saddr, &ip6->saddr, sizeof(p->key.saddr));
	__builtin_memcpy(&p->key.daddr, &ip6->daddr, sizeof(p->key.daddr));
	p->key.proto = IPPROTO_TCP;
	p->key.family = DRV_FAMILY_V6;
	return DRV_CONTINUE;
}

/**
 * parse_tcp - TCP header: ports into p->key
 * Return: DRV_CONTINUE, or XDP_DROP for a header cut short or with a bad data offset.
 */
static __always_inline int parse_tcp(struct xdp_md *ctx, struct pkt *p)
{
	void *data_end = (void *)(long)ctx->data_end, *l3_end = data_end;
	struct tcphdr *th = p->l4;

	if ((void *)(th + 1) > data_end)
		return stats_drop(ctx, DRV_STAT_DROP_TCP_TRUNC);
	if (th->doff < 5)
		return stats_drop(ctx, DRV_STAT_DROP_TCP_BAD);
	/* The IP packet's end: bytes past it are a trailer, not TCP. */
	if (p->ip4)
		l3_end = (void *)p->ip4 + bpf_ntohs(p->ip4->tot_len);
	else if (p->ip6)
		l3_end = (void *)(p->ip6 + 1) + bpf_ntohs(p->ip6->payload_len);
	if ((void *)th + th->doff * 4 > data_end || (void *)th + th->doff * 4 > l3_end)
		return stats_drop(ctx, DRV_STAT_DROP_TCP_TRUNC);
	p->tcp = th;
	p->key.sport = th->source;
	p->key.dport = th->dest;
	return DRV_CONTINUE;
}

/*
 * May the packet's source be a host's? Not a broadcast, multicast,
 * unspecified or loopback address, nor an IPv4-mapped IPv6 one: the kernel
 * drops those as martians before it forwards.
 */
static __always_inline bool src_is_host(const struct pkt *p)
{
	if (p->ip4) {
		__u8 a = *(__u8 *)&p->ip4->saddr; /* the first octet */

		/* 240/4 (reserved) is no martian to the kernel; 255.255.255.255 is */
		return a != 0 && a != 127 && (a < 224 || a >= 240) && p->ip4->saddr != 0xffffffff;
	}
	if (p->ip6) {
		const __be32 *a = p->ip6->saddr.in6_u.u6_addr32;

		if (*(__u8 *)a == 0xff)
			return false;
		/* ::, ::1 and v4-mapped ::ffff:a.b.c.d */
		return a[0] || a[1] || (a[2] && a[2] != bpf_htonl(0xffff)) ||
		       (!a[2] && a[3] && a[3] != bpf_htonl(1));
	}
	return false;
}

/*
 * Is the IP header plain: no IPv4 options, no IPv6 extension headers? Only
 * such a packet is answered from XDP (a too-big error, a RST), which writes a
 * header of fixed size.
 */
static __always_inline bool ip_hdr_plain(const struct pkt *p)
{
	if (p->ip4)
		return p->ip4->ihl == 5;
	return p->ip6 && p->l4 == (void *)(p->ip6 + 1);
}

/**
 * parse_ip - Ethernet, then IPv4 or IPv6
 * Return: DRV_CONTINUE for TCP, ICMP and ICMPv6 (p->icmp says which);
 *         a verdict otherwise.
 */
static __always_inline int parse_ip(struct xdp_md *ctx, struct pkt *p)
{
	__be16 proto;
	void *cur;
	int act;

	p->len = frame_len(ctx);
	cur = (void *)(long)ctx->data;
	act = parse_eth(ctx, p, &cur, &proto);
	if (act >= 0)
		return act;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(ctx, p, cur);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(ctx, p, cur);
	return XDP_PASS;
}

#endif /* __DROVER_BPF_PARSE_H */
