// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* drv_flow_hash: golden values, agreement with lookup3 hashword, every field counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "drover/hash.h"
#include "util.h"

/* Recorded from drv_flow_hash; any change breaks every balancer's agreement on flows. */
#define GOLDEN_V4 0xaa7dcc2bu
#define GOLDEN_V6 0x69fba746u
#define GOLDEN_ZERO 0xa8b386c1u

static struct drv_flow_key key_v4(void)
{
	struct drv_flow_key k;

	memset(&k, 0, sizeof(k));
	assert_int_equal(drv_addr_parse("198.51.100.7", &k.saddr, &k.family), 0);
	assert_int_equal(drv_addr_parse("192.0.2.1", &k.daddr, &k.family), 0);
	k.sport = htons(40000);
	k.dport = htons(443);
	k.proto = IPPROTO_TCP;
	return k;
}

static struct drv_flow_key key_v6(void)
{
	struct drv_flow_key k;

	memset(&k, 0, sizeof(k));
	assert_int_equal(drv_addr_parse("2001:db8:1::7", &k.saddr, &k.family), 0);
	assert_int_equal(drv_addr_parse("2001:db8::1", &k.daddr, &k.family), 0);
	k.sport = htons(51234);
	k.dport = htons(80);
	k.proto = IPPROTO_TCP;
	return k;
}

/*
 * Bob Jenkins' lookup3 hashword(), written from its description as a loop
 * over any word count, to cross-check the unrolled 10-word drv_flow_hash.
 */
#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static __u32 ref_hashword(const __u32 *k, size_t len, __u32 initval)
{
	__u32 a, b, c;

	a = b = c = 0xdeadbeefu + ((__u32)len << 2) + initval;
	while (len > 3) {
		a += k[0];
		b += k[1];
		c += k[2];
		a -= c; a ^= ROT(c, 4); c += b;
		b -= a; b ^= ROT(a, 6); a += c;
		c -= b; c ^= ROT(b, 8); b += a;
		a -= c; a ^= ROT(c, 16); c += b;
		b -= a; b ^= ROT(a, 19); a += c;
		c -= b; c ^= ROT(b, 4); b += a;
		len -= 3;
		k += 3;
	}
	if (len == 0)
		return c;
	if (len >= 3)
		c += k[2];
	if (len >= 2)
		b += k[1];
	a += k[0];
	c ^= b; c -= ROT(b, 14);
	a ^= c; a -= ROT(c, 11);
	b ^= a; b -= ROT(a, 25);
	c ^= b; c -= ROT(b, 16);
	a ^= c; a -= ROT(c, 4);
	b ^= a; b -= ROT(a, 14);
	c ^= b; c -= ROT(b, 24);
	return c;
}

static void flow_hash_is_lookup3_hashword_with_drover_seed(void **state)
{
	struct drv_flow_key k[2] = { key_v4(), key_v6() };
	__u32 w[10];

	for (int i = 0; i < 2; i++) {
		memcpy(w, &k[i], sizeof(w));
		assert_int_equal(drv_flow_hash(&k[i]), ref_hashword(w, 10, DRV_HASH_SEED));
	}
}

static void reference_hashword_matches_published_lookup3_values(void **state)
{
	/* hashword of zero words returns its initial c: 0xdeadbeef + initval. */
	assert_int_equal(ref_hashword(NULL, 0, 0), 0xdeadbeefu);
	assert_int_equal(ref_hashword(NULL, 0, 0xdeadbeefu), 0xbd5b7ddeu);
}

static void flow_hash_golden_values_are_unchanged(void **state)
{
	struct drv_flow_key k4 = key_v4(), k6 = key_v6(), zero;

	memset(&zero, 0, sizeof(zero));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Words are wire bytes read in host order: these values hold on little-endian hosts. */
	assert_int_equal(drv_flow_hash(&k4), GOLDEN_V4);
	assert_int_equal(drv_flow_hash(&k6), GOLDEN_V6);
#endif
	assert_int_equal(drv_flow_hash(&zero), GOLDEN_ZERO);
}

/* Flipping any bit of any field (pad excluded) changes the hash. */
static void flow_hash_changes_with_each_tuple_field(void **state)
{
	struct drv_flow_key base[2] = { key_v4(), key_v6() };

	for (int b = 0; b < 2; b++) {
		__u32 h0 = drv_flow_hash(&base[b]);

		for (size_t off = 0; off < offsetof(struct drv_flow_key, pad); off++) {
			for (int bit = 0; bit < 8; bit++) {
				struct drv_flow_key k = base[b];

				((__u8 *)&k)[off] ^= (__u8)(1u << bit);
				if (drv_flow_hash(&k) == h0)
					fail_msg("key %d: flipping byte %zu bit %d keeps hash %#x", b,
						 off, bit, h0);
			}
		}
	}
}

static void flow_hash_differs_between_reversed_direction(void **state)
{
	struct drv_flow_key k = key_v4(), r = k;

	r.saddr = k.daddr;
	r.daddr = k.saddr;
	r.sport = k.dport;
	r.dport = k.sport;
	assert_int_not_equal(drv_flow_hash(&k), drv_flow_hash(&r));
}

/* Source ports of one client spread evenly over a prime table (what Maglev relies on). */
static void flow_hash_spreads_source_ports_over_table(void **state)
{
	static unsigned int bucket[31];
	struct drv_flow_key k = key_v4();
	const unsigned int flows = 31 * 2000;

	for (unsigned int p = 0; p < flows; p++) {
		k.sport = htons((__u16)(1024 + p));
		bucket[drv_flow_hash(&k) % 31]++;
	}
	for (int i = 0; i < 31; i++)
		if (bucket[i] < 1700 || bucket[i] > 2300)
			fail_msg("entry %d of 31 got %u of %u flows, want 1700..2300", i, bucket[i], flows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flow_hash_is_lookup3_hashword_with_drover_seed),
		cmocka_unit_test(reference_hashword_matches_published_lookup3_values),
		cmocka_unit_test(flow_hash_golden_values_are_unchanged),
		cmocka_unit_test(flow_hash_changes_with_each_tuple_field),
		cmocka_unit_test(flow_hash_differs_between_reversed_direction),
		cmocka_unit_test(flow_hash_spreads_source_ports_over_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
