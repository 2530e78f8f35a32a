/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Every map of the XDP program, defined here once. Maps that hold state an
 * operator set up (services, backends, Maglev tables, flows, counters, knobs)
 * are pinned by name under the pin root, so forwarding outlives the process
 * that loaded them and a new agent adopts them. Layouts: include/drover/maps.h.
 */
#ifndef __DROVER_BPF_MAPS_H
#define __DROVER_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "drover/maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct drv_svc_key);
	__type(value, struct drv_svc);
	__uint(max_entries, DRV_MAX_SVCS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_SVCS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct drv_backend);
	__uint(max_entries, DRV_MAX_BACKENDS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_BACKENDS SEC(".maps");

/* Mmapable, so userspace writes a whole table with memcpy before the flip. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, DRV_MAGLEV_ENTRIES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_MAGLEV SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct drv_flow_key);
	__type(value, struct drv_flow);
	__uint(max_entries, DRV_FLOWS_DEFAULT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_FLOWS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct drv_flow_key);
	__type(value, struct drv_nat);
	__uint(max_entries, DRV_FLOWS_DEFAULT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_NAT SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct drv_counter);
	__uint(max_entries, DRV_STATS_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_STATS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct drv_lb_counters);
	__uint(max_entries, DRV_MAX_SVCS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_SVC_STATS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct drv_lb_counters);
	__uint(max_entries, DRV_MAX_BACKENDS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_BE_STATS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct drv_cfg);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_CFG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, DRV_MAX_IFACES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} DRV_MAP_TX_PORTS SEC(".maps");

/*
 * Programs drover_xdp tail-calls, each with a stack of its own. Statically
 * filled by libbpf at load. Pinned: the kernel empties a program array once
 * no file descriptor or pin holds it, and the loader exits after attaching.
 */
int drover_icmp(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, DRV_PROG_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, int(struct xdp_md *));
} DRV_MAP_PROGS SEC(".maps") = {
	.values = { [DRV_PROG_ICMP] = (void *)&drover_icmp },
};

/*
 * Not pinned: snat_reserve's oldest half-open port while it probes, and its
 * flow's key; whether it adopted its own entry's state; where an ICMPv6
 * error's quote has its TCP header (icmp_quote_parse).
 */
struct drv_scratch {
	__u64 oldest_seen;
	struct drv_flow_key victim;
	__be16 oldest_port;
	__u8 adopted;
	__u8 pad;
	__u32 quote_off;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct drv_scratch);
	__uint(max_entries, 1);
} DRV_MAP_SCRATCH SEC(".maps");

/*
 * Not pinned: a copy of the TCP segment drover is about to answer with a RST,
 * to checksum it (reset.h); 4 zero bytes past the longest.
 */
#define DRV_SEG_MAX 16384

struct drv_segbuf {
	__u8 b[DRV_SEG_MAX + 4]; /* first: its address is the value's, one register for both */
	__u8 pad[4];
	__u64 acc; /* the running sum: kept here, not in a register spilled to the stack */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct drv_segbuf);
	__uint(max_entries, 1);
} DRV_MAP_SEGBUF SEC(".maps");

/* Not pinned: a cache the program fills; a new load starts it empty. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct drv_nh_cache);
	__uint(max_entries, DRV_MAX_BACKENDS);
} DRV_MAP_NEXTHOPS SEC(".maps");

#endif /* __DROVER_BPF_MAPS_H */
