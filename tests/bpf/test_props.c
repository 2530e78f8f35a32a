// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Properties of drover_xdp over many mutated frames, in the real kernel
 * through BPF_PROG_TEST_RUN, the program loaded once.
 *
 * Valid seed frames (IPv4/IPv6, VLAN or not, SYN/ACK/FIN/RST/data to a
 * VIP:port of every mode and to other addresses and ports, IPv4 options,
 * IPv6 extension headers, fragments, a node's replies to a flow's SNAT
 * address:port, ICMP too-big and unreachable errors quoting a flow either
 * way) are mutated from a fixed-seed PRNG (bits flipped, cuts at any
 * length, trailers, lengths, IHL, data offset, flags, fragment bits,
 * checksums) and each run is checked against invariants computed here from
 * scratch, independently of bpf/: the verdict is one of
 * DROP/PASS/TX/REDIRECT and counted once; a DROP moves exactly one drop
 * reason, any other verdict none; a PASS that is not the documented
 * rewrite handed to the stack (fib_pass) leaves the frame as it was; a
 * frame sent is sound (IPv4 header, TCP and ICMP checksums recomputed over
 * the pseudo-header, IP lengths against the frame, TTL / hop limit and
 * addresses as each mode promises); and no checksum is laundered: a
 * rewritten TCP or ICMP checksum verifies exactly when the received one
 * did, and drover answers (RST) no segment whose checksum fails; the
 * frames of Ethernet, IP and TCP headers docs/datapath.md step 2 calls
 * broken are dropped; verdict bytes, service and backend counters agree
 * with the verdict.
 *
 * Backend churn runs meanwhile (churn()): backends change state, are
 * replaced, removed and added back, tables are rebuilt and flipped, the
 * reply port range comes and goes. The test keeps its own copy of the
 * backends and tables and of the flows it saw made (the shared
 * include/drover/hash.h gives a flow's entry): a new flow must take the
 * active table's entry, a recorded flow its own backend while that one may
 * keep it (check_flow()).
 *
 * DROVER_PROPS_SEED / DROVER_PROPS_N (environment) run another seed or
 * more frames (a run is deterministic: N = iteration + 1 replays up to a
 * failure); a failure prints seed, iteration and both frames in hex
 * (DROVER_PROPS_DUMP=1: every one, not the first five). Each finding is a
 * named regression case in test_datapath.c:
 * segment_with_a_bad_checksum_on_down_backend_gets_no_rst,
 * too_big_v4_with_a_bad_header_checksum_gets_no_error.
 *
 * Topology as in test_datapath.c, in a private network namespace:
 *   drva 02:..:0a 10.1.0.1/24 fd01::1/64   clients 10.1.0.2-3 / fd01::2-3
 *   drvc 02:..:0c 10.2.0.1/24 fd02::1/64   nodes 10.2.0.11-13 / fd02::11-13,
 *                                          a one-arm client 10.2.0.50
 * (.3 and ::13 sit behind an MTU of 1400: the too-big path). Two small nat
 * services (four SNAT ports each) have their node 3 at 10.9.0.13 / fd09::13,
 * behind blackhole routes (drop_fib), and evict() takes their flows' reply
 * entries as LRU pressure would (snat_port_lost). Every counter is reached
 * but XDP_ABORTED and drop_internal, which no frame can reach (must_reach);
 * the answers, ICMP both ways, drop_fib, snat_port_lost and VLAN-tagged
 * frames are held to a floor in each family, new flows and frames sent in
 * each service (every mode and family).
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "drover/hash.h"
#include "drover/maps.h"

#include "bpf/pkt.h"
#include "bpf/topo.h"
#include "drover.skel.h"
#include "drover_noinline.skel.h"
#include "ctl.h"
#include "util.h"

#define TABLE 7
#define DEV_MTU 1500 /* drva's and drvc's (veth's default, topo.h) */

/* clang-format off */
#define MAC(a, b) { 0x02, 0, 0, 0, (a), (b) }
#define MAC_A		MAC(0, 0x0a)
#define MAC_C		MAC(0, 0x0c)
#define MAC_CLIENT	MAC(0x01, 0x02)
#define MAC_N1		MAC(0x02, 0x11)
#define MAC_ONEARM	MAC(0x02, 0x50)
/* clang-format on */

static int ifa, ifc;
/*
 * The program under test (the inlined build, or -DDROVER_NOINLINE's with
 * BPF-to-BPF calls), its maps by file descriptor: both builds have the same.
 */
static struct drover_bpf *skel;
static struct drover_noinline_bpf *nskel;
static int prog_fd, ncpus;
static int fd_svcs, fd_bes, fd_maglev, fd_cfg, fd_tx, fd_stats, fd_svcst, fd_best, fd_nat;

/* ---- topology ---------------------------------------------------------- */

struct pv_svc {
	const char *vip, *snat;
	__u16 port, lo, hi;
	__u8 mode, fam;
	__u32 bes[3]; /* backend ids */
	const char *be_addr[3];
	__u16 be_port;
};

/* clang-format off */
static const struct pv_svc svcs[] = {
	{ "10.0.0.100", "10.2.0.1", 80, 20000, 20063, DRV_MODE_NAT, 4, { 1, 2, 13 },
	  { "10.2.0.11", "10.2.0.12", "10.2.0.13" }, 8080 },
	{ "10.0.0.101", "10.2.0.1", 80, 0, 0, DRV_MODE_DSR, 4, { 3, 4, 14 },
	  { "10.2.0.11", "10.2.0.12", "10.2.0.13" }, 80 },
	{ "10.0.0.102", "10.2.0.1", 443, 0, 0, DRV_MODE_TUNNEL, 4, { 5, 6, 15 },
	  { "10.2.0.11", "10.2.0.12", "10.2.0.13" }, 443 },
	{ "fd00::100", "fd02::1", 443, 30000, 30063, DRV_MODE_NAT, 6, { 7, 8, 16 },
	  { "fd02::11", "fd02::12", "fd02::13" }, 8443 },
	{ "fd00::101", "fd02::1", 80, 0, 0, DRV_MODE_DSR, 6, { 9, 10, 17 },
	  { "fd02::11", "fd02::12", "fd02::13" }, 80 },
	{ "fd00::102", "fd02::1", 80, 0, 0, DRV_MODE_TUNNEL, 6, { 11, 12, 18 },
	  { "fd02::11", "fd02::12", "fd02::13" }, 80 },
	/*
	 * Four SNAT ports for 32-48 client flows: exhaustion, the oldest
	 * half-open flow's port reclaimed, a flow whose port another took
	 * (its reply entry evicted: evict()); node 3 behind a blackhole route.
	 */
	{ "10.0.0.103", "10.2.0.1", 80, 20064, 20067, DRV_MODE_NAT, 4, { 19, 20, 21 },
	  { "10.2.0.11", "10.2.0.12", "10.9.0.13" }, 8081 },
	{ "fd00::103", "fd02::1", 80, 30064, 30067, DRV_MODE_NAT, 6, { 22, 23, 24 },
	  { "fd02::11", "fd02::12", "fd09::13" }, 8081 },
};
/* clang-format on */

#define NSVC ARRAY_SIZE(svcs)

static const char *const clients4[] = { "10.1.0.2", "10.1.0.3", "10.2.0.50" };
static const char *const clients6[] = { "fd01::2", "fd01::3" };
/* sources no host has: drop_martian */
static const char *const martians4[] = { "0.0.0.0", "127.0.0.1", "224.0.0.5", "255.255.255.255" };
static const char *const martians6[] = { "::", "::1", "ff02::1", "::ffff:10.1.0.2" };

/*
 * ---- backend churn: what the test set in drv_bes and the Maglev tables ----
 *
 * Backends are marked up, draining, down, failing or leaving, replaced (a
 * new generation at the same id), removed and added back, and each
 * service's table is rebuilt into its inactive slot and flipped, while the
 * frames run. The test keeps its own copy of all of it: which backend a new
 * flow must get, and which a recorded flow may keep, follow from it.
 */
struct mbe {
	bool present;
	__u8 state;
	__u32 gen;
};

static struct mbe mbes[NSVC][3];
static __u32 mtbl[NSVC][2][TABLE]; /* backend ids of both slots */
static __u8 mactive[NSVC];
static bool cfg_reply_range;

#define MAX_BE_ID 24 /* the highest id of svcs[].bes */

static void be_write(__u32 s, int b)
{
	const struct pv_svc *v = &svcs[s];
	struct drv_backend be = {};
	__u8 fam;

	if (mbes[s][b].present) {
		be = (struct drv_backend){ .port = htons(v->be_port),
					   .svc_id = s,
					   .state = mbes[s][b].state,
					   .weight = 1,
					   .gen = mbes[s][b].gen,
					   .family = v->fam == 4 ? DRV_FAMILY_V4 : DRV_FAMILY_V6 };
		assert_int_equal(drv_addr_parse(v->be_addr[b], &be.addr, &fam), 0);
	}
	assert_int_equal(bpf_map_update_elem(fd_bes, &v->bes[b], &be, 0), 0);
}

static void be_set(__u32 s, int b, __u8 state)
{
	mbes[s][b].state = state;
	be_write(s, b);
}

static void svc_write(__u32 s, __u32 nbackends)
{
	const struct pv_svc *v = &svcs[s];
	struct drv_svc_key key = { .port = htons(v->port), .proto = IPPROTO_TCP };
	struct drv_svc val = { .id = s,
			       .table_size = TABLE,
			       .mode = v->mode,
			       .active = mactive[s],
			       .snat_port_lo = v->lo,
			       .snat_port_hi = v->hi,
			       .nbackends = nbackends };
	__u8 fam;

	assert_int_equal(drv_addr_parse(v->vip, &key.vip, &key.family), 0);
	assert_int_equal(drv_addr_parse(v->snat, &val.snat, &fam), 0);
	assert_int_equal(bpf_map_update_elem(fd_svcs, &key, &val, 0), 0);
}

/*
 * Rebuild service @s's table from its backends that are up now, rotated by
 * @rot, into the inactive slot, then flip (as the agent does): a backend
 * that changes state later stays in the table, stale, until the next one.
 */
static void table_build(__u32 s, __u32 rot)
{
	__u32 up[3], nup = 0, i, idx, slot = !mactive[s];
	int b;

	for (b = 0; b < 3; b++)
		if (mbes[s][b].present && mbes[s][b].state == DRV_BE_UP)
			up[nup++] = svcs[s].bes[b];
	for (i = 0; i < TABLE; i++) {
		mtbl[s][slot][i] = nup ? up[(i + rot) % nup] : DRV_BE_NONE;
		idx = DRV_MAGLEV_INDEX(s, slot, i);
		assert_int_equal(bpf_map_update_elem(fd_maglev, &idx, &mtbl[s][slot][i], 0), 0);
	}
	mactive[s] = slot;
	svc_write(s, nup);
}

/* odd: replies to every port are looked up (no reply range), as in a config without one */
static void cfg_write(bool range)
{
	struct drv_cfg c = { .reply_port_lo = 20000, .reply_port_hi = 30067 };
	__u32 zero = 0;

	if (!range)
		c = (struct drv_cfg){ 0 };
	cfg_reply_range = range;
	assert_int_equal(bpf_map_update_elem(fd_cfg, &zero, &c, 0), 0);
}

static void topology(void)
{
	__u32 s, k;
	int b;

	memset(mtbl, 0, sizeof(mtbl));
	for (s = 0; s < NSVC; s++) {
		mactive[s] = 1;
		for (b = 0; b < 3; b++) {
			mbes[s][b] = (struct mbe){ .present = true, .state = DRV_BE_UP, .gen = 1 };
			be_write(s, b);
		}
		table_build(s, 0);
	}
	cfg_write(true);
	k = ifa;
	assert_int_equal(bpf_map_update_elem(fd_tx, &k, &k, 0), 0);
	k = ifc;
	assert_int_equal(bpf_map_update_elem(fd_tx, &k, &k, 0), 0);
}

/* The maps of @obj unpinned, the flow tables small (LRU eviction is part of the run). */
static void prepare(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj)
		bpf_map__set_pin_path(m, NULL);
	bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "drv_flows_v1"), 4096);
	bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "drv_nat_v1"), 4096);
}

static int map_fd(struct bpf_object *obj, const char *name)
{
	return bpf_map__fd(bpf_object__find_map_by_name(obj, name));
}

/* Take the loaded @obj's program and maps, report its size, fill its maps. */
static void loaded(struct bpf_object *obj, const char *build)
{
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info);

	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "drover_xdp"));
	fd_svcs = map_fd(obj, "drv_svcs_v1");
	fd_bes = map_fd(obj, "drv_bes_v1");
	fd_maglev = map_fd(obj, "drv_maglev_v1");
	fd_cfg = map_fd(obj, "drv_cfg_v1");
	fd_tx = map_fd(obj, "drv_txports_v1");
	fd_stats = map_fd(obj, "drv_stats_v1");
	fd_svcst = map_fd(obj, "drv_svcst_v1");
	fd_best = map_fd(obj, "drv_best_v1");
	fd_nat = map_fd(obj, "drv_nat_v1");
	if (!bpf_obj_get_info_by_fd(prog_fd, &info, &ilen))
		fprintf(stderr,
			"test_props: drover_xdp (%s) is %u instructions after the verifier\n",
			build, info.xlated_prog_len / 8);
	topology();
}

static int setup_inline(void **state)
{
	(void)state;
	skel = drover_bpf__open();
	if (!skel)
		return -1;
	prepare(skel->obj);
	if (drover_bpf__load(skel)) {
		fprintf(stderr, "test_props: couldn't load drover_xdp\n");
		return -1;
	}
	loaded(skel->obj, "inlined");
	return 0;
}

static int setup_noinline(void **state)
{
	(void)state;
	nskel = drover_noinline_bpf__open();
	if (!nskel)
		return -1;
	prepare(nskel->obj);
	if (drover_noinline_bpf__load(nskel)) {
		fprintf(stderr, "test_props: couldn't load drover_xdp (DROVER_NOINLINE)\n");
		return -1;
	}
	loaded(nskel->obj, "noinline");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	drover_bpf__destroy(skel);
	drover_noinline_bpf__destroy(nskel);
	skel = NULL;
	nskel = NULL;
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	if (topo_setup("test_props", &ifa, &ifc))
		return -1;
	/* beside topo.h's 10.9.0.0/16: node 3 of the small services is unreachable */
	if (sh("ip -6 route add blackhole fd09::/64")) {
		fprintf(stderr, "test_props: setup failed: ip -6 route add blackhole fd09::/64\n");
		return -1;
	}
	ncpus = libbpf_num_possible_cpus();
	return 0;
}

/* ---- counters ---------------------------------------------------------- */

/* A service's or backend's counters (drv_lb_counters), summed over CPUs. */
struct lbc {
	__u64 sent, drops, new_flows;
};

/* Every counter a run may move. */
struct snap {
	__u64 s[DRV_STATS_SLOTS]; /* packets of every drv_stats slot */
	__u64 verdict_bytes; /* bytes of the XDP_* verdict slots */
	struct lbc svc[NSVC], be[MAX_BE_ID + 1];
};

/* Entries 0..@n-1 of per-CPU array @fd, @size bytes each, into @vals: one syscall. */
static void percpu_read(int fd, __u32 n, void *vals, size_t size)
{
	static __u32 keys[DRV_STATS_SLOTS];
	__u32 out_batch, count = n;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	int err;

	assert_true(n <= DRV_STATS_SLOTS && ncpus <= 512 && size <= sizeof(struct drv_lb_counters));
	err = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &count, &o);
	assert_true(!err || errno == ENOENT);
	assert_int_equal(count, n);
	assert_int_equal(keys[n - 1], n - 1);
}

static void lb_read(int fd, __u32 n, struct lbc *out)
{
	static struct drv_lb_counters vals[DRV_STATS_SLOTS * 512];
	__u32 k;
	int i;

	percpu_read(fd, n, vals, sizeof(vals[0]));
	for (k = 0; k < n; k++) {
		out[k] = (struct lbc){ 0 };
		for (i = 0; i < ncpus; i++) {
			const struct drv_lb_counters *c = &vals[k * ncpus + i];

			out[k].sent += c->packets + c->reply_packets;
			out[k].drops += c->drops;
			out[k].new_flows += c->new_flows;
		}
	}
}

/* drv_stats, drv_svcst and drv_best, in three syscalls. */
static void snap_read(struct snap *sn)
{
	static struct drv_counter vals[DRV_STATS_SLOTS * 512];
	__u32 k;
	int i;

	percpu_read(fd_stats, DRV_STATS_SLOTS, vals, sizeof(vals[0]));
	sn->verdict_bytes = 0;
	for (k = 0; k < DRV_STATS_SLOTS; k++) {
		sn->s[k] = 0;
		for (i = 0; i < ncpus; i++) {
			sn->s[k] += vals[k * ncpus + i].packets;
			if (k <= XDP_REDIRECT)
				sn->verdict_bytes += vals[k * ncpus + i].bytes;
		}
	}
	lb_read(fd_svcst, NSVC, sn->svc);
	lb_read(fd_best, MAX_BE_ID + 1, sn->be);
}

/* The drop reasons of include/drover/maps.h: every DROP_* slot (each drop counts one). */
static const enum drv_stat drop_reasons[] = {
	DRV_STAT_DROP_ETH_TRUNC, DRV_STAT_DROP_IP_TRUNC,   DRV_STAT_DROP_IP_BAD,
	DRV_STAT_DROP_IP_FRAG,	 DRV_STAT_DROP_IP6_EXT,	   DRV_STAT_DROP_TCP_TRUNC,
	DRV_STAT_DROP_TCP_BAD,	 DRV_STAT_DROP_NO_BACKEND, DRV_STAT_DROP_SNAT_EXHAUSTED,
	DRV_STAT_DROP_FIB,	 DRV_STAT_DROP_TTL,	   DRV_STAT_DROP_INTERNAL,
	DRV_STAT_DROP_TOO_BIG,	 DRV_STAT_DROP_MARTIAN,
};

/* ---- an independent view of a frame ------------------------------------ */

struct view {
	bool ip; /* an IP packet whose headers lie within its length and the frame */
	size_t l3, l4, end; /* offsets; end: l3 + the IP length */
	__u8 fam, proto, ttl;
	__u16 tci;
	bool tagged, ext; /* IPv4 options / IPv6 extension headers */
	bool frag; /* a fragment (not IPv6's atomic one) */
	const __u8 *sa, *da;
	bool ip_csum_ok;
	bool l4_full; /* the L4 header is within the IP length */
	bool l4_csum_ok;
};

static void parse(const __u8 *b, size_t len, struct view *v)
{
	__u16 et;
	size_t l3 = ETH_HLEN, i, alen;
	__u32 sum;
	__u8 nh;

	memset(v, 0, sizeof(*v));
	if (len < ETH_HLEN)
		return;
	et = ntohs(*(__be16 *)(b + 12));
	if (et == ETH_P_8021Q || et == ETH_P_8021AD) {
		if (len < ETH_HLEN + 4)
			return;
		v->tagged = true;
		v->tci = ntohs(*(__be16 *)(b + 14));
		et = ntohs(*(__be16 *)(b + 16));
		l3 += 4;
	}
	v->l3 = l3;
	if (et == ETH_P_IP) {
		size_t hl, tl;

		if (len < l3 + 20 || b[l3] >> 4 != 4 || (b[l3] & 15) < 5)
			return;
		hl = (b[l3] & 15) * 4;
		tl = ntohs(*(__be16 *)(b + l3 + 2));
		if (tl < hl || len < l3 + tl)
			return;
		v->fam = 4;
		v->end = l3 + tl;
		v->l4 = l3 + hl;
		v->proto = b[l3 + 9];
		v->ttl = b[l3 + 8];
		v->sa = b + l3 + 12;
		v->da = b + l3 + 16;
		v->ext = hl > 20;
		v->frag = ntohs(*(__be16 *)(b + l3 + 6)) & 0x3fff;
		v->ip_csum_ok = pkt_fold(pkt_sum(b + l3, hl, 0)) == 0;
	} else if (et == ETH_P_IPV6) {
		if (len < l3 + 40 || b[l3] >> 4 != 6 ||
		    len < l3 + 40 + ntohs(*(__be16 *)(b + l3 + 4)))
			return;
		v->fam = 6;
		v->end = l3 + 40 + ntohs(*(__be16 *)(b + l3 + 4));
		v->ttl = b[l3 + 7];
		v->sa = b + l3 + 8;
		v->da = b + l3 + 24;
		v->ip_csum_ok = true;
		nh = b[l3 + 6];
		v->l4 = l3 + 40;
		for (i = 0; i < 8 && (nh == 0 || nh == 43 || nh == 60 || nh == 44); i++) {
			__u8 next;

			if (v->l4 + 8 > v->end)
				return;
			v->ext = true;
			next = b[v->l4];
			if (nh == 44) {
				v->frag |= (ntohs(*(__be16 *)(b + v->l4 + 2)) & 0xfff9) != 0;
				v->l4 += 8;
			} else {
				v->l4 += (size_t)(b[v->l4 + 1] + 1) * 8;
			}
			nh = next;
		}
		if (nh == 0 || nh == 43 || nh == 60 || nh == 44)
			return; /* a chain longer than this view follows: not checked */
		v->proto = nh;
	} else {
		return;
	}
	if (v->l4 > v->end)
		return;
	v->ip = true;
	alen = v->fam == 4 ? 4 : 16;
	if (v->proto == IPPROTO_TCP)
		v->l4_full = v->end - v->l4 >= 20;
	else if (v->proto == IPPROTO_ICMP || v->proto == IPPROTO_ICMPV6)
		v->l4_full = v->end - v->l4 >= 8;
	if (!v->l4_full)
		return;
	sum = 0;
	if (v->proto != IPPROTO_ICMP)
		sum = pkt_sum(v->sa, alen, 0) + pkt_sum(v->da, alen, 0) + v->proto +
		      (__u32)(v->end - v->l4);
	v->l4_csum_ok = pkt_fold(pkt_sum(b + v->l4, v->end - v->l4, sum)) == 0;
}

static bool addr_is(const __u8 *a, __u8 fam, const char *s)
{
	__u8 x[16];

	if (inet_pton(fam == 4 ? AF_INET : AF_INET6, s, x) != 1)
		return false;
	return !memcmp(a, x, fam == 4 ? 4 : 16);
}

static const struct pv_svc *svc_of(const __u8 *addr, __u8 fam, __u16 port)
{
	size_t s;

	for (s = 0; s < NSVC; s++)
		if (svcs[s].fam == fam && svcs[s].port == port && addr_is(addr, fam, svcs[s].vip))
			return &svcs[s];
	return NULL;
}

static bool is_backend(const struct pv_svc *v, const __u8 *a)
{
	int b;

	for (b = 0; b < 3; b++)
		if (addr_is(a, v->fam, v->be_addr[b]))
			return true;
	return false;
}

static bool same(const __u8 *a, const __u8 *b, __u8 fam)
{
	return !memcmp(a, b, fam == 4 ? 4 : 16);
}

/* ---- the PRNG and the flows seen ---------------------------------------- */

static __u64 rng;

static __u64 rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static __u32 rn(__u32 n)
{
	return n ? (__u32)(rnd() % n) : 0;
}

static bool rp(__u32 pct)
{
	return rn(100) < pct;
}

/* A nat flow as seen leaving toward its node: what its replies and errors carry. */
struct flow {
	__u8 fam;
	char client[INET6_ADDRSTRLEN], vip[INET6_ADDRSTRLEN], node[INET6_ADDRSTRLEN],
		snat[INET6_ADDRSTRLEN]; /* for pkt_spec */
	__u8 c[16], v[16], n[16], s[16]; /* the same, to compare */
	__u16 cport, vport, nport, sport;
};

#define NFLOWS 2048
static struct flow flows[NFLOWS];
static unsigned nflows, flow_next;

static void flow_record(const __u8 *in, const struct view *vi, const __u8 *out,
			const struct view *vo)
{
	struct flow *f = &flows[flow_next];
	int af = vi->fam == 4 ? AF_INET : AF_INET6;

	f->fam = vi->fam;
	inet_ntop(af, vi->sa, f->client, sizeof(f->client));
	inet_ntop(af, vi->da, f->vip, sizeof(f->vip));
	inet_ntop(af, vo->da, f->node, sizeof(f->node));
	inet_ntop(af, vo->sa, f->snat, sizeof(f->snat));
	memcpy(f->c, vi->sa, vi->fam == 4 ? 4 : 16);
	memcpy(f->v, vi->da, vi->fam == 4 ? 4 : 16);
	memcpy(f->n, vo->da, vi->fam == 4 ? 4 : 16);
	memcpy(f->s, vo->sa, vi->fam == 4 ? 4 : 16);
	f->cport = ntohs(*(__be16 *)(in + vi->l4));
	f->vport = ntohs(*(__be16 *)(in + vi->l4 + 2));
	f->sport = ntohs(*(__be16 *)(out + vo->l4));
	f->nport = ntohs(*(__be16 *)(out + vo->l4 + 2));
	flow_next = (flow_next + 1) % NFLOWS;
	if (nflows < NFLOWS)
		nflows++;
}

/* The newest flow whose node @node:@nport sends to SNAT port @sport, or NULL. */
static const struct flow *flow_of_node(__u8 fam, const __u8 *node, __u16 nport, __u16 sport)
{
	unsigned i, k;

	for (i = 1; i <= nflows; i++) {
		k = (flow_next + NFLOWS - i) % NFLOWS;
		if (flows[k].fam == fam && flows[k].nport == nport && flows[k].sport == sport &&
		    same(node, flows[k].n, fam))
			return &flows[k];
	}
	return NULL;
}

/* The newest flow of client @c:@cport to @vip:@vport, or NULL. */
static const struct flow *flow_of_client(__u8 fam, const __u8 *c, __u16 cport, const __u8 *vip,
					 __u16 vport)
{
	unsigned i, k;

	for (i = 1; i <= nflows; i++) {
		k = (flow_next + NFLOWS - i) % NFLOWS;
		if (flows[k].fam == fam && flows[k].cport == cport && flows[k].vport == vport &&
		    same(c, flows[k].c, fam) && same(vip, flows[k].v, fam))
			return &flows[k];
	}
	return NULL;
}

/* ---- seed frames -------------------------------------------------------- */

struct frame {
	__u8 b[PKT_MAX];
	size_t len;
	int ifindex;
};

static const __u8 tcp_flags[] = { TCP_SYN,	     TCP_SYN,		TCP_ACK,	   TCP_ACK,
				  TCP_ACK | 0x08,    TCP_ACK | 0x08,	TCP_FIN | TCP_ACK, TCP_RST,
				  TCP_RST | TCP_ACK, TCP_SYN | TCP_ACK, TCP_FIN,	   0 };

static void spec_common(struct pkt_spec *s, __u8 fam)
{
	static const __u8 ttls[] = { 1, 2, 255 };

	s->family = fam == 4 ? DRV_FAMILY_V4 : DRV_FAMILY_V6;
	s->flags = tcp_flags[rn(ARRAY_SIZE(tcp_flags))];
	s->seq = (__u32)rnd() | 1;
	s->payload = rp(70) ? rn(100) : rp(80) ? 1300 + rn(170) : 0;
	s->ttl = rp(92) ? 0 : ttls[rn(3)];
	if (rp(10))
		s->vlan = 1 + rn(4094);
	if (fam == 4 && rp(8))
		s->ip_opts = 4 * (1 + rn(10));
	if (fam == 6 && rp(15))
		s->ip6_ext = 1 + rn(3);
	s->frag = rp(3);
	s->no_df = fam == 4 && rp(5);
}

/* A client's segment to a service's VIP:port (or, sometimes, to no service). */
static void seed_client(struct frame *f)
{
	const struct pv_svc *v = &svcs[rn(NSVC)];
	struct pkt_spec s = { 0 };
	const char *c;

	spec_common(&s, v->fam);
	c = v->fam == 4 ? clients4[rn(3)] : clients6[rn(2)];
	if (rp(2))
		c = v->fam == 4 ? martians4[rn(4)] : martians6[rn(4)];
	f->ifindex = !strcmp(c, "10.2.0.50") ? ifc : ifa;
	memcpy(s.smac, f->ifindex == ifc ? (__u8[])MAC_ONEARM : (__u8[])MAC_CLIENT, ETH_ALEN);
	memcpy(s.dmac, f->ifindex == ifc ? (__u8[])MAC_C : (__u8[])MAC_A, ETH_ALEN);
	s.saddr = c;
	s.daddr = v->vip;
	s.sport = 40000 + rn(16);
	s.dport = v->port;
	if (rp(12)) { /* to no service: another port, or another address */
		if (rp(50))
			s.dport = rp(50) ? (__u16)(v->port + 1) : (__u16)rn(65536);
		else
			s.daddr = v->fam == 4 ? "10.0.0.99" : "fd00::99";
	}
	f->len = pkt_build(&s, f->b);
}

/* A node's segment to a seen flow's SNAT address:port (or to a port no flow has). */
static void seed_reply(struct frame *f)
{
	struct pkt_spec s = { 0 };

	if (nflows && rp(90)) {
		const struct flow *fl = &flows[rn(nflows)];

		spec_common(&s, fl->fam);
		s.saddr = fl->node;
		s.daddr = fl->snat;
		s.sport = fl->nport;
		s.dport = fl->sport;
	} else {
		const struct pv_svc *v = &svcs[rp(50) ? 0 : 3];

		spec_common(&s, v->fam);
		s.saddr = v->be_addr[rn(3)];
		s.daddr = v->snat;
		s.sport = v->be_port;
		s.dport = v->lo + rn(64);
	}
	s.ip_opts = 0;
	s.ip6_ext = 0;
	f->ifindex = ifc;
	memcpy(s.smac, (__u8[])MAC_N1, ETH_ALEN);
	memcpy(s.dmac, (__u8[])MAC_C, ETH_ALEN);
	f->len = pkt_build(&s, f->b);
}

/*
 * An ICMP error quoting a flow's packet: to the VIP about a reply (VIP:port
 * → client:port), or, in nat, to the SNAT address about a forwarded packet
 * (SNAT:port → node:port). Mostly too-big, sometimes unreachable.
 */
static void seed_icmp(struct frame *f)
{
	struct icmp_spec s = { 0 };
	struct pkt_spec *q = &s.quoted;
	bool to_vip = rp(60);
	__u8 fam;
	if (nflows && rp(75)) {
		const struct flow *fl = &flows[rn(nflows)];

		fam = fl->fam;
		spec_common(q, fam);
		if (to_vip) {
			q->saddr = fl->vip;
			q->daddr = fl->client;
			q->sport = fl->vport;
			q->dport = fl->cport;
		} else {
			q->saddr = fl->snat;
			q->daddr = fl->node;
			q->sport = fl->sport;
			q->dport = fl->nport;
		}
	} else { /* about a reply of any service's flow, seen or not */
		const struct pv_svc *v = &svcs[rn(NSVC)];

		fam = v->fam;
		spec_common(q, fam);
		to_vip = true;
		q->saddr = v->vip;
		q->daddr = fam == 4 ? clients4[rn(2)] : clients6[rn(2)];
		q->sport = v->port;
		q->dport = 40000 + rn(16);
	}
	q->vlan = 0;
	q->payload = rn(1400);
	s.family = fam == 4 ? DRV_FAMILY_V4 : DRV_FAMILY_V6;
	s.saddr = to_vip ? (fam == 4 ? "10.1.0.9" : "fd01::9") :
			   (fam == 4 ? "10.2.0.9" : "fd02::9");
	s.daddr = q->saddr;
	s.ttl = rp(92) ? 0 : 1 + rn(2);
	if (rp(80)) {
		s.mtu = rp(80) ? 1280 + rn(200) : rn(1500);
	} else { /* unreachable: port / host */
		s.type = fam == 4 ? 3 : 1;
		s.code = fam == 4 ? (rp(50) ? 3 : 1) : (rp(50) ? 4 : 3);
	}
	s.quote_l4 = rp(40) ? 8 : rp(50) ? 20 : rn(1500);
	f->ifindex = to_vip ? ifa : ifc;
	memcpy(s.smac, to_vip ? (__u8[])MAC_CLIENT : (__u8[])MAC_N1, ETH_ALEN);
	memcpy(s.dmac, to_vip ? (__u8[])MAC_A : (__u8[])MAC_C, ETH_ALEN);
	f->len = pkt_build_icmp(&s, f->b);
}

/* ---- mutations ---------------------------------------------------------- */

/* Set the L4 (TCP, ICMP) checksum of @f from scratch, if its header is whole. */
static void fix_l4(struct frame *f)
{
	struct view v;
	size_t off;
	__u32 sum = 0;

	parse(f->b, f->len, &v);
	if (!v.ip || !v.l4_full || v.frag)
		return;
	off = v.l4 + (v.proto == IPPROTO_TCP ? 16 : 2);
	*(__u16 *)(f->b + off) = 0;
	if (v.proto != IPPROTO_ICMP)
		sum = pkt_sum(v.sa, v.fam == 4 ? 4 : 16, 0) +
		      pkt_sum(v.da, v.fam == 4 ? 4 : 16, 0) + v.proto + (__u32)(v.end - v.l4);
	*(__be16 *)(f->b + off) = htons(pkt_fold(pkt_sum(f->b + v.l4, v.end - v.l4, sum)));
}

static size_t l3_of(const struct frame *f)
{
	__u16 et = ntohs(*(__be16 *)(f->b + 12));

	return et == ETH_P_8021Q || et == ETH_P_8021AD ? ETH_HLEN + 4 : ETH_HLEN;
}

static void fix_ip4(struct frame *f, size_t l3)
{
	size_t hl;

	if (f->len < l3 + 20 || f->b[l3] >> 4 != 4)
		return;
	hl = (f->b[l3] & 15) * 4;
	if (hl >= 20 && l3 + hl <= f->len)
		pkt_ip4_csum_set((struct iphdr *)(f->b + l3));
}

static void mutate_once(struct frame *f)
{
	size_t l3 = l3_of(f), v4 = f->len > l3 && f->b[l3] >> 4 == 4, x;
	struct view v;

	parse(f->b, f->len, &v);
	switch (rn(16)) {
	case 0: /* a bit anywhere */
		x = rn(f->len);
		f->b[x] ^= 1 << rn(8);
		break;
	case 1: /* a bit of the L4 header or payload: the L4 checksum fails */
		if (v.ip && v.end > v.l4) {
			x = v.l4 + rn(v.end - v.l4);
			f->b[x] ^= 1 << rn(8);
		}
		break;
	case 2: /* cut */
		f->len = ETH_HLEN + rn(f->len - ETH_HLEN + 1);
		break;
	case 3: /* trailer */
		x = 1 + rn(32);
		if (f->len + x <= PKT_MAX) {
			memset(f->b + f->len, (__u8)rnd(), x);
			f->len += x;
		}
		break;
	case 4: /* IP length */
		if (f->len >= l3 + 40 && !v4) {
			x = ntohs(*(__be16 *)(f->b + l3 + 4)) + rn(129) - 64;
			*(__be16 *)(f->b + l3 + 4) = htons(x);
		} else if (f->len >= l3 + 20 && v4) {
			x = ntohs(*(__be16 *)(f->b + l3 + 2)) + rn(129) - 64;
			*(__be16 *)(f->b + l3 + 2) = htons(x);
			if (rp(70))
				fix_ip4(f, l3);
		}
		break;
	case 5: /* IHL, version */
		if (f->len > l3) {
			f->b[l3] = rp(70) ? (f->b[l3] & 0xf0) | rn(16) :
					    (rn(16) << 4) | (f->b[l3] & 15);
			if (rp(70))
				fix_ip4(f, l3);
		}
		break;
	case 6: /* TCP data offset */
		if (v.ip && v.proto == IPPROTO_TCP && v.l4 + 13 < f->len) {
			f->b[v.l4 + 12] = (rn(16) << 4) | (f->b[v.l4 + 12] & 15);
			if (rp(50))
				fix_l4(f);
		}
		break;
	case 7: /* TCP flags */
		if (v.ip && v.proto == IPPROTO_TCP && v.l4 + 13 < f->len) {
			f->b[v.l4 + 13] = (__u8)rnd();
			if (rp(60))
				fix_l4(f);
		}
		break;
	case 8: /* fragment bits */
		if (v4 && f->len >= l3 + 20) {
			static const __u16 fo[] = { 0, 0x2000, 0x2001, 0x0001, 0x8000, 0x4000 };

			*(__be16 *)(f->b + l3 + 6) = htons(fo[rn(ARRAY_SIZE(fo))]);
			fix_ip4(f, l3);
		}
		break;
	case 9: /* IPv4 header checksum */
		if (v4 && f->len >= l3 + 12)
			f->b[l3 + 10] ^= 1 << rn(8);
		break;
	case 10: /* TTL / hop limit */
		if (v4 && f->len >= l3 + 20) {
			f->b[l3 + 8] = rn(3);
			fix_ip4(f, l3);
		} else if (f->len >= l3 + 8) {
			f->b[l3 + 7] = rn(3);
		}
		break;
	case 11: /* L4 checksum: the other zero (0x0000 / 0xffff), or a bit */
		if (v.ip && v.l4_full) {
			__u8 *c = f->b + v.l4 + (v.proto == IPPROTO_TCP ? 16 : 2);

			if ((c[0] == 0 && c[1] == 0) || (c[0] == 0xff && c[1] == 0xff))
				c[0] = c[1] = ~c[0];
			else
				c[rn(2)] ^= 1 << rn(8);
		}
		break;
	case 12: /* a byte of an ICMP error's quote, the ICMP checksum set again */
		if (v.ip && v.l4_full && (v.proto == IPPROTO_ICMP || v.proto == IPPROTO_ICMPV6) &&
		    v.end > v.l4 + 8) {
			x = v.l4 + 8 + rn(v.end - v.l4 - 8 < 64 ? v.end - v.l4 - 8 : 64);
			f->b[x] = (__u8)rnd();
			fix_l4(f);
		}
		break;
	case 13: /* another IP protocol: UDP, GRE, ESP, IPIP, IPv6, no next header */
		if (v.ip && !v.ext) {
			static const __u8 pr[] = { 17, 47, 50, 4, 41, 59 };

			f->b[v.l3 + (v.fam == 4 ? 9 : 6)] = pr[rn(ARRAY_SIZE(pr))];
			if (v.fam == 4)
				fix_ip4(f, v.l3);
		}
		break;
	case 14: /* another EtherType: ARP, MPLS, LLDP, a second tag */
		if (f->len >= l3) {
			static const __u16 et[] = { 0x0806, 0x8847, 0x88cc, ETH_P_8021Q,
						    ETH_P_8021AD };

			*(__be16 *)(f->b + l3 - 2) = htons(et[rn(ARRAY_SIZE(et))]);
		}
		break;
	case 15: /* to a group MAC: not sent to this router */
		f->b[0] |= 1;
		break;
	}
}

static void mutate(struct frame *f)
{
	int n;

	if (rp(40))
		return;
	for (n = 1 + (rp(30) ? rn(3) : 0); n > 0; n--)
		mutate_once(f);
}

/* ---- the invariants ----------------------------------------------------- */

struct run {
	__u64 seed;
	unsigned long iter, violations, unverified;
	const struct frame *in;
	const __u8 *out;
	size_t out_len;
	int act;
	__u64 d[DRV_STATS_SLOTS], dbytes;
	struct lbc dsvc[NSVC], dbe[MAX_BE_ID + 1]; /* what moved, per service and backend */
	struct lbc svc_sum, be_sum;
};

static void violation(struct run *r, const char *what)
{
	r->violations++;
	fprintf(stderr,
		"property violated: %s (seed %llu, iteration %lu, ifindex %s, verdict %d)\n", what,
		(unsigned long long)r->seed, r->iter, r->in->ifindex == ifa ? "drva" : "drvc",
		r->act);
	if (r->violations > 5 && !getenv("DROVER_PROPS_DUMP"))
		return;
	pkt_hexdump("in", r->in->b, r->in->len);
	if (r->out)
		pkt_hexdump("out", r->out, r->out_len);
}

#define CHECK(cond, what)                   \
	do {                                \
		if (!(cond)) {              \
			violation(r, what); \
			return;             \
		}                           \
	} while (0)

static __u16 port_at(const __u8 *b, size_t off)
{
	return ntohs(*(__be16 *)(b + off));
}

/* drover's own answers: a RST for a down node's flow, a too-big error. */
static void check_answer(struct run *r, const struct view *vi, const struct view *vo)
{
	const __u8 *in = r->in->b, *out = r->out;
	bool rst = r->d[DRV_STAT_RST_NODE_DOWN];
	__u32 mtu;

	CHECK(r->act == XDP_TX, "an answer not sent back out of its ingress device");
	CHECK(!memcmp(out, in + 6, ETH_ALEN) && !memcmp(out + 6, in, ETH_ALEN),
	      "answer: MACs not swapped");
	CHECK(vo->end == r->out_len, "answer: IP length is not the frame's");
	CHECK(vo->ip_csum_ok, "answer: bad IPv4 header checksum");
	CHECK(vo->l4_full && vo->l4_csum_ok, "answer: bad TCP / ICMP checksum");
	CHECK(vo->ttl == 64, "answer: TTL / hop limit is not 64");
	CHECK(same(vo->sa, vi->da, vi->fam) && same(vo->da, vi->sa, vi->fam),
	      "answer: not from the packet's destination to its source");
	CHECK(vi->ip_csum_ok, "drover answered a packet whose IPv4 header checksum fails");
	if (rst) {
		const __u8 *ti = in + vi->l4, *to = out + vo->l4;

		CHECK(vo->proto == IPPROTO_TCP && r->out_len == vo->l4 + 20, "RST: shape");
		CHECK(!vi->ext && !(ti[13] & TCP_RST) &&
			      (ti[13] & (TCP_SYN | TCP_ACK | TCP_FIN)) != TCP_SYN,
		      "RST answers a RST, a bare SYN or a packet with options / extension headers");
		CHECK(ti[13] & TCP_ACK ? to[13] == TCP_RST && !memcmp(to + 4, ti + 8, 4) :
					 to[13] == (TCP_RST | TCP_ACK) && !*(__u32 *)(to + 4),
		      "RST: flags or sequence number");
		CHECK(port_at(out, vo->l4) == port_at(in, vi->l4 + 2) &&
			      port_at(out, vo->l4 + 2) == port_at(in, vi->l4),
		      "RST: ports not swapped");
		/*
		 * Longer than its device's MTU, it is a GRO aggregate (skb mode),
		 * whose checksum field holds the pseudo-header's sum only.
		 */
		CHECK(vi->l4_csum_ok || vi->end - vi->l3 > DEV_MTU,
		      "RST answers a segment whose TCP checksum fails (the node would drop it)");
		return;
	}
	CHECK(vo->proto == (vi->fam == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6), "too-big: not ICMP");
	CHECK(vi->fam == 4 ? out[vo->l4] == 3 && out[vo->l4 + 1] == 4 :
			     out[vo->l4] == 2 && out[vo->l4 + 1] == 0,
	      "too-big: type / code");
	CHECK(!vi->ext, "too-big answers a packet with IPv4 options / IPv6 extension headers");
	CHECK(r->out_len == vo->l4 + 8 + (vi->fam == 4 ? 28 : 48), "too-big: length");
	mtu = ntohl(*(__be32 *)(out + vo->l4 + 4));
	CHECK(mtu >= (vi->fam == 4 ? 68u : 1280u) && mtu < vi->end - vi->l3,
	      "too-big: announced MTU not below the packet's length, or below the minimum");
	CHECK(!memcmp(out + vo->l4 + 8, in + vi->l3, vi->l4 - vi->l3 + 8),
	      "too-big: the quote is not the packet's IP header and first 8 TCP bytes");
}

/* Which device a next hop's MAC lies behind (the FIB's answer for it), 0 if none. */
static int dev_of(const __u8 *dmac)
{
	static const __u8 ca[][ETH_ALEN] = { MAC_CLIENT },
			  cc[][ETH_ALEN] = { MAC_N1, MAC(0x02, 0x12), MAC(0x02, 0x13), MAC_ONEARM };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ca); i++)
		if (!memcmp(dmac, ca[i], ETH_ALEN))
			return ifa;
	for (i = 0; i < ARRAY_SIZE(cc); i++)
		if (!memcmp(dmac, cc[i], ETH_ALEN))
			return ifc;
	return 0;
}

/*
 * ICMP error @out readdressed from @in (quote at @q, its IP header @qhl
 * bytes): a whole quoted TCP segment whose checksum verified still does, and
 * so does a quoted IPv4 header's.
 */
static void check_quote(struct run *r, const struct view *vi, const struct view *vo, size_t q,
			size_t qhl)
{
	const __u8 *in = r->in->b, *out = r->out, *oq = out + q, *iq = in + vi->l4 + 8;
	size_t tl, end = vo->end;

	if (vo->fam == 4 && end >= q + 20 && ntohs(*(__be16 *)(oq + 2)) + q <= end &&
	    ntohs(*(__be16 *)(oq + 2)) >= qhl + 20) {
		__u32 si, so;

		tl = ntohs(*(__be16 *)(oq + 2)) - qhl;
		si = pkt_sum(iq + 12, 8, 0) + IPPROTO_TCP + (__u32)tl;
		so = pkt_sum(oq + 12, 8, 0) + IPPROTO_TCP + (__u32)tl;
		if (pkt_fold(pkt_sum(iq + qhl, tl, si)) == 0)
			CHECK(pkt_fold(pkt_sum(oq + qhl, tl, so)) == 0,
			      "ICMP: the whole quoted TCP segment's checksum no longer verifies");
	}
	if (vo->fam == 6 && end >= q + 40 && ntohs(*(__be16 *)(oq + 4)) + q + 40 <= end &&
	    oq[6] == IPPROTO_TCP && ntohs(*(__be16 *)(oq + 4)) >= 20) {
		__u32 si, so;

		tl = ntohs(*(__be16 *)(oq + 4));
		si = pkt_sum(iq + 8, 32, 0) + IPPROTO_TCP + (__u32)tl;
		so = pkt_sum(oq + 8, 32, 0) + IPPROTO_TCP + (__u32)tl;
		if (pkt_fold(pkt_sum(iq + 40, tl, si)) == 0)
			CHECK(pkt_fold(pkt_sum(oq + 40, tl, so)) == 0,
			      "ICMP: the whole quoted TCP segment's checksum no longer verifies");
	}
	if (vo->fam == 4 && end >= q + qhl && qhl >= 20 && pkt_fold(pkt_sum(iq, qhl, 0)) == 0)
		CHECK(pkt_fold(pkt_sum(oq, qhl, 0)) == 0,
		      "ICMP: the quoted IPv4 header's checksum no longer verifies");
}

/* ---- the flows the test saw made: which backend each must keep --------- */

struct mflow {
	struct drv_flow_key k;
	__u32 be, gen;
	bool used;
};

#define MFLOWS 16384 /* open addressing: far more than the run's few hundred keys */
static struct mflow mflows[MFLOWS];

/* Key @k's slot: its own, or the free one where it goes (NULL: the table is full). */
static struct mflow *mflow_slot(const struct drv_flow_key *k)
{
	__u32 h = drv_flow_hash(k), i;
	struct mflow *m;

	for (i = 0; i < MFLOWS; i++) {
		m = &mflows[(h + i) % MFLOWS];
		if (!m->used || !memcmp(&m->k, k, sizeof(*k)))
			return m;
	}
	return NULL;
}

/* The program's key of TCP segment @b (view @v): the client's 5-tuple. */
static void flow_key(const __u8 *b, const struct view *v, struct drv_flow_key *k)
{
	size_t al = v->fam == 4 ? 4 : 16;

	memset(k, 0, sizeof(*k));
	memcpy(&k->saddr, v->sa, al);
	memcpy(&k->daddr, v->da, al);
	k->sport = *(__be16 *)(b + v->l4);
	k->dport = *(__be16 *)(b + v->l4 + 2);
	k->proto = IPPROTO_TCP;
	k->family = v->fam == 4 ? DRV_FAMILY_V4 : DRV_FAMILY_V6;
}

static struct mflow *mflow_of(const struct drv_flow_key *k)
{
	struct mflow *m = mflow_slot(k);

	return m && m->used ? m : NULL;
}

/* The model's backend @id: NULL if no service has it. */
static const struct mbe *mbe_of(__u32 id, __u32 *svc, int *idx)
{
	__u32 s;
	int b;

	for (s = 0; s < NSVC; s++)
		for (b = 0; b < 3; b++)
			if (svcs[s].bes[b] == id) {
				*svc = s;
				*idx = b;
				return &mbes[s][b];
			}
	return NULL;
}

/*
 * Reply @in (view @vi) translated into @out (view @vo): is it translated as
 * its drv_nat entry says, to a client flow the test saw start?
 */
static bool reply_of_a_seen_flow(const struct view *vi, const __u8 *in, const struct view *vo,
				 const __u8 *out)
{
	struct drv_flow_key k = { .proto = IPPROTO_TCP };
	size_t al = vo->fam == 4 ? 4 : 16;
	struct drv_nat n;

	k.family = vi->fam == 4 ? DRV_FAMILY_V4 : DRV_FAMILY_V6;
	memcpy(&k.saddr, vi->sa, al);
	memcpy(&k.daddr, vi->da, al);
	k.sport = *(__be16 *)(in + vi->l4);
	k.dport = *(__be16 *)(in + vi->l4 + 2);
	if (bpf_map_lookup_elem(fd_nat, &k, &n) || !same((__u8 *)&n.client, vo->da, vo->fam) ||
	    !same((__u8 *)&n.vip, vo->sa, vo->fam) || n.vip_port != *(__be16 *)(out + vo->l4) ||
	    n.client_port != *(__be16 *)(out + vo->l4 + 2))
		return false;
	memset(&k, 0, sizeof(k));
	k.proto = IPPROTO_TCP;
	k.family = vo->fam == 4 ? DRV_FAMILY_V4 : DRV_FAMILY_V6;
	memcpy(&k.saddr, vo->da, al);
	memcpy(&k.daddr, vo->sa, al);
	k.sport = n.client_port;
	k.dport = n.vip_port;
	return mflow_of(&k);
}

/* A rewritten or wrapped frame (TX, REDIRECT, or the stack's fib_pass). */
static void check_sent(struct run *r)
{
	const __u8 *in = r->in->b, *out = r->out;
	size_t inlen = r->in->len, trailer;
	bool pass = r->act == XDP_PASS;
	struct view vi, vo;
	const struct pv_svc *v = NULL;

	parse(in, inlen, &vi);
	parse(out, r->out_len, &vo);
	CHECK(vi.ip, "a frame that is no sound IP packet was sent on");
	CHECK(vo.ip, "the frame sent is no sound IP packet");
	CHECK(vo.tagged == vi.tagged && vo.tci == vi.tci, "the VLAN tag changed");
	CHECK(vo.ttl > 0, "sent with TTL / hop limit 0");
	if (r->d[DRV_STAT_RST_NODE_DOWN] || r->d[DRV_STAT_ICMP_TOO_BIG]) {
		check_answer(r, &vi, &vo);
		return;
	}
	trailer = inlen - vi.end;
	if (!pass) {
		int egress = dev_of(out);

		CHECK(egress, "sent to a MAC that is no neighbour's");
		CHECK(!memcmp(out + 6, egress == ifa ? (__u8[])MAC_A : (__u8[])MAC_C, ETH_ALEN),
		      "source MAC is not the egress device's");
		CHECK((r->act == XDP_TX) == (egress == r->in->ifindex),
		      "TX / REDIRECT does not match the egress device");
	}
	if (vo.proto == IPPROTO_IPIP || vo.proto == IPPROTO_IPV6) { /* tunnel */
		size_t grow = vo.fam == 4 ? 20 : 40;

		CHECK(vo.fam == vi.fam && !vo.ext && vo.l4 - vo.l3 == grow, "tunnel: outer header");
		CHECK(vo.end == vi.end + grow && r->out_len == inlen + grow,
		      "tunnel: outer IP length is not the inner packet's");
		CHECK(vo.ip_csum_ok, "tunnel: bad outer IPv4 header checksum");
		CHECK(vo.ttl == 64, "tunnel: outer TTL / hop limit is not 64");
		CHECK(vi.ttl > 0, "tunnel: inner TTL / hop limit 0 sent on");
		CHECK(vo.fam == 6 || !(port_at(out, vo.l3 + 6) & 0x4000), "tunnel: outer DF set");
		CHECK(!memcmp(out + vo.l4, in + vi.l3, inlen - vi.l3),
		      "tunnel: inner packet changed");
		CHECK(addr_is(vo.sa, vo.fam, vo.fam == 4 ? "10.2.0.1" : "fd02::1"),
		      "tunnel: outer source is not the service's snat");
		if (vi.proto == IPPROTO_TCP) {
			v = svc_of(vi.da, vi.fam, port_at(in, vi.l4 + 2));
			CHECK(v && v->mode == DRV_MODE_TUNNEL && is_backend(v, vo.da),
			      "tunnel: not to a node of the packet's tunnel service");
		}
		return;
	}
	CHECK(vo.fam == vi.fam && vo.proto == vi.proto && vo.l4 - vo.l3 == vi.l4 - vi.l3,
	      "a rewrite changed the IP header's shape or protocol");
	CHECK(vo.end == vi.end && r->out_len == inlen &&
		      !memcmp(out + vo.end, in + vi.end, trailer),
	      "a rewrite changed the IP length or the trailer");
	CHECK(vo.ip_csum_ok == vi.ip_csum_ok,
	      vi.ip_csum_ok ? "bad IPv4 header checksum out" :
			      "IPv4 header checksum laundered (bad in, good out)");
	CHECK(vo.l4_full, "L4 header cut");
	CHECK(vo.l4_csum_ok == vi.l4_csum_ok, vi.l4_csum_ok ?
						      "bad L4 checksum out (good in)" :
						      "L4 checksum laundered (bad in, good out)");
	if (!memcmp(out + vo.l3, in + vi.l3, inlen - vi.l3)) {
		/* dsr: only the MACs change (TCP to a dsr VIP, or ICMP about its flow) */
		if (vi.proto == IPPROTO_TCP) {
			v = svc_of(vi.da, vi.fam, port_at(in, vi.l4 + 2));
			CHECK(v && v->mode == DRV_MODE_DSR, "IP packet sent unchanged, not dsr");
		}
		CHECK(!pass, "dsr: handed to the stack");
		return;
	}
	if (vi.proto == IPPROTO_TCP) {
		__u16 sp = port_at(out, vo.l4), dp = port_at(out, vo.l4 + 2);
		const struct flow *fl;

		CHECK(!vi.frag, "a fragment was rewritten");
		CHECK(!memcmp(out + vo.l4 + 4, in + vi.l4 + 4, 12) &&
			      !memcmp(out + vo.l4 + 18, in + vi.l4 + 18, vi.end - vi.l4 - 18),
		      "nat: TCP changed past its ports and checksum");
		CHECK(vo.ttl == vi.ttl - (pass ? 0 : 1), "nat: TTL / hop limit not one less");
		v = svc_of(vi.da, vi.fam, port_at(in, vi.l4 + 2));
		if (v) {
			CHECK(v->mode == DRV_MODE_NAT, "a dsr / tunnel packet was rewritten");
			CHECK(addr_is(vo.sa, vo.fam, v->snat) && sp >= v->lo && sp <= v->hi,
			      "nat: source is not the SNAT address and a port of its range");
			CHECK(is_backend(v, vo.da) && dp == v->be_port,
			      "nat: destination is not a node of the service");
			flow_record(in, &vi, out, &vo);
			return;
		}
		fl = flow_of_node(vi.fam, vi.sa, port_at(in, vi.l4), port_at(in, vi.l4 + 2));
		if (!fl) {
			r->unverified++;
			return;
		}
		/*
		 * The port's newest flow the test saw sent on may no longer hold it:
		 * a new flow whose first packet was answered (too-big) or dropped
		 * took it unseen, or one whose reply entry was evicted goes on with
		 * its port until it next refreshes the entry (DRV_TOUCH_NS) while
		 * another holds it. The reply must then be translated as its
		 * reply entry says, to a flow the test saw start.
		 */
		if (!(same(vo.sa, fl->v, vo.fam) && sp == fl->vport && same(vo.da, fl->c, vo.fam) &&
		      dp == fl->cport) &&
		    reply_of_a_seen_flow(&vi, in, &vo, out)) {
			r->unverified++;
			return;
		}
		CHECK(same(vo.sa, fl->v, vo.fam) && sp == fl->vport && same(vo.da, fl->c, vo.fam) &&
			      dp == fl->cport,
		      "reply: not from the flow's VIP:port to its client:port");
		return;
	}
	/* ICMP error taken on, readdressed (nat): quote and outer addresses agree */
	{
		size_t q = vo.l4 + 8, qhl = vo.fam == 4 ? (out[q] & 15) * 4u : 40, qsa;
		const struct flow *fl;

		CHECK(vo.proto == (vo.fam == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6),
		      "neither TCP nor ICMP rewritten");
		CHECK(!vi.frag, "an ICMP fragment was rewritten");
		CHECK(vo.ttl == vi.ttl - (pass ? 0 : 1), "ICMP: TTL / hop limit not one less");
		qsa = vo.fam == 4 ? 12 : 8;
		CHECK(r->out_len >= q + qhl + 4, "ICMP: quote cut before its ports");
		CHECK(same(out + q + qsa, vo.da, vo.fam) &&
			      same(out + q + qsa + (vo.fam == 4 ? 4 : 16), vo.sa, vo.fam),
		      "ICMP: the quote is not from the error's destination to its source");
		check_quote(r, &vi, &vo, q, qhl);
		if (r->violations)
			return;
		if (r->d[DRV_STAT_ICMP_TO_NODE]) {
			fl = flow_of_node(vo.fam, vo.da, port_at(out, q + qhl),
					  port_at(out, q + qhl + 2));
			if (!fl) {
				r->unverified++;
				return;
			}
			CHECK(same(vo.sa, fl->s, vo.fam),
			      "ICMP to node: not from the SNAT address");
		} else {
			CHECK(r->d[DRV_STAT_ICMP_TO_CLIENT], "ICMP rewritten, counted neither way");
			/* the quote: client:port → VIP:port, as the client sent it */
			fl = flow_of_client(vo.fam, vo.da, port_at(out, q + qhl), vo.sa,
					    port_at(out, q + qhl + 2));
			if (!fl) {
				r->unverified++;
				return;
			}
		}
	}
}

/*
 * Must the program drop frame @b (docs/datapath.md step 2)? A broken IPv4 or
 * IPv6 header whatever the protocol, and a broken TCP header in a packet that
 * is TCP at once (IPv4 not a later fragment, IPv6 without extension headers).
 * Return: why, or NULL.
 */
static const char *must_drop(const __u8 *b, size_t len)
{
	size_t l3 = ETH_HLEN, hl, tl, doff;
	__u16 et;

	if (len < ETH_HLEN)
		return "a runt was not dropped";
	et = ntohs(*(__be16 *)(b + 12));
	if (et == ETH_P_8021Q || et == ETH_P_8021AD) {
		if (len < ETH_HLEN + 4)
			return "a cut VLAN tag was not dropped";
		et = ntohs(*(__be16 *)(b + 16));
		l3 += 4;
	}
	if (et == ETH_P_IP) {
		if (len < l3 + 20)
			return "a cut IPv4 header was not dropped";
		if (b[l3] >> 4 != 4 || (b[l3] & 0xf) < 5)
			return "a bad IPv4 version / IHL was not dropped";
		hl = (b[l3] & 0xf) * 4;
		tl = ntohs(*(__be16 *)(b + l3 + 2));
		if (len < l3 + hl || tl < hl || len < l3 + tl)
			return "a bad IPv4 length was not dropped";
		if (b[l3 + 9] != IPPROTO_TCP || (ntohs(*(__be16 *)(b + l3 + 6)) & 0x1fff))
			return NULL;
	} else if (et == ETH_P_IPV6) {
		if (len < l3 + 40)
			return "a cut IPv6 header was not dropped";
		if (b[l3] >> 4 != 6)
			return "a bad IPv6 version was not dropped";
		tl = 40 + ntohs(*(__be16 *)(b + l3 + 4));
		if (len < l3 + tl)
			return "a bad IPv6 length was not dropped";
		if (b[l3 + 6] != IPPROTO_TCP)
			return NULL;
		hl = 40;
	} else {
		return NULL;
	}
	/* An IP frame to a group MAC was not sent to this router: passed before TCP is read. */
	if (b[0] & 1)
		return NULL;
	if (tl < hl + 20)
		return "a cut TCP header was not dropped";
	doff = (b[l3 + hl + 12] >> 4) * 4;
	if (doff < 20)
		return "a bad TCP data offset was not dropped";
	if (hl + doff > tl)
		return "a TCP header past the IP length was not dropped";
	return NULL;
}

/* The one backend id whose counters the run moved: 0 if none, -1 if more than one. */
static long be_moved(const struct run *r)
{
	long id = 0;
	__u32 k;

	for (k = 1; k <= MAX_BE_ID; k++)
		if (r->dbe[k].sent || r->dbe[k].drops || r->dbe[k].new_flows)
			id = id ? -1 : (long)k;
	return id;
}

/* The node a frame sent toward service @v went to: its backend index, or -1. */
static int node_of(const struct pv_svc *v, const __u8 *out, const struct view *vo)
{
	int b;

	for (b = 0; b < 3; b++) {
		if (v->mode == DRV_MODE_DSR) {
			__u8 mac[ETH_ALEN] = MAC(0x02, 0x11);

			mac[5] += b;
			if (!memcmp(out, mac, ETH_ALEN))
				return b;
		} else if (vo->ip && addr_is(vo->da, v->fam, v->be_addr[b])) {
			return b;
		}
	}
	return -1;
}

/*
 * A client's segment to service @v (view @vi) under churn: a new flow takes
 * the active table's entry for its hash, and only a usable one; a recorded
 * flow stays on its backend while that backend is there with its
 * generation and not down (a client's RST still goes to a down one), and
 * moves off only then; a RST answers only a flow whose backend is down;
 * what is counted to a backend is what was sent to it.
 */
static void check_flow(struct run *r, const struct view *vi, const struct pv_svc *v)
{
	const __u8 *in = r->in->b;
	__u32 s = v - svcs, h, pick, bs;
	const struct mbe *pm, *bm;
	struct drv_flow_key k;
	struct mflow *rec, was;
	long moved = be_moved(r);
	__u8 fl = in[vi->l4 + 13];
	bool bare_syn = (fl & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN;
	bool answer = r->d[DRV_STAT_RST_NODE_DOWN] || r->d[DRV_STAT_ICMP_TOO_BIG];
	bool sent = r->act == XDP_TX || r->act == XDP_REDIRECT || r->d[DRV_STAT_FIB_PASS];
	int b;

	CHECK(moved >= 0, "one packet counted to two backends");
	flow_key(in, vi, &k);
	h = drv_flow_hash(&k);
	pick = mtbl[s][mactive[s]][h % TABLE];
	pm = mbe_of(pick, &bs, &b);
	rec = mflow_of(&k);
	if (rec) {
		was = *rec; /* the flow as recorded before this packet */
		rec = &was;
	}
	if (r->d[DRV_STAT_DROP_NO_BACKEND])
		CHECK(!pm || !pm->present || pm->state != DRV_BE_UP,
		      "no_backend, but the active table's entry is a backend that is up");
	if (r->d[DRV_STAT_DROP_SNAT_EXHAUSTED])
		CHECK(pm && pm->present && pm->state == DRV_BE_UP && moved == pick,
		      "snat_exhausted counted to another backend than the active table's entry");
	if (r->d[DRV_STAT_NEW_FLOW]) {
		CHECK(pm && pm->present && pm->state == DRV_BE_UP,
		      "a new flow where the active table's entry is no backend that is up");
		CHECK(moved == pick && r->dbe[pick].new_flows == 1,
		      "a new flow not on the active table's entry for its hash (a stale slot?)");
		struct mflow *m = mflow_slot(&k);

		assert_non_null(m);
		*m = (struct mflow){ .k = k, .be = pick, .gen = pm->gen, .used = true };
	} else if (rec && moved && !r->d[DRV_STAT_DROP_SNAT_EXHAUSTED]) {
		CHECK(moved == rec->be, "a recorded flow counted to another backend than its own");
	}
	if (rec && r->d[DRV_STAT_REHASH]) {
		bm = mbe_of(rec->be, &bs, &b);
		CHECK(!bm->present || bm->gen != rec->gen || bm->state == DRV_BE_DOWN ||
			      (bm->state == DRV_BE_FAILING && bare_syn),
		      "a flow moved off a backend it may keep (there, same generation, not down)");
	}
	if (rec && !r->d[DRV_STAT_NEW_FLOW]) {
		bm = mbe_of(rec->be, &bs, &b);
		if (r->d[DRV_STAT_RST_NODE_DOWN])
			CHECK(bm->present && bm->gen == rec->gen && bm->state == DRV_BE_DOWN,
			      "a RST for a flow whose backend is not down");
		else if (sent)
			CHECK(bm->present && bm->gen == rec->gen &&
				      (bm->state != DRV_BE_DOWN || (fl & TCP_RST)),
			      "a flow kept on a backend that is gone, replaced or down");
	}
	if (sent && !answer && r->out) {
		struct view vo;

		parse(r->out, r->out_len, &vo);
		b = node_of(v, r->out, &vo);
		CHECK(b >= 0 && moved == v->bes[b],
		      "sent to one node of the service, counted to another backend");
	}
	if (!r->d[DRV_STAT_NEW_FLOW] && !rec && sent && !answer)
		r->unverified++;
}

/* What the service and backend counters may do for any frame. */
static void check_lb(struct run *r)
{
	bool answer = r->d[DRV_STAT_RST_NODE_DOWN] || r->d[DRV_STAT_ICMP_TOO_BIG];
	const struct lbc *sv = &r->svc_sum, *be = &r->be_sum;

	CHECK(sv->sent <= 1 && sv->drops <= 1 && be->sent <= 1 && be->drops <= 1,
	      "service / backend counters moved by more than one");
	CHECK(!(sv->sent && sv->drops) && !(be->sent && be->drops),
	      "a packet counted both sent and dropped by its service / backend");
	CHECK(sv->new_flows == r->d[DRV_STAT_NEW_FLOW] && be->new_flows == r->d[DRV_STAT_NEW_FLOW],
	      "new_flow and the service's / backend's new flows disagree");
	if (r->act == XDP_DROP)
		CHECK(!sv->sent && !be->sent, "a dropped packet counted as sent by its service");
	if (answer)
		CHECK(!sv->sent && sv->drops == 1,
		      "a too-big or RST answer not counted as a drop of its service");
	if (r->act == XDP_PASS && !r->d[DRV_STAT_FIB_PASS])
		CHECK(!sv->sent && !be->sent && !sv->drops,
		      "a frame passed untouched moved service counters");
	if ((r->act == XDP_TX || r->act == XDP_REDIRECT) && !answer &&
	    !r->d[DRV_STAT_ICMP_TO_NODE] && !r->d[DRV_STAT_ICMP_TO_CLIENT])
		CHECK(sv->sent == 1 && be->sent == 1,
		      "a TCP frame sent on not counted as sent by its service and backend");
}

static void check_run(struct run *r)
{
	const struct pv_svc *v = NULL;
	const char *why;
	struct view vi;
	__u64 drops = 0;
	size_t i;

	CHECK(r->act >= XDP_DROP && r->act <= XDP_REDIRECT,
	      "verdict is not DROP / PASS / TX / REDIRECT");
	CHECK(r->d[r->act] == 1 && r->d[XDP_ABORTED] + r->d[XDP_DROP] + r->d[XDP_PASS] +
						   r->d[XDP_TX] + r->d[XDP_REDIRECT] ==
					   1,
	      "the verdict was not counted exactly once");
	CHECK(r->dbytes == r->in->len,
	      "the verdict's bytes are not the frame's length as received");
	for (i = 0; i < ARRAY_SIZE(drop_reasons); i++)
		drops += r->d[drop_reasons[i]];
	CHECK(drops == (r->act == XDP_DROP),
	      r->act == XDP_DROP ? "a DROP did not count exactly one drop reason" :
				   "a frame not dropped counted a drop reason");
	CHECK(!r->d[DRV_STAT_DROP_INTERNAL], "drop_internal counted");
	CHECK(!r->d[DRV_STAT_FIB_PASS] || r->act == XDP_PASS, "fib_pass without XDP_PASS");
	CHECK(r->d[DRV_STAT_NEW_FLOW] <= 1, "more than one new flow");
	why = must_drop(r->in->b, r->in->len);
	CHECK(!why || r->act == XDP_DROP, why);
	check_lb(r);
	parse(r->in->b, r->in->len, &vi);
	if (vi.ip && vi.proto == IPPROTO_TCP && vi.l4_full)
		v = svc_of(vi.da, vi.fam, port_at(r->in->b, vi.l4 + 2));
	CHECK(v || !r->d[DRV_STAT_NEW_FLOW],
	      "a new flow for a frame that is no TCP segment to a service");
	if (v) {
		unsigned long was = r->violations;

		check_flow(r, &vi, v);
		if (r->violations != was)
			return;
	}
	if (r->act == XDP_PASS && !r->d[DRV_STAT_FIB_PASS]) {
		CHECK(r->out_len == r->in->len && !memcmp(r->out, r->in->b, r->in->len),
		      "a frame passed to the stack (not fib_pass) was changed");
		return;
	}
	if (r->act != XDP_DROP)
		check_sent(r);
}

/* ---- the run ------------------------------------------------------------ */

/* Paths counted per address family (the frame's), beyond drv_stats' totals. */
enum path {
	PATH_TOO_BIG,
	PATH_RST,
	PATH_TO_NODE,
	PATH_TO_CLIENT,
	PATH_FIB,
	PATH_LOST,
	PATH_VLAN_SENT,
	PATH_VLAN_ANSWER,
	__PATH_MAX,
};

static const char *const path_names[] = {
	"icmp_too_big",
	"rst_node_down",
	"icmp_to_node",
	"icmp_to_client",
	"drop_fib",
	"snat_port_lost",
	"VLAN-tagged frame sent on",
	"VLAN-tagged answer",
};
_Static_assert(ARRAY_SIZE(path_names) == __PATH_MAX, "path_names");

struct cover {
	unsigned long runs, sent, passed_same, cut_sweeps, churns;
	__u64 stats[DRV_STATS_SLOTS];
	__u64 svc_new[NSVC], svc_sent[NSVC]; /* each service's new flows and frames sent */
	__u64 path[2][__PATH_MAX]; /* [0] IPv4, [1] IPv6 */
};

/* What run @r reached, by service and by family. */
static void cover_paths(struct cover *c, const struct run *r)
{
	bool answer = r->d[DRV_STAT_RST_NODE_DOWN] || r->d[DRV_STAT_ICMP_TOO_BIG];
	__u64 *p;
	struct view v;
	__u32 k;

	for (k = 0; k < NSVC; k++) {
		c->svc_new[k] += r->dsvc[k].new_flows;
		c->svc_sent[k] += r->dsvc[k].sent;
	}
	parse(r->in->b, r->in->len, &v);
	if (!v.fam)
		return;
	p = c->path[v.fam == 6];
	p[PATH_TOO_BIG] += r->d[DRV_STAT_ICMP_TOO_BIG];
	p[PATH_RST] += r->d[DRV_STAT_RST_NODE_DOWN];
	p[PATH_TO_NODE] += r->d[DRV_STAT_ICMP_TO_NODE];
	p[PATH_TO_CLIENT] += r->d[DRV_STAT_ICMP_TO_CLIENT];
	p[PATH_FIB] += r->d[DRV_STAT_DROP_FIB];
	p[PATH_LOST] += r->d[DRV_STAT_SNAT_PORT_LOST];
	if (v.tagged && answer)
		p[PATH_VLAN_ANSWER]++;
	else if (v.tagged && (r->act == XDP_TX || r->act == XDP_REDIRECT))
		p[PATH_VLAN_SENT]++;
}

static int run_prog(const struct frame *f, __u8 *out, __u32 *out_len)
{
	struct xdp_md ctx = { .data_end = f->len, .ingress_ifindex = f->ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = f->len, .data_out = out,
		    .data_size_out = PKT_MAX, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &o), 0);
	*out_len = o.data_size_out;
	return o.retval;
}

static void lbc_delta(struct lbc *d, const struct lbc *a, const struct lbc *b, struct lbc *sum)
{
	d->sent = a->sent - b->sent;
	d->drops = a->drops - b->drops;
	d->new_flows = a->new_flows - b->new_flows;
	sum->sent += d->sent;
	sum->drops += d->drops;
	sum->new_flows += d->new_flows;
}

/* Run @f, the counters before it in @sn: after it on return (runs only change them). */
static unsigned long one(struct run *r, const struct frame *f, struct cover *c, struct snap *sn)
{
	static struct snap after;
	static __u8 out[PKT_MAX];
	__u32 out_len = 0, k;
	unsigned long v = r->violations;

	r->act = run_prog(f, out, &out_len);
	snap_read(&after);
	r->in = f;
	r->out = out;
	r->out_len = out_len;
	for (k = 0; k < DRV_STATS_SLOTS; k++) {
		r->d[k] = after.s[k] - sn->s[k];
		c->stats[k] += r->d[k];
	}
	r->dbytes = after.verdict_bytes - sn->verdict_bytes;
	r->svc_sum = r->be_sum = (struct lbc){ 0 };
	for (k = 0; k < NSVC; k++)
		lbc_delta(&r->dsvc[k], &after.svc[k], &sn->svc[k], &r->svc_sum);
	for (k = 0; k <= MAX_BE_ID; k++)
		lbc_delta(&r->dbe[k], &after.be[k], &sn->be[k], &r->be_sum);
	*sn = after;
	c->runs++;
	check_run(r);
	cover_paths(c, r);
	return r->violations - v;
}

/* Every backend 2 (10.2.0.12 / fd02::12) goes down for a while, then up: the RST path. */
static void toggle_down(unsigned long i)
{
	__u32 s;

	if (i % 1024)
		return;
	for (s = 0; s < NSVC; s++)
		be_set(s, 1, (i / 1024) % 2 ? DRV_BE_DOWN : DRV_BE_UP);
}

/*
 * Now and then (about one frame in 250) a backend changes state, is
 * replaced (its generation bumped: another node at its id), removed or
 * added back, a table is rebuilt and flipped, or the reply port range comes
 * or goes. A state change is followed by a rebuild only sometimes: stale
 * table entries are part of the run.
 */
/*
 * The reply entry of a recorded flow of the small services goes, as LRU
 * pressure evicts one (about one frame in 100): its port is free for
 * another flow, and the flow's next packet finds it taken (snat_port_lost).
 */
static void evict(void)
{
	const struct flow *fl;
	struct drv_flow_key k = { .proto = IPPROTO_TCP };
	int tries;

	if (!nflows || !rp(1))
		return;
	for (tries = 0; tries < 8; tries++) {
		fl = &flows[rn(nflows)];
		if ((fl->sport >= 20064 && fl->sport <= 20067) ||
		    (fl->sport >= 30064 && fl->sport <= 30067))
			break;
	}
	if (tries == 8)
		return;
	k.family = fl->fam == 4 ? DRV_FAMILY_V4 : DRV_FAMILY_V6;
	memcpy(&k.saddr, fl->n, fl->fam == 4 ? 4 : 16);
	memcpy(&k.daddr, fl->s, fl->fam == 4 ? 4 : 16);
	k.sport = htons(fl->nport);
	k.dport = htons(fl->sport);
	if (bpf_map_delete_elem(fd_nat, &k))
		assert_int_equal(errno, ENOENT);
}

static void churn(struct cover *c)
{
	__u32 s = rn(NSVC);
	int b = rn(3);
	struct mbe *m = &mbes[s][b];

	if (!(rp(1) && rp(40)))
		return;
	c->churns++;
	switch (rn(7)) {
	case 0:
		m->state = rn(__DRV_BE_STATE_MAX);
		break;
	case 1:
		m->state = DRV_BE_UP;
		break;
	case 2: /* replaced, or removed and added back */
	case 3:
		m->present = true;
		m->gen++;
		m->state = DRV_BE_UP;
		break;
	case 4:
		m->present = false;
		break;
	case 5:
		table_build(s, rn(3));
		return;
	case 6:
		cfg_write(!cfg_reply_range);
		return;
	}
	be_write(s, b);
	if (rp(50))
		table_build(s, rn(3));
}

static void props_run(__u64 seed, unsigned long n, struct run *r, struct cover *c)
{
	static struct frame f, base;
	static struct snap sn;
	unsigned long i, cut;
	__u32 k;

	memset(r, 0, sizeof(*r));
	memset(mflows, 0, sizeof(mflows));
	nflows = flow_next = 0;
	r->seed = seed;
	rng = seed * 0x9E3779B97F4A7C15ULL + 1;
	snap_read(&sn);
	for (i = 0; i < n; i++) {
		r->iter = i;
		toggle_down(i);
		churn(c);
		evict();
		k = rn(100);
		if (k < 50)
			seed_client(&f);
		else if (k < 70)
			seed_reply(&f);
		else
			seed_icmp(&f);
		if (rp(1) && rp(10)) {
			/* a seed cut at every length, each a run of its own */
			base = f;
			c->cut_sweeps++;
			for (cut = ETH_HLEN; cut < base.len && cut < 160 && i < n; cut++, i++) {
				f = base;
				f.len = cut;
				r->iter = i;
				one(r, &f, c, &sn);
			}
			continue;
		}
		mutate(&f);
		one(r, &f, c, &sn);
	}
}

/*
 * What the default run (seed 1, 300,000 frames) must reach at least, about a
 * quarter of what it reached when written: the generator cannot quietly stop
 * covering a path (the NAT replies, ICMP both ways, RSTs, too-big answers,
 * every drop reason it can reach). That is every counter but two, which no
 * frame can reach by construction, and the run asserts they stay 0:
 * XDP_ABORTED (stats_record's verdict for an action out of range: none is
 * returned) and drop_internal (a lookup of an array map at a fixed index,
 * bpf_xdp_adjust_head failing with test_run's 256 bytes of headroom, a
 * service mode out of range).
 */
static const struct {
	enum drv_stat stat;
	__u64 min;
} must_reach[] = {
	{ DRV_STAT_XDP_DROP, 20000 },
	{ DRV_STAT_XDP_PASS, 15000 },
	{ DRV_STAT_XDP_TX, 8000 },
	{ DRV_STAT_XDP_REDIRECT, 30000 },
	{ DRV_STAT_NEW_FLOW, 2500 },
	{ DRV_STAT_NAT_REPLY, 9000 },
	{ DRV_STAT_NAT_REPLY_MISS, 1000 },
	{ DRV_STAT_ICMP_TO_NODE, 6000 },
	{ DRV_STAT_ICMP_TO_CLIENT, 3000 },
	{ DRV_STAT_ICMP_MISS, 300 },
	{ DRV_STAT_ICMP_LOW_MTU, 1000 },
	{ DRV_STAT_ICMP_TOO_BIG, 1500 },
	{ DRV_STAT_RST_NODE_DOWN, 1000 },
	{ DRV_STAT_FIB_PASS, 200 },
	{ DRV_STAT_REHASH, 300 },
	{ DRV_STAT_DROP_ETH_TRUNC, 30 },
	{ DRV_STAT_DROP_IP_TRUNC, 3000 },
	{ DRV_STAT_DROP_IP_BAD, 10000 },
	{ DRV_STAT_DROP_IP_FRAG, 800 },
	{ DRV_STAT_DROP_IP6_EXT, 8 },
	{ DRV_STAT_DROP_TCP_TRUNC, 600 },
	{ DRV_STAT_DROP_TCP_BAD, 1000 },
	{ DRV_STAT_DROP_NO_BACKEND, 600 },
	{ DRV_STAT_DROP_TTL, 2000 },
	{ DRV_STAT_DROP_TOO_BIG, 150 },
	{ DRV_STAT_DROP_MARTIAN, 400 },
	/* the small services; lower, as the clock decides what is half-open long enough */
	{ DRV_STAT_DROP_SNAT_EXHAUSTED, 2000 },
	{ DRV_STAT_DROP_FIB, 300 },
	{ DRV_STAT_SNAT_RECLAIM_SYN, 40 },
	{ DRV_STAT_SNAT_PORT_LOST, 120 },
};

/* ... and by family (IPv4, IPv6), and each service (mode and family) new flows and frames sent. */
static const __u64 path_min[2][__PATH_MAX] = {
	{ 600, 400, 2000, 1200, 120, 40, 1000, 100 },
	{ 600, 400, 2000, 1200, 120, 20, 1000, 100 },
};
static const __u64 svc_new_min = 200, svc_sent_min = 1500;

/* Hold coverage @c to a floor: print each path below it; return how many. */
static unsigned long floors_check(const struct cover *c)
{
	unsigned long missing = 0;
	size_t i;
	int f;

	for (i = 0; i < ARRAY_SIZE(must_reach); i++)
		if (c->stats[must_reach[i].stat] < must_reach[i].min) {
			fprintf(stderr, "props: %s reached %llu times, fewer than %llu\n",
				drv_stat_names[must_reach[i].stat],
				(unsigned long long)c->stats[must_reach[i].stat],
				(unsigned long long)must_reach[i].min);
			missing++;
		}
	for (f = 0; f < 2; f++)
		for (i = 0; i < __PATH_MAX; i++)
			if (c->path[f][i] < path_min[f][i]) {
				fprintf(stderr,
					"props: %s (IPv%d) reached %llu times, fewer than %llu\n",
					path_names[i], f ? 6 : 4, (unsigned long long)c->path[f][i],
					(unsigned long long)path_min[f][i]);
				missing++;
			}
	for (i = 0; i < NSVC; i++)
		if (c->svc_new[i] < svc_new_min || c->svc_sent[i] < svc_sent_min) {
			fprintf(stderr,
				"props: service %s:%u: %llu new flows / %llu sent, fewer than %llu / %llu\n",
				svcs[i].vip, svcs[i].port, (unsigned long long)c->svc_new[i],
				(unsigned long long)c->svc_sent[i], (unsigned long long)svc_new_min,
				(unsigned long long)svc_sent_min);
			missing++;
		}
	return missing;
}

/*
 * Run @n frames from @seed (the environment's DROVER_PROPS_SEED /
 * DROVER_PROPS_N instead, if set); @floors: hold the default run to
 * must_reach.
 */
static void props(__u64 seed, unsigned long n, bool floors)
{
	const char *s = getenv("DROVER_PROPS_SEED"), *ns = getenv("DROVER_PROPS_N");
	static struct cover c;
	static struct run r;
	unsigned long missing = 0;
	size_t i;
	int k;

	if (ns)
		n = strtoul(ns, NULL, 0);
	if (s)
		seed = strtoull(s, NULL, 0);
	memset(&c, 0, sizeof(c));
	props_run(seed, n, &r, &c);
	fprintf(stderr,
		"props seed %llu: %lu frames (%lu cut sweeps, %lu backend / table / config "
		"changes), verdicts drop %llu pass %llu tx %llu redirect %llu; %lu sent frames not "
		"checked against a flow (unseen); %lu violations\n",
		(unsigned long long)seed, c.runs, c.cut_sweeps, c.churns,
		(unsigned long long)c.stats[XDP_DROP], (unsigned long long)c.stats[XDP_PASS],
		(unsigned long long)c.stats[XDP_TX], (unsigned long long)c.stats[XDP_REDIRECT],
		r.unverified, r.violations);
	fprintf(stderr, "props reached:");
	for (k = 0; k < __DRV_STAT_MAX; k++)
		if (c.stats[k])
			fprintf(stderr, " %s=%llu", drv_stat_names[k],
				(unsigned long long)c.stats[k]);
	fprintf(stderr, "\n");
	fprintf(stderr, "props reached by family (IPv4 / IPv6):");
	for (i = 0; i < __PATH_MAX; i++)
		fprintf(stderr, " %s=%llu/%llu", path_names[i], (unsigned long long)c.path[0][i],
			(unsigned long long)c.path[1][i]);
	fprintf(stderr, "\nprops reached by service (new flows / sent):");
	for (i = 0; i < NSVC; i++)
		fprintf(stderr, " %s:%u=%llu/%llu", svcs[i].vip, svcs[i].port,
			(unsigned long long)c.svc_new[i], (unsigned long long)c.svc_sent[i]);
	fprintf(stderr, "\n");
	if (floors && !ns && !s)
		missing = floors_check(&c);
	assert_int_equal(r.violations, 0);
	assert_int_equal(missing, 0);
}

static void mutated_frames_keep_the_datapath_properties(void **state)
{
	(void)state;
	props(1, 300000, true);
}

/* The -DDROVER_NOINLINE build (BPF-to-BPF calls) over fewer frames of another seed. */
static void mutated_frames_keep_the_noinline_datapath_properties(void **state)
{
	(void)state;
	props(2, 40000, false);
}

/* argv[1], if given: run only the tests whose name matches it (cmocka's * and ? wildcards). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mutated_frames_keep_the_datapath_properties,
						setup_inline, teardown),
		cmocka_unit_test_setup_teardown(mutated_frames_keep_the_noinline_datapath_properties,
						setup_noinline, teardown),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
