// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The control library against real (unpinned) BPF maps shaped like the
 * program's: id allocation, generations, the Maglev slot flip, drain/down,
 * sync. Needs CAP_BPF to create maps (no program); exits 4 (skip) without it.
 * One case pins maps under /sys/fs/bpf and is skipped where that is no bpffs.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "drover/hash.h"
#include "drover.skel.h"
#include "ctl.h"
#include "log.h"
#include "reconcile.h"
#include "util.h"

#define TSIZE 251

static struct drv_ctl ctl;
static size_t maglev_len;

static int mk(enum bpf_map_type t, __u32 k, __u32 v, __u32 n, __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);

	return bpf_map_create(t, NULL, k, v, n, &o);
}

static int maps_create(void **state)
{
	(void)state;
	memset(&ctl, 0, sizeof(ctl));
	ctl.lock_fd = -1;
	snprintf(ctl.root, sizeof(ctl.root), "(test maps)");
	ctl.svcs_fd = mk(BPF_MAP_TYPE_HASH, sizeof(struct drv_svc_key), sizeof(struct drv_svc),
			 DRV_MAX_SVCS, 0);
	ctl.bes_fd = mk(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct drv_backend), DRV_MAX_BACKENDS, 0);
	ctl.maglev_fd = mk(BPF_MAP_TYPE_ARRAY, 4, 4, DRV_MAGLEV_ENTRIES, BPF_F_MMAPABLE);
	ctl.flows_fd = mk(BPF_MAP_TYPE_LRU_HASH, sizeof(struct drv_flow_key),
			  sizeof(struct drv_flow), 16384, 0);
	ctl.nat_fd = mk(BPF_MAP_TYPE_LRU_HASH, sizeof(struct drv_flow_key), sizeof(struct drv_nat),
			1024, 0);
	ctl.stats_fd =
		mk(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct drv_counter), DRV_STATS_SLOTS, 0);
	ctl.svc_stats_fd =
		mk(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct drv_lb_counters), DRV_MAX_SVCS, 0);
	ctl.be_stats_fd = mk(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct drv_lb_counters),
			     DRV_MAX_BACKENDS, 0);
	ctl.cfg_fd = mk(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct drv_cfg), 1, 0);
	ctl.tx_ports_fd = mk(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, DRV_MAX_IFACES, 0);
	ctl.progs_fd = mk(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, DRV_PROG_SLOTS, 0);
	if (ctl.svcs_fd < 0 || ctl.bes_fd < 0 || ctl.maglev_fd < 0 || ctl.flows_fd < 0 ||
	    ctl.nat_fd < 0 || ctl.stats_fd < 0 || ctl.svc_stats_fd < 0 || ctl.be_stats_fd < 0 ||
	    ctl.cfg_fd < 0 || ctl.tx_ports_fd < 0 || ctl.progs_fd < 0)
		return -1;
	maglev_len = DRV_MAGLEV_MMAP_BYTES;
	maglev_len = (maglev_len + 4095) & ~(size_t)4095;
	ctl.maglev = mmap(NULL, maglev_len, PROT_READ | PROT_WRITE, MAP_SHARED, ctl.maglev_fd, 0);
	if (ctl.maglev == MAP_FAILED)
		return -1;
	ctl.ncpus = libbpf_num_possible_cpus();
	return 0;
}

static int maps_destroy(void **state)
{
	(void)state;
	munmap(ctl.maglev, maglev_len);
	ctl.maglev = NULL;
	drv_ctl_close(&ctl);
	return 0;
}

static struct drv_svc_conf svc_conf(const char *vip, __u16 port, __u8 mode, const char *snat)
{
	struct drv_svc_conf c = { .mode = mode, .table_size = TSIZE };
	__u8 f;

	assert_int_equal(drv_addr_parse(vip, &c.key.vip, &c.key.family), 0);
	c.key.port = htons(port);
	c.key.proto = 6;
	if (snat)
		assert_int_equal(drv_addr_parse(snat, &c.snat, &f), 0);
	return c;
}

static struct drv_be_conf be_conf(const char *addr, __u32 weight, __u8 st)
{
	struct drv_be_conf c = { .weight = weight, .state = st };

	assert_int_equal(drv_addr_parse(addr, &c.addr, &c.family), 0);
	return c;
}

static struct drv_backend be_get(__u32 id)
{
	struct drv_backend b;

	assert_int_equal(bpf_map_lookup_elem(ctl.bes_fd, &id, &b), 0);
	return b;
}

static struct drv_svc svc_get(const struct drv_svc_conf *c)
{
	struct drv_svc s;

	assert_int_equal(drv_service_get(&ctl, &c->key, &s), 0);
	return s;
}

/* How many entries of @s's active window hold @id. */
static unsigned int table_count(const struct drv_svc *s, __u32 id)
{
	unsigned int n = 0;

	for (__u32 i = 0; i < s->table_size; i++)
		n += *drv_maglev_entry(&ctl, DRV_MAGLEV_INDEX(s->id, s->active, i)) == id;
	return n;
}

static void service_add_assigns_lowest_free_id_and_rejects_duplicates(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_NAT, "10.0.1.254");
	struct drv_svc_conf b = svc_conf("10.0.0.1", 443, DRV_MODE_DSR, NULL);
	struct drv_svc_conf c = svc_conf("fd00::1", 443, DRV_MODE_TUNNEL, "fd00::fe");
	struct drv_svc_conf t = svc_conf("fd00::2", 443, DRV_MODE_TUNNEL, NULL);
	union drv_addr outer;
	struct drv_svc got;
	__u8 f;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_service_add(&ctl, &b), 0);
	assert_int_equal(svc_get(&a).id, 0);
	assert_int_equal(svc_get(&b).id, 1);
	assert_int_equal(drv_service_add(&ctl, &a), -EEXIST);
	assert_int_equal(drv_service_del(&ctl, &a.key), 0);
	assert_int_equal(drv_service_add(&ctl, &c), 0);
	assert_int_equal(svc_get(&c).id, 0);
	assert_int_equal(svc_get(&c).table_size, TSIZE);
	assert_int_equal(svc_get(&c).nbackends, 0);
	/* tunnel keeps its snat, the outer source of every wrapped packet; none is refused */
	assert_int_equal(drv_addr_parse("fd00::fe", &outer, &f), 0);
	got = svc_get(&c);
	assert_memory_equal(&got.snat, &outer, sizeof(outer));
	assert_int_equal(drv_service_add(&ctl, &t), -EINVAL);
	/* dsr takes none: the packet reaches the node unchanged */
	t.mode = DRV_MODE_DSR;
	assert_int_equal(drv_addr_parse("fd00::fe", &t.snat, &f), 0);
	assert_int_equal(drv_service_add(&ctl, &t), -EINVAL);
	assert_int_equal(table_count(&(struct drv_svc){ .id = 0,
							.active = svc_get(&c).active,
							.table_size = TSIZE },
				     DRV_BE_NONE),
			 TSIZE);
}

static int order_cb(const struct drv_svc_key *k, const struct drv_svc *s, void *arg)
{
	__u32 *ids = arg;

	(void)k;
	ids[ids[0] + 1] = s->id;
	ids[0]++;
	return 0;
}

/* service show, stats and -j list services by id, as docs/cli.md shows them, not in hash order */
static void services_are_listed_by_id(void **state)
{
	__u32 ids[1 + 16] = { 0 };
	char vip[32];
	int i;

	(void)state;
	for (i = 0; i < 16; i++) {
		struct drv_svc_conf c;

		snprintf(vip, sizeof(vip), "10.0.%d.100", i);
		c = svc_conf(vip, 80 + i, DRV_MODE_DSR, NULL);
		assert_int_equal(drv_service_add(&ctl, &c), 0);
	}
	assert_int_equal(drv_service_foreach(&ctl, order_cb, ids), 0);
	assert_int_equal(ids[0], 16);
	for (i = 0; i < 16; i++)
		assert_int_equal(ids[i + 1], i);
}

static void unknown_service_is_refused_by_every_backend_call(void **state)
{
	struct drv_svc_conf a = svc_conf("10.9.9.9", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_be_info info[4];

	(void)state;
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b), -ENOENT);
	assert_int_equal(drv_backend_set(&ctl, &a.key, &b), -ENOENT);
	assert_int_equal(drv_backend_del(&ctl, &a.key, &b), -ENOENT);
	assert_int_equal(drv_backend_list(&ctl, &a.key, info, 4), -ENOENT);
	assert_int_equal(drv_service_del(&ctl, &a.key), -ENOENT);
}

static void backend_add_writes_entry_then_flips_table(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_NAT, "10.0.1.254");
	struct drv_be_conf b1 = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_be_conf b2 = be_conf("10.0.1.2", 1, DRV_BE_UP);
	struct drv_svc s0, s;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	s0 = svc_get(&a);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b1), 0);
	s = svc_get(&a);
	assert_int_not_equal(s.active, s0.active);
	assert_int_equal(s.nbackends, 1);
	assert_int_equal(table_count(&s, 1), TSIZE);
	/* the previously active window is left as packets saw it */
	assert_int_equal(table_count(&s0, DRV_BE_NONE), TSIZE);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b2), 0);
	s = svc_get(&a);
	assert_int_equal(s.active, s0.active);
	assert_int_equal(s.nbackends, 2);
	assert_int_equal(table_count(&s, 1) + table_count(&s, 2), TSIZE);
	assert_true(table_count(&s, 2) > TSIZE / 3);
	assert_int_equal(be_get(2).gen, 1);
	assert_int_equal(be_get(2).port, htons(80)); /* port 0 → the service port */
	assert_int_equal(be_get(2).state, DRV_BE_UP);
}

/* A table smaller than the backend set: the service counts the backends it really holds. */
static void table_smaller_than_the_backends_counts_those_it_holds(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.9", 80, DRV_MODE_NAT, "10.0.1.254");
	struct drv_svc s;
	char ip[32];

	(void)state;
	a.table_size = 2;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	for (int i = 1; i <= 3; i++) {
		struct drv_be_conf b;

		snprintf(ip, sizeof(ip), "10.0.1.%d", i);
		b = be_conf(ip, 1, DRV_BE_UP);
		assert_int_equal(drv_backend_add(&ctl, &a.key, &b), 0);
	}
	s = svc_get(&a);
	assert_int_equal(s.nbackends, 2);
	assert_int_equal(table_count(&s, 1) + table_count(&s, 2) + table_count(&s, 3), 2);
}

static void backend_add_rejects_duplicate_backend(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_NAT, "10.0.1.254");
	struct drv_be_conf b = be_conf("10.0.1.1", 1, DRV_BE_UP);

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b), -EEXIST);
	b.port = htons(80); /* explicit service port: still the same backend */
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b), -EEXIST);
	b.port = htons(8080); /* nat: the same node on another port is another backend */
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b), 0);
}

static void drain_and_down_leave_the_table_but_keep_the_entry(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b1 = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_be_conf b2 = be_conf("10.0.1.2", 1, DRV_BE_UP);
	struct drv_svc s;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b1), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b2), 0);
	b2.state = DRV_BE_DRAIN;
	assert_int_equal(drv_backend_set(&ctl, &a.key, &b2), 0);
	s = svc_get(&a);
	assert_int_equal(s.nbackends, 1);
	assert_int_equal(table_count(&s, 1), TSIZE);
	assert_int_equal(be_get(2).state, DRV_BE_DRAIN);
	assert_int_equal(be_get(2).family, DRV_FAMILY_V4);
	assert_int_equal(be_get(2).gen, 1); /* drain keeps recorded flows: same gen */
	b2.state = DRV_BE_DOWN;
	assert_int_equal(drv_backend_set(&ctl, &a.key, &b2), 0);
	assert_int_equal(be_get(2).state, DRV_BE_DOWN);
	b2.state = DRV_BE_UP;
	b2.weight = 3;
	assert_int_equal(drv_backend_set(&ctl, &a.key, &b2), 0);
	s = svc_get(&a);
	assert_int_equal(s.nbackends, 2);
	assert_true(table_count(&s, 2) > table_count(&s, 1));
}

static void backend_del_clears_entry_and_reuse_bumps_gen(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b1 = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_be_conf b3 = be_conf("10.0.1.3", 1, DRV_BE_UP);
	struct drv_svc s;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b1), 0);
	assert_int_equal(drv_backend_del(&ctl, &a.key, &b1), 0);
	assert_int_equal(be_get(1).family, 0);
	assert_int_equal(be_get(1).gen, 2);
	s = svc_get(&a);
	assert_int_equal(s.nbackends, 0);
	assert_int_equal(table_count(&s, 1), 0);
	assert_int_equal(drv_backend_del(&ctl, &a.key, &b1), -ENOENT);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b3), 0);
	assert_int_equal(be_get(1).gen, 3);
	assert_int_equal(be_get(1).addr.v4, b3.addr.v4);
}

static void service_del_frees_its_backends(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b1 = be_conf("10.0.1.1", 1, DRV_BE_UP);

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b1), 0);
	assert_int_equal(drv_service_del(&ctl, &a.key), 0);
	assert_int_equal(be_get(1).family, 0);
	assert_int_equal(be_get(1).gen, 2);
}

static void sync_keeps_ids_and_skips_flip_when_nothing_changed(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf set[3] = { be_conf("10.0.1.1", 1, DRV_BE_UP),
				      be_conf("10.0.1.2", 1, DRV_BE_UP),
				      be_conf("10.0.1.3", 1, DRV_BE_UP) };
	struct drv_svc s1, s2;

	(void)state;
	assert_int_equal(drv_service_sync(&ctl, &a, set, 3), 0);
	s1 = svc_get(&a);
	assert_int_equal(s1.nbackends, 3);
	assert_int_equal(drv_service_sync(&ctl, &a, set, 3), 0);
	s2 = svc_get(&a);
	assert_int_equal(s2.active, s1.active);
	/* drop the middle one: ids 1 and 3 stay, 2 is freed with gen+1 */
	set[1] = set[2];
	assert_int_equal(drv_service_sync(&ctl, &a, set, 2), 0);
	s2 = svc_get(&a);
	assert_int_not_equal(s2.active, s1.active);
	assert_int_equal(s2.nbackends, 2);
	assert_int_equal(be_get(1).gen, 1);
	assert_int_equal(be_get(3).gen, 1);
	assert_int_equal(be_get(2).family, 0);
	assert_int_equal(be_get(2).gen, 2);
	assert_int_equal(table_count(&s2, 2), 0);
}

/*
 * Nearly every backend id taken: replacing nodes needs ids that only the
 * removed ones free, after the flip. The sync goes through the kept
 * backends first (their ids stay), then adds the new ones.
 */
static void sync_replacing_nodes_with_ids_nearly_exhausted_goes_through_the_kept_ones(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	size_t n = DRV_MAX_BACKENDS - 2, i; /* one id left free */
	struct drv_be_conf *set = calloc(n, sizeof(*set));
	size_t used, fresh;
	char addr[32];
	__u32 id;
	int id10;

	(void)state;
	assert_non_null(set);
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "10.%zu.%zu.%zu", 1 + i / 62500, i / 250 % 250,
			 i % 250 + 1);
		set[i] = be_conf(addr, 1, DRV_BE_UP);
	}
	assert_int_equal(drv_service_sync(&ctl, &a, set, n), 0);
	for (id10 = 1; id10 < DRV_MAX_BACKENDS; id10++)
		if (be_get((__u32)id10).addr.v4 == set[10].addr.v4)
			break;
	assert_true(id10 < DRV_MAX_BACKENDS);
	/* three nodes replaced: three new ids needed, one free */
	for (i = 0; i < 3; i++) {
		snprintf(addr, sizeof(addr), "10.9.0.%zu", i + 1);
		set[i] = be_conf(addr, 1, DRV_BE_UP);
	}
	assert_int_equal(drv_service_sync(&ctl, &a, set, n), 0);
	assert_int_equal(be_get((__u32)id10).addr.v4, set[10].addr.v4);
	for (id = 1, used = 0, fresh = 0; id < DRV_MAX_BACKENDS; id++) {
		struct drv_backend b = be_get(id);

		used += b.family != 0;
		fresh += b.family && (ntohl(b.addr.v4) >> 8) == 0x0a0900;
	}
	assert_int_equal(used, n);
	assert_int_equal(fresh, 3);
	free(set);
}

/*
 * A reload that moves nodes from one service to another with every backend
 * id taken: the service that grows comes first in the plan and needs the ids
 * the one that shrinks frees. Both must be applied in the same round.
 */
struct moving {
	struct drv_svc_conf conf[2];
	struct drv_be_conf *set[2];
	size_t nset[2];
	int err[2];
};

static int moving_run(const struct drv_plan_step *st, void *arg)
{
	struct moving *m = arg;

	return drv_service_sync(&ctl, &m->conf[st->idx], m->set[st->idx], m->nset[st->idx]);
}

static void moving_done(const struct drv_plan_step *st, int err, void *arg)
{
	struct moving *m = arg;

	if (err)
		print_error("sync of service %zu: %s\n", st->idx, strerror(-err));
	m->err[st->idx] = err;
}

static void reload_moving_nodes_between_services_at_the_id_limit_applies_both(void **state)
{
	static const struct drv_plan_ops ops = { .run = moving_run, .done = moving_done };
	struct moving m = { .conf = { svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL),
				      svc_conf("10.0.0.2", 80, DRV_MODE_DSR, NULL) } };
	struct drv_plan_step steps[2] = { { .op = DRV_PLAN_SYNC, .key = m.conf[0].key, .idx = 0 },
					  { .op = DRV_PLAN_SYNC, .key = m.conf[1].key, .idx = 1 } };
	struct drv_plan plan = { .steps = steps, .n = 2 };
	size_t na = 10, nb = DRV_MAX_BACKENDS - 1 - na, i, k;
	struct drv_be_conf *all = calloc(DRV_MAX_BACKENDS, sizeof(*all));
	struct drv_be_info *info = calloc(DRV_MAX_BACKENDS, sizeof(*info));
	char addr[32];

	(void)state;
	assert_non_null(all);
	assert_non_null(info);
	m.conf[1].table_size = DRV_MAGLEV_MAX;
	for (i = 0; i < DRV_MAX_BACKENDS; i++) {
		snprintf(addr, sizeof(addr), "10.%zu.%zu.%zu", 1 + i / 62500, i / 250 % 250,
			 i % 250 + 1);
		all[i] = be_conf(addr, 1, DRV_BE_UP);
	}
	/* before: A has nodes 0..9, B 10..4094: every id is used */
	assert_int_equal(drv_service_sync(&ctl, &m.conf[0], all, na), 0);
	assert_int_equal(drv_service_sync(&ctl, &m.conf[1], all + na, nb), 0);
	/* after: A 0..19, B 20..4094 (config order: A first) */
	m.set[0] = all;
	m.nset[0] = 2 * na;
	m.set[1] = all + 2 * na;
	m.nset[1] = nb - na;
	assert_int_equal(drv_plan_run(&plan, &ops, &m), 0);
	for (k = 0; k < 2; k++) {
		assert_int_equal(m.err[k], 0);
		assert_int_equal(drv_backend_list(&ctl, &m.conf[k].key, info, DRV_MAX_BACKENDS),
				 (int)m.nset[k]);
	}
	free(info);
	free(all);
}

static void sync_with_duplicate_backend_changes_nothing(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf ok[1] = { be_conf("10.0.1.1", 1, DRV_BE_UP) };
	struct drv_be_conf dup[3] = { be_conf("10.0.1.5", 1, DRV_BE_UP),
				      be_conf("10.0.1.6", 1, DRV_BE_UP),
				      be_conf("10.0.1.5", 1, DRV_BE_UP) };
	struct drv_svc s1, s2;

	(void)state;
	assert_int_equal(drv_service_sync(&ctl, &a, ok, 1), 0);
	s1 = svc_get(&a);
	assert_int_equal(drv_service_sync(&ctl, &a, dup, 3), -EEXIST);
	s2 = svc_get(&a);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	assert_int_equal(be_get(1).family, DRV_FAMILY_V4);
	assert_int_equal(be_get(2).family, 0);
}

/*
 * A service update the kernel refuses (ENOMEM, ...): the writers freeze
 * drv_svcs to make it fail, then give it back as a fresh copy, as if the
 * failure passed.
 */
static int svcs_freeze(void)
{
	int frozen = ctl.svcs_fd;

	assert_int_equal(bpf_map_freeze(frozen), 0);
	return frozen;
}

static void svcs_thaw(int frozen)
{
	struct drv_svc_key k, next;
	struct drv_svc v;
	int i;

	ctl.svcs_fd = mk(BPF_MAP_TYPE_HASH, sizeof(struct drv_svc_key), sizeof(struct drv_svc),
			 DRV_MAX_SVCS, 0);
	assert_true(ctl.svcs_fd >= 0);
	for (i = 0; i < DRV_MAX_SVCS && !bpf_map_get_next_key(frozen, i ? &k : NULL, &next); i++) {
		k = next;
		assert_int_equal(bpf_map_lookup_elem(frozen, &k, &v), 0);
		assert_int_equal(bpf_map_update_elem(ctl.svcs_fd, &k, &v, BPF_NOEXIST), 0);
	}
	close(frozen);
}

/*
 * A sync or backend change whose table flip fails leaves the backends as
 * they were: one written UP before the flip and left so (not in the table)
 * made every retry see nothing to change, and the node never got a flow.
 */
static void failed_flip_leaves_backends_as_they_were(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf set[3] = { be_conf("10.0.1.1", 1, DRV_BE_UP),
				      be_conf("10.0.1.2", 1, DRV_BE_UP),
				      be_conf("10.0.1.3", 1, DRV_BE_DOWN) };
	struct drv_be_conf b4 = be_conf("10.0.1.4", 1, DRV_BE_UP);
	struct drv_svc s0, s;
	int frozen;

	(void)state;
	assert_int_equal(drv_service_sync(&ctl, &a, set, 3), 0); /* ids 1, 2, 3 */
	s0 = svc_get(&a);
	assert_int_equal(s0.nbackends, 2);
	set[2].state = DRV_BE_UP; /* joins the table: written before the flip */
	frozen = svcs_freeze();
	assert_int_not_equal(drv_service_sync(&ctl, &a, set, 3), 0);
	svcs_thaw(frozen);
	s = svc_get(&a);
	assert_memory_equal(&s, &s0, sizeof(s));
	assert_int_equal(be_get(3).state, DRV_BE_DOWN);
	/* the retry does it */
	assert_int_equal(drv_service_sync(&ctl, &a, set, 3), 0);
	s = svc_get(&a);
	assert_int_equal(s.nbackends, 3);
	assert_true(table_count(&s, 3) > 0);
	s0 = s;
	frozen = svcs_freeze();
	assert_int_not_equal(drv_backend_add(&ctl, &a.key, &b4), 0);
	svcs_thaw(frozen);
	s = svc_get(&a);
	assert_memory_equal(&s, &s0, sizeof(s));
	assert_int_equal(be_get(4).family, 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b4), 0);
	s = svc_get(&a);
	assert_int_equal(s.nbackends, 4);
	assert_true(table_count(&s, 4) > 0);
}

/*
 * A drover stopped between writing a backend UP and the flip that puts it in
 * the table (killed; the agent OOM-killed or its pod replaced) leaves it UP
 * outside the table. The agent, restarted, syncs every pinned service: the
 * sync compares the table too, so the node gets its share again.
 */
static void sync_puts_in_the_table_a_backend_left_up_outside_it(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf set[2] = { be_conf("10.0.1.1", 1, DRV_BE_UP),
				      be_conf("10.0.1.2", 1, DRV_BE_DOWN) };
	struct drv_backend b;
	struct drv_svc s0, s;
	__u32 id = 2;

	(void)state;
	assert_int_equal(drv_service_sync(&ctl, &a, set, 2), 0);
	s0 = svc_get(&a);
	assert_int_equal(s0.nbackends, 1);
	b = be_get(id);
	b.state = DRV_BE_UP; /* written, the flip never came */
	assert_int_equal(bpf_map_update_elem(ctl.bes_fd, &id, &b, BPF_ANY), 0);
	set[1].state = DRV_BE_UP;
	assert_int_equal(drv_service_sync(&ctl, &a, set, 2), 0);
	s = svc_get(&a);
	assert_int_equal(s.nbackends, 2);
	assert_true(table_count(&s, 2) > 0);
	/* and a sync with nothing to change still flips nothing */
	assert_int_equal(drv_service_sync(&ctl, &a, set, 2), 0);
	s0 = svc_get(&a);
	assert_memory_equal(&s0, &s, sizeof(s));
}

/*
 * A sync that creates its service and then fails leaves no service: packets
 * to its address go on to the host as before, not to an empty table
 * (drop_no_backend). drv_bes frozen: its backend can't be written.
 */
static void failed_sync_of_a_new_service_leaves_no_service(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf set[1] = { be_conf("10.0.1.1", 1, DRV_BE_UP) };
	struct drv_svc s;

	(void)state;
	assert_int_equal(bpf_map_freeze(ctl.bes_fd), 0);
	assert_int_not_equal(drv_service_sync(&ctl, &a, set, 1), 0);
	assert_int_equal(drv_service_get(&ctl, &a.key, &s), -ENOENT);
}

static void lookup_follows_flow_hash_and_active_table(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b1 = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_be_conf b2 = be_conf("10.0.1.2", 1, DRV_BE_UP);
	struct drv_flow_key fk = {};
	struct drv_backend be;
	union drv_addr client;
	struct drv_svc s;
	__u32 id, want, idx;
	__u8 f;
	int hits[3] = {};

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b1), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b2), 0);
	s = svc_get(&a);
	assert_int_equal(drv_addr_parse("192.0.2.10", &client, &f), 0);
	for (__u16 port = 1000; port < 1100; port++) {
		fk.saddr = client;
		fk.daddr = a.key.vip;
		fk.sport = htons(port);
		fk.dport = a.key.port;
		fk.proto = 6;
		fk.family = DRV_FAMILY_V4;
		/* what the XDP program reads: a map lookup, not the mmap */
		idx = DRV_MAGLEV_INDEX(s.id, s.active, drv_flow_hash(&fk) % TSIZE);
		assert_int_equal(bpf_map_lookup_elem(ctl.maglev_fd, &idx, &want), 0);
		assert_int_equal(drv_lookup(&ctl, &a.key, &client, htons(port), &id, &be), 0);
		assert_int_equal(id, want);
		assert_true(id == 1 || id == 2);
		assert_int_equal(be.addr.v4, id == 1 ? b1.addr.v4 : b2.addr.v4);
		hits[id]++;
	}
	assert_true(hits[1] > 20 && hits[2] > 20);
}

static void table_written_through_mmap_is_what_map_lookups_see(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b1 = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_be_conf b2 = be_conf("10.0.1.2", 1, DRV_BE_UP);
	struct drv_svc s;
	__u32 i, idx, v;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b1), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b2), 0);
	s = svc_get(&a);
	for (i = 0; i < TSIZE; i++) {
		idx = DRV_MAGLEV_INDEX(s.id, s.active, i);
		assert_int_equal(bpf_map_lookup_elem(ctl.maglev_fd, &idx, &v), 0);
		assert_int_equal(v, *drv_maglev_entry(&ctl, idx));
		assert_true(v == 1 || v == 2);
	}
}

static void put_flow(__u32 n, __u32 be_id, __u32 gen, __u8 st, __u64 last_seen)
{
	struct drv_flow_key k = { .proto = 6, .family = DRV_FAMILY_V4 };
	struct drv_flow f = {
		.last_seen_ns = last_seen, .backend_id = be_id, .backend_gen = gen, .state = st
	};

	k.saddr.v4 = htonl(0xc0000000u + n);
	k.sport = htons(1000 + (n & 0x7fff));
	assert_int_equal(bpf_map_update_elem(ctl.flows_fd, &k, &f, BPF_ANY), 0);
}

static void flows_are_counted_per_backend_skipping_stale_and_expired(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b1 = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_be_conf b2 = be_conf("10.0.1.2", 1, DRV_BE_UP);
	__u64 now = drv_flow_now_ns(), sec = 1000000000ull;
	struct drv_cfg cfg = { .tcp_idle_timeout_s = 20, .tcp_fin_timeout_s = 5 };
	__u32 *counts = calloc(DRV_MAX_BACKENDS, sizeof(*counts)), n = 0, i;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b1), 0);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &b2), 0);
	assert_int_equal(drv_cfg_write(&ctl, &cfg), 0);
	assert_true(now > 30 * sec); /* monotonic clock: the machine is up longer than that */
	/* more than one batch of backend 1, a few of backend 2 */
	for (i = 0; i < 5000; i++)
		put_flow(n++, 1, 1, DRV_FLOW_OPEN, now);
	for (i = 0; i < 7; i++)
		put_flow(n++, 2, 1, DRV_FLOW_OPEN, now);
	put_flow(n++, 2, 0, DRV_FLOW_OPEN, now); /* older generation of id 2 */
	put_flow(n++, 2, 1, DRV_FLOW_CLOSING, now - 10 * sec); /* closing, past 5 s */
	put_flow(n++, 2, 1, DRV_FLOW_OPEN, now - 30 * sec); /* idle past 20 s */
	put_flow(n++, 9, 1, DRV_FLOW_OPEN, now); /* id never allocated */
	put_flow(n++, 2, 1, DRV_FLOW_CLOSING, now); /* closing, within 5 s */
	assert_int_equal(drv_flows_per_backend(&ctl, counts), 0);
	assert_int_equal(counts[1], 5000);
	assert_int_equal(counts[2], 8);
	assert_int_equal(counts[9], 0);
	free(counts);
}

struct churn {
	int stop;
	unsigned long rounds;
};

/* Delete and put back each of the first 2,000 flows, over and over, as eviction and new flows do. */
static void *churn_run(void *arg)
{
	struct churn *c = arg;
	struct drv_flow f = { .backend_id = 1, .backend_gen = 1, .state = DRV_FLOW_OPEN };
	long i;

	for (i = 0; i < 50000000 && !__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE); i++) {
		struct drv_flow_key k = { .proto = 6, .family = DRV_FAMILY_V4 };
		__u32 n = (__u32)(i % 2000);

		k.saddr.v4 = htonl(0xc0000000u + n);
		k.sport = htons(1000 + (n & 0x7fff));
		bpf_map_delete_elem(ctl.flows_fd, &k);
		bpf_map_update_elem(ctl.flows_fd, &k, &f, BPF_ANY);
		c->rounds++;
	}
	return NULL;
}

/*
 * drover status counts a map's entries while the program changes it: never
 * more than it holds (a key-by-key walk starts again from the first key when
 * the one it stands on is evicted, and counts those again).
 */
static void map_count_under_churn_never_counts_an_entry_twice(void **state)
{
	struct churn c = { 0 };
	__u32 cnt, worst = 0, i;
	pthread_t t;

	(void)state;
	for (i = 0; i < 2000; i++)
		put_flow(i, 1, 1, DRV_FLOW_OPEN, 1);
	assert_int_equal(drv_map_count(ctl.flows_fd, 16384, &cnt), 0);
	assert_int_equal(cnt, 2000);
	assert_int_equal(pthread_create(&t, NULL, churn_run, &c), 0);
	for (i = 0; i < 200; i++) {
		assert_int_equal(drv_map_count(ctl.flows_fd, 16384, &cnt), 0);
		if (cnt > worst)
			worst = cnt;
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(c.rounds > 0);
	if (worst > 2000)
		fail_msg("a count under churn said %u entries; the map never held more than 2000",
			 worst);
}

static void nat_services_widen_the_reply_port_range(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_NAT, "10.0.1.254");
	struct drv_svc_conf b = svc_conf("10.0.0.1", 443, DRV_MODE_NAT, "10.0.1.254");
	struct drv_cfg cfg;

	(void)state;
	a.snat_port_lo = 20000;
	a.snat_port_hi = 21000;
	b.snat_port_lo = 15000;
	b.snat_port_hi = 16000;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_service_add(&ctl, &b), 0);
	assert_int_equal(drv_cfg_read(&ctl, &cfg), 0);
	assert_int_equal(cfg.reply_port_lo, 15000);
	assert_int_equal(cfg.reply_port_hi, 21000);
	/*
	 * It never narrows: a service's flows keep their SNAT ports after its
	 * range changes or it is deleted, and their replies must still translate.
	 */
	assert_int_equal(drv_service_del(&ctl, &b.key), 0);
	assert_int_equal(drv_cfg_read(&ctl, &cfg), 0);
	assert_int_equal(cfg.reply_port_lo, 15000);
	assert_int_equal(cfg.reply_port_hi, 21000);
	a.snat_port_lo = 40000;
	a.snat_port_hi = 40100;
	assert_int_equal(drv_service_update(&ctl, &a), 0);
	assert_int_equal(drv_cfg_read(&ctl, &cfg), 0);
	assert_int_equal(cfg.reply_port_lo, 15000);
	assert_int_equal(cfg.reply_port_hi, 40100);
}

struct reply_watch {
	struct drv_svc_key key;
	int stop;
	unsigned long seen, uncovered;
};

/* As the program sees it: the service's SNAT ports, then drv_cfg's reply range. */
static void *reply_watch_run(void *arg)
{
	struct reply_watch *w = arg;
	struct drv_svc s;
	struct drv_cfg cfg;
	__u32 zero = 0;
	long i;

	for (i = 0; i < 20000000 && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE); i++) {
		if (bpf_map_lookup_elem(ctl.svcs_fd, &w->key, &s) ||
		    bpf_map_lookup_elem(ctl.cfg_fd, &zero, &cfg))
			continue;
		w->seen++;
		if (cfg.reply_port_hi &&
		    (s.snat_port_lo < cfg.reply_port_lo || s.snat_port_hi > cfg.reply_port_hi))
			w->uncovered++;
	}
	return NULL;
}

/*
 * A nat service's new SNAT ports are in drv_cfg's reply range before a
 * packet can use them: a node's SYN-ACK to a port outside it goes to the
 * balancer's stack, which resets the connection.
 */
static void snat_ports_are_in_the_reply_range_before_the_service_uses_them(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_NAT, "10.0.1.254");
	struct reply_watch w = { .key = a.key };
	pthread_t t;
	int i;

	(void)state;
	a.snat_port_lo = 1000;
	a.snat_port_hi = 1099;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(pthread_create(&t, NULL, reply_watch_run, &w), 0);
	for (i = 1; i <= 20; i++) {
		a.snat_port_lo = (__u16)(1000 + 100 * i);
		a.snat_port_hi = (__u16)(1099 + 100 * i);
		if (drv_service_update(&ctl, &a))
			break;
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(i, 21);
	assert_true(w.seen > 0);
	if (w.uncovered)
		fail_msg(
			"%lu of %lu looks saw the service's SNAT ports outside drv_cfg's reply range",
			w.uncovered, w.seen);
}

/* dsr and tunnel leave the destination port alone: a backend on another port is refused. */
/*
 * What the agent's config refuses (config.c snat_clash), the CLI refuses
 * against the pinned services, writing nothing: a snat address that is a
 * backend of any service (the node would answer itself), a backend at a
 * service's snat address (the balancer's own), and a nat snat address that
 * is a VIP with a service port inside its SNAT range (the nodes' replies to
 * that port would reach that service as new flows), whichever comes second.
 */
static void snat_that_is_a_node_or_a_vip_port_in_its_range_is_refused(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_NAT, "10.0.1.254");
	struct drv_svc_conf b = svc_conf("10.0.0.2", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf n1 = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_be_conf self = be_conf("10.0.1.254", 1, DRV_BE_UP);
	struct drv_svc_conf t, u;
	struct drv_svc s0, s;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_service_add(&ctl, &b), 0);
	assert_int_equal(drv_backend_add(&ctl, &b.key, &n1), 0);

	/* a backend at a service's snat address, in that service or another */
	assert_int_equal(drv_backend_add(&ctl, &a.key, &self), -EINVAL);
	assert_int_equal(drv_backend_add(&ctl, &b.key, &self), -EINVAL);
	assert_int_equal(svc_get(&a).nbackends, 0);
	assert_int_equal(svc_get(&b).nbackends, 1);

	/* a snat that is a backend (of another service): add, tunnel, set */
	t = svc_conf("10.0.0.3", 80, DRV_MODE_NAT, "10.0.1.1");
	assert_int_equal(drv_service_add(&ctl, &t), -EINVAL);
	assert_int_equal(drv_service_get(&ctl, &t.key, &s), -ENOENT);
	t.mode = DRV_MODE_TUNNEL;
	assert_int_equal(drv_service_add(&ctl, &t), -EINVAL);
	assert_int_equal(drv_service_get(&ctl, &t.key, &s), -ENOENT);
	s0 = svc_get(&a);
	t = a;
	t.snat = n1.addr;
	assert_int_equal(drv_service_update(&ctl, &t), -EINVAL);
	s = svc_get(&a);
	assert_memory_equal(&s, &s0, sizeof(s));

	/* nat snat at a VIP whose service port is in its range: another's, its own */
	t = svc_conf("10.0.0.3", 80, DRV_MODE_NAT, "10.0.0.2");
	t.snat_port_lo = 10;
	t.snat_port_hi = 100;
	assert_int_equal(drv_service_add(&ctl, &t), -EINVAL);
	t = svc_conf("10.0.0.3", 80, DRV_MODE_NAT, "10.0.0.3");
	t.snat_port_lo = 10;
	t.snat_port_hi = 100;
	assert_int_equal(drv_service_add(&ctl, &t), -EINVAL);
	assert_int_equal(drv_service_get(&ctl, &t.key, &s), -ENOENT);
	/* outside the range it is no clash (the default 10000-32767) ... */
	t = svc_conf("10.0.0.3", 80, DRV_MODE_NAT, "10.0.0.2");
	assert_int_equal(drv_service_add(&ctl, &t), 0);
	/* ... until a service of that VIP takes a port inside it */
	u = svc_conf("10.0.0.2", 20000, DRV_MODE_DSR, NULL);
	assert_int_equal(drv_service_add(&ctl, &u), -EINVAL);
	assert_int_equal(drv_service_get(&ctl, &u.key, &s), -ENOENT);
	u = svc_conf("10.0.0.2", 443, DRV_MODE_DSR, NULL);
	assert_int_equal(drv_service_add(&ctl, &u), 0);
	/* an unrelated change is not refused for them */
	assert_int_equal(drv_backend_add(&ctl, &a.key, &n1), 0);
}

/*
 * What the agent's config refuses (config.c node_is_vip), the CLI refuses
 * too, writing nothing: a backend at another service's VIP, and a service
 * whose VIP is a backend of another, whichever comes second.
 */
static void node_that_is_another_services_vip_is_refused(void **state)
{
	struct drv_svc_conf web = svc_conf("10.0.0.100", 443, DRV_MODE_NAT, "10.0.1.254");
	struct drv_svc_conf api = svc_conf("10.0.0.101", 6443, DRV_MODE_DSR, NULL);
	struct drv_be_conf vip = be_conf("10.0.0.100", 1, DRV_BE_UP);
	struct drv_be_conf n1 = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_svc s;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &web), 0);
	assert_int_equal(drv_service_add(&ctl, &api), 0);
	vip.port = api.key.port;
	assert_int_equal(drv_backend_add(&ctl, &api.key, &vip), -EINVAL);
	assert_int_equal(svc_get(&api).nbackends, 0);
	/* a VIP port of its own service (80 beside 443) is refused the same */
	vip.port = htons(8443);
	assert_int_equal(drv_backend_add(&ctl, &web.key, &vip), -EINVAL);
	/* the other way round: a service at a backend's address */
	assert_int_equal(drv_backend_add(&ctl, &web.key, &n1), 0);
	api = svc_conf("10.0.1.1", 6443, DRV_MODE_DSR, NULL);
	assert_int_equal(drv_service_add(&ctl, &api), -EINVAL);
	assert_int_equal(drv_service_get(&ctl, &api.key, &s), -ENOENT);
	/* a node of one service may be a node of another */
	api = svc_conf("10.0.0.102", 6443, DRV_MODE_DSR, NULL);
	assert_int_equal(drv_service_add(&ctl, &api), 0);
	n1.port = api.key.port;
	assert_int_equal(drv_backend_add(&ctl, &api.key, &n1), 0);
}

static void dsr_backend_must_use_the_service_port(void **state)
{
	struct drv_svc_conf d = svc_conf("10.0.0.7", 443, DRV_MODE_DSR, NULL);
	struct drv_svc_conf n = svc_conf("10.0.0.7", 444, DRV_MODE_NAT, "10.0.1.254");
	struct drv_be_conf b = be_conf("10.0.1.1", 1, DRV_BE_UP);
	struct drv_svc s;

	(void)state;
	assert_int_equal(drv_service_add(&ctl, &d), 0);
	b.port = htons(8443);
	assert_int_equal(drv_backend_add(&ctl, &d.key, &b), -EINVAL);
	b.port = htons(443);
	assert_int_equal(drv_backend_add(&ctl, &d.key, &b), 0);
	b.port = 0;
	b.addr.v4 = htonl(0x0a000102); /* 10.0.1.2, the service port */
	assert_int_equal(drv_backend_add(&ctl, &d.key, &b), 0);
	/* A nat service whose node listens elsewhere can't switch to dsr; it stays nat. */
	assert_int_equal(drv_service_add(&ctl, &n), 0);
	b.port = htons(8443);
	assert_int_equal(drv_backend_add(&ctl, &n.key, &b), 0);
	n.mode = DRV_MODE_DSR;
	assert_int_equal(drv_service_update(&ctl, &n), -EINVAL);
	assert_int_equal(drv_service_get(&ctl, &n.key, &s), 0);
	assert_int_equal(s.mode, DRV_MODE_NAT);
	assert_int_equal(drv_service_del(&ctl, &d.key), 0);
	assert_int_equal(drv_service_del(&ctl, &n.key), 0);
}

static void counters_sum_over_cpus(void **state)
{
	struct drv_lb_counters *v = calloc((size_t)ctl.ncpus, sizeof(*v)), sum;
	__u32 key = 7;

	(void)state;
	for (int c = 0; c < ctl.ncpus; c++) {
		v[c].packets = 10;
		v[c].bytes = 1000;
	}
	assert_int_equal(bpf_map_update_elem(ctl.be_stats_fd, &key, v, BPF_ANY), 0);
	assert_int_equal(drv_be_stats_read(&ctl, 7, &sum), 0);
	assert_int_equal(sum.packets, 10ULL * (unsigned int)ctl.ncpus);
	assert_int_equal(sum.bytes, 1000ULL * (unsigned int)ctl.ncpus);
	free(v);
}

/*
 * The batch reads /metrics uses give, for every id, what the reads of one
 * entry give: ids on either side of a batch chunk (1,024 entries), the last
 * id, and per-CPU values that differ by CPU, entry and field.
 */
static void counters_read_all_are_each_entrys_sum_over_cpus(void **state)
{
	static const __u32 ids[] = { 0, 1, 7, 1023, 1024, 1025, 2048, DRV_MAX_BACKENDS - 1 };
	struct drv_lb_counters *v = calloc((size_t)ctl.ncpus, sizeof(*v)), one;
	struct drv_lb_counters *all = calloc(DRV_MAX_BACKENDS, sizeof(*all));
	struct drv_lb_counters *svc_all = calloc(DRV_MAX_SVCS, sizeof(*svc_all));
	struct drv_counter *g = calloc((size_t)ctl.ncpus, sizeof(*g)), gall[__DRV_STAT_MAX], gone;
	size_t i;
	__u32 id;

	(void)state;
	assert_non_null(v);
	assert_non_null(all);
	assert_non_null(svc_all);
	assert_non_null(g);
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		for (int c = 0; c < ctl.ncpus; c++)
			v[c] = (struct drv_lb_counters){ .packets = ids[i] * 1000 + c + 1,
							 .bytes = ids[i] * 7 + c,
							 .new_flows = c + 3,
							 .reply_packets = ids[i],
							 .reply_bytes = 1ULL << 40 | c,
							 .drops = ids[i] + 5 };
		assert_int_equal(bpf_map_update_elem(ctl.be_stats_fd, &ids[i], v, BPF_ANY), 0);
		if (ids[i] < DRV_MAX_SVCS)
			assert_int_equal(
				bpf_map_update_elem(ctl.svc_stats_fd, &ids[i], v, BPF_ANY), 0);
		if (ids[i] < __DRV_STAT_MAX) {
			for (int c = 0; c < ctl.ncpus; c++)
				g[c] = (struct drv_counter){ .packets = ids[i] + c + 1,
							     .bytes = ids[i] * 100 + c };
			assert_int_equal(bpf_map_update_elem(ctl.stats_fd, &ids[i], g, BPF_ANY),
					 0);
		}
	}
	assert_int_equal(drv_be_stats_read_all(&ctl, all), 0);
	for (id = 0; id < DRV_MAX_BACKENDS; id++) {
		assert_int_equal(drv_be_stats_read(&ctl, id, &one), 0);
		assert_memory_equal(&all[id], &one, sizeof(one));
	}
	assert_int_equal(all[1024].packets,
			 1024000ULL * ctl.ncpus + (__u64)ctl.ncpus * (ctl.ncpus + 1) / 2);
	assert_int_equal(drv_svc_stats_read_all(&ctl, svc_all), 0);
	for (id = 0; id < DRV_MAX_SVCS; id++) {
		assert_int_equal(drv_svc_stats_read(&ctl, id, &one), 0);
		assert_memory_equal(&svc_all[id], &one, sizeof(one));
	}
	assert_int_equal(drv_stats_read_all(&ctl, gall), 0);
	for (id = 0; id < __DRV_STAT_MAX; id++) {
		assert_int_equal(drv_stats_read(&ctl, id, &gone), 0);
		assert_memory_equal(&gall[id], &gone, sizeof(gone));
	}
	free(g);
	free(svc_all);
	free(all);
	free(v);
}

/* drv_backends_read_all holds, at each id, what drv_backend_list says of it. */
static void backends_read_all_is_what_backend_list_says(void **state)
{
	struct drv_svc_conf a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_svc_conf b2 = svc_conf("10.0.0.2", 80, DRV_MODE_DSR, NULL);
	struct drv_be_info *all = calloc(DRV_MAX_BACKENDS, sizeof(*all));
	struct drv_be_info list[8];
	struct drv_lb_counters *v = calloc((size_t)ctl.ncpus, sizeof(*v));
	struct drv_be_conf be;
	int n, i;
	__u32 id, nall = 0;

	(void)state;
	assert_non_null(all);
	assert_non_null(v);
	assert_int_equal(drv_service_add(&ctl, &a), 0);
	assert_int_equal(drv_service_add(&ctl, &b2), 0);
	be = be_conf("10.1.0.1", 1, DRV_BE_UP);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &be), 0);
	be = be_conf("10.1.0.2", 3, DRV_BE_DOWN);
	assert_int_equal(drv_backend_add(&ctl, &b2.key, &be), 0);
	be = be_conf("10.1.0.3", 2, DRV_BE_UP);
	assert_int_equal(drv_backend_add(&ctl, &a.key, &be), 0);
	for (id = 1; id <= 3; id++) {
		for (int c = 0; c < ctl.ncpus; c++)
			v[c] = (struct drv_lb_counters){ .packets = id * 10 + c, .drops = id };
		assert_int_equal(bpf_map_update_elem(ctl.be_stats_fd, &id, v, BPF_ANY), 0);
	}
	assert_int_equal(drv_backends_read_all(&ctl, all), 0);
	for (id = 0; id < DRV_MAX_BACKENDS; id++) {
		assert_int_equal(all[id].id, id);
		nall += all[id].be.family != 0;
	}
	assert_int_equal(nall, 3);
	for (int s = 0; s < 2; s++) {
		/* the padding between be and cnt, compared below, as calloc leaves all's */
		memset(list, 0, sizeof(list));
		n = drv_backend_list(&ctl, s ? &b2.key : &a.key, list, ARRAY_SIZE(list));
		assert_int_equal(n, s ? 1 : 2);
		for (i = 0; i < n; i++)
			assert_memory_equal(&all[list[i].id], &list[i], sizeof(list[i]));
	}
	free(v);
	free(all);
}

/*
 * While set, run once just before the next batch lookup in ctl.be_stats_fd:
 * what another process (the agent's reconcile, the CLI) does between the
 * reads of drv_backends_read_all. This bpf_map_lookup_batch() takes the place
 * of libbpf's for the library linked into this test.
 */
static void (*be_stats_batch_hook)(void);

int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
			 __u32 *count, const struct bpf_map_batch_opts *opts)
{
	static int (*real)(int, void *, void *, void *, void *, __u32 *,
			   const struct bpf_map_batch_opts *);
	void (*hook)(void) = be_stats_batch_hook;

	if (hook && fd == ctl.be_stats_fd) {
		be_stats_batch_hook = NULL;
		hook();
	}
	if (!real)
		real = (int (*)(int, void *, void *, void *, void *, __u32 *,
				const struct bpf_map_batch_opts *))dlsym(RTLD_NEXT,
									 "bpf_map_lookup_batch");
	return real(fd, in_batch, out_batch, keys, values, count, opts);
}

static struct drv_svc_conf reuse_a, reuse_b;
static bool reuse_ran;

/* 10.1.0.1 (id 1) leaves service a; 10.1.0.9 joins service b with id 1 and sends 7 packets. */
static void reuse_id_1(void)
{
	struct drv_be_conf be = be_conf("10.1.0.1", 1, DRV_BE_UP);
	struct drv_be_info info;
	struct drv_lb_counters *v = calloc((size_t)ctl.ncpus, sizeof(*v));
	__u32 id = 1;

	assert_non_null(v);
	assert_int_equal(drv_backend_del(&ctl, &reuse_a.key, &be), 0);
	be = be_conf("10.1.0.9", 1, DRV_BE_UP);
	assert_int_equal(drv_backend_add(&ctl, &reuse_b.key, &be), 0);
	assert_int_equal(drv_backend_list(&ctl, &reuse_b.key, &info, 1), 1);
	assert_int_equal(info.id, 1);
	v[0].packets = 7;
	assert_int_equal(bpf_map_update_elem(ctl.be_stats_fd, &id, v, BPF_ANY), 0);
	reuse_ran = true;
	free(v);
}

/*
 * /metrics reads every backend, then every counter, without the pin lock: an
 * id freed and reused between the two reads would show the backend first read
 * with the counters of the one that took its id. drv_backends_read_all leaves
 * it out of that read (its gen changed); the others are as they were.
 */
static void backends_read_all_leaves_out_an_id_reused_between_its_reads(void **state)
{
	struct drv_be_info *all = calloc(DRV_MAX_BACKENDS, sizeof(*all));
	struct drv_lb_counters *v = calloc((size_t)ctl.ncpus, sizeof(*v));
	struct drv_be_conf be;
	__u32 id;

	(void)state;
	assert_non_null(all);
	assert_non_null(v);
	reuse_a = svc_conf("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	reuse_b = svc_conf("10.0.0.2", 80, DRV_MODE_DSR, NULL);
	assert_int_equal(drv_service_add(&ctl, &reuse_a), 0);
	assert_int_equal(drv_service_add(&ctl, &reuse_b), 0);
	be = be_conf("10.1.0.1", 1, DRV_BE_UP);
	assert_int_equal(drv_backend_add(&ctl, &reuse_a.key, &be), 0);
	be = be_conf("10.1.0.3", 1, DRV_BE_UP);
	assert_int_equal(drv_backend_add(&ctl, &reuse_a.key, &be), 0);
	for (id = 1; id <= 2; id++) {
		v[0].packets = id * 100;
		assert_int_equal(bpf_map_update_elem(ctl.be_stats_fd, &id, v, BPF_ANY), 0);
	}
	reuse_ran = false;
	be_stats_batch_hook = reuse_id_1;
	assert_int_equal(drv_backends_read_all(&ctl, all), 0);
	be_stats_batch_hook = NULL;
	assert_true(reuse_ran); /* the counters were read in batches, after the backends */
	/* id 1: 10.1.0.1 of a, read first, and 10.1.0.9's counters (7): left out */
	if (all[1].be.family)
		fail_msg("id 1 shown as backend %s of service %u with %llu packets: the counters of the backend that took its id between the reads",
			 all[1].be.addr.v4 == htonl(0x0a010001) ? "10.1.0.1" : "(other)",
			 all[1].be.svc_id, (unsigned long long)all[1].cnt.packets);
	/* id 2, untouched: shown, with its own counters */
	assert_int_equal(all[2].be.family, DRV_FAMILY_V4);
	assert_int_equal(all[2].be.addr.v4, htonl(0x0a010003));
	assert_int_equal(all[2].cnt.packets, 200);
	free(v);
	free(all);
}

/*
 * The agent follows its pinned maps by signature (drv_ctl_sig of its open maps
 * against drv_pins_sig of the pins): same maps → same signature; a pin holding
 * another map → another; a pin gone → -ENOENT. Pins this test's maps in a
 * directory of its own on the host's bpffs, which pins_destroy removes
 * whatever the test's outcome.
 */
static char pin_dir[64];

static void pin_path(char *path, size_t len, const char *name)
{
	snprintf(path, len, "%s/%s", pin_dir, name);
}

static int pins_destroy(void **state)
{
	char path[PATH_MAX];
	const char *name;
	size_t i;

	if (pin_dir[0]) {
		for (i = 0; (name = drv_ctl_map_name(i)); i++) {
			pin_path(path, sizeof(path), name);
			unlink(path);
		}
		rmdir(pin_dir);
		pin_dir[0] = 0;
	}
	return maps_destroy(state);
}

/* ctl's fd of pinned map @name: the test pins what drv_ctl_open would open. */
static int ctl_fd_of(const char *name)
{
	const struct {
		const char *name;
		int fd;
	} m[] = {
		{ DRV_STR(DRV_MAP_SVCS), ctl.svcs_fd },
		{ DRV_STR(DRV_MAP_BACKENDS), ctl.bes_fd },
		{ DRV_STR(DRV_MAP_MAGLEV), ctl.maglev_fd },
		{ DRV_STR(DRV_MAP_FLOWS), ctl.flows_fd },
		{ DRV_STR(DRV_MAP_NAT), ctl.nat_fd },
		{ DRV_STR(DRV_MAP_STATS), ctl.stats_fd },
		{ DRV_STR(DRV_MAP_SVC_STATS), ctl.svc_stats_fd },
		{ DRV_STR(DRV_MAP_BE_STATS), ctl.be_stats_fd },
		{ DRV_STR(DRV_MAP_CFG), ctl.cfg_fd },
		{ DRV_STR(DRV_MAP_TX_PORTS), ctl.tx_ports_fd },
		{ DRV_STR(DRV_MAP_PROGS), ctl.progs_fd },
	};

	for (size_t i = 0; i < ARRAY_SIZE(m); i++)
		if (!strcmp(m[i].name, name))
			return m[i].fd;
	fail_msg("drv_ctl_map_name gives %s, which this test does not know", name);
	return -1;
}

static void pins_signature_tells_same_replaced_and_gone(void **state)
{
	char path[PATH_MAX];
	const char *name;
	__u64 sig, sig2;
	size_t i;
	int other;

	(void)state;
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/drover-unit-XXXXXX");
	if (!mkdtemp(pin_dir)) {
		pin_dir[0] = 0;
		skip(); /* no /sys/fs/bpf */
	}
	assert_int_equal(drv_pins_sig(pin_dir, &sig), -ENOENT);
	for (i = 0; (name = drv_ctl_map_name(i)); i++) {
		pin_path(path, sizeof(path), name);
		if (bpf_obj_pin(ctl_fd_of(name), path))
			skip(); /* /sys/fs/bpf is not a bpffs */
	}
	assert_int_equal(i, 11);
	assert_int_equal(drv_pins_sig(pin_dir, &sig), 0);
	assert_true(sig == drv_ctl_sig(&ctl));

	pin_path(path, sizeof(path), DRV_STR(DRV_MAP_CFG));
	assert_int_equal(unlink(path), 0);
	other = mk(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct drv_cfg), 1, 0);
	assert_true(other >= 0);
	assert_int_equal(bpf_obj_pin(other, path), 0);
	close(other);
	assert_int_equal(drv_pins_sig(pin_dir, &sig2), 0);
	assert_true(sig2 != sig);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(drv_pins_sig(pin_dir, &sig2), -ENOENT);
}

/* drv_ctl opens exactly the maps the program pins: no more, no fewer. */
static void ctl_opens_every_map_the_program_pins(void **state)
{
	struct drover_bpf *skel = drover_bpf__open();
	struct bpf_map *m;
	size_t pinned = 0, i;
	const char *name;

	(void)state;
	assert_non_null(skel);
	bpf_object__for_each_map(m, skel->obj) {
		if (!bpf_map__pin_path(m))
			continue;
		pinned++;
		for (i = 0; (name = drv_ctl_map_name(i)); i++)
			if (!strcmp(name, bpf_map__name(m)))
				break;
		if (!name)
			fail_msg("the program pins %s, which drv_ctl does not open",
				 bpf_map__name(m));
	}
	for (i = 0; drv_ctl_map_name(i); i++)
		;
	assert_int_equal(pinned, i);
	drover_bpf__destroy(skel);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, maps_create, maps_destroy)
	const struct CMUnitTest tests[] = {
		T(service_add_assigns_lowest_free_id_and_rejects_duplicates),
		T(services_are_listed_by_id),
		T(unknown_service_is_refused_by_every_backend_call),
		T(backend_add_writes_entry_then_flips_table),
		T(table_smaller_than_the_backends_counts_those_it_holds),
		T(backend_add_rejects_duplicate_backend),
		T(drain_and_down_leave_the_table_but_keep_the_entry),
		T(backend_del_clears_entry_and_reuse_bumps_gen),
		T(service_del_frees_its_backends),
		T(sync_keeps_ids_and_skips_flip_when_nothing_changed),
		T(sync_replacing_nodes_with_ids_nearly_exhausted_goes_through_the_kept_ones),
		T(reload_moving_nodes_between_services_at_the_id_limit_applies_both),
		T(sync_with_duplicate_backend_changes_nothing),
		T(failed_flip_leaves_backends_as_they_were),
		T(sync_puts_in_the_table_a_backend_left_up_outside_it),
		T(failed_sync_of_a_new_service_leaves_no_service),
		T(lookup_follows_flow_hash_and_active_table),
		T(table_written_through_mmap_is_what_map_lookups_see),
		T(flows_are_counted_per_backend_skipping_stale_and_expired),
		T(map_count_under_churn_never_counts_an_entry_twice),
		T(nat_services_widen_the_reply_port_range),
		T(snat_ports_are_in_the_reply_range_before_the_service_uses_them),
		T(dsr_backend_must_use_the_service_port),
		T(snat_that_is_a_node_or_a_vip_port_in_its_range_is_refused),
		T(node_that_is_another_services_vip_is_refused),
		T(counters_sum_over_cpus),
		T(counters_read_all_are_each_entrys_sum_over_cpus),
		T(backends_read_all_is_what_backend_list_says),
		T(backends_read_all_leaves_out_an_id_reused_between_its_reads),
		cmocka_unit_test_setup_teardown(pins_signature_tells_same_replaced_and_gone,
						maps_create, pins_destroy),
		cmocka_unit_test(ctl_opens_every_map_the_program_pins),
	};
#undef T
	int fd = mk(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0);

	if (fd < 0) {
		fprintf(stderr, "SKIP: can't create BPF maps (%s): needs CAP_BPF\n",
			strerror(errno));
		return 4;
	}
	close(fd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
