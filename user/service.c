// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Services and their backends. Every change is atomic from a packet's view:
 * the new Maglev table goes into the service's idle window (mmap of
 * drv_maglev), then one update of the drv_svcs value flips `active`.
 * A backend that joins the table is written before the flip, one that leaves
 * it after, so no packet finds an id in the table whose entry says "not UP".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>

#include <bpf/bpf.h>

#include "drover/maps.h"
#include "ctl.h"
#include "ctl_int.h"
#include "log.h"
#include "maglev.h"
#include "util.h"

#define SVC_ITER_MAX (DRV_MAX_SVCS * 4) /* bound of a walk over drv_svcs */

static const char *fam_name(__u8 family)
{
	return family == DRV_FAMILY_V6 ? "IPv6" : family == DRV_FAMILY_V4 ? "IPv4" : "unknown";
}

int drv_be_find(const struct drv_backend *bes, size_t n, __u32 svc_id, __be16 svc_port,
		const struct drv_be_conf *c)
{
	__be16 port = c->port ? c->port : svc_port;
	size_t id;

	for (id = 1; id < n; id++) {
		const struct drv_backend *b = &bes[id];

		if (b->family && b->svc_id == svc_id && b->family == c->family && b->port == port &&
		    !memcmp(&b->addr, &c->addr, sizeof(b->addr)))
			return (int)id;
	}
	return -ENOENT;
}

int drv_be_alloc(const struct drv_backend *bes, size_t n)
{
	size_t id;

	for (id = 1; id < n; id++)
		if (!bes[id].family)
			return (int)id;
	return -ENOSPC;
}

const char *drv_snat_role(__u8 mode)
{
	return mode == DRV_MODE_TUNNEL ?
		       "the outer source address of the packets it wraps toward the nodes (the balancer's address toward them)" :
		       "the balancer's address the nodes send replies to";
}

int drv_svc_conf_check(const struct drv_svc_conf *c, char *err, size_t len)
{
	const struct drv_svc_key *k = &c->key;
	char a[DRV_ADDR_STRLEN], ks[128];

	if (k->family != DRV_FAMILY_V4 && k->family != DRV_FAMILY_V6) {
		snprintf(err, len, "service address family %u is not IPv4 or IPv6", k->family);
		return -EINVAL;
	}
	if (k->family == DRV_FAMILY_V4 && (k->vip.v6[1] | k->vip.v6[2] | k->vip.v6[3])) {
		snprintf(err, len, "IPv4 service address has non-zero padding");
		return -EINVAL;
	}
	if (!k->port) {
		snprintf(err, len, "service port 0 is not valid (1-65535)");
		return -EINVAL;
	}
	if (k->proto != 6) {
		snprintf(err, len, "service protocol %u is not supported: only tcp", k->proto);
		return -EINVAL;
	}
	if (c->mode >= __DRV_MODE_MAX) {
		snprintf(err, len, "service mode %u is not nat, dsr or tunnel", c->mode);
		return -EINVAL;
	}
	if (c->table_size && (c->table_size > DRV_MAGLEV_MAX || !drv_is_prime(c->table_size))) {
		snprintf(err, len,
			 "table size %u is not a prime ≤ %u (e.g. 251, 1021, 4093, 16381, 65537)",
			 c->table_size, DRV_MAGLEV_MAX);
		return -EINVAL;
	}
	if (c->mode == DRV_MODE_NAT || c->mode == DRV_MODE_TUNNEL) {
		if (drv_addr_is_zero(&c->snat)) {
			snprintf(err, len, "service %s in mode %s needs 'snat ADDR': %s",
				 drv_svc_key_str(k, ks, sizeof(ks)), drv_mode_name(c->mode),
				 drv_snat_role(c->mode));
			return -EINVAL;
		}
		if (k->family == DRV_FAMILY_V4 && (c->snat.v6[1] | c->snat.v6[2] | c->snat.v6[3])) {
			snprintf(err, len, "snat address must be IPv4 like the service address %s",
				 drv_addr_format(&k->vip, k->family, a, sizeof(a)));
			return -EINVAL;
		}
	}
	if (c->mode == DRV_MODE_DSR && !drv_addr_is_zero(&c->snat)) {
		snprintf(
			err, len,
			"service %s in mode dsr takes no snat: the packet reaches the node unchanged and the node answers the client from the VIP",
			drv_svc_key_str(k, ks, sizeof(ks)));
		return -EINVAL;
	}
	if ((c->snat_port_lo || c->snat_port_hi) &&
	    (!c->snat_port_lo || c->snat_port_lo > c->snat_port_hi)) {
		snprintf(err, len, "snat-ports %u-%u is not a range LO-HI with 1 ≤ LO ≤ HI ≤ 65535",
			 c->snat_port_lo, c->snat_port_hi);
		return -EINVAL;
	}
	return 0;
}

int drv_be_confs_check(const struct drv_svc_key *key, const struct drv_be_conf *bes, size_t n,
		       char *err, size_t len)
{
	char a[DRV_ADDR_STRLEN], s[DRV_ADDR_STRLEN];
	const char *why;
	size_t i, j;

	for (i = 0; i < n; i++) {
		const struct drv_be_conf *c = &bes[i];

		drv_addr_format(&c->addr, c->family, a, sizeof(a));
		if (c->family != key->family) {
			snprintf(err, len, "backend %s is %s but service %s is %s", a,
				 fam_name(c->family),
				 drv_addr_format(&key->vip, key->family, s, sizeof(s)),
				 fam_name(key->family));
			return -EINVAL;
		}
		why = drv_addr_not_host(&c->addr, c->family);
		if (!why && !memcmp(&c->addr, &key->vip, sizeof(c->addr)))
			why = "it is the service's VIP";
		if (why) {
			snprintf(
				err, len,
				"backend address %s is not a node address (%s): give a node's address",
				a, why);
			return -EINVAL;
		}
		if (c->state >= __DRV_BE_STATE_MAX) {
			snprintf(err, len,
				 "backend %s: state %u is not up, drain, down, failing or leaving",
				 a, c->state);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			__be16 pi = c->port ? c->port : key->port;
			__be16 pj = bes[j].port ? bes[j].port : key->port;

			if (bes[j].family == c->family && pi == pj &&
			    !memcmp(&bes[j].addr, &c->addr, sizeof(c->addr))) {
				snprintf(err, len, "backend %s port %u is listed twice", a,
					 ntohs(pi));
				return -EEXIST;
			}
		}
	}
	return 0;
}

static bool be_in_table(const struct drv_backend *b, __u32 svc_id)
{
	return b->family && b->svc_id == svc_id && b->state == DRV_BE_UP && b->weight > 0;
}

static int be_write(struct drv_ctl *ctl, __u32 id, const struct drv_backend *b)
{
	if (bpf_map_update_elem(ctl->bes_fd, &id, b, BPF_ANY)) {
		int err = -errno;

		pr_warn("Error: can't write backend %u to %s/%s: %s; retry the change\n", id,
			ctl->root, DRV_STR(DRV_MAP_BACKENDS), strerror(-err));
		return err;
	}
	return 0;
}

/* Zero a per-CPU counter entry (a reused id must not inherit old counts). */
static void percpu_zero(struct drv_ctl *ctl, int fd, __u32 key, size_t size)
{
	void *z = calloc((size_t)ctl->ncpus, size);

	if (!z)
		return;
	bpf_map_update_elem(fd, &key, z, BPF_ANY);
	free(z);
}

/* How many distinct backends the @size entries of @table name. */
static __u32 table_backends(const __u32 *table, __u32 size)
{
	unsigned char seen[DRV_MAX_BACKENDS] = { 0 };
	__u32 i, n = 0;

	for (i = 0; i < size; i++) {
		if (table[i] == DRV_BE_NONE || table[i] >= DRV_MAX_BACKENDS || seen[table[i]])
			continue;
		seen[table[i]] = 1;
		n++;
	}
	return n;
}

/*
 * svcs_quiesce - return once no packet can still be reading what a drv_svcs
 * update or delete replaced. The kernel hands a replaced hash element's
 * memory to the next update at once, and the next flip rewrites the window
 * the old value pointed to, while a packet uses the value it looked up for
 * its whole run. XDP runs inside an RCU read-side section, so one RCU grace
 * period is enough: membarrier(MEMBARRIER_CMD_GLOBAL) waits for one
 * (synchronize_rcu). Writers hold the pin root's lock through it, so the next
 * update, from any drover, comes after. Without membarrier (nohz_full, an
 * old kernel) 50 ms stands in, far above a grace period on an idle system.
 */
static void svcs_quiesce(void)
{
	static bool said;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	if (!syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		return;
	if (!said)
		pr_debug(
			"membarrier(MEMBARRIER_CMD_GLOBAL): %s; waiting 50 ms after service updates instead\n",
			strerror(errno));
	said = true;
	nanosleep(&ts, NULL);
}

static void cfg_reply_ports_update(struct drv_ctl *ctl, const struct drv_svc *next);

/*
 * svc_table_build - the Maglev table of @svc from its backends in @bes
 * @table: out: a new array of svc->table_size entries (caller frees)
 * @n: out: how many backends it was built from
 */
static int svc_table_build(const struct drv_svc_key *key, const struct drv_svc *svc,
			   const struct drv_backend *bes, __u32 **table, __u32 *n)
{
	struct drv_maglev_backend *mb;
	char buf[128];
	__u32 id;
	int err;

	*n = 0;
	mb = calloc(DRV_MAX_BACKENDS, sizeof(*mb));
	*table = calloc(svc->table_size, sizeof(**table));
	if (!mb || !*table) {
		err = -ENOMEM;
		goto out_free;
	}
	for (id = 1; id < DRV_MAX_BACKENDS; id++) {
		if (!be_in_table(&bes[id], svc->id))
			continue;
		mb[*n].addr = bes[id].addr;
		mb[*n].port = bes[id].port;
		mb[*n].family = bes[id].family;
		mb[*n].weight = bes[id].weight;
		mb[*n].id = id;
		(*n)++;
	}
	err = drv_maglev_build(mb, *n, svc->table_size, *table);
	if (err)
		pr_warn("Error: can't build the Maglev table of service %s (%u backends, size %u): %s; free some memory and retry\n",
			drv_svc_key_str(key, buf, sizeof(buf)), *n, svc->table_size,
			strerror(-err));
out_free:
	free(mb);
	if (err) {
		free(*table);
		*table = NULL;
	}
	return err;
}

/* Does @svc's active window hold the table @bes builds? 0 and *@same, or -errno. */
static int svc_table_same(struct drv_ctl *ctl, const struct drv_svc_key *key,
			  const struct drv_svc *svc, const struct drv_backend *bes, bool *same)
{
	__u32 *table, n, i;
	int err;

	*same = false;
	if (svc->id >= DRV_MAX_SVCS || svc->active > 1)
		return 0;
	err = svc_table_build(key, svc, bes, &table, &n);
	if (err)
		return err;
	for (i = 0; i < svc->table_size; i++)
		if (*drv_maglev_entry(ctl, DRV_MAGLEV_INDEX(svc->id, svc->active, i)) != table[i])
			break;
	*same = i == svc->table_size;
	free(table);
	return 0;
}

/*
 * svc_flip - build @svc's table from @bes into its idle window, then publish it
 * @svc: in: the new service value with the current active slot; out: as written
 */
static int svc_flip(struct drv_ctl *ctl, const struct drv_svc_key *key, struct drv_svc *svc,
		    const struct drv_backend *bes)
{
	struct drv_svc ns = *svc;
	char buf[128];
	__u32 *table = NULL, id, n;
	int err;

	err = drv_svc_value_check(ctl, key, svc);
	if (err)
		return err;
	err = svc_table_build(key, svc, bes, &table, &n);
	if (err)
		return err;
	ns.active = svc->active ? 0 : 1;
	ns.nbackends = table_backends(table, svc->table_size);
	if (ns.nbackends < n)
		pr_warn("Warning: service %s: its table (table-size %u) holds only %u of its %u backends; the others get no new flows: choose a prime table-size of at least 100 x the backends\n",
			drv_svc_key_str(key, buf, sizeof(buf)), svc->table_size, ns.nbackends, n);
	for (id = 0; id < svc->table_size; id++)
		*drv_maglev_entry(ctl, DRV_MAGLEV_INDEX(svc->id, ns.active, id)) = table[id];
	/* replies to its SNAT ports are translated from its first flow on */
	cfg_reply_ports_update(ctl, &ns);
	/* the whole window must be visible before the value that points at it */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (bpf_map_update_elem(ctl->svcs_fd, key, &ns, BPF_ANY)) {
		err = -errno;
		pr_warn("Error: can't update service %s in %s/%s: %s; it keeps its last table: retry the change\n",
			drv_svc_key_str(key, buf, sizeof(buf)), ctl->root, DRV_STR(DRV_MAP_SVCS),
			strerror(-err));
		goto out_free;
	}
	svcs_quiesce();
	*svc = ns;
out_free:
	free(table);
	return err;
}

struct svc_ent {
	struct drv_svc_key key;
	struct drv_svc svc;
};

/* Read every service (bounded walk); returns the count or -errno. */
static int svcs_read(struct drv_ctl *ctl, struct svc_ent *out, size_t max)
{
	struct drv_svc_key key, next;
	size_t n = 0;
	int i;

	for (i = 0; i < SVC_ITER_MAX && n < max; i++) {
		if (bpf_map_get_next_key(ctl->svcs_fd, i ? &key : NULL, &next))
			return errno == ENOENT ? (int)n : -errno;
		key = next;
		if (bpf_map_lookup_elem(ctl->svcs_fd, &key, &out[n].svc))
			continue;
		out[n].key = key;
		n++;
	}
	return (int)n;
}

static void reply_ports_add(const struct drv_svc *s, __u16 *lo, __u16 *hi)
{
	if (s->mode != DRV_MODE_NAT)
		return;
	if (!*lo || s->snat_port_lo < *lo)
		*lo = s->snat_port_lo;
	if (s->snat_port_hi > *hi)
		*hi = s->snat_port_hi;
}

/*
 * Keep drv_cfg.reply_port_lo/hi covering every nat service's SNAT ports, and
 * those of @next (NULL: none), a service value about to be written. It
 * only grows: flows recorded on a service's old ports (its range changed, or
 * it was deleted and added again) keep getting their replies translated. It
 * starts over with fresh maps at the next first attach.
 */
static void cfg_reply_ports_update(struct drv_ctl *ctl, const struct drv_svc *next)
{
	struct svc_ent ents[DRV_MAX_SVCS];
	struct drv_cfg cfg;
	__u16 lo = 0, hi = 0;
	int n, i, err;

	n = svcs_read(ctl, ents, DRV_MAX_SVCS);
	if (n < 0 || drv_cfg_read(ctl, &cfg))
		return;
	for (i = 0; i < n; i++)
		reply_ports_add(&ents[i].svc, &lo, &hi);
	if (next)
		reply_ports_add(next, &lo, &hi);
	if (cfg.reply_port_hi) { /* 0,0 means every port: nothing to keep */
		if (!lo || cfg.reply_port_lo < lo)
			lo = cfg.reply_port_lo;
		if (cfg.reply_port_hi > hi)
			hi = cfg.reply_port_hi;
	}
	if (cfg.reply_port_lo == lo && cfg.reply_port_hi == hi)
		return;
	cfg.reply_port_lo = lo;
	cfg.reply_port_hi = hi;
	err = drv_cfg_write(ctl, &cfg);
	if (err)
		pr_warn("Warning: couldn't widen the SNAT reply port range in %s/%s to %u-%u: %s; nat replies to the ports it lacks may pass untranslated: retry the change\n",
			ctl->root, DRV_STR(DRV_MAP_CFG), lo, hi, strerror(-err));
}

int drv_service_get(struct drv_ctl *ctl, const struct drv_svc_key *key, struct drv_svc *out)
{
	return bpf_map_lookup_elem(ctl->svcs_fd, key, out) ? -errno : 0;
}

static int svc_ent_by_id(const void *a, const void *b)
{
	const struct svc_ent *x = a, *y = b;

	return (x->svc.id > y->svc.id) - (x->svc.id < y->svc.id);
}

/* In id order (service show, stats, -j), not the hash map's. */
int drv_service_foreach(struct drv_ctl *ctl,
			int (*fn)(const struct drv_svc_key *key, const struct drv_svc *svc,
				  void *arg),
			void *arg)
{
	struct svc_ent ents[DRV_MAX_SVCS];
	int n, i, err;

	n = svcs_read(ctl, ents, DRV_MAX_SVCS);
	if (n < 0)
		return n;
	qsort(ents, (size_t)n, sizeof(ents[0]), svc_ent_by_id);
	for (i = 0; i < n; i++) {
		err = fn(&ents[i].key, &ents[i].svc, arg);
		if (err)
			return err;
	}
	return 0;
}

int drv_service_by_id(struct drv_ctl *ctl, __u32 id, struct drv_svc_key *key, struct drv_svc *svc)
{
	struct svc_ent ents[DRV_MAX_SVCS];
	int n, i;

	n = svcs_read(ctl, ents, DRV_MAX_SVCS);
	for (i = 0; i < n; i++) {
		if (ents[i].svc.id == id) {
			*key = ents[i].key;
			*svc = ents[i].svc;
			return 0;
		}
	}
	return n < 0 ? n : -ENOENT;
}

static void svc_from_conf(struct drv_svc *s, const struct drv_svc_conf *c)
{
	s->mode = c->mode;
	s->table_size = c->table_size ? c->table_size : DRV_MAGLEV_MAX;
	/* nat: replies come back to it; tunnel: the outer source; dsr has none */
	s->snat = c->mode != DRV_MODE_DSR ? c->snat : (union drv_addr){};
	s->snat_port_lo = c->snat_port_lo ? c->snat_port_lo : DRV_SNAT_PORT_LO_DEFAULT;
	s->snat_port_hi = c->snat_port_hi ? c->snat_port_hi : DRV_SNAT_PORT_HI_DEFAULT;
}

static int svc_not_found(const struct drv_svc_key *key)
{
	char buf[128];

	pr_warn("Error: service %s does not exist (see drover service show)\n",
		drv_svc_key_str(key, buf, sizeof(buf)));
	return -ENOENT;
}

/* Create a new service with an empty table; @bes: a snapshot, leftovers of its id are cleared. */
static int svc_create(struct drv_ctl *ctl, const struct drv_svc_conf *conf, struct drv_backend *bes,
		      struct drv_svc *out)
{
	struct svc_ent ents[DRV_MAX_SVCS];
	bool used[DRV_MAX_SVCS] = {};
	struct drv_svc s = {};
	char buf[128];
	int n, i, err;
	__u32 id;

	n = svcs_read(ctl, ents, DRV_MAX_SVCS);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		if (ents[i].svc.id < DRV_MAX_SVCS)
			used[ents[i].svc.id] = true;
	for (id = 0; id < DRV_MAX_SVCS && used[id]; id++)
		;
	if (id == DRV_MAX_SVCS) {
		pr_warn("Error: can't add service %s: all %d service slots are used; delete one first\n",
			drv_svc_key_str(&conf->key, buf, sizeof(buf)), DRV_MAX_SVCS);
		return -ENOSPC;
	}
	for (i = 1; i < DRV_MAX_BACKENDS; i++) {
		if (bes[i].family && bes[i].svc_id == id) {
			bes[i].family = 0;
			bes[i].gen++;
			err = be_write(ctl, i, &bes[i]);
			if (err)
				return err;
		}
	}
	s.id = id;
	s.active = 1; /* the flip below fills window 0 and makes it active */
	svc_from_conf(&s, conf);
	percpu_zero(ctl, ctl->svc_stats_fd, id, sizeof(struct drv_lb_counters));
	err = svc_flip(ctl, &conf->key, &s, bes);
	if (!err)
		*out = s;
	return err;
}

static void snat_ports_warn(const char *svc, __u16 lo, __u16 hi)
{
	unsigned int elo, ehi;
	FILE *f;

	if (!lo || hi < lo) {
		lo = DRV_SNAT_PORT_LO_DEFAULT;
		hi = DRV_SNAT_PORT_HI_DEFAULT;
	}
	f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	if (!f)
		return;
	if (fscanf(f, "%u %u", &elo, &ehi) == 2 && lo <= ehi && hi >= elo)
		pr_warn("Warning: SNAT ports %u-%u of service %s overlap this host's local port range %u-%u (net.ipv4.ip_local_port_range): a connection the host itself opens to a node (a health check) can take a port a NAT flow uses; choose snat-ports outside it, or list them in net.ipv4.ip_local_reserved_ports\n",
			lo, hi, svc, elo, ehi);
	fclose(f);
}

/* Whether @addr (@family) is an address of an interface of this network namespace. */
static bool addr_is_local(__u8 family, const union drv_addr *addr)
{
	struct ifaddrs *ifa, *i;
	bool found = false;

	if (getifaddrs(&ifa))
		return true; /* cannot tell: say nothing */
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (family == DRV_FAMILY_V4 && i->ifa_addr->sa_family == AF_INET)
			found = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == addr->v4;
		else if (family == DRV_FAMILY_V6 && i->ifa_addr->sa_family == AF_INET6)
			found = !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, addr->v6,
					16);
	}
	freeifaddrs(ifa);
	return found;
}

void drv_snat_warn(const char *svc, __u8 family, const union drv_addr *snat, __u16 lo, __u16 hi)
{
	char a[INET6_ADDRSTRLEN];

	snat_ports_warn(svc, lo, hi);
	if (addr_is_local(family, snat))
		return;
	drv_addr_format(snat, family, a, sizeof(a));
	pr_warn("Warning: the snat address %s of service %s is not an address of this host: the nodes answer it, and while no interface here holds it their answers never reach drover and every connection through the service hangs; add it to the interface facing the nodes (ip addr add %s/PREFIX dev IFNAME), or, where keepalived moves it between balancers, check it is on the one holding the VIP\n",
		a, svc, a);
}

/*
 * dsr and tunnel hand the client's packet on with its destination port
 * unchanged, so a node can only be reached on the service port: refuse a
 * backend on another port (or a switch to such a mode with one) rather than
 * show a port that traffic would never use.
 */
static int be_port_fits_mode(const struct drv_svc_key *key, __u8 mode, const union drv_addr *addr,
			     __u8 family, __be16 port)
{
	char sb[128], a[DRV_ADDR_STRLEN];

	if (mode == DRV_MODE_NAT || !port || port == key->port)
		return 0;
	pr_warn("Error: service %s is in %s mode: nodes receive its port %u unchanged, so backend %s can't use port %u; leave the port out, or use mode nat\n",
		drv_svc_key_str(key, sb, sizeof(sb)), drv_mode_name(mode), ntohs(key->port),
		drv_addr_format(addr, family, a, sizeof(a)), ntohs(port));
	return -EINVAL;
}

static int svc_mode_fits_backends(const struct drv_svc_conf *conf, __u32 svc_id,
				  const struct drv_backend *bes)
{
	__u32 id;

	for (id = 1; id < DRV_MAX_BACKENDS; id++) {
		if (!bes[id].family || bes[id].svc_id != svc_id)
			continue;
		if (be_port_fits_mode(&conf->key, conf->mode, &bes[id].addr, bes[id].family,
				      bes[id].port))
			return -EINVAL;
	}
	return 0;
}

/* The key of the service with id @id among @ents, for a message; NULL if none. */
static const struct drv_svc_key *svc_key_by_id(const struct svc_ent *ents, int n, __u32 id)
{
	int i;

	for (i = 0; i < n; i++)
		if (ents[i].svc.id == id)
			return &ents[i].key;
	return NULL;
}

/* Does nat service @s (SNAT address and range) translate replies on @vip port @port? */
static bool snat_takes(const struct drv_svc *s, __u8 family, __u8 s_family,
		       const union drv_addr *vip, __be16 port)
{
	return s->mode == DRV_MODE_NAT && s_family == family &&
	       !memcmp(&s->snat, vip, sizeof(*vip)) && ntohs(port) >= s->snat_port_lo &&
	       ntohs(port) <= s->snat_port_hi;
}

/* The first backend id in @bes at @addr of @family; 0: none. */
static __u32 be_at(const struct drv_backend *bes, __u8 family, const union drv_addr *addr)
{
	__u32 id;

	for (id = 1; id < DRV_MAX_BACKENDS; id++)
		if (bes[id].family == family && !memcmp(&bes[id].addr, addr, sizeof(*addr)))
			return id;
	return 0;
}

/*
 * What the agent's config refuses (config.c snat_clash, node_is_vip), against
 * the pinned services, for service @conf about to be added or changed (@bes:
 * every backend slot): its VIP may be no backend of any service (that node's
 * flows would come back as new flows); its snat address may be no backend of
 * any service (the node would answer itself), nor, in nat, the VIP of a
 * service whose port lies in its SNAT range (the nodes' replies to that port
 * would reach that service as new flows); nor may @conf's own VIP and port lie
 * in another nat service's.
 */
static int svc_addr_clash(struct drv_ctl *ctl, const struct drv_svc_conf *conf,
			  const struct drv_backend *bes)
{
	const struct drv_svc_key *k = &conf->key, *o;
	char sb[128], ob[128], a[DRV_ADDR_STRLEN];
	struct svc_ent ents[DRV_MAX_SVCS];
	struct drv_svc me = {};
	int n, i;
	__u32 id;

	n = svcs_read(ctl, ents, DRV_MAX_SVCS);
	if (n < 0)
		return n;
	svc_from_conf(&me, conf);
	drv_svc_key_str(k, sb, sizeof(sb));
	if ((id = be_at(bes, k->family, &k->vip))) {
		o = svc_key_by_id(ents, n, bes[id].svc_id);
		pr_warn("Error: VIP %s of service %s is backend %u of service %s, a node: give a VIP that is no node's address\n",
			drv_addr_format(&k->vip, k->family, a, sizeof(a)), sb, id,
			o ? drv_svc_key_str(o, ob, sizeof(ob)) : "(none)");
		return -EINVAL;
	}
	if (me.mode != DRV_MODE_DSR) {
		drv_addr_format(&me.snat, k->family, a, sizeof(a));
		if ((id = be_at(bes, k->family, &me.snat))) {
			o = svc_key_by_id(ents, n, bes[id].svc_id);
			pr_warn("Error: snat %s of service %s is backend %u of service %s, a node: give the balancer's own address\n",
				a, sb, id, o ? drv_svc_key_str(o, ob, sizeof(ob)) : "(none)");
			return -EINVAL;
		}
		for (i = -1; i < n; i++) {
			o = i < 0 ? k : &ents[i].key;
			if (snat_takes(&me, o->family, k->family, &o->vip, o->port)) {
				pr_warn("Error: SNAT ports %u-%u of service %s take port %u of VIP %s (service %s): the nodes' replies to it would reach that service; choose snat-ports without it\n",
					me.snat_port_lo, me.snat_port_hi, sb, ntohs(o->port), a,
					drv_svc_key_str(o, ob, sizeof(ob)));
				return -EINVAL;
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (!memcmp(&ents[i].key, k, sizeof(*k)) ||
		    !snat_takes(&ents[i].svc, k->family, ents[i].key.family, &k->vip, k->port))
			continue;
		pr_warn("Error: port %u of VIP %s is in the SNAT ports %u-%u of service %s, whose snat address it is: the nodes' replies would reach service %s; choose another port, or change that service's snat-ports\n",
			ntohs(k->port), drv_addr_format(&k->vip, k->family, a, sizeof(a)),
			ents[i].svc.snat_port_lo, ents[i].svc.snat_port_hi,
			drv_svc_key_str(&ents[i].key, ob, sizeof(ob)), sb);
		return -EINVAL;
	}
	return 0;
}

/*
 * A backend @c about to be added: no service may have its address as VIP
 * (that node's flows would come back as new flows) or as snat (the
 * balancer's own).
 */
static int be_addr_clash(struct drv_ctl *ctl, const struct drv_be_conf *c)
{
	char ob[128], a[DRV_ADDR_STRLEN];
	struct svc_ent ents[DRV_MAX_SVCS];
	int n, i;

	n = svcs_read(ctl, ents, DRV_MAX_SVCS);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (ents[i].key.family != c->family)
			continue;
		if (!memcmp(&ents[i].key.vip, &c->addr, sizeof(c->addr))) {
			pr_warn("Error: backend address %s is the VIP of service %s: give the node's own address\n",
				drv_addr_format(&c->addr, c->family, a, sizeof(a)),
				drv_svc_key_str(&ents[i].key, ob, sizeof(ob)));
			return -EINVAL;
		}
		if (ents[i].svc.mode == DRV_MODE_DSR ||
		    memcmp(&ents[i].svc.snat, &c->addr, sizeof(c->addr)))
			continue;
		pr_warn("Error: backend address %s is the snat address of service %s, the balancer's own: give a node's address\n",
			drv_addr_format(&c->addr, c->family, a, sizeof(a)),
			drv_svc_key_str(&ents[i].key, ob, sizeof(ob)));
		return -EINVAL;
	}
	return 0;
}

static int svc_apply(struct drv_ctl *ctl, const struct drv_svc_conf *conf, bool must_be_new)
{
	struct drv_backend *bes;
	struct drv_svc s, ns = {};
	char msg[256], buf[128];
	int err;

	err = drv_svc_conf_check(conf, msg, sizeof(msg));
	if (err) {
		pr_warn("Error: %s\n", msg);
		return err;
	}
	bes = drv_bes_load(ctl);
	if (!bes)
		return -errno;
	err = svc_addr_clash(ctl, conf, bes);
	if (err)
		goto out_free;
	if (!drv_service_get(ctl, &conf->key, &s)) {
		if (must_be_new) {
			pr_warn("Error: service %s already exists; change it with `drover service set` or delete it first\n",
				drv_svc_key_str(&conf->key, buf, sizeof(buf)));
			err = -EEXIST;
			goto out_free;
		}
		err = svc_mode_fits_backends(conf, s.id, bes);
		if (err)
			goto out_free;
		ns = s;
		svc_from_conf(&ns, conf);
		err = svc_flip(ctl, &conf->key, &ns, bes);
	} else {
		err = svc_create(ctl, conf, bes, &ns);
	}
	/* only of what was written: a refused command set no SNAT address or ports */
	if (!err && conf->mode == DRV_MODE_NAT)
		drv_snat_warn(drv_svc_key_str(&conf->key, buf, sizeof(buf)), conf->key.family,
			      &conf->snat, conf->snat_port_lo, conf->snat_port_hi);
out_free:
	free(bes);
	return err;
}

int drv_service_add(struct drv_ctl *ctl, const struct drv_svc_conf *conf)
{
	return svc_apply(ctl, conf, true);
}

int drv_service_update(struct drv_ctl *ctl, const struct drv_svc_conf *conf)
{
	return svc_apply(ctl, conf, false);
}

/* The service @key and every backend slot (caller frees *@bes); -ENOENT named if no such service. */
static int svc_load(struct drv_ctl *ctl, const struct drv_svc_key *key, struct drv_svc *s,
		    struct drv_backend **bes)
{
	if (drv_service_get(ctl, key, s))
		return svc_not_found(key);
	*bes = drv_bes_load(ctl);
	return *bes ? 0 : -errno;
}

int drv_service_del(struct drv_ctl *ctl, const struct drv_svc_key *key)
{
	struct drv_backend *bes;
	struct drv_svc s;
	char buf[128];
	__u32 id;
	int err;

	err = svc_load(ctl, key, &s, &bes);
	if (err)
		return err;
	/* Packets stop matching first; then the backends are freed (gen+1). */
	if (bpf_map_delete_elem(ctl->svcs_fd, key)) {
		err = -errno;
		pr_warn("Error: can't delete service %s from %s/%s: %s; it still forwards: retry the delete\n",
			drv_svc_key_str(key, buf, sizeof(buf)), ctl->root, DRV_STR(DRV_MAP_SVCS),
			strerror(-err));
		goto out_free;
	}
	svcs_quiesce();
	for (id = 1; id < DRV_MAX_BACKENDS; id++) {
		if (!bes[id].family || bes[id].svc_id != s.id)
			continue;
		bes[id].family = 0;
		bes[id].state = DRV_BE_DOWN;
		bes[id].gen++;
		err = be_write(ctl, id, &bes[id]) ?: err;
	}
	cfg_reply_ports_update(ctl, NULL);
out_free:
	free(bes);
	return err;
}

static int be_conf_check_one(const struct drv_svc_key *key, const struct drv_be_conf *c)
{
	char msg[256];
	int err = drv_be_confs_check(key, c, 1, msg, sizeof(msg));

	if (err)
		pr_warn("Error: %s\n", msg);
	return err;
}

static const char *be_str(const struct drv_be_conf *c, __be16 svc_port, char *buf, size_t len)
{
	char a[DRV_ADDR_STRLEN];

	snprintf(buf, len, "%s port %u", drv_addr_format(&c->addr, c->family, a, sizeof(a)),
		 ntohs(c->port ? c->port : svc_port));
	return buf;
}

enum be_op { BE_ADD, BE_SET, BE_DEL };

static int be_change(struct drv_ctl *ctl, const struct drv_svc_key *key,
		     const struct drv_be_conf *c, enum be_op op)
{
	struct drv_backend *bes, nb, old;
	char sb[128], bb[128];
	bool was_in, now_in;
	struct drv_svc s;
	int err, id;

	if (drv_service_get(ctl, key, &s))
		return svc_not_found(key);
	/* before any write: a backend given an id out of range would belong to no service */
	err = drv_svc_value_check(ctl, key, &s) ?: be_conf_check_one(key, c);
	if (err)
		return err;
	bes = drv_bes_load(ctl);
	if (!bes)
		return -errno;
	id = drv_be_find(bes, DRV_MAX_BACKENDS, s.id, key->port, c);
	if (op == BE_ADD && id > 0) {
		pr_warn("Error: backend %s is already in service %s (id %d); change it with `drover backend set`\n",
			be_str(c, key->port, bb, sizeof(bb)), drv_svc_key_str(key, sb, sizeof(sb)),
			id);
		err = -EEXIST;
		goto out_free;
	}
	if (op != BE_ADD && id < 0) {
		pr_warn("Error: backend %s is not in service %s (see drover backend show %s)\n",
			be_str(c, key->port, bb, sizeof(bb)), drv_svc_key_str(key, sb, sizeof(sb)),
			drv_svc_key_str(key, sb, sizeof(sb)));
		err = -ENOENT;
		goto out_free;
	}
	if (op == BE_ADD) {
		err = be_port_fits_mode(key, s.mode, &c->addr, c->family, c->port) ?:
			      be_addr_clash(ctl, c);
		if (err)
			goto out_free;
		id = drv_be_alloc(bes, DRV_MAX_BACKENDS);
		if (id < 0) {
			pr_warn("Error: can't add backend %s: all %d backend ids are used; delete backends no longer needed (drover backend del) and retry\n",
				be_str(c, key->port, bb, sizeof(bb)), DRV_MAX_BACKENDS - 1);
			err = -ENOSPC;
			goto out_free;
		}
		memset(&nb, 0, sizeof(nb));
		nb.gen = bes[id].gen + 1;
		nb.addr = c->addr;
		nb.port = c->port ? c->port : key->port;
		nb.family = c->family;
		nb.svc_id = s.id;
		percpu_zero(ctl, ctl->be_stats_fd, (__u32)id, sizeof(struct drv_lb_counters));
	} else {
		nb = bes[id];
	}
	if (op == BE_DEL) {
		nb.family = 0;
		nb.state = DRV_BE_DOWN;
		nb.gen++;
	} else {
		nb.state = c->state;
		nb.weight = c->weight;
	}
	was_in = be_in_table(&bes[id], s.id);
	now_in = be_in_table(&nb, s.id);
	if (!was_in) {
		err = be_write(ctl, id, &nb);
		if (err)
			goto out_free;
	}
	old = bes[id];
	bes[id] = nb;
	if (was_in || now_in) {
		err = svc_flip(ctl, key, &s, bes);
		if (err) {
			/* As it was: up but out of the table, it would look done to a retry. */
			if (!was_in)
				be_write(ctl, id, &old);
			goto out_free;
		}
	}
	if (was_in)
		err = be_write(ctl, id, &nb);
out_free:
	free(bes);
	return err;
}

int drv_backend_add(struct drv_ctl *ctl, const struct drv_svc_key *svc,
		    const struct drv_be_conf *be)
{
	return be_change(ctl, svc, be, BE_ADD);
}

int drv_backend_set(struct drv_ctl *ctl, const struct drv_svc_key *svc,
		    const struct drv_be_conf *be)
{
	return be_change(ctl, svc, be, BE_SET);
}

int drv_backend_del(struct drv_ctl *ctl, const struct drv_svc_key *svc,
		    const struct drv_be_conf *be)
{
	return be_change(ctl, svc, be, BE_DEL);
}

int drv_backend_list(struct drv_ctl *ctl, const struct drv_svc_key *svc, struct drv_be_info *out,
		     size_t max)
{
	struct drv_backend *bes;
	struct drv_svc s;
	size_t n = 0;
	__u32 id;
	int err;

	err = svc_load(ctl, svc, &s, &bes);
	if (err)
		return err;
	for (id = 1; id < DRV_MAX_BACKENDS && n < max; id++) {
		if (!bes[id].family || bes[id].svc_id != s.id)
			continue;
		out[n].id = id;
		out[n].be = bes[id];
		if (drv_be_stats_read(ctl, id, &out[n].cnt))
			memset(&out[n].cnt, 0, sizeof(out[n].cnt));
		n++;
	}
	free(bes);
	return (int)n;
}

int drv_backends_read_all(struct drv_ctl *ctl, struct drv_be_info *out)
{
	struct drv_lb_counters *cnt;
	struct drv_backend *bes, *again;
	__u32 id;
	int err;

	bes = drv_bes_load(ctl);
	if (!bes)
		return -errno;
	cnt = calloc(DRV_MAX_BACKENDS, sizeof(*cnt));
	if (!cnt) {
		free(bes);
		return -ENOMEM;
	}
	err = drv_be_stats_read_all(ctl, cnt);
	/*
	 * Read without the pin lock (the agent's /metrics, while its reconcile
	 * runs): an id freed or reused between the two reads (its gen bumped)
	 * may have the counters of another backend. It is left out (family 0).
	 */
	again = drv_bes_load(ctl);
	for (id = 0; id < DRV_MAX_BACKENDS; id++) {
		out[id].id = id;
		out[id].be = bes[id];
		if (again && (again[id].gen != bes[id].gen || again[id].family != bes[id].family))
			out[id].be.family = 0;
		/* as drv_backend_list: counters that can't be read are 0 */
		out[id].cnt = err ? (struct drv_lb_counters){ 0 } : cnt[id];
	}
	free(again);
	free(cnt);
	free(bes);
	return 0;
}

int drv_service_sync(struct drv_ctl *ctl, const struct drv_svc_conf *conf,
		     const struct drv_be_conf *bes_conf, size_t n)
{
	struct drv_backend *cur = NULL, *want = NULL;
	bool *keep = NULL, changed = false, same, created = false;
	struct drv_svc s, ns;
	char msg[256];
	size_t i, need = 0, nfree;
	int err, id;

	err = drv_svc_conf_check(conf, msg, sizeof(msg));
	if (!err)
		err = drv_be_confs_check(&conf->key, bes_conf, n, msg, sizeof(msg));
	if (err) {
		pr_warn("Error: %s\n", msg);
		return err;
	}
	cur = drv_bes_load(ctl);
	if (!cur)
		return -errno;
	want = calloc(DRV_MAX_BACKENDS, sizeof(*want));
	keep = calloc(DRV_MAX_BACKENDS, sizeof(*keep));
	if (!want || !keep) {
		err = -ENOMEM;
		goto out_free;
	}
	/* Everything that can fail is checked before the first write. */
	for (i = 0; i < n; i++)
		if (drv_service_get(ctl, &conf->key, &s) ||
		    drv_be_find(cur, DRV_MAX_BACKENDS, s.id, conf->key.port, &bes_conf[i]) < 0)
			need++;
	nfree = DRV_MAX_BACKENDS - 1 - drv_bes_used(cur);
	if (need > nfree && !drv_service_get(ctl, &conf->key, &s)) {
		/*
		 * The ids of the backends this sync removes are freed only after
		 * the flip (the old table names them until then). If the new ones
		 * need them, sync to the kept backends first (their ids stay), then
		 * again with all: the new nodes join a moment later.
		 */
		struct drv_be_conf *kept = calloc(n ? n : 1, sizeof(*kept));
		size_t nkept = 0, leaving = 0;

		if (!kept) {
			err = -ENOMEM;
			goto out_free;
		}
		for (i = 0; i < n; i++)
			if (drv_be_find(cur, DRV_MAX_BACKENDS, s.id, conf->key.port,
					&bes_conf[i]) >= 0)
				kept[nkept++] = bes_conf[i];
		for (i = 1; i < DRV_MAX_BACKENDS; i++)
			leaving += cur[i].family && cur[i].svc_id == s.id;
		leaving -= nkept;
		if (leaving && need <= nfree + leaving) {
			err = drv_service_sync(ctl, conf, kept, nkept);
			free(kept);
			if (!err)
				err = drv_service_sync(ctl, conf, bes_conf, n);
			goto out_free;
		}
		free(kept);
	}
	if (need > nfree) {
		/* The caller may try again once another service frees ids: it says so if not. */
		pr_debug("service %s needs %zu new backend ids, only %zu are free\n",
			 drv_svc_key_str(&conf->key, msg, sizeof(msg)), need, nfree);
		err = -ENOSPC;
		goto out_free;
	}
	if (drv_service_get(ctl, &conf->key, &s)) {
		err = svc_create(ctl, conf, cur, &s);
		if (err)
			goto out_free;
		created = true;
	}
	ns = s;
	svc_from_conf(&ns, conf);
	changed = ns.mode != s.mode || ns.table_size != s.table_size ||
		  ns.snat_port_lo != s.snat_port_lo || ns.snat_port_hi != s.snat_port_hi ||
		  memcmp(&ns.snat, &s.snat, sizeof(ns.snat));
	/* A node sees a nat flow from the SNAT address, others from the client itself. */
	if ((ns.mode == DRV_MODE_NAT) != (s.mode == DRV_MODE_NAT) ||
	    (ns.mode == DRV_MODE_NAT && memcmp(&ns.snat, &s.snat, sizeof(ns.snat))))
		pr_warn("Warning: service %s: %s: its open connections end (each reaches its node from a new source; the node resets it); make such a change when its clients can reconnect\n",
			drv_svc_key_str(&conf->key, msg, sizeof(msg)),
			ns.mode != s.mode ? "the mode changes to or from nat" :
					    "the snat address changes");

	memcpy(want, cur, DRV_MAX_BACKENDS * sizeof(*want));
	for (i = 0; i < n; i++) {
		const struct drv_be_conf *c = &bes_conf[i];

		id = drv_be_find(cur, DRV_MAX_BACKENDS, s.id, conf->key.port, c);
		if (id < 0) {
			id = drv_be_alloc(want, DRV_MAX_BACKENDS);
			if (id < 0) { /* cannot happen: counted above */
				err = id;
				goto out_free;
			}
			memset(&want[id], 0, sizeof(want[id]));
			want[id].gen = cur[id].gen + 1;
			want[id].addr = c->addr;
			want[id].port = c->port ? c->port : conf->key.port;
			want[id].family = c->family;
			want[id].svc_id = s.id;
			percpu_zero(ctl, ctl->be_stats_fd, (__u32)id,
				    sizeof(struct drv_lb_counters));
		}
		want[id].state = c->state;
		want[id].weight = c->weight;
		keep[id] = true;
	}
	for (i = 1; i < DRV_MAX_BACKENDS; i++) {
		if (cur[i].family && cur[i].svc_id == s.id && !keep[i]) {
			want[i].family = 0;
			want[i].state = DRV_BE_DOWN;
			want[i].gen++;
		}
		if (be_in_table(&cur[i], s.id) != be_in_table(&want[i], s.id) ||
		    (be_in_table(&want[i], s.id) && cur[i].weight != want[i].weight))
			changed = true;
	}
	/*
	 * A drover stopped between writing a backend and its flip left the
	 * table behind drv_bes (a node UP but in no table): put it right.
	 */
	if (!changed) {
		err = svc_table_same(ctl, &conf->key, &ns, want, &same);
		if (err)
			goto out_free;
		changed = !same;
	}
	/* Before the flip: everything except backends leaving the table. */
	for (i = 1; i < DRV_MAX_BACKENDS; i++) {
		if (!memcmp(&cur[i], &want[i], sizeof(cur[i])) || be_in_table(&cur[i], s.id))
			continue;
		err = be_write(ctl, i, &want[i]);
		if (err)
			break;
	}
	if (!err && changed) {
		ns.active = s.active;
		err = svc_flip(ctl, &conf->key, &ns, want);
	}
	if (err) {
		/* Put back what was written: one up but out of the table would look done to a retry. */
		while (i-- > 1)
			if (memcmp(&cur[i], &want[i], sizeof(cur[i])) &&
			    !be_in_table(&cur[i], s.id))
				be_write(ctl, i, &cur[i]);
		goto out_free;
	}
	for (i = 1; i < DRV_MAX_BACKENDS; i++) {
		if (!memcmp(&cur[i], &want[i], sizeof(cur[i])) || !be_in_table(&cur[i], s.id))
			continue;
		err = be_write(ctl, i, &want[i]);
		if (err)
			goto out_free;
	}
out_free:
	/* Not there before, not there now: its address goes on to the host, not to an empty table. */
	if (err && created)
		drv_service_del(ctl, &conf->key);
	free(keep);
	free(want);
	free(cur);
	return err;
}
