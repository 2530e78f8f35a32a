// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Per-packet benchmark programs for bpf_prog_test_run_opts (make bench):
 *
 * bench_floor_tx     floor 1: returns XDP_TX, touches nothing.
 * bench_floor_parse  floor 2: parses Ethernet/IPv4/TCP, one hash-map lookup
 *                    of the 5-tuple in a table of drover's flow-table size,
 *                    XDP_PASS on a hit (XDP_DROP on a miss, counted in
 *                    bench_misses, so the verdict proves the timed path).
 *                    Timed on one hot key, and behind bench_wrap with hits
 *                    spread over as many keys as drover's established cases.
 * bench_floor_parse6 the same for Ethernet/IPv6/TCP (no extension headers).
 * bench_wrap         restores the frame from a template before every
 *                    iteration (test_run's repeat does not: a program that
 *                    rewrites the packet would otherwise time its own output
 *                    from the second iteration on), optionally gives it a
 *                    new source port/address, then tail-calls the program
 *                    under test (slot 0 of bench_target). IPv4 or IPv6
 *                    frames, as bench_v6 says.
 * bench_empty        XDP_PASS: tail-call target that measures bench_wrap's
 *                    own cost, subtracted from the wrapped figures.
 * bench_floor_insert parse as bench_floor_parse, then insert the 5-tuple
 *                    into a 1M-entry LRU hash (drover's flow table size):
 *                    what one connection-table insert costs on this machine,
 *                    run behind bench_wrap with a new 5-tuple each iteration.
 * bench_floor_insert2 the map operations of drover's nat new flow and nothing
 *                    else: parse, look the 5-tuple up (a miss), insert a
 *                    drv_nat-sized entry under the reply's key into one
 *                    1M-entry LRU hash and a drv_flow-sized one into another
 *                    (two maps of their own, empty at the start, as drover's
 *                    are before its new-flow case but for the flows it
 *                    recorded first).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drover/maps.h"

#define BENCH_FRAME_LEN 54 /* Ethernet + IPv4 (no options) + TCP (no options) */
#define BENCH_FRAME6_LEN 74 /* Ethernet + IPv6 (no extension headers) + TCP (no options) */

struct bench_frame {
	__u8 data[BENCH_FRAME6_LEN];
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_frame);
} bench_tmpl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DRV_FLOWS_DEFAULT);
	__type(key, struct drv_flow_key);
	__type(value, __u32);
} bench_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DRV_FLOWS_DEFAULT);
	__type(key, struct drv_flow_key);
	__type(value, struct drv_flow);
} bench_lru SEC(".maps");

/* bench_floor_insert2's two tables, the shapes of drv_flows and drv_nat. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DRV_FLOWS_DEFAULT);
	__type(key, struct drv_flow_key);
	__type(value, struct drv_flow);
} bench_lru_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DRV_FLOWS_DEFAULT);
	__type(key, struct drv_flow_key);
	__type(value, struct drv_nat);
} bench_lru_nat SEC(".maps");

/*
 * How bench_wrap varies the frame: 0 → never (one hot flow); N → iteration i
 * uses flow i % N; ~0 → every iteration is a new flow (until 2^32).
 */
volatile __u32 bench_vary;
volatile __u32 bench_v6; /* bench_wrap: the template is an IPv6 frame */
__u64 bench_iter;
__u64 bench_misses;

SEC("xdp")
int bench_floor_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

/* The floors' parse: Ethernet, IPv4 without options, TCP into @k. 0, or -1 for anything else. */
static __always_inline int floor_key(struct xdp_md *ctx, struct drv_flow_key *k)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct tcphdr *th;
	struct iphdr *iph;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > end || iph->ihl != 5 || iph->protocol != IPPROTO_TCP)
		return -1;
	th = (void *)(iph + 1);
	if ((void *)(th + 1) > end)
		return -1;
	k->saddr.v4 = iph->saddr;
	k->daddr.v4 = iph->daddr;
	k->sport = th->source;
	k->dport = th->dest;
	k->proto = IPPROTO_TCP;
	k->family = DRV_FAMILY_V4;
	return 0;
}

SEC("xdp")
int bench_floor_parse(struct xdp_md *ctx)
{
	struct drv_flow_key k = {};

	if (floor_key(ctx, &k))
		return XDP_ABORTED;
	if (bpf_map_lookup_elem(&bench_flows, &k))
		return XDP_PASS;
	bench_misses++;
	return XDP_DROP;
}

/* The same for IPv6 without extension headers. */
static __always_inline int floor_key6(struct xdp_md *ctx, struct drv_flow_key *k)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	struct tcphdr *th;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return -1;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
		return -1;
	th = (void *)(ip6 + 1);
	if ((void *)(th + 1) > end)
		return -1;
	__builtin_memcpy(&k->saddr, &ip6->saddr, sizeof(k->saddr));
	__builtin_memcpy(&k->daddr, &ip6->daddr, sizeof(k->daddr));
	k->sport = th->source;
	k->dport = th->dest;
	k->proto = IPPROTO_TCP;
	k->family = DRV_FAMILY_V6;
	return 0;
}

SEC("xdp")
int bench_floor_parse6(struct xdp_md *ctx)
{
	struct drv_flow_key k = {};

	if (floor_key6(ctx, &k))
		return XDP_ABORTED;
	if (bpf_map_lookup_elem(&bench_flows, &k))
		return XDP_PASS;
	bench_misses++;
	return XDP_DROP;
}

SEC("xdp")
int bench_floor_insert(struct xdp_md *ctx)
{
	struct drv_flow_key k = {};
	struct drv_flow v = {};

	if (floor_key(ctx, &k))
		return XDP_ABORTED;
	v.backend_id = 1;
	return bpf_map_update_elem(&bench_lru, &k, &v, BPF_NOEXIST) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int bench_floor_insert2(struct xdp_md *ctx)
{
	struct drv_flow_key k = {}, rk;
	struct drv_flow f = {};
	struct drv_nat n = {};

	if (floor_key(ctx, &k))
		return XDP_ABORTED;
	if (bpf_map_lookup_elem(&bench_lru_flows, &k))
		return XDP_DROP; /* not a new flow: the verdict shows it */
	/* the reply's key: node → SNAT, the client's port as the SNAT port */
	rk = k;
	rk.saddr = k.daddr;
	rk.daddr = k.saddr;
	rk.sport = k.dport;
	rk.dport = k.sport;
	n.client = k.saddr;
	n.client_port = k.sport;
	n.backend_id = 1;
	if (bpf_map_update_elem(&bench_lru_nat, &rk, &n, BPF_NOEXIST))
		return XDP_DROP;
	f.backend_id = 1;
	return bpf_map_update_elem(&bench_lru_flows, &k, &f, BPF_ANY) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int bench_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int bench_wrap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct bench_frame *f;
	struct tcphdr *th;
	__be32 *saddr;
	__u32 zero = 0, vary = bench_vary, k;

	f = bpf_map_lookup_elem(&bench_tmpl, &zero);
	if (!f)
		return XDP_ABORTED;
	if (bench_v6) {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		if (data + BENCH_FRAME6_LEN > end)
			return XDP_ABORTED;
		__builtin_memcpy(data, f->data, BENCH_FRAME6_LEN);
		th = (void *)(ip6 + 1);
		saddr = &ip6->saddr.in6_u.u6_addr32[3];
	} else {
		struct iphdr *iph = data + sizeof(struct ethhdr);

		if (data + BENCH_FRAME_LEN > end)
			return XDP_ABORTED;
		__builtin_memcpy(data, f->data, BENCH_FRAME_LEN);
		th = (void *)(iph + 1);
		saddr = &iph->saddr;
	}
	if (vary) {
		k = (__u32)bench_iter++;
		if (vary != ~0u)
			k %= vary;
		/* 64512 source ports per source address; addresses count up from the template's. */
		th->source = bpf_htons(1024 + k % 64512);
		*saddr = bpf_htonl(bpf_ntohl(*saddr) + k / 64512);
	}
	bpf_tail_call(ctx, &bench_target, 0);
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
