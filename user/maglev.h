/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Weighted Maglev lookup tables (Eisenbud et al., NSDI 2016, §3.4).
 * Deterministic: the same backend set (whatever its order) gives a
 * byte-identical table on every machine, so balancers behind ECMP agree.
 */
#ifndef __DROVER_MAGLEV_H
#define __DROVER_MAGLEV_H

#include <stddef.h>
#include <linux/types.h>

#include "drover/maps.h"

struct drv_maglev_backend {
	union drv_addr addr; /* identity of the backend: (family, addr, port) */
	__be16 port;
	__u8 family;
	__u8 pad;
	__u32 weight; /* 0: not in the table */
	__u32 id; /* what the table stores (drv_bes index) */
};

/*
 * drv_maglev_build - fill @table with backend ids
 * @bes: backends (any order; entries with weight 0 are skipped)
 * @n: number of @bes
 * @size: table entries, a prime ≤ DRV_MAGLEV_MAX
 * @table: out, @size entries; all DRV_BE_NONE if no backend has weight > 0
 *
 * Return: 0, -EINVAL (size not prime, too big, duplicate backend), -ENOMEM.
 */
int drv_maglev_build(const struct drv_maglev_backend *bes, size_t n, __u32 size, __u32 *table);

#endif /* __DROVER_MAGLEV_H */
