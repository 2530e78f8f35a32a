// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* drover's XDP entry points. The work is in bpf/lib/. (stub: being written) */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lib/maps.h"

SEC("xdp")
int drover_xdp(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
