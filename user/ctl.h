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
	DRV_XDP_NATIVE = 0, /* driver mode (xdpdrv) */
	DRV_XDP_SKB = 1, /* generic mode (xdpgeneric) */
};

#define DRV_CTL_F_LOCK 0x1 /* flock() the pin root for the handle's lifetime */
#define DRV_CTL_F_TRYLOCK 0x2 /* with _LOCK: -EWOULDBLOCK at once, unsaid, if it is held */

#ifndef DROVER_VERSION
#define DROVER_VERSION "0.1.0"
#endif

struct drv_ctl {
	char root[PATH_MAX]; /* pin root, e.g. /sys/fs/bpf/drover */
	int lock_fd;
	int svcs_fd, bes_fd, maglev_fd, flows_fd, nat_fd;
	int stats_fd, svc_stats_fd, be_stats_fd, cfg_fd, tx_ports_fd, progs_fd;
	__u32 *maglev; /* mmap of drv_maglev: use drv_maglev_entry(), the stride is 8 bytes */
	int ncpus; /* possible CPUs, for per-CPU values */
};

/*
 * Array maps keep each value in round_up(value_size, 8) bytes, so in the mmap
 * of drv_maglev (__u32 values) entry @idx is the word at 2 * @idx (the other
 * word is padding, always 0).
 */
#define DRV_MAGLEV_MMAP_STRIDE 2
#define DRV_MAGLEV_MMAP_BYTES ((size_t)DRV_MAGLEV_ENTRIES * DRV_MAGLEV_MMAP_STRIDE * sizeof(__u32))

static inline __u32 *drv_maglev_entry(const struct drv_ctl *ctl, __u32 idx)
{
	return &ctl->maglev[(size_t)idx * DRV_MAGLEV_MMAP_STRIDE];
}

/* What an operator sets on a service. */
struct drv_svc_conf {
	struct drv_svc_key key;
	__u8 mode; /* enum drv_mode */
	__u32 table_size; /* prime ≤ DRV_MAGLEV_MAX; 0 → DRV_MAGLEV_MAX */
	union drv_addr snat; /* nat: source address toward nodes (VIP's family) */
	__u16 snat_port_lo; /* host order; 0,0 → defaults */
	__u16 snat_port_hi;
};

/* What an operator (or health checking) sets on a backend of a service. */
struct drv_be_conf {
	union drv_addr addr;
	__be16 port; /* network order; 0 → the service port */
	__u8 family;
	__u8 state; /* enum drv_be_state */
	__u32 weight; /* default 1; 0 with DRV_BE_DRAIN */
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
/* drv_prog_attach_flags() flags */
#define DRV_ATTACH_F_FORCE 0x1u /* as drv_prog_attach()'s @force */
/*
 * Never wait for the pin root's lock (the agent's loop): -EWOULDBLOCK,
 * unsaid, while a drover command holds it.
 */
#define DRV_ATTACH_F_TRYLOCK 0x2u
/*
 * Say nothing about forwarding being off on the interface: the caller (the
 * agent, which knows the families its services use) says it, once.
 */
#define DRV_ATTACH_F_NO_FWD_WARN 0x4u
int drv_prog_attach_flags(const char *root, const char *ifname, enum drv_xdp_mode mode,
			  unsigned int flags);
int drv_prog_detach(const char *root, const char *ifname);
/*
 * drv_prog_detach_try - drv_prog_detach() that never waits for the pin root's
 * lock (the agent's loop): -EWOULDBLOCK, unsaid, while a drover command holds it.
 */
int drv_prog_detach_try(const char *root, const char *ifname);
/*
 * drv_prog_upgrade - make every interface attached under @root run this
 * drover's XDP program: a drover of another build attached them (an image
 * or package upgrade). Each link is swapped atomically and the maps stay,
 * so forwarding and connections go on. Nothing attached: nothing to do.
 * Return: 0; -EWOULDBLOCK while a drover command holds the pin root's lock
 * (it never waits for it); or another -errno (said).
 */
int drv_prog_upgrade(const char *root);
/*
 * drv_prog_build - where this drover's program is pinned under @root (the
 * path written to @pin, its last part names the build) and its id there: 0
 * when it is not pinned (nothing attached, or a drover of another build
 * attached the interfaces).
 */
__u32 drv_prog_build(const char *root, char *pin, size_t len);

/* Open the pinned maps under @root; -ENOENT (with a message) if none. */
int drv_ctl_open(struct drv_ctl *ctl, const char *root, unsigned int flags);
void drv_ctl_close(struct drv_ctl *ctl);
/*
 * drv_ctl_dup - a handle on @from's maps that stays valid when @from is
 * closed (its own fds; no lock, no mmap of drv_maglev): for reading the maps
 * in another thread. Close it with drv_ctl_close. 0 or -errno (nothing open).
 */
int drv_ctl_dup(struct drv_ctl *from, struct drv_ctl *to);
/* The pinned maps a drv_ctl opens, by pin name, for @i from 0; NULL past the last. */
const char *drv_ctl_map_name(size_t i);
/*
 * A signature of a set of maps (their ids): of @ctl's open ones, or of those
 * pinned under @root, to tell when the pins were replaced. drv_pins_sig
 * returns 0, or -errno (-ENOENT: one is not pinned), quietly.
 */
__u64 drv_ctl_sig(struct drv_ctl *ctl);
int drv_pins_sig(const char *root, __u64 *sig);

int drv_service_add(struct drv_ctl *ctl, const struct drv_svc_conf *conf); /* -EEXIST */
int drv_service_update(struct drv_ctl *ctl, const struct drv_svc_conf *conf); /* add or change */
/*
 * Warn on stderr, for nat service @svc, when its SNAT ports @lo-@hi (host
 * order; 0,0 → the defaults) overlap this network namespace's local port
 * range, and when its SNAT address @snat (@family) is not one of this
 * namespace's addresses (the nodes' answers to it would not reach drover).
 */
void drv_snat_warn(const char *svc, __u8 family, const union drv_addr *snat, __u16 lo, __u16 hi);
int drv_service_del(struct drv_ctl *ctl, const struct drv_svc_key *key); /* and its backends */
int drv_service_get(struct drv_ctl *ctl, const struct drv_svc_key *key, struct drv_svc *out);
/* Call @fn for each service, by id; stops at a non-zero return, which it returns. */
int drv_service_foreach(struct drv_ctl *ctl,
			int (*fn)(const struct drv_svc_key *key, const struct drv_svc *svc,
				  void *arg),
			void *arg);

int drv_backend_add(struct drv_ctl *ctl, const struct drv_svc_key *svc,
		    const struct drv_be_conf *be);
int drv_backend_set(struct drv_ctl *ctl, const struct drv_svc_key *svc,
		    const struct drv_be_conf *be);
int drv_backend_del(struct drv_ctl *ctl, const struct drv_svc_key *svc,
		    const struct drv_be_conf *be);
/* Fill @out (up to @max) with the service's backends; returns the count or -errno. */
int drv_backend_list(struct drv_ctl *ctl, const struct drv_svc_key *svc, struct drv_be_info *out,
		     size_t max);

/*
 * Every backend slot with its counters, by id (@out: DRV_MAX_BACKENDS of them;
 * family 0: free), in two batch lookups: what drv_backend_list() reads with
 * one syscall per backend, for all the services at once. A backend whose id
 * was freed or reused while it was read is left out (family 0). 0 or -errno.
 */
int drv_backends_read_all(struct drv_ctl *ctl, struct drv_be_info *out);

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
/*
 * The same for every entry at once (a batch lookup, few syscalls): @out holds
 * __DRV_STAT_MAX, DRV_MAX_SVCS and DRV_MAX_BACKENDS entries, indexed by id.
 */
int drv_stats_read_all(struct drv_ctl *ctl, struct drv_counter *out);
int drv_svc_stats_read_all(struct drv_ctl *ctl, struct drv_lb_counters *out);
int drv_be_stats_read_all(struct drv_ctl *ctl, struct drv_lb_counters *out);
/* Names of enum drv_stat, for output ("xdp_pass", "drop_ip_frag", ...). */
extern const char *const drv_stat_names[__DRV_STAT_MAX];

int drv_cfg_read(struct drv_ctl *ctl, struct drv_cfg *out);
int drv_cfg_write(struct drv_ctl *ctl, const struct drv_cfg *cfg);

/* Where would a flow go now? Uses drv_flow_hash and the service's active table. */
int drv_lookup(struct drv_ctl *ctl, const struct drv_svc_key *svc, const union drv_addr *client,
	       __be16 client_port, __u32 *be_id, struct drv_backend *be);

/* --- Extensions (CLI engineer): additions only, the contract above is unchanged. --- */

/* An interface drover is attached to, as found from the link pins under <root>/links. */
struct drv_prog_iface {
	char ifname[64]; /* name of the pin (= interface name at attach time) */
	__u32 ifindex; /* 0: the link is defunct (interface gone) */
	__u32 link_id;
	__u32 prog_id;
	__u8 attach_mode; /* XDP_ATTACHED_DRV / _SKB (linux/if_link.h), 0 unknown */
	char renamed[16]; /* the link's device here, renamed since the attach; "" if not */
};

/* "native", "skb", "offload", "multiple", or "none" for an XDP_ATTACHED_* value. */
const char *drv_xdp_attach_mode_str(__u8 attach_mode);
/* "native" or "skb": @mode as the CLI and the config spell it. */
const char *drv_xdp_mode_str(enum drv_xdp_mode mode);

/* Fill @out (up to @max) with the attached interfaces; returns the count or -errno. */
int drv_prog_list(const char *root, struct drv_prog_iface *out, size_t max);
/*
 * drv_prog_detach_opts - detach @ifname; when it was the last interface and
 * @keep_maps is false, also remove every pinned map and the pin directories
 * (nothing of drover is left under @root).
 */
int drv_prog_detach_opts(const char *root, const char *ifname, bool keep_maps);

/*
 * drv_bpffs_probe - is @root (or, if @root does not exist, its parent) on a
 * bpffs? Return: 0, or -errno (-ENOENT, -ENOTDIR, ...) with @msg saying what
 * is wrong and what to do (no "Error:", no newline). drv_bpffs_check says it
 * as an error.
 */
int drv_bpffs_probe(const char *root, char *msg, size_t len);
int drv_bpffs_check(const char *root);

/* <root>/DRV_PIN_AGENT_LOCK: the agent holds flock() on it for its lifetime. */
#define DRV_PIN_AGENT_LOCK "agent_lock" /* bpffs refuses names with a dot */

/*
 * drv_agent_lock - make sure only one agent runs on @root: creates @root (on
 * a bpffs: drv_bpffs_check first) and the lock directory in it, and holds an
 * exclusive flock() on that directory (not on @root, which drover commands
 * and the agent lock around their changes). Released by the kernel when the
 * process dies, so an agent killed leaves nothing in the way.
 * Return: the fd holding it (for drv_agent_unlock), or -errno, said (another
 * agent holds it: -EWOULDBLOCK, naming its pid where /proc/locks shows it).
 */
int drv_agent_lock(const char *root);
/* Let go of drv_agent_lock's @fd; removes the lock directory, and @root if empty. */
void drv_agent_unlock(const char *root, int fd);
/*
 * drv_agent_pid - the pid of the agent that holds @root's agent lock, read from /proc/locks
 * without taking the lock (an agent starting meanwhile must not find it held): 0 when none
 * runs, or its pid is not visible from this pid namespace.
 */
int drv_agent_pid(const char *root);

/* Count the entries of a map, at most @max lookups (bounded walk). */
int drv_map_count(int fd, __u32 max, __u32 *count);
/* max_entries of the map behind @fd, 0 on error. */
__u32 drv_map_max_entries(int fd);
/* Backend ids in use (of 1..DRV_MAX_BACKENDS-1) in *@n: 0, or -errno. */
int drv_backend_ids_used(struct drv_ctl *ctl, __u32 *n);

/* Recorded flow of @key in drv_flows: 0 and *out, -ENOENT. */
int drv_flow_lookup(struct drv_ctl *ctl, const struct drv_flow_key *key, struct drv_flow *out);
/*
 * Count live recorded flows per backend id (not expired, backend_gen equal to
 * the backend's current gen), walking at most max_entries of drv_flows.
 * @counts: DRV_MAX_BACKENDS entries, zeroed first.
 */
int drv_flows_per_backend(struct drv_ctl *ctl, __u32 *counts);
/*
 * Is recorded flow @f expired at @now_ns (drv_flow_now_ns(), the clock the
 * program stamps flows with), as the program judges it with @cfg's timeouts?
 */
bool drv_flow_expired(const struct drv_cfg *cfg, const struct drv_flow *f, __u64 now_ns);
__u64 drv_flow_now_ns(void);
/* Find the service with id @id: 0 and *key, *svc; -ENOENT. */
int drv_service_by_id(struct drv_ctl *ctl, __u32 id, struct drv_svc_key *key, struct drv_svc *svc);

/*
 * Pure helpers (no maps), exposed for unit tests.
 * drv_be_find: id of @c's backend (same family/addr/port; port 0 → @svc_port)
 * among @bes[1..n-1] owned by @svc_id, or -ENOENT.
 * drv_be_alloc: lowest free id (family 0) in 1..n-1, or -ENOSPC.
 * drv_svc_conf_check: validate a service (table size prime, snat family, port range);
 * 0 or -EINVAL with a message in @err.
 * drv_be_confs_check: validate a desired backend set for @key (family, duplicates);
 * 0, -EINVAL or -EEXIST with a message in @err.
 */
int drv_be_find(const struct drv_backend *bes, size_t n, __u32 svc_id, __be16 svc_port,
		const struct drv_be_conf *c);
int drv_be_alloc(const struct drv_backend *bes, size_t n);
int drv_svc_conf_check(const struct drv_svc_conf *c, char *err, size_t len);
int drv_be_confs_check(const struct drv_svc_key *key, const struct drv_be_conf *bes, size_t n,
		       char *err, size_t len);
/* Text of a service key "ADDR port PORT proto tcp" / of enum values. */
const char *drv_svc_key_str(const struct drv_svc_key *key, char *buf, size_t len);
const char *drv_mode_name(__u8 mode);
/* What a service's snat address is for in @mode (nat, tunnel), for messages. */
const char *drv_snat_role(__u8 mode);
const char *drv_be_state_name(__u8 state);

#endif /* __DROVER_CTL_H */
