// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover-bench-syn -x: the flood as XDP frames. Run by BPF_PROG_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES on the client's veth, each run turns its page
 * into the next SYN and sends it with XDP_TX. The frames reach the receiving
 * veth as XDP frames, the way a NIC's receive ring hands them to an XDP
 * program; socket-sent frames are instead copied into a new page by veth
 * before any XDP program may see them (too little headroom), a cost a NIC
 * does not have.
 *
 * Frame k: source port 1024 + k % gen_span, source address gen_saddr +
 * (k / gen_span) % gen_nsrc, sequence number and IP id from k; the rest comes
 * from gen_tmpl. Both checksums are computed whole.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define GEN_FRAME_LEN 54 /* Ethernet + IPv4 + TCP, no options */

__u8 gen_tmpl[GEN_FRAME_LEN + 2];
__u32 gen_saddr;	/* host order */
__u32 gen_nsrc;		/* 0 counts as 1 */
__u32 gen_span;		/* 0 counts as 1 */
__u64 gen_iter;

static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline __u32 sum16(const __u16 *w, int n, __u32 s)
{
#pragma unroll
	for (int i = 0; i < n; i++)
		s += w[i];
	return s;
}

SEC("xdp")
int syn_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct tcphdr *th = (void *)(iph + 1);
	__u32 k, span = gen_span ?: 1, nsrc = gen_nsrc ?: 1, s;

	if (data + GEN_FRAME_LEN > end)
		return XDP_ABORTED;
	__builtin_memcpy(data, gen_tmpl, GEN_FRAME_LEN);
	k = (__u32)gen_iter++;
	th->source = bpf_htons(1024 + k % span);
	th->seq = bpf_htonl(k * 2654435761u);
	iph->saddr = bpf_htonl(gen_saddr + (k / span) % nsrc);
	iph->id = bpf_htons((__u16)k);
	iph->check = 0;
	iph->check = fold(sum16((__u16 *)iph, sizeof(*iph) / 2, 0));
	/* pseudo-header: both addresses, protocol, TCP length */
	s = sum16((__u16 *)&iph->saddr, 4, bpf_htons(IPPROTO_TCP) + bpf_htons(sizeof(*th)));
	th->check = 0;
	th->check = fold(sum16((__u16 *)th, sizeof(*th) / 2, s));
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
