/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Load balancing: service lookup, the connection table, Maglev backend
 * choice, SNAT port allocation and the full-NAT rewrite of both directions.
 *
 * Forward (client → VIP:port): a recorded flow keeps its backend while that
 * backend exists with the same generation, belongs to the service and is not
 * DOWN (a draining backend keeps its flows), also past the flow's timeout
 * while its record lasts (flow_binds_past_expiry); a DOWN one's segments are
 * answered with a RST, except a bare SYN (a new connection). Otherwise the 5-tuple hash picks
 * an entry of the service's active Maglev table, a SNAT port is reserved in
 * drv_nat, and the flow is recorded. Reply (node → SNAT addr:port): drv_nat
 * gives the client and VIP to translate back to; a flow that moves to another
 * node drops its entry on the old one, whose late replies are then no longer
 * the client's (nat_flow_left).
 *
 * SYN floods: a flood from spoofed sources holds a SNAT port per SYN for the
 * FIN timeout, and a service has only (ports × nodes) of them. When a new
 * flow finds no free port among its probes, it takes the one of the oldest
 * half-open flow (only the client's SYN seen) among them, as conntrack drops
 * unreplied entries first: clients that finish their handshake keep getting
 * through, and open flows are never taken. The half-open flow loses its
 * record with its port, so its next packet starts a new flow.
 */
#ifndef __DROVER_BPF_LB_H
#define __DROVER_BPF_LB_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/hash.h"
#include "drover/maps.h"

#include "lib/csum.h"
#include "lib/encap.h"
#include "lib/fwd.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/reset.h"
#include "lib/stats.h"
#include "lib/toobig.h"

#ifdef DROVER_NOINLINE
#define __drv_inline __attribute__((noinline))
#else
#define __drv_inline __always_inline
#endif

#define NSEC_PER_SEC 1000000000ULL
/* last_seen is refreshed at most this often, to keep flows' cache lines mostly read-only. */
#define DRV_TOUCH_NS NSEC_PER_SEC

/*
 * A flow lives tcp_idle_timeout_s while open, tcp_fin_timeout_s once a FIN or
 * RST was seen and also while only the client's SYN was: a SYN flood then
 * holds SNAT ports for seconds, not for the idle timeout.
 */
static __always_inline __u64 flow_timeout_ns(const struct drv_cfg *cfg, __u8 state)
{
	__u32 s;

	if (drv_flow_state_short(state))
		s = cfg->tcp_fin_timeout_s ?: DRV_TCP_FIN_DEFAULT;
	else
		s = cfg->tcp_idle_timeout_s ?: DRV_TCP_IDLE_DEFAULT;
	return s * NSEC_PER_SEC;
}

/*
 * Signed: another CPU may have stamped the entry from a clock read a tick
 * after ours (a reply and its client's packet on two CPUs, or this one
 * interrupted between reading the clock and the entry). Last seen after @now
 * is live, not idle for ~2^64 ns (userspace's drv_flow_expired agrees).
 */
static __always_inline bool flow_expired(const struct drv_cfg *cfg, __u64 last_seen, __u8 state,
					 __u64 now)
{
	return (__s64)(now - last_seen) > (__s64)flow_timeout_ns(cfg, state);
}

/*
 * A FIN from one side, @fin its half-closed state: nat sees both sides, so a
 * FIN half-closes an open connection, which may then stay idle as long as an
 * open one (a client that shut its side waiting for a slow answer), and the
 * other side's FIN closes it. A FIN on a half-open flow closes it at once (a
 * spoofed one holds a port no longer than a SYN).
 */
static __always_inline __u8 tcp_fin_state(__u8 state, __u8 fin)
{
	return state == DRV_FLOW_OPEN || state == fin ? fin : DRV_FLOW_CLOSING;
}

/*
 * Two views of one nat flow's state, its record's and its reply entry's,
 * @cur the older: a FIN from each side closes, a close sticks, and a
 * half-close stays against a view that has not seen it.
 */
static __always_inline __u8 flow_state_merge(__u8 cur, __u8 next)
{
	bool cur_fin = cur == DRV_FLOW_FIN_CLIENT || cur == DRV_FLOW_FIN_NODE;

	if (cur == DRV_FLOW_CLOSING || next == DRV_FLOW_CLOSING)
		return DRV_FLOW_CLOSING;
	if (cur_fin && (next == DRV_FLOW_FIN_CLIENT || next == DRV_FLOW_FIN_NODE))
		return next == cur ? cur : DRV_FLOW_CLOSING;
	return cur_fin ? cur : next;
}

/*
 * Client → VIP direction: RST closes; FIN closes in dsr and tunnel, which
 * see only this side, and half-closes in nat (tcp_fin_state); a bare SYN
 * starts half-open; the client's first packet with ACK (the handshake's
 * third) opens. A flow picked up mid-stream (re-hash, lost record) is open
 * at once, except in nat (see new_flow_state). A RST during the handshake
 * closes too: a client resets the node's answer for a stale connection on
 * its port, then retransmits its SYN on that port a second later.
 */
static __always_inline __u8 tcp_flow_state(const struct tcphdr *th, __u8 state, bool is_new,
					   bool nat)
{
	if (th->rst)
		return DRV_FLOW_CLOSING;
	if (th->fin)
		return nat && !is_new ? tcp_fin_state(state, DRV_FLOW_FIN_CLIENT) :
					DRV_FLOW_CLOSING;
	if (th->syn && !th->ack)
		return is_new ? DRV_FLOW_SYN : state;
	return state == DRV_FLOW_SYN || is_new ? DRV_FLOW_OPEN : state;
}

/* A SYN without ACK, RST or FIN: a connection's first packet. */
static __always_inline bool tcp_bare_syn(const struct tcphdr *th)
{
	return th->syn && !(th->ack | th->rst | th->fin);
}

/*
 * A new flow's state. In nat every new flow starts half-open (DRV_FLOW_SYN:
 * the short timeout, its SNAT port reclaimable), whatever its first packet,
 * until the client's next packet with ACK: a spoofed one-off ACK, FIN or RST
 * then holds a port no harder than a spoofed SYN. (A flow whose reply entry
 * is still alive goes on from that entry's state: snat_reserve.) dsr and tunnel
 * hold no ports: a flow picked up mid-stream there (ECMP failover, a lost
 * record) is open at once, so a client quieter than the FIN timeout keeps it.
 */
static __always_inline __u8 new_flow_state(const struct tcphdr *th, __u8 mode)
{
	return mode == DRV_MODE_NAT ? DRV_FLOW_SYN : tcp_flow_state(th, DRV_FLOW_OPEN, true, false);
}

/*
 * Node → client direction: only FIN or RST changes the state (a SYN-ACK does
 * not open): a FIN half-closes (tcp_fin_state), a RST closes, but a RST to a
 * half-open flow (a spoofed client's packet, a closed port) leaves it
 * half-open, its port reclaimable.
 */
static __always_inline __u8 tcp_reply_state(const struct tcphdr *th, __u8 state)
{
	if (th->rst)
		return state == DRV_FLOW_SYN ? DRV_FLOW_SYN : DRV_FLOW_CLOSING;
	return th->fin ? tcp_fin_state(state, DRV_FLOW_FIN_NODE) : state;
}

/*
 * A flow's state is changed by its client's packets on one CPU and its
 * node's on another, in its record and in its reply entry: each change is a
 * compare-and-swap of the 64-bit word that holds the state byte, made from
 * the state it replaces, so that neither CPU writes over what the other saw
 * (two FINs at once left each view half-closed, alive for tcp-idle). Plain
 * stores of CLOSING need none: every change keeps it.
 */
union flow_state_word {
	__u64 w;
	__u8 b[8];
};

#define FLOW_STATE_TRIES 2 /* two writers per flow: a second try follows the other one's write */

/* The state's 64-bit word lies within the value (map values are 8-byte aligned). */
_Static_assert((__builtin_offsetof(struct drv_flow, state) & ~7U) + 8 <= sizeof(struct drv_flow),
	       "drv_flow state word");
_Static_assert((__builtin_offsetof(struct drv_nat, state) & ~7U) + 8 <= sizeof(struct drv_nat),
	       "drv_nat state word");

/**
 * __flow_state_update - change the state byte at offset @off of @obj (a map value)
 * @th: a node's reply, whose transition (tcp_reply_state) is made, or NULL
 *      to merge @next (flow_state_merge)
 * @old: out, the state replaced
 * Return: the state written (after FLOW_STATE_TRIES lost races, the last one computed).
 */
static __always_inline __u8 __flow_state_update(void *obj, const __u32 off, const struct tcphdr *th,
						__u8 next, __u8 *old)
{
	__u64 *wp = obj + (off & ~7U);
	union flow_state_word o, n;
	__u32 i;

	n.w = 0;
	for (i = 0; i < FLOW_STATE_TRIES; i++) {
		o.w = *(volatile __u64 *)wp;
		n.w = o.w;
		*old = o.b[off & 7];
		n.b[off & 7] = th ? tcp_reply_state(th, *old) : flow_state_merge(*old, next);
		if (n.w == o.w || __sync_val_compare_and_swap(wp, o.w, n.w) == o.w)
			break;
	}
	return n.b[off & 7];
}

/* Merge @next into record @f's state (flow_state_merge); return the state written. */
static __always_inline __u8 flow_state_merge_into(struct drv_flow *f, __u8 next)
{
	__u8 old;

	return __flow_state_update(f, __builtin_offsetof(struct drv_flow, state), NULL, next, &old);
}

/*
 * The client resends its SYN on a half-open flow whose node fails its checks:
 * no connection exists to keep (the client has not seen the node's SYN-ACK,
 * or it would have sent ACK), so the retry picks a node that is up. Kept, it
 * would reach the failing node until the agent's rehash-after ends (a client
 * whose first SYN met a dead node before its checks failed would wait for a
 * later retry, 15 or 31 s after its first SYN). A draining node is alive and
 * answers in time: its half-open flows stay.
 */
static __always_inline bool syn_retry_on_failing(const struct drv_backend *be,
						 const struct drv_flow *f, const struct tcphdr *th)
{
	return be->state == DRV_BE_FAILING && f->state == DRV_FLOW_SYN && tcp_bare_syn(th);
}

/* clang emits no inline memcmp for BPF: compare the four words. */
static __always_inline bool addr_eq(const union drv_addr *a, const union drv_addr *b)
{
	return ((a->v6[0] ^ b->v6[0]) | (a->v6[1] ^ b->v6[1]) | (a->v6[2] ^ b->v6[2]) |
		(a->v6[3] ^ b->v6[3])) == 0;
}

static __always_inline const struct drv_backend *backend_get(__u32 id)
{
	if (id == DRV_BE_NONE || id >= DRV_MAX_BACKENDS)
		return NULL;
	return bpf_map_lookup_elem(&DRV_MAP_BACKENDS, &id);
}

/**
 * nat_rewrite - rewrite addresses and ports, decrement TTL, fix checksums
 * @routed: drover sends the packet on, so decrements the TTL / hop limit; not
 *          for a packet left to the stack, whose forwarding does it.
 * Every changed 16-bit word goes into one accumulator per checksum field:
 * addresses into both the IPv4 header and the TCP pseudo-header sum, ports
 * into TCP only, TTL into IPv4 only (IPv6 has no header checksum).
 */
static __always_inline void nat_rewrite(struct pkt *p, const union drv_addr *saddr,
					const union drv_addr *daddr, __be16 sport, __be16 dport,
					bool routed)
{
	struct tcphdr *th = p->tcp;
	__u32 acc = 0;

	acc = csum_add16(acc, th->source, sport);
	acc = csum_add16(acc, th->dest, dport);
	th->source = sport;
	th->dest = dport;
	if (p->ip4) {
		struct iphdr *iph = p->ip4;
		__u32 ip_acc = 0;

		ip_acc = csum_add32(ip_acc, iph->saddr, saddr->v4);
		ip_acc = csum_add32(ip_acc, iph->daddr, daddr->v4);
		iph->saddr = saddr->v4;
		iph->daddr = daddr->v4;
		iph->check =
			csum_apply(iph->check, routed ? ip_acc + ip4_ttl_add(iph, -1) : ip_acc);
		acc += ip_acc;
	} else if (p->ip6) {
		struct ipv6hdr *ip6 = p->ip6;

		acc = csum_add128(acc, (__u32 *)&ip6->saddr, saddr->v6);
		acc = csum_add128(acc, (__u32 *)&ip6->daddr, daddr->v6);
		__builtin_memcpy(&ip6->saddr, saddr, sizeof(ip6->saddr));
		__builtin_memcpy(&ip6->daddr, daddr, sizeof(ip6->daddr));
		if (routed)
			ip6->hop_limit--;
	}
	th->check = csum_apply(th->check, acc);
}

/* The drv_nat key of a flow's replies: node address:port → SNAT address:@port. */
static __always_inline void nat_key(struct drv_flow_key *nk, const struct pkt *p,
				    const struct drv_svc *svc, const struct drv_backend *be,
				    __be16 port)
{
	nk->saddr = be->addr;
	nk->daddr = svc->snat;
	nk->sport = be->port;
	nk->dport = port;
	nk->proto = IPPROTO_TCP;
	nk->family = p->family;
}

/* The drv_nat value of the packet's flow: translate replies back to its client and VIP. */
static __always_inline void nat_value(struct drv_nat *nv, const struct pkt *p, __u32 svc_id,
				      __u32 be_id, __u8 state, __u64 now)
{
	nv->last_seen_ns = now;
	nv->client = p->key.saddr;
	nv->vip = p->key.daddr;
	nv->client_port = p->key.sport;
	nv->vip_port = p->key.dport;
	nv->svc_id = svc_id;
	nv->backend_id = be_id;
	nv->state = state;
}

/*
 * Who stamped an entry, told by the stamp's lowest bit: a claimer
 * (nat_claim) stamps it odd, everyone else even (the clock as read with
 * that bit cleared, drv_now). A swap of last_seen_ns that fails for an
 * entry past its timeout then tells a new flow that took it (odd: its
 * fill may not have written the entry's names yet) from the flow's own
 * node reviving it (even: nat_revive), which snat_refresh could not tell
 * apart before.
 */
#define DRV_STAMP_CLAIM 1ULL

/* The coarse monotonic clock, its lowest bit left for DRV_STAMP_CLAIM. */
static __always_inline __u64 drv_now(void)
{
	return bpf_ktime_get_coarse_ns() & ~DRV_STAMP_CLAIM;
}

/*
 * nat_claim - make reply entry @cur, last seen at @seen, this CPU's to rewrite
 * Two CPUs may probe the same port for two new flows at once: the swap of
 * last_seen_ns lets one of them have it. An entry touched in this clock tick
 * is never taken (a swap from its time to the same time would succeed twice,
 * and its taker may still be writing it). The stamp is odd (DRV_STAMP_CLAIM).
 */
static __always_inline bool nat_claim(struct drv_nat *cur, __u64 seen, __u64 now)
{
	return seen < now &&
	       __sync_val_compare_and_swap(&cur->last_seen_ns, seen, now | DRV_STAMP_CLAIM) == seen;
}

/* Write @nv into claimed entry @cur, all but last_seen_ns (nat_claim set it). */
static __always_inline void nat_fill(struct drv_nat *cur, const struct drv_nat *nv)
{
	_Static_assert(__builtin_offsetof(struct drv_nat, last_seen_ns) == 0, "drv_nat layout");
	__builtin_memcpy((__u8 *)cur + sizeof(cur->last_seen_ns),
			 (const __u8 *)nv + sizeof(nv->last_seen_ns),
			 sizeof(*nv) - sizeof(nv->last_seen_ns));
}

/*
 * The drv_flows record of reply entry @n's flow if it still holds SNAT @port
 * on @n's backend (not a newer flow of that 5-tuple), else NULL. Its key is
 * built in scratch map memory, sc->victim.
 */
static __always_inline struct drv_flow *
nat_flow_record(struct drv_scratch *sc, const struct drv_nat *n, __u8 family, __be16 port)
{
	struct drv_flow *f;

	sc->victim = (struct drv_flow_key){ .saddr = n->client,
					    .daddr = n->vip,
					    .sport = n->client_port,
					    .dport = n->vip_port,
					    .proto = IPPROTO_TCP,
					    .family = family };
	f = bpf_map_lookup_elem(&DRV_MAP_FLOWS, &sc->victim);
	return f && f->snat_port == port && f->backend_id == n->backend_id ? f : NULL;
}

/* Is @n the drv_nat entry of the packet's flow? */
static __always_inline bool nat_is_flow(const struct drv_nat *n, const struct pkt *p)
{
	return n->client_port == p->key.sport && n->vip_port == p->key.dport &&
	       addr_eq(&n->client, &p->key.saddr) && addr_eq(&n->vip, &p->key.daddr);
}

/**
 * snat_reserve - find a free SNAT port for a new flow and record its reply entry
 * @h: the flow's hash; the first port tried is derived from it, so a flow
 *     whose record was evicted finds its own entry again and keeps its port.
 * With no free or dead port among the probes, the oldest half-open flow's is
 * taken (snat_reclaim_syn) and that flow's record deleted; none younger than
 * DRV_SNAT_RECLAIM_MIN_NS. The oldest so far
 * is kept in drv_scratch, not on the stack: the verifier does not follow
 * values in map memory, so the loop adds no states to explore (on the stack
 * it took drover_xdp past 1M); the record's key is built there too.
 * Return: the port (network order), or 0 when the probed ports are all held
 * by flows past their handshake or just made.
 */
static __always_inline __be16 snat_reserve(struct pkt *p, const struct drv_svc *svc,
					   const struct drv_backend *be, __u32 be_id, __u32 h,
					   const struct drv_cfg *cfg, __u64 now, __u8 *state)
{
	__u32 lo = svc->snat_port_lo, hi = svc->snat_port_hi, range, off, probes, i;
	struct drv_flow_key nk = {};
	struct drv_nat nv = {};
	struct drv_scratch *sc;
	struct drv_nat *cur;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&DRV_MAP_SCRATCH, &zero);
	if (!sc)
		return 0;
	sc->oldest_seen = ~0ULL;
	sc->adopted = 0;
	if (!lo || hi < lo) {
		lo = DRV_SNAT_PORT_LO_DEFAULT;
		hi = DRV_SNAT_PORT_HI_DEFAULT;
	}
	range = hi - lo + 1;
	probes = cfg->snat_probes ?: DRV_SNAT_PROBES_DEFAULT;

	nat_key(&nk, p, svc, be, 0);
	nat_value(&nv, p, svc->id, be_id, *state, now);

	off = h % range;
	for (i = 0; i < DRV_SNAT_PROBES_MAX && i < probes; i++) {
		nk.dport = bpf_htons(lo + off);
		/* Insert first: a free port, the common case, then costs one map operation. */
		if (!bpf_map_update_elem(&DRV_MAP_NAT, &nk, &nv, BPF_NOEXIST))
			return nk.dport;
		cur = bpf_map_lookup_elem(&DRV_MAP_NAT, &nk);
		if (cur) {
			__u64 seen = cur->last_seen_ns;
			bool expired = flow_expired(cfg, seen, cur->state, now);
			bool own = nat_is_flow(cur, p);

			/*
			 * Our own live entry, the flow record evicted: the
			 * connection goes on from the entry's state (an open
			 * one stays unreclaimable) as it would with its record
			 * in place, this packet's FIN, RST or handshake ACK
			 * taken on top, unless this is a new connection on the
			 * 5-tuple (a bare SYN). Touched in this tick, no other
			 * CPU may claim it now; else we claim it, as a dead
			 * entry is.
			 */
			if (own && !expired && !tcp_bare_syn(p->tcp)) {
				nv.state = *state = cur->state;
				sc->adopted = 1;
			}
			if ((own && seen >= now) || ((own || expired) && nat_claim(cur, seen, now)))
				goto claimed;
			if (cur->state == DRV_FLOW_SYN && seen < sc->oldest_seen &&
			    seen + DRV_SNAT_RECLAIM_MIN_NS <= now) {
				sc->oldest_seen = seen;
				sc->oldest_port = nk.dport;
			}
		}
		if (++off == range)
			off = 0;
	}
	if (sc->oldest_seen == ~0ULL)
		return 0;
	nk.dport = sc->oldest_port;
	cur = bpf_map_lookup_elem(&DRV_MAP_NAT, &nk);
	/* Still the half-open flow we found, and now ours alone. */
	if (!cur || cur->state != DRV_FLOW_SYN || !nat_claim(cur, sc->oldest_seen, now))
		return 0;
	if (nat_flow_record(sc, cur, p->family, nk.dport))
		bpf_map_delete_elem(&DRV_MAP_FLOWS, &sc->victim);
	nat_fill(cur, &nv);
	stats_count(DRV_STAT_SNAT_RECLAIM_SYN, p->len);
	return nk.dport;

claimed:
	/*
	 * Our own entry adopted: this packet's FIN, RST or handshake ACK on top
	 * of its state. Made here, once, not in the loop, where it multiplied
	 * the states the verifier explores (648,587 -> 830,943 instructions;
	 * clang 14, kernel 6.18).
	 */
	if (sc->adopted)
		nv.state = *state = tcp_flow_state(p->tcp, nv.state, false, true);
	nat_fill(cur, &nv);
	return nk.dport;
}

/**
 * snat_refresh - keep the reply entry of live flow @f in place, in *@state
 * *@state, the flow's new state as its client's packet shows it, is merged
 * with the state the entry's replies showed (flow_state_merge): the flow's
 * state on return.
 * LRU pressure may have evicted it, and another flow may then have taken the
 * port as free.
 * Return: false if another flow holds the port.
 */
static __always_inline bool snat_refresh(struct pkt *p, const struct drv_svc *svc,
					 const struct drv_backend *be, const struct drv_flow *f,
					 const struct drv_cfg *cfg, __u8 *state, __u64 now)
{
	struct drv_flow_key nk = {};
	struct drv_nat *cur;
	__u64 seen, was;

	nat_key(&nk, p, svc, be, f->snat_port);
	cur = bpf_map_lookup_elem(&DRV_MAP_NAT, &nk);
	if (!cur) {
		struct drv_nat nv = {};

		nat_value(&nv, p, svc->id, f->backend_id, *state, now);
		if (!bpf_map_update_elem(&DRV_MAP_NAT, &nk, &nv, BPF_NOEXIST))
			return true;
		/* a new flow inserted it meanwhile: whose is it? */
		cur = bpf_map_lookup_elem(&DRV_MAP_NAT, &nk);
		return cur && nat_is_flow(cur, p);
	}
	seen = cur->last_seen_ns;
	if (!nat_is_flow(cur, p))
		return false;
	/*
	 * Replies are not all that keeps the entry alive: a client's close after a
	 * long idle is too. If the time changed under us, a new flow may have just
	 * claimed the port (nat_claim): ours only if it still names our flow. An
	 * expired entry (a flow that binds past its expiry) is any new flow's to
	 * claim: not ours by a name that a claimer may not have written over
	 * yet, so by our own swap, or by one that left an even stamp: the
	 * flow's node's reply reviving it on another CPU at once (nat_revive).
	 * Before, that lost our swap and our flow its port (snat_port_lost: a
	 * re-hash, to another node where the node drained): 3-13 of 60,000 raced
	 * trials of client_and_node_after_a_quiet_spell_keep_their_flow_on_its_node.
	 */
	if (seen != now) {
		was = __sync_val_compare_and_swap(&cur->last_seen_ns, seen, now);
		if (was != seen &&
		    (!nat_is_flow(cur, p) ||
		     ((was & DRV_STAMP_CLAIM) && flow_expired(cfg, seen, cur->state, now))))
			return false;
	}
	/*
	 * Time moved on: the replies look their next hop up again. lb_reply does
	 * that only when a second has passed since last_seen_ns, which a client
	 * sending every second would otherwise keep from ever happening.
	 */
	if (seen != now)
		cur->nh.ifindex = 0;
	/* The forward direction opens the entry; a FIN from each side closes it, a close sticks. */
	{
		__u8 was;

		*state = __flow_state_update(cur, __builtin_offsetof(struct drv_nat, state), NULL,
					     *state, &was);
	}
	return true;
}

/**
 * lb_pick - choose a backend for a new flow from the service's active Maglev table
 * Return: backend id, or DRV_BE_NONE if the entry is empty or not usable.
 */
static __always_inline __u32 lb_pick(const struct drv_svc *svc, __u32 h,
				     const struct drv_backend **bep)
{
	const struct drv_backend *be;
	__u32 idx, *id;

	if (!svc->table_size || svc->table_size > DRV_MAGLEV_MAX || svc->id >= DRV_MAX_SVCS)
		return DRV_BE_NONE;
	idx = DRV_MAGLEV_INDEX(svc->id, svc->active & 1, h % svc->table_size);
	id = bpf_map_lookup_elem(&DRV_MAP_MAGLEV, &idx);
	if (!id)
		return DRV_BE_NONE;
	be = backend_get(*id);
	if (!be || !be->family || be->svc_id != svc->id || be->state != DRV_BE_UP)
		return DRV_BE_NONE;
	*bep = be;
	return *id;
}

/* The source address of what drover sends toward a backend: the FIB may route by it. */
static __always_inline const union drv_addr *lb_src(const struct pkt *p, const struct drv_svc *svc)
{
	return svc->mode == DRV_MODE_DSR ? &p->key.saddr : &svc->snat;
}

/**
 * lb_backend_nh - this CPU's next hop toward backend @be_id, resolved when stale
 * @grow: what the rewrite adds to the packet's length, checked against the
 *        egress MTU when the next hop is resolved (fwd_check_len)
 * @mtu: out: the egress MTU (cached, or the FIB's), 0 if unknown
 * DSR rewrites only MACs, so its backend must be on-link: through a gateway
 * the packet, still addressed to the VIP, would come straight back.
 * Return: the cache entry with *act DRV_CONTINUE, or NULL with *act set:
 *         DRV_FWD_TOO_BIG, XDP_PASS (counted fib_pass: rewrite the packet and
 *         leave it to the stack) or a drop (counted).
 */
static __always_inline struct drv_nh_cache *lb_backend_nh(struct xdp_md *ctx, struct pkt *p,
							  __u32 be_id, const struct drv_backend *be,
							  const struct drv_svc *svc, __u64 now,
							  __u32 grow, __u32 *mtu, int *act)
{
	struct drv_nh_cache *c = bpf_map_lookup_elem(&DRV_MAP_NEXTHOPS, &be_id);
	bool via_gw;

	*mtu = 0;
	if (!c) {
		*act = stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
		return NULL;
	}
	*act = DRV_CONTINUE;
	/*
	 * Resolved in the service's current mode only: a next hop through a
	 * gateway, fine for nat or tunnel, must not carry dsr packets once
	 * the service turns dsr (they would come straight back).
	 */
	if (c->nh.ifindex && c->gen == be->gen && c->mode == svc->mode &&
	    now - c->stamp_ns < DRV_NH_TTL_NS) {
		*mtu = c->mtu;
		return c;
	}
	/* The entry is this CPU's: written in place, nothing reads it meanwhile. */
	*act = fwd_resolve(ctx, p, lb_src(p, svc), &be->addr, fwd_check_len(ctx, p, grow), &c->nh,
			   mtu, &via_gw, svc->mode != DRV_MODE_DSR);
	if (*act == DRV_CONTINUE && via_gw && svc->mode == DRV_MODE_DSR)
		*act = stats_drop(ctx, DRV_STAT_DROP_FIB);
	if (*act != DRV_CONTINUE) {
		c->nh.ifindex = 0;
		return NULL;
	}
	c->mtu = *mtu;
	c->gen = be->gen;
	c->mode = svc->mode;
	c->stamp_ns = now;
	return c;
}

/*
 * Does recorded flow @f still name backend @be of @svc: the same node (not a
 * freed id, nor one reused for another node or service)? A record without a
 * SNAT port in a nat service was made in another mode: it does not.
 */
static __always_inline bool flow_names_backend(const struct drv_flow *f,
					       const struct drv_backend *be,
					       const struct drv_svc *svc)
{
	return be && be->family && be->gen == f->backend_gen && be->svc_id == svc->id &&
	       (svc->mode != DRV_MODE_NAT || f->snat_port);
}

/*
 * Does recorded flow @f of @svc, past its timeout, still keep its node for
 * segment @th? The timeouts say when a flow's record and SNAT port may be taken for
 * others (snat_reserve, the LRU), not when the flow leaves its node: while
 * its record (and in nat its reply entry) is still there, still its own,
 * every segment of it but a bare SYN (a new connection) goes on to that node,
 * and the node's replies back (nat_revive). So a RST or FIN that closed the
 * flow in drover's eyes but not on the node (an off-path one, sent by anyone
 * who knows the addresses and ports, whatever its sequence number; drover
 * keeps no sequence numbers to judge it by, and the node does judge it,
 * RFC 5961) does not take the flow off its node after a quiet spell longer
 * than the FIN timeout: neither to the balancer's own stack, which reset the
 * node's side, nor to another node after a table change. A half-open flow is
 * not kept: its handshake never finished (a SYN flood's); nor one whose
 * node is gone (it re-hashes as an expired record did, not counted as a
 * rehash). Costs nothing on the way of a live flow: only a record found
 * expired asks.
 */
static __always_inline bool
flow_binds_past_expiry(const struct drv_flow *f, const struct drv_svc *svc, const struct tcphdr *th)
{
	return f->state != DRV_FLOW_SYN && !tcp_bare_syn(th) &&
	       flow_names_backend(f, backend_get(f->backend_id), svc);
}

/**
 * lb_node_down - the client's segment @p, not a bare SYN, on flow @f of node @be, which is down
 * Down, the node failed its checks past rehash-after (or an operator set it
 * down): no node holds the connection. Sent on, the segment would reach
 * another node, which resets it, or, holding the 4-tuple in TIME_WAIT, only
 * ACKs it and leaves the client hanging: drover resets it itself
 * (reset.h). The client's own RST goes to the flow's node as before: nothing
 * to answer, and a node judged down while alive drops its socket. The record
 * and its reply entry close, freeing the SNAT port after the FIN timeout.
 * Return: XDP_TX (the RST), XDP_DROP, or DRV_CONTINUE: send @p on to @be.
 */
static __always_inline int lb_node_down(struct xdp_md *ctx, struct pkt *p,
					const struct drv_svc *svc, const struct drv_backend *be,
					__u32 be_id, struct drv_flow *f, const struct drv_cfg *cfg,
					__u64 now)
{
	int bad = p->tcp->rst ? 0 : tcp_seg_damage(ctx, p);

	/* A corrupt segment the node would have dropped: no RST, the flow as it was. */
	if (bad) {
		lb_count_sent(XDP_DROP, svc->id, be_id, p->len, false, false);
		return stats_drop(ctx, bad);
	}
	if (f->state != DRV_FLOW_CLOSING) {
		__u8 closing = DRV_FLOW_CLOSING;

		if (svc->mode == DRV_MODE_NAT)
			snat_refresh(p, svc, be, f, cfg, &closing, now);
		f->state = DRV_FLOW_CLOSING;
		f->last_seen_ns = now;
	}
	if (p->tcp->rst)
		return DRV_CONTINUE;
	stats_count(DRV_STAT_RST_NODE_DOWN, p->len);
	/* For the service, a packet its node never got (as an ICMP error sent back). */
	lb_count_sent(XDP_DROP, svc->id, be_id, p->len, false, false);
	return tcp_reset_reply(ctx, p);
}

/*
 * A bare SYN on half-closed nat flow @f is a new connection on its 5-tuple:
 * the old one is over on the client's side. Its reply entry closes (the FIN
 * timeout), as the record does: where the new flow gets another node or
 * port, the entry would otherwise hold its SNAT port for the idle timeout.
 * Where it gets the same one, snat_reserve takes the entry over as its own.
 * Live and half-closed, the entry is no other flow's to claim meanwhile.
 */
static __always_inline void nat_half_closed_end(const struct pkt *p, const struct drv_svc *svc,
						const struct drv_flow *f)
{
	const struct drv_backend *be = backend_get(f->backend_id);
	struct drv_flow_key nk = {};
	struct drv_nat *cur;

	if (!flow_names_backend(f, be, svc))
		return;
	nat_key(&nk, p, svc, be, f->snat_port);
	cur = bpf_map_lookup_elem(&DRV_MAP_NAT, &nk);
	if (cur && nat_is_flow(cur, p))
		cur->state = DRV_FLOW_CLOSING;
}

/*
 * nat_flow_left - nat flow @p leaves node @be, which @f names, for another:
 * its reply entry there goes. The old node may still answer what it got
 * before the move (a SYN-ACK late for the client's first SYN, a RST, an error
 * about it): translated, the client would take that node's ISN and ACK it to
 * the new node, which holds another one and resets the connection. Without
 * its entry, the old node's packets go to the kernel, which resets its socket.
 * Only at a move, so neither open flows nor replies pay for it. Gone before
 * the new node is picked, also when none is (the client's SYN is dropped):
 * kept until after the pick, the old entry's key doubled the states the
 * verifier explores through snat_reserve, past 1M instructions (clang 14,
 * kernel 6.18).
 */
static __always_inline void nat_flow_left(const struct pkt *p, const struct drv_svc *svc,
					  const struct drv_backend *be, const struct drv_flow *f,
					  __u64 now)
{
	struct drv_flow_key nk = {};
	struct drv_nat *cur;
	__u64 seen;

	nat_key(&nk, p, svc, be, f->snat_port);
	cur = bpf_map_lookup_elem(&DRV_MAP_NAT, &nk);
	if (!cur)
		return;
	/*
	 * Another flow (another service with this node and SNAT address, or
	 * one of this service once the node is back up) may take the entry in
	 * place meanwhile, as a dead or the oldest half-open one (snat_reserve):
	 * claimed first, the entry is deleted only while it is still ours, and
	 * no claimer takes it once we stamped it. One stamped in the last
	 * DRV_SNAT_RECLAIM_MIN_NS may be a claimer's still writing it (its clock
	 * a tick ahead of ours): kept, it expires. Before, the check and the
	 * delete were apart: 7-14 of 20,000 raced trials in
	 * moving_flow_never_deletes_a_reply_entry_another_flow_took deleted the
	 * new flow's entry.
	 */
	seen = cur->last_seen_ns;
	if (nat_is_flow(cur, p) && seen + DRV_SNAT_RECLAIM_MIN_NS <= now &&
	    nat_claim(cur, seen, now))
		bpf_map_delete_elem(&DRV_MAP_NAT, &nk);
}

/**
 * lb_forward - client → VIP packet of service @svc: find or make its flow, rewrite, send
 * Return: an XDP verdict.
 */
static __drv_inline int lb_forward(struct xdp_md *ctx, struct pkt *p, const struct drv_svc *svc)
{
	const struct drv_backend *be = NULL;
	struct drv_nh_cache *nhc;
	struct drv_flow *f, nf = {};
	const struct drv_cfg *cfg;
	__u32 zero = 0, be_id, h, grow, mtu;
	bool new_flow = false;
	__be16 snat_port;
	__u64 now;
	__u8 state;
	int act, rc;

	if (p->frag) {
		lb_count_drop(&DRV_MAP_SVC_STATS, svc->id);
		return stats_drop(ctx, DRV_STAT_DROP_IP_FRAG);
	}
	/* A martian source makes no flow: replies and errors would go to a group or loopback address. */
	if (!src_is_host(p)) {
		lb_count_drop(&DRV_MAP_SVC_STATS, svc->id);
		return stats_drop(ctx, DRV_STAT_DROP_MARTIAN);
	}
	/*
	 * nat routes the packet (TTL - 1); dsr and tunnel hand it on unchanged,
	 * but not one whose TTL already ran out.
	 */
	act = svc->mode == DRV_MODE_NAT ? fwd_check_ttl(ctx, p) : fwd_check_ttl0(ctx, p);
	if (act >= 0) {
		lb_count_drop(&DRV_MAP_SVC_STATS, svc->id);
		return act;
	}
	cfg = bpf_map_lookup_elem(&DRV_MAP_CFG, &zero);
	if (!cfg)
		return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);

	now = drv_now();
	f = bpf_map_lookup_elem(&DRV_MAP_FLOWS, &p->key);
	/*
	 * A bare SYN on a closed or half-closed flow is a new connection on the
	 * same 5-tuple (tcp_tw_reuse, a NAT in front of the clients): it starts a
	 * new flow, as if there were no record. Kept, the record's CLOSING state
	 * would expire it, and its NAT entry, after the short FIN timeout.
	 */
	if (f && f->state != DRV_FLOW_OPEN && f->state != DRV_FLOW_SYN && tcp_bare_syn(p->tcp)) {
		if (svc->mode == DRV_MODE_NAT && f->state != DRV_FLOW_CLOSING)
			nat_half_closed_end(p, svc, f);
		f = NULL;
	}
	if (f && (!flow_expired(cfg, f->last_seen_ns, f->state, now) ||
		  flow_binds_past_expiry(f, svc, p->tcp))) {
		be_id = f->backend_id;
		be = backend_get(be_id);
		if (flow_names_backend(f, be, svc) && be->state == DRV_BE_DOWN &&
		    !tcp_bare_syn(p->tcp) && ip_hdr_plain(p)) {
			act = lb_node_down(ctx, p, svc, be, be_id, f, cfg, now);
			if (act != DRV_CONTINUE)
				return act;
			snat_port = f->snat_port;
			goto rewrite;
		}
		if (flow_names_backend(f, be, svc) && be->state != DRV_BE_DOWN &&
		    !syn_retry_on_failing(be, f, p->tcp)) {
			state = tcp_flow_state(p->tcp, f->state, false, svc->mode == DRV_MODE_NAT);
			if (state != f->state || now - f->last_seen_ns > DRV_TOUCH_NS) {
				if (svc->mode == DRV_MODE_NAT &&
				    !snat_refresh(p, svc, be, f, cfg, &state, now)) {
					stats_count(DRV_STAT_SNAT_PORT_LOST, p->len);
					goto pick;
				}
				flow_state_merge_into(f, state);
				f->last_seen_ns = now;
			}
			snat_port = f->snat_port;
			goto rewrite;
		}
		if (svc->mode == DRV_MODE_NAT && flow_names_backend(f, be, svc))
			nat_flow_left(p, svc, be, f, now);
		stats_count(DRV_STAT_REHASH, p->len);
	}

pick:

	h = drv_flow_hash(&p->key);
	be_id = lb_pick(svc, h, &be);
	if (be_id == DRV_BE_NONE || !be) {
		lb_count_drop(&DRV_MAP_SVC_STATS, svc->id);
		return stats_drop(ctx, DRV_STAT_DROP_NO_BACKEND);
	}
	state = new_flow_state(p->tcp, svc->mode);
	snat_port = 0;
	if (svc->mode == DRV_MODE_NAT) {
		snat_port = snat_reserve(p, svc, be, be_id, h, cfg, now, &state);
		if (!snat_port) {
			lb_count_drop(&DRV_MAP_SVC_STATS, svc->id);
			lb_count_drop(&DRV_MAP_BE_STATS, be_id);
			return stats_drop(ctx, DRV_STAT_DROP_SNAT_EXHAUSTED);
		}
	}
	nf.last_seen_ns = now;
	nf.backend_id = be_id;
	nf.backend_gen = be->gen;
	nf.svc_id = svc->id;
	nf.snat_port = snat_port;
	nf.state = state;
	bpf_map_update_elem(&DRV_MAP_FLOWS, &p->key, &nf, BPF_ANY);
	stats_count(DRV_STAT_NEW_FLOW, p->len);
	new_flow = true;

rewrite:
	/* Next hop and length first: a too-big error quotes the packet as the client sent it. */
	grow = svc->mode == DRV_MODE_TUNNEL ? encap_len(p) : 0;
	nhc = lb_backend_nh(ctx, p, be_id, be, svc, now, grow, &mtu, &act);
	if (act == DRV_CONTINUE || act == DRV_FWD_TOO_BIG)
		act = fwd_fits(ctx, p, mtu, grow, svc->mode != DRV_MODE_DSR);
	if (act != DRV_CONTINUE && act != XDP_PASS) {
		/* An error sent back is, for the service, a packet its node never got. */
		lb_count_sent(act == XDP_TX ? XDP_DROP : act, svc->id, be_id, p->len, false,
			      new_flow);
		return act;
	}
	switch (svc->mode) {
	case DRV_MODE_NAT:
		nat_rewrite(p, &svc->snat, &be->addr, snat_port, be->port, act != XDP_PASS);
		break;
	case DRV_MODE_DSR:
		break;
	case DRV_MODE_TUNNEL:
		rc = encap(ctx, p, svc, be);
		if (rc >= 0)
			return lb_count_sent(rc, svc->id, be_id, p->len, false, new_flow);
		break;
	default:
		return stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
	}
	/* XDP_PASS: no neighbour yet, or an IPv4 packet without DF for the stack to fragment. */
	if (act != XDP_PASS)
		act = nhc ? fwd_send(ctx, p, &nhc->nh) : stats_drop(ctx, DRV_STAT_DROP_INTERNAL);
	return lb_count_sent(act, svc->id, be_id, p->len, false, new_flow);
}

/*
 * Reply entry @n's node half-closed or closed its flow (FIN or RST): its
 * record follows, @state merged into its own (flow_state_merge), so that the
 * client's FIN then closes it, and after a close the client's next bare SYN
 * on the same 5-tuple starts a new flow and reply entry, not one that
 * expires after the FIN timeout.
 */
static __always_inline void lb_reply_closes(const struct drv_nat *n, const struct pkt *p,
					    __u8 state, __u64 now)
{
	__u32 zero = 0;
	struct drv_scratch *sc = bpf_map_lookup_elem(&DRV_MAP_SCRATCH, &zero);
	struct drv_flow *f;

	if (!sc)
		return;
	f = nat_flow_record(sc, n, p->family, p->key.dport);
	if (f && flow_state_merge(f->state, state) != f->state) {
		flow_state_merge_into(f, state);
		f->last_seen_ns = now;
	}
}

/*
 * Does reply entry @n's backend id still name the node that sent reply @p (its
 * address and port, in @n's service)? Not once the id was freed, or reused
 * for another node: the old node's replies then count to no backend, never
 * to the new one. A flow record tells a reused id by its generation; a reply
 * entry has no room for one, so it goes by the node's address.
 */
static __always_inline bool reply_from_backend(const struct drv_nat *n, const struct pkt *p)
{
	const struct drv_backend *be = backend_get(n->backend_id);

	return be && be->family && be->svc_id == n->svc_id && be->port == p->key.sport &&
	       addr_eq(&be->addr, &p->key.saddr);
}

/**
 * nat_revive - node reply @p found its entry @n, last seen at @seen, past its timeout
 * flow_binds_past_expiry's other half: the reply still goes to its client
 * while the entry is no half-open flow's, its flow's record, if the LRU kept
 * it, still holds this port on this node (the flow did not move), and no new
 * flow took the entry meanwhile: our swap of last_seen_ns from @seen makes it
 * ours again, as a claimer's first (nat_claim) makes it theirs.
 * Return: true if the entry is live again, stamped @now.
 */
static __always_inline bool nat_revive(struct drv_nat *n, const struct pkt *p, __u64 seen,
				       __u64 now)
{
	__u32 zero = 0;
	struct drv_scratch *sc;
	struct drv_flow *f;

	if (n->state == DRV_FLOW_SYN || seen >= now)
		return false;
	sc = bpf_map_lookup_elem(&DRV_MAP_SCRATCH, &zero);
	if (!sc)
		return false;
	sc->victim = (struct drv_flow_key){ .saddr = n->client,
					    .daddr = n->vip,
					    .sport = n->client_port,
					    .dport = n->vip_port,
					    .proto = IPPROTO_TCP,
					    .family = p->family };
	f = bpf_map_lookup_elem(&DRV_MAP_FLOWS, &sc->victim);
	if (f && (f->snat_port != p->key.dport || f->backend_id != n->backend_id))
		return false;
	return __sync_val_compare_and_swap(&n->last_seen_ns, seen, now) == seen;
}

/**
 * lb_reply - a TCP packet not for a service: translate it back if it answers a NAT flow
 * Return: an XDP verdict; XDP_PASS, untouched, for everything that is not a reply.
 */
static __drv_inline int lb_reply(struct xdp_md *ctx, struct pkt *p)
{
	const struct drv_cfg *cfg;
	union drv_addr vip, client;
	__be16 vip_port, client_port;
	struct drv_nh nh;
	struct drv_nat *n;
	bool via_gw, revived = false;
	__u32 zero = 0, svc_id, be_id, mtu = 0;
	__u16 dport;
	__u64 now, seen;
	int act;

	cfg = bpf_map_lookup_elem(&DRV_MAP_CFG, &zero);
	if (!cfg)
		return XDP_PASS;
	dport = bpf_ntohs(p->key.dport);
	if (cfg->reply_port_hi && (dport < cfg->reply_port_lo || dport > cfg->reply_port_hi))
		return XDP_PASS;
	if (p->frag)
		return XDP_PASS;
	n = bpf_map_lookup_elem(&DRV_MAP_NAT, &p->key);
	now = drv_now();
	if (n) {
		seen = n->last_seen_ns;
		if (flow_expired(cfg, seen, n->state, now)) {
			revived = nat_revive(n, p, seen, now);
			if (!revived)
				n = NULL;
		}
	}
	if (!n) {
		if (cfg->reply_port_hi)
			stats_count(DRV_STAT_NAT_REPLY_MISS, p->len);
		return XDP_PASS;
	}
	act = fwd_check_ttl(ctx, p);
	if (act >= 0)
		return lb_count_sent(act, n->svc_id, n->be_gone ? DRV_BE_NONE : n->backend_id,
				     p->len, true, false);
	if (revived || now - n->last_seen_ns > DRV_TOUCH_NS || p->tcp->fin || p->tcp->rst) {
		__u8 was, state = __flow_state_update(n, __builtin_offsetof(struct drv_nat, state),
						      p->tcp, 0, &was);

		if (state != was && state != DRV_FLOW_SYN)
			lb_reply_closes(n, p, state, now);
		n->last_seen_ns = now;
		n->nh.ifindex = 0; /* look the next hop up again */
		/* Checked here, at most once a second: replies then pay no backend lookup. */
		n->be_gone = !reply_from_backend(n, p);
	}
	vip = n->vip;
	client = n->client;
	vip_port = n->vip_port;
	client_port = n->client_port;
	svc_id = n->svc_id;
	be_id = n->be_gone ? DRV_BE_NONE : n->backend_id;

	/* Next hop and length first: a too-big error quotes the reply as the node sent it. */
	nh = n->nh;
	act = DRV_CONTINUE;
	if (!nh.ifindex) {
		act = fwd_resolve(ctx, p, &vip, &client, fwd_check_len(ctx, p, 0), &nh, &mtu,
				  &via_gw, true);
		if (act == DRV_CONTINUE) {
			n->mtu = mtu;
			n->nh = nh;
		}
	} else {
		mtu = n->mtu;
	}
	if (act == DRV_CONTINUE || act == DRV_FWD_TOO_BIG)
		act = fwd_fits(ctx, p, mtu, 0, true);
	if (act != DRV_CONTINUE && act != XDP_PASS) {
		lb_count_sent(act == XDP_TX ? XDP_DROP : act, svc_id, be_id, p->len, true, false);
		return act;
	}
	nat_rewrite(p, &vip, &client, vip_port, client_port, act != XDP_PASS);
	/* Else XDP_PASS: no neighbour yet, or an IPv4 packet without DF for the stack to fragment. */
	if (act != XDP_PASS)
		act = fwd_send(ctx, p, &nh);
	/* Translated and on its way (one the egress refuses is a drop_fib, not a reply sent). */
	if (act != XDP_DROP)
		stats_count(DRV_STAT_NAT_REPLY, p->len);
	return lb_count_sent(act, svc_id, be_id, p->len, true, false);
}

/**
 * lb_process - a parsed TCP packet: forward it for its service, or handle it as a reply
 */
static __always_inline int lb_process(struct xdp_md *ctx, struct pkt *p)
{
	struct drv_svc_key sk = {};
	struct drv_svc *svc;

	sk.vip = p->key.daddr;
	sk.port = p->key.dport;
	sk.proto = IPPROTO_TCP;
	sk.family = p->family;
	svc = bpf_map_lookup_elem(&DRV_MAP_SVCS, &sk);
	if (svc)
		return lb_forward(ctx, p, svc);
	return lb_reply(ctx, p);
}

#endif /* __DROVER_BPF_LB_H */
