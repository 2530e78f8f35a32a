/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Path MTU discovery through the balancer: ICMP "fragmentation needed"
 * (type 3 code 4) and ICMPv6 "packet too big" (type 2) about a packet drover
 * forwarded are sent on to the host whose packet it was. The error quotes
 * the packet's IP header and first 8 bytes (ports, sequence number), and the
 * host's kernel finds its connection by that quote, so the quote is
 * translated like the packet was.
 *
 * - Toward a client, a router on the way answers a reply (VIP:port →
 *   client:port) with an error to the VIP. The flow's node sent that reply:
 *   the error goes to it. nat: outer SNAT address → node, quote node:port →
 *   SNAT address:port, as the node sent it; dsr: unchanged (the node holds
 *   the VIP); tunnel: wrapped like the flow's packets.
 * - Toward a node (nat), a router answers a forwarded packet (SNAT:port →
 *   node:port) with an error to the SNAT address. The flow's client sent it:
 *   outer VIP → client, quote client:port → VIP:port.
 *
 * Without this, a narrower link beyond the balancer on either side is a
 * black hole for full-size segments (IPv6 routers never fragment). Other
 * ICMP passes, and so do an error about a nat flow with no record (counted
 * under icmp_miss) and a nat error below DRV_ICMP_NAT_MIN_MTU (icmp_low_mtu).
 */
#ifndef __DROVER_BPF_ICMP_H
#define __DROVER_BPF_ICMP_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/hash.h"
#include "drover/maps.h"

#include "lib/csum.h"
#include "lib/encap.h"
#include "lib/fwd.h"
#include "lib/lb.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMPV6_PKT_TOOBIG 2
#define TCP_CHECK_END 18 /* the TCP checksum field ends 18 bytes into the header */
/*
 * In nat a node sees every client as the SNAT address, so its kernel keeps one
 * path MTU toward it for all of them: an error taken to the node lowers it for
 * every client of that node through this balancer, for 10 minutes. Below this
 * MTU (IPv6's minimum; real paths seldom go lower) an error about one client
 * is not worth that: it passes, counted under icmp_low_mtu.
 */
#define DRV_ICMP_NAT_MIN_MTU 1280

/* ICMP and ICMPv6 share this layout; the rest of the header is the next-hop MTU. */
struct icmp_err {
	__u8 type;
	__u8 code;
	__u16 check;
	__be32 mtu;
};

/* The packet an error quotes: its headers in the frame. */
struct icmp_quote {
	struct iphdr *ip4; /* one of ip4 / ip6 */
	struct ipv6hdr *ip6;
	__be16 *ports; /* source, destination */
	__u16 *tcp_check; /* NULL when the quote ends before it */
};

/* An IPv6 header and IP6_MAX_EXT_HDRS extension headers of at most 2048 bytes each. */
#define ICMP_QUOTE6_OFF_MAX (sizeof(struct ipv6hdr) + IP6_MAX_EXT_HDRS * 2048)
#define ICMP_QUOTE6_OFF_MASK 0x3fff
_Static_assert(ICMP_QUOTE6_OFF_MAX <= ICMP_QUOTE6_OFF_MASK, "quote offset mask");

/**
 * icmp_quote_ext6 - where quoted IPv6 packet @ip6's TCP header starts, past its extension headers
 * A packet drover forwards or translates keeps its extension headers (hop-by-hop,
 * destination options, a routing header with no segments left, an atomic
 * fragment's header), and an error about it quotes them (RFC 4443 2.4(c): as
 * much of the packet as fits). The chain is walked as parse_ipv6 walks it, as
 * far: a longer one, a later fragment (no ports), a routing header with
 * segments left (drover sends none) or a quote cut inside the chain is no
 * packet of ours to find.
 * Return: the TCP header's offset from @ip6 (not bounds-checked), or 0.
 */
static __always_inline __u32 icmp_quote_ext6(struct ipv6hdr *ip6, void *data_end)
{
	__u32 off = sizeof(*ip6);
	__u8 nexthdr = ip6->nexthdr, *ext;
	int i;

#pragma unroll
	for (i = 0; i < IP6_MAX_EXT_HDRS; i++) {
		if (nexthdr == IPPROTO_TCP)
			return off;
		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_DSTOPTS &&
		    nexthdr != IPPROTO_ROUTING && nexthdr != IPPROTO_FRAGMENT)
			return 0;
		ext = (__u8 *)ip6 + off;
		/* Each is at least 8 bytes; a fragment header's offset (<< 3, with M) is at 2. */
		if ((void *)(ext + 4) > data_end)
			return 0;
		if ((nexthdr == IPPROTO_ROUTING && ext[3]) ||
		    (nexthdr == IPPROTO_FRAGMENT && (*(__be16 *)(ext + 2) & bpf_htons(0xfff8))))
			return 0;
		off += nexthdr == IPPROTO_FRAGMENT ? 8 : (ext[1] + 1) * 8;
		nexthdr = ext[0];
	}
	return nexthdr == IPPROTO_TCP ? off : 0;
}

/**
 * icmp_quote_parse - find the quoted TCP packet of a too-big error
 * Return: DRV_CONTINUE with @q filled and p->key set to the quote's 5-tuple
 *         reversed: the key of the flow (or NAT entry) whose packet it was.
 *         XDP_PASS for any other ICMP, a quote that is not TCP or is cut
 *         before its ports, and fragments.
 */
static __always_inline int icmp_quote_parse(struct xdp_md *ctx, struct pkt *p, struct icmp_quote *q)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct icmp_err *ic = p->l4;
	long ip_end; /* offset of the outer IP packet's end: bytes past it are a trailer */
	struct drv_scratch *sc;
	__u32 zero = 0, off;
	void *l4;

	/* An ICMPv6 checksum behind a routing header covers the final destination: not ours to fix. */
	if (p->frag || p->rt6 || (void *)(ic + 1) > data_end)
		return XDP_PASS;
	if (p->ip4) {
		struct iphdr *iph = (void *)(ic + 1);

		if (ic->type != ICMP_DEST_UNREACH || ic->code != ICMP_FRAG_NEEDED)
			return XDP_PASS;
		if ((void *)(iph + 1) > data_end || iph->version != 4 || iph->ihl < 5 ||
		    iph->protocol != IPPROTO_TCP || (iph->frag_off & bpf_htons(IP_OFFMASK)))
			return XDP_PASS;
		l4 = (void *)iph + iph->ihl * 4;
		ip_end = ((void *)p->ip4 - data) + bpf_ntohs(p->ip4->tot_len);
		q->ip4 = iph;
		p->key.saddr.v4 = iph->daddr;
		p->key.daddr.v4 = iph->saddr;
	} else if (p->ip6) {
		struct ipv6hdr *ip6 = (void *)(ic + 1);

		if (ic->type != ICMPV6_PKT_TOOBIG)
			return XDP_PASS;
		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return XDP_PASS;
		sc = bpf_map_lookup_elem(&DRV_MAP_SCRATCH, &zero);
		if (!sc)
			return XDP_PASS;
		/*
		 * Read back from map memory, which the verifier does not follow:
		 * each way through the chain would otherwise take its own offset
		 * through the rest of the program (past 1M instructions; clang 14,
		 * kernel 6.18).
		 */
		sc->quote_off = icmp_quote_ext6(ip6, data_end);
		off = *(volatile __u32 *)&sc->quote_off;
		if (!off)
			return XDP_PASS;
		/* No change (the walk stops at ICMP_QUOTE6_OFF_MAX): the bound the verifier needs. */
		l4 = (void *)ip6 + (off & ICMP_QUOTE6_OFF_MASK);
		ip_end = ((void *)(p->ip6 + 1) - data) + bpf_ntohs(p->ip6->payload_len);
		q->ip6 = ip6;
		__builtin_memcpy(&p->key.saddr, &ip6->daddr, sizeof(p->key.saddr));
		__builtin_memcpy(&p->key.daddr, &ip6->saddr, sizeof(p->key.daddr));
	} else {
		return XDP_PASS;
	}
	/* RFC 792 guarantees 8 bytes of the quoted packet: the ports and the sequence number. */
	if (l4 + 8 > data_end || (l4 - data) + 8 > ip_end)
		return XDP_PASS;
	q->ports = l4;
	q->tcp_check = NULL;
	if (l4 + TCP_CHECK_END <= data_end && (l4 - data) + TCP_CHECK_END <= ip_end)
		q->tcp_check = l4 + TCP_CHECK_END - 2;
	p->key.sport = q->ports[1];
	p->key.dport = q->ports[0];
	p->key.proto = IPPROTO_TCP;
	return DRV_CONTINUE;
}

/**
 * icmp_rewrite - readdress an error and its quote, and fix every checksum
 * The outer header goes from @osrc to @odst (TTL / hop limit one less); the
 * quote becomes @qsrc:@qsport → @qdst:@qdport. Changed words go into the
 * quote's IPv4 and TCP checksums (when quoted) and into the ICMP checksum,
 * which for ICMPv6 also covers the outer addresses.
 */
static __always_inline void icmp_rewrite(struct pkt *p, struct icmp_quote *q,
					 const union drv_addr *osrc, const union drv_addr *odst,
					 const union drv_addr *qsrc, __be16 qsport,
					 const union drv_addr *qdst, __be16 qdport)
{
	struct icmp_err *ic = p->l4;
	__u32 acc, addr_acc = 0, port_acc = 0;
	__u16 old;

	port_acc = csum_add16(port_acc, q->ports[0], qsport);
	port_acc = csum_add16(port_acc, q->ports[1], qdport);
	q->ports[0] = qsport;
	q->ports[1] = qdport;
	if (p->ip4 && q->ip4) {
		struct iphdr *o = p->ip4, *qi = q->ip4;
		__u32 o_acc = 0;

		addr_acc = csum_add32(addr_acc, qi->saddr, qsrc->v4);
		addr_acc = csum_add32(addr_acc, qi->daddr, qdst->v4);
		qi->saddr = qsrc->v4;
		qi->daddr = qdst->v4;
		old = qi->check;
		qi->check = csum_apply(old, addr_acc);
		acc = csum_add16(addr_acc, old, qi->check);

		o_acc = csum_add32(o_acc, o->saddr, osrc->v4);
		o_acc = csum_add32(o_acc, o->daddr, odst->v4);
		o->saddr = osrc->v4;
		o->daddr = odst->v4;
		o->check = csum_apply(o->check, o_acc + ip4_ttl_add(o, -1));
	} else if (p->ip6 && q->ip6) {
		struct ipv6hdr *o = p->ip6, *qi = q->ip6;

		addr_acc = csum_add128(addr_acc, (__u32 *)&qi->saddr, qsrc->v6);
		addr_acc = csum_add128(addr_acc, (__u32 *)&qi->daddr, qdst->v6);
		__builtin_memcpy(&qi->saddr, qsrc, sizeof(qi->saddr));
		__builtin_memcpy(&qi->daddr, qdst, sizeof(qi->daddr));
		/* The ICMPv6 checksum covers a pseudo-header with the outer addresses. */
		acc = csum_add128(addr_acc, (__u32 *)&o->saddr, osrc->v6);
		acc = csum_add128(acc, (__u32 *)&o->daddr, odst->v6);
		__builtin_memcpy(&o->saddr, osrc, sizeof(o->saddr));
		__builtin_memcpy(&o->daddr, odst, sizeof(o->daddr));
		o->hop_limit--;
	} else {
		return;
	}
	if (q->tcp_check) {
		old = *q->tcp_check;
		*q->tcp_check = csum_apply(old, addr_acc + port_acc);
		acc = csum_add16(acc, old, *q->tcp_check);
	}
	ic->check = csum_apply(ic->check, acc + port_acc);
}

/*
 * Does another flow hold SNAT @port on @be now? Our reply entry was evicted
 * and the port taken as free: the node's socket on it is another client's,
 * which our error must not reach. With no entry at all, the port is still
 * ours (the flow's next packet puts the entry back, snat_refresh).
 */
static __always_inline bool nat_port_taken(const struct pkt *p, const struct drv_svc *svc,
					   const struct drv_backend *be, __be16 port)
{
	struct drv_flow_key nk = {};
	const struct drv_nat *n;

	nat_key(&nk, p, svc, be, port);
	n = bpf_map_lookup_elem(&DRV_MAP_NAT, &nk);
	return n && !nat_is_flow(n, p);
}

/**
 * icmp_to_node - an error about a reply of @svc's flow: send it to the flow's node
 * The flow's record names the node (and, nat, its SNAT port); without one, a
 * dsr or tunnel flow's node is the one its Maglev entry names, as every
 * balancer with the same tables agrees; a nat flow's SNAT port is lost.
 */
static __always_inline int icmp_to_node(struct xdp_md *ctx, struct pkt *p, struct icmp_quote *q,
					const struct drv_svc *svc)
{
	const struct drv_backend *be = NULL;
	const struct drv_cfg *cfg;
	__u32 zero = 0, be_id = DRV_BE_NONE;
	__be16 snat_port = 0;
	struct drv_nh_cache *nhc;
	struct drv_flow *f;
	__u32 mtu;
	__u64 now;
	int act;

	/*
	 * From a source no host has, as TCP to a service is: the kernel drops it
	 * as a martian, and nat would readdress it from the SNAT address, making
	 * it a sound error to the node. (Here, not once the flow is found: the
	 * noinline build's icmp_process has no stack to spare for it there.)
	 */
	if (!src_is_host(p))
		return stats_drop(ctx, DRV_STAT_DROP_MARTIAN);
	cfg = bpf_map_lookup_elem(&DRV_MAP_CFG, &zero);
	if (!cfg)
		return XDP_PASS;
	now = bpf_ktime_get_coarse_ns();
	f = bpf_map_lookup_elem(&DRV_MAP_FLOWS, &p->key);
	/*
	 * A record past its timeout keeps its node for errors too, as for the
	 * flow's segments (flow_binds_past_expiry; the error is about a reply,
	 * never a bare SYN), unless half-open. A miss, the error about node 1's
	 * first segment after its client's quiet spell went to the balancer's
	 * stack (nat) or the table's node (dsr, tunnel), not to node 1, which
	 * resent it into the same hole.
	 */
	if (f && f->svc_id == svc->id &&
	    (f->state != DRV_FLOW_SYN || !flow_expired(cfg, f->last_seen_ns, f->state, now))) {
		be = backend_get(f->backend_id);
		/*
		 * As lb_forward: a record without a SNAT port in a nat service was
		 * made in another mode; nor is a port another flow took ours.
		 */
		if (be && be->family && be->gen == f->backend_gen && be->svc_id == svc->id &&
		    (svc->mode != DRV_MODE_NAT ||
		     (f->snat_port && !nat_port_taken(p, svc, be, f->snat_port)))) {
			be_id = f->backend_id;
			snat_port = f->snat_port;
		} else {
			be = NULL;
		}
	}
	if (!be && svc->mode != DRV_MODE_NAT)
		be_id = lb_pick(svc, drv_flow_hash(&p->key), &be);
	if (be_id == DRV_BE_NONE || !be) {
		stats_count(DRV_STAT_ICMP_MISS, p->len);
		return XDP_PASS;
	}
	/* dsr and tunnel hand it on unrouted, as the flow's packets (lb_forward): not once its TTL ran out. */
	if (svc->mode != DRV_MODE_NAT) {
		act = fwd_check_ttl0(ctx, p);
		if (act >= 0)
			return act;
	}
	switch (svc->mode) {
	case DRV_MODE_NAT:
		/* IPv4 carries the next-hop MTU in the low 16 bits, ICMPv6 in all 32. */
		if ((bpf_ntohl(((struct icmp_err *)p->l4)->mtu) & (p->ip4 ? 0xffff : ~0u)) <
		    DRV_ICMP_NAT_MIN_MTU) {
			stats_count(DRV_STAT_ICMP_LOW_MTU, p->len);
			return XDP_PASS;
		}
		act = fwd_check_ttl(ctx, p);
		if (act >= 0)
			return act;
		icmp_rewrite(p, q, &svc->snat, &be->addr, &be->addr, be->port, &svc->snat,
			     snat_port);
		break;
	case DRV_MODE_DSR:
		break;
	case DRV_MODE_TUNNEL:
		/* p->key is the flow's: the outer IPv6 flow label carries its hash, as for its packets. */
		act = encap(ctx, p, svc, be);
		if (act >= 0)
			return act;
		break;
	default:
		return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
	}
	nhc = lb_backend_nh(ctx, p, be_id, be, svc, now, 0, &mtu, &act);
	/* Too long for the way on (a router's error is short; a forged one): no error answers an error. */
	if (act == DRV_FWD_TOO_BIG || (nhc && mtu && pkt_l3_len(p) > mtu))
		return stats_drop(ctx, DRV_STAT_DROP_TOO_BIG);
	/* Left to the stack (no neighbour yet): its forwarding takes the TTL off, not drover. */
	if (act == XDP_PASS && svc->mode == DRV_MODE_NAT)
		fwd_ttl_restore(p);
	if (nhc)
		act = fwd_send(ctx, p, &nhc->nh);
	/* Sent on, or to the stack: one the next hop drops (blackhole, no drover on the egress) was not. */
	if (act != XDP_DROP)
		stats_count(DRV_STAT_ICMP_TO_NODE, p->len);
	return act;
}

/**
 * icmp_to_client - an error about a packet drover NAT'd to a node: send it to the flow's client
 * Return: an XDP verdict; XDP_PASS when the quote is not from a NAT entry.
 */
static __always_inline int icmp_to_client(struct xdp_md *ctx, struct pkt *p, struct icmp_quote *q)
{
	const struct drv_cfg *cfg;
	struct drv_nh nh;
	struct drv_nat *n;
	__u32 zero = 0, mtu;
	__u16 port;
	bool via_gw;
	int act;

	cfg = bpf_map_lookup_elem(&DRV_MAP_CFG, &zero);
	if (!cfg)
		return XDP_PASS;
	/* The quote's source port is the SNAT port: the same filter as replies. */
	port = bpf_ntohs(p->key.dport);
	if (cfg->reply_port_hi && (port < cfg->reply_port_lo || port > cfg->reply_port_hi))
		return XDP_PASS;
	n = bpf_map_lookup_elem(&DRV_MAP_NAT, &p->key);
	if (!n || flow_expired(cfg, n->last_seen_ns, n->state, bpf_ktime_get_coarse_ns())) {
		if (cfg->reply_port_hi)
			stats_count(DRV_STAT_ICMP_MISS, p->len);
		return XDP_PASS;
	}
	/* A martian's error, readdressed from the VIP, would reach the client as a sound one. */
	if (!src_is_host(p))
		return stats_drop(ctx, DRV_STAT_DROP_MARTIAN);
	act = fwd_check_ttl(ctx, p);
	if (act >= 0)
		return act;
	icmp_rewrite(p, q, &n->vip, &n->client, &n->client, n->client_port, &n->vip, n->vip_port);
	act = fwd_resolve(ctx, p, &n->vip, &n->client, pkt_l3_len(p), &nh, &mtu, &via_gw, true);
	if (act == DRV_FWD_TOO_BIG)
		return stats_drop(ctx, DRV_STAT_DROP_TOO_BIG);
	if (act == XDP_PASS)
		fwd_ttl_restore(p); /* left to the stack: its forwarding takes the TTL off */
	if (act == DRV_CONTINUE)
		act = fwd_send(ctx, p, &nh);
	/* As icmp_to_node: counted only when it goes on (fwd_resolve returns a verdict ≥ 0 here). */
	if (act != XDP_DROP)
		stats_count(DRV_STAT_ICMP_TO_CLIENT, p->len);
	return act;
}

/**
 * icmp_process - an ICMP or ICMPv6 packet (p->l4): a too-big error about a
 * service flow goes to the host that sent the quoted packet
 * Return: an XDP verdict; XDP_PASS, untouched, for everything else.
 */
static __drv_inline int icmp_process(struct xdp_md *ctx, struct pkt *p)
{
	struct icmp_quote q = {};
	struct drv_svc_key sk = {};
	struct drv_svc *svc;
	int act;

	act = icmp_quote_parse(ctx, p, &q);
	if (act >= 0)
		return act;
	/* An error goes to the quoted packet's source: one sent elsewhere is not about ours. */
	if (p->ip4 ? p->ip4->daddr != p->key.daddr.v4 :
		     !p->ip6 || !addr_eq((const union drv_addr *)&p->ip6->daddr, &p->key.daddr))
		return XDP_PASS;
	/* A quote from a VIP:port is a service's reply to its client. */
	sk.vip = p->key.daddr;
	sk.port = p->key.dport;
	sk.proto = IPPROTO_TCP;
	sk.family = p->family;
	svc = bpf_map_lookup_elem(&DRV_MAP_SVCS, &sk);
	if (svc)
		return icmp_to_node(ctx, p, &q, svc);
	return icmp_to_client(ctx, p, &q);
}

#endif /* __DROVER_BPF_ICMP_H */
