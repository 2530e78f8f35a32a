/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Internet checksums: incremental updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'))
 * and, for headers drover writes whole, full sums.
 * Callers accumulate every changed 16-bit word into one 32-bit sum and apply
 * it once per checksum field. Words are read straight from memory: a one's
 * complement sum is byte-order independent as long as every word is read
 * the same way, so no byte swapping is needed.
 */
#ifndef __DROVER_BPF_CSUM_H
#define __DROVER_BPF_CSUM_H

#include <linux/types.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>

/* Add the change of one 16-bit word from @from to @to. */
static __always_inline __u32 csum_add16(__u32 acc, __u16 from, __u16 to)
{
	return acc + (__u16)~from + to;
}

/* Add the change of one 32-bit field (two words). */
static __always_inline __u32 csum_add32(__u32 acc, __u32 from, __u32 to)
{
	acc = csum_add16(acc, (__u16)from, (__u16)to);
	return csum_add16(acc, (__u16)(from >> 16), (__u16)(to >> 16));
}

/* Add the change of a 128-bit address (IPv6). */
static __always_inline __u32 csum_add128(__u32 acc, const __u32 *from, const __u32 *to)
{
	int i;

#pragma unroll
	for (i = 0; i < 4; i++)
		acc = csum_add32(acc, from[i], to[i]);
	return acc;
}

/* One's complement sum of the @n 16-bit words at @w, as they lie in memory (@n constant). */
static __always_inline __u32 csum_words(const void *w, int n, __u32 s)
{
	const __u16 *p = w;
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		s += p[i];
	return s;
}

/*
 * The pseudo-header's sum: both addresses, @nwords 16-bit words from @saddr
 * (daddr follows it: 4 for IPv4, 16 for IPv6), the upper-layer length @len
 * and protocol @proto.
 */
static __always_inline __u32 csum_pseudo(const void *saddr, int nwords, __u16 len, __u8 proto)
{
	return csum_words(saddr, nwords, bpf_htons(len) + bpf_htons(proto));
}

/* Fold a 32-bit sum of 16-bit words and complement it: the checksum field's value. */
static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return ~s;
}

/* Fold a 64-bit sum of 16-bit words and complement it (sums of long runs, bpf_csum_diff's). */
static __always_inline __u16 csum_fold64(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return csum_fold((__u32)s);
}

/* Apply an accumulated change to the checksum field @check. */
static __always_inline __u16 csum_apply(__u16 check, __u32 acc)
{
	return csum_fold((__u16)~check + acc);
}

/*
 * ip4_ttl_add - add @delta to an IPv4 TTL (that stays within 0..255)
 * TTL and protocol are one word of the header checksum; it is read and
 * written as that word only: a byte store to the TTL followed by a word load
 * of it breaks C's aliasing rules, and the compiler may then load the old
 * word (it did, in fwd_ttl_restore's first version).
 * Return: the checksum change, for csum_apply on iph->check.
 */
static __always_inline __u32 ip4_ttl_add(struct iphdr *iph, int delta)
{
	__u16 *w = (__u16 *)&iph->ttl, old = *w;

	*w = bpf_htons((__u16)(bpf_ntohs(old) + delta * 0x100));
	return csum_add16(0, old, *w);
}

#endif /* __DROVER_BPF_CSUM_H */
