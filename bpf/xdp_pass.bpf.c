// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * A pass-through XDP program. A veth only delivers frames that a peer sends
 * with XDP_TX/XDP_REDIRECT when its own end runs XDP, so labs and tests attach
 * this to the far end of every veth that drover forwards into.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
