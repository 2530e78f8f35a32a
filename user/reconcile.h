/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The agent's reconcile, as pure functions: desired state = config × health
 * (with fail-open when no node of a service is healthy), and the plan that
 * turns what is applied into what is desired, touching only what differs.
 */
#ifndef __DROVER_RECONCILE_H
#define __DROVER_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "ctl.h"

/* One drover service (one VIP:port) as it should be in the maps. */
struct drv_want_svc {
	struct drv_svc_conf conf;
	size_t cfg_idx; /* index in drv_config.services */
	__u16 port; /* host order */
	bool all_down; /* no node healthy: failing open */
	bool unknown; /* adopted from the maps, contents not known */
	struct drv_be_conf *bes; /* one per config node, in config order, then one per leaver */
	size_t nbes;
};

struct drv_want {
	struct drv_want_svc *svcs;
	size_t n;
};

/* The drover service of @s's port @port (host order): its key in drv_svcs. */
void drv_svc_key_make(const struct drv_service_conf *s, __u16 port, struct drv_svc_key *key);

/*
 * A node a reload removed from a service that stays (or one a restarted agent
 * found in the maps and not in its config): it leaves, DRV_BE_LEAVING with
 * weight 0 (out of the table, its recorded flows kept), until the agent frees
 * it (its flows ended, or health leave-after passed). One whose checks fail
 * is DRV_BE_DOWN meanwhile: the data path resets its flows at their next
 * packet instead of sending them to a dead node, or to another one.
 */
struct drv_leaver {
	union drv_addr addr; /* network order */
	__u8 family; /* enum drv_family */
	bool down; /* it fails its checks: DOWN, not LEAVING */
};

/* The leavers of one config service. */
struct drv_leavers {
	const struct drv_leaver *v;
	size_t n;
};

/*
 * drv_want_build - desired state of every VIP:port
 * @cfg: the configuration
 * @up: @up[i][j] is the health of node j of service i (true = passing)
 * @hold: NULL, or @hold[i][j]: node j of service i, not passing, still keeps
 *        its recorded flows (its health rehash-after has not passed)
 * @leave: NULL, or @leave[i]: the leavers of service i, added after its nodes
 *         on each of its ports; one whose address a node of the service has
 *         is that node (it came back) and is not added again
 * @out: filled; free with drv_want_free
 *
 * Drained nodes are DRAIN with weight 0; failing nodes DOWN, or FAILING while
 * they hold their flows; passing nodes UP with their weight. If a service has
 * non-drained nodes but none passes, all of its non-drained nodes are kept UP
 * and all_down is set (fail open). Leavers are LEAVING with weight 0 and play
 * no part in the fail-open; one that is down is DOWN with weight 0.
 * Return: 0 or -ENOMEM.
 */
int drv_want_build(const struct drv_config *cfg, bool *const *up, bool *const *hold,
		   const struct drv_leavers *leave, struct drv_want *out);
void drv_want_free(struct drv_want *w);
/* Deep copy (for "applied" bookkeeping). */
int drv_want_copy(const struct drv_want *src, struct drv_want *dst);
/* Same key, settings and backends? */
bool drv_want_svc_equal(const struct drv_want_svc *a, const struct drv_want_svc *b);

enum drv_plan_op {
	DRV_PLAN_DEL = 0, /* service in the maps, not in the config: delete it */
	DRV_PLAN_SYNC = 1, /* new or changed: drv_service_sync */
};

struct drv_plan_step {
	enum drv_plan_op op;
	struct drv_svc_key key;
	size_t idx; /* SYNC: index in next->svcs; DEL: index in applied->svcs */
};

struct drv_plan {
	struct drv_plan_step *steps;
	size_t n;
};

/*
 * drv_plan_make - steps from @applied to @next: every DEL first (frees service
 * ids), then a SYNC for each service of @next that is new, unknown or differs.
 * Return: 0 or -ENOMEM.
 */
int drv_plan_make(const struct drv_want *applied, const struct drv_want *next,
		  struct drv_plan *plan);
void drv_plan_free(struct drv_plan *plan);

struct drv_plan_ops {
	int (*run)(const struct drv_plan_step *st, void *arg); /* 0 or -errno */
	void (*done)(const struct drv_plan_step *st, int err, void *arg); /* final result */
};

/*
 * drv_plan_run - carry out @plan's steps in order, ops->run for each, then
 * ops->done once per step with its final result
 *
 * A SYNC that needs more backend ids than are free (-ENOSPC) may need those a
 * later step frees: a reload that moves nodes from one service to another
 * while (nearly) every id is in use. Such steps run again after the others,
 * for as long as a round gets one more of them through.
 * Return: how many steps failed.
 */
int drv_plan_run(const struct drv_plan *plan, const struct drv_plan_ops *ops, void *arg);

/*
 * Is @be node @n's backend on port @port (network order): same family,
 * address and port? A backend the CLI added on the node's address with
 * another port is not.
 */
bool drv_node_is_backend(const struct drv_node_conf *n, __be16 port, const struct drv_backend *be);

/*
 * drv_nodes_find_backends - which backend in the maps each node of @s is
 * @port: the drover service's port (host order); the agent's backends use it
 * @bes: the service's backends as drv_backend_list() read them (@nbes of them)
 * @idx: filled with s->nnodes entries: the index in @bes of node j's backend
 *       (same family, address and port), or -1 when it has none
 *
 * A backend the CLI added behind the agent's back (another port, or an
 * address no node has) is no node's: /metrics must show it for no node.
 */
void drv_nodes_find_backends(const struct drv_service_conf *s, __u16 port,
			     const struct drv_be_info *bes, int nbes, int *idx);

#endif /* __DROVER_RECONCILE_H */
