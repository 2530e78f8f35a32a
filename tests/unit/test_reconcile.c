// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Reconcile: desired state from config × health (fail-open, drain) and the minimal plan. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "config.h"
#include "reconcile.h"

static const char base_yaml[] = "interfaces: [eth0]\n"
				"defaults: {snat: 10.0.0.2}\n"
				"services:\n"
				"  - name: rancher\n"
				"    vip: 10.0.0.100\n"
				"    ports: [80, 443]\n"
				"    health: rancher\n"
				"    nodes:\n"
				"      - {address: 10.0.0.11, weight: 2}\n"
				"      - 10.0.0.12\n"
				"      - {address: 10.0.0.13, drain: true}\n"
				"  - name: api\n"
				"    vip: 10.0.0.101\n"
				"    ports: [6443]\n"
				"    nodes: [10.0.0.21, 10.0.0.22]\n";

static struct drv_config *load(const char *text)
{
	struct drv_config *cfg;
	char err[DRV_CONF_ERR_MAX];
	int ret = drv_config_parse("r.yaml", text, strlen(text), &cfg, err, sizeof(err));

	if (ret)
		print_error("%s\n", err);
	assert_int_equal(ret, 0);
	return cfg;
}

/* up[i][j] from a string per service: '1' passing, '0' failing. */
struct health {
	bool rows[4][8];
	bool *ptrs[4];
};

static bool *const *health(struct health *h, const char *s0, const char *s1)
{
	const char *s[2] = { s0, s1 };
	int i, j;

	memset(h, 0, sizeof(*h));
	for (i = 0; i < 2; i++) {
		for (j = 0; s[i] && s[i][j]; j++)
			h->rows[i][j] = s[i][j] == '1';
		h->ptrs[i] = h->rows[i];
	}
	return h->ptrs;
}

static void each_port_becomes_one_service_with_every_node(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want w;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, NULL, &w), 0);
	assert_int_equal(w.n, 3);
	assert_int_equal(ntohs(w.svcs[0].conf.key.port), 80);
	assert_int_equal(ntohs(w.svcs[1].conf.key.port), 443);
	assert_int_equal(ntohs(w.svcs[2].conf.key.port), 6443);
	assert_int_equal(w.svcs[0].conf.key.proto, 6);
	assert_int_equal(w.svcs[0].conf.key.family, DRV_FAMILY_V4);
	assert_int_equal(w.svcs[0].conf.key.vip.v4, inet_addr("10.0.0.100"));
	assert_int_equal(w.svcs[0].conf.snat.v4, inet_addr("10.0.0.2"));
	assert_int_equal(w.svcs[1].nbes, 3);
	/* backends listen on the service port */
	assert_int_equal(ntohs(w.svcs[1].bes[0].port), 443);
	assert_int_equal(w.svcs[1].bes[0].state, DRV_BE_UP);
	assert_int_equal(w.svcs[1].bes[0].weight, 2);
	assert_int_equal(w.svcs[1].bes[1].weight, 1);
	assert_false(w.svcs[0].all_down);
	drv_want_free(&w);
	drv_config_free(cfg);
}

static void drained_node_is_drain_with_weight_zero_even_if_healthy(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want w;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, NULL, &w), 0);
	assert_int_equal(w.svcs[0].bes[2].state, DRV_BE_DRAIN);
	assert_int_equal(w.svcs[0].bes[2].weight, 0);
	drv_want_free(&w);
	drv_config_free(cfg);
}

static void failing_node_is_down_and_others_stay_up(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want w;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "011", "10"), NULL, NULL, &w), 0);
	assert_int_equal(w.svcs[0].bes[0].state, DRV_BE_DOWN);
	assert_int_equal(w.svcs[0].bes[1].state, DRV_BE_UP);
	assert_int_equal(w.svcs[2].bes[0].state, DRV_BE_UP);
	assert_int_equal(w.svcs[2].bes[1].state, DRV_BE_DOWN);
	assert_false(w.svcs[0].all_down);
	assert_false(w.svcs[2].all_down);
	drv_want_free(&w);
	drv_config_free(cfg);
}

static void no_healthy_node_fails_open_keeping_non_drained_nodes(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want w;

	(void)state;
	/* node 3 is drained and "passing": it does not count, and stays drained */
	assert_int_equal(drv_want_build(cfg, health(&h, "001", "11"), NULL, NULL, &w), 0);
	assert_true(w.svcs[0].all_down);
	assert_true(w.svcs[1].all_down);
	assert_false(w.svcs[2].all_down);
	assert_int_equal(w.svcs[0].bes[0].state, DRV_BE_UP);
	assert_int_equal(w.svcs[0].bes[0].weight, 2);
	assert_int_equal(w.svcs[0].bes[1].state, DRV_BE_UP);
	assert_int_equal(w.svcs[0].bes[2].state, DRV_BE_DRAIN);
	drv_want_free(&w);
	drv_config_free(cfg);
}

static void all_nodes_drained_is_not_fail_open(void **state)
{
	struct drv_config *cfg =
		load("interfaces: [eth0]\n"
		     "services:\n"
		     "  - {name: a, vip: 10.0.0.100, ports: [80], snat: 10.0.0.2,\n"
		     "     nodes: [{address: 10.0.0.11, drain: true}]}\n");
	struct health h;
	struct drv_want w;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "1", NULL), NULL, NULL, &w), 0);
	assert_false(w.svcs[0].all_down);
	assert_int_equal(w.svcs[0].bes[0].state, DRV_BE_DRAIN);
	drv_want_free(&w);
	/* failing its checks, it is down: its flows re-hash instead of waiting on a dead node */
	assert_int_equal(drv_want_build(cfg, health(&h, "0", NULL), NULL, NULL, &w), 0);
	assert_false(w.svcs[0].all_down);
	assert_int_equal(w.svcs[0].bes[0].state, DRV_BE_DOWN);
	assert_int_equal(w.svcs[0].bes[0].weight, 0);
	drv_want_free(&w);
	drv_config_free(cfg);
}

/*
 * A node that fails its checks while its hold lasts (health rehash-after) is
 * FAILING: out of the table like DOWN, but its recorded flows stay on it. A
 * drained one too (weight 0); a fail-open still keeps every node UP.
 */
static void failing_node_holding_its_flows_is_failing_not_down(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h, held;
	struct drv_want w;

	(void)state;
	health(&held, "101", "01");
	assert_int_equal(drv_want_build(cfg, health(&h, "010", "10"), held.ptrs, NULL, &w), 0);
	assert_false(w.svcs[0].all_down);
	assert_int_equal(w.svcs[0].bes[0].state, DRV_BE_FAILING);
	assert_int_equal(w.svcs[0].bes[0].weight, 2);
	assert_int_equal(w.svcs[0].bes[1].state, DRV_BE_UP);
	assert_int_equal(w.svcs[0].bes[2].state, DRV_BE_FAILING);
	assert_int_equal(w.svcs[0].bes[2].weight, 0);
	assert_int_equal(w.svcs[2].bes[0].state, DRV_BE_UP);
	assert_int_equal(w.svcs[2].bes[1].state, DRV_BE_FAILING);
	drv_want_free(&w);
	/* the hold over for node 1 of rancher: DOWN, its flows re-hash */
	health(&held, "001", "01");
	assert_int_equal(drv_want_build(cfg, health(&h, "010", "10"), held.ptrs, NULL, &w), 0);
	assert_int_equal(w.svcs[0].bes[0].state, DRV_BE_DOWN);
	assert_int_equal(w.svcs[0].bes[2].state, DRV_BE_FAILING);
	drv_want_free(&w);
	/* none passing: fail-open, held or not */
	health(&held, "111", "11");
	assert_int_equal(drv_want_build(cfg, health(&h, "000", "00"), held.ptrs, NULL, &w), 0);
	assert_true(w.svcs[0].all_down);
	assert_int_equal(w.svcs[0].bes[0].state, DRV_BE_UP);
	assert_int_equal(w.svcs[0].bes[1].state, DRV_BE_UP);
	assert_int_equal(w.svcs[0].bes[2].state, DRV_BE_DRAIN); /* drained: kept, not UP */
	assert_int_equal(w.svcs[2].bes[1].state, DRV_BE_UP);
	drv_want_free(&w);
	drv_config_free(cfg);
}

static void drained_node_failing_its_checks_is_down(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want w;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "110", "11"), NULL, NULL, &w), 0);
	assert_false(w.svcs[0].all_down);
	assert_int_equal(w.svcs[0].bes[2].state, DRV_BE_DOWN);
	assert_int_equal(w.svcs[0].bes[2].weight, 0);
	drv_want_free(&w);
	drv_config_free(cfg);
}

/* Leavers of rancher (service 0): removed nodes still holding connections. */
static const struct drv_leaver *leaver_addrs(struct drv_leaver *l, const char *a0, const char *a1)
{
	memset(l, 0, 2 * sizeof(*l));
	l[0].family = l[1].family = DRV_FAMILY_V4;
	l[0].addr.v4 = inet_addr(a0);
	if (a1)
		l[1].addr.v4 = inet_addr(a1);
	return l;
}

/*
 * A node a reload removed leaves: on every port of its service, after the
 * config's nodes, LEAVING with weight 0 (out of the table, its flows kept);
 * the other services get none.
 */
static void removed_node_leaving_is_leaving_with_weight_zero_on_every_port(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct drv_leavers leave[2] = {};
	struct drv_leaver l[2];
	struct health h;
	struct drv_want w;
	size_t p;

	(void)state;
	leave[0] = (struct drv_leavers){ leaver_addrs(l, "10.0.0.14", "10.0.0.15"), 2 };
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, leave, &w), 0);
	for (p = 0; p < 2; p++) {
		assert_int_equal(w.svcs[p].nbes, 5);
		assert_int_equal(w.svcs[p].bes[0].state, DRV_BE_UP);
		assert_int_equal(w.svcs[p].bes[3].addr.v4, inet_addr("10.0.0.14"));
		assert_int_equal(w.svcs[p].bes[3].family, DRV_FAMILY_V4);
		assert_int_equal(w.svcs[p].bes[3].state, DRV_BE_LEAVING);
		assert_int_equal(w.svcs[p].bes[3].weight, 0);
		assert_int_equal(w.svcs[p].bes[4].addr.v4, inet_addr("10.0.0.15"));
		assert_int_equal(w.svcs[p].bes[4].state, DRV_BE_LEAVING);
	}
	assert_int_equal(ntohs(w.svcs[0].bes[3].port), 80);
	assert_int_equal(ntohs(w.svcs[1].bes[3].port), 443);
	assert_int_equal(w.svcs[2].nbes, 2);
	drv_want_free(&w);
	drv_config_free(cfg);
}

/* A leaver put back in the config is that node (UP by its health), not a second backend. */
static void leaver_back_in_the_config_is_its_node_once(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct drv_leavers leave[2] = {};
	struct drv_leaver l[2];
	struct health h;
	struct drv_want w;

	(void)state;
	leave[0] = (struct drv_leavers){ leaver_addrs(l, "10.0.0.12", "10.0.0.14"), 2 };
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, leave, &w), 0);
	assert_int_equal(w.svcs[0].nbes, 4);
	assert_int_equal(w.svcs[0].bes[1].addr.v4, inet_addr("10.0.0.12"));
	assert_int_equal(w.svcs[0].bes[1].state, DRV_BE_UP);
	assert_int_equal(w.svcs[0].bes[3].addr.v4, inet_addr("10.0.0.14"));
	assert_int_equal(w.svcs[0].bes[3].state, DRV_BE_LEAVING);
	drv_want_free(&w);
	drv_config_free(cfg);
}

/* Leavers take no part in the fail-open: none passing, the nodes stay UP, the leaver leaves. */
static void leavers_stay_leaving_in_a_fail_open(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct drv_leavers leave[2] = {};
	struct drv_leaver l[2];
	struct health h;
	struct drv_want w;

	(void)state;
	leave[0] = (struct drv_leavers){ leaver_addrs(l, "10.0.0.14", NULL), 1 };
	assert_int_equal(drv_want_build(cfg, health(&h, "000", "11"), NULL, leave, &w), 0);
	assert_true(w.svcs[0].all_down);
	assert_int_equal(w.svcs[0].nbes, 4);
	assert_int_equal(w.svcs[0].bes[0].state, DRV_BE_UP);
	assert_int_equal(w.svcs[0].bes[3].state, DRV_BE_LEAVING);
	drv_want_free(&w);
	drv_config_free(cfg);
}

/*
 * A leaver whose checks fail is DOWN (weight 0) until it is freed: the data
 * path resets its flows; freed at once, they would re-hash to another node.
 */
static void dead_leaver_is_down_not_freed(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct drv_leavers leave[2] = {};
	struct drv_leaver l[2];
	struct health h;
	struct drv_want w;
	size_t p;

	(void)state;
	leave[0] = (struct drv_leavers){ leaver_addrs(l, "10.0.0.14", "10.0.0.15"), 2 };
	l[0].down = true;
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, leave, &w), 0);
	for (p = 0; p < 2; p++) {
		assert_int_equal(w.svcs[p].nbes, 5);
		assert_int_equal(w.svcs[p].bes[3].addr.v4, inet_addr("10.0.0.14"));
		assert_int_equal(w.svcs[p].bes[3].state, DRV_BE_DOWN);
		assert_int_equal(w.svcs[p].bes[3].weight, 0);
		assert_int_equal(w.svcs[p].bes[4].addr.v4, inet_addr("10.0.0.15"));
		assert_int_equal(w.svcs[p].bes[4].state, DRV_BE_LEAVING);
	}
	drv_want_free(&w);
	drv_config_free(cfg);
}

/* A leaver freed changes its services: they sync (its id is freed there); the others don't. */
static void freed_leaver_syncs_only_its_services(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct drv_leavers leave[2] = {};
	struct drv_leaver l[2];
	struct health h;
	struct drv_want a, b;
	struct drv_plan p;

	(void)state;
	leave[0] = (struct drv_leavers){ leaver_addrs(l, "10.0.0.14", NULL), 1 };
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, leave, &a), 0);
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, leave, &b), 0);
	assert_int_equal(drv_plan_make(&a, &b, &p), 0);
	assert_int_equal(p.n, 0); /* still leaving: nothing to do */
	drv_plan_free(&p);
	drv_want_free(&b);
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, NULL, &b), 0);
	assert_int_equal(drv_plan_make(&a, &b, &p), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.steps[0].op, DRV_PLAN_SYNC);
	assert_int_equal(ntohs(p.steps[0].key.port), 80);
	assert_int_equal(ntohs(p.steps[1].key.port), 443);
	drv_plan_free(&p);
	drv_want_free(&a);
	drv_want_free(&b);
	drv_config_free(cfg);
}

static void unchanged_state_plans_nothing(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want a, b;
	struct drv_plan p;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, NULL, &a), 0);
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, NULL, &b), 0);
	assert_int_equal(drv_plan_make(&a, &b, &p), 0);
	assert_int_equal(p.n, 0);
	drv_plan_free(&p);
	drv_want_free(&a);
	drv_want_free(&b);
	drv_config_free(cfg);
}

static void one_node_down_syncs_only_its_services(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want a, b;
	struct drv_plan p;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, NULL, &a), 0);
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "01"), NULL, NULL, &b), 0);
	assert_int_equal(drv_plan_make(&a, &b, &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.steps[0].op, DRV_PLAN_SYNC);
	assert_int_equal(ntohs(p.steps[0].key.port), 6443);
	assert_int_equal(p.steps[0].idx, 2);
	drv_plan_free(&p);
	drv_want_free(&a);
	drv_want_free(&b);
	drv_config_free(cfg);
}

static void removed_service_is_deleted_before_syncs(void **state)
{
	struct drv_config *c1 = load(base_yaml);
	struct drv_config *c2 = load("interfaces: [eth0]\n"
				     "defaults: {snat: 10.0.0.2}\n"
				     "services:\n"
				     "  - name: rancher\n"
				     "    vip: 10.0.0.100\n"
				     "    ports: [443]\n"
				     "    health: rancher\n"
				     "    nodes:\n"
				     "      - {address: 10.0.0.11, weight: 2}\n"
				     "      - 10.0.0.12\n"
				     "      - 10.0.0.13\n");
	struct health h;
	struct drv_want a, b;
	struct drv_plan p;
	size_t i, ndel = 0, nsync = 0;

	(void)state;
	assert_int_equal(drv_want_build(c1, health(&h, "111", "11"), NULL, NULL, &a), 0);
	assert_int_equal(drv_want_build(c2, health(&h, "111", NULL), NULL, NULL, &b), 0);
	assert_int_equal(drv_plan_make(&a, &b, &p), 0);
	/* port 80 and 6443 gone; 443 changed (node 3 no longer drained) */
	assert_int_equal(p.n, 3);
	for (i = 0; i < p.n; i++) {
		if (p.steps[i].op == DRV_PLAN_DEL) {
			assert_int_equal(nsync, 0); /* deletes come first */
			ndel++;
		} else {
			nsync++;
			assert_int_equal(ntohs(p.steps[i].key.port), 443);
		}
	}
	assert_int_equal(ndel, 2);
	assert_int_equal(nsync, 1);
	drv_plan_free(&p);
	drv_want_free(&a);
	drv_want_free(&b);
	drv_config_free(c1);
	drv_config_free(c2);
}

static void adopted_unknown_services_are_synced_or_deleted(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want pinned = { 0 }, b;
	struct drv_want_svc ps[2];
	struct drv_plan p;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "111", "11"), NULL, NULL, &b), 0);
	memset(ps, 0, sizeof(ps));
	ps[0].conf.key = b.svcs[0].conf.key; /* in the config */
	ps[0].unknown = true;
	ps[1].conf.key = b.svcs[0].conf.key;
	ps[1].conf.key.port = htons(8080); /* a stray pinned service */
	ps[1].unknown = true;
	pinned.svcs = ps;
	pinned.n = 2;
	assert_int_equal(drv_plan_make(&pinned, &b, &p), 0);
	assert_int_equal(p.n, 4); /* DEL 8080, SYNC 80, 443, 6443 */
	assert_int_equal(p.steps[0].op, DRV_PLAN_DEL);
	assert_int_equal(ntohs(p.steps[0].key.port), 8080);
	assert_int_equal(p.steps[1].op, DRV_PLAN_SYNC);
	drv_plan_free(&p);
	drv_want_free(&b);
	drv_config_free(cfg);
}

static void copied_state_equals_its_source(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	struct health h;
	struct drv_want a, c;
	size_t i;

	(void)state;
	assert_int_equal(drv_want_build(cfg, health(&h, "101", "01"), NULL, NULL, &a), 0);
	assert_int_equal(drv_want_copy(&a, &c), 0);
	assert_int_equal(c.n, a.n);
	for (i = 0; i < a.n; i++) {
		assert_true(drv_want_svc_equal(&a.svcs[i], &c.svcs[i]));
		assert_ptr_not_equal(a.svcs[i].bes, c.svcs[i].bes);
	}
	c.svcs[0].bes[1].weight = 9;
	assert_false(drv_want_svc_equal(&a.svcs[0], &c.svcs[0]));
	drv_want_free(&a);
	drv_want_free(&c);
	drv_config_free(cfg);
}

/* A backend the CLI added (a node's address on another port, listed first) is no node's. */
static void nodes_find_their_backends_by_address_and_port(void **state)
{
	struct drv_config *cfg = load(base_yaml);
	const struct drv_service_conf *s = &cfg->services[0];
	struct drv_be_info bes[4];
	int idx[3];

	(void)state;
	memset(bes, 0, sizeof(bes));
	bes[0].be.family = bes[1].be.family = bes[2].be.family = bes[3].be.family = 4;
	bes[0].be.addr = s->nodes[1].addr; /* drover backend add ... 10.0.0.12 port 9999 */
	bes[0].be.port = htons(9999);
	bes[1].be.addr = s->nodes[1].addr;
	bes[1].be.port = htons(80);
	bes[2].be.addr = s->nodes[0].addr;
	bes[2].be.port = htons(80);
	inet_pton(AF_INET, "10.0.0.99", &bes[3].be.addr); /* no node has it */
	bes[3].be.port = htons(80);
	drv_nodes_find_backends(s, 80, bes, 4, idx);
	assert_int_equal(idx[0], 2);
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], -1); /* 10.0.0.13 has no backend on port 80 */
	drv_nodes_find_backends(s, 443, bes, 4, idx);
	assert_int_equal(idx[0], -1);
	assert_int_equal(idx[1], -1);
	drv_config_free(cfg);
}

/* Fake steps for drv_plan_run: step 0 needs ids that step 1 frees; step 2 never fits; step 3 fails otherwise. */
struct fake_run {
	int runs[4], done[4], err[4];
	bool freed;
};

static int fake_run_step(const struct drv_plan_step *st, void *arg)
{
	struct fake_run *f = arg;

	f->runs[st->idx]++;
	switch (st->idx) {
	case 0:
		return f->freed ? 0 : -ENOSPC;
	case 1:
		f->freed = true;
		return 0;
	case 2:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

static void fake_run_done(const struct drv_plan_step *st, int err, void *arg)
{
	struct fake_run *f = arg;

	f->done[st->idx]++;
	f->err[st->idx] = err;
}

static void sync_short_of_ids_runs_again_after_the_steps_that_free_them(void **state)
{
	static const struct drv_plan_ops ops = { .run = fake_run_step, .done = fake_run_done };
	struct drv_plan_step steps[4];
	struct drv_plan plan = { .steps = steps, .n = 4 };
	struct fake_run f = { 0 };
	size_t i;

	(void)state;
	memset(steps, 0, sizeof(steps));
	for (i = 0; i < 4; i++) {
		steps[i].op = DRV_PLAN_SYNC;
		steps[i].idx = i;
	}
	assert_int_equal(drv_plan_run(&plan, &ops, &f), 2);
	/* each step's result is given once, the final one */
	for (i = 0; i < 4; i++)
		assert_int_equal(f.done[i], 1);
	assert_int_equal(f.err[0], 0);
	assert_int_equal(f.runs[0], 2);
	assert_int_equal(f.err[1], 0);
	assert_int_equal(f.runs[1], 1);
	assert_int_equal(f.err[2], -ENOSPC);
	assert_int_equal(f.err[3], -EIO);
	assert_int_equal(f.runs[3], 1); /* only a shortage of ids is worth another try */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_port_becomes_one_service_with_every_node),
		cmocka_unit_test(drained_node_is_drain_with_weight_zero_even_if_healthy),
		cmocka_unit_test(failing_node_is_down_and_others_stay_up),
		cmocka_unit_test(no_healthy_node_fails_open_keeping_non_drained_nodes),
		cmocka_unit_test(all_nodes_drained_is_not_fail_open),
		cmocka_unit_test(drained_node_failing_its_checks_is_down),
		cmocka_unit_test(failing_node_holding_its_flows_is_failing_not_down),
		cmocka_unit_test(removed_node_leaving_is_leaving_with_weight_zero_on_every_port),
		cmocka_unit_test(leaver_back_in_the_config_is_its_node_once),
		cmocka_unit_test(leavers_stay_leaving_in_a_fail_open),
		cmocka_unit_test(dead_leaver_is_down_not_freed),
		cmocka_unit_test(freed_leaver_syncs_only_its_services),
		cmocka_unit_test(unchanged_state_plans_nothing),
		cmocka_unit_test(one_node_down_syncs_only_its_services),
		cmocka_unit_test(removed_service_is_deleted_before_syncs),
		cmocka_unit_test(adopted_unknown_services_are_synced_or_deleted),
		cmocka_unit_test(copied_state_equals_its_source),
		cmocka_unit_test(nodes_find_their_backends_by_address_and_port),
		cmocka_unit_test(sync_short_of_ids_runs_again_after_the_steps_that_free_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
