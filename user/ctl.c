// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Opening drover's pinned maps, counters, knobs and flow lookups. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "drover/hash.h"
#include "drover/maps.h"
#include "ctl.h"
#include "ctl_int.h"
#include "log.h"
#include "util.h"

const char *const drv_stat_names[__DRV_STAT_MAX] = {
	[DRV_STAT_XDP_ABORTED] = "xdp_aborted",
	[DRV_STAT_XDP_DROP] = "xdp_drop",
	[DRV_STAT_XDP_PASS] = "xdp_pass",
	[DRV_STAT_XDP_TX] = "xdp_tx",
	[DRV_STAT_XDP_REDIRECT] = "xdp_redirect",
	[DRV_STAT_DROP_ETH_TRUNC] = "drop_eth_trunc",
	[DRV_STAT_DROP_IP_TRUNC] = "drop_ip_trunc",
	[DRV_STAT_DROP_IP_BAD] = "drop_ip_bad",
	[DRV_STAT_DROP_IP_FRAG] = "drop_ip_frag",
	[DRV_STAT_DROP_IP6_EXT] = "drop_ip6_ext",
	[DRV_STAT_DROP_TCP_TRUNC] = "drop_tcp_trunc",
	[DRV_STAT_DROP_TCP_BAD] = "drop_tcp_bad",
	[DRV_STAT_DROP_NO_BACKEND] = "drop_no_backend",
	[DRV_STAT_DROP_SNAT_EXHAUSTED] = "drop_snat_exhausted",
	[DRV_STAT_DROP_FIB] = "drop_fib",
	[DRV_STAT_DROP_TTL] = "drop_ttl",
	[DRV_STAT_DROP_INTERNAL] = "drop_internal",
	[DRV_STAT_FIB_PASS] = "fib_pass",
	[DRV_STAT_NEW_FLOW] = "new_flow",
	[DRV_STAT_REHASH] = "rehash",
	[DRV_STAT_NAT_REPLY] = "nat_reply",
	[DRV_STAT_NAT_REPLY_MISS] = "nat_reply_miss",
	[DRV_STAT_ICMP_TO_NODE] = "icmp_to_node",
	[DRV_STAT_ICMP_TO_CLIENT] = "icmp_to_client",
	[DRV_STAT_ICMP_MISS] = "icmp_miss",
	[DRV_STAT_ICMP_LOW_MTU] = "icmp_low_mtu",
	[DRV_STAT_SNAT_RECLAIM_SYN] = "snat_reclaim_syn",
	[DRV_STAT_SNAT_PORT_LOST] = "snat_port_lost",
	[DRV_STAT_ICMP_TOO_BIG] = "icmp_too_big",
	[DRV_STAT_DROP_TOO_BIG] = "drop_too_big",
	[DRV_STAT_DROP_MARTIAN] = "drop_martian",
	[DRV_STAT_RST_NODE_DOWN] = "rst_node_down",
};
/* A new enum drv_stat value without a name fails here. */
_Static_assert(DRV_STAT_RST_NODE_DOWN + 1 == __DRV_STAT_MAX, "drv_stat_names out of step");

static const char *const mode_names[] = {
	[DRV_MODE_NAT] = "nat",
	[DRV_MODE_DSR] = "dsr",
	[DRV_MODE_TUNNEL] = "tunnel",
};
_Static_assert(ARRAY_SIZE(mode_names) == __DRV_MODE_MAX, "mode_names out of step");

static const char *const be_state_names[] = {
	[DRV_BE_UP] = "up",	      [DRV_BE_DRAIN] = "drain",	    [DRV_BE_DOWN] = "down",
	[DRV_BE_FAILING] = "failing", [DRV_BE_LEAVING] = "leaving",
};
_Static_assert(ARRAY_SIZE(be_state_names) == __DRV_BE_STATE_MAX, "be_state_names out of step");

const char *drv_mode_name(__u8 mode)
{
	return mode < __DRV_MODE_MAX ? mode_names[mode] : "?";
}

const char *drv_be_state_name(__u8 state)
{
	return state < __DRV_BE_STATE_MAX ? be_state_names[state] : "?";
}

const char *drv_svc_key_str(const struct drv_svc_key *key, char *buf, size_t len)
{
	char a[DRV_ADDR_STRLEN];

	snprintf(buf, len, "%s port %u proto %s",
		 drv_addr_format(&key->vip, key->family, a, sizeof(a)), ntohs(key->port),
		 key->proto == 6 ? "tcp" : "?");
	return buf;
}

static size_t maglev_bytes(void)
{
	size_t sz = DRV_MAGLEV_MMAP_BYTES;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (sz + pg - 1) / pg * pg;
}

/* Every map a drv_ctl holds, by pin name, and where in it its fd goes. */
static const struct {
	const char *name;
	size_t off;
} ctl_maps[] = {
	{ DRV_STR(DRV_MAP_SVCS), offsetof(struct drv_ctl, svcs_fd) },
	{ DRV_STR(DRV_MAP_BACKENDS), offsetof(struct drv_ctl, bes_fd) },
	{ DRV_STR(DRV_MAP_MAGLEV), offsetof(struct drv_ctl, maglev_fd) },
	{ DRV_STR(DRV_MAP_FLOWS), offsetof(struct drv_ctl, flows_fd) },
	{ DRV_STR(DRV_MAP_NAT), offsetof(struct drv_ctl, nat_fd) },
	{ DRV_STR(DRV_MAP_STATS), offsetof(struct drv_ctl, stats_fd) },
	{ DRV_STR(DRV_MAP_SVC_STATS), offsetof(struct drv_ctl, svc_stats_fd) },
	{ DRV_STR(DRV_MAP_BE_STATS), offsetof(struct drv_ctl, be_stats_fd) },
	{ DRV_STR(DRV_MAP_CFG), offsetof(struct drv_ctl, cfg_fd) },
	{ DRV_STR(DRV_MAP_TX_PORTS), offsetof(struct drv_ctl, tx_ports_fd) },
	{ DRV_STR(DRV_MAP_PROGS), offsetof(struct drv_ctl, progs_fd) },
};

static int *ctl_fd(struct drv_ctl *ctl, size_t i)
{
	return (int *)((char *)ctl + ctl_maps[i].off);
}

static void pin_path(char *path, size_t len, const char *root, size_t i)
{
	snprintf(path, len, "%s/%s", root, ctl_maps[i].name);
}

static int map_open(const char *root, size_t i)
{
	char path[PATH_MAX + 32];

	pin_path(path, sizeof(path), root, i);
	return drv_map_pin_open(path, false);
}

int drv_ctl_open(struct drv_ctl *ctl, const char *root, unsigned int flags)
{
	int err, npinned, nmaps;
	struct stat st;
	size_t i;
	void *m;

	memset(ctl, 0, sizeof(*ctl));
	ctl->lock_fd = -1;
	for (i = 0; i < ARRAY_SIZE(ctl_maps); i++)
		*ctl_fd(ctl, i) = -1;
	snprintf(ctl->root, sizeof(ctl->root), "%s", root);
	/* a file there (a map's pin, say) would fail later on one of its maps, without the hint */
	err = stat(root, &st) ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (err) {
		if (err != -ENOENT) {
			pr_warn("Error: can't reach drover state at %s: %s: %s\n", root,
				strerror(-err), drv_root_err_hint(err));
			return err;
		}
		pr_warn("Error: no drover state at %s: attach an interface first (drover attach IFNAME), or pass the --bpffs it was attached with\n",
			root);
		return -ENOENT;
	}
	if (flags & DRV_CTL_F_LOCK) {
		ctl->lock_fd = flags & DRV_CTL_F_TRYLOCK ? drv_root_trylock(root) :
							   drv_root_lock(root);
		if (ctl->lock_fd < 0)
			return ctl->lock_fd;
	}
	err = drv_maps_check(root, &npinned, &nmaps);
	if (err)
		goto out_close;
	if (npinned < nmaps) {
		pr_warn("Error: only %d of drover's %d maps are pinned under %s: attach an interface first (drover attach IFNAME)\n",
			npinned, nmaps, root);
		err = -ENOENT;
		goto out_close;
	}
	for (i = 0; i < ARRAY_SIZE(ctl_maps); i++) {
		*ctl_fd(ctl, i) = map_open(root, i);
		if (*ctl_fd(ctl, i) < 0) {
			err = *ctl_fd(ctl, i);
			goto out_close;
		}
	}
	m = mmap(NULL, maglev_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, ctl->maglev_fd, 0);
	if (m == MAP_FAILED) {
		err = -errno;
		pr_warn("Error: can't mmap %s/%s: %s; raise the locked-memory limit (ulimit -l) or free some memory, then retry\n",
			root, DRV_STR(DRV_MAP_MAGLEV), strerror(errno));
		goto out_close;
	}
	ctl->maglev = m;
	ctl->ncpus = libbpf_num_possible_cpus();
	if (ctl->ncpus <= 0) {
		err = ctl->ncpus ? ctl->ncpus : -EINVAL;
		pr_warn("Error: can't count possible CPUs: %s; drover reads /sys/devices/system/cpu/possible: mount /sys (in a container too) and retry\n",
			strerror(-err));
		goto out_close;
	}
	return 0;
out_close:
	drv_ctl_close(ctl);
	return err;
}

void drv_ctl_close(struct drv_ctl *ctl)
{
	size_t i;

	if (ctl->maglev)
		munmap(ctl->maglev, maglev_bytes());
	ctl->maglev = NULL;
	for (i = 0; i < ARRAY_SIZE(ctl_maps); i++) {
		if (*ctl_fd(ctl, i) >= 0)
			close(*ctl_fd(ctl, i));
		*ctl_fd(ctl, i) = -1;
	}
	if (ctl->lock_fd >= 0)
		close(ctl->lock_fd);
	ctl->lock_fd = -1;
}

int drv_ctl_dup(struct drv_ctl *from, struct drv_ctl *to)
{
	size_t i;
	int err = 0;

	memset(to, 0, sizeof(*to));
	snprintf(to->root, sizeof(to->root), "%s", from->root);
	to->lock_fd = -1;
	to->ncpus = from->ncpus;
	for (i = 0; i < ARRAY_SIZE(ctl_maps); i++)
		*ctl_fd(to, i) = -1;
	for (i = 0; !err && i < ARRAY_SIZE(ctl_maps); i++) {
		if (*ctl_fd(from, i) < 0)
			continue;
		*ctl_fd(to, i) = fcntl(*ctl_fd(from, i), F_DUPFD_CLOEXEC, 0);
		if (*ctl_fd(to, i) < 0)
			err = -errno;
	}
	if (err)
		drv_ctl_close(to);
	return err;
}

static __u32 obj_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

const char *drv_ctl_map_name(size_t i)
{
	return i < ARRAY_SIZE(ctl_maps) ? ctl_maps[i].name : NULL;
}

/* FNV-1a over the maps' ids, in ctl_maps order. */
static __u64 sig_add(__u64 h, __u32 id)
{
	for (int k = 0; k < 4; k++, id >>= 8)
		h = (h ^ (id & 0xff)) * 0x100000001b3ULL;
	return h;
}

#define SIG_INIT 0xcbf29ce484222325ULL

__u64 drv_ctl_sig(struct drv_ctl *ctl)
{
	__u64 h = SIG_INIT;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ctl_maps); i++)
		h = sig_add(h, obj_id(*ctl_fd(ctl, i)));
	return h;
}

int drv_pins_sig(const char *root, __u64 *sig)
{
	char path[PATH_MAX + 32];
	__u64 h = SIG_INIT;
	size_t i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(ctl_maps); i++) {
		pin_path(path, sizeof(path), root, i);
		fd = bpf_obj_get(path);
		if (fd < 0)
			return -errno;
		h = sig_add(h, obj_id(fd));
		close(fd);
	}
	*sig = h;
	return 0;
}

/* Sum @nfields __u64s of a per-CPU value over every possible CPU. */
static int percpu_sum(struct drv_ctl *ctl, int fd, __u32 key, __u64 *out, size_t nfields)
{
	size_t stride = nfields * sizeof(__u64); /* 8-byte multiple: no per-CPU padding */
	__u64 *vals;
	int err, c;
	size_t f;

	vals = calloc((size_t)ctl->ncpus, stride);
	if (!vals)
		return -ENOMEM;
	memset(out, 0, stride);
	err = bpf_map_lookup_elem(fd, &key, vals);
	if (err) {
		err = -errno;
		goto out_free;
	}
	for (c = 0; c < ctl->ncpus; c++)
		for (f = 0; f < nfields; f++)
			out[f] += vals[(size_t)c * nfields + f];
out_free:
	free(vals);
	return err;
}

int drv_stats_read(struct drv_ctl *ctl, enum drv_stat idx, struct drv_counter *out)
{
	if ((unsigned int)idx >= __DRV_STAT_MAX)
		return -EINVAL;
	return percpu_sum(ctl, ctl->stats_fd, idx, (__u64 *)out, sizeof(*out) / sizeof(__u64));
}

int drv_svc_stats_read(struct drv_ctl *ctl, __u32 svc_id, struct drv_lb_counters *out)
{
	if (svc_id >= DRV_MAX_SVCS)
		return -EINVAL;
	return percpu_sum(ctl, ctl->svc_stats_fd, svc_id, (__u64 *)out,
			  sizeof(*out) / sizeof(__u64));
}

int drv_be_stats_read(struct drv_ctl *ctl, __u32 be_id, struct drv_lb_counters *out)
{
	if (be_id >= DRV_MAX_BACKENDS)
		return -EINVAL;
	return percpu_sum(ctl, ctl->be_stats_fd, be_id, (__u64 *)out, sizeof(*out) / sizeof(__u64));
}

/*
 * percpu_sum_all - percpu_sum() of entries 0..@n-1 of per-CPU array @fd into
 * @out (@n values of @nfields __u64s), BPF_MAP_LOOKUP_BATCH a chunk at a time:
 * a few syscalls for the 4,096 backends' counters instead of one each. A batch
 * that fails (a kernel without it) reads the rest entry by entry.
 */
static int percpu_sum_all(struct drv_ctl *ctl, int fd, __u32 n, __u64 *out, size_t nfields)
{
	const __u32 chunk = 1024;
	size_t stride = nfields * sizeof(__u64), per = stride * (size_t)ctl->ncpus;
	__u32 done = 0, cnt, i, out_batch = 0, *keys;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u64 *vals;
	size_t f;
	int c, err = 0;

	memset(out, 0, stride * n);
	keys = calloc(chunk, sizeof(*keys));
	vals = malloc(per * chunk);
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out_free;
	}
	while (done < n) {
		cnt = n - done < chunk ? n - done : chunk;
		err = bpf_map_lookup_batch(fd, done ? &out_batch : NULL, &out_batch, keys, vals,
					   &cnt, &o);
		if (err && errno != ENOENT)
			break;
		for (i = 0; i < cnt; i++) {
			const __u64 *v = vals + (size_t)i * nfields * (size_t)ctl->ncpus;
			__u64 *to;

			if (keys[i] >= n)
				continue;
			to = out + (size_t)keys[i] * nfields;
			for (c = 0; c < ctl->ncpus; c++)
				for (f = 0; f < nfields; f++)
					to[f] += v[(size_t)c * nfields + f];
		}
		done += cnt;
		if (err || !cnt) /* ENOENT: the end of the array came with this batch */
			break;
	}
	err = 0;
	for (; done < n && !err; done++) /* no batch (or it stopped short): one by one */
		err = percpu_sum(ctl, fd, done, out + (size_t)done * nfields, nfields);
out_free:
	free(vals);
	free(keys);
	return err;
}

int drv_stats_read_all(struct drv_ctl *ctl, struct drv_counter *out)
{
	return percpu_sum_all(ctl, ctl->stats_fd, __DRV_STAT_MAX, (__u64 *)out,
			      sizeof(*out) / sizeof(__u64));
}

int drv_svc_stats_read_all(struct drv_ctl *ctl, struct drv_lb_counters *out)
{
	return percpu_sum_all(ctl, ctl->svc_stats_fd, DRV_MAX_SVCS, (__u64 *)out,
			      sizeof(*out) / sizeof(__u64));
}

int drv_be_stats_read_all(struct drv_ctl *ctl, struct drv_lb_counters *out)
{
	return percpu_sum_all(ctl, ctl->be_stats_fd, DRV_MAX_BACKENDS, (__u64 *)out,
			      sizeof(*out) / sizeof(__u64));
}

int drv_cfg_read(struct drv_ctl *ctl, struct drv_cfg *out)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(ctl->cfg_fd, &key, out) ? -errno : 0;
}

int drv_cfg_write(struct drv_ctl *ctl, const struct drv_cfg *cfg)
{
	__u32 key = 0;

	return bpf_map_update_elem(ctl->cfg_fd, &key, cfg, BPF_ANY) ? -errno : 0;
}

/*
 * map_walk_batch - hand every value of hash map @fd to @fn, BPF_MAP_LOOKUP_BATCH
 * a bucket range at a time: few syscalls, and each entry seen at most once
 * (a key-by-key walk restarts from the first key when its key is evicted
 * under it, and counts again what it had). At most about @max values.
 * Return: 0, or -errno (no batch support, or a bucket larger than a batch:
 * the caller walks key by key).
 */
static int map_walk_batch(int fd, __u32 key_size, __u32 value_size, __u32 max,
			  void (*fn)(void *arg, const void *value), void *arg)
{
	const __u32 chunk = 4096;
	__u32 seen = 0, n, i;
	char *keys, *vals, *token;
	bool first = true;
	int err = 0;

	keys = calloc(chunk, key_size ?: 1);
	vals = calloc(chunk, value_size ?: 1);
	token = calloc(2, key_size > 8 ? key_size : 8); /* in and out: the bucket to go on from */
	if (!keys || !vals || !token) {
		err = -ENOMEM;
		goto out_free;
	}
	while (seen <= max) {
		n = chunk;
		err = bpf_map_lookup_batch(fd, first ? NULL : token, token, keys, vals, &n, NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			goto out_free;
		}
		for (i = 0; fn && i < n; i++)
			fn(arg, vals + (size_t)i * value_size);
		seen += n;
		first = false;
		if (err) { /* ENOENT: that was the last batch */
			err = 0;
			break;
		}
	}
out_free:
	free(token);
	free(vals);
	free(keys);
	return err;
}

static void count_one(void *arg, const void *value)
{
	(void)value;
	(*(__u32 *)arg)++;
}

int drv_map_count(int fd, __u32 max, __u32 *count)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), n = 0, i;
	void *key, *next;
	int err = 0;

	*count = 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if ((info.type == BPF_MAP_TYPE_HASH || info.type == BPF_MAP_TYPE_LRU_HASH) &&
	    !map_walk_batch(fd, info.key_size, info.value_size, max, count_one, &n)) {
		*count = n < max ? n : max;
		return 0;
	}
	n = 0; /* a batch that failed part way: count again, key by key */
	key = calloc(2, info.key_size ? info.key_size : 1);
	if (!key)
		return -ENOMEM;
	next = (char *)key + info.key_size;
	for (i = 0; i < max; i++) {
		if (bpf_map_get_next_key(fd, i ? key : NULL, next)) {
			if (errno != ENOENT)
				err = -errno;
			break;
		}
		n++;
		memcpy(key, next, info.key_size);
	}
	free(key);
	*count = n;
	return err;
}

__u32 drv_map_max_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

int drv_flow_lookup(struct drv_ctl *ctl, const struct drv_flow_key *key, struct drv_flow *out)
{
	return bpf_map_lookup_elem(ctl->flows_fd, key, out) ? -errno : 0;
}

__u64 drv_flow_now_ns(void)
{
	struct timespec ts;

	/* the program stamps flows with bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC_COARSE */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

bool drv_flow_expired(const struct drv_cfg *cfg, const struct drv_flow *f, __u64 now_ns)
{
	__u64 t;

	if (drv_flow_state_short(f->state))
		t = cfg->tcp_fin_timeout_s ? cfg->tcp_fin_timeout_s : DRV_TCP_FIN_DEFAULT;
	else
		t = cfg->tcp_idle_timeout_s ? cfg->tcp_idle_timeout_s : DRV_TCP_IDLE_DEFAULT;
	return now_ns > f->last_seen_ns && now_ns - f->last_seen_ns > t * 1000000000ull;
}

struct flow_count {
	const struct drv_backend *bes;
	const struct drv_cfg *cfg;
	__u64 now;
	__u32 *counts;
};

/* @arg: the struct flow_count; @value: a struct drv_flow (map_walk_batch's callback) */
static void flow_count_one(void *arg, const void *value)
{
	struct flow_count *fc = arg;
	const struct drv_flow *f = value;
	__u32 id = f->backend_id;

	if (id && id < DRV_MAX_BACKENDS && fc->bes[id].family &&
	    fc->bes[id].gen == f->backend_gen && !drv_flow_expired(fc->cfg, f, fc->now))
		fc->counts[id]++;
}

/* The whole backend array in one BPF_MAP_LOOKUP_BATCH (instead of 4,096 lookups): 0 or -errno. */
static int bes_load_batch(struct drv_ctl *ctl, struct drv_backend *bes)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u32 count = DRV_MAX_BACKENDS, out, i, *keys = calloc(DRV_MAX_BACKENDS, sizeof(*keys));
	int err;

	if (!keys)
		return -ENOMEM;
	err = bpf_map_lookup_batch(ctl->bes_fd, NULL, &out, keys, bes, &count, &o);
	if (err && errno == ENOENT)
		err = 0; /* the end of the array came with this batch */
	else if (err)
		err = -errno;
	for (i = 0; !err && i < DRV_MAX_BACKENDS; i++)
		if (i >= count || keys[i] != i)
			err = -EIO; /* not every id, in order: read them one by one */
	free(keys);
	return err;
}

__u32 drv_bes_used(const struct drv_backend *bes)
{
	__u32 id, n = 0;

	for (id = 1; id < DRV_MAX_BACKENDS; id++)
		n += bes[id].family != 0;
	return n;
}

int drv_backend_ids_used(struct drv_ctl *ctl, __u32 *n)
{
	struct drv_backend *bes = drv_bes_load(ctl);

	*n = 0;
	if (!bes)
		return -errno;
	*n = drv_bes_used(bes);
	free(bes);
	return 0;
}

struct drv_backend *drv_bes_load(struct drv_ctl *ctl)
{
	struct drv_backend *bes = calloc(DRV_MAX_BACKENDS, sizeof(*bes));
	__u32 id;

	if (!bes)
		return NULL;
	if (!bes_load_batch(ctl, bes))
		return bes;
	for (id = 0; id < DRV_MAX_BACKENDS; id++) {
		if (bpf_map_lookup_elem(ctl->bes_fd, &id, &bes[id])) {
			int err = errno;

			pr_warn("Error: can't read backend %u from %s/%s: %s; retry, and check --bpffs (drover status) if it goes on\n",
				id, ctl->root, DRV_STR(DRV_MAP_BACKENDS), strerror(err));
			free(bes);
			errno = err;
			return NULL;
		}
	}
	return bes;
}

int drv_flows_per_backend(struct drv_ctl *ctl, __u32 *counts)
{
	struct drv_backend *bes;
	struct drv_flow_key key, next;
	struct drv_flow flow;
	struct drv_cfg cfg = {};
	struct flow_count fc;
	__u32 max = drv_map_max_entries(ctl->flows_fd), i;
	int err = 0;

	memset(counts, 0, DRV_MAX_BACKENDS * sizeof(*counts));
	bes = drv_bes_load(ctl);
	if (!bes)
		return -errno;
	drv_cfg_read(ctl, &cfg);
	fc = (struct flow_count){
		.bes = bes, .cfg = &cfg, .now = drv_flow_now_ns(), .counts = counts
	};
	err = map_walk_batch(ctl->flows_fd, sizeof(struct drv_flow_key), sizeof(struct drv_flow),
			     max, flow_count_one, &fc);
	if (!err)
		goto out_free;
	pr_debug("batch lookup of %s/%s: %s; walking it key by key\n", ctl->root,
		 DRV_STR(DRV_MAP_FLOWS), strerror(-err));
	err = 0;
	/* no batch support (or a bucket larger than a batch): one key at a time */
	memset(counts, 0, DRV_MAX_BACKENDS * sizeof(*counts));
	for (i = 0; i < max; i++) {
		if (bpf_map_get_next_key(ctl->flows_fd, i ? &key : NULL, &next)) {
			if (errno != ENOENT)
				err = -errno;
			break;
		}
		key = next;
		if (bpf_map_lookup_elem(ctl->flows_fd, &key, &flow))
			continue; /* evicted meanwhile */
		flow_count_one(&fc, &flow);
	}
out_free:
	free(bes);
	return err;
}

int drv_svc_value_check(const struct drv_ctl *ctl, const struct drv_svc_key *key,
			const struct drv_svc *s)
{
	char buf[128];

	if (s->table_size && s->table_size <= DRV_MAGLEV_MAX && s->id < DRV_MAX_SVCS &&
	    s->active <= 1)
		return 0;
	/* not what drover writes: another version, or a hand edit with bpftool */
	pr_warn("Error: service %s in %s/%s holds a value drover can't use (id %u, table-size %u, slot %u; want an id below %d, a table-size 1-%d, slot 0 or 1): delete it (drover service del %s) and add it again\n",
		drv_svc_key_str(key, buf, sizeof(buf)), ctl->root, DRV_STR(DRV_MAP_SVCS), s->id,
		s->table_size, s->active, DRV_MAX_SVCS, DRV_MAGLEV_MAX, buf);
	return -EINVAL;
}

int drv_lookup(struct drv_ctl *ctl, const struct drv_svc_key *svc, const union drv_addr *client,
	       __be16 client_port, __u32 *be_id, struct drv_backend *be)
{
	struct drv_flow_key fk = {};
	struct drv_svc s;
	char buf[128];
	__u32 h, id;

	if (bpf_map_lookup_elem(ctl->svcs_fd, svc, &s)) {
		int err = -errno;

		drv_svc_key_str(svc, buf, sizeof(buf));
		if (err == -ENOENT)
			pr_warn("Error: service %s does not exist (see drover service show)\n",
				buf);
		else
			pr_warn("Error: couldn't read service %s from %s/%s: %s; run the lookup again, as root\n",
				buf, ctl->root, DRV_STR(DRV_MAP_SVCS), strerror(-err));
		return err;
	}
	fk.saddr = *client;
	fk.daddr = svc->vip;
	fk.sport = client_port;
	fk.dport = svc->port;
	fk.proto = svc->proto;
	fk.family = svc->family;
	h = drv_flow_hash(&fk);
	*be_id = 0;
	memset(be, 0, sizeof(*be));
	if (drv_svc_value_check(ctl, svc, &s))
		return -EINVAL;
	id = *drv_maglev_entry(ctl, DRV_MAGLEV_INDEX(s.id, s.active, h % s.table_size));
	if (id == DRV_BE_NONE || id >= DRV_MAX_BACKENDS)
		return 0;
	*be_id = id;
	if (bpf_map_lookup_elem(ctl->bes_fd, &id, be)) {
		int err = -errno;

		pr_warn("Error: couldn't read backend %u of service %s from %s/%s: %s; run the lookup again, as root\n",
			id, drv_svc_key_str(svc, buf, sizeof(buf)), ctl->root,
			DRV_STR(DRV_MAP_BACKENDS), strerror(-err));
		return err;
	}
	return 0;
}
