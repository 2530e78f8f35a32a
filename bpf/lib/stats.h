/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Per-CPU counters. Every verdict is counted exactly once, at the program's
 * single exit (stats_record); drop reasons and events are counted where they
 * are decided, in addition. Per-CPU slots need no atomics: XDP runs with
 * preemption off, one packet at a time per CPU.
 */
#ifndef __DROVER_BPF_STATS_H
#define __DROVER_BPF_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "drover/maps.h"

#include "lib/maps.h"

static __always_inline __u32 frame_len(struct xdp_md *ctx)
{
	return ctx->data_end - ctx->data;
}

static __always_inline void stats_count(__u32 idx, __u32 bytes)
{
	struct drv_counter *c = bpf_map_lookup_elem(&DRV_MAP_STATS, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* Count @reason and return XDP_DROP (the verdict itself is counted on exit). */
static __always_inline int stats_drop(struct xdp_md *ctx, enum drv_stat reason)
{
	stats_count(reason, frame_len(ctx));
	return XDP_DROP;
}

/* The program's one exit: count the verdict. @len is the frame length as received. */
static __always_inline int stats_record(int act, __u32 len)
{
	if (act < 0 || act > XDP_REDIRECT)
		act = XDP_ABORTED;
	stats_count(act, len);
	return act;
}

/*
 * Per service / per backend counters of one packet: sent (@reply: node →
 * client) or @dropped, and whether it made a new flow (recorded even when
 * its first packet is then dropped, as the global new_flow counter has it).
 */
static __always_inline void lb_count(void *map, __u32 id, __u32 len, bool dropped, bool reply,
				     bool new_flow)
{
	struct drv_lb_counters *c = bpf_map_lookup_elem(map, &id);

	if (!c)
		return;
	if (new_flow)
		c->new_flows++;
	if (dropped) {
		c->drops++;
	} else if (reply) {
		c->reply_packets++;
		c->reply_bytes += len;
	} else {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline void lb_count_drop(void *map, __u32 id)
{
	lb_count(map, id, 0, true, false, false);
}

/*
 * A service's packet to or from backend @be_id once its verdict @act is
 * known: counted as sent (TX, REDIRECT, or PASS for the kernel to forward)
 * or as a drop. Returns @act.
 */
static __always_inline int lb_count_sent(int act, __u32 svc_id, __u32 be_id, __u32 len, bool reply,
					 bool new_flow)
{
	bool dropped = act == XDP_DROP || act == XDP_ABORTED;

	lb_count(&DRV_MAP_SVC_STATS, svc_id, len, dropped, reply, new_flow);
	lb_count(&DRV_MAP_BE_STATS, be_id, len, dropped, reply, new_flow);
	return act;
}

#endif /* __DROVER_BPF_STATS_H */
