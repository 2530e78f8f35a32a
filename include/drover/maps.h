/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Everything that crosses the kernel/user boundary: map names, limits, and the
 * key/value layouts of every map. Compiled both with -target bpf and in
 * userspace, so it includes UAPI headers only. Byte order is part of each
 * field's type and comment; padding is explicit. Change a layout → bump the
 * _vN suffix of the map's name, so a new binary never reads an old pin.
 */
#ifndef __DROVER_MAPS_H
#define __DROVER_MAPS_H

#include <linux/types.h>

#define DRV_ABI_VERSION 1

/* Map names: ≤ 15 characters (BPF_OBJ_NAME_LEN - 1), pinned by these names. */
#define DRV_MAP_SVCS	drv_svcs_v1	/* HASH   drv_svc_key → drv_svc */
#define DRV_MAP_BACKENDS drv_bes_v1	/* ARRAY  backend id → drv_backend */
#define DRV_MAP_MAGLEV	drv_maglev_v1	/* ARRAY  maglev index → backend id (mmapable) */
#define DRV_MAP_FLOWS	drv_flows_v1	/* LRU    drv_flow_key (client→VIP) → drv_flow */
#define DRV_MAP_NAT	drv_nat_v1	/* LRU    drv_flow_key (node→SNAT) → drv_nat */
#define DRV_MAP_STATS	drv_stats_v1	/* PERCPU_ARRAY enum drv_stat → drv_counter */
#define DRV_MAP_SVC_STATS drv_svcst_v1	/* PERCPU_ARRAY service id → drv_lb_counters */
#define DRV_MAP_BE_STATS drv_best_v1	/* PERCPU_ARRAY backend id → drv_lb_counters */
#define DRV_MAP_CFG	drv_cfg_v1	/* ARRAY[1] → drv_cfg */
#define DRV_MAP_TX_PORTS drv_txports_v1	/* DEVMAP_HASH ifindex → ifindex */
#define DRV_MAP_NEXTHOPS drv_nh_v1	/* PERCPU_ARRAY backend id → drv_nh_cache */
#define DRV_MAP_SCRATCH	drv_scratch_v1	/* PERCPU_ARRAY[1] → the program's working state */
#define DRV_MAP_SEGBUF	drv_segbuf_v1	/* PERCPU_ARRAY[1] → a TCP segment's copy, to checksum */
#define DRV_MAP_PROGS	drv_progs_v1	/* PROG_ARRAY DRV_PROG_* → program drover_xdp tail-calls */

#define __DRV_STR(x) #x
#define DRV_STR(x) __DRV_STR(x)	/* DRV_STR(DRV_MAP_SVCS) → "drv_svcs_v1" */

#define DRV_PIN_ROOT "/sys/fs/bpf/drover"	/* default; --bpffs overrides */
#define DRV_PIN_LINKS_DIR "links"		/* <root>/links/<ifname>: XDP bpf_link pins */
#define DRV_PIN_PROGS_DIR "progs"		/* <root>/progs/drover_xdp-<build>: the program the links run */

/* Limits. Service ids are 0..DRV_MAX_SVCS-1; backend id 0 means "none". */
#define DRV_MAX_SVCS		64
#define DRV_MAX_BACKENDS	4096
#define DRV_MAGLEV_MAX		65537	/* largest (and default) table size, a prime */
#define DRV_MAGLEV_SLOTS	2	/* per service: packets read one, writers fill the other */
#define DRV_MAGLEV_ENTRIES	(DRV_MAX_SVCS * DRV_MAGLEV_SLOTS * DRV_MAGLEV_MAX)
#define DRV_FLOWS_DEFAULT	(1 << 20)	/* LRU entries of drv_flows and of drv_nat */
#define DRV_MAX_IFACES		64
/* drv_progs slots. ICMP errors are handled in a program of their own: its own 512-byte stack. */
#define DRV_PROG_ICMP		0
#define DRV_PROG_SLOTS		4
#define DRV_BE_NONE		0

/*
 * Index of a Maglev table entry: service @id, slot @slot (0/1), entry @i < table_size.
 * Each service owns DRV_MAGLEV_SLOTS fixed windows of DRV_MAGLEV_MAX entries.
 */
#define DRV_MAGLEV_INDEX(id, slot, i) \
	(((__u32)(id) * DRV_MAGLEV_SLOTS + (__u32)(slot)) * DRV_MAGLEV_MAX + (__u32)(i))

enum drv_family {
	DRV_FAMILY_V4 = 4,
	DRV_FAMILY_V6 = 6,
};

enum drv_mode {
	DRV_MODE_NAT = 0,	/* full NAT: dst → node, src → SNAT addr:port */
	DRV_MODE_DSR = 1,	/* L2 DSR: only the destination MAC changes */
	DRV_MODE_TUNNEL = 2,	/* IPIP / IP6IP6 to the node */
	__DRV_MODE_MAX,
};

enum drv_be_state {
	DRV_BE_UP = 0,		/* in the Maglev table, takes new flows */
	DRV_BE_DRAIN = 1,	/* out of the table, keeps its recorded flows */
	DRV_BE_DOWN = 2,	/* out of the table, its recorded flows re-hash */
	DRV_BE_FAILING = 3,	/* failed its checks: out of the table, keeps its
				 * recorded flows until the agent sets it DOWN
				 * (health rehash-after); the data path treats it
				 * as DRAIN */
	DRV_BE_LEAVING = 4,	/* removed from the agent's config: out of the
				 * table, keeps its recorded flows until they
				 * end (or health leave-after passes); the data
				 * path treats it as DRAIN */
	__DRV_BE_STATE_MAX,
};

/* An address as on the wire. IPv4 lives in v4 (= v6[0]); the other 12 bytes are zero. */
union drv_addr {
	__be32 v4;
	__be32 v6[4];
};

/* drv_svcs key: a service is (VIP, port, proto). */
struct drv_svc_key {
	union drv_addr vip;	/* VIP, network order */
	__be16 port;		/* service port, network order */
	__u8 proto;		/* IPPROTO_TCP */
	__u8 family;		/* enum drv_family */
};

#define DRV_SVC_F_NONE 0

/*
 * drv_svcs value. Replaced whole by userspace, in one map update, after which
 * the writer waits for an RCU grace period: the kernel reuses a replaced
 * element's memory for the next update at once (user/service.c, svcs_quiesce).
 */
struct drv_svc {
	__u32 id;		/* index into drv_svcst and the Maglev windows */
	__u32 table_size;	/* Maglev entries in use, a prime ≤ DRV_MAGLEV_MAX */
	__u8 mode;		/* enum drv_mode */
	__u8 active;		/* Maglev slot packets read (0/1); writers fill the other, then flip */
	__u16 flags;		/* DRV_SVC_F_* */
	__u16 snat_port_lo;	/* nat: first SNAT source port, host order */
	__u16 snat_port_hi;	/* nat: last SNAT source port (inclusive), host order */
	__u32 nbackends;	/* backends in the active table; 0 → new flows dropped (NO_BACKEND) */
	union drv_addr snat;	/* nat: balancer source address toward nodes, VIP's family */
};

/* drv_bes value, indexed by backend id (1..DRV_MAX_BACKENDS-1). */
struct drv_backend {
	union drv_addr addr;	/* node address, network order, the service's family */
	__be16 port;		/* node port, network order */
	__u8 family;		/* enum drv_family; 0 = slot unused */
	__u8 state;		/* enum drv_be_state */
	__u32 svc_id;		/* owning service */
	__u32 weight;		/* Maglev weight; 0 with DRV_BE_DRAIN = draining */
	__u32 gen;		/* bumped on every (re)use of the id; flows of older gens re-hash */
};

/* drv_flows key (client → VIP, as received) and drv_nat key (node → SNAT, as received). */
struct drv_flow_key {
	union drv_addr saddr;	/* network order */
	union drv_addr daddr;	/* network order */
	__be16 sport;		/* network order */
	__be16 dport;		/* network order */
	__u8 proto;		/* IPPROTO_TCP */
	__u8 family;		/* enum drv_family */
	__u8 pad[2];		/* zero: the key is hashed as bytes */
};

enum drv_flow_state {
	DRV_FLOW_OPEN = 0,
	/* RST seen, FINs from both sides (nat), or the client's FIN (dsr, tunnel: they see no
	 * other): expires after tcp_fin_timeout_s */
	DRV_FLOW_CLOSING = 1,
	/* half-open: the client's handshake ACK (picked up mid-stream: its next ACK) not seen yet;
	 * expires like CLOSING, and its SNAT port may be taken for a new flow */
	DRV_FLOW_SYN = 2,
	/* nat, half-closed: only the client's / only the node's FIN seen; lives as OPEN does */
	DRV_FLOW_FIN_CLIENT = 3,
	DRV_FLOW_FIN_NODE = 4,
};

/* Does a flow in @state expire after tcp_fin_timeout_s (else tcp_idle_timeout_s)? */
static inline int drv_flow_state_short(__u8 state)
{
	return state == DRV_FLOW_CLOSING || state == DRV_FLOW_SYN;
}

/* drv_flows value: where a client flow goes. */
struct drv_flow {
	__u64 last_seen_ns;	/* bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC_COARSE) of the last packet, updated ≥ 1 s apart */
	__u32 backend_id;	/* chosen backend */
	__u32 backend_gen;	/* drv_backend.gen when chosen */
	__u32 svc_id;
	__be16 snat_port;	/* nat: SNAT source port, network order */
	__u8 state;		/* enum drv_flow_state */
	__u8 pad;
};

/*
 * A next hop as bpf_fib_lookup found it. The program caches it (per backend
 * in drv_nh, per NAT entry in drv_nat) and looks it up again after
 * DRV_NH_TTL_NS, so a neighbour change is followed within that time.
 */
struct drv_nh {
	__u32 ifindex;		/* egress device; 0 = not resolved */
	__u8 dmac[6];
	__u8 smac[6];
};

#define DRV_NH_TTL_NS 1000000000ULL

/* drv_nh value (per CPU): the next hop toward a backend, written only by the program. */
struct drv_nh_cache {
	__u64 stamp_ns;		/* when it was resolved */
	__u32 gen;		/* drv_backend.gen it was resolved for */
	__u32 mtu;		/* the FIB's MTU toward the backend (route or device); 0 = unknown */
	struct drv_nh nh;
	__u8 mode;		/* the service's mode it was resolved for: dsr refuses a gateway */
	__u8 pad[7];
};

/* drv_nat value: how to translate a node's reply back to the client. */
struct drv_nat {
	__u64 last_seen_ns;
	union drv_addr client;	/* client address, network order */
	union drv_addr vip;	/* VIP the client spoke to, network order */
	__be16 client_port;	/* network order */
	__be16 vip_port;	/* network order */
	__u32 svc_id;
	__u32 backend_id;
	__u8 state;		/* enum drv_flow_state */
	__u8 be_gone;		/* 1: backend_id names another node now (freed, reused), seen at a refresh */
	__u16 mtu;		/* the FIB's MTU toward the client, with nh; 0 = unknown */
	struct drv_nh nh;	/* next hop toward the client, refreshed with last_seen_ns */
};

/* drv_cfg[0]: runtime knobs, read by every packet, written by the CLI/agent. */
struct drv_cfg {
	__u32 tcp_idle_timeout_s;	/* flow idle timeout; 0 → DRV_TCP_IDLE_DEFAULT */
	__u32 tcp_fin_timeout_s;	/* after FIN/RST; 0 → DRV_TCP_FIN_DEFAULT */
	__u32 snat_probes;		/* SNAT ports tried per new flow; 0 → DRV_SNAT_PROBES_DEFAULT */
	/*
	 * Non-service TCP is looked up in drv_nat only if its destination port
	 * is in [reply_port_lo, reply_port_hi] (host order): it covers every
	 * service's SNAT range, present and past (it only grows, so replies of
	 * flows on a changed range still translate), and other traffic pays no
	 * NAT lookup. 0,0 → all ports.
	 */
	__u16 reply_port_lo;
	__u16 reply_port_hi;
};

#define DRV_TCP_IDLE_DEFAULT	3600
#define DRV_TCP_FIN_DEFAULT	10
#define DRV_SNAT_PROBES_DEFAULT	16
#define DRV_SNAT_PROBES_MAX	32	/* the program's loop bound */
/*
 * A half-open flow keeps its SNAT port at least this long (ns): a handshake
 * over a shorter round trip ends on it during a SYN flood, and a new flow on
 * another CPU, whose clock may already read the next tick, can't take the
 * port of one still between taking it and recording its flow.
 */
#define DRV_SNAT_RECLAIM_MIN_NS	(20 * 1000000ULL)
#define DRV_SNAT_PORT_LO_DEFAULT 10000
#define DRV_SNAT_PORT_HI_DEFAULT 32767	/* below Linux's ephemeral range (32768-60999) */

/*
 * drv_stats index. 0..4 are the XDP verdicts by value (XDP_ABORTED..XDP_REDIRECT),
 * every verdict is counted there exactly once. The rest are reasons and events
 * counted in addition: each DROP_* also counts under DRV_STAT_XDP_DROP.
 * Keep drv_stat_names[] in user/ in step (a _Static_assert checks the count).
 */
enum drv_stat {
	DRV_STAT_XDP_ABORTED = 0,
	DRV_STAT_XDP_DROP = 1,
	DRV_STAT_XDP_PASS = 2,
	DRV_STAT_XDP_TX = 3,
	DRV_STAT_XDP_REDIRECT = 4,
	DRV_STAT_DROP_ETH_TRUNC,	/* frame shorter than its Ethernet/VLAN header */
	DRV_STAT_DROP_IP_TRUNC,		/* IPv4/IPv6 header cut short */
	DRV_STAT_DROP_IP_BAD,		/* bad version, IHL, length; checksum if answered */
	DRV_STAT_DROP_IP_FRAG,		/* IPv4/IPv6 fragment to a VIP */
	DRV_STAT_DROP_IP6_EXT,		/* IPv6 extension header cut short (a chain too long passes) */
	DRV_STAT_DROP_TCP_TRUNC,	/* TCP header cut short */
	DRV_STAT_DROP_TCP_BAD,		/* bad data offset; checksum if a RST answers it */
	DRV_STAT_DROP_NO_BACKEND,	/* service has no usable backend */
	DRV_STAT_DROP_SNAT_EXHAUSTED,	/* no free SNAT port after snat_probes tries */
	DRV_STAT_DROP_FIB,		/* next hop lookup: blackhole, unreachable, prohibited */
	DRV_STAT_DROP_TTL,		/* TTL/hop limit would reach 0 */
	DRV_STAT_DROP_INTERNAL,		/* map lookup that cannot fail did, adjust_head failed */
	DRV_STAT_FIB_PASS,		/* rewritten packet handed to the stack: no neighbour yet, or IPv4 to fragment */
	DRV_STAT_NEW_FLOW,		/* flows recorded */
	DRV_STAT_REHASH,		/* recorded flows moved off a down/removed backend */
	DRV_STAT_NAT_REPLY,		/* node → client replies translated */
	DRV_STAT_NAT_REPLY_MISS,	/* to SNAT addr:port range with no entry: passed */
	DRV_STAT_ICMP_TO_NODE,		/* too-big about a reply to a client, sent to the flow's node */
	DRV_STAT_ICMP_TO_CLIENT,	/* too-big about a NAT'd packet to a node, sent to its client */
	DRV_STAT_ICMP_MISS,		/* too-big about a VIP or SNAT port, no flow: passed */
	DRV_STAT_ICMP_LOW_MTU,		/* nat too-big below 1280 bytes: passed (lowers all clients) */
	DRV_STAT_SNAT_RECLAIM_SYN,	/* no free SNAT port: took the oldest half-open flow's */
	DRV_STAT_SNAT_PORT_LOST,	/* a flow's SNAT port is another flow's (entry evicted): picked anew */
	DRV_STAT_ICMP_TOO_BIG,		/* longer than the egress MTU: ICMP too-big sent back to its sender */
	DRV_STAT_DROP_TOO_BIG,		/* longer than the egress MTU, no too-big possible (IP options, ...) */
	DRV_STAT_DROP_MARTIAN,		/* to a service, or an ICMP error about a flow, from a source no host has */
	DRV_STAT_RST_NODE_DOWN,		/* segment of a flow whose node is down: answered with a RST */
	__DRV_STAT_MAX,
};

/* drv_stats slots: room for counters a later drover adds, so its pins stay compatible. */
#define DRV_STATS_SLOTS 64
_Static_assert(__DRV_STAT_MAX <= DRV_STATS_SLOTS, "drv_stats has no room for every counter");

struct drv_counter {
	__u64 packets;
	__u64 bytes;		/* L2 frame bytes as received */
};

/*
 * drv_svcst and drv_best values (per CPU; readers sum). drv_best's slot 0 (no
 * backend) gathers the replies of nodes whose backend id was freed or reused.
 */
struct drv_lb_counters {
	__u64 packets;		/* client → node packets forwarded */
	__u64 bytes;
	__u64 new_flows;
	__u64 reply_packets;	/* nat: node → client packets translated */
	__u64 reply_bytes;
	__u64 drops;		/* packets of this service/backend dropped */
};

_Static_assert(sizeof(union drv_addr) == 16, "drv_addr ABI");
_Static_assert(sizeof(struct drv_svc_key) == 20, "drv_svc_key ABI");
_Static_assert(sizeof(struct drv_svc) == 36, "drv_svc ABI");
_Static_assert(sizeof(struct drv_backend) == 32, "drv_backend ABI");
_Static_assert(sizeof(struct drv_flow_key) == 40, "drv_flow_key ABI");
_Static_assert(sizeof(struct drv_flow) == 24, "drv_flow ABI");
_Static_assert(sizeof(struct drv_nat) == 72, "drv_nat ABI");
_Static_assert(sizeof(struct drv_nh) == 16, "drv_nh ABI");
_Static_assert(sizeof(struct drv_nh_cache) == 40, "drv_nh_cache ABI");
_Static_assert(sizeof(struct drv_cfg) == 16, "drv_cfg ABI");
_Static_assert(sizeof(struct drv_counter) == 16, "drv_counter ABI");
_Static_assert(sizeof(struct drv_lb_counters) == 48, "drv_lb_counters ABI");

#endif /* __DROVER_MAPS_H */
