/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The control library over drover's pinned state: used by the CLI commands and
 * by the agent's reconcile. Every change is atomic from a packet's point of
 * view: a service's Maglev table is written into its idle slot, then the
 * service value (with the new active slot) is replaced in one map update.
 * Callers hold the pin-directory lock (drv_ctl_open with DRV_CTL_F_LOCK).
 */
#ifndef __DROVER_CTL_H
#define __DROVER_CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "drover/maps.h"

enum drv_xdp_mode {
	DRV_XDP_NATIVE = 0,	/* driver mode (xdpdrv) */
	DRV_XDP_SKB = 1,	/* generic mode (xdpgeneric) */
};

#define DRV_CTL_F_LOCK 0x1	/* flock() the pin root for the handle's lifetime */

struct drv_ctl {
	char root[PATH_MAX];	/* pin root, e.g. /sys/fs/bpf/drover */
	int lock_fd;
	int svcs_fd, bes_fd, maglev_fd, flows_fd, nat_fd;
	int stats_fd, svc_stats_fd, be_stats_fd, cfg_fd, tx_ports_fd;
	__u32 *maglev;		/* mmap of drv_maglev, DRV_MAGLEV_ENTRIES */
	int ncpus;		/* possible CPUs, for per-CPU values */
};

/* What an operator sets on a service. */
struct drv_svc_conf {
	struct drv_svc_key key;
	__u8 mode;		/* enum drv_mode */
	__u32 table_size;	/* prime ≤ DRV_MAGLEV_MAX; 0 → DRV_MAGLEV_MAX */
	union drv_addr snat;	/* nat: source address toward nodes (VIP's family) */
	__u16 snat_port_lo;	/* host order; 0,0 → defaults */
	__u16 snat_port_hi;
};

/* What an operator (or health checking) sets on a backend of a service. */
struct drv_be_conf {
	union drv_addr addr;
	__be16 port;		/* network order; 0 → the service port */
	__u8 family;
	__u8 state;		/* enum drv_be_state */
	__u32 weight;		/* default 1; 0 with DRV_BE_DRAIN */
};

/* A backend as read back, with its id and summed counters. */
struct drv_be_info {
	__u32 id;
	struct drv_backend be;
	struct drv_lb_counters cnt;
};

/*
 * Load the program if needed, create/reuse the pinned maps under @root and
 * attach XDP to @ifname, pinning the link at <root>/links/<ifname>.
 * Messages name the interface and say what to do. 0 or -errno.
 */
int drv_prog_attach(const char *root, const char *ifname, enum drv_xdp_mode mode, bool force);
int drv_prog_detach(const char *root, const char *ifname);

/* Open the pinned maps under @root; -ENOENT (with a message) if none. */
int drv_ctl_open(struct drv_ctl *ctl, const char *root, unsigned int flags);
void drv_ctl_close(struct drv_ctl *ctl);

int drv_service_add(struct drv_ctl *ctl, const struct drv_svc_conf *conf);	/* -EEXIST */
int drv_service_update(struct drv_ctl *ctl, const struct drv_svc_conf *conf);	/* add or change */
int drv_service_del(struct drv_ctl *ctl, const struct drv_svc_key *key);	/* and its backends */
int drv_service_get(struct drv_ctl *ctl, const struct drv_svc_key *key, struct drv_svc *out);
/* Call @fn for each service; stops at a non-zero return, which it returns. */
int drv_service_foreach(struct drv_ctl *ctl,
			int (*fn)(const struct drv_svc_key *key, const struct drv_svc *svc, void *arg),
			void *arg);

int drv_backend_add(struct drv_ctl *ctl, const struct drv_svc_key *svc, const struct drv_be_conf *be);
int drv_backend_set(struct drv_ctl *ctl, const struct drv_svc_key *svc, const struct drv_be_conf *be);
int drv_backend_del(struct drv_ctl *ctl, const struct drv_svc_key *svc, const struct drv_be_conf *be);
/* Fill @out (up to @max) with the service's backends; returns the count or -errno. */
int drv_backend_list(struct drv_ctl *ctl, const struct drv_svc_key *svc, struct drv_be_info *out,
		     size_t max);

/*
 * Make the service's backends exactly @bes (the agent's reconcile): adds,
 * removes and changes only what differs, and rebuilds + flips the Maglev table
 * only if the set of backends in it (UP, weight) changed. Backend ids of
 * unchanged backends are kept, so recorded flows stay where they are.
 * Return: 0, or -errno with the running state unchanged.
 */
int drv_service_sync(struct drv_ctl *ctl, const struct drv_svc_conf *conf,
		     const struct drv_be_conf *bes, size_t n);

/* Sum a per-CPU counter array entry. */
int drv_stats_read(struct drv_ctl *ctl, enum drv_stat idx, struct drv_counter *out);
int drv_svc_stats_read(struct drv_ctl *ctl, __u32 svc_id, struct drv_lb_counters *out);
int drv_be_stats_read(struct drv_ctl *ctl, __u32 be_id, struct drv_lb_counters *out);
/* Names of enum drv_stat, for output ("xdp_pass", "drop_ip_frag", ...). */
extern const char *const drv_stat_names[__DRV_STAT_MAX];

int drv_cfg_read(struct drv_ctl *ctl, struct drv_cfg *out);
int drv_cfg_write(struct drv_ctl *ctl, const struct drv_cfg *cfg);

/* Where would a flow go now? Uses drv_flow_hash and the service's active table. */
int drv_lookup(struct drv_ctl *ctl, const struct drv_svc_key *svc, const union drv_addr *client,
	       __be16 client_port, __u32 *be_id, struct drv_backend *be);

#endif /* __DROVER_CTL_H */
