// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* drv_maglev_build: balance, weights, disruption, determinism, errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "maglev.h"
#include "util.h"

#define M DRV_MAGLEV_MAX

/* make_golden()'s tables, recorded from this implementation (see golden_tables_are_unchanged). */
#define GOLDEN_FNV 0x038a52e06eda7e71ULL
#define GOLDEN_SMALL 307, 407, 407, 307, 107, 7, 307, 207, 107, 407, 207, 207, 407
#define NMAX 1000

static __u32 tab_a[M], tab_b[M];
static struct drv_maglev_backend bes[NMAX + 1];
static unsigned int counts[NMAX + 2];

/* Backend i: 10.x.y.z:80 (IPv4), id i + 1, weight @w(i). */
static void make_v4(struct drv_maglev_backend *b, size_t n, __u32 (*w)(size_t))
{
	memset(b, 0, n * sizeof(*b));
	for (size_t i = 0; i < n; i++) {
		b[i].family = DRV_FAMILY_V4;
		b[i].addr.v4 = htonl(0x0a000000u + (__u32)i + 1);
		b[i].port = htons(80);
		b[i].weight = w ? w(i) : 1;
		b[i].id = (__u32)i + 1;
	}
}

static __u32 weight_1_to_10(size_t i)
{
	return (__u32)(i % 10) + 1;
}

static void count_ids(const __u32 *t, __u32 size, size_t n)
{
	memset(counts, 0, sizeof(counts));
	for (__u32 i = 0; i < size; i++) {
		assert_true(t[i] <= n);
		counts[t[i]]++;
	}
}

static __u64 sum_weights(const struct drv_maglev_backend *b, size_t n)
{
	__u64 w = 0;

	for (size_t i = 0; i < n; i++)
		w += b[i].weight;
	return w;
}

static void equal_weights_share_within_1pct_of_ideal_for_3_to_1000_backends(void **state)
{
	static const size_t ns[] = { 3, 4, 5, 7, 10, 16, 50, 100, 250, 333, 500, 999, 1000 };

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		size_t n = ns[k];
		double ideal = (double)M / n;
		unsigned int lo = M, hi = 0;

		make_v4(bes, n, NULL);
		assert_int_equal(drv_maglev_build(bes, n, M, tab_a), 0);
		count_ids(tab_a, M, n);
		assert_int_equal(counts[DRV_BE_NONE], 0);
		for (size_t i = 1; i <= n; i++) {
			double d = counts[i] - ideal;

			if (d < 0)
				d = -d;
			if (d > 0.01 * ideal)
				fail_msg("n=%zu backend %zu has %u entries, ideal %.2f", n, i, counts[i],
					 ideal);
			lo = counts[i] < lo ? counts[i] : lo;
			hi = counts[i] > hi ? counts[i] : hi;
		}
		/* Equal weights: one entry per turn, round robin → floor or ceil of M/n. */
		assert_true(hi - lo <= 1);
	}
}

static void weighted_share_within_one_entry_of_ideal(void **state)
{
	static const size_t ns[] = { 3, 10, 100, 1000 };

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		size_t n = ns[k];
		__u64 w;

		make_v4(bes, n, weight_1_to_10);
		w = sum_weights(bes, n);
		assert_int_equal(drv_maglev_build(bes, n, M, tab_a), 0);
		count_ids(tab_a, M, n);
		assert_int_equal(counts[DRV_BE_NONE], 0);
		for (size_t i = 0; i < n; i++) {
			double ideal = (double)M * bes[i].weight / w;
			double d = counts[i + 1] - ideal;

			if (d < 0)
				d = -d;
			/* ±1 entry always; within 1% wherever the ideal share is ≥ 100 entries. */
			if (d >= 1.0 || (ideal >= 100 && d > 0.01 * ideal))
				fail_msg("n=%zu backend %zu weight %u has %u entries, ideal %.2f", n,
					 i + 1, bes[i].weight, counts[i + 1], ideal);
		}
	}
}

static void weight_three_takes_three_quarters(void **state)
{
	make_v4(bes, 2, NULL);
	bes[1].weight = 3;
	assert_int_equal(drv_maglev_build(bes, 2, 13, tab_a), 0);
	count_ids(tab_a, 13, 2);
	/* 13 * 1/4 = 3.25, 13 * 3/4 = 9.75 */
	assert_int_equal(counts[1], 3);
	assert_int_equal(counts[2], 10);
}

static void weights_are_scale_invariant(void **state)
{
	make_v4(bes, 50, weight_1_to_10);
	assert_int_equal(drv_maglev_build(bes, 50, M, tab_a), 0);
	for (size_t i = 0; i < 50; i++)
		bes[i].weight *= 1000000;
	assert_int_equal(drv_maglev_build(bes, 50, M, tab_b), 0);
	assert_memory_equal(tab_a, tab_b, sizeof(tab_a));
}

static void huge_weight_does_not_starve_or_overflow(void **state)
{
	make_v4(bes, 3, NULL);
	bes[0].weight = UINT32_MAX;
	bes[1].weight = UINT32_MAX;
	bes[2].weight = UINT32_MAX / 2;
	assert_int_equal(drv_maglev_build(bes, 3, M, tab_a), 0);
	count_ids(tab_a, M, 3);
	/* 2 : 2 : 1 of 65537 → 26214.8, 26214.8, 13107.4 */
	assert_true(counts[1] >= 26214 && counts[1] <= 26215);
	assert_true(counts[2] >= 26214 && counts[2] <= 26215);
	assert_true(counts[3] >= 13107 && counts[3] <= 13108);
}

static void weight_zero_backend_gets_no_entry(void **state)
{
	make_v4(bes, 5, NULL);
	bes[2].weight = 0;
	assert_int_equal(drv_maglev_build(bes, 5, M, tab_a), 0);
	count_ids(tab_a, M, 5);
	assert_int_equal(counts[3], 0);
	assert_int_equal(counts[DRV_BE_NONE], 0);
}

static void no_weighted_backend_fills_table_with_none(void **state)
{
	memset(tab_a, 0xff, sizeof(tab_a));
	assert_int_equal(drv_maglev_build(NULL, 0, M, tab_a), 0);
	count_ids(tab_a, M, 0);
	assert_int_equal(counts[DRV_BE_NONE], M);

	make_v4(bes, 4, NULL);
	for (size_t i = 0; i < 4; i++)
		bes[i].weight = 0;
	memset(tab_a, 0xff, sizeof(tab_a));
	assert_int_equal(drv_maglev_build(bes, 4, 31, tab_a), 0);
	count_ids(tab_a, 31, 4);
	assert_int_equal(counts[DRV_BE_NONE], 31);
}

/* Entries that changed, other than those the removed backend (@gone) owned. */
static unsigned int moved_beyond_own(const __u32 *before, const __u32 *after, __u32 gone)
{
	unsigned int moved = 0;

	for (__u32 i = 0; i < M; i++)
		if (before[i] != gone && before[i] != after[i])
			moved++;
	return moved;
}

/*
 * Removing 1 of N moves its own ~M/N entries plus ε·M/N others. Maglev is
 * near-minimal only while M ≫ N (the paper asks M ≥ 100·N): measured ε ≤ 0.67
 * up to N = 100 (M/N = 655), ε ≈ 1 at 150, 3 at 333, 9.4 at 1000 (weighted).
 */
static void check_removal(size_t n, __u32 (*w)(size_t), double eps)
{
	size_t trials = n < 25 ? n : 25;

	make_v4(bes, n, w);
	assert_int_equal(drv_maglev_build(bes, n, M, tab_a), 0);
	for (size_t r = 0; r < trials; r++) {
		size_t gone = (r * 7919) % n;
		__u32 saved = bes[gone].weight;
		unsigned int moved;

		bes[gone].weight = 0;
		assert_int_equal(drv_maglev_build(bes, n, M, tab_b), 0);
		bes[gone].weight = saved;
		moved = moved_beyond_own(tab_a, tab_b, bes[gone].id);
		if (moved > eps * M / n)
			fail_msg("n=%zu removing %zu moved %u other entries, bound %.0f", n, gone + 1,
				 moved, eps * M / n);
		/* and every entry it owned went to someone else */
		for (__u32 i = 0; i < M; i++)
			assert_int_not_equal(tab_b[i], bes[gone].id);
	}
}

static void removing_one_of_n_up_to_100_moves_under_one_nth_more(void **state)
{
	static const size_t ns[] = { 3, 5, 10, 30, 100 };

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		check_removal(ns[k], NULL, 1.0);
		check_removal(ns[k], weight_1_to_10, 1.0);
	}
}

static void removing_one_of_1000_moves_under_twelve_nths_more(void **state)
{
	check_removal(1000, NULL, 12.0);
	check_removal(1000, weight_1_to_10, 12.0);
}

/* Deterministic Fisher-Yates with a fixed LCG. */
static void shuffle(struct drv_maglev_backend *b, size_t n, __u32 seed)
{
	for (size_t i = n - 1; i > 0; i--) {
		struct drv_maglev_backend t;
		size_t j;

		seed = seed * 1664525u + 1013904223u;
		j = (seed >> 8) % (i + 1);
		t = b[i];
		b[i] = b[j];
		b[j] = t;
	}
}

static void any_input_order_gives_identical_table(void **state)
{
	make_v4(bes, 200, weight_1_to_10);
	assert_int_equal(drv_maglev_build(bes, 200, M, tab_a), 0);
	for (__u32 s = 1; s <= 5; s++) {
		shuffle(bes, 200, s);
		assert_int_equal(drv_maglev_build(bes, 200, M, tab_b), 0);
		assert_memory_equal(tab_a, tab_b, sizeof(tab_a));
	}
}

static __u64 fnv64(const __u32 *t, __u32 n)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (__u32 i = 0; i < n; i++)
		for (int s = 0; s < 32; s += 8) {
			h ^= (t[i] >> s) & 0xff;
			h *= 0x100000001b3ULL;
		}
	return h;
}

/* Mixed families, ports and weights; pinned so that an algorithm change is noticed. */
static size_t make_golden(struct drv_maglev_backend *b)
{
	static const char *const addrs[] = { "192.0.2.10", "192.0.2.11", "192.0.2.12",
					     "2001:db8::10", "2001:db8::11" };
	size_t n = sizeof(addrs) / sizeof(addrs[0]);

	memset(b, 0, n * sizeof(*b));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(drv_addr_parse(addrs[i], &b[i].addr, &b[i].family), 0);
		b[i].port = htons(i == 2 ? 8080 : 443);
		b[i].weight = (__u32)i + 1;
		b[i].id = (__u32)(i * 100 + 7);
	}
	return n;
}

static void golden_tables_are_unchanged(void **state)
{
	static const __u32 small[13] = { GOLDEN_SMALL };
	__u32 t[13];
	size_t n = make_golden(bes);

	assert_int_equal(drv_maglev_build(bes, n, M, tab_a), 0);
	if (fnv64(tab_a, M) != GOLDEN_FNV)
		fail_msg("65537-entry golden table checksum is %#llx, want %#llx",
			 (unsigned long long)fnv64(tab_a, M), (unsigned long long)GOLDEN_FNV);

	assert_int_equal(drv_maglev_build(bes, n, 13, t), 0);
	for (int i = 0; i < 13; i++)
		if (t[i] != small[i])
			fail_msg("13-entry golden table differs at %d: %u, want %u", i, t[i],
				 small[i]);
}

static void family_and_port_are_part_of_identity(void **state)
{
	make_v4(bes, 3, NULL);
	bes[1].addr = bes[0].addr;
	bes[1].port = htons(81);	/* same address, other port */
	bes[2].addr = bes[0].addr;
	bes[2].family = DRV_FAMILY_V6;	/* same bytes, other family */
	assert_int_equal(drv_maglev_build(bes, 3, M, tab_a), 0);
	count_ids(tab_a, M, 3);
	for (int i = 1; i <= 3; i++)
		assert_true(counts[i] == M / 3 || counts[i] == M / 3 + 1);
}

static void bad_sizes_are_rejected(void **state)
{
	static const __u32 bad[] = { 0, 1, 4, 100, 65535, 65536, 65539, 131071, UINT32_MAX };

	make_v4(bes, 3, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(drv_maglev_build(bes, 3, bad[i], tab_a), -EINVAL);
	assert_int_equal(drv_maglev_build(bes, 3, 2, tab_a), 0);
	assert_int_equal(drv_maglev_build(bes, 3, 65521, tab_a), 0);
	assert_int_equal(drv_maglev_build(bes, 3, M, tab_a), 0);
}

static void duplicate_backend_is_rejected_and_table_untouched(void **state)
{
	make_v4(bes, 4, NULL);
	bes[3].addr = bes[1].addr;	/* same identity, other id */
	memset(tab_a, 0xab, 31 * sizeof(__u32));
	assert_int_equal(drv_maglev_build(bes, 4, 31, tab_a), -EINVAL);
	for (int i = 0; i < 31; i++)
		assert_int_equal(tab_a[i], 0xabababab);

	bes[3].weight = 0;	/* a duplicate is an error even when it is out of the table */
	assert_int_equal(drv_maglev_build(bes, 4, 31, tab_a), -EINVAL);
}

static void weighted_backend_with_id_zero_or_no_family_is_rejected(void **state)
{
	make_v4(bes, 3, NULL);
	bes[1].id = DRV_BE_NONE;
	assert_int_equal(drv_maglev_build(bes, 3, 31, tab_a), -EINVAL);
	make_v4(bes, 3, NULL);
	bes[2].family = 0;
	assert_int_equal(drv_maglev_build(bes, 3, 31, tab_a), -EINVAL);
	assert_int_equal(drv_maglev_build(bes, 3, 31, NULL), -EINVAL);
	assert_int_equal(drv_maglev_build(NULL, 3, 31, tab_a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(equal_weights_share_within_1pct_of_ideal_for_3_to_1000_backends),
		cmocka_unit_test(weighted_share_within_one_entry_of_ideal),
		cmocka_unit_test(weight_three_takes_three_quarters),
		cmocka_unit_test(weights_are_scale_invariant),
		cmocka_unit_test(huge_weight_does_not_starve_or_overflow),
		cmocka_unit_test(weight_zero_backend_gets_no_entry),
		cmocka_unit_test(no_weighted_backend_fills_table_with_none),
		cmocka_unit_test(removing_one_of_n_up_to_100_moves_under_one_nth_more),
		cmocka_unit_test(removing_one_of_1000_moves_under_twelve_nths_more),
		cmocka_unit_test(any_input_order_gives_identical_table),
		cmocka_unit_test(golden_tables_are_unchanged),
		cmocka_unit_test(family_and_port_are_part_of_identity),
		cmocka_unit_test(bad_sizes_are_rejected),
		cmocka_unit_test(duplicate_backend_is_rejected_and_table_untouched),
		cmocka_unit_test(weighted_backend_with_id_zero_or_no_family_is_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
