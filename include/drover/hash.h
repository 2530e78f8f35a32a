/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The flow hash: one implementation for the XDP program and for userspace, so
 * `drover lookup` and every balancer agree on where a flow goes. Bob Jenkins'
 * lookup3 (the kernel's jhash2) over the ten 32-bit words of a drv_flow_key,
 * with a fixed seed: balancers behind ECMP must hash alike, so the seed is not
 * random per boot.
 */
#ifndef __DROVER_HASH_H
#define __DROVER_HASH_H

#include <linux/types.h>

#include "drover/maps.h"

#define DRV_HASH_SEED 0x64726f76u	/* "drov" */

static inline __u32 drv_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

#define __DRV_JHASH_MIX(a, b, c)                                                                   \
	do {                                                                                       \
		a -= c; a ^= drv_rol32(c, 4);  c += b;                                             \
		b -= a; b ^= drv_rol32(a, 6);  a += c;                                             \
		c -= b; c ^= drv_rol32(b, 8);  b += a;                                             \
		a -= c; a ^= drv_rol32(c, 16); c += b;                                             \
		b -= a; b ^= drv_rol32(a, 19); a += c;                                             \
		c -= b; c ^= drv_rol32(b, 4);  b += a;                                             \
	} while (0)

#define __DRV_JHASH_FINAL(a, b, c)                                                                 \
	do {                                                                                       \
		c ^= b; c -= drv_rol32(b, 14);                                                     \
		a ^= c; a -= drv_rol32(c, 11);                                                     \
		b ^= a; b -= drv_rol32(a, 25);                                                     \
		c ^= b; c -= drv_rol32(b, 16);                                                     \
		a ^= c; a -= drv_rol32(c, 4);                                                      \
		b ^= a; b -= drv_rol32(a, 14);                                                     \
		c ^= b; c -= drv_rol32(b, 24);                                                     \
	} while (0)

/* Reading the key through __u32 words is type punning: may_alias keeps -O2 from reordering it. */
typedef __u32 __attribute__((__may_alias__)) drv_u32_alias_t;

/*
 * drv_flow_hash - hash of a flow's 5-tuple
 * @k: the key as built from the packet (pad zeroed). Words are read in host
 *     order of the wire bytes, identically on every machine of one endianness.
 *
 * Return: 32-bit hash; the Maglev entry is hash % table_size.
 */
static inline __u32 drv_flow_hash(const struct drv_flow_key *k)
{
	const drv_u32_alias_t *w = (const drv_u32_alias_t *)k;
	__u32 a, b, c;

	a = b = c = 0xdeadbeefu + (10u << 2) + DRV_HASH_SEED;
	a += w[0]; b += w[1]; c += w[2];
	__DRV_JHASH_MIX(a, b, c);
	a += w[3]; b += w[4]; c += w[5];
	__DRV_JHASH_MIX(a, b, c);
	a += w[6]; b += w[7]; c += w[8];
	__DRV_JHASH_MIX(a, b, c);
	a += w[9];
	__DRV_JHASH_FINAL(a, b, c);
	return c;
}

#endif /* __DROVER_HASH_H */
