// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Weighted Maglev table fill (Eisenbud et al., NSDI 2016, §3.4).
 *
 * Each backend has a permutation of the table, offset + j * skip (mod size),
 * where offset and skip come from two different hashes of its identity bytes
 * (family, address, port as on the wire). Backends take turns; on its turn a
 * backend claims the next entry of its permutation that is still empty, so
 * every turn fills exactly one entry.
 *
 * Weights decide who takes the next turn: the backend with the smallest
 * (2 * turns_taken + 1) / weight (Sainte-Laguë / Webster divisor order), ties
 * broken by identity order. With equal weights this is the paper's plain
 * round robin, so shares differ by at most one entry; with weights every
 * prefix of turns stays within about one turn of the proportional share,
 * whatever the weights' scale (no partial "round" of a heavy backend).
 *
 * Determinism: the backends are sorted by identity first and the hashes read
 * bytes, never host-order words, so the same set in any order builds a
 * byte-identical table on every machine.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"
#include "util.h"

#define MAGLEV_SEED_OFFSET 0x6d61676c6576302eULL /* "maglev0." */
#define MAGLEV_SEED_SKIP 0x736b697030303031ULL /* "skip0001" */
#define MAGLEV_ID_LEN 19 /* family + 16 address bytes + 2 port bytes */

struct mg_state {
	const struct drv_maglev_backend *be;
	__u32 next; /* next permutation position to try */
	__u32 skip;
	__u32 turns; /* entries claimed so far */
};

static void maglev_identity(const struct drv_maglev_backend *be, __u8 out[MAGLEV_ID_LEN])
{
	out[0] = be->family;
	memcpy(out + 1, &be->addr, 16);
	memcpy(out + 17, &be->port, 2);
}

/* FNV-1a over bytes, seeded, then the murmur3 64-bit finalizer: byte order free. */
static __u64 maglev_hash(const __u8 *b, size_t len, __u64 seed)
{
	__u64 h = drv_fnv1a(DRV_FNV_INIT ^ seed, b, len);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static int maglev_identity_cmp(const void *pa, const void *pb)
{
	const struct drv_maglev_backend *a = *(const struct drv_maglev_backend *const *)pa;
	const struct drv_maglev_backend *b = *(const struct drv_maglev_backend *const *)pb;
	__u8 ia[MAGLEV_ID_LEN], ib[MAGLEV_ID_LEN];

	maglev_identity(a, ia);
	maglev_identity(b, ib);
	return memcmp(ia, ib, sizeof(ia));
}

/* Does backend a take its turn before b? (2*ta+1)/wa < (2*tb+1)/wb, ties by index. */
static bool maglev_before(const struct mg_state *st, __u32 a, __u32 b)
{
	__u64 lhs = (2ULL * st[a].turns + 1) * st[b].be->weight;
	__u64 rhs = (2ULL * st[b].turns + 1) * st[a].be->weight;

	if (lhs != rhs)
		return lhs < rhs;
	return a < b;
}

static void heap_sift_down(const struct mg_state *st, __u32 *heap, __u32 n, __u32 i)
{
	for (;;) {
		__u32 l = 2 * i + 1, r = l + 1, m = i, tmp;

		if (l < n && maglev_before(st, heap[l], heap[m]))
			m = l;
		if (r < n && maglev_before(st, heap[r], heap[m]))
			m = r;
		if (m == i)
			return;
		tmp = heap[i];
		heap[i] = heap[m];
		heap[m] = tmp;
		i = m;
	}
}

int drv_maglev_build(const struct drv_maglev_backend *bes, size_t n, __u32 size, __u32 *table)
{
	const struct drv_maglev_backend **sorted = NULL;
	struct mg_state *st = NULL;
	__u32 *heap = NULL;
	__u8 *filled = NULL;
	size_t nw = 0;
	int err = 0;

	if (!table || (n && !bes) || size > DRV_MAGLEV_MAX || !drv_is_prime(size))
		return -EINVAL;

	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		sorted[i] = &bes[i];
	qsort(sorted, n, sizeof(*sorted), maglev_identity_cmp);

	/* Duplicates are adjacent after the sort; a weighted entry must be usable. */
	for (size_t i = 0; i < n; i++) {
		if (i && !maglev_identity_cmp(&sorted[i - 1], &sorted[i])) {
			err = -EINVAL;
			goto out_free;
		}
		if (!sorted[i]->weight)
			continue;
		if ((sorted[i]->family != DRV_FAMILY_V4 && sorted[i]->family != DRV_FAMILY_V6) ||
		    sorted[i]->id == DRV_BE_NONE) {
			err = -EINVAL;
			goto out_free;
		}
		sorted[nw++] = sorted[i];
	}

	for (__u32 i = 0; i < size; i++)
		table[i] = DRV_BE_NONE;
	if (!nw)
		goto out_free;

	st = calloc(nw, sizeof(*st));
	heap = calloc(nw, sizeof(*heap));
	filled = calloc(size, 1);
	if (!st || !heap || !filled) {
		err = -ENOMEM;
		goto out_free;
	}

	for (__u32 i = 0; i < nw; i++) {
		__u8 id[MAGLEV_ID_LEN];

		maglev_identity(sorted[i], id);
		st[i].be = sorted[i];
		st[i].next = (__u32)(maglev_hash(id, sizeof(id), MAGLEV_SEED_OFFSET) % size);
		/* skip in [1, size - 1]: coprime with the prime size */
		st[i].skip =
			(__u32)(maglev_hash(id, sizeof(id), MAGLEV_SEED_SKIP) % (size - 1)) + 1;
		heap[i] = i;
	}
	for (__u32 i = nw / 2; i-- > 0;)
		heap_sift_down(st, heap, nw, i);

	for (__u32 done = 0; done < size; done++) {
		struct mg_state *s = &st[heap[0]];

		/* skip is coprime with the prime size: the walk visits every entry. */
		while (filled[s->next])
			s->next = (s->next + s->skip) % size;
		filled[s->next] = 1;
		table[s->next] = s->be->id;
		s->next = (s->next + s->skip) % size;
		s->turns++;
		heap_sift_down(st, heap, nw, 0);
	}

out_free:
	free(filled);
	free(heap);
	free(st);
	free(sorted);
	return err;
}
